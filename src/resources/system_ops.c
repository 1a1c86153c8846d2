/*
 * system_ops.c - a System's operations and its state (DSP0263 5.10,
 * cimi.md 3.6 and 3.9).
 *
 * start, stop, restart, pause and suspend fan out to the System's machines
 * and to those of the Systems nested in it: one nested Job per machine, run
 * SYSTEM_OPS_AT_ONCE at a time (jobs/steps.c, fan-out: a member's failure
 * leaves the others alone), each done by the Machine's own action code
 * exactly as if the machine had been asked.  A machine whose state does
 * not allow the operation now is left untouched; its nested Job says so
 * (SUCCESS when it is where the operation leads already, FAILED otherwise)
 * and the System's Job names every member that failed.
 *
 * The state is derived from the machines at every read, so it follows
 * changes made to them outside the System: all in one state -> that state,
 * they differ or there are none -> MIXED; CREATING, DELETING and ERROR, set
 * by the System's own create and delete (system_create.c), stand as
 * stored.  The same read notes which operations some machine allows now
 * (the private "memberOps", rewritten at every refresh), and the System
 * offers exactly those.
 */
#include "resources/system_ops.h"

#include <stdio.h>
#include <string.h>

#include "cimi/render.h"

/* The operations that fan out, restart before start (clients match rels by
 * substring and take the last match: cimi.md 3.9). */
static const char *const fanned_ops[] = {"restart", "start", "stop", "pause", "suspend", NULL};

static const char *text(const json_t *doc, const char *name)
{
    return json_string_value(json_object_get(doc, name)) ?: "";
}

/* ---- members ---- */

struct collect {
    struct store *st;
    const char *ref;      /* "machine", "system", ... */
    const char *coll;     /* "machines", "systems", ... */
    json_t *paths;        /* where to append */
    json_t *seen;         /* paths appended so far */
};

/* The path of a member reference (stored relative: "machines/<uuid>"; an
 * absolute href is cut after its base). */
static const char *member_path(const char *href, const char *coll)
{
    char needle[64];
    const char *at;

    snprintf(needle, sizeof(needle), "/%s/", coll);
    if (strncmp(href, needle + 1, strlen(needle) - 1) == 0)
        return href;
    at = strstr(href, needle);
    return at ? at + 1 : href;
}

static int collect_one(void *arg, struct store_row *row)
{
    struct collect *c = arg;
    const char *href = resource_ref(row->doc, c->ref);
    const char *path;
    long long version;

    if (href == NULL)
        return 0;
    path = member_path(href, c->coll);
    /* A member deleted on its own is no member any more (system_members.c). */
    if (c->st->ops->version(c->st, path, &version, NULL) != 0)
        return 0;
    if (json_object_get(c->seen, path) == NULL) {
        json_object_set_new(c->seen, path, json_true());
        json_array_append_new(c->paths, json_string(path));
    }
    return 0;
}

static int list_members(struct store *st, const char *system_id, const char *item_type,
                        const char *ref, const char *coll, json_t *paths, json_t *seen,
                        struct cimi_error *err)
{
    struct collect c = {st, ref, coll, paths, seen};

    return st->ops->list(st, item_type, system_id, NULL, collect_one, &c, err);
}

/* Machines of system_id and of its nested Systems, depth levels deep. */
static int collect_machines(struct store *st, const char *system_id, int depth, json_t *machines,
                            json_t *seen, json_t *systems_seen, struct cimi_error *err)
{
    json_t *nested = json_array(), *id;
    size_t i;
    int rc;

    json_object_set_new(systems_seen, system_id, json_true());
    rc = list_members(st, system_id, t_system_machine.name, "machine", "machines", machines, seen,
                      err);
    if (rc == 0 && depth < SYSTEM_NESTING_MAX)
        rc = list_members(st, system_id, t_system_system.name, "system", "systems", nested,
                          systems_seen, err);
    json_array_foreach(nested, i, id) {
        if (rc != 0)
            break;
        rc = collect_machines(st, json_string_value(id), depth + 1, machines, seen, systems_seen,
                              err);
    }
    json_decref(nested);
    return rc;
}

int system_members_collect(struct store *st, const char *system_id, json_t *machines,
                           json_t *volumes, json_t *networks, struct cimi_error *err)
{
    json_t *seen = json_object(), *systems_seen = json_object(), *vseen = json_object();
    int rc = collect_machines(st, system_id, 0, machines, seen, systems_seen, err);

    if (rc == 0 && volumes != NULL)
        rc = list_members(st, system_id, t_system_volume.name, "volume", "volumes", volumes,
                          vseen, err);
    if (rc == 0 && networks != NULL)
        rc = list_members(st, system_id, t_system_network.name, "network", "networks", networks,
                          vseen, err);
    json_decref(seen);
    json_decref(systems_seen);
    json_decref(vseen);
    return rc;
}

/* A member Machine the principal may see, refreshed (its state now). */
static int load_machine(struct cimi_request *req, const char *path, struct store_row *machine,
                        struct cimi_error *err)
{
    if (resource_load(req, path, &t_machine, machine, err) != 0)
        return -1;
    resource_ops_of(&t_machine)->refresh(req, machine);
    return 0;
}

/* ---- state ---- */

static bool stands_as_stored(const char *state)
{
    return strcmp(state, "CREATING") == 0 || strcmp(state, "DELETING") == 0 ||
           strcmp(state, "ERROR") == 0;
}

/* Note in ops the operations the machine allows now (capture: only while
 * every machine so far allows it). */
static void note_ops(struct cimi_request *req, const struct store_row *machine, json_t *ops,
                     bool *capture)
{
    struct cimi_error ignored;

    for (size_t i = 0; fanned_ops[i]; i++)
        if (resource_op_check(req, &t_machine, machine, fanned_ops[i], &ignored) == 0)
            json_object_set_new(ops, fanned_ops[i], json_true());
    *capture = *capture && resource_op_check(req, &t_machine, machine, "capture", &ignored) == 0;
}

/* The state the machines at paths give (into derived: their one state, or
 * MIXED), noting in ops what some machine allows now, and in capture
 * whether every one may be captured. */
static void derive(struct cimi_request *req, const json_t *paths, char *derived, size_t len,
                   json_t *ops, bool *capture)
{
    struct cimi_error err;
    json_t *path;
    size_t i;

    snprintf(derived, len, "MIXED");  /* no machines */
    json_array_foreach(paths, i, path) {
        struct store_row machine;
        const char *state;
        if (load_machine(req, json_string_value(path), &machine, &err) != 0) {
            snprintf(derived, len, "MIXED");  /* not the principal's */
            *capture = false;
            continue;
        }
        state = text(machine.doc, "state");
        if (i == 0)
            snprintf(derived, len, "%s", state);
        else if (strcmp(derived, state) != 0)
            snprintf(derived, len, "MIXED");
        note_ops(req, &machine, ops, capture);
        store_row_clear(&machine);
    }
    *capture = *capture && json_array_size(paths) > 0;
}

void system_refresh(struct cimi_request *req, struct store_row *row)
{
    json_t *machines = json_array(), *ops = json_object(), *list = json_array();
    char derived[32];
    bool capture = true;
    struct cimi_error err;

    if (!stands_as_stored(text(row->doc, "state")) &&
        system_members_collect(req->st, row->id, machines, NULL, NULL, &err) == 0) {
        derive(req, machines, derived, sizeof(derived), ops, &capture);
        json_object_set_new(row->doc, "state", json_string(derived));
        if (capture)
            json_object_set_new(ops, "capture", json_true());
    }
    for (size_t i = 0; fanned_ops[i]; i++)
        if (json_object_get(ops, fanned_ops[i]))
            json_array_append_new(list, json_string(fanned_ops[i]));
    if (json_object_get(ops, "capture"))
        json_array_append_new(list, json_string("capture"));
    json_object_set_new(row->priv, "memberOps", list);
    json_decref(ops);
    json_decref(machines);
}

bool system_action_allowed(const struct store_row *row, const char *op)
{
    json_t *ops = json_object_get(row->priv, "memberOps"), *o;
    size_t i;

    if (strcmp(op, "export") == 0)
        return true;
    json_array_foreach(ops, i, o)
        if (strcmp(json_string_value(o) ?: "", op) == 0)
            return true;
    return false;
}

/* ---- fan-out ---- */

/* Where an operation leads a machine ("" = nowhere fixed: restart). */
static const char *end_state_of(const char *op)
{
    static const char *const ends[][2] = {
        {"start", "STARTED"}, {"stop", "STOPPED"}, {"pause", "PAUSED"}, {"suspend", "SUSPENDED"},
    };

    for (size_t i = 0; i < sizeof(ends) / sizeof(ends[0]); i++)
        if (strcmp(ends[i][0], op) == 0)
            return ends[i][1];
    return "";
}

static const struct resource_action *machine_action(const char *op)
{
    const struct resource_action *a = resource_ops_of(&t_machine)->actions;

    for (size_t i = 0; a && a[i].name; i++)
        if (strcmp(a[i].name, op) == 0)
            return &a[i];
    return NULL;
}

/* The machine is left untouched: its step only records why (success: it
 * is where the operation leads already). */
static void untouched_step(struct job_spec *step, bool success, const char *why)
{
    char message[600];

    snprintf(message, sizeof(message), "left untouched: %s", why);
    snprintf(step->op, sizeof(step->op), "%s", system_member_job.op);
    step->params = json_pack("{s:b, s:s}", "success", success, "message", message);
}

/* The machine's part of op, as its own action does it (the machine row is
 * changed in the request's transaction).  0, or -1 with err when the
 * request must fail as a whole (the store). */
static int machine_step(struct cimi_request *req, const char *path, const char *op,
                        const json_t *action, struct job_spec *step, struct cimi_error *err)
{
    struct store_row machine;
    struct cimi_error refused;
    char why[600];
    int rc = 0;

    err_clear(&refused);
    if (load_machine(req, path, &machine, &refused) != 0) {
        untouched_step(step, false, refused.message);
        return 0;
    }
    if (strcmp(text(machine.doc, "state"), end_state_of(op)) == 0) {
        snprintf(why, sizeof(why), "Machine '%s' is %s already", path, end_state_of(op));
        untouched_step(step, true, why);
    } else if (resource_op_check(req, &t_machine, &machine, op, &refused) != 0 ||
               machine_action(op)->run(req, &machine, action, step, &refused) != 0) {
        json_decref(step->params);
        step->params = NULL;
        if (refused.status >= 500)
            rc = err_set(err, refused.status, NULL, "%s", refused.message);
        else
            untouched_step(step, false, refused.message);
    }
    store_row_clear(&machine);
    return rc;
}

/* A wait between two groups of machines (system_startup.c). */
static void wait_step(struct job_spec *step, const json_t *entry)
{
    snprintf(step->op, sizeof(step->op), "%s", system_wait_job.op);
    step->params = json_pack("{s:O, s:O}", "seconds", json_object_get(entry, "wait"), "why",
                             json_object_get(entry, "why"));
}

static int fan_out(struct cimi_request *req, struct store_row *row, const json_t *action,
                   const char *op, struct job_spec *job, struct cimi_error *err)
{
    json_t *plan = json_array(), *entry;
    size_t i;
    int rc = system_op_plan(req->st, row->id, op, plan, err);

    if (rc == 0 && json_array_size(plan) == 0)
        rc = err_set(err, 409, "action", "System '%s' has no machines to %s", row->id, op);
    if (rc == 0) {
        snprintf(job->op, sizeof(job->op), "%s", system_fanout_job.op);
        job->params = json_pack("{s:s, s:s}", "system", row->id, "op", op);
        job->steps_at_once = SYSTEM_OPS_AT_ONCE;
        job->steps_fan_out = true;
    }
    json_array_foreach(plan, i, entry) {
        const char *machine = json_string_value(json_object_get(entry, "machine"));
        struct job_spec step;
        if (rc != 0)
            break;
        job_spec_init(&step);
        snprintf(step.action, sizeof(step.action), CIMI_NS "/action/%s", op);
        snprintf(step.target, sizeof(step.target), "%s", machine ? machine : row->id);
        snprintf(step.tenant, sizeof(step.tenant), "%s", job->tenant);
        if (machine)
            rc = machine_step(req, machine, op, action, &step, err);
        else
            wait_step(&step, entry);
        if (rc == 0 && job_spec_add_step_in_stage(
                           job, &step, (int)json_integer_value(json_object_get(entry, "stage"))) != 0)
            rc = err_set(err, 500, NULL, "cannot describe the nested Jobs");
        job_spec_clear(&step);
    }
    json_decref(plan);
    return rc;
}

static int action_start(struct cimi_request *req, struct store_row *row, const json_t *action,
                        struct job_spec *job, struct cimi_error *err)
{
    return fan_out(req, row, action, "start", job, err);
}

static int action_stop(struct cimi_request *req, struct store_row *row, const json_t *action,
                       struct job_spec *job, struct cimi_error *err)
{
    return fan_out(req, row, action, "stop", job, err);
}

static int action_restart(struct cimi_request *req, struct store_row *row, const json_t *action,
                          struct job_spec *job, struct cimi_error *err)
{
    return fan_out(req, row, action, "restart", job, err);
}

static int action_pause(struct cimi_request *req, struct store_row *row, const json_t *action,
                        struct job_spec *job, struct cimi_error *err)
{
    return fan_out(req, row, action, "pause", job, err);
}

static int action_suspend(struct cimi_request *req, struct store_row *row, const json_t *action,
                          struct job_spec *job, struct cimi_error *err)
{
    return fan_out(req, row, action, "suspend", job, err);
}

const struct resource_action system_actions[] = {
    {"restart", action_restart},  {"start", action_start},        {"stop", action_stop},
    {"pause", action_pause},      {"suspend", action_suspend},    {"capture", system_capture_run},
    {"export", system_export_run}, {NULL, NULL},
};

/* ---- job kinds ---- */

/* After every member's nested Job: the outcome names the members that failed. */
static int run_fanout(struct job_context *ctx, struct cimi_error *err)
{
    char message[2048], outcome[2200];
    int failed = job_steps_failed(ctx->st, ctx->job_id, message, sizeof(message), err);

    if (failed < 0)
        return -1;
    snprintf(outcome, sizeof(outcome), "%s: %s", job_param(ctx, "op"), message);
    return job_complete(ctx->st, ctx->job_id, NULL, NULL, NULL, failed == 0, outcome, err);
}

const struct job_kind system_fanout_job = {.op = "system.fanout", .run = run_fanout};

/* A member left untouched: its nested Job says why. */
static int run_member(struct job_context *ctx, struct cimi_error *err)
{
    return job_complete(ctx->st, ctx->job_id, NULL, NULL, NULL,
                        json_is_true(json_object_get(ctx->params, "success")),
                        job_param(ctx, "message"), err);
}

const struct job_kind system_member_job = {.op = "system.member", .run = run_member};
