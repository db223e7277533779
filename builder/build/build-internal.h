/* SPDX-License-Identifier: MIT */
/* One build's state, shared by the stages of mk_build (build.c) and its manifests (build-manifest.c). */
#ifndef MK_BUILD_INTERNAL_H
#define MK_BUILD_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "builder/build/build-boot.h"
#include "builder/build/build-data.h"
#include "builder/build/build.h"
#include "builder/component/verify-inputs.h"
#include "builder/image/output.h"
#include "builder/image/verity.h"
#include "builder/model/layout.h"
#include "builder/model/model.h"
#include "signing/base/error.h"
#include "signing/minisign/minisign.h"

#define logf_(o, ...) mk_callback_printf((o)->log, (o)->userdata, __VA_ARGS__)
#define MAX_SLOTS 2

/* Everything one build holds; freed by build_done(). */
typedef struct build {
        const mk_build_opts *o;
        mk_model *m;
        mk_layout *l;
        mk_inputs *inputs;
        mk_seckey *key;
        const char *out_path;
        char def_out[256];
        mk_output *img;
        mk_output *key_out;
        mk_data_stage data;
        mk_boot_stage boot;
        char *mf_text[MAX_SLOTS][2]; /* per slot: signed manifest and signature, for the ESP */
        int lock_fd;
        mk_output *mf_out[MAX_SLOTS][2]; /* per slot: manifest, signature */
        unsigned jobs;
        uint64_t root_size; /* padded squashfs bytes */
        char root_sha256[65];
        mk_verity verity[MAX_SLOTS];
        bool populated[MAX_SLOTS];
        char comp_sha[64][65];
} build;

/* Report the stage starting now (o->stage). */
void mk_build_stage(const mk_build_opts *o, const char *name);

/* Write a fresh output file (open as fd) in whole; messages call it name. */
int mk_build_write_file(int fd, const char *name, const char *data, size_t len, mk_error *err)
        __attribute__((warn_unused_result));

/* Emit, sign and open the outputs of slot s's manifest (IMAGE.manifest.yaml, -b for slot b, and their
 * signatures), keeping the texts for the ESP. */
int mk_build_write_manifest(build *b, size_t s, mk_error *err) __attribute__((warn_unused_result));

#endif
