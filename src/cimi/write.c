/*
 * write.c - the mutating requests: create (POST to a collection), update
 * (PUT), delete (DELETE) and actions (POST an Action).
 *
 * Each runs in one store transaction that also writes the Job the request
 * creates (struct mutation below carries both).  On any error the
 * transaction is rolled back, so a failed request changes nothing; after the
 * commit a Job with work left is queued for the workers.  A delete or an
 * update that left work to a Job waits a little for it, so that a quick Job
 * answers 200 with its outcome (202 when it takes longer).  A create or an
 * action whose Job a free worker took at once waits a few milliseconds too:
 * a quick Job is then done when the client first polls it, and a create
 * whose Job is done answers 201 (202 while its Job is not: DSP0263 4.2.1.6).
 *
 * Sub-collections (machines/{id}/volumes) are written like top-level
 * collections when their type's resource_ops allow it: the principal must
 * be able to change the parent, and the create hook gets its path.
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "cimi/handlers.h"
#include "cimi/query.h"
#include "cimi/render.h"
#include "cimi/validate.h"
#include "jobs/jobs.h"
#include "resources/resource.h"
#include "util/log.h"

#define JOB_WAIT_MS 5000
/* How long a create or an action waits for a Job a free worker runs. */
#define JOB_QUICK_WAIT_MS 3

/* One mutating request in progress. */
struct mutation {
    struct cimi_request *req;
    struct cimi_response *resp;
    struct cimi_error err;
    struct store_row row;     /* the resource created or changed */
    long long loaded_version; /* row's version when it was loaded (0: created) */
    struct job_spec spec;     /* the Job the request creates */
    json_t *input;            /* the decoded request body */
    struct store_row job;     /* the Job, until it is handed to the workers */
    char job_id[128];
    bool in_transaction;
    bool job_at_once;         /* a free worker took the Job at once */
};

static void mutation_init(struct mutation *m, struct cimi_request *req, struct cimi_response *resp)
{
    memset(m, 0, sizeof(*m));
    m->req = req;
    m->resp = resp;
    job_spec_init(&m->spec);
}

static void mutation_free(struct mutation *m)
{
    if (m->in_transaction)
        m->req->st->ops->rollback(m->req->st);
    m->in_transaction = false;
    json_decref(m->input);
    m->input = NULL;
    store_row_clear(&m->row);
    store_row_clear(&m->job);
    job_spec_clear(&m->spec);
}

/* Give up: roll back, answer with the error. */
static void mutation_fail(struct mutation *m)
{
    mutation_free(m);
    cimi_error_response(m->resp, &m->err, NULL);
}

static int mutation_begin(struct mutation *m)
{
    if (m->req->st->ops->begin(m->req->st, &m->err) != 0)
        return -1;
    m->in_transaction = true;
    return 0;
}

/* Describe the Job: its action, target and owner. */
static void mutation_job(struct mutation *m, const char *action, const char *target,
                         const char *tenant)
{
    snprintf(m->spec.action, sizeof(m->spec.action), "%s", action);
    snprintf(m->spec.target, sizeof(m->spec.target), "%s", target);
    snprintf(m->spec.tenant, sizeof(m->spec.tenant), "%s", tenant);
}

/* What the Job's worker gets of m->row, when the request wrote it (so its
 * documents are what the store holds): nothing, a copy (the handler still
 * reads the row), or the documents themselves (the handler only needs its id). */
enum row_handover { ROW_NONE, ROW_COPY, ROW_MOVE };

static void hand_over(struct mutation *m, enum row_handover how)
{
    struct store_row resource = m->row;

    if (how == ROW_NONE || m->row.version == m->loaded_version || m->row.doc == NULL) {
        m->job_at_once = jobs_enqueue(&m->job, NULL);
        return;
    }
    if (how == ROW_COPY) {
        resource.doc = json_deep_copy(m->row.doc);
        resource.priv = json_deep_copy(m->row.priv);
    } else {
        m->row.doc = m->row.priv = NULL;
    }
    m->job_at_once = jobs_enqueue(&m->job, &resource);
}

/* A create or an action: when a free worker took its Job, give the Job a
 * few milliseconds to end (true if it did), so that the client's first
 * poll finds it done.  A queued Job is not waited for. */
static bool mutation_wait_briefly(struct mutation *m)
{
    struct job_end end;

    return m->job_at_once && jobs_wait(m->job_id, JOB_QUICK_WAIT_MS, &end);
}

/* Write the Job and commit; then name the Job in the reply (and, if
 * job_doc, render it as committed) and hand it to the workers. */
static int mutation_commit(struct mutation *m, json_t **job_doc, enum row_handover how)
{
    struct store *st = m->req->st;

    if (job_create(st, &m->spec, &m->job, &m->err) != 0 || st->ops->commit(st, &m->err) != 0)
        return -1;
    m->in_transaction = false;
    snprintf(m->job_id, sizeof(m->job_id), "%s", m->job.id);
    render_uri(m->req, m->job_id, m->resp->job_uri, sizeof(m->resp->job_uri));
    if (job_doc != NULL)
        *job_doc = render_refreshed_row(m->req, &t_job, &m->job);
    /* The Job's parameters are shared with its row: the worker gets the only reference. */
    job_spec_clear(&m->spec);
    if (m->spec.op[0])
        hand_over(m, how);
    store_row_clear(&m->job);
    return 0;
}

static json_t *decode_body(struct cimi_request *req, const struct cimi_type *t, bool required,
                           struct cimi_error *err)
{
    if (req->body == NULL || req->body_len == 0) {
        if (required)
            err_set(err, 400, "body", "a %s document is required in the request body", t->name);
        return NULL;
    }
    return req->in->decode(req->body, req->body_len, t, err);
}

bool if_match_allows(const char *if_match, long long version)
{
    char etag[32];
    size_t n;
    const char *p = if_match;

    if (if_match == NULL)
        return true;
    snprintf(etag, sizeof(etag), "\"%lld\"", version);
    n = strlen(etag);
    /* A comma-separated list of entity tags (RFC 9110 13.1.1): "*", or one
     * strong tag equal to ours; weak tags (W/"..") never match. */
    while (*p) {
        size_t len;
        while (*p == ' ' || *p == '\t' || *p == ',')
            p++;
        len = strcspn(p, ",");
        while (len > 0 && (p[len - 1] == ' ' || p[len - 1] == '\t'))
            len--;
        if ((len == 1 && p[0] == '*') || (len == n && strncmp(p, etag, n) == 0))
            return true;
        p += strcspn(p, ",");
    }
    return false;
}

static int check_if_match(const struct cimi_request *req, const struct store_row *row,
                          struct cimi_error *err)
{
    char etag[64];

    snprintf(etag, sizeof(etag), "\"%lld\"", row->version);
    if (!if_match_allows(req->if_match, row->version))
        return err_set(err, 412, "If-Match",
                       "If-Match %.60s does not match the current ETag %s of the resource",
                       req->if_match, etag);
    return 0;
}

/* Load the target of an update, delete or action and check that this
 * principal may change it now. op is "edit", "delete" or an action name. */
static int load_for_change(struct mutation *m, const struct target *tg, const char *op)
{
    const struct cimi_type *t = tg->type;
    const struct resource_ops *ro = resource_ops_of(t);
    struct cimi_request *req = m->req;

    if (resource_load(req, tg->item, t, &m->row, &m->err) != 0)
        return -1;
    m->loaded_version = m->row.version;
    /* If-Match guards every change, actions included (RFC 9110 13.1.1). */
    if (check_if_match(req, &m->row, &m->err) != 0)
        return -1;
    /* Decide on the state as it is now (it may have changed outside cimid),
     * exactly as its operations were offered (resources/allow.c). */
    if (ro->refresh)
        ro->refresh(req, &m->row);
    return resource_op_check(req, t, &m->row, op, &m->err);
}


/* The created resource as its finished Job left it (kept as created if it
 * cannot be read now). */
static void reload_created(struct mutation *m, const struct cimi_type *t)
{
    struct store_row now;
    struct cimi_error ignored;

    if (resource_load(m->req, m->row.id, t, &now, &ignored) != 0)
        return;
    store_row_clear(&m->row);
    m->row = now;
}

void create_item(struct cimi_request *req, const struct target *tg, struct cimi_response *resp)
{
    const struct cimi_type *t = tg->type;
    const struct resource_ops *ro = resource_ops_of(t);
    const struct cimi_type *input_type = ro->create_input ? ro->create_input : t;
    struct mutation m;
    int status = 201;

    mutation_init(&m, req, resp);
    if (ro->provider_only || ro->provider_creates) {
        err_set(&m.err, 405, NULL, "%s resources are created by the provider only", t->name);
        goto fail;
    }
    /* A sub-collection's parent: visible, changeable, allowing it now
     * (exactly when the collection offers add: resources/allow.c). */
    if (tg->parent[0] && resource_add_check(req, t, tg->parent, &m.err) != 0)
        goto fail;
    m.input = decode_body(req, input_type, true, &m.err);
    if (m.input == NULL || validate_document(m.input, input_type, VALIDATE_CREATE, &m.err) != 0)
        goto fail;
    render_relativize(req, m.input);
    if ((ro->check && ro->check(req, m.input, &m.err) != 0) || mutation_begin(&m) != 0)
        goto fail;
    mutation_job(&m, "add", tg->parent[0] ? tg->path : t->cep_attr, req->who.tenant);
    snprintf(m.row.parent, sizeof(m.row.parent), "%s", tg->parent);
    if (ro->create(req, m.input, &m.row, &m.spec, &m.err) != 0)
        goto fail;
    snprintf(m.spec.created, sizeof(m.spec.created), "%s", m.row.id);
    if (req->st->ops->insert(req->st, &m.row, &m.err) != 0 ||
        mutation_commit(&m, NULL, ROW_COPY) != 0) {
        if (ro->abort_create)
            ro->abort_create(req, &m.row);
        goto fail;
    }
    /* DSP0263 4.2.1.6: 201 only when the Job is complete (it had no work,
     * or ended within the short wait: then the resource as it is now);
     * else 202 with the partial resource (4.2.1.7). */
    if (m.spec.op[0] && !mutation_wait_briefly(&m))
        status = 202;
    else if (m.spec.op[0])
        reload_created(&m, t);
    render_uri(req, m.row.id, resp->location, sizeof(resp->location));
    snprintf(resp->etag, sizeof(resp->etag), "\"%lld\"", m.row.version);
    handlers_set_doc(resp, status, render_row(req, t, &m.row), t, false);
    log_info("cimi: %s created %s (job %s)", req->who.name, m.row.id, m.job_id);
    mutation_free(&m);
    return;
fail:
    mutation_fail(&m);
}

/* Replace the writable attributes of doc with those of input: all of them,
 * or with $select only the listed ones (DSP0263 partial update). */
static int merge_update(const struct cimi_type *t, json_t *doc, json_t *input,
                        const struct cimi_query *q, struct cimi_error *err)
{
    const struct cimi_attr *a;
    const char *key;
    json_t *value;

    if (q->has_select) {
        json_object_foreach(input, key, value) {
            (void)value;
            if (!query_list_has(q->select, key))
                return err_set(err, 400, key,
                               "attribute '%s' is not listed in $select=%s", key, q->select);
        }
    }
    for (size_t i = 0; (a = model_attr_at(t, i)) != NULL; i++) {
        json_t *v;
        if (a->kind == K_OPERATIONS || (a->flags & (A_READONLY | A_IMMUTABLE)))
            continue;
        if (q->has_select && !query_list_has(q->select, a->name))
            continue;
        v = json_object_get(input, a->name);
        if (v != NULL && !json_is_null(v))
            json_object_set(doc, a->name, v);
        else
            json_object_del(doc, a->name);
    }
    return 0;
}

/* Wait for the Job of a delete or update (what: "deleting", "updating"):
 * 0 with resp->status 200 (done) or 202 (still running, or stopped); -1
 * with m->err when the Job failed. */
static int job_outcome(struct mutation *m, const char *what)
{
    struct job_end end;

    if (!jobs_wait(m->job_id, JOB_WAIT_MS, &end)) {
        m->resp->status = 202;
        return 0;
    }
    if (end.state[0] == '\0')
        return 0;  /* the Job is gone */
    if (strcmp(end.state, "FAILED") == 0)
        return err_set(&m->err, 500, NULL, "%s %s failed: %s", what, m->row.id,
                       end.message[0] ? end.message : "unknown error");
    if (strcmp(end.state, "SUCCESS") != 0)
        m->resp->status = 202;
    return 0;
}

/* The Job of a committed request failed: answer with its error, naming it. */
static void mutation_job_failed(struct mutation *m)
{
    char job_uri[sizeof(m->resp->job_uri)];

    snprintf(job_uri, sizeof(job_uri), "%s", m->resp->job_uri);
    mutation_free(m);
    cimi_error_response(m->resp, &m->err, job_uri);
}

/* Merge the update into m->row, let the type check it (and maybe start a Job). */
static int apply_update(struct mutation *m, const struct cimi_type *t)
{
    const struct resource_ops *ro = resource_ops_of(t);
    json_t *before = json_deep_copy(m->row.doc);
    int rc = -1;

    if (before == NULL)
        return err_set(&m->err, 500, NULL, "out of memory");
    if (merge_update(t, m->row.doc, m->input, &m->req->query, &m->err) == 0 &&
        (ro->check == NULL || ro->check(m->req, m->row.doc, &m->err) == 0) &&
        (ro->update == NULL || ro->update(m->req, before, &m->row, &m->spec, &m->err) == 0))
        rc = 0;
    json_decref(before);
    return rc;
}

/* After the Job of an update finished: the resource as it is now. */
static int reload(struct mutation *m, const struct cimi_type *t)
{
    char id[sizeof(m->row.id)];

    snprintf(id, sizeof(id), "%s", m->row.id);
    store_row_clear(&m->row);
    return resource_load(m->req, id, t, &m->row, &m->err);
}

void update_item(struct cimi_request *req, const struct target *tg, struct cimi_response *resp)
{
    const struct cimi_type *t = tg->type;
    struct mutation m;

    mutation_init(&m, req, resp);
    m.input = decode_body(req, t, true, &m.err);
    if (m.input == NULL || validate_document(m.input, t, VALIDATE_UPDATE, &m.err) != 0)
        goto fail;
    render_relativize(req, m.input);
    if (mutation_begin(&m) != 0 || load_for_change(&m, tg, "edit") != 0 ||
        apply_update(&m, t) != 0)
        goto fail;
    resource_touch(m.row.doc);
    if (req->st->ops->update(req->st, &m.row, &m.err) != 0)
        goto fail;
    mutation_job(&m, "edit", m.row.id, m.row.tenant);
    if (mutation_commit(&m, NULL, ROW_NONE) != 0)
        goto fail;
    resp->status = 200;
    if (m.spec.op[0] && job_outcome(&m, "updating") != 0) {
        mutation_job_failed(&m);
        return;
    }
    if (m.spec.op[0] && reload(&m, t) != 0)
        goto fail;
    snprintf(resp->etag, sizeof(resp->etag), "\"%lld\"", m.row.version);
    handlers_set_doc(resp, resp->status, render_row(req, t, &m.row), t, false);
    mutation_free(&m);
    return;
fail:
    mutation_fail(&m);
}

void delete_item(struct cimi_request *req, const struct target *tg, struct cimi_response *resp)
{
    const struct resource_ops *ro = resource_ops_of(tg->type);
    struct mutation m;

    mutation_init(&m, req, resp);
    if (mutation_begin(&m) != 0 || load_for_change(&m, tg, "delete") != 0)
        goto fail;
    mutation_job(&m, "delete", m.row.id, m.row.tenant);
    if (ro->remove ? ro->remove(req, &m.row, &m.spec, &m.err) != 0
                   : req->st->ops->remove(req->st, m.row.id, &m.err) != 0)
        goto fail;
    if (mutation_commit(&m, NULL, ROW_MOVE) != 0)
        goto fail;
    /* Clients expect exactly 200 for a finished delete: wait a little for
     * the Job. 202 if it takes longer (or was stopped), an error if it failed. */
    resp->status = 200;
    if (m.spec.op[0] && job_outcome(&m, "deleting") != 0) {
        mutation_job_failed(&m);
        return;
    }
    log_info("cimi: %s deleted %s (job %s)", req->who.name, m.row.id, m.job_id);
    mutation_free(&m);
    return;
fail:
    mutation_fail(&m);
}

/* The action an Action document names: the last path segment of its
 * trimmed "action" value (clients send sloppy values). */
static void action_name_of(const json_t *action_doc, char *out, size_t len)
{
    const char *value = json_string_value(json_object_get(action_doc, "action"));
    const char *slash;
    size_t n;

    out[0] = '\0';
    if (value == NULL)
        return;
    n = strlen(value);
    while (n > 0 && isspace((unsigned char)value[n - 1]))
        n--;
    while (n > 0 && isspace((unsigned char)*value)) {
        value++;
        n--;
    }
    slash = memrchr(value, '/', n);
    if (slash != NULL) {
        n -= (size_t)(slash + 1 - value);
        value = slash + 1;
    }
    snprintf(out, len, "%.*s", (int)n, value);
}

static const struct resource_action *find_action(const struct cimi_type *t, const char *name)
{
    for (size_t i = 0; resource_ops_of(t)->actions && resource_ops_of(t)->actions[i].name; i++)
        if (strcmp(resource_ops_of(t)->actions[i].name, name) == 0)
            return &resource_ops_of(t)->actions[i];
    return NULL;
}

/* Which action a request names: by its URL ({id}/{action}) or, when posted
 * to the resource itself, by the Action document. */
static int action_of_request(const struct target *tg, const json_t *body, char *name, size_t len,
                             struct cimi_error *err)
{
    action_name_of(body, name, len);
    if (tg->action[0] && name[0] && strcmp(name, tg->action) != 0)
        return err_set(err, 400, "action", "the Action names '%s' but was sent to the '%s' operation",
                       name, tg->action);
    if (tg->action[0])
        snprintf(name, len, "%s", tg->action);
    if (name[0] == '\0')
        return err_set(err, 400, "action", "missing required attribute 'action'");
    if (find_action(tg->type, name) == NULL)
        return err_set(err, tg->action[0] ? 404 : 400, "action", "%s has no action '%s'",
                       tg->type->name, name);
    return 0;
}

/* The Job ended while the action waited: render it as committed now. */
static void rerender_job(struct mutation *m, json_t **job_doc)
{
    struct store_row job;

    memset(&job, 0, sizeof(job));
    if (m->req->st->ops->get(m->req->st, m->job_id, &job, NULL) == 0) {
        json_decref(*job_doc);
        *job_doc = render_refreshed_row(m->req, &t_job, &job);
    }
    store_row_clear(&job);
}

void run_action(struct cimi_request *req, const struct target *tg, struct cimi_response *resp)
{
    struct mutation m;
    json_t *job_doc = NULL;
    char name[64], action_uri[160];

    mutation_init(&m, req, resp);
    m.input = decode_body(req, &t_action, tg->action[0] == '\0', &m.err);
    if (m.input == NULL && m.err.status != 0)
        goto fail;
    if (m.input == NULL)
        m.input = json_object();  /* the URL names the action; no body needed */
    if (validate_document(m.input, &t_action, VALIDATE_UPDATE, &m.err) != 0 ||
        action_of_request(tg, m.input, name, sizeof(name), &m.err) != 0 ||
        mutation_begin(&m) != 0 || load_for_change(&m, tg, name) != 0)
        goto fail;
    snprintf(action_uri, sizeof(action_uri), CIMI_NS "/action/%s", name);
    mutation_job(&m, action_uri, m.row.id, m.row.tenant);
    if (find_action(tg->type, name)->run(req, &m.row, m.input, &m.spec, &m.err) != 0 ||
        mutation_commit(&m, &job_doc, ROW_MOVE) != 0)
        goto fail;
    if (mutation_wait_briefly(&m))
        rerender_job(&m, &job_doc);
    /* 202 with the Job (as it is now) in the body and the target in
     * Location, unless the action names another (an export's Package). */
    render_uri(req, m.spec.location[0] ? m.spec.location : m.row.id, resp->location,
               sizeof(resp->location));
    resp->status = 202;
    if (job_doc != NULL)
        handlers_set_doc(resp, 202, job_doc, &t_job, false);
    log_info("cimi: %s %s %s (job %s)", req->who.name, name, m.row.id, m.job_id);
    mutation_free(&m);
    return;
fail:
    mutation_fail(&m);
}

/* A collection action (systems/import): the Action names it (or the URL
 * does), the principal may create in the collection; the Job's target is
 * the collection, and the resource it makes (job->created, if the action
 * names one) is the reply's Location. */
void run_collection_action(struct cimi_request *req, const struct target *tg,
                           struct cimi_response *resp)
{
    const struct resource_ops *ro = resource_ops_of(tg->type);
    const struct resource_action *action;
    struct mutation m;
    json_t *job_doc = NULL;
    char name[64], action_uri[160];

    mutation_init(&m, req, resp);
    m.input = decode_body(req, &t_action, true, &m.err);
    if (m.input == NULL || validate_document(m.input, &t_action, VALIDATE_UPDATE, &m.err) != 0)
        goto fail;
    action_name_of(m.input, name, sizeof(name));
    if (tg->action[0] && name[0] && strcmp(name, tg->action) != 0) {
        err_set(&m.err, 400, "action", "the Action names '%s' but was sent to the '%s' operation",
                name, tg->action);
        goto fail;
    }
    if (tg->action[0])
        snprintf(name, sizeof(name), "%s", tg->action);
    action = collection_action(tg->type, name);
    if (action == NULL) {
        err_set(&m.err, 400, "action", "the %s collection has no action '%s'", tg->type->name,
                name);
        goto fail;
    }
    if (ro->provider_only || ro->provider_creates) {
        err_set(&m.err, 405, NULL, "%s resources are created by the provider only",
                tg->type->name);
        goto fail;
    }
    if (mutation_begin(&m) != 0)
        goto fail;
    snprintf(action_uri, sizeof(action_uri), CIMI_NS "/action/%s", name);
    mutation_job(&m, action_uri, tg->type->cep_attr, req->who.tenant);
    if (action->run(req, NULL, m.input, &m.spec, &m.err) != 0 ||
        mutation_commit(&m, &job_doc, ROW_NONE) != 0)
        goto fail;
    if (mutation_wait_briefly(&m))
        rerender_job(&m, &job_doc);
    if (m.spec.created[0])
        render_uri(req, m.spec.created, resp->location, sizeof(resp->location));
    resp->status = 202;
    if (job_doc != NULL)
        handlers_set_doc(resp, 202, job_doc, &t_job, false);
    log_info("cimi: %s %s %s (job %s)", req->who.name, name, tg->type->cep_attr, m.job_id);
    mutation_free(&m);
    return;
fail:
    mutation_fail(&m);
}
