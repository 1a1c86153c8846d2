/*
 * system_create.c - SystemCreate: a System and all its members built from
 * a SystemTemplate in the request's transaction (system_build).
 *
 * Every member is made by its own type's create hook (MachineCreate,
 * VolumeCreate, ... built from the componentDescriptor), so the checks a
 * lone create does apply, and a bad member is a 400/409 of the whole
 * request with nothing stored.  Members are made kind by kind in
 * dependency order (credentials, networks, volumes, forwarding groups,
 * ports, addresses, machines), nested Systems first as rows of their own
 * whose members join the same kinds: the "#name" references of a template
 * by value are then replaced by the ids of the siblings made before.  Each
 * member's Job becomes a nested Job (step) of the System's one Job, in a
 * stage per kind (a kind's steps run a few at once); the steps are fan-out
 * steps, so the System's own job kind (system_jobs.c) sees every outcome
 * and, when one failed, turns the System into its delete.  A member row
 * (systems/{id}/machines/{n}) says {"child": true}.
 */
#include <stdio.h>
#include <string.h>

#include "cimi/validate.h"
#include "resources/system.h"

/* Steps of one stage run at most this many at once. */
#define SYSTEM_STEPS_AT_ONCE 4

/* One System being built: its row and template, and the ids made from
 * each named descriptor ("web" -> ["machines/..", "machines/.."]). */
struct scope {
    struct store_row system;
    json_t *descriptors;
    json_t *made;
};

struct build {
    struct cimi_request *req;
    struct job_spec *job;
    struct scope scopes[64];
    size_t nscopes;
    long members;
};

static void build_free(struct build *b)
{
    for (size_t i = 0; i < b->nscopes; i++) {
        json_decref(b->scopes[i].descriptors);
        json_decref(b->scopes[i].made);
        /* scope 0's row is the caller's */
        if (i > 0)
            store_row_clear(&b->scopes[i].system);
    }
}

/* Prefix err's message with where in the template it happened. */
static int in_component(struct cimi_error *err, const json_t *d, const char *member_name)
{
    char message[sizeof(err->message)];
    const char *name = json_string_value(json_object_get(d, "name"));

    snprintf(message, sizeof(message), "component '%s'%s%s: %s", name ? name : "(unnamed)",
             member_name[0] && name && strcmp(name, member_name) ? " member " : "",
             member_name[0] && name && strcmp(name, member_name) ? member_name : "",
             err->message);
    snprintf(err->message, sizeof(err->message), "%s", message);
    return -1;
}

/* Replace the "#name" hrefs of value by the ids of member i of sibling name. */
static void substitute_refs(json_t *value, const json_t *made, long i)
{
    const char *key;
    json_t *v;
    size_t n;

    if (json_is_array(value)) {
        json_array_foreach(value, n, v)
            substitute_refs(v, made, i);
        return;
    }
    if (!json_is_object(value))
        return;
    json_object_foreach(value, key, v) {
        const char *s = json_string_value(v);
        if (strcmp(key, "href") == 0 && s != NULL && s[0] == '#') {
            json_t *ids = json_object_get(made, s + 1);
            json_t *id = json_array_get(ids, json_array_size(ids) > 1 ? (size_t)i : 0);
            if (id != NULL)
                json_object_set(value, key, id);
        } else {
            substitute_refs(v, made, i);
        }
    }
}

/* The member row naming id in the scope's sub-collection of kind k, made
 * from descriptor d (its start order and delays kept for the System's
 * operations: system_startup.c). */
static int link_member(struct cimi_request *req, const struct scope *s,
                       const struct system_member_kind *k, const json_t *d, const char *id,
                       const char *name, struct cimi_error *err)
{
    static const char *const startup[] = {"startOrder", "startDelay", "stopDelay", NULL};
    struct store_row link;
    int rc;

    memset(&link, 0, sizeof(link));
    if (resource_new_child(req->st, &s->system, k->collection, k->item, &link, err) != 0)
        return -1;
    if (name[0])
        json_object_set_new(link.doc, "name", json_string(name));
    json_object_set_new(link.doc, k->ref, json_pack("{s:s}", "href", id));
    json_object_set_new(link.priv, "child", json_true());
    for (size_t i = 0; startup[i]; i++)
        if (json_is_integer(json_object_get(d, startup[i])))
            json_object_set(link.priv, startup[i], json_object_get(d, startup[i]));
    rc = req->st->ops->insert(req->st, &link, err);
    store_row_clear(&link);
    return rc;
}

static void remember(struct scope *s, const json_t *d, const char *id)
{
    const char *name = json_string_value(json_object_get(d, "name"));
    json_t *ids;

    if (name == NULL)
        return;
    ids = json_object_get(s->made, name);
    if (ids == NULL) {
        ids = json_array();
        json_object_set_new(s->made, name, ids);
    }
    json_array_append_new(ids, json_string(id));
}

/* The create document of member i of descriptor d (kind k). */
static json_t *member_input(const struct scope *s, const json_t *d,
                            const struct system_member_kind *k, long i, const char *name)
{
    json_t *input = json_object(), *value = json_deep_copy(json_object_get(d, k->template_attr));

    if (name[0])
        json_object_set_new(input, "name", json_string(name));
    if (json_object_get(d, "description"))
        json_object_set(input, "description", json_object_get(d, "description"));
    if (json_object_get(d, "properties"))
        json_object_set(input, "properties", json_object_get(d, "properties"));
    substitute_refs(value, s->made, i);
    json_object_set_new(input, k->template_attr, value);
    return input;
}

/* Make member i of descriptor d with its type's create hook; its Job (if
 * any) becomes a step of the System's in the kind's stage. */
static int build_member(struct build *b, struct scope *s, const json_t *d,
                        const struct system_member_kind *k, long i, int stage,
                        struct cimi_error *err)
{
    const struct resource_ops *ro = resource_ops_of(k->member);
    struct cimi_request *req = b->req;
    struct job_spec spec;
    struct store_row row;
    char name[128];
    json_t *input;
    int rc = -1;

    system_component_member_name(d, i, name, sizeof(name));
    input = member_input(s, d, k, i, name);
    memset(&row, 0, sizeof(row));
    job_spec_init(&spec);
    snprintf(spec.tenant, sizeof(spec.tenant), "%s", s->system.tenant);
    if (validate_document(input, k->create_type, VALIDATE_CREATE, err) != 0 ||
        (ro->check && ro->check(req, input, err) != 0) ||
        ro->create(req, input, &row, &spec, err) != 0)
        goto out;
    if (spec.steps != NULL) {
        err_set(err, 500, NULL, "a %s create with nested Jobs cannot be part of a System",
                k->member->name);
        goto abort;
    }
    if (req->st->ops->insert(req->st, &row, err) != 0)
        goto abort;
    json_object_set_new(req->building, row.id, json_true());
    if (link_member(req, s, k, d, row.id, name, err) != 0)
        goto abort;  /* not listed yet: system_abort_members would miss it */
    remember(s, d, row.id);
    if (spec.op[0]) {
        snprintf(spec.action, sizeof(spec.action), "add");
        snprintf(spec.target, sizeof(spec.target), "%s", k->member->cep_attr);
        snprintf(spec.created, sizeof(spec.created), "%s", row.id);
        if (job_spec_add_step_in_stage(b->job, &spec, stage) != 0) {
            err_set(err, 500, NULL, "out of memory");
            goto out;
        }
    }
    rc = 0;
    goto out;
abort:
    if (ro->abort_create)
        ro->abort_create(req, &row);
out:
    if (rc != 0)
        in_component(err, d, name);
    json_decref(input);
    store_row_clear(&row);
    job_spec_clear(&spec);
    return rc;
}

static int add_scope(struct build *b, const struct store_row *system, const json_t *tmpl,
                     int depth, struct cimi_error *err);

/* Member i of descriptor d of scope s is a nested System: its row, its
 * member row in s, and its own scope. */
static int build_nested(struct build *b, struct scope *s, const json_t *d, long i, int depth,
                        struct cimi_error *err)
{
    struct cimi_request *req = b->req;
    const struct system_member_kind *k = system_member_kind_of(&t_system);
    struct store_row row;
    char name[128], path[256];
    json_t *tmpl;
    int rc = -1;

    system_component_member_name(d, i, name, sizeof(name));
    tmpl = resource_resolve(req, json_object_get(d, "systemTemplate"), &t_system_template,
                            "systemTemplate", path, sizeof(path), err);
    if (tmpl == NULL)
        return in_component(err, d, name);
    memset(&row, 0, sizeof(row));
    row.doc = member_input(s, d, k, i, name);
    json_object_del(row.doc, "systemTemplate");
    json_object_set_new(row.doc, "state", json_string("CREATING"));
    row.priv = json_object();
    if (resource_new_row(req, &t_system, &row, err) == 0 &&
        req->st->ops->insert(req->st, &row, err) == 0 &&
        link_member(req, s, k, d, row.id, name, err) == 0 &&
        add_scope(b, &row, tmpl, depth + 1, err) == 0)
        rc = 0;
    if (rc != 0 && err->message[0] && strncmp(err->message, "component", 9) != 0)
        in_component(err, d, name);
    store_row_clear(&row);
    json_decref(tmpl);
    return rc;
}

/* A System (row stored, or the caller's) and, depth first, its nested ones. */
static int add_scope(struct build *b, const struct store_row *system, const json_t *tmpl,
                     int depth, struct cimi_error *err)
{
    struct scope *s;
    const json_t *d;
    size_t i, at = b->nscopes;

    if (depth > SYSTEM_MAX_DEPTH || b->nscopes == sizeof(b->scopes) / sizeof(b->scopes[0]))
        return err_set(err, 400, "systemTemplate",
                       "SystemTemplates nest at most %d deep (and make at most %zu Systems)",
                       SYSTEM_MAX_DEPTH, sizeof(b->scopes) / sizeof(b->scopes[0]));
    if (system_template_check_components(b->req, tmpl, err) != 0)
        return -1;
    s = &b->scopes[b->nscopes++];
    memset(s, 0, sizeof(*s));
    s->system = *system;
    if (at > 0) {
        s->system.doc = json_incref(system->doc);
        s->system.priv = json_incref(system->priv);
    }
    s->descriptors = json_incref(json_object_get(tmpl, "componentDescriptors"));
    s->made = json_object();
    json_array_foreach(s->descriptors, i, d) {
        const struct system_member_kind *k = system_component_kind(d);
        long q = system_component_quantity(d);
        b->members += q;
        if (b->members > SYSTEM_MAX_MEMBERS)
            return err_set(err, 400, "systemTemplate", "a System has at most %d members",
                           SYSTEM_MAX_MEMBERS);
        for (long n = 0; k->member == &t_system && n < q; n++)
            if (build_nested(b, &b->scopes[at], d, n, depth, err) != 0)
                return -1;
    }
    return 0;
}

/* Every member of every scope, kind by kind. */
static int build_members(struct build *b, struct cimi_error *err)
{
    for (size_t k = 0; k < system_member_kind_count; k++) {
        const struct system_member_kind *kind = &system_member_kinds[k];
        if (kind->member == &t_system)
            continue;
        for (size_t n = 0; n < b->nscopes; n++) {
            struct scope *s = &b->scopes[n];
            const json_t *d;
            size_t i;
            json_array_foreach(s->descriptors, i, d) {
                if (system_component_kind(d) != kind)
                    continue;
                for (long q = 0; q < system_component_quantity(d); q++)
                    if (build_member(b, s, d, kind, q, (int)k, err) != 0)
                        return -1;
            }
        }
    }
    return 0;
}

int system_build(struct cimi_request *req, const json_t *create, struct store_row *system,
                 struct job_spec *job, struct cimi_error *err)
{
    struct build b;
    json_t *tmpl, *saved = req->building;
    char path[256];
    int rc = -1;

    tmpl = resource_resolve(req, json_object_get(create, "systemTemplate"), &t_system_template,
                            "systemTemplate", path, sizeof(path), err);
    if (tmpl == NULL)
        return -1;
    memset(&b, 0, sizeof(b));
    b.req = req;
    b.job = job;
    system->doc = json_object();
    system->priv = json_object();
    resource_copy_common(create, system->doc);
    json_object_set_new(system->doc, "state", json_string("CREATING"));
    req->building = json_object();
    if (resource_new_row(req, &t_system, system, err) == 0 &&
        add_scope(&b, system, tmpl, 1, err) == 0 && build_members(&b, err) == 0)
        rc = 0;
    if (rc != 0)
        system_abort_members(req, system->id);
    json_decref(req->building);
    req->building = saved;
    build_free(&b);
    json_decref(tmpl);
    if (rc != 0)
        return -1;
    snprintf(job->op, sizeof(job->op), "system.create");
    job->params = json_pack("{s:s}", "system", system->id);
    job->steps_fan_out = true;
    job->steps_at_once = SYSTEM_STEPS_AT_ONCE;
    return 0;
}
