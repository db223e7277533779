/* SPDX-License-Identifier: MIT */
#include "signing/base/epoch.h"

#include <errno.h>
#include <stdlib.h>
#include <time.h>

int mk_source_date_epoch(uint64_t max, uint64_t *ret, mk_error *err)
{
        const char *s = getenv("SOURCE_DATE_EPOCH");
        *ret = 0;
        if (!s || !*s)
                return 0;
        char *end;
        errno = 0;
        unsigned long long v = strtoull(s, &end, 10);
        /* strtoull takes leading blanks and a sign: only digits are a time. */
        if (*s < '0' || *s > '9' || *end || errno || v > max)
                return mk_error_set(err, EINVAL,
                                    "SOURCE_DATE_EPOCH='%s' is not a number of seconds since 1970 from 0 to %llu: "
                                    "set it to a decimal Unix time (e.g. $(git log -1 --format=%%ct)) or unset it",
                                    s, (unsigned long long)max);
        *ret = v;
        return 0;
}

void mk_format_utc(uint64_t t, char out[32])
{
        time_t tt = (time_t)t;
        struct tm tm;
        gmtime_r(&tt, &tm);
        strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}
