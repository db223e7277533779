/* SPDX-License-Identifier: MIT */
/*
 * GPT through libfdisk: write a planned layout into an image file, and read a
 * partition table back for `inspect` and `verify`. libfdisk never prompts
 * (dialogs disabled); its messages end up in our error context.
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

typedef struct mk_gpt_part {
        unsigned number; /* 1-based */
        uint64_t start;  /* bytes */
        uint64_t size;   /* bytes */
        char name[73];   /* UTF-8 */
        char uuid[37];
        char type_guid[37];
        uint64_t attrs;
} mk_gpt_part;

typedef struct mk_gpt {
        uint64_t disk_size; /* bytes of the image file */
        char disk_uuid[37];
        unsigned n_parts;
        mk_gpt_part parts[128];
} mk_gpt;

/* Read the GPT of the image at path. *ret is new (free()); untouched on failure. */
int mk_gpt_read(const char *path, mk_gpt **ret, mk_error *err) __attribute__((warn_unused_result));

#endif
