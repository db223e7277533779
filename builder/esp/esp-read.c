/* SPDX-License-Identifier: MIT */
/* Reading files and directories back from an ESP inside an image (mtools). */
#include "builder/esp/esp.h"
#include "builder/esp/esp-internal.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "signing/base/macro.h"
#include "builder/image/digest.h"
#include "signing/disk/fat-edit.h"
#include "signing/disk/fat.h"
#include "builder/esp/subprocess.h"

/* What a capture keeps: at most max bytes, refused past that. */
typedef struct capture {
        const char *ctx;
        size_t max, len, cap;
        char *buf;
} capture;

static int capture_sink(const void *data, size_t len, void *userdata, mk_error *err)
{
        capture *c = userdata;
        if (len > c->max - c->len)
                return mk_error_set(err, EFBIG, "%s: is more than %zu bytes, the most mkimage reads there", c->ctx,
                                    c->max);
        if (c->len + len + 1 > c->cap) {
                size_t cap = c->cap ? c->cap : 4096;
                while (cap < c->len + len + 1)
                        cap *= 2;
                char *nb = realloc(c->buf, cap);
                if (!nb)
                        return mk_error_set(err, ENOMEM, "out of memory");
                c->buf = nb, c->cap = cap;
        }
        memcpy(c->buf + c->len, data, len);
        c->len += len;
        return 0;
}

/* After r (0 or -errno) of filling c: its bytes NUL-terminated into *ret, or freed on an error. */
static int capture_take(capture *c, int r, char **ret, size_t *ret_len, mk_error *err)
{
        if (r >= 0 && !c->buf && !(c->buf = malloc(1)))
                r = mk_error_set(err, ENOMEM, "out of memory");
        if (r < 0) {
                free(c->buf);
                return r;
        }
        c->buf[c->len] = '\0';
        *ret = c->buf;
        *ret_len = c->len;
        return 0;
}

/* Run the mtools command argv and return its stdout (at most max bytes: more is -EFBIG, the tool is stopped). */
static int run_capture(const char *const *argv, const char *ctx, const esp_mtools *t, size_t max, char **ret,
                       size_t *ret_len, mk_error *err)
{
        capture c = {.ctx = ctx, .max = max};
        mk_spawn_opts so = {.package = "mtools", .env = t->env, .context = ctx, .sink = capture_sink, .sink_data = &c};
        return capture_take(&c, mk_spawn(argv, &so, err), ret, ret_len, err);
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

/*
 * The file read by mkimage's own FAT32 reader (signing/disk/fat.c) into sink: 0, a
 * sink's error, or 1 when that reader cannot say (not such a volume, the
 * file not found, a chain that does not hold it): mtools answers then, with
 * its own words.
 */
static int fat_read(const char *image_path, uint64_t offset, const char *esp_path,
                    int (*sink)(const void *data, size_t len, void *userdata, mk_error *err), void *userdata,
                    mk_error *err)
{
        while (*esp_path == '/')
                esp_path++;
        _cleanup_close_ int fd = open(image_path, O_RDONLY | O_CLOEXEC);
        mk_fat_file *f = NULL;
        mk_error quiet = {0};
        if (fd < 0 || mk_fat_locate(fd, image_path, offset, esp_path, &f, &quiet) < 0)
                return 1;
        int r = mk_fat_file_stream(fd, f, sink, userdata, err);
        mk_fat_file_free(f);
        if (r == -EUCLEAN) {
                mk_error_clear(err);
                return 1;
        }
        return r;
}

int mk_esp_read(const char *image_path, uint64_t offset, const char *esp_path, size_t max, char **ret, size_t *ret_len,
                mk_error *err)
{
        char ctx[4400], target[4200];
        esp_mtools t;
        int r = esp_prepare(image_path, offset, esp_path, ctx, sizeof(ctx), target, &t, err);
        if (r < 0)
                return r;
        capture c = {.ctx = ctx, .max = max};
        if ((r = fat_read(image_path, offset, esp_path, capture_sink, &c, err)) <= 0)
                return capture_take(&c, r, ret, ret_len, err);
        /* -n: never ask; "-" as the target writes the file to stdout. */
        const char *argv[] = {"mcopy", "-n", "-i", t.spec, target, "-", NULL};
        return run_capture(argv, ctx, &t, max, ret, ret_len, err);
}

typedef struct hashing {
        const char *ctx;
        uint64_t max, len;
        EVP_MD_CTX *md;
} hashing;

static int hash_sink(const void *data, size_t len, void *userdata, mk_error *err)
{
        hashing *h = userdata;
        if (len > h->max - h->len)
                return mk_error_set(err, EFBIG, "%s: is more than %" PRIu64 " bytes, the most mkimage reads there",
                                    h->ctx, h->max);
        h->len += len;
        EVP_DigestUpdate(h->md, data, len);
        return 0;
}

int mk_esp_sha256(const char *image_path, uint64_t offset, const char *esp_path, uint64_t max, char hex[65],
                  uint64_t *ret_len, mk_error *err)
{
        char ctx[4400], target[4200];
        esp_mtools t;
        int r = esp_prepare(image_path, offset, esp_path, ctx, sizeof(ctx), target, &t, err);
        if (r < 0)
                return r;
        hashing h = {.ctx = ctx, .max = max, .md = EVP_MD_CTX_new()};
        if (!h.md)
                return mk_error_set(err, ENOMEM, "out of memory");
        EVP_DigestInit_ex(h.md, EVP_sha256(), NULL);
        if ((r = fat_read(image_path, offset, esp_path, hash_sink, &h, err)) > 0) {
                const char *argv[] = {"mcopy", "-n", "-i", t.spec, target, "-", NULL};
                mk_spawn_opts so = {
                        .package = "mtools", .env = t.env, .context = ctx, .sink = hash_sink, .sink_data = &h};
                r = mk_spawn(argv, &so, err);
        }
        uint8_t md[32];
        EVP_DigestFinal_ex(h.md, md, NULL);
        EVP_MD_CTX_free(h.md);
        if (r < 0)
                return r;
        mk_hex(md, sizeof(md), hex);
        *ret_len = h.len;
        return 0;
}

char **mk_esp_names_free(char **names)
{
        return mk_fat_names_free(names); /* the same shape: a NULL-terminated array of strings */
}

static int cmp_str(const void *a, const void *b)
{
        return strcmp(*(char *const *)a, *(char *const *)b);
}

/* `mdir -b` of the ESP folder dir into *ret (one "::/DIR/NAME" per line, folders end in '/'); all: recursive. */
static int list_raw(const char *image_path, uint64_t offset, const char *dir, bool all, char *ctx, size_t ctx_size,
                    char **ret, size_t *ret_len, mk_error *err)
{
        char target[4200];
        esp_mtools t;
        int r = esp_prepare(image_path, offset, dir, ctx, ctx_size, target, &t, err);
        if (r < 0)
                return r;
        /* -b: bare output, one "::/DIR/NAME" per line, no "." and ".."; -/: and every folder below. */
        const char *argv[] = {"mdir", "-b", "-i", t.spec, target, NULL, NULL};
        if (all)
                memmove(argv + 2, (const char *[]){"-/", "-i", t.spec, target}, 4 * sizeof(*argv));
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
        if (list_raw(image_path, offset, parent, false, ctx, sizeof(ctx), &text, &len, &e) < 0)
                return *parent && dir_exists(image_path, offset, parent) == 0 ? 0 : -1;
        snprintf(want, sizeof(want), "::/%s/", dir);
        for (char *save = NULL, *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
                if (!strcasecmp(line, want)) /* FAT names compare without case */
                        return 1;
        return 0;
}

/*
 * The files (not folders) of the folder dir through the trust core's FAT32
 * reader, unsorted: 0, or 1 when it cannot say (not such a volume, no such
 * folder, a damaged entry): mdir answers then, with its own words.
 */
static int fat_list(const char *image_path, uint64_t offset, const char *dir, char ***ret, size_t *ret_n)
{
        _cleanup_close_ int fd = open(image_path, O_RDONLY | O_CLOEXEC);
        char **names = NULL;
        size_t n = 0, k = 0;
        mk_error quiet = {0};
        if (fd < 0 || mk_fat_list(fd, image_path, offset, dir, &names, &n, &quiet) < 0)
                return 1;
        for (size_t i = 0; i < n; i++) {
                char path[4400];
                mk_fat_file *f = NULL;
                snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
                int r = mk_fat_locate(fd, image_path, offset, path, &f, &quiet);
                mk_fat_file_free(f);
                if (r < 0 && r != -EISDIR) {
                        mk_fat_names_free(names);
                        return 1;
                }
                if (r == -EISDIR)
                        free(names[i]);
                else
                        names[k++] = names[i];
                names[i] = i < k ? names[i] : NULL;
        }
        *ret = names;
        *ret_n = k;
        return 0;
}

int mk_esp_list(const char *image_path, uint64_t offset, const char *dir, size_t max, char ***ret_names, mk_error *err)
{
        char **fast = NULL;
        size_t nf = 0;
        if (fat_list(image_path, offset, dir, &fast, &nf) == 0) {
                if (nf > max) {
                        mk_fat_names_free(fast);
                        return mk_error_set(err, E2BIG,
                                            "%s: ESP at byte %" PRIu64 ": /%s: holds %zu entries, more than the %zu "
                                            "mkimage reads there",
                                            image_path, offset, dir, nf, max);
                }
                qsort(fast, nf, sizeof(*fast), cmp_str);
                *ret_names = fast;
                return 0;
        }
        char ctx[4400];
        _cleanup_free_ char *text = NULL;
        size_t len;
        mk_error e = {0};
        int r = list_raw(image_path, offset, dir, false, ctx, sizeof(ctx), &text, &len, &e);
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
        if (n > max)
                return mk_error_set(err, E2BIG, "%s: holds %zu entries, more than the %zu mkimage reads there", ctx, n,
                                    max);
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

int mk_esp_list_all(const char *image_path, uint64_t offset, size_t max, char ***ret_paths, mk_error *err)
{
        char ctx[4400];
        _cleanup_free_ char *text = NULL;
        size_t len;
        int r = list_raw(image_path, offset, "", true, ctx, sizeof(ctx), &text, &len, err);
        if (r < 0)
                return r;
        size_t n = 0;
        for (size_t i = 0; i < len; i++)
                n += text[i] == '\n';
        if (n > max)
                return mk_error_set(err, E2BIG, "%s: holds %zu files and folders, more than the %zu mkimage reads", ctx,
                                    n, max);
        char **paths = calloc(n + 1, sizeof(*paths));
        if (!paths)
                return mk_error_set(err, ENOMEM, "out of memory");
        size_t k = 0;
        for (char *save = NULL, *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
                if (strncmp(line, "::/", 3) || !line[3] || k == n)
                        continue;
                if (!(paths[k++] = strdup(line + 3))) {
                        mk_esp_names_free(paths);
                        return mk_error_set(err, ENOMEM, "out of memory");
                }
        }
        qsort(paths, k, sizeof(*paths), cmp_str);
        *ret_paths = paths;
        return 0;
}
