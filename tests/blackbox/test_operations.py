"""
A resource's `operations` list exactly what would succeed now (DSP0263:
a client that follows them never meets a 403, 405 or 409 the list could
have known).  For a range of resources in a range of states, every offered
operation is followed on a fresh resource built the same way and must not
fail, and every operation of the type that is not offered (edit, delete,
each action) must fail, leaving the resource as it was.
"""
import shutil
import tempfile

import cimitest
from cimitest import (ACTION, NS, Client, Daemon, SkipTest, check, coll_items, create_machine,
                      do_action, eq, isin, machine_create_doc, op, rels, shared, test)
from test_exact import loopback_download_args
from test_networks import address_of, create_network, machine_with_nics, nics_of
from test_recovery import GatedServer
from test_volumes import attach_ok, create_volume

# The operations each type can have (rels of its actions by their last segment).
POSSIBLE = {
    "Machine": ["edit", "delete", "start", "stop", "restart", "pause", "suspend", "capture",
                "restore"],
    "Network": ["edit", "delete", "start", "stop"],
    "NetworkPort": ["edit", "delete", "start", "stop"],
    "Job": ["edit", "delete", "stop"],
}
REFUSED = (403, 405, 409)


def daemon():
    return shared("operations")


def kind(doc):
    return doc["resourceURI"].rsplit("/", 1)[1]


def offered(doc):
    return sorted(r.rsplit("/", 1)[-1] for r in rels(doc))


def follow(c, doc, name, image_type="IMAGE"):
    """Do operation name on doc: through its href when offered, else where
    it would be (the resource itself, {id}/{action}, the image collection)."""
    href = next((o["href"] for o in doc.get("operations", [])
                 if o["rel"].rsplit("/", 1)[-1] == name), None)
    if name == "edit":
        body = {k: v for k, v in doc.items() if k != "operations"}
        return c.put(href or doc["id"], body)
    if name == "delete":
        return c.delete(href or doc["id"])
    if name == "capture":
        return c.post(href or c.add_href("machineImages"),
                      {"resourceURI": NS + "/MachineImage", "name": "followed",
                       "type": image_type, "imageLocation": doc["id"]})
    action = {"resourceURI": NS + "/Action", "action": ACTION + name}
    if name == "restore":
        action["image"] = doc.get("latestSnapshot") or {"href": c.add_href("machineImages")}
    return c.post(href or doc["id"] + "/" + name, action)


def check_scenario(c, what, build):
    """build(c) makes a new resource in the scenario's state: returns its URI."""
    doc = c.read(build(c))
    ops = offered(doc)
    possible = POSSIBLE.get(kind(doc), ["edit", "delete"])
    collection = doc["id"].rsplit("/", 1)[0]
    for q in ({"$filter": f"id='{doc['id']}'"}, {}):  # the index's path and the streaming one
        listed = [i for i in coll_items(c.list(collection, query=q)) if i.get("id") == doc["id"]]
        eq([offered(i) for i in listed], [ops], f"{what}: listed {q} with the same operations")
    for name in possible:
        if name in ops:
            continue
        before = c.read(doc["id"])
        r = follow(c, before, name)
        check(r.status >= 400, f"{what}: '{name}' is not offered ({ops}) but answered {r.status}")
        after = c.read(doc["id"])
        eq(after.get("updated"), before.get("updated"), f"{what}: the refused '{name}' changed nothing")
    for name in ops:
        isin(name, possible + ["add"], f"{what}: an operation of a {kind(doc)}")
        for image_type in (("IMAGE", "SNAPSHOT") if name == "capture" else ("IMAGE",)):
            fresh = c.read(build(c))
            eq(offered(fresh), ops, f"{what}: built again, the same operations")
            r = follow(c, fresh, name, image_type)
            check(r.status not in REFUSED and r.status < 400,
                  f"{what}: offered '{name}' ({image_type}) answered {r.status}: {r.body[:300]!r}")
            if r.header("CIMI-Job-URI"):
                c.wait_job(r.header("CIMI-Job-URI"), expect=None)


def check_add(c, what, build, sub, make_body):
    """The sub-collection sub of what build(c) makes offers add exactly
    when a POST of make_body(c) to it succeeds."""
    doc = c.read(build(c))
    coll = c.list(doc[sub]["href"])
    if "add" in rels(coll):
        fresh = c.read(build(c))
        r = c.post(op(c.list(fresh[sub]["href"]), "add"), make_body(c))
        check(r.status < 400, f"{what}: offered add to {sub} answered {r.status}: {r.body[:300]!r}")
        c.wait_job(r.header("CIMI-Job-URI"), expect=None)
    else:
        r = c.post(doc[sub]["href"], make_body(c))
        check(r.status >= 400, f"{what}: add to {sub} is not offered but answered {r.status}")


def machine_in(state, snapshot=False):
    def build(c):
        m = create_machine(c, f"ops-{state.lower()}", "STARTED" if state != "STOPPED" else "STOPPED")
        if snapshot:
            r = c.post(c.add_href("machineImages"),
                       {"resourceURI": NS + "/MachineImage", "name": "ops-snap", "type": "SNAPSHOT",
                        "imageLocation": m["id"]})
            c.wait_job(r.header("CIMI-Job-URI"))
            m = c.wait_stable(m["id"])
        if state in ("PAUSED", "SUSPENDED"):
            m, _ = do_action(c, m, {"PAUSED": "pause", "SUSPENDED": "suspend"}[state], state)
        return m["id"]
    return build


@test
def machines_offer_what_succeeds():
    c = Client(daemon(), "alice")
    for state in ("STOPPED", "STARTED", "PAUSED", "SUSPENDED"):
        check_scenario(c, f"{state} machine", machine_in(state))
    net = create_network(c, "ops-add-net")
    for state in ("STOPPED", "STARTED", "PAUSED", "SUSPENDED"):
        check_add(c, f"{state} machine", machine_in(state), "volumes", lambda c: {
            "resourceURI": NS + "/MachineVolume",
            "volume": {"href": create_volume(c, "ops-add-vol")["id"]}})
        check_add(c, f"{state} machine", machine_in(state), "networkInterfaces", lambda c: {
            "resourceURI": NS + "/MachineNetworkInterface", "network": {"href": net["id"]}})
    check_scenario(c, "STOPPED machine with a snapshot", machine_in("STOPPED", snapshot=True))
    check_scenario(c, "STARTED machine with a snapshot", machine_in("STARTED", snapshot=True))


@test
def volumes_offer_what_succeeds():
    c = Client(daemon(), "alice")
    check_scenario(c, "Volume", lambda c: create_volume(c, "ops-vol")["id"])

    def attached(state, target):
        def build(c):
            m = create_machine(c, "ops-att", state)
            v = create_volume(c, "ops-att-vol")
            item = attach_ok(c, m, v)
            return {"volume": v, "item": item}[target]["id"]
        return build

    for state in ("STOPPED", "STARTED"):
        check_scenario(c, f"Volume attached to a {state} machine", attached(state, "volume"))
        check_scenario(c, f"MachineVolume of a {state} machine", attached(state, "item"))

    def on_suspended(c):
        m = create_machine(c, "ops-susp", "STARTED")
        item = attach_ok(c, m, create_volume(c, "ops-susp-vol"))
        do_action(c, c.read(m["id"]), "suspend", "SUSPENDED")
        return item["id"]

    check_scenario(c, "MachineVolume of a SUSPENDED machine", on_suspended)


@test
def images_offer_what_succeeds():
    c = Client(daemon(), "alice")

    def captured(used):
        def build(c):
            m = create_machine(c, "ops-src", "STOPPED")
            r = c.post(c.add_href("machineImages"),
                       {"resourceURI": NS + "/MachineImage", "name": "ops-img", "type": "IMAGE",
                        "imageLocation": m["id"]})
            c.wait_job(r.header("CIMI-Job-URI"))
            img = c.wait_state(r.header("Location"), "AVAILABLE")
            if used:
                body = machine_create_doc(c, "ops-user")
                body["machineTemplate"]["machineImage"] = {"href": img["id"]}
                create_machine(c, "ops-user", body=body)
            return img["id"]
        return build

    check_scenario(c, "captured image", captured(False))
    check_scenario(c, "captured image a machine's disk uses", captured(True))
    check_scenario(c, "shared image as a tenant", lambda c: c.default_image()["id"])


@test
def networks_offer_what_succeeds():
    c = Client(daemon(), "alice")
    check_scenario(c, "STARTED Network", lambda c: create_network(c, "ops-net")["id"])
    check_scenario(c, "STOPPED Network",
                   lambda c: create_network(c, "ops-net-s", {"networkConfig": {
                       "networkType": "PRIVATE"}, "initialState": "STOPPED"}, "STOPPED")["id"])

    def with_nic(target):
        def build(c):
            net = create_network(c, "ops-used")
            m = machine_with_nics(c, "ops-nic", [net])
            nic = nics_of(c, m)[0]
            return {"network": net, "nic": nic, "address": address_of(c, nic)}[target]["id"]
        return build

    check_scenario(c, "Network an interface uses", with_nic("network"))
    check_scenario(c, "MachineNetworkInterface", with_nic("nic"))
    check_scenario(c, "Address of an interface", with_nic("address"))

    def free_address(c):
        net = create_network(c, "ops-addr")
        r = c.post(c.add_href("addresses"), {"resourceURI": NS + "/AddressCreate",
                                             "addressTemplate": {"network": {"href": net["id"]}}})
        eq(r.status, 201, f"a static Address ({r.body[:200]!r})")
        return r.header("Location")

    check_scenario(c, "static Address", free_address)


@test
def configurations_offer_what_succeeds():
    alice, admin = Client(daemon(), "alice"), Client(daemon(), "admin")
    check_scenario(alice, "shared MachineConfiguration as a tenant", lambda c: c.default_config()["id"])

    def own_config(c):
        r = c.post(c.add_href("machineConfigs"),
                   {"resourceURI": NS + "/MachineConfiguration", "name": "ops-cfg", "cpu": 1,
                    "memory": 1048576, "disks": [{"capacity": 1048576, "format": "qcow2"}]})
        eq(r.status, 201, f"a MachineConfiguration ({r.body[:200]!r})")
        return r.header("Location")

    check_scenario(alice, "a tenant's MachineConfiguration", own_config)
    check_scenario(admin, "a shared MachineConfiguration as admin", own_config)
    check_scenario(alice, "a finished Job", lambda c: c.post(
        c.add_href("machineConfigs"), {"resourceURI": NS + "/MachineConfiguration",
                                       "name": "ops-job", "cpu": 1, "memory": 1048576,
                                       "disks": [{"capacity": 1048576, "format": "qcow2"}]}
    ).header("CIMI-Job-URI"))


@test
def jobs_offer_what_succeeds():
    """Jobs queued behind a download its server holds (--workers 1: more
    downloads from the same server and tenant), and the running download's
    Job."""
    if shutil.which("qemu-img") is None:
        raise SkipTest("qemu-img is not installed (scripts/install-deps.sh installs it)")
    gate = GatedServer(bytes(range(256)) * 4096)
    storage = tempfile.mkdtemp(prefix="cimitest-ops-storage-")
    cimitest._tmpdirs.append(storage)
    with Daemon(name="ops-jobs", args=["--workers", "1", "--storage-dir", storage]
                + loopback_download_args()) as d:
        try:
            c = Client(d, "alice")
            r = c.post(c.add_href("machineImages"),
                       {"resourceURI": NS + "/MachineImage", "name": "held",
                        "imageLocation": gate.url()})
            running = r.header("CIMI-Job-URI")
            check(gate.started.wait(30), "the download reached the server")

            def queued(c):
                r = c.post(c.add_href("machineImages"),
                           {"resourceURI": NS + "/MachineImage", "name": "queued",
                            "imageLocation": gate.url()})
                job = r.header("CIMI-Job-URI")
                eq(c.read(job).get("state"), "QUEUED", "queued behind the held download")
                return job

            check_scenario(c, "QUEUED Job", queued)
            doc = c.read(running)
            eq(doc.get("state"), "RUNNING", "the download's Job runs")
            for name in POSSIBLE["Job"]:
                if name not in offered(doc):
                    r = follow(c, doc, name)
                    check(r.status >= 400, f"RUNNING Job: '{name}' is not offered but answered "
                          f"{r.status}")
        finally:
            gate.release()
        c.wait_job(running, expect=None)
        gate.close()
