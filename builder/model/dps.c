/* SPDX-License-Identifier: MIT */
#include "builder/model/dps.h"
#include "signing/conventions/conventions.h"

#include <ctype.h>
#include <strings.h>

static const struct {
        const char *name;
        const char *guid;
} types[] = {
        {"esp", MK_ESP_TYPE_GUID},
        {"xbootldr", "BC13C2FF-59E6-4262-A352-B275FD6F7172"},
        {"bios-boot", "21686148-6449-6E6F-744E-656564454649"},
        {"linux-generic", "0FC63DAF-8483-4772-8E79-3D69D8477DE4"},
        {"swap", "0657FD6D-A4AB-43C4-84E5-0933C84B4F4F"},
        {"home", "933AC7E1-2EB4-4F13-B844-0E14E2AEF915"},
        {"srv", "3B8F8425-20E0-4F3B-907F-1A25A76F98E8"},
        {"var", "4D21B016-B534-45C2-A9FB-5C16E091FD2D"},
        {"root-x86-64", "4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709"},
        {"root-x86-64-verity", "2C7357ED-EBD2-46D9-AEC1-23D437EC2BF5"},
        {"root-arm64", "B921B045-1DF0-41C3-AF44-4C6F280D3FAE"},
        {"root-arm64-verity", "DF3300CE-D69F-4C92-978C-9BFB0F38D820"},
        {"root-riscv64", "72EC70A6-CF74-40E6-BD49-4BDA08E8F224"},
        {"root-riscv64-verity", "B6ED5582-440B-4209-B8DA-5FF7C419EA3D"},
        {"usr-x86-64-verity", "77FF5F63-E7B6-4633-ACF4-1565B864C0E6"},
        {"usr-arm64-verity", "6E11A4E7-FBCA-4DED-B9E9-E1A512BB664E"},
};

static const char *const names[] = {
        "esp",
        "xbootldr",
        "bios-boot",
        "linux-generic",
        "swap",
        "home",
        "srv",
        "var",
        "root-x86-64",
        "root-x86-64-verity",
        "root-arm64",
        "root-arm64-verity",
        "root-riscv64",
        "root-riscv64-verity",
        "usr-x86-64-verity",
        "usr-arm64-verity",
};
_Static_assert(sizeof(names) / sizeof(names[0]) == sizeof(types) / sizeof(types[0]), "tables differ");

const char *mk_dps_type_guid(const char *name)
{
        for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
                if (!strcasecmp(types[i].name, name))
                        return types[i].guid;
        return NULL;
}

const char *mk_dps_type_name(const char *guid)
{
        for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
                if (!strcasecmp(types[i].guid, guid))
                        return types[i].name;
        return NULL;
}

const char *const *mk_dps_type_names(size_t *n)
{
        *n = sizeof(names) / sizeof(names[0]);
        return names;
}

int mk_guid_is_valid(const char *s)
{
        static const int dash[] = {8, 13, 18, 23};
        for (int i = 0, d = 0; i < 36; i++) {
                if (d < 4 && i == dash[d]) {
                        if (s[i] != '-')
                                return 0;
                        d++;
                } else if (!isxdigit((unsigned char)s[i])) {
                        return 0;
                }
        }
        return s[36] == '\0';
}
