/*
 * config.h - cimid's settings: defaults, config file, command-line options.
 *
 * Precedence: built-in defaults < config file (--config FILE) < options.
 * The config file holds "key = value" lines with the long option names as
 * keys ("port = 8080"); '#' starts a comment.
 */
#ifndef CIMID_CONFIG_H
#define CIMID_CONFIG_H

#include <stddef.h>

struct config {
    char listen[64];              /* listen address (IPv4 or IPv6 literal) */
    int port;
    char database[1024];          /* SQLite file */
    char connect[1024];           /* hypervisor URI */
    int log_level;                /* enum log_level */
    int workers;                  /* job worker threads */
    int transfer_workers;         /* job worker threads for long transfers (downloads) */
    int tenant_worker_share;      /* percent of each kind of worker one tenant may hold */
    int http_threads;             /* HTTP worker threads */
    long job_retention_minutes;   /* finished Jobs are deleted after this long */
    long max_body;                /* request body limit in bytes */
    long max_buffered_bodies;     /* body bytes all connections together may hold */
    int stop_timeout;             /* seconds a graceful stop waits for the guest */
    int connection_limit;         /* concurrent HTTP connections */
    int connection_timeout;       /* idle seconds, and seconds to send a request */
    int address_connection_limit; /* concurrent connections per client address (0 = any,
                                     -1 = the default: connection_limit / 8, at least 1) */
    long rate_limit;              /* requests/s per user (0 = no limit) */
    long rate_burst;              /* bucket size (0 = 2 x rate_limit) */
    long anonymous_rate_limit;    /* requests/s per address without valid credentials */
    long anonymous_rate_burst;    /* bucket size (0 = 2 x anonymous_rate_limit) */
    long login_delay_ms;          /* first failed login answered this late (0 = at once) */
    long login_delay_max_ms;      /* the delay doubles per failure up to this */
    char tls_cert[1024];          /* PEM certificate: HTTPS when set (with tls_key) */
    char tls_key[1024];
    char public_url[512];         /* base URI to publish instead of the Host header's */
    char accel[16];               /* QEMU: auto, kvm or tcg */
    char storage_dir[1024];       /* QEMU: machine disks and captured images ("" = default) */
    char probe_dir[1024];         /* QEMU: vmlinuz + initrd.img to check that KVM boots */
    char images_dir[1024];        /* images registered as shared MachineImages at start-up */
    char placement[8];            /* hosts: "spread" or "pack" */
    int memory_overcommit;        /* hosts: percent of memory machines may book (100 = none) */
    int cpu_overcommit;           /* hosts: percent of physical CPUs vCPUs may add up to */
    int host_check_interval;      /* hosts: seconds between reachability checks */
    long max_image_size;          /* bytes an http(s) MachineImage download may have */
    char download_allow[1024];    /* networks and host names downloads may reach anyway */
    long download_min_speed;      /* bytes/s a download must keep up (0 = no minimum) ... */
    long download_min_speed_time; /* ... over this many seconds */
    long download_timeout;        /* seconds a download may take in all */
    long max_upload;              /* bytes one Package upload may have */
    long package_quota;           /* bytes of Packages one tenant may keep */
    char import_dirs[4096];       /* --import-dir directories, '\n'-separated ("" = none) */
};

void config_defaults(struct config *cfg);

/* Set one setting by its long option name. -1 with a message in msg when the
 * name is unknown or the value is bad. */
int config_set(struct config *cfg, const char *key, const char *value, char *msg, size_t len);

/* Read a config file. -1 with a message naming the file and line on error. */
int config_load_file(struct config *cfg, const char *path, char *msg, size_t len);

#endif
