"""B5 - Systems: a SystemCreate against the same members made one by one, and
OVF export / import throughput against `qemu-img convert` of the same disks.

Three parts, each alternating cimid's path and its baseline round by round
(which goes first alternates too) so that both see the same moments of a
shared machine; the figure of each side is the median of its rounds (the
create parts run one uncounted warm-up round of each path first).

* test:///default, 50 members: a SystemCreate whose SystemTemplate (by value)
  has a PRIVATE Network and 49 Machines (m1-small, initialState STARTED, one
  interface each on the network, "#net"), timed from the POST to the Job
  SUCCESS and the System's state STARTED.  Baseline: the same 50 resources
  made one after the other, each waiting for its Job (NetworkCreate, then 49
  MachineCreates on that network), until every machine reads STARTED.  (A
  cloud that refuses networks gets 50 machines in both paths.)
* qemu:///embed (TCG) with the project's test image: a System of 2 Machines
  (initialState STARTED), from the POST to the Job SUCCESS and the System
  STARTED (it derives its state from its machines at every read).
  Baseline: the two MachineCreates one after the other, each waiting for
  its Job, until both machines read STARTED.
* OVF on the same qemu:///embed cimid: a System of 2 STOPPED Machines whose
  image holds N MiB of random bytes (256, 32 with --quick: incompressible,
  so every byte is read, deflated and written).
  - export: POST systems/{id}/export (no destination), wait for the Job,
    GET the Package's content into a file.  Baseline: `qemu-img convert -f
    qcow2 -O vmdk -o subformat=streamOptimized,adapter_type=lsilogic,
    hwversion=13` (the command cimid runs) of the machines' two disk files
    (the qcow2 overlays on the image), one after the other.
  - import: POST systemTemplates/import with source = that Package's href,
    wait for the Job.  Baseline: `qemu-img convert -q -W -f vmdk -O qcow2 -o
    compat=1.1` (the command cimid runs) of the package's two vmdk files,
    extracted beforehand (not timed).
  Throughput = the disks' data (2 x N MiB) / time; ratio = cimid's time /
  the baseline's (the overhead cimid adds: descriptor, manifest and Package
  checksums, the OVA's tar, HTTP, the store, Jobs).
"""

import http.client
import os
import shutil
import subprocess
import tarfile
import tempfile
import time
import urllib.parse

from cimibench import (NS, BenchError, Cimid, OpFailed, delete_machine, kill_processes_under,
                       log, stats, wait_job)

MIB = 2**20
ACTION = NS + "/action/"
EXPORT_OPTS = "subformat=streamOptimized,adapter_type=lsilogic,hwversion=13"


# ---------------------------------------------------------------- documents

def machine_template(base, image, initial_state, network=None):
    tpl = {"initialState": initial_state,
           "machineConfig": {"href": f"{base}machineConfigs/m1-small"},
           "machineImage": {"href": image}}
    if network:
        tpl["networkInterfaces"] = [{"network": {"href": network}, "state": "ACTIVE"}]
    return tpl


def network_template():
    return {"networkConfig": {"networkType": "PRIVATE"}}


def system_create(name, descriptors):
    return {"resourceURI": NS + "/SystemCreate", "name": name,
            "systemTemplate": {"componentDescriptors": descriptors}}


def machine_descriptor(name, quantity, tpl):
    return {"name": name, "type": NS + "/Machine", "machineTemplate": tpl, "quantity": quantity}


# ---------------------------------------------------------------- requests

def one_line(body, n=300):
    return " ".join(body[:n].decode("utf-8", "replace").split())


def post_job(c, url, body, what, max_poll=0.005):
    """POST and wait for its Job (polled like B2's: every 0.25 ms for 50 ms, then backing
    off to max_poll): the reply (Location, ...)."""
    r = c.post(url, body)
    if r.status not in (201, 202):
        raise OpFailed(f"{what}: {r.status} {one_line(r.body)}")
    job = r.header("CIMI-Job-URI")
    if job:
        state = wait_job(c, job, max_poll=max_poll, timeout=1800)
        if state != "SUCCESS":
            raise OpFailed(f"{what}: Job {state}: {one_line(c.get(job).body, 400)}")
    return r


def wait_state(c, uri, state, timeout=300):
    deadline = time.time() + timeout
    while True:
        r = c.get(uri)
        got = r.json().get("state") if r.status == 200 else r.status
        if got == state:
            return
        if time.time() > deadline:
            raise BenchError(f"{uri} is {got}, not {state}, after {timeout}s")
        time.sleep(0.01)


def wait_gone(c, uri, timeout=600):
    deadline = time.time() + timeout
    while c.get(uri).status != 404:
        if time.time() > deadline:
            raise BenchError(f"{uri} still there after {timeout}s")
        time.sleep(0.05)


def delete_system(c, uri):
    r = c.delete(uri)
    if r.status not in (200, 202, 204):
        raise OpFailed(f"delete {uri}: {r.status} {r.body[:300]!r}")
    wait_gone(c, uri)


def delete_quietly(c, uri):
    r = c.delete(uri)
    if r.status == 202 and r.header("CIMI-Job-URI"):
        wait_job(c, r.header("CIMI-Job-URI"), max_poll=0.05)


def find_image(c, base, name):
    for img in c.get(base + "machineImages").json().get("machineImages", []):
        if img.get("name") == name and img.get("state") == "AVAILABLE":
            return img["id"]
    raise BenchError(f"cimid did not register the image {name}")


def operation(doc, name):
    for o in doc.get("operations", []):
        if o.get("rel") in (name, ACTION + name):
            return o["href"]
    return None


# ---------------------------------------------------------------- SystemCreate

def system_path(c, base, name, descriptors):
    """Seconds from the POST to the Job SUCCESS, and to the System STARTED; the System's URI."""
    t0 = time.perf_counter()
    r = post_job(c, base + "systems", system_create(name, descriptors), f"SystemCreate {name}")
    job = time.perf_counter() - t0
    uri = r.header("Location")
    wait_state(c, uri, "STARTED")
    took = time.perf_counter() - t0
    return took, job, uri


def system_machines(c, uri):
    """How many machines the System lists (a check after the timing)."""
    coll = c.get(uri).json().get("machines", {}).get("href")
    doc = c.get(coll).json() if coll else {}
    return doc.get("count", len(doc.get("systemMachines", [])))


def one_by_one(c, base, name, machines, image, network):
    """The same members one after the other: seconds, and what to delete."""
    made = []
    t0 = time.perf_counter()
    net = None
    if network:
        r = post_job(c, base + "networks",
                     {"resourceURI": NS + "/NetworkCreate", "name": f"{name}-net",
                      "networkTemplate": network_template()}, "NetworkCreate")
        net = r.header("Location")
    for i in range(machines):
        body = {"resourceURI": NS + "/MachineCreate", "name": f"{name}-{i + 1}",
                "machineTemplate": machine_template(base, image, "STARTED", net)}
        made.append(post_job(c, base + "machines", body, "MachineCreate").header("Location"))
    for m in made:
        wait_state(c, m, "STARTED")
    took = time.perf_counter() - t0
    return took, made, net


def compare_creates(d, rounds, machines, image, with_network, prefix):
    """rounds of (SystemCreate, one by one), alternating which goes first, after a
    warm-up round of each (not counted: first SQLite pages, libvirt's first defines)."""
    c = d.client()
    base = d.base
    sys_t, job_t, seq_t = [], [], []
    for k in range(-1, rounds):
        order = ("system", "seq") if k % 2 == 0 else ("seq", "system")
        for path in order:
            if path == "system":
                descs = []
                net = None
                if with_network:
                    descs.append({"name": "net", "type": NS + "/Network",
                                  "networkTemplate": network_template()})
                    net = "#net"
                descs.append(machine_descriptor(
                    "vm", machines, machine_template(base, image, "STARTED", net)))
                took, job, uri = system_path(c, base, f"{prefix}-sys-{k}", descs)
                if system_machines(c, uri) != machines:
                    raise BenchError(f"the System lists {system_machines(c, uri)} machines, "
                                     f"not {machines}")
                sys_t.append(took)
                job_t.append(job)
                delete_system(c, uri)
            else:
                took, made, net = one_by_one(c, base, f"{prefix}-seq-{k}", machines, image,
                                             with_network)
                seq_t.append(took)
                for m in made:
                    delete_machine(c, m, max_poll=0.02, timeout=600)
                if net:
                    delete_quietly(c, net)
                    wait_gone(c, net)
        log(f"B5 {prefix} round {k + 1}/{rounds}: system {sys_t[-1]:.2f} s, "
            f"one by one {seq_t[-1]:.2f} s{' (warm-up, not counted)' if k < 0 else ''}")
        if k < 0:
            sys_t, job_t, seq_t = [], [], []
    c.close()
    return {"system": stats(sys_t), "job": stats(job_t), "seq": stats(seq_t), "rounds": rounds}


def networks_accepted(d):
    """Whether this cloud makes Networks (a PRIVATE one is made and deleted)."""
    c = d.client()
    r = c.post(d.base + "networks", {"resourceURI": NS + "/NetworkCreate", "name": "b5-probe",
                                     "networkTemplate": network_template()})
    ok = r.status in (201, 202)
    if ok:
        if r.header("CIMI-Job-URI"):
            wait_job(c, r.header("CIMI-Job-URI"), max_poll=0.02)
        delete_quietly(c, r.header("Location"))
        wait_gone(c, r.header("Location"))
    c.close()
    return ok


def run_test(cfg):
    d = Cimid("b5-test").start()
    try:
        net = networks_accepted(d)
        n = 49 if net else 50
        log(f"B5 test:///default: {'1 network + ' if net else ''}{n} machines, as a System "
            f"and one by one, {cfg['b5_test_rounds']} rounds")
        res = compare_creates(d, cfg["b5_test_rounds"], n, f"{d.base}machineImages/debian12",
                              net, "b5t")
    finally:
        d.stop()
        shutil.rmtree(d.tmp, ignore_errors=True)
    res["members"] = 50
    res["network"] = net
    return res


# ---------------------------------------------------------------- OVF

def qemu_img(*args):
    r = subprocess.run(["qemu-img"] + list(args), capture_output=True, text=True)
    if r.returncode != 0:
        raise BenchError(f"qemu-img {args[0]}: {r.stderr.strip()[:300]}")
    return r.stdout


def make_data_image(path, mib):
    """A qcow2 whose first mib MiB are random bytes (incompressible)."""
    raw = path + ".raw"
    with open(raw, "wb") as f:
        for _ in range(mib):
            f.write(os.urandom(MIB))
    qemu_img("convert", "-q", "-f", "raw", "-O", "qcow2", raw, path)
    os.unlink(raw)


def qcow2_files(directory):
    out = set()
    for root, _, files in os.walk(directory):
        out.update(os.path.join(root, f) for f in files if f.endswith(".qcow2"))
    return out


def download(c, href, path):
    """GET href (the Package's content) into path, streamed; bytes."""
    u = urllib.parse.urlsplit(href)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=600)
    try:
        conn.request("GET", u.path, headers={"Authorization": c.auth})
        resp = conn.getresponse()
        if resp.status != 200:
            raise BenchError(f"GET {href}: {resp.status} {resp.read(300)!r}")
        n = 0
        with open(path, "wb") as f:
            while True:
                chunk = resp.read(MIB)
                if not chunk:
                    break
                f.write(chunk)
                n += len(chunk)
        return n
    finally:
        conn.close()


def export_once(c, system, ova_path):
    """(Job seconds, download seconds, Package URI, OVA bytes)."""
    doc = c.get(system).json()
    href = operation(doc, "export") or f"{system}/export"
    t0 = time.perf_counter()
    r = post_job(c, href, {"resourceURI": NS + "/Action", "action": ACTION + "export"},
                 "export", max_poll=0.05)
    t1 = time.perf_counter()
    pkg = r.header("Location")
    if not pkg or "/packages/" not in pkg:
        raise BenchError(f"export reply's Location {pkg!r} names no Package")
    content = c.get(pkg).json().get("content", {}).get("href") or f"{pkg}/content"
    size = download(c, content, ova_path)
    return t1 - t0, time.perf_counter() - t1, pkg, size


def import_once(c, base, pkg):
    """(seconds, the SystemTemplate's URI)."""
    t0 = time.perf_counter()
    r = post_job(c, base + "systemTemplates/import",
                 {"resourceURI": NS + "/Action", "action": ACTION + "import", "source": pkg},
                 "import", max_poll=0.05)
    took = time.perf_counter() - t0
    return took, r.header("Location")


def drop_template(c, tpl):
    """Delete an imported SystemTemplate and the MachineImages it made."""
    if not tpl:
        return
    r = c.get(tpl)
    images = []
    if r.status == 200:
        for cd in r.json().get("componentDescriptors", []):
            href = (cd.get("machineTemplate") or {}).get("machineImage", {}).get("href")
            if href:
                images.append(href)
    delete_quietly(c, tpl)
    for img in images:
        delete_quietly(c, img)


def extract_vmdks(ova, directory):
    with tarfile.open(ova) as t:
        names = [m for m in t.getmembers() if m.name.endswith(".vmdk")]
        for m in names:
            if hasattr(tarfile, "data_filter"):  # Python >= 3.11.4
                t.extract(m, directory, filter="data")
            else:
                t.extract(m, directory)
    return [os.path.join(directory, m.name) for m in names]


def baseline_export(disks, directory):
    t0 = time.perf_counter()
    for i, disk in enumerate(disks):
        qemu_img("convert", "-f", "qcow2", "-O", "vmdk", "-o", EXPORT_OPTS, disk,
                 os.path.join(directory, f"base-{i}.vmdk"))
    return time.perf_counter() - t0


def baseline_import(vmdks, directory):
    t0 = time.perf_counter()
    for i, vmdk in enumerate(vmdks):
        qemu_img("convert", "-q", "-W", "-f", "vmdk", "-O", "qcow2", "-o", "compat=1.1", vmdk,
                 os.path.join(directory, f"base-{i}.qcow2"))
    return time.perf_counter() - t0


def compare_ovf(d, rounds, mib, storage, work):
    c = d.client()
    base = d.base
    image = find_image(c, base, "b5-data")
    before = qcow2_files(storage)
    descs = [machine_descriptor("vm", 2, machine_template(base, image, "STOPPED"))]
    r = post_job(c, base + "systems", system_create("b5-ovf", descs), "SystemCreate b5-ovf")
    system = r.header("Location")
    disks = sorted(qcow2_files(storage) - before)
    if len(disks) != 2:
        raise BenchError(f"expected the 2 machines' disk files in {storage}, found {disks}")
    res = {"export": [], "export_job": [], "download": [], "qemu_export": [], "import": [],
           "qemu_import": [], "ova_bytes": 0, "data_mib": 2 * mib, "rounds": rounds}
    for k in range(rounds):
        rd = os.path.join(work, f"round-{k}")
        os.makedirs(rd)
        ova = os.path.join(rd, "system.ova")
        cimid_first = k % 2 == 0
        if not cimid_first:
            res["qemu_export"].append(baseline_export(disks, rd))
        job_s, dl_s, pkg, size = export_once(c, system, ova)
        res["export_job"].append(job_s)
        res["download"].append(dl_s)
        res["export"].append(job_s + dl_s)
        res["ova_bytes"] = size
        if cimid_first:
            res["qemu_export"].append(baseline_export(disks, rd))
        vmdks = extract_vmdks(ova, os.path.join(rd, "ova"))
        if len(vmdks) != 2:
            raise BenchError(f"the exported OVA holds {len(vmdks)} vmdk disks, not 2")
        if not cimid_first:
            res["qemu_import"].append(baseline_import(vmdks, rd))
        took, tpl = import_once(c, base, pkg)
        res["import"].append(took)
        if cimid_first:
            res["qemu_import"].append(baseline_import(vmdks, rd))
        drop_template(c, tpl)
        delete_quietly(c, pkg)
        shutil.rmtree(rd, ignore_errors=True)
        log(f"B5 OVF round {k + 1}/{rounds}: export {res['export'][-1]:.2f} s "
            f"(Job {job_s:.2f} s + download {dl_s:.2f} s) vs qemu-img "
            f"{res['qemu_export'][-1]:.2f} s; import {took:.2f} s vs qemu-img "
            f"{res['qemu_import'][-1]:.2f} s")
    delete_system(c, system)
    c.close()
    for key in ("export", "export_job", "download", "qemu_export", "import", "qemu_import"):
        res[key] = stats(res[key])
    return res


def qemu_image(image_dir):
    image = os.path.join(image_dir or "", "cimid-test.qcow2")
    if shutil.which("qemu-system-x86_64") is None or shutil.which("qemu-img") is None:
        return None, "QEMU is not installed (scripts/install-deps.sh --qemu)"
    if not image_dir or not os.path.exists(image):
        return None, f"no test image {image} (images/build-test-image.sh DIR)"
    return image, None


def run_qemu(cfg):
    image, why = qemu_image(cfg.get("image_dir"))
    if image is None:
        return {"_skipped": why}
    tmp = tempfile.mkdtemp(prefix="cimid-bench-b5-")
    root = os.path.join(tmp, "root")
    out = {}
    try:
        images = os.path.join(tmp, "images")
        os.makedirs(images)
        os.symlink(image, os.path.join(images, "cimid-test.qcow2"))
        mib = cfg["b5_ovf_mib"]
        log(f"B5 qemu:///embed: writing a {mib} MiB image of random bytes")
        make_data_image(os.path.join(images, "b5-data.qcow2"), mib)
        d = Cimid("b5-qemu", connect=f"qemu:///embed?root={root}",
                  extra=["--images-dir", images, "--accel", "tcg"],
                  tmp=os.path.join(tmp, "cimid"))
        os.makedirs(d.tmp)
        try:
            d.start()
            c = d.client()
            test_image = find_image(c, d.base, "cimid-test")
            c.close()
            log(f"B5 qemu:///embed: 2 machines STARTED, as a System and one by one, "
                f"{cfg['b5_qemu_rounds']} rounds")
            try:
                out["create"] = compare_creates(d, cfg["b5_qemu_rounds"], 2, test_image, False,
                                                "b5q")
            except Exception as e:  # the OVF part may still run
                log(f"B5 qemu:///embed SystemCreate could not run: {e}")
                out["create"] = {"error": str(e)}
            log(f"B5 OVF: export and import of 2 disks of {mib} MiB, {cfg['b5_ovf_rounds']} "
                f"rounds")
            work = os.path.join(tmp, "work")
            os.makedirs(work)
            try:
                out["ovf"] = compare_ovf(d, cfg["b5_ovf_rounds"], mib,
                                         os.path.join(root, "storage"), work)
            except Exception as e:
                log(f"B5 OVF could not run: {e}")
                out["ovf"] = {"error": str(e)}
        finally:
            d.stop()
            kill_processes_under(root)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out


def run(cfg):
    out = {"test": run_test(cfg)}
    if cfg.get("qemu", True):
        out["qemu"] = run_qemu(cfg)
    else:
        out["qemu"] = {"_skipped": "--no-qemu"}
    return out
