/* SPDX-License-Identifier: MIT */
/*
 * Partition layouts (layouts/NAME.yaml) and the partition plan computed from
 * them. Documented in docs/layout.md.
 *
 * Loading validates the file (names, roles, types, sizes, flags); planning
 * places every partition on the disk: 1 MiB aligned starts, `auto` sizes
 * resolved, the `grow` partition extended to the end, the disk size fixed,
 * and refuses plans that overlap or do not fit, saying how much is needed.
 */
#ifndef MK_LAYOUT_H
#define MK_LAYOUT_H

#include <stdbool.h>
#include <stdint.h>

#include "signing/base/error.h"
#include "builder/model/model.h"
#include "signing/yaml/yamldoc.h"

#define MK_SECTOR 512u
#define MK_ALIGN (1u << 20)
#define MK_MAX_PARTITIONS 128
#define MK_GPT_NAME_MAX 36
/* `auto` sizes until the stages that fill the partitions compute them. */
#define MK_AUTO_ROOT_SIZE (256ull << 20)
#define MK_AUTO_ESP_SIZE (256ull << 20)
#define MK_AUTO_DATA_SIZE (64ull << 20)

typedef enum mk_role {
        MK_ROLE_ESP,
        MK_ROLE_ROOT,
        MK_ROLE_ROOT_VERITY,
        MK_ROLE_DATA,
        MK_ROLE_RAW, /* reserved space, left empty */
        _MK_ROLE_MAX,
} mk_role;

typedef enum mk_size_kind { MK_SIZE_FIXED, MK_SIZE_AUTO, MK_SIZE_GROW } mk_size_kind;
typedef enum mk_slot_content { MK_SLOT_COPY, MK_SLOT_EMPTY } mk_slot_content;

typedef struct mk_partition {
        const char *name;
        mk_role role;
        char slot;               /* 'a', 'b' or 0 */
        mk_slot_content content; /* root slot b: copy of a, or empty */
        char type_guid[37];      /* upper-case GUID string */
        const char *type_name;   /* symbolic name as written, or NULL */
        mk_size_kind size_kind;
        uint64_t size;         /* bytes; FIXED: as written; GROW: minimum */
        uint64_t offset;       /* bytes; 0 = placed after the previous one */
        uint64_t attrs;        /* GPT attribute bits */
        uint64_t headroom;     /* root, size auto: bytes added to the squashfs size */
        unsigned headroom_pct; /* root, size auto: percent added to the squashfs size */
        unsigned line, col;

        /* Filled by mk_layout_plan(). */
        uint64_t start;  /* bytes from the start of the disk */
        uint64_t length; /* bytes */
        char uuid[37];   /* partition GUID, derived from the model */
} mk_partition;

typedef struct mk_layout {
        ydoc *doc;
        const char *path;
        const char *name;
        uint64_t size;                /* fixed disk size, or 0 */
        uint64_t min_size;            /* minimum disk size, or 0 */
        unsigned boot_tries;          /* boot counting tries per new entry */
        unsigned size_line, size_col; /* where size/min-size is written, 0 if absent */
        mk_partition *parts;
        size_t n_parts;

        /* Filled by mk_layout_plan(). */
        uint64_t disk_size;
        char disk_uuid[37];
} mk_layout;

/*
 * Load and validate a layout for model m (the model gives the architecture
 * for `root`/`root-verity` types). *ret is new (mk_layout_free); untouched on
 * failure, with err holding "FILE:LINE:COL: what (fix)".
 */
int mk_layout_load(const char *path, const mk_model *m, mk_layout **ret, mk_error *err)
        __attribute__((warn_unused_result));

/*
 * Place the partitions and fix the disk size. auto_sizes[i], when non-zero,
 * overrides the documented default for partition i of size `auto` (the
 * stages that know the content pass it; NULL for all defaults). Derives the
 * disk and partition GUIDs from the model. Fails, writing nothing, when the
 * plan does not fit.
 */
int mk_layout_plan(mk_layout *l, const mk_model *m, const uint64_t *auto_sizes, mk_error *err)
        __attribute__((warn_unused_result));

mk_layout *mk_layout_free(mk_layout *l);

const char *mk_role_name(mk_role r);

/* First partition with this role and slot (slot 0 = any); NULL if none. */
const mk_partition *mk_layout_find(const mk_layout *l, mk_role role, char slot);

#endif
