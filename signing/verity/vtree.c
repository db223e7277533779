/* SPDX-License-Identifier: MIT */
/* dm-verity tree shapes and in-memory trees (signing/verity/vtree.h). */
#include <errno.h>
#include <sodium.h>
#include <string.h>

#include "signing/base/sha256.h"
#include "signing/verity/vtree.h"

#define BS MK_VERITY_BLOCK
#define PER_BLOCK (BS / 32)

void mk_verity_shape_of(uint64_t data_blocks, mk_verity_shape *ret)
{
        memset(ret, 0, sizeof(*ret));
        for (uint64_t n = data_blocks; n > 1 && ret->levels < MK_VERITY_LEVELS_MAX;) {
                n = (n + PER_BLOCK - 1) / PER_BLOCK;
                ret->count[ret->levels++] = n;
                ret->blocks += n;
        }
        uint64_t at = 0;
        for (unsigned i = ret->levels; i-- > 0;) {
                ret->start[i] = at;
                at += ret->count[i];
        }
}

uint64_t mk_verity_hash_size(uint64_t data_blocks)
{
        mk_verity_shape s;
        mk_verity_shape_of(data_blocks, &s);
        return (s.blocks + 1) * BS;
}

void mk_vtree_digest(const uint8_t salt[MK_VERITY_SALT], const void *data, size_t len, uint8_t out[32])
{
        mk_sha256_ctx st;
        mk_sha256_init(&st);
        mk_sha256_update(&st, salt, MK_VERITY_SALT);
        mk_sha256_update(&st, data, len);
        mk_sha256_final(&st, out);
}

/* Hash block j of level l (0: the level holding the data's digests). */
static const uint8_t *level_block(const mk_vtree *t, unsigned l, uint64_t j)
{
        return t->area + (1 + t->s.start[l] + j) * BS;
}

int mk_vtree_open(const uint8_t *area, uint64_t len, uint64_t data_blocks, const uint8_t salt[MK_VERITY_SALT],
                  const uint8_t root[32], mk_vtree *ret, mk_error *err)
{
        mk_vtree t = {.area = area, .data_blocks = data_blocks};
        mk_verity_shape_of(data_blocks, &t.s);
        memcpy(t.salt, salt, MK_VERITY_SALT);
        memcpy(t.root, root, 32);
        if (data_blocks == 0 || len != mk_verity_hash_size(data_blocks))
                return mk_error_set(err, EBADMSG, "the hash area is %llu bytes, a tree over %llu blocks takes %llu",
                                    (unsigned long long)len, (unsigned long long)data_blocks,
                                    (unsigned long long)mk_verity_hash_size(data_blocks));
        uint8_t d[32];
        for (unsigned l = 0; l < t.s.levels; l++)
                for (uint64_t j = 0; j < t.s.count[l]; j++) {
                        mk_vtree_digest(salt, level_block(&t, l, j), BS, d);
                        const uint8_t *want = l + 1 < t.s.levels
                                                      ? level_block(&t, l + 1, j / PER_BLOCK) + (j % PER_BLOCK) * 32
                                                      : t.root;
                        if (sodium_memcmp(d, want, 32))
                                return mk_error_set(err, EBADMSG,
                                                    "hash block %llu of tree level %u does not hash to its entry %s",
                                                    (unsigned long long)j, l,
                                                    l + 1 < t.s.levels ? "one level up" : "(the root hash)");
                }
        *ret = t;
        return 0;
}

bool mk_vtree_block_ok(const mk_vtree *t, uint64_t i, const uint8_t block[MK_VERITY_BLOCK])
{
        if (i >= t->data_blocks)
                return false;
        uint8_t d[32];
        mk_vtree_digest(t->salt, block, BS, d);
        const uint8_t *want = t->s.levels ? level_block(t, 0, i / PER_BLOCK) + (i % PER_BLOCK) * 32 : t->root;
        return sodium_memcmp(d, want, 32) == 0;
}
