/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target: partition layouts (mk_layout_load), then the planner
 * (mk_layout_plan: alignment and overflow arithmetic) on every layout that
 * loads, once with the default `auto` sizes and once with large ones.
 * The layout needs a model (its architecture picks the root types): a fixed
 * valid model is loaded once. Both go through memfds (fuzz.h).
 */
#include "fuzz.h"
#include "builder/model/layout.h"
#include "builder/model/model.h"

static const char model_text[] = "model: fuzz\n"
                                 "brand: example\n"
                                 "version: 1\n"
                                 "architecture: x86_64\n"
                                 "grade: signed\n"
                                 "layout: layout.yaml\n"
                                 "trusted-keys:\n"
                                 "  dev: dev.pub\n"
                                 "components:\n"
                                 "  - name: base\n"
                                 "    file: base.comp\n"
                                 "    signer: dev\n";

static fuzz_file input;
static mk_model *model;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
        fuzz_file mf;
        fuzz_file_open(&mf, "model.yaml");
        fuzz_file_set(&mf, model_text, sizeof(model_text) - 1, 0);
        mk_error err = {0};
        if (mk_model_load(mf.path, &model, &err) < 0)
                fuzz_die("the fixed model does not load: %s", err.msg);
        close(mf.fd);
        fuzz_file_open(&input, "layout.yaml");
        return 0;
}

/* What a plan that succeeded must satisfy. */
static void check_plan(const mk_layout *l)
{
        uint64_t end = 0;
        for (size_t i = 0; i < l->n_parts; i++) {
                const mk_partition *p = &l->parts[i];
                if (p->start % MK_SECTOR || p->length % MK_SECTOR)
                        fuzz_die("partition '%s' not sector aligned: %llu+%llu", p->name, (unsigned long long)p->start,
                                 (unsigned long long)p->length);
                if (p->start < end || p->start < 34 * MK_SECTOR)
                        fuzz_die("partition '%s' at %llu overlaps (previous end %llu)", p->name,
                                 (unsigned long long)p->start, (unsigned long long)end);
                if (__builtin_add_overflow(p->start, p->length, &end))
                        fuzz_die("partition '%s' end overflows", p->name);
        }
        if (end > l->disk_size || l->disk_size - end < 33 * MK_SECTOR)
                fuzz_die("partitions end at %llu, past the backup GPT of a %llu-byte disk", (unsigned long long)end,
                         (unsigned long long)l->disk_size);
        if (strlen(l->disk_uuid) != 36)
                fuzz_die("disk GUID '%s'", l->disk_uuid);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        fuzz_file_set(&input, data, size, 0);
        mk_layout *l = NULL;
        mk_error err = {0};
        int r = mk_layout_load(input.path, model, &l, &err);
        fuzz_report("layout", r, &err);
        if (r < 0) {
                if (l)
                        fuzz_die("mk_layout_load failed but wrote *ret");
                if (!err.msg[0])
                        fuzz_die("mk_layout_load returned %d without a message", r);
                return 0;
        }
        for (size_t i = 0; i < l->n_parts; i++)
                if (!mk_layout_find(l, l->parts[i].role, l->parts[i].slot))
                        fuzz_die("partition '%s' not found by role", l->parts[i].name);

        mk_error perr = {0};
        r = mk_layout_plan(l, model, NULL, &perr);
        fuzz_report("plan", r, &perr);
        if (r >= 0)
                check_plan(l);

        uint64_t big[MK_MAX_PARTITIONS];
        for (size_t i = 0; i < MK_MAX_PARTITIONS; i++)
                big[i] = (UINT64_C(1) << 40) + 12345 * i; /* 1 TiB and odd byte counts */
        memset(&perr, 0, sizeof(perr));
        r = mk_layout_plan(l, model, big, &perr);
        fuzz_report("plan (large auto sizes)", r, &perr);
        if (r >= 0)
                check_plan(l);
        mk_layout_free(l);
        return 0;
}
