/*
 * ovf_write.h - the writing side of cimid's OVF library: an OVF 1.x
 * descriptor from a neutral description of a package, and the OVA (USTAR)
 * that carries it with its manifest and disks.  Depends on libxml2,
 * jansson and nettle only (no store, no libvirt).
 *
 * The package description (a jansson object) names what CIMI knows:
 *
 *   { "profile": "portable" | "kvm",            (default portable)
 *     "networks": [ {"name": "appnet", "description": "..."} ],
 *     "content": NODE }
 *
 *   NODE, a System:  { "type": "collection", "name", "description",
 *                      "properties": {"k": "v"}, "children": [NODE...] }
 *   NODE, a Machine: { "type": "machine", "name", "description", "properties",
 *                      "cpu": 2, "memory": KiB, "cpuArch": "x86_64",
 *                      "disks": [DISK...], "nics": [ {"network": "appnet"} ] }
 *   DISK:            { "capacity": bytes, "volume": "dbdata" (a Volume's
 *                      name, optional), "source": "/path" (optional: none =
 *                      a blank disk), and after ovf_prepare and conversion
 *                      "href", "size" (bytes as stored), "populatedSize" }
 *
 * ovf_prepare gives every node a unique XML-safe "ovfId" (from its name)
 * and every disk with a source a flat file name "href" (<= 100 bytes, the
 * OVA member name); the caller converts the disks, fills "size" (and
 * "populatedSize"), then writes the descriptor and the OVA.
 */
#ifndef CIMID_OVF_WRITE_H
#define CIMID_OVF_WRITE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

/* Longest OVA member name (the USTAR name field). */
#define OVA_NAME_MAX 100

/* Give nodes their "ovfId" and disks with a "source" their "href" (with the
 * file name extension ext, "vmdk" or "qcow2"), in References order.  -1 and
 * why when the description is malformed (no content, a machine of more
 * disks than one controller holds, ...). */
int ovf_prepare(json_t *pkg, const char *ext, char *why, size_t why_len);

/* The disks of the package that have a file, in References order (new
 * array of borrowed references into pkg). */
json_t *ovf_files(const json_t *pkg);

/* The descriptor of a prepared package as a NUL-terminated malloc'd XML
 * document (*len bytes).  -1 and why on a malformed description. */
int ovf_write_descriptor(const json_t *pkg, char **xml, size_t *len, char *why, size_t why_len);

/* An OVA being written to a seekable file: the .ovf, a .mf whose digests
 * are filled in as the other members stream through, then the disks. */
struct ova_writer;

/* Called while a member is copied: bytes written so far of all members. */
typedef bool (*ova_progress_fn)(void *arg, uint64_t done);

/* Start an OVA at fd (a regular file, written from its current offset 0)
 * for the members named in order: names[0] the .ovf, then the files; the
 * manifest name is the .ovf's with .mf.  NULL and why on error. */
struct ova_writer *ova_begin(int fd, const char *const *names, size_t count, char *why,
                             size_t why_len);

/* Write the next member from a buffer. */
int ova_add_buffer(struct ova_writer *w, const char *name, const void *data, size_t len,
                   char *why, size_t why_len);

/* Write the next member by copying the file at path (its whole content);
 * progress (may be NULL) is asked now and then and may stop the copy by
 * returning false. */
int ova_add_file(struct ova_writer *w, const char *name, const char *path,
                 ova_progress_fn progress, void *arg, char *why, size_t why_len);

/* Fill in the manifest, write the end of the archive, and free w (also on
 * error).  0 when the OVA is complete. */
int ova_end(struct ova_writer *w, char *why, size_t why_len);

/* The USTAR header's size field for size bytes: 11 octal digits, or GNU
 * base-256 (first byte 0x80) from 8 GiB on.  Exposed for the unit test. */
void ova_size_field(char field[12], uint64_t size);

/* Free a writer without completing the archive. */
void ova_abort(struct ova_writer *w);

#endif
