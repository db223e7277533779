/* SPDX-License-Identifier: MIT */
/*
 * The device list of `mkimage factory`: CSV with a header row, or JSON Lines
 * (one object a line), one device per record: `serial` (required, unique,
 * [A-Za-z0-9._-]{1,64}, not starting with '.') plus the per-device values
 * the model declares in `factory.fields`. See docs/factory.md.
 */
#ifndef MK_FACTORY_DEVICES_H
#define MK_FACTORY_DEVICES_H

#include <stddef.h>

#include "signing/base/error.h"
#include "builder/model/model.h"

#define MK_SERIAL_MAX 64
#define MK_DEVICE_VALUE_MAX 256

typedef struct mk_device {
        char *serial;
        char **values; /* one per model field (m->factory.fields order); NULL when not given */
        unsigned line; /* where the record is, for messages */
} mk_device;

typedef struct mk_devices {
        const char *path;
        mk_device *items;
        size_t n, n_fields;
} mk_devices;

/* Load and check path against the model's fields. *ret is new (mk_devices_free). */
int mk_devices_load(const char *path, const mk_model *m, mk_devices **ret, mk_error *err)
        __attribute__((warn_unused_result));
mk_devices *mk_devices_free(mk_devices *d);

/* NULL when s is a valid serial, else why not. */
const char *mk_serial_problem(const char *s);

#endif
