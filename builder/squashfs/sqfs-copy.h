/* SPDX-License-Identifier: MIT */
/*
 * Block copy: carry a file's compressed data blocks and its fragment block
 * from a component's squashfs into the image being written, unchanged, and
 * build the file's new inode (block sizes, new block start, remapped
 * fragment index). Only the metadata tables are rebuilt by the writer.
 *
 * An image qualifies when its compressor, block size and compressor options
 * equal the output's, except the compression level (and the effort flags:
 * xz/lzma "extreme", lz4 "hc"), which the decompressor never reads: blocks
 * packed at zstd level 19 stay level-19 blocks inside a root whose options
 * block says 15. That is valid squashfs, and deterministic because the
 * components are inputs. Fragment blocks are copied whole, on the first use
 * by a file; the tails of files left out (overrides, meta/) then stay as dead
 * bytes inside a copied fragment block.
 *
 * Blocks are written through the writer's sqfs_block_writer_t, which
 * deduplicates whole files (hash, then a byte compare). The caller must not
 * use the block processor while a copy runs (see docs/facts.md section 4:
 * copy before the first processor file, or after sqfs_block_processor_sync).
 */
#ifndef MK_SQFS_COPY_H
#define MK_SQFS_COPY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <sqfs/block_writer.h>
#include <sqfs/compressor.h>
#include <sqfs/frag_table.h>
#include <sqfs/inode.h>

#include "signing/base/error.h"
#include "builder/squashfs/sqfs-read.h"

typedef struct sqcopy sqcopy;

/*
 * Can blocks packed with src go unchanged into an image packed with dst?
 * Writes the -v wording to why (may be NULL): "zstd level 15, 128 KiB, same
 * as the root" when they can, "xz vs zstd" when not.
 */
bool mk_sqcopy_compatible(const sqfs_compressor_config_t *src, const sqfs_compressor_config_t *dst, char *why,
                          size_t len);

/*
 * A copier writing through bw (which appends to out) and registering fragment
 * blocks in ft (all borrowed; they must outlive it). dst is the output's
 * compressor config. Returns 0 or -ENOMEM.
 */
int mk_sqcopy_new(sqfs_file_t *out, sqfs_block_writer_t *bw, sqfs_frag_table_t *ft, const sqfs_compressor_config_t *dst,
                  sqcopy **ret) __attribute__((warn_unused_result));
sqcopy *mk_sqcopy_free(sqcopy *c);

/*
 * Copy the data of the file whose inode in img is src. Returns 1 with *ret a
 * new file inode (free()) holding the new block start, block sizes, file size
 * and fragment location (its other fields are zero); 0 when img does not
 * qualify (the caller recompresses; *ret untouched); or a negative errno with
 * err set (an inconsistent inode or an I/O error, naming the image).
 */
int mk_sqcopy_file(sqcopy *c, sqimage *img, const sqfs_inode_generic_t *src, sqfs_inode_generic_t **ret, mk_error *err)
        __attribute__((warn_unused_result));

/* Files and stored bytes (data and fragment blocks) copied so far. */
void mk_sqcopy_stats(const sqcopy *c, uint64_t *ret_files, uint64_t *ret_bytes);

#endif
