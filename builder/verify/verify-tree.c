/* SPDX-License-Identifier: MIT */
/*
 * Checks of a verity partition that need no data. The tree is stored top
 * level first after the superblock block; each hash block holds 128 salted
 * SHA-256 digests of the blocks one level down; the root hash is the salted
 * digest of the single top block. So every stored hash block is covered by
 * the signed root hash through its parents: a changed byte anywhere in the
 * tree breaks a link of that chain without looking at the data.
 */
#include <endian.h>
#include <errno.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

#include "signing/base/fileio.h"
#include "signing/base/macro.h"
#include "builder/squashfs/sqfs-file.h"
#include "builder/verify/verify-internal.h"
#include "builder/image/verity.h"

void mk_vhex_decode(const char *hex, uint8_t *out, size_t n)
{
        for (size_t i = 0; i < n; i++) {
                unsigned hi = (unsigned)(hex[2 * i] <= '9' ? hex[2 * i] - '0' : hex[2 * i] - 'a' + 10);
                unsigned lo = (unsigned)(hex[2 * i + 1] <= '9' ? hex[2 * i + 1] - '0' : hex[2 * i + 1] - 'a' + 10);
                out[i] = (uint8_t)(hi << 4 | lo);
        }
}

static bool all_zero(const uint8_t *p, size_t n)
{
        for (size_t i = 0; i < n; i++)
                if (p[i])
                        return false;
        return true;
}

/*
 * The cryptsetup superblock, little endian, at the start of block 0:
 *   0 "verity\0\0" | 8 version u32 | 12 hash_type u32 | 16 uuid[16]
 *  32 algorithm[32] | 64 data_block_size u32 | 68 hash_block_size u32
 *  72 data_blocks u64 | 80 salt_size u16 | 82 pad[6] | 88 salt[256] | 344 pad
 * Read by offset into host order; no struct is overlaid on the bytes.
 */
int mk_vtree_check_super(int fd, uint64_t off, const mk_manifest *m, mk_error *err)
{
        uint8_t b[MK_VERITY_BLOCK];
        int r = mk_pread_all(fd, b, sizeof(b), off);
        if (r < 0)
                return mk_error_set(err, -r, "cannot read the dm-verity superblock: %s", strerror(-r));
        if (memcmp(b, "verity\0\0", 8) != 0)
                return mk_error_set(err, EBADMSG, "no dm-verity superblock at the partition's start");
        uint32_t u32[4];
        uint64_t blocks;
        uint16_t salt_size;
        memcpy(&u32[0], b + 8, 4);
        memcpy(&u32[1], b + 12, 4);
        memcpy(&u32[2], b + 64, 4);
        memcpy(&u32[3], b + 68, 4);
        memcpy(&blocks, b + 72, 8);
        memcpy(&salt_size, b + 80, 2);
        static const char alg[32] = "sha256";
        if (le32toh(u32[0]) != 1 || le32toh(u32[1]) != 1 || memcmp(b + 32, alg, sizeof(alg)) != 0 ||
            le32toh(u32[2]) != MK_VERITY_BLOCK || le32toh(u32[3]) != MK_VERITY_BLOCK ||
            le16toh(salt_size) != MK_VERITY_SALT)
                return mk_error_set(err, EBADMSG,
                                    "the dm-verity superblock is not format 1, sha256, 4096-byte "
                                    "blocks with a 32-byte salt, as the manifest says");
        if (le64toh(blocks) != m->root.verity.data_blocks)
                return mk_error_set(err, EBADMSG, "the dm-verity superblock covers %llu data blocks, the manifest %llu",
                                    (unsigned long long)le64toh(blocks),
                                    (unsigned long long)m->root.verity.data_blocks);
        uint8_t salt[MK_VERITY_SALT];
        mk_vhex_decode(m->root.verity.salt, salt, sizeof(salt));
        if (CRYPTO_memcmp(b + 88, salt, sizeof(salt)) != 0)
                return mk_error_set(err, EBADMSG, "the dm-verity superblock's salt differs from the manifest's");
        if (!all_zero(b + 82, 6) || !all_zero(b + 88 + MK_VERITY_SALT, sizeof(b) - 88 - MK_VERITY_SALT))
                return mk_error_set(err, EBADMSG,
                                    "the dm-verity superblock block has non-zero bytes where it must be "
                                    "empty (it was modified)");
        return 0;
}

int mk_vtree_check_hashes(int fd, uint64_t off, const mk_manifest *m, mk_error *err)
{
        mk_verity_shape t;
        mk_verity_shape_of(m->root.verity.data_blocks, &t);
        unsigned levels = t.levels;
        const uint64_t *per_level = t.count, *first = t.start, total = t.blocks;
        if (levels == 0)
                return 0; /* one data block: the root hash covers the data directly */
        _cleanup_free_ uint8_t *tree = malloc(total * MK_VERITY_BLOCK);
        if (!tree)
                return mk_error_set(err, ENOMEM, "out of memory for the dm-verity tree");
        int r = mk_pread_all(fd, tree, total * MK_VERITY_BLOCK, off + MK_VERITY_BLOCK);
        if (r < 0)
                return mk_error_set(err, -r, "cannot read the dm-verity tree: %s", strerror(-r));
        uint8_t salt[MK_VERITY_SALT], root[32], md[32];
        mk_vhex_decode(m->root.verity.salt, salt, sizeof(salt));
        mk_vhex_decode(m->root.verity.root_hash, root, sizeof(root));
        EVP_MD_CTX *c = EVP_MD_CTX_new();
        if (!c)
                return mk_error_set(err, ENOMEM, "out of memory");
        /* Top down: the first block that fails is the changed one, since its
         * parent was checked before it. */
        r = 0;
        for (unsigned l = levels; l-- > 0 && r == 0;) {
                for (uint64_t k = 0; k < per_level[l]; k++) {
                        const uint8_t *blk = tree + (first[l] + k) * MK_VERITY_BLOCK;
                        const uint8_t *want = l + 1 < levels ? tree + first[l + 1] * MK_VERITY_BLOCK + k * 32 : root;
                        if (!EVP_DigestInit_ex(c, EVP_sha256(), NULL) || !EVP_DigestUpdate(c, salt, sizeof(salt)) ||
                            !EVP_DigestUpdate(c, blk, MK_VERITY_BLOCK) || !EVP_DigestFinal_ex(c, md, NULL)) {
                                r = mk_error_set(err, EIO, "SHA-256 failed in libcrypto");
                                break;
                        }
                        if (CRYPTO_memcmp(md, want, 32) != 0) {
                                r = mk_error_set(err, EBADMSG,
                                                 "hash block %llu of the partition (tree level %u) does not match %s "
                                                 "(the tree was modified)",
                                                 (unsigned long long)(1 + first[l] + k), l,
                                                 l + 1 < levels ? "its entry one level up"
                                                                : "the manifest's root hash");
                                break;
                        }
                }
        }
        EVP_MD_CTX_free(c);
        return r;
}
