/* SPDX-License-Identifier: MIT */
/*
 * A FAT32 volume inside an image: its boot sector decoded and checked, its
 * FSInfo found, a cluster chain followed (signing/disk/fat-internal.h).
 * The layer under the reader (fat.c), the folders (fat-dir.c) and the
 * editor (fat-edit.c). Facts used: see fat.c.
 */
#include "signing/disk/fat.h"

#include "signing/disk/fat-internal.h"

#include <endian.h>
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "signing/base/fileio.h"
#include "signing/base/macro.h"
#define FSINFO_LEAD 0x41615252u
#define FSINFO_STRUC 0x61417272u

/*
 * The FAT32 boot sector up to the fields mkimage reads
 * (the FAT specification's "BPB"), little-endian on disk:
 *
 *   0 jump[3]  3 oem[8]  11 bytes/sector  13 sectors/cluster  14 reserved sectors
 *  16 FATs  17 root entries  19 total16  21 media  22 FAT size16  24 sectors/track
 *  26 heads  28 hidden sectors  32 total32  36 FAT size32
 */
struct fat_bpb {
        uint8_t jump[3];
        char oem[8];
        uint16_t bytes_per_sector;
        uint8_t sectors_per_cluster;
        uint16_t reserved_sectors;
        uint8_t fats;
        uint16_t root_entries;
        uint16_t total_sectors16;
        uint8_t media;
        uint16_t fat_size16;
        uint16_t sectors_per_track;
        uint16_t heads;
        uint32_t hidden_sectors;
        uint32_t total_sectors32;
        uint32_t fat_size32;
} __attribute__((packed));
_Static_assert(sizeof(struct fat_bpb) == 40, "FAT32 BPB layout");
int mk_fat_io_fail(const fat_vol *v, int r, const char *doing, mk_error *err)
{
        return mk_error_set(err, -r, "%s: ESP: %s: %s", v->where, doing,
                            r == -EIO ? "the image ends early (truncated?)" : strerror(-r));
}

int mk_fat_geometry_decode(const uint8_t bs[512], mk_fat_geometry *ret)
{
        struct fat_bpb b;
        memcpy(&b, bs, sizeof(b));
        uint32_t bps = le16toh(b.bytes_per_sector), spc = b.sectors_per_cluster;
        /* A volume under 65536 sectors has its size in the 16-bit field. */
        uint64_t total = le16toh(b.total_sectors16) ? le16toh(b.total_sectors16) : le32toh(b.total_sectors32);
        uint64_t fatsz = le32toh(b.fat_size32), reserved = le16toh(b.reserved_sectors);
        uint64_t meta = reserved + (uint64_t)b.fats * fatsz;
        if (bs[510] != 0x55 || bs[511] != 0xAA || bps < 512 || bps > 4096 || (bps & (bps - 1)) || !spc ||
            (spc & (spc - 1)) || (uint64_t)bps * spc > 65536 || !b.fats || b.fats > 4 || !reserved ||
            le16toh(b.fat_size16) || le16toh(b.root_entries) || !fatsz || meta >= total)
                return -EINVAL;
        uint64_t clusters = (total - meta) / spc, entries = fatsz * bps / 4;
        if (clusters + 2 > entries)
                clusters = entries - 2;
        if (clusters + 1 > FAT_BAD - 1)
                clusters = FAT_BAD - 2;
        *ret = (mk_fat_geometry){.sector_size = bps,
                                 .cluster_size = bps * spc,
                                 .reserved = reserved,
                                 .n_fats = b.fats,
                                 .fat_sectors = fatsz,
                                 .total_sectors = total,
                                 .data_sector = meta,
                                 .max_cluster = (uint32_t)(clusters + 1),
                                 .fsinfo_sector = fat_rd16(bs + 48)};
        return 0;
}

int mk_fat_vol_open(int fd, const char *name, uint64_t offset, fat_vol *v, mk_error *err)
{
        *v = (fat_vol){.fat = 0};
        snprintf(v->where, sizeof(v->where), "%s", name);
        uint8_t bs[512];
        int r = mk_pread_all(fd, bs, sizeof(bs), offset);
        if (r < 0)
                return mk_fat_io_fail(v, r, "reading the boot sector", err);
        mk_fat_geometry g;
        if (mk_fat_geometry_decode(bs, &g) < 0)
                return mk_error_set(err, EINVAL,
                                    "%s: the ESP at byte %" PRIu64 " is not a FAT32 volume mkimage can patch (its "
                                    "boot sector is damaged or not FAT32): rebuild the image",
                                    v->where, offset);
        v->fat = offset + g.reserved * g.sector_size;
        v->fat_size = g.fat_sectors * g.sector_size;
        v->n_fats = g.n_fats;
        v->data = offset + g.data_sector * g.sector_size;
        v->csize = g.cluster_size;
        v->max_cluster = g.max_cluster;
        v->root = fat_rd32(bs + 44) & FAT_ENTRY_MASK;
        /* FSInfo: valid when its three signatures are. */
        if (g.fsinfo_sector && g.fsinfo_sector < g.reserved) {
                uint8_t s[512];
                uint64_t at = offset + (uint64_t)g.fsinfo_sector * g.sector_size;
                if ((r = mk_pread_all(fd, s, sizeof(s), at)) < 0)
                        return mk_fat_io_fail(v, r, "reading FSInfo", err);
                if (fat_rd32(s) == FSINFO_LEAD && fat_rd32(s + 484) == FSINFO_STRUC && s[510] == 0x55 && s[511] == 0xAA)
                        v->fsinfo = at;
        }
        return 0;
}

int mk_fat_chain_load(int fd, const fat_vol *v, uint32_t first, const char *what, uint32_t **ret, size_t *ret_n,
                      mk_error *err)
{
        uint32_t *c_ = NULL;
        size_t n = 0, cap = 0;
        for (uint32_t c = first; c;) {
                if (c < 2 || c > v->max_cluster || n > v->max_cluster) {
                        free(c_);
                        return mk_error_set(err, EINVAL,
                                            "%s: ESP: the cluster chain of %s is broken (cluster %" PRIu32
                                            "): run fsck.vfat on the ESP or rebuild the image",
                                            v->where, what, c);
                }
                if (n == cap) {
                        cap = cap ? 2 * cap : 16;
                        uint32_t *nv = reallocarray(c_, cap, sizeof(*c_));
                        if (!nv) {
                                free(c_);
                                return mk_error_set(err, ENOMEM, "out of memory");
                        }
                        c_ = nv;
                }
                c_[n++] = c;
                uint8_t e[4];
                int r = mk_pread_all(fd, e, 4, v->fat + 4ull * c);
                if (r < 0) {
                        free(c_);
                        return mk_fat_io_fail(v, r, "reading the FAT", err);
                }
                uint32_t next = fat_rd32(e) & FAT_ENTRY_MASK;
                c = next >= FAT_BAD ? 0 : next;
                if (next == FAT_BAD || !next) {
                        free(c_);
                        return mk_error_set(err, EINVAL,
                                            "%s: ESP: the cluster chain of %s runs into a %s cluster: run fsck.vfat on "
                                            "the ESP or rebuild the image",
                                            v->where, what, next ? "bad" : "free");
                }
        }
        *ret = c_;
        *ret_n = n;
        return 0;
}
