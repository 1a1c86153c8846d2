/*
 * network_jobs.c - the work behind Network requests, run by the job workers:
 * network.create (define, and start unless initialState is STOPPED),
 * network.start, network.stop and network.delete.
 *
 * Like the machine jobs they are idempotent (the driver changes only what
 * differs) and end by writing the Network's real state and the Job's
 * outcome in one transaction; "desired" records the state a successful Job
 * left, which start-up restores on an ephemeral hypervisor.
 */
#include <stdio.h>
#include <string.h>

#include "resources/network.h"
#include "hosts/hosts.h"
#include "resources/resource.h"

/* Record the network's real state (and, after a success, keep it as desired). */
static void record_state(struct store_row *row, void *arg)
{
    const bool *success = arg;
    bool active = false;
    const char *state = "ERROR";
    struct host_use h;

    if (hosts_use_first(&h, NULL) == 0) {
        if (h.drv->network_is_active(h.hv, resource_uuid(row->id), &active, NULL) == 0)
            state = active ? "STARTED" : "STOPPED";
        hosts_done(&h);
    }
    json_object_set_new(row->doc, "state", json_string(state));
    if (*success)
        json_object_set_new(row->priv, "desired", json_string(state));
    json_object_del(row->priv, "initialState");
    resource_touch(row->doc);
}

static int finish(struct job_context *ctx, bool success, const char *message,
                  struct cimi_error *err)
{
    return job_complete(ctx->st, ctx->job_id, job_param(ctx, "network"), record_state, &success,
                        success, message, err);
}

static int run_create(struct job_context *ctx, struct cimi_error *err)
{
    struct hv_network_spec spec;
    struct cimi_error cause;
    struct store_row row;
    struct host_use h = {0};
    char initial[16];
    int rc;

    err_clear(&cause);
    memset(&row, 0, sizeof(row));
    if (ctx->st->ops->get(ctx->st, job_param(ctx, "network"), &row, NULL) != 0)
        return job_complete(ctx->st, ctx->job_id, NULL, NULL, NULL, false,
                            "the network was deleted before it was created", err);
    snprintf(initial, sizeof(initial), "%s",
             json_string_value(json_object_get(row.priv, "initialState")) ?: "STARTED");
    rc = network_spec_of(&row, &spec, &cause);
    store_row_clear(&row);
    job_progress(ctx->st, ctx->job_id, 40, "defining the network in the hypervisor");
    if (rc == 0)
        rc = hosts_use_first(&h, &cause);
    if (rc == 0)
        rc = h.drv->network_define(h.hv, &spec, &cause);
    if (rc == 0 && strcmp(initial, "STARTED") == 0) {
        job_progress(ctx->st, ctx->job_id, 70, "starting the network");
        rc = h.drv->network_set_active(h.hv, spec.uuid, true, &cause);
    }
    hosts_done(&h);
    return finish(ctx, rc == 0, rc == 0 ? "created" : cause.message, err);
}

static int run_switch(struct job_context *ctx, bool active, struct cimi_error *err)
{
    struct cimi_error cause;
    struct host_use h = {0};
    int rc;

    err_clear(&cause);
    job_progress(ctx->st, ctx->job_id, 50, active ? "starting the network" : "stopping the network");
    rc = hosts_use_first(&h, &cause);
    if (rc == 0)
        rc = h.drv->network_set_active(h.hv, resource_uuid(job_param(ctx, "network")), active, &cause);
    hosts_done(&h);
    if (rc != 0)
        return finish(ctx, false, cause.message, err);
    return finish(ctx, true, active ? "started" : "stopped", err);
}

static int run_start(struct job_context *ctx, struct cimi_error *err)
{
    return run_switch(ctx, true, err);
}

static int run_stop(struct job_context *ctx, struct cimi_error *err)
{
    return run_switch(ctx, false, err);
}

static int run_delete(struct job_context *ctx, struct cimi_error *err)
{
    const char *network = job_param(ctx, "network");
    struct store *st = ctx->st;
    struct cimi_error cause;
    struct host_use h = {0};
    int rc;

    err_clear(&cause);
    job_progress(st, ctx->job_id, 50, "removing the network from the hypervisor");
    rc = hosts_use_first(&h, &cause);
    if (rc == 0)
        rc = h.drv->network_undefine(h.hv, resource_uuid(network), &cause);
    hosts_done(&h);
    if (rc != 0)
        return finish(ctx, false, cause.message, err);
    if (st->ops->begin(st, err) != 0)
        return -1;
    if (st->ops->remove(st, network, err) != 0 ||
        job_finish(st, ctx->job_id, true, "deleted", err) != 0 || st->ops->commit(st, err) != 0) {
        st->ops->rollback(st);
        return -1;
    }
    return 0;
}

/* Stopped before it ran: the Network never existed. */
static void cancel_create(struct job_context *ctx)
{
    ctx->st->ops->remove(ctx->st, job_param(ctx, "network"), NULL);
}

/* Stopped before it ran: back to the state it had. */
static void cancel_action(struct job_context *ctx)
{
    resource_restore_previous(ctx->st, job_param(ctx, "network"));
}

const struct job_kind network_create_job = {"network.create", run_create, cancel_create};
const struct job_kind network_start_job = {"network.start", run_start, cancel_action};
const struct job_kind network_stop_job = {"network.stop", run_stop, cancel_action};
const struct job_kind network_delete_job = {"network.delete", run_delete, cancel_action};
