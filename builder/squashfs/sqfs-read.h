/* SPDX-License-Identifier: MIT */
/*
 * Read a squashfs image (a .comp, or later a composed root): look up and read
 * single files, or load the whole tree into an fstree whose file data is read
 * from the image on demand (the image is the files' fs_source). Images are
 * untrusted input: libsquashfs' readers check every table bound, and every
 * name goes through the fstree path rules.
 */
#ifndef MK_SQFS_READ_H
#define MK_SQFS_READ_H

#include <stddef.h>
#include <stdint.h>

#include <sqfs/block.h>
#include <sqfs/compressor.h>
#include <sqfs/io.h>
#include <sqfs/super.h>

#include "signing/base/error.h"
#include "builder/tree/fstree.h"

typedef struct sqimage sqimage;

/* Open the squashfs image at path (the whole file). *ret is new (mk_sqimage_unref). */
int mk_sqimage_open(const char *path, sqimage **ret, mk_error *err) __attribute__((warn_unused_result));

/*
 * Open an image through file (e.g. mk_sqfile_open_fd at a partition's offset);
 * takes ownership of file, also on failure. name is used in messages.
 */
int mk_sqimage_open_file(sqfs_file_t *file, const char *name, sqimage **ret, mk_error *err)
        __attribute__((warn_unused_result));

/* Drop a reference (trees loaded from the image hold one each). NULL allowed; returns NULL. */
sqimage *mk_sqimage_unref(sqimage *img);

const sqfs_super_t *mk_sqimage_super(const sqimage *img);
const char *mk_sqimage_name(const sqimage *img);

/*
 * Read the regular file at path (relative, "meta/component.yaml") into a new
 * NUL-terminated buffer; more than max bytes is an error. -ENOENT (with a
 * message) when the path does not exist.
 */
int mk_sqimage_read_file(sqimage *img, const char *path, size_t max, char **ret, size_t *ret_len, mk_error *err)
        __attribute__((warn_unused_result));

/*
 * Add every entry of the image to tree, in the image's (sorted) order, with
 * its owner, mode, mtime, xattrs and hard links. Entries whose path equals
 * one of skip[0..nskip) are left out with everything below them. File nodes
 * read their data from img (a reference is taken per file).
 *
 * The image is untrusted; the reader is as strict as the packer: every name
 * through mk_fstree_check_name and the fstree path rules, device nodes and
 * setuid/setgid files and file capabilities only as policy permits, a directory
 * listed under a second name (a hard link, a loop) refused. No recursion:
 * the walk keeps one frame per level, at most FSTREE_DEPTH_MAX, and memory
 * is bounded by FSTREE_NODES_MAX nodes and the image's claimed inode count
 * (checked against the size of its inode table).
 */
int mk_sqimage_load_tree(sqimage *img, fstree *tree, const char *const *skip, size_t nskip, const mk_fs_policy *policy,
                         mk_error *err) __attribute__((warn_unused_result));

/*
 * Block copy support (sqfs-copy.c). mk_sqimage_from_source gives the image a
 * file node reads from (NULL when the source is not a squashfs image); the
 * file node's key is then a copy of its inode in that image.
 */
sqimage *mk_sqimage_from_source(fs_source *src);
sqfs_file_t *mk_sqimage_file(sqimage *img);
/* The image's compressor settings as its superblock and options block say. */
void mk_sqimage_compressor_config(const sqimage *img, sqfs_compressor_config_t *ret);
/*
 * Fragment table entry idx (host byte order: start_offset and the on-disk
 * size word, bit 24 = stored uncompressed). The table is read on first use.
 * An index past the table is an error naming the image.
 */
int mk_sqimage_fragment(sqimage *img, uint32_t idx, sqfs_fragment_t *ret, mk_error *err)
        __attribute__((warn_unused_result));

#endif
