/* SPDX-License-Identifier: MIT */
#include "builder/squashfs/sqfs-copy.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqfs/block.h>
#include <sqfs/error.h>
#include <sqfs/super.h>

#include "signing/base/macro.h"
#include "builder/squashfs/sqfs-file.h"
#include "builder/squashfs/sqfs-compressor.h"

#define SIZE_MASK 0x00FFFFFFu
#define UNCOMPRESSED (1u << 24)

/* Per source image: does it qualify, and where its fragment blocks went. */
typedef struct source {
        sqimage *img;
        bool ok;
        uint32_t nfrags;
        uint32_t *frag_map; /* component index -> root index + 1; 0 = not copied yet */
} source;

struct sqcopy {
        sqfs_file_t *out; /* the output, for write errors (ENOSPC) */
        sqfs_block_writer_t *bw;
        sqfs_frag_table_t *ft;
        sqfs_compressor_config_t dst;
        source *src;
        size_t nsrc;
        uint8_t *buf;
        uint64_t files, bytes;
};

/* Flags that change how hard the compressor works, not what the decompressor needs. */
static uint16_t effort_flags(uint16_t id)
{
        switch (id) {
        case SQFS_COMP_XZ:
                return SQFS_COMP_FLAG_XZ_EXTREME;
        case SQFS_COMP_LZMA:
                return SQFS_COMP_FLAG_LZMA_EXTREME;
        case SQFS_COMP_LZ4:
                return SQFS_COMP_FLAG_LZ4_HC;
        default:
                return 0;
        }
}

static void describe(const sqfs_compressor_config_t *c, char *buf, size_t len)
{
        const char *name = mk_sqfs_compressor_name(c->id);
        if (c->id == SQFS_COMP_LZ4)
                snprintf(buf, len, "%s, %u KiB", name, c->block_size >> 10);
        else
                snprintf(buf, len, "%s level %u, %u KiB", name, c->level, c->block_size >> 10);
}

bool mk_sqcopy_compatible(const sqfs_compressor_config_t *s, const sqfs_compressor_config_t *d, char *why, size_t len)
{
        char tmp[160];
        if (!why)
                why = tmp, len = sizeof tmp;
        if (s->id != d->id) {
                snprintf(why, len, "%s vs %s", mk_sqfs_compressor_name(s->id), mk_sqfs_compressor_name(d->id));
                return false;
        }
        if (s->block_size != d->block_size) {
                snprintf(why, len, "block size %u KiB vs %u KiB", s->block_size >> 10, d->block_size >> 10);
                return false;
        }
        uint16_t ignore = SQFS_COMP_FLAG_GENERIC_ALL | effort_flags(s->id);
        if ((s->flags & ~ignore) != (d->flags & ~ignore) || memcmp(&s->opt, &d->opt, sizeof(s->opt))) {
                snprintf(why, len, "%s options differ from the root's", mk_sqfs_compressor_name(s->id));
                return false;
        }
        char a[64];
        describe(s, a, sizeof a);
        if (s->level == d->level || s->id == SQFS_COMP_LZ4)
                snprintf(why, len, "%s, same as the root", a);
        else
                snprintf(why, len, "%s; the root's level is %u, the blocks are carried as packed", a, d->level);
        return true;
}

int mk_sqcopy_new(sqfs_file_t *out, sqfs_block_writer_t *bw, sqfs_frag_table_t *ft, const sqfs_compressor_config_t *dst,
                  sqcopy **ret)
{
        sqcopy *c = calloc(1, sizeof(*c));
        if (!c || !(c->buf = malloc(dst->block_size))) {
                free(c);
                return -ENOMEM;
        }
        c->out = out;
        c->bw = bw;
        c->ft = ft;
        c->dst = *dst;
        *ret = c;
        return 0;
}

sqcopy *mk_sqcopy_free(sqcopy *c)
{
        if (!c)
                return NULL;
        for (size_t i = 0; i < c->nsrc; i++)
                free(c->src[i].frag_map);
        free(c->src);
        free(c->buf);
        free(c);
        return NULL;
}

void mk_sqcopy_stats(const sqcopy *c, uint64_t *ret_files, uint64_t *ret_bytes)
{
        *ret_files = c->files;
        *ret_bytes = c->bytes;
}

static source *find_source(sqcopy *c, sqimage *img)
{
        for (size_t i = 0; i < c->nsrc; i++)
                if (c->src[i].img == img)
                        return &c->src[i];
        source *n = realloc(c->src, (c->nsrc + 1) * sizeof(*n));
        if (!n)
                return NULL;
        c->src = n;
        source *s = &c->src[c->nsrc];
        *s = (source){.img = img};
        sqfs_compressor_config_t cfg;
        mk_sqimage_compressor_config(img, &cfg);
        s->ok = mk_sqcopy_compatible(&cfg, &c->dst, NULL, 0);
        s->nfrags = mk_sqimage_super(img)->fragment_entry_count;
        if (s->ok && s->nfrags && !(s->frag_map = calloc(s->nfrags, sizeof(*s->frag_map))))
                return NULL;
        c->nsrc++;
        return s;
}

static int corrupt(sqimage *img, const char *what, mk_error *err)
{
        return mk_sqfile_error(mk_sqimage_file(img), SQFS_ERROR_CORRUPTED, what, err);
}

/* Cheap 32-bit hash of the stored bytes, for the block writer's dedup (it byte-compares matches). */
static uint32_t hash_bytes(const uint8_t *p, size_t n)
{
        uint64_t h = 0x9E3779B97F4A7C15ull ^ n;
        size_t i = 0;
        for (; i + 8 <= n; i += 8) {
                uint64_t v;
                memcpy(&v, p + i, 8);
                h = (h ^ v) * 0xff51afd7ed558ccdull;
                h ^= h >> 32;
        }
        for (; i < n; i++)
                h = (h ^ p[i]) * 0x100000001b3ull;
        h ^= h >> 29;
        return (uint32_t)h ? (uint32_t)h : 1;
}

/* Read len stored bytes at off of img, checked against the image's bytes_used. */
static int read_stored(sqcopy *c, sqimage *img, uint64_t off, uint32_t len, mk_error *err)
{
        uint64_t used = mk_sqimage_super(img)->bytes_used;
        if (len > c->dst.block_size || off > used || len > used - off)
                return corrupt(img, "locating a data block", err);
        sqfs_file_t *f = mk_sqimage_file(img);
        int r = f->read_at(f, off, c->buf, len);
        return r ? mk_sqfile_error(f, r, "reading a data block", err) : 0;
}

static int copy_fragment(sqcopy *c, source *s, uint32_t idx, uint32_t *ret, mk_error *err)
{
        if (idx >= s->nfrags)
                return corrupt(s->img, "looking up a fragment", err);
        if (s->frag_map[idx]) {
                *ret = s->frag_map[idx] - 1;
                return 0;
        }
        sqfs_fragment_t fr;
        int r = mk_sqimage_fragment(s->img, idx, &fr, err);
        if (r < 0)
                return r;
        uint32_t len = fr.size & SIZE_MASK;
        if (!len || (fr.size & ~(SIZE_MASK | UNCOMPRESSED)))
                return corrupt(s->img, "looking up a fragment", err);
        if ((r = read_stored(c, s->img, fr.start_offset, len, err)) < 0)
                return r;
        sqfs_u32 flags = SQFS_BLK_FRAGMENT_BLOCK | ((fr.size & UNCOMPRESSED) ? 0 : SQFS_BLK_IS_COMPRESSED);
        sqfs_u64 loc;
        sqfs_u32 out;
        r = c->bw->write_data_block(c->bw, NULL, len, hash_bytes(c->buf, len), flags, c->buf, &loc);
        if (!r)
                r = sqfs_frag_table_append(c->ft, loc, fr.size, &out);
        if (r)
                return mk_sqfile_error(c->out, r, "copying a fragment block", err);
        c->bytes += len;
        s->frag_map[idx] = out + 1;
        *ret = out;
        return 0;
}

int mk_sqcopy_file(sqcopy *c, sqimage *img, const sqfs_inode_generic_t *src, sqfs_inode_generic_t **ret, mk_error *err)
{
        source *s = find_source(c, img);
        if (!s)
                return mk_error_set(err, ENOMEM, "out of memory");
        if (!s->ok)
                return 0;
        sqfs_u64 size, start;
        sqfs_u32 frag, frag_off;
        if (sqfs_inode_get_file_size(src, &size) || sqfs_inode_get_file_block_start(src, &start) ||
            sqfs_inode_get_frag_location(src, &frag, &frag_off))
                return corrupt(img, "reading a file inode", err);
        uint32_t bs = c->dst.block_size;
        uint64_t nblocks = src->payload_bytes_used / 4;
        bool has_frag = frag != 0xFFFFFFFF;
        uint64_t want = has_frag ? size / bs : (size + bs - 1) / bs;
        if (nblocks != want || src->payload_bytes_used > src->payload_bytes_available ||
            (has_frag && (!(size % bs) || frag_off >= bs)))
                return corrupt(img, "reading a file inode", err);

        uint32_t new_frag = 0xFFFFFFFF;
        int r;
        if (has_frag && (r = copy_fragment(c, s, frag, &new_frag, err)) < 0)
                return r;

        _cleanup_free_ sqfs_inode_generic_t *inode = calloc(1, sizeof(*inode) + nblocks * 4);
        if (!inode)
                return mk_error_set(err, ENOMEM, "out of memory");
        inode->base.type = SQFS_INODE_FILE;
        inode->payload_bytes_available = inode->payload_bytes_used = (sqfs_u32)(nblocks * 4);
        memcpy(inode->extra, src->extra, nblocks * 4);
        inode->data.file.fragment_index = 0xFFFFFFFF;

        sqfs_u64 pos = start, loc = 0;
        for (uint64_t i = 0; i < nblocks; i++) {
                uint32_t word = src->extra[i], len = word & SIZE_MASK;
                if (word & ~(SIZE_MASK | UNCOMPRESSED))
                        return corrupt(img, "reading a file inode", err);
                sqfs_u32 flags = (i == 0 ? SQFS_BLK_FIRST_BLOCK : 0) | (i + 1 == nblocks ? SQFS_BLK_LAST_BLOCK : 0);
                if (!len)
                        flags |= SQFS_BLK_IS_SPARSE;
                else if (!(word & UNCOMPRESSED))
                        flags |= SQFS_BLK_IS_COMPRESSED;
                if (len && (r = read_stored(c, img, pos, len, err)) < 0)
                        return r;
                r = c->bw->write_data_block(c->bw, NULL, len, len ? hash_bytes(c->buf, len) : 0, flags, c->buf, &loc);
                if (r)
                        return mk_sqfile_error(c->out, r, "copying a data block", err);
                pos += len;
                c->bytes += len;
        }
        /* The block processor makes a file with sparse blocks extended and
         * records the bytes saved; mirror the source so the inode (and with
         * it the inode table and directory sizes) matches the recompressing path. */
        if (src->base.type == SQFS_INODE_EXT_FILE && src->data.file_ext.sparse) {
                if ((r = sqfs_inode_make_extended(inode)))
                        return mk_sqfile_error(c->out, r, "building a file inode", err);
                inode->data.file_ext.sparse = src->data.file_ext.sparse;
        }
        if ((r = sqfs_inode_set_file_size(inode, size)) || (r = sqfs_inode_set_file_block_start(inode, loc)) ||
            (r = sqfs_inode_set_frag_location(inode, new_frag, has_frag ? frag_off : 0)))
                return mk_sqfile_error(c->out, r, "building a file inode", err);
        c->files++;
        *ret = TAKE_PTR(inode);
        return 1;
}
