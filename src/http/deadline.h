/*
 * deadline.h - a client gets a fixed time to send each request and to take
 * its answer, however it trickles the bytes (slowloris).
 *
 * libmicrohttpd's connection timeout counts only idle time, so a client
 * sending one header byte per second would hold a connection for ever.
 * Here every connection has a deadline: `seconds` after it opens, or after
 * its previous answer went out, the request must be in; and `seconds` after
 * the answer is queued, it must be sent.  The clock stops while cimid works
 * on the request (including a login delay).  One watcher thread shuts down
 * the socket of a connection past its deadline; libmicrohttpd then closes it.
 */
#ifndef CIMID_DEADLINE_H
#define CIMID_DEADLINE_H

struct deadline;

/* Start the watcher (seconds > 0). 0 on success. */
int deadline_start(int seconds);
/* Stop the watcher; call after libmicrohttpd has closed every connection. */
void deadline_stop(void);

/* A connection opened on socket fd (from the MHD_CONNECTION_NOTIFY_STARTED
 * callback); NULL when out of memory (the connection is then not watched). */
struct deadline *deadline_open(int fd, const char *address);
/* The connection closed (MHD_CONNECTION_NOTIFY_CLOSED); frees d. */
void deadline_close(struct deadline *d);

/* The whole request is in: stop the clock while cimid works on it. */
void deadline_pause(struct deadline *d);
/* The clock runs again where deadline_pause stopped it (the headers were
 * checked; the body is still to come). */
void deadline_resume(struct deadline *d);
/* An answer was queued, or was sent: a fresh `seconds` from now. */
void deadline_restart(struct deadline *d);

#endif
