"""Real QEMU machines and volumes through qemu:///embed (issue 3).

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
import re
import shutil
import subprocess
import time
import urllib.request

from cimitest import (check_created, CIMID_NS, NS, REPO, SkipTest, Client, Daemon, check, eq, isin, notin, test,
                      do_action, op, rels)

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
def qemu_daemon(name, accel="tcg", args=(), wrap=None):
    """A started cimid on its own embed root; afterwards cimid is stopped and
    any guest it left running (embed guests outlive cimid) is killed.  accel
    "auto" makes cimid probe whether KVM boots a guest here (20 s at most);
    args are added to cimid's options; wrap(d, command) returns the command
    line that runs command instead."""
    image = require_qemu()
    d = Daemon(name=name, args=args)
    if wrap is not None:
        command = d.command
        d.command = lambda: wrap(d, command())
    images = os.path.join(d.tmp, "images")
    os.makedirs(images)
    os.symlink(image, os.path.join(images, "cimid-test.qcow2"))
    d.root = os.path.join(d.tmp, "root")
    d.args += ["--connect", f"qemu:///embed?root={d.root}", "--images-dir", images,
               "--probe-dir", IMAGE_DIR, "--stop-timeout", "60", "--accel", accel, *args]
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


def console_log(d, machine):
    """The file the guest's serial console is written to (storage.c)."""
    return os.path.join(d.root, "storage", "disks",
                        machine["id"].rsplit("/", 1)[1] + "-console.log")


def console_size(d, machine):
    try:
        return os.path.getsize(console_log(d, machine))
    except FileNotFoundError:
        return 0


def settled_boot(d, machine, http, since=0, timeout=BOOT_TIMEOUT):
    """The uptime-at-boot of a guest whose /init is done.  The guest writes its
    page once before DHCP and again, for good, just before it prints "ready,
    http on port 80 (uptime X s)" on its console; the port forward can reach
    it in between, so a page read before that line may still change.  Waits
    for the line (after byte `since` of the console log: its size before a
    reset, which keeps the QEMU process and its log), checks that the page
    shows X and returns X."""
    path = console_log(d, machine)
    deadline = time.time() + timeout
    while True:
        with open(path, "rb") as f:
            f.seek(since)
            log = f.read()
        marks = re.findall(r"ready, http on port 80 \(uptime ([0-9.]+)s\)",
                           log.decode("utf-8", "replace"))
        if marks:
            break
        check(time.time() < deadline, f"the guest says it is ready within {timeout}s")
        time.sleep(0.5)
    page = fetch(http)[1]
    isin(f"uptime-at-boot: {marks[-1]} s", page, "the page of a ready guest is its final one")
    return marks[-1]


def create(c, name, image_href, user_data=None, state="STARTED"):
    tpl = {"initialState": state, "machineConfig": {"href": c.default_config()["id"]},
           "machineImage": {"href": image_href}}
    if user_data is not None:
        tpl["userData"] = base64.b64encode(user_data.encode()).decode()
    r = c.post(c.add_href("machines"), {"resourceURI": NS + "/MachineCreate", "name": name,
                                        "machineTemplate": tpl})
    check_created(r, f"create {name} (reply {r.body[:300]!r})")
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
        boot_uptime = settled_boot(d, m, http)

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
        check_created(r, f"capture (reply {r.body[:300]!r})")
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
        boot = settled_boot(d, m, http)
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
        # No host file outside the image directories can back a disk (it could be read
        # from inside the guest).
        for location in ("file:///etc/passwd", "/etc/shadow",
                         "file://" + os.path.join(d.tmp, "images", "..", "cimid.db")):
            r = c.post(c.add_href("machines"), {
                "resourceURI": NS + "/MachineCreate", "name": "sneaky",
                "machineTemplate": {"machineConfig": {"href": c.default_config()["id"]},
                                    "machineImage": {"imageLocation": location}}})
            eq(r.status, 400, f"image location {location} refused")
            isin("outside the directories images are served from", r.body.decode(),
                 "the message says why")
        eq(len(c.list("machines", fmt="json").get("machines", [])), before, "nothing was created")


def partitions(http):
    """The guest's /proc/partitions as {name: blocks} (its /disks page)."""
    status, page = fetch(http, "/disks")
    eq(status, 200, "guest /disks answers")
    out = {}
    for line in page.splitlines():
        f = line.split()
        if len(f) == 4 and f[0].isdigit():
            out[f[3]] = int(f[2])
    return out


def wait_disks(http, cond, what, timeout=60.0):
    """Poll the guest's disks (refreshed every 2 s) until cond(disks) holds."""
    deadline = time.time() + timeout
    while True:
        disks = partitions(http)
        if cond(disks):
            check(True, what)
            return disks
        if time.time() > deadline:
            raise AssertionError(f"{what}: not within {timeout}s; the guest has {disks}")
        time.sleep(0.5)


def qemu_img_info(path):
    r = subprocess.run(["qemu-img", "info", "--force-share", path], capture_output=True,
                       text=True)
    eq(r.returncode, 0, f"qemu-img info {path}: {r.stderr.strip()}")
    return r.stdout


@test
def qemu_volume_hotplug():
    """A 1 GiB volume attached to a running guest appears in it as vdb, grows
    there live, and disappears when detached; a detached volume grows on
    disk, and copies into a standalone image."""
    with qemu_daemon("qemu-volume") as d:
        c = Client(d, "alice")
        m = create(c, "vol-guest", test_image(c)["id"])
        http = endpoint(m, 80)
        notin("vdb", wait_disks(http, lambda ds: "vda" in ds, "the guest is up with vda"),
              "no vdb before the attach")

        small = [i for i in c.list("volumeConfigs", fmt="json")["volumeConfigurations"]
                 if i["name"] == "small-volume"][0]
        tpl = {"volumeConfig": {"href": small["id"]}}
        r = c.post(c.add_href("volumes"), {"resourceURI": NS + "/VolumeCreate", "name": "data",
                                           "volumeTemplate": tpl})
        check_created(r, f"create volume (reply {r.body[:300]!r})")
        c.wait_job(r.header("CIMI-Job-URI"), timeout=60)
        v = c.wait_state(r.header("Location"), "AVAILABLE")
        path = os.path.join(d.root, "storage", "volumes", v["id"].rsplit("/", 1)[1] + ".qcow2")
        isin("virtual size: 1 GiB", qemu_img_info(path), "a 1 GiB qcow2 file")

        # hot-plug
        r = c.post(c.add_href(m["volumes"]["href"]), {"resourceURI": NS + "/MachineVolume",
                                                      "volume": {"href": v["id"]}})
        check_created(r, f"attach (reply {r.body[:300]!r})")
        item = r.header("Location")
        c.wait_job(r.header("CIMI-Job-URI"), timeout=60)
        wait_disks(http, lambda ds: ds.get("vdb") == 1048576, "vdb with 1048576 blocks appears")

        # grown while attached: the guest sees the new size
        body = c.read(v["id"])
        body["capacity"] = 2 * 1048576
        r = c.put(v["id"], body)
        eq(r.status, 200, f"grow the attached volume (reply {r.body[:300]!r})")
        wait_disks(http, lambda ds: ds.get("vdb") == 2 * 1048576, "vdb grows to 2097152 blocks")

        # hot-unplug
        r = c.delete(item)
        check(r.status in (200, 202), f"detach -> 200 (or 202 while the guest lets go): {r.status}")
        if r.status == 202:
            c.wait_job(r.header("CIMI-Job-URI"), timeout=60)
        wait_disks(http, lambda ds: "vdb" not in ds, "vdb disappears")

        # grown while detached: on disk
        body = c.read(v["id"])
        body["capacity"] = 3 * 1048576
        eq(c.put(v["id"], body).status, 200, "grow the detached volume")
        isin("virtual size: 3 GiB", qemu_img_info(path), "qemu-img sees 3 GiB")

        # a copy is a standalone image; a new volume is an overlay on it
        r = c.post(c.add_href("volumeImages"), {"resourceURI": NS + "/VolumeImage",
                                                "name": "data-copy", "imageLocation": v["id"]})
        check_created(r, "copy the volume")
        c.wait_job(r.header("CIMI-Job-URI"), timeout=60)
        img = c.wait_state(r.header("Location"), "AVAILABLE")
        copy = img["imageLocation"][len("file://"):]
        check("backing file" not in qemu_img_info(copy), "the copy is standalone")
        r = c.post(c.add_href("volumes"), {"resourceURI": NS + "/VolumeCreate", "name": "data2",
                                           "volumeTemplate": {"volumeConfig": {"capacity": 1024},
                                                              "volumeImage": {"href": img["id"]}}})
        check_created(r, "a volume from the copy")
        c.wait_job(r.header("CIMI-Job-URI"), timeout=60)
        v2 = c.wait_state(r.header("Location"), "AVAILABLE")
        eq(v2.get("capacity"), 3 * 1048576, "at least as large as its image")
        path2 = os.path.join(d.root, "storage", "volumes", v2["id"].rsplit("/", 1)[1] + ".qcow2")
        isin(copy, qemu_img_info(path2), "an overlay on the copy")

        # the machine goes, the volume stays; then the volume goes too
        eq(c.delete(m["id"]).status, 200, "delete the machine")
        for vol, p in ((v, path), (v2, path2)):
            eq(c.read(vol["id"]).get("state"), "AVAILABLE", "the volume outlives the machine")
            eq(c.delete(vol["id"]).status, 200, "delete the volume")
            check(not os.path.exists(p), "its file is gone")


def vcpu_affinity(pid):
    """{thread name: Cpus_allowed_list} of a QEMU process's vCPU threads."""
    out = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/comm") as f:
                name = f.read().strip()
            if not name.startswith("CPU "):
                continue
            with open(f"/proc/{pid}/task/{tid}/status") as f:
                for line in f:
                    if line.startswith("Cpus_allowed_list:"):
                        out[name] = line.split(":", 1)[1].strip()
        except OSError:
            pass
    return out


@test
def qemu_host_added_at_runtime_with_dedicated_cpus():
    """cimid starts on test:///default; an admin adds a real QEMU host while it
    runs, machines with dedicated CPUs land there pinned (libvirt's own
    definition and the kernel's affinity agree), a third is refused, and the
    emptied host is removed."""
    image = require_qemu()
    ncpu = os.cpu_count() or 1
    d = Daemon(name="qemu-addhost")
    images = os.path.join(d.tmp, "images")
    os.makedirs(images)
    os.symlink(image, os.path.join(images, "cimid-test.qcow2"))
    root = os.path.join(d.tmp, "root")
    d.args += ["--images-dir", images, "--stop-timeout", "60"]
    try:
        d.start()
        admin = Client(d)
        c = Client(d, "alice")
        test_host = admin.list(admin.coll("hosts"))["hosts"][0]
        r = admin.post(admin.coll("hosts"), {"resourceURI": CIMID_NS + "/Host",
                                             "uri": f"qemu:///embed?root={root}", "accel": "tcg"})
        eq(r.status, 201, f"a QEMU host is added while cimid runs ({r.body[:300]!r})")
        qhost = admin.read(r.header("Location"))
        eq(qhost["cpu"], ncpu, "the QEMU host reports this machine's CPUs")
        r = admin.put(test_host["id"], {"resourceURI": CIMID_NS + "/Host", "uri": test_host["uri"],
                                        "enabled": False})
        eq(r.status, 200, "the simulated host is disabled")

        img = test_image(c)
        cfg = {"cpu": 1, "memory": 262144, "dedicated": True,
               "disks": [{"capacity": 1048576, "format": "ext4"}]}
        made = []
        for i in range(ncpu):
            state = "STARTED" if i == 0 else "STOPPED"
            r = c.post(c.add_href("machines"), {
                "resourceURI": NS + "/MachineCreate", "name": f"dedicated-{i}",
                "machineTemplate": {"initialState": state, "machineConfig": cfg,
                                    "machineImage": {"href": img["id"]}}})
            check_created(r, f"dedicated machine {i} (reply {r.body[:300]!r})")
            c.wait_job(r.header("CIMI-Job-URI"), timeout=120)
            made.append(c.wait_state(r.header("Location"), state, timeout=60))
            eq(made[-1]["host"]["href"], qhost["id"], "placed on the QEMU host")
        pins = []
        for m in made:
            uuid = m["id"].rsplit("/", 1)[1]
            with open(os.path.join(root, "etc", "qemu", f"cimi-{uuid}.xml")) as f:
                xml = f.read()
            if "guest memory cannot be locked here" in d.log_text():
                notin("<locked/>", xml, "no locked memory where the host cannot lock it")
            else:
                isin("<locked/>", xml, "libvirt's definition locks the memory")
            pin = xml.split("<vcpupin vcpu='0' cpuset='")[1].split("'")[0]
            pins.append(pin)
        eq(sorted(pins), [str(i) for i in range(ncpu)], "each dedicated machine owns its own CPU")
        r = c.post(c.add_href("machines"), {
            "resourceURI": NS + "/MachineCreate", "name": "one-too-many",
            "machineTemplate": {"machineConfig": cfg, "machineImage": {"href": img["id"]}}})
        eq(r.status, 409, "no physical CPU left for another dedicated machine")
        isin("dedicated", r.doc.get("statusMessage", ""), "the refusal says why")

        uuid0 = made[0]["id"].rsplit("/", 1)[1]
        pid = subprocess.run(["pgrep", "-f", f"guest=cimi-{uuid0}"], capture_output=True,
                             text=True).stdout.split()[0]
        eq(vcpu_affinity(pid), {"CPU 0/TCG": pins[0]},
           "the running guest's vCPU thread is pinned where libvirt says")
        status, _ = fetch(endpoint(made[0], 80))
        eq(status, 200, "the guest on the added host answers HTTP")

        r = admin.delete(qhost["id"])
        eq(r.status, 409, "a host with machines is not removed")
        for m in made:
            eq(c.delete(op(c.read(m["id"]), "delete")).status, 200, "delete")
        eq(subprocess.run(["pgrep", "-f", f"guest=cimi-{uuid0}"]).returncode, 1,
           "the guest's QEMU process is gone")
        eq(admin.delete(qhost["id"]).status, 200, "the emptied QEMU host is removed")
        eq(admin.get(qhost["id"]).status, 404, "and gone")
    finally:
        d.kill9()
        subprocess.run(["pkill", "-9", "-f", root], capture_output=True)
# Runs "$@" chrooted into $1, a plain directory (no mount point) that gets
# every top-level directory of / bound in it: the same files, but "/" is no
# mount point, as in a chroot made by hand or a container's.  Run in a mount
# namespace of its own (unshare), so the binds go with the last process.
IN_CHROOT = """set -e
root=$1; shift
for e in /*; do
  name=${e#/}
  if [ -L "$e" ]; then ln -s "$(readlink "$e")" "$root/$name"
  elif [ -d "$e" ]; then mkdir -p "$root/$name"; mount --rbind "$e" "$root/$name"
  fi
done
exec chroot "$root" "$@"
"""


def in_chroot(d, command):
    root = os.path.join(d.tmp, "chroot")
    os.makedirs(root)
    return ["unshare", "--mount", "--propagation", "private", "--", "sh", "-c", IN_CHROOT, "sh",
            root, *command]


@test
def qemu_guest_in_a_chroot():
    """In a chroot (and containers like it) "/" is no mount point: libvirt's
    private mount namespace per guest fails there ("Failed disable mount
    propagation out of the root filesystem").  cimid finds that out and
    writes `namespaces = [ ]` in the embed root's qemu.conf: the guest runs
    and answers; the qemu.conf of a host where namespaces work keeps them."""
    if os.geteuid() != 0 or shutil.which("unshare") is None or shutil.which("chroot") is None:
        raise SkipTest("making a chroot needs root, unshare and chroot (util-linux, coreutils)")
    with qemu_daemon("qemu-chroot", wrap=in_chroot) as d:
        c = Client(d, "alice")
        r = c.post(c.add_href("machines"), {
            "resourceURI": NS + "/MachineCreate", "name": "chrooted",
            "machineTemplate": {"initialState": "STARTED",
                                "machineConfig": {"href": c.default_config()["id"]},
                                "machineImage": {"href": test_image(c)["id"]},
                                "userData": base64.b64encode(b"in a chroot").decode()}})
        check_created(r, "create")
        c.wait_job(r.header("CIMI-Job-URI"), timeout=120)   # SUCCESS: the guest started
        m = c.wait_state(r.header("Location"), "STARTED", timeout=60)
        status, page = fetch(endpoint(m, 80))
        eq(status, 200, "the guest started in a chroot answers HTTP")
        isin("in a chroot", page, "and read its userData")
        with open(os.path.join(d.root, "etc", "qemu.conf")) as f:
            isin("namespaces = [ ]", f.read(), "no mount namespaces in the chroot's qemu.conf")
        isin("no mount namespace can be made here", d.log_text(), "the log says why")
    with qemu_daemon("qemu-ns") as d:
        with open(os.path.join(d.root, "etc", "qemu.conf")) as f:
            notin("namespaces", f.read(), "outside a chroot guests keep their mount namespace")


@test
def qemu_embed_refuses_networks():
    """qemu:///embed has no libvirt network driver: a Network is refused with
    409 naming the fallback (QEMU user-mode networking, see endpoints), and
    nothing is created.  test_networks.py covers networks on test:///default."""
    with qemu_daemon("qemu-nonet") as d:
        c = Client(d, "alice")
        r = c.post(c.add_href("networks"), {
            "resourceURI": NS + "/NetworkCreate", "name": "private",
            "networkTemplate": {"networkConfig": {"networkType": "PRIVATE"}}})
        eq(r.status, 409, "a private network on qemu:///embed is refused")
        isin("user-mode networking", r.body.decode(), "the message names the fallback")
        eq(c.list("networks", fmt="json").get("count"), 0, "nothing was created")


@test
def qemu_system_host_through_libvirtd():
    """A qemu:///system host reached through a libvirt daemon (this test starts
    its own libvirtd and virtlogd; CI machines have none): the guest runs and
    answers HTTP, and virsh on that daemon shows what CIMI shows at each step."""
    image = require_qemu()
    for tool in ("libvirtd", "virtlogd", "virsh"):
        if shutil.which(tool) is None:
            raise SkipTest(f"{tool} is not installed (package libvirt-daemon / libvirt-clients)")
    if os.geteuid() != 0:
        raise SkipTest("a qemu:///system libvirtd needs root")
    running = [name for name in ("libvirtd", "virtqemud", "virtlogd")
               if subprocess.run(["pgrep", "-x", name], capture_output=True).returncode == 0]
    if running:
        raise SkipTest(f"{running[0]} already runs on this machine; this test would start its "
                       "own qemu:///system daemon beside it")
    from test_hosts import PrivateLibvirtd
    d = Daemon(name="qemu-system")
    # The guest runs as libvirt-qemu: it must reach its image, wherever the
    # checkout lives (a home directory of mode 0700 is Debian's default), so
    # the image is copied beside the daemon (a temporary directory of 0755).
    # A second one sits in a directory closed to that user (0700, root's),
    # where a checkout under a home directory would keep it.
    os.chmod(d.tmp, 0o755)
    images = os.path.join(d.tmp, "images")
    closed = os.path.join(d.tmp, "home-0700")
    os.makedirs(images)
    os.makedirs(closed, mode=0o700)
    os.chmod(closed, 0o700)
    shutil.copy(image, os.path.join(images, "cimid-test.qcow2"))
    shutil.copy(image, os.path.join(closed, "cimid-test.qcow2"))
    os.symlink(os.path.join(closed, "cimid-test.qcow2"), os.path.join(images, "closed.qcow2"))
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", "-F", "qcow2", "-b",
                    os.path.join(closed, "cimid-test.qcow2"), os.path.join(images, "layer.qcow2")],
                   check=True)
    d.args += ["--images-dir", images, "--stop-timeout", "60"]
    virtlogd = subprocess.Popen(["virtlogd"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    lvd = PrivateLibvirtd(d.tmp)
    uri = None
    try:
        lvd.start()
        uri = lvd.uri.replace("test+unix:///default", "qemu+unix:///system")

        def virsh(*args):
            return subprocess.run(["virsh", "-c", uri, *args], capture_output=True, text=True,
                                  timeout=60).stdout.strip()

        d.start()
        admin = Client(d)
        c = Client(d, "alice")
        simulated = admin.list(admin.coll("hosts"))["hosts"][0]
        r = admin.post(admin.coll("hosts"), {"resourceURI": CIMID_NS + "/Host", "uri": uri,
                                             "accel": "tcg"})
        eq(r.status, 201, f"the qemu:///system host is added ({r.body[:300]!r})")
        host = admin.read(r.header("Location"))
        admin.put(simulated["id"], {"resourceURI": CIMID_NS + "/Host", "uri": simulated["uri"],
                                    "enabled": False})
        by_name = {i.get("name"): i for i in c.list("machineImages", fmt="json")["machineImages"]}
        for name, what in (("closed", f"the image {images}/closed.qcow2"),
                           ("layer", f"the backing file {closed}/cimid-test.qcow2")):
            r = c.post(c.add_href("machines"), {
                "resourceURI": NS + "/MachineCreate", "name": "unreachable",
                "machineTemplate": {"machineConfig": {"href": c.default_config()["id"]},
                                    "machineImage": {"href": by_name[name]["id"]}}})
            check_created(r, f"create from the {name} image")
            job = c.wait_job(r.header("CIMI-Job-URI"), expect="FAILED", timeout=120)
            why = job.get("statusMessage", "")
            isin(f"cannot reach {what}", why, "the Job says which file")
            isin(f"the directory {closed} (mode 0700", why, "and which directory stops the guest")
            isin("libvirt-qemu", why, "and for which user")
            check(not [f for f in os.listdir("/var/lib/cimid/storage/disks")
                       if f.startswith(r.header("Location").rsplit("/", 1)[1])],
                  "no disk is left behind")
            eq(c.delete(r.header("Location")).status, 200, "the machine that failed is deleted")
        m = create(c, "system-guest", test_image(c)["id"])
        eq(m["host"]["href"], host["id"], "the machine runs on the qemu:///system host")
        dom = "cimi-" + m["id"].rsplit("/", 1)[1]
        eq(virsh("domstate", dom), "running", "virsh: running, as CIMI says STARTED")
        xml = virsh("dumpxml", dom)
        isin(f"<memory unit='KiB'>{m['memory']}</memory>", xml, "virsh: memory as CIMI says")
        isin(f">{m['cpu']}</vcpu>", xml, "virsh: vCPUs as CIMI says")
        status, _ = fetch(endpoint(m, 80))
        eq(status, 200, "the qemu:///system guest answers HTTP")
        m, _ = do_action(c, m, "stop", "STOPPED", force=False)
        eq(virsh("domstate", dom), "shut off", "virsh: shut off, as CIMI says STOPPED")
        eq(c.delete(op(c.read(m["id"]), "delete")).status, 200, "delete")
        notin(dom, virsh("list", "--all", "--name"), "virsh: the domain is gone")
        eq(admin.delete(host["id"]).status, 200, "the host is removed")
    finally:
        d.kill9()
        if uri:
            for name in subprocess.run(["virsh", "-c", uri, "list", "--all", "--name"],
                                       capture_output=True, text=True).stdout.split():
                if name.startswith("cimi-"):
                    subprocess.run(["virsh", "-c", uri, "destroy", name], capture_output=True)
                    subprocess.run(["virsh", "-c", uri, "undefine", name], capture_output=True)
        lvd.kill()
        virtlogd.kill()
        virtlogd.wait()


@test(formats=("workers-4", "workers-1"))
def qemu_forced_stop_cuts_a_graceful_stop_short(workers):
    """A guest that ignores ACPI (a blank disk: the firmware finds nothing to
    boot and never powers off) stays STOPPING under a graceful stop; a
    forced stop then cuts it short (issue 11 item 3): 202, the machine
    STOPPED, the graceful Job SUCCESS "stopped by a forced stop", the
    forced one SUCCESS.  A second graceful stop of a STOPPING machine is 409.
    With one job worker (taken by the graceful stop) it is the graceful Job
    that powers the machine off, at once, not after --stop-timeout."""
    with qemu_daemon("qemu-forcestop", args=("--workers", workers.split("-")[1])) as d:
        blank = os.path.join(d.tmp, "images", "blank.qcow2")
        subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", blank, "64M"], check=True)
        d.restart()   # registers images/blank.qcow2
        c = Client(d, "alice")
        img = [i for i in c.list("machineImages", fmt="json").get("machineImages", [])
               if i.get("name") == "blank"]
        check(img, "the blank image is registered")
        m = create(c, "deaf", img[0]["id"])
        r = c.post(op(m, "stop"), {"resourceURI": NS + "/Action",
                                   "action": "http://schemas.dmtf.org/cimi/1/action/stop"})
        eq(r.status, 202, f"graceful stop ({r.body[:200]!r})")
        graceful = r.header("CIMI-Job-URI")
        m = c.read(m["id"])
        eq(m.get("state"), "STOPPING", "the guest ignores ACPI: STOPPING")
        eq(c.read(graceful).get("state") in ("QUEUED", "RUNNING"), True, "graceful stop runs")
        isin("stop", rels(m), "a STOPPING machine offers stop (forced)")
        r = c.post(op(m, "stop"), {"resourceURI": NS + "/Action",
                                   "action": "http://schemas.dmtf.org/cimi/1/action/stop"})
        eq(r.status, 409, "a second graceful stop of a STOPPING machine")
        isin("force", r.doc.get("statusMessage", ""), "the 409 says a forced stop may")
        r = c.post(op(m, "stop"), {"resourceURI": NS + "/Action",
                                   "action": "http://schemas.dmtf.org/cimi/1/action/stop",
                                   "force": True})
        eq(r.status, 202, f"forced stop over the graceful one ({r.body[:200]!r})")
        forced = r.header("CIMI-Job-URI")
        fj = c.wait_job(forced, timeout=40)   # --stop-timeout is 60 s: ends well before
        gj = c.wait_job(graceful, timeout=40)
        eq(gj.get("statusMessage"), "stopped by a forced stop", "the graceful Job says why")
        isin(fj.get("statusMessage"), ("powered off",), "the forced Job")
        m = c.wait_state(m["id"], "STOPPED", timeout=30)
        isin("start", rels(m), "a stopped machine offers start again")
        eq(d.alive(), True, "cimid still runs")


@test
def qemu_disk_added_and_removed():
    """A disk added to a running guest (POST to Machine.disks) is a qcow2 file
    of its capacity that appears in the guest as the next virtio device; a
    DELETE takes it out of the guest and removes the file (issue 11 item 14)."""
    with qemu_daemon("qemu-disk") as d:
        c = Client(d, "alice")
        m = create(c, "disk-guest", test_image(c)["id"])
        http = endpoint(m, 80)
        before = wait_disks(http, lambda ds: "vda" in ds, "the guest is up with vda")
        own = len(c.list(m["disks"]["href"], fmt="json").get("disks", []))
        target = "vd" + chr(ord("a") + max(own, 1))
        notin(target, before, f"no {target} before the add")
        r = c.post(c.add_href(m["disks"]["href"]), {"resourceURI": NS + "/Disk",
                                                    "capacity": 1048576})
        isin(r.status, (201, 202), f"add a disk (reply {r.body[:300]!r})")
        loc = r.header("Location")
        c.wait_job(r.header("CIMI-Job-URI"), timeout=60)
        eq(c.read(loc).get("initialLocation"), "/dev/" + target, "the next device")
        wait_disks(http, lambda ds: ds.get(target) == 1048576,
                   f"{target} with 1048576 blocks appears")
        path = os.path.join(d.root, "storage", "disks",
                            f"{m['id'].rsplit('/', 1)[1]}-disk{max(own, 1)}.qcow2")
        isin("virtual size: 1 GiB", qemu_img_info(path), "a 1 GiB qcow2 file")
        r = c.delete(loc)
        isin(r.status, (200, 202), f"remove the disk: {r.status}")
        if r.status == 202:
            c.wait_job(r.header("CIMI-Job-URI"), timeout=60)
        wait_disks(http, lambda ds: target not in ds, f"{target} disappears")
        check(not os.path.exists(path), "its file is gone")
        eq(c.read(m["id"]).get("state"), "STARTED", "the guest still runs")


def capture_running(c, m, name):
    """Capture m through a MachineImage create (m offers capture): the image,
    AVAILABLE, a standalone qcow2 file."""
    href = op(m, "capture")
    check(href, f"a {m['state']} machine offers capture (ops: {rels(m)})")
    r = c.post(href, {"resourceURI": NS + "/MachineImage", "name": name, "type": "IMAGE",
                      "imageLocation": m["id"]})
    check_created(r, f"capture of a {m['state']} machine (reply {r.body[:300]!r})")
    c.wait_job(r.header("CIMI-Job-URI"), timeout=300)
    img = c.wait_state(r.header("Location"), "AVAILABLE", timeout=60)
    info = qemu_img_info(img["imageLocation"][len("file://"):])
    isin("file format: qcow2", info, "the captured image is qcow2")
    notin("backing file", info, "the captured image is standalone")
    return img


@test
def qemu_capture_of_running_and_paused_machines():
    """capture is offered while a machine runs or is paused (cimi.md §3.9),
    so on QEMU it succeeds then too: a running guest is paused for the copy
    (QEMU flushes its disks on pause) and runs on afterwards, the same boot;
    a paused one stays paused.  A System's capture of its running machine
    succeeds the same way."""
    from test_system_ops import act, new_system
    with qemu_daemon("qemu-capture") as d:
        c = Client(d, "alice")
        m = create(c, "cap-guest", test_image(c)["id"])
        http = endpoint(m, 80)
        boot = settled_boot(d, m, http)
        capture_running(c, m, "from-running")
        eq(c.read(m["id"]).get("state"), "STARTED", "the guest runs after its capture")
        isin(f"uptime-at-boot: {boot} s", fetch(http)[1], "the same boot runs on")

        m, _ = do_action(c, c.read(m["id"]), "pause", "PAUSED")
        capture_running(c, m, "from-paused")
        eq(c.read(m["id"]).get("state"), "PAUSED", "a paused guest stays paused")
        m, _ = do_action(c, m, "start", "STARTED")

        s = new_system(c, "cap-system", [m])
        job = act(c, s, "capture")
        tpl = [a["href"] for a in job.get("affectedResources") or []
               if "systemTemplates/" in a.get("href", "")]
        eq(len(tpl), 1, "the System's capture made a SystemTemplate")
        mt = c.read(tpl[0])["componentDescriptors"][0]["machineTemplate"]
        eq(c.read(mt["machineImage"]["href"]).get("state"), "AVAILABLE", "its image")
        eq(c.read(m["id"]).get("state"), "STARTED", "the System's guest runs on")
        isin(f"uptime-at-boot: {boot} s", fetch(http)[1], "the same boot after both captures")
