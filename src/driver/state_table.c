/*
 * state_table.c - a table of domain states keyed by UUID.
 *
 * An open-addressing hash table: the 16 bytes of a domain's UUID map to its
 * enum hv_state.  Linear probing in a power-of-two array kept at most half
 * full (doubled when needed); a removal shifts the entries after it back,
 * so there are no tombstones.  100,000 domains take 8 MB at most.
 *
 * Several threads write it (states.c: the libvirt event loop thread, job
 * workers, HTTP threads), each with what it read from the hypervisor, and a
 * slow reader must not overwrite what a later one stored.  So every write
 * carries a ticket, taken (state_table_ticket) *before* asking libvirt: a
 * larger ticket is a read that began later.  A write older than the entry
 * it would change is ignored.  A removal remembers its ticket as well
 * (removed_before): a read that began before some removal may not add a
 * domain the table does not have, since it may be the one just removed.
 * That is conservative: a refused entry is only asked again next time.
 *
 * Not thread-safe by itself (but for state_table_ticket): states.c holds
 * its lock around every other call.
 */
#include "driver/state_table.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#define INITIAL_CAPACITY 64   /* a power of two */

struct slot {
    unsigned char uuid[STATE_UUID_LEN];
    uint64_t ticket;          /* of the read that wrote this entry */
    unsigned char state;      /* enum hv_state, when known */
    bool used;
    bool known;               /* false: the state must be asked again */
};

struct state_table {
    struct slot *slots;
    size_t capacity;          /* a power of two */
    size_t count;             /* used slots */
    uint64_t removed_before;  /* the latest removal's ticket */
    atomic_uint_fast64_t last_ticket;
};

struct state_table *state_table_new(void)
{
    struct state_table *t = calloc(1, sizeof(*t));

    if (t == NULL)
        return NULL;
    t->slots = calloc(INITIAL_CAPACITY, sizeof(*t->slots));
    if (t->slots == NULL) {
        free(t);
        return NULL;
    }
    t->capacity = INITIAL_CAPACITY;
    atomic_init(&t->last_ticket, 0);
    return t;
}

void state_table_free(struct state_table *t)
{
    if (t == NULL)
        return;
    free(t->slots);
    free(t);
}

uint64_t state_table_ticket(struct state_table *t)
{
    return atomic_fetch_add(&t->last_ticket, 1) + 1;
}

/* The slot where uuid's search starts (UUIDs may be sequential: mix them). */
static size_t home_of(const struct state_table *t, const unsigned char *uuid)
{
    uint64_t a, b, h;

    memcpy(&a, uuid, 8);
    memcpy(&b, uuid + 8, 8);
    h = a ^ (b * 0x9e3779b97f4a7c15ULL);
    h ^= h >> 31;
    h *= 0xbf58476d1ce4e5b9ULL;
    h ^= h >> 29;
    return (size_t)h & (t->capacity - 1);
}

/* Are two UUIDs the same?  (Two 8-byte comparisons: a listing of 100,000
 * machines makes one or more per machine.) */
static bool same_uuid(const unsigned char *a, const unsigned char *b)
{
    uint64_t a0, a1, b0, b1;

    memcpy(&a0, a, 8);
    memcpy(&a1, a + 8, 8);
    memcpy(&b0, b, 8);
    memcpy(&b1, b + 8, 8);
    return a0 == b0 && a1 == b1;
}

/* The slot holding uuid, or the free slot where it would go; the search
 * starts at uuid's home slot i. */
static size_t find_from(const struct state_table *t, const unsigned char *uuid, size_t i)
{
    while (t->slots[i].used && !same_uuid(t->slots[i].uuid, uuid))
        i = (i + 1) & (t->capacity - 1);
    return i;
}

static size_t find(const struct state_table *t, const unsigned char *uuid)
{
    return find_from(t, uuid, home_of(t, uuid));
}

/* Make room for one more entry: 0, or -1 when out of memory. */
static int reserve_one(struct state_table *t)
{
    struct state_table bigger = *t;
    size_t i, j;

    if ((t->count + 1) * 2 <= t->capacity)
        return 0;
    bigger.capacity = t->capacity * 2;
    bigger.slots = calloc(bigger.capacity, sizeof(*bigger.slots));
    if (bigger.slots == NULL)
        return -1;
    for (i = 0; i < t->capacity; i++) {
        if (!t->slots[i].used)
            continue;
        j = find(&bigger, t->slots[i].uuid);
        bigger.slots[j] = t->slots[i];
    }
    free(t->slots);
    t->slots = bigger.slots;
    t->capacity = bigger.capacity;
    return 0;
}

/* Add uuid (not in the table) with ticket: its slot, or NULL when the add
 * is refused (older than a removal) or out of memory (*failed set). */
static struct slot *add(struct state_table *t, const unsigned char *uuid, uint64_t ticket,
                        bool *failed)
{
    struct slot *s;

    *failed = false;
    if (ticket < t->removed_before)
        return NULL;
    if (reserve_one(t) < 0) {
        *failed = true;
        return NULL;
    }
    s = &t->slots[find(t, uuid)];
    memcpy(s->uuid, uuid, STATE_UUID_LEN);
    s->used = true;
    t->count++;
    return s;
}

int state_table_put(struct state_table *t, const unsigned char *uuid, enum hv_state state,
                    uint64_t ticket)
{
    struct slot *s = &t->slots[find(t, uuid)];
    bool failed;

    if (s->used && ticket <= s->ticket)
        return 0;
    if (!s->used && (s = add(t, uuid, ticket, &failed)) == NULL)
        return failed ? -1 : 0;
    s->ticket = ticket;
    s->state = (unsigned char)state;
    s->known = true;
    return 0;
}

int state_table_forget(struct state_table *t, const unsigned char *uuid, uint64_t ticket)
{
    struct slot *s = &t->slots[find(t, uuid)];
    bool failed;

    if (s->used && ticket <= s->ticket)
        return 0;
    if (!s->used && (s = add(t, uuid, ticket, &failed)) == NULL)
        return failed ? -1 : 0;
    s->ticket = ticket;
    s->known = false;
    return 0;
}

/* Empty slot i, moving back the entries after it that would no longer be
 * found (their search starts at or before i). */
static void empty_slot(struct state_table *t, size_t i)
{
    size_t mask = t->capacity - 1, j = i, home;

    for (;;) {
        j = (j + 1) & mask;
        if (!t->slots[j].used)
            break;
        home = home_of(t, t->slots[j].uuid);
        /* The entry at j stays when its home lies in (i, j], cyclically. */
        if (i <= j ? (i < home && home <= j) : (i < home || home <= j))
            continue;
        t->slots[i] = t->slots[j];
        i = j;
    }
    memset(&t->slots[i], 0, sizeof(t->slots[i]));
    t->count--;
}

void state_table_remove(struct state_table *t, const unsigned char *uuid, uint64_t ticket)
{
    size_t i = find(t, uuid);

    if (ticket > t->removed_before)
        t->removed_before = ticket;
    if (t->slots[i].used && ticket > t->slots[i].ticket)
        empty_slot(t, i);
}

void state_table_sweep(struct state_table *t, uint64_t ticket)
{
    struct slot *kept = calloc(t->capacity, sizeof(*kept));
    struct slot *old = t->slots;
    size_t i;

    if (ticket > t->removed_before)
        t->removed_before = ticket;
    if (kept == NULL) {
        /* No memory to rebuild: make the old entries unknown instead, so
         * each is asked again (and removed when it is gone). */
        for (i = 0; i < t->capacity; i++)
            if (old[i].used && old[i].ticket < ticket)
                old[i].known = false;
        return;
    }
    t->slots = kept;
    t->count = 0;
    for (i = 0; i < t->capacity; i++) {
        if (!old[i].used || old[i].ticket < ticket)
            continue;
        kept[find(t, old[i].uuid)] = old[i];
        t->count++;
    }
    free(old);
}

int state_table_get(const struct state_table *t, const unsigned char *uuid, enum hv_state *state)
{
    const struct slot *s = &t->slots[find(t, uuid)];

    if (!s->used || !s->known)
        return 0;
    *state = (enum hv_state)s->state;
    return 1;
}

void state_table_get_many(const struct state_table *t, const unsigned char (*uuids)[STATE_UUID_LEN],
                          size_t n, enum hv_state *states, bool *known)
{
    size_t home[STATE_TABLE_BATCH];

    for (size_t start = 0; start < n; start += STATE_TABLE_BATCH) {
        size_t m = n - start < STATE_TABLE_BATCH ? n - start : STATE_TABLE_BATCH;
        /* The slots are spread over megabytes: ask for all of them before
         * looking at the first, so that their cache misses overlap. */
        for (size_t i = 0; i < m; i++) {
            home[i] = home_of(t, uuids[start + i]);
            __builtin_prefetch(&t->slots[home[i]]);
        }
        for (size_t i = 0; i < m; i++) {
            const struct slot *s = &t->slots[find_from(t, uuids[start + i], home[i])];
            known[start + i] = s->used && s->known;
            if (known[start + i])
                states[start + i] = (enum hv_state)s->state;
        }
    }
}

size_t state_table_count(const struct state_table *t)
{
    return t->count;
}

int state_table_next(const struct state_table *t, size_t *pos, unsigned char *uuid,
                     enum hv_state *state, bool *known)
{
    for (; *pos < t->capacity; (*pos)++) {
        const struct slot *s = &t->slots[*pos];
        if (!s->used)
            continue;
        memcpy(uuid, s->uuid, STATE_UUID_LEN);
        *state = (enum hv_state)s->state;
        *known = s->known;
        (*pos)++;
        return 1;
    }
    return 0;
}

static int hex_value(char c)
{
    /* A collection read parses one UUID per machine: a table, not branches.
     * It holds each digit's value + 1 (0 = not a hex digit). */
    static const unsigned char value_plus_one[256] = {
        ['0'] = 1, ['1'] = 2, ['2'] = 3, ['3'] = 4, ['4'] = 5, ['5'] = 6, ['6'] = 7,
        ['7'] = 8, ['8'] = 9, ['9'] = 10, ['a'] = 11, ['b'] = 12, ['c'] = 13, ['d'] = 14,
        ['e'] = 15, ['f'] = 16, ['A'] = 11, ['B'] = 12, ['C'] = 13, ['D'] = 14, ['E'] = 15,
        ['F'] = 16,
    };

    return value_plus_one[(unsigned char)c] - 1;
}

int state_uuid_parse(const char *text, unsigned char *uuid)
{
    const char *p = text;

    if (text == NULL)
        return -1;
    /* One pass, left to right: a NUL is neither a hex digit nor a dash, so
     * a short text stops the parse where it ends. */
    for (int i = 0; i < STATE_UUID_LEN; i++) {
        int hi, lo;
        if ((i == 4 || i == 6 || i == 8 || i == 10) && *p++ != '-')
            return -1;
        if ((hi = hex_value(p[0])) < 0 || (lo = hex_value(p[1])) < 0)
            return -1;
        uuid[i] = (unsigned char)((unsigned)hi << 4 | (unsigned)lo);
        p += 2;
    }
    return *p == '\0' ? 0 : -1;
}

void state_uuid_format(const unsigned char *uuid, char *text)
{
    static const char hex[] = "0123456789abcdef";
    size_t n = 0;

    for (int i = 0; i < STATE_UUID_LEN; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            text[n++] = '-';
        text[n++] = hex[uuid[i] >> 4];
        text[n++] = hex[uuid[i] & 0xf];
    }
    text[n] = '\0';
}
