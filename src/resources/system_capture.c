/*
 * system_capture.c - a System's capture action: a new SystemTemplate from
 * which SystemCreate makes a System like it.
 *
 * Every machine of the System (and of the Systems nested in it) is
 * captured as a MachineImage by the image.capture Job kind, exactly as a
 * MachineImage create with the Machine as imageLocation does: one nested
 * Job per machine, SYSTEM_OPS_AT_ONCE at a time.  The template is written
 * in the request: one componentDescriptor per machine (a machineTemplate by
 * value: its cpu, memory and disks, the new image, initialState STARTED
 * when it runs, its interfaces - on the System's own networks by
 * "#name", on others by reference - and its volumes of the System by
 * "#name"; credentials are not captured), per volume (volumeTemplate by value:
 * type and capacity; the contents are not copied) and per network
 * (networkTemplate by value: its configuration).  The Job names the
 * template in affectedResources.  If a capture fails, the template is
 * removed and the Job names the machines that failed (the images taken
 * stay, listed in the message); a stop while queued removes the template
 * and the new images.  Offered only while every machine allows capture
 * (system_ops.c).
 */
#include "resources/system_ops.h"

#include <stdio.h>
#include <string.h>

static const char *text(const json_t *doc, const char *name)
{
    return json_string_value(json_object_get(doc, name)) ?: "";
}

/* A descriptor name not used yet in names (the member's name, else kind-N). */
static const char *unique_name(json_t *names, const json_t *doc, const char *kind, size_t n,
                               char *out, size_t len)
{
    const char *name = text(doc, "name");

    if (name[0])
        snprintf(out, len, "%s", name);
    else
        snprintf(out, len, "%s-%zu", kind, n + 1);
    for (int i = 2; json_object_get(names, out) != NULL; i++)
        snprintf(out, len, "%s-%d", name[0] ? name : kind, i);
    json_object_set_new(names, out, json_true());
    return out;
}

static json_t *descriptor(const char *name, const char *type, const char *attr, json_t *tmpl)
{
    char uri[128];

    snprintf(uri, sizeof(uri), CIMI_NS "/%s", type);
    return json_pack("{s:s, s:s, s:i, s:o}", "name", name, "type", uri, "quantity", 1, attr, tmpl);
}

/* Copy the attributes listed of src into a new object. */
static json_t *pick(const json_t *src, const char *const *attrs)
{
    json_t *out = json_object();

    for (size_t i = 0; attrs[i]; i++)
        if (json_object_get(src, attrs[i]) != NULL)
            json_object_set(out, attrs[i], json_object_get(src, attrs[i]));
    return out;
}

/* ---- networks and volumes ---- */

struct capture {
    struct cimi_request *req;
    json_t *components;   /* componentDescriptors */
    json_t *names;        /* descriptor names used */
    json_t *member_names; /* member path -> its descriptor's name */
    json_t *orders;       /* machine path -> its start order (system_start_orders) */
};

/* A network or a volume member: a template by value holding its
 * configuration (for a volume its type and capacity; the contents are not
 * copied). */
struct member_kind {
    const struct cimi_type *type;
    const char *kind;          /* "network": names kind-N when it has none */
    const char *type_name;     /* "Network" */
    const char *template_attr; /* "networkTemplate" */
    const char *config_attr;   /* "networkConfig" */
    const char *const *config; /* the attributes copied */
};

static const char *const network_config[] = {"networkType", "mtu", "classOfService", NULL};
static const char *const volume_config[] = {"type", "capacity", NULL};
static const struct member_kind network_member = {&t_network, "network", "Network",
                                                  "networkTemplate", "networkConfig",
                                                  network_config};
static const struct member_kind volume_member = {&t_volume, "volume", "Volume", "volumeTemplate",
                                                 "volumeConfig", volume_config};

static int add_configured(struct capture *c, const struct member_kind *k, const char *path,
                          size_t n, struct cimi_error *err)
{
    struct store_row member;
    char name[128];

    if (resource_load(c->req, path, k->type, &member, err) != 0)
        return -1;
    unique_name(c->names, member.doc, k->kind, n, name, sizeof(name));
    json_object_set_new(c->member_names, path, json_string(name));
    json_array_append_new(c->components,
                          descriptor(name, k->type_name, k->template_attr,
                                     json_pack("{s:o}", k->config_attr,
                                               pick(member.doc, k->config))));
    store_row_clear(&member);
    return 0;
}

/* ---- machines ---- */

/* A listing of a machine's interfaces or volumes, with the System's member
 * names to refer to them by. */
struct member_list {
    const json_t *member_names; /* member path -> its descriptor's name */
    json_t *list;
};

/* "#name" into ref when href is a member of the System (its descriptor's
 * name), else NULL. */
static const char *member_ref(const struct member_list *ml, const char *href, char *ref,
                              size_t len)
{
    const char *member = href ? json_string_value(json_object_get(ml->member_names, href)) : NULL;

    if (member == NULL)
        return NULL;
    snprintf(ref, len, "#%s", member);
    return ref;
}

/* An interface on a network: the System's by "#name", another by href. */
static int add_interface(void *arg, struct store_row *row)
{
    struct member_list *ml = arg;
    const char *href = resource_ref(row->doc, "network");
    char ref[160];
    json_t *nic;

    if (href == NULL)
        return 0;
    nic = json_pack("{s:{s:s}, s:s}", "network", "href",
                    member_ref(ml, href, ref, sizeof(ref)) ?: href, "state", "ACTIVE");
    if (json_is_integer(json_object_get(row->doc, "mtu")))
        json_object_set(nic, "mtu", json_object_get(row->doc, "mtu"));
    json_array_append_new(ml->list, nic);
    return 0;
}

/* A volume attached to the machine: kept when it is one of the System's
 * (as "#name"; a volume outside the System stays with its machine). */
static int add_attached(void *arg, struct store_row *row)
{
    struct member_list *ml = arg;
    char ref[160];
    json_t *v;

    if (member_ref(ml, resource_ref(row->doc, "volume"), ref, sizeof(ref)) == NULL)
        return 0;
    v = json_pack("{s:s}", "href", ref);
    if (text(row->doc, "initialLocation")[0])
        json_object_set(v, "initialLocation", json_object_get(row->doc, "initialLocation"));
    json_array_append_new(ml->list, v);
    return 0;
}

/* A machine's extra disks as a MachineConfiguration lists them (what the
 * hypervisor spec kept: capacity, and format and initialLocation when set). */
static json_t *config_disks(const json_t *spec_disks)
{
    static const char *const optional[] = {"format", "initialLocation", NULL};
    json_t *disks = json_array(), *d;
    size_t i;

    json_array_foreach(spec_disks, i, d) {
        json_t *disk = json_pack("{s:O}", "capacity", json_object_get(d, "capacity"));
        for (size_t k = 0; optional[k]; k++)
            if (text(d, optional[k])[0])
                json_object_set(disk, optional[k], json_object_get(d, optional[k]));
        json_array_append_new(disks, disk);
    }
    return disks;
}

/* Set attr to list unless it is empty (then list is freed). */
static void set_if_any(json_t *doc, const char *attr, json_t *list)
{
    if (json_array_size(list) > 0)
        json_object_set_new(doc, attr, list);
    else
        json_decref(list);
}

/* The machine's template by value: configuration, image, state, its
 * volumes of the System and its interfaces. */
static json_t *machine_template(struct capture *c, const struct store_row *machine,
                                const char *image, struct cimi_error *err)
{
    static const char *const config[] = {"cpu", "memory", "cpuArch", NULL};
    const json_t *spec = json_object_get(machine->priv, "spec");
    json_t *cfg = pick(spec, config), *tmpl;
    struct member_list in = {c->member_names, json_array()};
    struct member_list at = {c->member_names, json_array()};
    struct store *st = c->req->st;

    if (json_array_size(json_object_get(spec, "disks")) > 0)
        json_object_set_new(cfg, "disks", config_disks(json_object_get(spec, "disks")));
    tmpl = json_pack("{s:o, s:{s:s}}", "machineConfig", cfg, "machineImage", "href", image);
    if (strcmp(text(machine->doc, "state"), "STARTED") == 0)
        json_object_set_new(tmpl, "initialState", json_string("STARTED"));
    if (st->ops->list(st, t_machine_network_interface.name, machine->id, NULL, add_interface,
                      &in, err) != 0 ||
        st->ops->list(st, t_machine_volume.name, machine->id, NULL, add_attached, &at, err) != 0) {
        json_decref(in.list);
        json_decref(at.list);
        json_decref(tmpl);
        return NULL;
    }
    set_if_any(tmpl, "volumes", at.list);
    set_if_any(tmpl, "networkInterfaces", in.list);
    return tmpl;
}

/* The machine's MachineImage (CREATING, inserted) and its image.capture step. */
static int capture_image(struct cimi_request *req, const struct store_row *machine,
                         const char *system_name, struct store_row *image, struct job_spec *step,
                         struct cimi_error *err)
{
    const struct resource_ops *ro = resource_ops_of(&t_machine_image);
    char name[300];
    json_t *input;
    int rc;

    snprintf(name, sizeof(name), "%s (captured with %s)",
             text(machine->doc, "name")[0] ? text(machine->doc, "name") : machine->id, system_name);
    input = json_pack("{s:s, s:s, s:s}", "name", name, "type", "IMAGE", "imageLocation",
                      machine->id);
    memset(image, 0, sizeof(*image));
    rc = (ro->check ? ro->check(req, input, err) : 0) == 0 &&
                 ro->create(req, input, image, step, err) == 0 &&
                 req->st->ops->insert(req->st, image, err) == 0
             ? 0
             : -1;
    json_decref(input);
    snprintf(step->action, sizeof(step->action), "add");
    snprintf(step->target, sizeof(step->target), "%s", t_machine_image.cep_attr);
    snprintf(step->created, sizeof(step->created), "%s", image->id);
    return rc;
}

static int add_machine(struct capture *c, const char *path, size_t n, const char *system_name,
                       struct job_spec *job, struct cimi_error *err)
{
    struct store_row machine, image;
    struct job_spec step;
    char name[128];
    json_t *tmpl = NULL;
    int rc;

    if (resource_load(c->req, path, &t_machine, &machine, err) != 0)
        return -1;
    resource_ops_of(&t_machine)->refresh(c->req, &machine);
    job_spec_init(&step);
    snprintf(step.tenant, sizeof(step.tenant), "%s", job->tenant);
    rc = capture_image(c->req, &machine, system_name, &image, &step, err);
    if (rc == 0)
        tmpl = machine_template(c, &machine, image.id, err);
    if (tmpl != NULL) {
        unique_name(c->names, machine.doc, "machine", n, name, sizeof(name));
        json_t *d = descriptor(name, "Machine", "machineTemplate", tmpl);
        json_object_update(d, json_object_get(c->orders, path));
        json_array_append_new(c->components, d);
        json_array_append_new(json_object_get(job->params, "images"), json_string(image.id));
        if (job_spec_add_step_in_stage(job, &step, 0) != 0)
            rc = err_set(err, 500, NULL, "cannot describe the nested Jobs");
    } else {
        rc = -1;
    }
    job_spec_clear(&step);
    store_row_clear(&image);
    store_row_clear(&machine);
    return rc;
}

/* ---- the action ---- */

static int add_members(struct capture *c, const struct store_row *system, json_t *machines,
                       json_t *volumes, json_t *networks, struct job_spec *job,
                       struct cimi_error *err)
{
    const char *system_name = text(system->doc, "name")[0] ? text(system->doc, "name") : system->id;
    json_t *path;
    size_t i;

    json_array_foreach(networks, i, path)
        if (add_configured(c, &network_member, json_string_value(path), i, err) != 0)
            return -1;
    json_array_foreach(volumes, i, path)
        if (add_configured(c, &volume_member, json_string_value(path), i, err) != 0)
            return -1;
    json_array_foreach(machines, i, path)
        if (add_machine(c, json_string_value(path), i, system_name, job, err) != 0)
            return -1;
    return 0;
}

/* The new template's row (tenant: the System's), not inserted yet. */
static int template_row(struct cimi_request *req, const struct store_row *system,
                        json_t *components, struct store_row *tmpl, struct cimi_error *err)
{
    char name[300];

    memset(tmpl, 0, sizeof(*tmpl));
    if (resource_new_row(req, &t_system_template, tmpl, err) != 0)
        return -1;
    snprintf(tmpl->tenant, sizeof(tmpl->tenant), "%s", system->tenant);
    snprintf(name, sizeof(name), "%s (captured)",
             text(system->doc, "name")[0] ? text(system->doc, "name") : system->id);
    json_object_set_new(tmpl->doc, "name", json_string(name));
    json_object_set_new(tmpl->doc, "description", json_pack("s+", "captured from ", system->id));
    json_object_set(tmpl->doc, "componentDescriptors", components);
    return 0;
}

int system_capture_run(struct cimi_request *req, struct store_row *row, const json_t *action,
                       struct job_spec *job, struct cimi_error *err)
{
    json_t *machines = json_array(), *volumes = json_array(), *networks = json_array();
    struct capture c = {req, json_array(), json_object(), json_object(), json_object()};
    struct store_row tmpl;
    int rc;

    (void)action;
    memset(&tmpl, 0, sizeof(tmpl));
    snprintf(job->op, sizeof(job->op), "%s", system_capture_job.op);
    job->params = json_pack("{s:s, s:[]}", "system", row->id, "images");
    job->steps_at_once = SYSTEM_OPS_AT_ONCE;
    job->steps_fan_out = true;
    rc = system_members_collect(req->st, row->id, machines, volumes, networks, err);
    if (rc == 0)
        rc = system_start_orders(req->st, row->id, c.orders, err);
    if (rc == 0 && json_array_size(machines) == 0)
        rc = err_set(err, 409, "action", "System '%s' has no machines to capture", row->id);
    if (rc == 0)
        rc = add_members(&c, row, machines, volumes, networks, job, err);
    if (rc == 0)
        rc = template_row(req, row, c.components, &tmpl, err);
    if (rc == 0)
        rc = req->st->ops->insert(req->st, &tmpl, err);
    if (rc == 0) {
        json_object_set_new(job->params, "template", json_string(tmpl.id));
        snprintf(job->created, sizeof(job->created), "%s", tmpl.id);
    }
    store_row_clear(&tmpl);
    json_decref(c.components);
    json_decref(c.names);
    json_decref(c.member_names);
    json_decref(c.orders);
    json_decref(machines);
    json_decref(volumes);
    json_decref(networks);
    return rc;
}

/* ---- job kind ---- */

static int run_capture(struct job_context *ctx, struct cimi_error *err)
{
    char message[2048], outcome[2600];
    int failed = job_steps_failed(ctx->st, ctx->job_id, message, sizeof(message), err);
    struct store *st = ctx->st;

    if (failed < 0)
        return -1;
    if (failed == 0)
        return job_complete(st, ctx->job_id, NULL, NULL, NULL, true, "captured", err);
    /* The template would name images that do not exist: it goes. */
    snprintf(outcome, sizeof(outcome), "capture: %s; the SystemTemplate was removed, the images "
             "taken stay", message);
    if (st->ops->begin(st, err) != 0)
        return -1;
    if ((st->ops->remove(st, job_param(ctx, "template"), err) != 0 && err->status != 404) ||
        job_finish(st, ctx->job_id, false, outcome, err) != 0 || st->ops->commit(st, err) != 0) {
        st->ops->rollback(st);
        return -1;
    }
    return 0;
}

/* Stopped before it ran: the template goes (each image step's cancel
 * removes its image). */
static void cancel_capture(struct job_context *ctx)
{
    ctx->st->ops->remove(ctx->st, job_param(ctx, "template"), NULL);
}

const struct job_kind system_capture_job = {
    .op = "system.capture", .run = run_capture, .cancel = cancel_capture};
