/* SPDX-License-Identifier: MIT */
/*
 * The boot stage under Secure Boot (docs/secure-boot.md): instead of type #1
 * entries, one signed Unified Kernel Image per populated slot,
 * EFI/Linux/slot-X+N.efi, whose command line pins the slot's root hash and
 * partition UUIDs; systemd-boot signed with the same db key; for development
 * images the enrolment keys in loader/keys/auto.
 *
 * mk_uki_prepare() runs with mk_boot_prepare(), before anything is written:
 * it loads and checks the key and certificate, the stub, the enrolment
 * files, signs systemd-boot and checks that two UKIs fit the ESP.
 * mk_uki_make_slot() builds and signs a slot's UKI once its root hash is
 * known, before its manifest is signed (the manifest lists its digests).
 */
#ifndef MK_BUILD_UKI_H
#define MK_BUILD_UKI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "builder/model/layout.h"
#include "builder/model/model.h"
#include "builder/secureboot/sb-key.h"
#include "signing/base/error.h"
#include "signing/manifest/manifest.h"

#define MK_UKI_STUB_DEFAULT "/usr/lib/systemd/boot/efi/linuxx64.efi.stub"
#define MK_UKI_PARTS 4 /* .osrel .cmdline .linux .initrd */

/* What the command line gives over the model's secure-boot section (each NULL: the model's). */
typedef struct mk_sb_opts {
        const char *key, *cert, *enroll;
        bool no_enroll; /* a factory image: never enrolment keys */
} mk_sb_opts;

typedef struct mk_uki_slot {
        uint8_t *data; /* the signed UKI */
        size_t len;
        char sha256[65];
        char pcr11[65];
        char esp_path[48];                  /* as the manifest names it: "/EFI/Linux/slot-a.efi" (no boot counter) */
        char section_sha[MK_UKI_PARTS][65]; /* in PCR 11 order: .linux .osrel .cmdline .initrd */
} mk_uki_slot;

typedef struct mk_uki_stage {
        mk_sb_signer *signer;
        char *stub;
        size_t stub_len;
        const char *stub_path;
        uint8_t *loader; /* systemd-boot, signed */
        size_t loader_len;
        char *auth[3]; /* PK, KEK, db .auth for enrolment, or NULL */
        size_t auth_len[3];
        mk_uki_slot slot[2];
} mk_uki_stage;

/* The names of the enrolment files, in auth[] order. */
extern const char *const mk_uki_auth_names[3];

/*
 * Everything that can fail before the output exists. loader_path is
 * systemd-boot's file; kernel_len and initrd_len the sizes the UKIs will
 * carry; esp_size the ESP's bytes. -ENOENT, -EINVAL, -EKEYREJECTED, -EFBIG
 * with one message each (sb-key.h, uki.h); u is cleaned on failure.
 */
int mk_uki_prepare(mk_uki_stage *u, const mk_model *m, const mk_sb_opts *o, const char *loader_path, size_t kernel_len,
                   size_t initrd_len, uint64_t esp_size, int64_t now, mk_error *err)
        __attribute__((warn_unused_result));

/*
 * The UKI of slot ('a', 'b') of the manifest mf (its root hash and partition
 * UUIDs pin the command line), from the kernel and the initrd.
 */
int mk_uki_make_slot(mk_uki_stage *u, const mk_model *m, const mk_manifest *mf, const char *vmlinuz, size_t vmlinuz_len,
                     const char *initrd, size_t initrd_len, mk_error *err) __attribute__((warn_unused_result));

/*
 * The slot's kernel command line: the model's console and options, then
 * mkimage.slot=X roothash=HEX systemd.verity_root_data=PARTUUID=U1
 * systemd.verity_root_hash=PARTUUID=U2. malloc'd, or NULL.
 */
char *mk_uki_cmdline(const mk_model *m, const mk_manifest *mf);

void mk_uki_stage_done(mk_uki_stage *u);

#endif
