/* SPDX-License-Identifier: MIT */
/*
 * mkimage-update, the updater (docs/update.md): installs a signed bundle
 * into the slot that is not running, and tells and changes which slot boots.
 * It links only the trust core. The same program works on the device (its
 * boot disk, the ESP mounted at /efi) and on the host against a disk image
 * (--disk IMAGE --booted a|b: the ESP edited in process, signing/disk/fat-edit.h), so that the protocol
 * and every failure can be tested without QEMU.
 */
#ifndef MK_UPDATE_H
#define MK_UPDATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "signing/base/error.h"
#include "signing/disk/gpt.h"

/* ---- the console: one line per step ---------------------------------------- */

extern bool upd_json; /* --json: one JSON object per line instead */
void upd_say(const char *step, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Progress of the root's write: bytes done of total (a terminal line, or JSON with --json). */
void upd_progress(uint64_t done, uint64_t total, bool final);

/* ---- the disk ---------------------------------------------------------------- */

typedef struct upd_disk {
        const char *path; /* the image file or the block device */
        int fd;
        uint64_t sectors;
        mk_gpt_table primary, backup;
} upd_disk;

/* Open the disk read-write and read both GPTs strictly (they must agree). 0 or -errno with err set. */
int upd_disk_open(const char *path, upd_disk *d, mk_error *err) __attribute__((warn_unused_result));
void upd_disk_close(upd_disk *d);
/* The entry of the partition named name: its index, byte start and size. -ENOENT when there is none. */
int upd_disk_find(const upd_disk *d, const char *name, unsigned *idx, uint64_t *start, uint64_t *size, mk_error *err)
        __attribute__((warn_unused_result));
/* The ESP (by type GUID): its byte start and size. */
int upd_disk_esp(const upd_disk *d, uint64_t *start, uint64_t *size, mk_error *err) __attribute__((warn_unused_result));
/*
 * Give the entries n idx[] the unique GUIDs uuid[] (text), both tables
 * rewritten crash-safely: the backup first, then the primary (each entries,
 * flush, header, flush). Either the old or the new GUIDs stand after a cut.
 */
int upd_disk_set_uuids(upd_disk *d, const unsigned *idx, const char *const *uuid, size_t n, mk_error *err)
        __attribute__((warn_unused_result));

/* ---- the ESP ----------------------------------------------------------------- */

typedef struct upd_esp {
        const char *dir;   /* device: the mounted ESP; or NULL: */
        const char *image; /* host: the image (for messages), the FAT at offset, edited through fd */
        uint64_t offset;
        int fd; /* host: the image open read-write (the disk's descriptor, upd_disk.fd) */
} upd_esp;

/* Read the file path ("slot-a/manifest.yaml") whole, at most max bytes. */
int upd_esp_read(const upd_esp *e, const char *path, size_t max, char **ret, size_t *ret_len, mk_error *err)
        __attribute__((warn_unused_result));
/* Write path with these bytes, replacing it (parent folders created; on the device through PATH.new and a
 * rename, so that a cut leaves the old file or the new one, made durable before it returns; on the host the new
 * content is committed in its folder entry after its clusters and FAT entries, and the caller fsyncs the image). */
int upd_esp_write(const upd_esp *e, const char *path, const void *data, size_t len, mk_error *err)
        __attribute__((warn_unused_result));
/* The ESP's free bytes and its cluster size (statvfs on the device, the free FAT entries counted on the host). */
int upd_esp_free(const upd_esp *e, uint64_t *ret_free, uint64_t *ret_cluster, mk_error *err)
        __attribute__((warn_unused_result));
/* Rename from to to (to must not exist) in one step: the commit point. */
int upd_esp_rename(const upd_esp *e, const char *from, const char *to, mk_error *err)
        __attribute__((warn_unused_result));
/* Remove path; a missing file is not an error. */
int upd_esp_remove(const upd_esp *e, const char *path, mk_error *err) __attribute__((warn_unused_result));
/*
 * The entry file of slot ("slot-a+2-1.conf" in loader/entries, or a UKI
 * "slot-a+2-1.efi" in EFI/Linux) into out, and its folder into *ret_dir
 * (MK_ESP_ENTRIES_DIR or MK_ESP_UKI_DIR); -ENOENT when there is none,
 * -EEXIST when there are several. upd_esp_entry: the name only.
 */
int upd_esp_entry_in(const upd_esp *e, char slot, const char **ret_dir, char *out, size_t size, mk_error *err)
        __attribute__((warn_unused_result));
int upd_esp_entry(const upd_esp *e, char slot, char *out, size_t size, mk_error *err)
        __attribute__((warn_unused_result));

/* ---- the commands ------------------------------------------------------------- */

typedef struct upd_ctx {
        upd_disk disk;
        upd_esp esp;
        char booted;          /* 'a' or 'b' */
        const char *pub;      /* the trusted key */
        uint64_t min_version; /* anti-rollback minimum */
        bool allow_downgrade;
        const char *min_file; /* where the minimum is kept (raised by mark-good), or NULL */
        unsigned tries;       /* boot tries of a new slot's entry */
} upd_ctx;

/* ---- crash hooks for the power-cut tests (crash.c) ------------------------------ */

/* Read MKIMAGE_UPDATE_CRASH_AT and MKIMAGE_UPDATE_CRASH_MODE. */
int upd_crash_setup(mk_error *err) __attribute__((warn_unused_result));
/* Before each write call of an install: the hook may stop here. */
void upd_write_point(void);
/* pwrite into the slot's partitions, counted in bytes: the hook may cut inside it. 0 or -errno. */
int upd_write_slot(int fd, const void *buf, size_t len, uint64_t off) __attribute__((warn_unused_result));
/* After a step's console line (upd_say). */
void upd_step_point(const char *step);

int upd_install(upd_ctx *c, const char *bundle, mk_error *err) __attribute__((warn_unused_result));
int upd_status(upd_ctx *c, mk_error *err) __attribute__((warn_unused_result));
int upd_mark(upd_ctx *c, bool good, mk_error *err) __attribute__((warn_unused_result));

#endif
