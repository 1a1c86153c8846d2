/*
 * fail.c - the client's errors: exit codes, HTTP error replies turned into
 * one readable line with the server's own message.
 */
#include "cli/fail.h"

#include <jansson.h>
#include <stdarg.h>
#include <string.h>

#include "cimi/codec.h"
#include "cli/http.h"

int cli_fail(struct cli_error *err, int code, const char *fmt, ...)
{
    va_list ap;

    if (err == NULL)
        return -1;
    err->code = code;
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof(err->message), fmt, ap);
    va_end(ap);
    return -1;
}

int cli_exit_for_status(long status)
{
    if (status == 401 || status == 403)
        return CLI_AUTH;
    if (status == 404 || status == 410)
        return CLI_NOT_FOUND;
    if (status == 409 || status == 412)
        return CLI_CONFLICT;
    if (status >= 400 && status < 500)
        return CLI_CLIENT;
    return CLI_SERVER;
}

char *cli_printable(const char *s, size_t n, char *out, size_t len)
{
    size_t j = 0;

    if (len == 0)
        return out;
    for (size_t i = 0; i < n && s[i] != '\0' && j + 1 < len; i++) {
        unsigned char c = (unsigned char)s[i];
        out[j++] = (c < 0x20 || c == 0x7f) ? '?' : (char)c;
    }
    out[j] = '\0';
    return out;
}

/* statusMessage (CIMI), message or error (other servers) of a JSON error body. */
static void json_message(const struct http_reply *reply, char *out, size_t len)
{
    static const char *const members[] = {"statusMessage", "message", "error", NULL};
    json_t *doc = json_loadb(reply->body, reply->len, 0, NULL);
    const char *text = NULL;

    for (size_t i = 0; json_is_object(doc) && members[i] != NULL && text == NULL; i++)
        text = json_string_value(json_object_get(doc, members[i]));
    if (text != NULL)
        cli_printable(text, strlen(text), out, len);
    json_decref(doc);
}

/* statusMessage of an XML error body (a CIMI Job). */
static void xml_message(const struct http_reply *reply, char *out, size_t len)
{
    struct cimi_error cause;
    json_t *doc = codec_xml.decode(reply->body, reply->len, &t_job, &cause);
    const char *text = json_string_value(json_object_get(doc, "statusMessage"));

    if (text != NULL)
        cli_printable(text, strlen(text), out, len);
    json_decref(doc);
}

/* The first line of a short plain-text body. */
static void text_message(const struct http_reply *reply, char *out, size_t len)
{
    size_t n = strcspn(reply->body, "\r\n");

    if (reply->len > 0 && reply->len <= 2048)
        cli_printable(reply->body, n, out, len);
}

int cli_fail_reply(struct cli_error *err, const struct http_reply *reply, const char *what)
{
    char message[600] = "";

    if (reply->len > 0) {
        if (strcmp(reply->content_type, "application/json") == 0)
            json_message(reply, message, sizeof(message));
        else if (strcmp(reply->content_type, "application/xml") == 0)
            xml_message(reply, message, sizeof(message));
        else if (strcmp(reply->content_type, "text/plain") == 0)
            text_message(reply, message, sizeof(message));
    }
    return cli_fail(err, cli_exit_for_status(reply->status), "HTTP %ld%s%s: %s (%s)",
                    reply->status, reply->reason[0] ? " " : "", reply->reason,
                    message[0] ? message : "the server gave no message", what);
}

int cli_check_reply(struct cli_error *err, const struct http_reply *reply, const char *what)
{
    if (reply->status >= 400)
        return cli_fail_reply(err, reply, what);
    if (reply->status < 200 || reply->status > 299)
        return cli_fail(err, CLI_SERVER, "unexpected HTTP %ld %s (%s)", reply->status,
                        reply->reason, what);
    return 0;
}

void cli_print_exit_codes(FILE *out)
{
    fputs("Exit status:\n"
          "   0  success\n"
          "   1  usage: bad command line, ambiguous name, unreadable --file\n"
          "   2  configuration: no endpoint, bad profile file, URL is not a CloudEntryPoint\n"
          "   3  connection: refused, DNS, TLS verification, timeout\n"
          "   4  authentication or permission: HTTP 401, 403\n"
          "   5  not found: HTTP 404, no such collection or resource\n"
          "   6  conflict: HTTP 409, 412, or the operation is not offered in this state\n"
          "   7  other client error: any other HTTP 4xx\n"
          "   8  server error: HTTP 5xx, or a reply cimi cannot use\n"
          "   9  the Job ended FAILED or STOPPED (--wait, cimi wait)\n"
          "  10  --wait gave up: the Job had not ended within --timeout\n",
          out);
}
