/*
 * commands.h - the commands of the cimi client and the steps they share.
 *
 * Every command takes its positional arguments (after the command words)
 * and returns 0, or -1 with err.  commands.c holds the generic commands
 * (over any collection the entry point lists), machine.c the convenient
 * machine ones, system.c the System ones, package.c the Package transfers.
 */
#ifndef CIMI_CLI_COMMANDS_H
#define CIMI_CLI_COMMANDS_H

#include "cli/cli.h"

typedef int (*command_fn)(struct cli *cli, char **args, int nargs, struct cli_error *err);

/* commands.c */
int cmd_collections(struct cli *cli, char **args, int nargs, struct cli_error *err);
int cmd_cep(struct cli *cli, char **args, int nargs, struct cli_error *err);
int cmd_list(struct cli *cli, char **args, int nargs, struct cli_error *err);
int cmd_show(struct cli *cli, char **args, int nargs, struct cli_error *err);
int cmd_create(struct cli *cli, char **args, int nargs, struct cli_error *err);
int cmd_update(struct cli *cli, char **args, int nargs, struct cli_error *err);
int cmd_delete(struct cli *cli, char **args, int nargs, struct cli_error *err);
int cmd_do(struct cli *cli, char **args, int nargs, struct cli_error *err);
int cmd_wait(struct cli *cli, char **args, int nargs, struct cli_error *err);

/* machine.c */
int cmd_machine_create(struct cli *cli, char **args, int nargs, struct cli_error *err);
int cmd_machine_capture(struct cli *cli, char **args, int nargs, struct cli_error *err);
int cmd_volume_list(struct cli *cli, char **args, int nargs, struct cli_error *err);
int cmd_volume_attach(struct cli *cli, char **args, int nargs, struct cli_error *err);
int cmd_volume_detach(struct cli *cli, char **args, int nargs, struct cli_error *err);

/* system.c */
int cmd_system_create(struct cli *cli, char **args, int nargs, struct cli_error *err);
int cmd_system_import(struct cli *cli, char **args, int nargs, struct cli_error *err);
int cmd_system_export(struct cli *cli, char **args, int nargs, struct cli_error *err);
int cmd_system_template_import(struct cli *cli, char **args, int nargs, struct cli_error *err);
int cmd_system_template_export(struct cli *cli, char **args, int nargs, struct cli_error *err);

/* package.c */
int cmd_package_upload(struct cli *cli, char **args, int nargs, struct cli_error *err);
int cmd_package_download(struct cli *cli, char **args, int nargs, struct cli_error *err);

/* Capture `machine` into a new MachineImage through its capture operation. */
int machine_capture(struct cli *cli, const json_t *machine, struct cli_error *err);

/* ---- steps shared by the commands ---- */

/* Send a request with a body (JSON text or XML), Accept per output format.
 * A reply >= 300 is an error; otherwise the reply is the caller's to clear. */
int cmd_send(struct cli *cli, const char *method, const char *url, const char *body,
             size_t len, const char *content_type, struct http_reply *reply,
             struct cli_error *err);

/* cmd_send with a JSON document (NULL: no body). */
int cmd_send_json(struct cli *cli, const char *method, const char *url, const json_t *doc,
                  struct http_reply *reply, struct cli_error *err);

/* After a create or update: follow the Job with --wait and print the
 * resource (resource_url, else the reply's Location). */
int cmd_finish_resource(struct cli *cli, const struct http_reply *reply,
                        const char *resource_url, struct cli_error *err);

/* POST doc to href as a create: follow the Job with --wait and print the
 * new resource (cmd_finish_resource). */
int cmd_post_resource(struct cli *cli, const char *href, const json_t *doc,
                      struct cli_error *err);

/* After an action or delete: follow the Job with --wait and print it. */
int cmd_finish_job(struct cli *cli, const struct http_reply *reply, struct cli_error *err);

/* The href of operation op of doc, or CLI_CONFLICT naming what is offered. */
int cmd_require_op(const json_t *doc, const char *op, const char *what, const char **href,
                   struct cli_error *err);

/* The href of operation op of the collection at coll_href; CLI_CONFLICT
 * "LABEL offers no 'OP' operation: REFUSAL (coll_href)" when it has none. */
int cmd_collection_op(struct cli *cli, const char *coll_href, const char *op,
                      const char *label, const char *refusal, char **href,
                      struct cli_error *err);

/* The href of the `add` operation of the collection at coll_href. */
int cmd_add_href(struct cli *cli, const char *coll_href, const char *label, char **href,
                 struct cli_error *err);

/* The resource a create reply is about: Location, else the id in a JSON
 * body; malloc'd, NULL if neither. */
char *cmd_created_url(const struct http_reply *reply);

/* *ref = {"href": id of the item `word` names in the collection the user
 * calls coll_word} (a new reference). */
int cmd_reference(struct cli *cli, const char *coll_word, const char *word, json_t **ref,
                  struct cli_error *err);

/* Apply --name, --description, --property and --set to doc. */
int cmd_apply_doc_options(const struct cli *cli, json_t *doc, struct cli_error *err);

#endif
