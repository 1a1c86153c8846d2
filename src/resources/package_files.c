/*
 * package_files.c - the files behind Packages: the package directory and
 * what a crash left in it, file names (always from row ids, never from
 * what a client sent), digests, the per-tenant quota, uploads becoming
 * Packages, and opening a Package's content for a download.
 *
 * An upload is written to "<dir>/upload-<uuid>.part" by http/upload.c;
 * package_upload_store renames it to "<dir>/<uuid>.ova" inside the
 * transaction that inserts the row, and removes it if that does not commit.
 * A crash in between leaves a .part file or an .ova no row names: both are
 * removed at the next start (package_setup).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <nettle/sha2.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "resources/package.h"
#include "resources/package_files.h"
#include "resources/resource.h"
#include "util/clock.h"
#include "util/log.h"

#define HASH_BUFFER (1 << 20)
#define DIGEST_CACHE 8

static struct package_settings settings = {"", 16LL << 30, 64LL << 30, "", 16LL << 30};
static char settings_dir[PATH_MAX];
static char *settings_import_dirs;

const struct package_settings *package_settings(void)
{
    return &settings;
}

long long package_max_upload(void)
{
    return settings.max_upload;
}

/* ---- names ---- */

static bool is_uuid(const char *s)
{
    static const char shape[] = "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx";

    for (size_t i = 0; i < sizeof(shape) - 1; i++) {
        char c = s[i];
        if (shape[i] == '-' ? c != '-'
                            : !((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
            return false;
    }
    return s[sizeof(shape) - 1] == '\0';
}

int package_file_path(const char *id, char *path, size_t len)
{
    const char *prefix = "packages/";

    if (settings_dir[0] == '\0' || strncmp(id, prefix, strlen(prefix)) != 0 ||
        !is_uuid(id + strlen(prefix)))
        return -1;
    snprintf(path, len, "%s/%s.ova", settings_dir, id + strlen(prefix));
    return 0;
}

int package_temp_path(const char *kind, char *path, size_t len, struct cimi_error *err)
{
    char uuid[37];

    if (settings_dir[0] == '\0')
        return err_set(err, 500, NULL, "the package directory is not set up");
    if (uuid_generate_v4(uuid, sizeof(uuid)) != 0)
        return err_set(err, 500, NULL, "cannot generate an identifier");
    snprintf(path, len, "%s/%s-%s.part", settings_dir, kind, uuid);
    return 0;
}

int package_upload_temp(char *path, size_t path_len, int *fd, struct cimi_error *err)
{
    if (package_temp_path("upload", path, path_len, err) != 0)
        return -1;
    *fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (*fd < 0) {
        log_error("package: cannot create %s: %s", path, strerror(errno));
        return err_set(err, 500, NULL, "cannot store the upload");
    }
    return 0;
}

/* ---- digests ---- */

struct digest_entry {
    char id[256];
    dev_t dev;
    ino_t ino;
    off_t size;
    struct timespec mtime;
    char sha256[PACKAGE_SHA256_HEX];
};
static struct digest_entry digests[DIGEST_CACHE];
static unsigned next_digest;
static pthread_mutex_t digests_lock = PTHREAD_MUTEX_INITIALIZER;

static bool same_file(const struct digest_entry *e, const char *id, const struct stat *sb)
{
    return strcmp(e->id, id) == 0 && e->dev == sb->st_dev && e->ino == sb->st_ino &&
           e->size == sb->st_size && e->mtime.tv_sec == sb->st_mtim.tv_sec &&
           e->mtime.tv_nsec == sb->st_mtim.tv_nsec;
}

static bool cached_digest(const char *id, const struct stat *sb, char *sha256)
{
    bool found = false;

    pthread_mutex_lock(&digests_lock);
    for (size_t i = 0; i < DIGEST_CACHE && !found; i++)
        if (same_file(&digests[i], id, sb)) {
            memcpy(sha256, digests[i].sha256, PACKAGE_SHA256_HEX);
            found = true;
        }
    pthread_mutex_unlock(&digests_lock);
    return found;
}

static void remember_digest(const char *id, const struct stat *sb, const char *sha256)
{
    struct digest_entry *e;

    pthread_mutex_lock(&digests_lock);
    e = &digests[next_digest++ % DIGEST_CACHE];
    snprintf(e->id, sizeof(e->id), "%s", id);
    e->dev = sb->st_dev;
    e->ino = sb->st_ino;
    e->size = sb->st_size;
    e->mtime = sb->st_mtim;
    memcpy(e->sha256, sha256, PACKAGE_SHA256_HEX);
    pthread_mutex_unlock(&digests_lock);
}

static void hex_of(const uint8_t *digest, char *hex)
{
    for (size_t i = 0; i < SHA256_DIGEST_SIZE; i++)
        snprintf(hex + 2 * i, 3, "%02x", digest[i]);
}

/* SHA-256 of everything fd reads, in hex.  0, or -1 (errno). */
static int hash_fd(int fd, char *sha256)
{
    struct sha256_ctx ctx;
    uint8_t digest[SHA256_DIGEST_SIZE];
    uint8_t *buf = malloc(HASH_BUFFER);
    ssize_t n;

    if (buf == NULL)
        return -1;
    sha256_init(&ctx);
    while ((n = read(fd, buf, HASH_BUFFER)) > 0)
        sha256_update(&ctx, (size_t)n, buf);
    free(buf);
    if (n < 0)
        return -1;
    sha256_digest(&ctx, sizeof(digest), digest);
    hex_of(digest, sha256);
    return 0;
}

int package_file_digest(const char *id, const char *path, long long *size, char *sha256,
                        struct cimi_error *err)
{
    struct stat sb;
    int fd = open(path, O_RDONLY | O_CLOEXEC);

    if (fd < 0 || fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        log_error("package: %s: %s", path, fd < 0 ? strerror(errno) : "not a regular file");
        if (fd >= 0)
            close(fd);
        return err_set(err, 500, NULL, "the package's file is missing");
    }
    *size = (long long)sb.st_size;
    if (!cached_digest(id, &sb, sha256)) {
        if (hash_fd(fd, sha256) != 0) {
            log_error("package: cannot read %s: %s", path, strerror(errno));
            close(fd);
            return err_set(err, 500, NULL, "the package's file cannot be read");
        }
        remember_digest(id, &sb, sha256);
    }
    close(fd);
    return 0;
}

/* ---- quota ---- */

static int add_size(void *ctx, struct store_row *row)
{
    *(long long *)ctx += json_integer_value(json_object_get(row->doc, "size"));
    return 0;
}

static int quota_used(struct cimi_request *req, long long *used, struct cimi_error *err)
{
    *used = 0;
    return req->st->ops->list(req->st, t_package.name, "", req->who.tenant, add_size, used, err);
}

int package_quota_left(struct cimi_request *req, long long *left, struct cimi_error *err)
{
    long long used;

    if (quota_used(req, &used, err) != 0)
        return -1;
    *left = used < settings.quota ? settings.quota - used : 0;
    return 0;
}

int package_quota_check(struct cimi_request *req, long long bytes, struct cimi_error *err)
{
    long long used;

    if (quota_used(req, &used, err) != 0)
        return -1;
    if (bytes < 0)
        bytes = 0;
    if (used + bytes > settings.quota)
        return err_set(err, 413, "body",
                       "the tenant's packages would exceed the quota of %lld bytes (%lld in use)",
                       settings.quota, used);
    return 0;
}

/* ---- uploads ---- */

static int insert_upload(struct cimi_request *req, const char *temp, long long size,
                         const char *sha256, const char *name, struct store_row *row,
                         char *final, size_t final_len, struct cimi_error *err)
{
    struct store *st = req->st;

    if (package_new_row(req, name, "AVAILABLE", row, err) != 0)
        return -1;
    json_object_set_new(row->doc, "size", json_integer(size));
    json_object_set_new(row->doc, "sha256", json_string(sha256));
    if (package_file_path(row->id, final, final_len) != 0)
        return err_set(err, 500, NULL, "the package directory is not set up");
    if (st->ops->begin(st, err) != 0)
        return -1;
    if (package_quota_check(req, size, err) != 0 || st->ops->insert(st, row, err) != 0)
        goto fail;
    if (rename(temp, final) != 0) {
        log_error("package: cannot rename %s to %s: %s", temp, final, strerror(errno));
        err_set(err, 500, NULL, "cannot store the upload");
        goto fail;
    }
    if (st->ops->commit(st, err) != 0) {
        unlink(final);
        goto fail;
    }
    return 0;
fail:
    st->ops->rollback(st);
    return -1;
}

int package_upload_store(struct cimi_request *req, const char *temp, long long size,
                         const char *sha256, const char *name, struct store_row *row,
                         struct cimi_error *err)
{
    char final[PATH_MAX];
    int rc;

    memset(row, 0, sizeof(*row));
    if (size <= 0)
        rc = err_set(err, 400, "body", "the upload is empty: send the OVA file's bytes");
    else
        rc = insert_upload(req, temp, size, sha256, name, row, final, sizeof(final), err);
    if (rc != 0) {
        unlink(temp);
        store_row_clear(row);
    }
    return rc;
}

/* ---- content ---- */

int package_open_content(struct cimi_request *req, const char *path, int *fd, long long *size,
                         char *etag, size_t etag_len, struct cimi_error *err)
{
    struct store_row row;
    char file[PATH_MAX];
    struct stat sb;
    const char *state, *sha256;
    int rc = -1;

    memset(&row, 0, sizeof(row));
    if (resource_load_for_read(req, path, &t_package, &row, err) != 0)
        return -1;
    state = json_string_value(json_object_get(row.doc, "state")) ?: "";
    sha256 = json_string_value(json_object_get(row.doc, "sha256")) ?: "";
    if (strcmp(state, "AVAILABLE") != 0) {
        err_set(err, 409, NULL, "the package is %s: its content is not available", state);
    } else if (package_file_path(row.id, file, sizeof(file)) != 0 ||
               (*fd = open(file, O_RDONLY | O_CLOEXEC)) < 0) {
        log_error("package: %s: no file %s", row.id, file);
        err_set(err, 500, NULL, "the package's file is missing");
    } else if (fstat(*fd, &sb) != 0 ||
               (long long)sb.st_size != json_integer_value(json_object_get(row.doc, "size"))) {
        log_error("package: %s: the file %s has another size than recorded", row.id, file);
        close(*fd);
        err_set(err, 500, NULL, "the package's file is damaged");
    } else {
        *size = (long long)sb.st_size;
        snprintf(etag, etag_len, "\"%s\"", sha256);
        rc = 0;
    }
    store_row_clear(&row);
    return rc;
}

/* ---- start-up ---- */

/* Remove a file of the directory a crash left: a temporary file, or a
 * package file no row names. */
static void sweep_entry(struct store *st, const char *name)
{
    size_t n = strlen(name);
    char path[PATH_MAX], id[300];
    struct cimi_error err;
    long long version;
    bool stale = false;

    if (n > 5 && strcmp(name + n - 5, ".part") == 0) {
        stale = true;
    } else if (n == 36 + 4 && strcmp(name + 36, ".ova") == 0) {
        snprintf(id, sizeof(id), "packages/%.36s", name);
        err_clear(&err);
        stale = st->ops->version(st, id, &version, &err) != 0 && err.status == 404;
    }
    if (!stale)
        return;
    snprintf(path, sizeof(path), "%s/%s", settings_dir, name);
    if (unlink(path) == 0)
        log_info("package: removed %s (left by an interrupted transfer)", path);
}

static void sweep(struct store *st)
{
    DIR *d = opendir(settings_dir);
    struct dirent *e;

    if (d == NULL)
        return;
    while ((e = readdir(d)) != NULL)
        if (e->d_name[0] != '.')
            sweep_entry(st, e->d_name);
    closedir(d);
}

int package_setup(struct store *st, const struct package_settings *s, struct cimi_error *err)
{
    settings = *s;
    snprintf(settings_dir, sizeof(settings_dir), "%s", s->dir);
    free(settings_import_dirs);
    settings_import_dirs = strdup(s->import_dirs ? s->import_dirs : "");
    settings.dir = settings_dir;
    settings.import_dirs = settings_import_dirs ? settings_import_dirs : "";
    if (mkdir(settings_dir, 0700) != 0 && errno != EEXIST) {
        err_set(err, 500, NULL, "cannot create the package directory %s: %s", settings_dir,
                strerror(errno));
        settings_dir[0] = '\0';
        return -1;
    }
    sweep(st);
    return 0;
}
