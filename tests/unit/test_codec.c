/*
 * test_codec.c - unit tests of the JSON and XML codecs (src/cimi/codec_*.c).
 *
 * Round-trips representative documents of every shape the model tables use
 * (scalars, maps, references by value, arrays of structures, XML attributes
 * and text content, expanded sub-collections, collections), checks member and
 * element order, and checks the decoders' errors.  Every XML document the
 * encoder produces is validated against the DSP8009 1.0.2 schema, whose path
 * is argv[1], else $CIMI_XSD, else tests/fixtures/... from the root.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <libxml/parser.h>
#include <libxml/xmlerror.h>
#include <libxml/xmlmemory.h>
#include <libxml/xmlschemas.h>
#include <libxml/xmlversion.h>

#include "check.h"
#include "cimi/codec.h"
#include "cimi/model.h"
#include "cimi/validate.h"

#define DEFAULT_XSD "tests/fixtures/dsp8009-1.0.2-offline.xsd"
#define XML_TEXT_FIXTURE "tests/fixtures/xml-text.txt"   /* from the root, like the XSD */
#define XMLDECL "<?xml version=\"1.0\" encoding=\"UTF-8\"?>"

/* libxml2 2.12 made the error passed to structured handlers const. */
#if LIBXML_VERSION >= 21200
typedef const xmlError *xml_error_arg;
#else
typedef xmlError *xml_error_arg;
#endif

static xmlSchemaPtr schema;
static char schema_errors[4096];

/* Allocations jansson and libxml2 may still make before failing; -1 = no limit. */
static long alloc_budget = -1;
static bool alloc_failed;

/* ---- helpers ---- */

/* Parse a JSON literal of the test itself; a typo there aborts the test. */
static json_t *J(const char *text)
{
    json_error_t jerr;
    json_t *v = json_loads(text, 0, &jerr);

    if (v == NULL) {
        fprintf(stderr, "bad test JSON at line %d: %s\n", jerr.line, jerr.text);
        exit(2);
    }
    return v;
}

/* Remove "operations" members at every depth (XML requests ignore them). */
static void strip_operations(json_t *v)
{
    const char *key;
    json_t *member;

    if (json_is_object(v)) {
        json_object_del(v, "operations");
        json_object_foreach(v, key, member)
            strip_operations(member);
    } else if (json_is_array(v)) {
        for (size_t i = 0; i < json_array_size(v); i++)
            strip_operations(json_array_get(v, i));
    }
}

static void print_json(const char *label, const json_t *v)
{
    char *s = json_dumps(v, JSON_INDENT(2) | JSON_ENCODE_ANY);

    printf("# %s: %s\n", label, s != NULL ? s : "(null)");
    free(s);
}

/* Position of needle in haystack, or -1. */
static long find(const char *haystack, const char *needle)
{
    const char *p = strstr(haystack, needle);

    return p != NULL ? p - haystack : -1;
}

/* True when the needles (NULL-terminated list) occur in text one after the other. */
static bool in_order(const char *text, const char *const *needles)
{
    const char *p = text, *hit;

    for (size_t i = 0; needles[i] != NULL; i++) {
        hit = strstr(p, needles[i]);
        if (hit == NULL) {
            printf("# '%s' missing or out of order\n", needles[i]);
            return false;
        }
        p = hit + strlen(needles[i]);
    }
    return true;
}

static void collect_schema_error(void *ctx, xml_error_arg e)
{
    size_t used = strlen(schema_errors);

    (void)ctx;
    if (e != NULL && e->message != NULL)
        snprintf(schema_errors + used, sizeof(schema_errors) - used, "%s", e->message);
}

static void ignore_error(void *ctx, xml_error_arg e)
{
    (void)ctx;
    (void)e;
}

/* Validate an XML text against the schema; errors land in schema_errors. */
static bool schema_valid(const char *xml, size_t len)
{
    xmlSchemaValidCtxtPtr vctxt;
    xmlDocPtr doc;
    int rc;

    schema_errors[0] = '\0';
    if (schema == NULL)
        return false;
    doc = xmlReadMemory(xml, (int)len, "reply.xml", NULL, XML_PARSE_NONET);
    if (doc == NULL) {
        snprintf(schema_errors, sizeof(schema_errors), "not well-formed\n");
        return false;
    }
    vctxt = xmlSchemaNewValidCtxt(schema);
    xmlSchemaSetValidStructuredErrors(vctxt, collect_schema_error, NULL);
    rc = xmlSchemaValidateDoc(vctxt, doc);
    xmlSchemaFreeValidCtxt(vctxt);
    xmlFreeDoc(doc);
    return rc == 0;
}

static void load_schema(const char *path)
{
    xmlSchemaParserCtxtPtr pctxt = xmlSchemaNewParserCtxt(path);

    if (pctxt != NULL) {
        xmlSchemaSetParserStructuredErrors(pctxt, collect_schema_error, NULL);
        schema = xmlSchemaParse(pctxt);
        xmlSchemaFreeParserCtxt(pctxt);
    }
    CHECK(schema != NULL, "schema %s loads", path);
}

/* Encode with codec c; the caller frees. */
static char *encode(const struct codec *c, const json_t *doc, const struct cimi_type *t,
                    bool collection, size_t *len)
{
    char *out = c->encode(doc, t, collection, len);

    CHECK(out != NULL && strlen(out) == *len, "%s encode %s%s", c->name, t->name,
          collection ? "Collection" : "");
    return out;
}

/* XML-encode, check declaration, default namespace and schema validity; the caller frees. */
static char *encode_xml_valid(const json_t *doc, const struct cimi_type *t, bool collection,
                              size_t *len)
{
    char root[128];
    char *xml = encode(&codec_xml, doc, t, collection, len);

    if (xml == NULL)
        return NULL;
    snprintf(root, sizeof(root), "<%s xmlns=\"" CIMI_NS "\"",
             collection ? "Collection" : t->name);
    CHECK(strncmp(xml, XMLDECL, strlen(XMLDECL)) == 0, "%s XML starts with the declaration",
          t->name);
    CHECK(strstr(xml, root) != NULL, "%s XML root %s with default namespace", t->name, root);
    CHECK(schema_valid(xml, *len), "%s%s XML is schema-valid", t->name,
          collection ? "Collection" : "");
    if (schema_errors[0] != '\0')
        printf("# schema errors:\n%s# document:\n%s", schema_errors, xml);
    return xml;
}

/* JSON encode -> decode gives doc back; returns the encoded text (caller frees). */
static char *roundtrip_json(const char *label, const json_t *doc, const struct cimi_type *t)
{
    struct cimi_error err = {0};
    char prefix[256];
    size_t len = 0;
    json_t *back;
    char *out;

    out = encode(&codec_json, doc, t, false, &len);
    if (out == NULL)
        return NULL;
    snprintf(prefix, sizeof(prefix), "{\n  \"resourceURI\": \"" CIMI_NS "/%s\"", t->name);
    CHECK(strncmp(out, prefix, strlen(prefix)) == 0, "%s JSON starts with resourceURI",
          label);
    CHECK(len > 0 && out[len - 1] == '\n', "%s JSON ends with a newline", label);
    back = codec_json.decode(out, len, t, &err);
    CHECK(back != NULL && json_equal(back, doc), "%s JSON round trip", label);
    if (back == NULL || !json_equal(back, doc)) {
        printf("# %s\n", err.message);
        print_json("got", back);
        print_json("expected", doc);
    }
    json_decref(back);
    return out;
}

/* XML encode -> decode gives `expected` (doc without operations if NULL); caller frees. */
static char *roundtrip_xml(const char *label, const json_t *doc, const struct cimi_type *t,
                           const json_t *expected)
{
    struct cimi_error err = {0};
    json_t *want, *back;
    size_t len = 0;
    char *xml;

    xml = encode_xml_valid(doc, t, false, &len);
    if (xml == NULL)
        return NULL;
    want = expected != NULL ? json_deep_copy(expected) : json_deep_copy(doc);
    if (expected == NULL)
        strip_operations(want);
    back = codec_xml.decode(xml, len, t, &err);
    CHECK(back != NULL && json_equal(back, want), "%s XML round trip", label);
    if (back == NULL || !json_equal(back, want)) {
        printf("# %s\n%s", err.message, xml);
        print_json("got", back);
        print_json("expected", want);
    }
    json_decref(back);
    json_decref(want);
    return xml;
}

/* Decode must fail with 400; checks the message and attribute when given. */
static void expect_error(const struct codec *c, const char *label, const char *body,
                         const struct cimi_type *t, const char *message_part,
                         const char *attribute)
{
    struct cimi_error err = {0};
    json_t *v = c->decode(body, strlen(body), t, &err);

    CHECK(v == NULL && err.status == 400, "%s: %s is rejected with 400", c->name, label);
    if (message_part != NULL)
        CHECK(strstr(err.message, message_part) != NULL, "%s: %s message names '%s' (%s)",
              c->name, label, message_part, err.message);
    if (attribute != NULL)
        CHECK(strcmp(err.attribute, attribute) == 0, "%s: %s err->attribute is '%s' (got '%s')",
              c->name, label, attribute, err.attribute);
    json_decref(v);
}

/* Decode must succeed and give `expected`. */
static void expect_decode(const struct codec *c, const char *label, const char *body,
                          const struct cimi_type *t, const char *expected)
{
    struct cimi_error err = {0};
    json_t *want = J(expected);
    json_t *v = c->decode(body, strlen(body), t, &err);

    CHECK(v != NULL && json_equal(v, want), "%s: %s decodes", c->name, label);
    if (v == NULL || !json_equal(v, want)) {
        printf("# error: %s\n", err.message);
        print_json("got", v);
        print_json("expected", want);
    }
    json_decref(v);
    json_decref(want);
}

/* ---- resources ---- */

static void test_machine(void)
{
    /* Deliberately out of schema order, with an empty value and an unknown member. */
    json_t *doc = J("{\"operations\":[{\"rel\":\"http://schemas.dmtf.org/cimi/1/action/stop\","
                    "\"href\":\"http://h/cimi/machines/1/stop\"},"
                    "{\"rel\":\"edit\",\"href\":\"http://h/cimi/machines/1\"}],"
                    "\"state\":\"STARTED\",\"cpu\":2,\"memory\":1048576,"
                    "\"id\":\"http://h/cimi/machines/1\",\"name\":\"web <1> & co\","
                    "\"created\":\"2024-01-02T03:04:05Z\",\"updated\":\"2024-01-02T03:04:06Z\","
                    "\"properties\":{\"owner\":\"bob\",\"tier\":\"front\"},"
                    "\"disks\":{\"href\":\"http://h/cimi/machines/1/disks\"},"
                    "\"cpuArch\":\"x86_64\",\"cpuSpeed\":2400,"
                    "\"volumes\":{\"href\":\"http://h/cimi/machines/1/volumes\"},"
                    "\"latestSnapshot\":{\"href\":\"http://h/cimi/machineImages/7\"},"
                    "\"x-extension\":\"kept in JSON\"}");
    json_t *with_empty = json_deep_copy(doc);
    json_t *no_unknown = json_deep_copy(doc);
    static const char *const json_order[] = {
        "\"resourceURI\"", "\"id\"", "\"name\"", "\"created\"", "\"updated\"",
        "\"properties\"", "\"state\"", "\"cpu\"", "\"memory\"", "\"disks\"", "\"cpuArch\"",
        "\"cpuSpeed\"", "\"volumes\"", "\"latestSnapshot\"", "\"operations\"",
        "\"x-extension\"", NULL};
    static const char *const xml_order[] = {
        "<id>", "<name>web &lt;1&gt; &amp; co</name>", "<created>", "<updated>",
        "<property key=\"owner\">bob</property>", "<state>STARTED</state>", "<cpu>2</cpu>",
        "<memory>1048576</memory>", "<disks href=\"http://h/cimi/machines/1/disks\"/>",
        "<cpuArch>", "<cpuSpeed>2400</cpuSpeed>", "<volumes href=", "<latestSnapshot href=",
        "<operation rel=\"http://schemas.dmtf.org/cimi/1/action/stop\"", "<operation rel=\"edit\"",
        NULL};
    size_t len = 0;
    char *out;

    json_object_set_new(with_empty, "description", json_string(""));
    json_object_set_new(with_empty, "empty", json_array());
    json_object_set_new(with_empty, "blank", json_object());
    out = encode(&codec_json, with_empty, &t_machine, false, &len);
    if (out != NULL) {
        CHECK(in_order(out, json_order), "Machine JSON members in wire order");
        CHECK(strstr(out, "\"description\"") == NULL && strstr(out, "[]") == NULL &&
                  strstr(out, "{}") == NULL,
              "Machine JSON omits empty values");
        CHECK(strstr(out, "\n  \"id\"") != NULL, "Machine JSON indented by 2");
    }
    free(out);
    out = roundtrip_json("Machine", doc, &t_machine);
    free(out);

    /* The XML round trip loses the unknown member, the empties and the operations. */
    json_object_del(no_unknown, "x-extension");
    strip_operations(no_unknown);
    out = roundtrip_xml("Machine", with_empty, &t_machine, no_unknown);
    if (out != NULL) {
        CHECK(in_order(out, xml_order), "Machine XML elements in schema order");
        CHECK(strstr(out, "x-extension") == NULL && strstr(out, "description") == NULL,
              "Machine XML omits unknown members and empty values");
        CHECK(strstr(out, "cimi:") == NULL && strstr(out, "resourceURI") == NULL,
              "Machine XML has no prefix and no resourceURI attribute");
    }
    free(out);
    json_decref(no_unknown);
    json_decref(with_empty);
    json_decref(doc);
}

static void test_machine_configuration(void)
{
    json_t *doc = J("{\"id\":\"http://h/cimi/machineConfigs/small\",\"name\":\"small\","
                    "\"description\":\"1 CPU, 1 GiB\",\"cpu\":1,\"memory\":1048576,"
                    "\"disks\":[{\"capacity\":10485760,\"format\":\"ext4\","
                    "\"initialLocation\":\"/dev/vda\"},{\"capacity\":1024,\"format\":\"swap\"}],"
                    "\"cpuArch\":\"x86_64\",\"cpuSpeed\":1000,"
                    "\"operations\":[{\"rel\":\"edit\","
                    "\"href\":\"http://h/cimi/machineConfigs/small\"},"
                    "{\"rel\":\"delete\",\"href\":\"http://h/cimi/machineConfigs/small\"}]}");
    static const char *const xml_order[] = {
        "<cpu>1</cpu>", "<memory>", "<disk>", "<capacity>10485760</capacity>",
        "<format>ext4</format>", "<initialLocation>/dev/vda</initialLocation>", "</disk>",
        "<disk>", "<format>swap</format>", "<cpuArch>", "<cpuSpeed>", "<operation", NULL};
    char *out;

    free(roundtrip_json("MachineConfiguration", doc, &t_machine_configuration));
    out = roundtrip_xml("MachineConfiguration", doc, &t_machine_configuration, NULL);
    if (out != NULL) {
        CHECK(in_order(out, xml_order), "MachineConfiguration disks are repeated <disk>");
        CHECK(strstr(out, "<disks") == NULL, "MachineConfiguration XML has no <disks> wrapper");
    }
    free(out);
    json_decref(doc);
}

static void test_job(void)
{
    json_t *doc = J("{\"id\":\"http://h/cimi/jobs/9\",\"name\":\"start web\","
                    "\"created\":\"2024-01-02T03:04:05Z\",\"state\":\"SUCCESS\","
                    "\"targetResource\":{\"href\":\"http://h/cimi/machines/1\"},"
                    "\"affectedResources\":[{\"href\":\"http://h/cimi/machines/1\"},"
                    "{\"href\":\"http://h/cimi/machines/1/disks/0\"}],"
                    "\"action\":\"http://schemas.dmtf.org/cimi/1/action/start\","
                    "\"returnCode\":0,\"progress\":100,\"statusMessage\":\"done\","
                    "\"timeOfStatusChange\":\"2024-01-02T03:04:09Z\","
                    "\"parentJob\":{\"href\":\"http://h/cimi/jobs/8\"},"
                    "\"nestedJobs\":[{\"href\":\"http://h/cimi/jobs/10\"}],"
                    "\"operations\":[{\"rel\":\"delete\",\"href\":\"http://h/cimi/jobs/9\"}]}");
    static const char *const xml_order[] = {
        "<state>", "<targetResource href=\"http://h/cimi/machines/1\"/>",
        "<affectedResource href=\"http://h/cimi/machines/1\"/>",
        "<affectedResource href=\"http://h/cimi/machines/1/disks/0\"/>", "<action>",
        "<returnCode>0</returnCode>", "<progress>100</progress>", "<statusMessage>",
        "<timeOfStatusChange>", "<parentJob href=", "<nestedJob href=", "<operation", NULL};
    char *out;

    free(roundtrip_json("Job", doc, &t_job));
    out = roundtrip_xml("Job", doc, &t_job, NULL);
    if (out != NULL)
        CHECK(in_order(out, xml_order), "Job XML order, affectedResource repeated");
    free(out);
    json_decref(doc);
}

static void test_resource_metadata(void)
{
    json_t *full = J("{\"id\":\"http://h/cimi/resourceMetadata/machine\","
                     "\"typeURI\":\"http://schemas.dmtf.org/cimi/1/Machine\",\"name\":\"Machine\","
                     "\"attributes\":[{\"name\":\"hostname\","
                     "\"namespace\":\"http://cimid.dev/ns/1\","
                     "\"type\":\"string\",\"required\":false}],"
                     "\"capabilities\":[{\"name\":\"DefaultInitialState\","
                     "\"uri\":\"http://schemas.dmtf.org/cimi/1/capability/Machine/"
                     "DefaultInitialState\","
                     "\"description\":\"state after create\",\"value\":\"STARTED\"},"
                     "{\"name\":\"MachineConfigByValue\","
                     "\"uri\":\"http://schemas.dmtf.org/cimi/1/capability/Machine/"
                     "MachineConfigByValue\","
                     "\"description\":\"by value\"}],"
                     "\"actions\":[{\"name\":\"reboot\","
                     "\"uri\":\"http://cimid.dev/ns/1/action/reboot\","
                     "\"description\":\"hard reboot\",\"method\":\"POST\","
                     "\"inputMessage\":\"application/json\","
                     "\"outputMessage\":\"application/json\"}],"
                     "\"operations\":[{\"rel\":\"edit\","
                     "\"href\":\"http://h/cimi/resourceMetadata/machine\"}]}");
    static const char *const xml_order[] = {
        "<id>", "<typeURI>", "<name>Machine</name>", "<attribute name=\"hostname\"",
        "<capability name=\"DefaultInitialState\"", "<value>STARTED</value>", "</capability>",
        "<capability name=\"MachineConfigByValue\"", "<action name=\"reboot\"", "<operation",
        NULL};
    char *out;

    free(roundtrip_json("ResourceMetadata", full, &t_resource_metadata));
    /*
     * The capability value (A_XML_TEXT) is written as <value>, not as text:
     * the schema's <capability> is element-only.  Text is still accepted.
     */
    out = roundtrip_xml("ResourceMetadata", full, &t_resource_metadata, NULL);
    if (out != NULL) {
        CHECK(in_order(out, xml_order), "ResourceMetadata XML order and shapes");
        CHECK(strstr(out, "required=\"false\"") != NULL, "boolean XML attribute");
    }
    free(out);
    expect_decode(&codec_xml, "capability value as text content",
                  "<ResourceMetadata><capability name=\"c\" uri=\"http://u\"> 5 </capability>"
                  "<capability uri=\"http://v\"><value>6</value></capability></ResourceMetadata>",
                  &t_resource_metadata,
                  "{\"capabilities\":[{\"name\":\"c\",\"uri\":\"http://u\",\"value\":\"5\"},"
                  "{\"uri\":\"http://v\",\"value\":\"6\"}]}");
    expect_error(&codec_xml, "capability value given twice",
                 "<ResourceMetadata><capability uri=\"http://u\">5<value>6</value></capability>"
                 "</ResourceMetadata>",
                 &t_resource_metadata, "more than once", "value");
    json_decref(full);
}

static void test_cloud_entry_point(void)
{
    json_t *doc = J("{\"id\":\"http://h/cimi/cloudEntryPoint\",\"name\":\"cimid\","
                    "\"created\":\"2024-01-01T00:00:00Z\",\"baseURI\":\"http://h/cimi/\","
                    "\"jobs\":{\"href\":\"http://h/cimi/jobs\"},"
                    "\"resourceMetadata\":{\"href\":\"http://h/cimi/resourceMetadata\"},"
                    "\"machines\":{\"href\":\"http://h/cimi/machines\"},"
                    "\"machineTemplates\":{\"href\":\"http://h/cimi/machineTemplates\"},"
                    "\"machineConfigs\":{\"href\":\"http://h/cimi/machineConfigs\"},"
                    "\"machineImages\":{\"href\":\"http://h/cimi/machineImages\"},"
                    "\"credentials\":{\"href\":\"http://h/cimi/credentials\"},"
                    "\"credentialTemplates\":{\"href\":\"http://h/cimi/credentialTemplates\"},"
                    "\"operations\":[{\"rel\":\"edit\","
                    "\"href\":\"http://h/cimi/cloudEntryPoint\"}]}");
    static const char *const xml_order[] = {
        "<id>", "<name>", "<created>", "<baseURI>", "<resourceMetadata href=", "<machines href=",
        "<machineTemplates href=", "<machineConfigs href=", "<machineImages href=",
        "<credentials href=", "<credentialTemplates href=", "<jobs href=", "<operation", NULL};
    char *out;

    out = roundtrip_json("CloudEntryPoint", doc, &t_cloud_entry_point);
    if (out != NULL)
        CHECK(find(out, "\"machines\"") < find(out, "\"jobs\""),
              "CloudEntryPoint JSON collections in table order");
    free(out);
    out = roundtrip_xml("CloudEntryPoint", doc, &t_cloud_entry_point, NULL);
    if (out != NULL)
        CHECK(in_order(out, xml_order), "CloudEntryPoint XML in schema order");
    free(out);
    json_decref(doc);
}

static void test_credential(void)
{
    json_t *doc = J("{\"id\":\"http://h/cimi/credentials/1\",\"name\":\"admin\","
                    "\"userName\":\"root\",\"password\":\"s3cr3t\",\"key\":\"0a1b2c3d\","
                    "\"operations\":[{\"rel\":\"edit\",\"href\":\"http://h/cimi/credentials/1\"},"
                    "{\"rel\":\"delete\",\"href\":\"http://h/cimi/credentials/1\"}]}");
    static const char *const xml_order[] = {
        "<id>", "<name>", "<operation rel=\"edit\"", "<operation rel=\"delete\"",
        "<userName>root</userName>", "<password>", "<key>0a1b2c3d</key>", NULL};
    static const char *const json_order[] = {
        "\"id\"", "\"name\"", "\"userName\"", "\"password\"", "\"key\"", "\"operations\"", NULL};
    char *out;

    out = roundtrip_json("Credential", doc, &t_credential);
    if (out != NULL)
        CHECK(in_order(out, json_order), "Credential JSON: operations after attributes");
    free(out);
    out = roundtrip_xml("Credential", doc, &t_credential, NULL);
    if (out != NULL)
        CHECK(in_order(out, xml_order), "Credential XML: operations before userName");
    free(out);
    out = roundtrip_xml("CredentialTemplate", doc, &t_credential_template, NULL);
    free(out);
    json_decref(doc);
}

static void test_machine_image(void)
{
    json_t *doc = J("{\"id\":\"http://h/cimi/machineImages/2\",\"name\":\"snap\","
                    "\"state\":\"AVAILABLE\",\"type\":\"SNAPSHOT\","
                    "\"imageLocation\":\"file:///var/lib/cimid/images/2.qcow2\","
                    "\"relatedImage\":{\"href\":\"http://h/cimi/machineImages/1\","
                    "\"id\":\"http://h/cimi/machineImages/1\",\"name\":\"base\","
                    "\"state\":\"AVAILABLE\",\"type\":\"IMAGE\","
                    "\"imageLocation\":\"file:///var/lib/cimid/images/1.qcow2\","
                    "\"operations\":[{\"rel\":\"delete\","
                    "\"href\":\"http://h/cimi/machineImages/1\"}]},"
                    "\"operations\":[{\"rel\":\"edit\","
                    "\"href\":\"http://h/cimi/machineImages/2\"}]}");
    char *out;

    free(roundtrip_json("MachineImage with expanded relatedImage", doc, &t_machine_image));
    out = roundtrip_xml("MachineImage with expanded relatedImage", doc, &t_machine_image, NULL);
    if (out != NULL) {
        static const char *const xml_order[] = {
            "<relatedImage href=\"http://h/cimi/machineImages/1\">", "<id>", "<name>base</name>",
            "<state>", "<type>IMAGE</type>", "<imageLocation>", "<operation rel=\"delete\"",
            "</relatedImage>", "<operation rel=\"edit\"", NULL};
        CHECK(in_order(out, xml_order), "expanded reference: target elements in order");
    }
    free(out);
    json_decref(doc);
}

static void test_expanded_disks(void)
{
    json_t *doc = J("{\"id\":\"http://h/cimi/machines/1\",\"name\":\"web\",\"state\":\"STOPPED\","
                    "\"disks\":{\"href\":\"http://h/cimi/machines/1/disks\","
                    "\"id\":\"http://h/cimi/machines/1/disks\",\"count\":2,"
                    "\"disks\":[{\"id\":\"http://h/cimi/machines/1/disks/0\",\"name\":\"vda\","
                    "\"capacity\":10485760,\"initialLocation\":\"/dev/vda\","
                    "\"operations\":[{\"rel\":\"delete\","
                    "\"href\":\"http://h/cimi/machines/1/disks/0\"}]},"
                    "{\"id\":\"http://h/cimi/machines/1/disks/1\",\"capacity\":1024}],"
                    "\"operations\":[{\"rel\":\"add\","
                    "\"href\":\"http://h/cimi/machines/1/disks\"}]},"
                    "\"volumes\":{\"href\":\"http://h/cimi/machines/1/volumes\","
                    "\"id\":\"http://h/cimi/machines/1/volumes\",\"count\":0}}");
    /* Disk has no common elements (and no operation) in the 1.x schema. */
    json_t *xml_back = J("{\"id\":\"http://h/cimi/machines/1\",\"name\":\"web\","
                         "\"state\":\"STOPPED\","
                         "\"disks\":{\"href\":\"http://h/cimi/machines/1/disks\","
                         "\"id\":\"http://h/cimi/machines/1/disks\",\"count\":2,"
                         "\"disks\":[{\"capacity\":10485760,\"initialLocation\":\"/dev/vda\"},"
                         "{\"capacity\":1024}]},"
                         "\"volumes\":{\"href\":\"http://h/cimi/machines/1/volumes\","
                         "\"id\":\"http://h/cimi/machines/1/volumes\",\"count\":0}}");
    static const char *const xml_order[] = {
        "<disks href=\"http://h/cimi/machines/1/disks\">",
        "<id>http://h/cimi/machines/1/disks</id>",
        "<count>2</count>", "<Disk>", "<capacity>10485760</capacity>", "</Disk>", "<Disk>",
        "<operation rel=\"add\"", "</disks>", "<volumes href=", "<count>0</count>", "</volumes>",
        NULL};
    char *out;

    out = roundtrip_json("Machine with expanded disks", doc, &t_machine);
    if (out != NULL)
        CHECK(strstr(out, "\"count\": 0") != NULL, "expanded empty sub-collection keeps count 0");
    free(out);
    out = roundtrip_xml("Machine with expanded disks", doc, &t_machine, xml_back);
    if (out != NULL)
        CHECK(in_order(out, xml_order), "expanded sub-collection XML shape");
    free(out);
    json_decref(xml_back);
    json_decref(doc);
}

/* Volume with its images expanded, an attachment with its volume expanded,
 * and a VolumeCreate with template and configuration by value. */
static void test_volumes(void)
{
    json_t *volume = J("{\"id\":\"http://h/cimi/volumes/1\",\"name\":\"data\","
                       "\"state\":\"AVAILABLE\",\"type\":\"http://schemas.dmtf.org/cimi/1/mapped\","
                       "\"capacity\":1048576,\"bootable\":false,"
                       "\"images\":{\"href\":\"http://h/cimi/volumes/1/images\","
                       "\"id\":\"http://h/cimi/volumes/1/images\",\"count\":1,"
                       "\"volumeVolumeImages\":[{\"id\":\"http://h/cimi/volumes/1/images/0\","
                       "\"name\":\"copy\","
                       "\"volumeImage\":{\"href\":\"http://h/cimi/volumeImages/2\"}}]},"
                       "\"operations\":[{\"rel\":\"edit\",\"href\":\"http://h/cimi/volumes/1\"},"
                       "{\"rel\":\"delete\",\"href\":\"http://h/cimi/volumes/1\"}]}");
    json_t *attachment = J("{\"id\":\"http://h/cimi/machines/1/volumes/0\","
                           "\"initialLocation\":\"/dev/vdb\","
                           "\"volume\":{\"href\":\"http://h/cimi/volumes/1\","
                           "\"id\":\"http://h/cimi/volumes/1\",\"state\":\"AVAILABLE\","
                           "\"capacity\":1048576},"
                           "\"operations\":[{\"rel\":\"delete\","
                           "\"href\":\"http://h/cimi/machines/1/volumes/0\"}]}");
    json_t *create = J("{\"name\":\"v1\",\"volumeTemplate\":{"
                       "\"volumeConfig\":{\"format\":\"ext4\",\"capacity\":1024},"
                       "\"volumeImage\":{\"href\":\"http://h/cimi/volumeImages/2\"}}}");
    static const char *const volume_order[] = {
        "<name>data</name>", "<state>AVAILABLE</state>", "<type>", "<capacity>1048576</capacity>",
        "<bootable>false</bootable>", "<images href=\"http://h/cimi/volumes/1/images\">",
        "<count>1</count>", "<VolumeVolumeImage>", "<volumeImage href=", "</images>",
        "<operation rel=\"edit\"", "<operation rel=\"delete\"", NULL};
    static const char *const create_order[] = {
        "<name>v1</name>", "<volumeTemplate>", "<volumeConfig>", "<format>ext4</format>",
        "<capacity>1024</capacity>", "</volumeConfig>", "<volumeImage href=", NULL};
    char *out;

    free(roundtrip_json("Volume with expanded images", volume, &t_volume));
    out = roundtrip_xml("Volume with expanded images", volume, &t_volume, NULL);
    if (out != NULL)
        CHECK(in_order(out, volume_order), "Volume XML elements in schema order");
    free(out);
    free(roundtrip_json("MachineVolume with expanded volume", attachment, &t_machine_volume));
    free(roundtrip_xml("MachineVolume with expanded volume", attachment, &t_machine_volume, NULL));
    free(roundtrip_json("VolumeCreate by value", create, &t_volume_create));
    out = roundtrip_xml("VolumeCreate by value", create, &t_volume_create, NULL);
    if (out != NULL)
        CHECK(in_order(out, create_order), "VolumeCreate XML in schema order");
    free(out);
    json_decref(volume);
    json_decref(attachment);
    json_decref(create);
}

/* ---- collections ---- */

static void test_collections(void)
{
    json_t *coll = J("{\"id\":\"http://h/cimi/machines\",\"count\":2,\"machines\":["
                     "{\"id\":\"http://h/cimi/machines/1\",\"name\":\"a\",\"state\":\"STARTED\","
                     "\"disks\":{\"href\":\"http://h/cimi/machines/1/disks\"},"
                     "\"operations\":[{\"rel\":\"edit\",\"href\":\"http://h/cimi/machines/1\"}]},"
                     "{\"id\":\"http://h/cimi/machines/2\",\"name\":\"b\",\"cpu\":1}],"
                     "\"operations\":[{\"rel\":\"add\",\"href\":\"http://h/cimi/machines\"}]}");
    json_t *empty = J("{\"id\":\"http://h/cimi/machines\",\"count\":0,\"machines\":[],"
                      "\"operations\":[{\"rel\":\"add\",\"href\":\"http://h/cimi/machines\"}]}");
    json_t *jobs = J("{\"id\":\"http://h/cimi/jobs\",\"count\":1,\"jobs\":["
                     "{\"id\":\"http://h/cimi/jobs/1\",\"state\":\"RUNNING\",\"progress\":5}]}");
    static const char *const json_order[] = {
        "\"resourceURI\": \"" CIMI_NS "/MachineCollection\"", "\"id\"", "\"count\": 2",
        "\"machines\"", "\"resourceURI\": \"" CIMI_NS "/Machine\"", "\"name\": \"a\"",
        "\"resourceURI\": \"" CIMI_NS "/Machine\"", "\"name\": \"b\"",
        "\"rel\": \"add\"", NULL};
    static const char *const xml_order[] = {
        "<Collection xmlns=\"" CIMI_NS "\" resourceURI=\"" CIMI_NS "/MachineCollection\">",
        "<id>http://h/cimi/machines</id>", "<count>2</count>", "<Machine>", "<name>a</name>",
        "<disks href=", "<operation rel=\"edit\"", "</Machine>", "<Machine>", "<name>b</name>",
        "</Machine>", "<operation rel=\"add\"", NULL};
    json_t *parsed;
    size_t len = 0;
    char *out;

    out = encode(&codec_json, coll, &t_machine, true, &len);
    if (out != NULL) {
        CHECK(in_order(out, json_order), "MachineCollection JSON shape and order");
        parsed = json_loads(out, 0, NULL);
        CHECK(parsed != NULL &&
                  json_array_size(json_object_get(parsed, "machines")) == 2,
              "MachineCollection JSON parses with 2 items");
        json_decref(parsed);
    }
    free(out);
    out = encode(&codec_json, empty, &t_machine, true, &len);
    if (out != NULL) {
        CHECK(strstr(out, "\"count\": 0") != NULL, "empty collection JSON keeps count 0");
        CHECK(strstr(out, "machines") == NULL || strstr(out, "\"machines\"") == NULL,
              "empty collection JSON has no item array");
        CHECK(strstr(out, "[]") == NULL, "empty collection JSON has no []");
    }
    free(out);

    out = encode_xml_valid(coll, &t_machine, true, &len);
    if (out != NULL) {
        CHECK(in_order(out, xml_order), "MachineCollection XML shape and order");
        CHECK(strstr(out, "<Machine resourceURI") == NULL, "items carry no resourceURI");
    }
    free(out);
    out = encode_xml_valid(empty, &t_machine, true, &len);
    if (out != NULL)
        CHECK(strstr(out, "<count>0</count>") != NULL && strstr(out, "<Machine") == NULL,
              "empty MachineCollection XML");
    free(out);
    out = encode_xml_valid(jobs, &t_job, true, &len);
    if (out != NULL)
        CHECK(strstr(out, "/JobCollection\"") != NULL && strstr(out, "<Job>") != NULL,
              "JobCollection XML");
    free(out);
    out = encode(&codec_json, jobs, &t_job, true, &len);
    if (out != NULL)
        CHECK(strstr(out, "\"resourceURI\": \"" CIMI_NS "/JobCollection\"") != NULL,
              "JobCollection JSON resourceURI");
    free(out);
    json_decref(jobs);
    json_decref(empty);
    json_decref(coll);
}

/* ---- requests ---- */

static const char *const create_by_value_expected =
    "{\"name\":\"web1\",\"properties\":{\"owner\":\"bob\"},\"machineTemplate\":{"
    "\"machineConfig\":{\"href\":\"http://h/cimi/machineConfigs/m1-small\"},"
    "\"machineImage\":{\"imageLocation\":\"http://images/debian12.qcow2\"},"
    "\"credential\":{\"userName\":\"root\",\"key\":\"abcd\"},"
    "\"userData\":\"QmFzZS02NCBlbmNvZGVkIGRhdGE=\"}}";

static void test_machine_create(void)
{
    static const char by_value_ns[] =
        "<MachineCreate xmlns=\"http://schemas.dmtf.org/cimi/1\">\n"
        "  <name>web1</name>\n"
        "  <property key=\"owner\">bob</property>\n"
        "  <machineTemplate>\n"
        "    <machineConfig href=\"http://h/cimi/machineConfigs/m1-small\"/>\n"
        "    <machineImage><imageLocation> http://images/debian12.qcow2 </imageLocation>"
        "</machineImage>\n"
        "    <credential><userName>root</userName><key>abcd</key></credential>\n"
        "    <userData>QmFzZS02NCBlbmNvZGVkIGRhdGE=</userData>\n"
        "  </machineTemplate>\n"
        "</MachineCreate>\n";
    static const char by_value_bare[] =
        "<?xml version=\"1.0\"?>\n<MachineCreate><name>web1</name>"
        "<property name=\"owner\">bob</property><machineTemplate>"
        "<machineConfig href=\"http://h/cimi/machineConfigs/m1-small\"/>"
        "<machineImage><imageLocation>http://images/debian12.qcow2</imageLocation></machineImage>"
        "<credential><userName>root</userName><key>abcd</key></credential>"
        "<userData>QmFzZS02NCBlbmNvZGVkIGRhdGE=</userData></machineTemplate></MachineCreate>";
    static const char by_ref_xml[] =
        "<MachineCreate xmlns=\"http://schemas.dmtf.org/cimi/1\" "
        "resourceURI=\"http://schemas.dmtf.org/cimi/1/MachineCreate\">"
        "<name>web1</name><machineTemplate href=\"http://h/cimi/machineTemplates/small-debian\">"
        "<initialState>STARTED</initialState></machineTemplate></MachineCreate>";
    static const char by_ref_json[] =
        "{ \"resourceURI\": \"http://schemas.dmtf.org/cimi/1/MachineCreate\",\n"
        "  \"name\": \"web1\", \"properties\": {\"owner\": \"bob\"},\n"
        "  \"machineTemplate\": { \"href\": \"http://h/cimi/machineTemplates/small-debian\",\n"
        "                       \"initialState\": \"STARTED\" } }";
    static const char by_ref_expected[] =
        "{\"name\":\"web1\",\"machineTemplate\":{"
        "\"href\":\"http://h/cimi/machineTemplates/small-debian\",\"initialState\":\"STARTED\"}}";
    json_t *create = J(create_by_value_expected);
    char *out;

    expect_decode(&codec_xml, "MachineCreate by value (namespace)", by_value_ns,
                  &t_machine_create, create_by_value_expected);
    expect_decode(&codec_xml, "MachineCreate by value (no namespace, property name=)",
                  by_value_bare, &t_machine_create, create_by_value_expected);
    expect_decode(&codec_xml, "MachineCreate by reference, resourceURI attribute ignored",
                  by_ref_xml, &t_machine_create, by_ref_expected);
    expect_decode(&codec_json, "MachineCreate by reference (cimi.md 3.10)", by_ref_json,
                  &t_machine_create,
                  "{\"name\":\"web1\",\"properties\":{\"owner\":\"bob\"},\"machineTemplate\":{"
                  "\"href\":\"http://h/cimi/machineTemplates/small-debian\","
                  "\"initialState\":\"STARTED\"}}");
    free(roundtrip_json("MachineCreate", create, &t_machine_create));
    out = roundtrip_xml("MachineCreate", create, &t_machine_create, NULL);
    if (out != NULL) {
        static const char *const xml_order[] = {
            "<name>web1</name>", "<property key=\"owner\">", "<machineTemplate>",
            "<machineConfig href=", "<machineImage>", "<imageLocation>", "</machineImage>",
            "<credential>", "<userName>", "<key>", "</credential>", "<userData>", NULL};
        CHECK(in_order(out, xml_order), "MachineCreate by value XML order");
    }
    free(out);
    json_decref(create);
}

static void test_request_variants(void)
{
    expect_decode(&codec_xml, "MachineImageCreate alias with padded values",
                  "<MachineImageCreate xmlns=\"http://schemas.dmtf.org/cimi/1\">"
                  "<name> img </name><type> IMAGE </type>"
                  "<imageLocation>http://h/cimi/machines/1</imageLocation></MachineImageCreate>",
                  &t_machine_image,
                  "{\"name\":\"img\",\"type\":\"IMAGE\","
                  "\"imageLocation\":\"http://h/cimi/machines/1\"}");
    expect_decode(&codec_xml, "machineImageCreate (lower case) alias",
                  "<machineImageCreate><imageLocation>http://x/y</imageLocation>"
                  "</machineImageCreate>",
                  &t_machine_image, "{\"imageLocation\":\"http://x/y\"}");
    expect_decode(&codec_json, "MachineImageCreate resourceURI alias",
                  "{\"resourceURI\":\"http://schemas.dmtf.org/cimi/1/MachineImageCreate\","
                  "\"imageLocation\":\"http://x/y\"}",
                  &t_machine_image, "{\"imageLocation\":\"http://x/y\"}");
    expect_decode(&codec_xml, "empty element means explicit erase (null)",
                  "<Machine><name>n</name><description/><cpu>  </cpu></Machine>", &t_machine,
                  "{\"name\":\"n\",\"description\":null,\"cpu\":null}");
    expect_decode(&codec_xml, "operations in requests are ignored, CDATA and entities read",
                  "<MachineConfiguration xmlns=\"http://schemas.dmtf.org/cimi/1\">"
                  "<name><![CDATA[a<b]]> &amp; c</name><cpu>+2</cpu><memory>-1</memory>"
                  "<operation rel=\"edit\" href=\"http://h/x\"/>"
                  "<disk><capacity>5</capacity><format>ext4</format></disk>"
                  "<disk><capacity>6</capacity><format>xfs</format></disk>"
                  "</MachineConfiguration>",
                  &t_machine_configuration,
                  "{\"name\":\"a<b & c\",\"cpu\":2,\"memory\":-1,\"disks\":["
                  "{\"capacity\":5,\"format\":\"ext4\"},{\"capacity\":6,\"format\":\"xfs\"}]}");
    expect_decode(&codec_xml, "Action with boolean and properties",
                  "<Action xmlns=\"http://schemas.dmtf.org/cimi/1\">"
                  "<action>http://schemas.dmtf.org/cimi/1/action/stop</action><force>1</force>"
                  "<property key=\"reason\">maintenance</property></Action>",
                  &t_action,
                  "{\"action\":\"http://schemas.dmtf.org/cimi/1/action/stop\",\"force\":true,"
                  "\"properties\":{\"reason\":\"maintenance\"}}");
    expect_decode(&codec_xml, "MachineVolume attach body",
                  "<MachineVolume><initialLocation>/dev/sdf</initialLocation>"
                  "<volume href=\"http://h/cimi/volumes/3\"/></MachineVolume>",
                  &t_machine_volume,
                  "{\"initialLocation\":\"/dev/sdf\","
                  "\"volume\":{\"href\":\"http://h/cimi/volumes/3\"}}");
    expect_decode(&codec_xml, "template volumes as XML attributes",
                  "<MachineTemplate><machineConfig href=\"http://c\"/>"
                  "<volume href=\"http://v/1\" initialLocation=\"/dev/vdb\"/>"
                  "<volume href=\"http://v/2\"/></MachineTemplate>",
                  &t_machine_template,
                  "{\"machineConfig\":{\"href\":\"http://c\"},\"volumes\":["
                  "{\"href\":\"http://v/1\",\"initialLocation\":\"/dev/vdb\"},"
                  "{\"href\":\"http://v/2\"}]}");
    expect_decode(&codec_json, "JSON is not validated, only parsed",
                  "{\"name\":\"x\",\"bogus\":[1,2],\"cpu\":\"many\"}", &t_machine,
                  "{\"name\":\"x\",\"bogus\":[1,2],\"cpu\":\"many\"}");
}

static void test_json_errors(void)
{
    expect_error(&codec_json, "malformed JSON", "{\n  \"name\": \"x\",\n    oops\n}", &t_machine,
                 "malformed JSON at line 3, column", NULL);
    expect_error(&codec_json, "trailing garbage", "{\"name\":\"x\"} {}", &t_machine,
                 "malformed JSON", NULL);
    expect_error(&codec_json, "array root", "[{\"name\":\"x\"}]", &t_machine, "object", NULL);
    expect_error(&codec_json, "string root", "\"x\"", &t_machine, "malformed JSON", NULL);
    expect_error(&codec_json, "empty body", "", &t_machine, "malformed JSON", NULL);
    expect_error(&codec_json, "wrong resourceURI",
                 "{\"resourceURI\":\"http://schemas.dmtf.org/cimi/1/Volume\"}", &t_machine,
                 "resourceURI", "resourceURI");
    expect_error(&codec_json, "non-string resourceURI", "{\"resourceURI\":5}", &t_machine,
                 "resourceURI", "resourceURI");
    expect_error(&codec_json, "duplicate member", "{\"name\":\"a\",\"name\":\"b\"}", &t_machine,
                 "duplicate", NULL);
}

/* A MachineImage nested `levels` deep through relatedImage. */
static char *deep_document(int levels)
{
    size_t size = (size_t)levels * 40 + 64;
    char *buf = malloc(size);
    size_t used = 0;

    if (buf == NULL)
        exit(2);
    used += (size_t)snprintf(buf + used, size - used, "<MachineImage>");
    for (int i = 0; i < levels; i++)
        used += (size_t)snprintf(buf + used, size - used, "<relatedImage>");
    for (int i = 0; i < levels; i++)
        used += (size_t)snprintf(buf + used, size - used, "</relatedImage>");
    snprintf(buf + used, size - used, "</MachineImage>");
    return buf;
}

static void test_xml_errors(void)
{
    static const char laughs[] =
        "<?xml version=\"1.0\"?>\n<!DOCTYPE lolz [\n <!ENTITY lol \"lol\">\n"
        " <!ENTITY lol2 \"&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;\">\n"
        " <!ENTITY lol3 \"&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;\">\n]>\n"
        "<Machine><name>&lol3;</name></Machine>";
    static const char external[] =
        "<?xml version=\"1.0\"?>\n<!DOCTYPE Machine SYSTEM \"file:///etc/passwd\">\n"
        "<Machine><name>x</name></Machine>";
    char *deep;

    expect_error(&codec_xml, "malformed XML", "<Machine>\n<name>x</nam>\n</Machine>", &t_machine,
                 "malformed XML at line 2", NULL);
    expect_error(&codec_xml, "empty body", "", &t_machine, "malformed XML", NULL);
    expect_error(&codec_xml, "wrong root", "<Foo/>", &t_machine_create,
                 "expected <MachineCreate> root element, got <Foo>", NULL);
    expect_error(&codec_xml, "wrong root namespace",
                 "<MachineCreate xmlns=\"http://schemas.dmtf.org/cimi/2\"/>", &t_machine_create,
                 "namespace", NULL);
    expect_error(&codec_xml, "bad integer", "<Machine><cpu>two</cpu></Machine>", &t_machine,
                 "'cpu' must be an integer from 1 to 256 vCPUs, got 'two'", "cpu");
    expect_error(&codec_xml, "integer overflow",
                 "<Machine><memory>99999999999999999999999</memory></Machine>", &t_machine,
                 "integer", "memory");
    expect_error(&codec_xml, "bad boolean",
                 "<Action><action>x</action><force>maybe</force></Action>", &t_action,
                 "true or false", "force");
    expect_error(&codec_xml, "bad integer in XML attribute-free struct",
                 "<MachineConfiguration><disk><capacity>1k</capacity></disk>"
                 "</MachineConfiguration>",
                 &t_machine_configuration, "integer", "capacity");
    expect_error(&codec_xml, "unknown element", "<Machine><name>x</name><foo>1</foo></Machine>",
                 &t_machine, "unknown attribute 'foo'", "foo");
    expect_error(&codec_xml, "unknown element nested in a template",
                 "<MachineCreate><machineTemplate><machineImage><bar/></machineImage>"
                 "</machineTemplate></MachineCreate>",
                 &t_machine_create, "unknown attribute 'bar'", "bar");
    expect_error(&codec_xml, "element in a foreign namespace",
                 "<Machine xmlns:x=\"http://example.com/x\"><x:name>x</x:name></Machine>",
                 &t_machine, "unknown attribute 'name'", "name");
    expect_error(&codec_xml, "element where text belongs",
                 "<Machine><name><b>x</b></name></Machine>", &t_machine, "simple value", "name");
    expect_error(&codec_xml, "duplicate element",
                 "<Machine><name>a</name><name>b</name></Machine>", &t_machine,
                 "more than once", "name");
    expect_error(&codec_xml, "duplicate property key",
                 "<Machine><property key=\"k\">a</property>"
                 "<property key=\"k\">b</property></Machine>",
                 &t_machine, "more than once", "properties");
    expect_error(&codec_xml, "property without key",
                 "<Machine><property>a</property></Machine>", &t_machine, "key", "properties");
    expect_error(&codec_xml, "stray text", "<Machine>hello<name>a</name></Machine>", &t_machine,
                 "unexpected text", NULL);
    expect_error(&codec_xml, "DTD with entity expansion (billion laughs)", laughs, &t_machine,
                 "DOCTYPE", NULL);
    expect_error(&codec_xml, "DTD with external subset", external, &t_machine, "DOCTYPE", NULL);
    expect_error(&codec_xml, "undeclared entity", "<Machine><name>&xxe;</name></Machine>",
                 &t_machine, "malformed XML", NULL);

    deep = deep_document(40);
    expect_error(&codec_xml, "nesting deeper than 32", deep, &t_machine_image, "deeper", NULL);
    free(deep);
    deep = deep_document(20);
    {
        struct cimi_error err = {0};
        json_t *v = codec_xml.decode(deep, strlen(deep), &t_machine_image, &err);

        CHECK(v != NULL, "nesting of 20 is accepted (%s)", err.message);
        json_decref(v);
    }
    free(deep);
}

/* Strings that XML 1.0 cannot carry still give a well-formed, valid document. */
static void test_xml_unsafe_text(void)
{
    json_t *doc = J("{\"name\":\"bell\\u0007 and \\uffff\",\"description\":\"a]]>b\\r\\n\","
                    "\"properties\":{\"k\\u0001\":\"<v>\"}}");
    struct cimi_error err = {0};
    size_t len = 0;
    json_t *back;
    char *out;

    out = encode_xml_valid(doc, &t_machine, false, &len);
    if (out != NULL) {
        back = codec_xml.decode(out, len, &t_machine, &err);
        CHECK(back != NULL &&
                  strcmp(json_string_value(json_object_get(back, "name")), "bell? and ?") == 0 &&
                  json_object_get(json_object_get(back, "properties"), "k?") != NULL,
              "control characters become '?'");
        json_decref(back);
    }
    free(out);
    json_decref(doc);
}

/* Does validation refuse the properties of this JSON Machine body? */
static bool property_refused(const char *body)
{
    struct cimi_error err = {0};
    json_t *doc = codec_json.decode(body, strlen(body), &t_machine, &err);
    bool refused = doc != NULL && validate_document(doc, &t_machine, VALIDATE_UPDATE, &err) != 0 &&
                   err.status == 400 && strcmp(err.attribute, "properties") == 0;

    printf("# %s: %s\n", body, err.message);
    json_decref(doc);
    return refused;
}

/* Found by fuzz/fuzz_json (fuzz/regressions/json/empty-property-key,
 * blank-property-key): a property key that is empty or only white space
 * passed validation, but its XML form <property key="">, which GET
 * returns, is refused when sent back (the decoder trims keys). */
static void test_property_keys(void)
{
    json_t *fine = J("{\"properties\":{\"a b\":\"\"}}");
    struct cimi_error err = {0};

    CHECK(property_refused("{\"name\":\"a\",\"properties\":{\"\":\"x\"}}"),
          "validation refuses an empty property key");
    CHECK(property_refused("{\"properties\":{\"ok\":\"x\",\" \":\"x\"}}"),
          "validation refuses a blank property key");
    CHECK(property_refused("{\"properties\":{\" k\":\"x\"}}"), "leading space in a key");
    CHECK(property_refused("{\"properties\":{\"k\\t\":\"x\"}}"), "trailing tab in a key");
    CHECK(validate_document(fine, &t_action, VALIDATE_UPDATE, &err) == 0,
          "inner space in a key and an empty value are fine");
    json_decref(fine);
}

/* ---- allocation failures ---- */

static bool allocation_allowed(void)
{
    if (alloc_budget < 0)
        return true;
    if (alloc_budget == 0) {
        alloc_failed = true;
        return false;
    }
    alloc_budget--;
    return true;
}

static void *test_malloc(size_t size)
{
    return allocation_allowed() ? malloc(size) : NULL;
}

static void *test_realloc(void *p, size_t size)
{
    return allocation_allowed() ? realloc(p, size) : NULL;
}

static char *test_strdup(const char *s)
{
    return allocation_allowed() ? strdup(s) : NULL;
}

/* One codec call under the current allocation budget; true when it gave a result. */
static bool run_codec_call(int scenario, const json_t *doc)
{
    static const char xml[] =
        "<MachineCreate><name>w</name><property key=\"a\">b</property>"
        "<property name=\"c\">d</property><machineTemplate href=\"t\">"
        "<machineConfig href=\"c\"><cpu>1</cpu><disk><capacity>3</capacity><format>f</format>"
        "</disk></machineConfig><machineImage><imageLocation>l</imageLocation></machineImage>"
        "<volume href=\"v\" initialLocation=\"/d\"/><credential><userName>r</userName>"
        "</credential></machineTemplate></MachineCreate>";
    static const char json[] = "{\"name\":\"n\",\"cpu\":1,\"properties\":{\"a\":\"b\"}}";
    struct cimi_error err = {0};
    size_t len = 0;
    json_t *value = NULL;
    char *text = NULL;

    if (scenario == 0)
        text = codec_xml.encode(doc, &t_machine, false, &len);
    else if (scenario == 1)
        text = codec_xml.encode(doc, &t_machine, true, &len);
    else if (scenario == 2)
        text = codec_json.encode(doc, &t_machine, false, &len);
    else if (scenario == 3)
        text = codec_json.encode(doc, &t_machine, true, &len);
    else if (scenario == 4)
        value = codec_xml.decode(xml, strlen(xml), &t_machine_create, &err);
    else
        value = codec_json.decode(json, strlen(json), &t_machine, &err);
    free(text);
    json_decref(value);
    return text != NULL || value != NULL;
}

/* The JSON text jansson writes for doc, pretty-printed, with a newline. */
static char *jansson_text(const json_t *doc)
{
    char *text = json_dumps(doc, JSON_INDENT(2));
    size_t n = text ? strlen(text) : 0;
    char *out = malloc(n + 2);

    if (out != NULL && text != NULL) {
        memcpy(out, text, n);
        out[n] = '\n';
        out[n + 1] = '\0';
    }
    free(text);
    return out;
}

/* encode's JSON must be exactly what jansson writes (pretty-printed) for the
 * ordered document without its empty values: the wire format did not change
 * when the encoder started writing the text itself. */
static void check_json_text(const char *label, const json_t *doc, const struct cimi_type *t,
                            bool collection, const char *expected_doc)
{
    json_t *expected = J(expected_doc);
    char *want = jansson_text(expected), *got;
    size_t len = 0;

    got = codec_json.encode(doc, t, collection, &len);
    CHECK(got != NULL && want != NULL && strcmp(got, want) == 0 && len == strlen(want),
          "%s: the encoder writes jansson's text", label);
    if (got == NULL || want == NULL || strcmp(got, want) != 0)
        printf("# got:\n%s# want:\n%s", got ? got : "(null)\n", want ? want : "(null)\n");
    free(got);
    free(want);
    json_decref(expected);
}

static void test_json_text(void)
{
    json_t *doc = J(
        "{\"zzz\":{\"x\":[{}, {\"a\":\"\"}, null], \"y\":\"b\"},"
        " \"operations\":[{\"rel\":\"edit\",\"href\":\"http://h/cimi/machines/1\"}],"
        " \"state\":\"STARTED\", \"cpu\":-2, \"memory\":1048576,"
        " \"description\":\"quote \\\" backslash \\\\ nl \\n tab \\t cr \\r bs \\b ff \\f"
        " ctl \\u0001 \\u001f del \\u007f slash / \\u00e9\\u4e2d\\ud83d\\ude00\","
        " \"name\":\"m\", \"id\":\"http://h/cimi/machines/1\", \"empty\":{\"a\":{\"b\":[]}},"
        " \"properties\":{\"k\":\"v\",\"e\":\"\"}, \"flag\":true, \"off\":false, \"nothing\":null,"
        " \"ratio\":1.5, \"deep\":{\"a\":{\"b\":{\"c\":[1,[2,{\"d\":\"e\"}]]}}}}");
    json_t *coll = json_pack("{s:s, s:I, s:[O, {s:s}], s:[{s:s, s:s}], s:s, s:[]}",
                             "id", "http://h/cimi/machines", "count", (json_int_t)2,
                             "machines", doc, "name", "x", "operations", "rel", "add",
                             "href", "http://h/cimi/machines", "extra", "e", "more");
    json_t *empty_coll = json_pack("{s:s, s:[]}", "id", "http://h/cimi/machines", "machines");

    check_json_text("Machine, every kind of value", doc, &t_machine, false,
        "{\"resourceURI\":\"http://schemas.dmtf.org/cimi/1/Machine\","
        " \"id\":\"http://h/cimi/machines/1\", \"name\":\"m\","
        " \"description\":\"quote \\\" backslash \\\\ nl \\n tab \\t cr \\r bs \\b ff \\f"
        " ctl \\u0001 \\u001f del \\u007f slash / \\u00e9\\u4e2d\\ud83d\\ude00\","
        " \"properties\":{\"k\":\"v\"}, \"state\":\"STARTED\", \"cpu\":-2, \"memory\":1048576,"
        " \"operations\":[{\"rel\":\"edit\",\"href\":\"http://h/cimi/machines/1\"}],"
        " \"zzz\":{\"y\":\"b\"}, \"flag\":true, \"off\":false,"
        " \"ratio\":1.5, \"deep\":{\"a\":{\"b\":{\"c\":[1,[2,{\"d\":\"e\"}]]}}}}");
    check_json_text("a collection with items, operations and the rest", coll, &t_machine, true,
        "{\"resourceURI\":\"http://schemas.dmtf.org/cimi/1/MachineCollection\","
        " \"id\":\"http://h/cimi/machines\", \"count\":2,"
        " \"machines\":[{\"resourceURI\":\"http://schemas.dmtf.org/cimi/1/Machine\","
        "   \"id\":\"http://h/cimi/machines/1\", \"name\":\"m\","
        "   \"description\":\"quote \\\" backslash \\\\ nl \\n tab \\t cr \\r bs \\b ff \\f"
        " ctl \\u0001 \\u001f del \\u007f slash / \\u00e9\\u4e2d\\ud83d\\ude00\","
        "   \"properties\":{\"k\":\"v\"}, \"state\":\"STARTED\", \"cpu\":-2, \"memory\":1048576,"
        "   \"operations\":[{\"rel\":\"edit\",\"href\":\"http://h/cimi/machines/1\"}],"
        "   \"zzz\":{\"y\":\"b\"}, \"flag\":true, \"off\":false,"
        "   \"ratio\":1.5, \"deep\":{\"a\":{\"b\":{\"c\":[1,[2,{\"d\":\"e\"}]]}}}},"
        "  {\"resourceURI\":\"http://schemas.dmtf.org/cimi/1/Machine\", \"name\":\"x\"}],"
        " \"operations\":[{\"rel\":\"add\",\"href\":\"http://h/cimi/machines\"}],"
        " \"extra\":\"e\"}");
    check_json_text("an empty collection", empty_coll, &t_machine, true,
        "{\"resourceURI\":\"http://schemas.dmtf.org/cimi/1/MachineCollection\","
        " \"id\":\"http://h/cimi/machines\", \"count\":0}");
    json_decref(coll);
    json_decref(empty_coll);
    json_decref(doc);
}

/* The next line of f into buf without its newline; false at the end. */
static bool read_line(FILE *f, char *buf, size_t len)
{
    if (fgets(buf, (int)len, f) == NULL)
        return false;
    buf[strcspn(buf, "\n")] = '\0';
    return true;
}

/* Append text and a newline to a growing string. */
static void append_line(char **s, size_t *n, const char *text)
{
    size_t add = strlen(text) + 1;
    char *grown = realloc(*s, *n + add + 1);

    if (grown == NULL)
        exit(2);
    memcpy(grown + *n, text, add - 1);
    grown[*n + add - 1] = '\n';
    grown[*n + add] = '\0';
    *s = grown;
    *n += add;
}

/* The XML encoder writes its text itself: byte for byte what libxml2 wrote
 * (escaping, namespaces, attribute order, indentation), recorded in
 * tests/fixtures/xml-text.txt. */
static void test_xml_text(void)
{
    static char line[65536];
    FILE *f = fopen(XML_TEXT_FIXTURE, "r");
    bool more;
    int blocks = 0;

    CHECK(f != NULL, "%s opens", XML_TEXT_FIXTURE);
    if (f == NULL)
        return;
    more = read_line(f, line, sizeof(line));
    while (more) {
        char type[64] = "", label[256];
        int collection = 0;
        char *want = NULL, *got;
        size_t want_len = 0, len = 0;
        json_t *doc;

        if (strncmp(line, "== ", 3) != 0) {
            more = read_line(f, line, sizeof(line));
            continue;
        }
        snprintf(label, sizeof(label), "%s", line + 3);
        sscanf(line + 3, "%63s %d", type, &collection);
        if (!read_line(f, line, sizeof(line)))
            break;
        doc = J(line);
        while ((more = read_line(f, line, sizeof(line))) && strncmp(line, "== ", 3) != 0)
            append_line(&want, &want_len, line);
        got = model_type_by_name(type) == NULL ? NULL
              : codec_xml.encode(doc, model_type_by_name(type), collection != 0, &len);
        CHECK(got != NULL && want != NULL && strcmp(got, want) == 0 && len == want_len,
              "XML text of %s is libxml2's", label);
        if (got == NULL || want == NULL || strcmp(got, want) != 0)
            printf("# got:\n%s# want:\n%s", got ? got : "(null)\n", want ? want : "(null)\n");
        free(got);
        free(want);
        json_decref(doc);
        blocks++;
    }
    fclose(f);
    CHECK(blocks >= 10, "the XML text fixtures hold %d documents", blocks);
}

/* No type lists an attribute twice (the JSON encoder writes each attribute
 * where the table names it: twice would write it twice). */
static bool attrs_unique(const struct cimi_type *t, int depth)
{
    const struct cimi_attr *a, *b;

    if (t == NULL || depth > 8)
        return true;
    for (size_t i = 0; (a = model_attr_at(t, i)) != NULL; i++) {
        for (size_t j = 0; j < i; j++) {
            b = model_attr_at(t, j);
            if (strcmp(a->name, b->name) == 0) {
                printf("# %s lists '%s' twice\n", t->name ? t->name : "(structure)", a->name);
                return false;
            }
        }
        if (a->target != NULL && a->target != t && !attrs_unique(a->target, depth + 1))
            return false;
    }
    return true;
}

static void test_model_attrs_unique(void)
{
    const struct cimi_type *requests[] = {&t_machine_create, &t_credential_create, &t_volume_create,
                                          &t_action, &t_network_create, &t_host, &t_job, NULL};
    bool ok = true;

    for (size_t i = 0; cimi_toplevel_types[i] != NULL; i++)
        ok = attrs_unique(cimi_toplevel_types[i], 0) && ok;
    for (size_t i = 0; requests[i] != NULL; i++)
        ok = attrs_unique(requests[i], 0) && ok;
    CHECK(ok, "no type lists an attribute twice");
}

/*
 * Let the n-th allocation of jansson and libxml2 fail, for every n, until a
 * call completes without a failure: no crash, and (under ASan) no leak.
 */
static void test_allocation_failures(void)
{
    json_t *doc = J("{\"id\":\"http://h/m/1\",\"name\":\"w\",\"properties\":{\"a\":\"b\"},"
                    "\"cpu\":2,\"disks\":{\"href\":\"h\",\"id\":\"h\",\"count\":1,"
                    "\"disks\":[{\"capacity\":5}],\"operations\":[{\"rel\":\"add\","
                    "\"href\":\"h\"}]},"
                    "\"latestSnapshot\":{\"href\":\"i\",\"name\":\"n\"},"
                    "\"machines\":[{\"id\":\"x\",\"name\":\"\"}],"
                    "\"operations\":[{\"rel\":\"edit\",\"href\":\"e\"}]}");

    for (int scenario = 0; scenario < 6; scenario++) {
        bool ok = false;
        long n;

        for (n = 0; n < 100000; n++) {
            alloc_failed = false;
            alloc_budget = n;
            ok = run_codec_call(scenario, doc);
            alloc_budget = -1;
            if (!alloc_failed)
                break;
        }
        CHECK(ok, "codec call %d survives failure of each of its first %ld allocations",
              scenario, n);
    }
    json_decref(doc);
}

int main(int argc, char **argv)
{
    const char *xsd = argc > 1 ? argv[1] : getenv("CIMI_XSD");

    json_set_alloc_funcs(test_malloc, free);
    xmlMemSetup(free, test_malloc, test_realloc, test_strdup);
    xmlSetStructuredErrorFunc(NULL, ignore_error);
    load_schema(xsd != NULL ? xsd : DEFAULT_XSD);

    test_machine();
    test_machine_configuration();
    test_job();
    test_resource_metadata();
    test_cloud_entry_point();
    test_credential();
    test_machine_image();
    test_expanded_disks();
    test_volumes();
    test_collections();
    test_machine_create();
    test_request_variants();
    test_json_errors();
    test_xml_errors();
    test_xml_unsafe_text();
    test_property_keys();
    test_json_text();
    test_xml_text();
    test_model_attrs_unique();
    test_allocation_failures();

    xmlSchemaFree(schema);
    xmlCleanupParser();
    return check_summary();
}
