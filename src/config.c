/*
 * config.c - defaults, "key = value" config files and option values.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hosts/hosts.h"
#include "util/destination.h"
#include "util/download.h"
#include "util/log.h"

void config_defaults(struct config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    snprintf(cfg->listen, sizeof(cfg->listen), "127.0.0.1");
    cfg->port = 8080;
    snprintf(cfg->database, sizeof(cfg->database), "cimid.db");
    snprintf(cfg->connect, sizeof(cfg->connect), "test:///default");
    cfg->log_level = LOG_INFO;
    cfg->workers = 4;
    cfg->transfer_workers = 2;
    cfg->tenant_worker_share = 75;
    cfg->http_threads = 4;
    cfg->job_retention_minutes = 1440;
    cfg->max_body = 1048576;
    cfg->max_buffered_bodies = 64L << 20;   /* 64 MiB */
    cfg->address_connection_limit = -1;     /* connection_limit / 8 */
    cfg->stop_timeout = 60;
    cfg->connection_limit = 1024;
    cfg->connection_timeout = 30;
    cfg->max_image_size = 16L << 30;  /* 16 GiB */
    cfg->download_min_speed = DOWNLOAD_MIN_SPEED_BYTES;
    cfg->download_min_speed_time = DOWNLOAD_MIN_SPEED_TIME_S;
    cfg->download_timeout = DOWNLOAD_TIMEOUT_S;
    cfg->max_upload = 16L << 30;      /* 16 GiB */
    cfg->package_quota = 64L << 30;   /* 64 GiB */
    cfg->anonymous_rate_limit = 10;
    cfg->login_delay_ms = 250;
    cfg->login_delay_max_ms = 8000;
    snprintf(cfg->accel, sizeof(cfg->accel), "auto");
    snprintf(cfg->placement, sizeof(cfg->placement), "spread");
    cfg->memory_overcommit = 100;
    cfg->cpu_overcommit = 1600;
    cfg->host_check_interval = 5;
}

static int parse_long(const char *value, long min, long max, long *out)
{
    char *end;
    long v;

    errno = 0;
    v = strtol(value, &end, 10);
    if (errno != 0 || end == value || *end != '\0' || v < min || v > max)
        return -1;
    *out = v;
    return 0;
}

static int set_string(char *dst, size_t size, const char *value, const char *key, char *msg,
                      size_t len)
{
    if (strlen(value) >= size) {
        snprintf(msg, len, "value of '%s' is too long", key);
        return -1;
    }
    memcpy(dst, value, strlen(value) + 1);
    return 0;
}

struct int_setting {
    const char *key;
    size_t offset;
    int is_long;
    long min, max;
};

static const struct int_setting int_settings[] = {
    {"port", offsetof(struct config, port), 0, 0, 65535},
    {"workers", offsetof(struct config, workers), 0, 1, 256},
    {"transfer-workers", offsetof(struct config, transfer_workers), 0, 0, 64},
    {"tenant-worker-share", offsetof(struct config, tenant_worker_share), 0, 1, 100},
    {"http-threads", offsetof(struct config, http_threads), 0, 1, 256},
    {"job-retention", offsetof(struct config, job_retention_minutes), 1, 1, 5256000},
    {"max-body", offsetof(struct config, max_body), 1, 1024, 1073741824},
    {"max-buffered-bodies", offsetof(struct config, max_buffered_bodies), 1, 1024, 1L << 40},
    {"stop-timeout", offsetof(struct config, stop_timeout), 0, 1, 3600},
    {"connection-limit", offsetof(struct config, connection_limit), 0, 1, 65536},
    {"connection-timeout", offsetof(struct config, connection_timeout), 0, 1, 3600},
    {"memory-overcommit", offsetof(struct config, memory_overcommit), 0, OVERCOMMIT_MIN_PCT,
     OVERCOMMIT_MAX_PCT},
    {"cpu-overcommit", offsetof(struct config, cpu_overcommit), 0, OVERCOMMIT_MIN_PCT,
     OVERCOMMIT_MAX_PCT},
    {"host-check-interval", offsetof(struct config, host_check_interval), 0, 1, 3600},
    {"max-image-size", offsetof(struct config, max_image_size), 1, 4096, 1L << 42},
    {"download-min-speed", offsetof(struct config, download_min_speed), 1, 0, 1L << 30},
    {"download-min-speed-time", offsetof(struct config, download_min_speed_time), 1, 1, 3600},
    {"download-timeout", offsetof(struct config, download_timeout), 1, 1, 604800},
    {"max-upload", offsetof(struct config, max_upload), 1, 1, 1L << 42},
    {"package-quota", offsetof(struct config, package_quota), 1, 0, 1L << 50},
    {"address-connection-limit", offsetof(struct config, address_connection_limit), 0, 0, 65536},
    {"rate-limit", offsetof(struct config, rate_limit), 1, 0, 1000000},
    {"rate-burst", offsetof(struct config, rate_burst), 1, 0, 10000000},
    {"anonymous-rate-limit", offsetof(struct config, anonymous_rate_limit), 1, 0, 1000000},
    {"anonymous-rate-burst", offsetof(struct config, anonymous_rate_burst), 1, 0, 10000000},
    {"login-delay", offsetof(struct config, login_delay_ms), 1, 0, 60000},
    {"login-delay-max", offsetof(struct config, login_delay_max_ms), 1, 0, 600000},
};

struct string_setting {
    const char *key;
    size_t offset;
    size_t size;
};

static const struct string_setting string_settings[] = {
    {"listen", offsetof(struct config, listen), sizeof(((struct config *)0)->listen)},
    {"database", offsetof(struct config, database), sizeof(((struct config *)0)->database)},
    {"connect", offsetof(struct config, connect), sizeof(((struct config *)0)->connect)},
    {"tls-cert", offsetof(struct config, tls_cert), sizeof(((struct config *)0)->tls_cert)},
    {"tls-key", offsetof(struct config, tls_key), sizeof(((struct config *)0)->tls_key)},
    {"public-url", offsetof(struct config, public_url), sizeof(((struct config *)0)->public_url)},
    {"storage-dir", offsetof(struct config, storage_dir), sizeof(((struct config *)0)->storage_dir)},
    {"probe-dir", offsetof(struct config, probe_dir), sizeof(((struct config *)0)->probe_dir)},
    {"images-dir", offsetof(struct config, images_dir), sizeof(((struct config *)0)->images_dir)},
    {"download-allow", offsetof(struct config, download_allow),
     sizeof(((struct config *)0)->download_allow)},
};

/* A base URI cimid can publish as it is: every href it renders starts with
 * it, in JSON strings and XML attributes alike. */
static bool valid_public_url(const char *url)
{
    if (strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0)
        return false;
    for (const char *p = url; *p != '\0'; p++)
        if (*p <= ' ' || *p > '~' || strchr("\"'<>\\`{}|^", *p) != NULL)
            return false;
    return true;
}

/* --import-dir is repeatable: each an absolute directory, kept one a line. */
static int add_import_dir(struct config *cfg, const char *dir, char *msg, size_t len)
{
    size_t used = strlen(cfg->import_dirs);

    if (dir[0] != '/' || strchr(dir, '\n') != NULL) {
        snprintf(msg, len, "import-dir must be an absolute directory, not '%s'", dir);
        return -1;
    }
    if (used + strlen(dir) + 2 > sizeof(cfg->import_dirs)) {
        snprintf(msg, len, "too many import-dir directories");
        return -1;
    }
    snprintf(cfg->import_dirs + used, sizeof(cfg->import_dirs) - used, "%s%s", used ? "\n" : "",
             dir);
    return 0;
}

int config_set(struct config *cfg, const char *key, const char *value, char *msg, size_t len)
{
    char *base = (char *)cfg;

    if (strcmp(key, "accel") == 0) {
        if (strcmp(value, "auto") != 0 && strcmp(value, "kvm") != 0 && strcmp(value, "tcg") != 0) {
            snprintf(msg, len, "accel must be auto, kvm or tcg, not '%s'", value);
            return -1;
        }
        snprintf(cfg->accel, sizeof(cfg->accel), "%s", value);
        return 0;
    }
    if (strcmp(key, "placement") == 0) {
        if (strcmp(value, "spread") != 0 && strcmp(value, "pack") != 0) {
            snprintf(msg, len, "placement must be spread or pack, not '%s'", value);
            return -1;
        }
        snprintf(cfg->placement, sizeof(cfg->placement), "%s", value);
        return 0;
    }
    if (strcmp(key, "public-url") == 0 && !valid_public_url(value)) {
        snprintf(msg, len, "public-url must be an http:// or https:// URL of printable ASCII "
                 "without spaces, quotes or angle brackets, not '%s'", value);
        return -1;
    }
    if (strcmp(key, "download-allow") == 0 && destination_check_allow_list(value, msg, len) != 0)
        return -1;
    if (strcmp(key, "import-dir") == 0)
        return add_import_dir(cfg, value, msg, len);
    if (strcmp(key, "log-level") == 0) {
        int level = log_level_parse(value);
        if (level < 0) {
            snprintf(msg, len, "log-level must be error, warn, info or debug, not '%s'", value);
            return -1;
        }
        cfg->log_level = level;
        return 0;
    }
    for (size_t i = 0; i < sizeof(string_settings) / sizeof(string_settings[0]); i++) {
        const struct string_setting *s = &string_settings[i];
        if (strcmp(key, s->key) == 0)
            return set_string(base + s->offset, s->size, value, key, msg, len);
    }
    for (size_t i = 0; i < sizeof(int_settings) / sizeof(int_settings[0]); i++) {
        const struct int_setting *s = &int_settings[i];
        long v;
        if (strcmp(key, s->key) != 0)
            continue;
        if (parse_long(value, s->min, s->max, &v) != 0) {
            snprintf(msg, len, "%s must be a whole number from %ld to %ld, not '%s'", key, s->min,
                     s->max, value);
            return -1;
        }
        if (s->is_long)
            *(long *)(base + s->offset) = v;
        else
            *(int *)(base + s->offset) = (int)v;
        return 0;
    }
    snprintf(msg, len, "unknown setting '%s'", key);
    return -1;
}

/* Trim white space at both ends, in place. */
static char *trim(char *s)
{
    char *end;

    while (isspace((unsigned char)*s))
        s++;
    end = s + strlen(s);
    while (end > s && isspace((unsigned char)end[-1]))
        *--end = '\0';
    return s;
}

int config_load_file(struct config *cfg, const char *path, char *msg, size_t len)
{
    FILE *f = fopen(path, "r");
    char line[2048];
    int lineno = 0;

    if (f == NULL) {
        snprintf(msg, len, "cannot open config file %s: %s", path, strerror(errno));
        return -1;
    }
    while (fgets(line, sizeof(line), f) != NULL) {
        char *hash = strchr(line, '#'), *eq, *key, *value;
        char why[256];

        lineno++;
        if (hash)
            *hash = '\0';
        key = trim(line);
        if (*key == '\0')
            continue;
        eq = strchr(key, '=');
        if (eq == NULL) {
            snprintf(msg, len, "%s:%d: expected 'key = value'", path, lineno);
            fclose(f);
            return -1;
        }
        *eq = '\0';
        value = trim(eq + 1);
        key = trim(key);
        if (config_set(cfg, key, value, why, sizeof(why)) != 0) {
            snprintf(msg, len, "%s:%d: %s", path, lineno, why);
            fclose(f);
            return -1;
        }
    }
    fclose(f);
    return 0;
}
