/*
 * test_outside.c - a Machine's state is libvirt's truth, also after a change
 * made outside cimid.
 *
 * libvirt's test driver keeps its machines inside the process that opened
 * it, so no other program can touch cimid's machines there.  This test
 * therefore runs cimid's request layer in-process (cimi_handle(), no HTTP),
 * opens its own second libvirt connection to the same test node, changes a
 * domain behind cimid's back, and checks what a GET reports.  The driver
 * keeps states in memory, fed by libvirt's events (driver/states.c), so an
 * outside change shows within moments, not at once: the GETs poll.
 */
#include <libvirt/libvirt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "auth/auth.h"
#include "check.h"
#include "cimi/request.h"
#include "driver/driver.h"
#include "jobs/jobs.h"
#include "hosts/hosts.h"
#include "resources/resource.h"
#include "store/store.h"

#define BASE "http://test/cimi/"

static struct cimi_request make_request(struct store *st, const char *method, const char *path,
                                        const char *body)
{
    struct cimi_request req;

    memset(&req, 0, sizeof(req));
    req.method = method;
    req.path = path;
    snprintf(req.base_uri, sizeof(req.base_uri), BASE);
    cimi_query_init(&req.query);
    req.body = body;
    req.body_len = body ? strlen(body) : 0;
    req.in = &codec_json;
    snprintf(req.who.name, sizeof(req.who.name), "alice");
    snprintf(req.who.tenant, sizeof(req.who.tenant), "a");
    req.st = st;
    return req;
}

/* Run one request; returns the status and (if wanted) the document. */
static int call(struct store *st, const char *method, const char *path, const char *body,
                json_t **doc)
{
    struct cimi_request req = make_request(st, method, path, body);
    struct cimi_response resp;
    int status;

    memset(&resp, 0, sizeof(resp));
    cimi_handle(&req, &resp);
    cimi_query_free(&req.query);
    status = resp.status;
    if (doc)
        *doc = resp.doc;
    else
        json_decref(resp.doc);
    return status;
}

static const char *state_of(struct store *st, const char *path, char *buf, size_t len)
{
    json_t *doc = NULL;

    buf[0] = '\0';
    if (call(st, "GET", path, NULL, &doc) == 200)
        snprintf(buf, len, "%s", json_string_value(json_object_get(doc, "state")) ?: "");
    json_decref(doc);
    return buf;
}

/* Wait until the machine leaves its transitional state. */
static const char *settled_state(struct store *st, const char *path, char *buf, size_t len)
{
    for (int i = 0; i < 500; i++) {
        state_of(st, path, buf, len);
        if (strcmp(buf, "CREATING") != 0 && strcmp(buf, "STARTING") != 0)
            return buf;
        usleep(10000);
    }
    return buf;
}

/* Poll (up to 10 s) until the machine shows want; the last state seen. */
static const char *wait_state(struct store *st, const char *path, const char *want, char *buf,
                              size_t len)
{
    for (int i = 0; i < 1000; i++) {
        if (strcmp(state_of(st, path, buf, len), want) == 0)
            return buf;
        usleep(10000);
    }
    return buf;
}

int main(void)
{
    char dir[] = "/tmp/cimid-outside-XXXXXX", db[256], state[32], path[256];
    struct cimi_error err;
    struct store *st;
    json_t *doc = NULL;
    const char *id;
    virConnectPtr outside;
    virDomainPtr dom;
    int status;

    if (mkdtemp(dir) == NULL)
        return 1;
    snprintf(db, sizeof(db), "%s/cimid.db", dir);
    store_configure(&store_sqlite, db);
    st = store_for_thread(&err);
    CHECK(st != NULL, "store opens");
    CHECK(resource_seed(st, &err) == 0, "shipped resources seeded");
    CHECK(host_open_all(st, "test:///default", NULL, &err) == 0, "hypervisor opens");
    CHECK(jobs_start(&(struct jobs_config){1, 1, 100, 60}, resource_job_kinds) == 0, "job workers start");

    status = call(st, "POST", "machines",
                  "{\"name\": \"outside\", \"machineTemplate\": {\"href\": \"" BASE
                  "machineTemplates/small-debian\", \"initialState\": \"STARTED\"}}",
                  &doc);
    /* 201 when its Job ended within the reply's short wait, else 202 */
    CHECK(status == 201 || status == 202, "machine created (%d)", status);
    id = json_string_value(json_object_get(doc, "id"));
    snprintf(path, sizeof(path), "%s", id ? id + strlen(BASE) : "");
    json_decref(doc);
    CHECK(strcmp(settled_state(st, path, state, sizeof(state)), "STARTED") == 0,
          "machine reaches STARTED (%s)", state);

    /* A second connection to the same test node: an administrator with virsh. */
    outside = virConnectOpen("test:///default");
    CHECK(outside != NULL, "second libvirt connection");
    dom = outside ? virDomainLookupByUUIDString(outside, strrchr(path, '/') + 1) : NULL;
    CHECK(dom != NULL, "the machine is a libvirt domain with the Machine's UUID");

    CHECK(dom && virDomainSuspend(dom) == 0, "paused outside cimid");
    CHECK(strcmp(wait_state(st, path, "PAUSED", state, sizeof(state)), "PAUSED") == 0,
          "GET shows PAUSED after an outside pause (%s)", state);
    CHECK(call(st, "POST", "machines/x/pause", "{}", NULL) == 404, "unknown machine -> 404");

    CHECK(dom && virDomainDestroy(dom) == 0, "powered off outside cimid");
    CHECK(strcmp(wait_state(st, path, "STOPPED", state, sizeof(state)), "STOPPED") == 0,
          "GET shows STOPPED after an outside power-off (%s)", state);
    {
        char start_path[300];
        snprintf(start_path, sizeof(start_path), "%s/start", path);
        CHECK(call(st, "POST", start_path, "{}", NULL) == 202,
              "start is allowed again: cimid follows the truth");
    }
    CHECK(strcmp(settled_state(st, path, state, sizeof(state)), "STARTED") == 0,
          "started again through cimid (%s)", state);

    CHECK(dom && virDomainDestroy(dom) == 0 && virDomainUndefine(dom) == 0,
          "removed outside cimid");
    CHECK(strcmp(wait_state(st, path, "ERROR", state, sizeof(state)), "ERROR") == 0,
          "GET shows ERROR for a machine the hypervisor lost (%s)", state);

    if (dom)
        virDomainFree(dom);
    if (outside)
        virConnectClose(outside);
    jobs_shutdown(5);
    hosts_close_all();
    store_release_thread();
    {
        char cmd[300];
        snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
        if (system(cmd) != 0)
            fprintf(stderr, "could not remove %s\n", dir);
    }
    return check_summary();
}
