/* SPDX-License-Identifier: MIT */
/*
 * Update bundles (docs/update.md draws every byte): one file that holds
 * everything a root slot needs, in the order a device uses it, so that it can
 * be installed from a stream.
 *
 *   0      the header (MK_BUNDLE_HEADER bytes, little-endian): "MKBUNDLE",
 *          format, header size, the bundle manifest's length M, its
 *          signature's length S, the bundle's total size
 *   64     the bundle manifest: canonical YAML (signing/yaml/yamlemit.h)
 *   64+M   its minisign signature (the .minisig text)
 *   then   the parts, each at a multiple of MK_BUNDLE_ALIGN, in the order the
 *          manifest lists them, zeros between them: the slot manifests of
 *          slots a and b with their signatures, in a delta the ranges it
 *          copies from the running root, the dm-verity hash areas
 *          (superblock and tree) of slots a and b, the boot files (one copy
 *          per digest), the root squashfs last (in a delta: only the bytes
 *          the ranges do not cover).
 *
 * The bundle manifest names the model, brand and version and gives every
 * part's offset, size and SHA-256; the root part is checked block by block
 * against the target slot's hash tree instead, as it is streamed. Everything
 * here is untrusted input: the header and the manifest are checked strictly
 * (mk_bundle_manifest_parse) and nothing of a part is used before its
 * digest or its tree says it is what was signed.
 *
 * This is the trust core: the builder writes bundles with it and the
 * updater on the device reads them with it (libsodium and libyaml only).
 */
#ifndef MK_BUNDLE_H
#define MK_BUNDLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "signing/base/error.h"
#include "signing/base/macro.h"
#include "signing/minisign/minisign.h"

#define MK_BUNDLE_MAGIC "MKBUNDLE"
#define MK_BUNDLE_FORMAT 1
#define MK_BUNDLE_HEADER 64u
#define MK_BUNDLE_ALIGN 4096u
#define MK_BUNDLE_MANIFEST_MAX (1u << 20) /* bytes of the bundle manifest at most */
#define MK_BUNDLE_PARTS_MAX 64            /* parts listed at most */
#define MK_BUNDLE_SIZE_MAX (UINT64_C(1) << 42)
#define MK_BUNDLE_SUFFIX ".mkb"
#define MK_BUNDLE_SIG_NAME "bundle.yaml" /* the file name in the signature's trusted comment */

/* ---- the header ----------------------------------------------------------- */

typedef struct mk_bundle_header {
        uint32_t format;       /* MK_BUNDLE_FORMAT */
        uint64_t manifest_len; /* M */
        uint64_t sig_len;      /* S */
        uint64_t size;         /* the whole bundle */
} mk_bundle_header;

void mk_bundle_header_encode(const mk_bundle_header *h, uint8_t out[MK_BUNDLE_HEADER]);

/*
 * Decode and check a header read from the start of the bundle name: the
 * magic, the format, the header size, M in [1, MK_BUNDLE_MANIFEST_MAX], S in
 * [1, MK_MINISIGN_FILE_MAX], the size at most MK_BUNDLE_SIZE_MAX and room for
 * the three, reserved bytes zero. -EBADMSG (or -EPROTONOSUPPORT for another
 * format) with a message naming the field.
 */
int mk_bundle_header_decode(const char *name, const uint8_t in[MK_BUNDLE_HEADER], mk_bundle_header *ret, mk_error *err)
        __attribute__((warn_unused_result));

/* True when the file at path starts with the bundle magic ("MKBUNDLE"): a bundle, not an image. */
bool mk_bundle_is_file(const char *path);

/* Where the first part may start: 64 + M + S rounded up to MK_BUNDLE_ALIGN. */
uint64_t mk_bundle_parts_start(const mk_bundle_header *h);

/* ---- the bundle manifest -------------------------------------------------- */

typedef enum mk_bundle_kind {
        MK_BPART_MANIFEST,  /* a slot manifest (slot a or b), the bytes of slot-X/manifest.yaml */
        MK_BPART_SIGNATURE, /* its .minisig */
        MK_BPART_RANGES,    /* a delta's copy list: MK_BUNDLE_RANGE_SIZE-byte records (mk_bundle_range) */
        MK_BPART_VERITY,    /* the hash area of slot X: superblock and tree, as at its verity partition's start */
        MK_BPART_FILE,      /* a boot file, named by its digest: every path of a slot manifest with that sha256 */
        MK_BPART_ROOT,      /* the root squashfs (root.size bytes), the same for both slots; in a delta the
                               bytes no range covers, in order */
        MK_BPART_KINDS
} mk_bundle_kind;

/* "manifest", "signature", "ranges", "verity", "file", "root". */
const char *mk_bundle_kind_str(mk_bundle_kind k);

typedef struct mk_bundle_part {
        mk_bundle_kind kind;
        char slot; /* 'a' or 'b' for a manifest, signature or verity part; 0 otherwise */
        uint64_t offset, size;
        char sha256[65];
} mk_bundle_part;

/*
 * A delta's base: the release whose root the device must be running. Its
 * root gives the bytes of the ranges; a boot file the bundle does not hold
 * is one both of the base's slots have (the device takes it from its ESP).
 */
typedef struct mk_bundle_base {
        uint64_t version;
        uint64_t root_size;
        char root_sha256[65];
} mk_bundle_base;

typedef struct mk_bundle_manifest {
        char *model;
        char *brand;
        uint64_t version;
        char created[32];
        uint64_t size; /* the whole bundle, = the header's */
        bool delta;    /* a delta: from is its base, and there is a ranges part */
        mk_bundle_base from;
        mk_bundle_part *parts;
        size_t n_parts;
} mk_bundle_manifest;

/*
 * Canonical YAML of m (the keys in the order docs/update.md lists them).
 * *ret is malloc'd and NUL-terminated; *ret_len excludes the NUL.
 */
int mk_bundle_manifest_emit(const mk_bundle_manifest *m, char **ret, size_t *ret_len, mk_error *err)
        __attribute__((warn_unused_result));

/*
 * Parse and check a bundle manifest (name is used in messages) whose bundle
 * has header h: every key known and required, and the parts laid out as a
 * stream needs them: in the kind order above (manifest a, signature a,
 * manifest b, signature b, ranges, verity a, verity b, files by ascending
 * digest, root), exactly one of each but the files (a ranges part in a
 * delta only, and there always), no two files with one digest,
 * offsets aligned and ascending from mk_bundle_parts_start(h), no overlap,
 * the last part ending at the bundle's size = h's. -EINVAL with a
 * "NAME:LINE:COL: ..." message, -E2BIG for text over MK_BUNDLE_MANIFEST_MAX,
 * or -ENOMEM; *ret untouched on failure.
 */
int mk_bundle_manifest_parse(const char *name, const void *buf, size_t len, const mk_bundle_header *h,
                             mk_bundle_manifest **ret, mk_error *err) __attribute__((warn_unused_result));

mk_bundle_manifest *mk_bundle_manifest_free(mk_bundle_manifest *m);
DEFINE_TRIVIAL_CLEANUP_FUNC(mk_bundle_manifest *, mk_bundle_manifest_free)

/* The part of kind (and slot, for the per-slot kinds), or NULL. */
const mk_bundle_part *mk_bundle_find(const mk_bundle_manifest *m, mk_bundle_kind kind, char slot);
/* The file part with this digest, or NULL. */
const mk_bundle_part *mk_bundle_find_file(const mk_bundle_manifest *m, const char *sha256);

/* ---- a delta's ranges --------------------------------------------------------- */

/*
 * One range of a delta's root: len bytes at offset dst of the new root are
 * the bytes at offset src of the base's root. On disk 24 bytes, three
 * little-endian u64 in this order; the records sorted by dst.
 */
typedef struct mk_bundle_range {
        uint64_t dst, src, len;
} mk_bundle_range;

#define MK_BUNDLE_RANGE_SIZE 24u
#define MK_BUNDLE_RANGES_MAX (1u << 22) /* records in a ranges part at most */

void mk_bundle_range_encode(const mk_bundle_range *r, uint8_t out[MK_BUNDLE_RANGE_SIZE]);

/*
 * Decode and check a ranges part (authenticated already, but checked as if
 * hostile): whole records, at most MK_BUNDLE_RANGES_MAX, each non-empty,
 * ascending by dst without overlap, inside the new root (root_size bytes)
 * and inside the base's root (base_size), and the bytes they leave
 * uncovered exactly literal_size (the root part). *ret (malloc'd, *ret_n
 * records) or -EBADMSG naming the record and what is wrong.
 */
int mk_bundle_ranges_parse(const char *name, const uint8_t *buf, size_t len, uint64_t root_size, uint64_t base_size,
                           uint64_t literal_size, mk_bundle_range **ret, size_t *ret_n, mk_error *err)
        __attribute__((warn_unused_result));

/* ---- reading a bundle from a stream ----------------------------------------- */

/*
 * Read exactly len bytes of the stream into buf: 0, or a negative errno with
 * err set (-EIO with "ends early" for a stream that ends before len bytes).
 */
typedef int (*mk_bundle_read_fn)(void *ctx, void *buf, size_t len, mk_error *err);

typedef struct mk_bundle {
        const char *name; /* borrowed: what messages call the bundle */
        mk_bundle_header header;
        char *manifest_text; /* the signed bytes, NUL-terminated */
        char *sig_text;
        mk_bundle_manifest *manifest;
        char signer[MK_KEYID_STR_SIZE]; /* the key id that signed it */
        uint64_t pos;                   /* bytes of the stream consumed */
        mk_bundle_read_fn read;
        void *ctx;
} mk_bundle;

/*
 * Read the header, the bundle manifest and its signature from the stream,
 * verify the signature with the keys of trusted, or with key when trusted is
 * NULL (before anything of the manifest is parsed), and parse the verified
 * bytes. Both NULL: the signature is not checked and signer stays "" (only
 * for showing a bundle, `mkimage bundle --info` without a key). On success
 * *ret is new (mk_bundle_free) and positioned after the signature; on
 * failure -errno with a message that names the bundle and says why
 * (-EKEYREJECTED: bad signature; -ENOKEY: signed by a key not trusted).
 */
int mk_bundle_open(const char *name, mk_bundle_read_fn read, void *ctx, const mk_keyset *trusted, const mk_pubkey *key,
                   mk_bundle **ret, mk_error *err) __attribute__((warn_unused_result));

/* Advance to the start of part p (which must not be behind): the bytes between must be zero (-EBADMSG). */
int mk_bundle_seek(mk_bundle *b, const mk_bundle_part *p, mk_error *err) __attribute__((warn_unused_result));

/*
 * Read the whole of part p (at most max bytes, else -EFBIG before reading)
 * into a new buffer and check it against its SHA-256 (-EBADMSG): *ret
 * (malloc'd, with a NUL after it) is only ever what was signed.
 */
int mk_bundle_read_part(mk_bundle *b, const mk_bundle_part *p, size_t max, uint8_t **ret, mk_error *err)
        __attribute__((warn_unused_result));

/* Consume part p without using it (a part for the other slot): seek to it, read and drop its bytes. */
int mk_bundle_skip_part(mk_bundle *b, const mk_bundle_part *p, mk_error *err) __attribute__((warn_unused_result));

/* Read len bytes of the current part at the stream's position (the caller checks them). */
int mk_bundle_read(mk_bundle *b, void *buf, size_t len, mk_error *err) __attribute__((warn_unused_result));

mk_bundle *mk_bundle_free(mk_bundle *b);
DEFINE_TRIVIAL_CLEANUP_FUNC(mk_bundle *, mk_bundle_free)

/* An mk_bundle_read_fn over a file descriptor (ctx: a pointer to the int fd): pipes and files alike. */
int mk_bundle_read_fd(void *ctx, void *buf, size_t len, mk_error *err);

#endif
