/*
 * read.c - GET: one resource, a collection or a sub-collection, shaped by
 * $filter, $orderby, $first/$last, $select and $expand.  Reads need no
 * transaction: each listing is one statement.
 */
#include <stdio.h>
#include <string.h>

#include "cimi/handlers.h"
#include "cimi/query.h"
#include "cimi/render.h"
#include "resources/resource.h"
#include "resources/virtual.h"

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

/* May the principal add to this collection?  Consumers create items of
 * their types; in a sub-collection only when they may change the parent. */
static bool offers_add(struct cimi_request *req, const struct cimi_type *t, const char *parent)
{
    struct store_row row;
    struct cimi_error err;
    bool writable;

    if (resource_ops_of(t)->provider_only)
        return false;
    if (parent[0] == '\0')
        return true;
    if (resource_load(req, parent, NULL, &row, &err) != 0)
        return false;
    writable = render_writable(req, &row);
    store_row_clear(&row);
    return writable;
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
    if (json_array_size(ctx.items) > 0) {
        json_object_set(doc, t->json_items, ctx.items);
        /* DSP0263 2.0 names this array "resourceMetadatas"; clients written
         * against Deltacloud read "resourceMetadata". JSON carries both. */
        if (t == &t_resource_metadata)
            json_object_set(doc, "resourceMetadatas", ctx.items);
    }
    json_decref(ctx.items);
    if (offers_add(req, t, parent))
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

int read_item(struct cimi_request *req, const struct target *tg, json_t **doc,
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
    if (route_check_access(req, path, err) != 0)
        return -1;
    if (route_resolve(path, &tg, err) != 0 || tg.action[0])
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


void handle_read(struct cimi_request *req, struct cimi_response *resp)
{
    struct cimi_error err;
    const struct cimi_type *t;
    bool collection;
    json_t *doc = NULL;
    struct target tg;
    long long version = 0;

    err_clear(&err);
    if (route_check_access(req, req->path, &err) != 0)
        goto fail;
    if (route_resolve(req->path, &tg, &err) == 0 && !tg.collection && !tg.action[0]) {
        /* Resources carry an ETag. */
        if (read_item(req, &tg, &doc, &version, &err) != 0)
            goto fail;
        shape_resource(req, tg.type, doc, &req->query);
        if (version)
            snprintf(resp->etag, sizeof(resp->etag), "\"%lld\"", version);
        handlers_set_doc(resp, 200, doc, tg.type, false);
        return;
    }
    err_clear(&err);
    if (read_path(req, req->path, &req->query, &doc, &t, &collection, &err) != 0)
        goto fail;
    if (!collection)
        shape_resource(req, t, doc, &req->query);
    handlers_set_doc(resp, 200, doc, t, collection);
    return;
fail:
    cimi_error_response(resp, &err, NULL);
}

