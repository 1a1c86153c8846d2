/*
 * destination.h - which network addresses downloads may connect to.
 *
 * A tenant names the URL of an image; cimid must not become its way into
 * the host's own services or the networks behind it (server-side request
 * forgery).  download.c asks destination_allowed() about every address it
 * is about to connect to (each resolved address, each redirect), not about
 * the URL's text, so host names, numeric forms (http://2130706433/) and
 * redirects all meet the same rule:
 *
 *   refused  loopback, link-local, private (RFC 1918, 100.64/10 CGNAT),
 *            unique-local, multicast, unspecified, reserved and
 *            documentation ranges, IPv6 forms carrying such an IPv4 address
 *            (mapped, compatible, NAT64, 6to4), and the host's own addresses
 *   allowed  everything else, and whatever the admin's allow list names
 *            (--download-allow: CIDR networks, or host names that allow
 *            their resolved addresses when the URL's host is that name)
 */
#ifndef CIMID_DESTINATION_H
#define CIMID_DESTINATION_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#define DESTINATION_MAX_ALLOWED 64

/* Parse a comma-separated allow list ("127.0.0.1/32,10.1.0.0/16,mirror.example";
 * an address without /N is the one address).  -1 with a message in msg when
 * an entry is neither a valid network nor a valid host name. */
int destination_check_allow_list(const char *list, char *msg, size_t len);

/* Install the allow list (once, at start-up, before any download). */
int destination_set_allow_list(const char *list, char *msg, size_t len);

/* Is the address one of the refused kinds above (allow list not applied)? */
bool destination_internal(const struct sockaddr *addr);

/* May a download for a URL whose host is url_host connect to addr? */
bool destination_allowed(const struct sockaddr *addr, const char *url_host);

#endif
