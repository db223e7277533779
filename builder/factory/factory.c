/* SPDX-License-Identifier: MIT */
/* mkimage factory: per-device images from one common part (docs/factory.md). */
#include "builder/factory/factory-internal.h"

/* The progress watcher: reads the workers' shared device counter a few times a second. */
typedef struct watch {
        fctx *f;
        unsigned long todo;
        atomic_bool stop;
        pthread_t tid;
} watch;

static void *watch_devices(void *arg)
{
        watch *w = arg;
        const mk_factory_opts *o = w->f->o;
        unsigned long last = (unsigned long)-1;
        while (!atomic_load(&w->stop)) {
                unsigned long built = atomic_load(&w->f->sh->built);
                if (built != last)
                        o->progress(o->userdata, "devices", built, w->todo, false);
                last = built;
                nanosleep(&(struct timespec){.tv_nsec = 200 * 1000 * 1000}, NULL);
        }
        o->progress(o->userdata, "devices", atomic_load(&w->f->sh->built), w->todo, false);
        return NULL;
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
        if ((r = mk_factory_check_outdir(&f, err)) < 0 ||
            (r = mk_output_lock(lock_path, o->warn, o->userdata, &lock_fd, NULL, err)) < 0 ||
            (r = mk_factory_check_outdir(&f, err)) < 0 || (r = mk_factory_read_records(&f, err)) < 0)
                goto out;
        unsigned long todo = 0, in = 0, skipped = 0;
        for (size_t i = 0; i < f.devs->n; i++)
                if (mk_factory_in_shard(&f, i)) {
                        in++;
                        skipped += f.complete[i];
                        todo += !f.complete[i];
                }
        logf_(o, "factory: %zu devices, %lu in shard %u/%u, %lu already complete", f.devs->n, in, o->shard_index,
              o->shard_count, skipped);
        pthread_t ahead;
        bool ahead_started = todo && pthread_create(&ahead, NULL, mk_factory_work_ahead, &f) == 0;
        if (todo)
                r = mk_factory_build_template(&f, err);
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
        if (todo && (r = mk_factory_start_shared(&f, err)) >= 0) {
                watch w = {.f = &f, .todo = todo};
                bool watching = o->progress && pthread_create(&w.tid, NULL, watch_devices, &w) == 0;
                r = mk_factory_run_workers(&f, jobs, err);
                if (watching) {
                        atomic_store(&w.stop, true);
                        pthread_join(w.tid, NULL);
                }
        }
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
        mk_factory_remove_work_dir(&f);
        mk_bmap_ref_free(f.bref);
        mk_ranges_clear(&f.prime);
        mk_factory_drop_ahead(&f);
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
