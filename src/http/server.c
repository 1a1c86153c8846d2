/*
 * server.c - libmicrohttpd glue: one CIMI request per HTTP request.
 *
 * For each request, on the first call (headers only, no body byte read
 * yet): check the request target's size and the body's framing, negotiate
 * formats and admit the client (admit.c: rate limits, HTTP Basic; a failed
 * login's answer waits, see logindelay.h).  Whatever is refused there is
 * answered at once and its body never read (libmicrohttpd then sends no
 * `100 Continue` and closes the connection instead of reading on).  A
 * request without a body is served right away; one with a body takes its
 * share of the body budget (bodybudget.h), and its body is collected (up to
 * max-body bytes) and served on the last call.  Serving: read the query and
 * the base URI (target.c), hand a struct cimi_request to cimi_handle() and
 * send back what it answers, encoded with the negotiated codec.  One log
 * line per request.  Slow clients are cut off by deadline.h.
 */
#include "http/server.h"

#include <arpa/inet.h>
#include <gnutls/gnutls.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "auth/auth.h"
#include "cimi/request.h"
#include "http/admit.h"
#include "http/bodybudget.h"
#include "http/content.h"
#include "http/deadline.h"
#include "http/framing.h"
#include "http/logindelay.h"
#include "http/negotiate.h"
#include "http/ratelimit.h"
#include "http/target.h"
#include "http/upload.h"
#include "http/urldecode.h"
#include "util/clock.h"
#include "util/log.h"

/* libmicrohttpd's memory per connection: the request line and headers must
 * fit in it (else 431, or 414 for the request line). */
#define HEADER_MEMORY_LIMIT 65536

struct http_server {
    struct MHD_Daemon *daemon;
    const struct config *cfg;
    char *tls_cert;
    char *tls_key;
};

/* Per-request state kept between the calls MHD makes for one request. */
struct pending {
    char *body;
    size_t len;
    size_t cap;
    size_t reserved;                /* bytes of the body budget held */
    struct upload *upload;          /* a Package upload: the body goes to a file (upload.h) */
    bool too_large;
    bool admitted;                  /* the first call is done and let the body come */
    bool close;                     /* framing in doubt: close after the answer */
    bool decided;                   /* refused on the first call: p->resp is the answer */
    int refused;                    /* status decided from the request target (414) */
    const char *refused_why;
    struct principal who;           /* admitted on the first call */
    double started_ms;
    struct deadline *deadline;      /* the connection's (deadline.h), may be NULL */
    /* The answer; kept while a failed login waits (delay_ms > 0, held). */
    struct cimi_response resp;
    const struct codec *out;
    char version[32];
    long delay_ms;
    bool held;
    struct login_hold hold;
};

static const struct config *server_cfg;
static bool server_tls;

/* Each HTTP thread keeps the struct pending of its last finished request for
 * the next one: a new one would be a large malloc per request, and in glibc a
 * large malloc first merges every small chunk freed since (the documents'). */
static pthread_key_t spare_pending;
static pthread_once_t spare_pending_once = PTHREAD_ONCE_INIT;

static void spare_pending_init(void)
{
    if (pthread_key_create(&spare_pending, free) != 0)
        abort();
}

static struct pending *pending_new(void)
{
    struct pending *p = pthread_getspecific(spare_pending);

    if (p == NULL)
        return calloc(1, sizeof(*p));
    pthread_setspecific(spare_pending, NULL);
    memset(p, 0, sizeof(*p));
    return p;
}

static void pending_free(struct pending *p)
{
    json_decref(p->resp.doc);
    free(p->body);
    upload_free(p->upload);
    body_budget_give(p->reserved);
    if (pthread_getspecific(spare_pending) != NULL || pthread_setspecific(spare_pending, p) != 0)
        free(p);
}

static void *read_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    long n;

    if (f == NULL)
        return NULL;
    if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 && n < 1048576 &&
        fseek(f, 0, SEEK_SET) == 0 && (buf = malloc((size_t)n + 1)) != NULL) {
        if (fread(buf, 1, (size_t)n, f) != (size_t)n) {
            free(buf);
            buf = NULL;
        } else {
            buf[n] = '\0';
        }
    }
    fclose(f);
    return buf;
}

static int append_body(struct pending *p, const char *data, size_t size)
{
    if (p->too_large || p->len + size > (size_t)server_cfg->max_body) {
        p->too_large = true;
        return 0;
    }
    if (p->len + size + 1 > p->cap) {
        size_t cap = p->cap ? p->cap * 2 : 4096;
        char *body;
        while (cap < p->len + size + 1)
            cap *= 2;
        if (cap > p->reserved + 1 && p->len + size <= p->reserved)
            cap = p->reserved + 1;            /* no more than the announced length */
        body = realloc(p->body, cap);
        if (body == NULL)
            return -1;
        p->body = body;
        p->cap = cap;
    }
    memcpy(p->body + p->len, data, size);
    p->len += size;
    p->body[p->len] = '\0';
    return 0;
}

static void add_common_headers(struct MHD_Response *r, const char *version)
{
    MHD_add_response_header(r, "CIMI-Specification-Version", version);
    MHD_add_response_header(r, "Cache-Control", "no-store");
}

static enum MHD_Result send_response(struct MHD_Connection *conn, struct cimi_response *resp,
                                     const struct codec *out, const char *version, bool close)
{
    struct MHD_Response *r;
    enum MHD_Result ret;
    char *bytes = NULL;
    size_t len = 0;

    if (resp->doc != NULL) {
        bytes = out->encode(resp->doc, resp->type, resp->collection, &len);
        if (bytes == NULL) {
            resp->status = 500;
            len = 0;
        }
    }
    r = MHD_create_response_from_buffer(len, bytes ? bytes : (char *)"", bytes ? MHD_RESPMEM_MUST_FREE
                                                                           : MHD_RESPMEM_PERSISTENT);
    if (r == NULL) {
        free(bytes);
        return MHD_NO;
    }
    if (bytes != NULL)
        MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, out->media_type);
    add_common_headers(r, version);
    if (close)
        MHD_add_response_header(r, MHD_HTTP_HEADER_CONNECTION, "close");
    if (resp->location[0])
        MHD_add_response_header(r, MHD_HTTP_HEADER_LOCATION, resp->location);
    if (resp->job_uri[0])
        MHD_add_response_header(r, "CIMI-Job-URI", resp->job_uri);
    if (resp->etag[0])
        MHD_add_response_header(r, MHD_HTTP_HEADER_ETAG, resp->etag);
    if (resp->retry_after > 0) {
        char seconds[16];
        snprintf(seconds, sizeof(seconds), "%d", resp->retry_after);
        MHD_add_response_header(r, MHD_HTTP_HEADER_RETRY_AFTER, seconds);
    }
    if (resp->status == 401)
        MHD_add_response_header(r, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Basic realm=\"cimid\"");
    if (resp->status == 405)
        MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW,
                                resp->allow[0] ? resp->allow : "GET, HEAD");
    ret = MHD_queue_response(conn, (unsigned int)resp->status, r);
    MHD_destroy_response(r);
    return ret;
}

/* The reply codec ($format, Accept) and the CIMI version.  0, or -1 with
 * err (p->out and p->version then hold what the error is sent with). */
static int negotiate(struct MHD_Connection *conn, struct pending *p, struct cimi_error *err)
{
    const char *format = NULL;
    const char *accept = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_ACCEPT);
    const char *spec = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "CIMI-Specification-Version");
    char *format_text = NULL;
    const char *why;
    int rc = 0;

    snprintf(p->version, sizeof(p->version), "1.1.0");
    format = http_format_param(conn);
    /* An undecodable $format is refused by negotiate_reply as it is. */
    if (format != NULL && (format_text = url_decode(format, &why)) != NULL)
        format = format_text;
    p->out = negotiate_reply(format, accept, err);
    if (p->out == NULL) {
        p->out = &codec_json;
        rc = -1;
    } else if (negotiate_version(spec, p->version, sizeof(p->version), err) == NULL) {
        snprintf(p->version, sizeof(p->version), "1.1.0");
        rc = -1;
    }
    free(format_text);
    return rc;
}

/* Serve the admitted request (p->who, on st; a read transaction may be
 * open): build the CIMI request and run it; the answer goes to p->resp. */
static void serve(struct MHD_Connection *conn, const char *url, const char *method,
                  struct pending *p, struct store *st)
{
    struct cimi_request req;
    struct cimi_error err;
    struct cimi_response *resp = &p->resp;
    char *path = NULL;
    const char *why;

    memset(&req, 0, sizeof(req));
    err_clear(&err);
    cimi_query_init(&req.query);
    req.st = st;
    req.who = p->who;
    if (http_query(conn, &req.query, &err) != 0)
        goto fail;
    if (p->too_large) {
        err_set(&err, 400, "body", "request body exceeds the limit of %ld bytes",
                server_cfg->max_body);
        goto fail;
    }
    if (http_base_uri(conn, server_cfg, server_tls, req.base_uri, sizeof(req.base_uri), &err) != 0)
        goto fail;
    path = url_decode(url, &why);
    if (path == NULL) {
        err_set(&err, strcmp(why, "out of memory") == 0 ? 500 : 400, "path",
                "the request path has %s", why);
        goto fail;
    }
    if (strcmp(path, CIMI_PREFIX) != 0 && strncmp(path, CIMI_PREFIX "/", strlen(CIMI_PREFIX) + 1) != 0) {
        err_set(&err, 404, NULL, "no resource at '%.200s'; the CloudEntryPoint is at %scloudEntryPoint",
                path, req.base_uri);
        goto fail;
    }
    req.path = path[strlen(CIMI_PREFIX)] == '/' ? path + strlen(CIMI_PREFIX) + 1 : "";
    req.method = method;
    req.if_match = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_IF_MATCH);
    if (p->len > 0) {
        req.in = negotiate_body(MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
                                                            MHD_HTTP_HEADER_CONTENT_TYPE), &err);
        if (req.in == NULL)
            goto fail;
        req.body = p->body;
        req.body_len = p->len;
    }
    cimi_handle(&req, resp);
    st->ops->read_end(st);
    cimi_query_free(&req.query);
    free(path);
    return;
fail:
    st->ops->read_end(st);
    cimi_query_free(&req.query);
    free(path);
    cimi_error_response(resp, &err, NULL);
}

/* The connection's deadline (deadline.h), from its socket context. */
static struct deadline *connection_deadline(struct MHD_Connection *conn)
{
    const union MHD_ConnectionInfo *info =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);

    return info ? info->socket_context : NULL;
}

/* Send p's answer and log the request. */
static enum MHD_Result answer(struct MHD_Connection *conn, const char *url, const char *method,
                              struct pending *p)
{
    enum MHD_Result ret = send_response(conn, &p->resp, p->out, p->version, p->close);
    long tenths = (long)((clock_mono_ms() - p->started_ms) * 10.0 + 0.5);   /* 0.1 ms */

    deadline_restart(p->deadline);
    log_info("http: %s %s %d %ld.%ldms", method, url, p->resp.status, tenths / 10, tenths % 10);
    json_decref(p->resp.doc);
    p->resp.doc = NULL;
    return ret;
}

/* Send p's decided answer, after a failed login's delay (logindelay.h) if
 * it has one. */
static enum MHD_Result answer_decided(struct MHD_Connection *conn, const char *url,
                                      const char *method, struct pending *p)
{
    if (p->delay_ms > 0 && !p->held) {
        p->held = true;
        if (login_delay_hold(&p->hold, conn, p->delay_ms))
            return MHD_YES;
    }
    return answer(conn, url, method, p);
}

/* The first call refuses the request with err.  A request with a body is
 * answered now: libmicrohttpd then reads none of it and closes the
 * connection after the answer.  One without a body is answered on the last
 * call, which comes at once, and its connection stays open. */
static enum MHD_Result refuse(struct MHD_Connection *conn, const char *url, const char *method,
                              struct pending *p, const struct cimi_error *err, bool now)
{
    cimi_error_response(&p->resp, err, NULL);
    p->decided = true;
    if (!now) {
        deadline_resume(p->deadline);
        return MHD_YES;
    }
    return answer_decided(conn, url, method, p);
}

/* Take the body's share of the budget (its length, or max-body when
 * chunked).  0, or -1 with err (400 too large, 503 budget spent). */
static int reserve_body(struct pending *p, long long body_bytes, struct cimi_error *err)
{
    size_t bytes = body_bytes < 0 ? (size_t)server_cfg->max_body : (size_t)body_bytes;

    if (body_bytes > server_cfg->max_body)
        return err_set(err, 400, "body", "request body exceeds the limit of %ld bytes",
                       server_cfg->max_body);
    if (!body_budget_take(bytes)) {
        p->resp.retry_after = 1;
        return err_set(err, 503, NULL, "too many request bodies in flight; retry after 1 s");
    }
    p->reserved = bytes;
    return 0;
}

/* The first call: headers only, no body byte read.  Check the framing and
 * the target, negotiate, admit, and take the body's budget; refuse what
 * fails, before its body is read. */
static enum MHD_Result first_call(struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *http_version, struct pending *p)
{
    struct cimi_error err, unacceptable;
    struct store *st = NULL;
    long long body_bytes = 0;
    bool negotiated, has_body;
    int rc;

    p->admitted = true;
    deadline_pause(p->deadline);
    err_clear(&err);
    err_clear(&unacceptable);
    negotiated = negotiate(conn, p, &unacceptable) == 0;
    if (framing_check_body(conn, http_version, &body_bytes, &err) != 0) {
        p->close = true;
        return refuse(conn, url, method, p, &err, true);
    }
    has_body = body_bytes != 0;
    if (p->refused != 0) {
        err_set(&err, p->refused, NULL, "%s", p->refused_why);
        p->close = true;                  /* as libmicrohttpd's own 414 does */
        return refuse(conn, url, method, p, &err, has_body);
    }
    if (!negotiated)
        return refuse(conn, url, method, p, &unacceptable, has_body);
    rc = http_admit(conn, &st, &p->who, &p->resp.retry_after, &p->delay_ms, &err);
    if (st != NULL)
        st->ops->read_end(st);
    if (rc == 0 && upload_wanted(conn, method, url, CIMI_PREFIX))
        rc = upload_begin(&p->who, has_body ? body_bytes : 0, &p->upload, &err);
    else if (rc == 0 && has_body)
        rc = reserve_body(p, body_bytes, &err);
    if (rc != 0)
        return refuse(conn, url, method, p, &err, has_body);
    deadline_resume(p->deadline);
    return MHD_YES;
}

/* The upload is complete: store the Package and answer 201 with it (a read
 * of the new resource, as its GET would answer). */
static void serve_upload(struct MHD_Connection *conn, struct pending *p, struct store *st)
{
    struct cimi_error err;
    char id[256], item[300];
    const char *href;

    err_clear(&err);
    st->ops->read_end(st);
    if (upload_finish(p->upload, conn, &p->who, st, id, sizeof(id), &err) != 0) {
        cimi_error_response(&p->resp, &err, NULL);
        return;
    }
    snprintf(item, sizeof(item), CIMI_PREFIX "/%s", id);
    serve(conn, item, "GET", p, st);
    href = json_string_value(json_object_get(p->resp.doc, "id"));
    if (p->resp.status == 200 && href != NULL) {
        p->resp.status = 201;
        snprintf(p->resp.location, sizeof(p->resp.location), "%s", href);
    }
}

/* GET or HEAD of a Package's content (content.h): its bytes, or a CIMI
 * error document. */
static enum MHD_Result answer_content(struct MHD_Connection *conn, const char *url,
                                      const char *method, struct pending *p, struct store *st,
                                      const char *path)
{
    struct cimi_error err;
    struct MHD_Response *r;
    unsigned int status = 0;
    enum MHD_Result ret;
    long tenths;

    err_clear(&err);
    r = content_response(conn, &p->who, st, path, p->deadline, &status, &err);
    st->ops->read_end(st);
    if (r == NULL) {
        cimi_error_response(&p->resp, &err, NULL);
        return answer(conn, url, method, p);
    }
    add_common_headers(r, p->version);
    ret = MHD_queue_response(conn, status, r);
    MHD_destroy_response(r);
    deadline_restart(p->deadline);
    tenths = (long)((clock_mono_ms() - p->started_ms) * 10.0 + 0.5);
    log_info("http: %s %s %u %ld.%ldms", method, url, status, tenths / 10, tenths % 10);
    return ret;
}

/* The last call: the body (if any) is in.  Serve the admitted request, on
 * the user row as it is now (read in the same read transaction as a GET's
 * resource). */
static enum MHD_Result last_call(struct MHD_Connection *conn, const char *url,
                                 const char *method, struct pending *p)
{
    struct cimi_error err;
    struct store *st;
    bool read_only = p->len == 0 && (strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0);
    char path[256];

    deadline_pause(p->deadline);
    if (p->decided)
        return answer_decided(conn, url, method, p);
    err_clear(&err);
    st = store_for_thread(&err);
    if (st != NULL && read_only && st->ops->read_begin(st, NULL) != 0)
        st->ops->read_end(st);
    if (st == NULL || auth_still_current(st, &p->who, &err) != 0) {
        if (st != NULL)
            st->ops->read_end(st);
        cimi_error_response(&p->resp, &err, NULL);
        return answer(conn, url, method, p);
    }
    if (p->upload != NULL)
        serve_upload(conn, p, st);
    else if (content_wanted(method, url, CIMI_PREFIX, path, sizeof(path)))
        return answer_content(conn, url, method, p, st, path);
    else
        serve(conn, url, method, p, st);
    return answer(conn, url, method, p);
}

/* The request target, before libmicrohttpd parses its query: a new
 * struct pending for the request, marked refused (414) when the target is
 * too large (framing.h). */
static void *on_uri(void *cls, const char *uri, struct MHD_Connection *conn)
{
    struct pending *p = pending_new();

    (void)cls;
    if (p == NULL)
        return NULL;
    p->started_ms = clock_mono_ms();
    p->deadline = connection_deadline(conn);
    p->refused_why = framing_check_target(uri);
    if (p->refused_why != NULL)
        p->refused = 414;
    return p;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *http_version,
                                  const char *upload_data, size_t *upload_data_size,
                                  void **con_cls)
{
    struct pending *p = *con_cls;

    if (p == NULL && (p = *con_cls = on_uri(cls, "", conn)) == NULL)
        return MHD_NO;
    if (p->held)                      /* back from a login delay */
        return answer(conn, url, method, p);
    if (!p->admitted)
        return first_call(conn, url, method, http_version, p);
    if (*upload_data_size != 0 && p->decided) {
        *upload_data_size = 0;                /* an upload refused midway: dropped */
        return MHD_YES;
    }
    if (*upload_data_size != 0 && p->upload != NULL) {
        struct cimi_error err;
        /* Past a limit: the answer is decided and the rest of the body is
         * dropped (libmicrohttpd cannot answer in the middle of a body). */
        if (upload_write(&p->upload, upload_data, upload_data_size, p->deadline, &err) != 0) {
            cimi_error_response(&p->resp, &err, NULL);
            p->decided = p->close = true;
        }
        return MHD_YES;
    }
    if (*upload_data_size != 0) {
        if (append_body(p, upload_data, *upload_data_size) != 0)
            return MHD_NO;
        *upload_data_size = 0;
        return MHD_YES;
    }
    return last_call(conn, url, method, p);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    struct pending *p = *con_cls;

    (void)cls;
    (void)toe;
    deadline_restart(connection_deadline(conn));
    if (p != NULL) {
        pending_free(p);
        *con_cls = NULL;
    }
}

/* Connections opened and closed: their deadlines. */
static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
                          enum MHD_ConnectionNotificationCode code)
{
    (void)cls;
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        const union MHD_ConnectionInfo *fd =
            MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
        char address[80];
        http_client_address(conn, address, sizeof(address));
        *socket_context = fd ? deadline_open(fd->connect_fd, address) : NULL;
    } else if (code == MHD_CONNECTION_NOTIFY_CLOSED) {
        deadline_close(*socket_context);
        *socket_context = NULL;
    }
}

static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
    char line[512];
    size_t n;

    (void)cls;
    vsnprintf(line, sizeof(line), fmt, ap);
    n = strlen(line);
    while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
        line[--n] = '\0';
    log_warn("http: %s", line);
}

static int listen_address(const struct config *cfg, struct sockaddr_storage *ss)
{
    struct sockaddr_in *v4 = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)ss;

    memset(ss, 0, sizeof(*ss));
    if (inet_pton(AF_INET, cfg->listen, &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons((uint16_t)cfg->port);
        return 0;
    }
    if (inet_pton(AF_INET6, cfg->listen, &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons((uint16_t)cfg->port);
        return 0;
    }
    return -1;
}

/* Refuse a certificate or key GnuTLS cannot use, saying why (libmicrohttpd
 * would only report that it cannot listen). */
static int check_tls_pair(const char *cert, const char *key)
{
    gnutls_certificate_credentials_t creds;
    gnutls_datum_t c = {(unsigned char *)cert, (unsigned int)strlen(cert)};
    gnutls_datum_t k = {(unsigned char *)key, (unsigned int)strlen(key)};
    int rc;

    if (gnutls_certificate_allocate_credentials(&creds) != GNUTLS_E_SUCCESS)
        return -1;
    rc = gnutls_certificate_set_x509_key_mem(creds, &c, &k, GNUTLS_X509_FMT_PEM);
    gnutls_certificate_free_credentials(creds);
    if (rc < 0) {
        log_error("http: unusable TLS certificate %s or key %s: %s", server_cfg->tls_cert,
                  server_cfg->tls_key, gnutls_strerror(rc));
        return -1;
    }
    return 0;
}

/* --address-connection-limit, or by default an eighth of the connections
 * (at least 1): one address cannot hold every slot. */
static int address_connection_limit(const struct config *cfg)
{
    if (cfg->address_connection_limit >= 0)
        return cfg->address_connection_limit;
    return cfg->connection_limit / 8 > 1 ? cfg->connection_limit / 8 : 1;
}

struct http_server *http_server_start(const struct config *cfg)
{
    struct http_server *srv = calloc(1, sizeof(*srv));
    struct sockaddr_storage addr;
    unsigned int flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ERROR_LOG |
                         MHD_ALLOW_SUSPEND_RESUME;

    if (srv == NULL)
        return NULL;
    pthread_once(&spare_pending_once, spare_pending_init);
    server_cfg = cfg;
    srv->cfg = cfg;
    if (listen_address(cfg, &addr) != 0) {
        log_error("http: invalid listen address '%s' (give an IPv4 or IPv6 literal)", cfg->listen);
        free(srv);
        return NULL;
    }
    if (addr.ss_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    server_tls = cfg->tls_cert[0] != '\0';
    if (server_tls) {
        srv->tls_cert = read_file(cfg->tls_cert);
        srv->tls_key = read_file(cfg->tls_key);
        if (srv->tls_cert == NULL || srv->tls_key == NULL) {
            log_error("http: cannot read the TLS %s %s", srv->tls_cert ? "key" : "certificate",
                      srv->tls_cert ? cfg->tls_key : cfg->tls_cert);
            http_server_stop(srv);
            return NULL;
        }
        if (check_tls_pair(srv->tls_cert, srv->tls_key) != 0) {
            http_server_stop(srv);
            return NULL;
        }
        flags |= MHD_USE_TLS;
    }
    body_budget_init((size_t)cfg->max_buffered_bodies);
    if (ratelimit_init(cfg->rate_limit, cfg->rate_burst, cfg->anonymous_rate_limit,
                       cfg->anonymous_rate_burst) != 0 ||
        login_delay_start(cfg->login_delay_ms, cfg->login_delay_max_ms) != 0 ||
        deadline_start(cfg->connection_timeout) != 0) {
        log_error("http: cannot set up the limits");
        http_server_stop(srv);
        return NULL;
    }
    srv->daemon = MHD_start_daemon(
        flags, (uint16_t)cfg->port, NULL, NULL, on_request, srv,
        MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, srv,
        MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr,
        MHD_OPTION_THREAD_POOL_SIZE, (unsigned int)cfg->http_threads,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned int)cfg->connection_limit,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)cfg->connection_timeout,
        MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned int)address_connection_limit(cfg),
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)HEADER_MEMORY_LIMIT,
        MHD_OPTION_URI_LOG_CALLBACK, on_uri, srv,
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, srv,
        MHD_OPTION_NOTIFY_CONNECTION, on_connection, srv,
        MHD_OPTION_UNESCAPE_CALLBACK, http_keep_escaped, NULL,
        server_tls ? MHD_OPTION_HTTPS_MEM_CERT : MHD_OPTION_END, srv->tls_cert,
        MHD_OPTION_HTTPS_MEM_KEY, srv->tls_key,
        MHD_OPTION_END);
    if (srv->daemon == NULL) {
        log_error("http: cannot listen on %s port %d", cfg->listen, cfg->port);
        http_server_stop(srv);
        return NULL;
    }
    return srv;
}

void http_server_stop(struct http_server *srv)
{
    if (srv == NULL)
        return;
    login_delay_stop();            /* answers every waiting failed login */
    if (srv->daemon != NULL)
        MHD_stop_daemon(srv->daemon);
    free(pthread_getspecific(spare_pending));     /* if this thread ended a request */
    pthread_setspecific(spare_pending, NULL);
    deadline_stop();
    login_delay_free();
    ratelimit_free();
    free(srv->tls_cert);
    free(srv->tls_key);
    free(srv);
}
