/*
 * http.c - HTTP requests with libcurl for the cimi client.
 *
 * One easy handle per run so that the connection is reused between the
 * requests of one command (discovery, the operation, Job polling).  Replies
 * are collected in memory up to MAX_BODY bytes; the header callback keeps
 * the status line's reason phrase and the headers CIMI needs.  Uploads
 * and downloads stream through libcurl's read and write callbacks, with no
 * overall time limit but a minimum speed, and report through xferinfo.
 */
#include "cli/http.h"

#include <ctype.h>
#include <curl/curl.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MAX_BODY (64u * 1024u * 1024u)
#define CONNECT_TIMEOUT_S 15L
#define REQUEST_TIMEOUT_S 300L
#define STALL_TIMEOUT_S 120L            /* a transfer that moves nothing that long fails */
#define UPLOAD_BUFFER (1024L * 1024L)
#define DOWNLOAD_BUFFER (512L * 1024L)

struct http_client {
    CURL *curl;
    struct http_settings settings;
    char errbuf[CURL_ERROR_SIZE];
};

/* Reply being received. */
struct receiving {
    struct http_reply *reply;
    size_t cap;
    bool too_big;
    bool oom;
};

/* A streamed transfer: its reply, where its body comes from or goes to. */
struct transfer {
    struct receiving rx;
    CURL *curl;
    FILE *in;                          /* upload: the body */
    int in_errno;                      /* upload: a read error */
    const struct http_sink *sink;      /* download: where a 200/206 body goes */
    enum { BODY_UNDECIDED, BODY_TO_SINK, BODY_TO_REPLY } body;
    bool sink_failed;
    long long base;                    /* download: the file offset the body starts at */
    const struct http_progress *progress;
};

struct http_client *http_open(const struct http_settings *settings, struct cli_error *err)
{
    struct http_client *client;

    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        cli_fail(err, CLI_CONNECT, "cannot initialise libcurl");
        return NULL;
    }
    client = calloc(1, sizeof(*client));
    if (client != NULL)
        client->curl = curl_easy_init();
    if (client == NULL || client->curl == NULL) {
        free(client);
        curl_global_cleanup();
        cli_fail(err, CLI_USAGE, "out of memory");
        return NULL;
    }
    client->settings = *settings;
    return client;
}

void http_close(struct http_client *client)
{
    if (client == NULL)
        return;
    curl_easy_cleanup(client->curl);
    free(client);
    curl_global_cleanup();
}

void http_reply_clear(struct http_reply *reply)
{
    free(reply->location);
    free(reply->job_uri);
    free(reply->body);
    memset(reply, 0, sizeof(*reply));
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *arg)
{
    struct receiving *rx = arg;
    struct http_reply *reply = rx->reply;
    size_t n = size * nmemb;
    char *grown;

    if (reply->len + n > MAX_BODY) {
        rx->too_big = true;
        return 0;
    }
    if (reply->len + n + 1 > rx->cap) {
        size_t cap = rx->cap ? rx->cap : 4096;
        while (cap < reply->len + n + 1)
            cap *= 2;
        grown = realloc(reply->body, cap);
        if (grown == NULL) {
            rx->oom = true;
            return 0;
        }
        reply->body = grown;
        rx->cap = cap;
    }
    memcpy(reply->body + reply->len, data, n);
    reply->len += n;
    reply->body[reply->len] = '\0';
    return n;
}

/* A header value without surrounding white space, malloc'd. */
static char *header_value(const char *line, size_t n, size_t name_len)
{
    const char *v = line + name_len + 1;
    const char *end = line + n;
    char *out;

    while (v < end && (*v == ' ' || *v == '\t'))
        v++;
    while (end > v && isspace((unsigned char)end[-1]))
        end--;
    out = malloc((size_t)(end - v) + 1);
    if (out != NULL) {
        memcpy(out, v, (size_t)(end - v));
        out[end - v] = '\0';
    }
    return out;
}

static bool is_header(const char *line, size_t n, const char *name)
{
    size_t len = strlen(name);

    return n > len && line[len] == ':' && strncasecmp(line, name, len) == 0;
}

/* "HTTP/1.1 409 Conflict": a new reply starts (after a 100 Continue too). */
static void on_status_line(struct http_reply *reply, const char *line, size_t n)
{
    const char *p = memchr(line, ' ', n);
    const char *end = line + n;
    size_t len;

    free(reply->location);
    free(reply->job_uri);
    reply->location = reply->job_uri = NULL;
    reply->reason[0] = reply->content_type[0] = reply->etag[0] = '\0';
    reply->range_start = -1;
    if (p == NULL || (p = memchr(p + 1, ' ', (size_t)(end - p - 1))) == NULL)
        return;
    p++;
    while (end > p && isspace((unsigned char)end[-1]))
        end--;
    len = (size_t)(end - p);
    cli_printable(p, len, reply->reason, sizeof(reply->reason));
}

static void set_content_type(struct http_reply *reply, const char *line, size_t n)
{
    char *v = header_value(line, n, strlen("Content-Type"));
    size_t i;

    if (v == NULL)
        return;
    for (i = 0; v[i] != '\0' && v[i] != ';' && v[i] != ' ' && i + 1 < sizeof(reply->content_type);
         i++)
        reply->content_type[i] = (char)tolower((unsigned char)v[i]);
    reply->content_type[i] = '\0';
    free(v);
}

static void set_etag(struct http_reply *reply, const char *line, size_t n)
{
    char *v = header_value(line, n, strlen("ETag"));

    if (v != NULL)
        cli_printable(v, strlen(v), reply->etag, sizeof(reply->etag));
    free(v);
}

/* "Content-Range: bytes 100-199/200": range_start = 100. */
static void set_range_start(struct http_reply *reply, const char *line, size_t n)
{
    char *v = header_value(line, n, strlen("Content-Range")), *end;
    long long start;

    if (v != NULL && strncmp(v, "bytes ", 6) == 0 && isdigit((unsigned char)v[6])) {
        errno = 0;
        start = strtoll(v + 6, &end, 10);
        if (errno == 0 && *end == '-')
            reply->range_start = start;
    }
    free(v);
}

static size_t on_header(char *line, size_t size, size_t nmemb, void *arg)
{
    struct receiving *rx = arg;
    struct http_reply *reply = rx->reply;
    size_t n = size * nmemb;

    if (n >= 5 && strncmp(line, "HTTP/", 5) == 0) {
        on_status_line(reply, line, n);
    } else if (is_header(line, n, "Content-Type")) {
        set_content_type(reply, line, n);
    } else if (is_header(line, n, "Location")) {
        free(reply->location);
        reply->location = header_value(line, n, strlen("Location"));
        rx->oom |= reply->location == NULL;
    } else if (is_header(line, n, "CIMI-Job-URI")) {
        free(reply->job_uri);
        reply->job_uri = header_value(line, n, strlen("CIMI-Job-URI"));
        rx->oom |= reply->job_uri == NULL;
    } else if (is_header(line, n, "ETag")) {
        set_etag(reply, line, n);
    } else if (is_header(line, n, "Content-Range")) {
        set_range_start(reply, line, n);
    }
    return n;
}

/* Headers of one request: Accept, Content-Type (if not NULL), the extra
 * lines (NULL-terminated, may be NULL) and Expect: 100-continue (the server
 * may refuse before the body is sent) or an empty Expect (no wait).  NULL
 * when out of memory. */
static struct curl_slist *request_headers(const char *accept, const char *content_type,
                                          const char *const *extra, bool expect_continue)
{
    struct curl_slist *list = NULL, *next;
    char lines[3][256];
    size_t n = 0;

    snprintf(lines[n++], sizeof(lines[0]), "Accept: %s", accept ? accept : "*/*");
    if (content_type != NULL)
        snprintf(lines[n++], sizeof(lines[0]), "Content-Type: %s", content_type);
    snprintf(lines[n++], sizeof(lines[0]), "Expect:%s", expect_continue ? " 100-continue" : "");
    for (size_t i = 0; i < n; i++) {
        next = curl_slist_append(list, lines[i]);
        if (next == NULL)
            goto oom;
        list = next;
    }
    for (size_t i = 0; extra != NULL && extra[i] != NULL; i++) {
        next = curl_slist_append(list, extra[i]);
        if (next == NULL)
            goto oom;
        list = next;
    }
    return list;
oom:
    curl_slist_free_all(list);
    return NULL;
}

/* Options of every request; a streamed transfer has no overall time limit
 * but fails when it moves nothing for STALL_TIMEOUT_S. */
static void set_common_options(struct http_client *client, struct receiving *rx, bool streamed)
{
    CURL *c = client->curl;
    const struct http_settings *s = &client->settings;

    curl_easy_reset(c);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, client->errbuf);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, CONNECT_TIMEOUT_S);
    if (streamed) {
        curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
        curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, STALL_TIMEOUT_S);
    } else {
        curl_easy_setopt(c, CURLOPT_TIMEOUT, REQUEST_TIMEOUT_S);
    }
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_USERAGENT, "cimi/" CIMI_VERSION);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, rx);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, rx);
    if (s->user != NULL) {
        curl_easy_setopt(c, CURLOPT_HTTPAUTH, CURLAUTH_BASIC);
        curl_easy_setopt(c, CURLOPT_USERNAME, s->user);
        curl_easy_setopt(c, CURLOPT_PASSWORD, s->password ? s->password : "");
    }
    if (s->cacert != NULL)
        curl_easy_setopt(c, CURLOPT_CAINFO, s->cacert);
    if (s->insecure) {
        curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 0L);
    }
}

static void set_method(CURL *c, const char *method, const char *body, size_t body_len)
{
    if (strcmp(method, "GET") == 0) {
        curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
        return;
    }
    if (strcmp(method, "POST") != 0)
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    if (body != NULL || strcmp(method, "DELETE") != 0) {
        curl_easy_setopt(c, CURLOPT_POST, 1L);
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body ? body : "");
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)(body ? body_len : 0));
    }
}

/* The message for a transport failure, naming the URL. */
static int transport_error(struct http_client *client, CURLcode rc, const char *method,
                           const char *url, struct cli_error *err)
{
    const char *detail = client->errbuf[0] ? client->errbuf : curl_easy_strerror(rc);
    const char *hint = "";

    if (rc == CURLE_PEER_FAILED_VERIFICATION || rc == CURLE_SSL_CACERT_BADFILE ||
        rc == CURLE_SSL_CONNECT_ERROR)
        hint = " (for a private CA give --cacert FILE; --insecure skips verification)";
    return cli_fail(err, CLI_CONNECT, "cannot %s %s: %s%s", method, url, detail, hint);
}

static void log_request(const struct http_client *client, const char *method, const char *url,
                        const struct http_reply *reply)
{
    if (!client->settings.verbose)
        return;
    if (reply == NULL)
        fprintf(stderr, "> %s %s\n", method, url);
    else
        fprintf(stderr, "< %ld %s%s%s (%zu bytes%s%s)\n", reply->status, reply->reason,
                reply->content_type[0] ? " " : "", reply->content_type, reply->len,
                reply->job_uri ? ", job " : "", reply->job_uri ? reply->job_uri : "");
}

/* After curl_easy_perform: the reply complete, or an error (reply cleared). */
static int finish_reply(struct http_client *client, CURLcode rc, const struct receiving *rx,
                        const char *method, const char *url, struct cli_error *err)
{
    struct http_reply *reply = rx->reply;

    if (rx->oom) {
        http_reply_clear(reply);
        return cli_fail(err, CLI_USAGE, "out of memory");
    }
    if (rx->too_big) {
        http_reply_clear(reply);
        return cli_fail(err, CLI_SERVER, "the reply to %s %s is larger than %u MiB", method, url,
                        MAX_BODY >> 20);
    }
    if (rc != CURLE_OK) {
        http_reply_clear(reply);
        return transport_error(client, rc, method, url, err);
    }
    curl_easy_getinfo(client->curl, CURLINFO_RESPONSE_CODE, &reply->status);
    if (reply->body == NULL && (reply->body = calloc(1, 1)) == NULL) {
        http_reply_clear(reply);
        return cli_fail(err, CLI_USAGE, "out of memory");
    }
    log_request(client, method, url, reply);
    return 0;
}

int http_request(struct http_client *client, const char *method, const char *url,
                 const char *accept, const char *content_type, const char *body,
                 size_t body_len, struct http_reply *reply, struct cli_error *err)
{
    struct receiving rx = {reply, 0, false, false};
    struct curl_slist *headers;
    CURLcode rc;

    memset(reply, 0, sizeof(*reply));
    reply->range_start = -1;
    headers = request_headers(accept, content_type, NULL, false);
    if (headers == NULL)
        return cli_fail(err, CLI_USAGE, "out of memory");
    set_common_options(client, &rx, false);
    client->errbuf[0] = '\0';
    curl_easy_setopt(client->curl, CURLOPT_URL, url);
    curl_easy_setopt(client->curl, CURLOPT_HTTPHEADER, headers);
    set_method(client->curl, method, body, body_len);
    log_request(client, method, url, NULL);
    rc = curl_easy_perform(client->curl);
    curl_easy_setopt(client->curl, CURLOPT_HTTPHEADER, NULL);
    curl_slist_free_all(headers);
    return finish_reply(client, rc, &rx, method, url, err);
}

char *http_add_query(const char *url, const char *name, const char *value)
{
    char *escaped = curl_easy_escape(NULL, value, 0);
    size_t len;
    char *out;

    if (escaped == NULL)
        return NULL;
    len = strlen(url) + strlen(name) + strlen(escaped) + 3;
    out = malloc(len);
    if (out != NULL)
        snprintf(out, len, "%s%c%s=%s", url, strchr(url, '?') ? '&' : '?', name, escaped);
    curl_free(escaped);
    return out;
}

/* ---- streamed transfers ---- */

static size_t on_upload_read(char *buf, size_t size, size_t nmemb, void *arg)
{
    struct transfer *t = arg;
    size_t got = fread(buf, 1, size * nmemb, t->in);

    if (got == 0 && ferror(t->in)) {
        t->in_errno = errno ? errno : EIO;
        return CURL_READFUNC_ABORT;
    }
    return got;
}

static int on_xferinfo(void *arg, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                       curl_off_t ulnow)
{
    struct transfer *t = arg;

    if (t->in != NULL)
        t->progress->show(t->progress->arg, (long long)ulnow, (long long)ultotal);
    else if (t->body == BODY_TO_SINK)
        t->progress->show(t->progress->arg, t->base + (long long)dlnow,
                          dltotal > 0 ? t->base + (long long)dltotal : 0);
    return 0;
}

/* Set up what every streamed transfer shares. */
static void start_transfer(struct http_client *client, struct transfer *t, const char *url,
                           struct curl_slist *headers)
{
    CURL *c = client->curl;

    set_common_options(client, &t->rx, true);
    client->errbuf[0] = '\0';
    t->curl = c;
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
    if (t->progress != NULL) {
        curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
        curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_xferinfo);
        curl_easy_setopt(c, CURLOPT_XFERINFODATA, t);
    }
}

int http_upload(struct http_client *client, const char *method, const char *url,
                const char *accept, const char *content_type, FILE *f, long long size,
                const struct http_progress *progress, struct http_reply *reply,
                struct cli_error *err)
{
    struct transfer t = {.rx = {reply, 0, false, false}, .in = f, .progress = progress};
    struct curl_slist *headers;
    CURLcode rc;

    memset(reply, 0, sizeof(*reply));
    reply->range_start = -1;
    headers = request_headers(accept, content_type, NULL, true);
    if (headers == NULL)
        return cli_fail(err, CLI_USAGE, "out of memory");
    start_transfer(client, &t, url, headers);
    curl_easy_setopt(client->curl, CURLOPT_UPLOAD_BUFFERSIZE, UPLOAD_BUFFER);
    if (strcmp(method, "POST") == 0)
        curl_easy_setopt(client->curl, CURLOPT_POST, 1L);
    else
        curl_easy_setopt(client->curl, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(client->curl, CURLOPT_READFUNCTION, on_upload_read);
    curl_easy_setopt(client->curl, CURLOPT_READDATA, &t);
    curl_easy_setopt(client->curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)size);
    curl_easy_setopt(client->curl, CURLOPT_INFILESIZE_LARGE, (curl_off_t)size);
    log_request(client, method, url, NULL);
    rc = curl_easy_perform(client->curl);
    curl_easy_setopt(client->curl, CURLOPT_HTTPHEADER, NULL);
    curl_slist_free_all(headers);
    if (t.in_errno != 0) {
        http_reply_clear(reply);
        return cli_fail(err, CLI_USAGE, "cannot read the file to upload: %s",
                        strerror(t.in_errno));
    }
    return finish_reply(client, rc, &t.rx, method, url, err);
}

/* Decide where the body goes once its status is known: 200 and 206 to the sink. */
static int choose_body(struct transfer *t)
{
    struct http_reply *reply = t->rx.reply;
    long status = 0;

    curl_easy_getinfo(t->curl, CURLINFO_RESPONSE_CODE, &status);
    t->body = BODY_TO_REPLY;
    if (status == 200 || (status == 206 && reply->range_start >= 0)) {
        t->base = status == 206 ? reply->range_start : 0;
        t->body = BODY_TO_SINK;
        if (t->sink->begin(t->sink->arg, t->base, reply->etag) < 0) {
            t->sink_failed = true;
            return -1;
        }
    }
    return 0;
}

static size_t on_download(char *data, size_t size, size_t nmemb, void *arg)
{
    struct transfer *t = arg;
    size_t n = size * nmemb;

    if (t->body == BODY_UNDECIDED && choose_body(t) < 0)
        return 0;
    if (t->body == BODY_TO_REPLY)
        return on_body(data, size, nmemb, &t->rx);
    if (t->sink->write(t->sink->arg, data, n) < 0) {
        t->sink_failed = true;
        return 0;
    }
    return n;
}

/* The Range and If-Range lines of a resumed download (extra[0..1]). */
static void range_lines(long long offset, const char *if_range, char range[64],
                        char condition[160], const char *extra[3])
{
    size_t n = 0;

    if (offset > 0) {
        snprintf(range, 64, "Range: bytes=%lld-", offset);
        extra[n++] = range;
        if (if_range != NULL && *if_range != '\0') {
            snprintf(condition, 160, "If-Range: %s", if_range);
            extra[n++] = condition;
        }
    }
    extra[n] = NULL;
}

int http_download(struct http_client *client, const char *url, long long offset,
                  const char *if_range, const struct http_sink *sink,
                  const struct http_progress *progress, struct http_reply *reply,
                  struct cli_error *err)
{
    struct transfer t = {.rx = {reply, 0, false, false}, .sink = sink, .progress = progress};
    struct curl_slist *headers;
    const char *extra[3];
    char range[64], condition[160];
    CURLcode rc;

    memset(reply, 0, sizeof(*reply));
    reply->range_start = -1;
    range_lines(offset, if_range, range, condition, extra);
    headers = request_headers("*/*", NULL, extra, false);
    if (headers == NULL)
        return cli_fail(err, CLI_USAGE, "out of memory");
    start_transfer(client, &t, url, headers);
    curl_easy_setopt(client->curl, CURLOPT_HTTPGET, 1L);
    curl_easy_setopt(client->curl, CURLOPT_BUFFERSIZE, DOWNLOAD_BUFFER);
    curl_easy_setopt(client->curl, CURLOPT_WRITEFUNCTION, on_download);
    curl_easy_setopt(client->curl, CURLOPT_WRITEDATA, &t);
    log_request(client, "GET", url, NULL);
    rc = curl_easy_perform(client->curl);
    curl_easy_setopt(client->curl, CURLOPT_HTTPHEADER, NULL);
    curl_slist_free_all(headers);
    if (rc == CURLE_OK && t.body == BODY_UNDECIDED && choose_body(&t) < 0)
        rc = CURLE_WRITE_ERROR;  /* an empty 200 body still begins the sink */
    if (t.sink_failed) {
        http_reply_clear(reply);
        return -1;  /* the sink said why */
    }
    return finish_reply(client, rc, &t.rx, "GET", url, err);
}
