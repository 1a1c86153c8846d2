/*
 * network.h - what the network resources share: Networks (network.c), their
 * jobs (network_jobs.c), ports, addresses and forwarding groups
 * (network_parts.c) and machines' interfaces (machine_interface.c).
 *
 * A Network row's private document holds "index": which of cimid's subnets
 * it has (10.128.0.0/24 + index * 256, bridge "cimibr<index>"; unique over
 * all Networks of all tenants, so no two networks share a bridge or a
 * subnet), "initialState" until its create Job ran, and "previous" (the
 * state to go back to when a Job is stopped).
 *
 * Tenancy: a Network belongs to the tenant that created it; one an admin
 * creates is shared (tenant ""), like the catalog.  A machine's interface,
 * a NetworkPort or an Address may only be on a Network of the same tenant
 * or a shared one; other tenants' networks answer 404 (or 400 when named in
 * a request body) like missing ones.  A ForwardingGroup joins networks of
 * its own tenant only.
 */
#ifndef CIMID_NETWORK_H
#define CIMID_NETWORK_H

#include <stdbool.h>
#include <stddef.h>

#include "cimi/request.h"
#include "driver/driver.h"
#include "jobs/jobs.h"
#include "store/store.h"

/* At most this many Networks (subnets 10.128.0.0/24 ... 10.143.255.0/24). */
#define NETWORK_MAX 4096

/* The libvirt network of a Network row (from its "index"). */
int network_spec_of(const struct store_row *network, struct hv_network_spec *spec,
                    struct cimi_error *err);

/* The Network a request body names in attr (by href): visible, usable by
 * resources of tenant (its own or shared) and existing in the hypervisor
 * (not CREATING, DELETING or ERROR).  Loaded into network (caller clears);
 * -1 with err 400 (404-like: not visible or another tenant's) or 409. */
int network_usable(struct cimi_request *req, const json_t *ref, const char *attr,
                   const char *tenant, struct store_row *network, struct cimi_error *err);

/* A free address of the network for a new Address ("10.128.3.7"). 409 when
 * the network is full; want (may be NULL or "") asks for that address. */
int network_allocate_ip(struct store *st, const struct store_row *network, const char *want,
                        char *ip, size_t len, struct cimi_error *err);
/* Fill an Address document for ip on network (mask, gateway, protocol). */
void network_address_doc(const struct store_row *network, const char *ip, json_t *doc);

/* Who uses the network at path: 1 (a description into who), 0, -1. */
int network_users(struct store *st, const char *path, char *who, size_t len,
                  struct cimi_error *err);

/* Start-up: define the Networks an ephemeral hypervisor forgot. */
int network_reconcile(struct store *st);

/* ---- machine_interface.c: hooks of the Machine's life ---- */

/* Machine create: the template's networkInterfaces become the machine's
 * interfaces (rows, addresses), inside the request's transaction. */
int machine_interfaces_create(struct cimi_request *req, const struct store_row *machine,
                              const json_t *tmpl, struct cimi_error *err);
/* MachineTemplate check: each of networkInterfaces names a visible Network. */
int machine_template_check_interfaces(struct cimi_request *req, json_t *doc,
                                      struct cimi_error *err);
/* machine.create Job and start-up: give the defined machine its interfaces. */
int machine_interfaces_plug(struct store *st, const struct store_row *machine,
                            struct cimi_error *err);
/* machine.delete Job, before the machine goes: free its DHCP reservations
 * (best effort), then, in the Job's transaction, its Address rows. */
void machine_interfaces_unplug(struct store *st, const char *machine);
int machine_interfaces_forget(struct store *st, const char *machine, struct cimi_error *err);

extern const struct job_kind network_create_job, network_start_job, network_stop_job,
    network_delete_job, machine_nic_attach_job, machine_nic_detach_job;

#endif
