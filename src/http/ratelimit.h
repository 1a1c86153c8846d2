/*
 * ratelimit.h - request rate limits: one token bucket per authenticated user
 * and one per client address for requests without valid credentials.
 *
 * A bucket holds up to `burst` tokens and refills at `rate` tokens per
 * second; a request takes one token, and a request finding its bucket empty
 * is refused (429) with the number of seconds until a token is back.  The
 * buckets live in a fixed-size table (util/slots.h), so memory does not grow
 * with the number of users or addresses; an evicted bucket starts full
 * again.  Thread-safe.
 */
#ifndef CIMID_RATELIMIT_H
#define CIMID_RATELIMIT_H

#include <stdbool.h>

enum rate_kind {
    RATE_USER,      /* per user name, after a successful login */
    RATE_ADDRESS,   /* per client address: no or wrong credentials */
};

/* Set the limits (requests per second, 0 = no limit; burst 0 = twice the
 * rate) and allocate the table.  0 on success. */
int ratelimit_init(long user_rate, long user_burst, long address_rate, long address_burst);
void ratelimit_free(void);

/* Take a token from the bucket of key.  true if allowed; false when empty,
 * with *retry_after_s set to the whole seconds until the next token. */
bool ratelimit_take(enum rate_kind kind, const char *key, int *retry_after_s);

/* Give back a token ratelimit_take took (the request turned out not to
 * count, e.g. its credentials were right); never above the burst. */
void ratelimit_give_back(enum rate_kind kind, const char *key);

/* Would a request of key be allowed now?  Like ratelimit_take without
 * taking a token (and without creating a bucket). */
bool ratelimit_allows(enum rate_kind kind, const char *key, int *retry_after_s);

#endif
