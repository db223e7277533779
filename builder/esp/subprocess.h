/* SPDX-License-Identifier: MIT */
/*
 * Run a helper tool (mkfs.vfat, mmd, mcopy, ...) from an argument vector:
 * posix_spawn, no shell, a clean environment, stdout and stderr captured and
 * quoted in the error message when the tool fails.
 *
 * (Named subprocess.h, not spawn.h: with -Ibuilder that name would hide the
 * system's <spawn.h>.)
 */
#ifndef MK_SUBPROCESS_H
#define MK_SUBPROCESS_H

#include <stddef.h>

#include "signing/base/error.h"

typedef struct mk_spawn_opts {
        /* Debian package that ships argv[0]: named in the error when the tool is missing. */
        const char *package;
        /*
         * The child's environment besides PATH and LC_ALL=C: "NAME=value"
         * entries, NULL-terminated, or NULL. Nothing else of the caller's
         * environment is passed on, so that user settings (MTOOLS_*, TZ, ...)
         * cannot change what a tool writes.
         */
        const char *const *env;
        /* The child's stdin; 0 means /dev/null (the caller's stdin is never passed on). */
        int stdin_fd;
        /* The child's stdout, or 0: captured with stderr for the error message. */
        int stdout_fd;
        /* Prefix of error messages, e.g. "out.img: ESP at byte 1048576"; NULL: none. */
        const char *context;
        /* A file the child gets as its fd 3 (it names it /proc/self/fd/3), or 0: none. */
        int pass_fd;
        /*
         * Instead of stdout_fd: the child's stdout is a pipe, and its bytes
         * are handed to sink as they come (in pieces of at most 64 KiB), so
         * the caller bounds what it keeps. sink returns 0 to go on or a
         * negative errno (with err set) to stop: the child is killed and
         * mk_spawn returns that value.
         */
        int (*sink)(const void *buf, size_t len, void *data, mk_error *err);
        void *sink_data;
} mk_spawn_opts;

/*
 * Run argv[0] with the arguments argv[1..] (argv is NULL-terminated) and wait
 * for it (o may be NULL: no package, no environment, stdin from /dev/null).
 * A name without '/' is looked up in $PATH and then in /usr/sbin and
 * /sbin, which a rootless user's PATH often lacks (mkfs.vfat lives there).
 *
 * Returns 0 when the tool exits with status 0. Otherwise -ENOENT (the tool
 * is not installed: the message names o->package), -EIO (non-zero exit
 * status or a signal: the message holds the command line and the tail of the
 * tool's output) or another -errno when it could not be started.
 */
int mk_spawn(const char *const *argv, const mk_spawn_opts *o, mk_error *err) __attribute__((warn_unused_result));

#endif
