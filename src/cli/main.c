/*
 * main.c - the cimi command-line client: options, command table, dispatch.
 *
 * Options may come anywhere on the line.  The first word is a command
 * (list, show, create, update, delete, do, wait, collections, cep) or a
 * collection in the "resource first" form: `cimi machine stop web1` is
 * `cimi do machines web1 stop`, `cimi config list` is `cimi list
 * machineConfigs`, `cimi system template list` is `cimi list
 * systemTemplates`.  Each command says which option groups it takes; any
 * other option is a usage error.
 */
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cli/cli.h"
#include "cli/commands.h"
#include "cli/output.h"

#define OPT_GLOBAL 0u

struct command {
    const char *name;
    int min_args, max_args;
    unsigned options;
    command_fn run;
};

static const struct command generic_commands[] = {
    {"collections", 0, 0, 0, cmd_collections},
    {"cep", 0, 0, 0, cmd_cep},
    {"list", 1, 3, OPT_QUERY | OPT_SHOW_QUERY, cmd_list},
    {"show", 2, 2, OPT_SHOW_QUERY, cmd_show},
    {"create", 1, 1, OPT_DOC | OPT_NAME | OPT_WAIT, cmd_create},
    {"update", 2, 2, OPT_DOC | OPT_NAME | OPT_WAIT, cmd_update},
    {"delete", 2, 2, OPT_WAIT, cmd_delete},
    {"do", 3, 3, OPT_FORCE | OPT_NAME | OPT_WAIT, cmd_do},
    {"wait", 1, 1, OPT_WAIT, cmd_wait},
    {NULL, 0, 0, 0, NULL},
};

static const struct command machine_commands[] = {
    {"create", 0, 0, OPT_DOC | OPT_NAME | OPT_MACHINE | OPT_TEMPLATE | OPT_WAIT,
     cmd_machine_create},
    {"capture", 1, 1, OPT_NAME | OPT_WAIT, cmd_machine_capture},
    {NULL, 0, 0, 0, NULL},
};

static const struct command system_commands[] = {
    {"create", 0, 0, OPT_DOC | OPT_NAME | OPT_TEMPLATE | OPT_WAIT, cmd_system_create},
    {"import", 1, 1, OPT_WAIT | OPT_TRANSFER, cmd_system_import},
    {"export", 2, 2, OPT_WAIT | OPT_TRANSFER, cmd_system_export},
    {NULL, 0, 0, 0, NULL},
};

static const struct command system_template_commands[] = {
    {"import", 1, 1, OPT_WAIT | OPT_TRANSFER, cmd_system_template_import},
    {"export", 2, 2, OPT_WAIT | OPT_TRANSFER, cmd_system_template_export},
    {NULL, 0, 0, 0, NULL},
};

static const struct command package_commands[] = {
    {"upload", 1, 1, OPT_TRANSFER, cmd_package_upload},
    {"download", 2, 2, OPT_TRANSFER, cmd_package_download},
    {NULL, 0, 0, 0, NULL},
};

static const struct command volume_commands[] = {
    {"list", 1, 1, 0, cmd_volume_list},
    {"attach", 2, 2, OPT_LOCATION | OPT_WAIT, cmd_volume_attach},
    {"detach", 2, 2, OPT_WAIT, cmd_volume_detach},
    {NULL, 0, 0, 0, NULL},
};

enum {
    O_URL = 256, O_USER, O_PASSWORD, O_PROFILE, O_CONFIG_FILE, O_CACERT, O_VERSION, O_TIMEOUT,
    O_FILTER, O_SELECT, O_EXPAND, O_ORDERBY, O_FIRST, O_LAST, O_NAME, O_DESCRIPTION, O_PROPERTY,
    O_SET, O_TEMPLATE, O_CONFIG, O_IMAGE, O_CREDENTIAL, O_START, O_STOPPED, O_FORCE, O_LOCATION,
    O_PROGRESS,
};

static const struct option long_options[] = {
    {"url", required_argument, NULL, O_URL},
    {"user", required_argument, NULL, O_USER},
    {"password", required_argument, NULL, O_PASSWORD},
    {"profile", required_argument, NULL, O_PROFILE},
    {"config-file", required_argument, NULL, O_CONFIG_FILE},
    {"cacert", required_argument, NULL, O_CACERT},
    {"insecure", no_argument, NULL, 'k'},
    {"output", required_argument, NULL, 'o'},
    {"verbose", no_argument, NULL, 'v'},
    {"help", no_argument, NULL, 'h'},
    {"version", no_argument, NULL, O_VERSION},
    {"wait", no_argument, NULL, 'w'},
    {"timeout", required_argument, NULL, O_TIMEOUT},
    {"filter", required_argument, NULL, O_FILTER},
    {"select", required_argument, NULL, O_SELECT},
    {"expand", required_argument, NULL, O_EXPAND},
    {"orderby", required_argument, NULL, O_ORDERBY},
    {"first", required_argument, NULL, O_FIRST},
    {"last", required_argument, NULL, O_LAST},
    {"file", required_argument, NULL, 'f'},
    {"name", required_argument, NULL, O_NAME},
    {"description", required_argument, NULL, O_DESCRIPTION},
    {"property", required_argument, NULL, O_PROPERTY},
    {"set", required_argument, NULL, O_SET},
    {"template", required_argument, NULL, O_TEMPLATE},
    {"config", required_argument, NULL, O_CONFIG},
    {"image", required_argument, NULL, O_IMAGE},
    {"credential", required_argument, NULL, O_CREDENTIAL},
    {"start", no_argument, NULL, O_START},
    {"stopped", no_argument, NULL, O_STOPPED},
    {"force", no_argument, NULL, O_FORCE},
    {"location", required_argument, NULL, O_LOCATION},
    {"progress", required_argument, NULL, O_PROGRESS},
    {NULL, 0, NULL, 0},
};

static void print_help(FILE *out)
{
    fputs("Usage: cimi [OPTIONS] COMMAND [ARGS]\n"
          "A client for DMTF CIMI 1.x clouds: everything is discovered from the\n"
          "CloudEntryPoint.\n"
          "\n"
          "Commands (COLLECTION is an entry-point name or alias: machines/machine,\n"
          "machineConfigs/config, machineImages/image, machineTemplates/template, jobs/job,\n"
          "credentials, resourceMetadata/metadata ...; ITEM is an id, the last segment\n"
          "of an id, or a name):\n"
          "  collections                       the collections the entry point lists\n"
          "  cep                               the CloudEntryPoint itself\n"
          "  list COLLECTION [ITEM SUB]        a collection, or a resource's sub-collection\n"
          "  show COLLECTION ITEM              one resource\n"
          "  create COLLECTION                 POST a document to the collection's add\n"
          "  update COLLECTION ITEM            PUT the attributes given (partial update)\n"
          "  delete COLLECTION ITEM            DELETE through the resource's delete\n"
          "  do COLLECTION ITEM ACTION         invoke an action the resource offers\n"
          "  wait JOB                          follow a Job until it ends\n"
          "  COLLECTION [list|show|create|update|delete|ACTION] ...   the same, resource first\n"
          "  machine create --name N (--template T | --config C --image I) [--start]\n"
          "  machine start|stop|restart|pause|suspend MACHINE [--force]\n"
          "  machine capture MACHINE [--name IMAGE]\n"
          "  machine volume list MACHINE\n"
          "  machine volume attach MACHINE VOLUME [--location DEVICE]\n"
          "  machine volume detach MACHINE ATTACHMENT\n"
          "  system create --name N (--template T | --file F)\n"
          "  system start|stop|restart|pause|suspend|delete SYSTEM; system list|show\n"
          "  system import FILE|URL            upload an OVA (or name one) and import it\n"
          "  system export SYSTEM FILE         export into an OVA and download it to FILE\n"
          "  system template list|show ...     the SystemTemplates\n"
          "  system template import|export ... the same as for systems, on SystemTemplates\n"
          "  package upload FILE               a local OVA into a new Package\n"
          "  package download PACKAGE FILE     a Package into a local file\n"
          "\n"
          "Connection (flags > --profile > environment > CIMI_PROFILE or [default]):\n"
          "      --url URL            the CloudEntryPoint URL (CIMI_URL)\n"
          "      --user USER          HTTP Basic user (CIMI_USER)\n"
          "      --password PASSWORD  (CIMI_PASSWORD; prompted for on a terminal)\n"
          "      --profile NAME       a profile of ~/.config/cimi/config (CIMI_PROFILE)\n"
          "      --config-file FILE   the profile file (CIMI_CONFIG)\n"
          "      --cacert FILE        trust the CAs in this PEM file (CIMI_CACERT)\n"
          "  -k, --insecure           do not verify the server's certificate\n"
          "Output:\n"
          "  -o, --output FORMAT      table (default), json, xml, yaml-like, ids\n"
          "  -v, --verbose            show each request and reply status on stderr\n"
          "Queries (list; --select and --expand also for show):\n"
          "      --filter EXPR --select ATTRS --expand ATTRS --orderby ATTRS\n"
          "      --first N --last N\n"
          "Documents (create, update, machine create):\n"
          "  -f, --file FILE          the document, JSON or XML ('-' = stdin)\n"
          "      --name NAME --description TEXT\n"
          "      --property KEY=VALUE (repeatable; KEY= removes it on update)\n"
          "      --set ATTR[.SUB]=VALUE (repeatable; VALUE is JSON if it parses, else text)\n"
          "Machines and Systems:\n"
          "      --template T --config C --image I --credential CRED\n"
          "      --start | --stopped  initial state   --force  force stop/restart\n"
          "      --location DEVICE    where an attached volume appears\n"
          "Transfers (system import|export, package upload|download):\n"
          "      --progress MODE      auto (a bar on a terminal), bar, lines, none\n"
          "Jobs:\n"
          "  -w, --wait               follow the resulting Job; fail if it fails\n"
          "      --timeout SECONDS    how long --wait waits (default 600)\n"
          "  -h, --help, --version\n"
          "\n",
          out);
    cli_print_exit_codes(out);
}

static int usage(struct cli_error *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* A usage error (exit 1) pointing at --help. */
static int usage(struct cli_error *err, const char *fmt, ...)
{
    va_list ap;
    size_t n;

    err->code = CLI_USAGE;
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof(err->message), fmt, ap);
    va_end(ap);
    n = strlen(err->message);
    snprintf(err->message + n, sizeof(err->message) - n, " (see cimi --help)");
    return -1;
}

static int kv_push(struct kv_list *list, char *item, struct cli_error *err)
{
    char **grown = realloc(list->items, (list->count + 1) * sizeof(*grown));

    if (grown == NULL)
        return cli_fail(err, CLI_USAGE, "out of memory");
    grown[list->count++] = item;
    list->items = grown;
    return 0;
}

static bool is_number(const char *s)
{
    return *s != '\0' && strspn(s, "0123456789") == strlen(s);
}

/* The option group of option c (OPT_GLOBAL for connection and output). */
static unsigned option_group(int c)
{
    switch (c) {
    case 'w': case O_TIMEOUT:
        return OPT_WAIT;
    case O_SELECT: case O_EXPAND:
        return OPT_SHOW_QUERY;
    case O_FILTER: case O_ORDERBY: case O_FIRST: case O_LAST:
        return OPT_QUERY;
    case 'f': case O_PROPERTY: case O_SET:
        return OPT_DOC;
    case O_NAME: case O_DESCRIPTION:
        return OPT_NAME;
    case O_CONFIG: case O_IMAGE: case O_CREDENTIAL: case O_START: case O_STOPPED:
        return OPT_MACHINE;
    case O_TEMPLATE:
        return OPT_TEMPLATE;
    case O_PROGRESS:
        return OPT_TRANSFER;
    case O_FORCE:
        return OPT_FORCE;
    case O_LOCATION:
        return OPT_LOCATION;
    default:
        return OPT_GLOBAL;
    }
}

static int set_option(struct cli_options *o, int c, char *arg, struct cli_error *err)
{
    char *end;

    switch (c) {
    case O_URL: o->conn.url = arg; break;
    case O_USER: o->conn.user = arg; break;
    case O_PASSWORD: o->conn.password = arg; break;
    case O_PROFILE: o->conn.profile = arg; break;
    case O_CONFIG_FILE: o->conn.config_file = arg; break;
    case O_CACERT: o->conn.cacert = arg; break;
    case 'k': o->conn.insecure = true; break;
    case 'v': o->verbose = true; break;
    case 'w': o->wait = true; break;
    case 'o':
        if (output_parse_format(arg, &o->output) < 0)
            return usage(err, "unknown output format '%s': table, json, xml, yaml-like or ids",
                         arg);
        break;
    case O_TIMEOUT:
        o->timeout = strtod(arg, &end);
        if (*end != '\0' || !(o->timeout > 0))
            return usage(err, "--timeout takes a number of seconds, not '%s'", arg);
        break;
    case O_FILTER: o->filter = arg; break;
    case O_SELECT: o->select = arg; break;
    case O_EXPAND: o->expand = arg; break;
    case O_ORDERBY: o->orderby = arg; break;
    case O_FIRST: case O_LAST:
        if (!is_number(arg))
            return usage(err, "--first and --last take a positive number, not '%s'", arg);
        *(c == O_FIRST ? &o->first : &o->last) = arg;
        break;
    case 'f': o->file = arg; break;
    case O_NAME: o->name = arg; break;
    case O_DESCRIPTION: o->description = arg; break;
    case O_PROPERTY: return kv_push(&o->properties, arg, err);
    case O_SET: return kv_push(&o->sets, arg, err);
    case O_TEMPLATE: o->template_ref = arg; break;
    case O_CONFIG: o->config_ref = arg; break;
    case O_IMAGE: o->image_ref = arg; break;
    case O_CREDENTIAL: o->credential_ref = arg; break;
    case O_START: o->start = true; break;
    case O_STOPPED: o->stopped = true; break;
    case O_FORCE: o->force = true; break;
    case O_LOCATION: o->location = arg; break;
    case O_PROGRESS:
        if (progress_parse_mode(arg, &o->progress) < 0)
            return usage(err, "--progress takes auto, bar, lines or none, not '%s'", arg);
        break;
    default: break;
    }
    return 0;
}

/* Name of the first option given in each group, for messages. */
struct given_names {
    const char *first[16];
};

static const char *long_name(int c)
{
    for (size_t i = 0; long_options[i].name != NULL; i++)
        if (long_options[i].val == c)
            return long_options[i].name;
    return "?";
}

/* 1 for --help, 2 for --version, 0 to go on, -1 on a usage error. */
static int parse_options(int argc, char **argv, struct cli_options *o, struct given_names *gn,
                         struct cli_error *err)
{
    int c;

    opterr = 0;
    while ((c = getopt_long(argc, argv, ":o:vhwf:k", long_options, NULL)) != -1) {
        unsigned group;
        if (c == '?')
            return usage(err, "unknown option '%s'", argv[optind - 1]);
        if (c == ':')
            return usage(err, "option '%s' needs a value", argv[optind - 1]);
        if (c == 'h')
            return 1;
        if (c == O_VERSION)
            return 2;
        group = option_group(c);
        for (int bit = 0; bit < 16; bit++)
            if (group == (1u << bit) && gn->first[bit] == NULL)
                gn->first[bit] = long_name(c);
        o->given |= group;
        if (set_option(o, c, optarg, err) < 0)
            return -1;
    }
    return 0;
}

/* ---- dispatch ---- */

static const struct command *lookup(const struct command *table, const char *name)
{
    for (size_t i = 0; table[i].name != NULL; i++)
        if (strcmp(table[i].name, name) == 0)
            return &table[i];
    return NULL;
}

static bool is_machine_word(const char *w)
{
    return strcasecmp(w, "machine") == 0 || strcasecmp(w, "machines") == 0;
}

static bool is_system_word(const char *w)
{
    return strcasecmp(w, "system") == 0 || strcasecmp(w, "systems") == 0;
}

static bool is_package_word(const char *w)
{
    return strcasecmp(w, "package") == 0 || strcasecmp(w, "packages") == 0;
}

/* A command and its positional arguments (one more than any command takes,
 * so that "too many" can be told). */
#define MAX_ARGS 4

struct invocation {
    const struct command *cmd;
    char *args[MAX_ARGS];
    int nargs;
};

/* inv->args = first (if not NULL) followed by words[0 .. n-1]. */
static void set_args(struct invocation *inv, char *first, char **words, int n)
{
    inv->nargs = 0;
    if (first != NULL)
        inv->args[inv->nargs++] = first;
    for (int i = 0; i < n && inv->nargs < MAX_ARGS; i++)
        inv->args[inv->nargs++] = words[i];
}

static bool is_crud_verb(const char *verb)
{
    return strcmp(verb, "list") == 0 || strcmp(verb, "show") == 0 ||
           strcmp(verb, "create") == 0 || strcmp(verb, "update") == 0 ||
           strcmp(verb, "delete") == 0;
}

/* `machine volume VERB ...` */
static int resolve_volume(char **words, int nwords, struct invocation *inv,
                          struct cli_error *err)
{
    if (nwords < 3)
        return usage(err, "'machine volume' takes list, attach or detach");
    inv->cmd = lookup(volume_commands, words[2]);
    if (inv->cmd == NULL)
        return usage(err, "unknown command 'machine volume %s'", words[2]);
    set_args(inv, NULL, words + 3, nwords - 3);
    return 0;
}

/* The resource-first form on the collection coll: `VERB ARGS` for the CRUD
 * verbs (default list), or `ACTION ITEM` (`do coll ITEM ACTION`). */
static int resolve_resource_first(char *coll, char **words, int nwords, struct invocation *inv,
                                  struct cli_error *err)
{
    const char *verb = nwords > 0 ? words[0] : "list";

    if (is_crud_verb(verb)) {
        inv->cmd = lookup(generic_commands, verb);
        set_args(inv, coll, words + 1, nwords > 1 ? nwords - 1 : 0);
        return 0;
    }
    if (nwords != 2)
        return usage(err, "unknown command '%s %s': an action takes COLLECTION ACTION ITEM",
                     coll, verb);
    inv->cmd = lookup(generic_commands, "do");
    inv->args[0] = coll;
    inv->args[1] = words[1];
    inv->args[2] = words[0];
    inv->nargs = 3;
    return 0;
}

/*
 * The command the words name: a generic command; `machine create`,
 * `machine capture`, `machine volume ...`; `system create|import|export`,
 * `system template ...` (on systemTemplates); `package upload|download`;
 * `COLLECTION VERB ARGS` for the CRUD verbs (`verb COLLECTION ARGS`); or
 * `COLLECTION ACTION ITEM`, which is `do COLLECTION ITEM ACTION`.
 */
static int resolve(char **words, int nwords, struct invocation *inv, struct cli_error *err)
{
    static char system_templates[] = "systemTemplates";
    const char *verb = nwords > 1 ? words[1] : "list";

    if ((inv->cmd = lookup(generic_commands, words[0])) != NULL) {
        set_args(inv, NULL, words + 1, nwords - 1);
        return 0;
    }
    if (is_machine_word(words[0]) && strcmp(verb, "volume") == 0)
        return resolve_volume(words, nwords, inv, err);
    if ((is_machine_word(words[0]) && (inv->cmd = lookup(machine_commands, verb)) != NULL) ||
        (is_system_word(words[0]) && (inv->cmd = lookup(system_commands, verb)) != NULL) ||
        (is_package_word(words[0]) && (inv->cmd = lookup(package_commands, verb)) != NULL)) {
        set_args(inv, NULL, words + 2, nwords - 2);
        return 0;
    }
    if (is_system_word(words[0]) && strcmp(verb, "template") == 0) {
        if (nwords > 2 && (inv->cmd = lookup(system_template_commands, words[2])) != NULL) {
            set_args(inv, NULL, words + 3, nwords - 3);
            return 0;
        }
        return resolve_resource_first(system_templates, words + 2, nwords - 2, inv, err);
    }
    return resolve_resource_first(words[0], words + 1, nwords - 1, inv, err);
}

/* Positional argument count and option groups fit the command. */
static int check_command(const struct command *cmd, int nargs, const struct cli_options *o,
                         const struct given_names *gn, struct cli_error *err)
{
    unsigned extra = o->given & ~cmd->options;

    if (nargs < cmd->min_args)
        return usage(err, "missing arguments for '%s'", cmd->name);
    if (nargs > cmd->max_args)
        return usage(err, "too many arguments for '%s'", cmd->name);
    for (int bit = 0; bit < 16; bit++)
        if (extra & (1u << bit))
            return usage(err, "option --%s does not apply to '%s'", gn->first[bit], cmd->name);
    return 0;
}

static int run(struct cli *cli, struct invocation *inv, struct cli_error *err)
{
    struct http_settings hs;

    if (config_resolve(&cli->opt.conn, &cli->settings, err) < 0)
        return -1;
    hs.user = cli->settings.has_user ? cli->settings.user : NULL;
    hs.password = cli->settings.password;
    hs.cacert = cli->settings.cacert[0] ? cli->settings.cacert : NULL;
    hs.insecure = cli->settings.insecure;
    hs.verbose = cli->opt.verbose;
    cli->http = http_open(&hs, err);
    if (cli->http == NULL)
        return -1;
    return inv->cmd->run(cli, inv->args, inv->nargs, err);
}

static int dispatch(struct cli *cli, int argc, char **argv, struct cli_error *err)
{
    struct given_names gn;
    struct invocation inv;
    int rc;

    memset(&gn, 0, sizeof(gn));
    rc = parse_options(argc, argv, &cli->opt, &gn, err);
    if (rc == 1) {
        print_help(stdout);
        return 0;
    }
    if (rc == 2) {
        printf("cimi %s\n", CIMI_VERSION);
        return 0;
    }
    if (rc < 0)
        return -1;
    if (optind >= argc)
        return usage(err, "no command given");
    memset(&inv, 0, sizeof(inv));
    if (resolve(argv + optind, argc - optind, &inv, err) < 0 ||
        check_command(inv.cmd, inv.nargs, &cli->opt, &gn, err) < 0)
        return -1;
    return run(cli, &inv, err);
}

int main(int argc, char **argv)
{
    struct cli cli;
    struct cli_error err;
    int rc;

    memset(&cli, 0, sizeof(cli));
    memset(&err, 0, sizeof(err));
    cli.opt.output = OUT_TABLE;
    cli.opt.timeout = 600;
    rc = dispatch(&cli, argc, argv, &err);
    fflush(stdout);
    http_close(cli.http);
    json_decref(cli.cep);
    free(cli.opt.properties.items);
    free(cli.opt.sets.items);
    if (rc < 0) {
        fprintf(stderr, "cimi: %s\n", err.message);
        return err.code;
    }
    return CLI_OK;
}
