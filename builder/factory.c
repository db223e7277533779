/* SPDX-License-Identifier: MIT */
#include "factory.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <linux/fs.h>
#include <pthread.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "bmap.h"
#include "build-data.h"
#include "build-boot.h"
#include "build.h"
#include "data.h"
#include "digest.h"
#include "factory-devices.h"
#include "fat-patch.h"
#include "fileio.h"
#include "gpt.h"
#include "inputs.h"
#include "luks.h"
#include "macro.h"
#include "manifest.h"
#include "minisign.h"
#include "model.h"
#include "output.h"
#include "uuid.h"

#define WORK_DIR ".mkimage-factory"
#define RECORD "factory-record.jsonl"
#define ESP_TYPE "C12A7328-F81F-11D2-BA4B-00A0C93EC93B"
#define RECORD_MAX (64u << 20)
#define logf_(o, ...) mk_callback_printf((o)->log, (o)->userdata, __VA_ARGS__)

DEFINE_TRIVIAL_CLEANUP_FUNC(mk_manifest *, mk_manifest_free)

typedef struct fctx {
        const mk_factory_opts *o;
        mk_model *m;
        mk_devices *devs;
        mk_seckey *brand;
        char template_path[4300];
        int template_fd;
        uint64_t template_size;
        uint64_t esp_off;
        mk_fat_file *records[2][2]; /* per slot with placeholders: the serial record's and its signature's */
        size_t n_record_slots;
        const mk_gpt_part *data; /* in gpt */
        mk_gpt *gpt;
        bool encrypted;
        mk_bmap_ref *bref; /* the common part's piece digests, reused where a device's bytes are the same */
        char manifest_sha[65];
        bool *complete;
        pthread_mutex_t lock; /* output registry, the record file, the first error */
        int record_fd;
        atomic_size_t next;
        atomic_bool stop;
        mk_error err;
        int r;
        atomic_ulong built;
} fctx;

static void set_error(fctx *f, const mk_error *e)
{
        pthread_mutex_lock(&f->lock);
        if (f->r >= 0) {
                f->r = -(e->code ? e->code : EIO);
                f->err = *e;
        }
        atomic_store(&f->stop, true);
        pthread_mutex_unlock(&f->lock);
}

static bool in_shard(const fctx *f, size_t i)
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

/* The signed manifests beside each image (hard links to the common part's), for `mkimage verify`. */
static const char *const manifest_suffixes[] = { ".manifest.yaml", ".manifest.yaml.minisig", ".manifest-b.yaml",
                                                 ".manifest-b.yaml.minisig" };

/* "SERIAL.img", "SERIAL.img.bmap", "SERIAL.data-key", "SERIAL.img.manifest*.yaml*" of a listed device. */
static bool our_name(const fctx *f, const char *name)
{
        static const char *const suffixes[] = { ".img", ".img.bmap", ".data-key", ".img.manifest.yaml",
                                                ".img.manifest.yaml.minisig", ".img.manifest-b.yaml",
                                                ".img.manifest-b.yaml.minisig" };
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

static int check_outdir(fctx *f, mk_error *err)
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
                if (!strcmp(n, ".") || !strcmp(n, "..") || !strcmp(n, RECORD) || !strcmp(n, WORK_DIR) ||
                    our_name(f, n))
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
static int read_records(fctx *f, mk_error *err)
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

static int build_template(fctx *f, mk_error *err)
{
        const mk_factory_opts *o = f->o;
        char dir[4200];
        snprintf(dir, sizeof(dir), "%s/" WORK_DIR, o->out_dir);
        if (mkdir(dir, 0755) < 0 && errno != EEXIST)
                return mk_error_set(err, errno, "%s: %s", dir, strerror(errno));
        snprintf(f->template_path, sizeof(f->template_path), "%s/common.img", dir);
        mk_build_opts bo = { .model_path = o->model_path, .layout_path = o->layout_path, .out_path = f->template_path,
                             .sign_key = o->sign_key, .jobs = o->jobs, .source_date_epoch = o->source_date_epoch,
                             .factory_template = true, .log = o->log, .warn = o->warn, .userdata = o->userdata };
        int r = mk_build(&bo, NULL, err);
        if (r < 0)
                return r;
        char mpath[4400];
        snprintf(mpath, sizeof(mpath), "%s.manifest.yaml", f->template_path);
        _cleanup_free_ char *mtext = NULL;
        size_t mlen;
        _cleanup_(mk_manifest_freep) mk_manifest *mf = NULL;
        if ((r = mk_read_file(mpath, MK_MANIFEST_MAX, &mtext, &mlen, err)) < 0 ||
            (r = mk_manifest_parse(mpath, mtext, mlen, &mf, err)) < 0 || (r = mk_gpt_read(f->template_path, &f->gpt, err)) < 0)
                return r;
        mk_sha256_buffer(mtext, mlen, f->manifest_sha);
        for (unsigned i = 0; i < f->gpt->n_parts; i++) {
                const mk_gpt_part *p = &f->gpt->parts[i];
                if (!strcasecmp(p->type_guid, ESP_TYPE) && !f->esp_off)
                        f->esp_off = p->start;
                if (mf->data.partition && !strcmp(p->name, mf->data.partition))
                        f->data = p;
        }
        if (!f->data)
                return mk_error_set(err, EINVAL,
                                    "%s: layout has no data partition: a factory image keeps each device's key and "
                                    "identity there (add a partition with 'role: data')",
                                    o->model_path);
        if (!f->esp_off)
                return mk_error_set(err, EINVAL, "%s: layout has no ESP for the serial record (add 'role: esp')",
                                    o->model_path);
        f->encrypted = !strcmp(mf->data.encryption, "luks2");
        f->template_fd = open(f->template_path, O_RDONLY | O_CLOEXEC);
        struct stat st;
        if (f->template_fd < 0 || fstat(f->template_fd, &st) < 0)
                return mk_error_set(err, errno, "%s: %s", f->template_path, strerror(errno));
        f->template_size = (uint64_t)st.st_size;
        /* The placeholders, found once: every clone has them at the same places. */
        for (char slot = 'a'; slot <= 'b'; slot++)
                for (int k = 0; k < 2; k++) {
                        char p[64];
                        snprintf(p, sizeof(p), "slot-%c/%s", slot, k ? MK_SERIAL_RECORD_SIG : MK_SERIAL_RECORD);
                        mk_fat_file **ff = &f->records[f->n_record_slots][k];
                        r = mk_fat_locate(f->template_fd, f->template_path, f->esp_off, p, ff, err);
                        if (r == -ENOENT && k == 0)
                                break; /* no slot b */
                        if (r < 0)
                                return r;
                        if (k == 1)
                                f->n_record_slots++;
                }
        mk_error_clear(err);
        return mk_bmap_ref_new(f->template_fd, f->template_path, &f->bref, err);
}

/* ---- one device ------------------------------------------------------------------------------------------ */

/* The image starts as the common part: a reflink, else a copy of its mapped ranges. */
static int clone_template(fctx *f, int fd, const char *name, mk_error *err)
{
        if (ioctl(fd, FICLONE, f->template_fd) == 0)
                return 0;
        if (ftruncate(fd, (off_t)f->template_size) < 0)
                return mk_error_set(err, errno, "%s: %s", name, strerror(errno));
        for (uint64_t pos = 0; pos < f->template_size;) {
                off_t data = lseek(f->template_fd, (off_t)pos, SEEK_DATA);
                if (data < 0)
                        break;
                off_t hole = lseek(f->template_fd, data, SEEK_HOLE);
                int r = mk_copy_range(f->template_fd, (uint64_t)data, fd, (uint64_t)data, (uint64_t)(hole - data));
                if (r < 0)
                        return mk_error_set(err, -r, "%s: copying the common part: %s", name, strerror(-r));
                pos = (uint64_t)hole;
        }
        return 0;
}

typedef struct device_out {
        uint8_t *key;       /* sodium_malloc */
        mk_seckey *id;      /* the device's identity key */
        char *id_text;      /* its .key text, sodium_malloc */
        char pub[MK_PUB_TEXT_SIZE];
        char *serial_yaml, *serial_sig, *device_yaml;
        char *bmap;
        size_t bmap_len;
        char image_sha[65], bmap_sha[65], key_fpr[65];
        mk_output *img, *keyf, *bmapf;
        mk_ranges written; /* bytes of the image written after the clone */
} device_out;

static void device_out_done(fctx *f, device_out *d)
{
        sodium_free(d->key);
        sodium_free(d->id_text);
        mk_seckey_free(d->id);
        free(d->serial_yaml);
        free(d->serial_sig);
        free(d->device_yaml);
        free(d->bmap);
        mk_ranges_clear(&d->written);
        pthread_mutex_lock(&f->lock);
        mk_output_abort(d->img);
        mk_output_abort(d->keyf);
        mk_output_abort(d->bmapf);
        pthread_mutex_unlock(&f->lock);
}

static void created(const fctx *f, char out[32])
{
        time_t t = (time_t)f->o->source_date_epoch;
        struct tm tm;
        gmtime_r(&t, &tm);
        strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* The pub key's base64 line (the second line of the .pub text). */
static const char *pub_b64(const char *pub, char out[128])
{
        const char *l = strchr(pub, '\n');
        snprintf(out, 128, "%.*s", l ? (int)strcspn(l + 1, "\n") : 0, l ? l + 1 : "");
        return out;
}

static int identity_texts(fctx *f, const mk_device *dev, device_out *d, mk_error *err)
{
        char when[32], b64[128];
        created(f, when);
        pub_b64(d->pub, b64);
        if (asprintf(&d->serial_yaml,
                     "mkimage-serial: 1\n"
                     "brand: %s\n"
                     "model: %s\n"
                     "serial: %s\n"
                     "device-key: %s\n"
                     "device-key-id: %s\n"
                     "manifest-sha256: %s\n"
                     "timestamp: %s\n",
                     f->m->brand, f->m->model, dev->serial, b64, mk_seckey_id_str(d->id), f->manifest_sha, when) < 0) {
                d->serial_yaml = NULL;
                return mk_error_set(err, ENOMEM, "out of memory");
        }
        size_t cap = 256;
        for (size_t i = 0; i < f->devs->n_fields; i++)
                cap += 8 + strlen(f->m->factory.fields[i]) + (dev->values[i] ? 2 * strlen(dev->values[i]) : 0);
        if (!(d->device_yaml = malloc(cap)))
                return mk_error_set(err, ENOMEM, "out of memory");
        int n = snprintf(d->device_yaml, cap, "serial: %s\nbrand: %s\nmodel: %s\n", dev->serial, f->m->brand,
                         f->m->model);
        for (size_t i = 0; i < f->devs->n_fields; i++) {
                if (!dev->values[i])
                        continue;
                /* Single-quoted YAML scalars: a quote is doubled, nothing else is special. */
                n += snprintf(d->device_yaml + n, cap - (size_t)n, "%s: '", f->m->factory.fields[i]);
                for (const char *c = dev->values[i]; *c; c++) {
                        if (*c == '\'')
                                d->device_yaml[n++] = '\'';
                        d->device_yaml[n++] = *c;
                }
                n += snprintf(d->device_yaml + n, cap - (size_t)n, "'\n");
        }
        char comment[256];
        snprintf(comment, sizeof(comment), "timestamp:%" PRIu64 "\tfile:serial.yaml\tserial:%s",
                 f->o->source_date_epoch, dev->serial);
        return mk_sign_buffer(f->brand, "serial.yaml", d->serial_yaml, strlen(d->serial_yaml), comment, &d->serial_sig,
                              err);
}

/* The data partition's content: the model's data components plus /identity. */
static int device_tree(fctx *f, mk_inputs *inputs, device_out *d, fstree **ret, mk_error *err)
{
        fstree *t = NULL;
        int r = fstree_new("the data partition", &t);
        if (r < 0)
                return mk_error_set(err, -r, "out of memory");
        for (size_t i = 0; inputs && i < inputs->n && r >= 0; i++)
                if (mk_input_is_data(&inputs->items[i]))
                        r = component_load_tree(inputs->items[i].comp, t, err);
        int64_t mt = (int64_t)f->o->source_date_epoch;
        const fsnode_attr dir = { .perm = 0700, .mtime = mt }, priv = { .perm = 0600, .mtime = mt },
                          pub = { .perm = 0644, .mtime = mt };
        if (r >= 0 && !fstree_lookup(t, "identity"))
                r = fstree_add_dir(t, "identity", &dir, NULL, err);
        if (r >= 0)
                r = fstree_add_file_mem(t, "identity/device.key", &priv, d->id_text, strlen(d->id_text), NULL, err);
        if (r >= 0)
                r = fstree_add_file_mem(t, "identity/device.pub", &pub, d->pub, strlen(d->pub), NULL, err);
        if (r >= 0)
                r = fstree_add_file_mem(t, "identity/device.yaml", &pub, d->device_yaml, strlen(d->device_yaml), NULL,
                                        err);
        if (r < 0) {
                fstree_free(t);
                return r;
        }
        *ret = t;
        return 0;
}

static int write_data(fctx *f, mk_inputs *inputs, const mk_device *dev, device_out *d, const char *path, int fd,
                      mk_error *err)
{
        fstree *t = NULL;
        int r = device_tree(f, inputs, d, &t, err);
        if (r < 0)
                return r;
        mk_ext4_opts eo = { .label = f->m->data.label, .mtime = (int64_t)f->o->source_date_epoch,
                            .lazy_init = f->encrypted };
        mk_derive_bytes(f->m->brand, f->m->model, "ext4-uuid", dev->serial, eo.uuid, sizeof(eo.uuid));
        mk_derive_bytes(f->m->brand, f->m->model, "ext4-hash-seed", dev->serial, eo.hash_seed, sizeof(eo.hash_seed));
        uint64_t off = f->data->start, size = f->data->size;
        if (f->encrypted) {
                off += mk_luks2_data_offset(f->data->size);
                size = mk_luks2_payload_size(f->data->size);
        }
        r = mk_ext4_write(path, fd, off, size, &eo, t, err);
        fstree_free(t);
        if (r < 0 || !f->encrypted)
                return r;
        char uuid[37];
        mk_uuid_derive(f->m->brand, f->m->model, "luks-uuid", dev->serial, uuid);
        mk_luks_opts lo = { .key = d->key, .key_len = MK_DATA_KEY_GEN, .pbkdf = mk_data_luks_pbkdf(f->m),
                            .uuid = uuid, .label = f->data->name };
        return mk_luks2_format(path, f->data->start, f->data->size, &lo, err);
}

/* The serial record and its signature over the common part's placeholders in each slot's folder. */
static int write_serial_records(fctx *f, device_out *d, int fd, const char *path, mk_error *err)
{
        for (size_t i = 0; i < f->n_record_slots; i++)
                for (int k = 0; k < 2; k++) {
                        const char *text = k ? d->serial_sig : d->serial_yaml;
                        mk_fat_file *ff = mk_fat_file_dup(f->records[i][k], path);
                        int r = ff ? mk_fat_rewrite(fd, ff, text, strlen(text), mk_ranges_add_cb, &d->written, err)
                                   : mk_error_set(err, ENOMEM, "out of memory");
                        mk_fat_file_free(ff);
                        if (r < 0)
                                return r;
                }
        return 0;
}

static int open_out(fctx *f, const char *name, mk_output **ret, mk_error *err)
{
        char path[4200];
        snprintf(path, sizeof(path), "%s/%s", f->o->out_dir, name);
        pthread_mutex_lock(&f->lock);
        int r = mk_output_open(path, ret, err);
        pthread_mutex_unlock(&f->lock);
        return r;
}

static int commit_out(fctx *f, mk_output **o, mk_error *err)
{
        /* The wait for the disk outside the lock, so that the workers' waits overlap; mk_output_commit's
         * own fsync then finds nothing left to write (and reports an error, if any). */
        (void)fsync(mk_output_fd(*o));
        pthread_mutex_lock(&f->lock);
        int r = mk_output_commit(TAKE_PTR(*o), err);
        pthread_mutex_unlock(&f->lock);
        return r;
}

static int write_buf(int fd, const char *name, const void *p, size_t len, mk_error *err)
{
        if (pwrite(fd, p, len, 0) != (ssize_t)len)
                return mk_error_set(err, errno ? errno : EIO, "%s: cannot write: %s", name, strerror(errno ? errno : EIO));
        return 0;
}

static int append_record(fctx *f, const mk_device *dev, const device_out *d, mk_error *err)
{
        char b64[128], line[1400], img[100] = "";
        if (f->o->image_digest)
                snprintf(img, sizeof(img), "\"image-sha256\":\"%s\",", d->image_sha);
        int n = snprintf(line, sizeof(line),
                         "{\"serial\":\"%s\",\"image\":\"%s.img\",%s\"bmap-sha256\":\"%s\","
                         "\"device-key\":\"%s\",\"device-key-id\":\"%s\",\"brand-key-id\":\"%s\","
                         "\"manifest-sha256\":\"%s\",\"data-key-fingerprint\":\"%s\"}\n",
                         dev->serial, dev->serial, img, d->bmap_sha, pub_b64(d->pub, b64),
                         mk_seckey_id_str(d->id), mk_seckey_id_str(f->brand), f->manifest_sha,
                         f->encrypted ? d->key_fpr : "");
        /* One write under the lock (lines never interleave); the fdatasync outside it. */
        pthread_mutex_lock(&f->lock);
        ssize_t k = write(f->record_fd, line, (size_t)n);
        pthread_mutex_unlock(&f->lock);
        int e = k == n ? (fdatasync(f->record_fd) < 0 ? errno : 0) : (k < 0 ? errno : EIO);
        if (e)
                return mk_error_set(err, e, "%s/" RECORD ": cannot append %s's record: %s", f->o->out_dir, dev->serial,
                                    strerror(e));
        return 0;
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

static int one_device(fctx *f, mk_inputs *inputs, const mk_device *dev, mk_error *err)
{
        device_out d = { 0 };
        char name[MK_SERIAL_MAX + 16];
        int r;
        snprintf(name, sizeof(name), "%s.img", dev->serial);
        if ((r = open_out(f, name, &d.img, err)) < 0)
                goto out;
        const char *path = mk_output_tmp_path(d.img);
        int fd = mk_output_fd(d.img);
        if (!(d.key = sodium_malloc(MK_DATA_KEY_GEN))) {
                r = mk_error_set(err, ENOMEM, "out of memory");
                goto out;
        }
        randombytes_buf(d.key, MK_DATA_KEY_GEN);
        if ((r = mk_seckey_generate(&d.id, err)) < 0 || (r = mk_seckey_text(d.id, &d.id_text, err)) < 0)
                goto out;
        mk_seckey_pub_text(d.id, d.pub);
        if ((r = identity_texts(f, dev, &d, err)) < 0 || (r = clone_template(f, fd, path, err)) < 0)
                goto out;
        mk_ranges_add(&d.written, f->data->start, f->data->size);
        if ((r = write_data(f, inputs, dev, &d, path, fd, err)) < 0)
                goto out;
        r = write_serial_records(f, &d, fd, path, err);
        if (r < 0 || (r = mk_bmap_make(fd, path, f->bref, &d.written, &d.bmap, &d.bmap_len, f->o->image_digest ? d.image_sha : NULL, err)) < 0)
                goto out;
        mk_sha256_buffer(d.bmap, d.bmap_len, d.bmap_sha);
        /* A fingerprint of the key, never the key: BLAKE2b keyed with the key itself. */
        static const char fpr_msg[] = "mkimage data-key fingerprint v1";
        uint8_t fpr[32];
        crypto_generichash(fpr, sizeof(fpr), (const uint8_t *)fpr_msg, sizeof(fpr_msg) - 1, d.key, MK_DATA_KEY_GEN);
        mk_hex(fpr, sizeof(fpr), d.key_fpr);

        /* Key and block map first, the image last: its final name means complete; then the record. */
        snprintf(name, sizeof(name), "%s.data-key", dev->serial);
        if (f->encrypted && ((r = open_out(f, name, &d.keyf, err)) < 0 || fchmod(mk_output_fd(d.keyf), 0600) < 0 ||
                             (r = write_buf(mk_output_fd(d.keyf), name, d.key, MK_DATA_KEY_GEN, err)) < 0))
                goto out_errno;
        snprintf(name, sizeof(name), "%s.img.bmap", dev->serial);
        if ((r = open_out(f, name, &d.bmapf, err)) < 0 ||
            (r = write_buf(mk_output_fd(d.bmapf), name, d.bmap, d.bmap_len, err)) < 0)
                goto out;
        if ((d.keyf && (r = commit_out(f, &d.keyf, err)) < 0) || (r = commit_out(f, &d.bmapf, err)) < 0 ||
            (r = link_manifests(f, dev, err)) < 0 || (r = commit_out(f, &d.img, err)) < 0)
                goto out;
        r = append_record(f, dev, &d, err);
        goto out;
out_errno:
        if (r >= 0)
                r = mk_error_set(err, errno, "%s/%s: %s", f->o->out_dir, name, strerror(errno));
out:
        device_out_done(f, &d);
        return r;
}

static void *worker(void *arg)
{
        fctx *f = arg;
        mk_inputs *inputs = NULL;
        mk_error err = { 0 };
        /* Each worker opens the components itself (the data components' trees are read per device). */
        if (mk_inputs_verify(f->m, NULL, NULL, NULL, &inputs, &err) < 0) {
                set_error(f, &err);
                return NULL;
        }
        for (;;) {
                size_t i = atomic_fetch_add(&f->next, 1);
                if (i >= f->devs->n || atomic_load(&f->stop))
                        break;
                if (!in_shard(f, i) || f->complete[i])
                        continue;
                const mk_device *dev = &f->devs->items[i];
                mk_error_clear(&err);
                if (one_device(f, inputs, dev, &err) < 0) {
                        mk_error e2 = { 0 };
                        mk_error_set(&e2, err.code, "device %s (%s:%u): %s", dev->serial, f->o->devices_path, dev->line,
                                     err.msg);
                        set_error(f, &e2);
                        break;
                }
                atomic_fetch_add(&f->built, 1);
                logf_(f->o, "device %s: done", dev->serial);
        }
        mk_inputs_free(inputs);
        return NULL;
}

/* The common part is rebuilt by every run (it is reproducible): never left behind. */
static void remove_work_dir(fctx *f)
{
        if (!f->template_path[0])
                return;
        char p[4500];
        unlink(f->template_path);
        for (size_t k = 0; k < ELEMENTSOF(manifest_suffixes); k++) {
                snprintf(p, sizeof(p), "%s%s", f->template_path, manifest_suffixes[k]);
                unlink(p);
        }
        snprintf(p, sizeof(p), "%s/" WORK_DIR, f->o->out_dir);
        rmdir(p);
}

int mk_factory(const mk_factory_opts *o, mk_factory_result *ret, mk_error *err)
{
        fctx f = { .o = o, .template_fd = -1, .record_fd = -1, .lock = PTHREAD_MUTEX_INITIALIZER };
        int lock_fd = -1, r;
        if (o->shard_count == 0 || o->shard_index >= o->shard_count)
                return mk_error_set(err, EINVAL, "--shard %u/%u: the index must be below the count (0/4 .. 3/4)",
                                    o->shard_index, o->shard_count);
        if (sodium_init() < 0)
                return mk_error_set(err, EIO, "libsodium failed to initialize");
        /* Everything is checked before anything is written. */
        if ((r = mk_model_load(o->model_path, &f.m, err)) < 0 || (r = mk_devices_load(o->devices_path, f.m, &f.devs, err)) < 0)
                goto out;
        if (!o->brand_key) {
                r = mk_error_set(err, ENOKEY, "factory needs --brand-key KEY: the key that signs each device's serial record");
                goto out;
        }
        if ((r = mk_seckey_load(o->brand_key, &f.brand, err)) < 0)
                goto out;
        if (!(f.complete = calloc(f.devs->n, sizeof(*f.complete)))) {
                r = mk_error_set(err, ENOMEM, "out of memory");
                goto out;
        }
        char lock_path[4200];
        snprintf(lock_path, sizeof(lock_path), "%s/" RECORD, o->out_dir);
        if ((r = check_outdir(&f, err)) < 0 || (r = mk_output_lock(lock_path, o->warn, o->userdata, &lock_fd, NULL, err)) < 0 ||
            (r = check_outdir(&f, err)) < 0 || (r = read_records(&f, err)) < 0)
                goto out;
        unsigned long todo = 0, in = 0, skipped = 0;
        for (size_t i = 0; i < f.devs->n; i++)
                if (in_shard(&f, i)) {
                        in++;
                        skipped += f.complete[i];
                        todo += !f.complete[i];
                }
        logf_(o, "factory: %zu devices, %lu in shard %u/%u, %lu already complete", f.devs->n, in, o->shard_index,
              o->shard_count, skipped);
        if (todo && (r = build_template(&f, err)) < 0)
                goto out;
        unsigned jobs = o->jobs;
        if (!jobs) {
                long n = sysconf(_SC_NPROCESSORS_ONLN);
                jobs = n > 0 ? (unsigned)n : 1;
        }
        if (jobs > todo)
                jobs = todo ? (unsigned)todo : 1;
        pthread_t *tids = calloc(jobs, sizeof(*tids));
        bool *started = calloc(jobs, sizeof(*started));
        for (unsigned i = 0; todo && tids && started && i < jobs; i++)
                started[i] = pthread_create(&tids[i], NULL, worker, &f) == 0;
        if (todo && tids && started && !started[0])
                worker(&f);
        for (unsigned i = 0; tids && started && i < jobs; i++)
                if (started[i])
                        pthread_join(tids[i], NULL);
        free(tids);
        free(started);
        if (f.r < 0) {
                r = mk_error_set(err, -f.r, "%s", f.err.msg);
                goto out;
        }
        if (ret)
                *ret = (mk_factory_result){ .devices = f.devs->n, .in_shard = in, .skipped = skipped,
                                            .built = atomic_load(&f.built) };
        r = 0;
out:
        if (f.template_fd >= 0)
                close(f.template_fd);
        remove_work_dir(&f);
        mk_bmap_ref_free(f.bref);
        for (size_t i = 0; i < 2; i++)
                for (int k = 0; k < 2; k++)
                        mk_fat_file_free(f.records[i][k]);
        struct stat rst;
        if (f.record_fd >= 0 && r < 0 && fstat(f.record_fd, &rst) == 0 && rst.st_size == 0) {
                char rp[4200];
                snprintf(rp, sizeof(rp), "%s/" RECORD, o->out_dir);
                unlink(rp); /* nothing was built: leave nothing behind */
        }
        if (f.record_fd >= 0)
                close(f.record_fd);
        if (lock_fd >= 0)
                close(lock_fd);
        free(f.gpt);
        free(f.complete);
        mk_seckey_free(f.brand);
        mk_devices_free(f.devs);
        mk_model_free(f.m);
        return r;
}
