/* SPDX-License-Identifier: MIT */
#include "builder/build/build.h"
#include "signing/conventions/conventions.h"
#include "builder/build/build-boot.h"
#include "builder/build/build-data.h"
#include "builder/build/build-internal.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>
#include <unistd.h>

#include "builder/build/compose.h"
#include "builder/image/digest.h"
#include "signing/base/fileio.h"
#include "builder/image/gpt.h"
#include "builder/component/verify-inputs.h"
#include "builder/model/layout.h"
#include "signing/base/macro.h"
#include "signing/manifest/manifest.h"
#include "signing/minisign/minisign.h"
#include "builder/model/model.h"
#include "builder/image/output.h"
#include "builder/squashfs/sqfs-file.h"
#include "builder/model/uuid.h"
#include "builder/image/verity.h"

static void build_done(build *b)
{
        for (size_t s = 0; s < MAX_SLOTS; s++)
                for (size_t k = 0; k < 2; k++)
                        mk_output_abort(b->mf_out[s][k]);
        mk_output_abort(b->img);
        mk_output_abort(b->key_out);
        mk_data_stage_done(&b->data);
        mk_boot_stage_done(&b->boot);
        for (size_t s = 0; s < MAX_SLOTS; s++)
                for (size_t k = 0; k < 2; k++)
                        free(b->mf_text[s][k]);
        if (b->lock_fd >= 0)
                close(b->lock_fd);
        mk_seckey_free(b->key);
        mk_inputs_free(b->inputs);
        mk_layout_free(b->l);
        mk_model_free(b->m);
}

void mk_build_stage(const mk_build_opts *o, const char *name)
{
        if (o->stage)
                o->stage(o->userdata, name);
}

static uint64_t align_mib(uint64_t v)
{
        return (v + MK_ALIGN - 1) / MK_ALIGN * MK_ALIGN;
}

/* Load the signing key before anything is written. */
static int load_key(build *b, mk_error *err)
{
        const char *path = b->o->sign_key ? b->o->sign_key : b->m->signing_key;
        if (!path)
                return mk_error_set(
                        err, ENOKEY,
                        "%s: no key to sign the manifests (pass --sign-key KEY or set 'signing-key' in the model)",
                        b->m->path);
        return mk_seckey_load(path, &b->key, err);
}

/*
 * The components' SHA-256 for the manifests (the SBOM), computed before
 * anything is written, in a thread of its own while the signatures are
 * checked (minisign's BLAKE2b over the same files): the two passes over
 * hundreds of megabytes run side by side. The digests are used only once
 * every signature is good.
 */
typedef struct comp_hasher {
        build *b;
        mk_prehashes *pre; /* then the signatures' prehashes, from the last component back */
        pthread_t thread;
        bool running;
        int r;
        mk_error err;
} comp_hasher;

static void *hash_components(void *arg)
{
        comp_hasher *h = arg;
        build *b = h->b;
        for (size_t i = 0; i < b->m->n_components && h->r >= 0; i++) {
                const char *path = b->m->components[i].path;
                struct stat st;
                /* A directory (grade dangerous) has no digest; anything else that is not a regular file
                 * (missing, a FIFO that would block the open) is the signature check's to report. */
                if (stat(path, &st) < 0 || !S_ISREG(st.st_mode)) {
                        memset(b->comp_sha[i], '0', 64);
                        b->comp_sha[i][64] = '\0';
                        continue;
                }
                h->r = mk_sha256_file(path, b->comp_sha[i], &h->err);
        }
        for (size_t i = b->m->n_components; h->pre && h->r >= 0 && i-- > 0;)
                if (!mk_prehashes_fill(h->pre, i, b->m->components[i].path))
                        break; /* the signature checks got here */
        return NULL;
}

static int hash_start(build *b, comp_hasher *h, mk_error *err)
{
        *h = (comp_hasher){.b = b};
        if (b->m->n_components > ELEMENTSOF(b->comp_sha))
                return mk_error_set(err, E2BIG, "%s: more than %zu components", b->m->path, ELEMENTSOF(b->comp_sha));
        h->pre = mk_prehashes_new(b->m->n_components);
        int e = pthread_create(&h->thread, NULL, hash_components, h);
        if (e) {
                mk_prehashes_free(h->pre);
                return mk_error_set(err, e, "cannot start a thread: %s", strerror(e));
        }
        h->running = true;
        return 0;
}

/* Wait for the digests; their error, if any, once the caller has none of its own. */
static int hash_wait(comp_hasher *h, mk_error *err)
{
        if (!h->running)
                return 0;
        pthread_join(h->thread, NULL);
        h->running = false;
        mk_prehashes_free(h->pre);
        h->pre = NULL;
        if (h->r < 0)
                return mk_error_set(err, h->err.code, "%s", h->err.msg);
        return 0;
}

static void root_progress(void *userdata, uint64_t done, uint64_t total)
{
        const mk_build_opts *o = userdata;
        o->progress(o->userdata, "root", done, total, true);
}

/* Compose the root and write it in place at root-a's offset. */
static int write_root(build *b, const mk_partition *ra, mk_error *err)
{
        _cleanup_(mk_fstree_freep) fstree *tree = NULL;
        int r = mk_compose_tree(b->m, b->inputs, &tree, err);
        if (r < 0)
                return r;
        sqwrite_opts so;
        mk_compose_opts(b->m, b->jobs, (uint32_t)b->o->source_date_epoch, &so);
        if (b->o->progress) {
                so.progress = root_progress;
                so.progress_userdata = (void *)b->o;
        }
        for (size_t i = 0; i < b->inputs->n; i++) {
                char how[256];
                if (mk_compose_data_path(&b->inputs->items[i], &so, how, sizeof how))
                        logf_(b->o, "component %s: %s", b->inputs->items[i].mc->name, how);
        }
        uint64_t limit = ra->size_kind == MK_SIZE_FIXED ? ra->length : UINT64_MAX / 2 - ra->start;
        sqfs_file_t *f = NULL;
        if ((r = mk_sqfile_open_fd(mk_output_fd(b->img), b->out_path, ra->start, limit, SQFILE_WRITE, &f, err)) < 0)
                return r;
        sqwrite_stats st;
        r = mk_sqwrite_tree(tree, f, &so, &st, err);
        sqfs_destroy(f);
        if (r == -ENOSPC && ra->size_kind == MK_SIZE_FIXED) {
                mk_error_clear(err);
                return mk_error_set(err, E2BIG,
                                    "%s:%u:%u: the root does not fit: partition '%s' holds %" PRIu64
                                    " bytes and the squashfs needs more (raise its size or use 'size: auto')",
                                    b->l->path, ra->line, ra->col, ra->name, ra->length);
        }
        if (r < 0)
                return r;
        b->root_size = st.size;
        logf_(b->o,
              "root: %" PRIu64 " bytes of squashfs, %u inodes, %" PRIu64 " files (%" PRIu64 " bytes) block-copied",
              st.size, st.inodes, st.copied_files, st.copied_bytes);
        return 0;
}

/* Size `auto` roots from the squashfs and re-plan; root-a must not move. */
static int replan(build *b, uint64_t ra_start, mk_error *err)
{
        mk_layout *l = b->l;
        uint64_t *auto_sizes = calloc(l->n_parts, sizeof(*auto_sizes));
        if (!auto_sizes)
                return mk_error_set(err, ENOMEM, "out of memory");
        for (size_t i = 0; i < l->n_parts; i++) {
                const mk_partition *p = &l->parts[i];
                if (p->role != MK_ROLE_ROOT)
                        continue;
                if (p->size_kind == MK_SIZE_AUTO) {
                        uint64_t extra = p->headroom + b->root_size / 100 * p->headroom_pct;
                        auto_sizes[i] = align_mib(b->root_size + extra);
                } else if (b->root_size > p->length) {
                        free(auto_sizes);
                        return mk_error_set(err, E2BIG,
                                            "%s:%u:%u: the root does not fit: partition '%s' holds %" PRIu64
                                            " bytes but the squashfs needs %" PRIu64
                                            " (raise its size or use 'size: auto')",
                                            l->path, p->line, p->col, p->name, p->length, b->root_size);
                }
        }
        int r = mk_layout_plan(l, b->m, auto_sizes, err);
        free(auto_sizes);
        if (r < 0)
                return r;
        const mk_partition *ra = mk_layout_find(l, MK_ROLE_ROOT, 'a');
        if (ra->start != ra_start)
                return mk_error_set(err, EINVAL,
                                    "%s:%u:%u: root partition '%s' moved when the 'auto' sizes were computed (place it "
                                    "before other partitions of size auto)",
                                    l->path, ra->line, ra->col, ra->name);
        return 0;
}

static int copy_range(int fd, const char *name, uint64_t from, uint64_t to, uint64_t len, mk_error *err)
{
        int r = mk_copy_range(fd, from, fd, to, len);
        return r < 0 ? mk_error_set(err, -r, "%s: copying the root into slot b failed: %s", name, strerror(-r)) : 0;
}

/*
 * The work of the slots stage, each in a thread of its own: the slot-b copy,
 * the root's digest, and one dm-verity tree per slot.
 */
typedef enum side_kind { SIDE_SHA, SIDE_COPY, SIDE_TREE } side_kind;

typedef struct side_job {
        side_kind kind;
        int fd;
        const char *name;
        uint64_t from, to, len;
        char *sha_hex;       /* SIDE_SHA: the SHA-256 of [from, from+len) */
        mk_verity_dest dest; /* SIDE_TREE: the tree over [from, from+len) goes here */
        uint8_t salt[MK_VERITY_SALT], uuid[16];
        unsigned threads;
        mk_verity *verity; /* SIDE_TREE: filled on success */
        mk_error err;
        int r;
} side_job;

static void *side_run(void *arg)
{
        side_job *j = arg;
        switch (j->kind) {
        case SIDE_SHA:
                j->r = mk_sha256_range(j->fd, j->name, j->from, j->len, j->sha_hex, &j->err);
                break;
        case SIDE_COPY:
                j->r = copy_range(j->fd, j->name, j->from, j->to, j->len, &j->err);
                break;
        case SIDE_TREE:
                j->dest.uuid = j->uuid;
                j->r = mk_verity_format(j->fd, j->from, j->len, &j->dest, 1, j->salt, j->threads, j->verity, &j->err);
                /* The verity writer names no file: say which one (a full disk, most likely). */
                mk_error_prefix(&j->err, j->r, "%s", j->name);
                break;
        }
        return NULL;
}

/*
 * The partition UUIDs of a slot whose root hash is known: the Discoverable
 * Partitions Specification's, from the root hash (signing/conventions/). An
 * unpopulated slot keeps its derived ones until an update writes it.
 */
static void set_dps_uuids(build *b)
{
        for (size_t i = 0; i < b->l->n_parts; i++) {
                mk_partition *p = &b->l->parts[i];
                size_t s = (size_t)(p->slot - 'a');
                if ((p->role != MK_ROLE_ROOT && p->role != MK_ROLE_ROOT_VERITY) || s >= MAX_SLOTS || !b->populated[s])
                        continue;
                char root_uuid[37], verity_uuid[37];
                mk_dps_partuuids(b->verity[s].root_hash, root_uuid, verity_uuid);
                memcpy(p->uuid, p->role == MK_ROLE_ROOT ? root_uuid : verity_uuid, sizeof(p->uuid));
        }
}

/*
 * After compression the root is in the page cache: copy it into slot b,
 * hash it, and build each slot's verity tree, all at the same time. Each
 * slot has its own salt, so two slots never share a root hash (and with it
 * their partition UUIDs); slot b's tree is made from slot a's bytes, which
 * slot b's are a copy of, so it need not wait for the copy.
 */
static int write_slots(build *b, mk_error *err)
{
        int fd = mk_output_fd(b->img);
        const mk_partition *ra = mk_layout_find(b->l, MK_ROLE_ROOT, 'a');
        const mk_partition *rb = mk_layout_find(b->l, MK_ROLE_ROOT, 'b');
        b->populated[0] = true;
        b->populated[1] = rb && rb->content == MK_SLOT_COPY;
        size_t n_slots = b->populated[1] ? 2 : 1;
        mk_build_stage(b->o, "verity");
        side_job jobs[2 + MAX_SLOTS] = {
                {.kind = SIDE_SHA,
                 .fd = fd,
                 .name = b->out_path,
                 .from = ra->start,
                 .len = b->root_size,
                 .sha_hex = b->root_sha256},
        };
        size_t n_jobs = 1;
        if (b->populated[1])
                jobs[n_jobs++] = (side_job){.kind = SIDE_COPY,
                                            .fd = fd,
                                            .name = b->out_path,
                                            .from = ra->start,
                                            .to = rb->start,
                                            .len = b->root_size};
        mk_verity out[MAX_SLOTS];
        for (size_t s = 0; s < n_slots; s++) {
                char slot[2] = {(char)('a' + s), 0};
                const mk_partition *hash = mk_layout_find(b->l, MK_ROLE_ROOT_VERITY, slot[0]);
                side_job *j = &jobs[n_jobs++];
                *j = (side_job){.kind = SIDE_TREE,
                                .fd = fd,
                                .name = b->out_path,
                                .from = ra->start,
                                .len = b->root_size,
                                .dest = {.hash_off = hash->start, .hash_max = hash->length},
                                .threads = b->jobs / n_slots ? b->jobs / n_slots : 1,
                                .verity = &out[s]};
                mk_derive_bytes(b->m->brand, b->m->model, "verity-salt", slot, j->salt, sizeof(j->salt));
                mk_derive_bytes(b->m->brand, b->m->model, "verity-uuid", slot, j->uuid, sizeof(j->uuid));
        }
        pthread_t tids[ELEMENTSOF(jobs)];
        bool started[ELEMENTSOF(jobs)] = {false};
        for (size_t i = 1; i < n_jobs; i++)
                started[i] = pthread_create(&tids[i], NULL, side_run, &jobs[i]) == 0;
        side_run(&jobs[0]);
        for (size_t i = 1; i < n_jobs; i++)
                if (!started[i])
                        side_run(&jobs[i]);
        int r = 0;
        for (size_t i = 0; i < n_jobs; i++) {
                if (started[i])
                        pthread_join(tids[i], NULL);
                if (jobs[i].r < 0 && r >= 0)
                        r = mk_error_set(err, jobs[i].err.code, "%s", jobs[i].err.msg);
        }
        if (r < 0)
                return r;
        for (size_t s = 0; s < n_slots; s++)
                b->verity[s] = out[s];
        set_dps_uuids(b);
        return 0;
}

/* Ask the kernel to start writing [off, off + len) (len 0: to the end) to disk, without waiting. A hint:
 * errors are the final fsync's to report. */
static void start_writeback(int fd, uint64_t off, uint64_t len)
{
        (void)sync_file_range(fd, (off_t)off, (off_t)len, SYNC_FILE_RANGE_WRITE);
}

/* The ESP, once the manifests it carries are signed. */
static int write_esp(build *b, mk_error *err)
{
        mk_boot_slot slots[MAX_SLOTS];
        size_t n = 0;
        for (size_t s = 0; s < MAX_SLOTS; s++)
                if (b->populated[s])
                        slots[n++] = (mk_boot_slot){.slot = (char)('a' + s),
                                                    .manifest = b->mf_text[s][0],
                                                    .manifest_len = strlen(b->mf_text[s][0]),
                                                    .signature = b->mf_text[s][1],
                                                    .signature_len = strlen(b->mf_text[s][1])};
        return mk_boot_write(&b->boot, b->m, b->l, mk_output_tmp_path(b->img), b->out_path, slots, n,
                             b->o->source_date_epoch, b->o->factory_template, err);
}

/* The generated data key, mode 0600, committed with the image. */
static int write_key_out(build *b, mk_error *err)
{
        int r = mk_output_open(b->o->data_key_out, &b->key_out, err);
        if (r < 0)
                return r;
        if (fchmod(mk_output_fd(b->key_out), 0600) < 0)
                return mk_error_set(err, errno, "%s: %s", b->o->data_key_out, strerror(errno));
        return mk_build_write_file(mk_output_fd(b->key_out), b->o->data_key_out, (const char *)b->data.key,
                                   b->data.key_len, err);
}

static int commit(build *b, mk_error *err)
{
        int r;
        if (b->key_out && (r = mk_output_commit(TAKE_PTR(b->key_out), err)) < 0)
                return r;
        for (size_t s = 0; s < MAX_SLOTS; s++)
                for (size_t k = 0; k < 2; k++)
                        if (b->mf_out[s][k] && (r = mk_output_commit(TAKE_PTR(b->mf_out[s][k]), err)) < 0)
                                return r;
        return mk_output_commit(TAKE_PTR(b->img), err);
}

static int run(build *b, mk_build_result *ret, mk_error *err)
{
        const mk_build_opts *o = b->o;
        int r;
        mk_build_stage(o, "model");
        if ((r = mk_model_load(o->model_path, &b->m, err)) < 0)
                return r;
        logf_(o, "model %s (brand %s, version %" PRIu64 ", %s)", b->m->model, b->m->brand, b->m->version,
              mk_arch_name(b->m->arch));
        mk_build_stage(o, "layout");
        if ((r = mk_layout_load(o->layout_path ? o->layout_path : b->m->layout_path, b->m, &b->l, err)) < 0)
                return r;
        mk_build_stage(o, "plan");
        /* Provisional: `auto` roots at 1 MiB until the squashfs is written and measured. */
        uint64_t *prov = calloc(b->l->n_parts, sizeof(*prov));
        if (!prov)
                return mk_error_set(err, ENOMEM, "out of memory");
        for (size_t i = 0; i < b->l->n_parts; i++)
                if (b->l->parts[i].role == MK_ROLE_ROOT && b->l->parts[i].size_kind == MK_SIZE_AUTO)
                        prov[i] = MK_ALIGN;
        r = mk_layout_plan(b->l, b->m, prov, err);
        free(prov);
        if (r < 0)
                return r;
        mk_build_stage(o, "verify");
        comp_hasher hasher;
        if ((r = hash_start(b, &hasher, err)) < 0)
                return r;
        r = mk_inputs_verify(b->m, hasher.pre, o->warn, o->userdata, &b->inputs, err);
        mk_build_stage(o, "hash");
        int hr = hash_wait(&hasher, r < 0 ? NULL : err);
        if (r < 0 || (r = hr) < 0)
                return r;
        for (size_t i = 0; i < b->inputs->n; i++) {
                const mk_input *in = &b->inputs->items[i];
                logf_(o, "component %s: %s%s", in->mc->name,
                      in->is_dir      ? "unsigned directory"
                      : in->signed_ok ? "signature OK, key "
                                      : "unsigned",
                      in->signer_id);
        }
        if ((r = load_key(b, err)) < 0)
                return r;
        mk_build_stage(o, "prepare");
        if ((r = mk_data_prepare(b->m, b->l, b->inputs, o->data_key, o->data_key_out, o->factory_template, &b->data,
                                 err)) < 0 ||
            (r = mk_boot_prepare(b->m, b->l, b->inputs, b->key, &o->sb, o->source_date_epoch, &b->boot, err)) < 0)
                return r;
        b->out_path = o->out_path;
        if (!b->out_path) {
                snprintf(b->def_out, sizeof(b->def_out), "%s.img", b->m->model);
                b->out_path = b->def_out;
        }

        /* Nothing is written above this line. */
        mk_build_stage(o, "output");
        unsigned stale = 0;
        if ((r = mk_output_lock(b->out_path, o->warn, o->userdata, &b->lock_fd, &stale, err)) < 0)
                return r;
        if (stale)
                mk_callback_printf(o->warn, o->userdata,
                                   "removed %u stale temporary file%s of an interrupted build of %s", stale,
                                   stale == 1 ? "" : "s", b->out_path);
        if ((r = mk_output_open(b->out_path, &b->img, err)) < 0)
                return r;
        const mk_partition *ra = mk_layout_find(b->l, MK_ROLE_ROOT, 'a');
        uint64_t ra_start = ra->start;
        mk_build_stage(o, "root");
        if ((r = write_root(b, ra, err)) < 0 || (r = replan(b, ra_start, err)) < 0)
                return r;
        logf_(o, "layout %s: %zu partitions, disk %" PRIu64 " MiB", b->l->name, b->l->n_parts, b->l->disk_size >> 20);
        for (size_t i = 0; i < b->l->n_parts; i++) {
                const mk_partition *p = &b->l->parts[i];
                logf_(o, "  %-16s %-12s start %6" PRIu64 " MiB  size %8" PRIu64 " KiB", p->name, mk_role_name(p->role),
                      p->start >> 20, p->length >> 10);
        }
        int fd = mk_output_fd(b->img);
        if (ftruncate(fd, (off_t)b->l->disk_size) < 0)
                return mk_error_set(err, errno, "%s: cannot size the image to %" PRIu64 " bytes: %s", b->out_path,
                                    b->l->disk_size, strerror(errno));
        /* Start writing the root out now: the kernel would wait until the final fsync otherwise, and
         * that fsync would then wait for all of it while the CPU idles. */
        start_writeback(fd, ra->start, b->root_size);
        mk_build_stage(o, "slots");
        if ((r = write_slots(b, err)) < 0)
                return r;
        /* The GPT after the slots: the root and verity partitions' UUIDs come from their root hashes. */
        mk_build_stage(o, "gpt");
        if ((r = mk_gpt_write(mk_output_tmp_path(b->img), b->out_path, b->l, err)) < 0)
                return r;
        start_writeback(fd, 0, 0); /* slot b and the verity trees */
        mk_build_stage(o, "data");
        if (!o->factory_template && (r = mk_data_write(&b->data, b->m, mk_output_tmp_path(b->img), b->out_path, fd,
                                                       o->source_date_epoch, err)) < 0)
                return r;
        if (b->data.part && !o->factory_template)
                logf_(o, "data: ext4%s", b->data.encrypted ? " in LUKS2" : ", not encrypted");
        if (b->data.key_generated && (r = write_key_out(b, err)) < 0)
                return r;
        mk_build_stage(o, "manifest");
        for (size_t s = 0; s < MAX_SLOTS; s++)
                if (b->populated[s] && (r = mk_build_write_manifest(b, s, err)) < 0)
                        return r;
        mk_build_stage(o, "esp");
        if ((r = write_esp(b, err)) < 0)
                return r;
        if (b->boot.esp)
                logf_(o, "esp: systemd-boot, %s",
                      b->boot.kernel ? "a boot entry per slot" : "no kernel component, no boot entries");
        mk_build_stage(o, "commit");
        if ((r = commit(b, err)) < 0)
                return r;
        mk_build_stage(o, "done");
        logf_(o, "wrote %s", b->out_path);
        if (ret) {
                snprintf(ret->out_path, sizeof(ret->out_path), "%s", b->out_path);
                ret->disk_size = b->l->disk_size;
                ret->n_parts = (unsigned)b->l->n_parts;
                ret->root_size = b->root_size;
                mk_hex(b->verity[0].root_hash, 32, ret->root_hash);
        }
        return 0;
}

int mk_build(const mk_build_opts *o, mk_build_result *ret, mk_error *err)
{
        build b = {.o = o, .lock_fd = -1};
        b.jobs = o->jobs;
        if (!b.jobs) {
                long n = sysconf(_SC_NPROCESSORS_ONLN);
                b.jobs = n > 0 ? (unsigned)n : 1;
        }
        int r = run(&b, ret, err);
        build_done(&b);
        return r;
}
