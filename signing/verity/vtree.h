/* SPDX-License-Identifier: MIT */
/*
 * dm-verity hash trees as the builder writes them and the device checks them
 * (format 1, SHA-256, 4096-byte data and hash blocks, a 32-byte salt hashed
 * before each block, the cryptsetup superblock in the hash area's first
 * block): the shape of a tree, and a tree held in memory that authenticates
 * data blocks one at a time, for the updater (docs/update.md). The trust
 * core: libsodium only.
 */
#ifndef MK_VTREE_H
#define MK_VTREE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "signing/base/error.h"

#define MK_VERITY_BLOCK 4096u
#define MK_VERITY_SALT 32u
#define MK_VERITY_LEVELS_MAX 16 /* 128^10 blocks already exceed 2^64 */

/*
 * The shape of the hash tree over data_blocks blocks: each level holds one
 * 32-byte digest per block of the level below, 128 per hash block, up to a
 * level of one block, whose digest is the root hash. The tree is stored top
 * level first, after the superblock's block. One data block: no tree (the
 * root hash is the block's digest).
 */
typedef struct mk_verity_shape {
        unsigned levels;                      /* 0 when there is a single data block */
        uint64_t count[MK_VERITY_LEVELS_MAX]; /* hash blocks per level, 0 = the digests of the data */
        uint64_t start[MK_VERITY_LEVELS_MAX]; /* each level's first block, counted from the tree's start */
        uint64_t blocks;                      /* hash blocks in all levels */
} mk_verity_shape;

/* The shape of the tree over data_blocks (>= 1) blocks. */
void mk_verity_shape_of(uint64_t data_blocks, mk_verity_shape *ret);

/* Bytes of the hash area for data_blocks blocks of data: the superblock's block and the tree. */
uint64_t mk_verity_hash_size(uint64_t data_blocks);

/*
 * A hash area (superblock block + tree, mk_verity_hash_size(data_blocks)
 * bytes) in memory, checked: every hash block hashes (salted) to its entry
 * one level up and the top to the root hash. Borrowed, not copied.
 */
typedef struct mk_vtree {
        mk_verity_shape s;
        const uint8_t *area;
        uint64_t data_blocks;
        uint8_t salt[MK_VERITY_SALT];
        uint8_t root[32];
} mk_vtree;

/*
 * Check area (len bytes) as the tree over data_blocks with salt and root
 * hash root; then *ret authenticates data blocks. -EBADMSG with a message
 * naming the first bad block (or a wrong size); nothing else is read.
 */
int mk_vtree_open(const uint8_t *area, uint64_t len, uint64_t data_blocks, const uint8_t salt[MK_VERITY_SALT],
                  const uint8_t root[32], mk_vtree *ret, mk_error *err) __attribute__((warn_unused_result));

/* Data block i (< data_blocks) is what the tree says: SHA-256(salt | block) equals its leaf. */
bool mk_vtree_block_ok(const mk_vtree *t, uint64_t i, const uint8_t block[MK_VERITY_BLOCK]);

/*
 * Blocks first .. first+n-1 of the tree, at blocks (n * MK_VERITY_BLOCK
 * bytes), checked on up to threads threads (at least 64 blocks each): the
 * index (from 0) of the first that does not match, or n when all do.
 */
uint64_t mk_vtree_check(const mk_vtree *t, uint64_t first, const uint8_t *blocks, uint64_t n, unsigned threads);

/* Threads worth using for mk_vtree_check: one per online CPU, at most 4. */
unsigned mk_vtree_threads(void);

/* SHA-256(salt | data) into out: the salted digest dm-verity format 1 stores. */
void mk_vtree_digest(const uint8_t salt[MK_VERITY_SALT], const void *data, size_t len, uint8_t out[32]);

#endif
