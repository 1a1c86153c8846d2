/*
 * codec_json.c - the CIMI 1.x JSON wire format.
 *
 * In memory a resource already is a jansson object in the JSON wire shape,
 * so encoding only puts the members in a stable order ("resourceURI" first,
 * then the common attributes, the type's attributes in table order,
 * "operations", and whatever else the document carries), drops empty values
 * (the spec forbids "", {} and [] on the wire) and pretty-prints.
 *
 * Decoding parses the body, checks that it is an object and that its
 * "resourceURI", when given, names the expected type, and removes it.  It
 * does not validate attributes: the generic validator does that for both
 * formats.
 */
#include "cimi/codec.h"

#include <stdlib.h>
#include <string.h>

#define TYPE_URI_MAX 256

/*
 * jansson's iteration functions take non-const pointers although they do not
 * modify the object; this is the one place the encoder casts const away.
 */
static json_t *unconst(const json_t *value)
{
    return (json_t *)value;
}

/* Number of members or items of an object or array. */
static size_t container_size(const json_t *value)
{
    return json_is_object(value) ? json_object_size(value) : json_array_size(value);
}

/*
 * A copy of value without empty strings, empty objects, empty arrays or
 * nulls at any depth.  Returns NULL when nothing is left (or on allocation
 * failure: *oom is then set).
 */
static json_t *prune_empty(const json_t *value, bool *oom)
{
    json_t *copy, *child;
    const char *key;
    json_t *member;
    size_t i;

    if (value == NULL || json_is_null(value))
        return NULL;
    if (json_is_string(value) && json_string_length(value) == 0)
        return NULL;
    if (json_is_object(value)) {
        copy = json_object();
        if (copy == NULL)
            goto nomem;
        json_object_foreach(unconst(value), key, member) {
            child = prune_empty(member, oom);
            if (child != NULL && json_object_set_new(copy, key, child) < 0)
                *oom = true;
        }
    } else if (json_is_array(value)) {
        copy = json_array();
        if (copy == NULL)
            goto nomem;
        for (i = 0; i < json_array_size(value); i++) {
            child = prune_empty(json_array_get(value, i), oom);
            if (child != NULL && json_array_append_new(copy, child) < 0)
                *oom = true;
        }
    } else {
        copy = json_deep_copy(value);
        if (copy == NULL)
            goto nomem;
        return copy;
    }
    if (*oom || container_size(copy) == 0) {
        json_decref(copy);
        return NULL;
    }
    return copy;
nomem:
    *oom = true;
    return NULL;
}

/* Copy doc[key] (pruned) into out[key] unless it is absent or empty. */
static void copy_member(json_t *out, const json_t *doc, const char *key, bool *oom)
{
    json_t *value;

    if (json_object_get(out, key) != NULL)
        return;
    value = prune_empty(json_object_get(doc, key), oom);
    if (value != NULL && json_object_set_new(out, key, value) < 0)
        *oom = true;
}

/* Copy the members of doc that out does not hold yet, in doc order. */
static void copy_remaining(json_t *out, const json_t *doc, bool *oom)
{
    const char *key;
    json_t *value;

    json_object_foreach(unconst(doc), key, value) {
        if (strcmp(key, "resourceURI") != 0)
            copy_member(out, doc, key, oom);
    }
}

/* A new object starting with "resourceURI" = type URI of t + suffix. */
static json_t *new_with_type_uri(const struct cimi_type *t, const char *suffix, bool *oom)
{
    char uri[TYPE_URI_MAX];
    json_t *out;

    out = json_object();
    if (out == NULL) {
        *oom = true;
        return NULL;
    }
    model_type_uri(t, suffix, uri, sizeof(uri));
    if (json_object_set_new(out, "resourceURI", json_string(uri)) < 0)
        *oom = true;
    return out;
}

/* One resource of type t in wire order: resourceURI, attributes, operations, rest. */
static json_t *order_resource(const json_t *doc, const struct cimi_type *t, bool *oom)
{
    const struct cimi_attr *a;
    json_t *out;

    out = new_with_type_uri(t, "", oom);
    if (out == NULL)
        return NULL;
    if (json_is_object(doc)) {
        for (size_t i = 0; (a = model_attr_at(t, i)) != NULL; i++)
            if (a->kind != K_OPERATIONS)
                copy_member(out, doc, a->name, oom);
        copy_member(out, doc, "operations", oom);
        copy_remaining(out, doc, oom);
    }
    return out;
}

/* The item array of a collection doc, each item ordered as a resource. */
static json_t *order_items(const json_t *items, const struct cimi_type *t, bool *oom)
{
    json_t *out, *item;

    out = json_array();
    if (out == NULL) {
        *oom = true;
        return NULL;
    }
    for (size_t i = 0; i < json_array_size(items); i++) {
        item = order_resource(json_array_get(items, i), t, oom);
        if (item != NULL && json_array_append_new(out, item) < 0)
            *oom = true;
    }
    return out;
}

/* A collection of t items: resourceURI, id, count, items, operations, rest. */
static json_t *order_collection(const json_t *doc, const struct cimi_type *t, bool *oom)
{
    const json_t *items = NULL;
    json_t *out, *count, *ordered;

    out = new_with_type_uri(t, "Collection", oom);
    if (out == NULL)
        return NULL;
    if (!json_is_object(doc))
        return out;
    if (t->json_items != NULL)
        items = json_object_get(doc, t->json_items);
    copy_member(out, doc, "id", oom);
    count = json_object_get(doc, "count");
    if (count == NULL)
        count = json_integer((json_int_t)json_array_size(items));
    else
        count = json_deep_copy(count);
    if (count == NULL || json_object_set_new(out, "count", count) < 0)
        *oom = true;
    if (json_array_size(items) > 0) {
        ordered = order_items(items, t, oom);
        if (ordered != NULL && json_object_set_new(out, t->json_items, ordered) < 0)
            *oom = true;
    }
    copy_member(out, doc, "operations", oom);
    copy_remaining(out, doc, oom);
    return out;
}

/* Serialize value pretty-printed, followed by a newline, into a malloc'd buffer. */
static char *dump_with_newline(const json_t *value, size_t *len)
{
    /* One serialization (json_dumpb(NULL) then json_dumpb ran it twice). */
    char *text = json_dumps(value, JSON_INDENT(2)), *buf;
    size_t size;

    if (text == NULL)
        return NULL;
    size = strlen(text);
    buf = realloc(text, size + 2);
    if (buf == NULL) {
        free(text);
        return NULL;
    }
    buf[size] = '\n';
    buf[size + 1] = '\0';
    if (len != NULL)
        *len = size + 1;
    return buf;
}

static char *json_encode(const json_t *doc, const struct cimi_type *t, bool collection,
                         size_t *len)
{
    bool oom = false;
    json_t *out;
    char *buf;

    if (t == NULL || t->name == NULL)
        return NULL; /* only named types have a wire form */
    if (collection)
        out = order_collection(doc, t, &oom);
    else
        out = order_resource(doc, t, &oom);
    if (out == NULL)
        return NULL;
    buf = oom ? NULL : dump_with_newline(out, len);
    json_decref(out);
    return buf;
}

/* True when uri is the type URI of t, or of t->name + "Create". */
static bool type_uri_matches(const char *uri, const struct cimi_type *t)
{
    char expected[TYPE_URI_MAX];

    if (strcmp(uri, model_type_uri(t, "", expected, sizeof(expected))) == 0)
        return true;
    return strcmp(uri, model_type_uri(t, "Create", expected, sizeof(expected))) == 0;
}

/* Check and remove "resourceURI"; -1 with err set when it names another type. */
static int check_resource_uri(json_t *doc, const struct cimi_type *t, struct cimi_error *err)
{
    const json_t *uri = json_object_get(doc, "resourceURI");
    char expected[TYPE_URI_MAX];

    if (uri == NULL)
        return 0;
    model_type_uri(t, "", expected, sizeof(expected));
    if (!json_is_string(uri))
        return err_set(err, 400, "resourceURI", "resourceURI must be the string %s", expected);
    if (!type_uri_matches(json_string_value(uri), t))
        return err_set(err, 400, "resourceURI", "resourceURI must be %s, got '%.200s'", expected,
                       json_string_value(uri));
    return json_object_del(doc, "resourceURI");
}

static json_t *json_decode(const char *body, size_t len, const struct cimi_type *t,
                           struct cimi_error *err)
{
    json_error_t jerr;
    json_t *doc;

    if (t == NULL || t->name == NULL) {
        err_set(err, 500, NULL, "no document type to decode");
        return NULL;
    }
    doc = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
    if (doc == NULL) {
        err_set(err, 400, NULL, "malformed JSON at line %d, column %d: %s", jerr.line,
                jerr.column, jerr.text);
        return NULL;
    }
    if (!json_is_object(doc)) {
        err_set(err, 400, NULL, "malformed JSON: the document must be an object");
        json_decref(doc);
        return NULL;
    }
    if (check_resource_uri(doc, t, err) < 0) {
        json_decref(doc);
        return NULL;
    }
    return doc;
}

const struct codec codec_json = {
    "json",
    "application/json",
    json_encode,
    json_decode,
};
