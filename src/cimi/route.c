/*
 * route.c - from a path below the base URI to a handler.
 *
 * URL layout below the base URI ({base} = http://host/cimi/):
 *   cloudEntryPoint                     the CloudEntryPoint (also {base} itself)
 *   {collection}                        top-level collection: GET list, POST create
 *                                       (or POST an Action: a collection action)
 *   {collection}/{action}               POST a collection action (systems/import)
 *   {collection}/{id}                   resource: GET, PUT, DELETE, POST Action
 *   {collection}/{id}/{action}          POST Action (start, stop, ...)
 *   {collection}/{id}/{sub}             sub-collection (machines/{id}/volumes): GET, POST
 *                                       create (when its type allows consumers to)
 *   {collection}/{id}/{sub}/{item}      sub-collection item: GET, PUT, DELETE (likewise)
 *   {collection}/{id}/{sub}/{item}/{sub2}[/{item2}]
 *                                       a sub-collection of a sub-collection item
 *                                       (machines/{id}/networkInterfaces/{n}/addresses)
 * The stored id of a resource is exactly this path, so routing a request is
 * looking its path up.
 */
#include <stdio.h>
#include <string.h>

#include "cimi/handlers.h"
#include "resources/resource.h"
#include "resources/virtual.h"
#include "util/clock.h"
#include "util/startup.h"
#include "util/utf8.h"

#define MAX_SEGMENTS 6

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

/* {collection}/{id}/{sub}/{item}/{sub2}[/{item2}]: a sub-collection of an
 * item of type t (itself in a sub-collection). */
static int route_nested(const struct route *r, const char *path, const struct cimi_type *t,
                        struct target *tg, struct cimi_error *err)
{
    const struct cimi_attr *a = model_attr(t, r->seg[4]);

    if (a == NULL || a->kind != K_COLLECTION)
        return err_set(err, 404, NULL, "no resource at '%.200s'", path);
    tg->type = a->target;
    snprintf(tg->parent, sizeof(tg->parent), "%s/%s/%s/%s", r->seg[0], r->seg[1], r->seg[2],
             r->seg[3]);
    if (r->n == 5) {
        tg->collection = true;
        return 0;
    }
    snprintf(tg->item, sizeof(tg->item), "%s", path);
    return 0;
}

const struct resource_action *collection_action(const struct cimi_type *t, const char *name)
{
    const struct resource_action *a = resource_ops_of(t)->collection_actions;

    for (size_t i = 0; a && a[i].name; i++)
        if (strcmp(a[i].name, name) == 0)
            return &a[i];
    return NULL;
}

int route_resolve(const char *path, struct target *tg, struct cimi_error *err)
{
    struct route r;
    const struct cimi_type *t;
    const struct cimi_attr *a;

    memset(tg, 0, sizeof(*tg));
    /* Too long to fit: no stored id is, and a truncated copy could name
     * another resource. */
    if (strlen(path) >= sizeof(tg->path))
        return err_set(err, 404, NULL, "no resource at '%.200s'", path);
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
    if (r.n == 2 && collection_action(t, r.seg[1]) != NULL) {
        tg->collection = true;
        snprintf(tg->action, sizeof(tg->action), "%s", r.seg[1]);
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
        return route_nested(&r, path, a->target, tg, err);
    }
    if (r.n == 3 && strlen(r.seg[2]) < sizeof(tg->action)) {
        snprintf(tg->action, sizeof(tg->action), "%s", r.seg[2]);
        return 0;
    }
    return err_set(err, 404, NULL, "no resource at '%.200s'", path);
}

int route_check_access(const struct cimi_request *req, const char *path, struct cimi_error *err)
{
    char collection[128];
    size_t len = strcspn(path, "/");

    if (len >= sizeof(collection))
        return 0;
    memcpy(collection, path, len);
    collection[len] = '\0';
    return resource_check_access(req, model_type_by_collection(collection), err);
}

void cimi_error_response(struct cimi_response *resp, const struct cimi_error *err,
                         const char *job_uri)
{
    char now[32], message[sizeof(err->message)];
    int status = err->status >= 400 ? err->status : 500;

    clock_now_iso(now, sizeof(now));
    /* Messages quote what clients sent, and may be cut in the middle of a
     * character: a reply must still carry them. */
    snprintf(message, sizeof(message), "%s", err->message[0] ? err->message : "internal error");
    utf8_sanitize(message);
    json_decref(resp->doc);
    resp->doc = json_pack("{s:s, s:s, s:i, s:i, s:s, s:s}", "name", "error", "state", "FAILED",
                          "returnCode", status, "progress", 100, "statusMessage", message,
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

void handlers_set_doc(struct cimi_response *resp, int status, json_t *doc, const struct cimi_type *t,
                    bool collection)
{
    json_decref(resp->doc);
    resp->status = status;
    resp->doc = doc;
    resp->type = t;
    resp->collection = collection;
}

static bool is_read(const char *method)
{
    return strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;
}

static void method_not_allowed(struct cimi_response *resp, const char *method, const char *path)
{
    struct cimi_error err;

    err_set(&err, 405, NULL, "%s is not allowed on '%.200s'", method, path);
    cimi_error_response(resp, &err, NULL);
}

/* The methods tg answers, for the Allow header of a 405 (RFC 9110 15.5.6):
 * never the refused one. */
static void allowed_methods(const struct target *tg, char *out, size_t len)
{
    const struct resource_ops *ro = resource_ops_of(tg->type);
    bool changes = !ro->provider_only;

    if (tg->collection && tg->action[0])
        snprintf(out, len, "POST");
    else if (tg->collection)
        snprintf(out, len, "GET, HEAD%s", changes && !ro->provider_creates ? ", POST" : "");
    else if (tg->action[0])
        snprintf(out, len, "POST");
    else if (tg->type == &t_resource_metadata)
        snprintf(out, len, "GET, HEAD");
    else
        snprintf(out, len, "GET, HEAD%s%s%s", changes ? ", PUT" : "",
                 changes || ro->consumer_deletes ? ", DELETE" : "",
                 ro->actions && tg->parent[0] == '\0' ? ", POST" : "");
}

/* Is the body POSTed to a top-level collection with collection actions an
 * Action (not the collection's create document)? */
static bool posts_action(struct cimi_request *req, const struct target *tg)
{
    struct cimi_error ignored;
    json_t *doc;
    bool action;

    if (tg->parent[0] || resource_ops_of(tg->type)->collection_actions == NULL ||
        req->in == NULL || req->body == NULL || req->body_len == 0)
        return false;
    doc = req->in->decode(req->body, req->body_len, &t_action, &ignored);
    action = json_is_string(json_object_get(doc, "action"));
    json_decref(doc);
    return action;
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
    if (!startup_wait()) {
        /* Changes wait until start-up reconciled the hypervisor (startup.h). */
        err_set(&err, 503, NULL, "cimid is stopping");
        cimi_error_response(resp, &err, NULL);
        return;
    }
    if (req->path[0] == '\0' || strcmp(req->path, "cloudEntryPoint") == 0) {
        if (strcmp(m, "PUT") == 0)
            cep_update(req, resp);
        else
            method_not_allowed(resp, m, req->path);
        snprintf(resp->allow, sizeof(resp->allow), "GET, HEAD, PUT");
        return;
    }
    if (route_resolve(req->path, &tg, &err) != 0 ||
        route_check_access(req, req->path, &err) != 0) {
        cimi_error_response(resp, &err, NULL);
        return;
    }
    if (tg.collection && strcmp(m, "POST") == 0 && (tg.action[0] || posts_action(req, &tg)))
        run_collection_action(req, &tg, resp);
    else if (tg.collection && strcmp(m, "POST") == 0)
        create_item(req, &tg, resp);
    else if (tg.collection)
        method_not_allowed(resp, m, req->path);
    else if (tg.action[0] || (strcmp(m, "POST") == 0 && tg.parent[0] == '\0'))
        strcmp(m, "POST") == 0 ? run_action(req, &tg, resp) : method_not_allowed(resp, m, req->path);
    else if (tg.type == &t_resource_metadata)
        method_not_allowed(resp, m, req->path);
    else if (strcmp(m, "PUT") == 0)
        update_item(req, &tg, resp);
    else if (strcmp(m, "DELETE") == 0)
        delete_item(req, &tg, resp);
    else
        method_not_allowed(resp, m, req->path);
    if (resp->status == 405)
        allowed_methods(&tg, resp->allow, sizeof(resp->allow));
}
