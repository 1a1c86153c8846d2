/*
 * resource.h - type-specific behaviour behind one interface (placeholder, being written).
 */
#ifndef CIMID_RESOURCE_H
#define CIMID_RESOURCE_H
struct resource_ops { int unused; };
extern const struct resource_ops cep_ops, resource_metadata_ops, machine_ops, disk_ops,
    machine_volume_ops, machine_configuration_ops, machine_image_ops, credential_ops,
    credential_template_ops, machine_template_ops, job_ops;
#endif
