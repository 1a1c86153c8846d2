/*
 * placement.h - the scheduler's decision, apart from the pool's locking and
 * connections so it can be tested alone (tests/unit/test_placement.c).
 */
#ifndef CIMID_PLACEMENT_H
#define CIMID_PLACEMENT_H

#include <stdbool.h>
#include <stddef.h>

#include "hosts/hosts.h"

/* One host as the scheduler sees it. */
struct placement_candidate {
    const char *id;
    const char *unusable;     /* why no machine may go there now, or NULL */
    int cpus;
    long long memory_kib;
    int used_vcpus;
    long long used_memory_kib;
    int memory_overcommit;    /* percent */
    int cpu_overcommit;       /* percent */
    int free_dedicated;       /* physical CPUs no dedicated machine owns */
};

/* The index of the host chosen for rq under policy, or -1 with err 409
 * saying, for each host, why the machine does not fit there. */
int placement_choose(const struct placement_candidate *c, size_t n,
                     const struct placement_request *rq, enum placement_policy policy,
                     struct cimi_error *err);

/* The memory a host may still give (its overcommitted limit minus what is
 * booked); dedicated machines only count physical memory. */
long long placement_memory_left(const struct placement_candidate *c, bool dedicated);

#endif
