/*
 * download.h - fetching a file over http(s) with libcurl, with limits.
 *
 * Used for MachineImages whose imageLocation is an http:// or https:// URL.
 * Only http and https are spoken (also after redirects, at most
 * DOWNLOAD_MAX_REDIRECTS of them), TLS certificates are verified, a stalled
 * or unreachable server times out, and more than max_bytes (announced in
 * Content-Length or actually received) stops the transfer.
 */
#ifndef CIMID_DOWNLOAD_H
#define CIMID_DOWNLOAD_H

#include <stdbool.h>

#include "util/error.h"

#define DOWNLOAD_MAX_REDIRECTS 5
#define DOWNLOAD_CONNECT_TIMEOUT_S 30
/* Slower than this many bytes per second for DOWNLOAD_LOW_SPEED_TIME_S: given up. */
#define DOWNLOAD_LOW_SPEED_BYTES 1024
#define DOWNLOAD_LOW_SPEED_TIME_S 60

/* Called as bytes arrive (at most once per second or per 5 %, and once at
 * the end); total is -1 when the server did not say. */
typedef void (*download_progress_fn)(void *arg, long long received, long long total);
/* Asked at least once a second while a transfer runs: true ends it at once
 * (download_file then fails with status 409, "stopped"). */
typedef bool (*download_cancel_fn)(void *arg);

/* Does url start with http:// or https:// (any case)? */
bool download_url_supported(const char *url);

/* Is s "sha256:" followed by 64 hexadecimal digits? */
bool download_checksum_valid(const char *s);

/* Fetch url into the file at path (created or truncated).  sha256 is
 * "sha256:<hex>" or NULL; when given, the bytes must hash to it.  On any
 * failure path is removed and err says why: the HTTP status, too large,
 * checksum mismatch, or libcurl's reason (status 502 for what the remote
 * side did, 500 for local trouble).  progress and cancelled (either may be
 * NULL) get arg. */
int download_file(const char *url, const char *path, long long max_bytes, const char *sha256,
                  download_progress_fn progress, download_cancel_fn cancelled, void *arg,
                  struct cimi_error *err);

#endif
