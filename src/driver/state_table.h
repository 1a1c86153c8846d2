/*
 * state_table.h - a table of domain states keyed by UUID (see state_table.c).
 *
 * Internal to src/driver (states.c keeps one per connection); it knows
 * nothing of libvirt, so the unit tests drive it directly.
 */
#ifndef CIMID_DRIVER_STATE_TABLE_H
#define CIMID_DRIVER_STATE_TABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "driver/driver.h"

#define STATE_UUID_LEN 16   /* a UUID's raw bytes */

struct state_table;

struct state_table *state_table_new(void);
void state_table_free(struct state_table *t);

/* A new ticket, larger than every ticket given before.  Take it before
 * reading a state from the hypervisor and store what was read with it.
 * Thread-safe (the only function that is). */
uint64_t state_table_ticket(struct state_table *t);

/* Record that uuid was in state at the time of ticket.  Ignored when the
 * entry holds a later ticket, or when uuid is new and a removal with a later
 * ticket happened.  0, or -1 when out of memory (the table is unchanged). */
int state_table_put(struct state_table *t, const unsigned char *uuid, enum hv_state state,
                    uint64_t ticket);

/* Record that uuid's state is unknown since ticket: state_table_get misses
 * until a later put.  A new uuid gets an entry (so that listings know of it).
 * 0, or -1 when out of memory (the table is unchanged). */
int state_table_forget(struct state_table *t, const unsigned char *uuid, uint64_t ticket);

/* Record that uuid did not exist at the time of ticket. */
void state_table_remove(struct state_table *t, const unsigned char *uuid, uint64_t ticket);

/* Remove every entry older than ticket (after a full listing taken with it
 * put every domain it saw). */
void state_table_sweep(struct state_table *t, uint64_t ticket);

/* 1 with *state when uuid's state is known, 0 when it is unknown or absent. */
int state_table_get(const struct state_table *t, const unsigned char *uuid, enum hv_state *state);

/* state_table_get for n UUIDs at once (their slots fetched from memory
 * together): known[i] says whether states[i] was found. */
#define STATE_TABLE_BATCH 64
void state_table_get_many(const struct state_table *t, const unsigned char (*uuids)[STATE_UUID_LEN],
                          size_t n, enum hv_state *states, bool *known);

/* How many domains the table has (known states or not). */
size_t state_table_count(const struct state_table *t);

/* Walk the entries: start with *pos = 0; 1 with the next entry (known is
 * false when its state is unknown), 0 at the end.  The table must not
 * change during the walk. */
int state_table_next(const struct state_table *t, size_t *pos, unsigned char *uuid,
                     enum hv_state *state, bool *known);

/* "8-4-4-4-12" hexadecimal text <-> raw bytes; parse returns -1 on bad text. */
int state_uuid_parse(const char *text, unsigned char *uuid);
void state_uuid_format(const unsigned char *uuid, char *text);  /* text: 37 bytes */

#endif
