/*
 * http.h - the client's HTTP transport (libcurl).
 *
 * One connection (kept alive) per run, HTTP Basic authentication, TLS with
 * the system's trust store, a CA file (--cacert) or no verification
 * (--insecure).  A request returns the whole reply: status, the headers
 * CIMI uses (Content-Type, Location, CIMI-Job-URI) and the body.  Large
 * files go by http_upload and http_download, streamed from and to the
 * caller (never held in memory), with a progress hook.
 */
#ifndef CIMI_CLI_HTTP_H
#define CIMI_CLI_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

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
    char etag[128];          /* ETag header, "" if none */
    long long range_start;   /* first byte of a Content-Range, -1 if none */
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

/* Told the bytes moved so far and the total (0: not known yet), at least
 * once a second during a transfer (libcurl's xferinfo callback). */
struct http_progress {
    void (*show)(void *arg, long long done, long long total);
    void *arg;
};

/*
 * Send the size bytes of f (from its current position) as the body of a
 * request, read as they go out (libcurl's read callback); Expect:
 * 100-continue lets the server refuse before the body is sent.  progress
 * may be NULL.  Returns like http_request.
 */
int http_upload(struct http_client *client, const char *method, const char *url,
                const char *accept, const char *content_type, FILE *f, long long size,
                const struct http_progress *progress, struct http_reply *reply,
                struct cli_error *err);

/* Where a download's bytes go.  begin is called once a 200 (start 0) or
 * 206 (start = the Content-Range's first byte) reply begins, with its
 * ETag (what If-Range names when the download is resumed); write for
 * every piece.  Either returns -1 to abort the transfer, having filled the
 * cli_error given to http_download (the sink's arg knows it). */
struct http_sink {
    int (*begin)(void *arg, long long start, const char *etag /* "" if none */);
    int (*write)(void *arg, const void *data, size_t len);
    void *arg;
};

/*
 * GET url into sink from byte offset on (offset > 0: Range: bytes=offset-
 * and, when if_range is not NULL, If-Range: if_range; the server answers
 * 206 from there, or 200 with everything).  The reply's headers are filled
 * as by http_request; its body holds only what was not a 200/206 body (an
 * error document).  Returns like http_request: -1 with err when no
 * complete reply arrived (connection cut, a sink that aborted).
 */
int http_download(struct http_client *client, const char *url, long long offset,
                  const char *if_range, const struct http_sink *sink,
                  const struct http_progress *progress, struct http_reply *reply,
                  struct cli_error *err);

/* url with "name=value" appended as a query parameter (value escaped);
 * malloc'd, NULL when out of memory. */
char *http_add_query(const char *url, const char *name, const char *value);

#endif
