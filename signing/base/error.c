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

int mk_error_prefix(mk_error *err, int r, const char *fmt, ...)
{
        if (!err || !err->code)
                return r;
        char ctx[MK_ERROR_MAX];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(ctx, sizeof(ctx), fmt, ap);
        va_end(ap);
        /* The context, ": ", then as much of the old message as fits. */
        size_t n = strnlen(ctx, MK_ERROR_MAX - 3), old = strnlen(err->msg, MK_ERROR_MAX - 1);
        size_t keep = old < MK_ERROR_MAX - 1 - n - 2 ? old : MK_ERROR_MAX - 1 - n - 2;
        memmove(err->msg + n + 2, err->msg, keep);
        memcpy(err->msg, ctx, n);
        memcpy(err->msg + n, ": ", 2);
        err->msg[n + 2 + keep] = '\0';
        return r;
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
