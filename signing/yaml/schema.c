/* SPDX-License-Identifier: MIT */
#include "signing/yaml/schema.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "signing/base/macro.h"

int mk_schema_error(const ydoc *doc, const ynode *node, mk_error *err, const char *fmt, ...)
{
        char what[MK_ERROR_MAX];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(what, sizeof(what), fmt, ap);
        va_end(ap);
        if (node)
                return mk_error_set(err, EINVAL, "%s:%u:%u: %s", doc->path, node->line, node->col, what);
        return mk_error_set(err, EINVAL, "%s: %s", doc->path, what);
}

static size_t edit_distance(const char *a, const char *b)
{
        size_t la = strlen(a), lb = strlen(b);
        if (la > 64 || lb > 64)
                return (size_t)-1;
        size_t row[65];
        for (size_t j = 0; j <= lb; j++)
                row[j] = j;
        for (size_t i = 1; i <= la; i++) {
                size_t diag = row[0];
                row[0] = i;
                for (size_t j = 1; j <= lb; j++) {
                        size_t up = row[j];
                        size_t best = diag + (a[i - 1] != b[j - 1]);
                        if (row[j] + 1 < best)
                                best = row[j] + 1;
                        if (row[j - 1] + 1 < best)
                                best = row[j - 1] + 1;
                        row[j] = best;
                        diag = up;
                }
        }
        return row[lb];
}

const char *mk_schema_did_you_mean(const char *word, const char *const *candidates, size_t n)
{
        const char *best = NULL;
        size_t best_d = (size_t)-1;
        size_t len = strlen(word);
        if (len < 3)
                return NULL; /* any short word is "close" to any other */
        size_t limit = len <= 4 ? 1 : len <= 8 ? 2 : 3;
        for (size_t i = 0; i < n; i++) {
                size_t d = edit_distance(word, candidates[i]);
                if (d < best_d) {
                        best_d = d;
                        best = candidates[i];
                }
        }
        return best_d <= limit ? best : NULL;
}

int mk_schema_check_map(const ydoc *doc, const ynode *node, const char *what, const schema_key *keys, size_t n,
                        mk_error *err)
{
        if (node->kind != YNODE_MAP)
                return mk_schema_error(doc, node, err, "%s must be a mapping of 'key: value' lines, not %s", what,
                                       mk_ynode_kind_name(node));
        const char *names[64] = {NULL};
        size_t nn = n < 64 ? n : 64;
        for (size_t i = 0; i < nn; i++)
                names[i] = keys[i].name;
        for (size_t i = 0; i < node->n; i++) {
                const ynode *k = node->keys[i];
                bool known = false;
                for (size_t j = 0; j < n && !known; j++)
                        known = strcmp(k->str, keys[j].name) == 0;
                if (known)
                        continue;
                const char *hint = mk_schema_did_you_mean(k->str, names, nn);
                if (hint)
                        return mk_schema_error(doc, k, err, "unknown key '%.100s' in %s (did you mean '%s'?)", k->str,
                                               what, hint);
                /* List the valid keys so the fix is visible without the docs. */
                char list[512] = "";
                size_t off = 0;
                for (size_t j = 0; j < n && off < sizeof(list) - 1; j++)
                        off += (size_t)snprintf(list + off, sizeof(list) - off, "%s%s", j ? ", " : "", keys[j].name);
                return mk_schema_error(doc, k, err, "unknown key '%.100s' in %s (known keys: %s)", k->str, what, list);
        }
        for (size_t j = 0; j < n; j++)
                if (keys[j].required && !mk_ynode_get(node, keys[j].name))
                        return mk_schema_error(doc, node, err, "%s is missing the required key '%s' (add it)", what,
                                               keys[j].name);
        return 0;
}

static int need_scalar(const ydoc *doc, const ynode *n, const char *key, const char *expect, mk_error *err)
{
        if (n->kind != YNODE_SCALAR)
                return mk_schema_error(doc, n, err, "'%s' must be %s, not %s", key, expect, mk_ynode_kind_name(n));
        if (n->plain && mk_yaml_null_word(n->str))
                return mk_schema_error(doc, n, err, "'%s' is empty (give %s)", key, expect);
        return 0;
}

int mk_schema_string(const ydoc *doc, const ynode *n, const char *key, size_t max_len, const char **ret, mk_error *err)
{
        int r = need_scalar(doc, n, key, "a string", err);
        if (r < 0)
                return r;
        if (n->len == 0)
                return mk_schema_error(doc, n, err, "'%s' is empty (give a value)", key);
        if (max_len && n->len > max_len)
                return mk_schema_error(doc, n, err, "'%s' is longer than %zu bytes (shorten it)", key, max_len);
        for (size_t i = 0; i < n->len; i++)
                if ((unsigned char)n->str[i] < 0x20 && n->str[i] != '\t')
                        return mk_schema_error(doc, n, err, "'%s' contains a control character (remove it)", key);
        *ret = n->str;
        return 0;
}

int mk_schema_name(const ydoc *doc, const ynode *n, const char *key, const char **ret, mk_error *err)
{
        const char *s;
        int r = mk_schema_string(doc, n, key, 64, &s, err);
        if (r < 0)
                return r;
        for (size_t i = 0; s[i]; i++) {
                char c = s[i];
                bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                          (i > 0 && (c == '.' || c == '_' || c == '-'));
                if (!ok)
                        return mk_schema_error(doc, n, err,
                                               "'%s' must be a name of lower-case letters, digits, '.', '_' and '-', "
                                               "starting with a letter or digit (got '%.64s')",
                                               key, s);
        }
        *ret = s;
        return 0;
}

int mk_schema_uint(const ydoc *doc, const ynode *n, const char *key, uint64_t min, uint64_t max, uint64_t *ret,
                   mk_error *err)
{
        int r = need_scalar(doc, n, key, "a whole number", err);
        if (r < 0)
                return r;
        const char *s = n->str;
        uint64_t v = 0;
        if (!*s)
                return mk_schema_error(doc, n, err, "'%s' must be a whole number", key);
        for (; *s; s++) {
                if (*s < '0' || *s > '9')
                        return mk_schema_error(doc, n, err, "'%s' must be a whole number, not '%.64s'", key, n->str);
                if (v > (UINT64_MAX - (uint64_t)(*s - '0')) / 10)
                        return mk_schema_error(doc, n, err, "'%s' is out of range (at most %llu)", key,
                                               (unsigned long long)max);
                v = v * 10 + (uint64_t)(*s - '0');
        }
        if (v < min || v > max)
                return mk_schema_error(doc, n, err, "'%s' is out of range: %llu (it must be %llu to %llu)", key,
                                       (unsigned long long)v, (unsigned long long)min, (unsigned long long)max);
        *ret = v;
        return 0;
}

int mk_schema_bool(const ydoc *doc, const ynode *n, const char *key, bool *ret, mk_error *err)
{
        int r = need_scalar(doc, n, key, "true or false", err);
        if (r < 0)
                return r;
        if (!strcmp(n->str, "true") || !strcmp(n->str, "yes")) {
                *ret = true;
                return 0;
        }
        if (!strcmp(n->str, "false") || !strcmp(n->str, "no")) {
                *ret = false;
                return 0;
        }
        return mk_schema_error(doc, n, err, "'%s' must be true or false, not '%.64s'", key, n->str);
}

int mk_schema_enum(const ydoc *doc, const ynode *n, const char *key, const char *const *choices, size_t nchoices,
                   unsigned *ret, mk_error *err)
{
        int r = need_scalar(doc, n, key, "one of the listed words", err);
        if (r < 0)
                return r;
        for (size_t i = 0; i < nchoices; i++)
                if (!strcmp(n->str, choices[i])) {
                        *ret = (unsigned)i;
                        return 0;
                }
        char list[512] = "";
        size_t off = 0;
        for (size_t i = 0; i < nchoices && off < sizeof(list) - 1; i++)
                off += (size_t)snprintf(list + off, sizeof(list) - off, "%s%s", i ? ", " : "", choices[i]);
        const char *hint = mk_schema_did_you_mean(n->str, choices, nchoices);
        if (hint)
                return mk_schema_error(doc, n, err, "'%s' has an unknown value '%.64s' (did you mean '%s'?)", key,
                                       n->str, hint);
        return mk_schema_error(doc, n, err, "'%s' has an unknown value '%.64s' (use one of: %s)", key, n->str, list);
}

int mk_parse_size(const char *s, uint64_t *ret)
{
        static const struct {
                const char *suffix;
                unsigned shift;
        } units[] = {
                {"", 0},     {"B", 0},  {"K", 10},   {"KiB", 10}, {"M", 20},
                {"MiB", 20}, {"G", 30}, {"GiB", 30}, {"T", 40},   {"TiB", 40},
        };
        if (!s || *s < '0' || *s > '9')
                return -EINVAL;
        uint64_t v = 0;
        const char *p = s;
        for (; *p >= '0' && *p <= '9'; p++) {
                if (v > (UINT64_MAX - (uint64_t)(*p - '0')) / 10)
                        return -ERANGE;
                v = v * 10 + (uint64_t)(*p - '0');
        }
        while (*p == ' ')
                p++;
        for (size_t i = 0; i < ELEMENTSOF(units); i++) {
                if (strcmp(p, units[i].suffix) != 0)
                        continue;
                if (units[i].shift && v > (UINT64_MAX >> units[i].shift))
                        return -ERANGE;
                *ret = v << units[i].shift;
                return 0;
        }
        return -EINVAL;
}

int mk_schema_size(const ydoc *doc, const ynode *n, const char *key, uint64_t *ret, mk_error *err)
{
        int r = need_scalar(doc, n, key, "a size", err);
        if (r < 0)
                return r;
        r = mk_parse_size(n->str, ret);
        if (r == -ERANGE)
                return mk_schema_error(doc, n, err, "'%s' is too large: '%.64s' (sizes must fit in 64 bits)", key,
                                       n->str);
        if (r < 0)
                return mk_schema_error(doc, n, err, "'%s' must be a size such as 4096, 512K, 256MiB or 2G, not '%.64s'",
                                       key, n->str);
        return 0;
}

char *mk_path_resolve(const char *base_file, const char *path)
{
        if (path[0] == '/')
                return strdup(path);
        const char *slash = strrchr(base_file, '/');
        if (!slash)
                return strdup(path);
        size_t dlen = (size_t)(slash - base_file);
        char *out = NULL;
        if (asprintf(&out, "%.*s/%s", (int)(dlen ? dlen : 1), dlen ? base_file : "/", path) < 0)
                return NULL;
        return out;
}

int mk_schema_path(const ydoc *doc, const ynode *n, const char *key, char **ret, mk_error *err)
{
        const char *s;
        int r = mk_schema_string(doc, n, key, 4096, &s, err);
        if (r < 0)
                return r;
        char *p = mk_path_resolve(doc->path, s);
        if (!p)
                return mk_error_set(err, ENOMEM, "out of memory");
        *ret = p;
        return 0;
}

static bool is_digit(char c)
{
        return c >= '0' && c <= '9';
}

int mk_schema_hex64(const ydoc *d, const ynode *n, const char *key, char out[65], mk_error *err)
{
        const char *s;
        int r = mk_schema_string(d, n, key, 0, &s, err);
        if (r < 0)
                return r;
        bool good = strlen(s) == 64;
        for (size_t i = 0; good && i < 64; i++)
                good = is_digit(s[i]) || (s[i] >= 'a' && s[i] <= 'f');
        if (!good)
                return mk_schema_error(d, n, err, "'%s' must be exactly 64 lower-case hex digits (got '%.80s')", key,
                                       s);
        memcpy(out, s, 65);
        return 0;
}

static bool digits(const char *s, size_t n, unsigned min, unsigned max)
{
        unsigned v = 0;
        for (size_t i = 0; i < n; i++) {
                if (!is_digit(s[i]))
                        return false;
                v = v * 10 + (unsigned)(s[i] - '0');
        }
        return v >= min && v <= max;
}

int mk_schema_utc_time(const ydoc *d, const ynode *n, const char *key, char out[32], mk_error *err)
{
        const char *s;
        int r = mk_schema_string(d, n, key, 0, &s, err);
        if (r < 0)
                return r;
        bool ok = strlen(s) == 20 && s[4] == '-' && s[7] == '-' && s[10] == 'T' && s[13] == ':' && s[16] == ':' &&
                  s[19] == 'Z' && digits(s, 4, 1970, 9999) && digits(s + 5, 2, 1, 12) && digits(s + 8, 2, 1, 31) &&
                  digits(s + 11, 2, 0, 23) && digits(s + 14, 2, 0, 59) && digits(s + 17, 2, 0, 60);
        if (!ok)
                return mk_schema_error(d, n, err, "'%s' must be a UTC time like 2026-01-01T00:00:00Z (got '%.80s')",
                                       key, s);
        memcpy(out, s, 21);
        return 0;
}
