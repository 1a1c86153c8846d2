/*
 * jobs.c - Job rows, the worker pool and start-up recovery.
 *
 * A Job is a stored resource ("jobs/<uuid>") whose private document is its
 * journal: the job kind to run ("op"), its parameters and the target.  The
 * request that creates a Job commits it together with its change and then
 * hands the Job's row (its documents, already parsed) to the queue here.
 * A worker of its class (queue.c: lifecycle or transfer, a tenant's share
 * of them, the least busy tenant first) takes it and claims it in memory:
 * from then on the Job shows
 * RUNNING (progress.c) while the store keeps it QUEUED; the job kind
 * finishes the Job in the same transaction as the resource's new state,
 * writing the worker's copy of the row.  The row of the resource the
 * request wrote comes along too, and is used instead of a read while the
 * store has the same version of it.  So an operation costs two durable
 * commits (the request's, the outcome) and no re-reading of the Job.
 *
 * Crash safety is unchanged: start-up recovery runs every QUEUED or RUNNING
 * Job again (job kinds are idempotent), after recording the QUEUED ones
 * RUNNING, since their run may have begun before the crash and can no
 * longer be cancelled as if nothing ran.  A "stop" of a Job races with its
 * claim: both take the pool's lock; a stop that came first marks the queued
 * Job, and its worker then claims it through the store, after the stop's
 * transaction ended.  A Job of an interruptible kind can also be stopped
 * once it runs (or may have run): it is recorded STOPPING, its run sees
 * job_stop_requested and ends it STOPPED; recovery re-runs a STOPPING Job
 * with the stop asked from the start.
 * Finished Jobs are purged after the retention period.
 */
#include "jobs/jobs.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "jobs/pool.h"
#include "jobs/queue.h"
#include "jobs/steps.h"
#include "util/clock.h"
#include "util/log.h"
#include "util/startup.h"

/* How many recent outcomes jobs_wait can find without reading the store
 * (a waiter looks after every end; an older one is read from the store). */
#define ENDED_MAX 256

/* A Job a worker is done with. */
struct ended_job {
    char id[128];
    struct job_end end;    /* state "" = unknown here (ask the store) */
};

/* A worker thread and the class of Jobs it runs (queue.h). */
struct worker {
    pthread_t thread;
    enum job_class klass;
};

static struct {
    pthread_mutex_t lock;      /* also guards the queue (queue.c) */
    pthread_cond_t claimable[JOB_CLASSES];  /* a Job of the class may be claimable now */
    pthread_cond_t finished;   /* broadcast whenever a Job ends */
    bool started;
    struct ended_job *ended;   /* ring of the last ENDED_MAX Jobs workers are done with */
    unsigned long ended_total; /* how many ever: the next one goes to ended_total % ENDED_MAX */
    bool stopping;
    int nthreads;
    int lifecycle_workers;     /* the first ones; the others run transfers */
    int idle[JOB_CLASSES];     /* workers waiting for a Job */
    struct worker *workers;   /* the lifecycle workers, then the transfer workers */
    const struct job_kind *const *kinds;
    long retention_minutes;
} pool = {
    .lock = PTHREAD_MUTEX_INITIALIZER,
    .claimable = {PTHREAD_COND_INITIALIZER, PTHREAD_COND_INITIALIZER},
    .finished = PTHREAD_COND_INITIALIZER,
};

/* The Job this worker thread runs: job_finish writes this copy of its row
 * instead of reading it again; and the row of the resource its request
 * wrote, which job_resource_get lends while the store has that version. */
static __thread struct store_row *current_job;
static __thread struct store_row *current_resource;

void job_spec_init(struct job_spec *spec)
{
    memset(spec, 0, sizeof(*spec));
}

void job_spec_clear(struct job_spec *spec)
{
    json_decref(spec->params);
    spec->params = NULL;
    json_decref(spec->steps);
    spec->steps = NULL;
}

int job_spec_new_id(struct job_spec *spec, struct cimi_error *err)
{
    char uuid[37];

    if (uuid_generate_v4(uuid, sizeof(uuid)) != 0)
        return err_set(err, 500, NULL, "cannot generate a Job identifier");
    snprintf(spec->id, sizeof(spec->id), "jobs/%s", uuid);
    return 0;
}

static bool is_terminal(const char *state)
{
    return state && (strcmp(state, "SUCCESS") == 0 || strcmp(state, "FAILED") == 0 ||
                     strcmp(state, "STOPPED") == 0);
}

static bool state_is(const json_t *doc, const char *state)
{
    return strcmp(json_string_value(json_object_get(doc, "state")) ?: "", state) == 0;
}

int jobs_row_new(const struct job_spec *spec, struct store_row *row, struct cimi_error *err)
{
    char uuid[37], now[32];
    json_t *affected;
    bool queued = spec->op[0] != '\0';

    memset(row, 0, sizeof(*row));
    if (spec->id[0] == '\0' && uuid_generate_v4(uuid, sizeof(uuid)) != 0)
        return err_set(err, 500, NULL, "cannot generate a Job identifier");
    clock_now_iso(now, sizeof(now));
    if (spec->id[0] != '\0')
        snprintf(row->id, sizeof(row->id), "%s", spec->id);
    else
        snprintf(row->id, sizeof(row->id), "jobs/%s", uuid);
    snprintf(row->type, sizeof(row->type), "Job");
    snprintf(row->tenant, sizeof(row->tenant), "%s", spec->tenant);
    affected = json_array();
    json_array_append_new(affected, json_pack("{s:s}", "href", spec->target));
    if (spec->created[0])
        json_array_append_new(affected, json_pack("{s:s}", "href", spec->created));
    row->doc = json_pack("{s:s, s:s, s:s, s:{s:s}, s:o, s:s, s:i, s:i, s:s}", "created", now,
                         "updated", now, "state", queued ? "QUEUED" : "SUCCESS", "targetResource",
                         "href", spec->target, "affectedResources", affected, "action",
                         spec->action, "returnCode", 0, "progress", queued ? 0 : 100,
                         "timeOfStatusChange", now);
    if (!queued)
        json_object_set_new(row->doc, "statusMessage", json_string("done"));
    row->priv = json_pack("{s:s, s:s, s:s, s:O}", "op", spec->op, "target", spec->target,
                          "created", spec->created,
                          "params", spec->params ? spec->params : json_null());
    return 0;
}

int job_create(struct store *st, const struct job_spec *spec, struct store_row *job,
               struct cimi_error *err)
{
    struct store_row row;

    if (jobs_row_new(spec, &row, err) != 0)
        return -1;
    if ((spec->steps != NULL && steps_create(st, &row, spec, err) != 0) ||
        st->ops->insert(st, &row, err) != 0) {
        store_row_clear(&row);
        return -1;
    }
    *job = row;
    return 0;
}

/* Write the Job's new state: the running worker's copy of its row, or
 * (any other thread) the row read from the store. */
static int set_job_state(struct store *st, const char *job_id, const char *state, int progress,
                         const char *message, int return_code, struct cimi_error *err)
{
    struct store_row stored, *row = &stored;
    char now[32];
    int rc;

    memset(&stored, 0, sizeof(stored));
    if (current_job != NULL && strcmp(current_job->id, job_id) == 0)
        row = current_job;
    else if (st->ops->get(st, job_id, &stored, err) != 0)
        return -1;
    clock_now_iso(now, sizeof(now));
    json_object_set_new(row->doc, "state", json_string(state));
    json_object_set_new(row->doc, "progress", json_integer(progress));
    json_object_set_new(row->doc, "returnCode", json_integer(return_code));
    if (message)
        json_object_set_new(row->doc, "statusMessage", json_string(message));
    json_object_set_new(row->doc, "timeOfStatusChange", json_string(now));
    json_object_set_new(row->doc, "updated", json_string(now));
    rc = st->ops->update(st, row, err);
    store_row_clear(&stored);
    return rc;
}

int job_finish(struct store *st, const char *job_id, bool success, const char *message,
               struct cimi_error *err)
{
    log_info("job: %s %s: %s", job_id, success ? "SUCCESS" : "FAILED", message ? message : "");
    return set_job_state(st, job_id, success ? "SUCCESS" : "FAILED", 100, message,
                         success ? 0 : 1, err);
}

int job_stopped(struct store *st, const char *job_id, const char *message,
                struct cimi_error *err)
{
    log_info("job: %s STOPPED: %s", job_id, message ? message : "");
    return set_job_state(st, job_id, "STOPPED", 100, message, 0, err);
}

int job_resource_get(struct store *st, const char *id, struct store_row *row,
                     struct cimi_error *err)
{
    struct store_row *r = current_resource;
    long long version;

    memset(row, 0, sizeof(*row));
    if (r != NULL && strcmp(r->id, id) == 0 && st->ops->version(st, id, &version, NULL) == 0 &&
        version == r->version) {
        *row = *r;
        json_incref(row->doc);
        json_incref(row->priv);
        return 0;
    }
    return st->ops->get(st, id, row, err);
}

/* The worker's copy of row's resource: its new version after an update
 * (-1 when the update may not be committed: read it again next time). */
static void resource_written(const struct store_row *row, long long version)
{
    if (current_resource != NULL && current_resource->doc == row->doc)
        current_resource->version = version;
}

int job_complete(struct store *st, const char *job_id, const char *path, job_update_fn update,
                 void *arg, bool success, const char *message, struct cimi_error *err)
{
    struct store_row row;

    memset(&row, 0, sizeof(row));
    if (st->ops->begin(st, err) != 0)
        return -1;
    if (path != NULL && job_resource_get(st, path, &row, NULL) == 0) {
        update(&row, arg);
        if (st->ops->update(st, &row, err) != 0)
            goto fail;
        resource_written(&row, row.version);
    }
    if (job_finish(st, job_id, success, message, err) != 0 || st->ops->commit(st, err) != 0)
        goto fail;
    store_row_clear(&row);
    return 0;
fail:
    st->ops->rollback(st);
    resource_written(&row, -1);
    store_row_clear(&row);
    return -1;
}

static const struct job_kind *find_kind(const char *op)
{
    for (size_t i = 0; pool.kinds && pool.kinds[i]; i++)
        if (strcmp(pool.kinds[i]->op, op) == 0)
            return pool.kinds[i];
    return NULL;
}

/* The kind named in a Job's private document, or NULL. */
const struct job_kind *jobs_kind_of(const json_t *priv)
{
    const char *op = json_string_value(json_object_get(priv, "op"));

    return op ? find_kind(op) : NULL;
}

/* Can the Job be stopped once it runs? Its kind says so, or it has steps
 * (stopped between them). */
bool jobs_kind_interruptible(const json_t *priv)
{
    const struct job_kind *kind = jobs_kind_of(priv);

    return (kind != NULL && kind->interruptible) || steps_of(priv) > 0;
}

void jobs_lock(void)
{
    pthread_mutex_lock(&pool.lock);
}

void jobs_unlock(void)
{
    pthread_mutex_unlock(&pool.lock);
}

bool jobs_started(void)
{
    return pool.started;
}

/* Mark a Job FAILED in its own transaction (the last resort). 0 when committed. */
static int fail_job(struct store *st, const char *job_id, const char *message)
{
    struct cimi_error err;

    if (st->ops->begin(st, &err) != 0)
        return -1;
    if (job_finish(st, job_id, false, message, &err) != 0 || st->ops->commit(st, &err) != 0) {
        st->ops->rollback(st);
        return -1;
    }
    return 0;
}

/* The recorded end of job_id among those recorded since *seen (all the
 * ring holds when that is more), or NULL; *seen is then brought up to date.
 * Under pool.lock. */
static const struct ended_job *ended_find(const char *job_id, unsigned long *seen)
{
    unsigned long from = pool.ended_total - *seen > ENDED_MAX ? pool.ended_total - ENDED_MAX
                                                               : *seen;

    *seen = pool.ended_total;
    for (unsigned long n = from; n < pool.ended_total; n++) {
        const struct ended_job *e = &pool.ended[n % ENDED_MAX];
        if (strcmp(e->id, job_id) == 0)
            return e;
    }
    return NULL;
}

/* Claim a Job whose row is not in memory (or a stop raced with): read it
 * inside a write transaction, so that a stop's transaction has ended.
 * false if there is nothing to run (finished, stopped, gone). */
static bool claim_from_store(struct store *st, struct store_row *row)
{
    struct cimi_error err;
    char id[sizeof(row->id)];
    const char *state;
    bool claimed;

    snprintf(id, sizeof(id), "%s", row->id);
    store_row_clear(row);
    if (st->ops->begin(st, &err) != 0)
        return false;
    if (st->ops->get(st, id, row, &err) != 0) {
        st->ops->rollback(st);
        snprintf(row->id, sizeof(row->id), "%s", id);
        return false;
    }
    state = json_string_value(json_object_get(row->doc, "state"));
    claimed = !is_terminal(state);
    if (claimed) {
        /* STOPPING: a stop of its earlier run (interruptible kinds only). */
        pthread_mutex_lock(&pool.lock);
        job_running_begin(id, jobs_kind_interruptible(row->priv),
                          state != NULL && strcmp(state, "STOPPING") == 0);
        pthread_mutex_unlock(&pool.lock);
    }
    st->ops->rollback(st);  /* nothing was written */
    return claimed;
}

/* A worker is done with the Job: record its end for jobs_wait (known: its
 * outcome was committed, as the row says), end its progress record, wake the waiters. */
static void job_ended(const struct store_row *job, bool known)
{
    const char *state = json_string_value(json_object_get(job->doc, "state"));
    struct ended_job *e;

    pthread_mutex_lock(&pool.lock);
    e = &pool.ended[pool.ended_total % ENDED_MAX];
    pool.ended_total++;
    snprintf(e->id, sizeof(e->id), "%s", job->id);
    e->end.state[0] = e->end.message[0] = '\0';
    if (known && is_terminal(state)) {
        snprintf(e->end.state, sizeof(e->end.state), "%s", state);
        snprintf(e->end.message, sizeof(e->end.message), "%s",
                 json_string_value(json_object_get(job->doc, "statusMessage")) ?: "");
    }
    job_progress_end(job->id, known);
    pthread_cond_broadcast(&pool.finished);
    pthread_mutex_unlock(&pool.lock);
}

/* Run one claimed Job; row is the Job (documents owned). true when its
 * outcome was committed. */
static bool run_claimed(struct store *st, struct store_row *row)
{
    const char *op = json_string_value(json_object_get(row->priv, "op"));
    const struct job_kind *kind = op ? find_kind(op) : NULL;
    struct job_context ctx;
    struct cimi_error err;
    bool committed = true;

    current_job = row;
    if (kind == NULL) {
        committed = fail_job(st, row->id, "unknown job kind") == 0;
        current_job = NULL;
        return committed;
    }
    if (steps_of(row->priv) > 0) {
        /* The steps first, each a nested Job; then the Job's own work. */
        enum steps_outcome outcome = steps_run(st, row);
        current_job = row;
        if (outcome != STEPS_DONE) {
            current_job = NULL;
            return outcome == STEPS_ENDED;
        }
    }
    ctx.st = st;
    ctx.job_id = row->id;
    ctx.target = json_string_value(json_object_get(row->priv, "target"));
    ctx.created = json_string_value(json_object_get(row->priv, "created"));
    ctx.params = json_object_get(row->priv, "params");
    if (ctx.created == NULL)
        ctx.created = "";
    err_clear(&err);
    log_debug("job: %s running %s", row->id, op);
    if (kind->run(&ctx, &err) != 0) {
        char message[600];
        snprintf(message, sizeof(message), "%s", err.message[0] ? err.message : "job failed");
        committed = fail_job(st, row->id, message) == 0;
    }
    current_job = NULL;
    return committed;
}

bool jobs_run_step(struct store *st, struct store_row *step)
{
    struct store_row *parent = current_job;
    bool committed;

    pthread_mutex_lock(&pool.lock);
    job_running_begin(step->id, false, false);
    pthread_mutex_unlock(&pool.lock);
    committed = run_claimed(st, step);
    current_job = parent;
    job_ended(step, committed);
    return committed;
}

/* Free a queue item and what it owns. */
static void item_free(struct queue_item *item)
{
    if (item == NULL)
        return;
    json_decref(item->doc);
    json_decref(item->priv);
    if (item->resource != NULL) {
        store_row_clear(item->resource);
        free(item->resource);
    }
    free(item);
}

/* Run a claimed item: claimed in memory already when its row came with it. */
static void run_job(struct queue_item *item, bool claimed)
{
    struct cimi_error err;
    struct store *st = store_for_thread(&err);
    struct store_row row;
    bool known = false;

    memset(&row, 0, sizeof(row));
    snprintf(row.id, sizeof(row.id), "%s", item->id);
    row.doc = item->doc;
    row.priv = item->priv;
    item->doc = item->priv = NULL;
    current_resource = item->resource;
    if (st == NULL)
        log_error("job: %s: %s", row.id, err.message);
    else if (claimed || claim_from_store(st, &row))
        known = run_claimed(st, &row);
    current_resource = NULL;
    job_ended(&row, known);
    store_row_clear(&row);
}

/* Wait for a Job this worker may run; NULL when the pool stops. Under pool.lock. */
static struct queue_item *next_job(enum job_class klass)
{
    struct queue_item *item;

    while ((item = queue_claim(klass)) == NULL) {
        if (pool.stopping)
            return NULL;
        pool.idle[klass]++;
        pthread_cond_wait(&pool.claimable[klass], &pool.lock);
        pool.idle[klass]--;
    }
    return item;
}

static void *worker_main(void *arg)
{
    const struct worker *self = arg;

    /* No Job runs before start-up reconciled the hypervisor (startup.h). */
    if (!startup_wait()) {
        store_release_thread();
        return NULL;
    }
    for (;;) {
        struct queue_item *item;
        bool claimed;

        pthread_mutex_lock(&pool.lock);
        item = next_job(self->klass);
        if (item == NULL) {
            pthread_mutex_unlock(&pool.lock);
            break;
        }
        /* Claimed in memory under the lock jobs_stop takes: RUNNING from here. */
        claimed = item->doc != NULL && item->priv != NULL && !item->stop_requested &&
                  job_running_begin(item->id, item->interruptible,
                                    state_is(item->doc, "STOPPING")) == 0;
        pthread_mutex_unlock(&pool.lock);

        run_job(item, claimed);

        pthread_mutex_lock(&pool.lock);
        queue_release(item->tenant, item->klass);
        /* The tenant's Jobs beyond its share may run now. */
        pthread_cond_broadcast(&pool.claimable[item->klass]);
        pthread_mutex_unlock(&pool.lock);
        item_free(item);
    }
    store_release_thread();
    return NULL;
}

int jobs_start(const struct jobs_config *cfg, const struct job_kind *const *kinds)
{
    int workers[JOB_CLASSES] = {cfg->workers, cfg->transfer_workers};
    int n = cfg->workers + cfg->transfer_workers;

    pool.ended = calloc(ENDED_MAX, sizeof(*pool.ended));
    pool.workers = calloc((size_t)n, sizeof(*pool.workers));
    if (pool.ended == NULL || pool.workers == NULL)
        return -1;
    queue_configure(workers, cfg->tenant_share);
    pool.kinds = kinds;
    pool.retention_minutes = cfg->retention_minutes;
    pool.stopping = false;
    pool.started = true;
    pool.lifecycle_workers = cfg->workers;
    for (int i = 0; i < n; i++) {
        pool.workers[i].klass = i < cfg->workers ? JOB_CLASS_LIFECYCLE : JOB_CLASS_TRANSFER;
        if (pthread_create(&pool.workers[i].thread, NULL, worker_main, &pool.workers[i]) != 0)
            return -1;
        pool.nthreads++;
    }
    return 0;
}

/* A queue item for the Job (its documents and the resource's row move into it). */
static struct queue_item *item_new(struct store_row *job, struct store_row *resource)
{
    struct queue_item *item = calloc(1, sizeof(*item));
    const struct job_kind *kind;

    if (item == NULL)
        return NULL;
    snprintf(item->id, sizeof(item->id), "%s", job->id);
    snprintf(item->tenant, sizeof(item->tenant), "%s", job->tenant);
    kind = jobs_kind_of(job->priv);
    /* Without transfer workers (--transfer-workers 0) the job workers run them. */
    item->klass = kind != NULL && kind->transfer && pool.nthreads > pool.lifecycle_workers
                      ? JOB_CLASS_TRANSFER
                      : JOB_CLASS_LIFECYCLE;
    item->interruptible = jobs_kind_interruptible(job->priv);
    item->doc = job->doc;
    item->priv = job->priv;
    job->doc = job->priv = NULL;
    if (resource != NULL && resource->doc != NULL && resource->priv != NULL &&
        (item->resource = malloc(sizeof(*item->resource))) != NULL) {
        *item->resource = *resource;
        resource->doc = resource->priv = NULL;
    }
    return item;
}

bool jobs_enqueue(struct store_row *job, struct store_row *resource)
{
    struct queue_item *item = item_new(job, resource);
    bool at_once = false, queued = false;

    pthread_mutex_lock(&pool.lock);
    if (item != NULL && !pool.stopping && pool.started) {
        /* A worker is free for it, and its tenant is under its share. */
        at_once = queue_would_run_now(item, pool.idle[item->klass]);
        queued = queue_push(item);
        if (queued)
            pthread_cond_broadcast(&pool.claimable[item->klass]);
    }
    pthread_mutex_unlock(&pool.lock);
    if (!queued) {
        /* Stays QUEUED in the store: the next start-up runs it. */
        log_warn("job: queue full or stopping; %s will run after restart", job->id);
        item_free(item);
    }
    if (resource != NULL)
        store_row_clear(resource);
    return queued && at_once;
}

/* The Job's end as the store has it: true when finished (or gone). */
static bool stored_end(struct store *st, const char *job_id, struct job_end *end)
{
    struct store_row row;
    const char *state;
    bool done = true;

    memset(&row, 0, sizeof(row));
    end->state[0] = end->message[0] = '\0';
    if (st->ops->get(st, job_id, &row, NULL) != 0)
        return true;
    state = json_string_value(json_object_get(row.doc, "state"));
    done = is_terminal(state);
    if (done) {
        snprintf(end->state, sizeof(end->state), "%s", state);
        snprintf(end->message, sizeof(end->message), "%s",
                 json_string_value(json_object_get(row.doc, "statusMessage")) ?: "");
    }
    store_row_clear(&row);
    return done;
}

/* Is the Job finished? From the ends recorded since *seen while a worker
 * has it, from the store otherwise (read under pool.lock, so no end is missed). */
static bool job_is_finished(struct store *st, const char *job_id, struct job_end *end,
                            unsigned long *seen)
{
    const struct ended_job *e = pool.ended ? ended_find(job_id, seen) : NULL;

    if (e != NULL && e->end.state[0]) {
        *end = e->end;
        return true;
    }
    if (e == NULL && pool.started && (job_running(job_id) || queue_find(job_id) != NULL))
        return false;
    return stored_end(st, job_id, end);
}

bool jobs_wait(const char *job_id, int timeout_ms, struct job_end *end)
{
    struct cimi_error err;
    struct store *st = store_for_thread(&err);
    struct timespec deadline;
    unsigned long seen = 0;   /* ends recorded before the wait count too */
    bool done;

    if (st == NULL)
        return false;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += timeout_ms / 1000;
    deadline.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (deadline.tv_nsec >= 1000000000L) {
        deadline.tv_sec++;
        deadline.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&pool.lock);
    while (!(done = job_is_finished(st, job_id, end, &seen))) {
        if (pthread_cond_timedwait(&pool.finished, &pool.lock, &deadline) != 0) {
            done = job_is_finished(st, job_id, end, &seen);
            break;
        }
    }
    pthread_mutex_unlock(&pool.lock);
    return done;
}

/* A Job the workers never reached before cimid stopped: undo what its
 * request did and record the outcome, so no Job is left without one. */
static void abandon_job(struct store *st, const char *job_id)
{
    struct cimi_error err;
    struct store_row row;

    memset(&row, 0, sizeof(row));
    if (st->ops->begin(st, &err) != 0)
        return;
    if (st->ops->get(st, job_id, &row, &err) != 0 ||
        strcmp(json_string_value(json_object_get(row.doc, "state")) ?: "", "QUEUED") != 0) {
        st->ops->rollback(st);
        store_row_clear(&row);
        return;
    }
    jobs_cancel_kind(st, &row);
    if (steps_end(st, &row, 0, "FAILED", "cimid stopped before this Job could run", &err) != 0 ||
        job_finish(st, job_id, false, "cimid stopped before this Job could run; nothing was done",
                   &err) != 0 || st->ops->commit(st, &err) != 0)
        st->ops->rollback(st);
    store_row_clear(&row);
}

void jobs_shutdown(int grace_seconds)
{
    double deadline = clock_mono_ms() + grace_seconds * 1000.0;
    json_t *left = json_array();
    struct cimi_error err;
    struct store *st;
    size_t i;
    json_t *id;

    /* Stopped before start-up was over: the workers never ran, and the
     * unfinished Jobs stay in the store for the next start. */
    bool never_ran = startup_pending();

    /* Let the workers drain the queue while there is time. */
    pthread_mutex_lock(&pool.lock);
    while (!never_ran && queue_count() > 0 && clock_mono_ms() < deadline) {
        struct timespec pause = {0, 20 * 1000000L};
        pthread_mutex_unlock(&pool.lock);
        nanosleep(&pause, NULL);
        pthread_mutex_lock(&pool.lock);
    }
    for (struct queue_item *item; (item = queue_pop()) != NULL;) {
        json_array_append_new(left, json_string(item->id));
        item_free(item);
    }
    pool.stopping = true;
    for (int c = 0; c < JOB_CLASSES; c++)
        pthread_cond_broadcast(&pool.claimable[c]);
    pthread_mutex_unlock(&pool.lock);
    for (int t = 0; t < pool.nthreads; t++)
        pthread_join(pool.workers[t].thread, NULL);
    st = store_for_thread(&err);
    json_array_foreach(left, i, id) {
        if (st != NULL && !never_ran)
            abandon_job(st, json_string_value(id));
    }
    if (never_ran && json_array_size(left) > 0)
        log_info("job: %zu queued Jobs will run after the next start", json_array_size(left));
    else if (json_array_size(left) > 0)
        log_warn("job: %zu queued Jobs were not run within %d s and are FAILED",
                 json_array_size(left), grace_seconds);
    json_decref(left);
    free(pool.workers);
    pthread_mutex_lock(&pool.lock);
    free(pool.ended);
    pool.workers = NULL;
    pool.started = false;
    pool.ended = NULL;
    pthread_mutex_unlock(&pool.lock);
    pool.nthreads = 0;
}

struct purge_ctx {
    char cutoff[32];
    json_t *ids;
};

static int collect_expired(void *arg, struct store_row *row)
{
    struct purge_ctx *c = arg;
    const char *state = json_string_value(json_object_get(row->doc, "state"));
    const char *changed = json_string_value(json_object_get(row->doc, "timeOfStatusChange"));

    /* Both are UTC xs:dateTime of the same shape: text order is time order. */
    if (is_terminal(state) && changed && strcmp(changed, c->cutoff) < 0)
        json_array_append_new(c->ids, json_string(row->id));
    return 0;
}

int jobs_purge(struct store *st)
{
    struct purge_ctx ctx;
    struct cimi_error err;
    size_t i;
    json_t *id;
    int n = 0;

    clock_format_iso(time(NULL) - pool.retention_minutes * 60, ctx.cutoff, sizeof(ctx.cutoff));
    ctx.ids = json_array();
    if (st->ops->list(st, "Job", NULL, NULL, collect_expired, &ctx, &err) != 0 ||
        st->ops->begin(st, &err) != 0) {
        json_decref(ctx.ids);
        return -1;
    }
    json_array_foreach(ctx.ids, i, id) {
        if (st->ops->remove(st, json_string_value(id), &err) == 0)
            n++;
    }
    if (st->ops->commit(st, &err) != 0)
        n = -1;
    json_decref(ctx.ids);
    if (n > 0)
        log_info("job: purged %d finished Jobs older than %ld minutes", n, pool.retention_minutes);
    return n;
}

const char *job_param(const struct job_context *ctx, const char *name)
{
    return json_string_value(json_object_get(ctx->params, name)) ?: "";
}
