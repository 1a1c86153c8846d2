/*
 * system_import_build.c - the neutral model of an OVF package (ovf.h) into
 * CIMI resources (DSP0263 Annex A), inside the import Job's transaction:
 *
 *   a VirtualSystem's first disk       MachineImage (IMAGE, AVAILABLE, the
 *                                      converted file; deleting it removes it)
 *   its other disks                    VolumeImage if the Disk has a file;
 *                                      a Volume component (VolumeTemplate by
 *                                      value: capacity KB, image) the
 *                                      MachineTemplate's volumes name "#name"
 *   Items 3, 4, the boot disk size     MachineConfiguration (cpu, memory KiB,
 *                                      disks[0] capacity KB)
 *   each Network of NetworkSection     NetworkTemplate (PRIVATE)
 *   the content tree                   SystemTemplate: a descriptor per
 *                                      network (by reference), per machine
 *                                      (MachineTemplate by value whose NICs
 *                                      name the network "#name"), per nested
 *                                      collection (SystemTemplate by value)
 *
 * What CIMI has no attribute for (product, startup order, skipped content,
 * the OVF ids) is kept in the SystemTemplate's private document "ovf".
 */
#include <ctype.h>
#include <nettle/sha2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "resources/resource.h"
#include "resources/system_import.h"

#define TYPE_URI(t) CIMI_NS "/" t

/* ---- the plan: which disks become which images ---- */

static const json_t *find_by(const json_t *list, const char *key, const char *value)
{
    size_t i;
    json_t *e;
    json_array_foreach(list, i, e) {
        const char *v = json_string_value(json_object_get(e, key));
        if (v && strcmp(v, value) == 0)
            return e;
    }
    return NULL;
}

/* A UUID derived from the Job's id and n (SHA-256, shaped as version 4). */
static void derived_uuid(const char *job_id, size_t n, char *out, size_t len)
{
    struct sha256_ctx ctx;
    uint8_t d[SHA256_DIGEST_SIZE];
    char seed[200];

    snprintf(seed, sizeof(seed), "%s/ovf-import/%zu", job_id, n);
    sha256_init(&ctx);
    sha256_update(&ctx, strlen(seed), (const uint8_t *)seed);
    sha256_digest(&ctx, sizeof(d), d);
    d[6] = (d[6] & 0x0f) | 0x40;
    d[8] = (d[8] & 0x3f) | 0x80;
    snprintf(out, len,
             "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", d[0], d[1],
             d[2], d[3], d[4], d[5], d[6], d[7], d[8], d[9], d[10], d[11], d[12], d[13], d[14],
             d[15]);
}

/* A capacity the import's ovf.property.<key> sets (checked against the
 * Property's type before). */
static void capacity_given(const json_t *disk, const json_t *properties, uint64_t *capacity)
{
    const char *key = json_string_value(json_object_get(disk, "capacityProperty"));
    char name[600];
    uint64_t bytes;

    if (!key)
        return;
    snprintf(name, sizeof(name), "ovf.property.%s", key);
    const char *value = json_string_value(json_object_get(properties, name));
    if (value && ovf_quantity(value, json_string_value(json_object_get(disk, "capacityUnits")),
                              OVF_UNIT_BYTE, 1, &bytes) == 0)
        *capacity = bytes;
}

static int plan_add(struct import_plan *plan, const json_t *model, const json_t *disk,
                    bool machine_image, const char *job_id, const json_t *properties,
                    struct cimi_error *err)
{
    struct import_disk *grown = realloc(plan->disks, (plan->count + 1) * sizeof(*grown));
    char uuid[37];

    if (!grown)
        return err_set(err, 500, NULL, "out of memory");
    plan->disks = grown;
    struct import_disk *d = &grown[plan->count];
    memset(d, 0, sizeof(*d));
    d->disk_id = json_string_value(json_object_get(disk, "id"));
    const char *file_ref = json_string_value(json_object_get(disk, "fileRef"));
    const json_t *file = file_ref ? find_by(json_object_get(model, "files"), "id", file_ref) : NULL;
    d->href = file ? json_string_value(json_object_get(file, "href")) : NULL;
    d->gzip = file && json_object_get(file, "compression");
    d->chunked = file && json_object_get(file, "chunkSize");
    d->capacity = (uint64_t)json_integer_value(json_object_get(disk, "capacity"));
    capacity_given(disk, properties, &d->capacity);
    d->machine_image = machine_image;
    derived_uuid(job_id, plan->count, uuid, sizeof(uuid));
    snprintf(d->id, sizeof(d->id), "%s/%s", machine_image ? "machineImages" : "volumeImages",
             uuid);
    plan->count++;
    return 0;
}

/* A disk drive's place: its controller's position among the system's
 * controllers (none: after them), its unit on it, its Item's position. */
struct drive_place {
    const json_t *disk;
    long controller, unit;
    size_t item;
};

static int by_place(const void *a, const void *b)
{
    const struct drive_place *x = a, *y = b;
    if (x->controller != y->controller)
        return x->controller < y->controller ? -1 : 1;
    if (x->unit != y->unit)
        return x->unit < y->unit ? -1 : 1;
    return x->item < y->item ? -1 : x->item > y->item;
}

static long controller_position(const json_t *vs, const char *instance)
{
    size_t i;
    json_t *c;
    json_array_foreach(json_object_get(vs, "controllers"), i, c)
        if (instance && strcmp(json_string_value(json_object_get(c, "instance")), instance) == 0)
            return (long)i;
    return 1 << 20;
}

/* The Disk documents of a system's disk drives, the first controller's
 * first unit first (it boots: Annex A's "first disk of the first
 * controller"), then by controller, unit and Item order. */
static size_t system_disks(const json_t *model, const json_t *vs, const json_t **out, size_t max)
{
    struct drive_place places[64];
    size_t i, n = 0;
    json_t *drive;

    json_array_foreach(json_object_get(vs, "drives"), i, drive) {
        const char *id = json_string_value(json_object_get(drive, "disk"));
        const char *device = json_string_value(json_object_get(drive, "device"));
        const json_t *disk = id ? find_by(json_object_get(model, "disks"), "id", id) : NULL;
        const char *unit = json_string_value(json_object_get(drive, "unit"));
        if (!disk || strcmp(device, "disk") != 0 || n >= max || n >= 64)
            continue;
        places[n] = (struct drive_place){
            disk, controller_position(vs, json_string_value(json_object_get(drive, "controller"))),
            unit ? strtol(unit, NULL, 10) : 0, i};
        n++;
    }
    qsort(places, n, sizeof(places[0]), by_place);
    for (i = 0; i < n; i++)
        out[i] = places[i].disk;
    return n;
}

#define MAX_DISKS 16

static int plan_content(struct import_plan *plan, const json_t *model, const json_t *c,
                        const char *job_id, const json_t *properties, struct cimi_error *err)
{
    size_t i;
    json_t *child;

    if (strcmp(json_string_value(json_object_get(c, "kind")), "collection") == 0) {
        json_array_foreach(json_object_get(c, "children"), i, child)
            if (plan_content(plan, model, child, job_id, properties, err) != 0)
                return -1;
        return 0;
    }
    const json_t *disks[MAX_DISKS];
    size_t n = system_disks(model, c, disks, MAX_DISKS);
    if (n == 0)
        return err_set(err, 400, "source",
                       "VirtualSystem '%s' has no disk; cimid machines boot from a disk image",
                       json_string_value(json_object_get(c, "id")));
    if (json_array_size(json_object_get(c, "drives")) > MAX_DISKS)
        return err_set(err, 400, "source", "VirtualSystem '%s' has more than %d drives",
                       json_string_value(json_object_get(c, "id")), MAX_DISKS);
    for (i = 0; i < n; i++)
        if (plan_add(plan, model, disks[i], i == 0, job_id, properties, err) != 0)
            return -1;
    return 0;
}

int import_plan(const json_t *model, const char *job_id, const json_t *properties,
                struct import_plan *plan, struct cimi_error *err)
{
    memset(plan, 0, sizeof(*plan));
    if (plan_content(plan, model, json_object_get(model, "content"), job_id, properties,
                     err) != 0) {
        import_plan_free(plan);
        return -1;
    }
    return 0;
}

void import_plan_free(struct import_plan *plan)
{
    free(plan->disks);
    plan->disks = NULL;
    plan->count = 0;
}

/* ---- rows ---- */

/* A component name: the OVF name with what an href fragment cannot hold
 * replaced by '-'. */
static void component_name(const char *name, char *out, size_t len)
{
    size_t n = 0;
    for (const char *p = name; *p && n + 1 < len; p++)
        out[n++] = isalnum((unsigned char)*p) || strchr("-_.", *p) ? *p : '-';
    out[n] = 0;
}

struct build {
    struct cimi_request *req;
    const json_t *model;
    const struct import_plan *plan;
    size_t next_disk;           /* the plan's disks are used in content order */
    const char *source;
    const json_t *properties;   /* the Action's */
    json_t *networks;           /* OVF network name -> its NetworkTemplate's id */
    const json_t *network_paths; /* "ovf.network.<name>" -> an existing Network's path */
};

static int insert(struct build *b, const struct cimi_type *t, const char *id, json_t *doc,
                  json_t *priv, struct cimi_error *err)
{
    struct store_row row;
    int rc;

    memset(&row, 0, sizeof(row));
    row.doc = doc;
    row.priv = priv ? priv : json_object();
    rc = resource_new_row(b->req, t, &row, err);
    if (rc == 0 && id) /* the planned id, not a fresh one */
        snprintf(row.id, sizeof(row.id), "%s", id);
    if (rc == 0)
        rc = b->req->st->ops->insert(b->req->st, &row, err);
    if (rc == 0 && !id)
        json_object_set_new(doc, "id", json_string(row.id)); /* read back by the caller */
    store_row_clear(&row);
    return rc;
}

/* Insert a row and return its id (a new string) through the doc. */
static char *insert_new(struct build *b, const struct cimi_type *t, json_t *doc,
                        struct cimi_error *err)
{
    json_incref(doc); /* insert consumes one reference, the caller keeps its own */
    if (insert(b, t, NULL, doc, NULL, err) != 0)
        return NULL;
    return strdup(json_string_value(json_object_get(doc, "id")));
}

static json_t *describe(const char *what, const char *name, const char *source)
{
    char text[1400];
    snprintf(text, sizeof(text), "%s %s imported from %s", what, name, source);
    return json_string(text);
}

static int image_row(struct build *b, const struct import_disk *d, const char *vs_name,
                     size_t index, struct cimi_error *err)
{
    char name[300];
    snprintf(name, sizeof(name), "%s-disk%zu", vs_name, index + 1);
    json_t *doc = json_pack("{s:s, s:o, s:s, s:s}", "name", name, "description",
                            describe("disk", d->disk_id, b->source), "state", "AVAILABLE",
                            "imageLocation", d->location);
    if (d->machine_image)
        json_object_set_new(doc, "type", json_string("IMAGE"));
    else
        json_object_set_new(doc, "bootable", json_false());
    return insert(b, d->machine_image ? &t_machine_image : &t_volume_image, d->id, doc,
                  json_pack("{s:b, s:s}", "file", 1, "ovfDisk", d->disk_id), err);
}

static long long kib(uint64_t bytes)
{
    return (long long)((bytes + 1023) / 1024);
}

/* A data disk: a Volume component (VolumeTemplate by value: capacity KB,
 * the VolumeImage when the Disk has a file) that the machine's template
 * names "#<machine>-disk<N>" in its volumes. */
static json_t *volume_component(const struct import_disk *d, const char *machine, size_t index,
                                char *name, size_t name_len)
{
    snprintf(name, name_len, "%s-disk%zu", machine, index + 1);
    json_t *vt = json_pack("{s:{s:I, s:s}}", "volumeConfig", "capacity",
                           (json_int_t)kib(d->capacity), "format", "ext4");
    if (d->href)
        json_object_set_new(vt, "volumeImage", json_pack("{s:s}", "href", d->id));
    return json_pack("{s:s, s:s, s:s, s:o, s:i}", "name", name, "description", d->disk_id,
                     "type", TYPE_URI("Volume"), "volumeTemplate", vt, "quantity", 1);
}

/* The Network the import's property ovf.network.<name> names (its path,
 * checked in the request), or NULL. */
static const char *existing_network(const struct build *b, const char *ovf_name)
{
    char key[300];
    snprintf(key, sizeof(key), "ovf.network.%s", ovf_name);
    return json_string_value(json_object_get(b->network_paths, key));
}

static json_t *machine_template(struct build *b, const json_t *vs, const char *name,
                                json_t *siblings, struct cimi_error *err)
{
    const json_t *disks[MAX_DISKS];
    size_t n = system_disks(b->model, vs, disks, MAX_DISKS);
    json_t *volumes = json_array(), *nics = json_array(), *nic;
    size_t i;

    for (i = 0; i < n; i++) {
        const struct import_disk *d = &b->plan->disks[b->next_disk + i];
        if (d->href && image_row(b, d, name, i, err) != 0)
            goto fail;
        if (i == 0)
            continue;
        char location[16], component[300], ref[310];
        snprintf(location, sizeof(location), "/dev/vd%c", (int)('a' + i));
        json_array_append_new(siblings, volume_component(d, name, i, component, sizeof(component)));
        snprintf(ref, sizeof(ref), "#%s", component);
        json_array_append_new(volumes, json_pack("{s:s, s:s}", "href", ref, "initialLocation",
                                                 location));
    }
    const struct import_disk *boot = &b->plan->disks[b->next_disk];
    b->next_disk += n;
    json_t *config = json_pack("{s:s, s:o, s:I, s:I, s:[{s:I, s:s, s:s}]}", "name", name,
                               "description", describe("hardware of", name, b->source), "cpu",
                               json_integer_value(json_object_get(vs, "cpu")), "memory",
                               (json_int_t)kib((uint64_t)json_integer_value(
                                   json_object_get(vs, "memory"))),
                               "disks", "capacity", (json_int_t)kib(boot->capacity), "format",
                               "ext4", "initialLocation", "/dev/vda");
    char *config_id = insert_new(b, &t_machine_configuration, config, err);
    json_decref(config);
    if (!config_id)
        goto fail;
    json_array_foreach(json_object_get(vs, "nics"), i, nic) {
        const char *net = json_string_value(json_object_get(nic, "network"));
        char ref[300], safe[256];
        if (!net)
            continue; /* not connected: nothing CIMI can say */
        const char *existing = existing_network(b, net);
        component_name(net, safe, sizeof(safe));
        snprintf(ref, sizeof(ref), "#%s", safe);
        json_array_append_new(nics, json_pack("{s:{s:s}}", "network", "href",
                                              existing ? existing : ref));
    }
    json_t *mt = json_pack("{s:s, s:{s:s}, s:{s:s}}", "name", name, "machineConfig", "href",
                           config_id, "machineImage", "href", boot->id);
    free(config_id);
    if (boot->href == NULL) {
        json_decref(mt);
        err_set(err, 400, "source", "the first disk of VirtualSystem '%s' has no file to boot from",
                name);
        goto fail;
    }
    if (json_array_size(volumes))
        json_object_set(mt, "volumes", volumes);
    if (json_array_size(nics))
        json_object_set(mt, "networkInterfaces", nics);
    json_decref(volumes);
    json_decref(nics);
    return mt;
fail:
    json_decref(volumes);
    json_decref(nics);
    return NULL;
}

/* The product properties as descriptor properties "ovf.property.<key>", the
 * Action's ovf.property.<key> overriding userConfigurable ones; password
 * properties are left out. */
static json_t *product_properties(struct build *b, const json_t *c)
{
    json_t *props = json_object(), *p;
    size_t i;

    json_array_foreach(json_object_get(json_object_get(c, "product"), "properties"), i, p) {
        char key[600];
        snprintf(key, sizeof(key), "ovf.property.%s",
                 json_string_value(json_object_get(p, "key")));
        const char *given = json_string_value(json_object_get(b->properties, key));
        const char *value = json_string_value(json_object_get(p, "value"));
        if (given && json_is_true(json_object_get(p, "userConfigurable")))
            value = given;
        /* a password never lands in readable properties */
        if (value && !json_is_true(json_object_get(p, "password")))
            json_object_set_new(props, key, json_string(value));
    }
    return props;
}

static const char *content_name(const json_t *c)
{
    const char *name = json_string_value(json_object_get(c, "name"));
    return name ? name : json_string_value(json_object_get(c, "id"));
}

static json_t *descriptors(struct build *b, const json_t *c, bool top, struct cimi_error *err);

static json_t *descriptor_of(struct build *b, const json_t *child, json_t *siblings,
                             struct cimi_error *err)
{
    char name[256];
    component_name(content_name(child), name, sizeof(name));
    const char *info = json_string_value(json_object_get(child, "annotation"));
    if (!info)
        info = json_string_value(json_object_get(child, "info"));
    json_t *d = json_pack("{s:s, s:i}", "name", name, "quantity", 1);
    if (info)
        json_object_set_new(d, "description", json_string(info));
    json_t *props = product_properties(b, child);
    if (json_object_size(props))
        json_object_set(d, "properties", props);
    json_decref(props);
    if (strcmp(json_string_value(json_object_get(child, "kind")), "collection") == 0) {
        json_t *list = descriptors(b, child, false, err);
        if (!list) {
            json_decref(d);
            return NULL;
        }
        json_object_set_new(d, "type", json_string(TYPE_URI("System")));
        json_object_set_new(d, "systemTemplate",
                            json_pack("{s:s, s:o}", "name", name, "componentDescriptors", list));
        return d;
    }
    json_t *mt = machine_template(b, child, name, siblings, err);
    if (!mt) {
        json_decref(d);
        return NULL;
    }
    json_object_set_new(d, "type", json_string(TYPE_URI("Machine")));
    json_object_set_new(d, "machineTemplate", mt);
    return d;
}

/* The Network component of the OVF network ovf_name; its NetworkTemplate
 * row is made once and shared by every level that names it. */
static json_t *network_component(struct build *b, const char *ovf_name, struct cimi_error *err)
{
    const json_t *net = find_by(json_object_get(b->model, "networks"), "name", ovf_name);
    const char *desc = json_string_value(json_object_get(net, "description"));
    const char *id = json_string_value(json_object_get(b->networks, ovf_name));
    char name[256];

    component_name(ovf_name, name, sizeof(name));
    if (!id) {
        json_t *doc = json_pack("{s:s, s:s, s:{s:s}}", "name", name, "description",
                                desc ? desc : ovf_name, "networkConfig", "networkType",
                                "PRIVATE");
        char *made = insert_new(b, &t_network_template, doc, err);
        json_decref(doc);
        if (!made)
            return NULL;
        json_object_set_new(b->networks, ovf_name, json_string(made));
        free(made);
        id = json_string_value(json_object_get(b->networks, ovf_name));
    }
    return json_pack("{s:s, s:s, s:s, s:{s:s}, s:i}", "name", name, "description", ovf_name,
                     "type", TYPE_URI("Network"), "networkTemplate", "href", id, "quantity", 1);
}

/* The networks a level needs: at the top every Network of NetworkSection,
 * in a nested collection those its own machines connect to ("#name" names
 * a sibling component only). */
static int network_descriptors(struct build *b, const json_t *c, bool top, json_t *list,
                               struct cimi_error *err)
{
    json_t *wanted = json_object(), *net, *child, *nic;
    size_t i, j;
    int rc = 0;

    if (top)
        json_array_foreach(json_object_get(b->model, "networks"), i, net)
            json_object_set_new(wanted, json_string_value(json_object_get(net, "name")),
                                json_true());
    json_array_foreach(json_object_get(c, "children"), i, child)
        json_array_foreach(json_object_get(child, "nics"), j, nic)
            if (json_string_value(json_object_get(nic, "network")))
                json_object_set_new(wanted, json_string_value(json_object_get(nic, "network")),
                                    json_true());
    json_array_foreach(json_object_get(b->model, "networks"), i, net) { /* NetworkSection order */
        const char *name = json_string_value(json_object_get(net, "name"));
        if (rc != 0 || !json_object_get(wanted, name) || existing_network(b, name))
            continue;
        json_t *d = network_component(b, name, err);
        if (!d)
            rc = -1;
        else
            json_array_append_new(list, d);
    }
    json_decref(wanted);
    return rc;
}

static json_t *descriptors(struct build *b, const json_t *c, bool top, struct cimi_error *err)
{
    json_t *list = json_array(), *child;
    size_t i;

    if (network_descriptors(b, c, top, list, err) != 0) {
        json_decref(list);
        return NULL;
    }
    if (strcmp(json_string_value(json_object_get(c, "kind")), "system") == 0) {
        json_t *d = descriptor_of(b, c, list, err); /* a lone VirtualSystem, wrapped */
        if (!d) {
            json_decref(list);
            return NULL;
        }
        json_array_append_new(list, d);
        return list;
    }
    json_array_foreach(json_object_get(c, "children"), i, child) {
        json_t *d = descriptor_of(b, child, list, err);
        if (!d) {
            json_decref(list);
            return NULL;
        }
        json_array_append_new(list, d);
    }
    return list;
}

int import_build(struct cimi_request *req, const json_t *model, const struct import_plan *plan,
                 const char *template_id, const char *source, const json_t *action_properties,
                 const json_t *network_paths, json_t **template_doc, struct cimi_error *err)
{
    struct build b = {req, model, plan, 0, source, action_properties, json_object(),
                      network_paths};
    const json_t *content = json_object_get(model, "content");
    json_t *list = descriptors(&b, content, true, err);

    json_decref(b.networks);
    if (!list)
        return -1;
    const char *info = json_string_value(json_object_get(content, "annotation"));
    if (!info)
        info = json_string_value(json_object_get(content, "info"));
    json_t *doc = json_pack("{s:s, s:o, s:s}", "name", content_name(content),
                            "componentDescriptors", list, "importImage", source);
    if (info)
        json_object_set_new(doc, "description", json_string(info));
    json_t *priv = json_pack("{s:{s:O, s:O, s:O}}", "ovf", "version",
                             json_object_get(model, "version"), "content", content, "skipped",
                             json_object_get(model, "skipped"));
    *template_doc = json_incref(doc);
    if (insert(&b, &t_system_template, template_id, doc, priv, err) != 0) {
        json_decref(*template_doc);
        *template_doc = NULL;
        return -1;
    }
    return 0;
}
