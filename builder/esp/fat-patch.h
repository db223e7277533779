/* SPDX-License-Identifier: MIT */
/*
 * Rewriting one existing file of a FAT32 volume inside an image in place,
 * without mtools: the factory puts each device's serial record over the
 * placeholders the common part reserved on its ESP (build-boot.h,
 * MK_SERIAL_RESERVE), touching a few clusters and FAT entries instead of
 * rewriting the file system.
 *
 * Only what mkimage's own ESPs hold is understood: FAT32 with 512-byte
 * sectors, long (VFAT) or 8.3 names. Every loop is bounded by the volume's
 * cluster count, so a corrupt chain or directory ends in an error.
 */
#ifndef MK_FAT_PATCH_H
#define MK_FAT_PATCH_H

#include <stddef.h>
#include <stdint.h>

#include "signing/base/error.h"

typedef struct mk_fat_file mk_fat_file;

/*
 * Find esp_path ("dir/file", '/'-separated, matched case-insensitively) on
 * the FAT32 volume at byte offset of the image open as fd (name is used in
 * messages). -ENOENT with err set when a component does not exist.
 */
int mk_fat_locate(int fd, const char *name, uint64_t offset, const char *esp_path, mk_fat_file **ret, mk_error *err)
        __attribute__((warn_unused_result));

/* The bytes the file's cluster chain holds (what mk_fat_rewrite can write without allocating). */
uint64_t mk_fat_file_capacity(const mk_fat_file *f);

mk_fat_file *mk_fat_file_free(mk_fat_file *f);

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
