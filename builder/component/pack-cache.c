/* SPDX-License-Identifier: MIT */
#include "builder/component/pack-cache.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "builder/image/digest.h"
#include "signing/base/fileio.h"
#include "signing/base/macro.h"
#include "builder/image/output.h"

#define CHUNK (1u << 20)

typedef struct keyctx {
        EVP_MD_CTX *md;
        uint8_t *buf;
        mk_error *err;
} keyctx;

static void put(keyctx *k, const void *p, size_t n)
{
        uint64_t len = n; /* length-prefixed: no two inputs hash alike by shifting bytes */
        EVP_DigestUpdate(k->md, &len, sizeof(len));
        EVP_DigestUpdate(k->md, p, n);
}

static void put_u64(keyctx *k, uint64_t v)
{
        EVP_DigestUpdate(k->md, &v, sizeof(v));
}

/* The path of n from the root, for hard-link targets. */
static void put_path(keyctx *k, const fsnode *n)
{
        if (!n || !mk_fsnode_parent(n))
                return;
        put_path(k, mk_fsnode_parent(n));
        put(k, mk_fsnode_name(n), strlen(mk_fsnode_name(n)));
}

static int visit(fsnode *n, void *ctx)
{
        keyctx *k = ctx;
        put_path(k, n);
        put_u64(k, (uint64_t)mk_fsnode_get_kind(n));
        put_u64(k, mk_fsnode_mode(n));
        put_u64(k, mk_fsnode_uid(n));
        put_u64(k, mk_fsnode_gid(n));
        put_u64(k, (uint64_t)mk_fsnode_mtime(n));
        for (size_t i = 0; i < mk_fsnode_nxattrs(n); i++) {
                size_t len;
                const void *v = mk_fsnode_xattr_value(n, i, &len);
                put(k, mk_fsnode_xattr_key(n, i), strlen(mk_fsnode_xattr_key(n, i)));
                put(k, v, len);
        }
        switch (mk_fsnode_get_kind(n)) {
        case FSNODE_SYMLINK:
                put(k, mk_fsnode_symlink_target(n), strlen(mk_fsnode_symlink_target(n)));
                break;
        case FSNODE_HARDLINK:
                put_path(k, mk_fsnode_hardlink_target(n));
                break;
        case FSNODE_FILE: {
                uint64_t size = mk_fsnode_file_size(n);
                put_u64(k, size);
                for (uint64_t off = 0; off < size;) {
                        size_t len = size - off < CHUNK ? (size_t)(size - off) : CHUNK;
                        int r = mk_fsnode_read(n, off, k->buf, len, k->err);
                        if (r < 0)
                                return r;
                        EVP_DigestUpdate(k->md, k->buf, len);
                        off += len;
                }
                break;
        }
        default:
                break;
        }
        return 0;
}

int mk_pack_key(fstree *t, const sqwrite_opts *o, char hex[65], mk_error *err)
{
        keyctx k = {.md = EVP_MD_CTX_new(), .buf = malloc(CHUNK), .err = err};
        int r = 0;
        if (!k.md || !k.buf) {
                r = mk_error_set(err, ENOMEM, "out of memory");
                goto out;
        }
        EVP_DigestInit_ex(k.md, EVP_sha256(), NULL);
        static const char tag[] = "mkimage component pack cache";
        put(&k, tag, sizeof(tag) - 1);
        put(&k, MKIMAGE_VERSION, strlen(MKIMAGE_VERSION));
        put_u64(&k, MK_PACK_CACHE_FORMAT);
        put_u64(&k, (uint64_t)o->compressor);
        put_u64(&k, (uint64_t)o->level);
        put_u64(&k, o->block_size);
        put_u64(&k, o->mtime);
        put_u64(&k, o->pad);
        mk_fstree_sort(t);
        if ((r = mk_fstree_walk(t, visit, &k)) < 0)
                goto out;
        uint8_t md[32];
        EVP_DigestFinal_ex(k.md, md, NULL);
        mk_hex(md, sizeof(md), hex);
out:
        EVP_MD_CTX_free(k.md);
        free(k.buf);
        return r;
}

static int copy_file(const char *from, const char *to, mk_error *err)
{
        _cleanup_close_ int in = open(from, O_RDONLY | O_CLOEXEC);
        struct stat st;
        if (in < 0 || fstat(in, &st) < 0)
                return mk_error_set(err, errno, "%s: %s", from, strerror(errno));
        mk_output *o = NULL;
        int r = mk_output_open(to, &o, err);
        if (r < 0)
                return r;
        if ((r = mk_copy_range(in, 0, mk_output_fd(o), 0, (uint64_t)st.st_size)) < 0)
                r = mk_error_set(err, -r, "%s: copying %s: %s", to, from, strerror(-r));
        if (r < 0) {
                mk_output_abort(o);
                return r;
        }
        return mk_output_commit(o, err);
}

int mk_pack_cache_get(const char *dir, const char *key, mk_pack_cache_valid valid, const char *out, mk_error *err)
{
        char path[4200];
        snprintf(path, sizeof(path), "%s/%s.comp", dir, key);
        if (access(path, R_OK) < 0)
                return 0;
        if (valid(path) < 0) {
                unlink(path); /* damaged: pack again */
                return 0;
        }
        int r = copy_file(path, out, err);
        return r < 0 ? r : 1;
}

/* mkdir -p */
static int make_dirs(const char *dir)
{
        char p[4096];
        if (snprintf(p, sizeof(p), "%s", dir) >= (int)sizeof(p))
                return -ENAMETOOLONG;
        for (char *s = p + 1; *s; s++) {
                if (*s != '/')
                        continue;
                *s = '\0';
                if (mkdir(p, 0755) < 0 && errno != EEXIST)
                        return -errno;
                *s = '/';
        }
        return mkdir(p, 0755) < 0 && errno != EEXIST ? -errno : 0;
}

int mk_pack_cache_put(const char *dir, const char *key, const char *packed, mk_error *err)
{
        int r = make_dirs(dir);
        if (r < 0)
                return mk_error_set(err, -r, "%s: cannot create the pack cache: %s", dir, strerror(-r));
        char path[4200];
        snprintf(path, sizeof(path), "%s/%s.comp", dir, key);
        return copy_file(packed, path, err);
}
