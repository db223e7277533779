/* SPDX-License-Identifier: MIT */
/*
 * Reading and changing files of a FAT32 volume inside an image, without
 * mtools: the updater's host mode (qemu-boot/updater/esp.c) edits the ESP
 * of a disk image with these. Each call takes the image open as fd (read-
 * write for the changing ones), its name for messages and the byte offset
 * of the volume; ESP paths are '/'-separated, matched ASCII
 * case-insensitively against long and short names. Anything but FAT32 is
 * refused (-EINVAL). Every error fills err with one message naming the
 * image, the ESP path and what to do; nothing is returned through ret_ on
 * error.
 *
 * The changing calls plan in memory first (so that a file that does not fit
 * fails with -ENOSPC before anything is written) and then write in an order
 * after which a cut leaves at worst lost clusters: file data and new folder
 * clusters, then the FAT entries in every copy, then the folder entry, then
 * the freed clusters; FSInfo's free count (counted, not trusted) and
 * next-free hint last. Nothing is flushed: the caller fsyncs fd.
 */
#ifndef MK_DISK_FAT_EDIT_H
#define MK_DISK_FAT_EDIT_H

#include <stddef.h>
#include <stdint.h>

#include "signing/base/error.h"

/* The file esp_path whole into *ret (malloc'd, NUL-terminated; *ret_len without the NUL): -EFBIG when it is
 * larger than max bytes, -ENOENT when it or a folder on the way is missing, -EISDIR for a folder. */
int mk_fat_read(int fd, const char *name, uint64_t offset, const char *esp_path, size_t max, char **ret,
                size_t *ret_len, mk_error *err) __attribute__((warn_unused_result));

/*
 * The names in the folder esp_dir ("" or "/" for the root) into *ret, a
 * NULL-terminated array of *ret_n names in folder order (free it with
 * mk_fat_names_free): long names where there are, else the 8.3 name lowered
 * as its NT case bits say; without ".", "..", deleted entries and the volume
 * label. -ENOENT, -ENOTDIR.
 */
int mk_fat_list(int fd, const char *name, uint64_t offset, const char *esp_dir, char ***ret, size_t *ret_n,
                mk_error *err) __attribute__((warn_unused_result));
char **mk_fat_names_free(char **names);

/* The volume's free bytes (its free FAT entries counted) and its cluster size. */
int mk_fat_free_bytes(int fd, const char *name, uint64_t offset, uint64_t *ret_free, uint32_t *ret_cluster,
                      mk_error *err) __attribute__((warn_unused_result));

/*
 * Make esp_path hold data (len bytes, under 4 GiB): a new file (missing
 * folders on the way created) or an existing one's content replaced (a new
 * chain written and committed in its entry before the old one is freed, so
 * the clusters it needs must be free beside the old ones). Timestamps from
 * SOURCE_DATE_EPOCH, else the clock. -ENOSPC when it does not fit (nothing
 * written), -EISDIR, -ENOTDIR, -EINVAL for a name FAT cannot hold, -EFBIG.
 */
int mk_fat_write(int fd, const char *name, uint64_t offset, const char *esp_path, const void *data, size_t len,
                 mk_error *err) __attribute__((warn_unused_result));

/* Rename the file or folder from to to within one folder: -EXDEV when the folders differ, -EEXIST when to
 * exists, -ENOENT when from does not. In place (one write) when the new name takes no more slots. */
int mk_fat_rename(int fd, const char *name, uint64_t offset, const char *from, const char *to, mk_error *err)
        __attribute__((warn_unused_result));

/* Remove the file esp_path (its entry's slots marked deleted, then its clusters freed): -ENOENT when it is
 * missing, -EISDIR for a folder. */
int mk_fat_remove(int fd, const char *name, uint64_t offset, const char *esp_path, mk_error *err)
        __attribute__((warn_unused_result));

#endif
