/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target: the signed data (mk_verify_buffer_with_key with fixed
 * signatures and key). Both the prehashed "ED" and the legacy "Ed"
 * signature of the fixed data are checked against each input; exactly the
 * fixed data may verify (anything else would be an Ed25519 forgery or a bug
 * in which bytes get hashed).
 */
#include "fuzz.h"
#include "signing/minisign/minisign.h"

/* tests/fuzz/corpus/pubkey/fuzz.pub */
static const char fixed_pub[] = "untrusted comment: minisign public key 6CBA539FA7F23CAF\n"
                                "RWSvPPKnn1O6bGHPDhkJWB+ZlwT9EkuPoz1z7cNrvbfxM0sEnW2NWbXl\n";
static const char fixed_data[] = "mkimage fuzz data\n";
/* mkimage sign (prehashed), and minisign -S -l (legacy), of fixed_data. */
static const char sig_ed[] =
        "untrusted comment: signature from mkimage secret key 6CBA539FA7F23CAF\n"
        "RUSvPPKnn1O6bLTR09CZ8BuZCp2eR04bym7J0RV5BCgZCxdnanzrS/3h8DvNQpCKaFoWBugc8fJxwUObLt0XfkdjRh/1zAkIvAo=\n"
        "trusted comment: timestamp:1767225600\tfile:data\thashed\n"
        "Xn7mH/JTQnbfCFBDL4zQN2JWlMBaXoDK2Ziy/MV9nguj3nTwjsbzsH21DODPdkvifaI1RSfXaMBCSmFaIxtACA==\n";
static const char sig_legacy[] =
        "untrusted comment: signature from minisign secret key\n"
        "RWSvPPKnn1O6bOrs1js+1GZkk6oeYZDDXPNepOkt8NtNlkqaUy+g7E8yEalxvWj2EmjYHetsyP1Xqd+hHdfi67nmvYWPdNUWMgg=\n"
        "trusted comment: timestamp:1767225600\tfile:data\n"
        "tZIz3oWuyTAL6Mt9SMu+dmV2lG/XSGCoLZUnVEASWjyl6fHqzHHzWqiBvsejuc5cE3Ct9u5NZxibr/vDlRiVCw==\n";

static mk_pubkey *key;

static mk_verify_result verify(const char *sig, const uint8_t *data, size_t size, mk_error *err)
{
        mk_verified v = {0};
        mk_verify_result res =
                mk_verify_buffer_with_key(key, "data", data, size, "data.minisig", sig, strlen(sig), &v, err);
        mk_verified_done(&v);
        return res;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
        mk_error err = {0};
        if (mk_pubkey_parse("fuzz.pub", fixed_pub, sizeof(fixed_pub) - 1, &key, &err) < 0)
                fuzz_die("setup: %s", err.msg);
        const uint8_t *d = (const uint8_t *)fixed_data;
        if (verify(sig_ed, d, sizeof(fixed_data) - 1, &err) != MK_VERIFY_OK ||
            verify(sig_legacy, d, sizeof(fixed_data) - 1, &err) != MK_VERIFY_OK)
                fuzz_die("the fixed signatures do not verify: %s", err.msg);
        return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        bool same = size == sizeof(fixed_data) - 1 && memcmp(data, fixed_data, size) == 0;
        const char *const sigs[] = {sig_ed, sig_legacy};
        for (size_t i = 0; i < 2; i++) {
                mk_error err = {0};
                mk_verify_result res = verify(sigs[i], data, size, &err);
                fuzz_report(i ? "legacy" : "prehashed", res == MK_VERIFY_OK ? 0 : -1, &err);
                if ((res == MK_VERIFY_OK) != same)
                        fuzz_die("%s signature: %s for %s data", i ? "legacy" : "prehashed", mk_verify_result_str(res),
                                 same ? "the signed" : "other");
                if (!same && res != MK_VERIFY_ERROR_SIGNATURE)
                        fuzz_die("other data gave %s, not bad-signature", mk_verify_result_str(res));
        }
        return 0;
}
