/*
 * discovery.c - the CloudEntryPoint, collections by friendly name, items by
 * id or name, operations by rel.  Discovery always talks JSON, whatever the
 * output format.
 */
#include "cli/discovery.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cimi/model.h"

#define ACTION_PREFIX CIMI_NS "/action/"

/* Friendly names that are not the attribute itself or its singular. */
static const struct {
    const char *alias;
    const char *attr;
} aliases[] = {
    {"config", "machineConfigs"},
    {"configs", "machineConfigs"},
    {"image", "machineImages"},
    {"images", "machineImages"},
    {"template", "machineTemplates"},
    {"templates", "machineTemplates"},
    {"metadata", "resourceMetadata"},
    {"cred", "credentials"},
    {"creds", "credentials"},
    {NULL, NULL},
};

const char *disco_str(const json_t *doc, const char *key)
{
    return json_string_value(json_object_get(doc, key));
}

const char *disco_last_segment(const char *uri, char *buf, size_t len)
{
    size_t n;
    const char *end, *start;

    if (uri == NULL) {
        buf[0] = '\0';
        return buf;
    }
    n = strcspn(uri, "?#");
    end = uri + n;
    while (end > uri && end[-1] == '/')
        end--;
    start = end;
    while (start > uri && start[-1] != '/')
        start--;
    snprintf(buf, len, "%.*s", (int)(end - start), start);
    return buf;
}

const char *disco_label(const json_t *doc, char *buf, size_t len)
{
    const char *name = disco_str(doc, "name");

    if (name != NULL && *name != '\0') {
        snprintf(buf, len, "%s", name);
        return buf;
    }
    return disco_last_segment(disco_str(doc, "id"), buf, len);
}

int disco_get(struct cli *cli, const char *url, json_t **doc, struct cli_error *err)
{
    struct http_reply reply;
    json_error_t jerr;
    char what[2200];

    *doc = NULL;
    snprintf(what, sizeof(what), "GET %s", url);
    if (http_request(cli->http, "GET", url, "application/json", NULL, NULL, 0, &reply, err) < 0)
        return -1;
    if (cli_check_reply(err, &reply, what) != 0) {
        http_reply_clear(&reply);
        return -1;
    }
    *doc = json_loadb(reply.body, reply.len, 0, &jerr);
    if (!json_is_object(*doc)) {
        cli_fail(err, CLI_SERVER, "the reply is not a JSON document (Content-Type '%s'%s%s) (%s)",
                 reply.content_type, *doc == NULL ? ": " : "", *doc == NULL ? jerr.text : "",
                 what);
        json_decref(*doc);
        *doc = NULL;
    }
    http_reply_clear(&reply);
    return *doc != NULL ? 0 : -1;
}

static bool is_cep(const json_t *doc)
{
    const char *uri = disco_str(doc, "resourceURI");
    const char *suffix = "/CloudEntryPoint";
    size_t n = uri ? strlen(uri) : 0;

    return n >= strlen(suffix) && strcmp(uri + n - strlen(suffix), suffix) == 0;
}

int disco_cep(struct cli *cli, const json_t **cep, struct cli_error *err)
{
    json_t *doc;

    if (cli->cep == NULL) {
        if (disco_get(cli, cli->settings.url, &doc, err) < 0) {
            if (err->code == CLI_SERVER)
                err->code = CLI_CONFIG;  /* the URL is not a CIMI entry point */
            return -1;
        }
        if (!is_cep(doc)) {
            json_decref(doc);
            return cli_fail(err, CLI_CONFIG, "%s (from %s) is not a CIMI CloudEntryPoint",
                            cli->settings.url, cli->settings.source);
        }
        cli->cep = doc;
    }
    *cep = cli->cep;
    return 0;
}

/* Lower case without '-' and '_', "configuration" shortened to "config". */
static void normalize(const char *in, char *out, size_t len)
{
    size_t j = 0;
    char *p;

    for (size_t i = 0; in[i] != '\0' && j + 1 < len; i++)
        if (in[i] != '-' && in[i] != '_')
            out[j++] = (char)tolower((unsigned char)in[i]);
    out[j] = '\0';
    while ((p = strstr(out, "configuration")) != NULL)
        memmove(p + 6, p + 13, strlen(p + 13) + 1);
}

/* The CEP attribute (a collection reference) whose normalized name is want. */
static const char *cep_attr_matching(const json_t *cep, const char *want)
{
    const char *key;
    json_t *value;
    char norm[128];

    json_object_foreach((json_t *)cep, key, value) {
        if (!json_is_string(json_object_get(value, "href")))
            continue;
        normalize(key, norm, sizeof(norm));
        if (strcmp(norm, want) == 0)
            return key;
    }
    return NULL;
}

static const char *find_attr(const json_t *cep, const char *word)
{
    char norm[128], candidate[160];
    const char *attr;

    normalize(word, norm, sizeof(norm));
    if ((attr = cep_attr_matching(cep, norm)) != NULL)
        return attr;
    snprintf(candidate, sizeof(candidate), "%ss", norm);
    if ((attr = cep_attr_matching(cep, candidate)) != NULL)
        return attr;
    for (size_t i = 0; aliases[i].alias != NULL; i++)
        if (strcmp(norm, aliases[i].alias) == 0 &&
            json_object_get(cep, aliases[i].attr) != NULL)
            return aliases[i].attr;
    snprintf(candidate, sizeof(candidate), "machine%s", norm);
    if ((attr = cep_attr_matching(cep, candidate)) != NULL)
        return attr;
    snprintf(candidate, sizeof(candidate), "machine%ss", norm);
    return cep_attr_matching(cep, candidate);
}

/* The collection names of the CEP, comma separated. */
static void collection_names(const json_t *cep, char *buf, size_t len)
{
    const char *key;
    json_t *value;
    size_t used = 0;

    buf[0] = '\0';
    json_object_foreach((json_t *)cep, key, value) {
        if (!json_is_string(json_object_get(value, "href")) || used + 1 >= len)
            continue;
        used += (size_t)snprintf(buf + used, len - used, "%s%s", used ? ", " : "", key);
    }
}

int disco_collection(struct cli *cli, const char *word, const char **attr, const char **href,
                     struct cli_error *err)
{
    const json_t *cep;
    char names[1024];

    if (disco_cep(cli, &cep, err) < 0)
        return -1;
    *attr = find_attr(cep, word);
    if (*attr == NULL) {
        collection_names(cep, names, sizeof(names));
        return cli_fail(err, CLI_NOT_FOUND, "the entry point lists no collection '%s' (it lists: "
                        "%s)", word, names);
    }
    *href = disco_str(json_object_get(cep, *attr), "href");
    return 0;
}

json_t *disco_items(const json_t *collection)
{
    const char *key;
    json_t *value;

    json_object_foreach((json_t *)collection, key, value)
        if (json_is_array(value) && strcmp(key, "operations") != 0)
            return value;
    return NULL;
}

/* Items whose id ends in segment `word` or whose name is `word`. */
static void match_items(const json_t *items, const char *word, json_t **by_id, json_t **by_name,
                        size_t *names)
{
    size_t i;
    json_t *item;
    char seg[512];

    *by_id = *by_name = NULL;
    *names = 0;
    json_array_foreach(items, i, item) {
        const char *id = disco_str(item, "id"), *name = disco_str(item, "name");
        if (id != NULL && (strcmp(id, word) == 0 ||
                           strcmp(disco_last_segment(id, seg, sizeof(seg)), word) == 0))
            *by_id = item;
        if (name != NULL && strcmp(name, word) == 0) {
            if (*by_name == NULL)
                *by_name = item;
            (*names)++;
        }
    }
}

static int ambiguous(const json_t *items, const char *label, const char *word,
                     struct cli_error *err)
{
    char ids[700] = "";
    size_t used = 0, i;
    json_t *item;

    json_array_foreach(items, i, item) {
        const char *name = disco_str(item, "name"), *id = disco_str(item, "id");
        if (name == NULL || id == NULL || strcmp(name, word) != 0 || used + 1 >= sizeof(ids))
            continue;
        used += (size_t)snprintf(ids + used, sizeof(ids) - used, "%s%s", used ? ", " : "", id);
    }
    return cli_fail(err, CLI_USAGE, "%s has several items named '%s'; name one by id: %s", label,
                    word, ids);
}

int disco_find(struct cli *cli, const char *coll_href, const char *label, const char *word,
               json_t **item, struct cli_error *err)
{
    json_t *coll, *items, *by_id, *by_name;
    size_t names;

    *item = NULL;
    if (strstr(word, "://") != NULL) {
        *item = json_pack("{ss}", "id", word);
        return *item != NULL ? 0 : cli_fail(err, CLI_USAGE, "out of memory");
    }
    if (disco_get(cli, coll_href, &coll, err) < 0)
        return -1;
    items = disco_items(coll);
    match_items(items, word, &by_id, &by_name, &names);
    if (by_id == NULL && names > 1) {
        ambiguous(items, label, word, err);
        json_decref(coll);
        return -1;
    }
    *item = json_incref(by_id != NULL ? by_id : by_name);
    json_decref(coll);
    if (*item == NULL)
        return cli_fail(err, CLI_NOT_FOUND, "%s has no item named '%s' or with that id", label,
                        word);
    return 0;
}

int disco_resource(struct cli *cli, const char *coll_word, const char *word, json_t **doc,
                   struct cli_error *err)
{
    const char *attr, *href, *id;
    json_t *item;
    int rc;

    *doc = NULL;
    if (disco_collection(cli, coll_word, &attr, &href, err) < 0 ||
        disco_find(cli, href, attr, word, &item, err) < 0)
        return -1;
    id = disco_str(item, "id");
    if (id == NULL) {
        json_decref(item);
        return cli_fail(err, CLI_SERVER, "the %s item '%s' has no id", attr, word);
    }
    rc = disco_get(cli, id, doc, err);
    json_decref(item);
    return rc;
}

/* The short name of a rel: "add", or "start" for .../action/start. */
static const char *short_rel(const char *rel)
{
    const char *slash;

    if (strncmp(rel, ACTION_PREFIX, strlen(ACTION_PREFIX)) == 0)
        return rel + strlen(ACTION_PREFIX);
    slash = strrchr(rel, '/');
    return (strstr(rel, "://") != NULL && slash != NULL) ? slash + 1 : rel;
}

const char *disco_op(const json_t *doc, const char *name, const char **found_rel)
{
    json_t *ops = json_object_get(doc, "operations"), *op;
    size_t i;

    json_array_foreach(ops, i, op) {
        const char *rel = disco_str(op, "rel"), *href = disco_str(op, "href");
        if (rel != NULL && href != NULL &&
            (strcmp(rel, name) == 0 || strcmp(short_rel(rel), name) == 0)) {
            if (found_rel != NULL)
                *found_rel = rel;
            return href;
        }
    }
    return NULL;
}

void disco_ops_text(const json_t *doc, char *buf, size_t len)
{
    json_t *ops = json_object_get(doc, "operations"), *op;
    size_t i, used = 0;

    snprintf(buf, len, "none");
    json_array_foreach(ops, i, op) {
        const char *rel = disco_str(op, "rel");
        if (rel == NULL || used + 1 >= len)
            continue;
        used += (size_t)snprintf(buf + used, len - used, "%s%s", used ? ", " : "",
                                 short_rel(rel));
    }
}
