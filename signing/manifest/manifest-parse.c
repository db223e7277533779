/* SPDX-License-Identifier: MIT */
/*
 * The manifest is untrusted until its signature has been checked, and the
 * verifier reads it before that: every field is bounded and checked here, so
 * the rest of `verify` can rely on the struct (sizes consistent, strings
 * short, hex exact) without checking again.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "signing/base/macro.h"
#include "signing/manifest/manifest.h"
#include "signing/yaml/schema.h"

/* No root filesystem of a device image comes near this; it keeps the
 * arithmetic on sizes and block counts far from overflow. */
#define ROOT_SIZE_MAX (UINT64_C(1) << 40)

mk_manifest *mk_manifest_free(mk_manifest *m)
{
        if (!m)
                return NULL;
        free(m->model);
        free(m->brand);
        free(m->root.partition);
        free(m->root.verity.partition);
        free(m->data.partition);
        for (size_t i = 0; i < m->n_boot; i++)
                free(m->boot[i].path);
        free(m->boot);
        free(m->uki.path);
        for (size_t i = 0; i < m->uki.n_sections; i++)
                free(m->uki.sections[i].path);
        for (size_t i = 0; i < m->n_components; i++) {
                free(m->components[i].name);
                free(m->components[i].version);
                for (size_t k = 0; k < m->components[i].n_setuid; k++)
                        free(m->components[i].setuid[k]);
                free(m->components[i].setuid);
        }
        free(m->components);
        free(m);
        return NULL;
}

static int copy_str(const char *s, char **ret, mk_error *err)
{
        if (!(*ret = strdup(s)))
                return mk_error_set(err, ENOMEM, "out of memory");
        return 0;
}

/* A string checked by mk_schema_string (max bytes), copied. */
static int get_str(const ydoc *d, const ynode *n, const char *key, size_t max, char **ret, mk_error *err)
{
        const char *s;
        int r = mk_schema_string(d, n, key, max, &s, err);
        return r < 0 ? r : copy_str(s, ret, err);
}

/* A name as mk_schema_name accepts it (models, partitions, components), copied. */
static int get_name(const ydoc *d, const ynode *n, const char *key, char **ret, mk_error *err)
{
        const char *s;
        int r = mk_schema_name(d, n, key, &s, err);
        return r < 0 ? r : copy_str(s, ret, err);
}

static bool is_digit(char c)
{
        return c >= '0' && c <= '9';
}

static bool lower_hex(size_t i, char c)
{
        return is_digit(c) || (c >= 'a' && c <= 'f');
}

static bool upper_hex(size_t i, char c)
{
        return is_digit(c) || (c >= 'A' && c <= 'F');
}

/* 8-4-4-4-12 hex digits, either case: libfdisk writes upper case,
 * /dev/disk/by-partuuid lower case. */
static bool guid_char(size_t i, char c)
{
        if (i == 8 || i == 13 || i == 18 || i == 23)
                return c == '-';
        return lower_hex(i, c) || upper_hex(i, c);
}

/* A string of exactly len characters, each accepted by ok(position, c),
 * copied with its NUL into out; the message says it "must be <what>". */
static int get_exact(const ydoc *d, const ynode *n, const char *key, size_t len, bool (*ok)(size_t, char),
                     const char *what, char *out, mk_error *err)
{
        const char *s;
        int r = mk_schema_string(d, n, key, 0, &s, err);
        if (r < 0)
                return r;
        bool good = strlen(s) == len;
        for (size_t i = 0; good && i < len; i++)
                good = ok(i, s[i]);
        if (!good)
                return mk_schema_error(d, n, err, "'%s' must be %s (got '%.80s')", key, what, s);
        memcpy(out, s, len + 1);
        return 0;
}

static int get_guid(const ydoc *d, const ynode *n, const char *key, char out[37], mk_error *err)
{
        return get_exact(d, n, key, 36, guid_char, "a GUID like 3C148CC7-EB1D-4E4F-80E2-4BEA74099F26", out, err);
}

/* A key id of 16 upper-case hex digits, or "" for an unsigned input. */
static int get_keyid(const ydoc *d, const ynode *n, const char *key, char out[17], mk_error *err)
{
        if (n->kind == YNODE_SCALAR && n->len == 0) {
                if (n->plain) /* YAML null, not "" */
                        return mk_schema_error(d, n, err,
                                               "'%s' is empty: write '' (quoted) for an unsigned input, "
                                               "or the signer's key id",
                                               key);
                out[0] = '\0';
                return 0;
        }
        return get_exact(d, n, key, 16, upper_hex,
                         "a key id of 16 upper-case hex digits, or \"\" for an unsigned input", out, err);
}

static const schema_key verity_keys[] = {
        {"partition", true},       {"partuuid", true},    {"hash-algorithm", true}, {"data-block-size", true},
        {"hash-block-size", true}, {"data-blocks", true}, {"salt", true},           {"root-hash", true},
};

static int parse_verity(const ydoc *d, const ynode *n, mk_manifest *m, mk_error *err)
{
        static const char *const algs[] = {"sha256"};
        int r = mk_schema_check_map(d, n, "'root.verity'", verity_keys, ELEMENTSOF(verity_keys), err);
        if (r < 0)
                return r;
        unsigned alg;
        uint64_t dbs, hbs, blocks;
        if ((r = get_name(d, mk_ynode_get(n, "partition"), "root.verity.partition", &m->root.verity.partition, err)) <
                    0 ||
            (r = get_guid(d, mk_ynode_get(n, "partuuid"), "root.verity.partuuid", m->root.verity.partuuid, err)) < 0 ||
            (r = mk_schema_enum(d, mk_ynode_get(n, "hash-algorithm"), "root.verity.hash-algorithm", algs, 1, &alg,
                                err)) < 0 ||
            (r = mk_schema_uint(d, mk_ynode_get(n, "data-block-size"), "root.verity.data-block-size", 4096, 4096, &dbs,
                                err)) < 0 ||
            (r = mk_schema_uint(d, mk_ynode_get(n, "hash-block-size"), "root.verity.hash-block-size", 4096, 4096, &hbs,
                                err)) < 0 ||
            (r = mk_schema_uint(d, mk_ynode_get(n, "data-blocks"), "root.verity.data-blocks", 1, ROOT_SIZE_MAX / 4096,
                                &blocks, err)) < 0 ||
            (r = mk_schema_hex64(d, mk_ynode_get(n, "salt"), "root.verity.salt", m->root.verity.salt, err)) < 0 ||
            (r = mk_schema_hex64(d, mk_ynode_get(n, "root-hash"), "root.verity.root-hash", m->root.verity.root_hash,
                                 err)) < 0)
                return r;
        m->root.verity.data_block_size = (uint32_t)dbs;
        m->root.verity.hash_block_size = (uint32_t)hbs;
        m->root.verity.data_blocks = blocks;
        if (blocks * 4096 != m->root.size)
                return mk_schema_error(
                        d, mk_ynode_get(n, "data-blocks"), err,
                        "'root.verity.data-blocks' is %llu but root.size / 4096 is %llu (they must agree)",
                        (unsigned long long)blocks, (unsigned long long)(m->root.size / 4096));
        if (!strcmp(m->root.verity.partition, m->root.partition))
                return mk_schema_error(d, mk_ynode_get(n, "partition"), err,
                                       "'root.verity.partition' must not be the root partition '%s' itself",
                                       m->root.partition);
        if (!strcasecmp(m->root.verity.partuuid, m->root.partuuid))
                return mk_schema_error(d, mk_ynode_get(n, "partuuid"), err,
                                       "'root.verity.partuuid' must differ from root.partuuid");
        return 0;
}

static const schema_key root_keys[] = {
        {"partition", true}, {"partuuid", true}, {"size", true}, {"sha256", true}, {"verity", true},
};

static int parse_root(const ydoc *d, const ynode *n, mk_manifest *m, mk_error *err)
{
        int r = mk_schema_check_map(d, n, "'root'", root_keys, ELEMENTSOF(root_keys), err);
        if (r < 0)
                return r;
        const ynode *size = mk_ynode_get(n, "size");
        if ((r = get_name(d, mk_ynode_get(n, "partition"), "root.partition", &m->root.partition, err)) < 0 ||
            (r = get_guid(d, mk_ynode_get(n, "partuuid"), "root.partuuid", m->root.partuuid, err)) < 0 ||
            (r = mk_schema_uint(d, size, "root.size", 4096, ROOT_SIZE_MAX, &m->root.size, err)) < 0 ||
            (r = mk_schema_hex64(d, mk_ynode_get(n, "sha256"), "root.sha256", m->root.sha256, err)) < 0)
                return r;
        if (m->root.size % 4096)
                return mk_schema_error(d, size, err, "'root.size' must be a multiple of 4096 (got %llu)",
                                       (unsigned long long)m->root.size);
        return parse_verity(d, mk_ynode_get(n, "verity"), m, err);
}

/* Entry i of the list n is a mapping of exactly keys, named "LABEL #N" in messages. */
static int list_entry(const ydoc *d, const ynode *n, size_t i, const char *label, const schema_key *keys, size_t nkeys,
                      mk_error *err)
{
        char what[64];
        snprintf(what, sizeof(what), "%s #%zu", label, i + 1);
        return mk_schema_check_map(d, n->vals[i], what, keys, nkeys, err);
}

/* The value of key in entry i differs from that in every earlier (checked) entry. */
static int unique_in_list(const ydoc *d, const ynode *n, size_t i, const char *key, const char *what, mk_error *err)
{
        const ynode *v = mk_ynode_get(n->vals[i], key);
        for (size_t j = 0; j < i; j++)
                if (!strcmp(mk_ynode_get(n->vals[j], key)->str, v->str))
                        return mk_schema_error(d, v, err, "%s '%.100s' is listed twice (keep one)", what, v->str);
        return 0;
}

static const schema_key data_keys[] = {{"partition", true}, {"partuuid", true}, {"encryption", true}};

static int parse_data(const ydoc *d, const ynode *n, mk_manifest *m, mk_error *err)
{
        static const char *const encs[] = {"luks2", "none"};
        if (!n)
                return 0;
        unsigned enc;
        int r = mk_schema_check_map(d, n, "'data'", data_keys, ELEMENTSOF(data_keys), err);
        if (r < 0 || (r = get_name(d, mk_ynode_get(n, "partition"), "data.partition", &m->data.partition, err)) < 0 ||
            (r = get_guid(d, mk_ynode_get(n, "partuuid"), "data.partuuid", m->data.partuuid, err)) < 0 ||
            (r = mk_schema_enum(d, mk_ynode_get(n, "encryption"), "data.encryption", encs, ELEMENTSOF(encs), &enc,
                                err)) < 0)
                return r;
        snprintf(m->data.encryption, sizeof(m->data.encryption), "%s", encs[enc]);
        if (!strcmp(m->data.partition, m->root.partition) || !strcmp(m->data.partition, m->root.verity.partition))
                return mk_schema_error(d, mk_ynode_get(n, "partition"), err,
                                       "'data.partition' must not be the slot's root or verity partition");
        return 0;
}

static const schema_key boot_keys[] = {{"path", true}, {"sha256", true}};

static int parse_boot(const ydoc *d, const ynode *n, mk_manifest *m, mk_error *err)
{
        if (n->kind != YNODE_SEQ)
                return mk_schema_error(d, n, err, "'boot' must be a list of {path, sha256} entries, or [] (got %s)",
                                       mk_ynode_kind_name(n));
        if (n->n && !(m->boot = calloc(n->n, sizeof(*m->boot))))
                return mk_error_set(err, ENOMEM, "out of memory");
        for (size_t i = 0; i < n->n; i++) {
                const ynode *e = n->vals[i];
                mk_manifest_file *f = &m->boot[m->n_boot++];
                int r = list_entry(d, n, i, "boot entry", boot_keys, ELEMENTSOF(boot_keys), err);
                if (r < 0 || (r = get_str(d, mk_ynode_get(e, "path"), "boot.path", 4096, &f->path, err)) < 0 ||
                    (r = mk_schema_hex64(d, mk_ynode_get(e, "sha256"), "boot.sha256", f->sha256, err)) < 0)
                        return r;
                if (f->path[0] != '/')
                        return mk_schema_error(
                                d, mk_ynode_get(e, "path"), err,
                                "'boot.path' must be an absolute path on the ESP, like /slot-a/vmlinuz (got '%.100s')",
                                f->path);
                if ((r = unique_in_list(d, n, i, "path", "boot path", err)) < 0)
                        return r;
        }
        return 0;
}

static const schema_key component_keys[] = {
        {"name", true}, {"version", true}, {"sha256", true}, {"signed-by", true}, {"setuid", false},
};

/* components.setuid: the setuid/setgid files a component declares, as absolute paths. */
static int parse_setuid(const ydoc *d, const ynode *n, mk_manifest_component *c, mk_error *err)
{
        if (n->kind != YNODE_SEQ)
                return mk_schema_error(d, n, err, "'components.setuid' must be a list of absolute paths");
        if (!(c->setuid = calloc(n->n ? n->n : 1, sizeof(*c->setuid))))
                return mk_error_set(err, ENOMEM, "out of memory");
        for (size_t i = 0; i < n->n; i++) {
                int r = get_str(d, n->vals[i], "components.setuid", 4096, &c->setuid[i], err);
                c->n_setuid = i + 1;
                if (r < 0)
                        return r;
                if (c->setuid[i][0] != '/')
                        return mk_schema_error(d, n->vals[i], err,
                                               "'components.setuid' holds '%.80s', not an absolute path", c->setuid[i]);
        }
        return 0;
}

static int parse_components(const ydoc *d, const ynode *n, mk_manifest *m, mk_error *err)
{
        if (n->kind != YNODE_SEQ || n->n == 0)
                return mk_schema_error(
                        d, n, err,
                        "'components' must be a non-empty list of {name, version, sha256, signed-by} entries");
        if (!(m->components = calloc(n->n, sizeof(*m->components))))
                return mk_error_set(err, ENOMEM, "out of memory");
        for (size_t i = 0; i < n->n; i++) {
                const ynode *e = n->vals[i];
                mk_manifest_component *c = &m->components[m->n_components++];
                int r = list_entry(d, n, i, "component", component_keys, ELEMENTSOF(component_keys), err);
                if (r < 0 || (r = get_name(d, mk_ynode_get(e, "name"), "components.name", &c->name, err)) < 0 ||
                    (r = get_str(d, mk_ynode_get(e, "version"), "components.version", 64, &c->version, err)) < 0 ||
                    (r = mk_schema_hex64(d, mk_ynode_get(e, "sha256"), "components.sha256", c->sha256, err)) < 0 ||
                    (r = get_keyid(d, mk_ynode_get(e, "signed-by"), "components.signed-by", c->signed_by, err)) < 0 ||
                    (r = unique_in_list(d, n, i, "name", "component", err)) < 0)
                        return r;
                const ynode *s = mk_ynode_get(e, "setuid");
                if (s && (r = parse_setuid(d, s, c, err)) < 0)
                        return r;
        }
        return 0;
}

static const schema_key uki_keys[] = {{"path", true}, {"secure-boot", true}, {"pcr11", true}, {"sections", true}};
static const schema_key section_keys[] = {{"name", true}, {"sha256", true}};

static int parse_uki(const ydoc *d, const ynode *n, mk_manifest *m, mk_error *err)
{
        static const char *const sb[] = {"unsigned", "signed"};
        if (!n)
                return 0;
        unsigned signed_;
        int r = mk_schema_check_map(d, n, "'uki'", uki_keys, ELEMENTSOF(uki_keys), err);
        if (r < 0 || (r = get_str(d, mk_ynode_get(n, "path"), "uki.path", 4096, &m->uki.path, err)) < 0 ||
            (r = mk_schema_enum(d, mk_ynode_get(n, "secure-boot"), "uki.secure-boot", sb, ELEMENTSOF(sb), &signed_,
                                err)) < 0 ||
            (r = mk_schema_hex64(d, mk_ynode_get(n, "pcr11"), "uki.pcr11", m->uki.pcr11, err)) < 0)
                return r;
        m->uki.signed_ = signed_ == 1;
        bool listed = false;
        for (size_t i = 0; i < m->n_boot; i++)
                listed |= !strcmp(m->boot[i].path, m->uki.path);
        if (!listed)
                return mk_schema_error(d, mk_ynode_get(n, "path"), err,
                                       "'uki.path' %.100s is not one of the slot's boot files", m->uki.path);
        const ynode *secs = mk_ynode_get(n, "sections");
        if (secs->kind != YNODE_SEQ || secs->n == 0 || secs->n > MK_MANIFEST_UKI_SECTIONS)
                return mk_schema_error(d, secs, err, "'uki.sections' must be a list of 1 to %d {name, sha256} entries",
                                       MK_MANIFEST_UKI_SECTIONS);
        for (size_t i = 0; i < secs->n; i++) {
                mk_manifest_file *f = &m->uki.sections[m->uki.n_sections++];
                const ynode *e = secs->vals[i];
                if ((r = list_entry(d, secs, i, "uki section", section_keys, ELEMENTSOF(section_keys), err)) < 0 ||
                    (r = get_str(d, mk_ynode_get(e, "name"), "uki.sections.name", 8, &f->path, err)) < 0 ||
                    (r = mk_schema_hex64(d, mk_ynode_get(e, "sha256"), "uki.sections.sha256", f->sha256, err)) < 0 ||
                    (r = unique_in_list(d, secs, i, "name", "uki section", err)) < 0)
                        return r;
        }
        return 0;
}

static const schema_key manifest_keys[] = {
        {"uki", false},       {"mkimage-manifest", true}, {"model", true}, {"brand", true}, {"version", true},
        {"slot", true},       {"created", true},          {"root", true},  {"data", false}, {"boot", true},
        {"components", true},
};

static int parse_manifest(const ydoc *d, mk_manifest *m, mk_error *err)
{
        static const char *const slots[] = {"a", "b"};
        const ynode *root = d->root;
        int r = mk_schema_check_map(d, root, "the manifest", manifest_keys, ELEMENTSOF(manifest_keys), err);
        if (r < 0)
                return r;
        const ynode *fmt = mk_ynode_get(root, "mkimage-manifest");
        uint64_t format;
        if ((r = mk_schema_uint(d, fmt, "mkimage-manifest", 0, UINT32_MAX, &format, err)) < 0)
                return r;
        if (format != MK_MANIFEST_FORMAT)
                return mk_schema_error(d, fmt, err,
                                       "'mkimage-manifest' is %llu but this mkimage reads format %d only "
                                       "(use the mkimage that built the image)",
                                       (unsigned long long)format, MK_MANIFEST_FORMAT);
        unsigned slot;
        if ((r = get_name(d, mk_ynode_get(root, "model"), "model", &m->model, err)) < 0 ||
            (r = get_str(d, mk_ynode_get(root, "brand"), "brand", 64, &m->brand, err)) < 0 ||
            (r = mk_schema_uint(d, mk_ynode_get(root, "version"), "version", 0, UINT32_MAX, &m->version, err)) < 0 ||
            (r = mk_schema_enum(d, mk_ynode_get(root, "slot"), "slot", slots, ELEMENTSOF(slots), &slot, err)) < 0 ||
            (r = mk_schema_utc_time(d, mk_ynode_get(root, "created"), "created", m->created, err)) < 0 ||
            (r = parse_root(d, mk_ynode_get(root, "root"), m, err)) < 0 ||
            (r = parse_data(d, mk_ynode_get(root, "data"), m, err)) < 0 ||
            (r = parse_boot(d, mk_ynode_get(root, "boot"), m, err)) < 0 ||
            (r = parse_uki(d, mk_ynode_get(root, "uki"), m, err)) < 0)
                return r;
        m->slot = slots[slot][0];
        return parse_components(d, mk_ynode_get(root, "components"), m, err);
}

int mk_manifest_parse(const char *name, const void *buf, size_t len, mk_manifest **ret, mk_error *err)
{
        if (len > MK_MANIFEST_MAX)
                return mk_error_set(err, E2BIG,
                                    "%s: is %zu bytes, larger than a manifest can be (at most %u bytes): "
                                    "check that this is the right file",
                                    name, len, MK_MANIFEST_MAX);
        _cleanup_(mk_ydoc_freep) ydoc *d = NULL;
        int r = mk_ydoc_load_buffer(name, buf, len, &d, err);
        if (r < 0)
                return r;
        _cleanup_(mk_manifest_freep) mk_manifest *m = calloc(1, sizeof(*m));
        if (!m)
                return mk_error_set(err, ENOMEM, "out of memory");
        if ((r = parse_manifest(d, m, err)) < 0)
                return r;
        *ret = TAKE_PTR(m);
        return 0;
}
