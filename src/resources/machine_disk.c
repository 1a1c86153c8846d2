/*
 * machine_disk.c - adding and removing a Machine's own disks (DSP0263 Disk,
 * the items of Machine.disks) after it was created.
 *
 * POST {capacity, initialLocation?} to a Machine's disks collection gives
 * it a new blank disk: the request chooses its virtio device (the
 * initialLocation /dev/vdX asked for, else the first one neither a disk nor
 * a volume uses; disk 0, vda, is the boot disk), records the Disk
 * machines/{id}/disks/{n} and the disk in the Machine's hypervisor spec
 * (so a re-definition has it), and the machine.disk_add Job asks the
 * hypervisor (a qcow2 file, attached to the definition and, while the
 * machine runs, hot-plugged).  DELETE of a Disk detaches and removes it
 * (machine.disk_remove); the boot disk is refused (409).  Like volumes,
 * disks change while the machine is STARTED, STOPPED or PAUSED; while a Job
 * works on a Disk its private "pending" says so and it cannot be deleted.
 * A Disk's private "slot" is its device number (vd('a'+slot)); the disks
 * made with the Machine have none (their index is their slot).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "driver/driver.h"
#include "hosts/hosts.h"
#include "resources/machine.h"
#include "resources/resource.h"

/* Said when the machine's state refuses (machine_load_for). */
#define DISK_CHANGES "disks are added to and removed from"

/* A Disk's device number: its "slot", else the number its id ends in. */
static int slot_of(const struct store_row *disk)
{
    json_t *slot = json_object_get(disk->priv, "slot");
    const char *n = strrchr(disk->id, '/');

    if (json_is_integer(slot))
        return (int)json_integer_value(slot);
    return n != NULL ? atoi(n + 1) : 0;
}

/* The device of a new disk: the initialLocation asked for (/dev/vdX, not
 * in use), else the first free one; 1 ... HV_MAX_DISKS-1. */
static int choose_slot(struct store *st, const struct store_row *machine, const char *location,
                       int *slot, struct cimi_error *err)
{
    bool used[MACHINE_MAX_DEVICES];
    const char *name = location;

    if (machine_used_devices(st, machine, used, err) != 0)
        return -1;
    if (name != NULL) {
        if (strncmp(name, "/dev/", 5) == 0)
            name += 5;
        if (strlen(name) != 3 || strncmp(name, "vd", 2) != 0 || name[2] < 'b' ||
            name[2] >= 'a' + HV_MAX_DISKS)
            return err_set(err, 400, "initialLocation", "a disk's initialLocation is one of "
                           "/dev/vdb ... /dev/vd%c", 'a' + HV_MAX_DISKS - 1);
        if (used[name[2] - 'a'])
            return err_set(err, 409, "initialLocation", "Machine '%s' already uses /dev/%s",
                           machine->id, name);
        *slot = name[2] - 'a';
        return 0;
    }
    for (int i = 1; i < HV_MAX_DISKS; i++) {
        if (!used[i]) {
            *slot = i;
            return 0;
        }
    }
    return err_set(err, 409, NULL, "Machine '%s' has no free disk device left (vdb ... vd%c)",
                   machine->id, 'a' + HV_MAX_DISKS - 1);
}

/* The disk in the Machine's spec (a spec without disks has the boot disk
 * only: it is written out first, so that the new one comes second). */
static int add_to_spec(struct store *st, struct store_row *machine, long long capacity,
                       const char *location, int slot, struct cimi_error *err)
{
    json_t *disks = json_object_get(json_object_get(machine->priv, "spec"), "disks");

    if (!json_is_array(disks))
        return err_set(err, 500, NULL, "machine %s has no hypervisor specification", machine->id);
    if (json_array_size(disks) >= HV_MAX_DISKS)
        return err_set(err, 409, NULL, "Machine '%s' has %d disks, the most it can have",
                       machine->id, HV_MAX_DISKS);
    if (json_array_size(disks) == 0)
        json_array_append_new(disks, json_pack("{s:I, s:s, s:s, s:i}", "capacity", (json_int_t)0,
                                               "format", "", "initialLocation", "", "slot", 0));
    json_array_append_new(disks, json_pack("{s:I, s:s, s:s, s:i}", "capacity",
                                           (json_int_t)capacity, "format", "", "initialLocation",
                                           location, "slot", slot));
    return st->ops->update(st, machine, err);
}

static int disk_create(struct cimi_request *req, json_t *input, struct store_row *row,
                       struct job_spec *job, struct cimi_error *err)
{
    json_t *capacity = json_object_get(input, "capacity");
    struct store_row machine;
    char location[16];
    int slot = 0, rc = -1;

    if (row->parent[0] == '\0')
        return err_set(err, 405, NULL, "a Disk is created in a Machine's disks");
    if (resource_check_capacity(capacity, "capacity", err) != 0 ||
        machine_load_for(req, row->parent, "attach", DISK_CHANGES, &machine, err) != 0)
        return -1;
    if (choose_slot(req->st, &machine, json_string_value(json_object_get(input, "initialLocation")),
                    &slot, err) != 0)
        goto out;
    snprintf(location, sizeof(location), "/dev/vd%c", 'a' + slot);
    if (add_to_spec(req->st, &machine, json_integer_value(capacity), location, slot, err) != 0 ||
        resource_new_child(req->st, &machine, "disks", &t_disk, row, err) != 0)
        goto out;
    resource_copy_common(input, row->doc);
    if (json_object_get(row->doc, "name") == NULL)
        json_object_set_new(row->doc, "name", json_sprintf("disk%d", slot));
    json_object_set(row->doc, "capacity", capacity);
    json_object_set_new(row->doc, "initialLocation", json_string(location));
    json_object_set_new(row->priv, "slot", json_integer(slot));
    json_object_set_new(row->priv, "pending", json_string("add"));
    snprintf(job->op, sizeof(job->op), "machine.disk_add");
    job->params = json_pack("{s:s, s:s, s:s, s:i, s:I}", "disk", row->id, "machine", machine.id,
                            "host", machine_host_of(&machine), "slot", slot, "capacity",
                            json_integer_value(capacity));
    rc = 0;
out:
    store_row_clear(&machine);
    return rc;
}

static int disk_remove(struct cimi_request *req, struct store_row *row, struct job_spec *job,
                       struct cimi_error *err)
{
    struct store_row machine;

    /* disk_refuse checked the boot disk and the machine's state */
    if (machine_load_for(req, row->parent, "detach", DISK_CHANGES, &machine, err) != 0)
        return -1;
    json_object_set_new(row->priv, "pending", json_string("remove"));
    snprintf(job->op, sizeof(job->op), "machine.disk_remove");
    job->params = json_pack("{s:s, s:s, s:s, s:i}", "disk", row->id, "machine", machine.id,
                            "host", machine_host_of(&machine), "slot", slot_of(row));
    store_row_clear(&machine);
    return req->st->ops->update(req->st, row, err);
}

/* Delete unless a Job works on it; never edited. */
static bool disk_allowed(const struct store_row *row, const char *op)
{
    return strcmp(op, "delete") == 0 && json_object_get(row->priv, "pending") == NULL;
}

/* What the Disk alone does not say: the boot disk stays, and the machine
 * must be in a state that lets disks go. */
static int disk_refuse(struct cimi_request *req, const struct store_row *row, const char *op,
                       struct cimi_error *err)
{
    struct store_row machine;

    if (strcmp(op, "delete") != 0)
        return 0;
    if (slot_of(row) == 0)
        return err_set(err, 409, NULL, "'%s' is the machine's boot disk; it cannot be removed",
                       row->id);
    if (machine_load_for(req, row->parent, "detach", DISK_CHANGES, &machine, err) != 0)
        return -1;
    store_row_clear(&machine);
    return 0;
}

const struct resource_ops disk_ops = {
    .parent_op = "attach",
    .create = disk_create,
    .remove = disk_remove,
    .allowed = disk_allowed,
    .refuse = disk_refuse,
};

/* ---- the jobs ---- */

/* Take disk slot out of the Machine's spec. */
static int drop_from_spec(struct store *st, const char *machine, int slot, struct cimi_error *err)
{
    struct store_row row;
    json_t *disks, *d;
    size_t i;
    int rc;

    memset(&row, 0, sizeof(row));
    if (st->ops->get(st, machine, &row, NULL) != 0)
        return 0;  /* the machine is gone */
    disks = json_object_get(json_object_get(row.priv, "spec"), "disks");
    json_array_foreach(disks, i, d) {
        json_t *s = json_object_get(d, "slot");
        if ((json_is_integer(s) ? json_integer_value(s) : (json_int_t)i) == slot) {
            json_array_remove(disks, i);
            break;
        }
    }
    rc = st->ops->update(st, &row, err);
    store_row_clear(&row);
    return rc;
}

/* End a disk Job in one transaction: the Disk stays (nothing pending) or
 * goes with its entry in the Machine's spec, and the Job's outcome. */
static int finish(struct job_context *ctx, bool keep, bool success, const char *message,
                  struct cimi_error *err)
{
    struct store *st = ctx->st;
    struct store_row row;
    int rc = 0;

    memset(&row, 0, sizeof(row));
    if (st->ops->begin(st, err) != 0)
        return -1;
    if (st->ops->get(st, job_param(ctx, "disk"), &row, NULL) == 0) {
        json_object_del(row.priv, "pending");
        rc = keep ? st->ops->update(st, &row, err) : st->ops->remove(st, row.id, err);
    }
    store_row_clear(&row);
    if (rc == 0 && !keep)
        rc = drop_from_spec(st, job_param(ctx, "machine"),
                            (int)json_integer_value(json_object_get(ctx->params, "slot")), err);
    if (rc != 0 || job_finish(st, ctx->job_id, success, message, err) != 0 ||
        st->ops->commit(st, err) != 0) {
        st->ops->rollback(st);
        return -1;
    }
    return 0;
}

static int run_disk_add(struct job_context *ctx, struct cimi_error *err)
{
    int slot = (int)json_integer_value(json_object_get(ctx->params, "slot"));
    struct cimi_error cause;
    struct host_use h = {0};
    char message[64];
    int rc;

    err_clear(&cause);
    job_progress(ctx->st, ctx->job_id, 40, "adding the disk");
    rc = hosts_use(job_param(ctx, "host"), &h, &cause);
    if (rc == 0)
        rc = h.drv->disk_add(h.hv, resource_uuid(job_param(ctx, "machine")), slot,
                             json_integer_value(json_object_get(ctx->params, "capacity")), &cause);
    hosts_done(&h);
    if (rc != 0)
        return finish(ctx, false, false, cause.message, err);
    snprintf(message, sizeof(message), "added as /dev/vd%c", 'a' + slot);
    return finish(ctx, true, true, message, err);
}

static int run_disk_remove(struct job_context *ctx, struct cimi_error *err)
{
    struct cimi_error cause;
    struct host_use h = {0};
    int rc;

    err_clear(&cause);
    job_progress(ctx->st, ctx->job_id, 40, "removing the disk");
    rc = hosts_use(job_param(ctx, "host"), &h, &cause);
    if (rc == 0)
        rc = h.drv->disk_remove(h.hv, resource_uuid(job_param(ctx, "machine")),
                                (int)json_integer_value(json_object_get(ctx->params, "slot")),
                                &cause);
    hosts_done(&h);
    if (rc != 0)
        return finish(ctx, true, false, cause.message, err);
    return finish(ctx, false, true, "removed", err);
}

/* A stopped Job: an add is taken back (the Disk and its spec entry), a
 * remove leaves the Disk as it was.  Inside the caller's transaction. */
static void cancel_add(struct job_context *ctx)
{
    ctx->st->ops->remove(ctx->st, job_param(ctx, "disk"), NULL);
    drop_from_spec(ctx->st, job_param(ctx, "machine"),
                   (int)json_integer_value(json_object_get(ctx->params, "slot")), NULL);
}

static void cancel_remove(struct job_context *ctx)
{
    struct store_row row;

    memset(&row, 0, sizeof(row));
    if (ctx->st->ops->get(ctx->st, job_param(ctx, "disk"), &row, NULL) != 0)
        return;
    json_object_del(row.priv, "pending");
    ctx->st->ops->update(ctx->st, &row, NULL);
    store_row_clear(&row);
}

const struct job_kind machine_disk_add_job = {"machine.disk_add", run_disk_add, cancel_add};
const struct job_kind machine_disk_remove_job = {"machine.disk_remove", run_disk_remove,
                                                 cancel_remove};
