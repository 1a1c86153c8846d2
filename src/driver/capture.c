/*
 * capture.c - a machine's first disk copied into a standalone image (the
 * driver's capture), in whatever state the Machine offers capture in
 * (stopped, running or paused; resources/machine.c).
 *
 * The test driver has no disk to copy, so a capture there "produces" the
 * pseudo location cimid-image:<image uuid>; nothing exists behind it.
 *
 * On QEMU a stopped machine's disk is copied as it is.  A running guest is
 * paused for the copy (QEMU drains and flushes its disks when it pauses, so
 * the copy is the disk of one instant) and resumed afterwards, also when
 * the copy fails; qemu-img reads with -U since the paused QEMU keeps its
 * lock on the file.  A paused guest is copied the same way and stays
 * paused.  Before pausing, a marker file images/<image uuid>.pausing is
 * written and removed after the resume: when cimid dies in between, the
 * Job's re-run finds the guest paused with the marker there and resumes it
 * after copying, so a capture never leaves a running guest paused.
 */
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

#include <libvirt/libvirt.h>

#include "driver/local.h"

static void marker_path(const struct hv *hv, const char *image_uuid, char *out, size_t len)
{
    snprintf(out, len, "%s/images/%s.pausing", hv->storage_dir, image_uuid);
}

static int write_marker(const char *path, struct cimi_error *err)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);

    if (fd < 0)
        return err_set(err, 500, NULL, "cannot write %s", path);
    close(fd);
    return 0;
}

/* The guest's libvirt state: 0 shut off (or saved), 1 running, 2 paused. */
static int guest_activity(virDomainPtr dom, struct cimi_error *err)
{
    int raw, reason;

    if (virDomainGetState(dom, &raw, &reason, 0) < 0)
        return libvirt_fail(err);
    if (raw == VIR_DOMAIN_PAUSED)
        return 2;
    return raw == VIR_DOMAIN_SHUTOFF || raw == VIR_DOMAIN_NOSTATE ? 0 : 1;
}

/* Copy the disk of a running (activity 1) or paused (2) guest. */
static int copy_live(struct hv *hv, virDomainPtr dom, const char *uuid, int activity,
                     const char *image_uuid, char *location, size_t len, struct cimi_error *err)
{
    char marker[1100];
    bool resume;
    int rc;

    marker_path(hv, image_uuid, marker, sizeof(marker));
    if (activity == 1) {
        if (write_marker(marker, err) != 0)
            return -1;
        rc = virDomainSuspend(dom) < 0 ? libvirt_fail(err) : 0;
        states_note(hv, dom);
        if (rc != 0) {
            unlink(marker);
            return -1;
        }
    }
    resume = access(marker, F_OK) == 0;  /* paused by this capture (or its crashed run) */
    rc = storage_capture(hv->storage_dir, uuid, image_uuid, true, location, len, err);
    if (resume) {
        struct cimi_error ignored;

        if (virDomainResume(dom) < 0 && rc == 0)
            rc = libvirt_fail(err);
        else if (rc != 0)
            libvirt_fail(&ignored);
        states_note(hv, dom);
        unlink(marker);
    }
    return rc;
}

/* The test driver's pseudo location of the image. */
static int test_location(const char *image_uuid, char *location, size_t len,
                         struct cimi_error *err)
{
    int n = snprintf(location, len, "%s%s", TEST_IMAGE_PREFIX, image_uuid);

    if (n < 0 || (size_t)n >= len)
        return err_set(err, 500, NULL, "image location buffer too small");
    return 0;
}

int lv_capture(struct hv *hv, const char *uuid, const char *image_uuid, char *location,
               size_t location_len, struct cimi_error *err)
{
    virDomainPtr dom;
    int activity, rc;

    if (!uuid_is_valid(image_uuid))
        return err_set(err, 500, NULL, "invalid image uuid '%s'", image_uuid ? image_uuid : "");
    dom = domain_lookup(hv, uuid, err);
    if (dom == NULL)
        return -1;
    activity = hv->is_test ? 0 : guest_activity(dom, err);
    if (activity < 0)
        rc = -1;
    else if (hv->is_test)
        rc = test_location(image_uuid, location, location_len, err);
    else if (activity == 0)
        rc = storage_capture(hv->storage_dir, uuid, image_uuid, false, location, location_len,
                             err);
    else
        rc = copy_live(hv, dom, uuid, activity, image_uuid, location, location_len, err);
    virDomainFree(dom);
    return rc;
}
