/* SPDX-License-Identifier: MIT */
/* Component metadata, SPDX expressions, and pack -> open -> load_tree through the library. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "builder/component/component.h"

static const char good[] = "name: hello\n"
                           "version: 1.2.3-1+deb12u1\n"
                           "type: app\n"
                           "license: MIT OR (Apache-2.0 WITH LLVM-exception)\n"
                           "supplier: 'Organization: Example'\n"
                           "source: https://example.com/hello\n"
                           "setuid: [/usr/bin/hello]\n"
                           "packages:\n"
                           "  - {name: libc6, version: 2.36-9+deb12u13, architecture: amd64}\n"
                           "owners:\n"
                           "  - path: /usr/bin/hello\n"
                           "    uid: 0\n"
                           "    gid: 50\n"
                           "    mode: \"4755\"\n"
                           "  - path: etc\n"
                           "    mode: 0700\n";

/* Parse text; return the error message, or "ok". */
static const char *parse(const char *text)
{
        static char out[MK_ERROR_MAX];
        mk_error err = {0};
        component_meta *m = NULL;
        if (mk_component_meta_parse("c.yaml", text, strlen(text), &m, &err) < 0)
                snprintf(out, sizeof out, "%s", err.msg);
        else
                snprintf(out, sizeof out, "ok");
        mk_component_meta_free(m);
        return out;
}

static void test_meta_good(void)
{
        mk_error err = {0};
        component_meta *m = NULL;
        CHECK(mk_component_meta_parse("c.yaml", good, strlen(good), &m, &err) == 0);
        if (!m)
                return;
        CHECK_STREQ(m->name, "hello");
        CHECK_STREQ(m->version, "1.2.3-1+deb12u1");
        CHECK(m->type == COMPONENT_APP);
        CHECK_STREQ(mk_component_type_name(m->type), "app");
        CHECK_STREQ(m->license, "MIT OR (Apache-2.0 WITH LLVM-exception)");
        CHECK_STREQ(m->supplier, "Organization: Example");
        CHECK_STREQ(m->source, "https://example.com/hello");
        CHECK(!m->allow_devices);
        CHECK(m->n_setuid == 1 && !strcmp(m->setuid[0], "usr/bin/hello") && m->n_caps == 0);
        CHECK(m->n_packages == 1 && !strcmp(m->packages[0].name, "libc6") &&
              !strcmp(m->packages[0].version, "2.36-9+deb12u13") && !strcmp(m->packages[0].arch, "amd64"));
        CHECK(m->n_owners == 2);
        CHECK_STREQ(m->owners[0].path, "usr/bin/hello");
        CHECK(m->owners[0].has_uid && m->owners[0].uid == 0 && m->owners[0].gid == 50 && m->owners[0].mode == 04755);
        CHECK(!m->owners[1].has_uid && !m->owners[1].has_gid && m->owners[1].mode == 0700);
        CHECK(m->raw_len == strlen(good) && !strcmp(m->raw, good));
        mk_component_meta_free(m);
}

static void test_meta_errors(void)
{
        CHECK_STREQ(parse("name: a\nversion: 1\ntype: app\nlicense: MIT\nsupplier: x\nlicence: MIT\n"),
                    "c.yaml:6:1: unknown key 'licence' in the component metadata (did you mean 'license'?)");
        CHECK_STREQ(parse("version: 1\ntype: app\nlicense: MIT\nsupplier: x\n"),
                    "c.yaml:1:1: the component metadata is missing the required key 'name' (add it)");
        CHECK(strstr(parse("name: a\nversion: 1\ntype: application\nlicense: MIT\nsupplier: x\n"), "c.yaml:3:7: ") !=
              NULL);
        CHECK(strstr(parse("name: a\nversion: 1\ntype: application\nlicense: MIT\nsupplier: x\n"), "base") != NULL);
        CHECK_STREQ(parse("name: a\nversion: 1 2\ntype: app\nlicense: MIT\nsupplier: x\n"),
                    "c.yaml:2:10: 'version' holds the character ' ' (a version uses letters, digits and . + ~ : _ -, "
                    "e.g. 1.2.3 or 2.38-1+deb12u1)");
        CHECK_STREQ(parse("name: a\nversion: 1\ntype: app\nlicense: MIT and GPL-2.0\nsupplier: x\n"),
                    "c.yaml:4:10: 'license' is not a valid SPDX license expression: operators are written in "
                    "capitals: AND, OR, WITH (e.g. MIT, GPL-2.0-only OR MIT, Apache-2.0 WITH LLVM-exception)");
        CHECK_STREQ(parse("name: a\nversion: 1\ntype: app\nlicense: MIT\nsupplier: x\nsource: example.com\n"),
                    "c.yaml:6:9: 'source' must be a URL like https://example.com/project (no spaces)");
        CHECK_STREQ(parse("name: a\nversion: 1\ntype: app\nlicense: MIT\nsupplier: x\nowners:\n  - path: x\n"),
                    "c.yaml:7:5: owners item 1 sets nothing (give uid, gid or mode)");
        CHECK_STREQ(parse("name: a\nversion: 1\ntype: app\nlicense: MIT\nsupplier: x\nowners:\n"
                          "  - path: x\n    mode: 'rwx'\n"),
                    "c.yaml:8:11: 'mode' must be octal permission bits like \"0755\" or \"4755\"");
        CHECK_STREQ(parse("name: a\nversion: 1\ntype: app\nlicense: MIT\nsupplier: x\nowners:\n"
                          "  - path: ../x\n    uid: 1\n"),
                    "c.yaml:7:11: 'path' is not a valid path in the image (owners: entry '../x': '..' is not allowed "
                    "in a path (entries must stay inside the tree; rebuild the archive without '..'))");
        CHECK(strstr(parse("name: Bad Name\nversion: 1\ntype: app\nlicense: MIT\nsupplier: x\n"), "c.yaml:1:7: ") !=
              NULL);
#define HEAD "name: a\nversion: 1\ntype: app\nlicense: MIT\nsupplier: x\n"
        CHECK_STREQ(parse(HEAD "allow-setuid: true\n"),
                    "c.yaml:6:15: 'allow-setuid' is gone: list the setuid and setgid files the component ships, as "
                    "'setuid: [/usr/bin/su, ...]'");
        CHECK_STREQ(
                parse(HEAD "setuid: /usr/bin/su\n"),
                "c.yaml:6:9: 'setuid' must be a list of paths in the image (e.g. [/usr/bin/su]), not a single value");
        CHECK_STREQ(parse(HEAD "setuid: [usr/bin/su]\n"),
                    "c.yaml:6:10: 'setuid' lists 'usr/bin/su': give the path in the image from its root (/usr/bin/su)");
        CHECK_STREQ(parse(HEAD "setuid: [/usr/bin/su, /usr//bin/su]\n"),
                    "c.yaml:6:23: 'setuid' lists /usr//bin/su twice (keep one)");
        CHECK(strstr(parse(HEAD "capabilities: [/usr/../etc]\n"),
                     "c.yaml:6:16: 'capabilities': '/usr/../etc' is not") != NULL);
        CHECK_STREQ(parse(HEAD "setuid: [/]\n"),
                    "c.yaml:6:10: 'setuid': '/' is not a file's path in the image (the root)");
        CHECK_STREQ(parse(HEAD "packages:\n  - {name: libc6, version: 2.36}\n"),
                    "c.yaml:7:5: packages item 1 is missing the required key 'architecture' (add it)");
        CHECK_STREQ(parse(HEAD "packages:\n  - {name: LibC, version: 2.36, architecture: amd64}\n"),
                    "c.yaml:7:12: package name 'LibC' holds a character a Debian package name has not (lower-case "
                    "letters, digits, + - .)");
        component_meta *m = NULL;
        mk_error err = {0};
        const char *two = HEAD "setuid: [/usr/bin/su, /usr/bin/a-tool]\ncapabilities: [/usr/bin/ping]\n";
        CHECK(mk_component_meta_parse("c.yaml", two, strlen(two), &m, &err) == 0);
        CHECK(m && m->n_setuid == 2 && !strcmp(m->setuid[0], "usr/bin/a-tool") && !strcmp(m->setuid[1], "usr/bin/su"));
        CHECK(m && m->n_caps == 1 && !strcmp(m->caps[0], "usr/bin/ping"));
        mk_component_meta_free(m);
#undef HEAD
}

static void test_license(void)
{
        static const char *ok[] = {
                "MIT",
                "GPL-2.0-or-later",
                "GPL-2.0+",
                "MIT OR Apache-2.0",
                "(MIT OR BSD-3-Clause) AND Zlib",
                "Apache-2.0 WITH LLVM-exception",
                "LicenseRef-proprietary",
                "DocumentRef-spdx-tool-1.2:LicenseRef-MIT-Style-2",
                "NOASSERTION",
                "NONE",
                "((MIT))",
        };
        static const struct {
                const char *expr, *why;
        } bad[] = {
                {"", "a license id is missing"},
                {"MIT OR", "a license id is missing"},
                {"MIT Apache-2.0", "two license ids must be joined by AND or OR"},
                {"(MIT", "a '(' is not closed"},
                {"MIT)", "a ')' has no matching '('"},
                {"MIT or BSD", "operators are written in capitals: AND, OR, WITH"},
                {"GPL-2.0 WITH", "WITH must be followed by an exception id"},
                {"M!T", "a license id holds characters other than letters, digits, '.', '-' and a final '+'"},
                {"AND", "a license id holds characters other than letters, digits, '.', '-' and a final '+'"},
        };
        for (size_t i = 0; i < sizeof ok / sizeof *ok; i++) {
                const char *why = NULL;
                CHECK(mk_component_check_license(ok[i], &why) == 0);
                if (why)
                        fprintf(stderr, "%s: %s\n", ok[i], why);
        }
        for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
                const char *why = NULL;
                CHECK(mk_component_check_license(bad[i].expr, &why) == -EINVAL);
                CHECK_STREQ(why, bad[i].why);
        }
}

static int write_file(const char *path, const char *text, mode_t mode)
{
        FILE *f = fopen(path, "w");
        if (!f)
                return -1;
        fputs(text, f);
        fclose(f);
        return chmod(path, mode);
}

static void test_pack_open(void)
{
        char dir[] = "/tmp/test-sqfs-component.XXXXXX";
        CHECK(mkdtemp(dir) != NULL);
        char src[256], path[300], out[256];
        snprintf(src, sizeof src, "%s/src", dir);
        snprintf(out, sizeof out, "%s/hello.comp", dir);
        CHECK(mkdir(src, 0755) == 0);
        snprintf(path, sizeof path, "%s/meta", src);
        CHECK(mkdir(path, 0700) == 0);
        snprintf(path, sizeof path, "%s/meta/component.yaml", src);
        CHECK(write_file(path, good, 0600) == 0);
        snprintf(path, sizeof path, "%s/usr", src);
        CHECK(mkdir(path, 0755) == 0);
        snprintf(path, sizeof path, "%s/usr/bin", src);
        CHECK(mkdir(path, 0755) == 0);
        snprintf(path, sizeof path, "%s/usr/bin/hello", src);
        CHECK(write_file(path, "#!/bin/true\n", 0755) == 0);
        snprintf(path, sizeof path, "%s/etc", src);
        CHECK(mkdir(path, 0755) == 0);

        mk_error err = {0};
        component_pack_opts o = {.sq = {.mtime = 1767225600, .workers = 2}};
        component_meta *pm = NULL;
        CHECK(mk_component_pack(src, out, &o, &pm, &err) == 0);
        if (mk_error_isset(&err))
                fprintf(stderr, "pack: %s\n", err.msg);
        CHECK(pm && !strcmp(pm->name, "hello"));
        mk_component_meta_free(pm);

        component *c = NULL;
        CHECK(mk_component_open(out, &c, &err) == 0);
        if (c) {
                const component_meta *m = mk_component_get_meta(c);
                CHECK_STREQ(m->name, "hello");
                CHECK_STREQ(m->version, "1.2.3-1+deb12u1");
                CHECK(m->raw_len == strlen(good));
                fstree *t = NULL;
                CHECK(mk_fstree_new("merged", &t) == 0);
                CHECK(mk_component_load_tree(c, t, NULL, 0, &err) == 0);
                CHECK(mk_fstree_lookup(t, "meta") == NULL);
                fsnode *h = mk_fstree_lookup(t, "usr/bin/hello");
                CHECK(h && mk_fsnode_mode(h) == (S_IFREG | 04755) && mk_fsnode_uid(h) == 0 && mk_fsnode_gid(h) == 50);
                char buf[12];
                CHECK(h && mk_fsnode_read(h, 0, buf, 12, &err) == 0 && !memcmp(buf, "#!/bin/true\n", 12));
                CHECK(mk_fsnode_mode(mk_fstree_lookup(t, "etc")) == (S_IFDIR | 0700));
                /* A second component providing the same file clashes; directories merge. */
                CHECK(mk_component_load_tree(c, t, NULL, 0, &err) == -EEXIST);
                CHECK_STREQ(err.msg, "merged: entry 'usr/bin/hello': duplicate entry (the path appears twice; "
                                     "remove one)");
                mk_fstree_free(t);
                char *yaml = NULL;
                size_t len = 0;
                mk_error_clear(&err);
                CHECK(mk_sqimage_read_file(mk_component_image(c), COMPONENT_META_PATH, COMPONENT_META_MAX, &yaml, &len,
                                           &err) == 0);
                CHECK(yaml && !strcmp(yaml, good));
                free(yaml);
                mk_component_close(c);
        }

        /* Not a component: a squashfs without meta/component.yaml. */
        mk_error_clear(&err);
        CHECK(mk_component_open(src, &c, &err) < 0);
        snprintf(path, sizeof path, "rm -rf '%s'", dir);
        CHECK(system(path) == 0);
}

int main(void)
{
        check_suite_ = "sqfs-component";
        RUN(test_meta_good);
        RUN(test_meta_errors);
        RUN(test_license);
        RUN(test_pack_open);
        return check_exit();
}
