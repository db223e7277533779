/* SPDX-License-Identifier: MIT */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "builder/tree/fstree.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "builder/tree/fstree-internal.h"
#include "signing/base/escape.h"
#include "signing/base/macro.h"

/* ---- messages ----------------------------------------------------------- */

static int entry_error(const fstree *t, const char *path, mk_error *err, const char *what)
{
        char q[FSTREE_QBUF];
        return mk_error_set(err, EINVAL, "%s: entry '%s': %s", t ? t->origin : "?", mk_quote(path, q, sizeof q), what);
}

/* ---- the tree ----------------------------------------------------------- */

static size_t hash_of(const fsnode *parent, const char *name)
{
        uint64_t h = 1469598103934665603ull ^ ((uint64_t)(uintptr_t)parent * 0x9E3779B97F4A7C15ull);
        for (const unsigned char *p = (const unsigned char *)name; *p; p++)
                h = (h ^ *p) * 1099511628211ull;
        return (size_t)(h ^ (h >> 29));
}

static fsnode *find_child(const fstree *t, const fsnode *parent, const char *name)
{
        for (fsnode *n = t->buckets[hash_of(parent, name) & (t->nbuckets - 1)]; n; n = n->hnext)
                if (n->parent == parent && !strcmp(n->name, name))
                        return n;
        return NULL;
}

static int grow_hash(fstree *t)
{
        size_t nb = t->nbuckets * 2;
        fsnode **b = calloc(nb, sizeof(*b));
        if (!b)
                return -ENOMEM;
        for (size_t i = 0; i < t->nbuckets; i++)
                for (fsnode *n = t->buckets[i], *next; n; n = next) {
                        next = n->hnext;
                        size_t h = hash_of(n->parent, n->name) & (nb - 1);
                        n->hnext = b[h];
                        b[h] = n;
                }
        free(t->buckets);
        t->buckets = b;
        t->nbuckets = nb;
        return 0;
}

static fsnode *node_alloc(const char *name, size_t len, fsnode_kind kind, const fsnode_attr *a)
{
        fsnode *n = calloc(1, sizeof(*n) + len + 1);
        if (!n)
                return NULL;
        memcpy(n->name, name, len);
        n->kind = kind;
        n->nlink = 1;
        if (a) {
                n->perm = a->perm & 07777;
                n->uid = a->uid;
                n->gid = a->gid;
                n->mtime = a->mtime;
        }
        return n;
}

/* Link n (already allocated) under parent. */
static int node_insert(fstree *t, fsnode *parent, fsnode *n)
{
        if (t->count + 1 > t->nbuckets && grow_hash(t) < 0)
                return -ENOMEM;
        if (parent->u.dir.n == parent->u.dir.cap) {
                size_t cap = parent->u.dir.cap ? parent->u.dir.cap * 2 : 4;
                fsnode **c = realloc(parent->u.dir.child, cap * sizeof(*c));
                if (!c)
                        return -ENOMEM;
                parent->u.dir.child = c;
                parent->u.dir.cap = cap;
        }
        n->parent = parent;
        parent->u.dir.child[parent->u.dir.n++] = n;
        parent->u.dir.sorted =
                parent->u.dir.n < 2 ||
                (parent->u.dir.sorted && strcmp(parent->u.dir.child[parent->u.dir.n - 2]->name, n->name) < 0);
        size_t h = hash_of(parent, n->name) & (t->nbuckets - 1);
        n->hnext = t->buckets[h];
        t->buckets[h] = n;
        t->count++;
        return 0;
}

int mk_fstree_new(const char *origin, fstree **ret)
{
        fstree *t = calloc(1, sizeof(*t));
        if (!t)
                return -ENOMEM;
        t->origin = strdup(origin ? origin : "tree");
        t->nbuckets = 64;
        t->buckets = calloc(t->nbuckets, sizeof(*t->buckets));
        t->root = node_alloc("", 0, FSNODE_DIR, &(fsnode_attr){.perm = 0755});
        if (!t->origin || !t->buckets || !t->root) {
                mk_fstree_free(t);
                return -ENOMEM;
        }
        t->root->u.dir.sorted = true;
        t->count = 1;
        *ret = t;
        return 0;
}

static void node_free(fsnode *n)
{
        for (size_t i = 0; i < n->nxattrs; i++) {
                free(n->xattrs[i].key);
                free(n->xattrs[i].value);
        }
        free(n->xattrs);
        switch (n->kind) {
        case FSNODE_DIR:
                free(n->u.dir.child);
                break;
        case FSNODE_FILE:
                if (n->u.file.ptr && n->u.file.src->ops->free_key)
                        n->u.file.src->ops->free_key(n->u.file.src, n->u.file.ptr);
                mk_fs_source_unref(n->u.file.src);
                break;
        case FSNODE_SYMLINK:
                free(n->u.target);
                break;
        default:
                break;
        }
        free(n);
}

fstree *mk_fstree_free(fstree *t)
{
        if (!t)
                return NULL;
        if (t->buckets)
                for (size_t i = 0; i < t->nbuckets; i++)
                        for (fsnode *n = t->buckets[i], *next; n; n = next) {
                                next = n->hnext;
                                node_free(n);
                        }
        if (t->root)
                node_free(t->root);
        free(t->buckets);
        free(t->origin);
        free(t);
        return NULL;
}

const char *mk_fstree_origin(const fstree *t)
{
        return t->origin;
}

fsnode *mk_fstree_root(fstree *t)
{
        return t->root;
}

size_t mk_fstree_count(const fstree *t)
{
        return t->count;
}

/*
 * Resolve the parent directory of normalized path p, creating missing
 * directories. On success *leaf points into p at the last name.
 */
static int resolve_parent(fstree *t, const char *orig, char *p, fsnode **ret, const char **leaf, mk_error *err)
{
        fsnode *dir = t->root;
        for (;;) {
                char *slash = strchr(p, '/');
                if (!slash)
                        break;
                *slash = '\0';
                fsnode *c = find_child(t, dir, p);
                if (!c) {
                        c = node_alloc(p, strlen(p), FSNODE_DIR, &(fsnode_attr){.perm = 0755});
                        if (!c || node_insert(t, dir, c) < 0) {
                                free(c);
                                return mk_error_set(err, ENOMEM, "out of memory");
                        }
                        c->implicit = true;
                        c->u.dir.sorted = true;
                } else if (c->kind != FSNODE_DIR) {
                        _cleanup_free_ char *cp = mk_fsnode_path(c);
                        char q[FSTREE_QBUF], what[FSTREE_QBUF + 160];
                        mk_quote(cp ? cp : "?", q, sizeof q);
                        if (c->kind == FSNODE_SYMLINK)
                                snprintf(what, sizeof what,
                                         "goes through symlink '%s' (a path may not pass through a symlink; "
                                         "store the entry under the real directory)",
                                         q);
                        else
                                snprintf(what, sizeof what,
                                         "parent '%s' is not a directory (remove one of the two entries)", q);
                        return entry_error(t, orig, err, what);
                }
                *slash = '/';
                p = slash + 1;
                dir = c;
        }
        *ret = dir;
        *leaf = p;
        return 0;
}

/* Common part of the add functions: validate, find the parent, refuse duplicates. */
static int add_node(fstree *t, const char *path, fsnode_kind kind, const fsnode_attr *a, fsnode **ret, mk_error *err)
{
        _cleanup_free_ char *p = NULL;
        int r = mk_fstree_normalize_path(t->origin, path, &p, err);
        if (r < 0)
                return r;
        if (!*p) {
                if (kind != FSNODE_DIR)
                        return entry_error(t, path, err, "the root must be a directory");
                fsnode *root = t->root;
                root->perm = a->perm & 07777, root->uid = a->uid, root->gid = a->gid, root->mtime = a->mtime;
                *ret = root;
                return 0;
        }
        fsnode *dir = NULL;
        const char *leaf = NULL;
        r = resolve_parent(t, path, p, &dir, &leaf, err);
        if (r < 0)
                return r;
        fsnode *old = find_child(t, dir, leaf);
        if (old) {
                if (old->kind == FSNODE_DIR && kind == FSNODE_DIR) {
                        old->perm = a->perm & 07777, old->uid = a->uid, old->gid = a->gid;
                        old->mtime = a->mtime;
                        old->implicit = false;
                        *ret = old;
                        return 0;
                }
                return mk_error_set(err, EEXIST, "%s: entry '%s': duplicate entry (the path appears twice; remove one)",
                                    t->origin, mk_quote(path, (char[FSTREE_QBUF]){0}, FSTREE_QBUF));
        }
        if (t->count >= FSTREE_NODES_MAX) {
                char what[160];
                snprintf(what, sizeof what,
                         "the tree has more than %u entries, the limit (split it into several "
                         "components)",
                         FSTREE_NODES_MAX);
                return entry_error(t, path, err, what);
        }
        fsnode *n = node_alloc(leaf, strlen(leaf), kind, a);
        if (!n || node_insert(t, dir, n) < 0) {
                free(n);
                return mk_error_set(err, ENOMEM, "out of memory");
        }
        if (kind == FSNODE_DIR)
                n->u.dir.sorted = true;
        *ret = n;
        return 0;
}

int mk_fstree_add_dir(fstree *t, const char *path, const fsnode_attr *a, fsnode **ret, mk_error *err)
{
        fsnode *n;
        int r = add_node(t, path, FSNODE_DIR, a, &n, err);
        if (r >= 0 && ret)
                *ret = n;
        return r;
}

int mk_fstree_add_file(fstree *t, const char *path, const fsnode_attr *a, fs_source *src, uint64_t key_off,
                       void *key_ptr, uint64_t size, fsnode **ret, mk_error *err)
{
        fsnode *n;
        int r = add_node(t, path, FSNODE_FILE, a, &n, err);
        if (r < 0)
                return r;
        n->u.file.src = mk_fs_source_ref(src);
        n->u.file.off = key_off;
        n->u.file.ptr = key_ptr;
        n->u.file.size = size;
        if (ret)
                *ret = n;
        return 0;
}

int mk_fstree_add_file_mem(fstree *t, const char *path, const fsnode_attr *a, const void *data, size_t len,
                           fsnode **ret, mk_error *err)
{
        void *copy = malloc(len ? len : 1);
        if (!copy)
                return mk_error_set(err, ENOMEM, "out of memory");
        memcpy(copy, data, len);
        int r = mk_fstree_add_file(t, path, a, mk_fs_source_memory(), 0, copy, len, ret, err);
        if (r < 0)
                free(copy);
        return r;
}

int mk_fstree_add_symlink(fstree *t, const char *path, const fsnode_attr *a, const char *target, fsnode **ret,
                          mk_error *err)
{
        size_t len = strlen(target);
        if (!len)
                return entry_error(t, path, err, "symlink target is empty (point it somewhere or remove it)");
        if (len > FSTREE_SYMLINK_MAX) {
                char what[160];
                snprintf(what, sizeof what, "symlink target is %zu bytes long, the limit is %d (shorten it)", len,
                         FSTREE_SYMLINK_MAX);
                return entry_error(t, path, err, what);
        }
        char *copy = strdup(target);
        if (!copy)
                return mk_error_set(err, ENOMEM, "out of memory");
        fsnode *n;
        int r = add_node(t, path, FSNODE_SYMLINK, a, &n, err);
        if (r < 0) {
                free(copy);
                return r;
        }
        n->u.target = copy;
        if (ret)
                *ret = n;
        return 0;
}

int mk_fstree_add_special(fstree *t, const char *path, const fsnode_attr *a, fsnode_kind kind, dev_t rdev, fsnode **ret,
                          mk_error *err)
{
        if (kind != FSNODE_CHRDEV && kind != FSNODE_BLKDEV && kind != FSNODE_FIFO && kind != FSNODE_SOCKET)
                return mk_error_set(err, EINVAL, "mk_fstree_add_special: bad kind %d", (int)kind);
        fsnode *n;
        int r = add_node(t, path, kind, a, &n, err);
        if (r < 0)
                return r;
        if (kind == FSNODE_CHRDEV || kind == FSNODE_BLKDEV)
                n->u.rdev = rdev;
        if (ret)
                *ret = n;
        return 0;
}

int mk_fstree_add_hardlink(fstree *t, const char *path, const char *target, fsnode **ret, mk_error *err)
{
        _cleanup_free_ char *tp = NULL;
        int r = mk_fstree_normalize_path(t->origin, target, &tp, err);
        if (r < 0)
                return r;
        fsnode *tn = mk_fstree_lookup(t, tp);
        char q[FSTREE_QBUF], what[FSTREE_QBUF + 160];
        if (!tn) {
                snprintf(what, sizeof what,
                         "hard link target '%s' does not exist (the target must come before the link)",
                         mk_quote(target, q, sizeof q));
                return entry_error(t, path, err, what);
        }
        if (tn->kind == FSNODE_HARDLINK)
                tn = tn->u.link;
        if (tn->kind == FSNODE_DIR) {
                snprintf(what, sizeof what, "hard link to directory '%s' (directories cannot be hard-linked)",
                         mk_quote(target, q, sizeof q));
                return entry_error(t, path, err, what);
        }
        fsnode *n;
        r = add_node(t, path, FSNODE_HARDLINK, NULL, &n, err);
        if (r < 0)
                return r;
        n->u.link = tn;
        tn->nlink++;
        if (ret)
                *ret = n;
        return 0;
}

static int xattr_cmp(const void *a, const void *b)
{
        return strcmp(((const fs_xattr *)a)->key, ((const fs_xattr *)b)->key);
}

int mk_fstree_add_xattr(fstree *t, fsnode *n, const char *key, const void *value, size_t len, mk_error *err)
{
        if (n->kind == FSNODE_HARDLINK)
                n = n->u.link;
        _cleanup_free_ char *path = mk_fsnode_path(n);
        if (!path)
                return mk_error_set(err, ENOMEM, "out of memory");
        char q[FSTREE_QBUF], what[FSTREE_QBUF + 200];
        mk_quote(key, q, sizeof q);
        if (strncmp(key, "user.", 5) && strncmp(key, "trusted.", 8) && strncmp(key, "security.", 9)) {
                snprintf(what, sizeof what,
                         "extended attribute '%s' cannot be stored in squashfs "
                         "(only user.*, trusted.* and security.* can; remove it)",
                         q);
                return entry_error(t, path, err, what);
        }
        if (strlen(key) > 255 || len > 65536) {
                snprintf(what, sizeof what,
                         "extended attribute '%s' is too large (names up to 255 bytes, values up to 64 KiB)", q);
                return entry_error(t, path, err, what);
        }
        _cleanup_free_ char *k = strdup(key);
        _cleanup_free_ void *v = malloc(len ? len : 1);
        if (!k || !v)
                return mk_error_set(err, ENOMEM, "out of memory");
        memcpy(v, value, len);
        for (size_t i = 0; i < n->nxattrs; i++)
                if (!strcmp(n->xattrs[i].key, key)) {
                        free(n->xattrs[i].value);
                        n->xattrs[i].value = TAKE_PTR(v);
                        n->xattrs[i].len = len;
                        return 0;
                }
        fs_xattr *x = realloc(n->xattrs, (n->nxattrs + 1) * sizeof(*x));
        if (!x)
                return mk_error_set(err, ENOMEM, "out of memory");
        n->xattrs = x;
        x[n->nxattrs++] = (fs_xattr){TAKE_PTR(k), TAKE_PTR(v), len};
        qsort(n->xattrs, n->nxattrs, sizeof(*x), xattr_cmp);
        return 0;
}

fsnode *mk_fstree_lookup(fstree *t, const char *path)
{
        _cleanup_free_ char *p = NULL;
        if (mk_fstree_normalize_path(t->origin, path, &p, NULL) < 0)
                return NULL;
        fsnode *n = t->root;
        for (char *s = p, *e; *s && n; s = e) {
                e = strchrnul(s, '/');
                bool more = *e == '/';
                *e = '\0';
                if (n->kind != FSNODE_DIR)
                        return NULL;
                n = find_child(t, n, s);
                e += more;
        }
        return n;
}

fsnode *mk_fstree_resolve(fstree *t, const char *path)
{
        char rest[2 * FSTREE_PATH_MAX + 2], cur[FSTREE_PATH_MAX + 1] = "", next[sizeof(rest)];
        if (snprintf(rest, sizeof(rest), "%s", path) >= (int)sizeof(rest))
                return NULL;
        for (int hops = 0; rest[0];) {
                char *s = rest + strspn(rest, "/"), *e = strchrnul(s, '/');
                size_t len = (size_t)(e - s), clen = strlen(cur);
                const char *tail = *e ? e + 1 : e;
                if (len == 0 || (len == 1 && s[0] == '.')) {
                        memmove(rest, tail, strlen(tail) + 1);
                        continue;
                }
                if (len == 2 && s[0] == '.' && s[1] == '.') {
                        char *slash = strrchr(cur, '/');
                        *(slash ? slash : cur) = '\0';
                        memmove(rest, tail, strlen(tail) + 1);
                        continue;
                }
                if (clen + 1 + len > FSTREE_PATH_MAX)
                        return NULL;
                char cand[FSTREE_PATH_MAX + 1];
                memcpy(cand, cur, clen);
                if (clen)
                        cand[clen++] = '/';
                memcpy(cand + clen, s, len);
                cand[clen + len] = '\0';
                fsnode *n = mk_fstree_lookup(t, cand);
                if (!n)
                        return NULL;
                if (n->kind == FSNODE_SYMLINK) {
                        const char *target = mk_fsnode_symlink_target(n);
                        if (++hops > 40 || !target ||
                            snprintf(next, sizeof(next), "%s/%s", target, tail) >= (int)sizeof(next))
                                return NULL;
                        if (target[0] == '/')
                                cur[0] = '\0';
                        memcpy(rest, next, strlen(next) + 1);
                        continue;
                }
                memcpy(cur, cand, strlen(cand) + 1);
                memmove(rest, tail, strlen(tail) + 1);
        }
        return cur[0] ? mk_fstree_lookup(t, cur) : t->root;
}

static int child_cmp(const void *a, const void *b)
{
        return strcmp((*(fsnode *const *)a)->name, (*(fsnode *const *)b)->name);
}

static void sort_dir(fsnode *d)
{
        if (!d->u.dir.sorted) {
                qsort(d->u.dir.child, d->u.dir.n, sizeof(fsnode *), child_cmp);
                d->u.dir.sorted = true;
        }
}

void mk_fstree_sort(fstree *t)
{
        sort_dir(t->root);
        for (size_t i = 0; i < t->nbuckets; i++)
                for (fsnode *n = t->buckets[i]; n; n = n->hnext)
                        if (n->kind == FSNODE_DIR)
                                sort_dir(n);
}

static int walk(fsnode *n, int (*visit)(fsnode *n, void *ctx), void *ctx)
{
        int r = visit(n, ctx);
        if (r < 0)
                return r;
        if (r == 1 || n->kind != FSNODE_DIR)
                return 0;
        for (size_t i = 0; i < n->u.dir.n; i++) {
                r = walk(n->u.dir.child[i], visit, ctx);
                if (r < 0)
                        return r;
        }
        return 0;
}

int mk_fstree_walk(fstree *t, int (*visit)(fsnode *n, void *ctx), void *ctx)
{
        return walk(t->root, visit, ctx);
}

typedef struct policy_ctx {
        fstree *t;
        const mk_fs_policy *p;
        mk_error *err;
} policy_ctx;

static int policy_visit(fsnode *n, void *userdata)
{
        policy_ctx *c = userdata;
        return mk_fstree_check_node(c->t, n, c->p, NULL, c->err);
}

static int cmp_str(const void *a, const void *b)
{
        return strcmp(*(const char *const *)a, *(const char *const *)b);
}

bool mk_fs_policy_lists(const char *const *list, size_t n, const char *path)
{
        return n && bsearch(&path, list, n, sizeof(*list), cmp_str);
}

static bool has_caps(const fsnode *n)
{
        for (size_t i = 0; i < mk_fsnode_nxattrs(n); i++)
                if (!strcmp(mk_fsnode_xattr_key(n, i), FSTREE_XATTR_CAPS))
                        return true;
        return false;
}

int mk_fstree_check_node(fstree *t, const fsnode *n, const mk_fs_policy *p, const char *origin, mk_error *err)
{
        const char *what = NULL;
        char buf[320];
        bool special = n->kind != FSNODE_DIR && n->kind != FSNODE_HARDLINK;
        _cleanup_free_ char *path = NULL;
        if ((n->kind == FSNODE_CHRDEV || n->kind == FSNODE_BLKDEV) && !(p->allow & FSTREE_ALLOW_DEVICES))
                what = n->kind == FSNODE_CHRDEV ? "character device (device nodes are refused unless the "
                                                  "component metadata sets 'allow-devices: true'; /dev is the "
                                                  "kernel's devtmpfs, not part of a component)"
                                                : "block device (device nodes are refused unless the "
                                                  "component metadata sets 'allow-devices: true'; /dev is the "
                                                  "kernel's devtmpfs, not part of a component)";
        bool suid = special && (n->perm & 06000) && !(p->allow & FSTREE_ALLOW_SETUID);
        bool caps = n->kind != FSNODE_HARDLINK && !(p->allow & FSTREE_ALLOW_CAPS) && has_caps(n);
        if (!what && (suid || caps)) {
                if (!(path = mk_fsnode_path(n)))
                        return mk_error_set(err, ENOMEM, "out of memory");
                if (suid && !mk_fs_policy_lists(p->setuid, p->n_setuid, path)) {
                        snprintf(buf, sizeof buf,
                                 "%s file (mode %04o) the component metadata does not declare (add it to the "
                                 "metadata's 'setuid' list, or clear the bit)",
                                 n->perm & 04000 ? "setuid" : "setgid", n->perm);
                        what = buf;
                } else if (caps && !mk_fs_policy_lists(p->caps, p->n_caps, path)) {
                        what = "file capabilities (" FSTREE_XATTR_CAPS
                               ") the component metadata does not declare (add it to the metadata's "
                               "'capabilities' list, or remove the xattr)";
                }
        }
        if (!what)
                return 0;
        if (!path && !(path = mk_fsnode_path(n)))
                return mk_error_set(err, ENOMEM, "out of memory");
        char q[FSTREE_QBUF];
        return mk_error_set(err, EINVAL, "%s: entry '%s': %s", origin ? origin : t->origin, mk_quote(path, q, sizeof q),
                            what);
}

int mk_fstree_check_policy(fstree *t, const mk_fs_policy *p, mk_error *err)
{
        mk_fstree_sort(t);
        policy_ctx c = {t, p, err};
        return mk_fstree_walk(t, policy_visit, &c);
}
