/*
 * log.c - timestamped log lines on stderr, one write(2) per line so lines
 * from different threads never interleave.
 *
 * Much of what is logged comes from clients (request paths, user names,
 * headers) or from libraries quoting them.  So every message is escaped here,
 * in one place no caller can bypass: control characters (CR, LF, ESC ...),
 * DEL, the C1 controls (U+0080-U+009F, NEL and CSI among them), the Unicode
 * line and paragraph separators, the bidirectional controls, and bytes that
 * are not part of valid UTF-8 are written as \xNN (each byte), so a line can
 * neither be split in two, nor carry terminal escapes, nor be shown
 * reordered, nor forge the start of another line.
 */
#include "util/log.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "util/clock.h"

static enum log_level current_level = LOG_INFO;
static const char *const level_names[] = {"error", "warn", "info", "debug"};

int log_level_parse(const char *text)
{
    for (int i = LOG_ERROR; i <= LOG_DEBUG; i++)
        if (strcasecmp(text, level_names[i]) == 0)
            return i;
    return -1;
}

void log_set_level(enum log_level level)
{
    current_level = level;
}

int log_enabled(enum log_level level)
{
    return level <= current_level;
}

/* "STAMP LEVEL " at the start of line (room for both is known); its length. */
static int prefix(char *line, const char *stamp, const char *level)
{
    size_t stamp_len = strlen(stamp);
    size_t level_len = strlen(level);

    memcpy(line, stamp, stamp_len);
    line[stamp_len] = ' ';
    memcpy(line + stamp_len + 1, level, level_len);
    line[stamp_len + 1 + level_len] = ' ';
    return (int)(stamp_len + level_len + 2);
}

/* Length of the valid UTF-8 sequence at s (n bytes left), 0 if none. */
static size_t utf8_sequence(const unsigned char *s, size_t n)
{
    size_t len;
    unsigned char lo = 0x80, hi = 0xbf;

    if (s[0] < 0x80)
        return 1;
    if (s[0] >= 0xc2 && s[0] <= 0xdf)
        len = 2;
    else if (s[0] >= 0xe0 && s[0] <= 0xef)
        len = 3;
    else if (s[0] >= 0xf0 && s[0] <= 0xf4)
        len = 4;
    else
        return 0;
    if (s[0] == 0xe0)
        lo = 0xa0;            /* no overlong forms */
    else if (s[0] == 0xed)
        hi = 0x9f;            /* no surrogates */
    else if (s[0] == 0xf0)
        lo = 0x90;
    else if (s[0] == 0xf4)
        hi = 0x8f;            /* nothing past U+10FFFF */
    if (n < len || s[1] < lo || s[1] > hi)
        return 0;
    for (size_t i = 2; i < len; i++)
        if (s[i] < 0x80 || s[i] > 0xbf)
            return 0;
    return len;
}

/* The code point of the valid sequence of len bytes at s. */
static unsigned long code_point(const unsigned char *s, size_t len)
{
    static const unsigned char lead_bits[] = {0, 0x7f, 0x1f, 0x0f, 0x07};
    unsigned long cp = s[0] & lead_bits[len];

    for (size_t i = 1; i < len; i++)
        cp = (cp << 6) | (s[i] & 0x3f);
    return cp;
}

/* A character that moves or hides text when shown: a control (C0, DEL,
 * C1), a line or paragraph separator, a bidirectional control. */
static bool unsafe_character(unsigned long cp)
{
    return cp < 0x20 || (cp >= 0x7f && cp <= 0x9f) || cp == 0x2028 || cp == 0x2029 ||
           cp == 0x200e || cp == 0x200f || (cp >= 0x202a && cp <= 0x202e) ||
           (cp >= 0x2066 && cp <= 0x2069);
}

/* Copy text into out (room for cap bytes), escaping what log.c's comment
 * says; returns the bytes written.  Stops before a character that does not
 * fit whole. */
static size_t escape_text(const char *text, size_t len, char *out, size_t cap)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *s = (const unsigned char *)text;
    size_t i = 0, n = 0;

    while (i < len) {
        size_t seq = utf8_sequence(s + i, len - i);
        if (seq == 0 || unsafe_character(code_point(s + i, seq))) {
            size_t bytes = seq == 0 ? 1 : seq;
            if (n + 4 * bytes > cap)
                break;
            for (size_t b = 0; b < bytes; b++, i++) {
                out[n++] = '\\';
                out[n++] = 'x';
                out[n++] = hex[s[i] >> 4];
                out[n++] = hex[s[i] & 15];
            }
            continue;
        }
        if (n + seq > cap)
            break;
        memcpy(out + n, s + i, seq);
        n += seq;
        i += seq;
    }
    return n;
}

void log_msg(enum log_level level, const char *fmt, ...)
{
    char text[2048];
    char line[4096];
    char stamp[40];
    va_list ap;
    int len;
    size_t n;

    if (!log_enabled(level))
        return;
    va_start(ap, fmt);
    len = vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    if (len < 0)
        return;
    if ((size_t)len >= sizeof(text))
        len = (int)sizeof(text) - 1;
    clock_now_iso_ms(stamp, sizeof(stamp));
    n = (size_t)prefix(line, stamp, level_names[level]);
    n += escape_text(text, (size_t)len, line + n, sizeof(line) - n - 1);
    line[n++] = '\n';
    if (write(STDERR_FILENO, line, n) < 0) {
        /* nowhere left to report it */
    }
}
