/*
 * placement.c - which host a new machine goes to.
 *
 * A machine fits a host when the host is usable (reachable, enabled), its
 * memory fits under the host's limit (physical memory times the memory
 * overcommit; physical memory alone for a dedicated machine, whose memory
 * is locked), its vCPUs fit under the CPU overcommit, and, when dedicated,
 * enough physical CPUs are owned by no other dedicated machine.  Of the
 * hosts it fits, "spread" takes the one with the most memory left after
 * placing it, "pack" the one with the least; ties go to the host added
 * first.
 */
#include "hosts/placement.h"

#include <limits.h>
#include <stdio.h>
#include <string.h>

long long placement_memory_left(const struct placement_candidate *c, bool dedicated)
{
    long long limit = c->memory_kib;

    /* Physical memory times the overcommit percentage (up to 10^7): saturated
     * for a host too large for that product, never wrapped. */
    if (!dedicated) {
        if (__builtin_mul_overflow(c->memory_kib, (long long)c->memory_overcommit, &limit))
            limit = LLONG_MAX;
        else
            limit /= 100;
    }
    return limit - c->used_memory_kib;
}

static long long cpu_left(const struct placement_candidate *c)
{
    return (long long)c->cpus * c->cpu_overcommit / 100 - c->used_vcpus;
}

/* NULL when rq fits c, else why not (into why). */
static const char *misfit(const struct placement_candidate *c, const struct placement_request *rq,
                          char *why, size_t len)
{
    long long memory = placement_memory_left(c, rq->dedicated);

    if (c->unusable != NULL)
        snprintf(why, len, "%s", c->unusable);
    else if (rq->dedicated && c->free_dedicated < rq->vcpus)
        snprintf(why, len, "%d physical CPUs free for dedicated use, %d needed", c->free_dedicated,
                 rq->vcpus);
    else if (memory < rq->memory_kib)
        snprintf(why, len, "%lld KiB %smemory left, %lld KiB needed", memory < 0 ? 0 : memory,
                 rq->dedicated ? "lockable " : "", rq->memory_kib);
    else if (cpu_left(c) < rq->vcpus)
        snprintf(why, len, "%lld vCPUs left, %d needed", cpu_left(c) < 0 ? 0 : cpu_left(c),
                 rq->vcpus);
    else
        return NULL;
    return why;
}

int placement_choose(const struct placement_candidate *c, size_t n,
                     const struct placement_request *rq, enum placement_policy policy,
                     struct cimi_error *err)
{
    char reasons[900] = "", why[200];
    size_t used = 0;
    int best = -1;
    long long best_left = 0;

    for (size_t i = 0; i < n; i++) {
        long long left;
        if (misfit(&c[i], rq, why, sizeof(why)) != NULL) {
            if (used < sizeof(reasons))
                used += (size_t)snprintf(reasons + used, sizeof(reasons) - used, "%s%s: %s",
                                         used ? "; " : "", c[i].id, why);
            continue;
        }
        left = placement_memory_left(&c[i], rq->dedicated) - rq->memory_kib;
        if (best < 0 || (policy == PLACE_SPREAD ? left > best_left : left < best_left)) {
            best = (int)i;
            best_left = left;
        }
    }
    if (best >= 0)
        return best;
    if (n == 0)
        snprintf(reasons, sizeof(reasons), "there are no hosts");
    err_set(err, 409, NULL, "no host can take a machine of %d %svCPUs and %lld KiB: %s",
            rq->vcpus, rq->dedicated ? "dedicated " : "", rq->memory_kib, reasons);
    return -1;
}
