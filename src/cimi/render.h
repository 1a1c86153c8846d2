/*
 * render.h - turning stored rows into the documents clients see, and back.
 *
 * Stored documents hold relative references ("machines/<uuid>"); clients see
 * absolute URIs under the base URI of their request.  Rendering also adds the
 * references of sub-collections and the operations allowed now for this
 * principal.
 */
#ifndef CIMID_RENDER_H
#define CIMID_RENDER_H

#include <jansson.h>

#include "cimi/request.h"
#include "store/store.h"

/* Prefix every relative "id" and "href" in doc (recursively) with base. */
void render_absolutize(json_t *doc, const char *base);

/* Replace every "href" in doc that names one of our resources by its path
 * below the base URI, so stored documents do not depend on the host name a
 * client used. Foreign hrefs are kept as they are. */
void render_relativize(struct cimi_request *req, json_t *doc);

/* A new document for row (of type t) as the principal of req sees it now.
 * It is made of row->doc without a copy: row->doc is refreshed, its URIs are
 * made absolute, and it shares its members with the rendering; clear the row
 * next (store_row_clear), do not store or render it again. */
json_t *render_row(struct cimi_request *req, const struct cimi_type *t, struct store_row *row);
/* The same for a row whose runtime attributes were refreshed already
 * (collections refresh every row before $filter, render only the page). */
json_t *render_refreshed_row(struct cimi_request *req, const struct cimi_type *t,
                             const struct store_row *row);

/* May the principal see / change this row? */
bool render_visible(const struct cimi_request *req, const struct store_row *row);
bool render_writable(const struct cimi_request *req, const struct store_row *row);

/* An absolute URI for a relative path. */
void render_uri(const struct cimi_request *req, const char *path, char *out, size_t len);

#endif
