/* SPDX-License-Identifier: MIT */
/* Names of new folder entries for the file editor (fat-name.c); internal to signing/disk/. */
#ifndef MK_DISK_FAT_NAME_H
#define MK_DISK_FAT_NAME_H

#include "signing/disk/fat-internal.h"

/* Why name (len bytes) cannot name a FAT file, or NULL. Only printable ASCII is written. */
const char *mk_fat_name_problem(const char *name, size_t len);

/*
 * The short name of a new entry called name (len bytes, mk_fat_name_problem
 * NULL) in d: the name itself when it is a valid upper-case 8.3 name (then
 * *ret_long is false), else a unique alias BASIS~N.EXT and long-name slots.
 * -EEXIST when no alias is left.
 */
int mk_fat_name_short(const fat_dir *d, const char *name, size_t len, uint8_t ret_sn[11], bool *ret_long);

/* The slots the entry takes: its long-name slots and its short entry. */
size_t mk_fat_name_slots(size_t len, bool has_long);

/* Write the long-name slots (when has_long) into out and the short name into the last slot's first 11 bytes;
 * the short entry's other bytes are left as they are. */
void mk_fat_name_compose(const char *name, size_t len, const uint8_t sn[11], bool has_long, uint8_t *out);

#endif
