/*
 * plain.c - the types with (almost) no behaviour of their own:
 * MachineConfiguration, MachineTemplate, CredentialTemplate and Credential.
 * Generic code stores what the consumer sends; these hooks only check
 * value ranges and references.
 */
#include <stdio.h>
#include <string.h>

#include "resources/resource.h"

/* Store the validated input as the new resource, synchronously. */
static int plain_create(struct cimi_request *req, json_t *input, struct store_row *row,
                        const struct cimi_type *t, struct cimi_error *err)
{
    row->doc = json_deep_copy(input);
    row->priv = json_object();
    return resource_new_row(req, t, row, err);
}

static int config_create(struct cimi_request *req, json_t *input, struct store_row *row,
                         struct job_spec *job, struct cimi_error *err)
{
    (void)job;
    return plain_create(req, input, row, &t_machine_configuration, err);
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
        check_reference(req, json_object_get(doc, "credential"), &t_credential, "credential", err) != 0)
        return -1;
    return 0;
}

static int template_create(struct cimi_request *req, json_t *input, struct store_row *row,
                           struct job_spec *job, struct cimi_error *err)
{
    (void)job;
    return plain_create(req, input, row, &t_machine_template, err);
}

const struct resource_ops machine_template_ops = {
    .create = template_create,
    .check = template_check,
};

static int credential_template_create(struct cimi_request *req, json_t *input,
                                      struct store_row *row, struct job_spec *job,
                                      struct cimi_error *err)
{
    (void)job;
    return plain_create(req, input, row, &t_credential_template, err);
}

const struct resource_ops credential_template_ops = {
    .create = credential_template_create,
};

/* CredentialCreate: the template by reference (with overrides) or by value. */
static int credential_create(struct cimi_request *req, json_t *input, struct store_row *row,
                             struct job_spec *job, struct cimi_error *err)
{
    json_t *tmpl = json_object_get(input, "credentialTemplate");
    const char *href = json_string_value(json_object_get(tmpl, "href"));
    static const char *const fields[] = {"userName", "password", "key"};
    json_t *values;
    const char *key;
    json_t *value;

    (void)job;
    if (href) {
        char path[256];
        struct store_row t;
        if (resource_href_path(req, href, "credentialTemplate", path, sizeof(path), err) != 0)
            return -1;
        if (resource_load(req, path, &t_credential_template, &t, err) != 0)
            return err_set(err, 400, "credentialTemplate",
                           "credentialTemplate href '%s' does not name a CredentialTemplate", href);
        values = json_deep_copy(t.doc);
        store_row_clear(&t);
    } else {
        values = json_object();
    }
    json_object_foreach(tmpl, key, value) {
        if (strcmp(key, "href") == 0)
            continue;
        if (json_is_null(value))
            json_object_del(values, key);
        else
            json_object_set(values, key, value);
    }
    row->doc = json_object();
    row->priv = json_object();
    for (size_t i = 0; i < 3; i++)
        if (json_object_get(values, fields[i]))
            json_object_set(row->doc, fields[i], json_object_get(values, fields[i]));
    json_decref(values);
    for (size_t i = 0; i < 3; i++) {
        static const char *const common[] = {"name", "description", "properties"};
        if (json_object_get(input, common[i]))
            json_object_set(row->doc, common[i], json_object_get(input, common[i]));
    }
    return resource_new_row(req, &t_credential, row, err);
}

const struct resource_ops credential_ops = {
    .create_input = &t_credential_create,
    .create = credential_create,
};
