/*
 * log.h - one line per event on stderr.
 *
 * Lines look like: 2026-11-22T10:00:00.123Z info http: GET /cimi/machines 200 1.2ms
 * The level is set once at start-up; lines below it are dropped.  Control
 * characters, DEL and invalid UTF-8 in a message are written as \xNN (log.c),
 * so text from clients can be logged with a plain %s.
 */
#ifndef CIMID_LOG_H
#define CIMID_LOG_H

enum log_level { LOG_ERROR = 0, LOG_WARN, LOG_INFO, LOG_DEBUG };

/* Parse "error", "warn", "info", "debug"; returns -1 if unknown. */
int log_level_parse(const char *text);
void log_set_level(enum log_level level);
int log_enabled(enum log_level level);
void log_msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_WARN, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)

#endif
