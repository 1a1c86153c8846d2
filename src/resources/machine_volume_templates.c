/*
 * machine_volume_templates.c - MachineTemplate volumeTemplates: new Volumes
 * made with a new Machine and attached to it (DSP0263 MachineTemplate).
 *
 * The create request resolves each volumeTemplate (a VolumeTemplate by
 * reference with overrides, or by value) and writes, in its transaction,
 * the new Volume (CREATING; its id is fixed there, so a Job re-run after a
 * crash finds it) and its attachment at the entry's initialLocation.  The
 * machine's create Job makes the Volumes' storage before it defines the
 * domain (volume_create is idempotent) and records each Volume AVAILABLE;
 * the attachments are then plugged in like the template's `volumes`.
 *
 * A create that fails removes the Volumes it made (storage, then the rows
 * in the transaction that records the failure); one stopped before it ran
 * removes their rows.  Whether a Volume goes with its Machine follows the
 * cimid extension `deleteWithMachine` of its entry (default false: like
 * every Volume a Machine uses, DSP0263 5.14.1: it outlives the Machine);
 * the choice stays with the attachment, so a Volume detached from the
 * machine is never deleted with it.
 */
#include <stdio.h>
#include <string.h>

#include "hosts/hosts.h"
#include "resources/machine.h"
#include "resources/resource.h"
#include "resources/volume.h"
#include "util/log.h"

/* ---- the request ---- */

/* The VolumeTemplate of an entry: by href (the other VolumeTemplate
 * members override) or by value; the entry's own members (initialLocation,
 * deleteWithMachine) are not the template's. */
static json_t *entry_template(struct cimi_request *req, const json_t *entry, const char *attr,
                              struct cimi_error *err)
{
    json_t *ref = json_deep_copy(entry), *tmpl;
    char path[256];

    if (ref == NULL) {
        err_set(err, 500, NULL, "out of memory");
        return NULL;
    }
    json_object_del(ref, "initialLocation");
    json_object_del(ref, "deleteWithMachine");
    tmpl = resource_resolve(req, ref, &t_volume_template, attr, path, sizeof(path), err);
    json_decref(ref);
    return tmpl;
}

/* The new Volume of entry i, named after the machine and its device. */
static int create_one(struct cimi_request *req, const struct store_row *machine,
                      const json_t *entry, size_t i, struct cimi_error *err)
{
    const char *name = json_string_value(json_object_get(machine->doc, "name"));
    char attr[96], location[16];
    struct store_row volume;
    json_t *tmpl;
    int rc = -1;

    snprintf(attr, sizeof(attr), "machineTemplate.volumeTemplates[%zu]", i);
    memset(&volume, 0, sizeof(volume));
    tmpl = entry_template(req, entry, attr, err);
    if (tmpl == NULL || volume_prepare(req, tmpl, attr, &volume, err) != 0)
        goto out;
    snprintf(volume.tenant, sizeof(volume.tenant), "%s", machine->tenant);
    json_object_set_new(volume.priv, "createdWith", json_string(machine->id));
    if (machine_volume_attach_new(req->st, machine, volume.id,
                                  json_string_value(json_object_get(entry, "initialLocation")),
                                  json_is_true(json_object_get(entry, "deleteWithMachine")),
                                  location, sizeof(location), err) != 0)
        goto out;
    json_object_set_new(volume.doc, "name", json_sprintf("%s-%s", name ? name :
                                                         resource_uuid(machine->id),
                                                         location + 5));
    json_object_set_new(volume.doc, "description",
                        json_sprintf("made with Machine %s", resource_uuid(machine->id)));
    rc = req->st->ops->insert(req->st, &volume, err);
out:
    json_decref(tmpl);
    store_row_clear(&volume);
    return rc;
}

int machine_volume_templates_create(struct cimi_request *req, const struct store_row *machine,
                                    const json_t *tmpl, struct cimi_error *err)
{
    json_t *entries = json_object_get(tmpl, "volumeTemplates"), *entry;
    const char *host = machine_host_of(machine);
    size_t i;

    if (json_array_size(entries) > 0 && host[0] && strcmp(host, hosts_default()) != 0)
        return err_set(err, 409, "machineTemplate.volumeTemplates",
                       "the machine is placed on %s; volumes live on %s and can be attached "
                       "only to its machines", host, hosts_default());
    json_array_foreach(entries, i, entry) {
        if (create_one(req, machine, entry, i, err) != 0)
            return -1;
    }
    return 0;
}

/* ---- the machine's Jobs ---- */

/* The attachments of the machine that the filter keeps: their volumes
 * (and, in attachments, their own ids). */
struct owned_ctx {
    enum machine_volumes which;
    json_t *volumes;
    json_t *attachments;
};

static int collect_owned(void *arg, struct store_row *row)
{
    struct owned_ctx *c = arg;
    const char *volume = resource_ref(row->doc, "volume");
    bool made = json_string_value(json_object_get(row->priv, "createdWith")) != NULL;
    bool goes = json_is_true(json_object_get(row->priv, "deleteWithMachine"));

    if (volume != NULL && made && (c->which == VOLUMES_MADE_WITH_IT || goes)) {
        json_array_append_new(c->volumes, json_string(volume));
        json_array_append_new(c->attachments, json_string(row->id));
    }
    return 0;
}

/* The volumes of the machine's attachments that were made with it (or only
 * those that go with it): a new array, NULL on error. */
static json_t *owned_volumes(struct store *st, const char *machine, enum machine_volumes which,
                             json_t **attachments, struct cimi_error *err)
{
    struct owned_ctx ctx = {which, json_array(), json_array()};

    if (st->ops->list(st, "MachineVolume", machine, NULL, collect_owned, &ctx, err) != 0) {
        json_decref(ctx.volumes);
        json_decref(ctx.attachments);
        return NULL;
    }
    if (attachments != NULL)
        *attachments = ctx.attachments;
    else
        json_decref(ctx.attachments);
    return ctx.volumes;
}

/* Record the Volume at path AVAILABLE with its capacity, in a transaction. */
static int record_made(struct store *st, const char *path, long long capacity_kb,
                       struct cimi_error *err)
{
    struct store_row row;
    int rc;

    memset(&row, 0, sizeof(row));
    if (st->ops->begin(st, err) != 0)
        return -1;
    rc = st->ops->get(st, path, &row, err);
    if (rc == 0) {
        json_object_set_new(row.doc, "state", json_string("AVAILABLE"));
        json_object_set_new(row.doc, "capacity", json_integer(capacity_kb));
        resource_touch(row.doc);
        rc = st->ops->update(st, &row, err);
    }
    store_row_clear(&row);
    if (rc != 0 || st->ops->commit(st, err) != 0) {
        st->ops->rollback(st);
        return -1;
    }
    return 0;
}

/* The storage of one Volume made with the machine, unless an earlier run
 * recorded it AVAILABLE already. */
static int make_one(struct store *st, struct host_use *h, const char *path,
                    struct cimi_error *err)
{
    struct store_row row;
    long long capacity_kb;
    int rc;

    memset(&row, 0, sizeof(row));
    if (st->ops->get(st, path, &row, NULL) != 0)
        return err_set(err, 409, NULL, "Volume '%s' made with the machine is gone", path);
    capacity_kb = json_integer_value(json_object_get(row.doc, "capacity"));
    rc = strcmp(json_string_value(json_object_get(row.doc, "state")) ?: "", "CREATING") != 0
             ? 0
             : h->drv->volume_create(h->hv, resource_uuid(path), &capacity_kb,
                                     json_string_value(json_object_get(row.priv, "image")) ?: "",
                                     err);
    if (rc == 0 && strcmp(json_string_value(json_object_get(row.doc, "state")) ?: "",
                          "CREATING") == 0)
        rc = record_made(st, path, capacity_kb, err);
    store_row_clear(&row);
    return rc;
}

int machine_volumes_make(struct store *st, const struct store_row *machine,
                         struct cimi_error *err)
{
    json_t *volumes = owned_volumes(st, machine->id, VOLUMES_MADE_WITH_IT, NULL, err), *v;
    struct host_use h;
    size_t i;
    int rc;

    if (volumes == NULL)
        return -1;
    if (json_array_size(volumes) == 0) {
        json_decref(volumes);
        return 0;
    }
    rc = hosts_use_first(&h, err);  /* volumes live on the default host */
    json_array_foreach(volumes, i, v) {
        if (rc == 0)
            rc = make_one(st, &h, json_string_value(v), err);
    }
    hosts_done(&h);
    json_decref(volumes);
    return rc;
}

void machine_volumes_drop_storage(struct store *st, const char *machine,
                                  enum machine_volumes which)
{
    struct cimi_error err;
    json_t *volumes = owned_volumes(st, machine, which, NULL, &err), *v;
    struct host_use h;
    size_t i;

    if (volumes == NULL || json_array_size(volumes) == 0 || hosts_use_first(&h, &err) != 0) {
        json_decref(volumes);
        return;
    }
    json_array_foreach(volumes, i, v) {
        err_clear(&err);
        if (h.drv->volume_delete(h.hv, resource_uuid(json_string_value(v)), &err) != 0)
            log_warn("volume: %s: %s", json_string_value(v), err.message);
    }
    hosts_done(&h);
    json_decref(volumes);
}

int machine_volumes_forget(struct store *st, const char *machine, enum machine_volumes which,
                           struct cimi_error *err)
{
    json_t *attachments = NULL, *volumes, *v;
    struct store_row row;
    size_t i;
    int rc;

    volumes = owned_volumes(st, machine, which, &attachments, err);
    rc = volumes != NULL ? 0 : -1;
    json_array_foreach(volumes, i, v) {
        const char *ids[] = {json_string_value(v), json_string_value(json_array_get(attachments, i))};
        for (size_t k = 0; k < 2 && rc == 0; k++) {
            memset(&row, 0, sizeof(row));
            if (st->ops->get(st, ids[k], &row, NULL) == 0)
                rc = st->ops->remove(st, row.id, err);
            store_row_clear(&row);
        }
    }
    json_decref(volumes);
    json_decref(attachments);
    return rc;
}
