/* SPDX-License-Identifier: MIT */
#include "builder/secureboot/pe.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "signing/base/sha256.h"

#define DOS_LFANEW 0x3c
#define COFF_SIZE 20
#define OPT_MAGIC_PE32 0x10b
#define OPT_MAGIC_PE32PLUS 0x20b
#define DIR_CERTIFICATES 4

/* [off, off + len) inside size, without overflow. */
static bool inside(uint64_t off, uint64_t len, uint64_t size)
{
        return off <= size && len <= size - off;
}

int mk_pe_parse(const char *what, const void *data, size_t size, mk_pe *pe, mk_error *err)
{
        const uint8_t *d = data;
        *pe = (mk_pe){.data = d, .size = size};
        if (size < 0x40 || d[0] != 'M' || d[1] != 'Z')
                return mk_error_set(err, EINVAL, "%s: not a PE image (no MZ header)", what);
        uint32_t pe_off = mk_le32(d + DOS_LFANEW);
        if (!inside(pe_off, 4 + COFF_SIZE, size) || memcmp(d + pe_off, "PE\0\0", 4))
                return mk_error_set(err, EINVAL, "%s: not a PE image (no PE signature at 0x%x)", what, pe_off);
        pe->coff_off = pe_off + 4;
        const uint8_t *coff = d + pe->coff_off;
        pe->n_sections = mk_le16(coff + 2);
        pe->opt_size = mk_le16(coff + 16);
        pe->opt_off = pe->coff_off + COFF_SIZE;
        if (pe->n_sections == 0 || pe->n_sections > MK_PE_MAX_SECTIONS)
                return mk_error_set(err, EINVAL, "%s: %u sections (a PE image here has 1 to %u)", what, pe->n_sections,
                                    MK_PE_MAX_SECTIONS);
        if (pe->opt_size < 2 || !inside(pe->opt_off, pe->opt_size, size))
                return mk_error_set(err, EINVAL, "%s: the optional header lies outside the file", what);
        const uint8_t *opt = d + pe->opt_off;
        uint16_t magic = mk_le16(opt);
        if (magic != OPT_MAGIC_PE32 && magic != OPT_MAGIC_PE32PLUS)
                return mk_error_set(err, EINVAL, "%s: optional header magic 0x%x is neither PE32 nor PE32+", what,
                                    magic);
        pe->pe32plus = magic == OPT_MAGIC_PE32PLUS;
        uint32_t dirs_at = pe->pe32plus ? 112 : 96, ndirs_at = dirs_at - 4;
        if (pe->opt_size < dirs_at)
                return mk_error_set(err, EINVAL, "%s: the optional header is too short (%u bytes)", what, pe->opt_size);
        pe->section_align = mk_le32(opt + 32);
        pe->file_align = mk_le32(opt + 36);
        pe->size_of_image = mk_le32(opt + 56);
        pe->size_of_headers = mk_le32(opt + 60);
        pe->checksum_off = pe->opt_off + 64;
        uint32_t ndirs = mk_le32(opt + ndirs_at);
        if (ndirs > (pe->opt_size - dirs_at) / 8)
                return mk_error_set(err, EINVAL, "%s: %u data directories do not fit the optional header", what, ndirs);
        if (pe->file_align < 512 || (pe->file_align & (pe->file_align - 1)) || pe->section_align < pe->file_align ||
            (pe->section_align & (pe->section_align - 1)))
                return mk_error_set(err, EINVAL, "%s: bad alignments (file 0x%x, section 0x%x)", what, pe->file_align,
                                    pe->section_align);
        if (ndirs > DIR_CERTIFICATES) {
                pe->certdir_off = pe->opt_off + dirs_at + 8 * DIR_CERTIFICATES;
                pe->cert_off = mk_le32(d + pe->certdir_off);
                pe->cert_size = mk_le32(d + pe->certdir_off + 4);
                if (pe->cert_size && (!inside(pe->cert_off, pe->cert_size, size) || pe->cert_off < 8))
                        return mk_error_set(err, EINVAL, "%s: the certificate table lies outside the file", what);
        }
        pe->sect_table_off = pe->opt_off + pe->opt_size;
        if (!inside(pe->sect_table_off, (uint64_t)pe->n_sections * MK_PE_SECTION_HEADER, size) ||
            pe->size_of_headers > size ||
            pe->sect_table_off + pe->n_sections * MK_PE_SECTION_HEADER > pe->size_of_headers)
                return mk_error_set(err, EINVAL, "%s: the section table lies outside the headers", what);
        for (uint32_t i = 0; i < pe->n_sections; i++) {
                mk_pe_section *s = &pe->sections[i];
                const uint8_t *h = d + pe->sect_table_off + i * MK_PE_SECTION_HEADER;
                memcpy(s->name, h, 8);
                s->name[8] = '\0';
                s->vsize = mk_le32(h + 8);
                s->vaddr = mk_le32(h + 12);
                s->raw_size = mk_le32(h + 16);
                s->raw_off = mk_le32(h + 20);
                s->flags = mk_le32(h + 36);
                s->header_off = pe->sect_table_off + i * MK_PE_SECTION_HEADER;
                if (s->raw_size && (!inside(s->raw_off, s->raw_size, size) || s->raw_off < pe->size_of_headers))
                        return mk_error_set(err, EINVAL, "%s: section %u (%.8s) lies outside the file", what, i,
                                            s->name);
                if ((uint64_t)s->vaddr + s->vsize > pe->size_of_image)
                        return mk_error_set(err, EINVAL, "%s: section %u (%.8s) ends beyond SizeOfImage", what, i,
                                            s->name);
        }
        return 0;
}

const mk_pe_section *mk_pe_find(const mk_pe *pe, const char *name)
{
        for (uint32_t i = 0; i < pe->n_sections; i++)
                if (!strcmp(pe->sections[i].name, name))
                        return &pe->sections[i];
        return NULL;
}

static int by_raw_off(const void *a, const void *b)
{
        const mk_pe_section *x = *(const mk_pe_section *const *)a, *y = *(const mk_pe_section *const *)b;
        return x->raw_off < y->raw_off ? -1 : x->raw_off > y->raw_off;
}

int mk_pe_authenticode_sha256(const mk_pe *pe, uint8_t out[32], mk_error *err)
{
        const uint8_t *d = pe->data;
        uint64_t end = pe->size;
        if (pe->cert_size) {
                if ((uint64_t)pe->cert_off + pe->cert_size != pe->size)
                        return mk_error_set(err, EINVAL,
                                            "the certificate table (at 0x%x, %u bytes) is not at the end of the file",
                                            pe->cert_off, pe->cert_size);
                end = pe->cert_off;
        }
        mk_sha256_ctx c;
        mk_sha256_init(&c);
        /* The headers, without CheckSum and the certificate directory entry. */
        mk_sha256_update(&c, d, pe->checksum_off);
        if (pe->certdir_off) {
                mk_sha256_update(&c, d + pe->checksum_off + 4, pe->certdir_off - pe->checksum_off - 4);
                mk_sha256_update(&c, d + pe->certdir_off + 8, pe->size_of_headers - pe->certdir_off - 8);
        } else
                mk_sha256_update(&c, d + pe->checksum_off + 4, pe->size_of_headers - pe->checksum_off - 4);
        /* The sections in file order; then whatever follows the hashed bytes, up to the certificates. */
        const mk_pe_section *order[MK_PE_MAX_SECTIONS];
        size_t n = 0;
        for (uint32_t i = 0; i < pe->n_sections; i++)
                if (pe->sections[i].raw_size)
                        order[n++] = &pe->sections[i];
        qsort(order, n, sizeof(order[0]), by_raw_off);
        uint64_t hashed = pe->size_of_headers;
        for (size_t i = 0; i < n; i++) {
                if ((uint64_t)order[i]->raw_off + order[i]->raw_size > end)
                        return mk_error_set(err, EINVAL, "section %.8s overlaps the certificate table", order[i]->name);
                mk_sha256_update(&c, d + order[i]->raw_off, order[i]->raw_size);
                hashed += order[i]->raw_size;
        }
        if (end > hashed)
                mk_sha256_update(&c, d + hashed, end - hashed);
        mk_sha256_final(&c, out);
        return 0;
}

uint32_t mk_pe_checksum(const uint8_t *buf, size_t size, uint32_t checksum_off)
{
        uint64_t sum = 0;
        for (size_t i = 0; i < size; i += 2) {
                uint32_t w = buf[i] | (i + 1 < size ? buf[i + 1] << 8 : 0);
                if (i == checksum_off || i == checksum_off + 2)
                        w = 0;
                sum += w;
                sum = (sum & 0xffff) + (sum >> 16);
        }
        sum = (sum & 0xffff) + (sum >> 16);
        return (uint32_t)(sum + size);
}
