/*
 * spawn.h - running a helper program (qemu-img, xorriso) and waiting for it.
 */
#ifndef CIMID_SPAWN_H
#define CIMID_SPAWN_H

#include <stddef.h>

/* Run argv (argv[0] looked up in PATH) with stdin from /dev/null and stdout
 * discarded; wait for it.  0 when it exits 0; otherwise -1 with the end of
 * what it wrote on stderr (or why it could not run) in why. */
int spawn_wait(char *const argv[], char *why, size_t why_len);

/* The same, but what it writes on stdout and stderr goes to out (the first
 * out_len-1 bytes); 0 when it exits 0, else -1 and out says why. */
int spawn_output(char *const argv[], char *out, size_t out_len);

#endif
