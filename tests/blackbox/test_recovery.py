"""Crash recovery of unfinished Jobs, made deterministic by editing the SQLite
store while the daemon is down (a Job left QUEUED or RUNNING and its resource
left in a transitional state is exactly what a crash leaves behind):

* a QUEUED stop Job (machine STOPPING) and create Jobs put back to RUNNING
  (machines CREATING) are run again at start-up and end SUCCESS, the
  machines reach their stable states, none is lost or duplicated;
* a delete Job RUNNING at the crash (machine DELETING) finishes: the machine
  is gone and the Job SUCCESS;
* capture Jobs RUNNING or QUEUED at the crash end, the image AVAILABLE or
  ERROR (never CREATING);
* the Job "stop" operation: with one worker and a burst of creations, a
  queued creation Job is stopped (STOPPED, its machine gone), a finished Job
  offers no stop and refuses it with 409; a stop action and a delete queued
  behind a Job that holds the only worker are stopped.

Store layout used (see src/store/sqlite.c): table resources(seq, id, type,
tenant, parent, version, doc, priv); references are stored relative to the
base URI ("machines/<uuid>")."""

import copy
import http.server
import json
import shutil
import tempfile
import sqlite3
import threading
import time
import uuid

import cimitest
from cimitest import (check_created, ACTION, NS, TIMEOUT, TRANSIENT_STATES, Client, Daemon, action_doc,
                      assert_error, check, coll_items, create_machine, do_action, eq, ids, isin,
                      machine_create_doc, ne, notin, op, rels, test, SkipTest)

TERMINAL = ("SUCCESS", "FAILED", "STOPPED")


def rel_path(url):
    """Stored id of an absolute CIMI URI: http://host/cimi/machines/x -> machines/x."""
    check(url and "/cimi/" in url, f"not a CIMI URI: {url!r}")
    return url.split("/cimi/", 1)[1]


class Store:
    """Direct access to a stopped daemon's database."""

    def __init__(self, d):
        check(not d.alive(), "the daemon is stopped before its store is edited")
        self.db = sqlite3.connect(d.db, timeout=10)

    def row(self, rid):
        r = self.db.execute("SELECT id, type, tenant, parent, version, doc, priv FROM resources "
                            "WHERE id = ?", (rid,)).fetchone()
        check(r is not None, f"store has a row {rid!r}")
        return {"id": r[0], "type": r[1], "tenant": r[2], "parent": r[3], "version": r[4],
                "doc": json.loads(r[5]), "priv": json.loads(r[6])}

    def update(self, row):
        self.db.execute("UPDATE resources SET version = version + 1, doc = ?, priv = ? WHERE id = ?",
                        (json.dumps(row["doc"]), json.dumps(row["priv"]), row["id"]))

    def insert(self, row):
        self.db.execute("INSERT INTO resources (id, type, tenant, parent, version, doc, priv) "
                        "VALUES (?, ?, ?, ?, 1, ?, ?)",
                        (row["id"], row["type"], row["tenant"], row["parent"],
                         json.dumps(row["doc"]), json.dumps(row["priv"])))

    def close(self):
        self.db.commit()
        self.db.close()

    def __enter__(self):
        return self

    def __exit__(self, exc_type, *rest):
        if exc_type is None:
            self.close()
        else:
            self.db.rollback()
            self.db.close()
        return False


def unfinished(doc, state, progress):
    """A Job document as a crash leaves it: state, progress, no outcome."""
    doc["state"] = state
    doc["progress"] = progress
    doc["returnCode"] = 0
    doc.pop("statusMessage", None)
    return doc


def job_from_template(template, state, op_name, machine_path, progress=0):
    """A new Job row for op_name on machine_path, copied from an existing Job row."""
    row = copy.deepcopy(template)
    row["id"] = f"jobs/{uuid.uuid4()}"
    doc = unfinished(row["doc"], state, progress)
    doc["targetResource"] = {"href": machine_path}
    doc["affectedResources"] = [{"href": machine_path}]
    doc["action"] = ACTION + op_name.split(".", 1)[1]
    row["priv"] = {"op": op_name, "target": machine_path, "created": "",
                   "params": {"machine": machine_path, "force": False}}
    return row


def wait_all_jobs(c, timeout=TIMEOUT):
    """Every Job the client sees ends; returns the final listing."""
    deadline = time.time() + timeout
    while True:
        jobs = coll_items(c.list("jobs"))
        pending = [(j.get("id"), j.get("state")) for j in jobs if j.get("state") not in TERMINAL]
        if not pending or time.time() > deadline:
            break
        time.sleep(0.05)
    eq(pending, [], "Jobs still unfinished after the restart")
    for j in jobs:
        isin(j.get("state"), ("SUCCESS", "FAILED"), f"Job {j.get('id')} outcome")
        check(isinstance(j.get("statusMessage"), str) and j["statusMessage"].strip(),
              f"finished Job {j.get('id')} ({j.get('state')}) has a statusMessage")
        eq(j.get("progress"), 100, f"progress of finished Job {j.get('id')}")
    return jobs


def machine_ids(c):
    return sorted(ids(c.list("machines")))


# ---------------------------------------------------------------- (a) stop QUEUED, create RUNNING

@test
def recover_queued_stop_and_running_creates():
    with Daemon(name="recover-a") as d:
        a = Client(d, "alice")
        m_run = create_machine(a, "r-started", "STARTED")       # will be STOPPING + queued stop
        m_ctl = create_machine(a, "r-control", "STARTED")       # untouched
        m_tpl = create_machine(a, "r-stopped", "STARTED")       # a real stop Job as template
        m_tpl, stop_job = do_action(a, m_tpl, "stop", "STOPPED")
        r_up = create_machine(a, "r-creating-up", "STARTED", wait=False)
        r_down = create_machine(a, "r-creating-down", "STOPPED", wait=False)
        creating = {r_up.header("Location"): ("STARTED", r_up.header("CIMI-Job-URI")),
                    r_down.header("Location"): ("STOPPED", r_down.header("CIMI-Job-URI"))}
        for loc, (state, job) in creating.items():
            a.wait_job(job)
            a.wait_state(loc, state)
        before = machine_ids(a)
        eq(len(before), 5, "five machines before the crash")
        eq(d.stop(), 0, "exit status after SIGTERM")

        run_path = rel_path(m_run["id"])
        with Store(d) as s:
            m = s.row(run_path)
            eq(m["doc"]["state"], "STARTED", "stored state of the machine to stop")
            m["doc"]["state"] = "STOPPING"
            m["priv"]["previous"] = "STARTED"
            s.update(m)
            new_stop = job_from_template(s.row(rel_path(stop_job["id"])), "QUEUED",
                                         "machine.stop", run_path)
            eq(new_stop["tenant"], m["tenant"], "template Job tenant = machine tenant")
            s.insert(new_stop)
            # a queued start of a machine that is not in the store (any more)
            ghost_path = f"machines/{uuid.uuid4()}"
            ghost = job_from_template(s.row(rel_path(stop_job["id"])), "QUEUED",
                                      "machine.start", ghost_path)
            s.insert(ghost)
            for loc, (state, job) in creating.items():
                m = s.row(rel_path(loc))
                eq(m["priv"].get("desired"), state, f"stored desired state of {loc}")
                m["doc"]["state"] = "CREATING"
                s.update(m)
                j = s.row(rel_path(job))
                eq(j["priv"].get("op"), "machine.create", "create Job op")
                unfinished(j["doc"], "RUNNING", 30)
                s.update(j)

        d.start()
        a = Client(d, "alice")
        stop_url = d.url + "/cimi/" + new_stop["id"]
        eq(a.read(stop_url).get("targetResource", {}).get("href"), m_run["id"],
           "the inserted Job is served with its target")
        jobs = wait_all_jobs(a)
        isin(stop_url, [j.get("id") for j in jobs], "the inserted stop Job is listed")
        jd = a.wait_job(stop_url)
        eq(jd.get("action"), ACTION + "stop", "recovered stop Job action")
        for loc, (state, job) in creating.items():
            a.wait_job(job)
        gd = a.wait_job(d.url + "/cimi/" + ghost["id"], expect="FAILED")
        eq(gd.get("targetResource", {}).get("href"), d.url + "/cimi/" + ghost_path, "ghost Job target")
        assert_error(a.get(d.url + "/cimi/" + ghost_path), 404)
        # machines: same ids, stable states, the expected ones
        eq(machine_ids(a), before, "machine ids after recovery (none lost or duplicated)")
        for mid in before:
            st = a.wait_stable(mid).get("state")
            check(st not in TRANSIENT_STATES, f"{mid} stable: {st}")
        eq(a.read(m_run["id"]).get("state"), "STOPPED", "the machine whose stop was queued")
        eq(a.read(m_ctl["id"]).get("state"), "STARTED", "the untouched STARTED machine")
        eq(a.read(m_tpl["id"]).get("state"), "STOPPED", "the untouched STOPPED machine")
        for loc, (state, job) in creating.items():
            eq(a.read(loc).get("state"), state, f"CREATING machine {loc} reached its initialState")
        names = [m.get("name") for m in coll_items(a.list("machines"))]
        eq(len(names), len(set(names)), f"machine names distinct: {names}")
        # the hypervisor agrees: the machines can be driven
        m, _ = do_action(a, a.read(m_run["id"]), "start", "STARTED")
        down = next(loc for loc, (st, _) in creating.items() if st == "STOPPED")
        do_action(a, a.read(down), "start", "STARTED")
        up = next(loc for loc, (st, _) in creating.items() if st == "STARTED")
        do_action(a, a.read(up), "stop", "STOPPED", force=True)
        eq(d.stop(), 0, "exit status after SIGTERM")


# ---------------------------------------------------------------- (b) delete RUNNING

@test
def recover_running_delete():
    with Daemon(name="recover-b") as d:
        a = Client(d, "alice")
        victim = create_machine(a, "r-victim", "STARTED")
        keep = create_machine(a, "r-keep", "STARTED")
        tmp = create_machine(a, "r-template")
        r = a.delete(op(tmp, "delete"))
        isin(r.status, (200, 202), "DELETE of the template machine")
        tpl_job = r.header("CIMI-Job-URI")
        a.wait_job(tpl_job)
        disks = victim.get("disks", {}).get("href")
        if disks:
            eq(a.get(disks).status, 200, "victim's disks readable before")
        eq(d.stop(), 0, "exit status after SIGTERM")

        vpath = rel_path(victim["id"])
        with Store(d) as s:
            t = s.row(rel_path(tpl_job))
            eq(t["priv"].get("op"), "machine.delete", "template Job op")
            m = s.row(vpath)
            m["doc"]["state"] = "DELETING"
            m["priv"]["previous"] = "STARTED"
            s.update(m)
            job = job_from_template(t, "RUNNING", "machine.delete", vpath, progress=50)
            job["doc"]["action"] = t["doc"]["action"]
            job["priv"]["params"]["force"] = t["priv"]["params"].get("force", True)
            s.insert(job)

        d.start()
        a = Client(d, "alice")
        job_url = d.url + "/cimi/" + job["id"]
        jd = a.wait_job(job_url)
        eq(jd.get("targetResource", {}).get("href"), victim["id"], "delete Job target")
        wait_all_jobs(a)
        assert_error(a.get(victim["id"]), 404)
        if disks:
            assert_error(a.get(disks), 404)
        notin(victim["id"], ids(a.list("machines")), "deleted machine not listed")
        eq(machine_ids(a), [keep["id"]], "only the kept machine is left")
        eq(a.wait_stable(keep["id"]).get("state"), "STARTED", "the kept machine")
        eq(a.read(job_url).get("state"), "SUCCESS", "delete Job still readable, SUCCESS")


# ---------------------------------------------------------------- (c) capture RUNNING / QUEUED

@test
def recover_unfinished_captures():
    with Daemon(name="recover-c") as d:
        a = Client(d, "alice")
        m = create_machine(a, "r-captured")
        cap = op(m, "capture")
        check(cap, "STOPPED machine offers capture")
        images = {}
        for name in ("r-img-running", "r-img-queued"):
            r = a.post(cap, {"resourceURI": NS + "/MachineImage", "name": name, "type": "IMAGE",
                             "imageLocation": m["id"]})
            check_created(r, f"capture {name}")
            job = r.header("CIMI-Job-URI")
            check(job, "capture reply has a CIMI-Job-URI")
            a.wait_job(job)
            a.wait_state(r.header("Location"), "AVAILABLE")
            a.wait_stable(m["id"])
            images[name] = (r.header("Location"), job)
        before_images = sorted(ids(a.list("machineImages")))
        eq(d.stop(), 0, "exit status after SIGTERM")

        with Store(d) as s:
            for name, (loc, job) in images.items():
                img = s.row(rel_path(loc))
                img["doc"]["state"] = "CREATING"
                img["doc"]["imageLocation"] = rel_path(m["id"])
                s.update(img)
                j = s.row(rel_path(job))
                eq(j["priv"].get("op"), "image.capture", "capture Job op")
                if name.endswith("running"):
                    unfinished(j["doc"], "RUNNING", 40)
                else:
                    unfinished(j["doc"], "QUEUED", 0)
                s.update(j)

        d.start()
        a = Client(d, "alice")
        wait_all_jobs(a)
        for name, (loc, job) in images.items():
            jd = a.wait_job(job, expect=None)
            img = a.read(loc)
            isin(img.get("state"), ("AVAILABLE", "ERROR"), f"image {name} after recovery")
            eq(img.get("state"), "AVAILABLE" if jd.get("state") == "SUCCESS" else "ERROR",
               f"image {name} state agrees with its Job ({jd.get('state')}: "
               f"{jd.get('statusMessage')!r})")
            if img.get("state") == "AVAILABLE":
                ne(img.get("imageLocation"), m["id"], f"captured image {name} has its own location")
                check(img.get("imageLocation"), f"captured image {name} has an imageLocation")
        eq(sorted(ids(a.list("machineImages"))), before_images, "images neither lost nor duplicated")
        eq(a.wait_stable(m["id"]).get("state"), "STOPPED", "the captured machine")
        eq(machine_ids(a), [m["id"]], "machines after recovery")


# ---------------------------------------------------------------- (d) the Job stop operation

def _burst(c, add, body, n, nthreads, prefix, at, probe):
    """n creations from nthreads threads.  Once `at` of them have answered
    (the queue of a single worker is deepest mid-burst), probe(most recent
    reply so far) runs in this thread while the others go on creating.
    Returns ([(reply time, Location, Job URI)], probe's result)."""
    out, errors = [], []
    lock = threading.Lock()
    reached = threading.Event()
    per = [n // nthreads + (1 if i < n % nthreads else 0) for i in range(nthreads)]

    def worker(k):
        try:
            for i in range(per[k]):
                r = c.post(add, dict(body, name=f"{prefix}-{k:02d}-{i:03d}"))
                with lock:
                    if r.status in (201, 202):
                        out.append((time.time(), r.header("Location"), r.header("CIMI-Job-URI")))
                    else:
                        errors.append(f"{r.status}: {r.body[:200]!r}")
                    if len(out) + len(errors) >= at:
                        reached.set()
        except Exception as e:  # an assertion of the automatic reply checks
            with lock:
                errors.append(repr(e))
            reached.set()

    threads = [threading.Thread(target=worker, args=(k,), daemon=True) for k in range(nthreads)]
    for t in threads:
        t.start()
    result = None
    if reached.wait(60) and not errors:
        with lock:
            latest = max(out)
        result = probe(latest)
    for t in threads:
        t.join(60)
    eq(errors, [], f"burst {prefix}: creation errors")
    eq(len(out), n, f"burst {prefix}: 201 or 202 replies")
    return sorted(out), result


@test
def job_stop_queued_creation():
    """--workers 1, bursts of 150 creations from 12 threads; mid-burst the
    most recent creation Job is stopped if it offers stop (it does only while
    QUEUED): 202 -> STOPPED and its machine gone; 409 -> it had started."""
    with Daemon(name="jobstop", args=["--workers", "1"]) as d:
        c = Client(d, "alice")
        add = c.add_href("machines")
        body = machine_create_doc(c, "q")
        stopped = []      # (Location, Job URI, stop href)
        made = []         # (Location, Job URI) of creations not stopped
        refused = 0

        def try_stop(latest):
            nonlocal refused
            _, loc, job = latest
            jd = c.read(job)
            href = op(jd, "stop")
            if href is None:
                ne(jd.get("state"), "QUEUED", f"a QUEUED Job offers stop (ops {rels(jd)})")
                return None
            eq(href, job + "/stop", "stop operation href")
            r = c.post(href, action_doc("stop"))
            if r.status == 202:
                stopped.append((loc, job, href))
                return job
            refused += 1
            assert_error(r, 409, mention=("RUNNING", "SUCCESS", "stop"))
            isin(c.read(job).get("state"), ("RUNNING", "SUCCESS"),
                 "a Job whose stop was refused has started")
            return None

        for batch in range(5):
            replies, stopped_job = _burst(c, add, body, 150, 12, f"q{batch}", 100, try_stop)
            batch_made = [(l, j) for _, l, j in replies if j != stopped_job]
            eq(len(batch_made), 150 - (1 if stopped_job else 0), f"burst {batch}: creations")
            # every other Job of the burst ends SUCCESS
            for _, j in batch_made:
                c.wait_job(j)
            made += batch_made
            if stopped:
                break
        check(stopped, f"no stop landed in {batch + 1} bursts of 150 creations on one worker "
                       f"({refused} refused with 409)")
        loc, job, href = stopped[0]
        jd = c.wait_job(job, expect="STOPPED")
        eq(jd.get("progress"), 100, "progress of a STOPPED Job")
        check(jd.get("statusMessage"), "a STOPPED Job has a statusMessage")
        notin("stop", rels(jd), "a STOPPED Job offers no stop")
        assert_error(c.get(loc), 404)
        listed = ids(c.list("machines"))
        notin(loc, listed, "the machine of a stopped creation is not listed")
        eq(len(listed), len(made), "every other creation made its machine")
        eq(sorted(listed), sorted(l for l, _ in made), "machines = the creations not stopped")
        r = c.post(href, action_doc("stop"))
        assert_error(r, 409, mention="STOPPED")
        eq(c.read(job).get("state"), "STOPPED", "still STOPPED after a second stop")

        # a finished Job: no stop offered, and stopping it gives 409
        fin_loc, fin = made[0]
        fd = c.wait_job(fin)
        notin("stop", rels(fd), "a SUCCESS Job offers no stop")
        r = c.post(fin + "/stop", action_doc("stop"))
        assert_error(r, 409, mention="SUCCESS")
        eq(c.read(fin).get("state"), "SUCCESS", "a refused stop leaves the Job SUCCESS")
        eq(c.wait_stable(fin_loc).get("state"), "STOPPED", "its machine is untouched")


@test
def job_stop_queued_actions():
    """A stop action and a delete queued behind a Job that holds the only
    worker (an image download from a loopback server that sends half the
    image, then waits) are stopped: their Jobs end STOPPED and the machines
    are back in their previous state, still listed and still operable.
    (DELETE waits for its Job before answering, so the delete's Job is found
    in the Job listing while the DELETE is pending; stopped before it ran, the
    DELETE answers 202 with that Job, never 200.)"""
    if shutil.which("qemu-img") is None:
        raise SkipTest("qemu-img is not installed (scripts/install-deps.sh installs it)")
    gate = GatedServer(bytes(range(256)) * 4096)
    storage = tempfile.mkdtemp(prefix="cimitest-jobstop-storage-")
    cimitest._tmpdirs.append(storage)
    # --transfer-workers 0: the download runs on the only job worker
    with Daemon(name="jobstop-actions", args=["--workers", "1", "--transfer-workers", "0",
                                              "--storage-dir", storage,
                                              "--download-allow", "127.0.0.1/32"]) as d:
        try:
            c = Client(d, "alice")
            m1 = create_machine(c, "qa-stop", "STARTED")
            m2 = create_machine(c, "qa-del", "STARTED")
            r = c.post(c.add_href("machineImages"),
                       {"resourceURI": NS + "/MachineImage", "name": "qa-blocker",
                        "imageLocation": gate.url()})
            eq(r.status, 202, f"a download held by its server is not done: 202 ({r.body[:200]!r})")
            blocker = r.header("CIMI-Job-URI")
            check(gate.started.wait(30), "the download reached the server")
            eq(c.read(blocker).get("state"), "RUNNING", "the download holds the only worker")
            # the DELETE first: it answers only once its Job ends
            delete_reply = []
            t = threading.Thread(target=lambda: delete_reply.append(c.delete(op(m2, "delete"))),
                                 daemon=True)
            t.start()
            deadline, found = time.time() + 30, []
            while time.time() < deadline and not found:
                found = [j for j in coll_items(c.list("jobs"))
                         if j.get("targetResource", {}).get("href") == m2["id"]
                         and "delete" in (j.get("action") or "")]
                time.sleep(0.01)
            check(found, "the DELETE's Job is listed while the DELETE is pending")
            delete_job = c.read(found[0]["id"])
            eq(delete_job.get("state"), "QUEUED", "the delete waits behind the download")
            r1 = c.post(op(m1, "stop"), action_doc("stop", True))
            eq(r1.status, 202, "stop action accepted")
            stop_job = r1.header("CIMI-Job-URI")
            check(stop_job, "stop reply has a CIMI-Job-URI")
            for kind, job in (("delete", delete_job["id"]), ("stop", stop_job)):
                jd = c.read(job)
                eq(jd.get("state"), "QUEUED", f"the {kind} Job is QUEUED")
                href = op(jd, "stop")
                check(href, f"a QUEUED Job offers stop (ops {rels(jd)})")
                eq(c.post(href, action_doc("stop")).status, 202, f"stop of the {kind} Job")
            gate.release()
            t.join(30)
            check(delete_reply, "DELETE answered")
            r = delete_reply[0]
            eq(r.header("CIMI-Job-URI"), delete_job["id"], "the Job found is the DELETE's Job")
            eq(r.status, 202, "DELETE whose Job was stopped before it ran (200 = deleted, yet the "
                              "machine was still there)")
            for kind, job, mid in (("stop", stop_job, m1["id"]),
                                   ("delete", delete_job["id"], m2["id"])):
                jd = c.wait_job(job, expect="STOPPED")
                notin("stop", rels(jd), "a STOPPED Job offers no stop")
                eq(jd.get("progress"), 100, "progress of a STOPPED Job")
                eq(c.wait_stable(mid).get("state"), "STARTED",
                   f"machine whose {kind} Job was stopped is still STARTED")
                isin(mid, ids(c.list("machines")), f"machine whose {kind} was stopped is listed")
            eq(c.wait_job(blocker).get("state"), "SUCCESS", "the download then finishes")
            # the machines are still operable
            do_action(c, c.read(m1["id"]), "stop", "STOPPED", force=True)
            r = c.delete(op(c.read(m2["id"]), "delete"))
            isin(r.status, (200, 202), "DELETE after a stopped delete")
            c.wait_job(r.header("CIMI-Job-URI"))
            assert_error(c.get(m2["id"]), 404)
        finally:
            gate.release()
            gate.close()


class GatedServer:
    """A loopback HTTP server for one file: it sends the first half, then
    waits until release() (at most 60 s) before sending the rest."""

    def __init__(self, data):
        self.started = threading.Event()
        self.gate = threading.Event()
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"

            def log_message(self, *args):
                pass

            def do_GET(self):
                self.send_response(200)
                self.send_header("Content-Type", "application/octet-stream")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                half = len(data) // 2
                try:
                    self.wfile.write(data[:half])
                    self.wfile.flush()
                    server.started.set()
                    server.gate.wait(60)
                    self.wfile.write(data[half:])
                except (BrokenPipeError, ConnectionResetError):
                    pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def url(self):
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/blocker.raw"

    def release(self):
        self.gate.set()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


# ---------------------------------------------------------------- start-up gate

def clone_machines(s, template, n, state):
    """Insert n copies of a Machine row (and its child rows) with new UUIDs,
    in the given stable state, each booking 128 MiB; returns the new ids."""
    children = s.db.execute("SELECT id, type, tenant, parent, doc, priv FROM resources "
                            "WHERE parent = ?", (template["id"],)).fetchall()
    made = []
    for i in range(n):
        new_id = f"machines/{uuid.uuid4()}"
        m = copy.deepcopy(template)
        m["id"] = new_id
        m["doc"]["name"] = f"{template['doc']['name']}-{i:05d}"
        m["doc"]["state"] = state
        m["doc"]["memory"] = 131072
        m["priv"]["desired"] = state
        m["priv"]["spec"]["memory"] = 131072
        s.insert(m)
        for cid, ctype, ctenant, _, cdoc, cpriv in children:
            s.insert({"id": new_id + cid[len(template["id"]):], "type": ctype, "tenant": ctenant,
                      "parent": new_id, "doc": json.loads(cdoc), "priv": json.loads(cpriv)})
        made.append(new_id)
    return made


@test
def start_up_answers_reads_while_reconciling():
    """cimid answers HTTP before it has re-created every machine in
    test:///default: a machine not re-created yet shows its stored state, a
    change waits until reconciliation is over and then works; stopping
    during reconciliation fails no Job and loses no machine."""
    done = "machines reconciled"
    with Daemon(name="recover-gate") as d:
        a = Client(d, "alice")
        tpl = create_machine(a, "g-template", "STARTED")
        eq(d.stop(), 0, "exit status after SIGTERM")
        with Store(d) as s:
            many = clone_machines(s, s.row(rel_path(tpl["id"])), 3000, "STARTED")
        last = d.url + "/cimi/" + many[-1]

        d.start()
        a = Client(d, "alice")
        before = d.log_text().count(done)
        m = a.read(last)
        if d.log_text().count(done) > before:
            raise SkipTest("reconciliation ended before the first request")
        eq(m.get("state"), "STARTED", "a machine not re-created yet shows its stored state")
        r = a.post(op(m, "stop"), action_doc("stop", True))
        eq(r.status, 202, f"stop during reconciliation (reply {r.body[:300]!r})")
        eq(d.log_text().count(done), before + 1, "the change was answered after reconciliation")
        jd = a.wait_job(r.header("CIMI-Job-URI"))
        eq(jd.get("state"), "SUCCESS", "its Job ran on the re-created machine")
        eq(a.wait_state(last, "STOPPED").get("state"), "STOPPED", "stopped")
        errors = a.list("machines", query=[("$filter", "state='ERROR'")])
        eq(errors.get("count"), 0, "no machine in ERROR after reconciliation")

        # stopped while reconciling: a waiting change gets 503, nothing is lost
        eq(d.stop(), 0, "exit status after SIGTERM")
        d.start()
        a = Client(d, "alice")
        before = d.log_text().count(done)
        tm = a.read(tpl["id"])
        # caught between its re-definition and its start, it reads STOPPED for a moment
        deadline = time.time() + 5
        while op(tm, "stop") is None and time.time() < deadline:
            time.sleep(0.02)
            tm = a.read(tpl["id"])
        check(op(tm, "stop"), f"the started machine offers stop (state {tm.get('state')})")
        got = []

        def change():
            try:
                got.append(Client(d, "alice").post(op(tm, "stop"), action_doc("stop", True)).status)
            except OSError:
                got.append("closed")  # the server stopped before its answer went out
        t = threading.Thread(target=change)
        t.start()
        time.sleep(0.2)
        eq(d.stop(), 0, "exit status of a stop during reconciliation")
        t.join(10)
        reconciled = d.log_text().count(done) > before
        if not reconciled:
            check(got in ([503], ["closed"]),
                  f"a change waiting at the start-up gate is refused when cimid stops: {got}")
        d.start()
        a = Client(d, "alice")
        ids_now = [i["id"] for i in coll_items(a.list("machines"))]
        eq(len(ids_now), len(many) + 1, "every machine is still there")
        eq(len(set(ids_now)), len(ids_now), "none duplicated")
        a.wait_state(tpl["id"], "STOPPED" if reconciled else "STARTED")
        eq(a.read(last).get("state"), "STOPPED", "the stopped machine stays STOPPED")
        eq(d.stop(), 0, "exit status after SIGTERM")
