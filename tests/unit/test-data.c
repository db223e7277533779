/* SPDX-License-Identifier: MIT */
/*
 * The data partition's ext4: made at an offset inside a larger file,
 * reproducible, populated from an fstree, refusing content that does not
 * fit. Read back with libext2fs itself; tests/cases/data.sh checks the same
 * images with e2fsck, debugfs and cryptsetup through the helper mode:
 *
 *   test-data mkfs IMG OFFSET SIZE [CONTENT]
 *   test-data luks IMG OFFSET SIZE KEY pbkdf2|argon2id|argon2i [CONTENT]
 *   test-data keygen PATH
 *   test-data keyload PATH
 *
 * CONTENT is "sample" (the default), "none", "big:BYTES" (one file of that
 * size) or a directory. IMG must exist and be large enough. Errors go to
 * stderr as "error: MESSAGE", exit status 1.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#include <ext2fs/ext2fs.h>

#include "check.h"
#include "data-check.h"
#include "builder/data/ext4-internal.h"
#include "builder/data/ext4.h"
#include "builder/tree/fstree.h"
#include "builder/data/luks.h"
#include "builder/tree/tree-source.h"

#define OFF (3u << 20) /* where the file system starts inside the test file */
#define FS_SIZE (64u << 20)

/* Bytes made up from (seed, offset): big files without big buffers. */
static int gen_read_at(fs_source *src, const fsnode *file, uint64_t offset, void *buf, size_t len, mk_error *err)
{
        uint64_t seed;
        mk_fsnode_file_source(file, &seed, NULL);
        for (size_t i = 0; i < len; i++)
                ((unsigned char *)buf)[i] = (unsigned char)(((offset + i) >> 3) * 31 + seed);
        return 0;
}

static void gen_destroy(fs_source *src)
{
        free(src);
}

static const fs_source_ops gen_ops = {gen_read_at, NULL, gen_destroy};

static int add_gen(fstree *t, const char *path, uint64_t seed, uint64_t size, const fsnode_attr *a, mk_error *err)
{
        fs_source *src = calloc(1, sizeof(*src));
        if (!src)
                return -ENOMEM;
        *src = (fs_source){&gen_ops, 1};
        int r = mk_fstree_add_file(t, path, a, src, seed, NULL, size, NULL, err);
        mk_fs_source_unref(src);
        return r;
}

static const char long_target[] = "a/target/path/that/is/longer/than/sixty/bytes/so/it/needs/a/block";

static fstree *sample_tree(void)
{
        fstree *t = NULL;
        mk_error err = {0};
        fsnode *n;
        char xl[600];
        memset(xl, 'x', sizeof(xl));
        int r = mk_fstree_new("sample", &t);
        r = r ?: mk_fstree_add_dir(t, "", &(fsnode_attr){.perm = 0751, .uid = 0, .gid = 0}, NULL, &err);
        r = r ?: add_gen(t, "srv/big.bin", 7, 3000001, &(fsnode_attr){.perm = 0640, .uid = 1000, .gid = 100}, &err);
        r = r ?: mk_fstree_add_file_mem(t, "etc/hello.txt", &(fsnode_attr){.perm = 0644}, "hello\n", 6, &n, &err);
        r = r ?: mk_fstree_add_xattr(t, n, "user.probe", "yes", 3, &err);
        r = r ?: mk_fstree_add_xattr(t, n, "security.big", xl, sizeof(xl), &err); /* needs an xattr block */
        r = r
                    ?: mk_fstree_add_file_mem(t, "etc/empty", &(fsnode_attr){.perm = 0600, .uid = 70000, .gid = 80000},
                                              "", 0, NULL, &err);
        /* "aaa-link" sorts before its target: the target is created through the link. */
        r = r ?: mk_fstree_add_hardlink(t, "aaa-link", "etc/hello.txt", NULL, &err);
        r = r ?: mk_fstree_add_symlink(t, "link", &(fsnode_attr){.perm = 0777}, "etc/hello.txt", NULL, &err);
        r = r ?: mk_fstree_add_symlink(t, "srv/long", &(fsnode_attr){.perm = 0777, .uid = 5}, long_target, NULL, &err);
        r = r
                    ?: mk_fstree_add_special(t, "dev/console", &(fsnode_attr){.perm = 0600}, FSNODE_CHRDEV,
                                             makedev(5, 1), NULL, &err);
        r = r
                    ?: mk_fstree_add_special(t, "dev/nvme", &(fsnode_attr){.perm = 0660, .gid = 6}, FSNODE_BLKDEV,
                                             makedev(259, 70000), NULL, &err);
        r = r ?: mk_fstree_add_special(t, "run/fifo", &(fsnode_attr){.perm = 0644}, FSNODE_FIFO, 0, NULL, &err);
        r = r ?: mk_fstree_add_special(t, "run/sock", &(fsnode_attr){.perm = 0755}, FSNODE_SOCKET, 0, NULL, &err);
        r = r ?: mk_fstree_add_dir(t, "lost+found", &(fsnode_attr){.perm = 0700}, NULL, &err);
        r = r ?: mk_fstree_add_dir(t, "tmp", &(fsnode_attr){.perm = 01777}, &n, &err);
        r = r ?: mk_fstree_add_xattr(t, n, "trusted.dir", "d", 1, &err);
        for (int i = 0; i < 300 && !r; i++) { /* several directory blocks */
                char p[64];
                snprintf(p, sizeof(p), "many/file-with-a-longish-name-%03d", i);
                r = mk_fstree_add_file_mem(t, p, &(fsnode_attr){.perm = 0644}, p, strlen(p), NULL, &err);
        }
        if (r < 0) {
                fprintf(stderr, "sample tree: %s\n", err.msg);
                exit(2);
        }
        return t;
}

static fstree *big_tree(uint64_t size, unsigned files)
{
        fstree *t = NULL;
        mk_error err = {0};
        int r = mk_fstree_new("big", &t);
        for (unsigned i = 0; i < files && !r; i++) {
                char p[32];
                snprintf(p, sizeof(p), "f%05u", i);
                r = add_gen(t, p, i, size, &(fsnode_attr){.perm = 0644}, &err);
        }
        if (r < 0) {
                fprintf(stderr, "big tree: %s\n", err.msg);
                exit(2);
        }
        return t;
}

static mk_ext4_opts test_opts(void)
{
        mk_ext4_opts o = {.label = "data", .mtime = 1767225600};
        const char *sde = getenv("SOURCE_DATE_EPOCH");
        if (sde)
                o.mtime = strtoll(sde, NULL, 10);
        for (int i = 0; i < 16; i++) {
                o.uuid[i] = (uint8_t)(i + 1);
                o.hash_seed[i] = (uint8_t)(0xa5 ^ i);
        }
        return o;
}

/* A sparse file of len bytes with markers just before and after [off, off + size). */
static int make_disk(char *path, uint64_t len, uint64_t off, uint64_t size)
{
        int fd = mkstemp(path);
        if (fd < 0 || ftruncate(fd, (off_t)len) < 0 || pwrite(fd, "BEFORE", 6, (off_t)off - 6) != 6 ||
            pwrite(fd, "AFTER", 5, (off_t)(off + size)) != 5) {
                perror(path);
                exit(2);
        }
        return fd;
}

static bool markers_ok(int fd, uint64_t off, uint64_t size)
{
        char b[6], a[5];
        return pread(fd, b, 6, (off_t)off - 6) == 6 && !memcmp(b, "BEFORE", 6) &&
               pread(fd, a, 5, (off_t)(off + size)) == 5 && !memcmp(a, "AFTER", 5);
}

static bool same_bytes(int a, int b, uint64_t len)
{
        static char x[1 << 16], y[1 << 16];
        for (uint64_t off = 0; off < len; off += sizeof(x)) {
                size_t n = len - off > sizeof(x) ? sizeof(x) : (size_t)(len - off);
                if (pread(a, x, n, (off_t)off) != (ssize_t)n || pread(b, y, n, (off_t)off) != (ssize_t)n ||
                    memcmp(x, y, n))
                        return false;
        }
        return true;
}

static int write_fs(const char *path, int fd, uint64_t size, fstree *t, mk_error *err)
{
        mk_ext4_opts o = test_opts();
        return mk_ext4_write(path, fd, OFF, size, &o, t, err);
}

static void test_reproducible_at_offset(void)
{
        char p1[] = "/tmp/test-data.XXXXXX", p2[] = "/tmp/test-data.XXXXXX";
        int fd1 = make_disk(p1, OFF + FS_SIZE + 4096, OFF, FS_SIZE);
        int fd2 = make_disk(p2, OFF + FS_SIZE + 4096, OFF, FS_SIZE);
        /* Garbage in the second range: the result must not depend on it. */
        CHECK(pwrite(fd2, "garbage", 7, OFF + (5u << 20)) == 7);
        fstree *t = sample_tree();
        mk_error err = {0};
        CHECK(write_fs(p1, fd1, FS_SIZE, t, &err) == 0);
        CHECK(write_fs(p2, fd2, FS_SIZE, t, &err) == 0);
        if (mk_error_isset(&err))
                fprintf(stderr, "%s\n", err.msg);
        CHECK(markers_ok(fd1, OFF, FS_SIZE) && markers_ok(fd2, OFF, FS_SIZE));
        CHECK(same_bytes(fd1, fd2, OFF + FS_SIZE + 4096));
        mk_fstree_free(t);
        unlink(p1);
        unlink(p2);
        close(fd1);
        close(fd2);
}

/* Read the file system back with libext2fs: names, inodes, content, xattrs. */
static void test_read_back(void)
{
        char p[] = "/tmp/test-data.XXXXXX";
        int fd = make_disk(p, OFF + FS_SIZE, OFF, FS_SIZE - 4096);
        fstree *t = sample_tree();
        mk_error err = {0};
        CHECK(write_fs(p, fd, FS_SIZE - 4096, t, &err) == 0);
        mk_fstree_free(t);
        ext2_filsys fs = NULL;
        char opt[32];
        snprintf(opt, sizeof(opt), "offset=%u", OFF);
        CHECK(ext2fs_open2(p, opt, EXT2_FLAG_64BITS, 0, 0, unix_io_manager, &fs) == 0);
        if (!fs)
                goto out;
        CHECK(fs->super->s_mkfs_time == 1767225600 && fs->super->s_wtime == 1767225600);
        CHECK(!strcmp((const char *)fs->super->s_volume_name, "data") && fs->super->s_uuid[15] == 16);
        ext2_ino_t hello = 0, link = 0, empty = 0, dev = 0, lpf = 0;
        CHECK(ext2fs_namei(fs, EXT2_ROOT_INO, EXT2_ROOT_INO, "etc/hello.txt", &hello) == 0);
        CHECK(ext2fs_namei(fs, EXT2_ROOT_INO, EXT2_ROOT_INO, "aaa-link", &link) == 0);
        CHECK(hello && hello == link);
        struct ext2_inode in;
        CHECK(ext2fs_read_inode(fs, hello, &in) == 0 && in.i_links_count == 2 && in.i_mode == (LINUX_S_IFREG | 0644));
        CHECK(in.i_mtime == 1767225600 && in.i_ctime == 1767225600);
        ext2_file_t f;
        char buf[16] = {0};
        unsigned got = 0;
        CHECK(ext2fs_file_open(fs, hello, 0, &f) == 0);
        CHECK(ext2fs_file_read(f, buf, sizeof(buf), &got) == 0 && got == 6 && !memcmp(buf, "hello\n", 6));
        CHECK(ext2fs_file_close(f) == 0);
        struct ext2_xattr_handle *h;
        void *v = NULL;
        size_t vlen = 0;
        CHECK(ext2fs_xattrs_open(fs, hello, &h) == 0 && ext2fs_xattrs_read(h) == 0);
        CHECK(ext2fs_xattr_get(h, "user.probe", &v, &vlen) == 0 && vlen == 3 && !memcmp(v, "yes", 3));
        free(v);
        CHECK(ext2fs_xattr_get(h, "security.big", &v, &vlen) == 0 && vlen == 600);
        free(v);
        ext2fs_xattrs_close(&h);
        CHECK(ext2fs_namei(fs, EXT2_ROOT_INO, EXT2_ROOT_INO, "etc/empty", &empty) == 0);
        CHECK(ext2fs_read_inode(fs, empty, &in) == 0 && inode_uid(in) == 70000 && inode_gid(in) == 80000);
        CHECK(ext2fs_namei(fs, EXT2_ROOT_INO, EXT2_ROOT_INO, "dev/nvme", &dev) == 0);
        CHECK(ext2fs_read_inode(fs, dev, &in) == 0 && LINUX_S_ISBLK(in.i_mode) && in.i_block[0] == 0);
        CHECK(in.i_block[1] == ((70000 & 0xff) | (259 << 8) | ((70000 & ~0xffu) << 12)));
        CHECK(ext2fs_namei(fs, EXT2_ROOT_INO, EXT2_ROOT_INO, "lost+found", &lpf) == 0);
        CHECK(lpf == EXT2_FIRST_INODE(fs->super) && ext2fs_read_inode(fs, lpf, &in) == 0);
        CHECK(in.i_mode == (LINUX_S_IFDIR | 0700) && in.i_size == 16384);
        CHECK(ext2fs_read_inode(fs, EXT2_ROOT_INO, &in) == 0 && in.i_mode == (LINUX_S_IFDIR | 0751));
        ext2fs_close_free(&fs);
out:
        CHECK(markers_ok(fd, OFF, FS_SIZE - 4096));
        unlink(p);
        close(fd);
}

/* In-use blocks of the file system flashed as m that read differently from the image (at OFF of fd). The
 * backups of the reserved GDT blocks are left out: the kernel fills one before it uses it (online
 * resize), and mke2fs does not write them either. */
static unsigned differing_blocks(int m, int fd, bool *journal_differs)
{
        char dev[64];
        snprintf(dev, sizeof(dev), "/proc/self/fd/%d", m);
        ext2_filsys fs = NULL;
        if (ext2fs_open2(dev, NULL, EXT2_FLAG_64BITS, 0, 0, unix_io_manager, &fs) || ext2fs_read_bitmaps(fs)) {
                CHECK(!"the flashed file system opens");
                return 1;
        }
        struct ext2_inode ji;
        CHECK(ext2fs_read_inode(fs, EXT2_JOURNAL_INO, &ji) == 0);
        blk64_t jstart = 0;
        CHECK(ext2fs_bmap2(fs, EXT2_JOURNAL_INO, &ji, NULL, 0, 0, NULL, &jstart) == 0);
        unsigned n = 0;
        static char a[MK_EXT4_BLOCK], b[MK_EXT4_BLOCK];
        for (blk64_t blk = 0; blk < ext2fs_blocks_count(fs->super); blk++) {
                dgrp_t g = ext2fs_group_of_blk2(fs, blk);
                blk64_t rgdt = ext2fs_group_first_block2(fs, g) + 1 + fs->desc_blocks;
                if (!ext2fs_test_block_bitmap2(fs->block_map, blk) ||
                    (g && ext2fs_bg_has_super(fs, g) && blk >= rgdt && blk < rgdt + fs->super->s_reserved_gdt_blocks))
                        continue;
                if (pread(m, a, sizeof(a), (off_t)(blk * MK_EXT4_BLOCK)) != (ssize_t)sizeof(a) ||
                    pread(fd, b, sizeof(b), (off_t)(OFF + blk * MK_EXT4_BLOCK)) != (ssize_t)sizeof(b) ||
                    memcmp(a, b, sizeof(a))) {
                        n++;
                        *journal_differs |= blk > jstart && blk < jstart + EXT2_I_SIZE(&ji) / MK_EXT4_BLOCK;
                }
        }
        ext2fs_close_free(&fs);
        return n;
}

/*
 * Flashed onto used media (0xA5 bytes) through its data extents, as
 * `bmaptool copy` writes a block map, a file system initialised in full
 * reads back the same in every block it uses: the zeroed inode tables and
 * journal are data, not holes. Lazily initialised (inside LUKS2 only), the
 * journal's blocks are left out (docs/layout.md, "What is written and what is
 * a hole"), which the comparison sees.
 */
static void test_flashed(void)
{
        for (int lazy = 0; lazy < 2; lazy++) {
                char p[] = "/tmp/test-data.XXXXXX";
                int fd = make_disk(p, OFF + FS_SIZE + 4096, OFF, FS_SIZE);
                fstree *t = sample_tree();
                mk_ext4_opts o = test_opts();
                o.lazy_init = lazy;
                mk_error err = {0};
                CHECK(mk_ext4_write(p, fd, OFF, FS_SIZE, &o, t, &err) == 0);
                mk_fstree_free(t);
                int m = flash_copy(fd, OFF, FS_SIZE, 0xa5);
                bool journal = false;
                unsigned n = differing_blocks(m, fd, &journal);
                if (lazy)
                        CHECK(n > 0 && journal);
                else
                        CHECK(n == 0 && !journal);
                close(m);
                unlink(p);
                close(fd);
        }
}

static void test_empty_fs(void)
{
        char p[] = "/tmp/test-data.XXXXXX";
        int fd = make_disk(p, OFF + MK_EXT4_MIN_SIZE, OFF, MK_EXT4_MIN_SIZE);
        mk_error err = {0};
        CHECK(write_fs(p, fd, MK_EXT4_MIN_SIZE, NULL, &err) == 0);
        CHECK(markers_ok(fd, OFF, MK_EXT4_MIN_SIZE) && !mk_error_isset(&err));
        unlink(p);
        close(fd);
}

/* One bad-input case per rule, each with its exact message. */
static void test_bad_args(void)
{
        char p[] = "/tmp/test-data.XXXXXX";
        int fd = make_disk(p, OFF + FS_SIZE, OFF, FS_SIZE - 4096);
        mk_ext4_opts o = test_opts();
        mk_error err = {0};
        CHECK(mk_ext4_write(p, fd, OFF, FS_SIZE + 1, &o, NULL, &err) == -EINVAL);
        CHECK_ERR(&err,
                  "%s: data partition (ext4 of 64.0 MiB at offset 3145728): 67108865 bytes is not a usable size (ext4 "
                  "needs a multiple of 4096 bytes from 8 MiB to 16 TiB: fix the data partition's size in the layout)",
                  p);
        CHECK(mk_ext4_write(p, fd, OFF, 4u << 20, &o, NULL, &err) == -EINVAL);
        mk_error_clear(&err);
        CHECK(mk_ext4_write(p, fd, OFF + 1, 8u << 20, &o, NULL, &err) == -EINVAL);
        CHECK(strstr(err.msg, "the offset is not a multiple of 512 (align the partition)") != NULL);
        mk_error_clear(&err);
        CHECK(mk_ext4_write(p, fd, OFF + 4096, FS_SIZE, &o, NULL, &err) == -EINVAL);
        CHECK_ERR(&err,
                  "%s: the file is 70254592 bytes but the data partition ends at 70258688 (size the image before "
                  "writing partitions)",
                  p);
        o.label = "seventeen-bytes!!";
        CHECK(mk_ext4_write(p, fd, OFF, 8u << 20, &o, NULL, &err) == -EINVAL);
        CHECK(strstr(err.msg, ": label 'seventeen-bytes!!' is longer than 16 bytes (shorten it)") != NULL);
        mk_error_clear(&err);
        o = test_opts();
        o.mtime = 1LL << 31;
        CHECK(mk_ext4_write(p, fd, OFF, 8u << 20, &o, NULL, &err) == -EINVAL);
        CHECK(strstr(err.msg, ": timestamp 2147483648 is outside 1970..2038, which ext4 stores without extra bits "
                              "(set SOURCE_DATE_EPOCH to a time in that range)") != NULL);
        mk_error_clear(&err);
        o = test_opts();
        o.inode_ratio = 1024;
        CHECK(mk_ext4_write(p, fd, OFF, 8u << 20, &o, NULL, &err) == -EINVAL);
        mk_error_clear(&err);
        int other = open("/dev/null", O_RDWR);
        o = test_opts();
        CHECK(mk_ext4_write(p, other, OFF, 8u << 20, &o, NULL, &err) == -EINVAL);
        CHECK_ERR(&err, "%s: the path and the open file are different files", p);
        close(other);
        CHECK(markers_ok(fd, OFF, FS_SIZE - 4096));
        unlink(p);
        close(fd);
}

/* Content larger than the file system: refused before any write. */
static void test_too_big(void)
{
        char p[] = "/tmp/test-data.XXXXXX";
        uint64_t size = 16u << 20;
        int fd = make_disk(p, OFF + size, OFF, size);
        CHECK(pwrite(fd, "KEEP", 4, OFF + 4096) == 4);
        fstree *t = big_tree(20u << 20, 1);
        mk_error err = {0};
        CHECK(write_fs(p, fd, size, t, &err) == -ENOSPC);
        CHECK_ERR(&err,
                  "%s: data partition (ext4 of 16.0 MiB at offset 3145728): the content of 'big' needs 20.0 MiB "
                  "(20971520 bytes in 1 files, plus metadata) but the file system has 11.7 MiB free (make the data "
                  "partition at least 25 MiB, or the content smaller)",
                  p);
        char keep[4];
        CHECK(pread(fd, keep, 4, OFF + 4096) == 4 && !memcmp(keep, "KEEP", 4)); /* nothing written */
        /* Without the check, libext2fs runs out of blocks: the same kind of message. */
        mk_ext4_opts o = test_opts();
        CHECK(mk_ext4_write_unchecked(p, fd, OFF, size, &o, t, &err) == -ENOSPC);
        CHECK_ERR(&err,
                  "%s: data partition (ext4 of 16.0 MiB at offset 3145728): the content of 'big' does not fit: the "
                  "file system ran out of blocks while writing 'f00000' (make the data partition larger, or the "
                  "content smaller)",
                  p);
        mk_fstree_free(t);

        /* Too many files for the inodes (8 MiB, one inode per 64 KiB). */
        t = big_tree(0, 200);
        o.inode_ratio = 65536;
        CHECK(mk_ext4_write(p, fd, OFF, 8u << 20, &o, t, &err) == -ENOSPC);
        CHECK(strstr(err.msg, ": the content of 'big' needs 200 inodes but the file system has 117 (make the data "
                              "partition at least 14 MiB, or the content hold fewer files)") != NULL);
        mk_fstree_free(t);
        CHECK(markers_ok(fd, OFF, size));
        unlink(p);
        close(fd);
}

static void test_bad_content(void)
{
        char p[] = "/tmp/test-data.XXXXXX";
        int fd = make_disk(p, OFF + FS_SIZE, OFF, FS_SIZE);
        fstree *t = NULL;
        mk_error err = {0};
        fsnode *n;
        char big[4200];
        memset(big, 'v', sizeof(big));
        CHECK(mk_fstree_new("xa", &t) == 0);
        CHECK(mk_fstree_add_file_mem(t, "x", &(fsnode_attr){.perm = 0644}, "", 0, &n, &err) == 0);
        CHECK(mk_fstree_add_xattr(t, n, "user.huge", big, sizeof(big), &err) == 0);
        CHECK(write_fs(p, fd, FS_SIZE, t, &err) == -EFBIG);
        CHECK(strstr(err.msg, ": entry 'x' of 'xa': its extended attributes take 4224 bytes, more than the 4060 "
                              "ext4 holds for one file (make them smaller)") != NULL);
        mk_fstree_free(t);
        mk_error_clear(&err);
        CHECK(mk_fstree_new("links", &t) == 0);
        CHECK(mk_fstree_add_file_mem(t, "f", &(fsnode_attr){.perm = 0644}, "", 0, NULL, &err) == 0);
        for (unsigned i = 0; i < 65000; i++) {
                char l[32];
                snprintf(l, sizeof(l), "d%03u/l%u", i % 300, i);
                if (mk_fstree_add_hardlink(t, l, "f", NULL, &err) < 0)
                        break;
        }
        CHECK(write_fs(p, fd, FS_SIZE, t, &err) == -EMLINK);
        CHECK(strstr(err.msg, ": entry 'f' of 'links': 65001 hard links, more than the 65000 ext4 allows (use "
                              "fewer)") != NULL);
        mk_fstree_free(t);
        mk_error_clear(&err);
        CHECK(mk_fstree_new("lpf", &t) == 0);
        CHECK(mk_fstree_add_file_mem(t, "lost+found", &(fsnode_attr){.perm = 0644}, "", 0, NULL, &err) == 0);
        CHECK(write_fs(p, fd, FS_SIZE, t, &err) == -EEXIST);
        CHECK(strstr(err.msg, ": entry 'lost+found' of 'lpf': not a directory, but ext4 keeps its lost+found "
                              "directory there (rename or remove it)") != NULL);
        mk_fstree_free(t);
        unlink(p);
        close(fd);
}

static fstree *content_arg(const char *arg)
{
        fstree *t = NULL;
        mk_error err = {0};
        if (!strcmp(arg, "none"))
                return NULL;
        if (!strcmp(arg, "sample"))
                return sample_tree();
        if (!strncmp(arg, "big:", 4))
                return big_tree(strtoull(arg + 4, NULL, 10), 1);
        if (mk_fstree_new(arg, &t) < 0 || mk_tree_load_dir(arg, t, 0, &err) < 0) {
                fprintf(stderr, "error: %s\n", err.msg);
                exit(1);
        }
        return t;
}

static int helper(int argc, char **argv)
{
        mk_error err = {0};
        int r = -EINVAL;
        const char *cmd = argv[1];
        if (!strcmp(cmd, "keygen") && argc == 3) {
                r = mk_data_key_generate(argv[2], &err);
        } else if (!strcmp(cmd, "keyload") && argc == 3) {
                uint8_t *key = NULL;
                size_t len = 0;
                if ((r = mk_data_key_load(argv[2], &key, &len, &err)) == 0)
                        printf("%zu\n", len);
                mk_data_key_free(key);
        } else if ((!strcmp(cmd, "mkfs") && (argc == 5 || argc == 6)) ||
                   (!strcmp(cmd, "luks") && (argc == 7 || argc == 8))) {
                bool luks = cmd[0] == 'l';
                const char *img = argv[2], *content = argc == (luks ? 8 : 6) ? argv[argc - 1] : "sample";
                uint64_t off = strtoull(argv[3], NULL, 0), size = strtoull(argv[4], NULL, 0);
                uint64_t fs_off = luks ? off + mk_luks2_data_offset(size) : off;
                uint64_t fs_size = luks ? mk_luks2_payload_size(size) : size;
                fstree *t = content_arg(content);
                mk_ext4_opts o = test_opts();
                int fd = open(img, O_RDWR | O_CLOEXEC);
                struct timespec t0, t1, t2;
                clock_gettime(CLOCK_MONOTONIC, &t0);
                r = fd < 0 ? mk_error_set(&err, errno, "%s: %m", img)
                           : mk_ext4_write(img, fd, fs_off, fs_size, &o, t, &err);
                clock_gettime(CLOCK_MONOTONIC, &t1);
                if (fd >= 0)
                        close(fd);
                mk_fstree_free(t);
                if (r == 0 && luks) {
                        mk_luks_opts lo = {.label = "data"};
                        uint8_t *key = NULL;
                        const char *kdf = argv[6];
                        lo.pbkdf = !strcmp(kdf, "pbkdf2")     ? MK_LUKS_PBKDF2
                                   : !strcmp(kdf, "argon2id") ? MK_LUKS_ARGON2ID
                                   : !strcmp(kdf, "argon2i")  ? MK_LUKS_ARGON2I
                                                              : (mk_luks_pbkdf)99;
                        if (lo.pbkdf != MK_LUKS_PBKDF2)
                                lo.memory_kib = 32768;
                        if ((r = mk_data_key_load(argv[5], &key, &lo.key_len, &err)) == 0) {
                                lo.key = key;
                                r = mk_luks2_format(img, off, size, &lo, &err);
                        }
                        mk_data_key_free(key);
                }
                clock_gettime(CLOCK_MONOTONIC, &t2);
                if (r == 0 && getenv("TEST_DATA_TIMES"))
                        fprintf(stderr, "time: ext4 %.3f s, luks2 %.3f s\n",
                                (double)(t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9,
                                (double)(t2.tv_sec - t1.tv_sec) + (t2.tv_nsec - t1.tv_nsec) / 1e9);
        } else {
                fprintf(stderr, "usage: see tests/unit/test-data.c\n");
                return 2;
        }
        if (r < 0) {
                fprintf(stderr, "error: %s\n", err.msg);
                return 1;
        }
        return 0;
}

int main(int argc, char **argv)
{
        if (argc > 1)
                return helper(argc, argv);
        check_suite_ = "data";
        RUN(test_reproducible_at_offset);
        RUN(test_read_back);
        RUN(test_empty_fs);
        RUN(test_flashed);
        RUN(test_bad_args);
        RUN(test_too_big);
        RUN(test_bad_content);
        return check_exit();
}
