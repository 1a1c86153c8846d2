/*
 * package.h - Packages (cimid's OVA files) uploaded from and downloaded to
 * local files, streamed, with a progress bar: the steps of `package
 * upload|download`, `system import` and `system export`.
 */
#ifndef CIMI_CLI_PACKAGE_H
#define CIMI_CLI_PACKAGE_H

#include "cli/cli.h"

/* Upload the local file path (an OVA) as a new Package, named after the
 * file; *url = the Package's href (malloc'd). */
int package_upload(struct cli *cli, const char *path, char **url, struct cli_error *err);

/* The local file a download writes (FILE.part until it is complete). */
struct package_file;

/* Open path.part for writing; NULL with err when it cannot be. */
struct package_file *package_file_open(const char *path, struct cli_error *err);

/* Download the Package at url (AVAILABLE) into file, resuming a broken
 * transfer, checked against the Package's size and sha256. */
int package_download(struct cli *cli, const char *url, struct package_file *file,
                     struct cli_error *err);

/* Close the file: renamed to its final name when rc is 0, else removed;
 * frees it.  Returns rc, or -1 when closing or renaming failed. */
int package_file_close(struct package_file *file, int rc, struct cli_error *err);

#endif
