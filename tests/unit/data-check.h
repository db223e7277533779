/* SPDX-License-Identifier: MIT */
/* Shared by test-data.c and test-luks.c (a candidate for tests/lib/check.h). */
#ifndef MK_DATA_CHECK_H
#define MK_DATA_CHECK_H

#include <stdio.h>

#include "check.h"
#include "signing/base/error.h"

/* err holds exactly the formatted message; then it is cleared. */
#define CHECK_ERR(err, ...)                                                                                            \
        do {                                                                                                           \
                char want_[1024];                                                                                      \
                snprintf(want_, sizeof(want_), __VA_ARGS__);                                                           \
                CHECK_STREQ((err)->msg, want_);                                                                        \
                mk_error_clear(err);                                                                                   \
        } while (0)

#endif
