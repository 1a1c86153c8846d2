/*
 * machine_jobs.c - the work behind Machine requests, run by the job workers
 * (start-up reconciliation of the store with the hypervisor is in
 * machine_reconcile.c).
 *
 * Every job kind is idempotent: it looks at the hypervisor before acting
 * (define only if missing, start only if not running, ...), so a Job
 * interrupted by a crash is simply run again at the next start.  Each job
 * records its progress before and after calling the hypervisor, and ends by
 * writing the machine's new state and the Job's outcome in one transaction.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "resources/machine.h"
#include "resources/network.h"
#include "resources/resource.h"
#include "resources/volume.h"
#include "hosts/hosts.h"
#include "util/clock.h"
#include "util/log.h"
#include "util/startup.h"

#define POLL_MS 100

const char *machine_host_of(const struct store_row *row)
{
    return json_string_value(json_object_get(row->priv, "host")) ?: "";
}

void machine_request_of(const struct store_row *row, struct placement_request *rq)
{
    json_t *s = json_object_get(row->priv, "spec");

    rq->vcpus = (int)json_integer_value(json_object_get(s, "cpu"));
    rq->memory_kib = json_integer_value(json_object_get(s, "memory"));
    rq->dedicated = json_is_true(json_object_get(s, "dedicated"));
}

/* The machine's host, borrowed for the job (jobs queued before hosts
 * existed name none: the default host). */
static int use_host(struct job_context *ctx, struct host_use *h, struct cimi_error *err)
{
    return hosts_use(json_string_value(json_object_get(ctx->params, "host")), h, err);
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
    spec->dedicated = json_is_true(json_object_get(s, "dedicated"));
    json_array_foreach(json_object_get(row->priv, "pinned"), i, d) {
        if (i < HV_MAX_VCPUS)
            spec->pinned[i] = (int)json_integer_value(d);
    }
    json_array_foreach(json_object_get(s, "disks"), i, d) {
        if (i >= HV_MAX_DISKS)
            break;
        spec->disks[i].capacity_kb = json_integer_value(json_object_get(d, "capacity"));
        snprintf(spec->disks[i].format, sizeof(spec->disks[i].format), "%s",
                 json_string_value(json_object_get(d, "format")) ?: "");
        snprintf(spec->disks[i].initial_location, sizeof(spec->disks[i].initial_location), "%s",
                 json_string_value(json_object_get(d, "initialLocation")) ?: "");
        /* Disks added later name their slot; the first ones are in order. */
        spec->disks[i].slot = json_is_integer(json_object_get(d, "slot"))
                                  ? (int)json_integer_value(json_object_get(d, "slot"))
                                  : (int)i;
        spec->ndisks = i + 1;
    }
    return 0;
}

/* The machine's state as the hypervisor sees it ("ERROR" if it is gone). */
static const char *truth(struct host_use *h, const char *uuid)
{
    enum hv_state hs;

    if (h->hv == NULL || h->drv->get_state(h->hv, uuid, &hs, NULL) != 0)
        return "ERROR";
    return machine_state_from_hv(hs);
}

struct machine_outcome {
    bool success;
    bool forced;            /* a forced stop: it takes over from a graceful one */
    struct host_use *host;
};

/* Record the machine's real state (and, after a success, that it is the
 * state the consumer wants kept).  While a forced stop is on its way over a
 * graceful one (priv "forcedStop"), only the forced one records: the machine
 * stays STOPPING, its one Job, until then. */
static void record_state(struct store_row *row, void *arg)
{
    const struct machine_outcome *outcome = arg;
    const char *state;

    if (json_is_true(json_object_get(row->priv, "forcedStop"))) {
        if (!outcome->forced) {
            /* the graceful one is over: a forced one taken back restores the state */
            json_object_set_new(row->priv, "gracefulDone", json_true());
            return;
        }
        json_object_del(row->priv, "forcedStop");
        json_object_del(row->priv, "gracefulDone");
    }
    state = truth(outcome->host, resource_uuid(row->id));

    json_object_set_new(row->doc, "state", json_string(state));
    if (outcome->success)
        json_object_set_new(row->priv, "desired", json_string(state));
    resource_touch(row->doc);
}

/* End a machine job: the machine's real state and the outcome in one
 * transaction; gives the host back. */
static int finish(struct job_context *ctx, struct host_use *h, bool success, const char *message,
                  struct cimi_error *err)
{
    struct machine_outcome outcome = {success, json_is_true(json_object_get(ctx->params, "force")),
                                      h};
    int rc = job_complete(ctx->st, ctx->job_id,
                          json_string_value(json_object_get(ctx->params, "machine")),
                          record_state, &outcome, success, message, err);

    hosts_done(h);
    return rc;
}

static int fail_with(struct job_context *ctx, struct host_use *h, const struct cimi_error *cause,
                     struct cimi_error *err)
{
    return finish(ctx, h, false, cause->message, err);
}

/* The Job's machine: as its request wrote it while the store still has
 * that version (jobs.c), read again otherwise. */
static int load_machine(struct job_context *ctx, struct store_row *row, struct cimi_error *err)
{
    const char *machine = json_string_value(json_object_get(ctx->params, "machine"));

    memset(row, 0, sizeof(*row));
    if (machine == NULL || job_resource_get(ctx->st, machine, row, err) != 0)
        return -1;
    return 0;
}

static int state_now(struct host_use *h, const char *uuid, enum hv_state *hs,
                     struct cimi_error *err)
{
    return h->drv->get_state(h->hv, uuid, hs, err);
}

/* ---- graceful stops under way, and forced stops that cut them short ----
 *
 * A graceful stop waits for its guest; a forced stop requested meanwhile
 * (machine_force_stop_requested) tells it here, in memory, so that it powers
 * the machine off at once even when no worker is free for the forced Job. */
#define MAX_WAITING_STOPS 256

static pthread_mutex_t stops_lock = PTHREAD_MUTEX_INITIALIZER;
static struct waiting_stop {
    char uuid[37];          /* "" = free */
    bool forced;
} waiting_stops[MAX_WAITING_STOPS];

/* The slot of a graceful stop that starts waiting for uuid, or -1 (none free:
 * it then only sees the forced stop's power-off). */
static int stop_wait_begin(const char *uuid)
{
    int slot = -1;

    pthread_mutex_lock(&stops_lock);
    for (int i = 0; i < MAX_WAITING_STOPS && slot < 0; i++) {
        if (waiting_stops[i].uuid[0] == '\0') {
            snprintf(waiting_stops[i].uuid, sizeof(waiting_stops[i].uuid), "%s", uuid);
            waiting_stops[i].forced = false;
            slot = i;
        }
    }
    pthread_mutex_unlock(&stops_lock);
    return slot;
}

static bool stop_wait_forced(int slot)
{
    bool forced;

    if (slot < 0)
        return false;
    pthread_mutex_lock(&stops_lock);
    forced = waiting_stops[slot].forced;
    pthread_mutex_unlock(&stops_lock);
    return forced;
}

static void stop_wait_end(int slot)
{
    if (slot < 0)
        return;
    pthread_mutex_lock(&stops_lock);
    waiting_stops[slot].uuid[0] = '\0';
    pthread_mutex_unlock(&stops_lock);
}

bool machine_force_stop_requested(const char *uuid, bool requested)
{
    bool waiting = false;

    pthread_mutex_lock(&stops_lock);
    for (int i = 0; i < MAX_WAITING_STOPS; i++) {
        if (strcmp(waiting_stops[i].uuid, uuid) == 0) {
            waiting_stops[i].forced = requested;
            waiting = true;
        }
    }
    pthread_mutex_unlock(&stops_lock);
    return waiting;
}

/* A forced stop over a graceful one lets the graceful one, told in
 * memory, see the power-off and end first (up to timeout_ms), so that
 * its outcome is recorded before the machine is STOPPED for others. */
static void wait_graceful_end(const char *uuid, int timeout_ms)
{
    struct timespec pause = {0, 20 * 1000000L};

    for (int waited = 0; waited < timeout_ms; waited += 20) {
        bool waiting = false;
        pthread_mutex_lock(&stops_lock);
        for (int i = 0; i < MAX_WAITING_STOPS && !waiting; i++)
            waiting = strcmp(waiting_stops[i].uuid, uuid) == 0;
        pthread_mutex_unlock(&stops_lock);
        if (!waiting)
            return;
        nanosleep(&pause, NULL);
    }
}

/* Whether the store has a forced stop on its way for the machine (the
 * request that asked for it committed). */
static bool forced_stop_committed(struct store *st, const char *machine)
{
    struct store_row row;
    bool forced;

    memset(&row, 0, sizeof(row));
    if (st->ops->get(st, machine, &row, NULL) != 0)
        return false;
    forced = json_is_true(json_object_get(row.priv, "forcedStop"));
    store_row_clear(&row);
    return forced;
}

enum stop_wait { STOP_DONE, STOP_TIMEOUT, STOP_CUT_SHORT };

/* Wait for a graceful stop: the guest shut down, the timeout passed, or a
 * forced stop cut it short (the machine is then powered off here). */
static enum stop_wait wait_for_stop(struct job_context *ctx, struct host_use *h, const char *uuid,
                                    int timeout_s)
{
    const char *machine = json_string_value(json_object_get(ctx->params, "machine"));
    double deadline = clock_mono_ms() + timeout_s * 1000.0;
    int slot = stop_wait_begin(uuid);
    enum stop_wait outcome = STOP_TIMEOUT;
    enum hv_state hs;

    for (int polls = 1;; polls++) {
        struct timespec pause = {0, POLL_MS * 1000000L};
        if (state_now(h, uuid, &hs, NULL) == 0 && hs == HV_SHUTOFF) {
            /* off: by the guest, or by the forced stop that was asked for
             * (it keeps its mark in the store until this one ended) */
            outcome = stop_wait_forced(slot) || forced_stop_committed(ctx->st, machine)
                          ? STOP_CUT_SHORT
                          : STOP_DONE;
            break;
        }
        /* Told in memory; or, once a second, asked of the store (a forced
         * stop asked before this wait began had no one to tell). */
        if ((stop_wait_forced(slot) || polls % 10 == 0) &&
            forced_stop_committed(ctx->st, machine)) {
            outcome = STOP_CUT_SHORT;
            break;
        }
        if (clock_mono_ms() > deadline)
            break;
        nanosleep(&pause, NULL);
    }
    stop_wait_end(slot);
    if (outcome == STOP_TIMEOUT && forced_stop_committed(ctx->st, machine))
        outcome = STOP_CUT_SHORT;
    if (outcome == STOP_CUT_SHORT && (state_now(h, uuid, &hs, NULL) != 0 || hs != HV_SHUTOFF)) {
        struct cimi_error err;
        err_clear(&err);
        if (h->drv->destroy(h->hv, uuid, &err) != 0 &&
            (state_now(h, uuid, &hs, NULL) != 0 || hs != HV_SHUTOFF))
            log_warn("machine: %s: power-off for a forced stop: %s", machine, err.message);
    }
    return outcome;
}

int machine_power_on(struct host_use *h, const char *uuid, struct cimi_error *err)
{
    enum hv_state hs;

    if (state_now(h, uuid, &hs, err) != 0)
        return -1;
    switch (hs) {
    case HV_RUNNING:
        return 0;
    case HV_PAUSED:
        return h->drv->resume(h->hv, uuid, err);
    case HV_CRASHED:
    case HV_SHUTTING_DOWN:
        if (h->drv->destroy(h->hv, uuid, err) != 0)
            return -1;
        return h->drv->start(h->hv, uuid, err);
    default:
        return h->drv->start(h->hv, uuid, err);
    }
}

/* What a failed create leaves: the machine in ERROR with the reason on it
 * ("stateMessage"), and whether its host booking was given back. */
struct create_failure {
    const char *message;
    bool released;
    struct store *st;
};

/* Also forgets the Volumes the create made (inside the outcome's transaction). */
static void record_create_failure(struct store_row *row, void *arg)
{
    const struct create_failure *failure = arg;
    struct cimi_error err;

    if (machine_volumes_forget(failure->st, row->id, VOLUMES_MADE_WITH_IT, &err) != 0)
        log_error("machine: %s: cannot remove the volumes made with it: %s", row->id,
                  err.message);
    json_object_set_new(row->doc, "state", json_string("ERROR"));
    json_object_set_new(row->doc, "stateMessage", json_string(failure->message));
    json_object_del(row->doc, "endpoints");
    if (failure->released)
        json_object_set_new(row->priv, "released", json_true());
    resource_touch(row->doc);
}

/* A create that failed: whatever it defined is taken off the hypervisor
 * (a machine that never came to be keeps no domain, no forwarded ports and
 * no booking on its host), the Volumes it made go (their storage first),
 * and the Machine reads ERROR with the reason.  If the domain cannot be
 * removed (or row is NULL: its host could not be used), the booking stays. */
static int fail_create(struct job_context *ctx, struct host_use *h, const struct store_row *row,
                       const struct cimi_error *cause, struct cimi_error *err)
{
    struct create_failure failure = {cause->message[0] ? cause->message : "unknown error", false,
                                     ctx->st};
    const char *id = job_param(ctx, "machine");
    struct placement_request rq = {0};
    struct cimi_error undo;
    char host[HOST_ID_MAX] = "";
    int rc;

    err_clear(&undo);
    log_error("machine: %s: create failed: %s", id, failure.message);
    if (id[0])
        machine_volumes_drop_storage(ctx->st, id, VOLUMES_MADE_WITH_IT);
    if (row != NULL && h->hv != NULL && h->drv->undefine(h->hv, resource_uuid(id), &undo) == 0)
        failure.released = true;
    else if (row != NULL)
        log_error("machine: %s: cannot remove what the failed create defined (its host "
                  "booking stays): %s", id, undo.message);
    if (row != NULL) {
        machine_request_of(row, &rq);
        snprintf(host, sizeof(host), "%s", machine_host_of(row));
    }
    rc = job_complete(ctx->st, ctx->job_id, id, record_create_failure, &failure, false,
                      failure.message, err);
    hosts_done(h);
    if (rc == 0 && failure.released)
        hosts_release(host, resource_uuid(id), &rq);
    return rc;
}

bool machine_create_failed(const struct store_row *row)
{
    const char *state = json_string_value(json_object_get(row->doc, "state"));

    return state != NULL && strcmp(state, "ERROR") == 0 &&
           json_object_get(row->doc, "stateMessage") != NULL;
}

static int run_create(struct job_context *ctx, struct cimi_error *err)
{
    struct store_row row;
    struct hv_machine_spec spec;
    struct cimi_error cause;
    struct host_use h;
    char desired[32];
    int rc;

    err_clear(&cause);
    if (use_host(ctx, &h, &cause) != 0)
        return fail_create(ctx, &h, NULL, &cause, err);
    if (load_machine(ctx, &row, &cause) != 0)
        return finish(ctx, &h, false, "the machine no longer exists", err);
    snprintf(desired, sizeof(desired), "%s",
             json_string_value(json_object_get(row.priv, "initialState")) ?: "STOPPED");
    job_progress(ctx->st, ctx->job_id, 20, "creating the machine's volumes");
    rc = machine_volumes_make(ctx->st, &row, &cause);  /* MachineTemplate volumeTemplates */
    if (rc == 0)
        job_progress(ctx->st, ctx->job_id, 30, "defining the machine in the hypervisor");
    if (rc == 0)
        rc = machine_hv_spec(&row, &spec, &cause);
    if (rc == 0)
        rc = h.drv->define(h.hv, &spec, &cause);
    if (rc == 0 && machine_volumes_reattach(ctx->st, &row) != 0)
        rc = err_set(&cause, 500, NULL, "cannot list the machine's volumes");
    if (rc == 0)
        rc = machine_interfaces_plug(ctx->st, &row, &cause);  /* networks */
    if (rc == 0 && strcmp(desired, "STARTED") == 0) {
        job_progress(ctx->st, ctx->job_id, 60, "starting the machine");
        rc = machine_power_on(&h, spec.uuid, &cause);
    }
    if (rc != 0) {
        rc = fail_create(ctx, &h, &row, &cause, err);
        store_row_clear(&row);
        return rc;
    }
    store_row_clear(&row);
    return finish(ctx, &h, true, strcmp(desired, "STARTED") == 0 ? "created and started" : "created",
                  err);
}

static const char *job_machine_uuid(struct job_context *ctx)
{
    return resource_uuid(json_string_value(json_object_get(ctx->params, "machine")));
}

static int run_start(struct job_context *ctx, struct cimi_error *err)
{
    struct cimi_error cause;
    struct host_use h;

    err_clear(&cause);
    if (use_host(ctx, &h, &cause) != 0)
        return fail_with(ctx, &h, &cause, err);
    job_progress(ctx->st, ctx->job_id, 50, "starting the machine");
    if (machine_power_on(&h, job_machine_uuid(ctx), &cause) != 0)
        return fail_with(ctx, &h, &cause, err);
    return finish(ctx, &h, true, "started", err);
}

/* Power off for a forced stop: done when the machine is off afterwards (a
 * guest that shut down meanwhile, or the graceful stop powering it off at
 * the same moment, makes destroy fail harmlessly: wait a little for that). */
static int power_off(struct host_use *h, const char *uuid, struct cimi_error *err)
{
    struct timespec pause = {0, POLL_MS * 1000000L};
    enum hv_state hs;

    if (h->drv->destroy(h->hv, uuid, err) == 0)
        return 0;
    for (int waited = 0; waited <= 5000; waited += POLL_MS) {
        if (state_now(h, uuid, &hs, NULL) == 0 && (hs == HV_SHUTOFF || hs == HV_SAVED)) {
            err_clear(err);
            return 0;
        }
        nanosleep(&pause, NULL);
    }
    return -1;
}

/* Where a graceful stop that starts stands against a forced one: none,
 * one on its way (forcedStop: power off now), or one that already ended the
 * stop (the machine is no longer STOPPING: nothing left to do). */
enum forced_stop { FORCED_NONE, FORCED_PENDING, FORCED_DONE };

static enum forced_stop forced_stop_of(struct job_context *ctx)
{
    enum forced_stop forced = FORCED_NONE;
    struct store_row row;

    if (load_machine(ctx, &row, NULL) != 0)
        return FORCED_NONE;
    if (json_is_true(json_object_get(row.priv, "forcedStop")))
        forced = FORCED_PENDING;
    else if (strcmp(json_string_value(json_object_get(row.doc, "state")) ?: "", "STOPPING") != 0)
        forced = FORCED_DONE;
    store_row_clear(&row);
    return forced;
}

/* A graceful stop of a running (or paused) machine: ask the guest, wait;
 * a forced stop may cut it short (machine_force_stop_requested). */
static int stop_gracefully(struct job_context *ctx, struct host_use *h, const char *uuid,
                           enum hv_state hs, struct cimi_error *err)
{
    const char *machine = json_string_value(json_object_get(ctx->params, "machine"));
    struct cimi_error cause;
    char message[160];

    err_clear(&cause);
    if ((hs == HV_PAUSED && h->drv->resume(h->hv, uuid, &cause) != 0) ||
        h->drv->shutdown(h->hv, uuid, &cause) != 0) {
        /* a forced stop that powered the machine off under the call */
        if (!forced_stop_committed(ctx->st, machine) || power_off(h, uuid, &cause) != 0)
            return fail_with(ctx, h, &cause, err);
        return finish(ctx, h, true, "stopped by a forced stop", err);
    }
    switch (wait_for_stop(ctx, h, uuid, machine_stop_timeout())) {
    case STOP_DONE:
        return finish(ctx, h, true, "stopped", err);
    case STOP_CUT_SHORT:
        return finish(ctx, h, true, "stopped by a forced stop", err);
    case STOP_TIMEOUT:
        break;
    }
    snprintf(message, sizeof(message),
             "the guest did not shut down within %d s; stop it with force=true",
             machine_stop_timeout());
    return finish(ctx, h, false, message, err);
}

/* A forced stop over a graceful one: power off, let the graceful Job end
 * first, then record the machine's state (the graceful one did not). */
static int stop_over_graceful(struct job_context *ctx, struct host_use *h, const char *uuid,
                              enum hv_state hs, struct cimi_error *err)
{
    struct cimi_error cause;

    err_clear(&cause);
    if (hs != HV_SHUTOFF && hs != HV_SAVED && power_off(h, uuid, &cause) != 0)
        return fail_with(ctx, h, &cause, err);
    wait_graceful_end(uuid, 10000);
    return finish(ctx, h, true, "powered off", err);
}

static int run_stop(struct job_context *ctx, struct cimi_error *err)
{
    const char *uuid = job_machine_uuid(ctx);
    bool force = json_is_true(json_object_get(ctx->params, "force"));
    enum forced_stop forced = force ? FORCED_NONE : forced_stop_of(ctx);
    struct cimi_error cause;
    struct host_use h;
    enum hv_state hs;

    err_clear(&cause);
    if (forced == FORCED_DONE)  /* queued behind a forced stop that ended it: keep its outcome */
        return job_complete(ctx->st, ctx->job_id, NULL, NULL, NULL, true,
                            "stopped by a forced stop", err);
    if (use_host(ctx, &h, &cause) != 0 || state_now(&h, uuid, &hs, &cause) != 0)
        return fail_with(ctx, &h, &cause, err);
    if (json_is_true(json_object_get(ctx->params, "over")))
        return stop_over_graceful(ctx, &h, uuid, hs, err);
    if (hs == HV_SHUTOFF || hs == HV_SAVED)
        return finish(ctx, &h, true, "stopped", err);
    job_progress(ctx->st, ctx->job_id, 30, force ? "powering off" : "asking the guest to shut down");
    if (forced == FORCED_PENDING) {
        if (power_off(&h, uuid, &cause) != 0)
            return fail_with(ctx, &h, &cause, err);
        return finish(ctx, &h, true, "stopped by a forced stop", err);
    }
    if (force || hs == HV_CRASHED) {
        if (h.drv->destroy(h.hv, uuid, &cause) != 0)
            return fail_with(ctx, &h, &cause, err);
        return finish(ctx, &h, true, "powered off", err);
    }
    return stop_gracefully(ctx, &h, uuid, hs, err);
}

static int run_restart(struct job_context *ctx, struct cimi_error *err)
{
    const char *uuid = job_machine_uuid(ctx);
    bool force = json_is_true(json_object_get(ctx->params, "force"));
    struct cimi_error cause;
    struct host_use h;
    enum hv_state hs;
    int rc;

    err_clear(&cause);
    if (use_host(ctx, &h, &cause) != 0 || state_now(&h, uuid, &hs, &cause) != 0)
        return fail_with(ctx, &h, &cause, err);
    job_progress(ctx->st, ctx->job_id, 50, "restarting the machine");
    if (hs == HV_PAUSED && h.drv->resume(h.hv, uuid, &cause) != 0)
        return fail_with(ctx, &h, &cause, err);
    if (hs == HV_RUNNING || hs == HV_PAUSED)
        rc = force ? h.drv->reset(h.hv, uuid, &cause) : h.drv->reboot(h.hv, uuid, &cause);
    else
        rc = machine_power_on(&h, uuid, &cause);
    if (rc != 0)
        return fail_with(ctx, &h, &cause, err);
    return finish(ctx, &h, true, "restarted", err);
}

/* A transition made by one hypervisor call, skipped when the machine is
 * already where the call would take it. */
static int run_transition(struct job_context *ctx, enum hv_state done_state, bool save,
                          const char *progress, const char *done, struct cimi_error *err)
{
    const char *uuid = job_machine_uuid(ctx);
    struct cimi_error cause;
    struct host_use h;
    enum hv_state hs;

    err_clear(&cause);
    if (use_host(ctx, &h, &cause) != 0 || state_now(&h, uuid, &hs, &cause) != 0)
        return fail_with(ctx, &h, &cause, err);
    job_progress(ctx->st, ctx->job_id, 50, progress);
    if (hs != done_state &&
        (save ? h.drv->save(h.hv, uuid, &cause) : h.drv->pause(h.hv, uuid, &cause)) != 0)
        return fail_with(ctx, &h, &cause, err);
    return finish(ctx, &h, true, done, err);
}

static int run_pause(struct job_context *ctx, struct cimi_error *err)
{
    return run_transition(ctx, HV_PAUSED, false, "pausing the machine", "paused", err);
}

static int run_suspend(struct job_context *ctx, struct cimi_error *err)
{
    return run_transition(ctx, HV_SAVED, true, "saving the machine's memory to disk", "suspended",
                          err);
}

static int run_delete(struct job_context *ctx, struct cimi_error *err)
{
    struct store *st = ctx->st;
    struct cimi_error cause;
    struct placement_request rq;
    struct store_row row;
    struct host_use h;
    char host[HOST_ID_MAX];

    err_clear(&cause);
    if (use_host(ctx, &h, &cause) != 0)
        return fail_with(ctx, &h, &cause, err);
    if (load_machine(ctx, &row, &cause) != 0) {
        store_row_clear(&row);
        snprintf(row.id, sizeof(row.id), "%s", job_param(ctx, "machine"));
    }
    machine_request_of(&row, &rq);
    snprintf(host, sizeof(host), "%s", machine_host_of(&row));
    job_progress(st, ctx->job_id, 50, "removing the machine from the hypervisor");
    if (h.drv->undefine(h.hv, resource_uuid(row.id), &cause) != 0) {
        store_row_clear(&row);
        return fail_with(ctx, &h, &cause, err);
    }
    hosts_done(&h);
    machine_interfaces_unplug(st, row.id);  /* networks: its DHCP reservations */
    machine_volumes_drop_storage(st, row.id, VOLUMES_DELETED_WITH_IT);
    if (st->ops->begin(st, err) != 0)
        goto failed;
    if (machine_interfaces_forget(st, row.id, err) != 0 ||  /* networks: its Addresses */
        machine_volumes_forget(st, row.id, VOLUMES_DELETED_WITH_IT, err) != 0 ||
        machine_snapshots_forget(st, row.id, err) != 0 ||   /* gone with its disk */
        st->ops->remove(st, row.id, err) != 0 ||
        job_finish(st, ctx->job_id, true, "deleted", err) != 0 || st->ops->commit(st, err) != 0) {
        st->ops->rollback(st);
        goto failed;
    }
    if (!json_is_true(json_object_get(row.priv, "released")))  /* a failed create gave it back */
        hosts_release(host, resource_uuid(row.id), &rq);
    store_row_clear(&row);
    return 0;
failed:
    store_row_clear(&row);
    return -1;
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

/* A stopped stop.  A forced stop over a graceful one takes back its request
 * only: a graceful stop still to end records its own outcome; when it has
 * ended (gracefulDone), the machine goes back to the state it had before
 * both (refresh then shows what the hypervisor has). */
static void cancel_stop(struct job_context *ctx)
{
    struct store_row row;

    if (!json_is_true(json_object_get(ctx->params, "over"))) {
        cancel_action(ctx);
        return;
    }
    if (load_machine(ctx, &row, NULL) != 0)
        return;
    json_object_del(row.priv, "forcedStop");
    machine_force_stop_requested(resource_uuid(row.id), false);
    if (json_is_true(json_object_get(row.priv, "gracefulDone")))  /* else it records its own */
        json_object_set(row.doc, "state", json_object_get(row.priv, "previous"));
    json_object_del(row.priv, "gracefulDone");
    resource_touch(row.doc);
    ctx->st->ops->update(ctx->st, &row, NULL);
    store_row_clear(&row);
}

/* A stopped create: the machine never reached the hypervisor; remove it
 * and give its place back. */
static void cancel_create(struct job_context *ctx)
{
    struct placement_request rq;
    struct store_row row;

    if (load_machine(ctx, &row, NULL) != 0)
        return;
    machine_request_of(&row, &rq);
    machine_volumes_forget(ctx->st, row.id, VOLUMES_MADE_WITH_IT, NULL);  /* rows only */
    if (ctx->st->ops->remove(ctx->st, row.id, NULL) == 0)
        hosts_release(machine_host_of(&row), resource_uuid(row.id), &rq);
    store_row_clear(&row);
}

const struct job_kind machine_create_job = {"machine.create", run_create, cancel_create};
const struct job_kind machine_start_job = {"machine.start", run_start, cancel_action};
const struct job_kind machine_stop_job = {"machine.stop", run_stop, cancel_stop};
const struct job_kind machine_restart_job = {"machine.restart", run_restart, cancel_action};
const struct job_kind machine_pause_job = {"machine.pause", run_pause, cancel_action};
const struct job_kind machine_suspend_job = {"machine.suspend", run_suspend, cancel_action};
const struct job_kind machine_delete_job = {"machine.delete", run_delete, cancel_action};
