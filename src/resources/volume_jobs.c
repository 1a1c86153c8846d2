/*
 * volume_jobs.c - the work behind Volume requests, run by the job workers:
 * volume.create, volume.delete, volume.resize (grow) and volume.snapshot
 * (copy a Volume into a VolumeImage).
 *
 * Like the machine jobs they are idempotent (the driver keeps what an
 * earlier run made) and end by writing the outcome and the resources' new
 * state in one transaction.  A volume Job other than create and delete
 * marks its Volume busy for its duration (see volume.h).
 */
#include <stdio.h>
#include <string.h>

#include "driver/driver.h"
#include "hosts/hosts.h"
#include "resources/resource.h"
#include "resources/volume.h"
#include "util/log.h"

/* The uuid of the machine the volume is attached to, into out ("" if none). */
static int attached_machine(struct store *st, const char *volume, char *out, size_t len,
                            struct cimi_error *err)
{
    char machine[256] = "";

    if (volume_attachment(st, volume, NULL, 0, machine, sizeof(machine), err) < 0)
        return -1;
    snprintf(out, len, "%s", machine[0] ? resource_uuid(machine) : "");
    return 0;
}

/* ---- volume.create ---- */

struct created {
    bool success;
    long long capacity_kb;
    bool orphan;  /* the Volume was deleted meanwhile: its storage must go */
};

static void record_created(struct store_row *row, void *arg)
{
    struct created *c = arg;

    if (strcmp(json_string_value(json_object_get(row->doc, "state")) ?: "", "CREATING") != 0)
        return;  /* being deleted: the delete Job has the last word */
    c->orphan = false;
    json_object_set_new(row->doc, "state", json_string(c->success ? "AVAILABLE" : "ERROR"));
    if (c->success)
        json_object_set_new(row->doc, "capacity", json_integer(c->capacity_kb));
    resource_touch(row->doc);
}

static int run_create(struct job_context *ctx, struct cimi_error *err)
{
    const char *volume = job_param(ctx, "volume");
    struct created outcome = {false, 0, true};
    struct host_use h = {0};
    struct cimi_error cause;
    struct store_row row;
    const char *state;
    int rc;

    err_clear(&cause);
    memset(&row, 0, sizeof(row));
    if (ctx->st->ops->get(ctx->st, volume, &row, NULL) != 0)
        return job_complete(ctx->st, ctx->job_id, NULL, NULL, NULL, false,
                            "the volume was deleted before it was created", err);
    state = json_string_value(json_object_get(row.doc, "state")) ?: "";
    outcome.capacity_kb = json_integer_value(json_object_get(row.doc, "capacity"));
    if (strcmp(state, "CREATING") != 0) {
        store_row_clear(&row);
        return job_complete(ctx->st, ctx->job_id, NULL, NULL, NULL, false,
                            "the volume was deleted before it was created", err);
    }
    job_progress(ctx->st, ctx->job_id, 40, "creating the volume's storage");
    rc = hosts_use_first(&h, &cause);
    if (rc == 0)
        rc = h.drv->volume_create(h.hv, resource_uuid(volume), &outcome.capacity_kb,
                                  json_string_value(json_object_get(row.priv, "image")) ?: "",
                                  &cause);
    store_row_clear(&row);
    outcome.success = rc == 0;
    if (job_complete(ctx->st, ctx->job_id, volume, record_created, &outcome, outcome.success,
                     outcome.success ? "created" : cause.message, err) != 0) {
        hosts_done(&h);
        return -1;
    }
    /* A delete came while the storage was made: make sure it does not stay. */
    if (outcome.orphan && outcome.success &&
        h.drv->volume_delete(h.hv, resource_uuid(volume), &cause) != 0)
        log_warn("volume: %s: %s", volume, cause.message);
    hosts_done(&h);
    return 0;
}

/* Stopped before it ran: the Volume never existed. */
static void cancel_create(struct job_context *ctx)
{
    ctx->st->ops->remove(ctx->st, job_param(ctx, "volume"), NULL);
}

/* ---- volume.delete ---- */

static int run_delete(struct job_context *ctx, struct cimi_error *err)
{
    const char *volume = job_param(ctx, "volume");
    struct store *st = ctx->st;
    struct cimi_error cause;

    struct host_use h;
    int rc;

    err_clear(&cause);
    job_progress(st, ctx->job_id, 50, "removing the volume's storage");
    rc = hosts_use_first(&h, &cause);
    if (rc == 0)
        rc = h.drv->volume_delete(h.hv, resource_uuid(volume), &cause);
    hosts_done(&h);
    if (rc != 0)
        return job_complete(st, ctx->job_id, volume, resource_back_to_previous, NULL, false,
                            cause.message, err);
    if (st->ops->begin(st, err) != 0)
        return -1;
    /* Its images stay; their listing in its images collection goes with it. */
    if (st->ops->remove(st, volume, err) != 0 ||
        job_finish(st, ctx->job_id, true, "deleted", err) != 0 || st->ops->commit(st, err) != 0) {
        st->ops->rollback(st);
        return -1;
    }
    return 0;
}

static void cancel_delete(struct job_context *ctx)
{
    resource_restore_previous(ctx->st, job_param(ctx, "volume"));
}

/* ---- volume.resize ---- */

/* The Volume is idle again; a failed grow keeps the capacity it had. */
static void record_resized(struct store_row *row, void *arg)
{
    const bool *success = arg;

    if (!*success && json_object_get(row->priv, "previousCapacity") != NULL)
        json_object_set(row->doc, "capacity", json_object_get(row->priv, "previousCapacity"));
    json_object_del(row->priv, "previousCapacity");
    json_object_del(row->priv, "busy");
    resource_touch(row->doc);
}

static int run_resize(struct job_context *ctx, struct cimi_error *err)
{
    const char *volume = job_param(ctx, "volume");
    long long capacity = json_integer_value(json_object_get(ctx->params, "capacity"));
    struct cimi_error cause;
    struct host_use h = {0};
    char machine[64];
    bool success;

    err_clear(&cause);
    job_progress(ctx->st, ctx->job_id, 50, "growing the volume");
    success = attached_machine(ctx->st, volume, machine, sizeof(machine), &cause) == 0 &&
              hosts_use_first(&h, &cause) == 0 &&
              h.drv->volume_resize(h.hv, resource_uuid(volume), capacity,
                                   machine[0] ? machine : NULL, &cause) == 0;
    hosts_done(&h);
    return job_complete(ctx->st, ctx->job_id, volume, record_resized, &success, success,
                        success ? "resized" : cause.message, err);
}

static void cancel_resize(struct job_context *ctx)
{
    struct store_row row;
    bool success = false;

    memset(&row, 0, sizeof(row));
    if (ctx->st->ops->get(ctx->st, job_param(ctx, "volume"), &row, NULL) != 0)
        return;
    record_resized(&row, &success);
    ctx->st->ops->update(ctx->st, &row, NULL);
    store_row_clear(&row);
}

/* ---- volume.snapshot ---- */

/* The image's outcome; when it succeeded, list it in the Volume's images. */
static int record_snapshot(struct store *st, const char *image, const char *volume,
                           const char *location, struct cimi_error *err)
{
    struct store_row img, vol, listing;
    int rc = 0;

    memset(&img, 0, sizeof(img));
    memset(&vol, 0, sizeof(vol));
    memset(&listing, 0, sizeof(listing));
    if (st->ops->get(st, image, &img, NULL) != 0)
        return 0;  /* deleted meanwhile */
    json_object_set_new(img.doc, "state", json_string(location ? "AVAILABLE" : "ERROR"));
    if (location)
        json_object_set_new(img.doc, "imageLocation", json_string(location));
    resource_touch(img.doc);
    rc = st->ops->update(st, &img, err);
    if (rc == 0 && location && st->ops->get(st, volume, &vol, NULL) == 0) {
        listing.doc = json_pack("{s:{s:s}}", "volumeImage", "href", image);
        if (json_object_get(img.doc, "name"))
            json_object_set(listing.doc, "name", json_object_get(img.doc, "name"));
        rc = resource_new_child(st, &vol, "images", &t_volume_volume_image, &listing, err);
        if (rc == 0)
            rc = st->ops->insert(st, &listing, err);
    }
    store_row_clear(&img);
    store_row_clear(&vol);
    store_row_clear(&listing);
    return rc;
}

static int finish_snapshot(struct job_context *ctx, const char *location, const char *message,
                           struct cimi_error *err)
{
    struct store *st = ctx->st;

    if (st->ops->begin(st, err) != 0)
        return -1;
    if (record_snapshot(st, job_param(ctx, "image"), job_param(ctx, "volume"), location, err) != 0 ||
        volume_set_busy(st, job_param(ctx, "volume"), "", err) != 0 ||
        job_finish(st, ctx->job_id, location != NULL, message, err) != 0 ||
        st->ops->commit(st, err) != 0) {
        st->ops->rollback(st);
        return -1;
    }
    return 0;
}

static int run_snapshot(struct job_context *ctx, struct cimi_error *err)
{
    const char *volume = job_param(ctx, "volume");
    char location[1024], machine[64];
    struct cimi_error cause;
    struct host_use h = {0};
    int rc;

    err_clear(&cause);
    job_progress(ctx->st, ctx->job_id, 40, "copying the volume");
    rc = attached_machine(ctx->st, volume, machine, sizeof(machine), &cause) == 0 &&
                 hosts_use_first(&h, &cause) == 0 &&
                 h.drv->volume_snapshot(h.hv, resource_uuid(volume), machine[0] ? machine : NULL,
                                        resource_uuid(job_param(ctx, "image")), location,
                                        sizeof(location), &cause) == 0
             ? 0
             : -1;
    hosts_done(&h);
    if (rc != 0)
        return finish_snapshot(ctx, NULL, cause.message, err);
    return finish_snapshot(ctx, location, "copied", err);
}

/* Stopped before it ran: no image, and the Volume is idle again. */
static void cancel_snapshot(struct job_context *ctx)
{
    ctx->st->ops->remove(ctx->st, job_param(ctx, "image"), NULL);
    volume_set_busy(ctx->st, job_param(ctx, "volume"), "", NULL);
}

const struct job_kind volume_create_job = {"volume.create", run_create, cancel_create};
const struct job_kind volume_delete_job = {"volume.delete", run_delete, cancel_delete};
const struct job_kind volume_resize_job = {"volume.resize", run_resize, cancel_resize};
const struct job_kind volume_snapshot_job = {"volume.snapshot", run_snapshot, cancel_snapshot};
