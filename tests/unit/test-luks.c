/* SPDX-License-Identifier: MIT */
/*
 * Data key files, LUKS2 options, and the LUKS2 partition: formatted at an
 * offset inside a larger file, then opened with libcryptsetup (which hands
 * back the volume key for the key file) and decrypted sector by sector.
 */
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <libcryptsetup.h>
#include <openssl/evp.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "data-check.h"
#include "builder/data/luks.h"
#include "signing/base/macro.h"

#define POFF (1u << 20)   /* the partition's offset inside the test file */
#define PSIZE (20u << 20) /* 16 MiB header + 4 MiB payload */
#define PLAIN (1u << 20)  /* bytes of non-zero plaintext at the payload's start */
#define UUID "12345678-9abc-4def-8123-456789abcdef"
#define UUID_UPPER "12345678-9ABC-4DEF-8123-456789ABCDEF"

static char dir[] = "/tmp/test-luks.XXXXXX";

static char *in_dir(const char *name)
{
        static char path[4][256];
        static int i;
        i = (i + 1) % 4;
        snprintf(path[i], sizeof(path[i]), "%s/%s", dir, name);
        return path[i];
}

static void write_file(const char *path, size_t len, mode_t mode)
{
        unlink(path);
        int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
        char buf[1024];
        for (size_t i = 0; i < sizeof(buf); i++)
                buf[i] = (char)(i * 7 + 1);
        if (fd < 0 || len > sizeof(buf) || write(fd, buf, len) != (ssize_t)len || fchmod(fd, mode) < 0) {
                perror(path);
                exit(2);
        }
        close(fd);
}

static void test_key_generate(void)
{
        mk_error err = {0};
        const char *k = in_dir("generated.key");
        CHECK(mk_data_key_generate(k, &err) == 0);
        struct stat st;
        CHECK(stat(k, &st) == 0 && S_ISREG(st.st_mode) && (st.st_mode & 07777) == 0600 && st.st_size == 64);
        uint8_t *key = NULL;
        size_t len = 0;
        CHECK(mk_data_key_load(k, &key, &len, &err) == 0 && len == 64);
        uint8_t file[64];
        int fd = open(k, O_RDONLY);
        CHECK(fd >= 0 && read(fd, file, 64) == 64 && key && !memcmp(file, key, 64));
        close(fd);
        mk_data_key_free(key);
        CHECK(mk_data_key_generate(k, &err) == -EEXIST);
        CHECK_ERR(&err, "%s: already exists (a data key is never overwritten: remove it first or choose another name)",
                  k);
        CHECK(mk_data_key_generate(in_dir("no/such/dir.key"), &err) == -ENOENT);
        CHECK(strstr(err.msg, "cannot create the data key: No such file or directory") != NULL);
}

/* load PATH: 0 or the negative errno, err.msg for the caller. */
static int load(const char *path, mk_error *err)
{
        uint8_t *key = NULL;
        size_t len = 0;
        mk_error_clear(err);
        int r = mk_data_key_load(path, &key, &len, err);
        mk_data_key_free(key);
        return r;
}

static void test_key_rules(void)
{
        mk_error err = {0};
        const char *k = in_dir("k");
        static const size_t good[] = {32, 64, 512};
        for (size_t i = 0; i < ELEMENTSOF(good); i++) {
                write_file(k, good[i], 0600);
                CHECK(load(k, &err) == 0);
        }
        write_file(k, 64, 0400);
        CHECK(load(k, &err) == 0);
        static const size_t bad[] = {0, 31, 513};
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                write_file(k, bad[i], 0600);
                CHECK(load(k, &err) == -EINVAL);
                CHECK_ERR(&err,
                          "%s: %zu bytes is not a data key (a key file holds 32 to 512 random bytes; make one with "
                          "'(umask 077; head -c 64 /dev/urandom > %s)')",
                          k, bad[i], k);
        }
        static const mode_t open_modes[] = {0644, 0640, 0604, 0610};
        for (size_t i = 0; i < ELEMENTSOF(open_modes); i++) {
                write_file(k, 64, open_modes[i]);
                CHECK(load(k, &err) == -EACCES);
                CHECK_ERR(&err, "%s: mode %04o lets others read the data key (run 'chmod 600 %s')", k,
                          (unsigned)open_modes[i], k);
        }
        CHECK(load(dir, &err) == -EINVAL);
        CHECK_ERR(&err, "%s: not a regular file (a data key is a file of 32 to 512 random bytes)", dir);
        const char *fifo = in_dir("fifo");
        CHECK(mkfifo(fifo, 0600) == 0);
        CHECK(load(fifo, &err) == -EINVAL); /* and does not hang */
        CHECK(load(in_dir("missing"), &err) == -ENOENT);
        CHECK_ERR(&err, "%s: cannot open the data key: No such file or directory", in_dir("missing"));
}

static const uint8_t test_key[64] = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcde";

static void test_luks_opts(void)
{
        struct {
                mk_luks_opts o;
                const char *msg;
        } cases[] = {
                {{.key = NULL}, "data partition (LUKS2): a 0-byte key (the key file must hold 32 to 512 bytes)"},
                {{.key = test_key, .key_len = 31},
                 "data partition (LUKS2): a 31-byte key (the key file must hold 32 to 512 bytes)"},
                {{.key = test_key, .key_len = 64, .pbkdf = (mk_luks_pbkdf)7},
                 "data partition (LUKS2): unknown PBKDF 7 (pbkdf2, argon2id or argon2i)"},
                {{.key = test_key, .key_len = 64, .iterations = 999},
                 "data partition (LUKS2): 999 pbkdf2 iterations (at least 1000)"},
                {{.key = test_key, .key_len = 64, .memory_kib = 1024},
                 "data partition (LUKS2): memory and parallel costs apply to argon2 only (leave them 0 for pbkdf2)"},
                {{.key = test_key, .key_len = 64, .pbkdf = MK_LUKS_ARGON2ID, .iterations = 3},
                 "data partition (LUKS2): argon2id time cost 3 (at least 4)"},
                {{.key = test_key, .key_len = 64, .pbkdf = MK_LUKS_ARGON2I, .memory_kib = 31},
                 "data partition (LUKS2): argon2i memory cost 31 KiB (32 to 4194304 KiB)"},
                {{.key = test_key, .key_len = 64, .pbkdf = MK_LUKS_ARGON2ID, .memory_kib = 4194305},
                 "data partition (LUKS2): argon2id memory cost 4194305 KiB (32 to 4194304 KiB)"},
                {{.key = test_key, .key_len = 64, .pbkdf = MK_LUKS_ARGON2ID, .parallel = 5},
                 "data partition (LUKS2): argon2id parallel cost 5 (1 to 4 threads)"},
                {{.key = test_key, .key_len = 64, .uuid = "12345678-9abc-4def-8123-456789abcdeg"},
                 "data partition (LUKS2): '12345678-9abc-4def-8123-456789abcdeg' is not a UUID "
                 "(xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx)"},
                {{.key = test_key, .key_len = 64, .label = "a-label-that-is-much-longer-than-forty-seven-bytes"},
                 "data partition (LUKS2): label 'a-label-that-is-much-longer-than-forty-seven-bytes' is longer than "
                 "47 bytes (shorten it)"},
        };
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                mk_error err = {0};
                CHECK(mk_luks_opts_check(&cases[i].o, &err) == -EINVAL);
                CHECK_STREQ(err.msg, cases[i].msg);
        }
        mk_error err = {0};
        mk_luks_opts ok = {.key = test_key,
                           .key_len = 64,
                           .pbkdf = MK_LUKS_ARGON2ID,
                           .iterations = 4,
                           .memory_kib = 32,
                           .parallel = 4,
                           .uuid = UUID,
                           .label = "data"};
        CHECK(mk_luks_opts_check(&ok, &err) == 0);
        CHECK(mk_luks2_data_offset(64u << 20) == 16u << 20 && mk_luks2_payload_size(64u << 20) == 48u << 20);
        CHECK(mk_luks2_payload_size(16u << 20) == 0);
}

static unsigned char plain_byte(uint64_t i)
{
        return i < PLAIN ? (unsigned char)(i * 13 + (i >> 9)) : 0;
}

/* A disk with markers around the partition and the plaintext payload in place. */
static int make_disk(char *path)
{
        int fd = mkstemp(path);
        static unsigned char buf[PLAIN];
        for (uint64_t i = 0; i < PLAIN; i++)
                buf[i] = plain_byte(i);
        if (fd < 0 || ftruncate(fd, POFF + PSIZE + 4096) < 0 || pwrite(fd, "BEFORE", 6, POFF - 6) != 6 ||
            pwrite(fd, "AFTER", 5, POFF + PSIZE) != 5 ||
            pwrite(fd, buf, PLAIN, POFF + mk_luks2_data_offset(PSIZE)) != PLAIN) {
                perror(path);
                exit(2);
        }
        return fd;
}

/*
 * Open the partition with libcryptsetup as a device holds it after a flash
 * of its data extents onto media filled with fill (0x00, or 0xA5 and 0xFF as
 * used or erased flash): the header must not rely on a hole reading as zero.
 * Decrypt and compare sectors.
 */
static void check_partition(int fd, const mk_luks_opts *o, const char *pbkdf, int fill)
{
        int m = flash_copy(fd, POFF, PSIZE, fill);
        char dev[64];
        snprintf(dev, sizeof(dev), "/proc/self/fd/%d", m);
        struct crypt_device *cd = NULL;
        CHECK(crypt_init(&cd, dev) == 0 && crypt_load(cd, CRYPT_LUKS2, NULL) == 0);
        CHECK_STREQ(crypt_get_cipher(cd), "aes");
        CHECK_STREQ(crypt_get_cipher_mode(cd), "xts-plain64");
        CHECK(crypt_get_sector_size(cd) == 512 && crypt_get_data_offset(cd) == 32768);
        CHECK(crypt_get_volume_key_size(cd) == 64);
        CHECK_STREQ(crypt_get_uuid(cd), UUID);
        CHECK_STREQ(crypt_get_label(cd), "data");
        struct crypt_pbkdf_type pb;
        CHECK(crypt_keyslot_get_pbkdf(cd, 0, &pb) == 0 && !strcmp(pb.type, pbkdf));
        char vk[64];
        size_t vk_len = sizeof(vk);
        CHECK(crypt_volume_key_get(cd, CRYPT_ANY_SLOT, vk, &vk_len, (const char *)o->key, o->key_len) == 0);
        CHECK(crypt_volume_key_get(cd, CRYPT_ANY_SLOT, vk, &vk_len, "wrong", 5) < 0);
        crypt_free(cd);
        EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
        CHECK(EVP_DecryptInit_ex(ctx, EVP_aes_256_xts(), NULL, (unsigned char *)vk, NULL) == 1);
        uint64_t sectors = mk_luks2_payload_size(PSIZE) / 512;
        static const uint64_t pick[] = {0, 1, 777, PLAIN / 512 - 1, PLAIN / 512, 5000};
        for (size_t i = 0; i < ELEMENTSOF(pick) + 1; i++) {
                uint64_t s = i < ELEMENTSOF(pick) ? pick[i] : sectors - 1;
                unsigned char in[512], out[512], iv[16] = {0};
                uint64_t le = htole64(s);
                memcpy(iv, &le, 8);
                int ol = 0;
                CHECK(pread(m, in, 512, (off_t)(mk_luks2_data_offset(PSIZE) + s * 512)) == 512);
                CHECK(EVP_DecryptInit_ex(ctx, NULL, NULL, NULL, iv) == 1 &&
                      EVP_DecryptUpdate(ctx, out, &ol, in, 512) == 1 && ol == 512);
                bool same = true, was_plain = true, hole = true;
                for (int j = 0; j < 512; j++) {
                        same &= out[j] == plain_byte(s * 512 + j);
                        was_plain &= in[j] == plain_byte(s * 512 + j);
                        hole &= in[j] == fill;
                }
                if (s < PLAIN / 512)
                        CHECK(same && !was_plain); /* written: encrypted */
                else
                        CHECK(hole); /* never written (a hole): left a hole, the image stays sparse */
        }
        EVP_CIPHER_CTX_free(ctx);
        close(m);
}

/*
 * The header's data extents: both metadata copies (2 x 16 KiB) and keyslot
 * 0's area (258048 bytes at 32 KiB) in one run, then a hole up to the data
 * offset (the unused keyslots area and the padding).
 */
static void check_header_mapped(int fd)
{
        off_t data = lseek(fd, POFF, SEEK_DATA), hole = lseek(fd, POFF, SEEK_HOLE);
        CHECK(data == POFF && hole == POFF + (32 << 10) + 258048);
        CHECK(lseek(fd, hole, SEEK_DATA) == POFF + (off_t)mk_luks2_data_offset(PSIZE));
}

static void test_luks_format(void)
{
        static const struct {
                mk_luks_pbkdf kdf;
                const char *name;
        } kdfs[] = {{MK_LUKS_PBKDF2, "pbkdf2"}, {MK_LUKS_ARGON2ID, "argon2id"}};
        for (size_t i = 0; i < ELEMENTSOF(kdfs); i++) {
                char p[] = "/tmp/test-luks-disk.XXXXXX";
                int fd = make_disk(p);
                mk_luks_opts o = {
                        .key = test_key, .key_len = 64, .pbkdf = kdfs[i].kdf, .uuid = UUID_UPPER, .label = "data"};
                if (kdfs[i].kdf != MK_LUKS_PBKDF2)
                        o.memory_kib = 1024;
                mk_error err = {0};
                int r = mk_luks2_format(p, POFF, PSIZE, &o, &err);
                if (r < 0)
                        fprintf(stderr, "%s\n", err.msg);
                CHECK(r == 0);
                char b[6], a[5], magic[6];
                CHECK(pread(fd, b, 6, POFF - 6) == 6 && !memcmp(b, "BEFORE", 6));
                CHECK(pread(fd, a, 5, POFF + PSIZE) == 5 && !memcmp(a, "AFTER", 5));
                CHECK(pread(fd, magic, 6, POFF) == 6 && !memcmp(magic, "LUKS\xba\xbe", 6));
                static const int fills[] = {0x00, 0xa5, 0xff};
                for (size_t k = 0; k < ELEMENTSOF(fills); k++)
                        check_partition(fd, &o, kdfs[i].name, fills[k]);
                check_header_mapped(fd);
                unlink(p);
                close(fd);
        }
}

static void test_luks_bad_geometry(void)
{
        char p[] = "/tmp/test-luks-disk.XXXXXX";
        int fd = make_disk(p);
        mk_luks_opts o = {.key = test_key, .key_len = 64};
        mk_error err = {0};
        CHECK(mk_luks2_format(p, POFF, (17u << 20) - 512, &o, &err) == -EINVAL);
        CHECK_ERR(&err,
                  "%s: data partition (LUKS2 at offset 1048576): 17825280 bytes is not a usable size (LUKS2 needs "
                  "multiples of 512 bytes and at least 17 MiB: 16 for the header, 1 or more for the data)",
                  p);
        CHECK(mk_luks2_format(p, POFF + 1, PSIZE, &o, &err) == -EINVAL);
        mk_error_clear(&err);
        CHECK(mk_luks2_format(p, POFF + 8192, PSIZE, &o, &err) == -EINVAL);
        CHECK_ERR(&err,
                  "%s: data partition (LUKS2 at offset 1056768): the partition ends at 22028288, beyond the end of "
                  "the image (22024192 bytes)",
                  p);
        o.key_len = 16;
        CHECK(mk_luks2_format(p, POFF, PSIZE, &o, &err) == -EINVAL);
        char magic[4];
        CHECK(pread(fd, magic, 4, POFF) == 4 && memcmp(magic, "LUKS", 4)); /* nothing written */
        unlink(p);
        close(fd);
}

int main(void)
{
        check_suite_ = "luks";
        if (!mkdtemp(dir)) {
                perror("mkdtemp");
                return 2;
        }
        crypt_metadata_locking(NULL, 0); /* before the first crypt_init */
        RUN(test_key_generate);
        RUN(test_key_rules);
        RUN(test_luks_opts);
        RUN(test_luks_format);
        RUN(test_luks_bad_geometry);
        int r = check_exit();
        char cmd[300];
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
        if (system(cmd) != 0)
                r = 1;
        return r;
}
