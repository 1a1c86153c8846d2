/*
 * test_steps.c - nested Jobs (jobs/steps.c) with job kinds made for the
 * test: steps run in order in the parent's worker, then the parent's own
 * work; a failed step fails the parent and the steps after it never run
 * (their cancel and the parent's undo the request); a stop of a queued
 * parent stops its steps; a stop of a running parent takes effect after the
 * current step; a step is not stopped on its own; recovery re-runs a
 * parent's unfinished steps only, and ends a parent recorded STOPPING.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "jobs/jobs.h"
#include "store/store.h"

static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static char ran[1024];        /* "name name ..." of the kinds' runs, in order */
static int cancels;           /* kind cancels */
static volatile int gate_open;

static const char *name_of(struct job_context *ctx)
{
    return json_string_value(json_object_get(ctx->params, "name")) ?: "?";
}

static void note(struct job_context *ctx)
{
    pthread_mutex_lock(&log_lock);
    snprintf(ran + strlen(ran), sizeof(ran) - strlen(ran), "%s ", name_of(ctx));
    pthread_mutex_unlock(&log_lock);
}

static int run_ok(struct job_context *ctx, struct cimi_error *err)
{
    note(ctx);
    return job_complete(ctx->st, ctx->job_id, NULL, NULL, NULL, true, "ok", err);
}

static int run_fail(struct job_context *ctx, struct cimi_error *err)
{
    note(ctx);
    return job_complete(ctx->st, ctx->job_id, NULL, NULL, NULL, false, "broken", err);
}

static int run_gate(struct job_context *ctx, struct cimi_error *err)
{
    while (!gate_open)
        usleep(1000);
    return run_ok(ctx, err);
}

static void cancel(struct job_context *ctx)
{
    (void)ctx;
    __sync_fetch_and_add(&cancels, 1);
}

static const struct job_kind ok_kind = {"t.ok", run_ok, cancel};
static const struct job_kind fail_kind = {"t.fail", run_fail, cancel};
static const struct job_kind gate_kind = {"t.gate", run_gate, cancel};
static const struct job_kind *const kinds[] = {&ok_kind, &fail_kind, &gate_kind, NULL};

static void spec_of(struct job_spec *spec, const char *op, const char *name)
{
    job_spec_init(spec);
    snprintf(spec->action, sizeof(spec->action), "test");
    snprintf(spec->target, sizeof(spec->target), "things/%s", name);
    snprintf(spec->op, sizeof(spec->op), "%s", op);
    snprintf(spec->tenant, sizeof(spec->tenant), "a");
    spec->params = json_pack("{s:s}", "name", name);
}

/* Create a Job (op, named name) with steps "op:name,op:name", committed;
 * its row into job (documents kept: hand it to jobs_enqueue, or clear it). */
static void create(struct store *st, const char *op, const char *name, const char *steps,
                   struct store_row *job)
{
    struct cimi_error err;
    struct job_spec spec, step;
    char list[256], *save = NULL;

    spec_of(&spec, op, name);
    snprintf(list, sizeof(list), "%s", steps);
    for (char *s = strtok_r(list, ",", &save); s; s = strtok_r(NULL, ",", &save)) {
        char *colon = strchr(s, ':');
        *colon = '\0';
        spec_of(&step, s, colon + 1);
        job_spec_add_step(&spec, &step);
        job_spec_clear(&step);
    }
    st->ops->begin(st, &err);
    CHECK(job_create(st, &spec, job, &err) == 0 && st->ops->commit(st, &err) == 0,
          "Job %s with steps %s created", name, steps);
    job_spec_clear(&spec);
}

static json_t *doc_of(struct store *st, const char *id)
{
    struct store_row row;
    json_t *doc;

    memset(&row, 0, sizeof(row));
    if (st->ops->get(st, id, &row, NULL) != 0)
        return json_object();
    doc = json_incref(row.doc);
    store_row_clear(&row);
    return doc;
}

static const char *state_of(struct store *st, const char *id, char *buf, size_t len)
{
    json_t *doc = doc_of(st, id);

    snprintf(buf, len, "%s", json_string_value(json_object_get(doc, "state")) ?: "");
    json_decref(doc);
    return buf;
}

/* The id of step i of the parent (from its nestedJobs). */
static const char *step_id(struct store *st, const char *parent, size_t i, char *buf, size_t len)
{
    json_t *doc = doc_of(st, parent);

    snprintf(buf, len, "%s",
             json_string_value(json_object_get(json_array_get(json_object_get(doc, "nestedJobs"), i),
                                               "href")) ?: "");
    json_decref(doc);
    return buf;
}

static void wait_end(const char *id, struct job_end *end)
{
    CHECK(jobs_wait(id, 20000, end), "%s ended (%s: %s)", id, end->state, end->message);
}

/* Stop the Job as the stop action does: refreshed, inside a transaction. */
static int stop(struct store *st, const char *id)
{
    struct cimi_error err;
    struct store_row row;
    int rc;

    memset(&row, 0, sizeof(row));
    st->ops->begin(st, &err);
    rc = st->ops->get(st, id, &row, &err);
    if (rc == 0) {
        job_progress_show(row.id, row.doc);
        rc = jobs_stop(st, &row, &err);
    }
    if (rc == 0)
        st->ops->commit(st, &err);
    else
        st->ops->rollback(st);
    store_row_clear(&row);
    return rc == 0 ? 0 : err.status;
}

static void set_state(struct store *st, const char *id, const char *state)
{
    struct cimi_error err;
    struct store_row row;

    memset(&row, 0, sizeof(row));
    st->ops->begin(st, &err);
    st->ops->get(st, id, &row, &err);
    json_object_set_new(row.doc, "state", json_string(state));
    st->ops->update(st, &row, &err);
    st->ops->commit(st, &err);
    store_row_clear(&row);
}

int main(void)
{
    char dir[] = "/tmp/cimid-steps-XXXXXX", db[300], s1[128], s2[128], s3[128], buf[32];
    struct cimi_error err;
    struct store_row job, blocker;
    struct job_end end;
    struct store *st;
    json_t *doc;

    if (mkdtemp(dir) == NULL)
        return 1;
    snprintf(db, sizeof(db), "%s/cimid.db", dir);
    store_configure(&store_sqlite, db);
    st = store_for_thread(&err);
    CHECK(st != NULL, "store opens");
    CHECK(jobs_start(&(struct jobs_config){1, 1, 100, 60}, kinds) == 0, "one job worker");

    /* Every step succeeds: in order, then the parent's own work. */
    create(st, "t.ok", "P", "t.ok:a,t.ok:b", &job);
    doc = json_incref(job.doc);
    CHECK(json_array_size(json_object_get(doc, "nestedJobs")) == 2, "nestedJobs lists 2 steps");
    json_decref(doc);
    step_id(st, job.id, 0, s1, sizeof(s1));
    doc = doc_of(st, s1);
    CHECK(strcmp(json_string_value(json_object_get(json_object_get(doc, "parentJob"), "href")) ?: "",
                 job.id) == 0, "a step's parentJob names its parent");
    json_decref(doc);
    snprintf(s3, sizeof(s3), "%s", job.id);
    jobs_enqueue(&job, NULL);
    store_row_clear(&job);
    wait_end(s3, &end);
    CHECK(strcmp(end.state, "SUCCESS") == 0, "parent SUCCESS");
    CHECK(strcmp(ran, "a b P ") == 0, "steps in order, then the parent (%s)", ran);
    CHECK(strcmp(state_of(st, s1, buf, sizeof(buf)), "SUCCESS") == 0, "step SUCCESS");
    CHECK(stop(st, s1) == 409, "a finished step cannot be stopped");

    /* A failed step fails the parent; the step after it never runs. */
    ran[0] = '\0';
    cancels = 0;
    create(st, "t.ok", "Q", "t.ok:a,t.fail:b,t.ok:c", &job);
    snprintf(s3, sizeof(s3), "%s", job.id);
    jobs_enqueue(&job, NULL);
    store_row_clear(&job);
    wait_end(s3, &end);
    CHECK(strcmp(end.state, "FAILED") == 0, "parent FAILED when a step failed");
    CHECK(strstr(end.message, "step 2 of 3") && strstr(end.message, "broken"),
          "its statusMessage names the step and the reason (%s)", end.message);
    CHECK(strcmp(ran, "a b ") == 0, "neither step c nor the parent's work ran (%s)", ran);
    step_id(st, s3, 2, s2, sizeof(s2));
    CHECK(strcmp(state_of(st, s2, buf, sizeof(buf)), "FAILED") == 0, "step c FAILED, not run");
    CHECK(cancels == 2, "step c's and the parent's cancel undid the request (%d)", cancels);

    /* A queued parent stopped: its steps are stopped too. */
    ran[0] = '\0';
    cancels = 0;
    gate_open = 0;
    create(st, "t.gate", "G", "", &blocker);
    snprintf(s1, sizeof(s1), "%s", blocker.id);
    jobs_enqueue(&blocker, NULL);
    store_row_clear(&blocker);
    create(st, "t.ok", "R", "t.ok:a,t.ok:b", &job);
    snprintf(s3, sizeof(s3), "%s", job.id);
    jobs_enqueue(&job, NULL);
    store_row_clear(&job);
    step_id(st, s3, 0, s2, sizeof(s2));
    CHECK(stop(st, s2) == 409, "a step is not stopped on its own");
    CHECK(stop(st, s3) == 0, "the queued parent is stopped");
    gate_open = 1;
    wait_end(s1, &end);
    CHECK(strcmp(state_of(st, s3, buf, sizeof(buf)), "STOPPED") == 0, "parent STOPPED");
    CHECK(strcmp(state_of(st, s2, buf, sizeof(buf)), "STOPPED") == 0, "its step STOPPED");
    CHECK(cancels == 3, "the parent's and both steps' cancel ran (%d)", cancels);

    /* A running parent stopped during its first step: the second never runs. */
    ran[0] = '\0';
    gate_open = 0;
    create(st, "t.ok", "S", "t.gate:a,t.ok:b", &job);
    snprintf(s3, sizeof(s3), "%s", job.id);
    jobs_enqueue(&job, NULL);
    store_row_clear(&job);
    for (int i = 0; i < 2000 && !job_running(s3); i++)
        usleep(1000);
    CHECK(stop(st, s3) == 0, "the running parent accepts stop");
    CHECK(strcmp(state_of(st, s3, buf, sizeof(buf)), "STOPPING") == 0, "recorded STOPPING");
    gate_open = 1;
    wait_end(s3, &end);
    CHECK(strcmp(end.state, "STOPPED") == 0 && strstr(end.message, "1 of 2"),
          "STOPPED after the current step (%s)", end.message);
    CHECK(strcmp(ran, "a ") == 0, "step b never ran (%s)", ran);
    step_id(st, s3, 1, s2, sizeof(s2));
    CHECK(strcmp(state_of(st, s2, buf, sizeof(buf)), "STOPPED") == 0, "step b STOPPED");

    /* Recovery: the first step had ended SUCCESS before the crash. */
    ran[0] = '\0';
    create(st, "t.ok", "T", "t.ok:a,t.ok:b", &job);
    snprintf(s3, sizeof(s3), "%s", job.id);
    store_row_clear(&job);
    step_id(st, s3, 0, s1, sizeof(s1));
    set_state(st, s1, "SUCCESS");
    CHECK(jobs_recover(st) == 1, "recovery queues the parent alone, not its steps");
    wait_end(s3, &end);
    CHECK(strcmp(end.state, "SUCCESS") == 0, "recovered parent SUCCESS");
    CHECK(strcmp(ran, "b T ") == 0, "only the unfinished step ran again (%s)", ran);

    /* Recovery of a parent whose stop a crash interrupted. */
    ran[0] = '\0';
    create(st, "t.ok", "U", "t.ok:a", &job);
    snprintf(s3, sizeof(s3), "%s", job.id);
    store_row_clear(&job);
    set_state(st, s3, "STOPPING");
    CHECK(jobs_recover(st) == 1, "the STOPPING parent is recovered");
    wait_end(s3, &end);
    CHECK(strcmp(end.state, "STOPPED") == 0, "it ends STOPPED (%s)", end.message);
    CHECK(ran[0] == '\0', "nothing ran (%s)", ran);

    jobs_shutdown(5);
    store_release_thread();
    return check_summary();
}
