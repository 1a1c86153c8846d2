/*
 * urldecode.c - strict percent-decoding (see urldecode.h).
 */
#include "http/urldecode.h"

#include <stdlib.h>
#include <string.h>

#include "util/utf8.h"

static int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

char *url_decode(const char *text, const char **why)
{
    size_t n = strlen(text), out = 0;
    char *decoded = malloc(n + 1);

    if (decoded == NULL) {
        *why = "out of memory";
        return NULL;
    }
    for (size_t i = 0; i < n; i++) {
        int hi, lo;
        if (text[i] != '%') {
            decoded[out++] = text[i];
            continue;
        }
        hi = i + 1 < n ? hex_value(text[i + 1]) : -1;
        lo = i + 2 < n ? hex_value(text[i + 2]) : -1;
        if (hi < 0 || lo < 0) {
            *why = "a malformed percent escape (give '%' and two hexadecimal digits)";
            free(decoded);
            return NULL;
        }
        if (hi == 0 && lo == 0) {
            *why = "an escaped NUL byte (%00)";
            free(decoded);
            return NULL;
        }
        decoded[out++] = (char)(hi * 16 + lo);
        i += 2;
    }
    decoded[out] = '\0';
    if (!utf8_valid(decoded, out)) {
        *why = "bytes that are not valid UTF-8 after percent-decoding";
        free(decoded);
        return NULL;
    }
    return decoded;
}
