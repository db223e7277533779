/* SPDX-License-Identifier: MIT */
/*
 * The updater's crash hooks, for the power-cut tests (docs/update.md,
 * "Testing"). MKIMAGE_UPDATE_CRASH_AT chooses the point:
 *
 *   N          before the install's write call number N (1, 2, ...)
 *   byte:B     once B bytes of the slot's partitions are written (a write
 *              that crosses B is cut there: its first part is written)
 *   step:NAME  right after the console line of step NAME (check, disable,
 *              verity, root, readback, files, commit, ...)
 *
 * MKIMAGE_UPDATE_CRASH_MODE says what happens there: `exit` (the default)
 * ends the process with status 99, as a crash of the updater; `freeze`
 * says so on the console and stops forever without flushing anything, so
 * that a harness can cut the power of a virtual machine at that point:
 * what the guest's page cache held is lost, as in a real power cut;
 * `freeze-synced` first flushes everything (sync), as a cut just after the
 * disk wrote all it was given: the partial slot survives for a resume.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "qemu-boot/updater/update.h"
#include "signing/base/fileio.h"

static struct {
        long at_write;    /* -1: none */
        int64_t at_byte;  /* -1: none */
        char at_step[32]; /* "": none */
        bool freeze, synced;
        long writes;
        uint64_t bytes;
} hook = {.at_write = -1, .at_byte = -1};

int upd_crash_setup(mk_error *err)
{
        const char *at = getenv("MKIMAGE_UPDATE_CRASH_AT"), *mode = getenv("MKIMAGE_UPDATE_CRASH_MODE");
        char *end = NULL;
        if (mode && *mode) {
                if (strcmp(mode, "exit") && strcmp(mode, "freeze") && strcmp(mode, "freeze-synced"))
                        return mk_error_set(err, EINVAL,
                                            "MKIMAGE_UPDATE_CRASH_MODE=%s: want exit, freeze or freeze-synced", mode);
                hook.freeze = strcmp(mode, "exit") != 0;
                hook.synced = !strcmp(mode, "freeze-synced");
        }
        if (!at || !*at)
                return 0;
        errno = 0;
        if (!strncmp(at, "step:", 5) && at[5] && strlen(at + 5) < sizeof(hook.at_step))
                snprintf(hook.at_step, sizeof(hook.at_step), "%s", at + 5);
        else if (!strncmp(at, "byte:", 5) && at[5] >= '0' && at[5] <= '9')
                hook.at_byte = (int64_t)strtoll(at + 5, &end, 10);
        else if (at[0] >= '1' && at[0] <= '9')
                hook.at_write = strtol(at, &end, 10);
        else
                end = (char *)at;
        if ((end && *end) || errno)
                return mk_error_set(err, EINVAL, "MKIMAGE_UPDATE_CRASH_AT=%s: want N, byte:B or step:NAME", at);
        return 0;
}

static void crash(const char *where)
{
        if (!hook.freeze) {
                fprintf(stderr, "mkimage-update: crash hook: stopping %s\n", where);
                _exit(99);
        }
        if (hook.synced)
                sync();
        printf("mkimage-update: crash hook: frozen %s%s: cut the power now\n", where,
               hook.synced ? ", all written so far flushed" : "");
        fflush(stdout);
        for (;;)
                pause();
}

void upd_write_point(void)
{
        hook.writes++;
        if (hook.at_write >= 0 && hook.writes == hook.at_write) {
                char where[64];
                snprintf(where, sizeof(where), "before write %ld", hook.writes);
                crash(where);
        }
}

int upd_write_slot(int fd, const void *buf, size_t len, uint64_t off)
{
        if (hook.at_byte >= 0 && hook.bytes + len > (uint64_t)hook.at_byte) {
                size_t first = (size_t)((uint64_t)hook.at_byte - hook.bytes);
                int r = first ? mk_pwrite_all(fd, buf, first, off) : 0;
                if (r < 0)
                        return r;
                char where[64];
                snprintf(where, sizeof(where), "after %" PRId64 " bytes of the slot", hook.at_byte);
                crash(where);
        }
        hook.bytes += len;
        return mk_pwrite_all(fd, buf, len, off);
}

void upd_step_point(const char *step)
{
        char where[64];
        if (hook.at_step[0] && !strcmp(step, hook.at_step)) {
                snprintf(where, sizeof(where), "after step %s", step);
                crash(where);
        }
}
