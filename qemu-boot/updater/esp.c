/* SPDX-License-Identifier: MIT */
/*
 * The ESP as the updater changes it: on the device a mounted FAT (rename(2)
 * is the commit point, fsync makes each step durable); on the host a FAT
 * inside an image through mtools (mcopy, mren, mdel), one tool run per step.
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
#include <sys/wait.h>
#include <unistd.h>

#include "qemu-boot/updater/update.h"
#include "signing/base/fileio.h"
#include "signing/conventions/conventions.h"

/* Run an mtools command; its stdout into *out (at most max bytes) when out is given. */
static int mtool(const upd_esp *e, char *const argv[], char **out, size_t *out_len, size_t max, mk_error *err)
{
        int pfd[2] = {-1, -1}, efd[2] = {-1, -1};
        if (pipe2(pfd, O_CLOEXEC) < 0 || pipe2(efd, O_CLOEXEC) < 0)
                return mk_error_set(err, errno, "pipe: %s", strerror(errno));
        pid_t pid = fork();
        if (pid < 0)
                return mk_error_set(err, errno, "fork: %s", strerror(errno));
        if (pid == 0) {
                dup2(pfd[1], 1);
                dup2(efd[1], 2);
                int null = open("/dev/null", O_RDONLY);
                dup2(null, 0);
                setenv("MTOOLS_SKIP_CHECK", "1", 1);
                execvp(argv[0], argv);
                _exit(127);
        }
        close(pfd[1]);
        close(efd[1]);
        size_t len = 0, cap = 0;
        char *buf = NULL, ebuf[512];
        int r = 0;
        for (;;) {
                if (len + 4096 + 1 > cap) {
                        char *nb = realloc(buf, cap = len + 65536);
                        if (!nb) {
                                r = -ENOMEM;
                                break;
                        }
                        buf = nb;
                }
                ssize_t n = read(pfd[0], buf + len, 4096);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0)
                        break;
                len += (size_t)n;
                if (len > max) {
                        r = -EFBIG;
                        break;
                }
        }
        ssize_t en = read(efd[0], ebuf, sizeof(ebuf) - 1);
        ebuf[en > 0 ? en : 0] = 0;
        if (en > 0 && ebuf[en - 1] == '\n')
                ebuf[en - 1] = 0;
        close(pfd[0]);
        close(efd[0]);
        int st = 0;
        while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
                ;
        if (r == 0 && !(WIFEXITED(st) && WEXITSTATUS(st) == 0))
                r = mk_error_set(err, EIO, "%s: `%s` on the ESP failed: %s", e->image, argv[0],
                                 ebuf[0] ? ebuf : "(no message)");
        else if (r == -EFBIG)
                r = mk_error_set(err, EFBIG, "%s: a file on the ESP is larger than %zu bytes", e->image, max);
        else if (r < 0)
                r = mk_error_set(err, -r, "out of memory");
        if (r == 0 && out) {
                buf[len] = 0;
                *out = buf;
                *out_len = len;
                buf = NULL;
        }
        free(buf);
        return r;
}

static void img_arg(const upd_esp *e, char *out, size_t size)
{
        snprintf(out, size, "%s@@%" PRIu64, e->image, e->offset);
}

int upd_esp_read(const upd_esp *e, const char *path, size_t max, char **ret, size_t *ret_len, mk_error *err)
{
        char full[4096], img[4200], src[4100];
        if (e->dir) {
                snprintf(full, sizeof(full), "%s/%s", e->dir, path);
                return mk_read_file(full, max, ret, ret_len, err);
        }
        img_arg(e, img, sizeof(img));
        snprintf(src, sizeof(src), "::/%s", path);
        char *argv[] = {"mcopy", "-n", "-i", img, src, "-", NULL};
        return mtool(e, argv, ret, ret_len, max, err);
}

/* A number after key in text ("free clusters=455989", "cluster size: 1 sectors"), or 0. */
static uint64_t field(const char *text, const char *key)
{
        const char *p = strstr(text, key);
        return p ? strtoull(p + strlen(key), NULL, 10) : 0;
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
        char img[4200], *text = NULL;
        size_t len = 0;
        img_arg(e, img, sizeof(img));
        char *argv[] = {"minfo", "-i", img, "::", NULL};
        int r = mtool(e, argv, &text, &len, 1 << 20, err);
        if (r < 0)
                return r;
        uint64_t sector = field(text, "sector size: "), per = field(text, "cluster size: "),
                 clusters = field(text, "free clusters=");
        bool have = strstr(text, "free clusters=") != NULL;
        free(text);
        if (!sector || !per || !have)
                return mk_error_set(err, EIO, "%s: minfo does not say the ESP's free clusters", e->image);
        *ret_cluster = sector * per;
        *ret_free = clusters * sector * per;
        return 0;
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
        char tmp[] = "/tmp/mkimage-update.XXXXXX", img[4200], dst[4100];
        int fd = mkostemp(tmp, O_CLOEXEC);
        if (fd < 0)
                return mk_error_set(err, errno, "a temporary file: %s", strerror(errno));
        int r = mk_pwrite_all(fd, data, len, 0);
        close(fd);
        if (r < 0) {
                unlink(tmp);
                return mk_error_set(err, -r, "a temporary file: %s", strerror(-r));
        }
        img_arg(e, img, sizeof(img));
        snprintf(dst, sizeof(dst), "::/%s", path);
        char *argv[] = {"mcopy", "-o", "-n", "-i", img, tmp, dst, NULL};
        mk_error first = {0};
        if ((r = mtool(e, argv, NULL, NULL, 0, &first)) < 0) {
                /* a missing folder (one tool run each, only then): mmd fails on one that exists, which is fine */
                char dir[4100];
                for (const char *s = path; (s = strchr(s, '/')); s++) {
                        snprintf(dir, sizeof(dir), "::/%.*s", (int)(s - path), path);
                        char *md[] = {"mmd", "-D", "s", "-i", img, dir, NULL};
                        mk_error ignore = {0};
                        (void)mtool(e, md, NULL, NULL, 0, &ignore);
                }
                r = mtool(e, argv, NULL, NULL, 0, err);
        }
        unlink(tmp);
        return r; /* mtools wrote through its own descriptor: the caller fsyncs the image (the same inode) */
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
        char img[4200], a[4100], b[4100];
        img_arg(e, img, sizeof(img));
        snprintf(a, sizeof(a), "::/%s", from);
        snprintf(b, sizeof(b), "::/%s", to);
        char *argv[] = {"mren", "-i", img, a, b, NULL};
        return mtool(e, argv, NULL, NULL, 0, err);
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
        char img[4200], p[4100];
        img_arg(e, img, sizeof(img));
        snprintf(p, sizeof(p), "::/%s", path);
        char *argv[] = {"mdel", "-i", img, p, NULL};
        mk_error ignore = {0};
        (void)mtool(e, argv, NULL, NULL, 0, &ignore); /* absent already: fine */
        return 0;
}

/* The names in loader/entries, '\n'-separated, into *ret. */
static int list_entries(const upd_esp *e, char **ret, mk_error *err)
{
        if (e->dir) {
                char full[4096];
                snprintf(full, sizeof(full), "%s/" MK_ESP_ENTRIES_DIR, e->dir);
                DIR *d = opendir(full);
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
        char img[4200];
        size_t len;
        img_arg(e, img, sizeof(img));
        char *argv[] = {"mdir", "-b", "-i", img, "::/" MK_ESP_ENTRIES_DIR, NULL};
        int r = mtool(e, argv, ret, &len, 1 << 20, err);
        if (r < 0)
                return r;
        /* "::/loader/entries/slot-a+3.conf" -> "slot-a+3.conf" */
        char *w = *ret;
        for (char *line = *ret, *nl; *line; line = nl + 1) {
                if (!(nl = strchr(line, '\n')))
                        nl = line + strlen(line) - 1;
                char *slash = memrchr(line, '/', (size_t)(nl - line));
                char *name = slash ? slash + 1 : line;
                size_t n = (size_t)(nl - name) + (*nl == '\n' ? 0 : 1);
                memmove(w, name, n);
                w += n;
                *w++ = '\n';
                if (!*nl || !nl[1])
                        break;
        }
        *w = 0;
        return 0;
}

int upd_esp_entry(const upd_esp *e, char slot, char *out, size_t size, mk_error *err)
{
        char *names = NULL;
        int r = list_entries(e, &names, err);
        if (r < 0)
                return r;
        size_t found = 0;
        for (char *line = strtok(names, "\n"); line; line = strtok(NULL, "\n")) {
                char s;
                int left, done;
                if (mk_bls_entry_parse(line, &s, &left, &done) && s == slot) {
                        snprintf(out, size, "%s", line);
                        found++;
                }
        }
        free(names);
        if (found > 1)
                return mk_error_set(err, EEXIST, "slot %c has %zu boot entries in /" MK_ESP_ENTRIES_DIR, slot, found);
        return found ? 0 : -ENOENT;
}
