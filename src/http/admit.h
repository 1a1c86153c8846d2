/*
 * admit.h - admission of a request's client before any work is done for
 * it (server.c's first call): address and user rate limits, HTTP Basic.
 */
#ifndef CIMID_ADMIT_H
#define CIMID_ADMIT_H

#include <microhttpd.h>
#include <stddef.h>

#include "auth/auth.h"
#include "store/store.h"

/* The client's address as a rate-limit and log key. */
void http_client_address(struct MHD_Connection *conn, char *out, size_t len);
/* 0 with who filled (and *st the thread's store, a read may be open); -1
 * with err: 401, 429 (*retry_after set), 5xx; *delay_ms set for a failed
 * login (logindelay.h). */
int http_admit(struct MHD_Connection *conn, struct store **st, struct principal *who,
               int *retry_after, long *delay_ms, struct cimi_error *err);

#endif
