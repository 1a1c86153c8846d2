/*
 * machine_image.c - MachineImages: registered from a location, or captured
 * from a Machine when imageLocation names one (DSP0263 capture).
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "cimi/render.h"
#include "driver/driver.h"
#include "resources/machine.h"
#include "hosts/hosts.h"
#include "resources/resource.h"
#include "util/log.h"

/* Normalize "type" (clients pad and vary case); only IMAGE is supported. */
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
    if (strcasecmp(trimmed, "IMAGE") == 0) {
        json_object_set_new(doc, "type", json_string("IMAGE"));
        return 0;
    }
    if (strcasecmp(trimmed, "SNAPSHOT") == 0 || strcasecmp(trimmed, "PARTIAL_SNAPSHOT") == 0)
        return err_set(err, 400, "type", "MachineImage type '%s' is not supported yet; use IMAGE",
                       trimmed);
    return err_set(err, 400, "type", "MachineImage type '%s' must be IMAGE, SNAPSHOT or PARTIAL_SNAPSHOT",
                   trimmed);
}

static int image_check(struct cimi_request *req, json_t *doc, struct cimi_error *err)
{
    (void)req;
    if (json_string_length(json_object_get(doc, "imageLocation")) == 0)
        return err_set(err, 400, "imageLocation", "missing required attribute 'imageLocation'");
    return check_type(doc, err);
}

/* Is imageLocation one of our Machines? Fills machine_path if so. */
static bool names_machine(struct cimi_request *req, const char *location, char *machine_path,
                          size_t len)
{
    struct cimi_error ignored;

    if (resource_href_path(req, location, "imageLocation", machine_path, len, &ignored) != 0)
        return false;
    return strncmp(machine_path, "machines/", 9) == 0;
}

static int start_capture(struct cimi_request *req, struct store_row *row, const char *machine_path,
                         struct job_spec *job, struct cimi_error *err)
{
    struct store_row machine;
    const char *state;
    char location[768], host[HOST_ID_MAX];

    if (resource_load(req, machine_path, &t_machine, &machine, err) != 0)
        return err_set(err, 400, "imageLocation", "imageLocation '%s' names no Machine", machine_path);
    if (resource_ops_of(&t_machine)->refresh)
        resource_ops_of(&t_machine)->refresh(req, &machine);
    state = json_string_value(json_object_get(machine.doc, "state"));
    if (!resource_ops_of(&t_machine)->allowed(&machine, "capture")) {
        err_set(err, 409, "imageLocation", "Machine '%s' is %s; it cannot be captured now",
                machine_path, state ? state : "busy");
        store_row_clear(&machine);
        return -1;
    }
    /* A captured image belongs to the machine's tenant. */
    snprintf(row->tenant, sizeof(row->tenant), "%s", machine.tenant);
    snprintf(job->tenant, sizeof(job->tenant), "%s", machine.tenant);
    snprintf(host, sizeof(host), "%s", machine_host_of(&machine));
    store_row_clear(&machine);
    json_object_set_new(row->doc, "state", json_string("CREATING"));
    /* Until the copy is made, the image is where the machine is. */
    render_uri(req, machine_path, location, sizeof(location));
    json_object_set_new(row->doc, "imageLocation", json_string(location));
    snprintf(job->op, sizeof(job->op), "image.capture");
    job->params = json_pack("{s:s, s:s, s:s}", "image", row->id, "machine", machine_path, "host",
                            host);
    return 0;
}

static int image_create(struct cimi_request *req, json_t *input, struct store_row *row,
                        struct job_spec *job, struct cimi_error *err)
{
    const char *location = json_string_value(json_object_get(input, "imageLocation"));
    char machine_path[256];

    row->doc = json_deep_copy(input);
    row->priv = json_object();
    if (resource_new_row(req, &t_machine_image, row, err) != 0)
        return -1;
    if (names_machine(req, location, machine_path, sizeof(machine_path)))
        return start_capture(req, row, machine_path, job, err);
    /* A location outside cimid: registered as it is (downloads come with
     * real storage in a later step). */
    json_object_set_new(row->doc, "state", json_string("AVAILABLE"));
    return 0;
}

const struct resource_ops machine_image_ops = {
    .create = image_create,
    .check = image_check,
};

/* ---- the capture job ---- */

struct capture_outcome {
    bool success;
    const char *location;
};

static void record_capture(struct store_row *row, void *arg)
{
    const struct capture_outcome *outcome = arg;

    json_object_set_new(row->doc, "state", json_string(outcome->success ? "AVAILABLE" : "ERROR"));
    if (outcome->location)
        json_object_set_new(row->doc, "imageLocation", json_string(outcome->location));
    resource_touch(row->doc);
}

static int finish_capture(struct job_context *ctx, bool success, const char *location,
                          const char *message, struct cimi_error *err)
{
    struct capture_outcome outcome = {success, location};

    return job_complete(ctx->st, ctx->job_id, json_string_value(json_object_get(ctx->params, "image")),
                        record_capture, &outcome, success, message, err);
}

static int run_capture(struct job_context *ctx, struct cimi_error *err)
{
    const char *image = json_string_value(json_object_get(ctx->params, "image"));
    const char *machine = json_string_value(json_object_get(ctx->params, "machine"));
    char location[1024];
    struct cimi_error cause;
    struct host_use h = {0};
    int rc;

    err_clear(&cause);
    job_progress(ctx->st, ctx->job_id, 40, "copying the machine's disk");
    rc = hosts_use(json_string_value(json_object_get(ctx->params, "host")), &h, &cause);
    if (rc == 0)
        rc = h.drv->capture(h.hv, resource_uuid(machine), resource_uuid(image), location,
                            sizeof(location), &cause);
    hosts_done(&h);
    if (rc != 0)
        return finish_capture(ctx, false, NULL, cause.message, err);
    return finish_capture(ctx, true, location, "captured", err);
}

static void cancel_capture(struct job_context *ctx)
{
    const char *image = json_string_value(json_object_get(ctx->params, "image"));

    if (image)
        ctx->st->ops->remove(ctx->st, image, NULL);
}

const struct job_kind image_capture_job = {"image.capture", run_capture, cancel_capture};
