/*
 * commands.c - the generic commands, over every collection the entry point
 * lists: collections, cep, list, show, create, update, delete, do, wait;
 * and the steps all commands share (send a document, follow the Job,
 * print the result).
 */
#include "cli/commands.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cimi/model.h"
#include "cli/discovery.h"
#include "cli/job.h"
#include "cli/output.h"

#define MAX_FILE (16u * 1024u * 1024u)

/* ---- shared steps ---- */

int cmd_send(struct cli *cli, const char *method, const char *url, const char *body,
             size_t len, const char *content_type, struct http_reply *reply,
             struct cli_error *err)
{
    char what[2200];

    snprintf(what, sizeof(what), "%s %s", method, url);
    if (http_request(cli->http, method, url, cli_accept(cli), body ? content_type : NULL, body,
                     len, reply, err) < 0)
        return -1;
    if (cli_check_reply(err, reply, what) != 0) {
        http_reply_clear(reply);
        return -1;
    }
    return 0;
}

int cmd_send_json(struct cli *cli, const char *method, const char *url, const json_t *doc,
                  struct http_reply *reply, struct cli_error *err)
{
    char *text = NULL;
    int rc;

    if (doc != NULL && (text = json_dumps(doc, JSON_COMPACT)) == NULL)
        return cli_fail(err, CLI_USAGE, "out of memory");
    rc = cmd_send(cli, method, url, text, text ? strlen(text) : 0, "application/json", reply,
                  err);
    free(text);
    return rc;
}

char *cmd_created_url(const struct http_reply *reply)
{
    json_t *doc;
    char *url = NULL;

    if (reply->location != NULL)
        return strdup(reply->location);
    if (strcmp(reply->content_type, "application/json") != 0)
        return NULL;
    doc = json_loadb(reply->body, reply->len, 0, NULL);
    if (disco_str(doc, "id") != NULL)
        url = strdup(disco_str(doc, "id"));
    json_decref(doc);
    return url;
}

int cmd_finish_resource(struct cli *cli, const struct http_reply *reply,
                        const char *resource_url, struct cli_error *err)
{
    char *url = resource_url ? strdup(resource_url) : cmd_created_url(reply);
    int rc;

    if (cli->opt.wait && reply->job_uri != NULL) {
        rc = job_follow(cli, reply->job_uri, err);
        if (rc == 0)
            rc = url ? output_url(cli, url, err) : output_reply(cli, reply, err);
    } else if (reply->len > 0 || url == NULL) {
        rc = output_reply(cli, reply, err);
    } else {
        rc = output_url(cli, url, err);
    }
    free(url);
    return rc;
}

int cmd_post_resource(struct cli *cli, const char *href, const json_t *doc,
                      struct cli_error *err)
{
    struct http_reply reply;
    int rc;

    if (cmd_send_json(cli, "POST", href, doc, &reply, err) < 0)
        return -1;
    rc = cmd_finish_resource(cli, &reply, NULL, err);
    http_reply_clear(&reply);
    return rc;
}

int cmd_finish_job(struct cli *cli, const struct http_reply *reply, struct cli_error *err)
{
    if (reply->job_uri == NULL || (!cli->opt.wait && reply->len > 0))
        return output_reply(cli, reply, err);
    if (cli->opt.wait && job_follow(cli, reply->job_uri, err) < 0)
        return -1;
    return output_url(cli, reply->job_uri, err);
}

int cmd_require_op(const json_t *doc, const char *op, const char *what, const char **href,
                   struct cli_error *err)
{
    const char *state = disco_str(doc, "state");
    char ops[512];

    *href = disco_op(doc, op, NULL);
    if (*href != NULL)
        return 0;
    disco_ops_text(doc, ops, sizeof(ops));
    return cli_fail(err, CLI_CONFLICT, "%s%s%s%s does not offer '%s' now (it offers: %s)", what,
                    state ? " (" : "", state ? state : "", state ? ")" : "", op, ops);
}

int cmd_reference(struct cli *cli, const char *coll_word, const char *word, json_t **ref,
                  struct cli_error *err)
{
    const char *attr, *href;
    json_t *item;

    *ref = NULL;
    if (disco_collection(cli, coll_word, &attr, &href, err) < 0 ||
        disco_find(cli, href, attr, word, &item, err) < 0)
        return -1;
    if (disco_str(item, "id") != NULL)
        *ref = json_pack("{ss}", "href", disco_str(item, "id"));
    json_decref(item);
    if (*ref == NULL)
        return cli_fail(err, CLI_SERVER, "the %s item '%s' has no id", attr, word);
    return 0;
}

int cmd_collection_op(struct cli *cli, const char *coll_href, const char *op,
                      const char *label, const char *refusal, char **href,
                      struct cli_error *err)
{
    const char *found;
    json_t *coll;

    *href = NULL;
    if (disco_get(cli, coll_href, &coll, err) < 0)
        return -1;
    found = disco_op(coll, op, NULL);
    if (found != NULL && (*href = strdup(found)) == NULL)
        cli_fail(err, CLI_USAGE, "out of memory");
    else if (found == NULL)
        cli_fail(err, CLI_CONFLICT, "%s offers no '%s' operation: %s (%s)", label, op, refusal,
                 coll_href);
    json_decref(coll);
    return *href != NULL ? 0 : -1;
}

int cmd_add_href(struct cli *cli, const char *coll_href, const char *label, char **href,
                 struct cli_error *err)
{
    return cmd_collection_op(cli, coll_href, "add", label,
                             "the server does not let this user create items there", href, err);
}

/* "key=value": the key into key (size len), the value returned. */
static const char *split_kv(const char *item, char *key, size_t len, const char *option,
                            struct cli_error *err)
{
    const char *eq = strchr(item, '=');

    if (eq == NULL || eq == item || (size_t)(eq - item) >= len) {
        cli_fail(err, CLI_USAGE, "%s takes KEY=VALUE, not '%s'", option, item);
        return NULL;
    }
    snprintf(key, len, "%.*s", (int)(eq - item), item);
    return eq + 1;
}

static int apply_properties(const struct cli *cli, json_t *doc, struct cli_error *err)
{
    json_t *props = json_object_get(doc, "properties");
    char key[256];
    const char *value;

    if (cli->opt.properties.count == 0)
        return 0;
    if (!json_is_object(props)) {
        props = json_object();
        if (props == NULL || json_object_set_new(doc, "properties", props) < 0)
            return cli_fail(err, CLI_USAGE, "out of memory");
    }
    for (size_t i = 0; i < cli->opt.properties.count; i++) {
        value = split_kv(cli->opt.properties.items[i], key, sizeof(key), "--property", err);
        if (value == NULL)
            return -1;
        if (*value == '\0')
            json_object_del(props, key);
        else if (json_object_set_new(props, key, json_string(value)) < 0)
            return cli_fail(err, CLI_USAGE, "--property %s: value is not valid UTF-8", key);
    }
    return 0;
}

/* The value of --set: JSON when it parses as JSON, else a string. */
static json_t *set_value(const char *text)
{
    json_t *v = json_loads(text, JSON_DECODE_ANY, NULL);

    return v != NULL ? v : json_string(text);
}

/* doc[a][b][c] = value for path "a.b.c", creating objects on the way. */
static int set_path(json_t *doc, const char *path, json_t *value, struct cli_error *err)
{
    char key[256];
    const char *dot;
    json_t *child;

    while ((dot = strchr(path, '.')) != NULL) {
        if (dot == path || (size_t)(dot - path) >= sizeof(key))
            break;
        snprintf(key, sizeof(key), "%.*s", (int)(dot - path), path);
        child = json_object_get(doc, key);
        if (!json_is_object(child)) {
            child = json_object();
            if (child == NULL || json_object_set_new(doc, key, child) < 0)
                break;
        }
        doc = child;
        path = dot + 1;
    }
    if (dot != NULL || *path == '\0' || json_object_set_new(doc, path, value) < 0) {
        if (dot != NULL || *path == '\0')
            json_decref(value);
        return cli_fail(err, CLI_USAGE, "--set: bad attribute path or value");
    }
    return 0;
}

static int apply_sets(const struct cli *cli, json_t *doc, struct cli_error *err)
{
    char path[512];
    const char *text;
    json_t *value;

    for (size_t i = 0; i < cli->opt.sets.count; i++) {
        text = split_kv(cli->opt.sets.items[i], path, sizeof(path), "--set", err);
        if (text == NULL)
            return -1;
        value = set_value(text);
        if (value == NULL)
            return cli_fail(err, CLI_USAGE, "--set %s: value is not valid UTF-8", path);
        if (set_path(doc, path, value, err) < 0)
            return -1;
    }
    return 0;
}

int cmd_apply_doc_options(const struct cli *cli, json_t *doc, struct cli_error *err)
{
    if (cli->opt.name != NULL && json_object_set_new(doc, "name", json_string(cli->opt.name)) < 0)
        return cli_fail(err, CLI_USAGE, "--name: not valid UTF-8");
    if (cli->opt.description != NULL &&
        json_object_set_new(doc, "description", json_string(cli->opt.description)) < 0)
        return cli_fail(err, CLI_USAGE, "--description: not valid UTF-8");
    if (apply_properties(cli, doc, err) < 0 || apply_sets(cli, doc, err) < 0)
        return -1;
    return 0;
}

/* Grow buf to twice its capacity; false (buf freed) when out of memory. */
static bool grow(char **buf, size_t *cap)
{
    char *grown = realloc(*buf, *cap * 2);

    if (grown == NULL) {
        free(*buf);
        *buf = NULL;
        return false;
    }
    *buf = grown;
    *cap *= 2;
    return true;
}

/* The contents of path ("-": standard input), NUL-terminated. */
static int read_file(const char *path, char **data, size_t *len, struct cli_error *err)
{
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
    size_t cap = 65536, n = 0, got;
    char *buf;
    bool too_big = false;

    if (f == NULL)
        return cli_fail(err, CLI_USAGE, "cannot read %s: %s", path, strerror(errno));
    buf = malloc(cap);
    while (buf != NULL && (got = fread(buf + n, 1, cap - n - 1, f)) > 0) {
        n += got;
        if (n + 1 < cap)
            continue;
        too_big = cap >= MAX_FILE;
        if (too_big || !grow(&buf, &cap))
            break;
    }
    if (f != stdin)
        fclose(f);
    if (buf == NULL || too_big) {
        free(buf);
        return cli_fail(err, CLI_USAGE, too_big ? "%s is larger than 16 MiB"
                                                : "out of memory reading %s", path);
    }
    buf[n] = '\0';
    *data = buf;
    *len = n;
    return 0;
}

static bool has_doc_options(const struct cli *cli)
{
    return cli->opt.name || cli->opt.description || cli->opt.properties.count ||
           cli->opt.sets.count;
}

/* Send --file (XML as it is; JSON merged with the other document options). */
static int send_file(struct cli *cli, const char *method, const char *url,
                     struct http_reply *reply, struct cli_error *err)
{
    json_error_t jerr;
    json_t *doc;
    char *data = NULL;
    size_t len = 0;
    int rc;

    if (read_file(cli->opt.file, &data, &len, err) < 0)
        return -1;
    if (data[strspn(data, " \t\r\n")] == '<') {
        rc = has_doc_options(cli)
                 ? cli_fail(err, CLI_USAGE, "with an XML --file, put every attribute in the file")
                 : cmd_send(cli, method, url, data, len, "application/xml", reply, err);
        free(data);
        return rc;
    }
    doc = json_loadb(data, len, 0, &jerr);
    free(data);
    if (!json_is_object(doc)) {
        json_decref(doc);
        return cli_fail(err, CLI_USAGE, "%s: not a JSON object or XML document (line %d: %s)",
                        cli->opt.file, jerr.line, jerr.text);
    }
    rc = cmd_apply_doc_options(cli, doc, err);
    if (rc == 0)
        rc = cmd_send_json(cli, method, url, doc, reply, err);
    json_decref(doc);
    return rc;
}

/* Add the query options given (--filter ...) to url; a new string. */
static char *with_query(const struct cli *cli, const char *url, struct cli_error *err)
{
    const struct { const char *name, *value; } params[] = {
        {"$filter", cli->opt.filter}, {"$select", cli->opt.select},
        {"$expand", cli->opt.expand}, {"$orderby", cli->opt.orderby},
        {"$first", cli->opt.first}, {"$last", cli->opt.last}, {NULL, NULL},
    };
    char *out = strdup(url), *next;

    for (size_t i = 0; out != NULL && params[i].name != NULL; i++) {
        if (params[i].value == NULL)
            continue;
        next = http_add_query(out, params[i].name, params[i].value);
        free(out);
        out = next;
    }
    if (out == NULL)
        cli_fail(err, CLI_USAGE, "out of memory");
    return out;
}

static int output_with_query(struct cli *cli, const char *url, struct cli_error *err)
{
    char *full = with_query(cli, url, err);
    int rc;

    if (full == NULL)
        return -1;
    rc = output_url(cli, full, err);
    free(full);
    return rc;
}

/* ---- the entry point ---- */

int cmd_collections(struct cli *cli, char **args, int nargs, struct cli_error *err)
{
    const json_t *cep;
    const char *key;
    json_t *value;
    int width = 4;

    (void)args;
    (void)nargs;
    if (disco_cep(cli, &cep, err) < 0)
        return -1;
    if (cli->opt.output != OUT_TABLE && cli->opt.output != OUT_IDS)
        return output_url(cli, cli->settings.url, err);
    json_object_foreach((json_t *)cep, key, value)
        if (disco_str(value, "href") != NULL && (int)strlen(key) > width)
            width = (int)strlen(key);
    if (cli->opt.output == OUT_TABLE)
        printf("%-*s  %s\n", width, "NAME", "HREF");
    json_object_foreach((json_t *)cep, key, value) {
        const char *href = disco_str(value, "href");
        if (href == NULL)
            continue;
        if (cli->opt.output == OUT_TABLE)
            printf("%-*s  %s\n", width, key, href);
        else
            printf("%s\n", href);
    }
    return 0;
}

int cmd_cep(struct cli *cli, char **args, int nargs, struct cli_error *err)
{
    const json_t *cep;

    (void)args;
    (void)nargs;
    if (disco_cep(cli, &cep, err) < 0)
        return -1;
    return output_url(cli, cli->settings.url, err);
}

/* ---- read ---- */

/* href of the sub-collection attribute `name` of a resource. */
static int sub_collection(const json_t *doc, const char *name, const char *label,
                          const char **href, struct cli_error *err)
{
    const char *key;
    json_t *value;
    char names[512] = "";
    size_t used = 0;

    *href = disco_str(json_object_get(doc, name), "href");
    if (*href != NULL)
        return 0;
    json_object_foreach((json_t *)doc, key, value)
        if (disco_str(value, "href") != NULL && used + 1 < sizeof(names))
            used += (size_t)snprintf(names + used, sizeof(names) - used, "%s%s",
                                     used ? ", " : "", key);
    return cli_fail(err, CLI_NOT_FOUND, "%s has no collection '%s' (it has: %s)", label, name,
                    used ? names : "none");
}

int cmd_list(struct cli *cli, char **args, int nargs, struct cli_error *err)
{
    const char *attr, *href;
    json_t *doc = NULL;
    char label[300];
    int rc;

    if (nargs == 2)
        return cli_fail(err, CLI_USAGE, "list takes COLLECTION, or COLLECTION ITEM "
                        "SUB-COLLECTION (e.g. list machines web1 disks)");
    if (nargs == 1)
        return disco_collection(cli, args[0], &attr, &href, err) < 0
                   ? -1 : output_with_query(cli, href, err);
    if (disco_resource(cli, args[0], args[1], &doc, err) < 0)
        return -1;
    snprintf(label, sizeof(label), "%s '%s'", args[0], args[1]);
    rc = sub_collection(doc, args[2], label, &href, err);
    if (rc == 0)
        rc = output_with_query(cli, href, err);
    json_decref(doc);
    return rc;
}

int cmd_show(struct cli *cli, char **args, int nargs, struct cli_error *err)
{
    const char *attr, *href;
    json_t *item;
    int rc;

    (void)nargs;
    if (disco_collection(cli, args[0], &attr, &href, err) < 0 ||
        disco_find(cli, href, attr, args[1], &item, err) < 0)
        return -1;
    rc = disco_str(item, "id") != NULL
             ? output_with_query(cli, disco_str(item, "id"), err)
             : cli_fail(err, CLI_SERVER, "the %s item '%s' has no id", attr, args[1]);
    json_decref(item);
    return rc;
}

/* ---- write ---- */

int cmd_create(struct cli *cli, char **args, int nargs, struct cli_error *err)
{
    const char *attr, *coll;
    struct http_reply reply;
    char *add;
    json_t *doc;
    int rc;

    (void)nargs;
    if (disco_collection(cli, args[0], &attr, &coll, err) < 0 ||
        cmd_add_href(cli, coll, attr, &add, err) < 0)
        return -1;
    if (cli->opt.file != NULL) {
        rc = send_file(cli, "POST", add, &reply, err);
        if (rc == 0) {
            rc = cmd_finish_resource(cli, &reply, NULL, err);
            http_reply_clear(&reply);
        }
    } else if (!has_doc_options(cli)) {
        rc = cli_fail(err, CLI_USAGE, "create needs a document: --file FILE, or --name, "
                      "--description, --property, --set");
    } else {
        doc = json_object();
        rc = doc ? cmd_apply_doc_options(cli, doc, err) : cli_fail(err, CLI_USAGE, "no memory");
        if (rc == 0)
            rc = cmd_post_resource(cli, add, doc, err);
        json_decref(doc);
    }
    free(add);
    return rc;
}

/* Seed body with the current values that the options modify in part
 * (properties, and the top-level attribute of each dotted --set path). */
static int seed_partial(const struct cli *cli, const json_t *current, json_t *body,
                        struct cli_error *err)
{
    json_t *props = json_object_get(current, "properties"), *v;
    char top[256];

    if (cli->opt.properties.count > 0 &&
        json_object_set_new(body, "properties",
                            json_is_object(props) ? json_deep_copy(props) : json_object()) < 0)
        return cli_fail(err, CLI_USAGE, "out of memory");
    for (size_t i = 0; i < cli->opt.sets.count; i++) {
        const char *item = cli->opt.sets.items[i];
        size_t n = strcspn(item, ".=");
        if (item[n] != '.' || n >= sizeof(top))
            continue;
        snprintf(top, sizeof(top), "%.*s", (int)n, item);
        v = json_object_get(current, top);
        if (json_is_object(v) && json_object_get(body, top) == NULL &&
            json_object_set_new(body, top, json_deep_copy(v)) < 0)
            return cli_fail(err, CLI_USAGE, "out of memory");
    }
    return 0;
}

/* The names of the members of body, comma separated (for $select). */
static void member_names(const json_t *body, char *buf, size_t len)
{
    const char *key;
    json_t *v;
    size_t used = 0;

    buf[0] = '\0';
    json_object_foreach((json_t *)body, key, v)
        if (used + 1 < len)
            used += (size_t)snprintf(buf + used, len - used, "%s%s", used ? "," : "", key);
}

/* PUT only the attributes given, with $select naming them (partial update). */
static int send_partial(struct cli *cli, const json_t *current, const char *edit,
                        struct http_reply *reply, struct cli_error *err)
{
    json_t *body = json_object();
    char names[1024], *url = NULL;
    int rc;

    if (body == NULL)
        return cli_fail(err, CLI_USAGE, "out of memory");
    rc = seed_partial(cli, current, body, err);
    if (rc == 0)
        rc = cmd_apply_doc_options(cli, body, err);
    if (rc == 0) {
        member_names(body, names, sizeof(names));
        url = http_add_query(edit, "$select", names);
        rc = url ? cmd_send_json(cli, "PUT", url, body, reply, err)
                 : cli_fail(err, CLI_USAGE, "out of memory");
    }
    free(url);
    json_decref(body);
    return rc;
}

int cmd_update(struct cli *cli, char **args, int nargs, struct cli_error *err)
{
    struct http_reply reply;
    const char *edit;
    json_t *doc;
    char what[300];
    int rc;

    (void)nargs;
    if (cli->opt.file == NULL && !has_doc_options(cli))
        return cli_fail(err, CLI_USAGE, "nothing to update: give --name, --description, "
                        "--property, --set or --file");
    if (disco_resource(cli, args[0], args[1], &doc, err) < 0)
        return -1;
    snprintf(what, sizeof(what), "%s '%s'", args[0], args[1]);
    rc = cmd_require_op(doc, "edit", what, &edit, err);
    if (rc == 0)
        rc = cli->opt.file ? send_file(cli, "PUT", edit, &reply, err)
                           : send_partial(cli, doc, edit, &reply, err);
    if (rc == 0) {
        rc = cmd_finish_resource(cli, &reply, disco_str(doc, "id"), err);
        http_reply_clear(&reply);
    }
    json_decref(doc);
    return rc;
}

int cmd_delete(struct cli *cli, char **args, int nargs, struct cli_error *err)
{
    struct http_reply reply;
    const char *href;
    json_t *doc;
    char what[300];
    int rc;

    (void)nargs;
    if (disco_resource(cli, args[0], args[1], &doc, err) < 0)
        return -1;
    snprintf(what, sizeof(what), "%s '%s'", args[0], args[1]);
    rc = cmd_require_op(doc, "delete", what, &href, err);
    if (rc == 0)
        rc = cmd_send_json(cli, "DELETE", href, NULL, &reply, err);
    if (rc == 0) {
        rc = cmd_finish_job(cli, &reply, err);
        http_reply_clear(&reply);
    }
    json_decref(doc);
    return rc;
}

/* POST an Action document to the operation `action` of resource. */
static int invoke_action(struct cli *cli, const json_t *resource, const char *what,
                         const char *action, struct cli_error *err)
{
    struct http_reply reply;
    const char *href, *rel = NULL;
    char uri[512];
    json_t *body;
    int rc;

    if (cmd_require_op(resource, action, what, &href, err) < 0)
        return -1;
    disco_op(resource, action, &rel);
    if (rel != NULL && strstr(rel, "://") != NULL)
        snprintf(uri, sizeof(uri), "%s", rel);
    else
        snprintf(uri, sizeof(uri), "%s/action/%s", CIMI_NS, action);
    body = json_pack("{ssss}", "resourceURI", CIMI_NS "/Action", "action", uri);
    if (body != NULL && cli->opt.force)
        json_object_set_new(body, "force", json_true());
    if (body == NULL)
        return cli_fail(err, CLI_USAGE, "out of memory");
    rc = cmd_send_json(cli, "POST", href, body, &reply, err);
    json_decref(body);
    if (rc < 0)
        return -1;
    rc = cmd_finish_job(cli, &reply, err);
    http_reply_clear(&reply);
    return rc;
}

int cmd_do(struct cli *cli, char **args, int nargs, struct cli_error *err)
{
    json_t *doc;
    char what[300];
    int rc;

    (void)nargs;
    if (disco_resource(cli, args[0], args[1], &doc, err) < 0)
        return -1;
    snprintf(what, sizeof(what), "%s '%s'", args[0], args[1]);
    if (strcmp(args[2], "capture") == 0)
        rc = machine_capture(cli, doc, err);
    else
        rc = invoke_action(cli, doc, what, args[2], err);
    json_decref(doc);
    return rc;
}

int cmd_wait(struct cli *cli, char **args, int nargs, struct cli_error *err)
{
    const char *attr, *href;
    json_t *job;
    char *id;
    int rc;

    (void)nargs;
    if (strstr(args[0], "://") == NULL &&
        disco_collection(cli, "jobs", &attr, &href, err) < 0)
        return -1;
    if (disco_find(cli, strstr(args[0], "://") ? NULL : href, "jobs", args[0], &job, err) < 0)
        return -1;
    id = disco_str(job, "id") ? strdup(disco_str(job, "id")) : NULL;
    json_decref(job);
    if (id == NULL)
        return cli_fail(err, CLI_SERVER, "the job '%s' has no id", args[0]);
    rc = job_follow(cli, id, err);
    if (rc == 0)
        rc = output_url(cli, id, err);
    free(id);
    return rc;
}
