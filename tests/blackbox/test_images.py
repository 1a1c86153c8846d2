"""MachineImages (issue 3): http(s) downloads and SNAPSHOT images.

Downloads: a Python HTTP server on 127.0.0.1 serves small images made with
qemu-img; cimid (test:///default with --storage-dir, a small
--max-image-size, and --download-allow 127.0.0.1/32: loopback is refused by
default, see test_downloads.py) fetches them in a Job that reports progress, verifies the
`checksum` extension (sha256:<hex>), checks the format (standalone qcow2 or
raw), and keeps the file in the storage directory; every failure (HTTP
status, checksum, size, content, scheme) leaves the image in ERROR with the
reason in the Job and no file behind.  SNAPSHOTs: libvirt snapshots of a
Machine, relatedImage and latestSnapshot, restore, and re-linking on delete.
One test does it all on a real QEMU guest (qemu:///embed)."""

import hashlib
import http.server
import os
import json
import shutil
import sqlite3
import subprocess
import tempfile
import threading
import time

import cimitest
from cimitest import (check_created, coll_items, NS, ACTION, Client, Daemon, SkipTest, assert_error,
                      assert_unchanged, check, create_machine, do_action, eq, isin, ne, notin,
                      op, rels, shared, store_snapshot, test)

CIMID_NS = "http://cimid.dev/ns/1"
LIMIT = 2 * 1024 * 1024  # --max-image-size of the shared daemon
ALLOW_MIRROR = ["--download-allow", "127.0.0.1/32"]  # the test mirror is on loopback


# ---------------------------------------------------------------- the web server

class ImageServer:
    """Serves files from a dict on a loopback port: /NAME with Content-Length,
    /stream/NAME without it (the size shows only as bytes arrive),
    /slow/NAME in 16 pieces over about 2.5 s, /to-ftp a redirect to ftp://."""

    def __init__(self):
        self.files = {}
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"

            def log_message(self, *args):
                pass

            def do_GET(self):
                parts = self.path.strip("/").split("/")
                if parts == ["to-ftp"]:
                    self.send_response(302)
                    self.send_header("Location", "ftp://127.0.0.1/x.qcow2")
                    self.end_headers()
                    return
                name = parts[-1]
                data = server.files.get(name)
                if data is None:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Type", "application/octet-stream")
                if parts[0] != "stream":
                    self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                pieces = 16 if parts[0] == "slow" else 1
                step = (len(data) + pieces - 1) // pieces
                try:
                    for i in range(0, len(data), step):
                        self.wfile.write(data[i:i + step])
                        self.wfile.flush()
                        if pieces > 1:
                            time.sleep(0.15)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # cimid hung up: too large, or killed

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def url(self, path):
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/{path}"


_server = None


def server():
    """The shared server, with the images the tests use."""
    global _server
    if _server is None:
        if shutil.which("qemu-img") is None:
            raise SkipTest("qemu-img is not installed (scripts/install-deps.sh installs it)")
        s = ImageServer()
        tmp = daemon().tmp
        small = os.path.join(tmp, "small.qcow2")
        subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", small, "4M"], check=True)
        with open(small, "rb") as f:
            s.files["small.qcow2"] = f.read()
        backed = os.path.join(tmp, "backed.qcow2")
        subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", "-b", small, "-F", "qcow2",
                        backed], check=True)
        with open(backed, "rb") as f:
            s.files["backed.qcow2"] = f.read()
        s.files["disk.raw"] = bytes(range(256)) * 4096          # 1 MiB, whole sectors
        s.files["big.raw"] = b"\0" * (LIMIT + 512)               # over the limit
        s.files["page.html"] = b"<html><body>not an image</body></html>\n"
        _server = s
    return _server


def sha256(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


# ---------------------------------------------------------------- cimid

_storage = None


def daemon():
    """The module's cimid: test:///default keeping downloads in a storage
    directory, with a download limit of LIMIT bytes."""
    global _storage
    if _storage is None:
        _storage = tempfile.mkdtemp(prefix="cimitest-images-storage-")
        cimitest._tmpdirs.append(_storage)
    d = shared("images", args=["--storage-dir", _storage, "--max-image-size", str(LIMIT),
                               *ALLOW_MIRROR])
    d.storage = _storage
    return d


def stored_files(d):
    return sorted(os.listdir(os.path.join(d.storage, "images")))


def post_image(c, location, **extra):
    doc = {"resourceURI": NS + "/MachineImage", "name": extra.pop("name", "img"),
           "imageLocation": location}
    doc.update(extra)
    return c.post(c.add_href("machineImages"), doc)


def download(c, location, expect="SUCCESS", **extra):
    """POST a MachineImage with an http(s) location: 202 CREATING with the
    URL as its location (201 when the Job ended at once), then the Job's
    outcome.  Returns (image, job)."""
    r = check_created(post_image(c, location, **extra), f"create from {location}")
    if r.status == 202:
        eq(r.doc.get("state"), "CREATING", "a download starts CREATING")
        eq(r.doc.get("imageLocation"), location, "imageLocation is the URL while downloading")
    job = c.wait_job(r.header("CIMI-Job-URI"), expect=expect, timeout=60)
    img = c.read(r.header("Location"))
    eq(img.get("state"), "AVAILABLE" if expect == "SUCCESS" else "ERROR", "image state after the Job")
    return img, job


def failed_download(c, location, mention, **extra):
    d = daemon()
    before = stored_files(d)
    img, job = download(c, location, expect="FAILED", **extra)
    msg = job.get("statusMessage") or ""
    isin(mention.lower(), msg.lower(), "the Job says why")
    eq(stored_files(d), before, "no file left in the storage directory")
    eq(c.delete(img["id"]).status, 200, "an image in ERROR can be deleted")
    return msg


@test
def download_qcow2_with_checksum():
    s, d = server(), daemon()
    c = Client(d, "alice")
    data = s.files["small.qcow2"]
    img, job = download(c, s.url("small.qcow2"), name="small", checksum=sha256(data))
    uuid = img["id"].rsplit("/", 1)[1]
    path = os.path.join(d.storage, "images", uuid + ".qcow2")
    eq(img.get("imageLocation"), "file://" + path, "imageLocation names the downloaded file")
    eq(img.get("checksum"), sha256(data), "the checksum extension is kept")
    with open(path, "rb") as f:
        eq(f.read(), data, "the file holds the bytes served")
    isin("checksum verified", job.get("statusMessage", ""), "the Job says the checksum matched")
    eq(job.get("progress"), 100, "finished Job progress")
    xml = c.get(img["id"], fmt="xml")
    isin(CIMID_NS, xml.body.decode(), "checksum is in cimid's namespace in XML")
    isin("checksum", xml.body.decode(), "checksum in the XML document")
    meta = c.get(c.coll("resourceMetadata") + "/machineImage").doc
    isin("checksum", [a.get("name") for a in meta.get("attributes", [])],
         "ResourceMetadata describes the checksum extension")

    # A Machine boots from it; while it exists the image (its disk's base) stays.
    body = {"resourceURI": NS + "/MachineCreate", "name": "from-download",
            "machineTemplate": {"initialState": "STARTED",
                                "machineConfig": {"href": c.default_config()["id"]},
                                "machineImage": {"href": img["id"]}}}
    m = create_machine(c, "from-download", "STARTED", body=body)
    assert_error(c.delete(img["id"]), 409, mention=m["id"].rsplit("/", 1)[1])
    check(os.path.exists(path), "the file stays while a machine uses it")
    eq(c.delete(m["id"]).status, 200, "delete the machine")
    r = c.delete(img["id"])
    eq(r.status, 200, f"delete the image (reply {r.body[:200]!r})")
    eq(c.get(img["id"]).status, 404, "the image is gone")
    check(not os.path.exists(path), "its file is gone")


@test
def download_raw_reports_progress():
    s, d = server(), daemon()
    c = Client(d, "alice")
    r = post_image(c, s.url("slow/disk.raw"), name="slow")
    check_created(r, "create")
    job_uri = r.header("CIMI-Job-URI")
    seen = []
    deadline = time.time() + 60
    while time.time() < deadline:
        j = c.read(job_uri)
        if j.get("state") == "RUNNING":
            seen.append((j.get("progress"), j.get("statusMessage")))
        if j.get("state") in ("SUCCESS", "FAILED"):
            break
        time.sleep(0.05)
    eq(j.get("state"), "SUCCESS", f"Job state ({j.get('statusMessage')!r})")
    middle = [p for p, m in seen if p is not None and 5 < p < 90 and "MiB" in (m or "")]
    check(len(set(middle)) >= 2, f"progress rose while bytes arrived: {seen}")
    check(all(a <= b for a, b in zip(middle, middle[1:])), "progress never goes back")
    img = c.read(r.header("Location"))
    uuid = img["id"].rsplit("/", 1)[1]
    eq(img.get("imageLocation"), f"file://{d.storage}/images/{uuid}.img",
       "a raw image is kept as .img")
    eq(c.delete(img["id"]).status, 200, "delete")
    notin(uuid + ".img", stored_files(d), "file removed")


@test
def download_failures():
    s, d = server(), daemon()
    c = Client(d, "alice")
    data = s.files["small.qcow2"]
    wrong = "sha256:" + "0" * 64
    msg = failed_download(c, s.url("small.qcow2"), "checksum mismatch", checksum=wrong)
    notin(sha256(data)[len("sha256:"):], msg, "the message never gives the real checksum")
    failed_download(c, s.url("missing.qcow2"), "HTTP 404")
    failed_download(c, s.url("big.raw"), "larger than the limit")
    failed_download(c, s.url("stream/big.raw"), "larger than the limit")
    failed_download(c, s.url("page.html"), "not a disk image")
    failed_download(c, s.url("backed.qcow2"), "backing")
    failed_download(c, s.url("to-ftp"), "only http and https")
    msg = failed_download(c, "http://127.0.0.1:1/nothing-listens.qcow2", "could not connect")
    eq(msg, "download failed: could not connect", "one message for every connect failure")


@test
def download_bad_requests():
    s, d = server(), daemon()
    c = Client(d, "alice")
    before = store_snapshot(c)
    assert_error(post_image(c, "ftp://127.0.0.1/x.qcow2"), 400, mention="imageLocation")
    assert_error(post_image(c, s.url("small.qcow2"), checksum="md5:1234"), 400, mention="checksum")
    assert_error(post_image(c, s.url("small.qcow2"), checksum="sha256:abc"), 400,
                 mention="checksum")
    assert_error(post_image(c, "file:///srv/x.qcow2", checksum=sha256(b"")), 400,
                 mention="checksum")
    assert_unchanged(c, before)


@test
def download_needs_storage_on_test_driver():
    s = server()
    with Daemon(name="images-nostorage", args=ALLOW_MIRROR) as d:
        c = Client(d, "alice")
        img, job = download(c, s.url("small.qcow2"), expect="FAILED")
        isin("--storage-dir", job.get("statusMessage", ""), "the Job says what is missing")


def stored_job_state(d, job_uri):
    """The state the store holds for a Job (read while cimid may run: WAL)."""
    db = sqlite3.connect(d.db, timeout=10)
    try:
        row = db.execute("SELECT doc FROM resources WHERE id = ?",
                         ("jobs/" + job_uri.rsplit("/", 1)[1],)).fetchone()
    finally:
        db.close()
    return json.loads(row[0]).get("state") if row else None


@test
def download_finishes_after_kill9():
    """cimid killed in the middle of a download: at the next start the Job
    runs again and the image ends AVAILABLE with the whole file (the partial
    one is not kept).  The RUNNING Job was claimed in memory only (the store
    has it QUEUED until its outcome); the next start records it RUNNING, so
    a Job that may have begun is never cancelled as if nothing ran (a
    download can still be stopped while it runs: test_jobs.py)."""
    s = server()
    storage = tempfile.mkdtemp(prefix="cimitest-images-kill9-")
    cimitest._tmpdirs.append(storage)
    with Daemon(name="images-kill9", args=["--storage-dir", storage, *ALLOW_MIRROR]) as d:
        c = Client(d, "alice")
        r = post_image(c, s.url("slow/disk.raw"), name="interrupted")
        check_created(r, "create")
        job = r.header("CIMI-Job-URI")
        deadline = time.time() + 30
        while (c.read(job).get("progress") or 0) <= 5 and time.time() < deadline:
            time.sleep(0.05)
        jd = c.read(job)
        check(jd.get("state") == "RUNNING", "killed while the bytes arrive")
        d.kill9()
        eq(stored_job_state(d, job), "QUEUED", "the claim was in memory only")
        d.start()
        c = Client(d, "alice")
        eq(stored_job_state(d, job), "RUNNING", "recorded RUNNING at the start (it may have begun)")
        jd = c.read(job)
        isin(jd.get("state"), ("RUNNING", "SUCCESS"), "the recovered Job runs again")
        c.wait_job(job, timeout=60)
        img = c.wait_state(r.header("Location"), "AVAILABLE")
        uuid = img["id"].rsplit("/", 1)[1]
        eq(sorted(os.listdir(os.path.join(storage, "images"))), [uuid + ".img"],
           "one whole image file, no partial one")
        with open(os.path.join(storage, "images", uuid + ".img"), "rb") as f:
            eq(f.read(), s.files["disk.raw"], "the file holds every byte")


# ---------------------------------------------------------------- snapshots

def snapshot(c, machine, name, expect=None):
    """A SNAPSHOT of machine: checked and waited for (expect None), else
    the reply as it is."""
    r = post_image(c, machine["id"], name=name, type="SNAPSHOT")
    if expect is not None:
        return r
    check_created(r, f"snapshot {name}")
    eq(r.doc.get("type"), "SNAPSHOT", "type SNAPSHOT")
    c.wait_job(r.header("CIMI-Job-URI"), timeout=120)
    return c.wait_state(r.header("Location"), "AVAILABLE", timeout=30)


def restore(c, machine, image, expect_state, timeout=30):
    href = op(machine, "restore")
    check(href, f"machine in state {machine.get('state')} offers restore (ops: {rels(machine)})")
    r = c.post(href, {"resourceURI": NS + "/Action", "action": ACTION + "restore",
                      "image": {"href": image["id"]}})
    eq(r.status, 202, f"restore (reply {r.body[:300]!r})")
    c.wait_job(r.header("CIMI-Job-URI"), timeout=timeout)
    return c.wait_state(machine["id"], expect_state, timeout=timeout)


def ref(doc, attr):
    return (doc.get(attr) or {}).get("href")


@test
def snapshots_on_test_driver():
    c = Client(daemon(), "alice")
    m = create_machine(c, "snappy", "STARTED")
    notin("restore", rels(m), "no restore before a snapshot exists")
    s1 = snapshot(c, m, "s1")
    eq(s1.get("imageLocation"), m["id"], "a SNAPSHOT stays with its machine")
    eq(s1.get("relatedImage"), None, "the first snapshot has no relatedImage")
    m = c.read(m["id"])
    eq(m.get("state"), "STARTED", "the machine runs on")
    eq(ref(m, "latestSnapshot"), s1["id"], "latestSnapshot = the new snapshot")
    isin("restore", rels(m), "restore offered")

    m, _ = do_action(c, m, "stop", "STOPPED", force=True)
    s2 = snapshot(c, m, "s2")
    eq(ref(s2, "relatedImage"), s1["id"], "relatedImage = the previous snapshot")
    eq(ref(c.read(m["id"]), "latestSnapshot"), s2["id"], "latestSnapshot follows")

    m = restore(c, c.read(m["id"]), s1, "STARTED")
    eq(ref(m, "latestSnapshot"), s1["id"], "latestSnapshot = the one reverted to")
    m = restore(c, m, s2, "STOPPED")
    s3 = snapshot(c, m, "s3")
    eq(ref(s3, "relatedImage"), s2["id"], "s3 follows s2")

    # refused: not a snapshot of this machine, not a snapshot, no image
    other = create_machine(c, "other", "STOPPED")
    o1 = snapshot(c, other, "o1")
    plain = c.default_image()
    m = c.read(m["id"])
    for image, why in ((o1, "not a SNAPSHOT of this Machine"),
                       (plain, "not a SNAPSHOT of this Machine")):
        before = store_snapshot(c)
        r = c.post(op(m, "restore"), {"resourceURI": NS + "/Action", "action": ACTION + "restore",
                                      "image": {"href": image["id"]}})
        assert_error(r, 400, mention=why)
        assert_unchanged(c, before)
    assert_error(c.post(op(m, "restore"), {"resourceURI": NS + "/Action",
                                           "action": ACTION + "restore"}), 400, mention="image")
    # A SNAPSHOT boots no new machine; PARTIAL_SNAPSHOT is not supported; a
    # SNAPSHOT is taken of a Machine.
    body = {"resourceURI": NS + "/MachineCreate", "name": "nope",
            "machineTemplate": {"machineConfig": {"href": c.default_config()["id"]},
                                "machineImage": {"href": s1["id"]}}}
    assert_error(c.post(c.add_href("machines"), body), 400, mention="SNAPSHOT")
    assert_error(post_image(c, m["id"], type="PARTIAL_SNAPSHOT"), 400, mention="PARTIAL_SNAPSHOT")
    assert_error(post_image(c, "file:///srv/x.qcow2", type="SNAPSHOT"), 400, mention="Machine")
    m2, _ = do_action(c, c.read(other["id"]), "start", "STARTED")
    do_action(c, m2, "suspend", "SUSPENDED")
    assert_error(post_image(c, other["id"], type="SNAPSHOT"), 409, mention="SUSPENDED")

    # Deleting s2 re-links s3 to s1; deleting s3 (the latest) moves
    # latestSnapshot to s1.
    eq(c.delete(s2["id"]).status, 200, "delete s2")
    eq(ref(c.read(s3["id"]), "relatedImage"), s1["id"], "s3 now follows s1")
    eq(ref(c.read(m["id"]), "latestSnapshot"), s3["id"], "latestSnapshot unchanged")
    eq(c.delete(s3["id"]).status, 200, "delete s3")
    eq(ref(c.read(m["id"]), "latestSnapshot"), s1["id"], "latestSnapshot back to s1")
    xm = c.get(m["id"], fmt="xml")
    eq(xm.status, 200, "the machine with latestSnapshot in XML (schema-valid)")
    m = restore(c, c.read(m["id"]), s1, "STARTED")
    eq(c.delete(s1["id"]).status, 200, "delete s1")
    m = c.read(m["id"])
    eq(m.get("latestSnapshot"), None, "no snapshot left")
    notin("restore", rels(m), "nothing to restore")
    for x in (m, other):
        eq(c.delete(x["id"]).status, 200, "delete machine")
    # the snapshot's bits were in its machine's disk: it goes with the machine,
    # and no image names a deleted machine as its location
    eq(c.get(o1["id"]).status, 404, "a snapshot is deleted with its machine")
    for img in coll_items(c.list("machineImages")):
        notin(img.get("imageLocation"), (m["id"], other["id"]),
              f"image {img['id']} names a deleted machine")


# ---------------------------------------------------------------- real QEMU

@test
def qemu_download_boot_snapshot_restore():
    """The test image downloaded over http (checksum verified) boots a
    guest; a snapshot of the running guest, a reset (a new boot), and a
    restore bring back the first boot, running; deleting the SNAPSHOT image
    removes the internal qcow2 snapshot."""
    from test_qemu import (console_size, endpoint, fetch, qemu_daemon, require_qemu,
                           settled_boot)
    image = require_qemu()
    s = server()
    with open(image, "rb") as f:
        s.files["cimid-test.qcow2"] = f.read()
    with qemu_daemon("images-qemu", args=ALLOW_MIRROR) as d:
        c = Client(d, "alice")
        t0 = time.time()
        img, job = download(c, s.url("cimid-test.qcow2"),
                            checksum=sha256(s.files["cimid-test.qcow2"]))
        print(f"  download of {len(s.files['cimid-test.qcow2'])} bytes: "
              f"{time.time() - t0:.2f} s (create to AVAILABLE)")
        body = {"resourceURI": NS + "/MachineCreate", "name": "snap-guest",
                "machineTemplate": {"initialState": "STARTED",
                                    "machineConfig": {"href": c.default_config()["id"]},
                                    "machineImage": {"href": img["id"]}}}
        m = create_machine(c, "snap-guest", "STARTED", body=body)
        http = endpoint(m, 80)
        first = settled_boot(d, m, http)   # the page the snapshot will hold

        t0 = time.time()
        snap = snapshot(c, m, "running")
        print(f"  snapshot of the running guest: {time.time() - t0:.2f} s")
        disk = os.path.join(d.root, "storage", "disks", m["id"].rsplit("/", 1)[1] + "-disk0.qcow2")
        listing = subprocess.run(["qemu-img", "snapshot", "-U", "-l", disk], capture_output=True,
                                 text=True).stdout
        isin(snap["id"].rsplit("/", 1)[1], listing, "the disk holds the internal snapshot")

        # A new boot: reset until its page differs (uptime-at-boot to 10 ms).
        m = c.read(m["id"])
        for _ in range(3):
            since = console_size(d, m)
            m, _ = do_action(c, m, "restart", "STARTED", force=True)
            now = settled_boot(d, m, http, since=since)
            if now != first:
                break
        ne(now, first, "the reset guest is a new boot")

        t0 = time.time()
        m = restore(c, m, snap, "STARTED", timeout=180)
        print(f"  restore of the running snapshot: {time.time() - t0:.2f} s")
        status, page = fetch(http, timeout=30)
        isin(f"uptime-at-boot: {first}", page, "the restored guest is the first boot again")

        eq(c.delete(snap["id"]).status, 200, "delete the snapshot image")
        listing = subprocess.run(["qemu-img", "snapshot", "-U", "-l", disk], capture_output=True,
                                 text=True).stdout
        notin(snap["id"].rsplit("/", 1)[1], listing, "the internal snapshot is gone")
        eq(c.delete(m["id"]).status, 200, "delete the machine")
        eq(c.delete(img["id"]).status, 200, "delete the downloaded image")
        check(not os.path.exists(img["imageLocation"][len("file://"):]), "its file is gone")
