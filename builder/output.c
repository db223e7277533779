/* SPDX-License-Identifier: MIT */
#include "output.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "macro.h"

#define MAX_PENDING 16

struct mk_output {
        char *final_path;
        char *tmp_path;
        int fd;
        int slot;
};

/*
 * Paths the signal handler may unlink. A slot is published (in_use = 1)
 * only after its path is complete, and cleared before the path is freed.
 */
static struct {
        volatile sig_atomic_t in_use;
        char path[PATH_MAX];
} pending[MAX_PENDING];

void mk_output_abort_all(void)
{
        for (int i = 0; i < MAX_PENDING; i++)
                if (pending[i].in_use)
                        unlink(pending[i].path);
}

static int publish(const char *path)
{
        if (strlen(path) >= PATH_MAX)
                return -1;
        for (int i = 0; i < MAX_PENDING; i++)
                if (!pending[i].in_use) {
                        strcpy(pending[i].path, path);
                        __atomic_signal_fence(__ATOMIC_SEQ_CST);
                        pending[i].in_use = 1;
                        return i;
                }
        return -1;
}

static void unpublish(int slot)
{
        if (slot >= 0)
                pending[slot].in_use = 0;
}

static mk_output *output_free(mk_output *o)
{
        if (!o)
                return NULL;
        if (o->fd >= 0)
                close(o->fd);
        unpublish(o->slot);
        free(o->final_path);
        free(o->tmp_path);
        free(o);
        return NULL;
}

int mk_output_open(const char *final_path, mk_output **ret, mk_error *err)
{
        struct stat st;
        if (stat(final_path, &st) == 0 && S_ISDIR(st.st_mode))
                return mk_error_set(err, EISDIR, "%s: is a directory (give a file name for the image with -o)", final_path);
        _cleanup_free_ char *dir = strdup(final_path);
        if (!dir)
                return mk_error_set(err, ENOMEM, "out of memory");
        char *slash = strrchr(dir, '/');
        const char *base = final_path;
        if (slash) {
                base = final_path + (slash - dir) + 1;
                if (slash == dir)
                        slash[1] = '\0';
                else
                        *slash = '\0';
        } else {
                strcpy(dir, ".");
        }
        if (!*base)
                return mk_error_set(err, EINVAL, "%s: names a folder, not a file (give a file name)", final_path);
        if (stat(dir, &st) < 0 || !S_ISDIR(st.st_mode))
                return mk_error_set(err, ENOENT, "%s: the folder '%s' does not exist (create it first)", final_path, dir);

        mk_output *o = calloc(1, sizeof(*o));
        if (!o)
                return mk_error_set(err, ENOMEM, "out of memory");
        o->fd = -1;
        o->slot = -1;
        if (!(o->final_path = strdup(final_path)) ||
            asprintf(&o->tmp_path, "%s/.%s.mkimage-XXXXXX", dir, base) < 0) {
                o->tmp_path = NULL;
                output_free(o);
                return mk_error_set(err, ENOMEM, "out of memory");
        }
        /* Block the signals while the name is created and published. */
        sigset_t all, old;
        sigfillset(&all);
        sigprocmask(SIG_BLOCK, &all, &old);
        o->fd = mkostemp(o->tmp_path, O_CLOEXEC);
        int saved = errno;
        if (o->fd >= 0)
                o->slot = publish(o->tmp_path);
        sigprocmask(SIG_SETMASK, &old, NULL);
        if (o->fd < 0) {
                int r = mk_error_set(err, saved, "%s: cannot create a file in '%s': %s (check the folder's permissions)",
                                     final_path, dir, strerror(saved));
                output_free(o);
                return r;
        }
        if (o->slot < 0) {
                unlink(o->tmp_path);
                output_free(o);
                return mk_error_set(err, EMFILE, "%s: too many outputs open at once", final_path);
        }
        mode_t mask = umask(0);
        umask(mask);
        fchmod(o->fd, 0644 & ~mask);
        *ret = o;
        return 0;
}

int mk_output_fd(const mk_output *o)
{
        return o->fd;
}
const char *mk_output_tmp_path(const mk_output *o)
{
        return o->tmp_path;
}
const char *mk_output_final_path(const mk_output *o)
{
        return o->final_path;
}

mk_output *mk_output_abort(mk_output *o)
{
        if (!o)
                return NULL;
        unpublish(o->slot);
        o->slot = -1;
        unlink(o->tmp_path);
        return output_free(o);
}

int mk_output_commit(mk_output *o, mk_error *err)
{
        if (fsync(o->fd) < 0) {
                int r = mk_error_set(err, errno, "%s: cannot write: %s", o->final_path, strerror(errno));
                mk_output_abort(o);
                return r;
        }
        if (rename(o->tmp_path, o->final_path) < 0) {
                int r = mk_error_set(err, errno, "%s: cannot rename the finished file into place: %s",
                                     o->final_path, strerror(errno));
                mk_output_abort(o);
                return r;
        }
        unpublish(o->slot);
        o->slot = -1;
        output_free(o);
        return 0;
}
