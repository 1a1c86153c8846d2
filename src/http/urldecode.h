/*
 * urldecode.h - strict percent-decoding of a request's path and query.
 *
 * libmicrohttpd's own decoding is lenient: "%g1" and "%f" pass through as
 * they are, "%00" cuts a string short and "%ff" yields a byte no reply can
 * carry.  cimid therefore has libmicrohttpd leave the text as it came
 * (server.c) and decodes it here, refusing what cannot be right.
 */
#ifndef CIMID_URLDECODE_H
#define CIMID_URLDECODE_H

/* The decoded copy of text (free() it), or NULL with *why saying what is
 * wrong: a malformed escape (not '%' and two hex digits), an escaped NUL
 * byte (%00), or a result that is not valid UTF-8.  NULL with *why
 * "out of memory" when malloc fails. */
char *url_decode(const char *text, const char **why);

#endif
