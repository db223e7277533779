/* SPDX-License-Identifier: MIT */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "builder/tree/fstree.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "signing/base/macro.h"

typedef struct fs_xattr {
        char *key;
        void *value;
        size_t len;
} fs_xattr;

struct fsnode {
        fsnode *parent;
        fsnode *hnext; /* hash chain */
        fsnode_kind kind;
        bool implicit; /* a directory created as someone's parent, not yet added */
        uint32_t perm, uid, gid, nlink, aux;
        int64_t mtime;
        fs_xattr *xattrs;
        size_t nxattrs;
        union {
                struct {
                        fsnode **child;
                        size_t n, cap;
                        bool sorted;
                } dir;
                struct {
                        fs_source *src;
                        uint64_t off, size;
                        void *ptr;
                } file;
                char *target;
                dev_t rdev;
                fsnode *link;
        } u;
        char name[];
};

/* Nodes are found by (parent, name) in one hash table for the whole tree, so
 * a directory of 100k entries costs no more to fill than 100k directories. */
struct fstree {
        char *origin;
        fsnode *root;
        fsnode **buckets;
        size_t nbuckets, count;
};

/* ---- sources ------------------------------------------------------------ */

fs_source *mk_fs_source_ref(fs_source *src)
{
        if (src)
                src->refs++;
        return src;
}

fs_source *mk_fs_source_unref(fs_source *src)
{
        if (src && --src->refs == 0)
                src->ops->destroy(src);
        return NULL;
}

static int mem_read_at(fs_source *src, const fsnode *file, uint64_t offset, void *buf, size_t len, mk_error *err)
{
        memcpy(buf, (const char *)file->u.file.ptr + offset, len);
        return 0;
}

static void mem_free_key(fs_source *src, void *ptr)
{
        free(ptr);
}

static void mem_destroy(fs_source *src)
{
        src->refs = 1; /* static: never freed */
}

static const fs_source_ops mem_ops = {mem_read_at, mem_free_key, mem_destroy};
static fs_source mem_source = {&mem_ops, 1};

fs_source *mk_fs_source_memory(void)
{
        return &mem_source;
}

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

#define QBUF 1024
static int entry_error(const fstree *t, const char *path, mk_error *err, const char *what)
{
        char q[QBUF];
        return mk_error_set(err, EINVAL, "%s: entry '%s': %s", t ? t->origin : "?", mk_fstree_quote(path, q, sizeof q),
                            what);
}

static int path_error(const char *origin, const char *path, mk_error *err, const char *what)
{
        char q[QBUF];
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
                        char q[QBUF], what[QBUF + 160];
                        mk_fstree_quote(cp ? cp : "?", q, sizeof q);
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
                                    t->origin, mk_fstree_quote(path, (char[QBUF]){0}, QBUF));
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
        char q[QBUF], what[QBUF + 160];
        if (!tn) {
                snprintf(what, sizeof what,
                         "hard link target '%s' does not exist (the target must come before the link)",
                         mk_fstree_quote(target, q, sizeof q));
                return entry_error(t, path, err, what);
        }
        if (tn->kind == FSNODE_HARDLINK)
                tn = tn->u.link;
        if (tn->kind == FSNODE_DIR) {
                snprintf(what, sizeof what, "hard link to directory '%s' (directories cannot be hard-linked)",
                         mk_fstree_quote(target, q, sizeof q));
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
        char q[QBUF], what[QBUF + 200];
        mk_fstree_quote(key, q, sizeof q);
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
        unsigned allow;
        mk_error *err;
} policy_ctx;

static int policy_visit(fsnode *n, void *userdata)
{
        policy_ctx *c = userdata;
        const char *what = NULL;
        char buf[256];
        if ((n->kind == FSNODE_CHRDEV || n->kind == FSNODE_BLKDEV) && !(c->allow & FSTREE_ALLOW_DEVICES))
                what = n->kind == FSNODE_CHRDEV ? "character device (device nodes are refused unless the "
                                                  "component metadata sets 'allow-devices: true')"
                                                : "block device (device nodes are refused unless the "
                                                  "component metadata sets 'allow-devices: true')";
        else if (n->kind != FSNODE_DIR && n->kind != FSNODE_HARDLINK && (n->perm & 06000) &&
                 !(c->allow & FSTREE_ALLOW_SETUID)) {
                snprintf(buf, sizeof buf,
                         "%s file (mode %04o; setuid and setgid files are refused unless the component "
                         "metadata sets 'allow-setuid: true')",
                         n->perm & 04000 ? "setuid" : "setgid", n->perm);
                what = buf;
        }
        if (!what)
                return 0;
        _cleanup_free_ char *p = mk_fsnode_path(n);
        return entry_error(c->t, p ? p : "?", c->err, what);
}

int mk_fstree_check_policy(fstree *t, unsigned allow, mk_error *err)
{
        mk_fstree_sort(t);
        policy_ctx c = {t, allow, err};
        return mk_fstree_walk(t, policy_visit, &c);
}

/* ---- accessors ---------------------------------------------------------- */

fsnode_kind mk_fsnode_get_kind(const fsnode *n)
{
        return n->kind;
}

const char *mk_fsnode_name(const fsnode *n)
{
        return n->name;
}

fsnode *mk_fsnode_parent(const fsnode *n)
{
        return n->parent;
}

char *mk_fsnode_path(const fsnode *n)
{
        size_t len = 0;
        for (const fsnode *p = n; p->parent; p = p->parent)
                len += strlen(p->name) + 1;
        char *s = malloc(len + 1);
        if (!s)
                return NULL;
        s[len ? len - 1 : 0] = '\0';
        size_t end = len ? len - 1 : 0;
        for (const fsnode *p = n; p->parent; p = p->parent) {
                size_t l = strlen(p->name);
                end -= l;
                memcpy(s + end, p->name, l);
                if (end)
                        s[--end] = '/';
        }
        return s;
}

uint32_t mk_fsnode_mode(const fsnode *n)
{
        static const uint32_t type[] = {
                [FSNODE_DIR] = S_IFDIR,     [FSNODE_FILE] = S_IFREG,   [FSNODE_SYMLINK] = S_IFLNK,
                [FSNODE_CHRDEV] = S_IFCHR,  [FSNODE_BLKDEV] = S_IFBLK, [FSNODE_FIFO] = S_IFIFO,
                [FSNODE_SOCKET] = S_IFSOCK,
        };
        if (n->kind == FSNODE_HARDLINK)
                n = n->u.link;
        return type[n->kind] | n->perm;
}

#define TARGET(n) ((n)->kind == FSNODE_HARDLINK ? (n)->u.link : (n))
uint32_t mk_fsnode_uid(const fsnode *n)
{
        return TARGET(n)->uid;
}

uint32_t mk_fsnode_gid(const fsnode *n)
{
        return TARGET(n)->gid;
}

int64_t mk_fsnode_mtime(const fsnode *n)
{
        return TARGET(n)->mtime;
}

uint32_t mk_fsnode_nlink(const fsnode *n)
{
        return TARGET(n)->nlink;
}

void mk_fsnode_set_owner(fsnode *n, uint32_t uid, uint32_t gid)
{
        TARGET(n)->uid = uid;
        TARGET(n)->gid = gid;
}

void mk_fsnode_set_perm(fsnode *n, uint32_t perm)
{
        TARGET(n)->perm = perm & 07777;
}

size_t mk_fsnode_nchildren(const fsnode *n)
{
        return n->kind == FSNODE_DIR ? n->u.dir.n : 0;
}

fsnode *mk_fsnode_child(const fsnode *n, size_t i)
{
        return n->kind == FSNODE_DIR && i < n->u.dir.n ? n->u.dir.child[i] : NULL;
}

const char *mk_fsnode_symlink_target(const fsnode *n)
{
        return n->kind == FSNODE_SYMLINK ? n->u.target : NULL;
}

dev_t mk_fsnode_rdev(const fsnode *n)
{
        return n->kind == FSNODE_CHRDEV || n->kind == FSNODE_BLKDEV ? n->u.rdev : 0;
}

fsnode *mk_fsnode_hardlink_target(const fsnode *n)
{
        return n->kind == FSNODE_HARDLINK ? n->u.link : NULL;
}

uint64_t mk_fsnode_file_size(const fsnode *n)
{
        n = TARGET(n);
        return n->kind == FSNODE_FILE ? n->u.file.size : 0;
}

fs_source *mk_fsnode_file_source(const fsnode *n, uint64_t *ret_key_off, void **ret_key_ptr)
{
        n = TARGET(n);
        bool file = n->kind == FSNODE_FILE;
        if (ret_key_off)
                *ret_key_off = file ? n->u.file.off : 0;
        if (ret_key_ptr)
                *ret_key_ptr = file ? n->u.file.ptr : NULL;
        return file ? n->u.file.src : NULL;
}

int mk_fsnode_read(const fsnode *n, uint64_t offset, void *buf, size_t len, mk_error *err)
{
        n = TARGET(n);
        if (n->kind != FSNODE_FILE || offset > n->u.file.size || len > n->u.file.size - offset)
                return mk_error_set(err, EINVAL, "internal error: read beyond the end of a file");
        if (!len)
                return 0;
        return n->u.file.src->ops->read_at(n->u.file.src, n, offset, buf, len, err);
}

size_t mk_fsnode_nxattrs(const fsnode *n)
{
        return TARGET(n)->nxattrs;
}

const char *mk_fsnode_xattr_key(const fsnode *n, size_t i)
{
        return i < TARGET(n)->nxattrs ? TARGET(n)->xattrs[i].key : NULL;
}

const void *mk_fsnode_xattr_value(const fsnode *n, size_t i, size_t *len)
{
        if (i >= TARGET(n)->nxattrs)
                return NULL;
        *len = TARGET(n)->xattrs[i].len;
        return TARGET(n)->xattrs[i].value;
}

uint32_t mk_fsnode_aux(const fsnode *n)
{
        return n->aux;
}

void mk_fsnode_set_aux(fsnode *n, uint32_t v)
{
        n->aux = v;
}
