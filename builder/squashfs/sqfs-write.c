/* SPDX-License-Identifier: MIT */
/*
 * The order of calls follows libsquashfs' contract (docs/facts.md
 * section 4): superblock placeholder, compressor options, all file data
 * through the block processor, then inodes children-before-parents, the
 * directory table, the fragment, id and xattr tables, and the superblock.
 */
#include "builder/squashfs/sqfs-write.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <sqfs/block.h>
#include <sqfs/block_processor.h>
#include <sqfs/block_writer.h>
#include <sqfs/compressor.h>
#include <sqfs/dir_writer.h>
#include <sqfs/error.h>
#include <sqfs/frag_table.h>
#include <sqfs/id_table.h>
#include <sqfs/inode.h>
#include <sqfs/meta_writer.h>
#include <sqfs/super.h>
#include <sqfs/xattr_writer.h>

#include "signing/base/escape.h"
#include "signing/base/macro.h"
#include "builder/squashfs/sqfs-compressor.h"
#include "builder/squashfs/sqfs-copy.h"
#include "builder/squashfs/sqfs-file.h"
#include "builder/squashfs/sqfs-read.h"

int mk_sqwrite_compressor_config(const sqwrite_opts *o, sqfs_compressor_config_t *ret)
{
        int comp = o->compressor ? o->compressor : SQFS_COMP_ZSTD;
        uint32_t bs = o->block_size ? o->block_size : SQFS_DEFAULT_BLOCK_SIZE;
        sqfs_compressor_config_t cfg;
        int r = sqfs_compressor_config_init(&cfg, (SQFS_COMPRESSOR)comp, bs, 0);
        if (r)
                return r;
        if (o->level)
                cfg.level = (sqfs_u32)o->level;
        *ret = cfg;
        return 0;
}

int mk_sqwrite_check_opts(const sqwrite_opts *o, mk_error *err)
{
        int id = o->compressor ? o->compressor : SQFS_COMP_ZSTD, min, max;
        if (mk_sqfs_compressor_levels(id, &min, &max) < 0)
                return mk_error_set(err, EINVAL, "compressor %d is not supported (use one of %s)", id,
                                    mk_sqfs_compressor_names());
        if (o->level && (o->level < min || o->level > max)) {
                if (!max)
                        return mk_error_set(err, EINVAL, "compressor %s takes no level (drop the level option)",
                                            mk_sqfs_compressor_name(id));
                return mk_error_set(err, EINVAL, "compression level %d is out of range for %s (use %d..%d)", o->level,
                                    mk_sqfs_compressor_name(id), min, max);
        }
        uint32_t bs = o->block_size ? o->block_size : SQFS_DEFAULT_BLOCK_SIZE;
        if (bs < SQFS_MIN_BLOCK_SIZE || bs > SQFS_MAX_BLOCK_SIZE || (bs & (bs - 1)))
                return mk_error_set(err, EINVAL, "block size %u is invalid (use a power of two from 4096 to 1048576)",
                                    bs);
        return 0;
}

typedef struct wnode {
        fsnode *n;
        sqfs_inode_generic_t *inode; /* files: owned by the block processor until finish */
        uint64_t ref;
        uint32_t ino;
} wnode;

typedef struct writer {
        sqfs_file_t *file;
        const sqwrite_opts *o;
        mk_error *err;
        wnode *v;
        size_t nv;
        void *buf;
        sqfs_super_t super;
        sqfs_compressor_t *cmp, *uncmp;
        sqfs_block_writer_t *bw;
        sqfs_frag_table_t *ft;
        sqfs_block_processor_t *bp;
        sqfs_id_table_t *idt;
        sqfs_xattr_writer_t *xw;
        sqfs_meta_writer_t *im, *dm;
        sqfs_dir_writer_t *dw;
        sqcopy *copy;         /* NULL unless opts.block_copy */
        uint64_t done, total; /* file data written and to write, for opts.progress */
} writer;

static void writer_done(writer *w)
{
        /* The processor first: it joins its workers, which use cmp, bw and ft. */
        sqfs_destroy(w->bp);
        mk_sqcopy_free(w->copy);
        sqfs_destroy(w->dw);
        sqfs_destroy(w->dm);
        sqfs_destroy(w->im);
        sqfs_destroy(w->xw);
        sqfs_destroy(w->idt);
        sqfs_destroy(w->ft);
        sqfs_destroy(w->bw);
        sqfs_destroy(w->uncmp);
        sqfs_destroy(w->cmp);
        for (size_t i = 0; i < w->nv; i++)
                free(w->v[i].inode);
        free(w->v);
        free(w->buf);
}

static int fail(writer *w, int r, const char *what)
{
        return mk_sqfile_error(w->file, r, what, w->err);
}

static int fail_at(writer *w, int r, const char *what, const fsnode *n)
{
        _cleanup_free_ char *p = mk_fsnode_path(n);
        char q[1024], msg[1200];
        snprintf(msg, sizeof msg, "%s '/%s'", what, mk_quote(p ? p : "?", q, sizeof q));
        return fail(w, r, msg);
}

static int collect(fsnode *n, void *ctx)
{
        writer *w = ctx;
        if (mk_fsnode_get_kind(n) == FSNODE_HARDLINK)
                return 0;
        if (w->v) {
                w->v[w->nv] = (wnode){.n = n};
                mk_fsnode_set_aux(n, (uint32_t)w->nv);
        }
        w->nv++;
        return 0;
}

static int open_objects(writer *w)
{
        const sqwrite_opts *o = w->o;
        int comp = o->compressor ? o->compressor : SQFS_COMP_ZSTD;
        uint32_t bs = o->block_size ? o->block_size : SQFS_DEFAULT_BLOCK_SIZE;
        int r = sqfs_super_init(&w->super, bs, o->mtime, comp);
        if (r)
                return fail(w, r, "initializing the superblock");
        r = sqfs_super_write(&w->super, w->file);
        if (r)
                return fail(w, r, "writing the superblock");

        sqfs_compressor_config_t cfg;
        r = mk_sqwrite_compressor_config(o, &cfg);
        if (!r)
                r = sqfs_compressor_create(&cfg, &w->cmp);
        if (!r) {
                cfg.flags |= SQFS_COMP_FLAG_UNCOMPRESS;
                r = sqfs_compressor_create(&cfg, &w->uncmp);
        }
        if (r)
                return fail(w, r, "creating the compressor");
        r = w->cmp->write_options(w->cmp, w->file);
        if (r < 0)
                return fail(w, r, "writing the compressor options");
        if (r > 0)
                w->super.flags |= SQFS_FLAG_COMPRESSOR_OPTIONS;

        w->bw = sqfs_block_writer_create(w->file, SQFS_DEVBLK_SIZE, 0);
        w->ft = sqfs_frag_table_create(0);
        if (!w->bw || !w->ft)
                return fail(w, SQFS_ERROR_ALLOC, "creating the block writer");
        unsigned workers = o->workers;
        if (!workers) {
                long n = sysconf(_SC_NPROCESSORS_ONLN);
                workers = n > 0 ? (unsigned)n : 1;
        }
        sqfs_block_processor_desc_t desc = {
                .size = sizeof(desc),
                .max_block_size = bs,
                .num_workers = workers,
                .max_backlog = workers * 8 + 2,
                .cmp = w->cmp,
                .wr = w->bw,
                .tbl = w->ft,
                .file = w->file,
                .uncmp = w->uncmp,
        };
        r = sqfs_block_processor_create_ex(&desc, &w->bp);
        if (r)
                return fail(w, r, "creating the block processor");
        w->buf = malloc(bs);
        if (!w->buf)
                return fail(w, SQFS_ERROR_ALLOC, "allocating a block buffer");
        if (o->block_copy && mk_sqcopy_new(w->file, w->bw, w->ft, &cfg, &w->copy) < 0)
                return fail(w, SQFS_ERROR_ALLOC, "creating the block copier");
        return 0;
}

/*
 * Block copy goes first, straight through the block writer, while the block
 * processor is still idle (the two must never interleave). copied[i] says
 * which files are done.
 */
static void progress(writer *w, uint64_t add)
{
        w->done += add;
        if (w->o->progress)
                w->o->progress(w->o->progress_userdata, w->done, w->total);
}

static int copy_data(writer *w, bool *copied)
{
        for (size_t i = 0; i < w->nv; i++) {
                fsnode *n = w->v[i].n;
                if (mk_fsnode_get_kind(n) != FSNODE_FILE)
                        continue;
                void *key;
                sqimage *img = mk_sqimage_from_source(mk_fsnode_file_source(n, NULL, &key));
                if (!img)
                        continue;
                int r = mk_sqcopy_file(w->copy, img, key, &w->v[i].inode, w->err);
                if (r < 0)
                        return r;
                copied[i] = r > 0;
                if (copied[i])
                        progress(w, mk_fsnode_file_size(n));
        }
        return 0;
}

/* All file data first: inodes can only be written once every block is placed. */
static int write_data(writer *w)
{
        uint32_t bs = w->o->block_size ? w->o->block_size : SQFS_DEFAULT_BLOCK_SIZE;
        _cleanup_free_ bool *copied = calloc(w->nv ? w->nv : 1, sizeof(*copied));
        if (!copied)
                return fail(w, SQFS_ERROR_ALLOC, "allocating the copy map");
        w->total = w->done = 0;
        for (size_t i = 0; i < w->nv; i++)
                if (mk_fsnode_get_kind(w->v[i].n) == FSNODE_FILE)
                        w->total += mk_fsnode_file_size(w->v[i].n);
        if (w->copy) {
                int r = copy_data(w, copied);
                if (r < 0)
                        return r;
        }
        for (size_t i = 0; i < w->nv; i++) {
                fsnode *n = w->v[i].n;
                if (mk_fsnode_get_kind(n) != FSNODE_FILE || copied[i])
                        continue;
                int r = sqfs_block_processor_begin_file(w->bp, &w->v[i].inode, NULL, 0);
                if (r)
                        return fail_at(w, r, "writing the data of", n);
                uint64_t size = mk_fsnode_file_size(n);
                for (uint64_t off = 0; off < size;) {
                        size_t len = size - off > bs ? bs : (size_t)(size - off);
                        r = mk_fsnode_read(n, off, w->buf, len, w->err);
                        if (r < 0)
                                return r;
                        r = sqfs_block_processor_append(w->bp, w->buf, len);
                        if (r)
                                return fail_at(w, r, "writing the data of", n);
                        off += len;
                        progress(w, len);
                }
                r = sqfs_block_processor_end_file(w->bp);
                if (r)
                        return fail_at(w, r, "writing the data of", n);
        }
        int r = sqfs_block_processor_finish(w->bp);
        return r ? fail(w, r, "writing file data") : 0;
}

/* Breadth-first inode numbers: the entries of one directory get consecutive numbers. */
static int number_inodes(writer *w)
{
        _cleanup_free_ fsnode **queue = malloc(w->nv * sizeof(*queue));
        if (!queue)
                return fail(w, SQFS_ERROR_ALLOC, "numbering inodes");
        size_t head = 0, tail = 0;
        uint32_t next = 1;
        queue[tail++] = w->v[0].n;
        w->v[0].ino = next++;
        while (head < tail) {
                fsnode *d = queue[head++];
                for (size_t i = 0; i < mk_fsnode_nchildren(d); i++) {
                        fsnode *c = mk_fsnode_child(d, i);
                        if (mk_fsnode_get_kind(c) == FSNODE_HARDLINK)
                                continue;
                        w->v[mk_fsnode_aux(c)].ino = next++;
                        if (mk_fsnode_get_kind(c) == FSNODE_DIR)
                                queue[tail++] = c;
                }
        }
        return 0;
}

static int set_common(writer *w, sqfs_inode_generic_t *inode, wnode *wn, sqfs_u32 *xattr_idx)
{
        fsnode *n = wn->n;
        inode->base.mode = (sqfs_u16)mk_fsnode_mode(n);
        inode->base.mod_time = w->o->mtime;
        inode->base.inode_number = wn->ino;
        int r = sqfs_id_table_id_to_index(w->idt, mk_fsnode_uid(n), &inode->base.uid_idx);
        if (!r)
                r = sqfs_id_table_id_to_index(w->idt, mk_fsnode_gid(n), &inode->base.gid_idx);
        if (r)
                return fail_at(w, r, "registering the owner of", n);
        *xattr_idx = 0xFFFFFFFF;
        size_t nx = mk_fsnode_nxattrs(n);
        if (!nx)
                return 0;
        r = sqfs_xattr_writer_begin(w->xw, 0);
        for (size_t i = 0; !r && i < nx; i++) {
                size_t len;
                const void *val = mk_fsnode_xattr_value(n, i, &len);
                r = sqfs_xattr_writer_add(w->xw, mk_fsnode_xattr_key(n, i), val, len);
        }
        if (!r)
                r = sqfs_xattr_writer_end(w->xw, xattr_idx);
        return r ? fail_at(w, r, "storing the extended attributes of", n) : 0;
}

static int write_inode(writer *w, sqfs_inode_generic_t *inode, wnode *wn)
{
        sqfs_u64 block;
        sqfs_u32 off;
        sqfs_meta_writer_get_position(w->im, &block, &off);
        wn->ref = (block << 16) | off;
        int r = sqfs_meta_writer_write_inode(w->im, inode);
        return r ? fail_at(w, r, "writing the inode of", wn->n) : 0;
}

static int encode_dev(writer *w, wnode *wn, sqfs_u32 *ret)
{
        dev_t rdev = mk_fsnode_rdev(wn->n);
        unsigned ma = major(rdev), mi = minor(rdev);
        if (ma > 0xfff || mi > 0xfffff)
                return fail_at(w, SQFS_ERROR_OVERFLOW, "encoding the device number of", wn->n);
        *ret = (mi & 0xff) | (ma << 8) | ((mi & ~0xffu) << 12);
        return 0;
}

static int write_leaf(writer *w, wnode *wn)
{
        fsnode *n = wn->n;
        fsnode_kind kind = mk_fsnode_get_kind(n);
        uint32_t nlink = mk_fsnode_nlink(n);
        _cleanup_free_ sqfs_inode_generic_t *own = NULL;
        sqfs_inode_generic_t *inode;
        if (kind == FSNODE_FILE) {
                inode = wn->inode;
                if (nlink > 1 && inode->base.type == SQFS_INODE_FILE) {
                        int r = sqfs_inode_make_extended(inode);
                        if (r)
                                return fail_at(w, r, "writing the inode of", n);
                }
                if (inode->base.type == SQFS_INODE_EXT_FILE)
                        inode->data.file_ext.nlink = nlink;
        } else {
                const char *target = mk_fsnode_symlink_target(n);
                size_t tlen = target ? strlen(target) : 0;
                own = calloc(1, sizeof(*own) + tlen);
                if (!own)
                        return fail(w, SQFS_ERROR_ALLOC, "allocating an inode");
                inode = own;
                switch (kind) {
                case FSNODE_SYMLINK:
                        inode->base.type = SQFS_INODE_SLINK;
                        inode->data.slink.nlink = nlink;
                        inode->data.slink.target_size = (sqfs_u32)tlen;
                        inode->payload_bytes_available = inode->payload_bytes_used = (sqfs_u32)tlen;
                        memcpy(inode->extra, target, tlen);
                        break;
                case FSNODE_CHRDEV:
                case FSNODE_BLKDEV: {
                        inode->base.type = kind == FSNODE_CHRDEV ? SQFS_INODE_CDEV : SQFS_INODE_BDEV;
                        inode->data.dev.nlink = nlink;
                        int r = encode_dev(w, wn, &inode->data.dev.devno);
                        if (r)
                                return r;
                        break;
                }
                default:
                        inode->base.type = kind == FSNODE_FIFO ? SQFS_INODE_FIFO : SQFS_INODE_SOCKET;
                        inode->data.ipc.nlink = nlink;
                        break;
                }
        }
        sqfs_u32 xattr;
        int r = set_common(w, inode, wn, &xattr);
        if (!r && xattr != 0xFFFFFFFF) {
                r = sqfs_inode_set_xattr_index(inode, xattr);
                if (r)
                        return fail_at(w, r, "writing the inode of", n);
        }
        if (!r)
                r = write_inode(w, inode, wn);
        if (kind == FSNODE_FILE) {
                free(wn->inode);
                wn->inode = NULL;
        }
        return r;
}

static int write_dir(writer *w, wnode *wn, uint32_t parent_ino)
{
        fsnode *d = wn->n;
        size_t subdirs = 0;
        int r = sqfs_dir_writer_begin(w->dw, 0);
        for (size_t i = 0; !r && i < mk_fsnode_nchildren(d); i++) {
                fsnode *c = mk_fsnode_child(d, i);
                fsnode *t = mk_fsnode_get_kind(c) == FSNODE_HARDLINK ? mk_fsnode_hardlink_target(c) : c;
                const wnode *tw = &w->v[mk_fsnode_aux(t)];
                subdirs += mk_fsnode_get_kind(c) == FSNODE_DIR;
                r = sqfs_dir_writer_add_entry(w->dw, mk_fsnode_name(c), tw->ino, tw->ref, (sqfs_u16)mk_fsnode_mode(t));
        }
        if (!r)
                r = sqfs_dir_writer_end(w->dw);
        if (r)
                return fail_at(w, r, "writing the directory", d);
        sqfs_inode_generic_t tmp = {0};
        sqfs_u32 xattr;
        r = set_common(w, &tmp, wn, &xattr);
        if (r)
                return r;
        _cleanup_free_ sqfs_inode_generic_t *inode =
                sqfs_dir_writer_create_inode(w->dw, 2 + subdirs, xattr, parent_ino);
        if (!inode)
                return fail(w, SQFS_ERROR_ALLOC, "allocating an inode");
        inode->base.mode = tmp.base.mode;
        inode->base.mod_time = tmp.base.mod_time;
        inode->base.inode_number = tmp.base.inode_number;
        inode->base.uid_idx = tmp.base.uid_idx;
        inode->base.gid_idx = tmp.base.gid_idx;
        if (inode->base.type == SQFS_INODE_DIR)
                inode->data.dir.nlink = (sqfs_u32)(2 + subdirs);
        else
                inode->data.dir_ext.nlink = (sqfs_u32)(2 + subdirs);
        return write_inode(w, inode, wn);
}

static int write_metadata(writer *w)
{
        w->idt = sqfs_id_table_create(0);
        w->xw = sqfs_xattr_writer_create(0);
        w->im = sqfs_meta_writer_create(w->file, w->cmp, 0);
        w->dm = sqfs_meta_writer_create(w->file, w->cmp, SQFS_META_WRITER_KEEP_IN_MEMORY);
        w->dw = w->dm ? sqfs_dir_writer_create(w->dm, 0) : NULL;
        if (!w->idt || !w->xw || !w->im || !w->dm || !w->dw)
                return fail(w, SQFS_ERROR_ALLOC, "creating the metadata writers");
        int r = number_inodes(w);
        if (r)
                return r;
        w->super.inode_table_start = w->file->get_size(w->file);
        /* Non-directories first, so that every directory entry (hard links
         * included) refers to an inode already placed; then directories in
         * reverse pre-order, which puts children before parents, root last. */
        for (size_t i = 0; i < w->nv; i++)
                if (mk_fsnode_get_kind(w->v[i].n) != FSNODE_DIR && (r = write_leaf(w, &w->v[i])))
                        return r;
        for (size_t i = w->nv; i-- > 0;) {
                wnode *wn = &w->v[i];
                if (mk_fsnode_get_kind(wn->n) != FSNODE_DIR)
                        continue;
                fsnode *p = mk_fsnode_parent(wn->n);
                r = write_dir(w, wn, p ? w->v[mk_fsnode_aux(p)].ino : (uint32_t)w->nv + 1);
                if (r)
                        return r;
        }
        w->super.root_inode_ref = w->v[0].ref;
        w->super.inode_count = (sqfs_u32)w->nv;

        if ((r = sqfs_meta_writer_flush(w->im)) || (r = sqfs_meta_writer_flush(w->dm)))
                return fail(w, r, "writing the inode table");
        w->super.directory_table_start = w->file->get_size(w->file);
        if ((r = sqfs_meta_write_write_to_file(w->dm)))
                return fail(w, r, "writing the directory table");
        if ((r = sqfs_frag_table_write(w->ft, w->file, &w->super, w->cmp)))
                return fail(w, r, "writing the fragment table");
        if ((r = sqfs_id_table_write(w->idt, w->file, &w->super, w->cmp)))
                return fail(w, r, "writing the id table");
        if ((r = sqfs_xattr_writer_flush(w->xw, w->file, &w->super, w->cmp)))
                return fail(w, r, "writing the xattr table");
        w->super.bytes_used = w->file->get_size(w->file);
        if ((r = sqfs_super_write(&w->super, w->file)))
                return fail(w, r, "writing the superblock");
        return 0;
}

int mk_sqwrite_tree(fstree *tree, sqfs_file_t *file, const sqwrite_opts *opts, sqwrite_stats *ret, mk_error *err)
{
        int r = mk_sqwrite_check_opts(opts, err);
        if (r < 0)
                return r;
        writer w = {.file = file, .o = opts, .err = err};
        if (file->get_size(file) != 0) {
                r = mk_error_set(err, EINVAL, "internal error: squashfs output must start empty");
                goto out;
        }
        mk_fstree_sort(tree);
        (void)mk_fstree_walk(tree, collect, &w);
        if (w.nv > 0xFFFFFFF0u) {
                r = mk_error_set(err, EFBIG, "%s: too many entries (%zu) for one squashfs image",
                                 mk_fstree_origin(tree), w.nv);
                goto out;
        }
        w.v = calloc(w.nv, sizeof(*w.v));
        if (!w.v) {
                r = mk_error_set(err, ENOMEM, "out of memory");
                goto out;
        }
        w.nv = 0;
        (void)mk_fstree_walk(tree, collect, &w);
        if ((r = open_objects(&w)) || (r = write_data(&w)) || (r = write_metadata(&w)))
                goto out;
        uint64_t used = file->get_size(file);
        r = mk_sqfile_pad(file, opts->pad ? opts->pad : 4096, err);
        if (r < 0)
                goto out;
        if (ret) {
                *ret = (sqwrite_stats){.bytes_used = used, .size = file->get_size(file), .inodes = (uint32_t)w.nv};
                if (w.copy)
                        mk_sqcopy_stats(w.copy, &ret->copied_files, &ret->copied_bytes);
        }
out:
        writer_done(&w);
        return r < 0 ? r : 0;
}
