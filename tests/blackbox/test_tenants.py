"""Tenants: alice (tenant a) and bob (tenant b) cannot see or touch each
other's resources (404 exactly like a missing one); the admin sees all.
Also the default 1 MiB body limit (this daemon runs without --max-body)."""

import re
import uuid

from cimitest import (check_created, BOTH, NS, Client, action_doc, assert_error, assert_unchanged, check,
                      coll_items, create_machine, eq, ids, isin, machine_create_doc, notin, op,
                      rels, shared, store_snapshot, test)


def setup():
    d = shared("tenants")
    if "alice" not in d.cache:
        a = Client(d, "alice")
        b = Client(d, "bob")
        r = a.post(a.add_href("machines"), machine_create_doc(a, "alice-m", "STARTED"))
        check_created(r, "alice creates a machine")
        job = r.header("CIMI-Job-URI")
        a.wait_job(job)
        am = a.wait_state(r.header("Location"), "STARTED")
        r = a.post(a.add_href("credentials"), {"resourceURI": NS + "/CredentialCreate", "name": "alice-cred",
                                               "credentialTemplate": {"userName": "alice", "password": "x"}})
        eq(r.status, 201, "alice creates a credential")
        acred = r.header("Location")
        bm = create_machine(b, "bob-m")
        d.cache.update(alice=am, alice_job=job, alice_cred=acred, bob=bm)
    return d


UUID_RE = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def normalize(msg, url):
    """statusMessage with the URL, its last segment and any UUID masked."""
    seg = url.rstrip("/").rsplit("/", 1)[-1]
    msg = UUID_RE.sub("<ID>", msg.replace(url, "<URL>"))
    return re.sub(r"(^|/)" + re.escape(seg) + r"\b", r"\1<ID>", msg)


def same_as_missing(b, fmt, method, url, missing_url, body=None):
    r1 = b.request(method, url, body, fmt=fmt)
    e1 = assert_error(r1, 404, fmt=fmt)
    r2 = b.request(method, missing_url, body, fmt=fmt)
    e2 = assert_error(r2, 404, fmt=fmt)
    eq(sorted(k for k in e1 if k not in ("id", "timeOfStatusChange", "created", "updated")),
       sorted(k for k in e2 if k not in ("id", "timeOfStatusChange", "created", "updated")),
       f"{method}: same error attributes for another tenant's resource and a missing one")
    eq(normalize(e1["statusMessage"], url), normalize(e2["statusMessage"], missing_url),
       f"{method}: same statusMessage for another tenant's resource and a missing one")


@test(formats=BOTH)
def other_tenant_read_404(fmt):
    d = setup()
    b = Client(d, "bob", fmt=fmt)
    am = d.cache["alice"]
    missing = b.coll("machines") + "/no-such-machine-4711"
    same_as_missing(b, fmt, "GET", am["id"], missing)
    assert_error(b.get(d.cache["alice_job"]), 404, fmt=fmt)
    assert_error(b.get(am["disks"]["href"]), 404, fmt=fmt)
    disks = coll_items(Client(d, "alice").list(am["disks"]["href"]))
    for disk in disks:
        if disk.get("id"):
            assert_error(b.get(disk["id"]), 404, fmt=fmt)
    assert_error(b.get(am["volumes"]["href"]), 404, fmt=fmt)
    assert_error(b.get(d.cache["alice_cred"]), 404, fmt=fmt)
    assert_error(b.get(am["id"], query=[("$select", "name")]), 404, fmt=fmt)


@test(formats=BOTH)
def other_tenant_write_404(fmt):
    d = setup()
    a = Client(d, "alice", fmt=fmt)
    b = Client(d, "bob", fmt=fmt)
    am = d.cache["alice"]
    before = store_snapshot(Client(d, "admin"))
    for name in ("stop", "restart", "pause", "suspend"):
        href = op(am, name)
        check(href, f"alice's STARTED machine offers {name}")
        r = b.post(href, action_doc(name, True if name == "stop" else None))
        assert_error(r, 404, fmt=fmt)
    missing = b.coll("machines") + "/no-such-machine-4711"
    same_as_missing(b, fmt, "PUT", op(am, "edit"), missing,
                    {"resourceURI": NS + "/Machine", "name": "stolen"})
    same_as_missing(b, fmt, "DELETE", op(am, "delete"), missing)
    assert_error(b.delete(d.cache["alice_job"]), 404, fmt=fmt)
    assert_unchanged(Client(d, "admin"), before, "store (seen by admin)")
    g = a.read(am["id"])
    eq(g.get("state"), "STARTED", "alice's machine still STARTED")
    eq(g.get("name"), "alice-m", "alice's machine name unchanged")


@test(formats=BOTH)
def other_tenant_references(fmt):
    """bob cannot capture alice's machine nor use her credential."""
    d = setup()
    b = Client(d, "bob", fmt=fmt)
    admin = Client(d, "admin")
    before = store_snapshot(admin)
    r = b.post(b.add_href("machineImages"), {"resourceURI": NS + "/MachineImage", "name": "stolen-img",
                                             "type": "IMAGE", "imageLocation": d.cache["alice"]["id"]})
    check(r.status in (400, 404), f"capture of another tenant's machine -> 400/404, got {r.status}")
    assert_error(r, r.status, fmt=fmt)
    body = machine_create_doc(b, "bob-with-alice-cred", credential={"href": d.cache["alice_cred"]})
    r = b.post(b.add_href("machines"), body)
    check(r.status in (400, 404), f"another tenant's credential -> 400/404, got {r.status}")
    assert_error(r, r.status, fmt=fmt)
    assert_unchanged(admin, before, "store (seen by admin)")


@test(formats=BOTH)
def listings_per_tenant(fmt):
    d = setup()
    a = Client(d, "alice", fmt=fmt)
    b = Client(d, "bob", fmt=fmt)
    adm = Client(d, "admin", fmt=fmt)
    am, bm = d.cache["alice"], d.cache["bob"]
    bl = b.list("machines")
    isin(bm["id"], ids(bl), "bob sees his machine")
    notin(am["id"], ids(bl), "bob does not see alice's machine")
    eq(bl.get("count"), len(coll_items(bl)), "bob's count")
    al = a.list("machines")
    isin(am["id"], ids(al), "alice sees her machine")
    notin(bm["id"], ids(al), "alice does not see bob's machine")
    admin_ids = ids(adm.list("machines"))
    isin(am["id"], admin_ids, "admin sees alice's machine")
    isin(bm["id"], admin_ids, "admin sees bob's machine")
    # filters do not leak either
    eq(b.list("machines", query=[("$filter", "name='alice-m'")]).get("count"), 0, "bob filters alice-m")
    # jobs
    bj = ids(b.list("jobs"))
    notin(d.cache["alice_job"], bj, "bob does not see alice's Job")
    isin(d.cache["alice_job"], ids(a.list("jobs")), "alice sees her Job")
    isin(d.cache["alice_job"], ids(adm.list("jobs")), "admin sees alice's Job")
    for j in coll_items(b.list("jobs")):
        for ar in j.get("affectedResources") or []:
            check(ar.get("href") != am["id"], "no Job of bob's listing touches alice's machine")
    # credentials
    notin(d.cache["alice_cred"], ids(b.list("credentials")), "bob does not see alice's credential")
    isin(d.cache["alice_cred"], ids(adm.list("credentials")), "admin sees alice's credential")


@test(formats=BOTH)
def admin_acts_on_all(fmt):
    d = setup()
    adm = Client(d, "admin", fmt=fmt)
    g = adm.read(d.cache["bob"]["id"])
    eq(g.get("name"), "bob-m", "admin reads bob's machine")
    eq(adm.read(d.cache["alice_job"]).get("state"), "SUCCESS", "admin reads alice's Job")


@test(formats=BOTH)
def default_max_body(fmt):
    d = setup()
    c = Client(d, "alice", fmt=fmt)
    before = store_snapshot(c)
    body = machine_create_doc(c, "huge", description="z" * (1024 * 1024 + 10))
    r = c.post(c.add_href("machines"), body, validate_request=False)
    assert_error(r, 400, fmt=fmt)
    assert_unchanged(c, before)
    # just under the limit is accepted (the limit is not smaller than 1 MiB)
    body = {"resourceURI": NS + "/CredentialTemplate", "name": f"big-{fmt}",
            "description": "y" * (900 * 1024), "userName": "u"}
    r = c.post(c.add_href("credentialTemplates"), body, validate_request=False)
    eq(r.status, 201, "a 900 KiB body is under the default limit")
    eq(c.delete(r.header("Location")).status, 200, "clean-up delete")


# ---------------------------------------------------------------- every URL and operation
# Issue 6 item 4: bob (tenant b) tries every URL and operation on alice's
# (tenant a) resources: always 404 exactly like a missing resource (a guessed
# id), and nothing changes.

GIB = 1024 * 1024


def guessed(url):
    """The same URL with its last id replaced by a random one (a guess)."""
    head, _, _ = url.rstrip("/").rpartition("/")
    return f"{head}/{uuid.uuid4()}"


def setup_more():
    """alice's resources beyond setup(): a STOPPED machine with a captured
    image, a Volume attached to her STARTED machine, the attachment, a disk."""
    d = setup()
    if "alice_volume" not in d.cache:
        a = Client(d, "alice")
        b = Client(d, "bob")
        stopped = create_machine(a, "alice-stopped")
        r = a.post(op(stopped, "capture"), {"resourceURI": NS + "/MachineImage",
                                            "name": "alice-img", "type": "IMAGE",
                                            "imageLocation": stopped["id"]})
        check_created(r, "alice captures her machine")
        a.wait_job(r.header("CIMI-Job-URI"))
        img = a.wait_state(r.header("Location"), "AVAILABLE")
        vol = volume(a, "alice-vol")
        am = a.read(d.cache["alice"]["id"])
        r = a.post(a.add_href(am["volumes"]["href"]),
                   {"resourceURI": NS + "/MachineVolume", "volume": {"href": vol["id"]}})
        check_created(r, "alice attaches her volume")
        a.wait_job(r.header("CIMI-Job-URI"))
        attachment = r.header("Location")
        disks = [i["id"] for i in coll_items(a.list(am["disks"]["href"])) if i.get("id")]
        check(disks, "alice's machine has a disk")
        bvol = volume(b, "bob-vol")
        d.cache.update(alice_stopped=stopped, alice_image=img["id"], alice_volume=vol["id"],
                       alice_attachment=attachment, alice_disk=disks[0], bob_volume=bvol)
    return d


def volume(c, name):
    r = c.post(c.add_href("volumes"), {"resourceURI": NS + "/VolumeCreate", "name": name,
                                       "volumeTemplate": {"volumeConfig": {"capacity": GIB}}})
    check_created(r, f"create volume {name}")
    c.wait_job(r.header("CIMI-Job-URI"))
    return c.wait_state(r.header("Location"), "AVAILABLE")


def world(d):
    """Everything that must not change: the admin's store snapshot, alice's
    machines' states and volumes, her Jobs."""
    adm = Client(d, "admin")
    snap = store_snapshot(adm)
    am = d.cache["alice"]["id"]
    snap["alice-attachments"] = sorted(ids(adm.list(adm.read(am)["volumes"]["href"])))
    snap["alice-jobs"] = sorted((j.get("id"), j.get("state"))
                                for j in coll_items(Client(d, "alice").list("jobs")))
    return snap


def alice_urls(d):
    """(what, URL) of each resource of alice's that bob must not reach."""
    am = d.cache["alice"]
    return [("Machine", am["id"]), ("Job", d.cache["alice_job"]),
            ("Credential", d.cache["alice_cred"]), ("MachineImage", d.cache["alice_image"]),
            ("Volume", d.cache["alice_volume"]), ("MachineVolume", d.cache["alice_attachment"]),
            ("Disk", d.cache["alice_disk"])]


@test(formats=BOTH)
def other_tenant_every_resource_like_missing(fmt):
    """GET, GET with $select/$expand, PUT and DELETE of each of alice's
    resources (machine, Job, credential, captured image, volume, attachment,
    disk): the same 404 as a guessed id in the same collection."""
    d = setup_more()
    b = Client(d, "bob", fmt=fmt)
    before = world(d)
    for what, url in alice_urls(d):
        missing = guessed(url)
        same_as_missing(b, fmt, "GET", url, missing)
        for q in ([("$select", "name")], [("$expand", "*")]):
            r1 = b.get(url, query=q)
            e1 = assert_error(r1, 404, fmt=fmt)
            e2 = assert_error(b.get(missing, query=q), 404, fmt=fmt)
            eq(normalize(e1["statusMessage"], url), normalize(e2["statusMessage"], missing),
               f"GET {what} with {q[0][0]}: same message as a missing one")
        body = {"resourceURI": NS + "/" + what}
        if what == "Disk":
            body["capacity"] = 1
        elif what == "MachineVolume":
            body["initialLocation"] = "/dev/vdz"
        else:
            body["name"] = "stolen"
        same_as_missing(b, fmt, "PUT", url, missing, body)
        same_as_missing(b, fmt, "DELETE", url, missing)
    eq(world(d), before, "nothing changed after bob's requests")


@test(formats=BOTH)
def other_tenant_actions_like_missing(fmt):
    """Every action alice's machines and Job offer (stop, restart, pause,
    suspend, start, capture, the Job's stop) posted by bob: 404 like the same
    action on a guessed id; nothing happens."""
    d = setup_more()
    a = Client(d, "alice", fmt=fmt)
    b = Client(d, "bob", fmt=fmt)
    before = world(d)
    tried = 0
    for m in (a.read(d.cache["alice"]["id"]), a.read(d.cache["alice_stopped"]["id"])):
        for rel in rels(m):
            if rel in ("edit", "delete", "capture"):
                continue
            href = op(m, rel)
            body = action_doc(rel, True if rel == "stop" else None)
            same_as_missing(b, fmt, "POST", href, guessed(m["id"]) + "/" + rel, body)
            tried += 1
    check(tried >= 5, f"alice's machines offered {tried} actions")
    job = d.cache["alice_job"]
    same_as_missing(b, fmt, "POST", job + "/stop", guessed(job) + "/stop", action_doc("stop"))
    # capture through bob's own collection, naming alice's machine
    body = {"resourceURI": NS + "/MachineImage", "name": "stolen-img", "type": "IMAGE"}
    theirs, missing = d.cache["alice_stopped"]["id"], guessed(d.cache["alice_stopped"]["id"])
    r1 = b.post(b.add_href("machineImages"), dict(body, imageLocation=theirs))
    r2 = b.post(b.add_href("machineImages"), dict(body, imageLocation=missing))
    eq(r1.status, r2.status, "capture of alice's machine answers like capture of a missing one")
    e1, e2 = assert_error(r1, r1.status, fmt=fmt), assert_error(r2, r2.status, fmt=fmt)
    eq(normalize(e1["statusMessage"], theirs), normalize(e2["statusMessage"], missing),
       "capture of alice's machine: same message as a missing one")
    eq(world(d), before, "nothing changed after bob's actions")



@test(formats=BOTH)
def other_tenant_subcollections_like_missing(fmt):
    """alice's machine's disks and volumes collections (GET, POST an
    attachment of bob's own volume), attaching alice's volume to bob's
    machine, detaching alice's attachment: like a missing machine/volume."""
    d = setup_more()
    a = Client(d, "alice", fmt=fmt)
    b = Client(d, "bob", fmt=fmt)
    am = a.read(d.cache["alice"]["id"])
    gone = guessed(am["id"])
    before = world(d)
    for sub in ("disks", "volumes"):
        same_as_missing(b, fmt, "GET", am[sub]["href"], f"{gone}/{sub}")
        same_as_missing(b, fmt, "GET", am[sub]["href"], f"{gone}/{sub}")
    attach = {"resourceURI": NS + "/MachineVolume", "volume": {"href": d.cache["bob_volume"]["id"]}}
    same_as_missing(b, fmt, "POST", am["volumes"]["href"], f"{gone}/volumes", attach)
    same_as_missing(b, fmt, "DELETE", d.cache["alice_attachment"],
                    guessed(d.cache["alice_attachment"]))
    # alice's volume named in an attachment to bob's own machine
    bm = b.read(d.cache["bob"]["id"])
    theirs, missing = d.cache["alice_volume"], guessed(d.cache["alice_volume"])
    r1 = b.post(bm["volumes"]["href"], {"resourceURI": NS + "/MachineVolume",
                                        "volume": {"href": theirs}})
    r2 = b.post(bm["volumes"]["href"], {"resourceURI": NS + "/MachineVolume",
                                        "volume": {"href": missing}})
    check(r1.status in (400, 404), f"attaching alice's volume -> 400/404, got {r1.status}")
    eq(r1.status, r2.status, "attaching alice's volume answers like a missing volume")
    eq(normalize(assert_error(r1, r1.status, fmt=fmt)["statusMessage"], theirs),
       normalize(assert_error(r2, r2.status, fmt=fmt)["statusMessage"], missing),
       "attaching alice's volume: same message as a missing one")
    eq(coll_items(b.list(bm["volumes"]["href"])), [], "bob's machine has no attachment")
    eq(world(d), before, "nothing changed after bob's requests")


@test(formats=BOTH)
def other_tenant_references_like_missing(fmt):
    """alice's credential, image and volume named in bob's own new resources
    (machine template, machine, volume from an image): refused like a
    missing one, so no resource of bob's can reference alice's and $expand
    cannot reach through it."""
    d = setup_more()
    b = Client(d, "bob", fmt=fmt)
    before = world(d)
    cases = [
        ("machineTemplates", "credential",
         lambda h: {"resourceURI": NS + "/MachineTemplate", "name": "t",
                    "machineConfig": {"href": b.default_config()["id"]},
                    "machineImage": {"href": b.default_image()["id"]}, "credential": {"href": h}},
         d.cache["alice_cred"]),
        ("machines", "credential",
         lambda h: machine_create_doc(b, "m", credential={"href": h}), d.cache["alice_cred"]),
        ("machines", "machineImage",
         lambda h: machine_create_doc(b, "m", machineImage={"href": h}), d.cache["alice_image"]),
        ("machineTemplates", "machineImage",
         lambda h: {"resourceURI": NS + "/MachineTemplate", "name": "t",
                    "machineConfig": {"href": b.default_config()["id"]},
                    "machineImage": {"href": h}}, d.cache["alice_image"]),
    ]
    for coll, attr, body, theirs in cases:
        missing = guessed(theirs)
        r1 = b.post(b.add_href(coll), body(theirs))
        r2 = b.post(b.add_href(coll), body(missing))
        check(r1.status in (400, 404), f"{coll} with alice's {attr} -> 400/404, got {r1.status}")
        eq(r1.status, r2.status, f"{coll} with alice's {attr} answers like a missing one")
        eq(normalize(assert_error(r1, r1.status, fmt=fmt)["statusMessage"], theirs),
           normalize(assert_error(r2, r2.status, fmt=fmt)["statusMessage"], missing),
           f"{coll} with alice's {attr}: same message as a missing one")
    eq(world(d), before, "nothing changed after bob's requests")


@test(formats=BOTH)
def other_tenant_filter_and_expand(fmt):
    """$filter on alice's ids in every collection gives bob nothing; $expand
    of everything in bob's collections and resources never shows any of
    alice's ids or names."""
    d = setup_more()
    b = Client(d, "bob", fmt=fmt)
    alice_ids = [u for _, u in alice_urls(d) if UUID_RE.search(u.rsplit("/", 1)[1])]
    for attr, url in (("machines", d.cache["alice"]["id"]), ("jobs", d.cache["alice_job"]),
                      ("credentials", d.cache["alice_cred"]),
                      ("machineImages", d.cache["alice_image"]),
                      ("volumes", d.cache["alice_volume"])):
        for f in (f"id='{url}'", f"id='{url}' or name!='zz'", f"name='{url}' or id='{url}'"):
            doc = b.list(attr, query=[("$filter", f)])
            notin(url, ids(doc), f"bob's {attr} with $filter {f}")
            eq(doc.get("count"), len(coll_items(doc)), f"count of bob's {attr} with $filter")
        eq(b.list(attr, query=[("$filter", f"id='{url}'")]).get("count"), 0,
           f"$filter on alice's id in {attr} matches nothing for bob")
    bodies = []
    for attr in ("machines", "jobs", "credentials", "machineImages", "volumes",
                 "machineTemplates"):
        bodies.append(b.get(b.coll(attr), query=[("$expand", "*")]).body)
    bm = b.read(d.cache["bob"]["id"])
    bodies.append(b.get(bm["id"], query=[("$expand", "*")]).body)
    for j in coll_items(b.list("jobs")):
        bodies.append(b.get(j["id"], query=[("$expand", "*")]).body)
    text = b"".join(bodies).decode("utf-8", "replace")
    for u in alice_ids:
        notin(u.rsplit("/", 1)[1], text, "an id of alice's in bob's expanded documents")
    for name in ("alice-m", "alice-cred", "alice-img", "alice-vol", "alice-stopped"):
        notin(name, text, "a name of alice's in bob's expanded documents")


@test(formats=BOTH)
def guessed_ids_404(fmt):
    """Guessed ids in every collection, sub-collection and action URL, and
    an id of alice's in the wrong collection: 404, for bob and for alice
    alike, nothing changed."""
    d = setup_more()
    before = world(d)
    for user in ("bob", "alice"):
        c = Client(d, user, fmt=fmt)
        for attr in ("machines", "jobs", "credentials", "machineImages", "volumes",
                     "machineTemplates", "machineConfigs", "volumeImages", "volumeTemplates",
                     "volumeConfigs", "credentialTemplates"):
            g = f"{c.coll(attr)}/{uuid.uuid4()}"
            assert_error(c.get(g), 404, fmt=fmt)
            assert_error(c.delete(g), 404, fmt=fmt)
        g = f"{c.coll('machines')}/{uuid.uuid4()}"
        for tail in ("/disks", "/volumes", "/disks/0", "/volumes/1", "/stop"):
            if tail == "/stop":
                assert_error(c.post(g + tail, action_doc("stop", True)), 404, fmt=fmt)
            else:
                assert_error(c.get(g + tail), 404, fmt=fmt)
        # alice's machine uuid under other collections
        mid = d.cache["alice"]["id"].rsplit("/", 1)[1]
        for attr in ("jobs", "credentials", "volumes", "machineImages"):
            assert_error(c.get(f"{c.coll(attr)}/{mid}"), 404, fmt=fmt)
    eq(world(d), before, "nothing changed after the guesses")
