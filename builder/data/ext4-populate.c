/* SPDX-License-Identifier: MIT */
/*
 * Copying an fstree into ext4 with libext2fs primitives (populate_fs of
 * mke2fs -d is not part of the library). One sorted pre-order walk; each
 * node's inode number is kept in its aux slot, so a hard link finds its
 * target's inode, and a target first met through a hard link (a hard link
 * can sort before its target) is created then and only linked later.
 *
 * The space estimate mirrors what the walk allocates: data blocks, extent
 * index blocks, directory blocks, slow symlink blocks and xattr blocks.
 */
#include "builder/data/ext4-internal.h"

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sysmacros.h>

#include "signing/base/escape.h"
#include "signing/base/macro.h"

#define BS MK_EXT4_BLOCK
#define CHUNK (1u << 20)
#define EXTENT_MAX_BLOCKS 32768u              /* blocks in one initialized extent */
#define EXTENTS_PER_BLOCK 340u                /* (4096 - 12 header - 4 tail) / 12 */
#define DIR_BLOCK_ROOM 3800u                  /* 4096 minus the checksum tail and the worst waste of one entry */
#define FAST_SYMLINK_MAX 59u                  /* targets shorter than i_block (60 bytes) live in the inode */
#define INODE_XATTR_ROOM (256 - 128 - 32 - 4) /* inode size - base - extra_isize - magic */
#define BLOCK_XATTR_ROOM (4096 - 32 - 4)      /* block - header - end marker */
#define EXT4_LINK_MAX 65000u                  /* names of one non-directory inode */

static uint64_t div_up(uint64_t a, uint64_t b)
{
        return (a + b - 1) / b;
}

/* ext4 stores the name without its namespace prefix. */
static size_t xattr_name_len(const char *key)
{
        static const char *const prefixes[] = {"user.", "trusted.", "security."};
        for (size_t i = 0; i < ELEMENTSOF(prefixes); i++)
                if (!strncmp(key, prefixes[i], strlen(prefixes[i])))
                        return strlen(key) - strlen(prefixes[i]);
        return strlen(key);
}

/* Bytes of one node's xattr entries and values as ext4 lays them out (0 if none). */
static uint64_t xattr_bytes(const fsnode *n)
{
        uint64_t total = 0;
        size_t count = mk_fsnode_nxattrs(n);
        for (size_t i = 0; i < count; i++) {
                size_t vlen;
                mk_fsnode_xattr_value(n, i, &vlen);
                total += ((16 + xattr_name_len(mk_fsnode_xattr_key(n, i)) + 3) & ~3u) + ((vlen + 3) & ~3u);
        }
        return count ? total + 4 : 0;
}

static uint64_t file_blocks(uint64_t size)
{
        uint64_t b = div_up(size, BS);
        if (!b)
                return 0;
        /* Allocation splits extents at group metadata: allow two per 128 MiB, plus one. */
        uint64_t extents = 2 * div_up(b, EXTENT_MAX_BLOCKS) + 1;
        return b + (extents > 4 ? div_up(extents, EXTENTS_PER_BLOCK) : 0);
}

typedef struct need_ctx {
        ext4_need *need;
        const ext4_where *w;
        mk_error *err;
} need_ctx;

static int path_error(const ext4_where *w, const fsnode *n, mk_error *err, int code, const char *what)
{
        char at[512], q[FSTREE_PATH_MAX * 4 + 1];
        _cleanup_free_ char *path = mk_fsnode_path(n);
        mk_ext4_where_str(w, at, sizeof(at));
        return mk_error_set(err, code, "%s: entry '%s' of '%s': %s", at, path ? mk_quote(path, q, sizeof(q)) : "?",
                            w->origin, what);
}

static int need_visit(fsnode *n, void *ctx)
{
        need_ctx *c = ctx;
        ext4_need *need = c->need;
        fsnode_kind kind = mk_fsnode_get_kind(n);
        if (kind == FSNODE_HARDLINK)
                return 0; /* a directory entry, counted with its directory */
        if (mk_fsnode_parent(n)) {
                need->inodes++;
                need->files++;
        }
        if (kind != FSNODE_DIR && mk_fsnode_nlink(n) > EXT4_LINK_MAX) {
                char what[128];
                snprintf(what, sizeof(what), "%" PRIu32 " hard links, more than the %u ext4 allows (use fewer)",
                         mk_fsnode_nlink(n), EXT4_LINK_MAX);
                return path_error(c->w, n, c->err, EMLINK, what);
        }
        uint64_t xb = xattr_bytes(n);
        if (xb > BLOCK_XATTR_ROOM) {
                char what[160];
                snprintf(what, sizeof(what),
                         "its extended attributes take %" PRIu64 " bytes, more than the %u ext4 holds for one file "
                         "(make them smaller)",
                         xb, BLOCK_XATTR_ROOM);
                return path_error(c->w, n, c->err, EFBIG, what);
        }
        if (xb > INODE_XATTR_ROOM)
                need->blocks++;
        switch (kind) {
        case FSNODE_DIR: {
                uint64_t bytes = 24; /* "." and ".." */
                for (size_t i = 0; i < mk_fsnode_nchildren(n); i++)
                        bytes += (8 + strlen(mk_fsnode_name(mk_fsnode_child(n, i))) + 3) & ~3u;
                uint64_t b = div_up(bytes, DIR_BLOCK_ROOM);
                need->blocks += b + (b > 4 ? div_up(b, EXTENTS_PER_BLOCK) : 0);
                break;
        }
        case FSNODE_FILE:
                need->data_bytes += mk_fsnode_file_size(n);
                need->blocks += file_blocks(mk_fsnode_file_size(n));
                break;
        case FSNODE_SYMLINK:
                if (strlen(mk_fsnode_symlink_target(n)) > FAST_SYMLINK_MAX)
                        need->blocks++;
                break;
        default:
                break;
        }
        return 0;
}

int mk_ext4_content_need(fstree *t, const ext4_where *w, ext4_need *ret, mk_error *err)
{
        ext4_need need = {0};
        need_ctx c = {&need, w, err};
        mk_fstree_sort(t);
        int r = mk_fstree_walk(t, need_visit, &c);
        if (r < 0)
                return r;
        *ret = need;
        return 0;
}

typedef struct pop {
        ext2_filsys fs;
        const ext4_where *w;
        mk_error *err;
        char *buf; /* CHUNK bytes */
} pop;

static int pop_fail(pop *p, errcode_t e, const char *doing, const fsnode *n)
{
        char q[FSTREE_PATH_MAX * 4 + 1];
        _cleanup_free_ char *path = mk_fsnode_path(n);
        return mk_ext4_fail(p->w, e, doing, path ? mk_quote(path, q, sizeof(q)) : NULL, p->err);
}

static void set_owner(struct ext2_inode *in, const fsnode *n)
{
        uint32_t uid = mk_fsnode_uid(n), gid = mk_fsnode_gid(n);
        in->i_uid = (uint16_t)uid;
        ext2fs_set_i_uid_high(*in, uid >> 16);
        in->i_gid = (uint16_t)gid;
        ext2fs_set_i_gid_high(*in, gid >> 16);
}

/* Give an inode made by libext2fs (mkdir, symlink) the node's mode, owner and link count. */
static int set_attrs(pop *p, const fsnode *n, ext2_ino_t ino, bool links)
{
        struct ext2_inode in;
        errcode_t e = ext2fs_read_inode(p->fs, ino, &in);
        if (!e) {
                in.i_mode = (uint16_t)mk_fsnode_mode(n);
                set_owner(&in, n);
                if (links)
                        in.i_links_count = (uint16_t)mk_fsnode_nlink(n);
                e = ext2fs_write_inode(p->fs, ino, &in);
        }
        return e ? pop_fail(p, e, "setting the owner and mode of", n) : 0;
}

static int write_xattrs(pop *p, const fsnode *n, ext2_ino_t ino)
{
        size_t count = mk_fsnode_nxattrs(n);
        if (!count)
                return 0;
        struct ext2_xattr_handle *h = NULL;
        errcode_t e = ext2fs_xattrs_open(p->fs, ino, &h);
        if (!e)
                e = ext2fs_xattrs_read(h);
        for (size_t i = 0; !e && i < count; i++) {
                size_t len;
                const void *v = mk_fsnode_xattr_value(n, i, &len);
                e = ext2fs_xattr_set(h, mk_fsnode_xattr_key(n, i), v, len);
        }
        errcode_t e2 = h ? ext2fs_xattrs_close(&h) : 0;
        if (!e)
                e = e2;
        return e ? pop_fail(p, e, "writing the extended attributes of", n) : 0;
}

static int write_data(pop *p, const fsnode *n, ext2_ino_t ino)
{
        uint64_t size = mk_fsnode_file_size(n);
        ext2_file_t f;
        errcode_t e = ext2fs_file_open(p->fs, ino, EXT2_FILE_WRITE, &f);
        if (e)
                return pop_fail(p, e, "writing", n);
        int r = 0;
        for (uint64_t off = 0; off < size && !r && !e;) {
                unsigned len = size - off < CHUNK ? (unsigned)(size - off) : CHUNK;
                unsigned done = 0;
                if ((r = mk_fsnode_read(n, off, p->buf, len, p->err)) < 0)
                        break;
                e = ext2fs_file_write(f, p->buf, len, &done);
                if (!e && done != len)
                        e = EXT2_ET_SHORT_WRITE;
                off += len;
        }
        errcode_t e2 = ext2fs_file_close(f);
        if (r < 0)
                return r;
        if (!e)
                e = e2;
        return e ? pop_fail(p, e, "writing", n) : 0;
}

static int ftype(fsnode_kind kind)
{
        switch (kind) {
        case FSNODE_DIR:
                return EXT2_FT_DIR;
        case FSNODE_SYMLINK:
                return EXT2_FT_SYMLINK;
        case FSNODE_CHRDEV:
                return EXT2_FT_CHRDEV;
        case FSNODE_BLKDEV:
                return EXT2_FT_BLKDEV;
        case FSNODE_FIFO:
                return EXT2_FT_FIFO;
        case FSNODE_SOCKET:
                return EXT2_FT_SOCK;
        default:
                return EXT2_FT_REG_FILE;
        }
}

/* The inode of a non-directory, not yet linked anywhere. */
static int make_inode(pop *p, fsnode *n, ext2_ino_t dir)
{
        fsnode_kind kind = mk_fsnode_get_kind(n);
        ext2_ino_t ino;
        errcode_t e = ext2fs_new_inode(p->fs, dir, (int)mk_fsnode_mode(n), NULL, &ino);
        if (e)
                return pop_fail(p, e, "allocating an inode for", n);
        int r;
        if (kind == FSNODE_SYMLINK) {
                if ((e = ext2fs_symlink(p->fs, dir, ino, NULL, (char *)mk_fsnode_symlink_target(n))))
                        return pop_fail(p, e, "creating", n);
                if ((r = set_attrs(p, n, ino, true)) < 0)
                        return r;
        } else {
                struct ext2_inode in = {0};
                in.i_mode = (uint16_t)mk_fsnode_mode(n);
                set_owner(&in, n);
                in.i_links_count = (uint16_t)mk_fsnode_nlink(n);
                if (kind == FSNODE_FILE) {
                        ext2_extent_handle_t h; /* an empty extent header in i_block */
                        if ((e = ext2fs_extent_open2(p->fs, ino, &in, &h)))
                                return pop_fail(p, e, "creating", n);
                        ext2fs_extent_free(h);
                        if ((e = ext2fs_inode_size_set(p->fs, &in, mk_fsnode_file_size(n))))
                                return pop_fail(p, e, "creating", n);
                } else if (kind == FSNODE_CHRDEV || kind == FSNODE_BLKDEV) {
                        /* The kernel's encoding: old 8:8 when it fits, else the new 12:20 one. */
                        unsigned ma = major(mk_fsnode_rdev(n)), mi = minor(mk_fsnode_rdev(n));
                        if (ma < 256 && mi < 256)
                                in.i_block[0] = ma << 8 | mi;
                        else
                                in.i_block[1] = (mi & 0xff) | (ma << 8) | ((mi & ~0xffu) << 12);
                }
                ext2fs_inode_alloc_stats2(p->fs, ino, +1, 0);
                if ((e = ext2fs_write_new_inode(p->fs, ino, &in)))
                        return pop_fail(p, e, "creating", n);
                if (kind == FSNODE_FILE && (r = write_data(p, n, ino)) < 0)
                        return r;
        }
        if ((r = write_xattrs(p, n, ino)) < 0)
                return r;
        mk_fsnode_set_aux(n, ino);
        return 0;
}

static int make_dir(pop *p, fsnode *n, ext2_ino_t dir)
{
        const char *name = mk_fsnode_name(n);
        ext2_ino_t ino;
        errcode_t e;
        if (dir == EXT2_ROOT_INO && !strcmp(name, "lost+found")) {
                /* The content's own lost+found: keep ours, with its attributes. */
                if ((e = ext2fs_lookup(p->fs, dir, name, (int)strlen(name), NULL, &ino)))
                        return pop_fail(p, e, "looking up", n);
        } else if ((e = ext2fs_new_inode(p->fs, dir, LINUX_S_IFDIR | 0755, NULL, &ino)) ||
                   (e = ext2fs_mkdir(p->fs, dir, ino, name))) {
                return pop_fail(p, e, "creating", n);
        }
        int r = set_attrs(p, n, ino, false);
        if (r >= 0)
                r = write_xattrs(p, n, ino);
        mk_fsnode_set_aux(n, ino);
        return r;
}

/* libext2fs 1.47.0 does not grow a full directory by itself. */
static int link_node(pop *p, const fsnode *n, ext2_ino_t dir, ext2_ino_t ino, int type)
{
        errcode_t e = ext2fs_link(p->fs, dir, mk_fsnode_name(n), ino, type);
        if (e == EXT2_ET_DIR_NO_SPACE && !(e = ext2fs_expand_dir(p->fs, dir)))
                e = ext2fs_link(p->fs, dir, mk_fsnode_name(n), ino, type);
        return e ? pop_fail(p, e, "linking", n) : 0;
}

static int pop_visit(fsnode *n, void *ctx)
{
        pop *p = ctx;
        fsnode *parent = mk_fsnode_parent(n);
        if (!parent) {
                int r = set_attrs(p, n, EXT2_ROOT_INO, false);
                if (r >= 0)
                        r = write_xattrs(p, n, EXT2_ROOT_INO);
                mk_fsnode_set_aux(n, EXT2_ROOT_INO);
                return r;
        }
        ext2_ino_t dir = mk_fsnode_aux(parent);
        fsnode_kind kind = mk_fsnode_get_kind(n);
        if (kind == FSNODE_DIR)
                return make_dir(p, n, dir);
        if (dir == EXT2_ROOT_INO && !strcmp(mk_fsnode_name(n), "lost+found"))
                return path_error(p->w, n, p->err, EEXIST,
                                  "not a directory, but ext4 keeps its lost+found directory there (rename or "
                                  "remove it)");
        fsnode *target = kind == FSNODE_HARDLINK ? mk_fsnode_hardlink_target(n) : n;
        int r;
        if (!mk_fsnode_aux(target) && (r = make_inode(p, target, dir)) < 0)
                return r;
        return link_node(p, n, dir, mk_fsnode_aux(target), ftype(mk_fsnode_get_kind(target)));
}

static int reset_aux(fsnode *n, void *ctx)
{
        mk_fsnode_set_aux(n, 0);
        return 0;
}

int mk_ext4_populate(ext2_filsys fs, fstree *t, const ext4_where *w, mk_error *err)
{
        _cleanup_free_ char *buf = malloc(CHUNK);
        if (!buf)
                return mk_error_set(err, ENOMEM, "%s: out of memory", w->name);
        pop p = {fs, w, err, buf};
        mk_fstree_sort(t);
        (void)mk_fstree_walk(t, reset_aux, NULL);
        return mk_fstree_walk(t, pop_visit, &p);
}
