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
 *   images/<uuid>.qcow2          images captured from machines
 * Images themselves may live anywhere on the host (a MachineImage's
 * imageLocation is a local file); qcow2 and raw are recognised by content.
 * The work is done by qemu-img and xorriso.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <gnutls/gnutls.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "driver/local.h"
#include "util/spawn.h"

#define QCOW2_MAGIC "QFI\xfb"

int storage_prepare(const char *dir, struct cimi_error *err)
{
    char path[1100];

    snprintf(path, sizeof(path), "%s/disks", dir);
    if (make_dirs(path, err) != 0)
        return -1;
    snprintf(path, sizeof(path), "%s/images", dir);
    return make_dirs(path, err);
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

int storage_image_file(const char *location, char *path, size_t len, struct cimi_error *err)
{
    const char *p = location;

    if (strncmp(p, "file://", 7) == 0)
        p += 7;
    if (p[0] != '/')
        return err_set(err, 400, "imageLocation",
                       "imageLocation '%s' is not a local file (file:///path or /path)", location);
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

/* Disk 0: a qcow2 overlay on the image, at least as large as asked. */
static int create_boot_disk(const char *path, const char *image_location, long long capacity_kb,
                            struct cimi_error *err)
{
    char image[1024], size[32];
    const char *format = "raw";
    long long image_bytes = 0;

    if (storage_image_file(image_location, image, sizeof(image), err) != 0 ||
        image_format(image, &format, &image_bytes, err) != 0)
        return -1;
    if (capacity_kb * 1024 < image_bytes)
        capacity_kb = (image_bytes + 1023) / 1024;
    snprintf(size, sizeof(size), "%lldK", capacity_kb);
    {
        char *argv[] = {"qemu-img", "create", "-q", "-f", "qcow2", "-F", (char *)format, "-b",
                        image, (char *)path, size, NULL};
        return run(argv, "creating the machine's disk", err);
    }
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

        storage_disk_path(dir, spec->uuid, i, path, sizeof(path));
        if (file_exists(path))
            continue;
        if (i == 0 ? create_boot_disk(path, spec->image_location, capacity, err) != 0
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

int storage_capture(const char *dir, const char *uuid, const char *image_uuid, char *out,
                    size_t len, struct cimi_error *err)
{
    char disk[1100], image[1100], partial[1200];
    char *argv[] = {"qemu-img", "convert", "-q", "-O", "qcow2", disk, partial, NULL};

    storage_disk_path(dir, uuid, 0, disk, sizeof(disk));
    snprintf(image, sizeof(image), "%s/images/%s.qcow2", dir, image_uuid);
    snprintf(partial, sizeof(partial), "%s.partial", image);
    if (run(argv, "copying the machine's disk", err) != 0) {
        unlink(partial);
        return -1;
    }
    /* Only a complete copy gets the final name. */
    if (rename(partial, image) != 0) {
        unlink(partial);
        return err_set(err, 500, NULL, "cannot name the image %s: %s", image, strerror(errno));
    }
    snprintf(out, len, "file://%s", image);
    return 0;
}

void storage_remove_machine(const char *dir, const char *uuid)
{
    char disks[1100], path[1400];
    size_t prefix = strlen(uuid);
    struct dirent *e;
    DIR *d;

    snprintf(disks, sizeof(disks), "%s/disks", dir);
    d = opendir(disks);
    if (d == NULL)
        return;
    while ((e = readdir(d)) != NULL) {
        if (strncmp(e->d_name, uuid, prefix) != 0 || e->d_name[prefix] != '-')
            continue;
        snprintf(path, sizeof(path), "%s/%s", disks, e->d_name);
        if (unlink(path) != 0 && errno == EISDIR)
            remove_tree(path);
    }
    closedir(d);
}
