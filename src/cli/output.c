/*
 * output.c - the output formats: the server's document as received (json,
 * xml), yaml-like, ids, and the dispatch to the tables of table.c.
 */
#include "cli/output.h"

#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "cli/discovery.h"

int output_parse_format(const char *name, enum out_format *format)
{
    static const struct {
        const char *name;
        enum out_format format;
    } formats[] = {
        {"table", OUT_TABLE}, {"json", OUT_JSON}, {"xml", OUT_XML},
        {"yaml-like", OUT_YAML}, {"yaml", OUT_YAML}, {"ids", OUT_IDS}, {NULL, OUT_TABLE},
    };

    for (size_t i = 0; formats[i].name != NULL; i++)
        if (strcmp(name, formats[i].name) == 0) {
            *format = formats[i].format;
            return 0;
        }
    return -1;
}

const char *cli_accept(const struct cli *cli)
{
    return cli->opt.output == OUT_XML ? "application/xml" : "application/json";
}

static bool is_collection(const json_t *doc)
{
    const char *uri = disco_str(doc, "resourceURI");
    size_t n = uri ? strlen(uri) : 0;

    return n > 10 && strcmp(uri + n - 10, "Collection") == 0;
}

/* Width of the terminal on stdout, 0 when stdout is not one. */
static int terminal_width(void)
{
    struct winsize ws;

    if (!isatty(STDOUT_FILENO))
        return 0;
    if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0)
        return ws.ws_col;
    return 80;
}

/* ---- ids ---- */

static void print_ids(FILE *out, const json_t *doc)
{
    json_t *items, *item;
    size_t i;
    char line[4096];

    if (!is_collection(doc)) {
        const char *id = disco_str(doc, "id");
        if (id != NULL)
            fprintf(out, "%s\n", cli_printable(id, strlen(id), line, sizeof(line)));
        return;
    }
    items = disco_items(doc);
    json_array_foreach(items, i, item) {
        const char *id = disco_str(item, "id");
        if (id != NULL)
            fprintf(out, "%s\n", cli_printable(id, strlen(id), line, sizeof(line)));
    }
}

/* ---- yaml-like ---- */

static void yaml_node(FILE *out, const json_t *v, int indent);

static bool needs_quotes(const char *s)
{
    static const char *const words[] = {"true", "false", "null", "yes", "no", "~", NULL};
    size_t n = strlen(s);

    if (n == 0 || s[0] == ' ' || s[n - 1] == ' ' || strchr("-?:,[]{}#&*!|>'\"%@`", s[0]))
        return true;
    if (strstr(s, ": ") || strstr(s, " #") || s[n - 1] == ':' ||
        strspn(s, "0123456789.+-eE") == n)
        return true;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
            return true;
    for (size_t i = 0; words[i] != NULL; i++)
        if (strcmp(s, words[i]) == 0)
            return true;
    return false;
}

static void yaml_scalar(FILE *out, const json_t *v)
{
    char *text;

    if (json_is_string(v) && !needs_quotes(json_string_value(v))) {
        fputs(json_string_value(v), out);
        return;
    }
    text = json_dumps(v, JSON_ENCODE_ANY);
    fputs(text ? text : "?", out);
    free(text);
}

static bool is_container(const json_t *v)
{
    return (json_is_object(v) && json_object_size(v) > 0) ||
           (json_is_array(v) && json_array_size(v) > 0);
}

/* The members of an object; the first one continues the current line when
 * inline_first (after "- "). */
static void yaml_object(FILE *out, const json_t *obj, int indent, bool inline_first)
{
    const char *key;
    json_t *v;
    bool first = true;

    json_object_foreach((json_t *)obj, key, v) {
        if (!(first && inline_first))
            fprintf(out, "%*s", indent, "");
        first = false;
        fprintf(out, "%s:", key);
        if (is_container(v)) {
            fputc('\n', out);
            yaml_node(out, v, indent + 2);
        } else {
            fputc(' ', out);
            yaml_scalar(out, v);
            fputc('\n', out);
        }
    }
}

static void yaml_array(FILE *out, const json_t *arr, int indent)
{
    size_t i;
    json_t *v;

    json_array_foreach(arr, i, v) {
        fprintf(out, "%*s- ", indent, "");
        if (json_is_object(v) && json_object_size(v) > 0) {
            yaml_object(out, v, indent + 2, true);
        } else if (is_container(v)) {
            fputc('\n', out);
            yaml_node(out, v, indent + 2);
        } else {
            yaml_scalar(out, v);
            fputc('\n', out);
        }
    }
}

static void yaml_node(FILE *out, const json_t *v, int indent)
{
    if (json_is_object(v))
        yaml_object(out, v, indent, false);
    else if (json_is_array(v))
        yaml_array(out, v, indent);
    else {
        fprintf(out, "%*s", indent, "");
        yaml_scalar(out, v);
        fputc('\n', out);
    }
}

/* ---- dispatch ---- */

void output_doc(const struct cli *cli, const json_t *doc)
{
    char *text;

    switch (cli->opt.output) {
    case OUT_IDS:
        print_ids(stdout, doc);
        break;
    case OUT_YAML:
        yaml_node(stdout, doc, 0);
        break;
    case OUT_JSON:
    case OUT_XML:
        text = json_dumps(doc, JSON_INDENT(2));
        if (text != NULL)
            printf("%s\n", text);
        free(text);
        break;
    case OUT_TABLE:
        if (is_collection(doc))
            table_print_collection(stdout, doc, terminal_width());
        else
            table_print_resource(stdout, doc);
        break;
    }
}

int output_reply(struct cli *cli, const struct http_reply *reply, struct cli_error *err)
{
    json_error_t jerr;
    json_t *doc;

    if (cli->opt.output == OUT_JSON || cli->opt.output == OUT_XML) {
        fwrite(reply->body, 1, reply->len, stdout);
        if (reply->len > 0 && reply->body[reply->len - 1] != '\n')
            putchar('\n');
        return 0;
    }
    if (reply->len == 0)
        return 0;
    doc = json_loadb(reply->body, reply->len, 0, &jerr);
    if (!json_is_object(doc)) {
        json_decref(doc);
        return cli_fail(err, CLI_SERVER, "the reply is not a JSON document (Content-Type '%s')",
                        reply->content_type);
    }
    output_doc(cli, doc);
    json_decref(doc);
    return 0;
}

int output_url(struct cli *cli, const char *url, struct cli_error *err)
{
    struct http_reply reply;
    char what[2200];
    int rc;

    snprintf(what, sizeof(what), "GET %s", url);
    if (http_request(cli->http, "GET", url, cli_accept(cli), NULL, NULL, 0, &reply, err) < 0)
        return -1;
    rc = cli_check_reply(err, &reply, what);
    if (rc == 0)
        rc = output_reply(cli, &reply, err);
    http_reply_clear(&reply);
    return rc;
}
