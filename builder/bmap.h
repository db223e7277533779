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

#define MK_BMAP_PIECE (1u << 20) /* mapped extents are listed in pieces of at most this, aligned */

/*
 * The pieces of a reference image (the factory's common part) with their
 * digests: an image cloned from it reuses a piece's digest when the same
 * piece holds the same bytes (checked with memcmp, much cheaper than SHA-256).
 */
typedef struct mk_bmap_ref mk_bmap_ref;
int mk_bmap_ref_new(int fd, const char *name, mk_bmap_ref **ret, mk_error *err) __attribute__((warn_unused_result));
mk_bmap_ref *mk_bmap_ref_free(mk_bmap_ref *ref);

/*
 * The bmap of the image open as fd (name is used in messages): *ret_text
 * (malloc'd, NUL-terminated) and its length. Each mapped extent is listed in
 * MK_BMAP_PIECE-aligned pieces. ref (may be NULL): a reference image whose
 * piece digests may be reused. When image_sha is not NULL it also receives
 * the SHA-256 of the whole image (holes hashed as zeros: what sha256sum
 * prints), computed in the same pass (ref is then not used).
 */
int mk_bmap_make(int fd, const char *name, const mk_bmap_ref *ref, char **ret_text, size_t *ret_len,
                 char image_sha[65], mk_error *err) __attribute__((warn_unused_result));

#endif
