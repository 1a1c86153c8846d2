/*
 * download.c - fetching a file over http(s) with libcurl, with limits (see
 * download.h).  The bytes go straight to the file and through SHA-256
 * (GnuTLS) on the way, so nothing is read twice.  libcurl opens each socket
 * through open_socket(), which asks destination.h whether the address may
 * be connected to.
 */
#include "util/download.h"

#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <limits.h>
#include <unistd.h>

#include <curl/curl.h>
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>

#include "util/clock.h"
#include "util/destination.h"
#include "util/log.h"

#define SHA256_PREFIX "sha256:"
#define SHA256_BYTES 32
#define PROGRESS_EVERY_MS 1000.0
#define PROGRESS_EVERY_PERCENT 5

static long min_speed_bytes = DOWNLOAD_MIN_SPEED_BYTES;
static long min_speed_seconds = DOWNLOAD_MIN_SPEED_TIME_S;
static long timeout_seconds = DOWNLOAD_TIMEOUT_S;

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_result = CURLE_FAILED_INIT;

static void init_curl(void)
{
    curl_init_result = curl_global_init(CURL_GLOBAL_DEFAULT);
}

void download_set_limits(long min_speed, long min_speed_time, long timeout)
{
    min_speed_bytes = min_speed;
    min_speed_seconds = min_speed_time;
    timeout_seconds = timeout;
}

bool download_url_supported(const char *url)
{
    return url != NULL && (strncasecmp(url, "http://", 7) == 0 || strncasecmp(url, "https://", 8) == 0);
}

bool download_checksum_valid(const char *s)
{
    size_t n = strlen(SHA256_PREFIX);

    if (s == NULL || strncmp(s, SHA256_PREFIX, n) != 0 || strlen(s + n) != 2 * SHA256_BYTES)
        return false;
    for (const char *p = s + n; *p; p++)
        if (!isxdigit((unsigned char)*p))
            return false;
    return true;
}

/* What one transfer keeps while bytes arrive. */
struct transfer {
    CURL *handle;
    FILE *file;
    gnutls_hash_hd_t hash;
    long long received, total, max_bytes;
    double deadline_ms;
    bool too_large, write_failed, timed_out, stopped;
    bool refused;    /* a destination was refused */
    bool connected;  /* the current connection is up (reset for each new one) */
    char refused_address[INET6_ADDRSTRLEN];
    const struct download_options *opt;
    double last_report_ms;
    int last_percent;
};

static void report(struct transfer *t, bool force)
{
    double now = clock_mono_ms();
    int percent = t->total > 0 ? (int)(t->received * 100 / t->total) : 0;

    if (t->opt->progress == NULL)
        return;
    if (!force && now - t->last_report_ms < PROGRESS_EVERY_MS &&
        percent < t->last_percent + PROGRESS_EVERY_PERCENT)
        return;
    t->last_report_ms = now;
    t->last_percent = percent;
    t->opt->progress(t->opt->arg, t->received, t->total);
}

static size_t write_bytes(char *data, size_t size, size_t count, void *arg)
{
    struct transfer *t = arg;
    size_t n = size * count;

    if (t->received + (long long)n > t->max_bytes) {
        t->too_large = true;
        return 0;  /* libcurl stops with CURLE_WRITE_ERROR */
    }
    if (fwrite(data, 1, n, t->file) != n) {
        t->write_failed = true;
        return 0;
    }
    if (t->hash != NULL)
        gnutls_hash(t->hash, data, n);
    t->received += (long long)n;
    report(t, false);
    return n;
}

/* Called about once a second even while nothing arrives: the size limit,
 * the total deadline and the stop hook. */
static int on_progress(void *arg, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                       curl_off_t ulnow)
{
    struct transfer *t = arg;

    (void)dlnow;
    (void)ultotal;
    (void)ulnow;
    if (dltotal > 0)
        t->total = dltotal;
    if (t->total > t->max_bytes)
        t->too_large = true;
    else if (clock_mono_ms() > t->deadline_ms)
        t->timed_out = true;
    else if (t->opt->stopped != NULL && t->opt->stopped(t->opt->arg))
        t->stopped = true;
    else
        return 0;
    return 1;  /* abort: CURLE_ABORTED_BY_CALLBACK */
}

/* The host of the URL libcurl is at now (it follows redirects itself and
 * updates its effective URL before connecting anew), into host. */
static const char *current_host(struct transfer *t, char *host, size_t len)
{
    char *url = NULL, *part = NULL;
    CURLU *u;

    host[0] = '\0';
    if (curl_easy_getinfo(t->handle, CURLINFO_EFFECTIVE_URL, &url) != CURLE_OK || url == NULL)
        return host;
    u = curl_url();
    if (u != NULL && curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_HOST, &part, 0) == CURLUE_OK)
        snprintf(host, len, "%s", part);
    curl_free(part);
    curl_url_cleanup(u);
    return host;
}

static void address_text(const struct sockaddr *sa, char *out, size_t len)
{
    const void *bytes = sa->sa_family == AF_INET
                            ? (const void *)&((const struct sockaddr_in *)sa)->sin_addr
                            : (const void *)&((const struct sockaddr_in6 *)sa)->sin6_addr;

    if (inet_ntop(sa->sa_family, bytes, out, (socklen_t)len) == NULL)
        snprintf(out, len, "?");
}

/* libcurl's way to every socket it connects: refuse what destination.h
 * does not allow (libcurl then tries the next address, or fails with
 * CURLE_COULDNT_CONNECT), before a packet is sent. */
static curl_socket_t open_socket(void *arg, curlsocktype purpose, struct curl_sockaddr *address)
{
    struct transfer *t = arg;
    char host[256];

    t->connected = false;
    if (purpose != CURLSOCKTYPE_IPCXN ||
        !destination_allowed(&address->addr, current_host(t, host, sizeof(host)))) {
        t->refused = true;
        address_text(&address->addr, t->refused_address, sizeof(t->refused_address));
        return CURL_SOCKET_BAD;
    }
    return socket(address->family, address->socktype | SOCK_CLOEXEC, address->protocol);
}

/* The connection (and TLS) is up and the request about to go. */
static int on_connected(void *arg, char *conn_primary_ip, char *conn_local_ip,
                        int conn_primary_port, int conn_local_port)
{
    struct transfer *t = arg;

    (void)conn_primary_ip;
    (void)conn_local_ip;
    (void)conn_primary_port;
    (void)conn_local_port;
    t->connected = true;
    return CURL_PREREQFUNC_OK;
}

static CURL *make_handle(const char *url, struct transfer *t, char *errbuf)
{
    CURL *h = curl_easy_init();

    if (h == NULL)
        return NULL;
    if (curl_easy_setopt(h, CURLOPT_URL, url) != CURLE_OK ||
        curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https") != CURLE_OK ||
        curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS_STR, "http,https") != CURLE_OK ||
        curl_easy_setopt(h, CURLOPT_OPENSOCKETFUNCTION, open_socket) != CURLE_OK ||
        curl_easy_setopt(h, CURLOPT_PREREQFUNCTION, on_connected) != CURLE_OK ||
        curl_easy_setopt(h, CURLOPT_PROXY, "") != CURLE_OK) {
        curl_easy_cleanup(h);
        return NULL;
    }
    t->handle = h;
    curl_easy_setopt(h, CURLOPT_OPENSOCKETDATA, t);
    curl_easy_setopt(h, CURLOPT_PREREQDATA, t);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);  /* threads: no SIGALRM for timeouts */
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(h, CURLOPT_MAXREDIRS, (long)DOWNLOAD_MAX_REDIRECTS);
    curl_easy_setopt(h, CURLOPT_FAILONERROR, 1L);
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, (long)DOWNLOAD_CONNECT_TIMEOUT_S);
    curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, min_speed_bytes);
    curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, min_speed_seconds);
    curl_easy_setopt(h, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)t->max_bytes);
    curl_easy_setopt(h, CURLOPT_USERAGENT, "cimid");
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, write_bytes);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, t);
    curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(h, CURLOPT_XFERINFODATA, t);
    curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
    return h;
}

/* libcurl's own words, control characters replaced: they end up in the log. */
static void plain_text(const char *in, char *out, size_t len)
{
    size_t n = 0;

    for (; *in != '\0' && n + 1 < len; in++)
        out[n++] = (unsigned char)*in < ' ' || *in == 0x7f ? '?' : *in;
    out[n] = '\0';
}

/* What the tenant is told about a failed transfer (into err); the details
 * are logged. */
static int transfer_failed(CURL *h, CURLcode rc, const struct transfer *t, const char *url,
                           const char *errbuf, struct cimi_error *err)
{
    char detail[CURL_ERROR_SIZE];
    long status = 0;

    plain_text(errbuf[0] ? errbuf : curl_easy_strerror(rc), detail, sizeof(detail));
    if (t->refused && !t->connected)
        log_warn("download: %s: refused: %s is not an allowed destination (--download-allow)",
                 url, t->refused_address);
    else
        log_warn("download: %s: %s", url, detail);
    if (t->stopped)
        return err_set(err, 409, NULL, "download stopped");
    if (t->too_large || rc == CURLE_FILESIZE_EXCEEDED)
        return err_set(err, 502, "imageLocation",
                       "download failed: the image is larger than the limit of %lld bytes "
                       "(--max-image-size)", t->max_bytes);
    if (t->write_failed)
        return err_set(err, 500, NULL, "cannot write the downloaded image: %s", strerror(errno));
    if (rc == CURLE_UNSUPPORTED_PROTOCOL)
        return err_set(err, 502, "imageLocation",
                       "download failed: only http and https are allowed (also in redirects)");
    /* One message for every connect-level failure (resolution, refused,
     * unreachable, timed out, TLS), also when the deadline passed meanwhile:
     * no port scans. */
    if (!t->connected)
        return t->refused ? err_set(err, 403, "imageLocation", "refused: destination not allowed")
                          : err_set(err, 502, "imageLocation", "download failed: could not connect");
    if (t->timed_out)
        return err_set(err, 504, "imageLocation", "download failed: timed out (after %ld s)",
                       timeout_seconds);
    if (rc == CURLE_TOO_MANY_REDIRECTS)
        return err_set(err, 502, "imageLocation", "download failed: more than %d redirects",
                       DOWNLOAD_MAX_REDIRECTS);
    if (rc == CURLE_HTTP_RETURNED_ERROR) {
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
        return err_set(err, 502, "imageLocation", "download failed: HTTP %ld", status);
    }
    if (rc == CURLE_OPERATION_TIMEDOUT)
        return err_set(err, 504, "imageLocation",
                       "download failed: too slow (under %ld bytes/s for %ld s)", min_speed_bytes,
                       min_speed_seconds);
    return err_set(err, 502, "imageLocation", "download failed: no complete HTTP answer");
}

/* Compare the finished hash with "sha256:<hex>" (the actual digest is
 * never told: it would tell what the bytes were). */
static int check_hash(gnutls_hash_hd_t hash, const char *sha256, const char *url,
                      struct cimi_error *err)
{
    unsigned char digest[SHA256_BYTES];
    char hex[2 * SHA256_BYTES + 1];

    gnutls_hash_deinit(hash, digest);
    for (size_t i = 0; i < SHA256_BYTES; i++)
        snprintf(hex + 2 * i, 3, "%02x", digest[i]);
    if (strcasecmp(hex, sha256 + strlen(SHA256_PREFIX)) != 0) {
        log_warn("download: %s: checksum mismatch", url);
        return err_set(err, 502, "checksum", "download failed: checksum mismatch");
    }
    return 0;
}

/* Fetch into t->file; 0 or -1 with err. */
static int transfer(const char *url, struct transfer *t, struct cimi_error *err)
{
    char errbuf[CURL_ERROR_SIZE] = "";
    CURL *h = make_handle(url, t, errbuf);
    CURLcode rc;
    int ret = 0;

    if (h == NULL)
        return err_set(err, 500, NULL, "libcurl cannot fetch the image (http and https only)");
    t->deadline_ms = clock_mono_ms() + 1000.0 * (double)timeout_seconds;
    rc = curl_easy_perform(h);
    if (rc != CURLE_OK)
        ret = transfer_failed(h, rc, t, url, errbuf, err);
    curl_easy_cleanup(h);
    return ret;
}

int download_file(const char *url, const char *path, const struct download_options *opt,
                  struct cimi_error *err)
{
    struct transfer t = {.max_bytes = opt->max_bytes, .total = -1, .opt = opt};
    const char *sha256 = opt->sha256;
    int ret = 0;

    if (!download_url_supported(url))
        return err_set(err, 400, "imageLocation", "imageLocation is not an http:// or https:// URL");
    if (sha256 != NULL && !download_checksum_valid(sha256))
        return err_set(err, 400, "checksum", "checksum must be sha256:<64 hexadecimal digits>");
    pthread_once(&curl_once, init_curl);
    if (curl_init_result != CURLE_OK)
        return err_set(err, 500, NULL, "libcurl cannot be initialised");
    if (sha256 != NULL && gnutls_hash_init(&t.hash, GNUTLS_DIG_SHA256) != 0)
        return err_set(err, 500, NULL, "cannot compute SHA-256");
    t.file = fopen(path, "wbe");
    if (t.file == NULL)
        ret = err_set(err, 500, NULL, "cannot write the downloaded image: %s", strerror(errno));
    else
        ret = transfer(url, &t, err);
    if (ret == 0)
        report(&t, true);
    if (t.file != NULL && fclose(t.file) != 0 && ret == 0)
        ret = err_set(err, 500, NULL, "cannot write the downloaded image: %s", strerror(errno));
    if (t.hash != NULL) {
        if (ret == 0)
            ret = check_hash(t.hash, sha256, url, err);
        else
            gnutls_hash_deinit(t.hash, NULL);
    }
    if (ret != 0)
        unlink(path);
    return ret;
}

/* ---- upload: PUT a file under the same rules (an export's destination) ---- */

static size_t read_bytes(char *data, size_t size, size_t count, void *arg)
{
    struct transfer *t = arg;
    size_t n = fread(data, 1, size * count, t->file);

    if (n == 0 && ferror(t->file)) {
        t->write_failed = true;
        return CURL_READFUNC_ABORT;
    }
    t->received += (long long)n;
    report(t, false);
    return n;
}

static size_t discard_bytes(char *data, size_t size, size_t count, void *arg)
{
    (void)data, (void)arg;
    return size * count;
}

/* A download's reason, told as the upload's: attribute "destination",
 * "upload failed: ..." for "download failed: ...". */
static int upload_failed(struct cimi_error *err)
{
    const char *prefix = "download ";

    snprintf(err->attribute, sizeof(err->attribute), "destination");
    if (strncmp(err->message, prefix, strlen(prefix)) == 0) {
        char rest[sizeof(err->message)];
        snprintf(rest, sizeof(rest), "%s", err->message + strlen(prefix));
        snprintf(err->message, sizeof(err->message), "upload %s", rest);
    }
    return -1;
}

int upload_file(const char *url, const char *path, const struct download_options *opt,
                struct cimi_error *err)
{
    struct transfer t = {.max_bytes = LLONG_MAX, .total = -1, .opt = opt};
    char errbuf[CURL_ERROR_SIZE] = "";
    long status = 0;
    struct stat st;
    CURLcode rc;
    CURL *h;
    int ret = 0;

    if (!download_url_supported(url))
        return err_set(err, 400, "destination", "destination is not an http:// or https:// URL");
    pthread_once(&curl_once, init_curl);
    if (curl_init_result != CURLE_OK)
        return err_set(err, 500, NULL, "libcurl cannot be initialised");
    t.file = fopen(path, "rbe");
    if (t.file == NULL || fstat(fileno(t.file), &st) != 0) {
        if (t.file)
            fclose(t.file);
        return err_set(err, 500, NULL, "cannot read %s: %s", path, strerror(errno));
    }
    t.total = st.st_size;
    h = make_handle(url, &t, errbuf);
    if (h == NULL) {
        fclose(t.file);
        return err_set(err, 500, NULL, "libcurl cannot upload (http and https only)");
    }
    curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(h, CURLOPT_READFUNCTION, read_bytes);
    curl_easy_setopt(h, CURLOPT_READDATA, &t);
    curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, (curl_off_t)st.st_size);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, discard_bytes);
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);  /* a redirect would need the body again */
    t.deadline_ms = clock_mono_ms() + 1000.0 * (double)timeout_seconds;
    rc = curl_easy_perform(h);
    if (rc != CURLE_OK) {
        ret = upload_failed((transfer_failed(h, rc, &t, url, errbuf, err), err));
    } else {
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
        if (status < 200 || status > 299)
            ret = err_set(err, 502, "destination", "upload failed: HTTP %ld", status);
        else
            report(&t, true);
    }
    curl_easy_cleanup(h);
    fclose(t.file);
    return ret;
}
