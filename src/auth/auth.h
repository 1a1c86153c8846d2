/*
 * auth.h - users, tenants and HTTP Basic credentials.
 *
 * Passwords are stored as salted yescrypt hashes (libcrypt).  Checking one
 * costs tens of milliseconds on purpose, so a verified (user, password) pair
 * is remembered for a short time under an HMAC-SHA256 of the pair keyed with
 * a per-process random key (never the password itself).  An entry holds
 * only that the password matched one row: the row's identity (a random
 * version, new on every add, role or password change, by this process or
 * by `cimid user` writing the same database) and hash must be the ones read
 * for the request, and the rights always come from that row.
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
    long long identity; /* the user row's version when it was read */
};

/* Prepare the credential cache (random key). 0 on success. */
int auth_init(void);

/* Check a user name and password; fills who. -1 with err 401 on failure. */
int auth_check(struct store *st, const char *user, const char *password, struct principal *who,
               struct cimi_error *err);

/* auth_check without the password check itself: true (who filled) only
 * when this password was verified against the user's current row recently;
 * false means auth_check must decide (it costs a yescrypt check). */
bool auth_check_cached(struct store *st, const char *user, const char *password,
                       struct principal *who);

/* Is who still the user's current row (not removed, re-added or changed
 * since auth_check)?  -1 with err 401 if not. */
int auth_still_current(struct store *st, const struct principal *who, struct cimi_error *err);

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
