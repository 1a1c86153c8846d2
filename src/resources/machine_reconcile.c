/*
 * machine_reconcile.c - start-up reconciliation of the store with the
 * hypervisor, and of a host that answers again: the machines an ephemeral
 * hypervisor forgot (test:///default) are defined again and brought back to
 * the state they last reached.  Each host is listed once (list_uuids); only
 * a machine the listing lacks is looked up alone.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "resources/machine.h"
#include "resources/network.h"
#include "resources/resource.h"
#include "resources/volume.h"
#include "hosts/hosts.h"
#include "util/clock.h"
#include "util/log.h"
#include "util/startup.h"

/* Bring a re-created machine back to the stable state it had. */
static int restore_state(struct host_use *h, const char *uuid, const char *desired,
                         struct cimi_error *err)
{
    if (strcmp(desired, "STOPPED") == 0 || strcmp(desired, "ERROR") == 0)
        return 0;
    if (machine_power_on(h, uuid, err) != 0)
        return -1;
    if (strcmp(desired, "PAUSED") == 0)
        return h->drv->pause(h->hv, uuid, err);
    if (strcmp(desired, "SUSPENDED") == 0)
        return h->drv->save(h->hv, uuid, err);
    return 0;
}

/* The machines one host already has, listed once per reconciliation: a
 * host that kept its machines (libvirt's test driver in a libvirtd that
 * still runs, a QEMU host) is then checked with one listing and a
 * comparison, not one lookup per machine. */
#define RECONCILE_MAX_HOSTS 64

struct host_listing {
    char host[256];                   /* the host id as rows name it ("" = default) */
    struct hv_machine_info *machines; /* sorted by uuid; NULL when the listing failed */
    int count;
};

struct reconcile_ctx {
    struct store *st;
    const char *only_host;   /* NULL = every machine (start-up: also book them) */
    int count;
    int nhosts;
    struct host_listing hosts[RECONCILE_MAX_HOSTS];
};

static int compare_machine_uuid(const void *a, const void *b)
{
    return strcmp(((const struct hv_machine_info *)a)->uuid,
                  ((const struct hv_machine_info *)b)->uuid);
}

/* The listing of host (borrowed as h), fetched on first use; NULL when
 * there is none (the caller then asks machine by machine). */
static struct host_listing *listing_of(struct reconcile_ctx *ctx, struct host_use *h,
                                       const char *host)
{
    struct host_listing *l;
    struct cimi_error err;

    for (int i = 0; i < ctx->nhosts; i++)
        if (strcmp(ctx->hosts[i].host, host) == 0)
            return ctx->hosts[i].machines ? &ctx->hosts[i] : NULL;
    if (ctx->nhosts == RECONCILE_MAX_HOSTS || strlen(host) >= sizeof(l->host))
        return NULL;
    l = &ctx->hosts[ctx->nhosts++];
    snprintf(l->host, sizeof(l->host), "%s", host);
    err_clear(&err);
    l->count = h->drv->list_uuids(h->hv, &l->machines, &err);
    if (l->count < 0) {
        log_warn("reconcile: cannot list the machines of host %s (asking one by one): %s",
                 host[0] ? host : hosts_default(), err.message);
        l->machines = NULL;
        return NULL;
    }
    qsort(l->machines, (size_t)l->count, sizeof(*l->machines), compare_machine_uuid);
    return l;
}

/* Whether the host has the machine: 1 yes, 0 no, -1 error (err set).  A
 * machine the listing has is there; one it lacks is asked alone (it may
 * have been defined since the listing). */
static int host_has(struct reconcile_ctx *ctx, struct host_use *h, const char *host,
                    const char *uuid, struct cimi_error *err)
{
    struct host_listing *l = listing_of(ctx, h, host);
    struct hv_machine_info key;

    if (l != NULL && strlen(uuid) < sizeof(key.uuid)) {
        snprintf(key.uuid, sizeof(key.uuid), "%s", uuid);
        if (bsearch(&key, l->machines, (size_t)l->count, sizeof(key), compare_machine_uuid))
            return 1;
    }
    return h->drv->exists(h->hv, uuid, err);
}

static void reconcile_ctx_free(struct reconcile_ctx *ctx)
{
    for (int i = 0; i < ctx->nhosts; i++)
        free(ctx->hosts[i].machines);
    ctx->nhosts = 0;
}

/* A host that forgets its machines (libvirt's test driver) gets them back
 * from the store. */
static void recreate(struct reconcile_ctx *ctx, struct store_row *row, const char *desired)
{
    const char *uuid = resource_uuid(row->id);
    struct hv_machine_spec spec;
    struct cimi_error err;
    struct host_use h;

    err_clear(&err);
    if (hosts_use(machine_host_of(row), &h, &err) != 0)
        return;  /* unreachable: done when it returns */
    if (host_has(ctx, &h, machine_host_of(row), uuid, &err) == 1) {
        hosts_done(&h);
        return;
    }
    if (!h.drv->ephemeral(h.hv)) {
        log_warn("reconcile: machine %s is missing from the hypervisor", row->id);
        hosts_done(&h);
        return;
    }
    /* Its volumes before it starts (a persistent hypervisor keeps them in
     * the domain's definition; the test driver only has cimid's record). */
    if (machine_hv_spec(row, &spec, &err) != 0 || h.drv->define(h.hv, &spec, &err) != 0 ||
        machine_volumes_reattach(ctx->st, row) != 0 ||
        machine_interfaces_plug(ctx->st, row, &err) != 0 ||  /* networks */
        restore_state(&h, uuid, desired, &err) != 0)
        log_error("reconcile: cannot re-create machine %s: %s", row->id,
                  err.message[0] ? err.message : "its volumes cannot be attached");
    else
        ctx->count++;
    hosts_done(&h);
}

static int reconcile_row(void *arg, struct store_row *row)
{
    struct reconcile_ctx *ctx = arg;
    const char *state = json_string_value(json_object_get(row->doc, "state")) ?: "";
    const char *desired = json_string_value(json_object_get(row->priv, "desired"));
    const char *host = machine_host_of(row);

    if (ctx->only_host == NULL && startup_aborted())
        return 1;  /* cimid is stopping: the next start reconciles the rest */
    if (json_is_true(json_object_get(row->priv, "released"))) {
        return 0;  /* a failed create: no domain, nothing booked */
    } else if (ctx->only_host == NULL) {
        struct placement_request rq;
        int pinned[HV_MAX_VCPUS];
        json_t *p;
        size_t i;
        machine_request_of(row, &rq);
        json_array_foreach(json_object_get(row->priv, "pinned"), i, p) {
            if (i < HV_MAX_VCPUS)
                pinned[i] = (int)json_integer_value(p);
        }
        hosts_book(host, resource_uuid(row->id), &rq, pinned);
    } else if (strcmp(host[0] ? host : hosts_default(), ctx->only_host) != 0) {
        return 0;
    }
    if (strcmp(state, "CREATING") == 0 || desired == NULL)
        return 0;  /* never created (its create Job runs again, or it failed) */
    recreate(ctx, row, desired);
    return 0;
}

static int reconcile(struct store *st, const char *only_host)
{
    struct reconcile_ctx *ctx = calloc(1, sizeof(*ctx));
    struct cimi_error err;
    int count;

    if (ctx == NULL) {
        log_error("reconcile: out of memory");
        return -1;
    }
    ctx->st = st;
    ctx->only_host = only_host;
    err_clear(&err);
    if (st->ops->list(st, "Machine", NULL, NULL, reconcile_row, ctx, &err) != 0) {
        log_error("reconcile: %s", err.message);
        reconcile_ctx_free(ctx);
        free(ctx);
        return -1;
    }
    count = ctx->count;
    reconcile_ctx_free(ctx);
    free(ctx);
    if (count > 0)
        log_info("reconcile: re-created %d machines in the hypervisor", count);
    return count;
}

int machine_reconcile(struct store *st)
{
    return reconcile(st, NULL);
}

void machine_host_returned(const char *host_id)
{
    struct cimi_error err;
    struct store *st = store_for_thread(&err);

    if (st == NULL) {
        log_error("reconcile: %s", err.message);
        return;
    }
    /* Networks live on the default host: they come back before its machines. */
    if (strcmp(host_id, hosts_default()) == 0)
        network_reconcile(st);
    reconcile(st, host_id);
    store_release_thread();
}
