/* SPDX-License-Identifier: MIT */
/*
 * Block maps in the bmap-tools XML format (version 2.0), so that `bmaptool
 * copy IMAGE DEVICE` writes only the mapped blocks of a sparse image and
 * checks each range's SHA-256. The mapped blocks are the image file's data
 * extents (SEEK_DATA/SEEK_HOLE), in 4096-byte blocks.
 */
#ifndef MK_BMAP_H
#define MK_BMAP_H

#include <stddef.h>

#include "error.h"

#define MK_BMAP_BLOCK 4096u

/*
 * The bmap of the image open as fd (name is used in messages): *ret_text
 * (malloc'd, NUL-terminated) and its length. When image_sha is not NULL it
 * also receives the SHA-256 of the whole image (holes hashed as zeros: what
 * sha256sum prints), computed in the same pass.
 */
int mk_bmap_make(int fd, const char *name, char **ret_text, size_t *ret_len, char image_sha[65], mk_error *err)
        __attribute__((warn_unused_result));

#endif
