/* SPDX-License-Identifier: MIT */
/*
 * Reading and rewriting one existing file of a FAT32 volume inside an image
 * in place, without mtools: the factory puts each device's serial record over
 * the placeholders the common part reserved on its ESP (build-boot.h,
 * MK_SERIAL_RESERVE), touching a few clusters and FAT entries instead of
 * rewriting the file system; mk_esp_read and mk_esp_sha256 read files this
 * way (no process per file) and fall back to mtools for anything else.
 *
 * Only what mkimage's own ESPs hold is understood: FAT32 with 512-byte
 * sectors, long (VFAT) or 8.3 names. Every loop is bounded by the volume's
 * cluster count, so a corrupt chain or directory ends in an error.
 */
#ifndef MK_DISK_FAT_H
#define MK_DISK_FAT_H

#include <stddef.h>
#include <stdint.h>

#include "signing/base/error.h"

#define FAT_DIRENT 32u    /* bytes per directory slot */
#define FAT_LFN_CHARS 13u /* name characters per long-name slot */

typedef struct mk_fat_file mk_fat_file;

/* A FAT32 volume's geometry, read from its boot sector. */
typedef struct mk_fat_geometry {
        uint32_t sector_size;   /* bytes per sector: 512 to 4096, a power of two */
        uint32_t cluster_size;  /* bytes per cluster, at most 64 KiB */
        uint64_t reserved;      /* sectors before the first FAT */
        unsigned n_fats;        /* copies of the FAT, 1 to 4 */
        uint64_t fat_sectors;   /* sectors per FAT */
        uint64_t total_sectors; /* of the volume */
        uint64_t data_sector;   /* the first sector of cluster 2 */
        uint32_t max_cluster;   /* the highest cluster number the data region and the FAT both hold */
        uint16_t fsinfo_sector; /* where FSInfo should be (0: none) */
} mk_fat_geometry;

/*
 * Decode a FAT32 boot sector (its first 512 bytes) and check it: the
 * signature, sizes in range, no FAT12/16 fields, the FATs inside the volume.
 * -EINVAL when it is not such a volume. The only decoder of boot sectors:
 * the ESP writer reads back what mkfs.vfat made with it, the patcher what it
 * is about to change.
 */
int mk_fat_geometry_decode(const uint8_t bs[512], mk_fat_geometry *ret) __attribute__((warn_unused_result));

/*
 * Find esp_path ("dir/file", '/'-separated, matched case-insensitively) on
 * the FAT32 volume at byte offset of the image open as fd (name is used in
 * messages). -ENOENT with err set when a component does not exist.
 */
int mk_fat_locate(int fd, const char *name, uint64_t offset, const char *esp_path, mk_fat_file **ret, mk_error *err)
        __attribute__((warn_unused_result));

/* The file's size in bytes. */
uint32_t mk_fat_file_size(const mk_fat_file *f);

/* The bytes the file's cluster chain holds (what mk_fat_rewrite can write without allocating). */
uint64_t mk_fat_file_capacity(const mk_fat_file *f);

mk_fat_file *mk_fat_file_free(mk_fat_file *f);

/* Hand the file's bytes (its size, along its cluster chain) to sink in runs of at most 1 MiB; a sink error
 * stops it. -EUCLEAN when the size is more than the chain holds. */
int mk_fat_file_stream(int fd, const mk_fat_file *f,
                       int (*sink)(const void *data, size_t len, void *userdata, mk_error *err), void *userdata,
                       mk_error *err) __attribute__((warn_unused_result));

/* Report each byte range mk_fat_rewrite of f may read or write: its clusters, their FAT entries in every
 * copy, its directory entry, FSInfo's free count. The factory brings these into a fresh clone's page cache
 * first (whole pages), so that the rewrite's small writes need no read of the shared blocks from disk. */
void mk_fat_file_extent(const mk_fat_file *f, void (*range)(void *userdata, uint64_t off, uint64_t len),
                        void *userdata);
/* A copy of f for an identical copy of its image (name: that image, for messages); NULL when out of memory.
 * The factory locates the placeholders once in the common part and rewrites them in every clone. */
mk_fat_file *mk_fat_file_dup(const mk_fat_file *f, const char *name);

/*
 * Replace the file's content with data (len bytes, at most its capacity:
 * -EFBIG otherwise): the clusters it needs are written (the last one's tail
 * zero-filled), the directory entry gets the new size, the clusters beyond
 * are freed in every FAT copy and counted in FSInfo's free count. Each byte
 * range written is reported to dirty(userdata, offset, length) (may be NULL).
 * Timestamps are left as they were.
 */
int mk_fat_rewrite(int fd, mk_fat_file *f, const void *data, size_t len,
                   void (*dirty)(void *userdata, uint64_t off, uint64_t len), void *userdata, mk_error *err)
        __attribute__((warn_unused_result));

#endif
