/*
 * volume.c - Volumes and VolumeImages (DSP0263 Volume family).
 *
 * A Volume is created from a VolumeTemplate (by reference with overrides,
 * or by value) whose VolumeConfiguration (likewise) gives its capacity and
 * whose optional VolumeImage its first content: the volume then starts as a
 * copy-on-write overlay of that image.  The volume.create Job makes the
 * storage (CREATING -> AVAILABLE).  A PUT with a larger capacity grows the
 * Volume through a volume.resize Job (a Volume never shrinks: 400).
 * Deleting a Volume that is attached to a machine is refused (409).
 *
 * A Volume stays AVAILABLE while attached: DSP0263's Volume states have no
 * "in use", and the attachment shows as the MachineVolume in the machine's
 * volumes collection.  One volume Job at a time: while one works on the
 * Volume (priv "busy"), deleting it, growing it and copying it answer 409.
 *
 * A VolumeImage is registered from a file in the image directories
 * (AVAILABLE at once, image_location.h), fetched from an http(s) URL by an
 * image.download Job like a MachineImage (machine_image_jobs.c: CREATING,
 * then AVAILABLE with imageLocation naming the file in the host's storage,
 * or ERROR), or, when its imageLocation names one of our Volumes, copied
 * from that Volume by a volume.snapshot Job; afterwards imageLocation names
 * the copy and the image is listed in the Volume's `images` sub-collection
 * (a VolumeVolumeImage).  The jobs are in volume_jobs.c.  Deleting a
 * downloaded image removes its file (image.delete), refused (409) while a
 * Volume is an overlay on it.
 */
#include <stdio.h>
#include <string.h>

#include "cimi/render.h"
#include "driver/driver.h"
#include "hosts/hosts.h"
#include "resources/image_location.h"
#include "resources/machine.h"
#include "resources/resource.h"
#include "resources/volume.h"

/* ---- shared with the jobs and attachments ---- */

bool volume_is_busy(const struct store_row *volume)
{
    return json_string_length(json_object_get(volume->priv, "busy")) > 0;
}

int volume_set_busy(struct store *st, const char *path, const char *op, struct cimi_error *err)
{
    struct store_row row;
    int rc;

    memset(&row, 0, sizeof(row));
    if (st->ops->get(st, path, &row, NULL) != 0)
        return 0;
    if (op[0] != '\0')
        json_object_set_new(row.priv, "busy", json_string(op));
    else
        json_object_del(row.priv, "busy");
    rc = st->ops->update(st, &row, err);
    store_row_clear(&row);
    return rc;
}

struct attachment_ctx {
    const char *volume;
    char *attachment, *machine;
    size_t len, machine_len;
    int found;
};

static int match_attachment(void *arg, struct store_row *row)
{
    struct attachment_ctx *c = arg;
    const char *href = resource_ref(row->doc, "volume");

    if (href == NULL || strcmp(href, c->volume) != 0)
        return 0;
    if (c->attachment)
        snprintf(c->attachment, c->len, "%s", row->id);
    if (c->machine)
        snprintf(c->machine, c->machine_len, "%s", row->parent);
    c->found = 1;
    return 1;
}

int volume_attachment(struct store *st, const char *volume_path, char *attachment, size_t len,
                      char *machine, size_t machine_len, struct cimi_error *err)
{
    struct attachment_ctx ctx = {volume_path, attachment, machine, len, machine_len, 0};

    if (st->ops->list(st, "MachineVolume", NULL, NULL, match_attachment, &ctx, err) != 0)
        return -1;
    return ctx.found;
}

static const char *state_of(const struct store_row *row)
{
    return json_string_value(json_object_get(row->doc, "state")) ?: "";
}

/* ---- Volume: create ---- */

/* The template's volumeConfig, resolved and checked; attribute names in
 * errors under prefix ("volumeTemplate"). */
static json_t *resolve_config(struct cimi_request *req, const json_t *tmpl, const char *prefix,
                              struct cimi_error *err)
{
    const json_t *ref = json_object_get(tmpl, "volumeConfig");
    json_t *config;
    char path[256], attr[128], capacity[160];

    snprintf(attr, sizeof(attr), "%s.volumeConfig", prefix);
    if (ref == NULL) {
        err_set(err, 400, attr, "missing required attribute '%s'", attr);
        return NULL;
    }
    config = resource_resolve(req, ref, &t_volume_configuration, attr, path, sizeof(path), err);
    snprintf(capacity, sizeof(capacity), "%s.capacity", attr);
    if (config != NULL &&
        resource_check_capacity(json_object_get(config, "capacity"), capacity, err) != 0) {
        json_decref(config);
        return NULL;
    }
    return config;
}

/* The template's volumeImage, if any, resolved; it must be AVAILABLE and
 * usable by the hypervisor.  0 with *image NULL when there is none. */
static int resolve_image(struct cimi_request *req, const json_t *tmpl, const char *prefix,
                         json_t **image, struct cimi_error *err)
{
    const json_t *ref = json_object_get(tmpl, "volumeImage");
    const char *location, *state;
    char path[256], attr[128];

    *image = NULL;
    if (ref == NULL)
        return 0;
    snprintf(attr, sizeof(attr), "%s.volumeImage", prefix);
    *image = resource_resolve(req, ref, &t_volume_image, attr, path, sizeof(path), err);
    if (*image == NULL)
        return -1;
    state = json_string_value(json_object_get(*image, "state"));
    if (path[0] && (state == NULL || strcmp(state, "AVAILABLE") != 0))
        return err_set(err, 409, attr, "VolumeImage '%s' is not AVAILABLE", path);
    location = json_string_value(json_object_get(*image, "imageLocation"));
    if (location == NULL || location[0] == '\0')
        return err_set(err, 400, attr, "missing required attribute '%s.imageLocation'", attr);
    {
        /* Volumes live on the default host (hosts.h). */
        struct host_use h;
        int rc = hosts_use_first(&h, err);
        if (rc == 0)
            rc = h.drv->check_image(h.hv, location, err);
        hosts_done(&h);
        return rc;
    }
}

/* The new Volume's documents from its configuration and image. */
static void fill_volume(struct store_row *row, const json_t *config, const json_t *image)
{
    const char *type = json_string_value(json_object_get(config, "type"));
    const char *format = json_string_value(json_object_get(config, "format"));
    const char *location = json_string_value(json_object_get(image, "imageLocation"));

    json_object_set_new(row->doc, "state", json_string("CREATING"));
    if (type != NULL && type[0] != '\0')
        json_object_set_new(row->doc, "type", json_string(type));
    json_object_set(row->doc, "capacity", json_object_get(config, "capacity"));
    json_object_set_new(row->doc, "bootable",
                        json_boolean(json_is_true(json_object_get(image, "bootable"))));
    json_object_set_new(row->priv, "image", json_string(location ? location : ""));
    /* The guest formats a volume itself; the wish is kept for reference. */
    if (format != NULL)
        json_object_set_new(row->priv, "format", json_string(format));
}

int volume_prepare(struct cimi_request *req, const json_t *tmpl, const char *prefix,
                   struct store_row *row, struct cimi_error *err)
{
    json_t *config, *image = NULL;
    int rc = -1;

    config = resolve_config(req, tmpl, prefix, err);
    if (config != NULL && resolve_image(req, tmpl, prefix, &image, err) == 0 &&
        resource_new_row(req, &t_volume, row, err) == 0) {
        fill_volume(row, config, image);
        rc = 0;
    }
    json_decref(config);
    json_decref(image);
    return rc;
}

static int volume_create(struct cimi_request *req, json_t *input, struct store_row *row,
                         struct job_spec *job, struct cimi_error *err)
{
    json_t *tmpl;
    char path[256];
    int rc;

    tmpl = resource_resolve(req, json_object_get(input, "volumeTemplate"), &t_volume_template,
                            "volumeTemplate", path, sizeof(path), err);
    if (tmpl == NULL)
        return -1;
    rc = volume_prepare(req, tmpl, "volumeTemplate", row, err);
    json_decref(tmpl);
    if (rc != 0)
        return -1;
    resource_copy_common(input, row->doc);
    snprintf(job->op, sizeof(job->op), "volume.create");
    job->params = json_pack("{s:s}", "volume", row->id);
    return 0;
}

/* ---- Volume: update, delete ---- */

/* A larger capacity grows the Volume (volume.resize); smaller is refused. */
static int volume_update(struct cimi_request *req, const json_t *before, struct store_row *row,
                         struct job_spec *job, struct cimi_error *err)
{
    json_int_t old = json_integer_value(json_object_get(before, "capacity"));
    json_t *capacity = json_object_get(row->doc, "capacity");

    (void)req;
    if (resource_check_capacity(capacity, "capacity", err) != 0)
        return -1;
    if (json_integer_value(capacity) == old)
        return 0;
    if (json_integer_value(capacity) < old)
        return err_set(err, 400, "capacity",
                       "a Volume only grows: capacity %lld KB is less than its %lld KB",
                       (long long)json_integer_value(capacity), (long long)old);
    if (strcmp(state_of(row), "AVAILABLE") != 0 || volume_is_busy(row))
        return err_set(err, 409, "capacity", "Volume '%s' is %s; its capacity changes only when "
                       "it is AVAILABLE and no other Job works on it", row->id,
                       volume_is_busy(row) ? "busy" : state_of(row));
    json_object_set_new(row->priv, "busy", json_string("resize"));
    json_object_set_new(row->priv, "previousCapacity", json_integer(old));
    snprintf(job->op, sizeof(job->op), "volume.resize");
    job->params = json_pack("{s:s, s:I}", "volume", row->id, "capacity",
                            json_integer_value(capacity));
    return 0;
}

/* An attached Volume is not deleted (offered and checked: resources/allow.c). */
static int volume_refuse(struct cimi_request *req, const struct store_row *row, const char *op,
                         struct cimi_error *err)
{
    char machine[256];
    int attached;

    if (strcmp(op, "delete") != 0)
        return 0;
    attached = volume_attachment(req->st, row->id, NULL, 0, machine, sizeof(machine), err);
    if (attached < 0)
        return -1;
    if (attached)
        return err_set(err, 409, NULL, "Volume '%s' is attached to Machine '%s'; detach it first "
                       "(delete its MachineVolume)", row->id, machine);
    return 0;
}

static int volume_remove(struct cimi_request *req, struct store_row *row, struct job_spec *job,
                         struct cimi_error *err)
{
    json_object_set_new(row->priv, "previous", json_string(state_of(row)));
    json_object_set_new(row->doc, "state", json_string("DELETING"));
    resource_touch(row->doc);
    if (req->st->ops->update(req->st, row, err) != 0)
        return -1;
    snprintf(job->op, sizeof(job->op), "volume.delete");
    job->params = json_pack("{s:s}", "volume", row->id);
    return 0;
}

/* Edit while it exists; delete unless a Job other than create works on it. */
static bool volume_allowed(const struct store_row *row, const char *op)
{
    if (strcmp(state_of(row), "DELETING") == 0)
        return false;
    if (strcmp(op, "delete") == 0)
        return !volume_is_busy(row);
    return strcmp(op, "edit") == 0;
}

const struct resource_ops volume_ops = {
    .create_input = &t_volume_create,
    .create = volume_create,
    .update = volume_update,
    .remove = volume_remove,
    .allowed = volume_allowed,
    .refuse = volume_refuse,
};

/* ---- VolumeImage ---- */

static int image_check(struct cimi_request *req, json_t *doc, struct cimi_error *err)
{
    (void)req;
    if (json_string_length(json_object_get(doc, "imageLocation")) == 0)
        return err_set(err, 400, "imageLocation", "missing required attribute 'imageLocation'");
    return 0;
}

/* The image will be a copy of the Volume at volume_path: a volume.snapshot Job. */
static int start_snapshot(struct cimi_request *req, struct store_row *row, const char *volume_path,
                          struct job_spec *job, struct cimi_error *err)
{
    struct store_row volume;
    char location[768];
    int rc = -1;

    if (resource_load(req, volume_path, &t_volume, &volume, err) != 0)
        return err_set(err, 400, "imageLocation", "imageLocation '%s' names no Volume",
                       volume_path);
    if (!render_writable(req, &volume))
        err_set(err, 403, "imageLocation", "Volume '%s' cannot be changed by %s", volume_path,
                req->who.name);
    else if (strcmp(state_of(&volume), "AVAILABLE") != 0 || volume_is_busy(&volume))
        err_set(err, 409, "imageLocation", "Volume '%s' is %s; it can be copied when it is "
                "AVAILABLE and no other Job works on it", volume_path,
                volume_is_busy(&volume) ? "busy" : state_of(&volume));
    else
        rc = volume_set_busy(req->st, volume_path, "snapshot", err);
    if (rc != 0) {
        store_row_clear(&volume);
        return -1;
    }
    /* A copy belongs to the volume's tenant. */
    snprintf(row->tenant, sizeof(row->tenant), "%s", volume.tenant);
    snprintf(job->tenant, sizeof(job->tenant), "%s", volume.tenant);
    if (json_object_get(row->doc, "bootable") == NULL)
        json_object_set(row->doc, "bootable", json_object_get(volume.doc, "bootable"));
    store_row_clear(&volume);
    json_object_set_new(row->doc, "state", json_string("CREATING"));
    /* Until the copy is made, the image is where the volume is. */
    render_uri(req, volume_path, location, sizeof(location));
    json_object_set_new(row->doc, "imageLocation", json_string(location));
    snprintf(job->op, sizeof(job->op), "volume.snapshot");
    job->params = json_pack("{s:s, s:s}", "image", row->id, "volume", volume_path);
    return 0;
}

static int image_create(struct cimi_request *req, json_t *input, struct store_row *row,
                        struct job_spec *job, struct cimi_error *err)
{
    const char *location = json_string_value(json_object_get(input, "imageLocation")) ?: "";
    enum image_location_kind kind;
    char volume_path[256];

    row->doc = json_deep_copy(input);
    row->priv = json_object();
    if (resource_new_row(req, &t_volume_image, row, err) != 0 ||
        image_location_check(req, location, "volumes/", &kind, volume_path, sizeof(volume_path),
                             err) != 0)
        return -1;
    if (kind == LOCATION_RESOURCE)
        return start_snapshot(req, row, volume_path, job, err);
    if (kind == LOCATION_URL)
        return image_download_begin(row, location, NULL, job, err);
    /* A file in the image directories: registered as it is; whether the
     * hypervisor can use it is checked when a Volume is made from it. */
    json_object_set_new(row->doc, "state", json_string("AVAILABLE"));
    return 0;
}

/* imageLocation is checked when the image is made, and stays. */
static int image_update(struct cimi_request *req, const json_t *before, struct store_row *row,
                        struct job_spec *job, struct cimi_error *err)
{
    const char *was = json_string_value(json_object_get(before, "imageLocation")) ?: "";
    const char *now = json_string_value(json_object_get(row->doc, "imageLocation")) ?: "";

    (void)req;
    (void)job;
    if (strcmp(was, now) != 0)
        return err_set(err, 400, "imageLocation",
                       "the imageLocation of a VolumeImage does not change; make a new image");
    return 0;
}

/* Not while a Job makes or removes it. */
static bool image_allowed(const struct store_row *row, const char *op)
{
    if (strcmp(state_of(row), "DELETING") == 0)
        return false;
    if (strcmp(op, "delete") == 0)
        return strcmp(state_of(row), "CREATING") != 0;
    return strcmp(op, "edit") == 0;
}

struct listing_ctx {
    const char *image;
    json_t *ids;
};

static int collect_listing(void *arg, struct store_row *row)
{
    struct listing_ctx *c = arg;
    const char *href = resource_ref(row->doc, "volumeImage");

    if (href != NULL && strcmp(href, c->image) == 0)
        json_array_append_new(c->ids, json_string(row->id));
    return 0;
}

/* A downloaded image's file goes by an image.delete Job, once no Volume is
 * an overlay on it; the image then goes with the Job. */
static int remove_with_file(struct cimi_request *req, struct store_row *row, struct job_spec *job,
                            struct cimi_error *err)
{
    if (image_check_unused(req->st, row, err) != 0)
        return -1;
    json_object_set_new(row->priv, "previous", json_string(state_of(row)));
    json_object_set_new(row->doc, "state", json_string("DELETING"));
    resource_touch(row->doc);
    if (req->st->ops->update(req->st, row, err) != 0)
        return -1;
    snprintf(job->op, sizeof(job->op), "%s", image_delete_job.op);
    job->params = json_pack("{s:s}", "image", row->id);
    return 0;
}

/* The image goes, and with it its listing in the images of its Volume.  A
 * copy's file stays: volumes made from it are overlays on it. */
static int image_remove(struct cimi_request *req, struct store_row *row, struct job_spec *job,
                        struct cimi_error *err)
{
    struct listing_ctx ctx = {row->id, NULL};
    json_t *id;
    size_t i;
    int rc;

    if (json_is_true(json_object_get(row->priv, "file")))
        return remove_with_file(req, row, job, err);
    ctx.ids = json_array();
    rc = req->st->ops->list(req->st, "VolumeVolumeImage", NULL, NULL, collect_listing, &ctx, err);
    json_array_foreach(ctx.ids, i, id) {
        if (rc == 0)
            rc = req->st->ops->remove(req->st, json_string_value(id), err);
    }
    json_decref(ctx.ids);
    return rc == 0 ? req->st->ops->remove(req->st, row->id, err) : -1;
}

const struct resource_ops volume_image_ops = {
    .create = image_create,
    .check = image_check,
    .update = image_update,
    .remove = image_remove,
    .allowed = image_allowed,
};

/* The images of a Volume are listed by the provider when it copies one. */
const struct resource_ops volume_volume_image_ops = {
    .provider_only = true,
};
