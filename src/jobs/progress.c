/*
 * progress.c - the running Jobs and how far they got, kept in memory.
 *
 * A worker claims a Job in memory (jobs.c): from then on the Job is
 * RUNNING, while the store keeps it QUEUED until its outcome is committed
 * with the resource's new state.  The steps in between (job_progress:
 * "defining the machine in the hypervisor", a download's percentage) only
 * tell a client how far a running Job got, and a Job interrupted by a crash
 * runs again from the start, so they are not written to the store either:
 * each running Job has a record here, and the Job's refresh hook
 * (resources/job.c) shows it (state RUNNING, progress, message) on the Job.
 * When the Job's run ends with its outcome committed, the record is kept a
 * while, marked ended: a request that read the Job's row before that commit
 * (still QUEUED) must show it RUNNING as before, not QUEUED again.  Ended
 * records are reused, oldest first, when no record is free.  A stop asked
 * of a running Job of an interruptible kind is a flag here: the Job shows
 * STOPPING, and its run polls job_stop_requested.
 */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "jobs/jobs.h"
#include "util/clock.h"

/* At most one running Job per worker, and there are at most 320 workers
 * (config.c: 256 job workers, 64 transfer workers), so a claim always finds
 * a record that is free or ended; the others keep the latest ended Jobs. */
#define PROGRESS_MAX 512

struct running {
    char job_id[128];    /* "" = free */
    int progress;
    char message[256];
    char when[32];       /* ISO 8601, the time of the step */
    bool ended;          /* its outcome is committed (job_progress_end) */
    bool interruptible;  /* its kind can be stopped while it runs */
    bool stop;           /* a stop was asked for: it shows STOPPING */
    unsigned long long ended_order;   /* when ended: larger = later */
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct running table[PROGRESS_MAX];
static unsigned long long ends;   /* how many records ended so far */

/* The record of job_id, or when add a free one (else the oldest ended one);
 * NULL otherwise. Locked. */
static struct running *find_locked(const char *job_id, bool add)
{
    struct running *free_one = NULL, *oldest_ended = NULL;

    for (size_t i = 0; i < PROGRESS_MAX; i++) {
        struct running *r = &table[i];
        if (strcmp(r->job_id, job_id) == 0)
            return r;
        if (free_one == NULL && r->job_id[0] == '\0')
            free_one = r;
        if (r->job_id[0] != '\0' && r->ended &&
            (oldest_ended == NULL || r->ended_order < oldest_ended->ended_order))
            oldest_ended = r;
    }
    if (!add)
        return NULL;
    return free_one != NULL ? free_one : oldest_ended;
}

/* Record progress (and message, or none) for job_id, adding its record
 * (begin: a new run, with its stop flags). */
static int record(const char *job_id, int progress, const char *message, bool begin,
                  bool interruptible, bool stop)
{
    struct running *r;

    if (strlen(job_id) >= sizeof(r->job_id))
        return -1;
    pthread_mutex_lock(&lock);
    r = find_locked(job_id, true);
    if (r != NULL) {
        if (begin || strcmp(r->job_id, job_id) != 0) {
            r->interruptible = interruptible;
            r->stop = stop;
        }
        snprintf(r->job_id, sizeof(r->job_id), "%s", job_id);
        r->ended = false;
        r->progress = progress;
        snprintf(r->message, sizeof(r->message), "%s", message ? message : "");
        clock_now_iso(r->when, sizeof(r->when));
    }
    pthread_mutex_unlock(&lock);
    return r != NULL ? 0 : -1;
}

int job_progress(struct store *st, const char *job_id, int progress, const char *message)
{
    (void)st;
    return record(job_id, progress, message, false, false, false);
}

int job_running_begin(const char *job_id, bool interruptible, bool stopping)
{
    return record(job_id, 10, NULL, true, interruptible, stopping);
}

/* The running (not ended) record of job_id, or NULL. Locked. */
static struct running *running_locked(const char *job_id)
{
    struct running *r = find_locked(job_id, false);

    return r != NULL && !r->ended ? r : NULL;
}

bool job_stop_request(const char *job_id)
{
    struct running *r;
    bool asked = false;

    pthread_mutex_lock(&lock);
    r = running_locked(job_id);
    if (r != NULL && r->interruptible && !r->stop) {
        r->stop = true;
        clock_now_iso(r->when, sizeof(r->when));
        asked = true;
    }
    pthread_mutex_unlock(&lock);
    return asked;
}

bool job_stop_requested(const char *job_id)
{
    struct running *r;
    bool stop;

    pthread_mutex_lock(&lock);
    r = running_locked(job_id);
    stop = r != NULL && r->stop;
    pthread_mutex_unlock(&lock);
    return stop;
}

bool job_running_close_stop(const char *job_id)
{
    struct running *r;
    bool stop;

    pthread_mutex_lock(&lock);
    r = running_locked(job_id);
    stop = r != NULL && r->stop;
    if (r != NULL)
        r->interruptible = false;
    pthread_mutex_unlock(&lock);
    return stop;
}

bool job_running_stoppable(const char *job_id)
{
    struct running *r;
    bool stoppable;

    pthread_mutex_lock(&lock);
    r = running_locked(job_id);
    stoppable = r != NULL && r->interruptible && !r->stop;
    pthread_mutex_unlock(&lock);
    return stoppable;
}

bool job_running(const char *job_id)
{
    struct running *r;
    bool found;

    pthread_mutex_lock(&lock);
    r = find_locked(job_id, false);
    found = r != NULL && !r->ended;
    pthread_mutex_unlock(&lock);
    return found;
}

void job_progress_show(const char *job_id, json_t *doc)
{
    struct running *r;

    pthread_mutex_lock(&lock);
    r = find_locked(job_id, false);
    if (r != NULL) {
        json_object_set_new(doc, "state", json_string(r->stop ? "STOPPING" : "RUNNING"));
        json_object_set_new(doc, "progress", json_integer(r->progress));
        if (r->message[0])
            json_object_set_new(doc, "statusMessage", json_string(r->message));
        json_object_set_new(doc, "timeOfStatusChange", json_string(r->when));
        json_object_set_new(doc, "updated", json_string(r->when));
    }
    pthread_mutex_unlock(&lock);
}

void job_progress_end(const char *job_id, bool outcome_committed)
{
    struct running *r;

    pthread_mutex_lock(&lock);
    r = find_locked(job_id, false);
    if (r != NULL && outcome_committed) {
        r->ended = true;
        r->ended_order = ++ends;
    } else if (r != NULL) {
        r->job_id[0] = '\0';   /* the store still says QUEUED, and rightly */
    }
    pthread_mutex_unlock(&lock);
}
