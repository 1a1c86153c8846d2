/*
 * query.c - $filter, $orderby, $first/$last and $select on rendered documents.
 */
#include "cimi/query.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cimi/filter.h"

void cimi_query_init(struct cimi_query *q)
{
    memset(q, 0, sizeof(*q));
    q->filters = json_array();
}

void cimi_query_free(struct cimi_query *q)
{
    json_decref(q->filters);
    q->filters = NULL;
    free(q->select);
    free(q->expand);
    free(q->orderby);
    q->select = q->expand = q->orderby = NULL;
}

/* Append value to the comma list *list (heap, NULL = empty): repeated
 * parameters merge, whatever their length (a cut list could name another
 * attribute: "nameOfSomethingElse" must never become "name"). */
static int merge_list(char **list, const char *key, const char *value, struct cimi_error *err)
{
    size_t n = *list ? strlen(*list) : 0, add = strlen(value);
    char *merged;

    if (add == 0)
        return 0;
    merged = realloc(*list, n + add + 2);
    if (merged == NULL)
        return err_set(err, 500, key, "out of memory");
    if (n > 0)
        merged[n++] = ',';
    memcpy(merged + n, value, add + 1);
    *list = merged;
    return 0;
}

/* A 1-based position: a whole number; out of range is clipped, never an
 * error (DSP0263 4.1.6.2): $first below 1 is 1, $last below 1 keeps nothing
 * (-1), beyond a long is the end. */
static int parse_position(const char *key, const char *value, long *out, struct cimi_error *err)
{
    char *end;
    long v;

    errno = 0;
    v = strtol(value, &end, 10);
    if (end == value || *end != '\0' || (errno != 0 && errno != ERANGE))
        return err_set(err, 400, key, "%s must be a whole number, not '%.50s'", key, value);
    if (v < 1)
        v = strcmp(key, "$last") == 0 ? -1 : 1;
    *out = v;
    return 0;
}

int cimi_query_add(struct cimi_query *q, const char *key, const char *value,
                   struct cimi_error *err)
{
    if (strcmp(key, "$filter") == 0) {
        json_t *text = json_string(value);
        if (text == NULL)
            return err_set(err, 400, key, "$filter is not valid UTF-8");
        if (json_array_append_new(q->filters, text) != 0)
            return err_set(err, 500, key, "out of memory");
    } else if (strcmp(key, "$select") == 0) {
        q->has_select = true;
        return merge_list(&q->select, key, value, err);
    } else if (strcmp(key, "$expand") == 0) {
        q->has_expand = true;
        return merge_list(&q->expand, key, value[0] ? value : "*", err);
    } else if (strcmp(key, "$first") == 0) {
        return parse_position(key, value, &q->first, err);
    } else if (strcmp(key, "$last") == 0) {
        return parse_position(key, value, &q->last, err);
    } else if (strcmp(key, "$orderby") == 0) {
        return merge_list(&q->orderby, key, value, err);
    }
    return 0;
}

bool query_list_has(const char *list, const char *name)
{
    size_t n = strlen(name);
    const char *p = list;

    if (p == NULL)
        return false;
    while (*p) {
        size_t len;
        while (*p == ' ' || *p == ',')
            p++;
        len = strcspn(p, ", ");
        if ((len == 1 && p[0] == '*') || (len == n && strncmp(p, name, n) == 0))
            return true;
        p += len;
    }
    return false;
}

void query_select(json_t *doc, const char *select)
{
    const char *key;
    json_t *value, *tmp;

    json_object_foreach_safe(doc, tmp, key, value) {
        (void)value;
        if (!query_list_has(select, key))
            json_object_del(doc, key);
    }
}

int query_parse_orderby(const char *text, const struct cimi_type *t, struct order_key *keys,
                        int *nkeys, struct cimi_error *err)
{
    const char *p = text;

    *nkeys = 0;
    while (*p) {
        char item[128];
        char *colon;
        const struct cimi_attr *a;
        size_t len = strcspn(p, ",");
        struct order_key *k;

        if (len >= sizeof(item))
            return err_set(err, 400, "$orderby", "$orderby: no attribute has a name as long as "
                           "'%.64s...'", p);
        if (*nkeys == MAX_ORDER_KEYS)
            return err_set(err, 400, "$orderby", "$orderby names more than %d attributes",
                           MAX_ORDER_KEYS);
        memcpy(item, p, len);
        item[len] = '\0';
        p += len;
        if (*p == ',')
            p++;
        if (item[0] == '\0')
            continue;
        k = &keys[(*nkeys)++];
        colon = strchr(item, ':');
        k->descending = false;
        if (colon) {
            *colon = '\0';
            if (strcmp(colon + 1, "desc") == 0)
                k->descending = true;
            else if (strcmp(colon + 1, "asc") != 0)
                return err_set(err, 400, "$orderby", "$orderby direction must be asc or desc, not '%s'",
                               colon + 1);
        }
        a = model_attr(t, item);
        if (a == NULL || a->kind == K_MAP || a->kind == K_ARRAY || a->kind == K_COLLECTION)
            return err_set(err, 400, "$orderby", "$orderby: cannot sort by '%s'", item);
        snprintf(k->name, sizeof(k->name), "%.63s", item);
        k->kind = a->kind;
    }
    return 0;
}

struct sort_spec {
    const struct order_key *keys;
    int nkeys;
};

struct indexed {
    json_t *item;
    size_t index;   /* original position: ties keep it, so the sort is stable */
};

static int compare_indexed(const void *pa, const void *pb, void *ctx)
{
    const struct indexed *a = pa, *b = pb;
    const struct sort_spec *spec = ctx;

    for (int i = 0; i < spec->nkeys; i++) {
        const struct order_key *k = &spec->keys[i];
        int c = filter_compare_values(json_object_get(a->item, k->name),
                                      json_object_get(b->item, k->name), k->kind);
        if (c != 0)
            return k->descending ? -c : c;
    }
    return a->index < b->index ? -1 : a->index > b->index;
}

static int sort_items(json_t *items, const struct order_key *keys, int nkeys)
{
    size_t n = json_array_size(items);
    struct indexed *v = calloc(n ? n : 1, sizeof(*v));
    struct sort_spec spec = {keys, nkeys};

    if (v == NULL)
        return -1;
    for (size_t i = 0; i < n; i++) {
        v[i].item = json_incref(json_array_get(items, i));
        v[i].index = i;
    }
    qsort_r(v, n, sizeof(*v), compare_indexed, &spec);
    json_array_clear(items);
    for (size_t i = 0; i < n; i++)
        json_array_append_new(items, v[i].item);
    free(v);
    return 0;
}

static int apply_filters(const struct cimi_query *q, const struct cimi_type *t, json_t *items,
                         struct cimi_error *err)
{
    size_t i;
    json_t *text;

    json_array_foreach(q->filters, i, text) {
        struct filter *f = filter_parse(json_string_value(text), t, err);
        size_t j = 0;

        if (f == NULL)
            return -1;
        /* Keep the matches in place, in order (one pass: no removal from
         * the middle of a large array). */
        for (size_t k = 0; k < json_array_size(items); k++) {
            json_t *item = json_array_get(items, k);
            if (filter_match(f, item)) {
                if (k != j)
                    json_array_set(items, j, item);
                j++;
            }
        }
        while (json_array_size(items) > j)
            json_array_remove(items, json_array_size(items) - 1);
        filter_free(f);
    }
    return 0;
}

static void apply_range(const struct cimi_query *q, json_t *items)
{
    long n = (long)json_array_size(items);
    long first = q->first > 0 ? q->first : 1;
    long last = q->last > 0 ? q->last : q->last < 0 ? 0 : n;

    if (last > n)
        last = n;
    /* Keep 1-based positions first..last: move them to the front, drop the
     * rest from the end. */
    if (first > last) {
        json_array_clear(items);
        return;
    }
    for (long i = first; i <= last && first > 1; i++)
        json_array_set(items, (size_t)(i - first), json_array_get(items, (size_t)(i - 1)));
    while ((long)json_array_size(items) > last - first + 1)
        json_array_remove(items, json_array_size(items) - 1);
}

int query_collection(const struct cimi_query *q, const struct cimi_type *t, json_t *items,
                     long *count, struct cimi_error *err)
{
    struct order_key keys[MAX_ORDER_KEYS];
    int nkeys = 0;

    if (apply_filters(q, t, items, err) != 0)
        return -1;
    if (q->orderby != NULL) {
        if (query_parse_orderby(q->orderby, t, keys, &nkeys, err) != 0)
            return -1;
        if (nkeys > 0 && sort_items(items, keys, nkeys) != 0)
            return err_set(err, 500, NULL, "out of memory");
    }
    *count = (long)json_array_size(items);
    apply_range(q, items);
    return 0;
}
