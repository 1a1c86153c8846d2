"""Collection queries: count, $filter (grammar, types, dates, properties,
several filters, errors), $first/$last, $orderby, $select (collections,
resources), $expand through references, combinations."""

import datetime

from cimitest import (BOTH, NS, Client, assert_error, check, coll_items, create_machine, eq,
                      is_datetime, isin, machine_create_doc, notin, op, shared, test)

SEED = {  # name -> (cpu, state, properties)
    "q-alpha": (1, "STOPPED", {"env": "prod"}),
    "q-beta": (2, "STARTED", {"env": "dev"}),
    "q-gamma": (2, "STOPPED", {"env": "prod", "team": "x"}),
    "q-delta": (1, "STARTED", None),
}
ALL = sorted(SEED)


def setup(fmt="json"):
    d = shared("queries")
    c = Client(d, "admin", fmt=fmt)
    if "seeded" not in d.cache:
        cfgs = {}
        add = c.add_href("machineConfigs")
        for cpu in (1, 2):
            r = c.post(add, {"resourceURI": NS + "/MachineConfiguration", "name": f"q-cpu{cpu}",
                             "cpu": cpu, "memory": 262144 * cpu,
                             "disks": [{"capacity": 1048576 * cpu, "format": "ext4"}]}, fmt="json")
            eq(r.status, 201, "seed config")
            cfgs[cpu] = r.header("Location")
        d.cache["configs"] = cfgs
        for name, (cpu, state, props) in SEED.items():
            body = machine_create_doc(c, name, state, properties=props)
            body["machineTemplate"]["machineConfig"] = {"href": cfgs[cpu]}
            create_machine(c, name, state, body=body)
        r = c.post(c.add_href("machineTemplates"),
                   {"resourceURI": NS + "/MachineTemplate", "name": "q-template",
                    "machineConfig": {"href": cfgs[2]}, "machineImage": {"href": c.default_image()["id"]}},
                   fmt="json")
        eq(r.status, 201, "seed template")
        d.cache["template"] = r.header("Location")
        d.cache["seeded"] = True
    return c


def q(c, *params, attr="machines"):
    """GET the collection with the given (name, value) params; returns
    (count, names in reply order, doc)."""
    doc = c.list(attr, query=list(params))
    items = coll_items(doc)
    check(isinstance(doc.get("count"), int), "count present")
    return doc["count"], [i.get("name") for i in items], doc


def F(expr):
    return ("$filter", expr)


def expect(c, params, names, ordered=False, count=None):
    cnt, got, _ = q(c, *params)
    if ordered:
        eq(got, names, f"items for {params}")
    else:
        eq(sorted(got), sorted(names), f"items for {params}")
    eq(cnt, len(names) if count is None else count, f"count for {params}")


# ---------------------------------------------------------------- count and $filter

@test(formats=BOTH)
def count_is_items(fmt):
    c = setup(fmt)
    cnt, got, _ = q(c)
    eq(cnt, len(got), "count = items returned")
    eq(sorted(got), ALL, "all seeded machines listed")


@test(formats=BOTH)
def filter_strings(fmt):
    c = setup(fmt)
    expect(c, [F("name='q-alpha'")], ["q-alpha"])
    expect(c, [F('name="q-beta"')], ["q-beta"])
    expect(c, [F("name!='q-alpha'")], ["q-beta", "q-gamma", "q-delta"])
    expect(c, [F("'q-gamma'=name")], ["q-gamma"])
    expect(c, [F("name='nobody'")], [])
    expect(c, [F("state='STARTED'")], ["q-beta", "q-delta"])
    expect(c, [F("state!='STARTED'")], ["q-alpha", "q-gamma"])
    expect(c, [F("name = 'q-alpha'")], ["q-alpha"])  # blanks around the operator


@test(formats=BOTH)
def filter_integers(fmt):
    c = setup(fmt)
    expect(c, [F("cpu>=2")], ["q-beta", "q-gamma"])
    expect(c, [F("cpu>1")], ["q-beta", "q-gamma"])
    expect(c, [F("cpu<2")], ["q-alpha", "q-delta"])
    expect(c, [F("cpu<=1")], ["q-alpha", "q-delta"])
    expect(c, [F("cpu=2")], ["q-beta", "q-gamma"])
    expect(c, [F("cpu!=2")], ["q-alpha", "q-delta"])
    expect(c, [F("2<=cpu")], ["q-beta", "q-gamma"])    # Value Op Attribute
    expect(c, [F("2>cpu")], ["q-alpha", "q-delta"])
    expect(c, [F("memory>262144")], ["q-beta", "q-gamma"])


@test(formats=BOTH)
def filter_boolean_logic(fmt):
    c = setup(fmt)
    expect(c, [F("cpu>=2 and state='STARTED'")], ["q-beta"])
    expect(c, [F("name='q-alpha' or name='q-delta'")], ["q-alpha", "q-delta"])
    # and binds tighter than or
    expect(c, [F("name='q-alpha' or name='q-beta' and cpu=1")], ["q-alpha"])
    expect(c, [F("cpu=1 and name='q-delta' or name='q-gamma'")], ["q-delta", "q-gamma"])
    # parentheses
    expect(c, [F("(name='q-alpha' or name='q-beta') and cpu=2")], ["q-beta"])
    expect(c, [F("((cpu=1))")], ["q-alpha", "q-delta"])
    expect(c, [F("state='STOPPED' and (cpu=1 or name='q-gamma') and name!='q-alpha'")], ["q-gamma"])


@test(formats=BOTH)
def filter_properties(fmt):
    c = setup(fmt)
    expect(c, [F("property['env']='prod'")], ["q-alpha", "q-gamma"])
    expect(c, [F('property["env"]="dev"')], ["q-beta"])
    expect(c, [F("property['team']='x'")], ["q-gamma"])
    expect(c, [F("property['env']='prod' and cpu=2")], ["q-gamma"])
    expect(c, [F("property['nokey']='prod'")], [])


@test(formats=BOTH)
def filter_dates(fmt):
    c = setup(fmt)
    expect(c, [F("created>2000-01-01T00:00:00Z")], ALL)
    expect(c, [F("created<2000-01-01T00:00:00Z")], [])
    expect(c, [F("created>2000-01-01")], ALL)
    tomorrow = (datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=1))
    expect(c, [F("created>=" + tomorrow.strftime("%Y-%m-%dT%H:%M:%SZ"))], [])
    expect(c, [F("created<" + tomorrow.strftime("%Y-%m-%dT%H:%M:%S+00:00"))], ALL)
    # the exact created time of one machine
    _, _, doc = q(c, F("name='q-beta'"))
    created = coll_items(doc)[0]["created"]
    is_datetime(created, "created")
    cnt, got, _ = q(c, F(f"created={created} and name='q-beta'"))
    eq(got, ["q-beta"], "created equals its own timestamp")


@test(formats=BOTH)
def filter_several_anded(fmt):
    c = setup(fmt)
    expect(c, [F("cpu=2"), F("state='STOPPED'")], ["q-gamma"])
    expect(c, [F("cpu=2"), F("state='STOPPED'"), F("name='q-alpha'")], [])
    expect(c, [F("name='q-alpha' or name='q-beta'"), F("cpu=1")], ["q-alpha"])


@test(formats=BOTH)
def filter_other_collections(fmt):
    c = setup(fmt)
    cnt, got, _ = q(c, F("cpu=2 and name='q-cpu2'"), attr="machineConfigs")
    eq(got, ["q-cpu2"], "filter on machineConfigs")
    cnt, got, _ = q(c, F("name='q-template'"), attr="machineTemplates")
    eq(got, ["q-template"], "filter on machineTemplates")
    cnt, got, doc = q(c, F("state='SUCCESS'"), attr="jobs")
    for j in coll_items(doc):
        eq(j.get("state"), "SUCCESS", "filtered jobs")
    check(cnt >= len(SEED), "the seeding jobs match state='SUCCESS'")
    # on a sub-collection
    _, _, doc = q(c, F("name='q-beta'"))
    disks = coll_items(doc)[0]["disks"]["href"]
    d = c.list(disks, query=[F("capacity=2097152")])
    eq(d.get("count"), 1, "filter on the disks sub-collection")
    d = c.list(disks, query=[F("capacity<1")])
    eq(d.get("count"), 0, "filter on the disks sub-collection (none)")


@test(formats=BOTH)
def filter_sees_absolute_uris(fmt):
    """$filter compares ids and references as clients see them: absolute."""
    c = setup(fmt)
    _, _, doc = q(c, F("name='q-beta'"))
    mid = coll_items(doc)[0]["id"]
    check(mid.startswith("http"), "ids are absolute")
    cnt, got, _ = q(c, F(f"id='{mid}'"))
    eq((cnt, got), (1, ["q-beta"]), "filter on the absolute id")
    cnt, _, _ = q(c, F(f"id='{mid.split('/cimi/', 1)[1]}'"))
    eq(cnt, 0, "a relative id is not what clients see")
    coll = mid.rsplit("/", 1)[0]  # create Jobs target the collection
    cnt, _, doc = q(c, F(f"targetResource='{coll}'"), attr="jobs")
    check(cnt >= len(SEED), "filter Jobs on their absolute targetResource")
    for j in coll_items(doc):
        eq(j["targetResource"]["href"], coll, "filtered job's target")
    cnt, _, _ = q(c, F("targetResource='machines'"), attr="jobs")
    eq(cnt, 0, "a relative reference is not what clients see")
    # $orderby on the same documents, with $first/$last
    cnt, got, _ = q(c, ("$orderby", "id:desc"), ("$first", "2"), ("$last", "3"))
    eq(cnt, len(SEED), "count before $first/$last")
    _, every, doc = q(c, ("$orderby", "id:desc"))
    eq(got, every[1:3], "$orderby id:desc then $first=2 $last=3")
    ids = [i["id"] for i in coll_items(doc)]
    eq(ids, sorted(ids, reverse=True), "ordered by absolute id")


@test(formats=BOTH)
def filter_errors(fmt):
    c = setup(fmt)
    href = c.coll("machines")
    for expr, mention in [("name='q-alpha", ("'q-alpha", "name", "filter")),     # unterminated string
                          ("name<'q-alpha'", ("<", "name", "string", "filter")),  # < on a string
                          ("name='a' and", ("and", "filter", "end")),
                          ("(name='a'", ("(", ")", "filter", "end")),
                          ("name=='a'", ("=", "filter")),
                          ("nosuchattr=1", ("nosuchattr",)),
                          ("cpu>", ("cpu", ">", "filter", "end")),
                          ("name='a' xor name='b'", ("xor", "filter")),
                          ("property['env'] < 'x'", ("property", "<", "filter"))]:
        r = c.get(href, query=[F(expr)])
        assert_error(r, 400, mention=mention, fmt=fmt)
    # a good filter and a bad one: still 400
    r = c.get(href, query=[F("cpu=1"), F("cpu=")])
    assert_error(r, 400, fmt=fmt)


# ---------------------------------------------------------------- $orderby, $first/$last

@test(formats=BOTH)
def orderby(fmt):
    c = setup(fmt)
    expect(c, [("$orderby", "name")], ALL, ordered=True)
    expect(c, [("$orderby", "name:asc")], ALL, ordered=True)
    expect(c, [("$orderby", "name:desc")], list(reversed(ALL)), ordered=True)
    expect(c, [("$orderby", "cpu:desc,name:asc")], ["q-beta", "q-gamma", "q-alpha", "q-delta"], ordered=True)
    expect(c, [("$orderby", "cpu,name:desc")], ["q-delta", "q-alpha", "q-gamma", "q-beta"], ordered=True)
    expect(c, [F("cpu=2"), ("$orderby", "name:desc")], ["q-gamma", "q-beta"], ordered=True)
    # order is stable without $orderby while the collection does not change
    _, a, _ = q(c)
    _, b, _ = q(c)
    eq(a, b, "stable order")


@test(formats=BOTH)
def first_last(fmt):
    c = setup(fmt)
    o = ("$orderby", "name")
    # ALL = alpha, beta, delta, gamma
    expect(c, [o, ("$first", "2"), ("$last", "3")], ["q-beta", "q-delta"], ordered=True, count=4)
    expect(c, [o, ("$first", "3")], ["q-delta", "q-gamma"], ordered=True, count=4)
    expect(c, [o, ("$last", "2")], ["q-alpha", "q-beta"], ordered=True, count=4)
    expect(c, [o, ("$first", "1"), ("$last", "1")], ["q-alpha"], ordered=True, count=4)
    expect(c, [o, ("$first", "10")], [], count=4)
    expect(c, [o, ("$first", "3"), ("$last", "2")], [], count=4)
    expect(c, [o, ("$first", "2"), ("$last", "100")], ["q-beta", "q-delta", "q-gamma"], ordered=True, count=4)
    expect(c, [o, ("$last", "100")], ALL, ordered=True, count=4)
    # applied after filtering and sorting
    expect(c, [F("cpu=2"), ("$orderby", "name:desc"), ("$first", "1"), ("$last", "1")], ["q-gamma"],
           ordered=True, count=2)
    expect(c, [F("state='STARTED'"), o, ("$first", "2")], ["q-delta"], ordered=True, count=2)


# ---------------------------------------------------------------- $select

@test(formats=BOTH)
def select_collection(fmt):
    c = setup(fmt)
    doc = c.list("machines", query=[("$select", "name")])
    items = coll_items(doc)
    eq(doc.get("count"), len(SEED), "count kept under $select")
    eq(sorted(i.get("name") for i in items), ALL, "names")
    for i in items:
        for k in ("state", "cpu", "memory", "disks", "description", "operations", "created"):
            notin(k, i, f"$select=name drops {k}")
    doc = c.list("machines", query=[("$select", "name,cpu"), F("cpu=2")])
    for i in coll_items(doc):
        isin("cpu", i, "$select=name,cpu keeps cpu")
        notin("state", i, "$select=name,cpu drops state")
    # repeated $select parameters merge
    doc = c.list("machines", query=[("$select", "name"), ("$select", "state")])
    for i in coll_items(doc):
        isin("state", i, "merged $select keeps state")
        isin("name", i, "merged $select keeps name")
        notin("cpu", i, "merged $select drops cpu")


@test(formats=BOTH)
def select_resource(fmt):
    c = setup(fmt)
    _, _, doc = q(c, F("name='q-beta'"))
    mid = coll_items(doc)[0]["id"]
    r = c.get(mid, query=[("$select", "name,state")])
    eq(r.status, 200, "GET with $select")
    d = r.doc
    eq(d.get("resourceURI"), NS + "/Machine", "resourceURI kept under $select")
    eq(d.get("name"), "q-beta", "name selected")
    eq(d.get("state"), "STARTED", "state selected")
    for k in ("cpu", "memory", "disks", "properties", "id", "operations"):
        notin(k, d, f"$select=name,state drops {k}")
    d = c.read(mid, query=[("$select", "name,bogus,name")])
    eq(d.get("name"), "q-beta", "unknown names and duplicates ignored")
    notin("cpu", d, "unknown names ignored")
    d = c.read(mid, query=[("$select", "*")])
    isin("cpu", d, "$select=* keeps everything")
    isin("operations", d, "$select=* keeps operations")
    d = c.read(mid, query=[("$select", "operations")])
    check(op(d, "edit"), "$select=operations keeps operations")
    notin("name", d, "$select=operations drops name")


# ---------------------------------------------------------------- $expand

@test(formats=BOTH)
def expand_references(fmt):
    c = setup(fmt)
    tpl = c.d.cache["template"]
    d = c.read(tpl)
    notin("cpu", d["machineConfig"], "not expanded by default")
    d = c.read(tpl, query=[("$expand", "machineConfig")])
    eq(d["machineConfig"].get("cpu"), 2, "machineConfig expanded")
    eq(d["machineConfig"].get("href"), c.d.cache["configs"][2], "expanded keeps href")
    notin("imageLocation", d["machineImage"], "machineImage not expanded")
    d = c.read(tpl, query=[("$expand", "machineConfig,machineImage")])
    isin("imageLocation", d["machineImage"], "machineImage expanded")
    d = c.read(tpl, query=[("$expand", "")])
    isin("imageLocation", d["machineImage"], "empty $expand expands all")
    eq(d["machineConfig"].get("cpu"), 2, "empty $expand expands all")
    d = c.read(tpl, query=[("$expand", "name,nosuch")])
    notin("cpu", d["machineConfig"], "non-reference names ignored")
    # on a collection: each item
    doc = c.list("machineTemplates", query=[("$expand", "machineConfig"), F("name='q-template'")])
    items = coll_items(doc)
    eq(len(items), 1, "filtered templates")
    eq(items[0]["machineConfig"].get("memory"), 524288, "expanded inside the collection")


@test(formats=BOTH)
def combined_query(fmt):
    c = setup(fmt)
    doc = c.list("machines", query=[F("property['env']='prod'"), ("$orderby", "name:desc"),
                                    ("$select", "name,properties"), ("$first", "1"), ("$last", "1"),
                                    ("$expand", "disks")])
    eq(doc.get("count"), 2, "count after filter")
    items = coll_items(doc)
    eq([i.get("name") for i in items], ["q-gamma"], "filter+orderby+first/last")
    eq(items[0].get("properties"), {"env": "prod", "team": "x"}, "selected properties")
    notin("cpu", items[0], "select applied")


@test
def filter_percent_encoding():
    """The $filter value is URL-decoded (spaces as %20 and quotes encoded)."""
    c = setup("json")
    href = c.coll("machines")
    raw = href + ("&" if "?" in href else "?") + "$filter=name%3D%27q-alpha%27%20or%20cpu%3D2"
    r = c.get(raw)
    eq(r.status, 200, "encoded filter")
    eq(sorted(i["name"] for i in coll_items(r.doc)), ["q-alpha", "q-beta", "q-gamma"], "encoded filter")
    raw = href + ("&" if "?" in href else "?") + "%24filter=cpu%3E%3D2"
    r = c.get(raw)
    eq(r.status, 200, "encoded $ in the parameter name")
    eq(r.doc.get("count"), 2, "encoded parameter name is $filter")
