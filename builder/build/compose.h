/* SPDX-License-Identifier: MIT */
/*
 * Root composition: merge the verified components' trees, in model order,
 * into one tree, and write it as the root squashfs.
 *
 * Rules: directories merge; a non-directory path provided by two components
 * is an error naming both and the path, unless the later component lists the
 * path in its model `overrides:` (then the later one wins, and it must really
 * provide the path). Modes, owners and xattrs come from the components;
 * every time is the build's SOURCE_DATE_EPOCH. Each component's metadata is
 * added as /usr/share/mkimage/components/NAME.yaml, and the model's
 * os-release as /usr/lib/os-release (os-release.h; a component may not ship
 * one).
 */
#ifndef MK_COMPOSE_H
#define MK_COMPOSE_H

#include <sqfs/io.h>

#include "signing/base/error.h"
#include "builder/tree/fstree.h"
#include "builder/component/verify-inputs.h"
#include "builder/model/model.h"
#include "builder/squashfs/sqfs-write.h"

#define MK_PROVENANCE_DIR "usr/share/mkimage/components"

/* Build the merged tree. *ret is new (mk_fstree_free); untouched on failure. */
int mk_compose_tree(const mk_model *m, mk_inputs *inputs, fstree **ret, mk_error *err)
        __attribute__((warn_unused_result));

/*
 * Squashfs options for the model's rootfs settings. Block copy is on unless
 * the environment sets MKIMAGE_NO_BLOCK_COPY to a non-empty value (then every
 * component is recompressed, the reference path the tests compare against).
 */
void mk_compose_opts(const mk_model *m, unsigned jobs, uint32_t mtime, sqwrite_opts *ret);

/*
 * How input in's file data reaches a root written with so, for -v:
 * "block copy (zstd level 15, 128 KiB, same as the root)" or
 * "recompressed (xz vs zstd)". False (buf untouched) for inputs that do not
 * go into the root.
 */
bool mk_compose_data_path(const mk_input *in, const sqwrite_opts *so, char *buf, size_t len);

#endif
