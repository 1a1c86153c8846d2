/*
 * system_startup.c - the order in which a System's operations reach its
 * machines: the start order of an OVF StartupSection as cimid keeps it
 * (docs/SYSTEMS.md "Start order").
 *
 * A componentDescriptor's startOrder, startDelay and stopDelay (cimid
 * extensions) are copied by system_create.c into the private document of
 * every member item it makes.  A start reaches the machines group by group,
 * in ascending startOrder (equal orders together, none = 0 first), waiting
 * after each group the largest startDelay of its members; a stop goes in
 * descending order with stopDelay.  A machine of a nested System is placed
 * by the orders along its path (the nested System's item, then its own),
 * compared level by level; a nested System's delays are not applied.  The
 * other operations reach every machine at once.  Each group is a stage of
 * the operation's nested Jobs (jobs/steps.c), a wait a step of its own
 * ("system.wait").
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "resources/system_ops.h"

/* One machine reached by an operation: its path, its orders along the
 * nesting path and its delays. */
struct placed {
    char path[256];
    long key[SYSTEM_NESTING_MAX + 1];
    int depth;
    long start_delay, stop_delay;
    size_t index;           /* in member order */
};

struct placing {
    struct store *st;
    struct placed *machines;
    size_t count, cap;
    json_t *seen;           /* machine and System paths reached so far */
    json_t *nested;         /* [{"system": path, "order": n}] of the level being read */
    bool out_of_memory;
    const long *prefix;
    int depth;
};

static long priv_int(const json_t *priv, const char *name)
{
    json_int_t v = json_integer_value(json_object_get(priv, name));
    return v < 0 ? 0 : (long)v;
}

/* The path of an item's reference (stored relative; an absolute href cut
 * after its base), if it still names a row. */
static const char *live_member(struct store *st, const json_t *doc, const char *ref,
                               const char *coll, char *path, size_t len)
{
    const char *href = resource_ref(doc, ref), *at;
    char needle[64];
    long long version;

    if (href == NULL)
        return NULL;
    snprintf(needle, sizeof(needle), "/%s/", coll);
    at = strncmp(href, needle + 1, strlen(needle) - 1) == 0 ? href : strstr(href, needle);
    snprintf(path, len, "%s", at == NULL || at == href ? href : at + 1);
    /* a member deleted on its own is no member any more (system_members.c) */
    return st->ops->version(st, path, &version, NULL) == 0 ? path : NULL;
}

static int place_machine(void *arg, struct store_row *item)
{
    struct placing *p = arg;
    char path[256];
    struct placed *m;

    if (!live_member(p->st, item->doc, "machine", "machines", path, sizeof(path)) ||
        json_object_get(p->seen, path))
        return 0;
    if (p->count == p->cap) {
        size_t cap = p->cap ? p->cap * 2 : 16;
        struct placed *grown = realloc(p->machines, cap * sizeof(*grown));
        if (!grown) {
            p->out_of_memory = true;
            return 1; /* stops the listing */
        }
        p->machines = grown, p->cap = cap;
    }
    json_object_set_new(p->seen, path, json_true());
    m = &p->machines[p->count++];
    memset(m, 0, sizeof(*m));
    snprintf(m->path, sizeof(m->path), "%s", path);
    memcpy(m->key, p->prefix, (size_t)p->depth * sizeof(long));
    m->key[p->depth] = priv_int(item->priv, "startOrder");
    m->depth = p->depth + 1;
    m->start_delay = priv_int(item->priv, "startDelay");
    m->stop_delay = priv_int(item->priv, "stopDelay");
    m->index = p->count - 1;
    return 0;
}

static int note_nested(void *arg, struct store_row *item)
{
    struct placing *p = arg;
    char path[256];

    if (live_member(p->st, item->doc, "system", "systems", path, sizeof(path)) &&
        !json_object_get(p->seen, path)) {
        json_object_set_new(p->seen, path, json_true());
        json_array_append_new(p->nested, json_pack("{s:s, s:I}", "system", path, "order",
                                                   (json_int_t)priv_int(item->priv, "startOrder")));
    }
    return 0;
}

/* The machines of system_id and, depth first, of the Systems nested in it. */
static int place_system(struct placing *p, const char *system_id, const long *prefix, int depth,
                        struct cimi_error *err)
{
    json_t *nested = json_array(), *n;
    size_t i;
    int rc;

    p->prefix = prefix, p->depth = depth, p->nested = nested;
    rc = p->st->ops->list(p->st, t_system_machine.name, system_id, NULL, place_machine, p, err);
    if (rc == 0 && p->out_of_memory)
        rc = err_set(err, 500, NULL, "out of memory");
    if (rc == 0 && depth < SYSTEM_NESTING_MAX)
        rc = p->st->ops->list(p->st, t_system_system.name, system_id, NULL, note_nested, p, err);
    json_array_foreach(nested, i, n) {
        long key[SYSTEM_NESTING_MAX + 1];
        if (rc != 0)
            break;
        memcpy(key, prefix, (size_t)depth * sizeof(long));
        key[depth] = (long)json_integer_value(json_object_get(n, "order"));
        rc = place_system(p, json_string_value(json_object_get(n, "system")), key, depth + 1,
                          err);
    }
    json_decref(nested);
    return rc;
}

/* Level by level; a missing level counts as 0. */
static int compare_keys(const struct placed *a, const struct placed *b)
{
    int depth = a->depth > b->depth ? a->depth : b->depth;

    for (int i = 0; i < depth; i++) {
        long x = i < a->depth ? a->key[i] : 0, y = i < b->depth ? b->key[i] : 0;
        if (x != y)
            return x < y ? -1 : 1;
    }
    return 0;
}

static int by_key(const void *a, const void *b)
{
    const struct placed *x = a, *y = b;
    int c = compare_keys(x, y);
    /* equal keys keep member order (qsort is not stable) */
    return c ? c : x->index < y->index ? -1 : x->index > y->index;
}

/* Group g's wait: the largest delay of its members, within the cap. */
static long group_delay(const struct placed *from, const struct placed *to, bool start)
{
    long delay = 0;

    for (const struct placed *m = from; m < to; m++) {
        long d = start ? m->start_delay : m->stop_delay;
        delay = d > delay ? d : delay;
    }
    return delay > CIMI_SYSTEM_DELAY_MAX ? CIMI_SYSTEM_DELAY_MAX : delay;
}

static void add_machine(json_t *plan, int stage, const struct placed *m)
{
    json_array_append_new(plan, json_pack("{s:s, s:i}", "machine", m->path, "stage", stage));
}

static void add_wait(json_t *plan, int stage, long seconds, bool start, const struct placed *m)
{
    char why[400];

    snprintf(why, sizeof(why), "the %s of the group of %s", start ? "startDelay" : "stopDelay",
             m->path);
    json_array_append_new(plan, json_pack("{s:I, s:i, s:s}", "wait", (json_int_t)seconds,
                                          "stage", stage, "why", why));
}

/* The machines of the System at system_id into p, in start order when
 * sorted (else member order). */
static int place_all(struct placing *p, struct store *st, const char *system_id, bool sorted,
                     struct cimi_error *err)
{
    static const long top[1] = {0};
    int rc;

    memset(p, 0, sizeof(*p));
    p->st = st;
    p->seen = json_object();
    rc = place_system(p, system_id, top, 0, err);
    if (rc == 0 && sorted && p->count > 1)
        qsort(p->machines, p->count, sizeof(*p->machines), by_key);
    return rc;
}

static void placing_free(struct placing *p)
{
    free(p->machines);
    json_decref(p->seen);
}

int system_op_plan(struct store *st, const char *system_id, const char *op, json_t *plan,
                   struct cimi_error *err)
{
    struct placing p;
    bool start = strcmp(op, "start") == 0, ordered = start || strcmp(op, "stop") == 0;
    int rc = place_all(&p, st, system_id, ordered, err), stage = 0;
    size_t i, end;

    if (rc == 0 && ordered) {
        for (i = 0; !start && i < p.count / 2; i++) { /* a stop: the last group first */
            struct placed t = p.machines[i];
            p.machines[i] = p.machines[p.count - 1 - i];
            p.machines[p.count - 1 - i] = t;
        }
    }
    for (i = 0; rc == 0 && i < p.count; i = end, stage++) {
        /* a group: equal keys (every machine at once when op is not ordered) */
        for (end = i + 1;
             end < p.count && (!ordered || compare_keys(&p.machines[i], &p.machines[end]) == 0);
             end++)
            ;
        for (size_t k = i; k < end; k++)
            add_machine(plan, stage, &p.machines[k]);
        long wait = ordered ? group_delay(&p.machines[i], &p.machines[end], start) : 0;
        if (wait > 0 && end < p.count)
            add_wait(plan, ++stage, wait, start, &p.machines[i]);
    }
    placing_free(&p);
    return rc;
}

int system_start_orders(struct store *st, const char *system_id, json_t *orders,
                        struct cimi_error *err)
{
    struct placing p;
    int rc = place_all(&p, st, system_id, true, err);
    size_t i, end;
    json_int_t group = 1;

    for (i = 0; rc == 0 && i < p.count; i = end, group++) {
        for (end = i + 1; end < p.count && compare_keys(&p.machines[i], &p.machines[end]) == 0;
             end++)
            ;
        if (i == 0 && end == p.count)
            break; /* one group: no order to keep */
        for (size_t k = i; k < end; k++) {
            json_t *o = json_pack("{s:I}", "startOrder", group);
            if (p.machines[k].start_delay > 0)
                json_object_set_new(o, "startDelay", json_integer(p.machines[k].start_delay));
            if (p.machines[k].stop_delay > 0)
                json_object_set_new(o, "stopDelay", json_integer(p.machines[k].stop_delay));
            json_object_set_new(orders, p.machines[k].path, o);
        }
    }
    placing_free(&p);
    return rc;
}

/* ---- the wait between two groups ---- */

static int run_wait(struct job_context *ctx, struct cimi_error *err)
{
    json_int_t seconds = json_integer_value(json_object_get(ctx->params, "seconds"));
    struct timespec left = {(time_t)(seconds > CIMI_SYSTEM_DELAY_MAX ? CIMI_SYSTEM_DELAY_MAX
                                                                     : seconds), 0};
    char message[160];

    while (left.tv_sec > 0 && nanosleep(&left, &left) != 0)
        ;
    snprintf(message, sizeof(message), "waited %lld s before the next machines (%s)",
             (long long)seconds, job_param(ctx, "why"));
    return job_complete(ctx->st, ctx->job_id, NULL, NULL, NULL, true, message, err);
}

const struct job_kind system_wait_job = {.op = "system.wait", .run = run_wait};
