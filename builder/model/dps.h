/* SPDX-License-Identifier: MIT */
/* Partition type GUIDs from the Discoverable Partitions Specification and UEFI. */
#ifndef MK_DPS_H
#define MK_DPS_H

#include <stddef.h>

/* The GUID (upper case) of a symbolic type name, or NULL if unknown. */
const char *mk_dps_type_guid(const char *name);
/* The symbolic name of a GUID (any case), or NULL. */
const char *mk_dps_type_name(const char *guid);
/* All names, for did-you-mean hints; *n receives the count. */
const char *const *mk_dps_type_names(size_t *n);
/* True when s is a GUID of the form 8-4-4-4-12 hex digits. */
int mk_guid_is_valid(const char *s);

#endif
