/* SPDX-License-Identifier: MIT */
/* Shared by verify.c (manifests), verify-report.c (the report), verify-esp.c, verify-slot.c and verify-tree.c. */
#ifndef MK_VERIFY_INTERNAL_H
#define MK_VERIFY_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include "builder/image/gpt.h"
#include "signing/manifest/manifest.h"
#include "builder/verify/verify.h"

#define VITEM_MANIFESTS 2 /* items[0], items[1]: slot a's and slot b's manifest */
#define VITEM_PART(i) (VITEM_MANIFESTS + (i))

typedef struct vctx {
        const char *path;
        int fd;
        unsigned threads;
        mk_gpt *gpt;
        mk_verify_report *rep;
        bool seen[VITEM_MANIFESTS + MK_GPT_PARTS_MAX]; /* an item got a verdict */
        char owner[MK_GPT_PARTS_MAX];                  /* the slot whose manifest names partition i, or 0 */
        int esp;                                       /* the ESP's partition index, or -1 */
        char **esp_paths;                              /* everything on the ESP (mk_esp_list_all), or NULL */
        bool live[2];                                  /* slot a/b has an entry systemd-boot would start */
} vctx;

/*
 * List the ESP once (v->esp_paths) and find which slots it still boots
 * (v->live: an entry whose boot counter is not at 0). Trouble reading it
 * fails the ESP item. Returns 0, or -ENOMEM.
 */
int mk_verify_esp_scan(vctx *v) __attribute__((warn_unused_result));

/*
 * After the manifests (ms[0..1], NULL when not verified): anything on the ESP
 * that can change what boots and that no manifest covers fails the ESP item:
 * files in loader/ besides loader.conf, random-seed and the slots' entries,
 * entries that are not a slot's, EFI programs besides the manifests'.
 * Returns 0, or -ENOMEM.
 */
int mk_verify_esp_policy(vctx *v, const mk_manifest *const ms[2]) __attribute__((warn_unused_result));

/* Mark item idx FAILED with a formatted reason; a first failure is kept.
 * Returns 0, or -ENOMEM. */
int mk_vitem_fail(vctx *v, size_t idx, const char *fmt, ...) __attribute__((format(printf, 3, 4)))
__attribute__((warn_unused_result));

/* Mark item idx SKIPPED with a formatted reason (unless it failed already). Returns 0, or -ENOMEM. */
int mk_vitem_skip(vctx *v, size_t idx, const char *fmt, ...) __attribute__((format(printf, 3, 4)))
__attribute__((warn_unused_result));

/* Mark item idx checked (OK unless it fails). */
void mk_vitem_seen(vctx *v, size_t idx);

/* Check the partitions the (signature-checked, parsed) manifest m of slot
 * index s names; verdicts go to the items. Returns 0, or -ENOMEM. */
int mk_verify_slot(vctx *v, unsigned s, const mk_manifest *m) __attribute__((warn_unused_result));

/* Check the ESP against slot m's manifest: its boot files' digests and the
 * ESP's copy of the manifest (manifest, sig: the authenticated bytes).
 * Verdicts go to the ESP item. Returns 0, or -ENOMEM. */
int mk_verify_esp(vctx *v, const mk_manifest *m, const char *manifest, size_t manifest_len, const char *sig,
                  size_t sig_len) __attribute__((warn_unused_result));

/* The 4096-byte block at off holds exactly the cryptsetup superblock of m's
 * verity parameters (version 1, sha256, 4096/4096, data-blocks, salt); its
 * other bytes, the UUID aside, are zero. 0, or -EBADMSG / -errno with err set. */
int mk_vtree_check_super(int fd, uint64_t off, const mk_manifest *m, mk_error *err) __attribute__((warn_unused_result));

/* Every hash block of the tree that follows the superblock at off hashes
 * (salted) to its entry one level up, and the top block to m's root hash.
 * Needs no data: blame stays on the verity partition. 0, or -EBADMSG /
 * -errno with err set. */
int mk_vtree_check_hashes(int fd, uint64_t off, const mk_manifest *m, mk_error *err)
        __attribute__((warn_unused_result));

/* Decode exactly 2n lower-case hex digits (checked by the parser) into out. */
void mk_vhex_decode(const char *hex, uint8_t *out, size_t n);

#endif
