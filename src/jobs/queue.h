/*
 * queue.h - the queue of Jobs waiting for a worker, and which one a worker
 * takes next (internal to src/jobs; every call is made under the pool's lock).
 *
 * Two classes of workers: lifecycle work, and long transfers (job kinds
 * with `transfer` set, e.g. image downloads), so a slow transfer never holds
 * a worker that lifecycle work needs.  Within a class a tenant runs at most
 * its share of the class's workers at once (--tenant-worker-share, at least
 * one), and a free worker takes the oldest Job of the tenant that runs the
 * fewest Jobs of the class now: a tenant with nothing running goes first,
 * so one tenant's backlog never holds back another's Jobs.
 */
#ifndef CIMID_JOBS_QUEUE_H
#define CIMID_JOBS_QUEUE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "store/store.h"

enum job_class { JOB_CLASS_LIFECYCLE, JOB_CLASS_TRANSFER, JOB_CLASSES };

struct queue_item {
    char id[128];
    char tenant[64];
    enum job_class klass;
    bool interruptible;    /* its kind can be stopped while it runs */
    json_t *doc;           /* the Job's documents from its request, or NULL: read them */
    json_t *priv;
    bool stop_requested;   /* a stop came while it was queued: claim it through the store */
    struct store_row *resource;  /* the row its request wrote (malloc'd), or NULL */
    struct queue_item *next;
};

/* How many workers each class has, and a tenant's share of them in percent. */
void queue_configure(const int workers[JOB_CLASSES], int tenant_share_percent);
/* Most Jobs of one class a tenant may run at once. */
int queue_tenant_limit(enum job_class klass);
/* Append item (malloc'd; the queue owns it). false when the queue is full. */
bool queue_push(struct queue_item *item);
/* Would a worker of item's class that is free now take item at once? (Before queue_push.) */
bool queue_would_run_now(const struct queue_item *item, int idle_workers);
/* Take the next Job a worker of klass may run (counted as running for its
 * tenant until queue_release), or NULL when none may run now. */
struct queue_item *queue_claim(enum job_class klass);
/* A claimed Job's run ended: its tenant runs one Job of klass fewer. */
void queue_release(const char *tenant, enum job_class klass);
/* Remove and return the oldest queued Job of any class (shutdown), or NULL. */
struct queue_item *queue_pop(void);
/* The queued Job job_id, or NULL. */
struct queue_item *queue_find(const char *job_id);
/* How many Jobs are queued (all classes). */
size_t queue_count(void);

#endif
