/*
 * ratelimit.c - token buckets per user and per client address (see
 * ratelimit.h).
 */
#include "http/ratelimit.h"

#include <pthread.h>
#include <stdio.h>

#include "util/clock.h"
#include "util/slots.h"

#define BUCKET_CAPACITY 4096

struct bucket {
    struct slot slot;
    double tokens;
    double filled_ms;   /* when tokens was last brought up to date */
};

struct rate {
    double per_second;  /* 0 = no limit */
    double burst;
};

static struct rate rates[2];
static struct slot_table buckets;
static pthread_mutex_t buckets_lock = PTHREAD_MUTEX_INITIALIZER;

static void set_rate(struct rate *r, long per_second, long burst)
{
    r->per_second = (double)per_second;
    r->burst = burst > 0 ? (double)burst : 2.0 * (double)per_second;
    if (r->burst < 1.0)
        r->burst = 1.0;
}

int ratelimit_init(long user_rate, long user_burst, long address_rate, long address_burst)
{
    set_rate(&rates[RATE_USER], user_rate, user_burst);
    set_rate(&rates[RATE_ADDRESS], address_rate, address_burst);
    return slot_table_init(&buckets, BUCKET_CAPACITY, sizeof(struct bucket));
}

void ratelimit_free(void)
{
    slot_table_free(&buckets);
}

/* The table key: kind and name, so a user and an address never share. */
static void bucket_key(enum rate_kind kind, const char *key, char *out, size_t len)
{
    snprintf(out, len, "%s:%s", kind == RATE_USER ? "user" : "addr", key);
}

/* Add the tokens earned since the bucket was last filled. */
static void refill(struct bucket *b, const struct rate *r, double now_ms)
{
    b->tokens += (now_ms - b->filled_ms) / 1000.0 * r->per_second;
    if (b->tokens > r->burst)
        b->tokens = r->burst;
    b->filled_ms = now_ms;
}

static int seconds_until_token(const struct bucket *b, const struct rate *r)
{
    double s = (1.0 - b->tokens) / r->per_second;
    int whole = (int)s;

    if ((double)whole < s)
        whole++;             /* round up: a client waiting that long succeeds */
    return whole < 1 ? 1 : whole;
}

bool ratelimit_take(enum rate_kind kind, const char *key, int *retry_after_s)
{
    const struct rate *r = &rates[kind];
    double now = clock_mono_ms();
    char name[SLOT_KEY_MAX];
    struct bucket *b;
    bool created, allowed;

    if (r->per_second <= 0.0)
        return true;
    bucket_key(kind, key, name, sizeof(name));
    pthread_mutex_lock(&buckets_lock);
    b = slot_get(&buckets, name, now, &created);
    if (created) {
        b->tokens = r->burst;
        b->filled_ms = now;
    }
    refill(b, r, now);
    allowed = b->tokens >= 1.0;
    if (allowed)
        b->tokens -= 1.0;
    else
        *retry_after_s = seconds_until_token(b, r);
    pthread_mutex_unlock(&buckets_lock);
    return allowed;
}

bool ratelimit_allows(enum rate_kind kind, const char *key, int *retry_after_s)
{
    const struct rate *r = &rates[kind];
    double now = clock_mono_ms();
    char name[SLOT_KEY_MAX];
    struct bucket *b;
    bool allowed = true;

    if (r->per_second <= 0.0)
        return true;
    bucket_key(kind, key, name, sizeof(name));
    pthread_mutex_lock(&buckets_lock);
    b = slot_find(&buckets, name, now);
    if (b != NULL) {
        refill(b, r, now);
        allowed = b->tokens >= 1.0;
        if (!allowed)
            *retry_after_s = seconds_until_token(b, r);
    }
    pthread_mutex_unlock(&buckets_lock);
    return allowed;
}

void ratelimit_give_back(enum rate_kind kind, const char *key)
{
    const struct rate *r = &rates[kind];
    double now = clock_mono_ms();
    char name[SLOT_KEY_MAX];
    struct bucket *b;

    if (r->per_second <= 0.0)
        return;
    bucket_key(kind, key, name, sizeof(name));
    pthread_mutex_lock(&buckets_lock);
    b = slot_find(&buckets, name, now);
    if (b != NULL) {
        refill(b, r, now);
        b->tokens = b->tokens + 1.0 > r->burst ? r->burst : b->tokens + 1.0;
    }
    pthread_mutex_unlock(&buckets_lock);
}
