/*
 * fuzz_common.h - what every cimid libFuzzer harness shares: turning the
 * fuzzer's bytes into the NUL-terminated text the code under test receives,
 * and stopping loudly when a harness's own check fails.
 */
#ifndef CIMID_FUZZ_COMMON_H
#define CIMID_FUZZ_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The input as a malloc'd C string.  An embedded NUL ends it, as it would
 * end a header value or a decoded URL in the server.  NULL if out of memory. */
static inline char *fuzz_cstring(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);

    if (text == NULL)
        return NULL;
    memcpy(text, data, size);
    text[size] = '\0';
    return text;
}

/* A property every input must keep failed: report it and crash, so that
 * libFuzzer saves the input. */
#define FUZZ_ASSERT(cond)                                                              \
    do {                                                                               \
        if (!(cond)) {                                                                 \
            fprintf(stderr, "fuzz: %s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
            abort();                                                                   \
        }                                                                              \
    } while (0)

#endif
