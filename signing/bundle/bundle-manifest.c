/* SPDX-License-Identifier: MIT */
/*
 * The bundle manifest (docs/update.md): canonical YAML out, strict YAML in.
 * The parser runs on bytes whose signature has been checked, but it is
 * fuzzed on any bytes and trusts none: every part's place is checked
 * against the stream order and the header, so a reader can seek and read
 * parts without checking again.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "signing/bundle/bundle.h"
#include "signing/yaml/schema.h"
#include "signing/yaml/yamlemit.h"

static const char *const kinds[MK_BPART_KINDS] = {"manifest", "signature", "ranges", "verity", "file", "root"};

const char *mk_bundle_kind_str(mk_bundle_kind k)
{
        return (unsigned)k < MK_BPART_KINDS ? kinds[k] : "?";
}

static bool per_slot(mk_bundle_kind k)
{
        return k == MK_BPART_MANIFEST || k == MK_BPART_SIGNATURE || k == MK_BPART_VERITY;
}

/* ---- emit ----------------------------------------------------------------- */

int mk_bundle_manifest_emit(const mk_bundle_manifest *bm, char **ret, size_t *ret_len, mk_error *err)
{
        mk_yemit m;
        int r = mk_yemit_begin(&m, err);
        if (r < 0)
                return r;
        mk_yemit_map_start(&m);
        mk_yemit_kv_u64(&m, "mkimage-bundle", MK_BUNDLE_FORMAT);
        mk_yemit_kv(&m, "model", bm->model);
        mk_yemit_kv(&m, "brand", bm->brand);
        mk_yemit_kv_u64(&m, "version", bm->version);
        mk_yemit_kv(&m, "created", bm->created);
        mk_yemit_kv_u64(&m, "size", bm->size);
        if (bm->delta) {
                mk_yemit_scalar(&m, "delta-from");
                mk_yemit_map_start(&m);
                mk_yemit_kv_u64(&m, "version", bm->from.version);
                mk_yemit_kv_u64(&m, "root-size", bm->from.root_size);
                mk_yemit_kv(&m, "root-sha256", bm->from.root_sha256);
                mk_yemit_map_end(&m);
        }
        mk_yemit_scalar(&m, "parts");
        mk_yemit_seq_start(&m, bm->n_parts);
        for (size_t i = 0; i < bm->n_parts; i++) {
                const mk_bundle_part *p = &bm->parts[i];
                char slot[2] = {p->slot, 0};
                mk_yemit_map_start(&m);
                mk_yemit_kv(&m, "kind", mk_bundle_kind_str(p->kind));
                if (per_slot(p->kind))
                        mk_yemit_kv(&m, "slot", slot);
                mk_yemit_kv_u64(&m, "offset", p->offset);
                mk_yemit_kv_u64(&m, "size", p->size);
                mk_yemit_kv(&m, "sha256", p->sha256);
                mk_yemit_map_end(&m);
        }
        mk_yemit_seq_end(&m);
        mk_yemit_map_end(&m);
        return mk_yemit_end(&m, "the bundle manifest", ret, ret_len, err);
}

/* ---- parse ---------------------------------------------------------------- */

mk_bundle_manifest *mk_bundle_manifest_free(mk_bundle_manifest *m)
{
        if (!m)
                return NULL;
        free(m->model);
        free(m->brand);
        free(m->parts);
        free(m);
        return NULL;
}

static int dup_str(const char *s, char **ret, mk_error *err)
{
        if (!(*ret = strdup(s)))
                return mk_error_set(err, ENOMEM, "out of memory");
        return 0;
}

/* The stream position of a part: kinds in order, slot a before b; files among themselves by digest. */
static int rank(const mk_bundle_part *p)
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
        default:
                return (int)p->kind + 3; /* file 7, root 8 */
        }
}

static const schema_key part_keys[] = {
        {"kind", true}, {"slot", false}, {"offset", true}, {"size", true}, {"sha256", true},
};

static int parse_part(const ydoc *d, const ynode *n, size_t i, mk_bundle_part *p, mk_error *err)
{
        static const char *const slots[] = {"a", "b"};
        char what[32];
        snprintf(what, sizeof(what), "part #%zu", i + 1);
        unsigned kind, slot;
        int r = mk_schema_check_map(d, n, what, part_keys, ELEMENTSOF(part_keys), err);
        if (r < 0 ||
            (r = mk_schema_enum(d, mk_ynode_get(n, "kind"), "parts.kind", kinds, MK_BPART_KINDS, &kind, err)) < 0 ||
            (r = mk_schema_uint(d, mk_ynode_get(n, "offset"), "parts.offset", 0, MK_BUNDLE_SIZE_MAX, &p->offset, err)) <
                    0 ||
            (r = mk_schema_uint(d, mk_ynode_get(n, "size"), "parts.size", 1, MK_BUNDLE_SIZE_MAX, &p->size, err)) < 0 ||
            (r = mk_schema_hex64(d, mk_ynode_get(n, "sha256"), "parts.sha256", p->sha256, err)) < 0)
                return r;
        p->kind = (mk_bundle_kind)kind;
        const ynode *s = mk_ynode_get(n, "slot");
        if (per_slot(p->kind) != (s != NULL))
                return mk_schema_error(d, s ? s : n, err,
                                       s ? "%s: a %s part has no 'slot' (only manifest, signature and verity parts do)"
                                         : "%s: a %s part needs a 'slot' (a or b)",
                                       what, kinds[kind]);
        if (s) {
                if ((r = mk_schema_enum(d, s, "parts.slot", slots, 2, &slot, err)) < 0)
                        return r;
                p->slot = slots[slot][0];
        }
        if (p->offset % MK_BUNDLE_ALIGN)
                return mk_schema_error(d, mk_ynode_get(n, "offset"), err,
                                       "%s: 'offset' %llu is not a multiple of %u (parts are aligned)", what,
                                       (unsigned long long)p->offset, MK_BUNDLE_ALIGN);
        return 0;
}

/* Part i (parsed) against the parts before it and the bundle: order, uniqueness, place. */
static int check_place(const ydoc *d, const ynode *n, const mk_bundle_manifest *m, size_t i, uint64_t start,
                       mk_error *err)
{
        const mk_bundle_part *p = &m->parts[i], *q = i ? &m->parts[i - 1] : NULL;
        const ynode *at = n->vals[i];
        char what[32];
        snprintf(what, sizeof(what), "part #%zu (%s)", i + 1, kinds[p->kind]);
        if (q && (rank(p) < rank(q) || (rank(p) == rank(q) && p->kind != MK_BPART_FILE)))
                return mk_schema_error(d, at, err,
                                       "%s comes after a %s part: parts are in stream order (manifest a, "
                                       "signature a, manifest b, signature b, ranges, verity a, verity b, files, "
                                       "root), "
                                       "one of each but the files",
                                       what, kinds[q->kind]);
        if (q && p->kind == MK_BPART_FILE && q->kind == MK_BPART_FILE && strcmp(q->sha256, p->sha256) >= 0)
                return mk_schema_error(d, at, err, "%s: files are listed once each, by ascending sha256", what);
        uint64_t min = q ? q->offset + q->size : start;
        if (p->offset < min)
                return mk_schema_error(d, mk_ynode_get(at, "offset"), err,
                                       "%s starts at %llu, before %llu where the %s ends", what,
                                       (unsigned long long)p->offset, (unsigned long long)min,
                                       q ? "part before it" : "bundle manifest's signature");
        if (p->size > m->size || p->offset > m->size - p->size)
                return mk_schema_error(d, mk_ynode_get(at, "size"), err,
                                       "%s ends at %llu, past the end of the %llu-byte bundle", what,
                                       (unsigned long long)(p->offset + p->size), (unsigned long long)m->size);
        return 0;
}

static int parse_parts(const ydoc *d, const ynode *n, const mk_bundle_header *h, mk_bundle_manifest *m, mk_error *err)
{
        if (n->kind != YNODE_SEQ || n->n == 0 || n->n > MK_BUNDLE_PARTS_MAX)
                return mk_schema_error(d, n, err, "'parts' must be a list of 1 to %d {kind, offset, size, sha256}",
                                       MK_BUNDLE_PARTS_MAX);
        if (!(m->parts = calloc(n->n, sizeof(*m->parts))))
                return mk_error_set(err, ENOMEM, "out of memory");
        for (size_t i = 0; i < n->n; i++) {
                int r = parse_part(d, n->vals[i], i, &m->parts[i], err);
                if (r < 0 || (r = check_place(d, n, m, i, mk_bundle_parts_start(h), err)) < 0)
                        return r;
                m->n_parts++;
        }
        static const struct {
                mk_bundle_kind kind;
                char slot;
        } need[] = {
                {MK_BPART_MANIFEST, 'a'},  {MK_BPART_SIGNATURE, 'a'}, {MK_BPART_MANIFEST, 'b'},
                {MK_BPART_SIGNATURE, 'b'}, {MK_BPART_VERITY, 'a'},    {MK_BPART_VERITY, 'b'},
                {MK_BPART_ROOT, 0},
        };
        for (size_t k = 0; k < ELEMENTSOF(need); k++)
                if (!mk_bundle_find(m, need[k].kind, need[k].slot))
                        return mk_schema_error(d, n, err, "'parts' has no %s part%s%s (a bundle needs one)",
                                               kinds[need[k].kind], need[k].slot ? " for slot " : "",
                                               need[k].slot == 'a' ? "a"
                                               : need[k].slot      ? "b"
                                                                   : "");
        if (m->delta != (mk_bundle_find(m, MK_BPART_RANGES, 0) != NULL))
                return mk_schema_error(d, n, err,
                                       m->delta ? "'parts' has no ranges part, which a delta ('delta-from') needs"
                                                : "'parts' has a ranges part but the bundle is no delta (no "
                                                  "'delta-from')");
        const mk_bundle_part *last = &m->parts[m->n_parts - 1];
        if (last->offset + last->size != m->size)
                return mk_schema_error(d, n->vals[m->n_parts - 1], err,
                                       "the last part ends at %llu but the bundle is %llu bytes",
                                       (unsigned long long)(last->offset + last->size), (unsigned long long)m->size);
        return 0;
}

static const schema_key bundle_keys[] = {
        {"mkimage-bundle", true}, {"model", true}, {"brand", true},       {"version", true},
        {"created", true},        {"size", true},  {"delta-from", false}, {"parts", true},
};

static const schema_key base_keys[] = {{"version", true}, {"root-size", true}, {"root-sha256", true}};

static int parse_base(const ydoc *d, const ynode *n, mk_bundle_manifest *m, mk_error *err)
{
        int r = mk_schema_check_map(d, n, "'delta-from'", base_keys, ELEMENTSOF(base_keys), err);
        if (r < 0 ||
            (r = mk_schema_uint(d, mk_ynode_get(n, "version"), "delta-from.version", 0, UINT32_MAX, &m->from.version,
                                err)) < 0 ||
            (r = mk_schema_uint(d, mk_ynode_get(n, "root-size"), "delta-from.root-size", 1, MK_BUNDLE_SIZE_MAX,
                                &m->from.root_size, err)) < 0 ||
            (r = mk_schema_hex64(d, mk_ynode_get(n, "root-sha256"), "delta-from.root-sha256", m->from.root_sha256,
                                 err)) < 0)
                return r;
        if (m->from.version >= m->version)
                return mk_schema_error(d, mk_ynode_get(n, "version"), err,
                                       "'delta-from.version' %llu is not below the bundle's version %llu",
                                       (unsigned long long)m->from.version, (unsigned long long)m->version);
        m->delta = true;
        return 0;
}

static int parse_bundle(const ydoc *d, const mk_bundle_header *h, mk_bundle_manifest *m, mk_error *err)
{
        const ynode *root = d->root;
        int r = mk_schema_check_map(d, root, "the bundle manifest", bundle_keys, ELEMENTSOF(bundle_keys), err);
        if (r < 0)
                return r;
        uint64_t format;
        const ynode *fmt = mk_ynode_get(root, "mkimage-bundle"), *size = mk_ynode_get(root, "size");
        if ((r = mk_schema_uint(d, fmt, "mkimage-bundle", 0, UINT32_MAX, &format, err)) < 0)
                return r;
        if (format != MK_BUNDLE_FORMAT)
                return mk_schema_error(d, fmt, err,
                                       "'mkimage-bundle' is %llu but this mkimage reads format %d only "
                                       "(use the mkimage that made the bundle)",
                                       (unsigned long long)format, MK_BUNDLE_FORMAT);
        const char *s;
        if ((r = mk_schema_name(d, mk_ynode_get(root, "model"), "model", &s, err)) < 0 ||
            (r = dup_str(s, &m->model, err)) < 0 ||
            (r = mk_schema_string(d, mk_ynode_get(root, "brand"), "brand", 64, &s, err)) < 0 ||
            (r = dup_str(s, &m->brand, err)) < 0 ||
            (r = mk_schema_uint(d, mk_ynode_get(root, "version"), "version", 0, UINT32_MAX, &m->version, err)) < 0 ||
            (r = mk_schema_utc_time(d, mk_ynode_get(root, "created"), "created", m->created, err)) < 0 ||
            (r = mk_schema_uint(d, size, "size", 1, MK_BUNDLE_SIZE_MAX, &m->size, err)) < 0)
                return r;
        if (m->size != h->size)
                return mk_schema_error(d, size, err, "'size' is %llu but the bundle's header says %llu",
                                       (unsigned long long)m->size, (unsigned long long)h->size);
        const ynode *base = mk_ynode_get(root, "delta-from");
        if (base && (r = parse_base(d, base, m, err)) < 0)
                return r;
        return parse_parts(d, mk_ynode_get(root, "parts"), h, m, err);
}

int mk_bundle_manifest_parse(const char *name, const void *buf, size_t len, const mk_bundle_header *h,
                             mk_bundle_manifest **ret, mk_error *err)
{
        if (len > MK_BUNDLE_MANIFEST_MAX)
                return mk_error_set(err, E2BIG, "%s: the bundle manifest is %zu bytes, more than %u", name, len,
                                    MK_BUNDLE_MANIFEST_MAX);
        _cleanup_(mk_ydoc_freep) ydoc *d = NULL;
        int r = mk_ydoc_load_buffer(name, buf, len, &d, err);
        if (r < 0)
                return r;
        _cleanup_(mk_bundle_manifest_freep) mk_bundle_manifest *m = calloc(1, sizeof(*m));
        if (!m)
                return mk_error_set(err, ENOMEM, "out of memory");
        if ((r = parse_bundle(d, h, m, err)) < 0)
                return r;
        *ret = TAKE_PTR(m);
        return 0;
}

const mk_bundle_part *mk_bundle_find(const mk_bundle_manifest *m, mk_bundle_kind kind, char slot)
{
        for (size_t i = 0; i < m->n_parts; i++)
                if (m->parts[i].kind == kind && (!per_slot(kind) || m->parts[i].slot == slot))
                        return &m->parts[i];
        return NULL;
}

const mk_bundle_part *mk_bundle_find_file(const mk_bundle_manifest *m, const char *sha256)
{
        for (size_t i = 0; i < m->n_parts; i++)
                if (m->parts[i].kind == MK_BPART_FILE && !strcmp(m->parts[i].sha256, sha256))
                        return &m->parts[i];
        return NULL;
}
