/*
 * grow.h - growing a heap buffer that text is appended to.
 *
 * The codecs write their replies into a buffer that doubles (from 4 KiB) as
 * text arrives; this is the one place that decides how it grows.
 */
#ifndef CIMID_GROW_H
#define CIMID_GROW_H

#include <stddef.h>

/* Make *buf (of *cap bytes, may be NULL with *cap 0) hold at least need
 * bytes: 0, or -1 when out of memory (then *buf and *cap are unchanged). */
int grow_buffer(char **buf, size_t *cap, size_t need);

#endif
