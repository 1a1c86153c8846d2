/*
 * clock.h - timestamps (xs:dateTime in UTC) and random identifiers.
 */
#ifndef CIMID_CLOCK_H
#define CIMID_CLOCK_H

#include <stddef.h>
#include <time.h>

/* "2026-11-22T10:00:00Z" (seconds precision, as CIMI dateTimes). */
void clock_now_iso(char *buf, size_t len);
/* "2026-11-22T10:00:00.123Z" (for log lines). */
void clock_now_iso_ms(char *buf, size_t len);
/* Format a time_t as xs:dateTime UTC. */
void clock_format_iso(time_t t, char *buf, size_t len);
/* Monotonic milliseconds, for durations. */
double clock_mono_ms(void);

/* A random UUID v4 in canonical lower-case form; buf must hold 37 bytes. */
int uuid_generate_v4(char *buf, size_t len);
/* Fill buf with len cryptographically random bytes. 0 on success. */
int random_bytes(void *buf, size_t len);

#endif
