/*
 * config.c - the client's settings from flags, environment and profiles.
 *
 * The profile file is INI-like: "[name]" starts a profile, "key = value"
 * lines set url, user, password, cacert or insecure, '#' and ';' start
 * comments.  The whole file is checked, so a typo anywhere is reported
 * with its line number.  See config.h for the precedence.
 */
#include "cli/config.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

/* One layer of settings (a profile or the environment). */
struct layer {
    const char *url, *user, *password, *cacert;
    int insecure;  /* -1 unset, 0 no, 1 yes */
};

/* The values of the wanted profile, as read from the file. */
struct profile {
    char url[CONFIG_VALUE_MAX], user[256], password[256], cacert[CONFIG_VALUE_MAX];
    bool has_url, has_user, has_password, has_cacert;
    int insecure;
    bool found;
};

static char *trim(char *s)
{
    char *end;

    while (isspace((unsigned char)*s))
        s++;
    end = s + strlen(s);
    while (end > s && isspace((unsigned char)end[-1]))
        end--;
    *end = '\0';
    return s;
}

/* "value" -> value */
static char *unquote(char *s)
{
    size_t n = strlen(s);

    if (n >= 2 && s[0] == '"' && s[n - 1] == '"') {
        s[n - 1] = '\0';
        return s + 1;
    }
    return s;
}

static int parse_bool(const char *v)
{
    if (strcasecmp(v, "yes") == 0 || strcasecmp(v, "true") == 0 || strcmp(v, "1") == 0 ||
        strcasecmp(v, "on") == 0)
        return 1;
    if (strcasecmp(v, "no") == 0 || strcasecmp(v, "false") == 0 || strcmp(v, "0") == 0 ||
        strcasecmp(v, "off") == 0)
        return 0;
    return -1;
}

static int set_string(char *dst, size_t size, bool *has, const char *value, const char *path,
                      int line, struct cli_error *err)
{
    if (strlen(value) >= size)
        return cli_fail(err, CLI_CONFIG, "%s:%d: value too long", path, line);
    snprintf(dst, size, "%s", value);
    *has = true;
    return 0;
}

/* Apply "key = value" of the wanted profile. */
static int profile_set(struct profile *p, const char *key, const char *value, const char *path,
                       int line, struct cli_error *err)
{
    if (strcmp(key, "url") == 0)
        return set_string(p->url, sizeof(p->url), &p->has_url, value, path, line, err);
    if (strcmp(key, "user") == 0)
        return set_string(p->user, sizeof(p->user), &p->has_user, value, path, line, err);
    if (strcmp(key, "password") == 0)
        return set_string(p->password, sizeof(p->password), &p->has_password, value, path, line,
                          err);
    if (strcmp(key, "cacert") == 0)
        return set_string(p->cacert, sizeof(p->cacert), &p->has_cacert, value, path, line, err);
    p->insecure = parse_bool(value);
    if (p->insecure < 0)
        return cli_fail(err, CLI_CONFIG, "%s:%d: insecure must be yes or no, not '%.40s'", path,
                        line, value);
    return 0;
}

static bool known_key(const char *key)
{
    static const char *const keys[] = {"url", "user", "password", "cacert", "insecure", NULL};

    for (size_t i = 0; keys[i] != NULL; i++)
        if (strcmp(key, keys[i]) == 0)
            return true;
    return false;
}

/* One line of the file; *in_wanted tracks whether we are in the wanted profile. */
static int parse_line(char *text, const char *wanted, bool *in_wanted, struct profile *p,
                      const char *path, int line, struct cli_error *err)
{
    char *s = trim(text), *eq, *key, *value;
    size_t n = strlen(s);

    if (n == 0 || s[0] == '#' || s[0] == ';')
        return 0;
    if (s[0] == '[') {
        if (s[n - 1] != ']')
            return cli_fail(err, CLI_CONFIG, "%s:%d: expected [profile-name]", path, line);
        s[n - 1] = '\0';
        *in_wanted = strcmp(trim(s + 1), wanted) == 0;
        p->found |= *in_wanted;
        return 0;
    }
    eq = strchr(s, '=');
    if (eq == NULL)
        return cli_fail(err, CLI_CONFIG, "%s:%d: expected key = value or [profile-name]", path,
                        line);
    *eq = '\0';
    key = trim(s);
    value = unquote(trim(eq + 1));
    if (!known_key(key))
        return cli_fail(err, CLI_CONFIG,
                        "%s:%d: unknown key '%.40s' (keys: url, user, password, cacert, insecure)",
                        path, line, key);
    return *in_wanted ? profile_set(p, key, value, path, line, err) : 0;
}

static void warn_if_readable(FILE *f, const char *path, const struct profile *p)
{
    struct stat st;

    if (p->has_password && fstat(fileno(f), &st) == 0 && (st.st_mode & 077) != 0)
        fprintf(stderr, "cimi: warning: %s holds a password and is readable by others "
                        "(chmod 600 %s)\n", path, path);
}

/* Read profile `wanted` from path; a missing file is no error. */
static int load_profile(const char *path, const char *wanted, struct profile *p,
                        struct cli_error *err)
{
    char buf[4096];
    bool in_wanted = false;
    int line = 0;
    FILE *f;

    memset(p, 0, sizeof(*p));
    p->insecure = -1;
    f = fopen(path, "r");
    if (f == NULL) {
        if (errno == ENOENT)
            return 0;
        return cli_fail(err, CLI_CONFIG, "cannot read %s: %s", path, strerror(errno));
    }
    while (fgets(buf, sizeof(buf), f) != NULL) {
        line++;
        if (strchr(buf, '\n') == NULL && !feof(f)) {
            fclose(f);
            return cli_fail(err, CLI_CONFIG, "%s:%d: line too long", path, line);
        }
        if (parse_line(buf, wanted, &in_wanted, p, path, line, err) < 0) {
            fclose(f);
            return -1;
        }
    }
    warn_if_readable(f, path, p);
    fclose(f);
    return 0;
}

static void config_path(const struct config_flags *flags, char *out, size_t len)
{
    const char *env = getenv("CIMI_CONFIG"), *xdg = getenv("XDG_CONFIG_HOME");
    const char *home = getenv("HOME");

    if (flags->config_file != NULL)
        snprintf(out, len, "%s", flags->config_file);
    else if (env != NULL && *env != '\0')
        snprintf(out, len, "%s", env);
    else if (xdg != NULL && *xdg != '\0')
        snprintf(out, len, "%s/cimi/config", xdg);
    else
        snprintf(out, len, "%s/.config/cimi/config", home ? home : ".");
}

static const char *env_value(const char *name)
{
    const char *v = getenv(name);

    return (v != NULL && *v != '\0') ? v : NULL;
}

static struct layer profile_layer(const struct profile *p)
{
    struct layer l = {p->has_url ? p->url : NULL, p->has_user ? p->user : NULL,
                      p->has_password ? p->password : NULL, p->has_cacert ? p->cacert : NULL,
                      p->insecure};
    return l;
}

/* Copy the values of l that are set into out, unless a higher layer set them. */
static int apply(struct config *out, const struct layer *l, const char *source,
                 struct cli_error *err)
{
    if (l->url != NULL && out->url[0] == '\0') {
        snprintf(out->url, sizeof(out->url), "%s", l->url);
        snprintf(out->source, sizeof(out->source), "%s", source);
    }
    if (l->user != NULL && !out->has_user) {
        if (strlen(l->user) >= sizeof(out->user))
            return cli_fail(err, CLI_CONFIG, "user name too long (%s)", source);
        snprintf(out->user, sizeof(out->user), "%s", l->user);
        out->has_user = true;
    }
    if (l->password != NULL && !out->has_password) {
        if (strlen(l->password) >= sizeof(out->password))
            return cli_fail(err, CLI_CONFIG, "password too long (%s)", source);
        snprintf(out->password, sizeof(out->password), "%s", l->password);
        out->has_password = true;
    }
    if (l->cacert != NULL && out->cacert[0] == '\0')
        snprintf(out->cacert, sizeof(out->cacert), "%s", l->cacert);
    if (l->insecure == 1)
        out->insecure = true;
    return 0;
}

/* Ask for the password on the terminal with echo off. */
static int prompt_password(struct config *out, struct cli_error *err)
{
    struct termios old, quiet;
    FILE *tty = isatty(STDIN_FILENO) ? fopen("/dev/tty", "r+") : NULL;
    bool restored = false;
    char *nl;

    if (tty == NULL || !isatty(fileno(tty))) {
        if (tty != NULL)
            fclose(tty);
        return cli_fail(err, CLI_CONFIG, "no password for user '%s': give --password, set "
                        "CIMI_PASSWORD or add password = to the profile", out->user);
    }
    if (tcgetattr(fileno(tty), &old) == 0) {
        quiet = old;
        quiet.c_lflag &= ~(tcflag_t)ECHO;
        restored = tcsetattr(fileno(tty), TCSAFLUSH, &quiet) == 0;
    }
    fprintf(tty, "Password for %s: ", out->user);
    fflush(tty);
    if (fgets(out->password, sizeof(out->password), tty) == NULL)
        out->password[0] = '\0';
    if (restored)
        tcsetattr(fileno(tty), TCSAFLUSH, &old);
    fputc('\n', tty);
    fclose(tty);
    nl = strchr(out->password, '\n');
    if (nl != NULL)
        *nl = '\0';
    out->has_password = true;
    return 0;
}

int config_resolve(const struct config_flags *flags, struct config *out, struct cli_error *err)
{
    struct layer cmdline = {flags->url, flags->user, flags->password, flags->cacert,
                            flags->insecure ? 1 : -1};
    struct layer env = {env_value("CIMI_URL"), env_value("CIMI_USER"), env_value("CIMI_PASSWORD"),
                        env_value("CIMI_CACERT"), -1};
    const char *implicit = env_value("CIMI_PROFILE");
    const char *wanted = flags->profile ? flags->profile : implicit ? implicit : "default";
    struct profile prof;
    struct layer pl;
    char path[CONFIG_VALUE_MAX], source[192];

    memset(out, 0, sizeof(*out));
    config_path(flags, path, sizeof(path));
    if (load_profile(path, wanted, &prof, err) < 0)
        return -1;
    if (!prof.found && (flags->profile != NULL || implicit != NULL))
        return cli_fail(err, CLI_CONFIG, "no profile [%s] in %s", wanted, path);
    if (prof.found)
        snprintf(out->profile, sizeof(out->profile), "%s", wanted);
    snprintf(source, sizeof(source), "profile %s", wanted);
    pl = profile_layer(&prof);
    if (apply(out, &cmdline, "--url", err) < 0 ||
        (flags->profile != NULL && apply(out, &pl, source, err) < 0) ||
        apply(out, &env, "CIMI_URL", err) < 0 ||
        (flags->profile == NULL && apply(out, &pl, source, err) < 0))
        return -1;
    if (out->url[0] == '\0')
        return cli_fail(err, CLI_CONFIG, "no CIMI endpoint: give --url URL, set CIMI_URL, or "
                        "put url = ... in a profile of %s", path);
    if (out->has_user && !out->has_password)
        return prompt_password(out, err);
    return 0;
}
