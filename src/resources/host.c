/*
 * host.c - the Host resource (cimid's own type, namespace CIMID_NS): the
 * hypervisors in the pool, as administrators see and change them.
 *
 * POST /cimi/hosts {"uri": "qemu:///embed?root=/srv/h2"} connects to the
 * host before answering 201 (400 with libvirt's reason when it cannot);
 * PUT changes enabled and the overcommit ratios; DELETE removes a host that
 * has no machines left (409 otherwise).  The stored document holds what the
 * admin said; state, sizes and bookings come from the pool on every read.
 * Start-up opens every stored host (host_open_all).
 */
#include <stdio.h>
#include <string.h>

#include "hosts/hosts.h"
#include "resources/resource.h"
#include "util/clock.h"
#include "util/log.h"

static int default_memory_overcommit = 100;
static int default_cpu_overcommit = 1600;

void host_set_defaults(int memory_overcommit, int cpu_overcommit)
{
    default_memory_overcommit = memory_overcommit;
    default_cpu_overcommit = cpu_overcommit;
}

/* The settings an admin gave, from a Host document (defaults filled in). */
static void settings_of(const json_t *doc, struct host_settings *s)
{
    json_t *enabled = json_object_get(doc, "enabled");
    json_t *mem = json_object_get(doc, "memoryOvercommit");
    json_t *cpu = json_object_get(doc, "cpuOvercommit");

    memset(s, 0, sizeof(*s));
    snprintf(s->uri, sizeof(s->uri), "%s", json_string_value(json_object_get(doc, "uri")) ?: "");
    snprintf(s->accel, sizeof(s->accel), "%s",
             json_string_value(json_object_get(doc, "accel")) ?: "auto");
    s->enabled = enabled == NULL || json_is_true(enabled);
    s->memory_overcommit = mem ? (int)json_integer_value(mem) : default_memory_overcommit;
    s->cpu_overcommit = cpu ? (int)json_integer_value(cpu) : default_cpu_overcommit;
}

static int check_ratio(const json_t *doc, const char *attr, struct cimi_error *err)
{
    json_t *v = json_object_get(doc, attr);

    if (v != NULL && (!json_is_integer(v) || json_integer_value(v) < OVERCOMMIT_MIN_PCT ||
                      json_integer_value(v) > OVERCOMMIT_MAX_PCT))
        return err_set(err, 400, attr, "%s must be a percentage from %d to %d", attr,
                       OVERCOMMIT_MIN_PCT, OVERCOMMIT_MAX_PCT);
    return 0;
}

static int host_check(struct cimi_request *req, json_t *doc, struct cimi_error *err)
{
    const char *uri = json_string_value(json_object_get(doc, "uri"));
    const char *accel = json_string_value(json_object_get(doc, "accel"));

    (void)req;
    if (uri == NULL || uri[0] == '\0' || strlen(uri) >= HOST_URI_MAX || strchr(uri, ':') == NULL)
        return err_set(err, 400, "uri", "uri must be a libvirt connection URI (for example "
                                        "qemu:///system or qemu:///embed?root=/srv/cimid)");
    for (const char *p = uri; *p; p++)
        if ((unsigned char)*p <= ' ' || *p == 0x7f)
            return err_set(err, 400, "uri", "uri must not contain spaces or control characters");
    if (accel != NULL && strcmp(accel, "auto") != 0 && strcmp(accel, "kvm") != 0 &&
        strcmp(accel, "tcg") != 0)
        return err_set(err, 400, "accel", "accel must be auto, kvm or tcg");
    return check_ratio(doc, "memoryOvercommit", err) ?: check_ratio(doc, "cpuOvercommit", err);
}

static int host_create(struct cimi_request *req, json_t *input, struct store_row *row,
                       struct job_spec *job, struct cimi_error *err)
{
    struct host_settings s;

    (void)job;
    row->doc = json_deep_copy(input);
    row->priv = json_object();
    if (resource_new_row(req, &t_host, row, err) != 0)
        return -1;
    row->tenant[0] = '\0';
    settings_of(row->doc, &s);
    json_object_set_new(row->doc, "accel", json_string(s.accel));
    json_object_set_new(row->doc, "enabled", json_boolean(s.enabled));
    json_object_set_new(row->doc, "memoryOvercommit", json_integer(s.memory_overcommit));
    json_object_set_new(row->doc, "cpuOvercommit", json_integer(s.cpu_overcommit));
    return hosts_add(row->id, &s, true, err);
}

/* The request did not commit: the pool forgets the host again. */
static void host_abort_create(struct cimi_request *req, struct store_row *row)
{
    (void)req;
    hosts_remove(row->id, NULL);
}

static int host_update(struct cimi_request *req, const json_t *before, struct store_row *row,
                       struct job_spec *job, struct cimi_error *err)
{
    struct host_settings s;

    (void)req;
    (void)before;
    (void)job;
    settings_of(row->doc, &s);
    return hosts_update(row->id, &s, err);
}

static int host_remove(struct cimi_request *req, struct store_row *row, struct job_spec *job,
                       struct cimi_error *err)
{
    (void)job;
    if (hosts_remove(row->id, err) != 0)
        return -1;
    return req->st->ops->remove(req->st, row->id, err);
}

static void host_refresh(struct cimi_request *req, struct store_row *row)
{
    struct host_status hs;
    long long memory_limit, cpu_limit;

    (void)req;
    if (hosts_status(row->id, &hs, NULL) != 0) {
        json_object_set_new(row->doc, "state", json_string("ERROR"));
        json_object_set_new(row->doc, "stateMessage", json_string("not in the pool"));
        return;
    }
    json_object_set_new(row->doc, "state",
                        json_string(!hs.reachable           ? "ERROR"
                                    : hs.settings.enabled ? "AVAILABLE"
                                                          : "DISABLED"));
    if (hs.reason[0])
        json_object_set_new(row->doc, "stateMessage", json_string(hs.reason));
    else
        json_object_del(row->doc, "stateMessage");
    memory_limit = hs.memory_kib * hs.settings.memory_overcommit / 100;
    cpu_limit = (long long)hs.cpus * hs.settings.cpu_overcommit / 100;
    json_object_set_new(row->doc, "cpu", json_integer(hs.cpus));
    json_object_set_new(row->doc, "memory", json_integer(hs.memory_kib));
    json_object_set_new(row->doc, "allocatedCpu", json_integer(hs.used_vcpus));
    json_object_set_new(row->doc, "allocatedMemory", json_integer(hs.used_memory_kib));
    json_object_set_new(row->doc, "freeCpu", json_integer(cpu_limit - hs.used_vcpus));
    json_object_set_new(row->doc, "freeMemory", json_integer(memory_limit - hs.used_memory_kib));
    json_object_set_new(row->doc, "dedicatedCpu", json_integer(hs.dedicated_cpus));
    json_object_set_new(row->doc, "machineCount", json_integer(hs.machines));
}

static bool host_allowed(const struct store_row *row, const char *op)
{
    (void)row;
    return strcmp(op, "edit") == 0 || strcmp(op, "delete") == 0;
}

const struct resource_ops host_ops = {
    .admin_only = true,
    .create = host_create,
    .abort_create = host_abort_create,
    .check = host_check,
    .update = host_update,
    .remove = host_remove,
    .refresh = host_refresh,
    .allowed = host_allowed,
};

/* ---- start-up ---- */

struct open_ctx {
    const char *connect_uri;
    const char *connect_accel;
};

static int open_row(void *arg, struct store_row *row)
{
    struct open_ctx *ctx = arg;
    struct host_settings s;
    struct cimi_error err;

    settings_of(row->doc, &s);
    /* --accel applies to the --connect host. */
    if (strcmp(s.uri, ctx->connect_uri) == 0 && ctx->connect_accel != NULL)
        snprintf(s.accel, sizeof(s.accel), "%s", ctx->connect_accel);
    err_clear(&err);
    if (hosts_add(row->id, &s, false, &err) != 0)
        log_error("host: %s: %s", row->id, err.message);
    return 0;
}

int host_open_all(struct store *st, const char *connect_uri, const char *connect_accel,
                  struct cimi_error *err)
{
    struct open_ctx ctx = {connect_uri, connect_accel};
    struct host_settings s;
    struct store_row row;
    char id[HOST_ID_MAX];

    if (st->ops->list(st, "Host", NULL, NULL, open_row, &ctx, err) != 0)
        return -1;
    if (hosts_find_uri(connect_uri, id, sizeof(id)) != NULL)
        return 0;
    /* The --connect host is always in the pool, and it must answer. */
    memset(&row, 0, sizeof(row));
    row.doc = json_pack("{s:s, s:s, s:s}", "name", "default", "uri", connect_uri, "description",
                        "the host given with --connect");
    row.priv = json_object();
    if (uuid_generate_v4(id, sizeof(id)) != 0) {
        store_row_clear(&row);
        return err_set(err, 500, NULL, "cannot generate an identifier");
    }
    snprintf(row.id, sizeof(row.id), "hosts/%s", id);
    snprintf(row.type, sizeof(row.type), "Host");
    {
        char now[32];
        clock_now_iso(now, sizeof(now));
        json_object_set_new(row.doc, "created", json_string(now));
        json_object_set_new(row.doc, "updated", json_string(now));
    }
    settings_of(row.doc, &s);
    if (connect_accel != NULL)
        snprintf(s.accel, sizeof(s.accel), "%s", connect_accel);
    json_object_set_new(row.doc, "accel", json_string(s.accel));
    json_object_set_new(row.doc, "enabled", json_true());
    json_object_set_new(row.doc, "memoryOvercommit", json_integer(s.memory_overcommit));
    json_object_set_new(row.doc, "cpuOvercommit", json_integer(s.cpu_overcommit));
    if (hosts_add(row.id, &s, true, err) != 0 || st->ops->begin(st, err) != 0) {
        store_row_clear(&row);
        return -1;
    }
    if (st->ops->insert(st, &row, err) != 0 || st->ops->commit(st, err) != 0) {
        st->ops->rollback(st);
        store_row_clear(&row);
        return -1;
    }
    store_row_clear(&row);
    return 0;
}
