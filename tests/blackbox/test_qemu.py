"""Real QEMU machines through qemu:///embed (issue 3).

Each test starts cimid on a fresh embed root with the project's test image
(images/build-test-image.sh; the directory is given by CIMI_TEST_IMAGE_DIR,
default build-asan/test-image) registered from an images directory, boots
real guests (TCG unless KVM really boots them), and talks to the guest's HTTP
server through the forwarded loopback port cimid publishes in the Machine's
`endpoints` extension.  Skipped, saying why, when QEMU or the image is missing.
"""

import base64
import contextlib
import os
import shutil
import subprocess
import time
import urllib.request

from cimitest import (NS, REPO, SkipTest, Client, Daemon, check, eq, isin, test, do_action,
                      op, rels)

IMAGE_DIR = os.environ.get("CIMI_TEST_IMAGE_DIR") or os.path.join(REPO, "build-asan", "test-image")
BOOT_TIMEOUT = 180.0   # TCG under a sanitizer build on a loaded 2-core machine


def require_qemu():
    if shutil.which("qemu-system-x86_64") is None or shutil.which("qemu-img") is None:
        raise SkipTest("QEMU is not installed (scripts/install-deps.sh installs it)")
    image = os.path.join(IMAGE_DIR, "cimid-test.qcow2")
    if not os.path.exists(image):
        raise SkipTest(f"no test image at {image} (build it with images/build-test-image.sh "
                       f"{IMAGE_DIR})")
    return image


@contextlib.contextmanager
def qemu_daemon(name, accel="tcg"):
    """A started cimid on its own embed root; afterwards cimid is stopped and
    any guest it left running (embed guests outlive cimid) is killed.  accel
    "auto" makes cimid probe whether KVM boots a guest here (20 s at most)."""
    image = require_qemu()
    d = Daemon(name=name)
    images = os.path.join(d.tmp, "images")
    os.makedirs(images)
    os.symlink(image, os.path.join(images, "cimid-test.qcow2"))
    d.root = os.path.join(d.tmp, "root")
    d.args += ["--connect", f"qemu:///embed?root={d.root}", "--images-dir", images,
               "--probe-dir", IMAGE_DIR, "--stop-timeout", "60", "--accel", accel]
    try:
        d.start()
        yield d
    finally:
        d.kill9()
        subprocess.run(["pkill", "-9", "-f", d.root], capture_output=True)


def endpoint(machine, guest_port):
    for e in machine.get("endpoints", []):
        if e.get("protocol") == "tcp" and int(e.get("guestPort", 0)) == guest_port:
            return e["address"], int(e["port"])
    return None


def fetch(addr, path="/", timeout=BOOT_TIMEOUT):
    """GET http://addr/path, retrying until the guest answers."""
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(f"http://{addr[0]}:{addr[1]}{path}", timeout=5) as r:
                return r.status, r.read().decode("utf-8", "replace")
        except Exception as e:  # not up yet
            last = e
            time.sleep(0.5)
    raise AssertionError(f"guest HTTP at {addr} did not answer within {timeout}s: {last}")


def create(c, name, image_href, user_data=None, state="STARTED"):
    tpl = {"initialState": state, "machineConfig": {"href": c.default_config()["id"]},
           "machineImage": {"href": image_href}}
    if user_data is not None:
        tpl["userData"] = base64.b64encode(user_data.encode()).decode()
    r = c.post(c.add_href("machines"), {"resourceURI": NS + "/MachineCreate", "name": name,
                                        "machineTemplate": tpl})
    eq(r.status, 201, f"create {name} (reply {r.body[:300]!r})")
    c.wait_job(r.header("CIMI-Job-URI"), timeout=120)
    return c.wait_state(r.header("Location"), state, timeout=60)


def test_image(c):
    for img in c.list("machineImages", fmt="json").get("machineImages", []):
        if img.get("name") == "cimid-test":
            return img
    raise AssertionError("the images directory's cimid-test image is registered")


@test
def qemu_machine_lifecycle():
    with qemu_daemon("qemu-life", accel="auto") as d:
        c = Client(d, "alice")
        decision = [l for l in d.log_text().splitlines() if "hypervisor:" in l and
                    ("KVM" in l or "TCG" in l)]
        check(decision, "the log says whether guests run under KVM or TCG, and why")
        token = f"hello-{os.getpid()}-{time.time()}"
        img = test_image(c)
        eq(img.get("state"), "AVAILABLE", "registered image is AVAILABLE")
        check(img.get("imageLocation", "").startswith("file:///"), "image location is a local file")

        m = create(c, "guest1", img["id"], user_data=token)
        kinds = sorted(e.get("protocol") for e in m.get("endpoints", []))
        eq(kinds, ["tcp", "tcp", "vnc"], "a running machine shows VNC and two forwarded ports")
        vnc = [e for e in m["endpoints"] if e["protocol"] == "vnc"][0]
        eq(vnc["address"], "127.0.0.1", "VNC listens on loopback only")
        http = endpoint(m, 80)
        check(http is not None, "guest port 80 is forwarded")
        status, page = fetch(http)
        eq(status, 200, "guest HTTP answers")
        isin(token, page, "the guest read its userData from the config drive")
        status, disks = fetch(http, "/disks")
        isin("vda", disks, "the guest sees its boot disk")
        boot_uptime = page.split("uptime-at-boot:")[1].split()[0]

        # pause / resume keep the guest: the same boot answers afterwards
        m, _ = do_action(c, m, "pause", "PAUSED")
        m, _ = do_action(c, m, "start", "STARTED")
        status, page = fetch(http)
        isin(f"uptime-at-boot: {boot_uptime}", page, "resumed guest is the same boot")

        # suspend writes memory to disk; start restores the same boot
        m, _ = do_action(c, m, "suspend", "SUSPENDED")
        m, _ = do_action(c, m, "start", "STARTED")
        status, page = fetch(http)
        isin(f"uptime-at-boot: {boot_uptime}", page, "restored guest is the same boot")

        # graceful stop: ACPI power button, the guest powers off
        m, job = do_action(c, m, "stop", "STOPPED", force=False)
        eq(job.get("state"), "SUCCESS", "graceful stop Job")

        # capture the stopped machine into a standalone image, boot from it
        r = c.post(op(m, "capture"), {"resourceURI": NS + "/MachineImage", "name": "captured",
                                      "type": "IMAGE", "imageLocation": m["id"]})
        eq(r.status, 201, f"capture (reply {r.body[:300]!r})")
        c.wait_job(r.header("CIMI-Job-URI"), timeout=120)
        cap = c.wait_state(r.header("Location"), "AVAILABLE", timeout=60)
        path = cap["imageLocation"][len("file://"):]
        check(os.path.exists(path), f"captured image file {path} exists")
        info = subprocess.run(["qemu-img", "info", path], capture_output=True, text=True)
        isin("file format: qcow2", info.stdout, "captured image is qcow2")
        check("backing file" not in info.stdout, "captured image is standalone (no backing file)")

        m2 = create(c, "from-capture", cap["id"])
        status, page = fetch(endpoint(m2, 80))
        eq(status, 200, "a machine booted from the captured image answers HTTP")

        # delete removes the domain and its files
        storage = os.path.join(d.root, "storage", "disks")
        for mm in (m, m2):
            uuid = mm["id"].rsplit("/", 1)[1]
            check(any(f.startswith(uuid) for f in os.listdir(storage)), "machine files exist")
            r = c.delete(op(c.read(mm["id"]), "delete"))
            eq(r.status, 200, "delete")
            eq(c.get(mm["id"]).status, 404, "deleted machine answers 404")
            check(not any(f.startswith(uuid) for f in os.listdir(storage)),
                  "the machine's disks, config drive and console log are gone")


@test
def qemu_kill9_finds_running_guests():
    with qemu_daemon("qemu-kill9") as d:
        c = Client(d, "alice")
        img = test_image(c)
        m = create(c, "survivor", img["id"])
        http = endpoint(m, 80)
        status, page = fetch(http)
        boot = page.split("uptime-at-boot:")[1].split()[0]
        uuid = m["id"].rsplit("/", 1)[1]
        pids = subprocess.run(["pgrep", "-f", f"guest=cimi-{uuid}"], capture_output=True,
                              text=True).stdout.split()
        eq(len(pids), 1, "one QEMU process runs the guest")

        d.kill9()
        d.start()
        c = Client(d, "alice")
        again = c.wait_state(m["id"], "STARTED", timeout=30)
        eq(again["id"], m["id"], "the machine is found again")
        eq(len(c.list("machines", fmt="json").get("machines", [])), 1, "no machine duplicated")
        pids2 = subprocess.run(["pgrep", "-f", f"guest=cimi-{uuid}"], capture_output=True,
                               text=True).stdout.split()
        eq(pids2, pids, "the same QEMU process still runs it (not started twice)")
        status, page = fetch(endpoint(again, 80))
        isin(f"uptime-at-boot: {boot}", page, "the guest was not restarted")
        r = c.delete(op(again, "delete"))
        eq(r.status, 200, "delete after restart")


@test
def qemu_image_must_be_a_local_file():
    with qemu_daemon("qemu-badimg") as d:
        c = Client(d, "alice")
        before = len(c.list("machines", fmt="json").get("machines", []))
        r = c.post(c.add_href("machines"), {
            "resourceURI": NS + "/MachineCreate", "name": "bad",
            "machineTemplate": {"machineConfig": {"href": c.default_config()["id"]},
                                "machineImage": {"imageLocation": "file:///nonexistent/disk.qcow2"}}})
        eq(r.status, 400, "an image QEMU cannot read is refused")
        isin("imageLocation", r.body.decode(), "the message names imageLocation")
        eq(len(c.list("machines", fmt="json").get("machines", [])), before, "nothing was created")
