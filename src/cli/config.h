/*
 * config.h - where the client finds its endpoint and credentials.
 *
 * Precedence, highest first: command-line flags; the profile named with
 * --profile; the environment (CIMI_URL, CIMI_USER, CIMI_PASSWORD,
 * CIMI_CACERT); the profile named by CIMI_PROFILE, or else [default].
 * Profiles live in ~/.config/cimi/config ($XDG_CONFIG_HOME/cimi/config,
 * or --config-file / CIMI_CONFIG):
 *
 *     [default]
 *     url = http://127.0.0.1:8080/cimi/cloudEntryPoint
 *     user = admin
 *     password = secret
 *     cacert = /path/ca.pem
 *     insecure = no
 */
#ifndef CIMI_CLI_CONFIG_H
#define CIMI_CLI_CONFIG_H

#include <stdbool.h>

#include "cli/fail.h"

#define CONFIG_VALUE_MAX 2048

/* What the command line said (NULL / false = not given). */
struct config_flags {
    const char *url, *user, *password, *cacert, *profile, *config_file;
    bool insecure;
};

/* The resolved settings. */
struct config {
    char url[CONFIG_VALUE_MAX];
    char user[256];
    char password[256];
    char cacert[CONFIG_VALUE_MAX];
    bool has_user, has_password, insecure;
    char profile[128];       /* profile used, "" if none */
    char source[64];         /* where the URL came from: "--url", "CIMI_URL", "profile x" */
};

/* Resolve the settings; -1 with err (CLI_CONFIG) on a bad or missing profile
 * file entry or when no endpoint is known.  May prompt for the password on
 * the terminal when a user is known but no password. */
int config_resolve(const struct config_flags *flags, struct config *out, struct cli_error *err);

#endif
