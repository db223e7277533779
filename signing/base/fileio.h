/* SPDX-License-Identifier: MIT */
/* Reading small files whole, bounded, and whole-range I/O: shared by mkimage and the boot-chain verifier. */
#ifndef MK_FILEIO_H
#define MK_FILEIO_H

#include <stddef.h>
#include <stdint.h>

#include "signing/base/error.h"

/*
 * Read the regular file at path, at most max bytes, into a new
 * NUL-terminated buffer (*ret, malloc'd; *ret_len excludes the NUL). Files
 * whose size the kernel does not know in advance (/proc, sysfs) work too:
 * the limit applies to what is read. -errno with err set ("PATH: ..."):
 * -ENOENT and the like from open, -EINVAL when not a regular file, -E2BIG
 * when larger than max.
 */
int mk_read_file(const char *path, size_t max, char **ret, size_t *ret_len, mk_error *err)
        __attribute__((warn_unused_result));

/* pread or pwrite exactly len bytes at off, retrying short transfers and EINTR: 0 or a negative
 * errno (-EIO for an unexpected end of file). */
int mk_pread_all(int fd, void *buf, size_t len, uint64_t off) __attribute__((warn_unused_result));
int mk_pwrite_all(int fd, const void *buf, size_t len, uint64_t off) __attribute__((warn_unused_result));

/*
 * Copy len bytes at offset from of fd in to offset to of fd out with
 * copy_file_range (in the kernel, sharing extents where the file system can).
 * Returns 0 or a negative errno (-EIO for an unexpected end of the input).
 */
int mk_copy_range(int in, uint64_t from, int out, uint64_t to, uint64_t len) __attribute__((warn_unused_result));

/*
 * Copy the data ranges (SEEK_DATA) of [from, from + len) of fd in to offset
 * to + (position - from) of fd out, leaving out's bytes under in's holes
 * untouched: copy_file_range where the kernel can, else pread/pwrite (a memfd
 * into a file of another file system). 0 or a negative errno.
 */
int mk_copy_data(int in, uint64_t from, uint64_t len, int out, uint64_t to) __attribute__((warn_unused_result));

#endif
