/*
 * resource.h - type-specific behaviour behind one interface.
 *
 * The generic handlers in src/cimi/handlers.c do everything CIMI types share
 * (read, list, query, validate, update, delete, Jobs).  Where a type really
 * differs, its struct resource_ops says how: what a create does, which
 * operations are allowed now, what an action does.  A NULL hook means "the
 * generic behaviour".  A type with no behaviour at all (most templates and
 * configurations) uses resource_plain_ops.
 */
#ifndef CIMID_RESOURCE_H
#define CIMID_RESOURCE_H

#include <jansson.h>
#include <stdbool.h>

#include "cimi/request.h"
#include "jobs/jobs.h"
#include "store/store.h"
#include "util/error.h"

struct resource_action {
    const char *name;  /* "start": rel http://schemas.dmtf.org/cimi/1/action/start */
    /* Run inside the request's transaction; fills job (op "" = done now). */
    int (*run)(struct cimi_request *req, struct store_row *row, const json_t *action,
               struct job_spec *job, struct cimi_error *err);
};

struct resource_ops {
    /* Consumers cannot create, edit or delete (Job, ResourceMetadata). */
    bool provider_only;
    /* Only the provider adds items (MachineSnapshot: taking a snapshot
     * lists it); consumers may still edit or delete them (allowed). */
    bool provider_creates;
    /* ... except delete, where allowed says so (a finished Job). */
    bool consumer_deletes;
    /* Only administrators see it (Host): others get 403, and the
     * CloudEntryPoint does not show them the collection. */
    bool admin_only;
    /* A create in a sub-collection of this type changes the parent: the
     * parent's operation it needs ("attach": a Machine's volumes); NULL =
     * just that the principal may change the parent. */
    const char *parent_op;
    /* List delete before edit: clients take an attachment's first
     * operation to detach it (MachineVolume, MachineNetworkInterface). */
    bool delete_first;
    /* Body type of a create; NULL = the type itself (templates, configurations). */
    const struct cimi_type *create_input;

    /* Create from a validated input document (read-only attributes already
     * removed): fill row->id, row->doc, row->priv and the job.  When the
     * collection is a sub-collection (machines/{id}/volumes), row->parent
     * holds the parent's path on entry (the principal may change it);
     * otherwise it is "".  NULL = store the input as it is, synchronously. */
    int (*create)(struct cimi_request *req, json_t *input, struct store_row *row,
                  struct job_spec *job, struct cimi_error *err);
    /* The transaction of a successful create did not commit: undo what
     * create did outside the store (a host opened, a placement booked). */
    void (*abort_create)(struct cimi_request *req, struct store_row *row);
    /* Check a document about to be stored by create or update (value ranges,
     * references). NULL = nothing more than the generic checks. */
    int (*check)(struct cimi_request *req, json_t *doc, struct cimi_error *err);
    /* After an update was merged into row->doc and checked (before = the
     * document as it was): may refuse it or start a job.  NULL = just store it. */
    int (*update)(struct cimi_request *req, const json_t *before, struct store_row *row,
                  struct job_spec *job, struct cimi_error *err);
    /* Delete; NULL = remove the row at once.  May instead start a job. */
    int (*remove)(struct cimi_request *req, struct store_row *row, struct job_spec *job,
                  struct cimi_error *err);
    /* Bring runtime attributes (state) up to date before rendering. */
    void (*refresh)(struct cimi_request *req, struct store_row *row);
    /* Neither refresh nor allowed looks at the private document, except at
     * its member read_priv_member (NULL = none): a GET of one resource
     * parses only that (resource_load_for_read). */
    bool reads_without_priv;
    const char *read_priv_member;
    /* The "state" refresh would give the rows of n index entries (store.h),
     * from the entries alone, into states[0..n) (a collection read asks in
     * batches); a type that sets it promises that refresh changes no other
     * attribute a filter can name from the index (id, name, created,
     * updated).  Collection reads use the store's index for types with no
     * refresh or with this hook (read.c).  The results are static or the
     * entries'. */
    void (*indexed_states)(struct cimi_request *req, struct store_entry *const *entries,
                           size_t n, const char **states);
    /* Is the operation (rel "edit", "delete" or an action name) allowed now?
     * Decided from the row alone; see also refuse. */
    bool (*allowed)(const struct store_row *row, const char *op);
    /* What allowed cannot see in the row: other rows that keep op from
     * succeeding now (a Volume attached, a Network in use).  0, or -1 with
     * err (409).  NULL = nothing. */
    int (*refuse)(struct cimi_request *req, const struct store_row *row, const char *op,
                  struct cimi_error *err);
    /* Actions, {NULL} terminated; NULL = none. */
    const struct resource_action *actions;
    /* Href of an action's operation if it is not the resource's own
     * ({id}/{name}); e.g. capture points at the MachineImage collection.
     * Returns a relative path or NULL. */
    const char *(*action_href)(const char *action);
    /* Actions on the top-level collection itself ({NULL} terminated; NULL =
     * none): "import" on systems and systemTemplates.  run(req, NULL, action,
     * job, err) with req->path the collection path; a POST of an Action to
     * <collection>/<name> or to the collection runs it, and the collection
     * offers it as an operation (rel .../action/<name>).  The reply is 202
     * with the Job; job->created, when run sets it, is its Location. */
    const struct resource_action *collection_actions;
    /* Is a collection item (as rendered) still listed?  A System's member
     * item whose resource was deleted outside the System is not (its
     * collection's count drops with it).  NULL = every item is. */
    bool (*listed)(struct cimi_request *req, const json_t *item);
};

extern const struct resource_ops cep_ops, resource_metadata_ops, machine_ops, disk_ops,
    machine_volume_ops, machine_configuration_ops, machine_image_ops, credential_ops,
    credential_template_ops, machine_template_ops, volume_ops, volume_template_ops,
    volume_configuration_ops, volume_image_ops, volume_volume_image_ops, job_ops, host_ops;
/* Networks (network.c, network_parts.c, machine_interface.c). */
extern const struct resource_ops network_ops, network_template_ops, network_configuration_ops,
    network_port_ops, network_port_template_ops, network_port_configuration_ops, address_ops,
    address_template_ops, forwarding_group_ops, forwarding_group_template_ops,
    forwarding_group_network_ops, machine_network_interface_ops,
    machine_network_interface_address_ops, network_network_port_ops, machine_snapshot_ops;
/* Systems (system.c, system_template.c, system_members.c). */
extern const struct resource_ops system_ops, system_template_ops, system_member_ops;

/* The behaviour of a type (resources/registry.c); never NULL for the types
 * cimid serves (resource_plain_ops for those without any). */
const struct resource_ops *resource_ops_of(const struct cimi_type *t);

/* Job kinds run by the worker pool, {NULL} terminated (resources/registry.c). */
extern const struct job_kind *const resource_job_kinds[];

/* Shared helpers for resource code (resources/common.c). */

/* Load the resource at a relative path that the principal may see, of type t.
 * -1 with err 404 (also for other tenants' resources). */
int resource_load(struct cimi_request *req, const char *path, const struct cimi_type *t,
                  struct store_row *row, struct cimi_error *err);
/* The same for a read that only renders the row: row->priv is left empty
 * when t's reads never look at it (resource_ops.reads_without_priv). */
int resource_load_for_read(struct cimi_request *req, const char *path,
                           const struct cimi_type *t, struct store_row *row,
                           struct cimi_error *err);
/* Turn an href given by a client into a path below the base URI (in place
 * into out); -1 with err 400 naming attr when it is not one of ours. */
int resource_href_path(struct cimi_request *req, const char *href, const char *attr, char *out,
                       size_t len, struct cimi_error *err);
/* Fill id ("<collection>/<uuid>"), created, updated of a new top-level row. */
int resource_new_row(struct cimi_request *req, const struct cimi_type *t, struct store_row *row,
                     struct cimi_error *err);
/* Fill id ("<parent>/<sub>/<n>", n one more than the highest so far), type,
 * tenant (the parent's), parent, created, updated of a new row of type t in
 * the sub-collection sub of parent. */
int resource_new_child(struct store *st, const struct store_row *parent, const char *sub,
                       const struct cimi_type *t, struct store_row *row, struct cimi_error *err);
/* A storage capacity attribute attr: present, a positive integer (KB). */
int resource_check_capacity(const json_t *capacity, const char *attr, struct cimi_error *err);
/* The href of doc's reference attribute attr ("volume"), or NULL. */
const char *resource_ref(const json_t *doc, const char *attr);
/* Copy name, description and properties of a create document (the ones it
 * has) into the new resource's document. */
void resource_copy_common(const json_t *input, json_t *doc);
/* Resolve a reference attribute attr given by a client: by href (a visible
 * resource of type t, with the other members as overrides: a member
 * replaces, null erases), or by value.  Returns a new document (caller
 * owns) and the resource's path in path ("" by value), or NULL with err
 * (400 when the href names no t). */
json_t *resource_resolve(struct cimi_request *req, const json_t *ref, const struct cimi_type *t,
                         const char *attr, char *path, size_t path_len, struct cimi_error *err);
/* For an update hook: 400 naming the attribute when the request's body gives
 * an immutable attribute of t a value other than the stored one (before);
 * the same value, as a GET-then-PUT sends it, is fine. */
int resource_refuse_immutable_changes(struct cimi_request *req, const struct cimi_type *t,
                                      const json_t *before, struct cimi_error *err);
/* The letter of a virtio disk device named "/dev/vdX" or "vdX" ('a' ...
 * 'z'), or -1 for any other name: cimid's disks and volumes are virtio
 * disks, and a name of another bus is refused, never changed. */
int resource_disk_letter(const char *location);
/* Disk i of a machine is the virtio disk vd('a' + i): a configuration's
 * disks whose initialLocation names another device or bus are refused
 * (400 naming attr), never silently changed. */
int resource_check_disk_locations(const json_t *disks, const char *attr, struct cimi_error *err);
/* Did this request make the resource at path in its transaction, for
 * later creates in it to use although it is CREATING (req->building)? */
bool resource_building(const struct cimi_request *req, const char *path);
/* Set "updated" to now. */
void resource_touch(json_t *doc);
/* The validated input as a new row of type t (templates, configurations:
 * stored as given, synchronously). */
int resource_store_input(struct cimi_request *req, json_t *input, struct store_row *row,
                         const struct cimi_type *t, struct cimi_error *err);
/* The row's state back to the one it had before a Job (its private
 * "previous"), touched; a job_update_fn (arg unused). */
void resource_back_to_previous(struct store_row *row, void *unused);
/* The same for the resource at path, stored (a Job stopped before it ran;
 * nothing is reported when it is gone). */
void resource_restore_previous(struct store *st, const char *path);
/* The last segment of an id ("machines/<uuid>" -> "<uuid>"). */
const char *resource_uuid(const char *id);
/* Start-up: open every stored Host, and add the --connect host (with the
 * --accel choice) if it is not one of them; -1 when that one cannot be
 * reached. */
int host_open_all(struct store *st, const char *connect_uri, const char *connect_accel,
                  struct cimi_error *err);
/* Overcommit percentages of hosts added without their own. */
void host_set_defaults(int memory_overcommit, int cpu_overcommit);
/* May the principal do op ("edit", "delete", an action) on row (of type t,
 * refreshed) now?  0, or -1 with err (405, 403, 409).  The one decision
 * behind both the operations a resource offers and the requests
 * (resources/allow.c). */
int resource_op_check(struct cimi_request *req, const struct cimi_type *t,
                      const struct store_row *row, const char *op, struct cimi_error *err);
/* May the principal create an item of type t in the sub-collection of
 * parent (a path) now?  0, or -1 with err (404, 403, 409): the one decision
 * behind a sub-collection's "add" operation and its POST. */
int resource_add_check(struct cimi_request *req, const struct cimi_type *t, const char *parent,
                       struct cimi_error *err);
/* Is the principal allowed to see resources of type t at all? 403 if not. */
int resource_check_access(const struct cimi_request *req, const struct cimi_type *t,
                          struct cimi_error *err);

/* Create the shipped configurations, images and templates if missing. */
int resource_seed(struct store *st, struct cimi_error *err);
/* Register the image files of dir (*.qcow2, *.img, *.raw) as shared
 * MachineImages "machineImages/<file name without extension>" if missing. */
int resource_register_images(struct store *st, const char *dir, struct cimi_error *err);

#endif
