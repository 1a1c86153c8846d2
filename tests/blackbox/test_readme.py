"""README.md's walk-through, run as written: every command of every ```sh
block from "Using it" to the end of "Command-line client" and of "Users and
tenants" (`cimid user` beside the running daemon, as ./run.sh's banner
says), in order, each in
a bash with `set -e` (and the exports of the commands before it),
against a daemon on test:///default as ./run.sh starts it, from a directory
laid out like the checkout after ./run.sh (build, var/admin-password,
var/cimid.db).

Only what a reader fills in is replaced: the port 8080, PASSWORD, and the
placeholders ID (the machine web1), VOLUME-ID (the volume data) and
SNAP-ID (the image before-upgrade), looked up by name before the block runs.
`curl` fails on an HTTP error (--fail-with-body), so a refused step stops
the walk.
Between two commands the test waits until no Job is queued or running, as
a reader reads one reply before typing the next command."""

import os
import shlex
import re
import shutil
import subprocess
import tempfile
import time

import cimitest
from cimitest import REPO, Client, Daemon, check, coll_items, eq, isin, notin, test

# The parts whose blocks a reader runs against ./run.sh's daemon (from one
# heading to the next named): not the QEMU ones, the remote hosts, the test
# and benchmark commands.
PARTS = (("## Using it", "## Real QEMU machines"), ("## Users and tenants", "## The daemon"))

PREAMBLE = """set -euo pipefail
curl() { command curl -sS --fail-with-body "$@"; echo; }
"""


def walkthrough_blocks():
    with open(os.path.join(REPO, "README.md")) as f:
        text = f.read()
    blocks = []
    for first, last in PARTS:
        part = text[text.index(first):text.index(last)]
        blocks += re.findall(r"^```sh\n(.*?)^```", part, re.S | re.M)
    return blocks


def complete(command):
    """Does the shell text end outside a quoted string (as a shell reads it)?"""
    try:
        shlex.split(command, comments=True)
        return True
    except ValueError:
        return False


def commands(block):
    """The commands of a block, one per line but for continued lines (\\) and
    lines inside a quoted string that spans lines (a JSON body)."""
    out, current = [], ""
    for line in block.splitlines():
        current += line + "\n"
        if not line.endswith("\\") and complete(current):
            if current.strip():
                out.append(current)
            current = ""
    check(not current.strip(), f"a README command ends inside a quoted string: {current!r}")
    return out


def id_of(c, collection, name):
    for item in coll_items(c.list(collection, fmt="json")):
        if item.get("name") == name:
            return item["id"].rsplit("/", 1)[1]
    raise AssertionError(f"no {collection} item named {name} for the README's placeholder")


def fill_in(c, block, port, password):
    block = block.replace("127.0.0.1:8080", f"127.0.0.1:{port}")
    block = block.replace("admin:PASSWORD", f"admin:{password}")
    for placeholder, collection, name in (("/machines/ID", "machines", "web1"),
                                          ("VOLUME-ID", "volumes", "data"),
                                          ("SNAP-ID", "machineImages", "before-upgrade")):
        if placeholder in block:
            found = id_of(c, collection, name)
            block = block.replace(placeholder, placeholder.replace(
                placeholder.rsplit("/", 1)[-1], found))
    return block


def jobs_settled(c, timeout=60.0):
    deadline = time.time() + timeout
    while True:
        busy = c.list("jobs", fmt="json", query={"$filter": "state='QUEUED' or state='RUNNING'"})
        if busy.get("count", 0) == 0:
            return
        check(time.time() < deadline, f"the Jobs end within {timeout}s")
        time.sleep(0.1)


@test
def walkthrough_runs_in_order():
    cli = os.path.join(os.path.dirname(cimitest.CIMID_BIN), "src", "cli", "cimi")
    if not os.path.exists(cli):
        raise AssertionError(f"the cimi client is not built at {cli}")
    d = Daemon(users={"admin": ("readme-admin-pw", None, True)}, name="readme")
    home = tempfile.mkdtemp(prefix="cimitest-readme-")
    try:
        # the checkout as ./run.sh leaves it: the build directory (build/cimid,
        # build/src/cli/cimi, build/man/man1/cimi.1), var/admin-password and the
        # database the daemon serves, var/cimid.db
        os.symlink(os.path.dirname(cimitest.CIMID_BIN), os.path.join(home, "build"))
        os.makedirs(os.path.join(home, "var"))
        d.db = os.path.join(home, "var", "cimid.db")
        d.start()
        c = Client(d)
        with open(os.path.join(home, "var", "admin-password"), "w") as f:
            f.write("readme-admin-pw\n")
        blocks = walkthrough_blocks()
        check(len(blocks) >= 5, f"README's walk-through has its blocks ({len(blocks)})")
        env = dict(os.environ, HOME=home)
        for k in ("CIMI_URL", "CIMI_USER", "CIMI_PASSWORD", "CIMI_PROFILE"):
            env.pop(k, None)
        exports = ""   # what the commands before exported, kept for the next ones
        for i, block in enumerate(blocks):
            for command in commands(block):
                command = fill_in(c, command, d.port, "readme-admin-pw")
                r = subprocess.run(["bash", "-c", PREAMBLE + exports + command], cwd=home,
                                   env=env, capture_output=True, text=True, timeout=300)
                eq(r.returncode, 0, f"README block {i + 1} runs after what came before:\n"
                                    f"{command}\nstdout: {r.stdout[-1500:]}\n"
                                    f"stderr: {r.stderr[-1500:]}")
                if command.startswith("export "):
                    exports += command + "\n"
                jobs_settled(c)
    finally:
        d.stop()
        shutil.rmtree(home, ignore_errors=True)


FAKE_DPKG_QUERY = """#!/bin/sh
# every package is missing
exit 1
"""
FAKE_ID = """#!/bin/sh
echo 1000
"""
FAKE_APT_GET = """#!/bin/sh
echo "apt-get was run: $*" >> "$(dirname "$0")/apt-get.calls"
exit 100
"""


@test
def install_deps_without_sudo_says_what_to_run_as_root():
    """The first command on a fresh Debian as a user without sudo (not
    installed there by default): scripts/install-deps.sh must not die on
    "sudo: command not found" but say which packages are missing and the
    exact apt-get command to run as root, and install nothing."""
    fake = tempfile.mkdtemp(prefix="cimitest-nosudo-")
    try:
        for name, text in (("dpkg-query", FAKE_DPKG_QUERY), ("id", FAKE_ID),
                           ("apt-get", FAKE_APT_GET)):
            path = os.path.join(fake, name)
            with open(path, "w") as f:
                f.write(text)
            os.chmod(path, 0o755)
        for tool in ("grep", "dirname", "sh"):
            os.symlink(shutil.which(tool), os.path.join(fake, tool))
        r = subprocess.run(["/bin/bash", os.path.join(REPO, "scripts", "install-deps.sh")],
                           env={"PATH": fake, "HOME": fake}, capture_output=True, text=True,
                           timeout=60)
        check(r.returncode != 0, "it fails: nothing could be installed")
        notin("command not found", r.stderr, "it does not run a sudo that is not there")
        isin("not root and sudo is not installed", r.stderr, "it says why it cannot install")
        isin("apt-get update && apt-get install -y --no-install-recommends", r.stderr,
             "it says the exact command to run as root")
        isin("libjansson-dev", r.stderr, "naming the missing packages")
        check(not os.path.exists(os.path.join(fake, "apt-get.calls")),
              "apt-get was not run without the right to install")
    finally:
        shutil.rmtree(fake, ignore_errors=True)
