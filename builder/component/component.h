/* SPDX-License-Identifier: MIT */
/*
 * Components: a squashfs image (NAME.comp) holding a payload tree plus
 * meta/component.yaml. See docs/component.md for the format.
 *
 * mk_component_pack makes one deterministically from a directory or a tar
 * archive; mk_component_open reads one back (its metadata, and its tree for the
 * root composition). The meta/ directory is reserved: a payload may not hold
 * anything else under it.
 */
#ifndef MK_COMPONENT_H
#define MK_COMPONENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "signing/base/error.h"
#include "builder/tree/fstree.h"
#include "builder/squashfs/sqfs-read.h"
#include "builder/squashfs/sqfs-write.h"

#define COMPONENT_META_PATH "meta/component.yaml"
#define COMPONENT_META_MAX (64u << 10) /* bytes */

typedef enum component_type {
        COMPONENT_BASE,
        COMPONENT_KERNEL,
        COMPONENT_APP,
        COMPONENT_CONFIG,
        COMPONENT_DATA,
        _COMPONENT_TYPE_MAX,
} component_type;

/* One `owners:` item: set the owner and/or mode of one path of the payload. */
typedef struct component_owner {
        char *path; /* normalized, relative to the payload root ("" = the root) */
        bool has_uid, has_gid, has_mode;
        uint32_t uid, gid, mode; /* mode: permission bits, 07777 at most */
        unsigned line, col;      /* where the item is, for messages */
} component_owner;

/* One `packages:` item: a distribution package the payload holds (for the SBOM). */
typedef struct component_package {
        char *name, *version, *arch;
} component_package;

typedef struct component_meta {
        char *origin; /* the name used in messages (a file, or "X.comp:meta/component.yaml") */
        char *name, *version, *license, *supplier;
        char *source; /* NULL when absent */
        component_type type;
        bool allow_devices;
        char **setuid, **caps; /* the declared setuid/setgid files and files with capabilities: sorted,
                                  relative paths ("usr/bin/su") */
        size_t n_setuid, n_caps;
        component_owner *owners;
        size_t n_owners;
        component_package *packages;
        size_t n_packages;
        char *raw; /* the YAML text, stored as is in the image; NUL-terminated */
        size_t raw_len;
} component_meta;

/*
 * Parse and validate component metadata from buf (name is used in messages
 * as "NAME:LINE:COL: ..."). Unknown keys are refused with a did-you-mean hint.
 * *ret is new (mk_component_meta_free); untouched on failure.
 */
int mk_component_meta_parse(const char *name, const char *buf, size_t len, component_meta **ret, mk_error *err)
        __attribute__((warn_unused_result));
/* Same, from a file (at most COMPONENT_META_MAX bytes). */
int mk_component_meta_load(const char *path, component_meta **ret, mk_error *err) __attribute__((warn_unused_result));
component_meta *mk_component_meta_free(component_meta *m);
/* What the metadata lets the payload hold beyond plain files (mk_fstree_check_policy). */
void mk_component_policy(const component_meta *m, mk_fs_policy *ret);

const char *mk_component_type_name(component_type t);

/*
 * Check an SPDX license expression: license ids (optionally with "+"),
 * LicenseRef-/DocumentRef- ids, AND, OR, WITH and parentheses, or NONE /
 * NOASSERTION. On failure returns -EINVAL and points *why at a reason.
 */
int mk_component_check_license(const char *expr, const char **why);

typedef struct component_pack_opts {
        const char *meta_path; /* NULL: use SRC's meta/component.yaml */
        const char *cache_dir; /* content-addressed pack cache (pack-cache.h), or NULL */
        bool cache_hit;        /* set by mk_component_pack: the pack came from the cache */
        sqwrite_opts sq;       /* compressor, level, block size, workers, mtime */
} component_pack_opts;

/*
 * Pack src (a directory or a tar archive) into out. From a directory every
 * entry becomes uid 0 gid 0 (permission bits are kept); from a tar, owners
 * and modes come from the archive. Then the metadata's owners: items apply,
 * device nodes and setuid/setgid files are refused unless the metadata allows
 * them, and meta/component.yaml (0644, root) is added under meta/ (0755).
 * The image goes to a temporary file beside out, renamed into place only
 * when complete; on failure nothing is left. *ret_meta (may be NULL) gets
 * the metadata.
 */
int mk_component_pack(const char *src, const char *out, component_pack_opts *o, component_meta **ret_meta,
                      mk_error *err) __attribute__((warn_unused_result));

typedef struct component component;

/* Open NAME.comp and parse its meta/component.yaml. *ret is new (mk_component_close). */
int mk_component_open(const char *path, component **ret, mk_error *err) __attribute__((warn_unused_result));
component *mk_component_close(component *c);

const component_meta *mk_component_get_meta(const component *c);
/* The image, e.g. to read other files or copy blocks; owned by c. */
sqimage *mk_component_image(component *c);

/*
 * Add the component's payload to tree (everything but meta/ and the paths
 * skip[0..nskip), without their leading '/'), file data read from the image
 * on demand; the tree keeps the image alive. An entry that tree already
 * holds is an error (directories merge), so loading several components into
 * one tree finds paths that two of them provide. Device nodes and
 * setuid/setgid files are refused unless the component's signed metadata
 * allows them (allow-devices, allow-setuid), as `component pack` refuses them.
 */
int mk_component_load_tree(component *c, fstree *tree, const char *const *skip, size_t nskip, mk_error *err)
        __attribute__((warn_unused_result));

#endif
