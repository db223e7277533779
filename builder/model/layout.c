/* SPDX-License-Identifier: MIT */
#include "builder/model/layout.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "builder/model/dps.h"
#include "signing/base/macro.h"
#include "signing/yaml/schema.h"
#include "builder/model/uuid.h"
#include "builder/image/verity.h"

/*
 * One row per partition role: what it needs and how `auto` is sized. The
 * writers that fill each role are the build's stages (builder/build/build.c).
 */
typedef struct role_info {
        const char *name;
        bool slotted;         /* needs slot: a|b */
        bool unique;          /* at most one per layout */
        const char *type_fmt; /* default type; %s = the architecture's DPS name */
        uint64_t auto_size;   /* 0 = computed (verity) */
} role_info;

static const role_info roles[_MK_ROLE_MAX] = {
        [MK_ROLE_ESP] = {"esp", false, true, "esp", MK_AUTO_ESP_SIZE},
        [MK_ROLE_ROOT] = {"root", true, false, "root-%s", MK_AUTO_ROOT_SIZE},
        [MK_ROLE_ROOT_VERITY] = {"root-verity", true, false, "root-%s-verity", 0},
        [MK_ROLE_DATA] = {"data", false, true, "linux-generic", MK_AUTO_DATA_SIZE},
        [MK_ROLE_RAW] = {"raw", false, false, "linux-generic", 0},
};

static const struct {
        const char *name;
        unsigned bit;
} flag_names[] = {
        {"required", 0}, {"no-block-io", 1}, {"legacy-bios-bootable", 2},
        {"grow-fs", 59}, {"read-only", 60},  {"no-auto", 63},
};

const char *mk_role_name(mk_role r)
{
        return r < _MK_ROLE_MAX ? roles[r].name : "?";
}

mk_layout *mk_layout_free(mk_layout *l)
{
        if (!l)
                return NULL;
        free(l->parts);
        mk_ydoc_free(l->doc);
        free(l);
        return NULL;
}

const mk_partition *mk_layout_find(const mk_layout *l, mk_role role, char slot)
{
        for (size_t i = 0; i < l->n_parts; i++)
                if (l->parts[i].role == role && (!slot || l->parts[i].slot == slot))
                        return &l->parts[i];
        return NULL;
}

static int parse_flags(const ydoc *d, const ynode *n, uint64_t *ret, mk_error *err)
{
        if (n->kind != YNODE_SEQ)
                return mk_schema_error(d, n, err, "'flags' must be a list, e.g. [read-only]");
        const char *names[ELEMENTSOF(flag_names)];
        for (size_t i = 0; i < ELEMENTSOF(flag_names); i++)
                names[i] = flag_names[i].name;
        uint64_t attrs = 0;
        for (size_t i = 0; i < n->n; i++) {
                const ynode *f = n->vals[i];
                const char *s;
                int r = mk_schema_string(d, f, "flags", 64, &s, err);
                if (r < 0)
                        return r;
                bool found = false;
                for (size_t j = 0; j < ELEMENTSOF(flag_names) && !found; j++)
                        if (!strcmp(s, flag_names[j].name)) {
                                attrs |= 1ull << flag_names[j].bit;
                                found = true;
                        }
                if (found)
                        continue;
                uint64_t bit;
                if (s[0] >= '0' && s[0] <= '9') {
                        if ((r = mk_schema_uint(d, f, "flags", 0, 63, &bit, err)) < 0)
                                return r;
                        if (bit >= 3 && bit < 48)
                                return mk_schema_error(
                                        d, f, err,
                                        "GPT attribute bit %llu is reserved by the UEFI spec (use 0-2 or 48-63)",
                                        (unsigned long long)bit);
                        attrs |= 1ull << bit;
                        continue;
                }
                const char *hint = mk_schema_did_you_mean(s, names, ELEMENTSOF(names));
                return mk_schema_error(d, f, err, "unknown flag '%.64s' (%s%s%s)", s,
                                       hint ? "did you mean '"
                                            : "use one of required, no-block-io, legacy-bios-bootable, grow-fs, "
                                              "read-only, no-auto or a bit number",
                                       hint ? hint : "", hint ? "'?" : "");
        }
        *ret = attrs;
        return 0;
}

static int parse_type(const ydoc *d, const ynode *n, mk_partition *p, mk_error *err)
{
        const char *s;
        int r = mk_schema_string(d, n, "type", 64, &s, err);
        if (r < 0)
                return r;
        const char *guid = mk_dps_type_guid(s);
        if (guid) {
                p->type_name = s;
                memcpy(p->type_guid, guid, 37);
                return 0;
        }
        if (mk_guid_is_valid(s)) {
                for (size_t i = 0; i < 36; i++)
                        p->type_guid[i] = (char)(s[i] >= 'a' && s[i] <= 'f' ? s[i] - 32 : s[i]);
                p->type_guid[36] = 0;
                p->type_name = mk_dps_type_name(p->type_guid);
                return 0;
        }
        if (strlen(s) == 36 && s[8] == '-' && s[13] == '-')
                return mk_schema_error(d, n, err, "'%s' is not a valid GUID (write 8-4-4-4-12 hexadecimal digits)", s);
        size_t nn;
        const char *const *names = mk_dps_type_names(&nn);
        const char *hint = mk_schema_did_you_mean(s, names, nn);
        if (hint)
                return mk_schema_error(d, n, err, "unknown partition type '%.64s' (did you mean '%s'?)", s, hint);
        return mk_schema_error(d, n, err,
                               "unknown partition type '%.64s' (use a Discoverable Partitions name such as esp, "
                               "root-x86-64, root-x86-64-verity, linux-generic, or a GUID)",
                               s);
}

/*
 * A partition's type must say what its role puts there: the boot chain and
 * systemd's discovery find partitions by type. Literal GUIDs are accepted for
 * data and raw partitions only.
 */
static int check_role_type(const ydoc *d, const ynode *n, const mk_partition *p, const mk_model *m, mk_error *err)
{
        char want[64] = "";
        switch (p->role) {
        case MK_ROLE_ESP:
                snprintf(want, sizeof(want), "esp");
                break;
        case MK_ROLE_ROOT:
                snprintf(want, sizeof(want), "root-%s", mk_arch_dps(m->arch));
                break;
        case MK_ROLE_ROOT_VERITY:
                snprintf(want, sizeof(want), "root-%s-verity", mk_arch_dps(m->arch));
                break;
        case MK_ROLE_DATA:
                if (!p->type_name || !strcmp(p->type_name, "linux-generic") || !strcmp(p->type_name, "var") ||
                    !strcmp(p->type_name, "home") || !strcmp(p->type_name, "srv"))
                        return 0;
                return mk_schema_error(d, n, err,
                                       "type '%s' does not fit role data (use linux-generic, var, home, srv or a GUID)",
                                       p->type_name);
        default:
                return 0;
        }
        if (p->type_name && !strcmp(p->type_name, want))
                return 0;
        return mk_schema_error(d, n, err, "type '%s' does not fit role %s on %s (use '%s', or leave 'type' out)",
                               p->type_name ? p->type_name : p->type_guid, roles[p->role].name, mk_arch_name(m->arch),
                               want);
}

static const schema_key part_keys[] = {
        {"name", true},      {"role", true},    {"slot", false},  {"type", false},    {"size", true},
        {"min-size", false}, {"offset", false}, {"flags", false}, {"content", false}, {"headroom", false},
};

static int parse_partition(mk_layout *l, const mk_model *m, const ynode *e, mk_partition *p, mk_error *err)
{
        const ydoc *d = l->doc;
        char what[64];
        snprintf(what, sizeof(what), "partition #%zu", l->n_parts + 1);
        int r = mk_schema_check_map(d, e, what, part_keys, ELEMENTSOF(part_keys), err);
        if (r < 0)
                return r;
        p->line = e->line;
        p->col = e->col;
        const ynode *v = mk_ynode_get(e, "name");
        if ((r = mk_schema_name(d, v, "name", &p->name, err)) < 0)
                return r;
        if (strlen(p->name) > MK_GPT_NAME_MAX)
                return mk_schema_error(d, v, err, "partition name '%s' is longer than %d characters (GPT holds 36)",
                                       p->name, MK_GPT_NAME_MAX);
        for (size_t i = 0; i < l->n_parts; i++)
                if (!strcmp(l->parts[i].name, p->name))
                        return mk_schema_error(d, v, err,
                                               "duplicate partition name '%s' (first at line %u; names must be unique)",
                                               p->name, l->parts[i].line);
        const char *role_names[_MK_ROLE_MAX];
        for (size_t i = 0; i < _MK_ROLE_MAX; i++)
                role_names[i] = roles[i].name;
        unsigned e_role;
        if ((r = mk_schema_enum(d, mk_ynode_get(e, "role"), "role", role_names, _MK_ROLE_MAX, &e_role, err)) < 0)
                return r;
        p->role = (mk_role)e_role;
        const role_info *ri = &roles[p->role];

        v = mk_ynode_get(e, "slot");
        if (ri->slotted && !v)
                return mk_schema_error(d, e, err, "partition '%s' (role %s) needs 'slot: a' or 'slot: b'", p->name,
                                       ri->name);
        if (v) {
                static const char *const slots[] = {"a", "b"};
                unsigned s;
                if (!ri->slotted)
                        return mk_schema_error(d, v, err,
                                               "'slot' applies only to root and root-verity partitions (remove it)");
                if ((r = mk_schema_enum(d, v, "slot", slots, 2, &s, err)) < 0)
                        return r;
                p->slot = s ? 'b' : 'a';
        }
        if ((v = mk_ynode_get(e, "content"))) {
                static const char *const contents[] = {"copy", "empty"};
                unsigned c;
                if (p->role != MK_ROLE_ROOT || p->slot != 'b')
                        return mk_schema_error(d, v, err,
                                               "'content' applies only to the root partition of slot b (remove it)");
                if ((r = mk_schema_enum(d, v, "content", contents, 2, &c, err)) < 0)
                        return r;
                p->content = (mk_slot_content)c;
        }
        if ((v = mk_ynode_get(e, "type"))) {
                if ((r = parse_type(d, v, p, err)) < 0)
                        return r;
                if ((r = check_role_type(d, v, p, m, err)) < 0)
                        return r;
        } else {
                char tn[64];
                snprintf(tn, sizeof(tn), ri->type_fmt, mk_arch_dps(m->arch));
                const char *guid = mk_dps_type_guid(tn);
                memcpy(p->type_guid, guid, 37);
                p->type_name = NULL;
        }

        v = mk_ynode_get(e, "size");
        if (v->kind == YNODE_SCALAR && !strcmp(v->str, "auto")) {
                if (p->role == MK_ROLE_RAW)
                        return mk_schema_error(d, v, err,
                                               "a raw partition has no content to size 'auto' (give a size)");
                p->size_kind = MK_SIZE_AUTO;
        } else if (v->kind == YNODE_SCALAR && !strcmp(v->str, "grow")) {
                p->size_kind = MK_SIZE_GROW;
                p->size = MK_ALIGN;
        } else {
                if ((r = mk_schema_size(d, v, "size", &p->size, err)) < 0)
                        return r;
                if (p->size == 0 || p->size % 4096)
                        return mk_schema_error(d, v, err, "'size' must be a non-zero multiple of 4 KiB");
        }
        if ((v = mk_ynode_get(e, "min-size"))) {
                if (p->size_kind != MK_SIZE_GROW)
                        return mk_schema_error(d, v, err, "'min-size' applies only to 'size: grow' (remove it)");
                if ((r = mk_schema_size(d, v, "min-size", &p->size, err)) < 0)
                        return r;
                if (p->size == 0 || p->size % 4096)
                        return mk_schema_error(d, v, err, "'min-size' must be a non-zero multiple of 4 KiB");
        }
        if ((v = mk_ynode_get(e, "offset"))) {
                if ((r = mk_schema_size(d, v, "offset", &p->offset, err)) < 0)
                        return r;
                if (p->offset < MK_ALIGN || p->offset % MK_ALIGN)
                        return mk_schema_error(
                                d, v, err,
                                "'offset' must be a multiple of 1 MiB, at least 1 MiB (the GPT lives below)");
        }
        if ((v = mk_ynode_get(e, "flags")) && (r = parse_flags(d, v, &p->attrs, err)) < 0)
                return r;
        if ((v = mk_ynode_get(e, "headroom"))) {
                if (p->role != MK_ROLE_ROOT || p->size_kind != MK_SIZE_AUTO)
                        return mk_schema_error(
                                d, v, err, "'headroom' applies only to root partitions with 'size: auto' (remove it)");
                size_t len = v->kind == YNODE_SCALAR ? v->len : 0;
                if (len > 1 && v->str[len - 1] == '%') {
                        char num[16];
                        uint64_t pct = 0;
                        snprintf(num, sizeof(num), "%.*s", (int)(len - 1), v->str);
                        if (mk_parse_size(num, &pct) < 0 || pct > 1000)
                                return mk_schema_error(d, v, err,
                                                       "'headroom' must be a size or a percentage from 0%% to 1000%%");
                        p->headroom_pct = (unsigned)pct;
                } else if ((r = mk_schema_size(d, v, "headroom", &p->headroom, err)) < 0) {
                        return r;
                }
        }
        return 0;
}

/* Cross-partition rules, checked once all partitions are read. */
static int check_partitions(mk_layout *l, const ynode *list, mk_error *err)
{
        const ydoc *d = l->doc;
        for (size_t i = 0; i < l->n_parts; i++) {
                const mk_partition *p = &l->parts[i];
                const ynode *e = list->vals[i];
                for (size_t j = 0; j < i; j++) {
                        const mk_partition *q = &l->parts[j];
                        if (q->role != p->role)
                                continue;
                        if (roles[p->role].unique)
                                return mk_schema_error(
                                        d, e, err,
                                        "a second %s partition '%s' (only one is allowed; '%s' is at line %u)",
                                        roles[p->role].name, p->name, q->name, q->line);
                        if (roles[p->role].slotted && q->slot == p->slot)
                                return mk_schema_error(
                                        d, e, err, "slot %c has two %s partitions, '%s' and '%s' (give each slot one)",
                                        p->slot, roles[p->role].name, q->name, p->name);
                }
                if (p->size_kind == MK_SIZE_GROW && i + 1 != l->n_parts)
                        for (size_t j = i + 1; j < l->n_parts; j++)
                                if (l->parts[j].size_kind == MK_SIZE_GROW)
                                        return mk_schema_error(d, list->vals[j], err,
                                                               "a second 'size: grow' partition '%s' ('%s' already "
                                                               "grows; only one can)",
                                                               l->parts[j].name, p->name);
                if (p->size_kind == MK_SIZE_GROW && i + 1 != l->n_parts)
                        return mk_schema_error(d, e, err, "only the last partition can 'grow' (move '%s' to the end)",
                                               p->name);
                if (p->role == MK_ROLE_ROOT_VERITY && !mk_layout_find(l, MK_ROLE_ROOT, p->slot))
                        return mk_schema_error(d, e, err,
                                               "verity partition '%s' has no root partition in slot %c (add one)",
                                               p->name, p->slot);
                if (p->role == MK_ROLE_ROOT && !mk_layout_find(l, MK_ROLE_ROOT_VERITY, p->slot))
                        return mk_schema_error(d, e, err,
                                               "root partition '%s' has no root-verity partition in slot %c (every "
                                               "root is verified: add one)",
                                               p->name, p->slot);
                if (p->role == MK_ROLE_ROOT && p->slot == 'b' && p->content == MK_SLOT_COPY &&
                    !mk_layout_find(l, MK_ROLE_ROOT, 'a'))
                        return mk_schema_error(d, e, err,
                                               "root partition '%s' copies slot a, but there is no slot a root (add "
                                               "one or use 'content: empty')",
                                               p->name);
        }
        if (!mk_layout_find(l, MK_ROLE_ROOT, 'a'))
                return mk_schema_error(
                        d, list, err,
                        "the layout has no root partition for slot a (add one with 'role: root, slot: a')");
        return 0;
}

static const schema_key layout_keys[] = {
        {"layout", true}, {"size", false}, {"min-size", false}, {"boot-tries", false}, {"partitions", true},
};

static int parse_layout(mk_layout *l, const mk_model *m, mk_error *err)
{
        const ydoc *d = l->doc;
        const ynode *root = d->root;
        int r = mk_schema_check_map(d, root, "the layout", layout_keys, ELEMENTSOF(layout_keys), err);
        if (r < 0)
                return r;
        if ((r = mk_schema_name(d, mk_ynode_get(root, "layout"), "layout", &l->name, err)) < 0)
                return r;
        const ynode *v;
        if ((v = mk_ynode_get(root, "size"))) {
                if (mk_ynode_get(root, "min-size"))
                        return mk_schema_error(d, mk_ynode_get(root, "min-size"), err,
                                               "give either 'size' or 'min-size', not both");
                if ((r = mk_schema_size(d, v, "size", &l->size, err)) < 0)
                        return r;
                l->size_line = v->line;
                l->size_col = v->col;
                if (l->size % MK_ALIGN || l->size < 2 * MK_ALIGN)
                        return mk_schema_error(d, v, err,
                                               "the disk 'size' must be a multiple of 1 MiB and at least 2 MiB");
        }
        if ((v = mk_ynode_get(root, "min-size"))) {
                if ((r = mk_schema_size(d, v, "min-size", &l->min_size, err)) < 0)
                        return r;
                if (l->min_size == 0 || l->min_size % MK_ALIGN)
                        return mk_schema_error(d, v, err, "'min-size' must be a non-zero multiple of 1 MiB");
        }
        l->boot_tries = 3;
        if ((v = mk_ynode_get(root, "boot-tries"))) {
                uint64_t t;
                if ((r = mk_schema_uint(d, v, "boot-tries", 1, 9, &t, err)) < 0)
                        return r;
                l->boot_tries = (unsigned)t;
        }
        const ynode *list = mk_ynode_get(root, "partitions");
        if (list->kind != YNODE_SEQ || list->n == 0)
                return mk_schema_error(d, list, err, "'partitions' must be a non-empty list");
        if (list->n > MK_MAX_PARTITIONS)
                return mk_schema_error(d, list, err, "more than %d partitions (GPT holds 128)", MK_MAX_PARTITIONS);
        l->parts = calloc(list->n, sizeof(*l->parts));
        if (!l->parts)
                return -ENOMEM;
        for (size_t i = 0; i < list->n; i++) {
                if ((r = parse_partition(l, m, list->vals[i], &l->parts[i], err)) < 0)
                        return r;
                l->n_parts++;
        }
        return check_partitions(l, list, err);
}

int mk_layout_load(const char *path, const mk_model *m, mk_layout **ret, mk_error *err)
{
        mk_layout *l = calloc(1, sizeof(*l));
        if (!l)
                return mk_error_set(err, ENOMEM, "out of memory");
        int r = mk_ydoc_load_file(path, &l->doc, err);
        if (r >= 0) {
                l->path = l->doc->path;
                r = parse_layout(l, m, err);
        }
        if (r == -ENOMEM && !mk_error_isset(err))
                mk_error_set(err, ENOMEM, "%s: out of memory", path);
        if (r < 0) {
                mk_layout_free(l);
                return r;
        }
        *ret = l;
        return 0;
}

/* The hash area the slot's root needs (root lengths are multiples of 4096). */
static uint64_t verity_need(const mk_layout *l, char slot)
{
        return mk_verity_hash_size(mk_layout_find(l, MK_ROLE_ROOT, slot)->length / MK_VERITY_BLOCK);
}

static uint64_t align_up(uint64_t v, uint64_t a)
{
        return (v + a - 1) / a * a;
}

static int too_large(const mk_layout *l, const mk_partition *p, mk_error *err)
{
        return mk_error_set(err, ERANGE,
                            "%s:%u:%u: partition '%s' does not fit in 64-bit byte offsets (reduce its size or offset)",
                            l->path, p->line, p->col, p->name);
}

#define MiB(x) ((unsigned long long)(((x) + MK_ALIGN - 1) / MK_ALIGN))

int mk_layout_plan(mk_layout *l, const mk_model *m, const uint64_t *auto_sizes, mk_error *err)
{
        const uint64_t backup = 33 * MK_SECTOR; /* backup GPT: 32 sectors of entries + header */
        uint64_t cursor = MK_ALIGN;

        /* Lengths first: a verity partition is sized from its root. */
        for (size_t i = 0; i < l->n_parts; i++) {
                mk_partition *p = &l->parts[i];
                if (p->size_kind == MK_SIZE_FIXED)
                        p->length = p->size;
                else if (p->size_kind == MK_SIZE_GROW)
                        p->length = align_up(p->size, MK_ALIGN);
                else if (auto_sizes && auto_sizes[i])
                        p->length = align_up(auto_sizes[i], 4096);
                else
                        p->length = roles[p->role].auto_size;
        }
        for (size_t i = 0; i < l->n_parts; i++) {
                mk_partition *p = &l->parts[i];
                if (p->size_kind == MK_SIZE_AUTO && p->role == MK_ROLE_ROOT_VERITY && !(auto_sizes && auto_sizes[i]))
                        p->length = align_up(verity_need(l, p->slot), MK_ALIGN);
        }
        for (size_t i = 0; i < l->n_parts; i++) {
                const mk_partition *p = &l->parts[i];
                if (p->role != MK_ROLE_ROOT_VERITY)
                        continue;
                uint64_t need = verity_need(l, p->slot);
                if (p->length < need)
                        return mk_error_set(err, ENOSPC,
                                            "%s:%u:%u: verity partition '%s' holds %llu bytes, but the hash tree of "
                                            "its %llu MiB root needs %llu (use 'size: auto' or at least %lluK)",
                                            l->path, p->line, p->col, p->name, (unsigned long long)p->length,
                                            MiB(mk_layout_find(l, MK_ROLE_ROOT, p->slot)->length),
                                            (unsigned long long)need, (unsigned long long)(need >> 10));
        }
        for (size_t i = 0; i < l->n_parts; i++) {
                mk_partition *p = &l->parts[i];
                uint64_t start = align_up(cursor, MK_ALIGN);
                if (p->offset) {
                        if (p->offset < cursor) {
                                const mk_partition *q = &l->parts[i - 1];
                                return mk_error_set(err, EINVAL,
                                                    "%s:%u:%u: partition '%s' at offset %llu MiB overlaps '%s' (which "
                                                    "ends at %llu MiB; raise the offset)",
                                                    l->path, p->line, p->col, p->name,
                                                    (unsigned long long)(p->offset >> 20), q->name, MiB(cursor));
                        }
                        start = p->offset;
                }
                if (start < cursor || __builtin_add_overflow(start, p->length, &cursor))
                        return too_large(l, p, err);
                p->start = start;
        }
        uint64_t needed;
        if (__builtin_add_overflow(cursor, backup, &needed) || needed > UINT64_MAX - MK_ALIGN)
                return too_large(l, &l->parts[l->n_parts - 1], err);
        needed = align_up(needed, MK_ALIGN);

        uint64_t disk = l->size ? l->size : needed;
        if (l->min_size > disk)
                disk = l->min_size;
        if (needed > disk)
                return mk_error_set(err, ENOSPC,
                                    "%s:%u:%u: the partitions need %llu MiB but the disk 'size' is %llu MiB (raise "
                                    "'size' to at least %lluMiB or shrink partitions)",
                                    l->path, l->size_line, l->size_col, MiB(needed), MiB(disk), MiB(needed));
        mk_partition *last = &l->parts[l->n_parts - 1];
        if (last->size_kind == MK_SIZE_GROW) {
                /* libfdisk aligns a partition's end to the 1 MiB grain. */
                uint64_t end = (disk - backup) / MK_ALIGN * MK_ALIGN;
                if (end < last->start + last->size)
                        return mk_error_set(err, ENOSPC,
                                            "%s:%u:%u: partition '%s' gets %llu MiB but needs at least %llu MiB (raise "
                                            "the disk 'size' by %llu MiB)",
                                            l->path, last->line, last->col, last->name,
                                            (unsigned long long)((end > last->start ? end - last->start : 0) >> 20),
                                            MiB(last->size), MiB(last->start + last->size - end));
                last->length = end - last->start;
        }
        l->disk_size = disk;

        mk_uuid_derive(m->brand, m->model, "gpt-disk", "", l->disk_uuid);
        for (size_t i = 0; i < l->n_parts; i++)
                mk_uuid_derive(m->brand, m->model, "gpt-partition", l->parts[i].name, l->parts[i].uuid);
        return 0;
}
