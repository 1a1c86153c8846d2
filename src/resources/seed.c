/*
 * seed.c - what a new cloud ships with, so that a new user can create a
 * machine at once: the CloudEntryPoint's row, three MachineConfigurations,
 * one MachineImage and one MachineTemplate (the ids used by the worked
 * examples of the reference).  Shared by every tenant; only admins change them.
 */
#include <stdio.h>
#include <string.h>

#include "resources/resource.h"
#include "util/clock.h"
#include "util/log.h"

struct seed {
    const char *id;
    const char *type;
    const char *json;
};

static const struct seed seeds[] = {
    {"cloudEntryPoint", "CloudEntryPoint",
     "{\"name\": \"cimid\", \"description\": \"cimid CIMI 1.x cloud on libvirt\"}"},
    {"machineConfigs/m1-small", "MachineConfiguration",
     "{\"name\": \"m1-small\", \"description\": \"1 vCPU, 1 GiB memory, 10 GiB disk\","
     " \"cpu\": 1, \"memory\": 1048576, \"cpuArch\": \"x86_64\","
     " \"disks\": [{\"capacity\": 10485760, \"format\": \"ext4\", \"initialLocation\": \"/dev/vda\"}]}"},
    {"machineConfigs/m1-medium", "MachineConfiguration",
     "{\"name\": \"m1-medium\", \"description\": \"2 vCPUs, 4 GiB memory, 20 GiB disk\","
     " \"cpu\": 2, \"memory\": 4194304, \"cpuArch\": \"x86_64\","
     " \"disks\": [{\"capacity\": 20971520, \"format\": \"ext4\", \"initialLocation\": \"/dev/vda\"}]}"},
    {"machineConfigs/m1-large", "MachineConfiguration",
     "{\"name\": \"m1-large\", \"description\": \"4 vCPUs, 8 GiB memory, 40 GiB disk\","
     " \"cpu\": 4, \"memory\": 8388608, \"cpuArch\": \"x86_64\","
     " \"disks\": [{\"capacity\": 41943040, \"format\": \"ext4\", \"initialLocation\": \"/dev/vda\"}]}"},
    {"machineImages/debian12", "MachineImage",
     "{\"name\": \"debian12\", \"description\": \"Debian 12 (bookworm) base image\","
     " \"state\": \"AVAILABLE\", \"type\": \"IMAGE\","
     " \"imageLocation\": \"file:///var/lib/cimid/images/debian12.qcow2\"}"},
    {"machineTemplates/small-debian", "MachineTemplate",
     "{\"name\": \"small-debian\", \"description\": \"m1-small running Debian 12\","
     " \"initialState\": \"STARTED\","
     " \"machineConfig\": {\"href\": \"machineConfigs/m1-small\"},"
     " \"machineImage\": {\"href\": \"machineImages/debian12\"}}"},
    {NULL, NULL, NULL},
};

int resource_seed(struct store *st, struct cimi_error *err)
{
    char now[32];
    int created = 0;

    clock_now_iso(now, sizeof(now));
    if (st->ops->begin(st, err) != 0)
        return -1;
    for (size_t i = 0; seeds[i].id; i++) {
        struct store_row row;

        memset(&row, 0, sizeof(row));
        if (st->ops->get(st, seeds[i].id, &row, NULL) == 0) {
            store_row_clear(&row);
            continue;
        }
        snprintf(row.id, sizeof(row.id), "%s", seeds[i].id);
        snprintf(row.type, sizeof(row.type), "%s", seeds[i].type);
        row.doc = json_loads(seeds[i].json, 0, NULL);
        row.priv = json_object();
        if (row.doc == NULL) {
            st->ops->rollback(st);
            return err_set(err, 500, NULL, "seed %s is not valid JSON", seeds[i].id);
        }
        json_object_set_new(row.doc, "created", json_string(now));
        json_object_set_new(row.doc, "updated", json_string(now));
        if (st->ops->insert(st, &row, err) != 0) {
            store_row_clear(&row);
            st->ops->rollback(st);
            return -1;
        }
        store_row_clear(&row);
        created++;
    }
    if (st->ops->commit(st, err) != 0)
        return -1;
    if (created > 0)
        log_info("seed: created %d shipped resources", created);
    return 0;
}
