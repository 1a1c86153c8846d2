/*
 * machine.c - the convenient machine commands: create from a template or a
 * configuration and an image by name, capture into a MachineImage, and the
 * machine's volumes (list, attach, detach).  Like everything in the client
 * they only follow what the server publishes: the Machine collection's
 * `add`, the capture operation's href (the MachineImage collection), the
 * `add` of the machine's `volumes` collection, a MachineVolume's `delete`.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cimi/model.h"
#include "cli/commands.h"
#include "cli/discovery.h"
#include "cli/output.h"

/* tpl[member] = reference to `word` in coll_word, when word is given. */
static int set_reference(struct cli *cli, json_t *tpl, const char *member, const char *coll_word,
                         const char *word, struct cli_error *err)
{
    json_t *ref;

    if (word == NULL)
        return 0;
    if (cmd_reference(cli, coll_word, word, &ref, err) < 0)
        return -1;
    if (json_object_set_new(tpl, member, ref) < 0)
        return cli_fail(err, CLI_USAGE, "out of memory");
    return 0;
}

/* The machineTemplate of a MachineCreate from --template, --config, --image,
 * --credential, --start / --stopped. */
static int build_template(struct cli *cli, json_t *tpl, struct cli_error *err)
{
    const struct cli_options *o = &cli->opt;
    json_t *ref;

    if (o->template_ref != NULL) {
        if (cmd_reference(cli, "machineTemplates", o->template_ref, &ref, err) < 0)
            return -1;
        json_object_update(tpl, ref);
        json_decref(ref);
    }
    if (set_reference(cli, tpl, "machineConfig", "machineConfigs", o->config_ref, err) < 0 ||
        set_reference(cli, tpl, "machineImage", "machineImages", o->image_ref, err) < 0 ||
        set_reference(cli, tpl, "credential", "credentials", o->credential_ref, err) < 0)
        return -1;
    if ((o->start || o->stopped) &&
        json_object_set_new(tpl, "initialState", json_string(o->start ? "STARTED" : "STOPPED")) < 0)
        return cli_fail(err, CLI_USAGE, "out of memory");
    return 0;
}

int cmd_machine_create(struct cli *cli, char **args, int nargs, struct cli_error *err)
{
    const struct cli_options *o = &cli->opt;
    const char *attr, *coll;
    json_t *body, *tpl;
    char *add;
    int rc;

    (void)args;
    (void)nargs;
    if (o->template_ref == NULL && (o->config_ref == NULL || o->image_ref == NULL))
        return cli_fail(err, CLI_USAGE, "machine create needs --template T, or --config C and "
                        "--image I");
    if (o->start && o->stopped)
        return cli_fail(err, CLI_USAGE, "give --start or --stopped, not both");
    if (disco_collection(cli, "machines", &attr, &coll, err) < 0 ||
        cmd_add_href(cli, coll, attr, &add, err) < 0)
        return -1;
    tpl = json_object();
    body = json_pack("{ss}", "resourceURI", CIMI_NS "/MachineCreate");
    rc = (tpl && body) ? build_template(cli, tpl, err) : cli_fail(err, CLI_USAGE, "no memory");
    if (rc == 0 && json_object_set(body, "machineTemplate", tpl) < 0)
        rc = cli_fail(err, CLI_USAGE, "out of memory");
    if (rc == 0)
        rc = cmd_apply_doc_options(cli, body, err);
    if (rc == 0)
        rc = cmd_post_resource(cli, add, body, err);
    json_decref(tpl);
    json_decref(body);
    free(add);
    return rc;
}

int machine_capture(struct cli *cli, const json_t *machine, struct cli_error *err)
{
    const char *href, *id = disco_str(machine, "id");
    char label[256], what[300], name[300];
    json_t *image;
    int rc;

    snprintf(what, sizeof(what), "machine '%s'", disco_label(machine, label, sizeof(label)));
    if (cmd_require_op(machine, "capture", what, &href, err) < 0)
        return -1;
    if (id == NULL)
        return cli_fail(err, CLI_SERVER, "%s has no id", what);
    snprintf(name, sizeof(name), "%s-image", label);
    image = json_pack("{ssssssss}", "resourceURI", CIMI_NS "/MachineImage", "name",
                      cli->opt.name ? cli->opt.name : name, "type", "IMAGE", "imageLocation", id);
    if (image == NULL)
        return cli_fail(err, CLI_USAGE, "out of memory");
    if (cli->opt.description != NULL)
        json_object_set_new(image, "description", json_string(cli->opt.description));
    rc = cmd_post_resource(cli, href, image, err);
    json_decref(image);
    return rc;
}

int cmd_machine_capture(struct cli *cli, char **args, int nargs, struct cli_error *err)
{
    json_t *machine;
    int rc;

    (void)nargs;
    if (disco_resource(cli, "machines", args[0], &machine, err) < 0)
        return -1;
    rc = machine_capture(cli, machine, err);
    json_decref(machine);
    return rc;
}

/* ---- volumes ---- */

/* The machine `word` and the href of its volumes collection. */
static int machine_volumes(struct cli *cli, const char *word, json_t **machine,
                           const char **href, struct cli_error *err)
{
    if (disco_resource(cli, "machines", word, machine, err) < 0)
        return -1;
    *href = disco_str(json_object_get(*machine, "volumes"), "href");
    if (*href != NULL)
        return 0;
    json_decref(*machine);
    *machine = NULL;
    return cli_fail(err, CLI_NOT_FOUND, "machine '%s' has no volumes collection", word);
}

int cmd_volume_list(struct cli *cli, char **args, int nargs, struct cli_error *err)
{
    const char *href;
    json_t *machine;
    int rc;

    (void)nargs;
    if (machine_volumes(cli, args[0], &machine, &href, err) < 0)
        return -1;
    rc = output_url(cli, href, err);
    json_decref(machine);
    return rc;
}

/* The MachineVolume to POST: the volume (a URI, or found in the entry
 * point's volumes collection) and --location. */
static int volume_document(struct cli *cli, const char *word, json_t **doc,
                           struct cli_error *err)
{
    json_t *ref;

    *doc = NULL;
    if (strstr(word, "://") != NULL)
        ref = json_pack("{ss}", "href", word);
    else if (cmd_reference(cli, "volumes", word, &ref, err) < 0)
        return -1;
    if (ref == NULL)
        return cli_fail(err, CLI_USAGE, "out of memory");
    *doc = json_pack("{s:s, s:s*, s:o}", "resourceURI", CIMI_NS "/MachineVolume", "initialLocation",
                     cli->opt.location, "volume", ref);
    return *doc != NULL ? 0 : cli_fail(err, CLI_USAGE, "out of memory");
}

int cmd_volume_attach(struct cli *cli, char **args, int nargs, struct cli_error *err)
{
    const char *vhref;
    json_t *machine, *doc = NULL;
    char *add = NULL, label[300];
    int rc;

    (void)nargs;
    if (machine_volumes(cli, args[0], &machine, &vhref, err) < 0)
        return -1;
    snprintf(label, sizeof(label), "the volumes collection of machine '%s'", args[0]);
    rc = cmd_add_href(cli, vhref, label, &add, err);
    if (rc < 0 && err->code == CLI_CONFLICT)
        cli_fail(err, CLI_CONFLICT, "the server offers no way to attach volumes to machine '%s': "
                 "its volumes collection has no 'add' operation (%s)", args[0], vhref);
    if (rc == 0)
        rc = volume_document(cli, args[1], &doc, err);
    if (rc == 0)
        rc = cmd_post_resource(cli, add, doc, err);
    json_decref(doc);
    json_decref(machine);
    free(add);
    return rc;
}

/* The attachment in the volumes collection at href that word names: the
 * MachineVolume's id, its last segment or name, or its volume's href or
 * last segment. */
static int find_attachment(struct cli *cli, const char *href, const char *machine,
                           const char *word, json_t **item, struct cli_error *err)
{
    json_t *coll, *items, *v;
    char seg[512];
    size_t i;

    if (disco_find(cli, href, "volumes", word, item, err) == 0 || err->code != CLI_NOT_FOUND)
        return *item != NULL ? 0 : -1;
    if (disco_get(cli, href, &coll, err) < 0)
        return -1;
    items = disco_items(coll);
    json_array_foreach(items, i, v) {
        const char *vol = disco_str(json_object_get(v, "volume"), "href");
        if (vol != NULL && (strcmp(vol, word) == 0 ||
                            strcmp(disco_last_segment(vol, seg, sizeof(seg)), word) == 0)) {
            *item = json_incref(v);
            break;
        }
    }
    json_decref(coll);
    if (*item == NULL)
        return cli_fail(err, CLI_NOT_FOUND, "machine '%s' has no attached volume '%s'", machine,
                        word);
    return 0;
}

int cmd_volume_detach(struct cli *cli, char **args, int nargs, struct cli_error *err)
{
    const char *vhref, *href;
    struct http_reply reply;
    json_t *machine, *item = NULL, *attachment = NULL;
    char what[300];
    int rc;

    (void)nargs;
    if (machine_volumes(cli, args[0], &machine, &vhref, err) < 0)
        return -1;
    rc = find_attachment(cli, vhref, args[0], args[1], &item, err);
    if (rc == 0 && disco_str(item, "id") == NULL)
        rc = cli_fail(err, CLI_SERVER, "the attachment '%s' has no id", args[1]);
    if (rc == 0)
        rc = disco_get(cli, disco_str(item, "id"), &attachment, err);
    snprintf(what, sizeof(what), "the attachment '%s' of machine '%s'", args[1], args[0]);
    if (rc == 0)
        rc = cmd_require_op(attachment, "delete", what, &href, err);
    if (rc == 0)
        rc = cmd_send_json(cli, "DELETE", href, NULL, &reply, err);
    if (rc == 0) {
        rc = cmd_finish_job(cli, &reply, err);
        http_reply_clear(&reply);
    }
    json_decref(attachment);
    json_decref(item);
    json_decref(machine);
    return rc;
}
