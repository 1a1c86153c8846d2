/*
 * system_import.c - `import` on the SystemTemplate and System collections:
 * an OVF package (an OVA, or a descriptor with its files beside it) into a
 * SystemTemplate, and for the System collection a System built from it.
 *
 * The request checks the Action's `source` (package_source_check: 400
 * before any Job) and queues one Job on a transfer worker, which:
 *   1. fetches the package (package_source_fetch),
 *   2. reads its members and parses the descriptor (src/ovf),
 *   3. verifies the manifest before anything is made,
 *   4. converts each disk into an image file (driver/disk_import.c through
 *      the default host's image_import: named by ids derived from the Job's,
 *      so a re-run after a crash finds the same files),
 *   5. in one transaction creates every row (system_import_build.c), the
 *      SystemTemplate with importImage = the source, for a System import
 *      the System (system_build) with its nested Jobs, and ends the Job.
 * All or nothing: on any failure the converted files are removed and no row
 * is left.  The Job's statusMessage lists the optional content skipped.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "driver/disk_convert.h"
#include "hosts/hosts.h"
#include "resources/machine.h"
#include "resources/package.h"
#include "resources/system.h"
#include "resources/system_import.h"
#include "util/clock.h"
#include "util/log.h"

/* ---- the request ---- */

/* The Action's ovf.network.<name> properties: each an href of a Network the
 * principal sees (400 otherwise), into {"ovf.network.<name>": path}. */
static int existing_networks(struct cimi_request *req, const json_t *props, json_t **out,
                             struct cimi_error *err)
{
    const char *key;
    json_t *value;

    *out = json_object();
    json_object_foreach((json_t *)props, key, value) {
        char path[256];
        struct store_row row;
        if (strncmp(key, "ovf.network.", 12) != 0)
            continue;
        memset(&row, 0, sizeof(row));
        if (!json_is_string(value) ||
            resource_href_path(req, json_string_value(value), "properties", path, sizeof(path),
                               err) != 0 ||
            resource_load(req, path, &t_network, &row, err) != 0) {
            json_decref(*out);
            *out = NULL;
            return err_set(err, 400, "properties", "%s names no Network of yours", key);
        }
        store_row_clear(&row);
        json_object_set_new(*out, key, json_string(path));
    }
    return 0;
}

/* The Action's source, checked now: a Package named by its absolute href
 * (as clients send them) is ours, not a download. */
static int check_source(struct cimi_request *req, const char *source, struct import_source *src,
                        struct cimi_error *err)
{
    char path[256];

    if (!source)
        return err_set(err, 400, "source", "missing required attribute 'source' (the package)");
    if (resource_href_path(req, source, "source", path, sizeof(path), NULL) == 0 &&
        strncmp(path, "packages/", 9) == 0)
        source = path;
    return package_source_check(req, source, src, err);
}

static int import_begin(struct cimi_request *req, const json_t *action, const char *target,
                        struct job_spec *job, struct cimi_error *err)
{
    const char *source = json_string_value(json_object_get(action, "source"));
    const json_t *props = json_object_get(action, "properties");
    const char *eula = json_string_value(json_object_get(props, "ovf.acceptAllEulas"));
    struct import_source src;
    char uuid[37], template_id[128];
    json_t *networks = NULL;

    if (check_source(req, source, &src, err) != 0)
        return -1;
    if (eula && strcmp(eula, "true") != 0 && strcmp(eula, "false") != 0)
        return err_set(err, 400, "properties", "ovf.acceptAllEulas is 'true' or 'false'");
    if (uuid_generate_v4(uuid, sizeof(uuid)) != 0)
        return err_set(err, 500, NULL, "cannot generate an identifier");
    if (existing_networks(req, props, &networks, err) != 0)
        return -1;
    snprintf(template_id, sizeof(template_id), "systemTemplates/%s", uuid);
    snprintf(job->op, sizeof(job->op), "%s", "system.import");
    if (strcmp(target, "systemTemplates") == 0)
        snprintf(job->created, sizeof(job->created), "%s", template_id);
    job->params = json_pack("{s:s, s:s, s:s, s:s, s:s, s:{s:s, s:s, s:b}, s:s, s:o}", "kind",
                            src.kind, "where", src.where, "source", source, "target", target,
                            "template", template_id, "who", "name", req->who.name, "tenant",
                            req->who.tenant, "admin", req->who.admin, "base", req->base_uri,
                            "networks", networks);
    if (json_is_object(props))
        json_object_set(job->params, "properties", (json_t *)props);
    return 0;
}

int system_template_import_run(struct cimi_request *req, struct store_row *unused,
                               const json_t *action, struct job_spec *job, struct cimi_error *err)
{
    (void)unused;
    return import_begin(req, action, "systemTemplates", job, err);
}

int system_import_run(struct cimi_request *req, struct store_row *unused, const json_t *action,
                      struct job_spec *job, struct cimi_error *err)
{
    (void)unused;
    return import_begin(req, action, "systems", job, err);
}

/* ---- the Job ---- */

struct import {
    struct job_context *ctx;
    char path[4096];              /* the fetched package (OVA or descriptor) */
    bool temp;                    /* path is a temporary file to remove */
    struct ova_index idx;
    json_t *model;
    struct import_plan plan;
    size_t converted;             /* plan disks whose files may exist */
    bool system_built;            /* system_build booked members (undo if not committed) */
    char signer[512];             /* the subject of the .cert's certificate, "" if unsigned */
};

static const char *property(const struct import *im, const char *key)
{
    return json_string_value(
        json_object_get(json_object_get(im->ctx->params, "properties"), key));
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcmp(s + a - b, suffix) == 0;
}

static bool piece_exists(const char *dir, const char *name)
{
    char path[4400];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    return access(path, F_OK) == 0;
}

/* The descriptor form's References files join the index; every href must
 * be a member of the package (a chunked File: its pieces href.000000000,
 * href.000000001 ..., at least the first). */
static int index_references(struct import *im, bool descriptor_form, struct cimi_error *err)
{
    char dir[4096];
    size_t i;
    json_t *f;

    snprintf(dir, sizeof(dir), "%s", im->path);
    *strrchr(dir, '/') = 0;
    json_array_foreach(json_object_get(im->model, "files"), i, f) {
        const char *href = json_string_value(json_object_get(f, "href"));
        bool chunked = json_object_get(f, "chunkSize") != NULL;
        uint64_t bytes = 0;
        for (size_t n = 0; n < (chunked ? OVF_MAX_MEMBERS : 1); n++) {
            char name[OVF_NAME_MAX + 16];
            if (chunked)
                snprintf(name, sizeof(name), "%s.%09zu", href, n);
            else
                snprintf(name, sizeof(name), "%s", href);
            if (descriptor_form && (!chunked || n == 0 || piece_exists(dir, name)) &&
                ova_index_add_file(&im->idx, dir, name, err) != 0)
                return -1;
            const struct ova_member *m = ova_find(&im->idx, name);
            if (!m && (!chunked || n == 0))
                return err_set(err, 400, "source", "the package lacks '%s' (a File of "
                               "References)", name);
            if (!m)
                break;
            bytes += m->size;
        }
        json_t *size = json_object_get(f, "size");
        if (size && (uint64_t)json_integer_value(size) != bytes)
            return err_set(err, 400, "source", "'%s' is %llu bytes, its File says %lld", href,
                           (unsigned long long)bytes, json_integer_value(size));
    }
    return 0;
}

static int open_package(struct import *im, struct cimi_error *err)
{
    bool descriptor_form = strcmp(job_param(im->ctx, "kind"), "file") == 0 &&
                           ends_with(im->path, ".ovf");
    char *xml = NULL;
    size_t len;

    if ((descriptor_form ? ova_index_descriptor(im->path, &im->idx, err)
                         : ova_read_index(im->path, &im->idx, err)) != 0)
        return -1;
    if (ova_read_member(&im->idx.members[im->idx.descriptor], OVF_MAX_DESCRIPTOR, &xml, &len,
                        err) != 0)
        return -1;
    im->model = ovf_parse(xml, len, property(im, "ovf.deploymentOption"), err);
    free(xml);
    if (!im->model)
        return -1;
    return index_references(im, descriptor_form, err);
}

/* NAME.cert beside NAME.ovf, or NULL. */
static const struct ova_member *certificate_member(const struct import *im)
{
    char name[OVF_NAME_MAX + 8];
    const char *ovf = im->idx.members[im->idx.descriptor].name;

    snprintf(name, sizeof(name), "%.*s.cert", (int)strlen(ovf) - 4, ovf);
    return ova_find(&im->idx, name);
}

/* The .cert signs the .mf (text): verified before the manifest is used. */
static int verify_signature(struct import *im, const struct ova_member *cert, const char *mf,
                            size_t mf_len, struct cimi_error *err)
{
    const char *allow = property(im, "ovf.allowUntrustedSigner");
    char *text;
    size_t len;

    job_progress(im->ctx->st, im->ctx->job_id, 22, "verifying the signature");
    if (ova_read_member(cert, OVF_MAX_MANIFEST, &text, &len, err) != 0)
        return -1;
    int rc = import_check_certificate(text, len, im->idx.members[im->idx.manifest].name, mf,
                                      mf_len, allow && strcmp(allow, "true") == 0, im->signer,
                                      sizeof(im->signer), err);
    free(text);
    return rc;
}

/* The manifest lists the descriptor and every References file, and every
 * digest it gives matches (no manifest: allowed, as XO and oVirt write none). */
static int verify_manifest(struct import *im, struct cimi_error *err)
{
    struct ovf_manifest mf;
    char *text;
    size_t len, i;
    json_t *f;
    int rc;

    const struct ova_member *cert = certificate_member(im);
    if (im->idx.manifest < 0)
        return cert ? err_set(err, 400, "source", "the package has a certificate (%s) but no "
                              "manifest", cert->name)
                    : 0;
    job_progress(im->ctx->st, im->ctx->job_id, 25, "verifying the manifest");
    if (ova_read_member(&im->idx.members[im->idx.manifest], OVF_MAX_MANIFEST, &text, &len,
                        err) != 0)
        return -1;
    rc = cert ? verify_signature(im, cert, text, len, err) : 0;
    if (rc == 0)
        rc = manifest_parse(text, len, &mf, err);
    free(text);
    if (rc != 0)
        return -1;
    const char **required = calloc(im->idx.count + 2, sizeof(*required));
    size_t n = 0;
    required[n++] = im->idx.members[im->idx.descriptor].name;
    json_array_foreach(json_object_get(im->model, "files"), i, f) {
        const char *href = json_string_value(json_object_get(f, "href"));
        if (!json_object_get(f, "chunkSize")) {
            required[n++] = href;
            continue;
        }
        size_t len = strlen(href); /* each piece of a chunked File */
        for (size_t k = 0; k < im->idx.count && n <= im->idx.count; k++) {
            const char *m = im->idx.members[k].name;
            if (strncmp(m, href, len) == 0 && m[len] == '.' && strlen(m + len + 1) == 9 &&
                strspn(m + len + 1, "0123456789") == 9)
                required[n++] = m;
        }
    }
    rc = manifest_verify(&mf, &im->idx, required, err);
    free(required);
    manifest_free(&mf);
    return rc;
}

/* The Property of key "[class.]key[.instance]" anywhere in the content, or NULL. */
static const json_t *find_property(const json_t *c, const char *key)
{
    size_t i;
    json_t *p, *child;

    json_array_foreach(json_object_get(json_object_get(c, "product"), "properties"), i, p)
        if (strcmp(json_string_value(json_object_get(p, "key")), key) == 0)
            return p;
    json_array_foreach(json_object_get(c, "children"), i, child)
        if ((p = (json_t *)find_property(child, key)))
            return p;
    return NULL;
}

/* Each ovf.property.<key> the Action gives names a userConfigurable
 * Property of the package and fits its type and qualifiers. */
static int check_properties(const struct import *im, struct cimi_error *err)
{
    const char *key;
    json_t *value;

    json_object_foreach(json_object_get(im->ctx->params, "properties"), key, value) {
        if (strncmp(key, "ovf.property.", 13) != 0)
            continue;
        const json_t *p = find_property(json_object_get(im->model, "content"), key + 13);
        if (!p || !json_is_true(json_object_get(p, "userConfigurable")))
            return err_set(err, 400, "properties", "%s: the package has no user-configurable "
                           "property %s", key, key + 13);
        if (!json_is_string(value) || ovf_property_check(p, json_string_value(value), err) != 0)
            return json_is_string(value) ? -1 : err_set(err, 400, "properties", "%s", key);
    }
    return 0;
}

static bool has_eula(const json_t *c)
{
    size_t i;
    json_t *child;
    if (json_array_size(json_object_get(c, "eula")))
        return true;
    json_array_foreach(json_object_get(c, "children"), i, child)
        if (has_eula(child))
            return true;
    return false;
}

struct fill_arg {
    struct import *im;
    const struct import_disk *disk;
};

/* A chunked File's pieces joined into the file joined (at most max bytes). */
static int join_pieces(const struct import *im, const char *href, const char *joined,
                       uint64_t max, uint64_t *size, struct cimi_error *err)
{
    FILE *out = fopen(joined, "wb");
    char *buf = malloc(1 << 20);
    int rc = out && buf ? 0 : err_set(err, 500, NULL, "cannot write %s", joined);

    *size = 0;
    for (size_t n = 0; rc == 0; n++) {
        char name[OVF_NAME_MAX + 16];
        snprintf(name, sizeof(name), "%s.%09zu", href, n);
        const struct ova_member *m = ova_find(&im->idx, name);
        if (!m)
            break;
        FILE *in = fopen(m->file, "rb");
        if (!in || fseeko(in, (off_t)m->offset, SEEK_SET) != 0)
            rc = err_set(err, 500, NULL, "cannot read '%s'", name);
        for (uint64_t left = m->size; rc == 0 && left > 0;) {
            size_t want = left < (1 << 20) ? (size_t)left : (1 << 20);
            if (fread(buf, 1, want, in) != want || fwrite(buf, 1, want, out) != want)
                rc = err_set(err, 500, NULL, "cannot join the pieces of '%s'", href);
            left -= want;
            *size += want;
            if (rc == 0 && *size > max)
                rc = err_set(err, 400, "source", "'%s' is larger than an image may be", href);
        }
        if (in)
            fclose(in);
    }
    if (out && fclose(out) != 0 && rc == 0)
        rc = err_set(err, 500, NULL, "cannot write %s", joined);
    free(buf);
    return rc;
}

static int fill_disk(const char *path, void *arg, struct cimi_error *err)
{
    const struct fill_arg *a = arg;
    const uint64_t max = (uint64_t)machine_image_max_size();
    char joined[4200] = "";
    int rc;

    if (a->disk->chunked) {
        uint64_t size;
        snprintf(joined, sizeof(joined), "%s.joined", path);
        rc = join_pieces(a->im, a->disk->href, joined, max, &size, err);
        struct disk_source src = {joined, 0, size, false, a->disk->gzip, a->disk->href};
        if (rc == 0)
            rc = disk_import_convert(&src, a->disk->capacity, max, path, err);
        unlink(joined);
        return rc;
    }
    const struct ova_member *m = ova_find(&a->im->idx, a->disk->href);
    bool in_ova = strcmp(m->file, a->im->path) == 0; /* a tar member: padded to 512 */
    struct disk_source src = {m->file, m->offset, m->size, in_ova, a->disk->gzip, m->name};
    return disk_import_convert(&src, a->disk->capacity, max, path, err);
}

static void remove_images(struct import *im)
{
    struct cimi_error cause;
    struct host_use h;

    if (im->converted == 0 || hosts_use_first(&h, &cause) != 0)
        return;
    for (size_t i = 0; i < im->converted; i++)
        if (im->plan.disks[i].href &&
            h.drv->image_delete(h.hv, resource_uuid(im->plan.disks[i].id), &cause) != 0)
            log_warn("import: %s: %s", im->plan.disks[i].id, cause.message);
    hosts_done(&h);
}

/* A disk larger than its Disk's capacity keeps its size: the capacity the
 * configuration and volume say becomes the image's (the image file is
 * read again: a re-run may find it made already). */
static int fit_capacity(struct import_disk *d, struct cimi_error *err)
{
    const char *file = strncmp(d->location, "file://", 7) == 0 ? d->location + 7 : d->location;
    struct stat st;

    if (stat(file, &st) != 0)
        return 0; /* not a local file (a test host's): nothing to read */
    struct disk_source src = {file, 0, (uint64_t)st.st_size, false, false, d->href};
    struct disk_probe probe;
    if (disk_import_probe(&src, &probe, err) != 0)
        return -1;
    if (probe.virtual_size > d->capacity) {
        log_info("import: disk %s is %llu bytes, more than its capacity %llu: kept", d->href,
                 (unsigned long long)probe.virtual_size, (unsigned long long)d->capacity);
        d->capacity = probe.virtual_size;
    }
    return 0;
}

static int convert_disks(struct import *im, struct cimi_error *err)
{
    struct host_use h;
    size_t files = 0, done = 0;

    for (size_t i = 0; i < im->plan.count; i++)
        files += im->plan.disks[i].href != NULL;
    if (hosts_use_first(&h, err) != 0)
        return -1;
    int rc = 0;
    for (size_t i = 0; i < im->plan.count && rc == 0; i++) {
        struct import_disk *d = &im->plan.disks[i];
        im->converted = i + 1;
        if (!d->href)
            continue;
        char message[400];
        snprintf(message, sizeof(message), "converting disk %zu of %zu (%s)", ++done, files,
                 d->href);
        job_progress(im->ctx->st, im->ctx->job_id, 30 + (int)(60 * (done - 1) / (files ? files : 1)),
                     message);
        struct fill_arg arg = {im, d};
        rc = h.drv->image_import(h.hv, resource_uuid(d->id), fill_disk, &arg, d->location,
                                 sizeof(d->location), err);
        if (rc == 0)
            rc = fit_capacity(d, err);
    }
    hosts_done(&h);
    return rc;
}

/* "imported 3 disks; skipped optional content: Item 'sound' (line 70): ..." */
static void success_message(const struct import *im, const char *what, char *out, size_t len)
{
    size_t i, n;
    json_t *s;

    n = (size_t)snprintf(out, len, "imported %s from the package (%zu disk%s%s%s)", what,
                         im->plan.count, im->plan.count == 1 ? "" : "s",
                         im->signer[0] ? "; signed by " : "", im->signer);
    json_array_foreach(json_object_get(im->model, "skipped"), i, s) {
        if (n >= len)
            break;
        n += (size_t)snprintf(out + n, len - n, "%s %s (line %lld): %s",
                              i == 0 ? "; skipped optional content:" : ";",
                              json_string_value(json_object_get(s, "element")),
                              json_integer_value(json_object_get(s, "line")),
                              json_string_value(json_object_get(s, "reason")));
    }
}

/* The principal of the request, for the rows the Job makes. */
static void job_request(struct import *im, struct cimi_request *req)
{
    const json_t *who = json_object_get(im->ctx->params, "who");

    memset(req, 0, sizeof(*req));
    req->method = "POST";
    req->path = job_param(im->ctx, "target");
    req->st = im->ctx->st;
    req->query.filters = NULL;
    snprintf(req->base_uri, sizeof(req->base_uri), "%s", job_param(im->ctx, "base"));
    snprintf(req->who.name, sizeof(req->who.name), "%s",
             json_string_value(json_object_get(who, "name")));
    snprintf(req->who.tenant, sizeof(req->who.tenant), "%s",
             json_string_value(json_object_get(who, "tenant")));
    req->who.admin = json_is_true(json_object_get(who, "admin"));
}

/* Name the System in the Job's affectedResources. */
static int add_affected(struct store *st, const char *job_id, const char *id,
                        struct cimi_error *err)
{
    struct store_row job;
    int rc;

    if (st->ops->get(st, job_id, &job, err) != 0)
        return -1;
    json_t *list = json_object_get(job.doc, "affectedResources");
    if (json_is_array(list))
        json_array_append_new(list, json_pack("{s:s}", "href", id));
    rc = st->ops->update(st, &job, err);
    store_row_clear(&job);
    return rc;
}

/* System import: the System built from the new template (system_build, as
 * a SystemCreate naming it), its row inserted and its Job created in the
 * import's transaction (queued by the caller after the commit). */
static int build_system(struct import *im, struct cimi_request *req, const json_t *template_doc,
                        struct store_row *system, struct store_row *job_row,
                        struct cimi_error *err)
{
    struct job_spec spec;
    int rc;

    job_spec_init(&spec);
    json_t *create = json_pack("{s:s, s:{s:s}}", "name",
                               json_string_value(json_object_get(template_doc, "name")),
                               "systemTemplate", "href", job_param(im->ctx, "template"));
    const char *desc = json_string_value(json_object_get(template_doc, "description"));
    if (desc)
        json_object_set_new(create, "description", json_string(desc));
    snprintf(spec.action, sizeof(spec.action), "add");
    snprintf(spec.target, sizeof(spec.target), "systems");
    snprintf(spec.tenant, sizeof(spec.tenant), "%s", req->who.tenant);
    rc = system_build(req, create, system, &spec, err);
    json_decref(create);
    if (rc == 0) {
        im->system_built = true;
        snprintf(spec.created, sizeof(spec.created), "%s", system->id);
        rc = req->st->ops->insert(req->st, system, err);
        if (rc == 0)
            rc = job_create(req->st, &spec, job_row, err);
    }
    job_spec_clear(&spec);
    return rc;
}

static int commit_rows(struct import *im, struct cimi_error *err)
{
    struct store *st = im->ctx->st;
    struct cimi_request req;
    struct store_row job_row, system;
    json_t *template_doc = NULL;
    bool systems = strcmp(job_param(im->ctx, "target"), "systems") == 0;
    char message[2048];

    memset(&job_row, 0, sizeof(job_row));
    memset(&system, 0, sizeof(system));
    job_request(im, &req);
    if (st->ops->begin(st, err) != 0)
        return -1;
    int rc = import_build(&req, im->model, &im->plan, job_param(im->ctx, "template"),
                          job_param(im->ctx, "source"),
                          json_object_get(im->ctx->params, "properties"),
                          json_object_get(im->ctx->params, "networks"), &template_doc, err);
    if (rc == 0 && systems)
        rc = build_system(im, &req, template_doc, &system, &job_row, err);
    success_message(im, systems ? "a System" : "a SystemTemplate", message, sizeof(message));
    if (rc == 0)
        rc = job_finish(st, im->ctx->job_id, true, message, err);
    if (rc == 0 && systems) /* after job_finish, which writes the Job's row */
        rc = add_affected(st, im->ctx->job_id, system.id, err);
    if (rc == 0)
        rc = st->ops->commit(st, err);
    if (rc != 0) {
        st->ops->rollback(st);
        if (im->system_built) /* bookings system_build made */
            system_abort_members(&req, system.id);
    } else if (job_row.id[0]) {
        jobs_enqueue(&job_row, NULL);
    }
    store_row_clear(&job_row);
    store_row_clear(&system);
    json_decref(template_doc);
    return rc;
}

static int run_import(struct job_context *ctx, struct cimi_error *err)
{
    struct import im = {.ctx = ctx};
    struct import_source src;
    struct cimi_error cause;
    int rc;

    err_clear(&cause);
    memset(&src, 0, sizeof(src));
    snprintf(src.kind, sizeof(src.kind), "%s", job_param(ctx, "kind"));
    snprintf(src.where, sizeof(src.where), "%s", job_param(ctx, "where"));
    job_progress(ctx->st, ctx->job_id, 2, "reading the package");
    rc = package_source_fetch(ctx->st, ctx->job_id, &src, im.path, sizeof(im.path), &im.temp,
                              &cause);
    if (rc == 0)
        rc = open_package(&im, &cause);
    if (rc == 0)
        rc = verify_manifest(&im, &cause);
    if (rc == 0 && has_eula(json_object_get(im.model, "content")) &&
        !(property(&im, "ovf.acceptAllEulas") &&
          strcmp(property(&im, "ovf.acceptAllEulas"), "true") == 0))
        rc = err_set(&cause, 400, "properties", "the package has a EULA: import it with the "
                     "property ovf.acceptAllEulas=true to accept it");
    if (rc == 0)
        rc = check_properties(&im, &cause);
    if (rc == 0)
        rc = import_plan(im.model, ctx->job_id, json_object_get(ctx->params, "properties"),
                         &im.plan, &cause);
    if (rc == 0)
        rc = convert_disks(&im, &cause);
    if (rc == 0) {
        job_progress(ctx->st, ctx->job_id, 95, "creating the resources");
        rc = commit_rows(&im, &cause);
    }
    if (rc != 0)
        remove_images(&im);
    if (im.temp)
        unlink(im.path);
    ova_index_free(&im.idx);
    import_plan_free(&im.plan);
    json_decref(im.model);
    if (rc == 0)
        return 0;
    log_warn("import: %s: %s", ctx->job_id, cause.message);
    return job_complete(ctx->st, ctx->job_id, NULL, NULL, NULL, false, cause.message, err);
}

const struct job_kind system_import_job = {
    .op = "system.import",
    .run = run_import,
    .transfer = true,
};
