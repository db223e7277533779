/* SPDX-License-Identifier: MIT */
/*
 * Minimal unit-test harness. Each test function reports through CHECK();
 * RUN() prints one "PASS: name" or "FAIL: name" line that tests/run counts.
 *
 *   static void test_parse_size(void) { CHECK(parse("1M") == 1048576); }
 *   int main(void) { RUN(test_parse_size); return check_exit(); }
 */
#ifndef MK_CHECK_H
#define MK_CHECK_H

#include <stdio.h>
#include <string.h>

static int check_cur_failed_;
static int check_any_failed_;

#define CHECK(cond)                                                                                                    \
        do {                                                                                                           \
                if (!(cond)) {                                                                                         \
                        fprintf(stderr, "%s:%d: CHECK(%s) failed\n", __FILE__, __LINE__, #cond);                       \
                        check_cur_failed_ = 1;                                                                         \
                }                                                                                                      \
        } while (0)

#define CHECK_STREQ(a, b)                                                                                              \
        do {                                                                                                           \
                const char *a_ = (a), *b_ = (b);                                                                       \
                if (!a_ || !b_ || strcmp(a_, b_) != 0) {                                                               \
                        fprintf(stderr,                                                                                \
                                "%s:%d: CHECK_STREQ failed:\n  got:  %s\n  "                                           \
                                "want: %s\n",                                                                          \
                                __FILE__, __LINE__, a_ ? a_ : "(null)", b_ ? b_ : "(null)");                           \
                        check_cur_failed_ = 1;                                                                         \
                }                                                                                                      \
        } while (0)

#define RUN(fn)                                                                                                        \
        do {                                                                                                           \
                check_cur_failed_ = 0;                                                                                 \
                fn();                                                                                                  \
                printf("%s: %s/%s\n", check_cur_failed_ ? "FAIL" : "PASS", check_suite_, #fn);                         \
                fflush(stdout);                                                                                        \
                check_any_failed_ |= check_cur_failed_;                                                                \
        } while (0)

static const char *check_suite_ = "unit";

static inline int check_exit(void)
{
        return check_any_failed_ ? 1 : 0;
}

#endif
