/*
 * fuzz_headers.c - libFuzzer harness for what cimid parses in request
 * headers: Accept and $format (negotiate_reply), Content-Type
 * (negotiate_body), CIMI-Specification-Version (negotiate_version) in
 * src/http/negotiate.c; If-Match (if_match_allows in src/cimi/write.c);
 * and the user name of HTTP Basic credentials (auth_valid_name in
 * src/auth/auth.c, the check every name passes before a store lookup;
 * libmicrohttpd itself decodes the Authorization header).
 *
 * The input is one header value; each parser gets it in turn.
 *
 * Checks beyond the sanitizers: every refusal carries its documented status
 * (400, 406, 415), an accepted version is a NUL-terminated 1.x version that
 * fits the caller's buffer, and an accepted user name is 1-63 characters
 * of [A-Za-z0-9._-].
 */
#include <limits.h>

#include "auth/auth.h"
#include "cimi/handlers.h"
#include "fuzz_common.h"
#include "http/negotiate.h"

static const long long etag_versions[] = {0, 1, 7, 42, -1, LLONG_MAX, LLONG_MIN};

static void fuzz_reply(const char *text)
{
    struct cimi_error err;

    if (negotiate_reply(NULL, text, &err) == NULL)
        FUZZ_ASSERT(err.status == 406);
    if (negotiate_reply(text, NULL, &err) == NULL)
        FUZZ_ASSERT(err.status == 400);
    if (negotiate_body(text, &err) == NULL)
        FUZZ_ASSERT(err.status == 415);
}

/* The server passes a 32-byte buffer; smaller ones must truncate safely. */
static void fuzz_version(const char *text)
{
    static const size_t sizes[] = {32, 6, 2, 1};

    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        char buf[32];
        struct cimi_error err;
        const char *v;

        memset(buf, 'x', sizeof(buf));
        v = negotiate_version(text, buf, sizes[i], &err);
        if (v == NULL) {
            FUZZ_ASSERT(err.status == 400);
            continue;
        }
        FUZZ_ASSERT(v == buf);
        FUZZ_ASSERT(strnlen(buf, sizes[i]) < sizes[i]);
        FUZZ_ASSERT(sizes[i] < 3 || strncmp(buf, "1.", 2) == 0);
    }
}

static void fuzz_if_match(const char *text)
{
    for (size_t i = 0; i < sizeof(etag_versions) / sizeof(etag_versions[0]); i++)
        (void)if_match_allows(text, etag_versions[i]);
}

static void fuzz_user_name(const char *text)
{
    size_t n = strlen(text);

    if (!auth_valid_name(text))
        return;
    FUZZ_ASSERT(n >= 1 && n <= 63);
    FUZZ_ASSERT(strspn(text, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-")
                == n);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = fuzz_cstring(data, size);

    if (text == NULL)
        return 0;
    fuzz_reply(text);
    fuzz_version(text);
    fuzz_if_match(text);
    fuzz_user_name(text);
    free(text);
    return 0;
}
