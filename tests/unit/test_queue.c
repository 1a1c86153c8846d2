/*
 * test_queue.c - which queued Job a free worker takes (jobs/queue.c): only
 * Jobs of its class; a tenant never runs more than its share of a class's
 * workers; among the tenants under their share, the one that runs the
 * fewest Jobs now goes first (oldest Job first among equals); a release
 * lets the tenant's next Job run.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "jobs/queue.h"

static struct queue_item *push(const char *id, const char *tenant, enum job_class klass)
{
    struct queue_item *item = calloc(1, sizeof(*item));

    snprintf(item->id, sizeof(item->id), "%s", id);
    snprintf(item->tenant, sizeof(item->tenant), "%s", tenant);
    item->klass = klass;
    queue_push(item);
    return item;
}

/* Claim one Job of klass: its id ("" when none may run), freed. */
static const char *claim(enum job_class klass)
{
    static char id[128];
    struct queue_item *item = queue_claim(klass);

    id[0] = '\0';
    if (item != NULL) {
        snprintf(id, sizeof(id), "%s", item->id);
        free(item);
    }
    return id;
}

int main(void)
{
    int workers[JOB_CLASSES] = {4, 2};
    char id[32];

    queue_configure(workers, 75);
    CHECK(queue_tenant_limit(JOB_CLASS_LIFECYCLE) == 3, "75%% of 4 job workers: 3");
    CHECK(queue_tenant_limit(JOB_CLASS_TRANSFER) == 1, "75%% of 2 transfer workers: 1");

    /* Tenant a queues five downloads and two lifecycle Jobs, then b one of each. */
    for (int i = 0; i < 5; i++) {
        snprintf(id, sizeof(id), "a-dl%d", i);
        push(id, "a", JOB_CLASS_TRANSFER);
    }
    push("a-life0", "a", JOB_CLASS_LIFECYCLE);
    push("a-life1", "a", JOB_CLASS_LIFECYCLE);
    push("b-dl", "b", JOB_CLASS_TRANSFER);
    push("b-life", "b", JOB_CLASS_LIFECYCLE);
    CHECK(queue_count() == 9, "nine queued");

    CHECK(strcmp(claim(JOB_CLASS_TRANSFER), "a-dl0") == 0, "a transfer worker takes a's first download");
    CHECK(strcmp(claim(JOB_CLASS_TRANSFER), "b-dl") == 0,
          "the next one takes b's download: a holds its share of the transfer workers");
    CHECK(claim(JOB_CLASS_TRANSFER)[0] == '\0', "no more downloads run: each tenant at its share");
    CHECK(strcmp(claim(JOB_CLASS_LIFECYCLE), "a-life0") == 0,
          "a lifecycle worker is free for a's lifecycle Job (never a download)");
    CHECK(strcmp(claim(JOB_CLASS_LIFECYCLE), "b-life") == 0,
          "b runs nothing of the class: its Job goes before a's older one");
    CHECK(strcmp(claim(JOB_CLASS_LIFECYCLE), "a-life1") == 0, "then a's");
    CHECK(claim(JOB_CLASS_LIFECYCLE)[0] == '\0', "no lifecycle Job left");

    queue_release("a", JOB_CLASS_TRANSFER);
    CHECK(strcmp(claim(JOB_CLASS_TRANSFER), "a-dl1") == 0, "a's download ended: its next one runs");
    CHECK(queue_find("a-dl4") != NULL && queue_find("a-dl1") == NULL, "queue_find sees the queued only");

    /* A tenant at its share of lifecycle workers waits while another runs. */
    push("a-x", "a", JOB_CLASS_LIFECYCLE);
    push("a-y", "a", JOB_CLASS_LIFECYCLE);
    push("c-z", "c", JOB_CLASS_LIFECYCLE);
    CHECK(strcmp(claim(JOB_CLASS_LIFECYCLE), "c-z") == 0, "c (running nothing) first");
    CHECK(strcmp(claim(JOB_CLASS_LIFECYCLE), "a-x") == 0, "a has 2 of its 3");
    CHECK(claim(JOB_CLASS_LIFECYCLE)[0] == '\0', "a at 3 of 4 workers: its next Job waits");
    queue_release("a", JOB_CLASS_LIFECYCLE);
    CHECK(strcmp(claim(JOB_CLASS_LIFECYCLE), "a-y") == 0, "until one of them ends");

    /* What is left is popped in order at shutdown. */
    for (struct queue_item *item; (item = queue_pop()) != NULL;)
        free(item);
    CHECK(queue_count() == 0, "shutdown pops everything");
    return check_summary();
}
