/*
 * local.h - what the parts of the libvirt driver share (internal to
 * src/driver): the connection state, preparing an embed root, the files a
 * QEMU machine uses (storage.c), its domain XML (domain_xml.c), volumes
 * (volume.c) and the choice between KVM and TCG (accel.c).
 */
#ifndef CIMID_DRIVER_LOCAL_H
#define CIMID_DRIVER_LOCAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include <libvirt/libvirt.h>

#include "driver/driver.h"

#define CIMID_NS_URI "http://cimid.dev/ns/1"
#define CIMID_NS_PREFIX "cimid"

/* Guest ports reachable from the host through user-mode networking. */
#define HV_FORWARDED_GUEST_PORTS {22, 80}

struct hv {
    virConnectPtr conn;
    bool is_test;              /* libvirt's test driver (no real guests) */
    bool remote;               /* reached through libvirt's remote driver (a round trip per call) */
    const char *domain_type;   /* <domain type='...'>: "test", "kvm" or "qemu" */
    char storage_dir[1024];    /* QEMU: where disks, config drives and images live */
    bool lock_memory;          /* QEMU: guests may lock their memory (dedicated machines) */
    long guest_uid, guest_gid; /* local QEMU: the account guests run as (-1: unknown) */
    struct domain_states *states;  /* states.c: the domains' states, or NULL */
};

/* ---- embed.c ---- */

/* The decoded root= of a qemu:///embed URI (caller frees), or NULL. */
char *embed_root_of(const char *uri);
/* For qemu:///embed?root=DIR: DIR/etc/qemu.conf and the QEMU user/group. */
int embed_prepare(const char *uri, struct cimi_error *err);
/* Can a child process make a private mount namespace with "/" a slave
 * mount, as libvirt does for each guest (qemu.conf `namespaces`)? */
bool embed_mount_namespaces_work(void);
/* mkdir -p (path is modified temporarily). */
int make_dirs(char *path, struct cimi_error *err);

/* ---- reach.c ---- */

/* The uid:gid libvirt runs guests of domain_type as on conn (its DAC base
 * label), or -1:-1 when it does not say. */
void reach_guest_account(virConnectPtr conn, const char *domain_type, long *uid, long *gid);
/* Can guests running as uid:gid reach path (every directory on the way)?
 * 409 naming the directory that stops them otherwise; always 0 for root
 * guests, or when cimid is not root (it cannot take that account). */
int reach_check(const char *what, const char *path, long uid, long gid, struct cimi_error *err);
/* reach_check of path and of the backing files of a qcow2 image there. */
int reach_check_chain(const char *what, const char *path, long uid, long gid,
                      struct cimi_error *err);
/* reach_check_chain of the image a location names, for hv's guests (libvirt.c). */
int guest_reaches_image(struct hv *hv, const char *image_location, struct cimi_error *err);

/* ---- storage.c ---- */

int storage_prepare(const char *dir, struct cimi_error *err);
/* Allow images under dir (the images directory); storage_prepare allows its own. */
void storage_allow_images_from(const char *dir);
/* The local file an image location names ("file:///x" or "/x"), which must
 * exist; -1 with err 400 otherwise. */
int storage_image_file(const char *location, char *path, size_t len, struct cimi_error *err);
/* Create the machine's disks (disk 0 a copy-on-write overlay of its image)
 * and its config drive when it has userData; existing files are kept. */
int storage_create_machine(const char *dir, const struct hv_machine_spec *spec,
                           struct cimi_error *err);
void storage_disk_path(const char *dir, const char *uuid, size_t index, char *out, size_t len);
void storage_config_drive_path(const char *dir, const char *uuid, char *out, size_t len);
void storage_console_path(const char *dir, const char *uuid, char *out, size_t len);
/* Copy disk 0 into a standalone qcow2 image; its location into out.  in_use:
 * the disk belongs to a (paused) QEMU that holds its lock (qemu-img -U). */
int storage_capture(const char *dir, const char *uuid, const char *image_uuid, bool in_use,
                    char *out, size_t len, struct cimi_error *err);
void storage_volume_path(const char *dir, const char *uuid, char *out, size_t len);
/* A volume (see driver.h volume_create); an existing one is kept. */
int storage_create_volume(const char *dir, const char *uuid, long long *capacity_kb,
                          const char *image_location, struct cimi_error *err);
/* Grow a volume no process uses (qemu-img resize). */
int storage_resize_volume(const char *dir, const char *uuid, long long capacity_kb,
                          struct cimi_error *err);
/* Copy a volume into a standalone qcow2 image; its location into out. */
int storage_snapshot_volume(const char *dir, const char *uuid, const char *image_uuid, char *out,
                            size_t len, struct cimi_error *err);
int storage_remove_volume(const char *dir, const char *uuid, struct cimi_error *err);
/* A blank qcow2 disk `slot` of the machine (an existing one is kept), and
 * its removal (a missing one is fine). */
int storage_create_disk(const char *dir, const char *uuid, int slot, long long capacity_kb,
                        struct cimi_error *err);
int storage_remove_disk(const char *dir, const char *uuid, int slot, struct cimi_error *err);
/* Remove every file of the machine. */
void storage_remove_machine(const char *dir, const char *uuid);
/* Image <uuid> from what fill writes (see driver.h image_import); only a
 * standalone qcow2 or a raw image is kept, as images/<uuid>.qcow2 or .img. */
int storage_import_image(const char *dir, const char *uuid, hv_image_fill_fn fill, void *arg,
                         char *out, size_t len, struct cimi_error *err);
/* Remove the image files of <uuid> (imported or captured); missing is success. */
int storage_remove_image(const char *dir, const char *uuid, struct cimi_error *err);

/* ---- overlay.c ---- */

/* A qcow2 overlay at path on image (a local file of the given format,
 * "qcow2" or "raw") of size_kb KiB: qemu-img's output, copied from the last
 * one made on the same unchanged image and size when there is one. */
int overlay_create(const char *path, const char *image, const char *format, long long size_kb,
                   struct cimi_error *err);

/* ---- domain_xml.c ---- */

/* The domain XML for spec (malloc'ed), NULL when out of memory.  For QEMU
 * the forwarded host ports are chosen here (free loopback ports). */
char *domain_xml(const struct hv *hv, const struct hv_machine_spec *spec, struct cimi_error *err);
/* Write s as XML character data. */
void put_xml_text(FILE *f, const char *s);
/* A qcow2 file attached as the virtio disk target ("vdb"). */
void put_disk(FILE *f, const char *path, const char *target);
/* The <disk> element alone (malloc'ed), NULL when out of memory. */
char *disk_xml(const char *path, const char *target);

/* ---- libvirt.c, for volume.c ---- */

/* Prefix of the pseudo image locations of the test driver ("cimid-image:<uuid>"). */
#define TEST_IMAGE_PREFIX "cimid-image:"

/* 8-4-4-4-12 hexadecimal digits? */
int uuid_is_valid(const char *uuid);
/* This thread's last libvirt error into err; returns -1. */
int libvirt_fail(struct cimi_error *err);
/* The domain of a machine; NULL with err 404 if there is none. */
virDomainPtr domain_lookup(struct hv *hv, const char *uuid, struct cimi_error *err);
/* The state of dom, asked from libvirt. */
int domain_state(virDomainPtr dom, enum hv_state *state, struct cimi_error *err);
/* Every domain with its state, asked from libvirt (see driver.h list). */
int list_domains(struct hv *hv, bool with_owner, struct hv_machine_info **out,
                 struct cimi_error *err);
/* Whether libvirt's event loop thread stopped on an error (no more events). */
bool event_loop_failed(void);

/* ---- states.c: the domains' states kept in memory (fed by events) ---- */

/* states_list's answer when it cannot answer: ask libvirt. */
#define STATES_ASK_LIBVIRT (-2)

/* Register for the connection's lifecycle events and seed the table; on
 * failure the connection asks libvirt at every read (logged). */
void states_open(struct hv *hv);
void states_close(struct hv *hv);
/* The driver's states_in_memory: whether the table can be trusted now. */
bool states_in_memory(struct hv *hv);
/* The driver's get_state: from the table, or asked (and then kept). */
int states_get(struct hv *hv, const char *uuid, enum hv_state *state, struct cimi_error *err);
/* The driver's get_known_states. */
void states_get_known(struct hv *hv, const char *const *uuids, size_t n, enum hv_state *states,
                      bool *known);
/* The driver's list without owners, from the table; STATES_ASK_LIBVIRT when
 * the table cannot be trusted. */
int states_list(struct hv *hv, struct hv_machine_info **out, struct cimi_error *err);
/* After cimid changed a domain (right after libvirt returned, before the
 * Job records the outcome): read its state into the table. */
void states_note(struct hv *hv, virDomainPtr dom);
/* The same for a domain known by its UUID (it may be gone). */
void states_note_uuid(struct hv *hv, const char *uuid);

/* ---- volume.c: the volume functions of struct driver ---- */

int lv_volume_create(struct hv *hv, const char *uuid, long long *capacity_kb,
                     const char *image_location, struct cimi_error *err);
int lv_volume_delete(struct hv *hv, const char *uuid, struct cimi_error *err);
int lv_volume_resize(struct hv *hv, const char *uuid, long long capacity_kb,
                     const char *machine_uuid, struct cimi_error *err);
int lv_volume_snapshot(struct hv *hv, const char *uuid, const char *machine_uuid,
                       const char *image_uuid, char *location, size_t location_len,
                       struct cimi_error *err);
int lv_volume_attach(struct hv *hv, const char *machine_uuid, const char *uuid,
                     const char *target, struct cimi_error *err);
int lv_volume_detach(struct hv *hv, const char *machine_uuid, const char *uuid,
                     struct cimi_error *err);

/* ---- volume.c, for disk.c: a disk file attached as virtio device target
 * (persistent definition and, while the domain runs, live), and detached
 * again (waiting until the guest let it go).  Idempotent. ---- */

int disk_file_attach(virDomainPtr dom, const char *machine_uuid, const char *path,
                     const char *target, struct cimi_error *err);
int disk_file_detach(virDomainPtr dom, const char *path, struct cimi_error *err);

/* ---- disk.c: the driver's disk_add and disk_remove ---- */

int lv_disk_add(struct hv *hv, const char *machine_uuid, int slot, long long capacity_kb,
                struct cimi_error *err);
int lv_disk_remove(struct hv *hv, const char *machine_uuid, int slot, struct cimi_error *err);

/* ---- capture.c: the driver's capture ---- */

int lv_capture(struct hv *hv, const char *uuid, const char *image_uuid, char *location,
               size_t location_len, struct cimi_error *err);

/* ---- resize.c: the driver's set_resources ---- */

int lv_set_resources(struct hv *hv, const char *uuid, int cpu, long long memory_kib,
                     struct cimi_error *err);

/* ---- image.c: images cimid keeps and libvirt snapshots (struct driver) ---- */

int lv_image_import(struct hv *hv, const char *image_uuid, hv_image_fill_fn fill, void *arg,
                    char *location, size_t location_len, struct cimi_error *err);
int lv_image_delete(struct hv *hv, const char *image_uuid, struct cimi_error *err);
int lv_snapshot_create(struct hv *hv, const char *uuid, const char *snapshot,
                       struct cimi_error *err);
int lv_snapshot_revert(struct hv *hv, const char *uuid, const char *snapshot,
                       struct cimi_error *err);
int lv_snapshot_delete(struct hv *hv, const char *uuid, const char *snapshot,
                       struct cimi_error *err);
/* ---- network.c: the network functions of struct driver ---- */

bool lv_network_supported(struct hv *hv);
int lv_network_define(struct hv *hv, const struct hv_network_spec *spec, struct cimi_error *err);
int lv_network_set_active(struct hv *hv, const char *uuid, bool active, struct cimi_error *err);
int lv_network_is_active(struct hv *hv, const char *uuid, bool *active, struct cimi_error *err);
int lv_network_undefine(struct hv *hv, const char *uuid, struct cimi_error *err);
int lv_interface_attach(struct hv *hv, const char *machine_uuid, const struct hv_interface *nic,
                        struct cimi_error *err);
int lv_interface_detach(struct hv *hv, const char *machine_uuid, const struct hv_interface *nic,
                        struct cimi_error *err);

/* ---- accel.c ---- */

/* "kvm" or "qemu" (TCG) for new QEMU domains, per the setting
 * ("auto", "kvm", "tcg"); auto checks that a KVM guest really boots. */
const char *accel_choose(virConnectPtr conn, const char *setting, const char *storage_dir,
                         const char *probe_dir);

#endif
