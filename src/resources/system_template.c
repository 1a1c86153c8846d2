/*
 * system_template.c - SystemTemplates: stored as sent, after their
 * componentDescriptors are checked.  Each descriptor makes `quantity`
 * members of one kind (its `type` URI) from exactly one template of that
 * kind, by reference (a visible template of the principal's) or by value.
 * Inside a template by value, an href "#name" names the member(s) made
 * from the sibling descriptor called name, at the places docs/SYSTEMS.md
 * lists (a machine's interface network, volume and credential; a port's,
 * address's network; a forwarding group's networks); anywhere else, to an
 * unknown name, to a component of another kind or of a quantity that does
 * not match, it is a 400.  A by-value template's own attributes are
 * checked when a System is created from it (by its type's create).
 */
#include <stdio.h>
#include <string.h>

#include "resources/system.h"

const struct system_member_kind *system_component_kind(const json_t *descriptor)
{
    const char *type = json_string_value(json_object_get(descriptor, "type"));
    char uri[160];

    for (size_t i = 0; type && i < system_member_kind_count; i++)
        if (strcmp(type, model_type_uri(system_member_kinds[i].member, "", uri, sizeof(uri))) == 0)
            return &system_member_kinds[i];
    return NULL;
}

long system_component_quantity(const json_t *descriptor)
{
    json_t *q = json_object_get(descriptor, "quantity");

    return json_is_integer(q) ? (long)json_integer_value(q) : 1;
}

void system_component_member_name(const json_t *descriptor, long i, char *out, size_t len)
{
    const char *name = json_string_value(json_object_get(descriptor, "name")) ?: "";

    if (name[0] && system_component_quantity(descriptor) > 1)
        snprintf(out, len, "%s-%ld", name, i + 1);
    else
        snprintf(out, len, "%s", name);
}

/* The sibling descriptor called name, or NULL. */
static const json_t *sibling(const json_t *descriptors, const char *name)
{
    const json_t *d;
    size_t i;

    json_array_foreach(descriptors, i, d) {
        const char *n = json_string_value(json_object_get(d, "name"));
        if (n && strcmp(n, name) == 0)
            return d;
    }
    return NULL;
}

/* How many "#..." hrefs value holds, at any depth. */
static size_t count_local_refs(const json_t *value)
{
    const char *key;
    json_t *v;
    size_t i, n = 0;

    if (json_is_array(value)) {
        json_array_foreach(value, i, v)
            n += count_local_refs(v);
    } else if (json_is_object(value)) {
        json_object_foreach((json_t *)value, key, v) {
            if (strcmp(key, "href") == 0 && json_is_string(v) && json_string_value(v)[0] == '#')
                n++;
            else
                n += count_local_refs(v);
        }
    }
    return n;
}

/* One place that may hold a "#name" href: ref (an object with href, or
 * NULL) in descriptor `from` names a sibling of type want.  *checked counts
 * the local references seen. */
static int check_local_ref(const json_t *descriptors, const json_t *from, const json_t *ref,
                           const struct cimi_type *want, const char *where, size_t *checked,
                           struct cimi_error *err)
{
    const char *href = json_string_value(json_object_get(ref, "href"));
    const json_t *target;
    const struct system_member_kind *k;
    long nq, fq = system_component_quantity(from);

    if (href == NULL || href[0] != '#')
        return 0;
    (*checked)++;
    target = sibling(descriptors, href + 1);
    if (target == NULL)
        return err_set(err, 400, "componentDescriptors",
                       "%s '%s' names no componentDescriptor of this SystemTemplate", where, href);
    k = system_component_kind(target);
    if (k == NULL || k->member != want)
        return err_set(err, 400, "componentDescriptors", "%s '%s' must name a %s component",
                       where, href, want->name);
    nq = system_component_quantity(target);
    /* A Volume is attached to one Machine at a time: one each. */
    if ((want == &t_volume && nq != fq) || (want != &t_volume && nq != 1 && nq != fq))
        return err_set(err, 400, "componentDescriptors",
                       "%s '%s': its quantity %ld must be %s%ld (the quantity of the component "
                       "that refers to it)", where, href, nq, want == &t_volume ? "" : "1 or ",
                       fq);
    return 0;
}

/* The "#name" references of a template by value d[attr] of kind k. */
static int check_local_refs(const json_t *descriptors, const json_t *d, size_t index,
                            const struct system_member_kind *k, struct cimi_error *err)
{
    const json_t *value = json_object_get(d, k->template_attr), *item;
    size_t checked = 0, i;
    char where[160];
    int rc = 0;

    if (k->member == &t_machine) {
        json_array_foreach(json_object_get(value, "networkInterfaces"), i, item) {
            snprintf(where, sizeof(where), "componentDescriptors[%zu].machineTemplate."
                     "networkInterfaces[%zu].network", index, i);
            rc = rc ?: check_local_ref(descriptors, d, json_object_get(item, "network"),
                                       &t_network, where, &checked, err);
        }
        json_array_foreach(json_object_get(value, "volumes"), i, item) {
            snprintf(where, sizeof(where), "componentDescriptors[%zu].machineTemplate.volumes[%zu]",
                     index, i);
            rc = rc ?: check_local_ref(descriptors, d, item, &t_volume, where, &checked, err);
        }
        snprintf(where, sizeof(where), "componentDescriptors[%zu].machineTemplate.credential",
                 index);
        rc = rc ?: check_local_ref(descriptors, d, json_object_get(value, "credential"),
                                   &t_credential, where, &checked, err);
    } else if (k->member == &t_network_port || k->member == &t_address) {
        snprintf(where, sizeof(where), "componentDescriptors[%zu].%s.network", index,
                 k->template_attr);
        rc = check_local_ref(descriptors, d, json_object_get(value, "network"), &t_network, where,
                             &checked, err);
    } else if (k->member == &t_forwarding_group) {
        json_array_foreach(json_object_get(value, "networks"), i, item) {
            snprintf(where, sizeof(where),
                     "componentDescriptors[%zu].forwardingGroupTemplate.networks[%zu]", index, i);
            rc = rc ?: check_local_ref(descriptors, d, item, &t_network, where, &checked, err);
        }
    }
    if (rc != 0)
        return -1;
    if (k->member != &t_system && count_local_refs(value) != checked)
        return err_set(err, 400, "componentDescriptors",
                       "componentDescriptors[%zu].%s: a \"#name\" href may only name a "
                       "Network, Volume or Credential component where docs/SYSTEMS.md lists",
                       index, k->template_attr);
    return 0;
}

/* Exactly one template, the one of the descriptor's kind. */
static int check_template_attr(const json_t *d, size_t index, const struct system_member_kind *k,
                               struct cimi_error *err)
{
    for (size_t i = 0; i < system_member_kind_count; i++) {
        const char *attr = system_member_kinds[i].template_attr;
        if (&system_member_kinds[i] != k && json_object_get(d, attr) != NULL)
            return err_set(err, 400, "componentDescriptors",
                           "componentDescriptors[%zu] of type %s cannot have a %s", index,
                           json_string_value(json_object_get(d, "type")), attr);
    }
    if (!json_is_object(json_object_get(d, k->template_attr)))
        return err_set(err, 400, "componentDescriptors",
                       "componentDescriptors[%zu] of type %s needs a %s (by reference or by value)",
                       index, json_string_value(json_object_get(d, "type")), k->template_attr);
    return 0;
}

/* A template by reference names a visible template of its type. */
static int check_template_ref(struct cimi_request *req, const json_t *d, size_t index,
                              const struct system_member_kind *k, struct cimi_error *err)
{
    const char *href = json_string_value(json_object_get(json_object_get(d, k->template_attr),
                                                         "href"));
    char path[256], attr[96];
    struct store_row row;

    if (href == NULL)
        return 0;
    snprintf(attr, sizeof(attr), "componentDescriptors[%zu].%s", index, k->template_attr);
    if (href[0] == '#' || resource_href_path(req, href, attr, path, sizeof(path), err) != 0 ||
        resource_load(req, path, k->template_type, &row, err) != 0)
        return err_set(err, 400, "componentDescriptors", "%s href '%s' does not name a %s", attr,
                       href, k->template_type->name);
    store_row_clear(&row);
    return 0;
}

static int check_descriptors(struct cimi_request *req, const json_t *doc, int depth,
                             struct cimi_error *err);

static int check_descriptor(struct cimi_request *req, const json_t *descriptors, size_t index,
                            int depth, struct cimi_error *err)
{
    const json_t *d = json_array_get(descriptors, index);
    const struct system_member_kind *k = system_component_kind(d);
    const char *name = json_string_value(json_object_get(d, "name"));
    const json_t *value;

    if (k == NULL)
        return err_set(err, 400, "componentDescriptors", "componentDescriptors[%zu].type '%s' is "
                       "not a component type cimid creates (%s/Machine, Volume, Network, ...)",
                       index, json_string_value(json_object_get(d, "type")) ?: "", CIMI_NS);
    if (name != NULL && (name[0] == '\0' || sibling(descriptors, name) != d))
        return err_set(err, 400, "componentDescriptors",
                       "componentDescriptors[%zu].name '%s' is %s", index, name,
                       name[0] ? "the name of an earlier componentDescriptor" : "empty");
    if (check_template_attr(d, index, k, err) != 0 || check_template_ref(req, d, index, k, err) != 0)
        return -1;
    value = json_object_get(d, k->template_attr);
    /* By reference, its overrides may still refer to siblings. */
    if (k->member == &t_system)
        return json_object_get(value, "href") ? 0 : check_descriptors(req, value, depth + 1, err);
    return check_local_refs(descriptors, d, index, k, err);
}

static int check_descriptors(struct cimi_request *req, const json_t *doc, int depth,
                             struct cimi_error *err)
{
    const json_t *descriptors = json_object_get(doc, "componentDescriptors");

    if (depth > SYSTEM_MAX_DEPTH)
        return err_set(err, 400, "componentDescriptors",
                       "SystemTemplates nest at most %d deep", SYSTEM_MAX_DEPTH);
    for (size_t i = 0; i < json_array_size(descriptors); i++)
        if (check_descriptor(req, descriptors, i, depth, err) != 0)
            return -1;
    return 0;
}

int system_template_check_components(struct cimi_request *req, const json_t *doc,
                                     struct cimi_error *err)
{
    return check_descriptors(req, doc, 1, err);
}

/* Like a stored MachineTemplate's: the schema's NetworkInterface requires
 * a state, so a machine's interface by value without one gets ACTIVE. */
static void complete_interfaces(json_t *doc)
{
    json_t *d, *nic;
    size_t i, j;

    json_array_foreach(json_object_get(doc, "componentDescriptors"), i, d) {
        json_t *machine = json_object_get(d, "machineTemplate");
        json_array_foreach(json_object_get(machine, "networkInterfaces"), j, nic)
            if (json_is_object(nic) && json_object_get(nic, "state") == NULL)
                json_object_set_new(nic, "state", json_string("ACTIVE"));
        if (json_is_object(json_object_get(d, "systemTemplate")))
            complete_interfaces(json_object_get(d, "systemTemplate"));
    }
}

static int template_check(struct cimi_request *req, json_t *doc, struct cimi_error *err)
{
    if (system_template_check_components(req, doc, err) != 0)
        return -1;
    complete_interfaces(doc);
    return 0;
}

static int template_create(struct cimi_request *req, json_t *input, struct store_row *row,
                           struct job_spec *job, struct cimi_error *err)
{
    (void)job;
    return resource_store_input(req, input, row, &t_system_template, err);
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
