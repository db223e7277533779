/* SPDX-License-Identifier: MIT */
/*
 * The data partition's ext4 superblock and group descriptors, read through a
 * callback (plain, or decrypted from the LUKS2 payload), so that `verify`
 * needs neither a mount nor a device-mapper target. Every field comes from
 * the image: each is read by offset into host order and bounded before use.
 *
 * The superblock, 1024 bytes at byte 1024, little endian (the fields used):
 *     0 inodes_count u32      4 blocks_count_lo u32   20 first_data_block u32
 *    24 log_block_size u32   32 blocks_per_group u32  40 inodes_per_group u32
 *    56 magic u16 (0xEF53)   58 state u16             76 rev_level u32
 *    88 inode_size u16       96 feature_incompat u32 100 feature_ro_compat u32
 *   104 uuid[16]            254 desc_size u16        336 blocks_count_hi u32
 *   373 checksum_type u8    404 error_count u32      624 checksum_seed u32
 *  1020 checksum u32 (crc32c of bytes 0..1019, seed ~0, no final inversion)
 * A group descriptor (32 bytes, or desc_size with 64bit):
 *     0 block_bitmap_lo  4 inode_bitmap_lo  8 inode_table_lo  30 checksum u16
 *    32 block_bitmap_hi 36 inode_bitmap_hi 40 inode_table_hi
 * With metadata_csum, a descriptor's checksum is the low 16 bits of crc32c
 * over the group number (le32) and the descriptor with the checksum as zero,
 * seeded with checksum_seed (csum_seed feature) or crc32c(~0, uuid).
 */
#include <endian.h>
#include <errno.h>
#include <ext2fs/ext2fs.h>
#include <inttypes.h>
#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>

#include "signing/base/macro.h"
#include "builder/verify/verify-internal.h"

#define SB_OFF 1024u
#define SB_LEN 1024u
#define MAGIC 0xEF53u
#define STATE_VALID 0x1u
#define STATE_ERROR 0x2u
#define INCOMPAT_RECOVER 0x4u
#define INCOMPAT_META_BG 0x10u
#define INCOMPAT_64BIT 0x80u
#define INCOMPAT_CSUM_SEED 0x2000u
#define RO_COMPAT_METADATA_CSUM 0x400u
#define INCOMPAT_JOURNAL_DEV 0x8u
/* Every feature bit e2fsprogs 1.47 names: a garbled feature word shows as bits nobody defines. */
#define INCOMPAT_KNOWN 0x3F7DFu
#define RO_COMPAT_KNOWN 0x1FFFFu
#define CSUM_CRC32C 1u
#define LOG_BLOCK_MAX 6u    /* 64 KiB blocks, ext4's largest */
#define GDT_MAX (16u << 20) /* bytes of group descriptors read: enough for 16 TiB of 4 KiB blocks */

static uint32_t le32_at(const uint8_t *p)
{
        uint32_t v;
        memcpy(&v, p, sizeof(v));
        return le32toh(v);
}

static uint16_t le16_at(const uint8_t *p)
{
        uint16_t v;
        memcpy(&v, p, sizeof(v));
        return le16toh(v);
}

/* The superblock's fields that the checks use, in host order. */
typedef struct sb {
        uint64_t blocks;
        uint32_t first_data, log_block, per_group, inodes_per_group, incompat, ro_compat;
        uint32_t block_size, desc_size, seed;
        uint64_t groups;
        bool csum;
} sb;

static int check_super(const uint8_t *b, uint64_t size, sb *s, mk_error *err)
{
        if (le16_at(b + 56) != MAGIC)
                return mk_error_set(err, EBADMSG, "no ext4 superblock (magic 0x%04x at byte 1080, not 0xef53)",
                                    le16_at(b + 56));
        s->incompat = le32_at(b + 96);
        s->ro_compat = le32_at(b + 100);
        if ((s->incompat & ~INCOMPAT_KNOWN) || (s->ro_compat & ~RO_COMPAT_KNOWN) ||
            (s->incompat & INCOMPAT_JOURNAL_DEV))
                return mk_error_set(err, EBADMSG,
                                    "the ext4 superblock sets features no ext4 has (incompat 0x%08" PRIx32
                                    ", ro_compat 0x%08" PRIx32 ") or is an external journal",
                                    s->incompat, s->ro_compat);
        s->csum = s->ro_compat & RO_COMPAT_METADATA_CSUM;
        if (s->csum) {
                if (b[373] != CSUM_CRC32C)
                        return mk_error_set(err, EBADMSG, "the ext4 superblock names checksum type %u, not crc32c (1)",
                                            b[373]);
                uint32_t want = le32_at(b + 1020), got = ext2fs_crc32c_le(~0u, b, 1020);
                if (got != want)
                        return mk_error_set(err, EBADMSG,
                                            "the ext4 superblock fails its checksum (stored 0x%08" PRIx32
                                            ", computed 0x%08" PRIx32 ")",
                                            want, got);
        }
        if (le32_at(b + 76) != 1)
                return mk_error_set(err, EBADMSG, "the ext4 superblock is revision %" PRIu32 ", not 1 (dynamic)",
                                    le32_at(b + 76));
        s->log_block = le32_at(b + 24);
        if (s->log_block > LOG_BLOCK_MAX)
                return mk_error_set(err, EBADMSG,
                                    "the ext4 superblock's block size 2^(10+%" PRIu32 ") is not 1 to 64 KiB",
                                    s->log_block);
        s->block_size = 1024u << s->log_block;
        s->blocks = le32_at(b + 4) | (s->incompat & INCOMPAT_64BIT ? (uint64_t)le32_at(b + 336) << 32 : 0);
        s->first_data = le32_at(b + 20);
        s->per_group = le32_at(b + 32);
        s->inodes_per_group = le32_at(b + 40);
        if (s->blocks == 0 || s->blocks > size / s->block_size)
                return mk_error_set(err, EBADMSG,
                                    "the ext4 file system claims %" PRIu64 " blocks of %" PRIu32
                                    " bytes, the space for it holds %" PRIu64 " bytes",
                                    s->blocks, s->block_size, size);
        if (s->first_data != (s->block_size == 1024 ? 1u : 0u) || s->per_group == 0 ||
            s->per_group > 8 * s->block_size || s->inodes_per_group == 0 || s->first_data >= s->blocks)
                return mk_error_set(err, EBADMSG,
                                    "the ext4 superblock's geometry is not possible (first data block %" PRIu32
                                    ", %" PRIu32 " blocks and %" PRIu32 " inodes per group)",
                                    s->first_data, s->per_group, s->inodes_per_group);
        s->desc_size = 32;
        if (s->incompat & INCOMPAT_64BIT) {
                s->desc_size = le16_at(b + 254);
                if (s->desc_size < 64 || s->desc_size > 1024 || (s->desc_size & (s->desc_size - 1)) ||
                    s->desc_size > s->block_size)
                        return mk_error_set(err, EBADMSG,
                                            "the ext4 superblock's group descriptor size %" PRIu32
                                            " is not a power of two from 64 to 1024",
                                            s->desc_size);
        }
        s->groups = (s->blocks - s->first_data + s->per_group - 1) / s->per_group;
        uint16_t state = le16_at(b + 58);
        if (!(state & STATE_VALID) || (state & STATE_ERROR))
                return mk_error_set(err, EBADMSG, "the ext4 file system is not clean (state 0x%04x%s)", state,
                                    state & STATE_ERROR ? ": errors were found" : ": not unmounted cleanly");
        if (le32_at(b + 404))
                return mk_error_set(err, EBADMSG, "the ext4 superblock records %" PRIu32 " file system errors",
                                    le32_at(b + 404));
        if (s->incompat & INCOMPAT_RECOVER)
                return mk_error_set(err, EBADMSG, "the ext4 journal needs recovery (needs_recovery is set)");
        s->seed = s->incompat & INCOMPAT_CSUM_SEED ? le32_at(b + 624) : ext2fs_crc32c_le(~0u, b + 104, 16);
        return 0;
}

/* Descriptor g points inside the file system and, with metadata_csum, checksums right. */
static int check_desc(const sb *s, const uint8_t *d, uint64_t g, mk_error *err)
{
        bool wide = s->desc_size >= 64;
        uint64_t bb = le32_at(d) | (wide ? (uint64_t)le32_at(d + 32) << 32 : 0);
        uint64_t ib = le32_at(d + 4) | (wide ? (uint64_t)le32_at(d + 36) << 32 : 0);
        uint64_t it = le32_at(d + 8) | (wide ? (uint64_t)le32_at(d + 40) << 32 : 0);
        if (s->csum) {
                uint32_t gle = htole32((uint32_t)g);
                static const uint8_t zero[2];
                uint32_t c = ext2fs_crc32c_le(s->seed, (const uint8_t *)&gle, sizeof(gle));
                c = ext2fs_crc32c_le(c, d, 30);
                c = ext2fs_crc32c_le(c, zero, sizeof(zero));
                c = ext2fs_crc32c_le(c, d + 32, s->desc_size - 32);
                if ((c & 0xFFFF) != le16_at(d + 30))
                        return mk_error_set(err, EBADMSG,
                                            "ext4 group descriptor %" PRIu64 " fails its checksum (stored 0x%04x, "
                                            "computed 0x%04x)",
                                            g, le16_at(d + 30), (unsigned)(c & 0xFFFF));
        }
        if (bb < s->first_data || bb >= s->blocks || ib < s->first_data || ib >= s->blocks || it < s->first_data ||
            it >= s->blocks)
                return mk_error_set(err, EBADMSG,
                                    "ext4 group descriptor %" PRIu64 " points outside the file system (bitmaps at "
                                    "blocks %" PRIu64 " and %" PRIu64 ", inode table at %" PRIu64 " of %" PRIu64 ")",
                                    g, bb, ib, it, s->blocks);
        return 0;
}

int mk_vext4_check(mk_vread_fn rd, void *ctx, uint64_t size, mk_vext4_info *info, mk_error *err)
{
        uint8_t b[SB_LEN];
        if (size < SB_OFF + SB_LEN)
                return mk_error_set(err, EBADMSG, "%" PRIu64 " bytes cannot hold an ext4 file system", size);
        int r = rd(ctx, SB_OFF, b, sizeof(b), err);
        if (r < 0)
                return r;
        sb s = {0};
        r = check_super(b, size, &s, err);
        OPENSSL_cleanse(b, sizeof(b));
        if (r < 0)
                return r;
        /* The descriptors follow the superblock's block; with meta_bg only the first block of them is there. */
        uint64_t per_block = s.block_size / s.desc_size;
        uint64_t n = s.incompat & INCOMPAT_META_BG && s.groups > per_block ? per_block : s.groups;
        uint64_t len = n > GDT_MAX / s.desc_size ? UINT64_MAX
                                                 : (n * s.desc_size + s.block_size - 1) / s.block_size * s.block_size;
        uint64_t at = ((uint64_t)s.first_data + 1) * s.block_size;
        if (len > GDT_MAX || at + len > s.blocks * s.block_size)
                return mk_error_set(err, EBADMSG,
                                    "the ext4 file system's %" PRIu64
                                    " groups need more group descriptor blocks than it holds (or than verify reads: "
                                    "%u MiB)",
                                    s.groups, GDT_MAX >> 20);
        _cleanup_free_ uint8_t *gdt = malloc(len);
        if (!gdt)
                return mk_error_set(err, ENOMEM, "out of memory for the ext4 group descriptors");
        if ((r = rd(ctx, at, gdt, len, err)) < 0)
                return r;
        for (uint64_t g = 0; g < n && r == 0; g++)
                r = check_desc(&s, gdt + (size_t)g * s.desc_size, g, err);
        OPENSSL_cleanse(gdt, len);
        if (r < 0)
                return r;
        *info = (mk_vext4_info){.blocks = s.blocks,
                                .block_size = s.block_size,
                                .groups = s.groups,
                                .descs_checked = s.csum ? (uint32_t)n : 0,
                                .csum = s.csum};
        return 0;
}
