/* SPDX-License-Identifier: MIT */
/*
 * Typed field readers over ydoc nodes. Every reader reports errors as
 * "PATH:LINE:COL: <key> must be ... (fix)". A mapping is checked against a
 * table of known keys: unknown keys get a did-you-mean hint, required keys
 * a "missing key" error at the mapping's position.
 */
#ifndef MK_SCHEMA_H
#define MK_SCHEMA_H

#include <stdbool.h>
#include <stdint.h>

#include "signing/yaml/yamldoc.h"

typedef struct schema_key {
        const char *name;
        bool required;
} schema_key;

/*
 * Check that node is a mapping whose keys are all in keys[0..n), and that
 * every required key is present. what names the mapping in messages
 * ("the model", "partition 'esp'").
 */
int mk_schema_check_map(const ydoc *doc, const ynode *node, const char *what, const schema_key *keys, size_t n,
                        mk_error *err) __attribute__((warn_unused_result));

/* The closest of candidates[0..n) to word within a small edit distance, or NULL. */
const char *mk_schema_did_you_mean(const char *word, const char *const *candidates, size_t n);

/* Error at node's position: "PATH:LINE:COL: <formatted>". Returns -EINVAL. */
int mk_schema_error(const ydoc *doc, const ynode *node, mk_error *err, const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));

/* A non-empty string scalar (max_len bytes at most, 0 = no limit). *ret points into doc. */
int mk_schema_string(const ydoc *doc, const ynode *n, const char *key, size_t max_len, const char **ret, mk_error *err)
        __attribute__((warn_unused_result));

/* An identifier: [a-z0-9][a-z0-9._-]*, at most 64 bytes. *ret points into doc. */
int mk_schema_name(const ydoc *doc, const ynode *n, const char *key, const char **ret, mk_error *err)
        __attribute__((warn_unused_result));

/* An unsigned decimal integer in [min, max]. */
int mk_schema_uint(const ydoc *doc, const ynode *n, const char *key, uint64_t min, uint64_t max, uint64_t *ret,
                   mk_error *err) __attribute__((warn_unused_result));

/* A SHA-256 (or a 32-byte salt): exactly 64 lower-case hex digits, copied with its NUL into out. */
int mk_schema_hex64(const ydoc *doc, const ynode *n, const char *key, char out[65], mk_error *err)
        __attribute__((warn_unused_result));

/* A UTC time to the second, "2026-01-01T00:00:00Z", copied with its NUL into out. */
int mk_schema_utc_time(const ydoc *doc, const ynode *n, const char *key, char out[32], mk_error *err)
        __attribute__((warn_unused_result));

/* true/false (also yes/no). */
int mk_schema_bool(const ydoc *doc, const ynode *n, const char *key, bool *ret, mk_error *err)
        __attribute__((warn_unused_result));

/* One of choices[0..n); *ret is its index. The error lists the choices. */
int mk_schema_enum(const ydoc *doc, const ynode *n, const char *key, const char *const *choices, size_t nchoices,
                   unsigned *ret, mk_error *err) __attribute__((warn_unused_result));

/*
 * A size: a number of bytes with an optional unit K/M/G/T (powers of 1024),
 * KiB/MiB/GiB/TiB, or B. Overflow is an error.
 */
int mk_schema_size(const ydoc *doc, const ynode *n, const char *key, uint64_t *ret, mk_error *err)
        __attribute__((warn_unused_result));

/* Parse a size string as mk_schema_size does; -EINVAL / -ERANGE, no message. */
int mk_parse_size(const char *s, uint64_t *ret) __attribute__((warn_unused_result));

/*
 * A path: relative paths are resolved from the folder of the document's file.
 * *ret is newly allocated.
 */
int mk_schema_path(const ydoc *doc, const ynode *n, const char *key, char **ret, mk_error *err)
        __attribute__((warn_unused_result));

/* Join dir and path the way mk_schema_path does ("." is dropped). New string or NULL. */
char *mk_path_resolve(const char *base_file, const char *path);

#endif
