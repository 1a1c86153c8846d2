/*
 * read.c - GET: one resource, a collection or a sub-collection, shaped by
 * $filter, $orderby, $first/$last, $select and $expand.  Reads need no
 * transaction: each listing is one statement.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
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

/* The visible rows of a collection being read, refreshed.  What $filter
 * and $orderby look at is each row's document with its "id" and references
 * absolute, as clients see them (the rest of a rendering is operations and
 * sub-collection references, which no filter can name); only the rows of the
 * page are rendered. */
struct listing {
    struct cimi_request *req;
    const struct cimi_type *t;
    bool absolute;            /* a $filter or $orderby looks at the documents */
    struct store_row *rows;   /* documents and private documents stolen from the store */
    size_t count, cap;
    json_t *items;            /* the rows' documents (then the page's renderings) */
    bool failed;              /* out of memory */
};

static int collect_row(void *ctx, struct store_row *row)
{
    struct listing *l = ctx;
    const struct resource_ops *ro = resource_ops_of(l->t);
    struct store_row *kept;

    if (!render_visible(l->req, row))
        return 0;
    if (l->count == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 64;
        struct store_row *rows = realloc(l->rows, cap * sizeof(*rows));
        if (rows == NULL) {
            l->failed = true;
            return 1;
        }
        l->rows = rows;
        l->cap = cap;
    }
    if (ro->refresh)
        ro->refresh(l->req, row);
    if (l->absolute) {
        json_object_set_new(row->doc, "id", json_string(row->id));
        render_absolutize(row->doc, l->req->base_uri);  /* rendering again changes nothing */
    }
    kept = &l->rows[l->count++];
    *kept = *row;
    row->doc = row->priv = NULL;
    if (json_array_append(l->items, kept->doc) != 0) {
        l->failed = true;
        return 1;
    }
    return 0;
}

/* Read the visible rows of t under parent, each refreshed once; the refresh
 * hooks share what they fetch for the whole listing (req->refresh_cache). */
static int list_rows(struct listing *l, const char *parent, struct cimi_error *err)
{
    struct cimi_request *req = l->req;
    bool was_listing = req->listing;
    void *outer_cache = req->refresh_cache;
    void (*outer_free)(void *) = req->refresh_cache_free;
    int rc;

    req->listing = true;
    req->refresh_cache = NULL;
    req->refresh_cache_free = NULL;
    rc = req->st->ops->list(req->st, l->t->name, parent, req->who.admin ? NULL : req->who.tenant,
                            collect_row, l, err);
    if (req->refresh_cache != NULL && req->refresh_cache_free != NULL)
        req->refresh_cache_free(req->refresh_cache);
    req->listing = was_listing;
    req->refresh_cache = outer_cache;
    req->refresh_cache_free = outer_free;
    if (rc == 0 && l->failed)
        return err_set(err, 500, NULL, "out of memory");
    return rc;
}

struct doc_position {
    uintptr_t doc;
    size_t row;
};

static int compare_positions(const void *pa, const void *pb)
{
    const struct doc_position *a = pa, *b = pb;

    return a->doc < b->doc ? -1 : a->doc > b->doc;
}

/* Replace the documents left in l->items (the page) by their renderings. */
static int render_page(struct listing *l, struct cimi_error *err)
{
    struct doc_position *pos = calloc(l->count ? l->count : 1, sizeof(*pos));
    json_t *page = json_array(), *item;
    size_t i;

    if (pos == NULL || page == NULL) {
        free(pos);
        json_decref(page);
        return err_set(err, 500, NULL, "out of memory");
    }
    for (i = 0; i < l->count; i++) {
        pos[i].doc = (uintptr_t)l->rows[i].doc;
        pos[i].row = i;
    }
    qsort(pos, l->count, sizeof(*pos), compare_positions);
    json_array_foreach(l->items, i, item) {
        struct doc_position key = {(uintptr_t)item, 0};
        struct doc_position *found = bsearch(&key, pos, l->count, sizeof(*pos), compare_positions);
        json_t *doc = found ? render_refreshed_row(l->req, l->t, &l->rows[found->row]) : NULL;
        if (doc != NULL)
            json_array_append_new(page, doc);
    }
    free(pos);
    json_decref(l->items);
    l->items = page;
    return 0;
}

static void listing_free(struct listing *l)
{
    for (size_t i = 0; i < l->count; i++)
        store_row_clear(&l->rows[i]);
    free(l->rows);
    json_decref(l->items);
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
    struct listing l = {req, t, json_array_size(q->filters) > 0 || q->orderby[0] != '\0', NULL,
                        0, 0, json_array(), false};
    long count = 0;
    size_t i;
    json_t *item, *doc;
    char uri[768];

    if (t == &t_resource_metadata) {
        json_decref(l.items);
        l.items = metadata_documents(req);
    } else if (list_rows(&l, parent, err) != 0) {
        listing_free(&l);
        return -1;
    }
    if (query_collection(q, t, l.items, &count, err) != 0 ||
        (t != &t_resource_metadata && render_page(&l, err) != 0)) {
        listing_free(&l);
        return -1;
    }
    json_array_foreach(l.items, i, item) {        if (q->has_expand)
            expand_doc(req, t, item, q->expand);
        if (q->has_select && !selects_collection_attrs(q->select))
            query_select(item, q->select);
    }
    render_uri(req, path, uri, sizeof(uri));
    doc = json_pack("{s:s, s:I}", "id", uri, "count", (json_int_t)count);
    if (json_array_size(l.items) > 0) {
        json_object_set(doc, t->json_items, l.items);
        /* DSP0263 2.0 names this array "resourceMetadatas"; clients written
         * against Deltacloud read "resourceMetadata". JSON carries both. */
        if (t == &t_resource_metadata)
            json_object_set(doc, "resourceMetadatas", l.items);
    }
    listing_free(&l);
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
    if (resource_load_for_read(req, tg->item, tg->type, &row, err) != 0)
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

