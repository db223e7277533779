/* SPDX-License-Identifier: MIT */
#include "signing/base/tmpfiles.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* A factory worker holds a batch of devices with three outputs each. */
#define MAX_TMP 32

/* A slot is published (in_use = 1) only after its path is complete. */
static struct {
        volatile sig_atomic_t in_use; /* 1: a file, 2: a folder (removed after the files) */
        char path[PATH_MAX];
} tmp[MAX_TMP];

void mk_tmp_unlink_all(void)
{
        for (int i = 0; i < MAX_TMP; i++)
                if (tmp[i].in_use == 1)
                        unlink(tmp[i].path);
        for (int i = 0; i < MAX_TMP; i++)
                if (tmp[i].in_use == 2)
                        rmdir(tmp[i].path);
}

/* With signals blocked: a free slot, or -1. */
static int free_slot(void)
{
        for (int i = 0; i < MAX_TMP; i++)
                if (!tmp[i].in_use)
                        return i;
        return -1;
}

/* With signals blocked: the handler sees the slot only once its path is complete. */
static void publish(int slot, const char *path, int kind)
{
        strcpy(tmp[slot].path, path);
        __atomic_signal_fence(__ATOMIC_SEQ_CST);
        tmp[slot].in_use = kind;
}

int mk_tmp_adopt(const char *path, bool folder)
{
        if (strlen(path) >= PATH_MAX)
                return -ENAMETOOLONG;
        sigset_t all, old;
        sigfillset(&all);
        sigprocmask(SIG_BLOCK, &all, &old);
        int slot = free_slot();
        if (slot >= 0)
                publish(slot, path, folder ? 2 : 1);
        sigprocmask(SIG_SETMASK, &old, NULL);
        return slot < 0 ? -EMFILE : slot;
}

void mk_tmp_forget(int slot)
{
        if (slot >= 0 && slot < MAX_TMP)
                tmp[slot].in_use = 0;
}

int mk_tmp_create(char *template_path, int *ret_slot)
{
        if (strlen(template_path) >= PATH_MAX)
                return -ENAMETOOLONG;
        sigset_t all, old;
        sigfillset(&all);
        sigprocmask(SIG_BLOCK, &all, &old);
        int slot = free_slot();
        int fd = slot < 0 ? (errno = EMFILE, -1) : mkostemp(template_path, O_CLOEXEC);
        int saved = errno;
        if (fd >= 0)
                publish(slot, template_path, 1);
        sigprocmask(SIG_SETMASK, &old, NULL);
        if (fd < 0)
                return -saved;
        *ret_slot = slot;
        return fd;
}
