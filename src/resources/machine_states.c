/*
 * machine_states.c - the hypervisor states of the machines a request reads.
 *
 * A Machine's state is read from its host on every request (machine.c,
 * machine_refresh).  Hosts whose driver keeps its machines' states in
 * memory (struct driver, states_in_memory: the usual case) answer each
 * machine at once, so each is asked alone.  Otherwise asking each of
 * 10,000 machines would be 10,000 calls to the host: while a request lists
 * a collection (req->listing), the first machine of each host fetches the
 * states of all of that host's machines in one driver call (struct driver,
 * list), kept in req->refresh_cache for the rest of the listing; read.c
 * frees it.  The listing starts after the store's read of the rows did, so
 * it is at least as new as every state a Job committed to those rows.  A
 * machine the listing does not have (created since, or gone) is asked
 * alone, exactly as outside a listing.
 *
 * A listing also borrows each host once (machine_listing_host) instead of
 * once per machine: 100,000 machines on one host are one hosts_use.  The
 * borrows end with the listing (state_cache_free).
 */
#include <stdlib.h>
#include <string.h>

#include "resources/machine.h"

#define MAX_LISTED_HOSTS 32

struct host_states {
    char host[256];                   /* the host id as rows name it ("" = default) */
    struct hv_machine_info *machines; /* sorted by uuid; NULL when the listing failed */
    int count;
};

struct borrowed_host {
    char host[256];                   /* the host id as rows name it ("" = default) */
    struct host_use use;              /* use.host NULL: could not be used (err says why) */
    struct cimi_error err;
};

struct state_cache {
    int nhosts;
    struct host_states hosts[MAX_LISTED_HOSTS];
    int nborrowed;
    struct borrowed_host borrowed[MAX_LISTED_HOSTS];
};

static void state_cache_free(void *p)
{
    struct state_cache *c = p;

    for (int i = 0; i < c->nhosts; i++)
        free(c->hosts[i].machines);
    for (int i = 0; i < c->nborrowed; i++)
        hosts_done(&c->borrowed[i].use);
    free(c);
}

/* This request's cache, made on first use; NULL when there is none to use
 * (out of memory, or another type's). */
static struct state_cache *cache_of(struct cimi_request *req)
{
    struct state_cache *c = req->refresh_cache;

    if (c != NULL)
        return req->refresh_cache_free == state_cache_free ? c : NULL;
    c = calloc(1, sizeof(*c));
    if (c == NULL)
        return NULL;
    req->refresh_cache = c;
    req->refresh_cache_free = state_cache_free;
    return c;
}

int machine_listing_host(struct cimi_request *req, const char *host, struct host_use **h,
                         struct cimi_error *err)
{
    struct state_cache *c = req != NULL && req->listing ? cache_of(req) : NULL;
    struct borrowed_host *b;

    *h = NULL;
    if (c == NULL)
        return err_set(err, 500, NULL, "out of memory");
    for (int i = 0; i < c->nborrowed; i++) {
        b = &c->borrowed[i];
        if (strcmp(b->host, host) != 0)
            continue;
        if (b->use.host == NULL) {
            *err = b->err;
            return -1;
        }
        *h = &b->use;
        return 0;
    }
    if (c->nborrowed == MAX_LISTED_HOSTS || strlen(host) >= sizeof(b->host))
        return err_set(err, 500, NULL, "too many hosts in one listing");
    b = &c->borrowed[c->nborrowed++];
    strcpy(b->host, host);
    err_clear(&b->err);
    if (hosts_use(host, &b->use, &b->err) != 0) {
        *err = b->err;
        return -1;
    }
    *h = &b->use;
    return 0;
}

static int compare_uuid(const void *a, const void *b)
{
    return strcmp(((const struct hv_machine_info *)a)->uuid,
                  ((const struct hv_machine_info *)b)->uuid);
}

/* The listing of host (borrowed as h), fetched on first use; NULL when
 * there is none to use. */
static struct host_states *states_of(struct cimi_request *req, struct host_use *h,
                                     const char *host)
{
    struct state_cache *c = cache_of(req);
    struct host_states *hs;
    struct cimi_error err;

    if (c == NULL)
        return NULL;
    for (int i = 0; i < c->nhosts; i++)
        if (strcmp(c->hosts[i].host, host) == 0)
            return c->hosts[i].machines ? &c->hosts[i] : NULL;
    if (c->nhosts == MAX_LISTED_HOSTS || strlen(host) >= sizeof(hs->host))
        return NULL;
    hs = &c->hosts[c->nhosts++];
    strcpy(hs->host, host);
    err_clear(&err);
    hs->count = h->drv->list(h->hv, false, &hs->machines, &err);
    if (hs->count < 0) {
        hs->machines = NULL;  /* ask machine by machine */
        return NULL;
    }
    qsort(hs->machines, (size_t)hs->count, sizeof(*hs->machines), compare_uuid);
    return hs;
}

int machine_hv_state(struct cimi_request *req, struct host_use *h, const char *host,
                     const char *uuid, enum hv_state *state, struct cimi_error *err)
{
    struct host_states *hs = NULL;

    if (req != NULL && req->listing && !h->drv->states_in_memory(h->hv))
        hs = states_of(req, h, host);

    if (hs != NULL && strlen(uuid) < sizeof(hs->machines[0].uuid)) {
        struct hv_machine_info key, *found;
        strcpy(key.uuid, uuid);
        found = bsearch(&key, hs->machines, (size_t)hs->count, sizeof(key), compare_uuid);
        if (found != NULL) {
            *state = found->state;
            return 0;
        }
    }
    return h->drv->get_state(h->hv, uuid, state, err);
}
