/* SPDX-License-Identifier: MIT */
#include "fileio.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "macro.h"

int mk_read_file(const char *path, size_t max, char **ret, size_t *ret_len, mk_error *err)
{
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
        struct stat st;
        if (fd < 0 || fstat(fd, &st) < 0)
                return mk_error_set(err, errno, "%s: %s", path, strerror(errno));
        if (!S_ISREG(st.st_mode))
                return mk_error_set(err, EINVAL, "%s: not a regular file", path);
        if ((uint64_t)st.st_size > max)
                return mk_error_set(err, E2BIG, "%s: is %llu bytes, more than the %zu expected (check that this is "
                                    "the right file)", path, (unsigned long long)st.st_size, max);
        _cleanup_free_ char *buf = malloc(max + 1);
        size_t len = 0;
        if (!buf)
                return mk_error_set(err, ENOMEM, "out of memory");
        while (len <= max) {
                ssize_t k = read(fd, buf + len, max + 1 - len);
                if (k < 0 && errno == EINTR)
                        continue;
                if (k < 0)
                        return mk_error_set(err, errno, "%s: %s", path, strerror(errno));
                if (k == 0)
                        break;
                len += (size_t)k;
        }
        if (len > max)
                return mk_error_set(err, E2BIG, "%s: more than the %zu bytes expected (check that this is the right "
                                    "file)", path, max);
        buf[len] = '\0';
        *ret = TAKE_PTR(buf);
        *ret_len = len;
        return 0;
}

static int io_all(int fd, void *buf, size_t len, uint64_t off, bool write)
{
        for (char *p = buf; len;) {
                ssize_t n = write ? pwrite(fd, p, len, (off_t)off) : pread(fd, p, len, (off_t)off);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0)
                        return n < 0 ? -errno : -EIO;
                p += n, off += (uint64_t)n, len -= (size_t)n;
        }
        return 0;
}

int mk_pread_all(int fd, void *buf, size_t len, uint64_t off)
{
        return io_all(fd, buf, len, off, false);
}

int mk_pwrite_all(int fd, const void *buf, size_t len, uint64_t off)
{
        return io_all(fd, (void *)buf, len, off, true);
}

int mk_copy_range(int in, uint64_t from, int out, uint64_t to, uint64_t len)
{
        loff_t a = (loff_t)from, b = (loff_t)to;
        while (len) {
                ssize_t k = copy_file_range(in, &a, out, &b, len, 0);
                if (k < 0 && errno == EINTR)
                        continue;
                if (k <= 0)
                        return k < 0 ? -errno : -EIO;
                len -= (uint64_t)k;
        }
        return 0;
}
