/*
 * slots.c - the fixed-size keyed record table (see slots.h).
 */
#include "util/slots.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/clock.h"

int slot_table_init(struct slot_table *t, size_t capacity, size_t record_size)
{
    memset(t, 0, sizeof(*t));
    if (record_size < sizeof(struct slot) || capacity == 0)
        return -1;
    t->nsets = (capacity + SLOT_WAYS - 1) / SLOT_WAYS;
    t->record_size = record_size;
    t->records = calloc(t->nsets * SLOT_WAYS, record_size);
    if (t->records == NULL || random_bytes(&t->seed, sizeof(t->seed)) != 0) {
        free(t->records);
        t->records = NULL;
        return -1;
    }
    return 0;
}

void slot_table_free(struct slot_table *t)
{
    free(t->records);
    t->records = NULL;
}

/* FNV-1a, started from the random seed so that clients cannot choose keys
 * that all fall into one set. */
static uint64_t key_hash(const struct slot_table *t, const char *key)
{
    uint64_t h = 14695981039346656037ULL ^ t->seed;

    for (const unsigned char *p = (const unsigned char *)key; *p; p++) {
        h ^= *p;
        h *= 1099511628211ULL;
    }
    return h;
}

static struct slot *record_at(const struct slot_table *t, size_t set, size_t way)
{
    return (struct slot *)(t->records + (set * SLOT_WAYS + way) * t->record_size);
}

void *slot_find(struct slot_table *t, const char *key, double now_ms)
{
    size_t set = (size_t)(key_hash(t, key) % t->nsets);

    for (size_t way = 0; way < SLOT_WAYS; way++) {
        struct slot *s = record_at(t, set, way);
        if (s->key[0] != '\0' && strncmp(s->key, key, SLOT_KEY_MAX - 1) == 0) {
            s->used_ms = now_ms;
            return s;
        }
    }
    return NULL;
}

void *slot_get(struct slot_table *t, const char *key, double now_ms, bool *created)
{
    size_t set = (size_t)(key_hash(t, key) % t->nsets);
    struct slot *victim = NULL;
    struct slot *s = slot_find(t, key, now_ms);

    *created = false;
    if (s != NULL)
        return s;
    for (size_t way = 0; way < SLOT_WAYS; way++) {
        s = record_at(t, set, way);
        if (s->key[0] == '\0') {
            victim = s;
            break;
        }
        if (victim == NULL || s->used_ms < victim->used_ms)
            victim = s;
    }
    memset(victim, 0, t->record_size);
    snprintf(victim->key, sizeof(victim->key), "%s", key);
    victim->used_ms = now_ms;
    *created = true;
    return victim;
}
