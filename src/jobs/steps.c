/*
 * steps.c - nested Jobs (DSP0263 parentJob and nestedJobs): a Job made of
 * steps, each a Job of its own, run by the parent's worker (see
 * job_spec_add_step in jobs.h for the contract).  The parent's private
 * document lists its steps' ids ("steps"), and when steps share stages
 * their stage numbers ("stages"), how many may run at once ("atOnce") and
 * whether a failed step leaves the others alone ("fanOut"); a step's names
 * its parent ("parent"); their documents carry nestedJobs and parentJob.
 * Running the steps in the parent's worker (not queued on their own; the
 * steps of a stage on threads the worker starts and joins) keeps their
 * order and never needs a second worker, so a parent can never wait for a
 * worker its own tenant's share has no room for.
 */
#include "jobs/steps.h"

#include "jobs/pool.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "util/log.h"

/* The stage of the last step of parent (-1: none yet). */
static json_int_t last_stage(const struct job_spec *parent)
{
    size_t n = json_array_size(parent->steps);

    if (n == 0)
        return -1;
    return json_integer_value(json_object_get(json_array_get(parent->steps, n - 1), "stage"));
}

int job_spec_add_step_in_stage(struct job_spec *parent, const struct job_spec *step, int stage)
{
    json_t *s;

    if (stage < 0 || stage < last_stage(parent))
        return -1;
    s = json_pack("{s:s, s:s, s:s, s:s, s:O, s:i}", "action", step->action, "target",
                  step->target, "created", step->created, "op", step->op, "params",
                  step->params ? step->params : json_null(), "stage", stage);
    if (s == NULL)
        return -1;
    if (parent->steps == NULL)
        parent->steps = json_array();
    return json_array_append_new(parent->steps, s);
}

int job_spec_add_step(struct job_spec *parent, const struct job_spec *step)
{
    return job_spec_add_step_in_stage(parent, step, (int)last_stage(parent) + 1);
}

size_t steps_of(const json_t *priv)
{
    return json_array_size(json_object_get(priv, "steps"));
}

static const char *text(const json_t *doc, const char *name)
{
    return json_string_value(json_object_get(doc, name)) ?: "";
}

static bool ended(const char *state)
{
    return strcmp(state, "SUCCESS") == 0 || strcmp(state, "FAILED") == 0 ||
           strcmp(state, "STOPPED") == 0;
}

/* The job_spec of a step as job_spec_add_step kept it (params borrowed). */
static void spec_of_step(const json_t *s, const char *tenant, struct job_spec *spec)
{
    job_spec_init(spec);
    snprintf(spec->action, sizeof(spec->action), "%s", text(s, "action"));
    snprintf(spec->target, sizeof(spec->target), "%s", text(s, "target"));
    snprintf(spec->created, sizeof(spec->created), "%s", text(s, "created"));
    snprintf(spec->op, sizeof(spec->op), "%s", text(s, "op"));
    snprintf(spec->tenant, sizeof(spec->tenant), "%s", tenant);
    spec->params = json_object_get(s, "params");
}

/* Into the parent's private document: how its steps run, when not one at a
 * time each in a stage of its own, every failure ending the parent. */
static void record_stages(json_t *priv, const struct job_spec *spec)
{
    json_t *stages = json_array(), *s;
    bool shared = false;
    size_t i;

    json_array_foreach(spec->steps, i, s) {
        json_int_t stage = json_integer_value(json_object_get(s, "stage"));
        shared = shared || stage != (json_int_t)i;
        json_array_append_new(stages, json_integer(stage));
    }
    if (shared)
        json_object_set_new(priv, "stages", stages);
    else
        json_decref(stages);
    if (spec->steps_at_once > 1)
        json_object_set_new(priv, "atOnce", json_integer(spec->steps_at_once));
    if (spec->steps_fan_out)
        json_object_set_new(priv, "fanOut", json_true());
}

int steps_create(struct store *st, struct store_row *parent, const struct job_spec *spec,
                 struct cimi_error *err)
{
    json_t *nested = json_array(), *ids = json_array(), *s;
    size_t i;

    json_array_foreach(spec->steps, i, s) {
        struct job_spec step;
        struct store_row row;
        int rc;

        spec_of_step(s, spec->tenant, &step);
        if (jobs_row_new(&step, &row, err) != 0)
            goto fail;
        json_object_set_new(row.doc, "parentJob", json_pack("{s:s}", "href", parent->id));
        json_object_set_new(row.priv, "parent", json_string(parent->id));
        rc = st->ops->insert(st, &row, err);
        json_array_append_new(nested, json_pack("{s:s}", "href", row.id));
        json_array_append_new(ids, json_string(row.id));
        store_row_clear(&row);
        if (rc != 0)
            goto fail;
    }
    json_object_set_new(parent->doc, "nestedJobs", nested);
    json_object_set_new(parent->priv, "steps", ids);
    record_stages(parent->priv, spec);
    return 0;
fail:
    json_decref(nested);
    json_decref(ids);
    return -1;
}

int steps_end(struct store *st, const struct store_row *parent, size_t from, const char *state,
              const char *message, struct cimi_error *err)
{
    json_t *ids = json_object_get(parent->priv, "steps");
    bool stopped = strcmp(state, "STOPPED") == 0;

    for (size_t i = from; i < json_array_size(ids); i++) {
        const char *id = json_string_value(json_array_get(ids, i));
        struct store_row row;
        int rc = 0;

        memset(&row, 0, sizeof(row));
        if (id == NULL || st->ops->get(st, id, &row, NULL) != 0)
            continue;
        if (!ended(text(row.doc, "state"))) {
            jobs_cancel_kind(st, &row);
            rc = stopped ? job_stopped(st, id, message, err)
                         : job_finish(st, id, false, message, err);
        }
        store_row_clear(&row);
        if (rc != 0)
            return -1;
    }
    return 0;
}

/* End the parent (state "FAILED" or "STOPPED", with message) and the steps
 * from index from on, undoing what the request asked of them and of it. */
static enum steps_outcome end_parent(struct store *st, struct store_row *parent, size_t from,
                                     const char *state, const char *message)
{
    bool stopped = strcmp(state, "STOPPED") == 0;
    struct cimi_error err;

    if (st->ops->begin(st, &err) != 0)
        return STEPS_UNRECORDED;
    jobs_cancel_kind(st, parent);
    if (steps_end(st, parent, from, state,
                  stopped ? "stopped before it ran" : "not run: another step failed",
                  &err) != 0 ||
        (stopped ? job_stopped(st, parent->id, message, &err)
                 : job_finish(st, parent->id, false, message, &err)) != 0 ||
        st->ops->commit(st, &err) != 0) {
        st->ops->rollback(st);
        log_error("job: %s: %s", parent->id, err.message);
        return STEPS_UNRECORDED;
    }
    return STEPS_ENDED;
}

/* Run one step unless it ended already; state gets how it ended ("" = gone).
 * done: how many of the parent's n steps ended before it (progress). */
static void run_one(struct store *st, const char *parent_id, const char *id, size_t i,
                    size_t done, size_t n, char *state, size_t len, char *message, size_t mlen)
{
    struct store_row step;
    char progress[200];

    memset(&step, 0, sizeof(step));
    state[0] = message[0] = '\0';
    if (st->ops->get(st, id, &step, NULL) != 0)
        return;
    if (!ended(text(step.doc, "state"))) {
        snprintf(progress, sizeof(progress), "step %zu of %zu: %s", i + 1, n,
                 text(step.priv, "op"));
        job_progress(st, parent_id, 10 + (int)(80 * done / n), progress);
        jobs_run_step(st, &step);
        store_row_clear(&step);
        if (st->ops->get(st, id, &step, NULL) != 0)
            return;
    }
    snprintf(state, len, "%s", text(step.doc, "state"));
    snprintf(message, mlen, "%s", text(step.doc, "statusMessage"));
    store_row_clear(&step);
}

/* One stage of a parent's steps (indexes from..to of ids) while it runs:
 * the parent's worker and the threads it started take steps from next. */
struct stage {
    pthread_mutex_t lock;
    const char *parent_id;
    const json_t *ids;
    size_t next, to, n;
    size_t done;          /* steps of the parent ended (earlier stages included) */
    bool fan_out;         /* a failed step does not halt the others */
    bool halted;          /* take no more: a step failed (not fan_out) or a stop */
    bool stop;            /* halted by a stop of the parent */
    size_t failed;        /* index of the first step that did not succeed, or n */
    char state[32];       /* how it ended ("" = gone) */
    char reason[512];     /* its statusMessage */
};

/* The next step to run (and how many ended so far), or false when none is
 * left or the stage halted. */
static bool stage_take(struct stage *sg, size_t *i, size_t *done)
{
    bool take;

    pthread_mutex_lock(&sg->lock);
    if (!sg->halted && sg->next < sg->to && job_stop_requested(sg->parent_id))
        sg->halted = sg->stop = true;
    take = !sg->halted && sg->next < sg->to;
    if (take)
        *i = sg->next++;
    *done = sg->done;
    pthread_mutex_unlock(&sg->lock);
    return take;
}

/* Take and run steps of the stage until none is left, on store st. */
static void stage_work(struct stage *sg, struct store *st)
{
    char state[32], reason[512];
    size_t i, done;

    while (stage_take(sg, &i, &done)) {
        const char *id = json_string_value(json_array_get(sg->ids, i));
        bool success;

        run_one(st, sg->parent_id, id ?: "", i, done, sg->n, state, sizeof(state), reason,
                sizeof(reason));
        success = strcmp(state, "SUCCESS") == 0;
        pthread_mutex_lock(&sg->lock);
        sg->done++;
        if (!success && i < sg->failed) {
            sg->failed = i;
            snprintf(sg->state, sizeof(sg->state), "%s", state);
            snprintf(sg->reason, sizeof(sg->reason), "%s", reason);
        }
        if (!success && !sg->fan_out)
            sg->halted = true;
        pthread_mutex_unlock(&sg->lock);
    }
}

/* A thread the parent's worker started for a stage: its own store connection. */
static void *stage_thread(void *arg)
{
    struct stage *sg = arg;
    struct cimi_error err;
    struct store *st = store_for_thread(&err);

    if (st != NULL)
        stage_work(sg, st);
    else
        log_error("job: %s: a step thread has no store: %s", sg->parent_id, err.message);
    store_release_thread();
    return NULL;
}

/* Run the stage: one step at a time in this worker, or with at_once > 1 up
 * to that many at once on threads started here (and this one), joined
 * before it returns. */
static void stage_run(struct store *st, struct stage *sg, long at_once)
{
    pthread_t threads[STEPS_AT_ONCE_MAX];
    size_t extra = 0, size = sg->to - sg->next;

    if (at_once > STEPS_AT_ONCE_MAX)
        at_once = STEPS_AT_ONCE_MAX;
    while ((long)extra + 1 < at_once && extra + 1 < size &&
           pthread_create(&threads[extra], NULL, stage_thread, sg) == 0)
        extra++;
    stage_work(sg, st);
    for (size_t t = 0; t < extra; t++)
        pthread_join(threads[t], NULL);
}

/* The stage of step i (each step its own stage when the parent has no "stages"). */
static json_int_t stage_of(const json_t *priv, size_t i)
{
    json_t *stages = json_object_get(priv, "stages");

    return stages ? json_integer_value(json_array_get(stages, i)) : (json_int_t)i;
}

/* The end of the stage that starts at index from. */
static size_t stage_end(const json_t *priv, size_t from, size_t n)
{
    size_t to = from + 1;

    while (to < n && stage_of(priv, to) == stage_of(priv, from))
        to++;
    return to;
}

/* The parent's end after a stage that halted, or a failure of a fan-out
 * parent's step: STEPS_DONE when it goes on. */
static enum steps_outcome stage_outcome(struct store *st, struct store_row *parent,
                                        const struct stage *sg, size_t from)
{
    char message[800];

    if (sg->stop) {
        snprintf(message, sizeof(message), "stopped after %zu of %zu steps", sg->done, sg->n);
        return end_parent(st, parent, from, "STOPPED", message);
    }
    if (sg->fan_out || sg->failed == sg->n)
        return STEPS_DONE;
    snprintf(message, sizeof(message), "step %zu of %zu (%s) %s%s%s", sg->failed + 1, sg->n,
             json_string_value(json_array_get(sg->ids, sg->failed)) ?: "",
             sg->state[0] ? "ended " : "is gone", sg->state, sg->reason[0] ? ": " : "");
    snprintf(message + strlen(message), sizeof(message) - strlen(message), "%s", sg->reason);
    return end_parent(st, parent, from, strcmp(sg->state, "STOPPED") == 0 ? "STOPPED" : "FAILED",
                      message);
}

enum steps_outcome steps_run(struct store *st, struct store_row *parent)
{
    json_t *ids = json_object_get(parent->priv, "steps");
    size_t n = json_array_size(ids);
    long at_once = (long)json_integer_value(json_object_get(parent->priv, "atOnce"));
    struct stage sg = {
        .parent_id = parent->id, .ids = ids, .n = n, .failed = n,
        .fan_out = json_is_true(json_object_get(parent->priv, "fanOut")),
    };
    char message[800];
    enum steps_outcome outcome = STEPS_DONE;

    pthread_mutex_init(&sg.lock, NULL);
    for (size_t from = 0; from < n && outcome == STEPS_DONE; from = sg.to) {
        sg.next = from;
        sg.to = stage_end(parent->priv, from, n);
        stage_run(st, &sg, at_once);
        outcome = stage_outcome(st, parent, &sg, from);
    }
    pthread_mutex_destroy(&sg.lock);
    if (outcome != STEPS_DONE)
        return outcome;
    /* From here the parent's own work runs: it can no longer be stopped. */
    if (job_running_close_stop(parent->id)) {
        snprintf(message, sizeof(message), "stopped after all %zu steps, before its own work", n);
        return end_parent(st, parent, n, "STOPPED", message);
    }
    return STEPS_DONE;
}

/* Append "target (name): reason" of a step that did not succeed to message. */
static void name_failed(struct store *st, const struct store_row *step, bool first, char *message,
                        size_t len)
{
    const char *target = text(step->priv, "target"), *reason = text(step->doc, "statusMessage");
    const char *state = text(step->doc, "state");
    struct store_row member;
    size_t used = strlen(message);

    memset(&member, 0, sizeof(member));
    if (target[0] && st->ops->get(st, target, &member, NULL) == 0 &&
        json_string_value(json_object_get(member.doc, "name")) != NULL)
        snprintf(message + used, len - used, "%s%s (%s): %s", first ? "" : "; ", target,
                 text(member.doc, "name"), reason[0] ? reason : state);
    else
        snprintf(message + used, len - used, "%s%s: %s", first ? "" : "; ", target,
                 reason[0] ? reason : state);
    store_row_clear(&member);
}

int job_steps_failed(struct store *st, const char *job_id, char *message, size_t len,
                     struct cimi_error *err)
{
    struct store_row parent, step;
    char list[1500] = "";
    json_t *ids;
    size_t n, failed = 0;

    memset(&parent, 0, sizeof(parent));
    if (st->ops->get(st, job_id, &parent, err) != 0)
        return -1;
    ids = json_object_get(parent.priv, "steps");
    n = json_array_size(ids);
    for (size_t i = 0; i < n; i++) {
        memset(&step, 0, sizeof(step));
        if (st->ops->get(st, json_string_value(json_array_get(ids, i)) ?: "", &step, NULL) != 0 ||
            strcmp(text(step.doc, "state"), "SUCCESS") != 0)
            name_failed(st, &step, failed++ == 0, list, sizeof(list));
        store_row_clear(&step);
    }
    store_row_clear(&parent);
    if (failed == 0)
        snprintf(message, len, "all %zu steps succeeded", n);
    else
        snprintf(message, len, "%zu of %zu steps failed: %s", failed, n, list);
    return (int)failed;
}
