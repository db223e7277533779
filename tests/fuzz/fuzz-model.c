/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target: device models (mk_model_load over yamldoc + schema).
 * mk_model_load takes a path: the input goes to a memfd (fuzz.h). Paths in
 * the model are resolved, never opened, so nothing outside the input is read.
 */
#include "fuzz.h"
#include "builder/model/model.h"

static fuzz_file input;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
        fuzz_file_open(&input, "model.yaml");
        return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        fuzz_file_set(&input, data, size, 0);
        mk_model *m = NULL;
        mk_error err = {0};
        int r = mk_model_load(input.path, &m, &err);
        fuzz_report("model", r, &err);
        if (r < 0) {
                if (m)
                        fuzz_die("mk_model_load failed but wrote *ret");
                if (!err.msg[0])
                        fuzz_die("mk_model_load returned %d without a message", r);
                return 0;
        }
        /* Walk what a build would read, so every pointer is dereferenced. */
        size_t total = strlen(m->model) + strlen(m->brand) + strlen(m->layout_path) + strlen(mk_arch_name(m->arch)) +
                       strlen(mk_arch_dps(m->arch)) + strlen(mk_compressor_name(m->rootfs.compressor)) +
                       strlen(m->data.label) + strlen(m->data.cipher) + strlen(m->boot.console);
        for (size_t i = 0; i < m->n_keys; i++) {
                if (mk_model_find_key(m, m->keys[i].name) == NULL)
                        fuzz_die("trusted key '%s' not found by name", m->keys[i].name);
                total += strlen(m->keys[i].path);
        }
        for (size_t i = 0; i < m->n_components; i++) {
                const mk_model_component *c = &m->components[i];
                total += strlen(c->name) + strlen(c->path);
                if (c->signer && !mk_model_find_key(m, c->signer))
                        fuzz_die("component '%s' signer '%s' is not a trusted key", c->name, c->signer);
                for (size_t j = 0; j < c->n_overrides; j++)
                        total += strlen(c->overrides[j]);
        }
        if (m->rootfs.block_size < 4096 || m->rootfs.block_size > (1u << 20) ||
            (m->rootfs.block_size & (m->rootfs.block_size - 1)))
                fuzz_die("block size %u accepted", m->rootfs.block_size);
        (void)total;
        mk_model_free(m);
        return 0;
}
