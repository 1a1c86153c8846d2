/*
 * disk_export.h - a host's disk files converted for an OVF export
 * (src/driver/disk_export.c): which file holds a machine's disk or a
 * volume, and that file as a stream-optimized vmdk (the format other
 * hypervisors import) or a standalone qcow2 (the `kvm` profile).
 */
#ifndef CIMID_DISK_EXPORT_H
#define CIMID_DISK_EXPORT_H

#include <stdbool.h>
#include <stddef.h>

#include "util/error.h"

struct hv;

/* What a converted disk's DiskSection and References entries say. */
struct disk_export_result {
    long long size;       /* bytes of the converted file (ovf:size) */
    long long capacity;   /* virtual size in bytes (ovf:capacity) */
    long long populated;  /* bytes holding data (ovf:populatedSize), -1 = unknown */
};

/* The host file of a machine's disk `slot` (volume_uuid NULL) or of a
 * volume (machine_uuid ignored).  404 when the host keeps no such file
 * (libvirt's test driver has no disk files: the export then describes the
 * disk without content). */
int disk_export_source(struct hv *hv, const char *machine_uuid, int slot, const char *volume_uuid,
                       char *path, size_t len, struct cimi_error *err);

/* The local file an image location names (a MachineImage's or a
 * VolumeImage's imageLocation, inside the directories images are read
 * from) and its format, "qcow2" or "raw" (by its first bytes).  404 when
 * it names no such file (an http(s) URL, the test driver's pseudo
 * locations): the export then describes the disk without content. */
int disk_export_image(const char *location, char *path, size_t len, const char **format,
                      struct cimi_error *err);

/* Convert the file src of format src_format ("qcow2" with its backing
 * chain, or "raw") into dst:
 * `qemu-img convert -O vmdk -o subformat=streamOptimized,adapter_type=lsilogic,
 * hwversion=13`, or `-O qcow2 -o compat=1.1` when qcow2.  shared: a guest
 * has the file open (it is paused, its writes flushed): read it with -U.
 * Fills out. */
int disk_export_convert(const char *src, const char *src_format, const char *dst, bool qcow2,
                        bool shared,
                        struct disk_export_result *out, struct cimi_error *err);

#endif
