/*
 * disk.c - a machine's own disks added and removed after its creation
 * (the driver's disk_add and disk_remove; volumes are volume.c's).
 *
 * On QEMU disk `slot` is the file STORAGE/disks/<uuid>-disk<slot>.qcow2
 * (storage.c), attached as the virtio device vd('a'+slot) like a volume
 * (volume.c's disk_file_attach/detach: persistent definition, and live
 * while the machine runs).  The test driver keeps no storage and cannot
 * attach devices: there the machine's existence is checked and cimid's
 * record of the machine is the change (a re-definition uses it).
 */
#include <stdio.h>

#include <libvirt/libvirt.h>

#include "driver/local.h"

static int check_slot(int slot, struct cimi_error *err)
{
    if (slot < 1 || slot >= HV_MAX_DISKS)
        return err_set(err, 400, NULL, "disk slot %d is not one of 1 ... %d", slot,
                       HV_MAX_DISKS - 1);
    return 0;
}

int lv_disk_add(struct hv *hv, const char *machine_uuid, int slot, long long capacity_kb,
                struct cimi_error *err)
{
    char path[1100], target[8];
    virDomainPtr dom;
    int ret = 0;

    if (check_slot(slot, err) != 0)
        return -1;
    if (capacity_kb <= 0)
        return err_set(err, 400, "capacity", "capacity must be positive");
    dom = domain_lookup(hv, machine_uuid, err);
    if (dom == NULL)
        return -1;
    if (!hv->is_test) {
        storage_disk_path(hv->storage_dir, machine_uuid, (size_t)slot, path, sizeof(path));
        snprintf(target, sizeof(target), "vd%c", 'a' + slot);
        ret = storage_create_disk(hv->storage_dir, machine_uuid, slot, capacity_kb, err);
        if (ret == 0)
            ret = disk_file_attach(dom, machine_uuid, path, target, err);
    }
    virDomainFree(dom);
    return ret;
}

int lv_disk_remove(struct hv *hv, const char *machine_uuid, int slot, struct cimi_error *err)
{
    char path[1100];
    virDomainPtr dom;
    int ret = 0;

    if (check_slot(slot, err) != 0)
        return -1;
    dom = domain_lookup(hv, machine_uuid, err);
    if (dom == NULL)
        return -1;
    if (!hv->is_test) {
        storage_disk_path(hv->storage_dir, machine_uuid, (size_t)slot, path, sizeof(path));
        ret = disk_file_detach(dom, path, err);
        if (ret == 0)
            ret = storage_remove_disk(hv->storage_dir, machine_uuid, slot, err);
    }
    virDomainFree(dom);
    return ret;
}
