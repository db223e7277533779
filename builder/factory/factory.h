/* SPDX-License-Identifier: MIT */
/*
 * `mkimage factory`: per-device images at line speed. The common part (GPT,
 * root slots, verity, ESP, signed manifests) is built once; each device's
 * image is a clone of it (FICLONE where the file system can, otherwise
 * copy_file_range of the mapped ranges) with only its own parts written:
 * the data partition (ext4 with the device's identity, in LUKS2 with the
 * device's own random key) and its signed serial record on the ESP. See
 * docs/factory.md.
 */
#ifndef MK_FACTORY_H
#define MK_FACTORY_H

#include <stdbool.h>
#include <stdint.h>

#include "signing/base/error.h"

typedef struct mk_factory_opts {
        const char *model_path;
        const char *devices_path;
        const char *out_dir;
        const char *brand_key;             /* minisign secret key that signs the serial records */
        const char *sign_key;              /* manifest key; NULL: the model's signing-key */
        const char *layout_path;           /* NULL: the model's */
        unsigned jobs;                     /* devices in parallel; 0 = online cores */
        unsigned shard_index, shard_count; /* this run builds devices with position % count == index */
        bool image_digest;                 /* also record each whole image's SHA-256 (hashes the holes too: slow) */
        uint64_t source_date_epoch;
        void (*log)(void *userdata, const char *line);
        void (*warn)(void *userdata, const char *line);
        /* Progress: the common part's build (what "root", bytes, as mk_build_opts.progress), then
         * "devices": done of total devices of this run complete (bytes false), a few times a
         * second from a thread of its own while the workers run. May be NULL. */
        void (*progress)(void *userdata, const char *what, uint64_t done, uint64_t total, bool bytes);
        void *userdata;
} mk_factory_opts;

typedef struct mk_factory_result {
        unsigned long devices;  /* in the list */
        unsigned long in_shard; /* of them in this shard */
        unsigned long skipped;  /* already complete (in factory-record.jsonl) */
        unsigned long built;
} mk_factory_result;

int mk_factory(const mk_factory_opts *o, mk_factory_result *ret, mk_error *err) __attribute__((warn_unused_result));

#endif
