/*
 * fuzz_route.c - libFuzzer harness for the URL: the path router
 * (route_resolve in src/cimi/route.c), the CIMI query parameters
 * (cimi_query_add, query_collection, query_select, query_list_has in
 * src/cimi/query.c) and href-to-path resolution (resource_href_path in
 * src/resources/common.c).
 *
 * The input is a request target as it appears on the HTTP request line
 * ("/cimi/machines?$filter=cpu%3E1&$orderby=name:desc").  libmicrohttpd
 * splits it (and turns '+' in the query into spaces), and cimid decodes
 * the parts with url_decode (src/http/urldecode.c, refusing %00, malformed
 * escapes and invalid UTF-8 with 400); split_target() and split_query() do
 * the same so the code under test gets what it gets in the daemon.  A path that names a
 * collection is then listed from sample items with the parsed query; a path
 * that names a resource gets $select and $expand applied to a sample item.
 * The raw input is also resolved as an href, as request bodies carry them.
 *
 * Checks beyond the sanitizers: errors carry the right status (404 for
 * paths, 400 for queries), a resolved target names a type and exactly the
 * path asked for (its item, parent and action are that path's segments, not
 * truncations), and the listed count is at least the number of items
 * returned.
 */
#include <jansson.h>

#include "cimi/handlers.h"
#include "cimi/query.h"
#include "fuzz_common.h"
#include "http/negotiate.h"
#include "http/urldecode.h"
#include "resources/resource.h"

#define CIMI_PREFIX "/cimi"

static json_t *sample_items;

static const char *const sample_items_text =
    "[{\"id\": \"http://h/cimi/machines/1\", \"name\": \"web\", \"state\": \"STARTED\","
    "  \"cpu\": 2, \"memory\": 4096, \"created\": \"2012-01-01T12:00:00Z\","
    "  \"latestSnapshot\": {\"href\": \"http://h/cimi/machineImages/7\"},"
    "  \"disks\": {\"href\": \"http://h/cimi/machines/1/disks\"},"
    "  \"properties\": {\"owner\": \"bob\"},"
    "  \"operations\": [{\"rel\": \"edit\", \"href\": \"x\"}]},"
    " {\"id\": \"http://h/cimi/machines/2\", \"name\": \"db\", \"state\": \"STOPPED\","
    "  \"cpu\": 8, \"memory\": 1024, \"created\": \"2013-01-01T00:00:00+01:00\","
    "  \"returnCode\": 0, \"progress\": 50, \"key\": \"a1\", \"typeURI\": \"http://t\"},"
    " {\"id\": \"http://h/cimi/jobs/3\", \"name\": null, \"cpu\": \"many\", \"created\": 5,"
    "  \"timeOfStatusChange\": \"2013-03-10T23:30:00-08:00\", \"imageLocation\": {}},"
    " {}]";

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    sample_items = json_loads(sample_items_text, 0, NULL);
    FUZZ_ASSERT(json_is_array(sample_items));
    return 0;
}

/* '+' means space in a query string (MHD_unescape_plus). */
static void unescape_plus(char *s)
{
    for (; *s; s++)
        if (*s == '+')
            *s = ' ';
}

/* One "key[=value]" of the query, decoded like the daemon, into q. */
static void add_argument(char *arg, const char *end, struct cimi_query *q, bool *failed)
{
    char *equals = memchr(arg, '=', (size_t)(end - arg));
    char *key, *value;
    const char *why;
    struct cimi_error err;

    if (equals != NULL) {
        *equals = '\0';
        unescape_plus(equals + 1);
    }
    unescape_plus(arg);
    key = url_decode(arg, &why);
    value = key != NULL ? url_decode(equals != NULL ? equals + 1 : "", &why) : NULL;
    if (value == NULL) {
        FUZZ_ASSERT(why != NULL && why[0] != '\0');
        *failed = true;       /* the daemon answers 400 */
    } else if (strcmp(key, "$format") == 0) {
        if (negotiate_reply(value, NULL, &err) == NULL)
            FUZZ_ASSERT(err.status == 400);
    } else if (!*failed && cimi_query_add(q, key, value, &err) != 0) {
        FUZZ_ASSERT(err.status == 400);
        *failed = true;
    }
    free(key);
    free(value);
}

/* Split "a=1&b&c=2" (modified in place) into q; false if a parameter is bad. */
static bool split_query(char *args, struct cimi_query *q)
{
    bool failed = false;

    while (*args) {
        char *amper = strchr(args, '&');
        char *end = amper ? amper : args + strlen(args);

        *end = '\0';
        add_argument(args, end, q, &failed);
        if (amper == NULL)
            break;
        args = amper + 1;
    }
    return !failed;
}

/* List the sample items as the collection of t with query q. */
static void list_collection(const struct cimi_query *q, const struct cimi_type *t)
{
    json_t *items = json_deep_copy(sample_items);
    struct cimi_error err;
    long count = -1;
    size_t i;
    json_t *item;

    if (items == NULL)
        return;
    if (query_collection(q, t, items, &count, &err) != 0) {
        FUZZ_ASSERT(err.status == 400 || err.status == 500);
    } else {
        FUZZ_ASSERT(count >= 0 && (size_t)count >= json_array_size(items));
        json_array_foreach(items, i, item)
            if (q->has_select)
                query_select(item, q->select);
    }
    json_decref(items);
}

/* Shape one sample item of t with $select and $expand. */
static void shape_item(const struct cimi_query *q, const struct cimi_type *t)
{
    json_t *doc = json_deep_copy(json_array_get(sample_items, 0));
    const struct cimi_attr *a;

    if (doc == NULL)
        return;
    for (size_t i = 0; (a = model_attr_at(t, i)) != NULL; i++)
        if (q->has_expand)
            (void)query_list_has(q->expand, a->name);
    if (q->has_select)
        query_select(doc, q->select);
    json_decref(doc);
}

/* Does path start with prefix, followed by the end or a '/'? */
static bool starts_with_segments(const char *path, const char *prefix)
{
    size_t n = strlen(prefix);

    return strncmp(path, prefix, n) == 0 && (path[n] == '\0' || path[n] == '/');
}

/* A resolved target must name exactly the path, never a truncation of it.
 * (One trailing '/' is allowed: "machines/" is the collection.) */
static void check_target(const char *path, const struct target *tg)
{
    size_t n = strlen(path), a = strlen(tg->action);

    if (n > 0 && path[n - 1] == '/')
        n--;

    FUZZ_ASSERT(tg->type != NULL);
    FUZZ_ASSERT(strcmp(tg->path, path) == 0);
    FUZZ_ASSERT(tg->item[0] == '\0' || starts_with_segments(path, tg->item));
    FUZZ_ASSERT(tg->parent[0] == '\0' || starts_with_segments(tg->item, tg->parent));
    FUZZ_ASSERT(a == 0 ||
                (a < n && path[n - a - 1] == '/' && strncmp(path + n - a, tg->action, a) == 0));
}

/* Route a decoded path below the base URI and serve it from the samples. */
static void route_path(const char *path, const struct cimi_query *q, bool query_ok)
{
    struct target tg;
    struct cimi_error err;

    if (path[0] == '\0' || strcmp(path, "cloudEntryPoint") == 0)
        return;
    if (route_resolve(path, &tg, &err) != 0) {
        FUZZ_ASSERT(err.status == 404);
        return;
    }
    check_target(path, &tg);
    if (!query_ok)
        return;
    if (tg.collection)
        list_collection(q, tg.type);
    else if (tg.action[0] == '\0')
        shape_item(q, tg.type);
}

/* The raw input as an href in a request body, then routed. */
static void resolve_href(const char *href)
{
    struct cimi_request req;
    struct cimi_error err;
    struct target tg;
    char path[512];

    memset(&req, 0, sizeof(req));
    if (resource_href_path(&req, href, "href", path, sizeof(path), &err) != 0) {
        FUZZ_ASSERT(err.status == 400);
        return;
    }
    if (route_resolve(path, &tg, &err) != 0)
        FUZZ_ASSERT(err.status == 404);
    else
        check_target(path, &tg);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *target = fuzz_cstring(data, size);
    struct cimi_query q;
    char *question, *path, *decoded;
    const char *why;
    bool query_ok = true;

    if (target == NULL)
        return 0;
    resolve_href(target);
    cimi_query_init(&q);
    question = strchr(target, '?');
    if (question != NULL) {
        *question = '\0';
        query_ok = split_query(question + 1, &q);
    }
    decoded = url_decode(target, &why);
    if (decoded != NULL &&
        (strcmp(decoded, CIMI_PREFIX) == 0 || strncmp(decoded, CIMI_PREFIX "/", 6) == 0)) {
        path = decoded[strlen(CIMI_PREFIX)] == '/' ? decoded + strlen(CIMI_PREFIX) + 1 : "";
        route_path(path, &q, query_ok);
    }
    cimi_query_free(&q);
    free(decoded);
    free(target);
    return 0;
}
