/*
 * test_destination.c - unit tests of src/util/destination.c: which
 * addresses image downloads may connect to (internal ranges in every IPv4
 * and IPv6 form refused, public ones allowed), the allow list's parsing,
 * and how its networks and host names let addresses through.
 */
#include <arpa/inet.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <string.h>

#include "check.h"
#include "util/destination.h"

/* addr as a socket address (IPv4 or IPv6 literal). */
static const struct sockaddr *sockaddr_of(const char *addr, struct sockaddr_storage *ss)
{
    memset(ss, 0, sizeof(*ss));
    if (inet_pton(AF_INET, addr, &((struct sockaddr_in *)ss)->sin_addr) == 1)
        ss->ss_family = AF_INET;
    else if (inet_pton(AF_INET6, addr, &((struct sockaddr_in6 *)ss)->sin6_addr) == 1)
        ss->ss_family = AF_INET6;
    return (const struct sockaddr *)ss;
}

static bool internal(const char *addr)
{
    struct sockaddr_storage ss;

    return destination_internal(sockaddr_of(addr, &ss));
}

static bool allowed(const char *addr, const char *host)
{
    struct sockaddr_storage ss;

    return destination_allowed(sockaddr_of(addr, &ss), host);
}

static void test_ranges(void)
{
    static const char *const refused[] = {
        "127.0.0.1", "127.0.0.2", "127.255.255.255", "0.0.0.0", "0.1.2.3", "10.0.0.1",
        "10.255.255.255", "172.16.0.1", "172.31.255.255", "192.168.1.1", "169.254.169.254",
        "100.64.0.1", "100.127.255.255", "224.0.0.1", "239.255.255.250", "255.255.255.255",
        "240.0.0.1", "192.0.0.8", "192.0.2.1", "198.18.0.1", "198.51.100.7", "203.0.113.9",
        "::", "::1", "fe80::1", "febf::1", "fc00::1", "fd12:3456::1", "ff02::1", "fec0::1",
        "::ffff:127.0.0.1", "::ffff:10.0.0.1", "::ffff:169.254.169.254", "::127.0.0.1",
        "::10.0.0.1", "64:ff9b::7f00:1", "64:ff9b::a00:1", "2002:7f00:1::1", "2002:c0a8:101::",
        "2001:db8::1", "100::1", NULL,
    };
    static const char *const public[] = {
        "1.1.1.1", "8.8.8.8", "93.184.216.34", "172.15.255.255", "172.32.0.1", "100.63.255.255",
        "100.128.0.1", "169.253.0.1", "192.169.0.1", "11.0.0.1", "2606:4700::1111",
        "2a00:1450:4001::200e", "::ffff:8.8.8.8", "64:ff9b::808:808", "2002:808:808::1", NULL,
    };

    for (size_t i = 0; refused[i]; i++)
        CHECK(internal(refused[i]), "ranges: %s is refused", refused[i]);
    for (size_t i = 0; public[i]; i++)
        CHECK(!internal(public[i]), "ranges: %s is not internal", public[i]);
}

static void test_parsing(void)
{
    static const char *const good[] = {
        "", "127.0.0.1/32", "10.0.0.0/8", "10.1.2.3/8", "0.0.0.0/0", "::1", "fd00::/8",
        "::/0", "192.168.1.1", "mirror.example", "Mirror-2.Example.", "localhost",
        " 127.0.0.1/32 , mirror.example ", "a,b,c", NULL,
    };
    static const char *const bad[] = {
        "10.0.0.0/33", "10.0.0.0/", "/8", "10.0.0.0/8x", "10.0.0.0/+8", "1.2.3.4/-1",
        "300.1.1.1", "1.2.3", "01.2.3.4", "fe80::/129", "fe80:::1", "mirror..example",
        "-mirror.example", "mirror-.example", "mirror_example", "http://mirror.example",
        "mirror.example/8", "a b", "1.2.3.4 /8", ".", NULL,
    };
    char msg[256];

    for (size_t i = 0; good[i]; i++)
        CHECK(destination_check_allow_list(good[i], msg, sizeof(msg)) == 0,
              "allow list: '%s' is accepted", good[i]);
    for (size_t i = 0; bad[i]; i++) {
        msg[0] = '\0';
        CHECK(destination_check_allow_list(bad[i], msg, sizeof(msg)) != 0 &&
                  strstr(msg, "download-allow") != NULL,
              "allow list: '%s' is refused (%s)", bad[i], msg);
    }
}

/* Every address of the host's own interfaces is refused, public or not. */
static void test_own_addresses(void)
{
    struct ifaddrs *list;
    char text[INET6_ADDRSTRLEN];
    int seen = 0;

    CHECK(getifaddrs(&list) == 0, "own: the interfaces are listed");
    for (struct ifaddrs *i = list; i != NULL; i = i->ifa_next) {
        const struct sockaddr *sa = i->ifa_addr;
        if (sa == NULL || (sa->sa_family != AF_INET && sa->sa_family != AF_INET6))
            continue;
        inet_ntop(sa->sa_family,
                  sa->sa_family == AF_INET ? (const void *)&((const struct sockaddr_in *)sa)->sin_addr
                                           : (const void *)&((const struct sockaddr_in6 *)sa)->sin6_addr,
                  text, sizeof(text));
        CHECK(!destination_allowed(sa, "some.example"), "own: %s (%s) is refused", text,
              i->ifa_name);
        seen++;
    }
    freeifaddrs(list);
    CHECK(seen > 0, "own: %d addresses checked", seen);
}

static void test_allow_list(void)
{
    char msg[256];

    CHECK(destination_set_allow_list("", msg, sizeof(msg)) == 0, "allow: empty list");
    CHECK(!allowed("127.0.0.1", "127.0.0.1"), "allow: loopback refused by default");
    CHECK(!allowed("127.0.0.1", "localhost"), "allow: by any name");
    CHECK(allowed("8.8.8.8", "dns.example"), "allow: a public address");
    CHECK(destination_set_allow_list("127.0.0.1/32,10.1.0.0/16,fd00::/8,mirror.example", msg,
                                     sizeof(msg)) == 0, "allow: a list");
    CHECK(allowed("127.0.0.1", "anything"), "allow: 127.0.0.1 in 127.0.0.1/32");
    CHECK(allowed("::ffff:127.0.0.1", "x"), "allow: the mapped form alike");
    CHECK(destination_set_allow_list("::ffff:10.9.0.0/112", msg, sizeof(msg)) == 0 &&
              allowed("10.9.1.2", "x") && allowed("::ffff:10.9.1.2", "x") &&
              !allowed("10.8.1.2", "x"),
          "allow: a mapped network is its IPv4 network");
    CHECK(destination_set_allow_list("127.0.0.1/32,10.1.0.0/16,fd00::/8,mirror.example", msg,
                                     sizeof(msg)) == 0, "allow: the list again");
    CHECK(!allowed("127.0.0.2", "x"), "allow: 127.0.0.2 not in 127.0.0.1/32");
    CHECK(allowed("10.1.255.1", "x") && !allowed("10.2.0.1", "x"), "allow: 10.1.0.0/16");
    CHECK(allowed("fd00::5", "x") && !allowed("fc00::5", "x"), "allow: fd00::/8");
    CHECK(allowed("192.168.7.7", "mirror.example"), "allow: the host name's addresses");
    CHECK(allowed("192.168.7.7", "MIRROR.example."), "allow: host names ignore case, final dot");
    CHECK(!allowed("192.168.7.7", "other.example"), "allow: not another host's");
    CHECK(!allowed("192.168.7.7", "sub.mirror.example"), "allow: not a sub-domain's");
    CHECK(!allowed("192.168.7.7", NULL), "allow: not without a host");
    CHECK(destination_set_allow_list("10.0.0.0/33", msg, sizeof(msg)) != 0 &&
              !allowed("127.0.0.1", "x"),
          "allow: a bad list installs nothing");
}

int main(void)
{
    test_ranges();
    test_parsing();
    test_own_addresses();
    test_allow_list();
    return check_summary();
}
