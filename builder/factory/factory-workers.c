/* SPDX-License-Identifier: MIT */
/* The worker processes that build the devices, and the keys and headers made ahead. */
#include "builder/factory/factory-internal.h"

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
                mk_factory_set_error(f, &err);
                mk_factory_drop_ahead(f);
                return;
        }
        if (!inputs)
                inputs = own;
        for (;;) {
                size_t i = atomic_fetch_add(&f->sh->next, 1);
                if (i >= f->devs->n || atomic_load(&f->sh->stop))
                        break;
                if (!mk_factory_in_shard(f, i) || f->complete[i])
                        continue;
                mk_error_clear(&err);
                batch[n].dev = &f->devs->items[i];
                if (mk_factory_build_device(f, inputs, &batch[n], &err) < 0) {
                        mk_factory_device_error(f, batch[n].dev, &err);
                        mk_factory_device_out_done(&batch[n]);
                        break;
                }
                if (++n < BATCH)
                        continue;
                n = 0;
                if (mk_factory_commit_batch(f, batch, BATCH, &err) < 0) {
                        mk_factory_set_error(f, &err);
                        break;
                }
        }
        mk_error_clear(&err);
        if (n && mk_factory_commit_batch(f, batch, n, &err) < 0)
                mk_factory_set_error(f, &err);
        mk_inputs_free(own);
        mk_factory_drop_ahead(f);
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
int mk_factory_run_workers(fctx *f, unsigned jobs, mk_error *err)
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
                        mk_factory_forget_work(f);        /* the factory's, not this worker's, to remove */
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
                mk_factory_set_error(f, &e);
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
void *mk_factory_work_ahead(void *arg)
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
                if (!mk_factory_in_shard(f, i) || f->complete[i])
                        continue;
                struct ahead *a = &f->ahead[f->n_ahead];
                if (mk_factory_device_key(f, &f->devs->items[i], encrypted, f->ahead_label, &a->key, &a->hdr, &err) < 0)
                        break;
                a->device = i;
                f->n_ahead++;
        }
        return NULL;
}

int mk_factory_start_shared(fctx *f, mk_error *err)
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
