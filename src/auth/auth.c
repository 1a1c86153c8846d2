/*
 * auth.c - password hashing, verification and the verified-credential cache.
 */
#include "auth/auth.h"

#include <crypt.h>
#include <nettle/hmac.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "util/clock.h"
#include "util/log.h"

#define CACHE_SLOTS 256
#define CACHE_TTL_SECONDS 300

/* "The password whose digest this is matched the hash of this user row".
 * Rights are not cached: they come from the row read for each request. */
struct cache_entry {
    unsigned char digest[32];    /* HMAC-SHA256(key, user ":" password) */
    char name[64];
    long long identity;          /* the row's version (store.h): new on every change */
    char hash[256];              /* the hash the password was checked against */
    time_t expires;
    bool used;
};

/* Keyed once with a random key at auth_init; each digest starts from a copy,
 * so the key schedule is not redone per request. */
static struct hmac_sha256_ctx cache_hmac;
static struct cache_entry cache[CACHE_SLOTS];
static pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER;
/* A real hash of a random password: unknown users cost as much as known ones. */
static char dummy_hash[256];

int auth_init(void)
{
    unsigned char key[32];
    char password[32];

    if (random_bytes(key, sizeof(key)) != 0 ||
        auth_random_password(password, sizeof(password)) != 0)
        return -1;
    hmac_sha256_set_key(&cache_hmac, sizeof(key), key);
    return auth_hash_password(password, dummy_hash, sizeof(dummy_hash));
}

bool auth_valid_name(const char *name)
{
    size_t n = strlen(name);

    if (n == 0 || n > 63)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-'))
            return false;
    }
    return true;
}

int auth_hash_password(const char *password, char *out, size_t len)
{
    char setting[CRYPT_GENSALT_OUTPUT_SIZE];
    struct crypt_data data;
    const char *hash;

    if (crypt_gensalt_rn("$y$", 0, NULL, 0, setting, sizeof(setting)) == NULL)
        return -1;
    memset(&data, 0, sizeof(data));
    hash = crypt_r(password, setting, &data);
    if (hash == NULL || hash[0] == '*' || strlen(hash) >= len)
        return -1;
    memcpy(out, hash, strlen(hash) + 1);
    return 0;
}

static bool password_matches(const char *password, const char *stored)
{
    struct crypt_data data;
    const char *hash;
    size_t n;
    unsigned char diff = 0;

    memset(&data, 0, sizeof(data));
    hash = crypt_r(password, stored, &data);
    if (hash == NULL || hash[0] == '*')
        return false;
    n = strlen(stored);
    if (strlen(hash) != n)
        return false;
    for (size_t i = 0; i < n; i++)
        diff |= (unsigned char)(hash[i] ^ stored[i]);
    return diff == 0;
}

/* HMAC-SHA256 of user ":" password (at most 1023 bytes, else -1: not cached). */
static int credential_digest(const char *user, const char *password, unsigned char digest[32])
{
    struct hmac_sha256_ctx ctx = cache_hmac;
    size_t user_len = strlen(user);
    size_t password_len = strlen(password);

    if (user_len + 1 + password_len >= 1024)
        return -1;
    hmac_sha256_update(&ctx, user_len, (const uint8_t *)user);
    hmac_sha256_update(&ctx, 1, (const uint8_t *)":");
    hmac_sha256_update(&ctx, password_len, (const uint8_t *)password);
    hmac_sha256_digest(&ctx, SHA256_DIGEST_SIZE, digest);
    return 0;
}

static struct cache_entry *cache_slot(const unsigned char digest[32])
{
    return &cache[digest[0] % CACHE_SLOTS];
}

/* Was this password verified against this very row (same identity, same
 * hash) less than CACHE_TTL_SECONDS ago? */
static bool cache_lookup(const unsigned char digest[32], const struct store_user *user)
{
    struct cache_entry *e;
    bool hit;

    pthread_mutex_lock(&cache_lock);
    e = cache_slot(digest);
    hit = e->used && memcmp(e->digest, digest, 32) == 0 && e->expires > time(NULL) &&
          e->identity == user->version && strcmp(e->name, user->name) == 0 &&
          strcmp(e->hash, user->hash) == 0;
    pthread_mutex_unlock(&cache_lock);
    return hit;
}

static void cache_store(const unsigned char digest[32], const struct store_user *user)
{
    struct cache_entry *e;

    pthread_mutex_lock(&cache_lock);
    e = cache_slot(digest);
    memcpy(e->digest, digest, 32);
    snprintf(e->name, sizeof(e->name), "%s", user->name);
    snprintf(e->hash, sizeof(e->hash), "%s", user->hash);
    e->identity = user->version;
    e->expires = time(NULL) + CACHE_TTL_SECONDS;
    e->used = true;
    pthread_mutex_unlock(&cache_lock);
}

/* who as the row says now. */
static void principal_of(const struct store_user *row, struct principal *who)
{
    snprintf(who->name, sizeof(who->name), "%s", row->name);
    snprintf(who->tenant, sizeof(who->tenant), "%s", row->tenant);
    who->admin = row->admin;
    who->identity = row->version;
}

int auth_check(struct store *st, const char *user, const char *password, struct principal *who,
               struct cimi_error *err)
{
    struct store_user row;
    unsigned char digest[32];
    bool have_digest;

    if (!auth_valid_name(user) || st->ops->user_get(st, user, &row, NULL) != 0) {
        /* Pay the same cost as a real check so timing does not reveal names. */
        password_matches(password, dummy_hash);
        return err_set(err, 401, NULL, "invalid user name or password");
    }
    have_digest = credential_digest(user, password, digest) == 0;
    if (!(have_digest && cache_lookup(digest, &row))) {
        if (!password_matches(password, row.hash))
            return err_set(err, 401, NULL, "invalid user name or password");
        if (have_digest)
            cache_store(digest, &row);
    }
    principal_of(&row, who);
    return 0;
}

bool auth_check_cached(struct store *st, const char *user, const char *password,
                       struct principal *who)
{
    struct store_user row;
    unsigned char digest[32];

    if (!auth_valid_name(user) || st->ops->user_get(st, user, &row, NULL) != 0 ||
        credential_digest(user, password, digest) != 0 || !cache_lookup(digest, &row))
        return false;
    principal_of(&row, who);
    return true;
}

int auth_still_current(struct store *st, const struct principal *who, struct cimi_error *err)
{
    struct store_user row;

    if (st->ops->user_get(st, who->name, &row, NULL) != 0 || row.version != who->identity)
        return err_set(err, 401, NULL, "invalid user name or password");
    return 0;
}

int auth_user_set(struct store *st, const char *name, const char *tenant, bool admin,
                  const char *password, struct cimi_error *err)
{
    struct store_user user;

    if (!auth_valid_name(name))
        return err_set(err, 400, "name", "invalid user name '%s' (1-63 of A-Z a-z 0-9 . _ -)", name);
    if (!auth_valid_name(tenant))
        return err_set(err, 400, "tenant", "invalid tenant name '%s' (1-63 of A-Z a-z 0-9 . _ -)",
                       tenant);
    if (strlen(password) < 8)
        return err_set(err, 400, "password", "password too short (at least 8 characters)");
    memset(&user, 0, sizeof(user));
    snprintf(user.name, sizeof(user.name), "%s", name);
    snprintf(user.tenant, sizeof(user.tenant), "%s", tenant);
    user.admin = admin;
    if (auth_hash_password(password, user.hash, sizeof(user.hash)) != 0)
        return err_set(err, 500, NULL, "cannot hash the password");
    return st->ops->user_put(st, &user, err);
}

int auth_random_password(char *out, size_t len)
{
    static const char alphabet[] = "abcdefghjkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    unsigned char bytes[20];

    if (len < sizeof(bytes) + 1 || random_bytes(bytes, sizeof(bytes)) != 0)
        return -1;
    for (size_t i = 0; i < sizeof(bytes); i++)
        out[i] = alphabet[bytes[i] % (sizeof(alphabet) - 1)];
    out[sizeof(bytes)] = '\0';
    return 0;
}
