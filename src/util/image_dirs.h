/*
 * image_dirs.h - the directories image files may be read from.
 *
 * A consumer must not be able to back a disk with an arbitrary host file
 * (/etc/shadow) and read it from a guest.  Image files are read only from
 * the images directories (--images-dir) and the hosts' storage directories
 * (captured, copied and downloaded images, volumes); the driver registers
 * them as it opens its hosts.
 */
#ifndef CIMID_IMAGE_DIRS_H
#define CIMID_IMAGE_DIRS_H

#include <stdbool.h>
#include <stddef.h>

#include "util/error.h"

enum image_dir_kind {
    IMAGE_DIR_IMAGES,   /* --images-dir: images offered to everyone */
    IMAGE_DIR_STORAGE,  /* a storage directory: every tenant's disks and images */
};

/* Allow image files under dir (resolved now; ignored if it does not exist). */
void image_dirs_add(const char *dir, enum image_dir_kind kind);

/* Is the resolved directory real one of the directories, or inside one? */
bool image_dirs_contain(const char *real);

/* The imageLocation of a new image, "file:///path" or "/path": it must
 * have no ".." segment and resolve (symbolic links followed) to a regular
 * file inside an images directory, or also a storage directory when
 * storage_too.  0, or -1 with err 400 naming imageLocation. */
int image_dirs_check_file(const char *location, bool storage_too, struct cimi_error *err);

#endif
