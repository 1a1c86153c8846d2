/*
 * properties.c - a value given for a ProductSection Property checked
 * against the Property's ovf:type (string, boolean, uint8 ... uint64,
 * sint8 ... sint64, real32, real64) and its ovf:qualifiers (MinLen(n),
 * MaxLen(n), ValueMap{"a", "b", "1..5"}), as DSP0243 9.5 defines them.
 */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ovf/ovf.h"

static int check_integer(const char *type, const char *value, long double *number)
{
    static const struct {
        const char *type;
        long double min, max;
    } ranges[] = {
        {"uint8", 0, 255},           {"uint16", 0, 65535},
        {"uint32", 0, 4294967295.0L}, {"uint64", 0, 18446744073709551615.0L},
        {"sint8", -128, 127},         {"sint16", -32768, 32767},
        {"sint32", -2147483648.0L, 2147483647.0L},
        {"sint64", -9223372036854775808.0L, 9223372036854775807.0L},
    };
    for (size_t i = 0; i < sizeof(ranges) / sizeof(ranges[0]); i++) {
        if (strcmp(type, ranges[i].type) != 0)
            continue;
        const char *p = value + (value[0] == '-' && type[0] == 's');
        if (!*p || strspn(p, "0123456789") != strlen(p) || strlen(p) > 20)
            return -1;
        errno = 0;
        long double v = strtold(value, NULL);
        if (errno || v < ranges[i].min || v > ranges[i].max)
            return -1;
        *number = v;
        return 0;
    }
    return 1; /* not an integer type */
}

static int check_type(const char *type, const char *value, bool *numeric, long double *number)
{
    *numeric = false;
    if (strcmp(type, "string") == 0)
        return 0;
    if (strcmp(type, "boolean") == 0)
        return strcmp(value, "true") == 0 || strcmp(value, "false") == 0 ? 0 : -1;
    if (strcmp(type, "real32") == 0 || strcmp(type, "real64") == 0) {
        char *end;
        errno = 0;
        double v = strtod(value, &end);
        if (!*value || *end || errno || !isfinite(v))
            return -1;
        *numeric = true;
        *number = v;
        return 0;
    }
    int rc = check_integer(type, value, number);
    if (rc == 0)
        *numeric = true;
    return rc == 1 ? -2 : rc;
}

/* The number in "MaxLen(64)" after name, or -1. */
static long qualifier_number(const char *qualifiers, const char *name)
{
    const char *q = strstr(qualifiers, name);
    if (!q)
        return -1;
    q += strlen(name);
    if (*q++ != '(')
        return -1;
    char *end;
    long n = strtol(q, &end, 10);
    return *end == ')' && n >= 0 ? n : -1;
}

/* Is value one of ValueMap{"a", "b", "1..5"}? 1 yes, 0 no, -1 no ValueMap. */
static int in_value_map(const char *qualifiers, const char *value, bool numeric,
                        long double number)
{
    const char *q = strstr(qualifiers, "ValueMap{");
    if (!q)
        return -1;
    q += 9;
    while (*q && *q != '}') {
        while (*q == ' ' || *q == ',')
            q++;
        if (*q != '"')
            return 0;
        const char *end = strchr(++q, '"');
        if (!end)
            return 0;
        char item[256];
        snprintf(item, sizeof(item), "%.*s", (int)(end - q), q);
        if (strcmp(item, value) == 0)
            return 1;
        char *dots = strstr(item, "..");
        if (numeric && dots) { /* a range: "1..5", "..5", "1.." */
            *dots = 0;
            long double lo = item[0] ? strtold(item, NULL) : -INFINITY;
            long double hi = dots[2] ? strtold(dots + 2, NULL) : INFINITY;
            if (number >= lo && number <= hi)
                return 1;
        }
        q = end + 1;
    }
    return 0;
}

int ovf_property_check(const json_t *property, const char *value, struct cimi_error *err)
{
    const char *key = json_string_value(json_object_get(property, "key"));
    const char *type = json_string_value(json_object_get(property, "type"));
    const char *qualifiers = json_string_value(json_object_get(property, "qualifiers"));
    bool numeric;
    long double number = 0;

    int rc = check_type(type ? type : "", value, &numeric, &number);
    if (rc == -2)
        return err_set(err, 400, "properties", "property %s has type '%s', which cimid does not "
                       "know", key, type);
    if (rc < 0)
        return err_set(err, 400, "properties", "property %s: '%.100s' is not a %s", key, value,
                       type);
    if (!qualifiers)
        return 0;
    long min = qualifier_number(qualifiers, "MinLen"), max = qualifier_number(qualifiers, "MaxLen");
    size_t len = strlen(value);
    if ((min >= 0 && len < (size_t)min) || (max >= 0 && len > (size_t)max))
        return err_set(err, 400, "properties", "property %s: '%.100s' is not of the length %s "
                       "allows", key, value, qualifiers);
    if (in_value_map(qualifiers, value, numeric, number) == 0)
        return err_set(err, 400, "properties", "property %s: '%.100s' is not one of %s", key,
                       value, qualifiers);
    return 0;
}
