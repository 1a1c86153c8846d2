/*
 * network.c - libvirt networks, and machines' interfaces on them.
 *
 * A CIMI Network is the libvirt network "cimi-<uuid>" with the Network's
 * UUID: an isolated bridge (no <forward>: guests on it reach each other and
 * the host's gateway address, nothing else) with the subnet cimid chose and
 * a DHCP range.  Every network has a bridge and a subnet of its own, so two
 * networks (of one tenant or of two) never share a segment.
 *
 * A machine's interface is <interface type='network'> with the MAC cimid
 * chose, and the address cimid allocated to it is a DHCP host reservation
 * (mac -> ip) in the network, so libvirt's own view (net-dumpxml, domiflist)
 * shows exactly what CIMI reports.  The interface is added to the
 * persistent definition and, while the domain runs, live (hot-plug).
 * libvirt's test driver cannot attach devices: there the persistent
 * definition is rewritten with the interface added (virDomainDefineXML over
 * the existing domain), which the running mock keeps for its next start.
 * Every call looks first and changes only what is missing, so all are
 * idempotent.
 *
 * Hosts without a network driver (qemu:///embed) have no libvirt networks;
 * their guests get QEMU user-mode networking (domain_xml.c) and these calls
 * answer 409.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <libxml/xmlstring.h>

#include "driver/local.h"

/* ---- helpers ---- */

static int no_network_driver(struct cimi_error *err)
{
    return err_set(err, 409, NULL, "this host has no libvirt network driver (qemu:///embed): its "
                   "machines use QEMU user-mode networking; private networks need a host such as "
                   "qemu:///system");
}

/* Only what cimid itself writes: digits, dots, hex digits, colons, [a-z0-9]. */
static bool plain_token(const char *s, size_t max)
{
    size_t n = strlen(s);

    if (n == 0 || n >= max)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'z') || s[i] == '.' ||
              s[i] == ':'))
            return false;
    return true;
}

static int check_nic(const struct hv_interface *nic, struct cimi_error *err)
{
    if (!uuid_is_valid(nic->network_uuid))
        return err_set(err, 500, NULL, "invalid network uuid '%s'", nic->network_uuid);
    if (!plain_token(nic->mac, sizeof(nic->mac)) || strlen(nic->mac) != 17)
        return err_set(err, 400, "macAddress", "invalid MAC address '%s'", nic->mac);
    if (nic->ip[0] != '\0' && !plain_token(nic->ip, sizeof(nic->ip)))
        return err_set(err, 500, NULL, "invalid address '%s'", nic->ip);
    return 0;
}

static virNetworkPtr network_lookup(struct hv *hv, const char *uuid, struct cimi_error *err)
{
    virNetworkPtr net;

    if (!uuid_is_valid(uuid)) {
        err_set(err, 404, NULL, "network %s does not exist in the hypervisor", uuid);
        return NULL;
    }
    net = virNetworkLookupByUUIDString(hv->conn, uuid);
    if (net == NULL) {
        virErrorPtr last = virGetLastError();
        if (last != NULL && last->code == VIR_ERR_NO_NETWORK)
            err_set(err, 404, NULL, "network %s does not exist in the hypervisor", uuid);
        else
            libvirt_fail(err);
    }
    return net;
}

/* Parse an XML description (libvirt's); NULL with err. */
static xmlDocPtr parse_xml(char *xml, struct cimi_error *err)
{
    xmlDocPtr doc;

    if (xml == NULL) {
        libvirt_fail(err);
        return NULL;
    }
    doc = xmlReadMemory(xml, (int)strlen(xml), NULL, NULL, XML_PARSE_NONET | XML_PARSE_NOERROR);
    free(xml);
    if (doc == NULL || xmlDocGetRootElement(doc) == NULL) {
        xmlFreeDoc(doc);
        err_set(err, 500, NULL, "cannot read libvirt's XML");
        return NULL;
    }
    return doc;
}

/* The first child element of n named name, or NULL. */
static xmlNodePtr child_named(xmlNodePtr n, const char *name)
{
    for (xmlNodePtr c = n ? n->children : NULL; c != NULL; c = c->next)
        if (c->type == XML_ELEMENT_NODE && xmlStrEqual(c->name, BAD_CAST name))
            return c;
    return NULL;
}

/* Does attribute attr of n equal value? */
static bool prop_is(xmlNodePtr n, const char *attr, const char *value)
{
    xmlChar *v = n ? xmlGetProp(n, BAD_CAST attr) : NULL;
    bool same = v != NULL && xmlStrcasecmp(v, BAD_CAST value) == 0;

    xmlFree(v);
    return same;
}

/* ---- networks ---- */

bool lv_network_supported(struct hv *hv)
{
    if (virConnectNumOfNetworks(hv->conn) >= 0)
        return true;
    virResetLastError();
    return false;
}

static char *network_xml(const struct hv_network_spec *s)
{
    char *xml = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&xml, &len);
    int failed;

    if (f == NULL)
        return NULL;
    fprintf(f, "<network>\n  <name>cimi-%s</name>\n  <uuid>%s</uuid>\n", s->uuid, s->uuid);
    fprintf(f, "  <bridge name='%s' stp='on' delay='0'/>\n", s->bridge);
    if (s->mtu > 0)
        fprintf(f, "  <mtu size='%d'/>\n", s->mtu);
    fprintf(f, "  <ip address='%s' netmask='%s'>\n    <dhcp>\n      <range start='%s' end='%s'/>\n"
               "    </dhcp>\n  </ip>\n</network>\n",
            s->gateway, s->netmask, s->dhcp_start, s->dhcp_end);
    failed = ferror(f);
    if (fclose(f) != 0 || failed) {
        free(xml);
        return NULL;
    }
    return xml;
}

int lv_network_define(struct hv *hv, const struct hv_network_spec *spec, struct cimi_error *err)
{
    virNetworkPtr net;
    char *xml;

    if (!lv_network_supported(hv))
        return no_network_driver(err);
    if (!uuid_is_valid(spec->uuid) || !plain_token(spec->bridge, sizeof(spec->bridge)) ||
        !plain_token(spec->gateway, sizeof(spec->gateway)) ||
        !plain_token(spec->netmask, sizeof(spec->netmask)) ||
        !plain_token(spec->dhcp_start, sizeof(spec->dhcp_start)) ||
        !plain_token(spec->dhcp_end, sizeof(spec->dhcp_end)) || spec->mtu < 0)
        return err_set(err, 500, NULL, "invalid network specification for %s", spec->uuid);
    net = virNetworkLookupByUUIDString(hv->conn, spec->uuid);
    if (net != NULL) {
        virNetworkFree(net);
        return 0;
    }
    xml = network_xml(spec);
    if (xml == NULL)
        return err_set(err, 500, NULL, "out of memory building the network XML");
    net = virNetworkDefineXML(hv->conn, xml);
    free(xml);
    if (net == NULL)
        return libvirt_fail(err);
    virNetworkFree(net);
    return 0;
}

int lv_network_is_active(struct hv *hv, const char *uuid, bool *active, struct cimi_error *err)
{
    virNetworkPtr net;
    int a;

    if (!lv_network_supported(hv))
        return no_network_driver(err);
    net = network_lookup(hv, uuid, err);
    if (net == NULL)
        return -1;
    a = virNetworkIsActive(net);
    virNetworkFree(net);
    if (a < 0)
        return libvirt_fail(err);
    *active = a == 1;
    return 0;
}

int lv_network_set_active(struct hv *hv, const char *uuid, bool active, struct cimi_error *err)
{
    virNetworkPtr net;
    int now, rc = 0;

    if (!lv_network_supported(hv))
        return no_network_driver(err);
    net = network_lookup(hv, uuid, err);
    if (net == NULL)
        return -1;
    now = virNetworkIsActive(net);
    if (now < 0)
        rc = libvirt_fail(err);
    else if (active && now == 0 && virNetworkCreate(net) < 0)
        rc = libvirt_fail(err);
    else if (!active && now == 1 && virNetworkDestroy(net) < 0)
        rc = libvirt_fail(err);
    virNetworkFree(net);
    return rc;
}

int lv_network_undefine(struct hv *hv, const char *uuid, struct cimi_error *err)
{
    virNetworkPtr net;
    int rc;

    if (!lv_network_supported(hv))
        return 0;  /* nothing can exist there */
    net = network_lookup(hv, uuid, err);
    if (net == NULL)
        return err->status == 404 ? (err_clear(err), 0) : -1;
    rc = lv_network_set_active(hv, uuid, false, err);
    if (rc == 0 && virNetworkUndefine(net) < 0)
        rc = libvirt_fail(err);
    virNetworkFree(net);
    return rc;
}

/* ---- DHCP reservations ---- */

/* Is mac reserved in the network's DHCP? 1, 0, -1.  The current definition
 * (live when active) is read: update_host changes both, and the test driver
 * knows no VIR_NETWORK_XML_INACTIVE. */
static int host_reserved(virNetworkPtr net, const char *mac, struct cimi_error *err)
{
    xmlDocPtr doc = parse_xml(virNetworkGetXMLDesc(net, 0), err);
    xmlNodePtr dhcp;
    int found = 0;

    if (doc == NULL)
        return -1;
    dhcp = child_named(child_named(xmlDocGetRootElement(doc), "ip"), "dhcp");
    for (xmlNodePtr h = dhcp ? dhcp->children : NULL; h != NULL && !found; h = h->next)
        if (h->type == XML_ELEMENT_NODE && xmlStrEqual(h->name, BAD_CAST "host") &&
            prop_is(h, "mac", mac))
            found = 1;
    xmlFreeDoc(doc);
    return found;
}

/* Add (or delete) the reservation mac -> ip, persistently and live. */
static int update_host(virNetworkPtr net, const struct hv_interface *nic, bool add,
                       struct cimi_error *err)
{
    unsigned int flags = VIR_NETWORK_UPDATE_AFFECT_CONFIG;
    char xml[128];
    int active = virNetworkIsActive(net);

    if (active < 0)
        return libvirt_fail(err);
    if (active)
        flags |= VIR_NETWORK_UPDATE_AFFECT_LIVE;
    snprintf(xml, sizeof(xml), "<host mac='%s' ip='%s'/>", nic->mac, nic->ip);
    if (virNetworkUpdate(net, add ? VIR_NETWORK_UPDATE_COMMAND_ADD_LAST
                                  : VIR_NETWORK_UPDATE_COMMAND_DELETE,
                         VIR_NETWORK_SECTION_IP_DHCP_HOST, -1, xml, flags) < 0)
        return libvirt_fail(err);
    return 0;
}

static int reserve(struct hv *hv, const struct hv_interface *nic, bool add, struct cimi_error *err)
{
    virNetworkPtr net;
    int reserved, rc = 0;

    if (nic->ip[0] == '\0')
        return 0;
    net = network_lookup(hv, nic->network_uuid, err);
    if (net == NULL)
        return !add && err->status == 404 ? (err_clear(err), 0) : -1;
    reserved = host_reserved(net, nic->mac, err);
    if (reserved < 0)
        rc = -1;
    else if (add != (reserved == 1))
        rc = update_host(net, nic, add, err);
    virNetworkFree(net);
    return rc;
}

/* ---- interfaces ---- */

/* The <interface> of a domain with this MAC in the live (flags 0) or
 * persistent definition: 1 present, 0 absent, -1 error. */
static int interface_present(virDomainPtr dom, unsigned int flags, const char *mac,
                             struct cimi_error *err)
{
    xmlDocPtr doc = parse_xml(virDomainGetXMLDesc(dom, flags), err);
    xmlNodePtr devices;
    int found = 0;

    if (doc == NULL)
        return -1;
    devices = child_named(xmlDocGetRootElement(doc), "devices");
    for (xmlNodePtr i = devices ? devices->children : NULL; i != NULL && !found; i = i->next)
        if (i->type == XML_ELEMENT_NODE && xmlStrEqual(i->name, BAD_CAST "interface") &&
            prop_is(child_named(i, "mac"), "address", mac))
            found = 1;
    xmlFreeDoc(doc);
    return found;
}

static void interface_xml(const struct hv_interface *nic, char *out, size_t len)
{
    snprintf(out, len,
             "<interface type='network'><mac address='%s'/><source network='cimi-%s'/>"
             "<model type='virtio'/></interface>",
             nic->mac, nic->network_uuid);
}

/* Test driver: rewrite the persistent definition with the interface added
 * or removed (it implements no device attach). */
static int redefine_with(struct hv *hv, virDomainPtr dom, const struct hv_interface *nic,
                         bool add, struct cimi_error *err)
{
    xmlDocPtr doc = parse_xml(virDomainGetXMLDesc(dom, VIR_DOMAIN_XML_INACTIVE), err);
    xmlNodePtr devices, next;
    xmlChar *text = NULL;
    char xml[512];
    int size = 0, rc = -1;

    if (doc == NULL)
        return -1;
    devices = child_named(xmlDocGetRootElement(doc), "devices");
    if (devices == NULL) {
        err_set(err, 500, NULL, "the domain has no <devices>");
        goto out;
    }
    for (xmlNodePtr i = devices->children; i != NULL; i = next) {
        next = i->next;
        if (!add && i->type == XML_ELEMENT_NODE && xmlStrEqual(i->name, BAD_CAST "interface") &&
            prop_is(child_named(i, "mac"), "address", nic->mac)) {
            xmlUnlinkNode(i);
            xmlFreeNode(i);
        }
    }
    if (add) {
        xmlNodePtr iface = NULL;
        interface_xml(nic, xml, sizeof(xml));
        if (xmlParseInNodeContext(devices, xml, (int)strlen(xml), 0, &iface) != XML_ERR_OK ||
            iface == NULL) {
            xmlFreeNodeList(iface);
            err_set(err, 500, NULL, "cannot build the interface XML");
            goto out;
        }
        xmlAddChild(devices, iface);
    }
    xmlDocDumpMemory(doc, &text, &size);
    if (text == NULL) {
        err_set(err, 500, NULL, "out of memory writing the domain XML");
        goto out;
    }
    {
        virDomainPtr redefined = virDomainDefineXML(hv->conn, (const char *)text);
        if (redefined == NULL) {
            libvirt_fail(err);
            goto out;
        }
        virDomainFree(redefined);
    }
    rc = 0;
out:
    xmlFree(text);
    xmlFreeDoc(doc);
    return rc;
}

/* Add or remove the interface where it is missing or present. */
static int change_interface(struct hv *hv, virDomainPtr dom, const struct hv_interface *nic,
                            bool add, struct cimi_error *err)
{
    unsigned int flags = 0;
    char xml[512];
    int config, live = 0, active = virDomainIsActive(dom), rc;

    if (active < 0)
        return libvirt_fail(err);
    config = interface_present(dom, VIR_DOMAIN_XML_INACTIVE, nic->mac, err);
    if (config < 0)
        return -1;
    if (hv->is_test)
        return add != (config == 1) ? redefine_with(hv, dom, nic, add, err) : 0;
    if (active && (live = interface_present(dom, 0, nic->mac, err)) < 0)
        return -1;
    if (add != (config == 1))
        flags |= VIR_DOMAIN_AFFECT_CONFIG;
    if (active && add != (live == 1))
        flags |= VIR_DOMAIN_AFFECT_LIVE;
    if (flags == 0)
        return 0;
    interface_xml(nic, xml, sizeof(xml));
    rc = add ? virDomainAttachDeviceFlags(dom, xml, flags)
             : virDomainDetachDeviceFlags(dom, xml, flags);
    return rc < 0 ? libvirt_fail(err) : 0;
}

int lv_interface_attach(struct hv *hv, const char *machine_uuid, const struct hv_interface *nic,
                        struct cimi_error *err)
{
    virDomainPtr dom;
    int rc;

    if (!lv_network_supported(hv))
        return no_network_driver(err);
    if (check_nic(nic, err) != 0 || reserve(hv, nic, true, err) != 0)
        return -1;
    dom = domain_lookup(hv, machine_uuid, err);
    if (dom == NULL)
        return -1;
    rc = change_interface(hv, dom, nic, true, err);
    virDomainFree(dom);
    return rc;
}

int lv_interface_detach(struct hv *hv, const char *machine_uuid, const struct hv_interface *nic,
                        struct cimi_error *err)
{
    virDomainPtr dom;
    int rc = 0;

    if (!lv_network_supported(hv))
        return 0;  /* nothing was ever attached there */
    if (check_nic(nic, err) != 0)
        return -1;
    if (machine_uuid != NULL) {
        dom = domain_lookup(hv, machine_uuid, err);
        if (dom == NULL && err->status != 404)
            return -1;
        err_clear(err);
        if (dom != NULL) {
            rc = change_interface(hv, dom, nic, false, err);
            virDomainFree(dom);
        }
    }
    return rc == 0 ? reserve(hv, nic, false, err) : -1;
}
