/*
 * download.c - fetching a file over http(s) with libcurl, with limits (see
 * download.h).  The bytes go straight to the file and through SHA-256
 * (GnuTLS) on the way, so nothing is read twice.
 */
#include "util/download.h"

#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <curl/curl.h>
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>

#include "util/clock.h"

#define SHA256_PREFIX "sha256:"
#define SHA256_BYTES 32
#define PROGRESS_EVERY_MS 1000.0
#define PROGRESS_EVERY_PERCENT 5

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_result = CURLE_FAILED_INIT;

static void init_curl(void)
{
    curl_init_result = curl_global_init(CURL_GLOBAL_DEFAULT);
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
    FILE *file;
    gnutls_hash_hd_t hash;
    long long received, total, max_bytes;
    bool too_large, write_failed, stopped;
    download_progress_fn progress;
    download_cancel_fn cancelled;
    void *arg;
    double last_report_ms;
    int last_percent;
};

static void report(struct transfer *t, bool force)
{
    double now = clock_mono_ms();
    int percent = t->total > 0 ? (int)(t->received * 100 / t->total) : 0;

    if (t->progress == NULL)
        return;
    if (!force && now - t->last_report_ms < PROGRESS_EVERY_MS &&
        percent < t->last_percent + PROGRESS_EVERY_PERCENT)
        return;
    t->last_report_ms = now;
    t->last_percent = percent;
    t->progress(t->arg, t->received, t->total);
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

static int on_progress(void *arg, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                       curl_off_t ulnow)
{
    struct transfer *t = arg;

    (void)dlnow;
    (void)ultotal;
    (void)ulnow;
    if (dltotal > 0)
        t->total = dltotal;
    if (t->total > t->max_bytes) {
        t->too_large = true;
        return 1;  /* abort */
    }
    if (t->cancelled != NULL && t->cancelled(t->arg)) {
        t->stopped = true;
        return 1;
    }
    return 0;
}

static CURL *make_handle(const char *url, struct transfer *t, char *errbuf)
{
    CURL *h = curl_easy_init();

    if (h == NULL)
        return NULL;
    if (curl_easy_setopt(h, CURLOPT_URL, url) != CURLE_OK ||
        curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https") != CURLE_OK ||
        curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS_STR, "http,https") != CURLE_OK) {
        curl_easy_cleanup(h);
        return NULL;
    }
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);  /* threads: no SIGALRM for timeouts */
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(h, CURLOPT_MAXREDIRS, (long)DOWNLOAD_MAX_REDIRECTS);
    curl_easy_setopt(h, CURLOPT_FAILONERROR, 1L);
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, (long)DOWNLOAD_CONNECT_TIMEOUT_S);
    curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, (long)DOWNLOAD_LOW_SPEED_BYTES);
    curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, (long)DOWNLOAD_LOW_SPEED_TIME_S);
    curl_easy_setopt(h, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)t->max_bytes);
    curl_easy_setopt(h, CURLOPT_USERAGENT, "cimid");
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, write_bytes);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, t);
    curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(h, CURLOPT_XFERINFODATA, t);
    curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
    return h;
}

/* Why a transfer failed, into err. */
static int transfer_failed(CURL *h, CURLcode rc, const struct transfer *t, const char *url,
                           const char *errbuf, struct cimi_error *err)
{
    long status = 0;

    if (t->stopped)
        return err_set(err, 409, NULL, "the download was stopped");
    if (t->too_large || rc == CURLE_FILESIZE_EXCEEDED)
        return err_set(err, 502, "imageLocation",
                       "the image at %s is larger than the limit of %lld bytes (--max-image-size)",
                       url, t->max_bytes);
    if (t->write_failed)
        return err_set(err, 500, NULL, "cannot write the downloaded image: %s", strerror(errno));
    if (rc == CURLE_HTTP_RETURNED_ERROR) {
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
        return err_set(err, 502, "imageLocation", "downloading %s: the server answered HTTP %ld",
                       url, status);
    }
    if (rc == CURLE_UNSUPPORTED_PROTOCOL)
        return err_set(err, 502, "imageLocation",
                       "downloading %s: only http and https are allowed (also in redirects)", url);
    return err_set(err, 502, "imageLocation", "downloading %s: %s", url,
                   errbuf[0] ? errbuf : curl_easy_strerror(rc));
}

/* Compare the finished hash with "sha256:<hex>". */
static int check_hash(gnutls_hash_hd_t hash, const char *sha256, const char *url,
                      struct cimi_error *err)
{
    unsigned char digest[SHA256_BYTES];
    char hex[2 * SHA256_BYTES + 1];

    gnutls_hash_deinit(hash, digest);
    for (size_t i = 0; i < SHA256_BYTES; i++)
        snprintf(hex + 2 * i, 3, "%02x", digest[i]);
    if (strcasecmp(hex, sha256 + strlen(SHA256_PREFIX)) != 0)
        return err_set(err, 502, "checksum",
                       "checksum mismatch: %s has sha256:%s, not %s", url, hex, sha256);
    return 0;
}

int download_file(const char *url, const char *path, long long max_bytes, const char *sha256,
                  download_progress_fn progress, download_cancel_fn cancelled, void *arg,
                  struct cimi_error *err)
{
    struct transfer t = {.max_bytes = max_bytes, .total = -1, .progress = progress,
                         .cancelled = cancelled, .arg = arg};
    char errbuf[CURL_ERROR_SIZE] = "";
    CURL *h;
    CURLcode rc;
    int ret = 0;

    if (!download_url_supported(url))
        return err_set(err, 400, "imageLocation", "%s is not an http:// or https:// URL", url);
    if (sha256 != NULL && !download_checksum_valid(sha256))
        return err_set(err, 400, "checksum", "checksum must be sha256:<64 hexadecimal digits>");
    pthread_once(&curl_once, init_curl);
    if (curl_init_result != CURLE_OK)
        return err_set(err, 500, NULL, "libcurl cannot be initialised");
    if (sha256 != NULL && gnutls_hash_init(&t.hash, GNUTLS_DIG_SHA256) != 0)
        return err_set(err, 500, NULL, "cannot compute SHA-256");
    t.file = fopen(path, "wbe");
    if (t.file == NULL) {
        ret = err_set(err, 500, NULL, "cannot write %s: %s", path, strerror(errno));
        goto out;
    }
    h = make_handle(url, &t, errbuf);
    if (h == NULL) {
        ret = err_set(err, 500, NULL, "libcurl cannot fetch %s (http and https only)", url);
        goto out;
    }
    rc = curl_easy_perform(h);
    if (rc != CURLE_OK)
        ret = transfer_failed(h, rc, &t, url, errbuf, err);
    curl_easy_cleanup(h);
    if (ret == 0)
        report(&t, true);
out:
    if (t.file != NULL && fclose(t.file) != 0 && ret == 0)
        ret = err_set(err, 500, NULL, "cannot write %s: %s", path, strerror(errno));
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
