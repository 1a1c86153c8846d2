/*
 * image_location.c - checking the imageLocation of a new MachineImage or
 * VolumeImage (see image_location.h).
 */
#include "resources/image_location.h"

#include <ctype.h>
#include <stdbool.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>

#include "resources/resource.h"
#include "util/image_dirs.h"

#define UNSUPPORTED                                                                              \
    "imageLocation must be an http:// or https:// URL, a local file (file:///path or /path) in " \
    "the image directories, or the id of a %s of this cloud"

/* Does location start with a URI scheme ("x:", RFC 3986)? Its length, or 0. */
static size_t scheme_length(const char *location)
{
    size_t n = 0;

    if (!isalpha((unsigned char)location[0]))
        return 0;
    while (isalnum((unsigned char)location[n]) ||
           (location[n] != '\0' && strchr("+-.", location[n]) != NULL))
        n++;
    return location[n] == ':' ? n : 0;
}

/* An http(s) URL libcurl parses, with a host after "scheme://" (libcurl
 * itself is lenient: it reads "http:///x" as host x). */
static bool valid_url(const char *location, size_t scheme)
{
    const char *authority = location + scheme + 3;
    CURLU *u;
    char *host = NULL;
    bool ok;

    if (strncmp(location + scheme, "://", 3) != 0 || authority[0] == '/' || authority[0] == '\0')
        return false;
    u = curl_url();
    ok = u != NULL && curl_url_set(u, CURLUPART_URL, location, 0) == CURLUE_OK &&
         curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK && host != NULL && host[0] != '\0';
    curl_free(host);
    curl_url_cleanup(u);
    return ok;
}

static bool has_control_characters(const char *s)
{
    for (; *s != '\0'; s++)
        if ((unsigned char)*s < ' ' || *s == 0x7f)
            return true;
    return false;
}

/* Does location name a resource under source_prefix? Fills path if so. */
static bool names_source(struct cimi_request *req, const char *location, const char *source_prefix,
                         char *path, size_t len)
{
    struct cimi_error ignored;

    if (resource_href_path(req, location, "imageLocation", path, len, &ignored) != 0)
        return false;
    return strncmp(path, source_prefix, strlen(source_prefix)) == 0;
}

int image_location_check(struct cimi_request *req, const char *location, const char *source_prefix,
                         enum image_location_kind *kind, char *path, size_t len,
                         struct cimi_error *err)
{
    const char *source = strcmp(source_prefix, "volumes/") == 0 ? "Volume" : "Machine";
    size_t scheme = scheme_length(location);

    if (location[0] == '\0' || has_control_characters(location))
        return err_set(err, 400, "imageLocation", UNSUPPORTED, source);
    *kind = LOCATION_RESOURCE;
    if (names_source(req, location, source_prefix, path, len))
        return 0;
    if (strncasecmp(location, req->base_uri, strlen(req->base_uri)) == 0)
        return err_set(err, 400, "imageLocation", "imageLocation names no %s of this cloud",
                       source);
    *kind = LOCATION_URL;
    if ((scheme == 4 && strncasecmp(location, "http", 4) == 0) ||
        (scheme == 5 && strncasecmp(location, "https", 5) == 0))
        return valid_url(location, scheme) ? 0
                                   : err_set(err, 400, "imageLocation",
                                             "imageLocation is not a valid http(s) URL with a host");
    *kind = LOCATION_FILE;
    if ((scheme == 4 && strncmp(location, "file://", 7) == 0) || (scheme == 0 && location[0] == '/'))
        return image_dirs_check_file(location, req->who.admin, err);
    return err_set(err, 400, "imageLocation", UNSUPPORTED, source);
}
