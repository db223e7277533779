/* SPDX-License-Identifier: MIT */
/*
 * Shared by the FAT32 reader and rewriter (fat.c) and the file editor
 * (fat-edit.c, fat-name.c, fat-map.c): the volume's geometry in image byte
 * offsets, cluster chains and whole directories held in memory.
 */
#ifndef MK_DISK_FAT_INTERNAL_H
#define MK_DISK_FAT_INTERNAL_H

#include <endian.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "signing/base/error.h"
#include "signing/disk/fat.h"

#define FAT_ENTRY_MASK 0x0FFFFFFFu
#define FAT_BAD 0x0FFFFFF7u
#define FAT_EOC 0x0FFFFFFFu
#define FAT_ATTR_VOLUME 0x08u
#define FAT_ATTR_DIR 0x10u
#define FAT_ATTR_ARCHIVE 0x20u
#define FAT_ATTR_LFN 0x0Fu
#define FAT_LFN_MAX_SLOTS 20u /* 255 characters */
#define FAT_NAME_MAX 255u
#define FAT_DELETED 0xE5u
#define FAT_FSINFO_UNKNOWN 0xFFFFFFFFu

/* A FAT32 volume inside an image, in the image's byte offsets. */
typedef struct fat_vol {
        char where[96];    /* "IMAGE" for messages, shortened */
        uint64_t fat;      /* byte offset of the first FAT in the image */
        uint64_t fat_size; /* bytes per FAT */
        unsigned n_fats;
        uint64_t data;  /* byte offset of cluster 2 */
        uint32_t csize; /* bytes per cluster */
        uint32_t max_cluster;
        uint64_t fsinfo; /* byte offset of FSInfo, 0 when it has none usable */
        uint32_t root;   /* the root folder's first cluster */
} fat_vol;

static inline uint32_t fat_rd32(const uint8_t *p)
{
        uint32_t v;
        memcpy(&v, p, 4);
        return le32toh(v);
}

static inline uint16_t fat_rd16(const uint8_t *p)
{
        uint16_t v;
        memcpy(&v, p, 2);
        return le16toh(v);
}

static inline void fat_wr32(uint8_t *p, uint32_t v)
{
        v = htole32(v);
        memcpy(p, &v, 4);
}

static inline void fat_wr16(uint8_t *p, uint16_t v)
{
        v = htole16(v);
        memcpy(p, &v, 2);
}

static inline uint64_t fat_cluster_off(const fat_vol *v, uint32_t c)
{
        return v->data + (uint64_t)(c - 2) * v->csize;
}

/* The first cluster a short directory entry names. */
static inline uint32_t fat_entry_cluster(const uint8_t *e)
{
        return (uint32_t)fat_rd16(e + 20) << 16 | fat_rd16(e + 26);
}

/* An I/O error as a message: -EIO reads as a truncated image. */
int mk_fat_io_fail(const fat_vol *v, int r, const char *doing, mk_error *err);

/* Read and check the boot sector (and FSInfo) of the volume at offset; name is the image, for messages. */
int mk_fat_vol_open(int fd, const char *name, uint64_t offset, fat_vol *v, mk_error *err)
        __attribute__((warn_unused_result));

/* The cluster chain from first (what names it in messages), bounded by the volume's cluster count. */
int mk_fat_chain_load(int fd, const fat_vol *v, uint32_t first, const char *what, uint32_t **ret, size_t *ret_n,
                      mk_error *err) __attribute__((warn_unused_result));

/* Where a long-name slot keeps its 13 UCS-2 characters. */
extern const uint8_t mk_fat_lfn_pos[FAT_LFN_CHARS];

/* Write len bytes of data along chain (as many clusters as it takes, the last one's tail zeroed); each range
 * written is reported to dirty (may be NULL). */
int mk_fat_write_clusters(int fd, const fat_vol *v, const uint32_t *chain, const void *data, size_t len,
                          void (*dirty)(void *userdata, uint64_t off, uint64_t len), void *userdata, mk_error *err)
        __attribute__((warn_unused_result));

uint8_t mk_fat_short_sum(const uint8_t name[11]);

/* The 8.3 name of a short entry as "BASE.EXT"; with nt_case, lowered as byte 12's NT bits say. */
void mk_fat_short_name(const uint8_t *e, bool nt_case, char out[13]);

/* A folder, every cluster of its chain read into buf. */
typedef struct fat_dir {
        uint32_t first;  /* its first cluster (the root's for the root) */
        uint32_t *chain; /* n_chain clusters: the first n_disk linked on disk, the rest added (fat-edit.c) */
        size_t n_chain, n_disk;
        uint8_t *buf; /* n_chain * csize bytes */
        size_t n_slots;
        bool created;              /* the folder itself is new (fat-edit.c) */
        size_t dirty_lo, dirty_hi; /* slots of the first n_disk clusters changed in buf, not yet written */
} fat_dir;

int mk_fat_dir_load(int fd, const fat_vol *v, uint32_t first, fat_dir *d, mk_error *err)
        __attribute__((warn_unused_result));
void mk_fat_dir_done(fat_dir *d);

/* The image byte offset of a slot. */
static inline uint64_t fat_dir_slot_off(const fat_vol *v, const fat_dir *d, size_t slot)
{
        size_t per = v->csize / FAT_DIRENT;
        return fat_cluster_off(v, d->chain[slot / per]) + (uint64_t)(slot % per) * FAT_DIRENT;
}

/* One name of a folder: its short entry at slot, its long-name slots from first (== slot without). */
typedef struct fat_ent {
        size_t first, slot;
        const uint8_t *e;
        bool has_long;
        char name[FAT_LFN_MAX_SLOTS * FAT_LFN_CHARS + 1]; /* the long name (non-ASCII as 0x7F) or the short one */
        char short_name[13];
} fat_ent;

/*
 * The next name at or after slot *pos (start at 0): 1 with out filled, 0 at
 * the end. Deleted entries, volume labels and "." / ".." are skipped; with
 * nt_case short names are lowered as their NT bits say.
 */
int mk_fat_dir_next(const fat_dir *d, size_t *pos, bool nt_case, fat_ent *out);

/* The entry called name (len bytes; its long or its short name, ASCII case-insensitively); -ENOENT (out
 * untouched). */
int mk_fat_dir_find(const fat_dir *d, const char *name, size_t len, fat_ent *out);

#endif
