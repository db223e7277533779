/* SPDX-License-Identifier: MIT */
/*
 * Shared between signing/minisign-*.c only: the on-disk layouts, the struct
 * bodies behind the opaque types of minisign.h, and the bounded file and
 * line readers every parser goes through.
 */
#ifndef MK_MINISIGN_INTERNAL_H
#define MK_MINISIGN_INTERNAL_H

#include <sodium.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "signing/minisign/minisign.h"

/*
 * Public key, 42 bytes, base64 on line 2 of a .pub file:
 *   0      2            10                       42
 *   | "Ed" | key id[8]  | Ed25519 public key[32] |
 */
struct ms_pub_raw {
        uint8_t sig_alg[2];
        uint8_t keyid[MK_KEYID_BYTES];
        uint8_t pk[crypto_sign_PUBLICKEYBYTES];
} __attribute__((packed));
_Static_assert(sizeof(struct ms_pub_raw) == 42, "minisign public key is 42 bytes");

/*
 * Secret key, 158 bytes, base64 on line 2 of a .key file:
 *   0      2         4      6          38            46            54
 *   | "Ed" | kdf[2]  | "B2" | salt[32] | opslimit LE | memlimit LE |
 *   54           62                           126        158
 *   | key id[8]  | Ed25519 sk[64] (seed | pk) | chk[32]  |
 * kdf "Sc": the last 104 bytes are XORed with scrypt(passphrase, salt).
 * kdf 00 00: unencrypted, salt and limits zero, chk zero (minisign 0.11)
 * or BLAKE2b-256(sig_alg | key id | sk).
 */
struct ms_sec_raw {
        uint8_t sig_alg[2];
        uint8_t kdf_alg[2];
        uint8_t chk_alg[2];
        uint8_t kdf_salt[crypto_pwhash_scryptsalsa208sha256_SALTBYTES];
        uint8_t kdf_opslimit_le[8];
        uint8_t kdf_memlimit_le[8];
        uint8_t keyid[MK_KEYID_BYTES];          /* \                       */
        uint8_t sk[crypto_sign_SECRETKEYBYTES]; /*  } encrypted with "Sc"  */
        uint8_t chk[crypto_generichash_BYTES];  /* /                       */
} __attribute__((packed));
_Static_assert(sizeof(struct ms_sec_raw) == 158, "minisign secret key is 158 bytes");
#define MS_SEC_ENCRYPTED_BYTES (MK_KEYID_BYTES + crypto_sign_SECRETKEYBYTES + crypto_generichash_BYTES)
_Static_assert(MS_SEC_ENCRYPTED_BYTES == 104, "minisign encrypts 104 bytes");

/*
 * Signature, 74 bytes, base64 on line 2 of a .minisig file:
 *   0              2            10                     74
 *   | "ED" or "Ed" | key id[8]  | Ed25519 signature[64] |
 * Line 4 is base64 of the 64-byte global signature over sig[64] | comment.
 */
struct ms_sig_raw {
        uint8_t sig_alg[2];
        uint8_t keyid[MK_KEYID_BYTES];
        uint8_t sig[crypto_sign_BYTES];
} __attribute__((packed));
_Static_assert(sizeof(struct ms_sig_raw) == 74, "minisign signature is 74 bytes");

#define MS_ALG_ED25519 "Ed"   /* key algorithm; legacy signature over raw data */
#define MS_ALG_PREHASHED "ED" /* signature over BLAKE2b-512 of the data */
#define MS_KDF_SCRYPT "Sc"
#define MS_CHK_BLAKE2B "B2"
#define MS_PREHASH_BYTES crypto_generichash_BYTES_MAX /* 64 */

#define MS_UNTRUSTED_PREFIX "untrusted comment: "
#define MS_TRUSTED_PREFIX "trusted comment: "
/* minisign reads comment lines with fgets into 1024-byte buffers. */
#define MS_UNTRUSTED_LINE_MAX (1024 - 2)
#define MS_KEY_FILE_MAX 4096

struct mk_pubkey {
        uint8_t id[MK_KEYID_BYTES];
        uint8_t pk[crypto_sign_PUBLICKEYBYTES];
        char id_str[MK_KEYID_STR_SIZE];
        char *origin;
};

/* Allocated as a whole with sodium_malloc (guarded, mlocked, MADV_DONTDUMP). */
struct mk_seckey {
        uint8_t id[MK_KEYID_BYTES];
        uint8_t sk[crypto_sign_SECRETKEYBYTES];
        char id_str[MK_KEYID_STR_SIZE];
};

/* A line of a file: points into the file's buffer, no newline. */
typedef struct ms_line {
        const char *p;
        size_t len;
} ms_line;

/* What is being parsed, for messages: "public key", and the lines expected. */
typedef struct ms_kind {
        const char *what;   /* "minisign public key" */
        size_t n_lines;     /* exact number of lines */
        const char *layout; /* "an 'untrusted comment:' line and a base64 line" */
        size_t file_max;    /* larger files are refused unread */
} ms_kind;

extern const ms_kind mk_ms_kind_pub, mk_ms_kind_sec, mk_ms_kind_sig;

static inline void ms_sodium_freep(void *p)
{
        sodium_free(*(void **)p);
}
#define _cleanup_sodium_ _cleanup_(ms_sodium_freep)

/* sodium_init, with an error if libsodium cannot start. */
int mk_ms_init(mk_error *err) __attribute__((warn_unused_result));

/* Open path read-only and fstat it; a directory is refused. what names the
 * file in messages ("minisign public key"), NULL for a data file. */
int mk_ms_open(const char *path, const char *what, int *ret_fd, struct stat *ret_st, mk_error *err)
        __attribute__((warn_unused_result));

/* Read at most kind->file_max bytes of path into a new buffer (sodium_malloc
 * when secret, else malloc; free with mk_ms_buf_free). A file larger than that,
 * empty, or a directory is refused. When secret, a file that group or others
 * can access is refused with EPERM. */
int mk_ms_read_file(const char *path, const ms_kind *kind, bool secret, char **ret_buf, size_t *ret_len, mk_error *err)
        __attribute__((warn_unused_result));
void mk_ms_buf_free(char *buf, bool secret);

/* Split buf into exactly kind->n_lines lines (the last newline optional);
 * refuses NUL bytes, CR line ends, and a wrong number of lines. */
int mk_ms_split_lines(const char *name, const ms_kind *kind, const char *buf, size_t len, ms_line *lines, mk_error *err)
        __attribute__((warn_unused_result));

/* Check line lineno (1-based) starts with prefix and is at most max bytes. */
int mk_ms_check_comment_line(const char *name, const ms_kind *kind, const ms_line *line, unsigned lineno,
                             const char *prefix, size_t max, mk_error *err) __attribute__((warn_unused_result));

/* Decode line lineno as strict padded base64 of exactly out_len bytes. */
int mk_ms_decode_line(const char *name, const ms_kind *kind, const ms_line *line, unsigned lineno, const char *field,
                      void *out, size_t out_len, mk_error *err) __attribute__((warn_unused_result));

/* An algorithm field for messages: "'Ed'" when printable, else "0x0000". */
#define MS_ALG_STR_SIZE 16
void mk_ms_alg_str(const uint8_t alg[2], char out[MS_ALG_STR_SIZE]);

/* Check a 2-byte algorithm field (constant time) against want; the message
 * says "<field> algorithm is X, not 'want' (want_desc)". */
int mk_ms_check_alg(const char *name, const ms_kind *kind, unsigned lineno, const char *field, const uint8_t got[2],
                    const char *want, const char *want_desc, mk_error *err) __attribute__((warn_unused_result));

/* Base64 (ORIGINAL, padded) of len bytes into out, which holds
 * sodium_base64_ENCODED_LEN(len, ORIGINAL) bytes (NUL included). */
void mk_ms_base64(char *out, size_t out_size, const void *bin, size_t len);

/* Build a public key; origin is copied. */
int mk_ms_pubkey_new(const uint8_t id[MK_KEYID_BYTES], const uint8_t pk[crypto_sign_PUBLICKEYBYTES], const char *origin,
                     mk_pubkey **ret_key, mk_error *err) __attribute__((warn_unused_result));

/* The .pub text of key, written into out (at least MS_PUB_TEXT_SIZE bytes). */
#define MS_PUB_TEXT_SIZE MK_PUB_TEXT_SIZE
void mk_ms_pubkey_text(const uint8_t id[MK_KEYID_BYTES], const uint8_t pk[crypto_sign_PUBLICKEYBYTES],
                       char out[MS_PUB_TEXT_SIZE]);

/* The key of keys[0..n) with this id, or NULL. */
const mk_pubkey *mk_ms_find_key(const mk_pubkey *const *keys, size_t n, const uint8_t id[MK_KEYID_BYTES]);

/* The keys of a set as a plain array, borrowed. */
const mk_pubkey *const *mk_ms_keyset_keys(const mk_keyset *set, size_t *ret_n);

/* Write all of buf to fd; name is used in the message. */
int mk_ms_write_all(int fd, const char *name, const void *buf, size_t len, mk_error *err)
        __attribute__((warn_unused_result));

/* Write data to path via a temporary file in the same directory, fsync'd
 * and renamed over path; mode is the final mode. */
int mk_ms_write_atomic(const char *path, const void *data, size_t len, mode_t mode, mk_error *err)
        __attribute__((warn_unused_result));

/* Stream the file at path into a BLAKE2b-512 hash. */
int mk_ms_hash_file(const char *path, uint8_t out[MS_PREHASH_BYTES], mk_error *err) __attribute__((warn_unused_result));

/* "PATH.minisig" (malloc'd) when sig_path is NULL, else a copy of sig_path. */
int mk_ms_sig_path(const char *path, const char *sig_path, char **ret, mk_error *err)
        __attribute__((warn_unused_result));

#endif
