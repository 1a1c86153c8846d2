/*
 * target.h - what server.c reads from a request's target and headers into
 * a struct cimi_request: the base URI and the query parameters.
 */
#ifndef CIMID_TARGET_H
#define CIMID_TARGET_H

#include <microhttpd.h>
#include <stdbool.h>
#include <stddef.h>

#include "cimi/request.h"
#include "config.h"

#define CIMI_PREFIX "/cimi"

/* The base URI hrefs start with ("https://host:port/cimi/"): --public-url,
 * else from the Host header (400 unless a plain host), else the listening
 * address.  0, or -1 with err. */
int http_base_uri(struct MHD_Connection *conn, const struct config *cfg, bool tls, char *out,
                  size_t len, struct cimi_error *err);
/* The query's parameters but $format, strictly decoded, into q.  0, or -1
 * with err (400 for a bad escape, 500 out of memory, cimi_query_add's). */
int http_query(struct MHD_Connection *conn, struct cimi_query *q, struct cimi_error *err);
/* The first $format of the query, still escaped ("" when given without a
 * value), or NULL. */
const char *http_format_param(struct MHD_Connection *conn);
/* libmicrohttpd's unescape callback: keeps everything escaped (the
 * decoding is url_decode's). */
size_t http_keep_escaped(void *cls, struct MHD_Connection *conn, char *s);

#endif
