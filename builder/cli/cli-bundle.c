/* SPDX-License-Identifier: MIT */
/* `mkimage bundle`: argument parsing and printing only (builder/bundle/ does the work). */
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "builder/build/build.h"
#include "builder/bundle/bundle-delta.h"
#include "builder/bundle/bundle-write.h"
#include "builder/cli/cli.h"
#include "signing/bundle/bundle.h"
#include "signing/manifest/manifest.h"

const char cli_bundle_help[] =
        "Usage: mkimage bundle MODEL.yaml [-o OUT.mkb] [--from OLD] [--sign-key KEY] [--layout L]\n"
        "                     [-j N]\n"
        "       mkimage bundle IMAGE --sign-key KEY [--from OLD] [-o OUT.mkb]\n"
        "       mkimage bundle --info BUNDLE [--pub KEY.pub] [--json]\n\n"
        "Writes a signed update bundle: one file with everything a root slot needs, in\n"
        "the order a device installs it (docs/update.md): the slot manifests of slots a\n"
        "and b, their dm-verity trees, the boot files and the root squashfs, under a\n"
        "signed bundle manifest. From MODEL.yaml the image is built first (as `mkimage\n"
        "build` would, in a temporary folder beside OUT); from IMAGE (built by mkimage,\n"
        "both slots populated) the bundle is cut from it: its bytes are the slots'.\n"
        "The same inputs and SOURCE_DATE_EPOCH give the same bytes.\n\n"
        "With --from OLD (an earlier image or full bundle of the model) the bundle is a\n"
        "delta for devices running OLD: every squashfs block of the root that OLD's root\n"
        "holds is a range the device copies from its running slot, boot files both of\n"
        "OLD's slots have stay out; the device checks every page against the new tree.\n\n"
        "  -o, --output FILE     the bundle (default here: MODEL.mkb for MODEL.yaml,\n"
        "                        IMAGE.mkb for IMAGE.img)\n"
        "      --sign-key KEY    the minisign secret key that signs the bundle manifest;\n"
        "                        it must be the key that signed the slot manifests\n"
        "                        (default for a model: its signing-key)\n"
        "      --from OLD        a delta from OLD (an image or a full bundle)\n"
        "      --layout FILE     build with this layout instead of the model's\n"
        "  -j, --jobs N          worker threads for the build\n"
        "      --info BUNDLE     show what BUNDLE holds; with --pub the signatures are\n"
        "                        checked first (`mkimage verify BUNDLE --pub` checks all)\n"
        "      --pub FILE        the public key for --info\n"
        "      --json            print the result as JSON\n"
        "  -v, --verbose         print what is being done\n"
        "  -h, --help            show this help\n\n"
        "Exit status: 0 done, 1 error, 2 usage error.\n";

static bool is_model(const char *path)
{
        size_t n = strlen(path);
        return (n > 5 && !strcmp(path + n - 5, ".yaml")) || (n > 4 && !strcmp(path + n - 4, ".yml"));
}

/* A file part's path on the ESP, from the slot manifests' boot lists ("" when none lists its sha256). */
static const char *part_path(mk_manifest *const m[2], const mk_bundle_part *p)
{
        for (unsigned s = 0; s < 2; s++)
                for (size_t k = 0; p->kind == MK_BPART_FILE && k < m[s]->n_boot; k++)
                        if (!strcmp(m[s]->boot[k].sha256, p->sha256))
                                return m[s]->boot[k].path;
        return "";
}

static void print_info(const mk_bundle *b, mk_manifest *const m[2], bool checked, bool json)
{
        const mk_bundle_manifest *bm = b->manifest;
        if (json) {
                cli_json_printed();
                printf("{\"bundle\":");
                cli_json_string(stdout, b->name);
                printf(",\"format\":%u,\"size\":%llu,\"model\":", b->header.format, (unsigned long long)bm->size);
                cli_json_string(stdout, bm->model);
                printf(",\"brand\":");
                cli_json_string(stdout, bm->brand);
                printf(",\"version\":%llu,\"created\":\"%s\",\"signed-by\":", (unsigned long long)bm->version,
                       bm->created);
                if (checked)
                        printf("\"%s\"", b->signer);
                else
                        printf("null");
                if (bm->delta)
                        printf(",\"delta-from\":{\"version\":%llu,\"root-size\":%llu,\"root-sha256\":\"%s\"}",
                               (unsigned long long)bm->from.version, (unsigned long long)bm->from.root_size,
                               bm->from.root_sha256);
                printf(",\"slots\":[");
                for (unsigned s = 0; s < 2; s++)
                        printf("%s{\"slot\":\"%c\",\"root-hash\":\"%s\",\"root-size\":%llu}", s ? "," : "", 'a' + s,
                               m[s]->root.verity.root_hash, (unsigned long long)m[s]->root.size);
                printf("],\"parts\":[");
                for (size_t i = 0; i < bm->n_parts; i++) {
                        const mk_bundle_part *p = &bm->parts[i];
                        printf("%s{\"kind\":\"%s\",", i ? "," : "", mk_bundle_kind_str(p->kind));
                        if (p->slot)
                                printf("\"slot\":\"%c\",", p->slot);
                        printf("\"offset\":%llu,\"size\":%llu,\"sha256\":\"%s\"", (unsigned long long)p->offset,
                               (unsigned long long)p->size, p->sha256);
                        if (p->kind == MK_BPART_FILE) {
                                printf(",\"path\":");
                                cli_json_string(stdout, part_path(m, p));
                        }
                        printf("}");
                }
                printf("]}\n");
                return;
        }
        cli_put(stdout, b->name, 0);
        printf(": mkimage update bundle, format %u, %llu bytes\n", b->header.format, (unsigned long long)bm->size);
        printf("  model    ");
        cli_put(stdout, bm->model, 0);
        printf(" (brand ");
        cli_put(stdout, bm->brand, 0);
        printf("), version %llu, created %s\n", (unsigned long long)bm->version, bm->created);
        if (checked)
                printf("  signed   by %s (signatures checked)\n", b->signer);
        else
                printf("  signed   not checked (give --pub KEY.pub)\n");
        if (bm->delta)
                printf("  delta    from version %llu (root %llu bytes, sha256 %.16s…): installs only on a device "
                       "running it\n",
                       (unsigned long long)bm->from.version, (unsigned long long)bm->from.root_size,
                       bm->from.root_sha256);
        for (unsigned s = 0; s < 2; s++)
                printf("  slot %c   root %llu bytes, dm-verity root hash %s\n", 'a' + s,
                       (unsigned long long)m[s]->root.size, m[s]->root.verity.root_hash);
        printf("  components");
        for (size_t i = 0; i < m[0]->n_components; i++) {
                printf("%s", i ? ", " : " ");
                cli_put(stdout, m[0]->components[i].name, 0);
                printf(" ");
                cli_put(stdout, m[0]->components[i].version, 0);
        }
        printf("\n  %-10s %-5s %12s %12s  %s\n", "part", "slot", "offset", "size", "sha256");
        for (size_t i = 0; i < bm->n_parts; i++) {
                const mk_bundle_part *p = &bm->parts[i];
                const char *path = part_path(m, p);
                printf("  %-10s %-5c %12llu %12llu  %.16s… ", mk_bundle_kind_str(p->kind), p->slot ? p->slot : '-',
                       (unsigned long long)p->offset, (unsigned long long)p->size, p->sha256);
                cli_put(stdout, path, 0);
                printf("\n");
        }
}

static int info(const char *path, const char *pub, bool json)
{
        mk_error err = {0};
        _cleanup_pubkey_ mk_pubkey *key = NULL;
        if (pub && mk_pubkey_load(pub, &key, &err) < 0)
                return cli_fail(&err);
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
                mk_error_set(&err, errno, "%s: %s", path, strerror(errno));
                return cli_fail(&err);
        }
        mk_bundle *b = NULL;
        mk_manifest *m[2] = {NULL, NULL};
        int r = mk_bundle_open(path, mk_bundle_read_fd, &fd, NULL, key, &b, &err);
        if (r >= 0)
                r = mk_bundle_slot_manifest(b, 0, key, &m[0], &err);
        if (r >= 0)
                r = mk_bundle_slot_manifest(b, 1, key, &m[1], &err);
        close(fd);
        if (r >= 0)
                print_info(b, m, key != NULL, json);
        mk_manifest_free(m[0]);
        mk_manifest_free(m[1]);
        mk_bundle_free(b);
        return r < 0 ? cli_fail(&err) : CLI_OK;
}

/* The default output: MODEL-NAME.mkb for a model, IMAGE without .img plus .mkb for an image. */
static char *default_out(const char *in, bool model)
{
        const char *base = strrchr(in, '/') ? strrchr(in, '/') + 1 : in;
        size_t n = strlen(base);
        const char *ext = model ? (n > 5 && !strcmp(base + n - 5, ".yaml") ? ".yaml" : ".yml") : ".img";
        if (n > strlen(ext) && !strcmp(base + n - strlen(ext), ext))
                n -= strlen(ext);
        char *out = NULL;
        return asprintf(&out, "%.*s" MK_BUNDLE_SUFFIX, (int)n, base) < 0 ? NULL : out;
}

int cli_bundle(int argc, char **argv)
{
        static const struct option opts[] = {
                {"output", required_argument, NULL, 'o'},
                {"sign-key", required_argument, NULL, 'k'},
                {"layout", required_argument, NULL, 'L'},
                {"jobs", required_argument, NULL, 'j'},
                {"info", required_argument, NULL, 'I'},
                {"pub", required_argument, NULL, 'P'},
                {"json", no_argument, NULL, 'J'},
                {"verbose", no_argument, NULL, 'v'},
                {"from", required_argument, NULL, 'F'},
                {"help", no_argument, NULL, 'h'},
                {0},
        };
        mk_build_opts bo = {0};
        mk_bundle_write_opts o = {0};
        const char *info_path = NULL, *pub = NULL;
        int json = 0, c;
        optind = 1;
        opterr = 0;
        while ((c = getopt_long(argc, argv, "o:vhj:", opts, NULL)) != -1) {
                switch (c) {
                case 'o':
                        o.out_path = optarg;
                        break;
                case 'k':
                        bo.sign_key = o.sign_key = optarg;
                        break;
                case 'L':
                        bo.layout_path = optarg;
                        break;
                case 'j':
                        if (cli_parse_jobs("bundle", optarg, &bo.jobs))
                                return CLI_USAGE;
                        break;
                case 'I':
                        info_path = optarg;
                        break;
                case 'P':
                        pub = optarg;
                        break;
                case 'F':
                        o.from_path = optarg;
                        break;
                case 'J':
                        json = 1;
                        break;
                case 'v':
                        cli_verbose = 1;
                        break;
                case 'h':
                        fputs(cli_bundle_help, stdout);
                        return CLI_OK;
                default:
                        return cli_usage("bundle", "unknown or incomplete option '%s'", argv[optind - 1]);
                }
        }
        if (info_path) {
                if (optind != argc || o.out_path || o.sign_key || bo.layout_path || o.from_path)
                        return cli_usage("bundle", "--info takes a BUNDLE and at most --pub and --json");
                return info(info_path, pub, json);
        }
        if (pub)
                return cli_usage("bundle", "--pub goes with --info (to check a bundle: mkimage verify BUNDLE --pub)");
        if (optind + 1 != argc)
                return cli_usage("bundle", optind == argc ? "name one MODEL.yaml or IMAGE" : "give exactly one input");
        const char *in = argv[optind];
        bool model = is_model(in);
        if (!model && !o.sign_key)
                return cli_usage("bundle", "a bundle cut from an image needs --sign-key KEY (the key that signed it)");
        if (!model && bo.layout_path)
                return cli_usage("bundle", "--layout is for a MODEL.yaml, not an image");
        uint64_t sde;
        if (cli_source_date_epoch(UINT32_MAX, &sde) < 0)
                return CLI_USAGE;
        char *def = NULL;
        if (!o.out_path && !(o.out_path = def = default_out(in, model)))
                return CLI_FAILED;
        o.source_date_epoch = bo.source_date_epoch = sde;
        if (cli_progress_start())
                o.progress = bo.progress = cli_progress;
        if (cli_verbose)
                bo.log = cli_log_line;
        bo.warn = cli_warn_line;
        bo.stage = cli_build_stage;
        bo.model_path = in;
        o.image_path = in;
        mk_bundle_write_result res;
        mk_error err = {0};
        int r = model ? mk_bundle_from_model(&bo, &o, &res, &err) : mk_bundle_write(&o, &res, &err);
        cli_progress_erase();
        if (r < 0) {
                free(def);
                return cli_fail(&err);
        }
        if (json) {
                cli_json_printed();
                printf("{\"ok\":true,\"bundle\":");
                cli_json_string(stdout, o.out_path);
                printf(",\"size\":%llu,\"version\":%llu,\"parts\":%u,\"root-size\":%llu,\"delta\":%s,"
                       "\"root-shipped\":%llu,\"ranges\":%zu}\n",
                       (unsigned long long)res.size, (unsigned long long)res.version, res.n_parts,
                       (unsigned long long)res.root_size, res.delta ? "true" : "false",
                       (unsigned long long)res.root_shipped, res.n_ranges);
        } else {
                cli_put(stdout, o.out_path, 0);
                printf(": %llu bytes, version %llu, %u parts", (unsigned long long)res.size,
                       (unsigned long long)res.version, res.n_parts);
                if (res.delta) {
                        printf("; a delta: %llu of the root's %llu bytes shipped, the rest in %zu ranges from ",
                               (unsigned long long)res.root_shipped, (unsigned long long)res.root_size, res.n_ranges);
                        cli_put(stdout, o.from_path, 0);
                }
                printf("\n");
        }
        free(def);
        return CLI_OK;
}
