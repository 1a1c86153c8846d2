/*
 * test_package.c - unit tests of the Package code: package_begin and
 * package_finish as an export Job uses them (src/resources/package.c), and
 * src/resources/package_source.c: which import sources are accepted (a Package of the principal, files in
 * an --import-dir, http(s) URLs) and how every other kind is refused (other
 * tenants' Packages exactly like made-up ones, relative paths, "..", links
 * out of the directory, directories, other schemes), and what
 * package_source_fetch gives the Job.
 */
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "resources/package.h"
#include "resources/resource.h"

#define A_PKG "packages/11111111-1111-4111-8111-111111111111"
#define B_PKG "packages/22222222-2222-4222-8222-222222222222"
#define A_BUSY "packages/33333333-3333-4333-8333-333333333333"
#define NONE "packages/44444444-4444-4444-8444-444444444444"

static char root[] = "/tmp/cimid-pkgsrc-XXXXXX";

static void put_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");

    if (f != NULL) {
        fputs(text, f);
        fclose(f);
    }
}

static void add_package(struct store *st, const char *id, const char *tenant, const char *state)
{
    struct store_row row;
    struct cimi_error err;
    char file[PATH_MAX];

    memset(&row, 0, sizeof(row));
    snprintf(row.id, sizeof(row.id), "%s", id);
    snprintf(row.type, sizeof(row.type), "Package");
    snprintf(row.tenant, sizeof(row.tenant), "%s", tenant);
    row.doc = json_pack("{s:s, s:i}", "state", state, "size", 3);
    row.priv = json_object();
    st->ops->insert(st, &row, &err);
    store_row_clear(&row);
    snprintf(file, sizeof(file), "%s/db/packages/%s.ova", root, id + strlen("packages/"));
    put_file(file, "ova");
}

/* Check source for the request; the status (0 = accepted) and err. */
static int status_of(struct cimi_request *req, const char *source, struct import_source *src,
                     struct cimi_error *err)
{
    err_clear(err);
    return package_source_check(req, source, src, err) == 0 ? 0 : err->status;
}

static void test_packages(struct cimi_request *req)
{
    struct import_source src;
    struct cimi_error err, other;
    char msg[sizeof(err.message)];

    CHECK(status_of(req, "http://h/cimi/" A_PKG, &src, &err) == 0 &&
              strcmp(src.kind, "package") == 0 && strcmp(src.where, A_PKG) == 0,
          "packages: the principal's AVAILABLE Package by absolute href");
    CHECK(status_of(req, A_PKG, &src, &err) == 0 && strcmp(src.where, A_PKG) == 0,
          "packages: by relative href");
    CHECK(status_of(req, "/cimi/" A_PKG, &src, &err) == 0 && strcmp(src.where, A_PKG) == 0,
          "packages: by absolute path");
    CHECK(status_of(req, NONE, &src, &err) == 400, "packages: a made-up id is 400");
    snprintf(msg, sizeof(msg), "%s", err.message);
    CHECK(status_of(req, B_PKG, &src, &other) == 400 && strcmp(other.message, msg) == 0,
          "packages: another tenant's is refused exactly like a made-up one (%s)", other.message);
    CHECK(status_of(req, A_BUSY, &src, &err) == 409, "packages: a CREATING one is 409");
    CHECK(status_of(req, "http://other.example/cimi/" A_PKG, &src, &err) == 0 &&
              strcmp(src.kind, "url") == 0,
          "packages: another host's URL is a URL, not a Package");
    CHECK(status_of(req, "machines/1", &src, &err) == 400, "packages: another resource is 400");
}

static void test_files(struct cimi_request *req, const char *imports)
{
    struct import_source src;
    struct cimi_error err;
    char path[PATH_MAX], outside[PATH_MAX], link_path[PATH_MAX], real[PATH_MAX];

    snprintf(path, sizeof(path), "%s/app.ova", imports);
    put_file(path, "ova");
    snprintf(outside, sizeof(outside), "%s/secret", root);
    put_file(outside, "secret");
    snprintf(link_path, sizeof(link_path), "%s/escape.ova", imports);
    CHECK(symlink(outside, link_path) == 0, "files: a link out made");
    CHECK(realpath(path, real) != NULL, "files: the file resolves");

    CHECK(status_of(req, path, &src, &err) == 0 && strcmp(src.kind, "file") == 0 &&
              strcmp(src.where, real) == 0,
          "files: an absolute path inside the import directory");
    snprintf(path, sizeof(path), "file://%s/app.ova", imports);
    CHECK(status_of(req, path, &src, &err) == 0 && strcmp(src.where, real) == 0,
          "files: a file:// URL inside it");
    snprintf(path, sizeof(path), "%s/../secret", imports);
    CHECK(status_of(req, path, &src, &err) == 400, "files: '..' refused");
    CHECK(status_of(req, link_path, &src, &err) == 400, "files: a link out of it refused");
    CHECK(status_of(req, outside, &src, &err) == 400, "files: a file outside refused");
    CHECK(status_of(req, imports, &src, &err) == 400, "files: a directory refused");
    snprintf(path, sizeof(path), "%s/missing.ova", imports);
    CHECK(status_of(req, path, &src, &err) == 400, "files: a missing file refused");
    CHECK(status_of(req, "app.ova", &src, &err) == 400, "files: a relative path refused");
    CHECK(status_of(req, "/etc/passwd", &src, &err) == 400, "files: a host file refused");
}

static void test_schemes(struct cimi_request *req)
{
    static const char *const refused[] = {
        "", "ftp://h/x.ova", "gopher://h/", "javascript:alert(1)", "data:,x", "http:///x",
        "https://", "http://h/x\n.ova", "file:relative", "\\\\server\\share", NULL,
    };
    struct import_source src;
    struct cimi_error err;

    CHECK(status_of(req, "https://mirror.example/app.ova", &src, &err) == 0 &&
              strcmp(src.kind, "url") == 0 &&
              strcmp(src.where, "https://mirror.example/app.ova") == 0,
          "schemes: an https URL");
    CHECK(status_of(req, "HTTP://mirror.example/app.ova", &src, &err) == 0, "schemes: any case");
    for (size_t i = 0; refused[i] != NULL; i++)
        CHECK(status_of(req, refused[i], &src, &err) == 400, "schemes: '%s' refused", refused[i]);
    CHECK(status_of(req, NULL, &src, &err) == 400, "schemes: a missing source refused");
}

static void test_fetch(struct store *st, struct cimi_request *req)
{
    struct import_source src;
    struct cimi_error err;
    struct stat a, b;
    char path[PATH_MAX], file[PATH_MAX];
    bool temp;

    CHECK(status_of(req, A_PKG, &src, &err) == 0, "fetch: the source checked");
    CHECK(package_source_fetch(st, "jobs/x", &src, path, sizeof(path), &temp, &err) == 0 && temp,
          "fetch: a Package gives a temporary file");
    snprintf(file, sizeof(file), "%s/db/packages/%s.ova", root, A_PKG + strlen("packages/"));
    CHECK(stat(path, &a) == 0 && stat(file, &b) == 0 && a.st_ino == b.st_ino,
          "fetch: the Package's file itself, linked (a delete cannot take it away)");
    unlink(path);
    st->ops->remove(st, A_PKG, &err);
    err_clear(&err);
    CHECK(package_source_fetch(st, "jobs/x", &src, path, sizeof(path), &temp, &err) != 0 &&
              err.status == 404,
          "fetch: a Package deleted meanwhile is gone");
}

/* package_begin in a transaction, the file written, package_finish: the
 * Package AVAILABLE with the file's size and sha256; a failed one leaves
 * neither row nor file. */
static void test_begin_finish(struct store *st, struct cimi_request *req)
{
    struct store_row row, got;
    struct cimi_error err;
    char path[PATH_MAX], id[256];
    const char *origin;

    CHECK(st->ops->begin(st, &err) == 0 &&
              package_begin(req, "export", "systems/s1", &row, path, sizeof(path), &err) == 0 &&
              st->ops->commit(st, &err) == 0,
          "begin: a Package in the request's transaction");
    snprintf(id, sizeof(id), "%s", row.id);
    CHECK(strncmp(id, "packages/", 9) == 0 && strstr(path, id + 9) != NULL &&
              strstr(path, "/packages/") != NULL,
          "begin: the file is named after the id (%s)", path);
    CHECK(strcmp(json_string_value(json_object_get(row.doc, "state")), "CREATING") == 0 &&
              strcmp(row.tenant, "a") == 0,
          "begin: CREATING, the principal's tenant");
    origin = json_string_value(json_object_get(json_object_get(row.doc, "origin"), "href"));
    CHECK(origin != NULL && strcmp(origin, "systems/s1") == 0, "begin: origin");
    store_row_clear(&row);
    put_file(path, "abc");
    CHECK(package_prepare_finish(id, &err) == 0, "prepare_finish hashes the file");
    CHECK(st->ops->begin(st, &err) == 0 && package_finish(st, id, true, &err) == 0 &&
              st->ops->commit(st, &err) == 0,
          "finish: ok");
    memset(&got, 0, sizeof(got));
    CHECK(st->ops->get(st, id, &got, &err) == 0 &&
              strcmp(json_string_value(json_object_get(got.doc, "state")), "AVAILABLE") == 0 &&
              json_integer_value(json_object_get(got.doc, "size")) == 3 &&
              strcmp(json_string_value(json_object_get(got.doc, "sha256")),
                     "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad") == 0,
          "finish: AVAILABLE with the file's size and sha256");
    store_row_clear(&got);

    CHECK(st->ops->begin(st, &err) == 0 &&
              package_begin(req, NULL, NULL, &row, path, sizeof(path), &err) == 0 &&
              st->ops->commit(st, &err) == 0,
          "begin: another");
    snprintf(id, sizeof(id), "%s", row.id);
    store_row_clear(&row);
    put_file(path, "partial");
    CHECK(st->ops->begin(st, &err) == 0 && package_finish(st, id, false, &err) == 0 &&
              st->ops->commit(st, &err) == 0,
          "finish: failed");
    CHECK(st->ops->version(st, id, &(long long){0}, &err) != 0 && access(path, F_OK) != 0,
          "finish: a failed Package leaves neither row nor file");

    {
        struct store_row big;
        memset(&big, 0, sizeof(big));
        snprintf(big.id, sizeof(big.id), "packages/55555555-5555-4555-8555-555555555555");
        snprintf(big.type, sizeof(big.type), "Package");
        snprintf(big.tenant, sizeof(big.tenant), "a");
        big.doc = json_pack("{s:s, s:I}", "state", "AVAILABLE", "size", (json_int_t)(1 << 20));
        big.priv = json_object();
        st->ops->insert(st, &big, &err);
        store_row_clear(&big);
    }
    err_clear(&err);
    CHECK(st->ops->begin(st, &err) == 0 &&
              package_begin(req, NULL, NULL, &row, path, sizeof(path), &err) != 0 &&
              err.status == 413,
          "begin: 413 when the tenant's quota is used up (%s)", err.message);
    st->ops->rollback(st);
}

int main(void)
{
    char db[PATH_MAX], imports[PATH_MAX], dbdir[PATH_MAX], pkgdir[PATH_MAX];
    struct cimi_request req;
    struct cimi_error err;
    struct import_source src;
    struct store *st;

    if (mkdtemp(root) == NULL)
        return 1;
    snprintf(dbdir, sizeof(dbdir), "%s/db", root);
    snprintf(db, sizeof(db), "%s/cimid.db", dbdir);
    snprintf(imports, sizeof(imports), "%s/imports", root);
    snprintf(pkgdir, sizeof(pkgdir), "%s/packages", dbdir);
    mkdir(dbdir, 0700);
    mkdir(imports, 0700);
    store_configure(&store_sqlite, db);
    st = store_for_thread(&err);
    CHECK(st != NULL, "store opens");
    if (st == NULL)
        return check_summary();
    memset(&req, 0, sizeof(req));
    req.st = st;
    snprintf(req.base_uri, sizeof(req.base_uri), "http://h/cimi/");
    snprintf(req.who.name, sizeof(req.who.name), "alice");
    snprintf(req.who.tenant, sizeof(req.who.tenant), "a");

    CHECK(package_setup(st, &(struct package_settings){pkgdir, 1 << 20, 1 << 20, "", 1 << 20},
                        &err) == 0,
          "setup without import directories");
    snprintf(db, sizeof(db), "%s/x.ova", imports);
    put_file(db, "x");
    CHECK(status_of(&req, db, &src, &err) == 400 && strstr(err.message, "--import-dir") != NULL,
          "no import directory: every file refused, saying why (%s)", err.message);

    CHECK(package_setup(st, &(struct package_settings){pkgdir, 1 << 20, 1 << 20, imports,
                                                       1 << 20},
                        &err) == 0,
          "setup with an import directory");
    add_package(st, A_PKG, "a", "AVAILABLE");
    add_package(st, B_PKG, "b", "AVAILABLE");
    add_package(st, A_BUSY, "a", "CREATING");
    test_packages(&req);
    test_files(&req, imports);
    test_schemes(&req);
    test_fetch(st, &req);
    test_begin_finish(st, &req);
    store_release_thread();
    return check_summary();
}
