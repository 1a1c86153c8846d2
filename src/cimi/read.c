/*
 * read.c - GET: one resource, a collection or a sub-collection, shaped by
 * $filter, $orderby, $first/$last, $select and $expand.  Reads need no
 * transaction: each listing is one statement (or one snapshot of the
 * store's index, and one read per row of the page).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cimi/filter.h"
#include "cimi/handlers.h"
#include "cimi/page.h"
#include "cimi/query.h"
#include "cimi/render.h"
#include "resources/resource.h"
#include "resources/virtual.h"

/* Items the type says are no longer listed (resource_ops.listed). */
static void drop_unlisted(struct cimi_request *req, const struct cimi_type *t, json_t *items,
                          long *count)
{
    bool (*listed)(struct cimi_request *, const json_t *) = resource_ops_of(t)->listed;

    for (size_t i = json_array_size(items); listed && i-- > 0;)
        if (!listed(req, json_array_get(items, i))) {
            json_array_remove(items, i);
            (*count)--;
        }
}

/* A top-level collection's own actions (systems/import): rel
 * .../action/<name>, href <collection>/<name>. */
static void add_collection_actions(const struct cimi_type *t, const char *uri, json_t *doc)
{
    const struct resource_action *a = resource_ops_of(t)->collection_actions;
    json_t *ops = json_object_get(doc, "operations");

    for (size_t i = 0; ops && a && a[i].name; i++) {
        char rel[160], href[1024];
        snprintf(rel, sizeof(rel), CIMI_NS "/action/%s", a[i].name);
        snprintf(href, sizeof(href), "%s/%s", uri, a[i].name);
        json_array_append_new(ops, json_pack("{s:s, s:s}", "rel", rel, "href", href));
    }
}

static int build_collection(struct cimi_request *req, const struct cimi_type *t, const char *parent,
                            const char *path, const struct cimi_query *q, json_t **out,
                            struct cimi_error *err);
static int read_path(struct cimi_request *req, const char *path, const struct cimi_query *q,
                     json_t **doc, const struct cimi_type **type, bool *collection,
                     struct cimi_error *err);

/* ---- collection reads ----
 *
 * A collection read keeps only its page.  When $filter and $orderby name
 * only attributes the store's index has (id, name, created, updated,
 * state), they run over the index entries (store_ops.snapshot) and only the
 * page's rows are read, refreshed and rendered (page_by_index).  Otherwise
 * every visible row is read and refreshed as it streams by, and only the
 * page is kept (page_by_stream).  Either way, what $filter and $orderby
 * look at is a row as clients see it: refreshed (the Machine state), with
 * its id and references absolute; the two ways give the same answer. */

#define INDEX_ATTEMPTS 3   /* a page row changed under the index: try again, then stream */
#define INDEX_PREFETCH 32  /* entries ahead */
#define INDEX_BATCH 64     /* listed entries whose states are asked together */

/* What the index can answer: the attributes an entry carries, as text. */
enum entry_field { F_NONE, F_ID, F_NAME, F_CREATED, F_UPDATED, F_STATE };

static enum entry_field field_of(const struct cimi_attr *a)
{
    if (a == NULL || (a->kind != K_STRING && a->kind != K_URI && a->kind != K_DATETIME))
        return F_NONE;
    if (strcmp(a->name, "id") == 0)
        return F_ID;
    if (strcmp(a->name, "name") == 0)
        return F_NAME;
    if (strcmp(a->name, "created") == 0)
        return F_CREATED;
    if (strcmp(a->name, "updated") == 0)
        return F_UPDATED;
    if (strcmp(a->name, "state") == 0)
        return F_STATE;
    return F_NONE;
}

static bool is_indexed_attr(const struct cimi_attr *a)
{
    return field_of(a) != F_NONE;
}

/* $filter (every one must hold), $orderby and the page's positions. */
struct collection_query {
    struct filter **filters;
    size_t nfilters;
    struct order_key keys[MAX_ORDER_KEYS];
    int nkeys;
    enum entry_field key_fields[MAX_ORDER_KEYS];   /* what the index has of each key */
    const struct cimi_attr *field_attrs[F_STATE + 1];  /* t's attribute of each field */
    const struct cimi_type *t;
    const char *base_uri;
};

static void collection_query_free(struct collection_query *cq)
{
    for (size_t i = 0; i < cq->nfilters; i++)
        filter_free(cq->filters[i]);
    free(cq->filters);
}

static int collection_query_parse(struct cimi_request *req, const struct cimi_type *t,
                                  const struct cimi_query *q, struct collection_query *cq,
                                  struct cimi_error *err)
{
    const struct cimi_attr *attr;
    size_t i;
    json_t *text;

    memset(cq, 0, sizeof(*cq));
    cq->t = t;
    cq->base_uri = req->base_uri;
    cq->filters = calloc(json_array_size(q->filters) + 1, sizeof(*cq->filters));
    if (cq->filters == NULL)
        return err_set(err, 500, NULL, "out of memory");
    json_array_foreach(q->filters, i, text) {
        cq->filters[i] = filter_parse(json_string_value(text), t, err);
        if (cq->filters[i] == NULL)
            return -1;
        cq->nfilters++;
    }
    if (q->orderby != NULL && query_parse_orderby(q->orderby, t, cq->keys, &cq->nkeys, err) != 0)
        return -1;
    for (int k = 0; k < cq->nkeys; k++)
        cq->key_fields[k] = field_of(model_attr(t, cq->keys[k].name));
    for (i = 0; (attr = model_attr_at(t, i)) != NULL; i++)
        cq->field_attrs[field_of(attr)] = attr;
    cq->field_attrs[F_NONE] = NULL;
    return 0;
}

/* Refresh hooks share what they fetch for the whole listing
 * (req->refresh_cache) between listing_begin and listing_end. */
struct listing_scope {
    bool was_listing;
    void *cache;
    void (*cache_free)(void *);
};

static void listing_begin(struct cimi_request *req, struct listing_scope *scope)
{
    scope->was_listing = req->listing;
    scope->cache = req->refresh_cache;
    scope->cache_free = req->refresh_cache_free;
    req->listing = true;
    req->refresh_cache = NULL;
    req->refresh_cache_free = NULL;
}

static void listing_end(struct cimi_request *req, const struct listing_scope *scope)
{
    if (req->refresh_cache != NULL && req->refresh_cache_free != NULL)
        req->refresh_cache_free(req->refresh_cache);
    req->listing = scope->was_listing;
    req->refresh_cache = scope->cache;
    req->refresh_cache_free = scope->cache_free;
}

/* -- over the store's index -- */

/* An index entry with the state refresh would give its row. */
struct indexed_row {
    struct store_entry *e;
    const char *state;
    struct indexed_row *next_free;
};

/* The indexed rows offered to the page: those it drops are used again, so
 * a read allocates about as many as its page holds. */
struct row_pool {
    struct indexed_row *free;
};

static struct indexed_row *row_take(struct row_pool *pool)
{
    struct indexed_row *r = pool->free;

    if (r == NULL)
        return malloc(sizeof(*r));
    pool->free = r->next_free;
    return r;
}

static void row_give_back(void *ctx, void *item)
{
    struct row_pool *pool = ctx;
    struct indexed_row *r = item;

    r->next_free = pool->free;
    pool->free = r;
}

static void row_pool_free(struct row_pool *pool)
{
    while (pool->free != NULL) {
        struct indexed_row *next = pool->free->next_free;
        free(pool->free);
        pool->free = next;
    }
}

/* The value of a field of an indexed row (the id relative), or NULL. */
static const char *entry_field(const struct indexed_row *row, enum entry_field f)
{
    switch (f) {
    case F_ID:
        return row->e->id;
    case F_NAME:
        return row->e->name;
    case F_CREATED:
        return row->e->created;
    case F_UPDATED:
        return row->e->updated;
    case F_STATE:
        return row->state;
    case F_NONE:
        break;
    }
    return NULL;
}

static bool index_answers(struct cimi_request *req, const struct collection_query *cq)
{
    const struct resource_ops *ro = resource_ops_of(cq->t);

    if (req->st->ops->snapshot == NULL || (ro->refresh != NULL && ro->indexed_states == NULL))
        return false;
    for (size_t i = 0; i < cq->nfilters; i++)
        if (!filter_names_only(cq->filters[i], is_indexed_attr))
            return false;
    for (int i = 0; i < cq->nkeys; i++)
        if (cq->key_fields[i] == F_NONE)
            return false;
    return true;
}

/* Does the query look at "state" (which may cost a hypervisor call)? */
static bool names_state(const struct cimi_attr *a)
{
    return strcmp(a->name, "state") != 0;
}

static bool query_needs_state(const struct collection_query *cq)
{
    for (size_t i = 0; i < cq->nfilters; i++)
        if (!filter_names_only(cq->filters[i], names_state))
            return true;
    for (int i = 0; i < cq->nkeys; i++)
        if (strcmp(cq->keys[i].name, "state") == 0)
            return true;
    return false;
}

struct entry_text {
    const struct indexed_row *row;
    const struct collection_query *cq;
    char id[768];
};

/* field_of for an attribute of the query's type, without comparing names
 * (the filter asks once per entry). */
static enum entry_field field_of_attr(const struct collection_query *cq, const struct cimi_attr *a)
{
    for (int f = F_ID; f <= F_STATE; f++)
        if (a != NULL && cq->field_attrs[f] == a)
            return (enum entry_field)f;
    return field_of(a);   /* not one of the type's own */
}

static bool entry_text(void *ctx, const struct cimi_attr *a, const char **text, size_t *len)
{
    struct entry_text *et = ctx;
    enum entry_field f = field_of_attr(et->cq, a);
    const char *value = entry_field(et->row, f);

    if (f == F_ID && value != NULL) {
        snprintf(et->id, sizeof(et->id), "%s%s", et->cq->base_uri, value);  /* as render_absolutize */
        value = et->id;
    }
    *text = value;
    *len = value ? strlen(value) : 0;
    return value != NULL;
}

/* Absolute ids share the base URI: ordering the relative ones is the same. */
static int compare_indexed_rows(void *ctx, const void *pa, const void *pb)
{
    const struct collection_query *cq = ctx;
    const struct indexed_row *a = pa, *b = pb;

    for (int i = 0; i < cq->nkeys; i++) {
        const char *va = entry_field(a, cq->key_fields[i]), *vb = entry_field(b, cq->key_fields[i]);
        int c = filter_compare_texts(va, vb, cq->keys[i].kind);
        if (c != 0)
            return cq->keys[i].descending ? -c : c;
    }
    return a->e->seq < b->e->seq ? -1 : a->e->seq > b->e->seq;
}

static bool indexed_row_matches(const struct collection_query *cq, const struct indexed_row *row)
{
    struct entry_text et;   /* et.id is written only when the filter names the id */

    et.row = row;
    et.cq = cq;
    for (size_t i = 0; i < cq->nfilters; i++)
        if (!filter_match_text(cq->filters[i], entry_text, &et))
            return false;
    return true;
}

/* Read, refresh and render the rows of the page; 1 when one of them is
 * gone or changed since the snapshot (the caller tries again). */
static int render_indexed_page(struct cimi_request *req, const struct cimi_type *t,
                               const struct page *pg, json_t *items, struct cimi_error *err)
{
    const struct resource_ops *ro = resource_ops_of(t);

    for (size_t i = 0; i < pg->count; i++) {
        const struct indexed_row *ir = pg->items[i];
        struct store_row row;
        struct cimi_error get_err;
        json_t *doc;

        memset(&row, 0, sizeof(row));
        if (req->st->ops->get(req->st, ir->e->id, &row, &get_err) != 0)
            return get_err.status == 404 ? 1 : err_set(err, get_err.status, NULL, "%s",
                                                      get_err.message);
        if (row.version != ir->e->version) {
            store_row_clear(&row);
            return 1;
        }
        if (ro->refresh)
            ro->refresh(req, &row);
        doc = render_refreshed_row(req, t, &row);
        store_row_clear(&row);
        if (doc == NULL || json_array_append_new(items, doc) != 0)
            return err_set(err, 500, NULL, "out of memory");
    }
    return 0;
}

/* The next batch of listed entries of snap from *pos on (at most
 * INDEX_BATCH), into batch; how many. */
static size_t next_batch(const struct store_snapshot *snap, size_t *pos,
                         struct store_entry **batch)
{
    size_t n = 0;

    for (; *pos < snap->count && n < INDEX_BATCH; (*pos)++) {
        size_t i = *pos;
        if (i + INDEX_PREFETCH < snap->count && snap->entries[i + INDEX_PREFETCH] != NULL) {
            /* bound by memory latency: ask for the entry's first lines early */
            for (int line = 0; line < 4; line++)
                __builtin_prefetch((char *)snap->entries[i + INDEX_PREFETCH] + 64 * line);
        }
        if (store_snapshot_lists(snap, i))
            batch[n++] = snap->entries[i];
    }
    return n;
}

/* Offer the entries of batch that pass $filter to the page: false when out
 * of memory. */
static bool offer_batch(const struct collection_query *cq, struct page *pg, struct row_pool *pool,
                        struct store_entry *const *batch, const char *const *states, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        struct indexed_row *row = row_take(pool);
        if (row == NULL)
            return false;
        row->e = batch[i];
        row->state = states[i];
        if (!indexed_row_matches(cq, row)) {
            row_give_back(pool, row);
            continue;
        }
        if (!page_offer(pg, row))
            return false;
    }
    return true;
}

/* The page from the index: 0 done, -1 error, 1 cannot (stream instead). */
static int page_by_index(struct cimi_request *req, const struct collection_query *cq,
                         const char *parent, const struct cimi_query *q, json_t *items,
                         long *count, struct cimi_error *err)
{
    const struct resource_ops *ro = resource_ops_of(cq->t);
    struct store_snapshot snap;
    struct row_pool pool = {NULL};
    struct store_entry *batch[INDEX_BATCH];
    const char *states[INDEX_BATCH];
    struct listing_scope scope;
    struct page pg;
    struct cimi_error snap_err;
    bool need_state = query_needs_state(cq) && ro->indexed_states != NULL, failed = false;
    size_t pos = 0, n;
    int rc;

    if (req->st->ops->snapshot(req->st, cq->t->name, parent,
                               req->who.admin ? NULL : req->who.tenant, &snap, &snap_err) != 0)
        return 1;
    /* States of the whole listing only when the query looks at them: the
     * page's rows alone are cheaper asked one by one. */
    if (need_state)
        listing_begin(req, &scope);
    page_init(&pg, cq->nkeys > 0 ? compare_indexed_rows : NULL, (void *)cq, row_give_back, &pool,
              q->first, q->last);
    while (!failed && (n = next_batch(&snap, &pos, batch)) > 0) {
        if (need_state) {
            ro->indexed_states(req, batch, n, states);
        } else {
            for (size_t i = 0; i < n; i++)
                states[i] = batch[i]->state;
        }
        failed = !offer_batch(cq, &pg, &pool, batch, states, n);
    }
    page_finish(&pg);
    rc = failed ? err_set(err, 500, NULL, "out of memory")
                : render_indexed_page(req, cq->t, &pg, items, err);
    *count = pg.matched;
    if (need_state)
        listing_end(req, &scope);
    page_free(&pg);
    row_pool_free(&pool);
    store_snapshot_free(&snap);
    return rc;
}

/* -- streaming every row -- */

/* A row kept for the page, and its place in creation order. */
struct kept_row {
    struct store_row row;
    size_t arrival;
};

struct stream {
    struct cimi_request *req;
    const struct collection_query *cq;
    struct page page;
    size_t arrivals;
    bool failed;   /* out of memory */
};

static void drop_kept_row(void *ctx, void *item)
{
    struct kept_row *k = item;

    (void)ctx;
    if (k != NULL) {
        store_row_clear(&k->row);
        free(k);
    }
}

static int compare_kept_rows(void *ctx, const void *pa, const void *pb)
{
    const struct collection_query *cq = ctx;
    const struct kept_row *a = pa, *b = pb;

    for (int i = 0; i < cq->nkeys; i++) {
        const struct order_key *k = &cq->keys[i];
        int c = filter_compare_values(json_object_get(a->row.doc, k->name),
                                      json_object_get(b->row.doc, k->name), k->kind);
        if (c != 0)
            return k->descending ? -c : c;
    }
    return a->arrival < b->arrival ? -1 : a->arrival > b->arrival;
}

static int stream_row(void *ctx, struct store_row *row)
{
    struct stream *s = ctx;
    const struct resource_ops *ro = resource_ops_of(s->cq->t);
    struct kept_row *kept;

    if (!render_visible(s->req, row))
        return 0;
    if (ro->refresh)
        ro->refresh(s->req, row);
    if (s->cq->nfilters > 0 || s->cq->nkeys > 0) {
        json_object_set_new(row->doc, "id", json_string(row->id));
        render_absolutize(row->doc, s->req->base_uri);  /* rendering again changes nothing */
    }
    for (size_t i = 0; i < s->cq->nfilters; i++)
        if (!filter_match(s->cq->filters[i], row->doc))
            return 0;
    kept = malloc(sizeof(*kept));
    if (kept == NULL) {
        s->failed = true;
        return 1;
    }
    kept->row = *row;
    kept->arrival = s->arrivals++;
    row->doc = row->priv = NULL;
    if (!page_offer(&s->page, kept))
        s->failed = true;
    return s->failed;
}

static int page_by_stream(struct cimi_request *req, const struct collection_query *cq,
                          const char *parent, const struct cimi_query *q, json_t *items,
                          long *count, struct cimi_error *err)
{
    struct stream s = {req, cq, {0}, 0, false};
    struct listing_scope scope;
    int rc;

    page_init(&s.page, cq->nkeys > 0 ? compare_kept_rows : NULL, (void *)cq, drop_kept_row, NULL,
              q->first, q->last);
    listing_begin(req, &scope);
    rc = req->st->ops->list(req->st, cq->t->name, parent, req->who.admin ? NULL : req->who.tenant,
                            stream_row, &s, err);
    listing_end(req, &scope);
    if (rc == 0 && s.failed)
        rc = err_set(err, 500, NULL, "out of memory");
    page_finish(&s.page);
    for (size_t i = 0; rc == 0 && i < s.page.count; i++) {
        struct kept_row *k = s.page.items[i];
        json_t *doc = render_refreshed_row(req, cq->t, &k->row);
        if (doc == NULL || json_array_append_new(items, doc) != 0)
            rc = err_set(err, 500, NULL, "out of memory");
    }
    *count = s.page.matched;
    page_free(&s.page);
    return rc;
}

/* The page of the collection of t under parent (rendered, in items) and
 * how many items passed $filter. */
static int read_page(struct cimi_request *req, const struct cimi_type *t, const char *parent,
                     const struct cimi_query *q, json_t *items, long *count,
                     struct cimi_error *err)
{
    struct collection_query cq;
    int rc = 1;

    if (collection_query_parse(req, t, q, &cq, err) != 0) {
        collection_query_free(&cq);
        return -1;
    }
    for (int attempt = 0; rc == 1 && attempt < INDEX_ATTEMPTS && index_answers(req, &cq);
         attempt++) {
        json_array_clear(items);
        rc = page_by_index(req, &cq, parent, q, items, count, err);
    }
    if (rc == 1) {
        json_array_clear(items);
        rc = page_by_stream(req, &cq, parent, q, items, count, err);
    }
    collection_query_free(&cq);
    return rc;
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
 * their types; in a sub-collection only when its POST would pass the same
 * check (resources/allow.c). */
static bool offers_add(struct cimi_request *req, const struct cimi_type *t, const char *parent)
{
    struct cimi_error err;

    if (resource_ops_of(t)->provider_only || resource_ops_of(t)->provider_creates)
        return false;
    return parent[0] == '\0' || resource_add_check(req, t, parent, &err) == 0;
}

static int build_collection(struct cimi_request *req, const struct cimi_type *t, const char *parent,
                            const char *path, const struct cimi_query *q, json_t **out,
                            struct cimi_error *err)
{
    json_t *items = json_array();
    long count = 0;
    size_t i;
    json_t *item, *doc;
    char uri[768];

    if (items == NULL)
        return err_set(err, 500, NULL, "out of memory");
    if (t == &t_resource_metadata) {
        json_decref(items);
        items = metadata_documents(req);
        if (query_collection(q, t, items, &count, err) != 0) {
            json_decref(items);
            return -1;
        }
    } else if (read_page(req, t, parent, q, items, &count, err) != 0) {
        json_decref(items);
        return -1;
    }
    drop_unlisted(req, t, items, &count);
    json_array_foreach(items, i, item) {
        if (q->has_expand)
            expand_doc(req, t, item, q->expand);
        if (q->has_select && !selects_collection_attrs(q->select))
            query_select(item, q->select);
    }
    render_uri(req, path, uri, sizeof(uri));
    doc = json_pack("{s:s, s:I}", "id", uri, "count", (json_int_t)count);
    if (json_array_size(items) > 0) {
        json_object_set(doc, t->json_items, items);
        /* DSP0263 2.0 names this array "resourceMetadatas"; clients written
         * against Deltacloud read "resourceMetadata". JSON carries both. */
        if (t == &t_resource_metadata)
            json_object_set(doc, "resourceMetadatas", items);
    }
    json_decref(items);
    if (offers_add(req, t, parent))
        json_object_set_new(doc, "operations",
                            json_pack("[{s:s, s:s}]", "rel", "add", "href", uri));
    if (offers_add(req, t, parent) && parent[0] == '\0')
        add_collection_actions(t, uri, doc);
    if (q->has_select && selects_collection_attrs(q->select)) {
        /* A collection always says which it is and how many it has (the
         * schema requires id and count, whatever $select names). */
        json_t *id = json_incref(json_object_get(doc, "id"));
        json_t *n = json_incref(json_object_get(doc, "count"));
        query_select(doc, q->select);
        json_object_set_new(doc, "id", id);
        json_object_set_new(doc, "count", n);
    }
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
    /* A collection is read over the index's snapshot: not within the read
     * transaction the request's authentication opened (http/server.c). */
    req->st->ops->read_end(req->st);
    if (read_path(req, req->path, &req->query, &doc, &t, &collection, &err) != 0)
        goto fail;
    if (!collection)
        shape_resource(req, t, doc, &req->query);
    handlers_set_doc(resp, 200, doc, t, collection);
    return;
fail:
    cimi_error_response(resp, &err, NULL);
}

