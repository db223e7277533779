/* SPDX-License-Identifier: MIT */
/* SHA-256 through OpenSSL's libcrypto (SHA-NI where the CPU has it). */
#ifndef MK_DIGEST_H
#define MK_DIGEST_H

#include <stdint.h>

#include "signing/base/error.h"

/* Lower-case hex of n bytes into out (2n+1 bytes). */
void mk_hex(const uint8_t *bytes, size_t n, char *out);

/* SHA-256 of len bytes at off in fd, as hex into hex[65]. name is used in messages. */
int mk_sha256_range(int fd, const char *name, uint64_t off, uint64_t len, char hex[65], mk_error *err)
        __attribute__((warn_unused_result));

/* SHA-256 of a buffer, as lower-case hex. */
void mk_sha256_buffer(const void *data, size_t len, char hex[65]);

/* SHA-256 of a whole file, as hex into hex[65]. */
int mk_sha256_file(const char *path, char hex[65], mk_error *err) __attribute__((warn_unused_result));

#endif
