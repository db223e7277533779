/* SPDX-License-Identifier: MIT */
/* Unit tests: the YAML loader, the field readers, models and layout plans. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "builder/image/verity.h"
#include "builder/model/dps.h"
#include "builder/model/layout.h"
#include "builder/model/model.h"
#include "signing/yaml/schema.h"
#include "builder/model/uuid.h"
#include "signing/yaml/yamldoc.h"

static int load(const char *text, ydoc **d, mk_error *err)
{
        mk_error_clear(err);
        return mk_ydoc_load_buffer("t.yaml", text, strlen(text), d, err);
}

static void test_yaml_ok(void)
{
        ydoc *d = NULL;
        mk_error err = {0};
        CHECK(load("a: 1\nb:\n  - x\n  - {c: d}\n", &d, &err) == 0);
        const ynode *b = mk_ynode_get(d->root, "b");
        CHECK(b && b->kind == YNODE_SEQ && b->n == 2);
        CHECK(b && b->vals[1]->kind == YNODE_MAP && b->vals[1]->line == 4 && b->vals[1]->col == 5);
        CHECK_STREQ(mk_ynode_get(d->root, "a")->str, "1");
        mk_ydoc_free(d);
}

static void test_yaml_refusals(void)
{
        static const struct {
                const char *text, *want;
        } cases[] = {
                {"a: &x 1\nb: *x\n", "t.yaml:1:4: YAML anchors (&name) are not supported (write the value out)"},
                {"a: 1\na: 2\n", "t.yaml:2:1: duplicate key 'a' (first given at line 1; keep one)"},
                {"a: 1\n---\nb: 2\n",
                 "t.yaml:2:1: a second YAML document is not allowed (one document per file: remove the '---')"},
                {"", "t.yaml: the file is empty (it must hold a YAML mapping)"},
                {"~\n", "t.yaml: the document is empty (it must hold a YAML mapping)"},
                {"? [a]\n: b\n", "t.yaml:1:3: a mapping key must be a plain word (write key: value)"},
                {"a: [1, 2\n", NULL},
                {"a: \xff\n", NULL},
        };
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                ydoc *d = NULL;
                mk_error err = {0};
                CHECK(load(cases[i].text, &d, &err) == -EINVAL);
                CHECK(d == NULL);
                CHECK(err.code == EINVAL && strncmp(err.msg, "t.yaml", 6) == 0);
                if (cases[i].want)
                        CHECK_STREQ(err.msg, cases[i].want);
        }
}

static void test_yaml_bounds(void)
{
        /* 40 nested lists: refused at depth 33, before any blow-up. */
        char deep[200] = "";
        for (int i = 0; i < 40; i++)
                strcat(deep, "[");
        ydoc *d = NULL;
        mk_error err = {0};
        CHECK(load(deep, &d, &err) < 0);
        CHECK(strstr(err.msg, "nesting is deeper than 32 levels") != NULL);

        size_t n = YDOC_MAX_SCALAR + 10;
        char *big = malloc(n + 8);
        memcpy(big, "a: ", 3);
        memset(big + 3, 'x', n);
        big[n + 3] = '\0';
        CHECK(load(big, &d, &err) < 0);
        CHECK(strstr(err.msg, "longer than 65536 bytes") != NULL);
        free(big);
}

static void test_parse_size(void)
{
        uint64_t v = 0;
        CHECK(mk_parse_size("4096", &v) == 0 && v == 4096);
        CHECK(mk_parse_size("512K", &v) == 0 && v == 512 * 1024);
        CHECK(mk_parse_size("256MiB", &v) == 0 && v == 256ull << 20);
        CHECK(mk_parse_size("2G", &v) == 0 && v == 2ull << 30);
        CHECK(mk_parse_size("1 TiB", &v) == 0 && v == 1ull << 40);
        CHECK(mk_parse_size("10B", &v) == 0 && v == 10);
        CHECK(mk_parse_size("16777215T", &v) == 0);
        CHECK(mk_parse_size("16777216T", &v) == -ERANGE);
        CHECK(mk_parse_size("99999999999999999999", &v) == -ERANGE);
        CHECK(mk_parse_size("1.5G", &v) == -EINVAL);
        CHECK(mk_parse_size("G", &v) == -EINVAL);
        CHECK(mk_parse_size("-1", &v) == -EINVAL);
        CHECK(mk_parse_size("1Mb", &v) == -EINVAL);
}

static void test_did_you_mean(void)
{
        static const char *const keys[] = {"compressor", "level", "block-size"};
        CHECK_STREQ(mk_schema_did_you_mean("compresor", keys, 3), "compressor");
        CHECK_STREQ(mk_schema_did_you_mean("blocksize", keys, 3), "block-size");
        CHECK(mk_schema_did_you_mean("colour", keys, 3) == NULL);
}

static void test_dps(void)
{
        CHECK_STREQ(mk_dps_type_guid("esp"), "C12A7328-F81F-11D2-BA4B-00A0C93EC93B");
        CHECK_STREQ(mk_dps_type_guid("root-x86-64-verity"), "2C7357ED-EBD2-46D9-AEC1-23D437EC2BF5");
        CHECK_STREQ(mk_dps_type_name("4f68bce3-e8cd-4db1-96e7-fbcaf984b709"), "root-x86-64");
        CHECK(mk_guid_is_valid("4f68bce3-e8cd-4db1-96e7-fbcaf984b709"));
        CHECK(!mk_guid_is_valid("4f68bce3-e8cd-4db1-96e7-fbcaf984b70"));
        CHECK(!mk_guid_is_valid("4f68bce3-e8cd-4db1-96e7-fbcaf984b7090"));
        CHECK(!mk_guid_is_valid("4f68bce3xe8cd-4db1-96e7-fbcaf984b709"));
}

static void test_uuid(void)
{
        char a[37], b[37], c[37];
        mk_uuid_derive("example", "demo", "gpt-partition", "root-a", a);
        mk_uuid_derive("example", "demo", "gpt-partition", "root-a", b);
        mk_uuid_derive("example", "demo2", "gpt-partition", "root-a", c);
        CHECK_STREQ(a, b);
        CHECK(strcmp(a, c) != 0);
        CHECK(mk_guid_is_valid(a) && a[14] == '4' && strchr("89AB", a[19]));
}

static void test_verity_size(void)
{
        /* Sizes `veritysetup format` writes (SHA-256, 4 KiB blocks), measured on this tree's machines. */
        CHECK(mk_verity_hash_size(1) == 4096);
        CHECK(mk_verity_hash_size((256ull << 20) / 4096) == 2121728);
        CHECK(mk_verity_hash_size((1ull << 30) / 4096) == 8462336);
}

static int write_file(const char *path, const char *text)
{
        FILE *f = fopen(path, "w");
        if (!f)
                return -1;
        fputs(text, f);
        return fclose(f);
}

static void test_model_and_plan(void)
{
        char dir[] = "/tmp/mkimage-unit.XXXXXX";
        CHECK(mkdtemp(dir) != NULL);
        char mpath[128], lpath[128];
        snprintf(mpath, sizeof(mpath), "%s/m.yaml", dir);
        snprintf(lpath, sizeof(lpath), "%s/l.yaml", dir);
        CHECK(write_file(mpath, "model: m1\nbrand: b\nversion: 7\narchitecture: aarch64\ngrade: dangerous\n"
                                "layout: l.yaml\ncomponents:\n  - name: base\n    file: base.comp\n") == 0);
        CHECK(write_file(lpath, "layout: t\nmin-size: 64M\npartitions:\n"
                                "  - {name: esp, role: esp, size: 8M}\n"
                                "  - {name: ra, role: root, slot: a, size: 16M}\n"
                                "  - {name: rav, role: root-verity, slot: a, size: auto}\n"
                                "  - {name: data, role: data, size: grow}\n") == 0);
        mk_model *m = NULL;
        mk_layout *l = NULL;
        mk_error err = {0};
        CHECK(mk_model_load(mpath, &m, &err) == 0);
        if (!m) {
                fprintf(stderr, "%s\n", err.msg);
                return;
        }
        CHECK(m->version == 7 && m->arch == MK_ARCH_AARCH64 && m->grade == MK_GRADE_DANGEROUS);
        CHECK(m->rootfs.compressor == MK_COMP_ZSTD && m->rootfs.block_size == 131072);
        char want[160];
        snprintf(want, sizeof(want), "%s/base.comp", dir);
        CHECK_STREQ(m->components[0].path, want);
        CHECK(mk_layout_load(m->layout_path, m, &l, &err) == 0);
        if (l) {
                /* root type follows the architecture */
                CHECK_STREQ(l->parts[1].type_guid, mk_dps_type_guid("root-arm64"));
                CHECK_STREQ(l->parts[2].type_guid, mk_dps_type_guid("root-arm64-verity"));
                CHECK(mk_layout_plan(l, m, NULL, &err) == 0);
                CHECK(l->disk_size == 64ull << 20);
                CHECK(l->parts[0].start == 1 << 20 && l->parts[1].start == 9 << 20);
                CHECK(l->parts[2].length == 1 << 20);
                CHECK(l->parts[3].start == 26 << 20);
                CHECK(l->parts[3].start + l->parts[3].length == 63ull << 20);
                mk_layout_free(l);
        }
        mk_model_free(m);
        unlink(mpath);
        unlink(lpath);
        rmdir(dir);
}

int main(void)
{
        check_suite_ = "model";
        RUN(test_yaml_ok);
        RUN(test_yaml_refusals);
        RUN(test_yaml_bounds);
        RUN(test_parse_size);
        RUN(test_did_you_mean);
        RUN(test_dps);
        RUN(test_uuid);
        RUN(test_verity_size);
        RUN(test_model_and_plan);
        return check_exit();
}
