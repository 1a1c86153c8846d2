/*
 * system.c - the System commands of the cimi client.
 *
 *   system create --template T   a SystemCreate naming the SystemTemplate T
 *   system import FILE|URL       a local OVA is uploaded as a Package (POST
 *                                to the packages collection's add, streamed
 *                                from the file) and imported with the
 *                                Package's href as the Action's source; a
 *                                URL is the source itself
 *   system export SYSTEM FILE    the export Action without a destination,
 *                                its Job followed, then the Package named by
 *                                the reply's Location downloaded into FILE
 *                                (streamed, resumed with Range when the
 *                                connection breaks, checked against the
 *                                Package's size and sha256)
 *
 * list, show, delete and the actions (start, stop ...) are the generic
 * commands in the resource-first form (`cimi system stop S`).  Like the
 * rest of the client it only follows what the server publishes: the import
 * operation of the systems collection, the export operation of a System,
 * the `content` of a Package.
 */
#include <errno.h>
#include <nettle/sha2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cimi/model.h"
#include "cli/commands.h"
#include "cli/discovery.h"
#include "cli/job.h"
#include "cli/output.h"

#define OVF_FORMAT "application/ovf"
#define OVA_MEDIA_TYPE "application/x-tar"
#define MAX_RESUMES 5

/* ---- create ---- */

int cmd_system_create(struct cli *cli, char **args, int nargs, struct cli_error *err)
{
    char *systems[] = {"systems"};
    const char *attr, *coll;
    struct http_reply reply;
    json_t *body, *ref = NULL;
    char *add = NULL;
    int rc;

    (void)args;
    (void)nargs;
    if (cli->opt.file != NULL && cli->opt.template_ref != NULL)
        return cli_fail(err, CLI_USAGE, "give --template or --file, not both");
    if (cli->opt.file != NULL)
        return cmd_create(cli, systems, 1, err);
    if (cli->opt.template_ref == NULL)
        return cli_fail(err, CLI_USAGE, "system create needs --template T (a SystemTemplate) "
                        "or --file F (a SystemCreate document)");
    if (disco_collection(cli, "systems", &attr, &coll, err) < 0 ||
        cmd_add_href(cli, coll, attr, &add, err) < 0 ||
        cmd_reference(cli, "systemTemplates", cli->opt.template_ref, &ref, err) < 0) {
        free(add);
        return -1;
    }
    body = json_pack("{ssso}", "resourceURI", CIMI_NS "/SystemCreate", "systemTemplate", ref);
    rc = body ? cmd_apply_doc_options(cli, body, err) : cli_fail(err, CLI_USAGE, "no memory");
    if (rc == 0)
        rc = cmd_send_json(cli, "POST", add, body, &reply, err);
    json_decref(body);
    free(add);
    if (rc < 0)
        return -1;
    rc = cmd_finish_resource(cli, &reply, NULL, err);
    http_reply_clear(&reply);
    return rc;
}

/* ---- shared: Actions and Jobs ---- */

static bool is_url(const char *s)
{
    return strstr(s, "://") != NULL;
}

/* POST the Action `name` (with source or format when not NULL) to href. */
static int post_action(struct cli *cli, const char *href, const char *name, const char *source,
                       const char *format, struct http_reply *reply, struct cli_error *err)
{
    char uri[256];
    json_t *body;
    int rc;

    snprintf(uri, sizeof(uri), "%s/action/%s", CIMI_NS, name);
    body = json_pack("{s:s, s:s, s:s*, s:s*}", "resourceURI", CIMI_NS "/Action", "action", uri,
                     "source", source, "format", format);
    if (body == NULL)
        return cli_fail(err, CLI_USAGE, "out of memory (or a source that is not UTF-8)");
    rc = cmd_send_json(cli, "POST", href, body, reply, err);
    json_decref(body);
    return rc;
}

/* The first affected resource of the Job at job_uri that is a System. */
static char *job_system(struct cli *cli, const char *job_uri, struct cli_error *err)
{
    json_t *job, *item;
    char *url = NULL;
    size_t i;

    if (disco_get(cli, job_uri, &job, err) < 0)
        return NULL;
    json_array_foreach(json_object_get(job, "affectedResources"), i, item) {
        const char *href = disco_str(item, "href");
        if (href != NULL && strstr(href, "/systems/") != NULL) {
            url = strdup(href);
            break;
        }
    }
    json_decref(job);
    return url;
}

/* Delete what an import uploaded, once the import has used it.  A failure
 * is only a note: the System is there. */
static void delete_package(struct cli *cli, const char *url)
{
    struct cli_error ignored;
    struct http_reply reply;
    const char *href;
    json_t *doc;

    if (disco_get(cli, url, &doc, &ignored) < 0)
        return;
    href = disco_op(doc, "delete", NULL);
    if (href == NULL ||
        http_request(cli->http, "DELETE", href, "application/json", NULL, NULL, 0, &reply,
                     &ignored) < 0) {
        fprintf(stderr, "cimi: note: the uploaded package %s was left on the server\n", url);
    } else {
        if (reply.status >= 300)
            fprintf(stderr, "cimi: note: the uploaded package %s was left on the server "
                    "(HTTP %ld)\n", url, reply.status);
        http_reply_clear(&reply);
    }
    json_decref(doc);
}

/* ---- import ---- */

/* The href of the import operation of the systems collection. */
static int import_href(struct cli *cli, char **href, struct cli_error *err)
{
    const char *attr, *coll, *op;
    json_t *doc;

    *href = NULL;
    if (disco_collection(cli, "systems", &attr, &coll, err) < 0 ||
        disco_get(cli, coll, &doc, err) < 0)
        return -1;
    op = disco_op(doc, "import", NULL);
    if (op != NULL && (*href = strdup(op)) == NULL)
        cli_fail(err, CLI_USAGE, "out of memory");
    else if (op == NULL)
        cli_fail(err, CLI_CONFLICT, "%s offers no 'import' operation: the server does not "
                 "import packages there for this user (%s)", attr, coll);
    json_decref(doc);
    return *href != NULL ? 0 : -1;
}

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
    if (reply.status >= 400)
        rc = cli_fail_reply(err, &reply, what);
    else if (reply.status < 200 || reply.status > 299)
        rc = cli_fail(err, CLI_SERVER, "unexpected HTTP %ld %s (%s)", reply.status, reply.reason,
                      what);
    else if ((*url = cmd_created_url(&reply)) == NULL)
        rc = cli_fail(err, CLI_SERVER, "the server did not name the uploaded package (%s)", what);
    http_reply_clear(&reply);
    return rc;
}

/* POST the file to the packages collection's add; *url = the new Package. */
static int upload_package(struct cli *cli, const char *path, char **url, struct cli_error *err)
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

/* After the import Action: follow its Job with --wait and print the System
 * it made (else the Job); without --wait print the Job. */
static int finish_import(struct cli *cli, const struct http_reply *reply, const char *package,
                         struct cli_error *err)
{
    char *system;
    int rc;

    if (!cli->opt.wait || reply->job_uri == NULL)
        return cmd_finish_job(cli, reply, err);
    if (job_follow(cli, reply->job_uri, err) < 0) {
        if (package != NULL)
            fprintf(stderr, "cimi: note: the uploaded package stays for another try: %s\n",
                    package);
        return -1;
    }
    if (package != NULL)
        delete_package(cli, package);
    system = job_system(cli, reply->job_uri, err);
    rc = output_url(cli, system != NULL ? system : reply->job_uri, err);
    free(system);
    return rc;
}

int cmd_system_import(struct cli *cli, char **args, int nargs, struct cli_error *err)
{
    struct http_reply reply;
    char *href = NULL, *package = NULL;
    int rc;

    (void)nargs;
    if (import_href(cli, &href, err) < 0)
        return -1;
    rc = is_url(args[0]) ? 0 : upload_package(cli, args[0], &package, err);
    if (rc == 0)
        rc = post_action(cli, href, "import", package ? package : args[0], NULL, &reply, err);
    if (rc == 0) {
        rc = finish_import(cli, &reply, package, err);
        http_reply_clear(&reply);
    } else if (package != NULL) {
        fprintf(stderr, "cimi: note: the uploaded package stays for another try: %s\n", package);
    }
    free(package);
    free(href);
    return rc;
}

/* ---- export ---- */

/* The file a download writes: FILE.part, renamed to FILE when complete. */
struct file_sink {
    FILE *f;
    const char *path;               /* the .part file, for messages */
    long long written;
    struct sha256_ctx hash;         /* of the bytes written so far */
    char etag[128];                 /* of the reply that started the file */
    struct cli_error *err;
};

static int sink_begin(void *arg, long long start, const char *etag)
{
    struct file_sink *s = arg;

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
    struct file_sink *s = arg;

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
static int download_resuming(struct cli *cli, const char *url, struct file_sink *s,
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
static int check_download(const json_t *package, struct file_sink *s, struct cli_error *err)
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

/* Download the Package at url into the sink, checked. */
static int download_package(struct cli *cli, const char *url, struct file_sink *s,
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

/* Open FILE.part (into part) for the download, before the server is asked
 * anything, so that an unwritable FILE costs no export. */
static int open_part(const char *path, char *part, size_t len, struct file_sink *s,
                     struct cli_error *err)
{
    memset(s, 0, sizeof(*s));
    if ((size_t)snprintf(part, len, "%s.part", path) >= len)
        return cli_fail(err, CLI_USAGE, "the file name is too long: %s", path);
    s->f = fopen(part, "wb");
    if (s->f == NULL)
        return cli_fail(err, CLI_USAGE, "cannot write %s: %s", path, strerror(errno));
    s->path = part;
    s->err = err;
    sha256_init(&s->hash);
    return 0;
}

/* Close FILE.part: renamed to FILE when everything went well (rc 0), else
 * removed.  Returns rc, or -1 when closing or renaming failed. */
static int close_part(struct file_sink *s, const char *part, const char *path, int rc,
                      struct cli_error *err)
{
    if (fclose(s->f) != 0 && rc == 0)
        rc = cli_fail(err, CLI_USAGE, "cannot write %s: %s", part, strerror(errno));
    if (rc == 0 && rename(part, path) < 0)
        rc = cli_fail(err, CLI_USAGE, "cannot rename %s to %s: %s", part, path, strerror(errno));
    if (rc < 0)
        unlink(part);
    return rc;
}

/* POST the export Action to the System `word`; *package = the reply's Location. */
static int start_export(struct cli *cli, const char *word, char **package, char **job,
                        struct cli_error *err)
{
    struct http_reply reply;
    const char *href;
    json_t *system;
    char what[300];
    int rc;

    *package = *job = NULL;
    if (disco_resource(cli, "systems", word, &system, err) < 0)
        return -1;
    snprintf(what, sizeof(what), "system '%s'", word);
    rc = cmd_require_op(system, "export", what, &href, err);
    if (rc == 0)
        rc = post_action(cli, href, "export", NULL, OVF_FORMAT, &reply, err);
    json_decref(system);
    if (rc < 0)
        return -1;
    if (reply.location == NULL)
        rc = cli_fail(err, CLI_SERVER, "the export of %s named no package (no Location)", what);
    else if ((*package = strdup(reply.location)) == NULL ||
             (reply.job_uri != NULL && (*job = strdup(reply.job_uri)) == NULL))
        rc = cli_fail(err, CLI_USAGE, "out of memory");
    http_reply_clear(&reply);
    return rc;
}

int cmd_system_export(struct cli *cli, char **args, int nargs, struct cli_error *err)
{
    char *package = NULL, *job = NULL, part[4096];
    struct file_sink sink;
    int rc;

    (void)nargs;
    if (open_part(args[1], part, sizeof(part), &sink, err) < 0)
        return -1;
    rc = start_export(cli, args[0], &package, &job, err);
    if (rc == 0 && job != NULL)
        rc = job_follow(cli, job, err);
    if (rc == 0 && (rc = download_package(cli, package, &sink, err)) < 0)
        fprintf(stderr, "cimi: note: the package stays on the server: %s\n", package);
    rc = close_part(&sink, part, args[1], rc, err);
    if (rc == 0)
        rc = output_url(cli, package, err);
    free(package);
    free(job);
    return rc;
}
