/* SPDX-License-Identifier: MIT */
/*
 * SHA-256 (FIPS 180-4): the padding and the block loop here, the
 * compression function twice: portable C, and the x86 SHA extensions
 * (sha256rnds2 does two rounds on the state split as ABEF and CDGH;
 * sha256msg1 and sha256msg2 extend the message schedule four words at a
 * time). The extensions are used when CPUID says the CPU has them.
 */
#include "signing/base/sha256.h"

#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#include <immintrin.h>
#define MK_SHA_X86 1
#endif

static const uint32_t K[64] = {
        0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
        0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
        0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
        0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
        0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
        0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
        0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
        0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
};

static inline uint32_t ror(uint32_t x, unsigned n)
{
        return (x >> n) | (x << (32 - n));
}

static void blocks_portable(uint32_t h[8], const uint8_t *p, size_t n)
{
        for (; n--; p += 64) {
                uint32_t w[64], s[8];
                for (int t = 0; t < 16; t++)
                        w[t] = (uint32_t)p[4 * t] << 24 | (uint32_t)p[4 * t + 1] << 16 | (uint32_t)p[4 * t + 2] << 8 |
                               p[4 * t + 3];
                for (int t = 16; t < 64; t++) {
                        uint32_t s0 = ror(w[t - 15], 7) ^ ror(w[t - 15], 18) ^ (w[t - 15] >> 3);
                        uint32_t s1 = ror(w[t - 2], 17) ^ ror(w[t - 2], 19) ^ (w[t - 2] >> 10);
                        w[t] = w[t - 16] + s0 + w[t - 7] + s1;
                }
                uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4], f = h[5], g = h[6], hh = h[7];
                for (int t = 0; t < 64; t++) {
                        uint32_t t1 = hh + (ror(e, 6) ^ ror(e, 11) ^ ror(e, 25)) + ((e & f) ^ (~e & g)) + K[t] + w[t];
                        uint32_t t2 = (ror(a, 2) ^ ror(a, 13) ^ ror(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
                        hh = g;
                        g = f;
                        f = e;
                        e = d + t1;
                        d = c;
                        c = b;
                        b = a;
                        a = t1 + t2;
                }
                s[0] = a, s[1] = b, s[2] = c, s[3] = d, s[4] = e, s[5] = f, s[6] = g, s[7] = hh;
                for (int i = 0; i < 8; i++)
                        h[i] += s[i];
        }
}

#ifdef MK_SHA_X86
__attribute__((target("sha,sse4.1,ssse3"))) static void blocks_shani(uint32_t h[8], const uint8_t *p, size_t n)
{
        /* h[0..3] = A B C D, h[4..7] = E F G H (lane 0 first) -> abef = (F E B A), cdgh = (H G D C) */
        __m128i dcba = _mm_loadu_si128((const __m128i *)&h[0]);
        __m128i hgfe = _mm_loadu_si128((const __m128i *)&h[4]);
        __m128i badc = _mm_shuffle_epi32(dcba, 0xB1);
        __m128i efgh = _mm_shuffle_epi32(hgfe, 0x1B);
        __m128i abef = _mm_alignr_epi8(badc, efgh, 8);
        __m128i cdgh = _mm_blend_epi16(efgh, badc, 0xF0);
        const __m128i bswap = _mm_set_epi64x(0x0c0d0e0f08090a0bLL, 0x0405060700010203LL);
        for (; n--; p += 64) {
                __m128i abef0 = abef, cdgh0 = cdgh, m[4];
#pragma GCC unroll 16
                for (int g = 0; g < 16; g++) {
                        /* m[g % 4] holds W[4g .. 4g+3] */
                        if (g < 4) {
                                m[g] = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(p + 16 * g)), bswap);
                        } else {
                                __m128i x = _mm_sha256msg1_epu32(m[g % 4], m[(g - 3) % 4]);
                                x = _mm_add_epi32(x, _mm_alignr_epi8(m[(g - 1) % 4], m[(g - 2) % 4], 4));
                                m[g % 4] = _mm_sha256msg2_epu32(x, m[(g - 1) % 4]);
                        }
                        __m128i wk = _mm_add_epi32(m[g % 4], _mm_loadu_si128((const __m128i *)&K[4 * g]));
                        cdgh = _mm_sha256rnds2_epu32(cdgh, abef, wk);
                        abef = _mm_sha256rnds2_epu32(abef, cdgh, _mm_shuffle_epi32(wk, 0x0E));
                }
                abef = _mm_add_epi32(abef, abef0);
                cdgh = _mm_add_epi32(cdgh, cdgh0);
        }
        __m128i feba = _mm_shuffle_epi32(abef, 0x1B);
        __m128i dchg = _mm_shuffle_epi32(cdgh, 0xB1);
        _mm_storeu_si128((__m128i *)&h[0], _mm_blend_epi16(feba, dchg, 0xF0));
        _mm_storeu_si128((__m128i *)&h[4], _mm_alignr_epi8(dchg, feba, 8));
}

static bool cpu_has_sha(void)
{
        unsigned a, b, c, d;
        if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & bit_SSSE3) || !(c & bit_SSE4_1))
                return false;
        if (__get_cpuid_max(0, NULL) < 7)
                return false;
        __cpuid_count(7, 0, a, b, c, d);
        return (b & bit_SHA) != 0;
}
#endif

static int use_shani = -1; /* -1: not chosen yet */

static void choose(void)
{
#ifdef MK_SHA_X86
        use_shani = cpu_has_sha();
#else
        use_shani = 0;
#endif
}

static void blocks(uint32_t h[8], const uint8_t *p, size_t n)
{
        if (use_shani < 0)
                choose();
#ifdef MK_SHA_X86
        if (use_shani) {
                blocks_shani(h, p, n);
                return;
        }
#endif
        blocks_portable(h, p, n);
}

bool mk_sha256_accelerated(void)
{
        if (use_shani < 0)
                choose();
        return use_shani == 1;
}

void mk_sha256_force_portable(bool on)
{
        if (on)
                use_shani = 0;
        else
                choose();
}

void mk_sha256_init(mk_sha256_ctx *c)
{
        static const uint32_t iv[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                                       0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
        memcpy(c->h, iv, sizeof(iv));
        c->len = 0;
}

void mk_sha256_update(mk_sha256_ctx *c, const void *data, size_t len)
{
        const uint8_t *p = data;
        size_t fill = (size_t)(c->len % 64);
        c->len += len;
        if (fill) {
                size_t take = 64 - fill < len ? 64 - fill : len;
                memcpy(c->buf + fill, p, take);
                p += take;
                len -= take;
                if (fill + take < 64)
                        return;
                blocks(c->h, c->buf, 1);
        }
        if (len >= 64) {
                blocks(c->h, p, len / 64);
                p += len / 64 * 64;
                len %= 64;
        }
        memcpy(c->buf, p, len);
}

void mk_sha256_final(mk_sha256_ctx *c, uint8_t out[MK_SHA256_BYTES])
{
        uint64_t bits = c->len * 8;
        uint8_t pad[72] = {0x80};
        size_t fill = (size_t)(c->len % 64), n = (fill < 56 ? 56 : 120) - fill;
        for (int i = 0; i < 8; i++)
                pad[n + (size_t)i] = (uint8_t)(bits >> (56 - 8 * i));
        mk_sha256_update(c, pad, n + 8);
        for (int i = 0; i < 8; i++) {
                out[4 * i] = (uint8_t)(c->h[i] >> 24);
                out[4 * i + 1] = (uint8_t)(c->h[i] >> 16);
                out[4 * i + 2] = (uint8_t)(c->h[i] >> 8);
                out[4 * i + 3] = (uint8_t)c->h[i];
        }
}

void mk_sha256(const void *data, size_t len, uint8_t out[MK_SHA256_BYTES])
{
        mk_sha256_ctx c;
        mk_sha256_init(&c);
        mk_sha256_update(&c, data, len);
        mk_sha256_final(&c, out);
}

void mk_sha256_hex(const void *data, size_t len, char hex[2 * MK_SHA256_BYTES + 1])
{
        static const char digits[] = "0123456789abcdef";
        uint8_t d[MK_SHA256_BYTES];
        mk_sha256(data, len, d);
        for (int i = 0; i < MK_SHA256_BYTES; i++) {
                hex[2 * i] = digits[d[i] >> 4];
                hex[2 * i + 1] = digits[d[i] & 15];
        }
        hex[2 * MK_SHA256_BYTES] = 0;
}
