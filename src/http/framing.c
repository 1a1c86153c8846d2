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
        why = "the request target is longer than 16384 bytes";
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
};

static enum MHD_Result count_framing(void *ctx, enum MHD_ValueKind kind, const char *key,
                                     const char *value)
{
    struct framing *f = ctx;

    (void)kind;
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
    struct framing f = {0, 0, "", ""};

    MHD_get_connection_values(conn, MHD_HEADER_KIND, count_framing, &f);
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
