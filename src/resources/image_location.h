/*
 * image_location.h - what the imageLocation of a new MachineImage or
 * VolumeImage may be (checked at create, before anything is stored):
 *
 *   a resource of this cloud   of the kind the image is made from (a Machine
 *                              for a MachineImage, a Volume for a
 *                              VolumeImage): its path is filled in
 *   an http:// or https:// URL syntactically valid with a host (libcurl's URL
 *                              parser); where it may lead is decided when
 *                              it is fetched (util/destination.h)
 *   a local file               file:///path or /path: a regular file inside
 *                              the image directories (util/image_dirs.h;
 *                              an admin's also inside the storage
 *                              directories, which hold every tenant's data)
 *
 * Anything else (other schemes, relative paths, "..", other resources) is a
 * 400 naming imageLocation.
 */
#ifndef CIMID_IMAGE_LOCATION_H
#define CIMID_IMAGE_LOCATION_H

#include <stddef.h>

#include "cimi/request.h"
#include "util/error.h"

enum image_location_kind { LOCATION_RESOURCE, LOCATION_URL, LOCATION_FILE };

/* Classify location; source_prefix is the collection images are made from
 * ("machines/" or "volumes/").  For LOCATION_RESOURCE, path gets the
 * resource's path (whether it exists is the caller's to check). */
int image_location_check(struct cimi_request *req, const char *location, const char *source_prefix,
                         enum image_location_kind *kind, char *path, size_t len,
                         struct cimi_error *err);

#endif
