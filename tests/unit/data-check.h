/* SPDX-License-Identifier: MIT */
/* Shared by test-data.c and test-luks.c (a candidate for tests/lib/check.h). */
#ifndef MK_DATA_CHECK_H
#define MK_DATA_CHECK_H

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "check.h"
#include "signing/base/error.h"

/* err holds exactly the formatted message; then it is cleared. */
#define CHECK_ERR(err, ...)                                                                                            \
        do {                                                                                                           \
                char want_[1024];                                                                                      \
                snprintf(want_, sizeof(want_), __VA_ARGS__);                                                           \
                CHECK_STREQ((err)->msg, want_);                                                                        \
                mk_error_clear(err);                                                                                   \
        } while (0)

/*
 * What a device holds after `bmaptool copy` of [off, off + len) of fd onto
 * media that is not zero: a memfd of len bytes filled with fill, with the
 * data extents of the range (SEEK_DATA/SEEK_HOLE, what every block map of
 * mkimage lists) copied over it. A hole reads as fill. Exits on I/O errors.
 */
static inline int flash_copy(int fd, uint64_t off, uint64_t len, int fill)
{
        int m = memfd_create("flashed", MFD_CLOEXEC);
        size_t chunk = 1u << 20;
        char *buf = malloc(chunk);
        if (m < 0 || !buf) {
                perror("flash_copy");
                exit(2);
        }
        memset(buf, fill, chunk);
        for (uint64_t done = 0; done < len; done += chunk)
                if (pwrite(m, buf, len - done < chunk ? (size_t)(len - done) : chunk, (off_t)done) < 0) {
                        perror("flash_copy");
                        exit(2);
                }
        for (uint64_t pos = off; pos < off + len;) {
                off_t data = lseek(fd, (off_t)pos, SEEK_DATA);
                if (data < 0 && errno == ENXIO)
                        break;
                off_t hole = data < 0 ? -1 : lseek(fd, data, SEEK_HOLE);
                if (data < 0 || hole < 0) {
                        perror("flash_copy: SEEK_DATA");
                        exit(2);
                }
                uint64_t end = (uint64_t)hole < off + len ? (uint64_t)hole : off + len;
                for (uint64_t at = (uint64_t)data; at < end;) {
                        size_t n = end - at < chunk ? (size_t)(end - at) : chunk;
                        if (pread(fd, buf, n, (off_t)at) != (ssize_t)n ||
                            pwrite(m, buf, n, (off_t)(at - off)) != (ssize_t)n) {
                                perror("flash_copy");
                                exit(2);
                        }
                        at += n;
                }
                pos = end;
        }
        free(buf);
        return m;
}

#endif
