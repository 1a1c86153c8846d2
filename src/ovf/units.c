/*
 * units.c - DSP0004 programmatic units as OVF writers use them for memory,
 * disk capacity and CPU frequency: `byte * 2^20`, `byte*2^30`,
 * `byte * 1024`, `hertz * 10^6`, and the words VirtualBox and others write
 * (`MegaBytes`, `KiloBytes`, `GigaBytes`, `MB`, `GB`: powers of 1024, as
 * COT reads them).  Overflow is checked at every step.
 */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "ovf/ovf.h"

/* The unit lowercased with its blanks dropped into out. */
static int normalise(const char *units, char *out, size_t len)
{
    size_t n = 0;
    for (const char *p = units; *p; p++) {
        if (isspace((unsigned char)*p))
            continue;
        if (n + 1 >= len)
            return -1;
        out[n++] = (char)tolower((unsigned char)*p);
    }
    out[n] = 0;
    return 0;
}

/* A word like "megabytes", "mb", "mib", "kilobyte" -> 2^(10k). */
static int word_multiplier(const char *w, uint64_t *mult)
{
    static const struct {
        const char *prefix;
        unsigned shift;
    } words[] = {
        {"kilo", 10}, {"mega", 20}, {"giga", 30}, {"tera", 40}, {"peta", 50},
        {"k", 10},    {"m", 20},    {"g", 30},    {"t", 40},    {"p", 50},
    };
    for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++) {
        size_t n = strlen(words[i].prefix);
        if (strncmp(w, words[i].prefix, n) != 0)
            continue;
        const char *rest = w + n;
        if (strcmp(rest, "bytes") == 0 || strcmp(rest, "byte") == 0 || strcmp(rest, "b") == 0 ||
            strcmp(rest, "ib") == 0) {
            *mult = (uint64_t)1 << words[i].shift;
            return 0;
        }
    }
    return -1;
}

/* A factor: an integer or b^e; multiplied into *mult. */
static int apply_factor(const char *f, uint64_t *mult)
{
    char *end;
    uint64_t value;

    if (!isdigit((unsigned char)f[0]))
        return -1;
    errno = 0;
    unsigned long long base = strtoull(f, &end, 10);
    if (errno)
        return -1;
    if (*end == '^') {
        const char *e = end + 1;
        if (!isdigit((unsigned char)*e))
            return -1;
        unsigned long long exp = strtoull(e, &end, 10);
        if (errno || *end || exp > 64)
            return -1;
        value = 1;
        for (unsigned long long i = 0; i < exp; i++)
            if (__builtin_mul_overflow(value, base, &value))
                return -1;
    } else if (*end == 0) {
        value = base;
    } else {
        return -1;
    }
    if (value == 0 || __builtin_mul_overflow(*mult, value, mult))
        return -1;
    return 0;
}

int ovf_units(const char *units, enum ovf_unit_base base, uint64_t *multiplier)
{
    char u[128];
    uint64_t mult = 1;

    if (!units || normalise(units, u, sizeof(u)) < 0 || !u[0])
        return -1;
    char *save = NULL, *part = strtok_r(u, "*", &save);
    if (!part)
        return -1;
    if (base == OVF_UNIT_BYTE) {
        if (strcmp(part, "byte") != 0 && strcmp(part, "bytes") != 0 &&
            word_multiplier(part, &mult) < 0)
            return -1;
    } else if (strcmp(part, "hertz") != 0 && strcmp(part, "hz") != 0) {
        if (strcmp(part, "mhz") == 0 || strcmp(part, "megahertz") == 0)
            mult = 1000000;
        else if (strcmp(part, "ghz") == 0 || strcmp(part, "gigahertz") == 0)
            mult = 1000000000;
        else
            return -1;
    }
    while ((part = strtok_r(NULL, "*", &save)))
        if (apply_factor(part, &mult) < 0)
            return -1;
    *multiplier = mult;
    return 0;
}

int ovf_quantity(const char *value, const char *units, enum ovf_unit_base base,
                 uint64_t default_multiplier, uint64_t *out)
{
    uint64_t mult = default_multiplier;
    char *end;

    if (!value)
        return -1;
    while (isspace((unsigned char)*value))
        value++;
    if (!isdigit((unsigned char)*value))
        return -1;
    errno = 0;
    unsigned long long v = strtoull(value, &end, 10);
    while (isspace((unsigned char)*end))
        end++;
    if (errno || *end)
        return -1;
    if (units && units[0] && ovf_units(units, base, &mult) < 0)
        return -1;
    uint64_t r;
    if (__builtin_mul_overflow((uint64_t)v, mult, &r))
        return -1;
    *out = r;
    return 0;
}
