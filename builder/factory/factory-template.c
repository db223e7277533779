/* SPDX-License-Identifier: MIT */
/* The common part: one build with room for the serial records, the pages a clone needs, the clone. */
#include "builder/factory/factory-internal.h"

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

void mk_factory_forget_work(fctx *f)
{
        for (size_t k = 0; k < ELEMENTSOF(f->work_slots); k++) {
                mk_tmp_forget(f->work_slots[k]);
                f->work_slots[k] = -1;
        }
}

int mk_factory_build_template(fctx *f, mk_error *err)
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
                            .sb = {.no_enroll = true}, /* a factory image never carries enrolment keys */
                            .log = o->log,
                            .warn = o->warn,
                            .progress = o->progress,
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
int mk_factory_clone_template(fctx *f, int fd, const char *name, mk_error *err)
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
int mk_factory_prime_pages(fctx *f, int fd, const char *path, mk_error *err)
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

/* The common part is rebuilt by every run (it is reproducible): never left behind. */
void mk_factory_remove_work_dir(fctx *f)
{
        mk_factory_forget_work(f);
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
