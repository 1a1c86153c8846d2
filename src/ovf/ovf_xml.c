/*
 * ovf_xml.c - what the descriptor parser's files share (ovf_xml.h): which
 * namespace an element is in (OVF 1.x with old oVirt's trailing slash, 2.x,
 * the CIM schemas also with a `.xsd` suffix, VMware's), oVirt's
 * `xsi:type` sections, ovf: attributes and child texts, `ovf:required`,
 * DeploymentOption filtering, and the error and "skipped" records that name
 * an element and its line.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ovf/ovf_xml.h"

static const struct {
    enum ovf_ns ns;
    const char *uri;
} namespaces[] = {
    {NS_OVF, "http://schemas.dmtf.org/ovf/envelope/1"},
    {NS_OVF, "http://schemas.dmtf.org/ovf/envelope/2"},
    {NS_RASD, "http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_ResourceAllocationSettingData"},
    {NS_VSSD, "http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_VirtualSystemSettingData"},
    {NS_SASD, "http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_StorageAllocationSettingData"},
    {NS_EPASD,
     "http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_EthernetPortAllocationSettingData"},
    {NS_VMW, "http://www.vmware.com/schema/ovf"},
};

/* uri is base, base + "/" or base + ".xsd". */
static bool uri_matches(const char *uri, const char *base)
{
    size_t n = strlen(base);
    return strncmp(uri, base, n) == 0 &&
           (uri[n] == 0 || strcmp(uri + n, "/") == 0 || strcmp(uri + n, ".xsd") == 0);
}

enum ovf_ns ovf_ns_of_uri(const xmlChar *href)
{
    if (!href)
        return NS_OTHER;
    for (size_t i = 0; i < sizeof(namespaces) / sizeof(namespaces[0]); i++)
        if (uri_matches((const char *)href, namespaces[i].uri))
            return namespaces[i].ns;
    return NS_OTHER;
}

enum ovf_ns ovf_ns_of(const xmlNode *n)
{
    return n->ns ? ovf_ns_of_uri(n->ns->href) : NS_OTHER;
}

/* oVirt writes <Section xsi:type="ovf:DiskSection_Type"> and <Content
 * xsi:type="ovf:VirtualSystem_Type">: the element the type names. */
static bool xsi_type_is(const xmlNode *n, const char *name)
{
    if (strcmp((const char *)n->name, "Section") != 0 && strcmp((const char *)n->name, "Content") != 0)
        return false;
    xmlChar *type = xmlGetNsProp(n, (const xmlChar *)"type",
                                 (const xmlChar *)"http://www.w3.org/2001/XMLSchema-instance");
    const char *t = type ? (const char *)type : "";
    const char *colon = strchr(t, ':');
    t = colon ? colon + 1 : t;
    size_t len = strlen(name);
    bool is = strncmp(t, name, len) == 0 && strcmp(t + len, "_Type") == 0;
    xmlFree(type);
    return is;
}

bool ovf_is(const xmlNode *n, enum ovf_ns ns, const char *name)
{
    return n->type == XML_ELEMENT_NODE && ovf_ns_of(n) == ns &&
           (strcmp((const char *)n->name, name) == 0 || (ns == NS_OVF && xsi_type_is(n, name)));
}

char *ovf_attr(const xmlNode *n, const char *name)
{
    const xmlAttr *plain = NULL;

    for (const xmlAttr *a = n->properties; a; a = a->next) {
        if (strcmp((const char *)a->name, name) != 0)
            continue;
        if (a->ns && ovf_ns_of_uri(a->ns->href) == NS_OVF) {
            plain = a;
            break;
        }
        if (!a->ns)
            plain = a;
    }
    if (!plain)
        return NULL;
    xmlChar *v = xmlNodeGetContent((const xmlNode *)plain);
    char *s = v ? strdup((const char *)v) : NULL;
    xmlFree(v);
    return s;
}

char *ovf_trimmed(xmlChar *v)
{
    if (!v)
        return NULL;
    const char *s = (const char *)v;
    while (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r')
        s++;
    size_t len = strlen(s);
    while (len && (s[len - 1] == ' ' || s[len - 1] == '\t' || s[len - 1] == '\n' ||
                   s[len - 1] == '\r'))
        len--;
    char *out = strndup(s, len);
    xmlFree(v);
    return out;
}

char *ovf_child_text(const xmlNode *n, const char *name)
{
    for (const xmlNode *c = n->children; c; c = c->next)
        if (c->type == XML_ELEMENT_NODE && strcmp((const char *)c->name, name) == 0)
            return ovf_trimmed(xmlNodeGetContent(c));
    return NULL;
}

bool ovf_required(const xmlNode *n)
{
    char *r = ovf_attr(n, "required");
    bool required = !r || !(strcmp(r, "false") == 0 || strcmp(r, "0") == 0);
    free(r);
    return required;
}

const char *ovf_element_name(const xmlNode *n, char *buf, size_t len)
{
    if (n->ns && n->ns->prefix)
        snprintf(buf, len, "%s:%s", n->ns->prefix, n->name);
    else
        snprintf(buf, len, "%s", n->name);
    return buf;
}

int ovf_fail(struct ovf_parse *p, const xmlNode *n, const char *fmt, ...)
{
    char msg[384], name[128];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (!p->failed)
        err_set(p->err, 400, "source", "OVF descriptor line %ld, %s: %s", xmlGetLineNo(n),
                ovf_element_name(n, name, sizeof(name)), msg);
    p->failed = 1;
    return -1;
}

int ovf_unsupported(struct ovf_parse *p, const xmlNode *n, const char *what, const char *reason)
{
    if (ovf_required(n))
        return ovf_fail(p, n, "required %s cannot be honoured (%s)", what, reason);
    json_array_append_new(p->skipped, json_pack("{s:s, s:I, s:s}", "element", what, "line",
                                                (json_int_t)xmlGetLineNo(n), "reason", reason));
    return 0;
}

bool ovf_in_configuration(const struct ovf_parse *p, const xmlNode *n)
{
    char *conf = ovf_attr(n, "configuration");
    bool in = true;

    if (conf && p->option) {
        in = false;
        char *save = NULL;
        for (char *w = strtok_r(conf, " \t\n", &save); w; w = strtok_r(NULL, " \t\n", &save))
            if (strcmp(w, p->option) == 0)
                in = true;
    }
    free(conf);
    return in;
}
