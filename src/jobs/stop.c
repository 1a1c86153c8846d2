/*
 * stop.c - the Job "stop" operation (DSP0263 5.17.1.1).  A Job no worker
 * has claimed is stopped at once: its kind's cancel undoes what its request
 * did (and its steps' kinds theirs), and it is STOPPED.  A Job of an
 * interruptible kind (or with steps) that runs, or may have begun before a
 * crash, is recorded STOPPING: its run notices (job_stop_requested), undoes
 * what it did and ends it STOPPED.  Any other Job answers 409.  A stop and
 * a worker's claim take the pool's lock: the first one wins.
 */
#include <stdio.h>
#include <string.h>

#include "jobs/jobs.h"
#include "jobs/pool.h"
#include "jobs/queue.h"
#include "jobs/steps.h"
#include "util/clock.h"

static bool ended(const char *state)
{
    return strcmp(state, "SUCCESS") == 0 || strcmp(state, "FAILED") == 0 ||
           strcmp(state, "STOPPED") == 0;
}

/* Record the Job STOPPING (its run, or the run after a crash, ends it). */
static int record_stopping(struct store *st, struct store_row *job, struct cimi_error *err)
{
    char now[32];

    clock_now_iso(now, sizeof(now));
    json_object_set_new(job->doc, "state", json_string("STOPPING"));
    json_object_set_new(job->doc, "statusMessage", json_string("stopping"));
    json_object_set_new(job->doc, "timeOfStatusChange", json_string(now));
    json_object_set_new(job->doc, "updated", json_string(now));
    return st->ops->update(st, job, err);
}

void jobs_cancel_kind(struct store *st, const struct store_row *job)
{
    const struct job_kind *kind = jobs_kind_of(job->priv);
    struct job_context ctx;

    ctx.st = st;
    ctx.job_id = job->id;
    ctx.target = json_string_value(json_object_get(job->priv, "target"));
    ctx.created = json_string_value(json_object_get(job->priv, "created")) ?: "";
    ctx.params = json_object_get(job->priv, "params");
    if (kind && kind->cancel)
        kind->cancel(&ctx);
}

/* Stop a Job that never ran: its kind's cancel undoes what the request did
 * (and its steps' kinds theirs). */
static int stop_queued(struct store *st, struct store_row *job, struct cimi_error *err)
{
    char now[32];

    jobs_cancel_kind(st, job);
    if (steps_end(st, job, 0, "STOPPED", "stopped before it ran", err) != 0)
        return -1;
    clock_now_iso(now, sizeof(now));
    json_object_set_new(job->doc, "state", json_string("STOPPED"));
    json_object_set_new(job->doc, "progress", json_integer(100));
    json_object_set_new(job->doc, "statusMessage", json_string("stopped before it ran"));
    json_object_set_new(job->doc, "timeOfStatusChange", json_string(now));
    json_object_set_new(job->doc, "updated", json_string(now));
    return st->ops->update(st, job, err);
}

/* How jobs_stop can stop a Job whose refreshed state is state. Under pool.lock. */
enum stop_way { STOP_NONE, STOP_QUEUED, STOP_RUNNING, STOP_WAITING };

static enum stop_way stop_way_of(const char *job_id, const char *state, bool ask)
{
    struct queue_item *item;

    if (job_running(job_id))  /* claimed: shows RUNNING (or STOPPING) */
        return (ask ? job_stop_request(job_id) : job_running_stoppable(job_id)) ? STOP_RUNNING
                                                                                 : STOP_NONE;
    if (strcmp(state, "QUEUED") == 0) {
        if (ask && jobs_started() && (item = queue_find(job_id)) != NULL)
            item->stop_requested = true;
        return STOP_QUEUED;
    }
    /* Recovered (it may have begun before a crash) and waiting for a worker. */
    item = strcmp(state, "RUNNING") == 0 && jobs_started() ? queue_find(job_id) : NULL;
    if (item != NULL && item->interruptible && !item->stop_requested) {
        if (ask)
            item->stop_requested = true;  /* claimed through the store: STOPPING */
        return STOP_WAITING;
    }
    return STOP_NONE;
}

bool jobs_stoppable(const struct store_row *job, const char *state)
{
    const char *job_id = job->id;
    bool stoppable;

    if (json_object_get(job->doc, "parentJob") != NULL)
        return false;  /* a step: stopped with its parent */
    jobs_lock();
    stoppable = state != NULL && stop_way_of(job_id, state, false) != STOP_NONE;
    jobs_unlock();
    return stoppable;
}

int jobs_stop(struct store *st, struct store_row *job, struct cimi_error *err)
{
    const char *state = json_string_value(json_object_get(job->doc, "state"));
    enum stop_way way;

    if (state == NULL)
        state = "unknown";
    if (json_object_get(job->doc, "parentJob") != NULL && !ended(state))
        return err_set(err, 409, NULL, "Job '%s' is a step of Job '%s': stop that one", job->id,
                       json_string_value(json_object_get(json_object_get(job->doc, "parentJob"),
                                                         "href")) ?: "");
    /* A worker may have claimed it since the request looked: the claim takes this lock. */
    jobs_lock();
    way = stop_way_of(job->id, state, true);
    jobs_unlock();
    switch (way) {
    case STOP_QUEUED:
        return stop_queued(st, job, err);
    case STOP_RUNNING:
    case STOP_WAITING:
        return record_stopping(st, job, err);
    default:
        if (strcmp(state, "RUNNING") == 0)
            return err_set(err, 409, NULL, "Job '%s' is RUNNING and its kind of work cannot be "
                           "interrupted", job->id);
        return err_set(err, 409, NULL, "Job '%s' is %s and can no longer be stopped", job->id,
                       state);
    }
}
