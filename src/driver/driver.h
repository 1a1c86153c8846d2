/*
 * driver.h - the hypervisor interface.
 *
 * Like libvirt's own driver tables: a hypervisor is a struct of function
 * pointers, and nothing above src/driver/ knows which one it talks to (or
 * that libvirt exists).  Machines are named by their UUID, which is also the
 * id of the CIMI Machine, so a machine can never be defined twice.
 *
 * All functions are thread-safe and return 0 on success, -1 with err set
 * (status 500 for hypervisor failures, 404 when the domain does not exist,
 * 409 when the domain is not in a state that allows the call).
 */
#ifndef CIMID_DRIVER_H
#define CIMID_DRIVER_H

#include <stdbool.h>
#include <stddef.h>

#include "util/error.h"

/* Runtime state as the hypervisor sees it. */
enum hv_state {
    HV_UNKNOWN = 0,
    HV_RUNNING,      /* running or blocked */
    HV_PAUSED,       /* paused in memory */
    HV_SHUTOFF,      /* defined, not running, no saved state */
    HV_SAVED,        /* not running, has a managed-save image (CIMI SUSPENDED) */
    HV_SHUTTING_DOWN,
    HV_CRASHED,
};

struct hv_disk {
    long long capacity_kb;       /* size in KiB */
    char format[32];             /* filesystem hint from the configuration (ext4, ...) */
    char initial_location[64];   /* guest device hint (/dev/vda), may be "" */
    int slot;                    /* its device vd('a'+slot) and file number; disk 0 boots */
};

#define HV_MAX_DISKS 8
#define HV_MAX_VCPUS 256

/* What is needed to define a machine. */
struct hv_machine_spec {
    char uuid[37];               /* canonical 8-4-4-4-12 lower-case form */
    char name[128];              /* human name (used in the domain's <title>) */
    int cpu;                     /* vCPUs, >= 1 */
    long long memory_kib;        /* KiB, > 0 */
    char cpu_arch[32];           /* "x86_64" etc., "" = host default */
    size_t ndisks;
    struct hv_disk disks[HV_MAX_DISKS];
    char image_location[1024];   /* source image path/URI for the first disk, may be "" */
    const char *user_data;       /* base64 userData for the config drive, or NULL (not owned) */
    bool dedicated;              /* vCPU i runs only on physical CPU pinned[i]; memory locked */
    int pinned[HV_MAX_VCPUS];    /* with dedicated: the physical CPU of each vCPU */
};

/* What a host offers (virNodeGetInfo). */
struct hv_node {
    int cpus;                    /* physical CPUs (threads) */
    long long memory_kib;        /* physical memory */
};

/* How to reach a running machine from the host. */
#define HV_MAX_ENDPOINTS 4
struct hv_endpoint {
    char protocol[8];            /* "vnc" or "tcp" */
    int guest_port;              /* tcp: the guest's port; vnc: 0 */
    char address[48];            /* host address to connect to */
    int port;                    /* host port */
};

/* One machine the hypervisor knows about (for reconciliation). */
struct hv_machine_info {
    char uuid[37];
    enum hv_state state;
    bool owned;                  /* defined by cimid (carries cimid's metadata) */
};

/* ---- networks ---- */

/* A private IPv4 network: an isolated bridge with the gateway address and a
 * DHCP range, named by the CIMI Network's UUID. */
struct hv_network_spec {
    char uuid[37];
    char bridge[16];             /* Linux bridge name ("cimibr3") */
    char gateway[16];            /* the host's address on it ("10.128.3.1") */
    char netmask[16];            /* "255.255.255.0" */
    char dhcp_start[16], dhcp_end[16];
    int mtu;                     /* 0 = default */
};

/* One interface of a machine on a network, with the address it is given. */
struct hv_interface {
    char network_uuid[37];
    char mac[18];                /* "52:54:00:xx:xx:xx" */
    char ip[16];                 /* reserved for mac in the network's DHCP ("" = none) */
};

struct hv;  /* an open connection, private to the driver */

/* Writes a new image's bytes into the file at path (image_import). */
typedef int (*hv_image_fill_fn)(const char *path, void *arg, struct cimi_error *err);

/* Settings of a host; NULL members take defaults. */
struct hv_options {
    const char *accel;        /* QEMU: "auto" (default: KVM when a guest really boots under
                                 it, else TCG), "kvm" or "tcg" */
    const char *storage_dir;  /* QEMU: disks, config drives and captured images
                                 (default: ROOT/storage for qemu:///embed?root=ROOT,
                                 /var/lib/cimid/storage otherwise); test: downloaded
                                 images (none by default) */
    const char *probe_dir;    /* QEMU: a directory with vmlinuz and initrd.img used to check
                                 that a KVM guest boots (auto); none = TCG */
    const char *images_dir;   /* QEMU: images may be read from here (and the storage dir) */
};

struct driver {
    const char *name;  /* "libvirt" */

    /* Open the hypervisor at uri ("test:///default", "qemu:///embed?root=..."). */
    struct hv *(*open)(const char *uri, const struct hv_options *options, struct cimi_error *err);
    void (*close)(struct hv *hv);

    /* Define (persistently) a machine; idempotent: an existing domain with the
     * same UUID is left as it is and 0 is returned. */
    int (*define)(struct hv *hv, const struct hv_machine_spec *spec, struct cimi_error *err);
    /* Remove a machine: power off if running, drop managed-save and storage
     * created for it, undefine.  Idempotent: a missing domain is success. */
    int (*undefine)(struct hv *hv, const char *uuid, struct cimi_error *err);
    /* Whether a machine with this UUID exists. 1 = yes, 0 = no, -1 = error. */
    int (*exists)(struct hv *hv, const char *uuid, struct cimi_error *err);

    /* The machine's state.  Answered from memory when states_in_memory
     * says so (the driver keeps every machine's state current, including
     * changes made outside cimid, which show within moments); the state a
     * call of this driver produced shows as soon as that call returned. */
    int (*get_state)(struct hv *hv, const char *uuid, enum hv_state *state, struct cimi_error *err);
    /* Whether get_state answers from memory now (no call to the host): then
     * asking machine by machine costs less than one list. */
    bool (*states_in_memory)(struct hv *hv);
    /* What get_state would answer from memory for n machines at once
     * (a collection read of 100,000 asks in batches: one lock, the
     * memory of all of them fetched together): known[i] says whether
     * states[i] was found; the caller asks get_state for the others.
     * NULL = no states kept in memory. */
    void (*get_known_states)(struct hv *hv, const char *const *uuids, size_t n,
                             enum hv_state *states, bool *known);

    int (*start)(struct hv *hv, const char *uuid, struct cimi_error *err);    /* power on, or restore managed save */
    int (*shutdown)(struct hv *hv, const char *uuid, struct cimi_error *err); /* ask the guest (ACPI); returns at once */
    int (*destroy)(struct hv *hv, const char *uuid, struct cimi_error *err);  /* power off */
    int (*reboot)(struct hv *hv, const char *uuid, struct cimi_error *err);   /* ask the guest to reboot */
    int (*reset)(struct hv *hv, const char *uuid, struct cimi_error *err);    /* hard reset */
    int (*pause)(struct hv *hv, const char *uuid, struct cimi_error *err);    /* suspend vCPUs, RAM kept */
    int (*resume)(struct hv *hv, const char *uuid, struct cimi_error *err);   /* from pause */
    int (*save)(struct hv *hv, const char *uuid, struct cimi_error *err);     /* managed save: state to disk, stops */

    /* Give a stopped machine cpu vCPUs and memory_kib KiB (its persistent
     * definition: the next start runs with them); 409 unless it is shut off
     * (a running machine has no room to grow into, a suspended one would not
     * restore). */
    int (*set_resources)(struct hv *hv, const char *uuid, int cpu, long long memory_kib,
                         struct cimi_error *err);

    /* Copy the machine's first disk into a standalone image (a running one
     * is paused for the copy and resumed; capture.c); writes the new image's
     * location (path or URI) into location. */
    int (*capture)(struct hv *hv, const char *uuid, const char *image_uuid,
                   char *location, size_t location_len, struct cimi_error *err);

    /* Can machines boot from this image location? -1 with err 400 if not. */
    int (*check_image)(struct hv *hv, const char *location, struct cimi_error *err);

    /* The endpoints of a machine (VNC console when running, forwarded
     * ports); returns how many were filled, or -1. */
    int (*endpoints)(struct hv *hv, const char *uuid, struct hv_endpoint *out, size_t max,
                     struct cimi_error *err);

    /* List every machine the hypervisor has, with its state (and whether
     * cimid owns it when with_owner: one more call per machine), in one
     * listing: *out is a new array in no particular order (free() it).
     * Without owners, from memory when states_in_memory.  Returns how many,
     * or -1. */
    int (*list)(struct hv *hv, bool with_owner, struct hv_machine_info **out,
                struct cimi_error *err);
    /* Only the UUIDs of every machine the hypervisor has (state HV_UNKNOWN),
     * from one listing with no call per machine: reconciliation compares
     * them with the store.  *out is a new array (free() it).  Returns how
     * many, or -1. */
    int (*list_uuids)(struct hv *hv, struct hv_machine_info **out, struct cimi_error *err);

    /* The host's CPUs and memory. */
    int (*node_info)(struct hv *hv, struct hv_node *out, struct cimi_error *err);
    /* Whether the connection still reaches the host (a cheap round trip). */
    bool (*alive)(struct hv *hv);
    /* Whether the host forgets its machines when the connection ends
     * (libvirt's test driver): cimid then defines them again from the store. */
    bool (*ephemeral)(struct hv *hv);

    /* ---- volumes: storage that machines attach, named by UUID (the CIMI
     * Volume's).  The test driver keeps no storage and cannot attach
     * devices: there these calls only check their arguments (and that the
     * machine exists), and the CIMI side records the change. ---- */

    /* Create a volume of *capacity_kb KiB, a copy-on-write overlay of the
     * image at image_location unless that is "" (the volume is then at least
     * as large as the image: *capacity_kb says how large).  Idempotent. */
    int (*volume_create)(struct hv *hv, const char *uuid, long long *capacity_kb,
                         const char *image_location, struct cimi_error *err);
    /* Remove a volume's storage; a missing volume is success. */
    int (*volume_delete)(struct hv *hv, const char *uuid, struct cimi_error *err);
    /* Grow a volume to capacity_kb; machine_uuid names the machine it is
     * attached to (resized live while that one runs), or is NULL. */
    int (*volume_resize)(struct hv *hv, const char *uuid, long long capacity_kb,
                         const char *machine_uuid, struct cimi_error *err);
    /* Copy a volume into a standalone image; the image's location into
     * location.  409 while the machine it is attached to (machine_uuid, or
     * NULL) runs. */
    int (*volume_snapshot)(struct hv *hv, const char *uuid, const char *machine_uuid,
                           const char *image_uuid, char *location, size_t location_len,
                           struct cimi_error *err);
    /* Attach a volume to a machine as the virtio disk `target` ("vdb"): to
     * its persistent definition and, while it runs, live (hot-plug).
     * Idempotent; 409 when another disk uses target. */
    int (*volume_attach)(struct hv *hv, const char *machine_uuid, const char *uuid,
                         const char *target, struct cimi_error *err);
    /* Detach it from the definition and, live, wait until the guest let it
     * go.  Idempotent: a volume not attached is success. */
    int (*volume_detach)(struct hv *hv, const char *machine_uuid, const char *uuid,
                         struct cimi_error *err);

    /* ---- a machine's own disks (not volumes): disk `slot` is the virtio
     * device vd('a'+slot); added to and removed from the persistent
     * definition and, while the machine runs, live.  The test driver keeps
     * no storage and cannot attach: there only the machine's existence is
     * checked and cimid's record (the spec a re-definition uses) is the
     * change. ---- */

    /* Give the machine a new blank disk of capacity_kb KiB; idempotent. */
    int (*disk_add)(struct hv *hv, const char *machine_uuid, int slot, long long capacity_kb,
                    struct cimi_error *err);
    /* Detach disk slot and remove its file; a missing one is success. */
    int (*disk_remove)(struct hv *hv, const char *machine_uuid, int slot, struct cimi_error *err);

    /* ---- images cimid keeps in the host's storage (downloads), named by
     * the MachineImage's UUID ---- */

    /* Make image image_uuid from what fill writes to the path it is given;
     * it is kept only when it is a standalone qcow2 or a raw disk image
     * (400 otherwise); its location into location.  Idempotent: an image
     * made already is kept and fill is not called.  409 when the host keeps
     * no image files (test:///default without --storage-dir). */
    int (*image_import)(struct hv *hv, const char *image_uuid, hv_image_fill_fn fill, void *arg,
                        char *location, size_t location_len, struct cimi_error *err);
    /* Remove the files cimid made for image_uuid (downloaded or captured);
     * none is success. */
    int (*image_delete)(struct hv *hv, const char *image_uuid, struct cimi_error *err);

    /* ---- snapshots: libvirt snapshots of a machine, named by the UUID of
     * their SNAPSHOT MachineImage (QEMU: internal qcow2 snapshots, with the
     * memory when the machine runs) ---- */

    /* Take one; idempotent (an existing snapshot of that name is kept). */
    int (*snapshot_create)(struct hv *hv, const char *uuid, const char *snapshot,
                           struct cimi_error *err);
    /* Bring the machine back to it (disks, and state: running or not); 404
     * when the machine or the snapshot does not exist. */
    int (*snapshot_revert)(struct hv *hv, const char *uuid, const char *snapshot,
                           struct cimi_error *err);
    /* Remove it; a missing machine or snapshot is success. */
    int (*snapshot_delete)(struct hv *hv, const char *uuid, const char *snapshot,
                           struct cimi_error *err);
    /* ---- networks (driver/network.c): libvirt networks named by UUID.
     * Hosts without a libvirt network driver (qemu:///embed) have none:
     * network_supported says so and the other calls fail with 409. ---- */

    /* Does the host have a network driver? */
    bool (*network_supported)(struct hv *hv);
    /* Define the network (persistently); idempotent. */
    int (*network_define)(struct hv *hv, const struct hv_network_spec *spec,
                          struct cimi_error *err);
    /* Start (active true) or stop it; idempotent. */
    int (*network_set_active)(struct hv *hv, const char *uuid, bool active,
                              struct cimi_error *err);
    /* Is it active? 404 when the host has no such network. */
    int (*network_is_active)(struct hv *hv, const char *uuid, bool *active,
                             struct cimi_error *err);
    /* Stop and undefine it; a missing network is success. */
    int (*network_undefine)(struct hv *hv, const char *uuid, struct cimi_error *err);
    /* Give a machine an interface on a network: the DHCP reservation of
     * nic->ip for nic->mac in the network, and <interface type='network'> in
     * the machine's persistent definition and, while it runs, live
     * (hot-plug; the test driver cannot hot-plug: there only the definition
     * changes).  Idempotent. */
    int (*interface_attach)(struct hv *hv, const char *machine_uuid,
                            const struct hv_interface *nic, struct cimi_error *err);
    /* Take it away again (machine_uuid NULL: only the DHCP reservation, for
     * a machine that is gone).  Idempotent. */
    int (*interface_detach)(struct hv *hv, const char *machine_uuid,
                            const struct hv_interface *nic, struct cimi_error *err);
};

extern const struct driver driver_libvirt;

const char *hv_state_name(enum hv_state s);

#endif
