/* SPDX-License-Identifier: MIT */
/*
 * Block maps in the bmap-tools XML format (version 2.0), so that `bmaptool
 * copy IMAGE DEVICE` writes only the mapped blocks of a sparse image and
 * checks each range's SHA-256. The mapped blocks are the image file's data
 * extents (SEEK_DATA/SEEK_HOLE), in 4096-byte blocks.
 */
#ifndef MK_BMAP_H
#define MK_BMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "signing/base/error.h"

#define MK_BMAP_BLOCK 4096u

/* Mapped extents are listed in pieces of at most this, aligned. Small, so a factory device
 * rehashes only the pieces its few writes touch (a FAT entry, a record's cluster); a 40 MiB image
 * lists about 600 ranges. */
#define MK_BMAP_PIECE (64u << 10)

/*
 * Byte ranges of an image written since it was cloned from a reference (the
 * factory's common part). Adding never fails: when memory runs out the set
 * remembers it and counts as "everything changed" (mk_ranges_overlap is
 * then always true).
 */
typedef struct mk_ranges {
        struct mk_range {
                uint64_t off, len;
        } * v;
        size_t n, cap;
        bool oom;
} mk_ranges;
void mk_ranges_add(mk_ranges *r, uint64_t off, uint64_t len);
/* The same, in the shape of a "bytes written" callback (userdata is the mk_ranges). */
void mk_ranges_add_cb(void *userdata, uint64_t off, uint64_t len);
bool mk_ranges_overlap(const mk_ranges *r, uint64_t from, uint64_t to);
void mk_ranges_clear(mk_ranges *r); /* frees v */

/*
 * The pieces of a reference image (the factory's common part) with their
 * digests: an image cloned from it reuses a piece's digest when it has the
 * same piece and the caller wrote none of its bytes since the clone.
 */
typedef struct mk_bmap_ref mk_bmap_ref;
int mk_bmap_ref_new(int fd, const char *name, mk_bmap_ref **ret, mk_error *err) __attribute__((warn_unused_result));
mk_bmap_ref *mk_bmap_ref_free(mk_bmap_ref *ref);

/*
 * The bmap of the image open as fd (name is used in messages): *ret_text
 * (malloc'd, NUL-terminated) and its length. Each mapped extent is listed in
 * MK_BMAP_PIECE-aligned pieces. ref (may be NULL): the image fd was cloned
 * from; written: every byte range of fd written since (required with ref).
 * A piece that ref has with the same extent and that no written range
 * touches takes ref's digest without being read; the blocks of other pieces
 * that no written range touches are read from ref's file (in memory, where
 * the clone's own pages are not). When image_sha is not NULL it also
 * receives the SHA-256 of the whole image (holes hashed as zeros: what
 * sha256sum prints), computed in the same pass (ref's digests not used).
 */
int mk_bmap_make(int fd, const char *name, const mk_bmap_ref *ref, const mk_ranges *written, char **ret_text,
                 size_t *ret_len, char image_sha[65], mk_error *err) __attribute__((warn_unused_result));

#endif
