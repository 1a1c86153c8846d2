/*
 * ova_write.c - writing an OVA: an uncompressed USTAR archive of the .ovf
 * first, then the .mf manifest, then the disks in References order
 * (DSP0243 clause 5.3; ../shared/spec/ovf.md §1).
 *
 * Members have flat names (<= 100 bytes, the header's name field), mode
 * 0644, uid/gid 0; a member of 8 GiB or more (which USTAR's 11 octal digits
 * cannot hold) gets GNU tar's base-256 size.  The manifest lists every
 * other member as "SHA256(name)= <hex>": its length is known from the names
 * alone, so a placeholder of that size is written second and filled in at
 * the end with the digests taken while each member streamed through once.
 */
#include "ovf/ovf_write.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "ovf/ovf.h"

#define BLOCK 512
#define COPY_CHUNK (1 << 20)
#define USTAR_OCTAL_MAX 077777777777ULL /* 11 octal digits */
#define HEX_LEN 64                       /* a SHA-256 in hex */

struct ova_writer {
    int fd;
    size_t count, next;      /* members named at ova_begin; the next one to add */
    char (*names)[OVA_NAME_MAX + 1];
    char (*digests)[129];          /* ovf_hash_finish writes up to SHA-512 */
    char mf_name[OVA_NAME_MAX + 1];
    off_t mf_offset;         /* where the manifest's bytes start */
    size_t mf_len;
    uint64_t done;           /* bytes written, for progress */
};

static int fail(char *why, size_t why_len, const char *what, const char *name)
{
    snprintf(why, why_len, "%s %s: %s", what, name, errno ? strerror(errno) : "failed");
    return -1;
}

static int write_all(struct ova_writer *w, const void *data, size_t len)
{
    const char *p = data;

    while (len > 0) {
        ssize_t n = write(w->fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        p += n;
        len -= (size_t)n;
        w->done += (uint64_t)n;
    }
    return 0;
}

/* Zeros up to the next block boundary after len bytes of data. */
static int pad(struct ova_writer *w, uint64_t len)
{
    static const char zeros[BLOCK];
    size_t rest = (size_t)(len % BLOCK);

    return rest ? write_all(w, zeros, BLOCK - rest) : 0;
}

/* The size field: 11 octal digits, or GNU base-256 (first byte 0x80). */
void ova_size_field(char field[12], uint64_t size)
{
    if (size <= USTAR_OCTAL_MAX) {
        snprintf(field, 12, "%011llo", (unsigned long long)size);
        return;
    }
    memset(field, 0, 12);
    field[0] = (char)0x80;
    for (int i = 11; i > 0 && size; i--, size >>= 8)
        field[i] = (char)(size & 0xff);
}

static int write_header(struct ova_writer *w, const char *name, uint64_t size)
{
    struct tar_header h;

    memset(&h, 0, sizeof(h));
    memcpy(h.name, name, strnlen(name, sizeof(h.name)));
    memcpy(h.mode, "0000644", 8);
    memcpy(h.uid, "0000000", 8);
    memcpy(h.gid, "0000000", 8);
    ova_size_field(h.size, size);
    snprintf(h.mtime, sizeof(h.mtime), "%011llo", (unsigned long long)time(NULL));
    h.typeflag = '0';
    memcpy(h.magic, "ustar", 6);
    memcpy(h.version, "00", 2);
    memcpy(h.uname, "root", 5);
    memcpy(h.gname, "root", 5);
    snprintf(h.chksum, sizeof(h.chksum), "%06o", tar_checksum(&h));
    h.chksum[7] = ' ';
    return write_all(w, &h, sizeof(h));
}

static size_t manifest_len(const struct ova_writer *w)
{
    size_t len = 0;

    for (size_t i = 0; i < w->count; i++)
        len += strlen("SHA256()= \n") + strlen(w->names[i]) + HEX_LEN;
    return len;
}

struct ova_writer *ova_begin(int fd, const char *const *names, size_t count, char *why,
                             size_t why_len)
{
    struct ova_writer *w = calloc(1, sizeof(*w));
    size_t base;

    if (!w || count == 0 || !(w->names = calloc(count, sizeof(*w->names))) ||
        !(w->digests = calloc(count, sizeof(*w->digests)))) {
        snprintf(why, why_len, count ? "out of memory" : "no members");
        ova_abort(w);
        return NULL;
    }
    w->fd = fd;
    w->count = count;
    for (size_t i = 0; i < count; i++) {
        size_t len = strlen(names[i]);
        if (len == 0 || len > OVA_NAME_MAX || strchr(names[i], '/')) {
            snprintf(why, why_len, "member name not flat or longer than %d bytes: %s",
                     OVA_NAME_MAX, names[i]);
            ova_abort(w);
            return NULL;
        }
        memcpy(w->names[i], names[i], len + 1);
    }
    base = strlen(names[0]);
    if (base < 5 || strcmp(names[0] + base - 4, ".ovf") != 0) {
        snprintf(why, why_len, "the first member is not a .ovf: %s", names[0]);
        ova_abort(w);
        return NULL;
    }
    snprintf(w->mf_name, sizeof(w->mf_name), "%.*s.mf", (int)(base - 4), names[0]);
    w->mf_len = manifest_len(w);
    return w;
}

/* The next member must be the name given at ova_begin. */
static int expect(struct ova_writer *w, const char *name, char *why, size_t why_len)
{
    if (w->next >= w->count || strcmp(w->names[w->next], name) != 0) {
        snprintf(why, why_len, "member %s out of the announced order", name);
        return -1;
    }
    return 0;
}

/* After the .ovf: the manifest's header and room for its bytes. */
static int reserve_manifest(struct ova_writer *w, char *why, size_t why_len)
{
    char *blank = malloc(w->mf_len);
    int rc;

    if (!blank)
        return fail(why, why_len, "writing", w->mf_name);
    memset(blank, '\n', w->mf_len);
    rc = write_header(w, w->mf_name, w->mf_len);
    w->mf_offset = lseek(w->fd, 0, SEEK_CUR);
    if (rc == 0 && w->mf_offset >= 0)
        rc = write_all(w, blank, w->mf_len) == 0 ? pad(w, w->mf_len) : -1;
    free(blank);
    return rc == 0 && w->mf_offset >= 0 ? 0 : fail(why, why_len, "writing", w->mf_name);
}

int ova_add_buffer(struct ova_writer *w, const char *name, const void *data, size_t len,
                   char *why, size_t why_len)
{
    struct ovf_hash *hash;

    if (expect(w, name, why, why_len) != 0)
        return -1;
    errno = 0;
    if (write_header(w, name, len) != 0 || write_all(w, data, len) != 0 || pad(w, len) != 0)
        return fail(why, why_len, "writing", name);
    if (!(hash = ovf_hash_new(OVF_SHA256)))
        return fail(why, why_len, "hashing", name);
    ovf_hash_update(hash, data, len);
    ovf_hash_finish(hash, w->digests[w->next]);
    if (w->next++ == 0)
        return reserve_manifest(w, why, why_len);
    return 0;
}

static int copy_file(struct ova_writer *w, int in, uint64_t size, struct ovf_hash *hash,
                     ova_progress_fn progress, void *arg, char *why, size_t why_len)
{
    char *buf = malloc(COPY_CHUNK);
    uint64_t copied = 0;
    int rc = 0;

    if (!buf)
        return fail(why, why_len, "copying", w->names[w->next]);
    while (rc == 0 && copied < size) {
        size_t want = size - copied < COPY_CHUNK ? (size_t)(size - copied) : COPY_CHUNK;
        ssize_t n = read(in, buf, want);

        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            rc = fail(why, why_len, n == 0 ? "file shrank:" : "reading", w->names[w->next]);
        } else {
            ovf_hash_update(hash, buf, (size_t)n);
            copied += (uint64_t)n;
            if (write_all(w, buf, (size_t)n) != 0)
                rc = fail(why, why_len, "writing", w->names[w->next]);
            else if (progress && !progress(arg, w->done)) {
                snprintf(why, why_len, "stopped");
                rc = -1;
            }
        }
    }
    free(buf);
    return rc;
}

int ova_add_file(struct ova_writer *w, const char *name, const char *path,
                 ova_progress_fn progress, void *arg, char *why, size_t why_len)
{
    struct ovf_hash *hash;
    struct stat st;
    int in, rc;

    if (expect(w, name, why, why_len) != 0)
        return -1;
    if (w->next == 0) {
        snprintf(why, why_len, "the .ovf must be added from memory");
        return -1;
    }
    errno = 0;
    in = open(path, O_RDONLY | O_CLOEXEC);
    if (in < 0 || fstat(in, &st) != 0) {
        if (in >= 0)
            close(in);
        return fail(why, why_len, "opening", name);
    }
    if (!(hash = ovf_hash_new(OVF_SHA256))) {
        close(in);
        return fail(why, why_len, "hashing", name);
    }
    posix_fadvise(in, 0, 0, POSIX_FADV_SEQUENTIAL);
    rc = write_header(w, name, (uint64_t)st.st_size);
    if (rc != 0)
        rc = fail(why, why_len, "writing", name);
    if (rc == 0)
        rc = copy_file(w, in, (uint64_t)st.st_size, hash, progress, arg, why, why_len);
    close(in);
    if (rc == 0 && pad(w, (uint64_t)st.st_size) != 0)
        rc = fail(why, why_len, "writing", name);
    ovf_hash_finish(hash, w->digests[w->next]);
    if (rc == 0)
        w->next++;
    return rc;
}

static int fill_manifest(struct ova_writer *w)
{
    char *text = malloc(w->mf_len + 1);
    size_t used = 0;
    int rc = -1;

    if (!text)
        return -1;
    for (size_t i = 0; i < w->count; i++) {
        int n = manifest_line(text + used, w->mf_len + 1 - used, OVF_SHA256, w->names[i],
                              w->digests[i]);
        if (n < 0)
            break;
        used += (size_t)n;
    }
    if (used == w->mf_len && pwrite(w->fd, text, used, w->mf_offset) == (ssize_t)used)
        rc = 0;
    free(text);
    return rc;
}

int ova_end(struct ova_writer *w, char *why, size_t why_len)
{
    static const char zeros[2 * BLOCK];
    int rc = 0;

    errno = 0;
    if (w->next != w->count) {
        snprintf(why, why_len, "%zu of %zu members written", w->next, w->count);
        rc = -1;
    } else if (write_all(w, zeros, sizeof(zeros)) != 0 || fill_manifest(w) != 0 ||
               fsync(w->fd) != 0) {
        rc = fail(why, why_len, "writing", w->mf_name);
    }
    ova_abort(w);
    return rc;
}

void ova_abort(struct ova_writer *w)
{
    if (!w)
        return;
    free(w->names);
    free(w->digests);
    free(w);
}
