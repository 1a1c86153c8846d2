/*
 * machine_jobs.c - the work behind Machine requests, run by the job workers,
 * and start-up reconciliation of the store with the hypervisor.
 *
 * Every job kind is idempotent: it looks at the hypervisor before acting
 * (define only if missing, start only if not running, ...), so a Job
 * interrupted by a crash is simply run again at the next start.  Each job
 * records its progress before and after calling the hypervisor, and ends by
 * writing the machine's new state and the Job's outcome in one transaction.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "resources/machine.h"
#include "resources/network.h"
#include "resources/resource.h"
#include "resources/volume.h"
#include "util/clock.h"
#include "util/log.h"

#define POLL_MS 100

static const struct driver *drv(void)
{
    return hypervisor_driver();
}

int machine_hv_spec(const struct store_row *row, struct hv_machine_spec *spec,
                    struct cimi_error *err)
{
    json_t *s = json_object_get(row->priv, "spec"), *d;
    size_t i;

    memset(spec, 0, sizeof(*spec));
    if (!json_is_object(s))
        return err_set(err, 500, NULL, "machine %s has no hypervisor specification", row->id);
    snprintf(spec->uuid, sizeof(spec->uuid), "%s", resource_uuid(row->id));
    snprintf(spec->name, sizeof(spec->name), "%s",
             json_string_value(json_object_get(row->doc, "name")) ?: resource_uuid(row->id));
    spec->cpu = (int)json_integer_value(json_object_get(s, "cpu"));
    spec->memory_kib = json_integer_value(json_object_get(s, "memory"));
    snprintf(spec->cpu_arch, sizeof(spec->cpu_arch), "%s",
             json_string_value(json_object_get(s, "cpuArch")) ?: "");
    snprintf(spec->image_location, sizeof(spec->image_location), "%s",
             json_string_value(json_object_get(s, "imageLocation")) ?: "");
    /* Borrowed from the row: valid while the row is. */
    spec->user_data = json_string_value(json_object_get(row->priv, "userData"));
    json_array_foreach(json_object_get(s, "disks"), i, d) {
        if (i >= HV_MAX_DISKS)
            break;
        spec->disks[i].capacity_kb = json_integer_value(json_object_get(d, "capacity"));
        snprintf(spec->disks[i].format, sizeof(spec->disks[i].format), "%s",
                 json_string_value(json_object_get(d, "format")) ?: "");
        snprintf(spec->disks[i].initial_location, sizeof(spec->disks[i].initial_location), "%s",
                 json_string_value(json_object_get(d, "initialLocation")) ?: "");
        spec->ndisks = i + 1;
    }
    return 0;
}

/* The machine's state as the hypervisor sees it ("ERROR" if it is gone). */
static const char *truth(const char *uuid)
{
    enum hv_state hs;

    if (drv()->get_state(hypervisor_conn(), uuid, &hs, NULL) != 0)
        return "ERROR";
    return machine_state_from_hv(hs);
}

struct machine_outcome {
    bool success;
};

/* Record the machine's real state (and, after a success, that it is the
 * state the consumer wants kept). */
static void record_state(struct store_row *row, void *arg)
{
    const struct machine_outcome *outcome = arg;
    const char *state = truth(resource_uuid(row->id));

    json_object_set_new(row->doc, "state", json_string(state));
    if (outcome->success)
        json_object_set_new(row->priv, "desired", json_string(state));
    resource_touch(row->doc);
}

/* End a machine job: the machine's real state and the outcome in one transaction. */
static int finish(struct job_context *ctx, bool success, const char *message, struct cimi_error *err)
{
    struct machine_outcome outcome = {success};

    return job_complete(ctx->st, ctx->job_id,
                        json_string_value(json_object_get(ctx->params, "machine")), record_state,
                        &outcome, success, message, err);
}

static int fail_with(struct job_context *ctx, const struct cimi_error *cause, struct cimi_error *err)
{
    return finish(ctx, false, cause->message, err);
}

static int load_machine(struct job_context *ctx, struct store_row *row, struct cimi_error *err)
{
    const char *machine = json_string_value(json_object_get(ctx->params, "machine"));

    memset(row, 0, sizeof(*row));
    if (machine == NULL || ctx->st->ops->get(ctx->st, machine, row, err) != 0)
        return -1;
    return 0;
}

static int state_now(const char *uuid, enum hv_state *hs, struct cimi_error *err)
{
    return drv()->get_state(hypervisor_conn(), uuid, hs, err);
}

/* Wait until the machine reaches want (or timeout_s passes). */
static bool wait_for_state(const char *uuid, enum hv_state want, int timeout_s)
{
    double deadline = clock_mono_ms() + timeout_s * 1000.0;
    enum hv_state hs;

    for (;;) {
        struct timespec pause = {0, POLL_MS * 1000000L};
        if (state_now(uuid, &hs, NULL) == 0 && hs == want)
            return true;
        if (clock_mono_ms() > deadline)
            return false;
        nanosleep(&pause, NULL);
    }
}

/* Bring a defined machine to running. */
static int power_on(const char *uuid, struct cimi_error *err)
{
    enum hv_state hs;

    if (state_now(uuid, &hs, err) != 0)
        return -1;
    switch (hs) {
    case HV_RUNNING:
        return 0;
    case HV_PAUSED:
        return drv()->resume(hypervisor_conn(), uuid, err);
    case HV_CRASHED:
    case HV_SHUTTING_DOWN:
        if (drv()->destroy(hypervisor_conn(), uuid, err) != 0)
            return -1;
        return drv()->start(hypervisor_conn(), uuid, err);
    default:
        return drv()->start(hypervisor_conn(), uuid, err);
    }
}

static int run_create(struct job_context *ctx, struct cimi_error *err)
{
    struct store_row row;
    struct hv_machine_spec spec;
    struct cimi_error cause;
    char desired[32];
    int rc;

    err_clear(&cause);
    if (load_machine(ctx, &row, &cause) != 0)
        return finish(ctx, false, "the machine no longer exists", err);
    snprintf(desired, sizeof(desired), "%s",
             json_string_value(json_object_get(row.priv, "initialState")) ?: "STOPPED");
    job_progress(ctx->st, ctx->job_id, 30, "defining the machine in the hypervisor");
    rc = machine_hv_spec(&row, &spec, &cause);
    if (rc == 0)
        rc = drv()->define(hypervisor_conn(), &spec, &cause);
    if (rc == 0)
        rc = machine_interfaces_plug(ctx->st, &row, &cause);  /* networks */
    if (rc == 0 && strcmp(desired, "STARTED") == 0) {
        job_progress(ctx->st, ctx->job_id, 60, "starting the machine");
        rc = power_on(spec.uuid, &cause);
    }
    store_row_clear(&row);
    if (rc != 0)
        return fail_with(ctx, &cause, err);
    return finish(ctx, true, strcmp(desired, "STARTED") == 0 ? "created and started" : "created", err);
}

static int run_start(struct job_context *ctx, struct cimi_error *err)
{
    const char *uuid = resource_uuid(json_string_value(json_object_get(ctx->params, "machine")));
    struct cimi_error cause;

    err_clear(&cause);
    job_progress(ctx->st, ctx->job_id, 50, "starting the machine");
    if (power_on(uuid, &cause) != 0)
        return fail_with(ctx, &cause, err);
    return finish(ctx, true, "started", err);
}

static int run_stop(struct job_context *ctx, struct cimi_error *err)
{
    const char *uuid = resource_uuid(json_string_value(json_object_get(ctx->params, "machine")));
    bool force = json_is_true(json_object_get(ctx->params, "force"));
    struct cimi_error cause;
    enum hv_state hs;
    char message[160];

    err_clear(&cause);
    if (state_now(uuid, &hs, &cause) != 0)
        return fail_with(ctx, &cause, err);
    if (hs == HV_SHUTOFF || hs == HV_SAVED)
        return finish(ctx, true, "stopped", err);
    job_progress(ctx->st, ctx->job_id, 30, force ? "powering off" : "asking the guest to shut down");
    if (force || hs == HV_CRASHED) {
        if (drv()->destroy(hypervisor_conn(), uuid, &cause) != 0)
            return fail_with(ctx, &cause, err);
        return finish(ctx, true, "powered off", err);
    }
    if (hs == HV_PAUSED && drv()->resume(hypervisor_conn(), uuid, &cause) != 0)
        return fail_with(ctx, &cause, err);
    if (drv()->shutdown(hypervisor_conn(), uuid, &cause) != 0)
        return fail_with(ctx, &cause, err);
    if (!wait_for_state(uuid, HV_SHUTOFF, machine_stop_timeout())) {
        snprintf(message, sizeof(message),
                 "the guest did not shut down within %d s; stop it with force=true",
                 machine_stop_timeout());
        return finish(ctx, false, message, err);
    }
    return finish(ctx, true, "stopped", err);
}

static int run_restart(struct job_context *ctx, struct cimi_error *err)
{
    const char *uuid = resource_uuid(json_string_value(json_object_get(ctx->params, "machine")));
    bool force = json_is_true(json_object_get(ctx->params, "force"));
    struct cimi_error cause;
    enum hv_state hs;
    int rc;

    err_clear(&cause);
    if (state_now(uuid, &hs, &cause) != 0)
        return fail_with(ctx, &cause, err);
    job_progress(ctx->st, ctx->job_id, 50, "restarting the machine");
    if (hs == HV_PAUSED && drv()->resume(hypervisor_conn(), uuid, &cause) != 0)
        return fail_with(ctx, &cause, err);
    if (hs == HV_RUNNING || hs == HV_PAUSED)
        rc = force ? drv()->reset(hypervisor_conn(), uuid, &cause)
                   : drv()->reboot(hypervisor_conn(), uuid, &cause);
    else
        rc = power_on(uuid, &cause);
    if (rc != 0)
        return fail_with(ctx, &cause, err);
    return finish(ctx, true, "restarted", err);
}

/* A transition made by one hypervisor call, skipped when the machine is
 * already where the call would take it. */
static int run_transition(struct job_context *ctx, enum hv_state done_state,
                          int (*call)(struct hv *, const char *, struct cimi_error *),
                          const char *progress, const char *done, struct cimi_error *err)
{
    const char *uuid = resource_uuid(json_string_value(json_object_get(ctx->params, "machine")));
    struct cimi_error cause;
    enum hv_state hs;

    err_clear(&cause);
    if (state_now(uuid, &hs, &cause) != 0)
        return fail_with(ctx, &cause, err);
    job_progress(ctx->st, ctx->job_id, 50, progress);
    if (hs != done_state && call(hypervisor_conn(), uuid, &cause) != 0)
        return fail_with(ctx, &cause, err);
    return finish(ctx, true, done, err);
}

static int run_pause(struct job_context *ctx, struct cimi_error *err)
{
    return run_transition(ctx, HV_PAUSED, drv()->pause, "pausing the machine", "paused", err);
}

static int run_suspend(struct job_context *ctx, struct cimi_error *err)
{
    return run_transition(ctx, HV_SAVED, drv()->save, "saving the machine's memory to disk",
                          "suspended", err);
}

static int run_delete(struct job_context *ctx, struct cimi_error *err)
{
    const char *machine = json_string_value(json_object_get(ctx->params, "machine"));
    struct store *st = ctx->st;
    struct cimi_error cause;

    err_clear(&cause);
    job_progress(st, ctx->job_id, 50, "removing the machine from the hypervisor");
    if (drv()->undefine(hypervisor_conn(), resource_uuid(machine), &cause) != 0)
        return fail_with(ctx, &cause, err);
    machine_interfaces_unplug(st, machine);  /* networks: its DHCP reservations */
    if (st->ops->begin(st, err) != 0)
        return -1;
    if (machine_interfaces_forget(st, machine, err) != 0 ||  /* networks: its Addresses */
        st->ops->remove(st, machine, err) != 0 ||
        job_finish(st, ctx->job_id, true, "deleted", err) != 0 || st->ops->commit(st, err) != 0) {
        st->ops->rollback(st);
        return -1;
    }
    return 0;
}

/* A stopped Job: put the machine back into the state it had. */
static void cancel_action(struct job_context *ctx)
{
    struct store_row row;

    if (load_machine(ctx, &row, NULL) != 0)
        return;
    json_object_set(row.doc, "state", json_object_get(row.priv, "previous"));
    resource_touch(row.doc);
    ctx->st->ops->update(ctx->st, &row, NULL);
    store_row_clear(&row);
}

/* A stopped create: the machine never reached the hypervisor; remove it. */
static void cancel_create(struct job_context *ctx)
{
    const char *machine = json_string_value(json_object_get(ctx->params, "machine"));

    if (machine)
        ctx->st->ops->remove(ctx->st, machine, NULL);
}

const struct job_kind machine_create_job = {"machine.create", run_create, cancel_create};
const struct job_kind machine_start_job = {"machine.start", run_start, cancel_action};
const struct job_kind machine_stop_job = {"machine.stop", run_stop, cancel_action};
const struct job_kind machine_restart_job = {"machine.restart", run_restart, cancel_action};
const struct job_kind machine_pause_job = {"machine.pause", run_pause, cancel_action};
const struct job_kind machine_suspend_job = {"machine.suspend", run_suspend, cancel_action};
const struct job_kind machine_delete_job = {"machine.delete", run_delete, cancel_action};

/* ---- start-up reconciliation ---- */

/* Bring a re-created machine back to the stable state it had. */
static int restore_state(const char *uuid, const char *desired, struct cimi_error *err)
{
    if (strcmp(desired, "STOPPED") == 0 || strcmp(desired, "ERROR") == 0)
        return 0;
    if (power_on(uuid, err) != 0)
        return -1;
    if (strcmp(desired, "PAUSED") == 0)
        return drv()->pause(hypervisor_conn(), uuid, err);
    if (strcmp(desired, "SUSPENDED") == 0)
        return drv()->save(hypervisor_conn(), uuid, err);
    return 0;
}

struct reconcile_ctx {
    struct store *st;
    int count;
};

static int reconcile_row(void *arg, struct store_row *row)
{
    struct reconcile_ctx *ctx = arg;
    const char *state = json_string_value(json_object_get(row->doc, "state")) ?: "";
    const char *desired = json_string_value(json_object_get(row->priv, "desired"));
    const char *uuid = resource_uuid(row->id);
    struct hv_machine_spec spec;
    struct cimi_error err;

    err_clear(&err);
    if (strcmp(state, "CREATING") == 0 || desired == NULL)
        return 0;  /* never created (its create Job runs again, or it failed) */
    if (drv()->exists(hypervisor_conn(), uuid, &err) == 1)
        return 0;
    if (!hypervisor_is_ephemeral()) {
        log_warn("reconcile: machine %s is missing from the hypervisor", row->id);
        return 0;
    }
    /* Its volumes before it starts (a persistent hypervisor keeps them in
     * the domain's definition; the test driver only has cimid's record). */
    if (machine_hv_spec(row, &spec, &err) != 0 ||
        drv()->define(hypervisor_conn(), &spec, &err) != 0 ||
        machine_volumes_reattach(ctx->st, row) != 0 ||
        machine_interfaces_plug(ctx->st, row, &err) != 0 ||  /* networks */
        restore_state(uuid, desired, &err) != 0) {
        log_error("reconcile: cannot re-create machine %s: %s", row->id,
                  err.message[0] ? err.message : "its volumes cannot be attached");
        return 0;
    }
    ctx->count++;
    return 0;
}

int machine_reconcile(struct store *st)
{
    struct reconcile_ctx ctx = {st, 0};
    struct cimi_error err;

    if (st->ops->list(st, "Machine", NULL, NULL, reconcile_row, &ctx, &err) != 0) {
        log_error("reconcile: %s", err.message);
        return -1;
    }
    if (ctx.count > 0)
        log_info("reconcile: re-created %d machines in the hypervisor", ctx.count);
    return ctx.count;
}
