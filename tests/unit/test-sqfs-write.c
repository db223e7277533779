/* SPDX-License-Identifier: MIT */
/* The squashfs writer, the offset file and the reader: round trips at an offset. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <sqfs/super.h>

#include "check.h"
#include "builder/tree/fstree.h"
#include "builder/squashfs/sqfs-file.h"
#include "builder/squashfs/sqfs-read.h"
#include "builder/squashfs/sqfs-write.h"
#include "builder/squashfs/sqfs-compressor.h"

#define SLOT (3u << 20) /* where the image starts inside the "disk" */

/* LeakSanitizer hooks, present only in the ASan build. */
extern void __lsan_disable(void) __attribute__((weak));
extern void __lsan_enable(void) __attribute__((weak));

/* A source that makes up its bytes: big files without big buffers. */
static int pattern_read_at(fs_source *src, const fsnode *file, uint64_t offset, void *buf, size_t len, mk_error *err)
{
        unsigned char *p = buf;
        uint64_t seed;
        mk_fsnode_file_source(file, &seed, NULL);
        for (size_t i = 0; i < len; i++) {
                uint64_t x = (offset + i) / 7 + seed;
                p[i] = (unsigned char)((x * 2654435761u) >> 13);
        }
        return 0;
}

static void pattern_destroy(fs_source *src)
{
        free(src);
}

static const fs_source_ops pattern_ops = {pattern_read_at, NULL, pattern_destroy};

static fstree *sample_tree(void)
{
        fstree *t = NULL;
        mk_error err = {0};
        CHECK(mk_fstree_new("sample", &t) == 0);
        fs_source *pat = calloc(1, sizeof(*pat));
        *pat = (fs_source){&pattern_ops, 1};
        fsnode *n;
        CHECK(mk_fstree_add_file(t, "data/big.bin", &(fsnode_attr){.perm = 0640, .uid = 1000, .gid = 100}, pat, 1, NULL,
                                 1000003, NULL, &err) == 0);
        CHECK(mk_fstree_add_file(t, "data/copy.bin", &(fsnode_attr){.perm = 0644}, pat, 1, NULL, 1000003, NULL, &err) ==
              0);
        CHECK(mk_fstree_add_file(t, "data/other.bin", &(fsnode_attr){.perm = 0644}, pat, 2, NULL, 300000, NULL, &err) ==
              0);
        mk_fs_source_unref(pat);
        CHECK(mk_fstree_add_file_mem(t, "etc/hello.txt", &(fsnode_attr){.perm = 0644}, "hello\n", 6, &n, &err) == 0);
        CHECK(mk_fstree_add_xattr(t, n, "user.probe", "yes", 3, &err) == 0);
        CHECK(mk_fstree_add_xattr(t, n, "security.selinux", "x\0y", 3, &err) == 0);
        CHECK(mk_fstree_add_file_mem(t, "etc/empty", &(fsnode_attr){.perm = 0600}, "", 0, NULL, &err) == 0);
        CHECK(mk_fstree_add_hardlink(t, "etc/hello-again.txt", "etc/hello.txt", NULL, &err) == 0);
        CHECK(mk_fstree_add_symlink(t, "link", &(fsnode_attr){.perm = 0777}, "etc/hello.txt", NULL, &err) == 0);
        CHECK(mk_fstree_add_special(t, "dev/console", &(fsnode_attr){.perm = 0600}, FSNODE_CHRDEV, makedev(5, 1), NULL,
                                    &err) == 0);
        CHECK(mk_fstree_add_special(t, "dev/big", &(fsnode_attr){.perm = 0600}, FSNODE_BLKDEV, makedev(259, 70000),
                                    NULL, &err) == 0);
        CHECK(mk_fstree_add_special(t, "run/fifo", &(fsnode_attr){.perm = 0644}, FSNODE_FIFO, 0, NULL, &err) == 0);
        CHECK(mk_fstree_add_special(t, "run/sock", &(fsnode_attr){.perm = 0755}, FSNODE_SOCKET, 0, NULL, &err) == 0);
        CHECK(mk_fstree_add_dir(t, "empty", &(fsnode_attr){.perm = 01777}, &n, &err) == 0);
        CHECK(mk_fstree_add_xattr(t, n, "trusted.dir", "d", 1, &err) == 0);
        CHECK(!mk_error_isset(&err));
        return t;
}

/* Write t at SLOT inside a fresh "disk" file; return its fd (marker bytes before SLOT). */
static int write_disk(fstree *t, unsigned workers, sqwrite_stats *st)
{
        char path[] = "/tmp/test-sqfs-write.XXXXXX";
        int fd = mkstemp(path);
        unlink(path);
        CHECK(fd >= 0);
        CHECK(pwrite(fd, "MARKER", 6, SLOT - 6) == 6);
        sqfs_file_t *f = NULL;
        mk_error err = {0};
        CHECK(mk_sqfile_open_fd(fd, "disk", SLOT, 64u << 20, SQFILE_WRITE, &f, &err) == 0);
        sqwrite_opts o = {.workers = workers, .mtime = 1767225600};
        int r = mk_sqwrite_tree(t, f, &o, st, &err);
        if (r < 0)
                fprintf(stderr, "write: %s\n", err.msg);
        CHECK(r == 0);
        sqfs_destroy(f);
        return fd;
}

static bool same_bytes(int a, int b, uint64_t len)
{
        static char x[65536], y[65536];
        for (uint64_t off = 0; off < len; off += sizeof x) {
                size_t n = len - off > sizeof x ? sizeof x : (size_t)(len - off);
                if (pread(a, x, n, (off_t)off) != (ssize_t)n || pread(b, y, n, (off_t)off) != (ssize_t)n ||
                    memcmp(x, y, n))
                        return false;
        }
        return true;
}

static sqimage *open_slot(int fd, uint64_t size)
{
        sqfs_file_t *f = NULL;
        sqimage *img = NULL;
        mk_error err = {0};
        CHECK(mk_sqfile_open_fd(dup(fd), "disk", SLOT, size, SQFILE_OWN_FD, &f, &err) == 0);
        if (mk_sqimage_open_file(f, "disk", &img, &err) < 0)
                fprintf(stderr, "open: %s\n", err.msg);
        return img;
}

static bool same_content(const fsnode *a, const fsnode *b)
{
        uint64_t size = mk_fsnode_file_size(a);
        if (size != mk_fsnode_file_size(b))
                return false;
        static char x[65536], y[65536];
        mk_error err = {0};
        for (uint64_t off = 0; off < size; off += sizeof x) {
                size_t n = size - off > sizeof x ? sizeof x : (size_t)(size - off);
                if (mk_fsnode_read(a, off, x, n, &err) < 0 || mk_fsnode_read(b, off, y, n, &err) < 0 || memcmp(x, y, n))
                        return false;
        }
        return true;
}

static void test_deterministic_and_offset(void)
{
        fstree *t = sample_tree();
        sqwrite_stats s1, s2;
        int fd1 = write_disk(t, 1, &s1), fd2 = write_disk(t, 2, &s2);
        CHECK(s1.size == s2.size && s1.bytes_used == s2.bytes_used);
        CHECK(s1.size % 4096 == 0 && s1.bytes_used <= s1.size && s1.inodes == 16);
        /* copy.bin duplicates big.bin: its blocks are stored once. */
        CHECK(s1.bytes_used < 1000003 * 2);
        CHECK(same_bytes(fd1, fd2, SLOT + s1.size));
        char marker[6];
        CHECK(pread(fd1, marker, 6, SLOT - 6) == 6 && !memcmp(marker, "MARKER", 6));
        struct stat st;
        CHECK(fstat(fd1, &st) == 0 && (uint64_t)st.st_size <= SLOT + s1.size + (1u << 20));
        close(fd1);
        close(fd2);
        mk_fstree_free(t);
}

static void test_read_back(void)
{
        fstree *t = sample_tree();
        sqwrite_stats s;
        int fd = write_disk(t, 2, &s);
        sqimage *img = open_slot(fd, s.size);
        CHECK(img != NULL);
        if (!img) {
                close(fd);
                mk_fstree_free(t);
                return;
        }
        const sqfs_super_t *sb = mk_sqimage_super(img);
        CHECK(sb->compression_id == SQFS_COMP_ZSTD && sb->block_size == 131072 && sb->modification_time == 1767225600);
        CHECK(sb->inode_count == 16 && sb->id_count == 3);

        mk_error err = {0};
        char *buf = NULL;
        size_t len = 0;
        CHECK(mk_sqimage_read_file(img, "etc/hello.txt", 100, &buf, &len, &err) == 0);
        CHECK(len == 6 && buf && !strcmp(buf, "hello\n"));
        free(buf);
        CHECK(mk_sqimage_read_file(img, "etc/nope", 100, &buf, &len, &err) == -ENOENT);
        CHECK_STREQ(err.msg, "disk: has no 'etc/nope'");
        mk_error_clear(&err);
        CHECK(mk_sqimage_read_file(img, "data/big.bin", 100, &buf, &len, &err) == -EFBIG);
        mk_error_clear(&err);

        fstree *back = NULL;
        CHECK(mk_fstree_new("back", &back) == 0);
        CHECK(mk_sqimage_load_tree(img, back, NULL, 0, MK_FS_POLICY(FSTREE_ALLOW_DEVICES | FSTREE_ALLOW_SETUID),
                                   &err) == 0);
        mk_sqimage_unref(img); /* the files keep the image open */
        mk_fstree_sort(back);
        CHECK(mk_fstree_count(back) == mk_fstree_count(t));
        const char *paths[] = {"data/big.bin", "data/copy.bin", "data/other.bin", "etc/hello.txt", "etc/empty"};
        for (size_t i = 0; i < sizeof paths / sizeof *paths; i++) {
                fsnode *a = mk_fstree_lookup(t, paths[i]), *b = mk_fstree_lookup(back, paths[i]);
                CHECK(b && mk_fsnode_mode(a) == mk_fsnode_mode(b));
                CHECK(b && mk_fsnode_uid(a) == mk_fsnode_uid(b) && mk_fsnode_gid(a) == mk_fsnode_gid(b));
                CHECK(b && same_content(a, b));
                if (b && !same_content(a, b))
                        fprintf(stderr, "content %s\n", paths[i]);
                if (!b || mk_fsnode_mode(a) != mk_fsnode_mode(b))
                        fprintf(stderr, "%s %o %o\n", paths[i], mk_fsnode_mode(a), b ? mk_fsnode_mode(b) : 0);
                CHECK(b && mk_fsnode_mtime(b) == 1767225600);
        }
        /* "hello-again.txt" sorts first, so it is the inode and "hello.txt" the second name. */
        fsnode *h = mk_fstree_lookup(back, "etc/hello.txt");
        CHECK(h && mk_fsnode_hardlink_target(h) == mk_fstree_lookup(back, "etc/hello-again.txt") &&
              mk_fsnode_nlink(h) == 2);
        fsnode *x = mk_fstree_lookup(back, "etc/hello.txt");
        CHECK(x && mk_fsnode_nxattrs(x) == 2);
        CHECK_STREQ(mk_fsnode_xattr_key(x, 0), "security.selinux");
        CHECK(x && !memcmp(mk_fsnode_xattr_value(x, 0, &len), "x\0y", 3) && len == 3);
        CHECK_STREQ(mk_fsnode_symlink_target(mk_fstree_lookup(back, "link")), "etc/hello.txt");
        CHECK(mk_fsnode_rdev(mk_fstree_lookup(back, "dev/console")) == makedev(5, 1));
        CHECK(mk_fsnode_rdev(mk_fstree_lookup(back, "dev/big")) == makedev(259, 70000));
        CHECK(mk_fsnode_get_kind(mk_fstree_lookup(back, "run/fifo")) == FSNODE_FIFO);
        CHECK(mk_fsnode_get_kind(mk_fstree_lookup(back, "run/sock")) == FSNODE_SOCKET);
        fsnode *e = mk_fstree_lookup(back, "empty");
        CHECK(e && mk_fsnode_mode(e) == (S_IFDIR | 01777) && mk_fsnode_nxattrs(e) == 1);

        /* The tree read back writes the very same image. */
        sqwrite_stats s2;
        int fd2 = write_disk(back, 1, &s2);
        CHECK(s2.size == s.size && same_bytes(fd, fd2, SLOT + s.size));
        close(fd2);
        mk_fstree_free(back);

        /* Skipping a subtree. */
        img = open_slot(fd, s.size);
        CHECK(mk_fstree_new("skip", &back) == 0);
        static const char *const skip[] = {"data", "run/sock"};
        CHECK(img && mk_sqimage_load_tree(img, back, skip, 2, MK_FS_POLICY(FSTREE_ALLOW_DEVICES | FSTREE_ALLOW_SETUID),
                                          &err) == 0);
        CHECK(!mk_fstree_lookup(back, "data") && !mk_fstree_lookup(back, "run/sock") &&
              mk_fstree_lookup(back, "run/fifo"));
        mk_fstree_free(back);
        mk_sqimage_unref(img);
        close(fd);
        mk_fstree_free(t);
}

static void test_empty_tree(void)
{
        fstree *t = NULL;
        CHECK(mk_fstree_new("empty", &t) == 0);
        sqwrite_stats s;
        int fd = write_disk(t, 1, &s);
        CHECK(s.inodes == 1 && s.size == 4096);
        sqimage *img = open_slot(fd, s.size);
        CHECK(img && mk_sqimage_super(img)->id_count == 1);
        mk_sqimage_unref(img);
        close(fd);
        mk_fstree_free(t);
}

static void test_errors(void)
{
        mk_error err = {0};
        sqwrite_opts o = {.level = 23};
        CHECK(mk_sqwrite_check_opts(&o, &err) == -EINVAL);
        CHECK_STREQ(err.msg, "compression level 23 is out of range for zstd (use 1..22)");
        mk_error_clear(&err);
        o = (sqwrite_opts){.compressor = SQFS_COMP_LZ4, .level = 3};
        CHECK(mk_sqwrite_check_opts(&o, &err) == -EINVAL);
        CHECK_STREQ(err.msg, "compressor lz4 takes no level (drop the level option)");
        mk_error_clear(&err);
        o = (sqwrite_opts){.block_size = 100000};
        CHECK(mk_sqwrite_check_opts(&o, &err) == -EINVAL);
        CHECK_STREQ(err.msg, "block size 100000 is invalid (use a power of two from 4096 to 1048576)");
        mk_error_clear(&err);
        int id = 0;
        CHECK(mk_sqfs_compressor_from_name("xz", &id) == 0 && id == SQFS_COMP_XZ);
        CHECK(mk_sqfs_compressor_from_name("lzo", &id) == -EINVAL);

        /* A region too small for the image. */
        fstree *t = sample_tree();
        char path[] = "/tmp/test-sqfs-write.XXXXXX";
        int fd = mkstemp(path);
        unlink(path);
        sqfs_file_t *f = NULL;
        CHECK(mk_sqfile_open_fd(fd, "small.img", 4096, 8192, SQFILE_WRITE | SQFILE_OWN_FD, &f, &err) == 0);
        o = (sqwrite_opts){.workers = 2};
        /* libsquashfs 1.2.0 loses the blocks in flight when its block writer
         * fails (a library leak on this error path only): don't count them. */
        if (__lsan_disable)
                __lsan_disable();
        CHECK(mk_sqwrite_tree(t, f, &o, NULL, &err) == -ENOSPC);
        if (__lsan_enable)
                __lsan_enable();
        CHECK(!strncmp(err.msg, "small.img: while writing", 24) && strstr(err.msg, "No space left on device"));
        sqfs_destroy(f);
        mk_fstree_free(t);
        mk_error_clear(&err);

        /* Not a squashfs image. */
        char path2[] = "/tmp/test-sqfs-write.XXXXXX";
        fd = mkstemp(path2);
        unlink(path2);
        CHECK(pwrite(fd, "this is not squashfs", 20, 0) == 20);
        sqimage *img = NULL;
        CHECK(mk_sqfile_open_fd(fd, "junk.comp", 0, 0, SQFILE_OWN_FD, &f, &err) == 0);
        CHECK(mk_sqimage_open_file(f, "junk.comp", &img, &err) < 0 && img == NULL);
        CHECK(!strncmp(err.msg, "junk.comp: not a valid squashfs image: ", 39));
}

static void test_other_compressors(void)
{
        static const char *names[] = {"xz", "gzip", "lz4"};
        for (size_t i = 0; i < 3; i++) {
                fstree *t = sample_tree();
                char path[] = "/tmp/test-sqfs-write.XXXXXX";
                int fd = mkstemp(path);
                unlink(path);
                sqfs_file_t *f = NULL;
                mk_error err = {0};
                sqwrite_opts o = {.workers = 2, .block_size = 65536};
                CHECK(mk_sqfs_compressor_from_name(names[i], &o.compressor) == 0);
                CHECK(mk_sqfile_open_fd(fd, "c.img", 0, 0, SQFILE_WRITE, &f, &err) == 0);
                sqwrite_stats s;
                CHECK(mk_sqwrite_tree(t, f, &o, &s, &err) == 0);
                sqfs_destroy(f);
                sqimage *img = NULL;
                CHECK(mk_sqfile_open_fd(fd, "c.img", 0, s.size, SQFILE_OWN_FD, &f, &err) == 0);
                CHECK(mk_sqimage_open_file(f, "c.img", &img, &err) == 0);
                char *buf = NULL;
                size_t len;
                CHECK(img && mk_sqimage_super(img)->compression_id == o.compressor);
                CHECK(img && mk_sqimage_read_file(img, "etc/hello.txt", 100, &buf, &len, &err) == 0 &&
                      !strcmp(buf, "hello\n"));
                free(buf);
                mk_sqimage_unref(img);
                mk_fstree_free(t);
        }
}

int main(void)
{
        check_suite_ = "sqfs-write";
        RUN(test_deterministic_and_offset);
        RUN(test_read_back);
        RUN(test_empty_tree);
        RUN(test_errors);
        RUN(test_other_compressors);
        return check_exit();
}
