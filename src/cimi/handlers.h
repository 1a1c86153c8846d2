/*
 * handlers.h - what the three parts of the generic CIMI handlers share:
 * route.c (paths and dispatch), read.c (GET: resources, collections,
 * queries) and write.c (create, update, delete, actions).  Internal to
 * src/cimi.
 */
#ifndef CIMID_HANDLERS_H
#define CIMID_HANDLERS_H

#include <jansson.h>
#include <stdbool.h>

#include "cimi/request.h"

struct resource_action;

/* What a path names: a top-level type, maybe an item, maybe a sub-collection. */
struct target {
    const struct cimi_type *type;     /* type of the item(s) */
    bool collection;
    char parent[256];                 /* parent path for sub-collections, "" at top level */
    char path[256];                   /* the path itself */
    char item[256];                   /* item path (for actions: the resource) */
    char action[64];                  /* action name when the path ends in one */
};

/* Does an If-Match header value (NULL when absent) allow changing a resource
 * whose ETag is "version"?  "*" does, and so does any value containing the
 * quoted version. */
bool if_match_allows(const char *if_match, long long version);

/* What a path below the base URI names; -1 with err 404 if nothing. */
int route_resolve(const char *path, struct target *tg, struct cimi_error *err);
/* 403 when the principal may not use the collection path is in (Host). */
int route_check_access(const struct cimi_request *req, const char *path, struct cimi_error *err);

/* Put doc (owned) into resp with a status. */
void handlers_set_doc(struct cimi_response *resp, int status, json_t *doc,
                      const struct cimi_type *t, bool collection);

/* GET / HEAD of any path. */
void handle_read(struct cimi_request *req, struct cimi_response *resp);
/* One resource as the principal sees it (ETag version into *version if not NULL). */
int read_item(struct cimi_request *req, const struct target *tg, json_t **doc,
              long long *version, struct cimi_error *err);

/* POST to a collection, top-level or sub-collection (tg->parent). */
void create_item(struct cimi_request *req, const struct target *tg, struct cimi_response *resp);
void update_item(struct cimi_request *req, const struct target *tg, struct cimi_response *resp);
void delete_item(struct cimi_request *req, const struct target *tg, struct cimi_response *resp);
void run_action(struct cimi_request *req, const struct target *tg, struct cimi_response *resp);
/* POST of an Action to a top-level collection (tg->action names it, or the
 * Action document does): resource_ops.collection_actions. */
void run_collection_action(struct cimi_request *req, const struct target *tg,
                           struct cimi_response *resp);
/* The collection action name of type t, or NULL. */
const struct resource_action *collection_action(const struct cimi_type *t, const char *name);

#endif
