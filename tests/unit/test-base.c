/* SPDX-License-Identifier: MIT */
/* Unit tests of signing/base/: SOURCE_DATE_EPOCH, error prefixes and escaping. */
#include <stdint.h>

#include "check.h"
#include "signing-fixture.h"
#include "signing/base/epoch.h"
#include "signing/base/error.h"
#include "signing/base/escape.h"
#include "signing/base/macro.h"
#include "signing/minisign/minisign.h"

/* SOURCE_DATE_EPOCH: digits only, from 0 to the caller's maximum; unset or empty is 0. */
static void test_source_date_epoch(void)
{
        static const struct {
                const char *value; /* NULL: unset */
                uint64_t max;
                int r;
                uint64_t want;
        } cases[] = {
                {NULL, UINT32_MAX, 0, 0},
                {"", UINT32_MAX, 0, 0},
                {"0", UINT32_MAX, 0, 0},
                {"1767225600", UINT32_MAX, 0, 1767225600},
                {"4294967295", UINT32_MAX, 0, 4294967295u},
                {"4294967296", UINT32_MAX, -EINVAL, 0},
                {"4294967296", UINT64_MAX, 0, 4294967296u},
                {"18446744073709551615", UINT64_MAX, 0, UINT64_MAX},
                {"18446744073709551616", UINT64_MAX, -EINVAL, 0},
                {"-1", UINT64_MAX, -EINVAL, 0},
                {"+1", UINT64_MAX, -EINVAL, 0},
                {" 1", UINT64_MAX, -EINVAL, 0},
                {"1 ", UINT64_MAX, -EINVAL, 0},
                {"0x10", UINT64_MAX, -EINVAL, 0},
                {"1.5", UINT64_MAX, -EINVAL, 0},
        };
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                if (cases[i].value)
                        setenv("SOURCE_DATE_EPOCH", cases[i].value, 1);
                else
                        unsetenv("SOURCE_DATE_EPOCH");
                mk_error err = {0};
                uint64_t t = 99;
                int r = mk_source_date_epoch(cases[i].max, &t, &err);
                if (r != cases[i].r || t != cases[i].want)
                        fprintf(stderr, "SOURCE_DATE_EPOCH '%s': %d %llu\n",
                                cases[i].value ? cases[i].value : "(unset)", r, (unsigned long long)t);
                CHECK(r == cases[i].r && t == cases[i].want);
                CHECK(r == 0 ? !err.msg[0]
                             : strstr(err.msg, "is not a number of seconds since 1970 from 0 to") != NULL);
        }
        setenv("SOURCE_DATE_EPOCH", "4294967296", 1);
        mk_error err = {0};
        uint64_t t;
        expect_err(mk_source_date_epoch(UINT32_MAX, &t, &err), &err, EINVAL,
                   "SOURCE_DATE_EPOCH='4294967296' is not a number of seconds since 1970 from 0 to 4294967295: set "
                   "it to a decimal Unix time (e.g. $(git log -1 --format=%ct)) or unset it");
        setenv("SOURCE_DATE_EPOCH", "1767225600", 1);
}

/* mk_error_prefix: context added on the way up, code and first-error-wins kept, cut at the buffer's end. */
static void test_error_prefix(void)
{
        mk_error err = {0};
        CHECK(mk_error_prefix(&err, -5, "ctx") == -5 && !mk_error_isset(&err) && !err.msg[0]); /* nothing recorded */
        CHECK(mk_error_prefix(NULL, -5, "ctx") == -5);
        CHECK(mk_error_set(&err, ENOENT, "k.pub: no such file") == -ENOENT);
        CHECK(mk_error_prefix(&err, -ENOENT, "%s:%u:%u: trusted key '%s'", "m.yaml", 3u, 5u, "release") == -ENOENT);
        CHECK(mk_error_prefix(&err, -ENOENT, "build") == -ENOENT);
        CHECK_STREQ(err.msg, "build: m.yaml:3:5: trusted key 'release': k.pub: no such file");
        CHECK(err.code == ENOENT);
        CHECK(mk_error_set(&err, EIO, "later") == -EIO && err.code == ENOENT); /* the first still wins */

        /* A long message loses its end, never the context. */
        static char longmsg[MK_ERROR_MAX * 2];
        memset(longmsg, 'm', sizeof(longmsg) - 1);
        mk_error_clear(&err);
        mk_error_set(&err, EINVAL, "%s", longmsg);
        mk_error_prefix(&err, -EINVAL, "ctx");
        CHECK(strlen(err.msg) == MK_ERROR_MAX - 1 && !strncmp(err.msg, "ctx: mmm", 8));
        /* A context longer than the buffer is cut too, and stays terminated. */
        static char longctx[MK_ERROR_MAX * 2];
        memset(longctx, 'c', sizeof(longctx) - 1);
        mk_error_prefix(&err, -EINVAL, "%s", longctx);
        CHECK(strlen(err.msg) == MK_ERROR_MAX - 1 && err.msg[0] == 'c' && !strcmp(err.msg + MK_ERROR_MAX - 3, ": "));
}
/* mk_quote: what may reach a terminal from an image, byte by byte. */
static void test_quote(void)
{
        static const struct {
                const char *in, *want;
        } cases[] = {
                {"plain name-1.0_x", "plain name-1.0_x"},
                {"\x01\x02\x1f", "\\x01\\x02\\x1f"},               /* control characters */
                {"\x1b[2J\x1b]0;t\x07", "\\x1b[2J\\x1b]0;t\\x07"}, /* terminal escapes: clear, title */
                {"\x7f", "\\x7f"},                                 /* DEL */
                {"x\n  root-b: OK", "x\\n  root-b: OK"},           /* a forged line stays on this one */
                {"a\tb\rc", "a\\tb\\x0dc"},
                {"a\\x1b", "a\\\\x1b"},           /* a backslash is escaped: the output tells it from an escape */
                {"\xc3\xa9", "\xc3\xa9"},         /* 2-byte UTF-8 kept */
                {"\xe2\x82\xac", "\xe2\x82\xac"}, /* 3 bytes */
                {"\xf0\x9f\x98\x80", "\xf0\x9f\x98\x80"}, /* 4 bytes */
                {"\xc2\xa0\xdf\xbf\xef\xbf\xbf", "\xc2\xa0\xdf\xbf\xef\xbf\xbf"},
                {"\xc2\x9b"
                 "2J\xc2\x85",
                 "\\xc2\\x9b"
                 "2J\\xc2\\x85"},                             /* C1 controls: 8-bit CSI, NEL */
                {"\x80", "\\x80"},                            /* a lone continuation byte */
                {"\xc0\x80", "\\xc0\\x80"},                   /* overlong NUL */
                {"\xe0\x80\xaf", "\\xe0\\x80\\xaf"},          /* overlong '/' */
                {"\xed\xa0\x80", "\\xed\\xa0\\x80"},          /* a surrogate (U+D800) */
                {"\xf4\x90\x80\x80", "\\xf4\\x90\\x80\\x80"}, /* above U+10FFFF */
                {"\xf5\xff\xfe", "\\xf5\\xff\\xfe"},
                {"ab\xe2\x82", "ab\\xe2\\x82"}, /* a sequence cut by the end */
                {"\xc3"
                 "A",
                 "\\xc3"
                 "A"}, /* ... or by an ASCII byte */
        };
        char buf[256];
        for (size_t i = 0; i < ELEMENTSOF(cases); i++)
                CHECK_STREQ(mk_quote(cases[i].in, buf, sizeof buf), cases[i].want);
}

/* Cut at the buffer's end, never inside an escape or a UTF-8 sequence, always terminated. */
static void test_quote_truncation(void)
{
        static const struct {
                const char *in;
                size_t size;
                const char *want;
        } cases[] = {
                {"abcdefghij", 8, "abcdefg"},
                {"ab\x1b", 6, "ab"},
                {"ab\x1b", 7, "ab\\x1b"},
                {"ab\n", 4, "ab"},
                {"ab\n", 5, "ab\\n"},
                {"a\\", 3, "a"},
                {"a\xe2\x82\xac", 4, "a"},
                {"a\xe2\x82\xac", 5, "a\xe2\x82\xac"},
                {"\xc2\x9b", 8, ""},
                {"\xc2\x9b", 9, "\\xc2\\x9b"},
                {"abc", 1, ""},
        };
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                char buf[16];
                memset(buf, '#', sizeof buf);
                CHECK(mk_quote(cases[i].in, buf, cases[i].size) == buf);
                CHECK_STREQ(buf, cases[i].want);
                CHECK(buf[cases[i].size] == '#'); /* nothing written past size */
        }
        char one = '#';
        CHECK(mk_quote("abc", &one, 0) == &one && one == '#'); /* no room at all: untouched */
}

/* s through mk_fputs_quoted (or mk_fputs_message), as a new string; the count returned in *ret_n. */
static char *fput_string(const char *s, int message, size_t *ret_n)
{
        char *out = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&out, &len);
        if (!f)
                return NULL;
        *ret_n = message ? mk_fputs_message(s, f) : mk_fputs_quoted(s, f);
        fclose(f);
        return out;
}

/* The stream forms: no length limit, the count they return, the same rule as mk_quote. */
static void test_fputs_quoted(void)
{
        size_t n;
        char *out = fput_string("x\n  root-b: OK\x1b[2J\\", 0, &n);
        CHECK_STREQ(out, "x\\n  root-b: OK\\x1b[2J\\\\");
        CHECK(out && n == strlen(out));
        free(out);
        /* A message keeps the backslashes of the parts the library quoted, escapes the rest. */
        out = fput_string("entry 'a\\x1b': \x1b[31mred\x7f\xff", 1, &n);
        CHECK_STREQ(out, "entry 'a\\x1b': \\x1b[31mred\\x7f\\xff");
        CHECK(out && n == strlen(out));
        free(out);
        /* Far beyond any message buffer: every byte there. */
        static char big[20001];
        memset(big, '\x1b', sizeof big - 1);
        out = fput_string(big, 0, &n);
        CHECK(out && n == 4 * (sizeof big - 1) && strlen(out) == n && !strncmp(out + n - 8, "\\x1b\\x1b", 8));
        free(out);
}

/* Every string of one or two bytes: the output holds no control byte, no C1 control and only valid UTF-8, and the
 * stream form writes exactly what mk_quote does. */
static void test_quote_all_pairs(void)
{
        int bad = 0;
        for (unsigned a = 1; a < 256 && !bad; a++) {
                for (unsigned b = 0; b < 256 && !bad; b++) {
                        char in[3] = {(char)a, (char)b, 0}, q[32];
                        mk_quote(in, q, sizeof q);
                        for (const char *p = q; *p && !bad;) {
                                const unsigned char *u = (const unsigned char *)p;
                                size_t n = mk_utf8_len(p);
                                bad = !n || *u < 0x20 || *u == 0x7f || (u[0] == 0xC2 && u[1] < 0xA0);
                                p += n ? n : 1;
                        }
                        size_t n;
                        char *s = fput_string(in, 0, &n);
                        bad |= !s || strcmp(s, q) != 0 || n != strlen(q);
                        if (bad)
                                fprintf(stderr, "bytes %02x %02x: '%s'\n", a, b, q);
                        free(s);
                }
        }
        CHECK(!bad);
}

int main(void)
{
        check_suite_ = "base";
        if (fixture_start() < 0)
                return 1;
        RUN(test_source_date_epoch);
        RUN(test_error_prefix);
        RUN(test_quote);
        RUN(test_quote_truncation);
        RUN(test_fputs_quoted);
        RUN(test_quote_all_pairs);
        fixture_end();
        return check_exit();
}
