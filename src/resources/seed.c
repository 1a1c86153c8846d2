/*
 * seed.c - what a new cloud ships with, so that a new user can create a
 * machine at once: the CloudEntryPoint's row, three MachineConfigurations,
 * one MachineImage and one MachineTemplate (the ids used by the worked
 * examples of the reference), and two VolumeConfigurations.  Shared by every
 * tenant; only admins change them.
 */
#include <dirent.h>
#include <stdbool.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
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
    {"volumeConfigs/small-volume", "VolumeConfiguration",
     "{\"name\": \"small-volume\", \"description\": \"1 GiB volume\", \"capacity\": 1048576}"},
    {"volumeConfigs/large-volume", "VolumeConfiguration",
     "{\"name\": \"large-volume\", \"description\": \"10 GiB volume\", \"capacity\": 10485760}"},
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

/* The image name of a file: its name without .qcow2/.img/.raw, or NULL. */
static bool image_name_of(const char *file, char *name, size_t len)
{
    static const char *const extensions[] = {".qcow2", ".img", ".raw", NULL};
    size_t n = strlen(file);

    for (size_t i = 0; extensions[i]; i++) {
        size_t e = strlen(extensions[i]);
        if (n > e && n - e < len && strcmp(file + n - e, extensions[i]) == 0) {
            memcpy(name, file, n - e);
            name[n - e] = '\0';
            /* The name becomes a path segment: keep it to [A-Za-z0-9._-]. */
            for (size_t k = 0; k < n - e; k++)
                if (!((name[k] >= 'a' && name[k] <= 'z') || (name[k] >= 'A' && name[k] <= 'Z') ||
                      (name[k] >= '0' && name[k] <= '9') || name[k] == '.' || name[k] == '_' ||
                      name[k] == '-'))
                    return false;
            return true;
        }
    }
    return false;
}

static int register_image(struct store *st, const char *dir, const char *file, const char *name,
                          struct cimi_error *err)
{
    struct store_row row;
    char now[32], location[PATH_MAX + 16];
    int rc;

    memset(&row, 0, sizeof(row));
    snprintf(row.id, sizeof(row.id), "machineImages/%s", name);
    if (st->ops->get(st, row.id, &row, NULL) == 0) {
        store_row_clear(&row);
        return 0;
    }
    snprintf(row.type, sizeof(row.type), "MachineImage");
    snprintf(location, sizeof(location), "file://%s/%s", dir, file);
    clock_now_iso(now, sizeof(now));
    row.doc = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "name", name, "description",
                        "image file found in the images directory", "created", now, "updated",
                        now, "state", "AVAILABLE", "type", "IMAGE", "imageLocation", location);
    row.priv = json_object();
    rc = st->ops->insert(st, &row, err);
    store_row_clear(&row);
    if (rc == 0)
        log_info("seed: registered image %s (%s)", name, location);
    return rc;
}

int resource_register_images(struct store *st, const char *dir, struct cimi_error *err)
{
    char absolute[PATH_MAX], name[128];
    struct dirent *e;
    DIR *d;
    int rc = 0;

    if (realpath(dir, absolute) == NULL || (d = opendir(absolute)) == NULL)
        return err_set(err, 500, NULL, "cannot read the images directory %s", dir);
    if (st->ops->begin(st, err) != 0) {
        closedir(d);
        return -1;
    }
    while (rc == 0 && (e = readdir(d)) != NULL) {
        if (image_name_of(e->d_name, name, sizeof(name)))
            rc = register_image(st, absolute, e->d_name, name, err);
    }
    closedir(d);
    if (rc != 0) {
        st->ops->rollback(st);
        return -1;
    }
    return st->ops->commit(st, err);
}
