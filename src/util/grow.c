/*
 * grow.c - growing a heap buffer that text is appended to (see grow.h).
 */
#include "util/grow.h"

#include <stdlib.h>

int grow_buffer(char **buf, size_t *cap, size_t need)
{
    size_t bigger = *cap ? *cap : 4096;
    char *more;

    if (need <= *cap)
        return 0;
    while (bigger < need)
        bigger *= 2;
    more = realloc(*buf, bigger);
    if (more == NULL)
        return -1;
    *buf = more;
    *cap = bigger;
    return 0;
}
