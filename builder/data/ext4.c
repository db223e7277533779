/* SPDX-License-Identifier: MIT */
/*
 * The skeleton follows the order of mke2fs.c main() (e2fsprogs 1.47):
 * initialize, tables, inode tables, reserved inodes, root, lost+found,
 * reserved inode accounting, bad-block inode, resize inode, journal. The
 * library applies no mke2fs.conf, so every parameter of `mke2fs -t ext4` is
 * set here. unix_io with the "offset=" option (set right after
 * ext2fs_initialize, before any I/O) places the file system inside the
 * image. Nothing reads the clock: fs->now and the superblock times are set
 * from the options before anything is written (time 0 is stored as 1: to
 * libext2fs a zero fs->now means "use the clock").
 */
#include "builder/data/ext4-internal.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "signing/base/macro.h"

#define DEFAULT_INODE_RATIO 16384u
#define MIN_INODE_RATIO 4096u
#define MAX_INODE_RATIO (64u << 20)
#define LPF_BLOCKS 4      /* lost+found is 16 KiB, as mke2fs makes it */
#define SKELETON_BLOCKS 8 /* root directory, lost+found, resize inode's indirect block, slack */

static inline void ext2fs_freep(ext2_filsys *fs)
{
        if (*fs)
                ext2fs_free(*fs);
}

static pthread_once_t et_once = PTHREAD_ONCE_INIT;
static void et_init(void)
{
        initialize_ext2_error_table();
}

static const char *mib(uint64_t bytes, char *buf, size_t len)
{
        snprintf(buf, len, "%.1f MiB", (double)bytes / (1 << 20));
        return buf;
}

const char *mk_ext4_where_str(const ext4_where *w, char *buf, size_t len)
{
        char m[32];
        snprintf(buf, len, "%s: data partition (ext4 of %s at offset %" PRIu64 ")", w->name, mib(w->size, m, sizeof(m)),
                 w->offset);
        return buf;
}

static int fit_error(const ext4_where *w, uint64_t min_size, mk_error *err)
{
        char at[512], need[32], avail[32], fix[64] = "larger";
        mk_ext4_where_str(w, at, sizeof(at));
        if (min_size)
                snprintf(fix, sizeof(fix), "at least %" PRIu64 " MiB", min_size >> 20);
        if (w->need.inodes > w->avail_inodes)
                return mk_error_set(err, ENOSPC,
                                    "%s: the content of '%s' needs %" PRIu64 " inodes but the file system has %" PRIu64
                                    " (make the data partition %s, or the content hold fewer files)",
                                    at, w->origin, w->need.inodes, w->avail_inodes, fix);
        return mk_error_set(err, ENOSPC,
                            "%s: the content of '%s' needs %s (%" PRIu64 " bytes in %" PRIu64
                            " files, plus metadata) but the file system has %s free (make the data partition %s, or "
                            "the content smaller)",
                            at, w->origin, mib(w->need.blocks * MK_EXT4_BLOCK, need, sizeof(need)), w->need.data_bytes,
                            w->need.files, mib(w->avail_blocks * MK_EXT4_BLOCK, avail, sizeof(avail)), fix);
}

int mk_ext4_fail(const ext4_where *w, errcode_t code, const char *doing, const char *path, mk_error *err)
{
        char at[512];
        mk_ext4_where_str(w, at, sizeof(at));
        pthread_once(&et_once, et_init);
        if (code == EXT2_ET_BLOCK_ALLOC_FAIL || code == EXT2_ET_INODE_ALLOC_FAIL)
                return mk_error_set(err, ENOSPC,
                                    "%s: the content of '%s' does not fit: the file system ran out of %s while %s "
                                    "'%s' (make the data partition larger, or the content smaller)",
                                    at, w->origin ? w->origin : "(none)",
                                    code == EXT2_ET_INODE_ALLOC_FAIL ? "inodes" : "blocks", doing, path ? path : "");
        int e = code > 0 && code < 4096 ? (int)code : EIO;
        if (path)
                return mk_error_set(err, e, "%s: %s '%s': %s", at, doing, path, error_message(code));
        return mk_error_set(err, e, "%s: %s: %s", at, doing, error_message(code));
}

static int check_args(const ext4_where *w, const mk_ext4_opts *o, mk_error *err)
{
        char at[512];
        mk_ext4_where_str(w, at, sizeof(at));
        if (w->size % MK_EXT4_BLOCK || w->size < MK_EXT4_MIN_SIZE || w->size / MK_EXT4_BLOCK > UINT32_MAX)
                return mk_error_set(err, EINVAL,
                                    "%s: %" PRIu64 " bytes is not a usable size (ext4 needs a multiple of 4096 "
                                    "bytes from 8 MiB to 16 TiB: fix the data partition's size in the layout)",
                                    at, w->size);
        if (w->offset % 512 || w->offset > UINT64_MAX - w->size)
                return mk_error_set(err, EINVAL, "%s: the offset is not a multiple of 512 (align the partition)", at);
        if (o->label && strlen(o->label) > MK_EXT4_LABEL_MAX)
                return mk_error_set(err, EINVAL, "%s: label '%s' is longer than %d bytes (shorten it)", at, o->label,
                                    MK_EXT4_LABEL_MAX);
        if (o->mtime < 0 || o->mtime > MK_EXT4_MTIME_MAX)
                return mk_error_set(err, EINVAL,
                                    "%s: timestamp %" PRId64 " is outside 1970..2038, which ext4 stores without "
                                    "extra bits (set SOURCE_DATE_EPOCH to a time in that range)",
                                    at, o->mtime);
        if (o->inode_ratio && (o->inode_ratio < MIN_INODE_RATIO || o->inode_ratio > MAX_INODE_RATIO))
                return mk_error_set(err, EINVAL, "%s: inode ratio %" PRIu32 " is outside 4096..67108864 bytes", at,
                                    o->inode_ratio);
        return 0;
}

/* The range must lie inside the file that fd and image_path both name. */
static int check_image(const ext4_where *w, int fd, mk_error *err)
{
        struct stat a, b;
        if (fstat(fd, &a) < 0 || stat(w->image, &b) < 0)
                return mk_error_set(err, errno, "%s: %m", w->name);
        if (a.st_dev != b.st_dev || a.st_ino != b.st_ino)
                return mk_error_set(err, EINVAL, "%s: the path and the open file are different files", w->name);
        if (!S_ISREG(a.st_mode))
                return mk_error_set(err, EINVAL, "%s: not a regular file (mkimage writes image files)", w->name);
        if ((uint64_t)a.st_size < w->offset + w->size)
                return mk_error_set(err, EINVAL,
                                    "%s: the file is %jd bytes but the data partition ends at %" PRIu64
                                    " (size the image before writing partitions)",
                                    w->name, (intmax_t)a.st_size, w->offset + w->size);
        return 0;
}

/* Zero the range: punch a hole, or write zeros where the file system cannot punch. */
static int clear_range(const ext4_where *w, int fd, mk_error *err)
{
        if (fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)w->offset, (off_t)w->size) == 0)
                return 0;
        if (errno != EOPNOTSUPP && errno != ENOSYS)
                return mk_error_set(err, errno, "%s: clearing the data partition: %m", w->name);
        _cleanup_free_ char *zero = calloc(1, 1 << 20);
        if (!zero)
                return mk_error_set(err, ENOMEM, "%s: out of memory", w->name);
        for (uint64_t done = 0; done < w->size;) {
                size_t n = w->size - done < (1 << 20) ? (size_t)(w->size - done) : (1 << 20);
                ssize_t k = pwrite(fd, zero, n, (off_t)(w->offset + done));
                if (k <= 0)
                        return mk_error_set(err, k < 0 ? errno : EIO, "%s: clearing the data partition: %m", w->name);
                done += (uint64_t)k;
        }
        return 0;
}

/* ext2fs_initialize with every mke2fs -t ext4 parameter; no I/O happens yet. */
static errcode_t init_fs(const ext4_where *w, const mk_ext4_opts *o, ext2_filsys *ret)
{
        struct ext2_super_block p = {0};
        uint64_t blocks = w->size / MK_EXT4_BLOCK;
        uint32_t ratio = o->inode_ratio ? o->inode_ratio : DEFAULT_INODE_RATIO;
        p.s_rev_level = EXT2_DYNAMIC_REV;
        p.s_log_block_size = 2; /* 1024 << 2 */
        p.s_inode_size = 256;
        p.s_log_groups_per_flex = 4;
        p.s_min_extra_isize = p.s_want_extra_isize = sizeof(struct ext2_inode_large) - EXT2_GOOD_OLD_INODE_SIZE;
        ext2fs_blocks_count_set(&p, blocks);
        ext2fs_r_blocks_count_set(&p, blocks * 5 / 100);
        p.s_inodes_count = (uint32_t)(w->size / ratio);
        ext2fs_set_feature_sparse_super(&p);
        ext2fs_set_feature_large_file(&p);
        ext2fs_set_feature_filetype(&p);
        ext2fs_set_feature_resize_inode(&p);
        ext2fs_set_feature_dir_index(&p);
        ext2fs_set_feature_xattr(&p);
        ext2fs_set_feature_journal(&p);
        ext2fs_set_feature_extents(&p);
        ext2fs_set_feature_huge_file(&p);
        ext2fs_set_feature_flex_bg(&p);
        ext2fs_set_feature_metadata_csum(&p);
        ext2fs_set_feature_64bit(&p);
        ext2fs_set_feature_dir_nlink(&p);
        ext2fs_set_feature_extra_isize(&p);

        ext2_filsys fs = NULL;
        errcode_t e = mk_ext4_io_initialize(w->name, w->fd, EXT2_FLAG_64BITS | EXT2_FLAG_RW, &p, &fs);
        if (e)
                return e;
        char opt[64];
        snprintf(opt, sizeof(opt), "offset=%" PRIu64, w->offset);
        if ((e = io_channel_set_options(fs->io, opt))) {
                ext2fs_free(fs);
                return e;
        }
        struct ext2_super_block *s = fs->super;
        /* libext2fs takes a zero fs->now for "unset" and stamps the clock instead: time 0
         * (SOURCE_DATE_EPOCH unset) is stored as the first second after it. */
        int64_t t = o->mtime ? o->mtime : 1;
        fs->now = (time_t)t;
        s->s_mkfs_time = s->s_lastcheck = (uint32_t)t;
        s->s_checkinterval = 0;
        s->s_max_mnt_count = -1;
        s->s_kbytes_written = 1;
        s->s_checksum_type = EXT2_CRC32C_CHKSUM;
        s->s_default_mount_opts = EXT2_DEFM_XATTR_USER | EXT2_DEFM_ACL;
        s->s_def_hash_version = EXT2_HASH_HALF_MD4;
        memcpy(s->s_uuid, o->uuid, sizeof(s->s_uuid));
        memcpy(s->s_hash_seed, o->hash_seed, sizeof(s->s_hash_seed));
        ext2fs_init_csum_seed(fs); /* checksums are seeded from the UUID */
        memset(s->s_volume_name, 0, sizeof(s->s_volume_name));
        if (o->label)
                memcpy(s->s_volume_name, o->label, strlen(o->label));
        if ((e = ext2fs_allocate_tables(fs)) || (e = ext2fs_convert_subcluster_bitmap(fs, &fs->block_map))) {
                ext2fs_free(fs);
                return e;
        }
        *ret = fs;
        return 0;
}

/* Inode tables, reserved inodes, root, lost+found, bad-block and resize inodes, journal. */
static errcode_t write_skeleton(ext2_filsys fs, const struct ext2fs_journal_params *jp, bool lazy)
{
        errcode_t e;
        /* Lazy: the groups keep ext2fs_initialize's INODE_UNINIT and itable_unused, so the kernel and
         * e2fsck read no inode beyond the ones in use; the kernel zeroes the rest after the first mount. */
        for (dgrp_t g = 0; !lazy && g < fs->group_desc_count; g++) {
                if ((e = ext2fs_zero_blocks2(fs, ext2fs_inode_table_loc(fs, g), (int)fs->inode_blocks_per_group, NULL,
                                             NULL)))
                        return e;
                ext2fs_bg_flags_set(fs, g, EXT2_BG_INODE_ZEROED);
                ext2fs_group_desc_csum_set(fs, g);
        }
        /* Reserved inodes need valid checksums: a zeroed buffer of the full on-disk inode size. */
        int isize = EXT2_INODE_SIZE(fs->super);
        _cleanup_free_ char *zero = calloc(1, (size_t)isize);
        if (!zero)
                return ENOMEM;
        for (ext2_ino_t i = 1; i < EXT2_FIRST_INODE(fs->super); i++)
                if ((e = ext2fs_write_inode_full(fs, i, (struct ext2_inode *)zero, isize)))
                        return e;

        if ((e = ext2fs_mkdir(fs, EXT2_ROOT_INO, EXT2_ROOT_INO, NULL)))
                return e;
        ext2_ino_t lpf;
        fs->umask = 077;
        e = ext2fs_mkdir(fs, EXT2_ROOT_INO, 0, "lost+found");
        fs->umask = 022;
        if (e || (e = ext2fs_lookup(fs, EXT2_ROOT_INO, "lost+found", 10, NULL, &lpf)))
                return e;
        for (int i = 1; i < LPF_BLOCKS; i++)
                if ((e = ext2fs_expand_dir(fs, lpf)))
                        return e;
        for (ext2_ino_t i = EXT2_ROOT_INO + 1; i < EXT2_FIRST_INODE(fs->super); i++)
                ext2fs_inode_alloc_stats2(fs, i, +1, 0);
        ext2fs_mark_ib_dirty(fs);
        ext2fs_mark_inode_bitmap2(fs->inode_map, EXT2_BAD_INO);
        ext2fs_inode_alloc_stats2(fs, EXT2_BAD_INO, +1, 0);
        if ((e = ext2fs_update_bb_inode(fs, NULL)) || (e = ext2fs_create_resize_inode(fs)))
                return e;
        struct ext2fs_journal_params j = *jp;
        return ext2fs_add_journal_inode3(fs, &j, ~0ULL, lazy ? EXT2_MKJOURNAL_LAZYINIT : 0);
}

/* What an initialized, still unwritten file system leaves for content. */
static errcode_t measure(ext2_filsys fs, ext4_where *w, struct ext2fs_journal_params *jp)
{
        errcode_t e = ext2fs_get_journal_params(jp, fs);
        if (e)
                return e;
        uint64_t free_blocks = ext2fs_free_blocks_count(fs->super);
        uint64_t meta = (uint64_t)jp->num_journal_blocks + jp->num_fc_blocks + SKELETON_BLOCKS;
        w->avail_blocks = free_blocks > meta ? free_blocks - meta : 0;
        w->avail_inodes = fs->super->s_inodes_count - EXT2_FIRST_INODE(fs->super); /* minus lost+found */
        return 0;
}

static bool fits(const ext4_where *w)
{
        return w->need.blocks <= w->avail_blocks && w->need.inodes <= w->avail_inodes;
}

/* Whether a file system of t->size made with o holds t->need (fills t's avail). */
static bool probe(ext4_where *t, const mk_ext4_opts *o)
{
        ext2_filsys fs = NULL;
        struct ext2fs_journal_params jp;
        errcode_t e = init_fs(t, o, &fs);
        if (!e)
                e = measure(fs, t, &jp);
        if (fs)
                ext2fs_free(fs);
        return !e && fits(t);
}

/*
 * The smallest size in whole MiB whose file system holds w->need, for the
 * error message (0 if none up to 16 TiB). Only tables are computed, in
 * memory: a doubling, then a bisection.
 */
static uint64_t min_size(const ext4_where *w, const mk_ext4_opts *o)
{
        const uint64_t mb = 1 << 20, max = (uint64_t)UINT32_MAX * MK_EXT4_BLOCK / mb;
        ext4_where t = *w;
        uint64_t lo = w->size / mb, hi = lo * 2;
        for (;; lo = hi, hi *= 2) {
                if (hi > max)
                        return 0;
                t.size = hi * mb;
                if (probe(&t, o))
                        break;
        }
        while (hi - lo > 1) { /* lo does not fit, hi does */
                uint64_t mid = lo + (hi - lo) / 2;
                t.size = mid * mb;
                if (probe(&t, o))
                        hi = mid;
                else
                        lo = mid;
        }
        return hi * mb;
}

static int ext4_write(const char *image_path, int fd, uint64_t offset, uint64_t size, const mk_ext4_opts *o,
                      fstree *content, bool check_fit, mk_error *err)
{
        ext4_where w = {
                .image = image_path, .name = o->name ? o->name : image_path, .fd = fd, .offset = offset, .size = size};
        if (content)
                w.origin = mk_fstree_origin(content);
        int r;
        if ((r = check_args(&w, o, err)) < 0 || (r = check_image(&w, fd, err)) < 0)
                return r;
        if (content && (r = mk_ext4_content_need(content, &w, &w.need, err)) < 0)
                return r;

        _cleanup_(ext2fs_freep) ext2_filsys fs = NULL;
        errcode_t e = init_fs(&w, o, &fs);
        if (e)
                return mk_ext4_fail(&w, e, "creating the file system", NULL, err);
        struct ext2fs_journal_params jp;
        if ((e = measure(fs, &w, &jp)))
                return mk_ext4_fail(&w, e, "sizing the journal", NULL, err);
        if (check_fit && !fits(&w))
                return fit_error(&w, min_size(&w, o), err);

        if ((r = clear_range(&w, fd, err)) < 0)
                return r;
        if ((e = write_skeleton(fs, &jp, o->lazy_init)))
                return mk_ext4_fail(&w, e, "writing the empty file system", NULL, err);
        if (content && (r = mk_ext4_populate(fs, content, &w, err)) < 0)
                return r;
        /* No fsync here: the image is synced once, when it is complete. */
        if ((e = ext2fs_close2(fs, EXT2_FLAG_FLUSH_NO_SYNC)))
                return mk_ext4_fail(&w, e, "writing the superblock and group descriptors", NULL, err);
        fs = NULL; /* freed by ext2fs_close2 */
        return 0;
}

int mk_ext4_write(const char *image_path, int fd, uint64_t offset, uint64_t size, const mk_ext4_opts *o,
                  fstree *content, mk_error *err)
{
        return ext4_write(image_path, fd, offset, size, o, content, true, err);
}

int mk_ext4_write_unchecked(const char *image_path, int fd, uint64_t offset, uint64_t size, const mk_ext4_opts *o,
                            fstree *content, mk_error *err)
{
        return ext4_write(image_path, fd, offset, size, o, content, false, err);
}
