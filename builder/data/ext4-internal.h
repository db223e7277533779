/* SPDX-License-Identifier: MIT */
/*
 * Shared between data.c (the file system skeleton) and data-populate.c (the
 * content walk). Not an interface: tests include it to reach the paths the
 * public function guards.
 */
#ifndef MK_DATA_INTERNAL_H
#define MK_DATA_INTERNAL_H

#include <ext2fs/ext2fs.h>
#include <stdint.h>

#include "builder/data/ext4.h"

/* What a tree needs, counted before anything is written. */
typedef struct ext4_need {
        uint64_t blocks;     /* data, directory, symlink, xattr and extent blocks */
        uint64_t inodes;     /* not counting the root */
        uint64_t data_bytes; /* sum of the regular files' sizes (hard links once) */
        uint64_t files;      /* inodes of any kind */
} ext4_need;

/* Where errors are reported from: the image, the range and the content. */
typedef struct ext4_where {
        const char *image; /* its path */
        const char *name;  /* what messages call it */
        int fd;            /* the image, open read-write */
        uint64_t offset, size;
        const char *origin; /* the content's name, or NULL */
        ext4_need need;
        uint64_t avail_blocks, avail_inodes;
} ext4_where;

/*
 * ext2fs_initialize() on the open file fd (name is for messages) through
 * mk_ext4_io_manager: pread/pwrite at the "offset=" option's byte offset,
 * never fsync (the image is synced once, when complete).
 */
extern io_manager mk_ext4_io_manager;
errcode_t mk_ext4_io_initialize(const char *name, int fd, int flags, struct ext2_super_block *param, ext2_filsys *ret);

/* "IMAGE: data partition (ext4 of 64.0 MiB at offset 1048576)" into buf. */
const char *mk_ext4_where_str(const ext4_where *w, char *buf, size_t len);

/*
 * Count what t needs (sorts t). Refuses, with a message naming the entry, a
 * node whose extended attributes cannot be stored by ext4 at all.
 */
int mk_ext4_content_need(fstree *t, const ext4_where *w, ext4_need *ret, mk_error *err)
        __attribute__((warn_unused_result));

/* Copy t into fs (t sorted, aux slots reused). */
int mk_ext4_populate(ext2_filsys fs, fstree *t, const ext4_where *w, mk_error *err) __attribute__((warn_unused_result));

/*
 * Report a libext2fs error: an allocation failure becomes the "does not fit"
 * message; anything else names what was being done (path may be NULL).
 */
int mk_ext4_fail(const ext4_where *w, errcode_t code, const char *doing, const char *path, mk_error *err);

/*
 * mk_ext4_write without the fit check: the file system is made and filled
 * until libext2fs itself runs out of room. For tests of that path only.
 */
int mk_ext4_write_unchecked(const char *image_path, int fd, uint64_t offset, uint64_t size, const mk_ext4_opts *o,
                            fstree *content, mk_error *err) __attribute__((warn_unused_result));

#endif
