/*
 * embed.c - what qemu:///embed?root=DIR needs before libvirt opens it: no
 * libvirt daemon runs, so cimid writes DIR/etc/qemu.conf (stdio_handler
 * "file" instead of virtlogd; as root no privilege drop and no security
 * driver; no private mount namespace per guest where none can be made, as
 * in a chroot or some containers), and makes sure the system user and group
 * "libvirt-qemu" exist, which Debian's QEMU driver parses at start-up even
 * when qemu.conf says to run guests as root.
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
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
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

/* The first line of a qemu.conf cimid wrote: such a file is cimid's and is
 * rewritten at every start (a file without it is the admin's, kept as is). */
#define QEMU_CONF_MARK "# written by cimid for qemu:///embed (rewritten at start; delete this line to keep your edits)\n"
#define QEMU_CONF_OLD_MARK "# written by cimid for qemu:///embed\n"   /* before 2026-12 */

/* Can libvirt give each guest a private mount namespace (qemu.conf
 * `namespaces`, by default ["mount"]: a private /dev holding only the
 * guest's devices)?  libvirt's child for QEMU unshares the mount namespace
 * and makes "/" a slave mount; in a chroot ("/" is no mount point) or a
 * container that forbids it, that fails ("Failed disable mount propagation
 * out of the root filesystem") and no guest starts.  A child does the same
 * two steps: only system calls between fork and _exit. */
bool embed_mount_namespaces_work(void)
{
    int status;
    pid_t pid = fork();

    if (pid == 0) {
        if (unshare(CLONE_NEWNS) != 0)
            _exit(1);
        _exit(mount("", "/", "none", MS_SLAVE | MS_REC, NULL) == 0 ? 0 : 2);
    }
    if (pid < 0)
        return false;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            return false;
    return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

/* The settings embed mode needs without a libvirt daemon, on f. */
static void put_qemu_conf(FILE *f, bool as_root, bool namespaces)
{
    /* remember_owner = 0: libvirt's DAC driver would otherwise record each
     * file's owner in xattrs and, restoring them, log from a child it forks
     * (a forked child of this multi-threaded process must not allocate:
     * under AddressSanitizer it deadlocked, holding cimid's listening socket
     * after cimid was killed).  Guests run as root: there is no owner to
     * restore. */
    const char *root_settings = "user = \"root\"\n"
                                "group = \"root\"\n"
                                "security_driver = \"none\"\n"
                                "remember_owner = 0\n";

    fputs(QEMU_CONF_MARK, f);
    fputs("stdio_handler = \"file\"\n", f);   /* no virtlogd */
    if (as_root)
        fputs(root_settings, f);
    if (!namespaces)
        fputs("# no private mount namespace (and /dev) per guest: none can be made here\n"
              "namespaces = [ ]\n", f);
}

/* Is the file at path one cimid wrote (or missing)? */
static bool qemu_conf_is_ours(const char *path)
{
    char first[sizeof(QEMU_CONF_MARK)];
    FILE *f = fopen(path, "r");
    bool ours;

    if (f == NULL)
        return errno == ENOENT;
    ours = fgets(first, sizeof(first), f) != NULL &&
           (strcmp(first, QEMU_CONF_MARK) == 0 || strcmp(first, QEMU_CONF_OLD_MARK) == 0);
    fclose(f);
    return ours;
}

/* Write the qemu.conf that embed mode needs (put_qemu_conf), unless the
 * admin's own is there.  Written beside and renamed: libvirt never reads
 * half a file. */
static int write_qemu_conf(const char *path, struct cimi_error *err)
{
    char tmp[1100];
    bool namespaces;
    FILE *f;
    int fd, failed;

    if (!qemu_conf_is_ours(path))
        return 0;
    namespaces = embed_mount_namespaces_work();
    if (!namespaces)
        log_warn("hypervisor: no mount namespace can be made here (a chroot or a container): "
                 "guests share the host's /dev (qemu.conf namespaces = [ ])");
    snprintf(tmp, sizeof(tmp), "%s.new", path);
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return err_set(err, 500, NULL, "cannot create %s: %s", tmp, strerror(errno));
    f = fdopen(fd, "w");
    if (f == NULL) {
        close(fd);
        unlink(tmp);
        return err_set(err, 500, NULL, "cannot write %s: %s", tmp, strerror(errno));
    }
    put_qemu_conf(f, geteuid() == 0, namespaces);
    failed = ferror(f);
    if (fclose(f) != 0 || failed || rename(tmp, path) != 0) {
        unlink(tmp);
        return err_set(err, 500, NULL, "cannot write %s", path);
    }
    return 0;
}

/* For qemu:///embed?root=DIR write DIR/etc/qemu.conf (unless the admin's). */
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
