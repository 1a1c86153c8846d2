/*
 * system_members.c - a System's member sub-collections (systems/{uuid}/
 * machines, volumes, ...): their items (SystemMachine, ...) each name one
 * resource.  A POST associates an existing resource of the principal's; a
 * DELETE disassociates it (the resource stays).  Members the System created
 * ({"child": true}) are written by system_create.c.
 */
#include <string.h>

#include "resources/system.h"

const struct system_member_kind system_member_kinds[] = {
    {"credentials", &t_system_credential, "credential", &t_credential},
    {"networks", &t_system_network, "network", &t_network},
    {"volumes", &t_system_volume, "volume", &t_volume},
    {"forwardingGroups", &t_system_forwarding_group, "forwardingGroup", &t_forwarding_group},
    {"networkPorts", &t_system_network_port, "networkPort", &t_network_port},
    {"addresses", &t_system_address, "address", &t_address},
    {"machines", &t_system_machine, "machine", &t_machine},
    {"systems", &t_system_system, "system", &t_system},
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

static int member_create(struct cimi_request *req, json_t *input, struct store_row *row,
                         struct job_spec *job, struct cimi_error *err)
{
    (void)req, (void)input, (void)row, (void)job;
    return err_set(err, 501, NULL, "not implemented yet");
}

const struct resource_ops system_member_ops = {
    .create = member_create,
};
