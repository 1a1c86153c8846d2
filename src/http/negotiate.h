/*
 * negotiate.h - choosing the wire format of a request and of its reply.
 */
#ifndef CIMID_NEGOTIATE_H
#define CIMID_NEGOTIATE_H

#include "cimi/codec.h"
#include "util/error.h"

/* Reply codec from $format (wins; NULL if absent) and Accept (NULL if
 * absent).  No preference, or any wildcard, gives JSON.  NULL with err 406
 * when Accept names only types cimid cannot produce, 400 for a bad $format. */
const struct codec *negotiate_reply(const char *format_param, const char *accept,
                                    struct cimi_error *err);

/* Request body codec from Content-Type; NULL with err 415 if it is neither
 * application/json nor application/xml (parameters such as charset allowed). */
const struct codec *negotiate_body(const char *content_type, struct cimi_error *err);

/* The CIMI-Specification-Version to answer for a request header value
 * (NULL if absent): the first listed 1.x version, else NULL with err 400. */
const char *negotiate_version(const char *requested, char *buf, size_t len,
                              struct cimi_error *err);

#endif
