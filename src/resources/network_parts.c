/*
 * network_parts.c - the rest of the network family: NetworkPorts (with
 * their configurations and templates), Addresses (with templates) and
 * ForwardingGroups (with templates and the `networks` sub-collection).
 *
 * These are records cimid keeps; the hypervisor has nothing of its own for
 * them (libvirt makes a network's ports itself when interfaces start):
 *   - a NetworkPort is on a Network of its tenant (or a shared one) and
 *     listed in that Network's networkPorts (a NetworkNetworkPort of the
 *     port's tenant, gone with the port).  It is switched on when created
 *     and start/stop switch it (synchronously, private "enabled"); its state
 *     follows its Network's: STARTED when switched on and the Network is
 *     STARTED, STOPPED while the Network is stopped (STARTING/STOPPING
 *     while the Network is), so a Network that stops stops its ports and
 *     starting it starts them again.  start and stop wait for a STARTED
 *     Network;
 *   - an Address created by a consumer reserves an address of a Network's
 *     subnet (allocation "static"; the lowest free one unless `ip` names
 *     one), so cimid never gives it to an interface; without a network it
 *     records the values given.  Addresses cimid allocated to interfaces go
 *     with their interface (deleting one directly answers 409);
 *   - a ForwardingGroup groups Networks of its own tenant (the template's
 *     networks, then POST a ForwardingGroupNetwork to its networks
 *     collection to join, DELETE it to leave); a Network is in at most one
 *     group, shown by its forwardingGroup.  cimid does not route between
 *     the networks of a group: networks of different tenants are never
 *     joined, and sharing across tenants is done with admin networks.
 * A Network that a port, an address or a group uses cannot be deleted (409).
 */
#include <stdio.h>
#include <string.h>

#include "cimi/render.h"
#include "resources/network.h"
#include "resources/resource.h"

static const char *state_of(const struct store_row *row)
{
    return json_string_value(json_object_get(row->doc, "state")) ?: "";
}

/* A reference inside a template must name a visible resource of its type. */
static int check_reference(struct cimi_request *req, const json_t *ref, const struct cimi_type *t,
                           const char *attr, struct cimi_error *err)
{
    const char *href = json_string_value(json_object_get(ref, "href"));
    struct store_row row;
    char path[256];

    if (href == NULL)
        return 0;
    if (resource_href_path(req, href, attr, path, sizeof(path), err) != 0)
        return -1;
    if (resource_load(req, path, t, &row, err) != 0)
        return err_set(err, 400, attr, "%s href '%s' does not name a %s", attr, href, t->name);
    store_row_clear(&row);
    return 0;
}

/* ---- NetworkPort ---- */

static int port_config_create(struct cimi_request *req, json_t *input, struct store_row *row,
                              struct job_spec *job, struct cimi_error *err)
{
    (void)job;
    return resource_store_input(req, input, row, &t_network_port_configuration, err);
}

const struct resource_ops network_port_configuration_ops = {
    .create = port_config_create,
};

static int port_template_check(struct cimi_request *req, json_t *doc, struct cimi_error *err)
{
    if (json_object_get(doc, "network") == NULL)
        return err_set(err, 400, "network", "missing required attribute 'network'");
    if (json_object_get(doc, "networkPortConfig") == NULL)
        return err_set(err, 400, "networkPortConfig",
                       "missing required attribute 'networkPortConfig'");
    if (json_object_get(json_object_get(doc, "network"), "href") == NULL)
        return err_set(err, 400, "network", "network must name a Network by href");
    if (check_reference(req, json_object_get(doc, "network"), &t_network, "network", err) != 0)
        return -1;
    return check_reference(req, json_object_get(doc, "networkPortConfig"),
                           &t_network_port_configuration, "networkPortConfig", err);
}

static int port_template_create(struct cimi_request *req, json_t *input, struct store_row *row,
                                struct job_spec *job, struct cimi_error *err)
{
    (void)job;
    return resource_store_input(req, input, row, &t_network_port_template, err);
}

const struct resource_ops network_port_template_ops = {
    .create = port_template_create,
    .check = port_template_check,
};

/* List the new port (row) in its network's networkPorts, as the port's
 * tenant's: on a shared network other tenants do not see it. */
static int list_port(struct store *st, const struct store_row *network,
                     const struct store_row *port, struct cimi_error *err)
{
    struct store_row listing;
    int rc;

    memset(&listing, 0, sizeof(listing));
    rc = resource_new_child(st, network, "networkPorts", &t_network_network_port, &listing, err);
    if (rc == 0) {
        snprintf(listing.tenant, sizeof(listing.tenant), "%s", port->tenant);
        json_object_set_new(listing.doc, "networkPort", json_pack("{s:s}", "href", port->id));
        if (json_object_get(port->doc, "name"))
            json_object_set(listing.doc, "name", json_object_get(port->doc, "name"));
        rc = st->ops->insert(st, &listing, err);
    }
    store_row_clear(&listing);
    return rc;
}

static int port_create(struct cimi_request *req, json_t *input, struct store_row *row,
                       struct job_spec *job, struct cimi_error *err)
{
    json_t *tmpl, *config = NULL;
    struct store_row network;
    char path[256];
    int rc = -1;

    (void)job;
    memset(&network, 0, sizeof(network));
    tmpl = resource_resolve(req, json_object_get(input, "networkPortTemplate"),
                            &t_network_port_template, "networkPortTemplate", path, sizeof(path),
                            err);
    if (tmpl == NULL)
        return -1;
    if (json_object_get(tmpl, "networkPortConfig") == NULL) {
        err_set(err, 400, "networkPortTemplate.networkPortConfig",
                "missing required attribute 'networkPortTemplate.networkPortConfig'");
        goto out;
    }
    config = resource_resolve(req, json_object_get(tmpl, "networkPortConfig"),
                              &t_network_port_configuration,
                              "networkPortTemplate.networkPortConfig", path, sizeof(path), err);
    if (config == NULL || network_usable(req, json_object_get(tmpl, "network"),
                                         "networkPortTemplate.network", req->who.tenant, &network,
                                         err) != 0 ||
        resource_new_row(req, &t_network_port, row, err) != 0)
        goto out;
    /* A port is its network's tenant's (an admin's port on a tenant network too). */
    snprintf(row->tenant, sizeof(row->tenant), "%s",
             network.tenant[0] ? network.tenant : req->who.tenant);
    resource_copy_common(input, row->doc);
    json_object_set_new(row->doc, "state", json_string("STARTED"));
    json_object_set_new(row->doc, "network", json_pack("{s:s}", "href", network.id));
    if (json_object_get(config, "portType"))
        json_object_set(row->doc, "portType", json_object_get(config, "portType"));
    if (json_object_get(config, "classOfService"))
        json_object_set(row->doc, "classOfService", json_object_get(config, "classOfService"));
    json_object_set_new(row->priv, "enabled", json_true());
    rc = list_port(req->st, &network, row, err);
out:
    store_row_clear(&network);
    json_decref(tmpl);
    json_decref(config);
    return rc;
}

/* Is the port switched on?  (Rows made before "enabled": their state.) */
static bool port_enabled(const struct store_row *row)
{
    json_t *enabled = json_object_get(row->priv, "enabled");

    return enabled != NULL ? json_is_true(enabled) : strcmp(state_of(row), "STOPPED") != 0;
}

/* The port's state from its switch and its Network's state (read as a
 * Network is: from the hypervisor); the Network's state is kept in the
 * private "networkState" for port_allowed. */
static void port_refresh(struct cimi_request *req, struct store_row *row)
{
    const char *href = resource_ref(row->doc, "network"), *net = "ERROR", *state;
    struct store_row network;

    memset(&network, 0, sizeof(network));
    if (href != NULL && req->st->ops->get(req->st, href, &network, NULL) == 0) {
        resource_ops_of(&t_network)->refresh(req, &network);
        net = state_of(&network);
    }
    if (!port_enabled(row) || strcmp(net, "STARTED") == 0)
        state = port_enabled(row) ? "STARTED" : "STOPPED";
    else if (strcmp(net, "STARTING") == 0 || strcmp(net, "STOPPING") == 0)
        state = net;
    else
        state = "STOPPED";
    json_object_set_new(row->doc, "state", json_string(state));
    json_object_set_new(row->priv, "networkState", json_string(net));
    store_row_clear(&network);
}

static bool port_allowed(const struct store_row *row, const char *op)
{
    const char *net = json_string_value(json_object_get(row->priv, "networkState"));
    bool network_started = net == NULL || strcmp(net, "STARTED") == 0;

    if (strcmp(op, "start") == 0)
        return network_started && strcmp(state_of(row), "STOPPED") == 0;
    if (strcmp(op, "stop") == 0)
        return network_started && strcmp(state_of(row), "STARTED") == 0;
    return strcmp(op, "edit") == 0 || strcmp(op, "delete") == 0;
}

static int port_switch(struct cimi_request *req, struct store_row *row, const char *state,
                       struct cimi_error *err)
{
    json_object_set_new(row->doc, "state", json_string(state));
    json_object_set_new(row->priv, "enabled", json_boolean(strcmp(state, "STARTED") == 0));
    json_object_del(row->priv, "networkState");  /* refresh finds it again */
    resource_touch(row->doc);
    return req->st->ops->update(req->st, row, err);
}

static int port_start(struct cimi_request *req, struct store_row *row, const json_t *action,
                      struct job_spec *job, struct cimi_error *err)
{
    (void)action;
    (void)job;
    return port_switch(req, row, "STARTED", err);
}

static int port_stop(struct cimi_request *req, struct store_row *row, const json_t *action,
                     struct job_spec *job, struct cimi_error *err)
{
    (void)action;
    (void)job;
    return port_switch(req, row, "STOPPED", err);
}

struct port_listing_ctx {
    const char *port;
    json_t *ids;
};

static int collect_port_listing(void *arg, struct store_row *row)
{
    struct port_listing_ctx *c = arg;
    const char *href = resource_ref(row->doc, "networkPort");

    if (href != NULL && strcmp(href, c->port) == 0)
        json_array_append_new(c->ids, json_string(row->id));
    return 0;
}

/* The port goes, and its listing in its network's networkPorts with it. */
static int port_remove(struct cimi_request *req, struct store_row *row, struct job_spec *job,
                       struct cimi_error *err)
{
    struct port_listing_ctx ctx = {row->id, json_array()};
    const char *network = resource_ref(row->doc, "network");
    json_t *id;
    size_t i;
    int rc = 0;

    (void)job;
    if (network != NULL)
        rc = req->st->ops->list(req->st, "NetworkNetworkPort", network, NULL,
                                collect_port_listing, &ctx, err);
    json_array_foreach(ctx.ids, i, id) {
        if (rc == 0)
            rc = req->st->ops->remove(req->st, json_string_value(id), err);
    }
    json_decref(ctx.ids);
    return rc == 0 ? req->st->ops->remove(req->st, row->id, err) : -1;
}

static const struct resource_action port_actions[] = {
    {"start", port_start},
    {"stop", port_stop},
    {NULL, NULL},
};

const struct resource_ops network_port_ops = {
    .create_input = &t_network_port_create,
    .create = port_create,
    .remove = port_remove,
    .refresh = port_refresh,
    .allowed = port_allowed,
    .actions = port_actions,
};

/* A Network's ports are listed by the provider when they are made. */
const struct resource_ops network_network_port_ops = {
    .provider_only = true,
};

/* ---- Address ---- */

static int address_template_check(struct cimi_request *req, json_t *doc, struct cimi_error *err)
{
    return check_reference(req, json_object_get(doc, "network"), &t_network, "network", err);
}

static int address_template_create(struct cimi_request *req, json_t *input, struct store_row *row,
                                   struct job_spec *job, struct cimi_error *err)
{
    (void)job;
    return resource_store_input(req, input, row, &t_address_template, err);
}

const struct resource_ops address_template_ops = {
    .create = address_template_create,
    .check = address_template_check,
};

/* The template's values on an address of one of our Networks: the
 * network's subnet decides ip, mask and gateway. */
static int reserve_on_network(struct cimi_request *req, const json_t *tmpl, struct store_row *row,
                              struct cimi_error *err)
{
    const char *want = json_string_value(json_object_get(tmpl, "ip"));
    struct store_row network;
    char ip[16];
    int rc;

    if (network_usable(req, json_object_get(tmpl, "network"), "addressTemplate.network",
                       req->who.tenant, &network, err) != 0)
        return -1;
    rc = network_allocate_ip(req->st, &network, want, ip, sizeof(ip), err);
    if (rc == 0) {
        network_address_doc(&network, ip, row->doc);
        if (network.tenant[0] != '\0')
            snprintf(row->tenant, sizeof(row->tenant), "%s", network.tenant);
    }
    store_row_clear(&network);
    return rc;
}

static int address_create(struct cimi_request *req, json_t *input, struct store_row *row,
                          struct job_spec *job, struct cimi_error *err)
{
    static const char *const values[] = {"ip", "hostname", "defaultGateway", "dns", "protocol",
                                         "mask"};
    char path[256];
    json_t *tmpl;
    int rc = -1;

    (void)job;
    tmpl = resource_resolve(req, json_object_get(input, "addressTemplate"), &t_address_template,
                            "addressTemplate", path, sizeof(path), err);
    if (tmpl == NULL)
        return -1;
    if (resource_new_row(req, &t_address, row, err) != 0)
        goto out;
    resource_copy_common(input, row->doc);
    if (json_object_get(tmpl, "network") != NULL) {
        if (reserve_on_network(req, tmpl, row, err) != 0)
            goto out;
        if (json_object_get(tmpl, "hostname"))
            json_object_set(row->doc, "hostname", json_object_get(tmpl, "hostname"));
        if (json_object_get(tmpl, "dns"))
            json_object_set(row->doc, "dns", json_object_get(tmpl, "dns"));
    } else {
        for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++)
            if (json_object_get(tmpl, values[i]))
                json_object_set(row->doc, values[i], json_object_get(tmpl, values[i]));
    }
    json_object_set_new(row->doc, "allocation", json_string("static"));
    rc = 0;
out:
    json_decref(tmpl);
    return rc;
}

/* An Address of an interface goes with the interface (offered and checked:
 * resources/allow.c). */
static int address_refuse(struct cimi_request *req, const struct store_row *row, const char *op,
                          struct cimi_error *err)
{
    const char *nic = json_string_value(json_object_get(row->priv, "interface"));

    (void)req;
    if (strcmp(op, "delete") == 0 && nic != NULL)
        return err_set(err, 409, NULL, "Address '%s' belongs to the interface '%s'; remove the "
                       "interface to free it", row->id, nic);
    return 0;
}

const struct resource_ops address_ops = {
    .create_input = &t_address_create,
    .create = address_create,
    .refuse = address_refuse,
};

/* ---- ForwardingGroup ---- */

static int group_template_check(struct cimi_request *req, json_t *doc, struct cimi_error *err)
{
    json_t *ref;
    size_t i;

    json_array_foreach(json_object_get(doc, "networks"), i, ref) {
        if (json_object_get(ref, "href") == NULL)
            return err_set(err, 400, "networks", "networks[%zu] must name a Network by href", i);
        if (check_reference(req, ref, &t_network, "networks", err) != 0)
            return -1;
    }
    return 0;
}

static int group_template_create(struct cimi_request *req, json_t *input, struct store_row *row,
                                 struct job_spec *job, struct cimi_error *err)
{
    (void)job;
    return resource_store_input(req, input, row, &t_forwarding_group_template, err);
}

const struct resource_ops forwarding_group_template_ops = {
    .create = group_template_create,
    .check = group_template_check,
};

/* Join the Network ref names to the group (a new member row in member,
 * which the caller inserts): one of the group's tenant that the principal
 * may change, in no other group.  Sets the Network's forwardingGroup. */
static int join(struct cimi_request *req, const struct store_row *group, const json_t *ref,
                const char *attr, struct store_row *member, struct cimi_error *err)
{
    const char *href = json_string_value(json_object_get(ref, "href"));
    struct store_row network;
    char path[256];
    int rc = -1;

    if (href == NULL)
        return err_set(err, 400, attr, "%s must name a Network by href", attr);
    if (resource_href_path(req, href, attr, path, sizeof(path), err) != 0)
        return -1;
    if (resource_load(req, path, &t_network, &network, err) != 0)
        return err_set(err, 400, attr, "%s href '%s' does not name a Network", attr, href);
    if (strcmp(network.tenant, group->tenant) != 0 || !render_writable(req, &network))
        err_set(err, 400, attr, "Network '%s' is not a network of the group's tenant that %s "
                "may change", path, req->who.name);
    else if (resource_ref(network.doc, "forwardingGroup") != NULL)
        err_set(err, 409, attr, "Network '%s' is already in ForwardingGroup '%s'", path,
                resource_ref(network.doc, "forwardingGroup"));
    else if (resource_new_child(req->st, group, "networks", &t_forwarding_group_network, member,
                                err) == 0) {
        json_object_set_new(member->doc, "network", json_pack("{s:s}", "href", network.id));
        json_object_set_new(network.doc, "forwardingGroup", json_pack("{s:s}", "href", group->id));
        resource_touch(network.doc);
        rc = req->st->ops->update(req->st, &network, err);
    }
    store_row_clear(&network);
    return rc;
}

/* An admin's group is its networks' tenant's, like an admin's port: shared
 * when its first network is shared (an admin's networks are), else that
 * tenant's.  A consumer's group is the consumer's. */
static void group_tenant(struct cimi_request *req, const json_t *tmpl, struct store_row *row)
{
    const char *href = json_string_value(
        json_object_get(json_array_get(json_object_get(tmpl, "networks"), 0), "href"));
    struct store_row network;
    struct cimi_error ignored;
    char path[256];

    if (!req->who.admin)
        return;
    row->tenant[0] = '\0';
    if (href == NULL ||
        resource_href_path(req, href, "networks", path, sizeof(path), &ignored) != 0 ||
        resource_load(req, path, &t_network, &network, &ignored) != 0)
        return;  /* join() says what is wrong with it */
    snprintf(row->tenant, sizeof(row->tenant), "%s", network.tenant);
    store_row_clear(&network);
}

static int group_create(struct cimi_request *req, json_t *input, struct store_row *row,
                        struct job_spec *job, struct cimi_error *err)
{
    json_t *tmpl, *ref;
    char path[256], attr[64];
    size_t i;
    int rc = -1;

    (void)job;
    tmpl = resource_resolve(req, json_object_get(input, "forwardingGroupTemplate"),
                            &t_forwarding_group_template, "forwardingGroupTemplate", path,
                            sizeof(path), err);
    if (tmpl == NULL)
        return -1;
    if (resource_new_row(req, &t_forwarding_group, row, err) != 0)
        goto out;
    group_tenant(req, tmpl, row);
    resource_copy_common(input, row->doc);
    /* The members (children of the group, inserted here; the group row
     * itself is inserted by the caller in the same transaction). */
    json_array_foreach(json_object_get(tmpl, "networks"), i, ref) {
        struct store_row member;
        int joined;
        memset(&member, 0, sizeof(member));
        snprintf(attr, sizeof(attr), "forwardingGroupTemplate.networks[%zu]", i);
        joined = join(req, row, ref, attr, &member, err) == 0 &&
                 req->st->ops->insert(req->st, &member, err) == 0;
        store_row_clear(&member);
        if (!joined)
            goto out;
    }
    rc = 0;
out:
    json_decref(tmpl);
    return rc;
}

static void clear_group_of(struct store *st, const char *network_path)
{
    struct store_row network;

    memset(&network, 0, sizeof(network));
    if (st->ops->get(st, network_path, &network, NULL) != 0)
        return;
    json_object_del(network.doc, "forwardingGroup");
    resource_touch(network.doc);
    st->ops->update(st, &network, NULL);
    store_row_clear(&network);
}

struct members_ctx {
    json_t *networks;
};

static int collect_member(void *arg, struct store_row *row)
{
    struct members_ctx *c = arg;
    const char *href = resource_ref(row->doc, "network");

    if (href != NULL)
        json_array_append_new(c->networks, json_string(href));
    return 0;
}

/* The group goes with its memberships; its networks are in no group then. */
static int group_remove(struct cimi_request *req, struct store_row *row, struct job_spec *job,
                        struct cimi_error *err)
{
    struct members_ctx ctx = {json_array()};
    json_t *href;
    size_t i;
    int rc;

    (void)job;
    rc = req->st->ops->list(req->st, "ForwardingGroupNetwork", row->id, NULL, collect_member,
                            &ctx, err);
    json_array_foreach(ctx.networks, i, href)
        clear_group_of(req->st, json_string_value(href));
    json_decref(ctx.networks);
    return rc == 0 ? req->st->ops->remove(req->st, row->id, err) : -1;
}

const struct resource_ops forwarding_group_ops = {
    .create_input = &t_forwarding_group_create,
    .create = group_create,
    .remove = group_remove,
};

static int member_create(struct cimi_request *req, json_t *input, struct store_row *row,
                         struct job_spec *job, struct cimi_error *err)
{
    struct store_row group;
    int rc;

    (void)job;
    if (row->parent[0] == '\0')
        return err_set(err, 405, NULL, "a ForwardingGroupNetwork is created in a "
                       "ForwardingGroup's networks");
    if (resource_load(req, row->parent, &t_forwarding_group, &group, err) != 0)
        return -1;
    rc = join(req, &group, json_object_get(input, "network"), "network", row, err);
    if (rc == 0)
        resource_copy_common(input, row->doc);
    store_row_clear(&group);
    return rc;
}

/* Leave the group. */
static int member_remove(struct cimi_request *req, struct store_row *row, struct job_spec *job,
                         struct cimi_error *err)
{
    const char *href = resource_ref(row->doc, "network");

    (void)job;
    if (href != NULL)
        clear_group_of(req->st, href);
    return req->st->ops->remove(req->st, row->id, err);
}

static bool member_allowed(const struct store_row *row, const char *op)
{
    (void)row;
    return strcmp(op, "delete") == 0;
}

const struct resource_ops forwarding_group_network_ops = {
    .create = member_create,
    .remove = member_remove,
    .allowed = member_allowed,
};
