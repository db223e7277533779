/* SPDX-License-Identifier: MIT */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "builder/squashfs/sqfs-file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sqfs/error.h>

#include "signing/base/fileio.h"

typedef struct sqfile {
        sqfs_file_t base;
        int fd;
        bool own, writable, tail;
        uint64_t offset, limit, size;
        int last_errno;
        char name[];
} sqfile;

static int fail(sqfile *f, int e)
{
        f->last_errno = e;
        return SQFS_ERROR_IO;
}

static int sqfile_read_at(sqfs_file_t *base, sqfs_u64 off, void *buf, size_t len)
{
        sqfile *f = (sqfile *)base;
        if (off > f->size || len > f->size - off)
                return SQFS_ERROR_OUT_OF_BOUNDS;
        int r = mk_pread_all(f->fd, buf, len, f->offset + off);
        return r ? fail(f, -r) : 0;
}

static int write_all(sqfile *f, sqfs_u64 off, const void *buf, size_t len)
{
        int r = mk_pwrite_all(f->fd, buf, len, f->offset + off);
        return r ? fail(f, -r) : 0;
}

static int sqfile_write_at(sqfs_file_t *base, sqfs_u64 off, const void *buf, size_t len)
{
        sqfile *f = (sqfile *)base;
        if (!f->writable)
                return fail(f, EBADF);
        if (off > UINT64_MAX - len || (f->limit && off + len > f->limit))
                return fail(f, ENOSPC);
        int r = write_all(f, off, buf, len);
        if (r)
                return r;
        if (off + len > f->size)
                f->size = off + len;
        return 0;
}

static sqfs_u64 sqfile_get_size(const sqfs_file_t *base)
{
        return ((const sqfile *)base)->size;
}

static int write_zeros(sqfile *f, uint64_t from, uint64_t to)
{
        static const char zero[65536];
        while (from < to) {
                size_t n = to - from > sizeof zero ? sizeof zero : (size_t)(to - from);
                int r = write_all(f, from, zero, n);
                if (r)
                        return r;
                from += n;
        }
        return 0;
}

static int sqfile_truncate(sqfs_file_t *base, sqfs_u64 size)
{
        sqfile *f = (sqfile *)base;
        if (!f->writable)
                return fail(f, EBADF);
        if (f->limit && size > f->limit)
                return fail(f, ENOSPC);
        if (size < f->size && f->tail) {
                if (ftruncate(f->fd, (off_t)(f->offset + size)) < 0)
                        return fail(f, errno);
        } else if (size < f->size) {
                /* Never shrink the underlying file: other partitions may follow. */
                if (fallocate(f->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)(f->offset + size),
                              (off_t)(f->size - size)) < 0) {
                        int r = write_zeros(f, size, f->size);
                        if (r)
                                return r;
                }
        } else if (size > f->size) {
                int r = write_zeros(f, f->size, size);
                if (r)
                        return r;
        }
        f->size = size;
        return 0;
}

static void sqfile_destroy(sqfs_object_t *obj)
{
        sqfile *f = (sqfile *)obj;
        if (f->own && f->fd >= 0)
                close(f->fd);
        free(f);
}

int mk_sqfile_open_fd(int fd, const char *name, uint64_t offset, uint64_t limit, unsigned flags, sqfs_file_t **ret,
                      mk_error *err)
{
        uint64_t size = 0;
        if (!(flags & SQFILE_WRITE)) {
                struct stat st;
                if (fstat(fd, &st) < 0)
                        return mk_error_set(err, errno, "%s: %s", name, strerror(errno));
                uint64_t fsz = (uint64_t)st.st_size;
                size = fsz > offset ? fsz - offset : 0;
                if (limit && size > limit)
                        size = limit;
        }
        size_t nlen = strlen(name);
        sqfile *f = calloc(1, sizeof(*f) + nlen + 1);
        if (!f)
                return mk_error_set(err, ENOMEM, "out of memory");
        memcpy(f->name, name, nlen);
        f->base.base.destroy = sqfile_destroy;
        f->base.read_at = sqfile_read_at;
        f->base.write_at = sqfile_write_at;
        f->base.get_size = sqfile_get_size;
        f->base.truncate = sqfile_truncate;
        f->fd = fd;
        f->own = flags & SQFILE_OWN_FD;
        f->writable = flags & SQFILE_WRITE;
        f->tail = flags & SQFILE_TRUNCATE;
        f->offset = offset;
        f->limit = limit;
        f->size = size;
        *ret = &f->base;
        return 0;
}

int mk_sqfile_open_path(const char *path, sqfs_file_t **ret, mk_error *err)
{
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return mk_error_set(err, errno, "%s: %s", path, strerror(errno));
        int r = mk_sqfile_open_fd(fd, path, 0, 0, SQFILE_OWN_FD, ret, err);
        if (r < 0)
                close(fd);
        return r;
}

int mk_sqfile_pad(sqfs_file_t *base, uint32_t align, mk_error *err)
{
        sqfile *f = (sqfile *)base;
        uint64_t rem = align ? f->size % align : 0;
        if (!rem)
                return 0;
        int r = sqfile_truncate(base, f->size + (align - rem));
        return r ? mk_sqfile_error(base, r, "padding the image", err) : 0;
}

const char *mk_sqfile_strerror(int e)
{
        static const char *const text[] = {
                [-SQFS_ERROR_ALLOC] = "out of memory",
                [-SQFS_ERROR_IO] = "I/O error",
                [-SQFS_ERROR_COMPRESSOR] = "compressor error",
                [-SQFS_ERROR_INTERNAL] = "internal error",
                [-SQFS_ERROR_CORRUPTED] = "corrupted image",
                [-SQFS_ERROR_UNSUPPORTED] = "unsupported feature",
                [-SQFS_ERROR_OVERFLOW] = "numeric overflow",
                [-SQFS_ERROR_OUT_OF_BOUNDS] = "location out of bounds (truncated or corrupted image)",
                [-SFQS_ERROR_SUPER_MAGIC] = "not a squashfs image (bad magic)",
                [-SFQS_ERROR_SUPER_VERSION] = "unsupported squashfs version",
                [-SQFS_ERROR_SUPER_BLOCK_SIZE] = "invalid block size",
                [-SQFS_ERROR_NOT_DIR] = "not a directory",
                [-SQFS_ERROR_NO_ENTRY] = "no such entry",
                [-SQFS_ERROR_LINK_LOOP] = "hard link loop",
                [-SQFS_ERROR_NOT_FILE] = "not a regular file",
                [-SQFS_ERROR_ARG_INVALID] = "invalid argument",
                [-SQFS_ERROR_SEQUENCE] = "calls out of sequence",
        };
        return e < 0 && (size_t)-e < sizeof(text) / sizeof(*text) && text[-e] ? text[-e] : "unknown error";
}

int mk_sqfile_error(const sqfs_file_t *base, int sqfs_err, const char *what, mk_error *err)
{
        const sqfile *f = (const sqfile *)base;
        if (sqfs_err == SQFS_ERROR_IO && f && f->last_errno)
                return mk_error_set(err, f->last_errno, "%s: while %s: %s", f->name, what, strerror(f->last_errno));
        int code = sqfs_err == SQFS_ERROR_ALLOC ? ENOMEM : sqfs_err == SQFS_ERROR_IO ? EIO : EINVAL;
        return mk_error_set(err, code, "%s: while %s: %s", f ? f->name : "squashfs", what,
                            mk_sqfile_strerror(sqfs_err));
}
