/* SPDX-License-Identifier: MIT */
/*
 * A content-addressed cache of packed components: the key is the SHA-256 of
 * everything that decides a pack's bytes (every node of the source tree with
 * its metadata, xattrs and contents, the metadata file, the compressor,
 * level, block size and time stamp, and the pack format), so an unchanged
 * source is never compressed twice. Packing is deterministic, so a cached
 * pack is byte for byte what packing again would write. See docs/component.md.
 */
#ifndef MK_PACK_CACHE_H
#define MK_PACK_CACHE_H

#include "signing/base/error.h"
#include "builder/tree/fstree.h"
#include "builder/squashfs/sqfs-write.h"

/* Bump when the squashfs writer changes what it writes for the same input. */
#define MK_PACK_CACHE_FORMAT 1

int mk_pack_key(fstree *t, const sqwrite_opts *o, char hex[65], mk_error *err) __attribute__((warn_unused_result));

/* Whether a cached file is usable (0) or damaged (<0); the caller's check. */
typedef int (*mk_pack_cache_valid)(const char *path);

/*
 * Copy dir/KEY.comp to out (atomically) when it is there and valid(path)
 * accepts it: 1. Not there (or unusable: it is removed): 0. Errors: -errno.
 */
int mk_pack_cache_get(const char *dir, const char *key, mk_pack_cache_valid valid, const char *out, mk_error *err)
        __attribute__((warn_unused_result));

/* Store the packed file as dir/KEY.comp (atomically; dir is created). */
int mk_pack_cache_put(const char *dir, const char *key, const char *packed, mk_error *err)
        __attribute__((warn_unused_result));

#endif
