/*
 * allow.c - the one decision whether a principal may do an operation
 * ("edit", "delete" or an action) on a resource now, or create in one of
 * its sub-collections.
 *
 * The operations a resource offers (cimi/render.c) and the check of a
 * request that does one (cimi/write.c, and the capture of a Machine through
 * a MachineImage create) both ask resource_op_check, so an operation is
 * offered exactly when its request would pass these checks: a client that
 * follows `operations` never meets a 403, 405 or 409 the list could have
 * known.
 */
#include <string.h>

#include "cimi/render.h"
#include "resources/resource.h"

static bool is_action(const char *op)
{
    return strcmp(op, "edit") != 0 && strcmp(op, "delete") != 0;
}

/* 409: the type's rules refuse op in the resource's state. */
static int refused_in_state(const struct cimi_type *t, const struct store_row *row,
                            const char *op, struct cimi_error *err)
{
    const char *state = json_string_value(json_object_get(row->doc, "state"));
    const char *attr = is_action(op) ? "action" : NULL;

    if (state == NULL)
        return err_set(err, 409, attr, "'%s' is not allowed on %s '%s' now", op, t->name, row->id);
    return err_set(err, 409, attr, "%s '%s' is %s; '%s' is not allowed now", t->name, row->id,
                   state, op);
}

int resource_op_check(struct cimi_request *req, const struct cimi_type *t,
                      const struct store_row *row, const char *op, struct cimi_error *err)
{
    const struct resource_ops *ro = resource_ops_of(t);

    if (!is_action(op) && ro->provider_only &&
        !(strcmp(op, "delete") == 0 && ro->consumer_deletes))
        return err_set(err, 405, NULL, "%s resources are managed by the provider", t->name);
    if (!render_writable(req, row))
        return err_set(err, 403, NULL, "%s '%s' cannot be changed by %s", t->name, row->id,
                       req->who.name);
    if (ro->allowed && !ro->allowed(row, op))
        return refused_in_state(t, row, op, err);
    if (ro->refuse && ro->refuse(req, row, op, err) != 0)
        return -1;
    return 0;
}

int resource_add_check(struct cimi_request *req, const struct cimi_type *t, const char *parent,
                       struct cimi_error *err)
{
    const char *parent_op = resource_ops_of(t)->parent_op;
    const struct cimi_type *pt;
    struct store_row row;
    int rc = 0;

    if (resource_load(req, parent, NULL, &row, err) != 0)
        return -1;
    pt = model_type_by_name(row.type);
    if (!render_writable(req, &row)) {
        rc = err_set(err, 403, NULL, "'%s' cannot be changed by %s", parent, req->who.name);
    } else if (parent_op != NULL && pt != NULL) {
        if (resource_ops_of(pt)->refresh)
            resource_ops_of(pt)->refresh(req, &row);
        rc = resource_op_check(req, pt, &row, parent_op, err);
    }
    store_row_clear(&row);
    return rc;
}
