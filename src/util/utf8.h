/*
 * utf8.h - strict UTF-8 (RFC 3629): what cimid accepts from clients in a
 * request's path and query, and what it may put into a reply.
 *
 * Strict means: no overlong forms, no UTF-16 surrogates (U+D800..U+DFFF),
 * nothing above U+10FFFF, no lone continuation bytes, no truncated
 * sequences.
 */
#ifndef CIMID_UTF8_H
#define CIMID_UTF8_H

#include <stdbool.h>
#include <stddef.h>

/* Are the n bytes at s valid UTF-8 (NUL bytes count as valid U+0000)? */
bool utf8_valid(const char *s, size_t n);

/* Replace, in place, every byte of s (NUL-terminated) that is not part of a
 * valid UTF-8 sequence by '?', so that s can go into a JSON or XML reply. */
void utf8_sanitize(char *s);

#endif
