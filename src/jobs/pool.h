/*
 * pool.h - what jobs.c (the worker pool) provides to the other files of
 * src/jobs (internal).
 */
#ifndef CIMID_JOBS_POOL_H
#define CIMID_JOBS_POOL_H

#include <jansson.h>
#include <stdbool.h>

#include "jobs/jobs.h"

/* The pool's lock: it also guards the queue (queue.h). */
void jobs_lock(void);
void jobs_unlock(void);
/* Are the workers started (and the queue in use)? */
bool jobs_started(void);
/* A new Job row for spec (not inserted). */
int jobs_row_new(const struct job_spec *spec, struct store_row *row, struct cimi_error *err);
/* The kind named in a Job's private document, or NULL. */
const struct job_kind *jobs_kind_of(const json_t *priv);
/* Can the Job be stopped once it runs? Its kind says so, or it has steps. */
bool jobs_kind_interruptible(const json_t *priv);
/* Run the kind's cancel of the Job (inside the caller's transaction). */
void jobs_cancel_kind(struct store *st, const struct store_row *job);
/* Run a step in this (the parent's) worker: claimed, run, ended. true when
 * its outcome was committed. */
bool jobs_run_step(struct store *st, struct store_row *step);

#endif
