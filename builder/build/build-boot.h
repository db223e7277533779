/* SPDX-License-Identifier: MIT */
/*
 * The build's boot stage: the ESP with systemd-boot, one Boot Loader
 * Specification entry per populated slot (boot counting), and per slot the
 * kernel and initrd of the model's `kernel` component and the slot's signed
 * manifest. mkimage appends to the initrd a newc cpio holding the manifest's
 * public key (/etc/mkimage/trusted.pub) and the model name
 * (/etc/mkimage/model): the boot chain trusts exactly the key the image was
 * signed with. See docs/esp.md.
 *
 * Split like the data stage: mk_boot_prepare() reads and checks everything
 * before the output exists, mk_boot_write() writes the ESP.
 */
#ifndef MK_BUILD_BOOT_H
#define MK_BUILD_BOOT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "signing/base/error.h"
#include "builder/component/verify-inputs.h"
#include "builder/model/layout.h"
#include "signing/manifest/manifest.h"
#include "signing/minisign/minisign.h"
#include "builder/model/model.h"
#include "builder/build/build-uki.h"

#define MK_BOOT_TRUSTED_PUB "etc/mkimage/trusted.pub"
#define MK_BOOT_MODEL_FILE "etc/mkimage/model"
/* per slot: vmlinuz, initrd.img, its boot entry, loader.conf, systemd-boot at bootctl's path and at the
 * firmware's fallback path (all that decides what boots); under Secure Boot the UKI instead of the first
 * three, and the three enrolment files when the image carries them */
#define MK_BOOT_FILES 7

typedef struct mk_boot_stage {
        const mk_partition *esp; /* NULL: the layout has no ESP (nothing to do) */
        const mk_input *kernel;  /* the kernel component, or NULL (an ESP without boot entries) */
        char *vmlinuz, *initrd;  /* the kernel; the initrd with mkimage's cpio appended */
        size_t vmlinuz_len, initrd_len;
        char vmlinuz_sha[65], initrd_sha[65];
        char loader_sha[65]; /* systemd-boot as the ESP holds it */
        bool uki;            /* Secure Boot: signed UKIs instead of type #1 entries (build-uki.h) */
        mk_uki_stage u;
} mk_boot_stage;

int mk_boot_prepare(const mk_model *m, const mk_layout *l, const mk_inputs *inputs, const mk_seckey *key,
                    const mk_sb_opts *sb, uint64_t source_date_epoch, mk_boot_stage *ret, mk_error *err)
        __attribute__((warn_unused_result));

/*
 * Under Secure Boot, slot mf->slot's signed UKI, made from mf's root hash and
 * partition UUIDs, and mf->uki filled (its strings point into s); nothing
 * happens without one. Call before the manifest is emitted.
 */
int mk_boot_uki_slot(mk_boot_stage *s, const mk_model *m, mk_manifest *mf, mk_error *err)
        __attribute__((warn_unused_result));

/*
 * The manifest's `boot` list of slot ('a' or 'b'): n entries into files
 * (paths malloc'd, also on failure: free files[0..*n), whose path may be
 * NULL). loader.conf and systemd-boot whenever there is an ESP; the kernel,
 * the initrd and the slot's entry when there is a kernel. The entry is
 * listed under its name without a boot counter ("/loader/entries/slot-a.conf":
 * the counter changes on the device, the text does not). The entry carries
 * the model's version and the sort-key made from it (mk_bls_sort_key).
 */
int mk_boot_manifest_files(const mk_boot_stage *s, const mk_model *m, const mk_layout *l, char slot,
                           mk_manifest_file files[MK_BOOT_FILES], size_t *n, mk_error *err)
        __attribute__((warn_unused_result));

/* One populated slot's signed manifest, as it goes onto the ESP. */
typedef struct mk_boot_slot {
        char slot; /* 'a' or 'b' */
        const char *manifest, *signature;
        size_t manifest_len, signature_len;
} mk_boot_slot;

/* The files `mkimage factory` writes per device beside each slot's manifest. */
/* The room a factory template reserves for each of them: the record is a few hundred bytes. */
#define MK_SERIAL_RESERVE 4096u

/*
 * Write the ESP into the image file (planned offset and size of s->esp);
 * messages call it image_name (NULL: image_path).
 * serial_room: also put MK_SERIAL_RESERVE-byte placeholders of
 * MK_SERIAL_RECORD (signing/conventions/) and its signature into each slot's folder (a
 * factory template: each device's record is written over them in place).
 */
int mk_boot_write(const mk_boot_stage *s, const mk_model *m, const mk_layout *l, const char *image_path,
                  const char *image_name, const mk_boot_slot *slots, size_t n_slots, uint64_t source_date_epoch,
                  bool serial_room, mk_error *err) __attribute__((warn_unused_result));

void mk_boot_stage_done(mk_boot_stage *s);

#endif
