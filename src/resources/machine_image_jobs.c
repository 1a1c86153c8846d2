/*
 * machine_image_jobs.c - the work behind MachineImage requests, run by the
 * job workers:
 *
 *   image.capture   copy a stopped Machine's disk into a standalone image
 *   image.download  fetch an http(s) imageLocation into the host's storage
 *                   (of a MachineImage or a VolumeImage alike; a long transfer,
 *                   run by the transfer workers; a stop while it runs ends the
 *                   transfer and removes the image)
 *   image.snapshot  take a libvirt snapshot of a Machine (SNAPSHOT image)
 *   image.delete    remove the image's file or snapshot, then the image
 *   machine.restore bring a Machine back to one of its SNAPSHOTs
 *
 * Each is idempotent (the driver keeps what an earlier run made, so a Job
 * re-run after a crash finishes the work) and ends by writing the outcome
 * and the resources' new state in one transaction.
 */
#include <stdio.h>
#include <string.h>

#include "driver/driver.h"
#include "resources/machine.h"
#include "hosts/hosts.h"
#include "resources/resource.h"
#include "util/download.h"
#include "util/log.h"

#define MIB (1024.0 * 1024.0)
/* Job progress while downloading goes from 5 to DOWNLOAD_DONE_PERCENT. */
#define DOWNLOAD_DONE_PERCENT 90
/* How long deleting a CREATING image waits for its download to stop (a
 * transfer notices within a second; one still waiting for a worker later). */
#define DOWNLOAD_STOP_WAIT_MS 120000

/* Borrow the host of the Machine at machine_path (none, or gone: the
 * default host, where image files live). */
static int use_machine_host(struct store *st, const char *machine_path, struct host_use *h,
                            struct cimi_error *err)
{
    struct store_row row;
    char host[HOST_ID_MAX] = "";

    memset(&row, 0, sizeof(row));
    if (machine_path != NULL && machine_path[0] && st->ops->get(st, machine_path, &row, NULL) == 0)
        snprintf(host, sizeof(host), "%s", machine_host_of(&row));
    store_row_clear(&row);
    return hosts_use(host, h, err);
}

void machine_record_state(struct store_row *machine, bool success)
{
    enum hv_state hs;
    const char *state = "ERROR";
    struct host_use h;

    if (hosts_use(machine_host_of(machine), &h, NULL) == 0) {
        if (h.drv->get_state(h.hv, resource_uuid(machine->id), &hs, NULL) == 0)
            state = machine_state_from_hv(hs);
        hosts_done(&h);
    }
    json_object_set_new(machine->doc, "state", json_string(state));
    if (success)
        json_object_set_new(machine->priv, "desired", json_string(state));
    resource_touch(machine->doc);
}

/* ---- image.capture and image.download: the image gets its own file ---- */

struct made_file {
    bool success;
    const char *location;
};

static void record_file(struct store_row *row, void *arg)
{
    const struct made_file *outcome = arg;

    json_object_set_new(row->doc, "state", json_string(outcome->success ? "AVAILABLE" : "ERROR"));
    if (outcome->location) {
        json_object_set_new(row->doc, "imageLocation", json_string(outcome->location));
        json_object_set_new(row->priv, "file", json_true());  /* deleting it removes the file */
    }
    resource_touch(row->doc);
}

static int finish_file(struct job_context *ctx, bool success, const char *location,
                       const char *message, struct cimi_error *err)
{
    struct made_file outcome = {success, location};

    return job_complete(ctx->st, ctx->job_id, job_param(ctx, "image"), record_file, &outcome,
                        success, message, err);
}

static int run_capture(struct job_context *ctx, struct cimi_error *err)
{
    char location[1024];
    struct cimi_error cause;
    struct host_use h;
    int rc;

    err_clear(&cause);
    job_progress(ctx->st, ctx->job_id, 40, "copying the machine's disk");
    rc = use_machine_host(ctx->st, job_param(ctx, "machine"), &h, &cause);
    if (rc == 0)
        rc = h.drv->capture(h.hv, resource_uuid(job_param(ctx, "machine")),
                            resource_uuid(job_param(ctx, "image")), location, sizeof(location),
                            &cause);
    hosts_done(&h);
    if (rc != 0)
        return finish_file(ctx, false, NULL, cause.message, err);
    return finish_file(ctx, true, location, "captured", err);
}

/* Stopped before it ran: the image never existed. */
static void cancel_new_image(struct job_context *ctx)
{
    ctx->st->ops->remove(ctx->st, job_param(ctx, "image"), NULL);
}

struct download_ctx {
    struct job_context *job;
    long long received;
};

static void on_progress(void *arg, long long received, long long total)
{
    struct download_ctx *d = arg;
    char message[128];
    int percent = 5;

    d->received = received;
    if (total > 0) {
        percent += (int)((DOWNLOAD_DONE_PERCENT - 5) * (received * 1.0 / total));
        snprintf(message, sizeof(message), "downloading: %.1f of %.1f MiB", received / MIB,
                 total / MIB);
    } else {
        snprintf(message, sizeof(message), "downloading: %.1f MiB received", received / MIB);
    }
    job_progress(d->job->st, d->job->job_id, percent, message);
}

static bool stop_requested(void *arg)
{
    const struct download_ctx *d = arg;

    return job_stop_requested(d->job->job_id);
}

int image_download_begin(struct store_row *row, const char *url, const char *checksum,
                         struct job_spec *job, struct cimi_error *err)
{
    /* A DELETE of the CREATING image stops this Job. */
    if (job_spec_new_id(job, err) != 0)
        return -1;
    json_object_set_new(row->priv, "download", json_string(job->id));
    json_object_set_new(row->doc, "state", json_string("CREATING"));
    json_object_set_new(row->priv, "source", json_string(url));
    snprintf(job->op, sizeof(job->op), "%s", image_download_job.op);
    job->params = json_pack("{s:s, s:s}", "image", row->id, "url", url);
    if (checksum != NULL)
        json_object_set_new(job->params, "checksum", json_string(checksum));
    return 0;
}

static int fill_from_url(const char *path, void *arg, struct cimi_error *err)
{
    struct download_ctx *d = arg;
    const char *checksum = job_param(d->job, "checksum");
    struct download_options opt = {
        .max_bytes = machine_image_max_size(),
        .sha256 = checksum[0] ? checksum : NULL,
        .progress = on_progress,
        .arg = d,
        .stopped = stop_requested,
    };

    return download_file(job_param(d->job, "url"), path, &opt, err);
}

/* The download was stopped (its Job's stop, or a DELETE of the CREATING
 * image): whatever file it made goes, and the image with it, as if it had
 * been stopped before it ran. */
static int finish_stopped(struct job_context *ctx, long long received, struct cimi_error *err)
{
    struct store *st = ctx->st;
    struct cimi_error cause;
    char message[256];
    struct host_use h;

    err_clear(&cause);
    if (hosts_use_first(&h, &cause) == 0 &&
        h.drv->image_delete(h.hv, resource_uuid(job_param(ctx, "image")), &cause) != 0)
        log_warn("image: %s: %s", job_param(ctx, "image"), cause.message);
    hosts_done(&h);
    snprintf(message, sizeof(message),
             "stopped after %lld bytes: the transfer was ended and the image removed", received);
    if (st->ops->begin(st, err) != 0)
        return -1;
    st->ops->remove(st, job_param(ctx, "image"), NULL);  /* gone already: fine */
    if (job_stopped(st, ctx->job_id, message, err) != 0 || st->ops->commit(st, err) != 0) {
        st->ops->rollback(st);
        return -1;
    }
    return 0;
}

/* The image is AVAILABLE at location, unless a stop came first (checked
 * inside the transaction a stop's request also writes in). */
static int finish_downloaded(struct job_context *ctx, const char *location, const char *message,
                             long long received, struct cimi_error *err)
{
    struct made_file outcome = {true, location};
    struct store *st = ctx->st;
    struct store_row row;
    int rc = 0;

    memset(&row, 0, sizeof(row));
    if (st->ops->begin(st, err) != 0)
        return -1;
    if (job_stop_requested(ctx->job_id)) {
        st->ops->rollback(st);
        return finish_stopped(ctx, received, err);
    }
    if (st->ops->get(st, job_param(ctx, "image"), &row, NULL) == 0) {
        record_file(&row, &outcome);
        rc = st->ops->update(st, &row, err);
    }
    store_row_clear(&row);
    if (rc != 0 || job_finish(st, ctx->job_id, true, message, err) != 0 ||
        st->ops->commit(st, err) != 0) {
        st->ops->rollback(st);
        return -1;
    }
    return 0;
}

static int run_download(struct job_context *ctx, struct cimi_error *err)
{
    struct download_ctx d = {ctx, 0};
    char location[1024], message[1200];
    struct cimi_error cause;
    struct store_row row;
    struct host_use h;
    int rc;

    err_clear(&cause);
    memset(&row, 0, sizeof(row));
    if (ctx->st->ops->get(ctx->st, job_param(ctx, "image"), &row, NULL) != 0)
        return job_complete(ctx->st, ctx->job_id, NULL, NULL, NULL, false,
                            "the image was deleted before it was downloaded", err);
    store_row_clear(&row);
    /* Stopped before a crash, or meanwhile: undo what an earlier run made. */
    if (job_stop_requested(ctx->job_id))
        return finish_stopped(ctx, 0, err);
    job_progress(ctx->st, ctx->job_id, 5, "downloading");
    /* Image files live on the default host (hosts.h). */
    rc = hosts_use_first(&h, &cause);
    if (rc == 0)
        rc = h.drv->image_import(h.hv, resource_uuid(job_param(ctx, "image")), fill_from_url, &d,
                                 location, sizeof(location), &cause);
    hosts_done(&h);
    if (job_stop_requested(ctx->job_id))
        return finish_stopped(ctx, d.received, err);
    if (rc != 0) {
        log_warn("image: %s: %s", job_param(ctx, "image"), cause.message);
        return finish_file(ctx, false, NULL, cause.message, err);
    }
    snprintf(message, sizeof(message), "downloaded %lld bytes from %s%s", d.received,
             job_param(ctx, "url"), job_param(ctx, "checksum")[0] ? ", checksum verified" : "");
    return finish_downloaded(ctx, location, message, d.received, err);
}

/* ---- image.snapshot ---- */

/* The image's and the machine's outcome, and the Job's, in one transaction. */
static int finish_snapshot(struct job_context *ctx, bool success, const char *message,
                           struct cimi_error *err)
{
    struct store *st = ctx->st;
    struct store_row image, machine;
    int rc = 0;

    memset(&image, 0, sizeof(image));
    memset(&machine, 0, sizeof(machine));
    if (st->ops->begin(st, err) != 0)
        return -1;
    if (st->ops->get(st, job_param(ctx, "image"), &image, NULL) == 0) {
        json_object_set_new(image.doc, "state", json_string(success ? "AVAILABLE" : "ERROR"));
        resource_touch(image.doc);
        rc = st->ops->update(st, &image, err);
    } else {
        success = false;  /* deleted meanwhile: the machine keeps its latestSnapshot */
    }
    if (rc == 0 && st->ops->get(st, job_param(ctx, "machine"), &machine, NULL) == 0) {
        machine_record_state(&machine, false);
        if (success)
            json_object_set_new(machine.doc, "latestSnapshot",
                                json_pack("{s:s}", "href", job_param(ctx, "image")));
        rc = st->ops->update(st, &machine, err);
        if (rc == 0 && success)
            rc = machine_snapshot_list(st, &machine, &image, err);
    }
    if (rc != 0 || job_finish(st, ctx->job_id, success, message, err) != 0 ||
        st->ops->commit(st, err) != 0) {
        st->ops->rollback(st);
        rc = -1;
    }
    store_row_clear(&image);
    store_row_clear(&machine);
    return rc;
}

static int run_snapshot(struct job_context *ctx, struct cimi_error *err)
{
    struct cimi_error cause;
    struct host_use h;
    int rc;

    err_clear(&cause);
    job_progress(ctx->st, ctx->job_id, 40, "taking a snapshot of the machine");
    rc = use_machine_host(ctx->st, job_param(ctx, "machine"), &h, &cause);
    if (rc == 0)
        rc = h.drv->snapshot_create(h.hv, resource_uuid(job_param(ctx, "machine")),
                                    resource_uuid(job_param(ctx, "image")), &cause);
    hosts_done(&h);
    if (rc != 0)
        return finish_snapshot(ctx, false, cause.message, err);
    return finish_snapshot(ctx, true, "snapshot taken", err);
}

static void cancel_snapshot(struct job_context *ctx)
{
    cancel_new_image(ctx);
    resource_restore_previous(ctx->st, job_param(ctx, "machine"));
}

/* ---- a deleted machine's snapshots ---- */

struct snapshots_ctx {
    const char *machine;
    json_t *ids;
};

static int collect_snapshot(void *arg, struct store_row *row)
{
    struct snapshots_ctx *c = arg;
    const char *machine = json_string_value(json_object_get(row->priv, "machine"));

    if (machine != NULL && strcmp(machine, c->machine) == 0)
        json_array_append_new(c->ids, json_string(row->id));
    return 0;
}

int machine_snapshots_forget(struct store *st, const char *machine, struct cimi_error *err)
{
    struct snapshots_ctx ctx = {machine, json_array()};
    json_t *id;
    size_t i;
    int rc;

    if (ctx.ids == NULL)
        return err_set(err, 500, NULL, "out of memory");
    rc = st->ops->list(st, "MachineImage", NULL, NULL, collect_snapshot, &ctx, err);
    json_array_foreach(ctx.ids, i, id) {
        if (rc == 0)
            rc = st->ops->remove(st, json_string_value(id), err);
    }
    json_decref(ctx.ids);
    return rc;
}

/* ---- image.delete ---- */

struct relink_ctx {
    const char *image;
    json_t *ids;
};

static int collect_followers(void *arg, struct store_row *row)
{
    struct relink_ctx *c = arg;
    const char *related = resource_ref(row->doc, "relatedImage");

    if (related != NULL && strcmp(related, c->image) == 0)
        json_array_append_new(c->ids, json_string(row->id));
    return 0;
}

/* Set doc's reference attr to ref (a copy), or remove it when ref is NULL. */
static void set_ref(json_t *doc, const char *attr, json_t *ref)
{
    if (ref != NULL)
        json_object_set_new(doc, attr, json_deep_copy(ref));
    else
        json_object_del(doc, attr);
    resource_touch(doc);
}

/* SNAPSHOTs that followed the image, and its machine's latestSnapshot, now
 * point at what the image pointed at (its relatedImage). */
static int relink(struct store *st, const struct store_row *image, struct cimi_error *err)
{
    struct relink_ctx ctx = {image->id, json_array()};
    json_t *related = json_object_get(image->doc, "relatedImage"), *id;
    const char *machine_path = json_string_value(json_object_get(image->priv, "machine"));
    struct store_row row;
    size_t i;
    int rc;

    rc = st->ops->list(st, "MachineImage", NULL, NULL, collect_followers, &ctx, err);
    json_array_foreach(ctx.ids, i, id) {
        memset(&row, 0, sizeof(row));
        if (rc == 0 && st->ops->get(st, json_string_value(id), &row, err) == 0) {
            set_ref(row.doc, "relatedImage", related);
            rc = st->ops->update(st, &row, err);
        }
        store_row_clear(&row);
    }
    json_decref(ctx.ids);
    memset(&row, 0, sizeof(row));
    if (rc == 0 && machine_path != NULL && st->ops->get(st, machine_path, &row, NULL) == 0) {
        const char *latest = resource_ref(row.doc, "latestSnapshot");
        if (latest != NULL && strcmp(latest, image->id) == 0) {
            set_ref(row.doc, "latestSnapshot", related);
            rc = st->ops->update(st, &row, err);
        }
    }
    store_row_clear(&row);
    return rc;
}

static int run_delete(struct job_context *ctx, struct cimi_error *err)
{
    const char *path = job_param(ctx, "image");
    struct store *st = ctx->st;
    struct cimi_error cause;
    struct store_row image;
    const char *machine;
    struct job_end end;
    int rc;

    err_clear(&cause);
    memset(&image, 0, sizeof(image));
    /* A CREATING image: its download was asked to stop, and removes the
     * image when it ends (finish_stopped). */
    if (job_param(ctx, "download")[0] &&
        !jobs_wait(job_param(ctx, "download"), DOWNLOAD_STOP_WAIT_MS, &end))
        return job_complete(st, ctx->job_id, path, resource_back_to_previous, NULL, false,
                            "the image's download did not stop in time; try again", err);
    if (st->ops->get(st, path, &image, NULL) != 0)
        return job_complete(st, ctx->job_id, NULL, NULL, NULL, true, "deleted", err);
    machine = json_string_value(json_object_get(image.priv, "machine"));
    job_progress(st, ctx->job_id, 50, machine ? "deleting the snapshot" : "removing the image file");
    {
        struct host_use h;
        rc = use_machine_host(st, machine, &h, &cause);
        if (rc == 0)
            rc = machine ? h.drv->snapshot_delete(h.hv, resource_uuid(machine),
                                                  resource_uuid(path), &cause)
                         : h.drv->image_delete(h.hv, resource_uuid(path), &cause);
        hosts_done(&h);
    }
    if (rc != 0) {
        store_row_clear(&image);
        return job_complete(st, ctx->job_id, path, resource_back_to_previous, NULL, false,
                            cause.message, err);
    }
    if (st->ops->begin(st, err) != 0) {
        store_row_clear(&image);
        return -1;
    }
    rc = relink(st, &image, err);
    if (rc == 0)
        rc = machine_snapshot_unlist(st, &image, err);
    store_row_clear(&image);
    if (rc != 0 || st->ops->remove(st, path, err) != 0 ||
        job_finish(st, ctx->job_id, true, "deleted", err) != 0 || st->ops->commit(st, err) != 0) {
        st->ops->rollback(st);
        return -1;
    }
    return 0;
}

static void cancel_delete(struct job_context *ctx)
{
    resource_restore_previous(ctx->st, job_param(ctx, "image"));
}

/* ---- machine.restore ---- */

struct restored {
    bool success;
    const char *image;
};

static void record_restored(struct store_row *row, void *arg)
{
    const struct restored *r = arg;

    machine_record_state(row, r->success);
    if (r->success)
        json_object_set_new(row->doc, "latestSnapshot", json_pack("{s:s}", "href", r->image));
}

static int run_restore(struct job_context *ctx, struct cimi_error *err)
{
    struct restored outcome = {false, job_param(ctx, "image")};
    struct cimi_error cause;

    err_clear(&cause);
    job_progress(ctx->st, ctx->job_id, 40, "reverting the machine to its snapshot");
    {
        struct host_use h;
        outcome.success = use_machine_host(ctx->st, job_param(ctx, "machine"), &h, &cause) == 0 &&
                          h.drv->snapshot_revert(h.hv, resource_uuid(job_param(ctx, "machine")),
                                                 resource_uuid(outcome.image), &cause) == 0;
        hosts_done(&h);
    }
    return job_complete(ctx->st, ctx->job_id, job_param(ctx, "machine"), record_restored, &outcome,
                        outcome.success, outcome.success ? "restored" : cause.message, err);
}

static void cancel_restore(struct job_context *ctx)
{
    resource_restore_previous(ctx->st, job_param(ctx, "machine"));
}

const struct job_kind image_capture_job = {"image.capture", run_capture, cancel_new_image};
const struct job_kind image_download_job = {"image.download", run_download, cancel_new_image,
                                            .transfer = true, .interruptible = true};
const struct job_kind image_snapshot_job = {"image.snapshot", run_snapshot, cancel_snapshot};
const struct job_kind image_delete_job = {"image.delete", run_delete, cancel_delete};
const struct job_kind machine_restore_job = {"machine.restore", run_restore, cancel_restore};
