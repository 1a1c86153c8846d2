/*
 * test_ovf_write.c - unit tests of src/ovf/ovf_write.c and ova_write.c:
 * descriptors of a 2-machine System (collection), a one-Machine System
 * (bare VirtualSystem) and a nested System validate against DMTF's
 * dsp8023_1.1.1.xsd (tests/fixtures/ovf-xsd/, or $CIMI_OVF_XSD) and carry the mapped hardware; an OVA is
 * readable by tar in the order .ovf, .mf, disks, and its manifest holds
 * the members' SHA-256; sizes of 8 GiB and more use GNU base-256.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libxml/xmlschemas.h>
#include <nettle/sha2.h>

#include "check.h"
#include "ovf/ovf.h"
#include "ovf/ovf_write.h"

static xmlSchemaPtr schema;

static bool valid(const char *xml, size_t len)
{
    xmlDocPtr doc = xmlReadMemory(xml, (int)len, "x.ovf", NULL, XML_PARSE_NONET);
    xmlSchemaValidCtxtPtr v = xmlSchemaNewValidCtxt(schema);
    bool ok = doc && v && xmlSchemaValidateDoc(v, doc) == 0;

    xmlSchemaFreeValidCtxt(v);
    xmlFreeDoc(doc);
    return ok;
}

static json_t *machine(const char *name, int cpu, long long kib, int disks, const char *net)
{
    json_t *m = json_pack("{s:s, s:s, s:i, s:I, s:[], s:[]}", "type", "machine", "name", name,
                          "cpu", cpu, "memory", kib, "disks", "nics");

    for (int i = 0; i < disks; i++)
        json_array_append_new(json_object_get(m, "disks"),
                              json_pack("{s:I, s:s, s:I}", "capacity", (json_int_t)(64 << 20),
                                        "source", "/dev/null", "size", (json_int_t)1024));
    if (net)
        json_array_append_new(json_object_get(m, "nics"), json_pack("{s:s}", "network", net));
    return m;
}

static char *descriptor(json_t *pkg, size_t *len)
{
    char why[256], *xml = NULL;

    if (ovf_prepare(pkg, "vmdk", why, sizeof(why)) != 0 ||
        ovf_write_descriptor(pkg, &xml, len, why, sizeof(why)) != 0)
        printf("# %s\n", why);
    return xml;
}

static void test_collection(void)
{
    json_t *db = machine("db", 2, 1048576, 2, "appnet");
    json_t *pkg = json_pack("{s:[{s:s, s:s}], s:{s:s, s:s, s:s, s:{s:s}, s:[o, o]}}", "networks",
                            "name", "appnet", "description", "the app's net", "content", "type",
                            "collection", "name", "shop & co", "description", "a <shop>",
                            "properties", "tier", "gold", "children",
                            machine("web", 1, 524289, 1, "appnet"), db);
    json_t *files;
    size_t len;
    char *xml;

    json_object_set_new(json_array_get(json_object_get(db, "disks"), 1), "volume",
                        json_string("dbdata"));
    xml = descriptor(pkg, &len);
    CHECK(xml != NULL, "collection: descriptor written");
    if (!xml)
        return;
    CHECK(valid(xml, len), "collection: valid against dsp8023_1.1.1.xsd");
    CHECK(strstr(xml, "<VirtualSystemCollection ovf:id=\"shop___co\"") != NULL,
          "collection: ovf:id is the XML-safe name");
    CHECK(strstr(xml, "<Name>shop &amp; co</Name>") != NULL, "collection: Name escaped");
    CHECK(strstr(xml, "<Annotation>a &lt;shop&gt;</Annotation>") != NULL,
          "collection: description in AnnotationSection");
    CHECK(strstr(xml, "ovf:key=\"tier\" ovf:type=\"string\" ovf:value=\"gold\"") != NULL,
          "collection: properties in ProductSection");
    CHECK(strstr(xml, "<Item ovf:id=\"web\" ovf:order=\"1\"") != NULL &&
              strstr(xml, "<Item ovf:id=\"db\" ovf:order=\"2\"") != NULL,
          "collection: StartupSection in member order");
    CHECK(strstr(xml, "<rasd:VirtualQuantity>513</rasd:VirtualQuantity>") != NULL,
          "memory 524289 KiB rounds up to 513 MB");
    CHECK(strstr(xml, "ovf:capacity=\"64\" ovf:capacityAllocationUnits=\"byte * 2^20\"") != NULL,
          "capacity in the largest exact unit");
    CHECK(strstr(xml, "<Network ovf:name=\"appnet\">") != NULL &&
              strstr(xml, "<Description>the app's net</Description>") != NULL,
          "NetworkSection names the network with its description");
    CHECK(strstr(xml, "<rasd:Connection>appnet</rasd:Connection>") != NULL, "NIC connection");
    CHECK(strstr(xml, "<rasd:ElementName>Disk 2 (Volume dbdata)</rasd:ElementName>") != NULL,
          "volume disk labelled");
    CHECK(strstr(xml, "<rasd:HostResource>ovf:/disk/db-disk2</rasd:HostResource>") != NULL,
          "HostResource names the disk");
    CHECK(strstr(xml, "ovf:href=\"web-disk1.vmdk\" ovf:id=\"file1\" ovf:size=\"1024\"") != NULL,
          "References: file of the first disk with its size");
    CHECK(strstr(xml, "<rasd:Parent>3</rasd:Parent>") != NULL, "integer Parent");
    {
        struct cimi_error err;
        json_t *model = ovf_parse(xml, len, NULL, &err);
        json_t *db_model = json_array_get(
            json_object_get(json_object_get(model, "content"), "children"), 1);

        CHECK(model != NULL, "cimid's own OVF reader parses it%s%s", model ? "" : ": ",
              model ? "" : err.message);
        CHECK(json_integer_value(json_object_get(db_model, "cpu")) == 2 &&
                  json_integer_value(json_object_get(db_model, "memory")) == 1024LL << 20 &&
                  json_array_size(json_object_get(db_model, "nics")) == 1 &&
                  json_array_size(json_object_get(model, "disks")) == 3,
              "the reader finds the hardware written");
        json_decref(model);
    }
    files = ovf_files(pkg);
    CHECK(json_array_size(files) == 3 &&
              strcmp(json_string_value(json_object_get(json_array_get(files, 2), "href")),
                     "db-disk2.vmdk") == 0,
          "files in References order");
    json_decref(files);
    free(xml);
    json_decref(pkg);
}

static void test_one_machine(void)
{
    json_t *pkg = json_pack("{s:s, s:{s:s, s:s, s:[o]}}", "profile", "kvm", "content", "type",
                            "collection", "name", "solo", "children",
                            machine("solo", 1, 262144, 1, NULL));
    size_t len;
    char *xml = descriptor(pkg, &len);

    CHECK(xml && valid(xml, len), "one machine: valid");
    CHECK(xml && strstr(xml, "VirtualSystemCollection") == NULL &&
              strstr(xml, "<VirtualSystem ovf:id=\"solo\"") != NULL,
          "one machine: a bare VirtualSystem");
    CHECK(xml && strstr(xml, "qcow-image-format") && strstr(xml, "virtio-scsi"),
          "kvm profile: qcow2 disks on virtio-scsi");
    CHECK(xml && strstr(xml, "NetworkSection") == NULL, "no network: no NetworkSection");
    free(xml);
    json_decref(pkg);
}

static void test_nested_and_blank(void)
{
    json_t *inner = json_pack("{s:s, s:s, s:[o, o]}", "type", "collection", "name", "inner",
                              "children", machine("a", 1, 1024, 0, NULL),
                              machine("a", 1, 1024, 0, NULL));
    json_t *m = machine("b", 1, 1024, 0, "n");
    json_t *pkg = json_pack("{s:{s:s, s:s, s:[o, o]}}", "content", "type", "collection", "name",
                            "outer", "children", inner, m);
    size_t len;
    char *xml;

    json_array_append_new(json_object_get(m, "disks"),
                          json_pack("{s:I}", "capacity", (json_int_t)1 << 30));
    xml = descriptor(pkg, &len);
    CHECK(xml && valid(xml, len), "nested collections: valid");
    CHECK(xml && strstr(xml, "<VirtualSystem ovf:id=\"a-2\"") != NULL, "duplicate names made unique");
    CHECK(xml && strstr(xml, "ovf:capacity=\"1\" ovf:capacityAllocationUnits=\"byte * 2^30\" "
                             "ovf:diskId=\"b-disk1\"/>") != NULL,
          "a disk without a source has no fileRef");
    free(xml);
    json_decref(pkg);
}

static void test_malformed(void)
{
    json_t *pkg = json_pack("{s:{s:s, s:s}}", "content", "type", "machine", "name", "m");
    json_t *disks = json_array();
    char why[256];

    for (int i = 0; i < 16; i++)
        json_array_append_new(disks, json_pack("{s:i}", "capacity", 1024));
    json_object_set_new(json_object_get(pkg, "content"), "disks", disks);
    CHECK(ovf_prepare(pkg, "vmdk", why, sizeof(why)) != 0 && strstr(why, "more than 15"),
          "16 disks on one controller refused: %s", why);
    json_decref(pkg);
    pkg = json_object();
    CHECK(ovf_prepare(pkg, "vmdk", why, sizeof(why)) != 0, "no content refused");
    json_decref(pkg);
}

static void sha256_hex(const void *data, size_t len, char out[65])
{
    struct sha256_ctx ctx;
    uint8_t d[SHA256_DIGEST_SIZE];

    sha256_init(&ctx);
    sha256_update(&ctx, len, data);
    sha256_digest(&ctx, sizeof(d), d);
    for (int i = 0; i < SHA256_DIGEST_SIZE; i++)
        sprintf(out + 2 * i, "%02x", d[i]);
}

static bool count_progress(void *arg, uint64_t done)
{
    *(uint64_t *)arg = done;
    return true;
}

static void test_ova(void)
{
    char dir[] = "/tmp/test_ovf_writeXXXXXX", path[512], disk[512], why[256], cmd[1200];
    char out[4096] = "", d1[65], d2[65], expect[1024];
    const char *names[] = {"p.ovf", "p-disk1.vmdk"};
    static char data[3 * 1000 * 1000 + 7];
    const char *ovf = "<Envelope/>";
    struct ova_writer *w;
    uint64_t done = 0;
    FILE *f;
    int fd;

    if (!mkdtemp(dir))
        return;
    for (size_t i = 0; i < sizeof(data); i++)
        data[i] = (char)(i * 7);
    snprintf(disk, sizeof(disk), "%s/disk.bin", dir);
    f = fopen(disk, "w");
    fwrite(data, 1, sizeof(data), f);
    fclose(f);
    snprintf(path, sizeof(path), "%s/p.ova", dir);
    fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
    w = ova_begin(fd, names, 2, why, sizeof(why));
    CHECK(w && ova_add_buffer(w, "p.ovf", ovf, strlen(ovf), why, sizeof(why)) == 0 &&
              ova_add_file(w, "p-disk1.vmdk", disk, count_progress, &done, why,
                           sizeof(why)) == 0 && ova_end(w, why, sizeof(why)) == 0,
          "OVA written");
    close(fd);
    CHECK(done > sizeof(data), "progress reported (%llu bytes)", (unsigned long long)done);
    snprintf(cmd, sizeof(cmd), "tar -tf %s && tar -xOf %s p.mf", path, path);
    f = popen(cmd, "r");
    fread(out, 1, sizeof(out) - 1, f);
    CHECK(pclose(f) == 0, "tar reads the OVA");
    sha256_hex(ovf, strlen(ovf), d1);
    sha256_hex(data, sizeof(data), d2);
    snprintf(expect, sizeof(expect),
             "p.ovf\np.mf\np-disk1.vmdk\nSHA256(p.ovf)= %s\nSHA256(p-disk1.vmdk)= %s\n", d1, d2);
    CHECK(strcmp(out, expect) == 0, "order .ovf, .mf, disk; manifest digests");
    {   /* cimid's own reader: index, manifest parsed and verified */
        const char *required[] = {"p.ovf", "p-disk1.vmdk", NULL};
        struct ovf_manifest mf = {0};
        struct ova_index idx = {0};
        struct cimi_error err;
        size_t mlen = 0;
        char *mtext = NULL;
        bool ok = ova_read_index(path, &idx, &err) == 0 && idx.count == 3 &&
                  idx.descriptor == 0 && idx.manifest == 1 &&
                  ova_read_member(&idx.members[1], 4096, &mtext, &mlen, &err) == 0 &&
                  manifest_parse(mtext, mlen, &mf, &err) == 0 &&
                  manifest_verify(&mf, &idx, required, &err) == 0;

        CHECK(ok, "ova_read_index and manifest_verify accept the OVA%s%s", ok ? "" : ": ",
              ok ? "" : err.message);
        free(mtext);
        manifest_free(&mf);
        ova_index_free(&idx);
    }
    snprintf(cmd, sizeof(cmd), "tar -xOf %s p-disk1.vmdk | cmp -s - %s", path, disk);
    CHECK(system(cmd) == 0, "the disk member holds the file's bytes");
    snprintf(cmd, sizeof(cmd), "tar -tvf %s | grep -c ' root/root '", path);
    f = popen(cmd, "r");
    out[0] = '\0';
    fgets(out, sizeof(out), f);
    pclose(f);
    CHECK(atoi(out) == 3, "members owned by root/root");

    fd = open(path, O_RDWR | O_TRUNC);
    w = ova_begin(fd, names, 2, why, sizeof(why));
    CHECK(w && ova_add_buffer(w, "p.ovf", ovf, strlen(ovf), why, sizeof(why)) == 0 &&
              ova_end(w, why, sizeof(why)) != 0,
          "an OVA missing a member is not complete: %s", why);
    w = ova_begin(fd, (const char *[]){"x.vmdk"}, 1, why, sizeof(why));
    CHECK(w == NULL, "first member must be the .ovf");
    w = ova_begin(fd, (const char *[]){"a/b.ovf"}, 1, why, sizeof(why));
    CHECK(w == NULL, "member names are flat");
    close(fd);
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    system(cmd);
}

static void test_size_field(void)
{
    char f[12];

    ova_size_field(f, 8ULL * 1024 * 1024 * 1024 - 1);
    CHECK(memcmp(f, "77777777777", 12) == 0, "8 GiB - 1 in octal");
    ova_size_field(f, 9663676416ULL); /* 9 GiB = 0x240000000 */
    CHECK((unsigned char)f[0] == 0x80 && f[7] == 0x02 && (unsigned char)f[8] == 0x40 &&
              f[9] == 0 && f[10] == 0 && f[11] == 0,
          "9 GiB in GNU base-256");
}

int main(void)
{
    /* Run from the repository root (meson's workdir, tests/run.sh); the
     * schema's own imports are relative to it. */
    const char *xsd = getenv("CIMI_OVF_XSD");
    xmlSchemaParserCtxtPtr pc;

    pc = xmlSchemaNewParserCtxt(xsd ? xsd : "tests/fixtures/ovf-xsd/dsp8023_1.1.1.xsd");
    schema = xmlSchemaParse(pc);
    xmlSchemaFreeParserCtxt(pc);
    CHECK(schema != NULL, "the OVF schema compiles");
    if (!schema)
        return check_summary();
    test_collection();
    test_one_machine();
    test_nested_and_blank();
    test_malformed();
    test_ova();
    test_size_field();
    xmlSchemaFree(schema);
    return check_summary();
}
