"""Tenants: alice (tenant a) and bob (tenant b) cannot see or touch each
other's resources (404 exactly like a missing one); the admin sees all.
Also the default 1 MiB body limit (this daemon runs without --max-body)."""

from cimitest import (BOTH, NS, Client, action_doc, assert_error, assert_unchanged, check,
                      coll_items, create_machine, eq, ids, isin, machine_create_doc, notin, op,
                      shared, store_snapshot, test)


def setup():
    d = shared("tenants")
    if "alice" not in d.cache:
        a = Client(d, "alice")
        b = Client(d, "bob")
        r = a.post(a.add_href("machines"), machine_create_doc(a, "alice-m", "STARTED"))
        eq(r.status, 201, "alice creates a machine")
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


def normalize(msg, url):
    """statusMessage with the URL (and its last segment) masked."""
    seg = url.rstrip("/").rsplit("/", 1)[-1]
    return msg.replace(url, "<URL>").replace(seg, "<ID>")


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
