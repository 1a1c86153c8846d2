/*
 * machine.c - Machines: creation from templates, the state machine of
 * DSP0263 (reference 3.9), actions and their jobs on the hypervisor.
 *
 * A Machine row's private document keeps what the hypervisor needs to
 * (re)define it ("spec") and the stable state the consumer last asked for
 * ("desired").  Its public "state" is transitional (CREATING, STARTING, ...)
 * exactly while a Job works on it; otherwise it is read from the hypervisor
 * on every request, so changes made outside cimid show.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "cimi/render.h"
#include "cimi/validate.h"
#include "driver/driver.h"
#include "resources/machine.h"
#include "resources/volume.h"
#include "resources/network.h"

#define INDEXED_STATES_BATCH 64   /* machines per driver call in a collection read */
#include "resources/resource.h"
#include "util/clock.h"
#include "util/log.h"
#include "util/startup.h"

#define MAX_CPU 256
#define MIN_MEMORY_KIB 1024LL

static int stop_timeout_seconds = 60;

void machine_set_stop_timeout(int seconds)
{
    stop_timeout_seconds = seconds;
}

int machine_stop_timeout(void)
{
    return stop_timeout_seconds;
}

/* ---- states ---- */

static const char *const transitional_states[] = {
    "CREATING", "STARTING", "STOPPING", "PAUSING", "SUSPENDING", "CAPTURING", "RESTORING",
    "DELETING", NULL,
};

bool machine_state_is_transitional(const char *state)
{
    size_t len = state ? strlen(state) : 0;

    /* Every transitional state ends in "ING": most rows (STARTED, STOPPED)
     * are answered here, without the comparisons below. */
    if (len < 3 || state[len - 3] != 'I' || state[len - 2] != 'N' || state[len - 1] != 'G')
        return false;
    for (size_t i = 0; state && transitional_states[i]; i++)
        if (strcmp(state, transitional_states[i]) == 0)
            return true;
    return false;
}

const char *machine_state_from_hv(enum hv_state s)
{
    switch (s) {
    case HV_RUNNING:
        return "STARTED";
    case HV_PAUSED:
        return "PAUSED";
    case HV_SHUTOFF:
        return "STOPPED";
    case HV_SAVED:
        return "SUSPENDED";
    case HV_SHUTTING_DOWN:
        return "STOPPING";
    default:
        return "ERROR";
    }
}

/* Operations allowed in each stable state ("edit" and "delete" included,
 * and "attach" and "detach" of volumes, which are not actions).  restart is
 * listed before start: clients match rels by substring and take the last
 * match.  A machine whose domain is gone (ERROR) can still let its volumes go. */
struct state_ops {
    const char *state;
    const char *ops[12];
};

static const struct state_ops allowed_table[] = {
    {"STOPPED", {"edit", "delete", "restart", "start", "capture", "restore", "attach", "detach",
                 NULL}},
    {"STARTED", {"edit", "delete", "restart", "stop", "pause", "suspend", "capture", "restore",
                 "attach", "detach", NULL}},
    {"PAUSED", {"edit", "delete", "restart", "start", "stop", "capture", "attach", "detach", NULL}},
    /* No capture: libvirt takes no snapshot of a saved domain. */
    {"SUSPENDED", {"edit", "delete", "restart", "start", NULL}},
    {"ERROR", {"edit", "delete", "restart", "start", "stop", "detach", NULL}},
    {NULL, {NULL}},
};

static bool machine_allowed(const struct store_row *row, const char *op)
{
    const char *state = json_string_value(json_object_get(row->doc, "state"));

    if (state == NULL)
        return false;
    if (strcmp(state, "STOPPING") == 0 && strcmp(op, "stop") == 0)
        return true;  /* forced only: it may cut a stop under way short (action_stop) */
    if (machine_state_is_transitional(state))
        return strcmp(op, "edit") == 0;  /* busy: one Job at a time per machine */
    if (machine_create_failed(row))  /* never came to be: nothing to start or stop */
        return strcmp(op, "edit") == 0 || strcmp(op, "delete") == 0 || strcmp(op, "detach") == 0;
    if (strcmp(op, "restore") == 0 && json_object_get(row->doc, "latestSnapshot") == NULL)
        return false;  /* nothing to restore */
    for (size_t i = 0; allowed_table[i].state; i++) {
        if (strcmp(allowed_table[i].state, state) != 0)
            continue;
        for (size_t j = 0; allowed_table[i].ops[j]; j++)
            if (strcmp(allowed_table[i].ops[j], op) == 0)
                return true;
    }
    return false;
}

/* cimid's "endpoints" extension: the VNC console and forwarded ports. */
static void add_endpoints(struct host_use *h, struct store_row *row)
{
    struct hv_endpoint ep[HV_MAX_ENDPOINTS];
    int n = h->drv->endpoints(h->hv, resource_uuid(row->id), ep, HV_MAX_ENDPOINTS, NULL);
    json_t *list;

    json_object_del(row->doc, "endpoints");
    if (n <= 0)
        return;
    list = json_array();
    for (int i = 0; i < n; i++) {
        json_t *e = json_pack("{s:s, s:s, s:i}", "protocol", ep[i].protocol, "address",
                              ep[i].address, "port", ep[i].port);
        if (ep[i].guest_port > 0)
            json_object_set_new(e, "guestPort", json_integer(ep[i].guest_port));
        json_array_append_new(list, e);
    }
    json_object_set_new(row->doc, "endpoints", list);
}

/* cimid's "host" extension: where the machine is, and whether that host
 * answers (the reason when not). */
static void set_host(struct store_row *row, const char *state, const char *message)
{
    const char *host = machine_host_of(row);
    json_t *ref = json_pack("{s:s, s:s}", "href", host[0] ? host : hosts_default(), "state", state);

    if (message != NULL)
        json_object_set_new(ref, "stateMessage", json_string(message));
    json_object_set_new(row->doc, "host", ref);
}

/* The state a Machine on host (borrowed as h) shows now, from its id and
 * stored state: the stored state while a Job works on it, otherwise the
 * state its host reports (*live set), ERROR when the host cannot say. */
static const char *current_state(struct cimi_request *req, const char *id, struct host_use *h,
                                 const char *host, const char *stored, bool quiet, bool *live)
{
    struct cimi_error err;
    enum hv_state hs;

    *live = false;
    if (machine_state_is_transitional(stored))
        return stored;
    err_clear(&err);
    if (machine_hv_state(req, h, host, resource_uuid(id), &hs, &err) != 0) {
        if (err.status == 404 && startup_pending())
            /* Not re-created yet (start-up reconciliation runs, startup.h):
             * the state it last reached, which reconciliation restores. */
            return stored;
        if (!quiet && (stored == NULL || strcmp(stored, "ERROR") != 0))
            log_warn("machine: %s: %s", id, err.message);
        return "ERROR";
    }
    *live = true;
    return machine_state_from_hv(hs);
}

/* Of row->priv, only "host" is read here (machine_ops.read_priv_member). */
static void machine_refresh(struct cimi_request *req, struct store_row *row)
{
    const char *stored = json_string_value(json_object_get(row->doc, "state"));
    const char *state;
    struct cimi_error err;
    struct host_use h;
    bool live;

    err_clear(&err);
    if (machine_create_failed(row)) {
        /* Its create failed: ERROR with the reason, whatever the host says. */
        set_host(row, "AVAILABLE", NULL);
        json_object_del(row->doc, "endpoints");
        return;
    }
    if (hosts_use(machine_host_of(row), &h, &err) != 0) {
        /* Its host is gone: the machine is in ERROR until it returns. */
        set_host(row, "ERROR", err.message);
        json_object_set_new(row->doc, "state", json_string("ERROR"));
        json_object_del(row->doc, "endpoints");
        return;
    }
    state = current_state(req, row->id, &h, machine_host_of(row), stored, false, &live);
    set_host(row, "AVAILABLE", NULL);
    if (state != stored)
        json_object_set_new(row->doc, "state", json_string(state));
    if (live)
        add_endpoints(&h, row);
    hosts_done(&h);
}

/* The states refresh would show for entries[0..n), all on host (borrowed
 * as h): the stored state while a Job works on a machine, else what the
 * driver keeps in memory, else what current_state asks. */
static void states_on_host(struct cimi_request *req, struct host_use *h, const char *host,
                           struct store_entry *const *entries, size_t n, const char **states)
{
    const char *uuids[INDEXED_STATES_BATCH];
    enum hv_state hv[INDEXED_STATES_BATCH];
    bool known[INDEXED_STATES_BATCH];
    size_t at[INDEXED_STATES_BATCH], m = 0;
    bool live;

    for (size_t i = 0; i < n; i++) {
        if (machine_state_is_transitional(entries[i]->state)) {
            states[i] = entries[i]->state;
            continue;
        }
        uuids[m] = resource_uuid(entries[i]->id);
        at[m++] = i;
    }
    memset(known, 0, sizeof(known));
    if (h->drv->get_known_states != NULL)
        h->drv->get_known_states(h->hv, uuids, m, hv, known);
    for (size_t j = 0; j < m; j++) {
        const struct store_entry *e = entries[at[j]];
        states[at[j]] = known[j] ? machine_state_from_hv(hv[j])
                                 : current_state(req, e->id, h, host, e->state, true, &live);
    }
}

/* The states refresh would show, from the index entries alone: each run
 * of entries on one host is one borrow and one batch for the driver. */
static void machine_indexed_states(struct cimi_request *req, struct store_entry *const *entries,
                                   size_t n, const char **states)
{
    size_t i = 0;

    while (i < n) {
        const char *host = entries[i]->host ? entries[i]->host : "";
        struct cimi_error err;
        struct host_use *h;
        size_t run = 1;

        while (i + run < n && run < INDEXED_STATES_BATCH &&
               strcmp(entries[i + run]->host ? entries[i + run]->host : "", host) == 0)
            run++;
        err_clear(&err);
        if (machine_listing_host(req, host, &h, &err) != 0) {
            for (size_t j = i; j < i + run; j++)
                states[j] = "ERROR";   /* its host is gone: in ERROR until it returns */
        } else {
            states_on_host(req, h, host, entries + i, run, states + i);
        }
        i += run;
    }
}

/* ---- create ---- */

static int check_config(const json_t *config, struct cimi_error *err)
{
    json_t *cpu = json_object_get(config, "cpu"), *memory = json_object_get(config, "memory");
    json_t *disks = json_object_get(config, "disks");

    if (!json_is_integer(cpu) || json_integer_value(cpu) < 1 || json_integer_value(cpu) > MAX_CPU)
        return err_set(err, 400, "machineConfig.cpu",
                       "machineConfig.cpu must be an integer from 1 to %d", MAX_CPU);
    if (!json_is_integer(memory) || json_integer_value(memory) < MIN_MEMORY_KIB)
        return err_set(err, 400, "machineConfig.memory",
                       "machineConfig.memory must be an integer of at least %lld (KiB)",
                       MIN_MEMORY_KIB);
    if (json_array_size(disks) > HV_MAX_DISKS)
        return err_set(err, 400, "machineConfig.disks", "at most %d disks per machine",
                       HV_MAX_DISKS);
    return resource_check_disk_locations(disks, "machineConfig.disks", err);
}

/* Build the hypervisor spec kept in the private document. */
static json_t *build_spec(const json_t *config, const json_t *image)
{
    json_t *disks = json_array(), *d;
    size_t i;

    json_array_foreach(json_object_get(config, "disks"), i, d) {
        json_array_append_new(disks, json_pack("{s:I, s:s, s:s}", "capacity",
                                               json_integer_value(json_object_get(d, "capacity")),
                                               "format",
                                               json_string_value(json_object_get(d, "format")) ?: "",
                                               "initialLocation",
                                               json_string_value(json_object_get(d, "initialLocation")) ?: ""));
    }
    return json_pack("{s:I, s:I, s:s, s:o, s:s}", "cpu", json_integer_value(json_object_get(config, "cpu")),
                     "memory", json_integer_value(json_object_get(config, "memory")), "cpuArch",
                     json_string_value(json_object_get(config, "cpuArch")) ?: "x86_64", "disks", disks,
                     "imageLocation",
                     json_string_value(json_object_get(image, "imageLocation")) ?: "");
}

static int initial_state_of(const json_t *tmpl, const char **state, struct cimi_error *err)
{
    const char *s = json_string_value(json_object_get(tmpl, "initialState"));

    if (s == NULL) {
        *state = "STOPPED";  /* DefaultInitialState */
        return 0;
    }
    if (strcasecmp(s, "STARTED") == 0)
        *state = "STARTED";
    else if (strcasecmp(s, "STOPPED") == 0)
        *state = "STOPPED";
    else
        return err_set(err, 400, "machineTemplate.initialState",
                       "machineTemplate.initialState '%s' is not one of the InitialStates "
                       "STARTED,STOPPED", s);
    return 0;
}

/* The template: by reference (with overrides) or by value. */
static json_t *resolve_template(struct cimi_request *req, const json_t *input, struct cimi_error *err)
{
    char path[256];

    return resource_resolve(req, json_object_get(input, "machineTemplate"), &t_machine_template,
                            "machineTemplate", path, sizeof(path), err);
}

static int insert_disks(struct cimi_request *req, const struct store_row *machine,
                        const json_t *spec, struct cimi_error *err)
{
    size_t i;
    json_t *d;

    json_array_foreach(json_object_get(spec, "disks"), i, d) {
        struct store_row disk;
        int rc;

        memset(&disk, 0, sizeof(disk));
        snprintf(disk.id, sizeof(disk.id), "%s/disks/%zu", machine->id, i);
        snprintf(disk.type, sizeof(disk.type), "Disk");
        snprintf(disk.tenant, sizeof(disk.tenant), "%s", machine->tenant);
        snprintf(disk.parent, sizeof(disk.parent), "%s", machine->id);
        disk.doc = json_pack("{s:s, s:O, s:O, s:I}", "name", "disk", "created",
                             json_object_get(machine->doc, "created"), "updated",
                             json_object_get(machine->doc, "created"), "capacity",
                             json_integer_value(json_object_get(d, "capacity")));
        json_object_set_new(disk.doc, "name", json_sprintf("disk%zu", i));
        if (json_string_length(json_object_get(d, "initialLocation")) > 0)
            json_object_set(disk.doc, "initialLocation", json_object_get(d, "initialLocation"));
        disk.priv = json_object();
        rc = req->st->ops->insert(req->st, &disk, err);
        store_row_clear(&disk);
        if (rc != 0)
            return -1;
    }
    return 0;
}

static void unplace(struct store_row *row);

/* Choose the machine's host (the scheduler books it there) and check that
 * it can boot the image. */
static int place(struct store_row *row, const char *image_location, struct cimi_error *err)
{
    struct placement_request rq;
    int pinned[HV_MAX_VCPUS];
    char host[HOST_ID_MAX];
    struct host_use h;
    int rc;

    machine_request_of(row, &rq);
    if (hosts_place(resource_uuid(row->id), &rq, host, sizeof(host), pinned, err) != 0)
        return -1;
    json_object_set_new(row->priv, "host", json_string(host));
    json_object_set_new(row->doc, "host", json_pack("{s:s}", "href", host));
    if (rq.dedicated) {
        json_t *list = json_array();
        for (int i = 0; i < rq.vcpus; i++)
            json_array_append_new(list, json_integer(pinned[i]));
        json_object_set_new(row->priv, "pinned", list);
    }
    rc = hosts_use(host, &h, err);
    if (rc == 0) {
        rc = h.drv->check_image(h.hv, image_location, err);
        hosts_done(&h);
    }
    if (rc != 0)
        unplace(row);
    return rc;
}

/* Give back what place() booked. */
static void unplace(struct store_row *row)
{
    struct placement_request rq;

    machine_request_of(row, &rq);
    hosts_release(machine_host_of(row), resource_uuid(row->id), &rq);
}

static void machine_abort_create(struct cimi_request *req, struct store_row *row)
{
    (void)req;
    unplace(row);
}

static int machine_create(struct cimi_request *req, json_t *input, struct store_row *row,
                          struct job_spec *job, struct cimi_error *err)
{
    json_t *tmpl, *config = NULL, *image = NULL, *credential = NULL, *spec;
    const char *initial = "STOPPED";
    char path[256];
    int rc = -1;

    tmpl = resolve_template(req, input, err);
    if (tmpl == NULL)
        return -1;
    if (initial_state_of(tmpl, &initial, err) != 0)
        goto out;
    if (json_object_get(tmpl, "machineConfig") == NULL) {
        err_set(err, 400, "machineTemplate.machineConfig", "missing required attribute 'machineTemplate.machineConfig'");
        goto out;
    }
    config = resource_resolve(req, json_object_get(tmpl, "machineConfig"), &t_machine_configuration,
                              "machineTemplate.machineConfig", path, sizeof(path), err);
    if (config == NULL || check_config(config, err) != 0)
        goto out;
    if (json_object_get(tmpl, "machineImage") == NULL) {
        err_set(err, 400, "machineTemplate.machineImage", "missing required attribute 'machineTemplate.machineImage'");
        goto out;
    }
    image = resource_resolve(req, json_object_get(tmpl, "machineImage"), &t_machine_image,
                             "machineTemplate.machineImage", path, sizeof(path), err);
    if (image == NULL)
        goto out;
    if (strcmp(json_string_value(json_object_get(image, "type")) ?: "", "SNAPSHOT") == 0) {
        err_set(err, 400, "machineTemplate.machineImage",
                "a SNAPSHOT MachineImage restores its own Machine (restore); it boots no new one");
        goto out;
    }
    if (path[0] && strcmp(json_string_value(json_object_get(image, "state")) ?: "", "AVAILABLE") != 0) {
        err_set(err, 409, "machineTemplate.machineImage", "MachineImage '%s' is not AVAILABLE", path);
        goto out;
    }
    if (json_string_length(json_object_get(image, "imageLocation")) == 0) {
        err_set(err, 400, "machineTemplate.machineImage.imageLocation",
                "missing required attribute 'machineTemplate.machineImage.imageLocation'");
        goto out;
    }
    if (json_object_get(tmpl, "credential")) {
        credential = resource_resolve(req, json_object_get(tmpl, "credential"), &t_credential,
                                      "machineTemplate.credential", path, sizeof(path), err);
        if (credential == NULL)
            goto out;
    }
    row->doc = json_object();
    row->priv = json_object();
    if (resource_new_row(req, &t_machine, row, err) != 0)
        goto out;
    resource_copy_common(input, row->doc);
    spec = build_spec(config, image);
    json_object_set_new(row->doc, "state", json_string("CREATING"));
    json_object_set(row->doc, "cpu", json_object_get(spec, "cpu"));
    json_object_set(row->doc, "memory", json_object_get(spec, "memory"));
    json_object_set(row->doc, "cpuArch", json_object_get(spec, "cpuArch"));
    if (json_object_get(config, "cpuSpeed"))
        json_object_set(row->doc, "cpuSpeed", json_object_get(config, "cpuSpeed"));
    if (json_is_true(json_object_get(config, "dedicated")))
        json_object_set_new(spec, "dedicated", json_true());
    json_object_set_new(row->priv, "spec", spec);
    if (place(row, json_string_value(json_object_get(image, "imageLocation")), err) != 0)
        goto out;
    /* "desired" (the state to restore after a crash) is set by the first
     * successful Job; until then only the create Job knows what to do. */
    json_object_set_new(row->priv, "initialState", json_string(initial));
    json_object_set_new(row->priv, "previous", json_string("ERROR"));
    if (json_object_get(tmpl, "userData"))
        json_object_set(row->priv, "userData", json_object_get(tmpl, "userData"));
    if (credential)
        json_object_set(row->priv, "credential", credential);
    if (insert_disks(req, row, spec, err) != 0 ||
        machine_volumes_create(req, row, tmpl, err) != 0 ||
        machine_volume_templates_create(req, row, tmpl, err) != 0 ||
        machine_interfaces_create(req, row, tmpl, err) != 0) {  /* networks */
        unplace(row);
        goto out;
    }
    snprintf(job->op, sizeof(job->op), "machine.create");
    job->params = json_pack("{s:s, s:s}", "machine", row->id, "host", machine_host_of(row));
    rc = 0;
out:
    json_decref(tmpl);
    json_decref(config);
    json_decref(image);
    json_decref(credential);
    return rc;
}

static int machine_check(struct cimi_request *req, json_t *doc, struct cimi_error *err)
{
    (void)req;
    (void)doc;
    (void)err;
    return 0;
}

/* ---- update: cpu and memory ---- */

/* A PUT that leaves cpu or memory out keeps them (a machine has both). */
static json_t *kept(json_t *doc, const json_t *before, const char *attr)
{
    if (json_object_get(doc, attr) == NULL && json_object_get(before, attr) != NULL)
        json_object_set(doc, attr, json_object_get(before, attr));
    return json_object_get(doc, attr);
}

/* Give a stopped machine new cpu/memory: booked on its host first (409 with
 * the host's reason when it cannot give them), then its definition; the
 * booking is given back if the hypervisor refuses. */
static int resize_stopped(struct store_row *row, int cpu, long long memory,
                          struct cimi_error *err)
{
    struct placement_request old, rq;
    json_t *spec = json_object_get(row->priv, "spec");
    struct host_use h;
    int rc;

    machine_request_of(row, &old);
    rq = old;
    rq.vcpus = cpu;
    rq.memory_kib = memory;
    if (hosts_rebook(machine_host_of(row), &old, &rq, err) != 0)
        return -1;
    rc = hosts_use(machine_host_of(row), &h, err);
    if (rc == 0) {
        rc = h.drv->set_resources(h.hv, resource_uuid(row->id), cpu, memory, err);
        hosts_done(&h);
    }
    if (rc != 0) {
        hosts_rebook(machine_host_of(row), &rq, &old, NULL);
        return -1;
    }
    json_object_set_new(spec, "cpu", json_integer(cpu));
    json_object_set_new(spec, "memory", json_integer(memory));
    return 0;
}

/* PUT: cpu and memory are applied to a stopped machine at once, refused
 * (409) in any other state: a running machine has no room to grow into
 * (it was started with exactly its cpu and memory). */
static int machine_update(struct cimi_request *req, const json_t *before, struct store_row *row,
                          struct job_spec *job, struct cimi_error *err)
{
    json_t *cpu = kept(row->doc, before, "cpu"), *memory = kept(row->doc, before, "memory");
    const char *state = json_string_value(json_object_get(row->doc, "state")) ?: "";

    (void)req;
    (void)job;
    if (json_equal(cpu, json_object_get(before, "cpu")) &&
        json_equal(memory, json_object_get(before, "memory")))
        return 0;
    if (!json_is_integer(cpu) || json_integer_value(cpu) < 1 || json_integer_value(cpu) > MAX_CPU)
        return err_set(err, 400, "cpu", "cpu must be an integer from 1 to %d", MAX_CPU);
    if (!json_is_integer(memory) || json_integer_value(memory) < MIN_MEMORY_KIB)
        return err_set(err, 400, "memory", "memory must be an integer of at least %lld (KiB)",
                       MIN_MEMORY_KIB);
    if (machine_create_failed(row))
        return err_set(err, 409, NULL, "Machine '%s' is ERROR (its create failed); its cpu and "
                       "memory cannot change", row->id);
    if (strcmp(state, "STOPPED") != 0)
        return err_set(err, 409, NULL, "Machine '%s' is %s; changing cpu or memory needs a stop "
                       "(stop it, change them, start it)", row->id, state[0] ? state : "busy");
    return resize_stopped(row, (int)json_integer_value(cpu), json_integer_value(memory), err);
}

/* ---- actions (run inside the request's transaction) ---- */

static const char *transitional_for(const char *action, const char *state)
{
    if (strcmp(action, "start") == 0 || strcmp(action, "restart") == 0)
        return "STARTING";
    if (strcmp(action, "stop") == 0)
        return "STOPPING";
    if (strcmp(action, "pause") == 0)
        return "PAUSING";
    if (strcmp(action, "suspend") == 0)
        return "SUSPENDING";
    if (strcmp(action, "delete") == 0)
        return "DELETING";
    return state;
}

/* Mark the machine busy with a transitional state and describe the Job. */
static int begin_machine_job(struct cimi_request *req, struct store_row *row, const char *action,
                             bool force, struct job_spec *job, struct cimi_error *err)
{
    /* The handler refreshed the state and checked that action is allowed. */
    const char *state = json_string_value(json_object_get(row->doc, "state"));

    json_object_set_new(row->priv, "previous", json_string(state ? state : "ERROR"));
    json_object_set_new(row->doc, "state", json_string(transitional_for(action, state)));
    resource_touch(row->doc);
    if (req->st->ops->update(req->st, row, err) != 0)
        return -1;
    snprintf(job->op, sizeof(job->op), "machine.%s", action);
    job->params = json_pack("{s:s, s:b, s:s}", "machine", row->id, "force", force, "host",
                            machine_host_of(row));
    return 0;
}

static int run_simple_action(struct cimi_request *req, struct store_row *row, const json_t *action,
                             struct job_spec *job, struct cimi_error *err, const char *name)
{
    bool force = json_is_true(json_object_get(action, "force"));

    return begin_machine_job(req, row, name, force, job, err);
}

static int action_start(struct cimi_request *req, struct store_row *row, const json_t *action,
                        struct job_spec *job, struct cimi_error *err)
{
    return run_simple_action(req, row, action, job, err, "start");
}

/* The state the store has for the machine: transitional while a Job works
 * on it (the refreshed row shows the hypervisor's state otherwise). */
static int stored_state(struct cimi_request *req, const char *id, char *out, size_t len,
                        struct cimi_error *err)
{
    struct store_row stored;

    memset(&stored, 0, sizeof(stored));
    if (req->st->ops->get(req->st, id, &stored, err) != 0)
        return -1;
    snprintf(out, len, "%s", json_string_value(json_object_get(stored.doc, "state")) ?: "");
    store_row_clear(&stored);
    return 0;
}

/* A forced stop over a graceful one under way: a second Job on the machine,
 * the one exception to one Job at a time.  The machine stays STOPPING; the
 * graceful Job, told in memory, powers it off and ends "stopped by a forced
 * stop"; the forced Job records the outcome (machine_jobs.c). */
static int begin_forced_stop(struct cimi_request *req, struct store_row *row,
                             struct job_spec *job, struct cimi_error *err)
{
    if (json_is_true(json_object_get(row->priv, "forcedStop")))
        return err_set(err, 409, "action", "Machine '%s' is STOPPING: a forced stop is under way "
                       "already", row->id);
    json_object_set_new(row->priv, "forcedStop", json_true());
    resource_touch(row->doc);
    if (req->st->ops->update(req->st, row, err) != 0)
        return -1;
    snprintf(job->op, sizeof(job->op), "machine.stop");
    job->params = json_pack("{s:s, s:b, s:b, s:s}", "machine", row->id, "force", 1, "over", 1,
                            "host", machine_host_of(row));
    /* Before the commit: the graceful Job checks the store before it acts. */
    machine_force_stop_requested(resource_uuid(row->id), true);
    return 0;
}

/* stop; on a STOPPING machine only a forced one (DSP0263: a stop under way
 * may be forced), over a graceful stop that cimid runs or a guest shutting
 * down on its own. */
static int action_stop(struct cimi_request *req, struct store_row *row, const json_t *action,
                       struct job_spec *job, struct cimi_error *err)
{
    const char *state = json_string_value(json_object_get(row->doc, "state")) ?: "";
    char stored[32];

    if (strcmp(state, "STOPPING") != 0)
        return run_simple_action(req, row, action, job, err, "stop");
    if (!json_is_true(json_object_get(action, "force")))
        return err_set(err, 409, "action", "Machine '%s' is STOPPING; only a forced stop "
                       "(force: true) may cut the stop under way short", row->id);
    if (stored_state(req, row->id, stored, sizeof(stored), err) != 0)
        return -1;
    if (strcmp(stored, "STOPPING") == 0)
        return begin_forced_stop(req, row, job, err);
    /* No Job: the guest shuts down by itself.  A plain forced stop, to be
     * undone (if stopped while queued) to the stable state the store has. */
    json_object_set_new(row->doc, "state", json_string(machine_state_is_transitional(stored) ||
                                                       stored[0] == '\0' ? "STARTED" : stored));
    return begin_machine_job(req, row, "stop", true, job, err);
}

static int action_restart(struct cimi_request *req, struct store_row *row, const json_t *action,
                          struct job_spec *job, struct cimi_error *err)
{
    return run_simple_action(req, row, action, job, err, "restart");
}

static int action_pause(struct cimi_request *req, struct store_row *row, const json_t *action,
                        struct job_spec *job, struct cimi_error *err)
{
    return run_simple_action(req, row, action, job, err, "pause");
}

static int action_suspend(struct cimi_request *req, struct store_row *row, const json_t *action,
                          struct job_spec *job, struct cimi_error *err)
{
    return run_simple_action(req, row, action, job, err, "suspend");
}

static int action_capture(struct cimi_request *req, struct store_row *row, const json_t *action,
                          struct job_spec *job, struct cimi_error *err)
{
    (void)req;
    (void)row;
    (void)action;
    (void)job;
    return err_set(err, 400, "action",
                   "capture a Machine by creating a MachineImage whose imageLocation is the "
                   "Machine's id (POST to the href of this operation)");
}

/* Its attached volumes are detached first, each by a nested Job. */
static int machine_remove(struct cimi_request *req, struct store_row *row, struct job_spec *job,
                          struct cimi_error *err)
{
    if (machine_volumes_detach_steps(req, row, job, err) != 0)
        return -1;
    return begin_machine_job(req, row, "delete", true, job, err);
}

static const char *machine_action_href(const char *action)
{
    return strcmp(action, "capture") == 0 ? "machineImages" : NULL;
}

static const struct resource_action machine_actions[] = {
    {"restart", action_restart},
    {"start", action_start},
    {"stop", action_stop},
    {"pause", action_pause},
    {"suspend", action_suspend},
    {"capture", action_capture},
    {"restore", machine_action_restore},
    {NULL, NULL},
};

const struct resource_ops machine_ops = {
    .create_input = &t_machine_create,
    .create = machine_create,
    .abort_create = machine_abort_create,
    .check = machine_check,
    .update = machine_update,
    .remove = machine_remove,
    .refresh = machine_refresh,
    .indexed_states = machine_indexed_states,
    .allowed = machine_allowed,
    /* Of the private document, refresh reads the host only (machine_host_of):
     * a GET parses nothing else of it.  Keep this true to machine_refresh. */
    .reads_without_priv = true,
    .read_priv_member = "host",
    .actions = machine_actions,
    .action_href = machine_action_href,
};

int machine_load_for(struct cimi_request *req, const char *path, const char *op, const char *what,
                     struct store_row *machine, struct cimi_error *err)
{
    const struct resource_ops *ro = resource_ops_of(&t_machine);

    if (resource_load(req, path, &t_machine, machine, err) != 0)
        return -1;
    ro->refresh(req, machine);
    if (ro->allowed(machine, op))
        return 0;
    err_set(err, 409, NULL, "Machine '%s' is %s; %s a STARTED, STOPPED or PAUSED machine", path,
            json_string_value(json_object_get(machine->doc, "state")) ?: "busy", what);
    store_row_clear(machine);
    return -1;
}
