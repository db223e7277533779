/* SPDX-License-Identifier: MIT */
/*
 * Device models (models/NAME.yaml): what a device is made of. Documented field by
 * field in docs/model.md. A model is plain data once loaded; every string
 * points into memory owned by the model (freed by mk_model_free).
 */
#ifndef MK_MODEL_H
#define MK_MODEL_H

#include <stdbool.h>
#include <stdint.h>

#include "signing/base/error.h"
#include "signing/yaml/yamldoc.h"

typedef enum mk_arch { MK_ARCH_X86_64, MK_ARCH_AARCH64, MK_ARCH_RISCV64, _MK_ARCH_MAX } mk_arch;
typedef enum mk_grade { MK_GRADE_SIGNED, MK_GRADE_DANGEROUS } mk_grade;
typedef enum mk_compressor { MK_COMP_ZSTD, MK_COMP_XZ, MK_COMP_GZIP, MK_COMP_LZ4, _MK_COMP_MAX } mk_compressor;
typedef enum mk_encryption { MK_ENC_LUKS2, MK_ENC_NONE } mk_encryption;
typedef enum mk_pbkdf { MK_PBKDF_ARGON2ID, MK_PBKDF_ARGON2I, MK_PBKDF_PBKDF2 } mk_pbkdf;
typedef enum mk_key_source { MK_KEY_FW_CFG } mk_key_source;

typedef struct mk_trusted_key {
        const char *name; /* as the model names it, e.g. "dev" */
        char *path;       /* resolved from the model's folder */
        unsigned line, col;
} mk_trusted_key;

typedef struct mk_model_component {
        const char *name;    /* expected meta/component.yaml name */
        char *path;          /* the .comp artifact (or a directory, grade dangerous) */
        const char *signer;  /* a trusted-keys name; NULL only if grade dangerous */
        const char *version; /* pinned version or NULL */
        char **overrides;    /* absolute paths this component may replace */
        size_t n_overrides;
        unsigned line, col; /* position of the list item, for messages */
} mk_model_component;

/* Secure Boot as the model asks: not said (no section), off, or on (signed UKIs). */
typedef enum { MK_SB_UNSET, MK_SB_OFF, MK_SB_ON } mk_secure_boot;

typedef struct mk_model {
        ydoc *doc;
        const char *path; /* the model file, as given */
        const char *model;
        const char *brand;
        uint64_t version;
        mk_arch arch;
        mk_grade grade;
        char *layout_path;
        char *signing_key; /* manifest signing key, or NULL */

        mk_trusted_key *keys;
        size_t n_keys;
        mk_model_component *components;
        size_t n_components;

        struct {
                mk_compressor compressor;
                unsigned level;      /* 0 = the compressor's default */
                uint32_t block_size; /* bytes, power of two, 4 KiB .. 1 MiB */
        } rootfs;
        struct {
                const char *label;
                mk_encryption encryption;
                const char *cipher;
                mk_pbkdf pbkdf;
                mk_key_source key_source;
        } data;
        struct {
                const char *console; /* e.g. "ttyS0,115200" */
                const char *cmdline; /* extra kernel options or NULL */
        } boot;
        /*
         * secure-boot: off, or {key, certificate, enroll-keys, stub}
         * (docs/secure-boot.md). Paths resolved from the model's folder; NULL
         * when not given (the CLI's --sb-key, --sb-cert, --sb-enroll may
         * give them).
         */
        struct {
                mk_secure_boot mode;
                char *key, *cert;
                char *enroll; /* folder with PK.auth, KEK.auth, db.auth: development images only */
                char *stub;   /* systemd's EFI stub; NULL: systemd-boot-efi's */
        } secure_boot;
        struct {
                const char **fields; /* per-device values `mkimage factory` accepts besides serial */
                size_t n_fields;
        } factory;
} mk_model;

/*
 * Load and validate a model. On success *ret is a new model (mk_model_free).
 * On failure *ret is untouched and err holds "FILE:LINE:COL: what (fix)".
 * Paths are resolved, not opened: the layout, keys and components are read by
 * the stages that use them.
 */
int mk_model_load(const char *path, mk_model **ret, mk_error *err) __attribute__((warn_unused_result));

/* NULL allowed; returns NULL. */
mk_model *mk_model_free(mk_model *m);

const char *mk_arch_name(mk_arch a);
/* The DPS architecture suffix: "x86-64", "arm64", "riscv64". */
const char *mk_arch_dps(mk_arch a);
const char *mk_compressor_name(mk_compressor c);

/* Find a trusted key by model name; NULL if absent. */
const mk_trusted_key *mk_model_find_key(const mk_model *m, const char *name);

#endif
