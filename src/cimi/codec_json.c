/*
 * codec_json.c - the CIMI 1.x JSON wire format.
 *
 * In memory a resource already is a jansson object in the JSON wire shape,
 * so encoding only puts the members in a stable order ("resourceURI" first,
 * then the common attributes, the type's attributes in table order,
 * "operations", and whatever else the document carries), drops empty values
 * (the spec forbids "", {} and [] on the wire) and pretty-prints (two
 * spaces: people read these documents with curl as often as programs do).
 *
 * Decoding parses the body, checks that it is an object and that its
 * "resourceURI", when given, names the expected type, and removes it.  It
 * does not validate attributes: the generic validator does that for both
 * formats.
 */
#include "cimi/codec.h"
#include "util/grow.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TYPE_URI_MAX 256

/*
 * The encoder writes the text directly (no ordered copy of the document,
 * no jansson serializer): byte for byte what json_dumps(JSON_INDENT(2))
 * wrote for the ordered, pruned copy it replaces.  A GET spends most of its
 * time here otherwise.
 */

#define MAX_DEPTH 128     /* deeper documents are refused (no cimid document comes close) */

/* The text being written. */
struct out {
    char *buf;
    size_t len, cap;
    bool failed;          /* out of memory or too deep: the encoding is dropped */
};

/* jansson's iteration functions take non-const pointers although they do not
 * modify the object; this is the one place the encoder casts const away. */
static json_t *unconst(const json_t *value)
{
    return (json_t *)value;
}

static void put(struct out *o, const char *text, size_t n)
{
    if (o->failed)
        return;
    /* + the final newline and NUL */
    if (grow_buffer(&o->buf, &o->cap, o->len + n + 2) != 0) {
        o->failed = true;
        return;
    }
    memcpy(o->buf + o->len, text, n);
    o->len += n;
}

/* A newline and two spaces per level. */
static void put_indent(struct out *o, int depth)
{
    static const char spaces[] = "                                ";
    size_t n = 2 * (size_t)depth;

    put(o, "\n", 1);
    while (n > 0) {
        size_t k = n < sizeof(spaces) - 1 ? n : sizeof(spaces) - 1;
        put(o, spaces, k);
        n -= k;
    }
}

/* A quoted string, escaped as jansson escapes it: \" \\ \b \f \n \r \t and
 * \u00XX for the other control characters; the rest as it is (UTF-8). */
static void put_string(struct out *o, const char *s, size_t n)
{
    size_t start = 0;

    put(o, "\"", 1);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        char seq[8];
        const char *esc;
        if (c >= 0x20 && c != '"' && c != '\\')
            continue;
        put(o, s + start, i - start);
        start = i + 1;
        switch (c) {
        case '"': esc = "\\\""; break;
        case '\\': esc = "\\\\"; break;
        case '\b': esc = "\\b"; break;
        case '\f': esc = "\\f"; break;
        case '\n': esc = "\\n"; break;
        case '\r': esc = "\\r"; break;
        case '\t': esc = "\\t"; break;
        default:
            snprintf(seq, sizeof(seq), "\\u%04X", (unsigned)c);
            esc = seq;
        }
        put(o, esc, strlen(esc));
    }
    put(o, s + start, n - start);
    put(o, "\"", 1);
}

static void put_integer(struct out *o, json_int_t v)
{
    char digits[24];
    int n = snprintf(digits, sizeof(digits), "%" JSON_INTEGER_FORMAT, v);

    put(o, digits, (size_t)n);
}

/* A real as jansson writes it (its own formatting: asked of it). */
static void put_real(struct out *o, const json_t *v)
{
    char *text = json_dumps(v, JSON_ENCODE_ANY);

    if (text == NULL) {
        o->failed = true;
        return;
    }
    put(o, text, strlen(text));
    free(text);
}

static bool put_value(struct out *o, const json_t *v, int depth);

/* `"key": value` as the next member of an object at depth - 1, after a
 * comma unless it is the first; nothing when the value is empty (the spec
 * forbids "", {} and [] on the wire, and nulls say nothing). */
static void put_member(struct out *o, const char *key, const json_t *v, int depth, bool *first)
{
    size_t mark = o->len;

    if (v == NULL)
        return;
    if (!*first)
        put(o, ",", 1);
    put_indent(o, depth);
    put_string(o, key, strlen(key));
    put(o, ": ", 2);
    if (put_value(o, v, depth))
        *first = false;
    else if (!o->failed)
        o->len = mark;
}

/* Close an object or array opened at depth; false (and nothing written)
 * when it got no member. */
static bool close_container(struct out *o, size_t mark, bool empty, int depth, const char *end)
{
    if (empty) {
        if (!o->failed)
            o->len = mark;
        return false;
    }
    put_indent(o, depth);
    put(o, end, 1);
    return true;
}

/* Write v at depth; false when it is empty at every depth (nothing written). */
static bool put_value(struct out *o, const json_t *v, int depth)
{
    size_t mark = o->len;
    bool first = true;
    const char *key;
    json_t *member;
    size_t i;

    if (depth > MAX_DEPTH) {
        o->failed = true;
        return false;
    }
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        put(o, "{", 1);
        json_object_foreach(unconst(v), key, member)
            put_member(o, key, member, depth + 1, &first);
        return close_container(o, mark, first, depth, "}");
    case JSON_ARRAY:
        put(o, "[", 1);
        json_array_foreach(unconst(v), i, member) {
            size_t item_mark = o->len;
            if (!first)
                put(o, ",", 1);
            put_indent(o, depth + 1);
            if (put_value(o, member, depth + 1))
                first = false;
            else if (!o->failed)
                o->len = item_mark;
        }
        return close_container(o, mark, first, depth, "]");
    case JSON_STRING:
        if (json_string_length(v) == 0)
            return false;
        put_string(o, json_string_value(v), json_string_length(v));
        return true;
    case JSON_INTEGER:
        put_integer(o, json_integer_value(v));
        return true;
    case JSON_REAL:
        put_real(o, v);
        return true;
    case JSON_TRUE:
        put(o, "true", 4);
        return true;
    case JSON_FALSE:
        put(o, "false", 5);
        return true;
    default:
        return false;  /* null */
    }
}

/* "resourceURI": type URI of t + suffix, the first member. */
static void put_type_uri(struct out *o, const struct cimi_type *t, const char *suffix, int depth)
{
    char uri[TYPE_URI_MAX];

    model_type_uri(t, suffix, uri, sizeof(uri));
    put(o, "{", 1);
    put_indent(o, depth + 1);
    put_string(o, "resourceURI", strlen("resourceURI"));
    put(o, ": ", 2);
    put_string(o, uri, strlen(uri));
}

/* Is key an attribute of t that the resource order writes before the rest? */
static bool is_ordered_attr(const struct cimi_type *t, const char *key)
{
    if (strcmp(key, "operations") == 0 || strcmp(key, "resourceURI") == 0)
        return true;
    if (t->common)
        for (const struct cimi_attr *a = cimi_common_attrs; a->name; a++)
            if (a->kind != K_OPERATIONS && strcmp(a->name, key) == 0)
                return true;
    for (const struct cimi_attr *a = t->attrs; a->name; a++)
        if (a->kind != K_OPERATIONS && strcmp(a->name, key) == 0)
            return true;
    return false;
}

/* One resource of type t at depth, in wire order: resourceURI, the
 * attributes in table order, operations, then the rest in document order.
 * (No type lists an attribute twice: tests/unit/test_codec.c checks.) */
static void put_resource(struct out *o, const json_t *doc, const struct cimi_type *t, int depth)
{
    bool first = false;  /* resourceURI is written */
    const char *key;
    json_t *value;

    put_type_uri(o, t, "", depth);
    if (json_is_object(doc)) {
        if (t->common)
            for (const struct cimi_attr *a = cimi_common_attrs; a->name; a++)
                if (a->kind != K_OPERATIONS)
                    put_member(o, a->name, json_object_get(doc, a->name), depth + 1, &first);
        for (const struct cimi_attr *a = t->attrs; a->name; a++)
            if (a->kind != K_OPERATIONS)
                put_member(o, a->name, json_object_get(doc, a->name), depth + 1, &first);
        put_member(o, "operations", json_object_get(doc, "operations"), depth + 1, &first);
        json_object_foreach(unconst(doc), key, value)
            if (!is_ordered_attr(t, key))
                put_member(o, key, value, depth + 1, &first);
    }
    put_indent(o, depth);
    put(o, "}", 1);
}

/* A collection of t items: resourceURI, id, count, items, operations, rest. */
static void put_collection(struct out *o, const json_t *doc, const struct cimi_type *t)
{
    const json_t *items = NULL, *count;
    bool first = false;
    const char *key;
    json_t *value, *item;
    size_t i;

    put_type_uri(o, t, "Collection", 0);
    if (!json_is_object(doc)) {
        put(o, "\n}", 2);
        return;
    }
    if (t->json_items != NULL)
        items = json_object_get(doc, t->json_items);
    put_member(o, "id", json_object_get(doc, "id"), 1, &first);
    count = json_object_get(doc, "count");
    put(o, ",", 1);
    put_indent(o, 1);
    put_string(o, "count", 5);
    put(o, ": ", 2);
    if (json_is_integer(count))
        put_integer(o, json_integer_value(count));
    else if (count == NULL)
        put_integer(o, (json_int_t)json_array_size(items));
    else if (!put_value(o, count, 1))
        put(o, "null", 4);
    if (json_array_size(items) > 0) {
        put(o, ",", 1);
        put_indent(o, 1);
        put_string(o, t->json_items, strlen(t->json_items));
        put(o, ": [", 3);
        json_array_foreach(unconst(items), i, item) {
            if (i > 0)
                put(o, ",", 1);
            put_indent(o, 2);
            put_resource(o, item, t, 2);
        }
        put_indent(o, 1);
        put(o, "]", 1);
    }
    put_member(o, "operations", json_object_get(doc, "operations"), 1, &first);
    json_object_foreach(unconst(doc), key, value) {
        if (strcmp(key, "resourceURI") == 0 || strcmp(key, "id") == 0 ||
            strcmp(key, "count") == 0 || strcmp(key, "operations") == 0 ||
            (t->json_items != NULL && strcmp(key, t->json_items) == 0 &&
             json_array_size(items) > 0))
            continue;
        put_member(o, key, value, 1, &first);
    }
    put_indent(o, 0);
    put(o, "}", 1);
}

static char *json_encode(const json_t *doc, const struct cimi_type *t, bool collection,
                         size_t *len)
{
    struct out o = {NULL, 0, 0, false};

    if (t == NULL || t->name == NULL)
        return NULL; /* only named types have a wire form */
    if (collection)
        put_collection(&o, doc, t);
    else
        put_resource(&o, doc, t, 0);
    put(&o, "\n", 1);
    if (o.failed) {
        free(o.buf);
        return NULL;
    }
    o.buf[o.len] = '\0';
    if (len != NULL)
        *len = o.len;
    return o.buf;
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

/* The member whose value ends before byte pos of body: "capacity" in
 * {"capacity": 99999999999999999999}; "" when there is none. */
static void member_before(const char *body, size_t pos, char *name, size_t len)
{
    size_t end = pos, start;

    name[0] = '\0';
    while (end > 0 && body[end - 1] != ':')
        end--;
    if (end-- == 0)
        return;
    while (end > 0 && strchr(" \t\r\n", body[end - 1]) != NULL)
        end--;
    if (end == 0 || body[--end] != '"')
        return;
    for (start = end; start > 0 && body[start - 1] != '"'; start--)
        ;
    if (start > 0)
        snprintf(name, len, "%.*s", (int)(end - start), body + start);
}

/* 400 for a body jansson refused; a number it cannot hold is named by its
 * attribute, like any other number out of range. */
static void malformed(const char *body, size_t len, const json_error_t *jerr,
                      struct cimi_error *err)
{
    char name[128];

    if (json_error_code(jerr) == json_error_numeric_overflow) {
        member_before(body, (size_t)jerr->position < len ? (size_t)jerr->position : len, name,
                      sizeof(name));
        if (name[0] != '\0') {
            err_set(err, 400, name, "attribute '%s' is out of range: %s", name, jerr->text);
            return;
        }
    }
    err_set(err, 400, NULL, "malformed JSON at line %d, column %d: %s", jerr->line, jerr->column,
            jerr->text);
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
        malformed(body, len, &jerr, err);
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
