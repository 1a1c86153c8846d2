/*
 * machine_interface.c - a Machine's interfaces on Networks (DSP0263
 * MachineNetworkInterface) and their addresses.
 *
 * POST {network: {href}, macAddress?, mtu?} to a Machine's networkInterfaces
 * collection gives it an interface: the request checks the Network (visible,
 * of the machine's tenant or shared, existing in the hypervisor), picks a MAC
 * (52:54:00 and three random bytes, unless the consumer gave one) and
 * allocates the lowest free address of the network's subnet.  It records
 * the interface machines/{id}/networkInterfaces/{n} (state ACTIVE), the
 * Address addresses/{uuid} (allocation "dynamic", resource = the Machine)
 * and the interface's addresses item .../addresses/0 naming it (201 +
 * Location); the machine.nic_attach Job then asks the hypervisor (DHCP
 * reservation mac -> ip, the interface in the domain, hot-plugged while the
 * machine runs).  DELETE of the interface detaches it (machine.nic_detach)
 * and frees its address.  Like volumes, interfaces change while the
 * machine is STARTED, STOPPED or PAUSED; while a Job works on one its
 * private "pending" says so.
 *
 * A MachineTemplate's networkInterfaces become interfaces the same way when
 * the Machine is created; its machine.create Job plugs them in before the
 * machine first starts.
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "cimi/render.h"
#include "resources/network.h"
#include "hosts/hosts.h"
#include "resources/machine.h"
#include "resources/resource.h"
#include "util/clock.h"
#include "util/log.h"

/* Said when the machine's state refuses (machine_load_for). */
#define INTERFACE_CHANGES "interfaces are added to and removed from"

#define MAX_INTERFACES 8

static const char *priv_of(const struct store_row *row, const char *name)
{
    return json_string_value(json_object_get(row->priv, name)) ?: "";
}

/* The hypervisor's view of an interface row. */
static void nic_of(const struct store_row *row, struct hv_interface *nic)
{
    memset(nic, 0, sizeof(*nic));
    snprintf(nic->network_uuid, sizeof(nic->network_uuid), "%s",
             resource_uuid(resource_ref(row->doc, "network") ?: ""));
    snprintf(nic->mac, sizeof(nic->mac), "%s", priv_of(row, "mac"));
    snprintf(nic->ip, sizeof(nic->ip), "%s", priv_of(row, "ip"));
}

/* ---- MAC addresses ---- */

static bool mac_is_valid(const char *mac)
{
    if (strlen(mac) != 17)
        return false;
    for (int i = 0; i < 17; i++) {
        if (i % 3 == 2 ? mac[i] != ':' : !isxdigit((unsigned char)mac[i]))
            return false;
    }
    /* Unicast: the lowest bit of the first octet (of its second hex digit) is clear. */
    return strchr("02468aAcCeE", mac[1]) != NULL;
}

struct mac_ctx {
    const char *mac;
    bool taken;
};

static int match_mac(void *arg, struct store_row *row)
{
    struct mac_ctx *c = arg;

    if (strcasecmp(priv_of(row, "mac"), c->mac) == 0)
        c->taken = true;
    return c->taken;
}

/* The consumer's MAC (checked and lower-cased) or a new random one. */
static int choose_mac(struct store *st, const char *wanted, char *mac, size_t len,
                      struct cimi_error *err)
{
    struct mac_ctx ctx = {mac, false};
    unsigned char b[3];

    if (wanted != NULL) {
        if (!mac_is_valid(wanted))
            return err_set(err, 400, "macAddress", "macAddress '%s' is not a unicast MAC address "
                           "(xx:xx:xx:xx:xx:xx)", wanted);
        snprintf(mac, len, "%s", wanted);
        for (char *p = mac; *p; p++)
            *p = (char)tolower((unsigned char)*p);
    }
    for (int attempt = 0; attempt < 8; attempt++) {
        if (wanted == NULL) {
            if (random_bytes(b, sizeof(b)) != 0)
                return err_set(err, 500, NULL, "cannot generate a MAC address");
            snprintf(mac, len, "52:54:00:%02x:%02x:%02x", b[0], b[1], b[2]);
        }
        ctx.taken = false;
        if (st->ops->list(st, "MachineNetworkInterface", NULL, NULL, match_mac, &ctx, err) != 0)
            return -1;
        if (!ctx.taken)
            return 0;
        if (wanted != NULL)
            return err_set(err, 409, "macAddress", "macAddress %s is already in use", mac);
    }
    return err_set(err, 500, NULL, "cannot find a free MAC address");
}

/* ---- making an interface (inside the request's transaction) ---- */

static int count_row(void *arg, struct store_row *row)
{
    (void)row;
    (*(int *)arg)++;
    return 0;
}

/* Fill row (a new interface of machine on network) and insert its Address
 * and its addresses item; the caller inserts row itself. */
static int make_interface(struct cimi_request *req, const struct store_row *machine,
                          const struct store_row *network, const json_t *input,
                          struct store_row *row, struct cimi_error *err)
{
    struct store *st = req->st;
    struct store_row address, item;
    json_t *mtu = json_object_get(input, "mtu");
    char mac[18], ip[16];
    int n = 0, rc = -1;

    memset(&address, 0, sizeof(address));
    memset(&item, 0, sizeof(item));
    if (mtu != NULL && (!json_is_integer(mtu) || json_integer_value(mtu) < 576 ||
                        json_integer_value(mtu) > 9000))
        return err_set(err, 400, "mtu", "mtu must be an integer from 576 to 9000");
    if (st->ops->list(st, "MachineNetworkInterface", machine->id, NULL, count_row, &n, err) != 0)
        return -1;
    if (n >= MAX_INTERFACES)
        return err_set(err, 409, NULL, "Machine '%s' has %d interfaces already (at most %d)",
                       machine->id, n, MAX_INTERFACES);
    if (choose_mac(st, json_string_value(json_object_get(input, "macAddress")), mac, sizeof(mac),
                   err) != 0 ||
        network_allocate_ip(st, network, NULL, ip, sizeof(ip), err) != 0 ||
        resource_new_child(st, machine, "networkInterfaces", &t_machine_network_interface, row,
                           err) != 0 ||
        resource_new_row(req, &t_address, &address, err) != 0)
        goto out;
    /* The Address: the machine's tenant's, naming the machine. */
    snprintf(address.tenant, sizeof(address.tenant), "%s", machine->tenant);
    json_object_set_new(address.doc, "name", json_sprintf("%s %s",
                        json_string_value(json_object_get(machine->doc, "name")) ?: "machine",
                        mac));
    network_address_doc(network, ip, address.doc);
    json_object_set_new(address.doc, "allocation", json_string("dynamic"));
    json_object_set_new(address.doc, "resource", json_pack("{s:s}", "href", machine->id));
    json_object_set_new(address.priv, "interface", json_string(row->id));
    if (st->ops->insert(st, &address, err) != 0)
        goto out;
    /* The interface's addresses collection lists it. */
    item.doc = json_pack("{s:{s:s}}", "address", "href", address.id);
    if (resource_new_child(st, row, "addresses", &t_machine_network_interface_address, &item,
                           err) != 0 ||
        st->ops->insert(st, &item, err) != 0)
        goto out;
    resource_copy_common(input, row->doc);
    json_object_set_new(row->doc, "network", json_pack("{s:s}", "href", network->id));
    json_object_set_new(row->doc, "state", json_string("ACTIVE"));
    json_object_set_new(row->doc, "macAddress", json_string(mac));
    if (mtu != NULL)
        json_object_set(row->doc, "mtu", mtu);
    json_object_set_new(row->priv, "mac", json_string(mac));
    json_object_set_new(row->priv, "ip", json_string(ip));
    json_object_set_new(row->priv, "address", json_string(address.id));
    rc = 0;
out:
    store_row_clear(&address);
    store_row_clear(&item);
    return rc;
}

/* Networks live on the default host: so must a machine with interfaces. */
static int check_network_host(const struct store_row *machine, struct cimi_error *err)
{
    const char *host = machine_host_of(machine);

    if (host[0] && strcmp(host, hosts_default()) != 0)
        return err_set(err, 409, "networkInterfaces",
                       "Machine '%s' is placed on %s; networks live on %s, so only its machines "
                       "can have network interfaces", machine->id, host, hosts_default());
    return 0;
}

static int nic_create(struct cimi_request *req, json_t *input, struct store_row *row,
                      struct job_spec *job, struct cimi_error *err)
{
    struct store_row machine, network;
    int rc = -1;

    if (row->parent[0] == '\0')
        return err_set(err, 405, NULL, "a MachineNetworkInterface is created in a Machine's "
                       "networkInterfaces");
    if (machine_load_for(req, row->parent, "attach", INTERFACE_CHANGES, &machine, err) != 0)
        return -1;
    memset(&network, 0, sizeof(network));
    if (check_network_host(&machine, err) != 0 ||
        network_usable(req, json_object_get(input, "network"), "network", machine.tenant,
                       &network, err) != 0)
        goto out;
    if (make_interface(req, &machine, &network, input, row, err) == 0) {
        json_object_set_new(row->priv, "pending", json_string("attach"));
        snprintf(job->op, sizeof(job->op), "machine.nic_attach");
        job->params = json_pack("{s:s, s:s}", "interface", row->id, "machine", machine.id);
        rc = 0;
    }
    store_row_clear(&network);
out:
    store_row_clear(&machine);
    return rc;
}

/* A detach needs a machine that allows it (offered and checked:
 * resources/allow.c). */
static int nic_refuse(struct cimi_request *req, const struct store_row *row, const char *op,
                      struct cimi_error *err)
{
    struct store_row machine;

    if (strcmp(op, "delete") != 0)
        return 0;
    if (machine_load_for(req, row->parent, "detach", INTERFACE_CHANGES, &machine, err) != 0)
        return -1;
    store_row_clear(&machine);
    return 0;
}

static int nic_remove(struct cimi_request *req, struct store_row *row, struct job_spec *job,
                      struct cimi_error *err)
{
    json_object_set_new(row->priv, "pending", json_string("detach"));
    if (req->st->ops->update(req->st, row, err) != 0)
        return -1;
    snprintf(job->op, sizeof(job->op), "machine.nic_detach");
    job->params = json_pack("{s:s, s:s}", "interface", row->id, "machine", row->parent);
    return 0;
}

/* Edit unless a detach is under way; delete (detach) unless an attach or a
 * detach is. */
static bool nic_allowed(const struct store_row *row, const char *op)
{
    const char *pending = priv_of(row, "pending");

    if (strcmp(op, "edit") == 0)
        return strcmp(pending, "detach") != 0;
    return strcmp(op, "delete") == 0 && pending[0] == '\0';
}

/* PUT: name, description and properties change; network, macAddress and
 * mtu are fixed when the interface is made (400 for another value); state
 * and addresses are the provider's (ignored, DSP0263 4.2.1.3). */
static int nic_update(struct cimi_request *req, const json_t *before, struct store_row *row,
                      struct job_spec *job, struct cimi_error *err)
{
    (void)row;
    (void)job;
    return resource_refuse_immutable_changes(req, &t_machine_network_interface, before, err);
}

const struct resource_ops machine_network_interface_ops = {
    .parent_op = "attach",
    .delete_first = true,
    .create = nic_create,
    .update = nic_update,
    .remove = nic_remove,
    .allowed = nic_allowed,
    .refuse = nic_refuse,
};

/* An interface's addresses are made and freed with it. */
const struct resource_ops machine_network_interface_address_ops = {
    .provider_only = true,
};

/* ---- the jobs ---- */

/* Forget an interface: its row (with its addresses items) and its Address. */
static int forget_interface(struct store *st, const struct store_row *row, struct cimi_error *err)
{
    const char *address = priv_of(row, "address");

    if (address[0] != '\0' && st->ops->remove(st, address, err) != 0)
        return -1;
    return st->ops->remove(st, row->id, err);
}

/* End an attach or detach in one transaction: the interface stays (nothing
 * pending) or goes with its address, and the Job's outcome. */
static int finish(struct job_context *ctx, bool keep, bool success, const char *message,
                  struct cimi_error *err)
{
    struct store *st = ctx->st;
    struct store_row row;
    int rc = 0;

    memset(&row, 0, sizeof(row));
    if (st->ops->begin(st, err) != 0)
        return -1;
    if (st->ops->get(st, job_param(ctx, "interface"), &row, NULL) == 0) {
        json_object_del(row.priv, "pending");
        rc = keep ? st->ops->update(st, &row, err) : forget_interface(st, &row, err);
    }
    store_row_clear(&row);
    if (rc != 0 || job_finish(st, ctx->job_id, success, message, err) != 0 ||
        st->ops->commit(st, err) != 0) {
        st->ops->rollback(st);
        return -1;
    }
    return 0;
}

static int run_change(struct job_context *ctx, bool attach, struct cimi_error *err)
{
    struct hv_interface nic;
    struct cimi_error cause;
    struct store_row row;
    struct host_use h = {0};
    int rc;

    err_clear(&cause);
    memset(&row, 0, sizeof(row));
    if (ctx->st->ops->get(ctx->st, job_param(ctx, "interface"), &row, NULL) != 0)
        return job_complete(ctx->st, ctx->job_id, NULL, NULL, NULL, false,
                            "the interface no longer exists", err);
    nic_of(&row, &nic);
    store_row_clear(&row);
    job_progress(ctx->st, ctx->job_id, 40, attach ? "attaching the interface"
                                                  : "detaching the interface");
    rc = hosts_use_first(&h, &cause);
    if (rc == 0)
        rc = attach ? h.drv->interface_attach(h.hv, resource_uuid(job_param(ctx, "machine")), &nic,
                                              &cause)
                    : h.drv->interface_detach(h.hv, resource_uuid(job_param(ctx, "machine")), &nic,
                                              &cause);
    hosts_done(&h);
    if (attach)
        return finish(ctx, rc == 0, rc == 0, rc == 0 ? "attached" : cause.message, err);
    return finish(ctx, rc != 0, rc == 0, rc == 0 ? "detached" : cause.message, err);
}

static int run_attach(struct job_context *ctx, struct cimi_error *err)
{
    return run_change(ctx, true, err);
}

static int run_detach(struct job_context *ctx, struct cimi_error *err)
{
    return run_change(ctx, false, err);
}

/* Stopped before they ran: as if never asked. */
static void cancel(struct job_context *ctx, bool keep)
{
    struct store_row row;

    memset(&row, 0, sizeof(row));
    if (ctx->st->ops->get(ctx->st, job_param(ctx, "interface"), &row, NULL) != 0)
        return;
    json_object_del(row.priv, "pending");
    if (keep)
        ctx->st->ops->update(ctx->st, &row, NULL);
    else
        forget_interface(ctx->st, &row, NULL);
    store_row_clear(&row);
}

static void cancel_attach(struct job_context *ctx)
{
    cancel(ctx, false);
}

static void cancel_detach(struct job_context *ctx)
{
    cancel(ctx, true);
}

const struct job_kind machine_nic_attach_job = {"machine.nic_attach", run_attach, cancel_attach};
const struct job_kind machine_nic_detach_job = {"machine.nic_detach", run_detach, cancel_detach};

/* ---- the Machine's life ---- */

int machine_template_check_interfaces(struct cimi_request *req, json_t *doc,
                                      struct cimi_error *err)
{
    json_t *nics = json_object_get(doc, "networkInterfaces"), *nic;
    struct store_row network;
    char path[256];
    size_t i;

    if (json_array_size(nics) > MAX_INTERFACES)
        return err_set(err, 400, "networkInterfaces", "at most %d networkInterfaces",
                       MAX_INTERFACES);
    json_array_foreach(nics, i, nic) {
        const char *href = resource_ref(nic, "network");
        if (href == NULL)
            return err_set(err, 400, "networkInterfaces",
                           "networkInterfaces[%zu].network must name a Network by href", i);
        if (resource_href_path(req, href, "networkInterfaces", path, sizeof(path), err) != 0)
            return -1;
        if (resource_load(req, path, &t_network, &network, err) != 0)
            return err_set(err, 400, "networkInterfaces", "networkInterfaces[%zu].network href "
                           "'%s' does not name a Network", i, href);
        store_row_clear(&network);
        /* The schema's NetworkInterface requires a state. */
        if (json_object_get(nic, "state") == NULL)
            json_object_set_new(nic, "state", json_string("ACTIVE"));
    }
    return 0;
}

int machine_interfaces_create(struct cimi_request *req, const struct store_row *machine,
                              const json_t *tmpl, struct cimi_error *err)
{
    json_t *nics = json_object_get(tmpl, "networkInterfaces"), *nic;
    struct store_row network, row;
    char attr[96];
    size_t i;
    int rc = 0;

    if (json_array_size(nics) > MAX_INTERFACES)
        return err_set(err, 400, "machineTemplate.networkInterfaces",
                       "at most %d networkInterfaces", MAX_INTERFACES);
    if (json_array_size(nics) > 0 && check_network_host(machine, err) != 0)
        return -1;
    json_array_foreach(nics, i, nic) {
        snprintf(attr, sizeof(attr), "machineTemplate.networkInterfaces[%zu].network", i);
        if (network_usable(req, json_object_get(nic, "network"), attr, machine->tenant, &network,
                           err) != 0)
            return -1;
        memset(&row, 0, sizeof(row));
        rc = make_interface(req, machine, &network, nic, &row, err);
        if (rc == 0)
            rc = req->st->ops->insert(req->st, &row, err);
        store_row_clear(&network);
        store_row_clear(&row);
        if (rc != 0)
            return -1;
    }
    return 0;
}

struct plug_ctx {
    const char *machine_uuid;
    struct cimi_error *err;
    int rc;
};

static int plug_row(void *arg, struct store_row *row)
{
    struct plug_ctx *c = arg;
    struct hv_interface nic;
    struct host_use h = {0};

    if (strcmp(priv_of(row, "pending"), "attach") == 0)
        return 0;  /* its own Job plugs it in */
    nic_of(row, &nic);
    c->rc = hosts_use_first(&h, c->err);
    if (c->rc == 0)
        c->rc = h.drv->interface_attach(h.hv, c->machine_uuid, &nic, c->err);
    hosts_done(&h);
    return c->rc != 0;
}

int machine_interfaces_plug(struct store *st, const struct store_row *machine,
                            struct cimi_error *err)
{
    struct plug_ctx ctx = {resource_uuid(machine->id), err, 0};

    if (st->ops->list(st, "MachineNetworkInterface", machine->id, NULL, plug_row, &ctx, err) != 0)
        return -1;
    return ctx.rc;
}

static int unplug_row(void *arg, struct store_row *row)
{
    struct hv_interface nic;
    struct cimi_error err;
    struct host_use h = {0};

    (void)arg;
    nic_of(row, &nic);
    err_clear(&err);
    if (hosts_use_first(&h, &err) != 0 || h.drv->interface_detach(h.hv, NULL, &nic, &err) != 0)
        log_warn("machine: %s: cannot free its address: %s", row->id, err.message);
    hosts_done(&h);
    return 0;
}

void machine_interfaces_unplug(struct store *st, const char *machine)
{
    struct cimi_error err;

    if (st->ops->list(st, "MachineNetworkInterface", machine, NULL, unplug_row, NULL, &err) != 0)
        log_warn("machine: %s: %s", machine, err.message);
}

struct forget_ctx {
    struct store *st;
    json_t *addresses;
};

static int collect_address(void *arg, struct store_row *row)
{
    struct forget_ctx *c = arg;

    if (priv_of(row, "address")[0] != '\0')
        json_array_append_new(c->addresses, json_string(priv_of(row, "address")));
    return 0;
}

int machine_interfaces_forget(struct store *st, const char *machine, struct cimi_error *err)
{
    struct forget_ctx ctx = {st, json_array()};
    json_t *address;
    size_t i;
    int rc;

    rc = st->ops->list(st, "MachineNetworkInterface", machine, NULL, collect_address, &ctx, err);
    json_array_foreach(ctx.addresses, i, address) {
        if (rc == 0 && st->ops->remove(st, json_string_value(address), err) != 0)
            rc = -1;
    }
    json_decref(ctx.addresses);
    return rc;
}
