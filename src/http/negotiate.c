/*
 * negotiate.c - Accept, $format, Content-Type and CIMI-Specification-Version.
 *
 * Accept is parsed as a list of media ranges with optional q-values
 * (RFC 9110 12.5.1); the best acceptable of application/json and
 * application/xml wins, JSON on a tie.
 */
#include "http/negotiate.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* The versions we answer for, preferred first; a request for "1" or "1.0"
 * gets the newest version it is a prefix of. */
static const char *const supported_versions[] = {"1.1.0", "1.0.1", "1.0.0", NULL};

/* Copy the media type of one range (before ';'), trimmed and lower-cased. */
static void media_type_of(const char *range, size_t n, char *out, size_t len)
{
    size_t i = 0, j = 0;

    while (i < n && isspace((unsigned char)range[i]))
        i++;
    while (i < n && range[i] != ';' && !isspace((unsigned char)range[i]) && j + 1 < len)
        out[j++] = (char)tolower((unsigned char)range[i++]);
    out[j] = '\0';
}

/* q-value of one range (1.0 when absent). */
static double quality_of(const char *range, size_t n)
{
    const char *p = range, *end = range + n;

    while ((p = memchr(p, ';', (size_t)(end - p))) != NULL) {
        p++;
        while (p < end && isspace((unsigned char)*p))
            p++;
        if (end - p >= 2 && (p[0] == 'q' || p[0] == 'Q') && p[1] == '=')
            return strtod(p + 2, NULL);
    }
    return 1.0;
}

/* How well a media range matches a concrete type: 3 exact, 2 type/x, 1 wildcard, 0 no. */
static int range_matches(const char *range, const char *type)
{
    const char *slash = strchr(type, '/');

    if (strcmp(range, type) == 0)
        return 3;
    if (strcmp(range, "*/*") == 0 || strcmp(range, "*") == 0)
        return 1;
    if (slash && strncmp(range, type, (size_t)(slash - type + 1)) == 0 &&
        strcmp(range + (slash - type + 1), "*") == 0)
        return 2;
    return 0;
}

/* Quality the Accept header gives to type (most specific matching range wins). */
static double accept_quality(const char *accept, const char *type)
{
    const char *p = accept;
    double best_q = 0.0;
    int best_spec = 0;

    while (*p) {
        const char *comma = strchr(p, ',');
        size_t n = comma ? (size_t)(comma - p) : strlen(p);
        char range[128];
        int spec;

        media_type_of(p, n, range, sizeof(range));
        spec = range_matches(range, type);
        if (spec > best_spec) {
            best_spec = spec;
            best_q = quality_of(p, n);
        }
        p += n;
        if (*p == ',')
            p++;
    }
    return best_q;
}

const struct codec *negotiate_reply(const char *format_param, const char *accept,
                                    struct cimi_error *err)
{
    double qjson, qxml;

    if (format_param != NULL) {
        if (strcasecmp(format_param, "json") == 0)
            return &codec_json;
        if (strcasecmp(format_param, "xml") == 0)
            return &codec_xml;
        err_set(err, 400, "$format", "$format must be 'json' or 'xml', not '%s'", format_param);
        return NULL;
    }
    if (accept == NULL || accept[0] == '\0')
        return &codec_json;
    qjson = accept_quality(accept, "application/json");
    qxml = accept_quality(accept, "application/xml");
    if (qjson <= 0.0 && qxml <= 0.0) {
        err_set(err, 406, "Accept",
                "cannot produce any type listed in Accept '%.200s'; use application/json or "
                "application/xml", accept);
        return NULL;
    }
    return qxml > qjson ? &codec_xml : &codec_json;
}

const struct codec *negotiate_body(const char *content_type, struct cimi_error *err)
{
    char type[128];

    if (content_type == NULL) {
        err_set(err, 415, "Content-Type",
                "a request body needs Content-Type application/json or application/xml");
        return NULL;
    }
    media_type_of(content_type, strlen(content_type), type, sizeof(type));
    if (strcmp(type, "application/json") == 0)
        return &codec_json;
    if (strcmp(type, "application/xml") == 0)
        return &codec_xml;
    err_set(err, 415, "Content-Type",
            "unsupported Content-Type '%.100s'; use application/json or application/xml",
            content_type);
    return NULL;
}

const char *negotiate_version(const char *requested, char *buf, size_t len,
                              struct cimi_error *err)
{
    const char *p = requested;

    if (requested == NULL || requested[0] == '\0') {
        snprintf(buf, len, "%s", supported_versions[0]);
        return buf;
    }
    while (*p) {
        char version[32];
        size_t n = strcspn(p, ",");
        size_t i = 0, j = 0;

        while (i < n && isspace((unsigned char)p[i]))
            i++;
        while (i < n && !isspace((unsigned char)p[i]) && j + 1 < sizeof(version))
            version[j++] = p[i++];
        version[j] = '\0';
        for (size_t k = 0; j > 0 && supported_versions[k]; k++) {
            const char *s = supported_versions[k];
            if (strcmp(s, version) == 0 || (strncmp(s, version, j) == 0 && s[j] == '.')) {
                snprintf(buf, len, "%s", s);
                return buf;
            }
        }
        p += n;
        if (*p == ',')
            p++;
    }
    err_set(err, 400, "CIMI-Specification-Version",
            "unsupported CIMI-Specification-Version '%.100s'; this provider speaks 1.1.0, 1.0.1 and 1.0.0", requested);
    return NULL;
}
