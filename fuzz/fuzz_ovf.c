/*
 * fuzz_ovf.c - libFuzzer harness for the reading side of OVF packages
 * (src/ovf/): the descriptor parser, the manifest parser and the OVA's tar
 * reader, all fed by whoever made the package.
 *
 * The input is used three ways: as an OVF descriptor (ovf_parse, with and
 * without a DeploymentOption), as a .mf manifest (manifest_parse), and as
 * an OVA file (ova_read_index on a temporary copy; each member found is
 * read back).  Checks beyond the sanitizers: a failure sets a 400 (or 500)
 * error and returns nothing; a parsed model has the members ovf.h promises;
 * every member lies inside the file and has a safe name.
 */
#include <jansson.h>
#include <unistd.h>

#include "fuzz_common.h"
#include "ovf/ovf.h"

static char ova_path[] = "/tmp/fuzz_ovf.XXXXXX";
static int ova_fd = -1;

static void descriptor(const uint8_t *data, size_t size, const char *option)
{
    struct cimi_error err = {0};
    json_t *m = ovf_parse((const char *)data, size, option, &err);

    if (m == NULL) {
        FUZZ_ASSERT(err.status == 400 || err.status == 500);
        return;
    }
    FUZZ_ASSERT(json_is_array(json_object_get(m, "files")));
    FUZZ_ASSERT(json_is_array(json_object_get(m, "disks")));
    FUZZ_ASSERT(json_is_array(json_object_get(m, "skipped")));
    FUZZ_ASSERT(json_is_object(json_object_get(m, "content")));
    json_decref(m);
}

static void manifest(const uint8_t *data, size_t size)
{
    struct cimi_error err = {0};
    struct ovf_manifest mf;

    if (manifest_parse((const char *)data, size, &mf, &err) != 0) {
        FUZZ_ASSERT(err.status == 400 || err.status == 500);
        return;
    }
    for (size_t i = 0; i < mf.count; i++)
        FUZZ_ASSERT(manifest_find(&mf, mf.entries[i].name) == &mf.entries[i]);
    manifest_free(&mf);
}

static void ova(const uint8_t *data, size_t size)
{
    struct cimi_error err = {0};
    struct ova_index idx;

    if (ova_fd < 0) {
        ova_fd = mkstemp(ova_path);
        FUZZ_ASSERT(ova_fd >= 0);
    }
    FUZZ_ASSERT(ftruncate(ova_fd, 0) == 0);
    FUZZ_ASSERT(pwrite(ova_fd, data, size, 0) == (ssize_t)size);
    if (ova_read_index(ova_path, &idx, &err) != 0) {
        FUZZ_ASSERT(err.status == 400 || err.status == 500);
        return;
    }
    for (size_t i = 0; i < idx.count; i++) {
        const struct ova_member *m = &idx.members[i];
        char *bytes;
        size_t len;
        FUZZ_ASSERT(m->offset <= size && m->size <= size - m->offset);
        FUZZ_ASSERT(ova_name_safe(m->name));
        if (ova_read_member(m, 1 << 20, &bytes, &len, &err) == 0)
            free(bytes);
    }
    ova_index_free(&idx);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    descriptor(data, size, NULL);
    descriptor(data, size, "large");
    manifest(data, size);
    ova(data, size);
    return 0;
}
