"""OVF import (issue 12 item 5): `import` on systemTemplates and systems.

The packages are tests/fixtures/ovf: descriptors written by hand in the
shapes VMware ovftool, VirtualBox, oVirt and Xen Orchestra write, a
VirtualSystemCollection (ovf.md section 7), an OVF 2.0 envelope, a
descriptor with its files beside it, a gzip-compressed disk, and packages
that must fail (a required section cimid cannot honour, BusLogic, a path
traversal href, a bad or partial manifest, a text vmdk descriptor, a disk
with a backing file, OVF 0.9, an unsafe tar member, a missing disk).
make-packages.py builds them (qemu-img) into a temporary directory that the
daemon may import from (--import-dir) on test:///default with a storage
directory for the converted images.

Each good shape imports with the right cpu, memory, disks (contents equal
to what the package held: qemu-img compare) and networks; each bad one
ends its Job FAILED with a message naming the element (and line), leaving
the store and the image directory as they were."""

import json
import os
import subprocess
import tempfile

import cimitest
from cimitest import (assert_error, check, coll_items, eq, isin, shared,
                      store_snapshot, test)

HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURES = os.path.join(HERE, "..", "fixtures", "ovf")
CIMI = "http://schemas.dmtf.org/cimi/1"
TIMEOUT = 120

_packages = None
_storage = None


def packages():
    """Build the fixture packages once: {name: {path, expect, raws}}."""
    global _packages
    if _packages is None:
        out = tempfile.mkdtemp(prefix="cimitest-ovf-packages-")
        cimitest._tmpdirs.append(out)
        subprocess.run(["python3", os.path.join(FIXTURES, "make-packages.py"), out], check=True)
        with open(os.path.join(out, "packages.json")) as f:
            _packages = json.load(f)
        _packages["_dir"] = out
    return _packages


def daemon():
    global _storage
    pk = packages()
    if _storage is None:
        _storage = tempfile.mkdtemp(prefix="cimitest-ovf-storage-")
        cimitest._tmpdirs.append(_storage)
    d = shared("ovf-import", args=["--storage-dir", _storage, "--import-dir", pk["_dir"]])
    d.storage = _storage
    return d


def image_files(d):
    return sorted(os.listdir(os.path.join(d.storage, "images")))


def import_action(source, properties=None):
    doc = {"resourceURI": CIMI + "/Action", "action": CIMI + "/action/import", "source": source}
    if properties:
        doc["properties"] = properties
    return doc


def run_import(c, collection, source, properties=None):
    """POST the import Action; the finished Job and the reply."""
    r = c.post(c.coll(collection) + "/import", import_action(source, properties))
    eq(r.status, 202, f"import accepted ({r.body[:300]!r})")
    job = r.header("CIMI-Job-URI")
    check(job, "the reply names its Job")
    return c.wait_job(job, expect=None, timeout=TIMEOUT), r


def store_and_files(c, d):
    snap = store_snapshot(c)
    for attr in ("systemTemplates", "systems"):
        snap[attr] = sorted(i.get("id") for i in coll_items(c.list(attr, fmt="json")))
    return snap, image_files(d)


def components(template, kind):
    return [cd for cd in template.get("componentDescriptors", [])
            if cd.get("type") == f"{CIMI}/{kind}"]


def machines_of(template):
    """{descriptor name: machineTemplate} over nested systemTemplates too."""
    out = {}
    for cd in template.get("componentDescriptors", []):
        if cd.get("type") == f"{CIMI}/Machine":
            out[cd["name"]] = cd["machineTemplate"]
        elif cd.get("type") == f"{CIMI}/System":
            out.update(machines_of(cd["systemTemplate"]))
    return out


def all_components(template, kind):
    """{name: descriptor} of a kind over nested systemTemplates too."""
    out = {}
    for cd in template.get("componentDescriptors", []):
        if cd.get("type") == f"{CIMI}/{kind}":
            out[cd["name"]] = cd
        elif cd.get("type") == f"{CIMI}/System":
            out.update(all_components(cd["systemTemplate"], kind))
    return out


def local_file(location):
    return location[len("file://"):] if location.startswith("file://") else location


def same_bytes(image_file, raw, what):
    r = subprocess.run(["qemu-img", "compare", "-q", "-f", "raw", "-F", "qcow2", raw, image_file],
                       capture_output=True, text=True)
    eq(r.returncode, 0, f"{what}: the imported image holds the package's bytes ({r.stderr})")


def check_template(c, name, info, template):
    expect = info["expect"]
    raws = list(info["raws"])
    eq(template.get("importImage"), info["path"], f"{name}: importImage names the package")
    if "name" in expect:
        eq(template.get("name"), expect["name"], f"{name}: template name")
    nets = components(template, "Network")
    eq(sorted(cd.get("description") for cd in nets), sorted(expect["networks"]),
       f"{name}: one Network component per OVF network")
    for cd in nets:
        nt = c.get(cd["networkTemplate"]["href"]).doc
        eq(nt.get("networkConfig", {}).get("networkType"), "PRIVATE", f"{name}: private network")
    net_names = {cd["description"]: cd["name"] for cd in nets}
    machines = machines_of(template)
    eq(sorted(machines), sorted(expect["machines"]), f"{name}: one Machine component per VM")
    for vm, want in expect["machines"].items():
        mt = machines[vm]
        config = c.get(mt["machineConfig"]["href"]).doc
        eq(config.get("cpu"), want["cpu"], f"{name}/{vm}: cpu")
        eq(config.get("memory"), want["memory"] * 1024, f"{name}/{vm}: memory (KiB)")
        eq(config["disks"][0]["capacity"], want["disks"][0] * 1024, f"{name}/{vm}: boot disk KB")
        image = c.get(mt["machineImage"]["href"]).doc
        eq(image.get("state"), "AVAILABLE", f"{name}/{vm}: image available")
        same_bytes(local_file(image["imageLocation"]), raws.pop(0), f"{name}/{vm} boot disk")
        volumes = all_components(template, "Volume")
        vts = [volumes[v["href"].rsplit("#", 1)[-1]]["volumeTemplate"] for v in mt.get("volumes", [])]
        eq([v["volumeConfig"]["capacity"] for v in vts], [m * 1024 for m in want["disks"][1:]],
           f"{name}/{vm}: data disks as Volume components named #name (KB)")
        eq([v["initialLocation"] for v in mt.get("volumes", [])],
           ["/dev/vd" + chr(ord("b") + i) for i in range(len(vts))], f"{name}/{vm}: disk order")
        for v in vts:
            if "volumeImage" in v:
                vi = c.get(v["volumeImage"]["href"]).doc
                same_bytes(local_file(vi["imageLocation"]), raws.pop(0), f"{name}/{vm} data disk")
        eq(sorted(n["network"]["href"].rsplit("/", 1)[-1] for n in mt.get("networkInterfaces", [])),
           sorted("#" + net_names[n] for n in want["nics"]),
           f"{name}/{vm}: NICs name the network component (#name)")


GOOD = ("vmware", "virtualbox", "ovirt", "xo", "collection", "nested", "ovf2", "directory",
        "compressed", "chunked", "capacity-small", "capacity-large")
BAD = ("required-section", "buslogic", "traversal", "bad-manifest", "unlisted", "text-vmdk",
       "backing-file", "ovf09", "unsafe-member", "missing-disk", "signed", "bad-signature",
       "cert-without-manifest")


def _good(name):
    def fn():
        d = daemon()
        c = d.client()
        info = packages()[name]
        job, r = run_import(c, "systemTemplates", info["path"])
        eq(job.get("state"), "SUCCESS", f"{name}: import Job ({job.get('statusMessage')})")
        location = r.header("Location")
        check(location, "the reply's Location names the new SystemTemplate")
        isin(location, [a.get("href") for a in job.get("affectedResources", [])],
             "the Job names the template")
        template = c.get(location).doc
        check_template(c, name, info, template)
        if info["expect"].get("skipped_min"):
            msg = job.get("statusMessage", "")
            isin("skipped optional content", msg, f"{name}: the Job lists what it skipped")
            check(msg.count("(line ") >= info["expect"]["skipped_min"],
                  f"{name}: each skipped element with its line ({msg})")
    fn.__name__ = "template_" + name.replace("-", "_")
    fn.__doc__ = f"The {name} package imports into a SystemTemplate with its machines' " \
                 "cpu, memory, disks (same bytes) and networks."
    return fn


def _bad(name):
    def fn():
        d = daemon()
        c = d.client()
        info = packages()[name]
        before = store_and_files(c, d)
        job, _ = run_import(c, "systemTemplates", info["path"])
        eq(job.get("state"), "FAILED", f"{name}: the import fails")
        for part in info["expect"]["error"]:
            isin(part, job.get("statusMessage", ""), f"{name}: the message names it")
        eq(store_and_files(c, d), before, f"{name}: store and image directory unchanged")
        job, _ = run_import(c, "systems", info["path"])
        eq(job.get("state"), "FAILED", f"{name}: the System import fails too")
        eq(store_and_files(c, d), before, f"{name}: still unchanged")
    fn.__name__ = "fails_" + name.replace("-", "_")
    fn.__doc__ = f"The {name} package fails cleanly, naming what is wrong; nothing is left."
    return fn


for _name in GOOD:
    test(_good(_name))
for _name in BAD:
    test(_bad(_name))


@test
def system_from_collection():
    """System import of the section 7 collection: a System with the two
    machines (cpu, memory), the data volume and the shared network, built
    by the System's own Job; the import Job names the System."""
    d = daemon()
    c = d.client()
    info = packages()["collection"]
    job, r = run_import(c, "systems", info["path"])
    eq(job.get("state"), "SUCCESS", f"System import ({job.get('statusMessage')})")
    systems = [a["href"] for a in job.get("affectedResources", [])
               if "/systems/" in a.get("href", "")]
    eq(len(systems), 1, "the Job names the new System")
    system = c.wait_stable(systems[0])
    eq(system.get("name"), "shop", "System named after the collection")
    check(system.get("state") not in ("CREATING", "ERROR"), f"System built ({system.get('state')})")
    members = c.get(system["machines"]["href"]).doc
    got = {}
    for item in coll_items(members):
        m = c.get(item["machine"]["href"]).doc
        got[m["name"]] = (m.get("cpu"), m.get("memory"))
    eq(got, {"web": (1, 512 * 1024), "db": (2, 1024 * 1024)}, "the machines' cpu and memory")
    vols = [c.get(i["volume"]["href"]).doc for i in coll_items(c.get(system["volumes"]["href"]).doc)]
    eq([v.get("capacity") for v in vols], [32 * 1024], "the data volume (KB)")
    nets = [c.get(i["network"]["href"]).doc for i in coll_items(c.get(system["networks"]["href"]).doc)]
    eq([n.get("name") for n in nets], ["appnet"], "the shared network")


@test
def source_checked_before_any_job():
    """A missing source, a file outside --import-dir and another tenant's
    or unknown Package are refused with 400/404 in the request: no Job,
    nothing changed."""
    d = daemon()
    c = d.client()
    before = store_and_files(c, d)
    r = c.post(c.coll("systemTemplates") + "/import",
               {"resourceURI": CIMI + "/Action", "action": CIMI + "/action/import"})
    assert_error(r, 400, ["source"])
    check(not r.header("CIMI-Job-URI"), "no Job for a missing source")
    for source in ("/etc/passwd", "file:///etc/hostname", "packages/nonexistent",
                   "ftp://example.com/x.ova"):
        r = c.post(c.coll("systems") + "/import", import_action(source))
        check(r.status in (400, 404), f"{source} refused ({r.status})")
        check(not r.header("CIMI-Job-URI"), f"no Job for {source}")
    eq(store_and_files(c, d), before, "nothing changed")


@test
def uploaded_package_and_properties():
    """An OVA uploaded as a Package imports by its href; a userConfigurable
    ProductSection property given as ovf.property.<key> overrides the
    package's value in the machine component's properties; a value that
    does not fit its type, a key the package does not make configurable
    and an unknown DeploymentOption fail the import, nothing made."""
    d = daemon()
    c = d.client()
    info = packages()["ovf2"]
    with open(info["path"], "rb") as f:
        body = f.read()
    r = c.request("POST", c.coll("packages"), body=body, content_type="application/x-tar")
    eq(r.status, 201, f"upload ({r.body[:200]!r})")
    pkg = r.header("Location")
    key = "ovf.property.org.example.app.listen_port"
    scratch = "ovf.property.org.example.app.scratch_mb"
    job, r = run_import(c, "systemTemplates", pkg, {key: "9090", scratch: "12"})
    eq(job.get("state"), "SUCCESS", f"import of the Package ({job.get('statusMessage')})")
    template = c.get(r.header("Location")).doc
    eq(template.get("importImage"), pkg, "importImage names the Package")
    vm = components(template, "Machine")[0]
    eq(vm.get("properties", {}).get(key), "9090", "the given property value")
    eq(sorted(v["volumeTemplate"]["volumeConfig"]["capacity"]
              for v in components(template, "Volume")), [12 * 1024, 16 * 1024],
       "the ${scratch_mb} disk takes the given size")
    before = store_and_files(c, d)
    for props, why in (({key: "70000"}, "not a uint16"), ({scratch: "100"}, "not one of"),
                       ({"ovf.property.org.example.app.nonexistent": "1"}, "no user-configurable"),
                       ({key: "80", "ovf.deploymentOption": "huge"}, "DeploymentOptionSection")):
        job, _ = run_import(c, "systemTemplates", pkg, props)
        eq(job.get("state"), "FAILED", f"{props} refused")
        isin(why, job.get("statusMessage", ""), "the message says why")
    eq(store_and_files(c, d), before, "nothing made by the refused imports")


@test
def signed_package_with_untrusted_signer_allowed():
    """A package signed by a self-signed certificate (NAME.cert) imports when
    the Action's properties say ovf.allowUntrustedSigner=true; the Job names
    the signer.  A signature of other bytes fails even then."""
    d = daemon()
    c = d.client()
    info = packages()["signed"]
    job, r = run_import(c, "systemTemplates", info["path"], {"ovf.allowUntrustedSigner": "true"})
    eq(job.get("state"), "SUCCESS", f"signed import ({job.get('statusMessage')})")
    isin("signed by CN=cimid OVF test signer", job.get("statusMessage", ""), "the signer named")
    before = store_and_files(c, d)
    job, _ = run_import(c, "systemTemplates", packages()["bad-signature"]["path"],
                        {"ovf.allowUntrustedSigner": "true"})
    eq(job.get("state"), "FAILED", "a bad signature fails whatever the trust")
    isin("signature does not verify", job.get("statusMessage", ""), "the message says why")
    eq(store_and_files(c, d), before, "nothing left")


@test
def existing_network_by_property():
    """ovf.network.<name> = a Network's href: the machine's NIC names that
    Network and no Network component is made for it; an href that names no
    Network of the principal's is refused in the request (400, no Job)."""
    d = daemon()
    c = d.client()
    r = c.post(c.coll("networks"), {"resourceURI": CIMI + "/NetworkCreate", "name": "existing",
                                    "networkTemplate": {"networkConfig": {"networkType": "PRIVATE"}}})
    check(r.status in (201, 202), f"network created ({r.status})")
    net = r.header("Location")
    info = packages()["xo"]
    key = "ovf.network.Pool-wide network associated with eth0"
    job, r = run_import(c, "systemTemplates", info["path"], {key: net})
    eq(job.get("state"), "SUCCESS", f"import ({job.get('statusMessage')})")
    template = c.get(r.header("Location")).doc
    eq(components(template, "Network"), [], "no Network component for a mapped network")
    mt = components(template, "Machine")[0]["machineTemplate"]
    eq([n["network"]["href"] for n in mt["networkInterfaces"]], [net], "the NIC names the Network")
    before = store_and_files(c, d)
    r = c.post(c.coll("systemTemplates") + "/import",
               import_action(info["path"], {key: c.coll("networks") + "/nonexistent"}))
    assert_error(r, 400, ["ovf.network."])
    check(not r.header("CIMI-Job-URI"), "no Job")
    eq(store_and_files(c, d), before, "nothing changed")


@test
def directory_links_out_refused():
    """A descriptor beside its files: a manifest or a disk that is a link
    out of the descriptor's directory is refused (nothing read, nothing
    made)."""
    d = daemon()
    c = d.client()
    src = os.path.dirname(packages()["directory"]["path"])
    for member, target in (("tinyvbox.mf", "/etc/hostname"),
                           ("virtualbox-disk001.vmdk", "/etc/hostname")):
        work = tempfile.mkdtemp(prefix="links-", dir=packages()["_dir"])
        for f in os.listdir(src):
            if f != member:
                with open(os.path.join(src, f), "rb") as i, open(os.path.join(work, f), "wb") as o:
                    o.write(i.read())
        os.symlink(target, os.path.join(work, member))
        before = store_and_files(c, d)
        job, _ = run_import(c, "systemTemplates", os.path.join(work, "tinyvbox.ovf"))
        eq(job.get("state"), "FAILED", f"{member} linking out: refused")
        isin("outside its directory", job.get("statusMessage", ""), "the message says why")
        eq(store_and_files(c, d), before, "nothing made")


@test
def system_from_nested_collection():
    """System import of a collection inside a collection: the System holds
    the front machine and a sub-System (the nested collection) holding the
    store machine, each level with its Network for the shared OVF network."""
    d = daemon()
    c = d.client()
    job, _ = run_import(c, "systems", packages()["nested"]["path"])
    eq(job.get("state"), "SUCCESS", f"System import ({job.get('statusMessage')})")
    top = c.wait_stable([a["href"] for a in job["affectedResources"]
                         if "/systems/" in a.get("href", "")][0])
    eq(top.get("name"), "portal", "the System is the outer collection")

    def machine_names(system):
        return sorted(c.get(i["machine"]["href"]).doc["name"]
                      for i in coll_items(c.get(system["machines"]["href"]).doc))

    eq(machine_names(top), ["front"], "the outer collection's machine")
    subs = [c.wait_stable(i["system"]["href"])
            for i in coll_items(c.get(top["systems"]["href"]).doc)]
    eq(len(subs), 1, "one sub-System")
    eq(machine_names(subs[0]), ["store"], "the nested collection's machine")
    for s in (top, subs[0]):
        nets = [c.get(i["network"]["href"]).doc.get("name")
                for i in coll_items(c.get(s["networks"]["href"]).doc)]
        eq(nets, ["lan"], f"{s.get('name')}: its Network")
