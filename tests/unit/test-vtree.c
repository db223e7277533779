/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of the in-memory dm-verity tree (signing/verity/vtree.h) on a
 * tree made by the stock veritysetup: it opens against veritysetup's root
 * hash, every block checks, and mk_vtree_check finds the first bad block of
 * a range on 1, 2, 3 and 4 threads alike (also in the last part, at the
 * range's start and end, and from an offset); a changed tree or a wrong root
 * hash is refused.
 */
#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "signing/base/fileio.h"
#include "signing/verity/vtree.h"

#define BLOCKS 1000u /* two tree levels: 8 hash blocks under one */
#define SALT_HEX "6d6b696d6167652d76747265652d746573742d73616c742d3332206279746573"

static char dir[] = "/tmp/mkimage-vtree.XXXXXX";
static uint8_t *data, *area, salt[MK_VERITY_SALT], root[32];
static size_t area_len;

/* BLOCKS random blocks, their tree by veritysetup format; false when that fails. */
static bool setup(void)
{
        if (!mkdtemp(dir))
                return false;
        data = malloc((size_t)BLOCKS * MK_VERITY_BLOCK);
        if (!data)
                return false;
        randombytes_buf(data, (size_t)BLOCKS * MK_VERITY_BLOCK);
        char path[128], cmd[512], *out = NULL;
        size_t len;
        mk_error err = {0};
        snprintf(path, sizeof(path), "%s/data", dir);
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        bool wrote = fd >= 0 && mk_pwrite_all(fd, data, (size_t)BLOCKS * MK_VERITY_BLOCK, 0) == 0;
        if (fd >= 0)
                close(fd);
        if (!wrote)
                return false;
        snprintf(cmd, sizeof(cmd),
                 "veritysetup format --salt=%s %s/data %s/hash | sed -n 's/^Root hash:[[:space:]]*//p' > %s/root",
                 SALT_HEX, dir, dir, dir);
        if (system(cmd) != 0)
                return false;
        snprintf(path, sizeof(path), "%s/root", dir);
        if (mk_read_file(path, 256, &out, &len, &err) < 0)
                return false;
        bool ok = sodium_hex2bin(root, sizeof(root), out, len, "\n", NULL, NULL) == 0;
        free(out);
        sodium_hex2bin(salt, sizeof(salt), SALT_HEX, strlen(SALT_HEX), NULL, NULL, NULL);
        snprintf(path, sizeof(path), "%s/hash", dir);
        if (!ok || mk_read_file(path, 1 << 20, (char **)&area, &area_len, &err) < 0)
                return false;
        return area_len == mk_verity_hash_size(BLOCKS);
}

static void opens_and_checks(void)
{
        mk_vtree t;
        mk_error err = {0};
        CHECK(mk_vtree_open(area, area_len, BLOCKS, salt, root, &t, &err) == 0);
        for (unsigned th = 1; th <= 4; th++)
                CHECK(mk_vtree_check(&t, 0, data, BLOCKS, th) == BLOCKS);
        CHECK(mk_vtree_check(&t, 500, data + 500 * MK_VERITY_BLOCK, 300, 2) == 300);
        CHECK(mk_vtree_check(&t, 0, data, 0, 2) == 0);
        /* blocks at the wrong index do not match */
        CHECK(mk_vtree_check(&t, 1, data, 10, 1) == 0);
        CHECK(mk_vtree_threads() >= 1 && mk_vtree_threads() <= 4);
}

static void finds_first_bad(void)
{
        mk_vtree t;
        mk_error err = {0};
        CHECK(mk_vtree_open(area, area_len, BLOCKS, salt, root, &t, &err) == 0);
        static const unsigned bad[] = {0, 1, 499, 700, 998, 999};
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                uint8_t *p = data + (size_t)bad[i] * MK_VERITY_BLOCK + 4095;
                *p ^= 0x01;
                for (unsigned th = 1; th <= 4; th++)
                        CHECK(mk_vtree_check(&t, 0, data, BLOCKS, th) == bad[i]);
                /* a second bad block later does not hide the first, whichever thread finds it */
                data[999 * MK_VERITY_BLOCK] ^= 0x80;
                for (unsigned th = 1; th <= 4; th++)
                        CHECK(mk_vtree_check(&t, 0, data, BLOCKS, th) == bad[i]);
                data[999 * MK_VERITY_BLOCK] ^= 0x80;
                if (bad[i] >= 400)
                        CHECK(mk_vtree_check(&t, 400, data + 400 * MK_VERITY_BLOCK, BLOCKS - 400, 3) == bad[i] - 400);
                *p ^= 0x01;
        }
        CHECK(mk_vtree_check(&t, 0, data, BLOCKS, 2) == BLOCKS);
}

static void refuses_bad_trees(void)
{
        mk_vtree t;
        mk_error err = {0};
        uint8_t wrong[32];
        memcpy(wrong, root, 32);
        wrong[31] ^= 1;
        CHECK(mk_vtree_open(area, area_len, BLOCKS, salt, wrong, &t, &err) == -EBADMSG);
        CHECK(strstr(err.msg, "(the root hash)") != NULL);
        area[MK_VERITY_BLOCK + 100] ^= 1; /* the top hash block */
        mk_error_clear(&err);
        CHECK(mk_vtree_open(area, area_len, BLOCKS, salt, root, &t, &err) == -EBADMSG);
        area[MK_VERITY_BLOCK + 100] ^= 1;
        area[area_len - 1] ^= 1; /* the last block of the bottom level */
        mk_error_clear(&err);
        CHECK(mk_vtree_open(area, area_len, BLOCKS, salt, root, &t, &err) == -EBADMSG);
        CHECK(strstr(err.msg, "level 0 does not hash to its entry one level up") != NULL);
        area[area_len - 1] ^= 1;
        CHECK(mk_vtree_open(area, area_len - MK_VERITY_BLOCK, BLOCKS, salt, root, &t, &err) == -EBADMSG);
        CHECK(mk_vtree_open(area, area_len, BLOCKS, salt, root, &t, &err) == 0);
}

int main(void)
{
        check_suite_ = "vtree";
        if (sodium_init() < 0)
                return 1;
        bool ok = setup();
        if (!ok) {
                printf("FAIL: vtree/setup (veritysetup format of %u blocks)\n", BLOCKS);
                return 1;
        }
        RUN(opens_and_checks);
        RUN(finds_first_bad);
        RUN(refuses_bad_trees);
        char cmd[128];
        snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
        if (system(cmd) != 0)
                return 1;
        free(data);
        free(area);
        return check_exit();
}
