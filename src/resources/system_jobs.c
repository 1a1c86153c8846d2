/*
 * system_jobs.c - the Jobs of a System's life: the end of its create (every
 * member's step succeeded: the System is there; one failed: the System
 * turns into its own delete, so nothing of it stays) and its delete (the
 * members it created deleted by nested Jobs, machines first, the ones it
 * only associated left alone, then the System's rows).
 *
 * Both are idempotent: start-up recovery re-runs a parent whose steps did
 * not all end, and the parent's own work happens in one transaction (the
 * create's outcome and the delete Job it starts are committed together).
 */
#include <stdio.h>
#include <string.h>

#include "resources/system.h"
#include "util/log.h"

/* The members a System (and its nested ones) made, per kind, and the
 * nested Systems. */
struct children {
    json_t *ids[16];     /* per system_member_kinds index: array of ids */
    json_t *systems;     /* nested Systems, outermost first */
};

struct list_ctx {
    json_t *links;       /* [{"type", "href", "child"}] */
};

static int collect_link(void *arg, struct store_row *row)
{
    struct list_ctx *c = arg;
    const struct system_member_kind *k = system_member_kind_of_item(model_type_by_name(row->type));
    const char *href = k ? resource_ref(row->doc, k->ref) : NULL;

    if (href != NULL)
        json_array_append_new(c->links,
                              json_pack("{s:s, s:s, s:b}", "type", row->type, "href", href,
                                        "child", json_is_true(json_object_get(row->priv, "child"))));
    return 0;
}

/* The member rows of system (its sub-collection items). */
static json_t *links_of(struct store *st, const char *system, struct cimi_error *err)
{
    struct list_ctx c = {json_array()};

    if (st->ops->list(st, NULL, system, NULL, collect_link, &c, err) != 0) {
        json_decref(c.links);
        return NULL;
    }
    return c.links;
}

static int collect_children(struct store *st, const char *system, struct children *ch,
                            int depth, struct cimi_error *err)
{
    json_t *links = links_of(st, system, err), *l;
    size_t i;
    int rc = 0;

    if (links == NULL)
        return -1;
    json_array_foreach(links, i, l) {
        const struct system_member_kind *k =
            system_member_kind_of_item(model_type_by_name(json_string_value(json_object_get(l, "type"))));
        const char *href = json_string_value(json_object_get(l, "href"));
        if (!json_is_true(json_object_get(l, "child")))
            continue;  /* associated: left alone (DSP0263 5.10.2) */
        if (k->member == &t_system) {
            json_array_append_new(ch->systems, json_string(href));
            if (depth < SYSTEM_MAX_DEPTH + 1)
                rc = rc ?: collect_children(st, href, ch, depth + 1, err);
        } else {
            json_array_append_new(ch->ids[k - system_member_kinds], json_string(href));
        }
    }
    json_decref(links);
    return rc;
}

static void children_init(struct children *ch)
{
    for (size_t k = 0; k < system_member_kind_count; k++)
        ch->ids[k] = json_array();
    ch->systems = json_array();
}

static void children_free(struct children *ch)
{
    for (size_t k = 0; k < system_member_kind_count; k++)
        json_decref(ch->ids[k]);
    json_decref(ch->systems);
}

void system_abort_members(struct cimi_request *req, const char *system_id)
{
    struct children ch;
    struct cimi_error ignored;
    json_t *id;
    size_t i;

    children_init(&ch);
    if (collect_children(req->st, system_id, &ch, 1, &ignored) == 0) {
        for (size_t k = 0; k < system_member_kind_count; k++) {
            const struct resource_ops *ro = resource_ops_of(system_member_kinds[k].member);
            json_array_foreach(ch.ids[k], i, id) {
                struct store_row row;
                memset(&row, 0, sizeof(row));
                if (ro->abort_create &&
                    req->st->ops->get(req->st, json_string_value(id), &row, NULL) == 0)
                    ro->abort_create(req, &row);
                store_row_clear(&row);
            }
        }
    }
    children_free(&ch);
}

static int set_state(struct store *st, const char *id, const char *state, struct cimi_error *err)
{
    struct store_row row;
    int rc = 0;

    memset(&row, 0, sizeof(row));
    if (st->ops->get(st, id, &row, NULL) != 0)
        return 0;  /* gone */
    json_object_set_new(row.doc, "state", json_string(state));
    resource_touch(row.doc);
    rc = st->ops->update(st, &row, err);
    store_row_clear(&row);
    return rc;
}

/* A step from a job_spec_add_step entry (a remove hook's own steps). */
static int add_sub_step(struct job_spec *job, const json_t *s, int stage)
{
    struct job_spec step;
    int rc;

    job_spec_init(&step);
    snprintf(step.action, sizeof(step.action), "%s", json_string_value(json_object_get(s, "action")) ?: "");
    snprintf(step.target, sizeof(step.target), "%s", json_string_value(json_object_get(s, "target")) ?: "");
    snprintf(step.created, sizeof(step.created), "%s", json_string_value(json_object_get(s, "created")) ?: "");
    snprintf(step.op, sizeof(step.op), "%s", json_string_value(json_object_get(s, "op")) ?: "");
    step.params = json_is_null(json_object_get(s, "params")) ? NULL
                                                            : json_incref(json_object_get(s, "params"));
    rc = job_spec_add_step_in_stage(job, &step, stage);
    job_spec_clear(&step);
    return rc;
}

/* The delete of every member of one kind: the remove hooks' own steps in
 * one stage, their Jobs in the next. */
static int remove_kind(struct cimi_request *req, const struct system_member_kind *k, json_t *ids,
                       struct job_spec *job, int *stage, struct cimi_error *err)
{
    const struct resource_ops *ro = resource_ops_of(k->member);
    json_t *specs = json_array(), *id, *sp, *s;
    size_t i, j;
    int rc = 0;

    json_array_foreach(ids, i, id) {
        struct store_row row;
        struct job_spec spec;
        memset(&row, 0, sizeof(row));
        if (req->st->ops->get(req->st, json_string_value(id), &row, NULL) != 0)
            continue;  /* gone already */
        job_spec_init(&spec);
        snprintf(spec.tenant, sizeof(spec.tenant), "%s", row.tenant);
        if (ro->remove ? ro->remove(req, &row, &spec, err) != 0
                       : req->st->ops->remove(req->st, row.id, err) != 0)
            rc = -1;
        else if (spec.op[0] || spec.steps)
            json_array_append_new(specs, json_pack("{s:s, s:s, s:O?, s:O?}", "id", row.id, "op",
                                                   spec.op, "params", spec.params, "steps",
                                                   spec.steps));
        store_row_clear(&row);
        job_spec_clear(&spec);
        if (rc != 0)
            goto out;
    }
    json_array_foreach(specs, i, sp)
        json_array_foreach(json_object_get(sp, "steps"), j, s)
            rc = rc ?: add_sub_step(job, s, *stage);
    (*stage)++;
    json_array_foreach(specs, i, sp) {
        struct job_spec step;
        if (json_string_length(json_object_get(sp, "op")) == 0)
            continue;
        job_spec_init(&step);
        snprintf(step.action, sizeof(step.action), "delete");
        snprintf(step.target, sizeof(step.target), "%s", json_string_value(json_object_get(sp, "id")));
        snprintf(step.op, sizeof(step.op), "%s", json_string_value(json_object_get(sp, "op")));
        step.params = json_incref(json_object_get(sp, "params"));
        rc = rc ?: job_spec_add_step_in_stage(job, &step, *stage);
        job_spec_clear(&step);
    }
    (*stage)++;
    if (rc != 0 && err->status == 0)
        err_set(err, 500, NULL, "out of memory");
out:
    json_decref(specs);
    return rc;
}

int system_delete_prepare(struct cimi_request *req, struct store_row *system,
                          struct job_spec *job, struct cimi_error *err)
{
    struct children ch;
    json_t *id;
    size_t i;
    int stage = 0, rc = 0;

    children_init(&ch);
    if (collect_children(req->st, system->id, &ch, 1, err) != 0)
        rc = -1;
    /* Machines first (they use the rest), then what they use. */
    for (size_t k = system_member_kind_count; rc == 0 && k-- > 0;)
        if (system_member_kinds[k].member != &t_system)
            rc = remove_kind(req, &system_member_kinds[k], ch.ids[k], job, &stage, err);
    json_array_foreach(ch.systems, i, id)
        rc = rc ?: set_state(req->st, json_string_value(id), "DELETING", err);
    if (rc == 0) {
        json_object_set_new(system->doc, "state", json_string("DELETING"));
        resource_touch(system->doc);
        rc = req->st->ops->update(req->st, system, err);
    }
    if (rc == 0) {
        snprintf(job->op, sizeof(job->op), "system.delete");
        json_decref(job->params);
        job->params = json_pack("{s:s, s:O}", "system", system->id, "systems", ch.systems);
        job->steps_fan_out = true;
        job->steps_at_once = 4;
    }
    children_free(&ch);
    return rc;
}

/* ---- the System's state once built ---- */

struct state_ctx {
    struct store *st;
    char state[32];
    bool any, mixed;
};

static void fold_state(struct state_ctx *c, const char *state)
{
    if (!c->any)
        snprintf(c->state, sizeof(c->state), "%s", state);
    else if (strcmp(c->state, state) != 0)
        c->mixed = true;
    c->any = true;
}

/* A Machine-like state when all its machines (and nested Systems) share
 * it, MIXED otherwise or without machines (cimi.md 3.6); system_refresh
 * (system_ops.c) keeps it current afterwards. */
static const char *derive_state(struct store *st, const char *system, char *out, size_t len)
{
    struct cimi_error ignored;
    json_t *links = links_of(st, system, &ignored), *l;
    struct state_ctx c = {st, "", false, false};
    size_t i;

    json_array_foreach(links, i, l) {
        const char *type = json_string_value(json_object_get(l, "type"));
        struct store_row row;
        if (strcmp(type, "SystemMachine") != 0 && strcmp(type, "SystemSystem") != 0)
            continue;
        memset(&row, 0, sizeof(row));
        if (st->ops->get(st, json_string_value(json_object_get(l, "href")), &row, NULL) == 0)
            fold_state(&c, json_string_value(json_object_get(row.doc, "state")) ?: "");
        store_row_clear(&row);
    }
    json_decref(links);
    snprintf(out, len, "%s", c.any && !c.mixed ? c.state : "MIXED");
    return out;
}

/* ---- system.create: after every member's step ---- */

/* A request on behalf of the System's tenant, for the hooks a Job calls. */
static void job_request(struct store *st, const struct store_row *system, struct cimi_request *r)
{
    memset(r, 0, sizeof(*r));
    r->method = "DELETE";
    r->path = system->id;
    r->st = st;
    snprintf(r->who.name, sizeof(r->who.name), "cimid");
    snprintf(r->who.tenant, sizeof(r->who.tenant), "%s", system->tenant);
    r->who.admin = system->tenant[0] == '\0';
}

static int finish_built(struct job_context *ctx, const char *system, struct cimi_error *err)
{
    struct store *st = ctx->st;
    char state[32];
    struct children ch;
    json_t *id;
    size_t i;
    int rc;

    children_init(&ch);
    rc = collect_children(st, system, &ch, 1, err);
    /* Innermost first: a System's state folds its nested ones'. */
    for (i = json_array_size(ch.systems); rc == 0 && i-- > 0;) {
        id = json_array_get(ch.systems, i);
        rc = set_state(st, json_string_value(id),
                       derive_state(st, json_string_value(id), state, sizeof(state)), err);
    }
    if (rc == 0)
        rc = set_state(st, system, derive_state(st, system, state, sizeof(state)), err);
    children_free(&ch);
    return rc == 0 ? job_finish(st, ctx->job_id, true, "created", err) : -1;
}

/* A member failed: the create ends FAILED and the System's delete Job,
 * committed with it, removes what was made.  Returns the delete Job (to
 * queue after the commit) in del. */
static int undo_built(struct job_context *ctx, const char *system, const char *message,
                      struct store_row *del, struct cimi_error *err)
{
    struct store *st = ctx->st;
    struct cimi_request r;
    struct store_row row;
    struct job_spec spec;
    char reason[700];
    int rc;

    memset(&row, 0, sizeof(row));
    if (st->ops->get(st, system, &row, NULL) != 0)
        return job_finish(st, ctx->job_id, false, message, err);
    job_request(st, &row, &r);
    job_spec_init(&spec);
    snprintf(spec.action, sizeof(spec.action), "delete");
    snprintf(spec.target, sizeof(spec.target), "%s", system);
    snprintf(spec.tenant, sizeof(spec.tenant), "%s", row.tenant);
    rc = system_delete_prepare(&r, &row, &spec, err);
    if (rc == 0)
        rc = job_create(st, &spec, del, err);
    snprintf(reason, sizeof(reason), "%s; the System is deleted (job %s)", message, del->id);
    if (rc == 0)
        rc = job_finish(st, ctx->job_id, false, reason, err);
    job_spec_clear(&spec);
    store_row_clear(&row);
    return rc;
}

/* The delete of a failed System could not even be started (a member's
 * delete refused): the System is ERROR, for its owner to delete. */
static int undo_refused(struct job_context *ctx, const char *system, const char *message,
                        struct cimi_error *err)
{
    struct store *st = ctx->st;
    char reason[900];

    snprintf(reason, sizeof(reason), "%s; deleting the System failed: %s", message, err->message);
    log_error("system: %s: %s", system, reason);
    if (st->ops->begin(st, err) != 0)
        return -1;
    if (set_state(st, system, "ERROR", err) != 0 ||
        job_finish(st, ctx->job_id, false, reason, err) != 0 || st->ops->commit(st, err) != 0) {
        st->ops->rollback(st);
        return -1;
    }
    return 0;
}

static int run_create(struct job_context *ctx, struct cimi_error *err)
{
    const char *system = job_param(ctx, "system");
    struct store *st = ctx->st;
    struct store_row del;
    char message[512];
    int failed = job_steps_failed(st, ctx->job_id, message, sizeof(message), err);

    if (failed < 0)
        return -1;
    memset(&del, 0, sizeof(del));
    if (st->ops->begin(st, err) != 0)
        return -1;
    if ((failed == 0 ? finish_built(ctx, system, err)
                     : undo_built(ctx, system, message, &del, err)) != 0 ||
        st->ops->commit(st, err) != 0) {
        st->ops->rollback(st);
        store_row_clear(&del);
        return failed > 0 ? undo_refused(ctx, system, message, err) : -1;
    }
    if (del.id[0]) {
        log_info("system: %s failed (%s); deleting it", system, message);
        jobs_enqueue(&del, NULL);
    }
    store_row_clear(&del);
    return 0;
}

/* The members a create Job's steps make (their "created"). */
static json_t *made_by_steps(struct store *st, const char *job_id)
{
    json_t *made = json_object(), *id;
    struct store_row job, step;
    size_t i;

    memset(&job, 0, sizeof(job));
    if (st->ops->get(st, job_id, &job, NULL) != 0)
        return made;
    json_array_foreach(json_object_get(job.priv, "steps"), i, id) {
        memset(&step, 0, sizeof(step));
        if (st->ops->get(st, json_string_value(id), &step, NULL) == 0 &&
            json_string_length(json_object_get(step.priv, "created")) > 0)
            json_object_set_new(made, json_string_value(json_object_get(step.priv, "created")),
                                json_true());
        store_row_clear(&step);
    }
    store_row_clear(&job);
    return made;
}

/* Stopped while queued: nothing ran.  The members with a create Job of
 * their own are removed by its cancel (steps_end, after this: bookings
 * given back); the others (credentials, ports, addresses, forwarding
 * groups: made by the request alone) and the System's rows go here. */
static void cancel_create(struct job_context *ctx)
{
    struct cimi_error err;
    struct store_row row;
    struct cimi_request r;
    struct children ch;
    json_t *id, *made = made_by_steps(ctx->st, ctx->job_id);
    size_t i;

    memset(&row, 0, sizeof(row));
    if (ctx->st->ops->get(ctx->st, job_param(ctx, "system"), &row, NULL) != 0) {
        json_decref(made);
        return;
    }
    job_request(ctx->st, &row, &r);
    children_init(&ch);
    if (collect_children(ctx->st, row.id, &ch, 1, &err) == 0) {
        for (size_t k = 0; k < system_member_kind_count; k++) {
            const struct resource_ops *ro = resource_ops_of(system_member_kinds[k].member);
            json_array_foreach(ch.ids[k], i, id) {
                struct store_row member;
                struct job_spec spec;
                memset(&member, 0, sizeof(member));
                if (json_object_get(made, json_string_value(id)) != NULL ||
                    ctx->st->ops->get(ctx->st, json_string_value(id), &member, NULL) != 0)
                    continue;
                job_spec_init(&spec);
                if (ro->remove == NULL || ro->remove(&r, &member, &spec, &err) != 0 || spec.op[0])
                    ctx->st->ops->remove(ctx->st, member.id, &err);
                job_spec_clear(&spec);
                store_row_clear(&member);
            }
        }
        json_array_foreach(ch.systems, i, id)
            ctx->st->ops->remove(ctx->st, json_string_value(id), &err);
        ctx->st->ops->remove(ctx->st, row.id, &err);
    }
    children_free(&ch);
    store_row_clear(&row);
    json_decref(made);
}

const struct job_kind system_create_job = {
    .op = "system.create", .run = run_create, .cancel = cancel_create};

/* ---- system.delete: after every child's delete step ---- */

static int run_delete(struct job_context *ctx, struct cimi_error *err)
{
    const char *system = job_param(ctx, "system");
    struct store *st = ctx->st;
    struct cimi_error ignored;
    char message[512];
    json_t *id;
    size_t i;
    int rc = 0, failed = job_steps_failed(st, ctx->job_id, message, sizeof(message), err);

    if (failed < 0 || st->ops->begin(st, err) != 0)
        return -1;
    if (failed == 0) {
        /* Rows already gone (a re-run) are fine. */
        json_array_foreach(json_object_get(ctx->params, "systems"), i, id)
            st->ops->remove(st, json_string_value(id), &ignored);
        st->ops->remove(st, system, &ignored);
        rc = job_finish(st, ctx->job_id, true, "deleted", err);
    } else {
        rc = set_state(st, system, "ERROR", err);
        rc = rc ?: job_finish(st, ctx->job_id, false, message, err);
    }
    if (rc != 0 || st->ops->commit(st, err) != 0) {
        st->ops->rollback(st);
        return -1;
    }
    return 0;
}

/* Stopped while queued: the System is as it was (its members' cancels put
 * them back). */
static void cancel_delete(struct job_context *ctx)
{
    struct cimi_error err;
    char state[32];

    set_state(ctx->st, job_param(ctx, "system"),
              derive_state(ctx->st, job_param(ctx, "system"), state, sizeof(state)), &err);
}

const struct job_kind system_delete_job = {
    .op = "system.delete", .run = run_delete, .cancel = cancel_delete};
