/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of the UKI assembler and the Authenticode signer
 * (builder/secureboot/): a UKI from systemd-boot-efi's real stub has its
 * parts as sections at 4 KiB aligned addresses past the stub's own, in the
 * file at FileAlignment, exact VirtualSizes and SizeOfImage; the bytes are
 * the same on every run; bad stubs are refused. A signature made here
 * verifies against its certificate, is the same bytes twice, and is refused
 * for another certificate, for one changed byte anywhere in a section, and
 * when absent. PCR 11 is checked against an extend chain computed with
 * libcrypto's SHA-256. (sbverify and the firmware check the same files in
 * tests/cases/secureboot.sh.)
 */
#include <errno.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "builder/secureboot/authenticode.h"
#include "builder/secureboot/pe.h"
#include "builder/secureboot/uki.h"
#include "check.h"
#include "signing/base/fileio.h"

#define STUB "/usr/lib/systemd/boot/efi/linuxx64.efi.stub"

static char *stub;
static size_t stub_len;
static char linux_data[70000], initrd_data[5000];
static const char osrel[] = "ID=test\nIMAGE_ID=mkimage-4294967294-a\nIMAGE_VERSION=1\n";
static const char cmdline[] = "console=ttyS0 mkimage.slot=a";
static const mk_uki_part parts[] = {
        {".osrel", osrel, sizeof(osrel) - 1},
        {".cmdline", cmdline, sizeof(cmdline) - 1},
        {".linux", linux_data, sizeof(linux_data)},
        {".initrd", initrd_data, sizeof(initrd_data)},
};

/* A self-signed RSA-2048 code-signing certificate named cn. */
static mk_sb_signer *make_signer(const char *cn)
{
        mk_sb_signer *s = calloc(1, sizeof(*s));
        s->key = EVP_RSA_gen(2048);
        s->cert = X509_new();
        X509_set_version(s->cert, 2);
        ASN1_INTEGER_set(X509_get_serialNumber(s->cert), 7);
        X509_gmtime_adj(X509_getm_notBefore(s->cert), 0);
        X509_gmtime_adj(X509_getm_notAfter(s->cert), 3600);
        X509_NAME *name = X509_get_subject_name(s->cert);
        X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
        X509_set_issuer_name(s->cert, name);
        X509_set_pubkey(s->cert, s->key);
        X509_sign(s->cert, s->key, EVP_sha256());
        s->key_path = strdup("test.key");
        s->cert_path = strdup("test.crt");
        return s;
}

static void free_signer(mk_sb_signer *s)
{
        EVP_PKEY_free(s->key);
        X509_free(s->cert);
        free(s->key_path);
        free(s->cert_path);
        free(s);
}

static void test_assemble(void)
{
        uint8_t *uki = NULL, *again = NULL;
        size_t len = 0, len2 = 0;
        mk_error err = {0};
        CHECK(mk_uki_assemble(STUB, stub, stub_len, parts, 4, &uki, &len, &err) == 0);
        CHECK(mk_uki_assemble(STUB, stub, stub_len, parts, 4, &again, &len2, &err) == 0);
        CHECK(uki && again && len == len2 && !memcmp(uki, again, len));
        mk_pe in, out;
        CHECK(mk_pe_parse("stub", stub, stub_len, &in, &err) == 0);
        CHECK(mk_pe_parse("uki", uki, len, &out, &err) == 0);
        CHECK(out.n_sections == in.n_sections + 4);
        uint64_t stub_end = 0;
        for (uint32_t i = 0; i < in.n_sections; i++) {
                const mk_pe_section *s = &in.sections[i];
                uint64_t e = (uint64_t)s->vaddr + (s->vsize > s->raw_size ? s->vsize : s->raw_size);
                stub_end = e > stub_end ? e : stub_end;
                CHECK(!memcmp(&out.sections[i], s, sizeof(*s))); /* the stub's sections stay as they were */
        }
        uint64_t prev_end = stub_end;
        for (size_t k = 0; k < 4; k++) {
                const mk_pe_section *s = mk_pe_find(&out, parts[k].name);
                CHECK(s);
                if (!s)
                        continue;
                CHECK(s->vaddr % 4096 == 0 && s->vaddr >= prev_end);
                CHECK(s->vsize == parts[k].size && s->raw_size >= s->vsize && s->raw_off % out.file_align == 0);
                CHECK(!memcmp(uki + s->raw_off, parts[k].data, parts[k].size));
                prev_end = (uint64_t)s->vaddr + s->vsize;
        }
        CHECK(out.size_of_image >= prev_end && out.size_of_image % out.section_align == 0);
        CHECK(mk_le32(uki + out.coff_off + 8) == 0 && mk_le32(uki + out.coff_off + 12) == 0); /* no symbol table */
        CHECK(mk_le32(uki + out.checksum_off) == mk_pe_checksum(uki, len, out.checksum_off));
        free(uki);
        free(again);
}

static void test_bad_stubs(void)
{
        uint8_t *uki = NULL;
        size_t len = 0;
        mk_error err = {0};
        CHECK(mk_uki_assemble("notpe", "hello world", 11, parts, 4, &uki, &len, &err) == -EINVAL);
        CHECK(strstr(err.msg, "notpe: not a PE image") && !uki);
        char *cut = malloc(stub_len);
        memcpy(cut, stub, stub_len);
        mk_error_clear(&err);
        CHECK(mk_uki_assemble("short", cut, 0x100, parts, 4, &uki, &len, &err) == -EINVAL && !uki);
        mk_error_clear(&err);
        mk_uki_part twice[] = {parts[0], {".text", "x", 1}};
        CHECK(mk_uki_assemble("stub", cut, stub_len, twice, 2, &uki, &len, &err) == -EINVAL);
        CHECK(strstr(err.msg, "has a section .text already"));
        free(cut);
}

static void test_pcr11(void)
{
        uint8_t pcr[32] = {0}, d[32], buf[64];
        static const int order[] = {2, 0, 1, 3}; /* .linux .osrel .cmdline .initrd */
        for (int i = 0; i < 4; i++) {
                const mk_uki_part *p = &parts[order[i]];
                for (int half = 0; half < 2; half++) {
                        if (!half)
                                EVP_Digest(p->name, strlen(p->name) + 1, d, NULL, EVP_sha256(), NULL);
                        else
                                EVP_Digest(p->data, p->size, d, NULL, EVP_sha256(), NULL);
                        memcpy(buf, pcr, 32);
                        memcpy(buf + 32, d, 32);
                        EVP_Digest(buf, 64, pcr, NULL, EVP_sha256(), NULL);
                }
        }
        char want[65], got[65];
        for (int i = 0; i < 32; i++)
                snprintf(want + 2 * i, 3, "%02x", pcr[i]);
        mk_uki_pcr11(parts, 4, got);
        CHECK_STREQ(got, want);
}

static void test_sign_verify(void)
{
        mk_sb_signer *s = make_signer("test db"), *other = make_signer("other db");
        uint8_t *uki = NULL, *signed1 = NULL, *signed2 = NULL, *twice = NULL;
        size_t len = 0, l1 = 0, l2 = 0, lt = 0;
        mk_error err = {0};
        char *subject = NULL;
        CHECK(mk_uki_assemble(STUB, stub, stub_len, parts, 4, &uki, &len, &err) == 0);
        CHECK(mk_authenticode_verify("uki", uki, len, s->cert, NULL, &err) == -ENOKEY);
        CHECK(strstr(err.msg, "uki: not signed"));
        mk_error_clear(&err);
        CHECK(mk_authenticode_sign("uki", uki, len, s, &signed1, &l1, &err) == 0);
        CHECK(mk_authenticode_sign("uki", uki, len, s, &signed2, &l2, &err) == 0);
        CHECK(l1 == l2 && !memcmp(signed1, signed2, l1));                      /* reproducible */
        CHECK(l1 % 8 == 0 && !memcmp(signed1 + 1024, uki + 1024, len - 1024)); /* past the headers: unchanged */
        CHECK(mk_authenticode_verify("uki", signed1, l1, s->cert, &subject, &err) == 0);
        CHECK(subject && strstr(subject, "CN=test db"));
        free(subject);
        CHECK(mk_authenticode_sign("uki", signed1, l1, s, &twice, &lt, &err) == -EINVAL && !twice);
        mk_error_clear(&err);
        CHECK(mk_authenticode_verify("uki", signed1, l1, other->cert, NULL, &err) == -EKEYREJECTED);
        CHECK(strstr(err.msg, "signed by /CN=test db, not by the db certificate /CN=other db"));
        /* One byte flipped in each added section, and in the headers' sort fields. */
        mk_pe pe;
        CHECK(mk_pe_parse("uki", signed1, l1, &pe, &err) == 0);
        for (size_t k = 0; k < 4; k++) {
                const mk_pe_section *sec = mk_pe_find(&pe, parts[k].name);
                signed1[sec->raw_off + parts[k].size / 2] ^= 0x01;
                mk_error_clear(&err);
                CHECK(mk_authenticode_verify("uki", signed1, l1, s->cert, NULL, &err) == -EKEYREJECTED);
                CHECK(strstr(err.msg, "changed after it was signed"));
                signed1[sec->raw_off + parts[k].size / 2] ^= 0x01;
        }
        mk_error_clear(&err);
        CHECK(mk_authenticode_verify("uki", signed1, l1, s->cert, NULL, &err) == 0);
        /* The signature itself damaged. */
        signed1[l1 - 40] ^= 0x01;
        CHECK(mk_authenticode_verify("uki", signed1, l1, s->cert, NULL, &err) < 0);
        free(uki);
        free(signed1);
        free(signed2);
        free_signer(s);
        free_signer(other);
}

int main(void)
{
        mk_error err = {0};
        check_suite_ = "uki";
        if (mk_read_file(STUB, 1u << 24, &stub, &stub_len, &err) < 0) {
                fprintf(stderr, "%s\n", err.msg);
                return 1;
        }
        for (size_t i = 0; i < sizeof(linux_data); i++)
                linux_data[i] = (char)(i * 7 + 3);
        memset(initrd_data, 0x5a, sizeof(initrd_data));
        RUN(test_assemble);
        RUN(test_bad_stubs);
        RUN(test_pcr11);
        RUN(test_sign_verify);
        free(stub);
        return check_exit();
}
