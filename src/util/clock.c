/*
 * clock.c - timestamps and random identifiers (getrandom(2)).
 */
#include "util/clock.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>

void clock_format_iso(time_t t, char *buf, size_t len)
{
    struct tm tm;

    gmtime_r(&t, &tm);
    strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

void clock_now_iso(char *buf, size_t len)
{
    clock_format_iso(time(NULL), buf, len);
}

void clock_now_iso_ms(char *buf, size_t len)
{
    /* Each thread keeps the text of the last second it formatted: a log
     * line (one per request) then costs no gmtime_r/strftime/snprintf. */
    static _Thread_local time_t cached_second = -1;
    static _Thread_local char cached_text[32];
    static _Thread_local size_t cached_len;
    struct timespec ts;
    long ms;

    clock_gettime(CLOCK_REALTIME, &ts);
    if (ts.tv_sec != cached_second) {
        struct tm tm;
        gmtime_r(&ts.tv_sec, &tm);
        cached_len = strftime(cached_text, sizeof(cached_text), "%Y-%m-%dT%H:%M:%S", &tm);
        cached_second = ts.tv_sec;
    }
    if (len < cached_len + sizeof(".000Z")) {       /* too small: as snprintf would */
        snprintf(buf, len, "%s.%03ldZ", cached_text, ts.tv_nsec / 1000000);
        return;
    }
    ms = ts.tv_nsec / 1000000;
    memcpy(buf, cached_text, cached_len);
    buf[cached_len] = '.';
    buf[cached_len + 1] = (char)('0' + ms / 100);
    buf[cached_len + 2] = (char)('0' + ms / 10 % 10);
    buf[cached_len + 3] = (char)('0' + ms % 10);
    buf[cached_len + 4] = 'Z';
    buf[cached_len + 5] = '\0';
}

double clock_mono_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

int random_bytes(void *buf, size_t len)
{
    uint8_t *p = buf;

    while (len > 0) {
        ssize_t n = getrandom(p, len, 0);
        if (n < 0)
            return -1;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

int uuid_generate_v4(char *buf, size_t len)
{
    uint8_t b[16];

    if (len < 37 || random_bytes(b, sizeof(b)) != 0)
        return -1;
    b[6] = (uint8_t)((b[6] & 0x0f) | 0x40);
    b[8] = (uint8_t)((b[8] & 0x3f) | 0x80);
    snprintf(buf, len,
             "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
             b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12],
             b[13], b[14], b[15]);
    return 0;
}
