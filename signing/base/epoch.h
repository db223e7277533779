/* SPDX-License-Identifier: MIT */
/*
 * The build's time: SOURCE_DATE_EPOCH, never the clock, so that the same
 * inputs give the same bytes. Read in one place for every program.
 */
#ifndef MK_EPOCH_H
#define MK_EPOCH_H

#include <stdint.h>

#include "signing/base/error.h"

/*
 * SOURCE_DATE_EPOCH as seconds since 1970 into *ret: 0 when it is unset or
 * empty. -EINVAL (err says what to set) when it is not a decimal number from
 * 0 to max, the latest time the caller can store (UINT32_MAX for squashfs
 * and the manifest, UINT64_MAX for a signature's comment).
 */
int mk_source_date_epoch(uint64_t max, uint64_t *ret, mk_error *err) __attribute__((warn_unused_result));

/* t as the UTC time the signed documents carry, "2026-01-01T00:00:00Z", into out. */
void mk_format_utc(uint64_t t, char out[32]);

#endif
