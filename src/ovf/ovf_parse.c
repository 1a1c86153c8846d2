/*
 * ovf_parse.c - an OVF descriptor (DSP0243 1.x and 2.x) into the neutral
 * model documented in ovf.h: References, DiskSection, NetworkSection,
 * DeploymentOptionSection, and the content tree (VirtualSystem, nested
 * VirtualSystemCollection) with their Product, Eula, Startup, Annotation
 * and OperatingSystem sections; VirtualHardwareSection in ovf_hardware.c,
 * the namespace and attribute helpers in ovf_xml.c.
 *
 * libxml2 without network, DTD or entities (a DOCTYPE is refused), the
 * descriptor at most OVF_MAX_DESCRIPTOR bytes.  `ovf:required` (default
 * true) decides what cimid cannot honour: an error naming the element and
 * its line, or (false) an entry of "skipped".
 */
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <libxml/parser.h>
#include <libxml/parserInternals.h>

#include "ovf/ovf_xml.h"

#define OVF_09_NS "http://www.vmware.com/schema/ovf/1/envelope"

/* ---- envelope sections ---- */

static int add_size(struct ovf_parse *p, const xmlNode *n, json_t *o, const char *attr,
                    const char *units_attr, const char *key)
{
    char *v = ovf_attr(n, attr), *u = units_attr ? ovf_attr(n, units_attr) : NULL;
    uint64_t bytes;
    int rc = 0;

    if (v && ovf_quantity(v, u, OVF_UNIT_BYTE, 1, &bytes) < 0)
        rc = ovf_fail(p, n, "ovf:%s '%s'%s%s%s is not a size cimid understands", attr, v,
                      u ? " in '" : "", u ? u : "", u ? "'" : "");
    else if (v)
        json_object_set_new(o, key, json_integer((json_int_t)(bytes > INT64_MAX ? INT64_MAX : bytes)));
    free(v), free(u);
    return rc;
}

static int references(struct ovf_parse *p, const xmlNode *sec)
{
    json_t *files = json_object_get(p->model, "files");

    for (const xmlNode *n = sec->children; n; n = n->next) {
        if (n->type != XML_ELEMENT_NODE)
            continue;
        if (!ovf_is(n, NS_OVF, "File")) {
            char name[128];
            if (ovf_unsupported(p, n, ovf_element_name(n, name, sizeof(name)),
                                "unknown content of References") < 0)
                return -1;
            continue;
        }
        if (json_array_size(files) >= OVF_MAX_MEMBERS)
            return ovf_fail(p, n, "more than %d files", OVF_MAX_MEMBERS);
        char *id = ovf_attr(n, "id"), *href = ovf_attr(n, "href");
        char *comp = ovf_attr(n, "compression");
        int rc = 0;
        if (!id || !href)
            rc = ovf_fail(p, n, "a File needs ovf:id and ovf:href");
        else if (!ova_name_safe(href))
            rc = ovf_fail(p, n, "href '%s' is not a relative name inside the package", href);
        else if (comp && strcmp(comp, "gzip") != 0 && strcmp(comp, "identity") != 0)
            rc = ovf_fail(p, n, "compression '%s' is not supported (gzip only)", comp);
        else if (ovf_file_href(p->model, id))
            rc = ovf_fail(p, n, "File id '%s' is not unique", id);
        if (rc == 0) {
            json_t *f = json_pack("{s:s, s:s}", "id", id, "href", href);
            if (comp && strcmp(comp, "gzip") == 0)
                json_object_set_new(f, "compression", json_string("gzip"));
            rc = add_size(p, n, f, "size", NULL, "size");
            if (rc == 0)
                rc = add_size(p, n, f, "chunkSize", NULL, "chunkSize");
            json_array_append_new(files, f);
        }
        free(id), free(href), free(comp);
        if (rc < 0)
            return -1;
    }
    return 0;
}

/* ovf:capacity="${name}": the Property's name, the units and the line kept. */
static int capacity_property(const xmlNode *n, const char *cap, json_t *disk)
{
    char *units = ovf_attr(n, "capacityAllocationUnits");
    json_object_set_new(disk, "capacityProperty", json_stringn(cap + 2, strlen(cap) - 3));
    json_object_set_new(disk, "line", json_integer(xmlGetLineNo(n)));
    if (units)
        json_object_set_new(disk, "capacityUnits", json_string(units));
    free(units);
    return 0;
}

static int disk_section(struct ovf_parse *p, const xmlNode *sec)
{
    json_t *disks = json_object_get(p->model, "disks");

    for (const xmlNode *n = sec->children; n; n = n->next) {
        if (n->type != XML_ELEMENT_NODE || ovf_is(n, NS_OVF, "Info"))
            continue;
        if (!ovf_is(n, NS_OVF, "Disk")) {
            char name[128];
            if (ovf_unsupported(p, n, ovf_element_name(n, name, sizeof(name)),
                                "unknown content of DiskSection") < 0)
                return -1;
            continue;
        }
        if (json_array_size(disks) >= OVF_MAX_MEMBERS)
            return ovf_fail(p, n, "more than %d disks", OVF_MAX_MEMBERS);
        char *id = ovf_attr(n, "diskId"), *file = ovf_attr(n, "fileRef");
        char *format = ovf_attr(n, "format"), *parent = ovf_attr(n, "parentRef");
        char *cap = ovf_attr(n, "capacity");
        int rc = 0;
        if (!id || !cap)
            rc = ovf_fail(p, n, "a Disk needs ovf:diskId and ovf:capacity");
        else if (parent && parent[0])
            rc = ovf_fail(p, n, "delta disks (ovf:parentRef) are not supported");
        else if (cap[0] == '$' && (cap[1] != '{' || cap[strlen(cap) - 1] != '}' || !cap[2]))
            rc = ovf_fail(p, n, "capacity '%s' is neither a number nor ${property}", cap);
        else if (file && !ovf_file_href(p->model, file))
            rc = ovf_fail(p, n, "fileRef '%s' names no File of References", file);
        if (rc == 0) {
            json_t *d = json_pack("{s:s}", "id", id);
            if (file)
                json_object_set_new(d, "fileRef", json_string(file));
            if (format)
                json_object_set_new(d, "format", json_string(format));
            if (cap[0] == '$') /* resolved once the properties are known */
                rc = capacity_property(n, cap, d);
            else
                rc = add_size(p, n, d, "capacity", "capacityAllocationUnits", "capacity");
            if (rc == 0)
                rc = add_size(p, n, d, "populatedSize", NULL, "populatedSize");
            json_array_append_new(disks, d);
        }
        free(id), free(file), free(format), free(parent), free(cap);
        if (rc < 0)
            return -1;
    }
    return 0;
}

static int network_section(struct ovf_parse *p, const xmlNode *sec)
{
    json_t *nets = json_object_get(p->model, "networks");

    for (const xmlNode *n = sec->children; n; n = n->next) {
        if (!ovf_is(n, NS_OVF, "Network"))
            continue;
        char *name = ovf_attr(n, "name"), *desc = ovf_child_text(n, "Description");
        if (!name) {
            free(desc);
            return ovf_fail(p, n, "a Network needs ovf:name");
        }
        json_t *net = json_pack("{s:s}", "name", name);
        if (desc)
            json_object_set_new(net, "description", json_string(desc));
        json_array_append_new(nets, net);
        free(name), free(desc);
    }
    return 0;
}

/* The option in force: the import's choice, else ovf:default, else the first. */
static int deployment_options(struct ovf_parse *p, const xmlNode *sec, const char *wanted,
                              char **chosen)
{
    char *first = NULL, *dflt = NULL;
    bool found = false;

    for (const xmlNode *n = sec->children; n; n = n->next) {
        if (!ovf_is(n, NS_OVF, "Configuration"))
            continue;
        char *id = ovf_attr(n, "id"), *d = ovf_attr(n, "default");
        if (id && !first)
            first = strdup(id);
        if (id && d && strcmp(d, "true") == 0 && !dflt)
            dflt = strdup(id);
        if (id && wanted && strcmp(id, wanted) == 0)
            found = true;
        free(id), free(d);
    }
    if (wanted && !found) {
        free(first), free(dflt);
        return ovf_fail(p, sec, "no Configuration '%s' (ovf.deploymentOption)", wanted);
    }
    *chosen = wanted ? strdup(wanted) : dflt ? strdup(dflt) : first ? strdup(first) : NULL;
    free(first), free(dflt);
    return 0;
}

/* ---- content sections ---- */

static void set_text(json_t *o, const char *key, char *text)
{
    if (text)
        json_object_set_new(o, key, json_string(text));
    free(text);
}

static int product_section(struct ovf_parse *p, const xmlNode *sec, json_t *content)
{
    json_t *prod = json_object_get(content, "product");
    if (!prod) {
        prod = json_pack("{s:[]}", "properties");
        json_object_set_new(content, "product", prod);
        set_text(prod, "class", ovf_attr(sec, "class"));
        set_text(prod, "instance", ovf_attr(sec, "instance"));
        set_text(prod, "product", ovf_child_text(sec, "Product"));
        set_text(prod, "vendor", ovf_child_text(sec, "Vendor"));
        set_text(prod, "version", ovf_child_text(sec, "Version"));
    }
    char *cls = ovf_attr(sec, "class"), *inst = ovf_attr(sec, "instance");
    json_t *props = json_object_get(prod, "properties");
    for (const xmlNode *n = sec->children; n; n = n->next) {
        if (!ovf_is(n, NS_OVF, "Property"))
            continue;
        char *key = ovf_attr(n, "key"), *type = ovf_attr(n, "type");
        char *uc = ovf_attr(n, "userConfigurable"), *pw = ovf_attr(n, "password");
        if (!key || !type) {
            free(key), free(type), free(uc), free(pw), free(cls), free(inst);
            return ovf_fail(p, n, "a Property needs ovf:key and ovf:type");
        }
        char full[512];
        snprintf(full, sizeof(full), "%s%s%s%s%s", cls ? cls : "", cls ? "." : "", key,
                 inst ? "." : "", inst ? inst : "");
        json_t *prop = json_pack("{s:s, s:s, s:s, s:b, s:b}", "key", full, "name", key, "type", type,
                                 "userConfigurable", uc && strcmp(uc, "true") == 0, "password",
                                 pw && strcmp(pw, "true") == 0);
        set_text(prop, "value", ovf_attr(n, "value"));
        set_text(prop, "qualifiers", ovf_attr(n, "qualifiers"));
        set_text(prop, "label", ovf_child_text(n, "Label"));
        set_text(prop, "description", ovf_child_text(n, "Description"));
        json_array_append_new(props, prop);
        free(key), free(type), free(uc), free(pw);
    }
    free(cls), free(inst);
    return 0;
}

static int startup_section(struct ovf_parse *p, const xmlNode *sec, json_t *content)
{
    json_t *list = json_array();
    static const char *const attrs[] = {"startDelay", "stopDelay", "startAction", "stopAction",
                                        "waitingForGuest", NULL};

    json_object_set_new(content, "startup", list);
    for (const xmlNode *n = sec->children; n; n = n->next) {
        if (!ovf_is(n, NS_OVF, "Item"))
            continue;
        char *id = ovf_attr(n, "id"), *order = ovf_attr(n, "order");
        if (!id || !order) {
            free(id), free(order);
            return ovf_fail(p, n, "a startup Item needs ovf:id and ovf:order");
        }
        json_t *it = json_pack("{s:s, s:i}", "id", id, "order", atoi(order));
        for (size_t i = 0; attrs[i]; i++)
            set_text(it, attrs[i], ovf_attr(n, attrs[i]));
        json_array_append_new(list, it);
        free(id), free(order);
    }
    return 0;
}

static void os_section(const xmlNode *sec, json_t *content)
{
    json_t *os = json_object();
    char *id = ovf_attr(sec, "id");
    if (id)
        json_object_set_new(os, "id", json_integer(atoi(id)));
    free(id);
    set_text(os, "description", ovf_child_text(sec, "Description"));
    for (const xmlAttr *a = sec->properties; a; a = a->next)
        if (a->ns && ovf_ns_of_uri(a->ns->href) == NS_VMW && strcmp((const char *)a->name, "osType") == 0) {
            xmlChar *v = xmlNodeGetContent((const xmlNode *)a);
            json_object_set_new(os, "vmwOsType", json_string((const char *)v));
            xmlFree(v);
        }
    json_object_set_new(content, "os", os);
}

static int parse_content(struct ovf_parse *p, const xmlNode *n, int depth, json_t **out);

/* A VirtualSystem's hardware: the one VHS, or of several the first whose
 * type cimid emulates (vmx, virtualbox, kvm, qemu); the others skipped. */
static const xmlNode *choose_hardware(struct ovf_parse *p, const xmlNode *vs)
{
    const xmlNode *chosen = NULL;
    size_t count = 0;

    for (const xmlNode *n = vs->children; n; n = n->next)
        if (ovf_is(n, NS_OVF, "VirtualHardwareSection") && ovf_in_configuration(p, n))
            count++;
    for (const xmlNode *n = vs->children; n && !chosen; n = n->next) {
        if (!ovf_is(n, NS_OVF, "VirtualHardwareSection") || !ovf_in_configuration(p, n))
            continue;
        if (count == 1)
            return n;
        const xmlNode *sys = NULL;
        for (const xmlNode *c = n->children; c; c = c->next)
            if (ovf_is(c, NS_OVF, "System"))
                sys = c;
        char *type = sys ? ovf_child_text(sys, "VirtualSystemType") : NULL;
        if (type && (strstr(type, "vmx") || strstr(type, "virtualbox") || strstr(type, "kvm") ||
                     strstr(type, "qemu")))
            chosen = n;
        free(type);
    }
    return chosen;
}

/* A section of a content element; *known false when it is not one. */
static int content_section(struct ovf_parse *p, const xmlNode *n, json_t *c, bool system,
                           const xmlNode *hardware, bool *known)
{
    *known = true;
    if (ovf_is(n, NS_OVF, "Info") || ovf_is(n, NS_OVF, "Name")) {
        set_text(c, n->name[0] == 'I' ? "info" : "name",
                 ovf_trimmed(xmlNodeGetContent(n)));
        return 0;
    }
    if (ovf_is(n, NS_OVF, "AnnotationSection")) {
        set_text(c, "annotation", ovf_child_text(n, "Annotation"));
        return 0;
    }
    if (ovf_is(n, NS_OVF, "ProductSection"))
        return product_section(p, n, c);
    if (ovf_is(n, NS_OVF, "EulaSection")) {
        json_t *eula = json_object_get(c, "eula");
        if (!eula)
            json_object_set_new(c, "eula", eula = json_array());
        char *text = ovf_child_text(n, "License");
        json_array_append_new(eula, json_string(text ? text : ""));
        free(text);
        return 0;
    }
    if (ovf_is(n, NS_OVF, "StartupSection") && !system)
        return startup_section(p, n, c);
    if (ovf_is(n, NS_OVF, "OperatingSystemSection") && system) {
        os_section(n, c);
        return 0;
    }
    if (ovf_is(n, NS_OVF, "VirtualHardwareSection") && system) {
        if (n == hardware)
            return ovf_parse_hardware(p, n, c);
        return ovf_in_configuration(p, n)
                   ? ovf_unsupported(p, n, "VirtualHardwareSection",
                                     "another hardware section was chosen")
                   : 0;
    }
    *known = false;
    return 0;
}

/* An element of the OVF namespace (or none) that is no section: settings
 * a tool keeps there (oVirt: CreationDate, ExportDate, VmInit, ...).  No
 * OVF content, so ovf:required does not apply. */
static bool engine_setting(const xmlNode *n)
{
    const char *name = (const char *)n->name;
    size_t len = strlen(name);
    return (!n->ns || ovf_ns_of(n) == NS_OVF) && strcmp(name, "Section") != 0 &&
           strcmp(name, "Content") != 0 && !(len >= 7 && strcmp(name + len - 7, "Section") == 0);
}

static int parse_children(struct ovf_parse *p, const xmlNode *n, json_t *c, bool system,
                          int depth)
{
    const xmlNode *hw = system ? choose_hardware(p, n) : NULL;
    const xmlNode *first_setting = NULL;
    int engine_settings = 0;
    char name[128];

    if (system && !hw)
        return ovf_fail(p, n, "no VirtualHardwareSection cimid can use");
    for (const xmlNode *s = n->children; s; s = s->next) {
        if (s->type != XML_ELEMENT_NODE)
            continue;
        bool known;
        if (content_section(p, s, c, system, hw, &known) < 0)
            return -1;
        if (known)
            continue;
        if (!system && (ovf_is(s, NS_OVF, "VirtualSystem") ||
                        ovf_is(s, NS_OVF, "VirtualSystemCollection"))) {
            json_t *child;
            if (parse_content(p, s, depth + 1, &child) < 0)
                return -1;
            json_array_append_new(json_object_get(c, "children"), child);
        } else if (engine_setting(s)) {
            if (engine_settings++ == 0)
                first_setting = s;
        } else if (ovf_unsupported(p, s, ovf_element_name(s, name, sizeof(name)),
                                   "a section cimid does not implement") < 0)
            return -1;
    }
    if (engine_settings) {
        char what[200];
        snprintf(what, sizeof(what), "%d elements of %s '%s' from %s on", engine_settings,
                 system ? "VirtualSystem" : "VirtualSystemCollection",
                 json_string_value(json_object_get(c, "id")), (const char *)first_setting->name);
        json_array_append_new(p->skipped,
                              json_pack("{s:s, s:I, s:s}", "element", what, "line",
                                        (json_int_t)xmlGetLineNo(first_setting), "reason",
                                        "settings of the exporting tool (no OVF sections)"));
    }
    return 0;
}

static size_t systems_seen(const json_t *c)
{
    if (strcmp(json_string_value(json_object_get(c, "kind")), "system") == 0)
        return 1;
    size_t i, n = 0;
    json_t *child;
    json_array_foreach(json_object_get(c, "children"), i, child)
        n += systems_seen(child);
    return n;
}

static int parse_content(struct ovf_parse *p, const xmlNode *n, int depth, json_t **out)
{
    bool system = ovf_is(n, NS_OVF, "VirtualSystem");
    char *id = ovf_attr(n, "id");

    if (depth > OVF_MAX_DEPTH) {
        free(id);
        return ovf_fail(p, n, "collections nested deeper than %d", OVF_MAX_DEPTH);
    }
    if (!id) /* VirtualBox writes collections with ovf:name only */
        id = ovf_attr(n, "name");
    if (!id) {
        return ovf_fail(p, n, "a %s needs ovf:id", (const char *)n->name);
    }
    json_t *c = json_pack("{s:s, s:s}", "kind", system ? "system" : "collection", "id", id);
    free(id);
    if (!system)
        json_object_set_new(c, "children", json_array());
    if (parse_children(p, n, c, system, depth) < 0) {
        json_decref(c);
        return -1;
    }
    if (!system && json_array_size(json_object_get(c, "children")) == 0) {
        json_decref(c);
        return ovf_fail(p, n, "an empty VirtualSystemCollection");
    }
    if (systems_seen(c) > OVF_MAX_SYSTEMS) {
        json_decref(c);
        return ovf_fail(p, n, "more than %d VirtualSystems", OVF_MAX_SYSTEMS);
    }
    *out = c;
    return 0;
}

/* ---- cross references ---- */

static bool has_id(const json_t *list, const char *key, const char *id)
{
    size_t i;
    json_t *e;
    json_array_foreach(list, i, e)
        if (strcmp(json_string_value(json_object_get(e, key)), id) == 0)
            return true;
    return false;
}

const char *ovf_file_href(const json_t *model, const char *file_id)
{
    size_t i;
    json_t *f;
    json_array_foreach(json_object_get(model, "files"), i, f)
        if (strcmp(json_string_value(json_object_get(f, "id")), file_id) == 0)
            return json_string_value(json_object_get(f, "href"));
    return NULL;
}

/* Every drive names a Disk or File, every NIC a Network. */
static int check_references(struct ovf_parse *p, const json_t *c)
{
    size_t i;
    json_t *e;

    if (strcmp(json_string_value(json_object_get(c, "kind")), "collection") == 0) {
        json_array_foreach(json_object_get(c, "children"), i, e)
            if (check_references(p, e) < 0)
                return -1;
        return 0;
    }
    const char *vs = json_string_value(json_object_get(c, "id"));
    json_array_foreach(json_object_get(c, "drives"), i, e) {
        const char *disk = json_string_value(json_object_get(e, "disk"));
        const char *file = json_string_value(json_object_get(e, "file"));
        if (disk && !has_id(json_object_get(p->model, "disks"), "id", disk))
            return err_set(p->err, 400, "source",
                           "OVF descriptor: VirtualSystem '%s': HostResource ovf:/disk/%s names "
                           "no Disk of DiskSection", vs, disk);
        if (file && !ovf_file_href(p->model, file))
            return err_set(p->err, 400, "source",
                           "OVF descriptor: VirtualSystem '%s': HostResource ovf:/file/%s names "
                           "no File of References", vs, file);
    }
    json_array_foreach(json_object_get(c, "nics"), i, e) {
        const char *net = json_string_value(json_object_get(e, "network"));
        if (net && !has_id(json_object_get(p->model, "networks"), "name", net))
            return err_set(p->err, 400, "source",
                           "OVF descriptor: VirtualSystem '%s': Connection '%s' names no "
                           "Network of NetworkSection", vs, net);
    }
    return 0;
}

/* ---- ${property} capacities ---- */

static const json_t *property_named(const json_t *c, const char *name)
{
    size_t i;
    json_t *prop, *child;

    json_array_foreach(json_object_get(json_object_get(c, "product"), "properties"), i, prop)
        if (strcmp(json_string_value(json_object_get(prop, "name")), name) == 0 ||
            strcmp(json_string_value(json_object_get(prop, "key")), name) == 0)
            return prop;
    json_array_foreach(json_object_get(c, "children"), i, child)
        if ((prop = (json_t *)property_named(child, name)))
            return prop;
    return NULL;
}

/* Each Disk whose capacity is ${name} gets the value of that Property (in
 * the Disk's units); "capacityProperty" becomes the Property's full key
 * (an import's ovf.property.<key> may change it). */
static int resolve_capacities(struct ovf_parse *p)
{
    size_t i;
    json_t *d;

    json_array_foreach(json_object_get(p->model, "disks"), i, d) {
        const char *name = json_string_value(json_object_get(d, "capacityProperty"));
        if (!name)
            continue;
        const json_t *prop = property_named(json_object_get(p->model, "content"), name);
        const char *value = json_string_value(json_object_get(prop, "value"));
        uint64_t bytes;
        if (!value || ovf_quantity(value, json_string_value(json_object_get(d, "capacityUnits")),
                                   OVF_UNIT_BYTE, 1, &bytes) != 0)
            return err_set(p->err, 400, "source", "OVF descriptor line %lld, Disk %s: capacity "
                           "${%s} names no Property with a size as its value",
                           json_integer_value(json_object_get(d, "line")),
                           json_string_value(json_object_get(d, "id")), name);
        json_object_set_new(d, "capacity", json_integer((json_int_t)(bytes > INT64_MAX ? INT64_MAX : bytes)));
        json_object_set(d, "capacityProperty", json_object_get(prop, "key"));
        json_object_del(d, "line");
    }
    return 0;
}

/* ---- document ---- */

static void refuse_doctype(void *ctx, const xmlChar *name, const xmlChar *ext, const xmlChar *sys)
{
    xmlParserCtxtPtr ctxt = ctx;
    (void)name, (void)ext, (void)sys;
    *(bool *)ctxt->_private = true;
    xmlStopParser(ctxt);
}

static xmlDocPtr read_document(const char *xml, size_t len, struct cimi_error *err)
{
    bool doctype = false;

    if (len > OVF_MAX_DESCRIPTOR || len > INT_MAX) {
        err_set(err, 400, "source", "the OVF descriptor is larger than %u bytes",
                OVF_MAX_DESCRIPTOR);
        return NULL;
    }
    xmlParserCtxtPtr ctxt = xmlCreateMemoryParserCtxt(xml, (int)len);
    if (!ctxt) {
        err_set(err, 400, "source", "the OVF descriptor is empty");
        return NULL;
    }
    ctxt->sax->internalSubset = refuse_doctype;
    ctxt->_private = &doctype;
    xmlCtxtUseOptions(ctxt, XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
    xmlParseDocument(ctxt);
    xmlDocPtr doc = ctxt->myDoc;
    ctxt->myDoc = NULL;
    if (doctype)
        err_set(err, 400, "source", "the OVF descriptor has a DOCTYPE (not allowed)");
    else if (!ctxt->wellFormed || !doc) {
        const xmlError *e = xmlCtxtGetLastError(ctxt);
        char msg[256] = "empty or unreadable";
        if (e && e->message)
            snprintf(msg, sizeof(msg), "%s", e->message);
        msg[strcspn(msg, "\n")] = 0;
        err_set(err, 400, "source", "the OVF descriptor is not well-formed XML (line %d: %s)",
                e ? e->line : 0, msg);
    }
    if ((doctype || !ctxt->wellFormed) && doc) {
        xmlFreeDoc(doc);
        doc = NULL;
    }
    xmlFreeParserCtxt(ctxt);
    return doc;
}

static int parse_envelope(struct ovf_parse *p, const xmlNode *env, const char *wanted_option)
{
    const xmlNode *content = NULL;
    char *option = NULL;
    char name[128];
    int rc = 0;

    for (const xmlNode *n = env->children; n; n = n->next)
        if (ovf_is(n, NS_OVF, "DeploymentOptionSection") &&
            deployment_options(p, n, wanted_option, &option) < 0)
            return -1;
    if (wanted_option && !option)
        return err_set(p->err, 400, "ovf.deploymentOption",
                       "the package has no DeploymentOptionSection");
    p->option = option;
    for (const xmlNode *n = env->children; n && rc == 0; n = n->next) {
        if (n->type != XML_ELEMENT_NODE)
            continue;
        if (ovf_is(n, NS_OVF, "References"))
            rc = references(p, n);
        else if (ovf_is(n, NS_OVF, "DiskSection"))
            rc = disk_section(p, n);
        else if (ovf_is(n, NS_OVF, "NetworkSection"))
            rc = network_section(p, n);
        else if (ovf_is(n, NS_OVF, "DeploymentOptionSection") || ovf_is(n, NS_OVF, "Strings"))
            continue;
        else if (ovf_is(n, NS_OVF, "VirtualSystem") ||
                 ovf_is(n, NS_OVF, "VirtualSystemCollection")) {
            if (content)
                rc = ovf_fail(p, n, "an Envelope holds one VirtualSystem or collection");
            content = n;
        } else
            rc = ovf_unsupported(p, n, ovf_element_name(n, name, sizeof(name)),
                                 "a section cimid does not implement");
    }
    if (rc == 0 && !content)
        rc = ovf_fail(p, env, "the Envelope has no VirtualSystem");
    json_t *tree = NULL;
    if (rc == 0 && (rc = parse_content(p, content, 0, &tree)) == 0)
        json_object_set_new(p->model, "content", tree);
    if (rc == 0)
        rc = resolve_capacities(p);
    if (rc == 0 && option)
        json_object_set_new(p->model, "deploymentOption", json_string(option));
    free(option);
    p->option = NULL;
    return rc == 0 ? check_references(p, json_object_get(p->model, "content")) : -1;
}

json_t *ovf_parse(const char *xml, size_t len, const char *deployment_option,
                  struct cimi_error *err)
{
    xmlDocPtr doc = read_document(xml, len, err);
    if (!doc)
        return NULL;
    const xmlNode *root = xmlDocGetRootElement(doc);
    struct ovf_parse p = {.err = err};
    int rc = 0;

    if (!root || strcmp((const char *)root->name, "Envelope") != 0)
        rc = err_set(err, 400, "source", "the OVF descriptor's root is not an Envelope");
    else if (root->ns && strcmp((const char *)root->ns->href, OVF_09_NS) == 0)
        rc = err_set(err, 400, "source", "OVF 0.9 descriptors are not supported (OVF 1.x, 2.x)");
    else if (ovf_ns_of(root) != NS_OVF)
        rc = err_set(err, 400, "source", "unknown OVF envelope namespace '%s'",
                     root->ns ? (const char *)root->ns->href : "");
    if (rc == 0) {
        bool v2 = strstr((const char *)root->ns->href, "/envelope/2") != NULL;
        p.ovirt = xmlSearchNsByHref(doc, (xmlNode *)root,
                                    (const xmlChar *)"http://www.ovirt.org/ovf") != NULL;
        p.model = json_pack("{s:s, s:[], s:[], s:[], s:[]}", "version", v2 ? "2" : "1", "files",
                            "disks", "networks", "skipped");
        p.skipped = json_object_get(p.model, "skipped");
        rc = parse_envelope(&p, root, deployment_option);
    }
    xmlFreeDoc(doc);
    if (rc < 0) {
        json_decref(p.model);
        return NULL;
    }
    return p.model;
}
