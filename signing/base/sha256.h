/* SPDX-License-Identifier: MIT */
/*
 * SHA-256 (FIPS 180-4) for the trust core: the x86 SHA extensions where the
 * CPU has them (about five times libsodium's portable code, which the core
 * used before: docs/update.md, "Speed"), else portable C. Both give the
 * same digests; tests/unit/test-sha256.c checks them against libsodium and
 * the standard's test vectors.
 */
#ifndef MK_SHA256_H
#define MK_SHA256_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MK_SHA256_BYTES 32

typedef struct mk_sha256_ctx {
        uint32_t h[8];
        uint8_t buf[64];
        uint64_t len; /* bytes hashed so far */
} mk_sha256_ctx;

void mk_sha256_init(mk_sha256_ctx *c);
void mk_sha256_update(mk_sha256_ctx *c, const void *data, size_t len);
void mk_sha256_final(mk_sha256_ctx *c, uint8_t out[MK_SHA256_BYTES]);
/* The digest of len bytes at data, in one call. */
void mk_sha256(const void *data, size_t len, uint8_t out[MK_SHA256_BYTES]);
/* The same, as 64 lowercase hex digits and a NUL. */
void mk_sha256_hex(const void *data, size_t len, char hex[2 * MK_SHA256_BYTES + 1]);

/* Does this process use the CPU's SHA extensions? */
bool mk_sha256_accelerated(void);
/* Tests: use the portable code even where the extensions exist (true), or choose again (false). */
void mk_sha256_force_portable(bool on);

#endif
