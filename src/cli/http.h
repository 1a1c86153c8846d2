/*
 * http.h - the client's HTTP transport (libcurl).
 *
 * One connection (kept alive) per run, HTTP Basic authentication, TLS with
 * the system's trust store, a CA file (--cacert) or no verification
 * (--insecure).  A request returns the whole reply: status, the headers
 * CIMI uses (Content-Type, Location, CIMI-Job-URI) and the body.
 */
#ifndef CIMI_CLI_HTTP_H
#define CIMI_CLI_HTTP_H

#include <stdbool.h>
#include <stddef.h>

#include "cli/fail.h"

struct http_settings {
    const char *user;      /* NULL: no Authorization header */
    const char *password;
    const char *cacert;    /* PEM file of trusted CAs, or NULL */
    bool insecure;         /* no certificate or host name verification */
    bool verbose;          /* one line per request and reply on stderr */
};

struct http_reply {
    long status;             /* HTTP status code */
    char reason[64];         /* reason phrase ("Conflict"), may be empty */
    char content_type[128];  /* media type without parameters, lower case */
    char *location;          /* Location header or NULL */
    char *job_uri;           /* CIMI-Job-URI header or NULL */
    char *body;              /* NUL-terminated (len bytes before the NUL) */
    size_t len;
};

struct http_client;

/* A client with these settings (copied); NULL with err set on failure. */
struct http_client *http_open(const struct http_settings *settings, struct cli_error *err);
void http_close(struct http_client *client);

/*
 * Send one request.  accept and content_type may be NULL (no header); body
 * may be NULL.  Returns 0 when a reply arrived, whatever its status; -1 with
 * err (CLI_CONNECT) when none did.  The reply must be cleared afterwards.
 */
int http_request(struct http_client *client, const char *method, const char *url,
                 const char *accept, const char *content_type, const char *body,
                 size_t body_len, struct http_reply *reply, struct cli_error *err);

void http_reply_clear(struct http_reply *reply);

/* url with "name=value" appended as a query parameter (value escaped);
 * malloc'd, NULL when out of memory. */
char *http_add_query(const char *url, const char *name, const char *value);

#endif
