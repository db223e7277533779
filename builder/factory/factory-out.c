/* SPDX-License-Identifier: MIT */
/* OUTDIR: only our files, stale temporaries removed, the record read and appended; the group commit of a batch. */
#include "builder/factory/factory-internal.h"

bool mk_factory_in_shard(const fctx *f, size_t i)
{
        return f->o->shard_count <= 1 || i % f->o->shard_count == f->o->shard_index;
}

static const mk_device *find_serial(const fctx *f, const char *serial, size_t *ret_i)
{
        for (size_t i = 0; i < f->devs->n; i++)
                if (!strcmp(f->devs->items[i].serial, serial)) {
                        if (ret_i)
                                *ret_i = i;
                        return &f->devs->items[i];
                }
        return NULL;
}

/* ---- OUTDIR: ours only; stale temporaries removed; records read -------------------------------- */

/* "SERIAL.img", "SERIAL.img.bmap", "SERIAL.data-key", "SERIAL.img.manifest*.yaml*" of a listed device. */
static bool our_name(const fctx *f, const char *name)
{
        static const char *const suffixes[] = {".img",
                                               ".img.bmap",
                                               ".data-key",
                                               ".img" MK_IMAGE_MANIFEST_A,
                                               ".img" MK_IMAGE_MANIFEST_A MK_SIG_SUFFIX,
                                               ".img" MK_IMAGE_MANIFEST_B,
                                               ".img" MK_IMAGE_MANIFEST_B MK_SIG_SUFFIX};
        for (size_t k = 0; k < ELEMENTSOF(suffixes); k++) {
                size_t n = strlen(name), sl = strlen(suffixes[k]);
                if (n <= sl || strcmp(name + n - sl, suffixes[k]))
                        continue;
                char serial[MK_SERIAL_MAX + 1];
                if (n - sl > MK_SERIAL_MAX)
                        continue;
                memcpy(serial, name, n - sl);
                serial[n - sl] = '\0';
                if (find_serial(f, serial, NULL))
                        return true;
        }
        return false;
}

/* A temporary file of mk_output: ".NAME.mkimage-XXXXXX". */
static bool stale_temp(const char *name)
{
        size_t n = strlen(name);
        return name[0] == '.' && n > 15 && !strncmp(name + n - 15, ".mkimage-", 9);
}

int mk_factory_check_outdir(fctx *f, mk_error *err)
{
        const char *dir = f->o->out_dir;
        if (mkdir(dir, 0755) < 0 && errno != EEXIST)
                return mk_error_set(err, errno, "%s: cannot create the output folder: %s", dir, strerror(errno));
        DIR *d = opendir(dir);
        if (!d)
                return mk_error_set(err, errno, "%s: %s (give a folder for the images with -o)", dir, strerror(errno));
        int r = 0;
        struct dirent *e;
        while (r >= 0 && (e = readdir(d))) {
                const char *n = e->d_name;
                if (!strcmp(n, ".") || !strcmp(n, "..") || !strcmp(n, RECORD) || !strcmp(n, WORK_DIR) || our_name(f, n))
                        continue;
                if (stale_temp(n)) { /* a run killed mid-device: under the lock, nobody owns it */
                        unlinkat(dirfd(d), n, 0);
                        continue;
                }
                r = mk_error_set(err, EEXIST,
                                 "%s: holds '%s', which is not an output of mkimage factory for this device list "
                                 "(give a new or empty folder, or the one an earlier run of this list wrote)",
                                 dir, n);
        }
        closedir(d);
        return r;
}

/* Devices already in the record file are complete; a torn last line (a crash mid-append) is cut off. */
int mk_factory_read_records(fctx *f, mk_error *err)
{
        char path[4200];
        snprintf(path, sizeof(path), "%s/" RECORD, f->o->out_dir);
        f->record_fd = open(path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        if (f->record_fd < 0)
                return mk_error_set(err, errno, "%s: %s", path, strerror(errno));
        _cleanup_free_ char *text = NULL;
        size_t len;
        int r = mk_read_file(path, RECORD_MAX, &text, &len, err);
        if (r < 0)
                return r;
        size_t keep = 0;
        unsigned line = 1;
        for (char *p = text; p < text + len; line++) {
                char *nl = memchr(p, '\n', (size_t)(text + len - p));
                if (!nl)
                        break; /* torn */
                *nl = '\0';
                json_object *o = json_tokener_parse(p);
                json_object *s = NULL;
                const char *serial = o && json_object_object_get_ex(o, "serial", &s) ? json_object_get_string(s) : NULL;
                size_t i;
                if (!serial || !find_serial(f, serial, &i)) {
                        json_object_put(o);
                        return mk_error_set(err, EINVAL,
                                            "%s:%u: not a record of a device in %s (the folder holds another batch: "
                                            "give a new folder)",
                                            path, line, f->o->devices_path);
                }
                f->complete[i] = true;
                json_object_put(o);
                p = nl + 1;
                keep = (size_t)(p - text);
        }
        if (keep < len && ftruncate(f->record_fd, (off_t)keep) < 0)
                return mk_error_set(err, errno, "%s: cannot cut its torn last line: %s", path, strerror(errno));
        return 0;
}

/* ---- the common part ---------------------------------------------------------------------------------------- */

static int record_line(const fctx *f, const device_out *d, char out[RECORD_LINE_MAX])
{
        char b64[128], img[100] = "";
        if (f->o->image_digest)
                snprintf(img, sizeof(img), "\"image-sha256\":\"%s\",", d->image_sha);
        return snprintf(out, RECORD_LINE_MAX,
                        "{\"serial\":\"%s\",\"image\":\"%s.img\",%s\"bmap-sha256\":\"%s\","
                        "\"device-key\":\"%s\",\"device-key-id\":\"%s\",\"brand-key-id\":\"%s\","
                        "\"manifest-sha256\":\"%s\",\"data-key-fingerprint\":\"%s\"}\n",
                        d->dev->serial, d->dev->serial, img, d->bmap_sha, mk_factory_pub_b64(d->pub, b64),
                        mk_seckey_id_str(d->id), mk_seckey_id_str(f->brand), f->manifest_sha,
                        f->encrypted ? d->key_fpr : "");
}

static int link_manifests(fctx *f, const mk_device *dev, mk_error *err)
{
        for (size_t k = 0; k < ELEMENTSOF(manifest_suffixes); k++) {
                char from[4500], to[4300];
                snprintf(from, sizeof(from), "%s%s", f->template_path, manifest_suffixes[k]);
                snprintf(to, sizeof(to), "%s/%s.img%s", f->o->out_dir, dev->serial, manifest_suffixes[k]);
                if (access(from, F_OK) < 0)
                        continue; /* no slot b */
                unlink(to);
                if (link(from, to) < 0)
                        return mk_error_set(err, errno, "%s: %s", to, strerror(errno));
        }
        return 0;
}

/* Take a published device back out (its record line could not be written): no image without its line. */
static void unpublish(fctx *f, const mk_device *dev)
{
        static const char *const suffixes[] = {".img", ".img.bmap", ".data-key"};
        char p[4300];
        for (size_t k = 0; k < ELEMENTSOF(suffixes); k++) {
                snprintf(p, sizeof(p), "%s/%s%s", f->o->out_dir, dev->serial, suffixes[k]);
                unlink(p);
        }
}

/* A worker that died mid-append left a torn line: cut it off before appending. */
static void lock_record(fctx *f)
{
        if (pthread_mutex_lock(&f->sh->record_lock) != EOWNERDEAD)
                return;
        pthread_mutex_consistent(&f->sh->record_lock);
        struct stat st;
        char tail[RECORD_LINE_MAX];
        if (fstat(f->record_fd, &st) < 0 || st.st_size == 0)
                return;
        size_t n = st.st_size < (off_t)sizeof(tail) ? (size_t)st.st_size : sizeof(tail);
        if (mk_pread_all(f->record_fd, tail, n, (uint64_t)st.st_size - n) < 0)
                return;
        size_t keep = n;
        while (keep && tail[keep - 1] != '\n')
                keep--;
        if (keep < n && (keep || n == (size_t)st.st_size))
                (void)ftruncate(f->record_fd, st.st_size - (off_t)(n - keep));
}

/* The record lines of batch[0..n), in one append under the lock (lines never interleave). */
static int append_records(fctx *f, device_out *batch, size_t n, mk_error *err)
{
        _cleanup_free_ char *buf = malloc(n * RECORD_LINE_MAX);
        if (!buf)
                return mk_error_set(err, ENOMEM, "out of memory");
        size_t len = 0;
        for (size_t i = 0; i < n; i++)
                len += (size_t)record_line(f, &batch[i], buf + len);
        lock_record(f);
        off_t before = lseek(f->record_fd, 0, SEEK_END);
        ssize_t k = write(f->record_fd, buf, len);
        int e = k == (ssize_t)len ? 0 : k < 0 ? errno : ENOSPC;
        if (e && before >= 0)
                (void)ftruncate(f->record_fd, before);
        pthread_mutex_unlock(&f->sh->record_lock);
        if (!e && fdatasync(f->record_fd) < 0)
                e = errno;
        if (!e)
                return 0;
        for (size_t i = 0; i < n; i++)
                unpublish(f, batch[i].dev);
        return mk_error_set(err, e, "%s/" RECORD ": cannot append the records of %s and %zu more: %s", f->o->out_dir,
                            batch[0].dev->serial, n - 1, strerror(e));
}

/*
 * Group commit of n finished devices: one syncfs() makes all their files
 * durable (an fsync per file would cost a journal commit and a cache flush
 * each, three per device), then each device's key and block map and, last,
 * its image are renamed into place (the image's final name means complete),
 * the folder is synced, and only then the devices' record lines are appended
 * and synced. Frees the batch, whatever happens.
 */
int mk_factory_commit_batch(fctx *f, device_out *batch, size_t n, mk_error *err)
{
        size_t published = 0;
        int r = 0;
        if (syncfs(f->dir_fd) < 0)
                r = mk_error_set(err, errno, "%s: cannot write the images of %s and %zu more to disk: %s",
                                 f->o->out_dir, batch[0].dev->serial, n - 1, strerror(errno));
        for (; r >= 0 && published < n; published++) {
                device_out *d = &batch[published];
                if ((d->keyf && (r = mk_output_publish(TAKE_PTR(d->keyf), err)) < 0) ||
                    (r = mk_output_publish(TAKE_PTR(d->bmapf), err)) < 0 || (r = link_manifests(f, d->dev, err)) < 0 ||
                    (r = mk_output_publish(TAKE_PTR(d->img), err)) < 0)
                        break;
        }
        /* The devices published before an error still get their lines, once their names are on disk. */
        mk_error later = {0};
        bool recorded = false;
        if (published && fsync(f->dir_fd) < 0) {
                int e = errno;
                for (size_t i = 0; i < published; i++)
                        unpublish(f, batch[i].dev);
                if (r >= 0)
                        r = mk_error_set(err, e, "%s: cannot write the folder to disk: %s", f->o->out_dir, strerror(e));
        } else if (published) {
                recorded = append_records(f, batch, published, r < 0 ? &later : err) >= 0;
                if (!recorded && r >= 0)
                        r = -err->code;
        }
        for (size_t i = 0; i < n; i++) {
                if (recorded && i < published)
                        mk_callback_printf(f->o->log, f->o->userdata, "device %s: done", batch[i].dev->serial);
                mk_factory_device_out_done(&batch[i]);
        }
        if (recorded)
                atomic_fetch_add(&f->sh->built, published);
        return r;
}
