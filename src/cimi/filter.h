/*
 * filter.h - the CIMI $filter expression language.
 *
 * Grammar (DSP0263 4.1.6.1):
 *   Filter    := AndExpr ( "or" Filter )*
 *   AndExpr   := Comp ( "and" AndExpr )*
 *   Comp      := Attribute Op Value | Value Op Attribute | PropExpr | "(" Filter ")"
 *   Op        := "<" | "<=" | "=" | ">=" | ">" | "!="
 *   Value     := Int | Date | String | Bool       (String: '...' or "...", backslash escapes)
 *   PropExpr  := "property[" String "]" Op String
 * Operators by type: integers and dates all six; strings, booleans and refs only = and !=.
 */
#ifndef CIMID_FILTER_H
#define CIMID_FILTER_H

#include <jansson.h>
#include <stdbool.h>

#include "cimi/model.h"
#include "util/error.h"

struct filter;

/*
 * Parse text (already URL-decoded) against the item type t.  Attribute names
 * must be attributes of t (model_attr); comparing a string with < is an
 * error.  Returns NULL with err set to 400 naming the bad token and its
 * position.  "property" is reserved for PropExpr.
 */
struct filter *filter_parse(const char *text, const struct cimi_type *t, struct cimi_error *err);

/* Does item (a JSON-wire-shaped resource of type t) satisfy f?  A missing
 * attribute never compares equal (so `a!=x` is true when a is absent). */
bool filter_match(const struct filter *f, const json_t *item);

/*
 * The same evaluation on an item seen through a function instead of a
 * document (the store's index of rows, read.c): text gives the value of
 * attribute a as text (strings, URIs, hexBinary; dateTimes as written;
 * references as their href), or false when the item has none.  Only for
 * filters whose attributes are all of those kinds (filter_names_only).
 */
typedef bool (*filter_text_fn)(void *ctx, const struct cimi_attr *a, const char **text,
                               size_t *len);
bool filter_match_text(const struct filter *f, filter_text_fn text, void *ctx);

/* Does f compare only attributes for which named() is true (and no
 * property[...])? */
bool filter_names_only(const struct filter *f, bool (*named)(const struct cimi_attr *a));

void filter_free(struct filter *f);

/*
 * Compare two JSON values of one attribute kind for $orderby: <0, 0, >0.
 * Missing (NULL) sorts first; booleans false < true; integers numerically;
 * dateTimes by instant; strings bytewise; refs by href.
 */
int filter_compare_values(const json_t *a, const json_t *b, enum cimi_kind kind);
/* The same on values given as text (NUL-terminated; NULL = missing; see
 * filter_text_fn). */
int filter_compare_texts(const char *a, const char *b, enum cimi_kind kind);

#endif
