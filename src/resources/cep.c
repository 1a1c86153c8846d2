/*
 * cep.c - the CloudEntryPoint: the one URL a client needs.
 *
 * Computed per request: baseURI and one reference per top-level collection
 * (in schema order) under the base URI of the request; name, description
 * and properties come from the stored row "cloudEntryPoint", which an admin
 * may edit.
 */
#include <stdio.h>
#include <string.h>

#include "cimi/query.h"
#include "cimi/render.h"
#include "cimi/validate.h"
#include "jobs/jobs.h"
#include "resources/resource.h"
#include "resources/virtual.h"

#define CEP_ID "cloudEntryPoint"

static bool cep_allowed(const struct store_row *row, const char *op)
{
    (void)row;
    return strcmp(op, "edit") == 0;
}

const struct resource_ops cep_ops = {
    .provider_only = false,
    .allowed = cep_allowed,
};

json_t *cep_document(struct cimi_request *req, const struct cimi_query *q, struct cimi_error *err)
{
    struct store_row row;
    json_t *doc;
    const struct cimi_attr *a;
    char uri[768];

    memset(&row, 0, sizeof(row));
    if (req->st->ops->get(req->st, CEP_ID, &row, err) != 0)
        return NULL;
    doc = json_deep_copy(row.doc);
    store_row_clear(&row);
    render_uri(req, CEP_ID, uri, sizeof(uri));
    json_object_set_new(doc, "id", json_string(uri));
    json_object_set_new(doc, "baseURI", json_string(req->base_uri));
    for (size_t i = 0; (a = model_attr_at(&t_cloud_entry_point, i)) != NULL; i++) {
        if (a->kind != K_COLLECTION || resource_check_access(req, a->target, NULL) != 0)
            continue;
        render_uri(req, a->target->cep_attr, uri, sizeof(uri));
        json_object_set_new(doc, a->name, json_pack("{s:s}", "href", uri));
    }
    if (req->who.admin) {
        render_uri(req, CEP_ID, uri, sizeof(uri));
        json_object_set_new(doc, "operations", json_pack("[{s:s, s:s}]", "rel", "edit", "href", uri));
    }
    if (q && q->has_expand) {
        /* Inline the collections named by $expand (as Deltacloud did). */
        struct cimi_query plain;
        cimi_query_init(&plain);
        for (size_t i = 0; (a = model_attr_at(&t_cloud_entry_point, i)) != NULL; i++) {
            json_t *coll;
            if (a->kind != K_COLLECTION || !query_list_has(q->expand, a->name) ||
                resource_check_access(req, a->target, NULL) != 0)
                continue;
            if (cimi_read_collection(req, a->target, &plain, &coll, err) == 0) {
                render_uri(req, a->target->cep_attr, uri, sizeof(uri));
                json_object_set_new(coll, "href", json_string(uri));
                json_object_set_new(doc, a->name, coll);
            }
        }
        cimi_query_free(&plain);
    }
    if (q && q->has_select)
        query_select(doc, q->select);
    return doc;
}

void cep_update(struct cimi_request *req, struct cimi_response *resp)
{
    struct cimi_error err;
    struct store_row row;
    struct job_spec spec;
    struct store_row job;
    json_t *input = NULL;
    static const char *const editable[] = {"name", "description", "properties"};

    err_clear(&err);
    memset(&row, 0, sizeof(row));
    memset(&job, 0, sizeof(job));
    job_spec_init(&spec);
    if (!req->who.admin) {
        err_set(&err, 403, NULL, "only an admin may edit the CloudEntryPoint");
        goto fail;
    }
    if (req->body == NULL) {
        err_set(&err, 400, "body", "a CloudEntryPoint document is required in the request body");
        goto fail;
    }
    input = req->in->decode(req->body, req->body_len, &t_cloud_entry_point, &err);
    if (input == NULL || validate_document(input, &t_cloud_entry_point, VALIDATE_UPDATE, &err) != 0 ||
        req->st->ops->begin(req->st, &err) != 0)
        goto fail;
    if (req->st->ops->get(req->st, CEP_ID, &row, &err) != 0)
        goto fail_txn;
    for (size_t i = 0; i < 3; i++) {
        json_t *v = json_object_get(input, editable[i]);
        if (req->query.has_select && !query_list_has(req->query.select, editable[i]))
            continue;
        if (v)
            json_object_set(row.doc, editable[i], v);
        else
            json_object_del(row.doc, editable[i]);
    }
    resource_touch(row.doc);
    snprintf(spec.action, sizeof(spec.action), "edit");
    snprintf(spec.target, sizeof(spec.target), CEP_ID);
    snprintf(spec.tenant, sizeof(spec.tenant), "%s", req->who.tenant);
    if (req->st->ops->update(req->st, &row, &err) != 0 ||
        job_create(req->st, &spec, &job, &err) != 0 || req->st->ops->commit(req->st, &err) != 0)
        goto fail_txn;
    render_uri(req, job.id, resp->job_uri, sizeof(resp->job_uri));
    resp->status = 200;
    resp->doc = cep_document(req, NULL, &err);
    resp->type = &t_cloud_entry_point;
    json_decref(input);
    store_row_clear(&row);
    store_row_clear(&job);
    return;
fail_txn:
    req->st->ops->rollback(req->st);
fail:
    json_decref(input);
    store_row_clear(&row);
    store_row_clear(&job);
    cimi_error_response(resp, &err, NULL);
}
