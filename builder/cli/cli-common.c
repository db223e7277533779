/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "builder/cli/cli.h"
#include "signing/base/epoch.h"

int cli_verbose;

int cli_fail(const mk_error *err)
{
        fprintf(stderr, "mkimage: %s\n", err && err->code ? err->msg : "failed");
        return CLI_FAILED;
}

int cli_usage(const char *verb, const char *fmt, ...)
{
        va_list ap;
        fprintf(stderr, "mkimage %s: ", verb);
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fprintf(stderr, " (see 'mkimage %s --help')\n", verb);
        return CLI_USAGE;
}

void cli_warn(const char *fmt, ...)
{
        va_list ap;
        fprintf(stderr, "mkimage: warning: ");
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fputc('\n', stderr);
}

void cli_json_string(FILE *f, const char *s)
{
        fputc('"', f);
        for (const unsigned char *p = (const unsigned char *)(s ? s : ""); *p; p++) {
                if (*p == '"' || *p == '\\')
                        fprintf(f, "\\%c", *p);
                else if (*p < 0x20)
                        fprintf(f, "\\u%04x", *p);
                else
                        fputc(*p, f);
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
        fprintf(stderr, "mkimage: %s\n", line);
}

void cli_warn_line(void *ud, const char *line)
{
        fprintf(stderr, "mkimage: warning: %s\n", line);
}

int cli_source_date_epoch(uint64_t max, uint64_t *ret)
{
        mk_error e = {0};
        if (mk_source_date_epoch(max, ret, &e) < 0) {
                fprintf(stderr, "mkimage: %s\n", e.msg);
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
