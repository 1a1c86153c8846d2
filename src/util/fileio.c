/*
 * fileio.c - reading a file descriptor in full (fileio.h): what the OVA
 * reader (ovf/ova_read.c, manifest.c) and the disk sniffing of an import
 * (driver/disk_import.c) both need.
 */
#include "util/fileio.h"

#include <errno.h>
#include <sys/types.h>
#include <unistd.h>

int read_full_at(int fd, void *buf, size_t len, uint64_t off)
{
    size_t done = 0;

    while (done < len) {
        ssize_t n = pread(fd, (char *)buf + done, len - done, (off_t)(off + done));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        done += (size_t)n;
    }
    return 0;
}
