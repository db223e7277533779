/* SPDX-License-Identifier: MIT */
/* mkimage keygen / sign / verify-sig: argument parsing and printing only. */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "builder/cli/cli.h"
#include "signing/minisign/minisign.h"

const char cli_keygen_help[] = "Usage: mkimage keygen PREFIX\n"
                               "\n"
                               "Generate an Ed25519 key pair in minisign's formats: PREFIX.key (the\n"
                               "secret key, unencrypted, mode 0600) and PREFIX.pub (the public key).\n"
                               "Existing files are never overwritten. Prints the key id.\n"
                               "\n"
                               "Exit status: 0 written, 1 a file exists or cannot be written, 2 usage.\n";

const char cli_sign_help[] = "Usage: mkimage sign FILE --key KEY [--comment TEXT]\n"
                             "\n"
                             "Sign FILE with the minisign secret key KEY and write FILE.minisig\n"
                             "(replaced atomically). The signature is prehashed (\"ED\"); minisign -V\n"
                             "verifies it.\n"
                             "\n"
                             "  -k, --key KEY       secret key file (mode 0600; minisign or mkimage keygen)\n"
                             "  -c, --comment TEXT  trusted comment (default: timestamp:$SOURCE_DATE_EPOCH\n"
                             "                      or 0, file:BASENAME, hashed; never the wall clock)\n"
                             "\n"
                             "An encrypted key is decrypted with the passphrase in\n"
                             "MKIMAGE_KEY_PASSPHRASE; mkimage never prompts.\n"
                             "\n"
                             "Exit status: 0 signed, 1 error, 2 usage.\n";

const char cli_verify_sig_help[] = "Usage: mkimage verify-sig FILE --pub PUB [--pub PUB...] [--sig SIG]\n"
                                   "\n"
                                   "Verify FILE against its minisign signature (default FILE.minisig),\n"
                                   "signed by the key of PUB (any of them when --pub is repeated). Prints\n"
                                   "the signer's key id and the trusted comment.\n"
                                   "\n"
                                   "  -p, --pub PUB   trusted public key file (minisign .pub)\n"
                                   "  -s, --sig SIG   signature file (default FILE.minisig)\n"
                                   "\n"
                                   "Exit status: 0 only for a valid signature by a trusted key, 1 a bad,\n"
                                   "untrusted or malformed signature or an unreadable file, 2 usage.\n";

typedef struct sign_args {
        const char *operand; /* FILE or PREFIX */
        const char *key;
        const char *comment;
        const char *sig;
        const char **pubs;
        size_t n_pubs;
} sign_args;

static const struct option sign_options[] = {
        {"key", required_argument, NULL, 'k'},
        {"comment", required_argument, NULL, 'c'},
        {"pub", required_argument, NULL, 'p'},
        {"sig", required_argument, NULL, 's'},
        {NULL, 0, NULL, 0},
};

static void sign_args_done(sign_args *a)
{
        free(a->pubs);
}

static const char *long_name(int c)
{
        for (const struct option *o = sign_options; o->name; o++)
                if (o->val == c)
                        return o->name;
        return "?";
}

/* Parse argv (argv[0] is the verb) accepting the short options in allowed
 * (and their long forms). Returns CLI_OK, or CLI_USAGE after printing why. */
static int parse_args(int argc, char **argv, const char *allowed, sign_args *a)
{
        const char *verb = argv[0];
        char shortopts[16] = ":";
        strncat(shortopts, allowed, sizeof(shortopts) - 2);
        a->pubs = calloc((size_t)argc, sizeof(*a->pubs));
        if (!a->pubs)
                return cli_usage(verb, "out of memory");
        opterr = 0;
        optind = 0;
        int c;
        while ((c = getopt_long(argc, argv, shortopts, sign_options, NULL)) != -1) {
                if (c == ':')
                        return cli_usage(verb, "option '%s' needs a value", argv[optind - 1]);
                if (c == '?')
                        return cli_usage(verb, "unknown option '%s'", argv[optind - 1]);
                /* getopt_long knows every verb's long options. */
                if (!strchr(allowed, c))
                        return cli_usage(verb, "option '--%s' does not apply to '%s'", long_name(c), verb);
                if (c == 'k')
                        a->key = optarg;
                else if (c == 'c')
                        a->comment = optarg;
                else if (c == 'p')
                        a->pubs[a->n_pubs++] = optarg;
                else if (c == 's')
                        a->sig = optarg;
        }
        if (optind >= argc)
                return cli_usage(verb, "missing %s", !strcmp(verb, "keygen") ? "PREFIX" : "FILE");
        if (optind + 1 < argc)
                return cli_usage(verb, "unexpected argument '%s'", argv[optind + 1]);
        a->operand = argv[optind];
        return CLI_OK;
}

/* Parse, then run body on the arguments: the shape of every verb here. */
static int run_verb(int argc, char **argv, const char *allowed, int (*body)(const sign_args *a))
{
        _cleanup_(sign_args_done) sign_args a = {0};
        int rc = parse_args(argc, argv, allowed, &a);
        return rc == CLI_OK ? body(&a) : rc;
}

static int keygen(const sign_args *a)
{
        mk_error err = {0};
        _cleanup_seckey_ mk_seckey *key = NULL;
        if (mk_seckey_generate(&key, &err) < 0 || mk_keypair_write(key, a->operand, &err) < 0)
                return cli_fail(&err);
        fputs("Wrote ", stdout);
        cli_put(stdout, a->operand, 0);
        fputs(".key (secret key, unencrypted, mode 0600: keep it secret)\nWrote ", stdout);
        cli_put(stdout, a->operand, 0);
        printf(".pub (public key)\nKey id: %s\n", mk_seckey_id_str(key));
        return CLI_OK;
}

static int sign(const sign_args *a)
{
        if (!a->key)
                return cli_usage("sign", "missing --key KEY (the secret key to sign with)");
        mk_error err = {0};
        _cleanup_seckey_ mk_seckey *key = NULL;
        if (mk_seckey_load(a->key, &key, &err) < 0 || mk_sign_file(key, a->operand, NULL, a->comment, &err) < 0)
                return cli_fail(&err);
        fputs("Signed ", stdout);
        cli_put(stdout, a->operand, 0);
        printf(" with key %s: ", mk_seckey_id_str(key));
        cli_put(stdout, a->operand, 0);
        fputs(".minisig\n", stdout);
        return CLI_OK;
}

static int verify_sig(const sign_args *a)
{
        if (a->n_pubs == 0)
                return cli_usage("verify-sig", "missing --pub PUB (the public key to trust)");
        mk_error err = {0};
        _cleanup_keyset_ mk_keyset *set = NULL;
        if (mk_keyset_new(&set, &err) < 0)
                return cli_fail(&err);
        for (size_t i = 0; i < a->n_pubs; i++)
                if (mk_keyset_add_file(set, a->pubs[i], &err) < 0)
                        return cli_fail(&err);
        _cleanup_verified_ mk_verified v = {0};
        if (mk_verify_file(set, a->operand, a->sig, &v, &err) != MK_VERIFY_OK)
                return cli_fail(&err);
        /* The trusted comment is the signer's text, read from the signature file: escaped like the rest. */
        printf("Signature by key %s verified%s: ", mk_pubkey_id_str(v.signer),
               v.legacy ? " (legacy, not prehashed)" : "");
        cli_put(stdout, a->operand, 0);
        fputs("\nTrusted comment: ", stdout);
        cli_put(stdout, v.trusted_comment ? v.trusted_comment : "", 0);
        fputc('\n', stdout);
        return CLI_OK;
}

int cli_keygen(int argc, char **argv)
{
        return run_verb(argc, argv, "", keygen);
}

int cli_sign(int argc, char **argv)
{
        return run_verb(argc, argv, "k:c:", sign);
}

int cli_verify_sig(int argc, char **argv)
{
        return run_verb(argc, argv, "p:s:", verify_sig);
}
