/*
 * error.c - filling struct cimi_error.
 */
#include "util/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int err_set(struct cimi_error *err, int status, const char *attribute,
            const char *fmt, ...)
{
    va_list ap;

    if (err == NULL)
        return -1;
    err->status = status;
    snprintf(err->attribute, sizeof(err->attribute), "%s", attribute ? attribute : "");
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof(err->message), fmt, ap);
    va_end(ap);
    return -1;
}

void err_clear(struct cimi_error *err)
{
    if (err == NULL)
        return;
    err->status = 0;
    err->attribute[0] = '\0';
    err->message[0] = '\0';
}
