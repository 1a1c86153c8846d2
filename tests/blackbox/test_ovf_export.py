"""OVF export (issue 12 item 6): `export` on a SystemTemplate and on a System.

On test:///default with an images directory holding a small qcow2 image
(registered as MachineImage `tiny`): a SystemTemplate whose machines boot
from it exports to an OVA whose disks are real stream-optimized vmdks of
the image.  Checked: the reply (202, Location = the new Package, the Job
naming it), the Package (AVAILABLE, origin, size and sha256 of the bytes
served), the tar (.ovf first, .mf second, then the disks in References
order; ustar, root-owned, flat names), the manifest's SHA-256 of every
member, the descriptor valid against DMTF's dsp8023_1.1.1.xsd (xmllint,
tests/fixtures/ovf-xsd/) with the mapped hardware, network and product
properties, the disk bytes (qemu-img compare with the image), a Range
download of the content, the kvm profile (qcow2), a destination PUT to a
loopback server (and refused without --download-allow), 400 for a bad
format / destination / profile leaving nothing behind, and another tenant
neither exporting nor seeing the package.  A System made by SystemCreate
(two machines, a volume, a network) exports as a VirtualSystemCollection;
test_ovf_roundtrip.py does it on QEMU with running guests.
"""

import hashlib
import http.client
import http.server
import io
import os
import re
import subprocess
import tarfile
import tempfile
import threading
import time
import urllib.parse
import xml.etree.ElementTree as ET

import cimitest
from cimitest import (ACTION, BOTH, NS, REPO, Client, SkipTest, check, check_created, coll_items,
                      eq, isin, ne, notin, op, shared, test)

OVF_XSD = os.path.join(REPO, "tests", "fixtures", "ovf-xsd", "dsp8023_1.1.1.xsd")
OVF = "{http://schemas.dmtf.org/ovf/envelope/1}"
RASD = "{http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_ResourceAllocationSettingData}"
VMDK_STREAM = "http://www.vmware.com/interfaces/specifications/vmdk.html#streamOptimized"
QCOW2_URI = "http://www.gnome.org/~markmc/qcow-image-format.html"
IMAGE_MIB = 16

_images = None
_storage = None


def images_dir():
    """A directory with tiny.qcow2: 16 MiB virtual, a pattern in its first
    MiB and at 8 MiB (so the converted disks have data to compare)."""
    global _images
    if _images is None:
        if subprocess.run(["which", "qemu-img"], capture_output=True).returncode != 0:
            raise SkipTest("qemu-img is not installed")
        _images = tempfile.mkdtemp(prefix="cimitest-ovfexport-images-")
        cimitest._tmpdirs.append(_images)
        path = os.path.join(_images, "tiny.qcow2")
        subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", path, f"{IMAGE_MIB}M"],
                       check=True)
        subprocess.run(["qemu-io", "-c", "write -P 0x5a 0 1M", "-c", "write -P 0xa5 8M 64k",
                        path], check=True, capture_output=True)
        # Not an image cimid registers (extension): stands for a file no
        # tenant may name, such as another tenant's disk.
        with open(os.path.join(_images, "secret.disk"), "wb") as f:
            f.write(b"secret!\n" * 65536)
    return _images


def daemon():
    """The module's cimid; --storage-dir keeps what imports convert
    (test_ovf_roundtrip.py imports into it too)."""
    global _storage
    if _storage is None:
        _storage = tempfile.mkdtemp(prefix="cimitest-ovfexport-storage-")
        cimitest._tmpdirs.append(_storage)
    return shared("ovfexport", args=["--images-dir", images_dir(), "--storage-dir", _storage])


def tiny_image(c):
    for img in coll_items(c.list("machineImages", fmt="json")):
        if img.get("name") == "tiny":
            return img
    raise AssertionError("the images directory's tiny.qcow2 is registered as MachineImage tiny")


def machine_template(c, networks=()):
    tpl = {"machineConfig": {"href": c.default_config()["id"]},
           "machineImage": {"href": tiny_image(c)["id"]}}
    if networks:
        tpl["networkInterfaces"] = [{"network": {"href": "#" + n}} for n in networks]
    return tpl


def network_descriptor(name):
    return {"name": name, "description": f"the {name} network", "type": NS + "/Network",
            "networkTemplate": {"networkConfig": {"networkType": "PRIVATE"}}}


def make_template(c, name="shop"):
    """A SystemTemplate: web (quantity 2) and db on network appnet, db with
    volume dbdata (1 GiB)."""
    doc = {"resourceURI": NS + "/SystemTemplate", "name": name, "description": "a <shop>",
           "properties": {"tier": "gold"},
           "componentDescriptors": [
               network_descriptor("appnet"),
               {"name": "dbdata", "type": NS + "/Volume",
                "volumeTemplate": {"volumeConfig": {"capacity": 1048576}}},
               {"name": "web", "type": NS + "/Machine", "quantity": 2,
                "machineTemplate": machine_template(c, ["appnet"])},
               {"name": "db", "type": NS + "/Machine",
                "machineTemplate": dict(machine_template(c, ["appnet"]),
                                        volumes=[{"href": "#dbdata"}])}]}
    r = c.post(c.add_href("systemTemplates"), doc)
    isin(r.status, (201, 202), f"create SystemTemplate (reply {r.body[:300]!r})")
    return c.read(r.header("Location"))


def export_doc(**attrs):
    doc = {"resourceURI": NS + "/Action", "action": ACTION + "export"}
    doc.update(attrs)
    return doc


def export(c, resource, **attrs):
    href = op(resource, "export")
    check(href, f"{resource['id']} offers export (ops: {resource.get('operations')})")
    return c.post(href, export_doc(**attrs))


def export_ok(c, resource, **attrs):
    """202, Location = a new Package, the Job names it and succeeds; returns
    (package document, job document)."""
    r = export(c, resource, **attrs)
    eq(r.status, 202, f"export (reply {r.body[:300]!r})")
    loc, job = r.header("Location"), r.header("CIMI-Job-URI")
    check(loc and "/packages/" in loc, f"Location {loc!r} names a Package")
    jd = c.wait_job(job, timeout=300)
    eq(jd.get("targetResource", {}).get("href"), resource["id"], "the Job's target")
    isin(loc, [a.get("href") for a in jd.get("affectedResources") or []],
         "the Job names the Package")
    pkg = c.wait_state(loc, "AVAILABLE")
    eq(pkg.get("format"), "application/ovf", "Package format")
    eq(pkg.get("origin", {}).get("href"), resource["id"], "Package origin = what was exported")
    return pkg, jd


def raw_get(c, href, headers=None):
    u = urllib.parse.urlsplit(href)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=60)
    try:
        conn.request("GET", u.path, headers={"Authorization": c.auth_header(),
                                             **(headers or {})})
        resp = conn.getresponse()
        return resp.status, dict(resp.getheaders()), resp.read()
    finally:
        conn.close()


def content(c, pkg):
    status, headers, body = raw_get(c, pkg["content"]["href"])
    eq(status, 200, "GET the package's content")
    eq(len(body), int(pkg.get("size")), "Package size = bytes served")
    eq(hashlib.sha256(body).hexdigest(), pkg.get("sha256"), "Package sha256 = bytes served")
    return body


def members(ova):
    """[(TarInfo, bytes)] in archive order, checking the OVA's tar form."""
    out = []
    with tarfile.open(fileobj=io.BytesIO(ova), mode="r:") as t:
        for m in t.getmembers():
            check(m.isfile(), f"member {m.name} is a regular file")
            check("/" not in m.name and len(m.name.encode()) <= 100,
                  f"member name {m.name!r} is flat and at most 100 bytes")
            eq((m.uid, m.gid), (0, 0), f"{m.name} owned by uid/gid 0")
            out.append((m, t.extractfile(m).read()))
    eq(ova[257:263], b"ustar\0", "the first header is POSIX ustar")
    return out


def validate(xml_bytes):
    with tempfile.NamedTemporaryFile(suffix=".ovf") as f:
        f.write(xml_bytes)
        f.flush()
        r = subprocess.run(["xmllint", "--nonet", "--noout", "--schema", OVF_XSD, f.name],
                           capture_output=True, text=True, timeout=60)
    eq(r.returncode, 0, f"the descriptor validates against dsp8023_1.1.1.xsd: {r.stderr[-800:]}")


def check_package(ova):
    """The OVA's order, manifest and descriptor; returns (envelope, {name: bytes})."""
    ms = members(ova)
    names = [m.name for m, _ in ms]
    check(len(names) >= 2 and names[0].endswith(".ovf"), f"the .ovf comes first: {names}")
    base = names[0][:-4]
    eq(names[1], base + ".mf", "the manifest comes second, named after the .ovf")
    data = {m.name: b for m, b in ms}
    validate(data[names[0]])
    env = ET.fromstring(data[names[0]])
    hrefs = [f.get(OVF + "href") for f in env.find(OVF + "References")]
    eq(names[2:], hrefs, "the disks follow in References order")
    for f in env.find(OVF + "References"):
        eq(int(f.get(OVF + "size")), len(data[f.get(OVF + "href")]),
           f"ovf:size of {f.get(OVF + 'href')}")
    lines = data[names[1]].decode().splitlines()
    want = [f"SHA256({n})= {hashlib.sha256(data[n]).hexdigest()}" for n in names if n != names[1]]
    eq(lines, want, "the manifest: SHA256(name)= <hex> of every other member, in order")
    return env, data


def virtual_systems(env):
    return env.iter(OVF + "VirtualSystem")


def items(vs, rtype):
    return [i for i in vs.iter(OVF + "Item") if i.findtext(RASD + "ResourceType") == str(rtype)]


def capacity_bytes(disk):
    units = disk.get(OVF + "capacityAllocationUnits") or "byte"
    m = re.fullmatch(r"byte(?: \* 2\^(\d+))?", units)
    check(m, f"capacity unit {units!r} is byte * 2^N")
    return int(disk.get(OVF + "capacity")) << int(m.group(1) or 0)


def qemu_img(*args):
    return subprocess.run(["qemu-img", *args], capture_output=True, text=True, timeout=120)


# ---------------------------------------------------------------- tests

@test
def template_exports_an_ova():
    c = Client(daemon(), "alice")
    tpl = make_template(c)
    pkg, jd = export_ok(c, tpl)
    env, data = check_package(content(c, pkg))
    coll = env.find(OVF + "VirtualSystemCollection")
    check(coll is not None, "a SystemTemplate of several machines is a VirtualSystemCollection")
    eq(coll.findtext(OVF + "Name"), "shop", "the collection's Name")
    vs = list(virtual_systems(env))
    eq([v.get(OVF + "id") for v in vs], ["web-1", "web-2", "db"], "quantity 2 gives 2 systems")
    cfg = c.default_config()
    for v in vs:
        eq(items(v, 3)[0].findtext(RASD + "VirtualQuantity"), str(cfg["cpu"]), "CPU count")
        eq(items(v, 4)[0].findtext(RASD + "AllocationUnits"), "byte * 2^20", "memory unit")
        eq(items(v, 4)[0].findtext(RASD + "VirtualQuantity"), str(-(-cfg["memory"] // 1024)),
           "memory in MB, rounded up")
        eq([i.findtext(RASD + "Connection") for i in items(v, 10)], ["appnet"],
           "one NIC on appnet")
        eq(len(items(v, 17)), 2 if v.get(OVF + "id") == "db" else 1, "disks (db: its volume)")
        eq(items(v, 17)[0].findtext(RASD + "Parent"), items(v, 6)[0].findtext(RASD + "InstanceID"),
           "the disk sits on the SCSI controller")
    nets = env.find(OVF + "NetworkSection")
    eq([n.get(OVF + "name") for n in nets.findall(OVF + "Network")], ["appnet"], "NetworkSection")
    props = {p.get(OVF + "key"): p.get(OVF + "value") for p in coll.iter(OVF + "Property")}
    eq(props.get("tier"), "gold", "the template's properties in its ProductSection")
    isin("a <shop>", [a.text for a in coll.iter(OVF + "Annotation")], "description annotated")
    disks = env.find(OVF + "DiskSection").findall(OVF + "Disk")
    eq(len(disks), 4, "a Disk per machine and the volume")
    volume = [d for d in disks if d.get(OVF + "diskId") == "db-disk2"]
    eq([(capacity_bytes(d), d.get(OVF + "fileRef")) for d in volume], [(1 << 30, None)],
       "the volume: 1 GiB, blank")
    # A machine's first disk is the configuration's size, or the image's if larger.
    want = max(cfg["disks"][0]["capacity"] * 1024, IMAGE_MIB << 20)
    for d in disks:
        if d in volume:
            continue
        eq(d.get(OVF + "format"), VMDK_STREAM, "stream-optimized vmdk")
        eq(capacity_bytes(d), want, "capacity: the configuration's disk or the image")
    with tempfile.TemporaryDirectory() as tmp:
        name = [n for n in data if n.endswith(".vmdk")][0]
        path = os.path.join(tmp, name)
        with open(path, "wb") as f:
            f.write(data[name])
        isin("create type: streamOptimized", qemu_img("info", path).stdout, "a stream vmdk")
        r = qemu_img("compare", "-f", "qcow2", "-F", "vmdk",
                     os.path.join(images_dir(), "tiny.qcow2"), path)
        eq(r.returncode, 0, f"the vmdk holds the image's bytes: {r.stdout}{r.stderr}")


@test
def package_content_ranges():
    c = Client(daemon(), "alice")
    pkg, _ = export_ok(c, make_template(c, "ranges"))
    whole = content(c, pkg)
    status, headers, body = raw_get(c, pkg["content"]["href"], {"Range": "bytes=512-1023"})
    eq(status, 206, "a Range request answers 206")
    eq(body, whole[512:1024], "the range's bytes")
    status, _, _ = raw_get(c, pkg["content"]["href"], {"Range": f"bytes={len(whole) + 10}-"})
    eq(status, 416, "a range past the end answers 416")


@test(formats=BOTH)
def kvm_profile_writes_qcow2(fmt):
    c = Client(daemon(), "alice", fmt=fmt)
    tpl = make_template(Client(daemon(), "alice"), "kvm")
    pkg, _ = export_ok(c, c.read(tpl["id"]), properties={"ovf.profile": "kvm"})
    env, data = check_package(content(c, pkg))
    for d in env.find(OVF + "DiskSection").findall(OVF + "Disk"):
        if d.get(OVF + "fileRef"):
            eq(d.get(OVF + "format"), QCOW2_URI, "qcow2 disks")
    names = [n for n in data if not n.endswith((".ovf", ".mf"))]
    check(names and all(n.endswith(".qcow2") for n in names), f"qcow2 members: {names}")
    eq(data[names[0]][:4], b"QFI\xfb", "the member is a qcow2 image")
    isin("virtio", [i.findtext(RASD + "ResourceSubType") for i in env.iter(OVF + "Item")],
         "virtio NICs")


def packages(c):
    return [p["id"] for p in coll_items(c.list("packages", fmt="json"))]


@test(formats=BOTH)
def bad_actions_leave_nothing(fmt):
    c = Client(daemon(), "alice", fmt=fmt)
    tpl = make_template(Client(daemon(), "alice"), "bad")
    before_pkgs = packages(c)
    for attrs, attr in (({"format": "application/x-vhd"}, "format"),
                        ({"destination": "ftp://example.com/x.ova"}, "destination"),
                        ({"destination": "/etc/passwd"}, "destination"),
                        ({"properties": {"ovf.profile": "vmware"}}, "ovf.profile")):
        r = export(c, tpl, **attrs)
        eq(r.status, 400, f"export with {attrs} (reply {r.body[:300]!r})")
        isin(attr, r.doc.get("statusMessage", ""), f"the error names {attr}")
        eq(r.header("CIMI-Job-URI"), None, "no Job for a refused export")
    eq(packages(c), before_pkgs, "no Package left by refused exports")
    eq(c.read(tpl["id"]).get("updated"), tpl.get("updated"), "the template is unchanged")


@test
def other_tenant_cannot_export_or_see():
    c = Client(daemon(), "alice")
    bob = Client(daemon(), "bob")
    tpl = make_template(c, "private")
    pkg, jd = export_ok(c, tpl)
    r = bob.post(tpl["id"] + "/export", export_doc())
    eq(r.status, 404, "bob's export of alice's template answers 404")
    eq(bob.get(pkg["id"]).status, 404, "bob cannot read alice's Package")
    status, _, _ = raw_get(bob, pkg["content"]["href"])
    eq(status, 404, "bob cannot download alice's package")
    notin(pkg["id"], packages(bob), "bob's packages do not list it")
    eq(bob.get(jd["id"]).status, 404, "bob cannot read alice's export Job")


class PutServer:
    """A loopback HTTP server storing the body of each PUT; with hold, it
    answers only once release() is called."""

    def __init__(self, hold=False):
        bodies = self.bodies = {}
        gate = self.gate = threading.Event()
        if not hold:
            gate.set()

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_PUT(self):
                n = int(self.headers.get("Content-Length", "0"))
                bodies[self.path] = self.rfile.read(n)
                gate.wait(120)
                self.send_response(201)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.srv.server_address[1]}"
        threading.Thread(target=self.srv.serve_forever, daemon=True).start()

    def release(self):
        self.gate.set()

    def close(self):
        self.gate.set()
        self.srv.shutdown()
        self.srv.server_close()


@test
def destination_put():
    srv = PutServer()
    try:
        # The module's daemon has no --download-allow: loopback is refused.
        c = Client(daemon(), "alice")
        tpl = make_template(c, "refused")
        before = packages(c)
        r = export(c, tpl, destination=srv.url + "/shop.ova")
        eq(r.status, 202, f"export to a destination (reply {r.body[:300]!r})")
        eq(r.header("Location"), tpl["id"], "no Package: Location is the template")
        jd = c.wait_job(r.header("CIMI-Job-URI"), expect="FAILED", timeout=300)
        isin("refused: destination not allowed", jd.get("statusMessage", ""), "Job says why")
        eq(srv.bodies, {}, "nothing reached the refused destination")
        eq(packages(c), before, "a destination export makes no Package")

        d = shared("ovfexport-allow", args=["--images-dir", images_dir(),
                                            "--download-allow", "127.0.0.1/32"])
        c = Client(d, "alice")
        tpl = make_template(c, "sent")
        r = export(c, tpl, destination=srv.url + "/shop.ova")
        eq(r.status, 202, f"export to an allowed destination (reply {r.body[:300]!r})")
        c.wait_job(r.header("CIMI-Job-URI"), timeout=300)
        check("/shop.ova" in srv.bodies, "the OVA was PUT to the destination")
        check_package(srv.bodies["/shop.ova"])
        eq(packages(c), [], "a destination export makes no Package")
        leftovers = [f for f in os.listdir(os.path.join(d.tmp, "packages"))]
        eq(leftovers, [], "no work files left in the package directory")
    finally:
        srv.close()


@test
def stop_while_sending():
    """A RUNNING export (held by a destination that does not answer) stops:
    the Job ends STOPPED saying so, and no Package or work file is left."""
    srv = PutServer(hold=True)
    try:
        d = shared("ovfexport-allow", args=["--images-dir", images_dir(),
                                            "--download-allow", "127.0.0.1/32"])
        c = Client(d, "alice")
        r = export(c, make_template(c, "held"), destination=srv.url + "/held.ova")
        eq(r.status, 202, f"export (reply {r.body[:300]!r})")
        job = r.header("CIMI-Job-URI")
        deadline = time.time() + 120
        while "sending" not in (c.read(job).get("statusMessage") or ""):
            check(time.time() < deadline, f"the export reaches its upload: {c.read(job)}")
            time.sleep(0.1)
        jd = c.read(job)
        eq(c.post(op(jd, "stop"), export_doc(action=ACTION + "stop")).status, 202, "stop accepted")
        jd = c.wait_job(job, expect="STOPPED", timeout=60)
        isin("stopped", jd.get("statusMessage", ""), "the Job says it was stopped")
        eq(packages(c), [], "no Package")
        eq(os.listdir(os.path.join(d.tmp, "packages")), [], "no work file left")
    finally:
        srv.close()


# ---------------------------------------------------------------- Systems

def system_create_doc(c, name):
    """Two machines and a volume on network appnet (docs/SYSTEMS.md)."""
    return {"resourceURI": NS + "/SystemCreate", "name": name, "description": "exported",
            "properties": {"tier": "gold"},
            "systemTemplate": {"componentDescriptors": [
                network_descriptor("appnet"),
                {"name": "dbdata", "type": NS + "/Volume",
                 "volumeTemplate": {"volumeConfig": {"capacity": 1048576}}},
                {"name": "web", "type": NS + "/Machine",
                 "machineTemplate": machine_template(c, ["appnet"])},
                {"name": "db", "type": NS + "/Machine",
                 "machineTemplate": dict(machine_template(c, ["appnet"]),
                                         volumes=[{"href": "#dbdata"}])}]}}


def create_system(c, name):
    r = check_created(c.post(c.add_href("systems"), system_create_doc(c, name)),
                      f"create System {name}")
    c.wait_job(r.header("CIMI-Job-URI"), timeout=300)
    return c.read(r.header("Location"))


@test
def system_exports_its_members():
    c = Client(daemon(), "alice")
    s = create_system(c, "shop")
    pkg, _ = export_ok(c, s)
    env, data = check_package(content(c, pkg))
    coll = env.find(OVF + "VirtualSystemCollection")
    check(coll is not None, "a System of two machines is a VirtualSystemCollection")
    eq(coll.findtext(OVF + "Name"), "shop", "named after the System")
    vs = {v.findtext(OVF + "Name"): v for v in virtual_systems(env)}
    eq(sorted(vs), ["db", "web"], "a VirtualSystem per member machine")
    eq(len(items(vs["db"], 17)), 2, "db: its own disk and the volume")
    isin("Volume dbdata", items(vs["db"], 17)[1].findtext(RASD + "ElementName"),
         "the volume's disk is labelled")
    eq([i.findtext(RASD + "Connection") for i in items(vs["web"], 10)], ["appnet"],
       "web's NIC on appnet")
    eq([n.get(OVF + "name") for n in env.find(OVF + "NetworkSection").findall(OVF + "Network")],
       ["appnet"], "the System's network in the NetworkSection")
    startup = [i.get(OVF + "id") for i in coll.find(OVF + "StartupSection").findall(OVF + "Item")]
    eq(sorted(startup), ["db", "web"], "a StartupSection naming the members")
    # libvirt's test driver keeps no disk files: a boot disk carries the
    # machine's image (what it holds there), the volume is only described.
    eq(sorted(list(data)[2:]), ["db-disk1.vmdk", "web-disk1.vmdk"], "the boot disks' files")
    volume = [d for d in env.find(OVF + "DiskSection").findall(OVF + "Disk")
              if d.get(OVF + "diskId") == "db-disk2"]
    eq([d.get(OVF + "fileRef") for d in volume], [None], "the volume has no content here")
    capacities = sorted((d.get(OVF + "capacity"), d.get(OVF + "capacityAllocationUnits"))
                        for d in env.find(OVF + "DiskSection").findall(OVF + "Disk"))
    isin(("1", "byte * 2^30"), capacities, "the volume's capacity (1 GiB)")


@test
def nested_systems_nest():
    """A System with a nested System: collections nest; the nested System's
    one machine still sits in a collection (only the top one unwraps)."""
    c = Client(daemon(), "alice")
    doc = {"resourceURI": NS + "/SystemCreate", "name": "outer",
           "systemTemplate": {"componentDescriptors": [
               {"name": "front", "type": NS + "/Machine", "machineTemplate": machine_template(c)},
               {"name": "inner", "type": NS + "/System",
                "systemTemplate": {"componentDescriptors": [
                    {"name": "back", "type": NS + "/Machine",
                     "machineTemplate": machine_template(c)},
                    {"name": "cache", "type": NS + "/Machine",
                     "machineTemplate": machine_template(c)}]}}]}}
    r = check_created(c.post(c.add_href("systems"), doc), "create a nested System")
    c.wait_job(r.header("CIMI-Job-URI"), timeout=300)
    pkg, _ = export_ok(c, c.read(r.header("Location")))
    env, _ = check_package(content(c, pkg))
    outer = env.find(OVF + "VirtualSystemCollection")
    eq(outer.findtext(OVF + "Name"), "outer", "the top collection")
    inner = outer.findall(OVF + "VirtualSystemCollection")
    eq(len(inner), 1, "the nested System is a collection inside it")
    eq(sorted(v.findtext(OVF + "Name") for v in inner[0].findall(OVF + "VirtualSystem")),
       ["back", "cache"], "its machines")
    eq([v.findtext(OVF + "Name") for v in outer.findall(OVF + "VirtualSystem")], ["front"],
       "the outer System's own machine")


@test
def template_images_only_by_reference():
    """A template's disk carries a stored image named by href only: an
    imageLocation given by value (alone or overriding the href's) was never
    checked and could name another tenant's disk, so it gives no content."""
    c = Client(daemon(), "alice")
    secret = os.path.join(images_dir(), "secret.disk")
    override = dict(machine_template(c))
    override["machineImage"] = dict(override["machineImage"], imageLocation=secret)
    by_value = dict(machine_template(c))
    by_value["machineImage"] = {"imageLocation": secret}
    doc = {"resourceURI": NS + "/SystemTemplate", "name": "sneaky",
           "componentDescriptors": [
               {"name": "a", "type": NS + "/Machine", "machineTemplate": override},
               {"name": "b", "type": NS + "/Machine", "machineTemplate": by_value}]}
    r = c.post(c.add_href("systemTemplates"), doc)
    isin(r.status, (201, 202), f"the template is stored (reply {r.body[:300]!r})")
    pkg, _ = export_ok(c, c.read(r.header("Location")))
    ova = content(c, pkg)
    notin(b"secret!", ova, "the file named by value is not in the package")
    env, data = check_package(ova)
    eq(sorted(n for n in data if n.endswith(".vmdk")), ["a-disk1.vmdk"],
       "only the disk of the image named by href has content")
