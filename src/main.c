/*
 * main.c - cimid's entry point: options, the `serve` daemon and the `user`
 * subcommands.
 *
 * Start-up order: settings, store (and the first admin on an empty
 * database), shipped resources, hypervisor, reconciliation of the store with
 * the hypervisor, job workers and recovery of unfinished Jobs, and only then
 * the HTTP server.  SIGTERM/SIGINT stop the server first, then let the
 * workers finish their queue.
 */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "auth/auth.h"
#include "config.h"
#include "driver/driver.h"
#include "http/server.h"
#include "jobs/jobs.h"
#include "resources/machine.h"
#include "resources/network.h"
#include "resources/package.h"
#include "resources/resource.h"
#include "resources/virtual.h"
#include "store/store.h"
#include "util/clock.h"
#include "util/destination.h"
#include "util/download.h"
#include "util/log.h"
#include "util/startup.h"

#define CIMID_VERSION "0.1.0"
#define SHUTDOWN_GRACE_SECONDS 30
#define PURGE_INTERVAL_SECONDS 60

static const char usage_text[] =
    "usage: cimid [serve] [OPTIONS]\n"
    "       cimid user add NAME [--tenant TENANT] [--admin] [--password-stdin] [--database FILE]\n"
    "       cimid user remove NAME [--database FILE]\n"
    "       cimid user list [--database FILE]\n"
    "\n"
    "cimid serves the DMTF CIMI 1.x API over HTTP (JSON and XML) and manages\n"
    "virtual machines through libvirt.\n"
    "\n"
    "Options (also accepted as `key = value` lines in a --config file):\n"
    "  -c, --config FILE            read settings from FILE first\n"
    "  -l, --listen ADDR            listen address (default 127.0.0.1)\n"
    "  -p, --port PORT              listen port (default 8080)\n"
    "  -d, --database FILE          SQLite database (default ./cimid.db)\n"
    "  -C, --connect URI            hypervisor URI (default test:///default;\n"
    "                               also qemu:///embed?root=DIR, qemu:///system)\n"
    "  -v, --log-level LEVEL        error, warn, info or debug (default info)\n"
    "      --workers N              job worker threads (default 4)\n"
    "      --transfer-workers N     job worker threads for downloads (default 2;\n"
    "                               0: the job workers run them too)\n"
    "      --tenant-worker-share PERCENT\n"
    "                               most of each kind of job worker one tenant\n"
    "                               holds at once (default 75, at least one)\n"
    "      --http-threads N         HTTP worker threads (default 4)\n"
    "      --job-retention MINUTES  keep finished Jobs this long (default 1440)\n"
    "      --max-body BYTES         request body limit (default 1048576)\n"
    "      --max-buffered-bodies BYTES  request body bytes all connections together\n"
    "                               may hold; beyond, 503 (default 67108864)\n"
    "      --stop-timeout SECONDS   how long a graceful stop waits (default 60)\n"
    "      --connection-limit N     concurrent HTTP connections (default 1024)\n"
    "      --connection-timeout S   a connection idle, or not done sending a request or\n"
    "                               taking its answer, this long is closed (default 30)\n"
    "      --address-connection-limit N  concurrent connections per client address\n"
    "                               (default --connection-limit / 8; 0: no own limit)\n"
    "      --rate-limit N           requests per second per user, 429 beyond (default 0: off)\n"
    "      --rate-burst N           requests a user may make at once (default 2 x rate)\n"
    "      --anonymous-rate-limit N requests per second per client address without valid\n"
    "                               credentials, failed logins included (default 10; 0: off)\n"
    "      --anonymous-rate-burst N (default 2 x rate)\n"
    "      --login-delay MS         a failed login is answered MS late, doubling with each\n"
    "                               failure in a row (default 250; 0: off)\n"
    "      --login-delay-max MS     the longest login delay (default 8000)\n"
    "      --tls-cert FILE          PEM certificate: serve HTTPS (with --tls-key)\n"
    "      --tls-key FILE           PEM private key\n"
    "      --public-url URL         base URI to publish (default: from the Host header)\n"
    "      --images-dir DIR         register the images in DIR (*.qcow2, *.img, *.raw) as\n"
    "                               MachineImages shared by every tenant\n"
    "      --accel auto|kvm|tcg     QEMU acceleration (default auto: KVM only if a guest\n"
    "                               really boots under it, else TCG)\n"
    "      --probe-dir DIR          vmlinuz + initrd.img that auto boots to check KVM\n"
    "      --storage-dir DIR        QEMU disks and captured images of the --connect host\n"
    "                               (default ROOT/storage for qemu:///embed?root=ROOT,\n"
    "                               else /var/lib/cimid/storage; test:///default: where\n"
    "                               downloaded images go, none by default)\n"
    "      --placement spread|pack  which host a new machine goes to: the emptiest\n"
    "                               (default) or the fullest that has room\n"
    "      --memory-overcommit PCT  memory machines may book, in percent of a host's\n"
    "                               (default 100: never over-commit)\n"
    "      --cpu-overcommit PCT     vCPUs per physical CPU, in percent (default 1600)\n"
    "      --host-check-interval S  seconds between host reachability checks (default 5)\n"
    "      --max-image-size BYTES   largest http(s) MachineImage download (default 16 GiB)\n"
    "      --download-allow LIST    networks (CIDR) and host names image downloads may reach\n"
    "                               although internal, comma-separated, e.g.\n"
    "                               127.0.0.1/32,mirror.example (default: none; loopback,\n"
    "                               private, link-local, multicast and the host's own\n"
    "                               addresses are refused)\n"
    "      --download-min-speed BYTES  a download slower than BYTES per second over\n"
    "      --download-min-speed-time S  S seconds fails (default 1024 over 30; 0: none)\n"
    "      --download-timeout S     a download taking longer fails (default 3600)\n"
    "      --max-upload BYTES       largest Package (OVA) upload (default 16 GiB)\n"
    "      --package-quota BYTES    bytes of Packages one tenant may keep (default 64 GiB)\n"
    "      --import-dir DIR         imports may read files in DIR (repeatable; none by\n"
    "                               default)\n"
    "  -h, --help                   this text\n"
    "  -V, --version                print the version\n"
    "\n"
    "User options:\n"
    "      --tenant TENANT          the user's tenant (default: the user's name)\n"
    "      --admin                  the user sees and manages every tenant\n"
    "      --password-stdin         read the password from standard input\n"
    "                               (otherwise a random one is generated and printed)\n"
    "\n"
    "On first start with an empty database cimid creates the user 'admin' with a\n"
    "random password and prints it once.\n";

static const struct option long_options[] = {
    {"config", required_argument, NULL, 'c'},
    {"listen", required_argument, NULL, 'l'},
    {"port", required_argument, NULL, 'p'},
    {"database", required_argument, NULL, 'd'},
    {"connect", required_argument, NULL, 'C'},
    {"log-level", required_argument, NULL, 'v'},
    {"workers", required_argument, NULL, 0},
    {"transfer-workers", required_argument, NULL, 0},
    {"tenant-worker-share", required_argument, NULL, 0},
    {"http-threads", required_argument, NULL, 0},
    {"job-retention", required_argument, NULL, 0},
    {"max-body", required_argument, NULL, 0},
    {"max-buffered-bodies", required_argument, NULL, 0},
    {"stop-timeout", required_argument, NULL, 0},
    {"connection-limit", required_argument, NULL, 0},
    {"connection-timeout", required_argument, NULL, 0},
    {"address-connection-limit", required_argument, NULL, 0},
    {"rate-limit", required_argument, NULL, 0},
    {"rate-burst", required_argument, NULL, 0},
    {"anonymous-rate-limit", required_argument, NULL, 0},
    {"anonymous-rate-burst", required_argument, NULL, 0},
    {"login-delay", required_argument, NULL, 0},
    {"login-delay-max", required_argument, NULL, 0},
    {"tls-cert", required_argument, NULL, 0},
    {"tls-key", required_argument, NULL, 0},
    {"public-url", required_argument, NULL, 0},
    {"accel", required_argument, NULL, 0},
    {"storage-dir", required_argument, NULL, 0},
    {"probe-dir", required_argument, NULL, 0},
    {"images-dir", required_argument, NULL, 0},
    {"placement", required_argument, NULL, 0},
    {"memory-overcommit", required_argument, NULL, 0},
    {"cpu-overcommit", required_argument, NULL, 0},
    {"host-check-interval", required_argument, NULL, 0},
    {"max-image-size", required_argument, NULL, 0},
    {"download-allow", required_argument, NULL, 0},
    {"download-min-speed", required_argument, NULL, 0},
    {"download-min-speed-time", required_argument, NULL, 0},
    {"download-timeout", required_argument, NULL, 0},
    {"max-upload", required_argument, NULL, 0},
    {"package-quota", required_argument, NULL, 0},
    {"import-dir", required_argument, NULL, 0},
    {"tenant", required_argument, NULL, 't'},
    {"admin", no_argument, NULL, 'a'},
    {"password-stdin", no_argument, NULL, 's'},
    {"help", no_argument, NULL, 'h'},
    {"version", no_argument, NULL, 'V'},
    {NULL, 0, NULL, 0},
};

struct user_options {
    char tenant[64];
    int admin;
    int password_stdin;
};

static const char *option_key(int ch, int index)
{
    switch (ch) {
    case 'l': return "listen";
    case 'p': return "port";
    case 'd': return "database";
    case 'C': return "connect";
    case 'v': return "log-level";
    case 0: return long_options[index].name;
    default: return NULL;
    }
}

/* Parse options: --config first, then the rest over it. Returns the index of
 * the first non-option argument, or -1 (message printed), or -2 (exit 0). */
static int parse_options(int argc, char **argv, struct config *cfg, struct user_options *uo,
                         bool permute)
{
    char msg[512];
    int ch, index;

    for (int i = 1; i < argc - 1; i++) {
        if (strcmp(argv[i], "-c") == 0 || strcmp(argv[i], "--config") == 0) {
            if (config_load_file(cfg, argv[i + 1], msg, sizeof(msg)) != 0) {
                fprintf(stderr, "cimid: %s\n", msg);
                return -1;
            }
        }
    }
    optind = 0;  /* re-initialise getopt: it runs once per subcommand */
    while ((ch = getopt_long(argc, argv, permute ? "c:l:p:d:C:v:hV" : "+c:l:p:d:C:v:hV",
                             long_options, &index)) != -1) {
        const char *key = option_key(ch, index);
        if (ch == 'c')
            continue;
        if (ch == 'h') {
            fputs(usage_text, stdout);
            return -2;
        }
        if (ch == 'V') {
            printf("cimid %s\n", CIMID_VERSION);
            return -2;
        }
        if (ch == 't') {
            snprintf(uo->tenant, sizeof(uo->tenant), "%s", optarg);
            continue;
        }
        if (ch == 'a' || ch == 's') {
            *(ch == 'a' ? &uo->admin : &uo->password_stdin) = 1;
            continue;
        }
        if (key == NULL) {
            fputs(usage_text, stderr);
            return -1;
        }
        if (config_set(cfg, key, optarg, msg, sizeof(msg)) != 0) {
            fprintf(stderr, "cimid: %s\n", msg);
            return -1;
        }
    }
    return optind;
}

static struct store *open_store(const struct config *cfg)
{
    struct cimi_error err;
    struct store *st;

    store_configure(&store_sqlite, cfg->database);
    st = store_for_thread(&err);
    if (st == NULL)
        fprintf(stderr, "cimid: %s\n", err.message);
    return st;
}

static int read_password(char *out, size_t len)
{
    size_t n;

    if (fgets(out, (int)len, stdin) == NULL)
        return -1;
    n = strlen(out);
    while (n > 0 && (out[n - 1] == '\n' || out[n - 1] == '\r'))
        out[--n] = '\0';
    return 0;
}

static int print_user(void *ctx, const struct store_user *user)
{
    (void)ctx;
    printf("%-24s %-24s %s\n", user->name, user->tenant, user->admin ? "admin" : "user");
    return 0;
}

static int user_command(int argc, char **argv, int first, const struct config *cfg,
                        const struct user_options *uo)
{
    struct store *st;
    struct cimi_error err;
    char password[256];
    const char *verb = first < argc ? argv[first] : "";
    const char *name = first + 1 < argc ? argv[first + 1] : NULL;

    if ((strcmp(verb, "add") == 0 || strcmp(verb, "remove") == 0) && name == NULL) {
        fprintf(stderr, "cimid: user %s needs a NAME\n", verb);
        return 2;
    }
    if (strcmp(verb, "add") != 0 && strcmp(verb, "remove") != 0 && strcmp(verb, "list") != 0) {
        fputs(usage_text, stderr);
        return 2;
    }
    st = open_store(cfg);
    if (st == NULL)
        return 1;
    if (strcmp(verb, "list") == 0) {
        printf("%-24s %-24s %s\n", "NAME", "TENANT", "ROLE");
        return st->ops->user_list(st, print_user, NULL, &err) == 0 ? 0 : 1;
    }
    if (strcmp(verb, "remove") == 0) {
        if (st->ops->user_remove(st, name, &err) != 0) {
            fprintf(stderr, "cimid: %s\n", err.message);
            return 1;
        }
        printf("removed user %s\n", name);
        return 0;
    }
    if (uo->password_stdin ? read_password(password, sizeof(password)) != 0
                           : auth_random_password(password, sizeof(password)) != 0) {
        fprintf(stderr, "cimid: cannot read a password\n");
        return 1;
    }
    if (auth_user_set(st, name, uo->tenant[0] ? uo->tenant : name, uo->admin != 0, password,
                      &err) != 0) {
        fprintf(stderr, "cimid: %s\n", err.message);
        return 1;
    }
    printf("user %s (tenant %s%s) saved\n", name, uo->tenant[0] ? uo->tenant : name,
           uo->admin ? ", admin" : "");
    if (!uo->password_stdin)
        printf("password: %s\n", password);
    return 0;
}

static int count_user(void *ctx, const struct store_user *user)
{
    (void)user;
    (*(int *)ctx)++;
    return 1;
}

/* First run: no user at all -> create "admin" with a random password. */
static int ensure_admin(struct store *st)
{
    struct cimi_error err;
    char password[64];
    int users = 0;

    if (st->ops->user_list(st, count_user, &users, &err) != 0) {
        log_error("auth: %s", err.message);
        return -1;
    }
    if (users > 0)
        return 0;
    if (auth_random_password(password, sizeof(password)) != 0 ||
        auth_user_set(st, "admin", "admin", true, password, &err) != 0) {
        log_error("auth: cannot create the first admin: %s", err.message);
        return -1;
    }
    fprintf(stderr,
            "\n  First start: created the CIMI user 'admin' (admin role).\n"
            "  user: admin   password: %s\n"
            "  This password is shown only once. Add users with `cimid user add`.\n\n",
            password);
    return 0;
}

/* Packages (OVA files) live in "packages" beside the database. */
static int start_packages(const struct config *cfg, struct store *st, struct cimi_error *err)
{
    char dir[sizeof(cfg->database) + 16];
    const char *slash = strrchr(cfg->database, '/');

    if (slash == NULL)
        snprintf(dir, sizeof(dir), "packages");
    else
        snprintf(dir, sizeof(dir), "%.*s/packages", (int)(slash - cfg->database), cfg->database);
    return package_setup(st, &(struct package_settings){dir, cfg->max_upload, cfg->package_quota,
                                                        cfg->import_dirs, cfg->max_image_size},
                         err);
}

static int start_services(const struct config *cfg, struct store *st)
{
    struct hv_options options = {
        .accel = cfg->accel,
        .storage_dir = cfg->storage_dir[0] ? cfg->storage_dir : NULL,
        .probe_dir = cfg->probe_dir[0] ? cfg->probe_dir : NULL,
        .images_dir = cfg->images_dir[0] ? cfg->images_dir : NULL,
    };
    struct cimi_error err;
    char msg[512];
    int recovered;

    if (destination_set_allow_list(cfg->download_allow, msg, sizeof(msg)) != 0) {
        log_error("%s", msg);
        return -1;
    }
    if (auth_init() != 0) {
        log_error("auth: cannot initialise");
        return -1;
    }
    err_clear(&err);
    if (ensure_admin(st) != 0 || resource_seed(st, &err) != 0 ||
        (cfg->images_dir[0] && resource_register_images(st, cfg->images_dir, &err) != 0)) {
        if (err.message[0])
            log_error("seed: %s", err.message);
        return -1;
    }
    hosts_configure(&options, strcmp(cfg->placement, "pack") == 0 ? PLACE_PACK : PLACE_SPREAD);
    host_set_defaults(cfg->memory_overcommit, cfg->cpu_overcommit);
    if (host_open_all(st, cfg->connect, cfg->accel, &err) != 0) {
        log_error("hypervisor: cannot open %s: %s", cfg->connect, err.message);
        return -1;
    }
    machine_set_stop_timeout(cfg->stop_timeout);
    machine_image_set_max_size(cfg->max_image_size);
    download_set_limits(cfg->download_min_speed, cfg->download_min_speed_time,
                        cfg->download_timeout);
    metadata_set_job_retention(cfg->job_retention_minutes);
    if (start_packages(cfg, st, &err) != 0) {
        log_error("package: %s", err.message);
        return -1;
    }
    network_reconcile(st);  /* networks first: machines' interfaces need them */
    /* The monitor and the workers wait at the start-up gate until the
     * machines are reconciled (reconcile_main). */
    startup_begin();
    if (hosts_start_monitor(cfg->host_check_interval, machine_host_returned) != 0) {
        log_error("host: cannot start the monitor thread");
        return -1;
    }
    if (jobs_start(&(struct jobs_config){cfg->workers, cfg->transfer_workers,
                                         cfg->tenant_worker_share, cfg->job_retention_minutes},
                   resource_job_kinds) != 0) {
        log_error("job: cannot start the workers");
        return -1;
    }
    recovered = jobs_recover(st);
    if (recovered > 0)
        log_info("job: %d unfinished Jobs resumed", recovered);
    return 0;
}

/* Start-up's last step, while HTTP already answers reads: re-create the
 * machines an ephemeral hypervisor forgot, then open the start-up gate
 * (startup.h) for changes, Jobs and the host monitor. */
static void *reconcile_main(void *arg)
{
    double started = clock_mono_ms();
    struct cimi_error err;
    struct store *st = store_for_thread(&err);

    (void)arg;
    if (st == NULL)
        log_error("reconcile: %s", err.message);
    else
        machine_reconcile(st);
    store_release_thread();
    if (startup_aborted())
        return NULL;
    startup_done();
    log_info("cimid: machines reconciled in %.0f ms; changes and Jobs run",
             clock_mono_ms() - started);
    return NULL;
}

/* Also while HTTP already answers: build the store's index of rows (a
 * second or so at 100,000 Machines) beside reconciliation, so that the
 * first collection read does not pay for it.  A read that comes earlier
 * waits for the build under way, or builds the index itself. */
static void *build_index_main(void *arg)
{
    double started = clock_mono_ms();
    struct cimi_error err;
    struct store *st = store_for_thread(&err);

    (void)arg;
    if (st != NULL && st->ops->build_index != NULL) {
        err_clear(&err);
        if (st->ops->build_index(st, &err) == 0)
            log_info("store: index of rows built in %.0f ms", clock_mono_ms() - started);
        else
            log_warn("store: index not built at start-up (%s); the first collection read builds it",
                     err.message);
    } else if (st == NULL) {
        log_warn("store: index not built at start-up (%s)", err.message);
    }
    store_release_thread();
    return NULL;
}

/* Stop what start_services started (after HTTP stopped). */
static void stop_services(pthread_t *reconciler)
{
    startup_abort();  /* reconciliation ends early; waiters give up */
    if (reconciler != NULL)
        pthread_join(*reconciler, NULL);
    jobs_shutdown(SHUTDOWN_GRACE_SECONDS);
    hosts_close_all();
}

/* Block the stop signals in every thread; the main thread waits for them. */
static void block_signals(sigset_t *set)
{
    sigemptyset(set);
    sigaddset(set, SIGTERM);
    sigaddset(set, SIGINT);
    sigaddset(set, SIGHUP);
    pthread_sigmask(SIG_BLOCK, set, NULL);
    signal(SIGPIPE, SIG_IGN);
}

static int wait_for_stop(const sigset_t *set, struct store *st)
{
    for (;;) {
        struct timespec interval = {PURGE_INTERVAL_SECONDS, 0};
        int sig = sigtimedwait(set, NULL, &interval);
        if (sig == SIGTERM || sig == SIGINT)
            return sig;
        if (sig < 0 && errno == EAGAIN)
            jobs_purge(st);
    }
}

static int serve(const struct config *cfg)
{
    struct http_server *srv;
    struct store *st;
    pthread_t reconciler, indexer;
    bool indexing;
    sigset_t set;
    int sig;

    block_signals(&set);
    st = open_store(cfg);
    if (st == NULL || start_services(cfg, st) != 0)
        return 1;
    jobs_purge(st);
    srv = http_server_start(cfg);
    if (srv == NULL) {
        stop_services(NULL);
        return 1;
    }
    if (pthread_create(&reconciler, NULL, reconcile_main, NULL) != 0) {
        log_error("reconcile: cannot start its thread");
        http_server_stop(srv);
        stop_services(NULL);
        return 1;
    }
    indexing = pthread_create(&indexer, NULL, build_index_main, NULL) == 0;
    if (!indexing)
        log_warn("store: cannot start the index thread; the first collection read builds it");
    log_info("cimid %s ready: %s://%s:%d/cimi/cloudEntryPoint (hypervisor %s, database %s)",
             CIMID_VERSION, cfg->tls_cert[0] ? "https" : "http", cfg->listen, cfg->port,
             cfg->connect, cfg->database);
    sig = wait_for_stop(&set, st);
    log_info("cimid: %s received, stopping", sig == SIGTERM ? "SIGTERM" : "SIGINT");
    startup_abort();  /* requests waiting at the gate answer 503 */
    http_server_stop(srv);
    stop_services(&reconciler);
    if (indexing)
        pthread_join(indexer, NULL);
    store_release_thread();
    log_info("cimid: stopped");
    return 0;
}

int main(int argc, char **argv)
{
    struct config cfg;
    struct user_options uo;
    int first;

    config_defaults(&cfg);
    memset(&uo, 0, sizeof(uo));
    first = parse_options(argc, argv, &cfg, &uo, false);
    if (first == -2)
        return 0;
    if (first < 0)
        return 2;
    log_set_level((enum log_level)cfg.log_level);
    if (first < argc && strcmp(argv[first], "user") == 0) {
        /* Options may also follow the subcommand's words. */
        int rest = parse_options(argc - first, argv + first, &cfg, &uo, true);
        if (rest < 0)
            return rest == -2 ? 0 : 2;
        return user_command(argc - first, argv + first, rest, &cfg, &uo);
    }
    if (first < argc && strcmp(argv[first], "serve") == 0) {
        int rest = parse_options(argc - first, argv + first, &cfg, &uo, true);
        if (rest < 0)
            return rest == -2 ? 0 : 2;
        first += rest;
    }
    if (first < argc) {
        fprintf(stderr, "cimid: unexpected argument '%s'\n\n%s", argv[first], usage_text);
        return 2;
    }
    log_set_level((enum log_level)cfg.log_level);
    if ((cfg.tls_cert[0] != '\0') != (cfg.tls_key[0] != '\0')) {
        fprintf(stderr, "cimid: %s needs %s too (HTTPS takes a certificate and its key)\n",
                cfg.tls_cert[0] ? "--tls-cert" : "--tls-key",
                cfg.tls_cert[0] ? "--tls-key" : "--tls-cert");
        return 2;
    }
    if (cfg.max_buffered_bodies < cfg.max_body) {
        fprintf(stderr, "cimid: --max-buffered-bodies (%ld) must be at least --max-body (%ld)\n",
                cfg.max_buffered_bodies, cfg.max_body);
        return 2;
    }
    return serve(&cfg);
}
