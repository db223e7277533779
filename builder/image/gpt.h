/* SPDX-License-Identifier: MIT */
/*
 * GPT: write a planned layout into an image file through libfdisk (gpt.c;
 * libfdisk never prompts, its messages end up in our error context), and
 * read a partition table back for `inspect`, `verify` and the factory with
 * our own strict parser (gpt-read.c: the disk is untrusted input).
 */
#ifndef MK_GPT_H
#define MK_GPT_H

#include <stdint.h>

#include "signing/base/error.h"
#include "builder/model/layout.h"

/*
 * Write the protective MBR, the primary and the backup GPT for the planned
 * layout l into the file at path, which must already be l->disk_size bytes
 * long (sparse). Partition data areas are not touched. Messages call the
 * file name (the output's final name while path is its temporary file;
 * NULL: path).
 */
int mk_gpt_write(const char *path, const char *name, const mk_layout *l, mk_error *err)
        __attribute__((warn_unused_result));

/* Reader limits: a table beyond them is refused with a message, never truncated. */
#define MK_GPT_PARTS_MAX 128    /* partitions in use */
#define MK_GPT_ENTRIES_MAX 1024 /* entries in the array (128 bytes each: 128 KiB read at most) */
#define MK_GPT_NAME_BYTES 144   /* a name as UTF-8: 36 UTF-16 code units (MK_GPT_NAME_MAX) */

typedef struct mk_gpt_part {
        unsigned number;                  /* 1-based */
        uint64_t start;                   /* bytes */
        uint64_t size;                    /* bytes */
        char name[MK_GPT_NAME_BYTES + 1]; /* UTF-8 (invalid UTF-16 as U+FFFD); may hold control characters */
        char uuid[37];
        char type_guid[37];
        uint64_t attrs;
} mk_gpt_part;

typedef struct mk_gpt {
        uint64_t disk_size; /* bytes of the image file */
        char disk_uuid[37];
        unsigned n_parts;
        mk_gpt_part parts[MK_GPT_PARTS_MAX]; /* in entry order */
} mk_gpt;

/*
 * Read the GPT of the image (a file or a block device) at path, or on fd;
 * messages call it name. The whole table is judged: a protective MBR, both
 * headers and entry arrays with good CRC32s, the backup in the last sector
 * and equal to the primary, 128-byte entries, every partition inside the
 * usable area and none overlapping. Anything else is -EINVAL with a message
 * saying what is wrong. Reads at most 2 + 2 * 256 sectors. *ret is new
 * (free()); untouched on failure.
 */
int mk_gpt_read(const char *path, mk_gpt **ret, mk_error *err) __attribute__((warn_unused_result));
int mk_gpt_read_named(const char *path, const char *name, mk_gpt **ret, mk_error *err)
        __attribute__((warn_unused_result));
int mk_gpt_read_fd(int fd, const char *name, mk_gpt **ret, mk_error *err) __attribute__((warn_unused_result));

#endif
