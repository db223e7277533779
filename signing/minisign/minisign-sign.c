/* SPDX-License-Identifier: MIT */
/* Signing: prehashed ("ED") signatures and their four-line .minisig text. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "signing/base/epoch.h"
#include "signing/minisign/minisign-internal.h"

int mk_default_trusted_comment(const char *name, char **ret_text, mk_error *err)
{
        /* Determinism: the time is SOURCE_DATE_EPOCH, never the clock. */
        uint64_t ts;
        int r = mk_source_date_epoch(UINT64_MAX, &ts, err);
        if (r < 0)
                return r;
        const char *slash = strrchr(name, '/');
        const char *base = slash ? slash + 1 : name;
        char *text;
        if (asprintf(&text, "timestamp:%llu\tfile:%s\thashed", (unsigned long long)ts, base) < 0)
                return mk_error_set(err, ENOMEM, "%s: out of memory", name);
        *ret_text = text;
        return 0;
}

/* The trusted comment to use: the caller's, or the default; checked. */
static int trusted_comment(const char *name, const char *given, char **ret_owned, const char **ret_text, mk_error *err)
{
        char *owned = NULL;
        if (!given) {
                int r = mk_default_trusted_comment(name, &owned, err);
                if (r < 0)
                        return r;
                given = owned;
        }
        size_t n = strlen(given);
        int r = 0;
        if (n > MK_TRUSTED_COMMENT_MAX)
                r = mk_error_set(err, E2BIG,
                                 "%s: the trusted comment is %zu bytes, longer than the %d bytes "
                                 "minisign allows: shorten it",
                                 name, n, MK_TRUSTED_COMMENT_MAX);
        else if (strpbrk(given, "\r\n"))
                r = mk_error_set(err, EINVAL,
                                 "%s: the trusted comment contains a line break: it must be one "
                                 "line, remove the newline",
                                 name);
        if (r < 0) {
                free(owned);
                return r;
        }
        *ret_owned = owned;
        *ret_text = given;
        return 0;
}

/* The .minisig text for the BLAKE2b-512 prehash ph of the data. */
static int sign_prehash(const mk_seckey *key, const char *name, const uint8_t ph[MS_PREHASH_BYTES], const char *comment,
                        char **ret_text, mk_error *err)
{
        struct ms_sig_raw raw;
        memcpy(raw.sig_alg, MS_ALG_PREHASHED, 2);
        memcpy(raw.keyid, key->id, MK_KEYID_BYTES);
        crypto_sign_detached(raw.sig, NULL, ph, MS_PREHASH_BYTES, key->sk);

        /* The global signature covers sig[64] | comment text. */
        size_t clen = strlen(comment);
        uint8_t global_msg[crypto_sign_BYTES + MK_TRUSTED_COMMENT_MAX];
        uint8_t global[crypto_sign_BYTES];
        memcpy(global_msg, raw.sig, crypto_sign_BYTES);
        memcpy(global_msg + crypto_sign_BYTES, comment, clen);
        crypto_sign_detached(global, NULL, global_msg, crypto_sign_BYTES + clen, key->sk);

        char sig_b64[sodium_base64_ENCODED_LEN(sizeof(raw), sodium_base64_VARIANT_ORIGINAL)];
        char global_b64[sodium_base64_ENCODED_LEN(sizeof(global), sodium_base64_VARIANT_ORIGINAL)];
        mk_ms_base64(sig_b64, sizeof(sig_b64), &raw, sizeof(raw));
        mk_ms_base64(global_b64, sizeof(global_b64), global, sizeof(global));
        char *text;
        if (asprintf(&text,
                     MS_UNTRUSTED_PREFIX "signature from mkimage secret key %s\n%s\n" MS_TRUSTED_PREFIX "%s\n%s\n",
                     key->id_str, sig_b64, comment, global_b64) < 0)
                return mk_error_set(err, ENOMEM, "%s: out of memory", name);
        *ret_text = text;
        return 0;
}

int mk_sign_buffer(const mk_seckey *key, const char *name, const void *data, size_t len,
                   const char *trusted_comment_text, char **ret_sig_text, mk_error *err)
{
        int r = mk_ms_init(err);
        if (r < 0)
                return r;
        _cleanup_free_ char *owned = NULL;
        const char *comment;
        r = trusted_comment(name, trusted_comment_text, &owned, &comment, err);
        if (r < 0)
                return r;
        uint8_t ph[MS_PREHASH_BYTES];
        crypto_generichash(ph, sizeof(ph), data, len, NULL, 0);
        return sign_prehash(key, name, ph, comment, ret_sig_text, err);
}

int mk_sign_file(const mk_seckey *key, const char *path, const char *sig_path, const char *trusted_comment_text,
                 mk_error *err)
{
        int r = mk_ms_init(err);
        if (r < 0)
                return r;
        _cleanup_free_ char *out = NULL, *owned = NULL, *text = NULL;
        r = mk_ms_sig_path(path, sig_path, &out, err);
        if (r < 0)
                return r;
        const char *comment;
        r = trusted_comment(path, trusted_comment_text, &owned, &comment, err);
        if (r < 0)
                return r;
        uint8_t ph[MS_PREHASH_BYTES];
        r = mk_ms_hash_file(path, ph, err);
        if (r < 0)
                return r;
        r = sign_prehash(key, path, ph, comment, &text, err);
        if (r < 0)
                return r;
        return mk_ms_write_atomic(out, text, strlen(text), 0644, err);
}
