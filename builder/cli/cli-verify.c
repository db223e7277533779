/* SPDX-License-Identifier: MIT */
/* `mkimage verify`: argument parsing and printing only (builder/verify/verify.h does the work). */
#include <stdio.h>
#include <string.h>

#include "builder/cli/cli.h"
#include "signing/bundle/bundle.h"
#include "builder/data/luks.h"
#include "builder/verify/verify.h"
#include "builder/secureboot/sb-key.h"
#include "signing/base/escape.h"

const char cli_verify_help[] = "Usage: mkimage verify IMAGE|BUNDLE --pub KEY.pub [--data-key FILE] [--json]\n\n"
                               "Checks a built image against its signed slot manifests IMAGE.manifest.yaml\n"
                               "and IMAGE.manifest-b.yaml (each with a .minisig): the signatures with KEY.pub,\n"
                               "each root partition's SHA-256 and its dm-verity superblock and hash tree,\n"
                               "the ESP's boot files, and the data partition: both LUKS2 header copies (or\n"
                               "the ext4 superblock when it is not encrypted).\n"
                               "An update bundle (mkimage bundle) is checked part by part: the signatures,\n"
                               "each part's SHA-256, both slots' hash trees against the root, the boot files.\n"
                               "Prints one line per manifest and per partition: 'NAME: OK', 'NAME: OK (what\n"
                               "was checked)', 'NAME: FAILED: reason' or 'NAME: not checked (...)'.\n\n"
                               "      --pub FILE        the minisign public key that signed the manifests\n"
                               "      --data-key FILE   the data partition's key (as given to build or made by\n"
                               "                        factory): the LUKS2 volume is opened in memory and its\n"
                               "                        ext4 superblock checked too\n"
                               "      --sb-cert CERT    the Secure Boot db certificate (PEM): every EFI binary\n"
                               "                        on the ESP must carry an Authenticode signature by it\n"
                               "      --json            print one JSON object {ok, items: [{name, status, reason}]}\n"
                               "  -h, --help            show this help\n\n"
                               "Exit status: 0 everything checked is intact, 1 something failed or the image\n"
                               "cannot be read, 2 usage error.\n";

static void print_json(const mk_verify_report *rep)
{
        cli_json_printed();
        printf("{\"ok\":%s,\"items\":[", rep->ok ? "true" : "false");
        for (size_t i = 0; i < rep->n_items; i++) {
                const mk_check_item *it = &rep->items[i];
                printf("%s{\"name\":", i ? "," : "");
                cli_json_string(stdout, it->name);
                printf(",\"status\":\"%s\",\"reason\":", mk_check_status_str(it->status));
                if (it->reason)
                        cli_json_string(stdout, it->reason);
                else
                        printf("null");
                if (it->detail) {
                        printf(",\"detail\":");
                        cli_json_string(stdout, it->detail);
                }
                printf("}");
        }
        printf("]}\n");
}

/* An item's name is a GPT name or the image's path, its reason a message that may quote the image's bytes: both
 * escaped, so that a crafted name can neither forge another item's line nor reach the terminal raw. */
static void print_lines(const mk_verify_report *rep)
{
        for (size_t i = 0; i < rep->n_items; i++) {
                const mk_check_item *it = &rep->items[i];
                mk_fputs_quoted(it->name, stdout);
                if (it->status == MK_CHECK_OK) {
                        fputs(": OK", stdout);
                        if (it->detail) {
                                fputs(" (", stdout);
                                mk_fputs_message(it->detail, stdout);
                                fputc(')', stdout);
                        }
                        fputc('\n', stdout);
                        continue;
                }
                fputs(it->status == MK_CHECK_FAILED ? ": FAILED: " : ": ", stdout);
                mk_fputs_message(it->reason ? it->reason : "", stdout);
                fputc('\n', stdout);
        }
}

int cli_verify(int argc, char **argv)
{
        const char *image = NULL, *pub = NULL, *data_key = NULL, *sb_cert = NULL;
        int json = 0;
        for (int i = 1; i < argc; i++) {
                if (!strcmp(argv[i], "--json")) {
                        json = 1;
                } else if (!strcmp(argv[i], "--pub") || !strncmp(argv[i], "--pub=", 6)) {
                        if (pub)
                                return cli_usage("verify", "give --pub once");
                        if (argv[i][5] == '=')
                                pub = argv[i] + 6;
                        else if (i + 1 < argc)
                                pub = argv[++i];
                        else
                                return cli_usage("verify", "--pub needs a public key file");
                } else if (!strcmp(argv[i], "--data-key") || !strncmp(argv[i], "--data-key=", 11)) {
                        if (data_key)
                                return cli_usage("verify", "give --data-key once");
                        if (argv[i][10] == '=')
                                data_key = argv[i] + 11;
                        else if (i + 1 < argc)
                                data_key = argv[++i];
                        else
                                return cli_usage("verify", "--data-key needs a key file");
                        if (!*data_key)
                                return cli_usage("verify", "--data-key needs a key file");
                } else if (!strcmp(argv[i], "--sb-cert") || !strncmp(argv[i], "--sb-cert=", 10)) {
                        if (sb_cert)
                                return cli_usage("verify", "give --sb-cert once");
                        if (argv[i][9] == '=')
                                sb_cert = argv[i] + 10;
                        else if (i + 1 < argc)
                                sb_cert = argv[++i];
                        if (!sb_cert || !*sb_cert)
                                return cli_usage("verify", "--sb-cert needs a certificate file");
                } else if (argv[i][0] == '-' && argv[i][1]) {
                        return cli_usage("verify", "unknown option '%s'", argv[i]);
                } else if (image) {
                        return cli_usage("verify", "give exactly one IMAGE");
                } else {
                        image = argv[i];
                }
        }
        if (!image)
                return cli_usage("verify", "name the IMAGE to verify");
        if (!pub || !*pub)
                return cli_usage("verify", "give the public key that signed the manifests with --pub KEY.pub");
        if (data_key && mk_bundle_is_file(image))
                return cli_usage("verify", "--data-key is for images: a bundle carries no data partition");
        mk_error err = {0};
        _cleanup_pubkey_ mk_pubkey *key = NULL;
        if (mk_pubkey_load(pub, &key, &err) < 0)
                return cli_fail(&err);
        mk_verify_opts o = {.key = key, .data_key_name = data_key};
        X509 *cert = NULL;
        if (sb_cert && mk_sb_cert_load(sb_cert, &cert, &err) < 0)
                return cli_fail(&err);
        o.sb_cert = cert;
        uint8_t *dk = NULL;
        if (data_key && mk_data_key_load(data_key, &dk, &o.data_key_len, &err) < 0)
                return cli_fail(&err);
        o.data_key = dk;
        mk_verify_report *rep = NULL;
        int r = mk_bundle_is_file(image) ? mk_verify_bundle(image, key, &rep, &err)
                                         : mk_verify_image_with(image, &o, &rep, &err);
        mk_data_key_free(dk); /* wipes */
        X509_free(cert);
        if (r < 0)
                return cli_fail(&err);
        if (json)
                print_json(rep);
        else
                print_lines(rep);
        int rc = rep->ok ? CLI_OK : CLI_FAILED;
        mk_verify_report_free(rep);
        return rc;
}
