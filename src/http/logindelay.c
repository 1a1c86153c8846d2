/*
 * logindelay.c - counting failed logins and holding their answers (see
 * logindelay.h).
 */
#include "http/logindelay.h"

#include <pthread.h>
#include <stdio.h>
#include <time.h>

#include "util/clock.h"
#include "util/log.h"
#include "util/slots.h"

#define FAILURE_CAPACITY 4096

struct failures {
    struct slot slot;
    long count;
    double last_ms;
};

static long delay_base_ms;
static long delay_max_ms;
static struct slot_table counts;
static pthread_mutex_t counts_lock = PTHREAD_MUTEX_INITIALIZER;

/* The waiting connections, sorted by resume time, and the timer thread. */
static struct login_hold *waiting;
static bool stopping;
static bool timer_running;
static pthread_t timer;
static pthread_mutex_t waiting_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t waiting_changed;

/* ------------------------------------------------------------ counting */

/* Count one failure for key; returns the count. */
static long count_failure(const char *key, double now)
{
    bool created;
    struct failures *f = slot_get(&counts, key, now, &created);

    if (now - f->last_ms > LOGIN_FORGET_SECONDS * 1000.0)
        f->count = 0;
    f->count++;
    f->last_ms = now;
    return f->count;
}

static void forget(const char *key, double now)
{
    struct failures *f = slot_find(&counts, key, now);

    if (f != NULL)
        f->count = 0;
}

long login_delay_failed(const char *user, const char *address)
{
    char key[SLOT_KEY_MAX];
    double now = clock_mono_ms();
    long n, by_address, delay;

    if (delay_base_ms <= 0)
        return 0;
    pthread_mutex_lock(&counts_lock);
    snprintf(key, sizeof(key), "user:%s", user);
    n = count_failure(key, now);
    snprintf(key, sizeof(key), "addr:%s", address);
    by_address = count_failure(key, now);
    pthread_mutex_unlock(&counts_lock);
    if (by_address > n)
        n = by_address;
    delay = delay_base_ms;
    while (--n > 0 && delay < delay_max_ms)
        delay *= 2;
    return delay < delay_max_ms ? delay : delay_max_ms;
}

void login_delay_succeeded(const char *user, const char *address)
{
    char key[SLOT_KEY_MAX];
    double now = clock_mono_ms();

    if (delay_base_ms <= 0)
        return;
    pthread_mutex_lock(&counts_lock);
    snprintf(key, sizeof(key), "user:%s", user);
    forget(key, now);
    snprintf(key, sizeof(key), "addr:%s", address);
    forget(key, now);
    pthread_mutex_unlock(&counts_lock);
}

/* ------------------------------------------------------------ holding */

bool login_delay_hold(struct login_hold *h, struct MHD_Connection *conn, long ms)
{
    struct login_hold **at;

    pthread_mutex_lock(&waiting_lock);
    if (stopping || !timer_running) {
        pthread_mutex_unlock(&waiting_lock);
        return false;
    }
    /* Suspend before the timer can see it: it is never resumed first. */
    MHD_suspend_connection(conn);
    h->conn = conn;
    h->resume_ms = clock_mono_ms() + (double)ms;
    for (at = &waiting; *at != NULL && (*at)->resume_ms <= h->resume_ms; at = &(*at)->next)
        ;
    h->next = *at;
    *at = h;
    pthread_cond_signal(&waiting_changed);
    pthread_mutex_unlock(&waiting_lock);
    return true;
}

/* Absolute CLOCK_MONOTONIC time ms milliseconds from now. */
static struct timespec monotonic_in(double ms)
{
    struct timespec ts;
    long long ns;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    ns = (long long)ts.tv_nsec + (long long)(ms * 1e6);
    ts.tv_sec += (time_t)(ns / 1000000000LL);
    ts.tv_nsec = (long)(ns % 1000000000LL);
    return ts;
}

/* Resume the connections whose time is up; after MHD_resume_connection a
 * hold belongs to libmicrohttpd again and is not touched any more. */
static void *timer_main(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&waiting_lock);
    while (!stopping) {
        double now = clock_mono_ms();
        if (waiting == NULL) {
            pthread_cond_wait(&waiting_changed, &waiting_lock);
        } else if (waiting->resume_ms <= now) {
            struct MHD_Connection *conn = waiting->conn;
            waiting = waiting->next;
            pthread_mutex_unlock(&waiting_lock);
            MHD_resume_connection(conn);
            pthread_mutex_lock(&waiting_lock);
        } else {
            struct timespec until = monotonic_in(waiting->resume_ms - now);
            pthread_cond_timedwait(&waiting_changed, &waiting_lock, &until);
        }
    }
    pthread_mutex_unlock(&waiting_lock);
    return NULL;
}

int login_delay_start(long base_ms, long max_ms)
{
    pthread_condattr_t attr;

    delay_base_ms = base_ms;
    delay_max_ms = max_ms > base_ms ? max_ms : base_ms;
    if (slot_table_init(&counts, FAILURE_CAPACITY, sizeof(struct failures)) != 0)
        return -1;
    if (pthread_condattr_init(&attr) != 0)
        return -1;
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&waiting_changed, &attr);
    pthread_condattr_destroy(&attr);
    stopping = false;
    waiting = NULL;
    if (pthread_create(&timer, NULL, timer_main, NULL) != 0) {
        log_error("http: cannot start the login delay timer");
        return -1;
    }
    timer_running = true;
    return 0;
}

void login_delay_stop(void)
{
    struct login_hold *h;

    pthread_mutex_lock(&waiting_lock);
    if (!timer_running) {
        pthread_mutex_unlock(&waiting_lock);
        return;
    }
    stopping = true;
    h = waiting;
    waiting = NULL;
    pthread_cond_signal(&waiting_changed);
    pthread_mutex_unlock(&waiting_lock);
    pthread_join(timer, NULL);
    while (h != NULL) {
        struct login_hold *next = h->next;
        MHD_resume_connection(h->conn);
        h = next;
    }
    pthread_mutex_lock(&waiting_lock);
    timer_running = false;
    pthread_mutex_unlock(&waiting_lock);
    pthread_cond_destroy(&waiting_changed);
}

void login_delay_free(void)
{
    slot_table_free(&counts);
}
