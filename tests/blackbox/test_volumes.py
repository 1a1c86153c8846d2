"""Volumes (issue 3) on test:///default: VolumeConfigurations and
VolumeTemplates, VolumeCreate by value and by reference with overrides,
growing (never shrinking), VolumeImages registered or copied from a Volume
(then listed in its images), attach and detach as MachineVolume through a
Machine's volumes collection, the 409s that keep a Volume on one machine and
an attached Volume alive, tenant isolation, and attachments across a restart.
The libvirt test driver cannot attach devices: there cimid records the
attachment; test_qemu.py sees a volume inside a real guest."""

from cimitest import (check_created, BOTH, CAPABILITY, NS, Client, Daemon, action_doc, assert_error,
                      machine_create_doc, to_xml,
                      assert_unchanged, check, coll_items, create_machine, do_action, eq, ids,
                      isin, ne, notin, op, rels, shared, store_snapshot, test)

import os
import tempfile
from xml.sax.saxutils import quoteattr

import cimitest

GIB = 1048576  # KB


_images = None


def daemon():
    """The module's cimid, with an images directory holding data.disk and
    x.disk (not *.qcow2/*.img/*.raw: not registered as MachineImages) for
    VolumeImages registered from a file."""
    global _images
    if _images is None:
        _images = tempfile.mkdtemp(prefix="cimitest-volumes-images-")
        cimitest._tmpdirs.append(_images)
        for name in ("data.disk", "x.disk"):
            with open(os.path.join(_images, name), "wb") as f:
                f.write(b"\0" * 4096)
    d = shared("volumes", args=["--images-dir", _images])
    d.images = _images
    return d


def client(fmt="json", user="alice"):
    return Client(daemon(), user, fmt=fmt)


def shipped_config(c, name):
    for item in coll_items(c.list("volumeConfigs")):
        if item.get("name") == name:
            return item
    raise AssertionError(f"VolumeConfiguration {name} is shipped")


def create_doc(name, template, **common):
    doc = {"resourceURI": NS + "/VolumeCreate", "name": name}
    doc.update(common)
    doc["volumeTemplate"] = template
    return doc


def create_volume(c, name, template=None, **common):
    """POST a VolumeCreate: 201 (Job done) or 202 (CREATING) + Location +
    Job, with delete offered; returns the Volume once AVAILABLE."""
    template = template or {"volumeConfig": {"capacity": GIB}}
    r = check_created(c.post(c.add_href("volumes"), create_doc(name, template, **common)),
                      f"create volume {name}")
    loc, job = r.header("Location"), r.header("CIMI-Job-URI")
    eq(r.doc["resourceURI"], NS + "/Volume", "create reply is the Volume")
    eq(r.doc.get("id"), loc, "body id = Location")
    if r.status == 202:
        eq(r.doc.get("state"), "CREATING", "state in the create reply")
    isin("delete", rels(r.doc), "a new Volume offers delete")
    jd = c.wait_job(job)
    isin(loc, [a.get("href") for a in jd.get("affectedResources") or []], "Job names the volume")
    return c.wait_state(loc, "AVAILABLE")


def volumes_href(c, machine):
    return c.read(machine["id"])["volumes"]["href"]


def attach(c, machine, volume, location=None):
    body = {"resourceURI": NS + "/MachineVolume"}
    if location:
        body["initialLocation"] = location
    body["volume"] = {"href": volume["id"]}
    return c.post(c.add_href(volumes_href(c, machine)), body)


def attach_ok(c, machine, volume, location=None):
    """Attach: 201/202 + Location of the item + Job; delete first in operations."""
    r = check_created(attach(c, machine, volume, location), "attach")
    loc, job = r.header("Location"), r.header("CIMI-Job-URI")
    check(loc and loc.startswith(volumes_href(c, machine) + "/"), f"Location {loc!r} is an item "
          "of the machine's volumes")
    eq(r.doc["resourceURI"], NS + "/MachineVolume", "attach reply is the MachineVolume")
    eq(r.doc.get("id"), loc, "body id = Location")
    eq(r.doc.get("volume", {}).get("href"), volume["id"], "the MachineVolume names the volume")
    isin("edit", rels(r.doc), "a MachineVolume offers edit")
    if r.status == 202:
        notin("delete", rels(r.doc), "no detach while the attach Job runs")
    jd = c.wait_job(job)
    eq(jd.get("targetResource", {}).get("href"), volumes_href(c, machine),
       "targetResource of the attach = the machine's volumes collection")
    isin(loc, [a.get("href") for a in jd.get("affectedResources") or []], "Job names the item")
    item = c.read(loc)
    eq(rels(item)[:1], ["delete"], "delete comes first in the MachineVolume's operations")
    return item


def detach_ok(c, item):
    r = c.delete(op(item, "delete"))
    eq(r.status, 200, f"detach (reply {r.body[:300]!r})")
    eq(c.get(item["id"]).status, 404, "a detached MachineVolume is gone")


def delete_ok(c, doc):
    r = c.delete(op(c.read(doc["id"]), "delete"))
    eq(r.status, 200, f"delete {doc['id']} (reply {r.body[:300]!r})")
    eq(c.get(doc["id"]).status, 404, "deleted resource answers 404")


# ---------------------------------------------------------------- catalogue

@test
def shipped_and_metadata():
    c = client()
    eq(shipped_config(c, "small-volume").get("capacity"), GIB, "small-volume is 1 GiB")
    eq(shipped_config(c, "large-volume").get("capacity"), 10 * GIB, "large-volume is 10 GiB")
    entries = [e for e in coll_items(c.list("resourceMetadata")) if e.get("name") == "Volume"]
    eq(len(entries), 1, "one ResourceMetadata entry for Volume")
    caps = {cap["name"]: cap for cap in entries[0].get("capabilities") or []}
    for name, value in (("VolumeConfigByValue", "true"), ("VolumeTemplateByValue", "true"),
                        ("VolumeImageByValue", "true"), ("SharedVolumeSupport", "false")):
        isin(name, caps, "Volume capabilities")
        eq(caps[name].get("uri"), f"{CAPABILITY}Volume/{name}", f"{name} uri")
        eq(caps[name].get("value"), value, f"{name} value")
    for attr in ("volumes", "volumeTemplates", "volumeConfigs", "volumeImages"):
        check(op(c.list(attr), "add"), f"{attr} offers add")


@test(formats=BOTH)
def configurations_crud(fmt):
    c = client(fmt)
    add = c.add_href("volumeConfigs")
    r = c.post(add, {"resourceURI": NS + "/VolumeConfiguration", "name": f"cfg-{fmt}",
                     "format": "ext4", "capacity": 2 * GIB})
    eq(r.status, 201, f"create VolumeConfiguration (reply {r.body[:300]!r})")
    cfg = c.read(r.header("Location"))
    eq((cfg.get("format"), cfg.get("capacity")), ("ext4", 2 * GIB), "configuration as sent")
    body = dict(cfg)
    body["capacity"] = 3 * GIB
    r = c.put(op(cfg, "edit"), body)
    eq(r.status, 200, "PUT VolumeConfiguration")
    eq(c.read(cfg["id"]).get("capacity"), 3 * GIB, "capacity changed")
    before = store_snapshot(c)
    for bad, what in ((0, "zero"), (-5, "negative")):
        r = c.post(add, {"resourceURI": NS + "/VolumeConfiguration", "name": "bad",
                         "capacity": bad})
        assert_error(r, 400, "capacity", fmt=fmt)
    r = c.post(add, {"resourceURI": NS + "/VolumeConfiguration", "name": "no-capacity"})
    assert_error(r, 400, "capacity", fmt=fmt)
    assert_unchanged(c, before)
    delete_ok(c, cfg)


@test(formats=BOTH)
def templates_crud(fmt):
    c = client(fmt)
    add = c.add_href("volumeTemplates")
    small = shipped_config(c, "small-volume")["id"]
    r = c.post(add, {"resourceURI": NS + "/VolumeTemplate", "name": f"tpl-{fmt}",
                     "volumeConfig": {"href": small}})
    eq(r.status, 201, f"template by reference (reply {r.body[:300]!r})")
    by_ref = c.read(r.header("Location"))
    eq(by_ref.get("volumeConfig", {}).get("href"), small, "volumeConfig reference kept")
    e = c.read(by_ref["id"], query=[("$expand", "volumeConfig")])
    eq(e["volumeConfig"].get("capacity"), GIB, "$expand=volumeConfig")
    r = c.post(add, {"resourceURI": NS + "/VolumeTemplate", "name": f"tpl-value-{fmt}",
                     "volumeConfig": {"format": "xfs", "capacity": 4096}})
    eq(r.status, 201, "template with its configuration by value")
    by_value = c.read(r.header("Location"))
    eq(by_value.get("volumeConfig", {}).get("capacity"), 4096, "by-value configuration kept")
    before = store_snapshot(c)
    assert_error(c.post(add, {"resourceURI": NS + "/VolumeTemplate", "name": "no-config"}), 400,
                 "volumeConfig", fmt=fmt)
    assert_error(c.post(add, {"resourceURI": NS + "/VolumeTemplate", "name": "dangling",
                              "volumeConfig": {"href": c.coll("volumeConfigs") + "/nope"}}),
                 400, "volumeConfig", fmt=fmt)
    assert_error(c.post(add, {"resourceURI": NS + "/VolumeTemplate", "name": "no-capacity",
                              "volumeConfig": {"format": "ext4"}}), 400, "capacity", fmt=fmt)
    assert_error(c.post(add, {"resourceURI": NS + "/VolumeTemplate", "name": "meters",
                              "volumeConfig": {"href": small},
                              "eventLogTemplate": {"href": "http://x/y"}}),
                 400, "eventLogTemplate", fmt=fmt)
    assert_unchanged(c, before)
    delete_ok(c, by_ref)
    delete_ok(c, by_value)


# ---------------------------------------------------------------- create

@test(formats=BOTH)
def create_by_value(fmt):
    """cimi.md 3.4's example: template and configuration by value."""
    c = client(fmt)
    v = create_volume(c, f"v-value-{fmt}", {"volumeConfig": {
        "type": NS + "/mapped", "capacity": 1024}}, description="by value",
        properties={"k": "v"})
    eq((v.get("capacity"), v.get("type"), v.get("bootable")), (1024, NS + "/mapped", False),
       "capacity, type and bootable from the configuration")
    eq((v.get("description"), v.get("properties")), ("by value", {"k": "v"}),
       "description and properties from the VolumeCreate")
    eq(rels(v), ["edit", "delete"], "an AVAILABLE Volume offers edit and delete")
    isin(v["id"], ids(c.list("volumes")), "listed in volumes")
    images = c.list(v["images"]["href"])
    eq(images["resourceURI"], NS + "/VolumeVolumeImageCollection", "images collection type")
    eq(images.get("count"), 0, "no images yet")
    eq(op(images, "add"), None, "images are listed by the provider (no add)")
    delete_ok(c, v)


@test(formats=BOTH)
def create_by_reference(fmt):
    c = client(fmt)
    small = shipped_config(c, "small-volume")["id"]
    large = shipped_config(c, "large-volume")["id"]
    r = c.post(c.add_href("volumeTemplates"), {"resourceURI": NS + "/VolumeTemplate",
                                               "name": f"ref-{fmt}",
                                               "volumeConfig": {"href": small}})
    eq(r.status, 201, "create VolumeTemplate")
    tpl = r.header("Location")
    v1 = create_volume(c, f"v-ref-{fmt}", {"href": tpl})
    eq(v1.get("capacity"), GIB, "capacity of the referenced template's configuration")
    v2 = create_volume(c, f"v-override-{fmt}", {"href": tpl, "volumeConfig": {"href": large}})
    eq(v2.get("capacity"), 10 * GIB, "volumeConfig overridden by another reference")
    v3 = create_volume(c, f"v-config-override-{fmt}",
                       {"volumeConfig": {"href": small, "capacity": 3 * GIB}})
    eq(v3.get("capacity"), 3 * GIB, "capacity overridden in a referenced configuration")
    eq(c.read(tpl).get("volumeConfig", {}).get("href"), small, "the template is unchanged")
    for v in (v1, v2, v3):
        delete_ok(c, v)


@test(formats=BOTH)
def create_errors(fmt):
    c = client(fmt)
    add = c.add_href("volumes")
    before = store_snapshot(c)
    cases = [
        ({"resourceURI": NS + "/VolumeCreate", "name": "x"}, 400, "volumeTemplate"),
        (create_doc("x", {"volumeImage": {"imageLocation": "file:///x"}}), 400, "volumeConfig"),
        (create_doc("x", {"volumeConfig": {"capacity": 0}}), 400, "capacity"),
        (create_doc("x", {"volumeConfig": {"format": "ext4"}}), 400, "capacity"),
        (create_doc("x", {"href": c.coll("volumeTemplates") + "/nope"}), 400, "volumeTemplate"),
        (create_doc("x", {"volumeConfig": {"href": c.coll("machineConfigs") + "/m1-small"}}), 400,
         "volumeConfig"),
    ]
    for body, status, mention in cases:
        # the first is not schema-valid XML on purpose: the server says what is missing
        assert_error(c.post(add, body, validate_request=False), status, mention, fmt=fmt)
    if fmt == "json":
        body = create_doc("x", {"volumeConfig": {"capacity": 5}})
        body["bogus"] = 1
        assert_error(c.post(add, body), 400, "bogus", fmt=fmt)
    assert_unchanged(c, before)


# ---------------------------------------------------------------- capacity

@test(formats=BOTH)
def grow_never_shrink(fmt):
    c = client(fmt)
    v = create_volume(c, f"grow-{fmt}")
    body = dict(v)
    body["capacity"] = 2 * GIB
    r = c.put(op(v, "edit"), body)
    eq(r.status, 200, f"PUT a larger capacity (reply {r.body[:300]!r})")
    eq(r.doc.get("capacity"), 2 * GIB, "the reply shows the new capacity")
    eq(r.doc.get("state"), "AVAILABLE", "AVAILABLE again after the resize Job")
    jd = c.wait_job(r.header("CIMI-Job-URI"))
    eq(jd.get("targetResource", {}).get("href"), v["id"], "resize Job targets the volume")
    g = c.read(v["id"])
    eq(g.get("capacity"), 2 * GIB, "grown")
    before = store_snapshot(c)
    body = dict(g)
    body["capacity"] = GIB
    assert_error(c.put(op(g, "edit"), body), 400, ("capacity", "grows"), fmt=fmt)
    body["capacity"] = 0
    assert_error(c.put(op(g, "edit"), body), 400, "capacity", fmt=fmt)
    assert_unchanged(c, before)
    eq(c.read(v["id"]).get("capacity"), 2 * GIB, "a refused shrink changes nothing")
    # a partial update leaves the capacity alone
    r = c.put(op(g, "edit"), {"resourceURI": NS + "/Volume", "name": f"grown-{fmt}"},
              query=[("$select", "name")])
    eq(r.status, 200, "partial update of the name")
    eq((c.read(v["id"]).get("name"), c.read(v["id"]).get("capacity")), (f"grown-{fmt}", 2 * GIB),
       "name changed, capacity kept")
    delete_ok(c, v)


# ---------------------------------------------------------------- attach, detach

@test(formats=BOTH)
def attach_detach(fmt):
    c = client(fmt)
    m = create_machine(c, f"att-{fmt}", "STARTED")
    v = create_volume(c, f"att-{fmt}")
    coll = c.list(m["volumes"]["href"])
    eq(coll.get("count"), 0, "no volumes attached yet")
    eq(op(coll, "add"), m["volumes"]["href"], "the machine's volumes offer add")
    item = attach_ok(c, m, v, "/dev/vdc")
    eq(item.get("initialLocation"), "/dev/vdc", "initialLocation as asked")
    eq(rels(item), ["delete", "edit"], "a MachineVolume offers delete (first) and edit")
    coll = c.list(m["volumes"]["href"])
    eq(coll.get("count"), 1, "one volume attached")
    eq(ids(coll), [item["id"]], "the attachment is listed")
    e = c.read(item["id"], query=[("$expand", "volume")])
    eq(e["volume"].get("capacity"), GIB, "$expand=volume inlines the Volume")
    eq(c.read(v["id"]).get("state"), "AVAILABLE", "an attached Volume stays AVAILABLE")

    # one machine at a time; an attached volume cannot be deleted
    m2 = create_machine(c, f"att2-{fmt}", "STARTED")
    before = store_snapshot(c)
    assert_error(attach(c, m, v), 409, "attached", fmt=fmt)
    assert_error(attach(c, m2, v), 409, "attached", fmt=fmt)
    notin("delete", rels(c.read(v["id"])), "an attached Volume offers no delete")
    assert_error(c.delete(v["id"]), 409, "attached", fmt=fmt)
    assert_unchanged(c, before)
    eq(c.list(m["volumes"]["href"]).get("count"), 1, "still one attachment")
    eq(c.list(m2["volumes"]["href"]).get("count"), 0, "nothing attached to the other machine")
    eq(c.read(v["id"]).get("state"), "AVAILABLE", "the volume is unchanged")
    # an attachment's device does not change (its name may: test_machine_changes)
    body = dict(item)
    body["initialLocation"] = "/dev/vdz"
    assert_error(c.put(item["id"], body), 400, "initialLocation", fmt=fmt)

    detach_ok(c, item)
    eq(c.list(m["volumes"]["href"]).get("count"), 0, "nothing attached after detach")
    item2 = attach_ok(c, m2, v)
    detach_ok(c, item2)
    delete_ok(c, v)
    for mm in (m, m2):
        delete_ok(c, mm)


@test
def attach_devices():
    """Without initialLocation the first free /dev/vdX after the machine's
    disks; /dev/vdX in use -> 409; a name of another bus -> 400, never
    silently another device."""
    c = client()
    m = create_machine(c, "devices", "STARTED")
    vols = [create_volume(c, f"dev-{i}") for i in range(4)]
    first = attach_ok(c, m, vols[0])
    eq(first.get("initialLocation"), "/dev/vdb", "first volume after the boot disk")
    before = store_snapshot(c)
    for name in ("/dev/sdf", "/dev/hdb", "/dev/xvdb", "/mnt/data", "sdb", "/dev/vd", "/dev/vdB"):
        assert_error(attach(c, m, vols[1], name), 400, "initialLocation")
    assert_unchanged(c, before)
    second = attach_ok(c, m, vols[1])
    eq(second.get("initialLocation"), "/dev/vdc", "the next free virtio disk")
    assert_error(attach(c, m, vols[2], "/dev/vda"), 409, "vda")
    assert_error(attach(c, m, vols[2], "/dev/vdc"), 409, "vdc")
    assert_unchanged(c, before)
    third = attach_ok(c, m, vols[2], "vdf")
    eq(third.get("initialLocation"), "/dev/vdf", "a free device as asked")
    detach_ok(c, first)
    again = attach_ok(c, m, vols[3])
    eq(again.get("initialLocation"), "/dev/vdb", "a freed device is used again")
    items = coll_items(c.list(m["volumes"]["href"]))
    eq(sorted(i["initialLocation"] for i in items), ["/dev/vdb", "/dev/vdc", "/dev/vdf"],
       "three attachments")
    # deleting the machine detaches its volumes; the volumes stay
    delete_ok(c, m)
    for v in vols:
        eq(c.read(v["id"]).get("state"), "AVAILABLE", "the volume survives its machine")
        delete_ok(c, v)


@test(formats=BOTH)
def attach_refused(fmt):
    c = client(fmt)
    m = create_machine(c, f"refuse-{fmt}", "STARTED")
    v = create_volume(c, f"refuse-{fmt}")
    add = c.add_href(m["volumes"]["href"])
    before = store_snapshot(c)
    assert_error(c.post(add, {"resourceURI": NS + "/MachineVolume"}), 400, "volume", fmt=fmt)
    assert_error(c.post(add, {"resourceURI": NS + "/MachineVolume",
                              "volume": {"href": m["id"]}}), 400, "Volume", fmt=fmt)
    assert_error(c.post(add, {"resourceURI": NS + "/MachineVolume",
                              "volume": {"href": c.coll("volumes") + "/nope"}}), 400, "Volume",
                 fmt=fmt)
    # a Machine's disks take Disks, not volumes (adding disks: test_machine_changes)
    assert_error(c.post(m["disks"]["href"], {"resourceURI": NS + "/MachineVolume",
                                             "volume": {"href": v["id"]}}), 400, fmt=fmt)
    assert_unchanged(c, before)
    # a suspended machine takes no volume (and its volumes offer no add)
    m, _ = do_action(c, c.read(m["id"]), "suspend", "SUSPENDED")
    before = store_snapshot(c)
    notin("add", rels(c.list(m["volumes"]["href"])), "a SUSPENDED machine's volumes offer no add")
    assert_error(c.post(m["volumes"]["href"], {"resourceURI": NS + "/MachineVolume",
                                               "volume": {"href": v["id"]}}), 409, "SUSPENDED",
                 fmt=fmt)
    assert_unchanged(c, before)
    m, _ = do_action(c, m, "start", "STARTED")
    # a stopped one does (its definition), and lets it go again
    m, _ = do_action(c, m, "stop", "STOPPED", force=True)
    item = attach_ok(c, m, v)
    m, _ = do_action(c, c.read(m["id"]), "start", "STARTED")
    eq(c.list(m["volumes"]["href"]).get("count"), 1, "attached across a start")
    detach_ok(c, item)
    delete_ok(c, v)
    delete_ok(c, m)


# ---------------------------------------------------------------- images

@test(formats=BOTH)
def snapshot_into_image(fmt):
    c = client(fmt)
    v = create_volume(c, f"snap-{fmt}", {"volumeConfig": {"capacity": 2 * GIB}})
    r = c.post(c.add_href("volumeImages"), {"resourceURI": NS + "/VolumeImage",
                                            "name": f"img-{fmt}", "imageLocation": v["id"]})
    check_created(r, "copy a volume into a VolumeImage")
    if r.status == 202:
        eq(r.doc.get("state"), "CREATING", "CREATING while copied")
    jd = c.wait_job(r.header("CIMI-Job-URI"))
    img = c.wait_state(r.header("Location"), "AVAILABLE")
    ne(img.get("imageLocation"), v["id"], "imageLocation names the copy afterwards")
    isin(img["id"], [a.get("href") for a in jd.get("affectedResources") or []],
         "Job names the image")
    listing = c.list(c.read(v["id"])["images"]["href"])
    eq(listing.get("count"), 1, "the image is listed in the volume's images")
    item = coll_items(listing)[0]
    eq(item.get("volumeImage", {}).get("href"), img["id"], "the listing names the image")
    eq(c.read(item["id"]).get("volumeImage", {}).get("href"), img["id"], "listing read by id")
    e = c.read(v["id"], query=[("$expand", "images")])
    eq(e["images"].get("count"), 1, "$expand=images")
    # a volume from that image
    w = create_volume(c, f"from-img-{fmt}", {"volumeConfig": {"capacity": GIB},
                                             "volumeImage": {"href": img["id"]}})
    eq(w.get("state"), "AVAILABLE", "a volume made from the image")
    # the image goes, and its listing with it; the volumes stay
    delete_ok(c, img)
    eq(c.list(c.read(v["id"])["images"]["href"]).get("count"), 0, "listing gone with the image")
    for vol in (v, w):
        delete_ok(c, vol)


@test
def images_registered_and_by_value():
    c = client()
    r = c.post(c.add_href("volumeImages"), {"resourceURI": NS + "/VolumeImage", "name": "ext",
                                            "imageLocation": "file://" + c.d.images + "/data.disk",
                                            "bootable": True})
    eq(r.status, 201, "register a VolumeImage from a location")
    img = c.read(r.header("Location"))
    eq((img.get("state"), img.get("bootable")), ("AVAILABLE", True), "AVAILABLE at once")
    v = create_volume(c, "from-ext", {"volumeConfig": {"capacity": GIB},
                                      "volumeImage": {"href": img["id"]}})
    eq(v.get("bootable"), True, "bootable from the image")
    w = create_volume(c, "from-value", {"volumeConfig": {"capacity": GIB},
                                        "volumeImage": {"imageLocation": c.d.images + "/x.disk"}})
    eq(w.get("state"), "AVAILABLE", "image by value")
    assert_error(c.post(c.add_href("volumeImages"), {"resourceURI": NS + "/VolumeImage",
                                                     "name": "no-location"}), 400, "imageLocation")
    assert_error(c.post(c.add_href("volumeImages"), {
        "resourceURI": NS + "/VolumeImage", "name": "bad",
        "imageLocation": c.coll("volumes") + "/nope"}), 400, "Volume")
    for doc in (v, w, img):
        delete_ok(c, doc)


# ---------------------------------------------------------------- tenants

@test(formats=BOTH)
def tenant_isolation(fmt):
    a, b = client(fmt, "alice"), client(fmt, "bob")
    av = create_volume(a, f"alice-vol-{fmt}")
    am = create_machine(a, f"alice-m-{fmt}", "STARTED")
    bm = create_machine(b, f"bob-m-{fmt}", "STARTED")
    assert_error(b.get(av["id"]), 404, fmt=fmt)
    notin(av["id"], ids(b.list("volumes")), "bob does not list alice's volume")
    assert_error(b.delete(av["id"]), 404, fmt=fmt)
    before = store_snapshot(a)
    assert_error(attach(b, bm, av), 400, "does not name a Volume", fmt=fmt)
    assert_error(b.post(b.add_href("volumeImages"), {"resourceURI": NS + "/VolumeImage",
                                                     "name": "steal", "imageLocation": av["id"]}),
                 400, "Volume", fmt=fmt)
    assert_error(b.post(am["volumes"]["href"], {"resourceURI": NS + "/MachineVolume",
                                                "volume": {"href": av["id"]}}), 404, fmt=fmt)
    assert_unchanged(a, before)
    item = attach_ok(a, am, av)
    assert_error(b.get(item["id"]), 404, fmt=fmt)
    assert_error(b.delete(item["id"]), 404, fmt=fmt)
    eq(Client(daemon(), "admin", fmt=fmt).read(av["id"]).get("name"), f"alice-vol-{fmt}",
       "the admin sees alice's volume")
    detach_ok(a, item)
    delete_ok(a, av)
    delete_ok(a, am)
    delete_ok(b, bm)


# ---------------------------------------------------------------- restart

@test
def attachments_survive_restart():
    """The test driver forgets its machines; cimid re-creates them from the
    store, and their volumes with them."""
    with Daemon(name="volumes-restart") as d:
        c = Client(d, "alice")
        m = create_machine(c, "keeper", "STARTED")
        v = create_volume(c, "kept")
        item = attach_ok(c, m, v, "/dev/vdd")
        d.restart()
        c = Client(d, "alice")
        eq(c.wait_state(m["id"], "STARTED").get("state"), "STARTED", "machine re-created")
        g = c.read(item["id"])
        eq((g.get("initialLocation"), g.get("volume", {}).get("href")), ("/dev/vdd", v["id"]),
           "the attachment is kept")
        assert_error(c.delete(v["id"]), 409, "attached")
        detach_ok(c, g)
        delete_ok(c, v)


@test(formats=BOTH)
def machine_template_volumes(fmt):
    """A MachineTemplate's volumes are attached with the new machine; a volume
    already attached elsewhere refuses the whole create (409, nothing made)."""
    c = client(fmt)
    v = create_volume(c, f"tplvol-{fmt}")
    body = machine_create_doc(c, f"with-vol-{fmt}", "STARTED",
                              volumes=[{"href": v["id"], "initialLocation": "/dev/vdd"}])
    if fmt == "xml":  # the schema has initialLocation as an XML attribute of <volume>
        body = to_xml(body).replace(
            f'<volume href={quoteattr(v["id"])}><initialLocation>/dev/vdd</initialLocation></volume>',
            f'<volume href={quoteattr(v["id"])} initialLocation="/dev/vdd"/>')
    m = create_machine(c, f"with-vol-{fmt}", "STARTED", body=body)
    items = coll_items(c.list(m["volumes"]["href"]))
    eq(len(items), 1, "the template's volume is attached to the new machine")
    eq(items[0].get("initialLocation"), "/dev/vdd", "at the template's initialLocation")
    eq(items[0].get("volume", {}).get("href"), v["id"], "naming the volume")

    before = store_snapshot(c)
    body = machine_create_doc(c, f"second-{fmt}", volumes=[{"href": v["id"]}])
    assert_error(c.post(c.add_href("machines"), body), 409, "attached", fmt=fmt)
    body = machine_create_doc(c, f"bad-{fmt}", volumes=[{"href": m["id"]}])
    assert_error(c.post(c.add_href("machines"), body), 400, "volume", fmt=fmt)
    assert_unchanged(c, before)

    delete_ok(c, m)
    item = attach_ok(c, create_machine(c, f"after-{fmt}"), v)
    eq(item["volume"]["href"], v["id"], "the volume is free again once its machine is gone")
