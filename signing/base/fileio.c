/* SPDX-License-Identifier: MIT */
#include "signing/base/fileio.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "signing/base/macro.h"

int mk_read_file(const char *path, size_t max, char **ret, size_t *ret_len, mk_error *err)
{
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
        struct stat st;
        if (fd < 0 || fstat(fd, &st) < 0)
                return mk_error_set(err, errno, "%s: %s", path, strerror(errno));
        if (!S_ISREG(st.st_mode))
                return mk_error_set(err, EINVAL, "%s: not a regular file", path);
        if ((uint64_t)st.st_size > max)
                return mk_error_set(err, E2BIG,
                                    "%s: is %llu bytes, more than the %zu expected (check that this is "
                                    "the right file)",
                                    path, (unsigned long long)st.st_size, max);
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
                return mk_error_set(err, E2BIG,
                                    "%s: more than the %zu bytes expected (check that this is the right "
                                    "file)",
                                    path, max);
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

/* pread/pwrite through a buffer: copy_file_range refuses some pairs of file systems (EXDEV). */
static int copy_buffered(int in, uint64_t from, int out, uint64_t to, uint64_t len)
{
        size_t chunk = 1u << 20;
        _cleanup_free_ char *buf = malloc(chunk);
        if (!buf)
                return -ENOMEM;
        for (uint64_t done = 0; done < len;) {
                size_t n = len - done < chunk ? (size_t)(len - done) : chunk;
                int r = mk_pread_all(in, buf, n, from + done);
                if (r < 0 || (r = mk_pwrite_all(out, buf, n, to + done)) < 0)
                        return r;
                done += n;
        }
        return 0;
}

int mk_copy_data(int in, uint64_t from, uint64_t len, int out, uint64_t to)
{
        bool kernel = true;
        for (uint64_t pos = from, end = from + len; pos < end;) {
                off_t data = lseek(in, (off_t)pos, SEEK_DATA);
                if (data < 0)
                        return errno == ENXIO ? 0 : -errno; /* ENXIO: holes to the end */
                if ((uint64_t)data >= end)
                        return 0;
                off_t hole = lseek(in, data, SEEK_HOLE);
                uint64_t stop = hole < 0 || (uint64_t)hole > end ? end : (uint64_t)hole;
                uint64_t n = stop - (uint64_t)data, at = to + ((uint64_t)data - from);
                int r = kernel ? mk_copy_range(in, (uint64_t)data, out, at, n) : -EXDEV;
                if (r == -EXDEV || r == -EINVAL || r == -EOPNOTSUPP || r == -ENOSYS) {
                        kernel = false;
                        r = copy_buffered(in, (uint64_t)data, out, at, n);
                }
                if (r < 0)
                        return r;
                pos = stop;
        }
        return 0;
}
