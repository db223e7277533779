/* SPDX-License-Identifier: MIT */
/*
 * The on-disk conventions that the builder and the programs on the device
 * share: where the boot files of a slot live on the ESP, what the signed
 * manifests are called, how a Boot Loader Specification entry of a slot is
 * named and how its boot counter reads. One home for each; builder/ writes
 * these names and qemu-boot/verifier/ reads them (docs/architecture.md).
 */
#ifndef MK_CONVENTIONS_H
#define MK_CONVENTIONS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The GPT type of an EFI System Partition (UAPI Discoverable Partitions). */
#define MK_ESP_TYPE_GUID "C12A7328-F81F-11D2-BA4B-00A0C93EC93B"

/* A detached minisign signature sits beside its file as FILE.minisig. */
#define MK_SIG_SUFFIX ".minisig"

/* ---- the ESP ---------------------------------------------------------------- */

#define MK_ESP_ENTRIES_DIR "loader/entries" /* Boot Loader Specification type #1 entries */
#define MK_ESP_LOADER_CONF "loader/loader.conf"
#define MK_ESP_UKI_DIR "EFI/Linux"         /* type #2 entries: Unified Kernel Images (docs/secure-boot.md) */
#define MK_ESP_KEYS_DIR "loader/keys/auto" /* Secure Boot keys systemd-boot enrols in setup mode */
/*
 * Where bootctl installs systemd-boot and looks for it (`bootctl is-installed`,
 * `update`): EFI/systemd/systemd-boot<arch>.efi, the same bytes as the
 * removable-media fallback EFI/BOOT/BOOT<ARCH>.EFI the firmware starts.
 * printf format taking the architecture's EFI suffix ("x64", "aa64", "riscv64").
 */
#define MK_ESP_SYSTEMD_BOOT_FMT "EFI/systemd/systemd-boot%s.efi"

/* Inside the kernel component's tree, and inside a slot's folder on the ESP. */
#define MK_KERNEL_FILE "vmlinuz"
#define MK_INITRD_FILE "initrd.img"
#define MK_MANIFEST_FILE "manifest.yaml"
#define MK_SERIAL_RECORD "serial.yaml" /* a factory device's signed serial record */

/* A slot's folder on the ESP: printf formats taking the slot letter ('a', 'b'). */
#define MK_SLOT_DIR_FMT "slot-%c"
#define MK_SLOT_KERNEL_FMT MK_SLOT_DIR_FMT "/" MK_KERNEL_FILE
#define MK_SLOT_INITRD_FMT MK_SLOT_DIR_FMT "/" MK_INITRD_FILE
#define MK_SLOT_MANIFEST_FMT MK_SLOT_DIR_FMT "/" MK_MANIFEST_FILE
#define MK_SLOT_SERIAL_FMT MK_SLOT_DIR_FMT "/" MK_SERIAL_RECORD

/* ---- beside an image ---------------------------------------------------------- */

/* IMAGE.manifest.yaml (slot a) and IMAGE.manifest-b.yaml (slot b), each signed. */
#define MK_IMAGE_MANIFEST_A ".manifest.yaml"
#define MK_IMAGE_MANIFEST_B ".manifest-b.yaml"
#define MK_IMAGE_MANIFEST(slot_index) ((slot_index) ? MK_IMAGE_MANIFEST_B : MK_IMAGE_MANIFEST_A)

/* ---- Boot Loader Specification entries of the slots ----------------------------- */

/*
 * The entry file of a slot: "slot-a.conf" (blessed), "slot-a+3.conf" (3 tries
 * left), "slot-a+2-1.conf" (2 left, 1 done). Slot names are 1 to 16 of a-z 0-9
 * when the builder writes them; the device's A/B slots are "a" and "b".
 */
#define MK_BLS_ENTRY_PREFIX "slot-"
#define MK_BLS_ENTRY_SUFFIX ".conf"

/*
 * Writes the entry name of slot with tries boot attempts (0: no counter) into
 * out ("slot-a+3.conf"). Returns false when it does not fit.
 */
bool mk_bls_entry_name(const char *slot, unsigned tries, char *out, size_t size);

/*
 * The same names for a slot's Unified Kernel Image, a type #2 entry in
 * MK_ESP_UKI_DIR: "slot-a+3.efi". Boot counting renames it the same way;
 * mk_bls_entry_parse and mk_bls_entry_bad_name take both kinds (the bad name
 * keeps the kind), mk_bls_entry_is_uki tells them apart.
 */
#define MK_UKI_ENTRY_SUFFIX ".efi"
bool mk_uki_entry_name(const char *slot, unsigned tries, char *out, size_t size);
bool mk_bls_entry_is_uki(const char *name);

/*
 * Parses an A/B entry name: true and *slot ('a' or 'b'), *left (tries left, -1
 * when blessed) and *done when name is one; false (outputs untouched) when not.
 */
bool mk_bls_entry_parse(const char *name, char *slot, int *left, int *done);

/* The name that marks entry name bad: "slot-a+0-N.conf" (N: the tries done, at least 1). */
void mk_bls_entry_bad_name(const char *name, char *out, size_t size);

/*
 * The sort-key of the boot entry of slot ("a", "b") holding OS version
 * (the model's version, at most 4294967295): "mkimage-" MK_BLS_SORT_KEY_TOP
 * minus the version as 10 digits, '-', the slot: version 1 in slot a is
 * "mkimage-4294967294-a". systemd-boot sorts entries with tries left before
 * exhausted ones (+0), then by sort-key ascending (strcmp), so among entries
 * with tries left the higher OS version boots, and on a tie (a fresh image:
 * both slots hold the same version) slot a. An update writes the entry of
 * the slot it fills with its own, higher, version: that entry sorts before
 * the running slot's without touching it (docs/layout.md, "Boot entry
 * order"). Returns false when version is above the top or out is too small.
 */
#define MK_BLS_SORT_KEY_PREFIX "mkimage-"
#define MK_BLS_SORT_KEY_TOP 4294967295u
bool mk_bls_sort_key(uint64_t version, const char *slot, char *out, size_t size);

/* ---- Discoverable Partitions: a slot's partition UUIDs -------------------------- */

/*
 * The UUIDs of a verity-protected root and of its hash partition, as the UAPI
 * Discoverable Partitions Specification derives them from the root hash: the
 * first 16 bytes of root_hash are the root partition's UUID, the last 16 the
 * verity partition's, the bytes in order and unchanged (no version or
 * variant bits), written 8-4-4-4-12 in upper case ("75A8EAD1-B0B8-...").
 * systemd-dissect --root-hash= and systemd's veritysetup generators find
 * the partitions by these; docs/layout.md, "Discoverable partitions".
 */
void mk_dps_partuuids(const uint8_t root_hash[32], char root_uuid[37], char verity_uuid[37]);

/* ---- the anti-rollback minimum on the data partition ---------------------------- */

/* Where it is kept, below the data partition's mount point; raised by `mkimage-update mark-good`. */
#define MK_MIN_VERSION_FILE "mkimage/min-version"
/* Its text: decimal digits, optionally one newline, nothing else. false when text is not that. */
bool mk_min_version_parse(const char *text, uint64_t *ret);

#endif
