/* SPDX-License-Identifier: MIT */
/* `mkimage component pack|show`: argument parsing and printing only. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "builder/cli/cli.h"
#include "builder/component/component.h"
#include "builder/squashfs/sqfs-write.h"
#include "builder/squashfs/sqfs-compressor.h"
#include "signing/base/escape.h"

const char cli_component_help[] =
        "Usage: mkimage component pack SRC -o NAME.comp [--meta component.yaml] [OPTIONS]\n"
        "       mkimage component show NAME.comp [--list] [--packages]\n\n"
        "pack: makes a component (a squashfs image holding the payload tree and\n"
        "meta/component.yaml) from SRC, a directory or a tar archive (plain, gzip,\n"
        "xz or zstd). Without --meta, SRC must hold meta/component.yaml. The output\n"
        "is deterministic: sorted entries, every time stamp = $SOURCE_DATE_EPOCH\n"
        "(0 when unset), owners root:root for a directory, from the archive for a tar.\n\n"
        "  -o, --output FILE     the component to write (required)\n"
        "  -m, --meta FILE       the component metadata (see docs/component.md)\n"
        "  -c, --compressor NAME zstd (default), xz, gzip or lz4\n"
        "  -l, --level N         compression level (default: the compressor's)\n"
        "  -b, --block-size N    data block size in bytes (default 131072)\n"
        "  -j, --workers N       compression threads (default: the number of cores);\n"
        "                        the output is the same for any number\n"
        "  -v, --verbose         say what was packed (and whether from the cache)\n"
        "      --cache DIR       content-addressed pack cache: an unchanged SRC (same\n"
        "                        tree, metadata and options) is copied from DIR, not\n"
        "                        compressed again (-v says so)\n\n"
        "show: prints a component's metadata (its declared setuid files and file capabilities too); --list adds its\n"
        "payload, one entry a line; --packages the packages it records.\n\n"
        "Exit status: 0 done, 1 error (nothing is left at NAME.comp), 2 usage error.\n";

static int parse_u32(const char *s, uint32_t max, uint32_t *ret)
{
        char *end;
        errno = 0;
        unsigned long long v = strtoull(s, &end, 10);
        if (!*s || *end || errno || v > max || s[0] == '-')
                return -1;
        *ret = (uint32_t)v;
        return 0;
}

static int pack(int argc, char **argv)
{
        static const struct option opts[] = {
                {"output", required_argument, NULL, 'o'},
                {"meta", required_argument, NULL, 'm'},
                {"compressor", required_argument, NULL, 'c'},
                {"level", required_argument, NULL, 'l'},
                {"block-size", required_argument, NULL, 'b'},
                {"workers", required_argument, NULL, 'j'},
                {"cache", required_argument, NULL, 'C'},
                {"verbose", no_argument, NULL, 'v'},
                {0},
        };
        component_pack_opts o = {0};
        const char *out = NULL;
        uint32_t v;
        int c;
        optind = 1;
        opterr = 0;
        while ((c = getopt_long(argc, argv, "o:m:c:l:b:j:v", opts, NULL)) != -1) {
                switch (c) {
                case 'o':
                        out = optarg;
                        break;
                case 'm':
                        o.meta_path = optarg;
                        break;
                case 'C':
                        o.cache_dir = optarg;
                        break;
                case 'v':
                        cli_verbose = 1;
                        break;
                case 'c':
                        if (mk_sqfs_compressor_from_name(optarg, &o.sq.compressor) < 0)
                                return cli_usage("component pack", "unknown compressor '%s' (use one of %s)", optarg,
                                                 mk_sqfs_compressor_names());
                        break;
                case 'l':
                        if (parse_u32(optarg, 99, &v) < 0 || v == 0)
                                return cli_usage("component pack", "--level needs a positive number, not '%s'", optarg);
                        o.sq.level = (int)v;
                        break;
                case 'b':
                        if (parse_u32(optarg, UINT32_MAX, &o.sq.block_size) < 0 || !o.sq.block_size)
                                return cli_usage("component pack", "--block-size needs a number of bytes, not '%s'",
                                                 optarg);
                        break;
                case 'j':
                        if (parse_u32(optarg, 256, &v) < 0 || v == 0)
                                return cli_usage("component pack", "--workers needs a number from 1 to 256, not '%s'",
                                                 optarg);
                        o.sq.workers = v;
                        break;
                default:
                        return cli_usage("component pack", "unknown or incomplete option '%s'", argv[optind - 1]);
                }
        }
        if (optind != argc - 1)
                return cli_usage("component pack", optind == argc ? "SRC is missing" : "give exactly one SRC");
        if (!out)
                return cli_usage("component pack", "-o NAME.comp is missing");
        uint64_t sde;
        if (cli_source_date_epoch(UINT32_MAX, &sde) < 0)
                return CLI_USAGE;
        o.sq.mtime = (uint32_t)sde;
        mk_error err = {0};
        component_meta *m = NULL;
        if (mk_component_pack(argv[optind], out, &o, &m, &err) < 0)
                return cli_fail(&err);
        char *line = NULL;
        if (cli_verbose &&
            asprintf(&line, "packed %s %s (%s) into %s%s", m->name, m->version, mk_component_type_name(m->type), out,
                     o.cache_hit ? " (from the pack cache)" : "") >= 0)
                cli_log_line(NULL, line);
        free(line);
        mk_component_meta_free(m);
        return CLI_OK;
}

static const char *kind_char(const fsnode *n)
{
        switch (mk_fsnode_get_kind(n)) {
        case FSNODE_DIR:
                return "d";
        case FSNODE_SYMLINK:
                return "l";
        case FSNODE_CHRDEV:
                return "c";
        case FSNODE_BLKDEV:
                return "b";
        case FSNODE_FIFO:
                return "p";
        case FSNODE_SOCKET:
                return "s";
        case FSNODE_HARDLINK:
                return "h";
        default:
                return "-";
        }
}

static int print_entry(fsnode *n, void *ctx)
{
        if (!mk_fsnode_parent(n))
                return 0;
        char *p = mk_fsnode_path(n);
        if (!p)
                return -ENOMEM;
        printf("%s %04o %u %u %" PRIu64 " /", kind_char(n), mk_fsnode_mode(n) & 07777, mk_fsnode_uid(n),
               mk_fsnode_gid(n), mk_fsnode_file_size(n));
        mk_fputs_quoted(p, stdout);
        free(p);
        if (mk_fsnode_symlink_target(n)) {
                fputs(" -> ", stdout);
                mk_fputs_quoted(mk_fsnode_symlink_target(n), stdout);
        }
        if (mk_fsnode_hardlink_target(n)) {
                p = mk_fsnode_path(mk_fsnode_hardlink_target(n));
                fputs(" link to /", stdout);
                mk_fputs_quoted(p ? p : "?", stdout);
                free(p);
        }
        putchar('\n');
        return 0;
}

static int show(int argc, char **argv)
{
        int list = 0, packages = 0;
        const char *path = NULL;
        for (int i = 1; i < argc; i++) {
                if (!strcmp(argv[i], "--list"))
                        list = 1;
                else if (!strcmp(argv[i], "--packages"))
                        packages = 1;
                else if (argv[i][0] == '-' || path)
                        return cli_usage("component show", "unexpected argument '%s'", argv[i]);
                else
                        path = argv[i];
        }
        if (!path)
                return cli_usage("component show", "NAME.comp is missing");
        mk_error err = {0};
        component *c;
        if (mk_component_open(path, &c, &err) < 0)
                return cli_fail(&err);
        /* The whole tree is read and checked before anything is printed: a component that build would
         * refuse (bad names, undeclared setuid files, a damaged tree) is refused here too, with nothing
         * on stdout. */
        fstree *t = NULL;
        int r = mk_fstree_new(path, &t);
        if (r >= 0)
                r = mk_component_load_tree(c, t, NULL, 0, &err);
        if (r >= 0) {
                const component_meta *m = mk_component_get_meta(c);
                /* The metadata is the component's: every value escaped, one line each (source only when set). */
                const char *keys[] = {"name", "version", "type", "license", "supplier", "source"};
                const char *vals[] = {m->name,    m->version,  mk_component_type_name(m->type),
                                      m->license, m->supplier, m->source};
                for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
                        if (!vals[i])
                                continue;
                        printf("%s: ", keys[i]);
                        mk_fputs_quoted(vals[i], stdout);
                        putchar('\n');
                }
                /* What the component may hold beyond plain files, as its signed metadata declares it. */
                for (int k = 0; k < 2; k++) {
                        char **paths = k ? m->caps : m->setuid;
                        size_t n = k ? m->n_caps : m->n_setuid;
                        for (size_t i = 0; i < n; i++) {
                                fputs(k ? "capabilities: /" : "setuid: /", stdout);
                                mk_fputs_quoted(paths[i], stdout);
                                putchar('\n');
                        }
                }
                if (m->n_packages)
                        printf("packages: %zu (component show --packages lists them)\n", m->n_packages);
                for (size_t i = 0; packages && i < m->n_packages; i++) {
                        fputs("  ", stdout);
                        mk_fputs_quoted(m->packages[i].name, stdout);
                        putchar(' ');
                        mk_fputs_quoted(m->packages[i].version, stdout);
                        putchar(' ');
                        mk_fputs_quoted(m->packages[i].arch, stdout);
                        putchar('\n');
                }
        }
        if (r >= 0 && list) {
                mk_fstree_sort(t);
                r = mk_fstree_walk(t, print_entry, NULL);
        }
        mk_fstree_free(t);
        mk_component_close(c);
        if (r < 0 && !mk_error_isset(&err))
                mk_error_set(&err, -r, "out of memory");
        return r < 0 ? cli_fail(&err) : CLI_OK;
}

int cli_component(int argc, char **argv)
{
        if (argc < 2)
                return cli_usage("component", "give a subcommand: pack or show");
        if (!strcmp(argv[1], "pack"))
                return pack(argc - 1, argv + 1);
        if (!strcmp(argv[1], "show"))
                return show(argc - 1, argv + 1);
        return cli_usage("component", "unknown subcommand '%s' (use pack or show)", argv[1]);
}
