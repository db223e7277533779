/* SPDX-License-Identifier: MIT */
/* Public keys (.pub files) and sets of trusted public keys. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "signing/minisign/minisign-internal.h"

struct mk_keyset {
        mk_pubkey **keys;
        size_t n;
};

int mk_ms_pubkey_new(const uint8_t id[MK_KEYID_BYTES], const uint8_t pk[crypto_sign_PUBLICKEYBYTES], const char *origin,
                     mk_pubkey **ret_key, mk_error *err)
{
        mk_pubkey *k = calloc(1, sizeof(*k));
        if (!k || !(k->origin = strdup(origin))) {
                free(k);
                return mk_error_set(err, ENOMEM, "%s: out of memory", origin);
        }
        memcpy(k->id, id, MK_KEYID_BYTES);
        memcpy(k->pk, pk, crypto_sign_PUBLICKEYBYTES);
        mk_keyid_format(k->id, k->id_str);
        *ret_key = k;
        return 0;
}

void mk_ms_pubkey_text(const uint8_t id[MK_KEYID_BYTES], const uint8_t pk[crypto_sign_PUBLICKEYBYTES],
                       char out[MS_PUB_TEXT_SIZE])
{
        struct ms_pub_raw raw;
        memcpy(raw.sig_alg, MS_ALG_ED25519, 2);
        memcpy(raw.keyid, id, MK_KEYID_BYTES);
        memcpy(raw.pk, pk, sizeof(raw.pk));
        char id_str[MK_KEYID_STR_SIZE];
        char b64[sodium_base64_ENCODED_LEN(sizeof(raw), sodium_base64_VARIANT_ORIGINAL)];
        mk_keyid_format(id, id_str);
        mk_ms_base64(b64, sizeof(b64), &raw, sizeof(raw));
        snprintf(out, MS_PUB_TEXT_SIZE, MS_UNTRUSTED_PREFIX "minisign public key %s\n%s\n", id_str, b64);
}

static int pubkey_decode(const char *name, const ms_line *line, unsigned lineno, mk_pubkey **ret_key, mk_error *err)
{
        struct ms_pub_raw raw;
        int r = mk_ms_decode_line(name, &mk_ms_kind_pub, line, lineno, "key", &raw, sizeof(raw), err);
        if (r < 0)
                return r;
        r = mk_ms_check_alg(name, &mk_ms_kind_pub, lineno, "key", raw.sig_alg, MS_ALG_ED25519, "Ed25519", err);
        if (r < 0)
                return r;
        return mk_ms_pubkey_new(raw.keyid, raw.pk, name, ret_key, err);
}

int mk_pubkey_parse(const char *name, const void *buf, size_t len, mk_pubkey **ret_key, mk_error *err)
{
        ms_line lines[2];
        int r = mk_ms_split_lines(name, &mk_ms_kind_pub, buf, len, lines, err);
        if (r < 0)
                return r;
        r = mk_ms_check_comment_line(name, &mk_ms_kind_pub, &lines[0], 1, MS_UNTRUSTED_PREFIX, MS_UNTRUSTED_LINE_MAX,
                                     err);
        if (r < 0)
                return r;
        return pubkey_decode(name, &lines[1], 2, ret_key, err);
}

int mk_pubkey_from_base64(const char *name, const char *b64, mk_pubkey **ret_key, mk_error *err)
{
        ms_line line = {b64, strlen(b64)};
        return pubkey_decode(name, &line, 1, ret_key, err);
}

int mk_pubkey_load(const char *path, mk_pubkey **ret_key, mk_error *err)
{
        char *buf = NULL;
        size_t len = 0;
        int r = mk_ms_read_file(path, &mk_ms_kind_pub, false, &buf, &len, err);
        if (r < 0)
                return r;
        r = mk_pubkey_parse(path, buf, len, ret_key, err);
        free(buf);
        return r;
}

const uint8_t *mk_pubkey_id(const mk_pubkey *key)
{
        return key->id;
}

const char *mk_pubkey_id_str(const mk_pubkey *key)
{
        return key->id_str;
}

const char *mk_pubkey_origin(const mk_pubkey *key)
{
        return key->origin;
}

mk_pubkey *mk_pubkey_free(mk_pubkey *key)
{
        if (key) {
                free(key->origin);
                free(key);
        }
        return NULL;
}

int mk_keyset_new(mk_keyset **ret_set, mk_error *err)
{
        mk_keyset *s = calloc(1, sizeof(*s));
        if (!s)
                return mk_error_set(err, ENOMEM, "out of memory for a key set");
        *ret_set = s;
        return 0;
}

const mk_pubkey *mk_ms_find_key(const mk_pubkey *const *keys, size_t n, const uint8_t id[MK_KEYID_BYTES])
{
        for (size_t i = 0; i < n; i++)
                if (sodium_memcmp(keys[i]->id, id, MK_KEYID_BYTES) == 0)
                        return keys[i];
        return NULL;
}

const mk_pubkey *mk_keyset_find(const mk_keyset *set, const uint8_t id[MK_KEYID_BYTES])
{
        return mk_ms_find_key((const mk_pubkey *const *)set->keys, set->n, id);
}

int mk_keyset_add(mk_keyset *set, mk_pubkey *key, mk_error *err)
{
        const mk_pubkey *old = mk_keyset_find(set, key->id);
        if (old && sodium_memcmp(old->pk, key->pk, sizeof(key->pk)) == 0) {
                mk_pubkey_free(key);
                return 0;
        }
        if (old)
                return mk_error_set(err, EEXIST,
                                    "%s: key id %s is already trusted with a different public key "
                                    "(from %s): two trusted keys cannot share a key id, remove one",
                                    key->origin, key->id_str, old->origin);
        mk_pubkey **keys = reallocarray(set->keys, set->n + 1, sizeof(*keys));
        if (!keys)
                return mk_error_set(err, ENOMEM, "%s: out of memory", key->origin);
        keys[set->n++] = key;
        set->keys = keys;
        return 0;
}

int mk_keyset_add_file(mk_keyset *set, const char *path, mk_error *err)
{
        _cleanup_pubkey_ mk_pubkey *key = NULL;
        int r = mk_pubkey_load(path, &key, err);
        if (r < 0)
                return r;
        r = mk_keyset_add(set, key, err);
        if (r < 0)
                return r;
        key = NULL; /* owned by the set now */
        return 0;
}

size_t mk_keyset_size(const mk_keyset *set)
{
        return set->n;
}

mk_keyset *mk_keyset_free(mk_keyset *set)
{
        if (set) {
                for (size_t i = 0; i < set->n; i++)
                        mk_pubkey_free(set->keys[i]);
                free(set->keys);
                free(set);
        }
        return NULL;
}

const mk_pubkey *const *mk_ms_keyset_keys(const mk_keyset *set, size_t *ret_n)
{
        *ret_n = set->n;
        return (const mk_pubkey *const *)set->keys;
}
