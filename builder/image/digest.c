/* SPDX-License-Identifier: MIT */
#include "builder/image/digest.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "signing/base/macro.h"

void mk_hex(const uint8_t *bytes, size_t n, char *out)
{
        static const char digits[] = "0123456789abcdef";
        for (size_t i = 0; i < n; i++) {
                out[2 * i] = digits[bytes[i] >> 4];
                out[2 * i + 1] = digits[bytes[i] & 15];
        }
        out[2 * n] = '\0';
}

int mk_sha256_range(int fd, const char *name, uint64_t off, uint64_t len, char hex[65], mk_error *err)
{
        const size_t chunk = 1 << 20;
        _cleanup_free_ uint8_t *buf = malloc(chunk);
        EVP_MD_CTX *c = EVP_MD_CTX_new();
        int r = 0;
        if (!buf || !c) {
                r = mk_error_set(err, ENOMEM, "out of memory");
                goto out;
        }
        EVP_DigestInit_ex(c, EVP_sha256(), NULL);
        while (len) {
                size_t want = len < chunk ? (size_t)len : chunk;
                ssize_t k = pread(fd, buf, want, (off_t)off);
                if (k < 0 && errno == EINTR)
                        continue;
                if (k <= 0) {
                        r = mk_error_set(err, k < 0 ? errno : EIO, "%s: read error at byte %llu: %s", name,
                                         (unsigned long long)off, k < 0 ? strerror(errno) : "unexpected end of file");
                        goto out;
                }
                EVP_DigestUpdate(c, buf, (size_t)k);
                off += (uint64_t)k;
                len -= (uint64_t)k;
        }
        uint8_t md[32];
        EVP_DigestFinal_ex(c, md, NULL);
        mk_hex(md, 32, hex);
out:
        EVP_MD_CTX_free(c);
        return r;
}

int mk_sha256_file(const char *path, char hex[65], mk_error *err)
{
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
        struct stat st;
        if (fd < 0 || fstat(fd, &st) < 0)
                return mk_error_set(err, errno, "%s: %s", path, strerror(errno));
        return mk_sha256_range(fd, path, 0, (uint64_t)st.st_size, hex, err);
}

void mk_sha256_buffer(const void *data, size_t len, char hex[65])
{
        uint8_t md[32];
        unsigned mdlen = 0;
        EVP_Digest(data, len, md, &mdlen, EVP_sha256(), NULL);
        mk_hex(md, sizeof(md), hex);
}
