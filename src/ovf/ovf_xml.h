/*
 * ovf_xml.h - what ovf_parse.c and ovf_hardware.c share (ovf_xml.c): namespace tests
 * (OVF 1.x with old oVirt's trailing slash, 2.x with `.xsd` suffixes), the
 * ovf: attribute and child text getters, and the parse state (the model
 * being built, the skipped list, the first error).
 */
#ifndef CIMID_OVF_XML_H
#define CIMID_OVF_XML_H

#include <libxml/tree.h>

#include "ovf/ovf.h"

enum ovf_ns { NS_OTHER, NS_OVF, NS_RASD, NS_VSSD, NS_SASD, NS_EPASD, NS_VMW };

struct ovf_parse {
    json_t *model;
    json_t *skipped;
    const char *option;        /* the DeploymentOption in force, NULL = none */
    struct cimi_error *err;
    int failed;
    bool ovirt;                /* written by oVirt (its namespace on the Envelope) */
};

enum ovf_ns ovf_ns_of(const xmlNode *n);
enum ovf_ns ovf_ns_of_uri(const xmlChar *href);
/* v (freed) trimmed of blanks, as a new string; NULL for NULL. */
char *ovf_trimmed(xmlChar *v);
bool ovf_is(const xmlNode *n, enum ovf_ns ns, const char *name);
/* An attribute in the OVF namespace (or unprefixed), as a new string. */
char *ovf_attr(const xmlNode *n, const char *name);
/* The trimmed text of the first child element of local name name. */
char *ovf_child_text(const xmlNode *n, const char *name);
/* ovf:required, default true. */
bool ovf_required(const xmlNode *n);
/* The element's name as written (prefix:local). */
const char *ovf_element_name(const xmlNode *n, char *buf, size_t len);
/* Content that cannot be honoured: required -> error naming it and its
 * line (returns -1); optional -> listed in skipped (returns 0). */
int ovf_unsupported(struct ovf_parse *p, const xmlNode *n, const char *what,
                    const char *reason);
/* Error naming the element and its line; -1. */
int ovf_fail(struct ovf_parse *p, const xmlNode *n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Does this element apply under the DeploymentOption in force? */
bool ovf_in_configuration(const struct ovf_parse *p, const xmlNode *n);

/* ovf_hardware.c: a VirtualHardwareSection into the system's document. */
int ovf_parse_hardware(struct ovf_parse *p, const xmlNode *vhs, json_t *system);

#endif
