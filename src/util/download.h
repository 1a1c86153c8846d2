/*
 * download.h - fetching a file over http(s) with libcurl, with limits.
 *
 * Used for MachineImages whose imageLocation is an http:// or https:// URL.
 * Only http and https are spoken (also after redirects, at most
 * DOWNLOAD_MAX_REDIRECTS of them), proxies from the environment are not
 * used, TLS certificates are verified, and every address connected to
 * (each resolved address, each redirect) must be allowed by destination.h.
 * A download ends when more than max_bytes arrive (announced in
 * Content-Length or actually received), when it is slower than the minimum
 * speed for long enough, at its total deadline, or when stopped.
 *
 * The reason given in err is what the tenant who asked may know ("refused:
 * destination not allowed", "download failed: HTTP 404", "download failed:
 * could not connect" for every connect-level failure, never the bytes, the
 * digest or connection details); the details go to the daemon's log.
 */
#ifndef CIMID_DOWNLOAD_H
#define CIMID_DOWNLOAD_H

#include <stdbool.h>

#include "util/error.h"

#define DOWNLOAD_MAX_REDIRECTS 5
#define DOWNLOAD_CONNECT_TIMEOUT_S 30
/* Defaults of the settings below. */
#define DOWNLOAD_MIN_SPEED_BYTES 1024
#define DOWNLOAD_MIN_SPEED_TIME_S 30
#define DOWNLOAD_TIMEOUT_S 3600

/* Called as bytes arrive (at most once per second or per 5 %, and once at
 * the end); total is -1 when the server did not say. */
typedef void (*download_progress_fn)(void *arg, long long received, long long total);

struct download_options {
    long long max_bytes;           /* more than this: the download fails */
    const char *sha256;            /* "sha256:<hex>" the bytes must hash to, or NULL */
    download_progress_fn progress; /* or NULL */
    void *arg;                     /* for progress and stopped */
    /* Asked about once a second, or NULL; true ends the download
     * ("download stopped"). */
    bool (*stopped)(void *arg);
};

/* Slower than min_speed bytes per second for min_speed_time seconds, or
 * longer than timeout seconds in all: the download fails.  Set at start-up
 * (--download-min-speed, --download-min-speed-time, --download-timeout). */
void download_set_limits(long min_speed, long min_speed_time, long timeout);

/* Does url start with http:// or https:// (any case)? */
bool download_url_supported(const char *url);

/* Is s "sha256:" followed by 64 hexadecimal digits? */
bool download_checksum_valid(const char *s);

/* Fetch url into the file at path (created or truncated).  On any failure
 * path is removed and err says why (status 403 for a refused destination,
 * 502 for what the remote side did, 504 for too slow or too long, 500 for
 * local trouble). */
int download_file(const char *url, const char *path, const struct download_options *opt,
                  struct cimi_error *err);

/* PUT the file at path to url (an export's destination) under the same
 * rules: http(s) only, every address checked by destination.h, the speed
 * and time limits, opt's progress (bytes sent) and stop hook; redirects are
 * not followed and any answer but 2xx fails.  err names "destination"
 * ("upload failed: HTTP 403", "refused: destination not allowed"). */
int upload_file(const char *url, const char *path, const struct download_options *opt,
                struct cimi_error *err);

#endif
