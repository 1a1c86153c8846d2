/*
 * test_driver.c - unit tests of the libvirt driver against test:///default.
 *
 * libvirt's test driver runs in-process with instant state changes, so the
 * whole machine life cycle can be driven here.  Within one process every
 * connection to test:///default shares the same node, which lets the tests
 * read back what the driver defined through a second, plain libvirt
 * connection.  The qemu:///embed test only checks the qemu.conf preparation
 * (opening may fail when the QEMU driver is not installed).
 */
#include <ftw.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <libvirt/libvirt.h>

#include "driver/driver.h"
#include "driver/local.h"
#include "check.h"

#define URI "test:///default"
#define UUID_A "0a6f3c2e-1b4d-4e5f-8a9b-000000000001"
#define UUID_B "0a6f3c2e-1b4d-4e5f-8a9b-000000000002"
#define UUID_MISSING "0a6f3c2e-1b4d-4e5f-8a9b-0000000000ff"
#define UUID_IMAGE "5e1f0000-0000-4000-8000-000000000001"
#define UUID_VOLUME "7a000000-0000-4000-8000-000000000001"

static const struct driver *drv = &driver_libvirt;

/* err cleared, so a message printed after a success is not a stale one. */
static struct cimi_error *fresh(struct cimi_error *err)
{
    err_clear(err);
    return err;
}

static void make_spec(struct hv_machine_spec *spec, const char *uuid, const char *name)
{
    memset(spec, 0, sizeof(*spec));
    snprintf(spec->uuid, sizeof(spec->uuid), "%s", uuid);
    snprintf(spec->name, sizeof(spec->name), "%s", name);
    spec->cpu = 1;
    spec->memory_kib = 65536;
    spec->ndisks = 1;
    spec->disks[0].capacity_kb = 1024 * 1024;
}

/* The driver's state for uuid, HV_UNKNOWN on error. */
static enum hv_state state_of(struct hv *hv, const char *uuid)
{
    struct cimi_error err = {0};
    enum hv_state state = HV_UNKNOWN;

    if (drv->get_state(hv, uuid, &state, fresh(&err)) < 0)
        return HV_UNKNOWN;
    return state;
}

/* Poll for up to 2 s until uuid reaches want. */
static int wait_state(struct hv *hv, const char *uuid, enum hv_state want)
{
    struct timespec pause = {0, 10 * 1000 * 1000};
    int i;

    for (i = 0; i < 200; i++) {
        if (state_of(hv, uuid) == want)
            return 1;
        nanosleep(&pause, NULL);
    }
    return 0;
}

static void test_state_names(void)
{
    CHECK(strcmp(hv_state_name(HV_RUNNING), "running") == 0, "name running");
    CHECK(strcmp(hv_state_name(HV_PAUSED), "paused") == 0, "name paused");
    CHECK(strcmp(hv_state_name(HV_SHUTOFF), "shutoff") == 0, "name shutoff");
    CHECK(strcmp(hv_state_name(HV_SAVED), "saved") == 0, "name saved");
    CHECK(strcmp(hv_state_name(HV_SHUTTING_DOWN), "shutting-down") == 0, "name shutting-down");
    CHECK(strcmp(hv_state_name(HV_CRASHED), "crashed") == 0, "name crashed");
    CHECK(strcmp(hv_state_name(HV_UNKNOWN), "unknown") == 0, "name unknown");
    CHECK(strcmp(hv_state_name((enum hv_state)99), "unknown") == 0, "name out of range");
}

static void test_open_failure(void)
{
    struct cimi_error err = {0};
    struct hv *hv = drv->open("nosuchdriver:///nowhere", NULL, fresh(&err));

    CHECK(hv == NULL, "open of a bogus URI fails");
    CHECK(err.status == 500, "bogus URI -> 500 (got %d)", err.status);
    CHECK(strncmp(err.message, "libvirt: ", 9) == 0, "message from libvirt: %s", err.message);
    drv->close(hv);
}

static void test_define(struct hv *hv)
{
    struct hv_machine_spec spec;
    struct cimi_error err = {0};

    make_spec(&spec, UUID_A, "machine a");
    CHECK(drv->exists(hv, UUID_A, fresh(&err)) == 0, "not there before define");
    CHECK(drv->define(hv, &spec, fresh(&err)) == 0, "define: %s", err.message);
    CHECK(drv->define(hv, &spec, fresh(&err)) == 0, "define again is idempotent: %s", err.message);
    CHECK(drv->exists(hv, UUID_A, fresh(&err)) == 1, "exists after define");
    CHECK(drv->exists(hv, UUID_MISSING, fresh(&err)) == 0, "missing uuid does not exist");
    CHECK(drv->exists(hv, "not-a-uuid", fresh(&err)) == 0, "malformed uuid does not exist");
    CHECK(state_of(hv, UUID_A) == HV_SHUTOFF, "new machine is shutoff");

    spec.cpu = 0;
    snprintf(spec.uuid, sizeof(spec.uuid), "%s", UUID_B);
    CHECK(drv->define(hv, &spec, fresh(&err)) < 0 && err.status == 400, "cpu 0 -> 400");
    spec.cpu = 1;
    snprintf(spec.cpu_arch, sizeof(spec.cpu_arch), "x86'64");
    CHECK(drv->define(hv, &spec, fresh(&err)) < 0 && err.status == 400, "odd cpuArch -> 400");
    snprintf(spec.cpu_arch, sizeof(spec.cpu_arch), "x86_64");
    snprintf(spec.uuid, sizeof(spec.uuid), "nope");
    CHECK(drv->define(hv, &spec, fresh(&err)) < 0, "malformed uuid refused");
    CHECK(drv->exists(hv, UUID_B, fresh(&err)) == 0, "refused specs defined nothing");
}

static void test_life_cycle(struct hv *hv)
{
    struct cimi_error err = {0};

    CHECK(drv->start(hv, UUID_A, fresh(&err)) == 0, "start: %s", err.message);
    CHECK(state_of(hv, UUID_A) == HV_RUNNING, "running after start");
    CHECK(drv->start(hv, UUID_A, fresh(&err)) < 0 && err.status == 409,
          "start running -> 409: %s", err.message);
    CHECK(drv->pause(hv, UUID_A, fresh(&err)) == 0, "pause: %s", err.message);
    CHECK(state_of(hv, UUID_A) == HV_PAUSED, "paused after pause");
    CHECK(drv->pause(hv, UUID_A, fresh(&err)) < 0 && err.status == 409, "pause paused -> 409");
    CHECK(drv->resume(hv, UUID_A, fresh(&err)) == 0, "resume: %s", err.message);
    CHECK(state_of(hv, UUID_A) == HV_RUNNING, "running after resume");
    CHECK(drv->resume(hv, UUID_A, fresh(&err)) < 0 && err.status == 409, "resume running -> 409");
    CHECK(drv->save(hv, UUID_A, fresh(&err)) == 0, "save: %s", err.message);
    CHECK(state_of(hv, UUID_A) == HV_SAVED, "saved after save");
    CHECK(drv->start(hv, UUID_A, fresh(&err)) == 0, "start from saved: %s", err.message);
    CHECK(state_of(hv, UUID_A) == HV_RUNNING, "running after restore");
    CHECK(drv->shutdown(hv, UUID_A, fresh(&err)) == 0, "shutdown: %s", err.message);
    CHECK(wait_state(hv, UUID_A, HV_SHUTOFF), "shutoff after shutdown");

    CHECK(drv->pause(hv, UUID_A, fresh(&err)) < 0, "pause shut-off fails");
    CHECK(err.status == 409, "pause shut-off -> 409 (got %d: %s)", err.status, err.message);
    CHECK(strstr(err.message, UUID_A) != NULL && strstr(err.message, "shutoff") != NULL,
          "409 message names machine and state: %s", err.message);
    CHECK(drv->destroy(hv, UUID_A, fresh(&err)) < 0 && err.status == 409, "destroy shut-off -> 409");
    CHECK(drv->shutdown(hv, UUID_A, fresh(&err)) < 0 && err.status == 409, "shutdown shut-off -> 409");
    CHECK(drv->save(hv, UUID_A, fresh(&err)) < 0 && err.status == 409, "save shut-off -> 409");

    CHECK(drv->start(hv, UUID_A, fresh(&err)) == 0, "start again: %s", err.message);
    CHECK(drv->reboot(hv, UUID_A, fresh(&err)) == 0, "reboot: %s", err.message);
    CHECK(wait_state(hv, UUID_A, HV_RUNNING), "running after reboot");
    CHECK(drv->reset(hv, UUID_A, fresh(&err)) == 0, "reset: %s", err.message);
    CHECK(state_of(hv, UUID_A) == HV_RUNNING, "running after reset");
    CHECK(drv->destroy(hv, UUID_A, fresh(&err)) == 0, "destroy: %s", err.message);
    CHECK(state_of(hv, UUID_A) == HV_SHUTOFF, "shutoff after destroy");
}

typedef int (*uuid_op)(struct hv *hv, const char *uuid, struct cimi_error *err);

static void check_missing(struct hv *hv, uuid_op op, const char *name)
{
    struct cimi_error err = {0};

    CHECK(op(hv, UUID_MISSING, fresh(&err)) < 0 && err.status == 404 &&
          strstr(err.message, "machine " UUID_MISSING " does not exist in the hypervisor") != NULL,
          "%s missing -> 404 (%d: %s)", name, err.status, err.message);
}

static void test_missing(struct hv *hv)
{
    struct cimi_error err = {0};
    enum hv_state state;
    char location[128];

    check_missing(hv, drv->start, "start");
    check_missing(hv, drv->shutdown, "shutdown");
    check_missing(hv, drv->destroy, "destroy");
    check_missing(hv, drv->reboot, "reboot");
    check_missing(hv, drv->reset, "reset");
    check_missing(hv, drv->pause, "pause");
    check_missing(hv, drv->resume, "resume");
    check_missing(hv, drv->save, "save");
    CHECK(drv->get_state(hv, UUID_MISSING, &state, fresh(&err)) < 0 && err.status == 404,
          "get_state missing -> 404");
    CHECK(drv->capture(hv, UUID_MISSING, UUID_IMAGE, location, sizeof(location), fresh(&err)) < 0 &&
          err.status == 404, "capture missing -> 404");
    CHECK(drv->start(hv, "garbage", fresh(&err)) < 0 && err.status == 404, "malformed uuid -> 404");
}

/* Whether drv->list (without owners) has uuid in state want (HV_UNKNOWN:
 * has it not at all). */
static int listed_as(struct hv *hv, const char *uuid, enum hv_state want)
{
    struct hv_machine_info *infos = NULL;
    struct cimi_error err = {0};
    int n = drv->list(hv, false, &infos, fresh(&err)), found = -1;

    for (int i = 0; i < n; i++)
        if (strcmp(infos[i].uuid, uuid) == 0)
            found = i;
    if (n < 0)
        found = -2;
    else if (found >= 0)
        found = infos[found].state == want;
    free(infos);
    return want == HV_UNKNOWN ? found == -1 : found == 1;
}

/* Poll for up to 2 s until listed_as holds. */
static int wait_listed(struct hv *hv, const char *uuid, enum hv_state want)
{
    struct timespec pause = {0, 10 * 1000 * 1000};

    for (int i = 0; i < 200; i++) {
        if (listed_as(hv, uuid, want))
            return 1;
        nanosleep(&pause, NULL);
    }
    return 0;
}

/* Changes made through another connection (as another program would):
 * the driver keeps states in memory and hears of them by libvirt's events. */
static void test_outside_changes(struct hv *hv)
{
    virConnectPtr conn = virConnectOpen(URI);
    virDomainPtr dom = conn ? virDomainLookupByUUIDString(conn, UUID_A) : NULL;
    char xml[512];

    CHECK(dom != NULL, "a second connection sees machine A");
    if (dom == NULL)
        goto done;
    CHECK(virDomainCreate(dom) == 0 && wait_state(hv, UUID_A, HV_RUNNING) &&
          wait_listed(hv, UUID_A, HV_RUNNING), "started outside: running");
    CHECK(virDomainSuspend(dom) == 0 && wait_state(hv, UUID_A, HV_PAUSED) &&
          wait_listed(hv, UUID_A, HV_PAUSED), "paused outside: paused");
    CHECK(virDomainResume(dom) == 0 && wait_state(hv, UUID_A, HV_RUNNING),
          "resumed outside: running");
    CHECK(virDomainManagedSave(dom, 0) == 0 && wait_state(hv, UUID_A, HV_SAVED) &&
          wait_listed(hv, UUID_A, HV_SAVED), "managed save outside: saved");
    CHECK(virDomainCreate(dom) == 0 && wait_state(hv, UUID_A, HV_RUNNING),
          "restored outside: running");
    CHECK(virDomainDestroy(dom) == 0 && wait_state(hv, UUID_A, HV_SHUTOFF) &&
          wait_listed(hv, UUID_A, HV_SHUTOFF), "destroyed outside: shutoff");
    virDomainFree(dom);

    /* a domain defined and removed outside */
    snprintf(xml, sizeof(xml),
             "<domain type='test'><name>outside</name><uuid>%s</uuid><memory>65536</memory>"
             "<os><type>hvm</type></os></domain>", UUID_MISSING);
    dom = virDomainDefineXML(conn, xml);
    CHECK(dom != NULL && wait_listed(hv, UUID_MISSING, HV_SHUTOFF),
          "defined outside: listed shutoff");
    CHECK(dom != NULL && virDomainUndefine(dom) == 0 && wait_listed(hv, UUID_MISSING, HV_UNKNOWN),
          "undefined outside: no longer listed");
    CHECK(state_of(hv, UUID_MISSING) == HV_UNKNOWN, "undefined outside: get_state 404");
    if (dom != NULL)
        virDomainFree(dom);

    /* The event of a domain that is gone is an update like any other: the
     * table stays in memory (it once made every later state a libvirt call).
     * No listing here: a listing would seed the table again. */
    dom = virDomainDefineXML(conn, xml);
    CHECK(dom != NULL && wait_listed(hv, UUID_MISSING, HV_SHUTOFF), "defined outside again");
    CHECK(dom != NULL && virDomainUndefine(dom) == 0 && wait_state(hv, UUID_MISSING, HV_UNKNOWN),
          "undefined outside again: get_state 404");
    nanosleep(&(struct timespec){0, 200 * 1000000L}, NULL);
    CHECK(drv->states_in_memory(hv), "undefined outside: states still answered from memory");
    if (dom != NULL)
        virDomainFree(dom);
done:
    if (conn != NULL)
        virConnectClose(conn);
}

/* The UUID of the test node's own domain "test", "" if absent. */
static void default_domain_uuid(char uuid[VIR_UUID_STRING_BUFLEN])
{
    virConnectPtr conn = virConnectOpen(URI);
    virDomainPtr dom = conn ? virDomainLookupByName(conn, "test") : NULL;

    uuid[0] = '\0';
    if (dom != NULL) {
        if (virDomainGetUUIDString(dom, uuid) < 0)
            uuid[0] = '\0';
        virDomainFree(dom);
    }
    if (conn != NULL)
        virConnectClose(conn);
}

/* get_known_states: the listed states for the listed machines (those it
 * knows), never a state for a missing or malformed UUID. */
static void check_known_states(struct hv *hv, const struct hv_machine_info *infos, int n)
{
    const char **uuids = calloc((size_t)n + 2, sizeof(*uuids));
    enum hv_state *states = calloc((size_t)n + 2, sizeof(*states));
    bool *known = calloc((size_t)n + 2, sizeof(*known));
    int nknown = 0;

    CHECK(drv->get_known_states != NULL, "the driver answers states in batches");
    if (uuids == NULL || states == NULL || known == NULL || drv->get_known_states == NULL)
        goto out;
    for (int i = 0; i < n; i++)
        uuids[i] = infos[i].uuid;
    uuids[n] = UUID_MISSING;
    uuids[n + 1] = "not-a-uuid";
    drv->get_known_states(hv, uuids, (size_t)n + 2, states, known);
    for (int i = 0; i < n; i++) {
        if (!known[i])
            continue;
        nknown++;
        CHECK(states[i] == infos[i].state, "batch: %s in its listed state", uuids[i]);
    }
    CHECK(!drv->states_in_memory(hv) || nknown == n,
          "batch: every listed machine known while states are in memory (%d of %d)", nknown, n);
    CHECK(!known[n] && !known[n + 1], "batch: missing and malformed UUIDs are not known");
out:
    free(uuids);
    free(states);
    free(known);
}

static void test_list(struct hv *hv)
{
    struct hv_machine_info *infos = NULL;
    struct cimi_error err = {0};
    char test_uuid[VIR_UUID_STRING_BUFLEN];
    int n, i, ours = -1, theirs = -1;

    default_domain_uuid(test_uuid);
    CHECK(test_uuid[0] != '\0', "default node has domain \"test\"");
    n = drv->list(hv, true, &infos, fresh(&err));
    CHECK(n >= 2 && infos != NULL, "list finds at least 2 domains (%d)", n);
    for (i = 0; i < n; i++) {
        if (strcmp(infos[i].uuid, UUID_A) == 0)
            ours = i;
        if (strcmp(infos[i].uuid, test_uuid) == 0)
            theirs = i;
    }
    CHECK(ours >= 0 && infos[ours].owned, "our machine is listed as owned");
    CHECK(ours >= 0 && infos[ours].state == HV_SHUTOFF, "our machine is listed shutoff");
    CHECK(theirs >= 0 && !infos[theirs].owned, "domain \"test\" is listed as not owned");
    CHECK(theirs >= 0 && infos[theirs].state == HV_RUNNING, "domain \"test\" is listed running");
    free(infos);
    infos = NULL;
    n = drv->list(hv, false, &infos, fresh(&err));
    CHECK(n >= 2, "without owners: the same domains (%d)", n);
    for (i = 0, ours = -1, theirs = -1; i < n; i++) {
        enum hv_state st = HV_UNKNOWN;
        if (strcmp(infos[i].uuid, UUID_A) == 0)
            ours = i;
        if (strcmp(infos[i].uuid, test_uuid) == 0)
            theirs = i;
        CHECK(drv->get_state(hv, infos[i].uuid, &st, fresh(&err)) == 0 && st == infos[i].state,
              "without owners: %s listed in the state get_state gives", infos[i].uuid);
    }
    CHECK(ours >= 0 && !infos[ours].owned && infos[ours].state == HV_SHUTOFF,
          "without owners: our machine is listed shutoff, owner not asked");
    CHECK(theirs >= 0 && infos[theirs].state == HV_RUNNING,
          "without owners: domain \"test\" is listed running");
    check_known_states(hv, infos, n);
    free(infos);
}

static void test_list_uuids(struct hv *hv)
{
    struct hv_machine_info *infos = NULL, *full = NULL;
    struct cimi_error err = {0};
    char test_uuid[VIR_UUID_STRING_BUFLEN];
    int n, nfull, i, j, ours = 0, theirs = 0, matched = 0;

    default_domain_uuid(test_uuid);
    n = drv->list_uuids(hv, &infos, fresh(&err));
    nfull = drv->list(hv, false, &full, fresh(&err));
    CHECK(n >= 2 && infos != NULL, "list_uuids finds at least 2 domains (%d)", n);
    CHECK(n == nfull, "list_uuids finds as many domains as list (%d, %d)", n, nfull);
    for (i = 0; i < n; i++) {
        ours += strcmp(infos[i].uuid, UUID_A) == 0;
        theirs += strcmp(infos[i].uuid, test_uuid) == 0;
        CHECK(infos[i].state == HV_UNKNOWN && !infos[i].owned,
              "list_uuids gives only the UUID of %s", infos[i].uuid);
        for (j = 0; j < nfull; j++)
            matched += strcmp(infos[i].uuid, full[j].uuid) == 0;
    }
    CHECK(ours == 1 && theirs == 1, "list_uuids has our machine and \"test\" once each");
    CHECK(matched == n, "every UUID list_uuids gives is one list gives (%d of %d)", matched, n);
    free(infos);
    free(full);
}

static void test_capture(struct hv *hv)
{
    struct cimi_error err = {0};
    char location[128];
    char tiny[8];

    CHECK(drv->start(hv, UUID_A, fresh(&err)) == 0, "start for capture");
    /* The test driver has no disk to copy: a running machine captures too. */
    CHECK(drv->capture(hv, UUID_A, UUID_IMAGE, location, sizeof(location), fresh(&err)) == 0,
          "capture running on the test driver: %s", err.message);
    CHECK(drv->destroy(hv, UUID_A, fresh(&err)) == 0, "destroy for capture");
    CHECK(drv->capture(hv, UUID_A, UUID_IMAGE, location, sizeof(location), fresh(&err)) == 0,
          "capture stopped: %s", err.message);
    CHECK(strcmp(location, "cimid-image:" UUID_IMAGE) == 0, "capture location %s", location);
    CHECK(drv->capture(hv, UUID_A, UUID_IMAGE, tiny, sizeof(tiny), fresh(&err)) < 0 &&
          err.status == 500, "capture into a tiny buffer fails");
}

/* The test driver keeps no storage and attaches no device: the volume
 * calls check their arguments and that the machine exists. */
static void test_volumes(struct hv *hv)
{
    struct cimi_error err = {0};
    long long capacity = 1048576, zero = 0;
    char location[128];

    CHECK(drv->volume_create(hv, UUID_VOLUME, &capacity, "", fresh(&err)) == 0 &&
          capacity == 1048576, "create a volume: %s", err.message);
    CHECK(drv->volume_create(hv, "garbage", &capacity, "", fresh(&err)) < 0 && err.status == 500,
          "a malformed volume uuid is refused");
    CHECK(drv->volume_create(hv, UUID_VOLUME, &zero, "", fresh(&err)) < 0 && err.status == 400,
          "no volume of capacity 0");
    CHECK(drv->volume_attach(hv, UUID_A, UUID_VOLUME, "vdb", fresh(&err)) == 0, "attach: %s",
          err.message);
    CHECK(drv->volume_attach(hv, UUID_MISSING, UUID_VOLUME, "vdb", fresh(&err)) < 0 &&
          err.status == 404, "attach to a missing machine: 404");
    CHECK(drv->volume_attach(hv, UUID_A, UUID_VOLUME, "sdf", fresh(&err)) < 0 && err.status == 400,
          "attach as a device that is not virtio: 400");
    CHECK(drv->volume_resize(hv, UUID_VOLUME, 2097152, UUID_A, fresh(&err)) == 0,
          "resize attached: %s", err.message);
    CHECK(drv->volume_resize(hv, UUID_VOLUME, 2097152, NULL, fresh(&err)) == 0,
          "resize detached: %s", err.message);
    CHECK(drv->volume_resize(hv, UUID_VOLUME, 2097152, UUID_MISSING, fresh(&err)) < 0 &&
          err.status == 404, "resize on a missing machine: 404");
    CHECK(drv->volume_snapshot(hv, UUID_VOLUME, UUID_A, UUID_IMAGE, location, sizeof(location),
                               fresh(&err)) == 0 &&
          strcmp(location, "cimid-image:" UUID_IMAGE) == 0, "snapshot location %s", location);
    CHECK(drv->volume_detach(hv, UUID_A, UUID_VOLUME, fresh(&err)) == 0, "detach: %s",
          err.message);
    CHECK(drv->volume_detach(hv, UUID_MISSING, UUID_VOLUME, fresh(&err)) < 0 && err.status == 404,
          "detach from a missing machine: 404");
    CHECK(drv->volume_delete(hv, UUID_VOLUME, fresh(&err)) == 0, "delete: %s", err.message);
}

/* The persistent vCPUs and maximum memory of uuid, asked through a plain
 * connection (the test driver's node is shared within the process). */
static void config_of(const char *uuid, int *vcpus, unsigned long *memory)
{
    virConnectPtr conn = virConnectOpen(URI);
    virDomainPtr dom = conn ? virDomainLookupByUUIDString(conn, uuid) : NULL;

    *vcpus = dom ? virDomainGetVcpusFlags(dom, VIR_DOMAIN_AFFECT_CONFIG | VIR_DOMAIN_VCPU_MAXIMUM)
                 : -1;
    *memory = dom ? virDomainGetMaxMemory(dom) : 0;
    if (dom)
        virDomainFree(dom);
    if (conn)
        virConnectClose(conn);
}

static void test_set_resources(struct hv *hv)
{
    struct hv_machine_spec spec;
    struct cimi_error err = {0};
    unsigned long memory;
    int vcpus;

    make_spec(&spec, UUID_B, "resized");
    CHECK(drv->define(hv, &spec, fresh(&err)) == 0, "define for resize: %s", err.message);
    CHECK(drv->set_resources(hv, UUID_B, 3, 196608, fresh(&err)) == 0, "grow: %s", err.message);
    config_of(UUID_B, &vcpus, &memory);
    CHECK(vcpus == 3 && memory == 196608, "grown to 3 vCPUs, 196608 KiB: %d, %lu", vcpus, memory);
    CHECK(drv->set_resources(hv, UUID_B, 1, 32768, fresh(&err)) == 0, "shrink: %s", err.message);
    config_of(UUID_B, &vcpus, &memory);
    CHECK(vcpus == 1 && memory == 32768, "shrunk to 1 vCPU, 32768 KiB: %d, %lu", vcpus, memory);
    CHECK(drv->start(hv, UUID_B, fresh(&err)) == 0, "start: %s", err.message);
    CHECK(drv->set_resources(hv, UUID_B, 2, 65536, fresh(&err)) < 0 && err.status == 409,
          "a running machine: 409 (%s)", err.message);
    config_of(UUID_B, &vcpus, &memory);
    CHECK(vcpus == 1 && memory == 32768, "unchanged after the 409: %d, %lu", vcpus, memory);
    CHECK(drv->set_resources(hv, UUID_MISSING, 2, 65536, fresh(&err)) < 0 && err.status == 404,
          "a missing machine: 404");
    CHECK(drv->undefine(hv, UUID_B, fresh(&err)) == 0, "undefine: %s", err.message);
}

static void test_undefine(struct hv *hv)
{
    struct hv_machine_spec spec;
    struct cimi_error err = {0};

    CHECK(drv->undefine(hv, UUID_A, fresh(&err)) == 0, "undefine: %s", err.message);
    CHECK(drv->exists(hv, UUID_A, fresh(&err)) == 0, "gone after undefine");
    CHECK(drv->undefine(hv, UUID_A, fresh(&err)) == 0, "undefine again is idempotent");
    CHECK(drv->undefine(hv, "garbage", fresh(&err)) == 0, "undefine malformed uuid is a no-op");

    /* A running machine, and one with a managed-save image. */
    make_spec(&spec, UUID_A, "running");
    CHECK(drv->define(hv, &spec, fresh(&err)) == 0 && drv->start(hv, UUID_A, fresh(&err)) == 0,
          "define+start for undefine");
    CHECK(drv->undefine(hv, UUID_A, fresh(&err)) == 0, "undefine running: %s", err.message);
    CHECK(drv->exists(hv, UUID_A, fresh(&err)) == 0, "running one is gone");
    CHECK(drv->define(hv, &spec, fresh(&err)) == 0 && drv->start(hv, UUID_A, fresh(&err)) == 0 &&
          drv->save(hv, UUID_A, fresh(&err)) == 0, "define+start+save for undefine");
    CHECK(drv->undefine(hv, UUID_A, fresh(&err)) == 0, "undefine saved: %s", err.message);
    CHECK(drv->exists(hv, UUID_A, fresh(&err)) == 0, "saved one is gone");
}

static void test_title_escaping(struct hv *hv)
{
    const char *name = "a <b> & \"c\" 'd' </title><name>x</name>";
    struct hv_machine_spec spec;
    struct cimi_error err = {0};
    virConnectPtr conn = virConnectOpen(URI);
    virDomainPtr dom = NULL;
    char *title = NULL, *xml = NULL;
    const char *dname = NULL;

    make_spec(&spec, UUID_B, name);
    CHECK(drv->define(hv, &spec, fresh(&err)) == 0, "define with markup in the name: %s", err.message);
    if (conn != NULL)
        dom = virDomainLookupByUUIDString(conn, UUID_B);
    CHECK(dom != NULL, "found through a plain connection");
    if (dom != NULL) {
        title = virDomainGetMetadata(dom, VIR_DOMAIN_METADATA_TITLE, NULL, 0);
        xml = virDomainGetXMLDesc(dom, 0);
        dname = virDomainGetName(dom);
    }
    CHECK(title != NULL && strcmp(title, name) == 0, "title reads back: %s", title ? title : "(null)");
    CHECK(xml != NULL && strstr(xml, "&lt;b&gt; &amp;") != NULL, "title escaped in the XML");
    CHECK(dname != NULL && strcmp(dname, "cimi-" UUID_B) == 0, "domain name is cimi-<uuid>");
    CHECK(xml != NULL && strstr(xml, "<cimid:machine xmlns:cimid=\"http://cimid.dev/ns/1\"") != NULL,
          "metadata element present");
    CHECK(xml != NULL && strstr(xml, "cimid-" UUID_B "-disk0.qcow2") != NULL, "disk named after the uuid");
    free(title);
    free(xml);
    title = NULL;
    if (dom != NULL)
        virDomainFree(dom);
    CHECK(drv->undefine(hv, UUID_B, fresh(&err)) == 0, "undefine escaped one");

    make_spec(&spec, UUID_B, "two\nlines\there");
    CHECK(drv->define(hv, &spec, fresh(&err)) == 0, "define with control characters: %s", err.message);
    dom = conn != NULL ? virDomainLookupByUUIDString(conn, UUID_B) : NULL;
    if (dom != NULL) {
        title = virDomainGetMetadata(dom, VIR_DOMAIN_METADATA_TITLE, NULL, 0);
        virDomainFree(dom);
    }
    CHECK(title != NULL && strcmp(title, "two lines here") == 0, "control characters became spaces");
    free(title);
    CHECK(drv->undefine(hv, UUID_B, fresh(&err)) == 0, "undefine control-character one");

    make_spec(&spec, UUID_B, "bad \xff utf-8");
    CHECK(drv->define(hv, &spec, fresh(&err)) < 0 && err.status == 400, "invalid UTF-8 name -> 400");
    if (conn != NULL)
        virConnectClose(conn);
}

/* ---- concurrency ---- */

struct worker {
    struct hv *hv;
    char uuid[37];
    int rounds;
    int failures;
};

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    struct hv_machine_spec spec;
    struct cimi_error err = {0};
    int i;

    make_spec(&spec, w->uuid, "worker");
    for (i = 0; i < w->rounds; i++) {
        if (drv->define(w->hv, &spec, fresh(&err)) < 0 ||
            drv->start(w->hv, w->uuid, fresh(&err)) < 0 ||
            drv->destroy(w->hv, w->uuid, fresh(&err)) < 0 ||
            drv->undefine(w->hv, w->uuid, fresh(&err)) < 0) {
            w->failures++;
            fprintf(stderr, "worker %s: %s\n", w->uuid, err.message);
        }
    }
    return NULL;
}

static void test_threads(struct hv *hv)
{
    struct worker workers[2] = {
        {hv, "7e000000-0000-4000-8000-000000000001", 200, 0},
        {hv, "7e000000-0000-4000-8000-000000000002", 200, 0},
    };
    pthread_t threads[2];
    int started[2], i;

    for (i = 0; i < 2; i++)
        started[i] = pthread_create(&threads[i], NULL, worker_main, &workers[i]) == 0;
    for (i = 0; i < 2; i++) {
        if (started[i])
            pthread_join(threads[i], NULL);
        CHECK(started[i] && workers[i].failures == 0, "thread %d: 200 cycles, %d failures",
              i, workers[i].failures);
        CHECK(drv->exists(hv, workers[i].uuid, NULL) == 0, "thread %d left nothing behind", i);
    }
}

/* ---- timing (a number for the notes, not an assertion) ---- */

static void time_cycles(struct hv *hv, int rounds)
{
    struct hv_machine_spec spec;
    struct cimi_error err = {0};
    struct timespec t0, t1;
    int i, failures = 0;
    double ms;

    make_spec(&spec, UUID_B, "timing");
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (i = 0; i < rounds; i++) {
        if (drv->define(hv, &spec, fresh(&err)) < 0 || drv->start(hv, UUID_B, fresh(&err)) < 0 ||
            drv->destroy(hv, UUID_B, fresh(&err)) < 0 || drv->undefine(hv, UUID_B, fresh(&err)) < 0)
            failures++;
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
    CHECK(failures == 0, "%d define+start+destroy+undefine cycles", rounds);
    printf("# %d cycles in %.1f ms (%.1f us per cycle)\n", rounds, ms, ms * 1e3 / rounds);
}

/* ---- qemu:///embed preparation ---- */

static int remove_entry(const char *path, const struct stat *sb, int type, struct FTW *ftw)
{
    (void)sb;
    (void)type;
    (void)ftw;
    return remove(path);
}

static void test_embed_preparation(void)
{
    char base[] = "/tmp/cimid-embed-XXXXXX";
    char uri[256], conf[256], text[512];
    struct cimi_error err = {0};
    struct hv *hv;
    FILE *f;
    size_t n = 0;

    if (mkdtemp(base) == NULL) {
        CHECK(0, "mkdtemp");
        return;
    }
    /* The root has a space in it, percent-encoded in the URI. */
    snprintf(uri, sizeof(uri), "qemu:///embed?root=%s/a%%20b", base);
    snprintf(conf, sizeof(conf), "%s/a b/etc/qemu.conf", base);
    hv = drv->open(uri, NULL, fresh(&err));
    drv->close(hv);
    f = fopen(conf, "r");
    if (f != NULL) {
        n = fread(text, 1, sizeof(text) - 1, f);
        fclose(f);
    }
    text[n] = '\0';
    CHECK(f != NULL, "embed open wrote %s (open %s: %s)", conf, hv ? "worked" : "failed",
          hv ? "" : err.message);
    CHECK(strstr(text, "stdio_handler = \"file\"") != NULL, "qemu.conf sets stdio_handler");
    if (geteuid() == 0)
        CHECK(strstr(text, "security_driver = \"none\"") != NULL, "qemu.conf as root");
    nftw(base, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* ---- overlays on an image (driver/overlay.c) ---- */

static unsigned char *file_bytes(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    unsigned char *bytes = malloc(1024 * 1024);

    *len = 0;
    if (f != NULL && bytes != NULL)
        *len = fread(bytes, 1, 1024 * 1024, f);
    if (f != NULL)
        fclose(f);
    return bytes;
}

static int run_shell(const char *fmt, const char *a, const char *b)
{
    char cmd[1024];

    snprintf(cmd, sizeof(cmd), fmt, a, b);
    return system(cmd);
}

/* The second overlay of an image is written from the first one's bytes: the
 * same file qemu-img makes, a valid qcow2 on the image; an image changed
 * since (here broken) goes through qemu-img again, which refuses it. */
static void test_overlays(void)
{
    char base[] = "/tmp/cimid-overlay-XXXXXX";
    char image[128], first[160], second[160], third[160], other[160], path_env[4096];
    unsigned char *a, *b, *c;
    size_t alen, blen, clen;
    struct cimi_error err = {0};
    FILE *f;

    if (system("qemu-img --version >/dev/null 2>&1") != 0) {
        printf("ok - overlays skipped: no qemu-img\n");
        return;
    }
    if (mkdtemp(base) == NULL) {
        CHECK(0, "mkdtemp");
        return;
    }
    snprintf(image, sizeof(image), "%s/image.qcow2", base);
    snprintf(first, sizeof(first), "%s/first.qcow2", base);
    snprintf(second, sizeof(second), "%s/second.qcow2", base);
    snprintf(third, sizeof(third), "%s/third.qcow2", base);
    snprintf(other, sizeof(other), "%s/other-size.qcow2", base);
    CHECK(run_shell("qemu-img create -q -f qcow2 %s 64M%s", image, "") == 0, "image made");
    CHECK(overlay_create(first, image, "qcow2", 131072, fresh(&err)) == 0,
          "first overlay (qemu-img): %s", err.message);
    /* Without qemu-img on the PATH: the second one is made from the first. */
    snprintf(path_env, sizeof(path_env), "%s", getenv("PATH") ? getenv("PATH") : "/usr/bin:/bin");
    setenv("PATH", "/nonexistent", 1);
    CHECK(overlay_create(second, image, "qcow2", 131072, fresh(&err)) == 0,
          "second overlay (kept bytes, no qemu-img run): %s", err.message);
    setenv("PATH", path_env, 1);
    CHECK(overlay_create(other, image, "qcow2", 262144, fresh(&err)) == 0,
          "overlay of another size: %s", err.message);
    a = file_bytes(first, &alen);
    b = file_bytes(second, &blen);
    c = file_bytes(other, &clen);
    CHECK(alen > 0 && alen == blen && memcmp(a, b, alen) == 0,
          "second overlay is byte for byte qemu-img's (%zu, %zu bytes)", alen, blen);
    CHECK(clen > 0 && (clen != alen || memcmp(a, c, alen) != 0),
          "another size is another overlay");
    free(a);
    free(b);
    free(c);
    CHECK(run_shell("qemu-img check -q %s%s", second, "") == 0, "second overlay passes qemu-img check");
    CHECK(run_shell("qemu-img info --output=json %s | grep -q '\"backing-filename\": \"%s\"'",
                    second, image) == 0, "second overlay is backed by the image");
    CHECK(run_shell("qemu-img info --output=json %s | grep -q '\"virtual-size\": 134217728'%s",
                    second, "") == 0, "second overlay has the size asked");
    /* The image broken in place: its size and times change. */
    f = fopen(image, "wb");
    if (f != NULL) {
        fputs("QFI\xfbnot a qcow2 header at all, not at all", f);
        fclose(f);
    }
    CHECK(overlay_create(third, image, "qcow2", 131072, fresh(&err)) != 0 && err.status == 500,
          "an overlay on a changed, broken image is refused (%d %s)", err.status, err.message);
    CHECK(access(third, F_OK) != 0, "no overlay left for the broken image");
    nftw(base, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* ---- networks (driver/network.c) ---- */

#define UUID_NET "6e000000-0000-4000-8000-000000000001"
#define NIC_MAC "52:54:00:0a:0b:0c"

/* The XML libvirt itself reports, through a plain connection. */
static char *network_xml_of(virConnectPtr conn, const char *uuid)
{
    virNetworkPtr net = virNetworkLookupByUUIDString(conn, uuid);
    char *xml = net ? virNetworkGetXMLDesc(net, 0) : NULL;

    if (net)
        virNetworkFree(net);
    return xml;
}

static char *inactive_domain_xml(virConnectPtr conn, const char *uuid)
{
    virDomainPtr dom = virDomainLookupByUUIDString(conn, uuid);
    char *xml = dom ? virDomainGetXMLDesc(dom, VIR_DOMAIN_XML_INACTIVE) : NULL;

    if (dom)
        virDomainFree(dom);
    return xml;
}

static void test_networks(struct hv *hv)
{
    struct cimi_error err = {0};
    struct hv_network_spec spec;
    struct hv_interface nic;
    struct hv_machine_spec mspec;
    virConnectPtr conn = virConnectOpen(URI);
    char *xml;
    bool active = true;

    CHECK(conn != NULL, "second connection");
    if (conn == NULL)
        return;
    CHECK(drv->network_supported(hv), "the test driver has a network driver");
    memset(&spec, 0, sizeof(spec));
    snprintf(spec.uuid, sizeof(spec.uuid), UUID_NET);
    snprintf(spec.bridge, sizeof(spec.bridge), "cimibr7");
    snprintf(spec.gateway, sizeof(spec.gateway), "10.128.7.1");
    snprintf(spec.netmask, sizeof(spec.netmask), "255.255.255.0");
    snprintf(spec.dhcp_start, sizeof(spec.dhcp_start), "10.128.7.2");
    snprintf(spec.dhcp_end, sizeof(spec.dhcp_end), "10.128.7.254");
    CHECK(drv->network_is_active(hv, UUID_NET, &active, fresh(&err)) < 0 && err.status == 404,
          "a missing network is 404 (got %d)", err.status);
    CHECK(drv->network_define(hv, &spec, fresh(&err)) == 0, "network define: %s", err.message);
    CHECK(drv->network_define(hv, &spec, fresh(&err)) == 0, "define again: %s", err.message);
    CHECK(drv->network_is_active(hv, UUID_NET, &active, fresh(&err)) == 0 && !active,
          "defined, not active");
    CHECK(drv->network_set_active(hv, UUID_NET, true, fresh(&err)) == 0, "start: %s", err.message);
    CHECK(drv->network_set_active(hv, UUID_NET, true, fresh(&err)) == 0, "start again");
    CHECK(drv->network_is_active(hv, UUID_NET, &active, fresh(&err)) == 0 && active, "active");
    xml = network_xml_of(conn, UUID_NET);
    CHECK(xml && strstr(xml, "<name>cimi-" UUID_NET "</name>"), "libvirt names it cimi-<uuid>");
    CHECK(xml && strstr(xml, "cimibr7") && strstr(xml, "10.128.7.1") && !strstr(xml, "<forward"),
          "isolated bridge with the gateway address: %s", xml ? xml : "");
    free(xml);

    /* An interface: DHCP reservation and <interface> in the persistent definition. */
    make_spec(&mspec, UUID_B, "with-nic");
    CHECK(drv->define(hv, &mspec, fresh(&err)) == 0, "define machine: %s", err.message);
    memset(&nic, 0, sizeof(nic));
    snprintf(nic.network_uuid, sizeof(nic.network_uuid), UUID_NET);
    snprintf(nic.mac, sizeof(nic.mac), NIC_MAC);
    snprintf(nic.ip, sizeof(nic.ip), "10.128.7.2");
    CHECK(drv->interface_attach(hv, UUID_B, &nic, fresh(&err)) == 0, "attach: %s", err.message);
    CHECK(drv->interface_attach(hv, UUID_B, &nic, fresh(&err)) == 0, "attach again: %s",
          err.message);
    xml = network_xml_of(conn, UUID_NET);
    CHECK(xml && strstr(xml, "mac='" NIC_MAC "'") && strstr(xml, "ip='10.128.7.2'"),
          "DHCP reservation in libvirt's view: %s", xml ? xml : "");
    free(xml);
    xml = inactive_domain_xml(conn, UUID_B);
    CHECK(xml && strstr(xml, "<mac address='" NIC_MAC "'/>") &&
          strstr(xml, "<source network='cimi-" UUID_NET "'"),
          "the interface in the domain's definition: %s", xml ? xml : "");
    free(xml);
    CHECK(drv->interface_detach(hv, UUID_B, &nic, fresh(&err)) == 0, "detach: %s", err.message);
    CHECK(drv->interface_detach(hv, UUID_B, &nic, fresh(&err)) == 0, "detach again");
    xml = inactive_domain_xml(conn, UUID_B);
    CHECK(xml && !strstr(xml, NIC_MAC), "the interface is gone from the definition");
    free(xml);
    xml = network_xml_of(conn, UUID_NET);
    CHECK(xml && !strstr(xml, NIC_MAC), "the reservation is gone: %s", xml ? xml : "");
    free(xml);
    CHECK(drv->undefine(hv, UUID_B, fresh(&err)) == 0, "undefine machine: %s", err.message);
    CHECK(drv->network_undefine(hv, UUID_NET, fresh(&err)) == 0, "network undefine: %s",
          err.message);
    CHECK(drv->network_undefine(hv, UUID_NET, fresh(&err)) == 0, "undefine again");
    CHECK(drv->network_is_active(hv, UUID_NET, &active, fresh(&err)) < 0 && err.status == 404,
          "gone from libvirt");
    virConnectClose(conn);
}

int main(void)
{
    struct cimi_error err = {0};
    struct hv *hv;

    test_state_names();
    test_open_failure();
    hv = drv->open(URI, NULL, fresh(&err));
    CHECK(hv != NULL, "open %s: %s", URI, err.message);
    if (hv == NULL)
        return check_summary();
    test_define(hv);
    test_life_cycle(hv);
    test_missing(hv);
    test_list(hv);
    test_list_uuids(hv);
    test_outside_changes(hv);
    test_capture(hv);
    test_volumes(hv);
    test_set_resources(hv);
    test_networks(hv);
    test_undefine(hv);
    test_title_escaping(hv);
    test_threads(hv);
    time_cycles(hv, 1000);
    drv->close(hv);
    test_embed_preparation();
    test_overlays();
    return check_summary();
}
