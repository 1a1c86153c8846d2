/*
 * framing.c - the request target and body framing checks (see framing.h).
 */
#include "http/framing.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

const char *framing_check_target(const char *uri)
{
    char *query = strchr(uri, '?');
    size_t args = 1;
    const char *why = NULL;

    if (strlen(uri) > TARGET_MAX)
        why = "the request target is longer than 32768 bytes";
    if (query == NULL)
        return why;
    for (const char *c = query + 1; *c != '\0'; c++)
        if (*c == '&')
            args++;
    if (why == NULL && args > QUERY_ARGS_MAX)
        why = "the query has more than 256 arguments";
    /* The target lives in libmicrohttpd's (writable) read buffer; it parses
     * the arguments after this: leave it none to parse. */
    if (why != NULL)
        query[1] = '\0';
    return why;
}

struct framing {
    int content_lengths;
    int transfer_encodings;
    const char *length;
    const char *coding;
    const char *bad_name;           /* a header name that is not an RFC 9110 token */
};

/* An RFC 9110 token: what a header field name is made of.  Whitespace
 * before the colon ("Content-Length : 5") is not; libmicrohttpd keeps it in
 * the name, so such a header would not frame the body here while a proxy
 * in front might take it as Content-Length. */
static bool is_token(const char *name)
{
    if (*name == '\0')
        return false;
    for (const unsigned char *c = (const unsigned char *)name; *c != '\0'; c++)
        if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') ||
              strchr("!#$%&'*+-.^_`|~", *c) != NULL))
            return false;
    return true;
}

static enum MHD_Result count_framing(void *ctx, enum MHD_ValueKind kind, const char *key,
                                     const char *value)
{
    struct framing *f = ctx;

    (void)kind;
    if (f->bad_name == NULL && !is_token(key))
        f->bad_name = key;
    if (strcasecmp(key, MHD_HTTP_HEADER_CONTENT_LENGTH) == 0) {
        f->content_lengths++;
        f->length = value ? value : "";
    } else if (strcasecmp(key, MHD_HTTP_HEADER_TRANSFER_ENCODING) == 0) {
        f->transfer_encodings++;
        f->coding = value ? value : "";
    }
    return MHD_YES;
}

int framing_check_body(struct MHD_Connection *conn, const char *http_version,
                       long long *body_bytes, struct cimi_error *err)
{
    struct framing f = {0, 0, "", "", NULL};

    MHD_get_connection_values(conn, MHD_HEADER_KIND, count_framing, &f);
    if (f.bad_name != NULL)
        return err_set(err, 400, NULL, "malformed header name '%.64s'", f.bad_name);
    if (f.transfer_encodings > 0) {
        if (strcmp(http_version, MHD_HTTP_VERSION_1_1) != 0)
            return err_set(err, 400, "Transfer-Encoding",
                           "Transfer-Encoding in an %.16s request: its framing is faulty",
                           http_version);
        if (f.content_lengths > 0)
            return err_set(err, 400, "Content-Length",
                           "Content-Length and Transfer-Encoding together: the body's length "
                           "is ambiguous");
        if (f.transfer_encodings > 1 || strcasecmp(f.coding, "chunked") != 0)
            return err_set(err, 501, "Transfer-Encoding",
                           "transfer coding '%.100s' is not supported (only chunked)",
                           f.transfer_encodings > 1 ? "several" : f.coding);
        *body_bytes = -1;
        return 0;
    }
    if (f.content_lengths > 1)
        return err_set(err, 400, "Content-Length",
                       "%d Content-Length headers: the body's length is ambiguous",
                       f.content_lengths);
    /* libmicrohttpd answered 400 (413) already if it is not a number. */
    *body_bytes = f.content_lengths ? strtoll(f.length, NULL, 10) : 0;
    if (*body_bytes < 0)
        return err_set(err, 400, "Content-Length", "Content-Length is out of range");
    return 0;
}
