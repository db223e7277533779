/* SPDX-License-Identifier: MIT */
/*
 * The squashfs compressors mkimage writes and reads, by name and by
 * libsquashfs id, with their level ranges: one table for the writer, the
 * block copier and the CLI.
 */
#ifndef MK_SQFS_COMPRESSOR_H
#define MK_SQFS_COMPRESSOR_H

/* "zstd", "xz", "gzip", "lz4" -> SQFS_COMP_* id; -EINVAL for anything else. */
int mk_sqfs_compressor_from_name(const char *name, int *ret) __attribute__((warn_unused_result));

/* SQFS_COMP_* id -> "zstd", ...; "unknown" for others. */
const char *mk_sqfs_compressor_name(int id);

/* The names mk_sqfs_compressor_from_name accepts, for messages: "zstd, xz, gzip, lz4". */
const char *mk_sqfs_compressor_names(void);

/* The level range of compressor id (0..0: it takes no level); -EINVAL when not supported. */
int mk_sqfs_compressor_levels(int id, int *ret_min, int *ret_max) __attribute__((warn_unused_result));

#endif
