/*
 * index.c - the in-memory index of the stored rows (see index.h).
 *
 * One sorted array per type: the rows' seq (creation order) and their
 * entries, a removed row leaving a hole (NULL) until holes are many enough
 * to close.  Readers take the lock shared only to copy the type's array of
 * pointers (one memcpy); writers take it exclusively to apply a committed
 * transaction.  Entries are immutable; one that a change replaces or
 * removes is retired, and freed only when no snapshot can hold it: readers
 * count themselves in one of two generations; retired entries wait until
 * every reader of the generation they were retired in is gone (the
 * two-counter scheme of read-copy-update).  So a snapshot costs no write to
 * the entries, and a reader never waits for a writer's memory.
 */
#include "store/index.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define COMPACT_MIN_HOLES 1024

struct type_index {
    char type[64];
    long long *seqs;               /* ascending */
    struct store_entry **entries;  /* NULL = removed (a hole) */
    size_t count, cap, holes;
};

static pthread_rwlock_t index_lock = PTHREAD_RWLOCK_INITIALIZER;
static bool built;
static struct type_index *types;
static size_t ntypes, types_cap;

/* ---- entries ---- */

static size_t text_size(const char *s)
{
    return s ? strlen(s) + 1 : 0;
}

/* Copy s into the entry's text at *pos; NULL stays NULL. */
static const char *put_text(struct store_entry *e, size_t *pos, const char *s)
{
    char *dst;

    if (s == NULL)
        return NULL;
    dst = e->text + *pos;
    memcpy(dst, s, strlen(s) + 1);
    *pos += strlen(s) + 1;
    return dst;
}

struct store_entry *index_entry_new(long long seq, long long version, const char *id,
                                    const char *type, const char *tenant, const char *parent,
                                    const char *name, const char *created, const char *updated,
                                    const char *state, const char *host)
{
    size_t size = text_size(id) + text_size(type) + text_size(tenant) + text_size(parent) +
                  text_size(name) + text_size(created) + text_size(updated) + text_size(state) +
                  text_size(host);
    struct store_entry *e;
    size_t pos = 0;

    if (id == NULL || type == NULL || tenant == NULL || parent == NULL)
        return NULL;
    e = malloc(sizeof(*e) + size);
    if (e == NULL)
        return NULL;
    e->seq = seq;
    e->version = version;
    e->retired_next = NULL;
    /* What a listing looks at first, together (the fewest cache lines). */
    e->tenant = put_text(e, &pos, tenant);
    e->parent = put_text(e, &pos, parent);
    e->type = put_text(e, &pos, type);
    e->state = put_text(e, &pos, state);
    e->host = put_text(e, &pos, host);   /* a Machine's state needs its host and id */
    e->id = put_text(e, &pos, id);
    e->name = put_text(e, &pos, name);
    e->created = put_text(e, &pos, created);
    e->updated = put_text(e, &pos, updated);
    return e;
}

/* ---- readers and retired entries ---- */

static pthread_mutex_t readers_lock = PTHREAD_MUTEX_INITIALIZER;
static int generation;                   /* where new readers count themselves */
static long readers[2];                  /* readers in each generation */
static struct store_entry *retired_now;  /* retired in the current generation */
static struct store_entry *retired_old;  /* retired before it: wait for the other one */

static void free_list(struct store_entry *e)
{
    while (e != NULL) {
        struct store_entry *next = e->retired_next;
        free(e);
        e = next;
    }
}

/* With readers_lock held: when the other generation has no reader left,
 * what was retired before the current one began can go, and a new
 * generation begins. */
static void reclaim_locked(void)
{
    if (readers[1 - generation] != 0)
        return;
    free_list(retired_old);
    retired_old = retired_now;
    retired_now = NULL;
    generation = 1 - generation;
}

static void retire(struct store_entry *e)
{
    if (e == NULL)
        return;
    pthread_mutex_lock(&readers_lock);
    e->retired_next = retired_now;
    retired_now = e;
    pthread_mutex_unlock(&readers_lock);
}

static void reclaim(void)
{
    pthread_mutex_lock(&readers_lock);
    reclaim_locked();
    pthread_mutex_unlock(&readers_lock);
}

static int reader_enter(void)
{
    int g;

    pthread_mutex_lock(&readers_lock);
    g = generation;
    readers[g]++;
    pthread_mutex_unlock(&readers_lock);
    return g;
}

static void reader_leave(int g)
{
    pthread_mutex_lock(&readers_lock);
    readers[g]--;
    reclaim_locked();
    pthread_mutex_unlock(&readers_lock);
}

static const char *doc_string(const json_t *doc, const char *name)
{
    return json_string_value(json_object_get(doc, name));
}

struct store_entry *index_entry_of_row(long long seq, const struct store_row *row)
{
    return index_entry_new(seq, row->version, row->id, row->type, row->tenant, row->parent,
                           doc_string(row->doc, "name"), doc_string(row->doc, "created"),
                           doc_string(row->doc, "updated"), doc_string(row->doc, "state"),
                           doc_string(row->priv, "host"));
}

/* ---- recorded changes ---- */

static void record(struct index_changes *c, const struct index_change *change)
{
    if (c->n == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 16;
        struct index_change *v = realloc(c->v, cap * sizeof(*v));
        if (v == NULL) {
            free(change->entry);   /* never published */
            c->failed = true;
            return;
        }
        c->v = v;
        c->cap = cap;
    }
    c->v[c->n++] = *change;
}

void index_changes_put(struct index_changes *c, struct store_entry *entry)
{
    struct index_change change = {entry, "", 0};

    if (entry == NULL) {
        c->failed = true;
        return;
    }
    record(c, &change);
}

void index_changes_remove(struct index_changes *c, const char *type, long long seq)
{
    struct index_change change = {NULL, "", seq};

    if (strlen(type) >= sizeof(change.type)) {
        c->failed = true;
        return;
    }
    strcpy(change.type, type);
    record(c, &change);
}

void index_changes_drop(struct index_changes *c)
{
    for (size_t i = 0; i < c->n; i++)
        free(c->v[i].entry);   /* never published (published ones were taken) */
    c->n = 0;
    c->failed = false;
    if (c->cap > 1024) {   /* a large load: give the memory back */
        free(c->v);
        c->v = NULL;
        c->cap = 0;
    }
}

/* ---- the index (callers hold index_lock exclusively) ---- */

static void clear_all(void)
{
    for (size_t i = 0; i < ntypes; i++) {
        for (size_t j = 0; j < types[i].count; j++)
            retire(types[i].entries[j]);
        free(types[i].seqs);
        free(types[i].entries);
    }
    free(types);
    types = NULL;
    ntypes = types_cap = 0;
    built = false;
}

static struct type_index *find_type(const char *type)
{
    for (size_t i = 0; i < ntypes; i++)
        if (strcmp(types[i].type, type) == 0)
            return &types[i];
    return NULL;
}

static struct type_index *add_type(const char *type)
{
    struct type_index *ti;

    if (strlen(type) >= sizeof(ti->type))
        return NULL;
    if (ntypes == types_cap) {
        size_t cap = types_cap ? types_cap * 2 : 16;
        struct type_index *v = realloc(types, cap * sizeof(*v));
        if (v == NULL)
            return NULL;
        types = v;
        types_cap = cap;
    }
    ti = &types[ntypes++];
    memset(ti, 0, sizeof(*ti));
    strcpy(ti->type, type);
    return ti;
}

/* Position of seq in ti (or where it would go). */
static size_t position_of(const struct type_index *ti, long long seq)
{
    size_t lo = 0, hi = ti->count;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (ti->seqs[mid] < seq)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static void close_holes(struct type_index *ti)
{
    size_t j = 0;

    for (size_t i = 0; i < ti->count; i++) {
        if (ti->entries[i] == NULL)
            continue;
        ti->seqs[j] = ti->seqs[i];
        ti->entries[j++] = ti->entries[i];
    }
    ti->count = j;
    ti->holes = 0;
}

/* Apply one change; false when out of memory. */
static bool apply_put(struct store_entry *e)
{
    struct type_index *ti = find_type(e->type);
    size_t pos;

    if (ti == NULL && (ti = add_type(e->type)) == NULL)
        return false;
    pos = position_of(ti, e->seq);
    if (pos < ti->count && ti->seqs[pos] == e->seq) {
        if (ti->entries[pos] == NULL)
            ti->holes--;
        retire(ti->entries[pos]);
        ti->entries[pos] = e;
        return true;
    }
    if (ti->count == ti->cap) {
        size_t cap = ti->cap ? ti->cap * 2 : 64;
        long long *seqs = realloc(ti->seqs, cap * sizeof(*seqs));
        struct store_entry **entries;
        if (seqs == NULL)
            return false;
        ti->seqs = seqs;
        entries = realloc(ti->entries, cap * sizeof(*entries));
        if (entries == NULL)
            return false;
        ti->entries = entries;
        ti->cap = cap;
    }
    memmove(&ti->seqs[pos + 1], &ti->seqs[pos], (ti->count - pos) * sizeof(*ti->seqs));
    memmove(&ti->entries[pos + 1], &ti->entries[pos], (ti->count - pos) * sizeof(*ti->entries));
    ti->seqs[pos] = e->seq;
    ti->entries[pos] = e;
    ti->count++;
    return true;
}

static void apply_remove(const char *type, long long seq)
{
    struct type_index *ti = find_type(type);
    size_t pos;

    if (ti == NULL)
        return;
    pos = position_of(ti, seq);
    if (pos == ti->count || ti->seqs[pos] != seq || ti->entries[pos] == NULL)
        return;
    retire(ti->entries[pos]);
    ti->entries[pos] = NULL;
    ti->holes++;
    if (ti->holes >= COMPACT_MIN_HOLES && ti->holes > ti->count / 2)
        close_holes(ti);
}

/* Apply c to the index; false when a change could not be applied. */
static bool apply_all(struct index_changes *c)
{
    if (c->failed)
        return false;
    for (size_t i = 0; i < c->n; i++) {
        struct store_entry *e = c->v[i].entry;
        if (e == NULL) {
            apply_remove(c->v[i].type, c->v[i].seq);
            continue;
        }
        if (!apply_put(e))
            return false;
        c->v[i].entry = NULL;  /* the index owns it now */
    }
    return true;
}

void index_publish(struct index_changes *c)
{
    if (c->n > 0 || c->failed) {
        pthread_rwlock_wrlock(&index_lock);
        if (built && !apply_all(c))
            clear_all();   /* rebuilt from the store at the next read */
        pthread_rwlock_unlock(&index_lock);
        reclaim();
    }
    index_changes_drop(c);
}

bool index_ready(void)
{
    bool ready;

    pthread_rwlock_rdlock(&index_lock);
    ready = built;
    pthread_rwlock_unlock(&index_lock);
    return ready;
}

void index_load(struct index_changes *c)
{
    pthread_rwlock_wrlock(&index_lock);
    clear_all();
    if (apply_all(c))
        built = true;
    else
        clear_all();
    pthread_rwlock_unlock(&index_lock);
    index_changes_drop(c);
}

void index_reset(void)
{
    pthread_rwlock_wrlock(&index_lock);
    clear_all();
    pthread_rwlock_unlock(&index_lock);
}

/* ---- snapshots ---- */

bool store_snapshot_lists(const struct store_snapshot *s, size_t i)
{
    const struct store_entry *e = s->entries[i];

    if (e == NULL)
        return false;
    if (s->parent != NULL && strcmp(e->parent, s->parent) != 0)
        return false;
    return s->tenant == NULL || e->tenant[0] == '\0' || strcmp(e->tenant, s->tenant) == 0;
}

int index_snapshot(const char *type, const char *parent, const char *tenant,
                   struct store_snapshot *out, struct cimi_error *err)
{
    const struct type_index *ti;
    bool no_memory = false;

    memset(out, 0, sizeof(*out));
    out->parent = parent;
    out->tenant = tenant;
    out->generation = reader_enter();
    pthread_rwlock_rdlock(&index_lock);
    if (!built) {
        pthread_rwlock_unlock(&index_lock);
        store_snapshot_free(out);
        return err_set(err, 503, NULL, "store: the index is not built");
    }
    ti = find_type(type);
    if (ti != NULL && ti->count > ti->holes) {
        out->entries = malloc(ti->count * sizeof(*out->entries));
        if (out->entries != NULL) {
            out->count = ti->count;
            memcpy(out->entries, ti->entries, ti->count * sizeof(*out->entries));
        }
        no_memory = out->entries == NULL;
    }
    pthread_rwlock_unlock(&index_lock);
    if (no_memory) {
        store_snapshot_free(out);
        return err_set(err, 500, NULL, "store: out of memory");
    }
    return 0;
}

void store_snapshot_free(struct store_snapshot *s)
{
    free(s->entries);
    s->entries = NULL;
    s->count = 0;
    reader_leave(s->generation);
}
