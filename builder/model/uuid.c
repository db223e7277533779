/* SPDX-License-Identifier: MIT */
#include "builder/model/uuid.h"

#include <sodium.h>
#include <stdio.h>
#include <string.h>

void mk_derive_bytes(const char *brand, const char *model, const char *purpose, const char *name, uint8_t *out,
                     size_t n)
{
        /* key = BLAKE2b-256("mkimage-derive-v1" 0 brand 0 model) */
        uint8_t key[crypto_generichash_KEYBYTES];
        crypto_generichash_state st;
        static const char tag[] = "mkimage-derive-v1";
        crypto_generichash_init(&st, NULL, 0, sizeof(key));
        crypto_generichash_update(&st, (const uint8_t *)tag, sizeof(tag));
        crypto_generichash_update(&st, (const uint8_t *)brand, strlen(brand) + 1);
        crypto_generichash_update(&st, (const uint8_t *)model, strlen(model) + 1);
        crypto_generichash_final(&st, key, sizeof(key));

        crypto_generichash_init(&st, key, sizeof(key), n);
        crypto_generichash_update(&st, (const uint8_t *)purpose, strlen(purpose) + 1);
        crypto_generichash_update(&st, (const uint8_t *)name, strlen(name) + 1);
        crypto_generichash_final(&st, out, n);
}

void mk_uuid_derive(const char *brand, const char *model, const char *purpose, const char *name, char out[37])
{
        uint8_t u[16];
        mk_derive_bytes(brand, model, purpose, name, u, sizeof(u));
        u[6] = (uint8_t)((u[6] & 0x0f) | 0x40); /* version 4 */
        u[8] = (uint8_t)((u[8] & 0x3f) | 0x80); /* RFC 4122 variant */
        snprintf(out, 37, "%02X%02X%02X%02X-%02X%02X-%02X%02X-%02X%02X-%02X%02X%02X%02X%02X%02X", u[0], u[1], u[2],
                 u[3], u[4], u[5], u[6], u[7], u[8], u[9], u[10], u[11], u[12], u[13], u[14], u[15]);
}
