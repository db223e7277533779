/* SPDX-License-Identifier: MIT */
/*
 * Shared by the libFuzzer targets tests/fuzz/fuzz-*.c (see docs/fuzzing.md).
 *
 * fuzz_file: the current input as a file, for the parsers that take a path
 * (models, layouts, GPT images, components). It is a memfd reached as
 * /proc/self/fd/N: nothing is written to a file system and nothing is left
 * behind when a fuzzer crashes. Where memfd_create or /proc is missing it
 * falls back to one file in a private directory under /dev/shm (or /tmp),
 * removed at exit.
 *
 * MKIMAGE_FUZZ_VERBOSE=1 prints each input's outcome to stderr ("ok" or the
 * parser's error message): `build/fuzz/fuzz-model FILE` then says why a seed
 * is refused, which is how the corpus entries were checked.
 */
#ifndef MK_FUZZ_H
#define MK_FUZZ_H

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "signing/base/error.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

/* A setup failure or a broken invariant: a crash libFuzzer records. */
__attribute__((noreturn, format(printf, 1, 2))) static inline void fuzz_die(const char *fmt, ...)
{
        va_list ap;
        va_start(ap, fmt);
        fputs("fuzz: ", stderr);
        vfprintf(stderr, fmt, ap);
        fputc('\n', stderr);
        va_end(ap);
        abort();
}

static inline int fuzz_verbose(void)
{
        static int v = -1;
        if (v < 0) {
                const char *e = getenv("MKIMAGE_FUZZ_VERBOSE");
                v = e && *e && strcmp(e, "0") != 0;
        }
        return v;
}

/* With MKIMAGE_FUZZ_VERBOSE: what happened to this input. */
static inline void fuzz_report(const char *what, int r, const mk_error *err)
{
        if (!fuzz_verbose())
                return;
        if (r >= 0)
                fprintf(stderr, "%s: ok\n", what);
        else
                fprintf(stderr, "%s: %d: %s\n", what, r, err && err->msg[0] ? err->msg : "(no message)");
}

typedef struct fuzz_file {
        int fd;
        char path[96];
        char dir[64]; /* the fallback's private directory, "" for a memfd */
} fuzz_file;

static fuzz_file *fuzz_file_fallback_;

static inline void fuzz_file_cleanup_(void)
{
        fuzz_file *f = fuzz_file_fallback_;
        if (f && f->dir[0]) {
                unlink(f->path);
                rmdir(f->dir);
        }
}

/* Open f once (from LLVMFuzzerInitialize); name shows in /proc and ls -l. */
static inline void fuzz_file_open(fuzz_file *f, const char *name)
{
        memset(f, 0, sizeof(*f));
        f->fd = memfd_create(name, MFD_CLOEXEC);
        if (f->fd >= 0) {
                snprintf(f->path, sizeof(f->path), "/proc/self/fd/%d", f->fd);
                if (access(f->path, R_OK) == 0)
                        return;
                close(f->fd);
        }
        const char *base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
        snprintf(f->dir, sizeof(f->dir), "%s/mkimage-fuzz.XXXXXX", base);
        if (!mkdtemp(f->dir))
                fuzz_die("cannot create a directory in %s: %s", base, strerror(errno));
        snprintf(f->path, sizeof(f->path), "%s/%s", f->dir, name);
        f->fd = open(f->path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (f->fd < 0)
                fuzz_die("cannot create %s: %s", f->path, strerror(errno));
        fuzz_file_fallback_ = f;
        atexit(fuzz_file_cleanup_);
}

/* Make the file hold exactly data, zero-extended to at least min_size bytes. */
static inline void fuzz_file_set(fuzz_file *f, const void *data, size_t len, size_t min_size)
{
        if (ftruncate(f->fd, 0) < 0)
                fuzz_die("ftruncate %s: %s", f->path, strerror(errno));
        const char *p = data;
        for (size_t off = 0; off < len;) {
                ssize_t n = pwrite(f->fd, p + off, len - off, (off_t)off);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0)
                        fuzz_die("write %s: %s", f->path, strerror(errno));
                off += (size_t)n;
        }
        if (min_size > len && ftruncate(f->fd, (off_t)min_size) < 0)
                fuzz_die("ftruncate %s: %s", f->path, strerror(errno));
}

/* The input as a NUL-terminated string (cut at its first NUL); never NULL. */
static inline char *fuzz_strndup(const uint8_t *data, size_t size)
{
        char *s = strndup((const char *)data, size);
        if (!s)
                fuzz_die("out of memory");
        return s;
}

#endif
