/* SPDX-License-Identifier: MIT */
#include "builder/image/bmap.h"

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

#include "builder/image/digest.h"
#include "signing/base/fileio.h"
#include "signing/base/macro.h"

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

struct mk_bmap_ref {
        int fd;
        size_t n;
        uint64_t *start, *end; /* sorted pieces */
        char (*hex)[65];
};

/* Where a device's bytes are read from (see read_mixed); base NULL: all from fd. */
typedef struct source {
        int fd;
        const mk_bmap_ref *base;
        const mk_ranges *written;
} source;

static bool own_block(const source *s, uint64_t from, uint64_t to)
{
        return !s->base || !s->written || mk_ranges_overlap(s->written, from, to);
}

/*
 * Read [off, off + len) of the image: the blocks nothing wrote since the
 * image was cloned from the common part are read from the common part,
 * whose pages are in memory; a fresh clone's are not (a reflink shares the
 * blocks, not the page cache), and reading them would wait for the disk.
 * The bytes are the same: that is what a clone is.
 */
static int read_mixed(const source *s, uint8_t *buf, size_t len, uint64_t off)
{
        for (size_t done = 0; done < len;) {
                uint64_t a = off + done, end = off + len;
                uint64_t b = (a / MK_BMAP_BLOCK + 1) * MK_BMAP_BLOCK;
                b = b < end ? b : end;
                bool own = own_block(s, a, b);
                while (b < end) {
                        uint64_t nb = b + MK_BMAP_BLOCK < end ? b + MK_BMAP_BLOCK : end;
                        if (own_block(s, b, nb) != own)
                                break;
                        b = nb;
                }
                int r = mk_pread_all(own ? s->fd : s->base->fd, buf + done, (size_t)(b - a), a);
                if (r < 0)
                        return r;
                done += (size_t)(b - a);
        }
        return 0;
}

/* Hash [from, to) of the source into the range digest (and the image digest). */
static int hash_range(const source *s, const char *name, uint64_t from, uint64_t to, uint8_t *buf, EVP_MD_CTX *img,
                      char hex[65], mk_error *err)
{
        EVP_MD_CTX *c = EVP_MD_CTX_new();
        if (!c)
                return mk_error_set(err, ENOMEM, "out of memory");
        EVP_DigestInit_ex(c, EVP_sha256(), NULL);
        int r = 0;
        for (uint64_t off = from; off < to;) {
                size_t want = to - off < CHUNK ? (size_t)(to - off) : CHUNK;
                if ((r = read_mixed(s, buf, want, off)) < 0) {
                        r = mk_error_set(err, -r, "%s: reading for the block map: %s", name, strerror(-r));
                        break;
                }
                EVP_DigestUpdate(c, buf, want);
                if (img)
                        EVP_DigestUpdate(img, buf, want);
                off += want;
        }
        uint8_t md[32];
        EVP_DigestFinal_ex(c, md, NULL);
        EVP_MD_CTX_free(c);
        mk_hex(md, sizeof(md), hex);
        return r;
}

mk_bmap_ref *mk_bmap_ref_free(mk_bmap_ref *ref)
{
        if (ref) {
                free(ref->start);
                free(ref->end);
                free(ref->hex);
                free(ref);
        }
        return NULL;
}

/* Call piece(from, to) for each MK_BMAP_PIECE-aligned piece of the mapped extents of fd up to size. */
static int for_pieces(int fd, const char *name, uint64_t size, int (*piece)(void *ctx, uint64_t from, uint64_t to),
                      void *ctx, mk_error *err)
{
        for (uint64_t pos = 0; pos < size;) {
                off_t data = lseek(fd, (off_t)pos, SEEK_DATA);
                if (data < 0 && errno == ENXIO)
                        break;
                if (data < 0)
                        return mk_error_set(err, errno, "%s: finding the mapped blocks: %s", name, strerror(errno));
                uint64_t from = (uint64_t)data / MK_BMAP_BLOCK * MK_BMAP_BLOCK;
                if (from >= size)
                        break;
                off_t hole = lseek(fd, data, SEEK_HOLE);
                uint64_t to = hole < 0 ? size : ((uint64_t)hole + MK_BMAP_BLOCK - 1) / MK_BMAP_BLOCK * MK_BMAP_BLOCK;
                if (to > size)
                        to = size;
                for (uint64_t a = from; a < to;) {
                        uint64_t b = (a / MK_BMAP_PIECE + 1) * MK_BMAP_PIECE;
                        if (b > to)
                                b = to;
                        int r = piece(ctx, a, b);
                        if (r < 0)
                                return r;
                        a = b;
                }
                pos = to;
        }
        return 0;
}

typedef struct refbuild {
        mk_bmap_ref *ref;
        size_t cap;
        const char *name;
        uint8_t *buf;
        mk_error *err;
} refbuild;

static int ref_piece(void *ctx, uint64_t from, uint64_t to)
{
        refbuild *rb = ctx;
        mk_bmap_ref *ref = rb->ref;
        if (ref->n == rb->cap) {
                size_t cap = rb->cap ? rb->cap * 2 : 256;
                uint64_t *s = realloc(ref->start, cap * sizeof(*s)),
                         *e = s ? realloc(ref->end, cap * sizeof(*e)) : NULL;
                char(*h)[65] = e ? realloc(ref->hex, cap * sizeof(*h)) : NULL;
                if (s)
                        ref->start = s;
                if (e)
                        ref->end = e;
                if (h)
                        ref->hex = h;
                if (!s || !e || !h)
                        return mk_error_set(rb->err, ENOMEM, "out of memory");
                rb->cap = cap;
        }
        ref->start[ref->n] = from;
        ref->end[ref->n] = to;
        source src = {.fd = ref->fd};
        int r = hash_range(&src, rb->name, from, to, rb->buf, NULL, ref->hex[ref->n], rb->err);
        if (r >= 0)
                ref->n++;
        return r;
}

int mk_bmap_ref_new(int fd, const char *name, mk_bmap_ref **ret, mk_error *err)
{
        struct stat st;
        if (fstat(fd, &st) < 0)
                return mk_error_set(err, errno, "%s: %s", name, strerror(errno));
        mk_bmap_ref *ref = calloc(1, sizeof(*ref));
        uint8_t *buf = malloc(CHUNK);
        int r = ref && buf ? 0 : mk_error_set(err, ENOMEM, "out of memory");
        if (r >= 0) {
                ref->fd = fd;
                refbuild rb = {.ref = ref, .name = name, .buf = buf, .err = err};
                r = for_pieces(fd, name, (uint64_t)st.st_size, ref_piece, &rb, err);
        }
        free(buf);
        if (r < 0) {
                mk_bmap_ref_free(ref);
                return r;
        }
        *ret = ref;
        return 0;
}

void mk_ranges_add(mk_ranges *r, uint64_t off, uint64_t len)
{
        if (r->oom || !len)
                return;
        if (r->n && r->v[r->n - 1].off + r->v[r->n - 1].len == off) { /* the common case: one write after another */
                r->v[r->n - 1].len += len;
                return;
        }
        if (r->n == r->cap) {
                size_t cap = r->cap ? r->cap * 2 : 16;
                struct mk_range *v = realloc(r->v, cap * sizeof(*v));
                if (!v) {
                        r->oom = true;
                        return;
                }
                r->v = v;
                r->cap = cap;
        }
        r->v[r->n++] = (struct mk_range){off, len};
}

void mk_ranges_add_cb(void *userdata, uint64_t off, uint64_t len)
{
        mk_ranges_add(userdata, off, len);
}

bool mk_ranges_overlap(const mk_ranges *r, uint64_t from, uint64_t to)
{
        if (r->oom)
                return true;
        for (size_t i = 0; i < r->n; i++)
                if (r->v[i].off < to && r->v[i].off + r->v[i].len > from)
                        return true;
        return false;
}

void mk_ranges_clear(mk_ranges *r)
{
        free(r->v);
        *r = (mk_ranges){0};
}

/* ref's digest of [from, to) when it has that piece and nothing in it was written, else NULL. */
static const char *ref_lookup(const mk_bmap_ref *ref, const mk_ranges *written, uint64_t from, uint64_t to)
{
        if (!ref || !written || mk_ranges_overlap(written, from, to))
                return NULL;
        size_t lo = 0, hi = ref->n;
        while (lo < hi) {
                size_t mid = (lo + hi) / 2;
                if (ref->start[mid] < from)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        if (lo == ref->n || ref->start[lo] != from || ref->end[lo] != to)
                return NULL;
        return ref->hex[lo];
}

static void hash_zeros(EVP_MD_CTX *img, const uint8_t *zero, uint64_t len)
{
        while (img && len) {
                size_t n = len < CHUNK ? (size_t)len : CHUNK;
                EVP_DigestUpdate(img, zero, n);
                len -= n;
        }
}

typedef struct makectx {
        int fd;
        const char *name;
        const mk_bmap_ref *ref;
        const mk_ranges *written;
        uint8_t *buf, *zero;
        EVP_MD_CTX *img;
        uint64_t pos, mapped;
        text *ranges;
        mk_error *err;
} makectx;

static int make_piece(void *ctx, uint64_t from, uint64_t to)
{
        makectx *m = ctx;
        hash_zeros(m->img, m->zero, from - m->pos);
        char hex[65];
        const char *known = m->img ? NULL : ref_lookup(m->ref, m->written, from, to);
        if (known)
                memcpy(hex, known, 65);
        else {
                source src = {.fd = m->fd, .base = m->ref, .written = m->written};
                int r = hash_range(&src, m->name, from, to, m->buf, m->img, hex, m->err);
                if (r < 0)
                        return r;
        }
        uint64_t b0 = from / MK_BMAP_BLOCK, b1 = (to + MK_BMAP_BLOCK - 1) / MK_BMAP_BLOCK - 1;
        if (b0 == b1)
                put(m->ranges, "        <Range chksum=\"%s\"> %" PRIu64 " </Range>\n", hex, b0);
        else
                put(m->ranges, "        <Range chksum=\"%s\"> %" PRIu64 "-%" PRIu64 " </Range>\n", hex, b0, b1);
        m->mapped += b1 - b0 + 1;
        m->pos = to;
        return 0;
}

int mk_bmap_make(int fd, const char *name, const mk_bmap_ref *ref, const mk_ranges *written, char **ret_text,
                 size_t *ret_len, char image_sha[65], mk_error *err)
{
        struct stat st;
        if (fstat(fd, &st) < 0)
                return mk_error_set(err, errno, "%s: %s", name, strerror(errno));
        uint64_t size = (uint64_t)st.st_size, blocks = (size + MK_BMAP_BLOCK - 1) / MK_BMAP_BLOCK;
        _cleanup_free_ uint8_t *buf = malloc(CHUNK), *zero = image_sha ? calloc(1, CHUNK) : NULL;
        EVP_MD_CTX *img = image_sha ? EVP_MD_CTX_new() : NULL;
        text ranges = {0}, t = {0};
        int r = 0;
        makectx m = {.fd = fd,
                     .name = name,
                     .ref = ref,
                     .written = written,
                     .buf = buf,
                     .zero = zero,
                     .img = img,
                     .ranges = &ranges,
                     .err = err};
        if (!buf || (image_sha && (!zero || !img))) {
                r = mk_error_set(err, ENOMEM, "out of memory");
                goto out;
        }
        if (img)
                EVP_DigestInit_ex(img, EVP_sha256(), NULL);
        if ((r = for_pieces(fd, name, size, make_piece, &m, err)) < 0)
                goto out;
        hash_zeros(img, zero, size - m.pos);
        uint64_t mapped = m.mapped;
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
