/* SPDX-License-Identifier: MIT */
/*
 * Secret keys: generation, the unencrypted and scrypt-encrypted minisign
 * key files. Every buffer that holds key bytes, decoded or base64, comes
 * from sodium_malloc and is wiped by sodium_free.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "signing/minisign/minisign-internal.h"

#define SEC_TEXT_SIZE 512

static uint64_t le64_load(const uint8_t b[8])
{
        uint64_t v = 0;
        for (size_t i = 8; i-- > 0;)
                v = (v << 8) | b[i];
        return v;
}

/* Whether raw->chk is BLAKE2b-256 of sig_alg | key id | sk, minisign's "B2"
 * checksum; compared in constant time. */
static bool sec_checksum_ok(const struct ms_sec_raw *raw)
{
        uint8_t chk[crypto_generichash_BYTES];
        crypto_generichash_state st;
        crypto_generichash_init(&st, NULL, 0, sizeof(chk));
        crypto_generichash_update(&st, raw->sig_alg, sizeof(raw->sig_alg));
        crypto_generichash_update(&st, raw->keyid, sizeof(raw->keyid));
        crypto_generichash_update(&st, raw->sk, sizeof(raw->sk));
        crypto_generichash_final(&st, chk, sizeof(chk));
        bool ok = sodium_memcmp(chk, raw->chk, sizeof(chk)) == 0;
        sodium_memzero(&st, sizeof(st));
        sodium_memzero(chk, sizeof(chk));
        return ok;
}

static int seckey_new(const uint8_t id[MK_KEYID_BYTES], mk_seckey **ret_key, mk_error *err)
{
        mk_seckey *k = sodium_malloc(sizeof(*k));
        if (!k)
                return mk_error_set(err, ENOMEM, "out of secure memory for a secret key");
        memcpy(k->id, id, MK_KEYID_BYTES);
        mk_keyid_format(k->id, k->id_str);
        *ret_key = k;
        return 0;
}

int mk_seckey_generate(mk_seckey **ret_key, mk_error *err)
{
        int r = mk_ms_init(err);
        if (r < 0)
                return r;
        uint8_t id[MK_KEYID_BYTES], pk[crypto_sign_PUBLICKEYBYTES];
        randombytes_buf(id, sizeof(id));
        mk_seckey *k = NULL;
        r = seckey_new(id, &k, err);
        if (r < 0)
                return r;
        crypto_sign_keypair(pk, k->sk);
        *ret_key = k;
        return 0;
}

mk_seckey *mk_seckey_free(mk_seckey *key)
{
        sodium_free(key);
        return NULL;
}

const uint8_t *mk_seckey_id(const mk_seckey *key)
{
        return key->id;
}

const char *mk_seckey_id_str(const mk_seckey *key)
{
        return key->id_str;
}

int mk_seckey_public(const mk_seckey *key, mk_pubkey **ret_key, mk_error *err)
{
        /* libsodium's secret key is seed[32] | pk[32]. */
        return mk_ms_pubkey_new(key->id, key->sk + crypto_sign_SEEDBYTES, "secret key", ret_key, err);
}

/* The unencrypted key file text, in secure memory. */
static int seckey_text(const mk_seckey *key, char **ret_text, mk_error *err)
{
        _cleanup_sodium_ struct ms_sec_raw *raw = sodium_malloc(sizeof(*raw));
        _cleanup_sodium_ char *b64 =
                sodium_malloc(sodium_base64_ENCODED_LEN(sizeof(*raw), sodium_base64_VARIANT_ORIGINAL));
        char *text = sodium_malloc(SEC_TEXT_SIZE);
        if (!raw || !b64 || !text) {
                sodium_free(text);
                return mk_error_set(err, ENOMEM, "out of secure memory for a secret key");
        }
        /* kdf 00 00, zero salt, limits and checksum: what minisign 0.11 -W writes. */
        memset(raw, 0, sizeof(*raw));
        memcpy(raw->sig_alg, MS_ALG_ED25519, 2);
        memcpy(raw->chk_alg, MS_CHK_BLAKE2B, 2);
        memcpy(raw->keyid, key->id, MK_KEYID_BYTES);
        memcpy(raw->sk, key->sk, sizeof(raw->sk));
        mk_ms_base64(b64, sodium_base64_ENCODED_LEN(sizeof(*raw), sodium_base64_VARIANT_ORIGINAL), raw, sizeof(*raw));
        snprintf(text, SEC_TEXT_SIZE, MS_UNTRUSTED_PREFIX "minisign unencrypted secret key %s (mkimage)\n%s\n",
                 key->id_str, b64);
        *ret_text = text;
        return 0;
}

static int create_excl(const char *path, mode_t mode, int *ret_fd, mk_error *err)
{
        int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode);
        if (fd < 0 && errno == EEXIST)
                return mk_error_set(err, EEXIST,
                                    "%s: already exists: keygen never overwrites a key, remove it "
                                    "or choose another PREFIX",
                                    path);
        if (fd < 0)
                return mk_error_set(err, errno,
                                    "%s: cannot create: %s (check that the directory exists and "
                                    "is writable)",
                                    path, strerror(errno));
        *ret_fd = fd;
        return 0;
}

static int write_key_file(int fd, const char *path, const char *text, mode_t mode, mk_error *err)
{
        int r = mk_ms_write_all(fd, path, text, strlen(text), err);
        if (r < 0)
                return r;
        if (fchmod(fd, mode) < 0 || fsync(fd) < 0)
                return mk_error_set(err, errno, "%s: cannot write: %s", path, strerror(errno));
        return 0;
}

int mk_seckey_text(const mk_seckey *key, char **ret_text, mk_error *err)
{
        return seckey_text(key, ret_text, err);
}

void mk_seckey_pub_text(const mk_seckey *key, char out[MK_PUB_TEXT_SIZE])
{
        mk_ms_pubkey_text(key->id, key->sk + crypto_sign_SEEDBYTES, out);
}

int mk_keypair_write(const mk_seckey *key, const char *prefix, mk_error *err)
{
        _cleanup_free_ char *key_path = NULL, *pub_path = NULL;
        if (asprintf(&key_path, "%s.key", prefix) < 0 || asprintf(&pub_path, "%s.pub", prefix) < 0)
                return mk_error_set(err, ENOMEM, "%s: out of memory", prefix);
        _cleanup_sodium_ char *sec_text = NULL;
        int r = seckey_text(key, &sec_text, err);
        if (r < 0)
                return r;
        char pub_text[MS_PUB_TEXT_SIZE];
        mk_ms_pubkey_text(key->id, key->sk + crypto_sign_SEEDBYTES, pub_text);

        /* Claim both names before writing either, so that an existing
         * PREFIX.pub leaves no new PREFIX.key behind. */
        _cleanup_close_ int kfd = -1, pfd = -1;
        r = create_excl(key_path, 0600, &kfd, err);
        if (r < 0)
                return r;
        r = create_excl(pub_path, 0644, &pfd, err);
        if (r < 0) {
                unlink(key_path);
                return r;
        }
        r = write_key_file(kfd, key_path, sec_text, 0600, err);
        if (r >= 0)
                r = write_key_file(pfd, pub_path, pub_text, 0644, err);
        if (r >= 0 && close(TAKE_FD(kfd)) < 0)
                r = mk_error_set(err, errno, "%s: cannot write: %s", key_path, strerror(errno));
        if (r >= 0 && close(TAKE_FD(pfd)) < 0)
                r = mk_error_set(err, errno, "%s: cannot write: %s", pub_path, strerror(errno));
        if (r < 0) {
                unlink(key_path);
                unlink(pub_path);
        }
        return r;
}

/* Undo the "Sc" encryption of raw in place with passphrase. */
static int seckey_decrypt(const char *name, struct ms_sec_raw *raw, const char *passphrase, mk_error *err)
{
        if (!passphrase)
                return mk_error_set(err, ENOKEY,
                                    "%s: secret key is encrypted: set " MK_KEY_PASSPHRASE_ENV
                                    " to its passphrase (mkimage never prompts), or use an "
                                    "unencrypted key ('mkimage keygen' or 'minisign -G -W')",
                                    name);
        uint64_t ops = le64_load(raw->kdf_opslimit_le), mem = le64_load(raw->kdf_memlimit_le);
        /* minisign encrypts with the "sensitive" limits; a file asking for
         * more could make us spend unbounded time and memory. */
        if (ops > crypto_pwhash_scryptsalsa208sha256_OPSLIMIT_SENSITIVE ||
            mem > crypto_pwhash_scryptsalsa208sha256_MEMLIMIT_SENSITIVE)
                return mk_error_set(err, E2BIG,
                                    "%s:2: scrypt limits (opslimit %llu, memlimit %llu) exceed "
                                    "minisign's (%llu, %llu): not a key minisign wrote; re-encrypt "
                                    "it with 'minisign -C'",
                                    name, (unsigned long long)ops, (unsigned long long)mem,
                                    (unsigned long long)crypto_pwhash_scryptsalsa208sha256_OPSLIMIT_SENSITIVE,
                                    (unsigned long long)crypto_pwhash_scryptsalsa208sha256_MEMLIMIT_SENSITIVE);
        _cleanup_sodium_ uint8_t *stream = sodium_malloc(MS_SEC_ENCRYPTED_BYTES);
        if (!stream)
                return mk_error_set(err, ENOMEM, "out of secure memory for a secret key");
        if (crypto_pwhash_scryptsalsa208sha256(stream, MS_SEC_ENCRYPTED_BYTES, passphrase, strlen(passphrase),
                                               raw->kdf_salt, ops, (size_t)mem) != 0)
                return mk_error_set(err, ENOMEM,
                                    "%s: scrypt key derivation failed (it needs up to %llu bytes "
                                    "of memory): free some memory and retry",
                                    name, (unsigned long long)mem);
        uint8_t *p = raw->keyid;
        for (size_t i = 0; i < MS_SEC_ENCRYPTED_BYTES; i++)
                p[i] ^= stream[i];
        if (!sec_checksum_ok(raw))
                return mk_error_set(err, EKEYREJECTED,
                                    "%s: wrong passphrase in " MK_KEY_PASSPHRASE_ENV
                                    ": the key's checksum does not match after decryption (set "
                                    "the passphrase the key was created with; or the key file is "
                                    "damaged)",
                                    name);
        return 0;
}

/* An unencrypted key: chk is zero (minisign 0.11) or the real checksum. */
static int seckey_check_plain(const char *name, const struct ms_sec_raw *raw, mk_error *err)
{
        static const uint8_t zero[crypto_generichash_BYTES];
        if (sodium_memcmp(raw->chk, zero, sizeof(zero)) == 0)
                return 0;
        if (!sec_checksum_ok(raw))
                return mk_error_set(err, EBADMSG,
                                    "%s:2: the key's checksum does not match its contents: the "
                                    "secret key is damaged (restore it from a backup)",
                                    name);
        return 0;
}

/* The public half stored in sk must be the one its seed gives. */
static int seckey_check_pair(const char *name, const uint8_t sk[crypto_sign_SECRETKEYBYTES], mk_error *err)
{
        uint8_t pk[crypto_sign_PUBLICKEYBYTES];
        _cleanup_sodium_ uint8_t *sk2 = sodium_malloc(crypto_sign_SECRETKEYBYTES);
        if (!sk2)
                return mk_error_set(err, ENOMEM, "out of secure memory for a secret key");
        crypto_sign_seed_keypair(pk, sk2, sk);
        if (sodium_memcmp(pk, sk + crypto_sign_SEEDBYTES, sizeof(pk)) != 0)
                return mk_error_set(err, EBADMSG,
                                    "%s:2: the public half of the secret key does not match its "
                                    "seed: the key is damaged (restore it from a backup)",
                                    name);
        return 0;
}

int mk_seckey_parse(const char *name, const void *buf, size_t len, const char *passphrase, mk_seckey **ret_key,
                    mk_error *err)
{
        int r = mk_ms_init(err);
        if (r < 0)
                return r;
        ms_line lines[2];
        r = mk_ms_split_lines(name, &mk_ms_kind_sec, buf, len, lines, err);
        if (r < 0)
                return r;
        r = mk_ms_check_comment_line(name, &mk_ms_kind_sec, &lines[0], 1, MS_UNTRUSTED_PREFIX, MS_UNTRUSTED_LINE_MAX,
                                     err);
        if (r < 0)
                return r;
        _cleanup_sodium_ struct ms_sec_raw *raw = sodium_malloc(sizeof(*raw));
        if (!raw)
                return mk_error_set(err, ENOMEM, "out of secure memory for a secret key");
        r = mk_ms_decode_line(name, &mk_ms_kind_sec, &lines[1], 2, "key", raw, sizeof(*raw), err);
        if (r < 0)
                return r;

        r = mk_ms_check_alg(name, &mk_ms_kind_sec, 2, "key", raw->sig_alg, MS_ALG_ED25519, "Ed25519", err);
        if (r >= 0)
                r = mk_ms_check_alg(name, &mk_ms_kind_sec, 2, "checksum", raw->chk_alg, MS_CHK_BLAKE2B, "BLAKE2b", err);
        if (r < 0)
                return r;
        if (sodium_memcmp(raw->kdf_alg, MS_KDF_SCRYPT, 2) == 0)
                r = seckey_decrypt(name, raw, passphrase, err);
        else if (raw->kdf_alg[0] == 0 && raw->kdf_alg[1] == 0)
                r = seckey_check_plain(name, raw, err);
        else {
                char alg[MS_ALG_STR_SIZE];
                mk_ms_alg_str(raw->kdf_alg, alg);
                r = mk_error_set(err, EBADMSG,
                                 "%s:2: key encryption is %s, neither 'Sc' (scrypt) nor 0x0000 "
                                 "(unencrypted): not a minisign secret key",
                                 name, alg);
        }
        if (r < 0)
                return r;
        r = seckey_check_pair(name, raw->sk, err);
        if (r < 0)
                return r;

        mk_seckey *k = NULL;
        r = seckey_new(raw->keyid, &k, err);
        if (r < 0)
                return r;
        memcpy(k->sk, raw->sk, sizeof(k->sk));
        *ret_key = k;
        return 0;
}

int mk_seckey_load(const char *path, mk_seckey **ret_key, mk_error *err)
{
        int r = mk_ms_init(err);
        if (r < 0)
                return r;
        char *buf = NULL;
        size_t len = 0;
        r = mk_ms_read_file(path, &mk_ms_kind_sec, true, &buf, &len, err);
        if (r < 0)
                return r;
        r = mk_seckey_parse(path, buf, len, getenv(MK_KEY_PASSPHRASE_ENV), ret_key, err);
        mk_ms_buf_free(buf, true);
        return r;
}
