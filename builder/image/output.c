/* SPDX-License-Identifier: MIT */
#include "builder/image/output.h"

#include <errno.h>
#include <dirent.h>
#include <fcntl.h>
#include <stdbool.h>
#include <sys/file.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "signing/base/macro.h"
#include "signing/base/tmpfiles.h"

struct mk_output {
        char *final_path;
        char *tmp_path;
        int fd;
        int slot;
};

void mk_output_abort_all(void)
{
        mk_tmp_unlink_all();
}

static mk_output *output_free(mk_output *o)
{
        if (!o)
                return NULL;
        if (o->fd >= 0)
                close(o->fd);
        mk_tmp_forget(o->slot);
        free(o->final_path);
        free(o->tmp_path);
        free(o);
        return NULL;
}

int mk_output_open(const char *final_path, mk_output **ret, mk_error *err)
{
        struct stat st;
        if (stat(final_path, &st) == 0 && S_ISDIR(st.st_mode))
                return mk_error_set(err, EISDIR, "%s: is a directory (give a file name for the image with -o)",
                                    final_path);
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
                return mk_error_set(err, ENOENT, "%s: the folder '%s' does not exist (create it first)", final_path,
                                    dir);

        mk_output *o = calloc(1, sizeof(*o));
        if (!o)
                return mk_error_set(err, ENOMEM, "out of memory");
        o->fd = -1;
        o->slot = -1;
        if (!(o->final_path = strdup(final_path)) || asprintf(&o->tmp_path, "%s/.%s.mkimage-XXXXXX", dir, base) < 0) {
                o->tmp_path = NULL;
                output_free(o);
                return mk_error_set(err, ENOMEM, "out of memory");
        }
        int fd = mk_tmp_create(o->tmp_path, &o->slot);
        if (fd < 0) {
                int r = mk_error_set(err, -fd, "%s: cannot create a file in '%s': %s (check the folder's permissions)",
                                     final_path, dir, strerror(-fd));
                output_free(o);
                return r;
        }
        o->fd = fd;
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
        mk_tmp_forget(o->slot);
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
        return mk_output_publish(o, err);
}

int mk_output_publish(mk_output *o, mk_error *err)
{
        if (rename(o->tmp_path, o->final_path) < 0) {
                int r = mk_error_set(err, errno, "%s: cannot rename the finished file into place: %s", o->final_path,
                                     strerror(errno));
                mk_output_abort(o);
                return r;
        }
        mk_tmp_forget(o->slot);
        o->slot = -1;
        output_free(o);
        return 0;
}

/* ".NAME" followed by anything, then ".mkimage-" and six characters. */
static bool is_stale_tmp(const char *entry, const char *base)
{
        size_t bl = strlen(base), el = strlen(entry);
        static const char mark[] = ".mkimage-";
        if (el < 1 + bl + sizeof(mark) - 1 + 6 || entry[0] != '.' || strncmp(entry + 1, base, bl) != 0)
                return false;
        return strncmp(entry + el - 6 - (sizeof(mark) - 1), mark, sizeof(mark) - 1) == 0;
}

int mk_output_lock(const char *final_path, void (*wait_cb)(void *ud, const char *line), void *ud, int *ret_fd,
                   unsigned *removed, mk_error *err)
{
        _cleanup_free_ char *dir = strdup(final_path);
        if (!dir)
                return mk_error_set(err, ENOMEM, "out of memory");
        char *slash = strrchr(dir, '/');
        const char *base = slash ? final_path + (slash - dir) + 1 : final_path;
        if (!slash)
                strcpy(dir, ".");
        else if (slash == dir)
                slash[1] = '\0';
        else
                *slash = '\0';
        int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0 && (errno == ENOENT || errno == ENOTDIR))
                return mk_error_set(err, ENOENT, "%s: the folder '%s' does not exist (create it first)", final_path,
                                    dir);
        if (fd < 0)
                return mk_error_set(err, errno, "%s: the folder '%s' cannot be opened: %s (check its permissions)",
                                    final_path, dir, strerror(errno));
        if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
                if (errno != EWOULDBLOCK) {
                        int r = mk_error_set(err, errno, "%s: cannot lock the folder '%s': %s", final_path, dir,
                                             strerror(errno));
                        close(fd);
                        return r;
                }
                mk_callback_printf(wait_cb, ud, "another build is writing into '%s'; waiting for it to finish", dir);
                while (flock(fd, LOCK_EX) < 0) {
                        if (errno != EINTR) {
                                int r = mk_error_set(err, errno, "%s: cannot lock the folder '%s': %s", final_path, dir,
                                                     strerror(errno));
                                close(fd);
                                return r;
                        }
                }
        }
        unsigned n = 0;
        DIR *d = fdopendir(dup(fd));
        if (d) {
                struct dirent *e;
                while ((e = readdir(d)))
                        if (is_stale_tmp(e->d_name, base) && unlinkat(fd, e->d_name, 0) == 0)
                                n++;
                closedir(d);
        }
        if (removed)
                *removed = n;
        *ret_fd = fd;
        return 0;
}
