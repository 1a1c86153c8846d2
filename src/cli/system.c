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
 *   system template import|export   the same on the SystemTemplate collection
 *
 * The transfers are package.c's.  list, show, delete and the actions
 * (start, stop ...) are the generic
 * commands in the resource-first form (`cimi system stop S`).  Like the
 * rest of the client it only follows what the server publishes: the import
 * operation of the systems collection, the export operation of a System,
 * the `content` of a Package.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cimi/model.h"
#include "cli/commands.h"
#include "cli/discovery.h"
#include "cli/job.h"
#include "cli/output.h"
#include "cli/package.h"

#define OVF_FORMAT "application/ovf"

/* ---- create ---- */

int cmd_system_create(struct cli *cli, char **args, int nargs, struct cli_error *err)
{
    char *systems[] = {"systems"};
    const char *attr, *coll;
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
        rc = cmd_post_resource(cli, add, body, err);
    json_decref(body);
    free(add);
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

/* The first affected resource of the Job at job_uri in the collection
 * coll_word names (its href holds "/<attribute>/"). */
static char *job_made(struct cli *cli, const char *job_uri, const char *coll_word,
                      struct cli_error *err)
{
    const char *attr, *coll;
    char segment[140];
    json_t *job, *item;
    char *url = NULL;
    size_t i;

    if (disco_collection(cli, coll_word, &attr, &coll, err) < 0 ||
        disco_get(cli, job_uri, &job, err) < 0)
        return NULL;
    snprintf(segment, sizeof(segment), "/%s/", attr);
    json_array_foreach(json_object_get(job, "affectedResources"), i, item) {
        const char *href = disco_str(item, "href");
        if (href != NULL && strstr(href, segment) != NULL) {
            url = strdup(href);
            break;
        }
    }
    json_decref(job);
    return url;
}

/* ---- import ---- */

/* The href of the import operation of the collection coll_word names. */
static int import_href(struct cli *cli, const char *coll_word, char **href,
                       struct cli_error *err)
{
    const char *attr, *coll;

    *href = NULL;
    if (disco_collection(cli, coll_word, &attr, &coll, err) < 0)
        return -1;
    return cmd_collection_op(cli, coll, "import", attr,
                             "the server does not import packages there for this user", href,
                             err);
}

/* After the import Action: follow its Job with --wait and print what it
 * made in coll_word (else the Job); without --wait print the Job. */
static int finish_import(struct cli *cli, const struct http_reply *reply, const char *coll_word,
                         const char *package, struct cli_error *err)
{
    char *made;
    int rc;

    if (!cli->opt.wait || reply->job_uri == NULL)
        return cmd_finish_job(cli, reply, err);
    if (job_follow(cli, reply->job_uri, err) < 0) {
        if (package != NULL)
            fprintf(stderr, "cimi: note: the uploaded package stays on the server: %s\n",
                    package);
        return -1;
    }
    made = job_made(cli, reply->job_uri, coll_word, err);
    rc = output_url(cli, made != NULL ? made : reply->job_uri, err);
    free(made);
    return rc;
}

/* Import source (a local file uploaded first, or a URL) through the import
 * operation of the collection coll_word names. */
static int import_into(struct cli *cli, const char *coll_word, const char *source,
                       struct cli_error *err)
{
    struct http_reply reply;
    char *href = NULL, *package = NULL;
    int rc;

    if (import_href(cli, coll_word, &href, err) < 0)
        return -1;
    rc = is_url(source) ? 0 : package_upload(cli, source, &package, err);
    if (rc == 0)
        rc = post_action(cli, href, "import", package ? package : source, NULL, &reply, err);
    if (rc == 0) {
        rc = finish_import(cli, &reply, coll_word, package, err);
        http_reply_clear(&reply);
    } else if (package != NULL) {
        fprintf(stderr, "cimi: note: the uploaded package stays on the server: %s\n", package);
    }
    free(package);
    free(href);
    return rc;
}

int cmd_system_import(struct cli *cli, char **args, int nargs, struct cli_error *err)
{
    (void)nargs;
    return import_into(cli, "systems", args[0], err);
}

int cmd_system_template_import(struct cli *cli, char **args, int nargs, struct cli_error *err)
{
    (void)nargs;
    return import_into(cli, "systemTemplates", args[0], err);
}

/* ---- export ---- */

/* POST the export Action to the item `word` of the collection coll_word
 * names; *package = the reply's Location, *job its Job. */
static int start_export(struct cli *cli, const char *coll_word, const char *word,
                        char **package, char **job, struct cli_error *err)
{
    struct http_reply reply;
    const char *href;
    json_t *item;
    char what[300];
    int rc;

    *package = *job = NULL;
    if (disco_resource(cli, coll_word, word, &item, err) < 0)
        return -1;
    snprintf(what, sizeof(what), "%s '%s'", coll_word, word);
    rc = cmd_require_op(item, "export", what, &href, err);
    if (rc == 0)
        rc = post_action(cli, href, "export", NULL, OVF_FORMAT, &reply, err);
    json_decref(item);
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

/* Export the item `word` of coll_word into the local file path. */
static int export_into(struct cli *cli, const char *coll_word, const char *word,
                       const char *path, struct cli_error *err)
{
    struct package_file *file;
    char *package = NULL, *job = NULL;
    int rc;

    if ((file = package_file_open(path, err)) == NULL)
        return -1;
    rc = start_export(cli, coll_word, word, &package, &job, err);
    if (rc == 0 && job != NULL)
        rc = job_follow(cli, job, err);
    if (rc == 0 && (rc = package_download(cli, package, file, err)) < 0)
        fprintf(stderr, "cimi: note: the package stays on the server: %s\n", package);
    rc = package_file_close(file, rc, err);
    if (rc == 0)
        rc = output_url(cli, package, err);
    free(package);
    free(job);
    return rc;
}

int cmd_system_export(struct cli *cli, char **args, int nargs, struct cli_error *err)
{
    (void)nargs;
    return export_into(cli, "systems", args[0], args[1], err);
}

int cmd_system_template_export(struct cli *cli, char **args, int nargs, struct cli_error *err)
{
    (void)nargs;
    return export_into(cli, "systemTemplates", args[0], args[1], err);
}
