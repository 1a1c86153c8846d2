/*
 * domain_xml.c - the libvirt domain XML of a machine.
 *
 * Every domain is named "cimi-<uuid>", carries the Machine's UUID and its
 * name as <title>, and the element <cimid:machine id="<uuid>"/> in cimid's
 * namespace inside <metadata>, which marks it as cimid's own.  For QEMU the
 * metadata element also records the host ports forwarded to the guest
 * (ports="22:40022,80:40080"), which endpoints() reads back.
 *
 * Test driver: file disks that the mock never opens.
 * QEMU: disks from storage.c as virtio qcow2 (volumes are attached later as
 * more of them, vdb...), the config drive as an IDE
 * cdrom, the serial console into a file, a VNC console on loopback, and
 * user-mode networking.  libvirt's own <interface type='user'> cannot forward
 * ports with the default (slirp) backend, so the network device is given to
 * QEMU directly through <qemu:commandline>: -netdev user,hostfwd=... bound to
 * 127.0.0.1.  That is the documented fallback for hosts without a libvirt
 * network driver, such as qemu:///embed.  It is restricted (restrict=on): slirp
 * would otherwise turn a guest's connection to 10.0.2.2 into one to the host's
 * 127.0.0.1 (cimid's API, other guests' VNC consoles and forwarded ports), and
 * QEMU has no switch that keeps outbound traffic but not that alias.  A
 * restricted guest still gets DHCP and its forwarded ports, and nothing else.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "driver/local.h"

/* Where the test driver's pretend disks "live"; it never opens them. */
#define TEST_DISK_DIR "/tmp"

void put_xml_text(FILE *f, const char *s)
{
    const unsigned char *p;

    /* Markup escaped; control characters (which XML 1.0 forbids and libvirt
     * refuses in titles) turned into spaces.  s must be valid UTF-8. */
    for (p = (const unsigned char *)s; *p != '\0'; p++) {
        if (*p == '&')
            fputs("&amp;", f);
        else if (*p == '<')
            fputs("&lt;", f);
        else if (*p == '>')
            fputs("&gt;", f);
        else if (*p == '\'')
            fputs("&apos;", f);
        else if (*p == '"')
            fputs("&quot;", f);
        else if (*p < 0x20 || *p == 0x7f)
            fputc(' ', f);
        else
            fputc(*p, f);
    }
}

/* A free TCP port on 127.0.0.1 (the kernel's choice), or -1. */
/* A free loopback port, its socket left bound in *fd so that the next call
 * cannot be given the same port (the caller closes it once every port of
 * the domain is chosen, just before QEMU binds them). */
static int free_loopback_port(int *fd)
{
    struct sockaddr_in addr;
    socklen_t len = sizeof(addr);
    int port = -1;

    *fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (*fd < 0)
        return -1;
    memset(&addr, 0, sizeof(addr));
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(*fd, (struct sockaddr *)&addr, sizeof(addr)) == 0 &&
        getsockname(*fd, (struct sockaddr *)&addr, &len) == 0)
        port = ntohs(addr.sin_port);
    return port;
}

static void put_test_disks(FILE *f, const struct hv_machine_spec *spec)
{
    for (size_t i = 0; i < spec->ndisks; i++)
        fprintf(f,
                "    <disk type='file' device='disk'>\n"
                "      <driver name='qemu' type='qcow2'/>\n"
                "      <source file='%s/cimid-%s-disk%d.qcow2'/>\n"
                "      <target dev='vd%c' bus='virtio'/>\n"
                "    </disk>\n",
                TEST_DISK_DIR, spec->uuid, spec->disks[i].slot, (char)('a' + spec->disks[i].slot));
}

void put_disk(FILE *f, const char *path, const char *target)
{
    fputs("    <disk type='file' device='disk'>\n"
          "      <driver name='qemu' type='qcow2'/>\n      <source file='", f);
    put_xml_text(f, path);
    fputs("'/>\n      <target dev='", f);
    put_xml_text(f, target);
    fputs("' bus='virtio'/>\n    </disk>\n", f);
}

char *disk_xml(const char *path, const char *target)
{
    char *xml = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&xml, &len);
    int failed;

    if (f == NULL)
        return NULL;
    put_disk(f, path, target);
    failed = ferror(f);
    if (fclose(f) != 0 || failed) {
        free(xml);
        return NULL;
    }
    return xml;
}

static void put_qemu_devices(FILE *f, const struct hv *hv, const struct hv_machine_spec *spec)
{
    char path[1100], target[8];
    size_t ndisks = spec->ndisks > 0 ? spec->ndisks : 1;

    for (size_t i = 0; i < ndisks; i++) {
        int slot = i < spec->ndisks ? spec->disks[i].slot : 0;
        storage_disk_path(hv->storage_dir, spec->uuid, (size_t)slot, path, sizeof(path));
        snprintf(target, sizeof(target), "vd%c", (char)('a' + slot));
        put_disk(f, path, target);
    }
    if (spec->user_data != NULL && spec->user_data[0] != '\0') {
        storage_config_drive_path(hv->storage_dir, spec->uuid, path, sizeof(path));
        fputs("    <disk type='file' device='cdrom'>\n"
              "      <driver name='qemu' type='raw'/>\n      <source file='", f);
        put_xml_text(f, path);
        fputs("'/>\n      <target dev='hdc' bus='ide'/>\n      <readonly/>\n    </disk>\n", f);
    }
    storage_console_path(hv->storage_dir, spec->uuid, path, sizeof(path));
    fputs("    <serial type='file'>\n      <source path='", f);
    put_xml_text(f, path);
    fputs("'/>\n      <target port='0'/>\n    </serial>\n", f);
    fputs("    <graphics type='vnc' autoport='yes' listen='127.0.0.1'>\n"
          "      <listen type='address' address='127.0.0.1'/>\n    </graphics>\n"
          "    <video>\n      <model type='vga'/>\n    </video>\n", f);
}

/* -netdev user, restricted (no connection out of the guest, see the top of
 * the file), with the guest ports forwarded from free loopback ports; the
 * pairs guest:host are also written into ports. */
static int put_user_network(FILE *f, char *ports, size_t len, struct cimi_error *err)
{
    static const int guest_ports[] = HV_FORWARDED_GUEST_PORTS;
    enum { N = sizeof(guest_ports) / sizeof(guest_ports[0]) };
    char netdev[512] = "user,id=cimidnet0,restrict=on";
    size_t used = strlen(netdev);
    int fds[N], host = 0;
    size_t i;

    ports[0] = '\0';
    for (i = 0; i < N; i++) {
        host = free_loopback_port(&fds[i]);
        if (host < 0)
            break;
        used += (size_t)snprintf(netdev + used, sizeof(netdev) - used,
                                 ",hostfwd=tcp:127.0.0.1:%d-:%d", host, guest_ports[i]);
        snprintf(ports + strlen(ports), len - strlen(ports), "%s%d:%d", i ? "," : "",
                 guest_ports[i], host);
    }
    size_t opened = host < 0 ? i + 1 : i;   /* a failed call may have its socket too */
    for (size_t j = 0; j < opened; j++)
        if (fds[j] >= 0)
            close(fds[j]);
    if (host < 0)
        return err_set(err, 500, NULL, "no free loopback port to forward guest port %d",
                       guest_ports[i]);
    fprintf(f,
            "  <qemu:commandline>\n"
            "    <qemu:arg value='-netdev'/>\n    <qemu:arg value='%s'/>\n"
            "    <qemu:arg value='-device'/>\n    <qemu:arg value='virtio-net-pci,netdev=cimidnet0,bus=pci.0,addr=0x1e'/>\n"
            "  </qemu:commandline>\n",
            netdev);
    return 0;
}

/* Dedicated allocation: each vCPU pinned to its own physical CPU, memory
 * locked in RAM where the host allows it (libvirt then lifts QEMU's memlock
 * limit). */
static void put_dedicated(FILE *f, const struct hv *hv, const struct hv_machine_spec *spec)
{
    fputs("  <cputune>\n", f);
    for (int i = 0; i < spec->cpu && i < HV_MAX_VCPUS; i++)
        fprintf(f, "    <vcpupin vcpu='%d' cpuset='%d'/>\n", i, spec->pinned[i]);
    fputs("  </cputune>\n", f);
    if (!hv->is_test && hv->lock_memory)
        fputs("  <memoryBacking>\n    <locked/>\n  </memoryBacking>\n", f);
}

char *domain_xml(const struct hv *hv, const struct hv_machine_spec *spec, struct cimi_error *err)
{
    char *xml = NULL, ports[128] = "";
    size_t len = 0;
    int failed;
    FILE *f = open_memstream(&xml, &len);

    if (f == NULL) {
        err_set(err, 500, NULL, "out of memory building the domain XML");
        return NULL;
    }
    fprintf(f, "<domain type='%s'%s>\n", hv->domain_type,
            hv->is_test ? "" : " xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'");
    fprintf(f, "  <name>cimi-%s</name>\n  <uuid>%s</uuid>\n", spec->uuid, spec->uuid);
    if (spec->name[0] != '\0') {
        fputs("  <title>", f);
        put_xml_text(f, spec->name);
        fputs("</title>\n", f);
    }
    fprintf(f, "  <memory unit='KiB'>%lld</memory>\n", spec->memory_kib);
    fprintf(f, "  <vcpu>%d</vcpu>\n", spec->cpu);
    if (spec->dedicated)
        put_dedicated(f, hv, spec);
    fprintf(f, "  <os>\n    <type arch='%s'>hvm</type>\n%s  </os>\n",
            spec->cpu_arch[0] != '\0' ? spec->cpu_arch : "x86_64",
            hv->is_test ? "" : "    <boot dev='hd'/>\n");
    if (!hv->is_test)
        fputs("  <features>\n    <acpi/>\n    <apic/>\n  </features>\n"
              "  <on_poweroff>destroy</on_poweroff>\n  <on_reboot>restart</on_reboot>\n"
              "  <on_crash>destroy</on_crash>\n", f);
    /* The ports are chosen with the network below; the metadata is written last. */
    fputs("  <devices>\n", f);
    if (hv->is_test)
        put_test_disks(f, spec);
    else
        put_qemu_devices(f, hv, spec);
    fputs("  </devices>\n", f);
    if (!hv->is_test && put_user_network(f, ports, sizeof(ports), err) != 0) {
        fclose(f);
        free(xml);
        return NULL;
    }
    fprintf(f, "  <metadata>\n    <%s:machine xmlns:%s=\"%s\" id=\"%s\"%s%s%s/>\n  </metadata>\n",
            CIMID_NS_PREFIX, CIMID_NS_PREFIX, CIMID_NS_URI, spec->uuid, ports[0] ? " ports=\"" : "",
            ports, ports[0] ? "\"" : "");
    fputs("</domain>\n", f);
    failed = ferror(f);
    if (fclose(f) != 0 || failed) {
        free(xml);
        err_set(err, 500, NULL, "out of memory building the domain XML");
        return NULL;
    }
    return xml;
}
