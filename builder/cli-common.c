/* SPDX-License-Identifier: MIT */
#include <stdarg.h>
#include <string.h>

#include "cli.h"

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
