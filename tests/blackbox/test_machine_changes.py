"""Machines after their creation (issue 11): a create that failed reads
ERROR with the reason on the Machine; a forced stop over a graceful one
that is under way; cpu and memory changed by PUT (applied, or refused with
a clear error and nothing changed)."""

import re
import time

from cimitest import (NS, Client, Daemon, action_doc, assert_error, assert_unchanged, check,
                      coll_items, create_machine, eq, isin, machine_create_doc, notin, op, rels,
                      store_snapshot, test, BOTH)


def private_daemon(name, args=()):
    d = Daemon(name=name, args=args)
    d.start()
    return d


def default_host(admin):
    items = coll_items(admin.list(admin.coll("hosts")))
    check(items, "the --connect host is listed")
    return items[0]


def booked(admin):
    h = admin.read(default_host(admin)["id"])
    return h.get("allocatedCpu"), h.get("allocatedMemory"), h.get("machineCount")


def failing_create_doc(c, name):
    """A MachineCreate whose Job fails in the hypervisor driver: libvirt
    domains name architectures in lower case, so cpuArch 'PowerPC' cannot
    be defined."""
    body = machine_create_doc(c, name)
    body["machineTemplate"]["machineConfig"] = {
        "cpu": 3, "memory": 333333, "cpuArch": "PowerPC",
        "disks": [{"capacity": 1000000, "format": "ext4"}]}
    return body


# ---------------------------------------------------------------- item 17

@test(formats=BOTH)
def failed_create_reads_error_with_its_reason(fmt):
    d = private_daemon("mfail")
    try:
        admin = Client(d, "admin")
        c = Client(d, "alice", fmt=fmt)
        before = booked(admin)
        r = c.post(c.add_href("machines"), failing_create_doc(c, "doomed"), fmt="json")
        eq(r.status in (201, 202), True, f"create accepted ({r.status} {r.body[:200]!r})")
        loc, job = r.header("Location"), r.header("CIMI-Job-URI")
        jd = c.wait_job(job, expect="FAILED")
        reason = jd.get("statusMessage") or ""
        isin("cpuArch", reason, "the Job says why")
        m = c.read(loc)
        eq(m.get("state"), "ERROR", "a machine whose create failed reads ERROR")
        eq(m.get("stateMessage"), reason, "the reason is on the Machine itself")
        notin("endpoints", m, "no endpoints for a machine that never came to be")
        eq(sorted(rels(m)), ["delete", "edit"], "only edit and delete are offered")
        # the same in the collection
        listed = [i for i in coll_items(c.list("machines")) if i.get("id") == loc]
        eq(len(listed), 1, "listed once")
        eq(listed[0].get("state"), "ERROR", "listed as ERROR")
        eq(listed[0].get("stateMessage"), reason, "listed with its reason")
        # a start is refused: it could not succeed
        r = c.post(loc + "/start", action_doc("start"), fmt="json")
        eq(r.status, 409, "start of a machine whose create failed")
        # the host booking was given back
        deadline = time.time() + 30
        while booked(admin) != before and time.time() < deadline:
            time.sleep(0.1)
        eq(booked(admin), before, "the failed machine keeps no booking on its host")
        # logged at error level, with the reason
        mid = loc.split("/cimi/", 1)[1]
        check(re.search(r" error machine: " + re.escape(mid) + r": create failed: .*cpuArch",
                        d.log_text()), "the failure is logged at error level")
        # it can be deleted, and the books stay right (no second release)
        r = c.delete(op(m, "delete"))
        eq(r.status, 200, f"delete of the failed machine ({r.body[:200]!r})")
        eq(c.get(loc).status, 404, "the failed machine is gone")
        eq(booked(admin), before, "the books after the delete")
        # a restart keeps it ERROR and unbooked
        r = c.post(c.add_href("machines"), failing_create_doc(c, "doomed2"), fmt="json")
        loc2 = r.header("Location")
        c.wait_job(r.header("CIMI-Job-URI"), expect="FAILED")
        d.restart()
        m = c.read(loc2)
        eq(m.get("state"), "ERROR", "still ERROR after a restart")
        check(m.get("stateMessage"), "still with its reason after a restart")
        eq(booked(admin), before, "not booked again at start-up")
    finally:
        d.stop()


# ---------------------------------------------------------------- item 14: cpu and memory

def sized_machine(c, name, state=None):
    body = machine_create_doc(c, name, initial_state=state)
    body["machineTemplate"]["machineConfig"] = {
        "cpu": 1, "memory": 262144, "disks": [{"capacity": 1000000, "format": "ext4"}]}
    return create_machine(c, name, initial_state=state, body=body)


@test(formats=BOTH)
def cpu_and_memory_change(fmt):
    """PUT cpu/memory: a stopped machine gets them at once (booked on its host,
    kept over a restart); a running one answers 409 saying it needs a stop;
    more than the host can give is 409 with the reason; bad values 400;
    nothing changes on any refusal."""
    # overcommit 100 %: the simulated host's CPUs and memory are the limit
    d = private_daemon("mresize", args=("--cpu-overcommit", "100", "--memory-overcommit", "100"))
    try:
        admin = Client(d, "admin")
        c = Client(d, "alice", fmt=fmt)
        m = sized_machine(c, "grow")
        cpus, mem, count = booked(admin)
        body = {"resourceURI": NS + "/Machine", "name": "grow", "cpu": 2, "memory": 524288}
        r = c.put(op(m, "edit"), body)
        eq(r.status, 200, f"PUT cpu/memory of a stopped machine ({r.body[:300]!r})")
        g = c.read(m["id"])
        eq((g.get("cpu"), g.get("memory")), (2, 524288), "cpu and memory changed")
        eq(booked(admin), (cpus + 1, mem + 262144, count), "booked on its host")
        # a PUT without them keeps them
        r = c.put(op(m, "edit"), {"resourceURI": NS + "/Machine", "name": "grown"})
        eq(r.status, 200, "PUT of the name alone")
        g = c.read(m["id"])
        eq((g.get("name"), g.get("cpu"), g.get("memory")), ("grown", 2, 524288),
           "name changed, cpu and memory kept")
        # refusals: nothing changes
        host = admin.read(default_host(admin)["id"])
        before, books = store_snapshot(c), booked(admin)
        too_many = {"resourceURI": NS + "/Machine", "name": "grown", "cpu": host["cpu"] + 1}
        r = c.put(op(m, "edit"), too_many)
        assert_error(r, 409, mention=("cpu", "CPU", "fit", "host"), fmt=fmt)
        too_much = {"resourceURI": NS + "/Machine", "name": "grown",
                    "memory": host["memory"] * 2}
        r = c.put(op(m, "edit"), too_much)
        assert_error(r, 409, mention=("memory", "fit", "host"), fmt=fmt)
        for bad in ({"cpu": 0}, {"memory": 1}, {"cpu": 100000}):
            body = {"resourceURI": NS + "/Machine", "name": "renamed-by-a-bad-put", **bad}
            r = c.put(op(m, "edit"), body)
            assert_error(r, 400, mention=tuple(bad), fmt=fmt)
        assert_unchanged(c, before)
        eq(booked(admin), books, "the books after the refusals")
        # running: 409 saying a stop is needed
        started, _ = c.post(op(g, "start"), action_doc("start")), None
        c.wait_job(started.header("CIMI-Job-URI"))
        g = c.wait_state(m["id"], "STARTED")
        before = store_snapshot(c)
        r = c.put(op(g, "edit"), {"resourceURI": NS + "/Machine", "name": "grown", "cpu": 3})
        assert_error(r, 409, mention=("stop",), fmt=fmt)
        assert_unchanged(c, before)
        eq(c.read(m["id"]).get("cpu"), 2, "cpu of the running machine unchanged")
        eq(booked(admin), books, "the books after the 409")
        # kept over a restart (the test driver forgets machines: re-defined from the store)
        d.restart()
        g = c.wait_state(m["id"], "STARTED")
        eq((g.get("cpu"), g.get("memory")), (2, 524288), "after a restart")
        eq(booked(admin), books, "booked again at start-up with the new values")
    finally:
        d.stop()


# ---------------------------------------------------------------- item 14: attachments edited

def _edit_checks(c, item, fmt, immutable):
    """name/description/properties change by PUT (also sent back with every
    attribute as read, GET-then-PUT); each immutable attribute with another
    value is 400 naming it, with the store and the item unchanged."""
    isin("edit", rels(item), "the item offers edit")
    body = {k: v for k, v in item.items() if k != "operations"}
    body.update(name="renamed", description="edited", properties={"role": "data"})
    r = c.put(op(item, "edit"), body)
    eq(r.status, 200, f"PUT of the common attributes ({r.body[:300]!r})")
    g = c.read(item["id"])
    eq((g.get("name"), g.get("description"), g.get("properties")),
       ("renamed", "edited", {"role": "data"}), "common attributes changed")
    for attr, value in immutable.items():
        before = store_snapshot(c)
        body = {"resourceURI": item["resourceURI"], "name": "changed-by-a-refused-put", attr: value}
        r = c.put(op(g, "edit"), body)
        assert_error(r, 400, mention=(attr,), fmt=fmt)
        assert_unchanged(c, before)
        after = c.read(item["id"])
        eq(after.get("name"), "renamed", f"name unchanged after the refused {attr}")
        eq(after.get(attr), g.get(attr), f"{attr} unchanged")
    return g


@test(formats=BOTH)
def machine_volume_edit(fmt):
    d = private_daemon("medit-vol")
    try:
        c = Client(d, "alice", fmt=fmt)
        m = create_machine(c, "vm")
        r = c.post(c.add_href("volumes"), {"resourceURI": NS + "/VolumeCreate", "name": "v",
                                           "volumeTemplate": {"volumeConfig": {"capacity": 1048576}}})
        isin(r.status, (201, 202), "create a volume")
        c.wait_job(r.header("CIMI-Job-URI"))
        v = c.wait_state(r.header("Location"), "AVAILABLE")
        r = c.post(c.add_href(m["volumes"]["href"]), {"resourceURI": NS + "/MachineVolume",
                                                      "initialLocation": "/dev/vdc",
                                                      "volume": {"href": v["id"]}})
        isin(r.status, (201, 202), f"attach ({r.body[:300]!r})")
        c.wait_job(r.header("CIMI-Job-URI"))
        item = c.read(r.header("Location"))
        _edit_checks(c, item, fmt, {"initialLocation": "/dev/vdd",
                                     "volume": {"href": m["id"]}})
    finally:
        d.stop()


@test(formats=BOTH)
def machine_interface_edit(fmt):
    d = private_daemon("medit-nic")
    try:
        c = Client(d, "alice", fmt=fmt)
        r = c.post(c.add_href("networks"), {
            "resourceURI": NS + "/NetworkCreate", "name": "net",
            "networkTemplate": {"networkConfig": {"networkType": "PRIVATE"}}})
        isin(r.status, (201, 202), "create a network")
        c.wait_job(r.header("CIMI-Job-URI"))
        net = c.wait_state(r.header("Location"), "STARTED")
        m = create_machine(c, "vm")
        r = c.post(c.add_href(m["networkInterfaces"]["href"]), {
            "resourceURI": NS + "/MachineNetworkInterface", "network": {"href": net["id"]}})
        isin(r.status, (201, 202), f"attach an interface ({r.body[:300]!r})")
        c.wait_job(r.header("CIMI-Job-URI"))
        item = c.read(r.header("Location"))
        _edit_checks(c, item, fmt, {"macAddress": "52:54:00:aa:bb:cc", "mtu": 1400,
                                     "network": {"href": m["id"]}})
    finally:
        d.stop()


# ---------------------------------------------------------------- item 14: a machine's disks

def add_disk(c, machine, **attrs):
    body = {"resourceURI": NS + "/Disk", **attrs}
    return c.post(c.add_href(machine["disks"]["href"]), body)


def add_disk_ok(c, machine, **attrs):
    r = add_disk(c, machine, **attrs)
    isin(r.status, (201, 202), f"add a disk ({r.body[:300]!r})")
    loc, job = r.header("Location"), r.header("CIMI-Job-URI")
    check(loc and loc.startswith(machine["disks"]["href"] + "/"), f"Location {loc!r} is a Disk")
    jd = c.wait_job(job)
    isin(loc, [a.get("href") for a in jd.get("affectedResources") or []], "the Job names the Disk")
    disk = c.read(loc)
    disk["id"] = loc   # the 1.x XML schema gives a Disk no id (nor operations)
    return disk


def disk_ops(c, fmt, disk):
    """A Disk's operations, read in JSON (the XML schema has none for a Disk)."""
    return rels(c.read(disk["id"], fmt="json"))


@test(formats=BOTH)
def machine_disks_added_and_removed(fmt):
    """POST to a Machine's disks adds a blank disk (the first free device, or
    the initialLocation asked for); DELETE removes it; the boot disk, a
    device in use and bad capacities are refused with nothing changed; a
    volume attached later takes a device no disk uses; the disks survive a
    restart (the test driver re-defines the machine from cimid's record)."""
    d = private_daemon("mdisks")
    try:
        c = Client(d, "alice", fmt=fmt)
        m = sized_machine(c, "disky")
        coll = c.list(m["disks"]["href"])
        check(op(coll, "add"), "a Machine's disks offer add")
        boot = coll_items(coll)
        eq(len(boot), 1, "one disk from the configuration")
        boot[0]["id"] = m["disks"]["href"] + "/0"
        notin("delete", disk_ops(c, fmt, boot[0]), "the boot disk offers no delete")
        d1 = add_disk_ok(c, m, capacity=2097152)
        eq((d1.get("capacity"), d1.get("initialLocation")), (2097152, "/dev/vdb"),
           "the first free device")
        isin("delete", disk_ops(c, fmt, d1), "an added disk offers delete")
        d2 = add_disk_ok(c, m, capacity=1048576, initialLocation="/dev/vdd")
        eq(d2.get("initialLocation"), "/dev/vdd", "the device asked for")
        # refusals
        before = store_snapshot(c)
        count = c.list(m["disks"]["href"]).get("count")
        assert_error(add_disk(c, m, capacity=1048576, initialLocation="/dev/vdb"), 409,
                     mention=("vdb",), fmt=fmt)
        assert_error(add_disk(c, m, capacity=1048576, initialLocation="/dev/sdz"), 400,
                     mention=("initialLocation",), fmt=fmt)
        assert_error(add_disk(c, m, capacity=0), 400, mention=("capacity",), fmt=fmt)
        assert_error(add_disk(c, m, capacity=-1), 400, mention=("capacity",), fmt=fmt)
        assert_error(add_disk(c, m, initialLocation="/dev/vde"), 400, mention=("capacity",),
                     fmt=fmt)
        assert_error(c.delete(boot[0]["id"]), 409, mention=("boot",), fmt=fmt)
        # another tenant: like a missing machine or disk
        bob = Client(d, "bob", fmt=fmt)
        eq(bob.post(m["disks"]["href"], {"resourceURI": NS + "/Disk", "capacity": 1048576}).status,
           404, "bob adds a disk to alice's machine")
        eq(bob.delete(d2["id"]).status, 404, "bob removes alice's disk")
        assert_unchanged(c, before)
        eq(c.list(m["disks"]["href"]).get("count"), count, "no disk added or removed")
        # a volume takes a device no disk uses
        r = c.post(c.add_href("volumes"), {"resourceURI": NS + "/VolumeCreate", "name": "v",
                                           "volumeTemplate": {"volumeConfig": {"capacity": 1048576}}})
        c.wait_job(r.header("CIMI-Job-URI"))
        v = c.wait_state(r.header("Location"), "AVAILABLE")
        r = c.post(c.add_href(m["volumes"]["href"]), {"resourceURI": NS + "/MachineVolume",
                                                      "volume": {"href": v["id"]}})
        eq(r.status in (201, 202), True, f"attach a volume ({r.body[:200]!r})")
        c.wait_job(r.header("CIMI-Job-URI"))
        eq(c.read(r.header("Location")).get("initialLocation"), "/dev/vdc",
           "the volume gets the device between the disks")
        # remove one
        r = c.delete(d1["id"])
        eq(r.status, 200, f"remove the disk ({r.body[:300]!r})")
        eq(c.get(d1["id"]).status, 404, "the removed disk is gone")
        # running: added live (the test driver records it), and kept over a restart
        started = c.post(op(c.read(m["id"]), "start"), action_doc("start"))
        c.wait_job(started.header("CIMI-Job-URI"))
        c.wait_state(m["id"], "STARTED")
        d3 = add_disk_ok(c, m, capacity=1048576)
        eq(d3.get("initialLocation"), "/dev/vdb", "the freed device is used again")
        d.restart()
        c.wait_state(m["id"], "STARTED")
        locations = sorted(i.get("initialLocation") or "" for i in coll_items(c.list(m["disks"]["href"])))
        eq(locations[1:], ["/dev/vdb", "/dev/vdd"], "the disks after a restart")
    finally:
        d.stop()
