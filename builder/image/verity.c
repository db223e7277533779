/* SPDX-License-Identifier: MIT */
/*
 * The tree is built in memory (about 1/127 of the data) and written once.
 * Layout on disk after the 4 KiB superblock block: the top level first, then
 * each lower level; each hash block holds 128 SHA-256 digests of
 * salt || child block, zero-padded. The root hash is SHA-256(salt || top).
 */
#include "builder/image/verity.h"

#include <endian.h>
#include <errno.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "signing/base/fileio.h"
#include "signing/base/macro.h"

#define BS MK_VERITY_BLOCK
#define PER_BLOCK (BS / 32)
#define CHUNK_BLOCKS 256 /* 1 MiB reads */

/*
 * The cryptsetup verity superblock, little endian, in the first 512 bytes of
 * the hash device:
 *   0 signature "verity\0\0" | 8 version | 12 hash_type | 16 uuid[16]
 *  32 algorithm[32] | 64 data_block_size | 68 hash_block_size
 *  72 data_blocks (u64) | 80 salt_size (u16) | 82 pad[6] | 88 salt[256]
 * 344 pad[168]
 */
struct verity_sb {
        uint8_t signature[8];
        uint32_t version;
        uint32_t hash_type;
        uint8_t uuid[16];
        char algorithm[32];
        uint32_t data_block_size;
        uint32_t hash_block_size;
        uint64_t data_blocks;
        uint16_t salt_size;
        uint8_t pad1[6];
        uint8_t salt[256];
        uint8_t pad2[168];
} __attribute__((packed));
_Static_assert(sizeof(struct verity_sb) == 512, "verity superblock is 512 bytes");

typedef struct tree {
        mk_verity_shape s;
        uint8_t *buf;
} tree;

static int tree_init(tree *t, uint64_t data_blocks)
{
        mk_verity_shape_of(data_blocks, &t->s);
        t->buf = NULL;
        if (t->s.blocks && !(t->buf = calloc(t->s.blocks, BS)))
                return -ENOMEM;
        return 0;
}

typedef struct job {
        int fd;
        uint64_t data_off;
        uint64_t first, last; /* data blocks [first, last) */
        const EVP_MD_CTX *salted;
        uint8_t *out; /* digests of blocks first.. go to out + (j - first) * 32 */
        int err;
        uint8_t single[32]; /* digest of block 0 when there is one block */
} job;

static void *hash_range(void *arg)
{
        job *j = arg;
        EVP_MD_CTX *c = EVP_MD_CTX_new();
        uint8_t *buf = malloc((size_t)CHUNK_BLOCKS * BS);
        if (!c || !buf) {
                j->err = ENOMEM;
                goto out;
        }
        for (uint64_t b = j->first; b < j->last;) {
                uint64_t n = j->last - b < CHUNK_BLOCKS ? j->last - b : CHUNK_BLOCKS;
                size_t want = (size_t)n * BS, got = 0;
                while (got < want) {
                        ssize_t k = pread(j->fd, buf + got, want - got, (off_t)(j->data_off + b * BS + got));
                        if (k < 0 && errno == EINTR)
                                continue;
                        if (k <= 0) {
                                j->err = k < 0 ? errno : EIO;
                                goto out;
                        }
                        got += (size_t)k;
                }
                for (uint64_t i = 0; i < n; i++) {
                        uint8_t *dst = j->out ? j->out + (b + i - j->first) * 32 : j->single;
                        if (!EVP_MD_CTX_copy_ex(c, j->salted) || !EVP_DigestUpdate(c, buf + i * BS, BS) ||
                            !EVP_DigestFinal_ex(c, dst, NULL)) {
                                j->err = EIO;
                                goto out;
                        }
                }
                b += n;
        }
out:
        free(buf);
        EVP_MD_CTX_free(c);
        return NULL;
}

static int digest(const EVP_MD_CTX *salted, EVP_MD_CTX *c, const uint8_t *block, uint8_t out[32])
{
        return EVP_MD_CTX_copy_ex(c, salted) && EVP_DigestUpdate(c, block, BS) && EVP_DigestFinal_ex(c, out, NULL)
                       ? 0
                       : -EIO;
}

/* Build the tree of the data at data_off into t (already sized); root into root. */
static int build_tree(int fd, uint64_t data_off, uint64_t data_blocks, const uint8_t *salt, unsigned threads, tree *t,
                      uint8_t root[32], mk_error *err)
{
        EVP_MD_CTX *salted = EVP_MD_CTX_new(), *c = EVP_MD_CTX_new();
        int r = 0;
        if (!salted || !c || !EVP_DigestInit_ex(salted, EVP_sha256(), NULL) ||
            !EVP_DigestUpdate(salted, salt, MK_VERITY_SALT)) {
                r = mk_error_set(err, EIO, "SHA-256 is not available from libcrypto");
                goto out;
        }
        if (threads < 1)
                threads = 1;
        if (threads > 16)
                threads = 16;
        job jobs[16];
        pthread_t tids[16];
        bool created[16] = {false};
        /* Split the data on 128-block boundaries so workers fill distinct hash blocks. */
        uint64_t groups = (data_blocks + PER_BLOCK - 1) / PER_BLOCK;
        uint64_t per = (groups + threads - 1) / threads;
        unsigned started = 0;
        for (unsigned i = 0; i < threads && i * per * PER_BLOCK < data_blocks; i++, started++) {
                uint64_t first = i * per * PER_BLOCK, last = (i + 1) * per * PER_BLOCK;
                jobs[i] = (job){.fd = fd,
                                .data_off = data_off,
                                .first = first,
                                .last = last < data_blocks ? last : data_blocks,
                                .salted = salted,
                                .out = t->s.levels ? t->buf + (t->s.start[0] * BS) + first * 32 : NULL};
        }
        for (unsigned i = 1; i < started; i++)
                created[i] = pthread_create(&tids[i], NULL, hash_range, &jobs[i]) == 0;
        hash_range(&jobs[0]);
        for (unsigned i = 1; i < started; i++) {
                if (created[i])
                        pthread_join(tids[i], NULL);
                else
                        hash_range(&jobs[i]); /* no thread: do it here */
        }
        for (unsigned i = 0; i < started; i++)
                if (jobs[i].err) {
                        r = mk_error_set(err, jobs[i].err, "reading data blocks for dm-verity failed: %s",
                                         strerror(jobs[i].err));
                        goto out;
                }
        if (t->s.levels == 0) {
                memcpy(root, jobs[0].single, 32);
                goto out;
        }
        for (unsigned lv = 1; lv < t->s.levels; lv++) {
                const uint8_t *src = t->buf + t->s.start[lv - 1] * BS;
                uint8_t *dst = t->buf + t->s.start[lv] * BS;
                for (uint64_t k = 0; k < t->s.count[lv - 1]; k++)
                        if ((r = digest(salted, c, src + k * BS, dst + k * 32)) < 0)
                                goto out;
        }
        r = digest(salted, c, t->buf + t->s.start[t->s.levels - 1] * BS, root);
out:
        EVP_MD_CTX_free(salted);
        EVP_MD_CTX_free(c);
        return r;
}

static void fill_sb(struct verity_sb *sb, uint64_t data_blocks, const uint8_t *salt, const uint8_t *uuid)
{
        memset(sb, 0, sizeof(*sb));
        memcpy(sb->signature, "verity\0\0", 8);
        sb->version = htole32(1);
        sb->hash_type = htole32(1);
        memcpy(sb->uuid, uuid, 16);
        snprintf(sb->algorithm, sizeof(sb->algorithm), "sha256");
        sb->data_block_size = htole32(BS);
        sb->hash_block_size = htole32(BS);
        sb->data_blocks = htole64(data_blocks);
        sb->salt_size = htole16(MK_VERITY_SALT);
        memcpy(sb->salt, salt, MK_VERITY_SALT);
}

int mk_verity_format(int fd, uint64_t data_off, uint64_t data_size, const mk_verity_dest *dests, size_t n,
                     const uint8_t salt[MK_VERITY_SALT], unsigned threads, mk_verity *ret, mk_error *err)
{
        if (data_size == 0 || data_size % BS)
                return mk_error_set(err, EINVAL, "dm-verity data size %llu is not a non-zero multiple of 4096",
                                    (unsigned long long)data_size);
        uint64_t data_blocks = data_size / BS;
        tree t;
        int r = tree_init(&t, data_blocks);
        if (r < 0)
                return mk_error_set(err, -r, "cannot allocate the dm-verity tree: %s", strerror(-r));
        uint64_t need = mk_verity_hash_size(data_blocks);
        for (size_t i = 0; i < n; i++)
                if (need > dests[i].hash_max) {
                        free(t.buf);
                        return mk_error_set(err, ENOSPC,
                                            "the verity partition holds %llu bytes but the hash tree needs %llu",
                                            (unsigned long long)dests[i].hash_max, (unsigned long long)need);
                }
        uint8_t root[32];
        if ((r = build_tree(fd, data_off, data_blocks, salt, threads, &t, root, err)) < 0) {
                free(t.buf);
                return r;
        }
        for (size_t i = 0; i < n && r >= 0; i++) {
                uint8_t block0[BS] = {0};
                fill_sb((struct verity_sb *)block0, data_blocks, salt, dests[i].uuid);
                if ((r = mk_pwrite_all(fd, block0, BS, dests[i].hash_off)) < 0 ||
                    (t.s.blocks && (r = mk_pwrite_all(fd, t.buf, t.s.blocks * BS, dests[i].hash_off + BS)) < 0))
                        r = mk_error_set(err, -r, "writing the dm-verity tree failed: %s", strerror(-r));
        }
        free(t.buf);
        if (r < 0)
                return r;
        for (size_t i = 0; i < n; i++) {
                ret[i].data_blocks = data_blocks;
                ret[i].hash_size = need;
                memcpy(ret[i].salt, salt, MK_VERITY_SALT);
                memcpy(ret[i].root_hash, root, 32);
                memcpy(ret[i].uuid, dests[i].uuid, 16);
        }
        return 0;
}

int mk_verity_check(int fd, uint64_t data_off, uint64_t hash_off, const uint8_t root_hash[32], unsigned threads,
                    mk_verity *ret, mk_error *err)
{
        struct verity_sb sb;
        ssize_t k = pread(fd, &sb, sizeof(sb), (off_t)hash_off);
        if (k != (ssize_t)sizeof(sb) || memcmp(sb.signature, "verity\0\0", 8) != 0)
                return mk_error_set(err, EBADMSG, "no dm-verity superblock");
        uint64_t data_blocks = le64toh(sb.data_blocks);
        if (le32toh(sb.version) != 1 || le32toh(sb.hash_type) != 1 || strncmp(sb.algorithm, "sha256", 32) ||
            le32toh(sb.data_block_size) != BS || le32toh(sb.hash_block_size) != BS ||
            le16toh(sb.salt_size) != MK_VERITY_SALT || data_blocks == 0 || data_blocks > (UINT64_MAX / BS))
                return mk_error_set(err, EBADMSG, "the dm-verity superblock has unexpected parameters");
        tree t;
        int r = tree_init(&t, data_blocks);
        if (r < 0)
                return mk_error_set(err, -r, "cannot allocate the dm-verity tree: %s", strerror(-r));
        uint8_t root[32];
        if ((r = build_tree(fd, data_off, data_blocks, sb.salt, threads, &t, root, err)) < 0)
                goto out;
        uint8_t stored[BS];
        for (uint64_t b = 0; b < t.s.blocks; b++) {
                k = pread(fd, stored, BS, (off_t)(hash_off + (b + 1) * BS));
                if (k != BS || memcmp(stored, t.buf + b * BS, BS) != 0) {
                        r = mk_error_set(err, EBADMSG, "hash block %llu differs from the data (tampered data or tree)",
                                         (unsigned long long)b);
                        goto out;
                }
        }
        if (CRYPTO_memcmp(root, root_hash, 32) != 0) {
                r = mk_error_set(err, EBADMSG, "the root hash does not match");
                goto out;
        }
        if (ret) {
                ret->data_blocks = data_blocks;
                ret->hash_size = mk_verity_hash_size(data_blocks);
                memcpy(ret->salt, sb.salt, MK_VERITY_SALT);
                memcpy(ret->root_hash, root, 32);
                memcpy(ret->uuid, sb.uuid, 16);
        }
out:
        free(t.buf);
        return r;
}
