/*
 * admit.c - admission of a request's client, on the headers alone, before
 * any work is done for it: the client's address (the key of its rate limit
 * and of its log lines) may not be over its rate limit (requests without
 * valid credentials count there), the HTTP Basic credentials must be right
 * (a failed login is answered late: logindelay.h), and the user may not be
 * over its own rate limit (ratelimit.h).  server.c asks on a request's
 * first call and refuses what fails before its body is read.
 */
#include "http/admit.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "http/logindelay.h"
#include "http/ratelimit.h"
#include "util/log.h"

/* The client's address as a rate-limit and log key: IPv4 dotted, IPv6 by
 * its /64 prefix (one host usually owns a whole /64), IPv4-mapped IPv6 as
 * IPv4.  "?" when unknown. */
void http_client_address(struct MHD_Connection *conn, char *out, size_t len)
{
    const union MHD_ConnectionInfo *info =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    const struct sockaddr *sa = info ? info->client_addr : NULL;

    snprintf(out, len, "?");
    if (sa == NULL)
        return;
    if (sa->sa_family == AF_INET) {
        inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, out, (socklen_t)len);
    } else if (sa->sa_family == AF_INET6) {
        struct in6_addr a = ((const struct sockaddr_in6 *)sa)->sin6_addr;
        char text[INET6_ADDRSTRLEN];
        if (IN6_IS_ADDR_V4MAPPED(&a)) {
            inet_ntop(AF_INET, &a.s6_addr[12], out, (socklen_t)len);
            return;
        }
        memset(&a.s6_addr[8], 0, 8);
        inet_ntop(AF_INET6, &a, text, sizeof(text));
        snprintf(out, len, "%s/64", text);
    }
}

static int too_many_requests(int *retry_after, int retry, const char *who,
                             struct cimi_error *err)
{
    *retry_after = retry;
    return err_set(err, 429, NULL, "too many requests from %s; retry after %d s", who, retry);
}

/* Admit the client before any work is done for it: its address may not be
 * over its rate limit (requests without valid credentials count there), the
 * HTTP Basic credentials must be right, and the user may not be over its
 * rate limit.  0 with who filled; -1 with err (401, 429 with
 * *retry_after, 5xx), and *delay_ms set for a failed login. */
int http_admit(struct MHD_Connection *conn, struct store **st, struct principal *who,
               int *retry_after, long *delay_ms, struct cimi_error *err)
{
    char address[80];
    char *password = NULL;
    char *user;
    int retry = 0;
    int rc;

    http_client_address(conn, address, sizeof(address));
    if (!ratelimit_allows(RATE_ADDRESS, address, &retry))
        return too_many_requests(retry_after, retry, address, err);
    user = MHD_basic_auth_get_username_password(conn, &password);
    if (user == NULL) {
        MHD_free(password);
        if (!ratelimit_take(RATE_ADDRESS, address, &retry))
            return too_many_requests(retry_after, retry, address, err);
        return err_set(err, 401, "Authorization", "authentication required (HTTP Basic)");
    }
    *st = store_for_thread(err);
    if (*st != NULL && auth_check_cached(*st, user, password ? password : "", who)) {
        rc = 0;
    } else if (!ratelimit_take(RATE_ADDRESS, address, &retry)) {
        /* A password check takes an address token first, under the
         * bucket's lock, and gives it back when the password was right:
         * checks in flight count, so parallel guesses get no more checks
         * than the burst. */
        rc = too_many_requests(retry_after, retry, address, err);
    } else {
        rc = *st == NULL ? -1 : auth_check(*st, user, password ? password : "", who, err);
        if (rc == 0)
            ratelimit_give_back(RATE_ADDRESS, address);
    }
    if (rc != 0 && err->status == 401) {
        *delay_ms = login_delay_failed(user, address);
        log_warn("auth: failed login for user '%.64s' from %s (answered %ld ms late)", user,
                 address, *delay_ms);
    } else if (rc == 0) {
        login_delay_succeeded(user, address);
        if (!ratelimit_take(RATE_USER, who->name, &retry))
            rc = too_many_requests(retry_after, retry, who->name, err);
    }
    MHD_free(user);
    MHD_free(password);
    return rc;
}
