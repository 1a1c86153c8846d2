/*
 * machine_image.c - MachineImages, the request side.  What a create does
 * depends on imageLocation and type:
 *
 *   a Machine of ours, type IMAGE     capture: an image.capture Job copies the
 *                                     stopped machine's disk into a standalone
 *                                     image (DSP0263 capture)
 *   a Machine of ours, type SNAPSHOT  an image.snapshot Job takes a libvirt
 *                                     snapshot of it (running or not); the
 *                                     image's relatedImage is the machine's
 *                                     previous latestSnapshot
 *   an http:// or https:// URL        an image.download Job fetches it into the
 *                                     host's storage (size limit, optional
 *                                     SHA-256 in the cimid extension `checksum`)
 *   a file in the image directories   registered as it is (AVAILABLE at once);
 *                                     anything else is refused (400, see
 *                                     image_location.h)
 *
 * In the first three cases the image is CREATING until its Job ends
 * (AVAILABLE, or ERROR with the reason in the Job), and imageLocation names
 * the copy afterwards (a SNAPSHOT stays with its Machine, whose URI it
 * keeps).  The Machine's restore action brings it back to one of its
 * SNAPSHOTs.  Deleting an image removes what cimid made for it: the file,
 * or the libvirt snapshot (then SNAPSHOTs that followed it are re-linked to
 * its relatedImage, DSP0263 5.14.7).  The jobs are in machine_image_jobs.c.
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "cimi/render.h"
#include "driver/driver.h"
#include "resources/image_location.h"
#include "resources/machine.h"
#include "resources/resource.h"
#include "util/download.h"
#include "util/log.h"

static long long max_image_bytes = 16LL << 30;

void machine_image_set_max_size(long long bytes)
{
    max_image_bytes = bytes;
}

long long machine_image_max_size(void)
{
    return max_image_bytes;
}

static const char *string_of(const json_t *doc, const char *attr)
{
    return json_string_value(json_object_get(doc, attr)) ?: "";
}

/* Normalize "type" (clients pad and vary case): IMAGE or SNAPSHOT. */
static int check_type(json_t *doc, struct cimi_error *err)
{
    const char *type = json_string_value(json_object_get(doc, "type"));
    char trimmed[32];
    size_t start = 0, len;

    if (type == NULL) {
        json_object_set_new(doc, "type", json_string("IMAGE"));
        return 0;
    }
    while (isspace((unsigned char)type[start]))
        start++;
    len = strlen(type + start);
    while (len > 0 && isspace((unsigned char)type[start + len - 1]))
        len--;
    snprintf(trimmed, sizeof(trimmed), "%.*s", (int)len, type + start);
    if (strcasecmp(trimmed, "IMAGE") == 0 || strcasecmp(trimmed, "SNAPSHOT") == 0) {
        json_object_set_new(doc, "type", json_string(strcasecmp(trimmed, "IMAGE") == 0 ? "IMAGE"
                                                                                     : "SNAPSHOT"));
        return 0;
    }
    if (strcasecmp(trimmed, "PARTIAL_SNAPSHOT") == 0)
        return err_set(err, 400, "type",
                       "MachineImage type PARTIAL_SNAPSHOT is not supported; use IMAGE or SNAPSHOT");
    return err_set(err, 400, "type", "MachineImage type '%s' must be IMAGE, SNAPSHOT or PARTIAL_SNAPSHOT",
                   trimmed);
}

static int image_check(struct cimi_request *req, json_t *doc, struct cimi_error *err)
{
    json_t *checksum = json_object_get(doc, "checksum");

    (void)req;
    if (json_string_length(json_object_get(doc, "imageLocation")) == 0)
        return err_set(err, 400, "imageLocation", "missing required attribute 'imageLocation'");
    if (checksum != NULL && !download_checksum_valid(json_string_value(checksum)))
        return err_set(err, 400, "checksum", "checksum must be sha256:<64 hexadecimal digits>");
    return check_type(doc, err);
}

/* The Machine an image is taken from, refreshed; it must allow capture. */
static int load_source_machine(struct cimi_request *req, const char *machine_path,
                               struct store_row *machine, struct cimi_error *err)
{
    const char *state;

    if (resource_load(req, machine_path, &t_machine, machine, err) != 0)
        return err_set(err, 400, "imageLocation", "imageLocation '%s' names no Machine", machine_path);
    if (resource_ops_of(&t_machine)->refresh)
        resource_ops_of(&t_machine)->refresh(req, machine);
    state = json_string_value(json_object_get(machine->doc, "state"));
    /* Exactly when the Machine offers capture (resources/allow.c). */
    if (resource_op_check(req, &t_machine, machine, "capture", err) != 0) {
        if (err->status == 409)
            err_set(err, 409, "imageLocation", "Machine '%s' is %s; it cannot be captured now",
                    machine_path, state ? state : "busy");
        store_row_clear(machine);
        return -1;
    }
    return 0;
}

/* Common to capture and snapshot: owner, state, location, Job. */
static void begin_from_machine(struct cimi_request *req, struct store_row *row,
                               const struct store_row *machine, const char *op,
                               struct job_spec *job)
{
    char location[768];

    /* An image of a machine belongs to the machine's tenant. */
    snprintf(row->tenant, sizeof(row->tenant), "%s", machine->tenant);
    snprintf(job->tenant, sizeof(job->tenant), "%s", machine->tenant);
    json_object_set_new(row->doc, "state", json_string("CREATING"));
    /* Until the copy is made, the image is where the machine is. */
    render_uri(req, machine->id, location, sizeof(location));
    json_object_set_new(row->doc, "imageLocation", json_string(location));
    snprintf(job->op, sizeof(job->op), "%s", op);
    job->params = json_pack("{s:s, s:s}", "image", row->id, "machine", machine->id);
}

static int start_capture(struct cimi_request *req, struct store_row *row, const char *machine_path,
                         struct job_spec *job, struct cimi_error *err)
{
    struct store_row machine;

    if (load_source_machine(req, machine_path, &machine, err) != 0)
        return -1;
    begin_from_machine(req, row, &machine, "image.capture", job);
    store_row_clear(&machine);
    return 0;
}

/* A SNAPSHOT: the Machine is CAPTURING until the snapshot is taken. */
static int start_snapshot(struct cimi_request *req, struct store_row *row, const char *machine_path,
                          struct job_spec *job, struct cimi_error *err)
{
    struct store_row machine;
    json_t *latest;
    int rc;

    /* The Machine offers capture (resources/allow.c): changeable, and not
     * SUSPENDED (libvirt takes no snapshot of a saved domain). */
    if (load_source_machine(req, machine_path, &machine, err) != 0)
        return -1;
    latest = json_object_get(machine.doc, "latestSnapshot");
    if (latest != NULL)
        json_object_set(row->doc, "relatedImage", latest);
    json_object_set_new(row->priv, "machine", json_string(machine.id));
    json_object_set(machine.priv, "previous", json_object_get(machine.doc, "state"));
    json_object_set_new(machine.doc, "state", json_string("CAPTURING"));
    resource_touch(machine.doc);
    rc = req->st->ops->update(req->st, &machine, err);
    if (rc == 0)
        begin_from_machine(req, row, &machine, "image.snapshot", job);
    store_row_clear(&machine);
    return rc;
}

static int image_create(struct cimi_request *req, json_t *input, struct store_row *row,
                        struct job_spec *job, struct cimi_error *err)
{
    const char *location = string_of(input, "imageLocation");
    bool snapshot = strcmp(string_of(input, "type"), "SNAPSHOT") == 0;
    bool checksum = json_object_get(input, "checksum") != NULL;
    enum image_location_kind kind;
    char machine_path[256];
    int rc;

    row->doc = json_deep_copy(input);
    row->priv = json_object();
    if (resource_new_row(req, &t_machine_image, row, err) != 0)
        return -1;
    if (checksum && !download_url_supported(location))
        return err_set(err, 400, "checksum",
                       "checksum is verified on http(s) downloads only; imageLocation '%s' is not "
                       "one", location);
    rc = image_location_check(req, location, "machines/", &kind, machine_path,
                              sizeof(machine_path), err);
    if (snapshot && (rc != 0 || kind != LOCATION_RESOURCE))
        return err_set(err, 400, "imageLocation",
                       "a SNAPSHOT is taken of a Machine: imageLocation must be the Machine's id");
    if (rc != 0)
        return -1;
    if (kind == LOCATION_RESOURCE)
        return snapshot ? start_snapshot(req, row, machine_path, job, err)
                        : start_capture(req, row, machine_path, job, err);
    if (kind == LOCATION_URL)
        return image_download_begin(row, location,
                                    json_string_value(json_object_get(row->doc, "checksum")), job,
                                    err);
    /* A file in the image directories: registered as it is; whether the
     * hypervisor can boot from it is checked when a Machine is made from it. */
    json_object_set_new(row->doc, "state", json_string("AVAILABLE"));
    return 0;
}

/* type and imageLocation are set when the image is made. */
static int image_update(struct cimi_request *req, const json_t *before, struct store_row *row,
                        struct job_spec *job, struct cimi_error *err)
{
    (void)req;
    (void)job;
    if (strcmp(string_of(before, "type"), string_of(row->doc, "type")) != 0)
        return err_set(err, 400, "type", "the type of a MachineImage does not change");
    if (strcmp(string_of(before, "imageLocation"), string_of(row->doc, "imageLocation")) != 0)
        return err_set(err, 400, "imageLocation",
                       "the imageLocation of a MachineImage does not change; make a new image");
    return 0;
}

/* Not while a Job makes or removes it. */
static bool image_allowed(const struct store_row *row, const char *op)
{
    const char *state = string_of(row->doc, "state");

    if (strcmp(state, "DELETING") == 0)
        return false;
    if (strcmp(op, "delete") == 0)  /* CREATING: only while downloading (its Job stops) */
        return strcmp(state, "CREATING") != 0 || json_object_get(row->priv, "download") != NULL;
    return strcmp(op, "edit") == 0;
}

/* ---- delete ---- */

struct user_ctx {
    const char *location;
    char user[256];
};

static int match_machine(void *arg, struct store_row *row)
{
    struct user_ctx *c = arg;

    if (strcmp(string_of(json_object_get(row->priv, "spec"), "imageLocation"), c->location) != 0)
        return 0;
    snprintf(c->user, sizeof(c->user), "%s", row->id);
    return 1;
}

static int match_volume(void *arg, struct store_row *row)
{
    struct user_ctx *c = arg;

    if (strcmp(string_of(row->priv, "image"), c->location) != 0)
        return 0;
    snprintf(c->user, sizeof(c->user), "%s", row->id);
    return 1;
}

int image_check_unused(struct store *st, const struct store_row *row, struct cimi_error *err)
{
    struct user_ctx ctx = {string_of(row->doc, "imageLocation"), ""};

    if (st->ops->list(st, "Machine", NULL, NULL, match_machine, &ctx, err) != 0 ||
        (ctx.user[0] == '\0' &&
         st->ops->list(st, "Volume", NULL, NULL, match_volume, &ctx, err) != 0))
        return -1;
    if (ctx.user[0] != '\0')
        return err_set(err, 409, NULL, "%s '%s' is the base of the disk of '%s'; "
                       "delete that first", row->type, row->id, ctx.user);
    return 0;
}

/* A file of cimid's that a disk uses is not deleted (offered and checked:
 * resources/allow.c). */
static int image_refuse(struct cimi_request *req, const struct store_row *row, const char *op,
                        struct cimi_error *err)
{
    if (strcmp(op, "delete") != 0 || !json_is_true(json_object_get(row->priv, "file")))
        return 0;
    return image_check_unused(req->st, row, err);
}

/* A CREATING image's download Job: stop it.  Queued, it never ran: its
 * cancel removed the image (*gone).  Running, it ends the transfer and then
 * removes the image; the delete's Job waits for that. */
static int stop_download(struct cimi_request *req, struct store_row *row, struct job_spec *job,
                         struct cimi_error *err)
{
    bool gone;
    const char *download = string_of(row->priv, "download");
    struct store_row dl;
    const char *state;
    int rc = 0;

    memset(&dl, 0, sizeof(dl));
    if (req->st->ops->get(req->st, download, &dl, err) != 0)
        return err_set(err, 409, NULL, "MachineImage '%s' is CREATING and its Job '%s' is gone",
                       row->id, download);
    job_progress_show(dl.id, dl.doc);  /* RUNNING while a worker has it */
    state = string_of(dl.doc, "state");
    if (strcmp(state, "STOPPING") != 0)
        rc = jobs_stop(req->st, &dl, err);
    gone = strcmp(string_of(dl.doc, "state"), "STOPPED") == 0;  /* stopped before it ran */
    store_row_clear(&dl);
    if (rc != 0 || gone)
        return rc;
    json_object_set_new(row->priv, "previous", json_string("CREATING"));
    json_object_set_new(row->doc, "state", json_string("DELETING"));
    resource_touch(row->doc);
    snprintf(job->op, sizeof(job->op), "image.delete");
    job->params = json_pack("{s:s, s:s}", "image", row->id, "download", download);
    return req->st->ops->update(req->st, row, err);
}

static int image_remove(struct cimi_request *req, struct store_row *row, struct job_spec *job,
                        struct cimi_error *err)
{
    bool snapshot = strcmp(string_of(row->doc, "type"), "SNAPSHOT") == 0;
    bool has_file = json_is_true(json_object_get(row->priv, "file"));

    if (strcmp(string_of(row->doc, "state"), "CREATING") == 0)
        return stop_download(req, row, job, err);

    if (!snapshot && !has_file)  /* registered: nothing of cimid's behind it */
        return req->st->ops->remove(req->st, row->id, err);
    json_object_set_new(row->priv, "previous", json_string(string_of(row->doc, "state")));
    json_object_set_new(row->doc, "state", json_string("DELETING"));
    resource_touch(row->doc);
    if (req->st->ops->update(req->st, row, err) != 0)
        return -1;
    snprintf(job->op, sizeof(job->op), "image.delete");
    job->params = json_pack("{s:s}", "image", row->id);
    return 0;
}

const struct resource_ops machine_image_ops = {
    .create = image_create,
    .check = image_check,
    .update = image_update,
    .remove = image_remove,
    .allowed = image_allowed,
    .refuse = image_refuse,
};

/* ---- the Machine's restore action ---- */

/* The SNAPSHOT image an Action names, checked against the machine. */
static int load_snapshot(struct cimi_request *req, const struct store_row *machine,
                         const json_t *action, struct store_row *image, struct cimi_error *err)
{
    const char *href = resource_ref(action, "image");
    char path[256];

    if (href == NULL)
        return err_set(err, 400, "image", "restore needs 'image': the SNAPSHOT MachineImage");
    if (resource_href_path(req, href, "image", path, sizeof(path), err) != 0)
        return -1;
    if (resource_load(req, path, &t_machine_image, image, err) != 0)
        return err_set(err, 400, "image", "image '%s' names no MachineImage", href);
    if (strcmp(string_of(image->doc, "type"), "SNAPSHOT") != 0 ||
        strcmp(string_of(image->priv, "machine"), machine->id) != 0)
        err_set(err, 400, "image", "MachineImage '%s' is not a SNAPSHOT of this Machine "
                "(RestoreFromImage is not supported)", path);
    else if (strcmp(string_of(image->doc, "state"), "AVAILABLE") != 0)
        err_set(err, 409, "image", "MachineImage '%s' is %s, not AVAILABLE", path,
                string_of(image->doc, "state"));
    else
        return 0;
    store_row_clear(image);
    return -1;
}

int machine_action_restore(struct cimi_request *req, struct store_row *row, const json_t *action,
                           struct job_spec *job, struct cimi_error *err)
{
    struct store_row image;

    if (load_snapshot(req, row, action, &image, err) != 0)
        return -1;
    json_object_set_new(row->priv, "previous", json_string(string_of(row->doc, "state")));
    json_object_set_new(row->doc, "state", json_string("RESTORING"));
    resource_touch(row->doc);
    snprintf(job->op, sizeof(job->op), "machine.restore");
    job->params = json_pack("{s:s, s:s}", "machine", row->id, "image", image.id);
    store_row_clear(&image);
    return req->st->ops->update(req->st, row, err);
}
