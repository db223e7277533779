/* SPDX-License-Identifier: MIT */
/*
 * Deltas (`mkimage bundle ... --from OLD`, docs/update.md): what a device
 * running OLD can take from its running slot instead of the bundle. The
 * root is matched at the granularity mkimage composes it in: every stored
 * squashfs block (a file's data block, a fragment block) of the new root
 * that OLD's root holds byte for byte becomes a range the device copies;
 * the rest ships. A boot file ships unless both of OLD's slots have it.
 */
#ifndef MK_BUNDLE_DELTA_H
#define MK_BUNDLE_DELTA_H

#include <stddef.h>
#include <stdint.h>

#include "signing/base/error.h"
#include "signing/bundle/bundle.h"
#include "signing/manifest/manifest.h"
#include "signing/minisign/minisign.h"

/*
 * Slot s's manifest part of bu (the stream at or before it), read, its
 * signature checked with key when key is given, parsed.
 */
int mk_bundle_slot_manifest(mk_bundle *bu, unsigned s, const mk_pubkey *key, mk_manifest **ret, mk_error *err)
        __attribute__((warn_unused_result));

/* The release a delta applies to, read from an image or a full bundle. */
typedef struct mk_delta_base {
        const char *name;  /* borrowed: OLD's path */
        mk_manifest *m[2]; /* its slot manifests, verified and parsed */
        int fd;            /* OLD, open; its root lies at root_off */
        uint64_t root_off;
} mk_delta_base;

/*
 * The base from a full bundle at path: its manifest and slot manifests
 * checked with key, slot a and b agreeing on the release. A delta bundle
 * is refused (a delta is made from a full bundle or an image).
 */
int mk_delta_base_from_bundle(const char *path, const mk_pubkey *key, mk_delta_base *b, mk_error *err)
        __attribute__((warn_unused_result));
void mk_delta_base_done(mk_delta_base *b);

/* True when both of the base's slots list a boot file with this digest. */
bool mk_delta_base_has_file(const mk_delta_base *b, const char *sha256);

/*
 * The ranges of the new root (size bytes at new_off of new_fd, named
 * new_name) that the base's root holds: each stored block of the new
 * squashfs found in the base's squashfs by length and SHA-256, adjacent
 * ranges merged. The base's root is first checked against its manifest's
 * sha256. *ret is malloc'd (*ret_n ranges, possibly 0) and *covered the
 * bytes they cover.
 */
int mk_delta_plan(int new_fd, const char *new_name, uint64_t new_off, uint64_t size, const mk_delta_base *b,
                  mk_bundle_range **ret, size_t *ret_n, uint64_t *covered, mk_error *err)
        __attribute__((warn_unused_result));

#endif
