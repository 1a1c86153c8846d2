"""The `cimi` command-line client against a real cimid on loopback.

The client binary is CIMI_CLI_BIN (default: src/cli/cimi beside CIMID_BIN,
i.e. build/src/cli/cimi).  Each run gets a clean environment: HOME is a
temporary directory (for profiles), and CIMI_URL / CIMI_USER /
CIMI_PASSWORD are set only when a test asks for them.

Covered: every command (collections, cep, list, show, create, update,
delete, do, wait, the resource-first form, machine create / actions /
capture / volume list, attach, detach), every output format (table, json,
xml - schema-validated -, yaml-like, ids), the query flags, profiles and the
precedence of flags, --profile, environment and the default profile, the
password prompt on a terminal, --wait on success (plain lines, and the
progress bar on a pseudo-terminal), on a Job that really FAILED (a machine
missing from the hypervisor, made by editing the stopped daemon's store as
test_recovery.py does), on a STOPPED Job and past --timeout (Job rows
written into the running daemon's store), server errors (400, 401, 404,
409) with the server's message and the documented exit code, a server that
is not cimid (500 with text, 502 with HTML, a reply that is no document),
connection refused, and HTTPS with --cacert, CIMI_CACERT, a profile's
cacert and --insecure."""

import atexit
import fcntl
import http.server
import json
import os
import pty
import re
import select
import shutil
import sqlite3
import subprocess
import tempfile
import termios
import threading
import time
import uuid
import xml.etree.ElementTree as ET

import cimitest
from cimitest import (NS, Client, Daemon, check, check_xml_valid, coll_items, eq, free_port, ids,
                      isin, notin, shared, test)

# Exit codes (see cimi --help and cimi.1).
OK, USAGE, CONFIG, CONNECT, AUTH, NOT_FOUND, CONFLICT, CLIENT, SERVER, JOB, TIMEOUT = range(11)


def _cli_bin():
    p = os.environ.get("CIMI_CLI_BIN")
    if p:
        return p if os.path.isabs(p) else os.path.normpath(os.path.join(cimitest.REPO, p))
    return os.path.join(os.path.dirname(cimitest.CIMID_BIN), "src", "cli", "cimi")


CLI_BIN = _cli_bin()
_homes = []


def new_home():
    h = tempfile.mkdtemp(prefix="cimitest-cli-home-")
    _homes.append(h)
    return h


def _cleanup_homes():
    if not os.environ.get("CIMITEST_KEEP"):
        for h in _homes:
            shutil.rmtree(h, ignore_errors=True)


atexit.register(_cleanup_homes)


class Run:
    def __init__(self, argv, rc, out, err):
        self.argv, self.rc, self.out, self.err = argv, rc, out, err

    def __repr__(self):
        return f"<cimi {' '.join(self.argv)} -> {self.rc}>"

    def lines(self):
        return [line for line in self.out.splitlines() if line]

    def json(self):
        try:
            return json.loads(self.out)
        except ValueError as e:
            raise AssertionError(f"{self!r}: stdout is not JSON ({e}): {self.out[:300]!r}")


def base_env(home=None):
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": home or new_home(),
           "LANG": "C.UTF-8"}
    for k in ("ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS"):
        if k in os.environ:
            env[k] = os.environ[k]
    return env


def creds_env(d, user="admin", home=None):
    env = base_env(home)
    env["CIMI_URL"] = d.cep_url
    env["CIMI_USER"] = user
    env["CIMI_PASSWORD"] = d.users[user][0]
    return env


def _check_clean(r):
    for mark in cimitest.SANITIZER_MARKS:
        check(mark not in r.err, f"{r!r}: sanitizer report from cimi:\n{r.err}")


def cimi(*argv, env=None, stdin=None, timeout=60):
    """Run the client; returns a Run.  env defaults to a clean environment
    without credentials."""
    if not os.path.exists(CLI_BIN):
        raise cimitest.HarnessError(f"cimi binary not found at {CLI_BIN} (set CIMI_CLI_BIN)")
    p = subprocess.run([CLI_BIN, *argv], input=stdin, capture_output=True, text=True,
                       env=env if env is not None else base_env(), timeout=timeout,
                       start_new_session=True)
    r = Run(list(argv), p.returncode, p.stdout, p.stderr)
    _check_clean(r)
    return r


def ok(r, what=None):
    eq(r.rc, OK, f"{what or repr(r)} exit status (stderr {r.err.strip()[:400]!r})")
    return r


def fails(r, code, *mentions):
    """A failure: the exit code, one line on stderr starting with 'cimi: ',
    mentioning each of `mentions`, and no raw document."""
    eq(r.rc, code, f"{r!r} exit status (stderr {r.err.strip()[:400]!r})")
    last = r.err.strip().splitlines()[-1] if r.err.strip() else ""
    check(last.startswith("cimi: "), f"{r!r}: error line {last!r} starts with 'cimi: '")
    for m in mentions:
        isin(m.lower(), last.lower(), f"{r!r}: error message")
    for raw in ('{"', "<?xml", "resourceURI"):
        notin(raw, r.err, f"{r!r}: stderr holds no raw document")
    return last


def table(r):
    """Rows of a table printed by cimi: a list of dicts keyed by the header
    titles (cells located by the header's column positions)."""
    lines = r.out.rstrip("\n").splitlines()
    check(lines, f"{r!r}: a table on stdout")
    header = lines[0]
    titles = header.split()
    starts = []
    pos = 0
    for t in titles:
        pos = header.index(t, pos)
        starts.append(pos)
        pos += len(t)
    rows = []
    for line in lines[1:]:
        if line.startswith("("):
            continue
        cells = {}
        for i, t in enumerate(titles):
            end = starts[i + 1] if i + 1 < len(titles) else len(line)
            cells[t] = line[starts[i]:end].strip()
        rows.append(cells)
    return titles, rows


def daemon():
    return shared("cli")


def admin():
    return Client(daemon(), "admin")


def env_for(user="admin"):
    return creds_env(daemon(), user)


def make_machine(name, state="STARTED", user="admin"):
    """A machine made with the client; returns its server document."""
    flag = "--start" if state == "STARTED" else "--stopped"
    r = ok(cimi("machine", "create", "--name", name, "--config", "m1-small", "--image", "debian12",
                flag, "--wait", "-o", "ids", env=env_for(user)))
    mid = r.out.strip()
    c = Client(daemon(), user)
    return c.wait_state(mid, state)


# ---------------------------------------------------------------- usage and help

@test
def help_version_and_exit_table():
    r = ok(cimi("--help"))
    for word in ("list COLLECTION", "machine create", "--wait", "--filter", "yaml-like",
                 "Exit status", "Job ended FAILED"):
        isin(word, r.out, "--help mentions")
    for code in range(11):
        check(any(line.strip().startswith(f"{code} ") for line in r.out.splitlines()),
              f"--help documents exit status {code}")
    r = ok(cimi("--version"))
    check(r.out.startswith("cimi "), f"--version: {r.out!r}")


@test
def usage_errors():
    fails(cimi(), USAGE, "no command")
    fails(cimi("--bogus", "list", "machines"), USAGE, "unknown option")
    fails(cimi("list", "machines", "--force"), USAGE, "--force does not apply")
    fails(cimi("list", "machines", "-o", "csv"), USAGE, "unknown output format")
    fails(cimi("show", "machines"), USAGE, "missing arguments")
    fails(cimi("machine", "stop"), USAGE, "action takes")
    fails(cimi("list", "machines", "--first", "x"), USAGE, "--first")
    fails(cimi("wait", "x", "--timeout", "0"), USAGE, "--timeout")


@test
def no_endpoint_is_a_config_error():
    fails(cimi("list", "machines"), CONFIG, "no CIMI endpoint", "CIMI_URL")


# ---------------------------------------------------------------- discovery and reading

@test
def collections_and_cep():
    c = admin()
    cep = c.cep()
    refs = {k: v["href"] for k, v in cep.items() if isinstance(v, dict) and "href" in v}
    titles, rows = table(ok(cimi("collections", env=env_for())))
    eq(titles, ["NAME", "HREF"], "collections table header")
    eq({row["NAME"]: row["HREF"] for row in rows}, refs, "collections = the CEP's references")
    eq(sorted(ok(cimi("collections", "-o", "ids", env=env_for())).lines()), sorted(refs.values()),
       "collections -o ids")
    eq(ok(cimi("cep", "-o", "json", env=env_for())).json(), cep, "cep -o json = the CEP")
    r = ok(cimi("cep", "-o", "xml", env=env_for()))
    check_xml_valid(r.out.encode(), "cep -o xml")


@test
def list_every_collection():
    """list works on every collection the entry point names, in every format."""
    c = admin()
    for attr, ref in c.cep().items():
        if not (isinstance(ref, dict) and "href" in ref):
            continue
        server = c.list(attr)
        r = ok(cimi("list", attr, env=env_for()))
        if coll_items(server):
            titles, rows = table(r)
            eq(len(rows), len(coll_items(server)), f"list {attr}: one row per item")
        eq(ok(cimi("list", attr, "-o", "ids", env=env_for())).lines(),
           [i["id"] for i in coll_items(server) if "id" in i], f"list {attr} -o ids")
        eq(ok(cimi("list", attr, "-o", "json", env=env_for())).json().get("count"),
           server.get("count"), f"list {attr} -o json count")
        xml = ok(cimi("list", attr, "-o", "xml", env=env_for())).out.encode()
        if attr in ("hosts", "packages"):  # cimid's own types: no CIMI schema holds them
            isin(b'xmlns="http://cimid.dev/ns/1"', xml, f"list {attr} -o xml: cimid's namespace")
        else:
            check_xml_valid(xml, f"list {attr} -o xml")
        y = ok(cimi("list", attr, "-o", "yaml-like", env=env_for())).out
        isin(f"id: {ref['href']}", y, f"list {attr} -o yaml-like")


@test
def collection_aliases():
    canonical = ok(cimi("list", "machineConfigs", "-o", "ids", env=env_for())).out
    for words in (["list", "config"], ["list", "configs"], ["config", "list"], ["config"],
                  ["list", "machine-configs"], ["list", "MachineConfigurations"],
                  ["machineConfigs", "list"]):
        eq(ok(cimi(*words, "-o", "ids", env=env_for())).out, canonical, f"cimi {' '.join(words)}")
    for alias, attr in (("image", "machineImages"), ("template", "machineTemplates"),
                        ("job", "jobs"), ("metadata", "resourceMetadata"),
                        ("machine", "machines"), ("credential", "credentials")):
        eq(ok(cimi("list", alias, "-o", "ids", env=env_for())).out,
           ok(cimi("list", attr, "-o", "ids", env=env_for())).out, f"alias {alias}")
    eq(ok(cimi("list", "volume", "-o", "ids", env=env_for())).out,
       ok(cimi("list", "volumes", "-o", "ids", env=env_for())).out, "alias volume")
    fails(cimi("list", "gadgets", env=env_for()), NOT_FOUND, "no collection 'gadgets'",
          "machines")


@test
def tables_per_type():
    make_machine("cli-table")
    titles, rows = table(ok(cimi("list", "machines", env=env_for())))
    eq(titles, ["NAME", "STATE", "CPU", "MEMORY", "ID"], "machine table columns")
    row = next(r for r in rows if r["NAME"] == "cli-table")
    eq((row["STATE"], row["CPU"], row["MEMORY"]), ("STARTED", "1", "1 GiB"), "machine row")
    check(len(row["ID"]) == 36, f"ID column holds the id's last segment: {row['ID']!r}")
    titles, rows = table(ok(cimi("list", "config", env=env_for())))
    eq(titles, ["NAME", "CPU", "MEMORY", "DISK", "ARCH", "ID"], "configuration table columns")
    isin({"NAME": "m1-small", "CPU": "1", "MEMORY": "1 GiB", "DISK": "10 GiB", "ARCH": "x86_64",
          "ID": "m1-small"}, rows, "m1-small row")
    titles, rows = table(ok(cimi("list", "templates", env=env_for())))
    eq(titles, ["NAME", "CONFIG", "IMAGE", "STATE", "ID"], "template table columns")
    isin({"NAME": "small-debian", "CONFIG": "m1-small", "IMAGE": "debian12", "STATE": "STARTED",
          "ID": "small-debian"}, rows, "template row")
    titles, _ = table(ok(cimi("list", "jobs", env=env_for())))
    eq(titles, ["ID", "STATE", "PROGRESS", "ACTION", "TARGET", "MESSAGE"], "job table columns")
    titles, _ = table(ok(cimi("list", "images", env=env_for())))
    eq(titles, ["NAME", "STATE", "TYPE", "ID"], "image table columns")
    # no trailing blanks, columns aligned
    out = ok(cimi("list", "machines", env=env_for())).out
    for line in out.splitlines():
        eq(line, line.rstrip(), "table line without trailing blanks")


@test
def show_by_name_id_and_segment():
    c = admin()
    doc = c.read(c.coll("machineConfigs") + "/m1-small")
    for word in ("m1-small", doc["id"]):
        eq(ok(cimi("show", "config", word, "-o", "json", env=env_for())).json(), doc,
           f"show config {word}")
    m = make_machine("cli-show")
    seg = m["id"].rsplit("/", 1)[1]
    for word in ("cli-show", seg, m["id"]):
        eq(ok(cimi("show", "machines", word, "-o", "ids", env=env_for())).out.strip(), m["id"],
           f"show machines {word}")
    r = ok(cimi("machine", "show", "cli-show", env=env_for()))
    check(re.search(r"^state +STARTED$", r.out, re.M), f"show: attribute/value lines: {r.out!r}")
    isin("operations  ", r.out, "show lists the operations")
    check(re.search(r"^memory +1 GiB \(1048576 KiB\)$", r.out, re.M), f"show: memory readable: {r.out!r}")
    fails(cimi("show", "machines", "no-such-machine", env=env_for()), NOT_FOUND,
          "no item named 'no-such-machine'")


@test
def output_formats_of_a_resource():
    m = make_machine("cli-formats")
    c = admin()
    server = c.read(m["id"])
    j = ok(cimi("show", "machine", "cli-formats", "-o", "json", env=env_for())).json()
    eq(j["id"], server["id"], "-o json id")
    eq(j["resourceURI"], NS + "/Machine", "-o json: the server's document")
    x = ok(cimi("show", "machine", "cli-formats", "-o", "xml", env=env_for())).out
    check_xml_valid(x.encode(), "-o xml")
    root = ET.fromstring(x)
    eq(root.tag, f"{{{NS}}}Machine", "-o xml root")
    eq(root.find(f"{{{NS}}}name").text, "cli-formats", "-o xml name")
    y = ok(cimi("show", "machine", "cli-formats", "-o", "yaml-like", env=env_for())).out
    for line in ("name: cli-formats", "state: STARTED", "cpu: 1", "operations:", "  - rel: edit",
                 f"id: {m['id']}", "disks:", "  href: "):
        isin(line, y, "-o yaml-like")
    eq(ok(cimi("show", "machine", "cli-formats", "-o", "ids", env=env_for())).lines(), [m["id"]],
       "-o ids")
    eq(ok(cimi("show", "machine", "cli-formats", "--output=yaml", env=env_for())).out, y,
       "--output=yaml = yaml-like")


@test
def query_flags():
    c = admin()
    for n in ("cli-q-a", "cli-q-b", "cli-q-c"):
        make_machine(n, "STOPPED")
    r = ok(cimi("list", "machines", "--filter", "name='cli-q-b'", "-o", "json", env=env_for()))
    eq([i["name"] for i in coll_items(r.json())], ["cli-q-b"], "--filter")
    r = ok(cimi("list", "machines", "--filter", "state='STOPPED' and cpu>=1", "--select",
                "name,state", "-o", "json", env=env_for()))
    items = coll_items(r.json())
    check(items and all(set(i) <= {"resourceURI", "name", "state"} for i in items),
          f"--select name,state: {items[:2]}")
    names = [i["name"] for i in items if i["name"].startswith("cli-q-")]
    eq(names, ["cli-q-a", "cli-q-b", "cli-q-c"], "--filter with and")
    r = ok(cimi("list", "machines", "--filter", "name!='x'", "--orderby", "name:desc", "-o", "json",
                env=env_for()))
    got = [i["name"] for i in coll_items(r.json())]
    eq(got, sorted(got, reverse=True), "--orderby name:desc")
    r = ok(cimi("list", "machines", "--orderby", "name", "--first", "2", "--last", "3", "-o",
                "json", env=env_for()))
    server = c.list("machines", query={"$orderby": "name", "$first": "2", "$last": "3"})
    eq([i["id"] for i in coll_items(r.json())], ids(server), "--first/--last")
    r = ok(cimi("list", "machines", "--orderby", "name", "--last", "1", env=env_for()))
    isin("shown)", r.out, "a table says when it shows part of the collection")
    r = ok(cimi("show", "template", "small-debian", "--expand", "machineConfig", "-o", "json",
                env=env_for()))
    eq(r.json()["machineConfig"].get("cpu"), 1, "--expand machineConfig")
    r = ok(cimi("show", "template", "small-debian", "--select", "name", "-o", "json",
                env=env_for()))
    notin("machineConfig", r.json(), "show --select")
    fails(cimi("list", "machines", "--filter", "name=", env=env_for()), CLIENT, "HTTP 400")


@test
def sub_collections():
    m = make_machine("cli-disks")
    titles, rows = table(ok(cimi("list", "machines", "cli-disks", "disks", env=env_for())))
    isin("CAPACITY", titles, "disk table")
    eq(rows[0]["CAPACITY"], "10 GiB", "disk capacity")
    check_xml_valid(ok(cimi("list", "machines", "cli-disks", "disks", "-o", "xml",
                            env=env_for())).out.encode(), "disks -o xml")
    eq(ok(cimi("machine", "volume", "list", "cli-disks", env=env_for())).out.strip(),
       "(no items)", "volume list of a machine without volumes")
    fails(cimi("list", "machines", "cli-disks", "nics", env=env_for()), NOT_FOUND,
          "no collection 'nics'", "disks")
    check(m, "machine made")


# ---------------------------------------------------------------- machines

@test
def machine_create_start_wait():
    r = ok(cimi("machine", "create", "--name", "cli-web1", "--config", "m1-small", "--image",
                "debian12", "--start", "--wait", "--description", "web", "--property", "k=v",
                env=env_for()))
    isin(["state", "STARTED"], [line.split() for line in r.out.splitlines()],
         "the machine printed after --wait")
    lines = r.err.strip().splitlines()
    check(lines and lines[-1].startswith("job ") and "SUCCESS 100%" in lines[-1],
          f"plain progress lines on a pipe: {lines}")
    notin("\r", r.err, "no progress bar off a terminal")
    c = admin()
    m = next(i for i in coll_items(c.list("machines")) if i.get("name") == "cli-web1")
    eq((m["state"], m.get("description"), m.get("properties")), ("STARTED", "web", {"k": "v"}),
       "the server's machine")


@test
def machine_create_from_template_and_defaults():
    r = ok(cimi("machine", "create", "--name", "cli-tpl", "--template", "small-debian",
                "--stopped", "--wait", "-o", "json", env=env_for()))
    eq(r.json()["state"], "STOPPED", "template with --stopped")
    r = ok(cimi("machines", "create", "--name", "cli-tpl2", "--template", "small-debian",
                "--wait", "-o", "json", env=env_for()))
    eq(r.json()["state"], "STARTED", "the template's initialState")
    r = ok(cimi("machine", "create", "--name", "cli-nowait", "--config", "m1-small", "--image",
                "debian12", "-o", "json", env=env_for()))
    isin(r.json()["state"], ("CREATING", "STOPPED"), "without --wait: the server's reply (202: CREATING; 201: done)")
    admin().wait_stable(r.json()["id"])
    fails(cimi("machine", "create", "--name", "x", "--config", "m1-small", env=env_for()), USAGE,
          "--image")
    fails(cimi("machine", "create", "--name", "x", "--config", "m1-nope", "--image", "debian12",
               env=env_for()), NOT_FOUND, "machineConfigs has no item named 'm1-nope'")
    fails(cimi("machine", "create", "--template", "small-debian", "--start", "--stopped",
               env=env_for()), USAGE, "not both")


@test
def machine_actions():
    m = make_machine("cli-act")
    c = admin()
    steps = [(["machine", "stop", "cli-act"], "STOPPED"),
             (["machine", "start", "cli-act"], "STARTED"),
             (["machine", "restart", "cli-act", "--force"], "STARTED"),
             (["machine", "pause", "cli-act"], "PAUSED"),
             (["machine", "start", "cli-act"], "STARTED"),
             (["machine", "suspend", "cli-act"], "SUSPENDED"),
             (["machine", "start", "cli-act"], "STARTED"),
             (["do", "machines", "cli-act", "stop", "--force"], "STOPPED"),
             (["machines", "start", "cli-act"], "STARTED")]
    for argv, state in steps:
        r = ok(cimi(*argv, "--wait", "-o", "json", env=env_for()))
        job = r.json()
        eq((job["state"], job["targetResource"]["href"]), ("SUCCESS", m["id"]),
           f"{argv}: the finished Job is printed")
        eq(c.read(m["id"])["state"], state, f"state after {argv}")
    # without --wait: the Job, by id
    r = ok(cimi("machine", "stop", "cli-act", "-o", "ids", env=env_for()))
    job = r.out.strip()
    check("/jobs/" in job, f"-o ids prints the Job id: {job!r}")
    c.wait_job(job)
    last = fails(cimi("machine", "stop", "cli-act", env=env_for()), CONFLICT,
                 "does not offer 'stop'", "STOPPED", "start")
    check("offers:" in last, "the message lists what is offered")


@test
def machine_capture():
    m = make_machine("cli-cap", "STOPPED")
    r = ok(cimi("machine", "capture", "cli-cap", "--name", "cli-cap-img", "--wait", "-o", "json",
                env=env_for()))
    img = r.json()
    eq((img["name"], img["state"], img["type"]), ("cli-cap-img", "AVAILABLE", "IMAGE"),
       "captured image")
    r = ok(cimi("do", "machines", "cli-cap", "capture", "-o", "json", env=env_for()))
    img2 = r.json()
    eq(img2["name"], "cli-cap-image", "default image name")
    admin().wait_state(img2["id"], "AVAILABLE")
    # a machine made from the captured image
    r = ok(cimi("machine", "create", "--name", "cli-from-img", "--config", "m1-small", "--image",
                "cli-cap-img", "--start", "--wait", "-o", "json", env=env_for()))
    eq(r.json()["state"], "STARTED", "machine from the captured image")
    check(m, "machine made")


@test
def volumes_attach_and_detach():
    make_machine("cli-vol")
    fails(cimi("machine", "volume", "detach", "cli-vol", "vol1", env=env_for()), NOT_FOUND,
          "has no attached volume 'vol1'")
    doc = json.dumps({"name": "vol1", "volumeTemplate": {"volumeConfig": {"capacity": 1048576}}})
    r = ok(cimi("create", "volumes", "-f", "-", "--wait", "-o", "json", env=env_for(), stdin=doc))
    vol = ok(cimi("show", "volumes", "vol1", "-o", "json", env=env_for())).json()
    eq(vol["state"], "AVAILABLE", "volume created through the client")
    r = ok(cimi("machine", "volume", "attach", "cli-vol", "vol1", "--location", "/dev/vdb",
                "--wait", "-o", "json", env=env_for()))
    listing = ok(cimi("machine", "volume", "list", "cli-vol", "-o", "json", env=env_for())).json()
    eq(listing.get("count"), 1, "one volume attached")
    att = listing["machineVolumes"][0]
    eq(att["volume"]["href"], vol["id"], "the attachment names the volume")
    eq(att["initialLocation"], "/dev/vdb", "at the device asked for")
    fails(cimi("delete", "volumes", "vol1", env=env_for()), CONFLICT)
    ok(cimi("machine", "volume", "detach", "cli-vol", att["id"], "--wait", env=env_for()))
    listing = ok(cimi("machine", "volume", "list", "cli-vol", "-o", "json", env=env_for())).json()
    eq(listing.get("count"), 0, "detached")
    ok(cimi("delete", "volumes", "vol1", "--wait", env=env_for()))
    fails(cimi("show", "volumes", "vol1", env=env_for()), NOT_FOUND)
    fails(cimi("machine", "volume", "frob", "cli-vol", env=env_for()), USAGE,
          "machine volume frob")


@test
def machine_delete_wait():
    m = make_machine("cli-del")
    r = ok(cimi("delete", "machine", "cli-del", "--wait", "-o", "json", env=env_for()))
    eq(r.json()["state"], "SUCCESS", "delete Job")
    fails(cimi("show", "machine", "cli-del", env=env_for()), NOT_FOUND)
    fails(cimi("show", "machine", m["id"], env=env_for()), NOT_FOUND, "HTTP 404 Not Found",
          "no resource at")


@test
def ambiguous_names():
    make_machine("cli-twin", "STOPPED")
    make_machine("cli-twin", "STOPPED")
    fails(cimi("show", "machine", "cli-twin", env=env_for()), USAGE, "several items named",
          "by id")


# ---------------------------------------------------------------- generic create/update/delete

@test
def generic_create_update_delete():
    c = admin()
    # from options
    r = ok(cimi("create", "config", "--name", "cli-cfg1", "--set", "cpu=2", "--set",
                "memory=2097152", "--set", 'disks=[{"capacity": 1024, "format": "ext4"}]',
                "--property", "tier=gold", "-o", "json", env=env_for()))
    cfg = r.json()
    eq((cfg["cpu"], cfg["memory"], cfg["properties"]), (2, 2097152, {"tier": "gold"}),
       "create from --set/--property")
    # from a JSON file, amended by options
    home = new_home()
    path = os.path.join(home, "cfg.json")
    with open(path, "w") as f:
        json.dump({"name": "from-file", "cpu": 1, "memory": 1048576,
                   "disks": [{"capacity": 1, "format": "ext4"}]}, f)
    r = ok(cimi("create", "machineConfigs", "-f", path, "--name", "cli-cfg2", "-o", "ids",
                env=env_for()))
    eq(c.read(r.out.strip())["name"], "cli-cfg2", "options amend a JSON file")
    # from an XML file, as it is
    xpath = os.path.join(home, "cfg.xml")
    with open(xpath, "w") as f:
        f.write(f'<MachineConfiguration xmlns="{NS}"><name>cli-cfg3</name><cpu>4</cpu>'
                '<memory>4194304</memory><disk><capacity>10</capacity><format>ext4</format>'
                '</disk></MachineConfiguration>')
    r = ok(cimi("create", "config", "--file", xpath, "-o", "xml", env=env_for()))
    check_xml_valid(r.out.encode(), "create -o xml")
    eq(ET.fromstring(r.out).find(f"{{{NS}}}cpu").text, "4", "created from XML")
    fails(cimi("create", "config", "-f", xpath, "--name", "x", env=env_for()), USAGE, "XML --file")
    # from standard input
    r = ok(cimi("create", "config", "-f", "-", "-o", "json", env=env_for(),
                stdin='{"name": "cli-cfg4", "cpu": 1, "memory": 1048576, '
                      '"disks": [{"capacity": 1, "format": "ext4"}]}'))
    eq(r.json()["name"], "cli-cfg4", "create from stdin")
    fails(cimi("create", "config", "-f", os.path.join(home, "missing.json"), env=env_for()),
          USAGE, "cannot read")
    fails(cimi("create", "config", env=env_for()), USAGE, "needs a document")
    # update: partial, properties merged, one removed
    r = ok(cimi("update", "config", "cli-cfg1", "--description", "two cpus", "--property",
                "zone=a", env=env_for()))
    isin("description  two cpus", r.out, "update prints the resource")
    doc = c.read(cfg["id"])
    eq((doc["description"], doc["properties"], doc["cpu"]),
       ("two cpus", {"tier": "gold", "zone": "a"}, 2), "after update")
    ok(cimi("config", "update", "cli-cfg1", "--property", "tier=", "--set", "cpu=3",
            env=env_for()))
    doc = c.read(cfg["id"])
    eq((doc["properties"], doc["cpu"], doc["description"]), ({"zone": "a"}, 3, "two cpus"),
       "--property KEY= removes, --set changes, the rest is kept")
    fails(cimi("update", "config", "cli-cfg1", env=env_for()), USAGE, "nothing to update")
    full = dict(doc)
    full["description"] = "whole document"
    with open(path, "w") as f:
        json.dump(full, f)
    ok(cimi("update", "config", "cli-cfg1", "-f", path, env=env_for()))
    eq(c.read(cfg["id"])["description"], "whole document", "update --file")
    # server-side validation error
    fails(cimi("create", "config", "--name", "bad", "--set", "cpu=0", "--set", "memory=1",
               env=env_for()), CLIENT, "HTTP 400 Bad Request", "cpu")
    # delete
    ok(cimi("delete", "config", "cli-cfg1", "--wait", env=env_for()))
    fails(cimi("show", "config", "cli-cfg1", env=env_for()), NOT_FOUND)


@test
def tenants_through_the_client():
    """A user sees the shared catalog read-only and another tenant's
    machine not at all (404, like a missing one)."""
    m = make_machine("cli-admins")
    fails(cimi("delete", "config", "m1-small", env=env_for("alice")), CONFLICT,
          "does not offer 'delete'", "offers: none")
    fails(cimi("show", "machine", m["id"], env=env_for("alice")), NOT_FOUND, "HTTP 404")
    fails(cimi("show", "machine", "cli-admins", env=env_for("alice")), NOT_FOUND,
          "no item named 'cli-admins'")
    notin(m["id"], ok(cimi("list", "machines", "-o", "ids", env=env_for("bob"))).lines(),
          "bob's listing")


# ---------------------------------------------------------------- jobs

@test
def wait_command_and_job_resource_first():
    m = make_machine("cli-wait", "STOPPED")
    r = ok(cimi("machine", "start", "cli-wait", "-o", "ids", env=env_for()))
    job = r.out.strip()
    seg = job.rsplit("/", 1)[1]
    for word in (job, seg):
        r = ok(cimi("wait", word, "-o", "json", env=env_for()))
        eq(r.json()["state"], "SUCCESS", f"wait {word}")
    titles, rows = table(ok(cimi("job", "list", env=env_for())))
    isin(seg, [row["ID"] for row in rows], "job list shows the Job")
    r = ok(cimi("job", "show", seg, "-o", "yaml-like", env=env_for()))
    isin("state: SUCCESS", r.out, "job show")
    fails(cimi("job", "stop", seg, env=env_for()), CONFLICT, "does not offer 'stop'")
    check(m, "machine made")


def on_a_terminal(args, env, timeout):
    """Run the cimi client with stderr on a pseudo-terminal (stdout a pipe):
    (exit status, stdout, what the terminal got)."""
    master, slave = pty.openpty()
    try:
        p = subprocess.Popen([CLI_BIN, *args], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                             stderr=slave, env=env, start_new_session=True)
        os.close(slave)
        slave = None
        chunks = []
        while True:
            ready, _, _ = select.select([master], [], [], timeout)
            if not ready:
                break
            try:
                data = os.read(master, 4096)
            except OSError:
                break
            if not data:
                break
            chunks.append(data)
        out = p.stdout.read().decode()
        p.stdout.close()
        rc = p.wait(timeout)
    finally:
        if slave is not None:
            os.close(slave)
        os.close(master)
    return rc, out, b"".join(chunks).decode("utf-8", "replace")


@test
def wait_progress_bar_on_a_terminal():
    rc, out, tty = on_a_terminal(["machine", "create", "--name", "cli-tty", "--config",
                                  "m1-small", "--image", "debian12", "--start", "--wait",
                                  "-o", "ids"], env_for(), 30)
    eq(rc, OK, f"exit status (terminal output {tty!r})")
    check("\r" in tty and "[" in tty and "]" in tty, f"a progress bar redrawn in place: {tty!r}")
    isin("100%", tty, "the bar reaches 100%")
    isin("SUCCESS", tty, "the bar shows the final state")
    check("/machines/" in out.strip(), f"stdout keeps the machine id: {out!r}")


def _failing_daemon():
    """A daemon whose store was edited while it was down: the machine
    cli-ghost is missing from the hypervisor (it is not re-created at
    start-up), and the MachineImage cli-broken is in state ERROR."""
    d = Daemon(name="cli-fail")
    d.start()
    env = creds_env(d)
    m = ok(cimi("machine", "create", "--name", "cli-ghost", "--config", "m1-small", "--image",
                "debian12", "--stopped", "--wait", "-o", "ids", env=env)).out.strip()
    img = ok(cimi("machine", "capture", "cli-ghost", "--name", "cli-broken", "--wait", "-o", "ids",
                  env=env)).out.strip()
    eq(d.stop(), 0, "daemon stopped")
    db = sqlite3.connect(d.db, timeout=10)
    try:
        mid = m.split("/cimi/", 1)[1]
        priv = json.loads(db.execute("SELECT priv FROM resources WHERE id = ?", (mid,)).fetchone()[0])
        priv.pop("desired", None)
        db.execute("UPDATE resources SET priv = ? WHERE id = ?", (json.dumps(priv), mid))
        iid = img.split("/cimi/", 1)[1]
        doc = json.loads(db.execute("SELECT doc FROM resources WHERE id = ?", (iid,)).fetchone()[0])
        doc["state"] = "ERROR"
        db.execute("UPDATE resources SET doc = ? WHERE id = ?", (json.dumps(doc), iid))
        db.commit()
    finally:
        db.close()
    d.start()
    return d, m


@test
def wait_on_a_failing_job():
    d, m = _failing_daemon()
    try:
        env = creds_env(d)
        r = cimi("machine", "start", "cli-ghost", "--wait", env=env)
        last = fails(r, JOB, "FAILED", "does not exist in the hypervisor")
        check(last.startswith("cimi: job "), f"the message names the Job: {last!r}")
        eq(r.out, "", "nothing on stdout when the Job failed")
        isin("FAILED 100%", r.err, "the progress lines show the failure")
        # the failed Job again, with cimi wait
        jobs = [j for j in coll_items(Client(d).list("jobs")) if j.get("state") == "FAILED"]
        check(jobs, "a FAILED Job is listed")
        fails(cimi("wait", jobs[0]["id"], env=env), JOB, "FAILED")
        # a 409 from the server: the image is not AVAILABLE
        fails(cimi("machine", "create", "--name", "x", "--config", "m1-small", "--image",
                   "cli-broken", env=env), CONFLICT, "HTTP 409 Conflict", "not AVAILABLE")
        fails(cimi("machine", "create", "--name", "x", "--config", "m1-small", "--image",
                   "cli-broken", "-o", "xml", env=env), CONFLICT, "HTTP 409", "not AVAILABLE")
        # Jobs that never end here and Jobs that were stopped: copies of a
        # real Job written into the store while the daemon runs (no worker
        # ever picks them up)
        running = _insert_job_copy(d, jobs[0]["id"], "RUNNING", 40)
        r = cimi("wait", running, "--timeout", "0.5", env=env)
        fails(r, TIMEOUT, "still RUNNING after 0.5 s", "cimi wait")
        isin("RUNNING 40%", r.err, "the progress line before giving up")
        stopped = _insert_job_copy(d, jobs[0]["id"], "STOPPED", 100)
        fails(cimi("wait", stopped, env=env), JOB, "STOPPED")
        check(m, "machine made")
    finally:
        d.kill9()


def _insert_job_copy(d, job_uri, state, progress):
    """A new Job row copied from job_uri, in state, written into the running
    daemon's store; returns its URI."""
    db = sqlite3.connect(d.db, timeout=10)
    try:
        row = db.execute("SELECT type, tenant, parent, doc, priv FROM resources WHERE id = ?",
                         (job_uri.split("/cimi/", 1)[1],)).fetchone()
        doc = json.loads(row[3])
        doc.update(state=state, progress=progress, statusMessage=f"left {state} by the test")
        new = f"jobs/{uuid.uuid4()}"
        db.execute("INSERT INTO resources (id, type, tenant, parent, version, doc, priv) "
                   "VALUES (?, ?, ?, ?, 1, ?, ?)", (new, row[0], row[1], row[2], json.dumps(doc),
                                                    row[4]))
        db.commit()
    finally:
        db.close()
    return job_uri.split("/cimi/", 1)[0] + "/cimi/" + new


# ---------------------------------------------------------------- errors

@test
def server_errors_carry_the_servers_message():
    d = daemon()
    missing = d.cep_url.replace("cloudEntryPoint", "machines/no-such-id")
    for fmt in ("table", "json", "xml"):
        fails(cimi("show", "machines", missing, "-o", fmt, env=env_for()), NOT_FOUND,
              "HTTP 404 Not Found", "no resource at 'machines/no-such-id'", missing)
    env = env_for()
    env["CIMI_PASSWORD"] = "wrong-password"
    fails(cimi("list", "machines", env=env), AUTH, "HTTP 401", "invalid user name or password")
    fails(cimi("list", "machines", "--url", d.cep_url.replace("cloudEntryPoint", "nowhere"),
               env=env_for()), NOT_FOUND, "HTTP 404")
    fails(cimi("list", "machines", "--url", d.cep_url.replace("cloudEntryPoint", "machines"),
               env=env_for()), CONFIG, "is not a CIMI CloudEntryPoint")


class _Misbehaving(http.server.BaseHTTPRequestHandler):
    """A server that is not cimid: a valid entry point whose collections
    answer 500 with a plain-text message, 502 with an HTML page, or 200 with
    something that is not a CIMI document."""

    def do_GET(self):
        base = f"http://127.0.0.1:{self.server.server_port}/cimi/"
        if self.path == "/cimi/cloudEntryPoint":
            doc = {"resourceURI": NS + "/CloudEntryPoint", "id": base + "cloudEntryPoint",
                   "baseURI": base, "machines": {"href": base + "machines"},
                   "jobs": {"href": base + "jobs"}, "machineImages": {"href": base + "images"}}
            self._reply(200, "application/json", json.dumps(doc))
        elif self.path == "/cimi/machines":
            self._reply(500, "text/plain", "backend exploded\nsecond line of the trace\n")
        elif self.path == "/cimi/jobs":
            self._reply(502, "text/html", "<html><body><h1>Bad gateway</h1></body></html>")
        else:
            self._reply(200, "text/plain", "\x01\x02 not a document")

    def _reply(self, status, ctype, body):
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


@test
def misbehaving_server():
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Misbehaving)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    try:
        url = f"http://127.0.0.1:{srv.server_port}/cimi/cloudEntryPoint"
        env = dict(base_env(), CIMI_URL=url)
        last = fails(cimi("list", "machines", env=env), SERVER, "HTTP 500", "backend exploded")
        notin("second line", last, "only the first line of a plain-text message")
        last = fails(cimi("list", "jobs", env=env), SERVER, "HTTP 502", "gave no message")
        notin("<", last, "no HTML in the message")
        last = fails(cimi("list", "images", env=env), SERVER, "not a JSON document")
        notin("\x01", last, "no control characters")
        eq(ok(cimi("collections", "-o", "ids", env=env)).lines(),
           [url.replace("cloudEntryPoint", p) for p in ("machines", "jobs", "images")],
           "collections of another server")
    finally:
        srv.shutdown()
        srv.server_close()


@test
def connection_refused():
    url = f"http://127.0.0.1:{free_port()}/cimi/cloudEntryPoint"
    fails(cimi("list", "machines", "--url", url, "--user", "admin", "--password", "x"), CONNECT,
          "cannot GET", url)


@test
def verbose_shows_requests():
    r = ok(cimi("list", "machines", "-v", env=env_for()))
    isin("> GET " + daemon().cep_url, r.err, "-v shows the requests")
    isin("< 200 OK application/json", r.err, "-v shows the replies")


# ---------------------------------------------------------------- configuration

def write_config(home, text, mode=0o600, path=None):
    path = path or os.path.join(home, ".config", "cimi", "config")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, mode)
    return path


def profile_text(d):
    return (f"# cimi profiles\n[default]\nurl = {d.cep_url}\nuser = admin\n"
            f"password = {d.users['admin'][0]}\n\n"
            f"[alice]\nurl = {d.cep_url}\nuser = alice\npassword = \"{d.users['alice'][0]}\"\n"
            f"; a comment\n[broken]\nurl = {d.cep_url}\nuser = admin\npassword = nope\n")


@test
def profiles():
    d = daemon()
    make_machine("cli-alices", user="alice")
    home = new_home()
    write_config(home, profile_text(d))
    env = base_env(home)
    every = ok(cimi("list", "machines", "-o", "ids", env=env)).lines()
    alices = ok(cimi("list", "machines", "-o", "ids", "--profile", "alice", env=env)).lines()
    check(set(alices) < set(every), "alice sees a part of what admin sees")
    env2 = dict(env, CIMI_PROFILE="alice")
    eq(ok(cimi("list", "machines", "-o", "ids", env=env2)).lines(), alices, "CIMI_PROFILE")
    fails(cimi("list", "machines", "--profile", "nobody", env=env), CONFIG, "no profile [nobody]")
    fails(cimi("list", "machines", "--profile", "broken", env=env), AUTH, "HTTP 401")
    # another file: --config-file, CIMI_CONFIG, XDG_CONFIG_HOME
    other = write_config(home, profile_text(d), path=os.path.join(home, "other.conf"))
    env3 = base_env(new_home())
    eq(ok(cimi("list", "machines", "-o", "ids", "--config-file", other, env=env3)).lines(), every,
       "--config-file")
    eq(ok(cimi("list", "machines", "-o", "ids", env=dict(env3, CIMI_CONFIG=other))).lines(),
       every, "CIMI_CONFIG")
    xdg = os.path.join(home, "xdg")
    write_config(home, profile_text(d), path=os.path.join(xdg, "cimi", "config"))
    eq(ok(cimi("list", "machines", "-o", "ids", env=dict(env3, XDG_CONFIG_HOME=xdg))).lines(),
       every, "XDG_CONFIG_HOME")


@test
def profile_file_errors_and_permissions():
    d = daemon()
    home = new_home()
    env = base_env(home)
    write_config(home, f"[default]\nurl = {d.cep_url}\nuserr = admin\n")
    fails(cimi("list", "machines", env=env), CONFIG, "config:3", "unknown key 'userr'")
    write_config(home, "[default\nurl = x\n")
    fails(cimi("list", "machines", env=env), CONFIG, "config:1")
    write_config(home, "[default]\njust words\n")
    fails(cimi("list", "machines", env=env), CONFIG, "key = value")
    write_config(home, f"[default]\nurl = {d.cep_url}\ninsecure = maybe\n")
    fails(cimi("list", "machines", env=env), CONFIG, "insecure")
    write_config(home, profile_text(d), mode=0o644)
    r = ok(cimi("list", "machines", env=env))
    isin("readable by others", r.err, "a warning for a readable file with passwords")
    write_config(home, f"[default]\nurl = {d.cep_url}\nuser = admin\n")
    fails(cimi("list", "machines", env=env), CONFIG, "no password for user 'admin'")


@test
def precedence_flags_profile_environment():
    d = daemon()
    pw = d.users["admin"][0]
    home = new_home()
    write_config(home, profile_text(d))
    # the environment beats the default profile ...
    env = dict(base_env(home), CIMI_USER="admin", CIMI_PASSWORD="wrong-env")
    fails(cimi("list", "machines", env=env), AUTH, "HTTP 401")
    # ... flags beat the environment
    ok(cimi("list", "machines", "--password", pw, env=env))
    env = dict(base_env(), CIMI_URL=d.cep_url, CIMI_USER="admin", CIMI_PASSWORD=pw)
    fails(cimi("list", "machines", "--password", "wrong-flag", env=env), AUTH, "HTTP 401")
    fails(cimi("list", "machines", "--url", f"http://127.0.0.1:{free_port()}/cimi/cloudEntryPoint",
               env=env), CONNECT)
    # a profile named with --profile beats the environment
    env = dict(base_env(home), CIMI_USER="admin", CIMI_PASSWORD="wrong-env")
    ok(cimi("list", "machines", "--profile", "alice", env=env))
    # ... but not the flags
    fails(cimi("list", "machines", "--profile", "alice", "--password", "wrong-flag", env=env),
          AUTH, "HTTP 401")


def _read_until(fd, marker, timeout=15):
    buf = b""
    deadline = time.time() + timeout
    while marker not in buf and time.time() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.5)
        if ready:
            try:
                data = os.read(fd, 4096)
            except OSError:
                break
            if not data:
                break
            buf += data
    return buf


@test
def password_prompt_on_a_terminal():
    """A user without a password is asked for one on the terminal, without echo."""
    d = daemon()
    pw = d.users["admin"][0]
    env = dict(base_env(), CIMI_URL=d.cep_url, CIMI_USER="admin")
    master, slave = pty.openpty()
    try:
        p = subprocess.Popen([CLI_BIN, "list", "config", "-o", "ids"], stdin=slave,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
                             start_new_session=True,
                             preexec_fn=lambda: fcntl.ioctl(0, termios.TIOCSCTTY, 0))
        os.close(slave)
        slave = None
        prompt = _read_until(master, b"Password for admin: ")
        isin(b"Password for admin: ", prompt, "the prompt")
        os.write(master, (pw + "\n").encode())
        out, err = p.communicate(timeout=30)
        echoed = _read_until(master, b"never", timeout=0.5)
    finally:
        if slave is not None:
            os.close(slave)
        os.close(master)
    eq(p.returncode, OK, f"exit status (stderr {err!r})")
    isin(b"/machineConfigs/m1-small", out, "the listing after the prompt")
    notin(pw.encode(), prompt + echoed, "the password is not echoed")


# ---------------------------------------------------------------- TLS

def tls_daemon():
    return shared("cli-tls", tls=True)


@test
def tls_cacert_and_insecure():
    d = tls_daemon()
    env = creds_env(d)
    last = fails(cimi("list", "machines", env=env), CONNECT, "cannot GET", "--cacert")
    check("https://" in last, f"the URL is named: {last!r}")
    titles, _ = table(ok(cimi("list", "config", "--cacert", d.cert, env=env)))
    eq(titles[0], "NAME", "--cacert")
    ok(cimi("list", "config", env=dict(env, CIMI_CACERT=d.cert)))
    ok(cimi("list", "config", "--insecure", env=env))
    ok(cimi("list", "config", "-k", env=env))
    home = new_home()
    write_config(home, f"[tls]\nurl = {d.cep_url}\nuser = admin\npassword = {d.users['admin'][0]}"
                       f"\ncacert = {d.cert}\n[lax]\nurl = {d.cep_url}\nuser = admin\n"
                       f"password = {d.users['admin'][0]}\ninsecure = yes\n")
    ok(cimi("list", "config", "--profile", "tls", env=base_env(home)))
    ok(cimi("list", "config", "--profile", "lax", env=base_env(home)))
    r = ok(cimi("machine", "create", "--name", "cli-tls", "--config", "m1-small", "--image",
                "debian12", "--start", "--wait", "-o", "json", "--cacert", d.cert, env=env))
    eq(r.json()["state"], "STARTED", "a machine over https")
    check(r.json()["id"].startswith("https://"), "https ids")


# ---------------------------------------------------------------- the README walk-through

@test
def readme_walkthrough():
    """README's 'Command-line client' section, step by step, on a fresh daemon."""
    with Daemon(name="cli-readme") as d:
        env = creds_env(d)
        titles, rows = table(ok(cimi("list", "machineConfigs", env=env)))
        isin("m1-small", [r["NAME"] for r in rows], "list machineConfigs")
        titles, rows = table(ok(cimi("list", "machineImages", env=env)))
        isin("debian12", [r["NAME"] for r in rows], "list machineImages")
        ok(cimi("machine", "create", "--name", "web1", "--config", "m1-small", "--image",
                "debian12", "--start", "--wait", env=env))
        titles, rows = table(ok(cimi("list", "machines", env=env)))
        eq([(r["NAME"], r["STATE"]) for r in rows], [("web1", "STARTED")], "a running machine")
        ok(cimi("machine", "stop", "web1", "--wait", env=env))
        ok(cimi("machine", "start", "web1", "--wait", env=env))
        ok(cimi("show", "machine", "web1", env=env))
        ok(cimi("delete", "machine", "web1", "--wait", env=env))
        eq(ok(cimi("list", "machines", env=env)).out.strip(), "(no items)", "no machine left")
