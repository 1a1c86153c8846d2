"""Catalogue resources: ResourceMetadata and capabilities, MachineConfiguration,
MachineImage, MachineTemplate, CredentialTemplate, Credential, Job listing."""

from cimitest import (ACTION, BOTH, CAPABILITY, CIMID_NS, NS, Client, assert_error, assert_unchanged, check,
                      coll_items, create_machine, eq, ids, is_datetime, isin, notin, op, shared,
                      store_snapshot, test)

JOB_RETENTION = 7


def daemon():
    return shared("catalog", args=["--job-retention", str(JOB_RETENTION)])


def client(fmt="json", user="admin"):
    return Client(daemon(), user, fmt=fmt)


def metadata_entry(c, type_name):
    items = coll_items(c.list("resourceMetadata"))
    for i, it in enumerate(items):
        if it.get("typeURI") == f"{NS}/{type_name}":
            return i, it, items
    raise AssertionError(f"no ResourceMetadata entry with typeURI {NS}/{type_name}; "
                         f"have {[x.get('typeURI') for x in items]}")


def capabilities(entry):
    caps = {}
    for cap in entry.get("capabilities") or []:
        caps[cap.get("name")] = cap
    return caps


def truthy(v):
    return v is True or (isinstance(v, str) and v.strip().lower() == "true")


def check_capability(entry, type_name, name):
    caps = capabilities(entry)
    isin(name, caps, f"{type_name} capabilities")
    cap = caps[name]
    eq(cap.get("uri"), f"{CAPABILITY}{type_name}/{name}", f"{name} capability uri")
    check(isinstance(cap.get("description"), str) and cap["description"].strip(),
          f"{name} capability has a description")
    check(cap.get("value") is not None and str(cap.get("value")).strip() != "",
          f"{name} capability has a value")
    return cap


# ---------------------------------------------------------------- ResourceMetadata

@test(formats=BOTH)
def metadata_machine(fmt):
    c = client(fmt)
    idx, m, items = metadata_entry(c, "Machine")
    eq(m.get("name"), "Machine", "Machine ResourceMetadata name")
    for name in ("DefaultInitialState", "InitialStates", "MachineStopForce", "MachineConfigByValue",
                 "MachineImageByValue", "MachineTemplateByValue", "MachineCredentialByValue"):
        check_capability(m, "Machine", name)
    caps = capabilities(m)
    default = str(caps["DefaultInitialState"]["value"]).strip()
    check("," not in default, f"DefaultInitialState is a single state: {default!r}")
    eq(default, "STOPPED", "DefaultInitialState")
    states = [s.strip() for s in str(caps["InitialStates"]["value"]).split(",")]
    isin("STARTED", states, "InitialStates")
    isin("STOPPED", states, "InitialStates")
    isin(default, states, "DefaultInitialState among InitialStates")
    for name in ("MachineStopForce", "MachineConfigByValue", "MachineImageByValue",
                 "MachineTemplateByValue", "MachineCredentialByValue"):
        check(truthy(caps[name]["value"]), f"{name} is true: {caps[name]['value']!r}")
    # clients take the first entry mentioning Machine as the Machine entry
    for j, other in enumerate(items):
        if other is not m and "Machine" in (other.get("typeURI") or ""):
            check(idx < j, f"Machine entry listed before {other.get('typeURI')}")
    # the entry has its own id and reads back the same
    check(m.get("id"), "Machine ResourceMetadata has an id")
    d = c.read(m["id"])
    eq(d.get("typeURI"), f"{NS}/Machine", "ResourceMetadata entry read by id")
    eq(len(d.get("capabilities") or []), len(m.get("capabilities") or []), "same capabilities")


@test(formats=BOTH)
def metadata_cep_query_capabilities(fmt):
    c = client(fmt)
    _, e, _ = metadata_entry(c, "CloudEntryPoint")
    for name in ("FilterParameterQuery", "FirstParameterAndLastParameterQuery",
                 "SelectParameterQuery", "ExpandParameterQuery", "FormatParameterQuery",
                 "OrderByParameterQuery"):
        cap = check_capability(e, "CloudEntryPoint", name)
        check(truthy(cap["value"]), f"{name} is true: {cap['value']!r}")


@test(formats=BOTH)
def metadata_job_retention(fmt):
    c = client(fmt)
    _, e, _ = metadata_entry(c, "Job")
    cap = check_capability(e, "Job", "JobRetention")
    eq(str(cap["value"]).strip(), str(JOB_RETENTION), "JobRetention = --job-retention minutes")


@test(formats=BOTH)
def metadata_systems_and_packages(fmt):
    """ResourceMetadata (to a tenant) names the System capability
    SystemComponentTemplateByValue and, on System and SystemTemplate, the
    import and export actions with all six fields of a DSP0263 action; the
    cimid extension type Package (typeURI in cimid's namespace, its
    attributes) and the CloudEntryPoint's packages collection."""
    c = client(fmt, user="alice")
    _, system, items = metadata_entry(c, "System")
    check(truthy(check_capability(system, "System", "SystemComponentTemplateByValue")["value"]),
          "SystemComponentTemplateByValue is true")
    _, template, _ = metadata_entry(c, "SystemTemplate")
    for entry in (system, template):
        acts = {a.get("name"): a for a in entry.get("actions") or []}
        eq(sorted(acts), ["export", "import"], f"{entry.get('name')} actions")
        for name, a in acts.items():
            eq(a.get("uri"), ACTION + name, f"{name} action uri")
            eq(a.get("method"), "POST", f"{name} action method")
            for field in ("description", "inputMessage", "outputMessage"):
                check(str(a.get(field) or "").strip(), f"{name} action has {field}")
    pkg = [i for i in items if i.get("typeURI") == CIMID_NS + "/Package"]
    check(pkg, f"a Package entry (typeURIs {[i.get('typeURI') for i in items]})")
    attrs = {a.get("name"): a for e in pkg for a in e.get("attributes") or []}
    for name in ("content", "state", "format", "size", "sha256", "origin"):
        isin(name, attrs, "Package attributes")
        eq(attrs[name].get("namespace"), CIMID_NS, f"Package {name} in cimid's namespace")
    eq(pkg[0].get("name"), "Package", "the Package entry's name")
    eq(c.read(pkg[0]["id"]).get("typeURI"), CIMID_NS + "/Package", "the Package entry by id")
    cep = [i for i in items if i.get("typeURI") == NS + "/CloudEntryPoint"
           and any(a.get("name") == "packages" for a in i.get("attributes") or [])]
    eq(len(cep), 1, "the CloudEntryPoint's packages extension is described")
    check(c.cep().get("packages"), "the tenant sees the packages collection it describes")


# ---------------------------------------------------------------- MachineConfiguration

@test(formats=BOTH)
def configs_shipped(fmt):
    c = client(fmt)
    items = coll_items(c.list("machineConfigs"))
    check(len(items) >= 1, "at least one MachineConfiguration shipped")
    for it in items:
        eq(it["resourceURI"], NS + "/MachineConfiguration", "item type")
        check(isinstance(it.get("name"), str) and it["name"], "config has a name")
        check(isinstance(it.get("cpu"), int) and it["cpu"] >= 1, f"config cpu: {it.get('cpu')!r}")
        check(isinstance(it.get("memory"), int) and it["memory"] > 0, f"config memory: {it.get('memory')!r}")
        for disk in it.get("disks") or []:
            check(isinstance(disk.get("capacity"), int) and disk.get("format"),
                  f"config disk has capacity and format: {disk!r}")
        is_datetime(it.get("created"), "config created")
    # every user sees the shipped catalogue
    for user in ("alice", "bob"):
        check(coll_items(Client(daemon(), user, fmt=fmt).list("machineConfigs")),
              f"{user} sees the shipped MachineConfigurations")


@test(formats=BOTH)
def config_crud(fmt):
    c = client(fmt)
    add = c.add_href("machineConfigs")
    body = {"resourceURI": NS + "/MachineConfiguration", "name": f"medium-{fmt}",
            "description": "two cpus", "properties": {"tier": "gold"}, "cpu": 2, "memory": 2097152,
            "disks": [{"capacity": 10485760, "format": "ext4", "initialLocation": "/dev/vda"}],
            "cpuArch": "x86_64"}
    r = c.post(add, body)
    eq(r.status, 201, "create MachineConfiguration")
    loc = r.header("Location")
    check(loc, "Location header")
    d = r.doc
    eq(d["resourceURI"], NS + "/MachineConfiguration", "reply body type")
    eq(d.get("id"), loc, "body id = Location")
    g = c.read(loc)
    for k in ("name", "description", "cpu", "memory", "cpuArch", "properties"):
        eq(g.get(k), body[k], f"created config {k}")
    eq(len(g.get("disks") or []), 1, "one disk")
    eq(g["disks"][0].get("capacity"), 10485760, "disk capacity")
    eq(g["disks"][0].get("format"), "ext4", "disk format")
    is_datetime(g.get("created"), "created")
    is_datetime(g.get("updated"), "updated")
    isin(loc, ids(c.list("machineConfigs")), "new config listed")
    # full update through the edit operation
    edit = op(g, "edit")
    check(edit, "config has edit")
    upd = dict(body, name=f"medium-{fmt}-v2", description="still two cpus", cpu=4)
    r = c.put(edit, upd)
    check(r.status in (200, 202), f"PUT -> 200, got {r.status}")
    g2 = c.read(loc)
    eq(g2.get("name"), f"medium-{fmt}-v2", "updated name")
    eq(g2.get("cpu"), 4, "updated cpu")
    eq(g2.get("created"), g.get("created"), "created is immutable")
    # delete
    dl = op(g2, "delete")
    check(dl, "config has delete")
    r = c.delete(dl)
    eq(r.status, 200, "DELETE config")
    assert_error(c.get(loc), 404, fmt=fmt)
    notin(loc, ids(c.list("machineConfigs")), "deleted config not listed")


@test(formats=BOTH)
def config_put_ignores_readonly(fmt):
    c = client(fmt)
    r = c.post(c.add_href("machineConfigs"), {"resourceURI": NS + "/MachineConfiguration",
                                              "name": f"ro-{fmt}", "cpu": 1, "memory": 1024})
    eq(r.status, 201, "create")
    loc = r.header("Location")
    g = c.read(loc)
    body = dict(g)
    body["name"] = f"ro-{fmt}-renamed"
    body["created"] = "1999-01-01T00:00:00Z"   # read-only: silently ignored
    r = c.put(op(g, "edit"), body)
    check(r.status in (200, 202), f"PUT with read-only attributes -> 200, got {r.status} {r.body[:200]!r}")
    g2 = c.read(loc)
    eq(g2.get("name"), f"ro-{fmt}-renamed", "name updated")
    eq(g2.get("created"), g.get("created"), "created unchanged")
    eq(g2.get("id"), loc, "id unchanged")
    c.delete(loc)


# ---------------------------------------------------------------- MachineImage

@test(formats=BOTH)
def images_shipped(fmt):
    c = client(fmt)
    items = coll_items(c.list("machineImages"))
    avail = [i for i in items if i.get("state") == "AVAILABLE"]
    check(avail, "at least one AVAILABLE MachineImage shipped")
    for it in items:
        check(it.get("state") in ("CREATING", "AVAILABLE", "DELETING", "ERROR"),
              f"image state {it.get('state')!r}")
    for it in avail:
        check(it.get("imageLocation"), "image has an imageLocation")
        check(it.get("name"), "image has a name")
        if "type" in it:
            isin(it["type"], ("IMAGE", "SNAPSHOT", "PARTIAL_SNAPSHOT"), "image type")


# ---------------------------------------------------------------- MachineTemplate

@test(formats=BOTH)
def template_crud(fmt):
    c = client(fmt)
    cfg, img = c.default_config(), c.default_image()
    body = {"resourceURI": NS + "/MachineTemplate", "name": f"tpl-{fmt}", "description": "web",
            "initialState": "STARTED", "machineConfig": {"href": cfg["id"]},
            "machineImage": {"href": img["id"]}}
    r = c.post(c.add_href("machineTemplates"), body)
    eq(r.status, 201, "create MachineTemplate")
    loc = r.header("Location")
    eq(r.doc.get("id"), loc, "body id = Location")
    g = c.read(loc)
    eq(g.get("name"), f"tpl-{fmt}", "template name")
    eq(g.get("initialState"), "STARTED", "template initialState")
    eq(g.get("machineConfig", {}).get("href"), cfg["id"], "machineConfig reference")
    eq(g.get("machineImage", {}).get("href"), img["id"], "machineImage reference")
    notin("cpu", g["machineConfig"], "reference not expanded by default")
    isin(loc, ids(c.list("machineTemplates")), "template listed")
    # expand through the reference
    e = c.read(loc, query=[("$expand", "machineConfig")])
    eq(e["machineConfig"].get("href"), cfg["id"], "expanded ref keeps href")
    eq(e["machineConfig"].get("cpu"), cfg["cpu"], "expanded machineConfig cpu")
    eq(e["machineConfig"].get("memory"), cfg["memory"], "expanded machineConfig memory")
    notin("imageLocation", e["machineImage"], "machineImage not expanded")
    e = c.read(loc, query=[("$expand", "*")])
    eq(e["machineImage"].get("imageLocation"), img.get("imageLocation"), "$expand=* expands machineImage")
    eq(e["machineConfig"].get("cpu"), cfg["cpu"], "$expand=* expands machineConfig")
    r = c.delete(op(g, "delete"))
    eq(r.status, 200, "DELETE template")
    assert_error(c.get(loc), 404, fmt=fmt)


@test(formats=BOTH)
def template_bad_reference(fmt):
    c = client(fmt)
    before = store_snapshot(c)
    body = {"resourceURI": NS + "/MachineTemplate", "name": "bad-ref",
            "machineConfig": {"href": c.coll("machineConfigs") + "/no-such-config"},
            "machineImage": {"href": c.default_image()["id"]}}
    r = c.post(c.add_href("machineTemplates"), body)
    check(r.status in (400, 404), f"template with a dangling machineConfig -> 400/404, got {r.status}")
    assert_error(r, r.status, mention=("machineConfig", "no-such-config"), fmt=fmt)
    assert_unchanged(c, before)


# ---------------------------------------------------------------- credentials

KEY = "0011a2b3c4d5e6f7"


@test(formats=BOTH)
def credential_template_crud(fmt):
    c = client(fmt)
    body = {"resourceURI": NS + "/CredentialTemplate", "name": f"ct-{fmt}", "userName": "root",
            "password": "s3cret", "key": KEY}
    r = c.post(c.add_href("credentialTemplates"), body)
    eq(r.status, 201, "create CredentialTemplate")
    loc = r.header("Location")
    eq(r.doc.get("id"), loc, "body id = Location")
    g = c.read(loc)
    eq(g.get("userName"), "root", "userName")
    eq((g.get("key") or "").lower(), KEY, "key (hex)")
    isin(loc, ids(c.list("credentialTemplates")), "listed")
    eq(c.delete(op(g, "delete")).status, 200, "DELETE CredentialTemplate")
    assert_error(c.get(loc), 404, fmt=fmt)


@test(formats=BOTH)
def credential_create_by_value(fmt):
    c = client(fmt, "alice")
    body = {"resourceURI": NS + "/CredentialCreate", "name": f"cred-v-{fmt}", "description": "by value",
            "properties": {"purpose": "ssh"},
            "credentialTemplate": {"userName": "alice", "password": "pw", "key": KEY}}
    r = c.post(c.add_href("credentials"), body)
    eq(r.status, 201, "CredentialCreate by value")
    loc = r.header("Location")
    check(loc, "Location")
    eq(r.doc["resourceURI"], NS + "/Credential", "reply body is the Credential")
    eq(r.doc.get("id"), loc, "body id = Location")
    g = c.read(loc)
    eq(g.get("name"), f"cred-v-{fmt}", "Create doc name applies")
    eq(g.get("description"), "by value", "Create doc description applies")
    eq(g.get("properties"), {"purpose": "ssh"}, "Create doc properties apply")
    eq(g.get("userName"), "alice", "userName from the template")
    eq((g.get("key") or "").lower(), KEY, "key from the template")
    isin(loc, ids(c.list("credentials")), "listed")
    eq(c.delete(op(g, "delete")).status, 200, "DELETE credential")
    assert_error(c.get(loc), 404, fmt=fmt)


@test(formats=BOTH)
def credential_create_by_ref(fmt):
    c = client(fmt, "alice")
    r = c.post(c.add_href("credentialTemplates"),
               {"resourceURI": NS + "/CredentialTemplate", "name": f"ct-ref-{fmt}",
                "userName": "deploy", "password": "pw2"})
    eq(r.status, 201, "create CredentialTemplate")
    tpl = r.header("Location")
    body = {"resourceURI": NS + "/CredentialCreate", "name": f"cred-r-{fmt}",
            "credentialTemplate": {"href": tpl}}
    r = c.post(c.add_href("credentials"), body)
    eq(r.status, 201, "CredentialCreate by reference")
    g = c.read(r.header("Location"))
    eq(g.get("name"), f"cred-r-{fmt}", "name")
    eq(g.get("userName"), "deploy", "userName taken from the referenced template")
    # by reference with an override
    body["credentialTemplate"] = {"href": tpl, "userName": "override"}
    body["name"] = f"cred-r2-{fmt}"
    r = c.post(c.add_href("credentials"), body)
    eq(r.status, 201, "CredentialCreate by reference with override")
    eq(c.read(r.header("Location")).get("userName"), "override", "override replaces userName")


@test(formats=BOTH)
def credential_create_invalid(fmt):
    c = client(fmt)
    before = store_snapshot(c)
    add = c.add_href("credentials")
    r = c.post(add, {"resourceURI": NS + "/CredentialCreate", "name": "no-tpl"}, validate_request=False)
    assert_error(r, 400, mention="credentialTemplate", fmt=fmt)
    r = c.post(add, {"resourceURI": NS + "/CredentialCreate", "name": "bad-key",
                     "credentialTemplate": {"userName": "u", "key": "not-hex!"}}, validate_request=False)
    assert_error(r, 400, mention="key", fmt=fmt)
    assert_unchanged(c, before)


# ---------------------------------------------------------------- jobs

@test(formats=BOTH)
def jobs_listed(fmt):
    c = client(fmt)
    r = c.post(c.add_href("machineConfigs"), {"resourceURI": NS + "/MachineConfiguration",
                                              "name": f"job-{fmt}", "cpu": 1, "memory": 4096})
    eq(r.status, 201, "create config")
    m = create_machine(c, f"job-machine-{fmt}")
    jobs = coll_items(c.list("jobs"))
    check(jobs, "jobs collection not empty after creations")
    for j in jobs:
        eq(j["resourceURI"], NS + "/Job", "job item type")
        isin(j.get("state"), ("QUEUED", "RUNNING", "SUCCESS", "FAILED", "STOPPING", "STOPPED"), "job state")
    targets = [a.get("href") for j in jobs for a in (j.get("affectedResources") or [])]
    isin(m["id"], targets, "the machine creation Job is listed with the machine affected")
