/* SPDX-License-Identifier: MIT */
/*
 * dm-verity hash trees in the standard format (version 1, SHA-256, 4096-byte
 * data and hash blocks, salted), with the cryptsetup superblock in the first
 * hash block, so that `veritysetup verify DATA HASH ROOTHASH` accepts them.
 * Works on byte ranges of one image file: rootless, no device-mapper.
 */
#ifndef MK_VERITY_H
#define MK_VERITY_H

#include <stdint.h>

#include "signing/base/error.h"
#include "signing/verity/vtree.h"

typedef struct mk_verity {
        uint64_t data_blocks;
        uint64_t hash_size; /* bytes written at hash_off: superblock + tree */
        uint8_t salt[MK_VERITY_SALT];
        uint8_t root_hash[32];
        uint8_t uuid[16];
} mk_verity;

/* Where a hash tree goes: the superblock and the tree at hash_off, hash_max bytes of room there. */
typedef struct mk_verity_dest {
        uint64_t hash_off, hash_max;
        const uint8_t *uuid; /* the superblock's, 16 bytes */
} mk_verity_dest;

/*
 * Hash data_size bytes (a multiple of 4096) at data_off in fd and write the
 * superblock and the tree to each of the n destinations (the same data in
 * two slots has the same tree: one pass over it; each superblock has its own
 * uuid). salt and uuids are the caller's (derived, for reproducible images).
 * threads >= 1 workers hash the data level. On success ret[0..n) are filled;
 * on failure they are untouched and nothing is promised about the hash areas.
 */
int mk_verity_format(int fd, uint64_t data_off, uint64_t data_size, const mk_verity_dest *dests, size_t n,
                     const uint8_t salt[MK_VERITY_SALT], unsigned threads, mk_verity *ret, mk_error *err)
        __attribute__((warn_unused_result));

/*
 * Recompute the tree from the data and compare it, block by block, with what
 * is stored at hash_off, and the root with root_hash. Returns 0 when all
 * agree, -EBADMSG (with a message naming the first bad block) otherwise.
 */
int mk_verity_check(int fd, uint64_t data_off, uint64_t hash_off, const uint8_t root_hash[32], unsigned threads,
                    mk_verity *ret, mk_error *err) __attribute__((warn_unused_result));

#endif
