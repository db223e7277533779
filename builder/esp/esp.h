/* SPDX-License-Identifier: MIT */
/*
 * The EFI system partition: a FAT32 file system written in place into the
 * image file at a byte offset (mkfs.vfat --offset, then mtools with
 * IMAGE@@OFFSET: rootless, no mount, no loop device), and the systemd-boot
 * configuration for A/B slots with boot counting. See docs/esp.md.
 *
 * Reproducible: the same files, options and time stamp give the same bytes.
 */
#ifndef MK_ESP_H
#define MK_ESP_H

#include <stddef.h>
#include <stdint.h>

#include "signing/base/error.h"
#include "signing/conventions/conventions.h"

/* One file for the ESP: its bytes come from a host file or from memory. */
typedef struct mk_esp_file {
        /*
         * "EFI/BOOT/BOOTX64.EFI": relative, '/'-separated; names of ASCII
         * letters, digits, space and !#$%&'()+,-.;=@^_`{}~, not ending in '.'
         * or ' '. FAT names are case-insensitive: two spellings of one name
         * are refused. Parent directories are created.
         */
        const char *esp_path;
        const char *source; /* host file to copy (read when written), or NULL: */
        const void *data;   /* the file's bytes (may be NULL when size is 0) */
        size_t size;        /* length of data */
} mk_esp_file;

typedef struct mk_esp_opts {
        const char *label;          /* volume label: 1-11 of A-Z 0-9 _ -; NULL: "ESP" */
        uint32_t volume_id;         /* FAT volume serial number, e.g. mk_esp_volume_id() */
        uint64_t source_date_epoch; /* time stamp of every file and directory (up to 2107; before 1980: 1980) */
        const char *name;           /* what messages call the image (its final name); NULL: image_path */
} mk_esp_opts;

/* A volume serial number derived from the model (no randomness, no clock). */
uint32_t mk_esp_volume_id(const char *brand, const char *model);

/*
 * Create a FAT32 file system of size bytes at byte offset in the existing
 * image file image_path and copy the n files into it. offset must be a
 * multiple of 512 and size of 1024; the file must already be at least
 * offset + size bytes long (it is never extended or truncated).
 *
 * The range is zeroed first (holes punched where the file system allows), so
 * earlier contents never leak into the ESP. Directories are created first,
 * then files copied, each in depth-first order with every directory's
 * entries sorted (strcmp); every time stamp is o->source_date_epoch. The
 * ESP's bytes depend on size, the files and o only: not on offset nor on the
 * image file's size (the cluster size and geometry are given to mkfs.vfat).
 *
 * Needs mkfs.vfat (dosfstools >= 4.2) and mmd/mcopy (mtools). Returns 0, or
 * -EINVAL (bad path, label, range or time), -EFBIG (the files do not fit:
 * the message gives the bytes needed and available), -ENOENT (a source or a
 * tool is missing), -EIO (a tool failed: its output is in the message).
 * Bytes outside [offset, offset + size) are never written; on failure the
 * contents of the range are unspecified.
 */
int mk_esp_write(const char *image_path, uint64_t offset, uint64_t size, const mk_esp_file *files, size_t n,
                 const mk_esp_opts *o, mk_error *err) __attribute__((warn_unused_result));

/*
 * The text of loader/loader.conf: "timeout N" and "editor no", and on
 * purpose no "default" line: a default pattern keeps matching an entry that
 * boot counting marked bad (slot-a+0-3.conf) and pins the bad slot forever.
 * The entries' sort-keys choose the slot instead.
 * *ret_text is malloc'd; on failure (-ENOMEM) it is not written.
 */
int mk_esp_loader_conf(unsigned timeout, char **ret_text, mk_error *err) __attribute__((warn_unused_result));

/*
 * A Boot Loader Specification type #1 entry for a root slot:
 *
 *     title TITLE
 *     version VERSION
 *     sort-key mkimage-4294967294-a      (mk_bls_sort_key(VERSION, slot))
 *     linux /slot-a/vmlinuz
 *     initrd /slot-a/initrd.img          (left out when initrd_path is NULL)
 *     options OPTIONS mkimage.slot=a
 *
 * slot: 1-16 of a-z 0-9. tries > 0 turns on boot counting: the file is
 * "loader/entries/slot-a+3.conf"; tries == 0 gives "loader/entries/slot-a.conf"
 * (no counting, as after blessing). version is the OS version the slot
 * holds (the model's); the sort-key made from it and the slot decides which
 * entry with tries left systemd-boot boots (signing/conventions/conventions.h).
 * linux_path and initrd_path are ESP paths with or without the leading '/';
 * options (may be NULL) are kernel options, e.g. "console=ttyS0", and must not
 * set mkimage.slot themselves.
 *
 * On success *ret_path and *ret_text are malloc'd; on failure (-EINVAL with
 * a message naming the field, -ENOMEM) neither is written.
 */
int mk_esp_entry(const char *slot, unsigned tries, uint64_t version, const char *title, const char *linux_path,
                 const char *initrd_path, const char *options, char **ret_path, char **ret_text, mk_error *err)
        __attribute__((warn_unused_result));

/*
 * Read the file esp_path ("slot-a/vmlinuz", with or without a leading '/')
 * from the FAT at byte offset of image_path, at most max bytes. Rootless
 * (mtools). *ret (malloc'd) and *ret_len are set on success. -EIO when the
 * file is missing or the FAT cannot be read (mtools' words in the message),
 * -EFBIG when it is larger than max (the tool is stopped there: memory stays
 * bounded by max whatever the FAT claims).
 */
int mk_esp_read(const char *image_path, uint64_t offset, const char *esp_path, size_t max, char **ret, size_t *ret_len,
                mk_error *err) __attribute__((warn_unused_result));

/*
 * SHA-256 (hex) and length of the file esp_path on the ESP, streamed: memory
 * stays constant; more than max bytes is -EFBIG.
 */
int mk_esp_sha256(const char *image_path, uint64_t offset, const char *esp_path, uint64_t max, char hex[65],
                  uint64_t *ret_len, mk_error *err) __attribute__((warn_unused_result));

/*
 * Every file and folder on the ESP, as paths without a leading '/' (folders
 * end in '/'), sorted; more than max is -E2BIG. Free with mk_esp_names_free.
 */
int mk_esp_list_all(const char *image_path, uint64_t offset, size_t max, char ***ret_paths, mk_error *err)
        __attribute__((warn_unused_result));
/* The most paths `verify` takes from a whole ESP (mkimage writes about 20). */
#define MK_ESP_ALL_MAX 1024

/* The most names mk_esp_list callers take from one ESP folder (mkimage writes two boot entries). */
#define MK_ESP_LIST_MAX 64
/* The most bytes read of a boot entry or loader.conf (mkimage's are a few hundred). */
#define MK_BOOT_ENTRY_MAX (64u << 10)

/*
 * The names (no directory part) in the ESP directory dir ("loader/entries"),
 * sorted (strcmp); more than max names is -E2BIG (the listing itself is read
 * up to 1 MiB). *ret_names is a malloc'd NULL-terminated array of
 * malloc'd strings (free with mk_esp_names_free). A missing directory is
 * -ENOENT ("no such folder"); any other failure -EIO or -errno.
 */
int mk_esp_list(const char *image_path, uint64_t offset, const char *dir, size_t max, char ***ret_names, mk_error *err)
        __attribute__((warn_unused_result));
char **mk_esp_names_free(char **names);

#endif
