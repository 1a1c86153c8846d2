/*
 * steps.c - nested Jobs (DSP0263 parentJob and nestedJobs): a Job made of
 * steps, each a Job of its own, run in order by the parent's worker (see
 * job_spec_add_step in jobs.h for the contract).  The parent's private
 * document lists its steps' ids ("steps"), a step's names its parent
 * ("parent"); their documents carry nestedJobs and parentJob.  Running the
 * steps in the parent's worker (not queued on their own) keeps their order
 * and never needs a second worker, so a parent can never wait for a worker
 * its own tenant's share has no room for.
 */
#include "jobs/steps.h"

#include "jobs/pool.h"

#include <stdio.h>
#include <string.h>

#include "util/log.h"

int job_spec_add_step(struct job_spec *parent, const struct job_spec *step)
{
    json_t *s = json_pack("{s:s, s:s, s:s, s:s, s:O}", "action", step->action, "target",
                          step->target, "created", step->created, "op", step->op, "params",
                          step->params ? step->params : json_null());

    if (s == NULL)
        return -1;
    if (parent->steps == NULL)
        parent->steps = json_array();
    return json_array_append_new(parent->steps, s);
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
                  stopped ? "stopped before it ran" : "not run: an earlier step failed",
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

/* Run one step unless it ended already; state gets how it ended ("" = gone). */
static void run_one(struct store *st, struct store_row *parent, const char *id, size_t i,
                    size_t n, char *state, size_t len, char *message, size_t mlen)
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
        job_progress(st, parent->id, 10 + (int)(80 * i / n), progress);
        jobs_run_step(st, &step);
        store_row_clear(&step);
        if (st->ops->get(st, id, &step, NULL) != 0)
            return;
    }
    snprintf(state, len, "%s", text(step.doc, "state"));
    snprintf(message, mlen, "%s", text(step.doc, "statusMessage"));
    store_row_clear(&step);
}

enum steps_outcome steps_run(struct store *st, struct store_row *parent)
{
    json_t *ids = json_object_get(parent->priv, "steps");
    size_t n = json_array_size(ids);
    char state[32], reason[512], message[800];

    for (size_t i = 0; i < n; i++) {
        const char *id = json_string_value(json_array_get(ids, i));

        if (job_stop_requested(parent->id)) {
            snprintf(message, sizeof(message), "stopped after %zu of %zu steps", i, n);
            return end_parent(st, parent, i, "STOPPED", message);
        }
        run_one(st, parent, id ?: "", i, n, state, sizeof(state), reason, sizeof(reason));
        if (strcmp(state, "SUCCESS") == 0)
            continue;
        snprintf(message, sizeof(message), "step %zu of %zu (%s) %s%s%s", i + 1, n, id ?: "",
                 state[0] ? "ended " : "is gone", state, reason[0] ? ": " : "");
        snprintf(message + strlen(message), sizeof(message) - strlen(message), "%s", reason);
        return end_parent(st, parent, i + 1, strcmp(state, "STOPPED") == 0 ? "STOPPED" : "FAILED",
                          message);
    }
    /* From here the parent's own work runs: it can no longer be stopped. */
    if (job_running_close_stop(parent->id)) {
        snprintf(message, sizeof(message), "stopped after all %zu steps, before its own work", n);
        return end_parent(st, parent, n, "STOPPED", message);
    }
    return STEPS_DONE;
}
