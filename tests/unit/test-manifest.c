/* SPDX-License-Identifier: MIT */
/*
 * Unit tests: mk_manifest_parse (one case per validation rule, each with its
 * exact message) and the round trip through mk_manifest_emit.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "signing/manifest/manifest.h"

#define H64(c)                                                                                                         \
        c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c  \
                c c c c c c c c c
#define SHA_A H64("a")
#define SHA_B H64("b")

/* Canonical form, as docs/manifest.md draws it and mk_manifest_emit writes it. */
#define VERITY_BLOCK                                                                                                   \
        "  verity:\n"                                                                                                  \
        "    partition: root-a-verity\n"                                                                               \
        "    partuuid: CC61A327-2638-4950-8A2A-901CC2DA7080\n"                                                         \
        "    hash-algorithm: sha256\n"                                                                                 \
        "    data-block-size: 4096\n"                                                                                  \
        "    hash-block-size: 4096\n"                                                                                  \
        "    data-blocks: 1000\n"                                                                                      \
        "    salt: " SHA_B "\n"                                                                                        \
        "    root-hash: 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\n"
#define BOOT_BLOCK                                                                                                     \
        "boot:\n"                                                                                                      \
        "- path: /slot-a/vmlinuz\n"                                                                                    \
        "  sha256: " SHA_A "\n"                                                                                        \
        "- path: /slot-a/initrd.img\n"                                                                                 \
        "  sha256: " SHA_B "\n"
#define COMPONENTS_BLOCK                                                                                               \
        "components:\n"                                                                                                \
        "- name: base\n"                                                                                               \
        "  version: 1.0.0\n"                                                                                           \
        "  sha256: " SHA_A "\n"                                                                                        \
        "  signed-by: E090DCBF2954761F\n"                                                                              \
        "- name: hello\n"                                                                                              \
        "  version: 2\n"                                                                                               \
        "  sha256: " SHA_B "\n"                                                                                        \
        "  signed-by: 0123456789ABCDEF\n"

static const char good[] = "mkimage-manifest: 1\n"
                           "model: demo-x86_64\n"
                           "brand: example\n"
                           "version: 7\n"
                           "slot: a\n"
                           "created: 2026-01-01T00:00:00Z\n"
                           "root:\n"
                           "  partition: root-a\n"
                           "  partuuid: 3C148CC7-EB1D-4E4F-80E2-4BEA74099F26\n"
                           "  size: 4096000\n"
                           "  sha256: " SHA_A "\n" VERITY_BLOCK BOOT_BLOCK COMPONENTS_BLOCK;

static int parse(const char *text, mk_manifest **m, mk_error *err)
{
        mk_error_clear(err);
        *m = NULL;
        return mk_manifest_parse("m.yaml", text, strlen(text), m, err);
}

/* good with the first occurrence of from replaced by to. */
static char *edit(const char *from, const char *to)
{
        const char *at = strstr(good, from);
        if (!at)
                return NULL;
        size_t head = (size_t)(at - good), lf = strlen(from), lt = strlen(to), len = strlen(good);
        char *s = malloc(len - lf + lt + 1);
        if (!s)
                return NULL;
        memcpy(s, good, head);
        memcpy(s + head, to, lt);
        memcpy(s + head + lt, at + lf, len - head - lf + 1);
        return s;
}

static void test_good(void)
{
        mk_manifest *m;
        mk_error err = {0};
        CHECK(parse(good, &m, &err) == 0);
        if (!m) {
                fprintf(stderr, "%s\n", err.msg);
                return;
        }
        CHECK_STREQ(m->model, "demo-x86_64");
        CHECK_STREQ(m->brand, "example");
        CHECK(m->version == 7 && m->slot == 'a');
        CHECK_STREQ(m->created, "2026-01-01T00:00:00Z");
        CHECK_STREQ(m->root.partition, "root-a");
        CHECK_STREQ(m->root.partuuid, "3C148CC7-EB1D-4E4F-80E2-4BEA74099F26");
        CHECK(m->root.size == 4096000);
        CHECK_STREQ(m->root.sha256, SHA_A);
        CHECK_STREQ(m->root.verity.partition, "root-a-verity");
        CHECK(m->root.verity.data_block_size == 4096 && m->root.verity.hash_block_size == 4096);
        CHECK(m->root.verity.data_blocks == 1000);
        CHECK_STREQ(m->root.verity.salt, SHA_B);
        CHECK_STREQ(m->root.verity.root_hash, "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef");
        CHECK(m->n_boot == 2 && m->n_components == 2);
        if (m->n_boot == 2 && m->n_components == 2) {
                CHECK_STREQ(m->boot[1].path, "/slot-a/initrd.img");
                CHECK_STREQ(m->boot[1].sha256, SHA_B);
                CHECK_STREQ(m->components[0].signed_by, "E090DCBF2954761F");
                CHECK_STREQ(m->components[1].version, "2");
                CHECK_STREQ(m->components[1].signed_by, "0123456789ABCDEF");
        }
        mk_manifest_free(m);
        CHECK(mk_manifest_free(NULL) == NULL);
}

/* Parse, emit, compare with the canonical text, parse the output again. */
static void test_round_trip(void)
{
        mk_manifest *m, *m2 = NULL;
        mk_error err = {0};
        char *out = NULL;
        size_t len = 0;
        CHECK(parse(good, &m, &err) == 0);
        if (!m)
                return;
        CHECK(mk_manifest_emit(m, &out, &len, &err) == 0);
        if (out) {
                CHECK(len == strlen(out));
                CHECK_STREQ(out, good);
                CHECK(parse(out, &m2, &err) == 0);
                CHECK(m2 && m2->n_components == 2 && !strcmp(m2->components[1].signed_by, "0123456789ABCDEF"));
                CHECK(m2 && !strcmp(m2->root.verity.root_hash, m->root.verity.root_hash));
        }
        free(out);
        mk_manifest_free(m2);
        mk_manifest_free(m);
}

#define DATA_BLOCK                                                                                                     \
        "data:\n"                                                                                                      \
        "  partition: data\n"                                                                                          \
        "  partuuid: 03547890-490D-49F7-99AB-3CAAB22DFF68\n"                                                           \
        "  encryption: luks2\n"

/* The optional data section: parsed, emitted back in place, and checked. */
static void test_data_section(void)
{
        static const struct {
                const char *from, *to, *want;
        } bad_data[] = {
                {"  encryption: luks2\n", "  encryption: luks1\n",
                 "m.yaml:24:15: 'data.encryption' has an unknown value 'luks1' (did you mean 'luks2'?)"},
                {"  partition: data\n", "  partition: root-a\n",
                 "m.yaml:22:14: 'data.partition' must not be the slot's root or verity partition"},
                {"  partuuid: 03547890-490D-49F7-99AB-3CAAB22DFF68\n", "",
                 "m.yaml:22:3: 'data' is missing the required key 'partuuid' (add it)"},
        };
        char *s = edit(BOOT_BLOCK, DATA_BLOCK BOOT_BLOCK);
        mk_manifest *m = NULL;
        mk_error err = {0};
        char *out = NULL;
        size_t len;
        CHECK(s && parse(s, &m, &err) == 0);
        CHECK(m && m->data.partition && !strcmp(m->data.partition, "data") && !strcmp(m->data.encryption, "luks2") &&
              !strcmp(m->data.partuuid, "03547890-490D-49F7-99AB-3CAAB22DFF68"));
        CHECK(m && mk_manifest_emit(m, &out, &len, &err) == 0 && out && !strcmp(out, s));
        free(out);
        mk_manifest_free(m);
        m = NULL;
        CHECK(parse(good, &m, &err) == 0 && m && m->data.partition == NULL);
        mk_manifest_free(m);
        for (size_t i = 0; s && i < sizeof(bad_data) / sizeof(bad_data[0]); i++) {
                const char *at = strstr(s, bad_data[i].from);
                size_t head = (size_t)(at - s);
                char *b = malloc(strlen(s) + strlen(bad_data[i].to) + 1);
                memcpy(b, s, head);
                strcpy(b + head, bad_data[i].to);
                strcat(b, at + strlen(bad_data[i].from));
                m = NULL;
                CHECK(parse(b, &m, &err) < 0 && m == NULL);
                CHECK_STREQ(err.msg, bad_data[i].want);
                free(b);
        }
        free(s);
}

static void test_empty_boot(void)
{
        char *s = edit(BOOT_BLOCK, "boot: []\n");
        mk_manifest *m;
        mk_error err = {0};
        CHECK(s && parse(s, &m, &err) == 0);
        CHECK(m && m->n_boot == 0 && m->boot == NULL);
        if (m) {
                char *out = NULL;
                size_t len;
                CHECK(mk_manifest_emit(m, &out, &len, &err) == 0);
                CHECK(out && strstr(out, "\nboot: []\ncomponents:\n"));
                free(out);
        }
        mk_manifest_free(m);
        free(s);
}

/* An unsigned input (grade dangerous) has signed-by "", which YAML must
 * quote: a bare "signed-by:" is null, and refused. */
static void test_unsigned_component(void)
{
        static const char *const forms[] = {"  signed-by: ''\n", "  signed-by: \"\"\n"};
        for (size_t i = 0; i < 2; i++) {
                char *s = edit("  signed-by: 0123456789ABCDEF\n", forms[i]);
                mk_manifest *m, *m2 = NULL;
                mk_error err = {0};
                CHECK(s && parse(s, &m, &err) == 0);
                CHECK(m && m->n_components == 2 && !strcmp(m->components[1].signed_by, ""));
                char *out = NULL;
                size_t len;
                CHECK(m && mk_manifest_emit(m, &out, &len, &err) == 0);
                if (i == 0)
                        CHECK_STREQ(out, s);
                CHECK(out && parse(out, &m2, &err) == 0);
                if (!m2)
                        fprintf(stderr, "emitted manifest refused: %s\n", err.msg);
                CHECK(m2 && m2->n_components == 2 && !strcmp(m2->components[1].signed_by, ""));
                free(out);
                mk_manifest_free(m2);
                mk_manifest_free(m);
                free(s);
        }
}

/* Quoting does not change a value; GUIDs may be lower case. */
static void test_quoted_and_lower_case(void)
{
        char *a = edit("  version: 2\n", "  version: '2'\n");
        char *b = edit("3C148CC7-EB1D-4E4F-80E2-4BEA74099F26", "3c148cc7-eb1d-4e4f-80e2-4bea74099f26");
        char *c = edit("model: demo-x86_64\n", "model: \"demo-x86_64\"\n");
        const char *texts[] = {a, b, c};
        for (size_t i = 0; i < 3; i++) {
                mk_manifest *m = NULL;
                mk_error err = {0};
                CHECK(texts[i] && parse(texts[i], &m, &err) == 0);
                CHECK(m && !strcmp(m->components[1].version, "2") && !strcmp(m->model, "demo-x86_64"));
                mk_manifest_free(m);
        }
        free(a);
        free(b);
        free(c);
}

static const struct {
        const char *from, *to, *want;
} bad[] = {
        /* structure */
        {"brand: example\n", "", "m.yaml:1:1: the manifest is missing the required key 'brand' (add it)"},
        {"slot: a\n", "slot: a\nslots: b\n", "m.yaml:6:1: unknown key 'slots' in the manifest (did you mean 'slot'?)"},
        {"  size: 4096000\n", "  sise: 4096000\n", "m.yaml:10:3: unknown key 'sise' in 'root' (did you mean 'size'?)"},
        {"    salt: ", "    salts: ", "m.yaml:19:5: unknown key 'salts' in 'root.verity' (did you mean 'salt'?)"},
        {"    root-hash: ", "    roothash: ",
         "m.yaml:20:5: unknown key 'roothash' in 'root.verity' (did you mean 'root-hash'?)"},
        {"  verity:\n", "  verity:\n    comment: x\n",
         "m.yaml:13:5: unknown key 'comment' in 'root.verity' (known keys: partition, partuuid, hash-algorithm, "
         "data-block-size, hash-block-size, data-blocks, salt, root-hash)"},
        {"  sha256: " SHA_A "\n  verity", "  verity",
         "m.yaml:8:3: 'root' is missing the required key 'sha256' (add it)"},
        {"    data-blocks: 1000\n", "",
         "m.yaml:13:5: 'root.verity' is missing the required key 'data-blocks' (add it)"},
        {"- path: /slot-a/vmlinuz\n", "- pth: /slot-a/vmlinuz\n",
         "m.yaml:22:3: unknown key 'pth' in boot entry #1 (did you mean 'path'?)"},
        {"  signed-by: E090DCBF2954761F\n", "",
         "m.yaml:27:3: component #1 is missing the required key 'signed-by' (add it)"},
        {"root:\n", "root: x\nrooot:\n", "m.yaml:8:1: unknown key 'rooot' in the manifest (did you mean 'root'?)"},
        {"mkimage-manifest: 1\n", "mkimage-manifest: 1\nmkimage-manifest: 1\n",
         "m.yaml:2:1: duplicate key 'mkimage-manifest' (first given at line 1; keep one)"},
        /* format and header */
        {"mkimage-manifest: 1\n", "mkimage-manifest: 2\n",
         "m.yaml:1:19: 'mkimage-manifest' is 2 but this mkimage reads format 1 only (use the mkimage that built the "
         "image)"},
        {"mkimage-manifest: 1\n", "mkimage-manifest: one\n",
         "m.yaml:1:19: 'mkimage-manifest' must be a whole number, not 'one'"},
        {"model: demo-x86_64\n", "model: Demo\n",
         "m.yaml:2:8: 'model' must be a name of lower-case letters, digits, '.', '_' and '-', starting with a letter "
         "or digit (got 'Demo')"},
        {"brand: example\n", "brand: ~\n", "m.yaml:3:8: 'brand' is empty (give a string)"},
        {"version: 7\n", "version: -1\n", "m.yaml:4:10: 'version' must be a whole number, not '-1'"},
        {"version: 7\n", "version: 4294967296\n",
         "m.yaml:4:10: 'version' is out of range: 4294967296 (it must be 0 to 4294967295)"},
        {"slot: a\n", "slot: c\n", "m.yaml:5:7: 'slot' has an unknown value 'c' (use one of: a, b)"},
        {"created: 2026-01-01T00:00:00Z\n", "created: 2026-01-01 00:00:00\n",
         "m.yaml:6:10: 'created' must be a UTC time like 2026-01-01T00:00:00Z (got '2026-01-01 00:00:00')"},
        {"created: 2026-01-01T00:00:00Z\n", "created: 2026-13-01T00:00:00Z\n",
         "m.yaml:6:10: 'created' must be a UTC time like 2026-01-01T00:00:00Z (got '2026-13-01T00:00:00Z')"},
        /* root */
        {"  partition: root-a\n", "  partition: [root-a]\n",
         "m.yaml:8:14: 'root.partition' must be a string, not a list"},
        {"  partuuid: 3C148CC7-EB1D-4E4F-80E2-4BEA74099F26\n", "  partuuid: 3C148CC7EB1D4E4F80E24BEA74099F26\n",
         "m.yaml:9:13: 'root.partuuid' must be a GUID like 3C148CC7-EB1D-4E4F-80E2-4BEA74099F26 (got "
         "'3C148CC7EB1D4E4F80E24BEA74099F26')"},
        {"  partuuid: 3C148CC7-EB1D-4E4F-80E2-4BEA74099F26\n", "  partuuid: 3C148CC7-EB1D-4E4F-80E2-4BEA74099F2G\n",
         "m.yaml:9:13: 'root.partuuid' must be a GUID like 3C148CC7-EB1D-4E4F-80E2-4BEA74099F26 (got "
         "'3C148CC7-EB1D-4E4F-80E2-4BEA74099F2G')"},
        {"  size: 4096000\n", "  size: 4096001\n", "m.yaml:10:9: 'root.size' must be a multiple of 4096 (got 4096001)"},
        {"  size: 4096000\n", "  size: 0\n",
         "m.yaml:10:9: 'root.size' is out of range: 0 (it must be 4096 to 1099511627776)"},
        {"  size: 4096000\n", "  size: 4M\n", "m.yaml:10:9: 'root.size' must be a whole number, not '4M'"},
        {"  size: 4096000\n", "  size: 99999999999999999999\n",
         "m.yaml:10:9: 'root.size' is out of range (at most 1099511627776)"},
        {"  sha256: " SHA_A "\n  verity", "  sha256: " H64("A") "\n  verity",
         "m.yaml:11:11: 'root.sha256' must be exactly 64 lower-case hex digits (got '" H64("A") "')"},
        {"  sha256: " SHA_A "\n  verity", "  sha256: abc\n  verity",
         "m.yaml:11:11: 'root.sha256' must be exactly 64 lower-case hex digits (got 'abc')"},
        {VERITY_BLOCK, "  verity: []\n",
         "m.yaml:12:11: 'root.verity' must be a mapping of 'key: value' lines, not a list"},
        /* verity */
        {"    partition: root-a-verity\n", "    partition: root-a\n",
         "m.yaml:13:16: 'root.verity.partition' must not be the root partition 'root-a' itself"},
        {"    partuuid: CC61A327-2638-4950-8A2A-901CC2DA7080\n", "    partuuid: 3c148cc7-eb1d-4e4f-80e2-4bea74099f26\n",
         "m.yaml:14:15: 'root.verity.partuuid' must differ from root.partuuid"},
        {"    partuuid: CC61A327-2638-4950-8A2A-901CC2DA7080\n", "    partuuid: CC61A327-2638-4950-8A2A-901CC2DA708\n",
         "m.yaml:14:15: 'root.verity.partuuid' must be a GUID like 3C148CC7-EB1D-4E4F-80E2-4BEA74099F26 (got "
         "'CC61A327-2638-4950-8A2A-901CC2DA708')"},
        {"hash-algorithm: sha256\n", "hash-algorithm: sha512\n",
         "m.yaml:15:21: 'root.verity.hash-algorithm' has an unknown value 'sha512' (use one of: sha256)"},
        {"data-block-size: 4096\n", "data-block-size: 512\n",
         "m.yaml:16:22: 'root.verity.data-block-size' is out of range: 512 (it must be 4096 to 4096)"},
        {"hash-block-size: 4096\n", "hash-block-size: 8192\n",
         "m.yaml:17:22: 'root.verity.hash-block-size' is out of range: 8192 (it must be 4096 to 4096)"},
        {"data-blocks: 1000\n", "data-blocks: 1001\n",
         "m.yaml:18:18: 'root.verity.data-blocks' is 1001 but root.size / 4096 is 1000 (they must agree)"},
        {"data-blocks: 1000\n", "data-blocks: 0\n",
         "m.yaml:18:18: 'root.verity.data-blocks' is out of range: 0 (it must be 1 to 268435456)"},
        {"    salt: " SHA_B, "    salt: " SHA_A "0",
         "m.yaml:19:11: 'root.verity.salt' must be exactly 64 lower-case hex digits (got '" SHA_A "0')"},
        {"    salt: " SHA_B, "    salt: ''", "m.yaml:19:11: 'root.verity.salt' is empty (give a value)"},
        {"root-hash: 0123456789abcdef", "root-hash: 0123456789abcdeg",
         "m.yaml:20:16: 'root.verity.root-hash' must be exactly 64 lower-case hex digits (got "
         "'0123456789abcdeg0123456789abcdef0123456789abcdef0123456789abcdef')"},
        /* boot */
        {BOOT_BLOCK, "boot: ~\n",
         "m.yaml:21:7: 'boot' must be a list of {path, sha256} entries, or [] (got a single value)"},
        {BOOT_BLOCK, "boot: {}\n",
         "m.yaml:21:7: 'boot' must be a list of {path, sha256} entries, or [] (got a mapping)"},
        {"- path: /slot-a/vmlinuz\n", "- path: slot-a/vmlinuz\n",
         "m.yaml:22:9: 'boot.path' must be an absolute path on the ESP, like /slot-a/vmlinuz (got 'slot-a/vmlinuz')"},
        {"- path: /slot-a/initrd.img\n", "- path: /slot-a/vmlinuz\n",
         "m.yaml:24:9: boot path '/slot-a/vmlinuz' is listed twice (keep one)"},
        {"  sha256: " SHA_A "\n- path: /slot-a/initrd", "  sha256: " SHA_A "1\n- path: /slot-a/initrd",
         "m.yaml:23:11: 'boot.sha256' must be exactly 64 lower-case hex digits (got '" SHA_A "1')"},
        {"- path: /slot-a/vmlinuz\n", "- /slot-a/vmlinuz\n- path: /x\n",
         "m.yaml:22:3: boot entry #1 must be a mapping of 'key: value' lines, not a single value"},
        /* components */
        {COMPONENTS_BLOCK, "components: []\n",
         "m.yaml:26:13: 'components' must be a non-empty list of {name, version, sha256, signed-by} entries"},
        {"- name: base\n", "- name: Base\n",
         "m.yaml:27:9: 'components.name' must be a name of lower-case letters, digits, '.', '_' and '-', starting with "
         "a letter or digit (got 'Base')"},
        {"- name: hello\n", "- name: base\n", "m.yaml:31:9: component 'base' is listed twice (keep one)"},
        {"  version: 1.0.0\n", "  version: ''\n", "m.yaml:28:12: 'components.version' is empty (give a value)"},
        {"  version: 1.0.0\n", "  version: 01234567890123456789012345678901234567890123456789012345678901234\n",
         "m.yaml:28:12: 'components.version' is longer than 64 bytes (shorten it)"},
        {"  signed-by: E090DCBF2954761F\n", "  signed-by: e090dcbf2954761f\n",
         "m.yaml:30:14: 'components.signed-by' must be a key id of 16 upper-case hex digits, or \"\" for an unsigned "
         "input (got 'e090dcbf2954761f')"},
        {"  signed-by: 0123456789ABCDEF\n", "  signed-by:\n",
         "m.yaml:34:13: 'components.signed-by' is empty: write '' (quoted) for an unsigned input, or the signer's key "
         "id"},
        {"  signed-by: 0123456789ABCDEF\n", "  signed-by: ~\n",
         "m.yaml:34:14: 'components.signed-by' is empty (give a string)"},
        {"  signed-by: 0123456789ABCDEF\n", "  signed-by: 0123456789ABCDEF\n  license: MIT\n",
         "m.yaml:35:3: unknown key 'license' in component #2 (known keys: name, version, sha256, signed-by, setuid)"},
        {"  signed-by: 0123456789ABCDEF\n", "  signed-by: 0123456789ABCDEF\n  setuid: /usr/bin/su\n",
         "m.yaml:35:11: 'components.setuid' must be a list of absolute paths"},
        {"  signed-by: 0123456789ABCDEF\n", "  signed-by: 0123456789ABCDEF\n  setuid:\n  - usr/bin/su\n",
         "m.yaml:36:5: 'components.setuid' holds 'usr/bin/su', not an absolute path"},
};

/* A component's setuid list: parsed, and emitted back as it was. */
static void test_setuid(void)
{
        char *s = edit("  signed-by: 0123456789ABCDEF\n",
                       "  signed-by: 0123456789ABCDEF\n  setuid:\n  - /usr/bin/mount\n  - /usr/bin/su\n");
        mk_manifest *m = NULL;
        mk_error err = {0};
        CHECK(s && parse(s, &m, &err) == 0);
        CHECK(m && m->components[0].n_setuid == 0 && m->components[1].n_setuid == 2);
        CHECK(m && !strcmp(m->components[1].setuid[0], "/usr/bin/mount") &&
              !strcmp(m->components[1].setuid[1], "/usr/bin/su"));
        char *out = NULL;
        size_t len;
        CHECK(m && mk_manifest_emit(m, &out, &len, &err) == 0);
        CHECK_STREQ(out, s);
        free(out);
        mk_manifest_free(m);
        free(s);
}

static void test_bad(void)
{
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                char *s = edit(bad[i].from, bad[i].to);
                CHECK(s != NULL);
                if (!s) {
                        fprintf(stderr, "case %zu: '%s' not in the good manifest\n", i, bad[i].from);
                        continue;
                }
                mk_manifest *m = NULL;
                mk_error err = {0};
                int r = parse(s, &m, &err);
                CHECK(r == -EINVAL && m == NULL);
                if (r != -EINVAL || strcmp(err.msg, bad[i].want) != 0)
                        fprintf(stderr, "case %zu:\n", i);
                CHECK_STREQ(err.msg, bad[i].want);
                mk_manifest_free(m);
                free(s);
        }
}

static void test_bounds(void)
{
        mk_manifest *m = NULL;
        mk_error err = {0};
        size_t n = MK_MANIFEST_MAX + 1;
        char *big = malloc(n);
        if (!big)
                return;
        memset(big, '#', n);
        CHECK(mk_manifest_parse("big.yaml", big, n, &m, &err) == -E2BIG && m == NULL);
        CHECK_STREQ(err.msg, "big.yaml: is 1048577 bytes, larger than a manifest can be (at most 1048576 bytes): "
                             "check that this is the right file");
        free(big);
        mk_error_clear(&err);
        CHECK(parse("- a\n", &m, &err) == -EINVAL && m == NULL);
        CHECK_STREQ(err.msg, "m.yaml:1:1: the manifest must be a mapping of 'key: value' lines, not a list");
        CHECK(parse("", &m, &err) == -EINVAL && m == NULL);
        CHECK(parse("a: \x01\n", &m, &err) == -EINVAL && m == NULL);
        CHECK(parse("a: &x 1\nb: *x\n", &m, &err) == -EINVAL && m == NULL);
}

/* Every prefix of the good text is refused or accepted without a crash or leak (ASan run). */
static void test_truncations(void)
{
        size_t len = strlen(good), accepted = 0;
        for (size_t i = 0; i < len; i++) {
                mk_manifest *m = NULL;
                mk_error err = {0};
                if (mk_manifest_parse("t.yaml", good, i, &m, &err) == 0)
                        accepted++;
                else
                        CHECK(m == NULL && err.code != 0 && !strncmp(err.msg, "t.yaml", 6));
                mk_manifest_free(m);
        }
        /* Still valid: without the last newline, and without the last component
         * (with or without its newline). What a cut may drop, the signature covers. */
        CHECK(accepted == 3);
}

int main(void)
{
        check_suite_ = "manifest";
        RUN(test_good);
        RUN(test_round_trip);
        RUN(test_empty_boot);
        RUN(test_data_section);
        RUN(test_unsigned_component);
        RUN(test_quoted_and_lower_case);
        RUN(test_bad);
        RUN(test_setuid);
        RUN(test_bounds);
        RUN(test_truncations);
        return check_exit();
}
