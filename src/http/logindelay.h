/*
 * logindelay.h - failed logins are answered late, the later the more
 * failures, without tying up a server thread.
 *
 * Failures are counted per user name and per client address (in a
 * fixed-size table, util/slots.h).  The n-th failure in a row is answered
 * after min(max, base * 2^(n-1)) ms, n being the larger of the two counts; a
 * successful login forgets both, and a count is forgotten after
 * LOGIN_FORGET_SECONDS without failures.
 *
 * The waiting answer's connection is suspended (MHD_suspend_connection), so
 * the server thread goes on serving others; one timer thread resumes it when
 * its time is up, and libmicrohttpd calls the access handler again, which
 * then sends the answer it kept.
 */
#ifndef CIMID_LOGINDELAY_H
#define CIMID_LOGINDELAY_H

#include <microhttpd.h>
#include <stdbool.h>

#define LOGIN_FORGET_SECONDS 600

/* A connection waiting for its delayed answer. */
struct login_hold {
    struct MHD_Connection *conn;
    double resume_ms;
    struct login_hold *next;
};

/* Set the delays (base 0 = no delay) and start the timer thread. 0 on success. */
int login_delay_start(long base_ms, long max_ms);
/* Resume every waiting connection at once and stop the timer thread; later
 * holds are refused.  Then, once no request runs any more, free. */
void login_delay_stop(void);
void login_delay_free(void);

/* A failed login for user (as sent, may be "") from address: returns the
 * delay in ms before the answer. */
long login_delay_failed(const char *user, const char *address);
/* A successful login: forget the failures of user and of address. */
void login_delay_succeeded(const char *user, const char *address);

/* Suspend conn for ms (from the access handler); the access handler is
 * called again when the time is up.  false when it could not be held
 * (stopping): answer at once then. */
bool login_delay_hold(struct login_hold *h, struct MHD_Connection *conn, long ms);

#endif
