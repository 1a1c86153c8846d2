/*
 * error.h - the one error type carried up from every layer.
 *
 * A failing function fills a struct cimi_error (HTTP-style status, a human
 * message, and when known the offending attribute or value) and returns -1.
 * The HTTP layer encodes it with the same codec as any resource.
 */
#ifndef CIMID_ERROR_H
#define CIMID_ERROR_H

struct cimi_error {
    int status;             /* HTTP status: 400, 404, 409, 500, ... (0 = none) */
    char attribute[128];    /* offending attribute or parameter, "" if none */
    char message[512];      /* human-readable; names the attribute/value */
};

/* Fill err (if not NULL) and return -1, so callers can `return err_set(...)`. */
int err_set(struct cimi_error *err, int status, const char *attribute,
            const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* Reset to "no error". */
void err_clear(struct cimi_error *err);

#endif
