/*
 * ova_read.c - the members of an OVF package: an OVA's USTAR headers read
 * without its data (each member's offset and size, so disks are read
 * straight out of the OVA), or an OVF descriptor's files beside it.
 *
 * Strict: a member name that is absolute, has "..", "\" or control
 * characters is refused; exactly one .ovf member; pax extended headers
 * (`size`, `path`) and GNU long names apply to the next member; GNU
 * base-256 sizes (members of 8 GiB and more); PaxHeader and AppleDouble
 * `._*` members skipped.
 */
#include <errno.h>
#include <limits.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ovf/ovf.h"
#include "util/fileio.h"

unsigned tar_checksum(const struct tar_header *h)
{
    const unsigned char *p = (const unsigned char *)h;
    unsigned sum = 0;

    for (size_t i = 0; i < sizeof(*h); i++)
        sum += (i >= offsetof(struct tar_header, chksum) &&
                i < offsetof(struct tar_header, chksum) + sizeof(h->chksum))
                   ? ' '
                   : p[i];
    return sum;
}

int tar_number(const char *field, size_t len, uint64_t *value)
{
    const unsigned char *f = (const unsigned char *)field;
    uint64_t v = 0;
    size_t i = 0;

    if (len > 0 && f[0] == 0x80) { /* GNU base-256, positive */
        for (i = 1; i < len; i++) {
            if (v >> 55)
                return -1;
            v = (v << 8) | f[i];
        }
        *value = v;
        return 0;
    }
    while (i < len && f[i] == ' ')
        i++;
    size_t digits = 0;
    for (; i < len && f[i] >= '0' && f[i] <= '7'; i++, digits++) {
        if (v >> 60)
            return -1;
        v = v * 8 + (f[i] - '0');
    }
    for (; i < len; i++)
        if (f[i] != ' ' && f[i] != 0)
            return -1;
    if (digits == 0)
        return -1;
    *value = v;
    return 0;
}

bool ova_name_safe(const char *name)
{
    size_t len = strlen(name);

    if (len == 0 || len >= OVF_NAME_MAX || name[0] == '/' || strchr(name, '\\') ||
        strchr(name, ':'))
        return false;
    for (const char *p = name; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            return false;
    /* every part between slashes non-empty and neither "." nor ".." */
    for (const char *part = name; part;) {
        const char *slash = strchr(part, '/');
        size_t n = slash ? (size_t)(slash - part) : strlen(part);
        if (n == 0 || (n == 1 && part[0] == '.') || (n == 2 && part[0] == '.' && part[1] == '.'))
            return false;
        part = slash ? slash + 1 : NULL;
    }
    return true;
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcasecmp(s + a - b, suffix) == 0;
}

/* A member to skip: PaxHeader directories' entries, AppleDouble files. */
static bool skipped_name(const char *name)
{
    const char *base = strrchr(name, '/');
    base = base ? base + 1 : name;
    return strncmp(name, "PaxHeader", 9) == 0 || strstr(name, "/PaxHeader") ||
           strncmp(base, "._", 2) == 0;
}

static int add_member(struct ova_index *idx, const char *name, const char *file,
                      uint64_t offset, uint64_t size, struct cimi_error *err)
{
    if (idx->count >= OVF_MAX_MEMBERS)
        return err_set(err, 400, "source", "the package has more than %d members",
                       OVF_MAX_MEMBERS);
    if (ova_find(idx, name))
        return err_set(err, 400, "source", "the package holds '%s' twice", name);
    struct ova_member *grown = realloc(idx->members, (idx->count + 1) * sizeof(*grown));
    if (!grown)
        return err_set(err, 500, NULL, "out of memory");
    idx->members = grown;
    struct ova_member *m = &grown[idx->count++];
    memset(m, 0, sizeof(*m));
    snprintf(m->name, sizeof(m->name), "%s", name);
    snprintf(m->file, sizeof(m->file), "%s", file);
    m->offset = offset;
    m->size = size;
    return 0;
}

/* Apply the records of a pax extended header ("LEN key=value\n"...). */
static int pax_records(const char *data, size_t len, uint64_t *size, bool *has_size,
                       char *path, size_t path_len, struct cimi_error *err)
{
    size_t pos = 0;

    while (pos < len) {
        char *end;
        unsigned long rec = strtoul(data + pos, &end, 10);
        if (end == data + pos || *end != ' ' || rec == 0 || rec > len - pos ||
            data[pos + rec - 1] != '\n')
            return err_set(err, 400, "source", "malformed pax header in the OVA");
        const char *kv = end + 1, *stop = data + pos + rec - 1;
        const char *eq = memchr(kv, '=', stop - kv);
        if (!eq)
            return err_set(err, 400, "source", "malformed pax record in the OVA");
        size_t klen = eq - kv, vlen = stop - eq - 1;
        if (klen == 4 && memcmp(kv, "size", 4) == 0) {
            char num[32];
            if (vlen == 0 || vlen >= sizeof(num))
                return err_set(err, 400, "source", "bad pax size in the OVA");
            memcpy(num, eq + 1, vlen);
            num[vlen] = 0;
            char *e;
            errno = 0;
            unsigned long long v = strtoull(num, &e, 10);
            if (*e || errno || num[0] == '-' || v > INT64_MAX)
                return err_set(err, 400, "source", "bad pax size in the OVA");
            *size = v;
            *has_size = true;
        } else if (klen == 4 && memcmp(kv, "path", 4) == 0) {
            if (vlen >= path_len)
                return err_set(err, 400, "source", "pax path too long in the OVA");
            memcpy(path, eq + 1, vlen);
            path[vlen] = 0;
        }
        pos += rec;
    }
    return 0;
}

/* The header's name: prefix/name for ustar, name alone otherwise. */
static void header_name(const struct tar_header *h, char *name, size_t len)
{
    char n[101], p[156];
    memcpy(n, h->name, 100);
    n[100] = 0;
    memcpy(p, h->prefix, 155);
    p[155] = 0;
    if (memcmp(h->magic, "ustar", 5) == 0 && p[0] && memcmp(h->magic, "ustar ", 6) != 0)
        snprintf(name, len, "%s/%s", p, n);
    else
        snprintf(name, len, "%s", n);
}

static bool zero_block(const struct tar_header *h)
{
    const char *p = (const char *)h;
    for (size_t i = 0; i < sizeof(*h); i++)
        if (p[i])
            return false;
    return true;
}

struct pax_state {
    uint64_t size;
    bool has_size;
    char path[OVF_NAME_MAX + 1];
};

/* One header at off: member added, pax state kept or skipped; *next = the
 * offset of the following header, 0 at the end of the archive. */
static int read_header(int fd, const char *path, uint64_t off, uint64_t file_size,
                       struct pax_state *pax, struct ova_index *idx, uint64_t *next,
                       struct cimi_error *err)
{
    struct tar_header h;
    uint64_t size;
    char name[OVF_NAME_MAX + 260];

    if (off + sizeof(h) > file_size || read_full_at(fd, &h, sizeof(h), off) < 0) {
        if (idx->count > 0 && off == file_size) { /* no end blocks: tolerated */
            *next = 0;
            return 0;
        }
        return err_set(err, 400, "source", "the OVA ends inside a tar header");
    }
    if (zero_block(&h)) {
        *next = 0;
        return 0;
    }
    uint64_t sum;
    if (tar_number(h.chksum, sizeof(h.chksum), &sum) < 0 || sum != tar_checksum(&h))
        return err_set(err, 400, "source", "not a tar archive (bad header checksum at %llu)",
                       (unsigned long long)off);
    if (tar_number(h.size, sizeof(h.size), &size) < 0)
        return err_set(err, 400, "source", "bad member size in the OVA at %llu",
                       (unsigned long long)off);
    if (pax->has_size)
        size = pax->size;
    uint64_t data = off + sizeof(h);
    if (size > file_size || data > file_size - size)
        return err_set(err, 400, "source", "a member of the OVA runs past its end");
    *next = data + ((size + 511) & ~(uint64_t)511);

    if (h.typeflag == 'x' || h.typeflag == 'g') {
        if (h.typeflag == 'g')
            return 0; /* global records: nothing cimid needs */
        if (size > 65536)
            return err_set(err, 400, "source", "pax header too large in the OVA");
        char *rec = malloc(size + 1);
        if (!rec)
            return err_set(err, 500, NULL, "out of memory");
        int rc = read_full_at(fd, rec, size, data) < 0
                     ? err_set(err, 400, "source", "cannot read a pax header of the OVA")
                     : pax_records(rec, size, &pax->size, &pax->has_size, pax->path,
                                   sizeof(pax->path), err);
        free(rec);
        return rc;
    }
    if (h.typeflag == 'L') { /* GNU long name of the next member */
        if (size == 0 || size > OVF_NAME_MAX)
            return err_set(err, 400, "source", "a GNU long name in the OVA is too long");
        if (read_full_at(fd, pax->path, size, data) < 0)
            return err_set(err, 400, "source", "cannot read a GNU long name of the OVA");
        pax->path[size] = 0;
        if (strlen(pax->path) == 0)
            return err_set(err, 400, "source", "an empty GNU long name in the OVA");
        return 0;
    }
    if (h.typeflag == 'K')
        return 0; /* GNU long link name: links are refused anyway */
    header_name(&h, name, sizeof(name));
    if (pax->path[0])
        snprintf(name, sizeof(name), "%s", pax->path);
    memset(pax, 0, sizeof(*pax));
    if (h.typeflag == '5' || skipped_name(name))
        return 0;
    if (h.typeflag != '0' && h.typeflag != 0 && h.typeflag != '7')
        return err_set(err, 400, "source", "member '%.200s' of the OVA is not a regular file",
                       name);
    if (!ova_name_safe(name))
        return err_set(err, 400, "source", "unsafe member name '%.200s' in the OVA", name);
    return add_member(idx, name, path, data, size, err);
}

/* Exactly one .ovf member, the .mf of its base name if any. */
static int find_descriptor(struct ova_index *idx, struct cimi_error *err)
{
    long found = -1;

    for (size_t i = 0; i < idx->count; i++) {
        if (!ends_with(idx->members[i].name, ".ovf"))
            continue;
        if (found >= 0)
            return err_set(err, 400, "source", "the OVA holds more than one .ovf descriptor");
        found = (long)i;
    }
    if (found < 0)
        return err_set(err, 400, "source", "the OVA holds no .ovf descriptor");
    idx->descriptor = (size_t)found;
    idx->manifest = -1;
    char mf[OVF_NAME_MAX];
    snprintf(mf, sizeof(mf), "%.*s.mf", (int)strlen(idx->members[found].name) - 4,
             idx->members[found].name);
    const struct ova_member *m = ova_find(idx, mf);
    if (m)
        idx->manifest = m - idx->members;
    return 0;
}

int ova_read_index(const char *path, struct ova_index *idx, struct cimi_error *err)
{
    struct pax_state pax = {0};
    struct stat st;
    uint64_t off = 0, next = 0;
    int rc = 0;

    memset(idx, 0, sizeof(*idx));
    idx->manifest = -1;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0 || fstat(fd, &st) < 0) {
        if (fd >= 0)
            close(fd);
        return err_set(err, 400, "source", "cannot open the package: %s", strerror(errno));
    }
    for (;;) {
        if ((rc = read_header(fd, path, off, (uint64_t)st.st_size, &pax, idx, &next, err)) < 0)
            break;
        if (next == 0)
            break;
        off = next;
    }
    close(fd);
    if (rc == 0)
        rc = find_descriptor(idx, err);
    if (rc < 0)
        ova_index_free(idx);
    return rc;
}

static int add_file_member(struct ova_index *idx, const char *name, const char *file,
                           struct cimi_error *err)
{
    struct stat st;

    if (stat(file, &st) < 0 || !S_ISREG(st.st_mode))
        return err_set(err, 400, "source", "the package's file '%s' is missing", name);
    return add_member(idx, name, file, 0, (uint64_t)st.st_size, err);
}

int ova_index_descriptor(const char *ovf_path, struct ova_index *idx, struct cimi_error *err)
{
    char dir[4096], file[4200], name[OVF_NAME_MAX + 8];
    const char *slash = strrchr(ovf_path, '/');
    const char *base = slash ? slash + 1 : ovf_path;
    static const char *const beside[] = {".mf", ".cert"};

    memset(idx, 0, sizeof(*idx));
    idx->manifest = -1;
    snprintf(dir, sizeof(dir), "%.*s", slash ? (int)(slash - ovf_path) : 1,
             slash ? ovf_path : ".");
    if (!ends_with(base, ".ovf"))
        return err_set(err, 400, "source", "a descriptor's name ends in .ovf");
    if (add_file_member(idx, base, ovf_path, err) < 0) {
        ova_index_free(idx);
        return -1;
    }
    /* the manifest and certificate of the same base name, inside the directory too */
    for (size_t i = 0; i < sizeof(beside) / sizeof(beside[0]); i++) {
        snprintf(name, sizeof(name), "%.*s%s", (int)strlen(base) - 4, base, beside[i]);
        snprintf(file, sizeof(file), "%s/%s", dir, name);
        if (access(file, F_OK) != 0)
            continue;
        if (ova_index_add_file(idx, dir, name, err) < 0) {
            ova_index_free(idx);
            return -1;
        }
        if (i == 0)
            idx->manifest = (long)idx->count - 1;
    }
    return 0;
}

int ova_index_add_file(struct ova_index *idx, const char *dir, const char *href,
                       struct cimi_error *err)
{
    char file[4096], real[PATH_MAX], real_dir[PATH_MAX];

    if (!ova_name_safe(href))
        return err_set(err, 400, "source", "unsafe file reference '%.200s'", href);
    if (ova_find(idx, href))
        return 0;
    snprintf(file, sizeof(file), "%s/%s", dir, href);
    /* no symbolic link may lead the file out of the descriptor's directory */
    if (!realpath(dir, real_dir) || !realpath(file, real))
        return err_set(err, 400, "source", "the package's file '%s' is missing", href);
    size_t n = strlen(real_dir);
    if (strncmp(real, real_dir, n) != 0 || real[n] != '/')
        return err_set(err, 400, "source", "the package's file '%s' is outside its directory",
                       href);
    return add_file_member(idx, href, real, err);
}

const struct ova_member *ova_find(const struct ova_index *idx, const char *name)
{
    for (size_t i = 0; i < idx->count; i++)
        if (strcmp(idx->members[i].name, name) == 0)
            return &idx->members[i];
    return NULL;
}

int ova_read_member(const struct ova_member *m, size_t max, char **data, size_t *len,
                    struct cimi_error *err)
{
    if (m->size > max)
        return err_set(err, 400, "source", "'%s' is larger than %zu bytes", m->name, max);
    int fd = open(m->file, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return err_set(err, 500, NULL, "cannot open '%s': %s", m->name, strerror(errno));
    char *buf = malloc(m->size + 1);
    int rc = buf && read_full_at(fd, buf, m->size, m->offset) == 0 ? 0 : -1;
    close(fd);
    if (rc < 0) {
        free(buf);
        return err_set(err, 500, NULL, "cannot read '%s'", m->name);
    }
    buf[m->size] = 0;
    *data = buf;
    *len = m->size;
    return 0;
}

void ova_index_free(struct ova_index *idx)
{
    free(idx->members);
    idx->members = NULL;
    idx->count = 0;
}
