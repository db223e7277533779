/* SPDX-License-Identifier: MIT */
/* Paths in a tree: UTF-8 and length checks, normalization, quoting for messages. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "builder/tree/fstree.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "builder/tree/fstree-internal.h"
#include "signing/base/macro.h"

/* ---- messages and path checks ------------------------------------------ */

/* Length of the valid UTF-8 sequence at s (1..4), or 0 if invalid. */
static size_t utf8_len(const unsigned char *s)
{
        unsigned c = s[0];
        if (c < 0x80)
                return 1;
        if (c >= 0xC2 && c <= 0xDF)
                return (s[1] & 0xC0) == 0x80 ? 2 : 0;
        if (c >= 0xE0 && c <= 0xEF) {
                unsigned lo = c == 0xE0 ? 0xA0 : 0x80, hi = c == 0xED ? 0x9F : 0xBF;
                return s[1] >= lo && s[1] <= hi && (s[2] & 0xC0) == 0x80 ? 3 : 0;
        }
        if (c >= 0xF0 && c <= 0xF4) {
                unsigned lo = c == 0xF0 ? 0x90 : 0x80, hi = c == 0xF4 ? 0x8F : 0xBF;
                return s[1] >= lo && s[1] <= hi && (s[2] & 0xC0) == 0x80 && (s[3] & 0xC0) == 0x80 ? 4 : 0;
        }
        return 0;
}

const char *mk_fstree_quote(const char *s, char *buf, size_t size)
{
        size_t o = 0;
        const unsigned char *p = (const unsigned char *)s;
        if (!size)
                return buf;
        while (*p && o + 5 < size) {
                size_t n = utf8_len(p);
                if (n > 1) {
                        memcpy(buf + o, p, n);
                        o += n;
                        p += n;
                        continue;
                }
                if (*p == '\n') {
                        memcpy(buf + o, "\\n", 2);
                        o += 2;
                } else if (*p == '\t') {
                        memcpy(buf + o, "\\t", 2);
                        o += 2;
                } else if (n == 0 || *p < 0x20 || *p == 0x7f) {
                        static const char hex[] = "0123456789abcdef";
                        buf[o++] = '\\';
                        buf[o++] = 'x';
                        buf[o++] = hex[*p >> 4];
                        buf[o++] = hex[*p & 15];
                } else
                        buf[o++] = (char)*p;
                p++;
        }
        buf[o] = '\0';
        return buf;
}

static int path_error(const char *origin, const char *path, mk_error *err, const char *what)
{
        char q[FSTREE_QBUF];
        return mk_error_set(err, EINVAL, "%s: entry '%s': %s", origin, mk_fstree_quote(path, q, sizeof q), what);
}

int mk_fstree_normalize_path(const char *origin, const char *path, char **ret, mk_error *err)
{
        size_t len = strlen(path);
        if (path[0] == '/')
                return path_error(origin, path, err,
                                  "absolute paths are not allowed (store entries relative to the root, "
                                  "e.g. tar -C ROOT -cf OUT.tar .)");
        if (strchr(path, '\n'))
                return path_error(origin, path, err, "name contains a newline (rename it)");
        for (const unsigned char *p = (const unsigned char *)path; *p;) {
                size_t n = utf8_len(p);
                if (!n)
                        return path_error(origin, path, err, "name is not valid UTF-8 (rename it)");
                p += n;
        }
        if (len > FSTREE_PATH_MAX) {
                char what[160];
                snprintf(what, sizeof what, "path is %zu bytes long, the limit is %d (shorten it)", len,
                         FSTREE_PATH_MAX);
                return path_error(origin, path, err, what);
        }
        _cleanup_free_ char *out = malloc(len + 1);
        if (!out)
                return mk_error_set(err, ENOMEM, "out of memory");
        size_t o = 0;
        for (const char *p = path; *p;) {
                const char *e = strchrnul(p, '/');
                size_t n = (size_t)(e - p);
                if (n == 2 && p[0] == '.' && p[1] == '.')
                        return path_error(origin, path, err,
                                          "'..' is not allowed in a path (entries must stay inside the tree; "
                                          "rebuild the archive without '..')");
                if (n > FSTREE_NAME_MAX) {
                        char what[160];
                        snprintf(what, sizeof what, "a name is %zu bytes long, the limit is %d (shorten it)", n,
                                 FSTREE_NAME_MAX);
                        return path_error(origin, path, err, what);
                }
                if (n && !(n == 1 && p[0] == '.')) {
                        if (o)
                                out[o++] = '/';
                        memcpy(out + o, p, n);
                        o += n;
                }
                p = *e ? e + 1 : e;
        }
        out[o] = '\0';
        *ret = TAKE_PTR(out);
        return 0;
}
