/*
 * fuzz_filter.c - libFuzzer harness for the $filter language
 * (src/cimi/filter.c).
 *
 * The input is one $filter expression, as the server receives it after URL
 * decoding.  It is parsed against several item types (each has other
 * attribute names and kinds) and every filter that parses is evaluated on
 * sample items, well-formed and not (wrong JSON kinds, nulls, missing
 * attributes).  The input is also compared, as a value of every kind, with
 * sample values through filter_compare_values, whose results must be a
 * consistent ordering: $orderby hands it to qsort_r.
 *
 * Checks beyond the sanitizers: a failed parse sets a 400 (or 500) error, a
 * successful one leaves none, matching is repeatable, and
 * filter_compare_values is reflexive and antisymmetric.
 */
#include <jansson.h>

#include "cimi/filter.h"
#include "fuzz_common.h"

static const struct cimi_type *const parse_types[] = {
    &t_machine, &t_job, &t_credential, &t_action, &t_machine_image, &t_resource_metadata,
    &t_volume, NULL,
};

static const enum cimi_kind compare_kinds[] = {
    K_STRING, K_INTEGER, K_BOOLEAN, K_DATETIME, K_URI, K_HEX, K_REF, K_MAP,
};

static json_t *items;          /* sample items every parsed filter is matched against */
static json_t *sample_values;  /* sample values the input is compared with */

static const char *const item_texts[] = {
    "{\"id\": \"http://h/cimi/machines/1\", \"name\": \"web\", \"description\": \"front end\","
    " \"state\": \"STARTED\", \"cpu\": 2, \"memory\": 4096, \"created\": \"2012-01-01T12:00:00Z\","
    " \"updated\": \"2012-06-01T00:00:00.500+02:00\","
    " \"latestSnapshot\": {\"href\": \"http://h/7\"},"
    " \"properties\": {\"owner\": \"bob\", \"tier\": \"front\"}, \"disks\": {\"href\": \"d\"}}",
    "{\"name\": 5, \"state\": null, \"cpu\": \"2\", \"memory\": 1.5, \"created\": \"yesterday\","
    " \"updated\": 7, \"latestSnapshot\": \"http://h/7\", \"properties\": [\"owner\"],"
    " \"force\": \"true\", \"key\": 12, \"returnCode\": true, \"imageLocation\": {}}",
    "{\"returnCode\": -1, \"progress\": 100, \"timeOfStatusChange\": \"2013-03-10T23:30:00-08:00\","
    " \"targetResource\": {\"href\": \"http://h/cimi/machines/1\"}, \"action\": \"start\"}",
    "{\"userName\": \"root\", \"password\": \"\", \"key\": \"A1b2\", \"action\": \"x\","
    " \"force\": false, \"properties\": {\"owner\": 3}, \"typeURI\": \"http://x\"}",
    "{\"created\": \"9999-12-31T24:00:00+14:00\", \"updated\": \"0000-01-01T00:00:00-14:00\","
    " \"cpu\": -9223372036854775807, \"memory\": 9223372036854775807}",
    "{}",
};

static const char *const value_texts[] = {
    "[null, \"\", \"2012-01-01T12:00:00Z\", \"2012-01-01\", \"a1\", \"A1\", \"web\", 2, -1, true,"
    " false, {\"href\": \"http://h/1\"}, {}, [], 1.5]",
};

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    items = json_array();
    for (size_t i = 0; i < sizeof(item_texts) / sizeof(item_texts[0]); i++)
        json_array_append_new(items, json_loads(item_texts[i], 0, NULL));
    sample_values = json_loads(value_texts[0], 0, NULL);
    FUZZ_ASSERT(json_array_size(items) == sizeof(item_texts) / sizeof(item_texts[0]));
    FUZZ_ASSERT(sample_values != NULL);
    return 0;
}

static int sign(int c)
{
    return c < 0 ? -1 : c > 0;
}

/* filter_compare_values must order a and b consistently for every kind. */
static void check_ordering(const json_t *a, const json_t *b)
{
    for (size_t k = 0; k < sizeof(compare_kinds) / sizeof(compare_kinds[0]); k++) {
        enum cimi_kind kind = compare_kinds[k];
        int ab = filter_compare_values(a, b, kind);
        int ba = filter_compare_values(b, a, kind);

        FUZZ_ASSERT(sign(ab) == -sign(ba));
        FUZZ_ASSERT(filter_compare_values(a, a, kind) == 0);
    }
}

/* The input as a value of each shape, against every sample value. */
static void fuzz_compare(const char *text)
{
    json_t *string = json_string(text);   /* NULL when not valid UTF-8 */
    json_t *ref = string ? json_pack("{s:O}", "href", string) : NULL;
    size_t i;
    json_t *v;

    json_array_foreach(sample_values, i, v) {
        if (string != NULL)
            check_ordering(string, v);
        if (ref != NULL)
            check_ordering(ref, v);
    }
    json_decref(ref);
    json_decref(string);
}

static void fuzz_parse(const char *text, const struct cimi_type *t)
{
    struct cimi_error err;
    struct filter *f = filter_parse(text, t, &err);
    size_t i;
    json_t *item;

    if (f == NULL) {
        FUZZ_ASSERT(err.status == 400 || err.status == 500);
        FUZZ_ASSERT(err.message[0] != '\0');
        return;
    }
    FUZZ_ASSERT(err.status == 0);
    json_array_foreach(items, i, item)
        FUZZ_ASSERT(filter_match(f, item) == filter_match(f, item));
    (void)filter_match(f, NULL);
    filter_free(f);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = fuzz_cstring(data, size);

    if (text == NULL)
        return 0;
    for (size_t i = 0; parse_types[i] != NULL; i++)
        fuzz_parse(text, parse_types[i]);
    fuzz_compare(text);
    free(text);
    return 0;
}
