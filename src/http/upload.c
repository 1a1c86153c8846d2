/*
 * upload.c - Package uploads streamed to disk (see upload.h).
 *
 * The bytes go to a temporary file in the package directory as they come,
 * through SHA-256 (nettle) on the way, so the file is never read again;
 * the limits are checked on every chunk.  The quota is checked three
 * times: against the announced length before the body is read, against
 * the bytes received as they come, and in the transaction that stores the
 * Package (two uploads of one tenant at once cannot both slip under it).
 */
#include "http/upload.h"

#include <errno.h>
#include <limits.h>
#include <nettle/sha2.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "cimi/request.h"
#include "http/urldecode.h"
#include "resources/package.h"
#include "util/log.h"
#include "util/startup.h"

#define NAME_MAX_BYTES 1024
#define INFLIGHT_TENANTS 1024

struct upload {
    int fd;
    char path[PATH_MAX];
    long long received;
    long long limit;           /* --max-upload */
    long long quota_left;      /* what the tenant's Packages left of its quota, at the start */
    struct inflight *tenant;   /* the tenant's uploads under way */
    long long next_progress;
    struct sha256_ctx sha;
};

/* The bytes each tenant's uploads under way have received: together they
 * stay within what its quota leaves (parallel uploads share it). */
struct inflight {
    char tenant[64];
    int uploads;
    long long bytes;
};
static struct inflight inflight[INFLIGHT_TENANTS];
static pthread_mutex_t inflight_lock = PTHREAD_MUTEX_INITIALIZER;

/* The tenant's entry (one more upload), or NULL when the table is full. */
static struct inflight *inflight_join(const char *tenant)
{
    struct inflight *found = NULL, *free_slot = NULL;

    pthread_mutex_lock(&inflight_lock);
    for (size_t i = 0; i < INFLIGHT_TENANTS && found == NULL; i++) {
        if (inflight[i].uploads > 0 && strcmp(inflight[i].tenant, tenant) == 0)
            found = &inflight[i];
        else if (inflight[i].uploads == 0 && free_slot == NULL)
            free_slot = &inflight[i];
    }
    if (found == NULL && free_slot != NULL) {
        found = free_slot;
        snprintf(found->tenant, sizeof(found->tenant), "%s", tenant);
        found->bytes = 0;
    }
    if (found != NULL)
        found->uploads++;
    pthread_mutex_unlock(&inflight_lock);
    return found;
}

/* The upload's bytes leave the tenant's count (it ended either way). */
static void inflight_leave(struct inflight *e, long long bytes)
{
    pthread_mutex_lock(&inflight_lock);
    e->bytes -= bytes;
    e->uploads--;
    pthread_mutex_unlock(&inflight_lock);
}

/* Count n more bytes for the tenant if they fit in quota_left. */
static bool inflight_add(struct inflight *e, long long n, long long quota_left)
{
    bool fits;

    pthread_mutex_lock(&inflight_lock);
    fits = e->bytes + n <= quota_left;
    if (fits)
        e->bytes += n;
    pthread_mutex_unlock(&inflight_lock);
    return fits;
}

static const char *const media_types[] = {
    "application/x-tar", "application/ova", "application/octet-stream", NULL,
};

/* The media type of a Content-Type value (before any parameter) is one of
 * media_types, in any case. */
static bool ova_media_type(const char *value)
{
    size_t n;

    if (value == NULL)
        return false;
    while (*value == ' ' || *value == '\t')
        value++;
    n = strcspn(value, "; \t");
    for (size_t i = 0; media_types[i] != NULL; i++)
        if (n == strlen(media_types[i]) && strncasecmp(value, media_types[i], n) == 0)
            return true;
    return false;
}

bool upload_wanted(struct MHD_Connection *conn, const char *method, const char *url,
                   const char *prefix)
{
    const char *why;
    char *path;
    bool wanted;

    if (strcmp(method, "POST") != 0 ||
        !ova_media_type(MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
                                                    MHD_HTTP_HEADER_CONTENT_TYPE)))
        return false;
    path = url_decode(url, &why);
    wanted = path != NULL && strncmp(path, prefix, strlen(prefix)) == 0 &&
             strcmp(path + strlen(prefix), "/packages") == 0;
    free(path);
    return wanted;
}

/* A request of who on st, for the package functions. */
static void request_of(struct cimi_request *req, const struct principal *who, struct store *st)
{
    memset(req, 0, sizeof(*req));
    req->method = "POST";
    req->path = "packages";
    req->who = *who;
    req->st = st;
    cimi_query_init(&req->query);
}

/* What the tenant may still store. */
static int quota_left(const struct principal *who, long long *left, struct cimi_error *err)
{
    struct cimi_request req;
    struct store *st = store_for_thread(err);
    int rc;

    if (st == NULL)
        return -1;
    request_of(&req, who, st);
    rc = package_quota_left(&req, left, err);
    cimi_query_free(&req.query);
    return rc;
}

int upload_begin(const struct principal *who, long long announced, struct upload **out,
                 struct cimi_error *err)
{
    struct upload *u;
    long long left;

    *out = NULL;
    if (announced > package_max_upload())
        return err_set(err, 413, "body", "the upload exceeds the limit of %lld bytes",
                       package_max_upload());
    if (quota_left(who, &left, err) != 0)
        return -1;
    if (announced > left)
        return err_set(err, 413, "body",
                       "the upload would exceed the tenant's package quota (%lld bytes left)",
                       left);
    u = calloc(1, sizeof(*u));
    if (u == NULL)
        return err_set(err, 500, NULL, "out of memory");
    u->fd = -1;
    u->limit = package_max_upload();
    u->quota_left = left;
    u->next_progress = UPLOAD_PROGRESS_BYTES;
    sha256_init(&u->sha);
    u->tenant = inflight_join(who->tenant);
    if (u->tenant == NULL) {
        free(u);
        return err_set(err, 503, NULL, "too many uploads under way; retry later");
    }
    if (package_upload_temp(u->path, sizeof(u->path), &u->fd, err) != 0) {
        upload_free(u);
        return -1;
    }
    *out = u;
    return 0;
}

/* The upload's bytes leave its tenant's count of uploads under way: once
 * stored they count in the tenant's Packages, once discarded nowhere.  Done
 * before the reply goes out (not when libmicrohttpd ends the request), so
 * the client's next upload never sees them twice. */
static void leave_inflight(struct upload *u)
{
    if (u->tenant != NULL)
        inflight_leave(u->tenant, u->received);
    u->tenant = NULL;
}

/* Close and remove the temporary file (the upload failed or was stored). */
static void discard(struct upload *u)
{
    if (u->fd >= 0)
        close(u->fd);
    u->fd = -1;
    if (u->path[0] != '\0')
        unlink(u->path);
    u->path[0] = '\0';
}

/* Check the limits for n more bytes and write them.  0, or -1 with err. */
static int append(struct upload *u, const char *data, size_t n, struct cimi_error *err)
{
    if (u->received + (long long)n > u->limit)
        return err_set(err, 413, "body", "the upload exceeds the limit of %lld bytes", u->limit);
    if (!inflight_add(u->tenant, (long long)n, u->quota_left))
        return err_set(err, 413, "body",
                       "the upload exceeds the tenant's package quota (%lld bytes left)",
                       u->quota_left);
    u->received += (long long)n;      /* counted in inflight from here on */
    sha256_update(&u->sha, n, (const uint8_t *)data);
    while (n > 0) {
        ssize_t w = write(u->fd, data, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            log_error("http: cannot write the upload %s: %s", u->path, strerror(errno));
            return err_set(err, errno == ENOSPC ? 507 : 500, NULL, "cannot store the upload");
        }
        data += w;
        n -= (size_t)w;
    }
    return 0;
}

int upload_write(struct upload **u, const char *data, size_t *size, struct deadline *d,
                 struct cimi_error *err)
{
    size_t n = *size;

    *size = 0;
    err_clear(err);
    if (append(*u, data, n, err) != 0) {
        upload_free(*u);
        *u = NULL;
        return -1;
    }
    if ((*u)->received >= (*u)->next_progress) {
        deadline_restart(d);            /* another MiB: the client keeps up */
        (*u)->next_progress = (*u)->received + UPLOAD_PROGRESS_BYTES;
    }
    return 0;
}

/* The ?name= of the request, decoded; NULL when absent. -1 with err when
 * it does not decode. */
static int name_of(struct MHD_Connection *conn, char **name, struct cimi_error *err)
{
    const char *raw = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "name");
    const char *why;

    *name = NULL;
    if (raw == NULL)
        return 0;
    *name = url_decode(raw, &why);
    if (*name == NULL)
        return err_set(err, 400, "name", "query parameter 'name' has %s", why);
    if (strlen(*name) > NAME_MAX_BYTES) {
        free(*name);
        *name = NULL;
        return err_set(err, 400, "name", "name is longer than %d bytes", NAME_MAX_BYTES);
    }
    return 0;
}

static void hex_of(const uint8_t *digest, char *hex)
{
    for (size_t i = 0; i < SHA256_DIGEST_SIZE; i++)
        snprintf(hex + 2 * i, 3, "%02x", digest[i]);
}

int upload_finish(struct upload *u, struct MHD_Connection *conn, const struct principal *who,
                  struct store *st, char *id, size_t id_len, struct cimi_error *err)
{
    uint8_t digest[SHA256_DIGEST_SIZE];
    char sha256[2 * SHA256_DIGEST_SIZE + 1];
    struct cimi_request req;
    struct store_row row;
    char *name = NULL;
    int rc;

    if (u->fd < 0)
        return err_set(err, 500, NULL, "the upload was ended");
    if (name_of(conn, &name, err) != 0) {
        discard(u);
        leave_inflight(u);
        return -1;
    }
    if (!startup_wait()) {
        free(name);
        discard(u);
        leave_inflight(u);
        return err_set(err, 503, NULL, "cimid is stopping");
    }
    sha256_digest(&u->sha, sizeof(digest), digest);
    hex_of(digest, sha256);
    close(u->fd);
    u->fd = -1;
    request_of(&req, who, st);
    rc = package_upload_store(&req, u->path, u->received, sha256, name, &row, err);
    u->path[0] = '\0';          /* moved or removed by package_upload_store */
    leave_inflight(u);
    if (rc == 0) {
        snprintf(id, id_len, "%s", row.id);
        log_info("package: %s uploaded %s (%lld bytes)", who->name, row.id, u->received);
        store_row_clear(&row);
    }
    cimi_query_free(&req.query);
    free(name);
    return rc;
}

void upload_free(struct upload *u)
{
    if (u == NULL)
        return;
    discard(u);
    leave_inflight(u);
    free(u);
}
