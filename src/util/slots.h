/*
 * slots.h - a fixed-size table of small records found by a string key.
 *
 * Used for state kept per client (token buckets, failed-login counts): the
 * table never grows, whatever the number of distinct keys clients make up.
 * It is set-associative: a key hashes (with a per-process random seed) to a
 * set of SLOT_WAYS records; a new key takes a free record of its set, or
 * evicts the set's least recently used one.  Not thread-safe: callers lock.
 *
 * Every record starts with a struct slot; the rest is the caller's.
 */
#ifndef CIMID_SLOTS_H
#define CIMID_SLOTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SLOT_WAYS 8
#define SLOT_KEY_MAX 96

struct slot {
    char key[SLOT_KEY_MAX];   /* "" = free */
    double used_ms;           /* last slot_get/slot_find, for eviction */
};

struct slot_table {
    unsigned char *records;   /* nsets * SLOT_WAYS records of record_size bytes */
    size_t record_size;
    size_t nsets;
    uint64_t seed;
};

/* Room for at least capacity records of record_size bytes (>= sizeof(struct
 * slot)), all free.  0 on success. */
int slot_table_init(struct slot_table *t, size_t capacity, size_t record_size);
void slot_table_free(struct slot_table *t);

/* The record of key, or NULL when there is none. */
void *slot_find(struct slot_table *t, const char *key, double now_ms);

/* The record of key; a new one (zero-filled after its struct slot) when
 * there was none, and *created set to true. */
void *slot_get(struct slot_table *t, const char *key, double now_ms, bool *created);

#endif
