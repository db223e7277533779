/* SPDX-License-Identifier: MIT */
/*
 * Unit tests: systemd-boot texts (exact), the newc cpio bytes (exact, against
 * a reference encoder written here from the format), mk_spawn, and the ESP
 * writer's checks (one case per rule, exact messages).
 *
 * With arguments it is the helper tool of tests/cases/esp.sh:
 *   test-esp demo IMG OFFSET SIZE BOOTEFI DIR   the A/B ESP (DIR/slot-{a,b}/...)
 *   test-esp esp IMG OFFSET SIZE PATH=@FILE|PATH=:TEXT ...
 *   test-esp cpio OUT PATH=@FILE|PATH=:TEXT ...  (regular files, mode 0644)
 */
#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "builder/esp/cpio.h"
#include "builder/esp/esp.h"
#include "signing/base/macro.h"
#include "builder/esp/subprocess.h"

#define EPOCH 1767225600u
#define MIB (1024ull * 1024)

/* ---- boot loader texts ---------------------------------------------------- */

static void test_loader_conf(void)
{
        char *s = NULL;
        mk_error err = {0};
        CHECK(mk_esp_loader_conf(0, &s, &err) == 0);
        CHECK_STREQ(s, "# mkimage: no 'default' line on purpose; the entries' sort-keys pick the slot\n"
                       "timeout 0\n"
                       "editor no\n");
        CHECK(!strstr(s, "\ndefault"));
        free(s);
}

static void test_entries(void)
{
        char *path = NULL, *text = NULL;
        mk_error err = {0};
        CHECK(mk_esp_entry("a", 3, 2, "Demo (slot a)", "/slot-a/vmlinuz", "slot-a/initrd.img", "console=ttyS0", &path,
                           &text, &err) == 0);
        CHECK_STREQ(path, "loader/entries/slot-a+3.conf");
        CHECK_STREQ(text, "title Demo (slot a)\n"
                          "version 2\n"
                          "sort-key mkimage-4294967293-a\n"
                          "linux /slot-a/vmlinuz\n"
                          "initrd /slot-a/initrd.img\n"
                          "options console=ttyS0 mkimage.slot=a\n");
        free(path);
        free(text);

        CHECK(mk_esp_entry("b", 0, 1, "Demo (slot b)", "slot-b/vmlinuz", NULL, NULL, &path, &text, &err) == 0);
        CHECK_STREQ(path, "loader/entries/slot-b.conf");
        CHECK_STREQ(text, "title Demo (slot b)\n"
                          "version 1\n"
                          "sort-key mkimage-4294967294-b\n"
                          "linux /slot-b/vmlinuz\n"
                          "options mkimage.slot=b\n");
        free(path);
        free(text);
}

static const char *entry_err(const char *slot, const char *title, const char *lx, const char *ird, const char *opts)
{
        static char out[MK_ERROR_MAX];
        char *path = (char *)"untouched", *text = (char *)"untouched";
        mk_error err = {0};
        int r = mk_esp_entry(slot, 3, 2, title, lx, ird, opts, &path, &text, &err);
        CHECK(r == -EINVAL);
        CHECK_STREQ(path, "untouched");
        CHECK_STREQ(text, "untouched");
        snprintf(out, sizeof(out), "%s", err.msg);
        return out;
}

static void test_entry_errors(void)
{
        CHECK_STREQ(entry_err("A", "t", "/k", NULL, NULL), "boot entry: slot name 'A' must be 1 to 16 of a-z 0-9");
        CHECK_STREQ(entry_err("", "t", "/k", NULL, NULL), "boot entry: slot name '' must be 1 to 16 of a-z 0-9");
        CHECK_STREQ(entry_err("a", "", "/k", NULL, NULL), "boot entry: 'title' is empty (give a value)");
        CHECK_STREQ(entry_err("a", "x\ny", "/k", NULL, NULL),
                    "boot entry: 'title' value 'x\\ny' holds a control character (it must be one line)");
        CHECK_STREQ(entry_err("a", "t", "/k", NULL, "quiet mkimage.slot=b"),
                    "boot entry: options 'quiet mkimage.slot=b' set mkimage.slot themselves (mkimage adds "
                    "mkimage.slot=a; remove it)");
        CHECK_STREQ(entry_err("a", "t", "/slot a/k", NULL, NULL),
                    "boot entry: 'linux' path '/slot a/k': a boot entry path must not hold spaces");
        CHECK_STREQ(entry_err("a", "t", "/k", "/x/../y", NULL),
                    "boot entry: 'initrd' path '/x/../y': write it as NAME/NAME/..., without a leading '/' and "
                    "without empty, '.' or '..' parts");
        CHECK_STREQ(entry_err("a", "t", "//k", NULL, NULL),
                    "boot entry: 'linux' path '//k': write it as NAME/NAME/..., without a leading '/' and without "
                    "empty, '.' or '..' parts");
        CHECK_STREQ(entry_err("a", "t", "/k\\x", NULL, NULL),
                    "boot entry: 'linux' path '/k\\x': FAT names here take only ASCII letters, digits, space and "
                    "!#$%&'()+,-.;=@^_`{}~");
}

/* ---- cpio ----------------------------------------------------------------- */

/*
 * Reference newc encoder, written from the format: header (13 fields of 8 hex
 * digits: ino mode uid gid nlink mtime filesize devmajor devminor rdevmajor
 * rdevminor namesize check), name + NUL, pad to 4, data, pad to 4. The hex
 * case is free; libarchive writes lower case.
 */
static size_t ref_put(char *out, size_t o, uint32_t ino, uint32_t mode, uint32_t nlink, uint32_t mtime,
                      const char *name, const char *data)
{
        size_t size = data ? strlen(data) : 0;
        o += (size_t)sprintf(out + o, "070701%08x%08x%08x%08x%08x%08x%08zx%08x%08x%08x%08x%08zx%08x", ino, mode, 0, 0,
                             nlink, mtime, size, 0, 0, 0, 0, strlen(name) + 1, 0);
        memcpy(out + o, name, strlen(name) + 1);
        o += strlen(name) + 1;
        while (o % 4)
                out[o++] = '\0';
        memcpy(out + o, data ? data : "", size);
        o += size;
        while (o % 4)
                out[o++] = '\0';
        return o;
}

static void test_cpio_bytes(void)
{
        const mk_cpio_entry e[] = {
                {"etc/mkimage/trusted.pub", S_IFREG | 0644, "untrusted comment: k\nRWQ=\n", 26},
                {"etc/mkimage/model", S_IFREG | 0644, "demo-x86_64\n", 12},
                {"etc/mkimage/empty", S_IFREG | 0600, NULL, 0},
        };
        void *buf = NULL;
        size_t len = 0;
        mk_error err = {0};
        CHECK(mk_cpio_newc(e, ELEMENTSOF(e), EPOCH, &buf, &len, &err) == 0);

        char want[2048] = {0};
        size_t o = 0;
        o = ref_put(want, o, 1, 040755, 2, EPOCH, "etc", NULL);
        o = ref_put(want, o, 2, 040755, 2, EPOCH, "etc/mkimage", NULL);
        o = ref_put(want, o, 3, 0100600, 1, EPOCH, "etc/mkimage/empty", NULL);
        o = ref_put(want, o, 4, 0100644, 1, EPOCH, "etc/mkimage/model", "demo-x86_64\n");
        o = ref_put(want, o, 5, 0100644, 1, EPOCH, "etc/mkimage/trusted.pub", "untrusted comment: k\nRWQ=\n");
        o = ref_put(want, o, 0, 0, 1, 0, "TRAILER!!!", NULL);
        o = (o + 511) / 512 * 512;
        CHECK(len == o);
        CHECK(len % MK_CPIO_BLOCK == 0);
        CHECK(buf && len == o && !memcmp(buf, want, o));

        /* Same input in another order: the same bytes. */
        const mk_cpio_entry rev[] = {e[2], e[1], e[0]};
        void *buf2 = NULL;
        size_t len2 = 0;
        CHECK(mk_cpio_newc(rev, ELEMENTSOF(rev), EPOCH, &buf2, &len2, &err) == 0);
        CHECK(len2 == len && buf2 && !memcmp(buf, buf2, len));
        free(buf2);

        /* libarchive reads it back. */
        struct archive *a = archive_read_new();
        archive_read_support_format_cpio(a);
        CHECK(archive_read_open_memory(a, buf, len) == ARCHIVE_OK);
        struct archive_entry *ae;
        const char *names[] = {"etc", "etc/mkimage", "etc/mkimage/empty", "etc/mkimage/model",
                               "etc/mkimage/trusted.pub"};
        size_t i = 0;
        while (archive_read_next_header(a, &ae) == ARCHIVE_OK) {
                CHECK(i < ELEMENTSOF(names) && !strcmp(archive_entry_pathname(ae), names[i]));
                CHECK(archive_entry_uid(ae) == 0 && archive_entry_gid(ae) == 0);
                CHECK(archive_entry_mtime(ae) == EPOCH);
                i++;
        }
        CHECK(i == ELEMENTSOF(names));
        archive_read_free(a);
        free(buf);
}

static const char *cpio_err(const mk_cpio_entry *e, size_t n)
{
        static char out[MK_ERROR_MAX];
        void *buf = (void *)"untouched";
        size_t len = 7;
        mk_error err = {0};
        CHECK(mk_cpio_newc(e, n, EPOCH, &buf, &len, &err) < 0);
        CHECK(len == 7 && !strcmp(buf, "untouched"));
        snprintf(out, sizeof(out), "%s", err.msg);
        return out;
}

static void test_cpio_errors(void)
{
        const mk_cpio_entry dup[] = {{"a", S_IFREG | 0644, "x", 1}, {"a", S_IFREG | 0644, "y", 1}};
        CHECK(strstr(cpio_err(dup, 2), "initrd appendix: entry 'a'"));
        const mk_cpio_entry under_file[] = {{"a", S_IFREG | 0644, "x", 1}, {"a/b", S_IFREG | 0644, "y", 1}};
        CHECK(strstr(cpio_err(under_file, 2), "initrd appendix: entry 'a/b'"));
        const mk_cpio_entry up[] = {{"../etc/x", S_IFREG | 0644, "x", 1}};
        CHECK(strstr(cpio_err(up, 1), "'..' is not allowed in a path"));
        const mk_cpio_entry abs[] = {{"/etc/x", S_IFREG | 0644, "x", 1}};
        CHECK(strstr(cpio_err(abs, 1), "absolute paths are not allowed"));
        const mk_cpio_entry link[] = {{"etc/x", S_IFLNK | 0777, "y", 1}};
        CHECK_STREQ(cpio_err(link, 1), "initrd appendix: entry 'etc/x': mode 0120777 is neither a directory "
                                       "without data nor a regular file with its data (a bug in mkimage)");
        const mk_cpio_entry nodata[] = {{"etc/x", S_IFREG | 0644, NULL, 3}};
        CHECK(strstr(cpio_err(nodata, 1), "neither a directory"));
}

/* ---- mk_spawn ------------------------------------------------------------- */

static int sh(const char *script, const char *const *env, int stdin_fd, mk_error *err)
{
        const char *argv[] = {"sh", "-c", script, NULL};
        const mk_spawn_opts o = {.env = env, .stdin_fd = stdin_fd, .context = "ctx"};
        return mk_spawn(argv, &o, err);
}

static void test_spawn(void)
{
        mk_error err = {0};
        CHECK(sh("exit 0", NULL, 0, &err) == 0);

        CHECK(sh("echo out; echo err >&2; exit 3", NULL, 0, &err) == -EIO);
        CHECK_STREQ(err.msg, "ctx: `sh -c 'echo out; echo err >&2; exit 3'` failed with exit status 3: out / err");
        mk_error_clear(&err);

        CHECK(sh("kill -9 $$", NULL, 0, &err) == -EIO);
        CHECK_STREQ(err.msg, "ctx: `sh -c 'kill -9 $$'` failed with signal 9 (Killed): (no output)");
        mk_error_clear(&err);

        /* Long output: the end is kept. */
        CHECK(sh("i=0; while [ $i -lt 400 ]; do echo line$i; i=$((i+1)); done; exit 1", NULL, 0, &err) == -EIO);
        CHECK(strstr(err.msg, ": ...") && strstr(err.msg, "line399") && !strstr(err.msg, "line0\n"));
        mk_error_clear(&err);

        /* A clean environment: only PATH, LC_ALL=C and what the caller gives. */
        setenv("MKIMAGE_TEST_LEAK", "1", 1);
        const char *env[] = {"X=1", NULL};
        CHECK(sh("[ \"$X\" = 1 ] && [ \"$LC_ALL\" = C ] && [ -z \"${MKIMAGE_TEST_LEAK+set}\" ]", env, 0, &err) == 0);
        unsetenv("MKIMAGE_TEST_LEAK");

        /* stdin: a given fd, or /dev/null. */
        int fd = memfd_create("t", MFD_CLOEXEC);
        CHECK(fd >= 0 && write(fd, "abc\n", 4) == 4 && lseek(fd, 0, SEEK_SET) == 0);
        CHECK(sh("read x && [ \"$x\" = abc ]", NULL, fd, &err) == 0);
        close(fd);
        CHECK(sh("if read x; then exit 1; fi", NULL, 0, &err) == 0);

        /* A missing tool names its Debian package. */
        const char *none[] = {"mkimage-no-such-tool", "-x", NULL};
        const mk_spawn_opts o = {.package = "dosfstools", .context = "out.img: ESP at byte 1048576"};
        CHECK(mk_spawn(none, &o, &err) == -ENOENT);
        CHECK_STREQ(err.msg, "out.img: ESP at byte 1048576: mkimage-no-such-tool: command not found in $PATH, "
                             "/usr/sbin or /sbin (install the Debian package 'dosfstools': apt-get install "
                             "dosfstools)");
        mk_error_clear(&err);

        /* /usr/sbin is searched even when PATH lacks it (a rootless user's PATH). */
        char *saved = strdup(getenv("PATH") ? getenv("PATH") : "");
        setenv("PATH", "/usr/bin:/bin", 1);
        const char *mkfs[] = {"mkfs.vfat", "--help", NULL};
        const mk_spawn_opts so = {.package = "dosfstools"};
        CHECK(mk_spawn(mkfs, &so, &err) == 0);
        setenv("PATH", saved, 1);
        free(saved);
}

/* ---- the ESP writer's checks ---------------------------------------------- */

static char scratch[64] = "";

/* A sparse scratch image of size bytes. */
static void scratch_image(uint64_t size)
{
        if (!*scratch) {
                snprintf(scratch, sizeof(scratch), "/tmp/mkimage-esp-XXXXXX");
                int fd = mkstemp(scratch);
                CHECK(fd >= 0);
                close(fd);
        }
        CHECK(truncate(scratch, 0) == 0 && truncate(scratch, (off_t)size) == 0);
}

static const mk_esp_opts OPTS = {.label = "ESP", .volume_id = 0x1234abcd, .source_date_epoch = EPOCH};

static const char *esp_err(int want, uint64_t size, const mk_esp_file *f, size_t n, const mk_esp_opts *o)
{
        static char out[MK_ERROR_MAX];
        mk_error err = {0};
        int r = mk_esp_write(scratch, MIB, size, f, n, o ? o : &OPTS, &err);
        if (r != want)
                fprintf(stderr, "mk_esp_write returned %d, want %d: %s\n", r, want, err.msg);
        CHECK(r == want);
        snprintf(out, sizeof(out), "%s", err.msg + (strncmp(err.msg, scratch, strlen(scratch)) ? 0 : strlen(scratch)));
        return out;
}

static void test_esp_ok(void)
{
        scratch_image(40 * MIB);
        const mk_esp_file f[] = {{.esp_path = "EFI/BOOT/BOOTX64.EFI", .source = "/bin/sh"},
                                 {.esp_path = "loader/loader.conf", .data = "timeout 0\n", .size = 10},
                                 {.esp_path = "empty", .data = NULL, .size = 0}};
        CHECK_STREQ(esp_err(0, 34 * MIB, f, ELEMENTSOF(f), NULL), "");
        CHECK(mk_esp_volume_id("example", "demo") == mk_esp_volume_id("example", "demo"));
        CHECK(mk_esp_volume_id("example", "demo") != mk_esp_volume_id("example", "other"));
}

/* Listing a folder: its names; a folder that is not there is -ENOENT, told apart without a tool's message. */
static void test_esp_list(void)
{
        scratch_image(40 * MIB);
        const mk_esp_file f[] = {{.esp_path = "loader/loader.conf", .data = "timeout 0\n", .size = 10},
                                 {.esp_path = "loader/entries/slot-a.conf", .data = "title a\n", .size = 8}};
        CHECK_STREQ(esp_err(0, 34 * MIB, f, ELEMENTSOF(f), NULL), "");
        char **names = NULL;
        mk_error err = {0};
        CHECK(mk_esp_list(scratch, MIB, "loader/entries", MK_ESP_LIST_MAX, &names, &err) == 0);
        CHECK(names && names[0] && !strcmp(names[0], "slot-a.conf") && !names[1]);
        names = mk_esp_names_free(names);
        CHECK(mk_esp_list(scratch, MIB, "loader/nope", MK_ESP_LIST_MAX, &names, &err) == -ENOENT);
        CHECK(strstr(err.msg, "no such folder on the ESP") != NULL);
        mk_error_clear(&err);
        CHECK(mk_esp_list(scratch, MIB, "nope/deeper", MK_ESP_LIST_MAX, &names, &err) == -ENOENT);
        mk_error_clear(&err);
        /* Not a FAT file system at all: an error, but not "missing". */
        CHECK(mk_esp_list(scratch, 0, "loader/entries", MK_ESP_LIST_MAX, &names, &err) < 0);
        CHECK(err.code != ENOENT);
}

static void test_esp_errors(void)
{
        scratch_image(40 * MIB);
        const mk_esp_file one[] = {{.esp_path = "a", .data = "x", .size = 1}};
        mk_esp_opts o = OPTS;
        o.label = "esp";
        CHECK_STREQ(esp_err(-EINVAL, 34 * MIB, one, 1, &o),
                    ": ESP at byte 1048576: volume label 'esp' must be 1 to 11 of A-Z 0-9 _ -");
        o = OPTS;
        o.source_date_epoch = 4354819200ull;
        CHECK_STREQ(esp_err(-EINVAL, 34 * MIB, one, 1, &o),
                    ": ESP at byte 1048576: time stamp 4354819200 is beyond what FAT stores (2107-12-31); set "
                    "SOURCE_DATE_EPOCH to at most 4354819199");
        CHECK_STREQ(esp_err(-EINVAL, 34 * MIB + 512, one, 1, NULL),
                    ": ESP at byte 1048576: the ESP must start on a 512-byte sector and its size (35652096) be a "
                    "non-zero multiple of 1024 (a bug in the layout)");

        const mk_esp_file colon[] = {{.esp_path = "EFI/a:b", .data = "x", .size = 1}};
        CHECK_STREQ(esp_err(-EINVAL, 34 * MIB, colon, 1, NULL),
                    ": ESP at byte 1048576: ESP path 'EFI/a:b': FAT names here take only ASCII letters, digits, "
                    "space and !#$%&'()+,-.;=@^_`{}~ (rename it)");
        const mk_esp_file dot[] = {{.esp_path = "EFI/name.", .data = "x", .size = 1}};
        CHECK_STREQ(esp_err(-EINVAL, 34 * MIB, dot, 1, NULL),
                    ": ESP at byte 1048576: ESP path 'EFI/name.': a FAT name must not end in '.' or ' ' (rename it)");
        const mk_esp_file abs[] = {{.esp_path = "/EFI/x", .data = "x", .size = 1}};
        CHECK_STREQ(esp_err(-EINVAL, 34 * MIB, abs, 1, NULL),
                    ": ESP at byte 1048576: ESP path '/EFI/x': write it as NAME/NAME/..., without a leading '/' and "
                    "without empty, '.' or '..' parts (rename it)");
        const mk_esp_file cases[] = {{.esp_path = "EFI/x", .data = "x", .size = 1},
                                     {.esp_path = "efi/y", .data = "y", .size = 1}};
        CHECK_STREQ(esp_err(-EINVAL, 34 * MIB, cases, 2, NULL),
                    ": ESP at byte 1048576: ESP path 'efi': 'EFI' and 'efi' are the same name on FAT (it ignores "
                    "case); spell them the same (rename it)");
        const mk_esp_file dup[] = {{.esp_path = "a/x", .data = "x", .size = 1},
                                   {.esp_path = "a/x", .data = "y", .size = 1}};
        CHECK(strstr(esp_err(-EEXIST, 34 * MIB, dup, 2, NULL), ": ESP at byte 1048576: entry 'a/x'"));
        const mk_esp_file both[] = {{.esp_path = "a", .source = "/bin/sh", .data = "x", .size = 1}};
        CHECK_STREQ(esp_err(-EINVAL, 34 * MIB, both, 1, NULL),
                    ": ESP at byte 1048576: ESP file 'a': give either a source file or data (a bug in mkimage)");
        const mk_esp_file missing[] = {{.esp_path = "a", .source = "/nonexistent/vmlinuz"}};
        CHECK_STREQ(esp_err(-ENOENT, 34 * MIB, missing, 1, NULL),
                    ": ESP at byte 1048576: ESP file 'a': cannot open /nonexistent/vmlinuz: No such file or "
                    "directory");
        const mk_esp_file dir[] = {{.esp_path = "a", .source = "/"}};
        CHECK_STREQ(esp_err(-EINVAL, 34 * MIB, dir, 1, NULL),
                    ": ESP at byte 1048576: ESP file 'a': / is not a regular file");

        /* The image must already hold the whole partition. */
        CHECK_STREQ(esp_err(-EINVAL, 40 * MIB, one, 1, NULL),
                    ": ESP at byte 1048576: the image must be a regular file of at least 42991616 bytes to hold the "
                    "ESP (it is 41943040 bytes; a bug in mkimage)");
        /* FAT32 needs 65525 clusters. */
        CHECK_STREQ(esp_err(-EINVAL, 32 * MIB, one, 1, NULL),
                    ": ESP at byte 1048576: 33554432 bytes is too small for FAT32 (64480 clusters, it needs 65525, "
                    "or firmware reads it as FAT16); make the ESP partition at least 33 MiB");
        /* Too big, found before anything is written. */
        static char big[35 * MIB];
        const mk_esp_file huge[] = {{.esp_path = "EFI/BOOT/BOOTX64.EFI", .data = "x", .size = 1},
                                    {.esp_path = "slot-a/vmlinuz", .data = big, .size = sizeof(big)}};
        CHECK_STREQ(esp_err(-EFBIG, 34 * MIB, huge, 2, NULL),
                    ": ESP at byte 1048576: the ESP files do not fit: they need 36702720 bytes (in 512-byte clusters, "
                    "directories included) but the whole partition holds 35651584 bytes; the largest is "
                    "'slot-a/vmlinuz' (36700160 bytes). Make the ESP partition at least 2 MiB larger or the files "
                    "smaller");
        /* Too big for the file system made (FAT and reserved sectors take their share). */
        const mk_esp_file near[] = {{.esp_path = "slot-a/vmlinuz", .data = big, .size = 34 * MIB - 4096}};
        CHECK(strstr(esp_err(-EFBIG, 34 * MIB, near, 1, NULL),
                     "the ESP files do not fit: they need 35648512 bytes (in 512-byte clusters, directories included) "
                     "but the FAT32 file system has room for "));
        unlink(scratch);
}

/* ---- helper tool for tests/cases/esp.sh ------------------------------------ */

/* "PATH=@FILE" or "PATH=:TEXT" into f (the strings point into arg, which is modified). */
static int parse_spec(char *arg, mk_esp_file *f)
{
        char *eq = strchr(arg, '=');
        if (!eq || (eq[1] != '@' && eq[1] != ':'))
                return -1;
        *eq = '\0';
        f->esp_path = arg;
        if (eq[1] == '@')
                f->source = eq + 2;
        else {
                f->data = eq + 2;
                f->size = strlen(eq + 2);
        }
        return 0;
}

static uint64_t epoch(void)
{
        const char *s = getenv("SOURCE_DATE_EPOCH");
        return s ? strtoull(s, NULL, 10) : EPOCH;
}

static int tool_write(const char *img, const char *off, const char *size, mk_esp_file *f, size_t n)
{
        mk_esp_opts o = {
                .label = "ESP", .volume_id = mk_esp_volume_id("example", "demo-x86_64"), .source_date_epoch = epoch()};
        mk_error err = {0};
        if (mk_esp_write(img, strtoull(off, NULL, 0), strtoull(size, NULL, 0), f, n, &o, &err) < 0) {
                fprintf(stderr, "%s\n", err.msg);
                return 1;
        }
        return 0;
}

/* The A/B ESP mkimage writes: systemd-boot, loader.conf, one entry per slot, each slot's boot files. */
static int tool_demo(char **argv)
{
        const char *dir = argv[5];
        char *texts[3] = {NULL}, *paths[3] = {NULL}, src[8][512];
        mk_esp_file f[12] = {{.esp_path = "EFI/BOOT/BOOTX64.EFI", .source = argv[4]}};
        size_t n = 1;
        mk_error err = {0};
        int rc = 1;

        if (mk_esp_loader_conf(0, &texts[2], &err) < 0)
                goto out;
        f[n++] = (mk_esp_file){.esp_path = MK_ESP_LOADER_CONF, .data = texts[2], .size = strlen(texts[2])};
        for (int s = 0; s < 2; s++) {
                const char *slot = s ? "b" : "a";
                char title[64], lx[64], ird[64];
                static char names[8][64];
                snprintf(title, sizeof(title), "Demo (slot %s)", slot);
                snprintf(lx, sizeof(lx), "/slot-%s/vmlinuz", slot);
                snprintf(ird, sizeof(ird), "/slot-%s/initrd.img", slot);
                if (mk_esp_entry(slot, 3, s ? 1 : 2, title, lx, ird, "console=ttyS0", &paths[s], &texts[s], &err) < 0)
                        goto out;
                f[n++] = (mk_esp_file){.esp_path = paths[s], .data = texts[s], .size = strlen(texts[s])};
                const char *files[] = {"vmlinuz", "initrd.img", "manifest.yaml", "manifest.yaml.minisig"};
                for (int i = 0; i < 4; i++) {
                        int k = s * 4 + i;
                        snprintf(names[k], sizeof(names[k]), "slot-%s/%s", slot, files[i]);
                        snprintf(src[k], sizeof(src[k]), "%s/%s", dir, names[k]);
                        f[n++] = (mk_esp_file){.esp_path = names[k], .source = src[k]};
                }
        }
        rc = tool_write(argv[1], argv[2], argv[3], f, n);
out:
        if (err.code)
                fprintf(stderr, "%s\n", err.msg);
        for (int i = 0; i < 3; i++) {
                free(texts[i]);
                free(paths[i]);
        }
        return rc;
}

static int tool_cpio(int argc, char **argv)
{
        mk_cpio_entry e[16];
        char *bufs[16] = {NULL};
        int n = 0, rc = 1;
        for (int i = 3; i < argc && n < 16; i++, n++) {
                mk_esp_file f = {0};
                if (parse_spec(argv[i], &f) < 0)
                        goto out;
                e[n] = (mk_cpio_entry){.path = f.esp_path, .mode = S_IFREG | 0644, .data = f.data, .size = f.size};
                if (f.source) {
                        FILE *in = fopen(f.source, "rb");
                        if (!in)
                                goto out;
                        bufs[n] = malloc(1 << 20);
                        e[n].size = fread(bufs[n], 1, 1 << 20, in);
                        e[n].data = bufs[n];
                        fclose(in);
                }
        }
        void *buf = NULL;
        size_t len = 0;
        mk_error err = {0};
        if (mk_cpio_newc(e, (size_t)n, (uint32_t)epoch(), &buf, &len, &err) < 0) {
                fprintf(stderr, "%s\n", err.msg);
                goto out;
        }
        FILE *out = fopen(argv[2], "wb");
        rc = !out || fwrite(buf, 1, len, out) != len;
        if (out)
                rc |= fclose(out) != 0;
        free(buf);
out:
        for (int i = 0; i < 16; i++)
                free(bufs[i]);
        return rc;
}

static int tool(int argc, char **argv)
{
        if (argc == 7 && !strcmp(argv[1], "demo"))
                return tool_demo(argv + 1);
        if (argc >= 5 && !strcmp(argv[1], "esp")) {
                mk_esp_file f[32] = {{0}};
                int n = 0;
                for (int i = 5; i < argc && n < 32; i++, n++)
                        if (parse_spec(argv[i], &f[n]) < 0)
                                return 2;
                return tool_write(argv[2], argv[3], argv[4], f, (size_t)n);
        }
        if (argc >= 3 && !strcmp(argv[1], "cpio"))
                return tool_cpio(argc, argv);
        fprintf(stderr, "usage: see the comment at the top of tests/unit/test-esp.c\n");
        return 2;
}

int main(int argc, char **argv)
{
        if (argc > 1)
                return tool(argc, argv);
        check_suite_ = "esp";
        RUN(test_loader_conf);
        RUN(test_entries);
        RUN(test_entry_errors);
        RUN(test_cpio_bytes);
        RUN(test_cpio_errors);
        RUN(test_spawn);
        RUN(test_esp_ok);
        RUN(test_esp_list);
        RUN(test_esp_errors);
        return check_exit();
}
