/* SPDX-License-Identifier: MIT */
/* mkimage: the command line. Parses the verb and hands over; no work here. */
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "builder/cli/cli.h"
#include "builder/image/output.h"

static const cli_verb verbs[] = {
        {"build", cli_build, "build MODEL.yaml [-o OUT.img]  build a disk image", cli_build_help, true},
        {"inspect", cli_inspect, "inspect IMAGE [--json]        show an image's partitions", cli_inspect_help, true},
        {"keygen", cli_keygen, "keygen PREFIX                 write a key pair PREFIX.key, PREFIX.pub", cli_keygen_help,
         false},
        {"sign", cli_sign, "sign FILE --key KEY           write FILE.minisig", cli_sign_help, false},
        {"verify-sig", cli_verify_sig, "verify-sig FILE --pub PUB     check FILE.minisig", cli_verify_sig_help, false},
        {"verify", cli_verify, "verify IMAGE --pub PUB        check an image against its manifests", cli_verify_help,
         true},
        {"component", cli_component, "component pack SRC -o X.comp  pack or show a component", cli_component_help,
         false},
        {"bundle", cli_bundle, "bundle MODEL.yaml -o X.mkb     a signed update bundle", cli_bundle_help, true},
        {"sb-keygen", cli_sb_keygen, "sb-keygen DIR [--cn PREFIX]   a development Secure Boot key set (PK, KEK, db)",
         cli_sb_keygen_help, false},
        {"factory", cli_factory, "factory MODEL --devices F -o DIR  per-device images for a production line",
         cli_factory_help, false},
};

static void usage(FILE *f)
{
        fprintf(f, "Usage: mkimage VERB [OPTIONS] ...\n"
                   "       mkimage MODEL.yaml [-o OUT.img]   (same as build)\n\n"
                   "Builds immutable, verifiable GPT disk images from a device model.\n\nVerbs:\n");
        for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++)
                fprintf(f, "  %s\n", verbs[i].synopsis);
        fprintf(f, "\nmkimage VERB --help shows a verb's options. Exit status: 0 success,\n"
                   "1 build or verification error, 2 usage error. See mkimage(1).\n");
}

/* --json among args (before any "--"). */
static int wants_json(int argc, char **argv)
{
        for (int i = 1; i < argc; i++) {
                if (!strcmp(argv[i], "--"))
                        return 0;
                if (!strcmp(argv[i], "--json"))
                        return 1;
        }
        return 0;
}

static void on_signal(int sig)
{
        mk_output_abort_all(); /* async-signal-safe: unlinks temporaries */
        signal(sig, SIG_DFL);
        raise(sig);
}

int main(int argc, char **argv)
{
        struct sigaction sa = {.sa_handler = on_signal};
        sigemptyset(&sa.sa_mask);
        sigaction(SIGINT, &sa, NULL);
        sigaction(SIGTERM, &sa, NULL);
        sigaction(SIGHUP, &sa, NULL);
        /* Past `ulimit -f`, write() fails with EFBIG and the error path
         * removes the temporary file; the default action would kill us and
         * leave it behind. */
        signal(SIGXFSZ, SIG_IGN);
        /* libsquashfs allocates a buffer of block size + header per data
         * block; at 128 KiB blocks that is just above glibc's mmap
         * threshold, so every block cost an mmap, 32 page faults and a
         * munmap (a 10 GiB sparse file packed 4x slower). */
        mallopt(M_MMAP_THRESHOLD, 4 << 20);

        if (argc < 2) {
                usage(stderr);
                return CLI_USAGE;
        }
        const char *v = argv[1];
        if (!strcmp(v, "--help") || !strcmp(v, "-h") || !strcmp(v, "help")) {
                usage(stdout);
                return CLI_OK;
        }
        if (!strcmp(v, "--version")) {
                printf("mkimage %s\n", MKIMAGE_VERSION);
                return CLI_OK;
        }
        for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++) {
                if (strcmp(v, verbs[i].name) != 0)
                        continue;
                cli_json = verbs[i].json && wants_json(argc - 1, argv + 1);
                if (cli_wants_help(argc - 1, argv + 1)) {
                        fputs(verbs[i].help, stdout);
                        return CLI_OK;
                }
                return verbs[i].run(argc - 1, argv + 1);
        }
        size_t n = strlen(v);
        if (n > 5 && !strcmp(v + n - 5, ".yaml")) {
                argv[0] = "build";
                cli_json = wants_json(argc, argv);
                if (cli_wants_help(argc, argv)) {
                        fputs(cli_build_help, stdout);
                        return CLI_OK;
                }
                return cli_build(argc, argv);
        }
        fputs("mkimage: unknown verb '", stderr);
        cli_put(stderr, v, 0);
        fputs("' (run 'mkimage --help' for the list)\n", stderr);
        return CLI_USAGE;
}
