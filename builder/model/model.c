/* SPDX-License-Identifier: MIT */
#include "builder/model/model.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "signing/base/macro.h"
#include "signing/yaml/schema.h"

static const char *const arch_names[] = {"x86_64", "aarch64", "riscv64"};
static const char *const arch_dps[] = {"x86-64", "arm64", "riscv64"};
static const char *const grade_names[] = {"signed", "dangerous"};
static const char *const comp_names[] = {"zstd", "xz", "gzip", "lz4"};
static const char *const enc_names[] = {"luks2", "none"};
static const char *const pbkdf_names[] = {"argon2id", "argon2i", "pbkdf2"};
static const char *const key_source_names[] = {"fw-cfg"};
static const char *const cipher_names[] = {"aes-xts-plain64"};

/* Level range per compressor: {min, max}; lz4 has none (0 only). */
static const unsigned comp_levels[][2] = {{1, 22}, {0, 9}, {1, 9}, {0, 0}};

const char *mk_arch_name(mk_arch a)
{
        return a < _MK_ARCH_MAX ? arch_names[a] : "?";
}
const char *mk_arch_dps(mk_arch a)
{
        return a < _MK_ARCH_MAX ? arch_dps[a] : "?";
}
const char *mk_compressor_name(mk_compressor c)
{
        return c < _MK_COMP_MAX ? comp_names[c] : "?";
}

mk_model *mk_model_free(mk_model *m)
{
        if (!m)
                return NULL;
        for (size_t i = 0; i < m->n_keys; i++)
                free(m->keys[i].path);
        free(m->keys);
        free(m->factory.fields);
        for (size_t i = 0; i < m->n_components; i++) {
                free(m->components[i].path);
                for (size_t j = 0; j < m->components[i].n_overrides; j++)
                        free(m->components[i].overrides[j]);
                free(m->components[i].overrides);
        }
        free(m->components);
        free(m->layout_path);
        free(m->signing_key);
        free(m->secure_boot.key);
        free(m->secure_boot.cert);
        free(m->secure_boot.enroll);
        free(m->secure_boot.stub);
        mk_ydoc_free(m->doc);
        free(m);
        return NULL;
}

const mk_trusted_key *mk_model_find_key(const mk_model *m, const char *name)
{
        for (size_t i = 0; i < m->n_keys; i++)
                if (!strcmp(m->keys[i].name, name))
                        return &m->keys[i];
        return NULL;
}

static int parse_keys(mk_model *m, const ynode *n, mk_error *err)
{
        const ydoc *d = m->doc;
        if (n->kind != YNODE_MAP || n->n == 0)
                return mk_schema_error(
                        d, n, err, "'trusted-keys' must map key names to public key files, e.g. 'dev: keys/dev.pub'");
        m->keys = calloc(n->n, sizeof(*m->keys));
        if (!m->keys)
                return -ENOMEM;
        for (size_t i = 0; i < n->n; i++) {
                mk_trusted_key *k = &m->keys[m->n_keys++];
                int r = mk_schema_name(d, n->keys[i], "trusted-keys", &k->name, err);
                if (r < 0)
                        return r;
                if ((r = mk_schema_path(d, n->vals[i], k->name, &k->path, err)) < 0)
                        return r;
                k->line = n->vals[i]->line;
                k->col = n->vals[i]->col;
        }
        return 0;
}

static bool has_dotdot(const char *p)
{
        for (const char *s = p; (s = strstr(s, "..")); s += 2)
                if ((s == p || s[-1] == '/') && (s[2] == '/' || s[2] == '\0'))
                        return true;
        return false;
}

static int parse_overrides(mk_model *m, mk_model_component *c, const ynode *n, mk_error *err)
{
        const ydoc *d = m->doc;
        if (n->kind != YNODE_SEQ)
                return mk_schema_error(d, n, err, "'overrides' must be a list of absolute paths, e.g. [/etc/hostname]");
        c->overrides = calloc(n->n ? n->n : 1, sizeof(char *));
        if (!c->overrides)
                return -ENOMEM;
        for (size_t i = 0; i < n->n; i++) {
                const char *p;
                int r = mk_schema_string(d, n->vals[i], "overrides", 4096, &p, err);
                if (r < 0)
                        return r;
                if (p[0] != '/' || has_dotdot(p))
                        return mk_schema_error(d, n->vals[i], err,
                                               "'overrides' entries must be absolute paths inside the root, like "
                                               "/etc/hostname (got '%.100s')",
                                               p);
                if (!(c->overrides[c->n_overrides++] = strdup(p)))
                        return -ENOMEM;
        }
        return 0;
}

static const schema_key component_keys[] = {
        {"name", true}, {"file", true}, {"signer", false}, {"version", false}, {"overrides", false},
};

static int parse_components(mk_model *m, const ynode *n, mk_error *err)
{
        const ydoc *d = m->doc;
        if (n->kind != YNODE_SEQ || n->n == 0)
                return mk_schema_error(d, n, err,
                                       "'components' must be a non-empty list of {name, file, signer} entries");
        m->components = calloc(n->n, sizeof(*m->components));
        if (!m->components)
                return -ENOMEM;
        for (size_t i = 0; i < n->n; i++) {
                const ynode *e = n->vals[i];
                mk_model_component *c = &m->components[m->n_components++];
                char what[64];
                snprintf(what, sizeof(what), "component #%zu", i + 1);
                int r = mk_schema_check_map(d, e, what, component_keys, ELEMENTSOF(component_keys), err);
                if (r < 0)
                        return r;
                c->line = e->line;
                c->col = e->col;
                if ((r = mk_schema_name(d, mk_ynode_get(e, "name"), "name", &c->name, err)) < 0)
                        return r;
                for (size_t j = 0; j + 1 < m->n_components; j++)
                        if (!strcmp(m->components[j].name, c->name))
                                return mk_schema_error(d, mk_ynode_get(e, "name"), err,
                                                       "component '%s' is listed twice (first at line %u; remove one)",
                                                       c->name, m->components[j].line);
                if ((r = mk_schema_path(d, mk_ynode_get(e, "file"), "file", &c->path, err)) < 0)
                        return r;
                const ynode *v;
                if ((v = mk_ynode_get(e, "version")) &&
                    (r = mk_schema_string(d, v, "version", 64, &c->version, err)) < 0)
                        return r;
                if ((v = mk_ynode_get(e, "overrides")) && (r = parse_overrides(m, c, v, err)) < 0)
                        return r;
                v = mk_ynode_get(e, "signer");
                if (!v) {
                        if (m->grade == MK_GRADE_SIGNED)
                                return mk_schema_error(d, e, err,
                                                       "component '%s' has no 'signer' (grade 'signed' needs one: name "
                                                       "a key from trusted-keys)",
                                                       c->name);
                        continue;
                }
                if ((r = mk_schema_name(d, v, "signer", &c->signer, err)) < 0)
                        return r;
                if (!mk_model_find_key(m, c->signer)) {
                        const char *names[64];
                        size_t nn = m->n_keys < 64 ? m->n_keys : 64;
                        for (size_t j = 0; j < nn; j++)
                                names[j] = m->keys[j].name;
                        const char *hint = mk_schema_did_you_mean(c->signer, names, nn);
                        if (hint)
                                return mk_schema_error(d, v, err,
                                                       "signer '%s' is not in trusted-keys (did you mean '%s'?)",
                                                       c->signer, hint);
                        return mk_schema_error(d, v, err,
                                               "signer '%s' is not in trusted-keys (add it there or fix the name)",
                                               c->signer);
                }
        }
        return 0;
}

static const schema_key rootfs_keys[] = {
        {"compressor", false},
        {"level", false},
        {"block-size", false},
};

static int parse_rootfs(mk_model *m, const ynode *n, mk_error *err)
{
        const ydoc *d = m->doc;
        int r = mk_schema_check_map(d, n, "'rootfs'", rootfs_keys, ELEMENTSOF(rootfs_keys), err);
        if (r < 0)
                return r;
        const ynode *v;
        unsigned e;
        if ((v = mk_ynode_get(n, "compressor"))) {
                if ((r = mk_schema_enum(d, v, "compressor", comp_names, ELEMENTSOF(comp_names), &e, err)) < 0)
                        return r;
                m->rootfs.compressor = (mk_compressor)e;
        }
        if ((v = mk_ynode_get(n, "level"))) {
                const unsigned *lv = comp_levels[m->rootfs.compressor];
                if (lv[1] == 0)
                        return mk_schema_error(d, v, err, "'level' is not supported by %s (remove it)",
                                               comp_names[m->rootfs.compressor]);
                uint64_t l;
                if ((r = mk_schema_uint(d, v, "level", lv[0], lv[1], &l, err)) < 0)
                        return r;
                m->rootfs.level = (unsigned)l;
        }
        if ((v = mk_ynode_get(n, "block-size"))) {
                uint64_t b;
                if ((r = mk_schema_size(d, v, "block-size", &b, err)) < 0)
                        return r;
                if (b < 4096 || b > (1u << 20) || (b & (b - 1)))
                        return mk_schema_error(
                                d, v, err,
                                "'block-size' must be a power of two from 4K to 1M (128K is the usual choice)");
                m->rootfs.block_size = (uint32_t)b;
        }
        return 0;
}

static const schema_key data_keys[] = {
        {"label", false}, {"encryption", false}, {"cipher", false}, {"pbkdf", false}, {"key-source", false},
};

static int parse_data(mk_model *m, const ynode *n, mk_error *err)
{
        const ydoc *d = m->doc;
        int r = mk_schema_check_map(d, n, "'data'", data_keys, ELEMENTSOF(data_keys), err);
        if (r < 0)
                return r;
        const ynode *v;
        unsigned e;
        if ((v = mk_ynode_get(n, "label"))) {
                if ((r = mk_schema_string(d, v, "label", 0, &m->data.label, err)) < 0)
                        return r;
                if (strlen(m->data.label) > 16)
                        return mk_schema_error(d, v, err, "'label' is longer than 16 bytes (ext4 labels hold 16)");
        }
        if ((v = mk_ynode_get(n, "encryption"))) {
                if ((r = mk_schema_enum(d, v, "encryption", enc_names, ELEMENTSOF(enc_names), &e, err)) < 0)
                        return r;
                m->data.encryption = (mk_encryption)e;
        }
        if ((v = mk_ynode_get(n, "cipher"))) {
                if ((r = mk_schema_enum(d, v, "cipher", cipher_names, ELEMENTSOF(cipher_names), &e, err)) < 0)
                        return r;
                m->data.cipher = cipher_names[e];
        }
        if ((v = mk_ynode_get(n, "pbkdf"))) {
                if ((r = mk_schema_enum(d, v, "pbkdf", pbkdf_names, ELEMENTSOF(pbkdf_names), &e, err)) < 0)
                        return r;
                m->data.pbkdf = (mk_pbkdf)e;
        }
        if ((v = mk_ynode_get(n, "key-source"))) {
                if ((r = mk_schema_enum(d, v, "key-source", key_source_names, ELEMENTSOF(key_source_names), &e, err)) <
                    0)
                        return r;
                m->data.key_source = (mk_key_source)e;
        }
        if (m->data.encryption == MK_ENC_NONE)
                for (size_t i = 0; i < ELEMENTSOF(data_keys); i++) {
                        const char *k = data_keys[i].name;
                        if (strcmp(k, "label") && strcmp(k, "encryption") && (v = mk_ynode_get(n, k)))
                                return mk_schema_error(d, v, err,
                                                       "'%s' has no effect with 'encryption: none' (remove it)", k);
                }
        return 0;
}

static const schema_key boot_keys[] = {{"console", false}, {"cmdline", false}};

static int parse_boot(mk_model *m, const ynode *n, mk_error *err)
{
        const ydoc *d = m->doc;
        int r = mk_schema_check_map(d, n, "'boot'", boot_keys, ELEMENTSOF(boot_keys), err);
        if (r < 0)
                return r;
        const ynode *v;
        if ((v = mk_ynode_get(n, "console"))) {
                if ((r = mk_schema_string(d, v, "console", 64, &m->boot.console, err)) < 0)
                        return r;
                if (strpbrk(m->boot.console, " \t\"'"))
                        return mk_schema_error(d, v, err,
                                               "'console' must be one device spec like ttyS0,115200 (no spaces)");
        }
        if ((v = mk_ynode_get(n, "cmdline")) &&
            (r = mk_schema_string(d, v, "cmdline", 1024, &m->boot.cmdline, err)) < 0)
                return r;
        return 0;
}

static const schema_key sb_keys[] = {{"key", false}, {"certificate", false}, {"enroll-keys", false}, {"stub", false}};

/* secure-boot: off | {key: db.key, certificate: db.crt, enroll-keys: DIR, stub: FILE} */
static int parse_secure_boot(mk_model *m, const ynode *n, mk_error *err)
{
        const ydoc *d = m->doc;
        if (n->kind == YNODE_SCALAR) {
                if (strcmp(n->str, "off"))
                        return mk_schema_error(d, n, err,
                                               "'secure-boot' is 'off' or a mapping {key, certificate, enroll-keys, "
                                               "stub} (got '%.40s')",
                                               n->str);
                m->secure_boot.mode = MK_SB_OFF;
                return 0;
        }
        int r = mk_schema_check_map(d, n, "'secure-boot'", sb_keys, ELEMENTSOF(sb_keys), err);
        if (r < 0)
                return r;
        m->secure_boot.mode = MK_SB_ON;
        static const char *const keys[] = {"key", "certificate", "enroll-keys", "stub"};
        char **dst[] = {&m->secure_boot.key, &m->secure_boot.cert, &m->secure_boot.enroll, &m->secure_boot.stub};
        for (size_t i = 0; i < ELEMENTSOF(keys); i++) {
                const ynode *v = mk_ynode_get(n, keys[i]);
                if (v && (r = mk_schema_path(d, v, keys[i], dst[i], err)) < 0)
                        return r;
        }
        return 0;
}

static const schema_key factory_keys[] = {{"fields", false}};

/* factory: {fields: [hostname, region]}: the per-device values a device list may give. */
static int parse_factory(mk_model *m, const ynode *n, mk_error *err)
{
        const ydoc *d = m->doc;
        int r = mk_schema_check_map(d, n, "'factory'", factory_keys, ELEMENTSOF(factory_keys), err);
        const ynode *f = r < 0 ? NULL : mk_ynode_get(n, "fields");
        if (r < 0 || !f)
                return r;
        if (f->kind != YNODE_SEQ || f->n > 32)
                return mk_schema_error(d, f, err, "'factory.fields' must be a list of at most 32 field names");
        if (f->n && !(m->factory.fields = calloc(f->n, sizeof(*m->factory.fields))))
                return mk_error_set(err, ENOMEM, "out of memory");
        for (size_t i = 0; i < f->n; i++) {
                const char *name;
                if ((r = mk_schema_name(d, f->vals[i], "factory.fields", &name, err)) < 0)
                        return r;
                if (!strcmp(name, "serial"))
                        return mk_schema_error(
                                d, f->vals[i], err,
                                "'serial' is always a device field; list only the others in 'factory.fields'");
                for (size_t j = 0; j < m->factory.n_fields; j++)
                        if (!strcmp(m->factory.fields[j], name))
                                return mk_schema_error(d, f->vals[i], err, "field '%s' is listed twice (keep one)",
                                                       name);
                m->factory.fields[m->factory.n_fields++] = name;
        }
        return 0;
}

static const schema_key model_keys[] = {
        {"model", true},  {"brand", true},         {"version", true},    {"architecture", true}, {"grade", true},
        {"layout", true}, {"trusted-keys", false}, {"components", true}, {"rootfs", false},      {"data", false},
        {"boot", false},  {"signing-key", false},  {"factory", false},   {"secure-boot", false},
};

static int parse_model(mk_model *m, mk_error *err)
{
        const ydoc *d = m->doc;
        const ynode *root = d->root;
        int r = mk_schema_check_map(d, root, "the model", model_keys, ELEMENTSOF(model_keys), err);
        if (r < 0)
                return r;
        unsigned e;
        if ((r = mk_schema_name(d, mk_ynode_get(root, "model"), "model", &m->model, err)) < 0 ||
            (r = mk_schema_string(d, mk_ynode_get(root, "brand"), "brand", 64, &m->brand, err)) < 0 ||
            (r = mk_schema_uint(d, mk_ynode_get(root, "version"), "version", 0, UINT32_MAX, &m->version, err)) < 0)
                return r;
        if ((r = mk_schema_enum(d, mk_ynode_get(root, "architecture"), "architecture", arch_names,
                                ELEMENTSOF(arch_names), &e, err)) < 0)
                return r;
        m->arch = (mk_arch)e;
        if ((r = mk_schema_enum(d, mk_ynode_get(root, "grade"), "grade", grade_names, ELEMENTSOF(grade_names), &e,
                                err)) < 0)
                return r;
        m->grade = (mk_grade)e;
        if ((r = mk_schema_path(d, mk_ynode_get(root, "layout"), "layout", &m->layout_path, err)) < 0)
                return r;
        const ynode *v;
        if ((v = mk_ynode_get(root, "signing-key")) &&
            (r = mk_schema_path(d, v, "signing-key", &m->signing_key, err)) < 0)
                return r;
        if ((v = mk_ynode_get(root, "trusted-keys")) && (r = parse_keys(m, v, err)) < 0)
                return r;
        if (!v && m->grade == MK_GRADE_SIGNED)
                return mk_schema_error(
                        d, root, err,
                        "grade 'signed' needs 'trusted-keys' (name the public keys that sign the components)");

        m->rootfs.compressor = MK_COMP_ZSTD;
        m->rootfs.block_size = 128 * 1024;
        if ((v = mk_ynode_get(root, "rootfs")) && (r = parse_rootfs(m, v, err)) < 0)
                return r;
        m->data.label = "data";
        m->data.encryption = MK_ENC_LUKS2;
        m->data.cipher = cipher_names[0];
        m->data.pbkdf = MK_PBKDF_ARGON2ID;
        m->data.key_source = MK_KEY_FW_CFG;
        if ((v = mk_ynode_get(root, "data")) && (r = parse_data(m, v, err)) < 0)
                return r;
        m->boot.console = "ttyS0,115200";
        if ((v = mk_ynode_get(root, "boot")) && (r = parse_boot(m, v, err)) < 0)
                return r;
        if ((v = mk_ynode_get(root, "secure-boot")) && (r = parse_secure_boot(m, v, err)) < 0)
                return r;
        if ((v = mk_ynode_get(root, "factory")) && (r = parse_factory(m, v, err)) < 0)
                return r;
        return parse_components(m, mk_ynode_get(root, "components"), err);
}

int mk_model_load(const char *path, mk_model **ret, mk_error *err)
{
        mk_model *m = calloc(1, sizeof(*m));
        if (!m)
                return mk_error_set(err, ENOMEM, "out of memory");
        int r = mk_ydoc_load_file(path, &m->doc, err);
        if (r >= 0) {
                m->path = m->doc->path;
                r = parse_model(m, err);
        }
        if (r == -ENOMEM && !mk_error_isset(err))
                mk_error_set(err, ENOMEM, "%s: out of memory", path);
        if (r < 0) {
                mk_model_free(m);
                return r;
        }
        *ret = m;
        return 0;
}
