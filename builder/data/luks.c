/* SPDX-License-Identifier: MIT */
/*
 * libcryptsetup cannot put a header at an offset inside a file, so the
 * header is formatted into a memfd as a detached header, with the data
 * offset fixed at 16 MiB, and its data ranges are copied into the image. The
 * data device libcryptsetup is given is a second, empty memfd of the
 * partition's size (it reads the size only). Detached, libcryptsetup zeroes
 * only the first 4 KiB of the header file instead of all 16 MiB; the bytes
 * on disk are those of an attached header (LUKS2 records no difference).
 * The LUKS2 data segment is "dynamic" (to the end of the device), so the
 * header does not depend on where the partition lives.
 *
 * The payload is then encrypted the way dm-crypt decrypts it for
 * aes-xts-plain64 with 512-byte sectors: each sector on its own, IV = the
 * little-endian 64-bit sector number counted from the start of the data
 * segment, zero-padded to 16 bytes.
 */
#include "builder/data/luks.h"

#include <ctype.h>
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libcryptsetup.h>
#include <openssl/evp.h>
#include <sodium.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "signing/base/fileio.h"
#include "signing/base/macro.h"

#define CHUNK (1u << 20)
#define MK_LUKS2_KEYSLOTS_SIZE (1u << 20)
#define PBKDF2_MIN_ITER 1000u
#define ARGON2_MIN_TIME 4u
#define ARGON2_MEM_MIN 32u
#define ARGON2_MEM_MAX 4194304u
#define ARGON2_MEM_DEFAULT 65536u
#define ARGON2_PAR_MAX 4u
#define LABEL_MAX 47u

static const char *const pbkdf_names[] = {"pbkdf2", "argon2id", "argon2i"};

/* libcryptsetup's last error of this thread: it would print it otherwise. */
static __thread char cs_msg[512];

static void cs_log(int level, const char *msg, void *usrptr)
{
        if (level != CRYPT_LOG_ERROR || !msg)
                return;
        snprintf(cs_msg, sizeof(cs_msg), "%s", msg);
        size_t n = strlen(cs_msg);
        while (n && (cs_msg[n - 1] == '\n' || cs_msg[n - 1] == '.'))
                cs_msg[--n] = 0;
}

uint64_t mk_luks2_data_offset(uint64_t size)
{
        return MK_LUKS2_DATA_OFFSET;
}

uint64_t mk_luks2_payload_size(uint64_t size)
{
        return size > MK_LUKS2_DATA_OFFSET ? size - MK_LUKS2_DATA_OFFSET : 0;
}

static bool uuid_ok(const char *s)
{
        if (strlen(s) != 36)
                return false;
        for (int i = 0; i < 36; i++) {
                bool dash = i == 8 || i == 13 || i == 18 || i == 23;
                if (dash ? s[i] != '-' : !isxdigit((unsigned char)s[i]))
                        return false;
        }
        return true;
}

int mk_luks_opts_check(const mk_luks_opts *o, mk_error *err)
{
        const char *at = "data partition (LUKS2)";
        if (!o->key || o->key_len < MK_DATA_KEY_MIN || o->key_len > MK_DATA_KEY_MAX)
                return mk_error_set(err, EINVAL, "%s: a %zu-byte key (the key file must hold %u to %u bytes)", at,
                                    o->key ? o->key_len : 0, MK_DATA_KEY_MIN, MK_DATA_KEY_MAX);
        if ((unsigned)o->pbkdf >= ELEMENTSOF(pbkdf_names))
                return mk_error_set(err, EINVAL, "%s: unknown PBKDF %d (pbkdf2, argon2id or argon2i)", at, o->pbkdf);
        const char *name = pbkdf_names[o->pbkdf];
        if (o->pbkdf == MK_LUKS_PBKDF2) {
                if (o->iterations && o->iterations < PBKDF2_MIN_ITER)
                        return mk_error_set(err, EINVAL, "%s: %" PRIu32 " pbkdf2 iterations (at least %u)", at,
                                            o->iterations, PBKDF2_MIN_ITER);
                if (o->memory_kib || o->parallel)
                        return mk_error_set(err, EINVAL,
                                            "%s: memory and parallel costs apply to argon2 only (leave them 0 for "
                                            "pbkdf2)",
                                            at);
        } else {
                if (o->iterations && o->iterations < ARGON2_MIN_TIME)
                        return mk_error_set(err, EINVAL, "%s: %s time cost %" PRIu32 " (at least %u)", at, name,
                                            o->iterations, ARGON2_MIN_TIME);
                if (o->memory_kib && (o->memory_kib < ARGON2_MEM_MIN || o->memory_kib > ARGON2_MEM_MAX))
                        return mk_error_set(err, EINVAL, "%s: %s memory cost %" PRIu32 " KiB (%u to %u KiB)", at, name,
                                            o->memory_kib, ARGON2_MEM_MIN, ARGON2_MEM_MAX);
                if (o->parallel > ARGON2_PAR_MAX)
                        return mk_error_set(err, EINVAL, "%s: %s parallel cost %" PRIu32 " (1 to %u threads)", at, name,
                                            o->parallel, ARGON2_PAR_MAX);
        }
        if (o->uuid && !uuid_ok(o->uuid))
                return mk_error_set(err, EINVAL, "%s: '%s' is not a UUID (xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx)", at,
                                    o->uuid);
        if (o->label && strlen(o->label) > LABEL_MAX)
                return mk_error_set(err, EINVAL, "%s: label '%s' is longer than %u bytes (shorten it)", at, o->label,
                                    LABEL_MAX);
        return 0;
}

static int cs_fail(const char *at, int r, const char *doing, mk_error *err)
{
        int e = r < 0 ? -r : EIO;
        return mk_error_set(err, e, "%s: %s: %s", at, doing, cs_msg[0] ? cs_msg : strerror(e));
}

/* The parts of the header file that hold something: the two binary headers with their JSON areas, and
 * the area of the one keyslot. */
typedef struct header_used {
        uint64_t metadata_end;
        uint64_t keyslot_off, keyslot_len;
} header_used;

/* Format the header into hdr_fd (a file of MK_LUKS2_DATA_OFFSET bytes) with vk, for a data device
 * data_fd (a file of the partition's size). */
static int format_header(const char *at, int hdr_fd, int data_fd, const uint8_t *vk, const mk_luks_opts *o,
                         header_used *used, mk_error *err)
{
        char hdr[64], data[64];
        snprintf(hdr, sizeof(hdr), "/proc/self/fd/%d", hdr_fd);
        snprintf(data, sizeof(data), "/proc/self/fd/%d", data_fd);
        cs_msg[0] = 0;
        crypt_set_log_callback(NULL, cs_log, NULL); /* the default would print */
        crypt_metadata_locking(NULL, 0);            /* process-global; locks want /run/cryptsetup */
        struct crypt_device *cd = NULL;
        int r = crypt_init_data_device(&cd, hdr, data);
        if (r < 0)
                return cs_fail(at, r, "opening the header file", err);
        crypt_set_log_callback(cd, cs_log, NULL);
        bool argon = o->pbkdf != MK_LUKS_PBKDF2;
        struct crypt_pbkdf_type pb = {
                .type = pbkdf_names[o->pbkdf],
                .hash = "sha256",
                .iterations = o->iterations ? o->iterations
                              : argon       ? ARGON2_MIN_TIME
                                            : PBKDF2_MIN_ITER,
                .max_memory_kb = argon ? (o->memory_kib ? o->memory_kib : ARGON2_MEM_DEFAULT) : 0,
                .parallel_threads = argon ? (o->parallel ? o->parallel : 1) : 0,
                .flags = CRYPT_PBKDF_NO_BENCHMARK,
        };
        /* sector_size 0 would mean "detect", which may pick 4096 and change the IV numbering. */
        struct crypt_params_luks2 p2 = {.pbkdf = &pb, .sector_size = MK_LUKS2_SECTOR, .label = o->label};
        const char *doing = "setting the PBKDF";
        if ((r = crypt_set_pbkdf_type(cd, &pb)) < 0)
                goto out;
        doing = "setting the data offset";
        if ((r = crypt_set_data_offset(cd, MK_LUKS2_DATA_OFFSET / MK_LUKS2_SECTOR)) < 0)
                goto out;
        /* A keyslots area of 1 MiB instead of all of the 16 MiB: room for four keyslots of a 64-byte
         * key (258048 bytes each with 4000 AF stripes), the device's and three enrolled later.
         * libcryptsetup fills the whole area with random bytes, which costs time per device and keeps
         * the image from being sparse; the rest up to the data offset stays zero. */
        doing = "setting the keyslots area size";
        if ((r = crypt_set_metadata_size(cd, 0, MK_LUKS2_KEYSLOTS_SIZE)) < 0)
                goto out;
        /* Lower case, as libuuid writes them: udev's by-uuid names are compared as strings. */
        char uuid[37] = "";
        for (size_t i = 0; o->uuid && i < 36; i++)
                uuid[i] = (char)tolower((unsigned char)o->uuid[i]);
        doing = "formatting the header";
        if ((r = crypt_format(cd, CRYPT_LUKS2, "aes", "xts-plain64", o->uuid ? uuid : NULL, (const char *)vk,
                              MK_LUKS2_KEY_BYTES, &p2)) < 0)
                goto out;
        doing = "adding the keyslot";
        if ((r = crypt_keyslot_add_by_volume_key(cd, CRYPT_ANY_SLOT, (const char *)vk, MK_LUKS2_KEY_BYTES,
                                                 (const char *)o->key, o->key_len)) < 0)
                goto out;
        doing = "finding the keyslot's area";
        uint64_t md_size = 0, ks_size = 0;
        if ((r = crypt_get_metadata_size(cd, &md_size, &ks_size)) < 0 ||
            (r = crypt_keyslot_area(cd, r, &used->keyslot_off, &used->keyslot_len)) < 0)
                goto out;
        used->metadata_end = 2 * md_size;
        doing = "checking the data offset";
        if (crypt_get_data_offset(cd) * MK_LUKS2_SECTOR != MK_LUKS2_DATA_OFFSET || used->metadata_end == 0 ||
            used->metadata_end > MK_LUKS2_DATA_OFFSET || used->keyslot_len == 0 ||
            used->keyslot_off > MK_LUKS2_DATA_OFFSET - used->keyslot_len)
                r = -EPROTO;
        else
                r = 0;
out:
        crypt_free(cd); /* wipes its copy of the volume key */
        return r < 0 ? cs_fail(at, r, doing, err) : 0;
}

/* Encrypt [from, to) (relative to the payload at start; sector 0 at start) in place. */
static int encrypt_range(const char *at, EVP_CIPHER_CTX *ctx, uint8_t *buf, int fd, uint64_t start, uint64_t from,
                         uint64_t to, mk_error *err)
{
        for (uint64_t off = from; off < to;) {
                size_t n = to - off < CHUNK ? (size_t)(to - off) : CHUNK;
                int r = mk_pread_all(fd, buf, n, start + off);
                if (r < 0)
                        return mk_error_set(err, -r, "%s: reading the payload: %s", at, strerror(-r));
                for (size_t s = 0; s < n; s += MK_LUKS2_SECTOR) {
                        uint8_t iv[16] = {0};
                        uint64_t sector = htole64((off + s) / MK_LUKS2_SECTOR);
                        memcpy(iv, &sector, sizeof(sector));
                        int ol;
                        if (EVP_EncryptInit_ex(ctx, NULL, NULL, NULL, iv) != 1 ||
                            EVP_EncryptUpdate(ctx, buf + s, &ol, buf + s, MK_LUKS2_SECTOR) != 1 ||
                            ol != MK_LUKS2_SECTOR)
                                return mk_error_set(err, EIO, "%s: AES-256-XTS failed at sector %" PRIu64, at,
                                                    (off + s) / MK_LUKS2_SECTOR);
                }
                if ((r = mk_pwrite_all(fd, buf, n, start + off)) < 0)
                        return mk_error_set(err, -r, "%s: writing the encrypted payload: %s", at, strerror(-r));
                off += n;
        }
        return 0;
}

/*
 * Encrypt the len bytes of payload at start of fd in place, sector 0 at
 * start. Only the ranges that hold data are encrypted: a hole is a range the
 * file system writer never wrote (ext4 relies on nothing there: free
 * blocks), so it stays a hole and the image stays sparse; on a device it
 * reads as whatever the flash holds, decrypted: as good as zeros to ext4.
 * Without SEEK_DATA support everything counts as data.
 */
static int encrypt_payload(const char *at, int fd, uint64_t start, uint64_t len, const uint8_t *vk, mk_error *err)
{
        EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
        uint8_t *buf = malloc(CHUNK);
        int r = 0;
        if (!ctx || !buf) {
                r = mk_error_set(err, ENOMEM, "%s: out of memory", at);
                goto out;
        }
        if (EVP_EncryptInit_ex(ctx, EVP_aes_256_xts(), NULL, vk, NULL) != 1) {
                r = mk_error_set(err, EIO, "%s: OpenSSL refused the AES-256-XTS key", at);
                goto out;
        }
        for (uint64_t off = 0; off < len && r >= 0;) {
                off_t data = lseek(fd, (off_t)(start + off), SEEK_DATA);
                if (data < 0 && errno == ENXIO)
                        break; /* only holes from here to the end of the file */
                if (data < 0) {
                        if (errno != EINVAL && errno != EOPNOTSUPP) {
                                r = mk_error_set(err, errno, "%s: finding the payload's data: %m", at);
                                break;
                        }
                        r = encrypt_range(at, ctx, buf, fd, start, off, len, err); /* no SEEK_DATA: all of it */
                        break;
                }
                uint64_t from = (uint64_t)data - start;
                if (from >= len)
                        break;
                off_t hole = lseek(fd, data, SEEK_HOLE);
                uint64_t to = hole < 0 ? len : (uint64_t)hole - start;
                /* Whole sectors: extents are file-system blocks, multiples of 512 from the aligned start. */
                from -= from % MK_LUKS2_SECTOR;
                to = to > len ? len : (to + MK_LUKS2_SECTOR - 1) / MK_LUKS2_SECTOR * MK_LUKS2_SECTOR;
                r = encrypt_range(at, ctx, buf, fd, start, from, to, err);
                off = to;
        }
out:
        if (buf)
                OPENSSL_cleanse(buf, CHUNK);
        free(buf);
        EVP_CIPHER_CTX_free(ctx); /* cleanses the key schedule */
        return r;
}

/*
 * Copy the header area into place, written in full (docs/layout.md, "What
 * is written and what is a hole"): the two metadata copies (binary header
 * and JSON area, whose zero padding each copy's checksum covers: a hole
 * there reads as whatever the flash held and the header no longer loads)
 * and keyslot 0's whole area (the key material). Only the rest is left a
 * hole: the keyslots area beyond keyslot 0, which libcryptsetup fills with
 * random bytes that hold no key (the JSON area says which keyslots exist; a
 * keyslot added later writes its whole area), and the padding up to the
 * data offset. 772 KiB less per image to write, hash into block maps and
 * flash.
 */
static int copy_range(const char *at, int from, int to, uint64_t offset, uint64_t start, uint64_t stop, uint8_t *buf,
                      mk_error *err)
{
        for (uint64_t off = start; off < stop;) {
                size_t n = stop - off < CHUNK ? (size_t)(stop - off) : CHUNK;
                int r = mk_pread_all(from, buf, n, off);
                if (r == 0)
                        r = mk_pwrite_all(to, buf, n, offset + off);
                if (r < 0)
                        return mk_error_set(err, -r, "%s: copying the header: %s", at, strerror(-r));
                off += n;
        }
        return 0;
}

static int copy_header(const char *at, int from, int to, uint64_t offset, const header_used *used, mk_error *err)
{
        _cleanup_free_ uint8_t *buf = malloc(CHUNK);
        if (!buf)
                return mk_error_set(err, ENOMEM, "%s: out of memory", at);
        if (fallocate(to, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)offset, (off_t)MK_LUKS2_DATA_OFFSET) < 0)
                /* No holes here: all of it is written, the unused areas as zeros. */
                return copy_range(at, from, to, offset, 0, MK_LUKS2_DATA_OFFSET, buf, err);
        int r = copy_range(at, from, to, offset, 0, used->metadata_end, buf, err);
        return r < 0 ? r
                     : copy_range(at, from, to, offset, used->keyslot_off, used->keyslot_off + used->keyslot_len, buf,
                                  err);
}

struct mk_luks2_header {
        int fd;      /* memfd of MK_LUKS2_DATA_OFFSET bytes: the header as formatted */
        uint8_t *vk; /* the volume key, locked memory */
        header_used used;
};

mk_luks2_header *mk_luks2_header_free(mk_luks2_header *h)
{
        if (h) {
                if (h->fd >= 0)
                        close(h->fd);
                sodium_free(h->vk); /* wipes */
                free(h);
        }
        return NULL;
}

/*
 * The data device libcryptsetup is given is an empty memfd of a nominal
 * size: the header does not depend on the partition's size (the data
 * segment is "dynamic", to the end of the device), so one header fits any
 * partition of at least MK_LUKS2_DATA_OFFSET + MK_LUKS2_MIN_PAYLOAD bytes.
 */
static int header_new(const char *at, const mk_luks_opts *o, mk_luks2_header **ret, mk_error *err)
{
        int r = mk_luks_opts_check(o, err);
        if (r < 0)
                return r;
        if (sodium_init() < 0)
                return mk_error_set(err, EIO, "%s: libsodium failed to initialize", at);
        mk_luks2_header *h = calloc(1, sizeof(*h));
        if (!h)
                return mk_error_set(err, ENOMEM, "%s: out of memory", at);
        h->fd = memfd_create("mkimage-luks2-header", MFD_CLOEXEC);
        _cleanup_close_ int dev = memfd_create("mkimage-luks2-device", MFD_CLOEXEC);
        if (h->fd < 0 || dev < 0 || ftruncate(h->fd, (off_t)MK_LUKS2_DATA_OFFSET) < 0 ||
            ftruncate(dev, (off_t)(MK_LUKS2_DATA_OFFSET + MK_LUKS2_MIN_PAYLOAD)) < 0)
                r = mk_error_set(err, errno, "%s: creating the header in memory: %m", at);
        else if (!(h->vk = sodium_malloc(MK_LUKS2_KEY_BYTES)))
                r = mk_error_set(err, ENOMEM, "%s: cannot allocate locked memory for the volume key", at);
        else {
                randombytes_buf(h->vk, MK_LUKS2_KEY_BYTES);
                r = format_header(at, h->fd, dev, h->vk, o, &h->used, err);
        }
        /* The unused keyslots area is not copied (copy_header): its random bytes need not be kept in
         * memory either, while the factory holds headers made ahead. */
        if (r >= 0 && h->used.keyslot_off > h->used.metadata_end)
                (void)fallocate(h->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)h->used.metadata_end,
                                (off_t)(h->used.keyslot_off - h->used.metadata_end));
        if (r >= 0 && h->used.keyslot_off + h->used.keyslot_len < MK_LUKS2_DATA_OFFSET)
                (void)fallocate(h->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
                                (off_t)(h->used.keyslot_off + h->used.keyslot_len),
                                (off_t)(MK_LUKS2_DATA_OFFSET - h->used.keyslot_off - h->used.keyslot_len));
        if (r < 0) {
                mk_luks2_header_free(h);
                return r;
        }
        *ret = h;
        return 0;
}

int mk_luks2_header_new(const mk_luks_opts *o, mk_luks2_header **ret, mk_error *err)
{
        return header_new("data partition (LUKS2)", o, ret, err);
}

static int header_write(const char *at, const mk_luks2_header *h, const char *image_path, uint64_t offset,
                        uint64_t size, mk_error *err)
{
        if (offset % MK_LUKS2_SECTOR || size % MK_LUKS2_SECTOR || mk_luks2_payload_size(size) < MK_LUKS2_MIN_PAYLOAD ||
            offset > UINT64_MAX - size)
                return mk_error_set(err, EINVAL,
                                    "%s: %" PRIu64 " bytes is not a usable size (LUKS2 needs multiples of 512 bytes "
                                    "and at least %u MiB: 16 for the header, 1 or more for the data)",
                                    at, size, (MK_LUKS2_DATA_OFFSET + MK_LUKS2_MIN_PAYLOAD) >> 20);
        _cleanup_close_ int fd = open(image_path, O_RDWR | O_CLOEXEC);
        struct stat st;
        if (fd < 0 || fstat(fd, &st) < 0)
                return mk_error_set(err, errno, "%s: %m", at);
        if (!S_ISREG(st.st_mode))
                return mk_error_set(err, EINVAL, "%s: not a regular file (mkimage writes image files)", at);
        if ((uint64_t)st.st_size < offset + size)
                return mk_error_set(err, EINVAL,
                                    "%s: the partition ends at %" PRIu64 ", beyond the end of the image (%jd bytes)",
                                    at, offset + size, (intmax_t)st.st_size);
        int r = encrypt_payload(at, fd, offset + MK_LUKS2_DATA_OFFSET, mk_luks2_payload_size(size), h->vk, err);
        return r < 0 ? r : copy_header(at, h->fd, fd, offset, &h->used, err);
}

int mk_luks2_header_write(const mk_luks2_header *h, const char *image_path, uint64_t offset, uint64_t size,
                          mk_error *err)
{
        char at[512];
        snprintf(at, sizeof(at), "%s: data partition (LUKS2 at offset %" PRIu64 ")", image_path, offset);
        return header_write(at, h, image_path, offset, size, err);
}

int mk_luks2_format(const char *image_path, uint64_t offset, uint64_t size, const mk_luks_opts *o, mk_error *err)
{
        char at[512];
        snprintf(at, sizeof(at), "%s: data partition (LUKS2 at offset %" PRIu64 ")", o->name ? o->name : image_path,
                 offset);
        mk_luks2_header *h = NULL;
        int r = header_new(at, o, &h, err);
        if (r >= 0)
                r = header_write(at, h, image_path, offset, size, err);
        mk_luks2_header_free(h); /* wipes the volume key */
        return r;
}
