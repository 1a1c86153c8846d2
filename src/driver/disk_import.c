/*
 * disk_import.c - a disk of an OVF package into a standalone qcow2 image.
 *
 * The format comes from the bytes, never from ovf:format (oVirt labels raw
 * disks "#sparse", some ship monolithicSparse labelled streamOptimized):
 * KDMV vmdk, QFI\xfb qcow2, "conectix" vpc footer, "vhdxfile", CD001 ISO,
 * else raw.  A text vmdk descriptor is refused: its extents may name any
 * file of the host.  qemu-img always gets -f (no probing of untrusted
 * bytes) and reads the disk straight out of the OVA through a raw node
 * with offset and size, as virt-v2v does:
 *   json:{"driver":FMT,"file":{"driver":"raw","offset":O,"size":S,
 *         "file":{"driver":"file","filename":OVA}}}
 * `qemu-img info` must show no backing file, no qcow2 data-file, and vmdk
 * extents that are the disk itself.  gzip members (ovf:compression) are
 * inflated (zlib) into a temporary file beside the output first.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>
#include <zlib.h>

#include "driver/disk_convert.h"
#include "util/spawn.h"
#include "util/fileio.h"

#define INFO_MAX (256 * 1024)

/* The format from the first bytes, the ISO marker and the vpc footer. */
static int sniff(const struct disk_source *src, struct disk_probe *probe, struct cimi_error *err)
{
    char head[512] = {0}, iso[5] = {0}, tail[512] = {0};
    int fd = open(src->file, O_RDONLY | O_CLOEXEC);

    if (fd < 0)
        return err_set(err, 500, NULL, "cannot open %s: %s", src->file, strerror(errno));
    size_t n = src->size < sizeof(head) ? (size_t)src->size : sizeof(head);
    int rc = read_full_at(fd, head, n, src->offset);
    if (rc == 0 && src->size >= 0x8001 + 5)
        rc = read_full_at(fd, iso, 5, src->offset + 0x8001);
    if (rc == 0 && src->size >= 512)
        rc = read_full_at(fd, tail, 512, src->offset + src->size - 512);
    close(fd);
    if (rc < 0)
        return err_set(err, 400, "source", "disk '%s' is shorter than the package says",
                       src->name);
    if (src->size == 0)
        return err_set(err, 400, "source", "disk '%s' is empty", src->name);
    memset(probe, 0, sizeof(*probe));
    if (memcmp(head, "KDMV", 4) == 0)
        snprintf(probe->format, sizeof(probe->format), "vmdk");
    else if (memcmp(head, "# Disk DescriptorFile", 21) == 0 || memmem(head, n, "createType", 10))
        return err_set(err, 400, "source",
                       "disk '%s' is a text vmdk descriptor (its extents could name any file); "
                       "only self-contained disks are imported", src->name);
    else if (memcmp(head, "QFI\xfb", 4) == 0)
        snprintf(probe->format, sizeof(probe->format), "qcow2");
    else if (memcmp(head, "vhdxfile", 8) == 0)
        snprintf(probe->format, sizeof(probe->format), "vhdx");
    else if (memcmp(tail, "conectix", 8) == 0 || memcmp(head, "conectix", 8) == 0)
        snprintf(probe->format, sizeof(probe->format), "vpc");
    else {
        snprintf(probe->format, sizeof(probe->format), "raw");
        probe->iso = memcmp(iso, "CD001", 5) == 0;
    }
    return 0;
}

/* The size qemu reads: whole sectors inside a padded tar member. */
static uint64_t node_size(const struct disk_source *src)
{
    return src->padded ? (src->size + 511) & ~(uint64_t)511 : src->size;
}

/* A disk that is a whole file of its own (a descriptor's file, an inflated
 * gzip member): read directly, without a raw window (whose size must be
 * whole sectors). */
static bool whole_file(const struct disk_source *src)
{
    return !src->padded && src->offset == 0;
}

/* The json: pseudo-filename of the disk (FMT over raw over file, or FMT
 * over file for a whole file). */
static char *json_filename(const struct disk_source *src, const char *format)
{
    json_t *spec = whole_file(src)
                       ? json_pack("{s:s, s:{s:s, s:s}}", "driver", format, "file", "driver",
                                   "file", "filename", src->file)
                       : json_pack("{s:s, s:{s:s, s:I, s:I, s:{s:s, s:s}}}", "driver", format,
                                   "file", "driver", "raw", "offset", (json_int_t)src->offset,
                                   "size", (json_int_t)node_size(src), "file", "driver", "file",
                                   "filename", src->file);
    char *body = json_dumps(spec, JSON_COMPACT);
    json_decref(spec);
    char *out = NULL;
    if (body && asprintf(&out, "json:%s", body) < 0)
        out = NULL;
    free(body);
    return out;
}

/* A vmdk extent is the disk itself: the raw node at our offset of our file. */
static bool extent_is_self(const json_t *extent, const struct disk_source *src)
{
    const char *name = json_string_value(json_object_get(extent, "filename"));
    if (name && whole_file(src))
        return strcmp(name, src->file) == 0;
    if (!name || strncmp(name, "json:", 5) != 0)
        return false;
    json_t *node = json_loads(name + 5, 0, NULL);
    json_t *file = json_object_get(node, "file");
    bool self = node && json_integer_value(json_object_get(node, "offset")) ==
                            (json_int_t)src->offset &&
                json_string_value(json_object_get(file, "filename")) &&
                strcmp(json_string_value(json_object_get(file, "filename")), src->file) == 0;
    json_decref(node);
    return self;
}

static int check_info(const struct disk_source *src, const char *info_text,
                      struct disk_probe *probe, struct cimi_error *err)
{
    json_t *info = json_loads(info_text, 0, NULL);
    json_t *data = json_object_get(json_object_get(info, "format-specific"), "data");
    int rc = 0;

    if (!info || !json_is_integer(json_object_get(info, "virtual-size")))
        rc = err_set(err, 400, "source", "disk '%s' is not a %s image qemu-img reads",
                     src->name, probe->format);
    else if (json_object_get(info, "backing-filename") || json_object_get(info, "full-backing-filename"))
        rc = err_set(err, 400, "source", "disk '%s' has a backing file; only standalone disks "
                     "are imported", src->name);
    else if (json_object_get(data, "data-file"))
        rc = err_set(err, 400, "source", "disk '%s' has an external data file", src->name);
    else if (json_is_true(json_object_get(info, "encrypted")))
        rc = err_set(err, 400, "source", "disk '%s' is encrypted", src->name);
    else if (strcmp(probe->format, "vmdk") == 0) {
        size_t i;
        json_t *extent;
        json_t *extents = json_object_get(data, "extents");
        if (json_array_size(extents) != 1)
            rc = err_set(err, 400, "source", "vmdk disk '%s' has %zu extents; only "
                         "self-contained vmdk disks are imported", src->name,
                         json_array_size(extents));
        json_array_foreach(extents, i, extent)
            if (rc == 0 && !extent_is_self(extent, src))
                rc = err_set(err, 400, "source", "vmdk disk '%s' names another file as an "
                             "extent", src->name);
    }
    if (rc == 0)
        probe->virtual_size = (uint64_t)json_integer_value(json_object_get(info, "virtual-size"));
    json_decref(info);
    return rc;
}

int disk_import_probe(const struct disk_source *src, struct disk_probe *probe,
                      struct cimi_error *err)
{
    if (sniff(src, probe, err) < 0)
        return -1;
    char *name = json_filename(src, probe->format);
    char *out = malloc(INFO_MAX);
    int rc = 0;
    if (!name || !out)
        rc = err_set(err, 500, NULL, "out of memory");
    else {
        char *argv[] = {"qemu-img", "info", "--output=json", "-f", probe->format, name, NULL};
        if (spawn_output(argv, out, INFO_MAX) != 0)
            rc = err_set(err, 400, "source", "disk '%s' is not a valid %s image (%.300s)",
                         src->name, probe->format, out);
        else
            rc = check_info(src, out, probe, err);
    }
    free(name);
    free(out);
    return rc;
}

/* Inflate the gzip member into path (at most max bytes). */
static int gunzip_to(const struct disk_source *src, const char *path, uint64_t max,
                     uint64_t *written, struct cimi_error *err)
{
    enum { CHUNK = 1 << 18 };
    int in = open(src->file, O_RDONLY | O_CLOEXEC);
    int out = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    unsigned char *ibuf = malloc(CHUNK), *obuf = malloc(CHUNK);
    z_stream z;
    uint64_t done = 0;
    int rc = 0, zrc = Z_OK;

    memset(&z, 0, sizeof(z));
    *written = 0;
    if (in < 0 || out < 0 || !ibuf || !obuf || inflateInit2(&z, 16 + MAX_WBITS) != Z_OK)
        rc = err_set(err, 500, NULL, "cannot inflate '%s': %s", src->name, strerror(errno));
    while (rc == 0 && zrc != Z_STREAM_END) {
        if (z.avail_in == 0) {
            if (done >= src->size) {
                rc = err_set(err, 400, "source", "gzip disk '%s' is truncated", src->name);
                break;
            }
            size_t want = src->size - done < CHUNK ? (size_t)(src->size - done) : CHUNK;
            if (read_full_at(in, ibuf, want, src->offset + done) < 0) {
                rc = err_set(err, 400, "source", "cannot read disk '%s'", src->name);
                break;
            }
            done += want;
            z.next_in = ibuf;
            z.avail_in = (uInt)want;
        }
        z.next_out = obuf;
        z.avail_out = CHUNK;
        zrc = inflate(&z, Z_NO_FLUSH);
        if (zrc != Z_OK && zrc != Z_STREAM_END) {
            rc = err_set(err, 400, "source", "disk '%s' is not valid gzip data", src->name);
            break;
        }
        size_t have = CHUNK - z.avail_out;
        *written += have;
        if (*written > max)
            rc = err_set(err, 400, "source", "disk '%s' inflates to more than %" PRIu64 " bytes",
                         src->name, max);
        else if (have && write(out, obuf, have) != (ssize_t)have)
            rc = err_set(err, 500, NULL, "cannot write %s: %s", path, strerror(errno));
    }
    inflateEnd(&z);
    free(ibuf);
    free(obuf);
    if (in >= 0)
        close(in);
    if (out >= 0 && close(out) != 0 && rc == 0)
        rc = err_set(err, 500, NULL, "cannot write %s: %s", path, strerror(errno));
    return rc;
}

static int convert(const struct disk_source *src, const struct disk_probe *probe,
                   const char *out, struct cimi_error *err)
{
    char *name = json_filename(src, probe->format);
    char why[512];
    int rc = 0;

    if (!name)
        return err_set(err, 500, NULL, "out of memory");
    char *argv[] = {"qemu-img", "convert", "-q", "-W", "-f", (char *)probe->format, "-O",
                    "qcow2", "-o", "compat=1.1", name, (char *)out, NULL};
    if (spawn_wait(argv, why, sizeof(why)) != 0)
        rc = err_set(err, 400, "source", "converting disk '%s' failed: %s", src->name, why);
    free(name);
    return rc;
}

/* Grow out to capacity when the disk is smaller than its Disk says. */
static int fit_capacity(const char *out, uint64_t virtual_size, uint64_t capacity,
                        struct cimi_error *err)
{
    char size[32], why[512];

    if (capacity == 0 || virtual_size + 512 >= capacity)
        return 0; /* equal, or larger: kept as it is */
    snprintf(size, sizeof(size), "%" PRIu64, (capacity + 511) & ~(uint64_t)511);
    char *argv[] = {"qemu-img", "resize", "-q", "-f", "qcow2", (char *)out, size, NULL};
    if (spawn_wait(argv, why, sizeof(why)) != 0)
        return err_set(err, 500, NULL, "resizing the imported disk failed: %s", why);
    return 0;
}

int disk_import_convert(const struct disk_source *src, uint64_t capacity, uint64_t max_bytes,
                        const char *out, struct cimi_error *err)
{
    struct disk_source plain = *src;
    struct disk_probe probe;
    char temp[4200] = "";
    uint64_t inflated;
    int rc = 0;

    if (src->gzip) {
        snprintf(temp, sizeof(temp), "%s.gunzip", out);
        rc = gunzip_to(src, temp, max_bytes, &inflated, err);
        plain.file = temp;
        plain.offset = 0;
        plain.size = inflated;
        plain.padded = false;
        plain.gzip = false;
    }
    if (rc == 0)
        rc = disk_import_probe(&plain, &probe, err);
    if (rc == 0 && probe.virtual_size > max_bytes)
        rc = err_set(err, 400, "source", "disk '%s' is %" PRIu64 " bytes, more than the %" PRIu64
                     " an image may be", src->name, probe.virtual_size, max_bytes);
    if (rc == 0)
        rc = convert(&plain, &probe, out, err);
    if (rc == 0)
        rc = fit_capacity(out, probe.virtual_size, capacity, err);
    if (temp[0])
        unlink(temp);
    if (rc != 0)
        unlink(out);
    return rc;
}
