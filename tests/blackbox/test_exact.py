"""
DSP0263 exactness: the status of a create (201 only when its Job is
complete, 202 while it is not: 4.2.1.6/4.2.1.7) and the smaller deviations
of issue 11 (item 15).  The operations of each resource are checked by
test_operations.py.
"""
import shutil
import subprocess
import tempfile

import cimitest
from cimitest import (CIMID_NS, COLLECTIONS, NS, Client, Daemon, SkipTest, action_doc, assert_error,
                      assert_unchanged, check, check_created, coll_items, create_machine, eq,
                      isin, machine_create_doc, ne, notin, op, shared, store_snapshot, test)
from test_networks import create_network, machine_with_nics
from test_recovery import GatedServer
from test_volumes import attach, attach_ok, create_volume

FINISHED = ("SUCCESS", "FAILED", "STOPPED")


def loopback_download_args():
    """The option that lets downloads reach this test's loopback server,
    where cimid has one (downloads to internal addresses are refused)."""
    usage = subprocess.run([cimitest.CIMID_BIN, "--help"], capture_output=True, text=True)
    if "--download-allow" in usage.stdout + usage.stderr:
        return ["--download-allow", "127.0.0.1/32"]
    return []


@test
def create_answers_202_until_its_job_is_done():
    """A create whose Job cannot be done yet (a download its server holds;
    a machine queued behind it with --workers 1) answers 202 with Location,
    CIMI-Job-URI and the partial resource; a create without work (a
    MachineConfiguration) answers exactly 201; a 201 always means the Job is
    finished and the body is the resource as the Job left it."""
    if shutil.which("qemu-img") is None:
        raise SkipTest("qemu-img is not installed (scripts/install-deps.sh installs it)")
    gate = GatedServer(bytes(range(256)) * 4096)
    storage = tempfile.mkdtemp(prefix="cimitest-exact-storage-")
    cimitest._tmpdirs.append(storage)
    with Daemon(name="exact-202", args=["--workers", "1", "--storage-dir", storage]
                + loopback_download_args()) as d:
        try:
            c = Client(d, "alice")
            r = c.post(c.add_href("machineImages"),
                       {"resourceURI": NS + "/MachineImage", "name": "held",
                        "imageLocation": gate.url()})
            eq(r.status, 202, f"a download its server holds is not done: 202 ({r.body[:200]!r})")
            check(r.header("Location") and r.header("CIMI-Job-URI"), "Location and CIMI-Job-URI")
            eq(r.doc.get("id"), r.header("Location"), "the body is the new image")
            eq(r.doc.get("state"), "CREATING", "the partial image is CREATING")
            check(gate.started.wait(30), "the download reached the server")
            isin(c.read(r.header("CIMI-Job-URI")).get("state"), ("QUEUED", "RUNNING"),
                 "its Job is not finished")
            # a machine create while the only worker downloads
            r = check_created(c.post(c.add_href("machines"),
                                     machine_create_doc(c, "queued", "STOPPED")), "queued machine")
            job = c.read(r.header("CIMI-Job-URI"))
            if job.get("state") not in FINISHED:
                eq(r.status, 202, f"its Job is {job.get('state')} after the reply: 202")
                eq(r.doc.get("state"), "CREATING", "the partial Machine")
            # no Job work: exactly 201, the Job complete
            r = c.post(c.add_href("machineConfigs"),
                       {"resourceURI": NS + "/MachineConfiguration", "name": "exact-cfg", "cpu": 1,
                        "memory": 1048576, "disks": [{"capacity": 1048576, "format": "qcow2"}]})
            eq(r.status, 201, f"a MachineConfiguration is created at once: 201 ({r.body[:200]!r})")
            eq(c.read(r.header("CIMI-Job-URI")).get("state"), "SUCCESS", "its Job is complete")
        finally:
            gate.release()
        c.wait_job(r.header("CIMI-Job-URI"))
        # with the worker free: 201 only with a finished Job and the final resource
        seen = set()
        for i in range(6):
            r = check_created(c.post(c.add_href("machines"),
                                     machine_create_doc(c, f"free-{i}", "STOPPED")), "machine")
            seen.add(r.status)
            if r.status == 201:
                isin(c.read(r.header("CIMI-Job-URI")).get("state"), FINISHED,
                     "a 201 names a finished Job")
                eq(r.doc.get("state"), "STOPPED", "a 201 body is the Machine as its Job left it")
            c.wait_job(r.header("CIMI-Job-URI"))
        gate.close()


# ---------------------------------------------------------------- item 15

def daemon():
    return shared("exact")


def populate(c):
    """One of most things: a machine with a volume and an interface, networks
    in a forwarding group, a port, an address, a captured image."""
    if "populated" in c.d.cache:
        return
    nets = [create_network(c, f"x-net-{i}") for i in range(2)]
    r = c.post(c.add_href("forwardingGroups"), {
        "resourceURI": NS + "/ForwardingGroupCreate", "name": "x-group",
        "forwardingGroupTemplate": {"networks": [{"href": n["id"]} for n in nets]}})
    eq(r.status, 201, f"a ForwardingGroup ({r.body[:200]!r})")
    m = machine_with_nics(c, "x-vm", [nets[0]], "STOPPED")
    attach_ok(c, m, create_volume(c, "x-vol"))
    r = c.post(c.add_href("machineImages"), {"resourceURI": NS + "/MachineImage", "name": "x-img",
                                             "type": "IMAGE", "imageLocation": m["id"]})
    c.wait_job(r.header("CIMI-Job-URI"))
    c.d.cache["populated"] = True


def attribute_names(c, coll):
    """The attributes the items of a collection show (JSON), and which of
    them are references ($expand candidates)."""
    names, refs = set(), set()
    for item in coll_items(c.list(coll)):
        for k, v in c.read(item["id"]).items():
            names.add(k)
            if (isinstance(v, dict) and "href" in v) or (
                    isinstance(v, list) and v and isinstance(v[0], dict) and "href" in v[0]):
                refs.add(k)
    return sorted(names), sorted(refs)


@test
def xml_replies_are_valid_for_every_select_and_expand():
    """For every collection: $select of each attribute its items have and of
    the collection's own (count, operations, id), $expand of each reference
    and *, alone and together: every XML reply is valid against the DMTF
    1.0.2 schema (the client validates each one), also for single items."""
    admin = Client(daemon(), "admin")
    populate(admin)
    x = Client(daemon(), "admin", fmt="xml")
    tried = 0
    for coll in COLLECTIONS:
        if coll in ("hosts",):
            continue  # cimid's own type, no DMTF schema
        if admin.cep().get(coll) is None:
            continue
        names, refs = attribute_names(admin, coll)
        selects = names + ["count", "operations", "id", "count,operations", "name,count",
                           "operations,name"]
        expands = refs + ["*"]
        queries = ([{"$select": s} for s in selects] + [{"$expand": e} for e in expands] +
                   [{"$select": s, "$expand": "*"} for s in ("count", "operations", "name")])
        for q in queries:
            r = x.get(admin.coll(coll), query=q)
            eq(r.status, 200, f"{coll} {q}: {r.body[:300]!r}")
            tried += 1
        for item in coll_items(admin.list(coll))[:2]:
            for q in [{"$expand": e} for e in expands] + [{"$select": s} for s in names]:
                r = x.get(item["id"], query=q)
                eq(r.status, 200, f"{item['id']} {q}: {r.body[:300]!r}")
                tried += 1
    check(tried > 200, f"{tried} XML replies checked")


@test
def first_and_last_out_of_range_are_clipped():
    """DSP0263 4.1.6.2: $first/$last out of range are clipped, never an error:
    $first below 1 is 1, $last below 1 keeps nothing, huge values reach the
    end; count is the same; a value that is no number is 400."""
    c = Client(daemon(), "alice")
    for extra in ({}, {"$orderby": "name"}, {"$filter": "cpu>0"}, {"$filter": "name!='x'"}):
        every = [i["id"] for i in coll_items(c.list("machineConfigs", query=extra))]
        n = len(every)
        check(n >= 3, "the shipped configurations")
        for q, want in ((("$first", "0"),), every), ((("$first", "-7"),), every), \
                       ((("$last", "0"),), []), ((("$last", "-1"),), []), \
                       ((("$first", "0"), ("$last", "2")), every[:2]), \
                       ((("$first", "99999999999999999999999"),), []), \
                       ((("$last", "99999999999999999999999"),), every), \
                       ((("$first", "2"), ("$last", "0")), []):
            doc = c.list("machineConfigs", query=list(extra.items()) + list(q))
            eq([i["id"] for i in coll_items(doc)], want, f"{extra} {q}")
            eq(doc.get("count"), n, f"{extra} {q}: count before $first/$last")
    for bad in ("x", "1.5", ""):
        assert_error(c.get(c.coll("machineConfigs"), query={"$first": bad}), 400, "$first")


@test
def method_not_allowed_lists_only_allowed_methods():
    """A 405 names in Allow the methods the target answers, never the refused one."""
    c = Client(daemon(), "alice")
    job = c.post(c.add_href("machineConfigs"), {
        "resourceURI": NS + "/MachineConfiguration", "name": "x-405", "cpu": 1, "memory": 1048576,
        "disks": [{"capacity": 1048576, "format": "qcow2"}]}).header("CIMI-Job-URI")
    cases = [("DELETE", c.d.cep_url), ("POST", c.d.cep_url), ("POST", c.coll("jobs")),
             ("PUT", job), ("PUT", c.coll("machines")), ("DELETE", c.coll("machines")),
             ("PATCH", c.coll("machines")), ("PATCH", job)]
    for method, url in cases:
        r = c.request(method, url, {"resourceURI": NS + "/Job"} if method in ("POST", "PUT", "PATCH") else None)
        eq(r.status, 405, f"{method} {url}")
        allow = [m.strip() for m in (r.header("Allow") or "").split(",") if m.strip()]
        check(allow, f"{method} {url}: 405 has an Allow header")
        notin(method, allow, f"{method} {url}: Allow {allow}")
        for m in allow:  # each one listed is answered (no 405)
            if m in ("GET", "HEAD"):
                ne(c.request(m, url).status, 405, f"{m} {url} is allowed as Allow says")


@test
def if_match_guards_actions_updates_and_deletes():
    """If-Match with another ETag: 412 and nothing done, for actions as for
    PUT and DELETE; the current ETag (or *) lets them through."""
    c = Client(daemon(), "alice")
    m = create_machine(c, "x-ifmatch", "STARTED")
    etag = c.get(m["id"]).header("ETag")
    check(etag, "a Machine has an ETag")
    stale = '"999999"'
    r = c.post(op(m, "stop"), action_doc("stop", True), headers={"If-Match": stale})
    assert_error(r, 412, "If-Match")
    eq(c.read(m["id"]).get("state"), "STARTED", "the refused stop did nothing")
    assert_error(c.put(m["id"], {"resourceURI": NS + "/Machine", "name": "x-renamed"},
                       headers={"If-Match": stale}), 412, "If-Match")
    assert_error(c.delete(m["id"], headers={"If-Match": stale}), 412, "If-Match")
    eq(c.read(m["id"]).get("name"), "x-ifmatch", "nothing changed")
    r = c.post(op(m, "stop"), action_doc("stop", True), headers={"If-Match": etag})
    eq(r.status, 202, f"the current ETag lets the action through ({r.body[:200]!r})")
    c.wait_job(r.header("CIMI-Job-URI"))
    r = c.delete(m["id"], headers={"If-Match": "*"})
    isin(r.status, (200, 202), "If-Match: * lets the delete through")


@test
def hrefs_of_another_host_are_refused():
    """An absolute href is one of ours only below this cloud's base URI:
    another host (or scheme, or port) with our path is 400, nothing created;
    the same resource by relative or our absolute href is fine."""
    c = Client(daemon(), "alice")
    cfg = c.default_config()["id"]  # http://127.0.0.1:PORT/cimi/machineConfigs/...
    path = cfg.split("/cimi/", 1)[1]
    port = c.d.port
    before = store_snapshot(c)
    for other in (f"http://evil.example:{port}/cimi/{path}", f"http://127.0.0.2:{port}/cimi/{path}",
                  f"http://127.0.0.1:{port + 1}/cimi/{path}", f"https://127.0.0.1:{port}/cimi/{path}",
                  f"http://127.0.0.1:{port}/other/cimi/{path}"):
        body = machine_create_doc(c, "x-href")
        body["machineTemplate"]["machineConfig"] = {"href": other}
        assert_error(c.post(c.add_href("machines"), body), 400, "machineConfig")
    assert_unchanged(c, before)
    for good in (cfg, cfg.replace("http://", "HTTP://"), path, "/cimi/" + path):
        body = machine_create_doc(c, "x-href-ok")
        body["machineTemplate"]["machineConfig"] = {"href": good}
        r = check_created(c.post(c.add_href("machines"), body), f"config by {good}")
        c.wait_job(r.header("CIMI-Job-URI"))


@test
def admin_forwarding_group_of_admin_networks():
    """An admin builds a ForwardingGroup of the networks the admin created
    (shared ones), as a tenant does of its own."""
    admin = Client(daemon(), "admin")
    nets = [create_network(admin, f"x-admin-net-{i}") for i in range(2)]
    r = admin.post(admin.add_href("forwardingGroups"), {
        "resourceURI": NS + "/ForwardingGroupCreate", "name": "x-admin-group",
        "forwardingGroupTemplate": {"networks": [{"href": n["id"]} for n in nets]}})
    eq(r.status, 201, f"an admin's group of admin networks ({r.body[:300]!r})")
    fg = admin.read(r.header("Location"))
    eq(sorted(i["network"]["href"] for i in coll_items(admin.list(fg["networks"]["href"]))),
       sorted(n["id"] for n in nets), "the group's networks")
    third = create_network(admin, "x-admin-net-2")
    r = admin.post(admin.add_href(fg["networks"]["href"]),
                   {"resourceURI": NS + "/ForwardingGroupNetwork", "network": {"href": third["id"]}})
    eq(r.status, 201, f"and adds another ({r.body[:300]!r})")
    # never one tenant's network in another's group
    alice = Client(daemon(), "alice")
    anet = create_network(alice, "x-alice-net")
    assert_error(admin.post(admin.add_href(fg["networks"]["href"]),
                            {"resourceURI": NS + "/ForwardingGroupNetwork",
                             "network": {"href": anet["id"]}}), 400)


@test
def resource_metadata_describes_what_works():
    """ResourceMetadata names the VolumeSnapshot and UserData capabilities
    that work, and (to admins, who alone see hosts) the hosts extension
    collection of the CloudEntryPoint and the Host type; both formats."""
    for fmt in ("json", "xml"):
        admin, alice = Client(daemon(), "admin", fmt=fmt), Client(daemon(), "alice", fmt=fmt)
        caps = {}
        for item in coll_items(admin.list("resourceMetadata")):
            for cap in item.get("capabilities") or []:
                caps[cap.get("uri")] = cap.get("value")
        eq(caps.get(NS + "/capability/Volume/VolumeSnapshot"), "true", f"{fmt}: VolumeSnapshot")
        eq(caps.get(NS + "/capability/Machine/UserData"), "disk", f"{fmt}: UserData method")
        items = coll_items(admin.list("resourceMetadata"))
        hosts = [i for i in items if any(a.get("name") == "hosts" for a in i.get("attributes") or [])]
        eq([i.get("typeURI") for i in hosts], [NS + "/CloudEntryPoint"],
           f"{fmt}: the CloudEntryPoint's hosts extension is described")
        isin(CIMID_NS + "/Host", [i.get("typeURI") for i in items], f"{fmt}: the Host type")
        check(admin.cep().get("hosts"), "admins see the hosts collection")
        mine = coll_items(alice.list("resourceMetadata"))
        notin(CIMID_NS + "/Host", [i.get("typeURI") for i in mine], f"{fmt}: tenants see no hosts")


@test
def disk_devices_are_never_silently_renamed():
    """A disk's or a volume's initialLocation names the virtio disk cimid
    gives it, or is refused (400, nothing stored): /dev/sdX, /dev/hdX, or
    another vd letter than the disk's own would have been changed."""
    c = Client(daemon(), "alice")
    before = store_snapshot(c)
    for i, bad in enumerate(("/dev/sda", "/dev/hda", "/dev/vdb", "/mnt/root", "xvda")):
        r = c.post(c.add_href("machineConfigs"), {
            "resourceURI": NS + "/MachineConfiguration", "name": f"x-dev-{i}", "cpu": 1,
            "memory": 1048576, "disks": [{"capacity": 1048576, "format": "qcow2",
                                          "initialLocation": bad}]})
        assert_error(r, 400, "initialLocation")
        body = machine_create_doc(c, f"x-dev-{i}")
        body["machineTemplate"]["machineConfig"] = {
            "cpu": 1, "memory": 1048576,
            "disks": [{"capacity": 1048576, "format": "qcow2", "initialLocation": bad}]}
        assert_error(c.post(c.add_href("machines"), body), 400, "initialLocation")
    assert_unchanged(c, before)
    r = c.post(c.add_href("machineConfigs"), {
        "resourceURI": NS + "/MachineConfiguration", "name": "x-dev-ok", "cpu": 1,
        "memory": 1048576, "disks": [{"capacity": 1048576, "format": "qcow2",
                                      "initialLocation": "/dev/vda"},
                                     {"capacity": 1048576, "format": "qcow2",
                                      "initialLocation": "vdb"}]})
    eq(r.status, 201, f"the devices the disks get ({r.body[:200]!r})")
    m = create_machine(c, "x-dev-vol", "STOPPED")
    v = create_volume(c, "x-dev-vol")
    before = store_snapshot(c)
    for bad in ("/dev/sdf", "/dev/hdb", "sdb", "/dev/vd", "/dev/vdB", "/dev/vdaa"):
        assert_error(attach(c, m, v, bad), 400, "initialLocation")
    assert_unchanged(c, before)
    eq(attach_ok(c, m, v, "/dev/vdf").get("initialLocation"), "/dev/vdf", "the device asked for")
