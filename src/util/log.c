/*
 * log.c - timestamped log lines on stderr, one write(2) per line so lines
 * from different threads never interleave.
 */
#include "util/log.h"

#include <stdarg.h>
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

void log_msg(enum log_level level, const char *fmt, ...)
{
    char line[2048];
    char stamp[40];
    va_list ap;
    int n;

    if (!log_enabled(level))
        return;
    clock_now_iso_ms(stamp, sizeof(stamp));
    n = prefix(line, stamp, level_names[level]);
    va_start(ap, fmt);
    n += vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
    va_end(ap);
    if (n > (int)sizeof(line) - 2)
        n = (int)sizeof(line) - 2;
    line[n++] = '\n';
    if (write(STDERR_FILENO, line, (size_t)n) < 0) {
        /* nowhere left to report it */
    }
}
