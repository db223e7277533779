/* SPDX-License-Identifier: MIT */
/*
 * Ed25519 keys and signatures in minisign's file formats (libsodium + libc
 * only: this code is linked into the initramfs verifier too).
 *
 * Formats (docs/signing.md draws every byte):
 *   PREFIX.pub    "untrusted comment: ..." / base64("Ed" | key id[8] | pk[32])
 *   PREFIX.key    "untrusted comment: ..." / base64(158-byte minisign secret
 *                 key), unencrypted (kdf 00 00) or scrypt-encrypted (kdf "Sc")
 *   FILE.minisig  untrusted comment / base64("ED" | key id | sig[64]) /
 *                 "trusted comment: TEXT" / base64(global sig over sig | TEXT)
 *
 * Conventions of every function here:
 *   - returns 0 (or a result enum) on success and a negative errno on
 *     failure, with err (may be NULL) filled with a message that names the
 *     file, says what is wrong and how to fix it;
 *   - ret_ out-parameters come last and are written only on success;
 *   - every input file is untrusted: it is read bounded (a key or signature
 *     file larger than MK_MINISIGN_FILE_MAX is refused before it is read),
 *     line counts, line lengths, base64 and decoded sizes are exact;
 *   - secret key material only ever lives in sodium_malloc() memory (locked,
 *     excluded from core dumps, wiped on free).
 *
 * Error codes a caller may rely on: ENOENT/EACCES/... (the file's own errno),
 * EBADMSG (malformed file), EEXIST (keygen target exists), EPERM (secret key
 * readable by others), ENOKEY (encrypted key and no passphrase), EKEYREJECTED
 * (wrong passphrase), E2BIG (file or comment over its limit).
 */
#ifndef MK_MINISIGN_H
#define MK_MINISIGN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "signing/base/error.h"
#include "signing/base/macro.h"

#define MK_KEYID_BYTES 8
/* A key id as minisign shows it: 16 uppercase hex digits, plus the NUL. */
#define MK_KEYID_STR_SIZE 17
/* Key and signature files larger than this are refused unread. */
#define MK_MINISIGN_FILE_MAX 16384
/* The longest trusted comment text, so that minisign's 8192-byte line
 * buffer holds "trusted comment: " + TEXT + "\n" + NUL. */
#define MK_TRUSTED_COMMENT_MAX (8192 - 17 - 2)
/* Environment variable holding the passphrase of an encrypted secret key. */
#define MK_KEY_PASSPHRASE_ENV "MKIMAGE_KEY_PASSPHRASE"

typedef struct mk_pubkey mk_pubkey; /* an Ed25519 public key and its key id */
typedef struct mk_seckey mk_seckey; /* a secret key, in sodium_malloc memory */
typedef struct mk_keyset mk_keyset; /* a set of trusted public keys */

/* ---- key ids ---------------------------------------------------------- */

/* Format an 8-byte key id as minisign displays it: the bytes read as a
 * little-endian uint64, printed as 16 uppercase hex digits. Bytes
 * be 56 47 95 8c df 5f 31 give "315FDF8C954756BE". */
void mk_keyid_format(const uint8_t id[MK_KEYID_BYTES], char out[MK_KEYID_STR_SIZE]);

/* ---- public keys ------------------------------------------------------ */

/* Load a minisign .pub file (exactly two lines). *ret_key is owned by the
 * caller (mk_pubkey_free). Errors: the file's errno, E2BIG, EBADMSG. */
int mk_pubkey_load(const char *path, mk_pubkey **ret_key, mk_error *err) __attribute__((warn_unused_result));

/* Parse the text of a .pub file from memory; name is used in messages and
 * kept as the key's origin. buf need not be NUL-terminated. */
int mk_pubkey_parse(const char *name, const void *buf, size_t len, mk_pubkey **ret_key, mk_error *err)
        __attribute__((warn_unused_result));

/* Parse the bare base64 line of a public key (what `minisign -P` takes). */
int mk_pubkey_from_base64(const char *name, const char *b64, mk_pubkey **ret_key, mk_error *err)
        __attribute__((warn_unused_result));

/* Accessors; the returned memory lives as long as the key. */
const uint8_t *mk_pubkey_id(const mk_pubkey *key);  /* MK_KEYID_BYTES bytes */
const char *mk_pubkey_id_str(const mk_pubkey *key); /* "315FDF8C954756BE" */
const char *mk_pubkey_origin(const mk_pubkey *key); /* file or name it came from */

/* Free a key; accepts NULL, returns NULL. */
mk_pubkey *mk_pubkey_free(mk_pubkey *key);

/* ---- secret keys ------------------------------------------------------ */

/* Generate a new key pair with a random key id. Owned by the caller. */
int mk_seckey_generate(mk_seckey **ret_key, mk_error *err) __attribute__((warn_unused_result));

/* Write PREFIX.key (mode 0600, unencrypted minisign format) and PREFIX.pub,
 * both created with O_EXCL: an existing file is never overwritten (EEXIST,
 * and neither file is written). On any failure neither file is left behind. */
int mk_keypair_write(const mk_seckey *key, const char *prefix, mk_error *err) __attribute__((warn_unused_result));

/* Load a minisign secret key file. Refuses a file group or others may
 * access (EPERM, "chmod 600 FILE"). An encrypted key (kdf "Sc") is
 * decrypted with the passphrase in $MKIMAGE_KEY_PASSPHRASE: ENOKEY when the
 * variable is unset, EKEYREJECTED when the checksum shows it is wrong. */
int mk_seckey_load(const char *path, mk_seckey **ret_key, mk_error *err) __attribute__((warn_unused_result));

/* Parse the text of a secret key file from memory. passphrase may be NULL
 * (then an encrypted key gives ENOKEY). The caller keeps ownership of buf
 * and should keep it in secure memory. */
int mk_seckey_parse(const char *name, const void *buf, size_t len, const char *passphrase, mk_seckey **ret_key,
                    mk_error *err) __attribute__((warn_unused_result));

/* The public half, as a new key owned by the caller (origin: "secret key"). */
int mk_seckey_public(const mk_seckey *key, mk_pubkey **ret_key, mk_error *err) __attribute__((warn_unused_result));

/* The unencrypted minisign .key file text of key, in secure memory (sodium_malloc:
 * locked, not dumped): free it with sodium_free, which wipes it. */
int mk_seckey_text(const mk_seckey *key, char **ret_text, mk_error *err) __attribute__((warn_unused_result));

/* The public half as the text of a minisign .pub file (two lines, '\n'-terminated). */
#define MK_PUB_TEXT_SIZE 160
void mk_seckey_pub_text(const mk_seckey *key, char out[MK_PUB_TEXT_SIZE]);

const uint8_t *mk_seckey_id(const mk_seckey *key); /* MK_KEYID_BYTES bytes */
const char *mk_seckey_id_str(const mk_seckey *key);

/* Wipe and free; accepts NULL, returns NULL. */
mk_seckey *mk_seckey_free(mk_seckey *key);

/* ---- trusted key sets ------------------------------------------------- */

int mk_keyset_new(mk_keyset **ret_set, mk_error *err) __attribute__((warn_unused_result));

/* Add key. On success the set owns key (a key identical to one already in
 * the set is freed at once). EEXIST when a different key with the same key
 * id is already there; then key still belongs to the caller. */
int mk_keyset_add(mk_keyset *set, mk_pubkey *key, mk_error *err) __attribute__((warn_unused_result));

/* mk_pubkey_load + mk_keyset_add. */
int mk_keyset_add_file(mk_keyset *set, const char *path, mk_error *err) __attribute__((warn_unused_result));

size_t mk_keyset_size(const mk_keyset *set);
/* The key with this id, or NULL. Borrowed: lives as long as the set. */
const mk_pubkey *mk_keyset_find(const mk_keyset *set, const uint8_t id[MK_KEYID_BYTES]);

mk_keyset *mk_keyset_free(mk_keyset *set);

/* ---- signing ---------------------------------------------------------- */

/* The default trusted comment for a file called name:
 * "timestamp:<SOURCE_DATE_EPOCH or 0>\tfile:<basename of name>\thashed".
 * Never the wall clock. EINVAL when SOURCE_DATE_EPOCH is set but not a
 * decimal number. *ret_text is malloc'd, owned by the caller. */
int mk_default_trusted_comment(const char *name, char **ret_text, mk_error *err) __attribute__((warn_unused_result));

/* Sign len bytes of data ("ED": Ed25519 over BLAKE2b-512 of the data) and
 * return the four-line .minisig text (NUL-terminated, malloc'd, owned by the
 * caller). trusted_comment NULL means mk_default_trusted_comment(name); a
 * comment with a newline, CR or NUL, or longer than MK_TRUSTED_COMMENT_MAX,
 * is refused (EINVAL, E2BIG). Deterministic: same key, data and comment give
 * the same bytes. */
int mk_sign_buffer(const mk_seckey *key, const char *name, const void *data, size_t len, const char *trusted_comment,
                   char **ret_sig_text, mk_error *err) __attribute__((warn_unused_result));

/* Sign the file at path (streamed) and write the signature to sig_path
 * (NULL: "PATH.minisig") atomically: a temporary file in the same directory
 * renamed over it, mode 0644. On failure sig_path is untouched. */
int mk_sign_file(const mk_seckey *key, const char *path, const char *sig_path, const char *trusted_comment,
                 mk_error *err) __attribute__((warn_unused_result));

/* ---- verifying -------------------------------------------------------- */

typedef enum mk_verify_result {
        MK_VERIFY_OK = 0,
        MK_VERIFY_ERROR_IO,        /* a file could not be read, or out of memory */
        MK_VERIFY_ERROR_MALFORMED, /* the signature is not a well-formed minisig (EBADMSG, E2BIG) */
        MK_VERIFY_ERROR_UNTRUSTED, /* signed by a key id not in the trusted set (ENOKEY) */
        MK_VERIFY_ERROR_SIGNATURE, /* data or signature tampered (EKEYREJECTED) */
        MK_VERIFY_ERROR_COMMENT,   /* trusted comment or global signature tampered (EKEYREJECTED) */
} mk_verify_result;

/* A short name for a result: "ok", "io-error", "malformed", "untrusted-key",
 * "bad-signature", "bad-comment". */
const char *mk_verify_result_str(mk_verify_result r);

typedef struct mk_verified {
        const mk_pubkey *signer; /* borrowed from the key set / key passed in */
        char *trusted_comment;   /* malloc'd text without the prefix; mk_verified_done frees */
        bool legacy;             /* "Ed": signed over the raw data, not prehashed */
} mk_verified;

/* Free what a successful verification put in v; v may be zeroed. */
void mk_verified_done(mk_verified *v);

/* Verify data (len bytes, named data_name in messages) against the minisig
 * text sig (sig_len bytes, named sig_name), trusting the keys of set.
 * The key id of the signature is looked up before any cryptography; both the
 * signature and the global signature (over the trusted comment) must verify.
 * Legacy "Ed" signatures are accepted (ret->legacy tells). *ret is written
 * only on MK_VERIFY_OK; otherwise err says what failed, naming the files. */
mk_verify_result mk_verify_buffer(const mk_keyset *set, const char *data_name, const void *data, size_t len,
                                  const char *sig_name, const void *sig, size_t sig_len, mk_verified *ret,
                                  mk_error *err) __attribute__((warn_unused_result));

/* Verify the file at path against sig_path (NULL: "PATH.minisig"). A
 * prehashed signature streams the file; a legacy one maps it. */
mk_verify_result mk_verify_file(const mk_keyset *set, const char *path, const char *sig_path, mk_verified *ret,
                                mk_error *err) __attribute__((warn_unused_result));

/* What an "ED" (prehashed) signature signs: the BLAKE2b-512 of the file's bytes. */
#define MK_PREHASH_BYTES 64
int mk_prehash_file(const char *path, uint8_t out[MK_PREHASH_BYTES], mk_error *err) __attribute__((warn_unused_result));

/* mk_verify_file with the file's prehash computed beforehand (mk_prehash_file, e.g. in
 * another thread); prehash NULL: read the file. A legacy "Ed" signature reads the file. */
mk_verify_result mk_verify_file_prehashed(const mk_keyset *set, const char *path, const char *sig_path,
                                          const uint8_t *prehash, mk_verified *ret, mk_error *err)
        __attribute__((warn_unused_result));

/* The same against exactly one public key. */
mk_verify_result mk_verify_buffer_with_key(const mk_pubkey *key, const char *data_name, const void *data, size_t len,
                                           const char *sig_name, const void *sig, size_t sig_len, mk_verified *ret,
                                           mk_error *err) __attribute__((warn_unused_result));
mk_verify_result mk_verify_file_with_key(const mk_pubkey *key, const char *path, const char *sig_path, mk_verified *ret,
                                         mk_error *err) __attribute__((warn_unused_result));

/* ---- scoped cleanup --------------------------------------------------- */

DEFINE_TRIVIAL_CLEANUP_FUNC(mk_pubkey *, mk_pubkey_free)
DEFINE_TRIVIAL_CLEANUP_FUNC(mk_seckey *, mk_seckey_free)
DEFINE_TRIVIAL_CLEANUP_FUNC(mk_keyset *, mk_keyset_free)
static inline void mk_verified_donep(mk_verified *v)
{
        mk_verified_done(v);
}
#define _cleanup_pubkey_ _cleanup_(mk_pubkey_freep)
#define _cleanup_seckey_ _cleanup_(mk_seckey_freep)
#define _cleanup_keyset_ _cleanup_(mk_keyset_freep)
#define _cleanup_verified_ _cleanup_(mk_verified_donep)

#endif
