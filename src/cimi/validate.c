/*
 * validate.c - generic request-body validation driven by the model tables.
 */
#include "cimi/validate.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

#define MAX_DEPTH 8

static int check_object(json_t *obj, const struct cimi_type *t, enum validate_mode mode,
                        const char *prefix, bool overrides, int depth, struct cimi_error *err);

static void attr_path(char *out, size_t len, const char *prefix, const char *name)
{
    snprintf(out, len, "%s%s%s", prefix, prefix[0] ? "." : "", name);
}

static bool valid_datetime(const char *s)
{
    int y, mo, d, h, mi;
    double sec;
    char rest[16] = "";

    if (sscanf(s, "%4d-%2d-%2dT%2d:%2d:%lf%15s", &y, &mo, &d, &h, &mi, &sec, rest) < 6)
        return false;
    return mo >= 1 && mo <= 12 && d >= 1 && d <= 31 && h <= 23 && mi <= 59 && sec < 61;
}

static bool valid_hex(const char *s)
{
    size_t n = strlen(s);

    if (n % 2 != 0)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!isxdigit((unsigned char)s[i]))
            return false;
    return true;
}

/* XML carries a property key in an attribute whose value is trimmed and
 * must not be empty; a key that cannot survive that is refused in JSON too. */
static bool valid_property_key(const char *key)
{
    size_t n = strlen(key);

    return n > 0 && !strchr(" \t\r\n", key[0]) && !strchr(" \t\r\n", key[n - 1]);
}

static int kind_error(struct cimi_error *err, const char *path, const char *expected)
{
    return err_set(err, 400, path, "attribute '%s' must be %s", path, expected);
}

/* A JSON integer (not a real, not a string) within the attribute's range. */
static int check_integer(const json_t *v, const struct cimi_attr *a, const char *path,
                         struct cimi_error *err)
{
    const struct cimi_range *r = model_range(a);

    if (json_is_integer(v) && json_integer_value(v) >= r->min && json_integer_value(v) <= r->max)
        return 0;
    return err_set(err, 400, path, "attribute '%s' must be an integer from %lld to %lld%s%s", path,
                   r->min, r->max, r->unit[0] ? " " : "", r->unit);
}

static int check_scalar(const json_t *v, const struct cimi_attr *a, const char *path,
                        struct cimi_error *err)
{
    switch (a->kind) {
    case K_STRING:
    case K_URI:
        return json_is_string(v) ? 0 : kind_error(err, path, "a string");
    case K_DATETIME:
        if (!json_is_string(v) || !valid_datetime(json_string_value(v)))
            return kind_error(err, path, "a dateTime such as 2026-01-31T12:00:00Z");
        return 0;
    case K_HEX:
        if (!json_is_string(v) || !valid_hex(json_string_value(v)))
            return kind_error(err, path, "hexadecimal bytes");
        return 0;
    case K_INTEGER:
        return check_integer(v, a, path, err);
    case K_BOOLEAN:
        return json_is_boolean(v) ? 0 : kind_error(err, path, "true or false");
    default:
        return 0;
    }
}

static int check_map(const json_t *v, const char *path, struct cimi_error *err)
{
    const char *key;
    json_t *value;

    if (!json_is_object(v))
        return kind_error(err, path, "an object of string values");
    json_object_foreach((json_t *)v, key, value) {
        if (!valid_property_key(key))
            return err_set(err, 400, path,
                           "property key '%.64s' of '%s' is empty or starts or ends with white "
                           "space", key, path);
        if (!json_is_string(value))
            return err_set(err, 400, path, "property '%s' of '%s' must be a string", key, path);
    }
    return 0;
}

static int check_array(json_t *v, const struct cimi_attr *a, enum validate_mode mode,
                       const char *path, int depth, struct cimi_error *err)
{
    size_t i;
    json_t *item;

    if (!json_is_array(v))
        return kind_error(err, path, "an array");
    json_array_foreach(v, i, item) {
        char item_path[256];
        snprintf(item_path, sizeof(item_path), "%s[%zu]", path, i);
        if (a->kind == K_STRING_ARRAY) {
            if (!json_is_string(item))
                return kind_error(err, item_path, "a string");
            continue;
        }
        if (!json_is_object(item))
            return kind_error(err, item_path, "an object");
        if (check_object(item, a->target, mode, item_path, false, depth + 1, err) != 0)
            return -1;
    }
    return 0;
}

static int check_ref(json_t *v, const struct cimi_attr *a, const char *path, int depth,
                     struct cimi_error *err)
{
    json_t *href;

    if (!json_is_object(v))
        return kind_error(err, path, "a reference {\"href\": ...} or a value");
    href = json_object_get(v, "href");
    if (href != NULL && !json_is_string(href))
        return kind_error(err, path, "a reference with a string href");
    /* By-value (no href): the target's required attributes are checked by
     * the resource that uses it; here only names and kinds. With an href the
     * other members are overrides and may be null to erase. */
    return check_object(v, a->target, VALIDATE_UPDATE, path, href != NULL, depth + 1, err);
}

static int check_member(json_t *obj, const char *name, json_t *v, const struct cimi_type *t,
                        enum validate_mode mode, const char *prefix, bool overrides, int depth,
                        struct cimi_error *err, bool *drop)
{
    const struct cimi_attr *a = model_attr(t, name);
    char path[256];

    (void)obj;
    attr_path(path, sizeof(path), prefix, name);
    *drop = false;
    if (strcmp(name, "operations") == 0 || (strcmp(name, "href") == 0 && prefix[0])) {
        *drop = strcmp(name, "operations") == 0;
        return 0;
    }
    if (a == NULL)
        return err_set(err, 400, path, "unknown attribute '%s'", path);
    if (json_is_null(v)) {
        *drop = !overrides;
        return 0;
    }
    if (a->flags & A_UNSUPPORTED)
        return err_set(err, 400, path, "attribute '%s' is not supported by this provider", path);
    if (a->flags & A_READONLY) {
        *drop = true;
        return 0;
    }
    switch (a->kind) {
    case K_MAP:
        return check_map(v, path, err);
    case K_ARRAY:
    case K_STRING_ARRAY:
        return check_array(v, a, mode, path, depth, err);
    case K_REF:
        return check_ref(v, a, path, depth, err);
    case K_COLLECTION:
        *drop = true;
        return 0;
    default:
        return check_scalar(v, a, path, err);
    }
}

static int check_object(json_t *obj, const struct cimi_type *t, enum validate_mode mode,
                        const char *prefix, bool overrides, int depth, struct cimi_error *err)
{
    const char *name;
    json_t *v, *tmp;
    const struct cimi_attr *a;

    if (depth > MAX_DEPTH)
        return err_set(err, 400, prefix, "document nested too deeply at '%s'", prefix);
    json_object_foreach_safe(obj, tmp, name, v) {
        bool drop;
        if (check_member(obj, name, v, t, mode, prefix, overrides, depth, err, &drop) != 0)
            return -1;
        if (drop)
            json_object_del(obj, name);
    }
    if (mode != VALIDATE_CREATE)
        return 0;
    for (size_t i = 0; (a = model_attr_at(t, i)) != NULL; i++) {
        char path[256];
        if (!(a->flags & A_REQUIRED) || a->kind == K_OPERATIONS)
            continue;
        if (json_object_get(obj, a->name) == NULL) {
            attr_path(path, sizeof(path), prefix, a->name);
            return err_set(err, 400, path, "missing required attribute '%s'", path);
        }
    }
    return 0;
}

int validate_document(json_t *doc, const struct cimi_type *t, enum validate_mode mode,
                      struct cimi_error *err)
{
    if (!json_is_object(doc))
        return err_set(err, 400, NULL, "the request body must be a %s document", t->name);
    return check_object(doc, t, mode, "", false, 0, err);
}
