/*
 * test_input.c - unit tests of what cimid refuses in a request before any
 * resource code runs (issue 11, items 8 and 9):
 *   - url_decode (src/http/urldecode.c): malformed escapes, %00 and every
 *     class of invalid UTF-8 are refused; valid text decodes exactly;
 *   - utf8_sanitize (src/util/utf8.c): an error message cut in the middle
 *     of a character can still be sent;
 *   - integer ranges (model_range in src/cimi/model.c, enforced by
 *     validate.c and the XML codec): every writable integer attribute of
 *     every type, found by walking the model, has a range of its own, and
 *     values outside it (also reals and strings; in XML also "1e3",
 *     "0x10", digits beyond 64 bits) are refused with 400 naming it;
 *   - query lists ($select, $orderby): merged whatever their length.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "cimi/codec.h"
#include "cimi/model.h"
#include "cimi/query.h"
#include "cimi/validate.h"
#include "http/urldecode.h"
#include "util/utf8.h"

/* ---- url_decode and UTF-8 ---- */

static bool decodes_to(const char *text, const char *expected)
{
    const char *why = NULL;
    char *out = url_decode(text, &why);
    bool same = out != NULL && strcmp(out, expected) == 0;

    free(out);
    return same;
}

static bool refused(const char *text)
{
    const char *why = NULL;
    char *out = url_decode(text, &why);

    free(out);
    return out == NULL && why != NULL && why[0] != '\0';
}

static void test_url_decode(void)
{
    static const char *const invalid[] = {
        "%80", "a%bfb",                       /* lone continuation bytes */
        "%c0%af", "%c1%bf", "%e0%80%af", "%f0%80%80%af",   /* overlong forms */
        "%ed%a0%80", "%ed%bf%bf",             /* UTF-16 surrogates */
        "%f4%90%80%80",                       /* above U+10FFFF */
        "%f5%80%80%80", "%f8", "%fe", "%ff",  /* bytes that never occur */
        "%c3", "%e2%82", "%f0%9f%98",         /* truncated sequences */
        "%e2%82x", "x%c3",                    /* truncated before another character */
        "\xff", "\xc3(",                      /* raw bytes, not escaped */
        "%00", "a%00b",                       /* NUL */
        "%g1", "%1g", "%f", "%", "ab%", "%%41", "%+1",   /* malformed escapes */
    };

    for (size_t i = 0; i < sizeof(invalid) / sizeof(invalid[0]); i++)
        CHECK(refused(invalid[i]), "url_decode refuses '%s'", invalid[i]);
    CHECK(decodes_to("machines", "machines"), "plain text unchanged");
    CHECK(decodes_to("%24select", "$select"), "escaped $");
    CHECK(decodes_to("a%2Fb%2fc", "a/b/c"), "upper and lower case hex");
    CHECK(decodes_to("%c3%a9%E2%82%AC%f0%9f%98%80", "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80"),
          "two-, three- and four-byte characters");
    CHECK(decodes_to("%ef%bf%bf%f4%8f%bf%bf", "\xef\xbf\xbf\xf4\x8f\xbf\xbf"),
          "U+FFFF and U+10FFFF");
    CHECK(decodes_to("", ""), "empty text");
}

static void test_utf8(void)
{
    char cut[] = "no resource at 'x\xe2\x82";
    char bad[] = "\xff" "a\xc0\xaf" "b\xed\xa0\x80";
    char good[] = "caf\xc3\xa9 \xe2\x82\xac";

    CHECK(utf8_valid("a\0b", 3), "NUL is valid UTF-8 (url_decode refuses it itself)");
    utf8_sanitize(cut);
    CHECK(strcmp(cut, "no resource at 'x??") == 0, "a character cut short becomes '?'");
    utf8_sanitize(bad);
    CHECK(strcmp(bad, "?a??b???") == 0 && utf8_valid(bad, strlen(bad)),
          "invalid bytes become '?' (%s)", bad);
    utf8_sanitize(good);
    CHECK(strcmp(good, "caf\xc3\xa9 \xe2\x82\xac") == 0, "valid text is left alone");
}

/* ---- integer ranges over the whole model ---- */

#define MAX_WALK 3

struct found {
    int count;
    int without_range;
};

/* Wrap value so that it sits at the attribute `trail` (names, "[]" for an
 * array element) of a document; returns the document. */
static json_t *nest(const char *const *trail, int depth, json_t *value)
{
    json_t *inner = value;

    for (int i = depth - 1; i >= 0; i--) {
        if (strcmp(trail[i], "[]") == 0) {
            inner = json_pack("[o]", inner);
        } else {
            json_t *obj = json_object();
            json_object_set_new(obj, trail[i], inner);
            inner = obj;
        }
    }
    return inner;
}

/* The path validate.c names: "machineTemplate.machineConfig.disks[0].capacity". */
static void trail_path(const char *const *trail, int depth, char *out, size_t len)
{
    out[0] = '\0';
    for (int i = 0; i < depth; i++) {
        size_t n = strlen(out);
        if (strcmp(trail[i], "[]") == 0)
            snprintf(out + n, len - n, "[0]");
        else
            snprintf(out + n, len - n, "%s%s", n ? "." : "", trail[i]);
    }
}

/* 400 naming path for value at trail in a document of top; or 0 when accepted. */
static int validate_at(const struct cimi_type *top, const char *const *trail, int depth,
                       json_t *value, char *attribute, size_t len)
{
    json_t *doc = nest(trail, depth, value);
    struct cimi_error err;
    int status;

    err_clear(&err);
    status = validate_document(doc, top, VALIDATE_UPDATE, &err) == 0 ? 0 : err.status;
    snprintf(attribute, len, "%s", err.attribute);
    json_decref(doc);
    return status;
}

static void check_integer_attr(const struct cimi_type *top, const char *const *trail, int depth,
                               const struct cimi_attr *a)
{
    const struct cimi_range *r = model_range(a);
    char path[256], named[128];
    const long long refused_values[] = {r->min - 1, r->max + 1, LLONG_MIN, LLONG_MAX, -1};
    const long long accepted_values[] = {r->min, r->max};

    trail_path(trail, depth, path, sizeof(path));
    for (size_t i = 0; i < sizeof(refused_values) / sizeof(refused_values[0]); i++) {
        if (refused_values[i] >= r->min && refused_values[i] <= r->max)
            continue;
        CHECK(validate_at(top, trail, depth, json_integer(refused_values[i]), named,
                          sizeof(named)) == 400 && strcmp(named, path) == 0,
              "%s %s = %lld: 400 naming it", top->name, path, refused_values[i]);
    }
    for (size_t i = 0; i < 2; i++)
        CHECK(validate_at(top, trail, depth, json_integer(accepted_values[i]), named,
                          sizeof(named)) == 0, "%s %s = %lld accepted", top->name, path,
              accepted_values[i]);
    CHECK(validate_at(top, trail, depth, json_real((double)r->min), named, sizeof(named)) == 400,
          "%s %s as a JSON real: 400", top->name, path);
    CHECK(validate_at(top, trail, depth, json_string("1"), named, sizeof(named)) == 400,
          "%s %s as a JSON string: 400", top->name, path);
}

/* Every writable integer attribute reachable from t (by value: references
 * and arrays of structures), up to MAX_WALK levels down. */
static void walk(const struct cimi_type *top, const struct cimi_type *t, const char **trail,
                 int depth, struct found *found)
{
    const struct cimi_attr *a;

    for (size_t i = 0; (a = model_attr_at(t, i)) != NULL; i++) {
        if (a->flags & (A_READONLY | A_UNSUPPORTED))
            continue;
        trail[depth] = a->name;
        if (a->kind == K_INTEGER) {
            found->count++;
            if (model_range(a)->max == 2147483647LL && model_range(a)->min == 0) {
                found->without_range++;
                CHECK(false, "%s.%s has a range of its own", t->name ? t->name : top->name,
                      a->name);
            }
            check_integer_attr(top, trail, depth + 1, a);
        } else if (a->kind == K_REF && a->target != NULL && depth + 1 < 2 * MAX_WALK) {
            walk(top, a->target, trail, depth + 1, found);
        } else if (a->kind == K_ARRAY && a->target != NULL && depth + 2 < 2 * MAX_WALK) {
            trail[depth + 1] = "[]";
            walk(top, a->target, trail, depth + 2, found);
        }
    }
}

static void test_integer_ranges(void)
{
    /* Request documents and the items of sub-collections. */
    static const struct cimi_type *const requests[] = {
        &t_machine_create, &t_volume_create, &t_network_create, &t_network_port_create,
        &t_address_create, &t_forwarding_group_create, &t_credential_create,
        &t_machine_volume, &t_machine_network_interface, &t_forwarding_group_network, &t_disk,
        NULL,
    };
    struct found found = {0, 0};
    const char *trail[2 * MAX_WALK + 2];

    for (size_t i = 0; cimi_toplevel_types[i] != NULL; i++)
        walk(cimi_toplevel_types[i], cimi_toplevel_types[i], trail, 0, &found);
    for (size_t i = 0; requests[i] != NULL; i++)
        walk(requests[i], requests[i], trail, 0, &found);
    CHECK(found.count >= 20, "the walk found the writable integers (%d)", found.count);
    CHECK(found.without_range == 0, "every writable integer has a range of its own");
}

/* XML: a number must be xs:long digits within the range. */
static int xml_capacity(const char *text)
{
    char body[512];
    struct cimi_error err;
    json_t *doc;
    int status;

    snprintf(body, sizeof(body),
             "<VolumeConfiguration xmlns=\"" CIMI_NS "\"><capacity>%s</capacity>"
             "</VolumeConfiguration>", text);
    err_clear(&err);
    doc = codec_xml.decode(body, strlen(body), &t_volume_configuration, &err);
    if (doc == NULL)
        return strcmp(err.attribute, "capacity") == 0 ? err.status : -err.status;
    status = validate_document(doc, &t_volume_configuration, VALIDATE_UPDATE, &err) == 0
                 ? 0 : (strcmp(err.attribute, "capacity") == 0 ? err.status : -err.status);
    json_decref(doc);
    return status;
}

static void test_xml_integers(void)
{
    static const char *const invalid[] = {
        "1e3", "0x10", "1.0", "12abc", "--1", "+-1", "1 2", "\xc2\xa0" "12",
        "99999999999999999999", "-99999999999999999999", "9223372036854775808",
        "-1", "0", "17179869185",
    };

    for (size_t i = 0; i < sizeof(invalid) / sizeof(invalid[0]); i++)
        CHECK(xml_capacity(invalid[i]) == 400, "XML capacity '%s': 400 naming it", invalid[i]);
    CHECK(xml_capacity("1") == 0 && xml_capacity("17179869184") == 0, "XML capacity 1 and max");
    CHECK(xml_capacity("+5") == 0 && xml_capacity(" 12 ") == 0 && xml_capacity("007") == 0,
          "xs:long lexical forms: sign, surrounding white space, leading zeros");
}

/* JSON: a number jansson cannot hold is named like any number out of range. */
static void test_json_huge_number(void)
{
    const char *body = "{\"name\": \"v\", \"capacity\" :\n 18446744073709551615}";
    struct cimi_error err;
    json_t *doc;

    err_clear(&err);
    doc = codec_json.decode(body, strlen(body), &t_volume_configuration, &err);
    CHECK(doc == NULL && err.status == 400 && strcmp(err.attribute, "capacity") == 0,
          "JSON capacity 2^64-1: 400 naming capacity (%s)", err.message);
    json_decref(doc);
}

/* ---- query lists ---- */

static void test_query_lists(void)
{
    struct cimi_query q;
    struct cimi_error err;
    char *select = malloc(20001);

    for (size_t i = 0; i < 20000; i++)
        select[i] = "nameX,"[i % 6];
    select[20000 - strlen("nameOfSomethingElse") - 1] = ',';
    memcpy(select + 20000 - strlen("nameOfSomethingElse"), "nameOfSomethingElse",
           strlen("nameOfSomethingElse") + 1);
    cimi_query_init(&q);
    CHECK(cimi_query_add(&q, "$select", select, &err) == 0 &&
          cimi_query_add(&q, "$select", "description", &err) == 0, "long $select taken");
    CHECK(q.select != NULL && strlen(q.select) == 20000 + 1 + strlen("description"),
          "long $select kept whole");
    CHECK(!query_list_has(q.select, "name") && query_list_has(q.select, "description") &&
          query_list_has(q.select, "nameOfSomethingElse"), "names never match a prefix");
    CHECK(cimi_query_add(&q, "$filter", "name='\xff'", &err) == -1 && err.status == 400,
          "$filter that is not UTF-8: 400, not dropped");
    cimi_query_free(&q);
    free(select);
}

int main(void)
{
    test_url_decode();
    test_utf8();
    test_integer_ranges();
    test_xml_integers();
    test_json_huge_number();
    test_query_lists();
    return check_summary();
}
