/*
 * validate.h - checking a decoded request document against a type descriptor.
 */
#ifndef CIMID_VALIDATE_H
#define CIMID_VALIDATE_H

#include <jansson.h>

#include "cimi/model.h"
#include "util/error.h"

enum validate_mode {
    VALIDATE_CREATE,  /* attributes flagged A_REQUIRED must be present */
    VALIDATE_UPDATE,  /* nothing is required */
};

/*
 * Check doc against t: every member must be an attribute of t ("operations"
 * is tolerated and dropped), of the right JSON kind; attributes cimid does
 * not support are refused; read-only attributes are dropped (consumers may
 * send back what they read).  By-value references are checked recursively
 * against their target type.  JSON null means "no value" and is dropped
 * (except at the top level of a reference with an href, where it erases an
 * attribute of the referenced resource and is kept).  On failure: -1, err
 * 400 naming the attribute by its path ("machineTemplate.machineConfig.cpu").
 */
int validate_document(json_t *doc, const struct cimi_type *t, enum validate_mode mode,
                      struct cimi_error *err);

#endif
