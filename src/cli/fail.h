/*
 * fail.h - exit codes of the cimi client and the error it carries up.
 *
 * Every failing function of the client fills a struct cli_error (an exit
 * code from the table below and one human-readable line) and returns -1;
 * main() prints the line and exits with the code.  The table is part of the
 * client's interface: cimi --help and the man page print it.
 */
#ifndef CIMI_CLI_FAIL_H
#define CIMI_CLI_FAIL_H

#include <stdio.h>

struct http_reply;

enum cli_exit {
    CLI_OK = 0,         /* success */
    CLI_USAGE = 1,      /* bad command line, ambiguous name, unreadable --file */
    CLI_CONFIG = 2,     /* configuration: no endpoint, bad profile file, not a CloudEntryPoint */
    CLI_CONNECT = 3,    /* connection, DNS, TLS or timeout talking to the server */
    CLI_AUTH = 4,       /* HTTP 401 or 403 */
    CLI_NOT_FOUND = 5,  /* HTTP 404, or no such collection or resource */
    CLI_CONFLICT = 6,   /* HTTP 409/412, or the operation is not offered now */
    CLI_CLIENT = 7,     /* any other HTTP 4xx */
    CLI_SERVER = 8,     /* HTTP 5xx, or a reply the client cannot use */
    CLI_JOB = 9,        /* the Job ended FAILED or STOPPED */
    CLI_TIMEOUT = 10,   /* --wait gave up before the Job ended */
};

struct cli_error {
    int code;            /* enum cli_exit */
    char message[1024];  /* one line, no trailing newline */
};

/* Fill err (if not NULL) and return -1, so callers can `return cli_fail(...)`. */
int cli_fail(struct cli_error *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* The exit code for an HTTP error status (>= 400). */
int cli_exit_for_status(long status);

/*
 * An error from an HTTP error reply: the status, the reason phrase and the
 * server's own message (statusMessage of the Job-shaped error document in
 * JSON or XML, or a short plain-text body), never raw bytes.  `what` says
 * what was asked ("GET http://...").  Returns -1.
 */
int cli_fail_reply(struct cli_error *err, const struct http_reply *reply, const char *what);

/* 0 for a 2xx reply; else -1 with err: cli_fail_reply for an error
 * status, "unexpected HTTP ..." for another. */
int cli_check_reply(struct cli_error *err, const struct http_reply *reply, const char *what);

/* Print the exit code table (for --help). */
void cli_print_exit_codes(FILE *out);

/* Copy s into out (size len) replacing control characters with '?' and
 * cutting it at len - 1 bytes; returns out. */
char *cli_printable(const char *s, size_t n, char *out, size_t len);

#endif
