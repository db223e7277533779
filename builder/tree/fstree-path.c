/* SPDX-License-Identifier: MIT */
/* Paths in a tree: UTF-8 and length checks, normalization. */
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
#include "signing/base/escape.h"
#include "signing/base/macro.h"

/* ---- messages and path checks ------------------------------------------ */

static int path_error(const char *origin, const char *path, mk_error *err, const char *what)
{
        char q[FSTREE_QBUF];
        return mk_error_set(err, EINVAL, "%s: entry '%s': %s", origin, mk_quote(path, q, sizeof q), what);
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
        for (const char *p = path; *p;) {
                size_t n = mk_utf8_len(p);
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
        size_t o = 0, depth = 0;
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
                        if (++depth > FSTREE_DEPTH_MAX) {
                                char what[160];
                                snprintf(what, sizeof what,
                                         "the path is more than %d levels deep, the limit (flatten the tree)",
                                         FSTREE_DEPTH_MAX);
                                return path_error(origin, path, err, what);
                        }
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

int mk_fstree_check_name(const char *origin, const char *dir, const char *name, size_t len, mk_error *err)
{
        const char *why = NULL;
        if (len == 0)
                why = "an empty name is not a valid name";
        else if ((len == 1 && name[0] == '.') || (len == 2 && name[0] == '.' && name[1] == '.'))
                why = "'.' and '..' are not a valid name in a directory listing";
        else if (memchr(name, '\0', len))
                why = "a name holds a NUL byte";
        else if (memchr(name, '/', len))
                why = "a name holds a '/' (it would read as a deeper path)";
        if (why) {
                char what[FSTREE_QBUF + 200], q[FSTREE_QBUF], shown[FSTREE_QBUF];
                /* the name as escaped text; a NUL shows as \x00 (mk_quote stops at it) */
                size_t o = 0;
                for (size_t i = 0; i < len && o + 5 < sizeof shown;) {
                        const char *nul = memchr(name + i, '\0', len - i);
                        size_t run = nul ? (size_t)(nul - (name + i)) : len - i;
                        char part[FSTREE_QBUF];
                        snprintf(part, sizeof part, "%.*s", (int)(run < sizeof part ? run : sizeof part - 1), name + i);
                        o += (size_t)snprintf(shown + o, sizeof shown - o, "%s%s", mk_quote(part, q, sizeof q),
                                              nul ? "\\x00" : "");
                        if (o >= sizeof shown)
                                o = sizeof shown - 1;
                        i += run + (nul ? 1 : 0);
                }
                shown[o] = '\0';
                snprintf(what, sizeof what, "%s (the listing of '%s' is damaged or crafted)", why,
                         mk_quote(dir, q, sizeof q));
                return mk_error_set(err, EINVAL, "%s: entry '%s': %s", origin, shown, what);
        }
        if (len > FSTREE_NAME_MAX) {
                char what[160];
                snprintf(what, sizeof what, "a name is %zu bytes long, the limit is %d (shorten it)", len,
                         FSTREE_NAME_MAX);
                return path_error(origin, dir, err, what);
        }
        /* what is left (UTF-8, newline) is checked on the joined path */
        return 0;
}
