/*
 * codec_xml.c - the CIMI 1.x XML wire format.
 *
 * Encoding walks the type descriptors of model.c, whose attributes are in
 * DSP8009 1.0.2 schema order, and writes the indented text: the CIMI namespace
 * is the default namespace of the root; scalars are text elements;
 * references are elements with an href attribute plus, when expanded or
 * given by value, the elements of the referenced type; arrays are repeated
 * elements without a wrapper; properties are <property key="k">v</property>;
 * operation* sits where the type's table says (at the end by default).
 *
 * One deliberate departure from the tables: an A_XML_TEXT attribute (the
 * capability value of ResourceMetadata) is written as a child element
 * <value>v</value>, not as text content, because the 1.x schema declares
 * <capability> element-only (text there fails validation) while its xs:any
 * admits <value>.  The decoder accepts both forms.
 *
 * Decoding maps a request document back to the JSON wire shape by the same
 * descriptors.  Request bodies are untrusted: the parser never touches the
 * network, a document with a DOCTYPE is refused as soon as the parser sees it
 * (so no entity can ever be declared, let alone expanded), nesting is bounded
 * and elements the descriptors do not know are a 400.
 */
#include "cimi/codec.h"
#include "util/grow.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <libxml/parser.h>
#include <libxml/parserInternals.h>
#include <libxml/tree.h>
#include <libxml/xmlerror.h>

#define XML_MAX_DEPTH 32
#define TYPE_URI_MAX 256

/* ---- library set-up ---- */

static pthread_once_t xml_init_once = PTHREAD_ONCE_INIT;

static void xml_init(void)
{
    xmlInitParser();
}

/* libxml2 must be initialized once before threads use it concurrently. */
static void ensure_xml_init(void)
{
    pthread_once(&xml_init_once, xml_init);
}

/* ---- descriptors ---- */

static size_t common_attr_count(void)
{
    size_t n = 0;

    while (cimi_common_attrs[n].name != NULL)
        n++;
    return n;
}

/* Index of t's first attribute that has an XML element (skips the common
 * ones for types such as Disk whose schema element has none). */
static size_t first_xml_attr(const struct cimi_type *t)
{
    return t->common && !t->xml_common ? common_attr_count() : 0;
}

static const char *element_name(const struct cimi_attr *a)
{
    return a->xml_name != NULL ? a->xml_name : a->name;
}

/*
 * Whether the schema element of t has operation*: every named type except
 * those that carry the common attributes in JSON only (Disk), whose schema
 * element allows neither; anonymous structures never have operations.
 */
static bool has_xml_operations(const struct cimi_type *t)
{
    return t->name != NULL && !(t->common && !t->xml_common);
}

/* ---- encoding ----
 *
 * The encoder writes the text directly, byte for byte what libxml2 wrote for
 * the tree it used to build (xmlDocDumpFormatMemoryEnc, UTF-8, indented; see
 * tests/fixtures/xml-text.txt): a GET spends most of its time here otherwise.
 * An element's start tag stays open until its first child ('>') or its end
 * ('/>'), so that attributes can follow the name; namespace declarations come
 * first in the tag, then attributes in the order the tree set them.
 */

#define XML_MAX_OPEN (2 * XML_MAX_DEPTH + 8)   /* open elements (two per level at most) */

struct xml_open {
    const char *prefix;      /* "" = the default namespace */
    const char *name;
    const char *ext;         /* prefix of CIMID_NS in scope here: NULL none, "" default */
};

/* The text being written. */
struct xml_out {
    char *buf;
    size_t len, cap;
    bool failed;             /* out of memory or too deep: the encoding is dropped */
    bool tag_open;           /* the innermost start tag still lacks its '>' */
    int depth;               /* open elements */
    struct xml_open open[XML_MAX_OPEN];
};

static void xput(struct xml_out *o, const char *text, size_t n)
{
    if (o->failed)
        return;
    if (grow_buffer(&o->buf, &o->cap, o->len + n + 1) != 0) {   /* + the NUL */
        o->failed = true;
        return;
    }
    memcpy(o->buf + o->len, text, n);
    o->len += n;
}

static void xputs(struct xml_out *o, const char *text)
{
    xput(o, text, strlen(text));
}

static void xput_indent(struct xml_out *o, int level)
{
    static const char spaces[] = "                                ";
    size_t n = 2 * (size_t)level;

    while (n > 0) {
        size_t k = n < sizeof(spaces) - 1 ? n : sizeof(spaces) - 1;
        xput(o, spaces, k);
        n -= k;
    }
}

/*
 * s escaped for element text (in_attribute false) or an attribute value.
 * XML 1.0 cannot carry control characters other than tab, LF and CR, nor the
 * non-characters U+FFFE and U+FFFF: they become '?'.  (jansson strings are
 * valid UTF-8 without NUL, so nothing else can be wrong.)
 */
static void xput_escaped(struct xml_out *o, const char *s, bool in_attribute)
{
    const unsigned char *in = (const unsigned char *)s;
    size_t start = 0, i;

    for (i = 0; in[i] != '\0'; i++) {
        unsigned char c = in[i];
        const char *esc = NULL;
        size_t skip = 0;
        if ((c > '>' && c != 0xEF) || (c > '&' && c < '<') || c == '=' || c == ' ')
            continue;  /* the common case: nothing to escape */
        if (c == '<')
            esc = "&lt;";
        else if (c == '>')
            esc = "&gt;";
        else if (c == '&')
            esc = "&amp;";
        else if (c == '\r')
            esc = "&#13;";
        else if (c == '"' && in_attribute)
            esc = "&quot;";
        else if (c == '\n' && in_attribute)
            esc = "&#10;";
        else if (c == '\t' && in_attribute)
            esc = "&#9;";
        else if (c < 0x20 && c != '\t' && c != '\n')
            esc = "?";
        else if (c == 0xEF && in[i + 1] == 0xBF && (in[i + 2] == 0xBE || in[i + 2] == 0xBF)) {
            esc = "?";
            skip = 2;
        }
        if (esc == NULL)
            continue;
        xput(o, s + start, i - start);
        xputs(o, esc);
        i += skip;
        start = i + 1;
    }
    xput(o, s + start, i - start);
}

/* The text of a scalar JSON value into buf (64 bytes); NULL when the value
 * is empty or not a scalar. */
static const char *scalar_text(const json_t *v, char *buf, size_t len)
{
    const char *s;

    if (json_is_string(v)) {
        s = json_string_value(v);
    } else if (json_is_boolean(v)) {
        s = json_is_true(v) ? "true" : "false";
    } else if (json_is_integer(v)) {
        snprintf(buf, len, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        s = buf;
    } else if (json_is_real(v)) {
        snprintf(buf, len, "%.17g", json_real_value(v));
        s = buf;
    } else {
        return NULL;
    }
    return *s != '\0' ? s : NULL;
}

/* Close the innermost start tag before its first child. */
static void close_start_tag(struct xml_out *o)
{
    if (o->tag_open) {
        xput(o, ">\n", 2);
        o->tag_open = false;
    }
}

/* "<prefix:name" as a child of the innermost open element (its namespace
 * scope inherited); the start tag stays open for attributes. */
static void start_element(struct xml_out *o, const char *prefix, const char *name)
{
    struct xml_open *e;

    if (o->depth == XML_MAX_OPEN) {
        o->failed = true;
        return;
    }
    close_start_tag(o);
    xput_indent(o, o->depth);
    xput(o, "<", 1);
    if (prefix[0] != '\0') {
        xputs(o, prefix);
        xput(o, ":", 1);
    }
    xputs(o, name);
    e = &o->open[o->depth];
    e->prefix = prefix;
    e->name = name;
    e->ext = o->depth > 0 ? o->open[o->depth - 1].ext : NULL;
    o->depth++;
    o->tag_open = true;
}

static void end_element(struct xml_out *o)
{
    struct xml_open *e;

    if (o->failed || o->depth == 0)
        return;
    e = &o->open[--o->depth];
    if (o->tag_open) {
        xput(o, "/>\n", 3);
        o->tag_open = false;
        return;
    }
    xput_indent(o, o->depth);
    xput(o, "</", 2);
    if (e->prefix[0] != '\0') {
        xputs(o, e->prefix);
        xput(o, ":", 1);
    }
    xputs(o, e->name);
    xput(o, ">\n", 2);
}

/* The attribute name="text" in the open start tag. */
static void put_attribute_text(struct xml_out *o, const char *name, const char *text)
{
    xput(o, " ", 1);
    xputs(o, name);
    xput(o, "=\"", 2);
    xput_escaped(o, text, true);
    xput(o, "\"", 1);
}

/* The attribute name="v" in the open start tag, unless v is empty. */
static void put_attribute(struct xml_out *o, const char *name, const json_t *v)
{
    char buf[64];
    const char *text = scalar_text(v, buf, sizeof(buf));

    if (text != NULL)
        put_attribute_text(o, name, text);
}

/* <name>v</name>, unless v is empty; with key="k" when key is not NULL. */
static void put_text_element(struct xml_out *o, const char *prefix, const char *name,
                             const char *key, const json_t *v)
{
    char buf[64];
    const char *text = scalar_text(v, buf, sizeof(buf));

    if (text == NULL)
        return;
    start_element(o, prefix, name);
    if (key != NULL)
        put_attribute_text(o, "key", key);
    xput(o, ">", 1);
    o->tag_open = false;
    xput_escaped(o, text, false);
    xput(o, "</", 2);
    if (prefix[0] != '\0') {
        xputs(o, prefix);
        xput(o, ":", 1);
    }
    xputs(o, name);
    xput(o, ">\n", 2);
    if (!o->failed)
        o->depth--;
}

static bool json_is_empty(const json_t *v)
{
    if (v == NULL || json_is_null(v))
        return true;
    if (json_is_string(v))
        return json_string_length(v) == 0;
    if (json_is_object(v))
        return json_object_size(v) == 0;
    if (json_is_array(v))
        return json_array_size(v) == 0;
    return false;
}

static bool members_head(struct xml_out *o, const json_t *obj, const struct cimi_type *t,
                         int depth, bool with_href, const json_t *href);
static void members_body(struct xml_out *o, const char *prefix, const json_t *obj,
                         const struct cimi_type *t, int depth);

/* <operation rel="..." href="..."/> for every complete entry of ops. */
static void encode_operations(struct xml_out *o, const char *prefix, const json_t *ops)
{
    const json_t *op, *rel, *href;

    for (size_t i = 0; i < json_array_size(ops); i++) {
        op = json_array_get(ops, i);
        rel = json_object_get(op, "rel");
        href = json_object_get(op, "href");
        if (json_is_empty(rel) || json_is_empty(href))
            continue;
        start_element(o, prefix, "operation");
        put_attribute(o, "rel", rel);
        put_attribute(o, "href", href);
        end_element(o);
    }
}

/* <property key="k">v</property> for every non-empty scalar member of map.
 * (jansson's iterators take non-const objects; map is not modified.) */
static void encode_map(struct xml_out *o, const char *prefix, const char *name, const json_t *map)
{
    const char *key;
    json_t *value;

    json_object_foreach((json_t *)map, key, value)
        put_text_element(o, prefix, name, key, value);
}

/* A reference: <name href="...">, plus the target's elements when expanded. */
static void encode_ref(struct xml_out *o, const char *prefix, const char *name, const json_t *v,
                       const struct cimi_type *target, int depth)
{
    if (!json_is_object(v) && !json_is_string(v))
        return;
    start_element(o, prefix, name);
    if (json_is_string(v)) {
        put_attribute(o, "href", v);
    } else if (members_head(o, v, target, depth + 1, true, json_object_get(v, "href"))) {
        members_body(o, prefix, v, target, depth + 1);
    }
    end_element(o);
}

/* id, count, <ItemType>*, operation* of a collection doc, in the open element. */
static void encode_collection_body(struct xml_out *o, const char *prefix, const json_t *doc,
                                   const struct cimi_type *t, int depth)
{
    const json_t *id, *count, *items = NULL, *item;
    json_t *computed = NULL;

    id = json_object_get(doc, "id");
    if (json_is_empty(id))
        id = json_object_get(doc, "href");
    put_text_element(o, prefix, "id", NULL, id);
    if (t->json_items != NULL)
        items = json_object_get(doc, t->json_items);
    count = json_object_get(doc, "count");
    if (count == NULL) {
        computed = json_integer((json_int_t)json_array_size(items));
        if (computed == NULL)
            o->failed = true;
        count = computed;
    }
    put_text_element(o, prefix, "count", NULL, count);
    json_decref(computed);
    for (size_t i = 0; i < json_array_size(items); i++) {
        item = json_array_get(items, i);
        if (!json_is_object(item))
            continue;
        start_element(o, prefix, t->name);
        if (members_head(o, item, t, depth + 1, false, NULL))
            members_body(o, prefix, item, t, depth + 1);
        end_element(o);
    }
    encode_operations(o, prefix, json_object_get(doc, "operations"));
}

/* An expanded sub-collection written as its items' references (A_XML_ITEM_REFS):
 * one <name> per item, the item's first reference attribute. */
static void encode_item_refs(struct xml_out *o, const char *prefix, const char *name,
                             const json_t *v, const struct cimi_type *item_type, int depth)
{
    const struct cimi_attr *ref = NULL, *a;
    const json_t *items = json_object_get(v, item_type->json_items);

    for (size_t i = 0; ref == NULL && (a = model_attr_at(item_type, i)) != NULL; i++)
        if (a->kind == K_REF)
            ref = a;
    for (size_t i = 0; ref != NULL && i < json_array_size(items); i++)
        encode_ref(o, prefix, name, json_object_get(json_array_get(items, i), ref->name),
                   ref->target, depth);
}

/* A sub-collection: <name href="..."/>, or expanded with id, count, items. */
static void encode_collection_ref(struct xml_out *o, const char *prefix, const struct cimi_attr *a,
                                  const json_t *v, int depth)
{
    const char *name = element_name(a);
    const struct cimi_type *item_type = a->target;
    bool expanded;

    if (!json_is_object(v))
        return;
    expanded = item_type != NULL && item_type->name != NULL &&
               (json_object_get(v, "id") != NULL || json_object_get(v, "count") != NULL ||
                (item_type->json_items != NULL &&
                 json_object_get(v, item_type->json_items) != NULL));
    if (expanded && (a->flags & A_XML_ITEM_REFS) && item_type->json_items != NULL) {
        encode_item_refs(o, prefix, name, v, item_type, depth);
        return;
    }
    start_element(o, prefix, name);
    put_attribute(o, "href", json_object_get(v, "href"));
    if (expanded)
        encode_collection_body(o, prefix, v, item_type, depth + 1);
    end_element(o);
}

/* An array of structures: one <name> element per non-empty object. */
static void encode_array(struct xml_out *o, const char *prefix, const char *name,
                         const json_t *arr, const struct cimi_type *target, int depth)
{
    const json_t *item;

    for (size_t i = 0; i < json_array_size(arr); i++) {
        item = json_array_get(arr, i);
        if (!json_is_object(item) || json_is_empty(item))
            continue;
        start_element(o, prefix, name);
        if (target != NULL && members_head(o, item, target, depth + 1, false, NULL))
            members_body(o, prefix, item, target, depth + 1);
        end_element(o);
    }
}

/* The member of obj that attribute a describes, as child elements (its XML
 * attributes are written by members_head). */
static void encode_attr(struct xml_out *o, const char *prefix, const json_t *obj,
                        const struct cimi_attr *a, int depth)
{
    const json_t *v = json_object_get(obj, a->name);
    const char *name = element_name(a);

    if (json_is_empty(v) || (a->flags & A_XML_ATTR))
        return;
    /* A_XML_TEXT falls through to a child element: see the top of the file. */
    switch (a->kind) {
    case K_OPERATIONS:
        encode_operations(o, prefix, v);
        return;
    case K_MAP:
        if (json_is_object(v))
            encode_map(o, prefix, name, v);
        return;
    case K_REF:
        encode_ref(o, prefix, name, v, a->target, depth);
        return;
    case K_COLLECTION:
        encode_collection_ref(o, prefix, a, v, depth);
        return;
    case K_ARRAY:
        encode_array(o, prefix, name, v, a->target, depth);
        return;
    case K_STRING_ARRAY:
        for (size_t i = 0; i < json_array_size(v); i++)
            put_text_element(o, prefix, name, NULL, json_array_get(v, i));
        return;
    default:
        put_text_element(o, prefix, name, NULL, v);
    }
}

/* Does obj carry one of t's extension attributes (cimid's namespace)? */
static bool has_extensions(const json_t *obj, const struct cimi_type *t)
{
    const struct cimi_attr *a;

    for (size_t i = first_xml_attr(t); (a = model_attr_at(t, i)) != NULL; i++)
        if ((a->flags & A_EXTENSION) && !(a->flags & A_JSON_ONLY) &&
            !json_is_empty(json_object_get(obj, a->name)))
            return true;
    return false;
}

/* The XML attributes of obj described by t, extension ones too (in that
 * order, as the tree set them); "href" is skipped when the caller wrote it. */
static void put_xml_attributes(struct xml_out *o, const json_t *obj, const struct cimi_type *t,
                               bool extensions, bool skip_href)
{
    const struct cimi_attr *a;

    for (size_t i = first_xml_attr(t); (a = model_attr_at(t, i)) != NULL; i++) {
        bool is_extension = (a->flags & A_EXTENSION) != 0;
        if (!(a->flags & A_XML_ATTR) || is_extension != extensions ||
            (skip_href && strcmp(a->name, "href") == 0))
            continue;
        put_attribute(o, element_name(a), json_object_get(obj, a->name));
    }
}

/*
 * The start tag's rest for the members of obj described by t: the
 * declaration of cimid's namespace when an extension needs one not in scope,
 * href when with_href (a reference's), and t's XML attributes.  False when
 * no members follow (too deep, not an object: then only href is written).
 */
static bool members_head(struct xml_out *o, const json_t *obj, const struct cimi_type *t,
                         int depth, bool with_href, const json_t *href)
{
    bool members = t != NULL && depth <= XML_MAX_DEPTH && json_is_object(obj);
    struct xml_open *e = o->depth > 0 ? &o->open[o->depth - 1] : NULL;

    if (members && e != NULL && e->ext == NULL && has_extensions(obj, t)) {
        put_attribute_text(o, "xmlns:cimid", CIMID_NS);
        e->ext = "cimid";
    }
    if (with_href)
        put_attribute(o, "href", href);
    if (members) {
        put_xml_attributes(o, obj, t, false, with_href);
        put_xml_attributes(o, obj, t, true, with_href);
    }
    return members;
}

/* The child elements of obj described by t, in schema order: the CIMI ones
 * in prefix's namespace, operation* where the table says (at the end by
 * default), then cimid's extensions in its namespace (the schema's trailing
 * ##other).  Members t does not describe are not written. */
static void members_body(struct xml_out *o, const char *prefix, const json_t *obj,
                         const struct cimi_type *t, int depth)
{
    const struct cimi_attr *a;
    bool operations_placed = false;
    const char *ext = o->depth > 0 ? o->open[o->depth - 1].ext : NULL;

    for (size_t i = first_xml_attr(t); (a = model_attr_at(t, i)) != NULL; i++) {
        if (a->kind == K_OPERATIONS)
            operations_placed = true;
        if (!(a->flags & A_EXTENSION))
            encode_attr(o, prefix, obj, a, depth);
    }
    if (!operations_placed && has_xml_operations(t))
        encode_operations(o, prefix, json_object_get(obj, "operations"));
    if (ext == NULL)
        return;  /* no extension here (members_head declared the namespace if any) */
    for (size_t i = first_xml_attr(t); (a = model_attr_at(t, i)) != NULL; i++)
        if ((a->flags & A_EXTENSION) && !(a->flags & A_JSON_ONLY))
            encode_attr(o, ext, obj, a, depth);
}

static char *xml_encode(const json_t *doc, const struct cimi_type *t, bool collection,
                        size_t *len)
{
    struct xml_out *o;
    const char *ns;
    char *buf;

    if (t == NULL || t->name == NULL)
        return NULL; /* only named types have a root element */
    o = calloc(1, sizeof(*o));
    if (o == NULL)
        return NULL;
    ns = model_type_ns(t);
    xputs(o, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    start_element(o, "", collection ? "Collection" : t->name);
    put_attribute_text(o, "xmlns", ns);
    o->open[0].ext = strcmp(ns, CIMID_NS) == 0 ? "" : NULL;
    if (collection) {
        char uri[TYPE_URI_MAX];
        put_attribute_text(o, "resourceURI", model_type_uri(t, "Collection", uri, sizeof(uri)));
        if (json_is_object(doc))
            encode_collection_body(o, "", doc, t, 1);
    } else if (members_head(o, doc, t, 1, false, NULL)) {
        members_body(o, "", doc, t, 1);
    }
    end_element(o);
    buf = o->buf;
    if (o->failed) {
        free(buf);
        buf = NULL;
    } else {
        buf[o->len] = '\0';
        if (len != NULL)
            *len = o->len;
    }
    free(o);
    return buf;
}

/* ---- decoding: parsing ---- */

/* SAX hook called when the parser meets <!DOCTYPE: stop right there. */
static void refuse_doctype(void *ctx, const xmlChar *name, const xmlChar *external_id,
                           const xmlChar *system_id)
{
    xmlParserCtxtPtr ctxt = ctx;

    (void)name;
    (void)external_id;
    (void)system_id;
    *(bool *)ctxt->_private = true;
    xmlStopParser(ctxt);
}

/* 400 naming the parser's complaint and where it was. */
static void report_parse_error(xmlParserCtxtPtr ctxt, struct cimi_error *err)
{
    const xmlError *e = xmlCtxtGetLastError(ctxt);
    char message[256];
    size_t n;

    if (e == NULL || e->message == NULL) {
        err_set(err, 400, NULL, "malformed XML: empty or unreadable document");
        return;
    }
    snprintf(message, sizeof(message), "%s", e->message);
    n = strlen(message);
    while (n > 0 && (message[n - 1] == '\n' || message[n - 1] == ' '))
        message[--n] = '\0';
    err_set(err, 400, NULL, "malformed XML at line %d: %s", e->line, message);
}

/* Parse body into a tree without network, DTD or entity processing. */
static xmlDocPtr parse_document(const char *body, size_t len, struct cimi_error *err)
{
    const int options = XML_PARSE_NONET | XML_PARSE_NOCDATA | XML_PARSE_NOERROR |
                        XML_PARSE_NOWARNING;
    xmlParserCtxtPtr ctxt;
    xmlDocPtr doc;
    bool saw_doctype = false;

    if (len > INT_MAX) {
        err_set(err, 400, NULL, "XML document too large");
        return NULL;
    }
    ensure_xml_init();
    ctxt = xmlCreateMemoryParserCtxt(body, (int)len);
    if (ctxt == NULL) {
        err_set(err, 400, NULL, "malformed XML: empty or unreadable document");
        return NULL;
    }
    ctxt->sax->internalSubset = refuse_doctype;
    ctxt->_private = &saw_doctype;
    xmlCtxtUseOptions(ctxt, options);
    xmlParseDocument(ctxt);
    doc = ctxt->myDoc;
    ctxt->myDoc = NULL;
    if (saw_doctype)
        err_set(err, 400, NULL, "malformed XML: DOCTYPE declarations are not allowed");
    else if (!ctxt->wellFormed || doc == NULL)
        report_parse_error(ctxt, err);
    if ((saw_doctype || !ctxt->wellFormed) && doc != NULL) {
        xmlFreeDoc(doc);
        doc = NULL;
    }
    xmlFreeParserCtxt(ctxt);
    return doc;
}

/* ---- decoding: text ---- */

static bool is_xml_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* Remove surrounding white space from s in place. */
static void trim(char *s)
{
    size_t start = 0, end = strlen(s);

    while (end > 0 && is_xml_space(s[end - 1]))
        end--;
    while (start < end && is_xml_space(s[start]))
        start++;
    memmove(s, s + start, end - start);
    s[end - start] = '\0';
}

static bool is_text_node(xmlNodePtr n)
{
    return n->type == XML_TEXT_NODE || n->type == XML_CDATA_SECTION_NODE;
}

static bool has_element_children(xmlNodePtr node)
{
    for (xmlNodePtr c = node->children; c != NULL; c = c->next)
        if (c->type == XML_ELEMENT_NODE)
            return true;
    return false;
}

/* The direct text content of node, trimmed, malloc'd; NULL on allocation failure. */
static char *direct_text(xmlNodePtr node)
{
    size_t len = 0, n;
    char *text;

    for (xmlNodePtr c = node->children; c != NULL; c = c->next)
        if (is_text_node(c) && c->content != NULL)
            len += strlen((const char *)c->content);
    text = malloc(len + 1);
    if (text == NULL)
        return NULL;
    len = 0;
    for (xmlNodePtr c = node->children; c != NULL; c = c->next) {
        if (!is_text_node(c) || c->content == NULL)
            continue;
        n = strlen((const char *)c->content);
        memcpy(text + len, c->content, n);
        len += n;
    }
    text[len] = '\0';
    trim(text);
    return text;
}

/* An XML attribute of node (no namespace), trimmed and malloc'd, or NULL if absent. */
static char *xml_attribute(xmlNodePtr node, const char *name)
{
    xmlChar *value = xmlGetNoNsProp(node, BAD_CAST name);
    char *copy;

    if (value == NULL)
        return NULL;
    copy = strdup((const char *)value);
    xmlFree(value);
    if (copy != NULL)
        trim(copy);
    return copy;
}

static json_t *out_of_memory(struct cimi_error *err)
{
    err_set(err, 500, NULL, "out of memory");
    return NULL;
}

/* xs:long's lexical form (text already trimmed): an optional sign and
 * decimal digits only ("1e3", "0x10", "1.0" are no integers); -1 for
 * those, 1 for digits beyond the range of a long long, else 0. */
static int parse_integer(const char *text, json_int_t *value)
{
    const char *digits = text + (text[0] == '+' || text[0] == '-');
    char *end;
    long long v;

    if (*digits == '\0' || strspn(digits, "0123456789") != strlen(digits))
        return -1;
    errno = 0;
    v = strtoll(text, &end, 10);
    if (errno == ERANGE)
        return 1;
    if (errno != 0 || *end != '\0')
        return -1;
    *value = (json_int_t)v;
    return 0;
}

/*
 * The JSON value of text (already trimmed) for attribute a: json_null() for
 * an empty text (an explicit erase), an integer, a boolean or a string.
 */
static json_t *convert_scalar(const char *text, const struct cimi_attr *a,
                              struct cimi_error *err)
{
    json_int_t number;
    json_t *value;

    if (*text == '\0')
        return json_null();
    if (a->kind == K_INTEGER) {
        if (parse_integer(text, &number) != 0) {
            const struct cimi_range *r = model_range(a);
            err_set(err, 400, a->name, "attribute '%s' must be an integer from %lld to %lld%s%s, "
                    "got '%.64s'", a->name, r->min, r->max, r->unit[0] ? " " : "", r->unit, text);
            return NULL;
        }
        value = json_integer(number);
    } else if (a->kind == K_BOOLEAN) {
        if (strcasecmp(text, "true") == 0 || strcmp(text, "1") == 0)
            return json_true();
        if (strcasecmp(text, "false") == 0 || strcmp(text, "0") == 0)
            return json_false();
        err_set(err, 400, a->name, "attribute '%s' must be true or false, got '%.64s'", a->name,
                text);
        return NULL;
    } else {
        value = json_string(text);
    }
    return value != NULL ? value : out_of_memory(err);
}

/* ---- decoding: elements ---- */

static int decode_into(json_t *obj, xmlNodePtr node, const struct cimi_type *t, int depth,
                       struct cimi_error *err);

static int set_member(json_t *obj, const char *name, json_t *value, struct cimi_error *err)
{
    if (json_object_set_new(obj, name, value) < 0) {
        out_of_memory(err);
        return -1;
    }
    return 0;
}

static bool in_namespace(xmlNodePtr node, const char *ns)
{
    return node->ns == NULL || strcmp((const char *)node->ns->href, ns) == 0;
}

static bool in_cimi_namespace(xmlNodePtr node)
{
    return in_namespace(node, CIMI_NS);
}

/* The attribute of t serialized as child element `name`, or NULL.  (An
 * A_XML_TEXT attribute may come as text content or as an element.) */
static const struct cimi_attr *attr_for_element(const struct cimi_type *t, const char *name)
{
    const struct cimi_attr *a;

    for (size_t i = 0; (a = model_attr_at(t, i)) != NULL; i++) {
        if (a->kind == K_OPERATIONS || (a->flags & A_XML_ATTR))
            continue;
        if (strcmp(element_name(a), name) == 0)
            return a;
    }
    return NULL;
}

/* A scalar attribute given as an element: its trimmed text, converted. */
static json_t *decode_scalar_element(xmlNodePtr node, const struct cimi_attr *a,
                                     struct cimi_error *err)
{
    json_t *value;
    char *text;

    if (has_element_children(node)) {
        err_set(err, 400, a->name, "attribute '%s' must be a simple value, not elements",
                a->name);
        return NULL;
    }
    text = direct_text(node);
    if (text == NULL)
        return out_of_memory(err);
    value = convert_scalar(text, a, err);
    free(text);
    return value;
}

/* <property key="k">v</property> (or name="k", the 1.0.0 spelling) into obj[a->name]. */
static int decode_property(json_t *obj, const struct cimi_attr *a, xmlNodePtr node,
                           struct cimi_error *err)
{
    json_t *map = json_object_get(obj, a->name), *value;
    char *key, *text;
    int rc = -1;

    key = xml_attribute(node, "key");
    if (key == NULL)
        key = xml_attribute(node, "name");
    if (key == NULL || *key == '\0') {
        free(key);
        return err_set(err, 400, a->name, "<%s> element without a key attribute",
                       element_name(a));
    }
    if (has_element_children(node)) {
        err_set(err, 400, a->name, "property '%.64s' must be a simple value, not elements", key);
        goto out;
    }
    if (json_object_get(map, key) != NULL) {
        err_set(err, 400, a->name, "property '%.64s' given more than once", key);
        goto out;
    }
    if (map == NULL) {
        map = json_object();
        if (map == NULL || set_member(obj, a->name, map, err) < 0)
            goto out;
    }
    text = direct_text(node);
    value = text != NULL ? json_string(text) : NULL;
    free(text);
    if (value == NULL) {
        out_of_memory(err);
        goto out;
    }
    rc = set_member(map, key, value, err);
out:
    free(key);
    return rc;
}

/* A reference element: {"href": ..., plus its children decoded as the target}. */
static json_t *decode_ref(xmlNodePtr node, const struct cimi_attr *a, int depth,
                          struct cimi_error *err)
{
    json_t *obj;
    char *href;

    obj = json_object();
    if (obj == NULL)
        return out_of_memory(err);
    href = xml_attribute(node, "href");
    if (href != NULL && *href != '\0' && set_member(obj, "href", json_string(href), err) < 0)
        goto fail;
    if (a->target != NULL && decode_into(obj, node, a->target, depth + 1, err) < 0)
        goto fail;
    free(href);
    if (json_object_size(obj) == 0) {
        json_decref(obj);
        return json_null();
    }
    return obj;
fail:
    free(href);
    json_decref(obj);
    return NULL;
}

/* One child of an expanded collection element, into coll. */
static int decode_collection_child(json_t *coll, xmlNodePtr child, const struct cimi_type *item,
                                   int depth, struct cimi_error *err)
{
    static const struct cimi_attr id_attr = {"id", NULL, K_URI, 0, NULL};
    static const struct cimi_attr count_attr = {"count", NULL, K_INTEGER, 0, NULL};
    const char *name = (const char *)child->name;
    json_t *items, *obj;

    if (!in_cimi_namespace(child))
        return err_set(err, 400, name, "unknown attribute '%s'", name);
    if (strcmp(name, "operation") == 0)
        return 0;
    if (strcmp(name, "id") == 0 || strcmp(name, "count") == 0) {
        obj = decode_scalar_element(child, name[0] == 'i' ? &id_attr : &count_attr, err);
        return obj != NULL ? set_member(coll, name, obj, err) : -1;
    }
    if (item == NULL || item->name == NULL || item->json_items == NULL ||
        strcmp(name, item->name) != 0)
        return err_set(err, 400, name, "unknown attribute '%s'", name);
    items = json_object_get(coll, item->json_items);
    if (items == NULL) {
        items = json_array();
        if (items == NULL || set_member(coll, item->json_items, items, err) < 0)
            return -1;
    }
    obj = json_object();
    if (obj == NULL || json_array_append_new(items, obj) < 0) {
        out_of_memory(err);
        return -1;
    }
    return decode_into(obj, child, item, depth, err);
}

/* A sub-collection element at nesting level depth: {"href"} plus, if expanded,
 * id, count and items. */
static json_t *decode_collection(xmlNodePtr node, const struct cimi_attr *a, int depth,
                                 struct cimi_error *err)
{
    json_t *coll;
    char *href;

    if (depth > XML_MAX_DEPTH) {
        err_set(err, 400, NULL, "XML document nested deeper than %d elements", XML_MAX_DEPTH);
        return NULL;
    }
    coll = json_object();
    if (coll == NULL)
        return out_of_memory(err);
    href = xml_attribute(node, "href");
    if (href != NULL && *href != '\0' && set_member(coll, "href", json_string(href), err) < 0)
        goto fail;
    for (xmlNodePtr c = node->children; c != NULL; c = c->next)
        if (c->type == XML_ELEMENT_NODE &&
            decode_collection_child(coll, c, a->target, depth + 1, err) < 0)
            goto fail;
    free(href);
    if (json_object_size(coll) == 0) {
        json_decref(coll);
        return json_null();
    }
    return coll;
fail:
    free(href);
    json_decref(coll);
    return NULL;
}

/* One repeated element of a K_ARRAY or K_STRING_ARRAY, appended to obj[a->name]. */
static int decode_array_item(json_t *obj, const struct cimi_attr *a, xmlNodePtr node,
                             int depth, struct cimi_error *err)
{
    json_t *arr = json_object_get(obj, a->name), *item;

    if (a->kind == K_STRING_ARRAY) {
        item = decode_scalar_element(node, a, err);
        if (item == NULL)
            return -1;
        if (json_is_null(item))
            return 0;
    } else {
        item = json_object();
        if (item == NULL) {
            out_of_memory(err);
            return -1;
        }
        if (a->target != NULL && decode_into(item, node, a->target, depth + 1, err) < 0) {
            json_decref(item);
            return -1;
        }
    }
    if (arr == NULL) {
        arr = json_array();
        if (arr == NULL || set_member(obj, a->name, arr, err) < 0) {
            json_decref(item);
            return -1;
        }
    }
    if (json_array_append_new(arr, item) < 0) {
        out_of_memory(err);
        return -1;
    }
    return 0;
}

/* One child element of an element of type t, into obj. */
static int decode_child(json_t *obj, xmlNodePtr child, const struct cimi_type *t, int depth,
                        struct cimi_error *err)
{
    const char *name = (const char *)child->name;
    const struct cimi_attr *a = NULL;
    json_t *value;

    if (in_namespace(child, model_type_ns(t))) {
        if (strcmp(name, "operation") == 0)
            return 0;
        a = attr_for_element(t, name);
        if (a != NULL && (a->flags & A_EXTENSION))
            a = NULL;  /* cimid's own attributes live in its namespace */
    } else if (child->ns != NULL && strcmp((const char *)child->ns->href, CIMID_NS) == 0) {
        a = attr_for_element(t, name);
        if (a != NULL && !(a->flags & A_EXTENSION))
            a = NULL;
    }
    if (a == NULL)
        return err_set(err, 400, name, "unknown attribute '%s'", name);
    if (a->kind == K_MAP)
        return decode_property(obj, a, child, err);
    if (a->kind == K_ARRAY || a->kind == K_STRING_ARRAY)
        return decode_array_item(obj, a, child, depth, err);
    if (json_object_get(obj, a->name) != NULL)
        return err_set(err, 400, a->name, "attribute '%s' given more than once", a->name);
    if (a->kind == K_REF)
        value = decode_ref(child, a, depth, err);
    else if (a->kind == K_COLLECTION)
        value = decode_collection(child, a, depth + 1, err);
    else
        value = decode_scalar_element(child, a, err);
    return value != NULL ? set_member(obj, a->name, value, err) : -1;
}

/* The attributes of t carried as XML attributes of node, into obj. */
static int decode_xml_attributes(json_t *obj, xmlNodePtr node, const struct cimi_type *t,
                                 struct cimi_error *err)
{
    const struct cimi_attr *a;
    json_t *value;
    char *text;

    for (size_t i = 0; (a = model_attr_at(t, i)) != NULL; i++) {
        if (!(a->flags & A_XML_ATTR))
            continue;
        text = xml_attribute(node, element_name(a));
        if (text == NULL || *text == '\0') {
            free(text); /* absent or empty: no value */
            continue;
        }
        value = convert_scalar(text, a, err);
        free(text);
        if (value == NULL || set_member(obj, a->name, value, err) < 0)
            return -1;
    }
    return 0;
}

/* The text content of node: the A_XML_TEXT attribute of t, or only white space. */
static int decode_text_content(json_t *obj, xmlNodePtr node, const struct cimi_type *t,
                               struct cimi_error *err)
{
    const struct cimi_attr *a, *text_attr = NULL;
    json_t *value;
    char *text;
    int rc = 0;

    for (size_t i = 0; (a = model_attr_at(t, i)) != NULL; i++)
        if (a->flags & A_XML_TEXT)
            text_attr = a;
    text = direct_text(node);
    if (text == NULL) {
        out_of_memory(err);
        return -1;
    }
    if (text_attr != NULL && *text != '\0') {
        value = convert_scalar(text, text_attr, err);
        rc = value != NULL ? set_member(obj, text_attr->name, value, err) : -1;
    } else if (*text != '\0') {
        rc = err_set(err, 400, NULL, "unexpected text '%.40s' in <%s>", text,
                     (const char *)node->name);
    }
    free(text);
    return rc;
}

/* Everything inside node (attributes, text, child elements) decoded as type t into obj. */
static int decode_into(json_t *obj, xmlNodePtr node, const struct cimi_type *t, int depth,
                       struct cimi_error *err)
{
    if (depth > XML_MAX_DEPTH)
        return err_set(err, 400, NULL, "XML document nested deeper than %d elements",
                       XML_MAX_DEPTH);
    if (decode_xml_attributes(obj, node, t, err) < 0 || decode_text_content(obj, node, t, err) < 0)
        return -1;
    for (xmlNodePtr c = node->children; c != NULL; c = c->next)
        if (c->type == XML_ELEMENT_NODE && decode_child(obj, c, t, depth, err) < 0)
            return -1;
    return 0;
}

/* The root must be <t->name> or <t->name + "Create">, any case, CIMI or no namespace. */
static int check_root(xmlNodePtr root, const struct cimi_type *t, struct cimi_error *err)
{
    const char *name = (const char *)root->name;
    char create_name[128];

    snprintf(create_name, sizeof(create_name), "%sCreate", t->name);
    if (strcasecmp(name, t->name) != 0 && strcasecmp(name, create_name) != 0)
        return err_set(err, 400, NULL, "expected <%s> root element, got <%.100s>", t->name,
                       name);
    if (!in_namespace(root, model_type_ns(t)))
        return err_set(err, 400, NULL,
                       "expected <%s> root element in namespace %s, got namespace %.200s",
                       t->name, model_type_ns(t), (const char *)root->ns->href);
    return 0;
}

static json_t *xml_decode(const char *body, size_t len, const struct cimi_type *t,
                          struct cimi_error *err)
{
    xmlDocPtr doc;
    xmlNodePtr root;
    json_t *obj = NULL;

    err_clear(err);
    if (t == NULL || t->name == NULL) {
        err_set(err, 500, NULL, "no document type to decode");
        return NULL;
    }
    doc = parse_document(body, len, err);
    if (doc == NULL)
        return NULL;
    root = xmlDocGetRootElement(doc);
    if (root == NULL) {
        err_set(err, 400, NULL, "malformed XML: no root element");
        goto out;
    }
    if (check_root(root, t, err) < 0)
        goto out;
    obj = json_object();
    if (obj == NULL) {
        out_of_memory(err);
        goto out;
    }
    if (decode_into(obj, root, t, 1, err) < 0) {
        json_decref(obj);
        obj = NULL;
    }
out:
    xmlFreeDoc(doc);
    return obj;
}

const struct codec codec_xml = {
    "xml",
    "application/xml",
    xml_encode,
    xml_decode,
};
