/* SPDX-License-Identifier: MIT */
/*
 * The bundle reader's binary side (signing/bundle/bundle.h): a delta's
 * ranges records, and a whole bundle read from an in-memory stream (no key:
 * the signature is not checked here; tests/cases/bundle.sh checks it with
 * the real tools). The header and the bundle manifest: test-bundle.c.
 */
#include <errno.h>
#include <sodium.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "signing/bundle/bundle.h"

/* ---- a delta's ranges ------------------------------------------------------- */

static size_t put_ranges(uint8_t *out, const mk_bundle_range *v, size_t n)
{
        for (size_t i = 0; i < n; i++)
                mk_bundle_range_encode(&v[i], out + i * MK_BUNDLE_RANGE_SIZE);
        return n * MK_BUNDLE_RANGE_SIZE;
}

static void test_ranges_good(void)
{
        /* Adjacent ranges, one at the new root's end and one at the base's end. */
        static const mk_bundle_range v[] = {{0, 4096, 4096}, {4096, 0, 100}, {8192, 1000, 1808}};
        uint8_t buf[3 * MK_BUNDLE_RANGE_SIZE];
        size_t len = put_ranges(buf, v, 3);
        static const uint8_t rec1[MK_BUNDLE_RANGE_SIZE] = {0, 0x10, 0, 0, 0,   0, 0, 0, 0, 0, 0, 0,
                                                           0, 0,    0, 0, 100, 0, 0, 0, 0, 0, 0, 0};
        CHECK(memcmp(buf + MK_BUNDLE_RANGE_SIZE, rec1, sizeof(rec1)) == 0);
        mk_bundle_range *got = NULL;
        size_t n = 0;
        mk_error err = {0};
        /* A 10000-byte root, 6004 bytes covered, the last range ending at its end; the first range ends at the
         * 8192-byte base's end. */
        CHECK(mk_bundle_ranges_parse("r", buf, len, 10000, 8192, 10000 - 6004, &got, &n, &err) == 0);
        CHECK(n == 3 && got);
        for (size_t i = 0; got && i < n && i < 3; i++)
                CHECK(got[i].dst == v[i].dst && got[i].src == v[i].src && got[i].len == v[i].len);
        free(got);
        /* No ranges: the root part is the whole root. */
        got = NULL;
        n = 7;
        CHECK(mk_bundle_ranges_parse("r", buf, 0, 5000, 100, 5000, &got, &n, &err) == 0 && got && n == 0);
        free(got);
}

static void test_ranges_bad(void)
{
        static const struct {
                mk_bundle_range v[3];
                size_t n;
                uint64_t root, base, literal;
                const char *want;
        } bad[] = {
                {{{0, 0, 4096}, {4096, 0, 0}},
                 2,
                 10000,
                 10000,
                 5904,
                 "r: range #2 (0 bytes from 0 to 4096) is empty (a 10000-byte root from a 10000-byte one)"},
                {{{0, 0, 4096}, {4095, 0, 10}},
                 2,
                 10000,
                 10000,
                 5894,
                 "r: range #2 (10 bytes from 0 to 4095) overlaps the one before it (a 10000-byte root from a "
                 "10000-byte one)"},
                /* out of order is an overlap too */
                {{{4096, 0, 10}, {0, 0, 10}},
                 2,
                 10000,
                 10000,
                 9980,
                 "r: range #2 (10 bytes from 0 to 0) overlaps the one before it (a 10000-byte root from a "
                 "10000-byte one)"},
                {{{9990, 0, 11}},
                 1,
                 10000,
                 10000,
                 0,
                 "r: range #1 (11 bytes from 0 to 9990) ends past the new root (a 10000-byte root from a 10000-byte "
                 "one)"},
                {{{10001, 0, 1}},
                 1,
                 10000,
                 10000,
                 0,
                 "r: range #1 (1 bytes from 0 to 10001) ends past the new root (a 10000-byte root from a 10000-byte "
                 "one)"},
                {{{0, UINT64_MAX, 2}},
                 1,
                 10000,
                 10000,
                 9998,
                 "r: range #1 (2 bytes from 18446744073709551615 to 0) ends past the running root (a 10000-byte root "
                 "from a 10000-byte one)"},
                {{{0, 4000, 1001}},
                 1,
                 10000,
                 5000,
                 8999,
                 "r: range #1 (1001 bytes from 4000 to 0) ends past the running root (a 10000-byte root from a "
                 "5000-byte one)"},
                /* dst + len wraps around */
                {{{8, 0, UINT64_MAX}},
                 1,
                 10000,
                 UINT64_MAX,
                 0,
                 "r: range #1 (18446744073709551615 bytes from 0 to 8) ends past the new root (a 10000-byte root "
                 "from a 18446744073709551615-byte one)"},
                {{{0, 0, 4096}, {4096, 0, 4096}},
                 2,
                 10000,
                 10000,
                 1809,
                 "r: the ranges cover 8192 of the root's 10000 bytes, which leaves 1808, but the root part holds 1809"},
                {{{0, 0, 4096}},
                 1,
                 4096,
                 4096,
                 1,
                 "r: the ranges cover 4096 of the root's 4096 bytes, which leaves 0, but the root part holds 1"},
        };
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                uint8_t buf[3 * MK_BUNDLE_RANGE_SIZE];
                size_t len = put_ranges(buf, bad[i].v, bad[i].n);
                mk_bundle_range *got = (mk_bundle_range *)&bad[i];
                size_t n = 12345;
                mk_error err = {0};
                CHECK(mk_bundle_ranges_parse("r", buf, len, bad[i].root, bad[i].base, bad[i].literal, &got, &n, &err) ==
                      -EBADMSG);
                CHECK(got == (mk_bundle_range *)&bad[i] && n == 12345);
                CHECK_STREQ(err.msg, bad[i].want);
        }
        /* Not whole records, and too many. */
        static const uint8_t zero[2 * MK_BUNDLE_RANGE_SIZE];
        static const size_t lens[] = {1, 23, 25, 47};
        for (size_t i = 0; i < 4; i++) {
                mk_bundle_range *got = NULL;
                size_t n = 12345;
                mk_error err = {0};
                char want[256];
                snprintf(want, sizeof(want),
                         "r: the ranges part is %zu bytes, not a whole number of 24-byte records (at most 4194304)",
                         lens[i]);
                CHECK(mk_bundle_ranges_parse("r", zero, lens[i], 100, 100, 100, &got, &n, &err) == -EBADMSG);
                CHECK(got == NULL && n == 12345);
                CHECK_STREQ(err.msg, want);
        }
        size_t big = (size_t)(MK_BUNDLE_RANGES_MAX + 1) * MK_BUNDLE_RANGE_SIZE;
        uint8_t *many = calloc(1, big);
        CHECK(many != NULL);
        if (many) {
                mk_bundle_range *got = NULL;
                size_t n = 0;
                mk_error err = {0};
                CHECK(mk_bundle_ranges_parse("r", many, big, 100, 100, 100, &got, &n, &err) == -EBADMSG && !got);
                CHECK_STREQ(err.msg, "r: the ranges part is 100663320 bytes, not a whole number of 24-byte records "
                                     "(at most 4194304)");
                /* As many as allowed: the size passes, the first (zero) record is refused. */
                mk_error_clear(&err);
                CHECK(mk_bundle_ranges_parse("r", many, big - MK_BUNDLE_RANGE_SIZE, 100, 100, 100, &got, &n, &err) ==
                              -EBADMSG &&
                      !got);
                CHECK_STREQ(err.msg,
                            "r: range #1 (0 bytes from 0 to 0) is empty (a 100-byte root from a 100-byte one)");
                free(many);
        }
}

/* ---- reading a stream --------------------------------------------------- */

typedef struct mem_stream {
        const uint8_t *p;
        size_t len, pos;
} mem_stream;

static int mem_read(void *ctx, void *buf, size_t len, mk_error *err)
{
        mem_stream *s = ctx;
        if (len > s->len - s->pos)
                return mk_error_set(err, EIO, "the bundle ends early (truncated?)");
        memcpy(buf, s->p + s->pos, len);
        s->pos += len;
        return 0;
}

static const char sig_text[] = "untrusted comment: not checked here\nRUS...\ntrusted comment: x\nAAAA==\n";

/* The parts of the test stream: kind, slot, size; each filled with its own byte (index + 1). */
static const struct {
        mk_bundle_kind kind;
        char slot;
        size_t size;
} spec[] = {
        {MK_BPART_MANIFEST, 'a', 100}, {MK_BPART_SIGNATURE, 'a', 50}, {MK_BPART_MANIFEST, 'b', 100},
        {MK_BPART_SIGNATURE, 'b', 50}, {MK_BPART_VERITY, 'a', 200},   {MK_BPART_VERITY, 'b', 200},
        {MK_BPART_FILE, 0, 300},       {MK_BPART_ROOT, 0, 5000},
};
#define N_SPEC (sizeof(spec) / sizeof(spec[0]))

static void sha_hex(const uint8_t *p, size_t n, char out[65])
{
        uint8_t d[crypto_hash_sha256_BYTES];
        crypto_hash_sha256(d, p, n);
        sodium_bin2hex(out, 65, d, sizeof(d));
}

/* A whole bundle in a new buffer (*ret_len bytes): header, manifest, signature, the parts at 4 KiB. */
static uint8_t *make_stream(size_t *ret_len)
{
        mk_bundle_part parts[N_SPEC];
        uint64_t off = 4096;
        uint8_t fill[5000];
        for (size_t i = 0; i < N_SPEC; i++) {
                memset(fill, (int)(i + 1), spec[i].size);
                parts[i] = (mk_bundle_part){spec[i].kind, spec[i].slot, off, spec[i].size, ""};
                sha_hex(fill, spec[i].size, parts[i].sha256);
                off = (off + spec[i].size + 4095) / 4096 * 4096;
        }
        uint64_t size = parts[N_SPEC - 1].offset + parts[N_SPEC - 1].size;
        mk_bundle_manifest m = {.model = "demo-x86_64",
                                .brand = "example",
                                .version = 3,
                                .created = "2026-01-01T00:00:00Z",
                                .size = size,
                                .parts = parts,
                                .n_parts = N_SPEC};
        char *text = NULL;
        size_t tlen = 0;
        mk_error err = {0};
        if (mk_bundle_manifest_emit(&m, &text, &tlen, &err) < 0)
                return NULL;
        mk_bundle_header h = {MK_BUNDLE_FORMAT, tlen, sizeof(sig_text) - 1, size};
        uint8_t *b = calloc(1, size);
        if (!b || mk_bundle_parts_start(&h) != 4096) {
                free(text);
                free(b);
                return NULL;
        }
        mk_bundle_header_encode(&h, b);
        memcpy(b + MK_BUNDLE_HEADER, text, tlen);
        memcpy(b + MK_BUNDLE_HEADER + tlen, sig_text, sizeof(sig_text) - 1);
        for (size_t i = 0; i < N_SPEC; i++)
                memset(b + parts[i].offset, (int)(i + 1), parts[i].size);
        free(text);
        *ret_len = size;
        return b;
}

static int open_mem(mem_stream *s, const uint8_t *p, size_t len, mk_bundle **b, mk_error *err)
{
        *s = (mem_stream){p, len, 0};
        mk_error_clear(err);
        return mk_bundle_open("b.mkb", mem_read, s, NULL, NULL, b, err);
}

static void test_stream_good(void)
{
        size_t len = 0;
        uint8_t *buf = make_stream(&len);
        CHECK(buf != NULL);
        if (!buf)
                return;
        mem_stream s;
        mk_bundle *b = NULL;
        mk_error err = {0};
        CHECK(open_mem(&s, buf, len, &b, &err) == 0);
        if (!b) {
                fprintf(stderr, "%s\n", err.msg);
                free(buf);
                return;
        }
        CHECK_STREQ(b->signer, "");
        CHECK(b->header.size == len && b->manifest->size == len && b->manifest->n_parts == N_SPEC);
        CHECK(b->pos == MK_BUNDLE_HEADER + b->header.manifest_len + b->header.sig_len && b->pos == s.pos);
        CHECK_STREQ(b->sig_text, sig_text);
        CHECK(b->manifest_text && !strncmp(b->manifest_text, "mkimage-bundle: 1\n", 18));
        for (size_t i = 0; i < N_SPEC && i < b->manifest->n_parts; i++) {
                const mk_bundle_part *p = &b->manifest->parts[i];
                if (i == 2) { /* manifest b: skipped, as a device in slot b would */
                        CHECK(mk_bundle_skip_part(b, p, &err) == 0);
                        CHECK(b->pos == p->offset + p->size);
                        continue;
                }
                uint8_t *got = NULL;
                CHECK(mk_bundle_read_part(b, p, 1 << 20, &got, &err) == 0);
                CHECK(got && got[0] == i + 1 && got[p->size - 1] == i + 1 && got[p->size] == 0);
                CHECK(b->pos == p->offset + p->size);
                free(got);
        }
        CHECK(b->pos == len && s.pos == len);
        /* Nothing after the end, and no going back. */
        uint8_t one;
        CHECK(mk_bundle_read(b, &one, 1, &err) == -EIO);
        CHECK_STREQ(err.msg, "b.mkb: a read past the bundle's end");
        mk_error_clear(&err);
        CHECK(mk_bundle_seek(b, &b->manifest->parts[0], &err) == -EINVAL);
        CHECK_STREQ(err.msg, "b.mkb: the manifest part at 4096 is behind the stream (at 37768)");
        mk_bundle_free(b);
        CHECK(mk_bundle_free(NULL) == NULL);
        free(buf);
}

/* A damaged part is refused (*ret untouched) and the stream is past it: the next part still reads. */
static void test_stream_bad_digest(void)
{
        size_t len = 0;
        uint8_t *buf = make_stream(&len);
        CHECK(buf != NULL);
        if (!buf)
                return;
        mem_stream s;
        mk_bundle *b = NULL;
        mk_error err = {0};
        buf[4096 + 2 * 4096 + 99] ^= 1; /* the last byte of manifest b */
        CHECK(open_mem(&s, buf, len, &b, &err) == 0 && b);
        if (!b) {
                free(buf);
                return;
        }
        const mk_bundle_part *p = b->manifest->parts;
        uint8_t *got = NULL;
        CHECK(mk_bundle_read_part(b, &p[0], 1 << 20, &got, &err) == 0 && got);
        free(got);
        /* A part skipped is not padding: read_part's seek over it is refused, skip_part is the way. */
        CHECK(mk_bundle_skip_part(b, &p[1], &err) == 0 && b->pos == p[1].offset + p[1].size);
        got = (uint8_t *)&s;
        CHECK(mk_bundle_read_part(b, &p[2], 1 << 20, &got, &err) == -EBADMSG);
        CHECK(got == (uint8_t *)&s);
        CHECK_STREQ(err.msg, "b.mkb: the manifest part of slot b at byte 12288 does not match its signed sha256 "
                             "(damaged or tampered)");
        CHECK(b->pos == p[2].offset + p[2].size);
        mk_error_clear(&err);
        got = NULL;
        CHECK(mk_bundle_read_part(b, &p[3], 1 << 20, &got, &err) == 0 && got && got[0] == 4);
        free(got);
        /* Too big for the reader: refused before anything is read. */
        uint64_t pos = b->pos;
        got = (uint8_t *)&s;
        CHECK(mk_bundle_read_part(b, &p[4], 199, &got, &err) == -EFBIG && got == (uint8_t *)&s);
        CHECK_STREQ(err.msg, "b.mkb: the verity part is 200 bytes, more than the 199 this reader takes");
        CHECK(b->pos == pos);
        mk_bundle_free(b);
        free(buf);
}

static void test_stream_padding(void)
{
        static const size_t at[] = {4096 + 100, 2 * 4096 - 1, 7 * 4096 + 300};
        static const char *const want[] = {
                "b.mkb: byte 4196, in the padding before the signature part, is not zero",
                "b.mkb: byte 8191, in the padding before the signature part, is not zero",
                "b.mkb: byte 28972, in the padding before the root part, is not zero",
        };
        for (size_t i = 0; i < 3; i++) {
                size_t len = 0;
                uint8_t *buf = make_stream(&len);
                CHECK(buf != NULL);
                if (!buf)
                        return;
                buf[at[i]] = 0x5a;
                mem_stream s;
                mk_bundle *b = NULL;
                mk_error err = {0};
                CHECK(open_mem(&s, buf, len, &b, &err) == 0 && b);
                int r = 0;
                for (size_t k = 0; b && r == 0 && k < b->manifest->n_parts; k++) {
                        uint8_t *got = NULL;
                        r = mk_bundle_read_part(b, &b->manifest->parts[k], 1 << 20, &got, &err);
                        free(got);
                }
                CHECK(r == -EBADMSG);
                CHECK_STREQ(err.msg, want[i]);
                mk_bundle_free(b);
                free(buf);
        }
        /* The padding between the signature and the first part is checked too. */
        size_t len = 0;
        uint8_t *buf = make_stream(&len);
        CHECK(buf != NULL);
        if (!buf)
                return;
        buf[4095] = 1;
        mem_stream s;
        mk_bundle *b = NULL;
        mk_error err = {0};
        CHECK(open_mem(&s, buf, len, &b, &err) == 0 && b);
        CHECK(b && mk_bundle_seek(b, &b->manifest->parts[0], &err) == -EBADMSG);
        CHECK_STREQ(err.msg, "b.mkb: byte 4095, in the padding before the manifest part, is not zero");
        mk_bundle_free(b);
        free(buf);
}

static void test_stream_bad_open(void)
{
        size_t len = 0;
        uint8_t *buf = make_stream(&len);
        CHECK(buf != NULL);
        if (!buf)
                return;
        mem_stream s;
        mk_bundle *b = (mk_bundle *)&s;
        mk_error err = {0};
        size_t m_len = buf[16] | (size_t)buf[17] << 8;
        /* Cut inside the header, the manifest, the signature. */
        static const size_t cut_off[] = {0, 63};
        for (size_t i = 0; i < 2; i++) {
                CHECK(open_mem(&s, buf, cut_off[i], &b, &err) == -EIO && b == (mk_bundle *)&s);
                CHECK_STREQ(err.msg, "b.mkb: at byte 0: the bundle ends early (truncated?)");
        }
        CHECK(open_mem(&s, buf, 64 + m_len - 1, &b, &err) == -EIO && b == (mk_bundle *)&s);
        CHECK_STREQ(err.msg, "b.mkb: at byte 64: the bundle ends early (truncated?)");
        CHECK(open_mem(&s, buf, 64 + m_len + 3, &b, &err) == -EIO && b == (mk_bundle *)&s);
        char want[256];
        snprintf(want, sizeof(want), "b.mkb: at byte %zu: the bundle ends early (truncated?)", 64 + m_len);
        CHECK_STREQ(err.msg, want);
        /* Up to the signature's end is enough to open; the parts fail later. */
        CHECK(open_mem(&s, buf, 64 + m_len + sizeof(sig_text) - 1, &b, &err) == 0 && b != (mk_bundle *)&s);
        if (b != (mk_bundle *)&s) {
                uint8_t *got = NULL;
                CHECK(mk_bundle_read_part(b, &b->manifest->parts[0], 1 << 20, &got, &err) == -EIO && !got);
                snprintf(want, sizeof(want), "b.mkb: at byte %zu: the bundle ends early (truncated?)",
                         64 + m_len + sizeof(sig_text) - 1);
                CHECK_STREQ(err.msg, want);
                mk_bundle_free(b);
        }
        /* A bad header; a manifest that does not parse (its 'size' is not the header's). */
        b = (mk_bundle *)&s;
        buf[0] = 'X';
        CHECK(open_mem(&s, buf, len, &b, &err) == -EBADMSG && b == (mk_bundle *)&s);
        CHECK(!strncmp(err.msg, "b.mkb: not an mkimage update bundle", 35));
        buf[0] = 'M';
        char *size_line = memmem(buf + 64, m_len, "\nsize: ", 7);
        CHECK(size_line != NULL);
        if (size_line) {
                size_line[7] = size_line[7] == '1' ? '2' : '1';
                CHECK(open_mem(&s, buf, len, &b, &err) == -EINVAL && b == (mk_bundle *)&s);
                CHECK(!strncmp(err.msg, "b.mkb: its bundle manifest:6:7: 'size' is ", 42));
        }
        free(buf);
}

int main(void)
{
        check_suite_ = "bundle-stream";
        if (sodium_init() < 0)
                return 1;
        RUN(test_ranges_good);
        RUN(test_ranges_bad);
        RUN(test_stream_good);
        RUN(test_stream_bad_digest);
        RUN(test_stream_padding);
        RUN(test_stream_bad_open);
        return check_exit();
}
