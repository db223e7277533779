/* SPDX-License-Identifier: MIT */
/* The install's state, shared by install.c (the protocol) and install-delta.c (a delta's parts). */
#ifndef MK_UPDATE_INSTALL_H
#define MK_UPDATE_INSTALL_H

#include "qemu-boot/updater/update.h"
#include "signing/bundle/bundle.h"
#include "signing/manifest/manifest.h"
#include "signing/verity/vtree.h"

#define FILE_MAX ((size_t)256 << 20)
#define CHUNK_BLOCKS 256 /* 1 MiB per write */

typedef struct inst {
        upd_ctx *c;
        char target;
        mk_bundle *b;
        mk_pubkey *key;
        mk_manifest *running, *m; /* the running slot's manifest; the bundle's for the target */
        uint8_t *mf_text, *mf_sig, *verity;
        uint64_t mf_len, sig_len, verity_len;
        mk_vtree tree;
        unsigned threads; /* for checking blocks against the tree (mk_vtree_check) */
        unsigned root_idx, verity_idx;
        uint64_t root_start, root_size, verity_start, verity_size;
        uint8_t *files[MK_BUNDLE_PARTS_MAX]; /* the target's boot files, by part index */
        /* A delta: its ranges, where the running root lies, and the boot files taken from the running slot. */
        mk_bundle_range *ranges;
        size_t n_ranges;
        uint64_t run_start, run_size;
        uint8_t **local; /* by the target manifest's boot index: bytes from the ESP, or NULL */
        size_t *local_len;
} inst;

/*
 * A delta: the running slot must hold its base; its ranges are read and
 * checked against both roots; the boot files it leaves out are read from the
 * running slot's place on the ESP and checked against their digests. All
 * before anything is written. Nothing to do for a full bundle.
 */
int inst_check_delta(inst *s, mk_error *err) __attribute__((warn_unused_result));
/*
 * Bytes [from, to) of the new root into buf: from the running root where a
 * range says so, the rest from the stream (the root part, in order), zeros
 * past the root's end. *ri is the first range that may still matter.
 */
int inst_assemble(inst *s, uint64_t from, uint64_t to, uint8_t *buf, size_t *ri, mk_error *err)
        __attribute__((warn_unused_result));
/* Bytes of the root part (the stream) that come before offset pos of the new root. */
uint64_t inst_stream_before(const inst *s, uint64_t pos);

#endif
