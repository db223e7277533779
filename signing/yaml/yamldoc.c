/* SPDX-License-Identifier: MIT */
/*
 * Event-driven libyaml loader. We use the event parser rather than
 * yaml_parser_load() because the latter expands aliases and hands us no
 * chance to refuse them before the expansion, and because we want bounded
 * work per input byte.
 */
#include "signing/yaml/yamldoc.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml.h>

#include "signing/base/macro.h"

typedef struct loader {
        const char *name;
        const char *buf;
        size_t len;
        yaml_parser_t parser;
        size_t nodes;
        mk_error *err;
} loader;

static void ynode_free(ynode *n)
{
        if (!n)
                return;
        free(n->str);
        for (size_t i = 0; i < n->n; i++) {
                if (n->keys)
                        ynode_free(n->keys[i]);
                ynode_free(n->vals[i]);
        }
        free(n->keys);
        free(n->vals);
        free(n);
}

ydoc *mk_ydoc_free(ydoc *doc)
{
        if (!doc)
                return NULL;
        ynode_free(doc->root);
        free(doc->path);
        free(doc);
        return NULL;
}

static int fail_at(loader *l, const yaml_mark_t *m, const char *fmt, const char *arg)
{
        char what[512];
        snprintf(what, sizeof(what), fmt, arg ? arg : "");
        return mk_error_set(l->err, EINVAL, "%s:%zu:%zu: %s", l->name, m->line + 1, m->column + 1, what);
}

static int next_event(loader *l, yaml_event_t *ev)
{
        if (yaml_parser_parse(&l->parser, ev))
                return 0;
        const yaml_parser_t *p = &l->parser;
        const char *problem = p->problem ? p->problem : "malformed YAML";
        const yaml_mark_t *m = &p->problem_mark;
        if (p->error == YAML_READER_ERROR) {
                size_t line = 1, col = 1;
                for (size_t i = 0; i < p->problem_offset && i < l->len; i++) {
                        if (l->buf[i] == '\n') {
                                line++;
                                col = 1;
                        } else if (((unsigned char)l->buf[i] & 0xC0) != 0x80) {
                                col++;
                        }
                }
                return mk_error_set(l->err, EINVAL, "%s:%zu:%zu: %s (the file must be UTF-8 text without NUL bytes)",
                                    l->name, line, col, problem);
        }
        if (p->context)
                return mk_error_set(l->err, EINVAL, "%s:%zu:%zu: %s %s (line %zu) (fix the YAML syntax)", l->name,
                                    m->line + 1, m->column + 1, problem, p->context, p->context_mark.line + 1);
        return mk_error_set(l->err, EINVAL, "%s:%zu:%zu: %s (fix the YAML syntax)", l->name, m->line + 1, m->column + 1,
                            problem);
}

static int append(ynode *parent, ynode *key, ynode *val)
{
        if (parent->n % 16 == 0) {
                size_t cap = parent->n + 16;
                ynode **v = realloc(parent->vals, cap * sizeof(*v));
                if (!v)
                        return -ENOMEM;
                parent->vals = v;
                if (parent->kind == YNODE_MAP) {
                        ynode **k = realloc(parent->keys, cap * sizeof(*k));
                        if (!k)
                                return -ENOMEM;
                        parent->keys = k;
                }
        }
        if (parent->kind == YNODE_MAP)
                parent->keys[parent->n] = key;
        parent->vals[parent->n++] = val;
        return 0;
}

static int parse_node(loader *l, yaml_event_t *ev, unsigned depth, ynode **ret);

static int cmp_key(const void *a, const void *b)
{
        const ynode *x = *(ynode *const *)a, *y = *(ynode *const *)b;
        int c = strcmp(x->str, y->str);
        if (c)
                return c;
        return x->line != y->line ? (x->line < y->line ? -1 : 1) : (x->col < y->col ? -1 : x->col > y->col);
}

/* Sort a copy of the keys: O(n log n) even for hostile mappings. Reports the
 * duplicate whose second occurrence comes first in the file. */
static int check_duplicates(loader *l, const ynode *n)
{
        if (n->n < 2)
                return 0;
        ynode **k = malloc(n->n * sizeof(*k));
        if (!k)
                return mk_error_set(l->err, ENOMEM, "%s: out of memory", l->name);
        memcpy(k, n->keys, n->n * sizeof(*k));
        qsort(k, n->n, sizeof(*k), cmp_key);
        const ynode *first = NULL, *second = NULL;
        for (size_t i = 1, run = 0; i < n->n; i++) {
                if (strcmp(k[i - 1]->str, k[i]->str) != 0) {
                        run = i;
                        continue;
                }
                if (!second || k[i]->line < second->line || (k[i]->line == second->line && k[i]->col < second->col)) {
                        first = k[run];
                        second = k[i];
                }
        }
        int r = 0;
        if (second)
                r = mk_error_set(l->err, EINVAL, "%s:%u:%u: duplicate key '%.100s' (first given at line %u; keep one)",
                                 l->name, second->line, second->col, second->str, first->line);
        free(k);
        return r;
}

/* Parses the children of a mapping or sequence until its end event. */
static int parse_children(loader *l, ynode *n, unsigned depth)
{
        for (;;) {
                yaml_event_t ev;
                int r = next_event(l, &ev);
                if (r < 0)
                        return r;
                if (ev.type == YAML_MAPPING_END_EVENT || ev.type == YAML_SEQUENCE_END_EVENT) {
                        yaml_event_delete(&ev);
                        return n->kind == YNODE_MAP ? check_duplicates(l, n) : 0;
                }
                ynode *key = NULL, *val = NULL;
                if (n->kind == YNODE_MAP) {
                        if (ev.type != YAML_SCALAR_EVENT) {
                                r = fail_at(l, &ev.start_mark,
                                            "a mapping key must be a plain word%s (write key: value)", NULL);
                                yaml_event_delete(&ev);
                                return r;
                        }
                        r = parse_node(l, &ev, depth + 1, &key);
                        if (r < 0)
                                return r;
                        r = next_event(l, &ev);
                        if (r < 0) {
                                ynode_free(key);
                                return r;
                        }
                }
                r = parse_node(l, &ev, depth + 1, &val);
                if (r < 0) {
                        ynode_free(key);
                        return r;
                }
                if (append(n, key, val) < 0) {
                        ynode_free(key);
                        ynode_free(val);
                        return mk_error_set(l->err, ENOMEM, "%s: out of memory", l->name);
                }
        }
}

/* Consumes ev (always deleted). */
static int parse_node(loader *l, yaml_event_t *ev, unsigned depth, ynode **ret)
{
        int r = 0;
        if (ev->type == YAML_ALIAS_EVENT) {
                r = fail_at(l, &ev->start_mark, "YAML aliases (*name) are not supported%s (write the value out)", NULL);
                goto out;
        }
        if ((ev->type == YAML_SCALAR_EVENT && ev->data.scalar.anchor) ||
            (ev->type == YAML_MAPPING_START_EVENT && ev->data.mapping_start.anchor) ||
            (ev->type == YAML_SEQUENCE_START_EVENT && ev->data.sequence_start.anchor)) {
                r = fail_at(l, &ev->start_mark, "YAML anchors (&name) are not supported%s (write the value out)", NULL);
                goto out;
        }
        if (depth > YDOC_MAX_DEPTH) {
                r = fail_at(l, &ev->start_mark, "nesting is deeper than 32 levels%s (flatten the document)", NULL);
                goto out;
        }
        if (++l->nodes > YDOC_MAX_NODES) {
                r = fail_at(l, &ev->start_mark, "more than 100000 YAML nodes%s (the document is too large)", NULL);
                goto out;
        }
        ynode *n = calloc(1, sizeof(*n));
        if (!n) {
                r = mk_error_set(l->err, ENOMEM, "%s: out of memory", l->name);
                goto out;
        }
        n->line = ev->start_mark.line + 1;
        n->col = ev->start_mark.column + 1;
        switch (ev->type) {
        case YAML_SCALAR_EVENT:
                n->kind = YNODE_SCALAR;
                if (ev->data.scalar.length > YDOC_MAX_SCALAR) {
                        r = fail_at(l, &ev->start_mark, "a value is longer than 65536 bytes%s (shorten it)", NULL);
                        break;
                }
                if (memchr(ev->data.scalar.value, 0, ev->data.scalar.length)) {
                        r = fail_at(l, &ev->start_mark, "a value contains a NUL character%s (remove it)", NULL);
                        break;
                }
                n->len = ev->data.scalar.length;
                n->str = strndup((const char *)ev->data.scalar.value, n->len);
                n->plain = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
                if (!n->str)
                        r = mk_error_set(l->err, ENOMEM, "%s: out of memory", l->name);
                break;
        case YAML_MAPPING_START_EVENT:
                n->kind = YNODE_MAP;
                r = parse_children(l, n, depth);
                break;
        case YAML_SEQUENCE_START_EVENT:
                n->kind = YNODE_SEQ;
                r = parse_children(l, n, depth);
                break;
        default:
                r = fail_at(l, &ev->start_mark, "unexpected YAML event%s", NULL);
                break;
        }
        if (r < 0)
                ynode_free(n);
        else
                *ret = n;
out:
        yaml_event_delete(ev);
        return r;
}

static int expect(loader *l, yaml_event_type_t type, yaml_event_t *ev)
{
        int r = next_event(l, ev);
        if (r < 0)
                return r;
        if (ev->type != type) {
                r = fail_at(l, &ev->start_mark, "unexpected YAML structure%s", NULL);
                yaml_event_delete(ev);
                return r;
        }
        return 0;
}

int mk_ydoc_load_buffer(const char *name, const void *buf, size_t len, ydoc **ret, mk_error *err)
{
        if (len > YDOC_MAX_INPUT)
                return mk_error_set(err, EFBIG, "%s: larger than %u bytes (is this the right file?)", name,
                                    YDOC_MAX_INPUT);
        loader l = {.name = name, .buf = buf, .len = len, .err = err};
        if (!yaml_parser_initialize(&l.parser))
                return mk_error_set(err, ENOMEM, "%s: out of memory", name);
        yaml_parser_set_input_string(&l.parser, buf, len);

        ydoc *doc = calloc(1, sizeof(*doc));
        yaml_event_t ev;
        int r;
        if (!doc || !(doc->path = strdup(name))) {
                r = mk_error_set(err, ENOMEM, "%s: out of memory", name);
                goto fail;
        }
        if ((r = expect(&l, YAML_STREAM_START_EVENT, &ev)) < 0)
                goto fail;
        yaml_event_delete(&ev);
        if ((r = next_event(&l, &ev)) < 0)
                goto fail;
        if (ev.type == YAML_STREAM_END_EVENT) {
                yaml_event_delete(&ev);
                r = mk_error_set(err, EINVAL, "%s: the file is empty (it must hold a YAML mapping)", name);
                goto fail;
        }
        yaml_event_delete(&ev); /* document start */
        if ((r = next_event(&l, &ev)) < 0)
                goto fail;
        if ((r = parse_node(&l, &ev, 1, &doc->root)) < 0)
                goto fail;
        if ((r = expect(&l, YAML_DOCUMENT_END_EVENT, &ev)) < 0)
                goto fail;
        yaml_event_delete(&ev);
        if ((r = next_event(&l, &ev)) < 0)
                goto fail;
        if (ev.type != YAML_STREAM_END_EVENT) {
                r = fail_at(&l, &ev.start_mark,
                            "a second YAML document%s is not allowed (one document per file: remove the '---')", NULL);
                yaml_event_delete(&ev);
                goto fail;
        }
        yaml_event_delete(&ev);
        if (doc->root->kind == YNODE_SCALAR && doc->root->plain && mk_yaml_null_word(doc->root->str)) {
                r = mk_error_set(err, EINVAL, "%s: the document is empty (it must hold a YAML mapping)", name);
                goto fail;
        }
        yaml_parser_delete(&l.parser);
        *ret = doc;
        return 0;
fail:
        yaml_parser_delete(&l.parser);
        mk_ydoc_free(doc);
        return r;
}

int mk_ydoc_load_file(const char *path, ydoc **ret, mk_error *err)
{
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
        if (fd < 0)
                return mk_error_set(err, errno, "%s: cannot open: %s", path, strerror(errno));
        struct stat st;
        if (fstat(fd, &st) < 0)
                return mk_error_set(err, errno, "%s: cannot stat: %s", path, strerror(errno));
        if (S_ISDIR(st.st_mode))
                return mk_error_set(err, EISDIR, "%s: is a directory (name a YAML file)", path);
        if (!S_ISREG(st.st_mode))
                return mk_error_set(err, EINVAL, "%s: not a regular file (name a YAML file)", path);
        if ((uint64_t)st.st_size > YDOC_MAX_INPUT)
                return mk_error_set(err, EFBIG, "%s: larger than %u bytes (is this the right file?)", path,
                                    YDOC_MAX_INPUT);
        size_t size = (size_t)st.st_size;
        _cleanup_free_ char *buf = malloc(size + 1);
        if (!buf)
                return mk_error_set(err, ENOMEM, "%s: out of memory", path);
        size_t got = 0;
        while (got < size) {
                ssize_t k = read(fd, buf + got, size - got);
                if (k < 0 && errno == EINTR)
                        continue;
                if (k < 0)
                        return mk_error_set(err, errno, "%s: read error: %s", path, strerror(errno));
                if (k == 0)
                        break;
                got += (size_t)k;
        }
        return mk_ydoc_load_buffer(path, buf, got, ret, err);
}

const ynode *mk_ynode_get(const ynode *map, const char *key)
{
        if (!map || map->kind != YNODE_MAP)
                return NULL;
        for (size_t i = 0; i < map->n; i++)
                if (strcmp(map->keys[i]->str, key) == 0)
                        return map->vals[i];
        return NULL;
}

const char *mk_ynode_kind_name(const ynode *n)
{
        switch (n->kind) {
        case YNODE_MAP:
                return "a mapping";
        case YNODE_SEQ:
                return "a list";
        default:
                return "a single value";
        }
}

bool mk_yaml_null_word(const char *s)
{
        return !*s || !strcmp(s, "~") || !strcmp(s, "null");
}
