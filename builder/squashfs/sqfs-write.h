/* SPDX-License-Identifier: MIT */
/*
 * Serialize an fstree as a squashfs image through any sqfs_file_t (see
 * sqfs-file.h: a whole output file, or a region of a disk image).
 *
 * The output is a function of the tree and the options only: entries are
 * written in sorted order, every time stamp is opts.mtime, inode numbers are
 * assigned breadth-first, and the bytes are identical for any number of
 * worker threads. File data is streamed one block at a time from each file's
 * fs_source; memory use does not grow with file sizes.
 */
#ifndef MK_SQFS_WRITE_H
#define MK_SQFS_WRITE_H

#include <stdbool.h>
#include <stdint.h>

#include <sqfs/compressor.h>
#include <sqfs/io.h>

#include "signing/base/error.h"
#include "builder/tree/fstree.h"

typedef struct sqwrite_opts {
        int compressor;      /* SQFS_COMP_* id (sqfs/super.h); 0 = zstd */
        int level;           /* compression level; 0 = the compressor's default */
        uint32_t block_size; /* data block size, a power of two in 4 KiB..1 MiB; 0 = 131072 */
        unsigned workers;    /* compression threads; 0 = the number of online cores */
        uint32_t mtime;      /* time stamp of every inode and of the superblock (SOURCE_DATE_EPOCH) */
        uint32_t pad;        /* pad the image with zeros to a multiple of this; 0 = 4096 */
        bool block_copy;     /* carry the compressed blocks of files read from a qualifying
                                squashfs image unchanged (see sqfs-copy.h) */
        /* Called as file data is written: done of total bytes of file contents (block-copied
         * files count when copied). From the writing thread, once per data block: the callee
         * keeps it cheap. May be NULL. */
        void (*progress)(void *userdata, uint64_t done, uint64_t total);
        void *progress_userdata;
} sqwrite_opts;

typedef struct sqwrite_stats {
        uint64_t bytes_used; /* the superblock's bytes_used */
        uint64_t size;       /* bytes written, including the padding */
        uint32_t inodes;
        uint64_t copied_files; /* files whose blocks were carried over (block_copy) */
        uint64_t copied_bytes; /* their stored bytes, data and fragment blocks, before deduplication */
} sqwrite_stats;

/*
 * The compressor configuration opts describe (defaults filled in), as the
 * image's options block will record it. Assumes mk_sqwrite_check_opts passed.
 */
int mk_sqwrite_compressor_config(const sqwrite_opts *opts, sqfs_compressor_config_t *ret)
        __attribute__((warn_unused_result));

/*
 * Check opts (compressor, level, block size) without writing anything;
 * errors name the option and the allowed values.
 */
int mk_sqwrite_check_opts(const sqwrite_opts *opts, mk_error *err) __attribute__((warn_unused_result));

/*
 * Write tree (sorted first) to file, which must be empty (get_size() == 0).
 * On success fills *ret (may be NULL). On failure file holds a partial image
 * that the caller discards; err names the file, the entry and the cause.
 */
int mk_sqwrite_tree(fstree *tree, sqfs_file_t *file, const sqwrite_opts *opts, sqwrite_stats *ret, mk_error *err)
        __attribute__((warn_unused_result));

#endif
