/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target: component metadata (mk_component_meta_parse, the
 * meta/component.yaml of every .comp), and the SPDX license expression
 * checker it uses (mk_component_check_license) on the raw input as a string.
 */
#include "builder/component/component.h"
#include "fuzz.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
        return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        component_meta *m = NULL;
        mk_error err = {0};
        int r = mk_component_meta_parse("component.yaml", (const char *)data, size, &m, &err);
        fuzz_report("component meta", r, &err);
        if (r < 0) {
                if (m)
                        fuzz_die("mk_component_meta_parse failed but wrote *ret");
                if (!err.msg[0])
                        fuzz_die("mk_component_meta_parse returned %d without a message", r);
        } else {
                const char *why = NULL;
                if (m->raw_len != size || memcmp(m->raw, data, size) != 0 || m->raw[size] != '\0')
                        fuzz_die("raw metadata is not the input");
                if (mk_component_check_license(m->license, &why) < 0)
                        fuzz_die("accepted license '%s' fails the checker: %s", m->license, why);
                if (strlen(mk_component_type_name(m->type)) == 0)
                        fuzz_die("empty type name");
                for (size_t i = 0; i < m->n_owners; i++) {
                        const component_owner *o = &m->owners[i];
                        if (o->has_mode && o->mode > 07777)
                                fuzz_die("owner '%s' mode %o accepted", o->path, o->mode);
                        if (o->path[0] == '/' || strstr(o->path, "//"))
                                fuzz_die("owner path '%s' not normalized", o->path);
                }
                mk_component_meta_free(m);
        }

        /* The license checker alone, on short inputs. */
        if (size <= 1024) {
                char *s = fuzz_strndup(data, size);
                const char *why = NULL;
                r = mk_component_check_license(s, &why);
                if (r < 0 && !why)
                        fuzz_die("mk_component_check_license refused '%s' without a reason", s);
                free(s);
        }
        return 0;
}
