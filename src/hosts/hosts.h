/*
 * hosts.h - the pool of hosts cimid manages, and where machines go.
 *
 * A host is one hypervisor connection (a libvirt URI: qemu:///embed?root=,
 * qemu:///system, qemu+ssh://h/system, test:///default, ...).  Resources
 * never keep a connection: they borrow their machine's host with
 * hosts_use() for the length of a call and give it back with hosts_done().
 * A monitor thread checks every host; one that stops answering turns ERROR
 * (its machines show ERROR with the reason) and is reconnected when it
 * answers again.
 *
 * The pool also keeps each host's books: the vCPUs and memory of the
 * machines placed on it and which physical CPUs dedicated machines own.
 * hosts_place() chooses a host for a new machine (placement.c decides).
 */
#ifndef CIMID_HOSTS_H
#define CIMID_HOSTS_H

#include <stdbool.h>
#include <stddef.h>

#include "driver/driver.h"
#include "util/error.h"

#define HOST_ID_MAX 128
#define HOST_URI_MAX 512

/* The overcommit ratios an admin may set, in percent (10 = a tenth of the
 * host; the top is for simulated hosts such as test:///default, whose 16
 * CPUs and 3 GiB carry B3's 100,000 machines). */
#define OVERCOMMIT_MIN_PCT 10
#define OVERCOMMIT_MAX_PCT 10000000

/* What an admin says about a host. */
struct host_settings {
    char uri[HOST_URI_MAX];
    char accel[8];            /* QEMU: "auto", "kvm" or "tcg" */
    bool enabled;             /* new machines may be placed here */
    int memory_overcommit;    /* percent of physical memory machines may be given (100 = none) */
    int cpu_overcommit;       /* percent of physical CPUs vCPUs may add up to */
};

/* What the pool knows about a host now. */
struct host_status {
    struct host_settings settings;
    bool reachable;
    char reason[256];         /* why it is not, or "" */
    int cpus;                 /* physical */
    long long memory_kib;     /* physical */
    int used_vcpus;
    long long used_memory_kib;
    int machines;
    int dedicated_cpus;       /* physical CPUs owned by dedicated machines */
};

/* A borrowed host: call use.drv->start(use.hv, ...), then hosts_done(). */
struct host_use {
    struct host *host;
    const struct driver *drv;
    struct hv *hv;
};

/* What a machine asks of a host. */
struct placement_request {
    int vcpus;
    long long memory_kib;
    bool dedicated;           /* own physical CPUs, locked memory */
};

enum placement_policy {
    PLACE_SPREAD,             /* the host with the most memory left */
    PLACE_PACK,               /* the fullest host the machine still fits on */
};

/* Defaults for every host (images/probe directories, storage of the first
 * host) and the placement policy; before the first hosts_add. */
void hosts_configure(const struct hv_options *defaults, enum placement_policy policy);

/* Open a host and add it to the pool under id ("hosts/<uuid>").  With
 * must_connect false a host that cannot be reached now is added in ERROR
 * state and retried by the monitor; otherwise that is an error (400). */
int hosts_add(const char *id, const struct host_settings *s, bool must_connect,
              struct cimi_error *err);
/* Remove a host: 409 while machines are placed on it. */
int hosts_remove(const char *id, struct cimi_error *err);
/* Change what an admin may change (enabled, overcommit). */
int hosts_update(const char *id, const struct host_settings *s, struct cimi_error *err);
int hosts_status(const char *id, struct host_status *out, struct cimi_error *err);
/* The id of the host of a URI, or NULL. */
const char *hosts_find_uri(const char *uri, char *id, size_t len);
/* The first host added (machines stored before hosts existed live there). */
const char *hosts_default(void);

/* Borrow a host: 404 if there is none by that id, 503 if it is unreachable. */
int hosts_use(const char *id, struct host_use *use, struct cimi_error *err);
void hosts_done(struct host_use *use);
/* Borrow the first host: volumes, networks and downloaded images live there. */
int hosts_use_first(struct host_use *use, struct cimi_error *err);

/* Choose a host for a new machine and book it there: fills host_id and,
 * for a dedicated machine, the physical CPU of each vCPU.  409 when no host
 * has room (the message says why for each host). */
int hosts_place(const char *machine_uuid, const struct placement_request *rq, char *host_id,
                size_t len, int *pinned, struct cimi_error *err);
/* Book a machine that is already placed (start-up). */
void hosts_book(const char *host_id, const char *machine_uuid, const struct placement_request *rq,
                const int *pinned);
/* A placed machine asks for rq instead of old (its cpu or memory changed):
 * booked when its host can give it (409 with the reason otherwise, nothing
 * changed).  Dedicated machines keep theirs (409). */
int hosts_rebook(const char *host_id, const struct placement_request *old,
                 const struct placement_request *rq, struct cimi_error *err);
/* Give back what a machine had booked (it was deleted, or never created). */
void hosts_release(const char *host_id, const char *machine_uuid,
                   const struct placement_request *rq);

/* Check every host each interval_s seconds; on_return(host id) runs when a
 * host answers again (to restore an ephemeral host's machines). */
int hosts_start_monitor(int interval_s, void (*on_return)(const char *host_id));
/* Stop the monitor and close every host. */
void hosts_close_all(void);

#endif
