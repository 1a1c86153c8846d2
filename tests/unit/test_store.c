/*
 * test_store.c - the SQLite store's reads of one row: get (the whole row)
 * and get_public (the private document reduced to the one member a read
 * looks at, or to nothing); the read transaction (one snapshot until
 * read_end, ended by a write).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "store/store.h"

static json_t *J(const char *text)
{
    json_error_t jerr;
    json_t *v = json_loads(text, 0, &jerr);

    if (v == NULL) {
        fprintf(stderr, "bad test JSON: %s\n", jerr.text);
        exit(2);
    }
    return v;
}

/* Is row->priv exactly the JSON text want? */
static bool priv_is(const struct store_row *row, const char *want)
{
    json_t *w = J(want);
    bool same = json_equal(row->priv, w);

    json_decref(w);
    return same;
}

/* build_index (as at start-up), then snapshots: the stored row's light
 * columns, and a later insert shows in the next snapshot. */
static void check_build_index(struct store *st)
{
    struct store_snapshot snap;
    struct store_row row;
    struct cimi_error err;

    CHECK(st->ops->build_index != NULL && st->ops->build_index(st, &err) == 0, "index built");
    CHECK(st->ops->build_index(st, &err) == 0, "building it again does nothing");
    CHECK(st->ops->snapshot(st, "Machine", NULL, "t", &snap, &err) == 0 && snap.count == 1 &&
              strcmp(snap.entries[0]->id, "machines/1") == 0 &&
              strcmp(snap.entries[0]->host, "hosts/b") == 0 &&
              strcmp(snap.entries[0]->state, "STARTED") == 0,
          "snapshot after build_index: the row, its host and state");
    store_snapshot_free(&snap);
    memset(&row, 0, sizeof(row));
    snprintf(row.id, sizeof(row.id), "machines/3");
    snprintf(row.type, sizeof(row.type), "Machine");
    snprintf(row.tenant, sizeof(row.tenant), "t");
    row.doc = J("{\"name\":\"n\",\"state\":\"STOPPED\"}");
    row.priv = J("{}");
    CHECK(st->ops->insert(st, &row, &err) == 0, "another row inserted");
    store_row_clear(&row);
    CHECK(st->ops->snapshot(st, "Machine", NULL, "t", &snap, &err) == 0 && snap.count == 2 &&
              strcmp(snap.entries[1]->id, "machines/3") == 0 && snap.entries[1]->host == NULL,
          "the insert shows in the next snapshot");
    store_snapshot_free(&snap);
}

/* The version of machines/1 as st reads it now (-1 if it cannot). */
static long long version_of(struct store *st)
{
    struct store_row row;
    struct cimi_error err;
    long long v = -1;

    memset(&row, 0, sizeof(row));
    if (st->ops->get_public(st, "machines/1", NULL, &row, &err) == 0)
        v = row.version;
    store_row_clear(&row);
    return v;
}

/* Bump machines/1's version through st (autocommit). */
static int bump(struct store *st)
{
    struct store_row row;
    struct cimi_error err;
    int rc;

    memset(&row, 0, sizeof(row));
    if (st->ops->get(st, "machines/1", &row, &err) != 0)
        return -1;
    rc = st->ops->update(st, &row, &err);
    store_row_clear(&row);
    return rc;
}

static void test_read_transaction(struct store *st, const char *db)
{
    struct cimi_error err;
    struct store *other = store_sqlite.open(db, &err);
    long long v0 = version_of(st);

    CHECK(other != NULL && v0 > 0, "a second connection opens");
    if (other == NULL)
        return;
    CHECK(st->ops->read_begin(st, &err) == 0, "read_begin");
    CHECK(version_of(st) == v0, "read in the transaction");
    CHECK(bump(other) == 0 && version_of(other) == v0 + 1, "another connection commits a change");
    CHECK(version_of(st) == v0, "the read transaction keeps its snapshot");
    st->ops->read_end(st);
    CHECK(version_of(st) == v0 + 1, "after read_end the change is seen");

    CHECK(st->ops->read_begin(st, &err) == 0 && version_of(st) == v0 + 1, "a second read transaction");
    CHECK(bump(other) == 0, "another change meanwhile");
    CHECK(bump(st) == 0 && version_of(st) == v0 + 3,
          "an autocommit write ends the read transaction first and sees the latest row");
    CHECK(version_of(other) == v0 + 3, "that write is committed");

    CHECK(st->ops->read_begin(st, &err) == 0 && version_of(st) == v0 + 3, "a third read transaction");
    CHECK(bump(other) == 0, "another change meanwhile");
    CHECK(st->ops->begin(st, &err) == 0, "a write transaction can begin (the read one ends)");
    CHECK(version_of(st) == v0 + 4, "the write transaction sees the latest row");
    CHECK(st->ops->commit(st, &err) == 0, "and commits");
    st->ops->read_end(st);                 /* nothing open: does nothing */
    CHECK(version_of(st) == v0 + 4, "read_end without a read transaction is harmless");
    store_sqlite.close(other);
}

int main(void)
{
    char dir[] = "/tmp/cimid-store-XXXXXX", db[256];
    struct cimi_error err;
    struct store *st;
    struct store_row row;
    const char *doc = "{\"name\":\"m\",\"state\":\"STARTED\"}";

    if (mkdtemp(dir) == NULL)
        return 1;
    snprintf(db, sizeof(db), "%s/cimid.db", dir);
    store_configure(&store_sqlite, db);
    st = store_for_thread(&err);
    CHECK(st != NULL, "store opens");
    if (st == NULL)
        return check_summary();

    memset(&row, 0, sizeof(row));
    snprintf(row.id, sizeof(row.id), "machines/1");
    snprintf(row.type, sizeof(row.type), "Machine");
    snprintf(row.tenant, sizeof(row.tenant), "t");
    row.doc = J(doc);
    row.priv = J("{\"host\":\"hosts/b\",\"spec\":{\"cpu\":2,\"disks\":[{\"capacity\":5}]},"
                 "\"odd \\\"key\\\"\":[1,2],\"previous\":\"STOPPED\",\"a.b\":\"dot\"}");
    CHECK(st->ops->insert(st, &row, &err) == 0, "row inserted");
    store_row_clear(&row);

    memset(&row, 0, sizeof(row));
    CHECK(st->ops->get(st, "machines/1", &row, &err) == 0, "get finds the row");
    CHECK(json_object_size(row.priv) == 5, "get: the whole private document");
    store_row_clear(&row);

    memset(&row, 0, sizeof(row));
    CHECK(st->ops->get_public(st, "machines/1", "host", &row, &err) == 0 &&
              priv_is(&row, "{\"host\":\"hosts/b\"}"),
          "get_public with a member: only that member");
    CHECK(strcmp(row.type, "Machine") == 0 && strcmp(row.tenant, "t") == 0 && row.version == 1,
          "get_public: the row's columns");
    {
        json_t *want = J(doc);
        CHECK(json_equal(row.doc, want), "get_public: the whole public document");
        json_decref(want);
    }
    store_row_clear(&row);

    memset(&row, 0, sizeof(row));
    CHECK(st->ops->get_public(st, "machines/1", "spec", &row, &err) == 0 &&
              priv_is(&row, "{\"spec\":{\"cpu\":2,\"disks\":[{\"capacity\":5}]}}"),
          "get_public: a member that is an object, parsed");
    store_row_clear(&row);

    memset(&row, 0, sizeof(row));
    CHECK(st->ops->get_public(st, "machines/1", "odd \"key\"", &row, &err) == 0 &&
              priv_is(&row, "{\"odd \\\"key\\\"\":[1,2]}"),
          "get_public: a member whose name SQLite cannot quote");
    store_row_clear(&row);

    memset(&row, 0, sizeof(row));
    CHECK(st->ops->get_public(st, "machines/1", "a.b", &row, &err) == 0 &&
              priv_is(&row, "{\"a.b\":\"dot\"}"),
          "get_public: a member with a dot in its name");
    store_row_clear(&row);

    memset(&row, 0, sizeof(row));
    CHECK(st->ops->get_public(st, "machines/1", "absent", &row, &err) == 0 &&
              priv_is(&row, "{}"),
          "get_public: an absent member leaves the private document empty");
    store_row_clear(&row);

    memset(&row, 0, sizeof(row));
    CHECK(st->ops->get_public(st, "machines/1", NULL, &row, &err) == 0 && priv_is(&row, "{}") &&
              json_object_size(row.doc) == 2,
          "get_public without a member: no private document, the public one whole");
    store_row_clear(&row);

    memset(&row, 0, sizeof(row));
    err.status = 0;
    CHECK(st->ops->get_public(st, "machines/2", "host", &row, &err) != 0 && err.status == 404,
          "get_public of a missing row: 404");

    check_build_index(st);

    test_read_transaction(st, db);
    store_release_thread();
    unlink(db);
    {
        char wal[300], shm[300];
        snprintf(wal, sizeof(wal), "%s-wal", db);
        snprintf(shm, sizeof(shm), "%s-shm", db);
        unlink(wal);
        unlink(shm);
    }
    rmdir(dir);
    return check_summary();
}
