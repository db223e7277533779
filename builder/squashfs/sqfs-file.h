/* SPDX-License-Identifier: MIT */
/*
 * An sqfs_file_t over a byte range of an open file, so that a squashfs image
 * can be written in place at a partition's offset inside a disk image (or
 * read from one).
 *
 * libsquashfs appends everything at file->get_size(), so get_size returns
 * the logical size of the squashfs written so far (relative to the range
 * start), never the size of the underlying file. Its block writer shrinks the
 * logical size with truncate() after it finds a duplicate file: the cut bytes
 * are zeroed (a hole is punched where the file system can), the underlying
 * file is never truncated unless SQFILE_TRUNCATE says the range is its tail. Offsets passed to read_at/write_at are
 * relative to the range start. Not thread-safe (libsquashfs writes from one thread).
 */
#ifndef MK_SQFS_FILE_H
#define MK_SQFS_FILE_H

#include <stdint.h>

#include <sqfs/io.h>

#include "signing/base/error.h"

enum {
        SQFILE_WRITE = 1 << 0,    /* start empty (logical size 0) and allow writes */
        SQFILE_OWN_FD = 1 << 1,   /* close fd when the file is destroyed */
        SQFILE_TRUNCATE = 1 << 2, /* the range runs to the end of fd: truncate() shrinks fd itself */
};

/*
 * Wrap fd's bytes [offset, offset + limit) (limit 0: no limit). Read-only
 * files see min(limit, file size - offset) bytes; writable files start at
 * logical size 0 and fail with ENOSPC past limit. name is used in messages.
 * On success *ret is a new file: free it with sqfs_destroy(). On failure fd
 * is left open even with SQFILE_OWN_FD, and *ret is untouched.
 */
int mk_sqfile_open_fd(int fd, const char *name, uint64_t offset, uint64_t limit, unsigned flags, sqfs_file_t **ret,
                      mk_error *err) __attribute__((warn_unused_result));

/* Open a whole file read-only (e.g. a .comp). */
int mk_sqfile_open_path(const char *path, sqfs_file_t **ret, mk_error *err) __attribute__((warn_unused_result));

/* Write zeros up to the next multiple of align; the logical size grows to it. */
int mk_sqfile_pad(sqfs_file_t *f, uint32_t align, mk_error *err) __attribute__((warn_unused_result));

/*
 * Turn a libsquashfs error code from an operation on f into an mk_error
 * "NAME: while WHAT: reason". Uses the errno of f's last failed I/O when
 * there was one. Returns the negative errno.
 */
int mk_sqfile_error(const sqfs_file_t *f, int sqfs_err, const char *what, mk_error *err);

/* A short text for a libsquashfs error code ("I/O error", "corrupted image"). */
const char *mk_sqfile_strerror(int sqfs_err);

#endif
