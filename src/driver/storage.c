/*
 * storage.c - the files of QEMU machines, managed by cimid itself.
 *
 * qemu:///embed has no libvirt storage driver, so cimid keeps a directory of
 * its own (the host's storage directory):
 *   disks/<uuid>-disk<N>.qcow2   a machine's disks; disk 0 is a copy-on-write
 *                                overlay whose backing file is the image
 *   disks/<uuid>-config.iso      the config drive carrying userData
 *                                (ISO 9660, label "cidata", file cimi/user-data)
 *   disks/<uuid>-console.log     what the guest writes on its serial console
 *   images/<uuid>.qcow2          images captured from machines or copied from volumes,
 *   images/<uuid>.img            and downloaded images (qcow2 or raw), named by the
 *                                uuid of their MachineImage
 *   volumes/<uuid>.qcow2         volumes, attached to machines as extra disks; a
 *                                volume made from an image is an overlay of it
 * Images themselves may live anywhere on the host (a MachineImage's
 * imageLocation is a local file); qcow2 and raw are recognised by content.
 * The work is done by qemu-img and xorriso; overlays on an image by
 * overlay.c.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <gnutls/gnutls.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "driver/local.h"
#include "util/image_dirs.h"
#include "util/spawn.h"

#define QCOW2_MAGIC "QFI\xfb"

int storage_prepare(const char *dir, struct cimi_error *err)
{
    char path[1100];

    snprintf(path, sizeof(path), "%s/disks", dir);
    if (make_dirs(path, err) != 0)
        return -1;
    snprintf(path, sizeof(path), "%s/images", dir);
    if (make_dirs(path, err) != 0)
        return -1;
    snprintf(path, sizeof(path), "%s/volumes", dir);
    if (make_dirs(path, err) != 0)
        return -1;
    image_dirs_add(dir, IMAGE_DIR_STORAGE);
    return 0;
}

void storage_disk_path(const char *dir, const char *uuid, size_t index, char *out, size_t len)
{
    snprintf(out, len, "%s/disks/%s-disk%zu.qcow2", dir, uuid, index);
}

void storage_config_drive_path(const char *dir, const char *uuid, char *out, size_t len)
{
    snprintf(out, len, "%s/disks/%s-config.iso", dir, uuid);
}

void storage_console_path(const char *dir, const char *uuid, char *out, size_t len)
{
    snprintf(out, len, "%s/disks/%s-console.log", dir, uuid);
}

void storage_volume_path(const char *dir, const char *uuid, char *out, size_t len)
{
    snprintf(out, len, "%s/volumes/%s.qcow2", dir, uuid);
}

/* Directories images may be read from: util/image_dirs.h. */
void storage_allow_images_from(const char *dir)
{
    image_dirs_add(dir, IMAGE_DIR_IMAGES);
}

/* Is the file at path inside an image root?  The directory part is resolved
 * (so ".." and symbolic links on the way cannot escape); the file itself may
 * be a symbolic link, which only whoever runs cimid can put there. */
static bool inside_image_roots(const char *path)
{
    char dir[PATH_MAX], real[PATH_MAX];
    const char *slash = strrchr(path, '/');
    const char *base = slash ? slash + 1 : path;

    if (slash == NULL || base[0] == '\0' || strcmp(base, ".") == 0 || strcmp(base, "..") == 0 ||
        (size_t)(slash - path) >= sizeof(dir))
        return false;
    memcpy(dir, path, (size_t)(slash - path));
    dir[slash - path] = '\0';
    if (realpath(dir[0] ? dir : "/", real) == NULL)
        return false;
    return image_dirs_contain(real);
}

int storage_image_file(const char *location, char *path, size_t len, struct cimi_error *err)
{
    const char *p = location;

    if (strncmp(p, "file://", 7) == 0)
        p += 7;
    if (p[0] != '/')
        return err_set(err, 400, "imageLocation",
                       "imageLocation '%s' is not a local file (file:///path or /path)", location);
    if (!inside_image_roots(p))
        return err_set(err, 400, "imageLocation",
                       "imageLocation %s is outside the directories images are served from "
                       "(--images-dir and the storage directory)", p);
    if (access(p, R_OK) != 0)
        return err_set(err, 400, "imageLocation", "imageLocation %s cannot be read: %s", p,
                       strerror(errno));
    snprintf(path, len, "%s", p);
    return 0;
}

/* "qcow2" or "raw", by the file's first bytes; virtual size in bytes. */
static int image_format(const char *path, const char **format, long long *size,
                        struct cimi_error *err)
{
    unsigned char header[32];
    struct stat st;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    ssize_t n;

    if (fd < 0 || fstat(fd, &st) != 0) {
        if (fd >= 0)
            close(fd);
        return err_set(err, 400, "imageLocation", "cannot open image %s: %s", path, strerror(errno));
    }
    n = read(fd, header, sizeof(header));
    close(fd);
    if (n == (ssize_t)sizeof(header) && memcmp(header, QCOW2_MAGIC, 4) == 0) {
        *format = "qcow2";
        *size = 0;
        for (int i = 24; i < 32; i++)  /* big-endian virtual size at offset 24 */
            *size = (*size << 8) | header[i];
        return 0;
    }
    *format = "raw";
    *size = st.st_size;
    return 0;
}

static int run(char *const argv[], const char *what, struct cimi_error *err)
{
    char why[400];

    if (spawn_wait(argv, why, sizeof(why)) != 0)
        return err_set(err, 500, NULL, "%s failed: %s", what, why);
    return 0;
}

static bool file_exists(const char *path)
{
    return access(path, F_OK) == 0;
}

/* A qcow2 overlay on the image, at least as large as asked and as the
 * image (*capacity_kb grows to the image's size if need be). */
static int create_overlay(const char *path, const char *image_location, long long *capacity_kb,
                          struct cimi_error *err)
{
    char image[1024];
    const char *format = "raw";
    long long image_bytes = 0;

    if (storage_image_file(image_location, image, sizeof(image), err) != 0 ||
        image_format(image, &format, &image_bytes, err) != 0)
        return -1;
    if (*capacity_kb < (image_bytes + 1023) / 1024)     /* no multiplication: no overflow */
        *capacity_kb = (image_bytes + 1023) / 1024;
    return overlay_create(path, image, format, *capacity_kb, err);
}

static int create_blank_disk(const char *path, long long capacity_kb, struct cimi_error *err)
{
    char size[32];
    char *argv[] = {"qemu-img", "create", "-q", "-f", "qcow2", (char *)path, size, NULL};

    snprintf(size, sizeof(size), "%lldK", capacity_kb > 0 ? capacity_kb : 1024);
    return run(argv, "creating a disk", err);
}

/* userData is base64 (DSP0263); the guest gets the decoded bytes, or the
 * text as it is when it is not base64. */
static int write_user_data(const char *path, const char *user_data, struct cimi_error *err)
{
    gnutls_datum_t in = {(unsigned char *)user_data, (unsigned int)strlen(user_data)};
    gnutls_datum_t out = {NULL, 0};
    FILE *f = fopen(path, "wb");
    const void *bytes = user_data;
    size_t len = strlen(user_data);
    int failed;

    if (f == NULL)
        return err_set(err, 500, NULL, "cannot write %s: %s", path, strerror(errno));
    if (gnutls_base64_decode2(&in, &out) == 0) {
        bytes = out.data;
        len = out.size;
    }
    failed = fwrite(bytes, 1, len, f) != len;
    failed |= fclose(f) != 0;
    gnutls_free(out.data);
    if (failed)
        return err_set(err, 500, NULL, "cannot write %s", path);
    return 0;
}

static void remove_tree(const char *dir)
{
    char *argv[] = {"rm", "-rf", (char *)dir, NULL};
    char why[64];

    spawn_wait(argv, why, sizeof(why));
}

/* The config drive: ISO 9660 labelled "cidata" holding cimi/user-data. */
static int create_config_drive(const char *dir, const char *uuid, const char *user_data,
                               struct cimi_error *err)
{
    char iso[1100], staging[1100], file[1200];
    int rc;

    storage_config_drive_path(dir, uuid, iso, sizeof(iso));
    if (file_exists(iso))
        return 0;
    snprintf(staging, sizeof(staging), "%s/disks/%s-cidata/cimi", dir, uuid);
    if (make_dirs(staging, err) != 0)
        return -1;
    snprintf(file, sizeof(file), "%s/user-data", staging);
    staging[strlen(staging) - strlen("/cimi")] = '\0';
    rc = write_user_data(file, user_data, err);
    if (rc == 0) {
        char *argv[] = {"xorriso", "-as", "mkisofs", "-quiet", "-V", "cidata", "-J", "-r",
                        "-o", iso, staging, NULL};
        rc = run(argv, "building the config drive", err);
    }
    remove_tree(staging);
    return rc;
}

int storage_create_machine(const char *dir, const struct hv_machine_spec *spec,
                           struct cimi_error *err)
{
    char path[1100];

    for (size_t i = 0; i < spec->ndisks || i == 0; i++) {
        long long capacity = i < spec->ndisks ? spec->disks[i].capacity_kb : 0;
        int slot = i < spec->ndisks ? spec->disks[i].slot : 0;

        storage_disk_path(dir, spec->uuid, (size_t)slot, path, sizeof(path));
        if (file_exists(path))
            continue;
        if (slot == 0 ? create_overlay(path, spec->image_location, &capacity, err) != 0
                   : create_blank_disk(path, capacity, err) != 0) {
            storage_remove_machine(dir, spec->uuid);
            return -1;
        }
    }
    if (spec->user_data != NULL && spec->user_data[0] != '\0' &&
        create_config_drive(dir, spec->uuid, spec->user_data, err) != 0) {
        storage_remove_machine(dir, spec->uuid);
        return -1;
    }
    return 0;
}

/* Give a complete file (partial) its final name (path). */
static int finish_file(const char *partial, const char *path, struct cimi_error *err)
{
    if (rename(partial, path) != 0) {
        unlink(partial);
        return err_set(err, 500, NULL, "cannot name %s: %s", path, strerror(errno));
    }
    return 0;
}

/* Copy a disk (flattening its backing chain) into images/<image_uuid>.qcow2;
 * the image's location into out.  in_use: a (paused) QEMU holds the disk's
 * lock, qemu-img reads it anyway (-U). */
static int copy_to_image(const char *dir, const char *disk, bool in_use, const char *image_uuid,
                         char *out, size_t len, const char *what, struct cimi_error *err)
{
    char image[1100], partial[1200];
    char *argv[] = {"qemu-img", "convert", "-q", "-O", "qcow2", (char *)disk, partial,
                    in_use ? "-U" : NULL, NULL};

    snprintf(image, sizeof(image), "%s/images/%s.qcow2", dir, image_uuid);
    snprintf(partial, sizeof(partial), "%s.partial", image);
    if (run(argv, what, err) != 0) {
        unlink(partial);
        return -1;
    }
    /* Only a complete copy gets the final name. */
    if (finish_file(partial, image, err) != 0)
        return -1;
    snprintf(out, len, "file://%s", image);
    return 0;
}

int storage_capture(const char *dir, const char *uuid, const char *image_uuid, bool in_use,
                    char *out, size_t len, struct cimi_error *err)
{
    char disk[1100];

    storage_disk_path(dir, uuid, 0, disk, sizeof(disk));
    return copy_to_image(dir, disk, in_use, image_uuid, out, len, "copying the machine's disk",
                         err);
}

int storage_create_volume(const char *dir, const char *uuid, long long *capacity_kb,
                          const char *image_location, struct cimi_error *err)
{
    char path[1100], partial[1200];
    const char *format;
    long long bytes;
    int rc;

    storage_volume_path(dir, uuid, path, sizeof(path));
    if (file_exists(path)) {  /* made by an earlier run of the same Job */
        if (image_format(path, &format, &bytes, err) != 0)
            return -1;
        *capacity_kb = bytes / 1024;
        return 0;
    }
    snprintf(partial, sizeof(partial), "%s.partial", path);
    unlink(partial);
    if (image_location[0] != '\0')
        rc = create_overlay(partial, image_location, capacity_kb, err);
    else
        rc = create_blank_disk(partial, *capacity_kb, err);
    if (rc != 0) {
        unlink(partial);
        return -1;
    }
    return finish_file(partial, path, err);
}

int storage_resize_volume(const char *dir, const char *uuid, long long capacity_kb,
                          struct cimi_error *err)
{
    char path[1100], size[32];
    char *argv[] = {"qemu-img", "resize", "-q", "-f", "qcow2", path, size, NULL};

    storage_volume_path(dir, uuid, path, sizeof(path));
    snprintf(size, sizeof(size), "%lldK", capacity_kb);
    return run(argv, "growing the volume", err);
}

int storage_snapshot_volume(const char *dir, const char *uuid, const char *image_uuid, char *out,
                            size_t len, struct cimi_error *err)
{
    char path[1100];

    storage_volume_path(dir, uuid, path, sizeof(path));
    return copy_to_image(dir, path, false, image_uuid, out, len, "copying the volume", err);
}

int storage_remove_volume(const char *dir, const char *uuid, struct cimi_error *err)
{
    char path[1100];

    storage_volume_path(dir, uuid, path, sizeof(path));
    if (unlink(path) != 0 && errno != ENOENT)
        return err_set(err, 500, NULL, "cannot remove %s: %s", path, strerror(errno));
    return 0;
}

int storage_create_disk(const char *dir, const char *uuid, int slot, long long capacity_kb,
                        struct cimi_error *err)
{
    char path[1100], partial[1200];

    storage_disk_path(dir, uuid, (size_t)slot, path, sizeof(path));
    if (file_exists(path))
        return 0;
    snprintf(partial, sizeof(partial), "%s.partial", path);
    if (create_blank_disk(partial, capacity_kb, err) != 0) {
        unlink(partial);
        return -1;
    }
    return finish_file(partial, path, err);
}

int storage_remove_disk(const char *dir, const char *uuid, int slot, struct cimi_error *err)
{
    char path[1100];

    storage_disk_path(dir, uuid, (size_t)slot, path, sizeof(path));
    if (unlink(path) != 0 && errno != ENOENT)
        return err_set(err, 500, NULL, "cannot remove %s: %s", path, strerror(errno));
    return 0;
}

/* Every file a machine can have is named here (no walk of the disks
 * directory, which holds the files of every machine). */
void storage_remove_machine(const char *dir, const char *uuid)
{
    char path[1100];

    for (size_t i = 0; i < HV_MAX_DISKS; i++) {
        storage_disk_path(dir, uuid, i, path, sizeof(path));
        unlink(path);  /* missing is fine */
    }
    storage_config_drive_path(dir, uuid, path, sizeof(path));
    unlink(path);  /* missing is fine */
    storage_console_path(dir, uuid, path, sizeof(path));
    unlink(path);  /* missing is fine */
    /* The config drive's staging directory, left by a crash while it was built. */
    snprintf(path, sizeof(path), "%s/disks/%s-cidata", dir, uuid);
    if (access(path, F_OK) == 0)
        remove_tree(path);
}

/* ---- images cimid makes from what it downloads ---- */

#define SECTOR_BYTES 512

/* The file names of image <uuid>: qcow2, raw, and the one being written. */
static void image_paths(const char *dir, const char *uuid, char *qcow2, char *raw, char *partial,
                        size_t len)
{
    snprintf(qcow2, len, "%s/images/%s.qcow2", dir, uuid);
    snprintf(raw, len, "%s/images/%s.img", dir, uuid);
    snprintf(partial, len, "%s/images/%s.download", dir, uuid);
}

/* A file machines may boot from: qcow2 standing alone (no backing file, no
 * external data file, not encrypted) or raw (whole sectors).  QEMU probes
 * the format here only; disks name it explicitly. */
static int check_new_image(const char *path, const char **format, struct cimi_error *err)
{
    char out[8192];
    char *argv[] = {"qemu-img", "info", "--output=json", (char *)path, NULL};
    json_t *info, *specific;
    const char *fmt;
    struct stat st;
    long long size;
    int rc = 0;

    /* Raw sizes come from the file: qemu-img rounds them up to sectors. */
    if (stat(path, &st) != 0)
        return err_set(err, 500, NULL, "cannot read %s: %s", path, strerror(errno));
    size = st.st_size;
    if (spawn_output(argv, out, sizeof(out)) != 0)
        return err_set(err, 400, "imageLocation", "not a disk image (qemu-img info: %s)", out);
    info = json_loads(out, 0, NULL);
    fmt = json_string_value(json_object_get(info, "format"));
    specific = json_object_get(json_object_get(info, "format-specific"), "data");
    if (fmt == NULL)
        rc = err_set(err, 500, NULL, "qemu-img info gave no format for the image");
    else if (strcmp(fmt, "qcow2") != 0 && strcmp(fmt, "raw") != 0)
        rc = err_set(err, 400, "imageLocation", "the image is %s; only qcow2 and raw are supported",
                     fmt);
    else if (json_object_get(info, "backing-filename") != NULL ||
             json_object_get(specific, "data-file") != NULL)
        rc = err_set(err, 400, "imageLocation",
                     "the qcow2 image refers to another file (backing or data file); only "
                     "standalone images are accepted");
    else if (json_is_true(json_object_get(info, "encrypted")))
        rc = err_set(err, 400, "imageLocation", "the image is encrypted");
    else if (strcmp(fmt, "raw") == 0 && (size <= 0 || size % SECTOR_BYTES != 0))
        rc = err_set(err, 400, "imageLocation",
                     "not a disk image: %lld bytes of unrecognised content (a raw image is a "
                     "non-empty whole number of 512-byte sectors)", size);
    else
        *format = strcmp(fmt, "qcow2") == 0 ? "qcow2" : "raw";
    json_decref(info);
    return rc;
}

int storage_import_image(const char *dir, const char *uuid, hv_image_fill_fn fill, void *arg,
                         char *out, size_t len, struct cimi_error *err)
{
    char qcow2[1100], raw[1100], partial[1100];
    const char *format = NULL, *final;

    image_paths(dir, uuid, qcow2, raw, partial, sizeof(qcow2));
    /* Made by an earlier run of the same Job. */
    if (file_exists(qcow2) || file_exists(raw)) {
        snprintf(out, len, "file://%s", file_exists(qcow2) ? qcow2 : raw);
        return 0;
    }
    unlink(partial);
    if (fill(partial, arg, err) != 0 || check_new_image(partial, &format, err) != 0) {
        unlink(partial);
        return -1;
    }
    final = strcmp(format, "qcow2") == 0 ? qcow2 : raw;
    if (finish_file(partial, final, err) != 0)
        return -1;
    snprintf(out, len, "file://%s", final);
    return 0;
}

int storage_remove_image(const char *dir, const char *uuid, struct cimi_error *err)
{
    char paths[4][1100];

    image_paths(dir, uuid, paths[0], paths[1], paths[2], sizeof(paths[0]));
    snprintf(paths[3], sizeof(paths[3]), "%s.partial", paths[0]);  /* an unfinished capture */
    for (size_t i = 0; i < 4; i++)
        if (unlink(paths[i]) != 0 && errno != ENOENT)
            return err_set(err, 500, NULL, "cannot remove %s: %s", paths[i], strerror(errno));
    return 0;
}
