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
 *   system_startup.c   the order start and stop reach the machines in
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
/* How to call it (system_create.c): create validated as a SystemCreate, hrefs relative
 * (render_relativize); req->who names the owner.  It fills system (id, doc with state
 * CREATING, priv) but does not insert it: the caller inserts it (create_item does), sets
 * job's action, target and tenant, creates the Job (job_create) and queues it after the
 * commit.  Members, nested Systems and member items are inserted.  If the transaction
 * does not commit after it returned 0, call system_abort_members(req, system->id) before
 * the rollback (placements given back). */

/* ---- internal to the system files ---- */

/* One kind of System member: its sub-collection ("machines"), item type
 * (SystemMachine), the item's reference attribute ("machine"), the member's
 * type (Machine), the componentDescriptor attribute of its template
 * ("machineTemplate"), the template's type and the create document's. */
struct system_member_kind {
    const char *collection;
    const struct cimi_type *item;
    const char *ref;
    const struct cimi_type *member;
    const char *template_attr;
    const struct cimi_type *template_type;
    const struct cimi_type *create_type;
};
/* The eight kinds, in the order members are built (dependencies first). */
extern const struct system_member_kind system_member_kinds[];
extern const size_t system_member_kind_count;
/* The kind whose member type is t (Machine...), or NULL. */
const struct system_member_kind *system_member_kind_of(const struct cimi_type *t);
/* The kind of a member item type (SystemMachine...), or NULL. */
const struct system_member_kind *system_member_kind_of_item(const struct cimi_type *item);

/* How deep SystemTemplates nest (a component that is a System whose
 * template has System components ...), and how many members one System
 * may have in all (docs/SECURITY.md). */
#define SYSTEM_MAX_DEPTH 4
#define SYSTEM_MAX_MEMBERS 500

/* Check a SystemTemplate's componentDescriptors (system_template.c):
 * every kind by value or reference, type URI, quantity, #name references
 * (docs/SYSTEMS.md); nested templates by value to depth SYSTEM_MAX_DEPTH. */
int system_template_check_components(struct cimi_request *req, const json_t *doc,
                                     struct cimi_error *err);
/* The kind a componentDescriptor makes (from its type URI), or NULL. */
const struct system_member_kind *system_component_kind(const json_t *descriptor);
/* A descriptor's quantity (default 1). */
long system_component_quantity(const json_t *descriptor);
/* The name of member i (0-based) of a descriptor made quantity times:
 * "web" alone for one, "web-1", "web-2" ... for more; "" if unnamed. */
void system_component_member_name(const json_t *descriptor, long i, char *out, size_t len);

/* The delete of a System (system_jobs.c), in the caller's transaction:
 * it and its nested Systems DELETING, the remove hook of every member it
 * created (nested Systems' too) called, their Jobs the steps of job
 * (machines first), op "system.delete" which removes the System's rows
 * once they all succeeded.  Associated members are left alone. */
int system_delete_prepare(struct cimi_request *req, struct store_row *system,
                          struct job_spec *job, struct cimi_error *err);
/* A create that made the members of system_id did not commit: their
 * types' abort_create (placements given back). */
void system_abort_members(struct cimi_request *req, const char *system_id);

/* Job kinds (registry.c). */
extern const struct job_kind system_create_job, system_delete_job;

#endif
