/* SPDX-License-Identifier: MIT */
/*
 * Authenticode signatures of EFI binaries, as UEFI Secure Boot checks them
 * against its db: a PKCS#7 SignedData over the image's Authenticode digest
 * (an SpcIndirectDataContent), in a WIN_CERTIFICATE appended to the image
 * and named by data directory 4. Made here with libcrypto for the RSA
 * operation only: no signing time or other clock-dependent attribute, so
 * the same image and key give the same bytes. docs/secure-boot.md.
 */
#ifndef MK_AUTHENTICODE_H
#define MK_AUTHENTICODE_H

#include <openssl/x509.h>
#include <stddef.h>
#include <stdint.h>

#include "builder/secureboot/sb-key.h"
#include "signing/base/error.h"

/*
 * Sign the unsigned PE image (len bytes) with s: the result is the image
 * padded to 8 bytes, its certificate directory and checksum set, and the
 * certificate table appended. what names the image in messages. -EINVAL
 * (not a PE image, already signed, no certificate directory), -ENOTSUP (the
 * key is not RSA), -ENOMEM. *ret (malloc'd) and *ret_len on success only.
 */
int mk_authenticode_sign(const char *what, const uint8_t *image, size_t len, const mk_sb_signer *s, uint8_t **ret,
                         size_t *ret_len, mk_error *err) __attribute__((warn_unused_result));

/*
 * Check the signature of image against cert, as firmware with cert in its
 * db does: the signed digest is the image's Authenticode SHA-256, the
 * PKCS#7 signature verifies, and its signer is cert or was issued and
 * signed by cert. Returns 0; -ENOKEY when the image carries no signature;
 * -EKEYREJECTED with the reason (another key, a changed image, a bad
 * signature); -EINVAL when it is not a PE image or the table is malformed.
 * *ret_subject, when not NULL, gets the signer's subject (malloc'd) on 0
 * and on -EKEYREJECTED when a signer was found.
 */
int mk_authenticode_verify(const char *what, const uint8_t *image, size_t len, X509 *cert, char **ret_subject,
                           mk_error *err) __attribute__((warn_unused_result));

#endif
