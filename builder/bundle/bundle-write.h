/* SPDX-License-Identifier: MIT */
/*
 * Writing update bundles (signing/bundle/bundle.h, docs/update.md): `mkimage
 * bundle`. A bundle is cut from a built image, so its bytes are the bytes
 * of the image's slots: the root squashfs and slot a's and slot b's hash
 * areas as they are in the partitions, the slot manifests and boot files as
 * they are on the ESP. From a model, the image is built first (in a
 * temporary folder beside the output, removed afterwards).
 */
#ifndef MK_BUNDLE_WRITE_H
#define MK_BUNDLE_WRITE_H

#include <stdbool.h>
#include <stdint.h>

#include "signing/base/error.h"

typedef struct mk_bundle_write_opts {
        const char *image_path; /* the built image (both slots populated) */
        const char *out_path;   /* NAME.mkb */
        const char *sign_key;   /* minisign secret key: signs the bundle manifest; must have signed the slot's */
        const char *from_path;  /* a delta from this earlier image or full bundle of the model, or NULL */
        uint64_t source_date_epoch;
        /* Progress of the root's copy (what "bundle"), as mk_build_opts.progress. May be NULL. */
        void (*progress)(void *userdata, const char *what, uint64_t done, uint64_t total, bool bytes);
        void *userdata;
} mk_bundle_write_opts;

typedef struct mk_bundle_write_result {
        uint64_t size;    /* bytes of the bundle */
        uint64_t version; /* the slots' OS version */
        unsigned n_parts;
        uint64_t root_size;
        bool delta;
        uint64_t root_shipped; /* bytes of the root the bundle holds (all of them unless a delta) */
        size_t n_ranges;       /* a delta's ranges */
} mk_bundle_write_result;

/*
 * Cut a bundle from the image: its GPT and ESP read, the slot manifests on
 * the ESP verified with the signing key's public half and checked to agree
 * (model, brand, version, root), every boot file read and checked against
 * its manifest's digest, the root checked against root.sha256 as it is
 * copied. With from_path a delta (builder/bundle/bundle-delta.h): OLD's
 * slot manifests verified with the same key, its model the same and its
 * version lower. Everything goes to a temporary file renamed into place at the end;
 * on any failure out_path is untouched. ret may be NULL.
 */
int mk_bundle_write(const mk_bundle_write_opts *o, mk_bundle_write_result *ret, mk_error *err)
        __attribute__((warn_unused_result));

/*
 * Build the model as `mkimage build` would (bo: the model, layout, signing
 * key, jobs, SOURCE_DATE_EPOCH, callbacks; its out_path and data keys are
 * ignored), into a temporary folder beside o->out_path, and cut the bundle
 * from that image (o: out_path, progress; image_path and sign_key are
 * filled in here: bo->sign_key or the model's signing-key). The data
 * partition is left empty: a bundle never carries it. The temporary
 * folder is removed on every path.
 */
struct mk_build_opts;
int mk_bundle_from_model(const struct mk_build_opts *bo, const mk_bundle_write_opts *o, mk_bundle_write_result *ret,
                         mk_error *err) __attribute__((warn_unused_result));

#endif
