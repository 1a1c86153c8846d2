/*
 * discovery.h - finding everything from the CloudEntryPoint.
 *
 * The client never builds a URL: the entry point lists the collections,
 * a collection lists its items and its `add` operation, a resource lists
 * its `edit`, `delete` and action operations.  Users name collections by
 * their entry-point attribute or a friendly alias (machine, config, image,
 * template, job ...) and resources by id, by the last segment of the id, or
 * by name.
 */
#ifndef CIMI_CLI_DISCOVERY_H
#define CIMI_CLI_DISCOVERY_H

#include <jansson.h>

#include "cli/cli.h"

/* GET url as JSON.  2xx with a JSON object: 0 and *doc (a new reference);
 * an error reply or an unusable one: -1 with err. */
int disco_get(struct cli *cli, const char *url, json_t **doc, struct cli_error *err);

/* The CloudEntryPoint (fetched once; borrowed reference). */
int disco_cep(struct cli *cli, const json_t **cep, struct cli_error *err);

/* The collection a user names: its entry-point attribute and href (both
 * borrowed from the cached entry point). */
int disco_collection(struct cli *cli, const char *word, const char **attr, const char **href,
                     struct cli_error *err);

/* The items array of a collection document (borrowed), or NULL when it
 * holds none. */
json_t *disco_items(const json_t *collection);

/*
 * The item of the collection at coll_href that `word` names: a full URI,
 * the last path segment of an id, or a name (must be unique).  *item is the
 * item as listed (new reference).  label names the collection in messages.
 */
int disco_find(struct cli *cli, const char *coll_href, const char *label, const char *word,
               json_t **item, struct cli_error *err);

/* The full resource (GET of its id) that `word` names in the collection the
 * user calls coll_word. */
int disco_resource(struct cli *cli, const char *coll_word, const char *word, json_t **doc,
                   struct cli_error *err);

/* href of operation `name` of doc: "add", "edit", "delete" or an action
 * name ("start": rel ending in /action/start); NULL when not offered.
 * *rel (if rel is not NULL) is set to the operation's full rel. */
const char *disco_op(const json_t *doc, const char *name, const char **rel);

/* The short names of doc's operations, comma separated, into buf. */
void disco_ops_text(const json_t *doc, char *buf, size_t len);

/* A string member of doc, or NULL. */
const char *disco_str(const json_t *doc, const char *key);

/* The last path segment of a URI into buf ("" if none); returns buf. */
const char *disco_last_segment(const char *uri, char *buf, size_t len);

/* What to call a resource in messages: its name, else the id's last segment. */
const char *disco_label(const json_t *doc, char *buf, size_t len);

#endif
