/*
 * manifest.c - an OVF package's .mf manifest: parsed tolerantly (the
 * canonical `SHA256(name)= hex` and VirtualBox's `SHA1 (name) = hex`),
 * written canonically, and verified by hashing each member's bytes as
 * stored while streaming them (nettle SHA-1, SHA-256, SHA-512).
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <nettle/sha1.h>
#include <nettle/sha2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ovf/ovf.h"
#include "util/fileio.h"

struct ovf_hash {
    enum ovf_digest digest;
    union {
        struct sha1_ctx sha1;
        struct sha256_ctx sha256;
        struct sha512_ctx sha512;
    } ctx;
};

static const struct {
    const char *name;
    enum ovf_digest digest;
    size_t bytes;
} digests[] = {
    {"SHA1", OVF_SHA1, SHA1_DIGEST_SIZE},
    {"SHA256", OVF_SHA256, SHA256_DIGEST_SIZE},
    {"SHA512", OVF_SHA512, SHA512_DIGEST_SIZE},
};

const char *manifest_digest_name(enum ovf_digest digest)
{
    for (size_t i = 0; i < sizeof(digests) / sizeof(digests[0]); i++)
        if (digests[i].digest == digest)
            return digests[i].name;
    return "?";
}

static size_t digest_bytes(enum ovf_digest digest)
{
    for (size_t i = 0; i < sizeof(digests) / sizeof(digests[0]); i++)
        if (digests[i].digest == digest)
            return digests[i].bytes;
    return 0;
}

struct ovf_hash *ovf_hash_new(enum ovf_digest digest)
{
    struct ovf_hash *h = calloc(1, sizeof(*h));
    if (!h)
        return NULL;
    h->digest = digest;
    if (digest == OVF_SHA1)
        sha1_init(&h->ctx.sha1);
    else if (digest == OVF_SHA256)
        sha256_init(&h->ctx.sha256);
    else
        sha512_init(&h->ctx.sha512);
    return h;
}

void ovf_hash_update(struct ovf_hash *h, const void *data, size_t len)
{
    if (h->digest == OVF_SHA1)
        sha1_update(&h->ctx.sha1, len, data);
    else if (h->digest == OVF_SHA256)
        sha256_update(&h->ctx.sha256, len, data);
    else
        sha512_update(&h->ctx.sha512, len, data);
}

void ovf_hash_finish(struct ovf_hash *h, char *hex)
{
    uint8_t raw[SHA512_DIGEST_SIZE];
    size_t n = digest_bytes(h->digest);

    if (h->digest == OVF_SHA1)
        sha1_digest(&h->ctx.sha1, n, raw);
    else if (h->digest == OVF_SHA256)
        sha256_digest(&h->ctx.sha256, n, raw);
    else
        sha512_digest(&h->ctx.sha512, n, raw);
    for (size_t i = 0; i < n; i++)
        sprintf(hex + 2 * i, "%02x", raw[i]);
    hex[2 * n] = 0;
    free(h);
}

int ovf_hash_member(const struct ova_member *m, enum ovf_digest digest, char *hex,
                    struct cimi_error *err)
{
    enum { CHUNK = 1 << 20 };
    int fd = open(m->file, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return err_set(err, 500, NULL, "cannot open '%s': %s", m->name, strerror(errno));
    char *buf = malloc(CHUNK);
    struct ovf_hash *h = ovf_hash_new(digest);
    uint64_t done = 0;
    int rc = buf && h ? 0 : err_set(err, 500, NULL, "out of memory");
    posix_fadvise(fd, (off_t)m->offset, (off_t)m->size, POSIX_FADV_SEQUENTIAL);
    while (rc == 0 && done < m->size) {
        size_t want = m->size - done < CHUNK ? (size_t)(m->size - done) : CHUNK;
        if (read_full_at(fd, buf, want, m->offset + done) != 0) {
            rc = err_set(err, 400, "source", "'%s' is shorter than the package says", m->name);
        } else {
            ovf_hash_update(h, buf, want);
            done += want;
        }
    }
    close(fd);
    free(buf);
    if (h)
        ovf_hash_finish(h, hex); /* frees h */
    return rc;
}

static void trim_blanks(const char **p, const char *end)
{
    while (*p < end && (**p == ' ' || **p == '\t'))
        (*p)++;
}

/* One line "ALGO[ ](name)[ ]=[ ]hex" into e. */
static int parse_line(const char *p, const char *end, struct manifest_entry *e)
{
    size_t i;

    while (end > p && (end[-1] == '\r' || end[-1] == ' ' || end[-1] == '\t'))
        end--;
    trim_blanks(&p, end);
    for (i = 0; i < sizeof(digests) / sizeof(digests[0]); i++) {
        size_t n = strlen(digests[i].name);
        if ((size_t)(end - p) > n && strncasecmp(p, digests[i].name, n) == 0 &&
            (p[n] == '(' || p[n] == ' ' || p[n] == '\t'))
            break;
    }
    if (i == sizeof(digests) / sizeof(digests[0]))
        return -1;
    e->digest = digests[i].digest;
    p += strlen(digests[i].name);
    trim_blanks(&p, end);
    /* the name runs to the last ")" followed by blanks and "=" */
    const char *eq = end;
    while (eq > p && eq[-1] != '=')
        eq--;
    if (eq == p || *p != '(')
        return -1;
    const char *close = eq - 1;
    while (close > p && (close[-1] == ' ' || close[-1] == '\t'))
        close--;
    if (close <= p + 1 || close[-1] != ')')
        return -1;
    size_t name_len = (size_t)(close - 1 - (p + 1));
    if (name_len == 0 || name_len >= sizeof(e->name))
        return -1;
    memcpy(e->name, p + 1, name_len);
    e->name[name_len] = 0;
    const char *hex = eq;
    trim_blanks(&hex, end);
    size_t hex_len = (size_t)(end - hex);
    if (hex_len != 2 * digest_bytes(e->digest))
        return -1;
    for (i = 0; i < hex_len; i++) {
        if (!isxdigit((unsigned char)hex[i]))
            return -1;
        e->hex[i] = (char)tolower((unsigned char)hex[i]);
    }
    e->hex[hex_len] = 0;
    return 0;
}

int manifest_parse(const char *text, size_t len, struct ovf_manifest *m, struct cimi_error *err)
{
    const char *p = text, *end = text + len;
    int line = 0;

    memset(m, 0, sizeof(*m));
    if (len > OVF_MAX_MANIFEST)
        return err_set(err, 400, "source", "the manifest is larger than %u bytes",
                       OVF_MAX_MANIFEST);
    while (p < end) {
        const char *nl = memchr(p, '\n', end - p);
        const char *stop = nl ? nl : end;
        line++;
        const char *q = p;
        trim_blanks(&q, stop);
        if (q < stop && !(stop - q == 1 && *q == '\r')) {
            struct manifest_entry e;
            if (m->count >= OVF_MAX_MEMBERS || parse_line(q, stop, &e) < 0) {
                manifest_free(m);
                return err_set(err, 400, "source", "manifest line %d is not 'SHA256(name)= hex'",
                               line);
            }
            if (manifest_find(m, e.name)) {
                manifest_free(m);
                return err_set(err, 400, "source", "the manifest lists '%s' twice", e.name);
            }
            struct manifest_entry *grown = realloc(m->entries, (m->count + 1) * sizeof(e));
            if (!grown) {
                manifest_free(m);
                return err_set(err, 500, NULL, "out of memory");
            }
            m->entries = grown;
            m->entries[m->count++] = e;
        }
        p = nl ? nl + 1 : end;
    }
    return 0;
}

const struct manifest_entry *manifest_find(const struct ovf_manifest *m, const char *name)
{
    for (size_t i = 0; i < m->count; i++)
        if (strcmp(m->entries[i].name, name) == 0)
            return &m->entries[i];
    return NULL;
}

void manifest_free(struct ovf_manifest *m)
{
    free(m->entries);
    m->entries = NULL;
    m->count = 0;
}

int manifest_line(char *buf, size_t len, enum ovf_digest digest, const char *name,
                  const char *hex)
{
    int n = snprintf(buf, len, "%s(%s)= %s\n", manifest_digest_name(digest), name, hex);
    return n < 0 || (size_t)n >= len ? -1 : n;
}

int manifest_verify(const struct ovf_manifest *m, const struct ova_index *idx,
                    const char *const *required, struct cimi_error *err)
{
    char hex[129];

    for (size_t i = 0; required && required[i]; i++)
        if (!manifest_find(m, required[i]))
            return err_set(err, 400, "source", "the manifest does not list '%s'", required[i]);
    for (size_t i = 0; i < m->count; i++) {
        const struct manifest_entry *e = &m->entries[i];
        const struct ova_member *mem = ova_find(idx, e->name);
        if (!mem)
            return err_set(err, 400, "source", "the manifest lists '%s', not in the package",
                           e->name);
        if (ovf_hash_member(mem, e->digest, hex, err) < 0)
            return -1;
        if (strcmp(hex, e->hex) != 0)
            return err_set(err, 400, "source",
                           "the %s digest of '%s' does not match the manifest",
                           manifest_digest_name(e->digest), e->name);
    }
    return 0;
}
