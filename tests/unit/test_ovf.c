/*
 * test_ovf.c - unit tests of src/ovf/: the OVA reader (members, offsets,
 * pax sizes, GNU base-256 sizes, unsafe names, one .ovf), the manifest
 * (tolerant parse, canonical line, verification), DSP0004 units, and the
 * descriptor parser (1.x, old oVirt and 2.x namespaces, 0.9 refused,
 * required content, skipped optional content, line numbers, DOCTYPE,
 * DeploymentOptions, EULAs), and the disk import's sniffing and checks
 * (driver/disk_import.c; needs qemu-img).
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "driver/disk_convert.h"
#include "ovf/ovf.h"

static char tmpdir[] = "/tmp/test_ovf.XXXXXX";

/* ---- building tars by hand ---- */

static void header(struct tar_header *h, const char *name, char type, uint64_t size,
                   bool base256)
{
    memset(h, 0, sizeof(*h));
    snprintf(h->name, sizeof(h->name), "%s", name);
    memcpy(h->mode, "0000644", 8);
    memcpy(h->uid, "0000000", 8);
    memcpy(h->gid, "0000000", 8);
    if (base256) {
        h->size[0] = (char)0x80;
        for (int i = 11; i > 0; i--, size >>= 8)
            h->size[i] = (char)(size & 0xff);
    } else {
        snprintf(h->size, sizeof(h->size), "%011llo", (unsigned long long)size);
    }
    memcpy(h->mtime, "00000000000", 12);
    h->typeflag = type;
    memcpy(h->magic, "ustar", 6);
    memcpy(h->version, "00", 2);
    snprintf(h->chksum, sizeof(h->chksum), "%06o", tar_checksum(h));
    h->chksum[7] = ' ';
}

static void put_member(FILE *f, const char *name, char type, const char *data, size_t len,
                       bool base256)
{
    struct tar_header h;
    static const char zeros[512];

    header(&h, name, type, len, base256);
    fwrite(&h, sizeof(h), 1, f);
    fwrite(data, 1, len, f);
    fwrite(zeros, 1, (512 - len % 512) % 512, f);
}

static void end_tar(FILE *f)
{
    static const char zeros[1024];
    fwrite(zeros, 1, sizeof(zeros), f);
    fclose(f);
}

static const char *path_of(const char *name)
{
    static char p[4][512];
    static int k;
    k = (k + 1) % 4;
    snprintf(p[k], sizeof(p[k]), "%s/%s", tmpdir, name);
    return p[k];
}

static void test_tar(void)
{
    struct ova_index idx;
    struct cimi_error err;
    const char *ova = path_of("a.ova");

    FILE *f = fopen(ova, "wb");
    put_member(f, "a.ovf", '0', "<x/>", 4, false);
    put_member(f, "PaxHeader/disk.vmdk", 'x', "", 0, false);
    put_member(f, "._a.ovf", '0', "junk", 4, false);
    /* a pax header whose size record overrides the ustar field (0 here) */
    const char *pax = "13 size=1000\n";
    put_member(f, "PaxHeaders/x", 'x', pax, strlen(pax), false);
    struct tar_header h;
    header(&h, "disk.vmdk", '0', 0, false);
    fwrite(&h, sizeof(h), 1, f);
    char data[1024] = {0};
    memcpy(data, "KDMV", 4);
    fwrite(data, 1, 1024, f);
    put_member(f, "big.img", '0', "0123456789", 10, true);
    const char *longname = "a-directory-with-a-rather-long-name/and-a-file-whose-name-makes-the-"
                           "path-longer-than-one-hundred-bytes.vmdk";
    put_member(f, "././@LongLink", 'L', longname, strlen(longname) + 1, false);
    put_member(f, "a-directory-with-a-rather-long-name/and-a-file-whose-name-makes-t", '0', "xy",
               2, false);
    end_tar(f);

    CHECK(ova_read_index(ova, &idx, &err) == 0, "tar: read (%s)", err.message);
    CHECK(idx.count == 4, "tar: 4 members (ovf, disk, big, long), got %zu", idx.count);
    CHECK(ova_find(&idx, longname) && ova_find(&idx, longname)->size == 2,
          "tar: a GNU long name applies to the next member");
    CHECK(strcmp(idx.members[idx.descriptor].name, "a.ovf") == 0, "tar: descriptor found");
    CHECK(idx.manifest == -1, "tar: no manifest");
    const struct ova_member *d = ova_find(&idx, "disk.vmdk");
    CHECK(d && d->size == 1000, "tar: pax size applies to the next member");
    CHECK(d && d->offset == 512 * 8, "tar: member offset %llu",
          d ? (unsigned long long)d->offset : 0ULL);
    const struct ova_member *b = ova_find(&idx, "big.img");
    CHECK(b && b->size == 10, "tar: GNU base-256 size");
    char *buf;
    size_t len;
    CHECK(b && ova_read_member(b, 100, &buf, &len, &err) == 0 && len == 10 &&
              memcmp(buf, "0123456789", 10) == 0,
          "tar: member bytes read at the offset");
    if (b && len == 10)
        free(buf);
    CHECK(!ova_find(&idx, "._a.ovf"), "tar: AppleDouble member skipped");
    ova_index_free(&idx);

    static const char *const bad_names[] = {"../etc/passwd", "/abs.vmdk", "a\\b.vmdk",
                                            "x/../../y", NULL};
    for (size_t i = 0; bad_names[i]; i++) {
        f = fopen(ova, "wb");
        put_member(f, "a.ovf", '0', "<x/>", 4, false);
        put_member(f, bad_names[i], '0', "x", 1, false);
        end_tar(f);
        CHECK(ova_read_index(ova, &idx, &err) < 0 && err.status == 400 &&
                  strstr(err.message, "unsafe"),
              "tar: member name '%s' refused (%s)", bad_names[i], err.message);
    }
    f = fopen(ova, "wb");
    put_member(f, "a.ovf", '0', "<x/>", 4, false);
    put_member(f, "b.ovf", '0', "<x/>", 4, false);
    end_tar(f);
    CHECK(ova_read_index(ova, &idx, &err) < 0 && strstr(err.message, "more than one"),
          "tar: two descriptors refused (%s)", err.message);
    f = fopen(ova, "wb");
    put_member(f, "a.vmdk", '0', "x", 1, false);
    end_tar(f);
    CHECK(ova_read_index(ova, &idx, &err) < 0 && strstr(err.message, "no .ovf"),
          "tar: no descriptor refused");
    f = fopen(ova, "wb");
    put_member(f, "a.ovf", '0', "<x/>", 4, false);
    put_member(f, "link", '2', "", 0, false);
    end_tar(f);
    CHECK(ova_read_index(ova, &idx, &err) < 0 && strstr(err.message, "not a regular"),
          "tar: symlink member refused");
    f = fopen(ova, "wb");
    fputs("this is not a tar archive at all, just text padding", f);
    for (int i = 0; i < 20; i++)
        fputs("more text more text more text ", f);
    fclose(f);
    CHECK(ova_read_index(ova, &idx, &err) < 0 && strstr(err.message, "checksum"),
          "tar: text refused");
    f = fopen(ova, "wb");
    header(&h, "a.ovf", '0', 1 << 20, false);
    fwrite(&h, sizeof(h), 1, f);
    fclose(f);
    CHECK(ova_read_index(ova, &idx, &err) < 0 && strstr(err.message, "past its end"),
          "tar: truncated member refused");

    uint64_t v;
    CHECK(tar_number("0000644\0", 8, &v) == 0 && v == 0644, "tar: octal");
    CHECK(tar_number("   12 \0", 8, &v) == 0 && v == 10, "tar: blanks around octal");
    CHECK(tar_number("12a", 3, &v) < 0, "tar: junk refused");
    CHECK(ova_name_safe("disks/a.vmdk") && !ova_name_safe("a//b") && !ova_name_safe("./a") &&
              !ova_name_safe("http://x/a") && !ova_name_safe(""),
          "tar: safe names");
}

/* ---- manifest ---- */

static void test_manifest(void)
{
    struct ovf_manifest m;
    struct cimi_error err;
    const char *text =
        "SHA1(a.ovf)= da39a3ee5e6b4b0d3255bfef95601890afd80709\n"
        "SHA256 (disk 1.vmdk) = E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855\r\n"
        "\n"
        "  SHA1(x(1).vmdk)=da39a3ee5e6b4b0d3255bfef95601890afd80709  \n";

    CHECK(manifest_parse(text, strlen(text), &m, &err) == 0, "mf: tolerant parse (%s)",
          err.message);
    CHECK(m.count == 3, "mf: 3 entries");
    const struct manifest_entry *e = manifest_find(&m, "disk 1.vmdk");
    CHECK(e && e->digest == OVF_SHA256 && e->hex[0] == 'e', "mf: VirtualBox spacing, lower hex");
    CHECK(manifest_find(&m, "x(1).vmdk"), "mf: parentheses in a name");
    manifest_free(&m);

    static const char *const bad[] = {
        "MD5(a)= d41d8cd98f00b204e9800998ecf8427e\n",
        "SHA1(a)= abc\n",
        "SHA1 a = da39a3ee5e6b4b0d3255bfef95601890afd80709\n",
        "SHA1(a)= da39a3ee5e6b4b0d3255bfef95601890afd80709\nSHA1(a)= "
        "da39a3ee5e6b4b0d3255bfef95601890afd80709\n",
        "SHA256(a)= da39a3ee5e6b4b0d3255bfef95601890afd80709\n",
        NULL,
    };
    for (size_t i = 0; bad[i]; i++)
        CHECK(manifest_parse(bad[i], strlen(bad[i]), &m, &err) < 0 && err.status == 400,
              "mf: bad line %zu refused (%s)", i, err.message);

    char line[256];
    manifest_line(line, sizeof(line), OVF_SHA256, "a.ovf", "00ff");
    CHECK(strcmp(line, "SHA256(a.ovf)= 00ff\n") == 0, "mf: canonical line");

    /* verification against real bytes */
    const char *ova = path_of("m.ova");
    FILE *f = fopen(ova, "wb");
    put_member(f, "m.ovf", '0', "abc", 3, false);
    put_member(f, "d.img", '0', "", 0, false);
    end_tar(f);
    struct ova_index idx;
    CHECK(ova_read_index(ova, &idx, &err) == 0, "mf: index");
    const char *good =
        "SHA256(m.ovf)= ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad\n"
        "SHA1(d.img)= da39a3ee5e6b4b0d3255bfef95601890afd80709\n";
    const char *const required[] = {"m.ovf", "d.img", NULL};
    CHECK(manifest_parse(good, strlen(good), &m, &err) == 0 &&
              manifest_verify(&m, &idx, required, &err) == 0,
          "mf: digests verified (%s)", err.message);
    manifest_free(&m);
    const char *wrong =
        "SHA256(m.ovf)= ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ae\n"
        "SHA1(d.img)= da39a3ee5e6b4b0d3255bfef95601890afd80709\n";
    CHECK(manifest_parse(wrong, strlen(wrong), &m, &err) == 0 &&
              manifest_verify(&m, &idx, required, &err) < 0 && strstr(err.message, "m.ovf"),
          "mf: mismatch names the file (%s)", err.message);
    manifest_free(&m);
    const char *partial =
        "SHA256(m.ovf)= ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad\n";
    CHECK(manifest_parse(partial, strlen(partial), &m, &err) == 0 &&
              manifest_verify(&m, &idx, required, &err) < 0 &&
              strstr(err.message, "does not list 'd.img'"),
          "mf: unlisted file refused (%s)", err.message);
    manifest_free(&m);
    ova_index_free(&idx);
}

/* ---- units ---- */

static void test_units(void)
{
    static const struct {
        const char *units;
        uint64_t mult;
    } good[] = {
        {"byte", 1},
        {"byte * 2^20", 1 << 20},
        {"byte*2^30", 1 << 30},
        {"Byte * 1024", 1024},
        {"MegaBytes", 1 << 20},
        {"KiloBytes", 1 << 10},
        {"GigaBytes", 1 << 30},
        {"MB", 1 << 20},
        {"GB", 1 << 30},
        {"byte * 2^10 * 2^10", 1 << 20},
        {"bytes", 1},
    };
    uint64_t m;

    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
        CHECK(ovf_units(good[i].units, OVF_UNIT_BYTE, &m) == 0 && m == good[i].mult,
              "units: '%s'", good[i].units);
    CHECK(ovf_units("hertz * 10^6", OVF_UNIT_HERTZ, &m) == 0 && m == 1000000, "units: hertz");
    CHECK(ovf_units("MHz", OVF_UNIT_HERTZ, &m) == 0 && m == 1000000, "units: MHz");
    static const char *const bad[] = {"byte * 2^70", "furlong", "byte * x", "byte * 0",
                                      "hertz", "", "byte * 2^", NULL};
    for (size_t i = 0; bad[i]; i++)
        CHECK(ovf_units(bad[i], OVF_UNIT_BYTE, &m) < 0, "units: '%s' refused", bad[i]);
    CHECK(ovf_quantity("512", "byte * 2^20", OVF_UNIT_BYTE, 1, &m) == 0 && m == 512ull << 20,
          "units: 512 MiB");
    CHECK(ovf_quantity("2", NULL, OVF_UNIT_BYTE, 1 << 20, &m) == 0 && m == 2 << 20,
          "units: default multiplier");
    CHECK(ovf_quantity("17179869184", "GigaBytes", OVF_UNIT_BYTE, 1, &m) < 0,
          "units: overflow refused");
    CHECK(ovf_quantity("-1", NULL, OVF_UNIT_BYTE, 1, &m) < 0, "units: negative refused");
    CHECK(ovf_quantity("1.5", "MB", OVF_UNIT_BYTE, 1, &m) < 0, "units: fraction refused");
}

/* ---- descriptors ---- */

#define HEAD(ns)                                                                              \
    "<?xml version=\"1.0\"?>\n"                                                               \
    "<Envelope xmlns=\"" ns "\" xmlns:ovf=\"" ns "\"\n"                                       \
    " xmlns:rasd=\"http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/"                         \
    "CIM_ResourceAllocationSettingData\"\n"                                                   \
    " xmlns:vmw=\"http://www.vmware.com/schema/ovf\" xmlns:x=\"urn:x\">\n"
#define REFS                                                                                  \
    " <References><File ovf:id=\"f1\" ovf:href=\"d1.vmdk\"/></References>\n"                  \
    " <DiskSection><Info>d</Info><Disk ovf:diskId=\"d1\" ovf:fileRef=\"f1\" "               \
    "ovf:capacity=\"64\" ovf:capacityAllocationUnits=\"byte * 2^20\"/></DiskSection>\n"    \
    " <NetworkSection><Info>n</Info><Network ovf:name=\"lan\"/></NetworkSection>\n"
#define VS_OPEN                                                                               \
    " <VirtualSystem ovf:id=\"vm\"><Info>i</Info><Name>vm1</Name>\n"                           \
    "  <VirtualHardwareSection><Info>h</Info>\n"                                              \
    "   <Item><rasd:ElementName>CPU</rasd:ElementName><rasd:InstanceID>1</rasd:InstanceID>"    \
    "<rasd:ResourceType>3</rasd:ResourceType><rasd:VirtualQuantity>2</rasd:VirtualQuantity>"   \
    "</Item>\n"                                                                               \
    "   <Item><rasd:AllocationUnits>MegaBytes</rasd:AllocationUnits><rasd:ElementName>M"       \
    "</rasd:ElementName><rasd:InstanceID>2</rasd:InstanceID><rasd:ResourceType>4"             \
    "</rasd:ResourceType><rasd:VirtualQuantity>256</rasd:VirtualQuantity></Item>\n"           \
    "   <Item><rasd:ElementName>D</rasd:ElementName><rasd:HostResource>/disk/d1"               \
    "</rasd:HostResource><rasd:InstanceID>5</rasd:InstanceID><rasd:Parent>3</rasd:Parent>"    \
    "<rasd:ResourceType>17</rasd:ResourceType></Item>\n"                                      \
    "   <Item><rasd:Address>0</rasd:Address><rasd:ElementName>SCSI</rasd:ElementName>"         \
    "<rasd:InstanceID>3</rasd:InstanceID><rasd:ResourceSubType>lsilogic"                      \
    "</rasd:ResourceSubType><rasd:ResourceType>6</rasd:ResourceType></Item>\n"                \
    "   <Item><rasd:Connection>lan</rasd:Connection><rasd:ElementName>N</rasd:ElementName>"    \
    "<rasd:InstanceID>6</rasd:InstanceID><rasd:ResourceSubType>VmxNet3"                       \
    "</rasd:ResourceSubType><rasd:ResourceType>10</rasd:ResourceType></Item>\n"
#define VS_CLOSE "  </VirtualHardwareSection>\n </VirtualSystem>\n</Envelope>\n"
#define NS1 "http://schemas.dmtf.org/ovf/envelope/1"

static json_t *parse(const char *xml, struct cimi_error *err)
{
    return ovf_parse(xml, strlen(xml), NULL, err);
}

static void test_parse_basic(void)
{
    struct cimi_error err;
    json_t *m = parse(HEAD(NS1) REFS VS_OPEN VS_CLOSE, &err);

    CHECK(m != NULL, "parse: basic 1.x (%s)", m ? "" : err.message);
    if (!m)
        return;
    json_t *vs = json_object_get(m, "content");
    CHECK(strcmp(json_string_value(json_object_get(vs, "kind")), "system") == 0, "parse: system");
    CHECK(json_integer_value(json_object_get(vs, "cpu")) == 2, "parse: 2 CPUs");
    CHECK(json_integer_value(json_object_get(vs, "memory")) == 256 << 20, "parse: MegaBytes");
    json_t *disk = json_array_get(json_object_get(m, "disks"), 0);
    CHECK(json_integer_value(json_object_get(disk, "capacity")) == 64 << 20,
          "parse: capacity byte * 2^20");
    json_t *drive = json_array_get(json_object_get(vs, "drives"), 0);
    CHECK(drive && strcmp(json_string_value(json_object_get(drive, "disk")), "d1") == 0 &&
              strcmp(json_string_value(json_object_get(drive, "bus")), "scsi") == 0,
          "parse: /disk/d1 on the SCSI controller listed after it");
    json_t *nic = json_array_get(json_object_get(vs, "nics"), 0);
    CHECK(nic && strcmp(json_string_value(json_object_get(nic, "model")), "vmxnet3") == 0 &&
              strcmp(json_string_value(json_object_get(nic, "network")), "lan") == 0,
          "parse: NIC vmxnet3 on lan");
    CHECK(strcmp(json_string_value(json_object_get(m, "version")), "1") == 0, "parse: version 1");
    json_decref(m);
}

static void test_parse_versions(void)
{
    struct cimi_error err;
    json_t *m;

    m = parse(HEAD("http://schemas.dmtf.org/ovf/envelope/1/") REFS VS_OPEN VS_CLOSE, &err);
    CHECK(m != NULL, "parse: oVirt's trailing slash namespace");
    json_decref(m);
    m = parse(HEAD("http://schemas.dmtf.org/ovf/envelope/2") REFS VS_OPEN VS_CLOSE, &err);
    CHECK(m && strcmp(json_string_value(json_object_get(m, "version")), "2") == 0,
          "parse: OVF 2.0");
    json_decref(m);
    m = parse(HEAD("http://www.vmware.com/schema/ovf/1/envelope") REFS VS_OPEN VS_CLOSE, &err);
    CHECK(!m && strstr(err.message, "0.9"), "parse: 0.9 refused (%s)", err.message);
    m = parse("<?xml version=\"1.0\"?><!DOCTYPE x [<!ENTITY e \"b\">]><Envelope/>", &err);
    CHECK(!m && strstr(err.message, "DOCTYPE"), "parse: DOCTYPE refused");
    m = parse("<Envelope", &err);
    CHECK(!m && strstr(err.message, "well-formed"), "parse: malformed refused");
}

static void test_parse_required(void)
{
    struct cimi_error err;
    json_t *m;

    m = parse(HEAD(NS1) REFS VS_OPEN
              "   <Item><rasd:ElementName>Sound</rasd:ElementName><rasd:InstanceID>9"
              "</rasd:InstanceID><rasd:ResourceType>35</rasd:ResourceType></Item>\n" VS_CLOSE,
              &err);
    CHECK(!m && strstr(err.message, "line 15") && strstr(err.message, "Sound"),
          "parse: required unknown Item names it and its line (%s)", err.message);
    m = parse(HEAD(NS1) REFS VS_OPEN
              "   <Item ovf:required=\"false\"><rasd:ElementName>Sound</rasd:ElementName>"
              "<rasd:InstanceID>9</rasd:InstanceID><rasd:ResourceType>35</rasd:ResourceType>"
              "</Item>\n   <vmw:Config ovf:required=\"false\" vmw:key=\"x\" vmw:value=\"y\"/>\n"
              "   <vmw:Config ovf:required=\"false\" vmw:key=\"firmware\" vmw:value=\"efi\"/>\n"
              VS_CLOSE,
              &err);
    CHECK(m && json_array_size(json_object_get(m, "skipped")) == 2,
          "parse: optional Item and vmw:Config skipped and listed (%s)", m ? "" : err.message);
    CHECK(m && strcmp(json_string_value(json_object_get(json_object_get(m, "content"),
                                                        "firmware")), "efi") == 0,
          "parse: firmware efi");
    json_decref(m);
    m = parse(HEAD(NS1) REFS " <x:Secret><Info>s</Info></x:Secret>\n" VS_OPEN VS_CLOSE, &err);
    CHECK(!m && strstr(err.message, "x:Secret") && strstr(err.message, "line 8"),
          "parse: required vendor section refused (%s)", err.message);
    m = parse(HEAD(NS1) REFS " <x:Secret ovf:required=\"false\"/>\n" VS_OPEN VS_CLOSE, &err);
    CHECK(m && json_array_size(json_object_get(m, "skipped")) == 1, "parse: optional one skipped");
    json_decref(m);
    m = parse(HEAD(NS1) REFS
              " <VirtualSystem ovf:id=\"vm\"><Info>i</Info>\n"
              "  <VirtualHardwareSection><Info>h</Info>\n"
              "   <Item><rasd:ElementName>M</rasd:ElementName><rasd:InstanceID>2"
              "</rasd:InstanceID><rasd:ResourceType>4</rasd:ResourceType>"
              "<rasd:VirtualQuantity>256</rasd:VirtualQuantity></Item>\n"
              "   <Item><rasd:ElementName>SCSI</rasd:ElementName><rasd:InstanceID>3"
              "</rasd:InstanceID><rasd:ResourceSubType>buslogic</rasd:ResourceSubType>"
              "<rasd:ResourceType>6</rasd:ResourceType></Item>\n" VS_CLOSE,
              &err);
    CHECK(!m && strstr(err.message, "buslogic"), "parse: BusLogic refused (%s)", err.message);
    m = parse(HEAD(NS1)
              " <References><File ovf:id=\"f1\" ovf:href=\"../../etc/passwd\"/></References>\n"
              VS_OPEN VS_CLOSE,
              &err);
    CHECK(!m && strstr(err.message, "../../etc/passwd"), "parse: traversal href refused");
    m = parse(HEAD(NS1)
              " <References><File ovf:id=\"f1\" ovf:href=\"http://x/d1.vmdk\"/></References>\n"
              VS_OPEN VS_CLOSE,
              &err);
    CHECK(!m, "parse: remote href refused");
    m = parse(HEAD(NS1) REFS
              " <VirtualSystem ovf:id=\"vm\"><Info>i</Info>\n"
              "  <VirtualHardwareSection><Info>h</Info>\n"
              "   <Item><rasd:ElementName>M</rasd:ElementName><rasd:InstanceID>2"
              "</rasd:InstanceID><rasd:ResourceType>4</rasd:ResourceType>"
              "<rasd:VirtualQuantity>256</rasd:VirtualQuantity></Item>\n"
              "   <Item><rasd:ElementName>D</rasd:ElementName><rasd:HostResource>ovf:/disk/zz"
              "</rasd:HostResource><rasd:InstanceID>5</rasd:InstanceID>"
              "<rasd:ResourceType>17</rasd:ResourceType></Item>\n" VS_CLOSE,
              &err);
    CHECK(!m && strstr(err.message, "zz"), "parse: unknown disk refused (%s)", err.message);
    m = parse(HEAD(NS1) REFS VS_OPEN
              "   <Item><rasd:ElementName>CD</rasd:ElementName><rasd:HostResource>ovf:/file/f1"
              "</rasd:HostResource><rasd:InstanceID>9</rasd:InstanceID>"
              "<rasd:ResourceType>15</rasd:ResourceType></Item>\n" VS_CLOSE,
              &err);
    json_t *sk = m ? json_array_get(json_object_get(m, "skipped"), 0) : NULL;
    CHECK(sk && strstr(json_string_value(json_object_get(sk, "reason")), "medium"),
          "parse: a CD's medium listed as not imported (%s)", m ? "" : err.message);
    json_decref(m);
}

static void test_parse_collection(void)
{
    struct cimi_error err;
    json_t *m = parse(HEAD(NS1) REFS
                      " <VirtualSystemCollection ovf:id=\"app\"><Info>c</Info><Name>app</Name>\n"
                      "  <StartupSection><Info>s</Info><Item ovf:id=\"vm\" ovf:order=\"1\"/>"
                      "</StartupSection>\n"
                      "  <ProductSection ovf:class=\"web\"><Info>p</Info><Product>Shop</Product>"
                      "<Property ovf:key=\"port\" ovf:type=\"uint16\" ovf:value=\"80\" "
                      "ovf:userConfigurable=\"true\"/></ProductSection>\n"
                      "  <VirtualSystemCollection ovf:id=\"inner\"><Info>c</Info>\n" VS_OPEN
                      "  </VirtualHardwareSection>\n </VirtualSystem>\n"
                      "  </VirtualSystemCollection>\n </VirtualSystemCollection>\n</Envelope>\n",
                      &err);

    CHECK(m != NULL, "parse: nested collection (%s)", m ? "" : err.message);
    if (!m)
        return;
    json_t *c = json_object_get(m, "content");
    CHECK(strcmp(json_string_value(json_object_get(c, "kind")), "collection") == 0 &&
              strcmp(json_string_value(json_object_get(c, "name")), "app") == 0,
          "parse: collection named app");
    json_t *inner = json_array_get(json_object_get(c, "children"), 0);
    CHECK(inner && strcmp(json_string_value(json_object_get(inner, "kind")), "collection") == 0,
          "parse: nested collection kept");
    json_t *prop = json_array_get(json_object_get(json_object_get(c, "product"), "properties"), 0);
    CHECK(prop && strcmp(json_string_value(json_object_get(prop, "key")), "web.port") == 0 &&
              json_is_true(json_object_get(prop, "userConfigurable")),
          "parse: ProductSection property with class");
    CHECK(json_array_size(json_object_get(c, "startup")) == 1, "parse: startup order");
    json_decref(m);
}


static void test_parse_options(void)
{
    struct cimi_error err;
    const char *doc =
        HEAD(NS1) REFS
        " <DeploymentOptionSection><Info>sizes</Info>\n"
        "  <Configuration ovf:id=\"small\"><Label>S</Label><Description>s</Description></Configuration>\n"
        "  <Configuration ovf:id=\"large\" ovf:default=\"true\"><Label>L</Label><Description>l"
        "</Description></Configuration>\n </DeploymentOptionSection>\n"
        " <VirtualSystem ovf:id=\"vm\"><Info>i</Info>\n"
        "  <EulaSection><Info>e</Info><License>be nice</License></EulaSection>\n"
        "  <VirtualHardwareSection><Info>h</Info>\n"
        "   <Item ovf:configuration=\"small\"><rasd:ElementName>M</rasd:ElementName>"
        "<rasd:InstanceID>2</rasd:InstanceID><rasd:ResourceType>4</rasd:ResourceType>"
        "<rasd:VirtualQuantity>256</rasd:VirtualQuantity></Item>\n"
        "   <Item ovf:configuration=\"large\"><rasd:ElementName>M</rasd:ElementName>"
        "<rasd:InstanceID>3</rasd:InstanceID><rasd:ResourceType>4</rasd:ResourceType>"
        "<rasd:VirtualQuantity>4096</rasd:VirtualQuantity></Item>\n"
        "   <Item ovf:bound=\"max\"><rasd:ElementName>C</rasd:ElementName>"
        "<rasd:InstanceID>4</rasd:InstanceID><rasd:ResourceType>3</rasd:ResourceType>"
        "<rasd:VirtualQuantity>64</rasd:VirtualQuantity></Item>\n"
        "   <Item><rasd:ElementName>D</rasd:ElementName><rasd:HostResource>ovf:/disk/d1"
        "</rasd:HostResource><rasd:InstanceID>5</rasd:InstanceID>"
        "<rasd:ResourceType>17</rasd:ResourceType></Item>\n" VS_CLOSE;

    json_t *m = ovf_parse(doc, strlen(doc), NULL, &err);
    json_t *vs = m ? json_object_get(m, "content") : NULL;
    CHECK(m && json_integer_value(json_object_get(vs, "memory")) == 4096ll << 20,
          "options: the default Configuration's Items (%s)", m ? "" : err.message);
    CHECK(vs && json_integer_value(json_object_get(vs, "cpu")) == 1, "options: max bound ignored");
    CHECK(vs && json_array_size(json_object_get(vs, "eula")) == 1, "options: EULA kept");
    json_decref(m);
    m = ovf_parse(doc, strlen(doc), "small", &err);
    CHECK(m && json_integer_value(json_object_get(json_object_get(m, "content"), "memory")) ==
                   256 << 20,
          "options: the chosen Configuration's Items");
    json_decref(m);
    m = ovf_parse(doc, strlen(doc), "huge", &err);
    CHECK(!m && strstr(err.message, "huge"), "options: an unknown one refused (%s)", err.message);

    const char *prop_doc =
        HEAD(NS1)
        " <References><File ovf:id=\"f1\" ovf:href=\"d1.vmdk\"/></References>\n"
        " <DiskSection><Info>d</Info><Disk ovf:diskId=\"d1\" ovf:fileRef=\"f1\" "
        "ovf:capacity=\"${size}\" ovf:capacityAllocationUnits=\"byte * 2^20\"/></DiskSection>\n"
        " <NetworkSection><Info>n</Info><Network ovf:name=\"lan\"/></NetworkSection>\n"
        " <VirtualSystem ovf:id=\"vm\"><Info>i</Info>\n"
        "  <ProductSection ovf:class=\"app\"><Info>p</Info><Property ovf:key=\"size\" "
        "ovf:type=\"uint32\" ovf:value=\"48\"/></ProductSection>\n"
        "  <VirtualHardwareSection><Info>h</Info>\n"
        "   <Item><rasd:ElementName>M</rasd:ElementName><rasd:InstanceID>2</rasd:InstanceID>"
        "<rasd:ResourceType>4</rasd:ResourceType><rasd:VirtualQuantity>256</rasd:VirtualQuantity>"
        "</Item>\n" VS_CLOSE;
    m = ovf_parse(prop_doc, strlen(prop_doc), NULL, &err);
    json_t *disk = m ? json_array_get(json_object_get(m, "disks"), 0) : NULL;
    CHECK(disk && json_integer_value(json_object_get(disk, "capacity")) == 48 << 20 &&
              strcmp(json_string_value(json_object_get(disk, "capacityProperty")), "app.size") == 0,
          "capacity: ${size} resolved from the Property (%s)", m ? "" : err.message);
    json_decref(m);
    char *missing = strdup(prop_doc);
    memcpy(strstr(missing, "${size}"), "${nope}", 7);
    m = ovf_parse(missing, strlen(missing), NULL, &err);
    CHECK(!m && strstr(err.message, "${nope}"), "capacity: an unknown ${property} refused (%s)",
          err.message);
    free(missing);
}

/* ---- disk import: sniffing and qemu-img info checks ---- */

static int sh(const char *cmd)
{
    return system(cmd);
}

static int probe_file(const char *name, struct disk_probe *probe, struct cimi_error *err)
{
    const char *path = path_of(name);
    FILE *f = fopen(path, "rb");
    if (!f)
        return -2;
    fseek(f, 0, SEEK_END);
    struct disk_source src = {path, 0, (uint64_t)ftell(f), false, false, name};
    fclose(f);
    return disk_import_probe(&src, probe, err);
}

static void test_disk_import(void)
{
    struct disk_probe probe;
    struct cimi_error err;
    char cmd[1024];

    snprintf(cmd, sizeof(cmd),
             "cd %s && qemu-img create -q -f raw r.img 1M && "
             "qemu-img convert -q -f raw -O vmdk -o subformat=streamOptimized r.img s.vmdk && "
             "qemu-img create -q -f qcow2 q.qcow2 2M && "
             "qemu-img create -q -f qcow2 -b q.qcow2 -F qcow2 b.qcow2 && "
             "printf '# Disk DescriptorFile\\nversion=1\\ncreateType=\"monolithicFlat\"\\n"
             "RW 2048 FLAT \"/etc/passwd\" 0\\n' > t.vmdk",
             tmpdir);
    if (sh(cmd) != 0) {
        printf("ok - disk import: skipped (no qemu-img)\n");
        return;
    }
    CHECK(probe_file("s.vmdk", &probe, &err) == 0 && strcmp(probe.format, "vmdk") == 0 &&
              probe.virtual_size == 1 << 20,
          "disk: stream vmdk sniffed and sized (%s)", err.message);
    CHECK(probe_file("q.qcow2", &probe, &err) == 0 && strcmp(probe.format, "qcow2") == 0,
          "disk: qcow2 sniffed");
    CHECK(probe_file("r.img", &probe, &err) == 0 && strcmp(probe.format, "raw") == 0,
          "disk: raw by default");
    CHECK(probe_file("b.qcow2", &probe, &err) < 0 && strstr(err.message, "backing"),
          "disk: a backing file refused (%s)", err.message);
    CHECK(probe_file("t.vmdk", &probe, &err) < 0 && strstr(err.message, "descriptor"),
          "disk: a text vmdk refused (%s)", err.message);

    /* converted out of the middle of a bigger file, by offset */
    snprintf(cmd, sizeof(cmd),
             "cd %s && head -c 1536 /dev/zero > o.bin && cat s.vmdk >> o.bin && "
             "head -c 4096 /dev/urandom >> o.bin", tmpdir);
    CHECK(sh(cmd) == 0, "disk: a file holding the vmdk at offset 1536");
    FILE *f = fopen(path_of("s.vmdk"), "rb");
    fseek(f, 0, SEEK_END);
    struct disk_source src = {path_of("o.bin"), 1536, (uint64_t)ftell(f), false, false, "s.vmdk"};
    fclose(f);
    const char *out = path_of("out.qcow2");
    CHECK(disk_import_convert(&src, 4 << 20, 1 << 30, out, &err) == 0,
          "disk: converted by offset (%s)", err.message);
    snprintf(cmd, sizeof(cmd), "cd %s && qemu-img info --output=json -f qcow2 out.qcow2 | "
             "grep -q '\"virtual-size\": 4194304'", tmpdir);
    CHECK(sh(cmd) == 0, "disk: grown to the Disk's capacity");
    CHECK(disk_import_convert(&src, 0, 1000, out, &err) < 0 && access(out, F_OK) != 0,
          "disk: larger than the limit refused, no file left");
}

static void test_properties(void)
{
    struct cimi_error err;
    static const struct {
        const char *type, *qualifiers, *value;
        bool ok;
    } cases[] = {
        {"uint16", NULL, "8080", true},       {"uint16", NULL, "70000", false},
        {"uint8", NULL, "-1", false},         {"sint8", NULL, "-128", true},
        {"sint8", NULL, "128", false},        {"uint64", NULL, "18446744073709551615", true},
        {"uint32", NULL, "12a", false},       {"boolean", NULL, "true", true},
        {"boolean", NULL, "yes", false},      {"real64", NULL, "2.5e3", true},
        {"real32", NULL, "nan", false},       {"string", "MaxLen(3)", "abcd", false},
        {"string", "MinLen(2) MaxLen(3)", "ab", true},
        {"string", "ValueMap{\"small\", \"large\"}", "large", true},
        {"string", "ValueMap{\"small\", \"large\"}", "huge", false},
        {"uint8", "ValueMap{\"1..5\", \"9\"}", "4", true},
        {"uint8", "ValueMap{\"1..5\", \"9\"}", "7", false},
        {"decimal", NULL, "1", false},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        json_t *p = json_pack("{s:s, s:s}", "key", "k", "type", cases[i].type);
        if (cases[i].qualifiers)
            json_object_set_new(p, "qualifiers", json_string(cases[i].qualifiers));
        CHECK((ovf_property_check(p, cases[i].value, &err) == 0) == cases[i].ok,
              "property: %s %s '%s' %s", cases[i].type,
              cases[i].qualifiers ? cases[i].qualifiers : "", cases[i].value,
              cases[i].ok ? "accepted" : "refused");
        json_decref(p);
    }
}

int main(void)
{
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    test_tar();
    test_manifest();
    test_units();
    test_parse_basic();
    test_parse_versions();
    test_parse_required();
    test_parse_collection();
    test_parse_options();
    test_properties();
    test_disk_import();
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", tmpdir);
    return check_summary();
}
