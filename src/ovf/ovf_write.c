/*
 * ovf_write.c - an OVF 1.x descriptor (DSP0243, valid against
 * dsp8023_1.1.1.xsd) from the neutral package description of ovf_write.h.
 *
 * CIMI -> OVF (docs/OVF.md, ../shared/spec/ovf.md §4): a System is a
 * VirtualSystemCollection (nested Systems nest) with a StartupSection in
 * member order, a one-Machine System a bare VirtualSystem; a Machine is a
 * VirtualSystem with Items 3 (CPU), 4 (memory, byte * 2^20 rounded up), one
 * SCSI controller, an Item 17 per disk or volume (AddressOnParent in boot
 * order), an Item 10 per NIC (Connection = the network's name, no MAC) and
 * an optional video Item; the networks used form the NetworkSection; names,
 * descriptions and properties go to Name, AnnotationSection and
 * ProductSection.  InstanceIDs are integers (virt-v2v parses Parent as
 * one), RASD children come in the xsd's alphabetical order, attributes are
 * ovf:-prefixed.
 */
#include "ovf/ovf_write.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <libxml/xmlwriter.h>

#define NS_OVF "http://schemas.dmtf.org/ovf/envelope/1"
#define NS_RASD "http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_ResourceAllocationSettingData"
#define NS_VSSD "http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_VirtualSystemSettingData"
#define FORMAT_VMDK "http://www.vmware.com/interfaces/specifications/vmdk.html#streamOptimized"
#define FORMAT_QCOW2 "http://www.gnome.org/~markmc/qcow-image-format.html"
/* SCSI units a controller offers; 7 is the HBA's own on VMware. */
#define SCSI_UNITS 16
#define SCSI_HBA_UNIT 7

static int fail(char *why, size_t why_len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(char *why, size_t why_len, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(why, why_len, fmt, ap);
    va_end(ap);
    return -1;
}

static const char *str_of(const json_t *obj, const char *key, const char *dflt)
{
    const char *s = json_string_value(json_object_get(obj, key));

    return s && *s ? s : dflt;
}

static bool is_machine(const json_t *node)
{
    return strcmp(str_of(node, "type", ""), "machine") == 0;
}

static bool profile_kvm(const json_t *pkg)
{
    return strcmp(str_of(pkg, "profile", "portable"), "kvm") == 0;
}

/* ------------------------------------------------------------ preparing */

/* A collection of one machine (and nothing else) exports as the machine. */
static json_t *top_content(const json_t *pkg)
{
    json_t *content = json_object_get(pkg, "content");
    json_t *children = json_object_get(content, "children");

    if (!is_machine(content) && json_array_size(children) == 1 &&
        is_machine(json_array_get(children, 0)))
        return json_array_get(children, 0);
    return content;
}

/* A name made XML- and file-name-safe: letters, digits, '.', '_', '-'. */
static void safe_name(const char *name, char *out, size_t out_len)
{
    size_t n = 0;

    for (const char *p = name; *p && n + 1 < out_len; p++) {
        char c = *p;
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '.' || c == '_' || c == '-';
        out[n++] = ok ? c : '_';
    }
    out[n] = '\0';
    if (n == 0 || out[0] == '.' || out[0] == '-') {
        if (n + 3 > out_len)
            n = out_len - 3;
        memmove(out + 2, out, n);
        memcpy(out, "vs", 2);
        out[n + 2] = '\0';
    }
}

/* A unique ovf:id for node: its safe name, with -2, -3 ... when taken. */
static int assign_id(json_t *node, json_t *taken, char *why, size_t why_len)
{
    char base[48], id[64];

    safe_name(str_of(node, "name", is_machine(node) ? "machine" : "system"), base, sizeof(base));
    snprintf(id, sizeof(id), "%s", base);
    for (int k = 2; json_object_get(taken, id); k++)
        snprintf(id, sizeof(id), "%s-%d", base, k);
    if (json_object_set_new(taken, id, json_true()) != 0 ||
        json_object_set_new(node, "ovfId", json_string(id)) != 0)
        return fail(why, why_len, "out of memory");
    return 0;
}

static int prepare_disks(json_t *node, const char *ext, char *why, size_t why_len)
{
    json_t *disks = json_object_get(node, "disks"), *disk;
    const char *id = str_of(node, "ovfId", "");
    size_t i;

    if (disks && !json_is_array(disks))
        return fail(why, why_len, "machine %s: disks is not a list", id);
    if (json_array_size(disks) > SCSI_UNITS - 1)
        return fail(why, why_len, "machine %s: more than %d disks", id, SCSI_UNITS - 1);
    json_array_foreach(disks, i, disk) {
        char href[OVA_NAME_MAX + 1];

        if (!json_is_object(disk) || json_integer_value(json_object_get(disk, "capacity")) <= 0)
            return fail(why, why_len, "machine %s: disk %zu has no capacity", id, i + 1);
        if (!json_object_get(disk, "source"))
            continue;
        /* id is at most 63 bytes, so href stays within the tar name field. */
        snprintf(href, sizeof(href), "%s-disk%zu.%s", id, i + 1, ext);
        if (json_object_set_new(disk, "href", json_string(href)) != 0)
            return fail(why, why_len, "out of memory");
    }
    return 0;
}

static int prepare_node(json_t *node, const char *ext, json_t *taken, int depth, char *why,
                        size_t why_len)
{
    json_t *children, *child;
    size_t i;

    if (!json_is_object(node) || depth > 16)
        return fail(why, why_len, "malformed or too deeply nested system");
    if (assign_id(node, taken, why, why_len) != 0)
        return -1;
    if (is_machine(node))
        return prepare_disks(node, ext, why, why_len);
    children = json_object_get(node, "children");
    json_array_foreach(children, i, child)
        if (prepare_node(child, ext, taken, depth + 1, why, why_len) != 0)
            return -1;
    return 0;
}

int ovf_prepare(json_t *pkg, const char *ext, char *why, size_t why_len)
{
    json_t *taken = json_object(), *content = json_object_get(pkg, "content");
    json_t *top = top_content(pkg);
    int rc;

    if (!json_is_object(content)) {
        json_decref(taken);
        return fail(why, why_len, "the package has no content");
    }
    /* Only what is written gets an id; a one-machine System is its machine. */
    rc = prepare_node(top, ext, taken, 0, why, why_len);
    if (rc == 0 && top != content)
        json_object_set(content, "ovfId", json_object_get(top, "ovfId"));
    json_decref(taken);
    return rc;
}

static void collect_files(const json_t *node, json_t *out)
{
    json_t *item;
    size_t i;

    json_array_foreach(json_object_get(node, "disks"), i, item)
        if (json_object_get(item, "href"))
            json_array_append(out, item);
    json_array_foreach(json_object_get(node, "children"), i, item)
        collect_files(item, out);
}

json_t *ovf_files(const json_t *pkg)
{
    json_t *out = json_array();

    if (out)
        collect_files(top_content(pkg), out);
    return out;
}

/* ------------------------------------------------------------ writing */

struct out {
    xmlTextWriterPtr w;
    const json_t *pkg;
    int rc; /* < 0 once a libxml2 call failed */
};

static void chk(struct out *o, int rc)
{
    if (rc < 0)
        o->rc = -1;
}

static void start(struct out *o, const char *name)
{
    chk(o, xmlTextWriterStartElement(o->w, BAD_CAST name));
}

static void end(struct out *o)
{
    chk(o, xmlTextWriterEndElement(o->w));
}

static void element(struct out *o, const char *name, const char *text)
{
    chk(o, xmlTextWriterWriteElement(o->w, BAD_CAST name, BAD_CAST text));
}

static void attr(struct out *o, const char *name, const char *value)
{
    chk(o, xmlTextWriterWriteAttribute(o->w, BAD_CAST name, BAD_CAST value));
}

static void attr_int(struct out *o, const char *name, long long value)
{
    chk(o, xmlTextWriterWriteFormatAttribute(o->w, BAD_CAST name, "%lld", value));
}

static void section(struct out *o, const char *name, const char *info)
{
    start(o, name);
    element(o, "Info", info);
}

/* Capacity as the largest exact "byte * 2^(10k)" unit. */
static void write_capacity(struct out *o, long long bytes)
{
    static const char *units[] = {"byte", "byte * 2^10", "byte * 2^20", "byte * 2^30",
                                  "byte * 2^40"};
    int k = 0;

    while (k < 4 && bytes % (1LL << (10 * (k + 1))) == 0)
        k++;
    attr_int(o, "ovf:capacity", bytes >> (10 * k));
    attr(o, "ovf:capacityAllocationUnits", units[k]);
}

static void write_references(struct out *o, const json_t *files)
{
    json_t *disk;
    size_t i;

    start(o, "References");
    json_array_foreach(files, i, disk) {
        char id[32];

        snprintf(id, sizeof(id), "file%zu", i + 1);
        start(o, "File");
        attr(o, "ovf:href", str_of(disk, "href", ""));
        attr(o, "ovf:id", id);
        if (json_object_get(disk, "size"))
            attr_int(o, "ovf:size", json_integer_value(json_object_get(disk, "size")));
        end(o);
    }
    end(o);
}

static void write_disk(struct out *o, const json_t *node, const json_t *disk, size_t index,
                       const json_t *files)
{
    char id[96];
    json_t *f;
    size_t i;

    snprintf(id, sizeof(id), "%s-disk%zu", str_of(node, "ovfId", ""), index + 1);
    start(o, "Disk");
    write_capacity(o, json_integer_value(json_object_get(disk, "capacity")));
    attr(o, "ovf:diskId", id);
    json_array_foreach(files, i, f) {
        if (f == disk) {
            char ref[32];

            snprintf(ref, sizeof(ref), "file%zu", i + 1);
            attr(o, "ovf:fileRef", ref);
            attr(o, "ovf:format", profile_kvm(o->pkg) ? FORMAT_QCOW2 : FORMAT_VMDK);
        }
    }
    if (json_object_get(disk, "populatedSize"))
        attr_int(o, "ovf:populatedSize",
                 json_integer_value(json_object_get(disk, "populatedSize")));
    end(o);
}

static void write_disks_of(struct out *o, const json_t *node, const json_t *files)
{
    json_t *item;
    size_t i;

    json_array_foreach(json_object_get(node, "disks"), i, item)
        write_disk(o, node, item, i, files);
    json_array_foreach(json_object_get(node, "children"), i, item)
        write_disks_of(o, item, files);
}

static bool has_disks(const json_t *node)
{
    json_t *child;
    size_t i;

    if (json_array_size(json_object_get(node, "disks")) > 0)
        return true;
    json_array_foreach(json_object_get(node, "children"), i, child)
        if (has_disks(child))
            return true;
    return false;
}

/* The networks named by NICs, in order, with the descriptions the package
 * gives them. */
static void used_networks(const json_t *node, json_t *names)
{
    json_t *item;
    size_t i;

    json_array_foreach(json_object_get(node, "nics"), i, item) {
        const char *net = str_of(item, "network", NULL);
        if (net && !json_object_get(names, net))
            json_object_set_new(names, net, json_true());
    }
    json_array_foreach(json_object_get(node, "children"), i, item)
        used_networks(item, names);
}

static void write_networks(struct out *o, const json_t *top)
{
    json_t *names = json_object(), *net;
    const char *name;
    char text[640];
    size_t i;

    json_array_foreach(json_object_get(o->pkg, "networks"), i, net)
        if (str_of(net, "name", NULL))
            json_object_set_new(names, str_of(net, "name", ""), json_true());
    used_networks(top, names);
    if (json_object_size(names) > 0) {
        section(o, "NetworkSection", "Logical networks");
        json_object_foreach(names, name, net) {
            const char *desc = NULL;
            json_t *n;

            json_array_foreach(json_object_get(o->pkg, "networks"), i, n)
                if (strcmp(str_of(n, "name", ""), name) == 0)
                    desc = str_of(n, "description", NULL);
            if (desc)
                snprintf(text, sizeof(text), "%s", desc);
            else
                snprintf(text, sizeof(text), "CIMI Network %s", name);
            start(o, "Network");
            attr(o, "ovf:name", name);
            element(o, "Description", text);
            end(o);
        }
        end(o);
    }
    json_decref(names);
}

/* AnnotationSection (description) and ProductSection (name, properties). */
static void write_product(struct out *o, const json_t *node)
{
    const char *desc = str_of(node, "description", NULL), *key;
    json_t *props = json_object_get(node, "properties"), *value;

    if (desc) {
        section(o, "AnnotationSection", "Description");
        element(o, "Annotation", desc);
        end(o);
    }
    section(o, "ProductSection", "What CIMI knows of this component");
    element(o, "Product", str_of(node, "name", str_of(node, "ovfId", "")));
    json_object_foreach(props, key, value) {
        if (!json_is_string(value))
            continue;
        start(o, "Property");
        attr(o, "ovf:key", key);
        attr(o, "ovf:type", "string");
        attr(o, "ovf:value", json_string_value(value));
        end(o);
    }
    end(o);
}

/* One RASD Item: pairs of (element, value) in the xsd's alphabetical order,
 * NULL-terminated; a NULL value skips its element. */
static void write_item(struct out *o, bool required, ...)
{
    va_list ap;
    const char *name;

    start(o, "Item");
    if (!required)
        attr(o, "ovf:required", "false");
    va_start(ap, required);
    while ((name = va_arg(ap, const char *)) != NULL) {
        const char *value = va_arg(ap, const char *);
        char qname[64];

        if (!value)
            continue;
        snprintf(qname, sizeof(qname), "rasd:%s", name);
        element(o, qname, value);
    }
    va_end(ap);
    end(o);
}

static void write_storage(struct out *o, const json_t *node, int *next_id)
{
    char ctrl[16], inst[16], unit[16], host[160], label[160];
    json_t *disk;
    size_t i;
    int u = 0;

    snprintf(ctrl, sizeof(ctrl), "%d", (*next_id)++);
    write_item(o, true, "Address", "0", "ElementName", "SCSI 0", "InstanceID", ctrl,
               "ResourceSubType", profile_kvm(o->pkg) ? "virtio-scsi" : "lsilogic",
               "ResourceType", "6", NULL);
    json_array_foreach(json_object_get(node, "disks"), i, disk) {
        const char *volume = str_of(disk, "volume", NULL);

        if (u == SCSI_HBA_UNIT)
            u++;
        snprintf(inst, sizeof(inst), "%d", (*next_id)++);
        snprintf(unit, sizeof(unit), "%d", u++);
        snprintf(host, sizeof(host), "ovf:/disk/%s-disk%zu", str_of(node, "ovfId", ""), i + 1);
        if (volume)
            snprintf(label, sizeof(label), "Disk %zu (Volume %s)", i + 1, volume);
        else
            snprintf(label, sizeof(label), "Disk %zu", i + 1);
        write_item(o, true, "AddressOnParent", unit, "ElementName", label, "HostResource", host,
                   "InstanceID", inst, "Parent", ctrl, "ResourceType", "17", NULL);
    }
}

static void write_hardware(struct out *o, const json_t *node)
{
    char inst[16], qty[32], label[32];
    long long kib = json_integer_value(json_object_get(node, "memory"));
    long long cpu = json_integer_value(json_object_get(node, "cpu"));
    int next_id = 1;
    json_t *nic;
    size_t i;

    section(o, "VirtualHardwareSection", "Virtual hardware");
    start(o, "System");
    element(o, "vssd:ElementName", "Virtual Hardware Family");
    element(o, "vssd:InstanceID", "0");
    element(o, "vssd:VirtualSystemIdentifier", str_of(node, "ovfId", ""));
    element(o, "vssd:VirtualSystemType", "vmx-13");
    end(o);
    snprintf(inst, sizeof(inst), "%d", next_id++);
    snprintf(qty, sizeof(qty), "%lld", cpu > 0 ? cpu : 1);
    write_item(o, true, "AllocationUnits", "hertz * 10^6", "ElementName", "CPU", "InstanceID",
               inst, "ResourceType", "3", "VirtualQuantity", qty, NULL);
    snprintf(inst, sizeof(inst), "%d", next_id++);
    snprintf(qty, sizeof(qty), "%lld", kib > 0 ? (kib + 1023) / 1024 : 1);
    write_item(o, true, "AllocationUnits", "byte * 2^20", "ElementName", "Memory", "InstanceID",
               inst, "ResourceType", "4", "VirtualQuantity", qty, NULL);
    write_storage(o, node, &next_id);
    json_array_foreach(json_object_get(node, "nics"), i, nic) {
        snprintf(inst, sizeof(inst), "%d", next_id++);
        snprintf(label, sizeof(label), "NIC %zu", i + 1);
        write_item(o, true, "AutomaticAllocation", "true", "Connection",
                   str_of(nic, "network", NULL), "ElementName", label, "InstanceID", inst,
                   "ResourceSubType", profile_kvm(o->pkg) ? "virtio" : "E1000", "ResourceType",
                   "10", NULL);
    }
    snprintf(inst, sizeof(inst), "%d", next_id++);
    write_item(o, false, "ElementName", "Video", "InstanceID", inst, "ResourceType", "24", NULL);
    end(o);
}

/* OperatingSystemSection: CIMI knows the architecture only (CIM OsType
 * 102 "Other 64-bit", 1 "Other"). */
static void write_os(struct out *o, const json_t *node)
{
    const char *arch = str_of(node, "cpuArch", "x86_64");
    bool wide = strstr(arch, "64") != NULL;

    start(o, "OperatingSystemSection");
    attr(o, "ovf:id", wide ? "102" : "1");
    element(o, "Info", "Guest operating system");
    end(o);
}

static void write_node(struct out *o, const json_t *node);

static void write_startup(struct out *o, const json_t *children)
{
    json_t *child;
    size_t i;

    section(o, "StartupSection", "Start order of the members");
    json_array_foreach(children, i, child) {
        start(o, "Item");
        attr(o, "ovf:id", str_of(child, "ovfId", ""));
        attr_int(o, "ovf:order", (long long)i + 1);
        attr(o, "ovf:stopAction", "guestShutdown");
        end(o);
    }
    end(o);
}

static void write_node(struct out *o, const json_t *node)
{
    const char *id = str_of(node, "ovfId", "");
    char info[160];
    json_t *children = json_object_get(node, "children"), *child;
    size_t i;

    start(o, is_machine(node) ? "VirtualSystem" : "VirtualSystemCollection");
    attr(o, "ovf:id", id);
    snprintf(info, sizeof(info), "CIMI %s %s", is_machine(node) ? "Machine" : "System",
             str_of(node, "name", id));
    element(o, "Info", info);
    element(o, "Name", str_of(node, "name", id));
    write_product(o, node);
    if (is_machine(node)) {
        write_os(o, node);
        write_hardware(o, node);
    } else {
        if (json_array_size(children) > 0)
            write_startup(o, children);
        json_array_foreach(children, i, child)
            write_node(o, child);
    }
    end(o);
}

static void write_envelope(struct out *o, const json_t *top, const json_t *files)
{
    chk(o, xmlTextWriterStartDocument(o->w, "1.0", "UTF-8", NULL));
    start(o, "Envelope");
    attr(o, "xmlns", NS_OVF);
    attr(o, "xmlns:ovf", NS_OVF);
    attr(o, "xmlns:rasd", NS_RASD);
    attr(o, "xmlns:vssd", NS_VSSD);
    write_references(o, files);
    if (has_disks(top)) {
        section(o, "DiskSection", "Virtual disks");
        write_disks_of(o, top, files);
        end(o);
    }
    write_networks(o, top);
    write_node(o, top);
    end(o);
    chk(o, xmlTextWriterEndDocument(o->w));
}

int ovf_write_descriptor(const json_t *pkg, char **xml, size_t *len, char *why, size_t why_len)
{
    const json_t *top = top_content(pkg);
    xmlBufferPtr buf = xmlBufferCreate();
    json_t *files = ovf_files(pkg);
    struct out o = {.pkg = pkg};

    *xml = NULL;
    if (!json_is_object(top) || !str_of(top, "ovfId", NULL)) {
        xmlBufferFree(buf);
        json_decref(files);
        return fail(why, why_len, "the package is not prepared (ovf_prepare)");
    }
    o.w = buf && files ? xmlNewTextWriterMemory(buf, 0) : NULL;
    if (!o.w) {
        xmlBufferFree(buf);
        json_decref(files);
        return fail(why, why_len, "out of memory");
    }
    xmlTextWriterSetIndent(o.w, 1);
    xmlTextWriterSetIndentString(o.w, BAD_CAST " ");
    write_envelope(&o, top, files);
    xmlFreeTextWriter(o.w);
    json_decref(files);
    if (o.rc == 0) {
        *len = (size_t)xmlBufferLength(buf);
        *xml = strndup((const char *)xmlBufferContent(buf), *len);
    }
    xmlBufferFree(buf);
    if (!*xml)
        return fail(why, why_len, "could not write the OVF descriptor");
    return 0;
}
