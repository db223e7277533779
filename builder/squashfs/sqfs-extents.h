/* SPDX-License-Identifier: MIT */
/*
 * The stored data of a squashfs image as byte extents: every file's data
 * blocks and every fragment block, where they lie in the image and how many
 * bytes they take as stored (compressed or not). mkimage composes a root by
 * copying these blocks from its components, so an unchanged file keeps the
 * same stored bytes from one release to the next even where its offset
 * moves: the unit a delta matches (builder/bundle/bundle-delta.c).
 */
#ifndef MK_SQFS_EXTENTS_H
#define MK_SQFS_EXTENTS_H

#include <stddef.h>
#include <stdint.h>

#include "builder/squashfs/sqfs-read.h"
#include "signing/base/error.h"

typedef struct mk_sqextent {
        uint64_t offset; /* from the image's start */
        uint32_t len;    /* stored bytes, > 0 */
} mk_sqextent;

/*
 * Every extent of img, sorted by offset, each listed once (files that share
 * blocks list them once), each inside the image's bytes_used. *ret is
 * malloc'd (*ret_n entries, possibly 0). A block that lies outside the image
 * or an inode that does not add up is an error naming the image.
 */
int mk_sqimage_extents(sqimage *img, mk_sqextent **ret, size_t *ret_n, mk_error *err)
        __attribute__((warn_unused_result));

#endif
