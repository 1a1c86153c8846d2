/*
 * sqlite.c - the SQLite store backend.
 *
 * One table of resources (id, type, tenant, parent, version, doc, priv) and
 * one of users.  WAL mode with synchronous=FULL: a committed request survives
 * a crash of cimid or of the machine.  Statements are prepared once per
 * connection.  Write transactions use BEGIN IMMEDIATE so that concurrent
 * writers queue on the busy timeout instead of failing mid-transaction.
 *
 * The store keeps an index of its rows in memory (index.c) for collection
 * reads that need no documents (snapshot): every insert, update and remove
 * records its change, published at COMMIT (dropped at ROLLBACK) while the
 * writer lock is held; it is built with one SELECT at start-up
 * (build_index, in the background) or by the first snapshot.  cimid
 * must be the only process writing the resources table while it runs (as
 * for its Jobs and host bookkeeping); `cimid user add|remove` may change
 * the users table beside it (one autocommit statement each, queued on the
 * busy timeout; users are read at every request, never indexed).
 */
#include "store/store.h"

#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/index.h"
#include "util/log.h"

enum stmt_id {
    S_BEGIN, S_COMMIT, S_ROLLBACK, S_BEGIN_READ,
    S_GET, S_GET_MEMBER, S_VERSION, S_INSERT, S_UPDATE, S_REMOVE, S_CHILDREN,
    S_LIST,
    S_USER_GET, S_USER_PUT, S_USER_REMOVE, S_USER_LIST,
    S_COUNT
};

static const char *const stmt_sql[S_COUNT] = {
    [S_BEGIN] = "BEGIN IMMEDIATE",
    [S_COMMIT] = "COMMIT",
    [S_ROLLBACK] = "ROLLBACK",
    [S_BEGIN_READ] = "BEGIN",
    [S_GET] = "SELECT id, type, tenant, parent, version, doc, priv FROM resources WHERE id = ?1",
    [S_VERSION] = "SELECT version FROM resources WHERE id = ?1",
    /* One member of the private document, as JSON text (NULL when absent). */
    [S_GET_MEMBER] = "SELECT id, type, tenant, parent, version, doc, priv -> ?2 FROM resources "
                     "WHERE id = ?1",
    [S_INSERT] = "INSERT INTO resources (id, type, tenant, parent, version, doc, priv) "
                 "VALUES (?1, ?2, ?3, ?4, 1, ?5, ?6)",
    [S_UPDATE] = "UPDATE resources SET version = version + 1, doc = ?2, priv = ?3 WHERE id = ?1 "
                 "RETURNING version, seq, type, tenant, parent",
    [S_REMOVE] = "DELETE FROM resources WHERE id = ?1 RETURNING seq, type",
    [S_CHILDREN] = "SELECT id FROM resources WHERE parent = ?1",
    [S_LIST] = "SELECT id, type, tenant, parent, version, doc, priv FROM resources "
               "WHERE (?1 IS NULL OR type = ?1) AND (?2 IS NULL OR parent = ?2) "
               "AND (?3 IS NULL OR tenant = ?3 OR tenant = '') ORDER BY seq",
    [S_USER_GET] = "SELECT name, tenant, admin, hash, version FROM users WHERE name = ?1",
    /* version is the row's identity: a new random value on every change, so
     * a user removed and added again never has the identity it had. */
    [S_USER_PUT] = "INSERT INTO users (name, tenant, admin, hash, version) "
                   "VALUES (?1, ?2, ?3, ?4, random()) "
                   "ON CONFLICT(name) DO UPDATE SET tenant = ?2, admin = ?3, hash = ?4, "
                   "version = random()",
    [S_USER_REMOVE] = "DELETE FROM users WHERE name = ?1",
    [S_USER_LIST] = "SELECT name, tenant, admin, hash, version FROM users ORDER BY name",
};

static const char schema_sql[] =
    "CREATE TABLE IF NOT EXISTS resources ("
    "  seq INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  id TEXT NOT NULL UNIQUE,"
    "  type TEXT NOT NULL,"
    "  tenant TEXT NOT NULL,"
    "  parent TEXT NOT NULL,"
    "  version INTEGER NOT NULL,"
    "  doc TEXT NOT NULL,"
    "  priv TEXT NOT NULL);"
    "CREATE INDEX IF NOT EXISTS resources_by_type ON resources (type, tenant);"
    "CREATE INDEX IF NOT EXISTS resources_by_parent ON resources (parent);"
    "CREATE TABLE IF NOT EXISTS users ("
    "  name TEXT PRIMARY KEY,"
    "  tenant TEXT NOT NULL,"
    "  admin INTEGER NOT NULL,"
    "  hash TEXT NOT NULL,"
    "  version INTEGER NOT NULL);";

/* One write transaction at a time in this process: threads queue
 * on a mutex instead of sleeping in SQLite's busy handler. */
static pthread_mutex_t write_lock = PTHREAD_MUTEX_INITIALIZER;

/* Listing statements, one per combination of conditions (type, parent,
 * tenant), prepared on first use and kept. */
#define LIST_SHAPES 8

struct sqlite_store {
    struct store base;
    bool in_tx;
    bool in_read;                  /* a read transaction is open (read_begin) */
    struct index_changes changes;  /* of the open transaction (or autocommit write) */
    sqlite3 *db;
    sqlite3_stmt *stmt[S_COUNT];
    sqlite3_stmt *list_stmt[LIST_SHAPES];
    bool list_busy[LIST_SHAPES];   /* a listing runs on it (its callback may list again) */
};

static int db_error(struct sqlite_store *s, struct cimi_error *err, const char *what)
{
    return err_set(err, 500, NULL, "store: %s: %s", what, sqlite3_errmsg(s->db));
}

static void sqlite_close(struct store *st)
{
    struct sqlite_store *s = (struct sqlite_store *)st;

    if (s == NULL)
        return;
    for (int i = 0; i < S_COUNT; i++)
        sqlite3_finalize(s->stmt[i]);
    for (int i = 0; i < LIST_SHAPES; i++)
        sqlite3_finalize(s->list_stmt[i]);
    sqlite3_close(s->db);
    index_changes_drop(&s->changes);
    free(s->changes.v);
    free(s);
}

static struct store *sqlite_open(const char *path, struct cimi_error *err)
{
    struct sqlite_store *s = calloc(1, sizeof(*s));

    if (s == NULL) {
        err_set(err, 500, NULL, "store: out of memory");
        return NULL;
    }
    s->base.ops = &store_sqlite;
    if (sqlite3_open_v2(path, &s->db,
                        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                        NULL) != SQLITE_OK) {
        err_set(err, 500, NULL, "store: cannot open %s: %s", path,
                s->db ? sqlite3_errmsg(s->db) : "out of memory");
        sqlite_close(&s->base);
        return NULL;
    }
    sqlite3_busy_timeout(s->db, 30000);
    if (sqlite3_exec(s->db,
                     "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;",
                     NULL, NULL, NULL) != SQLITE_OK ||
        sqlite3_exec(s->db, schema_sql, NULL, NULL, NULL) != SQLITE_OK) {
        db_error(s, err, "cannot initialise the database");
        sqlite_close(&s->base);
        return NULL;
    }
    for (int i = 0; i < S_COUNT; i++) {
        if (sqlite3_prepare_v3(s->db, stmt_sql[i], -1, SQLITE_PREPARE_PERSISTENT, &s->stmt[i],
                               NULL) != SQLITE_OK) {
            db_error(s, err, "cannot prepare a statement");
            sqlite_close(&s->base);
            return NULL;
        }
    }
    return &s->base;
}

/* Run a statement that returns no rows. */
static int exec_simple(struct sqlite_store *s, enum stmt_id id, struct cimi_error *err,
                       const char *what)
{
    sqlite3_stmt *stmt = s->stmt[id];
    int rc = sqlite3_step(stmt);

    sqlite3_reset(stmt);
    if (rc != SQLITE_DONE)
        return db_error(s, err, what);
    return 0;
}

/* A read transaction: the reads until read_end share one snapshot and one
 * set of locks.  Writes end it first (they would need a newer snapshot). */
static void read_leave(struct sqlite_store *s)
{
    if (s->in_read) {
        s->in_read = false;
        exec_simple(s, S_COMMIT, NULL, "end read");
    }
}

static int sqlite_read_begin(struct store *st, struct cimi_error *err)
{
    struct sqlite_store *s = (struct sqlite_store *)st;

    if (s->in_tx || s->in_read)
        return 0;
    if (exec_simple(s, S_BEGIN_READ, err, "begin read") != 0)
        return -1;
    s->in_read = true;
    return 0;
}

static void sqlite_read_end(struct store *st)
{
    read_leave((struct sqlite_store *)st);
}

static int sqlite_begin(struct store *st, struct cimi_error *err)
{
    struct sqlite_store *s = (struct sqlite_store *)st;

    read_leave(s);
    pthread_mutex_lock(&write_lock);
    index_changes_drop(&s->changes);
    if (exec_simple(s, S_BEGIN, err, "begin") != 0) {
        pthread_mutex_unlock(&write_lock);
        return -1;
    }
    s->in_tx = true;
    return 0;
}

static void tx_done(struct sqlite_store *s)
{
    if (s->in_tx) {
        s->in_tx = false;
        pthread_mutex_unlock(&write_lock);
    }
}

/* Autocommit writes take the lock for their own statement. */
static bool write_enter(struct sqlite_store *s)
{
    if (s->in_tx)
        return false;
    read_leave(s);
    pthread_mutex_lock(&write_lock);
    return true;
}

/* ... and publish its change to the index before letting go. */
static void write_leave(struct sqlite_store *s, bool locked)
{
    if (locked) {
        index_publish(&s->changes);
        pthread_mutex_unlock(&write_lock);
    }
}

static int sqlite_commit(struct store *st, struct cimi_error *err)
{
    struct sqlite_store *s = (struct sqlite_store *)st;

    if (exec_simple(s, S_COMMIT, err, "commit") != 0) {
        exec_simple(s, S_ROLLBACK, NULL, "rollback");
        index_changes_drop(&s->changes);
        tx_done(s);
        return -1;
    }
    index_publish(&s->changes);
    tx_done(s);
    return 0;
}

static void sqlite_rollback(struct store *st)
{
    struct sqlite_store *s = (struct sqlite_store *)st;

    if (!sqlite3_get_autocommit(s->db))
        exec_simple(s, S_ROLLBACK, NULL, "rollback");
    index_changes_drop(&s->changes);
    tx_done(s);
}

/* A text column into dst (len bytes), cut short when longer. */
static void copy_text(char *dst, size_t len, sqlite3_stmt *stmt, int col)
{
    const unsigned char *text = sqlite3_column_text(stmt, col);
    size_t n = text ? (size_t)sqlite3_column_bytes(stmt, col) : 0;

    if (len == 0)
        return;
    if (n > len - 1)
        n = len - 1;
    memcpy(dst, text ? (const char *)text : "", n);
    dst[n] = '\0';
}

static json_t *column_json(sqlite3_stmt *stmt, int col)
{
    const char *text = (const char *)sqlite3_column_text(stmt, col);
    json_t *value = text ? json_loads(text, 0, NULL) : NULL;

    return value ? value : json_object();
}

static void read_row(sqlite3_stmt *stmt, struct store_row *row)
{
    copy_text(row->id, sizeof(row->id), stmt, 0);
    copy_text(row->type, sizeof(row->type), stmt, 1);
    copy_text(row->tenant, sizeof(row->tenant), stmt, 2);
    copy_text(row->parent, sizeof(row->parent), stmt, 3);
    row->version = sqlite3_column_int64(stmt, 4);
    row->doc = column_json(stmt, 5);
    row->priv = column_json(stmt, 6);
}

/* The row of S_GET_MEMBER, whose last column is one member of the private
 * document (or of S_GET when member is NULL): row->priv holds that member
 * only (nothing when NULL), the rest of the private document is not parsed. */
static void read_row_with_member(sqlite3_stmt *stmt, const char *member, struct store_row *row)
{
    const char *text = member ? (const char *)sqlite3_column_text(stmt, 6) : NULL;
    json_t *value = text ? json_loads(text, JSON_DECODE_ANY, NULL) : NULL;

    copy_text(row->id, sizeof(row->id), stmt, 0);
    copy_text(row->type, sizeof(row->type), stmt, 1);
    copy_text(row->tenant, sizeof(row->tenant), stmt, 2);
    copy_text(row->parent, sizeof(row->parent), stmt, 3);
    row->version = sqlite3_column_int64(stmt, 4);
    row->doc = column_json(stmt, 5);
    row->priv = json_object();
    if (value != NULL)
        json_object_set_new(row->priv, member, value);
}

/* Keep only member in row->priv. */
static void keep_member(struct store_row *row, const char *member)
{
    json_t *value = json_object_get(row->priv, member);

    json_incref(value);
    json_object_clear(row->priv);
    if (value != NULL)
        json_object_set_new(row->priv, member, value);
}

/* A row by id: all of its private document (whole_priv), or only member
 * of it (NULL: none). */
static int get_by_id(struct store *st, const char *id, bool whole_priv, const char *member,
                     struct store_row *row, struct cimi_error *err)
{
    struct sqlite_store *s = (struct sqlite_store *)st;
    char path[128];
    /* SQLite's JSON paths cannot quote a '"' in a member name: such a name
     * (none of cimid's) is found after parsing the whole document. */
    bool by_path = !whole_priv && member != NULL && strchr(member, '"') == NULL &&
                   strlen(member) < sizeof(path) - 5;
    sqlite3_stmt *stmt = s->stmt[by_path ? S_GET_MEMBER : S_GET];
    int rc;

    sqlite3_bind_text(stmt, 1, id, -1, SQLITE_STATIC);
    if (by_path) {
        snprintf(path, sizeof(path), "$.\"%s\"", member);
        sqlite3_bind_text(stmt, 2, path, -1, SQLITE_STATIC);
    }
    rc = sqlite3_step(stmt);
    if (rc == SQLITE_ROW) {
        if (by_path || (!whole_priv && member == NULL)) {
            read_row_with_member(stmt, member, row);
        } else {
            read_row(stmt, row);
            if (!whole_priv)
                keep_member(row, member);
        }
    }
    sqlite3_reset(stmt);
    sqlite3_clear_bindings(stmt);
    if (rc == SQLITE_ROW)
        return 0;
    if (rc == SQLITE_DONE)
        return err_set(err, 404, NULL, "no resource at '%s'", id);
    return db_error(s, err, "get");
}

static int sqlite_version(struct store *st, const char *id, long long *version,
                          struct cimi_error *err)
{
    struct sqlite_store *s = (struct sqlite_store *)st;
    sqlite3_stmt *stmt = s->stmt[S_VERSION];
    int rc;

    sqlite3_bind_text(stmt, 1, id, -1, SQLITE_STATIC);
    rc = sqlite3_step(stmt);
    if (rc == SQLITE_ROW)
        *version = sqlite3_column_int64(stmt, 0);
    sqlite3_reset(stmt);
    sqlite3_clear_bindings(stmt);
    if (rc == SQLITE_ROW)
        return 0;
    if (rc == SQLITE_DONE)
        return err_set(err, 404, NULL, "no resource at '%s'", id);
    return db_error(s, err, "version");
}

static int sqlite_get(struct store *st, const char *id, struct store_row *row,
                      struct cimi_error *err)
{
    return get_by_id(st, id, true, NULL, row, err);
}

static int sqlite_get_public(struct store *st, const char *id, const char *priv_member,
                             struct store_row *row, struct cimi_error *err)
{
    return get_by_id(st, id, false, priv_member, row, err);
}

/* Bind a JSON document as text; returns the malloc'd text to free after the step. */
static char *bind_json(sqlite3_stmt *stmt, int index, const json_t *value)
{
    char *text = json_dumps(value ? value : json_object(), JSON_COMPACT | JSON_PRESERVE_ORDER);

    sqlite3_bind_text(stmt, index, text ? text : "{}", -1, SQLITE_STATIC);
    return text;
}

static int sqlite_insert(struct store *st, struct store_row *row, struct cimi_error *err)
{
    struct sqlite_store *s = (struct sqlite_store *)st;
    sqlite3_stmt *stmt = s->stmt[S_INSERT];
    char *doc, *priv;
    int rc;

    sqlite3_bind_text(stmt, 1, row->id, -1, SQLITE_STATIC);
    sqlite3_bind_text(stmt, 2, row->type, -1, SQLITE_STATIC);
    sqlite3_bind_text(stmt, 3, row->tenant, -1, SQLITE_STATIC);
    sqlite3_bind_text(stmt, 4, row->parent, -1, SQLITE_STATIC);
    doc = bind_json(stmt, 5, row->doc);
    priv = bind_json(stmt, 6, row->priv);
    bool locked = write_enter(s);
    rc = sqlite3_step(stmt);
    sqlite3_reset(stmt);
    if (rc == SQLITE_DONE) {
        row->version = 1;
        index_changes_put(&s->changes,
                          index_entry_of_row(sqlite3_last_insert_rowid(s->db), row));
    }
    write_leave(s, locked);
    sqlite3_clear_bindings(stmt);
    free(doc);
    free(priv);
    if (rc == SQLITE_CONSTRAINT)
        return err_set(err, 409, NULL, "a resource with id '%s' already exists", row->id);
    if (rc != SQLITE_DONE)
        return db_error(s, err, "insert");
    row->version = 1;
    return 0;
}

static int sqlite_update(struct store *st, struct store_row *row, struct cimi_error *err)
{
    struct sqlite_store *s = (struct sqlite_store *)st;
    sqlite3_stmt *stmt = s->stmt[S_UPDATE];
    char *doc, *priv;
    int rc;

    sqlite3_bind_text(stmt, 1, row->id, -1, SQLITE_STATIC);
    doc = bind_json(stmt, 2, row->doc);
    priv = bind_json(stmt, 3, row->priv);
    bool locked = write_enter(s);
    struct store_entry *entry = NULL;
    rc = sqlite3_step(stmt);
    if (rc == SQLITE_ROW) {
        /* The index entry from the row as stored (not as the caller says). */
        struct store_row stored = *row;
        stored.version = row->version = sqlite3_column_int64(stmt, 0);
        copy_text(stored.type, sizeof(stored.type), stmt, 2);
        copy_text(stored.tenant, sizeof(stored.tenant), stmt, 3);
        copy_text(stored.parent, sizeof(stored.parent), stmt, 4);
        entry = index_entry_of_row(sqlite3_column_int64(stmt, 1), &stored);
        rc = sqlite3_step(stmt);
    }
    sqlite3_reset(stmt);
    int changes = sqlite3_changes(s->db);
    if (rc == SQLITE_DONE && changes > 0)
        index_changes_put(&s->changes, entry);
    else
        free(entry);
    write_leave(s, locked);
    sqlite3_clear_bindings(stmt);
    free(doc);
    free(priv);
    if (rc != SQLITE_DONE)
        return db_error(s, err, "update");
    if (changes == 0)
        return err_set(err, 404, NULL, "no resource at '%s'", row->id);
    return 0;
}

/* Collect the ids of id's children into a JSON array of strings. */
static json_t *children_of(struct sqlite_store *s, const char *id)
{
    sqlite3_stmt *stmt = s->stmt[S_CHILDREN];
    json_t *ids = json_array();

    sqlite3_bind_text(stmt, 1, id, -1, SQLITE_STATIC);
    while (sqlite3_step(stmt) == SQLITE_ROW)
        json_array_append_new(ids, json_string((const char *)sqlite3_column_text(stmt, 0)));
    sqlite3_reset(stmt);
    sqlite3_clear_bindings(stmt);
    return ids;
}

static int sqlite_remove(struct store *st, const char *id, struct cimi_error *err)
{
    struct sqlite_store *s = (struct sqlite_store *)st;
    sqlite3_stmt *stmt = s->stmt[S_REMOVE];
    json_t *children = children_of(s, id);
    size_t i;
    json_t *child;
    int rc;

    json_array_foreach(children, i, child) {
        if (sqlite_remove(st, json_string_value(child), err) != 0) {
            json_decref(children);
            return -1;
        }
    }
    json_decref(children);
    sqlite3_bind_text(stmt, 1, id, -1, SQLITE_STATIC);
    bool locked = write_enter(s);
    rc = sqlite3_step(stmt);
    if (rc == SQLITE_ROW) {
        index_changes_remove(&s->changes, (const char *)sqlite3_column_text(stmt, 1),
                             sqlite3_column_int64(stmt, 0));
        rc = sqlite3_step(stmt);
    }
    sqlite3_reset(stmt);
    write_leave(s, locked);
    sqlite3_clear_bindings(stmt);
    if (rc != SQLITE_DONE)
        return db_error(s, err, "remove");
    return 0;
}

static int sqlite_list(struct store *st, const char *type, const char *parent, const char *tenant,
                       store_row_cb cb, void *ctx, struct cimi_error *err)
{
    struct sqlite_store *s = (struct sqlite_store *)st;
    int shape = (type ? 1 : 0) | (parent ? 2 : 0) | (tenant ? 4 : 0);
    /* The kept statement of this shape, or a fresh one while that one runs
     * (a callback that lists again). */
    bool kept = !s->list_busy[shape];
    sqlite3_stmt *stmt = kept ? s->list_stmt[shape] : NULL;
    int rc;

    if (stmt == NULL) {
        /* Only the conditions that apply, so that SQLite can use the
         * (parent) and (type, tenant) indexes instead of scanning the table. */
        char sql[512];
        snprintf(sql, sizeof(sql),
                 "SELECT id, type, tenant, parent, version, doc, priv FROM resources WHERE 1%s%s%s "
                 "ORDER BY seq", type ? " AND type = ?1" : "", parent ? " AND parent = ?2" : "",
                 tenant ? " AND (tenant = ?3 OR tenant = '')" : "");
        if (sqlite3_prepare_v2(s->db, sql, -1, &stmt, NULL) != SQLITE_OK)
            return db_error(s, err, "list");
        if (kept)
            s->list_stmt[shape] = stmt;
    }
    if (kept)
        s->list_busy[shape] = true;
    if (type)
        sqlite3_bind_text(stmt, 1, type, -1, SQLITE_STATIC);
    if (parent)
        sqlite3_bind_text(stmt, 2, parent, -1, SQLITE_STATIC);
    if (tenant)
        sqlite3_bind_text(stmt, 3, tenant, -1, SQLITE_STATIC);
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        struct store_row row;
        int stop;

        memset(&row, 0, sizeof(row));
        read_row(stmt, &row);
        stop = cb(ctx, &row);
        store_row_clear(&row);
        if (stop)
            break;
    }
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        db_error(s, err, "list");
    if (kept) {
        sqlite3_reset(stmt);
        sqlite3_clear_bindings(stmt);
        s->list_busy[shape] = false;
    } else {
        sqlite3_finalize(stmt);
    }
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : -1;
}

/* The string a column holds, or NULL. */
static const char *column_text(sqlite3_stmt *stmt, int col)
{
    return (const char *)sqlite3_column_text(stmt, col);
}

/* Build the index from one reading of the light columns, with the writer
 * lock held so that no commit falls between the reading and the index. */
static int build_index(struct sqlite_store *s, struct cimi_error *err)
{
#define DOC_STRING(doc, name) \
    "CASE json_type(" doc ", '$." name "') WHEN 'text' THEN json_extract(" doc ", '$." name "') END"
    static const char sql[] =
        "SELECT seq, version, id, type, tenant, parent, " DOC_STRING("doc", "name") ", "
        DOC_STRING("doc", "created") ", " DOC_STRING("doc", "updated") ", "
        DOC_STRING("doc", "state") ", " DOC_STRING("priv", "host") " FROM resources ORDER BY seq";
#undef DOC_STRING
    struct index_changes load = {NULL, 0, 0, false};
    sqlite3_stmt *stmt;
    int rc;

    if (s->in_tx)
        return err_set(err, 503, NULL, "store: no index inside a transaction");
    pthread_mutex_lock(&write_lock);
    if (index_ready()) {
        pthread_mutex_unlock(&write_lock);
        return 0;
    }
    if (sqlite3_prepare_v2(s->db, sql, -1, &stmt, NULL) != SQLITE_OK) {
        pthread_mutex_unlock(&write_lock);
        return db_error(s, err, "index");
    }
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW && !load.failed)
        index_changes_put(&load, index_entry_new(
                                     sqlite3_column_int64(stmt, 0), sqlite3_column_int64(stmt, 1),
                                     column_text(stmt, 2), column_text(stmt, 3),
                                     column_text(stmt, 4), column_text(stmt, 5),
                                     column_text(stmt, 6), column_text(stmt, 7),
                                     column_text(stmt, 8), column_text(stmt, 9),
                                     column_text(stmt, 10)));
    sqlite3_finalize(stmt);
    if (rc != SQLITE_DONE || load.failed) {
        index_changes_drop(&load);
        free(load.v);
        pthread_mutex_unlock(&write_lock);
        return rc != SQLITE_DONE ? db_error(s, err, "index")
                                 : err_set(err, 500, NULL, "store: out of memory");
    }
    index_load(&load);
    free(load.v);
    pthread_mutex_unlock(&write_lock);
    return 0;
}

static int sqlite_build_index(struct store *st, struct cimi_error *err)
{
    return build_index((struct sqlite_store *)st, err);
}

static int sqlite_snapshot(struct store *st, const char *type, const char *parent,
                           const char *tenant, struct store_snapshot *out, struct cimi_error *err)
{
    struct sqlite_store *s = (struct sqlite_store *)st;

    memset(out, 0, sizeof(*out));
    if (s->in_tx)   /* the index has not this transaction's changes */
        return err_set(err, 503, NULL, "store: no index inside a transaction");
    if (!index_ready() && build_index(s, err) != 0)
        return -1;
    return index_snapshot(type, parent, tenant, out, err);
}

static void read_user(sqlite3_stmt *stmt, struct store_user *user)
{
    copy_text(user->name, sizeof(user->name), stmt, 0);
    copy_text(user->tenant, sizeof(user->tenant), stmt, 1);
    user->admin = sqlite3_column_int(stmt, 2) != 0;
    copy_text(user->hash, sizeof(user->hash), stmt, 3);
    user->version = sqlite3_column_int64(stmt, 4);
}

static int sqlite_user_get(struct store *st, const char *name, struct store_user *user,
                           struct cimi_error *err)
{
    struct sqlite_store *s = (struct sqlite_store *)st;
    sqlite3_stmt *stmt = s->stmt[S_USER_GET];
    int rc;

    sqlite3_bind_text(stmt, 1, name, -1, SQLITE_STATIC);
    rc = sqlite3_step(stmt);
    if (rc == SQLITE_ROW)
        read_user(stmt, user);
    sqlite3_reset(stmt);
    sqlite3_clear_bindings(stmt);
    if (rc == SQLITE_ROW)
        return 0;
    if (rc == SQLITE_DONE)
        return err_set(err, 404, NULL, "no user '%s'", name);
    return db_error(s, err, "user get");
}

static int sqlite_user_put(struct store *st, const struct store_user *user, struct cimi_error *err)
{
    struct sqlite_store *s = (struct sqlite_store *)st;
    sqlite3_stmt *stmt = s->stmt[S_USER_PUT];

    sqlite3_bind_text(stmt, 1, user->name, -1, SQLITE_STATIC);
    sqlite3_bind_text(stmt, 2, user->tenant, -1, SQLITE_STATIC);
    sqlite3_bind_int(stmt, 3, user->admin ? 1 : 0);
    sqlite3_bind_text(stmt, 4, user->hash, -1, SQLITE_STATIC);
    read_leave(s);
    return exec_simple(s, S_USER_PUT, err, "user put");
}

static int sqlite_user_remove(struct store *st, const char *name, struct cimi_error *err)
{
    struct sqlite_store *s = (struct sqlite_store *)st;

    sqlite3_bind_text(s->stmt[S_USER_REMOVE], 1, name, -1, SQLITE_STATIC);
    read_leave(s);
    if (exec_simple(s, S_USER_REMOVE, err, "user remove") != 0)
        return -1;
    if (sqlite3_changes(s->db) == 0)
        return err_set(err, 404, NULL, "no user '%s'", name);
    return 0;
}

static int sqlite_user_list(struct store *st, store_user_cb cb, void *ctx, struct cimi_error *err)
{
    struct sqlite_store *s = (struct sqlite_store *)st;
    sqlite3_stmt *stmt = s->stmt[S_USER_LIST];
    int rc;

    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        struct store_user user;

        read_user(stmt, &user);
        if (cb(ctx, &user))
            break;
    }
    sqlite3_reset(stmt);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return db_error(s, err, "user list");
    return 0;
}

static int sqlite_check(struct store *st, struct cimi_error *err)
{
    struct sqlite_store *s = (struct sqlite_store *)st;
    sqlite3_stmt *stmt;
    int ok = 0;

    if (sqlite3_prepare_v2(s->db, "PRAGMA integrity_check", -1, &stmt, NULL) != SQLITE_OK)
        return db_error(s, err, "integrity check");
    if (sqlite3_step(stmt) == SQLITE_ROW)
        ok = strcmp((const char *)sqlite3_column_text(stmt, 0), "ok") == 0;
    sqlite3_finalize(stmt);
    if (!ok)
        return err_set(err, 500, NULL, "store: integrity check failed");
    return 0;
}

const struct store_ops store_sqlite = {
    .name = "sqlite",
    .open = sqlite_open,
    .close = sqlite_close,
    .begin = sqlite_begin,
    .commit = sqlite_commit,
    .rollback = sqlite_rollback,
    .read_begin = sqlite_read_begin,
    .read_end = sqlite_read_end,
    .get = sqlite_get,
    .version = sqlite_version,
    .get_public = sqlite_get_public,
    .insert = sqlite_insert,
    .update = sqlite_update,
    .remove = sqlite_remove,
    .list = sqlite_list,
    .snapshot = sqlite_snapshot,
    .build_index = sqlite_build_index,
    .user_get = sqlite_user_get,
    .user_put = sqlite_user_put,
    .user_remove = sqlite_user_remove,
    .user_list = sqlite_user_list,
    .check = sqlite_check,
};
