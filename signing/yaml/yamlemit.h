/* SPDX-License-Identifier: MIT */
/*
 * Canonical YAML out (libyaml's emitter): block style, two-space indent, no
 * line folding, plain scalars unless YAML needs quotes, '' for an empty
 * value. The signed documents (slot manifests, bundle manifests) are written
 * with it, so the same input gives the same bytes.
 *
 * Usage: mk_yemit_begin, then map/seq/scalar calls, then mk_yemit_end. The
 * calls record the first failure and do nothing after it; mk_yemit_end
 * reports it.
 */
#ifndef MK_YAMLEMIT_H
#define MK_YAMLEMIT_H

#include <stddef.h>
#include <stdint.h>
#include <yaml.h>

#include "signing/base/error.h"

typedef struct mk_yemit {
        yaml_emitter_t e;
        char *buf;
        size_t len, cap;
        int oom, failed;
} mk_yemit;

/* Starts the stream and the document. Returns 0 or -ENOMEM. */
int mk_yemit_begin(mk_yemit *m, mk_error *err) __attribute__((warn_unused_result));
void mk_yemit_scalar(mk_yemit *m, const char *s);
void mk_yemit_kv(mk_yemit *m, const char *key, const char *value);
void mk_yemit_kv_u64(mk_yemit *m, const char *key, uint64_t value);
void mk_yemit_map_start(mk_yemit *m);
void mk_yemit_map_end(mk_yemit *m);
/* A list of n entries: block style, or the flow "[]" when n is 0. */
void mk_yemit_seq_start(mk_yemit *m, size_t n);
void mk_yemit_seq_end(mk_yemit *m);
/*
 * Ends the document and the stream and frees the emitter. On success *ret
 * (malloc'd, NUL-terminated) and *ret_len (without the NUL); on failure
 * -ENOMEM or -EINVAL with "cannot emit WHAT as YAML".
 */
int mk_yemit_end(mk_yemit *m, const char *what, char **ret, size_t *ret_len, mk_error *err)
        __attribute__((warn_unused_result));

#endif
