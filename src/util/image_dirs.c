/*
 * image_dirs.c - the directories image files may be read from (see
 * image_dirs.h): a short fixed list filled at start-up.
 */
#include "util/image_dirs.h"

#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define MAX_IMAGE_DIRS 8

static struct {
    char path[PATH_MAX];
    enum image_dir_kind kind;
} dirs[MAX_IMAGE_DIRS];
static size_t ndirs;
static pthread_mutex_t dirs_lock = PTHREAD_MUTEX_INITIALIZER;

void image_dirs_add(const char *dir, enum image_dir_kind kind)
{
    char real[PATH_MAX];

    if (dir == NULL || realpath(dir, real) == NULL)
        return;
    pthread_mutex_lock(&dirs_lock);
    for (size_t i = 0; i < ndirs; i++)
        if (strcmp(dirs[i].path, real) == 0 && dirs[i].kind == kind)
            goto out;
    if (ndirs < MAX_IMAGE_DIRS) {
        snprintf(dirs[ndirs].path, sizeof(dirs[ndirs].path), "%s", real);
        dirs[ndirs++].kind = kind;
    }
out:
    pthread_mutex_unlock(&dirs_lock);
}

/* Is real inside one of the directories (of kind IMAGES only unless storage_too)? */
static bool inside(const char *real, bool storage_too)
{
    bool found = false;

    pthread_mutex_lock(&dirs_lock);
    for (size_t i = 0; i < ndirs && !found; i++) {
        size_t n = strlen(dirs[i].path);
        found = (storage_too || dirs[i].kind == IMAGE_DIR_IMAGES) &&
                strncmp(real, dirs[i].path, n) == 0 && (real[n] == '/' || real[n] == '\0');
    }
    pthread_mutex_unlock(&dirs_lock);
    return found;
}

bool image_dirs_contain(const char *real)
{
    return inside(real, true);
}

/* Has path a ".." segment? */
static bool climbs(const char *path)
{
    for (const char *p = strstr(path, ".."); p != NULL; p = strstr(p + 1, ".."))
        if ((p == path || p[-1] == '/') && (p[2] == '/' || p[2] == '\0'))
            return true;
    return false;
}

int image_dirs_check_file(const char *location, bool storage_too, struct cimi_error *err)
{
    const char *path = strncmp(location, "file://", 7) == 0 ? location + 7 : location;
    char real[PATH_MAX];
    struct stat st;

    if (path[0] != '/')
        return err_set(err, 400, "imageLocation",
                       "imageLocation: a local file is file:///path or /path (absolute)");
    if (climbs(path))
        return err_set(err, 400, "imageLocation", "imageLocation: '..' is not allowed in a path");
    if (realpath(path, real) == NULL || !inside(real, storage_too))
        return err_set(err, 400, "imageLocation",
                       "imageLocation: no image file at that path in the directories images "
                       "are served from (%s)",
                       storage_too ? "--images-dir and the storage directory" : "--images-dir");
    if (stat(real, &st) != 0 || !S_ISREG(st.st_mode))
        return err_set(err, 400, "imageLocation", "imageLocation: not a regular file");
    return 0;
}
