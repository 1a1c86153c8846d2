/*
 * common.c - small helpers shared by the resource types.
 */
#include <stdio.h>
#include <string.h>

#include "cimi/render.h"
#include "resources/resource.h"
#include "util/clock.h"

#define CIMI_PATH "/cimi/"

int resource_href_path(struct cimi_request *req, const char *href, const char *attr, char *out,
                       size_t len, struct cimi_error *err)
{
    const char *rest = href;
    const char *scheme = strstr(href, "://");

    (void)req;
    if (scheme != NULL) {
        /* Absolute: any host (clients may reach us through other names) but our path. */
        const char *path = strchr(scheme + 3, '/');
        if (path == NULL || strncmp(path, CIMI_PATH, strlen(CIMI_PATH)) != 0)
            return err_set(err, 400, attr, "%s href '%.200s' is not a resource of this provider",
                           attr, href);
        rest = path + strlen(CIMI_PATH);
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

void resource_touch(json_t *doc)
{
    char now[32];

    clock_now_iso(now, sizeof(now));
    json_object_set_new(doc, "updated", json_string(now));
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
    if (req->who.admin && (t == &t_machine_configuration || t == &t_machine_template ||
                           t == &t_machine_image || t == &t_credential_template))
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

/* The uuid part of "machines/<uuid>". */
const char *resource_uuid(const char *id)
{
    const char *slash = strrchr(id, '/');

    return slash ? slash + 1 : id;
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

