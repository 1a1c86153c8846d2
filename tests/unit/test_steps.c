/*
 * test_steps.c - nested Jobs (jobs/steps.c) with job kinds made for the
 * test: steps run in order in the parent's worker, then the parent's own
 * work; a failed step fails the parent and the steps after it never run
 * (their cancel and the parent's undo the request); a stop of a queued
 * parent stops its steps; a stop of a running parent takes effect after the
 * current step; a step is not stopped on its own; recovery re-runs a
 * parent's unfinished steps only, and ends a parent recorded STOPPING.
 * Steps in stages: the steps of a stage run at once, never more than the
 * parent's bound, stages in order; a failed step halts its stage without
 * fan-out; with fan-out every step is tried and the parent's own kind
 * names the failed ones (job_steps_failed); recovery of a staged parent.
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

/* Steps that meet: the k-th to start waits until the whole group of
 * meet_group it belongs to has started (up to 20 s), so a group is under
 * way at once exactly when its steps run at once. */
static int meet_group, started, running_now, running_max;

static int run_meet(struct job_context *ctx, struct cimi_error *err)
{
    int group_end;

    pthread_mutex_lock(&log_lock);
    group_end = (started / meet_group + 1) * meet_group;
    started++;
    if (++running_now > running_max)
        running_max = running_now;
    pthread_mutex_unlock(&log_lock);
    for (int i = 0; i < 20000 && __sync_fetch_and_add(&started, 0) < group_end; i++)
        usleep(1000);
    pthread_mutex_lock(&log_lock);
    running_now--;
    pthread_mutex_unlock(&log_lock);
    return run_ok(ctx, err);
}

/* A fan-out parent's own work: its outcome from its steps'. */
static int run_report(struct job_context *ctx, struct cimi_error *err)
{
    char message[1024];
    int failed = job_steps_failed(ctx->st, ctx->job_id, message, sizeof(message), err);

    note(ctx);
    if (failed < 0)
        return -1;
    return job_complete(ctx->st, ctx->job_id, NULL, NULL, NULL, failed == 0, message, err);
}

static const struct job_kind ok_kind = {"t.ok", run_ok, cancel};
static const struct job_kind fail_kind = {"t.fail", run_fail, cancel};
static const struct job_kind gate_kind = {"t.gate", run_gate, cancel};
static const struct job_kind meet_kind = {"t.meet", run_meet, cancel};
static const struct job_kind report_kind = {"t.report", run_report, cancel};
static const struct job_kind *const kinds[] = {&ok_kind,   &fail_kind,   &gate_kind,
                                               &meet_kind, &report_kind, NULL};

static void spec_of(struct job_spec *spec, const char *op, const char *name)
{
    job_spec_init(spec);
    snprintf(spec->action, sizeof(spec->action), "test");
    snprintf(spec->target, sizeof(spec->target), "things/%s", name);
    snprintf(spec->op, sizeof(spec->op), "%s", op);
    snprintf(spec->tenant, sizeof(spec->tenant), "a");
    spec->params = json_pack("{s:s}", "name", name);
}

/* Create a Job (op, named name) with steps "op:name,op:name@stage",
 * committed (at_once, fan_out: its steps_at_once and steps_fan_out); its
 * row into job (documents kept: hand it to jobs_enqueue, or clear it). */
static void create_staged(struct store *st, const char *op, const char *name, const char *steps,
                          int at_once, bool fan_out, struct store_row *job)
{
    struct cimi_error err;
    struct job_spec spec, step;
    char list[512], *save = NULL;

    spec_of(&spec, op, name);
    spec.steps_at_once = at_once;
    spec.steps_fan_out = fan_out;
    snprintf(list, sizeof(list), "%s", steps);
    for (char *s = strtok_r(list, ",", &save); s; s = strtok_r(NULL, ",", &save)) {
        char *colon = strchr(s, ':'), *at = strchr(s, '@');
        *colon = '\0';
        if (at != NULL)
            *at = '\0';
        spec_of(&step, s, colon + 1);
        if (at != NULL)
            job_spec_add_step_in_stage(&spec, &step, atoi(at + 1));
        else
            job_spec_add_step(&spec, &step);
        job_spec_clear(&step);
    }
    st->ops->begin(st, &err);
    CHECK(job_create(st, &spec, job, &err) == 0 && st->ops->commit(st, &err) == 0,
          "Job %s with steps %s created", name, steps);
    job_spec_clear(&spec);
}

static void create(struct store *st, const char *op, const char *name, const char *steps,
                   struct store_row *job)
{
    create_staged(st, op, name, steps, 0, false, job);
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

/* Create, queue and wait for a staged Job; its id into id. */
static void run_staged(struct store *st, const char *op, const char *name, const char *steps,
                       int at_once, bool fan_out, char *id, size_t len, struct job_end *end)
{
    struct store_row job;

    create_staged(st, op, name, steps, at_once, fan_out, &job);
    snprintf(id, len, "%s", job.id);
    jobs_enqueue(&job, NULL);
    store_row_clear(&job);
    wait_end(id, end);
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

    /* One stage of 6 steps, 3 at once: two groups of 3 meet, never more. */
    ran[0] = '\0';
    meet_group = 3;
    run_staged(st, "t.ok", "V", "t.meet:a@0,t.meet:b@0,t.meet:c@0,t.meet:d@0,t.meet:e@0,t.meet:f@0",
               3, false, s3, sizeof(s3), &end);
    CHECK(strcmp(end.state, "SUCCESS") == 0, "the parallel parent SUCCESS (%s)", end.message);
    CHECK(started == 6 && running_max == 3, "its steps ran 3 at once, never more (%d, %d)",
          started, running_max);
    CHECK(strlen(ran) == 14 && strcmp(ran + 12, "V ") == 0, "all six, then the parent (%s)", ran);

    /* Stages run in order: c only after both steps of the first stage. */
    ran[0] = '\0';
    started = running_max = 0;
    meet_group = 2;
    run_staged(st, "t.ok", "W", "t.meet:a@0,t.meet:b@0,t.ok:c@1,t.ok:d@2", 4, false, s3,
               sizeof(s3), &end);
    CHECK(strcmp(end.state, "SUCCESS") == 0 && running_max == 2,
          "a stage of two ran at once (%s, %d)", end.state, running_max);
    CHECK(strcmp(ran + 4, "c d W ") == 0, "the later stages after it, in order (%s)", ran);

    /* Without fan-out a failed step halts its stage: the steps under way
     * end, those not begun never run, nor the later stages. */
    ran[0] = '\0';
    gate_open = 0;
    create_staged(st, "t.ok", "X", "t.gate:b@0,t.fail:a@0,t.ok:c@0,t.ok:d@0,t.ok:e@1", 2, false,
                  &job);
    snprintf(s3, sizeof(s3), "%s", job.id);
    jobs_enqueue(&job, NULL);
    store_row_clear(&job);
    /* One of the two takes b and waits at the gate; the other takes a. */
    step_id(st, s3, 1, s1, sizeof(s1));
    for (int i = 0; i < 20000 && strcmp(state_of(st, s1, buf, sizeof(buf)), "FAILED") != 0; i++)
        usleep(1000);
    gate_open = 1;
    wait_end(s3, &end);
    CHECK(strcmp(end.state, "FAILED") == 0 && strstr(end.message, "step 2 of 5") &&
          strstr(end.message, "broken"), "the parent FAILED naming step 2 (%s)", end.message);
    CHECK(strcmp(ran, "a b ") == 0, "the step under way ended; c, d, e never ran (%s)", ran);
    step_id(st, s3, 3, s2, sizeof(s2));
    CHECK(strcmp(state_of(st, s2, buf, sizeof(buf)), "FAILED") == 0, "step d FAILED, not run");
    step_id(st, s3, 0, s2, sizeof(s2));
    CHECK(strcmp(state_of(st, s2, buf, sizeof(buf)), "SUCCESS") == 0, "step b SUCCESS");

    /* Fan-out: every step is tried; the parent names the one that failed. */
    ran[0] = '\0';
    run_staged(st, "t.report", "Y", "t.ok:a@0,t.fail:b@0,t.ok:c@0,t.ok:d@1", 2, true, s3,
               sizeof(s3), &end);
    CHECK(strcmp(end.state, "FAILED") == 0 && strstr(end.message, "1 of 4 steps failed") &&
          strstr(end.message, "things/b: broken") && !strstr(end.message, "things/a"),
          "the fan-out parent FAILED naming things/b only (%s)", end.message);
    CHECK(strlen(ran) == 10 && strcmp(ran + 6, "d Y ") == 0, "every step ran, then the parent (%s)",
          ran);
    step_id(st, s3, 2, s2, sizeof(s2));
    CHECK(strcmp(state_of(st, s2, buf, sizeof(buf)), "SUCCESS") == 0, "step c SUCCESS");
    run_staged(st, "t.report", "Z", "t.ok:a@0,t.ok:b@0", 2, true, s3, sizeof(s3), &end);
    CHECK(strcmp(end.state, "SUCCESS") == 0 && strstr(end.message, "all 2 steps succeeded"),
          "a fan-out whose steps all succeed SUCCESS (%s)", end.message);

    /* A fan-out step at sequential bound: still every step tried. */
    ran[0] = '\0';
    run_staged(st, "t.report", "F", "t.fail:a,t.ok:b", 0, true, s3, sizeof(s3), &end);
    CHECK(strcmp(end.state, "FAILED") == 0 && strcmp(ran, "a b F ") == 0,
          "one at a time, fan-out: b ran after a failed (%s)", ran);

    /* A stage number smaller than the previous step's is refused. */
    {
        struct job_spec p, q;
        spec_of(&p, "t.ok", "bad");
        spec_of(&q, "t.ok", "q");
        CHECK(job_spec_add_step_in_stage(&p, &q, 2) == 0 &&
              job_spec_add_step_in_stage(&p, &q, 1) == -1 && job_spec_add_step(&p, &q) == 0,
              "stages only grow");
        job_spec_clear(&p);
        job_spec_clear(&q);
    }

    /* Recovery of a staged parent: the ended steps are skipped. */
    ran[0] = '\0';
    create_staged(st, "t.report", "R2", "t.ok:a@0,t.ok:b@0,t.fail:c@0,t.ok:d@1", 3, true, &job);
    snprintf(s3, sizeof(s3), "%s", job.id);
    store_row_clear(&job);
    step_id(st, s3, 0, s1, sizeof(s1));
    set_state(st, s1, "SUCCESS");
    step_id(st, s3, 2, s1, sizeof(s1));
    set_state(st, s1, "FAILED");
    CHECK(jobs_recover(st) == 1, "recovery queues the staged parent alone");
    wait_end(s3, &end);
    CHECK(strcmp(ran, "b d R2 ") == 0, "only b and d ran again, then the parent (%s)", ran);
    CHECK(strcmp(end.state, "FAILED") == 0 && strstr(end.message, "1 of 4 steps failed"),
          "the step that had failed before still counts (%s)", end.message);

    jobs_shutdown(5);
    store_release_thread();
    return check_summary();
}
