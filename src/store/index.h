/*
 * index.h - an in-memory index of the stored rows, for backends to keep.
 *
 * Per row the light columns of struct store_entry (store.h): enough to
 * filter, order and page a collection without reading its documents.  A
 * backend records the changes of a write transaction (index_changes_*) and
 * publishes them when it commits, under its writer lock, so that the index
 * is never older than the last commit a client was told about; a rollback
 * drops them.  When a change cannot be recorded (out of memory) the index
 * is dropped and rebuilt from the store at the next read (index_load).
 */
#ifndef CIMID_STORE_INDEX_H
#define CIMID_STORE_INDEX_H

#include "store/store.h"

/* The changes of one connection's open transaction. */
struct index_change {
    struct store_entry *entry;   /* put; NULL = remove */
    char type[64];               /* remove: the row's type */
    long long seq;               /* remove: the row's seq */
};

struct index_changes {
    struct index_change *v;
    size_t n, cap;
    bool failed;                 /* a change could not be recorded */
};

/* A new entry (one reference) from strings (NULL = absent) or documents. */
struct store_entry *index_entry_new(long long seq, long long version, const char *id,
                                    const char *type, const char *tenant, const char *parent,
                                    const char *name, const char *created, const char *updated,
                                    const char *state, const char *host);
struct store_entry *index_entry_of_row(long long seq, const struct store_row *row);

/* Record a put (takes entry, which may be NULL after a failed allocation)
 * or a removal. */
void index_changes_put(struct index_changes *c, struct store_entry *entry);
void index_changes_remove(struct index_changes *c, const char *type, long long seq);
/* Forget the recorded changes (rollback). */
void index_changes_drop(struct index_changes *c);
/* Apply the recorded changes to the index and forget them (commit); call
 * with the backend's writer lock held, so changes apply in commit order. */
void index_publish(struct index_changes *c);

/* Is the index built (else the backend calls index_load)? */
bool index_ready(void);
/* Replace the index by the entries of changes (a full load of the store,
 * done under the writer lock) and mark it built. */
void index_load(struct index_changes *c);
/* Drop the index (another database is configured). */
void index_reset(void);

/* The entries of type, to be filtered by parent and tenant (as
 * store_ops.list) with store_snapshot_lists. */
int index_snapshot(const char *type, const char *parent, const char *tenant,
                   struct store_snapshot *out, struct cimi_error *err);

#endif
