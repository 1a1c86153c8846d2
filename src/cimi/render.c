/*
 * render.c - stored rows to client documents: absolute URIs, sub-collection
 * references and the operations allowed now.
 *
 * This runs for every resource a client reads, so it builds its strings with
 * memcpy (no printf per URI) and its small objects member by member (no
 * json_pack format parsing); a GET renders from the row's own document,
 * sharing its members, instead of a deep copy of it (render_row).
 */
#include "cimi/render.h"

#include <stdio.h>
#include <string.h>

#include "resources/resource.h"

/* base + path into out (len bytes), cut short like snprintf when too long.
 * Returns the length written. */
static size_t join(const char *base, size_t base_len, const char *path, char *out, size_t len)
{
    size_t path_len = strlen(path);

    if (len == 0)
        return 0;
    if (base_len > len - 1)
        base_len = len - 1;
    memcpy(out, base, base_len);
    if (path_len > len - 1 - base_len)
        path_len = len - 1 - base_len;
    memcpy(out + base_len, path, path_len);
    out[base_len + path_len] = '\0';
    return base_len + path_len;
}

void render_uri(const struct cimi_request *req, const char *path, char *out, size_t len)
{
    join(req->base_uri, strlen(req->base_uri), path, out, len);
}

/* A new JSON string of an absolute URI, not checked again for UTF-8: the
 * base URI is a checked Host header or the configured --public-url, the
 * path a string jansson checked. */
static json_t *uri_string(const char *base, size_t base_len, const char *path)
{
    char buf[1024];
    size_t n = join(base, base_len, path, buf, sizeof(buf));

    return json_stringn_nocheck(buf, n);
}

static void absolutize_value(json_t *v, const char *base);

static void absolutize_string_member(json_t *obj, const char *key, json_t *v, const char *base)
{
    const char *s = json_string_value(v);

    /* "#name": a reference inside a SystemTemplate, kept as sent. */
    if (s == NULL || strstr(s, "://") != NULL || s[0] == '\0' || s[0] == '#')
        return;
    json_object_set_new(obj, key, uri_string(base, strlen(base), s));
}

static void absolutize_value(json_t *v, const char *base)
{
    const char *key;
    json_t *member;
    size_t i;

    if (json_is_object(v)) {
        json_object_foreach(v, key, member) {
            if ((strcmp(key, "id") == 0 || strcmp(key, "href") == 0) && json_is_string(member))
                absolutize_string_member(v, key, member, base);
            else
                absolutize_value(member, base);
        }
    } else if (json_is_array(v)) {
        json_array_foreach(v, i, member)
            absolutize_value(member, base);
    }
}

void render_absolutize(json_t *doc, const char *base)
{
    absolutize_value(doc, base);
}

void render_relativize(struct cimi_request *req, json_t *doc)
{
    const char *key;
    json_t *member;
    size_t i;

    if (json_is_object(doc)) {
        json_object_foreach(doc, key, member) {
            char path[256];
            const char *href = json_string_value(member);
            if (strcmp(key, "href") == 0 && href != NULL &&
                resource_href_path(req, href, "href", path, sizeof(path), NULL) == 0)
                json_object_set_new(doc, key, json_string(path));
            else
                render_relativize(req, member);
        }
    } else if (json_is_array(doc)) {
        json_array_foreach(doc, i, member)
            render_relativize(req, member);
    }
}

bool render_visible(const struct cimi_request *req, const struct store_row *row)
{
    return req->who.admin || row->tenant[0] == '\0' || strcmp(row->tenant, req->who.tenant) == 0;
}

bool render_writable(const struct cimi_request *req, const struct store_row *row)
{
    return req->who.admin || (row->tenant[0] != '\0' && strcmp(row->tenant, req->who.tenant) == 0);
}

/* Append {"rel": rel, "href": href} to ops. */
static void add_operation(json_t *ops, const char *rel, size_t rel_len, const char *href,
                          size_t href_len)
{
    json_t *op = json_object();

    if (op == NULL)
        return;
    json_object_set_new_nocheck(op, "rel", json_stringn_nocheck(rel, rel_len));
    json_object_set_new_nocheck(op, "href", json_stringn_nocheck(href, href_len));
    json_array_append_new(ops, op);
}

/* Is op offered: would its request pass (resources/allow.c)? */
static bool offered(struct cimi_request *req, const struct cimi_type *t,
                    const struct store_row *row, const char *op)
{
    struct cimi_error ignored;

    return resource_op_check(req, t, row, op, &ignored) == 0;
}

static void add_action_operations(struct cimi_request *req, const struct cimi_type *t,
                                  const struct store_row *row, const char *self, size_t self_len,
                                  json_t *ops)
{
    static const char action_ns[] = CIMI_NS "/action/";
    const struct resource_ops *ro = resource_ops_of(t);
    size_t base_len = strlen(req->base_uri);

    for (size_t i = 0; ro->actions && ro->actions[i].name; i++) {
        const char *name = ro->actions[i].name;
        const char *special = ro->action_href ? ro->action_href(name) : NULL;
        char rel[256], href[768], self_slash[768];
        size_t rel_len, href_len;

        if (!offered(req, t, row, name))
            continue;
        rel_len = join(action_ns, sizeof(action_ns) - 1, name, rel, sizeof(rel));
        if (special) {
            href_len = join(req->base_uri, base_len, special, href, sizeof(href));
        } else {
            /* <base><id>/<name> */
            size_t n = join(self, self_len, "/", self_slash, sizeof(self_slash));
            href_len = join(self_slash, n, name, href, sizeof(href));
        }
        add_operation(ops, rel, rel_len, href, href_len);
    }
}

static json_t *row_operations(struct cimi_request *req, const struct cimi_type *t,
                              const struct store_row *row, const char *self, size_t self_len)
{
    json_t *ops = json_array();
    bool delete_first = resource_ops_of(t)->delete_first;

    if (ops == NULL)
        return NULL;

    if (delete_first && offered(req, t, row, "delete"))
        add_operation(ops, "delete", 6, self, self_len);
    if (offered(req, t, row, "edit"))
        add_operation(ops, "edit", 4, self, self_len);
    if (!delete_first && offered(req, t, row, "delete"))
        add_operation(ops, "delete", 6, self, self_len);
    add_action_operations(req, t, row, self, self_len, ops);
    return ops;
}

/* The rendering of row (of type t) from stored, a document that may be
 * changed: its URIs are made absolute in place and the rendering shares its
 * members. */
static json_t *render_document(struct cimi_request *req, const struct cimi_type *t,
                               const struct store_row *row, json_t *stored)
{
    json_t *doc, *ops, *member;
    const struct cimi_attr *a;
    const char *key;
    char self[768];
    size_t self_len = join(req->base_uri, strlen(req->base_uri), row->id, self, sizeof(self));

    doc = json_object();
    if (stored == NULL || doc == NULL) {
        json_decref(doc);
        return NULL;
    }
    /* Before the URIs become absolute: the checks read the stored paths. */
    ops = row_operations(req, t, row, self, self_len);
    render_absolutize(stored, req->base_uri);
    /* "id" first, like the schema's order. */
    json_object_set_new_nocheck(doc, "id", json_stringn_nocheck(self, self_len));
    json_object_foreach(stored, key, member) {
        if (strcmp(key, "id") != 0)
            json_object_set_nocheck(doc, key, member);
    }
    for (size_t i = 0; (a = model_attr_at(t, i)) != NULL; i++) {
        char self_slash[768], href[1024];
        size_t n;
        json_t *ref;
        if (a->kind != K_COLLECTION || t == &t_cloud_entry_point)
            continue;
        /* The sub-collection's reference: <base><id>/<name>. */
        n = join(self, self_len, "/", self_slash, sizeof(self_slash));
        n = join(self_slash, n, a->name, href, sizeof(href));
        ref = json_object();
        if (ref != NULL)
            json_object_set_new_nocheck(ref, "href", json_stringn_nocheck(href, n));
        json_object_set_new(doc, a->name, ref);
    }
    if (json_array_size(ops) > 0)
        json_object_set_new_nocheck(doc, "operations", ops);
    else
        json_decref(ops);
    return doc;
}

json_t *render_row(struct cimi_request *req, const struct cimi_type *t, struct store_row *row)
{
    if (resource_ops_of(t)->refresh)
        resource_ops_of(t)->refresh(req, row);
    /* No copy: the row's document becomes the rendering's (render.h). */
    return render_document(req, t, row, row->doc);
}

json_t *render_refreshed_row(struct cimi_request *req, const struct cimi_type *t,
                             const struct store_row *row)
{
    json_t *copy = json_deep_copy(row->doc);
    json_t *doc = render_document(req, t, row, copy);

    json_decref(copy);
    return doc;
}
