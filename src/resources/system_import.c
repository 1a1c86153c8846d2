/*
 * system_import.c - PLACEHOLDER (owner: ovfin): the import actions of the
 * System and SystemTemplate collections (OVF / OVA packages).  Answers 501
 * until ovfin replaces this file.
 */
#include "resources/system.h"

int system_import_run(struct cimi_request *req, struct store_row *unused, const json_t *action,
                      struct job_spec *job, struct cimi_error *err)
{
    (void)req, (void)unused, (void)action, (void)job;
    return err_set(err, 501, "action", "not implemented yet");
}

int system_template_import_run(struct cimi_request *req, struct store_row *unused,
                               const json_t *action, struct job_spec *job, struct cimi_error *err)
{
    (void)req, (void)unused, (void)action, (void)job;
    return err_set(err, 501, "action", "not implemented yet");
}
