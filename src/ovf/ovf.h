/*
 * ovf.h - reading OVF packages (DSP0243): the OVA tar members, the .mf
 * manifest, DSP0004 programmatic units and the descriptor parsed into a
 * neutral model.  A layer of its own below resources: it depends on
 * libxml2, jansson and nettle only (no store, no libvirt, no HTTP).
 * The writing side (ovfout) declares its functions in ovf_write.h and
 * shares the tar header helpers and the manifest functions declared here.
 *
 * Errors: functions returning int give 0 or -1 with err filled (status 400:
 * the package is bad; 500: the host failed, e.g. a read error).
 */
#ifndef CIMID_OVF_H
#define CIMID_OVF_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/error.h"

/* ---- limits (docs/SECURITY.md) ---- */
#define OVF_MAX_DESCRIPTOR (4u << 20) /* bytes of the .ovf read and parsed */
#define OVF_MAX_MANIFEST (1u << 20)   /* bytes of the .mf */
#define OVF_MAX_MEMBERS 1024          /* tar members, References files, disks */
#define OVF_MAX_ITEMS 1024            /* Items per VirtualHardwareSection */
#define OVF_MAX_SYSTEMS 256           /* VirtualSystems in one package */
#define OVF_MAX_DEPTH 8               /* VirtualSystemCollection nesting */
#define OVF_NAME_MAX 256              /* a member name / href, with its NUL */

/* ---- USTAR (ova_read.c) ---- */

/* One 512-byte POSIX ustar header block, fields as in <tar.h>. */
struct tar_header {
    char name[100], mode[8], uid[8], gid[8], size[12], mtime[12], chksum[8], typeflag;
    char linkname[100], magic[6], version[2], uname[32], gname[32], devmajor[8],
        devminor[8], prefix[155], pad[12];
};
_Static_assert(sizeof(struct tar_header) == 512, "tar header is one block");

/* The header's checksum: the byte sum with chksum counted as blanks. */
unsigned tar_checksum(const struct tar_header *h);
/* A numeric field: octal (NUL/blank terminated) or GNU base-256 (first byte
 * 0x80).  0, or -1 if it is neither or does not fit 63 bits. */
int tar_number(const char *field, size_t len, uint64_t *value);

/* A member of a package: its name (the href), where its bytes are (file and
 * offset: an OVA's members all live in the OVA file; an OVF directory's
 * files each in their own) and how many. */
struct ova_member {
    char name[OVF_NAME_MAX];
    char file[4096];
    uint64_t offset, size;
};

/* The members of a package, in tar order (descriptor, manifest, disks). */
struct ova_index {
    struct ova_member *members;
    size_t count;
    size_t descriptor;          /* index of the one .ovf member */
    long manifest;              /* index of the .mf member, -1 if none */
};

/* A name a package may hold: relative, no "..", no "\", no empty part, no
 * control characters, shorter than OVF_NAME_MAX. */
bool ova_name_safe(const char *name);
/* Read an OVA's headers (not its data): regular members with their offset
 * and size; pax headers (their `size` and `path` records applied to the
 * next member), PaxHeader and AppleDouble `._*` members skipped; exactly
 * one member ending in .ovf.  400 with the reason for anything else. */
int ova_read_index(const char *path, struct ova_index *idx, struct cimi_error *err);
/* An OVF descriptor on disk: the index names the descriptor, the .mf of
 * the same base name if present and the files its References name
 * (members added by ova_index_add_file once the descriptor is parsed). */
int ova_index_descriptor(const char *ovf_path, struct ova_index *idx, struct cimi_error *err);
int ova_index_add_file(struct ova_index *idx, const char *dir, const char *href,
                       struct cimi_error *err);
/* The member named name, or NULL. */
const struct ova_member *ova_find(const struct ova_index *idx, const char *name);
/* A member's bytes into a new NUL-terminated buffer (at most max bytes). */
int ova_read_member(const struct ova_member *m, size_t max, char **data, size_t *len,
                    struct cimi_error *err);
void ova_index_free(struct ova_index *idx);

/* ---- manifest (manifest.c) ---- */

enum ovf_digest { OVF_SHA1, OVF_SHA256, OVF_SHA512 };

struct manifest_entry {
    char name[OVF_NAME_MAX];
    enum ovf_digest digest;
    char hex[129];              /* lower case */
};

struct ovf_manifest {
    struct manifest_entry *entries;
    size_t count;
};

/* Parse `SHA1(name)= hex`, `SHA256 (name) = hex` (blanks optional, CRLF
 * accepted, SHA512 too); blank lines ignored; any other line, a duplicate
 * name or a digest of the wrong length -> 400. */
int manifest_parse(const char *text, size_t len, struct ovf_manifest *m, struct cimi_error *err);
const struct manifest_entry *manifest_find(const struct ovf_manifest *m, const char *name);
void manifest_free(struct ovf_manifest *m);
/* One canonical line, "SHA256(name)= hex\n", into buf; its length or -1. */
int manifest_line(char *buf, size_t len, enum ovf_digest digest, const char *name,
                  const char *hex);
const char *manifest_digest_name(enum ovf_digest digest);

/* A running digest of bytes as they stream by. */
struct ovf_hash;
struct ovf_hash *ovf_hash_new(enum ovf_digest digest);
void ovf_hash_update(struct ovf_hash *h, const void *data, size_t len);
/* The digest in lower-case hex into hex (at least 129 bytes); frees h. */
void ovf_hash_finish(struct ovf_hash *h, char *hex);
/* The digest of a member's bytes (read from its file at its offset). */
int ovf_hash_member(const struct ova_member *m, enum ovf_digest digest, char *hex,
                    struct cimi_error *err);
/* Every member the manifest lists is hashed and compared; each name in
 * required (the descriptor and every References href; NULL-terminated)
 * must be listed.  A mismatch, an unlisted required file or a listed file
 * missing from the package -> 400 naming it. */
int manifest_verify(const struct ovf_manifest *m, const struct ova_index *idx,
                    const char *const *required, struct cimi_error *err);

/* ---- units (units.c) ---- */

/* What a quantity counts: bytes (memory, capacity) or hertz (CPU). */
enum ovf_unit_base { OVF_UNIT_BYTE, OVF_UNIT_HERTZ };
/* The multiplier of a DSP0004 programmatic unit: `byte`, `byte * 2^20`,
 * `byte*2^30`, `byte * 1024`, `hertz * 10^6`, `MegaBytes`, `KiloBytes`,
 * `GigaBytes`, `MB`, `GB`, `KB`, `TB` (case and blanks ignored; words and
 * abbreviations are powers of 1024).  -1 for anything else, a base other
 * than the one asked, or overflow. */
int ovf_units(const char *units, enum ovf_unit_base base, uint64_t *multiplier);
/* value (a decimal integer) times the unit's multiplier; units NULL or ""
 * -> default_multiplier.  -1 on a bad number, unit or overflow. */
int ovf_quantity(const char *value, const char *units, enum ovf_unit_base base,
                 uint64_t default_multiplier, uint64_t *out);

/* ---- descriptor (ovf_parse.c) ---- */

/*
 * ovf_parse returns the neutral model of a descriptor (a new reference):
 *
 * { "version": "1" | "2",
 *   "files":    [ {"id", "href", "size"?: bytes, "compression"?: "gzip",
 *                  "chunkSize"?: bytes (the file is in pieces href.000000000,
 *                  href.000000001 ... to join)} ],
 *   "disks":    [ {"id", "capacity": bytes, "fileRef"?, "format"?: URI,
 *                  "populatedSize"?: bytes, "capacityProperty"?: the full key
 *                  of the Property whose value gave the capacity (ovf:capacity
 *                  "${name}"), "capacityUnits"?} ],
 *   "networks": [ {"name", "description"?} ],
 *   "content":  CONTENT,
 *   "skipped":  [ {"element", "line", "reason"} ]  -- optional content dropped
 * }
 * CONTENT of a VirtualSystemCollection:
 *   {"kind": "collection", "id", "name"?, "info"?, "annotation"?,
 *    "product"?: PRODUCT, "startup"?: [ {"id", "order", "startDelay"?,
 *    "stopDelay"?, "startAction"?, "stopAction"?, "waitingForGuest"?} ],
 *    "eula"?: [text], "children": [CONTENT...]}
 * CONTENT of a VirtualSystem:
 *   {"kind": "system", "id", "name"?, "info"?, "annotation"?, "product"?,
 *    "eula"?, "os"?: {"id": CIM OsType, "description"?, "vmwOsType"?},
 *    "systemType"?: "vmx-13 ...", "firmware"?: "efi" | "bios",
 *    "cpu": count, "coresPerSocket"?: n, "memory": bytes,
 *    "cpuReservationMhz"?, "cpuLimitMhz"?, "cpuShares"?, "memoryLimit"?: bytes,
 *    "controllers": [ {"instance", "bus": "ide"|"scsi"|"sata"|"virtio-scsi",
 *                      "model"?: libvirt model, "address"?} ],
 *    "drives": [ {"instance", "device": "disk"|"cdrom"|"floppy",
 *                 "controller"?: instance, "bus", "unit"?,
 *                 "disk"?: diskId, "file"?: fileId} ],
 *    "nics": [ {"instance", "network"?, "model", "mac"?, "connected"} ] }
 * PRODUCT: {"class"?, "instance"?, "product"?, "vendor"?, "version"?,
 *           "properties": [ {"key" ([class.]name[.instance]), "name", "type",
 *                            "value"?, "userConfigurable",
 *                            "password", "qualifiers"?, "label"?,
 *                            "description"?} ]}
 *
 * Hardware Items are those of the VirtualHardwareSection of a supported
 * type (any when a system has only one) after DeploymentOption filtering
 * (options: the import's ovf.deploymentOption or NULL for the default).
 * OVF 0.9, a DTD or entity, unknown content marked required (default),
 * an Item of an unsupported type or subtype, a delta disk, a remote or
 * unsafe href -> NULL and 400 naming the element and its line.
 */
json_t *ovf_parse(const char *xml, size_t len, const char *deployment_option,
                  struct cimi_error *err);

/* properties.c: a value for a Property of the model (ovf:type, and the
 * qualifiers MinLen, MaxLen, ValueMap) -> 0, or 400 naming the property. */
int ovf_property_check(const json_t *property, const char *value, struct cimi_error *err);

/* The href of fileId in a model's files, or NULL. */
const char *ovf_file_href(const json_t *model, const char *file_id);

#endif
