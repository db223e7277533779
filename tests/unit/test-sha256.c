/* SPDX-License-Identifier: MIT */
/*
 * signing/base/sha256: the standard's test vectors, and agreement with
 * libsodium and OpenSSL on every length from 0 to 1,100 bytes and on large
 * random buffers fed in random pieces, with the CPU's SHA extensions and
 * with the portable code.
 */
#include <openssl/sha.h>
#include <sodium.h>
#include <stdlib.h>

#include "check.h"
#include "signing/base/sha256.h"

static void hex(const uint8_t d[32], char out[65])
{
        sodium_bin2hex(out, 65, d, 32);
}

static void vectors(void)
{
        static const struct {
                const char *in, *want;
        } v[] = {
                {"", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
                {"abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
                {"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
                 "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"},
        };
        for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
                char h[65];
                mk_sha256_hex(v[i].in, strlen(v[i].in), h);
                CHECK_STREQ(h, v[i].want);
        }
        /* one million 'a' (FIPS 180-2, appendix B.3), fed 1000 bytes at a time */
        char a[1000];
        memset(a, 'a', sizeof(a));
        mk_sha256_ctx c;
        uint8_t d[32];
        char h[65];
        mk_sha256_init(&c);
        for (int i = 0; i < 1000; i++)
                mk_sha256_update(&c, a, sizeof(a));
        mk_sha256_final(&c, d);
        hex(d, h);
        CHECK_STREQ(h, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

static void every_length(void)
{
        uint8_t buf[1100], want[32], got[32], ossl[32];
        randombytes_buf(buf, sizeof(buf));
        for (size_t n = 0; n <= sizeof(buf); n++) {
                crypto_hash_sha256(want, buf, n);
                SHA256(buf, n, ossl);
                mk_sha256(buf, n, got);
                CHECK(memcmp(want, got, 32) == 0);
                CHECK(memcmp(ossl, got, 32) == 0);
        }
}

static void pieces(void)
{
        size_t n = (3 << 20) + 77;
        uint8_t *buf = malloc(n), want[32], got[32];
        CHECK(buf != NULL);
        if (!buf)
                return;
        randombytes_buf(buf, n);
        crypto_hash_sha256(want, buf, n);
        for (int round = 0; round < 20; round++) {
                mk_sha256_ctx c;
                mk_sha256_init(&c);
                for (size_t at = 0; at < n;) {
                        size_t k = randombytes_uniform(round < 10 ? 200 : 70000);
                        if (k > n - at)
                                k = n - at;
                        mk_sha256_update(&c, buf + at, k);
                        at += k;
                }
                mk_sha256_final(&c, got);
                CHECK(memcmp(want, got, 32) == 0);
        }
        free(buf);
}

static void accelerated(void)
{
        vectors();
        every_length();
        pieces();
        /* on x86 with the SHA extensions (this project's CI machines) the fast path must be the one taken */
#if defined(__x86_64__)
        unsigned a, b, c, d;
        __asm__("cpuid" : "=a"(a), "=b"(b), "=c"(c), "=d"(d) : "a"(7), "c"(0));
        CHECK(mk_sha256_accelerated() == ((b >> 29) & 1));
#endif
}

static void portable(void)
{
        mk_sha256_force_portable(true);
        CHECK(!mk_sha256_accelerated());
        vectors();
        every_length();
        pieces();
        mk_sha256_force_portable(false);
}

int main(void)
{
        check_suite_ = "sha256";
        if (sodium_init() < 0)
                return 1;
        RUN(accelerated);
        RUN(portable);
        return check_exit();
}
