/*
 * states.c - the states of a connection's domains, kept in memory.
 *
 * Asking libvirt a domain's state costs a by-UUID lookup and one or two
 * calls (a round trip each on a remote host); listing 100,000 domains costs
 * half a second.  So each open connection keeps a table, uuid -> enum
 * hv_state (state_table.c), that the driver's get_state and list answer
 * from:
 *
 *  - seeded by one listing when the connection opens (after the events
 *    below are registered, so that nothing falls between the two), in a
 *    thread of its own: on a remote host the listing asks every domain its
 *    state, one round trip each (20 s for 100,000), and start-up must not
 *    wait for it; until it is done, queries ask libvirt as without a table;
 *  - kept current by libvirt's lifecycle events (a domain started, stopped,
 *    paused, defined, ... by anyone), which libvirt delivers in the event
 *    loop thread of libvirt.c: each one re-reads that domain's state;
 *  - set synchronously by cimid's own calls (libvirt.c, image.c call
 *    states_note right after libvirt returns), so that a read after a
 *    Job's outcome never shows an older state than the Job produced: the
 *    event of that change may arrive later.
 *
 * The table never believes an event's description of a change: every entry
 * is a state read from libvirt, with the ticket taken before the read (see
 * state_table.c), so racing readers cannot put an older state over a newer
 * one.  That also covers managed save, which has no event of its own: a
 * shut-off domain's entry says HV_SAVED or HV_SHUTOFF as the re-read found.
 * (Removing a managed-save image from outside cimid sends no event: such a
 * machine reads SUSPENDED until its next change.)
 *
 * When the table cannot be trusted, the connection asks libvirt as it would
 * without it: events cannot be registered, the connection closed (a
 * reconnection opens a new connection, with a new table), the event loop
 * thread stopped, or the table missed an update (the seeding listing
 * failed, or memory ran out): then the next listing re-seeds it.  A re-read
 * that fails (other than "no such domain") leaves the entry unknown: the
 * next query asks.
 *
 * Nothing above src/driver/ knows of this: get_state and list simply
 * became cheap.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include <libvirt/virterror.h>

#include "driver/local.h"
#include "driver/state_table.h"
#include "util/log.h"

struct domain_states {
    pthread_mutex_t lock;       /* around every table call but the ticket */
    struct state_table *table;
    atomic_bool seeded;         /* the table has every domain (cleared when an update
                                   could not be kept: out of memory) */
    atomic_bool closed;         /* the connection closed: no more events */
    atomic_bool seeding;        /* the seeding thread runs */
    pthread_t seeder;
    bool seeder_started;        /* join it before the table goes */
    int event_id;               /* libvirt's lifecycle callback id, -1 = none */
    bool close_callback;        /* registered */
    atomic_int refs;            /* the connection, and the event registration */
};

static void states_unref(void *opaque)
{
    struct domain_states *s = opaque;

    if (atomic_fetch_sub(&s->refs, 1) != 1)
        return;
    pthread_mutex_destroy(&s->lock);
    state_table_free(s->table);
    free(s);
}

/* Whether events can arrive (so that a seeded table stays current). */
static bool events_arrive(const struct domain_states *s)
{
    return s != NULL && s->event_id >= 0 && !atomic_load(&s->closed) && !event_loop_failed();
}

static bool is_live(const struct domain_states *s)
{
    return events_arrive(s) && atomic_load(&s->seeded);
}

/* Record the state of dom, read now (or that it is gone). */
static void reread(struct domain_states *s, virDomainPtr dom)
{
    unsigned char uuid[STATE_UUID_LEN];
    struct cimi_error err;
    enum hv_state state;
    uint64_t ticket = state_table_ticket(s->table);
    int rc;

    if (virDomainGetUUID(dom, uuid) < 0)
        return;
    err_clear(&err);
    rc = domain_state(dom, &state, &err);
    pthread_mutex_lock(&s->lock);
    if (rc == 0)
        rc = state_table_put(s->table, uuid, state, ticket);
    else if (err.status == 404) {
        state_table_remove(s->table, uuid, ticket);
        rc = 0;  /* gone: the table says so (not a missed update) */
    } else {
        rc = state_table_forget(s->table, uuid, ticket);
    }
    pthread_mutex_unlock(&s->lock);
    if (rc < 0)
        atomic_store(&s->seeded, false);  /* out of memory: re-seed (states_list) */
}

static int on_lifecycle(virConnectPtr conn, virDomainPtr dom, int event, int detail,
                        void *opaque)
{
    (void)conn;
    (void)event;
    (void)detail;
    reread(opaque, dom);
    return 0;
}

/* The connection is gone: events with it.  Until cimid reconnects (a new
 * connection, a new table), ask libvirt, which tells what is wrong. */
static void on_close(virConnectPtr conn, int reason, void *opaque)
{
    struct domain_states *s = opaque;

    (void)conn;
    (void)reason;
    atomic_store(&s->closed, true);
}

/* Fill the table from one listing of every domain: 0 or -1. */
static int seed(struct hv *hv, struct domain_states *s, struct cimi_error *err)
{
    struct hv_machine_info *all = NULL;
    unsigned char uuid[STATE_UUID_LEN];
    uint64_t ticket = state_table_ticket(s->table);
    int n, i, rc = 0;

    n = list_domains(hv, false, &all, err);
    if (n < 0)
        return -1;
    pthread_mutex_lock(&s->lock);
    for (i = 0; i < n && rc == 0; i++)
        if (state_uuid_parse(all[i].uuid, uuid) == 0)
            rc = state_table_put(s->table, uuid, all[i].state, ticket);
    state_table_sweep(s->table, ticket);
    pthread_mutex_unlock(&s->lock);
    free(all);
    if (rc < 0)
        return err_set(err, 500, NULL, "out of memory");
    return 0;
}

/* The seeding thread: the first listing, while the connection serves. */
static void *seed_in_background(void *arg)
{
    struct hv *hv = arg;
    struct domain_states *s = hv->states;
    struct cimi_error err;

    err_clear(&err);
    if (seed(hv, s, &err) == 0)
        atomic_store(&s->seeded, true);
    else
        log_warn("hypervisor: domain states are asked from the host (%s)", err.message);
    atomic_store(&s->seeding, false);
    return NULL;
}

bool states_in_memory(struct hv *hv)
{
    return is_live(hv->states);
}

void states_open(struct hv *hv)
{
    struct domain_states *s = calloc(1, sizeof(*s));
    struct cimi_error err;

    hv->states = s;
    if (s == NULL || (s->table = state_table_new()) == NULL) {
        log_warn("hypervisor: out of memory for the table of domain states");
        free(s);
        hv->states = NULL;
        return;
    }
    pthread_mutex_init(&s->lock, NULL);
    atomic_init(&s->seeded, false);
    atomic_init(&s->closed, false);
    atomic_init(&s->seeding, false);
    atomic_init(&s->refs, 1);
    s->event_id = -1;
    err_clear(&err);
    /* No free function here: drivers without close callbacks (test, QEMU
     * embed) accept the registration and never call it.  Unregistering waits
     * for a callback that runs, so states_close may free s after it. */
    if (virConnectRegisterCloseCallback(hv->conn, on_close, s, NULL) == 0)
        s->close_callback = true;
    atomic_fetch_add(&s->refs, 1);
    s->event_id = virConnectDomainEventRegisterAny(hv->conn, NULL, VIR_DOMAIN_EVENT_ID_LIFECYCLE,
                                                   VIR_DOMAIN_EVENT_CALLBACK(on_lifecycle), s,
                                                   states_unref);
    if (s->event_id < 0) {
        atomic_fetch_sub(&s->refs, 1);
        libvirt_fail(&err);
    } else {
        atomic_store(&s->seeding, true);
        if (pthread_create(&s->seeder, NULL, seed_in_background, hv) == 0) {
            s->seeder_started = true;
            return;
        }
        atomic_store(&s->seeding, false);
        if (seed(hv, s, &err) == 0) {   /* no thread: here, then */
            atomic_store(&s->seeded, true);
            return;
        }
    }
    log_warn("hypervisor: domain states are asked from the host (%s)", err.message);
}

void states_close(struct hv *hv)
{
    struct domain_states *s = hv->states;

    if (s == NULL)
        return;
    if (s->seeder_started)
        pthread_join(s->seeder, NULL);
    atomic_store(&s->seeded, false);
    if (s->event_id >= 0)
        virConnectDomainEventDeregisterAny(hv->conn, s->event_id);
    if (s->close_callback)
        virConnectUnregisterCloseCallback(hv->conn, on_close);
    hv->states = NULL;
    states_unref(s);
}

void states_note(struct hv *hv, virDomainPtr dom)
{
    if (hv->states != NULL)
        reread(hv->states, dom);
}

void states_note_uuid(struct hv *hv, const char *uuid)
{
    struct domain_states *s = hv->states;
    unsigned char raw[STATE_UUID_LEN];
    uint64_t ticket;
    virDomainPtr dom;
    bool gone;

    if (s == NULL || state_uuid_parse(uuid, raw) < 0)
        return;
    ticket = state_table_ticket(s->table);
    dom = virDomainLookupByUUIDString(hv->conn, uuid);
    if (dom != NULL) {
        reread(s, dom);
        virDomainFree(dom);
        return;
    }
    gone = virGetLastError() != NULL && virGetLastError()->code == VIR_ERR_NO_DOMAIN;
    pthread_mutex_lock(&s->lock);
    if (gone)
        state_table_remove(s->table, raw, ticket);
    else if (state_table_forget(s->table, raw, ticket) < 0)
        atomic_store(&s->seeded, false);  /* out of memory: re-seed (states_list) */
    pthread_mutex_unlock(&s->lock);
}

/* Ask libvirt (and remember the answer); err may be NULL. */
static int ask(struct hv *hv, const char *uuid, enum hv_state *state, struct cimi_error *err)
{
    struct domain_states *s = hv->states;
    unsigned char raw[STATE_UUID_LEN];
    uint64_t ticket = s != NULL ? state_table_ticket(s->table) : 0;
    bool keep = s != NULL && state_uuid_parse(uuid, raw) == 0;
    struct cimi_error mine;
    virDomainPtr dom;
    int rc = 0;

    err_clear(&mine);
    dom = domain_lookup(hv, uuid, &mine);
    if (dom == NULL || domain_state(dom, state, &mine) < 0)
        rc = -1;
    if (dom != NULL)
        virDomainFree(dom);
    if (keep) {
        pthread_mutex_lock(&s->lock);
        if (rc == 0 && state_table_put(s->table, raw, *state, ticket) < 0)
            atomic_store(&s->seeded, false);  /* out of memory: re-seed (states_list) */
        else if (rc < 0 && mine.status == 404)
            state_table_remove(s->table, raw, ticket);
        pthread_mutex_unlock(&s->lock);
    }
    if (rc < 0 && err != NULL)
        *err = mine;
    return rc;
}

int states_get(struct hv *hv, const char *uuid, enum hv_state *state, struct cimi_error *err)
{
    struct domain_states *s = hv->states;
    unsigned char raw[STATE_UUID_LEN];
    int found = 0;

    if (is_live(s) && state_uuid_parse(uuid, raw) == 0) {
        pthread_mutex_lock(&s->lock);
        found = state_table_get(s->table, raw, state);
        pthread_mutex_unlock(&s->lock);
    }
    return found ? 0 : ask(hv, uuid, state, err);
}

void states_get_known(struct hv *hv, const char *const *uuids, size_t n, enum hv_state *states,
                      bool *known)
{
    struct domain_states *s = hv->states;
    unsigned char raw[STATE_TABLE_BATCH][STATE_UUID_LEN];
    enum hv_state found[STATE_TABLE_BATCH];
    bool has[STATE_TABLE_BATCH];
    size_t at[STATE_TABLE_BATCH];

    memset(known, 0, n * sizeof(*known));
    if (!is_live(s))
        return;
    for (size_t start = 0; start < n; start += STATE_TABLE_BATCH) {
        size_t end = n - start < STATE_TABLE_BATCH ? n : start + STATE_TABLE_BATCH, m = 0;
        for (size_t i = start; i < end; i++)
            if (state_uuid_parse(uuids[i], raw[m]) == 0)
                at[m++] = i;   /* (a malformed UUID is no domain's) */
        pthread_mutex_lock(&s->lock);
        state_table_get_many(s->table, raw, m, found, has);
        pthread_mutex_unlock(&s->lock);
        for (size_t j = 0; j < m; j++) {
            known[at[j]] = has[j];
            if (has[j])
                states[at[j]] = found[j];
        }
    }
}

/* The domains whose state the table does not know, asked one by one and
 * appended to out[*n...]: 0 or -1. */
static int ask_unknown(struct hv *hv, const unsigned char *unknown, size_t nunknown,
                       struct hv_machine_info *out, size_t *n, struct cimi_error *err)
{
    struct cimi_error mine;

    for (size_t i = 0; i < nunknown; i++) {
        struct hv_machine_info *info = &out[*n];
        state_uuid_format(unknown + i * STATE_UUID_LEN, info->uuid);
        info->owned = false;
        err_clear(&mine);
        if (ask(hv, info->uuid, &info->state, &mine) == 0)
            (*n)++;
        else if (mine.status != 404) {  /* (404: gone meanwhile) */
            if (err != NULL)
                *err = mine;
            return -1;
        }
    }
    return 0;
}

int states_list(struct hv *hv, struct hv_machine_info **out, struct cimi_error *err)
{
    struct domain_states *s = hv->states;
    struct hv_machine_info *all;
    unsigned char *unknown, uuid[STATE_UUID_LEN];
    size_t count, n = 0, nunknown = 0, pos = 0;
    enum hv_state state;
    bool known;
    int rc;

    *out = NULL;
    if (events_arrive(s) && !atomic_load(&s->seeded) && !atomic_load(&s->seeding) &&
        seed(hv, s, NULL) == 0)
        atomic_store(&s->seeded, true);  /* seeding failed before: again */
    if (!is_live(s))
        return STATES_ASK_LIBVIRT;
    pthread_mutex_lock(&s->lock);
    count = state_table_count(s->table);
    all = calloc(count + 1, sizeof(*all));
    unknown = malloc((count + 1) * STATE_UUID_LEN);
    while (all != NULL && unknown != NULL &&
           state_table_next(s->table, &pos, uuid, &state, &known)) {
        if (!known) {
            memcpy(unknown + nunknown++ * STATE_UUID_LEN, uuid, STATE_UUID_LEN);
            continue;
        }
        state_uuid_format(uuid, all[n].uuid);
        all[n++].state = state;
    }
    pthread_mutex_unlock(&s->lock);
    if (all == NULL || unknown == NULL) {
        free(all);
        free(unknown);
        return err_set(err, 500, NULL, "out of memory");
    }
    rc = ask_unknown(hv, unknown, nunknown, all, &n, err);
    free(unknown);
    if (rc < 0) {
        free(all);
        return -1;
    }
    *out = all;
    return (int)n;
}
