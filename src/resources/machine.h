/*
 * machine.h - what the Machine request side (machine.c) and its jobs
 * (machine_jobs.c) share.
 */
#ifndef CIMID_MACHINE_H
#define CIMID_MACHINE_H

#include <stdbool.h>

#include "cimi/request.h"
#include "driver/driver.h"
#include "hosts/hosts.h"
#include "jobs/jobs.h"
#include "store/store.h"

bool machine_state_is_transitional(const char *state);
const char *machine_state_from_hv(enum hv_state s);
void machine_set_stop_timeout(int seconds);
int machine_stop_timeout(void);

/* Fill a hypervisor spec from a Machine row. */
int machine_hv_spec(const struct store_row *row, struct hv_machine_spec *spec,
                    struct cimi_error *err);

/* Start-up: book every machine on its host and make ephemeral hosts agree
 * with the store (see machine_jobs.c). */
int machine_reconcile(struct store *st);
/* A host answers again: re-create its machines if it forgot them (the
 * monitor thread calls this). */
void machine_host_returned(const char *host_id);

/* The host a Machine row is placed on ("" = the default host). */
const char *machine_host_of(const struct store_row *row);
/* The state of machine uuid on host (borrowed as h) as the hypervisor has
 * it now: the driver's get_state, or while req lists a collection on a host
 * whose states are not in memory, one listing of the host for the whole
 * request (machine_states.c). */
int machine_hv_state(struct cimi_request *req, struct host_use *h, const char *host,
                     const char *uuid, enum hv_state *state, struct cimi_error *err);
/* While req lists a collection: host borrowed for the rest of the listing
 * (*h; do not hosts_done it), or -1 with err when it cannot be used. */
int machine_listing_host(struct cimi_request *req, const char *host, struct host_use **h,
                         struct cimi_error *err);
/* A machine whose create failed: ERROR with the reason in "stateMessage",
 * its domain removed and its booking given back (machine_jobs.c). */
bool machine_create_failed(const struct store_row *row);
/* A forced stop was asked for (requested) over the graceful stop of
 * machine uuid, or taken back: tells a graceful stop that waits for its
 * guest to power it off now.  true when one waits (machine_jobs.c). */
bool machine_force_stop_requested(const char *uuid, bool requested);
/* Which of the virtio devices vda ... vdz the machine uses (used[0..25]):
 * its own disks and its volumes (machine_volume.c). */
#define MACHINE_MAX_DEVICES 26
int machine_used_devices(struct store *st, const struct store_row *machine, bool *used,
                         struct cimi_error *err);
/* The Machine at path, read for req, whose state allows op ("attach" or
 * "detach"); else 409 saying that what ("volumes are attached to and
 * detached from") needs a STARTED, STOPPED or PAUSED machine. */
int machine_load_for(struct cimi_request *req, const char *path, const char *op, const char *what,
                     struct store_row *machine, struct cimi_error *err);
/* Bring a defined machine to running (from paused, crashed or off). */
int machine_power_on(struct host_use *h, const char *uuid, struct cimi_error *err);
/* What the machine booked on its host. */
void machine_request_of(const struct store_row *row, struct placement_request *rq);

/* ---- MachineImages (machine_image.c, machine_image_jobs.c) ---- */

/* A new MachineImage or VolumeImage (row) whose imageLocation is the http(s)
 * url: CREATING, and job an image.download Job that fetches it into the
 * host's storage (checksum "sha256:..." verified when not NULL); the Job
 * ends it AVAILABLE with imageLocation naming the file, or ERROR. */
int image_download_begin(struct store_row *row, const char *url, const char *checksum,
                         struct job_spec *job, struct cimi_error *err);
/* 409 while a Machine's disk or a Volume is an overlay on the file of the
 * image (a MachineImage or VolumeImage) row. */
int image_check_unused(struct store *st, const struct store_row *row, struct cimi_error *err);
/* Largest http(s) image download in bytes (--max-image-size). */
void machine_image_set_max_size(long long bytes);
long long machine_image_max_size(void);
/* The Machine's restore action: back to a SNAPSHOT MachineImage of it. */
int machine_action_restore(struct cimi_request *req, struct store_row *row, const json_t *action,
                           struct job_spec *job, struct cimi_error *err);
/* The machine is gone from its hypervisor, and its snapshots with it:
 * remove its SNAPSHOT MachineImages (in the caller's transaction), so that
 * no image names a deleted machine as where its bits are. */
int machine_snapshots_forget(struct store *st, const char *machine, struct cimi_error *err);
/* Record the machine's state as the hypervisor has it now (after a
 * success also as the state to keep: "desired"). */
void machine_record_state(struct store_row *machine, bool success);

/* A Machine's snapshots collection (machine_snapshot.c): list the SNAPSHOT
 * image among the machine's snapshots (idempotent), or remove the listing
 * of a SNAPSHOT image (its private "machine" names the machine); both in
 * the caller's transaction. */
int machine_snapshot_list(struct store *st, const struct store_row *machine,
                          const struct store_row *image, struct cimi_error *err);
int machine_snapshot_unlist(struct store *st, const struct store_row *image,
                            struct cimi_error *err);

extern const struct job_kind image_capture_job, image_download_job, image_snapshot_job,
    image_delete_job, machine_restore_job;

extern const struct job_kind machine_create_job, machine_start_job, machine_stop_job,
    machine_restart_job, machine_pause_job, machine_suspend_job, machine_delete_job,
    machine_disk_add_job, machine_disk_remove_job;

#endif
