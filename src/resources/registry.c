/*
 * registry.c - the job kinds of every resource type, for the worker pool.
 */
#include "resources/machine.h"
#include "resources/resource.h"

extern const struct job_kind image_capture_job;

const struct job_kind *const resource_job_kinds[] = {
    &machine_create_job, &machine_start_job, &machine_stop_job, &machine_restart_job,
    &machine_pause_job, &machine_suspend_job, &machine_delete_job, &image_capture_job, NULL,
};
