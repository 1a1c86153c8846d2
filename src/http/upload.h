/*
 * upload.h - Package uploads: a POST of an OVA's bytes to the packages
 * collection, streamed to a temporary file as libmicrohttpd hands the body
 * over (never held in memory, not part of --max-body or the body budget),
 * limited by --max-upload and the tenant's package quota (what its Packages
 * hold and what its uploads under way have received), and made a Package
 * when the body is complete (resources/package.h).
 *
 * server.c decides on the first call (headers only, after admission) with
 * upload_wanted, starts with upload_begin (413 for an announced length over
 * a limit: the body is never read), hands every chunk to upload_write and
 * ends with upload_finish; upload_free removes whatever is left of an
 * upload that did not finish (interrupted, refused).
 */
#ifndef CIMID_UPLOAD_H
#define CIMID_UPLOAD_H

#include <microhttpd.h>
#include <stdbool.h>
#include <stddef.h>

#include "auth/auth.h"
#include "http/deadline.h"
#include "store/store.h"
#include "util/error.h"

/* An upload must deliver this much within every --connection-timeout
 * (each such step restarts the connection's deadline). */
#define UPLOAD_PROGRESS_BYTES (1 << 20)

struct upload;

/* Is this request an upload: POST to <prefix>/packages with an OVA's media
 * type (application/x-tar, application/ova, application/octet-stream)? */
bool upload_wanted(struct MHD_Connection *conn, const char *method, const char *url,
                   const char *prefix);
/* Start an upload for who; announced = Content-Length, -1 when chunked.
 * 0, or -1 with err (413 over --max-upload or the quota, 5xx). */
int upload_begin(const struct principal *who, long long announced, struct upload **out,
                 struct cimi_error *err);
/* Append the chunk of *size bytes to *u's file (then *size = 0); every
 * UPLOAD_PROGRESS_BYTES restart the connection's deadline d.  0, or -1 with
 * err (413 past a limit, 5xx) when *u is freed (its file removed) and NULL. */
int upload_write(struct upload **u, const char *data, size_t *size, struct deadline *d,
                 struct cimi_error *err);
/* The body is complete: the Package is stored (name from the query's
 * ?name=, optional); its id ("packages/<uuid>") into id.  -1 with err (400
 * empty, 413, 5xx): nothing left behind. */
int upload_finish(struct upload *u, struct MHD_Connection *conn, const struct principal *who,
                  struct store *st, char *id, size_t id_len, struct cimi_error *err);
/* Free u, removing its temporary file unless upload_finish stored it. */
void upload_free(struct upload *u);

#endif
