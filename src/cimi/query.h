/*
 * query.h - the CIMI query parameters: $filter, $orderby, $first/$last,
 * $select (and the bookkeeping of struct cimi_query, see request.h).
 * $expand needs to resolve references and lives in handlers.c.
 */
#ifndef CIMID_QUERY_H
#define CIMID_QUERY_H

#include <jansson.h>
#include <stdbool.h>

#include "cimi/request.h"

/*
 * Filter, sort and slice the rendered items of a collection (array, owned by
 * the caller, replaced in place).  *count receives the number of items that
 * passed the filters (before $first/$last).  -1 with err 400 for a bad
 * $filter or $orderby.
 */
int query_collection(const struct cimi_query *q, const struct cimi_type *t, json_t *items,
                     long *count, struct cimi_error *err);

#define MAX_ORDER_KEYS 8

/* One key of $orderby ("name:desc"). */
struct order_key {
    char name[64];
    bool descending;
    enum cimi_kind kind;
};

/* Parse $orderby text into keys (at most MAX_ORDER_KEYS); -1 with err 400. */
int query_parse_orderby(const char *text, const struct cimi_type *t, struct order_key *keys,
                        int *nkeys, struct cimi_error *err);

/* Is name listed in a comma-separated list ("*" lists everything)? */
bool query_list_has(const char *list, const char *name);

/* Keep only the attributes listed in select (plus nothing else) in doc. */
void query_select(json_t *doc, const char *select);

#endif
