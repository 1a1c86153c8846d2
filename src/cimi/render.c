/*
 * render.c - stored rows to client documents: absolute URIs, sub-collection
 * references and the operations allowed now.
 */
#include "cimi/render.h"

#include <stdio.h>
#include <string.h>

#include "resources/resource.h"

void render_uri(const struct cimi_request *req, const char *path, char *out, size_t len)
{
    snprintf(out, len, "%s%s", req->base_uri, path);
}

static void absolutize_value(json_t *v, const char *base);

static void absolutize_string_member(json_t *obj, const char *key, json_t *v, const char *base)
{
    const char *s = json_string_value(v);
    char buf[1024];

    if (s == NULL || strstr(s, "://") != NULL || s[0] == '\0')
        return;
    snprintf(buf, sizeof(buf), "%s%s", base, s);
    json_object_set_new(obj, key, json_string(buf));
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

static void add_operation(json_t *ops, const char *rel, const char *href)
{
    json_array_append_new(ops, json_pack("{s:s, s:s}", "rel", rel, "href", href));
}

static void add_action_operations(struct cimi_request *req, const struct cimi_type *t,
                                  const struct store_row *row, json_t *ops)
{
    const struct resource_ops *ro = resource_ops_of(t);

    for (size_t i = 0; ro->actions && ro->actions[i].name; i++) {
        const char *name = ro->actions[i].name;
        const char *special = ro->action_href ? ro->action_href(name) : NULL;
        char rel[256], href[768];

        if (ro->allowed && !ro->allowed(row, name))
            continue;
        snprintf(rel, sizeof(rel), CIMI_NS "/action/%s", name);
        if (special)
            render_uri(req, special, href, sizeof(href));
        else
            snprintf(href, sizeof(href), "%s%s/%s", req->base_uri, row->id, name);
        add_operation(ops, rel, href);
    }
}

static json_t *row_operations(struct cimi_request *req, const struct cimi_type *t,
                              const struct store_row *row)
{
    const struct resource_ops *ro = resource_ops_of(t);
    json_t *ops = json_array();
    char href[768];

    render_uri(req, row->id, href, sizeof(href));
    if (ro && !ro->provider_only && render_writable(req, row)) {
        if (!ro->allowed || ro->allowed(row, "edit"))
            add_operation(ops, "edit", href);
        if (!ro->allowed || ro->allowed(row, "delete"))
            add_operation(ops, "delete", href);
    }
    if (ro && (render_writable(req, row) || t == &t_job))
        add_action_operations(req, t, row, ops);
    return ops;
}

json_t *render_row(struct cimi_request *req, const struct cimi_type *t, struct store_row *row)
{
    if (resource_ops_of(t)->refresh)
        resource_ops_of(t)->refresh(req, row);
    return render_refreshed_row(req, t, row);
}

json_t *render_refreshed_row(struct cimi_request *req, const struct cimi_type *t,
                             const struct store_row *row)
{
    json_t *doc, *copy;
    json_t *ops;
    const struct cimi_attr *a;

    /* "id" first, like the schema's order. */
    copy = json_deep_copy(row->doc);
    doc = json_pack("{s:s}", "id", row->id);
    if (copy == NULL || doc == NULL) {
        json_decref(copy);
        json_decref(doc);
        return NULL;
    }
    json_object_del(copy, "id");
    json_object_update(doc, copy);
    json_decref(copy);
    for (size_t i = 0; (a = model_attr_at(t, i)) != NULL; i++) {
        char path[512];
        if (a->kind != K_COLLECTION || t == &t_cloud_entry_point)
            continue;
        snprintf(path, sizeof(path), "%s/%s", row->id, a->name);
        json_object_set_new(doc, a->name, json_pack("{s:s}", "href", path));
    }
    render_absolutize(doc, req->base_uri);
    ops = row_operations(req, t, row);
    if (json_array_size(ops) > 0)
        json_object_set_new(doc, "operations", ops);
    else
        json_decref(ops);
    return doc;
}
