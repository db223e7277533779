/* SPDX-License-Identifier: MIT */
#include "builder/factory/factory.h"
#include "signing/conventions/conventions.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <linux/fs.h>
#include <pthread.h>
#include <signal.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "builder/image/bmap.h"
#include "builder/build/build-data.h"
#include "builder/build/build-boot.h"
#include "builder/build/build.h"
#include "builder/data/data-fs.h"
#include "builder/image/digest.h"
#include "builder/factory/factory-devices.h"
#include "builder/esp/fat-patch.h"
#include "signing/base/fileio.h"
#include "builder/image/gpt.h"
#include "builder/component/verify-inputs.h"
#include "builder/model/layout.h"
#include "builder/data/luks.h"
#include "signing/base/macro.h"
#include "signing/manifest/manifest.h"
#include "signing/minisign/minisign.h"
#include "builder/model/model.h"
#include "builder/image/output.h"
#include "signing/base/tmpfiles.h"
#include "builder/model/uuid.h"

#define WORK_DIR ".mkimage-factory"
#define RECORD "factory-record.jsonl"
#define RECORD_MAX (64u << 20)
#define RECORD_LINE_MAX 1400
/* Devices a worker finishes before it makes them durable together (group commit). */
#define BATCH 8
#define PRIME_PAGE 4096u
#define ELEMENTS_MANIFEST 4 /* the signed manifests beside an image (manifest_suffixes) */
/* Devices whose data key and LUKS2 header are made while the common part builds (on the core it leaves idle). */
#define AHEAD_MAX 32
#define logf_(o, ...) mk_callback_printf((o)->log, (o)->userdata, __VA_ARGS__)

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
        mk_ranges prime;   /* whole pages the serial records' rewrite touches (sorted, disjoint) */
        char manifest_sha[65];
        bool *complete;
        int record_fd;
        int dir_fd; /* OUTDIR: syncfs() and the renames' fsync */
        struct shared *sh;
        mk_inputs *inputs; /* verified once, ahead; the workers inherit them */
        struct ahead {
                size_t device; /* index in devs */
                uint8_t *key;  /* sodium_malloc */
                mk_luks2_header *hdr;
        } ahead[AHEAD_MAX];
        size_t n_ahead;
        char *ahead_label; /* the LUKS2 label the headers made ahead carry (the layout's data partition) */
        atomic_bool ahead_stop;
        int work_slots[1 + 1 + ELEMENTS_MANIFEST]; /* the work folder, the common part and its manifests */
} fctx;

/* What the worker processes share: an anonymous shared mapping made before they are forked. */
typedef struct shared {
        pthread_mutex_t record_lock; /* process-shared and robust: appends to the record file */
        atomic_size_t next;          /* the next device to take */
        atomic_bool stop;
        atomic_ulong built;
        atomic_int err_state; /* 0 none, 1 being written, 2 written */
        mk_error err;
} shared;

/* The first error wins; every worker stops at its next device. */
static void set_error(fctx *f, const mk_error *e)
{
        int none = 0;
        if (atomic_compare_exchange_strong(&f->sh->err_state, &none, 1)) {
                f->sh->err = *e;
                if (!f->sh->err.code)
                        f->sh->err.code = EIO;
                atomic_store(&f->sh->err_state, 2);
        }
        atomic_store(&f->sh->stop, true);
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
static const char *const manifest_suffixes[ELEMENTS_MANIFEST] = {
        MK_IMAGE_MANIFEST_A, MK_IMAGE_MANIFEST_A MK_SIG_SUFFIX, MK_IMAGE_MANIFEST_B, MK_IMAGE_MANIFEST_B MK_SIG_SUFFIX};

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

static void add_pages(void *userdata, uint64_t off, uint64_t len)
{
        uint64_t a = off / PRIME_PAGE * PRIME_PAGE, b = (off + len + PRIME_PAGE - 1) / PRIME_PAGE * PRIME_PAGE;
        mk_ranges_add(userdata, a, b - a);
}

static int range_cmp(const void *a, const void *b)
{
        const struct mk_range *x = a, *y = b;
        return x->off < y->off ? -1 : x->off > y->off;
}

/* f->prime: the pages of every placeholder's extent, sorted and merged. */
static int prime_set(fctx *f, mk_error *err)
{
        mk_ranges all = {0};
        for (size_t i = 0; i < f->n_record_slots; i++)
                for (int k = 0; k < 2; k++)
                        mk_fat_file_extent(f->records[i][k], add_pages, &all);
        if (all.oom) {
                mk_ranges_clear(&all);
                return mk_error_set(err, ENOMEM, "out of memory");
        }
        if (all.n)
                qsort(all.v, all.n, sizeof(*all.v), range_cmp);
        for (size_t i = 0; i < all.n; i++) {
                struct mk_range *last = f->prime.n ? &f->prime.v[f->prime.n - 1] : NULL;
                if (last && all.v[i].off <= last->off + last->len) {
                        uint64_t end = all.v[i].off + all.v[i].len;
                        if (end > last->off + last->len)
                                last->len = end - last->off;
                } else
                        mk_ranges_add(&f->prime, all.v[i].off, all.v[i].len);
        }
        mk_ranges_clear(&all);
        return f->prime.oom ? mk_error_set(err, ENOMEM, "out of memory") : 0;
}

/* The common part is removed when the factory ends, and by a signal too (mk_tmp_unlink_all). */
static void adopt_work(fctx *f, size_t k, const char *path, bool folder)
{
        f->work_slots[k] = mk_tmp_adopt(path, folder);
}

static void forget_work(fctx *f)
{
        for (size_t k = 0; k < ELEMENTSOF(f->work_slots); k++) {
                mk_tmp_forget(f->work_slots[k]);
                f->work_slots[k] = -1;
        }
}

static int build_template(fctx *f, mk_error *err)
{
        const mk_factory_opts *o = f->o;
        char dir[4200];
        snprintf(dir, sizeof(dir), "%s/" WORK_DIR, o->out_dir);
        if (mkdir(dir, 0755) < 0 && errno != EEXIST)
                return mk_error_set(err, errno, "%s: %s", dir, strerror(errno));
        adopt_work(f, 0, dir, true);
        snprintf(f->template_path, sizeof(f->template_path), "%s/common.img", dir);
        mk_build_opts bo = {.model_path = o->model_path,
                            .layout_path = o->layout_path,
                            .out_path = f->template_path,
                            .sign_key = o->sign_key,
                            .jobs = o->jobs,
                            .source_date_epoch = o->source_date_epoch,
                            .factory_template = true,
                            .log = o->log,
                            .warn = o->warn,
                            .userdata = o->userdata};
        int r = mk_build(&bo, NULL, err);
        if (r < 0)
                return r;
        adopt_work(f, 1, f->template_path, false);
        for (size_t k = 0; k < ELEMENTS_MANIFEST; k++) {
                char p[4500];
                snprintf(p, sizeof(p), "%s%s", f->template_path, manifest_suffixes[k]);
                adopt_work(f, 2 + k, p, false);
        }
        char mpath[4400];
        snprintf(mpath, sizeof(mpath), "%s" MK_IMAGE_MANIFEST_A, f->template_path);
        _cleanup_free_ char *mtext = NULL;
        size_t mlen;
        _cleanup_(mk_manifest_freep) mk_manifest *mf = NULL;
        if ((r = mk_read_file(mpath, MK_MANIFEST_MAX, &mtext, &mlen, err)) < 0 ||
            (r = mk_manifest_parse(mpath, mtext, mlen, &mf, err)) < 0 ||
            (r = mk_gpt_read(f->template_path, &f->gpt, err)) < 0)
                return r;
        mk_sha256_buffer(mtext, mlen, f->manifest_sha);
        for (unsigned i = 0; i < f->gpt->n_parts; i++) {
                const mk_gpt_part *p = &f->gpt->parts[i];
                if (!strcasecmp(p->type_guid, MK_ESP_TYPE_GUID) && !f->esp_off)
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
                        snprintf(p, sizeof(p), MK_SLOT_SERIAL_FMT "%s", slot, k ? MK_SIG_SUFFIX : "");
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
        if ((r = prime_set(f, err)) < 0)
                return r;
        return mk_bmap_ref_new(f->template_fd, f->template_path, &f->bref, err);
}

/* ---- one device ------------------------------------------------------------------------------------------ */

/* The image starts as the common part: a reflink (1), else a copy of its mapped ranges (0). */
static int clone_template(fctx *f, int fd, const char *name, mk_error *err)
{
        if (ioctl(fd, FICLONE, f->template_fd) == 0)
                return 1;
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

/*
 * A reflinked clone shares the common part's blocks but not its page cache:
 * the serial records' rewrite (a few sectors of FAT, directory and FSInfo,
 * each a write of a few bytes) would make the kernel read each page from
 * disk first. The pages it touches are copied in whole from the common
 * part's page cache instead. Same bytes: nothing to add to the written set.
 */
static int prime_pages(fctx *f, int fd, const char *path, mk_error *err)
{
        uint8_t buf[16 * PRIME_PAGE];
        for (size_t i = 0; i < f->prime.n; i++)
                for (uint64_t off = f->prime.v[i].off, end = off + f->prime.v[i].len; off < end;) {
                        size_t n = end - off < sizeof(buf) ? (size_t)(end - off) : sizeof(buf);
                        int r = mk_pread_all(f->template_fd, buf, n, off);
                        if (r < 0 || (r = mk_pwrite_all(fd, buf, n, off)) < 0)
                                return mk_error_set(err, -r, "%s: copying the ESP's pages: %s", path, strerror(-r));
                        off += n;
                }
        return 0;
}

typedef struct device_out {
        const mk_device *dev;
        mk_luks2_header *hdr; /* encrypted: formatted for key, written into the image by write_data */
        uint8_t *key;         /* sodium_malloc */
        mk_seckey *id;        /* the device's identity key */
        char *id_text;        /* its .key text, sodium_malloc */
        char pub[MK_PUB_TEXT_SIZE];
        char *serial_yaml, *serial_sig, *device_yaml;
        char *bmap;
        size_t bmap_len;
        char image_sha[65], bmap_sha[65], key_fpr[65];
        mk_output *img, *keyf, *bmapf;
        mk_ranges written; /* bytes of the image written after the clone */
} device_out;

static void device_out_done(device_out *d)
{
        mk_luks2_header_free(d->hdr);
        sodium_free(d->key);
        sodium_free(d->id_text);
        mk_seckey_free(d->id);
        free(d->serial_yaml);
        free(d->serial_sig);
        free(d->device_yaml);
        free(d->bmap);
        mk_ranges_clear(&d->written);
        mk_output_abort(d->img);
        mk_output_abort(d->keyf);
        mk_output_abort(d->bmapf);
        *d = (device_out){0};
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
        int r = mk_fstree_new("the data partition", &t);
        if (r < 0)
                return mk_error_set(err, -r, "out of memory");
        for (size_t i = 0; inputs && i < inputs->n && r >= 0; i++)
                if (mk_input_is_data(&inputs->items[i]))
                        r = mk_component_load_tree(inputs->items[i].comp, t, err);
        int64_t mt = (int64_t)f->o->source_date_epoch;
        const fsnode_attr dir = {.perm = 0700, .mtime = mt}, priv = {.perm = 0600, .mtime = mt},
                          pub = {.perm = 0644, .mtime = mt};
        if (r >= 0 && !mk_fstree_lookup(t, "identity"))
                r = mk_fstree_add_dir(t, "identity", &dir, NULL, err);
        if (r >= 0)
                r = mk_fstree_add_file_mem(t, "identity/device.key", &priv, d->id_text, strlen(d->id_text), NULL, err);
        if (r >= 0)
                r = mk_fstree_add_file_mem(t, "identity/device.pub", &pub, d->pub, strlen(d->pub), NULL, err);
        if (r >= 0)
                r = mk_fstree_add_file_mem(t, "identity/device.yaml", &pub, d->device_yaml, strlen(d->device_yaml),
                                           NULL, err);
        if (r < 0) {
                mk_fstree_free(t);
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
        const mk_data_fs df = {.part_off = f->data->start,
                               .part_len = f->data->size,
                               .encrypted = f->encrypted,
                               .salt = dev->serial,
                               .mtime = f->o->source_date_epoch,
                               .name = mk_output_final_path(d->img)};
        r = mk_data_fs_write(path, fd, f->m, &df, t, err);
        mk_fstree_free(t);
        if (r < 0 || !f->encrypted)
                return r;
        return mk_luks2_header_write(d->hdr, path, f->data->start, f->data->size, err);
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
        return mk_output_open(path, ret, err);
}

static int write_buf(int fd, const char *name, const void *p, size_t len, mk_error *err)
{
        if (pwrite(fd, p, len, 0) != (ssize_t)len)
                return mk_error_set(err, errno ? errno : EIO, "%s: cannot write: %s", name,
                                    strerror(errno ? errno : EIO));
        return 0;
}

static int record_line(const fctx *f, const device_out *d, char out[RECORD_LINE_MAX])
{
        char b64[128], img[100] = "";
        if (f->o->image_digest)
                snprintf(img, sizeof(img), "\"image-sha256\":\"%s\",", d->image_sha);
        return snprintf(out, RECORD_LINE_MAX,
                        "{\"serial\":\"%s\",\"image\":\"%s.img\",%s\"bmap-sha256\":\"%s\","
                        "\"device-key\":\"%s\",\"device-key-id\":\"%s\",\"brand-key-id\":\"%s\","
                        "\"manifest-sha256\":\"%s\",\"data-key-fingerprint\":\"%s\"}\n",
                        d->dev->serial, d->dev->serial, img, d->bmap_sha, pub_b64(d->pub, b64), mk_seckey_id_str(d->id),
                        mk_seckey_id_str(f->brand), f->manifest_sha, f->encrypted ? d->key_fpr : "");
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

/* A new data key for dev and, for an encrypted data partition labelled label, its LUKS2 header. */
static int device_key(const fctx *f, const mk_device *dev, bool encrypted, const char *label, uint8_t **ret_key,
                      mk_luks2_header **ret_hdr, mk_error *err)
{
        uint8_t *key = sodium_malloc(MK_DATA_KEY_GEN);
        if (!key)
                return mk_error_set(err, ENOMEM, "out of memory");
        randombytes_buf(key, MK_DATA_KEY_GEN);
        int r = 0;
        if (encrypted) {
                char uuid[37];
                mk_uuid_derive(f->m->brand, f->m->model, "luks-uuid", dev->serial, uuid);
                mk_luks_opts lo = {.key = key,
                                   .key_len = MK_DATA_KEY_GEN,
                                   .pbkdf = mk_data_luks_pbkdf(f->m),
                                   .uuid = uuid,
                                   .label = label};
                r = mk_luks2_header_new(&lo, ret_hdr, err);
        }
        if (r < 0) {
                sodium_free(key);
                return r;
        }
        *ret_key = key;
        return 0;
}

/* The key and header made ahead for device i, if any (and if they fit what the common part turned out to be). */
static bool take_ahead(fctx *f, size_t i, device_out *d)
{
        for (size_t k = 0; k < f->n_ahead; k++) {
                struct ahead *a = &f->ahead[k];
                if (a->device != i || !a->key)
                        continue;
                bool fits = f->encrypted == (a->hdr != NULL) &&
                            (!a->hdr || (f->ahead_label && !strcmp(f->ahead_label, f->data->name)));
                if (fits) {
                        d->key = TAKE_PTR(a->key);
                        d->hdr = TAKE_PTR(a->hdr);
                }
                return fits;
        }
        return false;
}

/* Wipe the keys made ahead that this process did not use. */
static void drop_ahead(fctx *f)
{
        for (size_t k = 0; k < f->n_ahead; k++) {
                sodium_free(f->ahead[k].key);
                mk_luks2_header_free(f->ahead[k].hdr);
                f->ahead[k] = (struct ahead){0};
        }
        f->n_ahead = 0;
}

/* A device's image, key and block map, finished under temporary names (committed by commit_batch). */
static int build_device(fctx *f, mk_inputs *inputs, device_out *d, mk_error *err)
{
        const mk_device *dev = d->dev;
        char name[MK_SERIAL_MAX + 16];
        int r;
        snprintf(name, sizeof(name), "%s.img", dev->serial);
        if ((r = open_out(f, name, &d->img, err)) < 0)
                return r;
        const char *path = mk_output_tmp_path(d->img);
        int fd = mk_output_fd(d->img);
        if (!take_ahead(f, (size_t)(dev - f->devs->items), d) &&
            (r = device_key(f, dev, f->encrypted, f->data->name, &d->key, &d->hdr, err)) < 0)
                return r;
        if ((r = mk_seckey_generate(&d->id, err)) < 0 || (r = mk_seckey_text(d->id, &d->id_text, err)) < 0)
                return r;
        mk_seckey_pub_text(d->id, d->pub);
        if ((r = identity_texts(f, dev, d, err)) < 0 || (r = clone_template(f, fd, path, err)) < 0 ||
            (r == 1 && (r = prime_pages(f, fd, path, err)) < 0))
                return r;
        mk_ranges_add(&d->written, f->data->start, f->data->size);
        if ((r = write_data(f, inputs, dev, d, path, fd, err)) < 0 ||
            (r = write_serial_records(f, d, fd, path, err)) < 0 ||
            (r = mk_bmap_make(fd, path, f->bref, &d->written, &d->bmap, &d->bmap_len,
                              f->o->image_digest ? d->image_sha : NULL, err)) < 0)
                return r;
        /* The image is complete: its writeback starts now, the batch's syncfs() then waits for less. */
        (void)sync_file_range(fd, 0, 0, SYNC_FILE_RANGE_WRITE);
        mk_sha256_buffer(d->bmap, d->bmap_len, d->bmap_sha);
        /* A fingerprint of the key, never the key: BLAKE2b keyed with the key itself. */
        static const char fpr_msg[] = "mkimage data-key fingerprint v1";
        uint8_t fpr[32];
        crypto_generichash(fpr, sizeof(fpr), (const uint8_t *)fpr_msg, sizeof(fpr_msg) - 1, d->key, MK_DATA_KEY_GEN);
        mk_hex(fpr, sizeof(fpr), d->key_fpr);

        snprintf(name, sizeof(name), "%s.data-key", dev->serial);
        if (f->encrypted && ((r = open_out(f, name, &d->keyf, err)) < 0 || fchmod(mk_output_fd(d->keyf), 0600) < 0 ||
                             (r = write_buf(mk_output_fd(d->keyf), name, d->key, MK_DATA_KEY_GEN, err)) < 0))
                return r < 0 ? r : mk_error_set(err, errno, "%s/%s: %s", f->o->out_dir, name, strerror(errno));
        snprintf(name, sizeof(name), "%s.img.bmap", dev->serial);
        if ((r = open_out(f, name, &d->bmapf, err)) < 0)
                return r;
        return write_buf(mk_output_fd(d->bmapf), name, d->bmap, d->bmap_len, err);
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
static int commit_batch(fctx *f, device_out *batch, size_t n, mk_error *err)
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
                device_out_done(&batch[i]);
        }
        if (recorded)
                atomic_fetch_add(&f->sh->built, published);
        return r;
}

static void device_error(fctx *f, const mk_device *dev, const mk_error *err)
{
        mk_error e = {0};
        mk_error_set(&e, err->code, "device %s (%s:%u): %s", dev->serial, f->o->devices_path, dev->line, err->msg);
        set_error(f, &e);
}

/* Take devices until none is left or a worker failed; finished devices are committed BATCH at a time,
 * and those of the last batch also when a later device failed (complete devices are kept). */
static void worker(fctx *f)
{
        mk_inputs *inputs = f->inputs, *own = NULL;
        mk_error err = {0};
        device_out batch[BATCH] = {0};
        size_t n = 0;
        /* The components (the data components' trees are read per device), verified ahead; if that failed,
         * again here, to report why. */
        if (!inputs && mk_inputs_verify(f->m, NULL, NULL, NULL, &own, &err) < 0) {
                set_error(f, &err);
                drop_ahead(f);
                return;
        }
        if (!inputs)
                inputs = own;
        for (;;) {
                size_t i = atomic_fetch_add(&f->sh->next, 1);
                if (i >= f->devs->n || atomic_load(&f->sh->stop))
                        break;
                if (!in_shard(f, i) || f->complete[i])
                        continue;
                mk_error_clear(&err);
                batch[n].dev = &f->devs->items[i];
                if (build_device(f, inputs, &batch[n], &err) < 0) {
                        device_error(f, batch[n].dev, &err);
                        device_out_done(&batch[n]);
                        break;
                }
                if (++n < BATCH)
                        continue;
                n = 0;
                if (commit_batch(f, batch, BATCH, &err) < 0) {
                        set_error(f, &err);
                        break;
                }
        }
        mk_error_clear(&err);
        if (n && commit_batch(f, batch, n, &err) < 0)
                set_error(f, &err);
        mk_inputs_free(own);
        drop_ahead(f);
}

/*
 * The workers are processes, not threads: libcryptsetup's LUKS2 format (most
 * of a device's CPU time) fetches an OpenSSL digest for each of its 4000
 * anti-forensic stripes, and in one process the workers' fetches contend
 * for OpenSSL's global locks (threads: 20% more CPU per device). Each worker
 * dies with the factory (PR_SET_PDEATHSIG; its signal handler removes its
 * temporary files) and shares the device counter, the first error and the
 * record file's lock through f->sh.
 */
static int run_workers(fctx *f, unsigned jobs, mk_error *err)
{
        if (jobs == 1) {
                worker(f);
                return 0;
        }
        pid_t parent = getpid(), *pids = calloc(jobs, sizeof(*pids));
        if (!pids)
                return mk_error_set(err, ENOMEM, "out of memory");
        fflush(NULL); /* nothing buffered is printed twice */
        unsigned started = 0;
        for (; started < jobs; started++) {
                pid_t pid = fork();
                if (pid < 0)
                        break;
                if (pid == 0) {
                        if (prctl(PR_SET_PDEATHSIG, SIGTERM) < 0 || getppid() != parent)
                                _exit(1);
                        forget_work(f);                   /* the factory's, not this worker's, to remove */
                        setvbuf(stdout, NULL, _IOLBF, 0); /* whole lines: the workers share the terminal */
                        /* Its own description of OUTDIR: syncfs() reports a write error once per description. */
                        int dfd = open(f->o->out_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                        if (dfd >= 0)
                                f->dir_fd = dfd;
                        worker(f);
                        fflush(NULL);
                        _exit(0);
                }
                pids[started] = pid;
        }
        int r = started ? 0 : mk_error_set(err, errno, "cannot start a worker process: %s", strerror(errno));
        for (unsigned i = 0; i < started; i++) {
                int st;
                while (waitpid(pids[i], &st, 0) < 0 && errno == EINTR)
                        ;
                if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
                        continue;
                mk_error e = {0};
                mk_error_set(&e, EIO,
                             "a worker process %s %d (its devices not yet in the record are not complete: run the "
                             "same command again to finish them)",
                             WIFSIGNALED(st) ? "was killed by signal" : "exited with status",
                             WIFSIGNALED(st) ? WTERMSIG(st) : WEXITSTATUS(st));
                set_error(f, &e);
        }
        free(pids);
        return r;
}

/*
 * While the common part builds (mostly on one core), the other core
 * verifies the components for the workers and makes the data keys and
 * LUKS2 headers (the bulk of a device's CPU time) of the first devices to
 * build. The header does not depend on the partition's size or place, only
 * on its label, taken here from the layout. Any failure just ends the work
 * ahead: the workers then do it themselves and report the error.
 */
static void *work_ahead(void *arg)
{
        fctx *f = arg;
        mk_error err = {0};
        if (mk_inputs_verify(f->m, NULL, NULL, NULL, &f->inputs, &err) < 0)
                return NULL;
        mk_layout *l = NULL;
        if (mk_layout_load(f->o->layout_path ? f->o->layout_path : f->m->layout_path, f->m, &l, &err) < 0)
                return NULL;
        const mk_partition *p = mk_layout_find(l, MK_ROLE_DATA, 0);
        bool encrypted = p && f->m->data.encryption == MK_ENC_LUKS2;
        f->ahead_label = p ? strdup(p->name) : NULL;
        mk_layout_free(l);
        if (!f->ahead_label)
                return NULL;
        for (size_t i = 0; i < f->devs->n && f->n_ahead < AHEAD_MAX && !atomic_load(&f->ahead_stop); i++) {
                if (!in_shard(f, i) || f->complete[i])
                        continue;
                struct ahead *a = &f->ahead[f->n_ahead];
                if (device_key(f, &f->devs->items[i], encrypted, f->ahead_label, &a->key, &a->hdr, &err) < 0)
                        break;
                a->device = i;
                f->n_ahead++;
        }
        return NULL;
}

static int start_shared(fctx *f, mk_error *err)
{
        f->dir_fd = open(f->o->out_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (f->dir_fd < 0)
                return mk_error_set(err, errno, "%s: %s", f->o->out_dir, strerror(errno));
        void *p = mmap(NULL, sizeof(shared), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED)
                return mk_error_set(err, errno, "cannot map the workers' shared state: %s", strerror(errno));
        f->sh = p;
        pthread_mutexattr_t a;
        pthread_mutexattr_init(&a);
        pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED);
        pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST);
        int e = pthread_mutex_init(&f->sh->record_lock, &a);
        pthread_mutexattr_destroy(&a);
        return e ? mk_error_set(err, e, "cannot create the record lock: %s", strerror(e)) : 0;
}

/* The common part is rebuilt by every run (it is reproducible): never left behind. */
static void remove_work_dir(fctx *f)
{
        forget_work(f);
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
        fctx f = {.o = o, .template_fd = -1, .record_fd = -1, .dir_fd = -1, .work_slots = {-1, -1, -1, -1, -1, -1}};
        int lock_fd = -1, r;
        if (o->shard_count == 0 || o->shard_index >= o->shard_count)
                return mk_error_set(err, EINVAL, "--shard %u/%u: the index must be below the count (0/4 .. 3/4)",
                                    o->shard_index, o->shard_count);
        if (sodium_init() < 0)
                return mk_error_set(err, EIO, "libsodium failed to initialize");
        /* Everything is checked before anything is written. */
        if ((r = mk_model_load(o->model_path, &f.m, err)) < 0 ||
            (r = mk_devices_load(o->devices_path, f.m, &f.devs, err)) < 0)
                goto out;
        if (!o->brand_key) {
                r = mk_error_set(err, ENOKEY,
                                 "factory needs --brand-key KEY: the key that signs each device's serial record");
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
        if ((r = check_outdir(&f, err)) < 0 ||
            (r = mk_output_lock(lock_path, o->warn, o->userdata, &lock_fd, NULL, err)) < 0 ||
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
        pthread_t ahead;
        bool ahead_started = todo && pthread_create(&ahead, NULL, work_ahead, &f) == 0;
        if (todo)
                r = build_template(&f, err);
        atomic_store(&f.ahead_stop, true);
        if (ahead_started)
                pthread_join(ahead, NULL);
        if (todo)
                logf_(o, "factory: common part built; %zu devices' keys made meanwhile", f.n_ahead);
        if (r < 0)
                goto out;
        unsigned jobs = o->jobs;
        if (!jobs) {
                long n = sysconf(_SC_NPROCESSORS_ONLN);
                jobs = n > 0 ? (unsigned)n : 1;
        }
        if (jobs > todo)
                jobs = todo ? (unsigned)todo : 1;
        if (todo && (r = start_shared(&f, err)) >= 0)
                r = run_workers(&f, jobs, err);
        if (r < 0)
                goto out;
        if (f.sh && atomic_load(&f.sh->err_state) == 2) {
                r = mk_error_set(err, f.sh->err.code, "%s", f.sh->err.msg);
                goto out;
        }
        if (ret)
                *ret = (mk_factory_result){.devices = f.devs->n,
                                           .in_shard = in,
                                           .skipped = skipped,
                                           .built = f.sh ? atomic_load(&f.sh->built) : 0};
        r = 0;
out:
        if (f.template_fd >= 0)
                close(f.template_fd);
        remove_work_dir(&f);
        mk_bmap_ref_free(f.bref);
        mk_ranges_clear(&f.prime);
        drop_ahead(&f);
        free(f.ahead_label);
        mk_inputs_free(f.inputs);
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
        if (f.dir_fd >= 0)
                close(f.dir_fd);
        if (f.sh)
                munmap(f.sh, sizeof(*f.sh));
        if (lock_fd >= 0)
                close(lock_fd);
        free(f.gpt);
        free(f.complete);
        mk_seckey_free(f.brand);
        mk_devices_free(f.devs);
        mk_model_free(f.m);
        return r;
}
