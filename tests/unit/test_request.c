/*
 * test_request.c - unit tests of what cimid parses in a request's URL and
 * headers before any handler runs: the path router (route_resolve in
 * src/cimi/route.c) and the If-Match comparison (if_match_allows in
 * src/cimi/write.c).  Also the regression tests of what fuzz/fuzz_route
 * and fuzz/fuzz_headers found (inputs in fuzz/regressions/).
 */
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "cimi/handlers.h"

/* Resolve path; 0 and *tg filled, or the error status. */
static int resolve(const char *path, struct target *tg)
{
    struct cimi_error err;

    err_clear(&err);
    if (route_resolve(path, tg, &err) == 0)
        return 0;
    return err.status;
}

static void test_routes(void)
{
    struct target tg;

    CHECK(resolve("machines", &tg) == 0 && tg.type == &t_machine && tg.collection,
          "top-level collection");
    CHECK(resolve("machines/abc", &tg) == 0 && !tg.collection &&
          strcmp(tg.item, "machines/abc") == 0, "resource");
    CHECK(resolve("machines/abc/stop", &tg) == 0 && strcmp(tg.action, "stop") == 0 &&
          strcmp(tg.item, "machines/abc") == 0, "action");
    CHECK(resolve("machines/abc/disks", &tg) == 0 && tg.type == &t_disk && tg.collection &&
          strcmp(tg.parent, "machines/abc") == 0, "sub-collection");
    CHECK(resolve("machines/abc/disks/0", &tg) == 0 && tg.type == &t_disk && !tg.collection &&
          strcmp(tg.item, "machines/abc/disks/0") == 0, "sub-collection item");
    CHECK(resolve("machines/", &tg) == 0 && tg.collection, "one trailing slash");
    CHECK(resolve("nothing", &tg) == 404, "unknown collection");
    CHECK(resolve("machines//x", &tg) == 404, "empty segment");
    CHECK(resolve("machines/a b", &tg) == 404, "character outside [A-Za-z0-9._-]");
    CHECK(resolve("machines/a/b/c/d", &tg) == 404, "too many segments");
    CHECK(resolve("", &tg) == 404, "empty path");
}

/* Found by fuzz_route: names longer than the fields of struct target were
 * cut to fit, so a path could resolve to an item or an action other than
 * the one it names (fuzz/regressions/route/long-action, long-item). */
static void test_route_lengths(void)
{
    char path[512], action[128], id[128];
    struct target tg;

    memset(action, 'g', 70);
    action[70] = '\0';
    snprintf(path, sizeof(path), "machines/0/%s", action);
    CHECK(resolve(path, &tg) == 404, "action name of 70 characters: 404, not cut to 63");
    action[63] = '\0';
    snprintf(path, sizeof(path), "machines/0/%s", action);
    CHECK(resolve(path, &tg) == 0 && strcmp(tg.action, action) == 0,
          "action name of 63 characters");

    memset(id, '1', 127);
    id[127] = '\0';
    snprintf(path, sizeof(path), "machines/%s/disks/%s", id, id);
    CHECK(resolve(path, &tg) == 404, "sub-collection item path of 270 bytes: 404, not cut");
    snprintf(path, sizeof(path), "machines/%s/disks/%.112s", id, id);
    CHECK(strlen(path) == 255 && resolve(path, &tg) == 0 && strcmp(tg.item, path) == 0 &&
          strcmp(tg.path, path) == 0, "item path of 255 bytes");
}

static void test_if_match(void)
{
    CHECK(if_match_allows(NULL, 3), "no If-Match");
    CHECK(if_match_allows("*", 3), "If-Match *");
    CHECK(if_match_allows("\"3\"", 3), "same ETag");
    CHECK(!if_match_allows("\"4\"", 3), "other ETag");
    CHECK(!if_match_allows("\"33\"", 3), "ETag that only starts alike");
    CHECK(!if_match_allows("3", 3), "unquoted");
    CHECK(if_match_allows("\"1\", \"3\"", 3), "list");
    CHECK(if_match_allows("\"-9223372036854775808\"", LLONG_MIN), "smallest version");
    CHECK(!if_match_allows("", 3), "empty value");
    CHECK(!if_match_allows("W/\"3\"", 3), "a weak tag never matches");
    CHECK(!if_match_allows("xx\"3\"yy", 3), "junk around the tag");
    CHECK(if_match_allows("\"7\" ,  \"3\" ", 3), "list with spaces");
    CHECK(if_match_allows("\"7\", *", 3), "* in a list");
}

int main(void)
{
    test_routes();
    test_route_lengths();
    test_if_match();
    return check_summary();
}
