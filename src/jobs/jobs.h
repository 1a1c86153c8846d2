/*
 * jobs.h - CIMI Jobs: creation, the worker pool, the journal, recovery.
 *
 * Every mutating request creates a Job row in the same transaction as its
 * change.  Work that takes time is described by an operation name and
 * parameters kept in the Job's private document (the journal); the Job is
 * queued and a worker runs the matching struct job_kind after the commit.
 * At start-up every Job that is not finished is run again: job kinds are
 * written to be idempotent (they look at the hypervisor before acting), so
 * a crash at any point ends with every Job SUCCESS or FAILED.
 */
#ifndef CIMID_JOBS_H
#define CIMID_JOBS_H

#include <jansson.h>
#include <stdbool.h>

#include "store/store.h"
#include "util/error.h"

/* What a request asks of the Job it creates. */
struct job_spec {
    char action[160];      /* "add", "edit", "delete" or an action URI */
    char target[256];      /* relative path of the target resource (collection for add) */
    char created[256];     /* relative path of a created resource, or "" */
    char location[256];    /* an action's reply Location when not its target (an export's
                              Package: DSP0263 5.10.2.x "the URL to the exported data"), or "" */
    char op[64];           /* job kind to run later; "" = the work is done already */
    json_t *params;        /* parameters for the job kind (owned), or NULL */
    char tenant[64];       /* tenant owning the Job */
    char id[128];          /* the Job's id, when job_spec_new_id gave it one before job_create */
    json_t *steps;         /* its steps (job_spec_add_step; owned), or NULL */
    int steps_at_once;     /* steps of one stage run at once, at most (0, 1: one at a time) */
    bool steps_fan_out;    /* a failed step does not end the others (job_spec_add_step) */
};

/* State handed to a job kind's run function. */
struct job_context {
    struct store *st;
    const char *job_id;    /* relative path "jobs/<uuid>" */
    const char *target;    /* relative path of the target resource */
    const char *created;   /* relative path of the created resource or "" */
    json_t *params;        /* the job's parameters (borrowed) */
};

/* The string parameter name of the running Job, "" when it has none. */
const char *job_param(const struct job_context *ctx, const char *name);

struct job_kind {
    const char *op;        /* "machine.start" */
    /* Do the work. Must finish the Job (job_finish) inside the transaction that
     * records the resource's new state. Return 0, or -1 with err when it could
     * not even record a failure (the pool then marks the Job FAILED). */
    int (*run)(struct job_context *ctx, struct cimi_error *err);
    /* The Job was stopped before it ran: undo what the request did (e.g. put
     * a machine back into its previous state). Inside a transaction. */
    void (*cancel)(struct job_context *ctx);
    /* A long transfer (a download): run by the transfer workers, never by
     * the ones lifecycle work needs (queue.h). */
    bool transfer;
    /* The Job can be stopped while it runs: run watches job_stop_requested
     * (also true from the start for a Job whose stop a crash interrupted),
     * undoes what it did and ends the Job with job_stopped. */
    bool interruptible;
};

void job_spec_init(struct job_spec *spec);
void job_spec_clear(struct job_spec *spec);
/* Nested Jobs (DSP0263 parentJob, nestedJobs; steps.c).  A request whose
 * operation is made of steps adds each step (its own action, target, op and
 * params; the tenant is the parent's) to its Job's spec before the commit.
 * job_create then writes one Job per step in the same transaction: QUEUED,
 * `parentJob` naming the parent, listed in order in the parent's
 * `nestedJobs`.  The parent must have an op of its own.  Its worker runs
 * the steps in order, each on its own Job (the step's kind runs and
 * finishes it exactly as if it had been queued alone), then the parent's
 * own kind.  A step that ends FAILED (or STOPPED) ends the parent the same
 * way at once: the steps after it never run (FAILED, or STOPPED; their
 * kinds' cancel and the parent's undo what the request did), and the
 * parent's statusMessage names the step and its reason.  A stop of the
 * parent (queued: at once; running: when the current step ends) stops the
 * steps not run yet.  Steps are not stopped on their own and not queued on
 * their own: start-up recovery re-runs the parent, which skips the steps
 * that ended SUCCESS and runs the others again (kinds are idempotent). */
int job_spec_add_step(struct job_spec *parent, const struct job_spec *step);
/* Steps in stages (job_spec_add_step puts each step in a stage of its own,
 * after the others).  A step added with a stage equal to the previous
 * step's joins its stage (a smaller one: -1).  Stages run in order; the
 * steps of one stage run at once when the parent's steps_at_once is more
 * than 1, that many at most (and at most STEPS_AT_ONCE_MAX), on threads the
 * parent's worker starts and joins before the next stage.  A failed step
 * (without steps_fan_out) halts its stage: the steps of it that run end
 * first, those not begun end FAILED with the others after them, and the
 * parent's statusMessage names the first that failed.  A stop of the
 * parent takes effect when the steps under way end.  With steps_fan_out
 * every step is tried, whatever the others' outcome: the parent's own kind
 * runs after the last one (unless stopped) and decides with
 * job_steps_failed.  Recovery re-runs the steps that did not end, stage by
 * stage, as above. */
#define STEPS_AT_ONCE_MAX 16
int job_spec_add_step_in_stage(struct job_spec *parent, const struct job_spec *step, int stage);
/* For the kind of a parent with steps (a fan-out's): how many of the
 * Job's steps did not end SUCCESS (-1 with err if they cannot be read);
 * message gets "all N steps succeeded" or "K of N steps failed: " then for
 * each its target (with its name if it has one) and reason. */
int job_steps_failed(struct store *st, const char *job_id, char *message, size_t len,
                     struct cimi_error *err);
/* Give the Job its id now ("jobs/<uuid>", also in spec->id), for a request
 * that records it on its resource before the Job is created. */
int job_spec_new_id(struct job_spec *spec, struct cimi_error *err);

/* Insert the Job described by spec (inside the caller's transaction); job
 * gets its row (id "jobs/<uuid>" and documents; the caller clears it, or
 * hands it to jobs_enqueue after the commit). */
int job_create(struct store *st, const struct job_spec *spec, struct store_row *job,
               struct cimi_error *err);

/* Inside a transaction: mark the Job finished: state "SUCCESS" or "FAILED",
 * progress 100, statusMessage, returnCode. */
int job_finish(struct store *st, const char *job_id, bool success, const char *message,
               struct cimi_error *err);
/* Inside a transaction: the Job was stopped while it ran (an interruptible
 * kind): state "STOPPED", progress 100, statusMessage. */
int job_stopped(struct store *st, const char *job_id, const char *message,
                struct cimi_error *err);
/* Has a stop of the running Job been asked for (interruptible kinds)? */
bool job_stop_requested(const char *job_id);
/* Called by job_complete() on the resource a Job changed, inside its transaction. */
typedef void (*job_update_fn)(struct store_row *row, void *arg);

/* End a Job in one transaction: apply update to the row at path (skipped if
 * the row is gone, or path is NULL), then finish the Job. */
int job_complete(struct store *st, const char *job_id, const char *path, job_update_fn update,
                 void *arg, bool success, const char *message, struct cimi_error *err);

/* Record how far a running Job got (0..100) and a message, in memory
 * (progress.c): no store write; shown on the Job while it is RUNNING. */
int job_progress(struct store *st, const char *job_id, int progress, const char *message);
/* A worker claimed the Job: it is RUNNING from now on (in memory: the
 * store keeps it QUEUED until its outcome); interruptible: its kind can be
 * stopped while it runs; stopping: a stop was asked for already (the store
 * has it STOPPING). -1 if the table is full. */
int job_running_begin(const char *job_id, bool interruptible, bool stopping);
/* Ask the running Job to stop: true if it runs, is interruptible and was
 * not asked before (it shows STOPPING from now on). */
bool job_stop_request(const char *job_id);
/* From now on the running Job cannot be stopped any more: true if a stop
 * was asked for before. */
bool job_running_close_stop(const char *job_id);
/* Is the Job running, interruptible and not asked to stop yet? */
bool job_running_stoppable(const char *job_id);
/* Is the Job claimed by a worker (between job_running_begin and end)? */
bool job_running(const char *job_id);
/* The document of a Job the store has QUEUED or RUNNING shows RUNNING and
 * its recorded progress while a worker runs it, and also when the row was
 * read before its outcome was committed (the record outlives the run). */
void job_progress_show(const char *job_id, json_t *doc);
/* The Job's run ended, with its outcome committed or not (then it is QUEUED
 * in the store and shows so). */
void job_progress_end(const char *job_id, bool outcome_committed);

/* How many workers, and how much of them one tenant may hold. */
struct jobs_config {
    int workers;            /* lifecycle work (--workers) */
    int transfer_workers;   /* long transfers (--transfer-workers) */
    int tenant_share;       /* percent of each class's workers one tenant may hold at once */
    long retention_minutes; /* finished Jobs are purged after this long */
};

/* Start the workers; kinds is the registry of job kinds. */
int jobs_start(const struct jobs_config *cfg, const struct job_kind *const *kinds);
/* Queue a committed Job for a worker, with the row of the resource its
 * request wrote (as committed; or NULL). The worker takes the documents of
 * both (NULL afterwards); a Job without them is read from the store.
 * true when an idle worker takes it at once (nothing queued before it). */
bool jobs_enqueue(struct store_row *job, struct store_row *resource);
/* For a job kind: the row at id. The worker's copy from the Job's request
 * (documents shared with it) while the store still has that version, else
 * read from the store. Clear it with store_row_clear. */
int job_resource_get(struct store *st, const char *id, struct store_row *row,
                     struct cimi_error *err);
/* Re-queue every unfinished Job (start-up recovery). Returns how many. */
int jobs_recover(struct store *st);
/* Stop a Job (CIMI "stop" action), inside the caller's transaction: a
 * queued one at once (its kind's cancel undoes the request); one that runs
 * (or may have begun: recovered) of an interruptible kind is recorded
 * STOPPING and its run ends it STOPPED.  409 otherwise. */
int jobs_stop(struct store *st, struct store_row *job, struct cimi_error *err);
/* Would jobs_stop stop the Job (its document refreshed: state) now? */
bool jobs_stoppable(const struct store_row *job, const char *state);
/* How a Job ended, as jobs_wait saw it. */
struct job_end {
    char state[16];        /* "SUCCESS", "FAILED", "STOPPED"; "" = the Job is gone */
    char message[512];     /* its statusMessage */
};

/* Wait (up to timeout_ms) until the Job is finished. true if it is, with
 * end filled. */
bool jobs_wait(const char *job_id, int timeout_ms, struct job_end *end);
/* Stop accepting work, let the workers finish the queue (up to grace
 * seconds), join the threads; Jobs still queued then are undone (their
 * kind's cancel) and recorded FAILED. */
void jobs_shutdown(int grace_seconds);

/* Delete finished Jobs older than the retention period. */
int jobs_purge(struct store *st);

#endif
