/* SPDX-License-Identifier: MIT */
#include "builder/squashfs/sqfs-read.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include <sqfs/compressor.h>
#include <sqfs/data_reader.h>
#include <sqfs/dir.h>
#include <sqfs/dir_reader.h>
#include <sqfs/error.h>
#include <sqfs/frag_table.h>
#include <sqfs/id_table.h>
#include <sqfs/inode.h>
#include <sqfs/xattr.h>
#include <sqfs/xattr_reader.h>
#include <zstd.h>

#include "signing/base/escape.h"
#include "signing/base/macro.h"
#include "builder/squashfs/sqfs-file.h"

/* The image is the fs_source of the files loaded from it; a file's key is a copy of its inode. */
struct sqimage {
        fs_source base;
        char *name;
        sqfs_file_t *file;
        sqfs_super_t super;
        sqfs_compressor_t *cmp;
        sqfs_id_table_t *idt;
        sqfs_dir_reader_t *dr;
        sqfs_data_reader_t *data;
        sqfs_xattr_reader_t *xr; /* NULL when the image has no xattrs */
        sqfs_frag_table_t *ft;   /* raw fragment table, loaded for block copy */
};

static int img_error(const sqimage *img, int r, const char *what, mk_error *err)
{
        return mk_sqfile_error(img->file, r, what, err);
}

static int img_read_at(fs_source *src, const fsnode *file, uint64_t offset, void *buf, size_t len, mk_error *err)
{
        sqimage *img = (sqimage *)src;
        void *key;
        mk_fsnode_file_source(file, NULL, &key);
        const sqfs_inode_generic_t *inode = key;
        for (char *p = buf; len;) {
                sqfs_u32 chunk = len > (1u << 30) ? (1u << 30) : (sqfs_u32)len;
                sqfs_s32 n = sqfs_data_reader_read(img->data, inode, offset, p, chunk);
                if (n <= 0) {
                        _cleanup_free_ char *path = mk_fsnode_path(file);
                        char what[1200], q[1024];
                        snprintf(what, sizeof what, "reading '/%s'", mk_quote(path ? path : "?", q, sizeof q));
                        return img_error(img, n < 0 ? n : SQFS_ERROR_CORRUPTED, what, err);
                }
                p += n, offset += (uint64_t)n, len -= (size_t)n;
        }
        return 0;
}

static void img_free_key(fs_source *src, void *ptr)
{
        free(ptr);
}

static void img_destroy(fs_source *src)
{
        sqimage *img = (sqimage *)src;
        sqfs_destroy(img->ft);
        sqfs_destroy(img->xr);
        sqfs_destroy(img->data);
        sqfs_destroy(img->dr);
        sqfs_destroy(img->idt);
        sqfs_destroy(img->cmp);
        sqfs_destroy(img->file);
        free(img->name);
        free(img);
}

static const fs_source_ops img_ops = {img_read_at, img_free_key, img_destroy};

sqimage *mk_sqimage_unref(sqimage *img)
{
        if (img)
                mk_fs_source_unref(&img->base);
        return NULL;
}

/*
 * libsquashfs decompresses a zstd block with ZSTD_decompress(), which makes
 * and frees a context for every block; making one runs cpuid, which in a
 * virtual machine traps to the hypervisor (about 50 us each here, a tenth of
 * a second for the metadata blocks of a large component). This wrapper keeps
 * one context per decompressor; a second thread that finds it busy uses the
 * original path.
 */
typedef struct zstd_reader {
        sqfs_compressor_t base;
        sqfs_compressor_t *inner;
        ZSTD_DCtx *dctx;
        pthread_mutex_t lock;
} zstd_reader;

static void zr_get_configuration(const sqfs_compressor_t *cmp, sqfs_compressor_config_t *cfg)
{
        const zstd_reader *z = (const zstd_reader *)cmp;
        z->inner->get_configuration(z->inner, cfg);
}

static int zr_write_options(sqfs_compressor_t *cmp, sqfs_file_t *file)
{
        zstd_reader *z = (zstd_reader *)cmp;
        return z->inner->write_options(z->inner, file);
}

static int zr_read_options(sqfs_compressor_t *cmp, sqfs_file_t *file)
{
        zstd_reader *z = (zstd_reader *)cmp;
        return z->inner->read_options(z->inner, file);
}

static sqfs_s32 zr_do_block(sqfs_compressor_t *cmp, const sqfs_u8 *in, sqfs_u32 size, sqfs_u8 *out, sqfs_u32 outsize)
{
        zstd_reader *z = (zstd_reader *)cmp;
        if (outsize >= 0x7FFFFFFF)
                return SQFS_ERROR_ARG_INVALID;
        if (pthread_mutex_trylock(&z->lock) != 0)
                return z->inner->do_block(z->inner, in, size, out, outsize);
        size_t n = ZSTD_decompressDCtx(z->dctx, out, outsize, in, size);
        pthread_mutex_unlock(&z->lock);
        return ZSTD_isError(n) ? SQFS_ERROR_COMPRESSOR : (sqfs_s32)n;
}

static void zr_destroy(sqfs_object_t *obj)
{
        zstd_reader *z = (zstd_reader *)obj;
        ZSTD_freeDCtx(z->dctx);
        pthread_mutex_destroy(&z->lock);
        sqfs_destroy(z->inner);
        free(z);
}

/* Put the wrapper around *cmp, a zstd decompressor; left as it is when memory is short. */
static void wrap_zstd_reader(sqfs_compressor_t **cmp)
{
        zstd_reader *z = calloc(1, sizeof(*z));
        if (!z || !(z->dctx = ZSTD_createDCtx())) {
                free(z);
                return;
        }
        z->base = **cmp;
        z->base.base.destroy = zr_destroy;
        z->base.base.copy = NULL;
        z->base.get_configuration = zr_get_configuration;
        z->base.write_options = zr_write_options;
        z->base.read_options = zr_read_options;
        z->base.do_block = zr_do_block;
        z->inner = *cmp;
        pthread_mutex_init(&z->lock, NULL);
        *cmp = &z->base;
}

int mk_sqimage_open_file(sqfs_file_t *file, const char *name, sqimage **ret, mk_error *err)
{
        sqimage *img = calloc(1, sizeof(*img));
        if (!img || !(img->name = strdup(name))) {
                free(img);
                sqfs_destroy(file);
                return mk_error_set(err, ENOMEM, "out of memory");
        }
        img->base = (fs_source){&img_ops, 1};
        img->file = file;
        int r = sqfs_super_read(&img->super, file);
        if (r) {
                r = mk_error_set(err, EINVAL,
                                 "%s: not a valid squashfs image: %s (pack it with mkimage component "
                                 "pack)",
                                 name, mk_sqfile_strerror(r));
                goto fail;
        }
        sqfs_compressor_config_t cfg;
        r = sqfs_compressor_config_init(&cfg, img->super.compression_id, img->super.block_size,
                                        SQFS_COMP_FLAG_UNCOMPRESS);
        if (!r)
                r = sqfs_compressor_create(&cfg, &img->cmp);
        if (!r && img->super.compression_id == SQFS_COMP_ZSTD)
                wrap_zstd_reader(&img->cmp);
        if (!r && (img->super.flags & SQFS_FLAG_COMPRESSOR_OPTIONS))
                r = img->cmp->read_options(img->cmp, file);
        if (r) {
                r = img_error(img, r, "setting up the decompressor", err);
                goto fail;
        }
        img->idt = sqfs_id_table_create(0);
        if (!img->idt || (r = sqfs_id_table_read(img->idt, file, &img->super, img->cmp))) {
                r = img_error(img, img->idt ? r : SQFS_ERROR_ALLOC, "reading the id table", err);
                goto fail;
        }
        img->dr = sqfs_dir_reader_create(&img->super, img->cmp, file, 0);
        img->data = sqfs_data_reader_create(file, img->super.block_size, img->cmp, 0);
        if (!img->dr || !img->data) {
                r = img_error(img, SQFS_ERROR_ALLOC, "creating the readers", err);
                goto fail;
        }
        if ((r = sqfs_data_reader_load_fragment_table(img->data, &img->super))) {
                r = img_error(img, r, "reading the fragment table", err);
                goto fail;
        }
        if (!(img->super.flags & SQFS_FLAG_NO_XATTRS) && img->super.xattr_id_table_start != UINT64_MAX) {
                img->xr = sqfs_xattr_reader_create(0);
                if (!img->xr || (r = sqfs_xattr_reader_load(img->xr, &img->super, file, img->cmp))) {
                        r = img_error(img, img->xr ? r : SQFS_ERROR_ALLOC, "reading the xattr table", err);
                        goto fail;
                }
        }
        *ret = img;
        return 0;
fail:
        img_destroy(&img->base);
        return r < 0 ? r : -EINVAL;
}

int mk_sqimage_open(const char *path, sqimage **ret, mk_error *err)
{
        sqfs_file_t *file;
        int r = mk_sqfile_open_path(path, &file, err);
        if (r < 0)
                return r;
        return mk_sqimage_open_file(file, path, ret, err);
}

const sqfs_super_t *mk_sqimage_super(const sqimage *img)
{
        return &img->super;
}

const char *mk_sqimage_name(const sqimage *img)
{
        return img->name;
}

static bool is_file(const sqfs_inode_generic_t *inode)
{
        return inode->base.type == SQFS_INODE_FILE || inode->base.type == SQFS_INODE_EXT_FILE;
}

int mk_sqimage_read_file(sqimage *img, const char *path, size_t max, char **ret, size_t *ret_len, mk_error *err)
{
        /* libsquashfs may free an inode it failed to read and still leave its pointer behind (found by
         * tests/fuzz/fuzz-component): its out pointers are taken only on success. */
        _cleanup_free_ sqfs_inode_generic_t *root = NULL, *inode = NULL;
        sqfs_inode_generic_t *got = NULL;
        int r = sqfs_dir_reader_get_root_inode(img->dr, &got);
        if (r)
                return img_error(img, r, "reading the root directory", err);
        root = got;
        got = NULL;
        r = sqfs_dir_reader_find_by_path(img->dr, root, path, &got);
        if (r == SQFS_ERROR_NO_ENTRY || r == SQFS_ERROR_NOT_DIR)
                return mk_error_set(err, ENOENT, "%s: has no '%s'", img->name, path);
        if (r)
                return img_error(img, r, "looking up a path", err);
        inode = got;
        if (!is_file(inode))
                return mk_error_set(err, EINVAL, "%s: '%s' is not a regular file", img->name, path);
        sqfs_u64 size;
        sqfs_inode_get_file_size(inode, &size);
        if (size > max)
                return mk_error_set(err, EFBIG, "%s: '%s' is %llu bytes, more than the limit of %zu", img->name, path,
                                    (unsigned long long)size, max);
        _cleanup_free_ char *buf = malloc((size_t)size + 1);
        if (!buf)
                return mk_error_set(err, ENOMEM, "out of memory");
        for (size_t off = 0; off < size;) {
                sqfs_s32 n = sqfs_data_reader_read(img->data, inode, off, buf + off, (sqfs_u32)(size - off));
                if (n <= 0)
                        return img_error(img, n < 0 ? n : SQFS_ERROR_CORRUPTED, "reading a file", err);
                off += (size_t)n;
        }
        buf[size] = '\0';
        *ret = TAKE_PTR(buf);
        *ret_len = (size_t)size;
        return 0;
}

typedef struct loader {
        sqimage *img;
        fstree *tree;
        const char *const *skip;
        size_t nskip;
        const mk_fs_policy *policy;
        char **seen;       /* inode number -> first path, for hard links */
        uint8_t *dir_seen; /* inode number -> this directory was listed already */
        mk_error *err;
} loader;

static int load_xattrs(loader *l, const sqfs_inode_generic_t *inode, fsnode *n)
{
        sqfs_u32 idx;
        if (sqfs_inode_get_xattr_index(inode, &idx) || idx == 0xFFFFFFFF)
                return 0;
        if (!l->img->xr)
                return img_error(l->img, SQFS_ERROR_CORRUPTED, "reading extended attributes", l->err);
        sqfs_xattr_id_t desc;
        int r = sqfs_xattr_reader_get_desc(l->img->xr, idx, &desc);
        if (!r)
                r = sqfs_xattr_reader_seek_kv(l->img->xr, &desc);
        for (sqfs_u32 i = 0; !r && i < desc.count; i++) {
                _cleanup_free_ sqfs_xattr_entry_t *key = NULL;
                _cleanup_free_ sqfs_xattr_value_t *val = NULL;
                r = sqfs_xattr_reader_read_key(l->img->xr, &key);
                if (!r)
                        r = sqfs_xattr_reader_read_value(l->img->xr, key, &val);
                if (r)
                        break;
                /* The reader returns the full key, prefix included, NUL-terminated. */
                int e = mk_fstree_add_xattr(l->tree, n, (const char *)key->key, val->value, val->size, l->err);
                if (e < 0)
                        return e;
        }
        return r ? img_error(l->img, r, "reading extended attributes", l->err) : 0;
}

static int node_attr(loader *l, const sqfs_inode_generic_t *inode, fsnode_attr *a)
{
        if (sqfs_id_table_index_to_id(l->img->idt, inode->base.uid_idx, &a->uid) ||
            sqfs_id_table_index_to_id(l->img->idt, inode->base.gid_idx, &a->gid))
                return img_error(l->img, SQFS_ERROR_CORRUPTED, "reading an owner", l->err);
        a->perm = inode->base.mode & 07777;
        a->mtime = inode->base.mod_time;
        return 0;
}

/* A directory's inode may be listed once: a second name for it (a hard link, a loop) is refused. */
static int mark_dir(loader *l, uint32_t ino, const char *path)
{
        if (!l->dir_seen[ino]) {
                l->dir_seen[ino] = 1;
                return 0;
        }
        return mk_error_set(l->err, EINVAL,
                            "%s: entry '%s': a directory hard link (this directory is listed under a second name, "
                            "which squashfs never writes: the component is damaged or crafted)",
                            l->img->name, path);
}

static int add_node(loader *l, const sqfs_inode_generic_t *inode, const char *path)
{
        uint32_t ino = inode->base.inode_number;
        if (ino == 0 || ino > l->img->super.inode_count)
                return img_error(l->img, SQFS_ERROR_CORRUPTED, "reading the directory tree", l->err);
        uint32_t mode = inode->base.mode;
        if (!S_ISDIR(mode) && l->seen[ino])
                return mk_fstree_add_hardlink(l->tree, path, l->seen[ino], NULL, l->err);
        fsnode_attr a;
        int r = node_attr(l, inode, &a);
        if (r < 0)
                return r;
        fsnode *n = NULL;
        switch (mode & S_IFMT) {
        case S_IFDIR:
                if (inode->base.type != SQFS_INODE_DIR && inode->base.type != SQFS_INODE_EXT_DIR)
                        return img_error(l->img, SQFS_ERROR_CORRUPTED, "reading the directory tree", l->err);
                if ((r = mark_dir(l, ino, path)) < 0)
                        return r;
                r = mk_fstree_add_dir(l->tree, path, &a, &n, l->err);
                break;
        case S_IFREG: {
                if (!is_file(inode))
                        return img_error(l->img, SQFS_ERROR_CORRUPTED, "reading the directory tree", l->err);
                size_t sz = sizeof(*inode) + inode->payload_bytes_available;
                sqfs_inode_generic_t *copy = malloc(sz);
                if (!copy)
                        return mk_error_set(l->err, ENOMEM, "out of memory");
                memcpy(copy, inode, sz);
                sqfs_u64 size;
                sqfs_inode_get_file_size(inode, &size);
                r = mk_fstree_add_file(l->tree, path, &a, &l->img->base, 0, copy, size, &n, l->err);
                if (r < 0)
                        free(copy);
                break;
        }
        case S_IFLNK: {
                sqfs_u32 len = inode->data.slink.target_size;
                if (len > inode->payload_bytes_used || len > FSTREE_SYMLINK_MAX)
                        return img_error(l->img, SQFS_ERROR_CORRUPTED, "reading a symlink", l->err);
                char target[FSTREE_SYMLINK_MAX + 1];
                memcpy(target, inode->extra, len);
                target[len] = '\0';
                r = mk_fstree_add_symlink(l->tree, path, &a, target, &n, l->err);
                break;
        }
        case S_IFCHR:
        case S_IFBLK: {
                sqfs_u32 d = inode->data.dev.devno;
                r = mk_fstree_add_special(l->tree, path, &a, S_ISCHR(mode) ? FSNODE_CHRDEV : FSNODE_BLKDEV,
                                          makedev((d & 0xfff00) >> 8, (d & 0xff) | ((d >> 12) & 0xfff00)), &n, l->err);
                break;
        }
        case S_IFIFO:
                r = mk_fstree_add_special(l->tree, path, &a, FSNODE_FIFO, 0, &n, l->err);
                break;
        case S_IFSOCK:
                r = mk_fstree_add_special(l->tree, path, &a, FSNODE_SOCKET, 0, &n, l->err);
                break;
        default:
                return img_error(l->img, SQFS_ERROR_CORRUPTED, "reading the directory tree", l->err);
        }
        if (r < 0 || (r = load_xattrs(l, inode, n)) < 0 ||
            (r = mk_fstree_check_node(l->tree, n, l->policy, l->img->name, l->err)) < 0)
                return r;
        if (!S_ISDIR(mode) && !(l->seen[ino] = strdup(path)))
                return mk_error_set(l->err, ENOMEM, "out of memory");
        return 0;
}

/*
 * One directory being walked: its whole listing (libsquashfs' reader holds
 * one open directory at a time), and where the walk is in it.
 */
typedef struct frame {
        char *path;
        char **names;
        sqfs_inode_generic_t **inodes;
        size_t n, cap, next;
} frame;

static void frame_done(frame *f)
{
        for (size_t i = 0; i < f->n; i++) {
                free(f->names[i]);
                sqfs_free(f->inodes[i]);
        }
        free(f->names);
        free(f->inodes);
        free(f->path);
        memset(f, 0, sizeof(*f));
}

/* Read the listing of dir (at path) into f; every name is checked before it is used. */
static int list_dir(loader *l, const sqfs_inode_generic_t *dir, const char *path, frame *f)
{
        *f = (frame){0};
        if (!(f->path = strdup(path)))
                return mk_error_set(l->err, ENOMEM, "out of memory");
        int r = sqfs_dir_reader_open_dir(l->img->dr, dir, 0);
        if (r)
                return img_error(l->img, r, "reading the directory tree", l->err);
        for (;;) {
                sqfs_dir_entry_t *ent = NULL;
                r = sqfs_dir_reader_read(l->img->dr, &ent);
                if (r > 0)
                        return 0;
                if (r)
                        return img_error(l->img, r, "reading the directory tree", l->err);
                size_t len = (size_t)ent->size + 1;
                int e = mk_fstree_check_name(l->img->name, path, (const char *)ent->name, len, l->err);
                if (e < 0) {
                        sqfs_free(ent);
                        return e;
                }
                if (f->n == f->cap) {
                        size_t cap = f->cap ? 2 * f->cap : 16;
                        char **nn = realloc(f->names, cap * sizeof(*nn));
                        if (nn)
                                f->names = nn;
                        sqfs_inode_generic_t **ni = nn ? realloc(f->inodes, cap * sizeof(*ni)) : NULL;
                        if (!ni) {
                                sqfs_free(ent);
                                return mk_error_set(l->err, ENOMEM, "out of memory");
                        }
                        f->inodes = ni;
                        f->cap = cap;
                }
                sqfs_inode_generic_t *inode = NULL;
                r = sqfs_dir_reader_get_inode(l->img->dr, &inode);
                char *name = r ? NULL : strndup((const char *)ent->name, len);
                sqfs_free(ent);
                if (r)
                        return img_error(l->img, r, "reading an inode", l->err);
                if (!name) {
                        sqfs_free(inode);
                        return mk_error_set(l->err, ENOMEM, "out of memory");
                }
                f->names[f->n] = name;
                f->inodes[f->n++] = inode;
                if (mk_fstree_count(l->tree) + f->n > FSTREE_NODES_MAX)
                        return mk_error_set(l->err, EINVAL,
                                            "%s: the tree has more than %u entries, the limit (split it into "
                                            "several components)",
                                            l->img->name, FSTREE_NODES_MAX);
        }
}

/*
 * Depth-first, in the image's order, without recursion: the stack holds one
 * frame per directory on the current path, at most FSTREE_DEPTH_MAX.
 */
static int load_children(loader *l, const sqfs_inode_generic_t *root)
{
        frame stack[FSTREE_DEPTH_MAX + 1];
        size_t depth = 0;
        int r = list_dir(l, root, "", &stack[depth++]);
        while (r >= 0 && depth) {
                frame *f = &stack[depth - 1];
                if (f->next == f->n) {
                        frame_done(f);
                        depth--;
                        continue;
                }
                size_t i = f->next++;
                _cleanup_free_ char *path = NULL;
                if (asprintf(&path, "%s%s%s", f->path, *f->path ? "/" : "", f->names[i]) < 0) {
                        path = NULL;
                        r = mk_error_set(l->err, ENOMEM, "out of memory");
                        break;
                }
                bool skipped = false;
                for (size_t k = 0; k < l->nskip && !skipped; k++)
                        skipped = !strcmp(path, l->skip[k]);
                if (skipped)
                        continue;
                const sqfs_inode_generic_t *inode = f->inodes[i];
                if ((r = add_node(l, inode, path)) < 0 || !S_ISDIR(inode->base.mode))
                        continue;
                if (depth == FSTREE_DEPTH_MAX) {
                        r = mk_error_set(l->err, EINVAL,
                                         "%s: entry '%.200s…': the path is more than %d levels deep, "
                                         "the limit (flatten the tree)",
                                         l->img->name, path, FSTREE_DEPTH_MAX);
                        break;
                }
                r = list_dir(l, inode, path, &stack[depth++]);
        }
        while (depth)
                frame_done(&stack[--depth]);
        return r;
}

int mk_sqimage_load_tree(sqimage *img, fstree *tree, const char *const *skip, size_t nskip, const mk_fs_policy *policy,
                         mk_error *err)
{
        _cleanup_free_ sqfs_inode_generic_t *root = NULL;
        sqfs_inode_generic_t *got = NULL; /* taken only on success, as in mk_sqimage_read_file */
        int r = sqfs_dir_reader_get_root_inode(img->dr, &got);
        if (r)
                return img_error(img, r, "reading the root directory", err);
        root = got;
        if (root->base.type != SQFS_INODE_DIR && root->base.type != SQFS_INODE_EXT_DIR)
                return img_error(img, SQFS_ERROR_CORRUPTED, "reading the root directory", err);
        /* Tables indexed by inode number: the claimed count must be one the image can hold
         * (every inode takes at least 16 bytes of the inode table). */
        uint64_t inode_bytes = img->super.directory_table_start > img->super.inode_table_start
                                       ? img->super.directory_table_start - img->super.inode_table_start
                                       : 0;
        if (img->super.inode_count == 0 || img->super.inode_count > FSTREE_NODES_MAX ||
            (uint64_t)img->super.inode_count > (inode_bytes / 2 + 1) * 8192 / 16 || root->base.inode_number == 0 ||
            root->base.inode_number > img->super.inode_count)
                return img_error(img, SQFS_ERROR_CORRUPTED, "reading the directory tree", err);
        loader l = {.img = img, .tree = tree, .skip = skip, .nskip = nskip, .policy = policy, .err = err};
        l.seen = calloc((size_t)img->super.inode_count + 1, sizeof(*l.seen));
        l.dir_seen = calloc((size_t)img->super.inode_count + 1, 1);
        if (!l.seen || !l.dir_seen) {
                r = mk_error_set(err, ENOMEM, "out of memory");
                goto out;
        }
        l.dir_seen[root->base.inode_number] = 1;
        fsnode_attr a;
        fsnode *rn;
        if ((r = node_attr(&l, root, &a)) >= 0 && (r = mk_fstree_add_dir(tree, "", &a, &rn, err)) >= 0 &&
            (r = load_xattrs(&l, root, rn)) >= 0)
                r = load_children(&l, root);
out:
        if (l.seen)
                for (size_t i = 0; i <= img->super.inode_count; i++)
                        free(l.seen[i]);
        free(l.seen);
        free(l.dir_seen);
        return r < 0 ? r : 0;
}

sqimage *mk_sqimage_from_source(fs_source *src)
{
        return src && src->ops == &img_ops ? (sqimage *)src : NULL;
}

sqfs_file_t *mk_sqimage_file(sqimage *img)
{
        return img->file;
}

void mk_sqimage_compressor_config(const sqimage *img, sqfs_compressor_config_t *ret)
{
        img->cmp->get_configuration(img->cmp, ret);
        ret->flags &= (sqfs_u16)~SQFS_COMP_FLAG_UNCOMPRESS;
        /* libsquashfs 1.2's zstd and gzip read_options do not keep the level;
         * it is the first LE32 of the (uncompressed) options block after the
         * superblock. Only the level is taken from here; it is for -v and
         * never decides anything the decompressor needs. */
        if (!(img->super.flags & SQFS_FLAG_COMPRESSOR_OPTIONS) ||
            (ret->id != SQFS_COMP_ZSTD && ret->id != SQFS_COMP_GZIP))
                return;
        uint8_t b[6];
        if (img->file->read_at(img->file, sizeof(sqfs_super_t), b, sizeof b))
                return;
        uint16_t hdr = (uint16_t)(b[0] | b[1] << 8);
        if ((hdr & 0x8000) && (hdr & 0x7FFF) >= 4)
                ret->level = (sqfs_u32)b[2] | (sqfs_u32)b[3] << 8 | (sqfs_u32)b[4] << 16 | (sqfs_u32)b[5] << 24;
}

int mk_sqimage_fragment(sqimage *img, uint32_t idx, sqfs_fragment_t *ret, mk_error *err)
{
        if (!img->ft) {
                sqfs_frag_table_t *ft = sqfs_frag_table_create(0);
                if (!ft)
                        return mk_error_set(err, ENOMEM, "out of memory");
                int r = sqfs_frag_table_read(ft, img->file, &img->super, img->cmp);
                if (r) {
                        sqfs_destroy(ft);
                        return img_error(img, r, "reading the fragment table", err);
                }
                img->ft = ft;
        }
        sqfs_fragment_t f;
        if (sqfs_frag_table_lookup(img->ft, idx, &f))
                return img_error(img, SQFS_ERROR_CORRUPTED, "looking up a fragment", err);
        *ret = f;
        return 0;
}
