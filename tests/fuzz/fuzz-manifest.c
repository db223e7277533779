/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target: slot manifests (mk_manifest_parse), read by `verify` before
 * their signature is checked. Every manifest that parses must also survive
 * the round trip: mk_manifest_emit gives text that parses again to the same
 * canonical bytes (the build signs what emit writes; verify reads it back).
 */
#include "fuzz.h"
#include "signing/manifest/manifest.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
        return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        mk_manifest *m = NULL;
        mk_error err = {0};
        int r = mk_manifest_parse("manifest.yaml", data, size, &m, &err);
        fuzz_report("manifest", r, &err);
        if (r < 0) {
                if (m)
                        fuzz_die("mk_manifest_parse failed but wrote *ret");
                if (!err.msg[0])
                        fuzz_die("mk_manifest_parse returned %d without a message", r);
                return 0;
        }
        if (m->slot != 'a' && m->slot != 'b')
                fuzz_die("slot '%c' accepted", m->slot);

        char *text = NULL, *text2 = NULL;
        size_t len = 0, len2 = 0;
        mk_manifest *m2 = NULL;
        if (mk_manifest_emit(m, &text, &len, &err) < 0)
                fuzz_die("a parsed manifest does not emit: %s", err.msg);
        if (strlen(text) != len)
                fuzz_die("emit: length %zu but strlen %zu", len, strlen(text));
        if (mk_manifest_parse("emitted.yaml", text, len, &m2, &err) < 0)
                fuzz_die("the emitted manifest does not parse again: %s\n--- emitted:\n%s", err.msg, text);
        if (mk_manifest_emit(m2, &text2, &len2, &err) < 0)
                fuzz_die("the re-parsed manifest does not emit: %s", err.msg);
        if (len != len2 || memcmp(text, text2, len) != 0)
                fuzz_die("emit is not stable across a round trip:\n--- first:\n%s\n--- second:\n%s", text, text2);
        free(text);
        free(text2);
        mk_manifest_free(m2);
        mk_manifest_free(m);
        return 0;
}
