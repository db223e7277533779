/* SPDX-License-Identifier: MIT */
/* fstree: path rules, building, sorting, hard links, xattrs and policy. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include "check.h"
#include "builder/tree/fstree.h"

static const fsnode_attr A644 = {.perm = 0644};

static fstree *new_tree(void)
{
        fstree *t = NULL;
        CHECK(mk_fstree_new("t.tar", &t) == 0);
        return t;
}

/* Normalize path; return the message (or the normalized path on success). */
static const char *norm(const char *path)
{
        static char out[MK_ERROR_MAX];
        mk_error err = {0};
        char *p = NULL;
        if (mk_fstree_normalize_path("t.tar", path, &p, &err) < 0)
                snprintf(out, sizeof out, "%s", err.msg);
        else
                snprintf(out, sizeof out, "ok:%s", p);
        free(p);
        return out;
}

static void test_normalize(void)
{
        CHECK_STREQ(norm("a/b/c"), "ok:a/b/c");
        CHECK_STREQ(norm("./a//b/./c/"), "ok:a/b/c");
        CHECK_STREQ(norm("./"), "ok:");
        CHECK_STREQ(norm("."), "ok:");
        CHECK_STREQ(norm("caf\xc3\xa9"), "ok:caf\xc3\xa9");
        CHECK_STREQ(norm("..x/y.."), "ok:..x/y..");
        CHECK_STREQ(norm("/etc/passwd"),
                    "t.tar: entry '/etc/passwd': absolute paths are not allowed (store entries relative to the "
                    "root, e.g. tar -C ROOT -cf OUT.tar .)");
        CHECK_STREQ(norm("a/../../x"), "t.tar: entry 'a/../../x': '..' is not allowed in a path (entries must "
                                       "stay inside the tree; rebuild the archive without '..')");
        CHECK_STREQ(norm(".."), "t.tar: entry '..': '..' is not allowed in a path (entries must stay inside the "
                                "tree; rebuild the archive without '..')");
        CHECK_STREQ(norm("bad\xff"), "t.tar: entry 'bad\\xff': name is not valid UTF-8 (rename it)");
        CHECK_STREQ(norm("over\xc0\xaflong"), "t.tar: entry 'over\\xc0\\xaflong': name is not valid UTF-8 (rename it)");
        CHECK_STREQ(norm("sur\xed\xa0\x80"), "t.tar: entry 'sur\\xed\\xa0\\x80': name is not valid UTF-8 (rename it)");
        CHECK_STREQ(norm("a\nb"), "t.tar: entry 'a\\nb': name contains a newline (rename it)");
        char longname[300];
        memset(longname, 'x', 256);
        longname[256] = '\0';
        CHECK(strstr(norm(longname), "a name is 256 bytes long, the limit is 255 (shorten it)") != NULL);
        longname[255] = '\0';
        CHECK(!strncmp(norm(longname), "ok:", 3));
        char *deep = malloc(5000);
        for (int i = 0; i < 2500; i++)
                memcpy(deep + 2 * i, "a/", 2);
        deep[4999] = '\0';
        CHECK(strstr(norm(deep), "path is 4999 bytes long, the limit is 4095 (shorten it)") != NULL);
        free(deep);
}

static void test_build_and_sort(void)
{
        fstree *t = new_tree();
        mk_error err = {0};
        CHECK(mk_fstree_add_file_mem(t, "usr/bin/b", &A644, "bb", 2, NULL, &err) == 0);
        CHECK(mk_fstree_add_file_mem(t, "usr/bin/a", &A644, "a", 1, NULL, &err) == 0);
        CHECK(mk_fstree_add_file_mem(t, "usr/bin/B", &A644, "", 0, NULL, &err) == 0);
        CHECK(mk_fstree_add_file_mem(t, "usr/bin/a.txt", &A644, "", 0, NULL, &err) == 0);
        CHECK(mk_fstree_add_dir(t, "usr", &(fsnode_attr){.perm = 0750, .uid = 7, .gid = 8}, NULL, &err) == 0);
        CHECK(mk_fstree_add_symlink(t, "lib", &(fsnode_attr){.perm = 0777}, "usr/lib", NULL, &err) == 0);
        CHECK(!mk_error_isset(&err));
        mk_fstree_sort(t);
        fsnode *bin = mk_fstree_lookup(t, "usr/bin");
        CHECK(bin && mk_fsnode_get_kind(bin) == FSNODE_DIR && mk_fsnode_mode(bin) == (S_IFDIR | 0755));
        CHECK(mk_fsnode_nchildren(bin) == 4);
        CHECK_STREQ(mk_fsnode_name(mk_fsnode_child(bin, 0)), "B");
        CHECK_STREQ(mk_fsnode_name(mk_fsnode_child(bin, 1)), "a");
        CHECK_STREQ(mk_fsnode_name(mk_fsnode_child(bin, 2)), "a.txt");
        CHECK_STREQ(mk_fsnode_name(mk_fsnode_child(bin, 3)), "b");
        fsnode *usr = mk_fstree_lookup(t, "./usr/");
        CHECK(usr && mk_fsnode_mode(usr) == (S_IFDIR | 0750) && mk_fsnode_uid(usr) == 7 && mk_fsnode_gid(usr) == 8);
        fsnode *b = mk_fstree_lookup(t, "usr/bin/b");
        char buf[2];
        CHECK(b && mk_fsnode_file_size(b) == 2 && mk_fsnode_read(b, 0, buf, 2, &err) == 0 && !memcmp(buf, "bb", 2));
        char *p = mk_fsnode_path(b);
        CHECK_STREQ(p, "usr/bin/b");
        free(p);
        p = mk_fsnode_path(mk_fstree_root(t));
        CHECK_STREQ(p, "");
        free(p);
        CHECK_STREQ(mk_fsnode_symlink_target(mk_fstree_lookup(t, "lib")), "usr/lib");
        CHECK(mk_fstree_lookup(t, "usr/nope") == NULL);
        CHECK(mk_fstree_lookup(t, "lib/x") == NULL);
        CHECK(mk_fstree_count(t) == 8);
        mk_fstree_free(t);
}

static void test_many_entries(void)
{
        fstree *t = new_tree();
        mk_error err = {0};
        char name[32];
        /* Reverse order: every insertion lands before the previous one. */
        for (int i = 20000; i > 0; i--) {
                snprintf(name, sizeof name, "d/f%05d", i);
                if (mk_fstree_add_file_mem(t, name, &A644, "", 0, NULL, &err) < 0)
                        break;
        }
        CHECK(!mk_error_isset(&err));
        mk_fstree_sort(t);
        fsnode *d = mk_fstree_lookup(t, "d");
        CHECK(mk_fsnode_nchildren(d) == 20000);
        CHECK_STREQ(mk_fsnode_name(mk_fsnode_child(d, 0)), "f00001");
        CHECK_STREQ(mk_fsnode_name(mk_fsnode_child(d, 19999)), "f20000");
        CHECK(mk_fstree_lookup(t, "d/f12345") != NULL);
        mk_fstree_free(t);
}

static void test_conflicts(void)
{
        fstree *t = new_tree();
        mk_error err = {0};
        CHECK(mk_fstree_add_symlink(t, "link", &A644, "/etc", NULL, &err) == 0);
        CHECK(mk_fstree_add_file_mem(t, "link/passwd", &A644, "x", 1, NULL, &err) == -EINVAL);
        CHECK_STREQ(err.msg, "t.tar: entry 'link/passwd': goes through symlink 'link' (a path may not pass through "
                             "a symlink; store the entry under the real directory)");
        mk_error_clear(&err);
        CHECK(mk_fstree_add_file_mem(t, "f", &A644, "x", 1, NULL, &err) == 0);
        CHECK(mk_fstree_add_dir(t, "f/sub", &A644, NULL, &err) == -EINVAL);
        CHECK_STREQ(err.msg, "t.tar: entry 'f/sub': parent 'f' is not a directory (remove one of the two entries)");
        mk_error_clear(&err);
        CHECK(mk_fstree_add_file_mem(t, "./f", &A644, "y", 1, NULL, &err) == -EEXIST);
        CHECK_STREQ(err.msg, "t.tar: entry './f': duplicate entry (the path appears twice; remove one)");
        mk_error_clear(&err);
        CHECK(mk_fstree_add_dir(t, "f", &A644, NULL, &err) == -EEXIST);
        mk_error_clear(&err);
        CHECK(mk_fstree_add_symlink(t, "", &A644, "x", NULL, &err) == -EINVAL);
        CHECK_STREQ(err.msg, "t.tar: entry '': the root must be a directory");
        mk_error_clear(&err);
        CHECK(mk_fstree_add_symlink(t, "empty", &A644, "", NULL, &err) == -EINVAL);
        CHECK_STREQ(err.msg, "t.tar: entry 'empty': symlink target is empty (point it somewhere or remove it)");
        mk_error_clear(&err);
        /* A directory seen again (tar -r, or a parent created first) takes the new attributes. */
        CHECK(mk_fstree_add_file_mem(t, "d/x", &A644, "", 0, NULL, &err) == 0);
        CHECK(mk_fstree_add_dir(t, "d", &(fsnode_attr){.perm = 0700}, NULL, &err) == 0);
        CHECK(mk_fsnode_mode(mk_fstree_lookup(t, "d")) == (S_IFDIR | 0700));
        CHECK(mk_fstree_add_dir(t, "./", &(fsnode_attr){.perm = 0711, .uid = 3}, NULL, &err) == 0);
        CHECK(mk_fsnode_mode(mk_fstree_root(t)) == (S_IFDIR | 0711) && mk_fsnode_uid(mk_fstree_root(t)) == 3);
        mk_fstree_free(t);
}

static void test_hardlinks(void)
{
        fstree *t = new_tree();
        mk_error err = {0};
        fsnode *f, *h;
        CHECK(mk_fstree_add_file_mem(t, "bin/busybox", &(fsnode_attr){.perm = 0755}, "BB", 2, &f, &err) == 0);
        CHECK(mk_fstree_add_hardlink(t, "bin/sh", "./bin/busybox", &h, &err) == 0);
        CHECK(mk_fstree_add_hardlink(t, "bin/ls", "bin/sh", NULL, &err) == 0);
        CHECK(mk_fsnode_nlink(f) == 3 && mk_fsnode_nlink(h) == 3);
        CHECK(mk_fsnode_hardlink_target(h) == f && mk_fsnode_mode(h) == (S_IFREG | 0755));
        CHECK(mk_fsnode_hardlink_target(mk_fstree_lookup(t, "bin/ls")) == f);
        CHECK(mk_fstree_add_hardlink(t, "bin/x", "bin/missing", NULL, &err) == -EINVAL);
        CHECK_STREQ(err.msg, "t.tar: entry 'bin/x': hard link target 'bin/missing' does not exist (the target must "
                             "come before the link)");
        mk_error_clear(&err);
        CHECK(mk_fstree_add_hardlink(t, "bin/y", "bin", NULL, &err) == -EINVAL);
        CHECK_STREQ(err.msg, "t.tar: entry 'bin/y': hard link to directory 'bin' (directories cannot be hard-linked)");
        mk_error_clear(&err);
        CHECK(mk_fstree_add_hardlink(t, "bin/z", "../etc/passwd", NULL, &err) == -EINVAL);
        CHECK(strstr(err.msg, "entry '../etc/passwd': '..' is not allowed") != NULL);
        mk_fstree_free(t);
}

static void test_xattrs(void)
{
        fstree *t = new_tree();
        mk_error err = {0};
        fsnode *f;
        size_t len;
        CHECK(mk_fstree_add_file_mem(t, "f", &A644, "", 0, &f, &err) == 0);
        CHECK(mk_fstree_add_xattr(t, f, "user.zeta", "1", 1, &err) == 0);
        CHECK(mk_fstree_add_xattr(t, f, "security.capability", "\0\1", 2, &err) == 0);
        CHECK(mk_fstree_add_xattr(t, f, "user.alpha", "2", 1, &err) == 0);
        CHECK(mk_fstree_add_xattr(t, f, "user.zeta", "33", 2, &err) == 0);
        CHECK(mk_fsnode_nxattrs(f) == 3);
        CHECK_STREQ(mk_fsnode_xattr_key(f, 0), "security.capability");
        CHECK_STREQ(mk_fsnode_xattr_key(f, 1), "user.alpha");
        CHECK_STREQ(mk_fsnode_xattr_key(f, 2), "user.zeta");
        CHECK(!memcmp(mk_fsnode_xattr_value(f, 2, &len), "33", 2) && len == 2);
        CHECK(mk_fstree_add_xattr(t, f, "system.posix_acl_access", "", 0, &err) == -EINVAL);
        CHECK_STREQ(err.msg, "t.tar: entry 'f': extended attribute 'system.posix_acl_access' cannot be stored in "
                             "squashfs (only user.*, trusted.* and security.* can; remove it)");
        mk_fstree_free(t);
}

static void test_policy(void)
{
        fstree *t = new_tree();
        mk_error err = {0};
        CHECK(mk_fstree_add_special(t, "dev/null", &(fsnode_attr){.perm = 0666}, FSNODE_CHRDEV, makedev(1, 3), NULL,
                                    &err) == 0);
        CHECK(mk_fstree_add_special(t, "run/fifo", &A644, FSNODE_FIFO, 0, NULL, &err) == 0);
        CHECK(mk_fstree_add_file_mem(t, "bin/su", &(fsnode_attr){.perm = 04755}, "", 0, NULL, &err) == 0);
        CHECK(mk_fstree_add_dir(t, "var/mail", &(fsnode_attr){.perm = 02775}, NULL, &err) == 0);
        CHECK(mk_fstree_check_policy(t, MK_FS_POLICY(0), &err) == -EINVAL);
        CHECK_STREQ(err.msg, "t.tar: entry 'bin/su': setuid file (mode 4755) the component metadata does not declare "
                             "(add it to the metadata's 'setuid' list, or clear the bit)");
        mk_error_clear(&err);
        CHECK(mk_fstree_check_policy(t, MK_FS_POLICY(FSTREE_ALLOW_SETUID), &err) == -EINVAL);
        CHECK_STREQ(err.msg, "t.tar: entry 'dev/null': character device (device nodes are refused unless the "
                             "component metadata sets 'allow-devices: true'; /dev is the kernel's devtmpfs, not "
                             "part of a component)");
        mk_error_clear(&err);
        CHECK(mk_fstree_check_policy(t, MK_FS_POLICY(FSTREE_ALLOW_SETUID | FSTREE_ALLOW_DEVICES), &err) == 0);
        CHECK(mk_fsnode_rdev(mk_fstree_lookup(t, "dev/null")) == makedev(1, 3));
        mk_fsnode_set_perm(mk_fstree_lookup(t, "bin/su"), 02755);
        CHECK(mk_fstree_check_policy(t, MK_FS_POLICY(FSTREE_ALLOW_DEVICES), &err) == -EINVAL);
        CHECK(strstr(err.msg, "'bin/su': setgid file (mode 2755)") != NULL);
        mk_error_clear(&err);
        /* Declared by path: exactly the listed files may be setuid/setgid or carry capabilities. */
        const char *suid[] = {"bin/mount", "bin/su"}, *other[] = {"bin/mount"}, *caps[] = {"bin/ping"};
        mk_fs_policy p = {.allow = FSTREE_ALLOW_DEVICES, .setuid = suid, .n_setuid = 2};
        CHECK(mk_fstree_check_policy(t, &p, &err) == 0);
        p.setuid = other, p.n_setuid = 1;
        CHECK(mk_fstree_check_policy(t, &p, &err) == -EINVAL && strstr(err.msg, "'bin/su': setgid file") != NULL);
        mk_error_clear(&err);
        p.setuid = suid, p.n_setuid = 2;
        fsnode *ping = NULL;
        CHECK(mk_fstree_add_file_mem(t, "bin/ping", &A644, "", 0, &ping, &err) == 0);
        CHECK(mk_fstree_add_xattr(t, ping, FSTREE_XATTR_CAPS, "\x01\x00\x00\x02", 4, &err) == 0);
        CHECK(mk_fstree_check_policy(t, &p, &err) == -EINVAL);
        CHECK_STREQ(err.msg, "t.tar: entry 'bin/ping': file capabilities (security.capability) the component "
                             "metadata does not declare (add it to the metadata's 'capabilities' list, or remove "
                             "the xattr)");
        mk_error_clear(&err);
        p.caps = caps, p.n_caps = 1;
        CHECK(mk_fstree_check_policy(t, &p, &err) == 0);
        CHECK(mk_fstree_check_policy(t, MK_FS_POLICY(FSTREE_ALLOW_DEVICES | FSTREE_ALLOW_SETUID), &err) == -EINVAL);
        mk_error_clear(&err);
        CHECK(mk_fstree_check_policy(t, MK_FS_POLICY(FSTREE_ALLOW_DEVICES | FSTREE_ALLOW_SETUID | FSTREE_ALLOW_CAPS),
                                     &err) == 0);
        CHECK(!mk_fs_policy_lists(suid, 2, "bin/s") && mk_fs_policy_lists(suid, 2, "bin/su") &&
              !mk_fs_policy_lists(NULL, 0, "bin/su"));
        mk_fstree_free(t);
}

/* Symlinks followed inside the tree, as the kernel does for a merged-/usr root's /sbin/init. */
static void test_resolve(void)
{
        fstree *t = new_tree();
        mk_error err = {0};
        fsnode *systemd = NULL;
        CHECK(mk_fstree_add_file_mem(t, "usr/lib/systemd/systemd", &(fsnode_attr){.perm = 0755}, "", 0, &systemd,
                                     &err) == 0);
        CHECK(mk_fstree_add_symlink(t, "sbin", &A644, "usr/sbin", NULL, &err) == 0);
        CHECK(mk_fstree_add_symlink(t, "lib", &A644, "usr/lib", NULL, &err) == 0);
        CHECK(mk_fstree_add_symlink(t, "usr/sbin/init", &A644, "../lib/systemd/systemd", NULL, &err) == 0);
        CHECK(mk_fstree_add_symlink(t, "usr/sbin/abs", &A644, "/lib/systemd/./systemd", NULL, &err) == 0);
        CHECK(mk_fstree_add_symlink(t, "usr/sbin/up", &A644, "../../../../usr/lib/systemd/systemd", NULL, &err) == 0);
        CHECK(mk_fstree_add_symlink(t, "loop1", &A644, "loop2", NULL, &err) == 0);
        CHECK(mk_fstree_add_symlink(t, "loop2", &A644, "/loop1", NULL, &err) == 0);
        CHECK(mk_fstree_add_symlink(t, "usr/sbin/dangling", &A644, "nothing", NULL, &err) == 0);
        CHECK(mk_fstree_resolve(t, "sbin/init") == systemd);
        CHECK(mk_fstree_resolve(t, "/sbin/abs") == systemd);
        CHECK(mk_fstree_resolve(t, "sbin/up") == systemd);
        CHECK(mk_fstree_resolve(t, "lib/systemd/systemd") == systemd);
        CHECK(mk_fstree_resolve(t, "loop1") == NULL);
        CHECK(mk_fstree_resolve(t, "sbin/dangling") == NULL);
        CHECK(mk_fstree_resolve(t, "sbin/none") == NULL);
        CHECK(mk_fstree_resolve(t, "usr/lib/systemd/systemd/x") == NULL);
        mk_fstree_free(t);
}

int main(void)
{
        check_suite_ = "fstree";
        RUN(test_normalize);
        RUN(test_resolve);
        RUN(test_build_and_sort);
        RUN(test_many_entries);
        RUN(test_conflicts);
        RUN(test_hardlinks);
        RUN(test_xattrs);
        RUN(test_policy);
        return check_exit();
}
