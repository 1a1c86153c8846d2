/*
 * store.h - the persistence interface.
 *
 * Every resource is a row: its id (the URL path below the base URI, e.g.
 * "machines/0b7c..."), type name, tenant, parent id, a version counter (the
 * ETag), the public document (the CIMI JSON shape with relative hrefs) and a
 * private document (cimid's own bookkeeping, never shown to clients: the
 * work a Job still has to do, the state a Machine should be in).
 *
 * A backend is a table of function pointers (struct store_ops); today there is
 * one, SQLite (sqlite.c).  Each thread uses its own connection, obtained with
 * store_for_thread().  Every request runs inside begin/commit, so its
 * changes land atomically or not at all.
 */
#ifndef CIMID_STORE_H
#define CIMID_STORE_H

#include <jansson.h>
#include <stdbool.h>

#include "util/error.h"

struct store_row {
    char id[256];
    char type[64];
    char tenant[64];     /* "" = shared by every tenant (shipped configurations, images) */
    char parent[256];    /* "" or the id of the owning resource (composition) */
    long long version;   /* incremented by every update */
    json_t *doc;         /* public document (owned by the row) */
    json_t *priv;        /* private document (owned by the row), never NULL after get */
};

/*
 * The light columns of a row, for backends that keep an index of their rows
 * in memory (store_ops.snapshot): enough to filter, order and page a
 * collection without reading its documents.  The strings are the document's
 * string attributes of these names (NULL when it has none, or not a string)
 * and the private document's "host" (where a Machine runs).  An entry never
 * changes once published (a change of the row publishes a new one), and
 * stays readable until the snapshot holding it is freed.
 */
struct store_entry {
    long long seq;       /* creation order */
    long long version;
    const char *tenant, *parent, *type, *name, *state;
    const char *created, *updated, *host, *id;
    struct store_entry *retired_next;   /* the index's own (freed when no snapshot has it) */
    char text[];         /* the strings above */
};

/* The entries of one type in creation order, readable until
 * store_snapshot_free.  Not all are listed: entries[i] is a row list would
 * give only when store_snapshot_lists(s, i) (so that a reader looks at each
 * entry once). */
struct store_snapshot {
    struct store_entry **entries;   /* NULL where a row was removed */
    size_t count;
    const char *parent, *tenant;    /* as given to snapshot (borrowed) */
    int generation;                 /* the backend's own */
};

struct store_user {
    char name[64];
    char tenant[64];
    bool admin;
    char hash[256];      /* crypt(3) string, e.g. "$y$j9T$..." */
    long long version;   /* identity: a new random value on every add and change */
};

struct store;

/* Called for each row of a listing; return non-zero to stop. The callback
 * may steal row->doc / row->priv by setting them to NULL. */
typedef int (*store_row_cb)(void *ctx, struct store_row *row);
typedef int (*store_user_cb)(void *ctx, const struct store_user *user);

struct store_ops {
    const char *name;
    struct store *(*open)(const char *path, struct cimi_error *err);
    void (*close)(struct store *st);

    int (*begin)(struct store *st, struct cimi_error *err);  /* write transaction */
    int (*commit)(struct store *st, struct cimi_error *err);
    void (*rollback)(struct store *st);
    /* A read transaction: the reads until read_end see one snapshot and take
     * their locks once (a GET's user row and resource).  A write (begin or an
     * autocommit write) ends it first.  read_begin inside a write
     * transaction does nothing; read_end without one does nothing. */
    int (*read_begin)(struct store *st, struct cimi_error *err);
    void (*read_end)(struct store *st);

    /* 0 = found, -1 with err 404 when absent. */
    int (*get)(struct store *st, const char *id, struct store_row *row, struct cimi_error *err);
    /* The row's version alone (no documents read); -1 with err 404 when absent. */
    int (*version)(struct store *st, const char *id, long long *version,
                   struct cimi_error *err);
    /* get for a read that looks at one member of the private document at
     * most: row->priv holds only priv_member (NULL: nothing); the rest is
     * not parsed (a polled Job needs none of it, a Machine its host). */
    int (*get_public)(struct store *st, const char *id, const char *priv_member,
                      struct store_row *row, struct cimi_error *err);
    /* Insert a new row (version 1); 409 if the id exists. */
    int (*insert)(struct store *st, struct store_row *row, struct cimi_error *err);
    /* Replace doc and priv of an existing row and bump its version (row->version
     * is updated). 404 if absent. */
    int (*update)(struct store *st, struct store_row *row, struct cimi_error *err);
    /* Delete a row and, recursively, the rows whose parent it is. */
    int (*remove)(struct store *st, const char *id, struct cimi_error *err);
    /* Rows of a type (NULL = any) under a parent (NULL = any, "" = top level),
     * visible to tenant (NULL = all tenants; otherwise that tenant's rows and
     * shared ones), in creation order. */
    int (*list)(struct store *st, const char *type, const char *parent, const char *tenant,
                store_row_cb cb, void *ctx, struct cimi_error *err);

    /* The index entries of the rows list would give, as of the last commit
     * (what list would read now), without reading the documents; free with
     * store_snapshot_free (nothing to free after a failure).  NULL when the
     * backend keeps no index. */
    int (*snapshot)(struct store *st, const char *type, const char *parent, const char *tenant,
                    struct store_snapshot *out, struct cimi_error *err);
    /* Build the index now (at start-up), so that the first snapshot does
     * not wait for it; until it is built, snapshot builds it itself.  NULL
     * when the backend keeps no index. */
    int (*build_index)(struct store *st, struct cimi_error *err);

    int (*user_get)(struct store *st, const char *name, struct store_user *user,
                    struct cimi_error *err);
    int (*user_put)(struct store *st, const struct store_user *user, struct cimi_error *err);
    int (*user_remove)(struct store *st, const char *name, struct cimi_error *err);
    int (*user_list)(struct store *st, store_user_cb cb, void *ctx, struct cimi_error *err);

    /* Database integrity check; 0 when clean. */
    int (*check)(struct store *st, struct cimi_error *err);
};

struct store {
    const struct store_ops *ops;
};

extern const struct store_ops store_sqlite;

/* Choose the backend and database for the whole process (once, at start-up). */
void store_configure(const struct store_ops *ops, const char *path);
/* This thread's connection (opened on first use); NULL with err on failure. */
struct store *store_for_thread(struct cimi_error *err);
/* Close this thread's connection (call before a worker thread exits). */
void store_release_thread(void);

/* Is s->entries[i] a row of s's parent visible to s's tenant? */
bool store_snapshot_lists(const struct store_snapshot *s, size_t i);
/* Free a snapshot (its entries may go) and clear it. */
void store_snapshot_free(struct store_snapshot *s);

/* Free the documents a row owns and clear them. */
void store_row_clear(struct store_row *row);

#endif
