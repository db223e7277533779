/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target: minisign public keys: mk_pubkey_parse (a .pub file) and
 * mk_pubkey_from_base64 (the bare base64 line), then the trusted key set
 * (mk_keyset_add: duplicates, key id clashes) and the .pub text round trip.
 */
#include "fuzz.h"
#include "signing/minisign/minisign-internal.h"

/* tests/fuzz/corpus/pubkey/fuzz.pub: the key that signs the verify seeds. */
static const char fixed_pub[] = "untrusted comment: minisign public key 6CBA539FA7F23CAF\n"
                                "RWSvPPKnn1O6bGHPDhkJWB+ZlwT9EkuPoz1z7cNrvbfxM0sEnW2NWbXl\n";

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
        mk_error err = {0};
        if (mk_ms_init(&err) < 0)
                fuzz_die("%s", err.msg);
        return 0;
}

static void check_key(const mk_pubkey *k)
{
        char id[MK_KEYID_STR_SIZE];
        mk_keyid_format(mk_pubkey_id(k), id);
        if (strcmp(id, mk_pubkey_id_str(k)) != 0 || strlen(id) != 16)
                fuzz_die("key id string '%s' is not the key id %s", mk_pubkey_id_str(k), id);

        /* The .pub text of an accepted key parses back to the same key. */
        char text[MS_PUB_TEXT_SIZE];
        mk_ms_pubkey_text(k->id, k->pk, text);
        mk_pubkey *k2 = NULL;
        mk_error err = {0};
        if (mk_pubkey_parse("round-trip.pub", text, strlen(text), &k2, &err) < 0)
                fuzz_die("the .pub text of an accepted key does not parse: %s\n%s", err.msg, text);
        if (memcmp(k->id, k2->id, sizeof(k->id)) || memcmp(k->pk, k2->pk, sizeof(k->pk)))
                fuzz_die("the .pub text round trip changed the key");
        mk_pubkey_free(k2);
}

/* Put the fixed key and k (consumed) into a set; k may clash with it. */
static void check_keyset(mk_pubkey *k)
{
        mk_keyset *set = NULL;
        mk_pubkey *fixed = NULL;
        mk_error err = {0};
        if (mk_keyset_new(&set, &err) < 0 ||
            mk_pubkey_parse("fixed.pub", fixed_pub, sizeof(fixed_pub) - 1, &fixed, &err) < 0 ||
            mk_keyset_add(set, fixed, &err) < 0)
                fuzz_die("setup: %s", err.msg);
        bool same_id = memcmp(k->id, fixed->id, sizeof(k->id)) == 0;
        bool same_pk = same_id && memcmp(k->pk, fixed->pk, sizeof(k->pk)) == 0;
        uint8_t id[MK_KEYID_BYTES];
        memcpy(id, k->id, sizeof(id));
        int r = mk_keyset_add(set, k, &err);
        if (same_id && !same_pk) {
                if (r != -EEXIST)
                        fuzz_die("a different key with a trusted key id was added (%d)", r);
                mk_pubkey_free(k); /* still ours */
        } else if (r < 0) {
                fuzz_die("mk_keyset_add: %s", err.msg);
        }
        if (mk_keyset_size(set) != (same_id ? 1u : 2u))
                fuzz_die("key set holds %zu keys", mk_keyset_size(set));
        if (!mk_keyset_find(set, id))
                fuzz_die("added key not found");
        mk_keyset_free(set);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        mk_pubkey *k = NULL;
        mk_error err = {0};
        int r = mk_pubkey_parse("fuzz.pub", data, size, &k, &err);
        fuzz_report("pubkey", r, &err);
        if (r < 0) {
                if (k)
                        fuzz_die("mk_pubkey_parse failed but wrote *ret_key");
                if (!err.msg[0])
                        fuzz_die("mk_pubkey_parse returned %d without a message", r);
        } else {
                check_key(k);
                check_keyset(k);
        }

        char *s = fuzz_strndup(data, size);
        k = NULL;
        mk_error_clear(&err);
        r = mk_pubkey_from_base64("-P", s, &k, &err);
        fuzz_report("pubkey base64", r, &err);
        if (r >= 0) {
                check_key(k);
                mk_pubkey_free(k);
        } else if (k || !err.msg[0]) {
                fuzz_die("mk_pubkey_from_base64 failed (%d) but wrote *ret_key or no message", r);
        }
        free(s);
        return 0;
}
