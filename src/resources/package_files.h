/*
 * package_files.h - internal to the Package code (package.c,
 * package_files.c, package_source.c): where the files are, their digests,
 * the settings.
 */
#ifndef CIMID_PACKAGE_FILES_H
#define CIMID_PACKAGE_FILES_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>

#include "cimi/request.h"
#include "store/store.h"
#include "util/error.h"

#define PACKAGE_SHA256_HEX 65   /* 64 hexadecimal digits and the NUL */

/* The settings package_setup was given (dir "" before). */
const struct package_settings *package_settings(void);
/* The file of Package id ("packages/<uuid>"): "<dir>/<uuid>.ova".  -1 when
 * the id is not a Package id or there is no directory. */
int package_file_path(const char *id, char *path, size_t len);
/* A new file name in the package directory for a temporary file of the
 * given kind ("upload", "import"): "<dir>/<kind>-<uuid>.part". */
int package_temp_path(const char *kind, char *path, size_t len, struct cimi_error *err);
/* Size and SHA-256 (hex) of the file of Package id at path; remembered
 * while the file is unchanged (package_prepare_finish). */
int package_file_digest(const char *id, const char *path, long long *size, char *sha256,
                        struct cimi_error *err);
/* Fill a new Package row of the principal (not stored): id, tenant,
 * created, updated, name (may be NULL), state, format, content. */
int package_new_row(struct cimi_request *req, const char *name, const char *state,
                    struct store_row *row, struct cimi_error *err);

#endif
