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
- QEMU with a Network (qemu:///system through a libvirtd the test starts):
  web and db on the private network appnet, a volume of data on db, both
  running while exported; the copy made by a second cimid has the same
  topology, sizes and disk bytes, its guests lease their address on its own
  appnet (virsh) and serve their page.
"""

import hashlib
import http.client
import io
import os
import shutil
import subprocess
import tarfile
import tempfile
import time
import urllib.parse

import cimitest
from cimitest import (ACTION, NS, Client, Daemon, SkipTest, check, check_created, coll_items, eq,
                      isin, op, test)
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


def disk_files(storage, c, system):
    """{machine name: [its disk files..., its volumes' files...]} in a QEMU
    host's storage directory."""
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
            src_files = disk_files(os.path.join(d1.root, "storage"), src, system)
            in_ova = {k.split("-")[0]: v for k, v in files_by_machine(env).items()}

            dst = Client(d2, "alice")
            pkg = upload(dst, ova, "app")
            tpl = import_template(dst, pkg)
            copy = create_from(dst, tpl, "app-copy")
            eq(topology(dst, copy), before, "the same machines, disk and volume sizes")
            dst_files = disk_files(os.path.join(d2.root, "storage"), dst, copy)
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


# ---------------------------------------------------------------- qemu:///system, with a Network

def require_private_qemu_system():
    """What a qemu:///system host through a private libvirtd needs (as in
    test_qemu.py's qemu_system_host_through_libvirtd, plus what libvirt
    starts a network with DHCP with); SkipTest naming what is missing.
    Returns the test image."""
    import test_qemu as q
    image = q.require_qemu()
    for tool, package in (("libvirtd", "libvirt-daemon"), ("virtlogd", "libvirt-daemon"),
                          ("virsh", "libvirt-clients"), ("dnsmasq", "dnsmasq-base"),
                          ("iptables", "iptables")):
        if shutil.which(tool) is None:
            raise SkipTest(f"{tool} is not installed (package {package}; a libvirt network "
                           "with DHCP needs dnsmasq and iptables)")
    if os.geteuid() != 0:
        raise SkipTest("a qemu:///system libvirtd needs root")
    running = [name for name in ("libvirtd", "virtqemud", "virtlogd")
               if subprocess.run(["pgrep", "-x", name], capture_output=True).returncode == 0]
    if running:
        raise SkipTest(f"{running[0]} already runs on this machine; this test would start its "
                       "own qemu:///system daemon beside it")
    return image


def appnet_system_doc(c, image_href):
    """web (STARTED) and db (STOPPED: its volume is filled before it starts)
    with an interface each on the private network appnet; volume data
    (64 MiB) attached to db."""
    tpl = {"machineConfig": {"href": c.default_config()["id"]},
           "machineImage": {"href": image_href},
           "networkInterfaces": [{"network": {"href": "#appnet"}}]}
    return {"resourceURI": NS + "/SystemCreate", "name": "app",
            "systemTemplate": {"componentDescriptors": [
                ox.network_descriptor("appnet"),
                {"name": "data", "type": NS + "/Volume",
                 "volumeTemplate": {"volumeConfig": {"capacity": 65536}}},
                {"name": "web", "type": NS + "/Machine",
                 "machineTemplate": dict(tpl, initialState="STARTED")},
                {"name": "db", "type": NS + "/Machine",
                 "machineTemplate": dict(tpl, initialState="STOPPED",
                                         volumes=[{"href": "#data"}])}]}}


def by_role(c, system):
    """{"web": Machine, "db": Machine} of a System (names web, web-1, ...)."""
    return {m["name"].split("-")[0]: m for m in members(c, system, "machines", "machine")}


def serves_page(c, machine, what):
    """The guest answers HTTP on its forwarded port 80 with the image's page;
    returns the page."""
    import test_qemu as q
    status, page = q.fetch(q.endpoint(c.read(machine["id"]), 80))
    eq(status, 200, f"{what} serves its page")
    isin("cimid-test-image", page, f"{what}: the test image's page")
    return page


def on_the_network(c, system, virsh, what):
    """The System has one Network, appnet; each machine has one interface,
    on it; libvirt agrees (domiflist: the domain's interface with that MAC
    is on the network cimi-<uuid>) and the guest took its address there
    (the MAC is in the network's DHCP leases)."""
    nets = members(c, system, "networks", "network")
    eq([n.get("name") for n in nets], ["appnet"], f"{what}: the System has the network appnet")
    net = "cimi-" + nets[0]["id"].rsplit("/", 1)[1]
    macs = []
    for m in members(c, system, "machines", "machine"):
        nics = c.read(m["networkInterfaces"]["href"]).get("machineNetworkInterfaces", [])
        eq([n["network"]["href"] for n in nics], [nets[0]["id"]],
           f"{what}: {m['name']} has one interface, on appnet")
        mac = nics[0]["macAddress"].lower()
        rows = [l.split() for l in virsh("domiflist", "cimi-" + m["id"].rsplit("/", 1)[1])
                .lower().splitlines()]
        check(any(mac in r and net in r for r in rows),
              f"{what}: virsh domiflist: {m['name']}'s {mac} on {net}: {rows}")
        macs.append(mac)
    deadline = time.time() + 180
    while True:
        leases = virsh("net-dhcp-leases", net).lower()
        if all(mac in leases for mac in macs):
            break
        check(time.time() < deadline, f"{what}: both guests lease an address on {net}: {leases}")
        time.sleep(1)
    return nets[0]


@test
def qemu_system_roundtrip_with_network():
    """Item 7 with a private Network, on real QEMU guests of a qemu:///system
    host (a libvirtd this test starts, as test_qemu.py's
    qemu_system_host_through_libvirtd does; CI machines have none): a
    System of web and db on network appnet, db with a volume of data, both
    STARTED, exported while they run; the OVA uploaded to a second cimid (its
    own database and storage directory, the same libvirtd) and imported
    there; a System created from the template has the same topology, sizes
    and disk bytes, its guests are on its own appnet and serve their page.
    Both cimids number their networks' bridges and subnets from the same
    start (cimibr0, 10.128.0.0/24) and one host has one set of bridges, so
    the source System is deleted before the copy is made: the System moves."""
    import test_qemu as q
    image = require_private_qemu_system()
    tmp = tempfile.mkdtemp(prefix="cimitest-ovf-rtnet-")
    cimitest._tmpdirs.append(tmp)
    # The guests run as libvirt-qemu: images and storage in directories of 0755.
    os.chmod(tmp, 0o755)
    images = os.path.join(tmp, "images")
    os.makedirs(images)
    shutil.copy(image, os.path.join(images, "cimid-test.qcow2"))
    storage = {side: os.path.join(tmp, "storage-" + side) for side in ("src", "dst")}
    from test_hosts import PrivateLibvirtd
    virtlogd = subprocess.Popen(["virtlogd"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    lvd = PrivateLibvirtd(tmp)
    uri = lvd.uri.replace("test+unix:///default", "qemu+unix:///system")

    def virsh(*args):
        return subprocess.run(["virsh", "-c", uri, *args], capture_output=True, text=True,
                              timeout=60).stdout.strip()

    def cimid(side):
        return Daemon(name="ovf-rtnet-" + side,
                      args=["--connect", uri, "--images-dir", images, "--storage-dir",
                            storage[side], "--accel", "tcg", "--stop-timeout", "60"])
    d1 = cimid("src")
    d2 = cimid("dst")
    try:
        lvd.start()
        d1.start()
        src = Client(d1, "alice")
        r = check_created(src.post(src.add_href("systems"),
                                   appnet_system_doc(src, q.test_image(src)["id"])), "SystemCreate")
        src.wait_job(r.header("CIMI-Job-URI"), timeout=600)
        system = src.read(r.header("Location"))
        roles = by_role(src, system)
        eq(sorted(roles), ["db", "web"], "the System has web and db")
        # Data in db's volume before db starts: a pattern and random bytes.
        vol = src.read(roles["db"]["volumes"]["href"])["machineVolumes"][0]["volume"]["href"]
        vol_file = os.path.join(storage["src"], "volumes",
                                vol.rsplit("/", 1)[1] + ".qcow2")
        with tempfile.NamedTemporaryFile() as rnd:
            rnd.write(os.urandom(8 << 20))
            rnd.flush()
            subprocess.run(["qemu-io", "-f", "qcow2", "-c", "write -P 0x5a 0 1M",
                            "-c", f"write -s {rnd.name} 16M 8M", vol_file],
                           check=True, capture_output=True)
        roles["db"], _ = cimitest.do_action(src, roles["db"], "start", "STARTED")
        for name, m in roles.items():
            eq(src.read(m["id"])["state"], "STARTED", f"{name} runs while it is exported")
            serves_page(src, m, f"source {name}")
        isin("vdb", q.fetch(q.endpoint(src.read(roles["db"]["id"]), 80), "/disks")[1],
             "source db sees its volume")
        on_the_network(src, system, virsh, "source")
        before = topology(src, system)

        t0 = time.time()
        ova = export_system(src, system, paused=2)
        export_s = time.time() - t0
        for name, m in roles.items():
            eq(src.read(m["id"])["state"], "STARTED", f"{name} runs again after the export")
            serves_page(src, m, f"exported {name}")

        work = tempfile.mkdtemp(prefix="cimitest-ovf-rtnet-ova-")
        cimitest._tmpdirs.append(work)
        with tarfile.open(fileobj=io.BytesIO(ova)) as t:
            t.extractall(work)
        env, _ = ox.check_package(ova)
        eq([n.get(ox.OVF + "name")
            for n in env.find(ox.OVF + "NetworkSection").findall(ox.OVF + "Network")], ["appnet"],
           "the package's NetworkSection has appnet")
        for vs in ox.virtual_systems(env):
            eq([i.findtext(ox.RASD + "Connection") for i in ox.items(vs, 10)], ["appnet"],
               f"{vs.findtext(ox.OVF + 'Name')}'s NIC is connected to appnet")
        in_ova = {k.split("-")[0]: v for k, v in files_by_machine(env).items()}
        src_files = disk_files(storage["src"], src, system)
        eq([len(src_files["web"]), len(src_files["db"])], [1, 2], "web: a disk; db: disk, volume")
        for name, files in src_files.items():
            for i, a in enumerate(files):
                ok, why = same_bytes(a, "qcow2", os.path.join(work, in_ova[name][i]), "vmdk")
                check(ok, f"{name} disk {i + 1}: the exported vmdk holds its bytes ({why})")

        # The move: the source System (machines, volume, network) goes.
        r = src.delete(system["id"])
        isin(r.status, (200, 202), f"delete the source System ({r.body[:300]!r})")
        deadline = time.time() + 300
        while src.get(system["id"]).status != 404:
            check(time.time() < deadline, "the source System is deleted")
            time.sleep(1)
        d1.stop()   # SIGTERM: LeakSanitizer checks the export side at its exit

        d2.start()
        dst = Client(d2, "alice")
        t0 = time.time()
        pkg = upload(dst, ova, "app")
        tpl = import_template(dst, pkg)
        import_s = time.time() - t0
        t0 = time.time()
        copy = create_from(dst, tpl, "app-copy")
        create_s = time.time() - t0
        copy_roles = by_role(dst, copy)
        eq(sorted(copy_roles), ["db", "web"], "the copy has web and db")
        stopped = [name for name, m in copy_roles.items()
                   if dst.read(m["id"])["state"] != "STARTED"]
        for name in stopped:
            cimitest.do_action(dst, dst.read(copy_roles[name]["id"]), "start", "STARTED")
        for name, m in copy_roles.items():
            serves_page(dst, m, f"imported {name}")
        boot_s = time.time() - t0
        eq(topology(dst, copy), before, "the same machines (cpu, memory), disk and volume sizes, "
                                        "and networks")
        isin("vdb", q.fetch(q.endpoint(dst.read(copy_roles["db"]["id"]), 80), "/disks")[1],
             "the imported db sees its volume")
        on_the_network(dst, copy, virsh, "copy")
        dst_files = disk_files(storage["dst"], dst, copy)
        eq({k: len(v) for k, v in dst_files.items()}, {k: len(v) for k, v in src_files.items()},
           "the same disks and volumes per machine")
        for name, files in dst_files.items():
            for i, b in enumerate(files):
                ok, why = same_bytes(os.path.join(work, in_ova[name][i]), "vmdk", b, "qcow2")
                check(ok, f"{name} disk {i + 1}: the imported disk holds the source's bytes "
                          f"({why})")
        print(f"# round trip with a network (qemu:///system): export of 2 running guests "
              f"({len(ova) / 2**20:.1f} MiB OVA) {export_s:.1f} s; upload + import "
              f"{import_s:.1f} s; SystemCreate Job {create_s:.1f} s, both pages served after "
              f"{boot_s:.1f} s (started by the test: {stopped or 'none'})")
        d2.stop()   # SIGTERM: LeakSanitizer checks the import side at its exit
    finally:
        for d in (d1, d2):
            d.kill9()
        if lvd.proc is not None:
            for name in virsh("list", "--all", "--name").split():
                if name.startswith("cimi-"):
                    virsh("destroy", name)
                    virsh("undefine", name)
            for name in virsh("net-list", "--all", "--name").split():
                if name.startswith("cimi-"):
                    virsh("net-destroy", name)
                    virsh("net-undefine", name)
        lvd.kill()
        virtlogd.kill()
        virtlogd.wait()
