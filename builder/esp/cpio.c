/* SPDX-License-Identifier: MIT */
#include "builder/esp/cpio.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "builder/tree/fstree.h"
#include "signing/base/escape.h"
#include "signing/base/macro.h"

#define ORIGIN "initrd appendix"

DEFINE_TRIVIAL_CLEANUP_FUNC(struct archive *, archive_write_free)
DEFINE_TRIVIAL_CLEANUP_FUNC(struct archive_entry *, archive_entry_free)

/* The growing output buffer behind libarchive's write callback. */
typedef struct outbuf {
        char *data;
        size_t len, cap;
} outbuf;

static la_ssize_t out_write(struct archive *a, void *userdata, const void *buf, size_t len)
{
        outbuf *o = userdata;
        if (len > o->cap - o->len) {
                size_t cap = o->cap ? o->cap : 4096;
                while (cap - o->len < len)
                        cap *= 2;
                char *d = realloc(o->data, cap);
                if (!d) {
                        archive_set_error(a, ENOMEM, "out of memory");
                        return -1;
                }
                o->data = d;
                o->cap = cap;
        }
        memcpy(o->data + o->len, buf, len);
        o->len += len;
        return (la_ssize_t)len;
}

typedef struct writer {
        struct archive *a;
        struct archive_entry *e;
        uint32_t mtime;
        uint32_t ino;
        mk_error *err;
} writer;

static int la_fail(struct archive *a, const char *what, mk_error *err)
{
        int code = archive_errno(a) > 0 ? archive_errno(a) : EIO;
        const char *s = archive_error_string(a);
        return mk_error_set(err, code, ORIGIN ": %s: %s", what, s ? s : "libarchive failed");
}

static int write_node(fsnode *n, void *userdata)
{
        writer *w = userdata;
        if (!mk_fsnode_parent(n))
                return 0; /* the root is the unpacking directory itself */
        _cleanup_free_ char *path = mk_fsnode_path(n);
        if (!path)
                return mk_error_set(w->err, ENOMEM, "out of memory");
        bool dir = mk_fsnode_get_kind(n) == FSNODE_DIR;
        uint64_t size = dir ? 0 : mk_fsnode_file_size(n);

        archive_entry_clear(w->e);
        archive_entry_set_pathname(w->e, path);
        archive_entry_set_mode(w->e, mk_fsnode_mode(n));
        archive_entry_set_ino(w->e, ++w->ino);
        archive_entry_set_nlink(w->e, dir ? 2 : 1);
        archive_entry_set_uid(w->e, 0);
        archive_entry_set_gid(w->e, 0);
        archive_entry_set_mtime(w->e, w->mtime, 0);
        archive_entry_set_size(w->e, (la_int64_t)size);
        if (archive_write_header(w->a, w->e) != ARCHIVE_OK)
                return la_fail(w->a, path, w->err);
        if (size) {
                _cleanup_free_ void *buf = malloc(size);
                if (!buf)
                        return mk_error_set(w->err, ENOMEM, "out of memory");
                int r = mk_fsnode_read(n, 0, buf, size, w->err);
                if (r < 0)
                        return r;
                if (archive_write_data(w->a, buf, size) != (la_ssize_t)size)
                        return la_fail(w->a, path, w->err);
        }
        return 0;
}

static int build_tree(const mk_cpio_entry *e, size_t n, fstree **ret, mk_error *err)
{
        _cleanup_(mk_fstree_freep) fstree *t = NULL;
        int r = mk_fstree_new(ORIGIN, &t);
        if (r < 0)
                return mk_error_set(err, -r, "out of memory");
        for (size_t i = 0; i < n; i++) {
                const char *p = e[i].path ? e[i].path : "";
                char q[256];
                fsnode_attr a = {.perm = e[i].mode & 07777};
                uint32_t type = e[i].mode & S_IFMT;
                if (type == S_IFDIR && !e[i].size)
                        r = mk_fstree_add_dir(t, p, &a, NULL, err);
                else if (type == S_IFREG && (e[i].data || !e[i].size))
                        r = mk_fstree_add_file_mem(t, p, &a, e[i].data ? e[i].data : "", e[i].size, NULL, err);
                else
                        return mk_error_set(err, EINVAL,
                                            ORIGIN ": entry '%s': mode 0%o is neither a directory without data nor "
                                                   "a regular file with its data (a bug in mkimage)",
                                            mk_quote(p, q, sizeof(q)), e[i].mode);
                if (r < 0)
                        return r;
        }
        mk_fstree_sort(t);
        *ret = TAKE_PTR(t);
        return 0;
}

int mk_cpio_newc(const mk_cpio_entry *e, size_t n, uint32_t mtime, void **ret, size_t *ret_len, mk_error *err)
{
        _cleanup_(mk_fstree_freep) fstree *t = NULL;
        _cleanup_(archive_write_freep) struct archive *a = NULL;
        _cleanup_(archive_entry_freep) struct archive_entry *ae = NULL;
        outbuf out = {0};
        int r;

        if ((r = build_tree(e, n, &t, err)) < 0)
                return r;
        a = archive_write_new();
        ae = archive_entry_new();
        if (!a || !ae)
                return mk_error_set(err, ENOMEM, "out of memory");
        /* Headers and bodies 4-byte aligned (newc), the last block padded to 512 like GNU cpio. */
        if (archive_write_set_format_cpio_newc(a) != ARCHIVE_OK ||
            archive_write_set_bytes_per_block(a, MK_CPIO_BLOCK) != ARCHIVE_OK ||
            archive_write_set_bytes_in_last_block(a, MK_CPIO_BLOCK) != ARCHIVE_OK ||
            archive_write_open2(a, &out, NULL, out_write, NULL, NULL) != ARCHIVE_OK)
                r = la_fail(a, "cannot start the archive", err);
        writer w = {.a = a, .e = ae, .mtime = mtime, .err = err};
        if (r == 0)
                r = mk_fstree_walk(t, write_node, &w);
        /* Close writes the TRAILER!!! record and the padding. */
        if (r == 0 && archive_write_close(a) != ARCHIVE_OK)
                r = la_fail(a, "cannot finish the archive", err);
        if (r < 0) {
                archive_write_fail(a); /* so that freeing it writes nothing more into out */
                archive_write_free(TAKE_PTR(a));
                free(out.data);
                return r;
        }
        *ret = out.data;
        *ret_len = out.len;
        return 0;
}
