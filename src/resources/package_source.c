/*
 * package_source.c - where an import reads its package from (package.h):
 * an import Action's `source`, checked in the request
 * (package_source_check), and turned into a local file by the import's Job
 * (package_source_fetch).
 *
 * A source is one of:
 *   - the href of a Package the principal may read, AVAILABLE (another
 *     tenant's is refused exactly like one that does not exist): relative,
 *     "/cimi/packages/<uuid>", or an http(s) URL below this cloud's base URI;
 *   - an absolute path or file:// URL of a regular file that resolves
 *     (links followed, ".." refused) inside an --import-dir directory (the
 *     admin's; none by default, so no file is readable);
 *   - an http:// or https:// URL, fetched by util/download.c under the
 *     download policy (util/destination.c) into a temporary file.
 * Anything else (relative paths, other schemes) is 400.
 */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <curl/curl.h>

#include "resources/package.h"
#include "resources/package_files.h"
#include "resources/resource.h"
#include "util/download.h"
#include "util/log.h"

#define MIB (1024.0 * 1024.0)
/* An href by absolute path ("/cimi/packages/<uuid>") is a Package's. */
#define CIMI_PATH "/cimi/"

#define UNSUPPORTED                                                                          \
    "source must be an http:// or https:// URL, a file (file:///path or /path) in an import " \
    "directory, or the href of a Package"

bool package_import_dir_contains(const char *real)
{
    const char *dirs = package_settings()->import_dirs;
    char dir[PATH_MAX], resolved[PATH_MAX];

    while (dirs != NULL && *dirs != '\0') {
        size_t n = strcspn(dirs, "\n");
        snprintf(dir, sizeof(dir), "%.*s", (int)n, dirs);
        if (realpath(dir, resolved) != NULL) {
            size_t m = strlen(resolved);
            if (strcmp(resolved, "/") == 0 ||
                (strncmp(real, resolved, m) == 0 && (real[m] == '/' || real[m] == '\0')))
                return true;
        }
        dirs += n + (dirs[n] == '\n');
    }
    return false;
}

static bool has_control_characters(const char *s)
{
    for (; *s != '\0'; s++)
        if ((unsigned char)*s < ' ' || *s == 0x7f)
            return true;
    return false;
}

/* Has path a ".." segment? */
static bool climbs(const char *path)
{
    for (const char *p = strstr(path, ".."); p != NULL; p = strstr(p + 1, ".."))
        if ((p == path || p[-1] == '/') && (p[2] == '/' || p[2] == '\0'))
            return true;
    return false;
}

/* An http(s) URL with a host that libcurl parses. */
static bool is_http_url(const char *s)
{
    const char *authority = strchr(s, ':') ? strchr(s, ':') + 3 : s;
    CURLU *u;
    char *host = NULL;
    bool ok;

    if (!download_url_supported(s) || authority[-1] != '/' || authority[0] == '/' ||
        authority[0] == '\0')
        return false;
    u = curl_url();
    ok = u != NULL && curl_url_set(u, CURLUPART_URL, s, 0) == CURLUE_OK &&
         curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK && host != NULL && host[0] != '\0';
    curl_free(host);
    curl_url_cleanup(u);
    return ok;
}

/* A local file the import may read: resolved into real. */
static int check_file(const char *source, char *real, struct cimi_error *err)
{
    const char *path = strncmp(source, "file://", 7) == 0 ? source + 7 : source;
    struct stat sb;

    if (package_settings()->import_dirs == NULL || package_settings()->import_dirs[0] == '\0')
        return err_set(err, 400, "source",
                       "source: files cannot be imported here (no import directory is set up: "
                       "--import-dir); upload the package instead");
    if (path[0] != '/')
        return err_set(err, 400, "source", "source: a file is file:///path or /path (absolute)");
    if (climbs(path))
        return err_set(err, 400, "source", "source: '..' is not allowed in a path");
    if (realpath(path, real) == NULL || !package_import_dir_contains(real) ||
        stat(real, &sb) != 0)
        return err_set(err, 400, "source", "source: no file at that path in the import directories");
    if (!S_ISREG(sb.st_mode))
        return err_set(err, 400, "source", "source: not a regular file");
    return 0;
}

/* The href of a Package the principal may read, AVAILABLE: its id in id. */
static int check_package(struct cimi_request *req, const char *source, char *id, size_t len,
                         struct cimi_error *err)
{
    struct store_row row;
    struct cimi_error ignored;
    char file[PATH_MAX];
    const char *state;
    int rc = 0;

    if (resource_href_path(req, source, "source", id, len, &ignored) != 0 ||
        package_file_path(id, file, sizeof(file)) != 0)
        return err_set(err, 400, "source", UNSUPPORTED);
    memset(&row, 0, sizeof(row));
    if (resource_load_for_read(req, id, &t_package, &row, &ignored) != 0)
        return err_set(err, 400, "source", "source: no Package at that href");
    state = json_string_value(json_object_get(row.doc, "state")) ?: "";
    if (strcmp(state, "AVAILABLE") != 0)
        rc = err_set(err, 409, "source", "source: the Package is %s, not AVAILABLE", state);
    store_row_clear(&row);
    return rc;
}

/* Is source an href below this cloud's base URI (a resource of cimid)? */
static bool names_this_cloud(struct cimi_request *req, const char *source)
{
    struct cimi_error ignored;
    char path[256];

    return resource_href_path(req, source, "source", path, sizeof(path), &ignored) == 0;
}

int package_source_check(struct cimi_request *req, const char *source, struct import_source *src,
                         struct cimi_error *err)
{
    memset(src, 0, sizeof(*src));
    if (source == NULL || source[0] == '\0')
        return err_set(err, 400, "source", "missing required attribute 'source'");
    if (strlen(source) >= sizeof(src->where) || has_control_characters(source))
        return err_set(err, 400, "source", UNSUPPORTED);
    if ((strncasecmp(source, "http://", 7) == 0 || strncasecmp(source, "https://", 8) == 0) &&
        !names_this_cloud(req, source)) {
        if (!is_http_url(source))
            return err_set(err, 400, "source", "source: not a valid http(s) URL");
        snprintf(src->kind, sizeof(src->kind), "url");
        snprintf(src->where, sizeof(src->where), "%s", source);
        return 0;
    }
    if ((source[0] == '/' && strncmp(source, CIMI_PATH, strlen(CIMI_PATH)) != 0) ||
        strncmp(source, "file://", 7) == 0) {
        snprintf(src->kind, sizeof(src->kind), "file");
        return check_file(source, src->where, err);
    }
    snprintf(src->kind, sizeof(src->kind), "package");
    return check_package(req, source, src->where, sizeof(src->where), err);
}

/* ---- in the Job ---- */

struct fetch_ctx {
    struct store *st;
    const char *job_id;
};

static void on_progress(void *arg, long long received, long long total)
{
    struct fetch_ctx *f = arg;
    char message[128];

    if (total > 0)
        snprintf(message, sizeof(message), "downloading the package: %.1f of %.1f MiB",
                 received / MIB, total / MIB);
    else
        snprintf(message, sizeof(message), "downloading the package: %.1f MiB", received / MIB);
    job_progress(f->st, f->job_id, total > 0 ? (int)(20.0 * received / total) : 5, message);
}

static bool stop_requested(void *arg)
{
    return job_stop_requested(((struct fetch_ctx *)arg)->job_id);
}

/* A Package's file, hard-linked under a temporary name: a DELETE of the
 * Package meanwhile does not take it from the import. */
static int fetch_package(struct store *st, const char *id, char *path, size_t len, bool *temp,
                         struct cimi_error *err)
{
    char file[PATH_MAX];
    long long version;

    if (package_file_path(id, file, sizeof(file)) != 0 ||
        st->ops->version(st, id, &version, err) != 0 || access(file, R_OK) != 0)
        return err_set(err, 404, "source", "source: the Package is gone");
    if (package_temp_path("import", path, len, err) != 0)
        return -1;
    if (link(file, path) == 0) {
        *temp = true;
        return 0;
    }
    log_warn("package: cannot link %s to %s: %s; reading it in place", file, path, strerror(errno));
    snprintf(path, len, "%s", file);
    return 0;
}

int package_source_fetch(struct store *st, const char *job_id, const struct import_source *src,
                         char *path, size_t path_len, bool *temp, struct cimi_error *err)
{
    struct fetch_ctx f = {st, job_id};
    struct download_options opt = {
        .max_bytes = package_settings()->max_download,
        .progress = on_progress,
        .arg = &f,
        .stopped = stop_requested,
    };
    char real[PATH_MAX];

    *temp = false;
    if (strcmp(src->kind, "package") == 0)
        return fetch_package(st, src->where, path, path_len, temp, err);
    if (strcmp(src->kind, "file") == 0) {
        if (check_file(src->where, real, err) != 0)   /* again: the file may have changed */
            return -1;
        snprintf(path, path_len, "%s", real);
        return 0;
    }
    if (strcmp(src->kind, "url") != 0)
        return err_set(err, 400, "source", UNSUPPORTED);
    if (package_temp_path("import", path, path_len, err) != 0)
        return -1;
    job_progress(st, job_id, 2, "downloading the package");
    if (download_file(src->where, path, &opt, err) != 0)
        return -1;
    *temp = true;
    return 0;
}
