/*
 * volume.c - volumes: storage a machine attaches as an extra disk.
 *
 * On QEMU a volume is the qcow2 file STORAGE/volumes/<uuid>.qcow2 (storage.c
 * creates, grows, copies and removes it with qemu-img).  Attaching adds it
 * to the domain as a virtio disk (vdb, vdc, ... as the caller chooses):
 * always to the persistent definition, so it survives a stop and a restart
 * of cimid, and to the running guest too when the domain is active
 * (hot-plug).  Both steps look at the domain's XML first, so attach and
 * detach are idempotent.  A live detach is a request to the guest (ACPI
 * eject); detach waits until the disk is gone from the live definition.
 * A volume attached to a running guest is grown with virDomainBlockResize
 * (the guest sees the new size at once), otherwise with qemu-img.
 *
 * libvirt's test driver implements neither device attach nor block resize
 * and keeps no storage: there these functions only check their arguments
 * and that the machine exists, the attachment is recorded by cimid alone,
 * and a snapshot produces the pseudo location "cimid-image:<image uuid>"
 * (as capture does).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <libvirt/libvirt.h>
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <libxml/xmlstring.h>

#include "driver/local.h"

/* How long a live detach waits for the guest to release the disk. */
#define DETACH_TIMEOUT_MS 30000
#define DETACH_POLL_MS 200

/* How a domain definition uses a volume's file. */
struct disk_use {
    char target[16];       /* the file's target dev ("vdb"), "" if not attached */
    bool target_taken;     /* another file uses the wanted target */
};

static int check_uuid(const char *uuid, const char *what, struct cimi_error *err)
{
    if (!uuid_is_valid(uuid))
        return err_set(err, 500, NULL, "invalid %s uuid '%s'", what, uuid ? uuid : "");
    return 0;
}

/* "vda" ... "vdz". */
static bool target_is_valid(const char *target)
{
    return target != NULL && strlen(target) == 3 && strncmp(target, "vd", 2) == 0 &&
           target[2] >= 'a' && target[2] <= 'z';
}

/* The file and target dev of one <disk> element. */
static void disk_of(xmlNodePtr disk, xmlChar **file, xmlChar **dev)
{
    *file = *dev = NULL;
    for (xmlNodePtr c = disk->children; c != NULL; c = c->next) {
        if (c->type != XML_ELEMENT_NODE)
            continue;
        if (*file == NULL && xmlStrEqual(c->name, BAD_CAST "source"))
            *file = xmlGetProp(c, BAD_CAST "file");
        else if (*dev == NULL && xmlStrEqual(c->name, BAD_CAST "target"))
            *dev = xmlGetProp(c, BAD_CAST "dev");
    }
}

/* Look at the disks of a domain XML document for path (and who uses want). */
static void scan_disks(xmlDocPtr doc, const char *path, const char *want, struct disk_use *use)
{
    for (xmlNodePtr n = xmlDocGetRootElement(doc)->children; n != NULL; n = n->next) {
        if (n->type != XML_ELEMENT_NODE || !xmlStrEqual(n->name, BAD_CAST "devices"))
            continue;
        for (xmlNodePtr d = n->children; d != NULL; d = d->next) {
            xmlChar *file, *dev;
            bool ours;
            if (d->type != XML_ELEMENT_NODE || !xmlStrEqual(d->name, BAD_CAST "disk"))
                continue;
            disk_of(d, &file, &dev);
            ours = file != NULL && xmlStrEqual(file, BAD_CAST path);
            if (ours && dev != NULL)
                snprintf(use->target, sizeof(use->target), "%s", (const char *)dev);
            if (!ours && want != NULL && dev != NULL && xmlStrEqual(dev, BAD_CAST want))
                use->target_taken = true;
            xmlFree(file);
            xmlFree(dev);
        }
    }
}

/* How the live (flags 0) or persistent (VIR_DOMAIN_XML_INACTIVE) definition
 * of dom uses path; want is the target to check, or NULL. */
static int disk_use_of(virDomainPtr dom, unsigned int flags, const char *path, const char *want,
                       struct disk_use *use, struct cimi_error *err)
{
    char *xml = virDomainGetXMLDesc(dom, flags);
    xmlDocPtr doc;

    memset(use, 0, sizeof(*use));
    if (xml == NULL)
        return libvirt_fail(err);
    doc = xmlReadMemory(xml, (int)strlen(xml), NULL, NULL, XML_PARSE_NONET | XML_PARSE_NOERROR);
    free(xml);
    if (doc == NULL || xmlDocGetRootElement(doc) == NULL) {
        xmlFreeDoc(doc);
        return err_set(err, 500, NULL, "cannot read the domain XML");
    }
    scan_disks(doc, path, want, use);
    xmlFreeDoc(doc);
    return 0;
}

/* 1 active, 0 not, -1 error. */
static int is_active(virDomainPtr dom, struct cimi_error *err)
{
    int active = virDomainIsActive(dom);

    return active < 0 ? libvirt_fail(err) : active;
}

/* The file of a volume, which must exist. */
static int volume_file(const struct hv *hv, const char *uuid, char *path, size_t len,
                       struct cimi_error *err)
{
    storage_volume_path(hv->storage_dir, uuid, path, len);
    if (access(path, R_OK) != 0)
        return err_set(err, 404, NULL, "volume %s has no storage (%s): %s", uuid, path,
                       strerror(errno));
    return 0;
}

/* ---- create, delete, resize, snapshot ---- */

int lv_volume_create(struct hv *hv, const char *uuid, long long *capacity_kb,
                     const char *image_location, struct cimi_error *err)
{
    if (check_uuid(uuid, "volume", err) != 0)
        return -1;
    if (*capacity_kb <= 0)
        return err_set(err, 400, "capacity", "a volume's capacity must be positive");
    if (hv->is_test)
        return 0;
    if (guest_reaches_image(hv, image_location, err) != 0)
        return -1;
    return storage_create_volume(hv->storage_dir, uuid, capacity_kb,
                                 image_location ? image_location : "", err);
}

int lv_volume_delete(struct hv *hv, const char *uuid, struct cimi_error *err)
{
    if (check_uuid(uuid, "volume", err) != 0)
        return -1;
    if (hv->is_test)
        return 0;
    return storage_remove_volume(hv->storage_dir, uuid, err);
}

/* The machine a volume is attached to, looked up (NULL machine_uuid: *dom NULL). */
static int attached_domain(struct hv *hv, const char *machine_uuid, virDomainPtr *dom,
                           struct cimi_error *err)
{
    *dom = NULL;
    if (machine_uuid == NULL)
        return 0;
    *dom = domain_lookup(hv, machine_uuid, err);
    return *dom != NULL ? 0 : -1;
}

/* Grow the file of a running guest's disk through QEMU (flags 0: size in KiB). */
static int block_resize(virDomainPtr dom, const char *path, long long capacity_kb,
                        struct cimi_error *err)
{
    if (virDomainBlockResize(dom, path, (unsigned long long)capacity_kb, 0) < 0)
        return libvirt_fail(err);
    return 0;
}

int lv_volume_resize(struct hv *hv, const char *uuid, long long capacity_kb,
                     const char *machine_uuid, struct cimi_error *err)
{
    virDomainPtr dom;
    char path[1100];
    int active = 0, ret = -1;

    if (check_uuid(uuid, "volume", err) != 0)
        return -1;
    if (capacity_kb <= 0)
        return err_set(err, 400, "capacity", "a volume's capacity must be positive");
    if (attached_domain(hv, machine_uuid, &dom, err) != 0)
        return -1;
    if (hv->is_test)
        ret = 0;
    else if (volume_file(hv, uuid, path, sizeof(path), err) == 0 &&
             (dom == NULL || (active = is_active(dom, err)) >= 0))
        ret = active ? block_resize(dom, path, capacity_kb, err)
                     : storage_resize_volume(hv->storage_dir, uuid, capacity_kb, err);
    if (dom != NULL)
        virDomainFree(dom);
    return ret;
}

int lv_volume_snapshot(struct hv *hv, const char *uuid, const char *machine_uuid,
                       const char *image_uuid, char *location, size_t location_len,
                       struct cimi_error *err)
{
    virDomainPtr dom;
    int active = 0, n;

    if (check_uuid(uuid, "volume", err) != 0 || check_uuid(image_uuid, "image", err) != 0 ||
        attached_domain(hv, machine_uuid, &dom, err) != 0)
        return -1;
    if (dom != NULL && !hv->is_test)
        active = is_active(dom, err);
    if (dom != NULL)
        virDomainFree(dom);
    if (active < 0)
        return -1;
    if (active)
        return err_set(err, 409, NULL,
                       "volume %s is in use by the running machine %s; stop the machine or "
                       "detach the volume to copy it", uuid, machine_uuid);
    if (!hv->is_test)
        return storage_snapshot_volume(hv->storage_dir, uuid, image_uuid, location, location_len,
                                       err);
    n = snprintf(location, location_len, "%s%s", TEST_IMAGE_PREFIX, image_uuid);
    if (n < 0 || (size_t)n >= location_len)
        return err_set(err, 500, NULL, "image location buffer too small");
    return 0;
}

/* ---- attach and detach ---- */

/* Add (or remove) the disk path as target with flags (VIR_DOMAIN_AFFECT_*). */
static int change_device(virDomainPtr dom, const char *path, const char *target,
                         unsigned int flags, bool attach, struct cimi_error *err)
{
    char *xml = disk_xml(path, target);
    int rc;

    if (xml == NULL)
        return err_set(err, 500, NULL, "out of memory building the disk XML");
    rc = attach ? virDomainAttachDeviceFlags(dom, xml, flags)
                : virDomainDetachDeviceFlags(dom, xml, flags);
    free(xml);
    return rc < 0 ? libvirt_fail(err) : 0;
}

int disk_file_attach(virDomainPtr dom, const char *machine_uuid, const char *path,
                     const char *target, struct cimi_error *err)
{
    struct disk_use config, live = {"", false};
    unsigned int flags = 0;
    int active;

    if ((active = is_active(dom, err)) < 0 ||
        disk_use_of(dom, VIR_DOMAIN_XML_INACTIVE, path, target, &config, err) != 0 ||
        (active && disk_use_of(dom, 0, path, target, &live, err) != 0))
        return -1;
    if ((config.target[0] == '\0' && config.target_taken) ||
        (active && live.target[0] == '\0' && live.target_taken))
        return err_set(err, 409, "initialLocation", "device %s of machine %s is in use", target,
                       machine_uuid);
    if (config.target[0] == '\0')
        flags |= VIR_DOMAIN_AFFECT_CONFIG;
    if (active && live.target[0] == '\0')
        flags |= VIR_DOMAIN_AFFECT_LIVE;
    return flags != 0 ? change_device(dom, path, target, flags, true, err) : 0;
}

int lv_volume_attach(struct hv *hv, const char *machine_uuid, const char *uuid,
                     const char *target, struct cimi_error *err)
{
    char path[1100];
    virDomainPtr dom;
    int ret = 0;

    if (check_uuid(uuid, "volume", err) != 0)
        return -1;
    if (!target_is_valid(target))
        return err_set(err, 400, "initialLocation", "invalid device '%s' (vdb ... vdz)",
                       target ? target : "");
    dom = domain_lookup(hv, machine_uuid, err);
    if (dom == NULL)
        return -1;
    /* The mock attaches no device: cimid's record is the attachment. */
    if (!hv->is_test)
        ret = volume_file(hv, uuid, path, sizeof(path), err) != 0
                  ? -1
                  : disk_file_attach(dom, machine_uuid, path, target, err);
    virDomainFree(dom);
    return ret;
}

/* Wait until the running guest released path (a live detach is asynchronous). */
static int wait_released(virDomainPtr dom, const char *path, struct cimi_error *err)
{
    struct timespec pause = {0, DETACH_POLL_MS * 1000000L};
    struct disk_use live = {"", false};

    for (int waited = 0; waited <= DETACH_TIMEOUT_MS; waited += DETACH_POLL_MS) {
        int active = is_active(dom, err);
        if (active <= 0)
            return active;  /* stopped meanwhile: nothing is live any more */
        if (disk_use_of(dom, 0, path, NULL, &live, err) != 0)
            return -1;
        if (live.target[0] == '\0')
            return 0;
        nanosleep(&pause, NULL);
    }
    return err_set(err, 500, NULL, "the guest did not release %s within %d s", live.target,
                   DETACH_TIMEOUT_MS / 1000);
}

int lv_volume_detach(struct hv *hv, const char *machine_uuid, const char *uuid,
                     struct cimi_error *err)
{
    char path[1100];
    virDomainPtr dom;
    int ret = -1;

    if (check_uuid(uuid, "volume", err) != 0)
        return -1;
    dom = domain_lookup(hv, machine_uuid, err);
    if (dom == NULL)
        return -1;
    if (hv->is_test) {
        ret = 0;
        goto out;
    }
    storage_volume_path(hv->storage_dir, uuid, path, sizeof(path));
    ret = disk_file_detach(dom, path, err);
out:
    virDomainFree(dom);
    return ret;
}

int disk_file_detach(virDomainPtr dom, const char *path, struct cimi_error *err)
{
    struct disk_use config, live = {"", false};
    int active, ret = 0;

    if ((active = is_active(dom, err)) < 0 ||
        disk_use_of(dom, VIR_DOMAIN_XML_INACTIVE, path, NULL, &config, err) != 0 ||
        (active && disk_use_of(dom, 0, path, NULL, &live, err) != 0))
        return -1;
    if (live.target[0] != '\0')
        ret = change_device(dom, path, live.target, VIR_DOMAIN_AFFECT_LIVE, false, err);
    if (ret == 0 && live.target[0] != '\0')
        ret = wait_released(dom, path, err);
    if (ret == 0 && config.target[0] != '\0')
        ret = change_device(dom, path, config.target, VIR_DOMAIN_AFFECT_CONFIG, false, err);
    return ret;
}
