/* SPDX-License-Identifier: MIT */
/*
 * PE/COFF images as UEFI loads them (PE32 and PE32+): the headers read with
 * every offset and size checked against the file, the section table, the
 * Authenticode digest, and the few header rewrites a UKI and a signature
 * need. The layout (docs/secure-boot.md, "PE"):
 *
 *     0x00  "MZ" ... e_lfanew (u32 at 0x3c) -> "PE\0\0"
 *           COFF header (20 bytes): machine, sections, symbol table
 *           optional header: magic 0x10b / 0x20b, alignments, SizeOfImage,
 *           SizeOfHeaders, CheckSum, data directories (4: certificates)
 *           section table (40 bytes each)
 *     SizeOfHeaders ... section data (raw), the certificate table last
 */
#ifndef MK_PE_H
#define MK_PE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "signing/base/error.h"

#define MK_PE_SECTION_HEADER 40
#define MK_PE_MAX_SECTIONS 96

typedef struct mk_pe_section {
        char name[9]; /* NUL-terminated, up to 8 characters */
        uint32_t vaddr, vsize, raw_off, raw_size, flags;
        uint32_t header_off; /* file offset of this section's header */
} mk_pe_section;

typedef struct mk_pe {
        const uint8_t *data; /* the file (not owned) */
        size_t size;
        bool pe32plus;
        uint32_t coff_off;            /* the COFF header, right after "PE\0\0" */
        uint32_t opt_off, opt_size;   /* the optional header */
        uint32_t checksum_off;        /* CheckSum (4 bytes) */
        uint32_t certdir_off;         /* data directory 4 (8 bytes), 0 when there is none */
        uint32_t cert_off, cert_size; /* the certificate table it points to (0, 0: unsigned) */
        uint32_t section_align, file_align, size_of_headers, size_of_image;
        uint32_t sect_table_off; /* the first section header */
        uint32_t n_sections;
        mk_pe_section sections[MK_PE_MAX_SECTIONS];
} mk_pe;

/*
 * Parse data (size bytes, which must stay valid while pe is used) as a PE
 * image. what names it in messages ("/usr/lib/.../linuxx64.efi.stub").
 * -EINVAL with the reason when it is not a PE image or an offset or size
 * points outside the file.
 */
int mk_pe_parse(const char *what, const void *data, size_t size, mk_pe *pe, mk_error *err)
        __attribute__((warn_unused_result));

/* The section called name (".linux"), or NULL. */
const mk_pe_section *mk_pe_find(const mk_pe *pe, const char *name);

/*
 * The Authenticode SHA-256 of the image: the headers without CheckSum and
 * the certificate directory entry, the sections' raw data in file order,
 * then what follows them up to the certificate table. The certificate
 * table must be the file's last bytes when there is one (-EINVAL).
 */
int mk_pe_authenticode_sha256(const mk_pe *pe, uint8_t out[32], mk_error *err) __attribute__((warn_unused_result));

/* The PE checksum of buf (size bytes) with its CheckSum field at checksum_off taken as 0. */
uint32_t mk_pe_checksum(const uint8_t *buf, size_t size, uint32_t checksum_off);

/* Little-endian stores and loads. */
static inline uint32_t mk_le32(const uint8_t *p)
{
        return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static inline uint16_t mk_le16(const uint8_t *p)
{
        return (uint16_t)(p[0] | p[1] << 8);
}
static inline void mk_put_le32(uint8_t *p, uint32_t v)
{
        p[0] = (uint8_t)v, p[1] = (uint8_t)(v >> 8), p[2] = (uint8_t)(v >> 16), p[3] = (uint8_t)(v >> 24);
}
static inline void mk_put_le16(uint8_t *p, uint16_t v)
{
        p[0] = (uint8_t)v, p[1] = (uint8_t)(v >> 8);
}

#endif
