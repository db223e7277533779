/* SPDX-License-Identifier: MIT */
/*
 * Verify the model's components before anything is written: each artifact's
 * .minisig must verify against the model's trusted keys, by exactly the key
 * the model names for that component, and the artifact's metadata must carry
 * the expected name (and version, when pinned). Grade `dangerous` also
 * accepts unsigned artifacts and plain directories, with a warning each.
 */
#ifndef MK_INPUTS_H
#define MK_INPUTS_H

#include <stdbool.h>
#include <stddef.h>

#include "builder/component/component.h"
#include "signing/base/error.h"
#include "builder/model/model.h"

typedef struct mk_input {
        const mk_model_component *mc; /* the model's entry (borrowed) */
        component *comp;              /* opened artifact, or NULL for a directory */
        bool is_dir;                  /* unsigned directory (grade dangerous) */
        bool signed_ok;               /* signature verified */
        char signer_id[17];           /* key id of the verified signer, "" if unsigned */
} mk_input;

typedef struct mk_inputs {
        mk_input *items;
        size_t n;
} mk_inputs;

/*
 * Component prehashes (what their minisign signatures sign) computed ahead by
 * another thread, so that the signature checks of a build run on two cores:
 * the helper takes components from the end of the list while
 * mk_inputs_verify takes them from the start; a component either side has
 * taken is the other's no more.
 */
typedef struct mk_prehashes mk_prehashes;
mk_prehashes *mk_prehashes_new(size_t n); /* NULL: out of memory (then verify without) */
void mk_prehashes_free(mk_prehashes *p);
/* The helper: prehash component i (at path) unless the verifier has taken it. False when it has (stop). */
bool mk_prehashes_fill(mk_prehashes *p, size_t i, const char *path);

/*
 * Verify and open every component of m, in model order, using the prehashes
 * of pre (may be NULL) where its helper got there first. warn (may be NULL)
 * receives one line per accepted-but-unsigned input. *ret is new
 * (mk_inputs_free); untouched on failure, with err naming the model entry,
 * the component, the file and the key id.
 */
int mk_inputs_verify(const mk_model *m, mk_prehashes *pre, void (*warn)(void *ud, const char *line), void *ud,
                     mk_inputs **ret, mk_error *err) __attribute__((warn_unused_result));

mk_inputs *mk_inputs_free(mk_inputs *in);

/* The input's component type (an unsigned directory counts as `base`). */
component_type mk_input_type(const mk_input *in);

/* True when the input's files go into the root squashfs: not `data` (the data partition) nor `kernel` (the ESP). */
bool mk_input_in_root(const mk_input *in);

#endif
