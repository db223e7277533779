/* SPDX-License-Identifier: MIT */
/*
 * A strict, bounded YAML loader (libyaml) producing a small node tree with
 * line:column positions, for models, layouts, component metadata and
 * manifests. All of them are untrusted input.
 *
 * Refused with a FILE:LINE:COL error: aliases and anchors, more than one
 * document, duplicate mapping keys, non-scalar keys, nesting deeper than
 * YDOC_MAX_DEPTH, more than YDOC_MAX_NODES nodes, a scalar longer than
 * YDOC_MAX_SCALAR bytes, input larger than YDOC_MAX_INPUT bytes, NUL bytes or
 * invalid UTF-8 (libyaml's reader), an empty document.
 */
#ifndef MK_YAMLDOC_H
#define MK_YAMLDOC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "signing/base/error.h"
#include "signing/base/macro.h"

#define YDOC_MAX_INPUT (4u << 20)
#define YDOC_MAX_DEPTH 32
#define YDOC_MAX_NODES 100000
#define YDOC_MAX_SCALAR (64u << 10)

typedef enum ynode_kind { YNODE_SCALAR, YNODE_MAP, YNODE_SEQ } ynode_kind;

typedef struct ynode ynode;
struct ynode {
        ynode_kind kind;
        unsigned line, col; /* 1-based position of the node's start */
        /* YNODE_SCALAR */
        char *str; /* NUL-terminated; len excludes the NUL (no inner NUL) */
        size_t len;
        bool plain; /* unquoted plain scalar (e.g. `null`, `12`, `true`) */
        /* YNODE_MAP: keys[i] (scalars) -> vals[i]; YNODE_SEQ: vals[i] */
        size_t n;
        ynode **keys;
        ynode **vals;
};

typedef struct ydoc {
        char *path; /* the name used in error messages */
        ynode *root;
} ydoc;

/*
 * Load a file. On success *ret is a new document (free with mk_ydoc_free). On
 * failure *ret is untouched and err holds "PATH:LINE:COL: what (fix)" or
 * "PATH: what" for I/O errors. The file must be a regular file.
 */
int mk_ydoc_load_file(const char *path, ydoc **ret, mk_error *err) __attribute__((warn_unused_result));

/* Same, from memory; name is used in messages. */
int mk_ydoc_load_buffer(const char *name, const void *buf, size_t len, ydoc **ret, mk_error *err)
        __attribute__((warn_unused_result));

/* Frees doc (NULL allowed); returns NULL. */
ydoc *mk_ydoc_free(ydoc *doc);
DEFINE_TRIVIAL_CLEANUP_FUNC(ydoc *, mk_ydoc_free)

/* Mapping lookup (NULL if absent or map is not a mapping). */
const ynode *mk_ynode_get(const ynode *map, const char *key);

/* Human name of a node kind for messages: "a mapping", "a list", "a string". */
const char *mk_ynode_kind_name(const ynode *n);
/* Does this text, written plain (unquoted), read as null: "", "~" or "null"? The loader treats such a plain
 * scalar as empty; the emitter quotes such a string so that it reads back as itself. */
bool mk_yaml_null_word(const char *s);

#endif
