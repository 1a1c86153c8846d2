/*
 * pool.c - the hosts cimid manages: their connections, their books, and the
 * monitor that notices when one stops answering (see hosts.h).
 *
 * One mutex guards the list and every host's fields.  Slow work (opening a
 * connection, asking a host whether it is alive) happens outside it: a host
 * is borrowed (users++) for the call.  A connection is replaced or closed
 * only when nobody borrows it, so a driver call never runs on a closed one.
 */
#include "hosts/hosts.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hosts/placement.h"
#include "util/log.h"
#include "util/startup.h"

#define UUID_LEN 37

struct host {
    char id[HOST_ID_MAX];
    struct host_settings settings;
    struct hv *hv;              /* NULL while it could not be opened */
    bool reachable;
    char reason[256];           /* why not reachable */
    int users;                  /* hosts_use() not yet done */
    bool removed;               /* out of the list; closed by the last user */
    struct hv_node node;
    int used_vcpus;
    long long used_memory_kib;
    int machines;
    char (*cpu_owner)[UUID_LEN];  /* per physical CPU: its dedicated machine, or "" */
    int owners;                 /* entries in cpu_owner */
    struct host *next;
};

static pthread_mutex_t pool_lock = PTHREAD_MUTEX_INITIALIZER;
static struct host *pool;       /* in the order hosts were added */
static struct hv_options defaults;
static enum placement_policy policy = PLACE_SPREAD;
static const struct driver *driver = &driver_libvirt;

static pthread_t monitor_thread;
static bool monitor_running;
static bool monitor_quit;
static pthread_cond_t monitor_wake = PTHREAD_COND_INITIALIZER;
static int monitor_interval_s;
static void (*monitor_on_return)(const char *host_id);

void hosts_configure(const struct hv_options *options, enum placement_policy p)
{
    defaults = *options;
    policy = p;
}

static struct host *find_locked(const char *id)
{
    for (struct host *h = pool; h != NULL; h = h->next)
        if (strcmp(h->id, id) == 0)
            return h;
    return NULL;
}

static void host_free(struct host *h)
{
    if (h->hv != NULL)
        driver->close(h->hv);
    free(h->cpu_owner);
    free(h);
}

/* Size the dedicated-CPU table to the host's CPUs, keeping known owners. */
static void resize_owners_locked(struct host *h)
{
    char (*owners)[UUID_LEN];

    if (h->node.cpus <= h->owners)
        return;
    owners = calloc((size_t)h->node.cpus, UUID_LEN);
    if (owners == NULL)
        return;
    if (h->cpu_owner != NULL)
        memcpy(owners, h->cpu_owner, (size_t)h->owners * UUID_LEN);
    free(h->cpu_owner);
    h->cpu_owner = owners;
    h->owners = h->node.cpus;
}

/* Open a host's connection and read its size (no lock held). */
static struct hv *open_host(const struct host_settings *s, bool first, struct hv_node *node,
                            struct cimi_error *err)
{
    struct hv_options options = defaults;
    struct hv *hv;

    options.accel = s->accel[0] ? s->accel : defaults.accel;
    if (!first)
        options.storage_dir = NULL;  /* each other host: its own default */
    hv = driver->open(s->uri, &options, err);
    if (hv == NULL)
        return NULL;
    if (driver->node_info(hv, node, err) != 0) {
        driver->close(hv);
        return NULL;
    }
    return hv;
}

int hosts_add(const char *id, const struct host_settings *s, bool must_connect,
              struct cimi_error *err)
{
    struct host *h, **tail;
    struct cimi_error cause;
    bool first;

    pthread_mutex_lock(&pool_lock);
    first = pool == NULL;
    for (h = pool; h != NULL; h = h->next)
        if (strcmp(h->settings.uri, s->uri) == 0 || strcmp(h->id, id) == 0)
            break;
    pthread_mutex_unlock(&pool_lock);
    if (h != NULL)
        return err_set(err, 409, "uri", "host %s already manages %s", h->id, h->settings.uri);

    h = calloc(1, sizeof(*h));
    if (h == NULL)
        return err_set(err, 500, NULL, "out of memory");
    snprintf(h->id, sizeof(h->id), "%s", id);
    h->settings = *s;
    err_clear(&cause);
    h->hv = open_host(s, first, &h->node, &cause);
    if (h->hv == NULL) {
        if (must_connect) {
            free(h);
            return err_set(err, 400, "uri", "cannot connect to %s: %s", s->uri, cause.message);
        }
        snprintf(h->reason, sizeof(h->reason), "cannot connect: %s", cause.message);
        log_warn("host: %s (%s) is unreachable: %s", id, s->uri, cause.message);
    } else {
        h->reachable = true;
        log_info("host: %s connected to %s (%d CPUs, %lld MiB)", id, s->uri, h->node.cpus,
                 h->node.memory_kib / 1024);
    }
    pthread_mutex_lock(&pool_lock);
    resize_owners_locked(h);
    for (tail = &pool; *tail != NULL; tail = &(*tail)->next)
        ;
    *tail = h;
    pthread_mutex_unlock(&pool_lock);
    return 0;
}

int hosts_remove(const char *id, struct cimi_error *err)
{
    struct host *h, **link;
    bool close_now;

    pthread_mutex_lock(&pool_lock);
    for (link = &pool; *link != NULL && strcmp((*link)->id, id) != 0; link = &(*link)->next)
        ;
    h = *link;
    if (h == NULL) {
        pthread_mutex_unlock(&pool_lock);
        return err_set(err, 404, NULL, "no host '%s'", id);
    }
    if (h->machines > 0) {
        int n = h->machines;
        pthread_mutex_unlock(&pool_lock);
        return err_set(err, 409, NULL,
                       "host %s still has %d machine%s: delete them before removing it", id, n,
                       n == 1 ? "" : "s");
    }
    *link = h->next;
    h->removed = true;
    close_now = h->users == 0;
    pthread_mutex_unlock(&pool_lock);
    log_info("host: %s (%s) removed", id, h->settings.uri);
    if (close_now)
        host_free(h);
    return 0;
}

int hosts_update(const char *id, const struct host_settings *s, struct cimi_error *err)
{
    struct host *h;

    pthread_mutex_lock(&pool_lock);
    h = find_locked(id);
    if (h != NULL) {
        h->settings.enabled = s->enabled;
        h->settings.memory_overcommit = s->memory_overcommit;
        h->settings.cpu_overcommit = s->cpu_overcommit;
    }
    pthread_mutex_unlock(&pool_lock);
    return h != NULL ? 0 : err_set(err, 404, NULL, "no host '%s'", id);
}

static int dedicated_count_locked(const struct host *h)
{
    int n = 0;

    for (int i = 0; i < h->owners; i++)
        if (h->cpu_owner[i][0] != '\0')
            n++;
    return n;
}

int hosts_status(const char *id, struct host_status *out, struct cimi_error *err)
{
    struct host *h;

    pthread_mutex_lock(&pool_lock);
    h = find_locked(id);
    if (h != NULL) {
        memset(out, 0, sizeof(*out));
        out->settings = h->settings;
        out->reachable = h->reachable;
        snprintf(out->reason, sizeof(out->reason), "%s", h->reason);
        out->cpus = h->node.cpus;
        out->memory_kib = h->node.memory_kib;
        out->used_vcpus = h->used_vcpus;
        out->used_memory_kib = h->used_memory_kib;
        out->machines = h->machines;
        out->dedicated_cpus = dedicated_count_locked(h);
    }
    pthread_mutex_unlock(&pool_lock);
    return h != NULL ? 0 : err_set(err, 404, NULL, "no host '%s'", id);
}

const char *hosts_find_uri(const char *uri, char *id, size_t len)
{
    const char *found = NULL;

    pthread_mutex_lock(&pool_lock);
    for (struct host *h = pool; h != NULL; h = h->next) {
        if (strcmp(h->settings.uri, uri) == 0) {
            snprintf(id, len, "%s", h->id);
            found = id;
            break;
        }
    }
    pthread_mutex_unlock(&pool_lock);
    return found;
}

/* The first host's id: fixed once known (hosts are never renamed). */
static char default_id[HOST_ID_MAX];

const char *hosts_default(void)
{
    pthread_mutex_lock(&pool_lock);
    if (default_id[0] == '\0' && pool != NULL)
        snprintf(default_id, sizeof(default_id), "%s", pool->id);
    pthread_mutex_unlock(&pool_lock);
    return default_id;
}

int hosts_use(const char *id, struct host_use *use, struct cimi_error *err)
{
    struct host *h;

    memset(use, 0, sizeof(*use));
    if (id == NULL || id[0] == '\0')
        id = hosts_default();
    pthread_mutex_lock(&pool_lock);
    h = find_locked(id);
    if (h == NULL) {
        pthread_mutex_unlock(&pool_lock);
        return err_set(err, 500, NULL, "host '%s' is not managed by cimid", id);
    }
    if (!h->reachable || h->hv == NULL) {
        err_set(err, 503, NULL, "host %s (%s) is unreachable: %s", h->id, h->settings.uri,
                h->reason[0] ? h->reason : "no connection");
        pthread_mutex_unlock(&pool_lock);
        return -1;
    }
    h->users++;
    use->host = h;
    use->drv = driver;
    use->hv = h->hv;
    pthread_mutex_unlock(&pool_lock);
    return 0;
}

int hosts_use_first(struct host_use *use, struct cimi_error *err)
{
    return hosts_use(hosts_default(), use, err);
}

void hosts_done(struct host_use *use)
{
    struct host *h = use->host;
    bool close_now;

    if (h == NULL)
        return;
    pthread_mutex_lock(&pool_lock);
    h->users--;
    close_now = h->removed && h->users == 0;
    pthread_mutex_unlock(&pool_lock);
    if (close_now)
        host_free(h);
    memset(use, 0, sizeof(*use));
}

/* ---- the books ---- */

static void book_locked(struct host *h, const char *uuid, const struct placement_request *rq,
                        const int *pinned)
{
    h->used_vcpus += rq->vcpus;
    h->used_memory_kib += rq->memory_kib;
    h->machines++;
    for (int i = 0; rq->dedicated && pinned != NULL && i < rq->vcpus; i++)
        if (pinned[i] >= 0 && pinned[i] < h->owners)
            snprintf(h->cpu_owner[pinned[i]], UUID_LEN, "%s", uuid);
}

/* The first n physical CPUs no dedicated machine owns, into pinned. */
static void pick_cpus_locked(const struct host *h, int n, int *pinned)
{
    int found = 0;

    for (int i = 0; i < h->owners && found < n; i++)
        if (h->cpu_owner[i][0] == '\0')
            pinned[found++] = i;
}

int hosts_place(const char *machine_uuid, const struct placement_request *rq, char *host_id,
                size_t len, int *pinned, struct cimi_error *err)
{
    struct placement_candidate c[64];
    struct host *hosts[64];
    size_t n = 0;
    int chosen;

    pthread_mutex_lock(&pool_lock);
    for (struct host *h = pool; h != NULL && n < 64; h = h->next, n++) {
        hosts[n] = h;
        c[n] = (struct placement_candidate){
            .id = h->id,
            .unusable = !h->reachable          ? "unreachable"
                        : !h->settings.enabled ? "disabled"
                                               : NULL,
            .cpus = h->node.cpus,
            .memory_kib = h->node.memory_kib,
            .used_vcpus = h->used_vcpus,
            .used_memory_kib = h->used_memory_kib,
            .memory_overcommit = h->settings.memory_overcommit,
            .cpu_overcommit = h->settings.cpu_overcommit,
            .free_dedicated = h->owners - dedicated_count_locked(h),
        };
    }
    chosen = placement_choose(c, n, rq, policy, err);
    if (chosen >= 0) {
        struct host *h = hosts[chosen];
        if (rq->dedicated)
            pick_cpus_locked(h, rq->vcpus, pinned);
        book_locked(h, machine_uuid, rq, pinned);
        snprintf(host_id, len, "%s", h->id);
    }
    pthread_mutex_unlock(&pool_lock);
    return chosen >= 0 ? 0 : -1;
}

int hosts_rebook(const char *host_id, const struct placement_request *old,
                 const struct placement_request *rq, struct cimi_error *err)
{
    struct placement_candidate c;
    struct host *h;
    int rc = -1;

    if (old->dedicated || rq->dedicated)
        return err_set(err, 409, NULL, "a dedicated machine keeps the CPUs it was given");
    pthread_mutex_lock(&pool_lock);
    h = find_locked(host_id && host_id[0] ? host_id : (pool ? pool->id : ""));
    if (h == NULL) {
        err_set(err, 404, NULL, "the machine's host %s is gone", host_id);
        goto out;
    }
    /* The host as if the machine were not on it; the scheduler's rule decides
     * (a disabled host takes no new machines, but keeps its own). */
    c = (struct placement_candidate){
        .id = h->id,
        .unusable = h->reachable ? NULL : "unreachable",
        .cpus = h->node.cpus,
        .memory_kib = h->node.memory_kib,
        .used_vcpus = h->used_vcpus - old->vcpus,
        .used_memory_kib = h->used_memory_kib - old->memory_kib,
        .memory_overcommit = h->settings.memory_overcommit,
        .cpu_overcommit = h->settings.cpu_overcommit,
        .free_dedicated = h->owners - dedicated_count_locked(h),
    };
    if (placement_choose(&c, 1, rq, policy, err) == 0) {
        h->used_vcpus += rq->vcpus - old->vcpus;
        h->used_memory_kib += rq->memory_kib - old->memory_kib;
        rc = 0;
    }
out:
    pthread_mutex_unlock(&pool_lock);
    return rc;
}

void hosts_book(const char *host_id, const char *machine_uuid, const struct placement_request *rq,
                const int *pinned)
{
    struct host *h;

    pthread_mutex_lock(&pool_lock);
    h = find_locked(host_id && host_id[0] ? host_id : (pool ? pool->id : ""));
    if (h != NULL)
        book_locked(h, machine_uuid, rq, pinned);
    pthread_mutex_unlock(&pool_lock);
}

void hosts_release(const char *host_id, const char *machine_uuid,
                   const struct placement_request *rq)
{
    struct host *h;

    pthread_mutex_lock(&pool_lock);
    h = find_locked(host_id && host_id[0] ? host_id : (pool ? pool->id : ""));
    if (h != NULL) {
        h->used_vcpus -= rq->vcpus;
        h->used_memory_kib -= rq->memory_kib;
        h->machines--;
        for (int i = 0; i < h->owners; i++)
            if (strcmp(h->cpu_owner[i], machine_uuid) == 0)
                h->cpu_owner[i][0] = '\0';
    }
    pthread_mutex_unlock(&pool_lock);
}

/* ---- the monitor ---- */

/* The monitor borrows every host for its round (so none is freed under it);
 * the functions below run with that one borrow held. */

/* Take a reachable host that stopped answering out of service. */
static void check_reachable(struct host *h, struct hv *hv)
{
    bool alive = driver->alive(hv);

    pthread_mutex_lock(&pool_lock);
    if (!alive && h->reachable && !h->removed) {
        h->reachable = false;
        snprintf(h->reason, sizeof(h->reason), "the connection to %s was lost",
                 h->settings.uri);
        log_warn("host: %s (%s) is unreachable: its machines show ERROR until it returns",
                 h->id, h->settings.uri);
    }
    pthread_mutex_unlock(&pool_lock);
}

/* Reconnect an unreachable host once nobody but the monitor uses it. */
static void try_reconnect(struct host *h)
{
    struct cimi_error err;
    struct hv *old, *fresh;
    struct hv_node node;
    bool first;

    pthread_mutex_lock(&pool_lock);
    if (h->users > 1 || h->removed) {
        pthread_mutex_unlock(&pool_lock);
        return;
    }
    old = h->hv;
    h->hv = NULL;
    first = h == pool;
    pthread_mutex_unlock(&pool_lock);
    if (old != NULL)
        driver->close(old);
    err_clear(&err);
    fresh = open_host(&h->settings, first, &node, &err);
    pthread_mutex_lock(&pool_lock);
    if (fresh != NULL) {
        h->hv = fresh;
        h->node = node;
        h->reachable = true;
        h->reason[0] = '\0';
        resize_owners_locked(h);
    } else {
        snprintf(h->reason, sizeof(h->reason), "cannot reconnect: %s", err.message);
    }
    pthread_mutex_unlock(&pool_lock);
    if (fresh != NULL) {
        log_info("host: %s (%s) is reachable again", h->id, h->settings.uri);
        if (monitor_on_return != NULL)
            monitor_on_return(h->id);
    }
}

static void check_all(void)
{
    struct host_use held[64];
    size_t n = 0;

    pthread_mutex_lock(&pool_lock);
    for (struct host *h = pool; h != NULL && n < 64; h = h->next) {
        h->users++;
        held[n++] = (struct host_use){h, driver, h->reachable ? h->hv : NULL};
    }
    pthread_mutex_unlock(&pool_lock);
    for (size_t i = 0; i < n; i++) {
        if (held[i].hv != NULL)
            check_reachable(held[i].host, held[i].hv);
        else
            try_reconnect(held[i].host);
        hosts_done(&held[i]);
    }
}

static void *monitor_main(void *arg)
{
    (void)arg;
    /* Hosts that return are reconciled only after start-up's own pass. */
    if (!startup_wait())
        return NULL;
    pthread_mutex_lock(&pool_lock);
    while (!monitor_quit) {
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += monitor_interval_s;
        pthread_cond_timedwait(&monitor_wake, &pool_lock, &until);
        if (monitor_quit)
            break;
        pthread_mutex_unlock(&pool_lock);
        check_all();
        pthread_mutex_lock(&pool_lock);
    }
    pthread_mutex_unlock(&pool_lock);
    return NULL;
}

int hosts_start_monitor(int interval_s, void (*on_return)(const char *host_id))
{
    monitor_interval_s = interval_s > 0 ? interval_s : 5;
    monitor_on_return = on_return;
    monitor_quit = false;
    if (pthread_create(&monitor_thread, NULL, monitor_main, NULL) != 0)
        return -1;
    monitor_running = true;
    return 0;
}

void hosts_close_all(void)
{
    struct host *h;

    if (monitor_running) {
        pthread_mutex_lock(&pool_lock);
        monitor_quit = true;
        pthread_cond_signal(&monitor_wake);
        pthread_mutex_unlock(&pool_lock);
        pthread_join(monitor_thread, NULL);
        monitor_running = false;
    }
    pthread_mutex_lock(&pool_lock);
    h = pool;
    pool = NULL;
    pthread_mutex_unlock(&pool_lock);
    while (h != NULL) {
        struct host *next = h->next;
        host_free(h);
        h = next;
    }
}
