/*
 * target.c - what server.c reads from a request's target and headers into
 * a struct cimi_request: the base URI the answer's hrefs start with (from
 * --public-url, else the Host header, refused with 400 unless it is a plain
 * host name, else the listening address), and the query parameters, each
 * strictly percent-decoded (urldecode.h) into a struct cimi_query.  The
 * query's $format is negotiate.c's: http_format_param finds it.
 */
#include "http/target.h"

#include <stdlib.h>
#include <string.h>
#include <stdio.h>

#include "http/urldecode.h"

/* Host header characters we accept into published URIs. */
static bool valid_host(const char *host)
{
    if (host == NULL || host[0] == '\0' || strlen(host) > 255)
        return false;
    for (const char *p = host; *p; p++) {
        char c = *p;
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '-' || c == ':' || c == '[' || c == ']'))
            return false;
    }
    return true;
}

int http_base_uri(struct MHD_Connection *conn, const struct config *cfg, bool tls, char *out,
                  size_t len, struct cimi_error *err)
{
    const char *host = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_HOST);

    if (cfg->public_url[0] != '\0') {
        size_t n = strlen(cfg->public_url);
        snprintf(out, len, "%s%s", cfg->public_url,
                 n > 0 && cfg->public_url[n - 1] == '/' ? "" : "/");
        return 0;
    }
    if (host == NULL) {
        snprintf(out, len, "%s://%s:%d" CIMI_PREFIX "/", tls ? "https" : "http",
                 cfg->listen, cfg->port);
        return 0;
    }
    if (!valid_host(host))
        return err_set(err, 400, "Host", "invalid Host header");
    snprintf(out, len, "%s://%s" CIMI_PREFIX "/", tls ? "https" : "http", host);
    return 0;
}

struct query_walk {
    struct cimi_query *q;
    struct cimi_error *err;
    int failed;
};

/* libmicrohttpd leaves the path and the query's keys and values as they
 * came ('+' in the query already a space); they are decoded by
 * url_decode(), which refuses what its own decoding would let through. */
size_t http_keep_escaped(void *cls, struct MHD_Connection *conn, char *s)
{
    (void)cls;
    (void)conn;
    return strlen(s);
}

/* The first $format of the query, still escaped ("" when given without a
 * value); process() decodes it. */
static enum MHD_Result find_format(void *ctx, enum MHD_ValueKind kind, const char *key,
                                   const char *value)
{
    const char **format = ctx;
    const char *why;
    char *name = url_decode(key, &why);
    bool found = name != NULL && strcmp(name, "$format") == 0;

    (void)kind;
    free(name);
    if (found) {
        *format = value ? value : "";
        return MHD_NO;
    }
    return MHD_YES;
}

/* 400 (500 when out of memory) for a query parameter url_decode() refused:
 * named by its decoded key when that decodes. */
static int bad_parameter(struct cimi_error *err, const char *key, const char *name,
                         const char *why)
{
    return err_set(err, strcmp(why, "out of memory") == 0 ? 500 : 400, name ? name : "query",
                   "query parameter '%.64s' has %s", name ? name : key, why);
}

static enum MHD_Result query_arg(void *ctx, enum MHD_ValueKind kind, const char *key,
                                 const char *value)
{
    struct query_walk *w = ctx;
    const char *why = NULL;
    char *name, *text = NULL;

    (void)kind;
    if (w->failed)
        return MHD_NO;
    name = url_decode(key, &why);
    if (name != NULL)
        text = url_decode(value ? value : "", &why);
    if (text == NULL)
        w->failed = bad_parameter(w->err, key, name, why);
    else if (strcmp(name, "$format") != 0 && cimi_query_add(w->q, name, text, w->err) != 0)
        w->failed = 1;
    free(name);
    free(text);
    return w->failed ? MHD_NO : MHD_YES;
}

const char *http_format_param(struct MHD_Connection *conn)
{
    const char *format = NULL;

    MHD_get_connection_values(conn, MHD_GET_ARGUMENT_KIND, find_format, &format);
    return format;
}

int http_query(struct MHD_Connection *conn, struct cimi_query *q, struct cimi_error *err)
{
    struct query_walk walk = {q, err, 0};

    MHD_get_connection_values(conn, MHD_GET_ARGUMENT_KIND, query_arg, &walk);
    return walk.failed ? -1 : 0;
}
