#!/usr/bin/env python3
"""crash.py - kill -9 crash harness for cimid.

Runs a mixed concurrent workload against the real cimid binary over HTTP
(several client threads of two tenants: create, start, stop, capture,
delete machines, delete images, create and delete Systems, import OVF packages, read
machines and filtered collections),
sends SIGKILL at a random moment, checks the database as the crash left it
(`sqlite3 DB 'PRAGMA integrity_check'`), restarts cimid on the same
database and hypervisor, and checks the invariants:

  1. every Job reaches a terminal state (SUCCESS or FAILED) with a
     statusMessage and progress 100, and every Job URI a client was given
     still exists;
  2. nothing lost or duplicated: machine ids and names are distinct, every
     listed machine was asked for, every 201'd (or 202'd) machine exists exactly once
     unless a machine.delete Job for it succeeded (and is gone if one did),
     every 201'd (or 202'd) captured image exists unless it was deleted;
  3. the store and the hypervisor agree: the store's Machine rows are the
     machines served, each machine is in a stable state, the state the
     store holds is the state the hypervisor reports (cimid reads it from
     libvirt on every GET), and it is the state the machine's last
     successful Job (create/start/stop) left it in; with --qemu, the domain
     definitions in the embed root are exactly the machines, and the guests
     running are exactly the STARTED ones (checked on the files libvirt
     keeps in ROOT while cimid is down);
  4. Systems (SystemCreate of a network, a volume and two machines, and
     System delete, in the workload): a System exists iff its create Job
     succeeded (and no delete of it did), with every member it created;
     none of a failed or deleted one remains (every resource its create
     Job's nested Jobs made is gone), and no System is half-made;
  5. the daemon log has no sanitizer report; after the last iteration a
     SIGTERM stop exits 0 (LeakSanitizer runs then).

Usage:
  tests/crash/crash.py [--iterations N] [--clients K] [--seed S] [--qemu]

Each client thread drives at most 5 machines (2 with --qemu, whose guests
are real QEMU processes).

Environment as for the black-box tests (CIMID_BIN, default build/cimid;
CIMI_TEST_IMAGE_DIR for --qemu).  Prints one "ok - crash.iteration N ..."
or "FAIL - ..." line per iteration and ends with "N passed, N failed".
"""

import argparse
import http.client
import json
import os
import random
import re
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.parse
import xml.etree.ElementTree as ET

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                "blackbox"))
import cimitest  # noqa: E402
from cimitest import (ACTION, NS, TRANSIENT_STATES, Client, Daemon, coll_items,  # noqa: E402
                      machine_create_doc)

TERMINAL = ("SUCCESS", "FAILED")
STABLE = ("STARTED", "STOPPED", "PAUSED", "SUSPENDED", "ERROR")
# The state a machine is left in by the last successful Job of these kinds.
JOB_STATE = {"machine.start": "STARTED", "machine.stop": "STOPPED",
             "machine.restart": "STARTED", "machine.pause": "PAUSED",
             "machine.suspend": "SUSPENDED"}
USERS = ("alice", "bob")


def rel(url):
    """Stored id of an absolute CIMI URI: http://host/cimi/machines/x -> machines/x."""
    return url.split("/cimi/", 1)[1] if url and "/cimi/" in url else url


class Ledger:
    """What the clients asked for and were told, across all iterations."""

    def __init__(self):
        self.lock = threading.Lock()
        self.asked = set()          # machine names of every create request sent
        self.created = {}           # Location (201) -> name
        self.jobs = set()           # every CIMI-Job-URI received
        self.images = {}            # Location (201) of a capture -> user
        self.image_deletes = set()  # image Locations a DELETE was sent for
        self.systems = {}           # SystemCreate Location (201/202) -> its Job URI
        self.unexpected = []        # replies no client should ever get
        self.requests = 0
        self.statuses = {}

    def reply(self, method, what, status, headers, body):
        with self.lock:
            self.requests += 1
            self.statuses[status] = self.statuses.get(status, 0) + 1
            job = headers.get("CIMI-Job-URI")
            if job and status < 400:
                self.jobs.add(job)
            if status >= 500 or status in (400, 401, 403, 405, 406, 415):
                self.unexpected.append(f"{method} {what} -> {status}: {body[:200]!r}")


class Worker(threading.Thread):
    """One client thread: picks an operation at random on its own machines
    until the daemon goes away (kill -9) or it is told to stop."""

    def __init__(self, run, index, user, machines):
        super().__init__(daemon=True)
        self.run_ = run
        self.index = index
        self.user = user
        self.machines = list(machines)   # Locations this worker drives
        self.systems = []                # Systems this worker created
        self.rng = random.Random(run.rng.random())
        self.auth = Client(run.d, user).auth_header()
        self.count = 0

    def http(self, method, url, body=None, query=None):
        """One request on a new connection; None when the daemon is gone."""
        u = urllib.parse.urlsplit(url)
        path = u.path + (("?" + urllib.parse.urlencode(query)) if query else "")
        hdrs = {"Authorization": self.auth, "Accept": "application/json"}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            hdrs["Content-Type"] = "application/json"
        try:
            conn = http.client.HTTPConnection("127.0.0.1", self.run_.d.port,
                                              timeout=self.run_.timeout)
            conn.request(method, path, body=data, headers=hdrs)
            r = conn.getresponse()
            rbody = r.read()
            conn.close()
        except (OSError, http.client.HTTPException):
            return None
        headers = {k: r.getheader(k) for k in ("Location", "CIMI-Job-URI")}
        self.run_.ledger.reply(method, url, r.status, headers, rbody)
        doc = None
        if rbody:
            try:
                doc = json.loads(rbody)
            except ValueError:
                self.run_.ledger.unexpected.append(f"{method} {url}: reply is not JSON")
        return r.status, headers, doc

    def run(self):
        while not self.run_.stop.is_set():
            if self.step() is None:
                return
            self.count += 1

    def step(self):
        r = self.rng.random()
        run = self.run_
        if not self.machines or (r < 0.25 and len(self.machines) < run.per_worker):
            return self.create()
        if r >= 0.97:
            return export_template(self)
        if 0.93 <= r < 0.96 and run.import_source:
            return import_package(self)
        if r < 0.35:
            return self.http("GET", run.machines_url,
                             query={"$filter": f"name='{self.rng.choice(sorted(run.ledger.asked))}'"
                                    if run.ledger.asked else "state='STARTED'"})
        if r < 0.45 and self.rng.random() < 0.5:
            return self.system_step()
        if r < 0.40 and run.image_urls(self.user):
            img = self.rng.choice(run.image_urls(self.user))
            with run.ledger.lock:
                run.ledger.image_deletes.add(img)
            return self.http("DELETE", img)
        loc = self.rng.choice(self.machines)
        got = self.http("GET", loc)
        if got is None:
            return None
        status, _, doc = got
        if status == 404:
            self.machines.remove(loc)
            return got
        state = (doc or {}).get("state")
        if state in TRANSIENT_STATES:
            time.sleep(0.02)
            return got
        if state == "ERROR" or self.rng.random() < 0.15:
            got = self.http("DELETE", loc)
            if got and got[0] in (200, 202):
                self.machines.remove(loc)
            return got
        if state == "STOPPED" and self.rng.random() < 0.2:
            return self.capture(loc)
        action = {"STARTED": "stop", "STOPPED": "start", "PAUSED": "start",
                  "SUSPENDED": "start"}.get(state)
        if action is None:
            return got
        body = {"resourceURI": NS + "/Action", "action": ACTION + action}
        if action == "stop":
            body["force"] = True
        return self.http("POST", f"{loc}/{action}", body)

    def create(self):
        run = self.run_
        name = f"k{run.iteration}-w{self.index}-{self.count}"
        with run.ledger.lock:
            run.ledger.asked.add(name)
        body = dict(run.create_body[self.user], name=name)
        body["machineTemplate"] = dict(body["machineTemplate"],
                                       initialState=self.rng.choice(("STARTED", "STOPPED")))
        got = self.http("POST", run.machines_url, body)
        if got and got[0] in (201, 202) and got[1]["Location"]:
            with run.ledger.lock:
                run.ledger.created[got[1]["Location"]] = name
            self.machines.append(got[1]["Location"])
        return got

    def system_step(self):
        """Create a System (a network, a volume and two machines on the
        network, one with the volume) or delete one of this worker's."""
        run = self.run_
        if self.systems and (len(self.systems) >= 2 or self.rng.random() < 0.4):
            loc = self.rng.choice(self.systems)
            got = self.http("DELETE", loc)
            if got and got[0] in (200, 202, 404):
                self.systems.remove(loc)
            return got
        name = f"s{run.iteration}w{self.index}n{self.count}"
        with run.ledger.lock:
            run.ledger.asked.update({name + "-1", name + "-2"})
        tpl = run.create_body[self.user]["machineTemplate"]
        body = {"resourceURI": NS + "/SystemCreate", "name": name, "systemTemplate": {
            "componentDescriptors": [
                {"name": "net", "type": NS + "/Network",
                 "networkTemplate": {"networkConfig": {"networkType": "PRIVATE"}}},
                {"name": "vol", "type": NS + "/Volume", "quantity": 2,
                 "volumeTemplate": {"volumeConfig": {"capacity": 1024}}},
                {"name": name, "type": NS + "/Machine", "quantity": 2,
                 "machineTemplate": dict(tpl, volumes=[{"href": "#vol"}],
                                         networkInterfaces=[{"network": {"href": "#net"}}])}]}}
        got = self.http("POST", run.systems_url, body)
        if got and got[0] in (201, 202) and got[1]["Location"]:
            with run.ledger.lock:
                run.ledger.systems[got[1]["Location"]] = got[1]["CIMI-Job-URI"]
            self.systems.append(got[1]["Location"])
        return got

    def capture(self, loc):
        run = self.run_
        body = {"resourceURI": NS + "/MachineImage", "name": f"img-{self.index}-{self.count}",
                "type": "IMAGE", "imageLocation": loc}
        got = self.http("POST", run.images_url, body)
        if got and got[0] in (201, 202) and got[1]["Location"]:
            with run.ledger.lock:
                run.ledger.images[got[1]["Location"]] = self.user
        return got


# -- exports (issue 12): a SystemTemplate per user exported now and then;
# after the crash and restart every Package is complete (AVAILABLE, its file
# an OVA of its size, .ovf first) and no export work file is left.

def make_export_templates(run):
    out = {}
    for user in USERS:
        c = Client(run.d, user)
        tpl = {"resourceURI": NS + "/SystemTemplate", "name": f"export-{user}",
               "componentDescriptors": [{"name": "m", "type": NS + "/Machine",
                                         "machineTemplate": run.create_body[user]["machineTemplate"]}]}
        r = c.post(c.add_href("systemTemplates"), tpl)
        out[user] = r.header("Location") if r.status in (201, 202) else None
    return out


def export_template(worker):
    tpl = worker.run_.export_templates.get(worker.user)
    if not tpl:
        return worker.http("GET", worker.run_.machines_url)
    return worker.http("POST", f"{tpl}/export",
                       {"resourceURI": NS + "/Action", "action": ACTION + "export"})


def check_packages(run, adm):
    import tarfile
    problems = []
    pdir = os.path.join(run.d.tmp, "packages")
    for p in coll_items(adm.list("packages")):
        path = os.path.join(pdir, p["id"].rsplit("/", 1)[1] + ".ova")
        if p.get("state") != "AVAILABLE":
            problems.append(f"package {p['id']} is {p.get('state')} after every Job ended")
        elif not os.path.exists(path) or os.path.getsize(path) != p.get("size"):
            problems.append(f"package {p['id']}: its file is missing or not {p.get('size')} bytes")
        else:
            with tarfile.open(path) as t:
                names = t.getnames()
            if not names or not names[0].endswith(".ovf"):
                problems.append(f"package {p['id']} is not an OVA (.ovf first): {names}")
    left = [f for f in os.listdir(pdir) if f.startswith("export-")] if os.path.isdir(pdir) else []
    if left:
        problems.append(f"export work files left: {left}")
    return problems


# -- imports (issue 12): an OVA of the fixture folder imported now and then
# into systemTemplates or systems; after the crash and restart every import
# is all or nothing: a SUCCESS made the template with every image (and its
# file) and its System, a FAILED left no row, and no converted file is left
# that no image names.

IMPORT_PACKAGE = "xo"      # tests/fixtures/ovf: one VM "xo-vm", one disk


def import_daemon_args(run):
    if run.args.qemu:
        return []
    out = os.path.join(run.d.tmp, "ovf")
    subprocess.run([sys.executable, os.path.join(cimitest.REPO, "tests", "fixtures", "ovf",
                                                 "make-packages.py"), out],
                   check=True, stdout=subprocess.DEVNULL)
    with open(os.path.join(out, "packages.json")) as f:
        run.import_source = json.load(f)[IMPORT_PACKAGE]["path"]
    run.import_storage = os.path.join(run.d.tmp, "storage")
    return ["--storage-dir", run.import_storage, "--import-dir", out]


def import_package(worker):
    run = worker.run_
    into = worker.rng.choice(("systemTemplates", "systems"))
    if into == "systems":
        with run.ledger.lock:
            run.ledger.asked.add("xo-vm")  # the VM's name in the package
    return worker.http("POST", run.machines_url.rsplit("/machines", 1)[0] + f"/{into}/import",
                       {"resourceURI": NS + "/Action", "action": ACTION + "import",
                        "source": run.import_source})


def imported_system(rows, sid):
    """The System an import built is whole, or gone with every member (its
    create Job's nested Jobs say what it made)."""
    create = [(doc, priv) for typ, doc, priv in rows.values() if typ == "Job" and
              priv.get("op") == "system.create" and (priv.get("params") or {}).get("system") == sid]
    if len(create) != 1:
        return [f"imported System {sid} has {len(create)} create Jobs"]
    doc, _ = create[0]
    made = {(rows.get(rel(n["href"]), (None, {}, {}))[2]).get("created")
            for n in doc.get("nestedJobs", [])} - {None, ""}
    if sid in rows:
        missing = sorted(m for m in made if m not in rows)
        state = rows[sid][1].get("state")
        if doc.get("state") != "SUCCESS" or missing or state in ("CREATING", "DELETING"):
            return [f"imported System {sid} is half-made: create Job {doc.get('state')}, "
                    f"state {state}, members {missing} missing"]
        return []
    left = sorted(m for m in made if m in rows)
    return [f"imported System {sid} is gone but its members {left} remain"] if left else []


def check_imports(run, adm):
    problems = []
    if not run.import_source:
        return problems
    db = sqlite3.connect(f"file:{run.d.db}?mode=ro", uri=True, timeout=30)
    try:
        rows = {rid: (typ, json.loads(doc), json.loads(priv)) for rid, typ, doc, priv in
                db.execute("SELECT id, type, doc, priv FROM resources").fetchall()}
    finally:
        db.close()
    image_uuids = {rid.rsplit("/", 1)[1] for rid, (typ, _, priv) in rows.items()
                   if typ in ("MachineImage", "VolumeImage") and priv.get("file")}
    for jid, (typ, doc, priv) in rows.items():
        if typ != "Job" or priv.get("op") != "system.import":
            continue
        params = priv.get("params") or {}
        tid = params.get("template")
        if doc.get("state") != "SUCCESS":
            if tid in rows:
                problems.append(f"import {jid} is {doc.get('state')} but left {tid}")
            continue
        if tid not in rows:
            problems.append(f"import {jid} succeeded but its SystemTemplate {tid} is missing")
            continue
        refs = re.findall(r'"href": ?"((?:machineImages|volumeImages|machineConfigs|'
                          r'networkTemplates)/[^"]+)"', json.dumps(rows[tid][1]))
        for ref in refs:
            if ref not in rows:
                problems.append(f"import {jid}: template {tid} names {ref}, which is missing")
        if params.get("target") == "systems":
            made = [a["href"] for a in doc.get("affectedResources", [])
                    if a.get("href", "").startswith("systems/")]
            if len(made) != 1:
                problems.append(f"System import {jid} names no System: {made}")
            else:
                problems += imported_system(rows, made[0])
    storage = os.path.join(run.import_storage, "images")
    for f in sorted(os.listdir(storage)) if os.path.isdir(storage) else []:
        if f.split(".", 1)[0] not in image_uuids or not re.fullmatch(r"[0-9a-f-]{36}\.qcow2", f):
            problems.append(f"image file {f} left in the storage directory, named by no image")
    return problems


class CrashRun:
    def __init__(self, args):
        self.args = args
        self.rng = random.Random(args.seed)
        self.ledger = Ledger()
        self.stop = threading.Event()
        self.iteration = 0
        self.per_worker = 2 if args.qemu else 5   # QEMU guests are real processes
        self.timeout = 120 if args.qemu else 30
        self.job_timeout = 300 if args.qemu else 60
        self.root = None
        self.d = Daemon(name="crash", args=["--workers", "4"])
        self.import_source = None
        self.d.args += import_daemon_args(self)
        if args.qemu:
            self.setup_qemu()
        self.d.start()
        self.discover()

    def setup_qemu(self):
        image_dir = os.environ.get("CIMI_TEST_IMAGE_DIR") or os.path.join(
            cimitest.REPO, "build-asan", "test-image")
        image = os.path.join(image_dir, "cimid-test.qcow2")
        if not os.path.exists(image):
            sys.exit(f"crash.py --qemu: no test image at {image} (images/build-test-image.sh)")
        images = os.path.join(self.d.tmp, "images")
        os.makedirs(images)
        os.symlink(image, os.path.join(images, "cimid-test.qcow2"))
        self.root = os.path.join(self.d.tmp, "root")
        self.d.args += ["--connect", f"qemu:///embed?root={self.root}", "--images-dir", images,
                        "--stop-timeout", "10", "--accel", "tcg"]

    def discover(self):
        a = Client(self.d, "alice")
        self.machines_url = a.coll("machines")
        self.images_url = a.coll("machineImages")
        self.systems_url = a.coll("systems")
        self.create_body = {}
        for user in USERS:
            c = Client(self.d, user)
            body = machine_create_doc(c, "x")
            if self.args.qemu:
                img = [i for i in coll_items(c.list("machineImages"))
                       if i.get("name") == "cimid-test"]
                body["machineTemplate"]["machineImage"] = {"href": img[0]["id"]}
            self.create_body[user] = body
        self.export_templates = make_export_templates(self)

    def image_urls(self, user):
        with self.ledger.lock:
            return [u for u, owner in self.ledger.images.items()
                    if owner == user and u not in self.ledger.image_deletes]

    # -- one iteration
    def iterate(self, n):
        self.iteration = n
        self.stop.clear()
        adm = Client(self.d, "admin")
        mine = {u: [] for u in USERS}
        for m in coll_items(adm.list("machines")):
            if not m.get("name", "").startswith("k"):
                continue  # a System's: created and deleted with it
            owner = "alice" if m["id"] in self.alice_ids() else "bob"
            mine[owner].append(m["id"])
        workers = []
        for k in range(self.args.clients):
            user = USERS[k % 2]
            share = [m for i, m in enumerate(sorted(mine[user]))
                     if i % (self.args.clients // 2 or 1) == k // 2]
            workers.append(Worker(self, k, user, share))
        for w in workers:
            w.start()
        lo, hi = (2.0, 15.0) if self.args.qemu else (0.2, 2.5)
        time.sleep(self.rng.uniform(lo, hi))
        self.d.kill9()
        self.stop.set()
        for w in workers:
            w.join(self.timeout + 5)
        problems = self.check_db_file()
        if self.root:
            problems += self.check_embed_root()
        self.d.start(wait=False)
        self.d.wait_ready(timeout=120 if self.args.qemu else 30)
        problems += self.check_invariants()
        return problems, sum(w.count for w in workers)

    def alice_ids(self):
        return set(cimitest.ids(Client(self.d, "alice").list("machines")))

    # -- invariants
    def check_db_file(self):
        r = subprocess.run(["sqlite3", self.d.db, "PRAGMA integrity_check"], capture_output=True,
                           text=True, timeout=120)
        if r.returncode != 0 or r.stdout.strip() != "ok":
            return [f"integrity_check after kill -9: {r.stdout.strip()} {r.stderr.strip()}"]
        return []

    def store_rows(self):
        db = sqlite3.connect(f"file:{self.d.db}?mode=ro", uri=True, timeout=30)
        try:
            rows = db.execute("SELECT seq, id, type, doc, priv FROM resources "
                              "WHERE type IN ('Machine', 'Job', 'MachineImage') "
                              "ORDER BY seq").fetchall()
        finally:
            db.close()
        return [(seq, rid, typ, json.loads(doc), json.loads(priv))
                for seq, rid, typ, doc, priv in rows]

    def check_embed_root(self):
        """cimid is down: libvirt's own files in ROOT say which domains are
        defined (etc/qemu/NAME.xml) and which run (run/qemu/
        NAME.xml, the live status); compare with the store."""
        problems = []
        defined, running = self.embed_domains()
        rows = [r for r in self.store_rows() if r[2] == "Machine"]
        uuids = {rid.split("/", 1)[1]: doc.get("state") for _, rid, _, doc, _ in rows}
        # Domains of machines whose creation or deletion was cut short are
        # repaired by the Jobs re-run at start-up; only the others must agree.
        settled = {u for u, st in uuids.items() if st not in TRANSIENT_STATES}
        for u in settled:
            if u not in defined:
                problems.append(f"machine {u} ({uuids[u]}) has no domain definition in the root")
        for u in defined:
            if u not in uuids:
                pending = [r for r in self.store_rows() if r[2] == "Job"
                           and r[3].get("state") not in TERMINAL
                           and r[4].get("params", {}).get("machine", "").endswith(u)]
                if not pending:
                    problems.append(f"domain {u} is defined but no machine row (and no Job) has it")
        for u in settled:
            want = uuids[u] in ("STARTED", "PAUSED")
            if want != (u in running):
                problems.append(f"machine {u} is {uuids[u]} in the store but its guest "
                                f"{'does not run' if want else 'runs'}")
        return problems

    def embed_domains(self):
        defined, running = set(), set()
        for sub, out in (("etc/qemu", defined), ("run/qemu", running)):
            path = os.path.join(self.root, sub)
            if not os.path.isdir(path):
                continue
            for f in os.listdir(path):
                if not f.endswith(".xml"):
                    continue
                try:
                    tree = ET.parse(os.path.join(path, f))
                except ET.ParseError:
                    continue
                el = tree.find(".//uuid")
                if el is not None and el.text:
                    out.add(el.text.strip())
        return defined, running

    def wait_jobs(self, adm):
        """Unfinished Jobs (asked with a $filter: the full listing grows with
        every iteration) until there are none or the time is up."""
        deadline = time.time() + self.job_timeout
        unfinished = "state!='SUCCESS' and state!='FAILED'"
        while True:
            pending = coll_items(adm.list("jobs", query=[("$filter", unfinished)]))
            if not pending or time.time() > deadline:
                return pending
            time.sleep(0.1)

    def check_invariants(self):
        problems = []
        adm = Client(self.d, "admin")
        for j in self.wait_jobs(adm):
            problems.append(f"Job {j.get('id')} still {j.get('state')} after {self.job_timeout}s")
        rows = self.store_rows()
        base = adm.coll("jobs").rsplit("/jobs", 1)[0] + "/"
        job_docs = {base + rid: doc for _, rid, typ, doc, _ in rows if typ == "Job"}
        for jid, j in job_docs.items():
            if j.get("state") not in TERMINAL:
                problems.append(f"Job {jid} is {j.get('state')} in the store after every Job ended")
            elif not (j.get("statusMessage") or "").strip():
                problems.append(f"{j.get('state')} Job {jid} has no statusMessage")
            elif j.get("progress") != 100:
                problems.append(f"finished Job {jid} has progress {j.get('progress')}")
        for uri in sorted(self.ledger.jobs - set(job_docs)):
            problems.append(f"Job {uri} given to a client is lost")
        # a sample of the Jobs through the API too (the served document is the stored one)
        for uri in sorted(self.ledger.jobs)[-20:]:
            r = adm.get(uri)
            if r.status != 200 or r.doc.get("state") != job_docs.get(uri, {}).get("state"):
                problems.append(f"Job {uri}: served {r.status} {r.doc.get('state')}, stored "
                                f"{job_docs.get(uri, {}).get('state')}")

        listing = coll_items(adm.list("machines"))
        served = {m["id"]: m for m in listing}
        if len(served) != len(listing):
            problems.append(f"machine ids duplicated: {len(listing)} listed, {len(served)} distinct")
        names = [m.get("name") for m in listing]
        if len(set(names)) != len(names):
            problems.append("a creation was applied twice (machine names repeat): "
                            + ", ".join(sorted({n for n in names if names.count(n) > 1})))
        for n in names:
            if n not in self.ledger.asked:
                problems.append(f"machine {n!r} exists though no client asked for it")

        stored = {rid: (doc, priv) for _, rid, typ, doc, priv in rows if typ == "Machine"}
        store_jobs = [(seq, doc, priv) for seq, _, typ, doc, priv in rows if typ == "Job"]
        deleted = {(priv.get("params") or {}).get("machine") for _, doc, priv in store_jobs
                   if priv.get("op") == "machine.delete" and doc.get("state") == "SUCCESS"}
        for loc, name in sorted(self.ledger.created.items()):
            gone = rel(loc) in deleted
            if gone and loc in served:
                problems.append(f"machine {name} ({loc}) still served after its delete Job succeeded")
            if not gone and loc not in served:
                problems.append(f"machine {name} ({loc}) answered 201/202 and is lost "
                                "(no successful delete Job)")
        if {rel(u) for u in served} != set(stored):
            problems.append(f"store rows {sorted(set(stored) - {rel(u) for u in served})} not "
                            f"served; served {sorted({rel(u) for u in served} - set(stored))} "
                            "not in the store")
        last_state = {}
        for seq, doc, priv in store_jobs:
            m = (priv.get("params") or {}).get("machine")
            if doc.get("state") != "SUCCESS" or m is None:
                continue
            if priv.get("op") == "machine.create":
                last_state[m] = (stored.get(m, ({}, {}))[1].get("initialState"), "create")
            elif priv.get("op") in JOB_STATE:
                last_state[m] = (JOB_STATE[priv["op"]], priv["op"])
        for uri, m in served.items():
            st = m.get("state")
            if st not in STABLE:
                problems.append(f"machine {m.get('name')} is {st} after every Job ended")
                continue
            doc, priv = stored.get(rel(uri), ({}, {}))
            if doc.get("state") != st:
                problems.append(f"machine {m.get('name')}: store says {doc.get('state')}, "
                                f"the hypervisor {st}")
            want = last_state.get(rel(uri))
            if want and want[0] and want[0] != st:
                problems.append(f"machine {m.get('name')} is {st}, but its last successful Job "
                                f"({want[1]}) left it {want[0]}")

        problems += check_packages(self, adm)
        problems += check_imports(self, adm)
        images = {i["id"]: i for i in coll_items(adm.list("machineImages"))}
        for loc in sorted(self.ledger.images):
            if loc not in images:
                if loc not in self.ledger.image_deletes:
                    problems.append(f"captured image {loc} answered 201/202 and is lost")
                continue
            st = images[loc].get("state")
            if st not in ("AVAILABLE", "ERROR"):
                problems.append(f"captured image {loc} is {st} after its Job ended")
        return problems + self.check_systems(adm)

    def check_systems(self, adm):
        """Invariant 4: no half-made System."""
        problems = []
        db = sqlite3.connect(f"file:{self.d.db}?mode=ro", uri=True, timeout=30)
        try:
            rows = db.execute("SELECT id, type, parent, doc, priv FROM resources").fetchall()
        finally:
            db.close()
        ids = {rid for rid, *_ in rows}
        jobs = {rid: (json.loads(doc), json.loads(priv)) for rid, typ, _, doc, priv in rows
                if typ == "Job"}
        base = adm.coll("jobs").rsplit("/jobs", 1)[0] + "/"
        deleted = {(priv.get("params") or {}).get("system") for doc, priv in jobs.values()
                   if priv.get("op") == "system.delete" and doc.get("state") == "SUCCESS"}
        for loc, job_uri in sorted(self.ledger.systems.items()):
            sid = rel(loc)
            doc, priv = jobs.get(rel(job_uri), ({}, {}))
            made = set()
            for n in doc.get("nestedJobs", []):
                ndoc, npriv = jobs.get(rel(n["href"]), ({}, {}))
                if npriv.get("created"):
                    made.add(npriv["created"])
            ok = doc.get("state") == "SUCCESS"
            if sid in ids:
                if not ok:
                    problems.append(f"System {sid} exists but its create Job is {doc.get('state')}")
                members = [json.loads(d) for rid, typ, parent, d, p in rows
                           if parent == sid and json.loads(p).get("child")]
                hrefs = {v["href"] for m in members for v in m.values()
                         if isinstance(v, dict) and "href" in v}
                if made - hrefs or any(h not in ids for h in hrefs):
                    problems.append(f"System {sid} is half-made: members {sorted(made - hrefs)} "
                                    f"unlisted, {sorted(h for h in hrefs if h not in ids)} missing")
                state = json.loads([d for rid, _, _, d, _ in rows if rid == sid][0]).get("state")
                if state in ("CREATING", "DELETING"):
                    problems.append(f"System {sid} is {state} after every Job ended")
            else:
                if ok and sid not in deleted:
                    problems.append(f"System {sid} created (Job SUCCESS) is lost without a delete")
                left = sorted(m for m in made if m in ids)
                if left:
                    problems.append(f"System {sid} is gone but its members {left} remain")
        del base
        return problems

    def finish(self):
        rc = self.d.stop(signal.SIGTERM, timeout=120)
        if self.root:
            self.kill_guests()
        return rc

    def kill_guests(self):
        """embed guests outlive cimid: kill the processes of this root (by
        pid): QEMU, and any child cimid forked that outlived it."""
        for pid in os.listdir("/proc"):
            if not pid.isdigit():
                continue
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as f:
                    cmd = f.read()
            except OSError:
                continue
            if self.root.encode() in cmd:
                try:
                    os.kill(int(pid), signal.SIGKILL)
                except OSError:
                    pass


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--iterations", type=int, default=100)
    p.add_argument("--clients", type=int, default=None,
                   help="client threads (default 6; 2 with --qemu)")
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--qemu", action="store_true", help="qemu:///embed with the test image")
    args = p.parse_args()
    if args.clients is None:
        args.clients = 2 if args.qemu else 6
    if args.seed is None:
        args.seed = random.randrange(1 << 30)
    print(f"# crash harness: {args.iterations} iterations, {args.clients} clients, "
          f"seed {args.seed}, {'qemu:///embed' if args.qemu else 'test:///default'}", flush=True)
    passed = failed = 0
    started = time.time()
    run = None
    try:
        run = CrashRun(args)
        for n in range(1, args.iterations + 1):
            t0 = time.time()
            problems, ops = run.iterate(n)
            machines = len(coll_items(Client(run.d, "admin").list("machines")))
            if problems:
                failed += 1
                print(f"FAIL - crash.iteration {n}:\n    " + "\n    ".join(problems), flush=True)
            else:
                passed += 1
                print(f"ok - crash.iteration {n}: {ops} operations before kill -9, "
                      f"{machines} machines, {len(run.ledger.jobs)} Jobs so far, "
                      f"{time.time() - t0:.1f}s", flush=True)
        rc = run.finish()
        if rc == 0:
            passed += 1
            print("ok - crash.clean-stop: SIGTERM after the last iteration exits 0", flush=True)
        else:
            failed += 1
            print(f"FAIL - crash.clean-stop: exit status {rc} after SIGTERM", flush=True)
    except Exception as e:  # the harness or the daemon broke down: one failure, say where
        failed += 1
        print(f"FAIL - crash.harness: {type(e).__name__}: {e}", flush=True)
        if run is not None:
            print("    daemon log tail:\n      " + run.d.log_tail(20).replace("\n", "\n      "))
    finally:
        if run is not None:
            run.d.kill9()
            if run.root:
                run.kill_guests()
    for path, report in cimitest.sanitizer_reports():
        failed += 1
        print(f"FAIL - sanitizer report in {path}:\n    " + report.replace("\n", "\n    "))
    if run is not None:
        led = run.ledger
        print(f"# {led.requests} requests ({', '.join(f'{k}: {v}' for k, v in sorted(led.statuses.items()))}), "
              f"{len(led.created)} machines and {len(led.images)} images, "
              f"{len(led.systems)} Systems created, "
              f"{len(led.jobs)} Jobs, {time.time() - started:.0f}s", flush=True)
        for u in led.unexpected[:20]:
            print(f"# unexpected reply: {u}")
        if led.unexpected:
            failed += 1
            print(f"FAIL - crash.replies: {len(led.unexpected)} replies with 5xx or a client-error "
                  "status no well-formed request should get", flush=True)
    print(f"{passed} passed, {failed} failed", flush=True)
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
