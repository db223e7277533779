/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of the FAT32 file editor (signing/disk/fat-edit.h) on ESPs made
 * by mk_esp_write, checked with the stock tools after every scenario: mtype
 * and mdir for the content and the names, minfo for the free clusters,
 * fsck.vfat -n for the volume (no error, no lost cluster, FSInfo right).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "esp-image.h"
#include "signing/base/fileio.h"
#include "signing/base/macro.h"
#include "signing/disk/fat-edit.h"

static int fd = -1;

static void make(void)
{
        static char big[20000];
        memset(big, 'x', sizeof(big));
        const mk_esp_file f[] = {{.esp_path = "EFI/BOOT/BOOTX64.EFI", .data = big, .size = sizeof(big)},
                                 {.esp_path = "loader/loader.conf", .data = "timeout 0\n", .size = 10},
                                 {.esp_path = "loader/entries/slot-a+3.conf", .data = "title a\n", .size = 8},
                                 {.esp_path = "slot-a/VMLINUZ", .data = big, .size = 3000}};
        if (fd >= 0)
                close(fd);
        esp_image_make(f, ELEMENTSOF(f));
        fd = open(img, O_RDWR | O_CLOEXEC);
        CHECK(fd >= 0);
}

static void put(const char *path, const void *data, size_t len)
{
        mk_error err = {0};
        int r = mk_fat_write(fd, img, ESP_OFF, path, data, len, &err);
        if (r < 0)
                fprintf(stderr, "write %s: %s\n", path, err.msg);
        CHECK(r == 0);
}

static void put_text(const char *path, const char *text)
{
        put(path, text, strlen(text));
}

/* The content as mtype prints it and as mk_fat_read reads it. */
static void check_content(const char *path, const void *want, size_t len)
{
        static char out[1 << 20];
        char args[512];
        snprintf(args, sizeof(args), "'::/%s'", path);
        int st = esp_image_mtool("mtype", args, out, sizeof(out));
        if (st != 0 || strlen(out) != len || memcmp(out, want, len))
                fprintf(stderr, "mtype %s: status %d, %zu bytes, want %zu\n", path, st, strlen(out), len);
        CHECK(st == 0 && strlen(out) == len && !memcmp(out, want, len));
        char *got = NULL;
        size_t n = 0;
        mk_error err = {0};
        CHECK(mk_fat_read(fd, img, ESP_OFF, path, 1 << 20, &got, &n, &err) == 0);
        CHECK(got && n == len && !memcmp(got, want, len) && got[n] == 0);
        free(got);
}

/* mdir -b of a folder: its entries' names, each on a line, without the folder's path. */
static void mdir_names(const char *dir, char *out, size_t size)
{
        char args[512], raw[65536];
        snprintf(args, sizeof(args), "-b '::/%s'", dir);
        CHECK(esp_image_mtool("mdir", args, raw, sizeof(raw)) == 0);
        size_t n = 0;
        for (char *line = strtok(raw, "\n"); line; line = strtok(NULL, "\n")) {
                char *slash = strrchr(line, '/');
                n += (size_t)snprintf(out + n, size - n, "%s\n", slash ? slash + 1 : line);
        }
        out[n] = 0;
}

/* mk_fat_list's names joined the same way. */
static void list_names(const char *dir, char *out, size_t size)
{
        char **names = NULL;
        size_t n = 0, len = 0;
        mk_error err = {0};
        int r = mk_fat_list(fd, img, ESP_OFF, dir, &names, &n, &err);
        if (r < 0)
                fprintf(stderr, "list %s: %s\n", dir, err.msg);
        CHECK(r == 0);
        for (size_t i = 0; i < n; i++)
                len += (size_t)snprintf(out + len, size - len, "%s\n", names[i]);
        out[len] = 0;
        mk_fat_names_free(names);
}

static uint64_t minfo_free(void)
{
        char out[8192];
        CHECK(esp_image_mtool("minfo", "::", out, sizeof(out)) == 0);
        const char *p = strstr(out, "free clusters=");
        CHECK(p != NULL);
        return p ? strtoull(p + 14, NULL, 10) : 0;
}

static uint64_t free_bytes(void)
{
        uint64_t b = 0;
        uint32_t c = 0;
        mk_error err = {0};
        CHECK(mk_fat_free_bytes(fd, img, ESP_OFF, &b, &c, &err) == 0);
        CHECK(c == 512 && b % c == 0);
        CHECK(b / 512 == minfo_free());
        return b;
}

static void test_create(void)
{
        make();
        uint64_t before = free_bytes();
        const char *a = "title b\nlinux /slot-b/vmlinuz\n", *m = "untrusted comment: x\nRWQ\n";
        put_text("loader/entries/slot-b+3.conf.new", a);
        put_text("slot-b/vmlinuz", "kernel"); /* new folder, lower-case 8.3 */
        put_text("slot-b/initrd.img", "initrd");
        put_text("slot-b/manifest.yaml.minisig", m);                  /* 21 characters: 2 long-name slots */
        put_text("EFI/NEW/DEEP/ER/X.EFI", "deep");                    /* three new folders, an 8.3 name */
        put_text("slot-b/a-name-of-forty-characters-long.txt", "40"); /* 4 long-name slots */
        put("slot-b/empty", "", 0);
        check_content("loader/entries/slot-b+3.conf.new", a, strlen(a));
        check_content("slot-b/vmlinuz", "kernel", 6);
        check_content("slot-b/initrd.img", "initrd", 6);
        check_content("slot-b/manifest.yaml.minisig", m, strlen(m));
        check_content("EFI/NEW/DEEP/ER/X.EFI", "deep", 4);
        check_content("slot-b/a-name-of-forty-characters-long.txt", "40", 2);
        check_content("slot-b/empty", "", 0);
        char want[4096], got[4096];
        mdir_names("slot-b", want, sizeof(want));
        CHECK_STREQ(want, "vmlinuz\ninitrd.img\nmanifest.yaml.minisig\na-name-of-forty-characters-long.txt\nempty\n");
        list_names("slot-b", got, sizeof(got));
        CHECK_STREQ(got, want);
        mdir_names("loader/entries", want, sizeof(want));
        CHECK_STREQ(want, "slot-a+3.conf\nslot-b+3.conf.new\n");
        /* each file one cluster, each new folder one: slot-b, NEW, DEEP, ER */
        CHECK(before - free_bytes() == (6 + 4) * 512u);
        CHECK(esp_image_fsck() == 0);
}

static void test_replace(void)
{
        make();
        static char big[9000], small[100];
        memset(big, 'b', sizeof(big));
        memset(small, 's', sizeof(small));
        uint64_t before = free_bytes();
        put("slot-a/VMLINUZ", big, sizeof(big)); /* 6 clusters -> 18 */
        check_content("slot-a/VMLINUZ", big, sizeof(big));
        CHECK(before - free_bytes() == (18 - 6) * 512u);
        CHECK(esp_image_fsck() == 0);
        put("SLOT-A/vmlinuz", small, sizeof(small)); /* the same file, by another spelling */
        check_content("slot-a/VMLINUZ", small, sizeof(small));
        CHECK(free_bytes() - before == 5 * 512u);
        put("loader/loader.conf", "", 0);
        check_content("loader/loader.conf", "", 0);
        put_text("loader/loader.conf", "timeout 3\n");
        check_content("loader/loader.conf", "timeout 3\n", 10);
        char names[4096];
        mdir_names("slot-a", names, sizeof(names));
        CHECK_STREQ(names, "VMLINUZ\n");
        CHECK(esp_image_fsck() == 0);
}

/* Enough entries that a folder grows past its first cluster (16 slots of 512 bytes), twice over. */
static void test_many(void)
{
        make();
        char want[8192] = "", got[8192], path[64], text[64];
        size_t n = 0;
        for (int i = 0; i < 40; i++) {
                snprintf(path, sizeof(path), "many/file-%02d.conf", i);
                snprintf(text, sizeof(text), "file %d\n", i);
                put_text(path, text);
                n += (size_t)snprintf(want + n, sizeof(want) - n, "file-%02d.conf\n", i);
        }
        for (int i = 0; i < 40; i += 13) {
                snprintf(path, sizeof(path), "many/file-%02d.conf", i);
                snprintf(text, sizeof(text), "file %d\n", i);
                check_content(path, text, strlen(text));
        }
        mdir_names("many", got, sizeof(got));
        CHECK_STREQ(got, want);
        list_names("many", got, sizeof(got));
        CHECK_STREQ(got, want);
        free_bytes();
        CHECK(esp_image_fsck() == 0);
}

static void test_rename(void)
{
        make();
        mk_error err = {0};
        const char *a = "title b\n";
        put_text("loader/entries/slot-b+3.conf.new", a);
        CHECK(mk_fat_rename(fd, img, ESP_OFF, "loader/entries/slot-b+3.conf.new", "loader/entries/slot-b+3.conf",
                            &err) == 0);
        char names[4096];
        mdir_names("loader/entries", names, sizeof(names));
        CHECK_STREQ(names, "slot-a+3.conf\nslot-b+3.conf\n");
        check_content("loader/entries/slot-b+3.conf", a, strlen(a));
        CHECK(esp_image_fsck() == 0);
        /* to a name that takes more slots than the old one */
        CHECK(mk_fat_rename(fd, img, ESP_OFF, "slot-a/VMLINUZ", "slot-a/vmlinuz-a-longer-name-than-before", &err) == 0);
        mdir_names("slot-a", names, sizeof(names));
        CHECK_STREQ(names, "vmlinuz-a-longer-name-than-before\n");
        static char big[3000];
        memset(big, 'x', sizeof(big));
        check_content("slot-a/vmlinuz-a-longer-name-than-before", big, sizeof(big));
        /* and back to an 8.3 name; a change of case only */
        CHECK(mk_fat_rename(fd, img, ESP_OFF, "slot-a/vmlinuz-a-longer-name-than-before", "slot-a/KERNEL.EFI", &err) ==
              0);
        CHECK(mk_fat_rename(fd, img, ESP_OFF, "loader/entries/slot-a+3.conf", "loader/entries/SLOT-A+3.conf", &err) ==
              0);
        mdir_names("slot-a", names, sizeof(names));
        CHECK_STREQ(names, "KERNEL.EFI\n");
        mdir_names("loader/entries", names, sizeof(names));
        CHECK_STREQ(names, "SLOT-A+3.conf\nslot-b+3.conf\n");
        free_bytes();
        CHECK(esp_image_fsck() == 0);
}

static void test_remove(void)
{
        make();
        uint64_t before = free_bytes();
        static char big[5000];
        put("slot-a/big.bin", big, sizeof(big));
        CHECK(before - free_bytes() == 10 * 512u);
        mk_error err = {0};
        CHECK(mk_fat_remove(fd, img, ESP_OFF, "slot-a/big.bin", &err) == 0);
        CHECK(mk_fat_remove(fd, img, ESP_OFF, "slot-a/VMLINUZ", &err) == 0);
        CHECK(free_bytes() == before + 6 * 512u);
        char names[4096];
        mdir_names("slot-a", names, sizeof(names));
        CHECK_STREQ(names, "");
        list_names("slot-a", names, sizeof(names));
        CHECK_STREQ(names, "");
        CHECK(esp_image_fsck() == 0);
        /* the deleted slots are taken again */
        put_text("slot-a/again.txt", "again");
        check_content("slot-a/again.txt", "again", 5);
        CHECK(esp_image_fsck() == 0);
}

/* 8.3 names with the NT case bits (byte 12) are listed in their case. */
static void test_list_case(void)
{
        make();
        put_text("CASE/ABC.TXT", "1");
        put_text("CASE/DEF.TXT", "2");
        put_text("CASE/GHI", "3");
        char got[4096];
        list_names("case", got, sizeof(got));
        CHECK_STREQ(got, "ABC.TXT\nDEF.TXT\nGHI\n");
        /* the folder's slots: ".", "..", then the three; set 0x08 on ABC, 0x10 on DEF, 0x18 on GHI */
        char raw[65536];
        CHECK(esp_image_mtool("mdir", "-a '::/CASE'", raw, sizeof(raw)) == 0);
        uint8_t bs[512];
        CHECK(mk_pread_all(fd, bs, sizeof(bs), ESP_OFF) == 0);
        uint64_t data =
                ESP_OFF + ((uint64_t)(bs[14] | bs[15] << 8) + 2ull * (bs[36] | bs[37] << 8 | bs[38] << 16)) * 512;
        /* find CASE's cluster through the root's listing is long; scan the data area for "ABC     TXT" instead */
        static uint8_t area[1 << 20];
        CHECK(mk_pread_all(fd, area, sizeof(area), data) == 0);
        uint8_t *abc = memmem(area, sizeof(area), "ABC     TXT", 11);
        CHECK(abc && (size_t)(abc - area) % 32 == 0);
        if (abc) {
                uint8_t bits[3] = {0x08, 0x10, 0x18};
                for (int i = 0; i < 3; i++)
                        CHECK(mk_pwrite_all(fd, &bits[i], 1, data + (uint64_t)(abc - area) + 32u * i + 12) == 0);
        }
        list_names("case", got, sizeof(got));
        CHECK_STREQ(got, "abc.TXT\nDEF.txt\nghi\n");
        list_names("", got, sizeof(got));
        CHECK(strstr(got, "EFI\n") && strstr(got, "loader\n") && strstr(got, "slot-a\n") && strstr(got, "CASE\n"));
        CHECK(!strstr(got, "ESP\n")); /* the volume label */
        CHECK(esp_image_fsck() == 0);
}

static void test_errors(void)
{
        make();
        mk_error err = {0};
        char *text = NULL;
        size_t len = 0;
        CHECK(mk_fat_read(fd, img, ESP_OFF, "slot-a/missing", 100, &text, &len, &err) == -ENOENT && !text);
        CHECK_STREQ(msg(&err), ": ESP: no 'slot-a/missing' (looking for 'slot-a/missing')");
        mk_error_clear(&err);
        CHECK(mk_fat_read(fd, img, ESP_OFF, "slot-a/VMLINUZ", 100, &text, &len, &err) == -EFBIG && !text);
        CHECK_STREQ(msg(&err), ": ESP: 'slot-a/VMLINUZ' is 3000 bytes, more than the 100 it may be: replace it with "
                               "the file the image was built with");
        mk_error_clear(&err);
        CHECK(mk_fat_remove(fd, img, ESP_OFF, "slot-b/x.conf", &err) == -ENOENT);
        CHECK_STREQ(msg(&err), ": ESP: no 'slot-b' (looking for 'slot-b/x.conf')");
        mk_error_clear(&err);
        CHECK(mk_fat_remove(fd, img, ESP_OFF, "slot-a/nothing", &err) == -ENOENT);
        CHECK_STREQ(msg(&err), ": ESP: no 'slot-a/nothing' (looking for 'slot-a/nothing')");
        mk_error_clear(&err);
        CHECK(mk_fat_remove(fd, img, ESP_OFF, "slot-a", &err) == -EISDIR);
        CHECK_STREQ(msg(&err), ": ESP: 'slot-a' is a folder, not a file");
        mk_error_clear(&err);
        CHECK(mk_fat_rename(fd, img, ESP_OFF, "loader/loader.conf", "slot-a/loader.conf", &err) == -EXDEV);
        CHECK_STREQ(msg(&err), ": ESP: cannot rename 'loader/loader.conf' to 'slot-a/loader.conf': they are in "
                               "different folders (rename within a folder, or write the new file and remove the "
                               "old one)");
        mk_error_clear(&err);
        CHECK(mk_fat_rename(fd, img, ESP_OFF, "loader/entries/slot-a+3.conf", "loader/ENTRIES/slot-a+3.conf", &err) ==
              0); /* the same folder, spelt in another case */
        CHECK(mk_fat_rename(fd, img, ESP_OFF, "loader/loader.conf", "loader/Entries", &err) == -EEXIST);
        CHECK_STREQ(msg(&err), ": ESP: cannot rename 'loader/loader.conf' to 'loader/Entries': 'loader/Entries' "
                               "exists (remove it first)");
        mk_error_clear(&err);
        CHECK(mk_fat_rename(fd, img, ESP_OFF, "loader/nope", "loader/yes", &err) == -ENOENT);
        mk_error_clear(&err);
        CHECK(mk_fat_write(fd, img, ESP_OFF, "loader/bad:name", "x", 1, &err) == -EINVAL);
        CHECK_STREQ(msg(&err), ": ESP: cannot write 'loader/bad:name': FAT names cannot hold \" * / : < > ? \\ | "
                               "(choose another name)");
        mk_error_clear(&err);
        CHECK(mk_fat_write(fd, img, ESP_OFF, "loader/loader.conf/x", "x", 1, &err) == -ENOTDIR);
        CHECK_STREQ(msg(&err), ": ESP: 'loader/loader.conf' is a file, not a folder");
        mk_error_clear(&err);
        CHECK(mk_fat_write(fd, img, ESP_OFF, "loader", "x", 1, &err) == -EISDIR);
        mk_error_clear(&err);
        CHECK(esp_image_fsck() == 0);

        /* Not FAT32: a damaged boot sector, for every call. */
        uint8_t bs[512], bad = 0;
        CHECK(mk_pread_all(fd, bs, sizeof(bs), ESP_OFF) == 0);
        CHECK(mk_pwrite_all(fd, &bad, 1, ESP_OFF + 510) == 0);
        const char *not32 = ": the ESP at byte 1048576 is not a FAT32 volume mkimage can patch (its boot sector is "
                            "damaged or not FAT32): rebuild the image";
        uint64_t fb = 0;
        uint32_t cs = 0;
        CHECK(mk_fat_free_bytes(fd, img, ESP_OFF, &fb, &cs, &err) == -EINVAL && !cs);
        CHECK_STREQ(msg(&err), not32);
        mk_error_clear(&err);
        CHECK(mk_fat_write(fd, img, ESP_OFF, "x", "x", 1, &err) == -EINVAL);
        CHECK_STREQ(msg(&err), not32);
        mk_error_clear(&err);
        CHECK(mk_fat_rename(fd, img, ESP_OFF, "x", "y", &err) == -EINVAL);
        mk_error_clear(&err);
        char **names = NULL;
        size_t n = 0;
        CHECK(mk_fat_list(fd, img, ESP_OFF, "", &names, &n, &err) == -EINVAL && !names);
        mk_error_clear(&err);
        CHECK(mk_pwrite_all(fd, &bs[510], 1, ESP_OFF + 510) == 0);
}

/* A write that does not fit: -ENOSPC, nothing written, the old file intact. */
static void test_full(void)
{
        make();
        uint64_t room = free_bytes();
        static char fill[40 * MIB];
        memset(fill, 'f', sizeof(fill));
        /* all but 4 clusters, in one file */
        size_t n = (size_t)room - 4 * 512;
        put("filler.bin", fill, n);
        CHECK(free_bytes() == 4 * 512u);
        static char five[5 * 512];
        mk_error err = {0};
        CHECK(mk_fat_write(fd, img, ESP_OFF, "slot-a/new.bin", five, sizeof(five), &err) == -ENOSPC);
        CHECK_STREQ(msg(&err), ": ESP: no room to write 'slot-a/new.bin' (4 free clusters of 512 bytes): remove "
                               "files from the ESP, or give the layout a larger ESP and rebuild");
        mk_error_clear(&err);
        /* replacing needs the new clusters beside the old ones */
        CHECK(mk_fat_write(fd, img, ESP_OFF, "slot-a/VMLINUZ", five, sizeof(five), &err) == -ENOSPC);
        mk_error_clear(&err);
        /* a new folder's cluster counts too */
        CHECK(mk_fat_write(fd, img, ESP_OFF, "a/b/c/d/x", five, 512, &err) == -ENOSPC);
        mk_error_clear(&err);
        static char big[3000];
        memset(big, 'x', sizeof(big));
        check_content("slot-a/VMLINUZ", big, sizeof(big));
        CHECK(free_bytes() == 4 * 512u);
        CHECK(esp_image_fsck() == 0);
        /* exactly full fits */
        put("slot-a/four.bin", five, 4 * 512);
        CHECK(free_bytes() == 0);
        CHECK(esp_image_fsck() == 0);
        /* with no cluster left: an empty file in a folder with free slots, a rename in place */
        put("slot-a/empty", "", 0);
        CHECK(mk_fat_rename(fd, img, ESP_OFF, "slot-a/empty", "slot-a/EMPTY.TXT", &err) == 0);
        check_content("slot-a/EMPTY.TXT", "", 0);
        CHECK(esp_image_fsck() == 0);
}

int main(void)
{
        check_suite_ = "fat-edit";
        if (setenv("SOURCE_DATE_EPOCH", "1767225600", 1) < 0)
                return 1;
        RUN(test_create);
        RUN(test_replace);
        RUN(test_many);
        RUN(test_rename);
        RUN(test_remove);
        RUN(test_list_case);
        RUN(test_errors);
        RUN(test_full);
        if (fd >= 0)
                close(fd);
        unlink(img);
        return check_exit();
}
