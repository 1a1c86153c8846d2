"""Collection reads over the store's index give what reading every row gives.

A $filter and $orderby naming only id, name, created, updated and state are
answered from cimid's in-memory index of the rows, reading only the page;
any other attribute (here a property[...] that always holds) makes cimid
read and refresh every row.  Each query is asked both ways, as three users
(two tenants and the admin, who also owns shared rows), and the replies
must be identical; a Python model of the query checks the names too."""

import datetime

from cimitest import (NS, Client, action_doc, check, coll_items, create_machine, eq,
                      machine_create_doc, shared, test)

# name (None = no name), owner, initial state
MACHINES = [
    ("ix-a", "alice", "STARTED"), ("ix-b", "alice", "STOPPED"), ("dup", "alice", "STARTED"),
    ("dup", "alice", "STOPPED"), ("ix-c", "alice", "STARTED"), (None, "alice", "STOPPED"),
    ("ix-d", "bob", "STARTED"), ("dup", "bob", "STOPPED"), ("ix-e", "bob", "STOPPED"),
    ("ix-f", "admin", "STARTED"), ("dup", "admin", "STOPPED"),
]

ALWAYS = ("$filter", "property['no-such-key']!='x'")   # not in the index: every row is read


def setup():
    d = shared("queries_index")
    if "seeded" not in d.cache:
        for name, owner, state in MACHINES:
            c = Client(d, owner)
            body = machine_create_doc(c, name or "unnamed", state)
            if name is None:
                del body["name"]
            create_machine(c, name, state, body=body)
        # one PAUSED (stable, from the hypervisor) machine of alice
        a = Client(d, "alice")
        m = [i for i in coll_items(a.list("machines", query=[("$filter", "name='ix-c'")]))][0]
        pause = [o["href"] for o in m["operations"] if o["rel"].endswith("/pause")][0]
        r = a.post(pause, action_doc("pause"))
        eq(r.status, 202, "pause ix-c")
        a.wait_job(r.header("CIMI-Job-URI"))
        a.wait_state(m["id"], "PAUSED")
        d.cache["seeded"] = True
    return d


def both_ways(c, params, what):
    """The reply from the index and from every row; checks they are equal."""
    fast = c.get(c.coll("machines"), query=list(params))
    slow = c.get(c.coll("machines"), query=list(params) + [ALWAYS])
    eq(fast.status, slow.status, f"status of {what}")
    eq(fast.doc, slow.doc, f"the index and every row give the same reply to {what}")
    return fast.doc


def model(every, pred, order, first, last):
    """The query applied in Python to the full listing (creation order)."""
    items = [i for i in every if pred(i)]
    for key, desc in reversed(order):
        # missing sorts first; Python's sort is stable, like cimid's
        items.sort(key=lambda i: (key in i, i.get(key, "")), reverse=desc)
    lo = (first or 1) - 1
    hi = last if last else len(items)
    return len(items), [i.get("name") for i in items[lo:hi] if lo < hi]


def datetime_key(text):
    return datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))


@test
def index_same_as_every_row():
    d = setup()
    for user in ("alice", "bob", "admin"):
        c = Client(d, user)
        every = coll_items(c.list("machines"))
        check(len(every) >= 2, f"{user} sees machines")
        some = every[len(every) // 2]
        mid_created = some["created"]
        filters = [
            (None, lambda i: True),
            ("state='STARTED'", lambda i: i.get("state") == "STARTED"),
            ("state='STOPPED'", lambda i: i.get("state") == "STOPPED"),
            ("state!='STARTED'", lambda i: i.get("state") != "STARTED"),
            ("state='PAUSED'", lambda i: i.get("state") == "PAUSED"),
            ("'STARTED'=state", lambda i: i.get("state") == "STARTED"),
            ("name='dup'", lambda i: i.get("name") == "dup"),
            ("name!='dup'", lambda i: i.get("name") != "dup"),
            ("name='dup' and state='STOPPED'",
             lambda i: i.get("name") == "dup" and i.get("state") == "STOPPED"),
            ("name='ix-a' or state='PAUSED' or name='ix-e'",
             lambda i: i.get("name") in ("ix-a", "ix-e") or i.get("state") == "PAUSED"),
            ("(state='STARTED' and name!='dup') or (name='dup' and state!='STARTED')",
             lambda i: (i.get("state") == "STARTED") != (i.get("name") == "dup")),
            (f"id='{some['id']}'", lambda i: i["id"] == some["id"]),
            (f"id!='{some['id']}'", lambda i: i["id"] != some["id"]),
            (f"id='{some['id'].split('/cimi/', 1)[1]}'", lambda i: False),   # relative: never
            (f"created>={mid_created}",
             lambda i: datetime_key(i["created"]) >= datetime_key(mid_created)),
            (f"created<{mid_created} or state='PAUSED'",
             lambda i: datetime_key(i["created"]) < datetime_key(mid_created)
             or i.get("state") == "PAUSED"),
            ("updated>2000-01-01T00:00:00Z", lambda i: True),
            ("created<2000-01-01T00:00:00Z", lambda i: False),
        ]
        orders = [[], [("name", False)], [("name", True)], [("state", False), ("name", True)],
                  [("state", True)], [("id", True)], [("created", True)], [("updated", False)]]
        ranges = [(None, None), (1, 1), (2, 3), (3, None), (None, 2), (100, None), (3, 2),
                  (1, 100)]
        for text, pred in filters:
            for order in orders:
                for first, last in ranges:
                    params = []
                    if text:
                        params.append(("$filter", text))
                    if order:
                        params.append(("$orderby", ",".join(k + (":desc" if desc else "")
                                                            for k, desc in order)))
                    if first:
                        params.append(("$first", str(first)))
                    if last:
                        params.append(("$last", str(last)))
                    what = f"{user}: {params}"
                    doc = both_ways(c, params, what)
                    got = [i.get("name") for i in coll_items(doc)] if doc.get("count") else []
                    if any(k in ("created", "updated") for k, _ in order):
                        continue  # the model sorts dateTimes as text; cimid by instant
                    count, names = model(every, pred, order, first, last)
                    eq(doc.get("count"), count, f"count of {what}")
                    if order or text:
                        eq(got, names, f"items of {what}")


@test
def index_follows_changes():
    """Every committed change shows at once in reads from the index."""
    d = setup()
    a = Client(d, "alice")
    m = create_machine(a, "ix-new", "STARTED")
    doc = both_ways(a, [("$filter", "name='ix-new'")], "a new machine")
    eq(doc["count"], 1, "a new machine is found by name at once")
    r = a.put(m["id"], {"resourceURI": NS + "/Machine", "name": "ix-renamed"},
              query=[("$select", "name")])
    check(r.status in (200, 202), f"rename ({r.status})")
    if r.header("CIMI-Job-URI"):
        a.wait_job(r.header("CIMI-Job-URI"))
    eq(both_ways(a, [("$filter", "name='ix-new'")], "old name")["count"], 0, "old name gone")
    eq(both_ways(a, [("$filter", "name='ix-renamed' and state='STARTED'")], "new name")["count"], 1,
       "new name found")
    stop = [o["href"] for o in a.read(m["id"])["operations"] if o["rel"].endswith("/stop")][0]
    r = a.post(stop, action_doc("stop"))
    eq(r.status, 202, "stop")
    a.wait_job(r.header("CIMI-Job-URI"))
    eq(both_ways(a, [("$filter", "name='ix-renamed' and state='STOPPED'")], "stopped")["count"], 1,
       "the state a stop reached")
    r = a.delete(m["id"])
    check(r.status in (200, 202, 204), f"delete ({r.status})")
    if r.header("CIMI-Job-URI"):
        a.wait_job(r.header("CIMI-Job-URI"))
    eq(both_ways(a, [("$filter", "name='ix-renamed'")], "deleted")["count"], 0, "deleted: gone")
    # a refused create leaves nothing behind
    bad = machine_create_doc(a, "ix-refused", "STARTED")
    bad["machineTemplate"]["machineConfig"] = {"href": a.coll("machineConfigs") + "/no-such"}
    r = a.post(a.add_href("machines"), bad)
    check(r.status >= 400, f"refused create ({r.status})")
    eq(both_ways(a, [("$filter", "name='ix-refused'")], "refused")["count"], 0, "refused: absent")


@test
def index_sub_collections_and_other_types():
    d = setup()
    a = Client(d, "alice")
    m = [i for i in coll_items(a.list("machines", query=[("$filter", "name='ix-a'")]))][0]
    disks = m["disks"]["href"]
    for params in ([], [("$filter", "name!='x'")], [("$orderby", "name:desc")],
                   [("$filter", f"id='{disks}/1'")], [("$first", "2")]):
        fast = a.get(disks, query=params)
        slow = a.get(disks, query=params + [ALWAYS])
        eq(fast.status, 200, f"disks {params}")
        eq(fast.doc, slow.doc, f"disks sub-collection {params}: both ways alike")
    for attr in ("machineConfigs", "machineImages", "credentials", "jobs"):
        for params in ([], [("$orderby", "name:desc,created")], [("$filter", "name!='dup'")],
                       [("$last", "1")]):
            fast = a.get(a.coll(attr), query=params)
            slow = a.get(a.coll(attr), query=params + [("$filter", "property['no']!='x'")])
            eq(fast.doc, slow.doc, f"{attr} {params}: both ways alike")


@test
def index_across_state_batches():
    """More machines than one batch of states (64): two tenants interleaved,
    so that each batch holds some of each; filtered and ordered pages over
    the index equal those of every row, and the model's."""
    d = shared("queries_index_batches")
    owners = ["alice", "alice", "bob"]
    for n in range(150):
        c = Client(d, owners[n % 3])
        create_machine(c, f"b{n:03d}", "STARTED" if n % 5 in (0, 3) else "STOPPED")
    for user in ("alice", "bob", "admin"):
        c = Client(d, user)
        every = coll_items(c.list("machines"))
        eq(len(every), {"alice": 100, "bob": 50, "admin": 150}[user], f"{user} sees its machines")
        for text, pred in [("state='STARTED'", lambda i: i.get("state") == "STARTED"),
                           ("state!='STARTED'", lambda i: i.get("state") != "STARTED")]:
            for order in [[], [("name", True)], [("state", False), ("name", False)]]:
                for first, last in [(None, None), (1, 50), (60, 70), (30, None)]:
                    params = [("$filter", text)]
                    if order:
                        params.append(("$orderby", ",".join(k + (":desc" if desc else "")
                                                            for k, desc in order)))
                    if first:
                        params.append(("$first", str(first)))
                    if last:
                        params.append(("$last", str(last)))
                    what = f"{user}: {params}"
                    doc = both_ways(c, params, what)
                    got = [i.get("name") for i in coll_items(doc)] if doc.get("count") else []
                    count, names = model(every, pred, order, first, last)
                    eq(doc.get("count"), count, f"count of {what}")
                    eq(got, names, f"items of {what}")
