/* SPDX-License-Identifier: MIT */
/*
 * Unit tests: the update bundle's reader (signing/bundle/bundle.h). The
 * 64-byte header (round trip, one refusal per field), the bundle manifest
 * (the canonical text of a full and a delta bundle, one refusal per layout
 * rule with its exact message), a delta's ranges (one refusal per rule), and
 * mk_bundle_open + seek/read_part over an in-memory stream without a key.
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
        RUN(test_ranges_good);
        RUN(test_ranges_bad);
        RUN(test_stream_good);
        RUN(test_stream_bad_digest);
        RUN(test_stream_padding);
        RUN(test_stream_bad_open);
        return check_exit();
}
