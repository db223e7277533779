/* SPDX-License-Identifier: MIT */
/*
 * The data partition's encryption: LUKS2 (libcryptsetup) with aes-xts-plain64,
 * 512-byte sectors and one keyslot opened by a key file, made rootless on a
 * range of the image file: the header is formatted with a fixed data offset
 * into an anonymous memory file and copied into place, and the payload (the
 * plaintext file system the caller wrote at offset + MK_LUKS2_DATA_OFFSET)
 * is encrypted in place with OpenSSL's AES-256-XTS, exactly as dm-crypt
 * reads it. No device-mapper, loop device or root is needed.
 *
 * libcryptsetup state is process-wide: mk_luks2_format turns metadata
 * locking off (it would want /run/cryptsetup) and installs the default log
 * callback (the library prints otherwise; its errors end up in err).
 *
 * Not reproducible by design: the volume key is random, and LUKS2 puts
 * random salts and keyslot material into the header. Everything else in the
 * image stays bit-for-bit reproducible. See docs/data.md.
 */
#ifndef MK_LUKS_H
#define MK_LUKS_H

#include <stddef.h>
#include <stdint.h>

#include "signing/base/error.h"

#define MK_LUKS2_DATA_OFFSET (16u << 20) /* header + keyslots, as cryptsetup's default */
#define MK_LUKS2_MIN_PAYLOAD (1u << 20)
#define MK_LUKS2_SECTOR 512u
#define MK_LUKS2_KEY_BYTES 64u /* the volume key: AES-256-XTS takes two 256-bit keys */

#define MK_DATA_KEY_MIN 32u /* bytes in a key file */
#define MK_DATA_KEY_MAX 512u
#define MK_DATA_KEY_GEN 64u /* bytes mk_data_key_generate writes */

typedef enum mk_luks_pbkdf {
        MK_LUKS_PBKDF2,   /* sha256; right for a full-entropy key file */
        MK_LUKS_ARGON2ID, /* with explicit, small costs */
        MK_LUKS_ARGON2I,
} mk_luks_pbkdf;

typedef struct mk_luks_opts {
        const uint8_t *key; /* the key file's bytes (the keyslot passphrase) */
        size_t key_len;     /* MK_DATA_KEY_MIN .. MK_DATA_KEY_MAX */
        mk_luks_pbkdf pbkdf;
        uint32_t iterations; /* pbkdf2: >= 1000 (0 = 1000); argon2: time cost >= 4 (0 = 4) */
        uint32_t memory_kib; /* argon2 only: 32 .. 4194304 KiB (0 = 65536) */
        uint32_t parallel;   /* argon2 only: 1 .. 4 threads (0 = 1) */
        const char *uuid;    /* LUKS UUID (derive it from the model; stored in lower case) or NULL for a random one */
        const char *label;   /* LUKS2 label (at most 47 bytes) or NULL */
        const char *name;    /* what messages call the image (its final name); NULL: image_path */
} mk_luks_opts;

/* Where the payload starts inside a LUKS2 partition of size bytes. */
uint64_t mk_luks2_data_offset(uint64_t size);
/* Bytes of payload in a partition of size bytes (0 if it cannot hold any). */
uint64_t mk_luks2_payload_size(uint64_t size);

/*
 * Check o without touching anything: the key length, the PBKDF and its
 * costs, the UUID and the label. err names the bad option and the allowed
 * range.
 */
int mk_luks_opts_check(const mk_luks_opts *o, mk_error *err) __attribute__((warn_unused_result));

/*
 * Turn the partition at byte offset (a multiple of 512) of size bytes (a
 * multiple of 512, with at least MK_LUKS2_MIN_PAYLOAD of payload) inside
 * image_path into LUKS2. The caller has written the plaintext payload (the
 * ext4 file system, mk_luks2_payload_size(size) bytes) at offset +
 * mk_luks2_data_offset(size); all of it is encrypted in place, unused space
 * included. The header goes into the first MK_LUKS2_DATA_OFFSET bytes. The
 * volume key lives in locked memory only and is wiped before returning.
 * Returns 0 or a negative errno with err set; on failure the partition holds
 * partly encrypted data and the caller discards the image.
 */
int mk_luks2_format(const char *image_path, uint64_t offset, uint64_t size, const mk_luks_opts *o, mk_error *err)
        __attribute__((warn_unused_result));

/*
 * Read a data key file: a regular file of MK_DATA_KEY_MIN .. MK_DATA_KEY_MAX
 * bytes that neither group nor others may access (mode 0600 or 0400). On
 * success *ret_key is a new buffer in locked memory (free it with
 * mk_data_key_free) and *ret_len its length; on failure neither is set and
 * err says what is wrong and how to fix it (chmod 600, the allowed sizes).
 */
int mk_data_key_load(const char *path, uint8_t **ret_key, size_t *ret_len, mk_error *err)
        __attribute__((warn_unused_result));

/* Wipe and free a key from mk_data_key_load (NULL allowed); returns NULL. */
uint8_t *mk_data_key_free(uint8_t *key);

/*
 * Write MK_DATA_KEY_GEN random bytes (libsodium) to a new file path, mode
 * 0600. Refuses to overwrite (O_EXCL); on failure nothing is left at path.
 */
int mk_data_key_generate(const char *path, mk_error *err) __attribute__((warn_unused_result));

/*
 * mk_luks2_format in two steps, for the factory, which formats headers ahead
 * (while its common part is built): mk_luks2_header_new formats a header
 * for o in memory (the partition's size does not enter it: the data
 * segment is dynamic), mk_luks2_header_write encrypts the payload with its
 * volume key and writes it into the partition, as mk_luks2_format does.
 * mk_luks2_header_free wipes the volume key. A header is written once.
 */
typedef struct mk_luks2_header mk_luks2_header;
int mk_luks2_header_new(const mk_luks_opts *o, mk_luks2_header **ret, mk_error *err)
        __attribute__((warn_unused_result));
int mk_luks2_header_write(const mk_luks2_header *h, const char *image_path, uint64_t offset, uint64_t size,
                          mk_error *err) __attribute__((warn_unused_result));
mk_luks2_header *mk_luks2_header_free(mk_luks2_header *h);

#endif
