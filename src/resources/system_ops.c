/*
 * system_ops.c - PLACEHOLDER (owner: sysops): the System's actions (start,
 * stop, restart, pause, suspend, capture, export) fanned out to its
 * members, and its state derived from them.  Until sysops replaces this
 * file every action answers 501 and none is offered.
 */
#include "resources/system.h"

static int not_implemented(struct cimi_request *req, struct store_row *row, const json_t *action,
                           struct job_spec *job, struct cimi_error *err)
{
    (void)req, (void)row, (void)action, (void)job;
    return err_set(err, 501, "action", "not implemented yet");
}

const struct resource_action system_actions[] = {
    {"start", not_implemented},   {"stop", not_implemented},
    {"restart", not_implemented}, {"pause", not_implemented},
    {"suspend", not_implemented}, {"capture", not_implemented},
    {"export", system_export_run}, {NULL, NULL},
};

void system_refresh(struct cimi_request *req, struct store_row *row)
{
    (void)req, (void)row;
}

bool system_action_allowed(const struct store_row *row, const char *op)
{
    (void)row, (void)op;
    return false;
}
