/*
 * codec.h - a wire format (JSON or XML) as a table of function pointers.
 *
 * The rest of the code holds resources as jansson objects in the JSON wire
 * shape (see model.h) and never knows which format a client speaks: the HTTP
 * layer picks a codec from Content-Type / Accept / $format and calls it.
 */
#ifndef CIMID_CODEC_H
#define CIMID_CODEC_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "cimi/model.h"
#include "util/error.h"

struct codec {
    const char *name;        /* "json" or "xml" ($format value) */
    const char *media_type;  /* "application/json" or "application/xml" */

    /*
     * Serialize a resource of type t, or (collection == true) a collection of
     * t items.  A collection doc is {"id", "count", <t->json_items>: [...],
     * "operations": [...]}.  The doc already carries absolute URIs and its
     * "operations"; the codec adds what the format needs (JSON "resourceURI",
     * the XML namespace and element order).  Returns a malloc'd
     * NUL-terminated buffer and its length, or NULL on allocation failure.
     */
    char *(*encode)(const json_t *doc, const struct cimi_type *t, bool collection, size_t *len);

    /*
     * Parse a request body that should hold a document of type t.  Returns a
     * new jansson object in the JSON wire shape, or NULL with err set to 400
     * (malformed document, wrong root type, value of the wrong kind; the
     * message names the offending attribute or value).  "resourceURI" is
     * checked against t and removed.  XML roots named t->name or
     * t->name + "Create" (any case) are accepted, with or without the CIMI
     * namespace; string values are trimmed of surrounding white space.
     */
    json_t *(*decode)(const char *body, size_t len, const struct cimi_type *t,
                      struct cimi_error *err);
};

extern const struct codec codec_json;
extern const struct codec codec_xml;

#endif
