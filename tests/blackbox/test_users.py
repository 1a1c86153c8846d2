"""Command line: --help, user add/list/remove (password on stdin), the
generated admin of an empty database, authentication against the users."""

import re
import subprocess

from cimitest import CIMID_BIN, Client, Daemon, HarnessError, check, eq, isin, notin, test
import os


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
        d.add_user("dave", "dave-pw", admin=True)
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
