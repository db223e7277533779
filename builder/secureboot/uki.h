/* SPDX-License-Identifier: MIT */
/*
 * Unified Kernel Images: systemd's EFI stub with the kernel, the initrd, the
 * command line and an os-release added as PE sections, one file that the
 * firmware verifies (Secure Boot) and systemd-boot lists as a type #2 entry
 * (EFI/Linux/NAME.efi). Assembled here from the stub's own headers; no objcopy,
 * no ukify. docs/secure-boot.md.
 */
#ifndef MK_UKI_H
#define MK_UKI_H

#include <stddef.h>
#include <stdint.h>

#include "signing/base/error.h"

/* One added section: ".osrel", ".cmdline", ".linux", ".initrd". */
typedef struct mk_uki_part {
        const char *name; /* 1-8 characters */
        const void *data;
        size_t size; /* > 0 */
} mk_uki_part;

/*
 * The UKI: the stub's bytes up to the end of its last section (its COFF
 * symbol table, which the loader never reads, is dropped), then each part in
 * the given order as a read-only data section. Each part starts at a 4 KiB
 * aligned address after the stub's last one (addresses computed from the
 * stub's headers, never fixed ones) and at a FileAlignment boundary in the
 * file; its VirtualSize is the part's exact size. SizeOfImage and the
 * checksum follow. Deterministic: the same stub and parts give the same bytes.
 *
 * stub_what names the stub in messages. -EINVAL: the stub is not a PE
 * image, is already signed, names a section like a part, or has no room
 * in its headers for the new section headers; -EFBIG: the image would pass
 * 4 GiB. *ret (malloc'd) and *ret_len are set on success only.
 */
int mk_uki_assemble(const char *stub_what, const void *stub, size_t stub_len, const mk_uki_part *parts, size_t n,
                    uint8_t **ret, size_t *ret_len, mk_error *err) __attribute__((warn_unused_result));

/*
 * The PCR 11 value (hex, SHA-256 bank) that systemd-stub leaves after
 * measuring the UKI's sections, starting from a zero PCR: for each present
 * section in the stub's order .linux .osrel .cmdline .initrd .splash .dtb
 * .pcrpkey, extend with SHA-256(name + "\0"), then with SHA-256(data).
 */
void mk_uki_pcr11(const mk_uki_part *parts, size_t n, char hex[65]);

/* The sections PCR 11 covers, in that order; NULL-terminated. */
extern const char *const mk_uki_measured_sections[];

#endif
