/*
 * package.c - the Package resource (package.h): its behaviour behind
 * struct resource_ops, its delete Job, and the Packages export Jobs make
 * (package_begin, package_finish).
 *
 * A Package is CREATING while a Job writes its file, AVAILABLE when the
 * file is complete (size and sha256 recorded), DELETING while its delete
 * Job removes the file and the row (one transaction after the file is gone:
 * a crash in between re-runs the Job, which finds no file).  Consumers edit
 * name, description and properties; the rest is read-only.  Packages are
 * not made by a POST of a document: the collection takes the OVA's bytes
 * (http/upload.c, package_upload_store in package_files.c).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "resources/package.h"
#include "resources/package_files.h"
#include "resources/resource.h"
#include "util/log.h"

static const char *state_of(const struct store_row *row)
{
    return json_string_value(json_object_get(row->doc, "state")) ?: "";
}

/* A POST of a Package document: there is nothing to make from one. */
static int package_create(struct cimi_request *req, json_t *input, struct store_row *row,
                          struct job_spec *job, struct cimi_error *err)
{
    (void)req;
    (void)input;
    (void)row;
    (void)job;
    return err_set(err, 400, "body",
                   "a Package is made by POSTing the OVA file's bytes to the packages "
                   "collection with Content-Type application/x-tar (or application/ova, "
                   "application/octet-stream), or by an export");
}

static bool package_allowed(const struct store_row *row, const char *op)
{
    const char *state = state_of(row);

    if (strcmp(op, "edit") == 0)
        return strcmp(state, "DELETING") != 0;
    if (strcmp(op, "delete") == 0)
        return strcmp(state, "AVAILABLE") == 0 || strcmp(state, "ERROR") == 0;
    return false;
}

/* DELETING now; the Job removes the file, then the row. */
static int package_remove(struct cimi_request *req, struct store_row *row, struct job_spec *job,
                          struct cimi_error *err)
{
    json_object_set(row->priv, "previous", json_object_get(row->doc, "state"));
    json_object_set_new(row->doc, "state", json_string("DELETING"));
    resource_touch(row->doc);
    if (req->st->ops->update(req->st, row, err) != 0)
        return -1;
    snprintf(job->op, sizeof(job->op), "package.delete");
    job->params = json_pack("{s:s}", "package", row->id);
    return job->params ? 0 : err_set(err, 500, NULL, "out of memory");
}

const struct resource_ops package_ops = {
    .create = package_create,
    .remove = package_remove,
    .allowed = package_allowed,
    .reads_without_priv = true,
};

/* ---- package.delete ---- */

static int run_delete(struct job_context *ctx, struct cimi_error *err)
{
    const char *id = job_param(ctx, "package");
    struct store *st = ctx->st;
    char path[PATH_MAX];

    if (package_file_path(id, path, sizeof(path)) == 0 && unlink(path) != 0 && errno != ENOENT) {
        log_error("package: cannot remove %s: %s", path, strerror(errno));
        return job_complete(st, ctx->job_id, NULL, NULL, NULL, false,
                            "the package's file could not be removed", err);
    }
    if (st->ops->begin(st, err) != 0)
        return -1;
    if ((st->ops->remove(st, id, err) != 0 && err->status != 404) ||
        job_finish(st, ctx->job_id, true, "deleted", err) != 0 || st->ops->commit(st, err) != 0) {
        st->ops->rollback(st);
        return -1;
    }
    return 0;
}

static void cancel_delete(struct job_context *ctx)
{
    resource_restore_previous(ctx->st, job_param(ctx, "package"));
}

const struct job_kind package_delete_job = {"package.delete", run_delete, cancel_delete};

/* ---- Packages made by Jobs (export) ---- */

/* Fill a new Package row of the principal: state, format, content. */
int package_new_row(struct cimi_request *req, const char *name, const char *state,
                    struct store_row *row, struct cimi_error *err)
{
    char content[300];

    memset(row, 0, sizeof(*row));
    if (resource_new_row(req, &t_package, row, err) != 0)
        return -1;
    if (name != NULL && name[0] != '\0')
        json_object_set_new(row->doc, "name", json_string(name));
    json_object_set_new(row->doc, "state", json_string(state));
    json_object_set_new(row->doc, "format", json_string(PACKAGE_FORMAT_OVF));
    snprintf(content, sizeof(content), "%s/content", row->id);
    json_object_set_new(row->doc, "content", json_pack("{s:s}", "href", content));
    return 0;
}

int package_begin(struct cimi_request *req, const char *name, const char *origin,
                  struct store_row *row, char *path, size_t path_len, struct cimi_error *err)
{
    /* Its size is known only at the end: a tenant with no quota left makes
     * none (one that has some may go over it by this package). */
    memset(row, 0, sizeof(*row));
    if (package_quota_check(req, 1, err) != 0 ||
        package_new_row(req, name, "CREATING", row, err) != 0)
        goto fail;
    if (origin != NULL && origin[0] != '\0')
        json_object_set_new(row->doc, "origin", json_pack("{s:s}", "href", origin));
    if (package_file_path(row->id, path, path_len) != 0) {
        err_set(err, 500, NULL, "the package directory is not set up");
        goto fail;
    }
    if (req->st->ops->insert(req->st, row, err) != 0)
        goto fail;
    return 0;
fail:
    store_row_clear(row);
    return -1;
}

/* The row (CREATING) and its file are gone: the Job failed. */
static int finish_failed(struct store *st, const char *id, const char *path,
                         struct cimi_error *err)
{
    if (unlink(path) != 0 && errno != ENOENT)
        log_warn("package: cannot remove %s: %s", path, strerror(errno));
    if (st->ops->remove(st, id, err) != 0 && err->status != 404)
        return -1;
    return 0;
}

int package_finish(struct store *st, const char *id, bool ok, struct cimi_error *err)
{
    char path[PATH_MAX], sha256[PACKAGE_SHA256_HEX];
    struct store_row row;
    long long size;
    int rc;

    if (package_file_path(id, path, sizeof(path)) != 0)
        return err_set(err, 500, NULL, "the package directory is not set up");
    if (!ok)
        return finish_failed(st, id, path, err);
    if (package_file_digest(id, path, &size, sha256, err) != 0)
        return -1;
    memset(&row, 0, sizeof(row));
    if (st->ops->get(st, id, &row, err) != 0)
        return -1;
    json_object_set_new(row.doc, "state", json_string("AVAILABLE"));
    json_object_set_new(row.doc, "size", json_integer(size));
    json_object_set_new(row.doc, "sha256", json_string(sha256));
    resource_touch(row.doc);
    rc = st->ops->update(st, &row, err);
    store_row_clear(&row);
    return rc;
}

int package_prepare_finish(const char *id, struct cimi_error *err)
{
    char path[PATH_MAX], sha256[PACKAGE_SHA256_HEX];
    long long size;

    if (package_file_path(id, path, sizeof(path)) != 0)
        return err_set(err, 500, NULL, "the package directory is not set up");
    return package_file_digest(id, path, &size, sha256, err);
}
