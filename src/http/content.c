/*
 * content.c - a Package's bytes over HTTP (see content.h).
 *
 * The file is read with pread() into libmicrohttpd's response buffer as
 * the client takes it (never whole in memory).  A slow reader may take as
 * long as it needs as long as it keeps taking: each MiB it takes restarts
 * the connection's deadline (deadline.h), so one that stalls is cut off
 * like any slow client.
 */
#include "http/content.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cimi/request.h"
#include "http/urldecode.h"
#include "resources/package.h"
#include "util/log.h"

#define BLOCK_SIZE (256 * 1024)
#define CONTENT_PROGRESS_BYTES (1 << 20)

struct sender {
    int fd;
    uint64_t offset;             /* of the first byte sent in the file */
    uint64_t length;
    uint64_t next_progress;
    struct deadline *deadline;
};

bool content_wanted(const char *method, const char *url, const char *prefix, char *path,
                    size_t path_len)
{
    const char *why, *rest;
    char *decoded;
    bool wanted = false;

    if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
        return false;
    decoded = url_decode(url, &why);
    if (decoded == NULL)
        return false;
    rest = decoded + strlen(prefix);
    if (strncmp(decoded, prefix, strlen(prefix)) == 0 && strncmp(rest, "/packages/", 10) == 0) {
        const char *id = rest + 10;
        size_t n = strcspn(id, "/");
        if (n > 0 && strcmp(id + n, "/content") == 0 && n + 10 < path_len) {
            snprintf(path, path_len, "packages/%.*s", (int)n, id);
            wanted = true;
        }
    }
    free(decoded);
    return wanted;
}

/* A decimal number of at most 18 digits at *s (advanced past it); -1 when none. */
static long long number_at(const char **s)
{
    long long v = 0;
    int digits = 0;

    while (isdigit((unsigned char)**s) && digits < 19) {
        v = v * 10 + (**s - '0');
        (*s)++;
        digits++;
    }
    return digits == 0 || digits > 18 ? -1 : v;
}

enum range_kind { RANGE_WHOLE, RANGE_PART, RANGE_UNSATISFIABLE };

/* One "bytes=first-last", "bytes=first-" or "bytes=-suffix" Range for a
 * content of size bytes.  Anything else (several ranges, other units,
 * malformed) is ignored: the whole content (RFC 9110 14.2). */
static enum range_kind parse_range(const char *value, long long size, long long *first,
                                   long long *last)
{
    const char *s = value;
    long long a = -1, b = -1;

    if (value == NULL || strncmp(s, "bytes=", 6) != 0 || strchr(s, ',') != NULL)
        return RANGE_WHOLE;
    s += 6;
    if (*s != '-')
        a = number_at(&s);
    if (*s != '-')
        return RANGE_WHOLE;
    s++;
    if (*s != '\0')
        b = number_at(&s);
    if (*s != '\0' || (a < 0 && b < 0) || (a >= 0 && b >= 0 && b < a))
        return RANGE_WHOLE;
    if (a < 0) {                            /* the last b bytes */
        if (b == 0)
            return RANGE_UNSATISFIABLE;
        a = b >= size ? 0 : size - b;
        b = size - 1;
    } else if (a >= size) {
        return RANGE_UNSATISFIABLE;
    } else if (b < 0 || b >= size) {
        b = size - 1;
    }
    *first = a;
    *last = b;
    return RANGE_PART;
}

static ssize_t read_block(void *cls, uint64_t pos, char *buf, size_t max)
{
    struct sender *s = cls;
    size_t want = s->length - pos < max ? (size_t)(s->length - pos) : max;
    ssize_t n;

    if (want == 0)
        return MHD_CONTENT_READER_END_OF_STREAM;
    do
        n = pread(s->fd, buf, want, (off_t)(s->offset + pos));
    while (n < 0 && errno == EINTR);
    if (n <= 0) {
        log_error("http: reading a package's content: %s", n < 0 ? strerror(errno) : "end of file");
        return MHD_CONTENT_READER_END_WITH_ERROR;
    }
    if (pos + (uint64_t)n >= s->next_progress) {
        deadline_restart(s->deadline);
        s->next_progress = pos + (uint64_t)n + CONTENT_PROGRESS_BYTES;
    }
    return n;
}

static void free_sender(void *cls)
{
    struct sender *s = cls;

    close(s->fd);
    free(s);
}

/* 416 with the size in Content-Range. */
static struct MHD_Response *unsatisfiable(int fd, long long size, unsigned int *status)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
    char range[64];

    close(fd);
    if (r == NULL)
        return NULL;
    snprintf(range, sizeof(range), "bytes */%lld", size);
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_RANGE, range);
    *status = MHD_HTTP_RANGE_NOT_SATISFIABLE;
    return r;
}

/* The response sending bytes first..last of fd (size in all). */
static struct MHD_Response *part_of(int fd, long long first, long long last, struct deadline *d)
{
    struct sender *s = calloc(1, sizeof(*s));
    struct MHD_Response *r;

    if (s == NULL) {
        close(fd);
        return NULL;
    }
    s->fd = fd;
    s->offset = (uint64_t)first;
    s->length = (uint64_t)(last - first + 1);
    s->next_progress = CONTENT_PROGRESS_BYTES;
    s->deadline = d;
    r = MHD_create_response_from_callback(s->length, BLOCK_SIZE, read_block, s, free_sender);
    if (r == NULL)
        free_sender(s);
    return r;
}

struct MHD_Response *content_response(struct MHD_Connection *conn, const struct principal *who,
                                      struct store *st, const char *path, struct deadline *d,
                                      unsigned int *status, struct cimi_error *err)
{
    struct cimi_request req;
    struct MHD_Response *r;
    long long size, first = 0, last;
    char etag[80], disposition[96], range[96];
    enum range_kind kind;
    int fd, rc;

    memset(&req, 0, sizeof(req));
    req.method = "GET";
    req.path = path;
    req.who = *who;
    req.st = st;
    cimi_query_init(&req.query);
    rc = package_open_content(&req, path, &fd, &size, etag, sizeof(etag), err);
    cimi_query_free(&req.query);
    if (rc != 0)
        return NULL;
    last = size - 1;
    kind = parse_range(MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_RANGE),
                       size, &first, &last);
    if (kind == RANGE_UNSATISFIABLE)
        r = unsatisfiable(fd, size, status);
    else
        r = part_of(fd, first, last, d);
    if (r == NULL) {
        err_set(err, 500, NULL, "out of memory");
        return NULL;
    }
    if (kind == RANGE_PART) {
        snprintf(range, sizeof(range), "bytes %lld-%lld/%lld", first, last, size);
        MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_RANGE, range);
        *status = MHD_HTTP_PARTIAL_CONTENT;
    } else if (kind == RANGE_WHOLE) {
        *status = MHD_HTTP_OK;
    }
    if (kind != RANGE_UNSATISFIABLE)
        MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "application/x-tar");
    snprintf(disposition, sizeof(disposition), "attachment; filename=\"%s.ova\"",
             path + strlen("packages/"));
    MHD_add_response_header(r, "Content-Disposition", disposition);
    MHD_add_response_header(r, MHD_HTTP_HEADER_ACCEPT_RANGES, "bytes");
    MHD_add_response_header(r, MHD_HTTP_HEADER_ETAG, etag);
    return r;
}
