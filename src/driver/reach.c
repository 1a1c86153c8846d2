/*
 * reach.c - can the account a host's QEMU guests run as reach the image a
 * new disk is made on?
 *
 * On qemu:///system libvirt runs each guest as its DAC user (Debian:
 * libvirt-qemu), and relabels the disk files it is given, but not the
 * directories on their way: an image under a home directory of mode 0700
 * (Debian's default) makes the guest fail at start with QEMU's "Permission
 * denied" deep in a Job.  cimid asks libvirt which uid:gid its guests get
 * (the capabilities' DAC base label), and before making a disk checks the
 * way to the image as that account: a child process takes its uid, gid and
 * groups and stat()s every directory on the path, so modes, ACLs and
 * symbolic links count exactly as for QEMU, for the image and every
 * backing file under it.  The refusal names the directory that stops it.
 */
#include <errno.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <libxml/parser.h>
#include <libxml/xpath.h>

#include "driver/local.h"

#define MAX_GROUPS 64

void reach_guest_account(virConnectPtr conn, const char *domain_type, long *uid, long *gid)
{
    char expr[128], *caps = virConnectGetCapabilities(conn);
    xmlDocPtr doc = caps ? xmlReadMemory(caps, (int)strlen(caps), "caps.xml", NULL,
                                         XML_PARSE_NONET | XML_PARSE_NOERROR |
                                         XML_PARSE_NOWARNING) : NULL;
    xmlXPathContextPtr ctx = doc ? xmlXPathNewContext(doc) : NULL;
    xmlXPathObjectPtr found = NULL;

    *uid = *gid = -1;
    snprintf(expr, sizeof(expr),
             "string(/capabilities/host/secmodel[model='dac']/baselabel[@type='%s'])",
             domain_type);
    if (ctx != NULL)
        found = xmlXPathEvalExpression((const xmlChar *)expr, ctx);
    if (found != NULL && found->stringval != NULL &&
        sscanf((const char *)found->stringval, "+%ld:+%ld", uid, gid) != 2)
        *uid = *gid = -1;
    xmlXPathFreeObject(found);
    xmlXPathFreeContext(ctx);
    xmlFreeDoc(doc);
    free(caps);
}

/* In a child as uid/gid with groups: stat each prefix of path that ends a
 * component (the directories, then path itself).  Exit 0 when all succeed,
 * else the 1-based number of the first that is refused (at most 254; 255:
 * the child could not become that account).  Only system calls between fork and
 * _exit; raw set*id calls, as the child has one thread. */
static int walk_as(const char *path, uid_t uid, gid_t gid, const gid_t *groups, int ngroups)
{
    char prefix[PATH_MAX];
    struct stat st;
    int status, step = 0;
    pid_t pid = fork();

    if (pid == 0) {
        if (syscall(SYS_setgroups, (size_t)ngroups, groups) != 0 ||
            syscall(SYS_setgid, gid) != 0 || syscall(SYS_setuid, uid) != 0)
            _exit(255);
        for (size_t i = 1; path[i - 1] != '\0'; i++) {
            if (path[i] != '/' && path[i] != '\0')
                continue;
            if (++step > 254)
                _exit(0);
            memcpy(prefix, path, i);
            prefix[i] = '\0';
            if (stat(prefix, &st) != 0)
                _exit(errno == EACCES ? step : 0);   /* a missing file is not ours to judge */
        }
        _exit(0);
    }
    if (pid < 0)
        return -1;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            return -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* The directory holding the step-th component of path (into out). */
static void blocking_dir(const char *path, int step, char *out, size_t len)
{
    size_t i;
    int seen = 0;

    for (i = 1; path[i - 1] != '\0'; i++) {
        if ((path[i] == '/' || path[i] == '\0') && ++seen == step)
            break;
    }
    while (i > 1 && path[i - 1] != '/')   /* back to the '/' before the component */
        i--;
    snprintf(out, len, "%.*s", (int)(i > 1 ? i - 1 : 1), path);
}

static int refuse(const char *what, const char *path, const char *dir, long uid,
                  struct cimi_error *err)
{
    struct passwd *pw = getpwuid((uid_t)uid);
    struct stat st;
    char how[80] = "";

    if (stat(dir, &st) == 0)
        snprintf(how, sizeof(how), " (mode %04o, owner uid %ld)", (unsigned)(st.st_mode & 07777),
                 (long)st.st_uid);
    return err_set(err, 409, NULL,
                   "this host runs guests as %s (uid %ld), which cannot reach the %s %s: "
                   "the directory %s%s is closed to it; keep images and the storage directory "
                   "where that user can reach them (every directory on the way searchable, "
                   "e.g. chmod o+x %s)",
                   pw ? pw->pw_name : "another user", uid, what, path, dir, how, dir);
}

/* The backing file a qcow2 image at path names (relative names are
 * relative to its directory), into out; false when it names none. */
static bool qcow2_backing(const char *path, char *out, size_t len)
{
    unsigned char header[20];
    char name[PATH_MAX];
    unsigned long long offset = 0;
    unsigned int size = 0;
    const char *slash;
    FILE *f = fopen(path, "rb");
    bool found = false;

    if (f == NULL)
        return false;
    if (fread(header, 1, sizeof(header), f) == sizeof(header) &&
        memcmp(header, "QFI\xfb", 4) == 0) {
        for (int i = 8; i < 16; i++)    /* big-endian backing_file_offset */
            offset = (offset << 8) | header[i];
        for (int i = 16; i < 20; i++)   /* big-endian backing_file_size */
            size = (size << 8) | header[i];
        found = offset > 0 && size > 0 && size < sizeof(name) && offset < (1ULL << 31) &&
                fseek(f, (long)offset, SEEK_SET) == 0 && fread(name, 1, size, f) == size;
    }
    fclose(f);
    if (!found)
        return false;
    name[size] = '\0';
    slash = strrchr(path, '/');
    if (name[0] == '/' || slash == NULL)
        snprintf(out, len, "%s", name);
    else
        snprintf(out, len, "%.*s/%s", (int)(slash - path), path, name);
    return true;
}

/* reach_check of path and of every backing file under it (at most 16). */
int reach_check_chain(const char *what, const char *path, long uid, long gid,
                      struct cimi_error *err)
{
    char current[PATH_MAX], next[PATH_MAX];

    if (reach_check(what, path, uid, gid, err) != 0)
        return -1;
    snprintf(current, sizeof(current), "%s", path);
    for (int depth = 0; depth < 16 && qcow2_backing(current, next, sizeof(next)); depth++) {
        if (reach_check("backing file", next, uid, gid, err) != 0)
            return -1;
        snprintf(current, sizeof(current), "%s", next);
    }
    return 0;
}

int reach_check(const char *what, const char *path, long uid, long gid, struct cimi_error *err)
{
    char real[PATH_MAX], dir[PATH_MAX];
    gid_t groups[MAX_GROUPS];
    int ngroups = MAX_GROUPS, step;
    struct passwd *pw;

    if (uid <= 0 || geteuid() != 0)   /* guests as root, unknown, or not ours to check */
        return 0;
    pw = getpwuid((uid_t)uid);
    if (pw == NULL || getgrouplist(pw->pw_name, (gid_t)gid, groups, &ngroups) < 0) {
        groups[0] = (gid_t)gid;
        ngroups = 1;
    }
    /* The way as written (through its symbolic links), then the real one. */
    step = walk_as(path, (uid_t)uid, (gid_t)gid, groups, ngroups);
    if (step > 0 && step < 255 && realpath(path, real) != NULL) {
        int real_step = walk_as(real, (uid_t)uid, (gid_t)gid, groups, ngroups);
        if (real_step > 0 && real_step < 255) {
            blocking_dir(real, real_step, dir, sizeof(dir));
            return refuse(what, path, dir, uid, err);
        }
    }
    if (step > 0 && step < 255) {
        blocking_dir(path, step, dir, sizeof(dir));
        return refuse(what, path, dir, uid, err);
    }
    return 0;
}
