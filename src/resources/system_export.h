/*
 * system_export.h - the Job kind of the `export` action of Systems and
 * SystemTemplates (system_export.c: the request; system_export_job.c: the
 * Job), for registry.c.
 */
#ifndef CIMID_SYSTEM_EXPORT_H
#define CIMID_SYSTEM_EXPORT_H

#include "jobs/jobs.h"

extern const struct job_kind system_export_job;

#endif
