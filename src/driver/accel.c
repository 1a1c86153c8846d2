/*
 * accel.c - KVM or TCG for new QEMU machines.
 *
 * On some hosts KVM guests start but a Linux kernel never gets past its
 * decompressor (nested virtualization; see shared/facts.md).  So "auto" does
 * not trust /dev/kvm alone: it boots a probe kernel (vmlinuz + initrd.img from
 * the probe directory, with "cimid.probe" on its command line) under KVM as a
 * transient domain and waits for the probe's userspace to print
 * "cimid-probe: userspace".  Only then is KVM used; otherwise TCG (domain
 * type "qemu"), and a log line says why.  The verdict is kept in the storage
 * directory (file accel-probe) until the probe kernel changes.
 */
#include <fcntl.h>
#include <sys/stat.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "driver/local.h"
#include "util/clock.h"
#include "util/log.h"

#define PROBE_SECONDS 20
#define PROBE_MARK "cimid-probe: userspace"

static bool file_contains(const char *path, const char *needle)
{
    char buf[65536];
    FILE *f = fopen(path, "r");
    size_t n;

    if (f == NULL)
        return false;
    n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    return strstr(buf, needle) != NULL;
}

static char *probe_xml(const char *kernel, const char *initrd, const char *log)
{
    char *xml = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&xml, &len);

    if (f == NULL)
        return NULL;
    fputs("<domain type='kvm'>\n  <name>cimid-kvm-probe</name>\n"
          "  <memory unit='MiB'>256</memory>\n  <vcpu>1</vcpu>\n"
          "  <os>\n    <type arch='x86_64'>hvm</type>\n    <kernel>", f);
    put_xml_text(f, kernel);
    fputs("</kernel>\n    <initrd>", f);
    put_xml_text(f, initrd);
    fputs("</initrd>\n    <cmdline>console=ttyS0 cimid.probe</cmdline>\n  </os>\n"
          "  <devices>\n    <serial type='file'>\n      <source path='", f);
    put_xml_text(f, log);
    fputs("'/>\n      <target port='0'/>\n    </serial>\n  </devices>\n</domain>\n", f);
    if (fclose(f) != 0) {
        free(xml);
        return NULL;
    }
    return xml;
}

/* Does a KVM guest reach userspace here? */
static bool kvm_boots(virConnectPtr conn, const char *storage_dir, const char *probe_dir,
                      double *seconds)
{
    char kernel[1100], initrd[1100], log[1100];
    double started = clock_mono_ms();
    virDomainPtr dom;
    bool booted = false;
    char *xml;

    snprintf(kernel, sizeof(kernel), "%s/vmlinuz", probe_dir);
    snprintf(initrd, sizeof(initrd), "%s/initrd.img", probe_dir);
    snprintf(log, sizeof(log), "%s/kvm-probe.log", storage_dir);
    unlink(log);
    xml = probe_xml(kernel, initrd, log);
    if (xml == NULL)
        return false;
    dom = virDomainCreateXML(conn, xml, VIR_DOMAIN_START_AUTODESTROY);
    free(xml);
    if (dom == NULL)
        return false;
    while (clock_mono_ms() - started < PROBE_SECONDS * 1000.0) {
        struct timespec pause = {0, 200 * 1000000L};
        if (file_contains(log, PROBE_MARK)) {
            booted = true;
            break;
        }
        nanosleep(&pause, NULL);
    }
    *seconds = (clock_mono_ms() - started) / 1000.0;
    virDomainDestroy(dom);
    virDomainFree(dom);
    return booted;
}

/* A verdict kept from an earlier probe of the same kernel: 1 KVM, 0 TCG, -1 none. */
static int cached_verdict(const char *storage_dir, const char *kernel)
{
    char path[1100], text[16] = "";
    struct stat k, c;
    FILE *f;

    snprintf(path, sizeof(path), "%s/accel-probe", storage_dir);
    if (stat(kernel, &k) != 0 || stat(path, &c) != 0 || c.st_mtime < k.st_mtime)
        return -1;
    f = fopen(path, "r");
    if (f == NULL)
        return -1;
    if (fgets(text, sizeof(text), f) == NULL)
        text[0] = '\0';
    fclose(f);
    if (strncmp(text, "kvm", 3) == 0)
        return 1;
    return strncmp(text, "tcg", 3) == 0 ? 0 : -1;
}

static void keep_verdict(const char *storage_dir, bool kvm)
{
    char path[1100];
    FILE *f;

    snprintf(path, sizeof(path), "%s/accel-probe", storage_dir);
    f = fopen(path, "w");
    if (f != NULL) {
        fputs(kvm ? "kvm\n" : "tcg\n", f);
        fclose(f);
    }
}

const char *accel_choose(virConnectPtr conn, const char *setting, const char *storage_dir,
                         const char *probe_dir)
{
    int cached;
    char kernel[1100];
    double seconds = 0;

    if (setting != NULL && strcmp(setting, "tcg") == 0) {
        log_info("hypervisor: TCG (software emulation), as configured");
        return "qemu";
    }
    if (setting != NULL && strcmp(setting, "kvm") == 0) {
        log_info("hypervisor: KVM, as configured");
        return "kvm";
    }
    if (access("/dev/kvm", R_OK | W_OK) != 0) {
        log_info("hypervisor: no usable /dev/kvm; guests run under TCG (software emulation)");
        return "qemu";
    }
    snprintf(kernel, sizeof(kernel), "%s/vmlinuz", probe_dir ? probe_dir : "");
    if (probe_dir == NULL || access(kernel, R_OK) != 0) {
        log_warn("hypervisor: KVM not verified (no probe kernel; see --probe-dir); guests run "
                 "under TCG; --accel kvm forces KVM");
        return "qemu";
    }
    cached = cached_verdict(storage_dir, kernel);
    if (cached >= 0) {
        log_info("hypervisor: %s (an earlier probe found that KVM guests %s)",
                 cached ? "KVM" : "TCG (software emulation)",
                 cached ? "boot" : "do not boot here");
        return cached ? "kvm" : "qemu";
    }
    if (kvm_boots(conn, storage_dir, probe_dir, &seconds)) {
        keep_verdict(storage_dir, true);
        log_info("hypervisor: a KVM guest booted to userspace in %.1f s; using KVM", seconds);
        return "kvm";
    }
    keep_verdict(storage_dir, false);
    log_warn("hypervisor: /dev/kvm is there but a KVM guest did not reach userspace within "
             "%d s; guests run under TCG (software emulation); --accel kvm forces KVM",
             PROBE_SECONDS);
    return "qemu";
}
