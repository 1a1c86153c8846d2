"""Command line: --help, user add/list/remove (password on stdin), the
generated admin of an empty database, authentication against the users."""

import re
import subprocess

import os

from cimitest import (CIMID_BIN, NS, Client, Daemon, HarnessError, assert_error, check, coll_items,
                      eq, isin, notin, test)


def _bin():
    if not os.path.exists(CIMID_BIN):
        raise HarnessError(f"cimid binary not found at {CIMID_BIN} (set CIMID_BIN)")
    return CIMID_BIN


@test
def help_text():
    r = subprocess.run([_bin(), "--help"], capture_output=True, text=True, timeout=30)
    eq(r.returncode, 0, "cimid --help exit status")
    text = r.stdout + r.stderr
    for word in ("serve", "user", "--port", "--database"):
        isin(word, text, "--help mentions")


@test
def unknown_command_fails():
    r = subprocess.run([_bin(), "no-such-command"], capture_output=True, text=True, timeout=30)
    check(r.returncode != 0, "an unknown command exits non-zero")


@test
def user_add_list_remove():
    d = Daemon(users={}, name="users")
    try:
        d.add_user("carol", "carol-pw", tenant="c")
        d.add_user("dave", "dave-password", admin=True)
        r = d.user_cmd("list")
        eq(r.returncode, 0, "user list exit status")
        isin("carol", r.stdout, "user list")
        isin("dave", r.stdout, "user list")
        d.start()
        eq(Client(d, "carol").get(d.cep_url).status, 200, "carol authenticates with her stdin password")
        eq(Client(d, "carol", password="carol-pw\n").get(d.cep_url).status, 401,
           "the newline ending stdin is not part of the password")
        eq(Client(d, "carol", password="wrong").get(d.cep_url).status, 401, "wrong password")
        eq(Client(d, "dave").get(d.cep_url).status, 200, "dave authenticates")
        notin("password:", d.log_text(), "no generated password when users exist")
        eq(d.stop(), 0, "SIGTERM exit status")
        r = d.user_cmd("remove", "carol")
        eq(r.returncode, 0, "user remove exit status")
        r = d.user_cmd("list")
        notin("carol", r.stdout, "removed user not listed")
        isin("dave", r.stdout, "other user still listed")
        d.start()
        eq(Client(d, "carol").get(d.cep_url).status, 401, "removed user is refused")
        eq(Client(d, "dave").get(d.cep_url).status, 200, "dave still authenticates")
    finally:
        d.kill9()


@test
def generated_admin():
    d = Daemon(users={}, name="genadmin")
    try:
        d.start()
        lines = [ln for ln in d.log_text().splitlines() if re.search(r"password: \S+", ln)]
        eq(len(lines), 1, "one line with the generated password")
        pw = re.search(r"password: (\S+)", lines[0]).group(1)
        check(len(pw) >= 8, "generated password is not trivially short")
        adm = Client(d, "admin", password=pw)
        eq(adm.get(d.cep_url).status, 200, "generated admin authenticates")
        eq(Client(d, "admin", password=pw + "x").get(d.cep_url).status, 401, "wrong password refused")
        r = d.user_cmd("list")
        isin("admin", r.stdout, "generated admin listed")
        eq(d.stop(), 0, "SIGTERM exit status")
        d.start()
        lines = [ln for ln in d.log_text().splitlines() if re.search(r"password: \S+", ln)]
        eq(len(lines), 1, "the password is printed once, not again at the next start")
        eq(Client(d, "admin", password=pw).get(d.cep_url).status, 200, "same password after a restart")
    finally:
        d.kill9()


@test
def config_file():
    """Settings from --config FILE (`key = value` lines, long option names)."""
    d = Daemon(name="config")
    path = os.path.join(d.tmp, "cimid.conf")
    with open(path, "w") as f:
        f.write("# cimid test configuration\nmax-body = 2048\njob-retention = 3\n")
    d.args += ["--config", path]
    try:
        d.start()
        c = Client(d, "admin")
        meta = [m for m in coll_items(c.list("resourceMetadata")) if m.get("typeURI") == NS + "/Job"]
        check(meta, "Job ResourceMetadata")
        caps = {cap.get("name"): cap for cap in meta[0].get("capabilities") or []}
        eq(str(caps.get("JobRetention", {}).get("value")), "3", "JobRetention from the config file")
        body = {"resourceURI": NS + "/MachineConfiguration", "name": "cfg", "description": "d" * 3000,
                "cpu": 1, "memory": 1024}
        r = c.post(c.add_href("machineConfigs"), body)
        assert_error(r, 400)
        body["description"] = "short"
        eq(c.post(c.add_href("machineConfigs"), body).status, 201, "small body accepted")
    finally:
        d.kill9()


@test
def bad_config_file_fails():
    d = Daemon(name="badconfig")
    path = os.path.join(d.tmp, "bad.conf")
    with open(path, "w") as f:
        f.write("this is not a setting\n")
    r = subprocess.run([_bin(), "serve", "--config", path, "--database", d.db, "--port", "0"],
                       capture_output=True, text=True, timeout=30)
    check(r.returncode != 0, "a malformed config file makes serve exit non-zero")
    isin("bad.conf", r.stderr, "the error names the config file")


@test
def request_logging():
    """--log-level debug logs the requests on stderr, one line each."""
    d = Daemon(name="logging")
    try:
        d.start()
        c = Client(d, "admin")
        probe = "log-probe-7f3a9"
        r = c.get(c.coll("machines") + "/" + probe)
        eq(r.status, 404, "probe request")
        import time
        deadline = time.time() + 2
        while probe not in d.log_text() and time.time() < deadline:
            time.sleep(0.05)
        lines = [ln for ln in d.log_text().splitlines() if probe in ln]
        check(lines, "the request is logged")
        check(any("GET" in ln or "404" in ln for ln in lines), f"the log line tells the method or status: {lines}")
    finally:
        d.kill9()


@test
def user_changes_while_the_daemon_runs_under_load():
    """`cimid user add|remove` beside a running daemon (README: the users
    table may be changed so; the banner of ./run.sh says to): under a load
    of machine creates (Jobs writing the database) and reads, each command
    succeeds, and the very next request sees the change: a new user gets
    in, a new password replaces the old one, a removed user is refused."""
    import threading
    from cimitest import machine_create_doc
    d = Daemon(name="users-live", args=["--workers", "4"])
    stop = threading.Event()
    problems = []
    done = [0]

    def load(user, writes):
        c = Client(d, user)
        i = 0
        while not stop.is_set():
            i += 1
            try:
                if writes:
                    r = c.post(c.add_href("machines"),
                               machine_create_doc(c, f"load-{user}-{i}", "STARTED"))
                else:
                    r = c.get(c.coll("machines"), query={"$orderby": "name"})
                if r.status not in (200, 201, 202):   # 202: a create whose Job runs on
                    problems.append(f"{user}: {r.status} {r.body[:200]!r}")
                done[0] += 1
            except Exception as e:  # reported below, in the test's thread
                problems.append(f"{user}: {type(e).__name__}: {e}")
                return

    threads = [threading.Thread(target=load, args=(u, w), daemon=True)
               for u, w in (("alice", True), ("bob", True), ("alice", False), ("admin", False))]
    try:
        d.start()
        for t in threads:
            t.start()
        for k in range(5):
            name, pw, pw2 = f"late{k}", f"late-pw-{k}-one", f"late-pw-{k}-two"
            r = d.user_cmd("add", name, "--tenant", f"t{k}", "--password-stdin", stdin=pw + "\n")
            eq(r.returncode, 0, f"user add beside the busy daemon ({r.stderr.strip()})")
            c = Client(d, name, password=pw)
            eq(c.get(d.cep_url).status, 200, "the new user is let in at once")
            eq(c.list("machines").get("count", 0), 0, "into a tenant of its own")
            r = d.user_cmd("add", name, "--tenant", f"t{k}", "--password-stdin", stdin=pw2 + "\n")
            eq(r.returncode, 0, f"a new password beside the busy daemon ({r.stderr.strip()})")
            eq(Client(d, name, password=pw).get(d.cep_url).status, 401,
               "the old password is refused at once")
            eq(Client(d, name, password=pw2).get(d.cep_url).status, 200,
               "the new password is let in at once")
            isin(name, d.user_cmd("list").stdout, "user list beside the busy daemon")
            r = d.user_cmd("remove", name)
            eq(r.returncode, 0, f"user remove beside the busy daemon ({r.stderr.strip()})")
            eq(Client(d, name, password=pw2).get(d.cep_url).status, 401,
               "the removed user is refused at once")
        stop.set()
        for t in threads:
            t.join(60)
        eq(problems, [], "the load ran without an error")
        check(done[0] > 20, f"there was load ({done[0]} requests)")
    finally:
        stop.set()
        d.kill9()


def _rights(d, user, password):
    """(CEP status, status of the admin-only hosts collection) for user:password."""
    c = Client(d, user, password=password)
    cep = c.get(d.cep_url)
    if cep.status != 200:
        return cep.status, None
    return cep.status, c.get(d.url + "/cimi/hosts").status


@test
def user_changes_while_running_follow_the_identity():
    """Credentials and rights follow the user row, not its name: a user removed
    and added again (lower role, old or new password), given another role, or
    given another password by `cimid user` while the daemon runs (and has the
    old credentials cached) is judged by its current row at once."""
    d = Daemon(name="users-identity")
    try:
        d.start()
        d.add_user("xadm", "old-admin-pw", admin=True)
        for _ in range(2):                              # the second one is a cache hit
            eq(_rights(d, "xadm", "old-admin-pw"), (200, 200), "the admin sees the hosts")
        eq(d.user_cmd("remove", "xadm").returncode, 0, "cimid user remove while serving")
        eq(_rights(d, "xadm", "old-admin-pw")[0], 401, "removed: the cached password is refused")
        d.add_user("xadm", "new-tenant-pw", tenant="t1")
        eq(_rights(d, "xadm", "old-admin-pw")[0], 401, "re-added: the old password is refused")
        eq(_rights(d, "xadm", "new-tenant-pw"), (200, 403), "re-added as a tenant: tenant rights")

        # the same password as before, a lower role: the cached check of it is not reused
        d.add_user("yadm", "same-password", admin=True)
        eq(_rights(d, "yadm", "same-password"), (200, 200), "yadm is an admin")
        eq(d.user_cmd("remove", "yadm").returncode, 0, "remove yadm")
        d.add_user("yadm", "same-password", tenant="t2")
        eq(_rights(d, "yadm", "same-password"), (200, 403), "re-added, same password: tenant rights")

        # role change and password change without a remove
        d.add_user("zadm", "zadm-password", admin=True)
        eq(_rights(d, "zadm", "zadm-password"), (200, 200), "zadm is an admin")
        d.add_user("zadm", "zadm-password", tenant="t3")
        eq(_rights(d, "zadm", "zadm-password"), (200, 403), "role lowered in place: tenant rights")
        d.add_user("zadm", "zadm-password-2", tenant="t3")
        eq(_rights(d, "zadm", "zadm-password")[0], 401, "password changed: the old one is refused")
        eq(_rights(d, "zadm", "zadm-password-2"), (200, 403), "the new password works")
    finally:
        d.stop()
