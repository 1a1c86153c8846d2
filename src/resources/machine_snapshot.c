/*
 * machine_snapshot.c - a Machine's snapshots collection (DSP0263 1.1
 * MachineSnapshot, machines/{id}/snapshots/{n}).
 *
 * A SNAPSHOT MachineImage is made by POSTing a MachineImage whose
 * imageLocation is the Machine (machine_image.c); when its image.snapshot
 * Job succeeds, the same transaction lists it here (DSP0263 5.14.7: "the
 * referenced Machine's MachineSnapshotCollection shall be updated").  The
 * collection has no add (the 1.0.2 schema gives MachineSnapshotCollection no
 * operations).  DELETE of an item deletes the snapshot itself (an image.delete
 * Job, as DELETE of the MachineImage), whose end removes the listing; a
 * snapshot deleted through machineImages leaves the collection the same way.
 * The listings are the Machine's children (its tenant's) and go with it;
 * the images outlive it (the collection has usage semantics).
 */
#include <stdio.h>
#include <string.h>

#include "resources/machine.h"
#include "resources/resource.h"

/* The listing of image among the machine's snapshots: 1 (its id into
 * out), 0, -1. */
struct find_ctx {
    const char *image;
    char *out;
    size_t len;
    bool found;
};

static int match_image(void *arg, struct store_row *row)
{
    struct find_ctx *c = arg;
    const char *href = resource_ref(row->doc, "snapshot");

    if (href == NULL || strcmp(href, c->image) != 0)
        return 0;
    if (c->out != NULL)
        snprintf(c->out, c->len, "%s", row->id);
    c->found = true;
    return 1;
}

int machine_snapshot_list(struct store *st, const struct store_row *machine,
                          const struct store_row *image, struct cimi_error *err)
{
    struct find_ctx ctx = {image->id, NULL, 0, false};
    struct store_row listing;
    int rc;

    if (st->ops->list(st, t_machine_snapshot.name, machine->id, NULL, match_image, &ctx, err) != 0)
        return -1;
    if (ctx.found)
        return 0;  /* listed by an earlier run of the Job */
    memset(&listing, 0, sizeof(listing));
    rc = resource_new_child(st, machine, "snapshots", &t_machine_snapshot, &listing, err);
    if (rc == 0) {
        json_object_set_new(listing.doc, "snapshot", json_pack("{s:s}", "href", image->id));
        if (json_object_get(image->doc, "name"))
            json_object_set(listing.doc, "name", json_object_get(image->doc, "name"));
        rc = st->ops->insert(st, &listing, err);
    }
    store_row_clear(&listing);
    return rc;
}

int machine_snapshot_unlist(struct store *st, const struct store_row *image,
                            struct cimi_error *err)
{
    const char *machine = json_string_value(json_object_get(image->priv, "machine"));
    char id[256];
    struct find_ctx ctx = {image->id, id, sizeof(id), false};

    if (machine == NULL)
        return 0;
    if (st->ops->list(st, t_machine_snapshot.name, machine, NULL, match_image, &ctx, err) != 0)
        return -1;
    return ctx.found ? st->ops->remove(st, id, err) : 0;
}

/* The image's state, for allowed: kept in the private "imageState". */
static void snapshot_refresh(struct cimi_request *req, struct store_row *row)
{
    const char *href = resource_ref(row->doc, "snapshot");
    struct store_row image;

    memset(&image, 0, sizeof(image));
    if (href != NULL && req->st->ops->get(req->st, href, &image, NULL) == 0 &&
        resource_ops_of(&t_machine_image)->allowed(&image, "delete"))
        json_object_set_new(row->priv, "imageState", json_string("deletable"));
    else
        json_object_set_new(row->priv, "imageState", json_string("busy"));
    store_row_clear(&image);
}

/* Only delete, and only when the image may be deleted now. */
static bool snapshot_allowed(const struct store_row *row, const char *op)
{
    const char *image = json_string_value(json_object_get(row->priv, "imageState"));

    return strcmp(op, "delete") == 0 && (image == NULL || strcmp(image, "deletable") == 0);
}

/* Deleting the item deletes the snapshot (image.delete, which unlists it). */
static int snapshot_remove(struct cimi_request *req, struct store_row *row, struct job_spec *job,
                           struct cimi_error *err)
{
    const struct resource_ops *images = resource_ops_of(&t_machine_image);
    const char *href = resource_ref(row->doc, "snapshot");
    struct store_row image;
    int rc;

    if (href == NULL || req->st->ops->get(req->st, href, &image, NULL) != 0)
        return req->st->ops->remove(req->st, row->id, err);  /* its image is gone */
    if (!images->allowed(&image, "delete"))
        rc = err_set(err, 409, NULL, "MachineImage '%s' is %s; it cannot be deleted now", href,
                     json_string_value(json_object_get(image.doc, "state")) ?: "busy");
    else
        rc = images->remove(req, &image, job, err);
    store_row_clear(&image);
    return rc;
}

const struct resource_ops machine_snapshot_ops = {
    .provider_creates = true,
    .refresh = snapshot_refresh,
    .allowed = snapshot_allowed,
    .remove = snapshot_remove,
};
