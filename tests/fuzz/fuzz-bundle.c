/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target: the update bundle's reader (signing/bundle/bundle.h). The
 * first byte picks what the rest is (the byte minus 'A', modulo 3, so that
 * every byte picks one; the seeds start with 'A' or 'D', 'B', 'C'):
 *
 *   A  a whole bundle stream, opened with mk_bundle_open without a key (the
 *      signature is not checked), then every part walked in order with
 *      mk_bundle_read_part or mk_bundle_skip_part. A digest mismatch is
 *      expected and the walk goes on; nothing may crash or leak, and every
 *      failure sets a message and leaves *ret alone. With 'D' instead of
 *      'A' the stream goes on with zeros after the input, up to ZERO_TAIL
 *      bytes: parts are 4 KiB-aligned, so a whole bundle (at least seven
 *      parts) is a small seed when its parts and padding are zeros.
 *   B  a bundle manifest text, parsed against a fixed valid header. What
 *      parses must keep the documented invariants and survive the round
 *      trip through mk_bundle_manifest_emit to the same canonical bytes.
 *   C  root_size, base_size and literal_size (three little-endian u64), then
 *      a ranges part. What mk_bundle_ranges_parse accepts must keep its
 *      documented invariants and encode back to the same bytes.
 */
#include <sodium.h>

#include "fuzz.h"
#include "signing/bundle/bundle.h"

#define READ_PART_MAX (1u << 20)
#define ZERO_TAIL (256u << 10)    /* mode A with 'D': the stream's length with the zeros after the input */
#define B_SIZE UINT64_C(16777216) /* mode B: the bundle's size, = its manifest's 'size' */
#define B_SIG_LEN 300u            /* mode B: the signature's length (only moves the first part's place) */

/* A recognisable pointer that no allocation returns: *ret must still be it after a failure. */
static char untouched_;
#define UNTOUCHED ((void *)&untouched_)

static uint64_t get_le64(const uint8_t *p)
{
        uint64_t v = 0;
        for (unsigned i = 8; i-- > 0;)
                v = v << 8 | p[i];
        return v;
}

/* ---- A: a stream ---------------------------------------------------------- */

typedef struct mem_stream {
        const uint8_t *p;
        size_t n;        /* bytes of p */
        size_t len, pos; /* of the stream: p, then zeros up to len */
} mem_stream;

static int mem_read(void *ctx, void *buf, size_t len, mk_error *err)
{
        mem_stream *s = ctx;
        if (len > s->len - s->pos)
                return mk_error_set(err, EIO, "the bundle ends early (truncated?)");
        size_t have = s->pos < s->n ? s->n - s->pos : 0;
        if (have > len)
                have = len;
        memcpy(buf, s->p + s->pos, have);
        memset((uint8_t *)buf + have, 0, len - have);
        s->pos += len;
        return 0;
}

static void check_failure(const char *what, int r, const void *ret, const mk_error *err)
{
        if (r >= 0)
                return;
        if (ret != UNTOUCHED)
                fuzz_die("%s failed (%d) but wrote *ret", what, r);
        if (!err->msg[0] || !err->code)
                fuzz_die("%s returned %d without a message", what, r);
}

static void fuzz_stream(const uint8_t *data, size_t size, bool zero_tail)
{
        mem_stream s = {data, size, zero_tail && size < ZERO_TAIL ? ZERO_TAIL : size, 0};
        mk_bundle *b = UNTOUCHED;
        mk_error err = {0};
        int r = mk_bundle_open("fuzz.mkb", mem_read, &s, NULL, NULL, &b, &err);
        fuzz_report("open", r, &err);
        check_failure("mk_bundle_open", r, b, &err);
        if (r < 0)
                return;
        const mk_bundle_manifest *m = b->manifest;
        if (!m || !b->manifest_text || !b->sig_text)
                fuzz_die("an open bundle lacks its manifest or signature");
        if (b->signer[0])
                fuzz_die("no key, but a signer '%s'", b->signer);
        if (m->size != b->header.size)
                fuzz_die("manifest size %llu, header size %llu", (unsigned long long)m->size,
                         (unsigned long long)b->header.size);
        if (b->pos != MK_BUNDLE_HEADER + b->header.manifest_len + b->header.sig_len || b->pos != s.pos)
                fuzz_die("open left the stream at %llu (read %zu)", (unsigned long long)b->pos, s.pos);
        if (strlen(b->manifest_text) > b->header.manifest_len || b->manifest_text[b->header.manifest_len])
                fuzz_die("the manifest text is not NUL-terminated at its length");

        bool whole = true;
        for (size_t i = 0; i < m->n_parts; i++) {
                const mk_bundle_part *p = &m->parts[i];
                uint64_t end = p->offset + p->size;
                mk_error perr = {0};
                if (p->size <= READ_PART_MAX && (i & 1) == 0) {
                        uint8_t *buf = UNTOUCHED;
                        r = mk_bundle_read_part(b, p, READ_PART_MAX, &buf, &perr);
                        fuzz_report("read_part", r, &perr);
                        check_failure("mk_bundle_read_part", r, buf, &perr);
                        if (r == 0) {
                                uint8_t d[crypto_hash_sha256_BYTES];
                                char hex[65];
                                crypto_hash_sha256(d, buf, p->size);
                                sodium_bin2hex(hex, sizeof(hex), d, sizeof(d));
                                if (strcmp(hex, p->sha256) || buf[p->size])
                                        fuzz_die("read_part gave bytes that are not the signed ones");
                                free(buf);
                        }
                } else {
                        r = mk_bundle_skip_part(b, p, &perr);
                        fuzz_report("skip_part", r, &perr);
                        if (r < 0 && (!perr.msg[0] || !perr.code))
                                fuzz_die("mk_bundle_skip_part returned %d without a message", r);
                }
                /* The parser checked the order: a walk in order never finds a part behind it. */
                if (r == -EINVAL)
                        fuzz_die("part #%zu is behind the stream: %s", i + 1, perr.msg);
                if (b->pos > end || b->pos != s.pos)
                        fuzz_die("part #%zu: the stream is at %llu, past its end %llu", i + 1,
                                 (unsigned long long)b->pos, (unsigned long long)end);
                /* A digest mismatch consumed the whole part: the walk goes on. Anything else ends it. */
                if (r < 0 && b->pos != end) {
                        whole = false;
                        break;
                }
        }
        if (whole && b->pos != b->header.size)
                fuzz_die("every part read, but the stream is at %llu of %llu", (unsigned long long)b->pos,
                         (unsigned long long)b->header.size);
        mk_bundle_free(b);
}

/* ---- B: a bundle manifest ------------------------------------------------- */

static bool per_slot(mk_bundle_kind k)
{
        return k == MK_BPART_MANIFEST || k == MK_BPART_SIGNATURE || k == MK_BPART_VERITY;
}

/* The stream order bundle.h documents, independent of bundle-manifest.c's own. */
static int order(const mk_bundle_part *p)
{
        switch (p->kind) {
        case MK_BPART_MANIFEST:
                return p->slot == 'a' ? 0 : 2;
        case MK_BPART_SIGNATURE:
                return p->slot == 'a' ? 1 : 3;
        case MK_BPART_RANGES:
                return 4;
        case MK_BPART_VERITY:
                return p->slot == 'a' ? 5 : 6;
        case MK_BPART_FILE:
                return 7;
        case MK_BPART_ROOT:
                return 8;
        default:
                fuzz_die("part kind %d accepted", (int)p->kind);
        }
}

static bool is_hex64(const char *s)
{
        size_t i = 0;
        for (; s[i]; i++)
                if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
                        return false;
        return i == 64;
}

static void check_manifest(const mk_bundle_manifest *m, const mk_bundle_header *h)
{
        if (m->size != h->size || !m->model || !m->brand)
                fuzz_die("size %llu for a %llu-byte bundle, or no model/brand", (unsigned long long)m->size,
                         (unsigned long long)h->size);
        if (m->n_parts < 1 || m->n_parts > MK_BUNDLE_PARTS_MAX)
                fuzz_die("%zu parts accepted", m->n_parts);
        if (m->delta && (m->from.version >= m->version || !m->from.root_size || !is_hex64(m->from.root_sha256)))
                fuzz_die("a delta from version %llu to %llu accepted", (unsigned long long)m->from.version,
                         (unsigned long long)m->version);
        uint64_t min = mk_bundle_parts_start(h);
        int seen = 0; /* bit per order() */
        for (size_t i = 0; i < m->n_parts; i++) {
                const mk_bundle_part *p = &m->parts[i], *q = i ? &m->parts[i - 1] : NULL;
                int o = order(p);
                if (per_slot(p->kind) ? (p->slot != 'a' && p->slot != 'b') : p->slot != 0)
                        fuzz_die("part #%zu (%s) has slot %d", i + 1, mk_bundle_kind_str(p->kind), p->slot);
                if (!is_hex64(p->sha256))
                        fuzz_die("part #%zu: sha256 '%s' accepted", i + 1, p->sha256);
                if (q && (o < order(q) ||
                          (o == order(q) && (p->kind != MK_BPART_FILE || strcmp(q->sha256, p->sha256) >= 0))))
                        fuzz_die("part #%zu (%s) out of stream order", i + 1, mk_bundle_kind_str(p->kind));
                if (p->offset % MK_BUNDLE_ALIGN || p->offset < min || !p->size || p->size > m->size ||
                    p->offset > m->size - p->size)
                        fuzz_die("part #%zu at %llu (%llu bytes) misplaced (from %llu in %llu bytes)", i + 1,
                                 (unsigned long long)p->offset, (unsigned long long)p->size, (unsigned long long)min,
                                 (unsigned long long)m->size);
                min = p->offset + p->size;
                seen |= 1 << o;
                const mk_bundle_part *f = p->kind == MK_BPART_FILE ? mk_bundle_find_file(m, p->sha256)
                                                                   : mk_bundle_find(m, p->kind, p->slot);
                if (f != p)
                        fuzz_die("part #%zu is not what mk_bundle_find gives", i + 1);
        }
        if (min != m->size)
                fuzz_die("the last part ends at %llu of %llu", (unsigned long long)min, (unsigned long long)m->size);
        int need = 0x1ff & ~(1 << 7) & ~(1 << 4); /* all but files and ranges */
        if ((seen & need) != need)
                fuzz_die("a required part is missing (seen %#x)", (unsigned)seen);
        if (m->delta != !!(seen & (1 << 4)) || m->delta != (mk_bundle_find(m, MK_BPART_RANGES, 0) != NULL))
                fuzz_die("delta %d but ranges part %s", m->delta, seen & (1 << 4) ? "present" : "absent");
}

static bool same_manifest(const mk_bundle_manifest *a, const mk_bundle_manifest *b)
{
        if (strcmp(a->model, b->model) || strcmp(a->brand, b->brand) || a->version != b->version ||
            strcmp(a->created, b->created) || a->size != b->size || a->delta != b->delta || a->n_parts != b->n_parts)
                return false;
        if (a->delta && (a->from.version != b->from.version || a->from.root_size != b->from.root_size ||
                         strcmp(a->from.root_sha256, b->from.root_sha256)))
                return false;
        for (size_t i = 0; i < a->n_parts; i++) {
                const mk_bundle_part *p = &a->parts[i], *q = &b->parts[i];
                if (p->kind != q->kind || p->slot != q->slot || p->offset != q->offset || p->size != q->size ||
                    strcmp(p->sha256, q->sha256))
                        return false;
        }
        return true;
}

static void fuzz_manifest(const uint8_t *data, size_t size)
{
        uint8_t raw[MK_BUNDLE_HEADER];
        mk_bundle_header h = {.format = MK_BUNDLE_FORMAT, .manifest_len = size, .sig_len = B_SIG_LEN, .size = B_SIZE};
        mk_bundle_header_encode(&h, raw);
        mk_bundle_header dh;
        mk_error err = {0};
        if (mk_bundle_header_decode("fuzz.mkb", raw, &dh, &err) < 0)
                return; /* an empty or oversized text: no header to parse it with */
        if (dh.format != h.format || dh.manifest_len != h.manifest_len || dh.sig_len != h.sig_len || dh.size != h.size)
                fuzz_die("the header does not decode to what was encoded");

        mk_bundle_manifest *m = UNTOUCHED;
        int r = mk_bundle_manifest_parse("bundle.yaml", data, size, &h, &m, &err);
        fuzz_report("manifest", r, &err);
        check_failure("mk_bundle_manifest_parse", r, m, &err);
        if (r < 0)
                return;
        check_manifest(m, &h);

        /* The same header for the re-parse: canonical text may be longer than the input. */
        char *text = NULL, *text2 = NULL;
        size_t len = 0, len2 = 0;
        mk_bundle_manifest *m2 = NULL;
        if (mk_bundle_manifest_emit(m, &text, &len, &err) < 0)
                fuzz_die("a parsed bundle manifest does not emit: %s", err.msg);
        if (strlen(text) != len)
                fuzz_die("emit: length %zu but strlen %zu", len, strlen(text));
        if (mk_bundle_manifest_parse("emitted.yaml", text, len, &h, &m2, &err) < 0)
                fuzz_die("the emitted bundle manifest does not parse again: %s\n--- emitted:\n%s", err.msg, text);
        if (!same_manifest(m, m2))
                fuzz_die("the emitted bundle manifest parses to other values:\n%s", text);
        if (mk_bundle_manifest_emit(m2, &text2, &len2, &err) < 0)
                fuzz_die("the re-parsed bundle manifest does not emit: %s", err.msg);
        if (len != len2 || memcmp(text, text2, len) != 0)
                fuzz_die("emit is not stable across a round trip:\n--- first:\n%s\n--- second:\n%s", text, text2);
        free(text);
        free(text2);
        mk_bundle_manifest_free(m2);
        mk_bundle_manifest_free(m);
}

/* ---- C: a delta's ranges -------------------------------------------------- */

static void check_ranges(const uint8_t *data, size_t size, uint64_t root_size, uint64_t base_size,
                         uint64_t literal_size)
{
        mk_bundle_range *v = UNTOUCHED;
        size_t n = 12345;
        mk_error err = {0};
        int r = mk_bundle_ranges_parse("ranges", data, size, root_size, base_size, literal_size, &v, &n, &err);
        fuzz_report("ranges", r, &err);
        check_failure("mk_bundle_ranges_parse", r, v, &err);
        if (r < 0) {
                if (n != 12345)
                        fuzz_die("mk_bundle_ranges_parse failed but wrote *ret_n");
                if (r != -EBADMSG && r != -ENOMEM)
                        fuzz_die("mk_bundle_ranges_parse returned %d, not -EBADMSG", r);
                return;
        }
        if (size % MK_BUNDLE_RANGE_SIZE || n != size / MK_BUNDLE_RANGE_SIZE || !v)
                fuzz_die("%zu bytes accepted as %zu records", size, n);
        uint64_t end = 0, covered = 0;
        for (size_t i = 0; i < n; i++) {
                const mk_bundle_range *x = &v[i];
                if (!x->len || x->dst < end || x->dst > root_size || x->len > root_size - x->dst ||
                    x->src > base_size || x->len > base_size - x->src)
                        fuzz_die("range #%zu (dst %llu src %llu len %llu) accepted in a %llu-byte root from a "
                                 "%llu-byte one",
                                 i + 1, (unsigned long long)x->dst, (unsigned long long)x->src,
                                 (unsigned long long)x->len, (unsigned long long)root_size,
                                 (unsigned long long)base_size);
                end = x->dst + x->len;
                covered += x->len;
                uint8_t rec[MK_BUNDLE_RANGE_SIZE];
                mk_bundle_range_encode(x, rec);
                if (memcmp(rec, data + i * MK_BUNDLE_RANGE_SIZE, sizeof(rec)))
                        fuzz_die("range #%zu does not encode back to its bytes", i + 1);
        }
        if (covered > root_size || root_size - covered != literal_size)
                fuzz_die("ranges cover %llu of %llu bytes, the literal part is %llu", (unsigned long long)covered,
                         (unsigned long long)root_size, (unsigned long long)literal_size);
        free(v);
}

static void fuzz_ranges(const uint8_t *data, size_t size)
{
        if (size < 3 * 8)
                return;
        uint64_t root_size = get_le64(data), base_size = get_le64(data + 8), literal_size = get_le64(data + 16);
        data += 24;
        size -= 24;
        check_ranges(data, size, root_size, base_size, literal_size);
        /*
         * Again with the literal size that matches the records' lengths (when it exists): the per-record checks
         * then decide, without the fuzzer having to hit a 64-bit sum.
         */
        uint64_t sum = 0;
        bool fits = size % MK_BUNDLE_RANGE_SIZE == 0;
        for (size_t i = 0; fits && i < size / MK_BUNDLE_RANGE_SIZE; i++) {
                uint64_t len = get_le64(data + i * MK_BUNDLE_RANGE_SIZE + 16);
                fits = len <= root_size - sum;
                sum += len;
        }
        if (fits && root_size - sum != literal_size)
                check_ranges(data, size, root_size, base_size, root_size - sum);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
        if (sodium_init() < 0)
                fuzz_die("sodium_init failed");
        return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        if (size < 1)
                return 0;
        uint8_t k = (uint8_t)(data[0] - 'A');
        switch (k % 3) {
        case 0:
                fuzz_stream(data + 1, size - 1, (k / 3) & 1);
                break;
        case 1:
                fuzz_manifest(data + 1, size - 1);
                break;
        default:
                fuzz_ranges(data + 1, size - 1);
                break;
        }
        return 0;
}
