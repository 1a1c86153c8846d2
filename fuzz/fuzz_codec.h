/*
 * fuzz_codec.h - the body of the JSON and XML request-decoder harnesses
 * (fuzz_json.c, fuzz_xml.c): one codec, every request document type.
 *
 * The input is a request body.  It is decoded as each document type a
 * client can send (MachineCreate, MachineConfiguration, Action,
 * MachineImage, CredentialCreate, Machine, MachineTemplate, MachineVolume,
 * VolumeCreate, VolumeImage), then treated the way the server treats it: validated for create and for
 * update (validate.c), and encoded back with both codecs, as a resource and
 * as a collection.
 *
 * Checks beyond the sanitizers: a failed decode or validation sets a 4xx or
 * 500 error; encoding a decoded document never fails; a validated document
 * encoded by either codec decodes again with it (a client such as cimi(1)
 * encodes requests with the same code the server decodes them with).
 */
#ifndef CIMID_FUZZ_CODEC_H
#define CIMID_FUZZ_CODEC_H

#include <jansson.h>

#include "cimi/codec.h"
#include "cimi/validate.h"
#include "fuzz_common.h"

static const struct cimi_type *const fuzz_decode_types[] = {
    &t_machine_create, &t_machine_configuration, &t_action, &t_machine_image,
    &t_credential_create, &t_machine, &t_machine_template, &t_machine_volume,
    &t_volume_create, &t_volume_image, NULL,
};

static const struct codec *const fuzz_codecs[] = {&codec_json, &codec_xml, NULL};

static void fuzz_check_error(const struct cimi_error *err)
{
    FUZZ_ASSERT((err->status >= 400 && err->status < 500) || err->status == 500);
    FUZZ_ASSERT(err->message[0] != '\0');
}

/* Encode doc with every codec, as a resource and as a collection. */
static void fuzz_encode_all(const json_t *doc, const struct cimi_type *t)
{
    for (size_t i = 0; fuzz_codecs[i] != NULL; i++) {
        for (int collection = 0; collection <= 1; collection++) {
            size_t len = 0;
            char *out = fuzz_codecs[i]->encode(doc, t, collection, &len);

            FUZZ_ASSERT(out != NULL);
            FUZZ_ASSERT(strlen(out) == len);
            free(out);
        }
    }
}

/* A validated document encoded by codec c must decode again as type t
 * (the server answers in either format whatever the request's was, and
 * cimi(1) sends either). */
static void fuzz_roundtrip(const struct codec *c, const json_t *doc, const struct cimi_type *t)
{
    struct cimi_error err;
    size_t len = 0;
    char *out = c->encode(doc, t, false, &len);
    json_t *again;

    FUZZ_ASSERT(out != NULL);
    again = c->decode(out, len, t, &err);
    if (again == NULL)
        fprintf(stderr, "fuzz: re-decoding failed: %s\n%s\n", err.message, out);
    FUZZ_ASSERT(again != NULL);
    json_decref(again);
    free(out);
}

/* Validate a copy of doc as the server would; encode what passes. */
static void fuzz_validate(const json_t *doc, const struct cimi_type *t, enum validate_mode mode)
{
    struct cimi_error err;
    json_t *copy = json_deep_copy(doc);

    if (copy == NULL)
        return;
    if (validate_document(copy, t, mode, &err) != 0) {
        fuzz_check_error(&err);
    } else {
        fuzz_encode_all(copy, t);
        for (size_t i = 0; fuzz_codecs[i] != NULL; i++)
            fuzz_roundtrip(fuzz_codecs[i], copy, t);
    }
    json_decref(copy);
}

static void fuzz_codec_one(const struct codec *c, const uint8_t *data, size_t size)
{
    for (size_t i = 0; fuzz_decode_types[i] != NULL; i++) {
        const struct cimi_type *t = fuzz_decode_types[i];
        struct cimi_error err;
        json_t *doc;

        err.status = 0;
        err.message[0] = '\0';
        doc = c->decode((const char *)data, size, t, &err);
        if (doc == NULL) {
            fuzz_check_error(&err);
            continue;
        }
        FUZZ_ASSERT(json_is_object(doc));
        fuzz_encode_all(doc, t);
        fuzz_validate(doc, t, VALIDATE_CREATE);
        fuzz_validate(doc, t, VALIDATE_UPDATE);
        json_decref(doc);
    }
}

#endif
