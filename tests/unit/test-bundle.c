/* SPDX-License-Identifier: MIT */
/*
 * Unit tests: the update bundle's reader (signing/bundle/bundle.h). The
 * 64-byte header (round trip, one refusal per field), the bundle manifest
 * (the canonical text of a full and a delta bundle, one refusal per layout
 * rule with its exact message). A delta's ranges and reading a stream:
 * test-bundle-stream.c.
 */
#include <errno.h>
#include <sodium.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "signing/bundle/bundle.h"

#define H64(c)                                                                                                         \
        c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c  \
                c c c c c c c c c
#define SHA_0 H64("0") /* all digits: YAML must still read it as a string */
#define SHA_A H64("a")
#define SHA_B H64("b")
#define SHA_C H64("c")
#define SHA_D H64("d")
#define SHA_E H64("e")
#define SHA_F H64("f")
#define SHA_1 H64("1")

#define PART(kind, offset, size, sha) "- kind: " kind "\n  offset: " #offset "\n  size: " #size "\n  sha256: " sha "\n"
#define SPART(kind, slot, offset, size, sha)                                                                           \
        "- kind: " kind "\n  slot: " slot "\n  offset: " #offset "\n  size: " #size "\n  sha256: " sha "\n"

#define HEAD(size)                                                                                                     \
        "mkimage-bundle: 1\n"                                                                                          \
        "model: demo-x86_64\n"                                                                                         \
        "brand: example\n"                                                                                             \
        "version: 7\n"                                                                                                 \
        "created: 2026-01-01T00:00:00Z\n"                                                                              \
        "size: " #size "\n"
#define DELTA_FROM                                                                                                     \
        "delta-from:\n"                                                                                                \
        "  version: 6\n"                                                                                               \
        "  root-size: 1000000\n"                                                                                       \
        "  root-sha256: " SHA_D "\n"
#define SLOT_PARTS                                                                                                     \
        SPART("manifest", "a", 4096, 1773, SHA_1)                                                                      \
        SPART("signature", "a", 8192, 300, SHA_E)                                                                      \
        SPART("manifest", "b", 12288, 1773, SHA_F) SPART("signature", "b", 16384, 300, SHA_C)

/* Canonical form, as docs/update.md draws it and mk_bundle_manifest_emit writes it. */
static const char full[] = HEAD(1069056) "parts:\n" SLOT_PARTS SPART("verity", "a", 20480, 8192, SHA_0)
        SPART("verity", "b", 28672, 8192, SHA_D) PART("file", 36864, 1000, SHA_A) PART("file", 40960, 2000, SHA_B)
                PART("root", 45056, 1024000, SHA_C);
static const char delta[] = HEAD(1073152) DELTA_FROM "parts:\n" SLOT_PARTS PART("ranges", 20480, 48, SHA_A)
        SPART("verity", "a", 24576, 8192, SHA_0) SPART("verity", "b", 32768, 8192, SHA_D)
                PART("file", 40960, 1000, SHA_A) PART("file", 45056, 2000, SHA_B) PART("root", 49152, 1024000, SHA_C);

/* A header for a manifest text: its length, a 300-byte signature, the given size. */
static mk_bundle_header header_for(size_t len, uint64_t size)
{
        return (mk_bundle_header){.format = MK_BUNDLE_FORMAT, .manifest_len = len, .sig_len = 300, .size = size};
}

static int parse_sized(const char *text, uint64_t size, mk_bundle_manifest **m, mk_error *err)
{
        mk_error_clear(err);
        *m = NULL;
        mk_bundle_header h = header_for(strlen(text), size);
        return mk_bundle_manifest_parse("b.yaml", text, strlen(text), &h, m, err);
}

/* text with the first occurrence of from replaced by to (NULL when from is not in it). */
static char *edit(const char *text, const char *from, const char *to)
{
        const char *at = strstr(text, from);
        if (!at)
                return NULL;
        size_t head = (size_t)(at - text), lf = strlen(from), lt = strlen(to), len = strlen(text);
        char *s = malloc(len - lf + lt + 1);
        if (!s)
                return NULL;
        memcpy(s, text, head);
        memcpy(s + head, to, lt);
        memcpy(s + head + lt, at + lf, len - head - lf + 1);
        return s;
}

/* ---- the header ----------------------------------------------------------- */

static void test_header_round_trip(void)
{
        mk_bundle_header h = {.format = 1, .manifest_len = 1500, .sig_len = 300, .size = 0x123456789ull}, d = {0};
        uint8_t raw[MK_BUNDLE_HEADER];
        memset(raw, 0xee, sizeof(raw));
        mk_bundle_header_encode(&h, raw);
        static const uint8_t want[40] = {'M', 'K', 'B',  'U',  'N',  'D',  'L',  'E',  1,    0, 0,    0,    64, 0,
                                         0,   0,   0xdc, 0x05, 0,    0,    0,    0,    0,    0, 0x2c, 0x01, 0,  0,
                                         0,   0,   0,    0,    0x89, 0x67, 0x45, 0x23, 0x01, 0, 0,    0};
        CHECK(memcmp(raw, want, sizeof(want)) == 0);
        for (unsigned i = 40; i < MK_BUNDLE_HEADER; i++)
                CHECK(raw[i] == 0);
        mk_error err = {0};
        CHECK(mk_bundle_header_decode("b.mkb", raw, &d, &err) == 0);
        CHECK(d.format == 1 && d.manifest_len == 1500 && d.sig_len == 300 && d.size == 0x123456789ull);
        CHECK(err.code == 0);

        /* The parts start at the next 4 KiB after header, manifest and signature. */
        CHECK(mk_bundle_parts_start(&h) == 4096);
        h.manifest_len = 4096 - 64 - 300;
        CHECK(mk_bundle_parts_start(&h) == 4096);
        h.manifest_len++;
        CHECK(mk_bundle_parts_start(&h) == 8192);

        /* The extremes each field may take are accepted. */
        h = (mk_bundle_header){1, MK_BUNDLE_MANIFEST_MAX, MK_MINISIGN_FILE_MAX, MK_BUNDLE_SIZE_MAX};
        mk_bundle_header_encode(&h, raw);
        CHECK(mk_bundle_header_decode("b.mkb", raw, &d, &err) == 0 && d.size == MK_BUNDLE_SIZE_MAX &&
              d.manifest_len == MK_BUNDLE_MANIFEST_MAX && d.sig_len == MK_MINISIGN_FILE_MAX);
        h = (mk_bundle_header){1, 1, 1, 4096};
        mk_bundle_header_encode(&h, raw);
        CHECK(mk_bundle_header_decode("b.mkb", raw, &d, &err) == 0 && d.size == 4096);
}

static void test_header_bad(void)
{
        static const mk_bundle_header good = {1, 1500, 300, 1 << 20};
        static const struct {
                unsigned at; /* byte to set (with val), or ~0u for a field change */
                uint8_t val;
                mk_bundle_header h;
                int code;
                const char *want;
        } bad[] = {
                {0,
                 'm',
                 {0},
                 EBADMSG,
                 "b.mkb: not an mkimage update bundle (no \"MKBUNDLE\" at its start): make one with `mkimage bundle`"},
                {7,
                 0,
                 {0},
                 EBADMSG,
                 "b.mkb: not an mkimage update bundle (no \"MKBUNDLE\" at its start): make one with `mkimage bundle`"},
                {~0u,
                 0,
                 {2, 1500, 300, 1 << 20},
                 EPROTONOSUPPORT,
                 "b.mkb: bundle format 2, but this program reads format 1 only (update it, or make the bundle with "
                 "the matching mkimage)"},
                {~0u,
                 0,
                 {0, 1500, 300, 1 << 20},
                 EPROTONOSUPPORT,
                 "b.mkb: bundle format 0, but this program reads format 1 only (update it, or make the bundle with "
                 "the matching mkimage)"},
                {12, 65, {0}, EBADMSG, "b.mkb: the header says it is 65 bytes, not 64"},
                {15, 1, {0}, EBADMSG, "b.mkb: the header says it is 16777280 bytes, not 64"},
                {40, 1, {0}, EBADMSG, "b.mkb: reserved header byte 40 is not zero"},
                {63, 0x80, {0}, EBADMSG, "b.mkb: reserved header byte 63 is not zero"},
                {~0u,
                 0,
                 {1, 0, 300, 1 << 20},
                 EBADMSG,
                 "b.mkb: the header gives a bundle manifest of 0 bytes (1 to 1048576)"},
                {~0u,
                 0,
                 {1, MK_BUNDLE_MANIFEST_MAX + 1, 300, 1 << 30},
                 EBADMSG,
                 "b.mkb: the header gives a bundle manifest of 1048577 bytes (1 to 1048576)"},
                {23,
                 0x80,
                 {0},
                 EBADMSG,
                 "b.mkb: the header gives a bundle manifest of 9223372036854777308 bytes (1 to 1048576)"},
                {~0u, 0, {1, 1500, 0, 1 << 20}, EBADMSG, "b.mkb: the header gives a signature of 0 bytes (1 to 16384)"},
                {~0u,
                 0,
                 {1, 1500, MK_MINISIGN_FILE_MAX + 1, 1 << 20},
                 EBADMSG,
                 "b.mkb: the header gives a signature of 16385 bytes (1 to 16384)"},
                {~0u,
                 0,
                 {1, 1500, 300, 4095},
                 EBADMSG,
                 "b.mkb: the header gives a bundle size of 4095 bytes, which does not hold its manifest, signature "
                 "and parts"},
                {~0u,
                 0,
                 {1, 4096 - 64 - 300 + 1, 300, 8191},
                 EBADMSG,
                 "b.mkb: the header gives a bundle size of 8191 bytes, which does not hold its manifest, signature "
                 "and parts"},
                {~0u,
                 0,
                 {1, 1500, 300, MK_BUNDLE_SIZE_MAX + 1},
                 EBADMSG,
                 "b.mkb: the header gives a bundle size of 4398046511105 bytes, which does not hold its manifest, "
                 "signature and parts"},
        };
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                uint8_t raw[MK_BUNDLE_HEADER];
                if (bad[i].at == ~0u) {
                        mk_bundle_header_encode(&bad[i].h, raw);
                } else {
                        mk_bundle_header_encode(&good, raw);
                        raw[bad[i].at] = bad[i].val;
                }
                mk_bundle_header d = {77, 77, 77, 77};
                mk_error err = {0};
                CHECK(mk_bundle_header_decode("b.mkb", raw, &d, &err) == -bad[i].code);
                CHECK(err.code == bad[i].code);
                CHECK_STREQ(err.msg, bad[i].want);
                CHECK(d.format == 77 && d.manifest_len == 77 && d.sig_len == 77 && d.size == 77);
        }
}

/* ---- the bundle manifest -------------------------------------------------- */

static void check_full_parts(const mk_bundle_manifest *m, uint64_t off)
{
        CHECK(m->parts[0].kind == MK_BPART_MANIFEST && m->parts[0].slot == 'a' && m->parts[0].offset == 4096 &&
              m->parts[0].size == 1773);
        CHECK_STREQ(m->parts[0].sha256, SHA_1);
        CHECK(m->parts[1].kind == MK_BPART_SIGNATURE && m->parts[1].slot == 'a' && m->parts[1].size == 300);
        CHECK(m->parts[2].kind == MK_BPART_MANIFEST && m->parts[2].slot == 'b' && m->parts[2].offset == 12288);
        CHECK(m->parts[3].kind == MK_BPART_SIGNATURE && m->parts[3].slot == 'b' && m->parts[3].offset == 16384);
        size_t i = m->delta ? 5 : 4;
        CHECK(m->parts[i].kind == MK_BPART_VERITY && m->parts[i].slot == 'a' && m->parts[i].offset == 20480 + off);
        CHECK_STREQ(m->parts[i].sha256, SHA_0);
        CHECK(m->parts[i + 1].kind == MK_BPART_VERITY && m->parts[i + 1].slot == 'b');
        CHECK(m->parts[i + 2].kind == MK_BPART_FILE && m->parts[i + 2].slot == 0 && m->parts[i + 2].size == 1000);
        CHECK(m->parts[i + 3].kind == MK_BPART_FILE && m->parts[i + 3].offset == 40960 + off);
        CHECK(m->parts[i + 4].kind == MK_BPART_ROOT && m->parts[i + 4].offset == 45056 + off &&
              m->parts[i + 4].size == 1024000);
        CHECK(mk_bundle_find(m, MK_BPART_VERITY, 'b') == &m->parts[i + 1]);
        CHECK(mk_bundle_find(m, MK_BPART_ROOT, 0) == &m->parts[i + 4]);
        CHECK(mk_bundle_find_file(m, SHA_B) == &m->parts[i + 3]);
        CHECK(mk_bundle_find_file(m, SHA_C) == NULL); /* the root's digest, not a file's */
}

static void test_manifest_full(void)
{
        mk_bundle_manifest *m = NULL, *m2 = NULL;
        mk_error err = {0};
        CHECK(parse_sized(full, 1069056, &m, &err) == 0);
        if (!m) {
                fprintf(stderr, "%s\n", err.msg);
                return;
        }
        CHECK_STREQ(m->model, "demo-x86_64");
        CHECK_STREQ(m->brand, "example");
        CHECK_STREQ(m->created, "2026-01-01T00:00:00Z");
        CHECK(m->version == 7 && m->size == 1069056 && !m->delta && m->n_parts == 9);
        if (m->n_parts == 9)
                check_full_parts(m, 0);
        CHECK(mk_bundle_find(m, MK_BPART_RANGES, 0) == NULL);

        char *out = NULL;
        size_t len = 0;
        CHECK(mk_bundle_manifest_emit(m, &out, &len, &err) == 0);
        CHECK(out && len == strlen(out));
        CHECK_STREQ(out, full);
        CHECK(out && parse_sized(out, 1069056, &m2, &err) == 0 && m2 && m2->n_parts == 9 && !m2->delta);
        free(out);
        mk_bundle_manifest_free(m2);
        mk_bundle_manifest_free(m);
        CHECK(mk_bundle_manifest_free(NULL) == NULL);
}

static void test_manifest_delta(void)
{
        mk_bundle_manifest *m = NULL, *m2 = NULL;
        mk_error err = {0};
        CHECK(parse_sized(delta, 1073152, &m, &err) == 0);
        if (!m) {
                fprintf(stderr, "%s\n", err.msg);
                return;
        }
        CHECK(m->delta && m->from.version == 6 && m->from.root_size == 1000000);
        CHECK_STREQ(m->from.root_sha256, SHA_D);
        CHECK(m->n_parts == 10);
        if (m->n_parts == 10) {
                CHECK(m->parts[4].kind == MK_BPART_RANGES && m->parts[4].slot == 0 && m->parts[4].offset == 20480 &&
                      m->parts[4].size == 48);
                CHECK(mk_bundle_find(m, MK_BPART_RANGES, 0) == &m->parts[4]);
                check_full_parts(m, 4096);
        }
        char *out = NULL;
        size_t len = 0;
        CHECK(mk_bundle_manifest_emit(m, &out, &len, &err) == 0);
        CHECK_STREQ(out, delta);
        CHECK(out && parse_sized(out, 1073152, &m2, &err) == 0 && m2 && m2->delta && m2->from.version == 6);
        free(out);
        mk_bundle_manifest_free(m2);
        mk_bundle_manifest_free(m);
}

/* emit from a struct made by hand (not parsed) gives the canonical text. */
static void test_manifest_emit_struct(void)
{
        mk_bundle_part parts[] = {
                {MK_BPART_MANIFEST, 'a', 4096, 1773, SHA_1},  {MK_BPART_SIGNATURE, 'a', 8192, 300, SHA_E},
                {MK_BPART_MANIFEST, 'b', 12288, 1773, SHA_F}, {MK_BPART_SIGNATURE, 'b', 16384, 300, SHA_C},
                {MK_BPART_RANGES, 0, 20480, 48, SHA_A},       {MK_BPART_VERITY, 'a', 24576, 8192, SHA_0},
                {MK_BPART_VERITY, 'b', 32768, 8192, SHA_D},   {MK_BPART_FILE, 0, 40960, 1000, SHA_A},
                {MK_BPART_FILE, 0, 45056, 2000, SHA_B},       {MK_BPART_ROOT, 0, 49152, 1024000, SHA_C},
        };
        mk_bundle_manifest m = {
                .model = "demo-x86_64",
                .brand = "example",
                .version = 7,
                .created = "2026-01-01T00:00:00Z",
                .size = 1073152,
                .delta = true,
                .from = {6, 1000000, SHA_D},
                .parts = parts,
                .n_parts = sizeof(parts) / sizeof(parts[0]),
        };
        char *out = NULL;
        size_t len = 0;
        mk_error err = {0};
        CHECK(mk_bundle_manifest_emit(&m, &out, &len, &err) == 0);
        CHECK_STREQ(out, delta);
        free(out);
        /* Not a delta: no delta-from, whatever from holds. */
        m.delta = false;
        out = NULL;
        CHECK(mk_bundle_manifest_emit(&m, &out, &len, &err) == 0);
        CHECK(out && !strstr(out, "delta-from") && !strncmp(out, HEAD(1073152) "parts:\n", strlen(HEAD(1073152))));
        free(out);
}

static void test_manifest_bad(void)
{
        static const struct {
                const char *base, *from, *to;
                uint64_t size; /* the header's */
                const char *want;
        } bad[] = {
                /* parts out of order: signature b before manifest b */
                {full, SPART("signature", "a", 8192, 300, SHA_E), SPART("signature", "b", 8192, 300, SHA_E), 1069056,
                 "b.yaml:18:3: part #3 (manifest) comes after a signature part: parts are in stream order (manifest "
                 "a, signature a, manifest b, signature b, ranges, verity a, verity b, files, root), one of each but "
                 "the files"},
                /* a second root */
                {full, PART("file", 40960, 2000, SHA_B), PART("root", 40960, 2000, SHA_B), 1069056,
                 "b.yaml:46:3: part #9 (root) comes after a root part: parts are in stream order (manifest a, "
                 "signature a, manifest b, signature b, ranges, verity a, verity b, files, root), one of each but the "
                 "files"},
                /* the ranges after the verity areas */
                {delta, PART("ranges", 20480, 48, SHA_A) SPART("verity", "a", 24576, 8192, SHA_0),
                 SPART("verity", "a", 20480, 8192, SHA_0) PART("ranges", 28672, 48, SHA_A), 1073152,
                 "b.yaml:37:3: part #6 (ranges) comes after a verity part: parts are in stream order (manifest a, "
                 "signature a, manifest b, signature b, ranges, verity a, verity b, files, root), one of each but the "
                 "files"},
                {full, PART("file", 36864, 1000, SHA_A), PART("file", 36864, 1000, SHA_B), 1069056,
                 "b.yaml:42:3: part #8 (file): files are listed once each, by ascending sha256"},
                {full, "  offset: 8192\n", "  offset: 8193\n", 1069056,
                 "b.yaml:15:11: part #2: 'offset' 8193 is not a multiple of 4096 (parts are aligned)"},
                /* overlap: manifest a runs into signature a */
                {full, "  size: 1773\n", "  size: 4097\n", 1069056,
                 "b.yaml:15:11: part #2 (signature) starts at 8192, before 8193 where the part before it ends"},
                {full, "  offset: 4096\n", "  offset: 0\n", 1069056,
                 "b.yaml:10:11: part #1 (manifest) starts at 0, before 4096 where the bundle manifest's signature "
                 "ends"},
                {full, "  size: 1024000\n", "  size: 1023999\n", 1069056,
                 "b.yaml:46:3: the last part ends at 1069055 but the bundle is 1069056 bytes"},
                {full, "  size: 1024000\n", "  size: 1024001\n", 1069056,
                 "b.yaml:48:9: part #9 (root) ends at 1069057, past the end of the 1069056-byte bundle"},
                {full, PART("root", 45056, 1024000, SHA_C), "", 1069056,
                 "b.yaml:8:1: 'parts' has no root part (a bundle needs one)"},
                {full, SPART("verity", "b", 28672, 8192, SHA_D), "", 1069056,
                 "b.yaml:8:1: 'parts' has no verity part for slot b (a bundle needs one)"},
                {full, "size: 1069056\n", "size: 1069057\n", 1069056,
                 "b.yaml:6:7: 'size' is 1069057 but the bundle's header says 1069056"},
                {delta, DELTA_FROM, "", 1073152,
                 "b.yaml:8:1: 'parts' has a ranges part but the bundle is no delta (no 'delta-from')"},
                {full, "parts:\n", DELTA_FROM "parts:\n", 1069056,
                 "b.yaml:12:1: 'parts' has no ranges part, which a delta ('delta-from') needs"},
                {delta, "  version: 6\n", "  version: 7\n", 1073152,
                 "b.yaml:8:12: 'delta-from.version' 7 is not below the bundle's version 7"},
                {delta, "  root-size: 1000000\n", "", 1073152,
                 "b.yaml:8:3: 'delta-from' is missing the required key 'root-size' (add it)"},
                {full, "brand: example\n", "brand: example\nbrnad: example\n", 1069056,
                 "b.yaml:4:1: unknown key 'brnad' in the bundle manifest (did you mean 'brand'?)"},
                {delta, "  root-size: 1000000\n", "  root-size: 1000000\n  root-sha: " SHA_D "\n", 1073152,
                 "b.yaml:10:3: unknown key 'root-sha' in 'delta-from' (known keys: version, root-size, root-sha256)"},
                {full, "  size: 1000\n", "  size: 1000\n  slot: a\n", 1069056,
                 "b.yaml:41:9: part #7: a file part has no 'slot' (only manifest, signature and verity parts do)"},
                {full, "- kind: manifest\n  slot: a\n", "- kind: manifest\n", 1069056,
                 "b.yaml:8:3: part #1: a manifest part needs a 'slot' (a or b)"},
                {full, "mkimage-bundle: 1\n", "mkimage-bundle: 2\n", 1069056,
                 "b.yaml:1:17: 'mkimage-bundle' is 2 but this mkimage reads format 1 only (use the mkimage that made "
                 "the bundle)"},
        };
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                char *s = edit(bad[i].base, bad[i].from, bad[i].to);
                CHECK(s != NULL);
                if (!s)
                        continue;
                mk_bundle_manifest *m = (mk_bundle_manifest *)&bad[i];
                mk_error err = {0};
                mk_bundle_header h = header_for(strlen(s), bad[i].size);
                CHECK(mk_bundle_manifest_parse("b.yaml", s, strlen(s), &h, &m, &err) == -EINVAL);
                CHECK(m == (mk_bundle_manifest *)&bad[i]); /* untouched */
                CHECK_STREQ(err.msg, bad[i].want);
                free(s);
        }
}

/* More than MK_BUNDLE_MANIFEST_MAX bytes: refused before anything is parsed (the header's bound, again). */
static void test_manifest_too_long(void)
{
        size_t len = MK_BUNDLE_MANIFEST_MAX + 1;
        char *s = malloc(len);
        CHECK(s != NULL);
        if (!s)
                return;
        memset(s, ' ', len);
        memcpy(s, full, strlen(full));
        mk_bundle_manifest *m = (mk_bundle_manifest *)s;
        mk_error err = {0};
        mk_bundle_header h = header_for(1000, 1 << 30);
        CHECK(mk_bundle_manifest_parse("b.yaml", s, len, &h, &m, &err) < 0 && m == (mk_bundle_manifest *)s);
        CHECK_STREQ(err.msg, "b.yaml: the bundle manifest is 1048577 bytes, more than 1048576");
        free(s);
}

/* A manifest so long that the first part no longer fits at 4096: the header's lengths move the parts' start. */
static void test_manifest_parts_start(void)
{
        mk_bundle_manifest *m = NULL;
        mk_error err = {0};
        mk_bundle_header h = header_for(4096 - 64 - 300, 1069056);
        CHECK(mk_bundle_manifest_parse("b.yaml", full, strlen(full), &h, &m, &err) == 0 && m);
        mk_bundle_manifest_free(m);
        m = NULL;
        h.manifest_len++;
        CHECK(mk_bundle_manifest_parse("b.yaml", full, strlen(full), &h, &m, &err) == -EINVAL && !m);
        CHECK_STREQ(err.msg, "b.yaml:10:11: part #1 (manifest) starts at 4096, before 8192 where the bundle "
                             "manifest's signature ends");
}

/* Every prefix of the full text is refused or accepted without a crash or leak (ASan run). */
static void test_manifest_truncations(void)
{
        size_t len = strlen(full), accepted = 0;
        for (size_t i = 0; i < len; i++) {
                mk_bundle_manifest *m = NULL;
                mk_error err = {0};
                mk_bundle_header h = header_for(len, 1069056);
                if (mk_bundle_manifest_parse("t.yaml", full, i, &h, &m, &err) == 0)
                        accepted++;
                else
                        CHECK(m == NULL && err.code != 0 && !strncmp(err.msg, "t.yaml", 6));
                mk_bundle_manifest_free(m);
        }
        CHECK(accepted == 1); /* only without the last newline: a cut part no longer ends at 'size' */
}

int main(void)
{
        check_suite_ = "bundle";
        if (sodium_init() < 0)
                return 1;
        RUN(test_header_round_trip);
        RUN(test_header_bad);
        RUN(test_manifest_full);
        RUN(test_manifest_delta);
        RUN(test_manifest_emit_struct);
        RUN(test_manifest_bad);
        RUN(test_manifest_too_long);
        RUN(test_manifest_parts_start);
        RUN(test_manifest_truncations);
        return check_exit();
}
