/*
 * system_export.c - PLACEHOLDER (owner: ovfout): the export action of a
 * System and of a SystemTemplate (an OVA).  Answers 501 until ovfout
 * replaces this file.
 */
#include "resources/system.h"

int system_export_run(struct cimi_request *req, struct store_row *row, const json_t *action,
                      struct job_spec *job, struct cimi_error *err)
{
    (void)req, (void)row, (void)action, (void)job;
    return err_set(err, 501, "action", "not implemented yet");
}

int system_template_export_run(struct cimi_request *req, struct store_row *row,
                               const json_t *action, struct job_spec *job, struct cimi_error *err)
{
    (void)req, (void)row, (void)action, (void)job;
    return err_set(err, 501, "action", "not implemented yet");
}
