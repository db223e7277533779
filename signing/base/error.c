/* SPDX-License-Identifier: MIT */
#include "signing/base/error.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int mk_error_set(mk_error *err, int code, const char *fmt, ...)
{
        if (code <= 0)
                code = EINVAL;
        if (!err)
                return -code;
        if (err->code)
                return -code;
        err->code = code;
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
        va_end(ap);
        return -code;
}

void mk_error_clear(mk_error *err)
{
        if (!err)
                return;
        err->code = 0;
        err->msg[0] = '\0';
}

int mk_error_isset(const mk_error *err)
{
        return err && err->code != 0;
}

void mk_callback_printf(void (*cb)(void *userdata, const char *line), void *userdata, const char *fmt, ...)
{
        if (!cb)
                return;
        char line[1024];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(line, sizeof(line), fmt, ap);
        va_end(ap);
        cb(userdata, line);
}
