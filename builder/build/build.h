/* SPDX-License-Identifier: MIT */
/*
 * The build: model -> layout -> plan -> (verify inputs) -> write image.
 * Everything that can be checked is checked before the first byte of the
 * output is written (model, layout, plan, component signatures, the signing
 * key); the image and its manifests (OUT.manifest.yaml for slot a,
 * OUT.manifest-b.yaml for slot b, each with a .minisig) go to temporary files
 * that are renamed into place only when all are complete.
 */
#ifndef MK_BUILD_H
#define MK_BUILD_H

#include <stdbool.h>
#include <stdint.h>

#include "builder/build/build-uki.h"
#include "signing/base/error.h"

typedef struct mk_build_opts {
        const char *model_path;
        const char *layout_path;    /* overrides the model's layout, or NULL */
        const char *out_path;       /* NULL: "<model>.img" in the current folder */
        const char *sign_key;       /* manifest signing key; NULL: the model's signing-key */
        unsigned jobs;              /* worker threads; 0 = the number of online cores */
        const char *data_key;       /* --data-key: the LUKS2 key file of the data partition */
        const char *data_key_out;   /* --data-key-out: generate the key and write it here (0600) */
        mk_sb_opts sb;              /* --sb-key, --sb-cert, --sb-enroll over the model's secure-boot section */
        uint64_t source_date_epoch; /* every time stamp in the outputs */
        /* `mkimage factory`'s common part: everything but the data partition, which
         * is left empty (the manifests still describe it); no data key is needed. */
        bool factory_template;
        /* Progress lines for -v; called from the building thread. May be NULL. */
        void (*log)(void *userdata, const char *line);
        /* Warnings (e.g. unsigned inputs accepted by grade dangerous). May be NULL. */
        void (*warn)(void *userdata, const char *line);
        /* Called as each stage starts ("model", "layout", "plan", "verify", "output",
         * "gpt", "commit"); lets a front end or a test observe progress. May be NULL. */
        void (*stage)(void *userdata, const char *stage);
        /* Progress within a long stage: done of total (bytes when bytes is true, else items) of
         * the work named what ("root": the file data composed into the root squashfs). From the
         * building thread, often (once per data block): the callee rate-limits. May be NULL. */
        void (*progress)(void *userdata, const char *what, uint64_t done, uint64_t total, bool bytes);
        void *userdata;
} mk_build_opts;

typedef struct mk_build_result {
        char out_path[4096];
        uint64_t disk_size;
        unsigned n_parts;
        uint64_t root_size; /* squashfs bytes in each populated root slot */
        char root_hash[65]; /* slot a's dm-verity root hash */
} mk_build_result;

/* Build the image. ret may be NULL; it is filled only on success. */
int mk_build(const mk_build_opts *opts, mk_build_result *ret, mk_error *err) __attribute__((warn_unused_result));

#endif
