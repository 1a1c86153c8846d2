"""The 1.1 sub-collections and template parts of existing families (issue 11
item 14) on test:///default, in JSON and XML (every XML reply validated by
the harness against the 1.0.2 schema):

* Machine.snapshots (MachineSnapshot): a SNAPSHOT MachineImage is listed
  in its Machine's snapshots when taken; no add (the schema's collection
  has no operations: POST is 405); DELETE of an item deletes the snapshot;
  deleting the image through machineImages unlists it; the images outlive
  the Machine; another tenant gets 404 for all of it.
* Network.networkPorts (NetworkNetworkPort): the ports on a Network,
  listed when made and gone with them; provider-made (POST and DELETE
  405); a port on a shared network is seen only by its own tenant.
* A Network that stops stops its ports, and starting it starts them again
  (a port stopped by its owner stays stopped).
* MachineTemplate volumeTemplates: new Volumes made by the machine's create
  Job and attached at their initialLocation, kept when the machine goes
  unless the entry's deleteWithMachine (cimid extension) says otherwise;
  bad entries refuse the whole create with nothing made; a create that
  fails removes the Volumes it made; a create Job interrupted by a crash
  ends with the machine and all its volumes, none twice.
"""

import json
import sqlite3

from cimitest import (ACTION, BOTH, NS, Client, Daemon, action_doc, assert_error,
                      assert_unchanged, check, coll_items, create_machine, eq, ids, isin,
                      machine_create_doc, notin, op, rels, shared, store_snapshot, test, to_xml)

CIMID_NS = "http://cimid.dev/ns/1"
GIB = 1048576  # KB


def daemon():
    return shared("families")


def client(fmt="json", user="alice"):
    return Client(daemon(), user, fmt=fmt)


def ref(doc, attr):
    return (doc.get(attr) or {}).get("href")


def created(r, what):
    """A create answered with the resource (201, or 202 while its Job runs)."""
    isin(r.status, (201, 202), f"create {what} (reply {r.body[:300]!r})")
    check(r.header("Location"), f"create {what}: Location")
    return r.header("Location"), r.header("CIMI-Job-URI")


# ---------------------------------------------------------------- Machine.snapshots

def take_snapshot(c, machine, name):
    r = c.post(c.add_href("machineImages"), {"resourceURI": NS + "/MachineImage", "name": name,
                                             "type": "SNAPSHOT", "imageLocation": machine["id"]})
    loc, job = created(r, f"snapshot {name}")
    c.wait_job(job)
    return c.wait_state(loc, "AVAILABLE")


def snapshot_of(item):
    """The image a MachineSnapshot names (JSON `snapshot`; the schema's XML
    element is spelled `shapshot`)."""
    return ref(item, "snapshot") or ref(item, "shapshot")


def snapshots(c, machine):
    return c.list(c.read(machine["id"])["snapshots"]["href"])


@test(formats=BOTH)
def machine_snapshots(fmt):
    c = client(fmt)
    m = create_machine(c, f"snapm-{fmt}", "STARTED")
    href = m.get("snapshots", {}).get("href")
    eq(href, m["id"] + "/snapshots", "a Machine refers to its snapshots collection")
    empty = c.list(href)
    eq((empty.get("count"), coll_items(empty)), (0, []), "no snapshots yet")
    eq(rels(empty), [], "the snapshots collection offers no add")
    s1 = take_snapshot(c, m, f"s1-{fmt}")
    s2 = take_snapshot(c, m, f"s2-{fmt}")
    listing = snapshots(c, m)
    eq(listing.get("count"), 2, "both snapshots are listed")
    items = coll_items(listing)
    eq(sorted(snapshot_of(i) for i in items), sorted([s1["id"], s2["id"]]),
       "the items name the SNAPSHOT images")
    for item in items:
        check(item["id"].startswith(href + "/"), f"item {item['id']} is under the collection")
        eq(rels(c.read(item["id"])), ["delete"], "an item offers delete only")
    e = c.read(m["id"], query=[("$expand", "snapshots")])
    eq(e["snapshots"].get("count"), 2, "$expand=snapshots")
    # no add: POST is 405, nothing made; an item is not edited
    before = store_snapshot(c)
    assert_error(c.post(href, {"resourceURI": NS + "/MachineSnapshot", "name": "x"}), 405,
                 fmt=fmt)
    assert_unchanged(c, before)
    item1 = next(i for i in items if snapshot_of(i) == s1["id"])
    check(op(c.read(item1["id"]), "edit") is None, "no edit on a MachineSnapshot")
    # DELETE of an item deletes the snapshot, and unlists it
    r = c.delete(op(c.read(item1["id"]), "delete"))
    eq(r.status, 200, f"delete a MachineSnapshot (reply {r.body[:300]!r})")
    assert_error(c.get(s1["id"]), 404, fmt=fmt)
    assert_error(c.get(item1["id"]), 404, fmt=fmt)
    eq([snapshot_of(i) for i in coll_items(snapshots(c, m))], [s2["id"]], "s2 remains listed")
    eq(ref(c.read(s2["id"]), "relatedImage"), None, "s2 re-linked past the deleted s1")
    # the image deleted through machineImages leaves the collection too
    s3 = take_snapshot(c, m, f"s3-{fmt}")
    eq(c.delete(s2["id"]).status, 200, "delete s2 through machineImages")
    eq([snapshot_of(i) for i in coll_items(snapshots(c, m))], [s3["id"]], "s2 unlisted")
    # a snapshot lives in its machine's disk: it goes with the machine
    eq(c.delete(m["id"]).status, 200, "delete the machine")
    assert_error(c.get(s3["id"]), 404, fmt=fmt)


@test(formats=BOTH)
def machine_snapshots_tenants(fmt):
    a, b = client(fmt, "alice"), client(fmt, "bob")
    m = create_machine(a, f"snapt-{fmt}", "STOPPED")
    s = take_snapshot(a, m, f"st-{fmt}")
    href = m["snapshots"]["href"]
    item = coll_items(a.list(href))[0]
    before = store_snapshot(a)
    for url in (href, item["id"]):
        assert_error(b.get(url), 404, fmt=fmt)
    assert_error(b.delete(item["id"]), 404, fmt=fmt)
    # no one adds to a snapshots collection: the same 405 as for a guessed id
    assert_error(b.post(href, {"resourceURI": NS + "/MachineSnapshot"}), 405, fmt=fmt)
    assert_error(b.post(b.coll("machines") + "/guessed/snapshots",
                        {"resourceURI": NS + "/MachineSnapshot"}), 405, fmt=fmt)
    assert_error(b.get(m["id"], query=[("$expand", "snapshots")]), 404, fmt=fmt)
    assert_unchanged(a, before)
    eq(a.list(href).get("count"), 1, "alice's listing is untouched")
    eq(Client(daemon(), "admin", fmt=fmt).list(href).get("count"), 1, "the admin sees it")
    eq(a.delete(m["id"]).status, 200, "delete the machine")
    assert_error(a.get(s["id"]), 404, fmt=fmt)  # gone with its machine


# ---------------------------------------------------------------- Network.networkPorts

def create_network(c, name):
    r = c.post(c.add_href("networks"), {"resourceURI": NS + "/NetworkCreate", "name": name,
                                        "networkTemplate": {"networkConfig": {
                                            "networkType": "PRIVATE"}}})
    loc, job = created(r, f"network {name}")
    c.wait_job(job)
    return c.wait_state(loc, "STARTED")


def create_port(c, network, name):
    r = c.post(c.add_href("networkPorts"), {
        "resourceURI": NS + "/NetworkPortCreate", "name": name,
        "networkPortTemplate": {"network": {"href": network["id"]},
                                "networkPortConfig": {"portType": "ACCESS"}}})
    loc, _ = created(r, f"port {name}")
    return c.read(loc)


def ports_of(c, network):
    return c.list(c.read(network["id"])["networkPorts"]["href"])


@test(formats=BOTH)
def network_ports(fmt):
    c = client(fmt)
    net = create_network(c, f"pnet-{fmt}")
    href = net.get("networkPorts", {}).get("href")
    eq(href, net["id"] + "/networkPorts", "a Network refers to its networkPorts collection")
    eq(c.list(href).get("count"), 0, "no ports yet")
    p1, p2 = create_port(c, net, f"p1-{fmt}"), create_port(c, net, f"p2-{fmt}")
    listing = ports_of(c, net)
    eq(listing.get("count"), 2, "both ports are listed")
    eq(rels(listing), [], "the provider lists the ports: no add")
    items = coll_items(listing)
    eq(sorted(ref(i, "networkPort") for i in items), sorted([p1["id"], p2["id"]]),
       "the items name the ports")
    item = items[0]
    eq(ref(c.read(item["id"]), "networkPort"), ref(item, "networkPort"), "an item read by id")
    e = c.read(net["id"], query=[("$expand", "networkPorts")])
    eq(e["networkPorts"].get("count"), 2, "$expand=networkPorts")
    before = store_snapshot(c)
    assert_error(c.post(href, {"resourceURI": NS + "/NetworkNetworkPort",
                               "networkPort": {"href": p1["id"]}}), 405, fmt=fmt)
    assert_error(c.delete(item["id"]), 405, fmt=fmt)
    assert_unchanged(c, before)
    # a port goes, and its listing with it
    eq(c.delete(p1["id"]).status, 200, "delete a port")
    eq([ref(i, "networkPort") for i in coll_items(ports_of(c, net))], [p2["id"]],
       "the deleted port is no longer listed")
    eq(c.delete(p2["id"]).status, 200, "delete the other port")
    eq(ports_of(c, net).get("count"), 0, "no ports left")
    eq(c.delete(net["id"]).status, 200, "delete the network")


@test(formats=BOTH)
def network_ports_tenants(fmt):
    """alice's network's ports: bob gets 404.  On a shared (admin) network
    each tenant sees only its own ports."""
    a, b, adm = client(fmt, "alice"), client(fmt, "bob"), client(fmt, "admin")
    net = create_network(a, f"tnet-{fmt}")
    p = create_port(a, net, f"tp-{fmt}")
    href = net["networkPorts"]["href"]
    item = coll_items(a.list(href))[0]
    assert_error(b.get(href), 404, fmt=fmt)
    assert_error(b.get(item["id"]), 404, fmt=fmt)
    shared_net = create_network(adm, f"snet-{fmt}")
    sp = create_port(a, shared_net, f"sp-{fmt}")
    shref = shared_net["networkPorts"]["href"]
    alice_items = coll_items(a.list(shref))
    eq([ref(i, "networkPort") for i in alice_items], [sp["id"]], "alice lists her port")
    eq(b.list(shref).get("count"), 0, "bob does not see alice's port on the shared network")
    assert_error(b.get(alice_items[0]["id"]), 404, fmt=fmt)
    expanded = b.read(shared_net["id"], query=[("$expand", "networkPorts")])["networkPorts"]
    eq((expanded.get("count"), expanded.get("networkNetworkPorts")), (0, None),
       "nor through $expand")
    eq(adm.list(shref).get("count"), 1, "the admin sees it")
    for c, doc in ((a, p), (a, sp), (a, net), (adm, shared_net)):
        eq(c.delete(doc["id"]).status, 200, f"delete {doc['id']}")


@test(formats=BOTH)
def network_stop_stops_ports(fmt):
    c = client(fmt)
    net = create_network(c, f"snet-{fmt}")
    on, off = create_port(c, net, f"on-{fmt}"), create_port(c, net, f"off-{fmt}")
    eq(c.post(op(off, "stop"), action_doc("stop")).status, 202, "stop one port")
    eq(c.read(off["id"]).get("state"), "STOPPED", "stopped by its owner")
    r = c.post(op(net, "stop"), action_doc("stop"))
    eq(r.status, 202, "stop the network")
    c.wait_job(r.header("CIMI-Job-URI"))
    c.wait_state(net["id"], "STOPPED")
    for port in (on, off):
        p = c.read(port["id"])
        eq(p.get("state"), "STOPPED", f"{port['name']}: a stopped network's port is STOPPED")
        eq([x for x in rels(p) if x.endswith(("start", "stop"))], [],
           "no start or stop while the network is stopped")
    assert_error(c.post(on["id"] + "/start", action_doc("start")), 409, fmt=fmt)
    r = c.post(op(c.read(net["id"]), "start"), action_doc("start"))
    eq(r.status, 202, "start the network")
    c.wait_job(r.header("CIMI-Job-URI"))
    c.wait_state(net["id"], "STARTED")
    eq(c.read(on["id"]).get("state"), "STARTED", "its port started again with it")
    eq(c.read(off["id"]).get("state"), "STOPPED", "the port its owner stopped stays STOPPED")
    check(op(c.read(off["id"]), "start"), "and can be started now")
    for doc in (on, off, net):
        eq(c.delete(doc["id"]).status, 200, f"delete {doc['id']}")


# ---------------------------------------------------------------- MachineTemplate volumeTemplates

def volume_config(c, name):
    return next(i for i in coll_items(c.list("volumeConfigs")) if i.get("name") == name)


def vt_body(c, fmt, name, entries, initial_state=None):
    """A MachineCreate with volumeTemplates entries (JSON shape); in XML
    initialLocation and href are attributes of <volumeTemplate> and
    deleteWithMachine an element of cimid's namespace."""
    if fmt == "json":
        return machine_create_doc(c, name, initial_state, volumeTemplates=entries)
    parts = []
    for e in entries:
        inner = {k: v for k, v in e.items()
                 if k not in ("initialLocation", "deleteWithMachine", "href")}
        text = to_xml(dict(inner, resourceURI=NS + "/X"), namespace=False)
        text = text.split("<X>", 1)[1].rsplit("</X>", 1)[0] if "<X>" in text else ""
        attrs = "".join(f' {k}="{e[k]}"' for k in ("href", "initialLocation") if k in e)
        if "deleteWithMachine" in e:
            text += (f'<c:deleteWithMachine xmlns:c="{CIMID_NS}">'
                     f'{"true" if e["deleteWithMachine"] else "false"}</c:deleteWithMachine>')
        parts.append(f"<volumeTemplate{attrs}>{text}</volumeTemplate>")
    xml = to_xml(machine_create_doc(c, name, initial_state))
    return xml.replace("</machineTemplate>", "".join(parts) + "</machineTemplate>", 1)


def attachments(c, machine):
    return coll_items(c.list(c.read(machine["id"])["volumes"]["href"]))


@test(formats=BOTH)
def machine_volume_templates(fmt):
    c = client(fmt)
    meta = coll_items(c.list("resourceMetadata"))
    caps = {cap.get("name"): cap.get("value") for e in meta if e.get("name") == "Machine"
            for cap in e.get("capabilities") or []}
    eq(caps.get("MachineVolumeTemplatesByValue"), "true", "MachineVolumeTemplatesByValue")
    isin("deleteWithMachine", [a.get("name") for e in meta if e.get("name") == "MachineTemplate"
                               for a in e.get("attributes") or []], "the extension is described")
    small = volume_config(c, "small-volume")
    r = c.post(c.add_href("volumeTemplates"), {"resourceURI": NS + "/VolumeTemplate",
                                               "name": f"vt-{fmt}",
                                               "volumeConfig": {"href": small["id"]}})
    vt, _ = created(r, "VolumeTemplate")
    entries = [{"volumeConfig": {"capacity": 2 * GIB}, "initialLocation": "/dev/vdc"},
               {"href": vt, "initialLocation": "/dev/vdd", "deleteWithMachine": True}]
    before = {v["id"] for v in coll_items(c.list("volumes"))}
    m = create_machine(c, f"vtm-{fmt}", "STARTED",
                       body=vt_body(c, fmt, f"vtm-{fmt}", entries, "STARTED"))
    att = {a.get("initialLocation"): ref(a, "volume") for a in attachments(c, m)}
    eq(sorted(att), ["/dev/vdc", "/dev/vdd"], "both new volumes attached where asked")
    new = {v["id"]: v for v in coll_items(c.list("volumes")) if v["id"] not in before}
    eq(sorted(new), sorted(att.values()), "exactly the two new Volumes exist")
    kept, goes = c.read(att["/dev/vdc"]), c.read(att["/dev/vdd"])
    eq((kept.get("state"), kept.get("capacity")), ("AVAILABLE", 2 * GIB), "by value: 2 GiB")
    eq((goes.get("state"), goes.get("capacity")), ("AVAILABLE", GIB), "by reference: 1 GiB")
    eq(kept.get("name"), f"vtm-{fmt}-vdc", "named after the machine and its device")
    assert_error(c.delete(kept["id"]), 409, "attached", fmt=fmt)
    # the template keeps its volumeTemplates (JSON and XML round trip)
    tpl_body = {"resourceURI": NS + "/MachineTemplate", "name": f"mt-{fmt}",
                "machineConfig": {"href": c.default_config()["id"]},
                "machineImage": {"href": c.default_image()["id"]},
                "volumeTemplates": [{"href": vt, "initialLocation": "/dev/vde",
                                     "deleteWithMachine": True}]}
    r = client("json").post(c.add_href("machineTemplates"), tpl_body)
    mt, _ = created(r, "MachineTemplate")
    got = c.read(mt).get("volumeTemplates") or []  # XML: validated, the extension included
    eq([(e.get("href"), e.get("initialLocation")) for e in got], [(vt, "/dev/vde")],
       "a MachineTemplate shows its volumeTemplates")
    eq(client("json").read(mt)["volumeTemplates"][0].get("deleteWithMachine"), True,
       "and their deleteWithMachine")
    # deleting the machine deletes only the volume whose entry said so
    eq(c.delete(m["id"]).status, 200, "delete the machine")
    assert_error(c.get(goes["id"]), 404, fmt=fmt)
    eq(c.read(kept["id"]).get("state"), "AVAILABLE", "the other Volume outlives the machine")
    eq(c.delete(kept["id"]).status, 200, "and is free to go")
    for doc in (mt, vt):
        eq(c.delete(doc).status, 200, f"delete {doc}")


@test(formats=BOTH)
def machine_volume_templates_refused(fmt):
    """A bad entry refuses the whole create: nothing is made or booked."""
    c = client(fmt)
    before = store_snapshot(c)
    ok = {"volumeConfig": {"capacity": GIB}}
    for entries, status, mention in (
            ([ok, {"initialLocation": "/dev/vdc"}], 400, "volumeConfig"),
            ([ok, {"volumeConfig": {"capacity": 0}}], 400, "capacity"),
            ([dict(ok, initialLocation="/dev/vdc"), dict(ok, initialLocation="/dev/vdc")], 409,
             "/dev/vdc"),
            ([{"href": c.coll("volumeTemplates") + "/nope"}], 400, "volumeTemplates"),
            ([dict(ok, volumeImage={"href": c.coll("volumeImages") + "/nope"})], 400,
             "volumeImage"),
            ([dict(ok, meterTemplates=[{"href": "http://x/y"}])], 400, "meterTemplates")):
        body = vt_body(c, fmt, "refused", entries)
        assert_error(c.post(c.add_href("machines"), body), status, mention, fmt=fmt)
    assert_unchanged(c, before)


@test
def machine_volume_templates_failed_create():
    """A create whose Job fails (a configuration the hypervisor refuses:
    cpuArch 'x86-64') removes the Volumes it made; if the request itself is
    refused, nothing is made either."""
    c = client()
    before = sorted(ids(c.list("volumes")))
    body = machine_create_doc(c, "doomed", volumeTemplates=[
        {"volumeConfig": {"capacity": GIB}}, {"volumeConfig": {"capacity": GIB},
                                              "deleteWithMachine": True}])
    body["machineTemplate"]["machineConfig"] = {"cpu": 1, "memory": 262144, "cpuArch": "x86-64"}
    r = c.post(c.add_href("machines"), body)
    if r.status in (201, 202):
        c.wait_job(r.header("CIMI-Job-URI"), expect="FAILED")
        eq(attachments(c, c.read(r.header("Location"))), [],
           "the failed machine keeps no attachment")
    else:  # should the configuration be checked when it is given
        assert_error(r, 400, "cpuArch")
    eq(sorted(ids(c.list("volumes"))), before, "no Volume remains from a failed create")


class Store:
    """A stopped daemon's database."""

    def __init__(self, d):
        check(not d.alive(), "the daemon is stopped before its store is edited")
        self.db = sqlite3.connect(d.db, timeout=10)

    def row(self, rid):
        r = self.db.execute("SELECT doc, priv FROM resources WHERE id = ?", (rid,)).fetchone()
        check(r is not None, f"store has a row {rid!r}")
        return json.loads(r[0]), json.loads(r[1])

    def put(self, rid, doc, priv):
        self.db.execute("UPDATE resources SET version = version + 1, doc = ?, priv = ? "
                        "WHERE id = ?", (json.dumps(doc), json.dumps(priv), rid))

    def close(self):
        self.db.commit()
        self.db.close()


@test
def machine_volume_templates_crash():
    """The create Job interrupted by a crash (the store as kill -9 leaves it
    after the request's commit: machine and volumes CREATING, the Job
    RUNNING; and later, the volumes made but the machine not) runs again at
    start-up: the machine and its volumes, each once."""
    with Daemon(name="vt-crash") as d:
        c = Client(d, "alice")
        rel = lambda url: url.split("/cimi/", 1)[1]
        ms = []
        for k in range(2):
            body = machine_create_doc(c, f"crash{k}", "STARTED", volumeTemplates=[
                {"volumeConfig": {"capacity": GIB}, "initialLocation": "/dev/vdc"},
                {"volumeConfig": {"capacity": 2 * GIB}}])
            r = c.post(c.add_href("machines"), body)
            loc, job = created(r, f"crash{k}")
            c.wait_job(job)
            ms.append((loc, job, sorted(ref(a, "volume") for a in
                                        attachments(c, c.wait_state(loc, "STARTED")))))
        all_volumes = sorted(ids(c.list("volumes")))
        eq(d.stop(), 0, "exit status after SIGTERM")
        s = Store(d)
        for k, (loc, job, vols) in enumerate(ms):
            doc, priv = s.row(rel(loc))
            doc["state"] = "CREATING"
            priv.pop("desired", None)
            s.put(rel(loc), doc, priv)
            for v in vols if k == 0 else ():  # machine 1: its volumes were made
                vdoc, vpriv = s.row(rel(v))
                vdoc["state"] = "CREATING"
                s.put(rel(v), vdoc, vpriv)
            jdoc, jpriv = s.row(rel(job))
            jdoc.update(state="RUNNING", progress=20, returnCode=0)
            jdoc.pop("statusMessage", None)
            s.put(rel(job), jdoc, jpriv)
        s.close()
        d.start()
        c = Client(d, "alice")
        for loc, job, vols in ms:
            c.wait_job(job)
            m = c.wait_state(loc, "STARTED")
            eq(sorted(ref(a, "volume") for a in attachments(c, m)), vols,
               "the machine has the same volumes")
            for v in vols:
                eq(c.read(v).get("state"), "AVAILABLE", f"{v} made")
        eq(sorted(ids(c.list("volumes"))), all_volumes, "no Volume lost or made twice")


@test
def qemu_machine_volume_templates():
    """On QEMU (qemu:///embed) the create Job makes the volumes' qcow2 files
    before the guest boots: the guest sees both disks; deleting the
    machine removes the file of the volume that goes with it only.  A
    create that fails removes the files it made."""
    import os
    from test_qemu import endpoint, qemu_daemon, test_image, wait_disks
    with qemu_daemon("families-qemu") as d:
        c = Client(d, "alice")
        img = test_image(c)
        vfile = lambda v: os.path.join(d.root, "storage", "volumes", v.rsplit("/", 1)[1] + ".qcow2")
        body = machine_create_doc(c, "vt-guest", "STARTED", volumeTemplates=[
            {"volumeConfig": {"capacity": GIB}, "initialLocation": "/dev/vdc"},
            {"volumeConfig": {"capacity": 2 * GIB}, "initialLocation": "/dev/vdd",
             "deleteWithMachine": True}])
        body["machineTemplate"]["machineImage"] = {"href": img["id"]}
        r = c.post(c.add_href("machines"), body)
        loc, job = created(r, "vt-guest")
        c.wait_job(job, timeout=120)
        m = c.wait_state(loc, "STARTED", timeout=60)
        att = {a.get("initialLocation"): ref(a, "volume") for a in attachments(c, m)}
        for dev in ("/dev/vdc", "/dev/vdd"):
            check(os.path.exists(vfile(att[dev])), f"the file of the volume at {dev}")
        # (a guest names virtio disks in the order it finds them, not by libvirt's target)
        extra = lambda ds: sorted(n for k, n in ds.items() if k.startswith("vd") and
                                  k[-1].isalpha() and k != "vda")
        wait_disks(endpoint(m, 80), lambda ds: extra(ds) == [GIB, 2 * GIB],
                   "the guest sees both volumes (1 GiB and 2 GiB)")
        eq(c.delete(m["id"]).status, 200, "delete the machine")
        check(not os.path.exists(vfile(att["/dev/vdd"])), "deleteWithMachine: its file is gone")
        check(os.path.exists(vfile(att["/dev/vdc"])), "the other volume's file stays")
        eq(c.delete(att["/dev/vdc"]).status, 200, "delete the kept volume")
        check(not os.path.exists(vfile(att["/dev/vdc"])), "and its file")
        # a failed create leaves no file behind
        before = set(os.listdir(os.path.join(d.root, "storage", "volumes")))
        body = machine_create_doc(c, "vt-doomed", volumeTemplates=[
            {"volumeConfig": {"capacity": GIB}}])
        body["machineTemplate"]["machineImage"] = {"href": img["id"]}
        body["machineTemplate"]["machineConfig"] = {"cpu": 1, "memory": 262144,
                                                    "cpuArch": "x86-64"}
        r = c.post(c.add_href("machines"), body)
        if r.status in (201, 202):
            c.wait_job(r.header("CIMI-Job-URI"), expect="FAILED", timeout=120)
        else:
            assert_error(r, 400, "cpuArch")
        eq(set(os.listdir(os.path.join(d.root, "storage", "volumes"))), before,
           "no volume file remains from a failed create")


def _raw_create(port, path, auth, body, out, i):
    import http.client
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        conn.request("POST", path, body=body, headers={"Authorization": auth,
                                                       "Content-Type": "application/json",
                                                       "Accept": "application/json"})
        r = conn.getresponse()
        r.read()
        out[i] = r.status
        conn.close()
    except Exception:  # connection reset by the kill
        out[i] = None


@test
def machine_volume_templates_kill9():
    """kill -9 while creations with volumeTemplates run: after the restart
    every machine has all its volumes, AVAILABLE and attached once, and no
    Volume is left without its machine."""
    import threading
    import time
    import urllib.parse
    with Daemon(name="vt-kill9") as d:
        c = Client(d, "alice")
        add = c.add_href("machines")
        u = urllib.parse.urlsplit(add)
        n, out = 24, [None] * 24
        bodies = [json.dumps(machine_create_doc(c, f"k{i:02d}", "STARTED", volumeTemplates=[
            {"volumeConfig": {"capacity": GIB}},
            {"volumeConfig": {"capacity": GIB}, "deleteWithMachine": True}])).encode()
            for i in range(n)]
        threads = [threading.Thread(target=_raw_create, args=(d.port, u.path, c.auth_header(),
                                                              bodies[i], out, i), daemon=True)
                   for i in range(n)]
        for t in threads:
            t.start()
        deadline = time.time() + 30
        while sum(1 for o in out if o is not None) < n // 3 and time.time() < deadline:
            time.sleep(0.005)
        d.kill9()
        for t in threads:
            t.join(30)
        check(any(o in (201, 202) for o in out), f"creations answered before the kill: {out}")
        d.start()
        c = Client(d, "alice")
        machines = coll_items(c.list("machines"))
        check(len(machines) >= sum(1 for o in out if o in (201, 202)),
              "every creation answered before the kill exists")
        attached = []
        for m in machines:
            m = c.wait_state(m["id"], "STARTED")
            vols = [ref(a, "volume") for a in attachments(c, m)]
            eq(len(vols), 2, f"{m['name']} has both its volumes")
            for v in vols:
                eq(c.wait_state(v, "AVAILABLE").get("state"), "AVAILABLE", f"{v} made")
            attached += vols
        eq(sorted(ids(c.list("volumes"))), sorted(attached),
           "every Volume belongs to one machine, none is left over or made twice")
