/*
 * startup.c - the start-up gate (see startup.h): a flag, a mutex and a
 * condition variable.
 */
#include "util/startup.h"

#include <pthread.h>
#include <stdatomic.h>

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t opened = PTHREAD_COND_INITIALIZER;
static atomic_bool pending;   /* read without the lock by startup_pending */
static atomic_bool aborted;

void startup_begin(void)
{
    pthread_mutex_lock(&lock);
    atomic_store(&pending, true);
    aborted = false;
    pthread_mutex_unlock(&lock);
}

void startup_done(void)
{
    pthread_mutex_lock(&lock);
    atomic_store(&pending, false);
    pthread_cond_broadcast(&opened);
    pthread_mutex_unlock(&lock);
}

void startup_abort(void)
{
    pthread_mutex_lock(&lock);
    aborted = true;
    pthread_cond_broadcast(&opened);
    pthread_mutex_unlock(&lock);
}

bool startup_pending(void)
{
    return atomic_load(&pending);
}

bool startup_aborted(void)
{
    return atomic_load(&aborted);
}

bool startup_wait(void)
{
    bool ok;

    if (!atomic_load(&pending))
        return true;
    pthread_mutex_lock(&lock);
    while (atomic_load(&pending) && !aborted)
        pthread_cond_wait(&opened, &lock);
    ok = !atomic_load(&pending);
    pthread_mutex_unlock(&lock);
    return ok;
}
