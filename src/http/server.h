/*
 * server.h - the HTTP(S) front end (libmicrohttpd).
 */
#ifndef CIMID_SERVER_H
#define CIMID_SERVER_H

#include "config.h"

struct http_server;

/* Start listening; NULL (after logging why) on failure. */
struct http_server *http_server_start(const struct config *cfg);
/* Stop accepting, finish requests in progress, free everything. */
void http_server_stop(struct http_server *srv);

#endif
