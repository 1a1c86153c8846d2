/*
 * store.c - backend selection and the per-thread connection.
 *
 * SQLite connections must not be shared between threads that run
 * transactions concurrently, so each thread (HTTP worker, job worker) lazily
 * opens its own and keeps it for its lifetime.
 */
#include "store/store.h"

#include "store/index.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

static const struct store_ops *backend;
static char *database_path;
static pthread_key_t thread_key;
static pthread_once_t key_once = PTHREAD_ONCE_INIT;

static void close_thread_store(void *p)
{
    struct store *st = p;

    if (st != NULL)
        st->ops->close(st);
}

static void make_key(void)
{
    pthread_key_create(&thread_key, close_thread_store);
}

void store_configure(const struct store_ops *ops, const char *path)
{
    backend = ops;
    index_reset();   /* the index, if any, was of the database before */
    free(database_path);
    database_path = strdup(path);
    pthread_once(&key_once, make_key);
}

struct store *store_for_thread(struct cimi_error *err)
{
    struct store *st;

    pthread_once(&key_once, make_key);
    st = pthread_getspecific(thread_key);
    if (st != NULL)
        return st;
    if (backend == NULL) {
        err_set(err, 500, NULL, "store not configured");
        return NULL;
    }
    st = backend->open(database_path, err);
    if (st != NULL)
        pthread_setspecific(thread_key, st);
    return st;
}

void store_release_thread(void)
{
    struct store *st;

    pthread_once(&key_once, make_key);
    st = pthread_getspecific(thread_key);
    if (st != NULL) {
        pthread_setspecific(thread_key, NULL);
        st->ops->close(st);
    }
}

void store_row_clear(struct store_row *row)
{
    json_decref(row->doc);
    json_decref(row->priv);
    row->doc = NULL;
    row->priv = NULL;
}
