/*
 * machine_volume.c - attaching Volumes to Machines (DSP0263 MachineVolume).
 *
 * POST {initialLocation, volume: {href}} to a Machine's volumes collection
 * attaches the Volume: the request checks it and records the attachment
 * machines/{id}/volumes/{n} (201 + Location), and the machine.attach Job
 * asks the hypervisor (hot-plug while the machine runs, its persistent
 * definition always).  DELETE of the item detaches it (machine.detach; 200
 * when done).  A Volume is attached to one machine at a time, only to a
 * machine of a tenant that may change it, and only while the machine is
 * STARTED, STOPPED or PAUSED.
 *
 * The guest sees the volume as a virtio disk: an initialLocation /dev/vdX
 * is honoured (409 when the machine uses it); without one the first device
 * free after the machine's own disks is taken, and initialLocation then
 * says which.  A name of another bus (/dev/sdf, /dev/hdb) or no device at
 * all is refused (400), never silently changed.  While a
 * Job works on an attachment its private "pending" says which one (the
 * attachment cannot be deleted meanwhile) and its Volume is busy.
 * An attachment's name, description and properties can be edited (PUT);
 * its volume and initialLocation cannot (400 when a PUT gives them another
 * value: the device a guest first saw is not moved).
 */
#include <stdio.h>
#include <string.h>

#include "cimi/render.h"
#include "driver/driver.h"
#include "resources/resource.h"
#include "hosts/hosts.h"
#include "resources/machine.h"
#include "resources/volume.h"
#include "util/log.h"

/* Said when the machine's state refuses (machine_load_for). */
#define VOLUME_CHANGES "volumes are attached to and detached from"

#define MAX_DEVICES MACHINE_MAX_DEVICES

/* The Volume to attach: by href, visible and changeable, AVAILABLE, idle
 * and attached nowhere.  Its path into path. */
static int check_volume(struct cimi_request *req, const json_t *ref, char *path, size_t len,
                        struct cimi_error *err)
{
    const char *href = json_string_value(json_object_get(ref, "href"));
    struct store_row volume;
    char machine[256];
    const char *state;
    int attached, rc = -1;

    if (href == NULL)
        return err_set(err, 400, "volume", "volume must name a Volume by href");
    if (resource_href_path(req, href, "volume", path, len, err) != 0)
        return -1;
    if (resource_load(req, path, &t_volume, &volume, err) != 0)
        return err_set(err, 400, "volume", "volume href '%s' does not name a Volume", href);
    state = json_string_value(json_object_get(volume.doc, "state")) ?: "";
    if (!render_writable(req, &volume))
        err_set(err, 403, "volume", "Volume '%s' cannot be changed by %s", path, req->who.name);
    else if ((strcmp(state, "AVAILABLE") != 0 &&
              !(strcmp(state, "CREATING") == 0 && resource_building(req, path))) ||
             volume_is_busy(&volume))
        err_set(err, 409, "volume", "Volume '%s' is %s; it can be attached when it is AVAILABLE "
                "and no other Job works on it", path, volume_is_busy(&volume) ? "busy" : state);
    else if ((attached = volume_attachment(req->st, path, NULL, 0, machine, sizeof(machine),
                                           err)) == 0)
        rc = 0;
    else if (attached > 0)
        err_set(err, 409, "volume", "Volume '%s' is already attached to Machine '%s'", path,
                machine);
    store_row_clear(&volume);
    return rc;
}

/* ---- devices ---- */

static int mark_used(void *arg, struct store_row *row)
{
    bool *used = arg;
    const char *target = json_string_value(json_object_get(row->priv, "target"));

    if (target != NULL && strlen(target) == 3 && target[2] >= 'a' && target[2] <= 'z')
        used[target[2] - 'a'] = true;
    return 0;
}

int machine_used_devices(struct store *st, const struct store_row *machine, bool *used,
                         struct cimi_error *err)
{
    json_t *disks = json_object_get(json_object_get(machine->priv, "spec"), "disks"), *d;
    size_t i;

    memset(used, 0, MAX_DEVICES * sizeof(*used));
    used[0] = true;  /* the boot disk, also when the configuration names no disk */
    json_array_foreach(disks, i, d) {
        json_t *slot = json_object_get(d, "slot");  /* disks added later name theirs */
        json_int_t n = json_is_integer(slot) ? json_integer_value(slot) : (json_int_t)i;
        if (n >= 0 && n < MAX_DEVICES)
            used[n] = true;
    }
    return st->ops->list(st, "MachineVolume", machine->id, NULL, mark_used, used, err);
}

/* The device for a new attachment ("vdb") from initialLocation (may be NULL). */
static int choose_device(struct store *st, const struct store_row *machine, const char *location,
                         char *target, size_t len, struct cimi_error *err)
{
    bool used[MAX_DEVICES];
    int letter = location != NULL ? resource_disk_letter(location) : -1;

    if (machine_used_devices(st, machine, used, err) != 0)
        return -1;
    if (letter > 0) {
        if (used[letter - 'a'])
            return err_set(err, 409, "initialLocation", "Machine '%s' already uses /dev/vd%c",
                           machine->id, letter);
        snprintf(target, len, "vd%c", letter);
        return 0;
    }
    if (location != NULL && location[0] != '\0')
        return err_set(err, 400, "initialLocation", "initialLocation '%.100s' is not a device "
                       "cimid attaches: volumes are virtio disks /dev/vdb ... /dev/vdz", location);
    for (int i = 0; i < MAX_DEVICES; i++) {
        if (!used[i]) {
            snprintf(target, len, "vd%c", 'a' + i);
            return 0;
        }
    }
    return err_set(err, 409, NULL, "Machine '%s' has no free disk device left", machine->id);
}

/* ---- attach (create) and detach (delete) ---- */

static int attach_create(struct cimi_request *req, json_t *input, struct store_row *row,
                         struct job_spec *job, struct cimi_error *err)
{
    struct store_row machine;
    char volume[256], target[8], location[16];
    int rc = -1;

    if (row->parent[0] == '\0')
        return err_set(err, 405, NULL, "a MachineVolume is created in a Machine's volumes");
    if (machine_load_for(req, row->parent, "attach", VOLUME_CHANGES, &machine, err) != 0)
        return -1;
    /* Volumes live on the default host: a machine elsewhere cannot reach them. */
    if (machine_host_of(&machine)[0] && strcmp(machine_host_of(&machine), hosts_default()) != 0) {
        err_set(err, 409, "volume", "Machine '%s' runs on %s; volumes live on %s and can be "
                "attached only to its machines", machine.id, machine_host_of(&machine),
                hosts_default());
        store_row_clear(&machine);
        return -1;
    }
    if (check_volume(req, json_object_get(input, "volume"), volume, sizeof(volume), err) != 0 ||
        choose_device(req->st, &machine,
                      json_string_value(json_object_get(input, "initialLocation")), target,
                      sizeof(target), err) != 0 ||
        resource_new_child(req->st, &machine, "volumes", &t_machine_volume, row, err) != 0 ||
        volume_set_busy(req->st, volume, "attach", err) != 0)
        goto out;
    resource_copy_common(input, row->doc);
    snprintf(location, sizeof(location), "/dev/%s", target);
    json_object_set_new(row->doc, "initialLocation", json_string(location));
    json_object_set_new(row->doc, "volume", json_pack("{s:s}", "href", volume));
    json_object_set_new(row->priv, "target", json_string(target));
    json_object_set_new(row->priv, "pending", json_string("attach"));
    snprintf(job->op, sizeof(job->op), "machine.attach");
    job->params = json_pack("{s:s, s:s, s:s, s:s}", "attachment", row->id, "machine", machine.id,
                            "volume", volume, "target", target);
    rc = 0;
out:
    store_row_clear(&machine);
    return rc;
}

/* A detach needs a machine that allows it and an idle Volume (offered and
 * checked: resources/allow.c). */
static int detach_refuse(struct cimi_request *req, const struct store_row *row, const char *op,
                         struct cimi_error *err)
{
    const char *volume = resource_ref(row->doc, "volume");
    struct store_row machine, vol;
    bool busy;

    if (strcmp(op, "delete") != 0)
        return 0;
    if (machine_load_for(req, row->parent, "detach", VOLUME_CHANGES, &machine, err) != 0)
        return -1;
    store_row_clear(&machine);
    memset(&vol, 0, sizeof(vol));
    if (volume == NULL || req->st->ops->get(req->st, volume, &vol, err) != 0)
        return err_set(err, 500, NULL, "attachment '%s' names no Volume", row->id);
    busy = volume_is_busy(&vol);
    store_row_clear(&vol);
    if (busy)
        return err_set(err, 409, NULL, "Volume '%s' is busy; detach it when its Job is done",
                       volume);
    return 0;
}

static int detach_remove(struct cimi_request *req, struct store_row *row, struct job_spec *job,
                         struct cimi_error *err)
{
    const char *volume = resource_ref(row->doc, "volume");

    json_object_set_new(row->priv, "pending", json_string("detach"));
    if (req->st->ops->update(req->st, row, err) != 0 ||
        volume_set_busy(req->st, volume, "detach", err) != 0)
        return -1;
    snprintf(job->op, sizeof(job->op), "machine.detach");
    job->params = json_pack("{s:s, s:s, s:s}", "attachment", row->id, "machine", row->parent,
                            "volume", volume);
    return 0;
}

/* Edit unless a detach is under way; delete (detach) unless an attach or a
 * detach is. */
static bool attachment_allowed(const struct store_row *row, const char *op)
{
    const char *pending = json_string_value(json_object_get(row->priv, "pending")) ?: "";

    if (strcmp(op, "edit") == 0)
        return strcmp(pending, "detach") != 0;
    return strcmp(op, "delete") == 0 && pending[0] == '\0';
}

/* PUT: the common attributes change; volume and initialLocation do not. */
static int attachment_update(struct cimi_request *req, const json_t *before, struct store_row *row,
                             struct job_spec *job, struct cimi_error *err)
{
    (void)row;
    (void)job;
    return resource_refuse_immutable_changes(req, &t_machine_volume, before, err);
}

const struct resource_ops machine_volume_ops = {
    .parent_op = "attach",
    .delete_first = true,
    .create = attach_create,
    .update = attachment_update,
    .remove = detach_remove,
    .allowed = attachment_allowed,
    .refuse = detach_refuse,
};

/* ---- the jobs ---- */

/* End an attach or detach in one transaction: the attachment stays (with
 * nothing pending) or goes, the Volume is idle again, the Job's outcome. */
static int finish(struct job_context *ctx, bool keep, bool success, const char *message,
                  struct cimi_error *err)
{
    struct store *st = ctx->st;
    struct store_row row;
    int rc = 0;

    memset(&row, 0, sizeof(row));
    if (st->ops->begin(st, err) != 0)
        return -1;
    if (st->ops->get(st, job_param(ctx, "attachment"), &row, NULL) == 0) {
        json_object_del(row.priv, "pending");
        rc = keep ? st->ops->update(st, &row, err) : st->ops->remove(st, row.id, err);
    }
    store_row_clear(&row);
    if (rc != 0 || volume_set_busy(st, job_param(ctx, "volume"), "", err) != 0 ||
        job_finish(st, ctx->job_id, success, message, err) != 0 || st->ops->commit(st, err) != 0) {
        st->ops->rollback(st);
        return -1;
    }
    return 0;
}

static int run_attach(struct job_context *ctx, struct cimi_error *err)
{
    struct cimi_error cause;
    struct host_use h = {0};
    char message[64];
    int rc;

    err_clear(&cause);
    job_progress(ctx->st, ctx->job_id, 40, "attaching the volume");
    rc = hosts_use_first(&h, &cause);
    if (rc == 0)
        rc = h.drv->volume_attach(h.hv, resource_uuid(job_param(ctx, "machine")),
                                  resource_uuid(job_param(ctx, "volume")), job_param(ctx, "target"),
                                  &cause);
    hosts_done(&h);
    if (rc != 0)
        return finish(ctx, false, false, cause.message, err);
    snprintf(message, sizeof(message), "attached as /dev/%s", job_param(ctx, "target"));
    return finish(ctx, true, true, message, err);
}

static int run_detach(struct job_context *ctx, struct cimi_error *err)
{
    struct cimi_error cause;
    struct host_use h = {0};
    int rc;

    err_clear(&cause);
    job_progress(ctx->st, ctx->job_id, 40, "detaching the volume");
    rc = hosts_use_first(&h, &cause);
    if (rc == 0)
        rc = h.drv->volume_detach(h.hv, resource_uuid(job_param(ctx, "machine")),
                                  resource_uuid(job_param(ctx, "volume")), &cause);
    hosts_done(&h);
    /* A machine the hypervisor no longer has holds no volume either (404). */
    if (rc != 0 && cause.status != 404)
        return finish(ctx, true, false, cause.message, err);
    return finish(ctx, false, true, "detached", err);
}

/* Stopped before they ran: as if never asked. */
static void cancel(struct job_context *ctx, bool keep)
{
    struct store_row row;

    memset(&row, 0, sizeof(row));
    if (ctx->st->ops->get(ctx->st, job_param(ctx, "attachment"), &row, NULL) == 0) {
        json_object_del(row.priv, "pending");
        if (keep)
            ctx->st->ops->update(ctx->st, &row, NULL);
        else
            ctx->st->ops->remove(ctx->st, row.id, NULL);
    }
    store_row_clear(&row);
    volume_set_busy(ctx->st, job_param(ctx, "volume"), "", NULL);
}

static void cancel_attach(struct job_context *ctx)
{
    cancel(ctx, false);
}

static void cancel_detach(struct job_context *ctx)
{
    cancel(ctx, true);
}

const struct job_kind machine_attach_job = {"machine.attach", run_attach, cancel_attach};
const struct job_kind machine_detach_job = {"machine.detach", run_detach, cancel_detach};

/* ---- a deleted Machine's volumes ---- */

static int collect_attachment(void *arg, struct store_row *row)
{
    json_array_append_new(arg, json_string(row->id));
    return 0;
}

/* One step per attached volume: detach it (as a DELETE of the attachment
 * would), before the machine goes.  Volumes made with the machine that go
 * with it (deleteWithMachine, machine_volume_templates.c) stay for its own
 * Job; where the machine's state allows no detach (SUSPENDED) its volumes
 * go with it as they are. */
int machine_volumes_detach_steps(struct cimi_request *req, const struct store_row *machine,
                                 struct job_spec *job, struct cimi_error *err)
{
    json_t *ids = json_array(), *id;
    size_t i;
    int rc;

    if (!resource_ops_of(&t_machine)->allowed(machine, "detach")) {
        json_decref(ids);
        return 0;
    }
    rc = req->st->ops->list(req->st, "MachineVolume", machine->id, NULL, collect_attachment, ids,
                            err);
    json_array_foreach(ids, i, id) {
        struct store_row row;
        struct job_spec step;

        if (rc != 0)
            break;
        memset(&row, 0, sizeof(row));
        job_spec_init(&step);
        snprintf(step.action, sizeof(step.action), "delete");
        snprintf(step.target, sizeof(step.target), "%s", json_string_value(id));
        rc = req->st->ops->get(req->st, json_string_value(id), &row, err);
        if (rc == 0 && !json_is_true(json_object_get(row.priv, "deleteWithMachine"))) {
            rc = detach_remove(req, &row, &step, err);
            if (rc == 0)
                rc = job_spec_add_step(job, &step);
        }
        job_spec_clear(&step);
        store_row_clear(&row);
    }
    json_decref(ids);
    return rc;
}

/* ---- a new Machine's template volumes ---- */

int machine_volumes_create(struct cimi_request *req, const struct store_row *machine,
                           const json_t *tmpl, struct cimi_error *err)
{
    json_t *volumes = json_object_get(tmpl, "volumes"), *ref;
    const char *host = machine_host_of(machine);
    size_t i;

    if (json_array_size(volumes) > 0 && host[0] && strcmp(host, hosts_default()) != 0)
        return err_set(err, 409, "machineTemplate.volumes",
                       "the machine is placed on %s; volumes live on %s and can be attached "
                       "only to its machines", host, hosts_default());
    json_array_foreach(volumes, i, ref) {
        char volume[256], target[8], location[16];
        struct store_row row;
        int rc;

        if (check_volume(req, ref, volume, sizeof(volume), err) != 0 ||
            choose_device(req->st, machine,
                          json_string_value(json_object_get(ref, "initialLocation")), target,
                          sizeof(target), err) != 0)
            return -1;
        memset(&row, 0, sizeof(row));
        if (resource_new_child(req->st, machine, "volumes", &t_machine_volume, &row, err) != 0)
            return -1;
        snprintf(location, sizeof(location), "/dev/%s", target);
        json_object_set_new(row.doc, "initialLocation", json_string(location));
        json_object_set_new(row.doc, "volume", json_pack("{s:s}", "href", volume));
        json_object_set_new(row.priv, "target", json_string(target));
        rc = req->st->ops->insert(req->st, &row, err);
        store_row_clear(&row);
        if (rc != 0)
            return -1;
    }
    return 0;
}

int machine_volume_attach_new(struct store *st, const struct store_row *machine,
                              const char *volume, const char *initial_location,
                              bool delete_with_machine, char *location, size_t len,
                              struct cimi_error *err)
{
    struct store_row row;
    char target[8];
    int rc;

    if (choose_device(st, machine, initial_location, target, sizeof(target), err) != 0)
        return -1;
    memset(&row, 0, sizeof(row));
    if (resource_new_child(st, machine, "volumes", &t_machine_volume, &row, err) != 0) {
        store_row_clear(&row);
        return -1;
    }
    snprintf(location, len, "/dev/%s", target);
    json_object_set_new(row.doc, "initialLocation", json_string(location));
    json_object_set_new(row.doc, "volume", json_pack("{s:s}", "href", volume));
    json_object_set_new(row.priv, "target", json_string(target));
    json_object_set_new(row.priv, "createdWith", json_string(machine->id));
    json_object_set_new(row.priv, "deleteWithMachine", json_boolean(delete_with_machine));
    rc = st->ops->insert(st, &row, err);
    store_row_clear(&row);
    return rc;
}

/* ---- start-up ---- */

static int reattach_row(void *arg, struct store_row *row)
{
    const char *machine_uuid = arg;
    const char *volume = resource_ref(row->doc, "volume");
    const char *target = json_string_value(json_object_get(row->priv, "target"));
    struct cimi_error err;
    struct host_use h = {0};

    if (volume != NULL && target != NULL &&
        (hosts_use_first(&h, &err) != 0 ||
         h.drv->volume_attach(h.hv, machine_uuid, resource_uuid(volume), target, &err) != 0))
        log_warn("reconcile: cannot attach %s to %s again: %s", volume, row->parent, err.message);
    hosts_done(&h);
    return 0;
}

int machine_volumes_reattach(struct store *st, const struct store_row *machine)
{
    struct cimi_error err;

    if (st->ops->list(st, "MachineVolume", machine->id, NULL, reattach_row,
                      (void *)resource_uuid(machine->id), &err) != 0) {
        log_error("reconcile: %s", err.message);
        return -1;
    }
    return 0;
}
