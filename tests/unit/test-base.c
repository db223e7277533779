/* SPDX-License-Identifier: MIT */
/* Unit tests of signing/base/: SOURCE_DATE_EPOCH and error prefixes. */
#include <stdint.h>

#include "check.h"
#include "signing-fixture.h"
#include "signing/base/epoch.h"
#include "signing/base/error.h"
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
int main(void)
{
        check_suite_ = "base";
        if (fixture_start() < 0)
                return 1;
        RUN(test_source_date_epoch);
        RUN(test_error_prefix);
        fixture_end();
        return check_exit();
}
