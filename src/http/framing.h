/*
 * framing.h - checks of how a request is framed, made before its body is
 * read: the size of the request target, and how the body's length is told.
 *
 * libmicrohttpd frames the body by the first Content-Length or
 * Transfer-Encoding header it finds and reads any other coding than chunked
 * until the client closes; a second Content-Length would be read as the
 * start of another request.  So a request whose framing is ambiguous (more
 * than one Content-Length, Content-Length with Transfer-Encoding,
 * Transfer-Encoding in HTTP/1.0, a header name that is not a token such as
 * "Content-Length " before the colon) is refused with 400, a transfer coding
 * other than chunked with 501, and the connection is closed after the
 * answer.  libmicrohttpd also parses every query argument into the
 * connection's fixed memory and answers nothing when they do not fit, so a
 * request target over TARGET_MAX bytes or with more than QUERY_ARGS_MAX
 * arguments is refused with 414 before they are parsed.
 */
#ifndef CIMID_FRAMING_H
#define CIMID_FRAMING_H

#include <microhttpd.h>
#include <stdbool.h>

#include "util/error.h"

/* The request target's limits (414 beyond). */
#define TARGET_MAX 32768
#define QUERY_ARGS_MAX 256

/* Check the raw request target (from MHD_OPTION_URI_LOG_CALLBACK, before
 * libmicrohttpd parses its arguments).  NULL when fine; else why it is
 * refused (414), and its query is cut off in place so that libmicrohttpd
 * parses no argument of it. */
const char *framing_check_target(const char *uri);

/* Check the body's framing from the request's headers (first call of the
 * access handler).  0 with *body_bytes = the Content-Length (0 without
 * one) or -1 for chunked; -1 with err 400 or 501 (then close). */
int framing_check_body(struct MHD_Connection *conn, const char *http_version,
                       long long *body_bytes, struct cimi_error *err);

#endif
