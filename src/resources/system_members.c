/*
 * system_members.c - a System's member sub-collections (systems/{uuid}/
 * machines, volumes, ...): their items (SystemMachine, ...) each name one
 * resource.  A POST associates an existing resource of the principal's; a
 * DELETE disassociates it (the resource stays).  Members the System created
 * ({"child": true}) are written by system_create.c.
 */
#include <string.h>

#include "resources/system.h"

/* In the order a System's members are built: what others use first. */
const struct system_member_kind system_member_kinds[] = {
    {"credentials", &t_system_credential, "credential", &t_credential, "credentialTemplate",
     &t_credential_template, &t_credential_create},
    {"networks", &t_system_network, "network", &t_network, "networkTemplate",
     &t_network_template, &t_network_create},
    {"volumes", &t_system_volume, "volume", &t_volume, "volumeTemplate", &t_volume_template,
     &t_volume_create},
    {"forwardingGroups", &t_system_forwarding_group, "forwardingGroup", &t_forwarding_group,
     "forwardingGroupTemplate", &t_forwarding_group_template, &t_forwarding_group_create},
    {"networkPorts", &t_system_network_port, "networkPort", &t_network_port,
     "networkPortTemplate", &t_network_port_template, &t_network_port_create},
    {"addresses", &t_system_address, "address", &t_address, "addressTemplate",
     &t_address_template, &t_address_create},
    {"machines", &t_system_machine, "machine", &t_machine, "machineTemplate",
     &t_machine_template, &t_machine_create},
    {"systems", &t_system_system, "system", &t_system, "systemTemplate", &t_system_template,
     &t_system_create},
};
const size_t system_member_kind_count =
    sizeof(system_member_kinds) / sizeof(system_member_kinds[0]);

const struct system_member_kind *system_member_kind_of(const struct cimi_type *t)
{
    for (size_t i = 0; i < system_member_kind_count; i++)
        if (system_member_kinds[i].member == t)
            return &system_member_kinds[i];
    return NULL;
}

const struct system_member_kind *system_member_kind_of_item(const struct cimi_type *item)
{
    for (size_t i = 0; i < system_member_kind_count; i++)
        if (system_member_kinds[i].item == item)
            return &system_member_kinds[i];
    return NULL;
}

/* The kind of the sub-collection a request names (systems/{id}/<collection>). */
static const struct system_member_kind *kind_of_path(const char *path)
{
    const char *slash = strrchr(path, '/');

    for (size_t i = 0; slash && i < system_member_kind_count; i++)
        if (strcmp(slash + 1, system_member_kinds[i].collection) == 0)
            return &system_member_kinds[i];
    return NULL;
}

struct duplicate_ctx {
    const char *ref, *path;
    bool found;
};

static int find_duplicate(void *arg, struct store_row *row)
{
    struct duplicate_ctx *c = arg;
    const char *href = resource_ref(row->doc, c->ref);

    c->found = c->found || (href != NULL && strcmp(href, c->path) == 0);
    return c->found;
}

/* Associate: the resource must be the principal's own (its System's tenant),
 * of the collection's type, not a member of it already. */
static int member_create(struct cimi_request *req, json_t *input, struct store_row *row,
                         struct job_spec *job, struct cimi_error *err)
{
    const struct system_member_kind *k = kind_of_path(req->path);
    const char *href;
    struct store_row system, member;
    struct duplicate_ctx dup = {NULL, NULL, false};
    char path[256];
    int rc = -1;

    (void)job;
    if (k == NULL)
        return err_set(err, 404, NULL, "no resource at '%.200s'", req->path);
    href = resource_ref(input, k->ref);
    if (href == NULL)
        return err_set(err, 400, k->ref, "%s must name a %s by href", k->ref, k->member->name);
    if (resource_href_path(req, href, k->ref, path, sizeof(path), err) != 0)
        return -1;
    if (resource_load(req, row->parent, &t_system, &system, err) != 0)
        return -1;
    memset(&member, 0, sizeof(member));
    if (resource_load(req, path, k->member, &member, err) != 0 ||
        strcmp(member.tenant, system.tenant) != 0)
        err_set(err, 400, k->ref, "%s href '%s' does not name a %s of yours", k->ref, href,
                k->member->name);
    else if (strcmp(path, system.id) == 0)
        err_set(err, 400, k->ref, "a System cannot be a member of itself");
    else if (dup.ref = k->ref, dup.path = path,
             req->st->ops->list(req->st, k->item->name, system.id, NULL, find_duplicate, &dup,
                                err) != 0)
        ;
    else if (dup.found)
        err_set(err, 409, k->ref, "%s '%s' is a member of System '%s' already",
                k->member->name, path, system.id);
    else if (resource_new_child(req->st, &system, k->collection, k->item, row, err) == 0)
        rc = 0;
    if (rc == 0) {
        resource_copy_common(input, row->doc);
        json_object_set_new(row->doc, k->ref, json_pack("{s:s}", "href", path));
        json_object_set_new(row->priv, "child", json_false());
    }
    store_row_clear(&member);
    store_row_clear(&system);
    return rc;
}

/* A member whose resource was deleted outside the System is not listed
 * (docs/SYSTEMS.md): the item's reference must still name a row. */
static bool member_listed(struct cimi_request *req, const json_t *item)
{
    for (size_t i = 0; i < system_member_kind_count; i++) {
        const char *ref = system_member_kinds[i].ref;
        const char *href = json_string_value(json_object_get(json_object_get(item, ref), "href"));
        char path[256];
        long long version;

        if (href != NULL && resource_href_path(req, href, ref, path, sizeof(path), NULL) == 0)
            return req->st->ops->version(req->st, path, &version, NULL) == 0;
    }
    return true;
}

const struct resource_ops system_member_ops = {
    /* A System being deleted (or built) takes no new members. */
    .parent_op = "edit",
    .create = member_create,
    .listed = member_listed,
};
