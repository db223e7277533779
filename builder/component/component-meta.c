/* SPDX-License-Identifier: MIT */
/* meta/component.yaml: parsing and validation. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "builder/component/component.h"
#include "signing/base/macro.h"
#include "signing/yaml/schema.h"
#include "signing/yaml/yamldoc.h"

static const char *const type_names[_COMPONENT_TYPE_MAX] = {
        [COMPONENT_BASE] = "base",     [COMPONENT_KERNEL] = "kernel", [COMPONENT_APP] = "app",
        [COMPONENT_CONFIG] = "config", [COMPONENT_DATA] = "data",
};

const char *mk_component_type_name(component_type t)
{
        return t < _COMPONENT_TYPE_MAX ? type_names[t] : "?";
}

/* ---- SPDX license expressions ------------------------------------------- */

typedef struct lexer {
        const char *p;
        char tok[128];
        int depth;
        const char *why;
} lexer;

/* Next token into l->tok: "(", ")", or a word; "" at the end. */
static void lex(lexer *l)
{
        while (*l->p == ' ' || *l->p == '\t')
                l->p++;
        size_t n = 0;
        if (*l->p == '(' || *l->p == ')')
                l->tok[n++] = *l->p++;
        else
                while (*l->p && !strchr(" \t()", *l->p) && n < sizeof(l->tok) - 1)
                        l->tok[n++] = *l->p++;
        l->tok[n] = '\0';
}

static bool id_chars(const char *s, size_t n)
{
        if (!n)
                return false;
        for (size_t i = 0; i < n; i++)
                if (!isalnum((unsigned char)s[i]) && s[i] != '.' && s[i] != '-')
                        return false;
        return true;
}

static bool is_license_id(const char *t)
{
        if (!strncmp(t, "DocumentRef-", 12)) {
                const char *colon = strchr(t, ':');
                if (!colon || !id_chars(t + 12, (size_t)(colon - t - 12)))
                        return false;
                t = colon + 1;
                if (strncmp(t, "LicenseRef-", 11))
                        return false;
        }
        size_t n = strlen(t);
        if (n && t[n - 1] == '+' && strncmp(t, "LicenseRef-", 11))
                n--;
        return id_chars(t, n) && strcmp(t, "AND") && strcmp(t, "OR") && strcmp(t, "WITH");
}

static bool parse_expr(lexer *l, int level);

static bool parse_term(lexer *l)
{
        if (!strcmp(l->tok, "(")) {
                if (++l->depth > 32)
                        return l->why = "too deeply nested", false;
                lex(l);
                if (!parse_expr(l, 0))
                        return false;
                if (strcmp(l->tok, ")"))
                        return l->why = "a '(' is not closed", false;
                l->depth--;
                lex(l);
                return true;
        }
        if (!*l->tok)
                return l->why = "a license id is missing", false;
        if (!is_license_id(l->tok))
                return l->why = "a license id holds characters other than letters, digits, '.', '-' and a final '+'",
                       false;
        lex(l);
        if (!strcmp(l->tok, "WITH")) {
                lex(l);
                if (!*l->tok || !id_chars(l->tok, strlen(l->tok)) || !strcmp(l->tok, "AND") || !strcmp(l->tok, "OR"))
                        return l->why = "WITH must be followed by an exception id", false;
                lex(l);
        }
        return true;
}

/* expr := and (OR and)*; and := term (AND term)*: AND binds tighter. */
static bool parse_expr(lexer *l, int level)
{
        static const char *const ops[] = {"OR", "AND"};
        if (level == 2)
                return parse_term(l);
        if (!parse_expr(l, level + 1))
                return false;
        while (!strcmp(l->tok, ops[level])) {
                lex(l);
                if (!parse_expr(l, level + 1))
                        return false;
        }
        return true;
}

int mk_component_check_license(const char *expr, const char **why)
{
        if (!strcmp(expr, "NONE") || !strcmp(expr, "NOASSERTION"))
                return 0;
        lexer l = {.p = expr};
        lex(&l);
        if (parse_expr(&l, 0) && *l.tok) {
                if (!strcmp(l.tok, ")"))
                        l.why = "a ')' has no matching '('";
                else if (!strcmp(l.tok, "and") || !strcmp(l.tok, "or") || !strcmp(l.tok, "with"))
                        l.why = "operators are written in capitals: AND, OR, WITH";
                else
                        l.why = "two license ids must be joined by AND or OR";
        }
        if (l.why) {
                if (why)
                        *why = l.why;
                return -EINVAL;
        }
        return 0;
}

/* ---- fields --------------------------------------------------------------- */

static int check_charset(const ydoc *doc, const ynode *n, const char *key, const char *extra, const char *fix,
                         mk_error *err)
{
        for (const char *p = n->str; *p; p++)
                if (!isalnum((unsigned char)*p) && !strchr(extra, *p))
                        return mk_schema_error(doc, n, err, "'%s' holds the character '%c' (%s)", key, *p, fix);
        return 0;
}

static int read_version(const ydoc *doc, const ynode *n, char **ret, mk_error *err)
{
        const char *s;
        int r = mk_schema_string(doc, n, "version", 64, &s, err);
        if (r < 0)
                return r;
        if (!isalnum((unsigned char)s[0]))
                return mk_schema_error(doc, n, err, "'version' must start with a letter or a digit (e.g. 1.2.3)");
        r = check_charset(doc, n, "version", ".+~:_-",
                          "a version uses letters, digits and . + ~ : _ -, e.g. 1.2.3 or 2.38-1+deb12u1", err);
        if (r < 0)
                return r;
        return (*ret = strdup(s)) ? 0 : mk_error_set(err, ENOMEM, "out of memory");
}

static int read_source(const ydoc *doc, const ynode *n, char **ret, mk_error *err)
{
        const char *s;
        int r = mk_schema_string(doc, n, "source", 1024, &s, err);
        if (r < 0)
                return r;
        const char *p = s;
        if (isalpha((unsigned char)*p))
                while (isalnum((unsigned char)*p) || *p == '+' || *p == '.' || *p == '-')
                        p++;
        if (p == s || strncmp(p, "://", 3) || !p[3] || strpbrk(s, " \t"))
                return mk_schema_error(doc, n, err,
                                       "'source' must be a URL like https://example.com/project "
                                       "(no spaces)");
        return (*ret = strdup(s)) ? 0 : mk_error_set(err, ENOMEM, "out of memory");
}

static int read_license(const ydoc *doc, const ynode *n, char **ret, mk_error *err)
{
        const char *s, *why = NULL;
        int r = mk_schema_string(doc, n, "license", 512, &s, err);
        if (r < 0)
                return r;
        if (mk_component_check_license(s, &why) < 0)
                return mk_schema_error(doc, n, err,
                                       "'license' is not a valid SPDX license expression: %s "
                                       "(e.g. MIT, GPL-2.0-only OR MIT, Apache-2.0 WITH LLVM-exception)",
                                       why);
        return (*ret = strdup(s)) ? 0 : mk_error_set(err, ENOMEM, "out of memory");
}

static int read_mode(const ydoc *doc, const ynode *n, uint32_t *ret, mk_error *err)
{
        if (n->kind != YNODE_SCALAR || n->len == 0 || n->len > 5 || strspn(n->str, "01234567") != n->len)
                return mk_schema_error(doc, n, err, "'mode' must be octal permission bits like \"0755\" or \"4755\"");
        unsigned long v = strtoul(n->str, NULL, 8);
        if (v > 07777)
                return mk_schema_error(doc, n, err, "'mode' %s is more than 07777 (give permission bits only)", n->str);
        *ret = (uint32_t)v;
        return 0;
}

static int read_owner(const ydoc *doc, const ynode *item, size_t i, component_owner *o, mk_error *err)
{
        static const schema_key keys[] = {
                {"path", true},
                {"uid", false},
                {"gid", false},
                {"mode", false},
        };
        char what[64];
        snprintf(what, sizeof what, "owners item %zu", i + 1);
        int r = mk_schema_check_map(doc, item, what, keys, ELEMENTSOF(keys), err);
        if (r < 0)
                return r;
        const ynode *n = mk_ynode_get(item, "path");
        const char *path;
        if ((r = mk_schema_string(doc, n, "path", 4096, &path, err)) < 0)
                return r;
        /* In-image paths may be written absolute ("/usr/bin/ping"). */
        while (*path == '/')
                path++;
        mk_error perr = {0};
        if (mk_fstree_normalize_path("owners", path, &o->path, &perr) < 0)
                return mk_schema_error(doc, n, err, "'path' is not a valid path in the image (%s)", perr.msg);
        o->line = item->line;
        o->col = item->col;
        uint64_t v;
        if ((n = mk_ynode_get(item, "uid"))) {
                if ((r = mk_schema_uint(doc, n, "uid", 0, 0xFFFFFFFEu, &v, err)) < 0)
                        return r;
                o->has_uid = true, o->uid = (uint32_t)v;
        }
        if ((n = mk_ynode_get(item, "gid"))) {
                if ((r = mk_schema_uint(doc, n, "gid", 0, 0xFFFFFFFEu, &v, err)) < 0)
                        return r;
                o->has_gid = true, o->gid = (uint32_t)v;
        }
        if ((n = mk_ynode_get(item, "mode"))) {
                if ((r = read_mode(doc, n, &o->mode, err)) < 0)
                        return r;
                o->has_mode = true;
        }
        if (!o->has_uid && !o->has_gid && !o->has_mode)
                return mk_schema_error(doc, item, err, "%s sets nothing (give uid, gid or mode)", what);
        return 0;
}

static int read_owners(const ydoc *doc, const ynode *n, component_meta *m, mk_error *err)
{
        if (n->kind != YNODE_SEQ)
                return mk_schema_error(doc, n, err, "'owners' must be a list of {path, uid, gid, mode} items, not %s",
                                       mk_ynode_kind_name(n));
        m->owners = calloc(n->n ? n->n : 1, sizeof(*m->owners));
        if (!m->owners)
                return mk_error_set(err, ENOMEM, "out of memory");
        for (size_t i = 0; i < n->n; i++) {
                int r = read_owner(doc, n->vals[i], i, &m->owners[i], err);
                m->n_owners = i + 1;
                if (r < 0)
                        return r;
        }
        return 0;
}

static int dup_field(const ydoc *doc, const ynode *map, const char *key, size_t max, char **ret, mk_error *err)
{
        const char *s;
        int r = mk_schema_string(doc, mk_ynode_get(map, key), key, max, &s, err);
        if (r < 0)
                return r;
        return (*ret = strdup(s)) ? 0 : mk_error_set(err, ENOMEM, "out of memory");
}

static int cmp_str(const void *a, const void *b)
{
        return strcmp(*(char *const *)a, *(char *const *)b);
}

/* setuid: [/usr/bin/su, ...] or capabilities: [...]: absolute paths, each once; stored sorted, relative. */
static int read_paths(const ydoc *doc, const ynode *n, const char *key, char ***ret, size_t *ret_n, mk_error *err)
{
        if (n->kind != YNODE_SEQ)
                return mk_schema_error(doc, n, err,
                                       "'%s' must be a list of paths in the image (e.g. [/usr/bin/su]), not %s", key,
                                       mk_ynode_kind_name(n));
        if (!(*ret = calloc(n->n ? n->n : 1, sizeof(**ret))))
                return mk_error_set(err, ENOMEM, "out of memory");
        for (size_t i = 0; i < n->n; i++) {
                const ynode *v = n->vals[i];
                const char *path;
                int r = mk_schema_string(doc, v, key, 4096, &path, err);
                if (r < 0)
                        return r;
                if (*path != '/')
                        return mk_schema_error(
                                doc, v, err,
                                "'%s' lists '%.80s': give the path in the image from its root (/usr/bin/su)", key,
                                path);
                mk_error perr = {0};
                r = mk_fstree_normalize_path(key, path + 1, &(*ret)[i], &perr);
                *ret_n = i + 1; /* (*ret)[i] is freed with the rest, set or not */
                if (r < 0 || !*(*ret)[i])
                        return mk_schema_error(doc, v, err, "'%s': '%.80s' is not a file's path in the image (%s)", key,
                                               path, perr.msg[0] ? perr.msg : "the root");
                for (size_t k = 0; k < i; k++)
                        if (!strcmp((*ret)[k], (*ret)[i]))
                                return mk_schema_error(doc, v, err, "'%s' lists %.80s twice (keep one)", key, path);
        }
        qsort(*ret, *ret_n, sizeof(**ret), cmp_str);
        return 0;
}

/* packages: [{name, version, architecture}]: what the payload was built from, e.g. a Debian root's packages. */
static int read_packages(const ydoc *doc, const ynode *n, component_meta *m, mk_error *err)
{
        static const schema_key keys[] = {{"name", true}, {"version", true}, {"architecture", true}};
        if (n->kind != YNODE_SEQ)
                return mk_schema_error(doc, n, err,
                                       "'packages' must be a list of {name, version, architecture} items, not %s",
                                       mk_ynode_kind_name(n));
        if (!(m->packages = calloc(n->n ? n->n : 1, sizeof(*m->packages))))
                return mk_error_set(err, ENOMEM, "out of memory");
        for (size_t i = 0; i < n->n; i++) {
                const ynode *item = n->vals[i];
                component_package *p = &m->packages[i];
                m->n_packages = i + 1;
                char what[64];
                snprintf(what, sizeof what, "packages item %zu", i + 1);
                int r = mk_schema_check_map(doc, item, what, keys, ELEMENTSOF(keys), err);
                if (r < 0 || (r = dup_field(doc, item, "name", 128, &p->name, err)) < 0 ||
                    (r = read_version(doc, mk_ynode_get(item, "version"), &p->version, err)) < 0 ||
                    (r = dup_field(doc, item, "architecture", 32, &p->arch, err)) < 0)
                        return r;
                if (strspn(p->name, "abcdefghijklmnopqrstuvwxyz0123456789+-.") != strlen(p->name))
                        return mk_schema_error(doc, mk_ynode_get(item, "name"), err,
                                               "package name '%.80s' holds a character a Debian package name has not "
                                               "(lower-case letters, digits, + - .)",
                                               p->name);
        }
        return 0;
}

static int parse_doc(const ydoc *doc, component_meta *m, mk_error *err)
{
        static const schema_key keys[] = {
                {"name", true},     {"version", true},       {"type", true},      {"license", true},
                {"supplier", true}, {"source", false},       {"owners", false},   {"allow-devices", false},
                {"setuid", false},  {"capabilities", false}, {"packages", false},
        };
        const ynode *root = doc->root;
        const ynode *n;
        if ((n = root && root->kind == YNODE_MAP ? mk_ynode_get(root, "allow-setuid") : NULL))
                return mk_schema_error(doc, n, err,
                                       "'allow-setuid' is gone: list the setuid and setgid files the component "
                                       "ships, as 'setuid: [/usr/bin/su, ...]'");
        int r = mk_schema_check_map(doc, root, "the component metadata", keys, ELEMENTSOF(keys), err);
        if (r < 0)
                return r;
        const char *name;
        unsigned type;
        if ((r = mk_schema_name(doc, mk_ynode_get(root, "name"), "name", &name, err)) < 0)
                return r;
        if (!(m->name = strdup(name)))
                return mk_error_set(err, ENOMEM, "out of memory");
        if ((r = read_version(doc, mk_ynode_get(root, "version"), &m->version, err)) < 0)
                return r;
        if ((r = mk_schema_enum(doc, mk_ynode_get(root, "type"), "type", type_names, _COMPONENT_TYPE_MAX, &type, err)) <
            0)
                return r;
        m->type = (component_type)type;
        if ((r = read_license(doc, mk_ynode_get(root, "license"), &m->license, err)) < 0)
                return r;
        if ((r = dup_field(doc, root, "supplier", 256, &m->supplier, err)) < 0)
                return r;
        if ((n = mk_ynode_get(root, "source")) && (r = read_source(doc, n, &m->source, err)) < 0)
                return r;
        if ((n = mk_ynode_get(root, "allow-devices")) &&
            (r = mk_schema_bool(doc, n, "allow-devices", &m->allow_devices, err)) < 0)
                return r;
        if ((n = mk_ynode_get(root, "setuid")) && (r = read_paths(doc, n, "setuid", &m->setuid, &m->n_setuid, err)) < 0)
                return r;
        if ((n = mk_ynode_get(root, "capabilities")) &&
            (r = read_paths(doc, n, "capabilities", &m->caps, &m->n_caps, err)) < 0)
                return r;
        if ((n = mk_ynode_get(root, "packages")) && (r = read_packages(doc, n, m, err)) < 0)
                return r;
        if ((n = mk_ynode_get(root, "owners")) && (r = read_owners(doc, n, m, err)) < 0)
                return r;
        return 0;
}

int mk_component_meta_parse(const char *name, const char *buf, size_t len, component_meta **ret, mk_error *err)
{
        if (len > COMPONENT_META_MAX)
                return mk_error_set(err, EFBIG, "%s: %zu bytes, more than the limit of %u (keep the metadata short)",
                                    name, len, COMPONENT_META_MAX);
        ydoc *doc = NULL;
        int r = mk_ydoc_load_buffer(name, buf, len, &doc, err);
        if (r < 0)
                return r;
        component_meta *m = calloc(1, sizeof(*m));
        if (!m || !(m->origin = strdup(name)) || !(m->raw = malloc(len + 1))) {
                mk_component_meta_free(m);
                mk_ydoc_free(doc);
                return mk_error_set(err, ENOMEM, "out of memory");
        }
        memcpy(m->raw, buf, len);
        m->raw[len] = '\0';
        m->raw_len = len;
        r = parse_doc(doc, m, err);
        mk_ydoc_free(doc);
        if (r < 0) {
                mk_component_meta_free(m);
                return r;
        }
        *ret = m;
        return 0;
}

int mk_component_meta_load(const char *path, component_meta **ret, mk_error *err)
{
        _cleanup_fclose_ FILE *f = fopen(path, "re");
        if (!f)
                return mk_error_set(err, errno, "%s: %s (give the component metadata file)", path, strerror(errno));
        _cleanup_free_ char *buf = malloc(COMPONENT_META_MAX + 1);
        if (!buf)
                return mk_error_set(err, ENOMEM, "out of memory");
        size_t len = fread(buf, 1, COMPONENT_META_MAX + 1, f);
        if (ferror(f))
                return mk_error_set(err, EIO, "%s: read error", path);
        return mk_component_meta_parse(path, buf, len, ret, err);
}

component_meta *mk_component_meta_free(component_meta *m)
{
        if (!m)
                return NULL;
        for (size_t i = 0; i < m->n_owners; i++)
                free(m->owners[i].path);
        free(m->owners);
        for (size_t i = 0; i < m->n_setuid; i++)
                free(m->setuid[i]);
        free(m->setuid);
        for (size_t i = 0; i < m->n_caps; i++)
                free(m->caps[i]);
        free(m->caps);
        for (size_t i = 0; i < m->n_packages; i++) {
                free(m->packages[i].name);
                free(m->packages[i].version);
                free(m->packages[i].arch);
        }
        free(m->packages);
        free(m->origin);
        free(m->name);
        free(m->version);
        free(m->license);
        free(m->supplier);
        free(m->source);
        free(m->raw);
        free(m);
        return NULL;
}

void mk_component_policy(const component_meta *m, mk_fs_policy *ret)
{
        *ret = (mk_fs_policy){
                .allow = m->allow_devices ? FSTREE_ALLOW_DEVICES : 0,
                .setuid = (const char *const *)m->setuid,
                .n_setuid = m->n_setuid,
                .caps = (const char *const *)m->caps,
                .n_caps = m->n_caps,
        };
}
