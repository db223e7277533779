/* SPDX-License-Identifier: MIT */
/* Shared by the ESP writer (esp.c), reader (esp-read.c) and patcher (fat-patch.c). */
#ifndef MK_ESP_INTERNAL_H
#define MK_ESP_INTERNAL_H

#include <stdint.h>

#include "signing/base/error.h"

#define FAT_DIRENT 32u    /* bytes per directory slot */
#define FAT_LFN_CHARS 13u /* name characters per long-name slot */

/*
 * The FAT32 boot sector up to the fields read back after mkfs.vfat
 * (Microsoft FAT specification, "BPB"), little-endian on disk:
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

/* How mtools is run on the FAT at a byte offset of an image file. */
typedef struct esp_mtools {
        char spec[4200]; /* "IMAGE@@OFFSET", the -i argument */
        char sde[48];
        const char *env[10]; /* NULL-terminated, for mk_spawn_opts.env */
} esp_mtools;

int mk_esp_mtools_setup(const char *img, const char *ctx, uint64_t off, uint64_t epoch, esp_mtools *t, mk_error *err)
        __attribute__((warn_unused_result));

#endif
