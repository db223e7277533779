/* SPDX-License-Identifier: MIT */
/*
 * The CLI front end (builder/cli/main.c + builder/cli-*.c). Only these files print
 * and decide exit codes; all work is done by libmkimage.a.
 *
 * Exit codes: 0 success, 1 build or verification error, 2 usage error.
 */
#ifndef MK_CLI_H
#define MK_CLI_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "signing/base/error.h"

enum { CLI_OK = 0, CLI_FAILED = 1, CLI_USAGE = 2 };

typedef struct cli_verb {
        const char *name;
        int (*run)(int argc, char **argv); /* argv[0] is the verb */
        const char *synopsis;              /* one line for `mkimage --help` */
        const char *help;                  /* full text for `mkimage VERB --help` */
        bool json;                         /* takes --json */
} cli_verb;

/*
 * What the CLI prints never carries a raw byte of an image, a component or
 * an archive: the lines on stderr below escape their message (control bytes
 * and invalid UTF-8 as \xHH, signing/base/escape.h), the text printers put
 * every string that is not a literal of ours through cli_put (or
 * mk_fputs_quoted), and JSON goes through cli_json_string.
 */

/* Print "mkimage: <msg>" to stderr; returns CLI_FAILED. */
int cli_fail(const mk_error *err);
/* Print "mkimage VERB: <msg>" and a pointer to --help; returns CLI_USAGE. */
int cli_usage(const char *verb, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Print a warning line "mkimage: warning: <msg>" to stderr. */
void cli_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Print s (NULL: "-") escaped (mk_fputs_quoted) to f, then spaces up to width bytes (left-aligned, like %-*s). */
void cli_put(FILE *f, const char *s, int width);
/* Print s (NULL: "") as a JSON string literal (with quotes) to f: no raw control byte, always valid JSON. */
void cli_json_string(FILE *f, const char *s);
/* True when argv holds -h or --help before any "--". */
int cli_wants_help(int argc, char **argv);

extern int cli_verbose;

/*
 * Set by main() when a verb that takes --json has it on its command line
 * (before any "--"): then a failure (cli_fail, cli_usage) also prints one
 * JSON object {"ok": false, "exit": N, "error": "..."} on stdout, unless the
 * verb already printed its own result object (cli_json_printed).
 */
extern int cli_json;
void cli_json_printed(void);

/* Progress (-v) and warning lines on stderr, for the library's callbacks. */
void cli_log_line(void *ud, const char *line);
void cli_warn_line(void *ud, const char *line);

/*
 * Progress on a terminal (cli-progress.c). cli_progress_start decides once
 * whether to show it (stderr a terminal, TERM not "dumb"; MKIMAGE_PROGRESS=1
 * or 0 forces it on or off) and returns that. cli_progress has the shape of
 * the library's progress callbacks (thread-safe, rate-limited);
 * cli_progress_erase removes the line (done by every other stderr line too).
 */
bool cli_progress_start(void);
void cli_progress(void *ud, const char *what, uint64_t done, uint64_t total, bool bytes);
void cli_progress_erase(void);

/* --jobs N (1 to 64) into *ret; CLI_USAGE with a message otherwise. */
int cli_parse_jobs(const char *verb, const char *arg, unsigned *ret);

/* SOURCE_DATE_EPOCH (mk_source_date_epoch, up to max; 0 when unset); -1 with the message printed otherwise. */
int cli_source_date_epoch(uint64_t max, uint64_t *ret);

int cli_factory(int argc, char **argv);
extern const char cli_factory_help[];

/* Verbs, one per cli-*.c file. */
int cli_build(int argc, char **argv);
int cli_inspect(int argc, char **argv);

extern const char cli_build_help[], cli_inspect_help[];

int cli_keygen(int argc, char **argv);
int cli_sign(int argc, char **argv);
int cli_verify_sig(int argc, char **argv);
extern const char cli_keygen_help[], cli_sign_help[], cli_verify_sig_help[];

int cli_component(int argc, char **argv);
extern const char cli_component_help[];

int cli_verify(int argc, char **argv);
extern const char cli_verify_help[];
/* mk_build_opts.stage for the verbs that build: progress, MKIMAGE_STALL_AT and MKIMAGE_STAGE_TIMES (cli-build.c). */
void cli_build_stage(void *ud, const char *stage);
int cli_bundle(int argc, char **argv);
extern const char cli_bundle_help[];

int cli_sb_keygen(int argc, char **argv);
extern const char cli_sb_keygen_help[];

#endif
