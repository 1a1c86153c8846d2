"""Machines: creation (cimi.md 3.10 worked examples, by reference and by value),
Jobs, initial states, the state machine and its operations, 409s, capture,
disks, update and partial update, $expand, delete."""

from cimitest import (check_created, ACTION, BOTH, NS, TRANSIENT_STATES, Client, action_doc, assert_error,
                      assert_unchanged, check, coll_items, create_machine, do_action, eq, ids,
                      is_datetime, isin, machine_create_doc, ne, notin, op, rels, shared,
                      store_snapshot, test)


def daemon():
    return shared("machines")


def client(fmt="json", user="alice"):
    return Client(daemon(), user, fmt=fmt)


def small_debian(c):
    """A MachineTemplate to reference, created once per daemon."""
    key = ("small-debian", c.user)
    if key not in c.d.cache:
        body = {"resourceURI": NS + "/MachineTemplate", "name": "small-debian",
                "machineConfig": {"href": c.default_config()["id"]},
                "machineImage": {"href": c.default_image()["id"]}}
        r = c.post(c.add_href("machineTemplates"), body, fmt="json")
        eq(r.status, 201, "create MachineTemplate small-debian")
        c.d.cache[key] = r.header("Location")
    return c.d.cache[key]


def check_create_reply(c, r, name):
    """201 (Job done) or 202 (the Machine still CREATING) + Location +
    CIMI-Job-URI + body = the Machine."""
    check_created(r, f"create {name}")
    loc = r.header("Location")
    job = r.header("CIMI-Job-URI")
    check(loc and loc.startswith("http://"), f"absolute Location: {loc!r}")
    check(job and job.startswith("http://"), f"absolute CIMI-Job-URI: {job!r}")
    d = r.doc
    eq(d["resourceURI"], NS + "/Machine", "create reply body type")
    eq(d.get("id"), loc, "body id = Location")
    eq(d.get("name"), name, "body name")
    if r.status == 202:
        eq(d.get("state"), "CREATING", "state in the create reply")
    return loc, job


def check_create_job(c, job, loc):
    jd = c.wait_job(job)
    eq(jd.get("id"), job, "Job id = CIMI-Job-URI")
    eq(jd.get("progress"), 100, "progress of a finished Job")
    eq(jd.get("targetResource", {}).get("href"), c.coll("machines"),
       "targetResource of an add = the collection")
    affected = [a.get("href") for a in jd.get("affectedResources") or []]
    isin(loc, affected, "affectedResources includes the new machine")
    check(jd.get("action"), "Job has an action")
    is_datetime(jd.get("timeOfStatusChange"), "Job timeOfStatusChange")
    return jd


# ---------------------------------------------------------------- 3.10 worked examples

@test
def example_template_ref_json():
    """cimi.md 3.10, first example, as written (JSON), href = a real template."""
    c = client("json")
    body = {"resourceURI": "http://schemas.dmtf.org/cimi/1/MachineCreate",
            "name": "web1", "properties": {"owner": "bob"},
            "machineTemplate": {"href": small_debian(c), "initialState": "STARTED"}}
    r = c.post(c.add_href("machines"), body)
    loc, job = check_create_reply(c, r, "web1")
    check_create_job(c, job, loc)
    m = c.wait_state(loc, "STARTED")
    eq(m.get("name"), "web1", "name from the MachineCreate")
    eq(m.get("properties"), {"owner": "bob"}, "properties from the MachineCreate")
    cfg = c.default_config()
    eq(m.get("cpu"), cfg["cpu"], "cpu from the template's config")
    eq(m.get("memory"), cfg["memory"], "memory from the template's config")
    isin(loc, ids(c.list("machines")), "machine listed")
    # the template itself is unchanged by the override
    t = c.read(small_debian(c))
    ne(t.get("initialState"), "STARTED", "override did not change the template")


@test
def example_template_ref_xml():
    """The same MachineCreate in XML: template by reference with an override."""
    c = client("xml")
    tpl = small_debian(c)
    xml = ('<MachineCreate xmlns="http://schemas.dmtf.org/cimi/1">'
           '<name>web1x</name><property key="owner">bob</property>'
           f'<machineTemplate href="{tpl}"><initialState>STARTED</initialState></machineTemplate>'
           '</MachineCreate>')
    r = c.post(c.add_href("machines"), xml)
    loc, job = check_create_reply(c, r, "web1x")
    check_create_job(c, job, loc)
    m = c.wait_state(loc, "STARTED")
    eq(m.get("properties"), {"owner": "bob"}, "properties")


def _example_xml(c, namespace):
    cfg, img = c.default_config(), c.default_image()
    ns = ' xmlns="http://schemas.dmtf.org/cimi/1"' if namespace else ""
    xml = (f'<MachineCreate{ns}>\n'
           f'  <name>web1</name>\n'
           f'  <machineTemplate>\n'
           f'    <machineConfig href="{cfg["id"]}"/>\n'
           f'    <machineImage href="{img["id"]}"/>\n'
           f'    <userData>QmFzZS02NCBlbmNvZGVkIGRhdGE=</userData>\n'
           f'  </machineTemplate>\n'
           f'</MachineCreate>\n')
    r = c.post(c.add_href("machines"), xml)
    check(r.status in (201, 202), f"XML example -> 201/202, got {r.status} {r.body[:300]!r}")
    loc = r.header("Location")
    check(loc, "Location")
    job = r.header("CIMI-Job-URI")
    check_create_job(c, job, loc)
    m = c.wait_state(loc, "STOPPED")  # no initialState: DefaultInitialState = STOPPED
    eq(m.get("name"), "web1", "name")
    eq(m.get("cpu"), cfg["cpu"], "cpu")
    eq(m.get("memory"), cfg["memory"], "memory")


@test
def example_by_value_xml():
    """cimi.md 3.10, second example, as written (XML with the namespace)."""
    _example_xml(client("xml"), True)


@test
def example_by_value_xml_no_namespace():
    """The same without the namespace declaration (clients in the wild send it)."""
    _example_xml(client("xml"), False)


@test
def example_by_value_json():
    """The second example's JSON equivalent."""
    c = client("json")
    cfg, img = c.default_config(), c.default_image()
    body = {"resourceURI": NS + "/MachineCreate", "name": "web1j",
            "machineTemplate": {"machineConfig": {"href": cfg["id"]}, "machineImage": {"href": img["id"]},
                                "userData": "QmFzZS02NCBlbmNvZGVkIGRhdGE="}}
    r = c.post(c.add_href("machines"), body)
    loc, job = check_create_reply(c, r, "web1j")
    check_create_job(c, job, loc)
    c.wait_state(loc, "STOPPED")


# ---------------------------------------------------------------- creation variants

@test(formats=BOTH)
def create_all_by_value(fmt):
    """machineConfig, machineImage and credential all by value."""
    c = client(fmt)
    img = c.default_image()
    image_val = {"name": "inline-image"}
    if img.get("type"):
        image_val["type"] = img["type"]
    image_val["imageLocation"] = img["imageLocation"]
    body = {"resourceURI": NS + "/MachineCreate", "name": f"byvalue-{fmt}", "description": "all inline",
            "machineTemplate": {
                "initialState": "STARTED",
                "machineConfig": {"cpu": 2, "memory": 524288,
                                  "disks": [{"capacity": 2097152, "format": "ext4",
                                             "initialLocation": "/dev/vda"}]},
                "machineImage": image_val,
                "credential": {"userName": "root", "password": "toor"}}}
    r = c.post(c.add_href("machines"), body)
    loc, job = check_create_reply(c, r, f"byvalue-{fmt}")
    check_create_job(c, job, loc)
    m = c.wait_state(loc, "STARTED")
    eq(m.get("cpu"), 2, "cpu from the by-value config")
    eq(m.get("memory"), 524288, "memory from the by-value config")
    eq(m.get("description"), "all inline", "description")
    disks = coll_items(c.list(m["disks"]["href"]))
    eq(len(disks), 1, "one disk from the by-value config")
    eq(disks[0].get("capacity"), 2097152, "disk capacity")


@test(formats=BOTH)
def create_template_by_value_with_credential_ref(fmt):
    c = client(fmt)
    r = c.post(c.add_href("credentials"), {"resourceURI": NS + "/CredentialCreate", "name": f"mc-{fmt}",
                                           "credentialTemplate": {"userName": "ops", "password": "pw"}})
    eq(r.status, 201, "create Credential")
    cred = r.header("Location")
    body = machine_create_doc(c, f"with-cred-{fmt}", "STARTED", credential={"href": cred})
    r = c.post(c.add_href("machines"), body)
    loc, job = check_create_reply(c, r, f"with-cred-{fmt}")
    check_create_job(c, job, loc)
    c.wait_state(loc, "STARTED")


@test(formats=BOTH)
def create_template_ref_null_override(fmt):
    """A reference template with initialState STARTED, overridden to null
    (erased): the machine falls back to the default (STOPPED)."""
    c = client(fmt)
    body = {"resourceURI": NS + "/MachineTemplate", "name": f"started-tpl-{fmt}", "initialState": "STARTED",
            "machineConfig": {"href": c.default_config()["id"]},
            "machineImage": {"href": c.default_image()["id"]}}
    r = c.post(c.add_href("machineTemplates"), body)
    eq(r.status, 201, "create template")
    tpl = r.header("Location")
    create_machine(c, f"tpl-default-{fmt}", "STARTED", body={
        "resourceURI": NS + "/MachineCreate", "name": f"tpl-default-{fmt}",
        "machineTemplate": {"href": tpl}})
    r = c.post(c.add_href("machines"), {"resourceURI": NS + "/MachineCreate", "name": f"tpl-null-{fmt}",
                                        "machineTemplate": {"href": tpl, "initialState": None}})
    loc, job = check_create_reply(c, r, f"tpl-null-{fmt}")
    c.wait_job(job)
    c.wait_state(loc, "STOPPED")


@test(formats=BOTH)
def initial_states(fmt):
    """Every state of the InitialStates capability is reached when asked for."""
    c = client(fmt)
    meta = coll_items(c.list("resourceMetadata"))
    mach = [m for m in meta if m.get("typeURI") == NS + "/Machine"]
    check(mach, "Machine ResourceMetadata")
    caps = {cap.get("name"): cap for cap in mach[0].get("capabilities") or []}
    states = [s.strip() for s in str(caps["InitialStates"]["value"]).split(",") if s.strip()]
    check(states, "InitialStates lists states")
    for s in states:
        m = create_machine(c, f"init-{s.lower()}-{fmt}", initial_state=s)
        eq(m.get("state"), s, f"machine created with initialState {s}")


@test(formats=BOTH)
def default_initial_state(fmt):
    c = client(fmt)
    m = create_machine(c, f"default-{fmt}")
    eq(m.get("state"), "STOPPED", "default initial state")


@test(formats=BOTH)
def create_dangling_reference(fmt):
    c = client(fmt)
    before = store_snapshot(c)
    body = machine_create_doc(c, "dangling")
    body["machineTemplate"]["machineConfig"] = {"href": c.coll("machineConfigs") + "/no-such-config"}
    r = c.post(c.add_href("machines"), body)
    check(r.status in (400, 404), f"dangling machineConfig -> 400/404, got {r.status}")
    assert_error(r, r.status, mention=("machineConfig", "no-such-config"), fmt=fmt)
    body = {"resourceURI": NS + "/MachineCreate", "name": "dangling-tpl",
            "machineTemplate": {"href": c.coll("machineTemplates") + "/no-such-template"}}
    r = c.post(c.add_href("machines"), body)
    check(r.status in (400, 404), f"dangling machineTemplate -> 400/404, got {r.status}")
    assert_error(r, r.status, mention=("machineTemplate", "no-such-template"), fmt=fmt)
    assert_unchanged(c, before)


@test(formats=BOTH)
def create_invalid(fmt):
    c = client(fmt)
    before = store_snapshot(c)
    add = c.add_href("machines")
    # unsupported template member (attach existing volumes)
    body = machine_create_doc(c, "with-volumes")
    body["machineTemplate"]["volumes"] = [{"href": c.coll("machines") + "/v1"}]
    r = c.post(add, body, validate_request=False)
    assert_error(r, 400, mention="volume", fmt=fmt)
    # config by value missing memory
    body = machine_create_doc(c, "no-memory")
    body["machineTemplate"]["machineConfig"] = {"cpu": 1}
    r = c.post(add, body)
    assert_error(r, 400, mention="memory", fmt=fmt)
    # wrong type of a create attribute
    body = machine_create_doc(c, "bad-props")
    if fmt == "json":
        body["properties"] = "owner=bob"
        r = c.post(add, body)
        assert_error(r, 400, mention=("properties", "property"), fmt=fmt)
    # unknown attribute at the top of the MachineCreate
    body = machine_create_doc(c, "unknown-top")
    body["flavor"] = "large"
    r = c.post(add, body, validate_request=False)
    assert_error(r, 400, mention="flavor", fmt=fmt)
    assert_unchanged(c, before)


# ---------------------------------------------------------------- state machine

STOPPED_OK = {"start", "capture", "edit", "delete"}
STOPPED_NO = {"stop", "pause", "suspend"}
STARTED_OK = {"stop", "restart", "pause", "suspend", "capture", "edit", "delete"}
STARTED_NO = {"start"}
PAUSED_OK = {"start", "capture", "edit", "delete"}
PAUSED_NO = {"pause", "suspend"}
SUSPENDED_OK = {"start", "edit", "delete"}
SUSPENDED_NO = {"pause", "suspend", "capture"}  # no snapshot of a saved domain


def check_ops(m, ok, no):
    have = rels(m)
    for r in ok:
        isin(r, have, f"operations of a {m.get('state')} machine")
    for r in no:
        notin(r, have, f"operations of a {m.get('state')} machine")
    for o in m.get("operations") or []:
        check(o.get("href", "").startswith("http://"), f"absolute operation href {o!r}")
        rel = o.get("rel", "")
        check(rel in ("edit", "delete") or rel.startswith(ACTION), f"operation rel {rel!r}")
    if "restart" in have and "start" in have:
        check(have.index("restart") < have.index("start"), "restart listed before start")


@test(formats=BOTH)
def state_machine(fmt):
    c = client(fmt)
    m = create_machine(c, f"sm-{fmt}")
    eq(m["state"], "STOPPED", "created STOPPED")
    check_ops(m, STOPPED_OK, STOPPED_NO)
    m, jd = do_action(c, m, "start", "STARTED")
    affected = [a.get("href") for a in jd.get("affectedResources") or []]
    isin(m["id"], affected, "action Job affectedResources")
    eq(jd.get("progress"), 100, "progress")
    check("start" in (jd.get("action") or ""), f"Job action names start: {jd.get('action')!r}")
    check_ops(m, STARTED_OK, STARTED_NO)
    m, _ = do_action(c, m, "pause", "PAUSED")
    check_ops(m, PAUSED_OK, PAUSED_NO)
    m, _ = do_action(c, m, "start", "STARTED")        # resume
    m, _ = do_action(c, m, "suspend", "SUSPENDED")
    check_ops(m, SUSPENDED_OK, SUSPENDED_NO)
    m, _ = do_action(c, m, "start", "STARTED")        # resume from suspend
    m, jd = do_action(c, m, "restart", "STARTED")
    check("restart" in (jd.get("action") or ""), f"Job action names restart: {jd.get('action')!r}")
    m, _ = do_action(c, m, "stop", "STOPPED", force=True)
    check_ops(m, STOPPED_OK, STOPPED_NO)


@test(formats=BOTH)
def stop_graceful_and_default(fmt):
    c = client(fmt)
    m = create_machine(c, f"graceful-{fmt}", "STARTED")
    m, _ = do_action(c, m, "stop", "STOPPED", force=False)
    m, _ = do_action(c, m, "start", "STARTED")
    m, _ = do_action(c, m, "stop", "STOPPED")          # no force given
    m, _ = do_action(c, m, "restart", "STARTED")       # restart from STOPPED = start


@test(formats=BOTH)
def disallowed_operations(fmt):
    c = client(fmt)
    m = create_machine(c, f"conflict-{fmt}", "STARTED")
    started_hrefs = {r: op(m, r) for r in ("pause", "suspend", "stop")}
    m, _ = do_action(c, m, "stop", "STOPPED", force=True)
    start_href = op(m, "start")
    before = store_snapshot(c)
    for name, href in started_hrefs.items():
        check(href, f"{name} href learnt while STARTED")
        r = c.post(href, action_doc(name, True if name == "stop" else None))
        assert_error(r, 409, mention=(name, "STOPPED", "state"), fmt=fmt)
        g = c.read(m["id"])
        eq(g.get("state"), "STOPPED", f"state unchanged after a refused {name}")
        eq(g.get("updated"), m.get("updated"), f"updated unchanged after a refused {name}")
        eq(sorted(rels(g)), sorted(rels(m)), "operations unchanged")
    assert_unchanged(c, before)
    m, _ = do_action(c, m, "start", "STARTED")
    r = c.post(start_href, action_doc("start"))
    assert_error(r, 409, mention=("start", "STARTED", "state"), fmt=fmt)
    eq(c.read(m["id"]).get("state"), "STARTED", "state unchanged after a refused start")
    m, _ = do_action(c, m, "pause", "PAUSED")
    for name in ("pause", "suspend"):
        r = c.post(started_hrefs[name], action_doc(name))
        assert_error(r, 409, mention=(name, "PAUSED", "state"), fmt=fmt)
        eq(c.read(m["id"]).get("state"), "PAUSED", f"still PAUSED after a refused {name}")


@test(formats=BOTH)
def bad_action_body(fmt):
    c = client(fmt)
    m = create_machine(c, f"badaction-{fmt}", "STARTED")
    href = op(m, "stop")
    for body in ('{"action": ' if fmt == "json" else "<Action><action>", ):
        r = c.post(href, body)
        assert_error(r, 400, fmt=fmt)
    d = action_doc("stop", True)
    d["speed"] = "fast"
    r = c.post(href, d, validate_request=False)
    assert_error(r, 400, mention="speed", fmt=fmt)
    if fmt == "json":
        d = action_doc("stop")
        d["force"] = "yes"
        r = c.post(href, d)
        assert_error(r, 400, mention="force", fmt=fmt)
    r = c.post(href, action_doc("stop", True), content_type="text/plain")
    assert_error(r, 415, fmt=fmt)
    eq(c.read(m["id"]).get("state"), "STARTED", "still STARTED after bad actions")


# ---------------------------------------------------------------- capture

@test(formats=BOTH)
def capture(fmt):
    c = client(fmt)
    m = create_machine(c, f"capture-{fmt}")
    cap = op(m, "capture")
    check(cap, "STOPPED machine offers capture")
    eq(cap, c.add_href("machineImages"), "capture href = MachineImage collection add")
    body = {"resourceURI": NS + "/MachineImage", "name": f"img-{fmt}", "description": "captured",
            "type": "IMAGE", "imageLocation": m["id"]}
    r = c.post(cap, body)
    check_created(r, "capture")
    loc = r.header("Location")
    check(loc, "Location")
    d = r.doc
    eq(d["resourceURI"], NS + "/MachineImage", "reply is the MachineImage")
    eq(d.get("id"), loc, "body id = Location")
    isin(d.get("state"), ("CREATING", "AVAILABLE"), "image state in the reply")
    if r.header("CIMI-Job-URI"):
        c.wait_job(r.header("CIMI-Job-URI"))
    img = c.wait_state(loc, "AVAILABLE")
    eq(img.get("name"), f"img-{fmt}", "image name")
    eq(img.get("type"), "IMAGE", "image type")
    check(img.get("imageLocation"), "image has an imageLocation")
    isin(loc, ids(c.list("machineImages")), "captured image listed")
    c.wait_state(m["id"], "STOPPED")  # back to STOPPED once captured
    # a machine created from the captured image
    body = machine_create_doc(c, f"from-capture-{fmt}")
    body["machineTemplate"]["machineImage"] = {"href": loc}
    nm = create_machine(c, f"from-capture-{fmt}", body=body)
    eq(nm.get("state"), "STOPPED", "machine from the captured image")


@test
def capture_xml_alias():
    """cimi.md 3.10: MachineImageCreate root and padded values are accepted."""
    c = client("xml")
    m = create_machine(c, "capture-alias")
    cap = op(m, "capture")
    xml = ('<MachineImageCreate xmlns="http://schemas.dmtf.org/cimi/1">'
           '<name>alias-img</name><type> IMAGE </type>'
           f'<imageLocation>{m["id"]}</imageLocation></MachineImageCreate>')
    r = c.post(cap, xml)
    check_created(r, "MachineImageCreate alias")
    loc = r.header("Location")
    eq(r.doc.get("id"), loc, "body id = Location")
    img = c.wait_state(loc, "AVAILABLE")
    eq(img.get("type"), "IMAGE", "type trimmed")


@test(formats=BOTH)
def capture_invalid(fmt):
    c = client(fmt)
    before = store_snapshot(c)
    add = c.add_href("machineImages")
    r = c.post(add, {"resourceURI": NS + "/MachineImage", "name": "nowhere", "type": "IMAGE",
                     "imageLocation": c.coll("machines") + "/no-such-machine"})
    check(r.status in (400, 404), f"capture of a missing machine -> 400/404, got {r.status}")
    assert_error(r, r.status, mention=("imageLocation", "no-such-machine"), fmt=fmt)
    r = c.post(add, {"resourceURI": NS + "/MachineImage", "name": "no-location", "type": "IMAGE"})
    assert_error(r, 400, mention="imageLocation", fmt=fmt)
    assert_unchanged(c, before)


# ---------------------------------------------------------------- disks, volumes, expand

def machine_with_disk(c, name, initial_state=None):
    body = machine_create_doc(c, name, initial_state)
    body["machineTemplate"]["machineConfig"] = {
        "cpu": 1, "memory": 262144,
        "disks": [{"capacity": 1048576, "format": "ext4", "initialLocation": "/dev/vda"}]}
    return create_machine(c, name, initial_state, body=body)


@test(formats=BOTH)
def disks(fmt):
    c = client(fmt)
    m = machine_with_disk(c, f"disks-{fmt}")
    check(isinstance(m.get("disks"), dict) and m["disks"].get("href"), "machine has a disks reference")
    check(isinstance(m.get("volumes"), dict) and m["volumes"].get("href"), "machine has a volumes reference")
    notin("count", m["disks"], "disks not expanded by default")
    r = c.get(m["disks"]["href"])
    eq(r.status, 200, "GET disks")
    d = r.doc
    eq(d["resourceURI"], NS + "/DiskCollection", "disks collection type")
    eq(d.get("id"), m["disks"]["href"], "disks collection id")
    items = coll_items(d)
    eq(d.get("count"), len(items), "count = items")
    eq(len(items), 1, "one disk")
    eq(items[0].get("capacity"), 1048576, "disk capacity")
    eq(items[0].get("initialLocation"), "/dev/vda", "disk initialLocation")
    if fmt == "json":
        check(items[0].get("id"), "JSON disk has an id")
        g = c.read(items[0]["id"])
        eq(g.get("capacity"), 1048576, "disk read by id")
    r = c.get(m["volumes"]["href"])
    eq(r.status, 200, "GET volumes")
    eq(r.doc["resourceURI"], NS + "/MachineVolumeCollection", "volumes collection type")
    eq(r.doc.get("count"), 0, "no volumes attached")


@test(formats=BOTH)
def expand_disks(fmt):
    c = client(fmt)
    m = machine_with_disk(c, f"expand-{fmt}")
    e = c.read(m["id"], query=[("$expand", "disks")])
    dk = e.get("disks")
    eq(dk.get("href"), m["disks"]["href"], "expanded disks keeps href")
    eq(dk.get("id"), m["disks"]["href"], "expanded disks id")
    eq(dk.get("count"), 1, "expanded disks count")
    items = dk.get("disks") or []
    eq(len(items), 1, "expanded disks items")
    eq(items[0].get("capacity"), 1048576, "expanded disk capacity")
    notin("count", e.get("volumes", {}), "volumes not expanded")
    # on the collection: each item's disks expanded
    lst = c.list("machines", query=[("$expand", "disks"), ("$filter", f"name='expand-{fmt}'")])
    items = coll_items(lst)
    eq(len(items), 1, "filtered list")
    eq(items[0]["disks"].get("count"), 1, "disks expanded inside the collection")


@test(formats=BOTH)
def machine_update(fmt):
    c = client(fmt)
    m = create_machine(c, f"upd-{fmt}", properties={"a": "1"})
    edit = op(m, "edit")
    check(edit, "edit operation")
    body = dict(m)
    body["name"] = f"upd-{fmt}-renamed"
    body["description"] = "renamed"
    body["properties"] = {"b": "2"}
    body["state"] = "STARTED"          # read-only: ignored
    body["cpu"] = m.get("cpu")
    r = c.put(edit, body)
    check(r.status in (200, 202), f"PUT machine -> 200, got {r.status} {r.body[:300]!r}")
    if r.header("CIMI-Job-URI"):
        c.wait_job(r.header("CIMI-Job-URI"))
    g = c.read(m["id"])
    eq(g.get("name"), f"upd-{fmt}-renamed", "name updated")
    eq(g.get("description"), "renamed", "description updated")
    eq(g.get("properties"), {"b": "2"}, "properties replaced")
    eq(g.get("state"), "STOPPED", "read-only state ignored")
    eq(g.get("created"), m.get("created"), "created unchanged")


@test(formats=BOTH)
def partial_update(fmt):
    c = client(fmt)
    m = create_machine(c, f"partial-{fmt}", description="to be cleared", properties={"keep": "me"})
    r = c.put(m["id"], {"resourceURI": NS + "/Machine", "name": f"partial-{fmt}-x"},
              query=[("$select", "name,description")])
    check(r.status in (200, 202), f"partial PUT -> 200, got {r.status} {r.body[:300]!r}")
    if r.header("CIMI-Job-URI"):
        c.wait_job(r.header("CIMI-Job-URI"))
    g = c.read(m["id"])
    eq(g.get("name"), f"partial-{fmt}-x", "selected name set")
    notin("description", g, "selected-but-absent description cleared")
    eq(g.get("properties"), {"keep": "me"}, "unselected properties kept")
    eq(g.get("state"), "STOPPED", "state kept")
    # attribute in the body but not selected -> error, nothing changes
    before = store_snapshot(c)
    r = c.put(m["id"], {"resourceURI": NS + "/Machine", "name": "nope", "description": "nope"},
              query=[("$select", "name")])
    assert_error(r, 400, mention="description", fmt=fmt)
    assert_unchanged(c, before)


@test(formats=BOTH)
def update_conflict_and_unknown(fmt):
    c = client(fmt)
    m = create_machine(c, f"upd-bad-{fmt}")
    before = store_snapshot(c)
    body = {"resourceURI": NS + "/Machine", "name": "x", "weight": "heavy"}
    r = c.put(op(m, "edit"), body, validate_request=False)
    assert_error(r, 400, mention="weight", fmt=fmt)
    assert_unchanged(c, before)


# ---------------------------------------------------------------- delete

@test(formats=BOTH)
def delete_machine(fmt):
    c = client(fmt)
    m = machine_with_disk(c, f"del-{fmt}", "STARTED")
    disks_href = m["disks"]["href"]
    dl = op(m, "delete")
    check(dl, "delete operation")
    r = c.delete(dl)
    eq(r.status, 200, "DELETE machine -> 200")
    job = r.header("CIMI-Job-URI")
    check(job, "DELETE reply has a CIMI-Job-URI")
    jd = c.wait_job(job)
    check("delete" in (jd.get("action") or ""), f"Job action names delete: {jd.get('action')!r}")
    assert_error(c.get(m["id"]), 404, fmt=fmt)
    assert_error(c.get(disks_href), 404, fmt=fmt)
    notin(m["id"], ids(c.list("machines")), "deleted machine not listed")
    # actions on a deleted machine -> 404
    assert_error(c.post(op(m, "stop"), action_doc("stop", True)), 404, fmt=fmt)
    assert_error(c.delete(dl), 404, fmt=fmt)
    # the Job is still readable
    eq(c.read(job).get("state"), "SUCCESS", "delete Job readable after the delete")


@test(formats=BOTH)
def machine_document(fmt):
    """Attributes of a Machine: common attributes, state, cpu, memory,
    refs, operations with absolute hrefs."""
    c = client(fmt)
    m = create_machine(c, f"doc-{fmt}", description="describe me", properties={"k": "v"})
    eq(m["resourceURI"], NS + "/Machine", "type")
    check(m.get("id", "").startswith("http://"), "absolute id")
    eq(m.get("description"), "describe me", "description")
    eq(m.get("properties"), {"k": "v"}, "properties")
    is_datetime(m.get("created"), "created")
    is_datetime(m.get("updated"), "updated")
    check(isinstance(m.get("cpu"), int) and isinstance(m.get("memory"), int), "cpu/memory integers")
    notin(m.get("state"), TRANSIENT_STATES, "stable state")
    eq(op(m, "edit") is not None and op(m, "delete") is not None, True, "edit and delete offered")


@test
def xml_request_variants():
    """cimi.md 1 and 2.2: accept <property name=".."> (1.0.0 form) as well as
    key, and ignore a resourceURI attribute on the request root."""
    c = client("xml")
    cfg, img = c.default_config(), c.default_image()
    xml = (f'<MachineCreate xmlns="{NS}" resourceURI="{NS}/MachineCreate">'
           '<name>xml-variants</name><property name="legacy">yes</property>'
           '<property key="modern">yes</property>'
           f'<machineTemplate><machineConfig href="{cfg["id"]}"/><machineImage href="{img["id"]}"/>'
           '</machineTemplate></MachineCreate>')
    r = c.post(c.add_href("machines"), xml)
    loc, job = check_create_reply(c, r, "xml-variants")
    c.wait_job(job)
    m = c.wait_state(loc, "STOPPED")
    eq(m.get("properties"), {"legacy": "yes", "modern": "yes"}, "properties from both attribute forms")
    # an Action with the resourceURI attribute and no namespace
    xml = f'<Action resourceURI="{NS}/Action"><action>{ACTION}start</action></Action>'
    r = c.post(op(m, "start"), xml)
    eq(r.status, 202, f"namespace-less Action -> 202 ({r.body[:200]!r})")
    c.wait_job(r.header("CIMI-Job-URI"))
    c.wait_state(loc, "STARTED")


@test(formats=BOTH)
def action_lenient(fmt):
    """cimi.md 2.8: trim whitespace in the action value (clients send it padded)."""
    c = client(fmt)
    m = create_machine(c, f"lenient-{fmt}", "STARTED")
    body = {"resourceURI": NS + "/Action", "action": "  " + ACTION + "stop \n", "force": True}
    r = c.post(op(m, "stop"), body, validate_request=False)
    eq(r.status, 202, f"padded action value -> 202 ({r.body[:200]!r})")
    c.wait_job(r.header("CIMI-Job-URI"))
    c.wait_state(m["id"], "STOPPED")


@test
def job_outcome_shows_at_once():
    """A read right after a Job's outcome shows the state that Job produced
    (the driver keeps states in memory, fed by libvirt's events: its own
    calls must not wait for their events).  No waiting between the Job's
    SUCCESS and the reads, single and in a filtered collection."""
    c = client()
    m = create_machine(c, "outcome-at-once", "STOPPED")
    steps = [("start", "STARTED"), ("pause", "PAUSED"), ("start", "STARTED"),
             ("suspend", "SUSPENDED"), ("start", "STARTED"), ("restart", "STARTED"),
             ("stop", "STOPPED"), ("start", "STARTED"), ("suspend", "SUSPENDED"),
             ("start", "STARTED"), ("pause", "PAUSED"), ("stop", "STOPPED")]
    for rnd in range(3):
        for action, want in steps:
            force = True if action == "stop" else None
            r = c.post(op(m, action), action_doc(action, force))
            eq(r.status, 202, f"round {rnd}: {action} accepted ({r.body[:200]!r})")
            c.wait_job(r.header("CIMI-Job-URI"))
            m = c.read(m["id"])
            eq(m["state"], want, f"round {rnd}: GET right after the {action} Job")
            page = c.list("machines", query={"$filter": f"state='{want}'"})
            isin(m["id"], ids(page), f"round {rnd}: $filter=state='{want}' right after {action}")
