/*
 * disk_export.c - disks of the host converted for an OVF export
 * (../shared/spec/ovf.md §5): qemu-img through util/spawn.c.
 *
 *   vmdk   qemu-img convert -f qcow2 -O vmdk
 *            -o subformat=streamOptimized,adapter_type=lsilogic,hwversion=13
 *          (header version 3, deflated grains: what ESXi, VirtualBox and
 *          cimid's own import read)
 *   qcow2  qemu-img convert -f qcow2 -O qcow2 -o compat=1.1 (profile kvm)
 *
 * The source is read with its backing chain (a machine's disk 0 is an
 * overlay on its image), so the export stands alone.  ovf:capacity comes
 * from `qemu-img info`, ovf:populatedSize from the data extents of
 * `qemu-img map` (left out when the map is too large to read).
 */
#include "driver/disk_export.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "driver/local.h"
#include "util/spawn.h"

#define INFO_MAX (64 * 1024)
#define MAP_MAX (4 * 1024 * 1024)

int disk_export_source(struct hv *hv, const char *machine_uuid, int slot, const char *volume_uuid,
                       char *path, size_t len, struct cimi_error *err)
{
    if (hv->is_test || hv->storage_dir[0] == '\0')
        return err_set(err, 404, NULL, "this hypervisor keeps no disk files");
    if (volume_uuid)
        storage_volume_path(hv->storage_dir, volume_uuid, path, len);
    else
        storage_disk_path(hv->storage_dir, machine_uuid, (size_t)slot, path, len);
    if (access(path, R_OK) != 0)
        return err_set(err, 404, NULL, "disk file %s: %s", path, strerror(errno));
    return 0;
}

int disk_export_image(const char *location, char *path, size_t len, const char **format,
                      struct cimi_error *err)
{
    unsigned char magic[4];
    struct cimi_error why;
    ssize_t n;
    int fd;

    if (storage_image_file(location, path, len, &why) != 0)
        return err_set(err, 404, NULL, "%s", why.message);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return err_set(err, 404, NULL, "image %s: %s", path, strerror(errno));
    n = read(fd, magic, sizeof(magic));
    close(fd);
    *format = n == (ssize_t)sizeof(magic) && memcmp(magic, "QFI\xfb", 4) == 0 ? "qcow2" : "raw";
    return 0;
}

/* Run qemu-img with its output (stdout and stderr) in a buffer of max
 * bytes; the parsed JSON, or NULL with err. */
static json_t *qemu_img_json(char *const argv[], size_t max, const char *what,
                             struct cimi_error *err)
{
    char *out = malloc(max);
    json_t *doc = NULL;

    if (!out) {
        err_set(err, 500, NULL, "out of memory");
        return NULL;
    }
    if (spawn_output(argv, out, max) != 0)
        err_set(err, 500, NULL, "qemu-img %s failed: %.300s", what, out);
    else if (strlen(out) + 1 < max && !(doc = json_loads(out, 0, NULL)))
        err_set(err, 500, NULL, "qemu-img %s gave no JSON", what);
    else if (!doc)
        err_set(err, 500, NULL, "qemu-img %s: output too large", what);
    free(out);
    return doc;
}

static int virtual_size(const char *src, const char *format, bool shared, long long *size,
                        struct cimi_error *err)
{
    char *argv[] = {"qemu-img", "info", "--output=json", "-f", (char *)format, (char *)src,
                    shared ? "-U" : NULL, NULL};
    json_t *info = qemu_img_json(argv, INFO_MAX, "info", err);

    if (!info)
        return -1;
    *size = json_integer_value(json_object_get(info, "virtual-size"));
    json_decref(info);
    return *size > 0 ? 0 : err_set(err, 500, NULL, "qemu-img info gave no virtual size");
}

/* Bytes of the extents holding data; -1 when qemu-img cannot say. */
static long long populated_size(const char *src, const char *format, bool shared)
{
    char *argv[] = {"qemu-img", "map", "--output=json", "-f", (char *)format, (char *)src,
                    shared ? "-U" : NULL, NULL};
    struct cimi_error ignored;
    json_t *map = qemu_img_json(argv, MAP_MAX, "map", &ignored), *extent;
    long long sum = 0;
    size_t i;

    if (!map)
        return -1;
    json_array_foreach(map, i, extent)
        if (json_is_true(json_object_get(extent, "data")))
            sum += json_integer_value(json_object_get(extent, "length"));
    json_decref(map);
    return sum;
}

int disk_export_convert(const char *src, const char *src_format, const char *dst, bool qcow2,
                        bool shared, struct disk_export_result *out, struct cimi_error *err)
{
    char *argv[16], why[400];
    struct stat st;
    int n = 0;

    argv[n++] = "qemu-img";
    argv[n++] = "convert";
    if (shared)
        argv[n++] = "-U";
    argv[n++] = "-f";
    argv[n++] = (char *)src_format;
    argv[n++] = "-O";
    argv[n++] = qcow2 ? "qcow2" : "vmdk";
    argv[n++] = "-o";
    argv[n++] = qcow2 ? "compat=1.1"
                      : "subformat=streamOptimized,adapter_type=lsilogic,hwversion=13";
    argv[n++] = (char *)src;
    argv[n++] = (char *)dst;
    argv[n] = NULL;
    if (virtual_size(src, src_format, shared, &out->capacity, err) != 0)
        return -1;
    if (spawn_wait(argv, why, sizeof(why)) != 0) {
        unlink(dst);
        return err_set(err, 500, NULL, "converting a disk failed: %s", why);
    }
    if (stat(dst, &st) != 0) {
        unlink(dst);
        return err_set(err, 500, NULL, "converted disk %s: %s", dst, strerror(errno));
    }
    out->size = st.st_size;
    out->populated = populated_size(src, src_format, shared);
    return 0;
}
