/*
 * ovf_hardware.c - one VirtualHardwareSection into a system's document of
 * the neutral model (ovf.h): CPU, memory, controllers, drives, NICs and the
 * devices cimid accepts without mapping (USB, graphics).  Item types 3, 4,
 * 5, 6, 10, 14, 15, 16, 17, 20, 23, 24 (Item, StorageItem, EthernetPortItem);
 * any other type, an unsupported controller subtype (BusLogic, NVMe) or a
 * vendor element cimid does not know fails the import when required and is
 * skipped (listed) when ovf:required="false".
 */
#include <regex.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "ovf/ovf_xml.h"

/* Controller subtypes (case-insensitive) -> bus and libvirt model. */
static const struct subtype {
    int type;
    const char *subtype;  /* NULL: no ResourceSubType */
    const char *bus, *model;
} subtypes[] = {
    {5, NULL, "ide", NULL},
    {5, "PIIX3", "ide", NULL},
    {5, "PIIX4", "ide", NULL},
    {6, NULL, "scsi", "lsilogic"},
    {6, "lsilogic", "scsi", "lsilogic"},
    {6, "lsilogicsas", "scsi", "lsisas1068"},
    {6, "VirtualSCSI", "scsi", "vmpvscsi"},
    {6, "virtio-scsi", "virtio-scsi", "virtio-scsi"},
    {6, "VirtioSCSI", "virtio-scsi", "virtio-scsi"},
    {20, NULL, "sata", NULL},
    {20, "AHCI", "sata", NULL},
    {20, "vmware.sata.ahci", "sata", NULL},
    {20, "VirtioSCSI", "virtio-scsi", "virtio-scsi"},
    {20, "virtio-scsi", "virtio-scsi", "virtio-scsi"},
};

/* NIC subtypes -> libvirt model; no subtype -> e1000. */
static const struct nic_model {
    const char *subtype, *model;
} nic_models[] = {
    {"E1000", "e1000"},     {"E1000e", "e1000e"},   {"VmxNet3", "vmxnet3"},
    {"PCNet32", "pcnet"},   {"virtio", "virtio"},   {"VirtioNet", "virtio"},
    {"vmxnet", "vmxnet3"},  {"rtl8139", "rtl8139"}, {"Am79C973", "pcnet"},
    {"Am79C970A", "pcnet"}, {"I82540EM", "e1000"},  {"I82543GC", "e1000"},
    {"I82545EM", "e1000"},
    /* oVirt writes its VmInterfaceType numbers */
    {"0", "rtl8139"},       {"1", "rtl8139"},       {"2", "e1000"},
    {"3", "virtio"},        {"6", "e1000e"},
};

struct item {
    const xmlNode *node;
    int type;
    char *instance, *subtype, *element_name;
};

static void item_free(struct item *it)
{
    free(it->instance);
    free(it->subtype);
    free(it->element_name);
}

/* "Item 'SCSI 0' (ResourceType 6)" */
static const char *item_label(const struct item *it, char *buf, size_t len)
{
    snprintf(buf, len, "Item '%s' (ResourceType %d)", it->element_name ? it->element_name : "?",
             it->type);
    return buf;
}

static int set_uint(struct ovf_parse *p, json_t *o, const char *key, const char *value,
                    const char *units, enum ovf_unit_base base, uint64_t dflt,
                    const xmlNode *n, const char *what)
{
    uint64_t v;

    if (!value)
        return 0;
    if (ovf_quantity(value, units, base, dflt, &v) < 0)
        return ovf_fail(p, n, "%s '%s' with units '%s' is not a quantity cimid understands",
                        what, value, units ? units : "");
    json_object_set_new(o, key, json_integer((json_int_t)(v > INT64_MAX ? INT64_MAX : v)));
    return 0;
}

static int cpu_item(struct ovf_parse *p, const struct item *it, json_t *sys)
{
    char *q = ovf_child_text(it->node, "VirtualQuantity");
    char *units = ovf_child_text(it->node, "AllocationUnits");
    char *res = ovf_child_text(it->node, "Reservation");
    char *lim = ovf_child_text(it->node, "Limit");
    char *weight = ovf_child_text(it->node, "Weight");
    char *cores = ovf_child_text(it->node, "CoresPerSocket");
    uint64_t n = 0;
    int rc = 0;

    if (!q || ovf_quantity(q, NULL, OVF_UNIT_BYTE, 1, &n) < 0 || n == 0 || n > 4096)
        rc = ovf_fail(p, it->node, "the CPU Item's VirtualQuantity '%s' is not a count",
                      q ? q : "");
    else
        json_object_set_new(sys, "cpu", json_integer((json_int_t)n));
    /* frequencies are MHz unless units say otherwise */
    uint64_t per_mhz = 1;
    const char *u = units && units[0] ? units : NULL;
    if (rc == 0 && u) {
        uint64_t mult;
        if (ovf_units(u, OVF_UNIT_HERTZ, &mult) < 0)
            u = NULL; /* units of the count, not of a frequency */
        else
            per_mhz = mult;
    }
    if (rc == 0 && res)
        rc = set_uint(p, sys, "cpuReservationMhz", res, NULL, OVF_UNIT_HERTZ,
                      per_mhz >= 1000000 ? per_mhz / 1000000 : 1, it->node, "Reservation");
    if (rc == 0 && lim)
        rc = set_uint(p, sys, "cpuLimitMhz", lim, NULL, OVF_UNIT_HERTZ,
                      per_mhz >= 1000000 ? per_mhz / 1000000 : 1, it->node, "Limit");
    if (rc == 0 && weight)
        rc = set_uint(p, sys, "cpuShares", weight, NULL, OVF_UNIT_BYTE, 1, it->node, "Weight");
    if (rc == 0 && cores)
        rc = set_uint(p, sys, "coresPerSocket", cores, NULL, OVF_UNIT_BYTE, 1, it->node,
                      "CoresPerSocket");
    free(q), free(units), free(res), free(lim), free(weight), free(cores);
    return rc;
}

static int memory_item(struct ovf_parse *p, const struct item *it, json_t *sys)
{
    char *q = ovf_child_text(it->node, "VirtualQuantity");
    char *units = ovf_child_text(it->node, "AllocationUnits");
    char *vunits = ovf_child_text(it->node, "VirtualQuantityUnits");
    char *lim = ovf_child_text(it->node, "Limit");
    const char *u = units ? units : vunits;
    int rc;

    if (!q)
        rc = ovf_fail(p, it->node, "the memory Item has no VirtualQuantity");
    else
        rc = set_uint(p, sys, "memory", q, u, OVF_UNIT_BYTE, 1 << 20, it->node,
                      "memory VirtualQuantity");
    if (rc == 0 && json_integer_value(json_object_get(sys, "memory")) < (1 << 20))
        rc = ovf_fail(p, it->node, "memory of less than 1 MiB");
    if (rc == 0 && lim)
        rc = set_uint(p, sys, "memoryLimit", lim, u, OVF_UNIT_BYTE, 1 << 20, it->node,
                      "memory Limit");
    free(q), free(units), free(vunits), free(lim);
    return rc;
}

static int controller_item(struct ovf_parse *p, const struct item *it, json_t *sys)
{
    char label[160];
    const struct subtype *found = NULL;

    for (size_t i = 0; i < sizeof(subtypes) / sizeof(subtypes[0]); i++) {
        const struct subtype *s = &subtypes[i];
        if (s->type == it->type &&
            ((!s->subtype && !it->subtype) ||
             (s->subtype && it->subtype && strcasecmp(s->subtype, it->subtype) == 0)))
            found = s;
    }
    const char *bus = found ? found->bus : NULL, *model = found ? found->model : NULL;
    if (!found) {
        char reason[160];
        snprintf(reason, sizeof(reason), "controller subtype '%s' has no QEMU equivalent",
                 it->subtype ? it->subtype : "");
        if (ovf_unsupported(p, it->node, item_label(it, label, sizeof(label)), reason) < 0)
            return -1;
        if (it->type != 20) { /* an optional controller dropped: its drives too */
            json_object_set_new(json_object_get(sys, "dropped"), it->instance, json_true());
            return 0;
        }
        bus = "sata"; /* optional NVMe & co: its disks on SATA */
    }
    json_t *c = json_pack("{s:s, s:s}", "instance", it->instance, "bus", bus);
    if (model)
        json_object_set_new(c, "model", json_string(model));
    char *address = ovf_child_text(it->node, "Address");
    if (address)
        json_object_set_new(c, "address", json_string(address));
    free(address);
    json_array_append_new(json_object_get(sys, "controllers"), c);
    return 0;
}

static const json_t *find_controller(const json_t *sys, const char *instance)
{
    size_t i;
    json_t *c;

    json_array_foreach(json_object_get(sys, "controllers"), i, c)
        if (strcmp(json_string_value(json_object_get(c, "instance")), instance) == 0)
            return c;
    return NULL;
}

/* "ovf:/disk/ID", "/disk/ID", "ovf:/file/ID" -> kind and id. */
static int host_resource(const char *hr, char *kind, size_t kind_len, char *id, size_t id_len)
{
    regex_t re;
    regmatch_t m[4];
    int rc = -1;

    if (regcomp(&re, "^(ovf:)?/(disk|file)/(.+)$", REG_EXTENDED) != 0)
        return -1;
    if (regexec(&re, hr, 4, m, 0) == 0) {
        snprintf(kind, kind_len, "%.*s", (int)(m[2].rm_eo - m[2].rm_so), hr + m[2].rm_so);
        snprintf(id, id_len, "%.*s", (int)(m[3].rm_eo - m[3].rm_so), hr + m[3].rm_so);
        rc = 0;
    }
    regfree(&re);
    return rc;
}

static int drive_item(struct ovf_parse *p, const struct item *it, json_t *sys)
{
    const char *device = it->type == 17 ? "disk" : it->type == 14 ? "floppy" : "cdrom";
    char *parent = ovf_child_text(it->node, "Parent");
    char *unit = ovf_child_text(it->node, "AddressOnParent");
    char *hr = ovf_child_text(it->node, "HostResource");
    char label[160], kind[8], id[OVF_NAME_MAX];
    int rc = 0;

    json_t *d = json_pack("{s:s, s:s}", "instance", it->instance, "device", device);
    const json_t *ctrl = parent ? find_controller(sys, parent) : NULL;
    if (parent && !ctrl && !json_object_get(json_object_get(sys, "dropped"), parent)) {
        free(parent); /* names no Item (oVirt: the image's parent): no controller */
        parent = NULL;
    }
    if (parent && !ctrl)
        rc = ovf_unsupported(p, it->node, item_label(it, label, sizeof(label)),
                             "its Parent controller is not one cimid can honour");
    else if (hr && host_resource(hr, kind, sizeof(kind), id, sizeof(id)) < 0)
        rc = ovf_fail(p, it->node, "HostResource '%s' is not ovf:/disk/ID or ovf:/file/ID", hr);
    else if (!hr && it->type == 17)
        rc = ovf_unsupported(p, it->node, item_label(it, label, sizeof(label)),
                             "a disk Item without HostResource");
    else {
        if (ctrl)
            json_object_set_new(d, "controller", json_string(parent));
        json_object_set_new(d, "bus", json_string(ctrl ? json_string_value(json_object_get(ctrl, "bus"))
                                                       : it->type == 14 ? "fdc" : "ide"));
        if (unit)
            json_object_set_new(d, "unit", json_string(unit));
        if (hr)
            json_object_set_new(d, kind, json_string(id));
        json_array_append(json_object_get(sys, "drives"), d);
        if (hr && it->type != 17) /* the drive is kept; its medium is not imported */
            json_array_append_new(p->skipped,
                                  json_pack("{s:s, s:I, s:s}", "element",
                                            item_label(it, label, sizeof(label)), "line",
                                            (json_int_t)xmlGetLineNo(it->node), "reason",
                                            "the medium of a CD or floppy drive is not imported"));
    }
    json_decref(d);
    free(parent), free(unit), free(hr);
    return rc;
}

static int nic_item(struct ovf_parse *p, const struct item *it, json_t *sys)
{
    const char *model = it->subtype ? NULL : "e1000";
    char label[160];

    for (size_t i = 0; it->subtype && i < sizeof(nic_models) / sizeof(nic_models[0]); i++)
        if (strcasecmp(nic_models[i].subtype, it->subtype) == 0)
            model = nic_models[i].model;
    if (!model) {
        char reason[160];
        snprintf(reason, sizeof(reason), "NIC subtype '%s' has no QEMU equivalent", it->subtype);
        return ovf_unsupported(p, it->node, item_label(it, label, sizeof(label)), reason);
    }
    char *conn = ovf_child_text(it->node, "Connection");
    char *mac = ovf_child_text(it->node, "Address");
    char *auto_alloc = ovf_child_text(it->node, "AutomaticAllocation");
    if (!mac)
        mac = ovf_child_text(it->node, "MACAddress");
    json_t *nic = json_pack("{s:s, s:s, s:b}", "instance", it->instance, "model", model,
                            "connected", !auto_alloc || strcasecmp(auto_alloc, "false") != 0);
    if (conn)
        json_object_set_new(nic, "network", json_string(conn));
    if (mac)
        json_object_set_new(nic, "mac", json_string(mac));
    json_array_append_new(json_object_get(sys, "nics"), nic);
    free(conn), free(mac), free(auto_alloc);
    return 0;
}

static int item_of_type(struct ovf_parse *p, const struct item *it, json_t *sys)
{
    char label[160];

    switch (it->type) {
    case 3:
        return cpu_item(p, it, sys);
    case 4:
        return memory_item(p, it, sys);
    case 5:
    case 6:
    case 20:
        return controller_item(p, it, sys);
    case 14:
    case 15:
    case 16:
    case 17:
        return drive_item(p, it, sys);
    case 10:
        return nic_item(p, it, sys);
    case 23:
    case 24:
        return 0; /* USB controller, graphics: every cimid guest has them */
    case 26:
    case 32768:
        if (p->ovirt)
            return 0; /* oVirt's graphics and monitors */
        /* fall through */
    default:
        if (p->ovirt && it->type == 0) { /* oVirt's other devices: balloon, rng, ... */
            json_array_append_new(p->skipped,
                                  json_pack("{s:s, s:I, s:s}", "element",
                                            item_label(it, label, sizeof(label)), "line",
                                            (json_int_t)xmlGetLineNo(it->node), "reason",
                                            "an oVirt device cimid does not provide"));
            return 0;
        }
        return ovf_unsupported(p, it->node, item_label(it, label, sizeof(label)),
                               "a device type cimid does not provide");
    }
}

/* Vendor elements of an Item (vmw:Config ...): required ones fail. */
static int item_vendor_elements(struct ovf_parse *p, const struct item *it)
{
    char label[200], name[128];

    for (const xmlNode *c = it->node->children; c; c = c->next) {
        if (c->type != XML_ELEMENT_NODE)
            continue;
        enum ovf_ns ns = ovf_ns_of(c);
        /* the Item's own schema; not vendor content: unqualified or OVF-namespace
         * elements (oVirt's device data: Type, Device, BootOrder, ...) */
        if (ns == NS_RASD || ns == NS_SASD || ns == NS_EPASD || ns == NS_OVF || !c->ns ||
            ovf_is(c, NS_VMW, "CoresPerSocket"))
            continue;
        snprintf(label, sizeof(label), "%s in %s", ovf_element_name(c, name, sizeof(name)),
                 item_label(it, (char[160]){0}, 160));
        if (ovf_unsupported(p, c, label, "vendor content cimid does not know") < 0)
            return -1;
    }
    return 0;
}

static int parse_item(struct ovf_parse *p, const xmlNode *n, json_t *sys)
{
    struct item it = {.node = n};
    char *type = ovf_child_text(n, "ResourceType");
    char *bound = ovf_attr(n, "bound");
    int rc = 0;

    it.instance = ovf_child_text(n, "InstanceID");
    if (!it.instance) /* oVirt */
        it.instance = ovf_child_text(n, "InstanceId");
    it.subtype = ovf_child_text(n, "ResourceSubType");
    it.element_name = ovf_child_text(n, "ElementName");
    if (!it.element_name)
        it.element_name = ovf_child_text(n, "Caption");
    char *end = NULL;
    long t = type ? strtol(type, &end, 10) : -1;
    if (!type || *end || t < 0 || t > 65535)
        rc = ovf_fail(p, n, "Item without a valid ResourceType");
    else if (!it.instance)
        rc = ovf_fail(p, n, "Item without InstanceID");
    else if ((bound && strcmp(bound, "normal") != 0) || !ovf_in_configuration(p, n))
        rc = 0; /* min/max bounds, other deployment options */
    else {
        it.type = (int)t;
        rc = item_of_type(p, &it, sys);
        if (rc == 0)
            rc = item_vendor_elements(p, &it);
    }
    free(type), free(bound);
    item_free(&it);
    return rc;
}

/* vmw:Config / vmw:ExtraConfig directly in the section: firmware honoured,
 * the rest required -> fail, optional -> skipped. */
static int vendor_config(struct ovf_parse *p, const xmlNode *n, json_t *sys)
{
    char name[128];

    if (ovf_is(n, NS_VMW, "Config")) {
        char *key = (char *)xmlGetProp(n, (const xmlChar *)"key");
        char *value = (char *)xmlGetProp(n, (const xmlChar *)"value");
        int rc = 0;
        if (key && strcmp(key, "firmware") == 0 && value &&
            (strcmp(value, "efi") == 0 || strcmp(value, "bios") == 0))
            json_object_set_new(sys, "firmware", json_string(value));
        else {
            char what[300];
            snprintf(what, sizeof(what), "vmw:Config key '%s'", key ? key : "");
            rc = ovf_unsupported(p, n, what, "a VMware setting cimid does not apply");
        }
        xmlFree(key);
        xmlFree(value);
        return rc;
    }
    return ovf_unsupported(p, n, ovf_element_name(n, name, sizeof(name)),
                           "vendor content cimid does not know");
}

static int section_system(const xmlNode *n, json_t *sys)
{
    char *type = ovf_child_text(n, "VirtualSystemType");
    if (type)
        json_object_set_new(sys, "systemType", json_string(type));
    free(type);
    return 0;
}

int ovf_parse_hardware(struct ovf_parse *p, const xmlNode *vhs, json_t *sys)
{
    size_t items = 0;

    json_object_set_new(sys, "controllers", json_array());
    json_object_set_new(sys, "dropped", json_object()); /* optional controllers left out */
    json_object_set_new(sys, "drives", json_array());
    json_object_set_new(sys, "nics", json_array());
    /* controllers first: drives name them as Parent, whatever the order */
    for (int pass = 0; pass < 2; pass++) {
        for (const xmlNode *n = vhs->children; n; n = n->next) {
            if (n->type != XML_ELEMENT_NODE)
                continue;
            bool is_item = ovf_is(n, NS_OVF, "Item") || ovf_is(n, NS_OVF, "StorageItem") ||
                           ovf_is(n, NS_OVF, "EthernetPortItem");
            if (is_item && ++items > 2 * OVF_MAX_ITEMS)
                return ovf_fail(p, n, "more than %d Items", OVF_MAX_ITEMS);
            char *type = is_item ? ovf_child_text(n, "ResourceType") : NULL;
            bool controller = type && (!strcmp(type, "5") || !strcmp(type, "6") ||
                                       !strcmp(type, "20"));
            free(type);
            int rc = 0;
            if (is_item && controller == (pass == 0))
                rc = parse_item(p, n, sys);
            else if (pass == 1 && ovf_is(n, NS_OVF, "System"))
                rc = section_system(n, sys);
            else if (pass == 1 && !is_item && !ovf_is(n, NS_OVF, "Info") &&
                     !ovf_is(n, NS_OVF, "System"))
                rc = vendor_config(p, n, sys);
            if (rc < 0)
                return -1;
        }
    }
    json_object_del(sys, "dropped");
    if (!json_object_get(sys, "cpu"))
        json_object_set_new(sys, "cpu", json_integer(1));
    if (!json_object_get(sys, "memory"))
        return ovf_fail(p, vhs, "the VirtualHardwareSection has no memory Item");
    return 0;
}
