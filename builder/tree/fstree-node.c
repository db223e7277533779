/* SPDX-License-Identifier: MIT */
/* Reading a tree: file content sources (the in-memory one) and the node accessors. */
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
