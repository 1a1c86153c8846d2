/*
 * embed.c - what qemu:///embed?root=DIR needs before libvirt opens it: no
 * libvirt daemon runs, so cimid writes DIR/etc/qemu.conf (stdio_handler
 * "file" instead of virtlogd; as root no privilege drop and no security
 * driver), and makes sure the system user and group "libvirt-qemu" exist,
 * which Debian's QEMU driver parses at start-up even when qemu.conf says
 * to run guests as root.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <stdbool.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <libxml/uri.h>
#include <libxml/xmlstring.h>

#include "driver/local.h"
#include "util/log.h"
#include "util/spawn.h"

#define QEMU_ACCOUNT "libvirt-qemu"

/* ---- preparing qemu:///embed?root=DIR ---- */

/* The value of the root= parameter of an embed URI, decoded; NULL if uri is
 * not an embed URI or has no root.  The caller frees the result. */
char *embed_root_of(const char *uri)
{
    const char *prefix = "qemu:///embed?";
    const char *p, *end;

    if (strncmp(uri, prefix, strlen(prefix)) != 0)
        return NULL;
    p = uri + strlen(prefix);
    while (*p != '\0') {
        end = p + strcspn(p, "&;");
        if (strncmp(p, "root=", 5) == 0 && end > p + 5)
            return xmlURIUnescapeString(p + 5, (int)(end - p - 5), NULL);
        p = *end != '\0' ? end + 1 : end;
    }
    return NULL;
}

/* mkdir -p path (path is modified temporarily). */
int make_dirs(char *path, struct cimi_error *err)
{
    char *slash;

    for (slash = strchr(path + 1, '/'); ; slash = strchr(slash + 1, '/')) {
        if (slash != NULL)
            *slash = '\0';
        if (mkdir(path, 0755) < 0 && errno != EEXIST) {
            err_set(err, 500, NULL, "cannot create %s: %s", path, strerror(errno));
            if (slash != NULL)
                *slash = '/';
            return -1;
        }
        if (slash == NULL)
            return 0;
        *slash = '/';
    }
}

/* Write the qemu.conf that embed mode needs without a libvirt daemon:
 * stdio_handler "file" (no virtlogd), and as root no privilege drop and no
 * security driver.  An existing file is left as it is. */
static int write_qemu_conf(const char *path, struct cimi_error *err)
{
    const char *common = "# written by cimid for qemu:///embed\n"
                         "stdio_handler = \"file\"\n";
    /* remember_owner = 0: libvirt's DAC driver would otherwise record each
     * file's owner in xattrs and, restoring them, log from a child it forks
     * (a forked child of this multi-threaded process must not allocate:
     * under AddressSanitizer it deadlocked, holding cimid's listening socket
     * after cimid was killed).  Guests run as root: there is no owner to
     * restore. */
    const char *as_root = "user = \"root\"\n"
                          "group = \"root\"\n"
                          "security_driver = \"none\"\n"
                          "remember_owner = 0\n";
    FILE *f;
    int fd, failed;

    fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0 && errno == EEXIST)
        return 0;
    if (fd < 0)
        return err_set(err, 500, NULL, "cannot create %s: %s", path, strerror(errno));
    f = fdopen(fd, "w");
    if (f == NULL) {
        close(fd);
        return err_set(err, 500, NULL, "cannot write %s: %s", path, strerror(errno));
    }
    fputs(common, f);
    if (geteuid() == 0)
        fputs(as_root, f);
    failed = ferror(f);
    if (fclose(f) != 0 || failed) {
        unlink(path);
        return err_set(err, 500, NULL, "cannot write %s", path);
    }
    return 0;
}

/* For qemu:///embed?root=DIR create DIR/etc/qemu.conf if missing. */
static int prepare_embed_root(const char *uri, struct cimi_error *err)
{
    char *root = embed_root_of(uri);
    char *path = NULL;
    int ret = -1;

    if (root == NULL)
        return 0;
    if (asprintf(&path, "%s/etc", root) < 0) {
        path = NULL;
        err_set(err, 500, NULL, "out of memory");
        goto done;
    }
    if (make_dirs(path, err) < 0)
        goto done;
    free(path);
    if (asprintf(&path, "%s/etc/qemu.conf", root) < 0) {
        path = NULL;
        err_set(err, 500, NULL, "out of memory");
        goto done;
    }
    ret = write_qemu_conf(path, err);
done:
    free(path);
    xmlFree(root);
    return ret;
}

/* Create the QEMU system group and user if missing (only root can). */
static int ensure_qemu_account(struct cimi_error *err)
{
    char *groupadd[] = {"groupadd", "--system", QEMU_ACCOUNT, NULL};
    char *useradd[] = {"useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin",
                       "-g", QEMU_ACCOUNT, QEMU_ACCOUNT, NULL};
    char why[256];

    if (getpwnam(QEMU_ACCOUNT) != NULL && getgrnam(QEMU_ACCOUNT) != NULL)
        return 0;
    if (geteuid() != 0)
        return err_set(err, 500, NULL,
                       "qemu:///embed needs the system user and group '%s'; create them as root "
                       "(useradd --system %s)", QEMU_ACCOUNT, QEMU_ACCOUNT);
    if (getgrnam(QEMU_ACCOUNT) == NULL && spawn_wait(groupadd, why, sizeof(why)) != 0)
        return err_set(err, 500, NULL, "cannot create group %s: %s", QEMU_ACCOUNT, why);
    if (getpwnam(QEMU_ACCOUNT) == NULL && spawn_wait(useradd, why, sizeof(why)) != 0)
        return err_set(err, 500, NULL, "cannot create user %s: %s", QEMU_ACCOUNT, why);
    log_info("hypervisor: created the system user and group %s for QEMU", QEMU_ACCOUNT);
    return 0;
}

/* The pid in a status file that says the domain was still starting when
 * cimid stopped ("paused", "starting up"): 0 when QEMU was not forked yet,
 * -1 when the file says something else. */
static long starting_pid(const char *path)
{
    static const char mark[] = "<domstatus state='paused' reason='starting up' pid='";
    char head[512], *at;
    size_t n;
    FILE *f = fopen(path, "r");

    if (f == NULL)
        return -1;
    n = fread(head, 1, sizeof(head) - 1, f);
    fclose(f);
    head[n] = '\0';
    at = strstr(head, mark);
    return at != NULL ? strtol(at + strlen(mark), NULL, 10) : -1;
}

/* Is pid the process libvirt forked for domain name: still a copy of cimid
 * (it had not exec'd QEMU yet) or the QEMU of that guest? */
static bool is_starting_guest(long pid, const char *name)
{
    char path[64], exe[1024], self[1024], cmdline[4096], guest[300];
    ssize_t n;
    FILE *f;
    size_t len;

    snprintf(path, sizeof(path), "/proc/%ld/exe", pid);
    n = readlink(path, exe, sizeof(exe) - 1);
    if (n > 0) {
        exe[n] = '\0';
        n = readlink("/proc/self/exe", self, sizeof(self) - 1);
        if (n > 0 && (self[n] = '\0', strcmp(exe, self) == 0))
            return true;
    }
    snprintf(path, sizeof(path), "/proc/%ld/cmdline", pid);
    f = fopen(path, "r");
    if (f == NULL)
        return false;
    len = fread(cmdline, 1, sizeof(cmdline) - 1, f);
    fclose(f);
    cmdline[len] = '\0';
    for (size_t i = 0; i < len; i++)
        if (cmdline[i] == '\0')
            cmdline[i] = ' ';
    snprintf(guest, sizeof(guest), "guest=%s,", name);
    return strstr(cmdline, guest) != NULL;
}

/* A domain cimid was starting when it died stays "paused, starting up" in
 * libvirt's status, and after a restart it keeps libvirt's state-change
 * lock for ever (every call fails after 30 s).  Before libvirt reads the
 * status: stop the process it had forked, if any (a copy of cimid that had
 * not exec'd QEMU yet, or that QEMU), and drop the status file; the domain
 * is then simply defined and shut off, and cimid's Job starts it again.
 * Found by the crash harness (tests/crash/crash.py --qemu). */
static void drop_unstarted_domains(const char *root)
{
    char dir[1024], path[1400], name[300];
    struct dirent *e;
    DIR *d;

    snprintf(dir, sizeof(dir), "%s/run/qemu", root);
    d = opendir(dir);
    if (d == NULL)
        return;
    while ((e = readdir(d)) != NULL) {
        size_t len = strlen(e->d_name);
        long pid;
        if (len < 5 || len >= sizeof(name) || strcmp(e->d_name + len - 4, ".xml") != 0)
            continue;
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        pid = starting_pid(path);
        if (pid < 0)
            continue;
        snprintf(name, sizeof(name), "%.*s", (int)(len - 4), e->d_name);
        if (pid > 0 && is_starting_guest(pid, name))
            kill((pid_t)pid, SIGKILL);
        if (unlink(path) == 0)
            log_warn("hypervisor: %s was being started when cimid stopped: it is shut off now",
                     name);
    }
    closedir(d);
}

int embed_prepare(const char *uri, struct cimi_error *err)
{
    char *root = embed_root_of(uri);

    if (root == NULL)
        return 0;
    drop_unstarted_domains(root);
    xmlFree(root);
    if (prepare_embed_root(uri, err) < 0)
        return -1;
    return ensure_qemu_account(err);
}
