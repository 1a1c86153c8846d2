/*
 * queue.c - the Jobs waiting for a worker and the fair choice of the next
 * one (see queue.h).  One FIFO list of every queued Job; a worker scans it
 * for the oldest Job of its class whose tenant is under its limit,
 * preferring the tenant that runs the fewest Jobs of the class now (the
 * scan ends at the first tenant that runs none).  The tenants that run
 * Jobs are counted in a small table: at most one entry per worker.
 */
#include "jobs/queue.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define QUEUE_MAX 65536
/* One entry per running Job at most: workers (256) plus transfer workers (64). */
#define TENANTS_MAX 320

struct tenant_use {
    char tenant[64];       /* "" = free */
    int running[JOB_CLASSES];
};

static struct queue_item *head, *tail;
static size_t count;
static struct tenant_use tenants[TENANTS_MAX];
static int limits[JOB_CLASSES] = {1, 1};

void queue_configure(const int workers[JOB_CLASSES], int tenant_share_percent)
{
    for (int c = 0; c < JOB_CLASSES; c++) {
        limits[c] = workers[c] * tenant_share_percent / 100;
        if (limits[c] < 1)
            limits[c] = 1;
    }
}

int queue_tenant_limit(enum job_class klass)
{
    return limits[klass];
}

/* The tenant's entry (added when add), or NULL. */
static struct tenant_use *tenant_find(const char *tenant, bool add)
{
    struct tenant_use *free_one = NULL;

    for (size_t i = 0; i < TENANTS_MAX; i++) {
        if (tenants[i].tenant[0] == '\0') {
            if (free_one == NULL)
                free_one = &tenants[i];
        } else if (strcmp(tenants[i].tenant, tenant) == 0) {
            return &tenants[i];
        }
    }
    if (add && free_one != NULL)
        snprintf(free_one->tenant, sizeof(free_one->tenant), "%s", tenant);
    return add ? free_one : NULL;
}

static int running_of(const char *tenant, enum job_class klass)
{
    const struct tenant_use *t = tenant_find(tenant, false);

    return t != NULL ? t->running[klass] : 0;
}

bool queue_push(struct queue_item *item)
{
    if (count >= QUEUE_MAX)
        return false;
    item->next = NULL;
    if (tail != NULL)
        tail->next = item;
    else
        head = item;
    tail = item;
    count++;
    return true;
}

bool queue_would_run_now(const struct queue_item *item, int idle_workers)
{
    int waiting = 0;

    if (running_of(item->tenant, item->klass) >= limits[item->klass])
        return false;
    for (const struct queue_item *q = head; q != NULL && waiting < idle_workers; q = q->next)
        if (q->klass == item->klass)
            waiting++;
    return idle_workers > waiting;
}

/* Unlink the item after prev (NULL: the head). */
static struct queue_item *unlink_after(struct queue_item *prev)
{
    struct queue_item *item = prev != NULL ? prev->next : head;

    if (prev != NULL)
        prev->next = item->next;
    else
        head = item->next;
    if (tail == item)
        tail = prev;
    item->next = NULL;
    count--;
    return item;
}

struct queue_item *queue_claim(enum job_class klass)
{
    struct queue_item *prev = NULL, *best_prev = NULL, *best = NULL;
    int best_running = limits[klass];
    struct tenant_use *t;

    for (struct queue_item *q = head; q != NULL; prev = q, q = q->next) {
        int running;
        if (q->klass != klass)
            continue;
        running = running_of(q->tenant, klass);
        if (running < best_running) {
            best = q;
            best_prev = prev;
            best_running = running;
            if (running == 0)
                break;
        }
    }
    if (best == NULL || (t = tenant_find(best->tenant, true)) == NULL)
        return NULL;
    t->running[klass]++;
    return unlink_after(best_prev);
}

void queue_release(const char *tenant, enum job_class klass)
{
    struct tenant_use *t = tenant_find(tenant, false);

    if (t == NULL)
        return;
    if (t->running[klass] > 0)
        t->running[klass]--;
    for (int c = 0; c < JOB_CLASSES; c++)
        if (t->running[c] > 0)
            return;
    t->tenant[0] = '\0';
}

struct queue_item *queue_pop(void)
{
    return head != NULL ? unlink_after(NULL) : NULL;
}

struct queue_item *queue_find(const char *job_id)
{
    for (struct queue_item *q = head; q != NULL; q = q->next)
        if (strcmp(q->id, job_id) == 0)
            return q;
    return NULL;
}

size_t queue_count(void)
{
    return count;
}
