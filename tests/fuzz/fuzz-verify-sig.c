/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target: .minisig signature text (mk_verify_buffer_with_key and
 * mk_verify_buffer with a two-key set), over fixed data and a fixed key. The
 * seeds are valid signatures of that data by that key ("ED" by mkimage sign,
 * legacy "Ed" by minisign -l), so the fuzzer starts past the key id lookup
 * and reaches both signature checks. Only the untouched signatures (or a
 * trusted comment re-signed, which a fuzzer cannot do) may verify: an
 * accepted signature must name the fixed key and carry its comment.
 */
#include "fuzz.h"
#include "signing/minisign/minisign-internal.h"

/* tests/fuzz/corpus/pubkey/fuzz.pub */
static const char fixed_pub[] = "untrusted comment: minisign public key 6CBA539FA7F23CAF\n"
                                "RWSvPPKnn1O6bGHPDhkJWB+ZlwT9EkuPoz1z7cNrvbfxM0sEnW2NWbXl\n";
static const char fixed_data[] = "mkimage fuzz data\n";

static mk_pubkey *key;
static mk_keyset *set;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
        mk_error err = {0};
        mk_pubkey *k2 = NULL;
        /* A second trusted key with another id, made up: only its id matters. */
        uint8_t id2[MK_KEYID_BYTES] = {0x8c, 0x04, 0x2e, 0xed, 0xc0, 0xb7, 0xf1, 0x49};
        uint8_t pk2[crypto_sign_PUBLICKEYBYTES] = {1};
        if (mk_ms_init(&err) < 0 || mk_pubkey_parse("fuzz.pub", fixed_pub, sizeof(fixed_pub) - 1, &key, &err) < 0 ||
            mk_keyset_new(&set, &err) < 0 || mk_ms_pubkey_new(id2, pk2, "other.pub", &k2, &err) < 0 ||
            mk_keyset_add(set, k2, &err) < 0)
                fuzz_die("setup: %s", err.msg);
        mk_pubkey *k1 = NULL;
        if (mk_pubkey_parse("fuzz.pub", fixed_pub, sizeof(fixed_pub) - 1, &k1, &err) < 0 ||
            mk_keyset_add(set, k1, &err) < 0)
                fuzz_die("setup: %s", err.msg);
        return 0;
}

static void check(const char *what, mk_verify_result res, const mk_verified *v, const mk_error *err, const uint8_t *sig,
                  size_t size)
{
        fuzz_report(what, res == MK_VERIFY_OK ? 0 : -1, err);
        if (res != MK_VERIFY_OK) {
                if (v->signer || v->trusted_comment)
                        fuzz_die("%s: failed (%s) but wrote *ret", what, mk_verify_result_str(res));
                if (!err->msg[0])
                        fuzz_die("%s: %s without a message", what, mk_verify_result_str(res));
                return;
        }
        if (!v->signer || memcmp(mk_pubkey_id(v->signer), mk_pubkey_id(key), MK_KEYID_BYTES) != 0)
                fuzz_die("%s: verified by a key that is not the fixed one", what);
        if (!v->trusted_comment || !memmem(sig, size, v->trusted_comment, strlen(v->trusted_comment)))
                fuzz_die("%s: the trusted comment is not in the signature", what);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        mk_verified v = {0};
        mk_error err = {0};
        mk_verify_result res = mk_verify_buffer_with_key(key, "data", fixed_data, sizeof(fixed_data) - 1,
                                                         "data.minisig", data, size, &v, &err);
        check("verify (key)", res, &v, &err, data, size);
        mk_verified_done(&v);

        mk_error_clear(&err);
        res = mk_verify_buffer(set, "data", fixed_data, sizeof(fixed_data) - 1, "data.minisig", data, size, &v, &err);
        check("verify (key set)", res, &v, &err, data, size);
        mk_verified_done(&v);
        return 0;
}
