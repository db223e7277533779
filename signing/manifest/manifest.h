/* SPDX-License-Identifier: MIT */
/*
 * Slot manifests (docs/manifest.md): what a slot boots and what its root is,
 * signed in minisign format. One struct for both directions: the build fills
 * it and emits canonical YAML; `verify` parses YAML back into it.
 */
#ifndef MK_MANIFEST_H
#define MK_MANIFEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "signing/base/error.h"
#include "signing/base/macro.h"

#define MK_MANIFEST_FORMAT 1
#define MK_MANIFEST_MAX (1u << 20) /* bytes; larger manifests are refused */
#define MK_MANIFEST_UKI_SECTIONS 8

typedef struct mk_manifest_file {
        char *path;      /* ESP path, e.g. "/slot-a/vmlinuz" */
        char sha256[65]; /* lower-case hex */
} mk_manifest_file;

typedef struct mk_manifest_component {
        char *name;
        char *version;
        char sha256[65];    /* of the .comp artifact */
        char signed_by[17]; /* key id (16 upper-case hex digits) or "" if unsigned */
        char **setuid;      /* the setuid/setgid files it declares, absolute paths; optional */
        size_t n_setuid;
} mk_manifest_component;

typedef struct mk_manifest {
        char *model;
        char *brand;
        uint64_t version;
        char slot;        /* 'a' or 'b' */
        char created[32]; /* "2026-01-01T00:00:00Z" from SOURCE_DATE_EPOCH */
        struct {
                char *partition;
                char partuuid[37];
                uint64_t size;   /* bytes of the squashfs (padded to 4 KiB) = verity data */
                char sha256[65]; /* of those bytes */
                struct {
                        char *partition;
                        char partuuid[37];
                        uint32_t data_block_size, hash_block_size;
                        uint64_t data_blocks;
                        char salt[65];      /* hex, 32 bytes */
                        char root_hash[65]; /* hex */
                } verity;
        } root;
        struct {
                char *partition; /* NULL: the image has no data partition */
                char partuuid[37];
                char encryption[8]; /* "luks2" or "none" */
        } data;
        mk_manifest_file *boot;
        size_t n_boot;
        /*
         * The slot's Unified Kernel Image (docs/secure-boot.md), when it boots
         * one: its ESP path without the boot counter ("/EFI/Linux/slot-a.efi",
         * also listed in boot), whether it is signed for Secure Boot, the PCR 11
         * value its sections give, and each section's SHA-256 in PCR 11 order.
         */
        struct {
                char *path; /* NULL: the slot boots a type #1 entry */
                bool signed_;
                char pcr11[65];
                mk_manifest_file sections[MK_MANIFEST_UKI_SECTIONS]; /* path: ".linux" ... */
                size_t n_sections;
        } uki;
        mk_manifest_component *components;
        size_t n_components;
} mk_manifest;

/* Emit m as canonical YAML (libyaml emitter). *ret is malloc'd, NUL-terminated; *ret_len excludes the NUL. */
int mk_manifest_emit(const mk_manifest *m, char **ret, size_t *ret_len, mk_error *err)
        __attribute__((warn_unused_result));

/*
 * Parse and validate a manifest (strict: every required key, no unknown keys,
 * hex digests of the right length). name is used in messages. *ret is new
 * (mk_manifest_free); untouched on failure.
 */
int mk_manifest_parse(const char *name, const void *buf, size_t len, mk_manifest **ret, mk_error *err)
        __attribute__((warn_unused_result));

/* Frees everything m owns, and m. NULL allowed; returns NULL. */
mk_manifest *mk_manifest_free(mk_manifest *m);
DEFINE_TRIVIAL_CLEANUP_FUNC(mk_manifest *, mk_manifest_free)

#endif
