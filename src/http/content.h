/*
 * content.h - a Package's bytes: GET and HEAD of
 * <prefix>/packages/{uuid}/content, streamed from its file with
 * Content-Length, ETag (the sha256), Accept-Ranges: bytes; one Range gives
 * 206 with Content-Range, an unsatisfiable one 416 (several ranges: the
 * whole content, 200).  Authenticated and admitted like every request
 * (server.c), tenant-checked by resources/package.h (404 for what the
 * principal may not see, 409 while the Package is not AVAILABLE).
 */
#ifndef CIMID_CONTENT_H
#define CIMID_CONTENT_H

#include <microhttpd.h>
#include <stdbool.h>
#include <stddef.h>

#include "auth/auth.h"
#include "http/deadline.h"
#include "store/store.h"
#include "util/error.h"

/* Is this a GET or HEAD of <prefix>/packages/{id}/content?  The package's
 * path ("packages/{id}") into path. */
bool content_wanted(const char *method, const char *url, const char *prefix, char *path,
                    size_t path_len);
/* The response for the package at path, for who on st (a read transaction
 * may be open), with its status; the sending keeps the connection's
 * deadline d moving while at least a MiB goes out per timeout.  NULL with
 * err when there is nothing to send (404, 409, 500). */
struct MHD_Response *content_response(struct MHD_Connection *conn, const struct principal *who,
                                      struct store *st, const char *path, struct deadline *d,
                                      unsigned int *status, struct cimi_error *err);

#endif
