/* SPDX-License-Identifier: MIT */
/* The first FAT in memory for the file editor (fat-map.c); internal to signing/disk/. */
#ifndef MK_DISK_FAT_MAP_H
#define MK_DISK_FAT_MAP_H

#include "signing/disk/fat-internal.h"

typedef struct fat_map {
        uint32_t *e; /* entries 0 .. max_cluster, host order, the top 4 bits as on disk */
        size_t n;
        uint32_t *dirty; /* entries changed since the last flush */
        size_t n_dirty, cap_dirty;
        uint32_t n_free; /* counted */
        uint32_t hint;   /* where the next allocation starts looking */
} fat_map;

/* Read the first FAT and count its free entries (the hint from FSInfo when it is in range). */
int mk_fat_map_load(int fd, const fat_vol *v, fat_map *m, mk_error *err) __attribute__((warn_unused_result));
void mk_fat_map_done(fat_map *m);
/* Entry c without its top bits (FAT_BAD beyond the volume). */
uint32_t mk_fat_map_get(const fat_map *m, uint32_t c);
/* Set entry c (its top bits kept); -EINVAL outside the volume, -ENOMEM. */
int mk_fat_map_set(fat_map *m, uint32_t c, uint32_t value) __attribute__((warn_unused_result));
/* n free clusters into ret[], chained in that order, the last one ending the chain; -ENOSPC (nothing taken)
 * when fewer are free. */
int mk_fat_map_alloc(fat_map *m, size_t n, uint32_t *ret) __attribute__((warn_unused_result));
/* Free the chain from first (bounded by the volume's size). */
int mk_fat_map_free_chain(fat_map *m, uint32_t first) __attribute__((warn_unused_result));
/* Write the changed entries into every FAT copy. */
int mk_fat_map_flush(int fd, const fat_vol *v, fat_map *m, mk_error *err) __attribute__((warn_unused_result));
/* FSInfo's free count and next-free hint from the map (nothing when the volume has no FSInfo). */
int mk_fat_map_fsinfo(int fd, const fat_vol *v, const fat_map *m, mk_error *err) __attribute__((warn_unused_result));

#endif
