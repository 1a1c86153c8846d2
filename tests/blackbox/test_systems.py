"""Systems (issue 12 items 1-3) on test:///default: the model (CloudEntryPoint
systems/systemTemplates, the import collection operation, the
SystemComponentTemplateByValue capability), SystemTemplates with
componentDescriptors of every kind by value and by reference and their
"#name" references (bad ones 400, store unchanged), SystemCreate building
every member kind in dependency order as one Job with nested Jobs (names
web-1, web-2; child member rows; CREATING while it builds), a failing member
taking the whole System with it (nothing left, nothing booked), member
sub-collections (associate, disassociate, 404/400/409), System delete
(children deleted, associated members kept), a resource deleted directly
leaving the System's collections, tenant isolation, and a 50-member System.
Every reply is checked against the XML schema by the harness."""

import time

from cimitest import (BOTH, NS, Client, Daemon, assert_error, assert_unchanged, check, coll_items,
                      eq, ids, isin, notin, op, rels, shared, store_snapshot, test)


def daemon():
    return shared("systems")


def client(fmt="json", user="alice"):
    return Client(daemon(), user, fmt=fmt)


T = NS + "/"


def net_tpl():
    return {"networkConfig": {"networkType": "PRIVATE"}}


def vol_tpl(capacity=1024):
    return {"volumeConfig": {"capacity": capacity}}


MACHINE_TEMPLATE_ORDER = ["initialState", "machineConfig", "machineImage", "credential", "volumes",
                          "volumeTemplates", "networkInterfaces", "userData"]
DESCRIPTOR_ORDER = ["name", "description", "properties", "type"]


def machine_tpl(c, **extra):
    """A MachineTemplate by value, its members in schema order (XML)."""
    tpl = {"machineConfig": {"href": c.default_config()["id"]},
           "machineImage": {"href": c.default_image()["id"]}}
    tpl.update(extra)
    return {k: tpl[k] for k in MACHINE_TEMPLATE_ORDER if k in tpl}


def ordered(d):
    """A componentDescriptor in schema order: quantity last."""
    out = {k: d[k] for k in DESCRIPTOR_ORDER if k in d}
    out.update({k: v for k, v in d.items() if k not in DESCRIPTOR_ORDER and k != "quantity"})
    if "quantity" in d:
        out["quantity"] = d["quantity"]
    return out


def fix_order(doc):
    for key in ("componentDescriptors",):
        if key in doc:
            doc[key] = [fix_order(ordered(d)) for d in doc[key]]
    if isinstance(doc.get("systemTemplate"), dict):
        fix_order(doc["systemTemplate"])
    return doc


def web_template(c, name="web-tier", quantity=2):
    """A network, a volume per machine, a credential and `quantity` machines
    on the network with their own volume and the credential."""
    return {
        "resourceURI": NS + "/SystemTemplate", "name": name,
        "componentDescriptors": [
            {"name": "net", "type": T + "Network", "networkTemplate": net_tpl()},
            {"name": "data", "type": T + "Volume", "volumeTemplate": vol_tpl(), "quantity": quantity},
            {"name": "key", "type": T + "Credential",
             "credentialTemplate": {"userName": "root", "password": "pw"}},
            {"name": "web", "type": T + "Machine", "quantity": quantity,
             "machineTemplate": machine_tpl(c, networkInterfaces=[{"network": {"href": "#net"}, "state": "ACTIVE"}],
                                            volumes=[{"href": "#data"}],
                                            credential={"href": "#key"})},
        ]}


def create_template(c, doc):
    r = c.post(c.add_href("systemTemplates"), fix_order(doc))
    isin(r.status, (200, 201), f"SystemTemplate create (reply {r.body[:400]!r})")
    return c.read(r.header("Location"))


def system_create_doc(template, name="app", **extra):
    d = {"resourceURI": NS + "/SystemCreate", "name": name, "systemTemplate": template}
    d.update(extra)
    return d


def create_system(c, template, name="app", expect="SUCCESS"):
    """POST a SystemCreate; returns (system URL, reply, job document)."""
    r = c.post(c.add_href("systems"), fix_order(system_create_doc(template, name)))
    isin(r.status, (201, 202), f"SystemCreate (reply {r.body[:400]!r})")
    loc, job = r.header("Location"), r.header("CIMI-Job-URI")
    check(loc and job, "SystemCreate reply has Location and CIMI-Job-URI")
    if r.status == 202:
        eq(r.doc.get("state"), "CREATING", "a System is CREATING while it is built")
    jd = c.wait_job(job, expect=expect, timeout=120)
    return loc, r, jd


def members(c, system, coll):
    s = c.read(system)
    return coll_items(c.get(s[coll]["href"]).doc)


def member_refs(c, system, coll, ref):
    return [m[ref]["href"] for m in members(c, system, coll)]


@test(formats=BOTH)
def model_in_cep_and_metadata(fmt):
    c = client(fmt)
    cep = c.cep()
    keys = [k for k in cep if k in ("resourceMetadata", "systems", "systemTemplates", "machines")]
    eq(keys[:4], ["resourceMetadata", "systems", "systemTemplates", "machines"],
       "CEP lists systems and systemTemplates right after resourceMetadata")
    for coll in ("systems", "systemTemplates"):
        doc = c.get(cep[coll]["href"]).doc
        eq(op(doc, NS + "/action/import"), cep[coll]["href"] + "/import",
           f"the {coll} collection offers import")
        check(op(doc, "add"), f"the {coll} collection offers add")
    # the collection action's routing (its work is ovfin's: not tested here)
    systems = cep["systems"]["href"]
    assert_error(c.get(systems + "/import"), 404)
    assert_error(c.post(systems + "/import", {"resourceURI": NS + "/Action", "action": NS + "/action/export"}),
                 400, ("import",))
    assert_error(c.post(systems, {"resourceURI": NS + "/Action", "action": NS + "/action/nope"}), 400, ("nope",))
    caps = [cap for m in coll_items(c.list("resourceMetadata"))
            for cap in m.get("capabilities", [])]
    uris = [cap.get("uri") for cap in caps]
    isin(NS + "/capability/System/SystemComponentTemplateByValue", uris,
         "SystemComponentTemplateByValue advertised")


@test(formats=BOTH)
def template_every_kind(fmt):
    c = client(fmt)
    nt = create_template(c, {"resourceURI": NS + "/SystemTemplate", "name": "inner",
                             "componentDescriptors": [
                                 {"name": "n", "type": T + "Network", "networkTemplate": net_tpl()}]})
    r = c.post(c.add_href("networkTemplates"), {"resourceURI": NS + "/NetworkTemplate", "name": "nt",
                                                "networkConfig": {"networkType": "PRIVATE"}})
    net_ref = c.read(r.header("Location"))["id"]
    doc = {"resourceURI": NS + "/SystemTemplate", "name": "all-kinds", "description": "every kind",
           "componentDescriptors": [
               {"name": "net", "type": T + "Network", "networkTemplate": {"href": net_ref}},
               {"name": "net2", "type": T + "Network", "networkTemplate": net_tpl()},
               {"name": "vol", "type": T + "Volume", "volumeTemplate": vol_tpl()},
               {"name": "cred", "type": T + "Credential", "credentialTemplate": {"userName": "u"}},
               {"name": "port", "type": T + "NetworkPort",
                "networkPortTemplate": {"network": {"href": "#net"},
                                        "networkPortConfig": {"portType": "ACCESS"}}},
               {"name": "addr", "type": T + "Address", "addressTemplate": {"network": {"href": "#net"}}},
               {"name": "fg", "type": T + "ForwardingGroup",
                "forwardingGroupTemplate": {"networks": [{"href": "#net"}, {"href": "#net2"}]}},
               {"name": "vm", "type": T + "Machine",
                "machineTemplate": machine_tpl(c, networkInterfaces=[{"network": {"href": "#net"}, "state": "ACTIVE"}],
                                               volumes=[{"href": "#vol"}])},
               {"name": "sub", "type": T + "System", "systemTemplate": {"href": nt["id"]}},
               {"name": "sub2", "type": T + "System", "quantity": 2, "systemTemplate": {
                   "componentDescriptors": [
                       {"name": "m", "type": T + "Machine", "machineTemplate": machine_tpl(c)}]}},
           ]}
    t = create_template(c, doc)
    eq(len(t["componentDescriptors"]), 10, "all descriptors kept")
    eq(t["componentDescriptors"][4]["networkPortTemplate"]["network"]["href"], "#net",
       "a #name reference reads back as sent")
    eq(t["componentDescriptors"][9].get("quantity"), 2, "quantity kept")
    # update (PUT) keeps the checks
    t2 = dict(t)
    t2["description"] = "changed"
    r = c.put(t["id"], t2)
    eq(r.status, 200, f"PUT SystemTemplate (reply {r.body[:300]!r})")
    eq(c.read(t["id"]).get("description"), "changed", "description updated")
    # and a System from it has every kind
    loc, r, jd = create_system(c, {"href": t["id"]}, "everything")
    s = c.read(loc)
    for coll, ref, n in (("networks", "network", 2), ("volumes", "volume", 1),
                         ("credentials", "credential", 1), ("networkPorts", "networkPort", 1),
                         ("addresses", "address", 1), ("forwardingGroups", "forwardingGroup", 1),
                         ("machines", "machine", 1), ("systems", "system", 3)):
        eq(len(member_refs(c, loc, coll, ref)), n, f"{coll} of the System")
    port = c.read(member_refs(c, loc, "networkPorts", "networkPort")[0])
    net = member_refs(c, loc, "networks", "network")
    eq(port["network"]["href"], net[0], "#net became the System's network")
    subs = [c.read(h) for h in member_refs(c, loc, "systems", "system")]
    eq(sorted(x.get("name") for x in subs), ["sub", "sub2-1", "sub2-2"], "nested System names")
    for x in subs:
        notin(x.get("state"), ("CREATING", "ERROR"), "nested System built")
        check(members(c, x["id"], "machines" if x["name"] != "sub" else "networks"),
              "nested System has its members")
    eq(len(jd.get("nestedJobs", [])) > 0, True, "the create Job has nested Jobs")
    r = c.delete(loc)
    isin(r.status, (200, 202), f"delete System (reply {r.body[:300]!r})")
    wait_gone(c, loc)
    for x in subs:
        wait_gone(c, x["id"])


def wait_gone(c, url, timeout=120):
    end = time.time() + timeout
    while time.time() < end:
        r = c.get(url)
        if r.status == 404:
            return
        time.sleep(0.1)
    check(False, f"{url} still exists after {timeout}s")


BAD_TEMPLATES = [
    ("unknown type", [{"type": T + "Meter", "networkTemplate": net_tpl()}], "type"),
    ("type URI not a component", [{"type": "Machine", "machineTemplate": {}}], "type"),
    ("no template (XML: schema-invalid)", [{"name": "a", "type": T + "Network"}], "networkTemplate"),
    ("template of another kind", [{"name": "a", "type": T + "Network", "volumeTemplate": vol_tpl()}],
     "volumeTemplate"),
    ("two templates (XML: schema-invalid)", [{"name": "a", "type": T + "Network", "networkTemplate": net_tpl(),
                        "volumeTemplate": vol_tpl()}], "volumeTemplate"),
    ("quantity 0", [{"name": "a", "type": T + "Network", "networkTemplate": net_tpl(), "quantity": 0}],
     "quantity"),
    ("quantity too large", [{"name": "a", "type": T + "Network", "networkTemplate": net_tpl(),
                             "quantity": 101}], "quantity"),
    ("duplicate names", [{"name": "a", "type": T + "Network", "networkTemplate": net_tpl()},
                         {"name": "a", "type": T + "Network", "networkTemplate": net_tpl()}], "'a'"),
    ("unknown #name", [{"name": "p", "type": T + "NetworkPort",
                        "networkPortTemplate": {"network": {"href": "#nope"},
                                                "networkPortConfig": {"portType": "ACCESS"}}}], "#nope"),
    ("#name of the wrong kind", [{"name": "v", "type": T + "Volume", "volumeTemplate": vol_tpl()},
                                 {"name": "p", "type": T + "Address",
                                  "addressTemplate": {"network": {"href": "#v"}}}], "Network"),
    ("#name where none is allowed", [{"name": "v", "type": T + "Volume", "volumeTemplate": vol_tpl()},
                                     {"name": "w", "type": T + "Volume",
                                      "volumeTemplate": {"volumeConfig": {"href": "#v"}}}], "#name"),
    ("template href of another type", [{"name": "a", "type": T + "Network",
                                        "networkTemplate": {"href": "volumeTemplates/nope"}}],
     "NetworkTemplate"),
    ("volume quantities differ", [{"name": "v", "type": T + "Volume", "volumeTemplate": vol_tpl()},
                                  {"name": "m", "type": T + "Machine", "quantity": 2,
                                   "machineTemplate": {"volumes": [{"href": "#v"}]}}], "quantity"),
]


@test(formats=BOTH)
def template_bad_descriptors(fmt):
    c = client(fmt)
    before = store_snapshot(c)
    for what, descriptors, mention in BAD_TEMPLATES:
        if fmt == "xml" and "schema-invalid" in what:
            continue
        r = c.post(c.add_href("systemTemplates"), fix_order({"resourceURI": NS + "/SystemTemplate",
                                                   "name": "bad", "componentDescriptors": descriptors}))
        assert_error(r, 400, (mention,))
    assert_unchanged(c, before)


@test(formats=BOTH)
def create_names_children_and_job(fmt):
    c = client(fmt)
    t = create_template(c, web_template(c, "web-" + fmt))
    loc, r, jd = create_system(c, {"href": t["id"]}, "shop-" + fmt)
    s = c.read(loc)
    eq(s.get("name"), "shop-" + fmt, "System name from the SystemCreate")
    notin(s.get("state"), ("CREATING", "ERROR", "DELETING"), "System built")
    machines = [c.read(h) for h in member_refs(c, loc, "machines", "machine")]
    eq(sorted(m["name"] for m in machines), ["web-1", "web-2"], "machine names from the descriptor")
    nets = [c.read(h) for h in member_refs(c, loc, "networks", "network")]
    eq([n["name"] for n in nets], ["net"], "quantity 1: the name alone")
    vols = [c.read(h) for h in member_refs(c, loc, "volumes", "volume")]
    eq(sorted(v["name"] for v in vols), ["data-1", "data-2"], "volume names")
    for m in machines:
        nics = coll_items(c.get(m["networkInterfaces"]["href"]).doc)
        eq([n["network"]["href"] for n in nics], [nets[0]["id"]], f"{m['name']} is on the System's network")
        mv = coll_items(c.get(m["volumes"]["href"]).doc)
        eq(len(mv), 1, f"{m['name']} has its volume")
        want = [v["id"] for v in vols if v["name"] == "data-" + m["name"][-1]]
        eq([x["volume"]["href"] for x in mv], want, f"{m['name']} has data-{m['name'][-1]}")
    # the System's own attributes are edited like any resource's
    edited = dict(s, description="the shop")
    r = c.put(loc, {k: v for k, v in edited.items() if k in ("resourceURI", "name", "description")})
    eq(r.status, 200, f"PUT System (reply {r.body[:300]!r})")
    eq(c.read(loc).get("description"), "the shop", "description edited")
    r = c.get(loc, query=[("$expand", "machines,networks")])
    eq(r.status, 200, "a System with its member collections expanded (XML: schema-valid)")
    eq(r.doc["machines"].get("count"), 2, "expanded machines collection")
    item = members(c, loc, "machines")[0]
    eq(c.read(item["id"])["machine"]["href"], item["machine"]["href"], "a member item reads back")
    nested = jd.get("nestedJobs", [])
    check(len(nested) >= 5, f"one nested Job per member with work ({len(nested)})")
    for n in nested:
        j = c.read(n["href"])
        eq(j.get("state"), "SUCCESS", f"nested Job {n['href']}")
        eq(j.get("parentJob", {}).get("href"), jd["id"], "nested Job names its parent")


@test
def create_by_value_and_xml_roundtrip():
    for fmt in BOTH:
        c = client(fmt)
        tpl = web_template(c, quantity=1)
        del tpl["resourceURI"]
        loc, r, jd = create_system(c, tpl, "byvalue-" + fmt)
        eq(sorted(m for m in (c.read(h)["name"] for h in member_refs(c, loc, "machines", "machine"))),
           ["web"], "quantity 1 machine name")


@test(formats=BOTH)
def failed_member_leaves_nothing(fmt):
    """A machine whose image cannot boot fails in its Job: the whole System
    goes, its network and volumes too; nothing is left booked."""
    c = client(fmt)
    admin = Client(daemon(), "admin", fmt="json")
    hosts_before = [(h.get("id"), h.get("allocatedCpu"), h.get("allocatedMemory"))
                    for h in coll_items(admin.list("hosts"))]
    before = store_snapshot(c)
    tpl = web_template(c, quantity=2)
    tpl["componentDescriptors"].append(
        {"name": "bad", "type": T + "Machine",
         # libvirt names architectures in lower case: this one fails in its Job
         "machineTemplate": machine_tpl(c, machineConfig={
             "cpu": 3, "memory": 333333, "disks": [{"capacity": 1000000, "format": "ext4"}],
             "cpuArch": "PowerPC"})})
    del tpl["resourceURI"]
    r = c.post(c.add_href("systems"), fix_order(system_create_doc(tpl, "doomed-" + fmt)))
    isin(r.status, (201, 202), f"SystemCreate accepted (reply {r.body[:300]!r})")
    jd = c.wait_job(r.header("CIMI-Job-URI"), expect="FAILED", timeout=120)
    isin("cpuArch", jd.get("statusMessage") or "", "the Job says which member failed and why")
    wait_gone(c, r.header("Location"))
    deadline = time.time() + 60
    while time.time() < deadline and store_snapshot(c) != before:
        time.sleep(0.2)
    assert_unchanged(c, before, "store after a failed SystemCreate")
    eq([(h.get("id"), h.get("allocatedCpu"), h.get("allocatedMemory"))
        for h in coll_items(admin.list("hosts"))], hosts_before, "nothing left booked")


@test(formats=BOTH)
def create_bad_input_store_unchanged(fmt):
    c = client(fmt)
    before = store_snapshot(c)
    cases = [] if fmt == "xml" else [  # (XML: the schema requires a systemTemplate)
        ({"resourceURI": NS + "/SystemCreate", "name": "x"}, 400)]
    cases += [
        (system_create_doc({"href": "systemTemplates/nope"}), 400),
        (system_create_doc({"componentDescriptors": [
            {"name": "m", "type": T + "Machine",
             "machineTemplate": {"machineConfig": {"href": "machineConfigs/nope"}}}]}), 400),
        (system_create_doc({"componentDescriptors": [
            {"name": "m", "type": T + "Machine", "quantity": 100, "machineTemplate": machine_tpl(c)}] * 6}),
         400),
    ]
    for doc, status in cases:
        r = c.post(c.add_href("systems"), fix_order(doc))
        assert_error(r, status)
    assert_unchanged(c, before)


@test(formats=BOTH)
def members_associate_and_disassociate(fmt):
    c = client(fmt)
    loc, r, jd = create_system(c, {"componentDescriptors": [
        {"name": "n", "type": T + "Network", "networkTemplate": net_tpl()}]}, "assoc-" + fmt)
    r = c.post(c.add_href("volumes"), {"resourceURI": NS + "/VolumeCreate", "name": "mine-" + fmt,
                                       "volumeTemplate": vol_tpl()})
    vol = r.header("Location")
    c.wait_job(r.header("CIMI-Job-URI"))
    vols = c.read(loc)["volumes"]["href"]
    add = op(c.get(vols).doc, "add")
    check(add, "volumes sub-collection offers add")
    r = c.post(add, {"resourceURI": NS + "/SystemVolume", "volume": {"href": vol}})
    isin(r.status, (201, 202), f"associate a Volume (reply {r.body[:300]!r})")
    item = r.header("Location")
    eq(member_refs(c, loc, "volumes", "volume"), [vol], "the Volume is a member")
    before = store_snapshot(c)
    assert_error(c.post(add, {"resourceURI": NS + "/SystemVolume", "volume": {"href": vol}}), 409)
    net = member_refs(c, loc, "networks", "network")[0]
    assert_error(c.post(add, {"resourceURI": NS + "/SystemVolume", "volume": {"href": net}}), 400)
    assert_error(c.post(add, {"resourceURI": NS + "/SystemVolume", "volume": {"href": "volumes/nope"}}), 400)
    bob = client(fmt, "bob")
    r = bob.post(c.add_href("volumes"), {"resourceURI": NS + "/VolumeCreate", "name": "bobs",
                                         "volumeTemplate": vol_tpl()})
    bobs = r.header("Location")
    bob.wait_job(r.header("CIMI-Job-URI"))
    assert_error(c.post(add, {"resourceURI": NS + "/SystemVolume", "volume": {"href": bobs}}), 400)
    assert_error(bob.get(loc), 404)
    assert_error(bob.post(add, {"resourceURI": NS + "/SystemVolume", "volume": {"href": bobs}}), 404)
    assert_unchanged(c, before)
    # disassociate: the Volume stays
    r = c.delete(item)
    eq(r.status, 200, f"disassociate (reply {r.body[:300]!r})")
    eq(member_refs(c, loc, "volumes", "volume"), [], "no longer a member")
    eq(c.get(vol).status, 200, "the Volume stays")
    # associate again, delete the System: the associated Volume stays, the child network goes
    r = c.post(add, {"resourceURI": NS + "/SystemVolume", "volume": {"href": vol}})
    isin(r.status, (201, 202), "associate again")
    r = c.delete(loc)
    isin(r.status, (200, 202), f"delete System (reply {r.body[:300]!r})")
    wait_gone(c, loc)
    eq(c.get(vol).status, 200, "an associated Volume outlives the System")
    wait_gone(c, net)


@test
def member_deleted_directly_leaves_collection():
    c = client()
    loc, r, jd = create_system(c, {"componentDescriptors": [
        {"name": "n", "type": T + "Network", "networkTemplate": net_tpl(), "quantity": 2}]}, "direct")
    nets = member_refs(c, loc, "networks", "network")
    eq(len(nets), 2, "two networks")
    r = c.delete(nets[0])
    isin(r.status, (200, 202), "delete a member Network directly")
    wait_gone(c, nets[0])
    eq(member_refs(c, loc, "networks", "network"), nets[1:], "the System lists only what exists")
    s = c.read(loc)
    eq(c.get(s["networks"]["href"]).doc.get("count"), 1, "count follows")


@test
def fifty_members():
    c = client()
    doc = {"componentDescriptors": [
        {"name": "net", "type": T + "Network", "networkTemplate": net_tpl()},
        {"name": "vm", "type": T + "Machine", "quantity": 49,
         "machineTemplate": machine_tpl(c, networkInterfaces=[{"network": {"href": "#net"}, "state": "ACTIVE"}])}]}
    t0 = time.time()
    loc, r, jd = create_system(c, doc, "fifty")
    took = time.time() - t0
    eq(len(member_refs(c, loc, "machines", "machine")), 49, "49 machines")
    eq(len(member_refs(c, loc, "networks", "network")), 1, "and a network")
    print(f"# 50-member System created in {took:.2f}s")
    r = c.delete(loc)
    isin(r.status, (200, 202), "delete the 50-member System")
    wait_gone(c, loc)
    eq([m for m in coll_items(c.list("machines")) if m.get("name", "").startswith("vm-")], [],
       "its machines are gone")


@test(formats=BOTH)
def tenants_isolated(fmt):
    c, bob = client(fmt), client(fmt, "bob")
    t = create_template(c, {"resourceURI": NS + "/SystemTemplate", "name": "private-" + fmt,
                            "componentDescriptors": [
                                {"name": "n", "type": T + "Network", "networkTemplate": net_tpl()}]})
    loc, r, jd = create_system(c, {"href": t["id"]}, "private-" + fmt)
    before = store_snapshot(c)
    bob_before = store_snapshot(bob)
    assert_error(bob.get(t["id"]), 404)
    assert_error(bob.get(loc), 404)
    assert_error(bob.get(c.read(loc)["networks"]["href"]), 404)
    notin(loc, ids(bob.list("systems")), "bob does not list alice's System")
    notin(t["id"], ids(bob.list("systemTemplates")), "nor her SystemTemplate")
    assert_error(bob.post(bob.add_href("systems"), fix_order(system_create_doc({"href": t["id"]}, "steal"))),
                 400)
    assert_error(bob.delete(loc), 404)
    # a template by value naming alice's network by href: not bob's
    net = member_refs(c, loc, "networks", "network")[0]
    assert_error(bob.post(bob.add_href("systems"), fix_order(system_create_doc({"componentDescriptors": [
        {"name": "m", "type": T + "Machine",
         "machineTemplate": machine_tpl(bob, networkInterfaces=[{"network": {"href": net}, "state": "ACTIVE"}])}]},
        "steal2"))), 400)
    assert_unchanged(c, before)
    assert_unchanged(bob, bob_before)


@test
def kill9_during_create_ends_complete_or_gone():
    """kill -9 right after a SystemCreate was accepted: after the restart the
    System is complete (its Job SUCCESS, every member there) or gone with
    all its members (Job FAILED)."""
    d = Daemon(name="systems-kill9", args=["--workers", "1"])
    d.start()
    try:
        c = Client(d, "alice")
        doc = {"componentDescriptors": [
            {"name": "net", "type": T + "Network", "networkTemplate": net_tpl()},
            {"name": "vm", "type": T + "Machine", "quantity": 8,
             "machineTemplate": machine_tpl(c, networkInterfaces=[{"network": {"href": "#net"}, "state": "ACTIVE"}])}]}
        r = c.post(c.add_href("systems"), system_create_doc(doc, "crashy"))
        isin(r.status, (201, 202), f"SystemCreate accepted ({r.body[:200]!r})")
        loc, job = r.header("Location"), r.header("CIMI-Job-URI")
        d.kill9()
        d.start()
        c = Client(d, "alice")
        jd, end = {}, time.time() + 120
        while time.time() < end:
            jd = c.read(job)
            if jd.get("state") in ("SUCCESS", "FAILED"):
                break
            time.sleep(0.1)
        isin(jd.get("state"), ("SUCCESS", "FAILED"), "the create Job ends after the restart")
        if jd["state"] == "SUCCESS":
            eq(len(member_refs(c, loc, "machines", "machine")), 8, "complete: 8 machines")
            for h in member_refs(c, loc, "machines", "machine"):
                notin(c.read(h).get("state"), ("CREATING", "ERROR"), f"{h} built")
        else:
            wait_gone(c, loc)
            eq([m for m in coll_items(c.list("machines")) if m.get("name", "").startswith("vm")], [],
               "no machine of the failed System is left")
    finally:
        d.stop()


@test
def stop_queued_create_leaves_nothing():
    """--workers 1: a SystemCreate queued behind a large one is stopped
    (202, STOPPED): its System, members and member items are gone and
    nothing stays booked; the large one is complete."""
    from cimitest import action_doc
    d = Daemon(name="systems-stop", args=["--workers", "1"])
    d.start()
    try:
        c, admin = Client(d, "alice"), Client(d, "admin")
        hosts = lambda: [(h.get("allocatedCpu"), h.get("allocatedMemory"))  # noqa: E731
                         for h in coll_items(admin.list("hosts"))]
        booked = hosts()
        def small(a):
            return {"componentDescriptors": [
                {"name": f"n{a}", "type": T + "Network", "networkTemplate": net_tpl()},
                {"name": f"k{a}", "type": T + "Credential", "credentialTemplate": {"userName": "u"}},
                {"name": f"m{a}", "type": T + "Machine", "quantity": 3,
                 "machineTemplate": machine_tpl(c, networkInterfaces=[
                     {"network": {"href": f"#n{a}"}, "state": "ACTIVE"}])}]}
        stopped = None
        for attempt in range(6):
            big = c.post(c.add_href("systems"), system_create_doc({"componentDescriptors": [
                {"name": f"b{attempt}", "type": T + "Machine", "quantity": 100,
                 "machineTemplate": machine_tpl(c)}]}, f"big{attempt}"))
            isin(big.status, (201, 202), "the large System is accepted")
            r = c.post(c.add_href("systems"), system_create_doc(small(attempt), f"small{attempt}"))
            isin(r.status, (201, 202), "the small System is accepted")
            job = r.header("CIMI-Job-URI")
            href = op(c.read(job), "stop")
            if href and c.post(href, action_doc("stop")).status == 202:
                stopped = (r.header("Location"), job, attempt)
            c.wait_job(big.header("CIMI-Job-URI"), timeout=120)
            if stopped:
                break
            c.wait_job(job, timeout=120)
        check(stopped, "a queued SystemCreate could be stopped in 6 attempts")
        loc, job, a = stopped
        c.wait_job(job, expect="STOPPED", timeout=60)
        assert_error(c.get(loc), 404)
        for coll in ("machines", "networks", "credentials"):
            eq([x["name"] for x in coll_items(c.list(coll))
                if x.get("name") in (f"n{a}", f"k{a}", f"m{a}-1", f"m{a}-2", f"m{a}-3")], [],
               f"no {coll} of the stopped System")
        for s in coll_items(c.list("systems")):
            r = c.delete(s["id"])
            isin(r.status, (200, 202), "delete the large Systems")
            wait_gone(c, s["id"])
        eq(hosts(), booked, "nothing left booked")
    finally:
        d.stop()
