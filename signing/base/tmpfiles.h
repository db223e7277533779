/* SPDX-License-Identifier: MIT */
/*
 * A registry of temporary files in flight, so that a signal handler can remove
 * them (async-signal-safe) and an interrupted program leaves nothing behind.
 */
#ifndef MK_TMPFILES_H
#define MK_TMPFILES_H

#include <stdbool.h>

/*
 * Create a temporary file from template (mkostemp, O_CLOEXEC) and register
 * it; signals are blocked in between so the handler never misses it.
 * Returns the fd; *ret_slot receives the registry slot. -errno on failure.
 */
int mk_tmp_create(char *template_path, int *ret_slot) __attribute__((warn_unused_result));

/* Register an existing file (or an empty-at-the-end folder: removed after
 * the files) that a signal must not leave behind. Returns the slot or -errno. */
int mk_tmp_adopt(const char *path, bool folder);

/* Forget a slot (after rename or unlink). slot < 0 is ignored. */
void mk_tmp_forget(int slot);

/* Async-signal-safe: unlink every registered file. */
void mk_tmp_unlink_all(void);

#endif
