/*
 * system_export_job.c - the Job behind a System's or SystemTemplate's
 * `export` (system.export, run by a transfer worker; see system_export.c
 * for the request and the steps): disks found, member machines paused for
 * a consistent copy, disks converted, the OVA written into the Package's
 * file or PUT to the destination, and the outcome recorded.
 *
 * Idempotent: a re-run after a crash converts again into the same work
 * files (named after the Job), rewrites the OVA from its start and resumes
 * the machines an interrupted run left paused.  A stop while it runs ends
 * the copy, removes what it made and ends the Job STOPPED.
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "driver/disk_export.h"
#include "driver/driver.h"
#include "hosts/hosts.h"
#include "ovf/ovf_write.h"
#include "resources/machine.h"
#include "resources/package.h"
#include "resources/system.h"
#include "resources/system_export.h"
#include "util/clock.h"
#include "util/download.h"
#include "util/log.h"

#define MIB (1024.0 * 1024.0)
#define CONVERT_FROM 5
#define CONVERT_TO 60
#define WRITE_TO 95

struct export_run {
    struct job_context *ctx;
    json_t *pkg;                /* the package description (own copy) */
    json_t *files;              /* its disks with content, References order */
    json_t *paused;             /* machines to resume: ["machines/<uuid>" ...] */
    char ova[PATH_MAX];         /* the OVA being written */
    char dir[PATH_MAX];         /* where work files go (the package directory) */
    bool temp_ova;              /* ova is a temporary file (a destination export) */
    uint64_t total_bytes;       /* of the OVA's members, for progress */
    double convert_ms;
    long long virtual_bytes;    /* of the disks converted */
    size_t paused_count;        /* machines paused for the copy */
    double paused_ms;
};

static bool stopped(const struct export_run *r)
{
    return job_stop_requested(r->ctx->job_id);
}

/* ---- 1. each disk's file ---- */

static int find_file(json_t *disk, struct cimi_error *err)
{
    json_t *src = json_object_get(disk, "source");
    const char *machine = json_string_value(json_object_get(src, "machine"));
    const char *volume = json_string_value(json_object_get(src, "volume"));
    const char *image = json_string_value(json_object_get(src, "image"));
    const char *format = "qcow2";
    char path[PATH_MAX];
    struct host_use h;
    int rc;

    if (!src)
        return 0;
    rc = -1;
    err_set(err, 404, NULL, "no disk file");
    if (machine || volume) {
        rc = machine ? hosts_use(json_string_value(json_object_get(src, "host")), &h, err)
                     : hosts_use_first(&h, err);
        if (rc == 0)
            rc = disk_export_source(h.hv, machine ? resource_uuid(machine) : NULL,
                                    (int)json_integer_value(json_object_get(src, "slot")),
                                    volume ? resource_uuid(volume) : NULL, path, sizeof(path),
                                    err);
        hosts_done(&h);
    }
    /* An image: a template's disk, or a machine's boot disk on a host that
     * keeps no disk files (what that disk holds). */
    if (rc == 0 && machine)
        json_object_set_new(disk, "live", json_true());  /* a guest may write it */
    if (rc != 0 && err->status == 404 && image) {
        err_clear(err);
        rc = disk_export_image(image, path, sizeof(path), &format, err);
    }
    if (rc != 0 && err->status == 404) {
        json_object_del(disk, "source");  /* no content: a blank disk of its capacity */
        err_clear(err);
        return 0;
    }
    if (rc != 0)
        return -1;
    json_object_set_new(disk, "path", json_string(path));
    json_object_set_new(disk, "format", json_string(format));
    return 0;
}

static int find_files(json_t *node, json_t *machines, struct cimi_error *err)
{
    json_t *item;
    size_t i;

    json_array_foreach(json_object_get(node, "disks"), i, item) {
        const char *machine =
            json_string_value(json_object_get(json_object_get(item, "source"), "machine"));
        if (find_file(item, err) != 0)
            return -1;
        if (machine && json_is_true(json_object_get(item, "live")))
            json_object_set_new(machines, machine, json_true());
    }
    json_array_foreach(json_object_get(node, "children"), i, item)
        if (find_files(item, machines, err) != 0)
            return -1;
    return 0;
}

/* ---- 2. a consistent copy: running members paused while disks convert ---- */

/* Pause machine if it should run (desired STARTED) and runs; it joins
 * r->paused also when an interrupted run left it paused. */
static int pause_member(struct export_run *r, const char *machine, struct cimi_error *err)
{
    struct store_row row;
    enum hv_state state;
    struct host_use h;
    int rc = 0;

    memset(&row, 0, sizeof(row));
    if (r->ctx->st->ops->get(r->ctx->st, machine, &row, NULL) != 0) {
        store_row_clear(&row);
        return 0;
    }
    if (strcmp(json_string_value(json_object_get(row.priv, "desired")) ?: "", "STARTED") == 0 &&
        hosts_use(machine_host_of(&row), &h, err) == 0) {
        rc = h.drv->get_state(h.hv, resource_uuid(machine), &state, err);
        if (rc == 0 && state == HV_RUNNING)
            rc = h.drv->pause(h.hv, resource_uuid(machine), err);
        if (rc == 0 && (state == HV_RUNNING || state == HV_PAUSED))
            json_array_append_new(r->paused, json_pack("{s:s, s:s}", "machine", machine, "host",
                                                       machine_host_of(&row)));
        hosts_done(&h);
    }
    store_row_clear(&row);
    return rc;
}

static void resume_members(struct export_run *r, double paused_at)
{
    struct cimi_error err;
    struct host_use h;
    json_t *m;
    size_t i;

    r->paused_count = json_array_size(r->paused);
    r->paused_ms = clock_mono_ms() - paused_at;
    json_array_foreach(r->paused, i, m) {
        const char *machine = json_string_value(json_object_get(m, "machine"));
        err_clear(&err);
        if (hosts_use(json_string_value(json_object_get(m, "host")), &h, &err) != 0 ||
            h.drv->resume(h.hv, resource_uuid(machine), &err) != 0)
            log_warn("export: cannot resume %s: %s", machine, err.message);
        hosts_done(&h);
    }
    json_array_clear(r->paused);
}

static void work_path(const struct export_run *r, size_t k, char *out, size_t len)
{
    snprintf(out, len, "%s/export-%s-%zu.part", r->dir, resource_uuid(r->ctx->job_id), k);
}

static int convert_all(struct export_run *r, struct cimi_error *err)
{
    bool qcow2 = strcmp(json_string_value(json_object_get(r->pkg, "profile")) ?: "", "kvm") == 0;
    double start = clock_mono_ms();
    size_t n = json_array_size(r->files), i;
    json_t *disk;

    json_array_foreach(r->files, i, disk) {
        struct disk_export_result res;
        char dst[PATH_MAX + 64], message[160];

        if (stopped(r))
            return err_set(err, 409, NULL, "stopped");
        snprintf(message, sizeof(message), "converting disk %zu of %zu", i + 1, n);
        job_progress(r->ctx->st, r->ctx->job_id,
                     CONVERT_FROM + (int)((CONVERT_TO - CONVERT_FROM) * i / (n ? n : 1)), message);
        work_path(r, i, dst, sizeof(dst));
        if (disk_export_convert(json_string_value(json_object_get(disk, "path")),
                                json_string_value(json_object_get(disk, "format")), dst, qcow2,
                                true, &res, err) != 0)
            return -1;
        json_object_set_new(disk, "work", json_string(dst));
        json_object_set_new(disk, "size", json_integer(res.size));
        /* A machine's disk is its configuration's size or its image's. */
        if (res.capacity > json_integer_value(json_object_get(disk, "capacity")))
            json_object_set_new(disk, "capacity", json_integer(res.capacity));
        if (res.populated >= 0)
            json_object_set_new(disk, "populatedSize", json_integer(res.populated));
        r->virtual_bytes += res.capacity;
        r->total_bytes += (uint64_t)res.size;
    }
    r->convert_ms = clock_mono_ms() - start;
    return 0;
}

/* ---- 3. the OVA ---- */

static bool on_copy(void *arg, uint64_t done)
{
    struct export_run *r = arg;
    static const double span = WRITE_TO - CONVERT_TO;
    int percent = CONVERT_TO + (int)(span * (double)done / (double)(r->total_bytes ?: 1));

    job_progress(r->ctx->st, r->ctx->job_id, percent < WRITE_TO ? percent : WRITE_TO,
                 "writing the package");
    return !stopped(r);
}

static int write_members(struct export_run *r, struct ova_writer *w, const char *ovf_name,
                         const char *xml, size_t len, char *why, size_t why_len)
{
    json_t *disk;
    size_t i;

    if (ova_add_buffer(w, ovf_name, xml, len, why, why_len) != 0)
        return -1;
    json_array_foreach(r->files, i, disk) {
        const char *work = json_string_value(json_object_get(disk, "work"));
        if (ova_add_file(w, json_string_value(json_object_get(disk, "href")), work, on_copy, r,
                         why, why_len) != 0)
            return -1;
        unlink(work);
    }
    return 0;
}

static int write_ova(struct export_run *r, struct cimi_error *err)
{
    const json_t *content = json_object_get(r->pkg, "content");
    char why[512], ovf_name[OVA_NAME_MAX + 1], *xml = NULL;
    const char **names;
    struct ova_writer *w = NULL;
    size_t len, n = json_array_size(r->files) + 1;
    int fd, rc = -1;

    snprintf(ovf_name, sizeof(ovf_name), "%s.ovf",
             json_string_value(json_object_get(content, "ovfId")));
    names = calloc(n, sizeof(*names));
    if (!names || ovf_write_descriptor(r->pkg, &xml, &len, why, sizeof(why)) != 0) {
        free(names);
        return err_set(err, 500, NULL, "export: %s", names ? why : "out of memory");
    }
    names[0] = ovf_name;
    for (size_t i = 1; i < n; i++)
        names[i] = json_string_value(json_object_get(json_array_get(r->files, i - 1), "href"));
    fd = open(r->ova, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd >= 0 && (w = ova_begin(fd, names, n, why, sizeof(why))) != NULL &&
        write_members(r, w, ovf_name, xml, len, why, sizeof(why)) == 0) {
        rc = ova_end(w, why, sizeof(why));
        w = NULL;
    }
    if (fd < 0)
        snprintf(why, sizeof(why), "%s: %s", r->ova, strerror(errno));
    ova_abort(w);
    if (fd >= 0)
        close(fd);
    free(names);
    free(xml);
    if (rc != 0)
        return stopped(r) ? err_set(err, 409, NULL, "stopped")
                          : err_set(err, 500, NULL, "writing the package failed: %s", why);
    return 0;
}

/* ---- 4. the destination ---- */

static void on_upload(void *arg, long long sent, long long total)
{
    struct export_run *r = arg;
    char message[128];

    snprintf(message, sizeof(message), "sending: %.1f of %.1f MiB", sent / MIB, total / MIB);
    job_progress(r->ctx->st, r->ctx->job_id, WRITE_TO, message);
}

static bool upload_stopped(void *arg)
{
    return stopped(arg);
}

static int send_ova(struct export_run *r, const char *destination, struct cimi_error *err)
{
    struct download_options opt = {
        .progress = on_upload, .arg = r, .stopped = upload_stopped};

    return upload_file(destination, r->ova, &opt, err);
}

/* ---- the run ---- */

static void remove_work_files(struct export_run *r)
{
    json_t *disk;
    size_t i;

    json_array_foreach(r->files, i, disk) {
        char path[PATH_MAX + 64];
        work_path(r, i, path, sizeof(path));
        unlink(path);
    }
    if (r->temp_ova)
        unlink(r->ova);
}

/* Where the OVA goes: the Package's file, or a temporary file in the
 * package directory for a destination. */
static int choose_files(struct export_run *r, struct cimi_error *err)
{
    const char *path = job_param(r->ctx, "path");
    char copy[PATH_MAX];
    int fd;

    if (path[0]) {
        snprintf(r->ova, sizeof(r->ova), "%s", path);
    } else {
        if (package_upload_temp(r->ova, sizeof(r->ova), &fd, err) != 0)
            return -1;
        close(fd);
        r->temp_ova = true;
    }
    snprintf(copy, sizeof(copy), "%s", r->ova);
    snprintf(r->dir, sizeof(r->dir), "%s", dirname(copy));
    return 0;
}

static int export_package(struct export_run *r, struct cimi_error *err)
{
    json_t *machines = json_object(), *v;
    const char *machine, *destination = job_param(r->ctx, "destination");
    double paused_at;
    char why[256];
    int rc;

    job_progress(r->ctx->st, r->ctx->job_id, 1, "finding the disks");
    rc = choose_files(r, err);
    if (rc == 0)
        rc = find_files(json_object_get(r->pkg, "content"), machines, err);
    if (rc == 0 && ovf_prepare(r->pkg, strcmp(json_string_value(json_object_get(r->pkg, "profile"))
                                                      ?: "", "kvm") == 0 ? "qcow2" : "vmdk",
                               why, sizeof(why)) != 0)
        rc = err_set(err, 400, NULL, "export: %s", why);
    if (rc == 0)
        r->files = ovf_files(r->pkg);
    paused_at = clock_mono_ms();
    json_object_foreach(machines, machine, v)
        if (rc == 0)
            rc = pause_member(r, machine, err);
    if (rc == 0)
        rc = convert_all(r, err);
    resume_members(r, paused_at);
    json_decref(machines);
    if (rc == 0)
        rc = write_ova(r, err);
    if (rc == 0 && destination[0])
        rc = send_ova(r, destination, err);
    return rc;
}

static int finish(struct export_run *r, bool ok, const char *message, struct cimi_error *err)
{
    struct store *st = r->ctx->st;
    const char *package = job_param(r->ctx, "packageId");
    struct cimi_error cause;

    err_clear(&cause);
    if (ok && package[0] && package_prepare_finish(package, &cause) != 0) {
        ok = false;
        message = cause.message;
    }
    if (st->ops->begin(st, err) != 0)
        return -1;
    if (package[0] && package_finish(st, package, ok, err) != 0 && ok) {
        st->ops->rollback(st);
        return finish(r, false, err->message, err);
    }
    if ((stopped(r) && !ok ? job_stopped(st, r->ctx->job_id, message, err)
                           : job_finish(st, r->ctx->job_id, ok, message, err)) != 0 ||
        st->ops->commit(st, err) != 0) {
        st->ops->rollback(st);
        return -1;
    }
    return 0;
}

static int run_export(struct job_context *ctx, struct cimi_error *err)
{
    struct export_run r = {.ctx = ctx, .paused = json_array()};
    struct cimi_error cause;
    char message[512];
    double start = clock_mono_ms();
    int rc;

    err_clear(&cause);
    r.pkg = json_deep_copy(json_object_get(ctx->params, "package"));
    if (stopped(&r))
        rc = err_set(&cause, 409, NULL, "stopped");
    else if (!r.pkg)
        rc = err_set(&cause, 500, NULL, "the Job has no package description");
    else
        rc = export_package(&r, &cause);
    if (rc == 0) {
        double secs = (clock_mono_ms() - start) / 1000.0;
        snprintf(message, sizeof(message),
                 "exported %zu disks (%.1f MiB virtual) into %.1f MiB in %.1f s (conversion "
                 "%.1f s); %zu running machines paused for the copy (%.1f s)",
                 json_array_size(r.files), r.virtual_bytes / MIB, r.total_bytes / MIB, secs,
                 r.convert_ms / 1000.0, r.paused_count, r.paused_ms / 1000.0);
        log_info("export: %s: %s", ctx->target, message);
    } else {
        snprintf(message, sizeof(message), "%s%s",
                 stopped(&r) ? "stopped: the transfer was ended and the package removed; " : "",
                 cause.message);
        log_warn("export: %s: %s", ctx->target, message);
    }
    if (rc != 0 || r.temp_ova)
        remove_work_files(&r);
    rc = finish(&r, rc == 0, message, err);
    json_decref(r.files);
    json_decref(r.pkg);
    json_decref(r.paused);
    return rc;
}

/* Stopped before it ran: the Package it was to fill goes. */
static void cancel_export(struct job_context *ctx)
{
    const char *package = job_param(ctx, "packageId");
    struct cimi_error err;

    if (package[0] && package_finish(ctx->st, package, false, &err) != 0)
        log_warn("export: %s: %s", package, err.message);
}

const struct job_kind system_export_job = {"system.export", run_export, cancel_export,
                                           .transfer = true, .interruptible = true};
