/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of the in-place FAT32 file rewrite (signing/disk/fat.h) on ESPs made
 * by mk_esp_write (the real mkfs.vfat and mtools): the content read back by
 * mtools, fsck.vfat -n clean, every changed byte inside a reported range,
 * and one case per error (missing path, folder, too large, damaged boot
 * sector, truncated image, broken chain).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "esp-image.h"
#include "signing/disk/fat.h"
#include "signing/base/fileio.h"
#include "signing/base/macro.h"
#include "builder/esp/subprocess.h"

/* A fresh image with an ESP at ESP_OFF holding 4096-byte placeholders, as a factory template has. */
static void make_esp(void)
{
        static const char zeros[4096];
        static char big[20000];
        memset(big, 'x', sizeof(big));
        const mk_esp_file f[] = {{.esp_path = "EFI/BOOT/BOOTX64.EFI", .data = big, .size = sizeof(big)},
                                 {.esp_path = "loader/loader.conf", .data = "timeout 0\n", .size = 10},
                                 {.esp_path = "slot-a/serial.yaml", .data = zeros, .size = sizeof(zeros)},
                                 {.esp_path = "slot-a/serial.yaml.minisig", .data = zeros, .size = sizeof(zeros)},
                                 {.esp_path = "slot-a/VMLINUZ", .data = big, .size = 3000}};
        esp_image_make(f, ELEMENTSOF(f));
}

static uint8_t *slurp(size_t *len)
{
        char *p = NULL;
        mk_error err = {0};
        CHECK(mk_read_file(img, 2 * IMG_SIZE, &p, len, &err) == 0);
        return (uint8_t *)p;
}

typedef struct ranges {
        uint64_t off[256], len[256];
        size_t n;
} ranges;

static void note(void *ud, uint64_t off, uint64_t len)
{
        ranges *r = ud;
        CHECK(r->n < 256);
        if (r->n < 256) {
                r->off[r->n] = off;
                r->len[r->n++] = len;
        }
}

static bool covered(const ranges *r, uint64_t at)
{
        for (size_t i = 0; i < r->n; i++)
                if (at >= r->off[i] && at - r->off[i] < r->len[i])
                        return true;
        return false;
}

/* Clear err (first error wins) and add nothing: for use inside an argument. */
static unsigned fresh(mk_error *err)
{
        mk_error_clear(err);
        return 0;
}

static void rewrite_ok(const char *path, const char *text, ranges *rg)
{
        int fd = open(img, O_RDWR | O_CLOEXEC);
        CHECK(fd >= 0);
        mk_fat_file *f = NULL;
        mk_error err = {0};
        int r = mk_fat_locate(fd, img, ESP_OFF + fresh(&err), path, &f, &err);
        if (r < 0)
                fprintf(stderr, "locate %s: %s\n", path, err.msg);
        CHECK(r == 0);
        if (f) {
                r = mk_fat_rewrite(fd, f, text, strlen(text), note, rg, &err);
                if (r < 0)
                        fprintf(stderr, "rewrite %s: %s\n", path, err.msg);
                CHECK(r == 0);
        }
        mk_fat_file_free(f);
        close(fd);
}

static void check_content(const char *path, const char *want)
{
        char *got = NULL;
        size_t len = 0;
        mk_error err = {0};
        CHECK(mk_esp_read(img, ESP_OFF, path, 1 << 20, &got, &len, &err) == 0);
        CHECK(got && len == strlen(want) && !memcmp(got, want, len));
        free(got);
}

static void test_rewrite(void)
{
        make_esp();
        size_t n0 = 0, n1 = 0;
        uint8_t *before = slurp(&n0);
        ranges rg = {.n = 0};
        const char *rec = "mkimage-serial: 1\nserial: SN-1\n", *sig = "untrusted comment: x\nRWQ...\n";
        /* Matched case-insensitively, through long and short names. */
        rewrite_ok("SLOT-A/Serial.YAML", rec, &rg);
        rewrite_ok("/slot-a//serial.yaml.minisig", sig, &rg);
        uint8_t *after = slurp(&n1);
        CHECK(n0 == n1);
        size_t changed = 0, outside = 0;
        for (size_t i = 0; before && after && i < n0 && i < n1; i++)
                if (before[i] != after[i]) {
                        changed++;
                        if (!covered(&rg, i))
                                outside++;
                }
        CHECK(changed > 0);
        CHECK(outside == 0);
        for (size_t i = 0; i < rg.n; i++)
                CHECK(rg.off[i] >= ESP_OFF && rg.off[i] + rg.len[i] <= ESP_OFF + ESP_SIZE);
        free(before);
        free(after);
        check_content("slot-a/serial.yaml", rec);
        check_content("slot-a/serial.yaml.minisig", sig);
        check_content("loader/loader.conf", "timeout 0\n");
        CHECK(esp_image_fsck() == 0);

        /* Shrunk to one cluster: the capacity follows; the file can be emptied. */
        int fd = open(img, O_RDWR | O_CLOEXEC);
        mk_fat_file *f = NULL;
        mk_error err = {0};
        CHECK(mk_fat_locate(fd, img, ESP_OFF + fresh(&err), "slot-a/serial.yaml", &f, &err) == 0);
        CHECK(f && mk_fat_file_capacity(f) > 0 && mk_fat_file_capacity(f) < 4096);
        mk_fat_file_free(f);
        close(fd);
        rewrite_ok("slot-a/serial.yaml", "", &rg);
        check_content("slot-a/serial.yaml", "");
        CHECK(esp_image_fsck() == 0);
}

/* A file located once, rewritten through a copy (the factory's way: locate in the common part, rewrite in clones). */
static void test_dup(void)
{
        make_esp();
        int fd = open(img, O_RDWR | O_CLOEXEC);
        mk_fat_file *f = NULL;
        mk_error err = {0};
        CHECK(mk_fat_locate(fd, img, ESP_OFF, "slot-a/serial.yaml", &f, &err) == 0);
        mk_fat_file *d = f ? mk_fat_file_dup(f, "clone.img") : NULL;
        CHECK(d && mk_fat_file_capacity(d) == mk_fat_file_capacity(f));
        static const char text[] = "serial: SN-DUP\n";
        CHECK(d && mk_fat_rewrite(fd, d, text, strlen(text), NULL, NULL, &err) == 0);
        CHECK(d && mk_fat_file_capacity(d) < mk_fat_file_capacity(f)); /* the copy shrank, the original did not */
        static char big[5000];
        CHECK(d && mk_fat_rewrite(fd, d, big, sizeof(big), NULL, NULL, &err) == -EFBIG);
        CHECK(strncmp(err.msg, "clone.img: ESP: ", 16) == 0);
        mk_fat_file_free(d);
        mk_fat_file_free(f);
        close(fd);
        check_content("slot-a/serial.yaml", text);
        CHECK(esp_image_fsck() == 0);
}

static void test_errors(void)
{
        make_esp();
        int fd = open(img, O_RDWR | O_CLOEXEC);
        CHECK(fd >= 0);
        mk_fat_file *f = NULL;
        mk_error err = {0};

        CHECK(mk_fat_locate(fd, img, ESP_OFF + fresh(&err), "slot-b/serial.yaml", &f, &err) == -ENOENT && !f);
        CHECK_STREQ(msg(&err), ": ESP: no 'slot-b' (looking for 'slot-b/serial.yaml')");
        CHECK(mk_fat_locate(fd, img, ESP_OFF + fresh(&err), "slot-a/missing", &f, &err) == -ENOENT);
        CHECK_STREQ(msg(&err), ": ESP: no 'slot-a/missing' (looking for 'slot-a/missing')");
        CHECK(mk_fat_locate(fd, img, ESP_OFF + fresh(&err), "slot-a", &f, &err) == -EISDIR);
        CHECK_STREQ(msg(&err), ": ESP: 'slot-a' is a folder, not a file");
        CHECK(mk_fat_locate(fd, img, ESP_OFF + fresh(&err), "loader/loader.conf/x", &f, &err) == -ENOTDIR);
        CHECK_STREQ(msg(&err), ": ESP: 'loader/loader.conf' is a file, not a folder");
        CHECK(mk_fat_locate(fd, img, ESP_OFF + fresh(&err), "", &f, &err) == -EINVAL);

        /* Larger than the placeholder: nothing written. */
        CHECK(mk_fat_locate(fd, img, ESP_OFF + fresh(&err), "slot-a/serial.yaml", &f, &err) == 0);
        static char big[4097];
        memset(big, 'y', sizeof(big));
        ranges rg = {.n = 0};
        CHECK(mk_fat_rewrite(fd, f, big + fresh(&err), sizeof(big), note, &rg, &err) == -EFBIG);
        CHECK_STREQ(msg(&err), ": ESP: 4097 bytes do not fit in the 4096 bytes reserved for 'slot-a/serial.yaml' "
                               "(shorten it, or raise the reservation and rebuild the common part)");
        CHECK(rg.n == 0);
        CHECK(mk_fat_rewrite(fd, f, big + fresh(&err), 4096, note, &rg, &err) == 0); /* exactly full fits */
        f = mk_fat_file_free(f);
        close(fd);
        CHECK(esp_image_fsck() == 0);

        /* A broken chain: the file's first cluster marked free. */
        fd = open(img, O_RDWR | O_CLOEXEC);
        uint8_t bs[512];
        CHECK(mk_pread_all(fd, bs, sizeof(bs), ESP_OFF) == 0);
        uint64_t fat = ESP_OFF + (uint64_t)(bs[14] | bs[15] << 8) * 512;
        CHECK(mk_fat_locate(fd, img, ESP_OFF + fresh(&err), "slot-a/VMLINUZ", &f, &err) == 0);
        CHECK(f && mk_fat_file_capacity(f) >= 3000);
        f = mk_fat_file_free(f);
        /* Find one of VMLINUZ's clusters: clear FAT entries one at a time until its chain breaks. */
        static const uint8_t zero4[4];
        for (uint32_t c = 2; c < 4096; c++) {
                uint8_t e[4];
                CHECK(mk_pread_all(fd, e, 4, fat + 4ull * c) == 0);
                if (!memcmp(e, zero4, 4))
                        continue;
                /* Try clearing c; if VMLINUZ's chain then fails, this is one of its clusters. */
                CHECK(mk_pwrite_all(fd, zero4, 4, fat + 4ull * c) == 0);
                int r = mk_fat_locate(fd, img, ESP_OFF + fresh(&err), "slot-a/VMLINUZ", &f, &err);
                CHECK(mk_pwrite_all(fd, e, 4, fat + 4ull * c) == 0);
                f = mk_fat_file_free(f);
                if (r == -EINVAL && strstr(err.msg, "slot-a/VMLINUZ")) {
                        CHECK(strstr(err.msg, "runs into a free cluster: run fsck.vfat on the ESP or rebuild the "
                                              "image") != NULL);
                        break;
                }
                CHECK(c < 4095);
        }

        /* A damaged boot sector. */
        uint8_t bad = 0;
        CHECK(mk_pwrite_all(fd, &bad, 1, ESP_OFF + 510) == 0);
        CHECK(mk_fat_locate(fd, img, ESP_OFF + fresh(&err), "slot-a/serial.yaml", &f, &err) == -EINVAL && !f);
        CHECK_STREQ(msg(&err), ": the ESP at byte 1048576 is not a FAT32 volume mkimage can patch (its boot sector is "
                               "damaged or not FAT32): rebuild the image");
        CHECK(mk_pwrite_all(fd, &bs[510], 1, ESP_OFF + 510) == 0);

        /* A truncated image: the directory lies beyond its end. */
        CHECK(ftruncate(fd, (off_t)(ESP_OFF + 4096)) == 0);
        CHECK(mk_fat_locate(fd, img, ESP_OFF + fresh(&err), "slot-a/serial.yaml", &f, &err) == -EIO && !f);
        CHECK(strstr(err.msg, "the image ends early (truncated?)") != NULL);
        close(fd);
        unlink(img);
}

/* The boot-sector decoder against fsck.vfat's reading of the same volume, then one broken field at a time. */
static void test_geometry(void)
{
        make_esp();
        int fd = open(img, O_RDONLY | O_CLOEXEC);
        CHECK(fd >= 0);
        uint8_t bs[512];
        CHECK(mk_pread_all(fd, bs, sizeof(bs), ESP_OFF) == 0);
        close(fd);
        mk_fat_geometry g;
        CHECK(mk_fat_geometry_decode(bs, &g) == 0);
        char cmd[512], out[4096] = "";
        snprintf(cmd, sizeof(cmd),
                 "dd if=%s of=%s.esp bs=1M skip=%llu count=%llu status=none && fsck.vfat -n -v %s.esp; rm -f %s.esp",
                 img, img, ESP_OFF / MIB, ESP_SIZE / MIB, img, img);
        FILE *p = popen(cmd, "r");
        CHECK(p != NULL);
        size_t n = fread(out, 1, sizeof(out) - 1, p);
        out[n] = 0;
        pclose(p);
        unsigned long long sector = 0, cluster = 0, reserved = 0, fats = 0, fat_bytes = 0, data_byte = 0, clusters = 0,
                           total = 0;
        const char *at;
        CHECK((at = strstr(out, "bytes per logical sector")) && sscanf(at - 12, "%llu", &sector) == 1);
        CHECK((at = strstr(out, "bytes per cluster")) && sscanf(at - 12, "%llu", &cluster) == 1);
        CHECK((at = strstr(out, "reserved sectors")) && sscanf(at - 12, "%llu", &reserved) == 1);
        CHECK((at = strstr(out, "FATs, 32 bit entries")) && sscanf(at - 12, "%llu", &fats) == 1);
        CHECK((at = strstr(out, "bytes per FAT")) && sscanf(at - 12, "%llu", &fat_bytes) == 1);
        CHECK((at = strstr(out, "Data area starts at byte ")) && sscanf(at + 25, "%llu", &data_byte) == 1);
        CHECK((at = strstr(out, "data clusters")) && sscanf(at - 12, "%llu", &clusters) == 1);
        CHECK((at = strstr(out, "sectors total")) && sscanf(at - 12, "%llu", &total) == 1);
        CHECK(g.sector_size == sector && g.cluster_size == cluster && g.reserved == reserved && g.n_fats == fats);
        CHECK(g.fat_sectors * g.sector_size == fat_bytes && g.data_sector * g.sector_size == data_byte);
        if (g.max_cluster != clusters + 1 || g.total_sectors != total)
                fprintf(stderr, "decoded %u clusters of %llu sectors; fsck.vfat: %llu of %llu\n", g.max_cluster - 1,
                        (unsigned long long)g.total_sectors, clusters, total);
        CHECK(g.max_cluster == clusters + 1 && g.total_sectors == total && total * 512 <= ESP_SIZE);
        CHECK(g.fsinfo_sector == 1);

        /* Each of these makes it something else than a FAT32 volume. */
        static const struct {
                unsigned off, len;
                uint32_t value;
        } broken[] = {
                {510, 1, 0},               /* signature */
                {11, 2, 384},              /* bytes per sector not a power of two */
                {11, 2, 8192},             /* bytes per sector too large */
                {13, 1, 0},                /* no sectors per cluster */
                {13, 1, 3},                /* not a power of two */
                {11, 3, 4096 | 32u << 16}, /* 128 KiB clusters: 64 KiB are the most */
                {14, 2, 0},                /* no reserved sectors */
                {16, 1, 0},                /* no FAT */
                {16, 1, 5},                /* too many FATs */
                {17, 2, 512},              /* a FAT16 root folder */
                {22, 2, 9},                /* a FAT16 FAT size */
                {36, 4, 0},                /* no FAT32 FAT size */
                {32, 4, 100},              /* the FATs end past the volume */
        };
        for (size_t i = 0; i < ELEMENTSOF(broken); i++) {
                uint8_t b[512];
                memcpy(b, bs, sizeof(b));
                for (unsigned k = 0; k < broken[i].len; k++)
                        b[broken[i].off + k] = (uint8_t)(broken[i].value >> (8 * k));
                mk_fat_geometry h = {.sector_size = 7};
                CHECK(mk_fat_geometry_decode(b, &h) == -EINVAL);
                if (h.sector_size != 7)
                        fprintf(stderr, "broken field %zu decoded\n", i);
                CHECK(h.sector_size == 7); /* untouched */
        }
}

int main(void)
{
        check_suite_ = "fat";
        RUN(test_geometry);
        RUN(test_rewrite);
        RUN(test_dup);
        RUN(test_errors);
        return check_exit();
}
