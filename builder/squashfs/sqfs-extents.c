/* SPDX-License-Identifier: MIT */
#include "builder/squashfs/sqfs-extents.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <sqfs/inode.h>
#include <sqfs/super.h>

#include "signing/base/macro.h"

#define SIZE_MASK 0x00FFFFFFu
#define UNCOMPRESSED (1u << 24)

typedef struct collect {
        sqimage *img;
        uint64_t end; /* the image's bytes_used */
        mk_sqextent *v;
        size_t n, cap;
        mk_error *err;
} collect;

static int bad(collect *c, const char *what)
{
        return mk_error_set(c->err, EBADMSG, "%s: %s lies outside the image or does not add up (a damaged squashfs)",
                            mk_sqimage_name(c->img), what);
}

static int add(collect *c, uint64_t off, uint32_t len, const char *what)
{
        if (!len)
                return 0;
        if (off > c->end || len > c->end - off)
                return bad(c, what);
        if (c->n == c->cap) {
                size_t cap = c->cap ? 2 * c->cap : 1024;
                mk_sqextent *v = realloc(c->v, cap * sizeof(*v));
                if (!v)
                        return mk_error_set(c->err, ENOMEM, "out of memory");
                c->v = v;
                c->cap = cap;
        }
        c->v[c->n++] = (mk_sqextent){off, len};
        return 0;
}

static int visit(fsnode *n, void *ctx)
{
        collect *c = ctx;
        if (mk_fsnode_get_kind(n) != FSNODE_FILE)
                return 0;
        void *key = NULL;
        if (mk_fsnode_file_source(n, NULL, &key) == NULL || !key)
                return 0;
        const sqfs_inode_generic_t *inode = key;
        sqfs_u64 start;
        if (sqfs_inode_get_file_block_start(inode, &start) ||
            inode->payload_bytes_used > inode->payload_bytes_available)
                return bad(c, "a file inode");
        uint64_t pos = start;
        for (size_t i = 0; i < inode->payload_bytes_used / 4; i++) {
                uint32_t word = inode->extra[i], len = word & SIZE_MASK;
                if (word & ~(SIZE_MASK | UNCOMPRESSED))
                        return bad(c, "a file's block list");
                int r = add(c, pos, len, "a file's data block");
                if (r < 0)
                        return r;
                pos += len;
        }
        return 0;
}

static int cmp_extent(const void *x, const void *y)
{
        const mk_sqextent *a = x, *b = y;
        if (a->offset != b->offset)
                return a->offset < b->offset ? -1 : 1;
        return a->len < b->len ? -1 : a->len > b->len;
}

int mk_sqimage_extents(sqimage *img, mk_sqextent **ret, size_t *ret_n, mk_error *err)
{
        const sqfs_super_t *sb = mk_sqimage_super(img);
        collect c = {.img = img, .end = sb->bytes_used, .err = err};
        fstree *t = NULL;
        int r = mk_fstree_new(mk_sqimage_name(img), &t);
        if (r < 0) {
                r = mk_error_set(err, -r, "out of memory");
                goto out;
        }
        if ((r = mk_sqimage_load_tree(img, t, NULL, 0,
                                      MK_FS_POLICY(FSTREE_ALLOW_DEVICES | FSTREE_ALLOW_SETUID | FSTREE_ALLOW_CAPS),
                                      err)) < 0)
                goto out;
        mk_fstree_sort(t);
        if ((r = mk_fstree_walk(t, visit, &c)) < 0)
                goto out;
        for (uint32_t i = 0; i < sb->fragment_entry_count; i++) {
                sqfs_fragment_t fr;
                if ((r = mk_sqimage_fragment(img, i, &fr, err)) < 0)
                        goto out;
                if (fr.size & ~(SIZE_MASK | UNCOMPRESSED)) {
                        r = bad(&c, "a fragment block");
                        goto out;
                }
                if ((r = add(&c, fr.start_offset, fr.size & SIZE_MASK, "a fragment block")) < 0)
                        goto out;
        }
        if (c.n)
                qsort(c.v, c.n, sizeof(*c.v), cmp_extent);
        size_t k = 0;
        for (size_t i = 0; i < c.n; i++) {
                if (k && c.v[k - 1].offset == c.v[i].offset && c.v[k - 1].len == c.v[i].len)
                        continue; /* shared by two files */
                if (k && c.v[i].offset < c.v[k - 1].offset + c.v[k - 1].len) {
                        r = bad(&c, "two data blocks that overlap");
                        goto out;
                }
                c.v[k++] = c.v[i];
        }
        *ret = TAKE_PTR(c.v);
        *ret_n = k;
        r = 0;
out:
        free(c.v);
        mk_fstree_free(t);
        return r;
}
