/* SPDX-License-Identifier: MIT */
/* The file editor's plan (fat-plan.c), shared with its operations (fat-edit.c); internal to signing/disk/. */
#ifndef MK_DISK_FAT_EDIT_INTERNAL_H
#define MK_DISK_FAT_EDIT_INTERNAL_H

#include "signing/disk/fat-internal.h"
#include "signing/disk/fat-map.h"

#define FAT_PATH_MAX 16 /* parts of an ESP path */

typedef struct fat_path {
        const char *part[FAT_PATH_MAX];
        size_t len[FAT_PATH_MAX];
        size_t n;
} fat_path;

/* Split path into its parts; none only when may_be_root. -EINVAL when too deep or a part is too long. */
int mk_fat_split(const fat_vol *v, const char *path, bool may_be_root, fat_path *p, mk_error *err)
        __attribute__((warn_unused_result));

/*
 * Load the folder the first n parts of p name (path, for messages) into d.
 * A missing part: -ENOENT, or with ret_depth the deepest folder there is and
 * how many parts it took. A file on the way: -ENOTDIR.
 */
int mk_fat_walk(int fd, const fat_vol *v, const char *path, const fat_path *p, size_t n, size_t *ret_depth, fat_dir *d,
                mk_error *err) __attribute__((warn_unused_result));

/* Write n slots of d's buffer from slot to their clusters. */
int mk_fat_dir_put(int fd, const fat_vol *v, const fat_dir *d, size_t slot, size_t n, mk_error *err)
        __attribute__((warn_unused_result));

/* Put a new entry called name (entry: its short entry, name bytes aside) into d's buffer: free slots or added
 * clusters (allocated in m). Its slots are [*ret_first, *ret_first + *ret_n). -ENOSPC, -EEXIST (no alias). */
int mk_fat_dir_place(fat_dir *d, const fat_vol *v, fat_map *m, const char *name, size_t len,
                     const uint8_t entry[FAT_DIRENT], size_t *ret_first, size_t *ret_n)
        __attribute__((warn_unused_result));

/* The first writes of d: end markers it turned into deleted entries, and its added clusters whole. */
int mk_fat_dir_stage(int fd, const fat_vol *v, fat_dir *d, mk_error *err) __attribute__((warn_unused_result));
/* Link a folder on disk to its added clusters (FAT, every copy): what makes an entry placed there visible. */
int mk_fat_dir_link(int fd, const fat_vol *v, fat_dir *d, fat_map *m, mk_error *err)
        __attribute__((warn_unused_result));
/* Write a placed entry that lies in d's clusters on disk: its short entry, then its long-name slots. */
int mk_fat_dir_commit(int fd, const fat_vol *v, const fat_dir *d, size_t first, size_t n, mk_error *err)
        __attribute__((warn_unused_result));

typedef struct fat_stamp {
        uint16_t time, date;
} fat_stamp;

/* SOURCE_DATE_EPOCH, else the clock, as a FAT time and date (kept inside what FAT can hold). */
int mk_fat_stamp_now(const fat_vol *v, fat_stamp *ret, mk_error *err) __attribute__((warn_unused_result));
/* A short entry with attr, its first cluster and size, and the time as creation, access and write time. */
void mk_fat_entry_init(uint8_t e[FAT_DIRENT], uint8_t attr, uint32_t cluster, uint32_t size, const fat_stamp *s);
/* Change a short entry's first cluster and size, and its access and write time. */
void mk_fat_entry_set(uint8_t e[FAT_DIRENT], uint32_t cluster, uint32_t size, const fat_stamp *s);

/* A buffer large enough, filled by mk_fat_file_stream. */
typedef struct fat_sink {
        char *buf;
        size_t len;
} fat_sink;
int mk_fat_sink_add(const void *data, size_t len, void *userdata, mk_error *err);

#endif
