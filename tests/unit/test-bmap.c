/* SPDX-License-Identifier: MIT */
/*
 * Block maps (builder/image/bmap.c): what they list is what a device gets
 * from `bmaptool copy`, so every block that holds data is listed, zeros
 * written as data included, and a hole is not. The helper mode writes the
 * bmap mkimage's own code makes for an image (tests/cases/flash.sh flashes a
 * build's image with it, as the factory's SERIAL.img.bmap):
 *
 *   test-bmap make IMG OUT.bmap
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "builder/image/bmap.h"
#include "builder/image/digest.h"
#include "signing/base/macro.h"

#define BLK MK_BMAP_BLOCK

/* A file of 64 blocks: block 0 "MBR", block 1 zeros written as data, blocks 2..9 a hole, 10..11 'x',
 * a hole to the end. */
static int make_file(char *path)
{
        int fd = mkstemp(path);
        static char zero[BLK], x[2 * BLK];
        memset(x, 'x', sizeof(x));
        if (fd < 0 || ftruncate(fd, 64 * BLK) < 0 || pwrite(fd, "MBR", 3, 0) != 3 ||
            pwrite(fd, zero, BLK, BLK) != BLK || pwrite(fd, x, sizeof(x), 10 * BLK) != (ssize_t)sizeof(x)) {
                perror(path);
                exit(2);
        }
        return fd;
}

static void range_sha(int fd, uint64_t from, uint64_t to, char hex[65])
{
        static char buf[64 * BLK];
        CHECK(to - from <= sizeof(buf) && pread(fd, buf, to - from, (off_t)from) == (ssize_t)(to - from));
        mk_sha256_buffer(buf, to - from, hex);
}

static void test_lists_data_not_holes(void)
{
        char p[] = "/tmp/test-bmap.XXXXXX";
        int fd = make_file(p);
        mk_error err = {0};
        char *text = NULL, sha[65], want[256], h[65];
        size_t len = 0;
        CHECK(mk_bmap_make(fd, p, NULL, NULL, &text, &len, sha, &err) == 0);
        if (!text)
                goto out;
        CHECK(strlen(text) == len && strstr(text, "<MappedBlocksCount> 4 </MappedBlocksCount>"));
        CHECK(strstr(text, "<BlocksCount> 64 </BlocksCount>") && strstr(text, "<ImageSize> 262144 </ImageSize>"));
        range_sha(fd, 0, 2 * BLK, h); /* the zeros written as data are listed */
        snprintf(want, sizeof(want), "<Range chksum=\"%s\"> 0-1 </Range>", h);
        CHECK(strstr(text, want));
        range_sha(fd, 10 * BLK, 12 * BLK, h);
        snprintf(want, sizeof(want), "<Range chksum=\"%s\"> 10-11 </Range>", h);
        CHECK(strstr(text, want));
        range_sha(fd, 0, 64 * BLK, h); /* the image digest hashes holes as zeros, as sha256sum */
        CHECK_STREQ(sha, h);
        free(text);
out:
        unlink(p);
        close(fd);
}

/* A reference's digests are reused only where nothing was written since the clone. */
static void test_ref_reuse(void)
{
        char p[] = "/tmp/test-bmap.XXXXXX", q[] = "/tmp/test-bmap.XXXXXX";
        int a = make_file(p), b = make_file(q);
        mk_error err = {0};
        mk_bmap_ref *ref = NULL;
        CHECK(mk_bmap_ref_new(a, p, &ref, &err) == 0);
        CHECK(pwrite(b, "y", 1, 10 * BLK) == 1);
        mk_ranges w = {0};
        mk_ranges_add(&w, 10 * BLK, 1);
        char *tb = NULL, *tc = NULL;
        size_t lb = 0, lc = 0;
        CHECK(mk_bmap_make(b, q, ref, &w, &tb, &lb, NULL, &err) == 0);
        CHECK(mk_bmap_make(b, q, NULL, NULL, &tc, &lc, NULL, &err) == 0);
        CHECK(tb && tc && lb == lc && !strcmp(tb, tc)); /* the same map as made from scratch */
        free(tb);
        free(tc);
        mk_ranges_clear(&w);
        mk_bmap_ref_free(ref);
        unlink(p);
        unlink(q);
        close(a);
        close(b);
}

static int helper(int argc, char **argv)
{
        if (argc != 4 || strcmp(argv[1], "make")) {
                fprintf(stderr, "usage: test-bmap make IMG OUT.bmap\n");
                return 2;
        }
        int fd = open(argv[2], O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
                fprintf(stderr, "error: %s: %s\n", argv[2], strerror(errno));
                return 1;
        }
        mk_error err = {0};
        char *text = NULL;
        size_t len = 0;
        int r = mk_bmap_make(fd, argv[2], NULL, NULL, &text, &len, NULL, &err);
        close(fd);
        if (r < 0) {
                fprintf(stderr, "error: %s\n", err.msg);
                return 1;
        }
        FILE *f = fopen(argv[3], "w");
        bool ok = f && fwrite(text, 1, len, f) == len;
        ok = f && !fclose(f) && ok;
        free(text);
        if (!ok) {
                fprintf(stderr, "error: %s: cannot write\n", argv[3]);
                return 1;
        }
        return 0;
}

int main(int argc, char **argv)
{
        if (argc > 1)
                return helper(argc, argv);
        check_suite_ = "bmap";
        RUN(test_lists_data_not_holes);
        RUN(test_ref_reuse);
        return check_exit();
}
