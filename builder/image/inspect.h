/* SPDX-License-Identifier: MIT */
/* Read an image's partition table and recognise what each partition holds. */
#ifndef MK_INSPECT_H
#define MK_INSPECT_H

#include <stdbool.h>

#include "signing/base/error.h"
#include "builder/image/gpt.h"

/* A Boot Loader Specification entry found on the ESP (values NULL when absent). */
typedef struct mk_boot_entry {
        char *file; /* "slot-a+3.conf": boot counting is in the name */
        char *title, *version, *sort_key, *kernel, *initrd, *options;
        bool uki;       /* a type #2 entry in EFI/Linux: the fields come from its .osrel and .cmdline */
        bool is_signed; /* a UKI with an Authenticode signature (not checked here: `mkimage verify` does) */
} mk_boot_entry;
/* The most bytes inspect reads of one UKI. */
#define MK_UKI_INSPECT_MAX (256u << 20)

typedef struct mk_inspect {
        mk_gpt *gpt;
        int esp;                /* index of the ESP (GPT type), or -1 */
        mk_boot_entry *entries; /* the ESP's loader/entries, then EFI/Linux, each sorted by file name */
        size_t n_entries;
        char *esp_note;                           /* why the entries could not be read, or NULL */
        const char *type_names[MK_GPT_PARTS_MAX]; /* symbolic DPS name or NULL */
        const char *content[MK_GPT_PARTS_MAX]; /* "squashfs", "verity", "vfat", "luks2", "ext4", "empty", "unknown" */
        /* A squashfs root's /usr/lib/os-release, as "PRETTY_NAME (IMAGE_ID IMAGE_VERSION)"; NULL when it has none. */
        char *os_release[MK_GPT_PARTS_MAX];
} mk_inspect;

/* Inspect the image at path. *ret is new (mk_inspect_free); untouched on failure. */
int mk_inspect_image(const char *path, mk_inspect **ret, mk_error *err) __attribute__((warn_unused_result));
mk_inspect *mk_inspect_free(mk_inspect *i);

/* What the bytes at the start of a partition are (see content[] above). */
const char *mk_detect_content(const unsigned char *head, size_t len);

#endif
