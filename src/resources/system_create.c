/*
 * system_create.c - SystemCreate: a System and all its members built from a
 * SystemTemplate in the request's transaction, one Job with a nested Job
 * per member (system_build), and the System's delete.
 */
#include <string.h>

#include "resources/system.h"

int system_build(struct cimi_request *req, const json_t *create, struct store_row *system,
                 struct job_spec *job, struct cimi_error *err)
{
    (void)req, (void)create, (void)system, (void)job;
    return err_set(err, 501, NULL, "not implemented yet");
}

int system_remove(struct cimi_request *req, struct store_row *row, struct job_spec *job,
                  struct cimi_error *err)
{
    (void)job;
    return req->st->ops->remove(req->st, row->id, err);
}

static int system_create_run(struct job_context *ctx, struct cimi_error *err)
{
    return job_finish(ctx->st, ctx->job_id, true, NULL, err);
}

const struct job_kind system_create_job = {.op = "system.create", .run = system_create_run};

static int system_delete_run(struct job_context *ctx, struct cimi_error *err)
{
    return job_finish(ctx->st, ctx->job_id, true, NULL, err);
}

const struct job_kind system_delete_job = {.op = "system.delete", .run = system_delete_run};
