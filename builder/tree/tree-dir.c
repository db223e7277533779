/* SPDX-License-Identifier: MIT */
/* A host directory as a tree source: metadata now, file bytes when written. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "signing/base/fileio.h"
#include "signing/base/macro.h"
#include "builder/squashfs/sqfs-file.h"
#include "builder/tree/tree-source.h"

/* ---- the host-file source: key ptr = path relative to the directory ---- */

typedef struct host_source {
        fs_source base;
        int dirfd;
        int fd; /* the file last read, kept open for the next block */
        const fsnode *fd_node;
        char *dir;
} host_source;

static int host_read_at(fs_source *src, const fsnode *file, uint64_t offset, void *buf, size_t len, mk_error *err)
{
        host_source *h = (host_source *)src;
        uint64_t key_off;
        void *key_ptr;
        mk_fsnode_file_source(file, &key_off, &key_ptr);
        const char *rel = key_ptr;
        if (h->fd_node != file) {
                if (h->fd >= 0)
                        close(h->fd);
                h->fd_node = NULL;
                h->fd = openat(h->dirfd, rel, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
                if (h->fd < 0)
                        return mk_error_set(err, errno, "%s/%s: %s (was the directory changed while packing?)", h->dir,
                                            rel, strerror(errno));
                struct stat st;
                if (fstat(h->fd, &st) < 0 || !S_ISREG(st.st_mode) ||
                    (uint64_t)st.st_size != key_off + mk_fsnode_file_size(file))
                        return mk_error_set(err, EIO,
                                            "%s/%s: changed while packing (pack from a directory "
                                            "that nothing else writes to)",
                                            h->dir, rel);
                h->fd_node = file;
        }
        int r = mk_pread_all(h->fd, buf, len, key_off + offset);
        if (r < 0)
                return mk_error_set(err, -r, "%s/%s: %s", h->dir, rel,
                                    r == -EIO ? "file shrank while packing" : strerror(-r));
        return 0;
}

static void host_free_key(fs_source *src, void *ptr)
{
        free(ptr);
}

static void host_destroy(fs_source *src)
{
        host_source *h = (host_source *)src;
        if (h->fd >= 0)
                close(h->fd);
        if (h->dirfd >= 0)
                close(h->dirfd);
        free(h->dir);
        free(h);
}

static const fs_source_ops host_ops = {host_read_at, host_free_key, host_destroy};

/* ---- the walk ----------------------------------------------------------- */

typedef struct hardlink {
        dev_t dev;
        ino_t ino;
        char *path;
} hardlink;

typedef struct walker {
        fstree *tree;
        host_source *src;
        unsigned flags;
        mk_error *err;
        hardlink *links;
        size_t nlinks;
} walker;

static int io_error(walker *w, const char *rel, const char *what)
{
        int e = errno;
        return mk_error_set(w->err, e, "%s: entry '%s': %s: %s", w->src->dir, rel, what, strerror(e));
}

static int load_xattrs(walker *w, const char *rel, fsnode *n)
{
        _cleanup_free_ char *full = NULL;
        if (asprintf(&full, "%s/%s", w->src->dir, rel) < 0)
                return mk_error_set(w->err, ENOMEM, "out of memory");
        ssize_t len = llistxattr(full, NULL, 0);
        if (len < 0 && (errno == ENOTSUP || errno == ENODATA))
                return 0;
        if (len < 0)
                return io_error(w, rel, "listing extended attributes");
        if (len == 0)
                return 0;
        _cleanup_free_ char *names = malloc((size_t)len);
        if (!names)
                return mk_error_set(w->err, ENOMEM, "out of memory");
        len = llistxattr(full, names, (size_t)len);
        if (len < 0)
                return io_error(w, rel, "listing extended attributes");
        for (char *k = names; k < names + len; k += strlen(k) + 1) {
                ssize_t vlen = lgetxattr(full, k, NULL, 0);
                if (vlen < 0)
                        return io_error(w, rel, "reading an extended attribute");
                _cleanup_free_ char *val = malloc((size_t)vlen + 1);
                if (!val)
                        return mk_error_set(w->err, ENOMEM, "out of memory");
                vlen = lgetxattr(full, k, val, (size_t)vlen);
                if (vlen < 0)
                        return io_error(w, rel, "reading an extended attribute");
                int r = mk_fstree_add_xattr(w->tree, n, k, val, (size_t)vlen, w->err);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int name_cmp(const void *a, const void *b)
{
        return strcmp(*(char *const *)a, *(char *const *)b);
}

static int walk_dir(walker *w, int dfd, const char *rel);

static int add_entry(walker *w, int dfd, const char *rel, const char *name, const struct stat *st)
{
        fsnode_attr a = {.perm = st->st_mode & 07777, .uid = st->st_uid, .gid = st->st_gid, .mtime = st->st_mtime};
        if (w->flags & TREE_ROOT_OWNED)
                a.uid = a.gid = 0;
        fsnode *n = NULL;
        int r;
        if (S_ISREG(st->st_mode) && st->st_nlink > 1) {
                for (size_t i = 0; i < w->nlinks; i++)
                        if (w->links[i].dev == st->st_dev && w->links[i].ino == st->st_ino)
                                return mk_fstree_add_hardlink(w->tree, rel, w->links[i].path, NULL, w->err);
                hardlink *l = realloc(w->links, (w->nlinks + 1) * sizeof(*l));
                if (!l)
                        return mk_error_set(w->err, ENOMEM, "out of memory");
                w->links = l;
                l[w->nlinks] = (hardlink){st->st_dev, st->st_ino, strdup(rel)};
                if (!l[w->nlinks++].path)
                        return mk_error_set(w->err, ENOMEM, "out of memory");
        }
        switch (st->st_mode & S_IFMT) {
        case S_IFDIR:
                r = mk_fstree_add_dir(w->tree, rel, &a, &n, w->err);
                break;
        case S_IFREG: {
                char *key = strdup(rel);
                if (!key)
                        return mk_error_set(w->err, ENOMEM, "out of memory");
                r = mk_fstree_add_file(w->tree, rel, &a, &w->src->base, 0, key, (uint64_t)st->st_size, &n, w->err);
                if (r < 0)
                        free(key);
                break;
        }
        case S_IFLNK: {
                char target[FSTREE_SYMLINK_MAX + 2];
                ssize_t len = readlinkat(dfd, name, target, sizeof target - 1);
                if (len < 0)
                        return io_error(w, rel, "reading the symlink");
                target[len] = '\0';
                r = mk_fstree_add_symlink(w->tree, rel, &a, target, &n, w->err);
                break;
        }
        case S_IFCHR:
        case S_IFBLK:
                r = mk_fstree_add_special(w->tree, rel, &a, S_ISCHR(st->st_mode) ? FSNODE_CHRDEV : FSNODE_BLKDEV,
                                          st->st_rdev, &n, w->err);
                break;
        case S_IFIFO:
                r = mk_fstree_add_special(w->tree, rel, &a, FSNODE_FIFO, 0, &n, w->err);
                break;
        default:
                r = mk_fstree_add_special(w->tree, rel, &a, FSNODE_SOCKET, 0, &n, w->err);
                break;
        }
        if (r >= 0)
                r = load_xattrs(w, rel, n);
        if (r >= 0 && S_ISDIR(st->st_mode)) {
                int sub = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                if (sub < 0)
                        return io_error(w, rel, "opening the directory");
                r = walk_dir(w, sub, rel); /* closes sub */
        }
        return r;
}

/* Entries in sorted order, so that hard-link targets are chosen the same way every time. */
static int walk_dir(walker *w, int dfd, const char *rel)
{
        DIR *d = fdopendir(dfd);
        if (!d) {
                close(dfd);
                return io_error(w, *rel ? rel : ".", "opening the directory");
        }
        char **names = NULL;
        size_t n = 0, cap = 0;
        int r = 0;
        struct dirent *de;
        errno = 0;
        while ((de = readdir(d))) {
                if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
                        continue;
                if (n == cap) {
                        cap = cap ? cap * 2 : 16;
                        char **nn = realloc(names, cap * sizeof(*nn));
                        if (!nn) {
                                r = mk_error_set(w->err, ENOMEM, "out of memory");
                                goto out;
                        }
                        names = nn;
                }
                if (!(names[n] = strdup(de->d_name))) {
                        r = mk_error_set(w->err, ENOMEM, "out of memory");
                        goto out;
                }
                n++;
        }
        if (errno) {
                r = io_error(w, *rel ? rel : ".", "reading the directory");
                goto out;
        }
        if (n)
                qsort(names, n, sizeof(*names), name_cmp);
        for (size_t i = 0; i < n && r >= 0; i++) {
                _cleanup_free_ char *path = NULL;
                if (asprintf(&path, "%s%s%s", rel, *rel ? "/" : "", names[i]) < 0) {
                        r = mk_error_set(w->err, ENOMEM, "out of memory");
                        break;
                }
                struct stat st;
                if (fstatat(dirfd(d), names[i], &st, AT_SYMLINK_NOFOLLOW) < 0)
                        r = io_error(w, path, "stat");
                else
                        r = add_entry(w, dirfd(d), path, names[i], &st);
        }
out:
        for (size_t i = 0; i < n; i++)
                free(names[i]);
        free(names);
        closedir(d);
        return r;
}

int mk_tree_load_dir(const char *dir, fstree *tree, unsigned flags, mk_error *err)
{
        int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd < 0)
                return mk_error_set(err, errno, "%s: %s", dir, strerror(errno));
        host_source *h = calloc(1, sizeof(*h));
        if (!h || !(h->dir = strdup(dir))) {
                free(h);
                close(dfd);
                return mk_error_set(err, ENOMEM, "out of memory");
        }
        h->base = (fs_source){&host_ops, 1};
        h->fd = -1;
        h->dirfd = dfd;
        walker w = {.tree = tree, .src = h, .flags = flags, .err = err};
        struct stat st;
        int r = fstat(dfd, &st) < 0 ? io_error(&w, ".", "stat") : 0;
        if (r >= 0) {
                fsnode_attr a = {.perm = st.st_mode & 07777, .uid = st.st_uid, .gid = st.st_gid, .mtime = st.st_mtime};
                if (flags & TREE_ROOT_OWNED)
                        a.uid = a.gid = 0;
                fsnode *root;
                r = mk_fstree_add_dir(tree, "", &a, &root, err);
                if (r >= 0)
                        r = load_xattrs(&w, ".", root);
        }
        if (r >= 0) {
                int sub = dup(dfd);
                r = sub < 0 ? io_error(&w, ".", "dup") : walk_dir(&w, sub, "");
        }
        for (size_t i = 0; i < w.nlinks; i++)
                free(w.links[i].path);
        free(w.links);
        mk_fs_source_unref(&h->base);
        return r < 0 ? r : 0;
}

int mk_tree_load(const char *src, fstree *tree, unsigned flags, mk_error *err)
{
        struct stat st;
        if (stat(src, &st) < 0)
                return mk_error_set(err, errno, "%s: %s (give a directory or a tar archive)", src, strerror(errno));
        if (S_ISDIR(st.st_mode))
                return mk_tree_load_dir(src, tree, flags, err);
        if (S_ISREG(st.st_mode))
                return mk_tree_load_tar(src, tree, err);
        return mk_error_set(err, EINVAL,
                            "%s: neither a directory nor a regular file (give a directory or a tar "
                            "archive)",
                            src);
}
