/* SPDX-License-Identifier: MIT */
/*
 * Small cpio archives in the "newc" format (magic 070701), as the Linux
 * kernel unpacks them from an initrd. mkimage appends one to each slot's
 * initrd to carry /etc/mkimage/trusted.pub and the model name: the kernel
 * unpacks concatenated archives (compressed or not) one after the other.
 *
 * The archive is reproducible: depth-first, every directory before its
 * contents and each directory's entries sorted (strcmp), whatever the order
 * given; inode numbers 1, 2, 3, ... in that order, owner 0:0, device numbers 0, one time stamp for every entry, the
 * TRAILER!!! record, every header and body 4-byte aligned and the whole
 * archive zero-padded to a multiple of 512 bytes. The encoding itself is
 * libarchive's newc writer.
 */
#ifndef MK_CPIO_H
#define MK_CPIO_H

#include <stddef.h>
#include <stdint.h>

#include "signing/base/error.h"

#define MK_CPIO_BLOCK 512u

typedef struct mk_cpio_entry {
        /*
         * "etc/mkimage/trusted.pub": relative, '/'-separated; the fstree rules
         * apply ("./" and a trailing '/' are dropped; absolute paths, "..",
         * invalid UTF-8 and newlines are refused).
         */
        const char *path;
        /* S_IFDIR or S_IFREG plus permission bits, e.g. S_IFREG | 0644. */
        uint32_t mode;
        /* The file's bytes (regular files only; NULL when size is 0). */
        const void *data;
        size_t size;
} mk_cpio_entry;

/*
 * Build an archive of the n entries. Missing parent directories are added
 * with mode 0755 (the kernel does not create parents; a directory that
 * already exists in an earlier archive keeps its contents and takes this
 * mode and time). mtime is the time stamp of every entry.
 *
 * On success *ret (malloc'd, the caller frees it) and *ret_len are set. On
 * failure (-EINVAL: a bad path or mode, a duplicate, a file used as a
 * directory; -ENOMEM; -EIO from libarchive) neither is written.
 */
int mk_cpio_newc(const mk_cpio_entry *e, size_t n, uint32_t mtime, void **ret, size_t *ret_len, mk_error *err)
        __attribute__((warn_unused_result));

#endif
