/* SPDX-License-Identifier: MIT */
/*
 * `mkimage verify BUNDLE` (builder/verify/verify.h): a bundle checked as a
 * device would check it, and more: every part, not only the target slot's.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "builder/image/digest.h"
#include "builder/image/verity.h"
#include "builder/verify/verify-internal.h"
#include "signing/base/fileio.h"
#include "signing/bundle/bundle.h"

typedef struct bctx {
        vctx v;
        mk_bundle *b;
        mk_manifest *m[2]; /* verified slot manifests, or NULL */
        bool part_ok[MK_BUNDLE_PARTS_MAX];
} bctx;

#define ITEM(i) ((size_t)(i) + 1) /* item 0 is the bundle manifest */

/* A file part's item name: the first path a manifest gives its digest, else the digest. */
static int file_name(const mk_bundle *b, const mk_bundle_part *p, char **ret)
{
        return asprintf(ret, "file %.16s…", p->sha256) < 0 ? -ENOMEM : 0;
}

static int report_new(bctx *c, size_t n)
{
        vctx *v = &c->v;
        if (!(v->rep = calloc(1, sizeof(*v->rep))) || !(v->rep->items = calloc(n, sizeof(*v->rep->items))))
                return -ENOMEM;
        v->rep->n_items = n;
        if (!(v->rep->items[0].name = strdup("bundle manifest")))
                return -ENOMEM;
        for (size_t i = 0; c->b && i < c->b->manifest->n_parts; i++) {
                const mk_bundle_part *p = &c->b->manifest->parts[i];
                char **name = &v->rep->items[ITEM(i)].name;
                int k = p->kind == MK_BPART_FILE ? file_name(c->b, p, name)
                        : p->slot
                                ? (asprintf(name, "slot %c %s", p->slot, mk_bundle_kind_str(p->kind)) < 0 ? -ENOMEM : 0)
                                : (asprintf(name, "%s", mk_bundle_kind_str(p->kind)) < 0 ? -ENOMEM : 0);
                if (k < 0)
                        return k;
        }
        return 0;
}

/* Each part's bytes against its digest, and the padding before it. */
static int check_parts(bctx *c)
{
        const mk_bundle_manifest *bm = c->b->manifest;
        uint64_t at = MK_BUNDLE_HEADER + c->b->header.manifest_len + c->b->header.sig_len;
        for (size_t i = 0; i < bm->n_parts; i++) {
                const mk_bundle_part *p = &bm->parts[i];
                uint8_t pad[MK_BUNDLE_ALIGN];
                size_t gap = (size_t)(p->offset - at); /* < 4096: the parser checked the layout */
                mk_error e = {0};
                char hex[65];
                int r = gap > sizeof(pad) ? -EBADMSG : mk_pread_all(c->v.fd, pad, gap, at);
                if (r < 0)
                        return mk_vitem_fail(&c->v, ITEM(i), "cannot read the bytes before it: %s", strerror(-r));
                for (size_t k = 0; k < gap; k++)
                        if (pad[k])
                                return mk_vitem_fail(&c->v, ITEM(i),
                                                     "byte %llu, in the padding before it, is not "
                                                     "zero",
                                                     (unsigned long long)(at + k));
                if ((r = mk_sha256_range(c->v.fd, c->v.path, p->offset, p->size, hex, &e)) < 0) {
                        if ((r = mk_vitem_fail(&c->v, ITEM(i), "%s", e.msg)) < 0)
                                return r;
                } else if (strcmp(hex, p->sha256)) {
                        if ((r = mk_vitem_fail(&c->v, ITEM(i),
                                               "its %llu bytes at %llu do not match the signed sha256 %.16s… (got "
                                               "%.16s…)",
                                               (unsigned long long)p->size, (unsigned long long)p->offset, p->sha256,
                                               hex)) < 0)
                                return r;
                } else {
                        c->part_ok[i] = true;
                        mk_vitem_seen(&c->v, ITEM(i));
                }
                at = p->offset + p->size;
        }
        return 0;
}

static size_t index_of(const bctx *c, const mk_bundle_part *p)
{
        return (size_t)(p - c->b->manifest->parts);
}

static int read_part(bctx *c, const mk_bundle_part *p, char **ret)
{
        if (!(*ret = malloc(p->size + 1)))
                return -ENOMEM;
        (*ret)[p->size] = 0;
        return mk_pread_all(c->v.fd, *ret, p->size, p->offset);
}

/* Slot s's manifest: signed by key, the bundle's release and root. */
static int check_manifest(bctx *c, unsigned s, const mk_pubkey *key)
{
        const mk_bundle_manifest *bm = c->b->manifest;
        char slot = (char)('a' + s);
        const mk_bundle_part *pm = mk_bundle_find(bm, MK_BPART_MANIFEST, slot),
                             *ps = mk_bundle_find(bm, MK_BPART_SIGNATURE, slot),
                             *pr = mk_bundle_find(bm, MK_BPART_ROOT, 0);
        size_t im = ITEM(index_of(c, pm)), is = ITEM(index_of(c, ps));
        if (!c->part_ok[index_of(c, pm)] || !c->part_ok[index_of(c, ps)])
                return 0;
        if (pm->size > MK_MANIFEST_MAX || ps->size > MK_MINISIGN_FILE_MAX)
                return mk_vitem_fail(&c->v, im, "larger than a manifest and its signature can be");
        char *text = NULL, *sig = NULL;
        int r = read_part(c, pm, &text);
        if (r >= 0)
                r = read_part(c, ps, &sig);
        if (r < 0) {
                free(text);
                free(sig);
                return r == -ENOMEM ? r : mk_vitem_fail(&c->v, im, "cannot read it: %s", strerror(-r));
        }
        mk_error e = {0};
        mk_verified vf = {0};
        mk_verify_result vr =
                mk_verify_buffer_with_key(key, "it", text, pm->size, "its signature", sig, ps->size, &vf, &e);
        mk_manifest *m = NULL;
        if (vr != MK_VERIFY_OK)
                r = mk_vitem_fail(&c->v, is, "%s", e.msg);
        else if (mk_manifest_parse("it", text, pm->size, &m, &e) < 0)
                r = mk_vitem_fail(&c->v, im, "%s", e.msg);
        else if (m->slot != slot)
                r = mk_vitem_fail(&c->v, im, "is slot %c's manifest", m->slot);
        else if (strcmp(m->model, bm->model) || strcmp(m->brand, bm->brand) || m->version != bm->version)
                r = mk_vitem_fail(&c->v, im,
                                  "is for %s (brand %s) version %llu, the bundle for %s (brand %s) version %llu",
                                  m->model, m->brand, (unsigned long long)m->version, bm->model, bm->brand,
                                  (unsigned long long)bm->version);
        else if (!bm->delta && (m->root.size != pr->size || strcmp(m->root.sha256, pr->sha256)))
                r = mk_vitem_fail(&c->v, im, "its root (%llu bytes, sha256 %.16s…) is not the bundle's root part",
                                  (unsigned long long)m->root.size, m->root.sha256);
        else if (bm->delta && c->m[0] && c->m[0]->root.size != m->root.size)
                r = mk_vitem_fail(&c->v, im, "its root is %llu bytes, slot a's %llu", (unsigned long long)m->root.size,
                                  (unsigned long long)c->m[0]->root.size);
        else
                c->m[s] = TAKE_PTR(m);
        mk_verified_done(&vf);
        mk_manifest_free(m);
        free(text);
        free(sig);
        return r;
}

/* Slot s's hash area against its manifest, and the root against it. */
static int check_verity(bctx *c, unsigned s)
{
        const mk_manifest *m = c->m[s];
        const mk_bundle_part *pv = mk_bundle_find(c->b->manifest, MK_BPART_VERITY, (char)('a' + s)),
                             *pr = mk_bundle_find(c->b->manifest, MK_BPART_ROOT, 0);
        size_t iv = ITEM(index_of(c, pv)), ir = ITEM(index_of(c, pr));
        if (!m || !c->part_ok[index_of(c, pv)])
                return m ? 0 : mk_vitem_skip(&c->v, iv, "not checked (slot %c's manifest is not valid)", 'a' + s);
        if (pv->size != mk_verity_hash_size(m->root.verity.data_blocks))
                return mk_vitem_fail(&c->v, iv, "is %llu bytes, but a tree over %llu blocks takes %llu",
                                     (unsigned long long)pv->size, (unsigned long long)m->root.verity.data_blocks,
                                     (unsigned long long)mk_verity_hash_size(m->root.verity.data_blocks));
        mk_error e = {0};
        int r;
        if ((r = mk_vtree_check_super(c->v.fd, pv->offset, m, &e)) < 0 ||
            (r = mk_vtree_check_hashes(c->v.fd, pv->offset, m, &e)) < 0)
                return r == -ENOMEM ? r : mk_vitem_fail(&c->v, iv, "%s", e.msg);
        if (!c->part_ok[index_of(c, pr)])
                return 0;
        if (c->b->manifest->delta)
                return s == 0 ? 0
                              : mk_vitem_ok(&c->v, ir,
                                            "sha256; a delta's root is checked page by page against the "
                                            "slot's tree on the device, where the ranges are read");
        uint8_t root[32];
        mk_vhex_decode(m->root.verity.root_hash, root, sizeof(root));
        if ((r = mk_verity_check(c->v.fd, pr->offset, pv->offset, root, c->v.threads, NULL, &e)) < 0)
                return r == -ENOMEM ? r
                                    : mk_vitem_fail(&c->v, ir, "slot %c's tree does not match it: %s", 'a' + s, e.msg);
        return mk_vitem_ok(&c->v, ir, "sha256 and both slots' hash trees");
}

/* A delta's ranges: well-formed, inside both roots, leaving exactly the root part's bytes. */
static int check_ranges(bctx *c)
{
        const mk_bundle_manifest *bm = c->b->manifest;
        const mk_bundle_part *pg = mk_bundle_find(bm, MK_BPART_RANGES, 0), *pr = mk_bundle_find(bm, MK_BPART_ROOT, 0);
        if (!pg)
                return 0;
        size_t ig = ITEM(index_of(c, pg));
        if (!c->part_ok[index_of(c, pg)])
                return 0;
        if (!c->m[0])
                return mk_vitem_skip(&c->v, ig, "not checked (slot a's manifest is not valid)");
        if (pg->size > (uint64_t)MK_BUNDLE_RANGES_MAX * MK_BUNDLE_RANGE_SIZE)
                return mk_vitem_fail(&c->v, ig, "%llu bytes: more records than a ranges part holds",
                                     (unsigned long long)pg->size);
        char *buf = NULL;
        mk_bundle_range *v = NULL;
        size_t n = 0;
        mk_error e = {0};
        int r = read_part(c, pg, &buf);
        if (r < 0)
                r = r == -ENOMEM ? r : mk_vitem_fail(&c->v, ig, "cannot read it: %s", strerror(-r));
        else if (mk_bundle_ranges_parse("it", (const uint8_t *)buf, pg->size, c->m[0]->root.size, bm->from.root_size,
                                        pr->size, &v, &n, &e) < 0)
                r = mk_vitem_fail(&c->v, ig, "%s", e.msg);
        else
                r = mk_vitem_ok(
                        &c->v, ig, "%zu ranges, %llu of the root's %llu bytes from version %llu's root (sha256 %.16s…)",
                        n, (unsigned long long)(c->m[0]->root.size - pr->size), (unsigned long long)c->m[0]->root.size,
                        (unsigned long long)bm->from.version, bm->from.root_sha256);
        free(v);
        free(buf);
        return r;
}

/*
 * Every boot file of a valid manifest is a part (in a delta it may be one
 * the running slot has: the device checks its digest); every file part is
 * some manifest's.
 */
static int check_files(bctx *c)
{
        const mk_bundle_manifest *bm = c->b->manifest;
        for (unsigned s = 0; s < 2 && !bm->delta; s++)
                for (size_t i = 0; c->m[s] && i < c->m[s]->n_boot; i++)
                        if (!mk_bundle_find_file(bm, c->m[s]->boot[i].sha256)) {
                                const mk_bundle_part *pm = mk_bundle_find(bm, MK_BPART_MANIFEST, (char)('a' + s));
                                int r = mk_vitem_fail(&c->v, ITEM(index_of(c, pm)),
                                                      "names %s (sha256 %.16s…), which "
                                                      "the bundle does not hold",
                                                      c->m[s]->boot[i].path, c->m[s]->boot[i].sha256);
                                if (r < 0)
                                        return r;
                        }
        for (size_t i = 0; i < bm->n_parts; i++) {
                const mk_bundle_part *p = &bm->parts[i];
                if (p->kind != MK_BPART_FILE)
                        continue;
                const char *path = NULL;
                for (unsigned s = 0; s < 2 && !path; s++)
                        for (size_t k = 0; c->m[s] && k < c->m[s]->n_boot && !path; k++)
                                if (!strcmp(c->m[s]->boot[k].sha256, p->sha256))
                                        path = c->m[s]->boot[k].path;
                int r = path ? mk_vitem_ok(&c->v, ITEM(i), "%s", path)
                        : c->m[0] && c->m[1]
                                ? mk_vitem_fail(&c->v, ITEM(i), "no slot manifest names it")
                                : mk_vitem_skip(&c->v, ITEM(i), "not checked (no valid manifest names it)");
                if (r < 0)
                        return r;
        }
        return 0;
}

static int run(bctx *c, const mk_pubkey *key)
{
        struct stat st;
        int r;
        if (fstat(c->v.fd, &st) == 0 && (uint64_t)st.st_size != c->b->header.size &&
            (r = mk_vitem_fail(&c->v, 0, "the file is %llu bytes, the bundle %llu (%s)", (unsigned long long)st.st_size,
                               (unsigned long long)c->b->header.size,
                               (uint64_t)st.st_size < c->b->header.size ? "truncated" : "bytes after its end")) < 0)
                return r;
        if ((r = mk_vitem_ok(&c->v, 0, "signed by %s, %s version %llu, %zu parts", c->b->signer, c->b->manifest->model,
                             (unsigned long long)c->b->manifest->version, c->b->manifest->n_parts)) < 0 ||
            (r = check_parts(c)) < 0 || (r = check_manifest(c, 0, key)) < 0 || (r = check_manifest(c, 1, key)) < 0 ||
            (r = check_ranges(c)) < 0 || (r = check_verity(c, 0)) < 0 || (r = check_verity(c, 1)) < 0 ||
            (r = check_files(c)) < 0)
                return r;
        return 0;
}

int mk_verify_bundle(const char *path, const mk_pubkey *key, mk_verify_report **ret, mk_error *err)
{
        bctx c = {.v = {.path = path, .fd = -1, .esp = -1}};
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        c.v.threads = n < 1 ? 1 : n > 16 ? 16 : (unsigned)n;
        if ((c.v.fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
                return mk_error_set(err, errno, "%s: %s", path, strerror(errno));
        mk_error e = {0};
        int fd = c.v.fd, r;
        bool opened = mk_bundle_open(path, mk_bundle_read_fd, &fd, NULL, key, &c.b, &e) >= 0;
        if ((r = report_new(&c, opened ? 1 + c.b->manifest->n_parts : 1)) < 0)
                goto out;
        if (!opened)
                r = mk_vitem_fail(&c.v, 0, "%s", e.msg);
        else
                r = run(&c, key);
        c.v.rep->ok = true;
        for (size_t i = 0; i < c.v.rep->n_items; i++)
                if (c.v.rep->items[i].status == MK_CHECK_FAILED)
                        c.v.rep->ok = false;
out:
        close(c.v.fd);
        mk_bundle_free(c.b);
        mk_manifest_free(c.m[0]);
        mk_manifest_free(c.m[1]);
        if (r < 0) {
                mk_verify_report_free(c.v.rep);
                return mk_error_set(err, -r, "%s: %s", path, strerror(-r));
        }
        *ret = c.v.rep;
        return 0;
}
