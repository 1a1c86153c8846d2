/*
 * system.c - the System type (DSP0263 clause 5.10): created from a
 * SystemCreate (system_create.c builds it), deleted with its child members
 * (associated ones are only disassociated), its actions in system_ops.c
 * and the import collection action in system_import.c.
 */
#include <string.h>

#include "resources/system.h"

static int system_create(struct cimi_request *req, json_t *input, struct store_row *row,
                         struct job_spec *job, struct cimi_error *err)
{
    return system_build(req, input, row, job, err);
}

static void system_abort_create(struct cimi_request *req, struct store_row *row)
{
    system_abort_members(req, row->id);
}

static int system_remove(struct cimi_request *req, struct store_row *row, struct job_spec *job,
                         struct cimi_error *err)
{
    return system_delete_prepare(req, row, job, err);
}

static const char *state_of(const struct store_row *row)
{
    return json_string_value(json_object_get(row->doc, "state")) ?: "";
}

/* edit (name, description, properties; new members) and delete unless a
 * create or a delete is under way; the actions as system_ops.c says. */
static bool system_allowed(const struct store_row *row, const char *op)
{
    const char *state = state_of(row);
    bool busy = strcmp(state, "CREATING") == 0 || strcmp(state, "DELETING") == 0;

    if (strcmp(op, "edit") == 0)
        return !busy;
    if (strcmp(op, "delete") == 0)
        return !busy;
    return !busy && system_action_allowed(row, op);
}

static const struct resource_action system_collection_actions[] = {
    {"import", system_import_run},
    {NULL, NULL},
};

const struct resource_ops system_ops = {
    .create_input = &t_system_create,
    .create = system_create,
    .abort_create = system_abort_create,
    .remove = system_remove,
    .refresh = system_refresh,
    .allowed = system_allowed,
    .actions = system_actions,
    .collection_actions = system_collection_actions,
};
