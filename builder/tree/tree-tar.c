/* SPDX-License-Identifier: MIT */
/*
 * A tar archive as a tree source. An archive can only be read front to back,
 * while the writer wants file data in sorted order, so member data is copied
 * once into an unlinked spool file and read back from there by offset.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>

#include "signing/base/escape.h"
#include "signing/base/fileio.h"
#include "signing/base/macro.h"
#include "builder/squashfs/sqfs-file.h"
#include "builder/tree/tree-source.h"

typedef struct spool {
        fs_source base;
        int fd;
        uint64_t size;
        char *archive;
} spool;

static int spool_read_at(fs_source *src, const fsnode *file, uint64_t offset, void *buf, size_t len, mk_error *err)
{
        spool *s = (spool *)src;
        uint64_t key_off;
        mk_fsnode_file_source(file, &key_off, NULL);
        int r = mk_pread_all(s->fd, buf, len, key_off + offset);
        if (r < 0)
                return mk_error_set(err, -r, "%s: reading back the spooled data: %s", s->archive, strerror(-r));
        return 0;
}

static void spool_destroy(fs_source *src)
{
        spool *s = (spool *)src;
        if (s->fd >= 0)
                close(s->fd);
        free(s->archive);
        free(s);
}

static const fs_source_ops spool_ops = {spool_read_at, NULL, spool_destroy};

static int spool_new(const char *archive, spool **ret, mk_error *err)
{
        const char *tmp = getenv("TMPDIR");
        _cleanup_free_ char *tmpl = NULL;
        if (asprintf(&tmpl, "%s/mkimage-spool.XXXXXX", tmp && *tmp ? tmp : "/tmp") < 0)
                return mk_error_set(err, ENOMEM, "out of memory");
        int fd = mkostemp(tmpl, O_CLOEXEC);
        if (fd < 0)
                return mk_error_set(err, errno,
                                    "%s: creating a spool file for %s: %s (set TMPDIR to a writable "
                                    "directory)",
                                    tmpl, archive, strerror(errno));
        unlink(tmpl);
        spool *s = calloc(1, sizeof(*s));
        if (!s || !(s->archive = strdup(archive))) {
                free(s);
                close(fd);
                return mk_error_set(err, ENOMEM, "out of memory");
        }
        s->base = (fs_source){&spool_ops, 1};
        s->fd = fd;
        *ret = s;
        return 0;
}

typedef struct reader {
        struct archive *a;
        const char *name;
        fstree *tree;
        spool *sp;
        void *buf;
        mk_error *err;
} reader;

static int arc_error(reader *rd, const char *path, const char *what)
{
        const char *msg = archive_error_string(rd->a);
        char q[1024];
        if (path)
                return mk_error_set(rd->err, EINVAL, "%s: entry '%s': %s: %s", rd->name, mk_quote(path, q, sizeof q),
                                    what, msg ? msg : "unknown error");
        return mk_error_set(rd->err, EINVAL, "%s: %s: %s (give a directory or a tar archive: plain, gzip, xz or zstd)",
                            rd->name, what, msg ? msg : "unknown error");
}

/* Copy the current member's data to the end of the spool. */
static int spool_data(reader *rd, const char *path, uint64_t size, uint64_t *ret_off)
{
        spool *s = rd->sp;
        uint64_t start = s->size, got = 0;
        for (;;) {
                la_ssize_t n = archive_read_data(rd->a, rd->buf, 1 << 17);
                if (n < 0)
                        return arc_error(rd, path, "reading the member's data");
                if (n == 0)
                        break;
                int r = mk_pwrite_all(s->fd, rd->buf, (size_t)n, s->size);
                if (r < 0)
                        return mk_error_set(rd->err, -r, "%s: spooling the archive's data: %s (free space in TMPDIR)",
                                            rd->name, strerror(-r));
                s->size += (uint64_t)n, got += (uint64_t)n;
        }
        if (got != size) {
                char q[1024];
                return mk_error_set(rd->err, EINVAL,
                                    "%s: entry '%s': holds %llu bytes, its header says %llu "
                                    "(the archive is damaged; recreate it)",
                                    rd->name, mk_quote(path, q, sizeof q), (unsigned long long)got,
                                    (unsigned long long)size);
        }
        *ret_off = start;
        return 0;
}

static int add_member(reader *rd, struct archive_entry *e)
{
        const char *path = archive_entry_pathname_utf8(e);
        if (!path)
                path = archive_entry_pathname(e);
        if (!path)
                return arc_error(rd, NULL, "a member without a name");
        const char *hard = archive_entry_hardlink_utf8(e);
        if (!hard)
                hard = archive_entry_hardlink(e);
        if (hard)
                return mk_fstree_add_hardlink(rd->tree, path, hard, NULL, rd->err);

        fsnode_attr a = {.perm = archive_entry_perm(e) & 07777,
                         .uid = (uint32_t)archive_entry_uid(e),
                         .gid = (uint32_t)archive_entry_gid(e),
                         .mtime = archive_entry_mtime(e)};
        fsnode *n = NULL;
        int r;
        switch (archive_entry_filetype(e)) {
        case AE_IFDIR:
                r = mk_fstree_add_dir(rd->tree, path, &a, &n, rd->err);
                break;
        case AE_IFREG: {
                uint64_t size = archive_entry_size_is_set(e) ? (uint64_t)archive_entry_size(e) : 0, off = 0;
                _cleanup_free_ char *norm = NULL;
                /* Validate the name before spending time on the data. */
                r = mk_fstree_normalize_path(rd->name, path, &norm, rd->err);
                if (r >= 0)
                        r = spool_data(rd, path, size, &off);
                if (r >= 0)
                        r = mk_fstree_add_file(rd->tree, path, &a, &rd->sp->base, off, NULL, size, &n, rd->err);
                break;
        }
        case AE_IFLNK: {
                const char *target = archive_entry_symlink_utf8(e);
                if (!target)
                        target = archive_entry_symlink(e);
                r = mk_fstree_add_symlink(rd->tree, path, &a, target ? target : "", &n, rd->err);
                break;
        }
        case AE_IFCHR:
        case AE_IFBLK:
                r = mk_fstree_add_special(rd->tree, path, &a,
                                          archive_entry_filetype(e) == AE_IFCHR ? FSNODE_CHRDEV : FSNODE_BLKDEV,
                                          archive_entry_rdev(e), &n, rd->err);
                break;
        case AE_IFIFO:
                r = mk_fstree_add_special(rd->tree, path, &a, FSNODE_FIFO, 0, &n, rd->err);
                break;
        case AE_IFSOCK:
                r = mk_fstree_add_special(rd->tree, path, &a, FSNODE_SOCKET, 0, &n, rd->err);
                break;
        default: {
                char q[1024];
                return mk_error_set(rd->err, EINVAL,
                                    "%s: entry '%s': unknown file type 0%o (recreate the archive "
                                    "with GNU tar or bsdtar)",
                                    rd->name, mk_quote(path, q, sizeof q), (unsigned)archive_entry_filetype(e));
        }
        }
        if (r < 0)
                return r;
        const char *key;
        const void *val;
        size_t len;
        archive_entry_xattr_reset(e);
        while (archive_entry_xattr_next(e, &key, &val, &len) == ARCHIVE_OK)
                if ((r = mk_fstree_add_xattr(rd->tree, n, key, val, len, rd->err)) < 0)
                        return r;
        return 0;
}

int mk_tree_load_tar(const char *archive, fstree *tree, mk_error *err)
{
        reader rd = {.name = archive, .tree = tree, .err = err};
        int r = spool_new(archive, &rd.sp, err);
        if (r < 0)
                return r;
        rd.buf = malloc(1 << 17);
        rd.a = archive_read_new();
        if (!rd.buf || !rd.a) {
                r = mk_error_set(err, ENOMEM, "out of memory");
                goto out;
        }
        archive_read_support_filter_none(rd.a);
        archive_read_support_filter_gzip(rd.a);
        archive_read_support_filter_xz(rd.a);
        archive_read_support_filter_zstd(rd.a);
        archive_read_support_format_tar(rd.a);
        archive_read_support_format_gnutar(rd.a);
        if (archive_read_open_filename(rd.a, archive, 1 << 16) != ARCHIVE_OK) {
                r = arc_error(&rd, NULL, "cannot open the archive");
                goto out;
        }
        for (;;) {
                struct archive_entry *e;
                int ar = archive_read_next_header(rd.a, &e);
                if (ar == ARCHIVE_EOF)
                        break;
                if (ar < ARCHIVE_WARN) {
                        r = arc_error(&rd, NULL, "not a readable tar archive");
                        goto out;
                }
                if ((r = add_member(&rd, e)) < 0)
                        goto out;
        }
        r = 0;
out:
        if (rd.a)
                archive_read_free(rd.a);
        free(rd.buf);
        mk_fs_source_unref(&rd.sp->base);
        return r;
}
