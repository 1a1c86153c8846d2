/*
 * system.h - Systems (DSP0263 clause 5.10): what the System files share.
 *
 *   system.c           the System type: create (SystemCreate), delete, state
 *   system_template.c  SystemTemplates and their componentDescriptors
 *   system_create.c    system_build: a System and all its members from a
 *                      template, in one transaction, with one Job of steps
 *   system_members.c   the member sub-collections (SystemMachine, ...):
 *                      associate and disassociate
 *   system_ops.c       start, stop, ... fanned out to members; state (sysops)
 *   system_export.c    export as OVF (ovfout)
 *   system_import.c    import of OVF packages (ovfin)
 *
 * A member row (systems/{uuid}/machines/{n}) names its resource in the
 * reference attribute of its type (SystemMachine.machine); its private
 * document says {"child": true} when the System created the resource
 * (deleted with it), false when it was associated (left alone).
 */
#ifndef CIMID_SYSTEM_H
#define CIMID_SYSTEM_H

#include <jansson.h>
#include <stdbool.h>

#include "resources/resource.h"

/* system_ops.c (sysops): the System's actions and its state from its members */
extern const struct resource_action system_actions[]; /* start stop restart pause suspend capture export */
void system_refresh(struct cimi_request *req, struct store_row *row);
bool system_action_allowed(const struct store_row *row, const char *op);

/* system_export.c (ovfout): the export action of a System / SystemTemplate */
int system_export_run(struct cimi_request *req, struct store_row *row, const json_t *action,
                      struct job_spec *job, struct cimi_error *err);
int system_template_export_run(struct cimi_request *req, struct store_row *row,
                               const json_t *action, struct job_spec *job, struct cimi_error *err);

/* system_import.c (ovfin): the import collection actions */
int system_import_run(struct cimi_request *req, struct store_row *unused, const json_t *action,
                      struct job_spec *job, struct cimi_error *err);
int system_template_import_run(struct cimi_request *req, struct store_row *unused,
                               const json_t *action, struct job_spec *job, struct cimi_error *err);

/* system_create.c (system): build a System from a SystemTemplate document (by value, hrefs
 * resolved or not) inside the caller's transaction: the System row, every member (CREATING) and
 * the job with its steps; usable by any code holding a cimi_request (an import Job builds one
 * for its tenant). */
int system_build(struct cimi_request *req, const json_t *create /* SystemCreate document */,
                 struct store_row *system, struct job_spec *job, struct cimi_error *err);

/* ---- internal to the system files ---- */

/* One member sub-collection of a System: its attribute ("machines"), item
 * type, the item's reference attribute ("machine") and the member's type. */
struct system_member_kind {
    const char *collection;
    const struct cimi_type *item;
    const char *ref;
    const struct cimi_type *member;
};
/* The eight kinds, in the order members are built (dependencies first). */
extern const struct system_member_kind system_member_kinds[];
extern const size_t system_member_kind_count;
/* The kind whose member type is t (Machine...), or NULL. */
const struct system_member_kind *system_member_kind_of(const struct cimi_type *t);
/* The kind of a member item type (SystemMachine...), or NULL. */
const struct system_member_kind *system_member_kind_of_item(const struct cimi_type *item);

/* Check a SystemTemplate's componentDescriptors (system_template.c):
 * every kind by value or reference, type URI, quantity, #name references. */
int system_template_check_components(struct cimi_request *req, const json_t *doc,
                                     struct cimi_error *err);

/* Delete a System (system_create.c): DELETING, its children deleted by
 * nested Jobs, associated members only disassociated, then the row. */
int system_remove(struct cimi_request *req, struct store_row *row, struct job_spec *job,
                  struct cimi_error *err);

/* Job kinds (registry.c). */
extern const struct job_kind system_create_job, system_delete_job;

#endif
