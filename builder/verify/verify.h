/* SPDX-License-Identifier: MIT */
/*
 * Offline verification of a built image against its signed slot manifests
 * (docs/verify.md, docs/manifest.md): `mkimage verify`.
 *
 * What is checked, per slot whose manifest is found:
 *   - the manifest's minisign signature with the given public key, then the
 *     manifest itself (mk_manifest_parse: strict), its slot, and that the two
 *     manifests agree on model, brand and version;
 *   - root.partition and root.verity.partition exist in the GPT (once each)
 *     with the manifest's partuuids, and the squashfs and the verity
 *     superblock + tree fit in them;
 *   - SHA-256 of root.size bytes at the root partition's start = root.sha256;
 *   - the verity superblock (version 1, sha256, 4096/4096, data-blocks, salt)
 *     matches the manifest and its unused bytes are zero; every hash block
 *     hashes into its parent and the top into root.verity.root-hash; when the
 *     data is intact, mk_verity_check recomputes the whole tree from it.
 *
 * Where the manifests are: IMAGE.manifest.yaml (slot a, always required) and
 * IMAGE.manifest-b.yaml (slot b: required when the GPT has a partition named
 * "root-b" whose first 4 KiB are not all zero), each with a .minisig beside it.
 *
 * Blame: a changed byte in a root partition's data fails that partition (its
 * sha256), not its verity partition; a changed superblock or tree fails the
 * verity partition; a changed, unsigned or wrongly signed manifest fails the
 * manifest, and the partitions it would have covered are then reported as
 * not checked. Partitions no valid manifest covers are reported as not
 * checked, with what they hold (mk_detect_content).
 *
 * The data partition a verified manifest names (builder/verify/verify-data.c,
 * docs/verify.md): with encryption luks2, each of the two LUKS2 header copies
 * on its own, loaded by libcryptsetup, and the header's cipher, sector size,
 * keyslots and data segment; with the data key, also the ext4 superblock and
 * group descriptors, decrypted in userspace. With encryption none, the ext4
 * superblock and group descriptors.
 */
#ifndef MK_VERIFY_H
#define MK_VERIFY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/x509.h>

#include "signing/base/error.h"
#include "signing/minisign/minisign.h"

typedef enum mk_check_status {
        MK_CHECK_OK,
        MK_CHECK_FAILED,
        MK_CHECK_SKIPPED, /* not checked; reason says why */
} mk_check_status;

typedef struct mk_check_item {
        char *name; /* manifest file path, or GPT partition name */
        mk_check_status status;
        char *reason; /* NULL when OK; why it failed or was not checked */
        char *detail; /* OK only, or NULL: what was checked (the data partition) */
} mk_check_item;

typedef struct mk_verify_report {
        bool ok; /* no item FAILED */
        size_t n_items;
        mk_check_item *items; /* slot a's manifest, slot b's, then the partitions in GPT order */
} mk_verify_report;

typedef struct mk_verify_opts {
        const mk_pubkey *key;    /* the only key trusted to sign the manifests */
        const uint8_t *data_key; /* the LUKS2 keyslot passphrase (a data key file's bytes), or NULL */
        size_t data_key_len;
        const char *data_key_name; /* what messages call the data key (its file name) */
        X509 *sb_cert;             /* the db certificate EFI binaries must be signed by, or NULL: not checked */
} mk_verify_opts;

/*
 * Verify the image at path against its manifests as o says (o->key is
 * required; with o->data_key an encrypted data partition is opened in memory
 * and its file system checked too; the key is only read). Returns
 * 0 when the checks ran, whatever they found: *ret is then a new report
 * (mk_verify_report_free) and (*ret)->ok tells the verdict. Returns a
 * negative errno, with err set and *ret untouched, when the image cannot be
 * checked at all: unreadable, no valid GPT, out of memory.
 */
int mk_verify_image_with(const char *path, const mk_verify_opts *o, mk_verify_report **ret, mk_error *err)
        __attribute__((warn_unused_result));

/* mk_verify_image_with with only a key: no data key. */
int mk_verify_image(const char *path, const mk_pubkey *key, mk_verify_report **ret, mk_error *err)
        __attribute__((warn_unused_result));

/*
 * Verify an update bundle (signing/bundle/bundle.h, docs/update.md) with
 * key: the bundle manifest's signature and its layout, then every part
 * (items "bundle manifest", "slot a manifest", ..., "root", in stream order):
 * its SHA-256 and zero padding before it; each slot manifest's signature,
 * slot, model, brand and version (the bundle's) and root (the root part);
 * each hash area's superblock and tree against its manifest, and the root
 * against both trees; every boot file a manifest names is in the bundle and
 * every file part is named. The file must be exactly the bundle's size.
 * Returns 0 with *ret as mk_verify_image does (a bundle whose manifest
 * cannot be trusted is one FAILED item); -errno when the file cannot be read.
 */
int mk_verify_bundle(const char *path, const mk_pubkey *key, mk_verify_report **ret, mk_error *err)
        __attribute__((warn_unused_result));

/* Frees everything r owns, and r. NULL allowed; returns NULL. */
mk_verify_report *mk_verify_report_free(mk_verify_report *r);

/* "ok", "failed", "skipped". */
const char *mk_check_status_str(mk_check_status s);

#endif
