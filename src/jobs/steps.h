/*
 * steps.h - nested Jobs: a Job made of steps, each a Job of its own
 * (internal to src/jobs; the public side is job_spec_add_step in jobs.h).
 */
#ifndef CIMID_JOBS_STEPS_H
#define CIMID_JOBS_STEPS_H

#include <jansson.h>
#include <stddef.h>

#include "jobs/jobs.h"

/* How many steps the Job whose private document is priv has. */
size_t steps_of(const json_t *priv);
/* Inside job_create's transaction: write a Job per step of spec, naming
 * parent (not inserted yet), and list them in parent's nestedJobs. */
int steps_create(struct store *st, struct store_row *parent, const struct job_spec *spec,
                 struct cimi_error *err);

enum steps_outcome {
    STEPS_DONE,        /* every step ended SUCCESS: the parent's own work is next */
    STEPS_ENDED,       /* the parent ended (a step failed, or a stop): committed */
    STEPS_UNRECORDED,  /* the parent's end could not be committed */
};

/* In the parent's worker: run the steps not done yet, in order. */
enum steps_outcome steps_run(struct store *st, struct store_row *parent);
/* Inside the caller's transaction: the steps from index from on that have
 * not ended never will: their kinds' cancel, then state ("FAILED" or
 * "STOPPED") with message. */
int steps_end(struct store *st, const struct store_row *parent, size_t from, const char *state,
              const char *message, struct cimi_error *err);

#endif
