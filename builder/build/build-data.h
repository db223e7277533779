/* SPDX-License-Identifier: MIT */
/*
 * The build's data-partition stage: ext4 (libext2fs) holding the model's
 * `data` components, inside LUKS2 (libcryptsetup) unless the model says
 * `encryption: none`. Split in two so that every check runs before the
 * output is written: mk_data_prepare() (key, content) and mk_data_write().
 */
#ifndef MK_BUILD_DATA_H
#define MK_BUILD_DATA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "signing/base/error.h"
#include "builder/tree/fstree.h"
#include "builder/component/verify-inputs.h"
#include "builder/model/layout.h"
#include "builder/data/luks.h"
#include "builder/model/model.h"

typedef struct mk_data_stage {
        const mk_partition *part; /* NULL: the layout has no data partition */
        bool encrypted;
        uint8_t *key; /* locked memory (mk_data_key_free) */
        size_t key_len;
        bool key_generated; /* to be written to key_out on commit */
        fstree *content;    /* the data components' merged tree, or NULL */
} mk_data_stage;

/* True when input i is a `data` component (it goes to the data partition, not the root). */
bool mk_input_is_data(const mk_input *in);

/*
 * Check the model's data settings against the key options and load or
 * generate the key; merge the data components. Writes nothing.
 * key_path: --data-key; key_out: --data-key-out (must not exist yet); no_key:
 * neither, and none is needed (the factory's common part writes no data).
 */
int mk_data_prepare(const mk_model *m, const mk_layout *l, mk_inputs *inputs, const char *key_path, const char *key_out,
                    bool no_key, mk_data_stage *ret, mk_error *err) __attribute__((warn_unused_result));

/* Make the file system (mk_data_fs_write) and LUKS2 in the planned data partition of the image;
 * messages call it image_name (NULL: image_path). */
int mk_data_write(const mk_data_stage *s, const mk_model *m, const char *image_path, const char *image_name, int fd,
                  uint64_t mtime, mk_error *err) __attribute__((warn_unused_result));

void mk_data_stage_done(mk_data_stage *s);

/* The LUKS2 keyslot PBKDF the model asks for. */
mk_luks_pbkdf mk_data_luks_pbkdf(const mk_model *m);

#endif
