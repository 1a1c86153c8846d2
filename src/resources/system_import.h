/*
 * system_import.h - what the two halves of an OVF import share:
 * system_import.c (the Action, the Job: fetch, verify, convert, commit) and
 * system_import_build.c (the neutral OVF model into CIMI documents: images,
 * configurations, network templates, the SystemTemplate).
 */
#ifndef CIMID_SYSTEM_IMPORT_H
#define CIMID_SYSTEM_IMPORT_H

#include <jansson.h>
#include <stdint.h>

#include "cimi/request.h"
#include "ovf/ovf.h"
#include "util/error.h"

/* One disk of the package to convert into an image file of cimid. */
struct import_disk {
    const char *disk_id;          /* DiskSection ovf:diskId (borrowed from the model) */
    const char *href;             /* its File's href, NULL for a blank disk */
    bool gzip;
    bool chunked;                 /* in pieces href.000000000, href.000000001 ... */
    uint64_t capacity;            /* bytes (ovf:capacity x units) */
    bool machine_image;           /* a Machine's boot disk, else a VolumeImage */
    char id[128];                 /* "machineImages/<uuid>" or "volumeImages/<uuid>" */
    char location[1024];          /* where the converted file is, once made */
};

struct import_plan {
    struct import_disk *disks;
    size_t count;
};

/* Plan the images the model needs (one per drive naming a Disk: the first
 * disk of a VirtualSystem a MachineImage, the others VolumeImages); their
 * ids derive from the Job's (a re-run after a crash finds the same files);
 * a ${property} capacity takes the import's ovf.property.<key> if given.
 * 400 when a VirtualSystem has no disk to boot from. */
int import_plan(const json_t *model, const char *job_id, const json_t *properties,
                struct import_plan *plan, struct cimi_error *err);
void import_plan_free(struct import_plan *plan);

/* Inside the Job's transaction: insert the image rows, configurations,
 * network templates and the SystemTemplate (id template_id, importImage
 * source, properties from the Action's; network_paths maps
 * "ovf.network.<name>" to an existing Network's path, used instead of a
 * new one), as req's principal.  A copy of the SystemTemplate's document
 * into *template_doc. */
int import_build(struct cimi_request *req, const json_t *model, const struct import_plan *plan,
                 const char *template_id, const char *source, const json_t *action_properties,
                 const json_t *network_paths, json_t **template_doc, struct cimi_error *err);

/* system_import_cert.c: the .cert's signature of the .mf verifies with its
 * certificate, whose chain the system trusts (unless allow_untrusted);
 * signer gets the certificate's subject.  400 with the reason otherwise. */
int import_check_certificate(const char *cert_text, size_t cert_len, const char *mf_name,
                             const char *mf_text, size_t mf_len, bool allow_untrusted,
                             char *signer, size_t signer_len, struct cimi_error *err);

/* The import Job (registry.c's list of kinds). */
struct job_kind;
extern const struct job_kind system_import_job;

#endif
