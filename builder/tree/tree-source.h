/* SPDX-License-Identifier: MIT */
/*
 * Tree sources: fill an fstree from a host directory or a tar archive
 * (libarchive: plain, gzip, xz or zstd). File data is not read into memory:
 * directory entries keep their host path and are read when the image is
 * written; archive members are spooled once into an unlinked temporary file
 * (in $TMPDIR, default /tmp) and read back from there.
 *
 * All the fstree path rules apply (see fstree.h); errors name the directory
 * or archive, the entry and the fix.
 */
#ifndef MK_TREE_SOURCE_H
#define MK_TREE_SOURCE_H

#include "signing/base/error.h"
#include "builder/tree/fstree.h"

enum {
        TREE_ROOT_OWNED = 1 << 0, /* directories: every entry uid 0 gid 0 (not the host owners) */
};

/*
 * Load src into tree: a directory (mk_tree_load_dir) or a regular file read as
 * a tar archive (mk_tree_load_tar). flags apply to directories.
 */
int mk_tree_load(const char *src, fstree *tree, unsigned flags, mk_error *err) __attribute__((warn_unused_result));

/*
 * Walk dir without following symlinks: directories, regular files (read
 * later from dir/PATH; a file that changes size before then is an error),
 * symlinks, devices, fifos, sockets, extended attributes, and hard links
 * between files of the tree (the first name in sorted order is the target).
 * Permission bits and mtimes are kept; owners too unless TREE_ROOT_OWNED.
 * The root directory takes dir's own attributes.
 */
int mk_tree_load_dir(const char *dir, fstree *tree, unsigned flags, mk_error *err) __attribute__((warn_unused_result));

/*
 * Read a tar archive (ustar, pax or GNU; plain, gzip, xz or zstd): owners,
 * modes, mtimes, xattrs, hard links and special files come from the archive.
 */
int mk_tree_load_tar(const char *archive, fstree *tree, mk_error *err) __attribute__((warn_unused_result));

#endif
