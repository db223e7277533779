/* SPDX-License-Identifier: MIT */
/*
 * Deterministic UUIDs: a keyed BLAKE2b of (purpose, name) with a key derived
 * from the model's brand and name, formatted as an RFC 4122 version-4
 * (random-looking) UUID. The same model always gets the same disk and
 * partition GUIDs; different models get unrelated ones. No randomness.
 */
#ifndef MK_UUID_H
#define MK_UUID_H

#include <stddef.h>
#include <stdint.h>

/* Writes a 36-character upper-case UUID + NUL into out[37]. */
void mk_uuid_derive(const char *brand, const char *model, const char *purpose, const char *name, char out[37]);

/* Derive n bytes (n <= 64) for another purpose (salts, seeds), same keying. */
void mk_derive_bytes(const char *brand, const char *model, const char *purpose, const char *name, uint8_t *out,
                     size_t n);

#endif
