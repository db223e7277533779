/* SPDX-License-Identifier: MIT */
/* mkimage sb-keygen: argument parsing and printing only (builder/secureboot/). */
#include <getopt.h>
#include <string.h>

#include "builder/cli/cli.h"
#include "builder/secureboot/sb-key.h"

#define DEFAULT_CN "mkimage development"

const char cli_sb_keygen_help[] = "Usage: mkimage sb-keygen DIR [--cn PREFIX]\n"
                                  "\n"
                                  "Generate a development set of UEFI Secure Boot keys in DIR (made 0700 when\n"
                                  "missing): for each of PK, KEK and db an RSA 2048 key NAME.key (unencrypted,\n"
                                  "mode 0600), its self-signed certificate NAME.crt (SHA-256, valid 10 years,\n"
                                  "CN \"PREFIX NAME\"), the EFI signature list NAME.esl and NAME.auth, signed\n"
                                  "for enrolment (PK and KEK by PK, db by KEK), plus guid.txt, the owner GUID.\n"
                                  "The db key and certificate sign what the firmware boots; systemd-boot\n"
                                  "enrols the .auth files from loader/keys/auto/ on the ESP.\n"
                                  "Existing files are never overwritten: DIR must hold none of them. On\n"
                                  "failure nothing is left in DIR.\n"
                                  "\n"
                                  "  --cn PREFIX   the certificates' common-name prefix (default\n"
                                  "                \"" DEFAULT_CN "\"; at most 60 bytes)\n"
                                  "\n"
                                  "Exit status: 0 written, 1 a file exists or cannot be written, 2 usage.\n";

static const struct option sb_options[] = {
        {"cn", required_argument, NULL, 'c'},
        {NULL, 0, NULL, 0},
};

int cli_sb_keygen(int argc, char **argv)
{
        const char *verb = argv[0], *cn = DEFAULT_CN;
        opterr = 0;
        optind = 0;
        int c;
        while ((c = getopt_long(argc, argv, ":", sb_options, NULL)) != -1) {
                if (c == ':')
                        return cli_usage(verb, "option '%s' needs a value", argv[optind - 1]);
                if (c == '?')
                        return cli_usage(verb, "unknown option '%s'", argv[optind - 1]);
                cn = optarg;
        }
        if (optind >= argc)
                return cli_usage(verb, "missing DIR (the folder to write the keys into)");
        if (optind + 1 < argc)
                return cli_usage(verb, "unexpected argument '%s'", argv[optind + 1]);
        const char *dir = argv[optind];

        mk_error err = {0};
        if (mk_sb_keygen(dir, cn, &err) < 0)
                return cli_fail(&err);
        static const char *const sets[][2] = {
                {"PK", "platform key: signs PK.auth and KEK.auth"},
                {"KEK", "key exchange key: signs db.auth"},
                {"db", "signature database: signs systemd-boot and the UKIs"},
        };
        for (size_t i = 0; i < sizeof(sets) / sizeof(sets[0]); i++) {
                const char *n = sets[i][0];
                fputs("Wrote ", stdout);
                cli_put(stdout, dir, 0);
                printf("/%s.key, %s.crt, %s.esl, %s.auth (%s)\n", n, n, n, n, sets[i][1]);
        }
        fputs("Wrote ", stdout);
        cli_put(stdout, dir, 0);
        fputs("/guid.txt (the owner GUID of the signature lists)\n", stdout);
        cli_warn("these are development keys: the private keys are unencrypted on disk; enrol them only on "
                 "test machines, never on a product");
        return CLI_OK;
}
