/*
 * direct_libvirt.c - B2's baseline: the libvirt calls behind a Machine's
 * create -> start -> stop -> delete, made directly, without cimid.
 *
 *   direct_libvirt --uri URI --count N [--stop shutdown|destroy]
 *                  [--image QCOW2 --storage DIR]      (QEMU: disk overlays)
 *                  [--warmup W]                       (W unmeasured lifecycles first)
 *                  [--define-only]                    (B3: define N, start every other)
 *
 * For every machine, one after the other:
 *   create  test:  virDomainDefineXML
 *           QEMU:  qemu-img create (qcow2 overlay of --image, 10 GiB, as cimid
 *                  does for m1-small) + virDomainDefineXML
 *   start   virDomainCreate
 *   stop    shutdown: virDomainShutdown, then virDomainGetState until shut off
 *           destroy:  virDomainDestroy
 *   delete  virDomainUndefineFlags (+ the overlay and console files on QEMU)
 * The domain XML has the shape cimid writes (src/driver/domain_xml.c): test
 * driver: file disks it never opens; QEMU: virtio qcow2 disk, serial console
 * into a file, VNC on loopback, -netdev user with two hostfwd ports through
 * <qemu:commandline>, 1 vCPU and 1 GiB (m1-small).  The domain handle is
 * kept from define to delete: this is the least work libvirt can be asked
 * to do, the floor cimid is compared with.
 *
 * Output: one line per operation, "OP MICROSECONDS" (OP = create, start,
 * stop, delete); with --define-only a single line "define_all MICROSECONDS".
 * Exit status 0 when every call succeeded.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>

extern char **environ;

static const char *opt_uri = "test:///default";
static long opt_count = 10;
static long opt_warmup;
static const char *opt_stop = "shutdown";
static const char *opt_image;
static const char *opt_storage;
static int opt_define_only;
static int is_test;

static double now_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static void die(const char *what)
{
    const char *msg = virGetLastErrorMessage();

    fprintf(stderr, "direct_libvirt: %s: %s\n", what, msg ? msg : strerror(errno));
    exit(1);
}

static void ignore_error(void *opaque, virErrorPtr error)
{
    (void)opaque;
    (void)error;
}

static void *event_loop(void *arg)
{
    (void)arg;
    for (;;)
        if (virEventRunDefaultImpl() < 0)
            break;
    return NULL;
}

static void random_uuid(char out[37])
{
    unsigned char b[16];
    int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);

    if (fd < 0 || read(fd, b, sizeof(b)) != (ssize_t)sizeof(b))
        die("reading /dev/urandom");
    close(fd);
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
    snprintf(out, 37,
             "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
             b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12],
             b[13], b[14], b[15]);
}

static int free_loopback_port(void)
{
    struct sockaddr_in addr;
    socklen_t len = sizeof(addr);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), port = -1;

    if (fd < 0)
        return -1;
    memset(&addr, 0, sizeof(addr));
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(fd, (struct sockaddr *)&addr, sizeof(addr)) == 0 &&
        getsockname(fd, (struct sockaddr *)&addr, &len) == 0)
        port = ntohs(addr.sin_port);
    close(fd);
    return port;
}

/* The embed root needs DIR/etc/qemu.conf without a libvirt daemon (as cimid
 * writes it in src/driver/embed.c). */
static void prepare_embed_root(void)
{
    const char *prefix = "qemu:///embed?root=";
    char path[1200];
    FILE *f;

    if (strncmp(opt_uri, prefix, strlen(prefix)) != 0)
        return;
    snprintf(path, sizeof(path), "%s/etc", opt_uri + strlen(prefix));
    mkdir(opt_uri + strlen(prefix), 0755);
    mkdir(path, 0755);
    strncat(path, "/qemu.conf", sizeof(path) - strlen(path) - 1);
    if (access(path, F_OK) == 0)
        return;
    f = fopen(path, "w");
    if (f == NULL)
        die(path);
    fputs("stdio_handler = \"file\"\n", f);
    if (geteuid() == 0)
        fputs("user = \"root\"\ngroup = \"root\"\nsecurity_driver = \"none\"\n", f);
    fclose(f);
}

static void run_command(char *const argv[])
{
    pid_t pid;
    int status;

    if (posix_spawnp(&pid, argv[0], NULL, NULL, argv, environ) != 0)
        die(argv[0]);
    if (waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        fprintf(stderr, "direct_libvirt: %s failed\n", argv[0]);
        exit(1);
    }
}

static void disk_path(const char *uuid, char *out, size_t len)
{
    snprintf(out, len, "%s/%s-disk0.qcow2", opt_storage, uuid);
}

static void console_path(const char *uuid, char *out, size_t len)
{
    snprintf(out, len, "%s/%s-console.log", opt_storage, uuid);
}

static char *domain_xml(const char *uuid, int index)
{
    char *xml = NULL, disk[1100], console[1100];
    size_t len = 0;
    FILE *f = open_memstream(&xml, &len);

    if (f == NULL)
        die("open_memstream");
    fprintf(f, "<domain type='%s'%s>\n", is_test ? "test" : "qemu",
            is_test ? "" : " xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'");
    fprintf(f, "  <name>direct-%s</name>\n  <uuid>%s</uuid>\n", uuid, uuid);
    fprintf(f, "  <title>bench-%d</title>\n", index);
    fprintf(f, "  <memory unit='KiB'>1048576</memory>\n  <vcpu>1</vcpu>\n");
    fprintf(f, "  <os>\n    <type arch='x86_64'>hvm</type>\n%s  </os>\n",
            is_test ? "" : "    <boot dev='hd'/>\n");
    if (!is_test)
        fputs("  <features>\n    <acpi/>\n    <apic/>\n  </features>\n"
              "  <on_poweroff>destroy</on_poweroff>\n  <on_reboot>restart</on_reboot>\n"
              "  <on_crash>destroy</on_crash>\n", f);
    fputs("  <devices>\n", f);
    if (is_test) {
        fprintf(f, "    <disk type='file' device='disk'>\n"
                   "      <driver name='qemu' type='qcow2'/>\n"
                   "      <source file='/tmp/direct-%s-disk0.qcow2'/>\n"
                   "      <target dev='vda' bus='virtio'/>\n    </disk>\n", uuid);
    } else {
        disk_path(uuid, disk, sizeof(disk));
        console_path(uuid, console, sizeof(console));
        fprintf(f, "    <disk type='file' device='disk'>\n"
                   "      <driver name='qemu' type='qcow2'/>\n      <source file='%s'/>\n"
                   "      <target dev='vda' bus='virtio'/>\n    </disk>\n", disk);
        fprintf(f, "    <serial type='file'>\n      <source path='%s'/>\n"
                   "      <target port='0'/>\n    </serial>\n", console);
        fputs("    <graphics type='vnc' autoport='yes' listen='127.0.0.1'>\n"
              "      <listen type='address' address='127.0.0.1'/>\n    </graphics>\n"
              "    <video>\n      <model type='vga'/>\n    </video>\n", f);
    }
    fputs("  </devices>\n", f);
    if (!is_test) {
        int p22 = free_loopback_port(), p80 = free_loopback_port();
        fprintf(f, "  <qemu:commandline>\n"
                   "    <qemu:arg value='-netdev'/>\n"
                   "    <qemu:arg value='user,id=cimidnet0,hostfwd=tcp:127.0.0.1:%d-:22,"
                   "hostfwd=tcp:127.0.0.1:%d-:80'/>\n"
                   "    <qemu:arg value='-device'/>\n"
                   "    <qemu:arg value='virtio-net-pci,netdev=cimidnet0,bus=pci.0,addr=0x1e'/>\n"
                   "  </qemu:commandline>\n", p22, p80);
    }
    fprintf(f, "  <metadata>\n    <bench:machine xmlns:bench=\"http://cimid.dev/ns/bench\" "
               "id=\"%s\"/>\n  </metadata>\n</domain>\n", uuid);
    if (fclose(f) != 0)
        die("building the domain XML");
    return xml;
}

static virDomainPtr create_machine(virConnectPtr conn, const char *uuid, int index)
{
    virDomainPtr dom;
    char *xml;

    if (!is_test) {
        char disk[1100];
        char *argv[] = {"qemu-img", "create", "-q", "-f", "qcow2", "-F", "qcow2", "-b",
                        (char *)opt_image, disk, "10485760K", NULL};
        disk_path(uuid, disk, sizeof(disk));
        run_command(argv);
    }
    xml = domain_xml(uuid, index);
    dom = virDomainDefineXML(conn, xml);
    free(xml);
    if (dom == NULL)
        die("virDomainDefineXML");
    return dom;
}

static void stop_machine(virDomainPtr dom)
{
    int state, reason;

    if (strcmp(opt_stop, "destroy") == 0) {
        if (virDomainDestroy(dom) < 0)
            die("virDomainDestroy");
        return;
    }
    if (virDomainShutdown(dom) < 0)
        die("virDomainShutdown");
    for (;;) {
        struct timespec pause = {0, 1000000L};
        if (virDomainGetState(dom, &state, &reason, 0) < 0)
            die("virDomainGetState");
        if (state == VIR_DOMAIN_SHUTOFF)
            return;
        nanosleep(&pause, NULL);
    }
}

static void delete_machine(virDomainPtr dom, const char *uuid)
{
    static const unsigned int attempts[] = {
        VIR_DOMAIN_UNDEFINE_MANAGED_SAVE | VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA |
            VIR_DOMAIN_UNDEFINE_NVRAM,
        VIR_DOMAIN_UNDEFINE_MANAGED_SAVE, 0,
    };
    size_t i;

    for (i = 0; i < sizeof(attempts) / sizeof(attempts[0]); i++)
        if (virDomainUndefineFlags(dom, attempts[i]) == 0)
            break;
    if (i == sizeof(attempts) / sizeof(attempts[0]))
        die("virDomainUndefineFlags");
    virDomainFree(dom);
    if (!is_test) {
        char path[1100];
        disk_path(uuid, path, sizeof(path));
        unlink(path);
        console_path(uuid, path, sizeof(path));
        unlink(path);
    }
}

static void usage(void)
{
    fputs("usage: direct_libvirt --uri URI --count N [--stop shutdown|destroy]\n"
          "                      [--image QCOW2 --storage DIR] [--warmup W] [--define-only]\n", stderr);
    exit(2);
}

int main(int argc, char **argv)
{
    virConnectPtr conn;
    pthread_t loop;
    double t;

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--define-only") == 0) {
            opt_define_only = 1;
            continue;
        }
        if (v == NULL)
            usage();
        if (strcmp(a, "--uri") == 0)
            opt_uri = v;
        else if (strcmp(a, "--count") == 0)
            opt_count = atol(v);
        else if (strcmp(a, "--warmup") == 0)
            opt_warmup = atol(v);
        else if (strcmp(a, "--stop") == 0)
            opt_stop = v;
        else if (strcmp(a, "--image") == 0)
            opt_image = v;
        else if (strcmp(a, "--storage") == 0)
            opt_storage = v;
        else
            usage();
        i++;
    }
    is_test = strncmp(opt_uri, "test:", 5) == 0 || strncmp(opt_uri, "test+", 5) == 0;
    if (!is_test && (opt_image == NULL || opt_storage == NULL))
        usage();
    /* As cimid: libvirt's own log lines off, its errors through the API. */
    setenv("LIBVIRT_LOG_OUTPUTS", "4:file:/dev/null", 0);
    if (virInitialize() < 0 || virEventRegisterDefaultImpl() < 0)
        die("virInitialize");
    virSetErrorFunc(NULL, ignore_error);
    if (pthread_create(&loop, NULL, event_loop, NULL) != 0)
        die("pthread_create");
    prepare_embed_root();
    if (opt_storage)
        mkdir(opt_storage, 0755);
    conn = virConnectOpen(opt_uri);
    if (conn == NULL)
        die("virConnectOpen");

    if (opt_define_only) {
        /* What start-up reconciliation asks of libvirt for a store of N machines. */
        char uuid[37];
        t = now_us();
        for (long i = 0; i < opt_count; i++) {
            virDomainPtr dom;
            random_uuid(uuid);
            dom = create_machine(conn, uuid, (int)i);
            if (i % 2 == 0 && virDomainCreate(dom) < 0)
                die("virDomainCreate");
            virDomainFree(dom);
        }
        printf("define_all %.1f\n", now_us() - t);
        virConnectClose(conn);
        return 0;
    }

    for (long i = 0; i < opt_warmup + opt_count; i++) {
        char uuid[37];
        virDomainPtr dom;
        double us[4];

        random_uuid(uuid);
        t = now_us();
        dom = create_machine(conn, uuid, (int)i);
        us[0] = now_us() - t;
        t = now_us();
        if (virDomainCreate(dom) < 0)
            die("virDomainCreate");
        us[1] = now_us() - t;
        t = now_us();
        stop_machine(dom);
        us[2] = now_us() - t;
        t = now_us();
        delete_machine(dom, uuid);
        us[3] = now_us() - t;
        if (i < opt_warmup)
            continue;
        printf("create %.1f\nstart %.1f\nstop %.1f\ndelete %.1f\n", us[0], us[1], us[2], us[3]);
        fflush(stdout);
    }
    virConnectClose(conn);
    return 0;
}
