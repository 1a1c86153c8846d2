/*
 * system_ops.h - what a System's operations (system_ops.c) and its capture
 * (system_capture.c) share, and their job kinds (registry.c).
 */
#ifndef CIMID_SYSTEM_OPS_H
#define CIMID_SYSTEM_OPS_H

#include <jansson.h>

#include "resources/system.h"

/* Member machines of one System operation that run at once, at most
 * (a build may set it: -DSYSTEM_OPS_AT_ONCE=1 runs them one at a time, for
 * comparison). */
#ifndef SYSTEM_OPS_AT_ONCE
#define SYSTEM_OPS_AT_ONCE 8
#endif
/* How deep Systems may nest in one another for an operation. */
#define SYSTEM_NESTING_MAX 8

/* The ids of the Machines of the System at system_id and of the Systems
 * nested in it (each once, in member order), appended to machines; and,
 * if volumes/networks are not NULL, its own Volumes and Networks.  A
 * member whose resource was deleted on its own is left out. */
int system_members_collect(struct store *st, const char *system_id, json_t *machines,
                           json_t *volumes, json_t *networks, struct cimi_error *err);

/* The machines an operation op reaches, in order (system_startup.c):
 * appended to plan as {"machine": path, "stage": n} and, between two
 * groups, {"wait": seconds, "stage": n, "why": text}; stages ascending.
 * start and stop follow the members' start order, other ops reach every
 * machine at once (stage 0). */
int system_op_plan(struct store *st, const char *system_id, const char *op, json_t *plan,
                   struct cimi_error *err);

/* For a capture: {machine path: {"startOrder": its group's rank in the
 * start order (1, 2, ...), "startDelay"?, "stopDelay"?}} into orders, for
 * every machine of the System and its nested ones; nothing when they all
 * start together. */
int system_start_orders(struct store *st, const char *system_id, json_t *orders,
                        struct cimi_error *err);

/* The capture action: a new SystemTemplate of the System (system_capture.c). */
int system_capture_run(struct cimi_request *req, struct store_row *row, const json_t *action,
                       struct job_spec *job, struct cimi_error *err);

/* Job kinds: a fanned-out operation's parent, a member left untouched, a
 * capture's parent, a wait between two groups of machines. */
extern const struct job_kind system_fanout_job, system_member_job, system_capture_job,
    system_wait_job;

#endif
