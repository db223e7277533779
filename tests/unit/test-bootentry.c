/* SPDX-License-Identifier: MIT */
/*
 * Unit tests: the boot-chain verifier's Boot Loader Specification names
 * (signing/conventions/ and qemu-boot/verifier/entries.c, compiled in):
 * parsing boot counters, the name that marks an entry bad, the name the
 * builder writes, finding a slot's entry in a directory.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../qemu-boot/verifier/entries.c"
#include "check.h"

static void test_parse(void)
{
        static const struct {
                const char *name;
                char slot;
                int left, done;
        } ok[] = {
                {"slot-a.conf", 'a', -1, 0},    {"slot-b+3.conf", 'b', 3, 0}, {"slot-a+2-1.conf", 'a', 2, 1},
                {"slot-b+0-3.conf", 'b', 0, 3}, {"slot-a+0.conf", 'a', 0, 0},
        };
        static const char *const bad[] = {
                "slot-c.conf",       "slot-a",
                "slot-a+.conf",      "slot-a+3-.conf",
                "slot-a+x.conf",     "slot-a+1234567.conf",
                "slot-ab.conf",      "loader.conf",
                "slot-a.conf~",      "Slot-a.conf",
                "slot-a+3.conf.bak", "",
        };
        for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
                char s = 0;
                int l = 99, d = 99;
                CHECK(mk_bls_entry_parse(ok[i].name, &s, &l, &d));
                CHECK(s == ok[i].slot && l == ok[i].left && d == ok[i].done);
        }
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                char s;
                int l, d;
                CHECK(!mk_bls_entry_parse(bad[i], &s, &l, &d));
        }
}

static void test_bad_name(void)
{
        static const char *const pairs[][2] = {
                {"slot-a+2-1.conf", "slot-a+0-1.conf"}, /* systemd-boot counted this boot already */
                {"slot-b+1-2.conf", "slot-b+0-2.conf"}, {"slot-a+3.conf", "slot-a+0-1.conf"},
                {"slot-a.conf", "slot-a+0-1.conf"}, /* a blessed entry found broken later */
                {"slot-b+0-4.conf", "slot-b+0-4.conf"},
        };
        for (size_t i = 0; i < sizeof(pairs) / sizeof(pairs[0]); i++) {
                char out[64];
                mk_bls_entry_bad_name(pairs[i][0], out, sizeof(out));
                CHECK_STREQ(out, pairs[i][1]);
        }
}

/* The builder writes names (mk_bls_entry_name) that the device parses back. */
static void test_name_roundtrip(void)
{
        char out[64], s = 0;
        int l = 99, d = 99;
        CHECK(mk_bls_entry_name("a", 0, out, sizeof(out)));
        CHECK_STREQ(out, "slot-a.conf");
        CHECK(mk_bls_entry_parse(out, &s, &l, &d) && s == 'a' && l == -1 && d == 0);
        CHECK(mk_bls_entry_name("b", 3, out, sizeof(out)));
        CHECK_STREQ(out, "slot-b+3.conf");
        CHECK(mk_bls_entry_parse(out, &s, &l, &d) && s == 'b' && l == 3 && d == 0);
        CHECK(mk_bls_entry_name("rescue1", 0, out, sizeof(out)));
        CHECK_STREQ(out, "slot-rescue1.conf");
        CHECK(!mk_bls_entry_parse(out, &s, &l, &d)); /* not an A/B slot */
        CHECK(!mk_bls_entry_name("a", 3, out, 8));   /* does not fit */
}

static void touch(const char *dir, const char *name)
{
        char p[512];
        snprintf(p, sizeof(p), "%s/%s", dir, name);
        FILE *f = fopen(p, "w");
        if (f)
                fclose(f);
}

static void test_find(void)
{
        char esp[] = "/tmp/mkimage-entries.XXXXXX", out[64] = "", dir[200], uki[200];
        const char *in = NULL;
        if (!mkdtemp(esp)) {
                CHECK(!"mkdtemp");
                return;
        }
        snprintf(dir, sizeof(dir), "%s/loader/entries", esp);
        snprintf(uki, sizeof(uki), "%s/EFI/Linux", esp);
        CHECK(entry_find(esp, 'a', &in, out, sizeof(out)) == -ENOENT);
        char cmd[800];
        snprintf(cmd, sizeof(cmd), "mkdir -p '%s' '%s'", dir, uki);
        CHECK(system(cmd) == 0);
        CHECK(entry_find(esp, 'a', &in, out, sizeof(out)) == -ENOENT);
        touch(dir, "slot-a+2-1.conf");
        touch(dir, "slot-b+0-3.conf");
        touch(dir, "other.conf");
        CHECK(entry_find(esp, 'a', &in, out, sizeof(out)) == 0);
        CHECK_STREQ(out, "slot-a+2-1.conf");
        CHECK_STREQ(in, MK_ESP_ENTRIES_DIR);
        CHECK(entry_find(esp, 'b', &in, out, sizeof(out)) == 0);
        CHECK_STREQ(out, "slot-b+0-3.conf");
        touch(dir, "slot-a.conf");
        CHECK(entry_find(esp, 'a', &in, out, sizeof(out)) == -EEXIST);
        /* UKIs (type #2) in EFI/Linux: found there; one slot in both folders is two entries. */
        snprintf(cmd, sizeof(cmd), "rm -f '%s'/* && touch '%s/slot-a+3.efi' '%s/other.efi'", dir, uki, uki);
        CHECK(system(cmd) == 0);
        CHECK(entry_find(esp, 'a', &in, out, sizeof(out)) == 0);
        CHECK_STREQ(out, "slot-a+3.efi");
        CHECK_STREQ(in, MK_ESP_UKI_DIR);
        touch(dir, "slot-a+3.conf");
        CHECK(entry_find(esp, 'a', &in, out, sizeof(out)) == -EEXIST);
        CHECK(entry_find("/nonexistent-mkimage", 'a', &in, out, sizeof(out)) == -ENOENT);
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", esp);
        CHECK(system(cmd) == 0);
}

/* Type #2 names: the same counters with .efi; a bad mark keeps the kind. */
static void test_uki_names(void)
{
        char out[64], slot = 0;
        int left = 0, done = 0;
        CHECK(mk_uki_entry_name("a", 3, out, sizeof(out)));
        CHECK_STREQ(out, "slot-a+3.efi");
        CHECK(mk_uki_entry_name("b", 0, out, sizeof(out)));
        CHECK_STREQ(out, "slot-b.efi");
        CHECK(mk_bls_entry_parse("slot-b+2-1.efi", &slot, &left, &done) && slot == 'b' && left == 2 && done == 1);
        CHECK(mk_bls_entry_is_uki("slot-b+2-1.efi") && !mk_bls_entry_is_uki("slot-b+2-1.conf"));
        CHECK(!mk_bls_entry_parse("slot-b+2-1.exe", &slot, &left, &done));
        mk_bls_entry_bad_name("slot-a+2-1.efi", out, sizeof(out));
        CHECK_STREQ(out, "slot-a+0-1.efi");
        mk_bls_entry_bad_name("slot-a+2-1.conf", out, sizeof(out));
        CHECK_STREQ(out, "slot-a+0-1.conf");
}

/* The anti-rollback minimum's text (signing/conventions): the verifier and the updater read it alike. */
static void test_min_version(void)
{
        uint64_t v = 7;
        CHECK(mk_min_version_parse("0", &v) && v == 0);
        CHECK(mk_min_version_parse("42\n", &v) && v == 42);
        CHECK(mk_min_version_parse("18446744073709551615", &v) && v == UINT64_MAX);
        v = 7;
        const char *bad[] = {"", "\n", "five", "-1", " 3", "3 ", "3\n\n", "3\n4", "0x10", "18446744073709551616"};
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
                CHECK(!mk_min_version_parse(bad[i], &v));
        CHECK(v == 7); /* untouched on a refusal */
}

int main(void)
{
        check_suite_ = "bootentry";
        RUN(test_parse);
        RUN(test_bad_name);
        RUN(test_name_roundtrip);
        RUN(test_find);
        RUN(test_uki_names);
        RUN(test_min_version);
        return check_exit();
}
