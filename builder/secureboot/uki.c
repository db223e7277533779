/* SPDX-License-Identifier: MIT */
#include "builder/secureboot/uki.h"

#include <errno.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "builder/secureboot/pe.h"
#include "signing/base/sha256.h"

#define UKI_ALIGN 4096u
#define SCN_INITIALIZED_DATA_READ 0x40000040u /* IMAGE_SCN_CNT_INITIALIZED_DATA | IMAGE_SCN_MEM_READ */
#define COFF_SYMTAB 8                         /* PointerToSymbolTable, then NumberOfSymbols */

const char *const mk_uki_measured_sections[] = {".linux",  ".osrel", ".cmdline", ".initrd",
                                                ".splash", ".dtb",   ".pcrpkey", NULL};

static uint64_t align_up(uint64_t v, uint64_t a)
{
        return (v + a - 1) / a * a;
}

int mk_uki_assemble(const char *stub_what, const void *stub, size_t stub_len, const mk_uki_part *parts, size_t n,
                    uint8_t **ret, size_t *ret_len, mk_error *err)
{
        mk_pe pe;
        int r = mk_pe_parse(stub_what, stub, stub_len, &pe, err);
        if (r < 0)
                return r;
        if (pe.cert_size)
                return mk_error_set(err, EINVAL,
                                    "%s: the stub is signed already; a UKI is assembled from an unsigned stub and "
                                    "signed as a whole (use the stub from systemd-boot-efi)",
                                    stub_what);
        uint64_t raw_end = pe.size_of_headers, v_end = 0;
        for (uint32_t i = 0; i < pe.n_sections; i++) {
                const mk_pe_section *s = &pe.sections[i];
                if (s->name[0] == '/')
                        return mk_error_set(err, EINVAL, "%s: section %u has a long name (%s); not a systemd stub",
                                            stub_what, i, s->name);
                if (s->raw_size && s->raw_off + (uint64_t)s->raw_size > raw_end)
                        raw_end = s->raw_off + (uint64_t)s->raw_size;
                uint64_t ve = (uint64_t)s->vaddr + (s->vsize > s->raw_size ? s->vsize : s->raw_size);
                if (ve > v_end)
                        v_end = ve;
        }
        for (size_t k = 0; k < n; k++) {
                if (!parts[k].size || !parts[k].name[0] || strlen(parts[k].name) > 8)
                        return mk_error_set(err, EINVAL, "UKI section %s: a name of 1-8 characters and data",
                                            parts[k].name);
                if (mk_pe_find(&pe, parts[k].name))
                        return mk_error_set(err, EINVAL, "%s: the stub has a section %s already", stub_what,
                                            parts[k].name);
        }
        uint64_t table_end = pe.sect_table_off + (uint64_t)(pe.n_sections + n) * MK_PE_SECTION_HEADER;
        if (pe.n_sections + n > MK_PE_MAX_SECTIONS || table_end > pe.size_of_headers)
                return mk_error_set(err, EINVAL,
                                    "%s: no room in the stub's headers (%u bytes) for %zu more section headers",
                                    stub_what, pe.size_of_headers, n);
        for (uint32_t i = 0; i < pe.n_sections; i++)
                if (pe.sections[i].raw_size && pe.sections[i].raw_off < table_end)
                        return mk_error_set(err, EINVAL, "%s: section %s starts inside the grown section table",
                                            stub_what, pe.sections[i].name);

        uint64_t va_align = pe.section_align > UKI_ALIGN ? pe.section_align : UKI_ALIGN;
        uint64_t raw = align_up(raw_end, pe.file_align), va = align_up(v_end, va_align);
        uint64_t vas[MK_PE_MAX_SECTIONS], raws[MK_PE_MAX_SECTIONS], total = raw, image = 0;
        for (size_t k = 0; k < n; k++) {
                vas[k] = va;
                raws[k] = total;
                total += align_up(parts[k].size, pe.file_align);
                image = align_up(va + parts[k].size, pe.section_align);
                va = align_up(va + parts[k].size, va_align);
        }
        if (total > UINT32_MAX || image > UINT32_MAX)
                return mk_error_set(err, EFBIG, "the UKI would be %llu bytes: more than a PE image can hold",
                                    (unsigned long long)total);
        uint8_t *out = calloc(1, total);
        if (!out)
                return mk_error_set(err, ENOMEM, "out of memory (%llu bytes for the UKI)", (unsigned long long)total);
        memcpy(out, stub, raw_end);
        for (size_t k = 0; k < n; k++) {
                uint8_t *h = out + pe.sect_table_off + (pe.n_sections + k) * MK_PE_SECTION_HEADER;
                memset(h, 0, MK_PE_SECTION_HEADER);
                memcpy(h, parts[k].name, strlen(parts[k].name));
                mk_put_le32(h + 8, (uint32_t)parts[k].size);
                mk_put_le32(h + 12, (uint32_t)vas[k]);
                mk_put_le32(h + 16, (uint32_t)align_up(parts[k].size, pe.file_align));
                mk_put_le32(h + 20, (uint32_t)raws[k]);
                mk_put_le32(h + 36, SCN_INITIALIZED_DATA_READ);
                memcpy(out + raws[k], parts[k].data, parts[k].size);
        }
        uint8_t *coff = out + pe.coff_off, *opt = out + pe.opt_off;
        mk_put_le16(coff + 2, (uint16_t)(pe.n_sections + n));
        memset(coff + COFF_SYMTAB, 0, 8);                                 /* the symbol table was not copied */
        mk_put_le32(opt + 8, mk_le32(opt + 8) + (uint32_t)(total - raw)); /* SizeOfInitializedData */
        mk_put_le32(opt + 56, (uint32_t)image);
        mk_put_le32(out + pe.checksum_off, mk_pe_checksum(out, total, pe.checksum_off));
        *ret = out;
        *ret_len = total;
        return 0;
}

static void extend(uint8_t pcr[32], const uint8_t digest[32])
{
        uint8_t buf[64];
        memcpy(buf, pcr, 32);
        memcpy(buf + 32, digest, 32);
        mk_sha256(buf, sizeof(buf), pcr);
}

void mk_uki_pcr11(const mk_uki_part *parts, size_t n, char hex[65])
{
        uint8_t pcr[32] = {0}, d[32];
        for (const char *const *name = mk_uki_measured_sections; *name; name++)
                for (size_t k = 0; k < n; k++) {
                        if (strcmp(parts[k].name, *name))
                                continue;
                        mk_sha256(*name, strlen(*name) + 1, d);
                        extend(pcr, d);
                        mk_sha256(parts[k].data, parts[k].size, d);
                        extend(pcr, d);
                }
        for (int i = 0; i < 32; i++)
                snprintf(hex + 2 * i, 3, "%02x", pcr[i]);
}
