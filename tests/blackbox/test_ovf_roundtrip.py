"""OVF round trip (issue 12 item 7): a System exported by one cimid, its
package uploaded to a second cimid, imported there as a SystemTemplate and a
System created from it: the same topology, sizes and disk contents.

- test:///default: two machines, a volume attached to one and a network
  both are on; compared: machines (cpu, memory, disk capacities), the
  volume's capacity and attachment, the network and the interfaces on it.
- QEMU (qemu:///embed, the project's test image): two machines (one
  running while it is exported) and a volume.  qemu:///embed has no libvirt
  network driver (Networks are refused with 409, docs/ARCHITECTURE.md), so
  the QEMU System has no Network; its guests use user-mode networking.
  Compared: the disk bytes of every disk (qemu-img compare of the source
  disk, the exported vmdk and the new machine's disk), and the new System's
  guest boots and serves its page.
"""

import hashlib
import http.client
import io
import os
import subprocess
import tarfile
import tempfile
import time
import urllib.parse

import cimitest
from cimitest import (ACTION, NS, Client, Daemon, check, check_created, coll_items, eq, isin,
                      op, test)
import test_ovf_export as ox

# ---------------------------------------------------------------- helpers


def export_system(c, system, paused=None):
    """Export (202, Location = Package), wait; the OVA's bytes.  paused: how
    many running machines the Job must say it paused for the copy."""
    pkg, jd = ox.export_ok(c, system)
    if paused is not None:
        isin(f"; {paused} running machines paused for the copy", jd.get("statusMessage", ""),
             "the Job says which guests it paused")
    return ox.content(c, pkg)


def upload(c, ova, name):
    """POST the OVA to the packages collection: 201, the Package."""
    u = urllib.parse.urlsplit(c.coll("packages"))
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=300)
    try:
        conn.request("POST", f"{u.path}?name={name}", body=ova,
                     headers={"Authorization": c.auth_header(), "Accept": "application/json",
                              "Content-Type": "application/x-tar"})
        resp = conn.getresponse()
        body = resp.read()
        eq(resp.status, 201, f"upload the package (reply {body[:300]!r})")
        loc = resp.getheader("Location")
    finally:
        conn.close()
    return c.wait_state(loc, "AVAILABLE")


def import_template(c, pkg):
    """import on systemTemplates with the Package as source: the new SystemTemplate."""
    r = c.post(c.coll("systemTemplates") + "/import",
               {"resourceURI": NS + "/Action", "action": ACTION + "import",
                "source": pkg["id"].split("/cimi/", 1)[1]})
    eq(r.status, 202, f"import (reply {r.body[:300]!r})")
    jd = c.wait_job(r.header("CIMI-Job-URI"), timeout=900)
    tpls = [a["href"] for a in jd.get("affectedResources") or []
            if "/systemTemplates/" in a.get("href", "")]
    check(tpls, f"the import Job names the SystemTemplate: {jd.get('affectedResources')}")
    return c.read(tpls[0])


def create_from(c, tpl, name, timeout=600):
    r = check_created(c.post(c.add_href("systems"), {
        "resourceURI": NS + "/SystemCreate", "name": name,
        "systemTemplate": {"href": tpl["id"]}}), f"SystemCreate {name}")
    c.wait_job(r.header("CIMI-Job-URI"), timeout=timeout)
    return c.read(r.header("Location"))


def members(c, system, attr, ref):
    """The resources a System's sub-collection attr names (item attribute ref)."""
    items = c.read(system[attr]["href"]).get("system" + attr[0].upper() + attr[1:], [])
    return [c.read(item[ref]["href"]) for item in items]


def topology(c, system):
    """What must survive the trip: per machine (by name order) cpu, memory,
    its disks' capacities and its volumes' capacities and its networks; the
    System's volumes and networks by capacity / count."""
    machines = []
    for m in members(c, system, "machines", "machine"):
        disks = sorted(d["capacity"] for d in c.read(m["disks"]["href"]).get("disks", []))
        vols = sorted(c.read(v["volume"]["href"])["capacity"]
                      for v in c.read(m["volumes"]["href"]).get("machineVolumes", []))
        nics = c.read(m["networkInterfaces"]["href"]).get("machineNetworkInterfaces", [])
        nets = sorted(c.read(n["network"]["href"]).get("name") for n in nics)
        machines.append((m["cpu"], m["memory"], disks, vols, nets))
    return sorted(machines)


# ---------------------------------------------------------------- test:///default

@test
def roundtrip_between_two_cimids():
    src = Client(ox.daemon(), "alice")
    system = ox.create_system(src, "shop")
    before = topology(src, system)
    pkg, _ = ox.export_ok(src, system)
    ova = ox.content(src, pkg)

    # Into the same cimid: its own Package is the source.
    again = create_from(src, import_template(src, pkg), "shop-again")
    eq(topology(src, again), before, "imported here: the same machines, disks, volumes, networks")

    storage = tempfile.mkdtemp(prefix="cimitest-ovf-roundtrip-storage-")
    cimitest._tmpdirs.append(storage)
    # Imported disks are image files: the test driver keeps them with --storage-dir.
    d2 = Daemon(name="ovf-roundtrip-2", args=["--images-dir", ox.images_dir(),
                                              "--storage-dir", storage]).start()
    try:
        dst = Client(d2, "alice")
        pkg = upload(dst, ova, "shop")
        tpl = import_template(dst, pkg)
        copy = create_from(dst, tpl, "shop-copy")
        eq(topology(dst, copy), before, "the same machines, disks, volumes and networks")
        nets = [n.get("name") for n in members(dst, copy, "networks", "network")]
        eq(nets, ["appnet"], "the System has the network")
    finally:
        d2.stop()


# ---------------------------------------------------------------- QEMU

def qemu_system_doc(c, image_href):
    tpl = {"machineConfig": {"href": c.default_config()["id"]},
           "machineImage": {"href": image_href}}
    return {"resourceURI": NS + "/SystemCreate", "name": "app",
            "systemTemplate": {"componentDescriptors": [
                {"name": "data", "type": NS + "/Volume",
                 "volumeTemplate": {"volumeConfig": {"capacity": 1048576}}},
                {"name": "web", "type": NS + "/Machine",
                 "machineTemplate": dict(tpl, initialState="STARTED")},
                {"name": "db", "type": NS + "/Machine",
                 "machineTemplate": dict(tpl, initialState="STOPPED",
                                         volumes=[{"href": "#data"}])}]}}


def disk_files(d, c, system):
    """{machine name: [its disk files..., its volumes' files...]} in the embed root."""
    storage = os.path.join(d.root, "storage")
    out = {}
    for m in members(c, system, "machines", "machine"):
        uuid = m["id"].rsplit("/", 1)[1]
        files = [os.path.join(storage, "disks", f"{uuid}-disk0.qcow2")]
        for v in c.read(m["volumes"]["href"]).get("machineVolumes", []):
            files.append(os.path.join(storage, "volumes",
                                      v["volume"]["href"].rsplit("/", 1)[1] + ".qcow2"))
        out[m["name"].split("-")[0]] = files
    return out


def files_by_machine(env):
    """{VirtualSystem Name: [the member names of its disks, in Item order]}."""
    OVF, RASD = ox.OVF, ox.RASD
    hrefs = {f.get(OVF + "id"): f.get(OVF + "href") for f in env.find(OVF + "References")}
    disk_file = {d.get(OVF + "diskId"): hrefs.get(d.get(OVF + "fileRef"))
                 for d in env.find(OVF + "DiskSection").findall(OVF + "Disk")}
    out = {}
    for vs in ox.virtual_systems(env):
        out[vs.findtext(OVF + "Name")] = [
            disk_file[i.findtext(RASD + "HostResource").rsplit("/", 1)[1]]
            for i in ox.items(vs, 17)]
    return out


def same_bytes(a, fa, b, fb):
    r = subprocess.run(["qemu-img", "compare", "-U", "-f", fa, "-F", fb, a, b],
                       capture_output=True, text=True, timeout=600)
    return r.returncode == 0, (r.stdout + r.stderr).strip()


@test
def qemu_running_system_roundtrip():
    import test_qemu as q
    with q.qemu_daemon("ovf-rt-src") as d1, q.qemu_daemon("ovf-rt-dst") as d2:
        src = Client(d1, "alice")
        r = check_created(src.post(src.add_href("systems"),
                                   qemu_system_doc(src, q.test_image(src)["id"])), "SystemCreate")
        src.wait_job(r.header("CIMI-Job-URI"), timeout=600)
        system = src.read(r.header("Location"))
        web = [m for m in members(src, system, "machines", "machine") if m["name"].startswith("web")][0]
        eq(web["state"], "STARTED", "web runs while it is exported")
        q.fetch(q.endpoint(web, 80))  # the guest is up
        before = topology(src, system)

        t0 = time.time()
        ova = export_system(src, system, paused=1)
        export_s = time.time() - t0
        web = src.read(web["id"])
        eq(web["state"], "STARTED", "web runs again after the export")
        status, _ = q.fetch(q.endpoint(web, 80))
        eq(status, 200, "the exported guest still serves its page")

        with tempfile.TemporaryDirectory() as tmp:
            with tarfile.open(fileobj=io.BytesIO(ova)) as t:
                t.extractall(tmp)
            env, _ = ox.check_package(ova)
            src_files = disk_files(d1, src, system)
            in_ova = {k.split("-")[0]: v for k, v in files_by_machine(env).items()}

            dst = Client(d2, "alice")
            pkg = upload(dst, ova, "app")
            tpl = import_template(dst, pkg)
            copy = create_from(dst, tpl, "app-copy")
            eq(topology(dst, copy), before, "the same machines, disk and volume sizes")
            dst_files = disk_files(d2, dst, copy)
            eq(sorted(dst_files), sorted(src_files), "the same machines")
            for name, files in src_files.items():
                for i, (a, b) in enumerate(zip(files, dst_files[name])):
                    vmdk = os.path.join(tmp, in_ova[name][i])
                    ok, why = same_bytes(a, "qcow2", vmdk, "vmdk")
                    check(ok, f"{name} disk {i + 1}: the exported vmdk holds its bytes ({why})")
                    ok, why = same_bytes(vmdk, "vmdk", b, "qcow2")
                    check(ok, f"{name} disk {i + 1}: the imported disk holds them too ({why})")
        copy_web = [m for m in members(dst, copy, "machines", "machine")
                    if m["name"].startswith("web")][0]
        if copy_web["state"] != "STARTED":
            copy_web, _ = cimitest.do_action(dst, copy_web, "start", "STARTED")
        status, page = q.fetch(q.endpoint(dst.read(copy_web["id"]), 80))
        eq(status, 200, "the imported guest boots and serves its page")
        print(f"# round trip: export of {len(ova) / 2**20:.1f} MiB in {export_s:.1f} s")


@test
def qemu_kill9_while_guests_are_paused():
    """kill -9 of cimid while an export holds a running guest paused (its
    volume of random data takes seconds to convert): after the restart the
    re-run Job finishes the Package, and the guest runs again, the same QEMU
    process, its page served."""
    import test_qemu as q
    with q.qemu_daemon("ovf-kill9") as d:
        c = Client(d, "alice")
        r = check_created(c.post(c.add_href("systems"), {
            "resourceURI": NS + "/SystemCreate", "name": "held",
            "systemTemplate": {"componentDescriptors": [
                {"name": "data", "type": NS + "/Volume",
                 "volumeTemplate": {"volumeConfig": {"capacity": 1048576}}},
                {"name": "web", "type": NS + "/Machine",
                 "machineTemplate": {"initialState": "STOPPED",
                                     "machineConfig": {"href": c.default_config()["id"]},
                                     "machineImage": {"href": q.test_image(c)["id"]},
                                     "volumes": [{"href": "#data"}]}}]}}), "SystemCreate")
        c.wait_job(r.header("CIMI-Job-URI"), timeout=600)
        system = c.read(r.header("Location"))
        web = members(c, system, "machines", "machine")[0]
        vol = c.read(web["volumes"]["href"])["machineVolumes"][0]["volume"]["href"]
        path = os.path.join(d.root, "storage", "volumes", vol.rsplit("/", 1)[1] + ".qcow2")
        # 384 MiB of random bytes in the volume (the guest does not read it),
        # written while the machine is off: their deflate keeps the copy, and
        # the guest paused, for seconds.
        with tempfile.NamedTemporaryFile() as rnd:
            rnd.write(os.urandom(384 << 20))
            rnd.flush()
            subprocess.run(["qemu-io", "-f", "qcow2", "-c", f"write -s {rnd.name} 0 384M", path],
                           check=True, capture_output=True)
        web, _ = cimitest.do_action(c, web, "start", "STARTED")
        q.fetch(q.endpoint(web, 80))
        uuid = web["id"].rsplit("/", 1)[1]
        pids = subprocess.run(["pgrep", "-f", f"guest=cimi-{uuid}"], capture_output=True,
                              text=True).stdout.split()

        r = ox.export(c, system)
        eq(r.status, 202, f"export (reply {r.body[:300]!r})")
        pkg_href, job = r.header("Location"), r.header("CIMI-Job-URI")
        deadline = time.time() + 300
        while c.read(web["id"]).get("state") != "PAUSED":
            check(time.time() < deadline, "the export pauses the running guest")
            check(c.read(job).get("state") not in ("SUCCESS", "FAILED"),
                  "the export is still running when its guest is paused")
            time.sleep(0.05)
        d.kill9()
        d.start()
        c = Client(d, "alice")
        jd = c.wait_job(job, timeout=600)
        isin("1 running machines paused", jd.get("statusMessage", ""), "the re-run paused it too")
        c.wait_state(pkg_href, "AVAILABLE")
        web = c.wait_state(web["id"], "STARTED", timeout=60)
        eq(subprocess.run(["pgrep", "-f", f"guest=cimi-{uuid}"], capture_output=True,
                          text=True).stdout.split(), pids, "the same QEMU process runs the guest")
        status, _ = q.fetch(q.endpoint(web, 80))
        eq(status, 200, "the guest serves its page again")
        ox.check_package(ox.content(c, c.read(pkg_href)))
