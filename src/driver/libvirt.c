/*
 * libvirt.c - the hypervisor driver that talks to libvirt.
 *
 * A CIMI Machine is a libvirt domain.  The domain is named "cimi-<uuid>" and
 * carries the Machine's UUID as its own, the Machine's name as its <title>,
 * and an empty element <cimid:machine id="<uuid>"/> in the private namespace
 * http://cimid.dev/ns/1 inside <metadata>: that element is what marks a
 * domain as cimid's own (other domains on the same host are listed but never
 * touched by reconciliation).
 *
 * Every call looks the domain up by UUID, does one thing, and frees the
 * domain again.  One virConnectPtr is shared by all threads (libvirt
 * connections are thread-safe, and libvirt keeps its last error per thread).
 * libvirt's default error handler prints to stderr; it is replaced by one
 * that does nothing, and failures are reported through struct cimi_error as
 * "libvirt: <message>" instead.
 *
 * libvirt needs an event loop for anything asynchronous (the QEMU driver
 * refuses embed mode without one, and the domain events states.c keeps the
 * domains' states with): the default implementation is registered once and
 * run by one thread while at least one connection is open.  get_state and
 * list answer from states.c's table; every call that changes a domain tells
 * it (states_note) right after libvirt returned.
 *
 * Supported hypervisors:
 *   test:///default (and other test:// URIs) - libvirt's in-process mock.
 *     Disks are described as file disks that the mock never opens, and
 *     capture produces a pseudo location "cimid-image:<image uuid>".
 *     With --storage-dir it keeps downloaded images there (image.c).
 *   qemu:///embed?root=DIR (and other local qemu URIs) - real guests.
 *     embed.c prepares the root, storage.c the disk files (cimid manages
 *     them itself: embed mode has no libvirt storage driver), domain_xml.c
 *     the domain, accel.c chooses KVM or TCG, volume.c attaches volumes.
 */
#include "driver/driver.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <libxml/xmlstring.h>

#include "driver/local.h"
#include "driver/state_table.h"
#include "util/log.h"

/* Storage directory of QEMU hosts other than qemu:///embed. */
#define DEFAULT_STORAGE_DIR "/var/lib/cimid/storage"

/* What a call needs the domain's state to be; checked before the call so
 * that a refused operation is a clean 409 on every driver (the test driver
 * reports some of these as internal errors). */
enum need {
    NEED_NOTHING,
    NEED_ACTIVE,     /* running, paused, shutting down, ... */
    NEED_INACTIVE,   /* shut off or saved */
    NEED_RUNNING,    /* running (not paused) */
    NEED_PAUSED,
};

/* ---- errors ---- */

static void ignore_libvirt_error(void *opaque, virErrorPtr error)
{
    (void)opaque;
    (void)error;
}

/* Turn this thread's last libvirt error into err and return -1. */
int libvirt_fail(struct cimi_error *err)
{
    virErrorPtr last = virGetLastError();
    int status = 500;

    if (last != NULL && last->code == VIR_ERR_OPERATION_INVALID)
        status = 409;
    else if (last != NULL && last->code == VIR_ERR_NO_DOMAIN)
        status = 404;
    return err_set(err, status, NULL, "libvirt: %s", virGetLastErrorMessage());
}

/* The code of this thread's last libvirt error (VIR_ERR_OK if none). */
static int last_error_code(void)
{
    virErrorPtr last = virGetLastError();

    return last != NULL ? last->code : VIR_ERR_OK;
}

static int not_found(const char *uuid, struct cimi_error *err)
{
    return err_set(err, 404, NULL, "machine %s does not exist in the hypervisor", uuid);
}

/* 8-4-4-4-12 hexadecimal digits. */
int uuid_is_valid(const char *uuid)
{
    size_t i;

    if (uuid == NULL || strlen(uuid) != 36)
        return 0;
    for (i = 0; i < 36; i++) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (uuid[i] != '-')
                return 0;
        } else if (!((uuid[i] >= '0' && uuid[i] <= '9') ||
                     (uuid[i] >= 'a' && uuid[i] <= 'f') ||
                     (uuid[i] >= 'A' && uuid[i] <= 'F'))) {
            return 0;
        }
    }
    return 1;
}

/* ---- the libvirt event loop ---- */

static pthread_mutex_t loop_lock = PTHREAD_MUTEX_INITIALIZER;
static int loop_registered;      /* virEventRegisterDefaultImpl done */
static int loop_users;           /* open connections */
static pthread_t loop_thread;
static atomic_int loop_quit;
static atomic_bool loop_failed;  /* the thread stopped on an error: no more events */

static void *run_event_loop(void *arg)
{
    (void)arg;
    while (!atomic_load(&loop_quit)) {
        if (virEventRunDefaultImpl() < 0) {
            atomic_store(&loop_failed, true);
            log_warn("libvirt: the event loop stopped: %s", virGetLastErrorMessage());
            break;
        }
    }
    return NULL;
}

bool event_loop_failed(void)
{
    return atomic_load(&loop_failed);
}

/* A timer that fires at once, to make virEventRunDefaultImpl return. */
static void wake_event_loop(int timer, void *opaque)
{
    (void)timer;
    (void)opaque;
}

static int start_event_loop(struct cimi_error *err)
{
    int ret = 0;

    pthread_mutex_lock(&loop_lock);
    if (!loop_registered) {
        if (virEventRegisterDefaultImpl() < 0) {
            ret = libvirt_fail(err);
            goto done;
        }
        loop_registered = 1;
    }
    if (loop_users == 0) {
        atomic_store(&loop_quit, 0);
        if (pthread_create(&loop_thread, NULL, run_event_loop, NULL) != 0) {
            ret = err_set(err, 500, NULL, "cannot start the libvirt event loop thread");
            goto done;
        }
    }
    loop_users++;
done:
    pthread_mutex_unlock(&loop_lock);
    return ret;
}

static void stop_event_loop(void)
{
    int timer;

    pthread_mutex_lock(&loop_lock);
    loop_users--;
    if (loop_users == 0) {
        atomic_store(&loop_quit, 1);
        timer = virEventAddTimeout(0, wake_event_loop, NULL, NULL);
        pthread_join(loop_thread, NULL);
        if (timer >= 0)
            virEventRemoveTimeout(timer);
    }
    pthread_mutex_unlock(&loop_lock);
}

/* ---- connection ---- */

/* The storage directory of a QEMU host. */
static void storage_dir_of(const char *uri, const struct hv_options *options, char *out,
                           size_t len)
{
    char *root = embed_root_of(uri);

    if (options != NULL && options->storage_dir != NULL)
        snprintf(out, len, "%s", options->storage_dir);
    else if (root != NULL)
        snprintf(out, len, "%s/storage", root);
    else
        snprintf(out, len, "%s", DEFAULT_STORAGE_DIR);
    xmlFree(root);
}

/* Can guests of this host lock their memory?  libvirt raises a guest's
 * RLIMIT_MEMLOCK, which needs the right to raise hard limits
 * (CAP_SYS_RESOURCE): an embedded driver has cimid's own rights, which some
 * containers lack.  A daemon (qemu:///system, remote) is trusted to have it. */
static bool can_lock_memory(const char *uri)
{
    struct rlimit limit;
    char *root = embed_root_of(uri);
    bool embedded = root != NULL;

    xmlFree(root);
    if (!embedded)
        return true;
    if (getrlimit(RLIMIT_MEMLOCK, &limit) != 0)
        return false;
    if (limit.rlim_max == RLIM_INFINITY)
        return true;
    limit.rlim_max = RLIM_INFINITY;
    return setrlimit(RLIMIT_MEMLOCK, &limit) == 0;
}

/* Whether libvirt reaches uri through its remote driver: a transport in the
 * scheme ("test+unix://", "qemu+ssh://") or a host name ("qemu://h/system"). */
static bool uri_is_remote(const char *uri)
{
    const char *sep = strstr(uri, "://");

    if (sep == NULL)
        return false;
    return memchr(uri, '+', (size_t)(sep - uri)) != NULL || (sep[3] != '/' && sep[3] != '\0');
}

/* Whether uri names a hypervisor on this machine (no host name: embedded,
 * or a local daemon, also through "+unix"): its guests see cimid's files. */
static bool uri_is_this_machine(const char *uri)
{
    const char *sep = strstr(uri, "://");

    return sep != NULL && sep[3] == '/';
}

/* Decide which kind of hypervisor the connection reached, and prepare it. */
static int classify_connection(struct hv *hv, const char *uri, const struct hv_options *options,
                               struct cimi_error *err)
{
    const char *type = virConnectGetType(hv->conn);

    if (type == NULL)
        return libvirt_fail(err);
    if (strcasecmp(type, "test") == 0) {
        hv->is_test = true;
        hv->domain_type = "test";
        /* The mock boots nothing, but images are checked as on QEMU, and
         * downloaded images need a home. */
        storage_allow_images_from(options ? options->images_dir : NULL);
        if (options != NULL && options->storage_dir != NULL) {
            snprintf(hv->storage_dir, sizeof(hv->storage_dir), "%s", options->storage_dir);
            return storage_prepare(hv->storage_dir, err);
        }
        return 0;
    }
    if (strcasecmp(type, "qemu") == 0) {
        storage_dir_of(uri, options, hv->storage_dir, sizeof(hv->storage_dir));
        if (storage_prepare(hv->storage_dir, err) != 0)
            return -1;
        storage_allow_images_from(options ? options->images_dir : NULL);
        hv->domain_type = accel_choose(hv->conn, options ? options->accel : NULL,
                                       hv->storage_dir, options ? options->probe_dir : NULL);
        hv->guest_uid = hv->guest_gid = -1;
        if (uri_is_this_machine(uri))
            reach_guest_account(hv->conn, hv->domain_type, &hv->guest_uid, &hv->guest_gid);
        hv->lock_memory = can_lock_memory(uri);
        if (!hv->lock_memory)
            log_warn("hypervisor: %s: guest memory cannot be locked here (cimid may not raise "
                     "RLIMIT_MEMLOCK: no CAP_SYS_RESOURCE); dedicated machines get their own "
                     "CPUs, not locked memory", uri);
        return 0;
    }
    return err_set(err, 500, NULL, "hypervisor type %s is not supported", type);
}

static struct hv *lv_open(const char *uri, const struct hv_options *options,
                          struct cimi_error *err)
{
    struct hv *hv;

    /* libvirt's own log lines (the embedded QEMU driver prints to stderr,
     * even for a lookup that finds nothing) would break cimid's one line per
     * event; its errors reach cimid's log through the API anyway.  A user
     * who sets LIBVIRT_LOG_OUTPUTS keeps it. */
    setenv("LIBVIRT_LOG_OUTPUTS", "4:file:/dev/null", 0);
    if (virInitialize() < 0) {
        err_set(err, 500, NULL, "libvirt: cannot initialize");
        return NULL;
    }
    virSetErrorFunc(NULL, ignore_libvirt_error);
    if (embed_prepare(uri, err) < 0)
        return NULL;
    hv = calloc(1, sizeof(*hv));
    if (hv == NULL) {
        err_set(err, 500, NULL, "out of memory");
        return NULL;
    }
    if (start_event_loop(err) < 0) {
        free(hv);
        return NULL;
    }
    hv->conn = virConnectOpen(uri);
    if (hv->conn == NULL) {
        libvirt_fail(err);
        goto failed;
    }
    virConnSetErrorFunc(hv->conn, NULL, ignore_libvirt_error);
    hv->remote = uri_is_remote(uri);
    if (classify_connection(hv, uri, options, err) < 0) {
        virConnectClose(hv->conn);
        goto failed;
    }
    states_open(hv);
    return hv;
failed:
    stop_event_loop();
    free(hv);
    return NULL;
}

static void lv_close(struct hv *hv)
{
    if (hv == NULL)
        return;
    states_close(hv);
    virConnectClose(hv->conn);
    stop_event_loop();
    free(hv);
}

/* ---- domains and their states ---- */

/* Look the domain up; NULL with err 404 if there is none. */
virDomainPtr domain_lookup(struct hv *hv, const char *uuid, struct cimi_error *err)
{
    virDomainPtr dom;

    if (!uuid_is_valid(uuid)) {
        not_found(uuid != NULL ? uuid : "(null)", err);
        return NULL;
    }
    dom = virDomainLookupByUUIDString(hv->conn, uuid);
    if (dom == NULL) {
        if (last_error_code() == VIR_ERR_NO_DOMAIN)
            not_found(uuid, err);
        else
            libvirt_fail(err);
    }
    return dom;
}

/* A shut-off domain with a managed-save image is "saved". */
static int shutoff_state(virDomainPtr dom, enum hv_state *state, struct cimi_error *err)
{
    int saved = virDomainHasManagedSaveImage(dom, 0);

    if (saved < 0)
        return libvirt_fail(err);
    *state = saved ? HV_SAVED : HV_SHUTOFF;
    return 0;
}

int domain_state(virDomainPtr dom, enum hv_state *state, struct cimi_error *err)
{
    int raw, reason;

    if (virDomainGetState(dom, &raw, &reason, 0) < 0)
        return libvirt_fail(err);
    switch (raw) {
    case VIR_DOMAIN_RUNNING:
    case VIR_DOMAIN_BLOCKED:
        *state = HV_RUNNING;
        return 0;
    case VIR_DOMAIN_PAUSED:
        *state = HV_PAUSED;
        return 0;
    case VIR_DOMAIN_SHUTOFF:
        return shutoff_state(dom, state, err);
    case VIR_DOMAIN_SHUTDOWN:
        *state = HV_SHUTTING_DOWN;
        return 0;
    case VIR_DOMAIN_CRASHED:
        *state = HV_CRASHED;
        return 0;
    case VIR_DOMAIN_PMSUSPENDED:
        *state = HV_SAVED;
        return 0;
    default:
        *state = HV_UNKNOWN;
        return 0;
    }
}

/* Whether the domain is in the state `need` asks for: 1 yes, 0 no, -1 error. */
static int state_allows(virDomainPtr dom, enum need need, struct cimi_error *err)
{
    int raw, reason, active;

    if (need == NEED_NOTHING)
        return 1;
    if (need == NEED_ACTIVE || need == NEED_INACTIVE) {
        active = virDomainIsActive(dom);
        if (active < 0)
            return libvirt_fail(err);
        return need == NEED_ACTIVE ? active : !active;
    }
    if (virDomainGetState(dom, &raw, &reason, 0) < 0)
        return libvirt_fail(err);
    if (need == NEED_PAUSED)
        return raw == VIR_DOMAIN_PAUSED;
    return raw == VIR_DOMAIN_RUNNING || raw == VIR_DOMAIN_BLOCKED;
}

static const char *need_text(enum need need)
{
    switch (need) {
    case NEED_ACTIVE:
        return "a running or paused";
    case NEED_INACTIVE:
        return "a stopped";
    case NEED_RUNNING:
        return "a running";
    case NEED_PAUSED:
        return "a paused";
    case NEED_NOTHING:
        break;
    }
    return "any";
}

/* 0 if the domain may undergo `op`, else -1 with err 409 naming its state. */
static int check_state(virDomainPtr dom, const char *uuid, const char *op,
                       enum need need, struct cimi_error *err)
{
    enum hv_state state;
    int ok = state_allows(dom, need, err);

    if (ok != 0)
        return ok > 0 ? 0 : -1;
    if (domain_state(dom, &state, err) < 0)
        return -1;
    return err_set(err, 409, NULL, "machine %s is %s; %s needs %s machine",
                   uuid, hv_state_name(state), op, need_text(need));
}

/* ---- define ---- */

static int check_spec(const struct hv_machine_spec *spec, struct cimi_error *err)
{
    size_t i;
    const char *a;

    if (!uuid_is_valid(spec->uuid))
        return err_set(err, 500, NULL, "invalid machine uuid '%s'", spec->uuid);
    if (spec->cpu < 1)
        return err_set(err, 400, "cpu", "cpu must be at least 1 (got %d)", spec->cpu);
    if (spec->memory_kib <= 0)
        return err_set(err, 400, "memory", "memory must be positive (got %lld)", spec->memory_kib);
    if (spec->ndisks > HV_MAX_DISKS)
        return err_set(err, 400, "disks", "at most %d disks are supported", HV_MAX_DISKS);
    if (!xmlCheckUTF8((const xmlChar *)spec->name))
        return err_set(err, 400, "name", "name is not valid UTF-8");
    for (a = spec->cpu_arch; *a != '\0'; a++) {
        if (!((*a >= 'a' && *a <= 'z') || (*a >= '0' && *a <= '9') || *a == '_'))
            return err_set(err, 400, "cpuArch", "invalid cpuArch '%s'", spec->cpu_arch);
    }
    for (i = 0; i < spec->ndisks; i++) {
        if (spec->disks[i].capacity_kb < 0)
            return err_set(err, 400, "disks", "disk %zu has a negative capacity", i);
        if (spec->disks[i].slot < 0 || spec->disks[i].slot >= HV_MAX_DISKS)
            return err_set(err, 500, NULL, "disk %zu has no device (slot %d)", i,
                           spec->disks[i].slot);
    }
    if (spec->dedicated && spec->cpu > HV_MAX_VCPUS)
        return err_set(err, 400, "cpu", "at most %d dedicated CPUs", HV_MAX_VCPUS);
    for (i = 0; spec->dedicated && i < (size_t)spec->cpu; i++) {
        if (spec->pinned[i] < 0)
            return err_set(err, 500, NULL, "vCPU %zu has no physical CPU", i);
    }
    return 0;
}

/* Can this host's guests reach the image a disk is made on (reach.c)? */
int guest_reaches_image(struct hv *hv, const char *image_location, struct cimi_error *err)
{
    char image[1024];

    if (hv->guest_uid <= 0 || image_location == NULL || image_location[0] == '\0')
        return 0;
    if (storage_image_file(image_location, image, sizeof(image), err) != 0)
        return -1;
    return reach_check_chain("image", image, hv->guest_uid, hv->guest_gid, err);
}

/* ... and the machine's disk in the storage directory? */
static int guest_reaches_disk(struct hv *hv, const char *uuid, struct cimi_error *err)
{
    char disk[1100];

    storage_disk_path(hv->storage_dir, uuid, 0, disk, sizeof(disk));
    return reach_check("disk", disk, hv->guest_uid, hv->guest_gid, err);
}

static int lv_define(struct hv *hv, const struct hv_machine_spec *spec, struct cimi_error *err)
{
    virDomainPtr dom;
    char *xml;

    if (check_spec(spec, err) < 0)
        return -1;
    dom = virDomainLookupByUUIDString(hv->conn, spec->uuid);
    if (dom != NULL) {
        virDomainFree(dom);
        return 0;
    }
    if (last_error_code() != VIR_ERR_NO_DOMAIN)
        return libvirt_fail(err);
    if (!hv->is_test && (guest_reaches_image(hv, spec->image_location, err) != 0 ||
                         storage_create_machine(hv->storage_dir, spec, err) != 0))
        return -1;
    if (!hv->is_test && guest_reaches_disk(hv, spec->uuid, err) != 0)
        goto failed;
    xml = domain_xml(hv, spec, err);
    if (xml == NULL)
        goto failed;
    dom = virDomainDefineXML(hv->conn, xml);
    free(xml);
    if (dom == NULL) {
        libvirt_fail(err);
        goto failed;
    }
    states_note(hv, dom);
    virDomainFree(dom);
    return 0;
failed:
    if (!hv->is_test)
        storage_remove_machine(hv->storage_dir, spec->uuid);
    return -1;
}

/* ---- undefine ---- */

/* Undefine with the most thorough flags the driver accepts (the test driver,
 * for one, rejects VIR_DOMAIN_UNDEFINE_NVRAM). */
static int undefine_domain(virDomainPtr dom, struct cimi_error *err)
{
    static const unsigned int attempts[] = {
        VIR_DOMAIN_UNDEFINE_MANAGED_SAVE | VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA |
            VIR_DOMAIN_UNDEFINE_NVRAM,
        VIR_DOMAIN_UNDEFINE_MANAGED_SAVE | VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA,
        VIR_DOMAIN_UNDEFINE_MANAGED_SAVE,
        0,
    };
    size_t i;
    int code;

    for (i = 0; i < sizeof(attempts) / sizeof(attempts[0]); i++) {
        if (virDomainUndefineFlags(dom, attempts[i]) == 0)
            return 0;
        code = last_error_code();
        if (code == VIR_ERR_NO_DOMAIN)
            return 0;  /* someone else removed it meanwhile */
        if (code != VIR_ERR_INVALID_ARG && code != VIR_ERR_NO_SUPPORT)
            break;
    }
    return libvirt_fail(err);
}

/* Power the domain off if it is active. */
static int destroy_if_active(virDomainPtr dom, struct cimi_error *err)
{
    int active = virDomainIsActive(dom);

    if (active < 0)
        return libvirt_fail(err);
    if (!active || virDomainDestroy(dom) == 0)
        return 0;
    /* It may have stopped by itself between the two calls. */
    active = virDomainIsActive(dom);
    if (active == 0)
        return 0;
    return libvirt_fail(err);
}

static int lv_undefine(struct hv *hv, const char *uuid, struct cimi_error *err)
{
    virDomainPtr dom;
    int ret;

    if (!uuid_is_valid(uuid))
        return 0;  /* no domain can have it */
    dom = virDomainLookupByUUIDString(hv->conn, uuid);
    if (dom == NULL && last_error_code() == VIR_ERR_NO_DOMAIN) {
        if (!hv->is_test)
            storage_remove_machine(hv->storage_dir, uuid);  /* left by a crash */
        return 0;
    }
    if (dom == NULL)
        return libvirt_fail(err);
    ret = destroy_if_active(dom, err);
    if (ret == 0)
        ret = undefine_domain(dom, err);
    virDomainFree(dom);
    states_note_uuid(hv, uuid);
    if (ret == 0 && !hv->is_test)
        storage_remove_machine(hv->storage_dir, uuid);
    return ret;
}

/* ---- queries ---- */

static int lv_exists(struct hv *hv, const char *uuid, struct cimi_error *err)
{
    virDomainPtr dom;

    if (!uuid_is_valid(uuid))
        return 0;
    dom = virDomainLookupByUUIDString(hv->conn, uuid);
    if (dom != NULL) {
        virDomainFree(dom);
        return 1;
    }
    if (last_error_code() == VIR_ERR_NO_DOMAIN)
        return 0;
    return libvirt_fail(err);
}

static int lv_get_state(struct hv *hv, const char *uuid, enum hv_state *state,
                        struct cimi_error *err)
{
    return states_get(hv, uuid, state, err);
}

/* ---- actions ---- */

typedef int (*domain_call)(virDomainPtr dom);

static int call_reboot(virDomainPtr dom)
{
    return virDomainReboot(dom, 0);
}

static int call_reset(virDomainPtr dom)
{
    return virDomainReset(dom, 0);
}

static int call_managed_save(virDomainPtr dom)
{
    return virDomainManagedSave(dom, 0);
}

/* Look the domain up, check its state allows op, and do it. */
static int run_action(struct hv *hv, const char *uuid, const char *op, enum need need,
                      domain_call call, struct cimi_error *err)
{
    virDomainPtr dom = domain_lookup(hv, uuid, err);
    int ret;

    if (dom == NULL)
        return -1;
    ret = check_state(dom, uuid, op, need, err);
    if (ret == 0) {
        if (call(dom) < 0)
            ret = libvirt_fail(err);
        states_note(hv, dom);  /* even after a failure: something may have changed */
    }
    virDomainFree(dom);
    return ret;
}

static int lv_start(struct hv *hv, const char *uuid, struct cimi_error *err)
{
    /* virDomainCreate restores a managed-save image when there is one. */
    return run_action(hv, uuid, "start", NEED_INACTIVE, virDomainCreate, err);
}

static int lv_shutdown(struct hv *hv, const char *uuid, struct cimi_error *err)
{
    return run_action(hv, uuid, "shutdown", NEED_ACTIVE, virDomainShutdown, err);
}

static int lv_destroy(struct hv *hv, const char *uuid, struct cimi_error *err)
{
    return run_action(hv, uuid, "destroy", NEED_ACTIVE, virDomainDestroy, err);
}

static int lv_reboot(struct hv *hv, const char *uuid, struct cimi_error *err)
{
    return run_action(hv, uuid, "reboot", NEED_ACTIVE, call_reboot, err);
}

static int lv_reset(struct hv *hv, const char *uuid, struct cimi_error *err)
{
    return run_action(hv, uuid, "reset", NEED_ACTIVE, call_reset, err);
}

static int lv_pause(struct hv *hv, const char *uuid, struct cimi_error *err)
{
    return run_action(hv, uuid, "pause", NEED_RUNNING, virDomainSuspend, err);
}

static int lv_resume(struct hv *hv, const char *uuid, struct cimi_error *err)
{
    return run_action(hv, uuid, "resume", NEED_PAUSED, virDomainResume, err);
}

static int lv_save(struct hv *hv, const char *uuid, struct cimi_error *err)
{
    return run_action(hv, uuid, "save", NEED_ACTIVE, call_managed_save, err);
}

/* ---- images ---- */

static int lv_check_image(struct hv *hv, const char *location, struct cimi_error *err)
{
    char path[1024];

    if (hv->is_test)
        return 0;  /* the mock boots nothing */
    return storage_image_file(location, path, sizeof(path), err);
}

/* ---- endpoints ---- */

/* The forwarded ports recorded in cimid's metadata ("22:40022,80:40080"). */
static size_t forwarded_ports(virDomainPtr dom, struct hv_endpoint *out, size_t max)
{
    char *meta = virDomainGetMetadata(dom, VIR_DOMAIN_METADATA_ELEMENT, CIMID_NS_URI, 0);
    xmlDocPtr doc;
    xmlChar *ports;
    size_t n = 0;

    if (meta == NULL)
        return 0;
    doc = xmlReadMemory(meta, (int)strlen(meta), NULL, NULL, XML_PARSE_NONET | XML_PARSE_NOERROR);
    free(meta);
    if (doc == NULL)
        return 0;
    ports = xmlGetProp(xmlDocGetRootElement(doc), BAD_CAST "ports");
    for (char *p = (char *)ports; p != NULL && *p != '\0' && n < max;) {
        int guest, host, used = 0;
        if (sscanf(p, "%d:%d%n", &guest, &host, &used) != 2)
            break;
        snprintf(out[n].protocol, sizeof(out[n].protocol), "tcp");
        snprintf(out[n].address, sizeof(out[n].address), "127.0.0.1");
        out[n].guest_port = guest;
        out[n].port = host;
        n++;
        p += used;
        if (*p == ',')
            p++;
    }
    xmlFree(ports);
    xmlFreeDoc(doc);
    return n;
}

/* The VNC console of a running domain, from its live XML; 1 if found. */
static int vnc_console(virDomainPtr dom, struct hv_endpoint *out)
{
    char *xml = virDomainGetXMLDesc(dom, 0);
    xmlDocPtr doc;
    int found = 0;

    if (xml == NULL)
        return 0;
    doc = xmlReadMemory(xml, (int)strlen(xml), NULL, NULL, XML_PARSE_NONET | XML_PARSE_NOERROR);
    free(xml);
    if (doc == NULL)
        return 0;
    for (xmlNodePtr n = xmlDocGetRootElement(doc)->children; n != NULL; n = n->next) {
        if (n->type != XML_ELEMENT_NODE || !xmlStrEqual(n->name, BAD_CAST "devices"))
            continue;
        for (xmlNodePtr g = n->children; g != NULL && !found; g = g->next) {
            xmlChar *type, *port, *listen;
            if (g->type != XML_ELEMENT_NODE || !xmlStrEqual(g->name, BAD_CAST "graphics"))
                continue;
            type = xmlGetProp(g, BAD_CAST "type");
            port = xmlGetProp(g, BAD_CAST "port");
            listen = xmlGetProp(g, BAD_CAST "listen");
            if (type && port && xmlStrEqual(type, BAD_CAST "vnc") && atoi((char *)port) > 0) {
                snprintf(out->protocol, sizeof(out->protocol), "vnc");
                snprintf(out->address, sizeof(out->address), "%s",
                         listen ? (char *)listen : "127.0.0.1");
                out->guest_port = 0;
                out->port = atoi((char *)port);
                found = 1;
            }
            xmlFree(type);
            xmlFree(port);
            xmlFree(listen);
        }
    }
    xmlFreeDoc(doc);
    return found;
}

static int lv_endpoints(struct hv *hv, const char *uuid, struct hv_endpoint *out, size_t max,
                        struct cimi_error *err)
{
    virDomainPtr dom;
    size_t n = 0;

    if (hv->is_test || max == 0)
        return 0;
    dom = domain_lookup(hv, uuid, err);
    if (dom == NULL)
        return -1;
    if (virDomainIsActive(dom) == 1)
        n += (size_t)vnc_console(dom, &out[n]);
    n += forwarded_ports(dom, &out[n], max - n);
    virDomainFree(dom);
    return (int)n;
}

/* ---- list ---- */

/* Whether dom carries cimid's metadata element: 1, 0, or -1 with err. */
static int domain_is_ours(virDomainPtr dom, struct cimi_error *err)
{
    char *meta = virDomainGetMetadata(dom, VIR_DOMAIN_METADATA_ELEMENT, CIMID_NS_URI, 0);

    if (meta != NULL) {
        free(meta);
        return 1;
    }
    if (last_error_code() == VIR_ERR_NO_DOMAIN_METADATA)
        return 0;
    return libvirt_fail(err);
}

/* The UUID of dom in canonical form into out (37 bytes); -1 on error.
 * (virDomainGetUUIDString formats with g_snprintf, twice as dear.) */
static int domain_uuid(virDomainPtr dom, char *out)
{
    unsigned char raw[VIR_UUID_BUFLEN];

    if (virDomainGetUUID(dom, raw) < 0)
        return -1;
    state_uuid_format(raw, out);
    return 0;
}

/* Fill info for dom (its owner too when with_owner): 1 filled, 0 domain
 * vanished meanwhile, -1 error. */
static int describe_domain(virDomainPtr dom, bool with_owner, struct hv_machine_info *info,
                           struct cimi_error *err)
{
    int owned = 0;

    if (domain_uuid(dom, info->uuid) < 0)
        return libvirt_fail(err);
    if (domain_state(dom, &info->state, err) < 0)
        goto failed;
    if (with_owner)
        owned = domain_is_ours(dom, err);
    if (owned < 0)
        goto failed;
    info->owned = owned == 1;
    return 1;
failed:
    if (last_error_code() != VIR_ERR_NO_DOMAIN)
        return -1;
    err_clear(err);
    return 0;
}

/* Listings by state, filtered inside libvirt; HV_UNKNOWN: the other states,
 * asked domain by domain (domain_state classifies them). */
static const struct {
    unsigned int flags;
    enum hv_state state;
} state_listings[] = {
    {VIR_CONNECT_LIST_DOMAINS_RUNNING, HV_RUNNING},
    {VIR_CONNECT_LIST_DOMAINS_PAUSED, HV_PAUSED},
    {VIR_CONNECT_LIST_DOMAINS_SHUTOFF | VIR_CONNECT_LIST_DOMAINS_NO_MANAGEDSAVE, HV_SHUTOFF},
    {VIR_CONNECT_LIST_DOMAINS_SHUTOFF | VIR_CONNECT_LIST_DOMAINS_MANAGEDSAVE, HV_SAVED},
    {VIR_CONNECT_LIST_DOMAINS_OTHER, HV_UNKNOWN},
};

/* Append the domains of one state listing to *out (*filled of *cap). */
static int list_in_state(struct hv *hv, unsigned int flags, enum hv_state state,
                         struct hv_machine_info **out, size_t *filled, size_t *cap,
                         struct cimi_error *err)
{
    virDomainPtr *doms = NULL;
    int n = virConnectListAllDomains(hv->conn, &doms, flags);
    int ret = 0;

    if (n < 0)
        return libvirt_fail(err);
    if (*filled + (size_t)n + 1 > *cap) {
        size_t bigger = *filled + (size_t)n + 64;
        struct hv_machine_info *more = realloc(*out, bigger * sizeof(**out));
        if (more == NULL)
            ret = err_set(err, 500, NULL, "out of memory");
        else {
            *out = more;
            *cap = bigger;
        }
    }
    for (int i = 0; i < n; i++) {
        struct hv_machine_info *info = ret == 0 ? &(*out)[*filled] : NULL;
        if (info != NULL && domain_uuid(doms[i], info->uuid) == 0) {
            info->owned = false;
            info->state = state;
            if (state != HV_UNKNOWN || domain_state(doms[i], &info->state, err) == 0)
                (*filled)++;
            else if (last_error_code() == VIR_ERR_NO_DOMAIN)
                err_clear(err);  /* gone meanwhile */
            else
                ret = -1;
        }
        virDomainFree(doms[i]);
    }
    free(doms);
    return ret;
}

/* Every domain with its state from five listings filtered by state inside
 * libvirt: five round trips over a remote connection, where asking each
 * domain its state is one round trip per domain (20 s for 100,000). */
static int list_states_filtered(struct hv *hv, struct hv_machine_info **out,
                                struct cimi_error *err)
{
    size_t filled = 0, cap = 0;

    *out = NULL;
    for (size_t i = 0; i < sizeof(state_listings) / sizeof(state_listings[0]); i++) {
        if (list_in_state(hv, state_listings[i].flags, state_listings[i].state, out, &filled,
                          &cap, err) != 0) {
            free(*out);
            *out = NULL;
            return -1;
        }
    }
    if (*out == NULL && (*out = calloc(1, sizeof(**out))) == NULL)
        return err_set(err, 500, NULL, "out of memory");
    return (int)filled;
}

/* Every domain with its state (and owner).  Over a remote connection
 * without owners: listings filtered by state (list_states_filtered).
 * Otherwise one unfiltered listing, then each domain's state (and owner)
 * from the handle it returned: in-process that is cheap, and libvirt drops
 * the domains a filter rejects from its array one at a time
 * (virDomainObjListFilter), which is quadratic; with 100,000 domains the five
 * filtered listings took seconds, this takes half a second on test:///default.
 * (Over the remote protocol a listing holds at most 16,384 domains anyway.) */
int list_domains(struct hv *hv, bool with_owner, struct hv_machine_info **out,
                 struct cimi_error *err)
{
    virDomainPtr *doms = NULL;
    int n, i, r;
    size_t filled = 0;
    int ret = 0;

    if (hv->remote && !with_owner)
        return list_states_filtered(hv, out, err);
    *out = NULL;
    n = virConnectListAllDomains(hv->conn, &doms, 0);
    if (n < 0)
        return libvirt_fail(err);
    *out = calloc(n > 0 ? (size_t)n : 1, sizeof(**out));
    if (*out == NULL)
        ret = err_set(err, 500, NULL, "out of memory");
    for (i = 0; i < n; i++) {
        if (ret == 0) {
            r = describe_domain(doms[i], with_owner, &(*out)[filled], err);
            if (r < 0)
                ret = -1;
            else
                filled += (size_t)r;
        }
        virDomainFree(doms[i]);
    }
    free(doms);
    if (ret < 0) {
        free(*out);
        *out = NULL;
        return -1;
    }
    return (int)filled;
}

/* The UUIDs alone: one listing, and virDomainGetUUID reads the handle
 * (over a remote connection that is one round trip, not one per domain). */
static int lv_list_uuids(struct hv *hv, struct hv_machine_info **out, struct cimi_error *err)
{
    virDomainPtr *doms = NULL;
    int n, i, filled = 0;

    *out = NULL;
    n = virConnectListAllDomains(hv->conn, &doms, 0);
    if (n < 0)
        return libvirt_fail(err);
    *out = calloc(n > 0 ? (size_t)n : 1, sizeof(**out));
    for (i = 0; i < n; i++) {
        if (*out != NULL && domain_uuid(doms[i], (*out)[filled].uuid) == 0)
            filled++;
        virDomainFree(doms[i]);
    }
    free(doms);
    if (*out == NULL)
        return err_set(err, 500, NULL, "out of memory");
    return filled;
}

/* Without owners the states come from states.c's table. */
static int lv_list(struct hv *hv, bool with_owner, struct hv_machine_info **out,
                   struct cimi_error *err)
{
    int n = with_owner ? STATES_ASK_LIBVIRT : states_list(hv, out, err);

    return n != STATES_ASK_LIBVIRT ? n : list_domains(hv, with_owner, out, err);
}

/* ---- the host ---- */

static int lv_node_info(struct hv *hv, struct hv_node *out, struct cimi_error *err)
{
    virNodeInfo info;

    if (virNodeGetInfo(hv->conn, &info) < 0)
        return libvirt_fail(err);
    out->cpus = (int)info.cpus;
    out->memory_kib = (long long)info.memory;
    return 0;
}

static bool lv_alive(struct hv *hv)
{
    unsigned long version;

    /* IsAlive only notices a dead remote connection once its socket closed;
     * a call makes sure. */
    return virConnectIsAlive(hv->conn) == 1 && virConnectGetLibVersion(hv->conn, &version) == 0;
}

static bool lv_ephemeral(struct hv *hv)
{
    return hv->is_test;
}

const struct driver driver_libvirt = {
    .name = "libvirt",
    .open = lv_open,
    .close = lv_close,
    .define = lv_define,
    .undefine = lv_undefine,
    .exists = lv_exists,
    .get_state = lv_get_state,
    .states_in_memory = states_in_memory,
    .get_known_states = states_get_known,
    .start = lv_start,
    .shutdown = lv_shutdown,
    .destroy = lv_destroy,
    .reboot = lv_reboot,
    .reset = lv_reset,
    .pause = lv_pause,
    .resume = lv_resume,
    .save = lv_save,
    .capture = lv_capture,
    .check_image = lv_check_image,
    .endpoints = lv_endpoints,
    .list = lv_list,
    .list_uuids = lv_list_uuids,
    .node_info = lv_node_info,
    .alive = lv_alive,
    .ephemeral = lv_ephemeral,
    .volume_create = lv_volume_create,
    .volume_delete = lv_volume_delete,
    .volume_resize = lv_volume_resize,
    .volume_snapshot = lv_volume_snapshot,
    .volume_attach = lv_volume_attach,
    .set_resources = lv_set_resources,
    .disk_add = lv_disk_add,
    .disk_remove = lv_disk_remove,
    .volume_detach = lv_volume_detach,
    .image_import = lv_image_import,
    .image_delete = lv_image_delete,
    .snapshot_create = lv_snapshot_create,
    .snapshot_revert = lv_snapshot_revert,
    .snapshot_delete = lv_snapshot_delete,
    /* networks: network.c */
    .network_supported = lv_network_supported,
    .network_define = lv_network_define,
    .network_set_active = lv_network_set_active,
    .network_is_active = lv_network_is_active,
    .network_undefine = lv_network_undefine,
    .interface_attach = lv_interface_attach,
    .interface_detach = lv_interface_detach,
};
