/*
 * handlers.c - routing and the generic CIMI handlers.
 *
 * URL layout below the base URI ({base} = http://host/cimi/):
 *   cloudEntryPoint                     the CloudEntryPoint (also {base} itself)
 *   {collection}                        top-level collection: GET list, POST create
 *   {collection}/{id}                   resource: GET, PUT, DELETE, POST Action
 *   {collection}/{id}/{action}          POST Action (start, stop, ...)
 *   {collection}/{id}/{sub}             sub-collection (machines/{id}/disks): GET
 *   {collection}/{id}/{sub}/{item}      sub-collection item: GET
 * The stored id of a resource is exactly this path, so routing a request is
 * looking its path up.  Each mutating request runs in one store transaction
 * together with the Job it creates; on any error the transaction is rolled
 * back and nothing changes.
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "cimi/query.h"
#include "cimi/render.h"
#include "cimi/request.h"
#include "cimi/validate.h"
#include "jobs/jobs.h"
#include "resources/resource.h"
#include "resources/virtual.h"
#include "util/clock.h"
#include "util/log.h"

#define MAX_SEGMENTS 5
#define DELETE_WAIT_MS 5000

struct route {
    int n;
    char seg[MAX_SEGMENTS][128];
};

static bool valid_segment_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_' || c == '.';
}

/* Split a path into segments; -1 for anything that cannot name a resource. */
static int split_path(const char *path, struct route *r)
{
    const char *p = path;

    r->n = 0;
    while (*p) {
        size_t len = strcspn(p, "/");
        if (len == 0 || len >= sizeof(r->seg[0]) || r->n == MAX_SEGMENTS)
            return -1;
        for (size_t i = 0; i < len; i++)
            if (!valid_segment_char(p[i]))
                return -1;
        memcpy(r->seg[r->n], p, len);
        r->seg[r->n][len] = '\0';
        r->n++;
        p += len;
        if (*p == '/')
            p++;
    }
    return 0;
}

void cimi_error_response(struct cimi_response *resp, const struct cimi_error *err,
                         const char *job_uri)
{
    char now[32];
    int status = err->status >= 400 ? err->status : 500;

    clock_now_iso(now, sizeof(now));
    json_decref(resp->doc);
    resp->doc = json_pack("{s:s, s:s, s:i, s:i, s:s, s:s}", "name", "error", "state", "FAILED",
                          "returnCode", status, "progress", 100, "statusMessage",
                          err->message[0] ? err->message : "internal error",
                          "timeOfStatusChange", now);
    if (job_uri && job_uri[0]) {
        json_object_set_new(resp->doc, "id", json_string(job_uri));
        snprintf(resp->job_uri, sizeof(resp->job_uri), "%s", job_uri);
    }
    resp->type = &t_job;
    resp->collection = false;
    resp->status = status;
    resp->location[0] = '\0';
    resp->etag[0] = '\0';
}

static void set_doc(struct cimi_response *resp, int status, json_t *doc, const struct cimi_type *t,
                    bool collection)
{
    json_decref(resp->doc);
    resp->status = status;
    resp->doc = doc;
    resp->type = t;
    resp->collection = collection;
}

/* ---- reading ---- */

static int build_collection(struct cimi_request *req, const struct cimi_type *t, const char *parent,
                            const char *path, const struct cimi_query *q, json_t **out,
                            struct cimi_error *err);
static int read_path(struct cimi_request *req, const char *path, const struct cimi_query *q,
                     json_t **doc, const struct cimi_type **type, bool *collection,
                     struct cimi_error *err);

struct list_ctx {
    struct cimi_request *req;
    const struct cimi_type *t;
    json_t *items;
};

static int collect_row(void *ctx, struct store_row *row)
{
    struct list_ctx *c = ctx;
    json_t *doc;

    if (!render_visible(c->req, row))
        return 0;
    doc = render_row(c->req, c->t, row);
    if (doc)
        json_array_append_new(c->items, doc);
    return 0;
}

/* Inline the referenced resources named by $expand in one document. */
static void expand_doc(struct cimi_request *req, const struct cimi_type *t, json_t *doc,
                       const char *expand)
{
    const struct cimi_attr *a;
    struct cimi_query plain;

    cimi_query_init(&plain);
    for (size_t i = 0; (a = model_attr_at(t, i)) != NULL; i++) {
        json_t *ref = json_object_get(doc, a->name), *target = NULL;
        const struct cimi_type *tt;
        bool coll;
        char path[512];
        struct cimi_error err;
        const char *href;

        if ((a->kind != K_REF && a->kind != K_COLLECTION) || !query_list_has(expand, a->name))
            continue;
        href = json_string_value(json_object_get(ref, "href"));
        if (href == NULL || resource_href_path(req, href, a->name, path, sizeof(path), &err) != 0)
            continue;
        if (read_path(req, path, &plain, &target, &tt, &coll, &err) != 0)
            continue;  /* not visible or gone: leave the plain reference */
        json_object_set_new(target, "href", json_string(href));
        json_object_set_new(doc, a->name, target);
    }
    cimi_query_free(&plain);
}

/* Apply $expand and $select to a resource document. */
static void shape_resource(struct cimi_request *req, const struct cimi_type *t, json_t *doc,
                           const struct cimi_query *q)
{
    if (q->has_expand)
        expand_doc(req, t, doc, q->expand);
    if (q->has_select)
        query_select(doc, q->select);
}

/* Is a $select name an attribute of the collection itself? */
static bool selects_collection_attrs(const char *select)
{
    return query_list_has(select, "count") || query_list_has(select, "operations") ||
           query_list_has(select, "id");
}

static int build_collection(struct cimi_request *req, const struct cimi_type *t, const char *parent,
                            const char *path, const struct cimi_query *q, json_t **out,
                            struct cimi_error *err)
{
    struct list_ctx ctx = {req, t, json_array()};
    long count = 0;
    size_t i;
    json_t *item, *doc;
    char uri[768];

    if (t == &t_resource_metadata) {
        json_decref(ctx.items);
        ctx.items = metadata_documents(req);
    } else if (req->st->ops->list(req->st, t->name, parent, req->who.admin ? NULL : req->who.tenant,
                                  collect_row, &ctx, err) != 0) {
        json_decref(ctx.items);
        return -1;
    }
    if (query_collection(q, t, ctx.items, &count, err) != 0) {
        json_decref(ctx.items);
        return -1;
    }
    json_array_foreach(ctx.items, i, item) {
        if (q->has_expand)
            expand_doc(req, t, item, q->expand);
        if (q->has_select && !selects_collection_attrs(q->select))
            query_select(item, q->select);
    }
    render_uri(req, path, uri, sizeof(uri));
    doc = json_pack("{s:s, s:I}", "id", uri, "count", (json_int_t)count);
    if (json_array_size(ctx.items) > 0)
        json_object_set(doc, t->json_items, ctx.items);
    json_decref(ctx.items);
    if (parent[0] == '\0' && t->ops && !t->ops->provider_only)
        json_object_set_new(doc, "operations",
                            json_pack("[{s:s, s:s}]", "rel", "add", "href", uri));
    if (q->has_select && selects_collection_attrs(q->select))
        query_select(doc, q->select);
    *out = doc;
    return 0;
}

int cimi_read_collection(struct cimi_request *req, const struct cimi_type *t,
                         const struct cimi_query *q, json_t **out, struct cimi_error *err)
{
    return build_collection(req, t, "", t->cep_attr, q, out, err);
}

/* Load a row by path, checking type and visibility (404 otherwise). */
int resource_load(struct cimi_request *req, const char *path, const struct cimi_type *t,
                  struct store_row *row, struct cimi_error *err)
{
    memset(row, 0, sizeof(*row));
    if (req->st->ops->get(req->st, path, row, err) != 0)
        return -1;
    if ((t && strcmp(row->type, t->name) != 0) || !render_visible(req, row)) {
        store_row_clear(row);
        return err_set(err, 404, NULL, "no resource at '%s'", path);
    }
    return 0;
}

/* What a path names: a top-level type, maybe an item, maybe a sub-collection. */
struct target {
    const struct cimi_type *type;     /* type of the item(s) */
    bool collection;
    char parent[256];                 /* parent path for sub-collections, "" at top level */
    char path[256];                   /* the path itself */
    char item[256];                   /* item path (for actions: the resource) */
    char action[64];                  /* action name when the path ends in one */
};

static int resolve_target(const char *path, struct target *tg, struct cimi_error *err)
{
    struct route r;
    const struct cimi_type *t;
    const struct cimi_attr *a;

    memset(tg, 0, sizeof(*tg));
    snprintf(tg->path, sizeof(tg->path), "%s", path);
    if (split_path(path, &r) != 0 || r.n == 0)
        return err_set(err, 404, NULL, "no resource at '%.200s'", path);
    t = model_type_by_collection(r.seg[0]);
    if (t == NULL)
        return err_set(err, 404, NULL, "no resource at '%.200s'", path);
    tg->type = t;
    if (r.n == 1) {
        tg->collection = true;
        return 0;
    }
    snprintf(tg->item, sizeof(tg->item), "%s/%s", r.seg[0], r.seg[1]);
    if (r.n == 2)
        return 0;
    a = model_attr(t, r.seg[2]);
    if (a != NULL && a->kind == K_COLLECTION) {
        tg->type = a->target;
        snprintf(tg->parent, sizeof(tg->parent), "%s", tg->item);
        if (r.n == 3) {
            tg->collection = true;
            return 0;
        }
        if (r.n == 4) {
            snprintf(tg->item, sizeof(tg->item), "%s", path);
            return 0;
        }
        return err_set(err, 404, NULL, "no resource at '%.200s'", path);
    }
    if (r.n == 3) {
        snprintf(tg->action, sizeof(tg->action), "%s", r.seg[2]);
        return 0;
    }
    return err_set(err, 404, NULL, "no resource at '%.200s'", path);
}

static int read_item(struct cimi_request *req, const struct target *tg, json_t **doc,
                     long long *version, struct cimi_error *err)
{
    struct store_row row;

    if (tg->type == &t_resource_metadata) {
        *doc = metadata_document(req, tg->item, err);
        return *doc ? 0 : -1;
    }
    if (tg->parent[0]) {
        /* The parent must be visible too (tenant isolation of sub-resources). */
        if (resource_load(req, tg->parent, NULL, &row, err) != 0)
            return -1;
        store_row_clear(&row);
    }
    if (resource_load(req, tg->item, tg->type, &row, err) != 0)
        return -1;
    *doc = render_row(req, tg->type, &row);
    if (version)
        *version = row.version;
    store_row_clear(&row);
    return *doc ? 0 : err_set(err, 500, NULL, "out of memory");
}

static int read_path(struct cimi_request *req, const char *path, const struct cimi_query *q,
                     json_t **doc, const struct cimi_type **type, bool *collection,
                     struct cimi_error *err)
{
    struct target tg;
    struct store_row row;

    if (strcmp(path, "cloudEntryPoint") == 0 || path[0] == '\0') {
        *doc = cep_document(req, q, err);
        *type = &t_cloud_entry_point;
        *collection = false;
        return *doc ? 0 : -1;
    }
    if (resolve_target(path, &tg, err) != 0 || tg.action[0])
        return tg.action[0] ? err_set(err, 404, NULL, "no resource at '%.200s'", path) : -1;
    *type = tg.type;
    *collection = tg.collection;
    if (!tg.collection)
        return read_item(req, &tg, doc, NULL, err);
    if (tg.parent[0]) {
        if (resource_load(req, tg.parent, NULL, &row, err) != 0)
            return -1;
        store_row_clear(&row);
    }
    return build_collection(req, tg.type, tg.parent, path, q, doc, err);
}

/* ---- writing ---- */

static void finish_mutation(struct cimi_request *req, struct cimi_response *resp,
                            const struct job_spec *spec, const char *job_id)
{
    char uri[768];

    render_uri(req, job_id, uri, sizeof(uri));
    snprintf(resp->job_uri, sizeof(resp->job_uri), "%s", uri);
    if (spec->op[0])
        jobs_enqueue(job_id);
}

/* Commit the request's transaction with its Job; on failure roll back. */
static int commit_with_job(struct cimi_request *req, struct job_spec *spec, char *job_id,
                           size_t len, struct cimi_error *err)
{
    if (job_create(req->st, spec, job_id, len, err) != 0 || req->st->ops->commit(req->st, err) != 0) {
        req->st->ops->rollback(req->st);
        return -1;
    }
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

static int check_if_match(const struct cimi_request *req, const struct store_row *row,
                          struct cimi_error *err)
{
    char etag[64];

    if (req->if_match == NULL || strcmp(req->if_match, "*") == 0)
        return 0;
    snprintf(etag, sizeof(etag), "\"%lld\"", row->version);
    if (strstr(req->if_match, etag) == NULL)
        return err_set(err, 412, "If-Match",
                       "If-Match %.60s does not match the current ETag %s of the resource",
                       req->if_match, etag);
    return 0;
}

static void create_item(struct cimi_request *req, const struct cimi_type *t,
                        struct cimi_response *resp)
{
    const struct resource_ops *ro = t->ops;
    const struct cimi_type *input_type = ro->create_input ? ro->create_input : t;
    struct cimi_error err;
    struct store_row row;
    struct job_spec spec;
    char job_id[128];
    json_t *input, *doc;

    err_clear(&err);
    memset(&row, 0, sizeof(row));
    job_spec_init(&spec);
    if (ro->provider_only) {
        err_set(&err, 405, NULL, "%s resources are created by the provider only", t->name);
        goto fail;
    }
    input = decode_body(req, input_type, true, &err);
    if (input == NULL)
        goto fail;
    if (validate_document(input, input_type, VALIDATE_CREATE, &err) != 0 ||
        (ro->check && ro->check(req, input, &err) != 0) ||
        req->st->ops->begin(req->st, &err) != 0) {
        json_decref(input);
        goto fail;
    }
    snprintf(spec.action, sizeof(spec.action), "add");
    snprintf(spec.target, sizeof(spec.target), "%s", t->cep_attr);
    snprintf(spec.tenant, sizeof(spec.tenant), "%s", req->who.tenant);
    if (ro->create(req, input, &row, &spec, &err) != 0 ||
        req->st->ops->insert(req->st, &row, &err) != 0) {
        req->st->ops->rollback(req->st);
        json_decref(input);
        goto fail;
    }
    json_decref(input);
    snprintf(spec.created, sizeof(spec.created), "%s", row.id);
    if (commit_with_job(req, &spec, job_id, sizeof(job_id), &err) != 0)
        goto fail;
    doc = render_row(req, t, &row);
    render_uri(req, row.id, resp->location, sizeof(resp->location));
    snprintf(resp->etag, sizeof(resp->etag), "\"%lld\"", row.version);
    set_doc(resp, 201, doc, t, false);
    finish_mutation(req, resp, &spec, job_id);
    log_info("cimi: %s created %s (job %s)", req->who.name, row.id, job_id);
    store_row_clear(&row);
    job_spec_clear(&spec);
    return;
fail:
    store_row_clear(&row);
    job_spec_clear(&spec);
    cimi_error_response(resp, &err, NULL);
}

/* Replace the writable attributes of doc with those of input: all of them,
 * or with $select only the listed ones. */
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

static void update_item(struct cimi_request *req, const struct target *tg,
                        struct cimi_response *resp)
{
    const struct cimi_type *t = tg->type;
    const struct resource_ops *ro = t->ops;
    struct cimi_error err;
    struct store_row row;
    struct job_spec spec;
    char job_id[128];
    json_t *input = NULL;

    err_clear(&err);
    memset(&row, 0, sizeof(row));
    job_spec_init(&spec);
    input = decode_body(req, t, true, &err);
    if (input == NULL || validate_document(input, t, VALIDATE_UPDATE, &err) != 0 ||
        req->st->ops->begin(req->st, &err) != 0)
        goto fail;
    if (resource_load(req, tg->item, t, &row, &err) != 0)
        goto fail_txn;
    if (ro->provider_only || !render_writable(req, &row)) {
        err_set(&err, ro->provider_only ? 405 : 403, NULL, "%s '%s' cannot be changed by %s",
                t->name, tg->item, req->who.name);
        goto fail_txn;
    }
    if (check_if_match(req, &row, &err) != 0)
        goto fail_txn;
    if (ro->allowed && !ro->allowed(&row, "edit")) {
        err_set(&err, 409, NULL, "%s '%s' cannot be edited in its current state", t->name,
                tg->item);
        goto fail_txn;
    }
    if (merge_update(t, row.doc, input, &req->query, &err) != 0 ||
        (ro->check && ro->check(req, row.doc, &err) != 0))
        goto fail_txn;
    resource_touch(row.doc);
    if (req->st->ops->update(req->st, &row, &err) != 0)
        goto fail_txn;
    snprintf(spec.action, sizeof(spec.action), "edit");
    snprintf(spec.target, sizeof(spec.target), "%s", row.id);
    snprintf(spec.tenant, sizeof(spec.tenant), "%s", row.tenant);
    if (commit_with_job(req, &spec, job_id, sizeof(job_id), &err) != 0)
        goto fail;
    set_doc(resp, 200, render_row(req, t, &row), t, false);
    snprintf(resp->etag, sizeof(resp->etag), "\"%lld\"", row.version);
    finish_mutation(req, resp, &spec, job_id);
    json_decref(input);
    store_row_clear(&row);
    job_spec_clear(&spec);
    return;
fail_txn:
    req->st->ops->rollback(req->st);
fail:
    json_decref(input);
    store_row_clear(&row);
    job_spec_clear(&spec);
    cimi_error_response(resp, &err, NULL);
}

static void delete_item(struct cimi_request *req, const struct target *tg,
                        struct cimi_response *resp)
{
    const struct cimi_type *t = tg->type;
    const struct resource_ops *ro = t->ops;
    struct cimi_error err;
    struct store_row row;
    struct job_spec spec;
    char job_id[128];

    err_clear(&err);
    memset(&row, 0, sizeof(row));
    job_spec_init(&spec);
    if (req->st->ops->begin(req->st, &err) != 0)
        goto fail;
    if (resource_load(req, tg->item, t, &row, &err) != 0)
        goto fail_txn;
    if ((ro->provider_only && t != &t_job) || !render_writable(req, &row)) {
        err_set(&err, ro->provider_only ? 405 : 403, NULL, "%s '%s' cannot be deleted by %s",
                t->name, tg->item, req->who.name);
        goto fail_txn;
    }
    if (check_if_match(req, &row, &err) != 0)
        goto fail_txn;
    if (ro->allowed && !ro->allowed(&row, "delete")) {
        err_set(&err, 409, NULL, "%s '%s' cannot be deleted in its current state", t->name,
                tg->item);
        goto fail_txn;
    }
    snprintf(spec.action, sizeof(spec.action), "delete");
    snprintf(spec.target, sizeof(spec.target), "%s", row.id);
    snprintf(spec.tenant, sizeof(spec.tenant), "%s", row.tenant);
    if (ro->remove ? ro->remove(req, &row, &spec, &err) != 0
                   : req->st->ops->remove(req->st, row.id, &err) != 0)
        goto fail_txn;
    if (commit_with_job(req, &spec, job_id, sizeof(job_id), &err) != 0)
        goto fail;
    finish_mutation(req, resp, &spec, job_id);
    resp->status = 200;
    if (spec.op[0] && !jobs_wait(job_id, DELETE_WAIT_MS))
        resp->status = 202;
    log_info("cimi: %s deleted %s (job %s)", req->who.name, row.id, job_id);
    store_row_clear(&row);
    job_spec_clear(&spec);
    return;
fail_txn:
    req->st->ops->rollback(req->st);
fail:
    store_row_clear(&row);
    job_spec_clear(&spec);
    cimi_error_response(resp, &err, NULL);
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
    for (size_t i = 0; t->ops && t->ops->actions && t->ops->actions[i].name; i++)
        if (strcmp(t->ops->actions[i].name, name) == 0)
            return &t->ops->actions[i];
    return NULL;
}

static void run_action(struct cimi_request *req, const struct target *tg,
                       struct cimi_response *resp)
{
    const struct cimi_type *t = tg->type;
    const struct resource_action *action;
    struct cimi_error err;
    struct store_row row;
    struct job_spec spec;
    char job_id[128], name[64], uri[768];
    json_t *body;

    err_clear(&err);
    memset(&row, 0, sizeof(row));
    job_spec_init(&spec);
    body = decode_body(req, &t_action, tg->action[0] == '\0', &err);
    if (body == NULL && err.status != 0)
        goto fail;
    if (body == NULL)
        body = json_object();
    if (validate_document(body, &t_action, VALIDATE_UPDATE, &err) != 0)
        goto fail;
    action_name_of(body, name, sizeof(name));
    if (tg->action[0] && name[0] && strcmp(name, tg->action) != 0) {
        err_set(&err, 400, "action", "the Action names '%s' but was sent to the '%s' operation",
                name, tg->action);
        goto fail;
    }
    if (tg->action[0])
        snprintf(name, sizeof(name), "%s", tg->action);
    if (name[0] == '\0') {
        err_set(&err, 400, "action", "missing required attribute 'action'");
        goto fail;
    }
    action = find_action(t, name);
    if (req->st->ops->begin(req->st, &err) != 0)
        goto fail;
    if (resource_load(req, tg->item, t, &row, &err) != 0)
        goto fail_txn;
    if (action == NULL) {
        err_set(&err, tg->action[0] ? 404 : 400, "action", "%s has no action '%s'", t->name, name);
        goto fail_txn;
    }
    if (!render_writable(req, &row) && t != &t_job) {
        err_set(&err, 403, NULL, "%s '%s' cannot be changed by %s", t->name, row.id, req->who.name);
        goto fail_txn;
    }
    if (t->ops->allowed && !t->ops->allowed(&row, name)) {
        const char *state = json_string_value(json_object_get(row.doc, "state"));
        err_set(&err, 409, "action", "%s '%s' is %s; '%s' is not allowed now", t->name, row.id,
                state ? state : "busy", name);
        goto fail_txn;
    }
    snprintf(spec.action, sizeof(spec.action), CIMI_NS "/action/%s", name);
    snprintf(spec.target, sizeof(spec.target), "%s", row.id);
    snprintf(spec.tenant, sizeof(spec.tenant), "%s", row.tenant);
    if (action->run(req, &row, body, &spec, &err) != 0)
        goto fail_txn;
    if (commit_with_job(req, &spec, job_id, sizeof(job_id), &err) != 0)
        goto fail;
    finish_mutation(req, resp, &spec, job_id);
    render_uri(req, row.id, uri, sizeof(uri));
    snprintf(resp->location, sizeof(resp->location), "%s", uri);
    {
        struct target jt;
        json_t *job_doc = NULL;
        resolve_target(job_id, &jt, &err);
        if (read_item(req, &jt, &job_doc, NULL, &err) == 0)
            set_doc(resp, 202, job_doc, &t_job, false);
        else
            resp->status = 202;
    }
    log_info("cimi: %s %s %s (job %s)", req->who.name, name, row.id, job_id);
    json_decref(body);
    store_row_clear(&row);
    job_spec_clear(&spec);
    return;
fail_txn:
    req->st->ops->rollback(req->st);
fail:
    json_decref(body);
    store_row_clear(&row);
    job_spec_clear(&spec);
    cimi_error_response(resp, &err, NULL);
}

/* ---- dispatch ---- */

static bool is_read(const char *method)
{
    return strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;
}

static void handle_read(struct cimi_request *req, struct cimi_response *resp)
{
    struct cimi_error err;
    const struct cimi_type *t;
    bool collection;
    json_t *doc = NULL;
    struct target tg;
    long long version = 0;

    err_clear(&err);
    if (resolve_target(req->path, &tg, &err) == 0 && !tg.collection && !tg.action[0]) {
        /* Resources carry an ETag. */
        if (read_item(req, &tg, &doc, &version, &err) != 0)
            goto fail;
        shape_resource(req, tg.type, doc, &req->query);
        if (version)
            snprintf(resp->etag, sizeof(resp->etag), "\"%lld\"", version);
        set_doc(resp, 200, doc, tg.type, false);
        return;
    }
    err_clear(&err);
    if (read_path(req, req->path, &req->query, &doc, &t, &collection, &err) != 0)
        goto fail;
    if (!collection)
        shape_resource(req, t, doc, &req->query);
    set_doc(resp, 200, doc, t, collection);
    return;
fail:
    cimi_error_response(resp, &err, NULL);
}

static void method_not_allowed(struct cimi_response *resp, const char *method, const char *path)
{
    struct cimi_error err;

    err_set(&err, 405, NULL, "%s is not allowed on '%.200s'", method, path);
    cimi_error_response(resp, &err, NULL);
}

void cimi_handle(struct cimi_request *req, struct cimi_response *resp)
{
    struct cimi_error err;
    struct target tg;
    const char *m = req->method;

    err_clear(&err);
    if (is_read(m)) {
        handle_read(req, resp);
        return;
    }
    if (req->path[0] == '\0' || strcmp(req->path, "cloudEntryPoint") == 0) {
        if (strcmp(m, "PUT") == 0)
            cep_update(req, resp);
        else
            method_not_allowed(resp, m, req->path);
        return;
    }
    if (resolve_target(req->path, &tg, &err) != 0) {
        cimi_error_response(resp, &err, NULL);
        return;
    }
    if (tg.collection && tg.parent[0] == '\0' && strcmp(m, "POST") == 0)
        create_item(req, tg.type, resp);
    else if (tg.collection)
        method_not_allowed(resp, m, req->path);
    else if (tg.action[0] || (strcmp(m, "POST") == 0 && tg.parent[0] == '\0'))
        strcmp(m, "POST") == 0 ? run_action(req, &tg, resp) : method_not_allowed(resp, m, req->path);
    else if (tg.parent[0] != '\0' || tg.type == &t_resource_metadata)
        method_not_allowed(resp, m, req->path);
    else if (strcmp(m, "PUT") == 0)
        update_item(req, &tg, resp);
    else if (strcmp(m, "DELETE") == 0)
        delete_item(req, &tg, resp);
    else
        method_not_allowed(resp, m, req->path);
}
