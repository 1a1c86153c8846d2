/*
 * model.h - the CIMI model as data.
 *
 * Every CIMI resource type (Machine, MachineConfiguration, Job, ...) and every
 * structure nested inside one (a MachineConfiguration disk, a capability) is
 * described once by a struct cimi_type: its name, its collection, and its
 * attributes in XML schema order.  Generic code walks these tables to encode
 * and decode JSON and XML, validate request bodies, evaluate $filter, $select,
 * $expand and $orderby.  Type-specific behaviour (what happens when a Machine
 * is created or started) lives in src/resources/ behind struct resource_ops
 * (resource_ops_of()); this file knows nothing of it, so the model and the
 * codecs also serve the command-line client.
 *
 * In memory and in the store a resource is a jansson object in the JSON wire
 * shape (the same member names, `{"href": ...}` for references, JSON arrays
 * for arrays, an object for `properties`).
 */
#ifndef CIMID_MODEL_H
#define CIMID_MODEL_H

#include <stdbool.h>
#include <stddef.h>

#define CIMI_NS "http://schemas.dmtf.org/cimi/1"
/* Namespace of cimid's own extension attributes (XML foreign namespace). */
#define CIMID_NS "http://cimid.dev/ns/1"
/* Seconds a System operation waits after a group of its machines, at most
 * (a componentDescriptor's startDelay and stopDelay: docs/SYSTEMS.md). */
#define CIMI_SYSTEM_DELAY_MAX 60

enum cimi_kind {
    K_STRING,       /* JSON string, xs:string */
    K_INTEGER,      /* JSON number (integer), xs:long */
    K_BOOLEAN,      /* JSON true/false, xs:boolean */
    K_DATETIME,     /* JSON string in xs:dateTime form */
    K_URI,          /* JSON string, xs:anyURI */
    K_HEX,          /* JSON string of hex digits, xs:hexBinary */
    K_REF,          /* {"href": URI, ...optional inline attributes of `target`} */
    K_COLLECTION,   /* reference to a (sub-)collection of `target` items:
                       {"href": URI}, or expanded {"href","id","count",items,"operations"} */
    K_MAP,          /* properties: JSON object string->string; XML <property key="k">v</property>* */
    K_ARRAY,        /* JSON array of objects shaped by `target`; XML: repeated
                       <xml_name> elements, no wrapper */
    K_STRING_ARRAY, /* JSON array of strings; XML repeated <xml_name>text</xml_name> */
    K_OPERATIONS,   /* marks where operation* sits in the XML sequence (not a real attribute) */
};

/* Attribute flags. */
#define A_READONLY    0x01u  /* provider-managed: ignored when a consumer sends it in PUT/create */
#define A_REQUIRED    0x02u  /* the consumer must give it on create */
#define A_IMMUTABLE   0x04u  /* cannot change after create (PUT keeps the old value) */
#define A_XML_ATTR    0x08u  /* in XML: an attribute of the enclosing element, not a child element */
#define A_XML_TEXT    0x10u  /* in XML: the text content of the enclosing element */
#define A_UNSUPPORTED 0x20u  /* in the schema, but cimid does not support it yet: giving it is a 400 */
#define A_EXTENSION   0x40u  /* cimid's own attribute: in XML an element in the CIMID_NS namespace
                                after operation* (the schema's ##other), described in ResourceMetadata */
#define A_XML_ITEM_REFS 0x80u /* a sub-collection the 1.0.2 schema writes as its items' references:
                                 expanded, one element per item (the item's reference) */
#define A_JSON_ONLY   0x100u /* with A_EXTENSION, where the 1.x XML schema has no ##other for it:
                                 not written in XML (read there from cimid's namespace) */

struct cimi_type;

struct cimi_attr {
    const char *name;               /* JSON member name, e.g. "machineConfig", "disks" */
    const char *xml_name;           /* XML element/attribute name if different (e.g. "disk"), or NULL */
    enum cimi_kind kind;
    unsigned flags;
    const struct cimi_type *target; /* K_REF: referenced type; K_COLLECTION: item type;
                                       K_ARRAY: structure of one element */
};

struct cimi_type {
    const char *name;          /* "Machine": XML root element; type URI = CIMI_NS "/" name.
                                  NULL for anonymous structures. */
    const char *cep_attr;      /* CloudEntryPoint attribute and URL segment of the top-level
                                  collection ("machines", "machineConfigs"), NULL if none */
    const char *json_items;    /* JSON member holding the items in its collection ("machines") */
    bool common;               /* carries id, name, description, created, updated, properties */
    bool xml_common;           /* the common elements also appear in XML (false for Disk) */
    const struct cimi_attr *attrs;  /* type-specific attributes, schema order, {NULL} terminated */
};

/* The common attributes (id, name, description, created, updated, properties). */
extern const struct cimi_attr cimi_common_attrs[];

/* Resource types. */
extern const struct cimi_type t_cloud_entry_point, t_resource_metadata, t_machine, t_disk,
    t_machine_volume, t_machine_configuration, t_machine_image, t_machine_template,
    t_credential, t_credential_template, t_volume, t_volume_template, t_volume_configuration,
    t_volume_image, t_volume_volume_image, t_job, t_host, t_machine_snapshot;
/* cimid's Package (OVA files: src/resources/package.c). */
extern const struct cimi_type t_package;
/* Request documents. */
extern const struct cimi_type t_machine_create, t_credential_create, t_volume_create, t_action;
/* Networks: resources and their request documents. */
extern const struct cimi_type t_network, t_network_template, t_network_configuration,
    t_network_create, t_network_port, t_network_port_template, t_network_port_configuration,
    t_network_port_create, t_address, t_address_template, t_address_create, t_forwarding_group,
    t_forwarding_group_template, t_forwarding_group_create, t_forwarding_group_network,
    t_machine_network_interface, t_machine_network_interface_address, t_network_network_port;

/* Systems: resources, their member items and request documents (t_component_descriptor:
 * one SystemTemplate componentDescriptors entry). */
extern const struct cimi_type t_system, t_system_template, t_system_create, t_system_system,
    t_system_machine, t_system_credential, t_system_volume, t_system_network,
    t_system_network_port, t_system_address, t_system_forwarding_group, t_component_descriptor;

/* All top-level resource types in CloudEntryPoint order, NULL terminated. */
extern const struct cimi_type *const cimi_toplevel_types[];

/* Lookups; NULL when unknown. */
const struct cimi_type *model_type_by_name(const char *name);
const struct cimi_type *model_type_by_collection(const char *cep_attr);

/* The attribute `name` of type t (common attributes included when t->common); NULL if none. */
const struct cimi_attr *model_attr(const struct cimi_type *t, const char *name);

/* The values a K_INTEGER attribute accepts: validate.c refuses any other
 * with 400 naming the attribute (README.md lists them). */
struct cimi_range {
    long long min, max;
    const char *unit;               /* for messages: "KB", "vCPUs" or "" */
};

/* The range of integer attribute a.  An integer attribute's name means the
 * same quantity in every type that has it (capacity, cpu, memory, mtu...),
 * so ranges are kept by name; a name without one gets 0..2^31-1. */
const struct cimi_range *model_range(const struct cimi_attr *a);

/* The namespace of t's documents and type URI: CIMI_NS, or CIMID_NS for
 * cimid's own resource types (Host). */
const char *model_type_ns(const struct cimi_type *t);

/* Type URI of t into buf ("http://schemas.dmtf.org/cimi/1/Machine"); suffix may be
 * "" or "Collection". Returns buf. */
char *model_type_uri(const struct cimi_type *t, const char *suffix, char *buf, size_t len);

/* Iterate all attributes of t (common ones first when t->common) in schema order.
 * Usage: for (size_t i = 0; (a = model_attr_at(t, i)) != NULL; i++) ... */
const struct cimi_attr *model_attr_at(const struct cimi_type *t, size_t index);

#endif
