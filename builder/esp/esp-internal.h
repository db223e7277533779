/* SPDX-License-Identifier: MIT */
/* Shared by the ESP writer (esp.c), its boot entries (boot-entries.c) and reader (esp-read.c). */
#ifndef MK_ESP_INTERNAL_H
#define MK_ESP_INTERNAL_H

#include <stdint.h>

#include "signing/base/error.h"
#include "signing/disk/fat.h" /* FAT_DIRENT, FAT_LFN_CHARS */

/* Why path is not a usable ESP path (see esp.h), or NULL. */
const char *mk_esp_path_problem(const char *path);

/* How mtools is run on the FAT at a byte offset of an image file. */
typedef struct esp_mtools {
        char spec[4200]; /* "IMAGE@@OFFSET", the -i argument */
        char sde[48];
        const char *env[10]; /* NULL-terminated, for mk_spawn_opts.env */
} esp_mtools;

int mk_esp_mtools_setup(const char *img, const char *ctx, uint64_t off, uint64_t epoch, esp_mtools *t, mk_error *err)
        __attribute__((warn_unused_result));

#endif
