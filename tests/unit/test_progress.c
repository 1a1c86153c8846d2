/*
 * test_progress.c - the in-memory records of running Jobs (jobs/progress.c):
 * a claimed Job shows RUNNING; once its outcome is committed the record
 * outlives the run, so a row read before that commit (still QUEUED in the
 * store) shows RUNNING, never QUEUED again; a run whose outcome was not
 * committed leaves the Job as the store has it; ended records are reused
 * oldest first, and a claim always finds a record; a stop is asked only of
 * a running Job of an interruptible kind, once, and shows STOPPING.
 */
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "jobs/jobs.h"

/* The state a Job document the store has QUEUED shows for job_id. */
static const char *shown_state(const char *job_id, json_t **doc)
{
    *doc = json_pack("{s:s}", "state", "QUEUED");
    job_progress_show(job_id, *doc);
    return json_string_value(json_object_get(*doc, "state"));
}

int main(void)
{
    char id[64];
    json_t *doc;
    int claimed = 0;

    CHECK(job_running_begin("jobs/a", false, false) == 0 && job_running("jobs/a"), "a claimed Job is running");
    CHECK(strcmp(shown_state("jobs/a", &doc), "RUNNING") == 0, "and shows RUNNING");
    json_decref(doc);

    job_progress_end("jobs/a", true);
    CHECK(!job_running("jobs/a"), "its run ended: no longer running");
    CHECK(strcmp(shown_state("jobs/a", &doc), "RUNNING") == 0,
          "a row read before its outcome's commit still shows RUNNING");
    json_decref(doc);

    CHECK(job_running_begin("jobs/b", false, false) == 0, "another Job claimed");
    job_progress_end("jobs/b", false);
    CHECK(strcmp(shown_state("jobs/b", &doc), "QUEUED") == 0,
          "a run whose outcome was not committed shows as the store has it");
    json_decref(doc);

    /* 256 running Jobs (as many as workers can be) and 1,000 ended ones:
     * every claim finds a record; the oldest ended records give way. */
    for (int i = 0; i < 1000; i++) {
        snprintf(id, sizeof(id), "jobs/ended-%d", i);
        claimed += job_running_begin(id, false, false) == 0;
        job_progress_end(id, true);
    }
    for (int i = 0; i < 256; i++) {
        snprintf(id, sizeof(id), "jobs/running-%d", i);
        claimed += job_running_begin(id, false, false) == 0;
    }
    CHECK(claimed == 1256, "every claim found a record (%d of 1256)", claimed);
    CHECK(strcmp(shown_state("jobs/ended-999", &doc), "RUNNING") == 0,
          "the latest ended record is still kept");
    json_decref(doc);
    CHECK(strcmp(shown_state("jobs/a", &doc), "QUEUED") == 0,
          "the oldest ended record gave way");
    json_decref(doc);
    CHECK(job_running("jobs/running-0") && job_running("jobs/running-255"),
          "running records are never taken");

    /* Stopping a running Job: only an interruptible one, once. */
    CHECK(!job_stop_request("jobs/running-0") && !job_stop_requested("jobs/running-0"),
          "a Job whose kind cannot be interrupted is not asked to stop");
    CHECK(job_running_begin("jobs/dl", true, false) == 0 && job_running_stoppable("jobs/dl"),
          "an interruptible running Job can be stopped");
    CHECK(job_stop_request("jobs/dl") && job_stop_requested("jobs/dl"), "asked to stop");
    CHECK(!job_stop_request("jobs/dl") && !job_running_stoppable("jobs/dl"), "only once");
    CHECK(strcmp(shown_state("jobs/dl", &doc), "STOPPING") == 0, "it shows STOPPING");
    json_decref(doc);
    job_progress_end("jobs/dl", true);
    CHECK(!job_stop_requested("jobs/dl") && !job_stop_request("jobs/dl"),
          "an ended run is not asked any more");
    CHECK(job_running_begin("jobs/dl2", true, true) == 0 && job_stop_requested("jobs/dl2"),
          "a run of a Job recorded STOPPING (recovery) starts asked to stop");
    return check_summary();
}
