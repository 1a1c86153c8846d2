/*
 * request.h - one CIMI request and its response, independent of HTTP and of
 * the wire format.
 *
 * The HTTP layer (src/http/) fills a struct cimi_request from the HTTP
 * request, calls cimi_handle() and turns the struct cimi_response into bytes
 * with the chosen codec.  Everything below knows neither HTTP nor JSON/XML.
 */
#ifndef CIMID_REQUEST_H
#define CIMID_REQUEST_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "auth/auth.h"
#include "cimi/codec.h"
#include "cimi/model.h"
#include "store/store.h"

/* CIMI query parameters ($...); repeated $filter/$select/$expand merge. */
struct cimi_query {
    json_t *filters;      /* array of $filter texts (ANDed), never NULL */
    bool has_select;
    char *select;         /* merged comma list (heap, any length); NULL = empty */
    bool has_expand;
    char *expand;         /* merged comma list; "*" when given empty */
    long first;           /* 0 = absent */
    long last;            /* 0 = absent, -1 = before the first (nothing) */
    char *orderby;        /* merged comma list; NULL = absent */
};

struct cimi_request {
    const char *method;          /* "GET", "PUT", "POST", "DELETE", "HEAD" */
    const char *path;            /* below the base URI, no leading '/': "machines/1f..." */
    char base_uri[512];          /* absolute, ends in '/': "http://127.0.0.1:8080/cimi/" */
    struct cimi_query query;
    const char *body;            /* request body (may be NULL) */
    size_t body_len;
    const struct codec *in;      /* codec of the body (NULL if no body) */
    const char *if_match;        /* If-Match header or NULL */
    struct principal who;        /* authenticated user */
    struct store *st;            /* this thread's store connection */
    /* Collection reads (read.c sets listing): refresh hooks may keep what
     * they fetched for every row here (one hypervisor call per host instead
     * of one per row); read.c frees it with refresh_cache_free. */
    bool listing;
    void *refresh_cache;
    void (*refresh_cache_free)(void *cache);
    /* Ids (a JSON object used as a set) of the resources this request made
     * in its transaction that later creates in it may use while they are
     * CREATING: a System's members (resources/system_create.c); NULL = none. */
    json_t *building;
};

struct cimi_response {
    int status;                   /* HTTP status */
    json_t *doc;                  /* document to send (owned), NULL = no body */
    const struct cimi_type *type; /* type of doc (item type for collections) */
    bool collection;              /* doc is a collection */
    char location[768];           /* Location header or "" */
    char job_uri[768];            /* CIMI-Job-URI header or "" */
    char etag[64];                /* ETag header or "" */
    int retry_after;              /* Retry-After header in seconds, 0 = none */
    char allow[48];               /* Allow header of a 405: the methods the target answers */
};

/* Handle one request: route it, run it, fill resp (errors included). */
void cimi_handle(struct cimi_request *req, struct cimi_response *resp);

/* A top-level collection of t as the principal sees it, shaped by q. */
int cimi_read_collection(struct cimi_request *req, const struct cimi_type *t,
                         const struct cimi_query *q, json_t **out, struct cimi_error *err);

/* Turn an error into a response: a Job-shaped document with state FAILED,
 * returnCode = status and statusMessage = the message (DSP0263 4.2.2);
 * job_uri names the Job when one exists. */
void cimi_error_response(struct cimi_response *resp, const struct cimi_error *err,
                         const char *job_uri);

/* Parse one query parameter into q (called for every key=value pair, both
 * already percent-decoded); unknown keys are ignored. -1 with err 400 for a
 * malformed $first/$last or a $filter that is not valid UTF-8. */
int cimi_query_add(struct cimi_query *q, const char *key, const char *value,
                   struct cimi_error *err);
void cimi_query_init(struct cimi_query *q);
void cimi_query_free(struct cimi_query *q);

#endif
