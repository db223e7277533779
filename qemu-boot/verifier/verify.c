/* SPDX-License-Identifier: MIT */
/*
 * mkimage-verify: the boot-chain verifier, PID 1 of the initrd (exec'd by
 * /init once the modules are loaded). In order, each step one console line:
 *
 *   1. the slot from mkimage.slot= on the kernel command line; the ESP
 *      found by its GPT type, its disk grown when larger than the image
 *      (grow.c), the ESP mounted read-only;
 *   2. the slot's manifest verified with /etc/mkimage/trusted.pub, the key
 *      mkimage appended to this initrd, and checked against the model name;
 *   3. the data partition opened (LUKS2 with the platform's key, under QEMU
 *      from fw_cfg) and mounted, its ext4 grown to the partition when it has
 *      the grow-fs flag; the anti-rollback minimum read from it;
 *   4. the manifest's version checked against that minimum;
 *   5. dm-verity set up from the manifest and the whole root read once
 *      (dm-verity checks blocks only when they are read; one stripe per
 *      CPU, read in parallel), then the table
 *      switched to restart_on_corruption; the squashfs mounted read-only;
 *   6. switch_root into the root's /sbin/init, leaving the booted slot, its
 *      entry, the ESP's node and the trusted key in /run/mkimage.
 *
 * A failure of the slot: "mkimage: VERIFY FAILED: <reason>", the slot's
 * boot entry is marked bad (renamed slot-X+0-N.conf, Boot Loader
 * Specification boot counting) and the machine reboots into the other slot;
 * when the other slot is marked bad too, it stops with a clear message
 * instead of looping. A failure of the data partition (shared by both
 * slots): "mkimage: BOOT REFUSED: <reason>", nothing marked, power off.
 * See docs/boot-chain.md.
 */
#include "qemu-boot/verifier/boot.h"
#include "signing/conventions/conventions.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "signing/base/fileio.h"
#include "signing/base/macro.h"
#include "signing/base/parallel.h"
#include "signing/manifest/manifest.h"
#include "signing/minisign/minisign.h"

#define ESP_DIR "/esp"
#define DATA_DIR "/data"
#define NEWROOT "/newroot"
#define TRUSTED_PUB "/etc/mkimage/trusted.pub"
#define MODEL_FILE "/etc/mkimage/model"
#define FW_CFG "/sys/firmware/qemu_fw_cfg/by_name/opt/mkimage/"
#define KEY_PATH FW_CFG "data-key/raw"
#define MIN_VERSION_FILE MK_MIN_VERSION_FILE /* on the data partition */
#define STATE_DIR "/run/mkimage"
#define DISK_WAIT_MS 10000
#define KEY_MAX 4096

typedef struct boot {
        char slot; /* 'a' or 'b' */
        part_dev esp;
        bool esp_mounted, data_mounted;
        char entry[256];       /* this boot's entry file name */
        const char *entry_dir; /* its folder on the ESP: loader/entries or EFI/Linux */
        mk_manifest *mf;
        uint64_t min_version;
} boot;

void say(const char *fmt, ...)
{
        char line[1024];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(line, sizeof(line), fmt, ap);
        va_end(ap);
        /* One write per line, so that kernel messages do not split it. */
        dprintf(STDOUT_FILENO, "mkimage: %s\n", line);
}

/* The value of key= on the kernel command line into out; false when absent. */
static bool cmdline_get(const char *key, char *out, size_t size)
{
        _cleanup_free_ char *cmd = NULL;
        size_t len;
        mk_error err = {0};
        if (mk_read_file("/proc/cmdline", 4096, &cmd, &len, &err) < 0)
                return false;
        size_t kl = strlen(key);
        for (char *save = NULL, *tok = strtok_r(cmd, " \t\n", &save); tok; tok = strtok_r(NULL, " \t\n", &save)) {
                if (strncmp(tok, key, kl) || (tok[kl] != '=' && tok[kl] != '\0'))
                        continue;
                snprintf(out, size, "%s", tok[kl] == '=' ? tok + kl + 1 : "");
                return true;
        }
        return false;
}

/* ---- failure: mark the slot bad, reboot into the other, or stop -------------- */

static void halt_now(bool poweroff)
{
        sync();
        reboot(poweroff ? RB_POWER_OFF : RB_AUTOBOOT);
        for (;;)
                pause();
}

/* Rename this slot's entry to slot-X+0-N.conf; true when done. */
static bool mark_bad(boot *b)
{
        if (!b->esp_mounted) {
                say("cannot mark slot %c bad: the ESP is not mounted (boot counting still falls back)", b->slot);
                return false;
        }
        if (mount(NULL, ESP_DIR, NULL, MS_REMOUNT | MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0) {
                say("cannot mark slot %c bad: remounting the ESP writable: %s", b->slot, strerror(errno));
                return false;
        }
        char name[256], bad[256], from[512], to[512];
        const char *dir = NULL;
        int r = entry_find(ESP_DIR, b->slot, &dir, name, sizeof(name));
        if (r < 0) {
                say("cannot mark slot %c bad: its boot entry on the ESP: %s", b->slot, strerror(-r));
                return false;
        }
        mk_bls_entry_bad_name(name, bad, sizeof(bad));
        snprintf(from, sizeof(from), ESP_DIR "/%s/%s", dir, name);
        snprintf(to, sizeof(to), ESP_DIR "/%s/%s", dir, bad);
        if (strcmp(from, to) && rename(from, to) < 0) {
                say("cannot mark slot %c bad: rename %s: %s", b->slot, name, strerror(errno));
                return false;
        }
        sync();
        say("slot %c marked bad: %s/%s", b->slot, dir, bad);
        return true;
}

/* Is the other slot still worth booting? (an entry with tries left, or blessed) */
static bool other_slot_left(const boot *b)
{
        char other = b->slot == 'a' ? 'b' : 'a', name[256], s;
        const char *dir;
        int left, done;
        if (!b->esp_mounted || entry_find(ESP_DIR, other, &dir, name, sizeof(name)) < 0)
                return false;
        return mk_bls_entry_parse(name, &s, &left, &done) && left != 0;
}

/* "mkimage: VERDICT: reason" on the console. */
static void __attribute__((format(printf, 2, 0))) say_verdict(const char *verdict, const char *fmt, va_list ap)
{
        char why[900];
        vsnprintf(why, sizeof(why), fmt, ap);
        say("%s: %s", verdict, why);
}

static void __attribute__((noreturn)) fail(boot *b, const char *fmt, ...)
{
        va_list ap;
        va_start(ap, fmt);
        say_verdict("VERIFY FAILED", fmt, ap);
        va_end(ap);
        if (b->data_mounted)
                umount2(DATA_DIR, 0);
        mark_bad(b);
        bool left = other_slot_left(b);
        if (b->esp_mounted)
                umount2(ESP_DIR, 0);
        if (!left) {
                say("NO BOOTABLE SLOT: slot %c failed and slot %c is marked bad or missing; the device needs a new "
                    "image (powering off)",
                    b->slot, b->slot == 'a' ? 'b' : 'a');
                halt_now(true);
        }
        say("rebooting into slot %c", b->slot == 'a' ? 'b' : 'a');
        halt_now(false);
        __builtin_unreachable();
}

/*
 * A failure of the device, not of the slot: the data partition is shared by
 * both slots, so when it cannot be found, opened with the platform's key or
 * mounted, the other slot would fail the same way, and marking this one bad
 * would leave a device whose key is restored (a re-provisioned TPM, a
 * corrected factory key) with no slot to boot. Nothing is marked; the
 * machine powers off. Booting without /data is no option either: the
 * anti-rollback minimum lives there.
 */
static void __attribute__((noreturn)) refuse(boot *b, const char *fmt, ...)
{
        va_list ap;
        va_start(ap, fmt);
        say_verdict("BOOT REFUSED", fmt, ap);
        va_end(ap);
        say("not a fault of slot %c (the data partition is shared by both slots): no slot marked bad; "
            "powering off",
            b->slot);
        if (b->data_mounted)
                umount2(DATA_DIR, 0);
        if (b->esp_mounted)
                umount2(ESP_DIR, 0);
        halt_now(true);
        __builtin_unreachable();
}

/* ---- the steps ----------------------------------------------------------------- */

static void step_esp(boot *b)
{
        mk_error err = {0};
        char slot[8] = "";
        if (!cmdline_get("mkimage.slot", slot, sizeof(slot)) || (strcmp(slot, "a") && strcmp(slot, "b"))) {
                b->slot = 'a';
                fail(b, "the kernel command line has no mkimage.slot=a or mkimage.slot=b (got '%s')", slot);
        }
        b->slot = slot[0];
        say("slot %c: verifying before anything is mounted", b->slot);
        /*
         * Grow the boot disk (docs/layout.md) before anything on it is open. Without an ESP in sight, a
         * GPT write cut by a power loss may hide the partitions from the kernel: repair, then look again.
         */
        if (find_partition(MK_ESP_TYPE_GUID, true, DISK_WAIT_MS, &b->esp, &err) < 0) {
                grow_disks();
                mk_error_clear(&err);
                if (find_partition(MK_ESP_TYPE_GUID, true, 1000, &b->esp, &err) < 0)
                        fail(b, "no ESP: %s", err.msg);
        }
        if (grow_disk(b->esp.disk) && find_partition(MK_ESP_TYPE_GUID, true, DISK_WAIT_MS, &b->esp, &err) < 0)
                fail(b, "no ESP after growing the disk: %s", err.msg);
        mkdir(ESP_DIR, 0755);
        if (mount(b->esp.node, ESP_DIR, "vfat", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0)
                fail(b, "cannot mount the ESP %s: %s", b->esp.node, strerror(errno));
        b->esp_mounted = true;
        if (entry_find(ESP_DIR, b->slot, &b->entry_dir, b->entry, sizeof(b->entry)) < 0)
                snprintf(b->entry, sizeof(b->entry), "(none)");
        say("ESP %s mounted read-only, boot entry %s", b->esp.node, b->entry);
}

/*
 * A signed UKI's command line pins its slot's root: the root hash and the two
 * partition UUIDs (docs/secure-boot.md). The manifest, a file beside the UKI
 * on the ESP, must describe exactly that root, or a manifest of another
 * slot or release could be paired with this kernel and initrd.
 */
static void check_pins(boot *b)
{
        static const struct {
                const char *key, *prefix;
        } pins[] = {
                {"roothash", ""}, {"systemd.verity_root_data", "PARTUUID="}, {"systemd.verity_root_hash", "PARTUUID="}};
        const char *want[] = {b->mf->root.verity.root_hash, b->mf->root.partuuid, b->mf->root.verity.partuuid};
        int pinned = 0;
        for (size_t i = 0; i < ELEMENTSOF(pins); i++) {
                char v[128];
                if (!cmdline_get(pins[i].key, v, sizeof(v)))
                        continue;
                pinned++;
                size_t pl = strlen(pins[i].prefix);
                if (strncmp(v, pins[i].prefix, pl) || strcasecmp(v + pl, want[i]))
                        fail(b,
                             "manifest of slot %c does not match its kernel command line: %s=%s, the manifest says "
                             "%s%s (a manifest of another slot or release)",
                             b->slot, pins[i].key, v, pins[i].prefix, want[i]);
        }
        if (b->mf->uki.path && pinned != (int)ELEMENTSOF(pins))
                fail(b,
                     "manifest of slot %c says it boots the UKI %s, but the kernel command line pins no root "
                     "(roothash=)",
                     b->slot, b->mf->uki.path);
        if (pinned)
                say("root of slot %c pinned by the command line: roothash=%.16s..., both partition UUIDs match",
                    b->slot, b->mf->root.verity.root_hash);
}

static void step_manifest(boot *b)
{
        mk_error err = {0};
        char path[128], sig_path[160];
        snprintf(path, sizeof(path), ESP_DIR "/" MK_SLOT_MANIFEST_FMT, b->slot);
        snprintf(sig_path, sizeof(sig_path), "%s" MK_SIG_SUFFIX, path);
        _cleanup_free_ char *text = NULL, *sig = NULL, *model = NULL;
        size_t len, sig_len, model_len;
        mk_keyset *set = NULL;
        if (mk_read_file(path, MK_MANIFEST_MAX, &text, &len, &err) < 0 ||
            mk_read_file(sig_path, MK_MINISIGN_FILE_MAX, &sig, &sig_len, &err) < 0)
                fail(b, "manifest of slot %c: %s", b->slot, err.msg);
        if (mk_read_file(MODEL_FILE, 256, &model, &model_len, &err) < 0 || mk_keyset_new(&set, &err) < 0 ||
            mk_keyset_add_file(set, TRUSTED_PUB, &err) < 0)
                fail(b, "the initrd's trust anchor: %s", err.msg);
        model[strcspn(model, "\n")] = '\0';
        mk_verified v = {0};
        mk_verify_result vr = mk_verify_buffer(set, path, text, len, sig_path, sig, sig_len, &v, &err);
        if (vr != MK_VERIFY_OK) {
                mk_keyset_free(set);
                fail(b, "manifest of slot %c: bad signature (%s): %s", b->slot, mk_verify_result_str(vr), err.msg);
        }
        char key_id[MK_KEYID_STR_SIZE];
        snprintf(key_id, sizeof(key_id), "%s", mk_pubkey_id_str(v.signer));
        mk_verified_done(&v);
        mk_keyset_free(set);
        /* Parse exactly the bytes that were verified. */
        if (mk_manifest_parse(path, text, len, &b->mf, &err) < 0)
                fail(b, "manifest of slot %c: %s", b->slot, err.msg);
        if (b->mf->slot != b->slot)
                fail(b, "manifest on the ESP for slot %c describes slot %c", b->slot, b->mf->slot);
        if (strcmp(b->mf->model, model))
                fail(b, "manifest of slot %c is for model '%s', this device is '%s'", b->slot, b->mf->model, model);
        say("manifest of slot %c: signature OK (key %s), model %s version %" PRIu64, b->slot, key_id, model,
            b->mf->version);
        check_pins(b);
}

/* Run cryptsetup with the key on its stdin (a pipe: the key is never written to a file). */
static int run_cryptsetup(const char *dev, const uint8_t *key, size_t key_len, mk_error *err)
{
        int p[2];
        if (pipe2(p, O_CLOEXEC) < 0)
                return mk_error_set(err, errno, "pipe: %s", strerror(errno));
        pid_t pid = fork();
        if (pid < 0)
                return mk_error_set(err, errno, "fork: %s", strerror(errno));
        if (pid == 0) {
                dup2(p[0], STDIN_FILENO);
                char *const argv[] = {"cryptsetup",   "open",      "--type", "luks2",
                                      "--key-file=-", (char *)dev, "data",   NULL};
                char *const envp[] = {"PATH=/sbin:/bin", "DM_DISABLE_UDEV=1", NULL};
                execve("/sbin/cryptsetup", argv, envp);
                _exit(127);
        }
        close(p[0]);
        ssize_t k = write(p[1], key, key_len);
        close(p[1]);
        int status;
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
                ;
        if (k != (ssize_t)key_len)
                return mk_error_set(err, EIO, "cannot hand the key to cryptsetup");
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
                return mk_error_set(err, EKEYREJECTED,
                                    "cryptsetup open failed (exit status %d): wrong key or damaged LUKS2 header",
                                    WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
        return 0;
}

static void open_luks(boot *b, const part_dev *dev)
{
        mk_error err = {0};
        _cleanup_free_ char *raw = NULL;
        size_t len = 0;
        if (mk_read_file(KEY_PATH, KEY_MAX, &raw, &len, &err) < 0)
                refuse(b, "no data key from the platform: %s (QEMU: -fw_cfg name=opt/mkimage/data-key,file=KEY)",
                       err.msg);
        if (len == 0)
                refuse(b, "the platform's data key is empty");
        sodium_mlock(raw, len);
        int r = run_cryptsetup(dev->node, (const uint8_t *)raw, len, &err);
        sodium_munlock(raw, len); /* zeroes it */
        if (r < 0)
                refuse(b, "data partition %s: %s", dev->node, err.msg);
}

static void step_data(boot *b)
{
        mk_error err = {0};
        if (!b->mf->data.partition) {
                say("no data partition: no stored anti-rollback minimum");
                return;
        }
        part_dev dev;
        if (find_partition(b->mf->data.partuuid, false, DISK_WAIT_MS, &dev, &err) < 0)
                refuse(b, "data partition '%s': %s", b->mf->data.partition, err.msg);
        bool luks = !strcmp(b->mf->data.encryption, "luks2");
        const char *node = dev.node;
        if (luks) {
                open_luks(b, &dev);
                node = "/dev/mapper/data";
        }
        mkdir(DATA_DIR, 0755);
        if (mount(node, DATA_DIR, "ext4", MS_NOSUID | MS_NODEV, NULL) < 0)
                refuse(b, "cannot mount the data file system %s: %s", node, strerror(errno));
        b->data_mounted = true;
        if (dev.attrs & GPT_ATTR_GROW_FS)
                grow_fs(DATA_DIR, node);
        char table[600] = "";
        if (luks && dm_table("data", table, sizeof(table), &err) < 0)
                snprintf(table, sizeof(table), "(%.500s)", err.msg);
        say("data: %s %s, ext4 mounted read-write%s%s", dev.node,
            luks ? "opened (LUKS2, platform key)" : "not encrypted", luks ? "; dm table data: " : "", table);

        _cleanup_free_ char *text = NULL;
        size_t len;
        if (mk_read_file(DATA_DIR "/" MIN_VERSION_FILE, 64, &text, &len, &err) < 0) {
                if (err.code != ENOENT)
                        refuse(b, "the stored minimum version: %s", err.msg);
                return; /* first boot: no minimum yet */
        }
        if (!mk_min_version_parse(text, &b->min_version))
                refuse(b, "the stored minimum version in /data/" MIN_VERSION_FILE " is not a number");
}

static void step_rollback(boot *b)
{
        if (b->mf->version < b->min_version)
                fail(b,
                     "manifest of slot %c has version %" PRIu64 ", below the minimum %" PRIu64
                     " stored on this device (rollback refused)",
                     b->slot, b->mf->version, b->min_version);
        say("version %" PRIu64 " >= stored minimum %" PRIu64 ": no rollback", b->mf->version, b->min_version);
}

/*
 * Read the whole device: dm-verity checks each block as it is read, and only then. The device is
 * cut into one stripe per online CPU (at most MK_PARALLEL_MAX), read by as many threads, so that the
 * hashing, which dm-verity does on the CPU that asked for the blocks, runs on all of them.
 */
#define READ_CHUNK (1u << 20)

typedef struct stripe {
        int fd;
        uint64_t from, to;
        uint64_t bad_at; /* where a read failed */
        int r;           /* 0 or -errno */
} stripe;

static uint64_t min_u64(uint64_t a, uint64_t b)
{
        return a < b ? a : b;
}

static void *read_stripe(void *arg)
{
        stripe *s = arg;
        char *buf = malloc(READ_CHUNK);
        if (!buf) {
                s->r = -ENOMEM;
                s->bad_at = s->from;
                return NULL;
        }
        for (uint64_t off = s->from; off < s->to;) {
                size_t want = (size_t)min_u64(READ_CHUNK, s->to - off);
                ssize_t k = pread(s->fd, buf, want, (off_t)off);
                if (k < 0 && errno == EINTR)
                        continue;
                if (k <= 0) {
                        s->r = k < 0 ? -errno : -EIO;
                        s->bad_at = off;
                        break;
                }
                off += (uint64_t)k;
        }
        free(buf);
        return NULL;
}

static int read_all(const char *node, uint64_t len, uint64_t *bad_at)
{
        _cleanup_close_ int fd = open(node, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        (void)posix_fadvise(fd, 0, (off_t)len, POSIX_FADV_SEQUENTIAL);
        size_t n = mk_parallel_threads();
        uint64_t per = (len / n + READ_CHUNK - 1) / READ_CHUNK * READ_CHUNK; /* stripes of whole chunks */
        stripe st[MK_PARALLEL_MAX];
        for (size_t i = 0; i < n; i++) {
                uint64_t from = min_u64(len, per * i), to = i + 1 == n ? len : min_u64(len, per * (i + 1));
                st[i] = (stripe){.fd = fd, .from = from, .to = to};
        }
        mk_parallel_run(st, n, sizeof(st[0]), read_stripe);
        /* The first bad byte of the device is the one to report. */
        for (size_t i = 0; i < n; i++)
                if (st[i].r < 0) {
                        *bad_at = st[i].bad_at;
                        return st[i].r;
                }
        return 0;
}

static void step_verity(boot *b)
{
        mk_error err = {0};
        const mk_manifest *m = b->mf;
        part_dev data, hash;
        if (find_partition(m->root.partuuid, false, DISK_WAIT_MS, &data, &err) < 0)
                fail(b, "root partition '%s' of slot %c: %s", m->root.partition, b->slot, err.msg);
        if (find_partition(m->root.verity.partuuid, false, DISK_WAIT_MS, &hash, &err) < 0)
                fail(b, "verity partition '%s' of slot %c: %s", m->root.verity.partition, b->slot, err.msg);
        if (data.size < m->root.size)
                fail(b, "root partition %s holds %" PRIu64 " bytes, the manifest says the root is %" PRIu64, data.node,
                     data.size, m->root.size);
        /* Format 1, hashes after the 4 KiB cryptsetup superblock (hash start block 1). */
        char params[512];
        uint64_t sectors = m->root.verity.data_blocks * (m->root.verity.data_block_size / 512);
        int n = snprintf(params, sizeof(params), "1 %u:%u %u:%u %u %u %" PRIu64 " 1 sha256 %s %s", data.major,
                         data.minor, hash.major, hash.minor, m->root.verity.data_block_size,
                         m->root.verity.hash_block_size, m->root.verity.data_blocks, m->root.verity.root_hash,
                         m->root.verity.salt);
        if (dm_create("root", "verity", sectors, params, true, &err) < 0)
                fail(b, "dm-verity for slot %c: %s", b->slot, err.msg);
        uint64_t bad_at = 0;
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
#ifdef MK_VERIFY_BENCH_NO_READ
        /* tests/bench/debian-boot.sh only: the boot without the read, to weigh it. Never in a device's initrd. */
        int r = 0;
        (void)read_all;
        say("BENCHMARK BUILD: the root is not read before switch_root (dm-verity checks each block when it is used)");
#else
        int r = read_all("/dev/mapper/root", m->root.size, &bad_at);
#endif
        clock_gettime(CLOCK_MONOTONIC, &t1);
        double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
        if (r < 0)
                fail(b, "root of slot %c does not match its manifest: dm-verity read error at byte %" PRIu64 ": %s",
                     b->slot, bad_at, strerror(-r));
        /* From now on a corrupted block restarts the machine instead of returning EIO. */
        snprintf(params + n, sizeof(params) - (size_t)n, " 1 restart_on_corruption");
        if (dm_create("root", "verity", sectors, params, true, &err) < 0)
                fail(b, "dm-verity for slot %c: %s", b->slot, err.msg);
        char table[600];
        if (dm_table("root", table, sizeof(table), &err) < 0)
                snprintf(table, sizeof(table), "(%.500s)", err.msg);
        say("root of slot %c verified: %" PRIu64 " bytes read through dm-verity in %.2f s; dm table root: %s", b->slot,
            m->root.size, secs, table);
        mkdir(NEWROOT, 0755);
        if (mount("/dev/mapper/root", NEWROOT, "squashfs", MS_RDONLY | MS_NODEV, NULL) < 0)
                fail(b, "cannot mount the squashfs root of slot %c: %s", b->slot, strerror(errno));
}

static void write_state(boot *b, const char *name, const char *fmt, ...)
{
        char path[128], text[300];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(text, sizeof(text), fmt, ap);
        va_end(ap);
        snprintf(path, sizeof(path), STATE_DIR "/%s", name);
        _cleanup_close_ int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd < 0 || write(fd, text, strlen(text)) != (ssize_t)strlen(text))
                fail(b, "cannot write %s: %s", path, strerror(errno));
}

/*
 * The key this boot was verified with, for the root's updater (docs/update.md): it trusts what the
 * boot chain trusts, and the key stays where only the initrd put it (the root's files do not hold it).
 */
static void hand_over_key(boot *b)
{
        mk_error err = {0};
        _cleanup_free_ char *text = NULL;
        size_t len;
        if (mk_read_file(TRUSTED_PUB, MK_MINISIGN_FILE_MAX, &text, &len, &err) < 0)
                fail(b, "the initrd's trust anchor: %s", err.msg);
        _cleanup_close_ int fd = open(STATE_DIR "/trusted.pub", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd < 0 || write(fd, text, len) != (ssize_t)len)
                fail(b, "cannot write " STATE_DIR "/trusted.pub: %s", strerror(errno));
}

/* Move a mount into the new root; a root without the mount point just loses it. */
static void move_into_root(boot *b, const char *from, const char *to)
{
        struct stat st;
        if (stat(to, &st) < 0 || !S_ISDIR(st.st_mode)) {
                say("the root has no %s: %s stays unmounted", to + strlen(NEWROOT), from);
                umount2(from, MNT_DETACH);
                return;
        }
        if (mount(from, to, NULL, MS_MOVE, NULL) < 0)
                fail(b, "cannot move %s to %s: %s", from, to, strerror(errno));
}

static void step_switch(boot *b)
{
        mkdir(STATE_DIR, 0755);
        write_state(b, "slot", "%c\n", b->slot);
        write_state(b, "version", "%" PRIu64 "\n", b->mf->version);
        write_state(b, "entry", "%s\n", b->entry);
        write_state(b, "esp", "%s\n", b->esp.node);
        hand_over_key(b);
        if (b->data_mounted)
                move_into_root(b, DATA_DIR, NEWROOT "/data");
        move_into_root(b, ESP_DIR, NEWROOT "/efi");
        move_into_root(b, "/run", NEWROOT "/run");
        move_into_root(b, "/dev", NEWROOT "/dev");
        umount2("/proc", MNT_DETACH);
        umount2("/sys", MNT_DETACH);
        say("switching to the root of slot %c (version %" PRIu64 ")", b->slot, b->mf->version);
        execl("/sbin/switch_root", "switch_root", NEWROOT, "/sbin/init", (char *)NULL);
        say("VERIFY FAILED: cannot run switch_root: %s", strerror(errno));
        halt_now(true);
}

int main(void)
{
        if (sodium_init() < 0) {
                say("VERIFY FAILED: libsodium cannot start");
                halt_now(true);
        }
        boot b = {.slot = 'a'};
        step_esp(&b);
        step_manifest(&b);
        step_data(&b);
        step_rollback(&b);
        step_verity(&b);
        step_switch(&b);
        return 1;
}
