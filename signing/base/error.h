/* SPDX-License-Identifier: MIT */
/*
 * Error context shared by every module of mkimage.
 *
 * Library code never prints and never exits: it fills an mk_error and returns
 * a negative errno. The CLI prints err->msg. Messages name the file, the place
 * and the fix: "models/demo-x86_64.yaml:14:7: unknown key 'compresion' (did you mean
 * 'compression'?)".
 */
#ifndef MK_ERROR_H
#define MK_ERROR_H

#include <stddef.h>

#define MK_ERROR_MAX 2048

typedef struct mk_error {
        int code;               /* positive errno of the first error, 0 if none */
        char msg[MK_ERROR_MAX]; /* NUL-terminated, no trailing newline */
} mk_error;

/*
 * Record an error: formats the message and returns -code (code is a positive
 * errno; 0 is taken as EINVAL). The first error recorded wins, later calls
 * only return -code, so a caller may report the root cause and unwind. err may
 * be NULL.
 */
int mk_error_set(mk_error *err, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/*
 * Add context to the recorded error on its way up: the message becomes
 * "CONTEXT: MESSAGE" (cut at MK_ERROR_MAX), the code stays. Returns r, so
 * that a caller can write `return mk_error_prefix(err, r, "%s", path);`.
 * Nothing happens when no error is recorded or err is NULL. Callers add
 * context this way instead of matching or rewriting an error's text.
 */
int mk_error_prefix(mk_error *err, int r, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Forget a recorded error (e.g. after a fallback succeeded). */
void mk_error_clear(mk_error *err);

/*
 * Format a line and hand it to a progress/warning callback (cb may be NULL:
 * then nothing happens). Lines are cut at 1023 bytes.
 */
void mk_callback_printf(void (*cb)(void *userdata, const char *line), void *userdata, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

/* True when an error has been recorded. */
int mk_error_isset(const mk_error *err);

#endif
