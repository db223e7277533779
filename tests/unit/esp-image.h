/* SPDX-License-Identifier: MIT */
/*
 * A scratch image with an ESP made by mk_esp_write (the real mkfs.vfat and
 * mtools) at ESP_OFF, and the stock tools' view of it: fsck.vfat -n on a
 * copy of the partition, mtools commands' output. For the FAT unit tests.
 */
#ifndef MK_TEST_ESP_IMAGE_H
#define MK_TEST_ESP_IMAGE_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "builder/esp/esp.h"
#include "check.h"

#define EPOCH 1767225600u
#define MIB (1024ull * 1024)
#define ESP_OFF MIB
#define ESP_SIZE (40 * MIB)
#define IMG_SIZE (ESP_OFF + ESP_SIZE + MIB)

static char img[64];

/* An error message without the image's name in front. */
static const char *msg(const mk_error *e)
{
        return strncmp(e->msg, img, strlen(img)) ? e->msg : e->msg + strlen(img);
}

/* A fresh image holding files on its ESP. */
static void esp_image_make(const mk_esp_file *f, size_t n)
{
        const mk_esp_opts o = {.label = "ESP", .volume_id = 0x1234abcd, .source_date_epoch = EPOCH};
        if (!*img) {
                snprintf(img, sizeof(img), "/tmp/mkimage-fat-XXXXXX");
                int fd = mkstemp(img);
                CHECK(fd >= 0);
                close(fd);
        }
        CHECK(truncate(img, 0) == 0 && truncate(img, (off_t)IMG_SIZE) == 0);
        mk_error err = {0};
        int r = mk_esp_write(img, ESP_OFF, ESP_SIZE, f, n, &o, &err);
        if (r < 0)
                fprintf(stderr, "mk_esp_write: %s\n", err.msg);
        CHECK(r == 0);
}

/* fsck.vfat -n on a copy of the ESP: 0 when clean (no repair it would make, no lost cluster). */
static int esp_image_fsck(void)
{
        char cmd[512];
        snprintf(
                cmd, sizeof(cmd),
                "set -e; dd if=%s of=%s.esp bs=1M skip=%llu count=%llu status=none; "
                "out=$(fsck.vfat -n %s.esp 2>&1) || { echo \"$out\" >&2; exit 1; }; "
                "if echo \"$out\" | grep -iE 'wrong|differ|lost|free cluster|incorrect'; then exit 1; fi; rm -f %s.esp",
                img, img, ESP_OFF / MIB, ESP_SIZE / MIB, img, img);
        return system(cmd);
}

/* What an mtools command (its name and arguments after "-i IMAGE@@OFFSET") prints, into out; its exit status. */
static inline int esp_image_mtool(const char *tool, const char *args, char *out, size_t size)
{
        char cmd[1024];
        snprintf(cmd, sizeof(cmd), "MTOOLS_SKIP_CHECK=1 %s -i '%s@@%llu' %s 2>&1", tool, img, ESP_OFF, args);
        FILE *p = popen(cmd, "r");
        CHECK(p != NULL);
        if (!p)
                return -1;
        size_t n = fread(out, 1, size - 1, p);
        out[n] = 0;
        return pclose(p);
}

#endif
