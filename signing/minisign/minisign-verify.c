/* SPDX-License-Identifier: MIT */
/*
 * Verifying .minisig signatures. Order, cheapest refusal first: parse the
 * signature file completely, look its key id up among the trusted keys,
 * then hash the data, then check the signature and the global signature.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "signing/minisign/minisign-internal.h"

#define TRUSTED_LINE_MAX (sizeof(MS_TRUSTED_PREFIX) - 1 + MK_TRUSTED_COMMENT_MAX)

typedef struct ms_sig {
        struct ms_sig_raw raw;
        uint8_t global[crypto_sign_BYTES];
        const char *comment; /* into the signature text, not NUL-terminated */
        size_t comment_len;
} ms_sig;

/* What is verified: a buffer, or the file at path (then buf is unused). */
typedef struct ms_data {
        const char *name;
        const void *buf;
        size_t len;
        bool is_file;
        const uint8_t *prehash; /* of the file, computed beforehand, or NULL */
} ms_data;

const char *mk_verify_result_str(mk_verify_result r)
{
        static const char *const names[] = {
                [MK_VERIFY_OK] = "ok",
                [MK_VERIFY_ERROR_IO] = "io-error",
                [MK_VERIFY_ERROR_MALFORMED] = "malformed",
                [MK_VERIFY_ERROR_UNTRUSTED] = "untrusted-key",
                [MK_VERIFY_ERROR_SIGNATURE] = "bad-signature",
                [MK_VERIFY_ERROR_COMMENT] = "bad-comment",
        };
        if ((unsigned)r < ELEMENTSOF(names))
                return names[r];
        return "unknown";
}

void mk_verified_done(mk_verified *v)
{
        if (!v)
                return;
        free(v->trusted_comment);
        *v = (mk_verified){0};
}

static int sig_parse(const char *name, const char *buf, size_t len, ms_sig *sig, mk_error *err)
{
        const ms_kind *k = &mk_ms_kind_sig;
        ms_line l[4];
        int r = mk_ms_split_lines(name, k, buf, len, l, err);
        if (r >= 0)
                r = mk_ms_check_comment_line(name, k, &l[0], 1, MS_UNTRUSTED_PREFIX, MS_UNTRUSTED_LINE_MAX, err);
        if (r >= 0)
                r = mk_ms_decode_line(name, k, &l[1], 2, "signature", &sig->raw, sizeof(sig->raw), err);
        if (r < 0)
                return r;
        if (sodium_memcmp(sig->raw.sig_alg, MS_ALG_PREHASHED, 2) != 0 &&
            sodium_memcmp(sig->raw.sig_alg, MS_ALG_ED25519, 2) != 0) {
                char alg[MS_ALG_STR_SIZE];
                mk_ms_alg_str(sig->raw.sig_alg, alg);
                return mk_error_set(err, EBADMSG,
                                    "%s:2: signature algorithm is %s, neither 'ED' (prehashed) nor "
                                    "'Ed' (legacy): not a minisign signature (re-sign the file)",
                                    name, alg);
        }
        r = mk_ms_check_comment_line(name, k, &l[2], 3, MS_TRUSTED_PREFIX, TRUSTED_LINE_MAX, err);
        if (r >= 0)
                r = mk_ms_decode_line(name, k, &l[3], 4, "global signature", sig->global, sizeof(sig->global), err);
        if (r < 0)
                return r;
        sig->comment = l[2].p + sizeof(MS_TRUSTED_PREFIX) - 1;
        sig->comment_len = l[2].len - (sizeof(MS_TRUSTED_PREFIX) - 1);
        return 0;
}

static mk_verify_result untrusted(const mk_pubkey *const *keys, size_t n, const char *data_name, const char *sig_name,
                                  const uint8_t id[MK_KEYID_BYTES], mk_error *err)
{
        char id_str[MK_KEYID_STR_SIZE], list[256] = "";
        mk_keyid_format(id, id_str);
        size_t used = 0;
        for (size_t i = 0; i < n && used + MK_KEYID_STR_SIZE + 8 < sizeof(list); i++)
                used += (size_t)snprintf(list + used, sizeof(list) - used, "%s%s", i ? ", " : "", keys[i]->id_str);
        if (n > 0 && used + MK_KEYID_STR_SIZE + 8 >= sizeof(list))
                snprintf(list + used, sizeof(list) - used, ", ...");
        mk_error_set(err, ENOKEY,
                     "%s: signed by key %s, which is not a trusted key (trusted: %s): verify %s "
                     "with that key's public key, or re-sign it with a trusted key",
                     sig_name, id_str, n ? list : "none", data_name);
        return MK_VERIFY_ERROR_UNTRUSTED;
}

/* The file's bytes for a legacy "Ed" signature: Ed25519 needs the whole
 * message, so map it rather than read it into memory. */
static int map_file(const char *path, void **ret_map, size_t *ret_len, mk_error *err)
{
        _cleanup_close_ int fd = -1;
        struct stat st;
        int r = mk_ms_open(path, NULL, &fd, &st, err);
        if (r < 0)
                return r;
        if (!S_ISREG(st.st_mode))
                return mk_error_set(err, EINVAL,
                                    "%s: not a regular file: a legacy ('Ed') signature can only be "
                                    "checked on a regular file",
                                    path);
        if (st.st_size == 0) {
                *ret_map = NULL;
                *ret_len = 0;
                return 0;
        }
        void *m = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (m == MAP_FAILED)
                return mk_error_set(err, errno, "%s: cannot map: %s", path, strerror(errno));
        *ret_map = m;
        *ret_len = (size_t)st.st_size;
        return 0;
}

/* Check sig->raw.sig over the data with key: 0 valid, 1 invalid, <0 I/O. */
static int check_data(const ms_sig *sig, const mk_pubkey *key, const ms_data *d, mk_error *err)
{
        bool prehashed = sodium_memcmp(sig->raw.sig_alg, MS_ALG_PREHASHED, 2) == 0;
        uint8_t ph[MS_PREHASH_BYTES];
        const void *msg = d->buf;
        size_t len = d->len;
        void *map = NULL;
        int r = 0;
        if (prehashed) {
                if (d->is_file && d->prehash)
                        memcpy(ph, d->prehash, sizeof(ph));
                else if (d->is_file)
                        r = mk_ms_hash_file(d->name, ph, err);
                else
                        crypto_generichash(ph, sizeof(ph), d->buf, d->len, NULL, 0);
                msg = ph;
                len = sizeof(ph);
        } else if (d->is_file) {
                r = map_file(d->name, &map, &len, err);
                msg = map ? map : "";
        }
        if (r < 0)
                return r;
        r = crypto_sign_verify_detached(sig->raw.sig, msg, len, key->pk) == 0 ? 0 : 1;
        if (map)
                munmap(map, len);
        return r;
}

static mk_verify_result verify_core(const mk_pubkey *const *keys, size_t n, const ms_data *d, const char *sig_name,
                                    const char *sig_text, size_t sig_len, mk_verified *ret, mk_error *err)
{
        if (mk_ms_init(err) < 0)
                return MK_VERIFY_ERROR_IO;
        ms_sig sig;
        if (sig_parse(sig_name, sig_text, sig_len, &sig, err) < 0)
                return MK_VERIFY_ERROR_MALFORMED;
        const mk_pubkey *key = mk_ms_find_key(keys, n, sig.raw.keyid);
        if (!key)
                return untrusted(keys, n, d->name, sig_name, sig.raw.keyid, err);

        int r = check_data(&sig, key, d, err);
        if (r < 0)
                return MK_VERIFY_ERROR_IO;
        if (r > 0) {
                mk_error_set(err, EKEYREJECTED,
                             "%s: signature %s by key %s does not match: the file or its signature "
                             "was modified after signing, or %s is not the signer's public key",
                             d->name, sig_name, key->id_str, key->origin);
                return MK_VERIFY_ERROR_SIGNATURE;
        }

        uint8_t global_msg[crypto_sign_BYTES + MK_TRUSTED_COMMENT_MAX];
        memcpy(global_msg, sig.raw.sig, crypto_sign_BYTES);
        memcpy(global_msg + crypto_sign_BYTES, sig.comment, sig.comment_len);
        if (crypto_sign_verify_detached(sig.global, global_msg, crypto_sign_BYTES + sig.comment_len, key->pk) != 0) {
                mk_error_set(err, EKEYREJECTED,
                             "%s: the trusted comment or the global signature (lines 3 and 4) "
                             "does not verify with key %s: they were modified after signing "
                             "(get an intact copy of the signature)",
                             sig_name, key->id_str);
                return MK_VERIFY_ERROR_COMMENT;
        }

        char *comment = strndup(sig.comment, sig.comment_len);
        if (!comment) {
                mk_error_set(err, ENOMEM, "%s: out of memory", sig_name);
                return MK_VERIFY_ERROR_IO;
        }
        *ret = (mk_verified){
                .signer = key,
                .trusted_comment = comment,
                .legacy = sodium_memcmp(sig.raw.sig_alg, MS_ALG_ED25519, 2) == 0,
        };
        return MK_VERIFY_OK;
}

static mk_verify_result verify_file(const mk_pubkey *const *keys, size_t n, const char *path, const char *sig_path,
                                    const uint8_t *prehash, mk_verified *ret, mk_error *err)
{
        _cleanup_free_ char *sp = NULL;
        if (mk_ms_sig_path(path, sig_path, &sp, err) < 0)
                return MK_VERIFY_ERROR_IO;
        char *text = NULL;
        size_t len = 0;
        int r = mk_ms_read_file(sp, &mk_ms_kind_sig, false, &text, &len, err);
        if (r < 0)
                return r == -E2BIG ? MK_VERIFY_ERROR_MALFORMED : MK_VERIFY_ERROR_IO;
        ms_data d = {.name = path, .is_file = true, .prehash = prehash};
        mk_verify_result res = verify_core(keys, n, &d, sp, text, len, ret, err);
        free(text);
        return res;
}

mk_verify_result mk_verify_buffer(const mk_keyset *set, const char *data_name, const void *data, size_t len,
                                  const char *sig_name, const void *sig, size_t sig_len, mk_verified *ret,
                                  mk_error *err)
{
        size_t n;
        const mk_pubkey *const *keys = mk_ms_keyset_keys(set, &n);
        ms_data d = {.name = data_name, .buf = data, .len = len};
        return verify_core(keys, n, &d, sig_name, sig, sig_len, ret, err);
}

mk_verify_result mk_verify_file(const mk_keyset *set, const char *path, const char *sig_path, mk_verified *ret,
                                mk_error *err)
{
        size_t n;
        const mk_pubkey *const *keys = mk_ms_keyset_keys(set, &n);
        return verify_file(keys, n, path, sig_path, NULL, ret, err);
}

mk_verify_result mk_verify_file_prehashed(const mk_keyset *set, const char *path, const char *sig_path,
                                          const uint8_t *prehash, mk_verified *ret, mk_error *err)
{
        size_t n;
        const mk_pubkey *const *keys = mk_ms_keyset_keys(set, &n);
        return verify_file(keys, n, path, sig_path, prehash, ret, err);
}

int mk_prehash_file(const char *path, uint8_t out[MK_PREHASH_BYTES], mk_error *err)
{
        _Static_assert(MK_PREHASH_BYTES == MS_PREHASH_BYTES, "prehash size");
        int r = mk_ms_init(err);
        return r < 0 ? r : mk_ms_hash_file(path, out, err);
}

mk_verify_result mk_verify_buffer_with_key(const mk_pubkey *key, const char *data_name, const void *data, size_t len,
                                           const char *sig_name, const void *sig, size_t sig_len, mk_verified *ret,
                                           mk_error *err)
{
        ms_data d = {.name = data_name, .buf = data, .len = len};
        return verify_core(&key, 1, &d, sig_name, sig, sig_len, ret, err);
}

mk_verify_result mk_verify_file_with_key(const mk_pubkey *key, const char *path, const char *sig_path, mk_verified *ret,
                                         mk_error *err)
{
        return verify_file(&key, 1, path, sig_path, NULL, ret, err);
}
