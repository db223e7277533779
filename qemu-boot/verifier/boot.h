/* SPDX-License-Identifier: MIT */
/*
 * The boot-chain verifier (mkimage-verify), run as PID 1 from the initrd's
 * /init: it checks the slot's signed manifest, the anti-rollback minimum,
 * the root through dm-verity, opens the data partition, and switches root.
 * See docs/boot-chain.md.
 */
#ifndef MK_BOOT_H
#define MK_BOOT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "signing/disk/gpt.h"
#include "signing/base/error.h"
#include "signing/conventions/conventions.h"

/* ---- the console ---------------------------------------------------------- */

/* One line "mkimage: ..." on the console. */
void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* ---- partitions (disk.c) ------------------------------------------------- */

typedef struct part_dev {
        char name[256]; /* "vda1" */
        char node[272]; /* "/dev/vda1" */
        char disk[256]; /* "vda" */
        unsigned major, minor;
        uint64_t size;  /* bytes */
        uint64_t attrs; /* the GPT entry's attributes (GPT_ATTR_GROW_FS, ...) */
} part_dev;

/*
 * Find the partition whose GPT type GUID (by_type) or unique GUID is guid
 * (text, any case) on any disk of the system, waiting up to wait_ms for the
 * disks to appear. Returns 0, or -ENOENT with a message.
 */
int find_partition(const char *guid, bool by_type, unsigned wait_ms, part_dev *ret, mk_error *err);

/* ---- growing on first boot (grow.c, docs/layout.md) ----------------------- */

/*
 * Before anything on the disk /dev/DISK is open: when the disk is larger
 * than its GPT and the partition that ends last has the grow-fs flag, move
 * the backup GPT to the end, extend that partition, tell the kernel. One
 * console line per step, none when there is nothing to do; a GPT that fails
 * the checks is left untouched (one line says why). Returns 1 when the GPT
 * was rewritten, else 0. Never fails the boot.
 */
int grow_disk(const char *disk);

/* grow_disk on every disk of the system (the ESP was not found: a GPT to repair?). */
void grow_disks(void);

/*
 * The ext4 on node, mounted at dir, grown online to fill node
 * (EXT4_IOC_RESIZE_FS); a console line when it grew, a line on failure.
 */
void grow_fs(const char *dir, const char *node);

/* ---- device-mapper (dm.c) -------------------------------------------------- */

/*
 * Create the (readonly) mapping name with one target of sectors 512-byte
 * sectors: target ("verity", "crypt") and its parameters, and make
 * /dev/mapper/NAME. When the mapping exists, the new table replaces its
 * table. Returns 0 or -errno with a message.
 */
int dm_create(const char *name, const char *target, uint64_t sectors, const char *params, bool readonly, mk_error *err);

/* The mapping's table as `dmsetup table` prints it (crypt keys masked), into buf. */
int dm_table(const char *name, char *buf, size_t size, mk_error *err);

/* ---- boot entries (entries.c) ---------------------------------------------- */

/*
 * The boot entry file of slot on the ESP mounted at esp, into out: a type #1
 * entry in loader/entries or a UKI in EFI/Linux (*ret_dir says which,
 * MK_ESP_ENTRIES_DIR or MK_ESP_UKI_DIR). Returns 0, -ENOENT (none) or -EEXIST
 * (more than one).
 */
int entry_find(const char *esp, char slot, const char **ret_dir, char *out, size_t size);

#endif
