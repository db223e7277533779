/* SPDX-License-Identifier: MIT */
#include "builder/factory/factory-devices.h"

#include <errno.h>
#include <json-c/json.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "signing/base/macro.h"

#define LINE_MAX_BYTES (64u << 10)
#define DEVICES_MAX 1000000u

const char *mk_serial_problem(const char *s)
{
        size_t n = strlen(s);
        if (n == 0 || n > MK_SERIAL_MAX)
                return "must be 1 to 64 characters";
        if (strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-") != n)
                return "may hold only letters, digits, '.', '_' and '-'";
        if (s[0] == '.')
                return "must not start with '.'";
        return NULL;
}

mk_devices *mk_devices_free(mk_devices *d)
{
        if (!d)
                return NULL;
        for (size_t i = 0; i < d->n; i++) {
                free(d->items[i].serial);
                for (size_t j = 0; d->items[i].values && j < d->n_fields; j++)
                        free(d->items[i].values[j]);
                free(d->items[i].values);
        }
        free(d->items);
        free(d);
        return NULL;
}

/* One parsing context: the list, the model's fields, the record's column map. */
typedef struct dparse {
        mk_devices *d;
        const mk_model *m;
        size_t cap;
        int columns[32 + 1]; /* CSV: column -> field index, -1 serial */
        size_t n_columns;
} dparse;

static int field_index(const mk_model *m, const char *name)
{
        if (!strcmp(name, "serial"))
                return -1;
        for (size_t i = 0; i < m->factory.n_fields; i++)
                if (!strcmp(m->factory.fields[i], name))
                        return (int)i;
        return -2;
}

static int unknown_field(dparse *p, unsigned line, const char *name, mk_error *err)
{
        return mk_error_set(err, EINVAL,
                            "%s:%u: '%.64s' is not a device field of model %s (declare it in the model's "
                            "'factory.fields', or drop it; known: serial%s%s)",
                            p->d->path, line, name, p->m->model, p->m->factory.n_fields ? ", " : "",
                            p->m->factory.n_fields ? p->m->factory.fields[0] : "");
}

static int check_value(dparse *p, unsigned line, const char *name, const char *v, mk_error *err)
{
        if (strlen(v) > MK_DEVICE_VALUE_MAX)
                return mk_error_set(err, E2BIG, "%s:%u: '%s' is longer than %u bytes (shorten it)", p->d->path, line,
                                    name, MK_DEVICE_VALUE_MAX);
        for (const unsigned char *c = (const unsigned char *)v; *c; c++)
                if (*c < 0x20 || *c == 0x7f)
                        return mk_error_set(err, EINVAL, "%s:%u: '%s' holds a control character (one line of text)",
                                            p->d->path, line, name);
        return 0;
}

/* Start a device record at line; returns it, or NULL (err set). */
static mk_device *new_device(dparse *p, unsigned line, mk_error *err)
{
        if (p->d->n >= DEVICES_MAX) {
                mk_error_set(err, E2BIG, "%s:%u: more than %u devices (split the list)", p->d->path, line, DEVICES_MAX);
                return NULL;
        }
        if (p->d->n == p->cap) {
                size_t cap = p->cap ? p->cap * 2 : 64;
                mk_device *items = realloc(p->d->items, cap * sizeof(*items));
                if (!items) {
                        mk_error_set(err, ENOMEM, "out of memory");
                        return NULL;
                }
                p->d->items = items;
                p->cap = cap;
        }
        mk_device *dev = &p->d->items[p->d->n];
        *dev = (mk_device){.line = line, .values = calloc(p->d->n_fields + 1, sizeof(char *))};
        if (!dev->values) {
                mk_error_set(err, ENOMEM, "out of memory");
                return NULL;
        }
        p->d->n++;
        return dev;
}

static int set_value(dparse *p, mk_device *dev, int idx, const char *name, const char *v, mk_error *err)
{
        int r = check_value(p, dev->line, name, v, err);
        if (r < 0)
                return r;
        char **slot = idx < 0 ? &dev->serial : &dev->values[idx];
        if (*slot)
                return mk_error_set(err, EINVAL, "%s:%u: '%s' is given twice (keep one)", p->d->path, dev->line, name);
        if (!(*slot = strdup(v)))
                return mk_error_set(err, ENOMEM, "out of memory");
        return 0;
}

/* ---- CSV (RFC 4180 quoting; one record a line) ---------------------------- */

/* Split line into fields in place: *ret_n fields in f[]. */
static int csv_split(dparse *p, unsigned line, char *s, char **f, size_t max, size_t *ret_n, mk_error *err)
{
        size_t n = 0;
        for (;;) {
                if (n == max)
                        return mk_error_set(err, E2BIG, "%s:%u: more than %zu columns", p->d->path, line, max);
                char *out = s;
                f[n++] = s;
                if (*s == '"') {
                        s++;
                        for (;;) {
                                if (!*s)
                                        return mk_error_set(err, EINVAL,
                                                            "%s:%u: a quoted field is not closed (end it with '\"')",
                                                            p->d->path, line);
                                if (*s == '"' && s[1] == '"') {
                                        *out++ = '"';
                                        s += 2;
                                } else if (*s == '"') {
                                        s++;
                                        break;
                                } else
                                        *out++ = *s++;
                        }
                        if (*s && *s != ',')
                                return mk_error_set(err, EINVAL,
                                                    "%s:%u: text after a quoted field (quote the whole field)",
                                                    p->d->path, line);
                } else {
                        while (*s && *s != ',')
                                *out++ = *s++;
                }
                bool more = *s == ',';
                if (more)
                        s++;
                *out = '\0';
                if (!more)
                        break;
        }
        *ret_n = n;
        return 0;
}

static int csv_line(dparse *p, unsigned line, char *s, mk_error *err)
{
        char *f[33];
        size_t n = 0;
        int r = csv_split(p, line, s, f, ELEMENTSOF(f), &n, err);
        if (r < 0)
                return r;
        if (p->n_columns == 0) { /* the header */
                bool serial = false;
                for (size_t i = 0; i < n; i++) {
                        int idx = field_index(p->m, f[i]);
                        if (idx == -2)
                                return unknown_field(p, line, f[i], err);
                        for (size_t j = 0; j < i; j++)
                                if (!strcmp(f[i], f[j]))
                                        return mk_error_set(err, EINVAL, "%s:%u: column '%s' is given twice (keep one)",
                                                            p->d->path, line, f[i]);
                        serial |= idx == -1;
                        p->columns[i] = idx;
                }
                if (!serial)
                        return mk_error_set(err, EINVAL,
                                            "%s:%u: the header row has no 'serial' column (the first line names the "
                                            "columns, e.g. serial,%s)",
                                            p->d->path, line,
                                            p->m->factory.n_fields ? p->m->factory.fields[0] : "hostname");
                p->n_columns = n;
                return 0;
        }
        if (n != p->n_columns)
                return mk_error_set(err, EINVAL, "%s:%u: %zu fields, but the header names %zu (one value per column)",
                                    p->d->path, line, n, p->n_columns);
        mk_device *dev = new_device(p, line, err);
        if (!dev)
                return -err->code;
        for (size_t i = 0; i < n; i++) {
                int idx = p->columns[i];
                if (idx >= 0 && !f[i][0])
                        continue; /* an empty optional value: not given */
                if ((r = set_value(p, dev, idx, idx < 0 ? "serial" : p->m->factory.fields[idx], f[i], err)) < 0)
                        return r;
        }
        return 0;
}

/* ---- JSON Lines ---------------------------------------------------------------- */

static int json_line(dparse *p, unsigned line, const char *s, mk_error *err)
{
        enum json_tokener_error je;
        json_object *o = json_tokener_parse_verbose(s, &je);
        if (!o)
                return mk_error_set(err, EINVAL, "%s:%u: not valid JSON: %s (one JSON object a line)", p->d->path, line,
                                    json_tokener_error_desc(je));
        int r = 0;
        if (!json_object_is_type(o, json_type_object)) {
                r = mk_error_set(err, EINVAL, "%s:%u: a record must be a JSON object like {\"serial\": \"SN1\"}",
                                 p->d->path, line);
                goto out;
        }
        mk_device *dev = new_device(p, line, err);
        if (!dev) {
                r = -err->code;
                goto out;
        }
        json_object_object_foreach(o, key, val)
        {
                int idx = field_index(p->m, key);
                if (idx == -2) {
                        r = unknown_field(p, line, key, err);
                        goto out;
                }
                if (!json_object_is_type(val, json_type_string)) {
                        r = mk_error_set(err, EINVAL, "%s:%u: '%s' must be a string (quote it)", p->d->path, line, key);
                        goto out;
                }
                if ((r = set_value(p, dev, idx, key, json_object_get_string(val), err)) < 0)
                        goto out;
        }
out:
        json_object_put(o);
        return r;
}

static int cmp_serial(const void *a, const void *b, void *items)
{
        const mk_device *d = items;
        size_t i = *(const size_t *)a, j = *(const size_t *)b;
        int c = strcmp(d[i].serial, d[j].serial);
        return c ? c : (i < j ? -1 : 1);
}

static bool is_jsonl(const char *path, const char *first)
{
        size_t n = strlen(path);
        if (n > 4 && !strcmp(path + n - 4, ".csv"))
                return false;
        if ((n > 6 && !strcmp(path + n - 6, ".jsonl")) || (n > 5 && !strcmp(path + n - 5, ".json")))
                return true;
        return first && first[strspn(first, " \t")] == '{';
}

int mk_devices_load(const char *path, const mk_model *m, mk_devices **ret, mk_error *err)
{
        _cleanup_fclose_ FILE *f = fopen(path, "re");
        if (!f)
                return mk_error_set(err, errno, "%s: %s (give the device list with --devices FILE)", path,
                                    strerror(errno));
        mk_devices *d = calloc(1, sizeof(*d));
        if (!d)
                return mk_error_set(err, ENOMEM, "out of memory");
        d->path = path;
        d->n_fields = m->factory.n_fields;
        dparse p = {.d = d, .m = m};
        _cleanup_free_ char *buf = malloc(LINE_MAX_BYTES + 2);
        int r = buf ? 0 : mk_error_set(err, ENOMEM, "out of memory");
        int json = -1;
        for (unsigned line = 1; r >= 0 && buf && fgets(buf, LINE_MAX_BYTES + 2, f); line++) {
                size_t len = strlen(buf);
                if (len > LINE_MAX_BYTES) {
                        r = mk_error_set(err, E2BIG, "%s:%u: line longer than %u bytes", path, line, LINE_MAX_BYTES);
                        break;
                }
                if (memchr(buf, '\0', len) != NULL && strlen(buf) != len) {
                        r = mk_error_set(err, EINVAL, "%s:%u: holds a NUL byte (a text file is needed)", path, line);
                        break;
                }
                while (len && (buf[len - 1] == '\n' || buf[len - 1] == '\r'))
                        buf[--len] = '\0';
                if (json < 0)
                        json = is_jsonl(path, buf);
                if (!buf[strspn(buf, " \t")])
                        continue; /* blank lines */
                r = json ? json_line(&p, line, buf, err) : csv_line(&p, line, buf, err);
                if (r >= 0 && d->n && !d->items[d->n - 1].serial && (json || p.n_columns))
                        r = mk_error_set(err, EINVAL, "%s:%u: the record has no serial (every device needs one)", path,
                                         line);
                if (r >= 0 && d->n) {
                        const mk_device *dev = &d->items[d->n - 1];
                        const char *why = dev->serial && dev->line == line ? mk_serial_problem(dev->serial) : NULL;
                        if (why)
                                r = mk_error_set(err, EINVAL, "%s:%u: serial '%.80s' %s", path, line, dev->serial, why);
                }
        }
        if (r >= 0 && ferror(f))
                r = mk_error_set(err, EIO, "%s: read error", path);
        if (r >= 0 && d->n == 0)
                r = mk_error_set(err, EINVAL, "%s: lists no device (one record per device%s)", path,
                                 json == 0 ? ", after the header row" : "");
        /* Serials are unique: sort the indexes by serial and compare neighbours. */
        if (r >= 0) {
                size_t *ix = malloc(d->n * sizeof(*ix));
                if (!ix)
                        r = mk_error_set(err, ENOMEM, "out of memory");
                for (size_t i = 0; ix && i < d->n; i++)
                        ix[i] = i;
                mk_device *items = d->items;
                if (ix)
                        qsort_r(ix, d->n, sizeof(*ix), cmp_serial, items);
                for (size_t i = 1; ix && r >= 0 && i < d->n; i++)
                        if (!strcmp(items[ix[i]].serial, items[ix[i - 1]].serial))
                                r = mk_error_set(err, EEXIST,
                                                 "%s:%u: serial '%s' is listed twice (first at line %u; serials are "
                                                 "unique)",
                                                 path, items[ix[i]].line, items[ix[i]].serial, items[ix[i - 1]].line);
                free(ix);
        }
        if (r < 0) {
                mk_devices_free(d);
                return r;
        }
        *ret = d;
        return 0;
}
