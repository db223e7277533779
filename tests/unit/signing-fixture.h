/* SPDX-License-Identifier: MIT */
/* Helpers shared by the unit tests of signing/ (test-signing.c, test-seckey.c, test-base.c). */
#ifndef MK_SIGNING_FIXTURE_H
#define MK_SIGNING_FIXTURE_H

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "signing/base/error.h"
#include "signing/minisign/minisign.h"

/* Each test program has its own scratch folder (made in main). */
static char dir[64];

/* ---- helpers ------------------------------------------------------------ */

static inline char *path_in(const char *name)
{
        static char buf[4][256];
        static int i;
        i = (i + 1) % 4;
        snprintf(buf[i], sizeof(buf[i]), "%s/%s", dir, name);
        return buf[i];
}

static inline int sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static inline int sh(const char *fmt, ...)
{
        char cmd[1024];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(cmd, sizeof(cmd), fmt, ap);
        va_end(ap);
        int rc = system(cmd);
        return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

static inline char *slurp(const char *path)
{
        FILE *f = fopen(path, "rb");
        if (!f)
                return NULL;
        char *buf = calloc(1, 1 << 16);
        size_t n = fread(buf, 1, (1 << 16) - 1, f);
        buf[n] = '\0';
        fclose(f);
        return buf;
}

static inline void spit(const char *path, const char *text, mode_t mode)
{
        unlink(path);
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);
        CHECK(fd >= 0);
        if (fd < 0)
                return;
        CHECK(write(fd, text, strlen(text)) == (ssize_t)strlen(text));
        fchmod(fd, mode);
        close(fd);
}

/* text with the first occurrence of from replaced by to (malloc'd). */
static inline char *replace(const char *text, const char *from, const char *to)
{
        const char *p = strstr(text, from);
        CHECK(p != NULL);
        if (!p)
                return strdup(text);
        size_t n = strlen(text) - strlen(from) + strlen(to);
        char *out = malloc(n + 1);
        size_t head = (size_t)(p - text);
        memcpy(out, text, head);
        strcpy(out + head, to);
        strcat(out, p + strlen(from));
        return out;
}

/* Decode base64 line lineno (1-based) of text, let edit change the bytes,
 * re-encode it in place of the line. Returns a new malloc'd text. */
static inline char *edit_line(const char *text, int lineno, void (*edit)(uint8_t *bin, size_t len, void *ctx),
                              void *ctx)
{
        const char *p = text;
        for (int i = 1; i < lineno; i++)
                p = strchr(p, '\n') + 1;
        size_t len = strcspn(p, "\n");
        uint8_t bin[256];
        size_t bin_len = 0;
        CHECK(sodium_base642bin(bin, sizeof(bin), p, len, NULL, &bin_len, NULL, sodium_base64_VARIANT_ORIGINAL) == 0);
        edit(bin, bin_len, ctx);
        char b64[400];
        sodium_bin2base64(b64, sizeof(b64), bin, bin_len, sodium_base64_VARIANT_ORIGINAL);
        char *out = malloc(strlen(text) + sizeof(b64));
        size_t head = (size_t)(p - text);
        memcpy(out, text, head);
        strcpy(out + head, b64);
        strcat(out, p + len);
        return out;
}

typedef struct patch {
        size_t off;
        const char *bytes;
        size_t n;
} patch;

static inline void apply_patch(uint8_t *bin, size_t len, void *ctx)
{
        const patch *pt = ctx;
        CHECK(pt->off + pt->n <= len);
        memcpy(bin + pt->off, pt->bytes, pt->n);
}

static inline void flip_bit(uint8_t *bin, size_t len, void *ctx)
{
        size_t off = *(const size_t *)ctx;
        CHECK(off < len);
        bin[off] ^= 0x01;
}

static inline char *patch_line(const char *text, int lineno, size_t off, const char *bytes, size_t n)
{
        patch pt = {off, bytes, n};
        return edit_line(text, lineno, apply_patch, &pt);
}

static inline char *flip_line(const char *text, int lineno, size_t off)
{
        return edit_line(text, lineno, flip_bit, &off);
}

static inline void expect_err(int r, const mk_error *err, int code, const char *msg)
{
        CHECK(r == -code);
        CHECK(err->code == code);
        CHECK_STREQ(err->msg, msg);
}

static inline double now(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* A fixed public key (made by mkimage keygen) for the parser tables. */
__attribute__((unused)) static const char PUB_OK[] = "untrusted comment: minisign public key 299F6E737A08244B\n"
                                                     "RWRLJAh6c26fKV4cYZA0JOLSaMCgCcqE+V0JyR9KCkxAwl8FyOtLXDy1\n";

/* ---- key ids ------------------------------------------------------------ */

/* A fixed SOURCE_DATE_EPOCH, no passphrase in the environment, a fresh scratch folder; -1 when it cannot be made. */
static inline int fixture_start(void)
{
        setenv("SOURCE_DATE_EPOCH", "1767225600", 1);
        unsetenv(MK_KEY_PASSPHRASE_ENV);
        snprintf(dir, sizeof(dir), "/tmp/mk-signing.XXXXXX");
        if (!mkdtemp(dir)) {
                perror("mkdtemp");
                return -1;
        }
        return 0;
}

static inline void fixture_end(void)
{
        sh("rm -rf %s", dir);
}

#endif
