/* SPDX-License-Identifier: MIT */
/*
 * mkimage-update: the command line, status, mark-good and mark-bad
 * (qemu-boot/updater/update.h; docs/update.md).
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "qemu-boot/updater/update.h"
#include "signing/base/fileio.h"
#include "signing/conventions/conventions.h"
#include "signing/manifest/manifest.h"
#include "signing/minisign/minisign.h"

#define DEVICE_ESP "/efi"
#define DEVICE_STATE "/run/mkimage"
#define DEVICE_PUB DEVICE_STATE "/trusted.pub" /* the verifier's own key, handed over */
#define DEVICE_DATA "/data"
#define DEVICE_MIN DEVICE_DATA "/" MK_MIN_VERSION_FILE

bool upd_json;
static bool progress_tty, progress_shown; /* a terminal; a progress line is on it */

static void json_str(const char *s)
{
        putchar('"');
        for (; *s; s++) {
                unsigned char c = (unsigned char)*s;
                if (c == '"' || c == '\\')
                        printf("\\%c", c);
                else if (c < 0x20)
                        printf("\\u%04x", c);
                else
                        putchar(c);
        }
        putchar('"');
}

void upd_say(const char *step, const char *fmt, ...)
{
        char line[2048];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(line, sizeof(line), fmt, ap);
        va_end(ap);
        if (upd_json) {
                printf("{\"step\":\"%s\",\"message\":", step);
                json_str(line);
                printf("}\n");
        } else {
                if (progress_shown)
                        fputs("\r\033[K", stderr);
                progress_shown = false;
                printf("mkimage-update: %s: %s\n", step, line);
        }
        fflush(stdout);
        upd_step_point(step);
}

static double now(void)
{
        struct timespec t;
        clock_gettime(CLOCK_MONOTONIC, &t);
        return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

void upd_progress(uint64_t done, uint64_t total, bool final)
{
        static double t0, last;
        double t = now();
        if (!t0)
                t0 = t;
        if (!final && t - last < 0.5)
                return;
        last = t;
        double rate = t > t0 ? (double)done / (t - t0) : 0;
        double eta = rate > 0 ? (double)(total - done) / rate : 0;
        if (upd_json) {
                printf("{\"step\":\"root\",\"bytes\":%" PRIu64 ",\"total\":%" PRIu64 ",\"rate\":%.0f,\"eta\":%.1f}\n",
                       done, total, rate, eta);
                fflush(stdout);
        } else if (progress_tty) {
                fprintf(stderr, "\r\033[Kmkimage-update: root %" PRIu64 " of %" PRIu64 " MiB, %.1f MiB/s, %.0f s left",
                        done >> 20, total >> 20, rate / 1048576, eta);
                progress_shown = true;
                if (final) {
                        fputs("\r\033[K", stderr);
                        progress_shown = false;
                }
        }
}

/* ---- status and marks ----------------------------------------------------------- */

typedef struct slot_info {
        char entry[256]; /* "" when none */
        int left, done;  /* -1: blessed */
        mk_manifest *m;  /* NULL when absent or not verified */
        char why[256];
} slot_info;

static void slot_read(upd_ctx *c, const mk_pubkey *key, char slot, slot_info *si)
{
        mk_error err = {0};
        char s, path[64], sigp[80], *text = NULL, *sig = NULL;
        size_t len, slen;
        *si = (slot_info){.left = -2};
        if (upd_esp_entry(&c->esp, slot, si->entry, sizeof(si->entry), &err) == 0)
                mk_bls_entry_parse(si->entry, &s, &si->left, &si->done);
        else
                si->entry[0] = 0;
        snprintf(path, sizeof(path), MK_SLOT_MANIFEST_FMT, slot);
        snprintf(sigp, sizeof(sigp), "%s" MK_SIG_SUFFIX, path);
        mk_verified v = {0};
        if (upd_esp_read(&c->esp, path, MK_MANIFEST_MAX, &text, &len, &err) < 0 ||
            upd_esp_read(&c->esp, sigp, MK_MINISIGN_FILE_MAX, &sig, &slen, &err) < 0)
                snprintf(si->why, sizeof(si->why), "no manifest");
        else if (mk_verify_buffer_with_key(key, path, text, len, sigp, sig, slen, &v, &err) != MK_VERIFY_OK)
                snprintf(si->why, sizeof(si->why), "manifest not signed by the trusted key");
        else if (mk_manifest_parse(path, text, len, &si->m, &err) < 0)
                snprintf(si->why, sizeof(si->why), "manifest unreadable");
        mk_verified_done(&v);
        free(text);
        free(sig);
}

int upd_status(upd_ctx *c, mk_error *err)
{
        mk_pubkey *key = NULL;
        int r = mk_pubkey_load(c->pub, &key, err);
        if (r < 0)
                return r;
        slot_info si[2];
        for (int i = 0; i < 2; i++)
                slot_read(c, key, (char)('a' + i), &si[i]);
        if (upd_json)
                printf("{\"booted\":\"%c\",\"min-version\":%" PRIu64 ",\"slots\":[", c->booted, c->min_version);
        for (int i = 0; i < 2; i++) {
                const slot_info *x = &si[i];
                char slot = (char)('a' + i);
                const char *state = !x->entry[0] ? "no-entry" : x->left < 0 ? "good" : x->left == 0 ? "bad" : "trying";
                if (upd_json) {
                        printf("%s{\"slot\":\"%c\",\"booted\":%s,\"state\":\"%s\",\"entry\":", i ? "," : "", slot,
                               slot == c->booted ? "true" : "false", state);
                        json_str(x->entry);
                        printf(",\"tries-left\":%d,\"version\":", x->left);
                        if (x->m)
                                printf("%" PRIu64 "}", x->m->version);
                        else
                                printf("null}");
                        continue;
                }
                printf("slot %c%s: %s", slot, slot == c->booted ? " (booted)" : "", state);
                if (x->left > 0)
                        printf(", %d tries left", x->left);
                if (x->m)
                        printf(", version %" PRIu64 ", root hash %.16s…", x->m->version, x->m->root.verity.root_hash);
                else
                        printf(", %s", x->why);
                printf(x->entry[0] ? ", entry %s\n" : "\n", x->entry);
        }
        if (upd_json)
                printf("]}\n");
        else
                printf("anti-rollback minimum: %" PRIu64 "\n", c->min_version);
        for (int i = 0; i < 2; i++)
                mk_manifest_free(si[i].m);
        mk_pubkey_free(key);
        return 0;
}

/* The anti-rollback minimum kept in path: digits and a newline; a missing file is 0. */
static int min_read(const char *path, uint64_t *ret, mk_error *err)
{
        char *text = NULL;
        size_t len;
        int r = mk_read_file(path, 32, &text, &len, err);
        *ret = 0;
        if (r == -ENOENT) {
                mk_error_clear(err);
                return 0;
        }
        if (r < 0)
                return r;
        if (!mk_min_version_parse(text, ret))
                r = mk_error_set(err, EINVAL, "%s: not a version number: the anti-rollback minimum is unreadable",
                                 path);
        free(text);
        return r;
}

/* Raise the minimum in path to version: a new file, flushed, renamed over the old one, the folder flushed. */
static int min_raise(upd_ctx *c, uint64_t version, mk_error *err)
{
        uint64_t old;
        int r = min_read(c->min_file, &old, err);
        if (r < 0 || version <= old)
                return r;
        char tmp[4200], dir[4096];
        snprintf(tmp, sizeof(tmp), "%s.new", c->min_file);
        snprintf(dir, sizeof(dir), "%s", c->min_file);
        char *slash = strrchr(dir, '/');
        if (slash)
                *slash = 0;
        if (slash && mkdir(dir, 0755) < 0 && errno != EEXIST)
                return mk_error_set(err, errno, "%s: %s: the anti-rollback minimum cannot be kept there", dir,
                                    strerror(errno));
        char text[32];
        int n = snprintf(text, sizeof(text), "%" PRIu64 "\n", version);
        int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd < 0 || write(fd, text, (size_t)n) != n || fsync(fd) < 0) {
                r = mk_error_set(err, errno ? errno : EIO, "%s: %s", tmp, strerror(errno ? errno : EIO));
                if (fd >= 0)
                        close(fd);
                unlink(tmp);
                return r;
        }
        close(fd);
        if (rename(tmp, c->min_file) < 0) {
                r = mk_error_set(err, errno, "%s: %s", c->min_file, strerror(errno));
                unlink(tmp);
                return r;
        }
        int dfd = open(slash ? dir : ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd >= 0) {
                fsync(dfd);
                close(dfd);
        }
        c->min_version = version;
        upd_say("mark-good", "minimum version raised from %" PRIu64 " to %" PRIu64 " (%s)", old, version, c->min_file);
        return 0;
}

/*
 * mark-good: the booted slot's entry loses its counter (blessed), then the
 * minimum is raised to its version: in this order, so that a slot is never
 * the only one allowed to boot before it has proven itself. mark-bad: the
 * entry is left with no tries.
 */
int upd_mark(upd_ctx *c, bool good, mk_error *err)
{
        char entry[256], to[300], a[320], b[320];
        const char *dir = MK_ESP_ENTRIES_DIR;
        int r = upd_esp_entry_in(&c->esp, c->booted, &dir, entry, sizeof(entry), err);
        if (r < 0)
                return r == -ENOENT ? mk_error_set(err, ENOENT, "slot %c has no boot entry", c->booted) : r;
        if (good && mk_bls_entry_is_uki(entry))
                mk_uki_entry_name((char[]){c->booted, 0}, 0, to, sizeof(to));
        else if (good)
                mk_bls_entry_name((char[]){c->booted, 0}, 0, to, sizeof(to));
        else
                mk_bls_entry_bad_name(entry, to, sizeof(to));
        const char *step = good ? "mark-good" : "mark-bad";
        if (!strcmp(entry, to))
                upd_say(step, "slot %c's boot entry %s/%s is %s already", c->booted, dir, to,
                        good ? "blessed" : "marked bad");
        else {
                snprintf(a, sizeof(a), "%s/%s", dir, entry);
                snprintf(b, sizeof(b), "%s/%s", dir, to);
                if ((r = upd_esp_rename(&c->esp, a, b, err)) < 0)
                        return r;
                if (fsync(c->disk.fd) < 0)
                        return mk_error_set(err, errno, "%s: fsync: %s", c->disk.path, strerror(errno));
                upd_say(step, "%s %s -> %s", good ? "blessed" : "marked bad", a, to);
        }
        if (good && !c->min_file)
                upd_say(step, "no anti-rollback minimum is kept here (no data partition, no --min-file)");
        if (!good || !c->min_file)
                return 0;
        mk_pubkey *key = NULL;
        if ((r = mk_pubkey_load(c->pub, &key, err)) < 0)
                return r;
        slot_info si;
        slot_read(c, key, c->booted, &si);
        mk_pubkey_free(key);
        if (!si.m)
                return mk_error_set(err, EBADMSG, "slot %c: %s: the minimum is not raised", c->booted, si.why);
        r = min_raise(c, si.m->version, err);
        mk_manifest_free(si.m);
        return r;
}

/* ---- the command line ------------------------------------------------------------ */

static const char usage[] =
        "Usage: mkimage-update [OPTIONS] install BUNDLE|-\n"
        "       mkimage-update [OPTIONS] status | mark-good | mark-bad\n\n"
        "Installs a signed update bundle into the slot that is not running (from a file,\n"
        "or a stream on standard input with -), shows the slots, and blesses or rejects\n"
        "the running one. One line per step; see docs/update.md.\n\n"
        "  --disk IMAGE        work on a disk image (or device) instead of this device's disk\n"
        "  --booted a|b        the running slot (with --disk; on a device it is known)\n"
        "  --pub KEY.pub       the trusted key (on a device: " DEVICE_PUB ")\n"
        "  --min-version N     the anti-rollback minimum (default: what --min-file holds)\n"
        "  --min-file FILE     where the minimum is kept: read by install, raised by mark-good\n"
        "                      (on a device: " DEVICE_MIN ")\n"
        "  --allow-downgrade   install a version not above the running one (never below the minimum)\n"
        "  --tries N           boot tries of the new slot's entry (default 3)\n"
        "  --json              one JSON object per line\n"
        "  -h, --help          show this help\n\n"
        "Exit status: 0 done, 1 refused or failed (the running slot untouched), 2 usage error.\n";

static int fail_usage(const char *msg)
{
        fprintf(stderr, "mkimage-update: %s (see --help)\n", msg);
        return 2;
}

int main(int argc, char **argv)
{
        static const struct option opts[] = {
                {"disk", required_argument, NULL, 'd'},     {"booted", required_argument, NULL, 'b'},
                {"pub", required_argument, NULL, 'p'},      {"min-version", required_argument, NULL, 'm'},
                {"min-file", required_argument, NULL, 'M'}, {"allow-downgrade", no_argument, NULL, 'D'},
                {"tries", required_argument, NULL, 't'},    {"json", no_argument, NULL, 'J'},
                {"help", no_argument, NULL, 'h'},           {0},
        };
        upd_ctx c = {.tries = 3, .pub = DEVICE_PUB};
        const char *disk = NULL, *booted = NULL, *min = NULL;
        int o;
        opterr = 0;
        while ((o = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
                switch (o) {
                case 'd':
                        disk = optarg;
                        break;
                case 'b':
                        booted = optarg;
                        break;
                case 'p':
                        c.pub = optarg;
                        break;
                case 'm':
                        min = optarg;
                        break;
                case 'M':
                        c.min_file = optarg;
                        break;
                case 'D':
                        c.allow_downgrade = true;
                        break;
                case 't':
                        c.tries = (unsigned)strtoul(optarg, NULL, 10);
                        if (c.tries < 1 || c.tries > 9)
                                return fail_usage("--tries wants 1 to 9");
                        break;
                case 'J':
                        upd_json = true;
                        break;
                case 'h':
                        fputs(usage, stdout);
                        return 0;
                default:
                        return fail_usage("unknown or incomplete option");
                }
        }
        if (optind >= argc)
                return fail_usage("name a command: install, status, mark-good or mark-bad");
        const char *cmd = argv[optind++];
        bool install = !strcmp(cmd, "install");
        if (!install && strcmp(cmd, "status") && strcmp(cmd, "mark-good") && strcmp(cmd, "mark-bad"))
                return fail_usage("unknown command");
        if (install != (optind + 1 == argc) || optind + 1 < argc)
                return fail_usage(install ? "install takes one BUNDLE (or - for standard input)"
                                          : "too many arguments");
        progress_tty = !upd_json && isatty(2);
        mk_error err = {0};
        if (upd_crash_setup(&err) < 0)
                return fail_usage(err.msg);
        char node[256] = "";
        if (disk) {
                if (!booted || (strcmp(booted, "a") && strcmp(booted, "b")))
                        return fail_usage("--disk needs --booted a|b");
                c.booted = booted[0];
        } else {
                /* on the device: the verifier left the booted slot and the ESP's node in " DEVICE_STATE " */
                char *slot = NULL, *esp = NULL;
                size_t n;
                if (mk_read_file(DEVICE_STATE "/slot", 16, &slot, &n, &err) < 0 ||
                    mk_read_file(DEVICE_STATE "/esp", 250, &esp, &n, &err) < 0) {
                        fprintf(stderr,
                                "mkimage-update: not booted by mkimage's verifier (%s): give --disk and --booted\n",
                                err.msg);
                        return 1;
                }
                c.booted = slot[0];
                esp[strcspn(esp, "\n")] = 0;
                /* /dev/vda1 -> /dev/vda; /dev/nvme0n1p1 -> /dev/nvme0n1 */
                snprintf(node, sizeof(node), "%s", esp);
                size_t k = strlen(node);
                while (k && node[k - 1] >= '0' && node[k - 1] <= '9')
                        node[--k] = 0;
                if (k && node[k - 1] == 'p' && strstr(node, "nvme"))
                        node[--k] = 0;
                disk = node;
                free(slot);
                free(esp);
                c.esp.dir = DEVICE_ESP;
                if (mount(NULL, DEVICE_ESP, NULL, MS_REMOUNT, NULL) < 0)
                        fprintf(stderr, "mkimage-update: remounting " DEVICE_ESP " writable: %s\n", strerror(errno));
                /* the minimum lives on the data partition: none when it is not mounted */
                struct stat root_st, data_st;
                if (!c.min_file && stat("/", &root_st) == 0 && stat(DEVICE_DATA, &data_st) == 0 &&
                    root_st.st_dev != data_st.st_dev)
                        c.min_file = DEVICE_MIN;
        }
        if (min) {
                char *end;
                errno = 0;
                c.min_version = strtoull(min, &end, 10);
                if (min[0] < '0' || min[0] > '9' || *end || errno)
                        return fail_usage("--min-version wants a version number");
        } else if (c.min_file && min_read(c.min_file, &c.min_version, &err) < 0) {
                fprintf(stderr, "mkimage-update: %s\n", err.msg);
                return 1;
        }
        int r = upd_disk_open(disk, &c.disk, &err);
        uint64_t esp_size;
        if (r >= 0 && !c.esp.dir) {
                c.esp.image = disk;
                c.esp.fd = c.disk.fd;
                r = upd_disk_esp(&c.disk, &c.esp.offset, &esp_size, &err);
        }
        if (r >= 0)
                r = install                  ? upd_install(&c, argv[optind], &err)
                    : !strcmp(cmd, "status") ? upd_status(&c, &err)
                                             : upd_mark(&c, !strcmp(cmd, "mark-good"), &err);
        upd_disk_close(&c.disk);
        if (c.esp.dir)
                mount(NULL, DEVICE_ESP, NULL, MS_REMOUNT | MS_RDONLY, NULL);
        if (r < 0) {
                if (upd_json) {
                        printf("{\"ok\":false,\"error\":");
                        json_str(err.msg);
                        printf("}\n");
                }
                fprintf(stderr, "mkimage-update: %s%s\n", install ? "install refused: " : "", err.msg);
                return 1;
        }
        return 0;
}
