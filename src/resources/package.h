/*
 * package.h - Packages: the OVA files cimid keeps (cimid's extension
 * resource "Package", collection "packages", namespace CIMID_NS).
 *
 * A Package is uploaded (POST of the bytes to the collection: http/upload.c),
 * or made by an export Job (package_begin, then package_finish); an import
 * reads one (package_source_check / package_source_fetch, which also take
 * allowed local files and http(s) URLs).  Its bytes are served at
 * packages/{uuid}/content (http/content.c).  The files live in the
 * directory "packages" beside the database, named "<uuid>.ova" after the
 * row's id, never after anything a client sent.
 */
#ifndef CIMID_PACKAGE_H
#define CIMID_PACKAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cimi/request.h"
#include "store/store.h"
#include "util/error.h"

#define PACKAGE_FORMAT_OVF "application/ovf"

struct resource_ops;
struct job_kind;
extern const struct resource_ops package_ops;
extern const struct job_kind package_delete_job;

/* In a request's transaction: a new CREATING Package of the principal's tenant (name, origin
 * href or NULL); path gets the file the producing Job writes.  413 when the tenant has no
 * package quota left. */
int package_begin(struct cimi_request *req, const char *name, const char *origin,
                  struct store_row *row, char *path, size_t path_len, struct cimi_error *err);
/* In a Job's transaction: the file at path is complete (size, sha256 computed here) -> AVAILABLE,
 * or failed -> the row and file removed. */
int package_finish(struct store *st, const char *id, bool ok, struct cimi_error *err);
/* Optional, before that transaction: hash the finished file of Package id now, so that
 * package_finish (which reuses the result while the file is unchanged) holds the store's
 * writer lock only briefly.  0, or -1 with err. */
int package_prepare_finish(const char *id, struct cimi_error *err);

/* An import Action's `source`, checked in the request: the href of a Package the principal may
 * read (AVAILABLE), an absolute path / file:// URL inside an --import-dir directory, or an
 * http(s) URL (the download policy of util/destination.c applies when fetched). Fills src. */
struct import_source { char kind[8]; /* "package", "file", "url" */ char where[1024]; };
int package_source_check(struct cimi_request *req, const char *source, struct import_source *src,
                         struct cimi_error *err);
/* In a Job (transfer worker): a local file to read: the package's or the allowed file itself,
 * or the URL downloaded into a temporary file under the package directory (*temp = true: the
 * caller unlinks it). Progress through job_progress. */
int package_source_fetch(struct store *st, const char *job_id, const struct import_source *src,
                         char *path, size_t path_len, bool *temp, struct cimi_error *err);

/* ---- set-up (main.c) ---- */

struct package_settings {
    const char *dir;             /* where the files live (created if missing) */
    long long max_upload;        /* bytes one upload may have (--max-upload) */
    long long quota;             /* bytes of Packages per tenant (--package-quota) */
    const char *import_dirs;     /* --import-dir directories, '\n'-separated, or "" */
    long long max_download;      /* bytes an http(s) source may have (--max-image-size) */
};
/* Start-up: remember the settings, create the directory, and remove what a
 * crash left there: partial uploads and temporary files, and files no
 * Package row names.  -1 with err when the directory cannot be made. */
int package_setup(struct store *st, const struct package_settings *s, struct cimi_error *err);
/* Is dir (resolved) one of the --import-dir directories or inside one? */
bool package_import_dir_contains(const char *real);

/* ---- for the HTTP layer: uploads (http/upload.c) and content (http/content.c) ---- */

/* The most one upload may have, and may the principal's tenant still store
 * bytes more (413 otherwise)?  bytes = -1 when not known yet. */
long long package_max_upload(void);
int package_quota_check(struct cimi_request *req, long long bytes, struct cimi_error *err);
/* The bytes the principal's tenant may still store (0 when over). */
int package_quota_left(struct cimi_request *req, long long *left, struct cimi_error *err);
/* A new temporary file for an upload in the package directory: its path
 * (for package_upload_store or unlink) and an open descriptor.  -1 with err. */
int package_upload_temp(char *path, size_t path_len, int *fd, struct cimi_error *err);
/* The upload in the temporary file at temp (size bytes, sha256 hex) becomes
 * a new AVAILABLE Package of the principal (name may be NULL), in one
 * transaction (quota checked again there); row gets it.  The temporary file
 * is moved or removed in every case. */
int package_upload_store(struct cimi_request *req, const char *temp, long long size,
                         const char *sha256, const char *name, struct store_row *row,
                         struct cimi_error *err);
/* The content of the Package at path (a "packages/{uuid}/content" request's
 * "packages/{uuid}"), for the principal: an open descriptor, its size and
 * the ETag (quoted).  404 for what the principal may not see, 409 while it
 * is not AVAILABLE. */
int package_open_content(struct cimi_request *req, const char *path, int *fd, long long *size,
                         char *etag, size_t etag_len, struct cimi_error *err);

#endif
