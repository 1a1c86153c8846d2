"""Job workers shared fairly between tenants, stopping running work
(issue 11 item 2), and nested Jobs (item 16).

A loopback HTTP server trickles image bytes (about 64 KiB/s, never the
whole announced size until it is told to finish), so a download Job stays
RUNNING as long as a test needs.  Checked: one tenant's slow downloads
never keep another tenant's machine create QUEUED (downloads run on the
transfer workers, and a tenant holds at most its share of them); a RUNNING
download's Job can be stopped (STOPPED, the transfer ends, no file and no
image left); a CREATING image can be deleted (its download is stopped, or,
still queued, never runs).  Nested Jobs: deleting a Machine with attached
volumes detaches each in a step of its own (a Job with parentJob, listed in
the delete's nestedJobs, JSON and XML).  Their failure, stop and recovery
rules are unit-tested with job kinds made for it (tests/unit/test_steps.c)."""

import contextlib
import http.server
import os
import tempfile
import threading
import time

import cimitest
from cimitest import (NS, Client, Daemon, action_doc, assert_error, check, create_machine, eq,
                      isin, machine_create_doc, notin, op, rels, shared, test)

CHUNK = 16 * 1024          # bytes per piece
PAUSE = 0.25               # seconds between pieces: 64 KiB/s
ANNOUNCED = 512 * 1024 * 1024


def download_daemon_args():
    """What a daemon needs to download from this file's loopback server:
    a storage directory, a size limit above the announced size, and the
    allow setting for loopback (refused by default)."""
    storage = tempfile.mkdtemp(prefix="cimitest-jobs-storage-")
    cimitest._tmpdirs.append(storage)
    return storage, ["--storage-dir", storage, "--max-image-size", str(2 * ANNOUNCED),
                     "--download-allow", "127.0.0.1/32"]


class TrickleServer:
    """Serves /NAME: announces ANNOUNCED bytes and sends CHUNK every PAUSE
    seconds until finish() (then it hangs up short) or the client leaves.
    Counts the transfers that started and the ones the client ended."""

    def __init__(self):
        self.lock = threading.Lock()
        self.started = 0
        self.client_left = 0
        self.done = threading.Event()
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"

            def log_message(self, *args):
                pass

            def do_GET(self):
                self.send_response(200)
                self.send_header("Content-Type", "application/octet-stream")
                self.send_header("Content-Length", str(ANNOUNCED))
                self.end_headers()
                with server.lock:
                    server.started += 1
                try:
                    while not server.done.is_set():
                        self.wfile.write(b"\0" * CHUNK)
                        self.wfile.flush()
                        time.sleep(PAUSE)
                except (BrokenPipeError, ConnectionResetError):
                    with server.lock:
                        server.client_left += 1

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def url(self, name):
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/{name}"

    def counts(self):
        with self.lock:
            return self.started, self.client_left

    def finish(self):
        """End every transfer (short of what was announced: they fail)."""
        self.done.set()

    def close(self):
        self.done.set()
        self.httpd.shutdown()
        self.httpd.server_close()


def start_download(c, url, name):
    r = c.post(c.add_href("machineImages"),
               {"resourceURI": NS + "/MachineImage", "name": name, "imageLocation": url})
    isin(r.status, (201, 202), f"download {name} accepted ({r.body[:200]!r})")
    return r.header("Location"), r.header("CIMI-Job-URI")


def wait_until(what, predicate, timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"not within {timeout}s: {what}")


def downloading(c, job):
    """The Job runs and bytes arrived (its statusMessage counts them)."""
    jd = c.read(job)
    receiving = (jd.get("statusMessage") or "").startswith("downloading:")
    return jd if jd.get("state") == "RUNNING" and receiving else None


def stored_files(storage):
    path = os.path.join(storage, "images")
    return sorted(os.listdir(path)) if os.path.isdir(path) else []


@contextlib.contextmanager
def trickle_daemon(name, extra=()):
    """A TrickleServer and a cimid that may download from it: (server,
    daemon, storage directory).  The transfers are ended before cimid stops
    (it lets its workers finish)."""
    s = TrickleServer()
    storage, args = download_daemon_args()
    try:
        with Daemon(name=name, args=args + list(extra)) as d:
            try:
                yield s, d, storage
            finally:
                s.finish()
    finally:
        s.close()


@test
def slow_downloads_do_not_stall_other_tenants():
    """Tenant a starts five slow downloads (more than there are workers of
    any kind); tenant b's machine create then finishes while every one of
    a's downloads is still unfinished, and b's own download runs beside a's
    (a tenant holds at most its share of the transfer workers)."""
    with trickle_daemon("jobs-fair") as (s, d, storage):
        a, b = Client(d, "alice"), Client(d, "bob")
        a_jobs = [start_download(a, s.url(f"a{i}.raw"), f"a{i}")[1] for i in range(5)]
        wait_until("a's first download receives bytes", lambda: downloading(a, a_jobs[0]))
        started = time.time()
        r = b.post(b.add_href("machines"), machine_create_doc(b, "b-web"))
        isin(r.status, (201, 202), f"b's create ({r.body[:200]!r})")
        jd = b.wait_job(r.header("CIMI-Job-URI"), timeout=60)
        latency = time.time() - started
        eq(jd.get("state"), "SUCCESS", "b's machine create")
        states = [a.read(j).get("state") for j in a_jobs]
        check(all(st in ("QUEUED", "RUNNING") for st in states),
              f"b's create finished while a's downloads were unfinished ({states})")
        print(f"# b's machine create took {latency * 1000:.0f} ms beside a's 5 downloads")
        # b's download runs beside a's: a holds at most its share
        _, b_dl = start_download(b, s.url("b.raw"), "b-img")
        wait_until("b's download receives bytes while a's still run",
                   lambda: downloading(b, b_dl))
        states = [a.read(j).get("state") for j in a_jobs]
        eq(states.count("RUNNING"), 1, f"a runs one download of 2 transfer workers ({states})")
        eq(states.count("QUEUED"), 4, "a's other downloads wait their turn")


@test
def stop_running_download():
    """POST stop to a RUNNING download's Job: it is offered, the reply is
    202, the Job ends STOPPED with a statusMessage that says so, the server
    sees the client hang up, the image is gone and no file is left; a second
    stop is refused (409)."""
    with trickle_daemon("jobs-stop") as (s, d, storage):
        c = Client(d, "alice")
        img, job = start_download(c, s.url("big.raw"), "stopped")
        jd = wait_until("the download receives bytes", lambda: downloading(c, job))
        href = op(jd, "stop")
        check(href, f"a RUNNING download offers stop (ops {rels(jd)})")
        r = c.post(href, action_doc("stop"))
        eq(r.status, 202, f"stop accepted ({r.body[:200]!r})")
        jd = c.wait_job(job, expect="STOPPED", timeout=60)
        eq(jd.get("progress"), 100, "progress of a STOPPED Job")
        isin("stopped", (jd.get("statusMessage") or "").lower(), "statusMessage says stopped")
        notin("stop", rels(jd), "a STOPPED Job offers no stop")
        wait_until("the server sees the transfer end", lambda: s.counts()[1] >= 1, 30)
        assert_error(c.get(img), 404)
        eq(stored_files(storage), [], "no partial file in the storage directory")
        assert_error(c.post(href, action_doc("stop")), 409, mention="STOPPED")


@test
def delete_creating_image():
    """DELETE of a CREATING image: offered while it downloads; with its
    download RUNNING the transfer is ended and the image removed (200, or
    202 and then gone), the download's Job STOPPED; with its download still
    QUEUED (behind the same tenant's running one) the image goes at once (200)
    and its Job is STOPPED without having run."""
    with trickle_daemon("jobs-delete") as (s, d, storage):
        c = Client(d, "alice")
        running_img, running_job = start_download(c, s.url("r.raw"), "running")
        wait_until("the first download receives bytes", lambda: downloading(c, running_job))
        doc = c.read(running_img)
        eq(doc.get("state"), "CREATING", "downloading image")
        check(op(doc, "delete"), f"a downloading image offers delete ({rels(doc)})")
        # a's second download waits: a holds its share (1 of 2) of the transfer workers
        queued_img, queued_job = start_download(c, s.url("q.raw"), "queued")
        eq(c.read(queued_job).get("state"), "QUEUED", "the second waits for the worker")
        doc = c.read(queued_img)
        check(op(doc, "delete"), f"an image waiting for its download offers delete ({rels(doc)})")
        # the queued one never runs
        r = c.delete(op(doc, "delete"))
        eq(r.status, 200, f"DELETE of an image whose download is queued ({r.body[:200]!r})")
        assert_error(c.get(queued_img), 404)
        jd = c.wait_job(queued_job, expect="STOPPED")
        isin("before it ran", jd.get("statusMessage") or "", "stopped before it ran")
        # the running one
        r = c.delete(op(c.read(running_img), "delete"))
        isin(r.status, (200, 202), f"DELETE of a downloading image ({r.body[:200]!r})")
        c.wait_job(r.header("CIMI-Job-URI"), timeout=60)
        c.wait_job(running_job, expect="STOPPED", timeout=60)
        wait_until("the server sees the transfer end", lambda: s.counts()[1] >= 1, 30)
        assert_error(c.get(running_img), 404)
        eq(stored_files(storage), [], "no file left in the storage directory")
        eq(s.counts()[0], 1, "the queued download never reached the server")


# ---------------------------------------------------------------- nested Jobs

def new_volume(c, name):
    r = c.post(c.add_href("volumes"), {"resourceURI": NS + "/VolumeCreate", "name": name,
                                       "volumeTemplate": {"volumeConfig": {"capacity": 1048576}}})
    isin(r.status, (201, 202), f"volume {name} ({r.body[:200]!r})")
    c.wait_job(r.header("CIMI-Job-URI"))
    return c.wait_state(r.header("Location"), "AVAILABLE")


def attach_volume(c, machine, volume):
    href = c.read(machine["id"])["volumes"]["href"]
    r = c.post(href, {"resourceURI": NS + "/MachineVolume", "volume": {"href": volume["id"]}})
    isin(r.status, (201, 202), f"attach ({r.body[:200]!r})")
    c.wait_job(r.header("CIMI-Job-URI"))
    return r.header("Location")


def href_of(doc, attr):
    return (doc.get(attr) or {}).get("href")


@test
def nested_jobs_machine_delete_detaches_volumes():
    """DELETE of a Machine with two attached volumes: its Job lists two
    nestedJobs, one per volume, each a Job with parentJob = the delete's Job,
    action delete on the attachment, SUCCESS; the parent SUCCESS; the volumes
    are free again (attachable elsewhere).  Parent and step read in XML are
    schema-valid with <parentJob href> and <nestedJob href>; steps offer no
    stop of their own."""
    d = shared("jobs-nested")
    c, x = Client(d, "alice"), Client(d, "alice", fmt="xml")
    m = create_machine(c, "nest", "STOPPED")
    vols = [new_volume(c, f"nest-v{i}") for i in range(2)]
    attachments = sorted(attach_volume(c, m, v) for v in vols)
    r = c.delete(op(c.read(m["id"]), "delete"))
    isin(r.status, (200, 202), f"DELETE of the machine ({r.body[:200]!r})")
    parent = c.wait_job(r.header("CIMI-Job-URI"))
    nested = [n.get("href") for n in parent.get("nestedJobs") or []]
    eq(len(nested), 2, f"one nested Job per attached volume ({parent.get('nestedJobs')})")
    targets = []
    for href in nested:
        step = c.wait_job(href)
        eq(href_of(step, "parentJob"), parent["id"], "a step names its parent")
        eq(step.get("action"), "delete", "a step's action")
        eq(step.get("progress"), 100, "a finished step's progress")
        notin("stop", rels(step), "a step offers no stop of its own")
        targets.append(href_of(step, "targetResource"))
        xr = x.get(href)
        eq(xr.status, 200, "step in XML")
        isin(f'<parentJob href="{parent["id"]}"', xr.body.decode(), "XML parentJob")
    eq(sorted(targets), attachments, "the steps detach the machine's attachments")
    xr = x.get(parent["id"])
    eq(xr.status, 200, "parent in XML")
    for href in nested:
        isin(f'<nestedJob href="{href}"', xr.body.decode(), "XML nestedJob")
    assert_error(c.get(m["id"]), 404)
    other = create_machine(c, "nest-2", "STOPPED")
    for v in vols:
        eq(c.read(v["id"]).get("state"), "AVAILABLE", "the volume is free again")
        attach_volume(c, other, v)


def queued_machine_delete(s, c):
    """A STOPPED machine with two attached volumes whose DELETE waits behind
    a download holding the only worker: (machine, volumes, attachments,
    parent Job URI)."""
    m = create_machine(c, "nest-q", "STOPPED")
    vols = [new_volume(c, f"nest-q{i}") for i in range(2)]
    attachments = sorted(attach_volume(c, m, v) for v in vols)
    _, blocker = start_download(c, s.url("blocker.raw"), "blocker")
    wait_until("the blocker download receives bytes", lambda: downloading(c, blocker))
    r = c.delete(op(c.read(m["id"]), "delete"))
    eq(r.status, 202, f"DELETE waits behind the download ({r.body[:200]!r})")
    parent = c.read(r.header("CIMI-Job-URI"))
    eq(parent.get("state"), "QUEUED", "the delete's Job waits for the worker")
    eq(len(parent.get("nestedJobs") or []), 2, "two nested Jobs")
    return m, vols, attachments, parent["id"]


# --workers 1, --transfer-workers 0: the blocker download holds the only worker
BLOCKED = ["--workers", "1", "--transfer-workers", "0"]


@test
def nested_jobs_stop_queued_parent():
    """Stopping a queued parent stops its nested Jobs: a step offers no stop
    of its own (409), the parent's stop ends it and both steps STOPPED, the
    machine is back to STOPPED with both volumes still attached."""
    with trickle_daemon("jobs-nested-stop", BLOCKED) as (s, d, storage):
        c = Client(d, "alice")
        m, vols, attachments, parent = queued_machine_delete(s, c)
        steps = [n["href"] for n in c.read(parent)["nestedJobs"]]
        for href in steps:
            jd = c.read(href)
            eq(jd.get("state"), "QUEUED", "a step of a queued parent is QUEUED")
            notin("stop", rels(jd), "a step offers no stop of its own")
            assert_error(c.post(href + "/stop", action_doc("stop")), 409, mention="stop")
        jd = c.read(parent)
        check(op(jd, "stop"), f"the queued parent offers stop ({rels(jd)})")
        eq(c.post(op(jd, "stop"), action_doc("stop")).status, 202, "stop of the parent")
        eq(c.read(parent).get("state"), "STOPPED", "parent STOPPED")
        for href in steps:
            eq(c.read(href).get("state"), "STOPPED", "its steps STOPPED")
        eq(c.wait_stable(m["id"]).get("state"), "STOPPED", "the machine is back to STOPPED")
        listed = sorted(i["id"] for i in c.list(c.read(m["id"])["volumes"]["href"])
                        .get("machineVolumes", []))
        eq(listed, attachments, "both volumes still attached")


@test
def nested_jobs_recovered_after_kill9():
    """cimid killed with a machine's delete and its two nested Jobs queued:
    at the next start the parent runs its steps (each SUCCESS once), then
    deletes the machine (SUCCESS); the volumes are free again."""
    with trickle_daemon("jobs-nested-kill9", BLOCKED) as (s, d, storage):
        c = Client(d, "alice")
        m, vols, attachments, parent = queued_machine_delete(s, c)
        steps = [n["href"] for n in c.read(parent)["nestedJobs"]]
        d.kill9()
        s.finish()  # the recovered download fails at once and frees the worker
        d.start()
        c = Client(d, "alice")
        jd = c.wait_job(parent, timeout=60)
        eq(jd.get("state"), "SUCCESS", "the recovered parent")
        for href in steps:
            sd = c.read(href)
            eq(sd.get("state"), "SUCCESS", "each step ran after the restart")
            eq(href_of(sd, "parentJob"), parent, "and still names its parent")
        assert_error(c.get(m["id"]), 404)
        for v in vols:
            eq(c.read(v["id"]).get("state"), "AVAILABLE", "the volume is free again")
