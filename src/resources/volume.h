/*
 * volume.h - what Volumes (volume.c), their jobs (volume_jobs.c) and their
 * attachments to machines (machine_volume.c) share.
 *
 * A Volume row's private document holds "image" (the location of the image
 * it was made from, "" for a blank one), "busy" (the volume job working on
 * it besides create and delete, which use the states CREATING and DELETING)
 * and, while a resize runs, "previousCapacity".  Which machine a Volume is
 * attached to is not kept in the Volume: the MachineVolume rows
 * (machines/{id}/volumes/{n}) are the one record of attachments, so
 * deleting a Machine (and with it its MachineVolumes) frees its volumes.
 */
#ifndef CIMID_VOLUME_H
#define CIMID_VOLUME_H

#include <stdbool.h>
#include <stddef.h>

#include "cimi/request.h"
#include "jobs/jobs.h"
#include "store/store.h"

/* The MachineVolume attaching the Volume at volume_path, if any: 1 (its
 * path into attachment and its machine's into machine, each if not NULL),
 * 0 when the volume is not attached, -1 with err. */
int volume_attachment(struct store *st, const char *volume_path, char *attachment, size_t len,
                      char *machine, size_t machine_len, struct cimi_error *err);

/* Is a volume job (resize, snapshot, attach, detach) working on the Volume? */
bool volume_is_busy(const struct store_row *volume);
/* Mark the Volume at path busy with op ("" = no longer), inside the caller's
 * transaction; a missing Volume is left alone. */
int volume_set_busy(struct store *st, const char *path, const char *op, struct cimi_error *err);

/* Start-up and a machine's create Job: attach a (re-)created machine's
 * volumes (machine_volume.c). */
int machine_volumes_reattach(struct store *st, const struct store_row *machine);
/* A new Machine's MachineTemplate `volumes` (existing Volumes by href, with
 * an optional initialLocation): their attachments, made in the request's
 * transaction; the create Job plugs them in. */
int machine_volumes_create(struct cimi_request *req, const struct store_row *machine,
                           const json_t *tmpl, struct cimi_error *err);
/* A Machine's delete: a step (nested Job) per attached volume detaches it
 * first, in the request's transaction. */
int machine_volumes_detach_steps(struct cimi_request *req, const struct store_row *machine,
                                 struct job_spec *job, struct cimi_error *err);

/* A new Volume (state CREATING, not inserted) from a resolved VolumeTemplate
 * document: its configuration and image resolved and checked (errors name
 * attributes under prefix, e.g. "volumeTemplate"); the caller inserts it
 * and has its storage made (volume.create, or its machine's create Job). */
int volume_prepare(struct cimi_request *req, const json_t *tmpl, const char *prefix,
                   struct store_row *row, struct cimi_error *err);

/* The attachment of a Volume made with a new Machine (MachineTemplate
 * volumeTemplates), at initialLocation (may be NULL: the first free device),
 * recorded like the template's volumes, with the private "createdWith"
 * (the machine) and "deleteWithMachine"; the device's initialLocation into
 * location (machine_volume.c). */
int machine_volume_attach_new(struct store *st, const struct store_row *machine,
                              const char *volume, const char *initial_location,
                              bool delete_with_machine, char *location, size_t len,
                              struct cimi_error *err);

/* MachineTemplate volumeTemplates (machine_volume_templates.c).  In the
 * create request's transaction: each one's new Volume (CREATING) and its
 * attachment. */
int machine_volume_templates_create(struct cimi_request *req, const struct store_row *machine,
                                    const json_t *tmpl, struct cimi_error *err);
/* The machine's create Job, before it defines the domain: the storage of
 * the Volumes made with it (idempotent), then each Volume AVAILABLE. */
int machine_volumes_make(struct store *st, const struct store_row *machine,
                         struct cimi_error *err);
/* Which Volumes of a machine: all those made with it (a failed or stopped
 * create), or only those its entry said go with it (its delete). */
enum machine_volumes { VOLUMES_MADE_WITH_IT, VOLUMES_DELETED_WITH_IT };
/* Their storage, best effort (before the outcome's transaction); then,
 * inside the caller's transaction, machine_volumes_forget removes their
 * rows and attachments. */
void machine_volumes_drop_storage(struct store *st, const char *machine,
                                  enum machine_volumes which);
int machine_volumes_forget(struct store *st, const char *machine, enum machine_volumes which,
                           struct cimi_error *err);

extern const struct job_kind volume_create_job, volume_delete_job, volume_resize_job,
    volume_snapshot_job, machine_attach_job, machine_detach_job;

#endif
