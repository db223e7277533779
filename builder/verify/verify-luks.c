/* SPDX-License-Identifier: MIT */
/*
 * The LUKS2 header of a data partition, checked by libcryptsetup without
 * root, a loop device or device-mapper (docs/verify.md, "The data
 * partition").
 *
 * libcryptsetup reads a header only from the start of a file, and on a load
 * it falls back to the other copy without a word when one is bad (its
 * reasons reach the log callback at debug level only). So each copy is
 * judged on its own: it is placed alone, at its own offset, into an
 * anonymous memory file of the partition's size, and crypt_load must accept
 * that file; a file with only a first copy is read through it, one with only
 * a second copy makes libcryptsetup look for it at the offsets LUKS2 allows.
 * A SHA-256 over the copy (checksum field zeroed) is a second opinion that
 * says why a copy was refused. Then both copies go into one file, which is
 * loaded for the rest: cipher, key size, sector size, keyslots, the data
 * segment. With a data key, the keyslots' areas are copied in too, the
 * volume key is taken out of a keyslot, and the payload is decrypted here
 * with OpenSSL, as dm-crypt does for aes-xts-plain64 (builder/data/luks.c
 * writes it the same way).
 *
 * The binary header of a copy, big endian (4096 bytes; the JSON area follows
 * up to hdr_size): 0 magic[6] ("LUKS\xba\xbe" first, "SKUL\xba\xbe" second)
 * | 6 version u16 | 8 hdr_size u64 | 16 seqid u64 | 24 label[48] | 72
 * checksum_alg[32] | 104 salt[64] | 168 uuid[40] | 208 subsystem[48] | 256
 * hdr_offset u64 | 264 padding | 448 csum[64] | 512 padding.
 */
#include <endian.h>
#include <errno.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <libcryptsetup.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "builder/data/luks.h"
#include "signing/base/escape.h"
#include "signing/base/fileio.h"
#include "signing/base/macro.h"
#include "builder/verify/verify-internal.h"

#define BIN 4096u
#define CSUM_OFF 448u
#define CHUNK (1u << 20)
#define KEYSLOTS_COPY_MAX (128u << 20) /* LUKS2's largest keyslots area */
#define PBKDF2_ITER_MAX 10000000u
#define ARGON2_TIME_MAX 64u
#define ARGON2_MEM_MAX (1u << 20) /* KiB */
#define ARGON2_PAR_MAX 4u

static const char magic[2][7] = {"LUKS\xba\xbe", "SKUL\xba\xbe"};
static const char *const copy_word[2] = {"first", "second"};

struct mk_vluks {
        int img;              /* the image (the caller's) */
        uint64_t start, size; /* the partition */
        const char *name;     /* quoted */
        int mem;              /* both copies (and keyslot areas) at their offsets: what libcryptsetup reads */
        struct crypt_device *cd;
        mk_vluks_info info;
        EVP_CIPHER_CTX *x; /* set by mk_vluks_unlock */
};

/* libcryptsetup's last error message in this thread (it would print it otherwise). */
static __thread char cs_msg[256];

static void cs_log(int level, const char *msg, void *usrptr)
{
        if (level != CRYPT_LOG_ERROR || !msg)
                return;
        snprintf(cs_msg, sizeof(cs_msg), "%s", msg);
        for (size_t n = strlen(cs_msg); n && (cs_msg[n - 1] == '\n' || cs_msg[n - 1] == '.');)
                cs_msg[--n] = 0;
}

static const char *cs_why(int r)
{
        return cs_msg[0] ? cs_msg : strerror(r < 0 ? -r : EINVAL);
}

static uint64_t be64_at(const uint8_t *p)
{
        uint64_t v;
        memcpy(&v, p, sizeof(v));
        return be64toh(v);
}

static bool hdr_size_ok(uint64_t n)
{
        for (uint64_t s = 16u << 10; s <= MK_VLUKS_HDR_MAX; s <<= 1)
                if (n == s)
                        return true;
        return false;
}

/* One header copy as read from the partition. */
typedef struct hcopy {
        uint64_t off, size, seqid;
        uint8_t *b; /* size bytes, or NULL: not there (why[] says how) */
} hcopy;

/*
 * Read copy k at off: its binary header must be one (magic, version 2, an
 * allowed hdr_size, hdr_offset = off) and fit in the partition; only then
 * are hdr_size bytes read. Otherwise why says what it is. 0 or -errno.
 */
static int read_copy(mk_vluks *h, unsigned k, uint64_t off, hcopy *c, char *why, size_t why_len)
{
        uint8_t bin[BIN];
        c->off = off;
        if (off + BIN > h->size) {
                snprintf(why, why_len, "does not fit in the partition (%" PRIu64 " bytes)", h->size);
                return 0;
        }
        int r = mk_pread_all(h->img, bin, BIN, h->start + off);
        if (r < 0)
                return r;
        uint16_t version;
        memcpy(&version, bin + 6, sizeof(version));
        c->size = be64_at(bin + 8);
        if (memcmp(bin, magic[k], 6) != 0)
                snprintf(why, why_len, "has no LUKS2 %s-copy magic", copy_word[k]);
        else if (be16toh(version) != 2)
                snprintf(why, why_len, "is LUKS version %u, not 2", be16toh(version));
        else if (!hdr_size_ok(c->size))
                snprintf(why, why_len,
                         "claims a header size of %" PRIu64 " bytes (LUKS2 allows 16 KiB to 4 MiB, powers of two)",
                         c->size);
        else if (be64_at(bin + 256) != off)
                snprintf(why, why_len, "says it lies at byte %" PRIu64, be64_at(bin + 256));
        else if (off + c->size > h->size)
                snprintf(why, why_len, "does not fit in the partition (%" PRIu64 " bytes)", h->size);
        if (why[0])
                return 0;
        c->seqid = be64_at(bin + 16);
        if (!(c->b = malloc(c->size)))
                return -ENOMEM;
        return mk_pread_all(h->img, c->b, c->size, h->start + off);
}

/* A fresh memory file of the partition's size holding the n copies at their offsets. */
static int mem_with(const mk_vluks *h, const hcopy *const *c, unsigned n, int *ret)
{
        _cleanup_close_ int fd = memfd_create("mkimage-verify-luks2", MFD_CLOEXEC);
        if (fd < 0 || ftruncate(fd, (off_t)h->size) < 0)
                return -errno;
        for (unsigned i = 0; i < n; i++) {
                int r = mk_pwrite_all(fd, c[i]->b, c[i]->size, c[i]->off);
                if (r < 0)
                        return r;
        }
        *ret = TAKE_FD(fd);
        return 0;
}

static int load(int fd, struct crypt_device **ret)
{
        char path[64];
        snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
        cs_msg[0] = 0;
        struct crypt_device *cd = NULL;
        int r = crypt_init(&cd, path);
        if (r < 0)
                return r;
        crypt_set_log_callback(cd, cs_log, NULL);
        if ((r = crypt_load(cd, CRYPT_LUKS2, NULL)) < 0) {
                crypt_free(cd);
                return r;
        }
        *ret = cd;
        return 0;
}

/* Copy k on its own: libcryptsetup's verdict, and the SHA-256 over it as a second opinion. */
static int judge_copy(mk_vluks *h, const hcopy *c, char *why, size_t why_len)
{
        char alg[33];
        memcpy(alg, c->b + 72, 32);
        alg[32] = 0;
        uint8_t *sum = c->b + CSUM_OFF, md[32], saved[64];
        bool ours = false;
        if (strcmp(alg, "sha256") == 0) {
                memcpy(saved, sum, sizeof(saved));
                memset(sum, 0, sizeof(saved));
                unsigned mdlen = 0;
                ours = EVP_Digest(c->b, c->size, md, &mdlen, EVP_sha256(), NULL) == 1 &&
                       CRYPTO_memcmp(md, saved, sizeof(md)) == 0;
                memcpy(sum, saved, sizeof(saved));
        }
        int fd = -1, r = mem_with(h, (const hcopy *const[]){c}, 1, &fd);
        if (r < 0)
                return r;
        struct crypt_device *cd = NULL;
        int lr = load(fd, &cd);
        crypt_free(cd);
        close(fd);
        if (strcmp(alg, "sha256") != 0) {
                char q[140];
                snprintf(why, why_len, "names checksum '%s', not sha256 as mkimage writes",
                         mk_quote(alg, q, sizeof(q)));
        } else if (!ours) {
                char hs[17], hc[17];
                sodium_bin2hex(hs, sizeof(hs), sum, 8);
                sodium_bin2hex(hc, sizeof(hc), md, 8);
                snprintf(why, why_len, "fails its checksum (sha256 %s… stored, %s… computed)%s", hs, hc,
                         lr == 0 ? ", though libcryptsetup loads it" : "");
        } else if (lr < 0) {
                snprintf(why, why_len,
                         "is refused by libcryptsetup although its checksum is right (its JSON metadata is not "
                         "valid LUKS2: %s)",
                         cs_why(lr));
        }
        return 0;
}

/* Where the second copy is when the first cannot say: the first offset LUKS2 allows that has its magic. */
static int find_second(mk_vluks *h, uint64_t *ret)
{
        *ret = 0;
        for (uint64_t off = 16u << 10; off <= MK_VLUKS_HDR_MAX && off + BIN <= h->size; off <<= 1) {
                char m[6];
                int r = mk_pread_all(h->img, m, sizeof(m), h->start + off);
                if (r < 0)
                        return r;
                if (memcmp(m, magic[1], 6) == 0) {
                        *ret = off;
                        return 0;
                }
        }
        return 0;
}

/* The two good copies say the same: one size, one sequence id, one JSON text. */
static int same_copies(const mk_vluks *h, const hcopy *c, mk_error *err)
{
        if (c[0].seqid != c[1].seqid)
                return mk_error_set(err, EBADMSG,
                                    "the LUKS2 header's two copies have different sequence ids (%" PRIu64
                                    " and %" PRIu64 "): the %s copy of partition %s is out of date",
                                    c[0].seqid, c[1].seqid, c[0].seqid < c[1].seqid ? "first" : "second", h->name);
        if (c[0].size != c[1].size || memcmp(c[0].b + BIN, c[1].b + BIN, c[0].size - BIN) != 0)
                return mk_error_set(err, EBADMSG,
                                    "the LUKS2 header's two copies of partition %s hold different JSON metadata",
                                    h->name);
        return 0;
}

/* The one data segment, from libcryptsetup's own serialisation of the metadata it validated. */
static int segment(mk_vluks *h, mk_error *err)
{
        const char *text = NULL;
        if (crypt_dump_json(h->cd, &text, 0) < 0 || !text)
                return mk_error_set(err, EIO, "libcryptsetup cannot give the LUKS2 metadata of partition %s", h->name);
        json_object *root = json_tokener_parse(text), *segs = NULL, *seg = NULL, *type = NULL, *size = NULL;
        int r = 0;
        if (!root || !json_object_object_get_ex(root, "segments", &segs) || json_object_object_length(segs) != 1 ||
            !json_object_object_get_ex(segs, "0", &seg) || !json_object_object_get_ex(seg, "type", &type) ||
            strcmp(json_object_get_string(type), "crypt") != 0 || !json_object_object_get_ex(seg, "size", &size)) {
                r = mk_error_set(err, EBADMSG,
                                 "the LUKS2 header of partition %s does not have one data segment of type crypt "
                                 "(mkimage writes exactly one)",
                                 h->name);
                goto out;
        }
        const char *s = json_object_get_string(size);
        uint64_t room = h->size - h->info.data_off;
        if (strcmp(s, "dynamic") == 0) {
                h->info.data_len = room;
                goto out;
        }
        char *end;
        errno = 0;
        unsigned long long n = strtoull(s, &end, 10);
        if (errno || *end || !*s || n == 0 || n > room || n % MK_LUKS2_SECTOR)
                r = mk_error_set(err, EBADMSG,
                                 "the LUKS2 data segment of partition %s is %s bytes long; from byte %" PRIu64
                                 " the partition has room for %" PRIu64,
                                 h->name, s, h->info.data_off, room);
        else
                h->info.data_len = n;
out:
        json_object_put(root);
        return r;
}

/* What mkimage writes: aes-xts-plain64, a 512-bit key, 512-byte sectors, no requirements, a keyslot. */
static int header_facts(mk_vluks *h, mk_error *err)
{
        const char *cipher = crypt_get_cipher(h->cd), *mode = crypt_get_cipher_mode(h->cd);
        char qc[100], qm[100];
        if (!cipher || !mode || strcmp(cipher, "aes") || strcmp(mode, "xts-plain64"))
                return mk_error_set(
                        err, EBADMSG, "the LUKS2 data segment of partition %s uses %s-%s, not aes-xts-plain64", h->name,
                        mk_quote(cipher ? cipher : "?", qc, sizeof(qc)), mk_quote(mode ? mode : "?", qm, sizeof(qm)));
        if (crypt_get_volume_key_size(h->cd) != MK_LUKS2_KEY_BYTES)
                return mk_error_set(err, EBADMSG,
                                    "the LUKS2 volume key of partition %s is %d bits, not 512 (AES-256-XTS)", h->name,
                                    crypt_get_volume_key_size(h->cd) * 8);
        if (crypt_get_sector_size(h->cd) != MK_LUKS2_SECTOR)
                return mk_error_set(err, EBADMSG, "the LUKS2 data segment of partition %s has %d-byte sectors, not 512",
                                    h->name, crypt_get_sector_size(h->cd));
        uint32_t req = 0;
        if (crypt_persistent_flags_get(h->cd, CRYPT_FLAGS_REQUIREMENTS, &req) < 0 || req)
                return mk_error_set(err, EBADMSG,
                                    "the LUKS2 header of partition %s sets requirements 0x%" PRIx32
                                    " (e.g. a reencryption in progress); mkimage sets none",
                                    h->name, req);
        for (int s = 0; s < crypt_keyslot_max(CRYPT_LUKS2); s++) {
                crypt_keyslot_info ki = crypt_keyslot_status(h->cd, s);
                if (ki == CRYPT_SLOT_ACTIVE || ki == CRYPT_SLOT_ACTIVE_LAST)
                        h->info.keyslots++;
        }
        if (!h->info.keyslots)
                return mk_error_set(err, EBADMSG, "the LUKS2 header of partition %s has no keyslot: no key opens it",
                                    h->name);
        h->info.data_off = crypt_get_data_offset(h->cd) * MK_LUKS2_SECTOR;
        if (h->info.data_off >= h->size)
                return mk_error_set(err, EBADMSG,
                                    "the LUKS2 data segment of partition %s starts at byte %" PRIu64
                                    ", not inside the partition (%" PRIu64 " bytes)",
                                    h->name, h->info.data_off, h->size);
        return segment(h, err);
}

/* Both copies on their own, then both together. 0, -EBADMSG (err names the copies) or -errno. */
static int check_copies(mk_vluks *h, mk_error *err)
{
        hcopy c[2] = {{0}};
        char why[2][400] = {"", ""};
        int r = read_copy(h, 0, 0, &c[0], why[0], sizeof(why[0]));
        uint64_t off2 = c[0].b ? c[0].size : 0;
        if (r >= 0 && !c[0].b)
                r = find_second(h, &off2);
        if (r >= 0 && !off2)
                snprintf(why[1], sizeof(why[1]),
                         "is missing (no second-copy magic at any offset LUKS2 allows, 16 KiB to 4 MiB)");
        else if (r >= 0)
                r = read_copy(h, 1, off2, &c[1], why[1], sizeof(why[1]));
        for (unsigned k = 0; k < 2 && r >= 0; k++)
                if (c[k].b)
                        r = judge_copy(h, &c[k], why[k], sizeof(why[k]));
        if (r < 0)
                r = mk_error_set(err, -r, "reading the LUKS2 header of partition %s: %s", h->name, strerror(-r));
        else if (why[0][0] && why[1][0] && !off2)
                r = mk_error_set(err, EBADMSG,
                                 "the LUKS2 header's first copy (at byte 0 of partition %s) %s; its second copy %s",
                                 h->name, why[0], why[1]);
        else if (why[0][0] && why[1][0])
                r = mk_error_set(err, EBADMSG,
                                 "the LUKS2 header's first copy (at byte 0 of partition %s) %s; its second copy "
                                 "(at byte %" PRIu64 ") %s",
                                 h->name, why[0], off2, why[1]);
        else if (why[0][0] || why[1][0])
                r = mk_error_set(err, EBADMSG, "the LUKS2 header's %s copy (at byte %" PRIu64 " of partition %s) %s",
                                 why[0][0] ? "first" : "second", why[0][0] ? 0 : off2, h->name,
                                 why[0][0] ? why[0] : why[1]);
        else if ((r = same_copies(h, c, err)) >= 0) {
                /* both copies together: what the rest is read from */
                if ((r = mem_with(h, (const hcopy *const[]){&c[0], &c[1]}, 2, &h->mem)) < 0)
                        r = mk_error_set(err, -r, "a memory file for the LUKS2 header: %s", strerror(-r));
                else if ((r = load(h->mem, &h->cd)) < 0)
                        r = mk_error_set(err, EBADMSG, "libcryptsetup cannot load the LUKS2 header of partition %s: %s",
                                         h->name, cs_why(r));
        }
        h->info.hdr_size = c[0].size;
        free(c[0].b);
        free(c[1].b);
        return r;
}

int mk_vluks_open(int fd, uint64_t start, uint64_t size, const char *name, mk_vluks **ret, mk_error *err)
{
        mk_vluks *h = calloc(1, sizeof(*h));
        if (!h)
                return mk_error_set(err, ENOMEM, "out of memory");
        *h = (mk_vluks){.img = fd, .start = start, .size = size, .name = name, .mem = -1};
        /* process-global, and before crypt_init: no locks (they want /run/cryptsetup), no printing */
        crypt_metadata_locking(NULL, 0);
        crypt_set_log_callback(NULL, cs_log, NULL);
        int r = check_copies(h, err);
        if (r >= 0)
                r = header_facts(h, err);
        if (r < 0) {
                mk_vluks_free(h);
                return r;
        }
        *ret = h;
        return 0;
}

const mk_vluks_info *mk_vluks_get_info(const mk_vluks *h)
{
        return &h->info;
}

/* Copy [off, off + len) of the partition into the memory file, where libcryptsetup reads a keyslot. */
static int copy_area(mk_vluks *h, uint64_t off, uint64_t len, uint8_t *buf)
{
        for (uint64_t at = 0; at < len;) {
                size_t n = len - at < CHUNK ? (size_t)(len - at) : CHUNK;
                int r = mk_pread_all(h->img, buf, n, h->start + off + at);
                if (r < 0 || (r = mk_pwrite_all(h->mem, buf, n, off + at)) < 0)
                        return r;
                at += n;
        }
        return 0;
}

/* Keyslot s may be tried: its area is in the memory file and its PBKDF costs are bounded. */
static int prepare_slot(mk_vluks *h, int s, uint64_t *copied, uint8_t *buf, char *note, size_t note_len)
{
        uint64_t off, len;
        struct crypt_pbkdf_type pb = {0};
        if (crypt_keyslot_area(h->cd, s, &off, &len) < 0 || crypt_keyslot_get_pbkdf(h->cd, s, &pb) < 0 || !pb.type) {
                snprintf(note, note_len, "keyslot %d has no area or PBKDF libcryptsetup can name", s);
                return 1;
        }
        bool pbkdf2 = strcmp(pb.type, CRYPT_KDF_PBKDF2) == 0;
        if (pbkdf2 ? pb.iterations > PBKDF2_ITER_MAX
                   : pb.iterations > ARGON2_TIME_MAX || pb.max_memory_kb > ARGON2_MEM_MAX ||
                             pb.parallel_threads > ARGON2_PAR_MAX) {
                snprintf(note, note_len,
                         "keyslot %d not tried: its %s costs are above what verify spends (pbkdf2 at most %u "
                         "iterations; argon2 at most time %u, %u MiB, %u threads)",
                         s, pbkdf2 ? "pbkdf2" : "argon2", PBKDF2_ITER_MAX, ARGON2_TIME_MAX, ARGON2_MEM_MAX >> 10,
                         ARGON2_PAR_MAX);
                return 1;
        }
        if (off > h->size || len > h->size - off || len > KEYSLOTS_COPY_MAX - *copied) {
                snprintf(note, note_len, "keyslot %d not tried: its area does not fit", s);
                return 1;
        }
        *copied += len;
        return copy_area(h, off, len, buf);
}

int mk_vluks_unlock(mk_vluks *h, const uint8_t *key, size_t key_len, const char *key_name, int *ret_slot, mk_error *err)
{
        _cleanup_free_ uint8_t *buf = malloc(CHUNK);
        uint8_t *vk = sodium_malloc(MK_LUKS2_KEY_BYTES);
        char note[300] = "";
        uint64_t copied = 0;
        int r = 0, opened = -1;
        if (!buf || !vk) {
                r = mk_error_set(err, ENOMEM, "out of memory");
                goto out;
        }
        for (int s = 0; s < crypt_keyslot_max(CRYPT_LUKS2) && opened < 0; s++) {
                crypt_keyslot_info ki = crypt_keyslot_status(h->cd, s);
                if (ki != CRYPT_SLOT_ACTIVE && ki != CRYPT_SLOT_ACTIVE_LAST)
                        continue;
                char why[sizeof(note)] = "";
                if ((r = prepare_slot(h, s, &copied, buf, why, sizeof(why))) < 0) {
                        r = mk_error_set(err, -r, "copying keyslot %d of partition %s: %s", s, h->name, strerror(-r));
                        goto out;
                }
                if (r > 0) {
                        if (!note[0])
                                memcpy(note, why, sizeof(note));
                        continue;
                }
                size_t vk_len = MK_LUKS2_KEY_BYTES;
                cs_msg[0] = 0;
                r = crypt_volume_key_get(h->cd, s, (char *)vk, &vk_len, (const char *)key, key_len);
                if (r >= 0 && vk_len == MK_LUKS2_KEY_BYTES)
                        opened = s;
                else if (r != -EPERM && !note[0])
                        snprintf(note, sizeof(note), "keyslot %d: %s", s, cs_why(r));
        }
        r = 0;
        if (opened < 0) {
                r = mk_error_set(err, EPERM, "the data key %s does not open any keyslot%s%s%s", key_name,
                                 note[0] ? " (" : "", note, note[0] ? ")" : "");
                goto out;
        }
        if (!(h->x = EVP_CIPHER_CTX_new()) || EVP_DecryptInit_ex(h->x, EVP_aes_256_xts(), NULL, vk, NULL) != 1) {
                r = mk_error_set(err, EIO, "OpenSSL refused the volume key of partition %s for AES-256-XTS", h->name);
                goto out;
        }
        *ret_slot = opened;
out:
        sodium_free(vk); /* wipes; the key schedule lives on in h->x until mk_vluks_free */
        return r;
}

int mk_vluks_read(void *ctx, uint64_t off, void *buf, size_t len, mk_error *err)
{
        mk_vluks *h = ctx;
        if (!h->x || off % MK_LUKS2_SECTOR || len % MK_LUKS2_SECTOR || off > h->info.data_len ||
            len > h->info.data_len - off)
                return mk_error_set(err, EINVAL, "bytes %" PRIu64 "+%zu are not whole sectors of the payload", off,
                                    len);
        int r = mk_pread_all(h->img, buf, len, h->start + h->info.data_off + off);
        if (r < 0)
                return mk_error_set(err, -r, "reading the LUKS2 payload of partition %s: %s", h->name, strerror(-r));
        uint8_t *p = buf;
        for (size_t s = 0; s < len; s += MK_LUKS2_SECTOR) {
                uint8_t iv[16] = {0};
                uint64_t sector = htole64((off + s) / MK_LUKS2_SECTOR); /* plain64, counted from the payload */
                memcpy(iv, &sector, sizeof(sector));
                int ol;
                if (EVP_DecryptInit_ex(h->x, NULL, NULL, NULL, iv) != 1 ||
                    EVP_DecryptUpdate(h->x, p + s, &ol, p + s, MK_LUKS2_SECTOR) != 1 || ol != MK_LUKS2_SECTOR)
                        return mk_error_set(err, EIO, "AES-256-XTS failed in OpenSSL");
        }
        return 0;
}

mk_vluks *mk_vluks_free(mk_vluks *h)
{
        if (!h)
                return NULL;
        crypt_free(h->cd);
        if (h->mem >= 0)
                close(h->mem);
        EVP_CIPHER_CTX_free(h->x); /* cleanses the key schedule */
        free(h);
        return NULL;
}
