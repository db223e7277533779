/* SPDX-License-Identifier: MIT */
/*
 * The ESP as the updater changes it: on the device a mounted FAT (rename(2)
 * is the commit point, fsync makes each step durable); on the host a FAT
 * inside an image, edited in this process by the trust core's FAT32 library
 * (signing/disk/fat-edit.h) through the disk's own descriptor: no tool run.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "qemu-boot/updater/update.h"
#include "signing/base/fileio.h"
#include "signing/conventions/conventions.h"
#include "signing/disk/fat-edit.h"

int upd_esp_read(const upd_esp *e, const char *path, size_t max, char **ret, size_t *ret_len, mk_error *err)
{
        if (e->dir) {
                char full[4096];
                snprintf(full, sizeof(full), "%s/%s", e->dir, path);
                return mk_read_file(full, max, ret, ret_len, err);
        }
        return mk_fat_read(e->fd, e->image, e->offset, path, max, ret, ret_len, err);
}

int upd_esp_free(const upd_esp *e, uint64_t *ret_free, uint64_t *ret_cluster, mk_error *err)
{
        if (e->dir) {
                struct statvfs st;
                if (statvfs(e->dir, &st) < 0)
                        return mk_error_set(err, errno, "%s: statvfs: %s", e->dir, strerror(errno));
                *ret_free = (uint64_t)st.f_bavail * st.f_frsize;
                *ret_cluster = st.f_frsize ? st.f_frsize : 4096;
                return 0;
        }
        uint32_t cluster = 0;
        int r = mk_fat_free_bytes(e->fd, e->image, e->offset, ret_free, &cluster, err);
        if (r >= 0)
                *ret_cluster = cluster;
        return r;
}

/*
 * Make every change to the mounted ESP durable: syncfs, the whole FAT file
 * system (the file's data, its folder's entry, the FAT). An fsync of a file
 * or of the disk's node is not enough: vfat keeps folder entries and the
 * FAT in its own buffers, and the power-cut matrix under QEMU lost renames
 * that only had those (tests/cases/update-powercut.sh).
 */
static int esp_sync(const upd_esp *e, const char *what, mk_error *err)
{
        int fd = open(e->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0 || syncfs(fd) < 0) {
                int r = errno;
                if (fd >= 0)
                        close(fd);
                return mk_error_set(err, r, "%s: flushing the ESP after %s: %s", e->dir, what, strerror(r));
        }
        close(fd);
        return 0;
}

static int mkdirs(const char *dir, const char *path)
{
        char p[4096];
        snprintf(p, sizeof(p), "%s/%s", dir, path);
        for (char *s = p + strlen(dir) + 1; (s = strchr(s, '/')); s++) {
                *s = 0;
                if (mkdir(p, 0755) < 0 && errno != EEXIST)
                        return -errno;
                *s = '/';
        }
        return 0;
}

int upd_esp_write(const upd_esp *e, const char *path, const void *data, size_t len, mk_error *err)
{
        if (e->dir) {
                /* a new file beside the old one, flushed, then renamed over it: a cut leaves one or the other
                 * (systemd-boot itself may be replaced this way; a truncated one would boot nothing) */
                char full[4096], tmp[4200];
                snprintf(full, sizeof(full), "%s/%s", e->dir, path);
                snprintf(tmp, sizeof(tmp), "%s.new", full);
                int r = mkdirs(e->dir, path), fd;
                if (r < 0)
                        return mk_error_set(err, -r, "%s: %s", full, strerror(-r));
                if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644)) < 0)
                        return mk_error_set(err, errno, "%s: %s", tmp, strerror(errno));
                r = mk_pwrite_all(fd, data, len, 0);
                close(fd);
                if (r < 0) {
                        unlink(tmp);
                        return mk_error_set(err, -r, "%s: %s", tmp, strerror(-r));
                }
                if ((r = esp_sync(e, tmp, err)) < 0)
                        return r;
                if (rename(tmp, full) < 0) {
                        r = mk_error_set(err, errno, "rename %s -> %s: %s", tmp, full, strerror(errno));
                        unlink(tmp);
                        return r;
                }
                return esp_sync(e, full, err);
        }
        /* the new content is committed in the file's folder entry after its clusters and FAT entries are written:
         * the caller fsyncs the image */
        return mk_fat_write(e->fd, e->image, e->offset, path, data, len, err);
}

int upd_esp_rename(const upd_esp *e, const char *from, const char *to, mk_error *err)
{
        if (e->dir) {
                char a[4096], b[4096];
                snprintf(a, sizeof(a), "%s/%s", e->dir, from);
                snprintf(b, sizeof(b), "%s/%s", e->dir, to);
                if (rename(a, b) < 0)
                        return mk_error_set(err, errno, "rename %s -> %s: %s", a, b, strerror(errno));
                return esp_sync(e, b, err);
        }
        return mk_fat_rename(e->fd, e->image, e->offset, from, to, err);
}

int upd_esp_remove(const upd_esp *e, const char *path, mk_error *err)
{
        if (e->dir) {
                char full[4096];
                snprintf(full, sizeof(full), "%s/%s", e->dir, path);
                if (unlink(full) < 0 && errno != ENOENT)
                        return mk_error_set(err, errno, "%s: %s", full, strerror(errno));
                return esp_sync(e, full, err);
        }
        mk_error quiet = {0};
        int r = mk_fat_remove(e->fd, e->image, e->offset, path, &quiet);
        if (r == -ENOENT)
                return 0; /* absent already: fine */
        return r < 0 ? mk_error_set(err, -r, "%s", quiet.msg) : 0;
}

/* The names in the ESP's folder dir, '\n'-separated, into *ret; a missing folder is empty. */
static int list_entries(const upd_esp *e, const char *dir, char **ret, mk_error *err)
{
        if (e->dir) {
                char full[4096];
                snprintf(full, sizeof(full), "%s/%s", e->dir, dir);
                DIR *d = opendir(full);
                if (!d && errno == ENOENT)
                        return (*ret = calloc(1, 1)) ? 0 : mk_error_set(err, ENOMEM, "out of memory");
                if (!d)
                        return mk_error_set(err, errno, "%s: %s", full, strerror(errno));
                size_t len = 0;
                char *buf = calloc(1, 1);
                struct dirent *de;
                while (buf && (de = readdir(d))) {
                        size_t n = strlen(de->d_name);
                        char *nb = realloc(buf, len + n + 2);
                        if (!nb) {
                                free(buf);
                                buf = NULL;
                                break;
                        }
                        buf = nb;
                        memcpy(buf + len, de->d_name, n);
                        len += n;
                        buf[len++] = '\n';
                        buf[len] = 0;
                }
                closedir(d);
                if (!buf)
                        return mk_error_set(err, ENOMEM, "out of memory");
                *ret = buf;
                return 0;
        }
        char **names = NULL;
        size_t n = 0, len = 0;
        mk_error quiet = {0};
        int r = mk_fat_list(e->fd, e->image, e->offset, dir, &names, &n, &quiet);
        if (r == -ENOENT)
                return (*ret = calloc(1, 1)) ? 0 : mk_error_set(err, ENOMEM, "out of memory");
        if (r < 0)
                return mk_error_set(err, -r, "%s", quiet.msg);
        for (size_t i = 0; i < n; i++)
                len += strlen(names[i]) + 1;
        char *buf = malloc(len + 1), *w = buf;
        for (size_t i = 0; buf && i < n; i++)
                w = stpcpy(w, names[i]), *w++ = '\n';
        mk_fat_names_free(names);
        if (!buf)
                return mk_error_set(err, ENOMEM, "out of memory");
        *w = 0;
        *ret = buf;
        return 0;
}

int upd_esp_entry_in(const upd_esp *e, char slot, const char **ret_dir, char *out, size_t size, mk_error *err)
{
        static const char *const dirs[] = {MK_ESP_ENTRIES_DIR, MK_ESP_UKI_DIR};
        size_t found = 0;
        for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
                char *names = NULL;
                int r = list_entries(e, dirs[i], &names, err);
                if (r < 0)
                        return r;
                for (char *line = strtok(names, "\n"); line; line = strtok(NULL, "\n")) {
                        char s;
                        int left, done;
                        if (mk_bls_entry_parse(line, &s, &left, &done) && s == slot) {
                                snprintf(out, size, "%s", line);
                                *ret_dir = dirs[i];
                                found++;
                        }
                }
                free(names);
        }
        if (found > 1)
                return mk_error_set(err, EEXIST,
                                    "slot %c has %zu boot entries in /" MK_ESP_ENTRIES_DIR " and /" MK_ESP_UKI_DIR,
                                    slot, found);
        return found ? 0 : -ENOENT;
}

int upd_esp_entry(const upd_esp *e, char slot, char *out, size_t size, mk_error *err)
{
        const char *dir;
        return upd_esp_entry_in(e, slot, &dir, out, size, err);
}
