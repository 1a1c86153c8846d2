/*
 * cli.h - what the parts of the cimi client share: the parsed command line,
 * the resolved settings and the per-run context handed to every command.
 */
#ifndef CIMI_CLI_H
#define CIMI_CLI_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "cli/config.h"
#include "cli/fail.h"
#include "cli/http.h"
#include "cli/progress.h"

enum out_format { OUT_TABLE, OUT_JSON, OUT_XML, OUT_YAML, OUT_IDS };

/* Options a command may take; each command lists the ones it accepts. */
enum {
    OPT_QUERY = 1u << 0,       /* --filter --select --expand --orderby --first --last */
    OPT_SHOW_QUERY = 1u << 1,  /* --select --expand */
    OPT_WAIT = 1u << 2,        /* --wait --timeout */
    OPT_DOC = 1u << 3,         /* --file --name --description --property --set */
    OPT_MACHINE = 1u << 4,     /* --config --image --credential --start --stopped */
    OPT_FORCE = 1u << 5,       /* --force */
    OPT_LOCATION = 1u << 6,    /* --location */
    OPT_NAME = 1u << 7,        /* --name --description (alone) */
    OPT_TEMPLATE = 1u << 8,    /* --template */
    OPT_TRANSFER = 1u << 9,    /* --progress */
};

/* A repeatable "key=value" option. */
struct kv_list {
    char **items;
    size_t count;
};

struct cli_options {
    struct config_flags conn;   /* --url --user --password --profile --config-file ... */
    enum out_format output;
    bool verbose;
    bool wait;
    double timeout;             /* seconds --wait waits for a Job */
    const char *filter, *select, *expand, *orderby, *first, *last;
    const char *file, *name, *description;
    struct kv_list properties, sets;
    const char *template_ref, *config_ref, *image_ref, *credential_ref;
    bool start, stopped, force;
    const char *location;
    enum progress_mode progress;
    unsigned given;             /* OPT_* groups given on the command line */
};

struct cli {
    struct cli_options opt;
    struct config settings;
    struct http_client *http;
    json_t *cep;                /* the CloudEntryPoint, fetched on first use */
};

/* Accept header / media type of the output format's wire format. */
const char *cli_accept(const struct cli *cli);

#endif
