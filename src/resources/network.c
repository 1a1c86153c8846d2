/*
 * network.c - Networks, NetworkConfigurations and NetworkTemplates (DSP0263
 * 1.x network family), and what the other network resources use of them:
 * subnets, addresses, who uses a network.
 *
 * A Network is created from a NetworkTemplate (by reference with overrides
 * or by value) whose NetworkConfiguration (likewise) gives networkType, mtu
 * and classOfService.  cimid gives it a subnet of its own (the extension
 * attribute `subnet`) and the network.create Job defines the libvirt network
 * (driver/network.c) and starts it unless the template's initialState is
 * STOPPED (DefaultInitialState STARTED).  start and stop are Jobs too; like
 * a Machine's, a Network's state is transitional (CREATING, STARTING,
 * STOPPING, DELETING) exactly while a Job works on it and read from the
 * hypervisor otherwise.  Deleting a Network that interfaces, ports,
 * addresses or a forwarding group use answers 409.
 *
 * On a host without a libvirt network driver (qemu:///embed) creating a
 * Network answers 409: machines there have QEMU user-mode networking only.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "cimi/render.h"
#include "resources/network.h"
#include "hosts/hosts.h"
#include "resources/resource.h"
#include "util/log.h"

/* Does the default host have a network driver? */
static bool networks_supported(void)
{
    struct host_use h;
    bool supported;

    if (hosts_use_first(&h, NULL) != 0)
        return false;
    supported = h.drv->network_supported(h.hv);
    hosts_done(&h);
    return supported;
}

static const char *state_of(const struct store_row *row)
{
    return json_string_value(json_object_get(row->doc, "state")) ?: "";
}

static bool is_transitional(const char *state)
{
    static const char *const busy[] = {"CREATING", "STARTING", "STOPPING", "DELETING", NULL};

    for (size_t i = 0; busy[i]; i++)
        if (strcmp(state, busy[i]) == 0)
            return true;
    return false;
}

/* ---- subnets ---- */

static void subnet_prefix(long index, char *out, size_t len)
{
    snprintf(out, len, "10.%ld.%ld", 128 + index / 256, index % 256);
}

int network_spec_of(const struct store_row *network, struct hv_network_spec *spec,
                    struct cimi_error *err)
{
    json_t *index = json_object_get(network->priv, "index");
    long k = (long)json_integer_value(index);
    char prefix[16];

    memset(spec, 0, sizeof(*spec));
    if (!json_is_integer(index) || k < 0 || k >= NETWORK_MAX)
        return err_set(err, 500, NULL, "network %s has no subnet", network->id);
    subnet_prefix(k, prefix, sizeof(prefix));
    snprintf(spec->uuid, sizeof(spec->uuid), "%s", resource_uuid(network->id));
    snprintf(spec->bridge, sizeof(spec->bridge), "cimibr%ld", k);
    snprintf(spec->gateway, sizeof(spec->gateway), "%s.1", prefix);
    snprintf(spec->netmask, sizeof(spec->netmask), "255.255.255.0");
    snprintf(spec->dhcp_start, sizeof(spec->dhcp_start), "%s.2", prefix);
    snprintf(spec->dhcp_end, sizeof(spec->dhcp_end), "%s.254", prefix);
    spec->mtu = (int)json_integer_value(json_object_get(network->doc, "mtu"));
    return 0;
}

static int mark_index(void *arg, struct store_row *row)
{
    bool *used = arg;
    json_t *index = json_object_get(row->priv, "index");

    if (json_is_integer(index) && json_integer_value(index) >= 0 &&
        json_integer_value(index) < NETWORK_MAX)
        used[json_integer_value(index)] = true;
    return 0;
}

/* The lowest subnet index no Network (of any tenant) has. */
static int free_index(struct store *st, long *index, struct cimi_error *err)
{
    bool used[NETWORK_MAX];  /* 4 KiB */

    memset(used, 0, sizeof(used));
    if (st->ops->list(st, "Network", "", NULL, mark_index, used, err) != 0)
        return -1;
    for (long k = 0; k < NETWORK_MAX; k++) {
        if (!used[k]) {
            *index = k;
            return 0;
        }
    }
    return err_set(err, 409, NULL, "all %d network subnets are in use", NETWORK_MAX);
}

/* ---- addresses ---- */

struct ip_ctx {
    const char *network;
    bool used[256];
};

static int mark_ip(void *arg, struct store_row *row)
{
    struct ip_ctx *c = arg;
    const char *href = resource_ref(row->doc, "network");
    const char *ip = json_string_value(json_object_get(row->doc, "ip"));
    const char *last;
    int host;

    if (href == NULL || ip == NULL || strcmp(href, c->network) != 0)
        return 0;
    last = strrchr(ip, '.');
    if (last != NULL && sscanf(last + 1, "%d", &host) == 1 && host >= 0 && host < 256)
        c->used[host] = true;
    return 0;
}

int network_allocate_ip(struct store *st, const struct store_row *network, const char *want,
                        char *ip, size_t len, struct cimi_error *err)
{
    struct hv_network_spec spec;
    struct ip_ctx ctx;
    char prefix[16], tail[8];
    int host = -1;

    if (network_spec_of(network, &spec, err) != 0)
        return -1;
    subnet_prefix((long)json_integer_value(json_object_get(network->priv, "index")), prefix,
                  sizeof(prefix));
    memset(&ctx, 0, sizeof(ctx));
    ctx.network = network->id;
    if (st->ops->list(st, "Address", "", NULL, mark_ip, &ctx, err) != 0)
        return -1;
    if (want != NULL && want[0] != '\0') {
        size_t plen = strlen(prefix);
        if (strncmp(want, prefix, plen) != 0 || want[plen] != '.' ||
            sscanf(want + plen + 1, "%d%7s", &host, tail) != 1 || host < 2 || host > 254)
            return err_set(err, 400, "ip", "ip '%s' is not a host address of the network's "
                           "subnet %s.0/24 (.2 to .254)", want, prefix);
        if (ctx.used[host])
            return err_set(err, 409, "ip", "address %s is already in use", want);
    } else {
        for (int h = 2; h <= 254 && host < 0; h++)
            if (!ctx.used[h])
                host = h;
        if (host < 0)
            return err_set(err, 409, NULL, "network '%s' has no free address", network->id);
    }
    snprintf(ip, len, "%s.%d", prefix, host);
    return 0;
}

void network_address_doc(const struct store_row *network, const char *ip, json_t *doc)
{
    struct hv_network_spec spec;

    if (network_spec_of(network, &spec, NULL) != 0)
        return;
    json_object_set_new(doc, "ip", json_string(ip));
    json_object_set_new(doc, "defaultGateway", json_string(spec.gateway));
    json_object_set_new(doc, "protocol", json_string("IPv4"));
    json_object_set_new(doc, "mask", json_string(spec.netmask));
    json_object_set_new(doc, "network", json_pack("{s:s}", "href", network->id));
}

/* ---- who uses a network ---- */

struct users_ctx {
    const char *network;
    char *who;
    size_t len;
    int found;
};

static int match_user(void *arg, struct store_row *row)
{
    struct users_ctx *c = arg;
    const char *href = resource_ref(row->doc, "network");

    if (href == NULL || strcmp(href, c->network) != 0)
        return 0;
    snprintf(c->who, c->len, "%s '%s'", row->type, row->id);
    c->found = 1;
    return 1;
}

int network_users(struct store *st, const char *path, char *who, size_t len,
                  struct cimi_error *err)
{
    static const char *const types[] = {"MachineNetworkInterface", "NetworkPort", "Address",
                                        "ForwardingGroupNetwork", NULL};
    struct users_ctx ctx = {path, who, len, 0};

    for (size_t i = 0; types[i] != NULL && !ctx.found; i++)
        if (st->ops->list(st, types[i], NULL, NULL, match_user, &ctx, err) != 0)
            return -1;
    return ctx.found;
}

int network_usable(struct cimi_request *req, const json_t *ref, const char *attr,
                   const char *tenant, struct store_row *network, struct cimi_error *err)
{
    const char *href = json_string_value(json_object_get(ref, "href"));
    const char *state;
    char path[256];

    memset(network, 0, sizeof(*network));
    if (href == NULL)
        return err_set(err, 400, attr, "%s must name a Network by href", attr);
    if (resource_href_path(req, href, attr, path, sizeof(path), err) != 0)
        return -1;
    if (resource_load(req, path, &t_network, network, err) != 0)
        return err_set(err, 400, attr, "%s href '%s' does not name a Network", attr, href);
    /* Even an admin cannot put one tenant's resource on another's network. */
    if (network->tenant[0] != '\0' && strcmp(network->tenant, tenant) != 0) {
        store_row_clear(network);
        return err_set(err, 400, attr, "%s href '%s' names a Network of another tenant", attr,
                       href);
    }
    state = state_of(network);
    /* A Network the same request made (a System's) exists when its Job ran,
     * before the Jobs of what uses it. */
    if ((strcmp(state, "CREATING") == 0 && !resource_building(req, path)) ||
        strcmp(state, "DELETING") == 0 || strcmp(state, "ERROR") == 0) {
        err_set(err, 409, attr, "Network '%s' is %s", path, state);
        store_row_clear(network);
        return -1;
    }
    return 0;
}

/* ---- Network ---- */

static int initial_state_of(const json_t *tmpl, const char **state, struct cimi_error *err)
{
    const char *s = json_string_value(json_object_get(tmpl, "initialState"));

    *state = "STARTED";  /* DefaultInitialState */
    if (s == NULL)
        return 0;
    if (strcasecmp(s, "STARTED") == 0 || strcasecmp(s, "STOPPED") == 0) {
        *state = strcasecmp(s, "STARTED") == 0 ? "STARTED" : "STOPPED";
        return 0;
    }
    return err_set(err, 400, "networkTemplate.initialState", "networkTemplate.initialState '%s' "
                   "is not one of the InitialStates STARTED,STOPPED", s);
}

static json_t *resolve_config(struct cimi_request *req, const json_t *tmpl, struct cimi_error *err)
{
    const json_t *ref = json_object_get(tmpl, "networkConfig");
    json_t *config;
    char path[256];

    if (ref == NULL) {
        err_set(err, 400, "networkTemplate.networkConfig",
                "missing required attribute 'networkTemplate.networkConfig'");
        return NULL;
    }
    config = resource_resolve(req, ref, &t_network_configuration, "networkTemplate.networkConfig",
                              path, sizeof(path), err);
    if (config != NULL && json_object_get(config, "mtu") != NULL &&
        (!json_is_integer(json_object_get(config, "mtu")) ||
         json_integer_value(json_object_get(config, "mtu")) < 576 ||
         json_integer_value(json_object_get(config, "mtu")) > 9000)) {
        err_set(err, 400, "networkTemplate.networkConfig.mtu",
                "networkConfig.mtu must be an integer from 576 to 9000");
        json_decref(config);
        return NULL;
    }
    return config;
}

static void fill_network(struct store_row *row, const json_t *config, long index,
                         const char *initial)
{
    static const char *const copied[] = {"mtu", "classOfService"};
    const char *type = json_string_value(json_object_get(config, "networkType"));
    char prefix[16], subnet[24];

    json_object_set_new(row->doc, "state", json_string("CREATING"));
    json_object_set_new(row->doc, "networkType", json_string(type ? type : "PRIVATE"));
    for (size_t i = 0; i < 2; i++)
        if (json_object_get(config, copied[i]) != NULL)
            json_object_set(row->doc, copied[i], json_object_get(config, copied[i]));
    subnet_prefix(index, prefix, sizeof(prefix));
    snprintf(subnet, sizeof(subnet), "%s.0/24", prefix);
    json_object_set_new(row->doc, "subnet", json_string(subnet));
    json_object_set_new(row->priv, "index", json_integer(index));
    json_object_set_new(row->priv, "initialState", json_string(initial));
    json_object_set_new(row->priv, "previous", json_string("ERROR"));
}

static int network_create(struct cimi_request *req, json_t *input, struct store_row *row,
                          struct job_spec *job, struct cimi_error *err)
{
    json_t *tmpl, *config = NULL;
    const char *initial;
    char path[256];
    long index;
    int rc = -1;

    tmpl = resource_resolve(req, json_object_get(input, "networkTemplate"), &t_network_template,
                            "networkTemplate", path, sizeof(path), err);
    if (tmpl == NULL)
        return -1;
    if (initial_state_of(tmpl, &initial, err) != 0 ||
        (config = resolve_config(req, tmpl, err)) == NULL)
        goto out;
    if (!networks_supported()) {
        err_set(err, 409, NULL, "this host has no libvirt network driver (qemu:///embed): its "
                "machines use QEMU user-mode networking (see a Machine's endpoints); private "
                "networks need a host such as qemu:///system or test:///default");
        goto out;
    }
    if (free_index(req->st, &index, err) != 0 || resource_new_row(req, &t_network, row, err) != 0)
        goto out;
    /* An admin's network is shared by every tenant (like the catalog). */
    if (req->who.admin)
        row->tenant[0] = '\0';
    resource_copy_common(input, row->doc);
    fill_network(row, config, index, initial);
    snprintf(job->op, sizeof(job->op), "network.create");
    job->params = json_pack("{s:s}", "network", row->id);
    rc = 0;
out:
    json_decref(tmpl);
    json_decref(config);
    return rc;
}

static void network_refresh(struct cimi_request *req, struct store_row *row)
{
    const char *state = state_of(row);
    struct cimi_error err;
    struct host_use h;
    bool active;
    int rc;

    (void)req;
    if (is_transitional(state))
        return;
    err_clear(&err);
    rc = hosts_use_first(&h, &err);
    if (rc == 0)
        rc = h.drv->network_is_active(h.hv, resource_uuid(row->id), &active, &err);
    hosts_done(&h);
    if (rc != 0) {
        if (strcmp(state, "ERROR") != 0)
            log_warn("network: %s: %s", row->id, err.message);
        json_object_set_new(row->doc, "state", json_string("ERROR"));
        return;
    }
    json_object_set_new(row->doc, "state", json_string(active ? "STARTED" : "STOPPED"));
}

static bool network_allowed(const struct store_row *row, const char *op)
{
    const char *state = state_of(row);

    if (strcmp(op, "edit") == 0)
        return strcmp(state, "DELETING") != 0;
    if (is_transitional(state))
        return false;
    if (strcmp(op, "delete") == 0)
        return true;
    if (strcmp(op, "start") == 0)
        return strcmp(state, "STOPPED") == 0 || strcmp(state, "ERROR") == 0;
    if (strcmp(op, "stop") == 0)
        return strcmp(state, "STARTED") == 0 || strcmp(state, "ERROR") == 0;
    return false;
}

/* Mark the network busy with a transitional state and describe the Job. */
static int begin_job(struct cimi_request *req, struct store_row *row, const char *op,
                     const char *transitional, struct job_spec *job, struct cimi_error *err)
{
    json_object_set_new(row->priv, "previous", json_string(state_of(row)));
    json_object_set_new(row->doc, "state", json_string(transitional));
    resource_touch(row->doc);
    if (req->st->ops->update(req->st, row, err) != 0)
        return -1;
    snprintf(job->op, sizeof(job->op), "network.%s", op);
    job->params = json_pack("{s:s}", "network", row->id);
    return 0;
}

static int action_start(struct cimi_request *req, struct store_row *row, const json_t *action,
                        struct job_spec *job, struct cimi_error *err)
{
    (void)action;
    return begin_job(req, row, "start", "STARTING", job, err);
}

static int action_stop(struct cimi_request *req, struct store_row *row, const json_t *action,
                       struct job_spec *job, struct cimi_error *err)
{
    (void)action;
    return begin_job(req, row, "stop", "STOPPING", job, err);
}

/* A Network in use is not deleted (offered and checked: resources/allow.c). */
static int network_refuse(struct cimi_request *req, const struct store_row *row, const char *op,
                          struct cimi_error *err)
{
    char who[320];
    int used;

    if (strcmp(op, "delete") != 0)
        return 0;
    used = network_users(req->st, row->id, who, sizeof(who), err);
    if (used < 0)
        return -1;
    if (used)
        return err_set(err, 409, NULL, "Network '%s' is in use by %s; remove that first",
                       row->id, who);
    return 0;
}

static int network_remove(struct cimi_request *req, struct store_row *row, struct job_spec *job,
                          struct cimi_error *err)
{
    return begin_job(req, row, "delete", "DELETING", job, err);
}

static const struct resource_action network_actions[] = {
    {"start", action_start},
    {"stop", action_stop},
    {NULL, NULL},
};

const struct resource_ops network_ops = {
    .create_input = &t_network_create,
    .create = network_create,
    .remove = network_remove,
    .refresh = network_refresh,
    .allowed = network_allowed,
    .refuse = network_refuse,
    .actions = network_actions,
};

/* ---- NetworkConfiguration, NetworkTemplate ---- */

static int config_check(struct cimi_request *req, json_t *doc, struct cimi_error *err)
{
    json_t *mtu = json_object_get(doc, "mtu");

    (void)req;
    if (mtu != NULL && (!json_is_integer(mtu) || json_integer_value(mtu) < 576 ||
                        json_integer_value(mtu) > 9000))
        return err_set(err, 400, "mtu", "mtu must be an integer from 576 to 9000");
    return 0;
}

static int config_create(struct cimi_request *req, json_t *input, struct store_row *row,
                         struct job_spec *job, struct cimi_error *err)
{
    (void)job;
    return resource_store_input(req, input, row, &t_network_configuration, err);
}

const struct resource_ops network_configuration_ops = {
    .create = config_create,
    .check = config_check,
};

static int template_check(struct cimi_request *req, json_t *doc, struct cimi_error *err)
{
    const char *initial = json_string_value(json_object_get(doc, "initialState"));
    json_t *config;

    if (initial != NULL && strcasecmp(initial, "STARTED") != 0 &&
        strcasecmp(initial, "STOPPED") != 0)
        return err_set(err, 400, "initialState", "initialState '%s' is not one of the "
                       "InitialStates STARTED,STOPPED", initial);
    config = resolve_config(req, doc, err);
    if (config == NULL)
        return -1;
    json_decref(config);
    return 0;
}

static int template_create(struct cimi_request *req, json_t *input, struct store_row *row,
                           struct job_spec *job, struct cimi_error *err)
{
    (void)job;
    return resource_store_input(req, input, row, &t_network_template, err);
}

const struct resource_ops network_template_ops = {
    .create = template_create,
    .check = template_check,
};

/* ---- start-up ---- */

static int reconcile_row(void *arg, struct store_row *row)
{
    int *count = arg;
    const char *state = state_of(row);
    const char *desired = json_string_value(json_object_get(row->priv, "desired"));
    struct hv_network_spec spec;
    struct cimi_error err;
    struct host_use h;
    bool active;

    err_clear(&err);
    if (strcmp(state, "CREATING") == 0 || desired == NULL)
        return 0;  /* its create Job runs again, or it never existed */
    if (hosts_use_first(&h, &err) != 0)
        return 0;
    if (h.drv->network_is_active(h.hv, resource_uuid(row->id), &active, &err) == 0)
        goto done;
    if (err.status != 404 || !h.drv->ephemeral(h.hv)) {
        log_warn("reconcile: network %s: %s", row->id, err.message);
        goto done;
    }
    err_clear(&err);
    if (network_spec_of(row, &spec, &err) != 0 || h.drv->network_define(h.hv, &spec, &err) != 0 ||
        h.drv->network_set_active(h.hv, spec.uuid, strcmp(desired, "STARTED") == 0, &err) != 0)
        log_error("reconcile: cannot re-create network %s: %s", row->id, err.message);
    else
        (*count)++;
done:
    hosts_done(&h);
    return 0;
}

int network_reconcile(struct store *st)
{
    struct cimi_error err;
    int count = 0;

    if (!networks_supported())
        return 0;
    if (st->ops->list(st, "Network", "", NULL, reconcile_row, &count, &err) != 0) {
        log_error("reconcile: %s", err.message);
        return -1;
    }
    if (count > 0)
        log_info("reconcile: re-created %d networks in the hypervisor", count);
    return count;
}
