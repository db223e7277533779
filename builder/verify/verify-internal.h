/* SPDX-License-Identifier: MIT */
/* Shared by verify.c (manifests), verify-report.c (the report), verify-esp.c, verify-slot.c, verify-tree.c,
 * verify-data.c and verify-ext4.c. */
#ifndef MK_VERIFY_INTERNAL_H
#define MK_VERIFY_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include "builder/image/gpt.h"
#include "signing/manifest/manifest.h"
#include "builder/verify/verify.h"

#define VITEM_MANIFESTS 2 /* items[0], items[1]: slot a's and slot b's manifest */
#define VITEM_PART(i) (VITEM_MANIFESTS + (i))

typedef struct vctx {
        const char *path;
        int fd;
        unsigned threads;
        mk_gpt *gpt;
        mk_verify_report *rep;
        bool seen[VITEM_MANIFESTS + MK_GPT_PARTS_MAX]; /* an item got a verdict */
        char owner[MK_GPT_PARTS_MAX];                  /* the slot whose manifest names partition i, or 0 */
        int esp;                                       /* the ESP's partition index, or -1 */
        char **esp_paths;                              /* everything on the ESP (mk_esp_list_all), or NULL */
        bool live[2];                                  /* slot a/b has an entry systemd-boot would start */
        const mk_verify_opts *opts;                    /* the caller's: the data key */
        bool data_done;                                /* the data partition was checked (by slot a's manifest) */
} vctx;

/*
 * List the ESP once (v->esp_paths) and find which slots it still boots
 * (v->live: an entry whose boot counter is not at 0). Trouble reading it
 * fails the ESP item. Returns 0, or -ENOMEM.
 */
int mk_verify_esp_scan(vctx *v) __attribute__((warn_unused_result));

/*
 * After the manifests (ms[0..1], NULL when not verified): anything on the ESP
 * that can change what boots and that no manifest covers fails the ESP item:
 * files in loader/ besides loader.conf, random-seed and the slots' entries,
 * entries that are not a slot's, EFI programs besides the manifests'.
 * Returns 0, or -ENOMEM.
 */
int mk_verify_esp_policy(vctx *v, const mk_manifest *const ms[2]) __attribute__((warn_unused_result));

/*
 * The one entry of slot on the ESP ("loader/entries/slot-a+2-1.conf" or
 * "EFI/Linux/slot-a+2-1.efi") into *ret (a path of v->esp_paths); none or
 * several fail the ESP item and leave *ret NULL. Returns 0, or -ENOMEM.
 */
int mk_verify_find_entry(vctx *v, char slot, const char **ret) __attribute__((warn_unused_result));

/*
 * Secure Boot (docs/secure-boot.md): each slot's UKI against its verified
 * manifest (the sections' digests, PCR 11, the command line pinning the
 * manifest's root) and, with a db certificate in the options, the
 * Authenticode signature of every EFI binary on the ESP. The ESP item's
 * detail says which Secure Boot the image has, `off` included. Returns 0,
 * or -ENOMEM.
 */
int mk_verify_sb(vctx *v, const mk_manifest *const ms[2]) __attribute__((warn_unused_result));

/* Mark item idx FAILED with a formatted reason; a first failure is kept.
 * Returns 0, or -ENOMEM. */
int mk_vitem_fail(vctx *v, size_t idx, const char *fmt, ...) __attribute__((format(printf, 3, 4)))
__attribute__((warn_unused_result));

/* As mk_vitem_fail, but with add set an item that failed already keeps both: the reason is appended to
 * the first one after "; " (what is wrong with a file whose first failure says only that it changed).
 * Returns 0, or -ENOMEM. */
int mk_vitem_fail_add(vctx *v, size_t idx, bool add, const char *fmt, ...) __attribute__((format(printf, 4, 5)))
__attribute__((warn_unused_result));

/* Mark item idx SKIPPED with a formatted reason (unless it failed already). Returns 0, or -ENOMEM. */
int mk_vitem_skip(vctx *v, size_t idx, const char *fmt, ...) __attribute__((format(printf, 3, 4)))
__attribute__((warn_unused_result));

/* Item idx is OK so far: record what was checked (mk_check_item.detail; dropped if it fails later).
 * Returns 0, or -ENOMEM. */
int mk_vitem_ok(vctx *v, size_t idx, const char *fmt, ...) __attribute__((format(printf, 3, 4)))
__attribute__((warn_unused_result));

/* Mark item idx checked (OK unless it fails). */
void mk_vitem_seen(vctx *v, size_t idx);

/* Check the partitions the (signature-checked, parsed) manifest m of slot
 * index s names; verdicts go to the items. Returns 0, or -ENOMEM. */
int mk_verify_slot(vctx *v, unsigned s, const mk_manifest *m) __attribute__((warn_unused_result));

/* Check the ESP against slot m's manifest: its boot files' digests and the
 * ESP's copy of the manifest (manifest, sig: the authenticated bytes).
 * Verdicts go to the ESP item. Returns 0, or -ENOMEM. */
int mk_verify_esp(vctx *v, const mk_manifest *m, const char *manifest, size_t manifest_len, const char *sig,
                  size_t sig_len) __attribute__((warn_unused_result));

/* The 4096-byte block at off holds exactly the cryptsetup superblock of m's
 * verity parameters (version 1, sha256, 4096/4096, data-blocks, salt); its
 * other bytes, the UUID aside, are zero. 0, or -EBADMSG / -errno with err set. */
int mk_vtree_check_super(int fd, uint64_t off, const mk_manifest *m, mk_error *err) __attribute__((warn_unused_result));

/* Every hash block of the tree that follows the superblock at off hashes
 * (salted) to its entry one level up, and the top block to m's root hash.
 * Needs no data: blame stays on the verity partition. 0, or -EBADMSG /
 * -errno with err set. */
int mk_vtree_check_hashes(int fd, uint64_t off, const mk_manifest *m, mk_error *err)
        __attribute__((warn_unused_result));

/*
 * The data partition i, which a verified manifest names with encryption enc
 * ("luks2" or "none"), checked once (v->data_done): see verify-data.c and
 * docs/verify.md. Verdicts and the OK detail go to the partition's item.
 * Returns 0, or -ENOMEM.
 */
int mk_verify_data(vctx *v, unsigned i, const char *enc) __attribute__((warn_unused_result));

/* Reads len bytes (multiples of 512) at off (a multiple of 512) of a file system's bytes into buf: the
 * partition's, or the LUKS2 payload's, decrypted. 0 or a negative errno, with err set. */
typedef int (*mk_vread_fn)(void *ctx, uint64_t off, void *buf, size_t len, mk_error *err);

typedef struct mk_vext4_info {
        uint64_t blocks;     /* the file system's size in blocks */
        uint32_t block_size; /* bytes */
        uint64_t groups;
        uint64_t descs_checked; /* group descriptors whose checksum was checked */
        bool csum;              /* metadata_csum: the superblock's checksum was checked */
} mk_vext4_info;

/*
 * The ext4 superblock of a file system of at most size bytes, read through
 * rd: magic, revision, block size, its size within size, clean (no errors,
 * no journal to recover), the superblock checksum (metadata_csum, crc32c),
 * and the group descriptors of the first descriptor block (all of them
 * unless meta_bg): locations inside the file system and, with
 * metadata_csum, their checksums. *info is set on success. 0, -EBADMSG
 * (err says what is wrong) or another negative errno with err set.
 */
int mk_vext4_check(mk_vread_fn rd, void *ctx, uint64_t size, mk_vext4_info *info, mk_error *err)
        __attribute__((warn_unused_result));

#define MK_VLUKS_HDR_MAX (4u << 20) /* LUKS2's largest header copy */

typedef struct mk_vluks_info {
        uint64_t hdr_size;           /* bytes of each copy; the second is at this offset */
        uint64_t data_off, data_len; /* the payload in the partition, bytes */
        unsigned keyslots;           /* active */
} mk_vluks_info;

/*
 * A LUKS2 header checked and loaded in memory (verify-luks.c): open it from
 * the partition [start, start + size) of the image fd (borrowed; name is the
 * partition's name as messages quote it, borrowed). Each copy must pass on
 * its own, the two must agree, and the header must be what mkimage writes
 * (aes-xts-plain64, a 512-bit key, 512-byte sectors, no requirement flags,
 * a keyslot, one data segment inside the partition). 0 and *ret set, or
 * -EBADMSG (err names what and which copy), -ENOMEM, -errno; *ret untouched.
 */
typedef struct mk_vluks mk_vluks;
int mk_vluks_open(int fd, uint64_t start, uint64_t size, const char *name, mk_vluks **ret, mk_error *err)
        __attribute__((warn_unused_result));
const mk_vluks_info *mk_vluks_get_info(const mk_vluks *h);

/*
 * Take the volume key out of the first keyslot the passphrase key opens
 * (keyslots whose PBKDF costs exceed verify's bounds are not tried), for
 * mk_vluks_read; the volume key itself is wiped at once, its key schedule
 * when h is freed. 0 and *ret_slot set, -EPERM (err: "the data key
 * KEY_NAME does not open any keyslot …"), or -errno.
 */
int mk_vluks_unlock(mk_vluks *h, const uint8_t *key, size_t key_len, const char *key_name, int *ret_slot, mk_error *err)
        __attribute__((warn_unused_result));

/* An mk_vread_fn (ctx: an unlocked mk_vluks) on the payload: sectors decrypted as dm-crypt would. */
int mk_vluks_read(void *ctx, uint64_t off, void *buf, size_t len, mk_error *err) __attribute__((warn_unused_result));

/* NULL allowed; returns NULL. */
mk_vluks *mk_vluks_free(mk_vluks *h);

/* Decode exactly 2n lower-case hex digits (checked by the parser) into out. */
void mk_vhex_decode(const char *hex, uint8_t *out, size_t n);

#endif
