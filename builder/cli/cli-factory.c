/* SPDX-License-Identifier: MIT */
/* `mkimage factory`: argument parsing and the summary line only (builder/factory/factory.c does the work). */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "builder/cli/cli.h"
#include "builder/factory/factory.h"

const char cli_factory_help[] = "Usage: mkimage factory MODEL.yaml --devices FILE -o OUTDIR --brand-key KEY\n"
                                "                       [--jobs N] [--shard I/N] [--image-digest] [--sign-key KEY]\n"
                                "                       [--layout FILE] [-v]\n\n"
                                "Builds one image per device for a production line: the common part (root slots,\n"
                                "verity, ESP, signed manifests) once, then per device a clone of it with the\n"
                                "device's own data key and LUKS2 header, its identity key pair and values on the\n"
                                "data partition, and its serial record (signed with the brand key) on the ESP.\n\n"
                                "  --devices FILE     CSV with a header row, or JSON Lines: 'serial' (unique,\n"
                                "                     [A-Za-z0-9._-]{1,64}) and the model's factory.fields\n"
                                "  -o, --output DIR   the output folder (created; only our own files may be in it)\n"
                                "  --brand-key KEY    minisign secret key that signs the serial records\n"
                                "  --sign-key KEY     manifest signing key (default: the model's signing-key)\n"
                                "  --layout FILE      use this layout instead of the model's\n"
                                "  -j, --jobs N       devices in parallel, each in a worker process (default:\n"
                                "                     the number of cores)\n"
                                "  --shard I/N        build only the devices whose position p (from 0) has\n"
                                "                     p mod N = I, for N workers over one list (0 <= I < N)\n"
                                "  --image-digest     also record each whole image's SHA-256 (what sha256sum\n"
                                "                     prints; it hashes the holes too, the slowest step)\n"
                                "  -v, --verbose      print what is being done\n"
                                "  -h, --help         show this help\n\n"
                                "Writes OUTDIR/SERIAL.img, SERIAL.img.bmap (for bmaptool copy), SERIAL.data-key\n"
                                "(0600), and one line per complete device in OUTDIR/factory-record.jsonl. A device\n"
                                "is complete when its line is there: a re-run skips it and builds the rest.\n"
                                "See docs/factory.md. Exit status: 0 done, 1 error, 2 usage error.\n";

static int parse_shard(const char *s, unsigned *i, unsigned *n)
{
        char *end;
        errno = 0;
        unsigned long a = strtoul(s, &end, 10);
        if (errno || end == s || *end != '/')
                return -1;
        const char *t = end + 1;
        unsigned long b = strtoul(t, &end, 10);
        if (errno || end == t || *end || b < 1 || b > 100000 || a >= b)
                return -1;
        *i = (unsigned)a;
        *n = (unsigned)b;
        return 0;
}

static double now(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int cli_factory(int argc, char **argv)
{
        static const struct option opts[] = {
                {"output", required_argument, NULL, 'o'},
                {"devices", required_argument, NULL, 'd'},
                {"brand-key", required_argument, NULL, 'b'},
                {"sign-key", required_argument, NULL, 'k'},
                {"layout", required_argument, NULL, 'L'},
                {"jobs", required_argument, NULL, 'j'},
                {"shard", required_argument, NULL, 's'},
                {"verbose", no_argument, NULL, 'v'},
                {"image-digest", no_argument, NULL, 'I'},
                {"help", no_argument, NULL, 'h'},
                {0},
        };
        mk_factory_opts o = {.shard_count = 1};
        int c;
        optind = 1;
        opterr = 0;
        while ((c = getopt_long(argc, argv, "o:j:vh", opts, NULL)) != -1) {
                switch (c) {
                case 'o':
                        o.out_dir = optarg;
                        break;
                case 'd':
                        o.devices_path = optarg;
                        break;
                case 'b':
                        o.brand_key = optarg;
                        break;
                case 'k':
                        o.sign_key = optarg;
                        break;
                case 'L':
                        o.layout_path = optarg;
                        break;
                case 'j':
                        if (cli_parse_jobs("factory", optarg, &o.jobs))
                                return CLI_USAGE;
                        break;
                case 's':
                        if (parse_shard(optarg, &o.shard_index, &o.shard_count) < 0)
                                return cli_usage("factory",
                                                 "--shard takes I/N with 0 <= I < N (e.g. 0/4 for the first of four "
                                                 "workers), not '%s'",
                                                 optarg);
                        break;
                case 'I':
                        o.image_digest = true;
                        break;
                case 'v':
                        cli_verbose = 1;
                        break;
                case 'h':
                        fputs(cli_factory_help, stdout);
                        return CLI_OK;
                default:
                        return cli_usage("factory", "unknown or incomplete option '%s'", argv[optind - 1]);
                }
        }
        if (optind + 1 != argc)
                return cli_usage("factory", optind == argc ? "name one MODEL.yaml" : "give exactly one MODEL.yaml");
        if (!o.devices_path)
                return cli_usage("factory", "name the device list with --devices FILE");
        if (!o.out_dir)
                return cli_usage("factory", "name the output folder with -o OUTDIR");
        if (!o.brand_key)
                return cli_usage("factory", "name the key that signs the serial records with --brand-key KEY");
        o.model_path = argv[optind];
        if (cli_source_date_epoch(UINT32_MAX, &o.source_date_epoch) < 0)
                return CLI_USAGE;
        if (cli_verbose)
                o.log = cli_log_line;
        o.warn = cli_warn_line;
        if (cli_progress_start())
                o.progress = cli_progress;
        mk_factory_result res;
        mk_error err = {0};
        double t0 = now();
        int r = mk_factory(&o, &res, &err);
        cli_progress_erase();
        if (r < 0)
                return cli_fail(&err);
        double dt = now() - t0;
        cli_put(stdout, o.out_dir, 0);
        printf(": %lu devices in this shard: %lu built, %lu already complete (%.2f s, %.1f images/s)\n", res.in_shard,
               res.built, res.skipped, dt, dt > 0 ? (double)res.built / dt : 0.0);
        return CLI_OK;
}
