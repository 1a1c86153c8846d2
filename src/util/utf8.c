/*
 * utf8.c - strict UTF-8 checks (see utf8.h).
 */
#include "util/utf8.h"

/* The length of the valid UTF-8 sequence at s (n bytes available), or 0. */
static size_t sequence_length(const unsigned char *s, size_t n)
{
    unsigned char c = s[0];
    size_t len;
    unsigned char lo = 0x80, hi = 0xBF;   /* range of the second byte */

    if (c < 0x80)
        return 1;
    if (c >= 0xC2 && c <= 0xDF)
        len = 2;
    else if (c >= 0xE0 && c <= 0xEF)
        len = 3;
    else if (c >= 0xF0 && c <= 0xF4)
        len = 4;
    else
        return 0;              /* continuation byte, C0/C1 (overlong), F5..FF */
    if (c == 0xE0)
        lo = 0xA0;             /* overlong below U+0800 */
    else if (c == 0xED)
        hi = 0x9F;             /* surrogates U+D800..U+DFFF */
    else if (c == 0xF0)
        lo = 0x90;             /* overlong below U+10000 */
    else if (c == 0xF4)
        hi = 0x8F;             /* above U+10FFFF */
    if (n < len || s[1] < lo || s[1] > hi)
        return 0;
    for (size_t i = 2; i < len; i++)
        if (s[i] < 0x80 || s[i] > 0xBF)
            return 0;
    return len;
}

bool utf8_valid(const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;

    for (size_t i = 0; i < n;) {
        size_t len = sequence_length(p + i, n - i);
        if (len == 0)
            return false;
        i += len;
    }
    return true;
}

void utf8_sanitize(char *s)
{
    unsigned char *p = (unsigned char *)s;
    size_t n = 0;

    while (p[n] != '\0')
        n++;
    for (size_t i = 0; i < n;) {
        size_t len = sequence_length(p + i, n - i);
        if (len == 0) {
            p[i++] = '?';
            continue;
        }
        i += len;
    }
}
