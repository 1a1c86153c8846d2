/*
 * plain.c - the types with (almost) no behaviour of their own:
 * MachineConfiguration, MachineTemplate, CredentialTemplate, Credential,
 * VolumeConfiguration and VolumeTemplate.
 * Generic code stores what the consumer sends; these hooks only check
 * value ranges and references.
 */
#include <stdio.h>
#include <string.h>

#include "resources/network.h"
#include "resources/resource.h"

static int config_create(struct cimi_request *req, json_t *input, struct store_row *row,
                         struct job_spec *job, struct cimi_error *err)
{
    (void)job;
    return resource_store_input(req, input, row, &t_machine_configuration, err);
}

static int config_check(struct cimi_request *req, json_t *doc, struct cimi_error *err)
{
    json_t *cpu = json_object_get(doc, "cpu"), *memory = json_object_get(doc, "memory"), *d;
    size_t i;

    (void)req;
    if (!json_is_integer(cpu) || json_integer_value(cpu) < 1 || json_integer_value(cpu) > 256)
        return err_set(err, 400, "cpu", "cpu must be an integer from 1 to 256");
    if (!json_is_integer(memory) || json_integer_value(memory) < 1024)
        return err_set(err, 400, "memory", "memory must be an integer of at least 1024 (KiB)");
    if (resource_check_disk_locations(json_object_get(doc, "disks"), "disks", err) != 0)
        return -1;
    json_array_foreach(json_object_get(doc, "disks"), i, d) {
        json_t *capacity = json_object_get(d, "capacity");
        if (!json_is_integer(capacity) || json_integer_value(capacity) < 1)
            return err_set(err, 400, "disks", "disks[%zu].capacity must be a positive integer (KB)", i);
        if (json_object_get(d, "format") == NULL)
            return err_set(err, 400, "disks", "missing required attribute 'disks[%zu].format'", i);
    }
    return 0;
}

const struct resource_ops machine_configuration_ops = {
    .create = config_create,
    .check = config_check,
};

/* A reference inside a template must name a visible resource of its type. */
static int check_reference(struct cimi_request *req, const json_t *ref, const struct cimi_type *t,
                           const char *attr, struct cimi_error *err)
{
    const char *href = json_string_value(json_object_get(ref, "href"));
    char path[256];
    struct store_row row;

    if (href == NULL)
        return 0;
    if (resource_href_path(req, href, attr, path, sizeof(path), err) != 0)
        return -1;
    if (resource_load(req, path, t, &row, err) != 0)
        return err_set(err, 400, attr, "%s href '%s' does not name a %s", attr, href, t->name);
    store_row_clear(&row);
    return 0;
}

static int template_check(struct cimi_request *req, json_t *doc, struct cimi_error *err)
{
    const char *state = json_string_value(json_object_get(doc, "initialState"));

    if (state && strcmp(state, "STARTED") != 0 && strcmp(state, "STOPPED") != 0)
        return err_set(err, 400, "initialState",
                       "initialState '%s' is not one of the InitialStates STARTED,STOPPED", state);
    if (check_reference(req, json_object_get(doc, "machineConfig"), &t_machine_configuration,
                        "machineConfig", err) != 0 ||
        check_reference(req, json_object_get(doc, "machineImage"), &t_machine_image, "machineImage",
                        err) != 0 ||
        check_reference(req, json_object_get(doc, "credential"), &t_credential, "credential", err) != 0 ||
        machine_template_check_interfaces(req, doc, err) != 0)
        return -1;
    return 0;
}

static int template_create(struct cimi_request *req, json_t *input, struct store_row *row,
                           struct job_spec *job, struct cimi_error *err)
{
    (void)job;
    return resource_store_input(req, input, row, &t_machine_template, err);
}

const struct resource_ops machine_template_ops = {
    .create = template_create,
    .check = template_check,
};

static int volume_config_create(struct cimi_request *req, json_t *input, struct store_row *row,
                                struct job_spec *job, struct cimi_error *err)
{
    (void)job;
    return resource_store_input(req, input, row, &t_volume_configuration, err);
}

static int volume_config_check(struct cimi_request *req, json_t *doc, struct cimi_error *err)
{
    (void)req;
    return resource_check_capacity(json_object_get(doc, "capacity"), "capacity", err);
}

const struct resource_ops volume_configuration_ops = {
    .create = volume_config_create,
    .check = volume_config_check,
};

static int volume_template_create(struct cimi_request *req, json_t *input, struct store_row *row,
                                  struct job_spec *job, struct cimi_error *err)
{
    (void)job;
    return resource_store_input(req, input, row, &t_volume_template, err);
}

/* volumeConfig by reference (maybe overriding the capacity) or by value. */
static int volume_template_check(struct cimi_request *req, json_t *doc, struct cimi_error *err)
{
    json_t *config = json_object_get(doc, "volumeConfig");

    if (config == NULL)
        return err_set(err, 400, "volumeConfig", "missing required attribute 'volumeConfig'");
    if (check_reference(req, config, &t_volume_configuration, "volumeConfig", err) != 0 ||
        check_reference(req, json_object_get(doc, "volumeImage"), &t_volume_image, "volumeImage",
                        err) != 0)
        return -1;
    if (json_object_get(config, "href") == NULL || json_object_get(config, "capacity") != NULL)
        return resource_check_capacity(json_object_get(config, "capacity"),
                                       "volumeConfig.capacity", err);
    return 0;
}

const struct resource_ops volume_template_ops = {
    .create = volume_template_create,
    .check = volume_template_check,
};

static int credential_template_create(struct cimi_request *req, json_t *input,
                                      struct store_row *row, struct job_spec *job,
                                      struct cimi_error *err)
{
    (void)job;
    return resource_store_input(req, input, row, &t_credential_template, err);
}

const struct resource_ops credential_template_ops = {
    .create = credential_template_create,
};

/* CredentialCreate: the template by reference (with overrides) or by value. */
static int credential_create(struct cimi_request *req, json_t *input, struct store_row *row,
                             struct job_spec *job, struct cimi_error *err)
{
    static const char *const fields[] = {"userName", "password", "key"};
    char path[256];
    json_t *values;

    (void)job;
    values = resource_resolve(req, json_object_get(input, "credentialTemplate"),
                              &t_credential_template, "credentialTemplate", path, sizeof(path), err);
    if (values == NULL)
        return -1;
    row->doc = json_object();
    row->priv = json_object();
    for (size_t i = 0; i < 3; i++)
        if (json_object_get(values, fields[i]))
            json_object_set(row->doc, fields[i], json_object_get(values, fields[i]));
    json_decref(values);
    resource_copy_common(input, row->doc);
    return resource_new_row(req, &t_credential, row, err);
}

const struct resource_ops credential_ops = {
    .create_input = &t_credential_create,
    .create = credential_create,
};
