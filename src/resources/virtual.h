/*
 * virtual.h - resources computed on each request rather than stored:
 * the CloudEntryPoint (cep.c) and ResourceMetadata (metadata.c).
 */
#ifndef CIMID_VIRTUAL_H
#define CIMID_VIRTUAL_H

#include <jansson.h>

#include "cimi/request.h"

/* The CloudEntryPoint as this principal sees it ($expand of collections
 * honoured through q). NULL with err on failure. */
json_t *cep_document(struct cimi_request *req, const struct cimi_query *q, struct cimi_error *err);
/* PUT on the CloudEntryPoint (admin only: name, description, properties). */
void cep_update(struct cimi_request *req, struct cimi_response *resp);

/* All ResourceMetadata documents (a new array). */
json_t *metadata_documents(struct cimi_request *req);
/* One ResourceMetadata document by path ("resourceMetadata/machine"). */
json_t *metadata_document(struct cimi_request *req, const char *path, struct cimi_error *err);

/* Job retention advertised by the JobRetention capability (minutes). */
void metadata_set_job_retention(long minutes);

#endif
