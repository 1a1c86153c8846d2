/*
 * registry.c - which behaviour goes with which type, and the job kinds of
 * every resource type for the worker pool.
 */
#include "resources/machine.h"
#include "resources/resource.h"

extern const struct job_kind image_capture_job;

const struct job_kind *const resource_job_kinds[] = {
    &machine_create_job, &machine_start_job, &machine_stop_job, &machine_restart_job,
    &machine_pause_job, &machine_suspend_job, &machine_delete_job, &image_capture_job, NULL,
};

struct binding {
    const struct cimi_type *type;
    const struct resource_ops *ops;
};

static const struct binding bindings[] = {
    {&t_cloud_entry_point, &cep_ops},
    {&t_resource_metadata, &resource_metadata_ops},
    {&t_machine, &machine_ops},
    {&t_disk, &disk_ops},
    {&t_machine_volume, &machine_volume_ops},
    {&t_machine_configuration, &machine_configuration_ops},
    {&t_machine_image, &machine_image_ops},
    {&t_machine_template, &machine_template_ops},
    {&t_credential, &credential_ops},
    {&t_credential_template, &credential_template_ops},
    {&t_job, &job_ops},
    {NULL, NULL},
};

/* Types without behaviour: consumers may not create them through a collection. */
static const struct resource_ops no_ops = {.provider_only = true};

const struct resource_ops *resource_ops_of(const struct cimi_type *t)
{
    for (size_t i = 0; bindings[i].type; i++)
        if (bindings[i].type == t)
            return bindings[i].ops;
    return &no_ops;
}
