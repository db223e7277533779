/* SPDX-License-Identifier: MIT */
/* One device: its data key and LUKS2 header, identity and serial records, data partition, bmap. */
#include "builder/factory/factory-internal.h"

/* The first error wins; every worker stops at its next device. */
void mk_factory_set_error(fctx *f, const mk_error *e)
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

void mk_factory_device_out_done(device_out *d)
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
const char *mk_factory_pub_b64(const char *pub, char out[128])
{
        const char *l = strchr(pub, '\n');
        snprintf(out, 128, "%.*s", l ? (int)strcspn(l + 1, "\n") : 0, l ? l + 1 : "");
        return out;
}

static int identity_texts(fctx *f, const mk_device *dev, device_out *d, mk_error *err)
{
        char when[32], b64[128];
        created(f, when);
        mk_factory_pub_b64(d->pub, b64);
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
                        r = mk_component_load_tree(inputs->items[i].comp, t, NULL, 0, err);
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

/* A new data key for dev and, for an encrypted data partition labelled label, its LUKS2 header. */
int mk_factory_device_key(const fctx *f, const mk_device *dev, bool encrypted, const char *label, uint8_t **ret_key,
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
void mk_factory_drop_ahead(fctx *f)
{
        for (size_t k = 0; k < f->n_ahead; k++) {
                sodium_free(f->ahead[k].key);
                mk_luks2_header_free(f->ahead[k].hdr);
                f->ahead[k] = (struct ahead){0};
        }
        f->n_ahead = 0;
}

/* A device's image, key and block map, finished under temporary names (committed by commit_batch). */
int mk_factory_build_device(fctx *f, mk_inputs *inputs, device_out *d, mk_error *err)
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
            (r = mk_factory_device_key(f, dev, f->encrypted, f->data->name, &d->key, &d->hdr, err)) < 0)
                return r;
        if ((r = mk_seckey_generate(&d->id, err)) < 0 || (r = mk_seckey_text(d->id, &d->id_text, err)) < 0)
                return r;
        mk_seckey_pub_text(d->id, d->pub);
        if ((r = identity_texts(f, dev, d, err)) < 0 || (r = mk_factory_clone_template(f, fd, path, err)) < 0 ||
            (r == 1 && (r = mk_factory_prime_pages(f, fd, path, err)) < 0))
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

void mk_factory_device_error(fctx *f, const mk_device *dev, const mk_error *err)
{
        mk_error e = {0};
        mk_error_set(&e, err->code, "device %s (%s:%u): %s", dev->serial, f->o->devices_path, dev->line, err->msg);
        mk_factory_set_error(f, &e);
}
