/*
 * destination.c - which network addresses downloads may connect to (see
 * destination.h): the ranges refused by default, the host's own addresses
 * (getifaddrs), and the admin's allow list.
 */
#include "util/destination.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define HOST_NAME_MAX_LEN 253
#define LABEL_MAX_LEN 63

/* An address as 4 (IPv4) or 16 (IPv6) bytes; an IPv4-mapped IPv6 address
 * (::ffff:a.b.c.d) is kept as the IPv4 address it is. */
struct address {
    int family;
    uint8_t bytes[16];
};

struct network {
    int family;
    uint8_t bytes[16];
    int prefix;
};

/* One entry of the allow list: a network, or a host name (host[0] != 0). */
struct allowed {
    struct network net;
    char host[HOST_NAME_MAX_LEN + 1];
};

static struct allowed allow_list[DESTINATION_MAX_ALLOWED];
static size_t allow_count;

static const char *const refused_v4[] = {
    "0.0.0.0/8",       /* "this network", unspecified */
    "10.0.0.0/8",      /* private */
    "100.64.0.0/10",   /* carrier-grade NAT */
    "127.0.0.0/8",     /* loopback */
    "169.254.0.0/16",  /* link-local (cloud metadata services) */
    "172.16.0.0/12",   /* private */
    "192.0.0.0/24",    /* IETF protocol assignments */
    "192.0.2.0/24",    /* documentation */
    "192.168.0.0/16",  /* private */
    "198.18.0.0/15",   /* benchmarking */
    "198.51.100.0/24", /* documentation */
    "203.0.113.0/24",  /* documentation */
    "224.0.0.0/4",     /* multicast */
    "240.0.0.0/4",     /* reserved, broadcast */
    NULL,
};

static const char *const refused_v6[] = {
    "::/96",           /* unspecified, loopback, IPv4-compatible (deprecated) */
    "100::/64",        /* discard */
    "2001:db8::/32",   /* documentation */
    "fc00::/7",        /* unique-local */
    "fe80::/10",       /* link-local */
    "fec0::/10",       /* site-local (deprecated) */
    "ff00::/8",        /* multicast */
    NULL,
};

static const uint8_t v4_mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

/* ::ffff:a.b.c.d/96+N is the IPv4 network a.b.c.d/N (addresses are compared
 * in that form too). */
static void unmap_network(struct network *net)
{
    if (net->family != AF_INET6 || net->prefix < 96 ||
        memcmp(net->bytes, v4_mapped, sizeof(v4_mapped)) != 0)
        return;
    net->family = AF_INET;
    net->prefix -= 96;
    memmove(net->bytes, net->bytes + 12, 4);
    memset(net->bytes + 4, 0, 12);
}

/* Parse "ADDR" or "ADDR/N" (strictly: no spaces, N within the family). */
static int parse_network(const char *text, struct network *net)
{
    char addr[INET6_ADDRSTRLEN + 1];
    const char *slash = strchr(text, '/');
    size_t n = slash ? (size_t)(slash - text) : strlen(text);
    int max;

    if (n == 0 || n >= sizeof(addr))
        return -1;
    memcpy(addr, text, n);
    addr[n] = '\0';
    memset(net, 0, sizeof(*net));
    if (inet_pton(AF_INET, addr, net->bytes) == 1)
        net->family = AF_INET;
    else if (inet_pton(AF_INET6, addr, net->bytes) == 1)
        net->family = AF_INET6;
    else
        return -1;
    max = net->family == AF_INET ? 32 : 128;
    net->prefix = max;
    if (slash != NULL) {
        char *end;
        long prefix;
        if (!isdigit((unsigned char)slash[1]))
            return -1;
        prefix = strtol(slash + 1, &end, 10);
        if (*end != '\0' || prefix < 0 || prefix > max)
            return -1;
        net->prefix = (int)prefix;
    }
    unmap_network(net);
    return 0;
}

static bool in_network(const struct address *a, const struct network *net)
{
    int full = net->prefix / 8, rest = net->prefix % 8;

    if (a->family != net->family || memcmp(a->bytes, net->bytes, (size_t)full) != 0)
        return false;
    return rest == 0 || ((a->bytes[full] ^ net->bytes[full]) & (0xff << (8 - rest)) & 0xff) == 0;
}

static bool in_any(const struct address *a, const char *const *networks)
{
    struct network net;

    for (size_t i = 0; networks[i] != NULL; i++)
        if (parse_network(networks[i], &net) == 0 && in_network(a, &net))
            return true;
    return false;
}

static bool to_address(const struct sockaddr *sa, struct address *a)
{
    memset(a, 0, sizeof(*a));
    if (sa == NULL)
        return false;
    if (sa->sa_family == AF_INET) {
        a->family = AF_INET;
        memcpy(a->bytes, &((const struct sockaddr_in *)sa)->sin_addr, 4);
        return true;
    }
    if (sa->sa_family != AF_INET6)
        return false;
    memcpy(a->bytes, &((const struct sockaddr_in6 *)sa)->sin6_addr, 16);
    a->family = AF_INET6;
    if (memcmp(a->bytes, v4_mapped, sizeof(v4_mapped)) == 0) {
        a->family = AF_INET;
        memmove(a->bytes, a->bytes + 12, 4);
        memset(a->bytes + 4, 0, 12);
    }
    return true;
}

/* The IPv4 address an IPv6 address carries to an IPv4 host: NAT64
 * (64:ff9b::/96) or 6to4 (2002::/16).  False if none. */
static bool embedded_v4(const struct address *a, struct address *v4)
{
    static const uint8_t nat64[12] = {0, 0x64, 0xff, 0x9b, 0, 0, 0, 0, 0, 0, 0, 0};

    memset(v4, 0, sizeof(*v4));
    v4->family = AF_INET;
    if (memcmp(a->bytes, nat64, sizeof(nat64)) == 0) {
        memcpy(v4->bytes, a->bytes + 12, 4);
        return true;
    }
    if (a->bytes[0] == 0x20 && a->bytes[1] == 0x02) {
        memcpy(v4->bytes, a->bytes + 2, 4);
        return true;
    }
    return false;
}

static bool same_address(const struct address *a, const struct address *b)
{
    return a->family == b->family &&
           memcmp(a->bytes, b->bytes, a->family == AF_INET ? 4 : 16) == 0;
}

/* One of the host's own addresses, on any interface (looked up each time:
 * interfaces come and go). */
static bool own_address(const struct address *a)
{
    struct ifaddrs *list, *i;
    struct address mine;
    bool found = false;

    if (getifaddrs(&list) != 0)
        return true;  /* cannot tell: refuse */
    for (i = list; i != NULL && !found; i = i->ifa_next)
        found = to_address(i->ifa_addr, &mine) && same_address(a, &mine);
    freeifaddrs(list);
    return found;
}

static bool internal_address(const struct address *a)
{
    struct address v4;

    if (a->family == AF_INET)
        return in_any(a, refused_v4);
    return in_any(a, refused_v6) || (embedded_v4(a, &v4) && in_any(&v4, refused_v4));
}

bool destination_internal(const struct sockaddr *addr)
{
    struct address a;

    return !to_address(addr, &a) || internal_address(&a);
}

/* A host name: dot-separated labels of letters, digits and '-' (not at a
 * label's ends), one trailing dot allowed, not all digits and dots. */
static bool valid_host_name(const char *name)
{
    size_t len = strlen(name), label = 0;
    bool letter = false;

    if (len > 0 && name[len - 1] == '.')
        len--;
    if (len == 0 || len > HOST_NAME_MAX_LEN)
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = name[i];
        if (c == '.') {
            if (label == 0 || name[i - 1] == '-')
                return false;
            label = 0;
            continue;
        }
        if (!isalnum((unsigned char)c) && c != '-')
            return false;
        if ((c == '-' && label == 0) || ++label > LABEL_MAX_LEN)
            return false;
        letter = letter || isalpha((unsigned char)c) || c == '-';
    }
    return label > 0 && name[len - 1] != '-' && letter;
}

/* Parse one entry of the list; entries with '/', ':' or only digits and
 * dots are networks, the rest host names. */
static int parse_entry(const char *text, struct allowed *out, char *msg, size_t len)
{
    memset(out, 0, sizeof(*out));
    if (strpbrk(text, "/:") != NULL || strspn(text, "0123456789.") == strlen(text)) {
        if (parse_network(text, &out->net) == 0)
            return 0;
        snprintf(msg, len, "download-allow: '%s' is not a network (ADDRESS or ADDRESS/PREFIX, "
                 "e.g. 10.1.0.0/16 or fd00::/8)", text);
        return -1;
    }
    if (!valid_host_name(text)) {
        snprintf(msg, len, "download-allow: '%s' is neither a network (ADDRESS/PREFIX) nor a "
                 "host name", text);
        return -1;
    }
    snprintf(out->host, sizeof(out->host), "%s", text);
    if (out->host[strlen(out->host) - 1] == '.')
        out->host[strlen(out->host) - 1] = '\0';
    return 0;
}

/* Parse list into entries (at most DESTINATION_MAX_ALLOWED); their count. */
static int parse_list(const char *list, struct allowed *entries, char *msg, size_t len)
{
    char *copy = strdup(list ? list : ""), *save = NULL;
    int count = 0;

    if (copy == NULL) {
        snprintf(msg, len, "download-allow: out of memory");
        return -1;
    }
    for (char *item = strtok_r(copy, ",", &save); item != NULL; item = strtok_r(NULL, ",", &save)) {
        while (isspace((unsigned char)*item))
            item++;
        for (size_t n = strlen(item); n > 0 && isspace((unsigned char)item[n - 1]); n--)
            item[n - 1] = '\0';
        if (*item == '\0')
            continue;
        if (count == DESTINATION_MAX_ALLOWED) {
            snprintf(msg, len, "download-allow: more than %d entries", DESTINATION_MAX_ALLOWED);
            count = -1;
            break;
        }
        if (parse_entry(item, &entries[count], msg, len) != 0) {
            count = -1;
            break;
        }
        count++;
    }
    free(copy);
    return count;
}

int destination_check_allow_list(const char *list, char *msg, size_t len)
{
    struct allowed entries[DESTINATION_MAX_ALLOWED];

    return parse_list(list, entries, msg, len) < 0 ? -1 : 0;
}

int destination_set_allow_list(const char *list, char *msg, size_t len)
{
    int count = parse_list(list, allow_list, msg, len);

    if (count < 0) {
        allow_count = 0;
        return -1;
    }
    allow_count = (size_t)count;
    return 0;
}

static bool same_host(const char *allowed, const char *url_host)
{
    size_t n = strlen(url_host);

    if (n > 0 && url_host[n - 1] == '.')
        n--;
    return strlen(allowed) == n && strncasecmp(allowed, url_host, n) == 0;
}

bool destination_allowed(const struct sockaddr *addr, const char *url_host)
{
    struct address a;

    if (!to_address(addr, &a))
        return false;
    for (size_t i = 0; i < allow_count; i++) {
        const struct allowed *e = &allow_list[i];
        if (e->host[0] ? url_host != NULL && same_host(e->host, url_host)
                       : in_network(&a, &e->net))
            return true;
    }
    return !internal_address(&a) && !own_address(&a);
}
