/* SPDX-License-Identifier: MIT */
/* `mkimage build` and `mkimage inspect`: argument parsing and printing only. */
#include <errno.h>
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "builder/build/build.h"
#include "builder/cli/cli.h"
#include "builder/image/inspect.h"
#include "signing/base/escape.h"
#include "signing/base/macro.h"

const char cli_build_help[] = "Usage: mkimage build MODEL.yaml [-o OUT.img] [--layout LAYOUT.yaml] [-v] [--json]\n"
                              "       mkimage MODEL.yaml [OPTIONS]\n\n"
                              "Builds a GPT disk image from a device model.\n\n"
                              "  -o, --output FILE     the image to write (default: MODEL-NAME.img here)\n"
                              "      --layout FILE     use this layout instead of the model's\n"
                              "      --sign-key KEY    sign the manifests with this minisign secret key\n"
                              "                        (default: the model's signing-key)\n"
                              "  -j, --jobs N          worker threads (default: the number of cores)\n"
                              "      --data-key FILE   the key of the LUKS2 data partition (32-512 bytes, mode 0600)\n"
                              "      --data-key-out FILE  generate a 64-byte data key and write it to FILE (0600)\n"
                              "      --sb-key KEY      Secure Boot: sign systemd-boot and the UKIs with this db key\n"
                              "                        (PEM, RSA; default: the model's secure-boot key)\n"
                              "      --sb-cert CERT    the db key's certificate (PEM; default: the model's)\n"
                              "      --sb-enroll DIR   put DIR's PK.auth, KEK.auth, db.auth on the ESP for\n"
                              "                        systemd-boot to enrol (development images only)\n"
                              "  -v, --verbose         print what is being done\n"
                              "      --json            print the result as JSON\n"
                              "  -h, --help            show this help\n\n"
                              "Writes OUT, OUT.manifest.yaml (slot a) and OUT.manifest-b.yaml (slot b), each\n"
                              "manifest with a .minisig. Everything goes to temporary files beside OUT that are\n"
                              "renamed into place only when complete. Time stamps come from SOURCE_DATE_EPOCH\n"
                              "(0 when unset). Exit status: 0 built, 1 error, 2 usage error.\n";

const char cli_inspect_help[] = "Usage: mkimage inspect IMAGE [--json]\n\n"
                                "Shows the partition table of an image and what each partition holds.\n\n"
                                "      --json            print JSON instead of a table\n"
                                "  -h, --help            show this help\n";

/*
 * MKIMAGE_STALL_AT=STAGE makes the build wait at that stage until a signal
 * arrives: the interruption tests use it to stop a build at a known point.
 * MKIMAGE_STAGE_TIMES=1 prints the time each stage starts at (seconds since
 * the build started, monotonic clock) on stderr: where a build's time goes.
 */
void cli_build_stage(void *ud, const char *stage)
{
        static struct timespec t0;
        if (getenv("MKIMAGE_STAGE_TIMES")) {
                cli_progress_erase();
                struct timespec t;
                clock_gettime(CLOCK_MONOTONIC, &t);
                if (!t0.tv_sec && !t0.tv_nsec)
                        t0 = t;
                fprintf(stderr, "mkimage: %7.3f s  stage %s\n",
                        (double)(t.tv_sec - t0.tv_sec) + (double)(t.tv_nsec - t0.tv_nsec) / 1e9, stage);
        }
        cli_progress(ud, stage, 0, 0, false);
        const char *at = getenv("MKIMAGE_STALL_AT");
        if (!at || strcmp(at, stage) != 0)
                return;
        fprintf(stderr, "mkimage: stalled at stage '%s' (MKIMAGE_STALL_AT)\n", stage);
        for (;;)
                pause();
}

int cli_build(int argc, char **argv)
{
        static const struct option opts[] = {
                {"output", required_argument, NULL, 'o'},
                {"layout", required_argument, NULL, 'L'},
                {"verbose", no_argument, NULL, 'v'},
                {"json", no_argument, NULL, 'J'},
                {"sign-key", required_argument, NULL, 'k'},
                {"jobs", required_argument, NULL, 'j'},
                {"data-key", required_argument, NULL, 'D'},
                {"data-key-out", required_argument, NULL, 'G'},
                {"sb-key", required_argument, NULL, 'K'},
                {"sb-cert", required_argument, NULL, 'C'},
                {"sb-enroll", required_argument, NULL, 'E'},
                {"help", no_argument, NULL, 'h'},
                {0},
        };
        mk_build_opts o = {0};
        int json = 0, c;
        optind = 1;
        opterr = 0;
        while ((c = getopt_long(argc, argv, "o:vhj:", opts, NULL)) != -1) {
                switch (c) {
                case 'o':
                        o.out_path = optarg;
                        break;
                case 'L':
                        o.layout_path = optarg;
                        break;
                case 'v':
                        cli_verbose = 1;
                        break;
                case 'J':
                        json = 1;
                        break;
                case 'k':
                        o.sign_key = optarg;
                        break;
                case 'D':
                        o.data_key = optarg;
                        break;
                case 'G':
                        o.data_key_out = optarg;
                        break;
                case 'K':
                        o.sb.key = optarg;
                        break;
                case 'C':
                        o.sb.cert = optarg;
                        break;
                case 'E':
                        o.sb.enroll = optarg;
                        break;
                case 'j':
                        if (cli_parse_jobs("build", optarg, &o.jobs))
                                return CLI_USAGE;
                        break;
                case 'h':
                        fputs(cli_build_help, stdout);
                        return CLI_OK;
                default:
                        return cli_usage("build", "unknown or incomplete option '%s'", argv[optind - 1]);
                }
        }
        if (optind + 1 != argc)
                return cli_usage("build", optind == argc ? "name one MODEL.yaml" : "give exactly one MODEL.yaml");
        o.model_path = argv[optind];
        if (cli_source_date_epoch(UINT32_MAX, &o.source_date_epoch) < 0)
                return CLI_USAGE;
        if (cli_verbose)
                o.log = cli_log_line;
        o.stage = cli_build_stage;
        o.warn = cli_warn_line;
        if (cli_progress_start())
                o.progress = cli_progress;
        mk_build_result res;
        mk_error err = {0};
        int r = mk_build(&o, &res, &err);
        cli_progress_erase();
        if (r < 0)
                return cli_fail(&err);
        if (json) {
                cli_json_printed();
                printf("{\"ok\":true,\"image\":");
                cli_json_string(stdout, res.out_path);
                printf(",\"size\":%llu,\"partitions\":%u,\"root-size\":%llu,\"root-hash\":\"%s\"}\n",
                       (unsigned long long)res.disk_size, res.n_parts, (unsigned long long)res.root_size,
                       res.root_hash);
        } else {
                cli_put(stdout, res.out_path, 0);
                printf(": %llu MiB, %u partitions\n", (unsigned long long)(res.disk_size >> 20), res.n_parts);
        }
        return CLI_OK;
}

static void attrs_str(uint64_t a, char *buf, size_t len)
{
        static const struct {
                unsigned bit;
                const char *name;
        } names[] = {{0, "required"}, {1, "no-block-io"}, {2, "legacy-bios-bootable"},
                     {59, "grow-fs"}, {60, "read-only"},  {63, "no-auto"}};
        size_t off = 0;
        buf[0] = '\0';
        for (unsigned b = 0; b < 64; b++) {
                if (!(a & (1ull << b)))
                        continue;
                const char *n = NULL;
                for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
                        if (names[i].bit == b)
                                n = names[i].name;
                if (n)
                        off += (size_t)snprintf(buf + off, len - off, "%s%s", off ? "," : "", n);
                else
                        off += (size_t)snprintf(buf + off, len - off, "%s%u", off ? "," : "", b);
                if (off >= len)
                        break;
        }
        if (!buf[0])
                snprintf(buf, len, "-");
}

/*
 * The image's Secure Boot state, from its entries: "on" (every entry a signed
 * UKI), "off" (type #1 entries: nothing the firmware could check), "unsigned"
 * (UKIs without a signature), or NULL (no entries).
 */
static const char *sb_state(const mk_inspect *in)
{
        size_t ukis = 0, signed_ukis = 0;
        for (size_t k = 0; k < in->n_entries; k++) {
                ukis += in->entries[k].uki;
                signed_ukis += in->entries[k].uki && in->entries[k].is_signed;
        }
        if (!in->n_entries)
                return NULL;
        return !ukis ? "off" : signed_ukis == in->n_entries ? "on" : "unsigned";
}

static void print_json(const char *path, const mk_inspect *in)
{
        cli_json_printed();
        const mk_gpt *g = in->gpt;
        printf("{\"image\":");
        cli_json_string(stdout, path);
        printf(",\"size\":%llu,\"label\":\"gpt\",\"disk-guid\":", (unsigned long long)g->disk_size);
        cli_json_string(stdout, g->disk_uuid);
        printf(",\"partitions\":[");
        for (unsigned i = 0; i < g->n_parts; i++) {
                const mk_gpt_part *p = &g->parts[i];
                char attrs[256];
                attrs_str(p->attrs, attrs, sizeof(attrs));
                printf("%s{\"number\":%u,\"name\":", i ? "," : "", p->number);
                cli_json_string(stdout, p->name);
                printf(",\"start\":%llu,\"size\":%llu,\"type\":", (unsigned long long)p->start,
                       (unsigned long long)p->size);
                cli_json_string(stdout, in->type_names[i] ? in->type_names[i] : p->type_guid);
                printf(",\"type-guid\":");
                cli_json_string(stdout, p->type_guid);
                printf(",\"partuuid\":");
                cli_json_string(stdout, p->uuid);
                printf(",\"attributes\":%llu,\"flags\":", (unsigned long long)p->attrs);
                cli_json_string(stdout, attrs);
                printf(",\"content\":");
                cli_json_string(stdout, in->content[i]);
                if (in->os_release[i]) {
                        printf(",\"os-release\":");
                        cli_json_string(stdout, in->os_release[i]);
                }
                printf("}");
        }
        printf("]");
        if (in->esp >= 0) {
                printf(",\"boot-entries\":[");
                for (size_t k = 0; k < in->n_entries; k++) {
                        const mk_boot_entry *e = &in->entries[k];
                        const char *keys[] = {"file", "title", "version", "sort-key", "linux", "initrd", "options"};
                        const char *vals[] = {e->file,   e->title,  e->version, e->sort_key,
                                              e->kernel, e->initrd, e->options};
                        printf("%s{", k ? "," : "");
                        for (size_t j = 0; j < ELEMENTSOF(keys); j++) {
                                printf("%s\"%s\":", j ? "," : "", keys[j]);
                                if (vals[j])
                                        cli_json_string(stdout, vals[j]);
                                else
                                        printf("null");
                        }
                        if (e->uki)
                                printf(",\"uki\":true,\"signed\":%s", e->is_signed ? "true" : "false");
                        printf("}");
                }
                printf("]");
                const char *sb = sb_state(in);
                if (sb)
                        printf(",\"secure-boot\":\"%s\"", sb);
        }
        printf("}\n");
}

/* Every name and field below comes from the image: each goes through cli_put (escaped), none through a format. */
static void print_entries(const mk_inspect *in)
{
        if (in->esp < 0)
                return;
        bool ukis = false;
        for (size_t k = 0; k < in->n_entries; k++)
                ukis |= in->entries[k].uki;
        fputs("\nBoot entries on ", stdout);
        cli_put(stdout, in->gpt->parts[in->esp].name, 0);
        fputs(ukis ? " (loader/entries, EFI/Linux):\n" : " (loader/entries):\n", stdout);
        if (in->esp_note) {
                fputs("  (cannot read them: ", stdout);
                mk_fputs_message(in->esp_note, stdout);
                fputs(")\n", stdout);
        } else if (!in->n_entries) {
                fputs("  (none)\n", stdout);
        }
        for (size_t k = 0; k < in->n_entries; k++) {
                const mk_boot_entry *e = &in->entries[k];
                fputs("  ", stdout);
                cli_put(stdout, e->file, 18);
                if (e->uki)
                        fputs(e->is_signed ? " UKI, signed" : " UKI, not signed", stdout);
                fputs(" version ", stdout);
                cli_put(stdout, e->version, 4);
                fputs(" sort-key ", stdout);
                cli_put(stdout, e->sort_key, 20);
                fputs(" linux ", stdout);
                cli_put(stdout, e->kernel, 18);
                fputs(" initrd ", stdout);
                cli_put(stdout, e->initrd, 20);
                fputs(" options ", stdout);
                cli_put(stdout, e->options, 0);
                fputc('\n', stdout);
        }
        const char *sb = sb_state(in);
        if (sb && !strcmp(sb, "on"))
                fputs("Secure Boot: on (every entry a signed UKI; check the signatures with verify --sb-cert)\n",
                      stdout);
        else if (sb && !strcmp(sb, "off"))
                fputs("Secure Boot: OFF (type #1 entries: the kernel, initrd and command line on the ESP are not "
                      "signed; the model said 'secure-boot: off')\n",
                      stdout);
        else if (sb)
                fputs("Secure Boot: UKIs not signed (the firmware refuses them with Secure Boot enforced)\n", stdout);
}

static void print_table(const char *path, const mk_inspect *in)
{
        const mk_gpt *g = in->gpt;
        cli_put(stdout, path, 0);
        printf(": %llu bytes (%llu MiB), GPT, disk GUID ", (unsigned long long)g->disk_size,
               (unsigned long long)(g->disk_size >> 20));
        cli_put(stdout, g->disk_uuid, 0);
        fputs("\n\n", stdout);
        printf("%-3s %-16s %10s %10s  %-20s %-10s %-9s %s\n", "#", "NAME", "START", "SIZE", "TYPE", "FLAGS", "CONTENT",
               "PARTUUID");
        for (unsigned i = 0; i < g->n_parts; i++) {
                const mk_gpt_part *p = &g->parts[i];
                char attrs[256], start[32], size[32];
                attrs_str(p->attrs, attrs, sizeof(attrs));
                snprintf(start, sizeof(start), "%lluMiB", (unsigned long long)(p->start >> 20));
                if (p->size % (1 << 20))
                        snprintf(size, sizeof(size), "%lluKiB", (unsigned long long)(p->size >> 10));
                else
                        snprintf(size, sizeof(size), "%lluMiB", (unsigned long long)(p->size >> 20));
                printf("%-3u ", p->number);
                cli_put(stdout, p->name, 16);
                printf(" %10s %10s  ", start, size);
                cli_put(stdout, in->type_names[i] ? in->type_names[i] : p->type_guid, 20);
                printf(" %-10s %-9s ", attrs, in->content[i]);
                cli_put(stdout, p->uuid, 0);
                fputc('\n', stdout);
        }
        bool head = false;
        for (unsigned i = 0; i < g->n_parts; i++) {
                if (!in->os_release[i])
                        continue;
                if (!head)
                        fputs("\nOperating system (/usr/lib/os-release):\n", stdout);
                head = true;
                fputs("  ", stdout);
                cli_put(stdout, g->parts[i].name, 16);
                fputc(' ', stdout);
                cli_put(stdout, in->os_release[i], 0);
                fputc('\n', stdout);
        }
        print_entries(in);
}

int cli_inspect(int argc, char **argv)
{
        int json = 0;
        const char *path = NULL;
        for (int i = 1; i < argc; i++) {
                if (!strcmp(argv[i], "--json"))
                        json = 1;
                else if (argv[i][0] == '-' && argv[i][1])
                        return cli_usage("inspect", "unknown option '%s'", argv[i]);
                else if (path)
                        return cli_usage("inspect", "give exactly one IMAGE");
                else
                        path = argv[i];
        }
        if (!path)
                return cli_usage("inspect", "name the IMAGE to inspect");
        mk_inspect *in = NULL;
        mk_error err = {0};
        if (mk_inspect_image(path, &in, &err) < 0)
                return cli_fail(&err);
        if (json)
                print_json(path, in);
        else
                print_table(path, in);
        mk_inspect_free(in);
        return CLI_OK;
}
