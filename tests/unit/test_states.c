/*
 * test_states.c - unit tests of the driver's table of domain states
 * (src/driver/state_table.c): tickets that keep a slow reader from
 * overwriting a newer state, removals, sweeps after a listing, and the hash
 * table itself at 200,000 domains (growth, and removal that shifts entries
 * back).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "driver/state_table.h"
#include "check.h"

/* A UUID whose bytes come from n (sequential when random is false). */
static void make_uuid(unsigned char *uuid, unsigned n, bool random)
{
    unsigned x = n * 2654435761u;

    memset(uuid, 0, STATE_UUID_LEN);
    for (int i = 0; i < 4; i++) {
        uuid[12 + i] = (unsigned char)(n >> (8 * (3 - i)));
        if (random)
            uuid[i] = (unsigned char)(x >> (8 * i));
    }
}

static void test_uuid_text(void)
{
    unsigned char raw[STATE_UUID_LEN];
    char text[37];

    CHECK(state_uuid_parse("0A6F3C2E-1b4d-4e5f-8a9b-000000000001", raw) == 0, "parse mixed case");
    state_uuid_format(raw, text);
    CHECK(strcmp(text, "0a6f3c2e-1b4d-4e5f-8a9b-000000000001") == 0, "format lower case: %s", text);
    CHECK(state_uuid_parse("0a6f3c2e-1b4d-4e5f-8a9b-00000000000", raw) < 0, "too short");
    CHECK(state_uuid_parse("0a6f3c2e-1b4d-4e5f-8a9b-0000000000001", raw) < 0, "too long");
    CHECK(state_uuid_parse("0a6f3c2e+1b4d-4e5f-8a9b-000000000001", raw) < 0, "no dash");
    CHECK(state_uuid_parse("0a6f3c2e-1b4d-4e5f-8a9b-00000000000g", raw) < 0, "not hex");
    CHECK(state_uuid_parse(NULL, raw) < 0, "NULL");
}

static void test_tickets(void)
{
    struct state_table *t = state_table_new();
    unsigned char a[STATE_UUID_LEN], b[STATE_UUID_LEN];
    enum hv_state s = HV_UNKNOWN;
    uint64_t t1, t2, t3;

    make_uuid(a, 1, true);
    make_uuid(b, 2, true);
    CHECK(state_table_get(t, a, &s) == 0, "empty table misses");
    t1 = state_table_ticket(t);
    t2 = state_table_ticket(t);
    CHECK(t2 > t1, "tickets grow");
    CHECK(state_table_put(t, a, HV_RUNNING, t2) == 0, "put");
    CHECK(state_table_get(t, a, &s) == 1 && s == HV_RUNNING, "get what was put");
    /* a read that began earlier (t1) finished later: ignored */
    state_table_put(t, a, HV_SHUTOFF, t1);
    CHECK(state_table_get(t, a, &s) == 1 && s == HV_RUNNING, "an older read does not overwrite");
    t3 = state_table_ticket(t);
    state_table_put(t, a, HV_PAUSED, t3);
    CHECK(state_table_get(t, a, &s) == 1 && s == HV_PAUSED, "a newer read does");

    /* forget: unknown until a newer put, but still counted and walked */
    state_table_forget(t, a, state_table_ticket(t));
    CHECK(state_table_get(t, a, &s) == 0, "forgotten state misses");
    CHECK(state_table_count(t) == 1, "forgotten entry still counted");
    state_table_put(t, a, HV_RUNNING, t3);
    CHECK(state_table_get(t, a, &s) == 0, "a read older than the forget does not restore it");
    state_table_put(t, a, HV_SAVED, state_table_ticket(t));
    CHECK(state_table_get(t, a, &s) == 1 && s == HV_SAVED, "a newer read does");
    state_table_forget(t, b, state_table_ticket(t));
    CHECK(state_table_count(t) == 2, "forgetting an unknown uuid adds it (a listing knows of it)");
    {
        size_t pos = 0, seen = 0, unknown = 0;
        unsigned char u[STATE_UUID_LEN];
        bool known;
        while (state_table_next(t, &pos, u, &s, &known)) {
            seen++;
            unknown += !known;
        }
        CHECK(seen == 2 && unknown == 1, "walk: 2 entries, 1 unknown (%zu, %zu)", seen, unknown);
    }

    /* removal: an older removal is ignored; a removed uuid is not re-added
     * by a read that began before the removal */
    t1 = state_table_ticket(t);
    t2 = state_table_ticket(t);
    state_table_remove(t, b, t2);
    CHECK(state_table_count(t) == 1, "removed");
    state_table_put(t, b, HV_RUNNING, t1);
    CHECK(state_table_get(t, b, &s) == 0 && state_table_count(t) == 1,
          "a read from before the removal does not bring it back");
    state_table_put(t, b, HV_RUNNING, state_table_ticket(t));
    CHECK(state_table_get(t, b, &s) == 1 && s == HV_RUNNING, "a read after it does");
    state_table_remove(t, b, t1);
    CHECK(state_table_get(t, b, &s) == 1, "a removal older than the entry is ignored");
    state_table_free(t);
}

static void test_sweep(void)
{
    struct state_table *t = state_table_new();
    unsigned char u[STATE_UUID_LEN];
    enum hv_state s;
    uint64_t before, seed, after;
    int ok = 1;

    before = state_table_ticket(t);
    for (unsigned i = 0; i < 10; i++) {
        make_uuid(u, i, false);
        state_table_put(t, u, HV_RUNNING, before);
    }
    seed = state_table_ticket(t);
    /* the listing saw 0..4; 7 changed (an event) while it ran */
    for (unsigned i = 0; i < 5; i++) {
        make_uuid(u, i, false);
        state_table_put(t, u, HV_SHUTOFF, seed);
    }
    after = state_table_ticket(t);
    make_uuid(u, 7, false);
    state_table_put(t, u, HV_PAUSED, after);
    state_table_sweep(t, seed);
    CHECK(state_table_count(t) == 6, "sweep keeps the listed and the newer (%zu)",
          state_table_count(t));
    for (unsigned i = 0; i < 5; i++) {
        make_uuid(u, i, false);
        ok &= state_table_get(t, u, &s) == 1 && s == HV_SHUTOFF;
    }
    CHECK(ok, "listed entries have the listing's state");
    make_uuid(u, 7, false);
    CHECK(state_table_get(t, u, &s) == 1 && s == HV_PAUSED, "the newer entry is kept");
    make_uuid(u, 8, false);
    CHECK(state_table_get(t, u, &s) == 0, "an entry the listing lacked is gone");
    state_table_free(t);
}

/* 200,000 domains in, every other one out, all still found where they should. */
/* state_table_get_many answers as state_table_get, over batches of every
 * size up to two full ones (uuids 0..n-1 of make_uuid). */
static void check_get_many(const struct state_table *t, unsigned n, bool random)
{
    enum { MAX = 2 * STATE_TABLE_BATCH + 1 };
    unsigned char uuids[MAX][STATE_UUID_LEN];
    enum hv_state states[MAX], s;
    bool known[MAX];
    int ok = 1;

    for (unsigned start = 0; start + MAX <= n && start < 4000; start += 397) {
        size_t count = 1 + start % MAX;
        for (size_t i = 0; i < count; i++)
            make_uuid(uuids[i], start + (unsigned)i, random);
        state_table_get_many(t, uuids, count, states, known);
        for (size_t i = 0; i < count; i++) {
            int one = state_table_get(t, uuids[i], &s);
            ok &= known[i] == (one == 1) && (!known[i] || states[i] == s);
        }
    }
    CHECK(ok, "%s: get_many answers as get", random ? "random" : "sequential");
}

static void test_many(bool random)
{
    enum { N = 200000 };
    struct state_table *t = state_table_new();
    unsigned char u[STATE_UUID_LEN];
    enum hv_state s;
    uint64_t ticket = state_table_ticket(t);
    int ok = 1;

    for (unsigned i = 0; i < N; i++) {
        make_uuid(u, i, random);
        ok &= state_table_put(t, u, (enum hv_state)(1 + i % 6), ticket) == 0;
    }
    CHECK(ok && state_table_count(t) == N, "%s: %d put", random ? "random" : "sequential", N);
    for (unsigned i = 0; i < N; i++) {
        make_uuid(u, i, random);
        ok &= state_table_get(t, u, &s) == 1 && s == (enum hv_state)(1 + i % 6);
    }
    CHECK(ok, "%s: every one found with its state", random ? "random" : "sequential");
    ticket = state_table_ticket(t);
    for (unsigned i = 0; i < N; i += 2) {
        make_uuid(u, i, random);
        state_table_remove(t, u, ticket);
    }
    CHECK(state_table_count(t) == N / 2, "%s: half removed", random ? "random" : "sequential");
    for (unsigned i = 0; i < N; i++) {
        make_uuid(u, i, random);
        ok &= state_table_get(t, u, &s) == (i % 2 == 1);
    }
    CHECK(ok, "%s: exactly the others are still found", random ? "random" : "sequential");
    check_get_many(t, N, random);
    state_table_free(t);
}

int main(void)
{
    test_uuid_text();
    test_tickets();
    test_sweep();
    test_many(true);
    test_many(false);
    return check_summary();
}
