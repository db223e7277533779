/* SPDX-License-Identifier: MIT */
/*
 * Output files written atomically: a temporary file beside the final path,
 * renamed into place only by mk_output_commit(). On any error, or when the
 * process gets SIGINT/SIGTERM/SIGHUP (the CLI's handler calls
 * mk_output_abort_all()), the temporary file is removed, so an interrupted or
 * failed build never leaves a partial output behind.
 */
#ifndef MK_OUTPUT_H
#define MK_OUTPUT_H

#include "signing/base/error.h"

typedef struct mk_output mk_output;

/*
 * Create the temporary file for final_path (in the same folder, named
 * ".NAME.mkimage-XXXXXX", mode 0644 less umask). *ret is new; untouched on
 * failure. Fails if final_path is a directory or its folder does not exist.
 */
int mk_output_open(const char *final_path, mk_output **ret, mk_error *err) __attribute__((warn_unused_result));

/* The open read-write descriptor of the temporary file (owned by o). */
int mk_output_fd(const mk_output *o);
/* The temporary file's path (owned by o). */
const char *mk_output_tmp_path(const mk_output *o);
const char *mk_output_final_path(const mk_output *o);

/* fsync and rename into place; frees o on success and on failure (temp removed). */
int mk_output_commit(mk_output *o, mk_error *err) __attribute__((warn_unused_result));
/* mk_output_commit without the fsync, for a file the caller already made
 * durable (syncfs() of its file system, once for many files). */
int mk_output_publish(mk_output *o, mk_error *err) __attribute__((warn_unused_result));

/* Remove the temporary file and free o. NULL allowed; returns NULL. */
mk_output *mk_output_abort(mk_output *o);

/*
 * Serialise builds writing into the same folder: take an exclusive flock() on
 * final_path's folder (waiting, after calling wait_cb once, while another
 * build holds it), then remove stale temporaries of final_path and its
 * siblings (".NAME*.mkimage-XXXXXX", left by a build that was killed with
 * SIGKILL): under the lock no other build can own them. *ret_fd is the lock;
 * close() it to release (after committing). removed (may be NULL) receives
 * the number of stale files removed.
 */
int mk_output_lock(const char *final_path, void (*wait_cb)(void *ud, const char *line), void *ud, int *ret_fd,
                   unsigned *removed, mk_error *err) __attribute__((warn_unused_result));

/* Async-signal-safe: unlink every temporary file still open. */
void mk_output_abort_all(void);

#endif
