/*
 * system_export.c - the `export` action of a System and of a SystemTemplate
 * (DSP0263 5.10.2.2 / 5.11.2, Annex A): an OVA (OVF 1.x descriptor, SHA-256
 * manifest, stream-optimized vmdk disks) made by a Job.
 *
 * In the request: the Action's `format` (absent or "application/ovf", else
 * 400), `destination` (absent, or an http(s) URL: else 400) and property
 * `ovf.profile` ("portable", the default, or "kvm": qcow2 disks, virtio)
 * are checked, and the package is described from the store (the neutral
 * description of src/ovf/ovf_write.h: the System's members, their disks,
 * volumes and NICs; or the template's component descriptors).  Without a
 * destination a CREATING Package is made (package_begin) and the reply's
 * Location names it; the Job (system.export, a transfer worker) then:
 *
 *   1. finds each disk's file on its host (libvirt's test driver keeps none:
 *      those disks are described without content);
 *   2. pauses the member machines that run (desired STARTED), so that all
 *      the System's disks are read at one instant with the guests' writes
 *      flushed (QEMU flushes on pause), converts every disk with qemu-img
 *      (-U: the paused QEMU still holds its lock), and resumes them - also
 *      on failure, and on a re-run after a crash (a member still paused with
 *      desired STARTED is resumed);
 *   3. writes the descriptor and the OVA (.ovf, .mf, disks) into the
 *      Package's file, or into a temporary file PUT to the destination
 *      (util/download.c: the download destination policy);
 *   4. package_finish (AVAILABLE, or removed) and the Job's outcome in one
 *      transaction.  Work files are "<package dir>/export-<job>-*.part":
 *      named after the Job (a re-run overwrites them) and swept at start-up.
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "driver/disk_export.h"
#include "driver/driver.h"
#include "hosts/hosts.h"
#include "ovf/ovf_write.h"
#include "resources/machine.h"
#include "resources/package.h"
#include "resources/system.h"
#include "resources/system_export.h"
#include "util/download.h"
#include "util/log.h"

#define EXPORT_MAX_DEPTH 8
#define EXPORT_MAX_QUANTITY 64
#define MIB (1024.0 * 1024.0)

/* ------------------------------------------------------------ the Action */

static int check_action(const json_t *action, const char **profile, const char **destination,
                        struct cimi_error *err)
{
    const char *format = json_string_value(json_object_get(action, "format"));
    json_t *props = json_object_get(action, "properties");

    if (format && strcmp(format, PACKAGE_FORMAT_OVF) != 0)
        return err_set(err, 400, "format",
                       "format '%s' is not supported; export writes application/ovf (an OVA)",
                       format);
    *destination = json_string_value(json_object_get(action, "destination"));
    if (*destination && !download_url_supported(*destination))
        return err_set(err, 400, "destination",
                       "destination must be an http:// or https:// URL the package is PUT to");
    *profile = json_string_value(json_object_get(props, "ovf.profile"));
    if (!*profile)
        *profile = "portable";
    if (strcmp(*profile, "portable") != 0 && strcmp(*profile, "kvm") != 0)
        return err_set(err, 400, "properties",
                       "property ovf.profile must be 'portable' or 'kvm', not '%s'", *profile);
    return 0;
}

/* ------------------------------------------------------------ Systems */

struct listing {
    json_t *rows; /* array of {"id", "doc", "priv"} */
};

static int keep_row(void *ctx, struct store_row *row)
{
    struct listing *l = ctx;

    json_array_append_new(l->rows, json_pack("{s:s, s:O, s:O}", "id", row->id, "doc", row->doc,
                                             "priv", row->priv ? row->priv : json_null()));
    return 0;
}

/* The rows of type under parent, as {"id", "doc", "priv"} (new array). */
static json_t *children_of(struct store *st, const char *type, const char *parent,
                           struct cimi_error *err)
{
    struct listing l = {json_array()};

    if (st->ops->list(st, type, parent, NULL, keep_row, &l, err) != 0) {
        json_decref(l.rows);
        return NULL;
    }
    return l.rows;
}

static void copy_common(const json_t *doc, json_t *node)
{
    static const char *const keys[] = {"name", "description", "properties"};

    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
        if (json_object_get(doc, keys[i]))
            json_object_set(node, keys[i], json_object_get(doc, keys[i]));
}

/* The row at id when it is the tenant's own (or shared): a System's members
 * are; another tenant's is never read for an export (404). */
static int get_own(struct store *st, const char *tenant, const char *id, struct store_row *row,
                   struct cimi_error *err)
{
    memset(row, 0, sizeof(*row));
    if (st->ops->get(st, id, row, err) != 0)
        return -1;
    if (row->tenant[0] && strcmp(row->tenant, tenant) != 0) {
        store_row_clear(row);
        return err_set(err, 404, NULL, "%s is not a resource of the System's tenant", id);
    }
    return 0;
}

static const char *name_or_uuid(const json_t *doc, const char *id)
{
    const char *name = json_string_value(json_object_get(doc, "name"));

    return name && *name ? name : resource_uuid(id);
}

/* The volumes attached to a machine, in device order, as disks. */
static int describe_volumes(struct store *st, const char *tenant, const char *machine,
                            json_t *disks, struct cimi_error *err)
{
    json_t *rows = children_of(st, t_machine_volume.name, machine, err), *row;
    size_t i;

    if (!rows)
        return -1;
    json_array_foreach(rows, i, row) {
        const char *volume = resource_ref(json_object_get(row, "doc"), "volume");
        struct store_row v;

        memset(&v, 0, sizeof(v));
        if (!volume || get_own(st, tenant, volume, &v, NULL) != 0) {
            store_row_clear(&v);
            continue;  /* detached meanwhile */
        }
        json_array_append_new(
            disks, json_pack("{s:I, s:s, s:{s:s}}", "capacity",
                             (json_int_t)json_integer_value(json_object_get(v.doc, "capacity")) *
                                 1024,
                             "volume", name_or_uuid(v.doc, v.id), "source", "volume", v.id));
        store_row_clear(&v);
    }
    json_decref(rows);
    return 0;
}

static int describe_nics(struct store *st, const char *tenant, const char *machine, json_t *nics,
                         json_t *networks, struct cimi_error *err)
{
    json_t *rows = children_of(st, t_machine_network_interface.name, machine, err), *row;
    size_t i;

    if (!rows)
        return -1;
    json_array_foreach(rows, i, row) {
        const char *network = resource_ref(json_object_get(row, "doc"), "network");
        struct store_row n;

        memset(&n, 0, sizeof(n));
        if (network && get_own(st, tenant, network, &n, NULL) == 0) {
            const char *name = name_or_uuid(n.doc, n.id);
            json_array_append_new(nics, json_pack("{s:s}", "network", name));
            json_array_append_new(networks, json_pack("{s:s, s:s?}", "name", name, "description",
                                                      json_string_value(json_object_get(
                                                          n.doc, "description"))));
        }
        store_row_clear(&n);
    }
    json_decref(rows);
    return 0;
}

static json_t *describe_machine(struct store *st, const char *tenant, const char *id,
                                json_t *networks, struct cimi_error *err)
{
    struct hv_machine_spec spec;
    struct store_row row;
    json_t *node = NULL, *disks;

    memset(&row, 0, sizeof(row));
    if (get_own(st, tenant, id, &row, err) != 0 || machine_hv_spec(&row, &spec, err) != 0) {
        store_row_clear(&row);
        return NULL;
    }
    node = json_pack("{s:s, s:i, s:I, s:s, s:[], s:[]}", "type", "machine", "cpu", spec.cpu,
                     "memory", (json_int_t)spec.memory_kib, "cpuArch", spec.cpu_arch, "disks",
                     "nics");
    copy_common(row.doc, node);
    if (!json_object_get(node, "name"))
        json_object_set_new(node, "name", json_string(resource_uuid(id)));
    disks = json_object_get(node, "disks");
    for (size_t i = 0; i < spec.ndisks; i++) {
        json_t *disk = json_pack("{s:I, s:{s:s, s:s, s:i}}", "capacity",
                                 (json_int_t)spec.disks[i].capacity_kb * 1024, "source",
                                 "machine", id, "host", machine_host_of(&row), "slot",
                                 spec.disks[i].slot);
        /* A host without disk files (the test driver): the boot disk is its image. */
        if (spec.disks[i].slot == 0 && spec.image_location[0])
            json_object_set_new(json_object_get(disk, "source"), "image",
                                json_string(spec.image_location));
        json_array_append_new(disks, disk);
    }
    store_row_clear(&row);
    if (describe_volumes(st, tenant, id, disks, err) != 0 ||
        describe_nics(st, tenant, id, json_object_get(node, "nics"), networks, err) != 0) {
        json_decref(node);
        return NULL;
    }
    return node;
}

/* A System and its member Machines and Systems (nested), recursively. */
static json_t *describe_system(struct store *st, const struct store_row *sys, json_t *networks,
                               int depth, struct cimi_error *err)
{
    json_t *node = json_pack("{s:s, s:[]}", "type", "collection", "children"), *rows, *row;
    size_t i;

    copy_common(sys->doc, node);
    if (!json_object_get(node, "name"))
        json_object_set_new(node, "name", json_string(resource_uuid(sys->id)));
    if (depth > EXPORT_MAX_DEPTH) {
        err_set(err, 400, NULL, "systems nested deeper than %d cannot be exported",
                EXPORT_MAX_DEPTH);
        goto fail;
    }
    rows = children_of(st, t_system_machine.name, sys->id, err);
    json_array_foreach(rows, i, row) {
        const char *id = resource_ref(json_object_get(row, "doc"), "machine");
        json_t *m = id ? describe_machine(st, sys->tenant, id, networks, err) : NULL;
        if (id && !m) {
            json_decref(rows);
            goto fail;
        }
        if (m)
            json_array_append_new(json_object_get(node, "children"), m);
    }
    json_decref(rows);
    rows = children_of(st, t_system_system.name, sys->id, err);
    json_array_foreach(rows, i, row) {
        const char *id = resource_ref(json_object_get(row, "doc"), "system");
        struct store_row child;
        json_t *c = NULL;

        memset(&child, 0, sizeof(child));
        if (id && get_own(st, sys->tenant, id, &child, NULL) == 0)
            c = describe_system(st, &child, networks, depth + 1, err);
        store_row_clear(&child);
        if (id && !c && err->status) {
            json_decref(rows);
            goto fail;
        }
        if (c)
            json_array_append_new(json_object_get(node, "children"), c);
    }
    json_decref(rows);
    /* The System's networks, also those no member uses. */
    rows = children_of(st, t_system_network.name, sys->id, err);
    json_array_foreach(rows, i, row) {
        const char *id = resource_ref(json_object_get(row, "doc"), "network");
        struct store_row n;

        memset(&n, 0, sizeof(n));
        if (id && get_own(st, sys->tenant, id, &n, NULL) == 0)
            json_array_append_new(networks,
                                  json_pack("{s:s, s:s?}", "name", name_or_uuid(n.doc, n.id),
                                            "description",
                                            json_string_value(json_object_get(n.doc,
                                                                              "description"))));
        store_row_clear(&n);
    }
    json_decref(rows);
    return node;
fail:
    json_decref(node);
    return NULL;
}

/* ------------------------------------------------------------ SystemTemplates */

static json_t *resolve(struct cimi_request *req, const json_t *ref, const struct cimi_type *t,
                       const char *attr, struct cimi_error *err)
{
    char path[256];

    if (!ref)
        return NULL;
    return resource_resolve(req, ref, t, attr, path, sizeof(path), err);
}

/* The content of a template's disk: the imageLocation of the stored image
 * ref names by href (visible to the principal).  An image given by value,
 * or an href with an imageLocation of its own, gives none: its location was
 * never checked (image_location.h), and could name another tenant's disk. */
static json_t *image_source(struct cimi_request *req, const json_t *ref,
                            const struct cimi_type *t, const char *attr, struct cimi_error *err)
{
    const char *href = json_string_value(json_object_get(ref, "href"));
    const char *location;
    struct store_row row;
    json_t *source = NULL;
    char path[256];

    if (!href || href[0] == '#' ||
        resource_href_path(req, href, attr, path, sizeof(path), err) != 0 ||
        resource_load(req, path, t, &row, err) != 0)
        return NULL;
    location = json_string_value(json_object_get(row.doc, "imageLocation"));
    if (location && *location)
        source = json_pack("{s:s}", "image", location);
    store_row_clear(&row);
    return source;
}

/* A disk from a VolumeTemplate (by reference or value): its capacity and
 * image; NULL when it has no capacity. */
static json_t *template_volume_disk(struct cimi_request *req, const json_t *ref,
                                    struct cimi_error *err)
{
    json_t *vt = resolve(req, ref, &t_volume_template, "volumeTemplate", err);
    json_t *vc = vt ? resolve(req, json_object_get(vt, "volumeConfig"), &t_volume_configuration,
                              "volumeConfig", err)
                    : NULL;
    json_int_t kb = json_integer_value(json_object_get(vc, "capacity"));
    json_t *disk = kb > 0 ? json_pack("{s:I}", "capacity", kb * 1024) : NULL;
    json_t *src = disk ? image_source(req, json_object_get(vt, "volumeImage"), &t_volume_image,
                                      "volumeImage", err)
                       : NULL;

    if (src)
        json_object_set_new(disk, "source", src);
    json_decref(vc);
    json_decref(vt);
    return disk;
}

/* The sibling component descriptor a "#name" href names, or NULL. */
static const json_t *sibling(const json_t *siblings, const char *href)
{
    json_t *cd;
    size_t i;

    if (!href || href[0] != '#')
        return NULL;
    json_array_foreach(siblings, i, cd)
        if (strcmp(json_string_value(json_object_get(cd, "name")) ?: "", href + 1) == 0)
            return cd;
    return NULL;
}

/* A MachineTemplate's machine: configuration, image (disk 0), volume
 * templates and "#name" volumes (more disks), interfaces ("#name"). */
static json_t *describe_template_machine(struct cimi_request *req, const json_t *tmpl,
                                         const char *name, const json_t *siblings,
                                         struct cimi_error *err)
{
    json_t *config = resolve(req, json_object_get(tmpl, "machineConfig"),
                             &t_machine_configuration, "machineConfig", err);
    json_t *node, *disks, *item;
    size_t i;

    if (!config)
        return NULL;
    node = json_pack("{s:s, s:s, s:O, s:O, s:[], s:[]}", "type", "machine", "name", name, "cpu",
                     json_object_get(config, "cpu"), "memory", json_object_get(config, "memory"),
                     "disks", "nics");
    disks = json_object_get(node, "disks");
    json_array_foreach(json_object_get(config, "disks"), i, item) {
        json_t *disk = json_pack("{s:I}", "capacity",
                                 (json_int_t)json_integer_value(json_object_get(item, "capacity")) *
                                     1024);
        if (i == 0) {
            json_t *src = image_source(req, json_object_get(tmpl, "machineImage"),
                                       &t_machine_image, "machineImage", err);
            if (src)
                json_object_set_new(disk, "source", src);
        }
        json_array_append_new(disks, disk);
    }
    json_array_foreach(json_object_get(tmpl, "volumeTemplates"), i, item) {
        json_t *disk = template_volume_disk(req, item, err);
        if (disk)
            json_array_append_new(disks, disk);
    }
    json_array_foreach(json_object_get(tmpl, "volumes"), i, item) {
        const json_t *cd = sibling(siblings, json_string_value(json_object_get(item, "href")));
        json_t *disk = cd ? template_volume_disk(req, json_object_get(cd, "volumeTemplate"), err)
                          : NULL;
        if (disk) {
            json_object_set(disk, "volume", json_object_get(cd, "name"));
            json_array_append_new(disks, disk);
        }
    }
    json_array_foreach(json_object_get(tmpl, "networkInterfaces"), i, item) {
        const char *href = json_string_value(json_object_get(json_object_get(item, "network"),
                                                             "href"));
        if (href && href[0] == '#')
            json_array_append_new(json_object_get(node, "nics"),
                                  json_pack("{s:s}", "network", href + 1));
    }
    json_decref(config);
    err_clear(err);
    return node;
}

static json_t *describe_template(struct cimi_request *req, const json_t *doc, json_t *networks,
                                 int depth, struct cimi_error *err);

/* The nodes one component descriptor gives (quantity N: N of them). */
static int describe_component(struct cimi_request *req, const json_t *cd,
                              const json_t *siblings, json_t *children, json_t *networks,
                              int depth, struct cimi_error *err)
{
    const char *name = json_string_value(json_object_get(cd, "name"));
    json_int_t quantity = json_integer_value(json_object_get(cd, "quantity"));
    json_t *tmpl;

    name = name ? name : "component";
    quantity = quantity > 0 ? quantity : 1;
    if (quantity > EXPORT_MAX_QUANTITY)
        return err_set(err, 400, "componentDescriptors",
                       "component %s: a quantity over %d cannot be exported", name,
                       EXPORT_MAX_QUANTITY);
    if (json_object_get(cd, "networkTemplate")) {
        json_array_append_new(networks, json_pack("{s:s, s:s?}", "name", name, "description",
                                                  json_string_value(json_object_get(
                                                      cd, "description"))));
        return 0;
    }
    for (json_int_t k = 1; k <= quantity; k++) {
        char member[160];
        json_t *node = NULL;

        snprintf(member, sizeof(member), quantity > 1 ? "%s-%lld" : "%s", name, (long long)k);
        if ((tmpl = resolve(req, json_object_get(cd, "machineTemplate"), &t_machine_template,
                            "machineTemplate", err)) != NULL)
            node = describe_template_machine(req, tmpl, member, siblings, err);
        else if (!err->status &&
                 (tmpl = resolve(req, json_object_get(cd, "systemTemplate"), &t_system_template,
                                 "systemTemplate", err)) != NULL &&
                 (node = describe_template(req, tmpl, networks, depth + 1, err)) != NULL)
            json_object_set_new(node, "name", json_string(member));
        json_decref(tmpl);
        if (err->status)
            return -1;
        if (!node)
            return 0;  /* volumes, credentials, ...: nothing of their own in OVF */
        if (json_object_get(cd, "description"))
            json_object_set(node, "description", json_object_get(cd, "description"));
        json_array_append_new(children, node);
    }
    return 0;
}

static json_t *describe_template(struct cimi_request *req, const json_t *doc, json_t *networks,
                                 int depth, struct cimi_error *err)
{
    json_t *node = json_pack("{s:s, s:[]}", "type", "collection", "children"), *cd;
    size_t i;

    copy_common(doc, node);
    if (!json_object_get(node, "name"))
        json_object_set_new(node, "name", json_string("system"));
    if (depth > EXPORT_MAX_DEPTH) {
        err_set(err, 400, NULL, "templates nested deeper than %d cannot be exported",
                EXPORT_MAX_DEPTH);
        json_decref(node);
        return NULL;
    }
    json_array_foreach(json_object_get(doc, "componentDescriptors"), i, cd)
        if (describe_component(req, cd, json_object_get(doc, "componentDescriptors"),
                               json_object_get(node, "children"), networks, depth, err) != 0) {
            json_decref(node);
            return NULL;
        }
    return node;
}

/* ------------------------------------------------------------ the request */

/* The Job's parameters; without a destination the Package it fills is
 * made now and named in job->created (the reply's Location). */
static int begin_export(struct cimi_request *req, const struct store_row *row, json_t *content,
                        json_t *networks, const char *profile, const char *destination,
                        struct job_spec *job, struct cimi_error *err)
{
    char path[PATH_MAX] = "";
    struct store_row pkg;

    memset(&pkg, 0, sizeof(pkg));
    if (!destination &&
        (package_quota_check(req, -1, err) != 0 ||
         package_begin(req, json_string_value(json_object_get(content, "name")), row->id, &pkg,
                       path, sizeof(path), err) != 0)) {
        json_decref(content);
        json_decref(networks);
        return -1;
    }
    snprintf(job->op, sizeof(job->op), "%s", system_export_job.op);
    job->params = json_pack("{s:s, s:{s:s, s:o, s:o}}", "origin", row->id, "package", "profile",
                            profile, "networks", networks, "content", content);
    if (destination)
        json_object_set_new(job->params, "destination", json_string(destination));
    else {
        json_object_set_new(job->params, "packageId", json_string(pkg.id));
        json_object_set_new(job->params, "path", json_string(path));
        snprintf(job->created, sizeof(job->created), "%s", pkg.id);
        snprintf(job->location, sizeof(job->location), "%s", pkg.id);
    }
    store_row_clear(&pkg);
    return job->params ? 0 : err_set(err, 500, NULL, "out of memory");
}

int system_export_run(struct cimi_request *req, struct store_row *row, const json_t *action,
                      struct job_spec *job, struct cimi_error *err)
{
    const char *profile, *destination;
    json_t *networks, *content;

    if (check_action(action, &profile, &destination, err) != 0)
        return -1;
    networks = json_array();
    content = describe_system(req->st, row, networks, 0, err);
    if (!content) {
        json_decref(networks);
        return -1;
    }
    return begin_export(req, row, content, networks, profile, destination, job, err);
}

int system_template_export_run(struct cimi_request *req, struct store_row *row,
                               const json_t *action, struct job_spec *job, struct cimi_error *err)
{
    const char *profile, *destination;
    json_t *networks, *content;

    if (check_action(action, &profile, &destination, err) != 0)
        return -1;
    networks = json_array();
    err_clear(err);
    content = describe_template(req, row->doc, networks, 0, err);
    if (!content) {
        json_decref(networks);
        return -1;
    }
    return begin_export(req, row, content, networks, profile, destination, job, err);
}
