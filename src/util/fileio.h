/*
 * fileio.h - reading a file descriptor in full, past short reads and
 * EINTR.
 */
#ifndef CIMID_FILEIO_H
#define CIMID_FILEIO_H

#include <stddef.h>
#include <stdint.h>

/* Read len bytes at offset off into buf (pread, retried after short reads
 * and EINTR).  0, or -1 on an error or when the file ends first. */
int read_full_at(int fd, void *buf, size_t len, uint64_t off);

#endif
