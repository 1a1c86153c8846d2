/*
 * common.c - small helpers shared by the resource types.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cimi/codec.h"
#include "cimi/render.h"
#include "resources/resource.h"
#include "util/clock.h"

#define CIMI_PATH "/cimi/"

/* Is the absolute URI href below base (scheme and host in any case, the
 * path exactly)? */
static bool below_base(const char *href, const char *base)
{
    const char *scheme_end = strstr(base, "://");
    const char *path = scheme_end ? strchr(scheme_end + 3, '/') : NULL;
    size_t authority_len;

    if (path == NULL)
        return false;
    authority_len = (size_t)(path - base);
    return strncasecmp(href, base, authority_len) == 0 &&
           strncmp(href + authority_len, path, strlen(path)) == 0;
}

int resource_href_path(struct cimi_request *req, const char *href, const char *attr, char *out,
                       size_t len, struct cimi_error *err)
{
    const char *rest = href;
    size_t base_len = strlen(req->base_uri);

    if (strstr(href, "://") != NULL) {
        /* Absolute: only below this cloud's base URI (the request's, or
         * --public-url), scheme and host in any case; another host's
         * resource is not ours even when its path looks like one. */
        if (!below_base(href, req->base_uri))
            return err_set(err, 400, attr, "%s href '%.200s' is not a resource of this provider "
                           "(not below %s)", attr, href, req->base_uri);
        rest = href + base_len;
    } else if (strncmp(href, CIMI_PATH, strlen(CIMI_PATH)) == 0) {
        rest = href + strlen(CIMI_PATH);
    } else if (href[0] == '/') {
        return err_set(err, 400, attr, "%s href '%.200s' is not a resource of this provider", attr,
                       href);
    }
    if (rest[0] == '\0' || strlen(rest) >= len || strchr(rest, '?') != NULL)
        return err_set(err, 400, attr, "%s href '%.200s' is not a resource of this provider", attr,
                       href);
    snprintf(out, len, "%s", rest);
    return 0;
}

int resource_disk_letter(const char *location)
{
    const char *name = location;

    if (strncmp(name, "/dev/", 5) == 0)
        name += 5;
    if (strlen(name) == 3 && strncmp(name, "vd", 2) == 0 && name[2] >= 'a' && name[2] <= 'z')
        return name[2];
    return -1;
}

int resource_check_disk_locations(const json_t *disks, const char *attr, struct cimi_error *err)
{
    const json_t *disk;
    size_t i;

    json_array_foreach(disks, i, disk) {
        const char *location = json_string_value(json_object_get(disk, "initialLocation"));
        if (location == NULL || location[0] == '\0' ||
            (i < 26 && resource_disk_letter(location) == 'a' + (int)i))
            continue;
        return err_set(err, 400, attr, "%s[%zu].initialLocation '%.100s': disk %zu of a machine "
                       "is the virtio disk /dev/vd%c", attr, i, location, i + 1,
                       i < 26 ? (char)('a' + i) : '?');
    }
    return 0;
}

void resource_touch(json_t *doc)
{
    char now[32];

    clock_now_iso(now, sizeof(now));
    json_object_set_new(doc, "updated", json_string(now));
}

int resource_store_input(struct cimi_request *req, json_t *input, struct store_row *row,
                         const struct cimi_type *t, struct cimi_error *err)
{
    row->doc = json_deep_copy(input);
    row->priv = json_object();
    return resource_new_row(req, t, row, err);
}

void resource_back_to_previous(struct store_row *row, void *unused)
{
    (void)unused;
    json_object_set(row->doc, "state", json_object_get(row->priv, "previous"));
    resource_touch(row->doc);
}

void resource_restore_previous(struct store *st, const char *path)
{
    struct store_row row;

    memset(&row, 0, sizeof(row));
    if (st->ops->get(st, path, &row, NULL) != 0)
        return;
    resource_back_to_previous(&row, NULL);
    st->ops->update(st, &row, NULL);
    store_row_clear(&row);
}

static bool is_catalog(const struct cimi_type *t)
{
    static const struct cimi_type *const catalog[] = {
        &t_machine_configuration, &t_machine_template, &t_machine_image, &t_credential_template,
        &t_volume_configuration, &t_volume_template, &t_volume_image,
        &t_network_configuration, &t_network_template, &t_network_port_configuration,
        &t_address_template, NULL,
    };

    for (size_t i = 0; catalog[i]; i++)
        if (catalog[i] == t)
            return true;
    return false;
}

int resource_new_row(struct cimi_request *req, const struct cimi_type *t, struct store_row *row,
                     struct cimi_error *err)
{
    char uuid[37], now[32];

    if (uuid_generate_v4(uuid, sizeof(uuid)) != 0)
        return err_set(err, 500, NULL, "cannot generate an identifier");
    clock_now_iso(now, sizeof(now));
    snprintf(row->id, sizeof(row->id), "%s/%s", t->cep_attr, uuid);
    snprintf(row->type, sizeof(row->type), "%s", t->name);
    /* What an admin adds to the catalog (configurations, templates, images,
     * credential templates) is shared by every tenant. */
    if (req->who.admin && is_catalog(t))
        row->tenant[0] = '\0';
    else
        snprintf(row->tenant, sizeof(row->tenant), "%s", req->who.tenant);
    row->parent[0] = '\0';
    if (row->doc == NULL)
        row->doc = json_object();
    if (row->priv == NULL)
        row->priv = json_object();
    json_object_set_new(row->doc, "created", json_string(now));
    json_object_set_new(row->doc, "updated", json_string(now));
    return 0;
}

struct child_ctx {
    size_t prefix_len;
    long next;
};

static int highest_child(void *arg, struct store_row *row)
{
    struct child_ctx *c = arg;
    const char *tail = row->id + c->prefix_len;
    char *end;
    long n;

    if (strlen(row->id) <= c->prefix_len)
        return 0;
    n = strtol(tail, &end, 10);
    if (*end == '\0' && n >= c->next)
        c->next = n + 1;
    return 0;
}

int resource_new_child(struct store *st, const struct store_row *parent, const char *sub,
                       const struct cimi_type *t, struct store_row *row, struct cimi_error *err)
{
    struct child_ctx ctx = {0, 0};
    char now[32];

    snprintf(row->id, sizeof(row->id), "%s/%s/", parent->id, sub);
    ctx.prefix_len = strlen(row->id);
    if (st->ops->list(st, t->name, parent->id, NULL, highest_child, &ctx, err) != 0)
        return -1;
    snprintf(row->id + ctx.prefix_len, sizeof(row->id) - ctx.prefix_len, "%ld", ctx.next);
    snprintf(row->type, sizeof(row->type), "%s", t->name);
    snprintf(row->tenant, sizeof(row->tenant), "%s", parent->tenant);
    snprintf(row->parent, sizeof(row->parent), "%s", parent->id);
    if (row->doc == NULL)
        row->doc = json_object();
    if (row->priv == NULL)
        row->priv = json_object();
    clock_now_iso(now, sizeof(now));
    json_object_set_new(row->doc, "created", json_string(now));
    json_object_set_new(row->doc, "updated", json_string(now));
    return 0;
}

int resource_check_capacity(const json_t *capacity, const char *attr, struct cimi_error *err)
{
    if (capacity == NULL)
        return err_set(err, 400, attr, "missing required attribute '%s'", attr);
    if (!json_is_integer(capacity) || json_integer_value(capacity) < 1)
        return err_set(err, 400, attr, "%s must be a positive integer (KB)", attr);
    return 0;
}

const char *resource_ref(const json_t *doc, const char *attr)
{
    return json_string_value(json_object_get(json_object_get(doc, attr), "href"));
}

void resource_copy_common(const json_t *input, json_t *doc)
{
    static const char *const names[] = {"name", "description", "properties"};

    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (json_object_get(input, names[i]) != NULL)
            json_object_set(doc, names[i], json_object_get(input, names[i]));
}

/* Apply the override members of a by-reference document onto a copy of the
 * referenced one: a member replaces, null erases. */
static void apply_overrides(json_t *base, const json_t *ref)
{
    const char *key;
    json_t *value;

    json_object_foreach((json_t *)ref, key, value) {
        if (strcmp(key, "href") == 0)
            continue;
        if (json_is_null(value))
            json_object_del(base, key);
        else
            json_object_set(base, key, value);
    }
}

json_t *resource_resolve(struct cimi_request *req, const json_t *ref, const struct cimi_type *t,
                         const char *attr, char *path, size_t path_len, struct cimi_error *err)
{
    const char *href = json_string_value(json_object_get(ref, "href"));
    struct store_row row;
    json_t *doc;

    path[0] = '\0';
    if (href == NULL)
        return json_deep_copy(ref);
    if (resource_href_path(req, href, attr, path, path_len, err) != 0)
        return NULL;
    if (resource_load(req, path, t, &row, err) != 0) {
        err_set(err, 400, attr, "%s href '%s' does not name a %s", attr, href, t->name);
        return NULL;
    }
    doc = json_deep_copy(row.doc);
    store_row_clear(&row);
    apply_overrides(doc, ref);
    return doc;
}

/* The uuid part of "machines/<uuid>". */
const char *resource_uuid(const char *id)
{
    const char *slash = strrchr(id, '/');

    return slash ? slash + 1 : id;
}
/* Load a row by path, checking type and visibility (404 otherwise): all of
 * its private document, or (for_read) what t's reads look at. */
static int load_row(struct cimi_request *req, const char *path, const struct cimi_type *t,
                    bool for_read, struct store_row *row, struct cimi_error *err)
{
    const struct resource_ops *ro = t ? resource_ops_of(t) : NULL;
    int rc;

    memset(row, 0, sizeof(*row));
    if (for_read && ro != NULL && ro->reads_without_priv)
        rc = req->st->ops->get_public(req->st, path, ro->read_priv_member, row, err);
    else
        rc = req->st->ops->get(req->st, path, row, err);
    if (rc != 0)
        return -1;
    if ((t && strcmp(row->type, t->name) != 0) || !render_visible(req, row)) {
        store_row_clear(row);
        return err_set(err, 404, NULL, "no resource at '%s'", path);
    }
    return 0;
}

int resource_load(struct cimi_request *req, const char *path, const struct cimi_type *t,
                  struct store_row *row, struct cimi_error *err)
{
    return load_row(req, path, t, false, row, err);
}

int resource_load_for_read(struct cimi_request *req, const char *path,
                           const struct cimi_type *t, struct store_row *row,
                           struct cimi_error *err)
{
    return load_row(req, path, t, true, row, err);
}

int resource_check_access(const struct cimi_request *req, const struct cimi_type *t,
                          struct cimi_error *err)
{
    if (t != NULL && resource_ops_of(t)->admin_only && !req->who.admin)
        return err_set(err, 403, NULL, "only administrators may use %s resources", t->name);
    return 0;
}

/* Whether a client's value of an immutable attribute a differs from the
 * stored one (a reference by its path, wherever the href points). */
static bool immutable_changed(struct cimi_request *req, const struct cimi_attr *a,
                              const json_t *given, const json_t *stored)
{
    char path[256];
    const char *href;

    if (a->kind != K_REF)
        return !json_equal(given, stored);
    href = json_string_value(json_object_get(given, "href"));
    if (href == NULL || resource_href_path(req, href, a->name, path, sizeof(path), NULL) != 0)
        return true;
    return strcmp(path, json_string_value(json_object_get(stored, "href")) ?: "") != 0;
}

int resource_refuse_immutable_changes(struct cimi_request *req, const struct cimi_type *t,
                                      const json_t *before, struct cimi_error *err)
{
    const struct cimi_attr *a;
    json_t *input;
    int rc = 0;

    if (req->body == NULL || req->body_len == 0 || req->in == NULL)
        return 0;
    input = req->in->decode(req->body, req->body_len, t, err);
    if (input == NULL)
        return -1;
    for (size_t i = 0; rc == 0 && (a = model_attr_at(t, i)) != NULL; i++) {
        const json_t *given = json_object_get(input, a->name);
        /* Read-only ones (id, created, state ...) are the provider's: ignored. */
        if (!(a->flags & A_IMMUTABLE) || (a->flags & A_READONLY) || given == NULL ||
            json_is_null(given))
            continue;
        if (immutable_changed(req, a, given, json_object_get(before, a->name)))
            rc = err_set(err, 400, a->name, "attribute '%s' of a %s cannot change after it is "
                         "created", a->name, t->name);
    }
    json_decref(input);
    return rc;
}

bool resource_building(const struct cimi_request *req, const char *path)
{
    return req->building != NULL && json_object_get(req->building, path) != NULL;
}
