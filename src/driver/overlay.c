/*
 * overlay.c - the copy-on-write disks made on an image (a machine's disk 0,
 * a volume made from an image).
 *
 * `qemu-img create -f qcow2 -F FORMAT -b IMAGE PATH SIZE` writes a small file
 * (about 200 KB for 10 GiB) whose bytes depend only on the image's path, its
 * format and the size: not on the new file's name nor on what the image
 * holds.  Starting qemu-img costs milliseconds (a dozen libraries, threads,
 * five fdatasyncs), more than everything else a machine create does.  So
 * qemu-img makes the first overlay of an image and size; its bytes are kept
 * in memory and the next overlays of the same image and size are written
 * from them (then fdatasync'ed, as qemu-img does).
 *
 * qemu-img also opens the image while it creates, which refuses a broken
 * one.  A kept overlay is therefore only used while the image file is the
 * one qemu-img checked: same device, inode, size, modification and change
 * times.  Anything else (the image replaced, rewritten, touched) runs
 * qemu-img again.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "driver/local.h"
#include "util/spawn.h"

/* Overlays kept (distinct image, format and size triples); the oldest goes. */
#define MAX_KEPT 8
/* Larger overlays (huge virtual sizes) are not kept. */
#define MAX_KEPT_BYTES (8 * 1024 * 1024)

struct kept_overlay {
    char image[1024];
    char format[8];
    long long size_kb;
    struct stat seen;           /* the image when qemu-img made the overlay */
    unsigned char *bytes;       /* NULL: slot unused */
    size_t len;
};

static pthread_mutex_t kept_lock = PTHREAD_MUTEX_INITIALIZER;
static struct kept_overlay kept[MAX_KEPT];
static size_t next_slot;

static bool same_file(const struct stat *a, const struct stat *b)
{
    return a->st_dev == b->st_dev && a->st_ino == b->st_ino && a->st_size == b->st_size &&
           a->st_mtim.tv_sec == b->st_mtim.tv_sec && a->st_mtim.tv_nsec == b->st_mtim.tv_nsec &&
           a->st_ctim.tv_sec == b->st_ctim.tv_sec && a->st_ctim.tv_nsec == b->st_ctim.tv_nsec;
}

/* A copy of the kept overlay for this image (as it is now), or NULL. */
static unsigned char *find_kept(const char *image, const char *format, long long size_kb,
                                const struct stat *now, size_t *len)
{
    unsigned char *copy = NULL;

    pthread_mutex_lock(&kept_lock);
    for (size_t i = 0; i < MAX_KEPT; i++) {
        struct kept_overlay *k = &kept[i];
        if (k->bytes == NULL || k->size_kb != size_kb || strcmp(k->image, image) != 0 ||
            strcmp(k->format, format) != 0 || !same_file(&k->seen, now))
            continue;
        copy = malloc(k->len);
        if (copy != NULL) {
            memcpy(copy, k->bytes, k->len);
            *len = k->len;
        }
        break;
    }
    pthread_mutex_unlock(&kept_lock);
    return copy;
}

/* Keep bytes (taken over) as the overlay of image; replaces the same key or
 * the oldest slot. */
static void keep(const char *image, const char *format, long long size_kb,
                 const struct stat *seen, unsigned char *bytes, size_t len)
{
    struct kept_overlay *slot = NULL;

    if (strlen(image) >= sizeof(slot->image) || strlen(format) >= sizeof(slot->format)) {
        free(bytes);
        return;
    }
    pthread_mutex_lock(&kept_lock);
    for (size_t i = 0; i < MAX_KEPT && slot == NULL; i++)
        if (kept[i].bytes != NULL && kept[i].size_kb == size_kb &&
            strcmp(kept[i].image, image) == 0 && strcmp(kept[i].format, format) == 0)
            slot = &kept[i];
    if (slot == NULL) {
        slot = &kept[next_slot];
        next_slot = (next_slot + 1) % MAX_KEPT;
    }
    free(slot->bytes);
    snprintf(slot->image, sizeof(slot->image), "%s", image);
    snprintf(slot->format, sizeof(slot->format), "%s", format);
    slot->size_kb = size_kb;
    slot->seen = *seen;
    slot->bytes = bytes;
    slot->len = len;
    pthread_mutex_unlock(&kept_lock);
}

/* The whole file at path (at most MAX_KEPT_BYTES), or NULL. */
static unsigned char *read_whole(const char *path, size_t *len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    unsigned char *bytes = NULL;
    size_t done = 0;

    if (fd < 0)
        return NULL;
    if (fstat(fd, &st) != 0 || st.st_size <= 0 || st.st_size > MAX_KEPT_BYTES)
        goto done;
    bytes = malloc((size_t)st.st_size);
    while (bytes != NULL && done < (size_t)st.st_size) {
        ssize_t n = read(fd, bytes + done, (size_t)st.st_size - done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            free(bytes);
            bytes = NULL;
            break;
        }
        done += (size_t)n;
    }
    *len = done;
done:
    close(fd);
    return bytes;
}

/* Write bytes as the file at path, durably (fdatasync, as qemu-img does). */
static int write_whole(const char *path, const unsigned char *bytes, size_t len,
                       struct cimi_error *err)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    size_t done = 0;

    if (fd < 0)
        return err_set(err, 500, NULL, "cannot create %s: %s", path, strerror(errno));
    while (done < len) {
        ssize_t n = write(fd, bytes + done, len - done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        done += (size_t)n;
    }
    if (done < len || fdatasync(fd) != 0) {
        err_set(err, 500, NULL, "cannot write %s: %s", path, strerror(errno));
        close(fd);
        unlink(path);
        return -1;
    }
    if (close(fd) != 0) {
        unlink(path);
        return err_set(err, 500, NULL, "cannot write %s: %s", path, strerror(errno));
    }
    return 0;
}

int overlay_create(const char *path, const char *image, const char *format, long long size_kb,
                   struct cimi_error *err)
{
    char size[32], why[400];
    char *argv[] = {"qemu-img", "create", "-q", "-f", "qcow2", "-F", (char *)format, "-b",
                    (char *)image, (char *)path, size, NULL};
    struct stat before, after;
    unsigned char *bytes;
    size_t len = 0;
    int rc;

    if (stat(image, &before) != 0)
        return err_set(err, 400, "imageLocation", "cannot open image %s: %s", image,
                       strerror(errno));
    bytes = find_kept(image, format, size_kb, &before, &len);
    if (bytes != NULL) {
        rc = write_whole(path, bytes, len, err);
        free(bytes);
        return rc;
    }
    snprintf(size, sizeof(size), "%lldK", size_kb);
    if (spawn_wait(argv, why, sizeof(why)) != 0)
        return err_set(err, 500, NULL, "creating a disk on the image failed: %s", why);
    /* Kept only if the image did not change while qemu-img looked at it. */
    if (stat(image, &after) == 0 && same_file(&before, &after)) {
        bytes = read_whole(path, &len);
        if (bytes != NULL)
            keep(image, format, size_kb, &before, bytes, len);
    }
    return 0;
}
