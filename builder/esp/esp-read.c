/* SPDX-License-Identifier: MIT */
/* Reading files and directories back from an ESP inside an image (mtools). */
#include "builder/esp/esp.h"
#include "builder/esp/esp-internal.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "signing/base/macro.h"
#include "builder/esp/subprocess.h"

/* Run the mtools command argv with stdout into a memory file; return its bytes (at most max). */
static int run_capture(const char *const *argv, const char *ctx, const esp_mtools *t, size_t max, char **ret,
                       size_t *ret_len, mk_error *err)
{
        _cleanup_close_ int fd = memfd_create("mkimage-esp-read", MFD_CLOEXEC);
        if (fd < 0)
                return mk_error_set(err, errno, "%s: %s", ctx, strerror(errno));
        mk_spawn_opts so = {.package = "mtools", .env = t->env, .stdout_fd = fd, .context = ctx};
        int r = mk_spawn(argv, &so, err);
        if (r < 0)
                return r;
        struct stat st;
        if (fstat(fd, &st) < 0)
                return mk_error_set(err, errno, "%s: %s", ctx, strerror(errno));
        if ((uint64_t)st.st_size > max)
                return mk_error_set(err, EFBIG, "%s: is %jd bytes, more than the %zu expected", ctx,
                                    (intmax_t)st.st_size, max);
        size_t len = (size_t)st.st_size;
        _cleanup_free_ char *buf = malloc(len + 1);
        if (!buf)
                return mk_error_set(err, ENOMEM, "out of memory");
        for (size_t got = 0; got < len;) {
                ssize_t k = pread(fd, buf + got, len - got, (off_t)got);
                if (k <= 0)
                        return mk_error_set(err, k < 0 ? errno : EIO, "%s: cannot read back: %s", ctx,
                                            k < 0 ? strerror(errno) : "short read");
                got += (size_t)k;
        }
        buf[len] = '\0';
        *ret = TAKE_PTR(buf);
        *ret_len = len;
        return 0;
}

/* The context for messages and the mtools target "::/PATH" of esp_path; mtools set up to read. */
static int esp_prepare(const char *image_path, uint64_t offset, const char *esp_path, char *ctx, size_t ctx_size,
                       char target[4200], esp_mtools *t, mk_error *err)
{
        while (*esp_path == '/')
                esp_path++;
        snprintf(ctx, ctx_size, "%s: ESP at byte %" PRIu64 ": /%s", image_path, offset, esp_path);
        if ((size_t)snprintf(target, 4200, "::/%s", esp_path) >= 4200)
                return mk_error_set(err, ENAMETOOLONG, "%s: path too long", ctx);
        return mk_esp_mtools_setup(image_path, ctx, offset, 0, t, err);
}

int mk_esp_read(const char *image_path, uint64_t offset, const char *esp_path, size_t max, char **ret, size_t *ret_len,
                mk_error *err)
{
        char ctx[4400], target[4200];
        esp_mtools t;
        int r = esp_prepare(image_path, offset, esp_path, ctx, sizeof(ctx), target, &t, err);
        if (r < 0)
                return r;
        /* -n: never ask; "-" as the target writes the file to stdout. */
        const char *argv[] = {"mcopy", "-n", "-i", t.spec, target, "-", NULL};
        return run_capture(argv, ctx, &t, max, ret, ret_len, err);
}

char **mk_esp_names_free(char **names)
{
        for (size_t i = 0; names && names[i]; i++)
                free(names[i]);
        free(names);
        return NULL;
}

static int cmp_str(const void *a, const void *b)
{
        return strcmp(*(char *const *)a, *(char *const *)b);
}

/* `mdir -b` of the ESP folder dir into *ret (one "::/DIR/NAME" per line, folders end in '/'). */
static int list_raw(const char *image_path, uint64_t offset, const char *dir, char *ctx, size_t ctx_size, char **ret,
                    size_t *ret_len, mk_error *err)
{
        char target[4200];
        esp_mtools t;
        int r = esp_prepare(image_path, offset, dir, ctx, ctx_size, target, &t, err);
        if (r < 0)
                return r;
        /* -b: bare output, one "::/DIR/NAME" per line, no "." and "..". */
        const char *argv[] = {"mdir", "-b", "-i", t.spec, target, NULL};
        return run_capture(argv, ctx, &t, 1u << 20, ret, ret_len, err);
}

/*
 * Whether the folder dir is on the ESP, read from its parent's listing (not
 * from a tool's message): 1 yes, 0 no, -1 cannot tell (the root itself does
 * not list, or a parent is there but does not list).
 */
static int dir_exists(const char *image_path, uint64_t offset, const char *dir)
{
        while (*dir == '/')
                dir++;
        if (!*dir)
                return -1;
        char parent[4096], ctx[4400], want[4200];
        snprintf(parent, sizeof(parent), "%s", dir);
        char *slash = strrchr(parent, '/');
        if (slash)
                *slash = '\0';
        else
                parent[0] = '\0';
        _cleanup_free_ char *text = NULL;
        size_t len;
        mk_error e = {0};
        if (list_raw(image_path, offset, parent, ctx, sizeof(ctx), &text, &len, &e) < 0)
                return *parent && dir_exists(image_path, offset, parent) == 0 ? 0 : -1;
        snprintf(want, sizeof(want), "::/%s/", dir);
        for (char *save = NULL, *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
                if (!strcasecmp(line, want)) /* FAT names compare without case */
                        return 1;
        return 0;
}

int mk_esp_list(const char *image_path, uint64_t offset, const char *dir, char ***ret_names, mk_error *err)
{
        char ctx[4400];
        _cleanup_free_ char *text = NULL;
        size_t len;
        mk_error e = {0};
        int r = list_raw(image_path, offset, dir, ctx, sizeof(ctx), &text, &len, &e);
        if (r < 0) {
                if (dir_exists(image_path, offset, dir) == 0)
                        return mk_error_set(err, ENOENT, "%s: no such folder on the ESP", ctx);
                if (err && !err->code)
                        *err = e;
                return r;
        }
        size_t n = 0;
        for (size_t i = 0; i < len; i++)
                n += text[i] == '\n';
        char **names = calloc(n + 1, sizeof(*names));
        if (!names)
                return mk_error_set(err, ENOMEM, "out of memory");
        size_t k = 0;
        for (char *save = NULL, *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
                char *slash = strrchr(line, '/');
                const char *name = slash ? slash + 1 : line;
                if (!*name || k == n)
                        continue;
                if (!(names[k++] = strdup(name))) {
                        mk_esp_names_free(names);
                        return mk_error_set(err, ENOMEM, "out of memory");
                }
        }
        qsort(names, k, sizeof(*names), cmp_str);
        *ret_names = names;
        return 0;
}
