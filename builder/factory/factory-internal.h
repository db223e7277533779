/* SPDX-License-Identifier: MIT */
/*
 * Shared by the parts of `mkimage factory`, one concern a file:
 *   factory.c          the entry: options, the common part, the batch
 *   factory-workers.c  the worker processes and the work done ahead
 *   factory-out.c      OUTDIR and the record: names, stale temporaries, the group commit
 *   factory-device.c   one device: its key, identity, data partition, records, bmap
 *   factory-template.c the common part: built once, cloned per device
 * Calls go one way: factory -> workers -> out -> device -> template.
 */
#ifndef MK_FACTORY_INTERNAL_H
#define MK_FACTORY_INTERNAL_H

#include "builder/factory/factory.h"
#include "signing/conventions/conventions.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <linux/fs.h>
#include <pthread.h>
#include <signal.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "builder/image/bmap.h"
#include "builder/build/build-data.h"
#include "builder/build/build-boot.h"
#include "builder/build/build.h"
#include "builder/data/data-fs.h"
#include "builder/image/digest.h"
#include "builder/factory/factory-devices.h"
#include "signing/disk/fat.h"
#include "signing/base/fileio.h"
#include "builder/image/gpt.h"
#include "builder/component/verify-inputs.h"
#include "builder/model/layout.h"
#include "builder/data/luks.h"
#include "signing/base/macro.h"
#include "signing/manifest/manifest.h"
#include "signing/minisign/minisign.h"
#include "builder/model/model.h"
#include "builder/image/output.h"
#include "signing/base/tmpfiles.h"
#include "builder/model/uuid.h"

#define WORK_DIR ".mkimage-factory"
#define RECORD "factory-record.jsonl"
#define RECORD_MAX (64u << 20)
#define RECORD_LINE_MAX 1400
/* Devices a worker finishes before it makes them durable together (group commit). */
#define BATCH 8
#define PRIME_PAGE 4096u
#define ELEMENTS_MANIFEST 4 /* the signed manifests beside an image (manifest_suffixes) */
/* Devices whose data key and LUKS2 header are made while the common part builds (on the core it leaves idle). */
#define AHEAD_MAX 32
#define logf_(o, ...) mk_callback_printf((o)->log, (o)->userdata, __VA_ARGS__)

typedef struct fctx {
        const mk_factory_opts *o;
        mk_model *m;
        mk_devices *devs;
        mk_seckey *brand;
        char template_path[4300];
        int template_fd;
        uint64_t template_size;
        uint64_t esp_off;
        mk_fat_file *records[2][2]; /* per slot with placeholders: the serial record's and its signature's */
        size_t n_record_slots;
        const mk_gpt_part *data; /* in gpt */
        mk_gpt *gpt;
        bool encrypted;
        mk_bmap_ref *bref; /* the common part's piece digests, reused where a device's bytes are the same */
        mk_ranges prime;   /* whole pages the serial records' rewrite touches (sorted, disjoint) */
        char manifest_sha[65];
        bool *complete;
        int record_fd;
        int dir_fd; /* OUTDIR: syncfs() and the renames' fsync */
        struct shared *sh;
        mk_inputs *inputs; /* verified once, ahead; the workers inherit them */
        struct ahead {
                size_t device; /* index in devs */
                uint8_t *key;  /* sodium_malloc */
                mk_luks2_header *hdr;
        } ahead[AHEAD_MAX];
        size_t n_ahead;
        char *ahead_label; /* the LUKS2 label the headers made ahead carry (the layout's data partition) */
        atomic_bool ahead_stop;
        int work_slots[1 + 1 + ELEMENTS_MANIFEST]; /* the work folder, the common part and its manifests */
} fctx;

/* What the worker processes share: an anonymous shared mapping made before they are forked. */
typedef struct shared {
        pthread_mutex_t record_lock; /* process-shared and robust: appends to the record file */
        atomic_size_t next;          /* the next device to take */
        atomic_bool stop;
        atomic_ulong built;
        atomic_int err_state; /* 0 none, 1 being written, 2 written */
        mk_error err;
} shared;

/* The signed manifests beside each image (hard links to the common part's), for `mkimage verify`. */
static const char *const manifest_suffixes[ELEMENTS_MANIFEST] = {
        MK_IMAGE_MANIFEST_A, MK_IMAGE_MANIFEST_A MK_SIG_SUFFIX, MK_IMAGE_MANIFEST_B, MK_IMAGE_MANIFEST_B MK_SIG_SUFFIX};

typedef struct device_out {
        const mk_device *dev;
        mk_luks2_header *hdr; /* encrypted: formatted for key, written into the image by write_data */
        uint8_t *key;         /* sodium_malloc */
        mk_seckey *id;        /* the device's identity key */
        char *id_text;        /* its .key text, sodium_malloc */
        char pub[MK_PUB_TEXT_SIZE];
        char *serial_yaml, *serial_sig, *device_yaml;
        char *bmap;
        size_t bmap_len;
        char image_sha[65], bmap_sha[65], key_fpr[65];
        mk_output *img, *keyf, *bmapf;
        mk_ranges written; /* bytes of the image written after the clone */
} device_out;

/* ---- the common part (factory-template.c) ---- */

void mk_factory_forget_work(fctx *f);

int mk_factory_build_template(fctx *f, mk_error *err);

/* The image starts as the common part: a reflink (1), else a copy of its mapped ranges (0). */
int mk_factory_clone_template(fctx *f, int fd, const char *name, mk_error *err);

/*
 * A reflinked clone shares the common part's blocks but not its page cache:
 * the serial records' rewrite (a few sectors of FAT, directory and FSInfo,
 * each a write of a few bytes) would make the kernel read each page from
 * disk first. The pages it touches are copied in whole from the common
 * part's page cache instead. Same bytes: nothing to add to the written set.
 */
int mk_factory_prime_pages(fctx *f, int fd, const char *path, mk_error *err);

/* The common part is rebuilt by every run (it is reproducible): never left behind. */
void mk_factory_remove_work_dir(fctx *f);

/* ---- one device (factory-device.c) ---- */

/* The first error wins; every worker stops at its next device. */
void mk_factory_set_error(fctx *f, const mk_error *e);

void mk_factory_device_out_done(device_out *d);

/* The pub key's base64 line (the second line of the .pub text). */
const char *mk_factory_pub_b64(const char *pub, char out[128]);

/* A new data key for dev and, for an encrypted data partition labelled label, its LUKS2 header. */
int mk_factory_device_key(const fctx *f, const mk_device *dev, bool encrypted, const char *label, uint8_t **ret_key,
                          mk_luks2_header **ret_hdr, mk_error *err);

/* Wipe the keys made ahead that this process did not use. */
void mk_factory_drop_ahead(fctx *f);

/* A device's image, key and block map, finished under temporary names (committed by commit_batch). */
int mk_factory_build_device(fctx *f, mk_inputs *inputs, device_out *d, mk_error *err);

void mk_factory_device_error(fctx *f, const mk_device *dev, const mk_error *err);

/* ---- OUTDIR and the record (factory-out.c) ---- */

bool mk_factory_in_shard(const fctx *f, size_t i);

int mk_factory_check_outdir(fctx *f, mk_error *err);

/* Devices already in the record file are complete; a torn last line (a crash mid-append) is cut off. */
int mk_factory_read_records(fctx *f, mk_error *err);

/*
 * Group commit of n finished devices: one syncfs() makes all their files
 * durable (an fsync per file would cost a journal commit and a cache flush
 * each, three per device), then each device's key and block map and, last,
 * its image are renamed into place (the image's final name means complete),
 * the folder is synced, and only then the devices' record lines are appended
 * and synced. Frees the batch, whatever happens.
 */
int mk_factory_commit_batch(fctx *f, device_out *batch, size_t n, mk_error *err);

/* ---- the worker pool (factory-workers.c) ---- */

/*
 * The workers are processes, not threads: libcryptsetup's LUKS2 format (most
 * of a device's CPU time) fetches an OpenSSL digest for each of its 4000
 * anti-forensic stripes, and in one process the workers' fetches contend
 * for OpenSSL's global locks (threads: 20% more CPU per device). Each worker
 * dies with the factory (PR_SET_PDEATHSIG; its signal handler removes its
 * temporary files) and shares the device counter, the first error and the
 * record file's lock through f->sh.
 */
int mk_factory_run_workers(fctx *f, unsigned jobs, mk_error *err);

/*
 * While the common part builds (mostly on one core), the other core
 * verifies the components for the workers and makes the data keys and
 * LUKS2 headers (the bulk of a device's CPU time) of the first devices to
 * build. The header does not depend on the partition's size or place, only
 * on its label, taken here from the layout. Any failure just ends the work
 * ahead: the workers then do it themselves and report the error.
 */
void *mk_factory_work_ahead(void *arg);

int mk_factory_start_shared(fctx *f, mk_error *err);

#endif
