/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target: the device lists of `mkimage factory` (CSV with a header row,
 * or JSON Lines via json-c; mk_devices_load). The model is fixed and
 * declares two fields, so both known and unknown columns are reachable.
 */
#include "builder/factory/factory-devices.h"
#include "fuzz.h"

static fuzz_file input;
static const char *fields[] = {"hostname", "region"};
static mk_model model = {.model = "fuzz", .factory = {.fields = fields, .n_fields = 2}};

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
        fuzz_file_open(&input, "devices");
        return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        fuzz_file_set(&input, data, size, 0);
        mk_devices *d = NULL;
        mk_error err = {0};
        int r = mk_devices_load(input.path, &model, &d, &err);
        fuzz_report("devices", r, &err);
        if (r < 0) {
                if (d)
                        fuzz_die("mk_devices_load failed but wrote *ret");
                if (!err.msg[0])
                        fuzz_die("mk_devices_load returned %d without a message", r);
                return 0;
        }
        if (d->n == 0)
                fuzz_die("an accepted list with no device");
        for (size_t i = 0; i < d->n; i++) {
                const mk_device *dev = &d->items[i];
                if (!dev->serial || mk_serial_problem(dev->serial))
                        fuzz_die("accepted a bad serial at line %u", dev->line);
                for (size_t j = 0; j < i; j++)
                        if (!strcmp(d->items[j].serial, dev->serial))
                                fuzz_die("accepted serial '%s' twice", dev->serial);
                for (size_t k = 0; k < d->n_fields; k++)
                        if (dev->values[k] && strlen(dev->values[k]) > MK_DEVICE_VALUE_MAX)
                                fuzz_die("accepted an over-long value");
        }
        mk_devices_free(d);
        return 0;
}
