/*
 * deadline.c - the per-connection request deadline and its watcher thread
 * (see deadline.h).
 */
#include "http/deadline.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>

#include "util/clock.h"
#include "util/log.h"

#define WATCH_INTERVAL_MS 250

struct deadline {
    int fd;
    char address[64];
    bool running;          /* the clock runs (false while cimid works) */
    bool expired;          /* shut down already */
    double due_ms;
    double paused_ms;      /* when the clock stopped */
    struct deadline *prev, *next;
};

static double limit_ms;
static struct deadline *open_connections;
static bool stopping;
static bool watcher_running;
static pthread_t watcher;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

struct deadline *deadline_open(int fd, const char *address)
{
    struct deadline *d = calloc(1, sizeof(*d));

    if (d == NULL)
        return NULL;
    d->fd = fd;
    snprintf(d->address, sizeof(d->address), "%s", address);
    d->running = true;
    d->due_ms = clock_mono_ms() + limit_ms;
    pthread_mutex_lock(&lock);
    d->next = open_connections;
    if (open_connections != NULL)
        open_connections->prev = d;
    open_connections = d;
    pthread_mutex_unlock(&lock);
    return d;
}

/* libmicrohttpd calls this before it closes the socket, so the watcher
 * never shuts down a descriptor that was closed (and reused). */
void deadline_close(struct deadline *d)
{
    if (d == NULL)
        return;
    pthread_mutex_lock(&lock);
    if (d->prev != NULL)
        d->prev->next = d->next;
    else
        open_connections = d->next;
    if (d->next != NULL)
        d->next->prev = d->prev;
    pthread_mutex_unlock(&lock);
    free(d);
}

void deadline_pause(struct deadline *d)
{
    if (d == NULL)
        return;
    pthread_mutex_lock(&lock);
    d->running = false;
    d->paused_ms = clock_mono_ms();
    pthread_mutex_unlock(&lock);
}

void deadline_resume(struct deadline *d)
{
    if (d == NULL)
        return;
    pthread_mutex_lock(&lock);
    if (!d->running)
        d->due_ms += clock_mono_ms() - d->paused_ms;
    d->running = true;
    pthread_mutex_unlock(&lock);
}

void deadline_restart(struct deadline *d)
{
    if (d == NULL)
        return;
    pthread_mutex_lock(&lock);
    d->running = true;
    d->due_ms = clock_mono_ms() + limit_ms;
    pthread_mutex_unlock(&lock);
}

static void expire_overdue(void)
{
    double now = clock_mono_ms();

    pthread_mutex_lock(&lock);
    for (struct deadline *d = open_connections; d != NULL; d = d->next) {
        if (!d->running || d->expired || d->due_ms > now)
            continue;
        d->expired = true;
        shutdown(d->fd, SHUT_RDWR);
        log_warn("http: closed the connection from %s: no complete request or answer within "
                 "%.0f s", d->address, limit_ms / 1000.0);
    }
    pthread_mutex_unlock(&lock);
}

static void *watcher_main(void *arg)
{
    struct timespec interval = {0, WATCH_INTERVAL_MS * 1000000L};
    bool stop = false;

    (void)arg;
    while (!stop) {
        nanosleep(&interval, NULL);
        expire_overdue();
        pthread_mutex_lock(&lock);
        stop = stopping;
        pthread_mutex_unlock(&lock);
    }
    return NULL;
}

int deadline_start(int seconds)
{
    limit_ms = (double)seconds * 1000.0;
    stopping = false;
    if (pthread_create(&watcher, NULL, watcher_main, NULL) != 0) {
        log_error("http: cannot start the connection deadline watcher");
        return -1;
    }
    watcher_running = true;
    return 0;
}

void deadline_stop(void)
{
    if (!watcher_running)
        return;
    pthread_mutex_lock(&lock);
    stopping = true;
    pthread_mutex_unlock(&lock);
    pthread_join(watcher, NULL);
    watcher_running = false;
}
