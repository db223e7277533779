/* SPDX-License-Identifier: MIT */
#include "signing/base/escape.h"

#include <stdbool.h>
#include <string.h>

size_t mk_utf8_len(const char *s)
{
        const unsigned char *u = (const unsigned char *)s;
        unsigned c = u[0];
        if (c < 0x80)
                return 1;
        /* The bounds of the second byte rule out overlong forms (C0, C1, E0 80-9F, F0 80-8F), the
         * surrogates (ED A0-BF) and code points above U+10FFFF (F4 90-BF, F5-FF). */
        if (c >= 0xC2 && c <= 0xDF)
                return (u[1] & 0xC0) == 0x80 ? 2 : 0;
        if (c >= 0xE0 && c <= 0xEF) {
                unsigned lo = c == 0xE0 ? 0xA0 : 0x80, hi = c == 0xED ? 0x9F : 0xBF;
                return u[1] >= lo && u[1] <= hi && (u[2] & 0xC0) == 0x80 ? 3 : 0;
        }
        if (c >= 0xF0 && c <= 0xF4) {
                unsigned lo = c == 0xF0 ? 0x90 : 0x80, hi = c == 0xF4 ? 0x8F : 0xBF;
                return u[1] >= lo && u[1] <= hi && (u[2] & 0xC0) == 0x80 && (u[3] & 0xC0) == 0x80 ? 4 : 0;
        }
        return 0;
}

#define UNIT_MAX 8 /* the longest printed form of one character: a C1 control, "\xc2\x9b" */

static size_t hex_byte(unsigned char b, char *out)
{
        static const char hex[] = "0123456789abcdef";
        out[0] = '\\';
        out[1] = 'x';
        out[2] = hex[b >> 4];
        out[3] = hex[b & 15];
        return 4;
}

/* The printed form of the character at s (not NUL) into out, its length in *out_len; returns how many bytes of s
 * it stands for. */
static size_t quote_one(const char *s, bool keep_backslash, char out[UNIT_MAX], size_t *out_len)
{
        const unsigned char *u = (const unsigned char *)s;
        size_t n = mk_utf8_len(s);
        if (n == 2 && u[0] == 0xC2 && u[1] < 0xA0) { /* C1 control: 8-bit CSI and friends */
                *out_len = hex_byte(u[0], out) + hex_byte(u[1], out + 4);
                return 2;
        }
        if (n > 1) {
                memcpy(out, s, n);
                *out_len = n;
                return n;
        }
        if (*u == '\n' || *u == '\t' || (*u == '\\' && !keep_backslash)) {
                out[0] = '\\';
                out[1] = *u == '\n' ? 'n' : *u == '\t' ? 't' : '\\';
                *out_len = 2;
        } else if (n == 0 || *u < 0x20 || *u == 0x7f) {
                *out_len = hex_byte(*u, out);
        } else {
                out[0] = (char)*u;
                *out_len = 1;
        }
        return 1;
}

const char *mk_quote(const char *s, char *buf, size_t size)
{
        size_t o = 0;
        if (!size)
                return buf;
        while (*s) {
                char unit[UNIT_MAX];
                size_t len, n = quote_one(s, false, unit, &len);
                if (len >= size - o) /* and one byte for the NUL */
                        break;
                memcpy(buf + o, unit, len);
                o += len;
                s += n;
        }
        buf[o] = '\0';
        return buf;
}

static size_t put_quoted(const char *s, bool keep_backslash, FILE *f)
{
        size_t total = 0;
        while (*s) {
                char unit[UNIT_MAX];
                size_t len;
                s += quote_one(s, keep_backslash, unit, &len);
                total += fwrite(unit, 1, len, f);
        }
        return total;
}

size_t mk_fputs_quoted(const char *s, FILE *f)
{
        return put_quoted(s, false, f);
}

size_t mk_fputs_message(const char *s, FILE *f)
{
        return put_quoted(s, true, f);
}
