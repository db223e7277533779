/* SPDX-License-Identifier: MIT */
/* Deltas: the base release and the ranges of the new root it holds (builder/bundle/bundle-delta.h). */
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "builder/bundle/bundle-delta.h"
#include "builder/image/digest.h"
#include "builder/squashfs/sqfs-extents.h"
#include "builder/squashfs/sqfs-file.h"
#include "signing/base/fileio.h"
#include "signing/base/macro.h"

void mk_delta_base_done(mk_delta_base *b)
{
        for (int s = 0; s < 2; s++)
                b->m[s] = mk_manifest_free(b->m[s]);
        if (b->fd >= 0)
                close(b->fd);
        b->fd = -1;
}

int mk_bundle_slot_manifest(mk_bundle *bu, unsigned s, const mk_pubkey *key, mk_manifest **ret, mk_error *err)
{
        const mk_bundle_part *pm = mk_bundle_find(bu->manifest, MK_BPART_MANIFEST, (char)('a' + s)),
                             *ps = mk_bundle_find(bu->manifest, MK_BPART_SIGNATURE, (char)('a' + s));
        uint8_t *text = NULL, *sig = NULL;
        int r = mk_bundle_read_part(bu, pm, MK_MANIFEST_MAX, &text, err);
        if (r >= 0)
                r = mk_bundle_read_part(bu, ps, MK_MINISIGN_FILE_MAX, &sig, err);
        if (r >= 0 && key) {
                mk_verified v = {0};
                if (mk_verify_buffer_with_key(key, "its slot manifest", text, pm->size, "its signature", sig, ps->size,
                                              &v, err) != MK_VERIFY_OK)
                        r = mk_error_prefix(err, -EKEYREJECTED, "%s: slot %c", bu->name, 'a' + s);
                mk_verified_done(&v);
        }
        if (r >= 0)
                r = mk_manifest_parse(bu->name, text, pm->size, ret, err);
        free(text);
        free(sig);
        return r;
}

int mk_delta_base_from_bundle(const char *path, const mk_pubkey *key, mk_delta_base *b, mk_error *err)
{
        *b = (mk_delta_base){.name = path, .fd = open(path, O_RDONLY | O_CLOEXEC)};
        if (b->fd < 0)
                return mk_error_set(err, errno, "%s: %s", path, strerror(errno));
        int fd = b->fd;
        _cleanup_(mk_bundle_freep) mk_bundle *bu = NULL;
        int r = mk_bundle_open(path, mk_bundle_read_fd, &fd, NULL, key, &bu, err);
        if (r < 0)
                goto fail;
        if (bu->manifest->delta) {
                r = mk_error_set(err, EINVAL,
                                 "%s: is a delta itself (from version %llu); --from takes a full bundle or an image",
                                 path, (unsigned long long)bu->manifest->from.version);
                goto fail;
        }
        if ((r = mk_bundle_slot_manifest(bu, 0, key, &b->m[0], err)) < 0 ||
            (r = mk_bundle_slot_manifest(bu, 1, key, &b->m[1], err)) < 0)
                goto fail;
        b->root_off = mk_bundle_find(bu->manifest, MK_BPART_ROOT, 0)->offset;
        return 0;
fail:
        mk_delta_base_done(b);
        return r;
}

bool mk_delta_base_has_file(const mk_delta_base *b, const char *sha256)
{
        for (int s = 0; s < 2; s++) {
                bool have = false;
                for (size_t i = 0; i < b->m[s]->n_boot && !have; i++)
                        have = !strcmp(b->m[s]->boot[i].sha256, sha256);
                if (!have)
                        return false;
        }
        return true;
}

/* An extent of the base with its digest, to look new extents up by (len, digest). */
typedef struct keyed {
        uint8_t sha[32];
        uint32_t len;
        uint64_t offset;
} keyed;

static int cmp_keyed(const void *x, const void *y)
{
        const keyed *a = x, *b = y;
        if (a->len != b->len)
                return a->len < b->len ? -1 : 1;
        return memcmp(a->sha, b->sha, sizeof(a->sha));
}

/* The SHA-256 of len bytes at off of fd, with buf (at least len bytes) as scratch. */
static int digest_at(int fd, const char *name, uint64_t off, uint32_t len, uint8_t *buf, uint8_t out[32], mk_error *err)
{
        int r = mk_pread_all(fd, buf, len, off);
        if (r < 0)
                return mk_error_set(err, -r, "%s: %s", name, strerror(-r));
        unsigned n = 32;
        if (!EVP_Digest(buf, len, out, &n, EVP_sha256(), NULL))
                return mk_error_set(err, EIO, "SHA-256 failed");
        return 0;
}

/* The stored extents of the squashfs at off (size bytes) of fd. */
static int extents_of(int fd, const char *name, uint64_t off, uint64_t size, mk_sqextent **ret, size_t *n,
                      mk_error *err)
{
        int dup_fd = dup(fd);
        if (dup_fd < 0)
                return mk_error_set(err, errno, "%s: %s", name, strerror(errno));
        sqfs_file_t *f = NULL;
        sqimage *img = NULL;
        int r = mk_sqfile_open_fd(dup_fd, name, off, size, SQFILE_OWN_FD, &f, err);
        if (r < 0) {
                close(dup_fd);
                return r;
        }
        if ((r = mk_sqimage_open_file(f, name, &img, err)) < 0)
                return r;
        r = mk_sqimage_extents(img, ret, n, err);
        mk_sqimage_unref(img);
        return r;
}

static int check_base_root(const mk_delta_base *b, mk_error *err)
{
        char hex[65];
        const mk_manifest *m = b->m[0];
        int r = mk_sha256_range(b->fd, b->name, b->root_off, m->root.size, hex, err);
        if (r < 0)
                return r;
        if (strcmp(hex, m->root.sha256))
                return mk_error_set(err, EBADMSG,
                                    "%s: its root does not match its manifest's sha256 (check it with `mkimage "
                                    "verify`)",
                                    b->name);
        return 0;
}

int mk_delta_plan(int new_fd, const char *new_name, uint64_t new_off, uint64_t size, const mk_delta_base *b,
                  mk_bundle_range **ret, size_t *ret_n, uint64_t *covered, mk_error *err)
{
        mk_sqextent *oe = NULL, *ne = NULL;
        size_t on = 0, nn = 0, n = 0;
        keyed *k = NULL;
        mk_bundle_range *v = NULL;
        uint8_t *buf = malloc(1u << 24);
        uint64_t cov = 0;
        int r = buf ? 0 : mk_error_set(err, ENOMEM, "out of memory");
        if (r < 0 || (r = check_base_root(b, err)) < 0 ||
            (r = extents_of(b->fd, b->name, b->root_off, b->m[0]->root.size, &oe, &on, err)) < 0 ||
            (r = extents_of(new_fd, new_name, new_off, size, &ne, &nn, err)) < 0)
                goto out;
        if (!(k = calloc(on ? on : 1, sizeof(*k))) || !(v = calloc(nn ? nn : 1, sizeof(*v)))) {
                r = mk_error_set(err, ENOMEM, "out of memory");
                goto out;
        }
        for (size_t i = 0; i < on; i++) {
                k[i] = (keyed){.len = oe[i].len, .offset = oe[i].offset};
                if ((r = digest_at(b->fd, b->name, b->root_off + oe[i].offset, oe[i].len, buf, k[i].sha, err)) < 0)
                        goto out;
        }
        qsort(k, on, sizeof(*k), cmp_keyed);
        for (size_t i = 0; i < nn; i++) {
                keyed want = {.len = ne[i].len};
                if ((r = digest_at(new_fd, new_name, new_off + ne[i].offset, ne[i].len, buf, want.sha, err)) < 0)
                        goto out;
                const keyed *hit = on ? bsearch(&want, k, on, sizeof(*k), cmp_keyed) : NULL;
                if (!hit)
                        continue;
                mk_bundle_range *last = n ? &v[n - 1] : NULL;
                if (last && last->dst + last->len == ne[i].offset && last->src + last->len == hit->offset)
                        last->len += ne[i].len;
                else
                        v[n++] = (mk_bundle_range){ne[i].offset, hit->offset, ne[i].len};
                cov += ne[i].len;
        }
        *ret = TAKE_PTR(v);
        *ret_n = n;
        *covered = cov;
out:
        free(v);
        free(k);
        free(oe);
        free(ne);
        free(buf);
        return r;
}
