/* SPDX-License-Identifier: MIT */
#include "build.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "gpt.h"
#include "inputs.h"
#include "layout.h"
#include "macro.h"
#include "model.h"
#include "output.h"

DEFINE_TRIVIAL_CLEANUP_FUNC(mk_model *, mk_model_free)
DEFINE_TRIVIAL_CLEANUP_FUNC(mk_layout *, mk_layout_free)
DEFINE_TRIVIAL_CLEANUP_FUNC(mk_output *, mk_output_abort)
DEFINE_TRIVIAL_CLEANUP_FUNC(mk_inputs *, mk_inputs_free)

#define logf_(o, ...) mk_callback_printf((o)->log, (o)->userdata, __VA_ARGS__)

static void stage(const mk_build_opts *o, const char *name)
{
        if (o->stage)
                o->stage(o->userdata, name);
}

int mk_build(const mk_build_opts *o, mk_build_result *ret, mk_error *err)
{
        _cleanup_(mk_model_freep) mk_model *m = NULL;
        _cleanup_(mk_layout_freep) mk_layout *l = NULL;
        _cleanup_(mk_output_abortp) mk_output *out = NULL;
        _cleanup_(mk_inputs_freep) mk_inputs *inputs = NULL;
        int r;

        stage(o, "model");
        if ((r = mk_model_load(o->model_path, &m, err)) < 0)
                return r;
        logf_(o, "model %s (brand %s, version %llu, %s, grade %s)", m->model, m->brand,
              (unsigned long long)m->version, mk_arch_name(m->arch), m->grade == MK_GRADE_SIGNED ? "signed" : "dangerous");
        const char *layout_path = o->layout_path ? o->layout_path : m->layout_path;
        stage(o, "layout");
        if ((r = mk_layout_load(layout_path, m, &l, err)) < 0)
                return r;
        stage(o, "plan");
        if ((r = mk_layout_plan(l, m, NULL, err)) < 0)
                return r;
        logf_(o, "layout %s: %zu partitions, disk %llu MiB", l->name, l->n_parts,
              (unsigned long long)(l->disk_size >> 20));
        for (size_t i = 0; i < l->n_parts; i++) {
                const mk_partition *p = &l->parts[i];
                logf_(o, "  %-16s %-12s start %6llu MiB  size %6llu MiB", p->name, mk_role_name(p->role),
                      (unsigned long long)(p->start >> 20), (unsigned long long)((p->length + (1 << 20) - 1) >> 20));
        }

        stage(o, "verify");
        if ((r = mk_inputs_verify(m, o->warn, o->userdata, &inputs, err)) < 0)
                return r;
        for (size_t i = 0; i < inputs->n; i++) {
                const mk_input *in = &inputs->items[i];
                logf_(o, "component %s: %s%s", in->mc->name, in->is_dir ? "unsigned directory" : in->signed_ok ? "signature OK, key " : "unsigned",
                      in->signer_id);
        }

        char def_out[256];
        const char *out_path = o->out_path;
        if (!out_path) {
                snprintf(def_out, sizeof(def_out), "%s.img", m->model);
                out_path = def_out;
        }
        /* Nothing is written above this line. */
        if ((r = mk_output_open(out_path, &out, err)) < 0)
                return r;
        stage(o, "output");
        int fd = mk_output_fd(out);
        if (ftruncate(fd, (off_t)l->disk_size) < 0)
                return mk_error_set(err, errno, "%s: cannot size the image to %llu bytes: %s", out_path,
                                    (unsigned long long)l->disk_size, strerror(errno));
        stage(o, "gpt");
        if ((r = mk_gpt_write(mk_output_tmp_path(out), l, err)) < 0)
                return r;
        stage(o, "commit");
        if ((r = mk_output_commit(TAKE_PTR(out), err)) < 0)
                return r;
        logf_(o, "wrote %s", out_path);
        if (ret) {
                snprintf(ret->out_path, sizeof(ret->out_path), "%s", out_path);
                ret->disk_size = l->disk_size;
                ret->n_parts = (unsigned)l->n_parts;
        }
        return 0;
}
