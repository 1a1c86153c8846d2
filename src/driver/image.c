/*
 * image.c - the image functions of the libvirt driver: image files cimid
 * keeps in the host's storage directory (downloads, see storage.c), and
 * libvirt snapshots behind SNAPSHOT MachineImages.
 *
 * A snapshot is named by its MachineImage's UUID.  Under QEMU libvirt makes
 * internal qcow2 snapshots (of every writable disk, and of the memory when
 * the machine runs: `savevm`); the test driver keeps them in memory.
 */
#include <stdio.h>
#include <stdlib.h>

#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>

#include "driver/local.h"

/* ---- image files ---- */

int lv_image_import(struct hv *hv, const char *image_uuid, hv_image_fill_fn fill, void *arg,
                    char *location, size_t location_len, struct cimi_error *err)
{
    if (!uuid_is_valid(image_uuid))
        return err_set(err, 500, NULL, "invalid image uuid '%s'", image_uuid ? image_uuid : "");
    if (hv->storage_dir[0] == '\0')
        return err_set(err, 409, "imageLocation",
                       "this hypervisor keeps no image files; start cimid with --storage-dir "
                       "to download images");
    return storage_import_image(hv->storage_dir, image_uuid, fill, arg, location, location_len,
                                err);
}

int lv_image_delete(struct hv *hv, const char *image_uuid, struct cimi_error *err)
{
    if (!uuid_is_valid(image_uuid) || hv->storage_dir[0] == '\0')
        return 0;
    return storage_remove_image(hv->storage_dir, image_uuid, err);
}

/* ---- snapshots ---- */

static bool snapshot_missing(void)
{
    virErrorPtr last = virGetLastError();

    return last != NULL && last->code == VIR_ERR_NO_DOMAIN_SNAPSHOT;
}

int lv_snapshot_create(struct hv *hv, const char *uuid, const char *snapshot,
                       struct cimi_error *err)
{
    virDomainPtr dom;
    virDomainSnapshotPtr snap;
    char xml[256];
    int ret = 0;

    if (!uuid_is_valid(snapshot))
        return err_set(err, 500, NULL, "invalid snapshot name '%s'", snapshot ? snapshot : "");
    dom = domain_lookup(hv, uuid, err);
    if (dom == NULL)
        return -1;
    snap = virDomainSnapshotLookupByName(dom, snapshot, 0);
    if (snap == NULL && !snapshot_missing()) {
        ret = libvirt_fail(err);
    } else if (snap == NULL) {
        snprintf(xml, sizeof(xml),
                 "<domainsnapshot><name>%s</name><description>cimid MachineImage</description>"
                 "</domainsnapshot>", snapshot);
        snap = virDomainSnapshotCreateXML(dom, xml, 0);
        if (snap == NULL)
            ret = libvirt_fail(err);
    }
    if (snap != NULL)
        virDomainSnapshotFree(snap);
    states_note(hv, dom);  /* a snapshot pauses a running guest; a revert sets its state */
    virDomainFree(dom);
    return ret;
}

int lv_snapshot_revert(struct hv *hv, const char *uuid, const char *snapshot,
                       struct cimi_error *err)
{
    virDomainPtr dom = domain_lookup(hv, uuid, err);
    virDomainSnapshotPtr snap;
    int ret = 0;

    if (dom == NULL)
        return -1;
    snap = virDomainSnapshotLookupByName(dom, snapshot, 0);
    if (snap == NULL) {
        ret = snapshot_missing()
                  ? err_set(err, 404, "image", "machine %s has no snapshot %s", uuid, snapshot)
                  : libvirt_fail(err);
    } else if (virDomainRevertToSnapshot(snap, 0) != 0) {
        /* libvirt asks for FORCE when the revert has to restart a running
         * guest; reverting is what the consumer asked for. */
        virErrorPtr last = virGetLastError();
        if (last == NULL || last->code != VIR_ERR_SNAPSHOT_REVERT_RISKY ||
            virDomainRevertToSnapshot(snap, VIR_DOMAIN_SNAPSHOT_REVERT_FORCE) != 0)
            ret = libvirt_fail(err);
    }
    if (snap != NULL)
        virDomainSnapshotFree(snap);
    states_note(hv, dom);  /* a snapshot pauses a running guest; a revert sets its state */
    virDomainFree(dom);
    return ret;
}

int lv_snapshot_delete(struct hv *hv, const char *uuid, const char *snapshot,
                       struct cimi_error *err)
{
    virDomainPtr dom;
    virDomainSnapshotPtr snap;
    int ret = 0;

    if (!uuid_is_valid(uuid))
        return 0;
    dom = virDomainLookupByUUIDString(hv->conn, uuid);
    if (dom == NULL) {
        virErrorPtr last = virGetLastError();
        return last != NULL && last->code == VIR_ERR_NO_DOMAIN ? 0 : libvirt_fail(err);
    }
    snap = virDomainSnapshotLookupByName(dom, snapshot, 0);
    if (snap == NULL)
        ret = snapshot_missing() ? 0 : libvirt_fail(err);
    else if (virDomainSnapshotDelete(snap, 0) != 0)
        ret = libvirt_fail(err);
    if (snap != NULL)
        virDomainSnapshotFree(snap);
    virDomainFree(dom);
    return ret;
}
