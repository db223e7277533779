/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "builder/cli/cli.h"
#include "signing/base/epoch.h"
#include "signing/base/escape.h"

int cli_verbose;

/*
 * Every line on stderr goes through here: a message holds names from images,
 * components and archives, so its control bytes and invalid UTF-8 are escaped
 * (mk_fputs_message: the parts the library already quoted keep their \xHH).
 */
static void message_line(const char *prefix, const char *msg, const char *suffix)
{
        cli_progress_erase();
        fputs(prefix, stderr);
        mk_fputs_message(msg, stderr);
        fputs(suffix, stderr);
        fputc('\n', stderr);
}

static void vmessage_line(const char *prefix, const char *fmt, va_list ap, const char *suffix)
{
        char *msg = NULL;
        if (vasprintf(&msg, fmt, ap) < 0)
                msg = NULL;
        message_line(prefix, msg ? msg : "out of memory", suffix);
        free(msg);
}

int cli_json;
static int json_done;

void cli_json_printed(void)
{
        json_done = 1;
}

/* The failure as the one JSON object on stdout, for --json. */
static void json_error(int code, const char *prefix, const char *msg, const char *suffix)
{
        if (!cli_json || json_done)
                return;
        json_done = 1;
        char *text = NULL;
        if (asprintf(&text, "%s%s%s", prefix, msg, suffix) < 0)
                text = NULL;
        printf("{\"ok\":false,\"exit\":%d,\"error\":", code);
        cli_json_string(stdout, text ? text : msg);
        printf("}\n");
        fflush(stdout);
        free(text);
}

int cli_fail(const mk_error *err)
{
        const char *msg = err && err->code ? err->msg : "failed";
        message_line("mkimage: ", msg, "");
        json_error(CLI_FAILED, "", msg, "");
        return CLI_FAILED;
}

int cli_usage(const char *verb, const char *fmt, ...)
{
        char prefix[64], suffix[96];
        snprintf(prefix, sizeof prefix, "mkimage %s: ", verb);
        snprintf(suffix, sizeof suffix, " (see 'mkimage %s --help')", verb);
        char *msg = NULL;
        va_list ap;
        va_start(ap, fmt);
        if (vasprintf(&msg, fmt, ap) < 0)
                msg = NULL;
        va_end(ap);
        message_line(prefix, msg ? msg : "out of memory", suffix);
        json_error(CLI_USAGE, prefix + strlen("mkimage "), msg ? msg : "out of memory", suffix);
        free(msg);
        return CLI_USAGE;
}

void cli_warn(const char *fmt, ...)
{
        va_list ap;
        va_start(ap, fmt);
        vmessage_line("mkimage: warning: ", fmt, ap, "");
        va_end(ap);
}

void cli_put(FILE *f, const char *s, int width)
{
        size_t n = mk_fputs_quoted(s ? s : "-", f);
        for (; n < (size_t)(width > 0 ? width : 0); n++)
                fputc(' ', f);
}

/*
 * JSON carries no raw control byte: below 0x20, 0x7f and the C1 controls
 * U+0080 to U+009F are \u00XX. A byte that is not part of valid UTF-8 is
 * \u00XX too, XX being the byte (read as Latin-1): the output stays valid
 * JSON and the byte stays visible, at the price that it reads the same as
 * the character U+00XX (the text output's \xHH tells them apart).
 */
void cli_json_string(FILE *f, const char *s)
{
        fputc('"', f);
        for (const char *p = s ? s : ""; *p;) {
                const unsigned char *u = (const unsigned char *)p;
                size_t n = mk_utf8_len(p);
                if (n == 2 && u[0] == 0xC2 && u[1] < 0xA0) {
                        fprintf(f, "\\u%04x", u[1]);
                } else if (n > 1) {
                        fwrite(p, 1, n, f);
                } else if (*u == '"' || *u == '\\') {
                        fprintf(f, "\\%c", *u);
                } else if (n == 0 || *u < 0x20 || *u == 0x7f) {
                        fprintf(f, "\\u%04x", *u);
                        n = 1;
                } else {
                        fputc(*u, f);
                }
                p += n;
        }
        fputc('"', f);
}

int cli_wants_help(int argc, char **argv)
{
        for (int i = 1; i < argc; i++) {
                if (!strcmp(argv[i], "--"))
                        return 0;
                if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help"))
                        return 1;
        }
        return 0;
}

void cli_log_line(void *ud, const char *line)
{
        message_line("mkimage: ", line, "");
}

void cli_warn_line(void *ud, const char *line)
{
        message_line("mkimage: warning: ", line, "");
}

int cli_source_date_epoch(uint64_t max, uint64_t *ret)
{
        mk_error e = {0};
        if (mk_source_date_epoch(max, ret, &e) < 0) {
                message_line("mkimage: ", e.msg, "");
                json_error(CLI_USAGE, "", e.msg, "");
                return -1;
        }
        return 0;
}

int cli_parse_jobs(const char *verb, const char *arg, unsigned *ret)
{
        char *end;
        unsigned long n = strtoul(arg, &end, 10);
        if (!*arg || *end || n < 1 || n > 64)
                return cli_usage(verb, "--jobs takes a number from 1 to 64, not '%s'", arg);
        *ret = (unsigned)n;
        return 0;
}
