/*
 * test_limits.c - unit tests of the per-client state behind the limits: the
 * fixed-size keyed table (src/util/slots.c: never grows, evicts the least
 * recently used record of a set), the token buckets (src/http/ratelimit.c:
 * burst, refusal with Retry-After, per-key and per-kind separation, refill)
 * and the failed-login delays (src/http/logindelay.c: doubling, cap, the
 * larger of the name's and the address's counts, reset by a success), the
 * token given back for a request that did not count, and the budget of
 * buffered request bodies (src/http/bodybudget.c).
 */
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "check.h"
#include "http/bodybudget.h"
#include "http/logindelay.h"
#include "http/ratelimit.h"
#include "util/slots.h"

struct counter {
    struct slot slot;
    int value;
};

static void test_slots(void)
{
    struct slot_table t;
    char key[32];
    bool created;
    int found = 0;

    CHECK(slot_table_init(&t, 64, sizeof(struct counter)) == 0, "slots: a table of 64");
    struct counter *c = slot_get(&t, "a", 1.0, &created);
    CHECK(c != NULL && created && c->value == 0, "slots: a new key gets a zeroed record");
    c->value = 7;
    c = slot_get(&t, "a", 2.0, &created);
    CHECK(c != NULL && !created && c->value == 7, "slots: the same key finds its record");
    CHECK(slot_find(&t, "b", 3.0) == NULL, "slots: find does not create");
    /* 10,000 keys into 64 records: nothing grows, the newest are there. */
    for (int i = 0; i < 10000; i++) {
        snprintf(key, sizeof(key), "k%d", i);
        c = slot_get(&t, key, 10.0 + i, &created);
        c->value = i;
    }
    CHECK(t.nsets * SLOT_WAYS == 64, "slots: still 64 records after 10,000 keys");
    snprintf(key, sizeof(key), "k%d", 9999);
    c = slot_find(&t, key, 20000.0);
    CHECK(c != NULL && c->value == 9999, "slots: the last key is there");
    for (int i = 0; i < 10000; i++) {
        snprintf(key, sizeof(key), "k%d", i);
        if (slot_find(&t, key, 20001.0) != NULL)
            found++;
    }
    CHECK(found <= 64 && found >= 8, "slots: at most 64 keys kept (%d)", found);
    /* Within one set the least recently used record goes first. */
    slot_table_free(&t);
    CHECK(slot_table_init(&t, SLOT_WAYS, sizeof(struct counter)) == 0, "slots: one set");
    for (int i = 0; i < SLOT_WAYS; i++) {
        snprintf(key, sizeof(key), "w%d", i);
        slot_get(&t, key, (double)i, &created);
    }
    slot_find(&t, "w0", 100.0);                         /* w0 used again: w1 is the oldest */
    slot_get(&t, "new", 101.0, &created);
    CHECK(slot_find(&t, "w0", 102.0) != NULL, "slots: a recently used record stays");
    CHECK(slot_find(&t, "w1", 103.0) == NULL, "slots: the least recently used is evicted");
    CHECK(slot_find(&t, "new", 104.0) != NULL, "slots: the new key took its place");
    slot_table_free(&t);
}

static void test_rate(void)
{
    int retry = 0, allowed = 0;

    CHECK(ratelimit_init(2, 5, 0, 0) == 0, "rate: 2/s per user, burst 5; addresses unlimited");
    for (int i = 0; i < 10; i++)
        if (ratelimit_take(RATE_USER, "alice", &retry))
            allowed++;
    CHECK(allowed == 5, "rate: the burst of 5 passes, no more (%d)", allowed);
    CHECK(retry == 1, "rate: Retry-After 1 s at 2/s (%d)", retry);
    CHECK(!ratelimit_allows(RATE_USER, "alice", &retry), "rate: allows() agrees");
    CHECK(ratelimit_take(RATE_USER, "bob", &retry), "rate: another user has a bucket of its own");
    CHECK(ratelimit_allows(RATE_USER, "carol", &retry), "rate: an unknown key is allowed");
    allowed = 0;
    for (int i = 0; i < 100; i++)
        if (ratelimit_take(RATE_ADDRESS, "alice", &retry))
            allowed++;
    CHECK(allowed == 100, "rate: rate 0 is no limit, and kinds do not share buckets");
    struct timespec wait = {0, 600 * 1000000L};
    nanosleep(&wait, NULL);                               /* 0.6 s at 2/s: one token back */
    CHECK(ratelimit_take(RATE_USER, "alice", &retry), "rate: a token comes back with time");
    ratelimit_free();
    CHECK(ratelimit_init(1, 0, 0, 0) == 0, "rate: burst 0 means twice the rate");
    allowed = 0;
    for (int i = 0; i < 5; i++)
        if (ratelimit_take(RATE_USER, "dave", &retry))
            allowed++;
    CHECK(allowed == 2, "rate: burst 2 at 1/s (%d)", allowed);
    ratelimit_free();
}

/* A token taken for a request that turned out not to count comes back,
 * never above the burst. */
static void test_give_back(void)
{
    int retry = 0, allowed = 0;

    CHECK(ratelimit_init(0, 0, 1, 3) == 0, "give back: 1/s per address, burst 3");
    for (int i = 0; i < 3; i++)
        CHECK(ratelimit_take(RATE_ADDRESS, "10.0.0.1", &retry), "give back: burst token %d", i);
    CHECK(!ratelimit_take(RATE_ADDRESS, "10.0.0.1", &retry), "give back: the bucket is empty");
    ratelimit_give_back(RATE_ADDRESS, "10.0.0.1");
    CHECK(ratelimit_take(RATE_ADDRESS, "10.0.0.1", &retry), "give back: the token is back");
    CHECK(!ratelimit_take(RATE_ADDRESS, "10.0.0.1", &retry), "give back: only that one");
    for (int i = 0; i < 10; i++)
        ratelimit_give_back(RATE_ADDRESS, "10.0.0.2");        /* no bucket yet: nothing */
    for (int i = 0; i < 10; i++)
        ratelimit_give_back(RATE_ADDRESS, "10.0.0.1");
    for (int i = 0; i < 10; i++)
        if (ratelimit_take(RATE_ADDRESS, "10.0.0.1", &retry))
            allowed++;
    CHECK(allowed == 3, "give back: never above the burst (%d)", allowed);
    ratelimit_free();
}

struct budget_run {
    int taken;
};

static void *budget_worker(void *arg)
{
    struct budget_run *run = arg;

    for (int i = 0; i < 1000; i++)
        if (body_budget_take(1000))
            run->taken++;
    return NULL;
}

/* The body budget: never more out than the total, even from many threads
 * at once; what is given back can be taken again. */
static void test_body_budget(void)
{
    pthread_t threads[8];
    struct budget_run runs[8];
    int taken = 0;

    body_budget_init(10000);
    CHECK(body_budget_take(6000), "budget: 6000 of 10000");
    CHECK(!body_budget_take(5000), "budget: 5000 more do not fit");
    CHECK(body_budget_take(4000), "budget: 4000 more do");
    CHECK(!body_budget_take(1), "budget: spent");
    body_budget_give(6000);
    CHECK(body_budget_take(6000), "budget: given back, taken again");
    body_budget_give(10000);
    CHECK(!body_budget_take(10001), "budget: more than the total never fits");
    body_budget_init(1000 * 1000);
    for (int i = 0; i < 8; i++) {
        runs[i].taken = 0;
        pthread_create(&threads[i], NULL, budget_worker, &runs[i]);
    }
    for (int i = 0; i < 8; i++) {
        pthread_join(threads[i], NULL);
        taken += runs[i].taken;
    }
    CHECK(taken == 1000, "budget: 8 threads took exactly the 1000 shares there are (%d)", taken);
}

static void test_login_delay(void)
{
    long d[6];

    CHECK(login_delay_start(100, 700) == 0, "login: delays 100 ms doubling to 700");
    for (int i = 0; i < 5; i++)
        d[i] = login_delay_failed("alice", "10.0.0.1");
    CHECK(d[0] == 100 && d[1] == 200 && d[2] == 400 && d[3] == 700 && d[4] == 700,
          "login: 100 200 400 700 700 (%ld %ld %ld %ld %ld)", d[0], d[1], d[2], d[3], d[4]);
    d[5] = login_delay_failed("bob", "10.0.0.1");
    CHECK(d[5] == 700, "login: the address's count counts for another name (%ld)", d[5]);
    d[5] = login_delay_failed("alice", "10.0.0.2");
    CHECK(d[5] == 700, "login: the name's count counts from another address (%ld)", d[5]);
    login_delay_succeeded("alice", "10.0.0.1");
    d[5] = login_delay_failed("alice", "10.0.0.1");
    CHECK(d[5] == 100, "login: a success forgets the name's and the address's failures (%ld)",
          d[5]);
    login_delay_stop();
    login_delay_free();
    CHECK(login_delay_start(0, 0) == 0 && login_delay_failed("x", "y") == 0,
          "login: delay 0 is off");
    login_delay_stop();
    login_delay_free();
}

int main(void)
{
    test_slots();
    test_rate();
    test_give_back();
    test_body_budget();
    test_login_delay();
    return check_summary();
}
