/*
 * package.c - Packages (cimid's OVA files) moved between the server and
 * local files: `package upload FILE`, `package download PACKAGE FILE`, and
 * the same steps for `system import` and `system export`.
 *
 * An upload POSTs the file to the `add` of the packages collection (?name=
 * the file's name), read from the file as libcurl sends it.  A download
 * GETs the Package's `content` into FILE.part, resumes it with Range (and
 * If-Range: the first reply's ETag) when the connection breaks, checks the
 * size and SHA-256 the Package states, and renames it to FILE.  Both show
 * their progress (progress.c).
 */
#include "cli/package.h"

#include <errno.h>
#include <nettle/sha2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli/commands.h"
#include "cli/discovery.h"
#include "cli/output.h"

#define OVA_MEDIA_TYPE "application/x-tar"
#define MAX_RESUMES 5

/* ---- upload ---- */

/* The local file to upload: open, a regular file, its size. */
static int open_upload(const char *path, FILE **f, long long *size, struct cli_error *err)
{
    struct stat st;
    size_t n = strlen(path);

    if (n > 4 && strcmp(path + n - 4, ".ovf") == 0)
        return cli_fail(err, CLI_USAGE, "%s is an OVF descriptor: upload the package as an OVA "
                        "(a tar with the .ovf first, then its files)", path);
    *f = fopen(path, "rb");
    if (*f == NULL)
        return cli_fail(err, CLI_USAGE, "cannot read %s: %s", path, strerror(errno));
    if (fstat(fileno(*f), &st) < 0 || !S_ISREG(st.st_mode)) {
        fclose(*f);
        *f = NULL;
        return cli_fail(err, CLI_USAGE, "%s is not a regular file", path);
    }
    *size = (long long)st.st_size;
    return 0;
}

/* The file name without its directories (the Package's name). */
static const char *base_name(const char *path)
{
    const char *slash = strrchr(path, '/');

    return slash != NULL && slash[1] != '\0' ? slash + 1 : path;
}

/* Send the file to target with a progress bar; *url = the new Package. */
static int send_upload(struct cli *cli, const char *target, FILE *f, long long size, char **url,
                       struct cli_error *err)
{
    struct http_progress hook;
    struct http_reply reply;
    struct progress bar;
    char what[2200];
    int rc;

    snprintf(what, sizeof(what), "POST %s", target);
    progress_begin(&bar, "upload", cli->opt.progress, &hook);
    rc = http_upload(cli->http, "POST", target, "application/json", OVA_MEDIA_TYPE, f, size,
                     &hook, &reply, err);
    progress_end(&bar, rc == 0 && reply.status >= 200 && reply.status < 300);
    if (rc < 0)
        return -1;
    rc = cli_check_reply(err, &reply, what);
    if (rc == 0 && (*url = cmd_created_url(&reply)) == NULL)
        rc = cli_fail(err, CLI_SERVER, "the server did not name the uploaded package (%s)", what);
    http_reply_clear(&reply);
    return rc;
}

int package_upload(struct cli *cli, const char *path, char **url, struct cli_error *err)
{
    const char *attr, *coll;
    char *add = NULL, *target;
    long long size = 0;
    FILE *f = NULL;
    int rc;

    *url = NULL;
    if (open_upload(path, &f, &size, err) < 0)
        return -1;
    if (disco_collection(cli, "packages", &attr, &coll, err) < 0 ||
        cmd_add_href(cli, coll, attr, &add, err) < 0) {
        fclose(f);
        return -1;
    }
    target = http_add_query(add, "name", base_name(path));
    free(add);
    rc = target != NULL ? send_upload(cli, target, f, size, url, err)
                        : cli_fail(err, CLI_USAGE, "out of memory");
    free(target);
    fclose(f);
    return rc;
}

/* ---- download ---- */

/* The file a download writes: FILE.part, renamed to FILE when complete. */
struct package_file {
    FILE *f;
    char *path;                     /* FILE.part */
    const char *final;              /* FILE */
    long long written;
    struct sha256_ctx hash;         /* of the bytes written so far */
    char etag[128];                 /* of the reply that started the file */
    struct cli_error *err;
};

static int sink_begin(void *arg, long long start, const char *etag)
{
    struct package_file *s = arg;

    if (start == 0) {  /* the whole package (again) */
        if (fflush(s->f) != 0 || ftruncate(fileno(s->f), 0) < 0 || fseeko(s->f, 0, SEEK_SET) < 0)
            return cli_fail(s->err, CLI_USAGE, "cannot write %s: %s", s->path, strerror(errno));
        sha256_init(&s->hash);
        s->written = 0;
        snprintf(s->etag, sizeof(s->etag), "%s", etag);
        return 0;
    }
    if (start != s->written)
        return cli_fail(s->err, CLI_SERVER, "the server resumed the download at byte %lld, not "
                        "at %lld", start, s->written);
    return 0;
}

static int sink_write(void *arg, const void *data, size_t len)
{
    struct package_file *s = arg;

    if (fwrite(data, 1, len, s->f) != len)
        return cli_fail(s->err, CLI_USAGE, "cannot write %s: %s", s->path, strerror(errno));
    sha256_update(&s->hash, len, data);
    s->written += (long long)len;
    return 0;
}

static void sleep_s(double s)
{
    struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};

    nanosleep(&ts, NULL);
}

/* GET url into the sink, resuming from what it holds (If-Range: its ETag)
 * when the connection breaks, up to MAX_RESUMES times. */
static int download_resuming(struct cli *cli, const char *url, struct package_file *s,
                             struct cli_error *err)
{
    const struct http_sink sink = {sink_begin, sink_write, s};
    struct http_progress hook;
    struct http_reply reply;
    struct progress bar;
    char what[2200], note[200];
    int rc;

    snprintf(what, sizeof(what), "GET %s", url);
    progress_begin(&bar, "download", cli->opt.progress, &hook);
    for (int attempt = 0;; attempt++) {
        struct cli_error saved;
        rc = http_download(cli->http, url, s->written, s->etag, &sink, &hook, &reply, err);
        if (rc == 0 || err->code != CLI_CONNECT || attempt >= MAX_RESUMES)
            break;
        saved = *err;
        snprintf(note, sizeof(note), "interrupted after %.1f MiB (%.120s); resuming",
                 (double)s->written / (1024.0 * 1024.0), saved.message);
        progress_note(&bar, note);
        sleep_s(0.5 * (attempt + 1));
    }
    progress_end(&bar, rc == 0 && (reply.status == 200 || reply.status == 206));
    if (rc < 0)
        return -1;
    if (reply.status >= 400)
        rc = cli_fail_reply(err, &reply, what);
    else if (reply.status != 200 && reply.status != 206)
        rc = cli_fail(err, CLI_SERVER, "unexpected HTTP %ld %s (%s)", reply.status, reply.reason,
                      what);
    http_reply_clear(&reply);
    return rc;
}

/* The downloaded bytes are the Package: its size and sha256 (when it says). */
static int check_download(const json_t *package, struct package_file *s, struct cli_error *err)
{
    json_t *size = json_object_get(package, "size");
    const char *sha = disco_str(package, "sha256");
    uint8_t digest[SHA256_DIGEST_SIZE];
    char hex[2 * SHA256_DIGEST_SIZE + 1];

    if (json_is_integer(size) && json_integer_value(size) != s->written)
        return cli_fail(err, CLI_SERVER, "the package has %" JSON_INTEGER_FORMAT " bytes but "
                        "%lld arrived", json_integer_value(size), s->written);
    sha256_digest(&s->hash, sizeof(digest), digest);
    for (size_t i = 0; i < sizeof(digest); i++)
        snprintf(hex + 2 * i, 3, "%02x", digest[i]);
    if (sha != NULL && strcasecmp(sha, hex) != 0)
        return cli_fail(err, CLI_SERVER, "the downloaded package's sha256 is %s, the server "
                        "says %.80s", hex, sha);
    return 0;
}

/* The href of a Package's content (a string or a reference). */
static const char *content_href(const json_t *package)
{
    const json_t *content = json_object_get(package, "content");

    return json_is_string(content) ? json_string_value(content) : disco_str(content, "href");
}

int package_download(struct cli *cli, const char *url, struct package_file *s,
                     struct cli_error *err)
{
    const char *content, *state;
    json_t *package;
    int rc;

    if (disco_get(cli, url, &package, err) < 0)
        return -1;
    state = disco_str(package, "state");
    content = content_href(package);
    if (state != NULL && strcmp(state, "AVAILABLE") != 0)
        rc = cli_fail(err, CLI_CONFLICT, "the package %s is %s, not AVAILABLE", url, state);
    else if (content == NULL)
        rc = cli_fail(err, CLI_SERVER, "the package %s names no content to download", url);
    else
        rc = download_resuming(cli, content, s, err);
    if (rc == 0)
        rc = check_download(package, s, err);
    json_decref(package);
    return rc;
}

struct package_file *package_file_open(const char *path, struct cli_error *err)
{
    struct package_file *s = calloc(1, sizeof(*s));
    size_t len = strlen(path) + sizeof(".part");

    if (s == NULL || (s->path = malloc(len)) == NULL) {
        free(s);
        cli_fail(err, CLI_USAGE, "out of memory");
        return NULL;
    }
    snprintf(s->path, len, "%s.part", path);
    s->final = path;
    s->f = fopen(s->path, "wb");
    if (s->f == NULL) {
        cli_fail(err, CLI_USAGE, "cannot write %s: %s", path, strerror(errno));
        free(s->path);
        free(s);
        return NULL;
    }
    s->err = err;
    sha256_init(&s->hash);
    return s;
}

int package_file_close(struct package_file *s, int rc, struct cli_error *err)
{
    if (fclose(s->f) != 0 && rc == 0)
        rc = cli_fail(err, CLI_USAGE, "cannot write %s: %s", s->path, strerror(errno));
    if (rc == 0 && rename(s->path, s->final) < 0)
        rc = cli_fail(err, CLI_USAGE, "cannot rename %s to %s: %s", s->path, s->final,
                      strerror(errno));
    if (rc < 0)
        unlink(s->path);
    free(s->path);
    free(s);
    return rc;
}

/* ---- the package commands ---- */

int cmd_package_upload(struct cli *cli, char **args, int nargs, struct cli_error *err)
{
    char *url = NULL;
    int rc;

    (void)nargs;
    rc = package_upload(cli, args[0], &url, err);
    if (rc == 0)
        rc = output_url(cli, url, err);
    free(url);
    return rc;
}

int cmd_package_download(struct cli *cli, char **args, int nargs, struct cli_error *err)
{
    struct package_file *file = package_file_open(args[1], err);
    json_t *package = NULL;
    char *url = NULL;
    int rc;

    (void)nargs;
    if (file == NULL)
        return -1;
    rc = disco_resource(cli, "packages", args[0], &package, err);
    if (rc == 0 && disco_str(package, "id") != NULL)
        url = strdup(disco_str(package, "id"));
    if (rc == 0 && url == NULL)
        rc = cli_fail(err, CLI_SERVER, "the package '%s' has no id", args[0]);
    if (rc == 0)
        rc = package_download(cli, url, file, err);
    rc = package_file_close(file, rc, err);
    if (rc == 0)
        rc = output_url(cli, url, err);
    json_decref(package);
    free(url);
    return rc;
}
