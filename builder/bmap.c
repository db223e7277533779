/* SPDX-License-Identifier: MIT */
#include "bmap.h"

#include <errno.h>
#include <inttypes.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "digest.h"
#include "macro.h"

#define CHUNK (1u << 20)
#define ZERO_CHECKSUM "0000000000000000000000000000000000000000000000000000000000000000"

typedef struct text {
        char *s;
        size_t len, cap;
        bool oom;
} text;

static void __attribute__((format(printf, 2, 3))) put(text *t, const char *fmt, ...)
{
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(NULL, 0, fmt, ap);
        va_end(ap);
        if (t->oom || n < 0)
                return;
        if (t->len + (size_t)n + 1 > t->cap) {
                size_t cap = (t->len + (size_t)n + 1) * 2;
                char *s = realloc(t->s, cap);
                if (!s) {
                        t->oom = true;
                        return;
                }
                t->s = s;
                t->cap = cap;
        }
        va_start(ap, fmt);
        vsnprintf(t->s + t->len, t->cap - t->len, fmt, ap);
        va_end(ap);
        t->len += (size_t)n;
}

/* Hash [from, to) of fd into the range digest (and the image digest). */
static int hash_range(int fd, const char *name, uint64_t from, uint64_t to, uint8_t *buf, EVP_MD_CTX *img,
                      char hex[65], mk_error *err)
{
        EVP_MD_CTX *c = EVP_MD_CTX_new();
        if (!c)
                return mk_error_set(err, ENOMEM, "out of memory");
        EVP_DigestInit_ex(c, EVP_sha256(), NULL);
        int r = 0;
        for (uint64_t off = from; off < to;) {
                size_t want = to - off < CHUNK ? (size_t)(to - off) : CHUNK;
                ssize_t k = pread(fd, buf, want, (off_t)off);
                if (k < 0 && errno == EINTR)
                        continue;
                if (k <= 0) {
                        r = mk_error_set(err, k < 0 ? errno : EIO, "%s: reading for the block map: %s", name,
                                         k < 0 ? strerror(errno) : "short read");
                        break;
                }
                EVP_DigestUpdate(c, buf, (size_t)k);
                if (img)
                        EVP_DigestUpdate(img, buf, (size_t)k);
                off += (uint64_t)k;
        }
        uint8_t md[32];
        EVP_DigestFinal_ex(c, md, NULL);
        EVP_MD_CTX_free(c);
        mk_hex(md, sizeof(md), hex);
        return r;
}

static void hash_zeros(EVP_MD_CTX *img, const uint8_t *zero, uint64_t len)
{
        while (img && len) {
                size_t n = len < CHUNK ? (size_t)len : CHUNK;
                EVP_DigestUpdate(img, zero, n);
                len -= n;
        }
}

int mk_bmap_make(int fd, const char *name, char **ret_text, size_t *ret_len, char image_sha[65], mk_error *err)
{
        struct stat st;
        if (fstat(fd, &st) < 0)
                return mk_error_set(err, errno, "%s: %s", name, strerror(errno));
        uint64_t size = (uint64_t)st.st_size, blocks = (size + MK_BMAP_BLOCK - 1) / MK_BMAP_BLOCK;
        _cleanup_free_ uint8_t *buf = malloc(CHUNK), *zero = image_sha ? calloc(1, CHUNK) : NULL;
        EVP_MD_CTX *img = image_sha ? EVP_MD_CTX_new() : NULL;
        text ranges = { 0 }, t = { 0 };
        uint64_t mapped = 0;
        int r = 0;
        if (!buf || (image_sha && (!zero || !img))) {
                r = mk_error_set(err, ENOMEM, "out of memory");
                goto out;
        }
        if (img)
                EVP_DigestInit_ex(img, EVP_sha256(), NULL);
        for (uint64_t pos = 0; pos < size;) {
                off_t data = lseek(fd, (off_t)pos, SEEK_DATA);
                if (data < 0 && errno != ENXIO) {
                        r = mk_error_set(err, errno, "%s: finding the mapped blocks: %s", name, strerror(errno));
                        goto out;
                }
                uint64_t from = data < 0 ? size : (uint64_t)data / MK_BMAP_BLOCK * MK_BMAP_BLOCK;
                if (from > size)
                        from = size;
                hash_zeros(img, zero, from - pos);
                if (from >= size)
                        break;
                off_t hole = lseek(fd, data, SEEK_HOLE);
                uint64_t to = hole < 0 ? size : ((uint64_t)hole + MK_BMAP_BLOCK - 1) / MK_BMAP_BLOCK * MK_BMAP_BLOCK;
                if (to > size)
                        to = size;
                char hex[65];
                if ((r = hash_range(fd, name, from, to, buf, img, hex, err)) < 0)
                        goto out;
                uint64_t b0 = from / MK_BMAP_BLOCK, b1 = (to + MK_BMAP_BLOCK - 1) / MK_BMAP_BLOCK - 1;
                if (b0 == b1)
                        put(&ranges, "        <Range chksum=\"%s\"> %" PRIu64 " </Range>\n", hex, b0);
                else
                        put(&ranges, "        <Range chksum=\"%s\"> %" PRIu64 "-%" PRIu64 " </Range>\n", hex, b0, b1);
                mapped += b1 - b0 + 1;
                pos = to;
        }
        put(&t, "<?xml version=\"1.0\" ?>\n"
                "<!-- Block map of an image made by mkimage: the blocks that hold data.\n"
                "     Flash with: bmaptool copy IMAGE DEVICE (bmap-tools reads this file\n"
                "     beside the image, writes only the mapped blocks and checks each\n"
                "     range's SHA-256). -->\n\n"
                "<bmap version=\"2.0\">\n");
        put(&t, "    <ImageSize> %" PRIu64 " </ImageSize>\n", size);
        put(&t, "    <BlockSize> %u </BlockSize>\n", MK_BMAP_BLOCK);
        put(&t, "    <BlocksCount> %" PRIu64 " </BlocksCount>\n", blocks);
        put(&t, "    <MappedBlocksCount> %" PRIu64 " </MappedBlocksCount>\n", mapped);
        put(&t, "    <ChecksumType> sha256 </ChecksumType>\n");
        /* The file's own checksum is computed with this field all zeros, then filled in. */
        put(&t, "    <BmapFileChecksum> " ZERO_CHECKSUM " </BmapFileChecksum>\n");
        put(&t, "    <BlockMap>\n%s    </BlockMap>\n</bmap>\n", ranges.s ? ranges.s : "");
        if (t.oom || ranges.oom) {
                r = mk_error_set(err, ENOMEM, "out of memory");
                goto out;
        }
        char self[65];
        mk_sha256_buffer(t.s, t.len, self);
        memcpy(strstr(t.s, ZERO_CHECKSUM), self, 64);
        if (img) {
                uint8_t md[32];
                EVP_DigestFinal_ex(img, md, NULL);
                mk_hex(md, sizeof(md), image_sha);
        }
        *ret_text = TAKE_PTR(t.s);
        *ret_len = t.len;
out:
        EVP_MD_CTX_free(img);
        free(ranges.s);
        free(t.s);
        return r;
}
