/*
 * job.c - the Job resource as clients see it: read, delete when finished,
 * and the "stop" action while it is queued, or while it runs when its kind
 * can be interrupted (downloads; jobs_stop).
 */
#include <string.h>

#include "resources/resource.h"

static bool job_allowed(const struct store_row *row, const char *op)
{
    const char *state = json_string_value(json_object_get(row->doc, "state"));

    if (state == NULL)
        return false;
    if (strcmp(op, "stop") == 0)
        return jobs_stoppable(row, state);
    if (strcmp(op, "delete") == 0)
        return strcmp(state, "SUCCESS") == 0 || strcmp(state, "FAILED") == 0 ||
               strcmp(state, "STOPPED") == 0;
    return false;
}

static int action_stop(struct cimi_request *req, struct store_row *row, const json_t *action,
                       struct job_spec *job, struct cimi_error *err)
{
    (void)action;
    (void)job;
    return jobs_stop(req->st, row, err);
}

/* A Job a worker runs shows RUNNING and how far it got (kept in memory:
 * jobs/progress.c; the store has it QUEUED until its outcome). */
static void job_refresh(struct cimi_request *req, struct store_row *row)
{
    const char *state = json_string_value(json_object_get(row->doc, "state"));

    (void)req;
    if (state != NULL && (strcmp(state, "QUEUED") == 0 || strcmp(state, "RUNNING") == 0 ||
                          strcmp(state, "STOPPING") == 0))
        job_progress_show(row->id, row->doc);
}

static const struct resource_action job_actions[] = {
    {"stop", action_stop},
    {NULL, NULL},
};

const struct resource_ops job_ops = {
    .provider_only = true,
    .consumer_deletes = true,  /* a finished Job (job_allowed) */
    .refresh = job_refresh,
    .allowed = job_allowed,
    .reads_without_priv = true,  /* both look at the document only */
    .actions = job_actions,
};
