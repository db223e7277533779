/* SPDX-License-Identifier: MIT */
/* The report of `verify`: one item per manifest and partition, and its verdicts. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "builder/verify/verify-internal.h"

const char *mk_check_status_str(mk_check_status s)
{
        switch (s) {
        case MK_CHECK_OK:
                return "ok";
        case MK_CHECK_FAILED:
                return "failed";
        case MK_CHECK_SKIPPED:
                return "skipped";
        }
        return "?";
}

mk_verify_report *mk_verify_report_free(mk_verify_report *r)
{
        if (!r)
                return NULL;
        for (size_t i = 0; i < r->n_items; i++) {
                free(r->items[i].name);
                free(r->items[i].reason);
                free(r->items[i].detail);
        }
        free(r->items);
        free(r);
        return NULL;
}

static int vitem_set(vctx *v, size_t idx, mk_check_status st, bool add, const char *fmt, va_list ap)
{
        mk_check_item *it = &v->rep->items[idx];
        v->seen[idx] = true;
        if (it->status == MK_CHECK_FAILED && !add)
                return 0;
        char *reason;
        if (vasprintf(&reason, fmt, ap) < 0)
                return -ENOMEM;
        if (it->status == MK_CHECK_FAILED) {
                char *both;
                int k = asprintf(&both, "%s; %s", it->reason, reason);
                free(reason);
                if (k < 0)
                        return -ENOMEM;
                free(it->reason);
                it->reason = both;
                return 0;
        }
        free(it->reason);
        free(it->detail); /* what was checked belongs to an OK only */
        it->reason = reason;
        it->detail = NULL;
        it->status = st;
        return 0;
}

int mk_vitem_fail(vctx *v, size_t idx, const char *fmt, ...)
{
        va_list ap;
        va_start(ap, fmt);
        int r = vitem_set(v, idx, MK_CHECK_FAILED, false, fmt, ap);
        va_end(ap);
        return r;
}

int mk_vitem_fail_add(vctx *v, size_t idx, bool add, const char *fmt, ...)
{
        va_list ap;
        va_start(ap, fmt);
        int r = vitem_set(v, idx, MK_CHECK_FAILED, add, fmt, ap);
        va_end(ap);
        return r;
}

int mk_vitem_skip(vctx *v, size_t idx, const char *fmt, ...)
{
        va_list ap;
        va_start(ap, fmt);
        int r = vitem_set(v, idx, MK_CHECK_SKIPPED, false, fmt, ap);
        va_end(ap);
        return r;
}

void mk_vitem_seen(vctx *v, size_t idx)
{
        v->seen[idx] = true;
}

int mk_vitem_ok(vctx *v, size_t idx, const char *fmt, ...)
{
        mk_check_item *it = &v->rep->items[idx];
        v->seen[idx] = true;
        if (it->status != MK_CHECK_OK)
                return 0;
        char *detail;
        va_list ap;
        va_start(ap, fmt);
        int k = vasprintf(&detail, fmt, ap);
        va_end(ap);
        if (k < 0)
                return -ENOMEM;
        free(it->detail);
        it->detail = detail;
        return 0;
}
