/*
 * disk_convert.h - disks of OVF packages turned into cimid's qcow2 images
 * and back, with qemu-img (run through util/spawn.c).  Import
 * (disk_import.c, ovfin) sniffs a disk's format from its bytes, checks it
 * with `qemu-img info -f FMT` and converts it straight out of the OVA by
 * offset; export (disk_export.c, ovfout) declares its block below.
 */
#ifndef CIMID_DISK_CONVERT_H
#define CIMID_DISK_CONVERT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/error.h"

/* ---- import (disk_import.c) ---- */

/* Where a disk's bytes are: size bytes at offset of file (an OVA member or
 * a file of its own); padded: the file has zeros up to the next 512 bytes
 * (a tar member), so qemu may read whole sectors; gzip: ovf:compression. */
struct disk_source {
    const char *file;
    uint64_t offset, size;
    bool padded, gzip;
    const char *name;             /* the href, for messages */
};

/* What the sniffing and qemu-img info found. */
struct disk_probe {
    char format[8];               /* "vmdk", "qcow2", "vpc", "vhdx", "raw" */
    bool iso;                     /* ISO 9660 (raw, a CD) */
    uint64_t virtual_size;        /* bytes the guest sees */
};

/* Sniff the format (the package's ovf:format is not trusted): vmdk (KDMV),
 * qcow2, vpc (conectix footer), vhdx, ISO (CD001 at 0x8001), else raw; a
 * text vmdk descriptor is refused (its extents could name any host file).
 * Then `qemu-img info -f FMT`: no backing file, no qcow2 data-file, vmdk
 * extents only the disk itself.  400 naming the disk when it is refused. */
int disk_import_probe(const struct disk_source *src, struct disk_probe *probe,
                      struct cimi_error *err);
/* Convert the disk into the qcow2 file out (compat=1.1, holes stay
 * sparse), then make its virtual size at least capacity bytes (0: keep).
 * A gzip member is first decompressed into out's directory (at most
 * max_bytes written; the temporary file removed).  On failure out is
 * removed. */
int disk_import_convert(const struct disk_source *src, uint64_t capacity, uint64_t max_bytes,
                        const char *out, struct cimi_error *err);

#endif
