"""A System's operations (issue 12 item 4, cimi.md 3.6 and 3.9).

start, stop, restart, pause and suspend fan out to the System's machines
(and to those of Systems nested in it): the System's Job lists one nested
Job per machine (parentJob, action, targetResource the machine), each done
by the Machine's own action; a machine that cannot do the operation now is
left untouched and its nested Job says so (FAILED, and the System's Job
FAILED naming it; SUCCESS when it is where the operation leads already).
The System's state is derived from its machines at every read (one state
-> that state, they differ or there are none -> MIXED), also when a
machine changes outside the System, and the System offers exactly the
operations some machine allows now (restart listed before start).  capture
makes a SystemTemplate (each machine captured as a MachineImage by a
nested Job), from which SystemCreate makes a System like it.  A System's
Job waiting for a worker (test_jobs.py's trickling download holds the only
one) can be stopped (its machines back as they were) and survives kill -9
(the next start runs it).  JSON and XML.  Systems are built from machines created on their own and associated
(POST systems/{id}/machines)."""

from cimitest import (BOTH, NS, Client, action_doc, assert_error, check, create_machine, eq,
                      isin, notin, op, rels, shared, test)
from test_jobs import BLOCKED, downloading, start_download, trickle_daemon, wait_until


def uuid(doc):
    return doc["id"].rsplit("/", 1)[1]


def href_of(doc, attr):
    return (doc.get(attr) or {}).get("href")


def new_system(c, name, machines=(), template=None):
    """A System made by SystemCreate (an empty template unless one is
    given), then the machines associated with it.  Its document."""
    body = {"resourceURI": NS + "/SystemCreate", "name": name,
            "systemTemplate": template or {"description": "no components"}}
    r = c.post(c.add_href("systems"), body)
    isin(r.status, (201, 202), f"SystemCreate {name} ({r.body[:300]!r})")
    c.wait_job(r.header("CIMI-Job-URI"))
    system = c.read(r.header("Location"))
    for m in machines:
        associate(c, system, "machines", "machine", m["id"])
    return c.read(system["id"])


def associate(c, system, coll, ref, href):
    add = op(c.read(href_of(system, coll)), "add")
    check(add, f"the System's {coll} offers add")
    item = "System" + ref[:1].upper() + ref[1:]
    r = c.post(add, {"resourceURI": NS + "/" + item, ref: {"href": href}})
    isin(r.status, (201, 202), f"associate {href} ({r.body[:300]!r})")
    if r.status == 202:
        c.wait_job(r.header("CIMI-Job-URI"))


def machines_of(c, prefix, n, state):
    return [create_machine(c, f"{prefix}-{i}", state) for i in range(n)]


def act(c, system, name, force=None, expect="SUCCESS"):
    """POST the System's operation name (it must offer it): 202 with a
    CIMI-Job-URI; returns the finished Job."""
    href = op(system, name)
    check(href, f"System {system.get('state')} offers {name} (ops: {rels(system)})")
    r = c.post(href, action_doc(name, force))
    eq(r.status, 202, f"{name} of the System ({r.body[:300]!r})")
    job = r.header("CIMI-Job-URI")
    check(job, f"{name}: CIMI-Job-URI")
    eq(r.header("Location"), system["id"], f"{name}: Location names the System")
    done = c.wait_job(job, expect=expect)
    eq(href_of(done, "targetResource"), system["id"], "the Job's target is the System")
    return done


def nested(c, job):
    """The finished nested Jobs of job, by target."""
    out = {}
    for n in job.get("nestedJobs") or []:
        step = c.wait_job(n["href"], expect=None)
        eq(href_of(step, "parentJob"), job["id"], "a nested Job names its parent")
        out[href_of(step, "targetResource")] = step
    return out


def state(c, href):
    return c.read(href).get("state")


@test(formats=BOTH)
def stop_fans_out_to_every_machine(fmt):
    """A System of four STARTED machines reads STARTED (no start offered);
    stop (force) gives one nested Job per machine (action stop, SUCCESS),
    the System's Job SUCCESS; every machine and the System read STOPPED."""
    d = shared("system-ops")
    c = Client(d, "alice", fmt=fmt)
    ms = machines_of(c, f"fan-{fmt}", 4, "STARTED")
    s = new_system(c, f"fan-{fmt}", ms)
    eq(s.get("state"), "STARTED", "all machines STARTED: the System is STARTED")
    notin("start", rels(s), "a STARTED System offers no start")
    for o in ("restart", "stop", "pause", "suspend"):
        isin(o, rels(s), "a STARTED System's operations")
    job = act(c, s, "stop", force=True)
    steps = nested(c, job)
    eq(sorted(steps), sorted(m["id"] for m in ms), "one nested Job per machine")
    for m in ms:
        eq(steps[m["id"]].get("action"), NS + "/action/stop", "a nested Job's action")
        eq(steps[m["id"]].get("state"), "SUCCESS", "a nested Job's outcome")
        eq(state(c, m["id"]), "STOPPED", "each machine STOPPED")
    s = c.read(s["id"])
    eq(s.get("state"), "STOPPED", "the System follows its machines")
    isin("start", rels(s), "a STOPPED System offers start")
    notin("stop", rels(s), "a STOPPED System offers no stop")


@test(formats=BOTH)
def state_follows_members_changed_outside(fmt):
    """One machine of a STOPPED System started on its own: the System reads
    MIXED and offers start and stop, restart before start; a start of the
    System starts the others and leaves the STARTED one alone (its nested
    Job SUCCESS, says it was STARTED already); then STARTED."""
    d = shared("system-ops")
    c = Client(d, "alice", fmt=fmt)
    ms = machines_of(c, f"mixed-{fmt}", 3, "STOPPED")
    s = new_system(c, f"mixed-{fmt}", ms)
    eq(s.get("state"), "STOPPED", "the System is STOPPED")
    r = c.post(op(c.read(ms[0]["id"]), "start"), action_doc("start"))
    eq(r.status, 202, "the machine's own start")
    c.wait_job(r.header("CIMI-Job-URI"))
    s = c.read(s["id"])
    eq(s.get("state"), "MIXED", "a machine started outside the System: MIXED")
    ops = rels(s)
    for o in ("start", "stop", "restart"):
        isin(o, ops, "a MIXED System offers what some machine allows")
    check(ops.index("restart") < ops.index("start"), f"restart listed before start ({ops})")
    job = act(c, s, "start")
    steps = nested(c, job)
    isin("already", steps[ms[0]["id"]].get("statusMessage") or "",
         "the STARTED machine's nested Job says it was left untouched")
    for m in ms:
        eq(state(c, m["id"]), "STARTED", "every machine STARTED")
    eq(state(c, s["id"]), "STARTED", "the System STARTED")


@test(formats=BOTH)
def member_that_cannot_is_left_untouched(fmt):
    """pause of a MIXED System (two STARTED machines, one STOPPED): the
    STARTED ones PAUSED; the STOPPED one untouched (still STOPPED), its
    nested Job FAILED saying why; the System's Job FAILED naming it only."""
    d = shared("system-ops")
    c = Client(d, "alice", fmt=fmt)
    ms = machines_of(c, f"pause-{fmt}", 2, "STARTED")
    off = create_machine(c, f"pause-{fmt}-off", "STOPPED")
    s = new_system(c, f"pause-{fmt}", ms + [off])
    eq(s.get("state"), "MIXED", "STARTED and STOPPED machines: MIXED")
    job = act(c, s, "pause", expect="FAILED")
    message = job.get("statusMessage") or ""
    isin(uuid(off), message, "the System's Job names the machine that failed")
    for m in ms:
        notin(uuid(m), message, "and only that one")
    steps = nested(c, job)
    eq(steps[off["id"]].get("state"), "FAILED", "its nested Job FAILED")
    isin("untouched", steps[off["id"]].get("statusMessage") or "", "left untouched, it says")
    eq(state(c, off["id"]), "STOPPED", "the STOPPED machine untouched")
    for m in ms:
        eq(steps[m["id"]].get("state"), "SUCCESS", "the others' nested Jobs SUCCESS")
        eq(state(c, m["id"]), "PAUSED", "the others PAUSED")


@test
def nested_system_machines_and_xml_job():
    """A System nested in another: the outer System's stop reaches the inner
    one's machine too; the Job read in XML lists its nestedJob hrefs."""
    d = shared("system-ops")
    c, x = Client(d, "alice"), Client(d, "alice", fmt="xml")
    inner_m = create_machine(c, "inner-m", "STARTED")
    outer_m = create_machine(c, "outer-m", "STARTED")
    inner = new_system(c, "inner", [inner_m])
    outer = new_system(c, "outer", [outer_m])
    associate(c, outer, "systems", "system", inner["id"])
    job = act(c, c.read(outer["id"]), "stop", force=True)
    eq(sorted(nested(c, job)), sorted([inner_m["id"], outer_m["id"]]),
       "one nested Job per machine, the inner System's too")
    eq(state(c, inner_m["id"]), "STOPPED", "the inner System's machine STOPPED")
    eq(state(c, inner["id"]), "STOPPED", "the inner System STOPPED")
    xr = x.get(job["id"])
    eq(xr.status, 200, "the Job in XML")
    for n in job["nestedJobs"]:
        isin(f'<nestedJob href="{n["href"]}"', xr.body.decode(), "XML nestedJob")


@test
def member_deleted_on_its_own_is_no_member():
    """A STOPPED machine of a System of STARTED ones deleted directly: the
    System reads STARTED again (from the machines left), and its stop has
    nested Jobs for those only."""
    d = shared("system-ops")
    c = Client(d, "alice")
    ms = machines_of(c, "gone", 2, "STARTED")
    doomed = create_machine(c, "gone-doomed", "STOPPED")
    s = new_system(c, "gone", ms + [doomed])
    eq(s.get("state"), "MIXED", "STARTED and STOPPED machines: MIXED")
    r = c.delete(op(c.read(doomed["id"]), "delete"))
    isin(r.status, (200, 202), "the machine's own delete")
    if r.status == 202:
        c.wait_job(r.header("CIMI-Job-URI"))
    s = c.read(s["id"])
    eq(s.get("state"), "STARTED", "the machines left decide the state")
    eq(sorted(nested(c, act(c, s, "stop", force=True))), sorted(m["id"] for m in ms),
       "nested Jobs for the machines left only")


@test
def no_machines_no_operations():
    """A System without machines is MIXED and offers none of the
    operations; a POST of one anyway is 409, nothing done."""
    d = shared("system-ops")
    c = Client(d, "alice")
    s = new_system(c, "empty")
    eq(s.get("state"), "MIXED", "no machines: MIXED")
    for o in ("start", "stop", "restart", "pause", "suspend", "capture"):
        notin(o, rels(s), "an empty System's operations")
    assert_error(c.post(s["id"] + "/stop", action_doc("stop")), 409)


@test(formats=BOTH)
def capture_then_create_from_template(fmt):
    """capture of a System of two machines (one STARTED, one STOPPED): the
    Job's nested Jobs capture each machine; affectedResources names a new
    SystemTemplate with one machine descriptor per machine whose image is an
    AVAILABLE MachineImage; SystemCreate from it makes a System of two
    machines with the same cpu and memory, the STARTED one STARTED."""
    d = shared("system-ops")
    c = Client(d, "alice", fmt=fmt)
    on = create_machine(c, f"cap-{fmt}-on", "STARTED")
    off = create_machine(c, f"cap-{fmt}-off", "STOPPED")
    s = new_system(c, f"cap-{fmt}", [on, off])
    job = act(c, s, "capture")
    eq(len(job.get("nestedJobs") or []), 2, "one nested Job per machine")
    tpl_ids = [a["href"] for a in job.get("affectedResources") or []
               if "systemTemplates/" in a.get("href", "")]
    eq(len(tpl_ids), 1, f"the Job names the new SystemTemplate ({job.get('affectedResources')})")
    tpl = c.read(tpl_ids[0])
    descs = tpl.get("componentDescriptors") or []
    eq(len(descs), 2, "one descriptor per machine")
    by_name = {dsc.get("name"): dsc for dsc in descs}
    eq(sorted(by_name), sorted([on["name"], off["name"]]), "descriptors named after machines")
    for dsc in descs:
        eq(dsc.get("type"), NS + "/Machine", "a machine descriptor's type")
        mt = dsc.get("machineTemplate") or {}
        img = c.read(href_of(mt, "machineImage"))
        eq(img.get("state"), "AVAILABLE", "the captured image")
        eq((mt.get("machineConfig") or {}).get("cpu"), on.get("cpu"), "cpu kept")
    eq((by_name[on["name"]].get("machineTemplate") or {}).get("initialState"), "STARTED",
       "the running machine's template starts it")
    copy = new_system(c, f"copy-{fmt}", template={"href": tpl["id"]})
    made = c.read(href_of(copy, "machines"))
    items = made.get("systemMachines") or []
    eq(len(items), 2, "the new System has two machines")
    states = sorted(state(c, href_of(i, "machine")) for i in items)
    eq(states, ["STARTED", "STOPPED"], "made as captured")


def topology_template(c, name):
    """A network and two machines on it, each with its own volume (JSON)."""
    t = NS + "/"
    return {"name": name, "componentDescriptors": [
        {"name": "net", "type": t + "Network",
         "networkTemplate": {"networkConfig": {"networkType": "PRIVATE"}}},
        {"name": "data", "type": t + "Volume", "quantity": 2,
         "volumeTemplate": {"volumeConfig": {"capacity": 2048}}},
        {"name": "web", "type": t + "Machine", "quantity": 2,
         "machineTemplate": {"initialState": "STARTED",
                             "machineConfig": {"href": c.default_config()["id"]},
                             "machineImage": {"href": c.default_image()["id"]},
                             "volumes": [{"href": "#data"}],
                             "networkInterfaces": [{"network": {"href": "#net"},
                                                    "state": "ACTIVE"}]}}]}


def members_of(c, system, coll, ref):
    items = c.read(href_of(c.read(system["id"]), coll))
    key = "system" + ref[:1].upper() + ref[1:] + "s"
    return [c.read(href_of(i, ref)) for i in items.get(key) or []]


@test(formats=BOTH)
def capture_keeps_the_topology(fmt):
    """A System made by SystemCreate (a network, two STARTED machines on it,
    each with its own volume) captured: the template (read in fmt) has a
    network descriptor, two volume descriptors (capacity kept) and two
    machine descriptors whose interface names the network and whose volume
    names its own volume by "#name"; a SystemCreate from it makes a new
    network, volumes and machines: each new machine is on the new network
    and has its new volume, none of the old System's."""
    d = shared("system-ops")
    c, f = Client(d, "alice"), Client(d, "alice", fmt=fmt)
    src = new_system(c, f"topo-{fmt}", template=topology_template(c, f"topo-{fmt}"))
    eq(src.get("state"), "STARTED", "the machines were made STARTED")
    job = act(f, f.read(src["id"]), "capture")
    tpl = f.read([a["href"] for a in job["affectedResources"]
                  if "systemTemplates/" in a["href"]][0])
    descs = {dsc["name"]: dsc for dsc in tpl.get("componentDescriptors") or []}
    eq(sorted(descs), ["data-1", "data-2", "net", "web-1", "web-2"], "one descriptor per member")
    # (the harness reads every XML <volumeTemplate> as an item of "volumeTemplates")
    vt = descs["data-1"].get("volumeTemplate") or descs["data-1"]["volumeTemplates"][0]
    eq(vt["volumeConfig"].get("capacity"), 2048, "capacity kept")
    for i in ("1", "2"):
        mt = descs["web-" + i]["machineTemplate"]
        eq([n["network"]["href"] for n in mt.get("networkInterfaces") or []], ["#net"],
           "the interface names the network descriptor")
        eq([v["href"] for v in mt.get("volumes") or []], ["#data-" + i],
           "the machine's own volume, by name")
    copy = new_system(c, f"topo-copy-{fmt}", template={"href": tpl["id"]})
    eq(copy.get("state"), "STARTED", "the copy's machines STARTED")
    old_net = [n["id"] for n in members_of(c, src, "networks", "network")]
    nets = [n["id"] for n in members_of(c, copy, "networks", "network")]
    eq(len(nets), 1, "the copy has a network of its own")
    notin(nets[0], old_net, "a new network")
    vols = {v["name"]: v["id"] for v in members_of(c, copy, "volumes", "volume")}
    for m in members_of(c, copy, "machines", "machine"):
        nics = c.read(href_of(m, "networkInterfaces")).get("machineNetworkInterfaces") or []
        eq([href_of(n, "network") for n in nics], nets, f"{m['name']} on the new network")
        mv = c.read(href_of(m, "volumes")).get("machineVolumes") or []
        eq([href_of(v, "volume") for v in mv], [vols["data-" + m["name"][-1]]],
           f"{m['name']} has its new volume")


def queued_system_stop(s, c, name, n=3):
    """A System of n STARTED machines whose stop waits behind a download
    holding the only worker: (System, machines, its Job URI)."""
    ms = machines_of(c, name, n, "STARTED")
    system = new_system(c, name, ms)
    _, blocker = start_download(c, s.url(name + ".raw"), name + "-blocker")
    wait_until("the blocker download receives bytes", lambda: downloading(c, blocker))
    r = c.post(op(system, "stop"), action_doc("stop", True))
    eq(r.status, 202, f"the System's stop ({r.body[:200]!r})")
    job = c.read(r.header("CIMI-Job-URI"))
    eq(job.get("state"), "QUEUED", "the System's Job waits for the worker")
    eq(len(job.get("nestedJobs") or []), n, "one nested Job per machine")
    eq(state(c, system["id"]), "STOPPING", "its machines STOPPING: the System STOPPING")
    return system, ms, job["id"]


@test
def queued_system_stop_is_stopped():
    """The stop of a System's queued Job stops its nested Jobs; every
    machine and the System are STARTED again."""
    with trickle_daemon("system-ops-stop", BLOCKED) as (s, d, storage):
        c = Client(d, "alice")
        system, ms, job = queued_system_stop(s, c, "q-stop")
        jd = c.read(job)
        check(op(jd, "stop"), f"the queued Job offers stop ({rels(jd)})")
        eq(c.post(op(jd, "stop"), action_doc("stop")).status, 202, "stop of the Job")
        eq(c.read(job).get("state"), "STOPPED", "the System's Job STOPPED")
        for n in c.read(job)["nestedJobs"]:
            eq(c.read(n["href"]).get("state"), "STOPPED", "its nested Jobs STOPPED")
        for m in ms:
            eq(c.wait_stable(m["id"]).get("state"), "STARTED", "each machine STARTED again")
        eq(state(c, system["id"]), "STARTED", "the System STARTED again")


@test
def system_stop_survives_kill9():
    """cimid killed with a System's stop queued: at the next start its Job
    runs every nested Job (each SUCCESS) and ends SUCCESS; every machine
    and the System STOPPED."""
    with trickle_daemon("system-ops-kill9", BLOCKED) as (s, d, storage):
        c = Client(d, "alice")
        system, ms, job = queued_system_stop(s, c, "q-kill")
        d.kill9()
        s.finish()  # the recovered download fails at once and frees the worker
        d.start()
        c = Client(d, "alice")
        jd = c.wait_job(job, timeout=60)
        for n in jd["nestedJobs"]:
            eq(c.read(n["href"]).get("state"), "SUCCESS", "each nested Job ran after the restart")
        for m in ms:
            eq(c.wait_stable(m["id"]).get("state"), "STOPPED", "each machine STOPPED")
        eq(state(c, system["id"]), "STOPPED", "the System STOPPED")
