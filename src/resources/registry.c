/*
 * registry.c - which behaviour goes with which type, and the job kinds of
 * every resource type for the worker pool.
 */
#include "resources/machine.h"
#include "resources/network.h"
#include "resources/package.h"
#include "resources/resource.h"
#include "resources/system.h"
#include "resources/system_export.h"
#include "resources/system_import.h"
#include "resources/system_ops.h"
#include "resources/volume.h"

const struct job_kind *const resource_job_kinds[] = {
    &machine_create_job, &machine_start_job, &machine_stop_job, &machine_restart_job,
    &machine_pause_job, &machine_suspend_job, &machine_delete_job, &image_capture_job,
    &machine_attach_job, &machine_detach_job, &volume_create_job, &volume_delete_job,
    &volume_resize_job, &volume_snapshot_job, &image_download_job, &image_snapshot_job,
    &image_delete_job, &machine_restore_job, &machine_disk_add_job, &machine_disk_remove_job,
    /* networks */
    &network_create_job, &network_start_job, &network_stop_job, &network_delete_job,
    &machine_nic_attach_job, &machine_nic_detach_job,
    /* system operations (system_ops.h) */
    &system_fanout_job, &system_member_job, &system_capture_job,
    /* systems */
    &system_create_job, &system_delete_job, &system_import_job,
    &package_delete_job, &system_export_job, NULL,
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
    {&t_volume, &volume_ops},
    {&t_volume_template, &volume_template_ops},
    {&t_volume_configuration, &volume_configuration_ops},
    {&t_volume_image, &volume_image_ops},
    {&t_volume_volume_image, &volume_volume_image_ops},
    {&t_job, &job_ops},
    {&t_host, &host_ops},
    /* networks */
    {&t_network, &network_ops},
    {&t_network_template, &network_template_ops},
    {&t_network_configuration, &network_configuration_ops},
    {&t_network_port, &network_port_ops},
    {&t_network_port_template, &network_port_template_ops},
    {&t_network_port_configuration, &network_port_configuration_ops},
    {&t_address, &address_ops},
    {&t_address_template, &address_template_ops},
    {&t_forwarding_group, &forwarding_group_ops},
    {&t_forwarding_group_template, &forwarding_group_template_ops},
    {&t_forwarding_group_network, &forwarding_group_network_ops},
    {&t_machine_network_interface, &machine_network_interface_ops},
    {&t_machine_network_interface_address, &machine_network_interface_address_ops},
    {&t_network_network_port, &network_network_port_ops},
    {&t_machine_snapshot, &machine_snapshot_ops},
    /* systems */
    {&t_system, &system_ops},
    {&t_system_template, &system_template_ops},
    {&t_system_system, &system_member_ops},
    {&t_system_machine, &system_member_ops},
    {&t_system_credential, &system_member_ops},
    {&t_system_volume, &system_member_ops},
    {&t_system_network, &system_member_ops},
    {&t_system_network_port, &system_member_ops},
    {&t_system_address, &system_member_ops},
    {&t_system_forwarding_group, &system_member_ops},
    {&t_package, &package_ops},
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
