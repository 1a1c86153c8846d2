/*
 * auth.h - users, tenants and HTTP Basic credentials.
 *
 * Passwords are stored as salted yescrypt hashes (libcrypt).  Checking one
 * costs tens of milliseconds on purpose, so a verified (user, password) pair
 * is remembered for a short time under an HMAC-SHA256 of the pair keyed with
 * a per-process random key (never the password itself); the entry is
 * dropped as soon as the user's row changes (removed, new password).
 */
#ifndef CIMID_AUTH_H
#define CIMID_AUTH_H

#include <stdbool.h>
#include <stddef.h>

#include "store/store.h"
#include "util/error.h"

/* Who is making a request. */
struct principal {
    char name[64];
    char tenant[64];
    bool admin;       /* sees and touches every tenant's resources */
};

/* Prepare the credential cache (random key). 0 on success. */
int auth_init(void);

/* Check a user name and password; fills who. -1 with err 401 on failure. */
int auth_check(struct store *st, const char *user, const char *password, struct principal *who,
               struct cimi_error *err);

/* Hash a password into out (a crypt(3) string). 0 on success. */
int auth_hash_password(const char *password, char *out, size_t len);

/* Names: 1-63 characters of [A-Za-z0-9._-]. */
bool auth_valid_name(const char *name);

/* Create or replace a user. 0 on success. */
int auth_user_set(struct store *st, const char *name, const char *tenant, bool admin,
                  const char *password, struct cimi_error *err);

/* A random password of 20 characters from an unambiguous alphabet. */
int auth_random_password(char *out, size_t len);

#endif
