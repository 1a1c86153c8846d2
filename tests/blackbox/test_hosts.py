"""Hosts: the pool of hypervisors (the cimid extension resource Host), the
scheduler that places machines on them (spread/pack, no memory over-commit,
409 when nothing fits), dedicated CPUs, hosts added and removed while cimid
runs, and a host that becomes unreachable and returns.

Hosts here are libvirt test drivers with node files of a known size
(test:///DIR/node-a.xml: 4 CPUs, 4 GiB), so the books can be checked
exactly; the unreachable host is a real remote connection (test+unix://)
to a private libvirtd this test starts and kills.  test_qemu.py adds a
real QEMU host at run time."""

import os
import shutil
import signal
import subprocess
import tempfile
import time

import cimitest
from cimitest import (check_created, BOTH, CIMID_NS, NS, Client, Daemon, SkipTest, assert_error, assert_unchanged,
                      check, coll_items, create_machine, do_action, eq, isin, machine_create_doc,
                      notin, op, shared, store_snapshot, test)

GIB = 1024 * 1024  # KiB


def node_file(directory, name, cpus, memory_kib):
    """A libvirt test-driver node of the given size; its test:/// URI."""
    path = os.path.join(directory, f"{name}.xml")
    with open(path, "w") as f:
        f.write(f"""<node>
  <cpu><mhz>2000</mhz><model>cimid-test</model><active>{cpus}</active>
    <nodes>1</nodes><sockets>1</sockets><cores>{cpus}</cores><threads>1</threads></cpu>
  <memory>{memory_kib}</memory>
</node>
""")
    return "test://" + path


NODES = tempfile.mkdtemp(prefix="cimitest-nodes-")
cimitest._tmpdirs.append(NODES)


def pool_daemon(key, placement="spread"):
    """A daemon whose --connect host is node a (4 CPUs, 4 GiB), no over-commit."""
    a = node_file(NODES, f"{key}-a", 4, 4 * GIB)
    d = shared(key, args=["--placement", placement, "--connect", a, "--memory-overcommit", "100",
                          "--cpu-overcommit", "100", "--host-check-interval", "1"])
    d.cache.setdefault("a", a)
    return d


def host_doc(uri, **extra):
    doc = {"resourceURI": CIMID_NS + "/Host", "uri": uri}
    doc.update(extra)
    return doc


def hosts(c):
    return coll_items(c.list(c.coll("hosts")))


def host_by_uri(c, uri):
    for h in hosts(c):
        if h["uri"] == uri:
            return h
    return None


def add_host(c, uri, **extra):
    r = c.post(c.coll("hosts"), host_doc(uri, **extra))
    eq(r.status, 201, f"add host {uri} ({r.body[:300]!r})")
    return c.read(r.header("Location"))


def config(cpu, memory, dedicated=None):
    cfg = {"cpu": cpu, "memory": memory, "disks": [{"capacity": 1024 * 1024, "format": "ext4"}]}
    if dedicated is not None:
        cfg["dedicated"] = dedicated
    return cfg


def new_machine(c, name, cfg=None, state=None):
    body = machine_create_doc(c, name, state, machineConfig=cfg) if cfg else None
    return create_machine(c, name, state, body=body)


def delete(c, doc):
    r = c.delete(doc["id"])
    check(r.status in (200, 202), f"delete {doc['id']} -> {r.status}")
    if r.status == 202:
        c.wait_job(r.header("CIMI-Job-URI"))


@test(formats=BOTH)
def default_host_listed(fmt):
    d = pool_daemon("hosts")
    c = Client(d, fmt=fmt)
    h = host_by_uri(c, d.cache["a"])
    check(h is not None, "the --connect host is in the hosts collection")
    eq(h["state"], "AVAILABLE", "host state")
    eq(h["cpu"], 4, "host CPUs (from libvirt's node info)")
    eq(h["memory"], 4 * GIB, "host memory (KiB)")
    eq(h["memoryOvercommit"], 100, "memoryOvercommit from --memory-overcommit")
    check(op(h, "delete") and op(h, "edit"), "admins may edit and delete a host")


@test
def hosts_are_for_admins_only():
    d = pool_daemon("hosts")
    admin = Client(d)
    alice = Client(d, "alice")
    isin("hosts", admin.cep(), "the admin's CloudEntryPoint lists hosts")
    notin("hosts", alice.cep(), "a tenant's CloudEntryPoint does not list hosts")
    hosts_url = admin.coll("hosts")
    assert_error(alice.get(hosts_url), 403)
    assert_error(alice.get(hosts(admin)[0]["id"]), 403)
    assert_error(alice.post(hosts_url, host_doc("test:///default")), 403)
    assert_error(alice.delete(hosts(admin)[0]["id"]), 403)


@test
def machine_books_its_host():
    d = pool_daemon("hosts")
    c = Client(d, "alice")
    admin = Client(d)
    before = host_by_uri(admin, d.cache["a"])
    m = new_machine(c, "booked", config(2, GIB))
    eq(m["host"]["href"], before["id"], "the Machine's host extension names its host")
    eq(m["host"]["state"], "AVAILABLE", "the machine's host state")
    after = host_by_uri(admin, d.cache["a"])
    eq(after["allocatedMemory"] - before["allocatedMemory"], GIB, "memory booked on the host")
    eq(after["allocatedCpu"] - before["allocatedCpu"], 2, "vCPUs booked on the host")
    eq(after["machineCount"] - before["machineCount"], 1, "machine count")
    delete(c, m)
    eq(host_by_uri(admin, d.cache["a"])["allocatedMemory"], before["allocatedMemory"],
       "memory given back after delete")


@test
def nothing_fits_is_409_and_changes_nothing():
    d = pool_daemon("hosts")
    c = Client(d, "alice")
    before = store_snapshot(c)
    body = machine_create_doc(c, "too-big", machineConfig=config(1, 64 * GIB))
    r = c.post(c.add_href("machines"), body)
    e = assert_error(r, 409, mention=["no host"])
    isin("memory", e["statusMessage"], "the message says what is missing")
    assert_unchanged(c, before)
    body = machine_create_doc(c, "too-many-cpus", machineConfig=config(8, GIB))
    assert_error(c.post(c.add_href("machines"), body), 409, mention=["vCPUs"])
    assert_unchanged(c, before)


@test
def memory_is_never_overcommitted():
    d = pool_daemon("hosts-full")
    c = Client(d, "alice")
    made = [new_machine(c, f"fill-{i}", config(1, GIB)) for i in range(4)]
    r = c.post(c.add_href("machines"), machine_create_doc(c, "fifth", machineConfig=config(1, GIB)))
    assert_error(r, 409)
    delete(c, made[0])
    made[0] = new_machine(c, "fits-again", config(1, GIB))
    for m in made:
        delete(c, m)


@test
def add_place_remove_host_while_running():
    d = pool_daemon("hosts-add")
    admin = Client(d)
    c = Client(d, "alice")
    b_uri = node_file(d.tmp, "node-b", 8, 8 * GIB)
    b = add_host(admin, b_uri)
    eq(b["state"], "AVAILABLE", "added host state")
    eq(b["memory"], 8 * GIB, "added host memory")
    assert_error(admin.post(admin.coll("hosts"), host_doc(b_uri)), 409, mention=["already"])
    # spread: the host with the most memory left
    m = new_machine(c, "on-b", config(1, GIB), "STARTED")
    eq(m["host"]["href"], b["id"], "spread places the machine on the emptier host")
    assert_error(admin.delete(b["id"]), 409, mention=["machine"])
    delete(c, m)
    r = admin.delete(b["id"])
    eq(r.status, 200, "an empty host is removed")
    eq(admin.get(b["id"]).status, 404, "the removed host is gone")
    check(host_by_uri(admin, b_uri) is None, "not listed any more")
    m = new_machine(c, "back-on-a", config(1, GIB))
    eq(m["host"]["href"], host_by_uri(admin, d.cache["a"])["id"], "placed on the remaining host")
    delete(c, m)


@test(formats=BOTH)
def machine_read_on_second_host(fmt):
    """A GET of one Machine parses only the host of its private document
    (machine_ops.read_priv_member): a machine on another host than the first
    still names that host, reads its state there and offers its operations;
    the Job that made it (read without its private document) is complete."""
    d = pool_daemon("hosts-read")
    admin = Client(d)
    c = Client(d, "alice", fmt=fmt)
    b = add_host(admin, node_file(d.tmp, f"node-read-{fmt}", 8, 8 * GIB))
    a = host_by_uri(admin, d.cache["a"])
    admin.put(a["id"], {"resourceURI": CIMID_NS + "/Host", "uri": a["uri"], "enabled": False})
    try:
        r = c.post(c.add_href("machines"), machine_create_doc(c, f"read-b-{fmt}", "STARTED",
                                                              machineConfig=config(1, GIB)))
        check_created(r, f"create ({r.body[:300]!r})")
        job = c.wait_job(r.header("CIMI-Job-URI"))
        m = c.wait_state(r.header("Location"), "STARTED")
        eq(m["host"]["href"], b["id"], "the machine names the host it runs on")
        eq(m["host"]["state"], "AVAILABLE", "that host's state")
        check(op(m, "stop") and op(m, "delete"), "the operations of a STARTED machine")
        job = c.read(r.header("CIMI-Job-URI"))
        eq(job["state"], "SUCCESS", "the Job read without its private document")
        eq(job["progress"], 100, "its progress")
        eq(job["targetResource"]["href"], c.coll("machines"), "its target")
        check(not op(job, "stop"), "a finished Job cannot be stopped")
        m, _ = do_action(c, m, "stop", "STOPPED")
        eq(m["host"]["href"], b["id"], "still on that host once stopped")
        check(op(m, "start") and not op(m, "stop"), "the operations of a STOPPED machine")
        delete(c, m)
    finally:
        admin.put(a["id"], {"resourceURI": CIMID_NS + "/Host", "uri": a["uri"], "enabled": True})
    eq(admin.delete(b["id"]).status, 200, "host removed")


@test
def pack_fills_one_host_first():
    d = pool_daemon("hosts-pack", placement="pack")
    admin = Client(d)
    c = Client(d, "alice")
    b = add_host(admin, node_file(d.tmp, "node-b", 8, 8 * GIB))
    a_id = host_by_uri(admin, d.cache["a"])["id"]
    m1 = new_machine(c, "pack-1", config(1, GIB))
    eq(m1["host"]["href"], a_id, "pack: the fuller host that still has room")
    m2 = new_machine(c, "pack-2", config(1, 3 * GIB + 512 * 1024))
    eq(m2["host"]["href"], b["id"], "pack: the other host once the first has no room")
    for m in (m1, m2):
        delete(c, m)
    eq(admin.delete(b["id"]).status, 200, "host removed")


@test
def disabled_host_gets_no_machines():
    d = pool_daemon("hosts-disable")
    admin = Client(d)
    c = Client(d, "alice")
    a = host_by_uri(admin, d.cache["a"])
    b = add_host(admin, node_file(d.tmp, "node-b", 8, 8 * GIB))
    r = admin.put(b["id"], {"resourceURI": CIMID_NS + "/Host", "uri": b["uri"], "enabled": False})
    eq(r.status, 200, f"disable a host ({r.body[:200]!r})")
    eq(admin.read(b["id"])["state"], "DISABLED", "a disabled host shows DISABLED")
    m = new_machine(c, "not-on-b", config(1, GIB))
    eq(m["host"]["href"], a["id"], "a disabled host is skipped")
    delete(c, m)
    eq(admin.delete(b["id"]).status, 200, "host removed")


@test
def bad_hosts_are_refused():
    d = pool_daemon("hosts")
    admin = Client(d)
    before = [h["id"] for h in hosts(admin)]
    e = assert_error(admin.post(admin.coll("hosts"),
                                host_doc("test:///no/such/node-file.xml")), 400)
    isin("cannot connect", e["statusMessage"], "libvirt's reason is given")
    assert_error(admin.post(admin.coll("hosts"), host_doc("not a uri")), 400, mention=["uri"])
    assert_error(admin.post(admin.coll("hosts"), host_doc("test:///default", accel="fast")), 400,
                 mention=["accel"])
    assert_error(admin.post(admin.coll("hosts"),
                            host_doc("test:///default", memoryOvercommit=0)), 400)
    eq([h["id"] for h in hosts(admin)], before, "no host was added")


@test
def dedicated_cpus_are_exclusive():
    d = pool_daemon("hosts-dedicated")
    admin = Client(d)
    c = Client(d, "alice")
    m1 = new_machine(c, "ded-1", config(2, GIB, dedicated=True))
    m2 = new_machine(c, "ded-2", config(2, GIB, dedicated=True))
    a = host_by_uri(admin, d.cache["a"])
    eq(a["dedicatedCpu"], 4, "all 4 physical CPUs are owned by dedicated machines")
    r = c.post(c.add_href("machines"),
               machine_create_doc(c, "ded-3", machineConfig=config(1, GIB, dedicated=True)))
    assert_error(r, 409, mention=["dedicated"])
    # With --cpu-overcommit 100 dedicated vCPUs use up the shared ones too.
    r = c.post(c.add_href("machines"), machine_create_doc(c, "shared", machineConfig=config(1, GIB)))
    assert_error(r, 409, mention=["vCPUs left"])
    delete(c, m1)
    eq(host_by_uri(admin, d.cache["a"])["dedicatedCpu"], 2, "CPUs given back on delete")
    m3 = new_machine(c, "ded-3", config(2, GIB, dedicated=True))
    for m in (m2, m3):
        delete(c, m)


# ---- a remote host that goes away and comes back

class PrivateLibvirtd:
    """libvirtd serving libvirt's test driver on a socket of our own.  With
    driver_modules=False it loads no hypervisor driver module (the test
    driver is built into libvirt), so it touches no state other libvirt
    daemons share and may run beside them."""

    def __init__(self, directory, driver_modules=True):
        self.driver_modules = driver_modules
        self.dir = os.path.join(directory, "libvirtd")
        os.makedirs(self.dir, exist_ok=True)
        self.conf = os.path.join(self.dir, "libvirtd.conf")
        with open(self.conf, "w") as f:
            f.write(f'unix_sock_dir = "{self.dir}"\nunix_sock_rw_perms = "0700"\n'
                    'auth_unix_rw = "none"\nauth_unix_ro = "none"\n')
        self.uri = f"test+unix:///default?socket={self.dir}/libvirt-sock"
        self.proc = None

    def start(self):
        sock = os.path.join(self.dir, "libvirt-sock")
        if os.path.exists(sock):
            os.unlink(sock)
        env = dict(os.environ)
        if not self.driver_modules:
            env["LIBVIRT_DRIVER_DIR"] = os.path.join(self.dir, "no-modules")
            os.makedirs(env["LIBVIRT_DRIVER_DIR"], exist_ok=True)
        log = open(os.path.join(self.dir, "log"), "ab")
        self.proc = subprocess.Popen(["libvirtd", "-f", self.conf, "-p",
                                      os.path.join(self.dir, "pid")],
                                     stdout=log, stderr=log, stdin=subprocess.DEVNULL, env=env)
        log.close()
        deadline = time.time() + 30
        while not os.path.exists(sock):
            if self.proc.poll() is not None or time.time() > deadline:
                raise AssertionError("private libvirtd did not start")
            time.sleep(0.1)

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()


def wait_for(what, fn, timeout=30):
    deadline = time.time() + timeout
    while True:
        v = fn()
        if v:
            return v
        if time.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.3)


def skip_without_private_libvirtd():
    if shutil.which("libvirtd") is None:
        raise SkipTest("libvirtd is not installed (package libvirt-daemon)")
    if os.geteuid() != 0:
        raise SkipTest("a private libvirtd needs root")
    running = [name for name in ("libvirtd", "virtqemud")
               if subprocess.run(["pgrep", "-x", name], capture_output=True).returncode == 0]
    if running:
        raise SkipTest(f"{running[0]} already runs on this machine: a second libvirt daemon "
                       "cannot start beside it")


@test
def unreachable_host_and_its_return():
    skip_without_private_libvirtd()
    d = pool_daemon("hosts-remote")
    admin = Client(d)
    c = Client(d, "alice")
    lvd = PrivateLibvirtd(d.tmp)
    lvd.start()
    try:
        r = admin.post(admin.coll("hosts"), host_doc(lvd.uri))
        eq(r.status, 201, f"add the remote host ({r.body[:300]!r})")
        remote = admin.read(r.header("Location"))
        a = host_by_uri(admin, d.cache["a"])
        admin.put(a["id"], {"resourceURI": CIMID_NS + "/Host", "uri": a["uri"], "enabled": False})
        m = new_machine(c, "remote-m", config(2, GIB), "STARTED")
        eq(m["host"]["href"], remote["id"], "the machine runs on the remote host")
        # libvirt's own view, through virsh on the same daemon, matches CIMI's
        uuid = m["id"].rsplit("/", 1)[1]
        listed = subprocess.run(["virsh", "-c", lvd.uri, "list", "--all"], capture_output=True,
                                text=True, timeout=30).stdout
        check(any(f"cimi-{uuid}" in l and "running" in l for l in listed.splitlines()),
              f"virsh lists the machine running: {listed}")
        xml = subprocess.run(["virsh", "-c", lvd.uri, "dumpxml", f"cimi-{uuid}"],
                             capture_output=True, text=True, timeout=30).stdout
        isin(f"<uuid>{uuid}</uuid>", xml, "the domain's UUID is the Machine's")
        isin(f"<memory unit='KiB'>{m['memory']}</memory>", xml, "memory as CIMI says")
        isin(f">{m['cpu']}</vcpu>", xml, "vCPUs as CIMI says")
        lvd.kill()
        gone = wait_for("the machine's host to show ERROR",
                        lambda: (lambda x: x if x["host"]["state"] == "ERROR" else None)(
                            c.read(m["id"])))
        eq(gone["state"], "ERROR", "the machine shows ERROR")
        isin("unreachable", gone["host"].get("stateMessage", ""), "with the reason")
        eq(admin.read(remote["id"])["state"], "ERROR", "the host shows ERROR")
        lvd.start()
        back = wait_for("the machine to be STARTED again",
                        lambda: (lambda x: x if x["state"] == "STARTED" else None)(c.read(m["id"])),
                        timeout=60)
        eq(back["host"]["state"], "AVAILABLE", "host available again")
        eq(admin.read(remote["id"])["state"], "AVAILABLE", "the host recovered")
        delete(c, back)
        eq(admin.delete(remote["id"]).status, 200, "remote host removed")
        admin.put(a["id"], {"resourceURI": CIMID_NS + "/Host", "uri": a["uri"], "enabled": True})
    finally:
        lvd.kill()


@test
def host_that_kept_its_machines():
    """cimid restarted against a host that still has its machines (a private
    libvirtd whose test:///default a keeper connection holds open, as a real
    host keeps its domains): every machine keeps its state and none is
    defined twice; a domain removed behind cimid's back while it was stopped
    is the only one re-created."""
    if shutil.which("libvirtd") is None or shutil.which("virsh") is None:
        raise SkipTest("libvirtd or virsh is not installed (libvirt-daemon, libvirt-clients)")
    if os.geteuid() != 0:
        raise SkipTest("a private libvirtd needs root")
    if os.path.exists("/run/libvirt/libvirt-sock"):
        raise SkipTest("a system libvirtd runs on this machine: no private one beside it")
    tmp = tempfile.mkdtemp(prefix="cimitest-kept-")
    cimitest._tmpdirs.append(tmp)
    lvd = PrivateLibvirtd(tmp, driver_modules=False)  # may run beside other private ones
    lvd.start()
    keeper_log = os.path.join(tmp, "keeper.log")
    with open(keeper_log, "wb") as out:
        keeper = subprocess.Popen(["virsh", "-q", "-c", lvd.uri], stdin=subprocess.PIPE,
                                  stdout=out, stderr=out)
    d = Daemon(args=["--connect", lvd.uri], name="kept")
    try:
        keeper.stdin.write(b"uri\n")
        keeper.stdin.flush()
        wait_for("the keeper connection", lambda: b"test+unix" in open(keeper_log, "rb").read())
        d.start()
        c = Client(d, "alice")
        a = create_machine(c, "kept-a", "STARTED")
        b = create_machine(c, "kept-b", "STOPPED")
        gone = create_machine(c, "kept-gone", "STARTED")
        eq(d.stop(), 0, "cimid stops")
        domain = "cimi-" + gone["id"].rsplit("/", 1)[1]
        for cmd in (["destroy", domain], ["undefine", domain]):
            r = subprocess.run(["virsh", "-c", lvd.uri] + cmd, capture_output=True, text=True,
                               timeout=30)
            eq(r.returncode, 0, f"virsh {cmd[0]} {domain}: {r.stderr}")
        d.start()
        wait_for("reconciliation", lambda: d.log_text().count("machines reconciled") == 2)
        log = d.log_text()
        isin("re-created 1 machines", log, "only the removed domain is defined again")
        notin("re-created 3 machines", log, "the machines the host kept are not defined again")
        c = Client(d, "alice")
        eq(c.read(a["id"])["state"], "STARTED", "the started machine is still STARTED")
        eq(c.read(b["id"])["state"], "STOPPED", "the stopped machine is still STOPPED")
        eq(c.read(gone["id"])["state"], "STARTED", "the removed machine is back, STARTED")
        listed = subprocess.run(["virsh", "-c", lvd.uri, "list", "--all", "--uuid"],
                                capture_output=True, text=True, timeout=30).stdout.split()
        for m in (a, b, gone):
            eq(listed.count(m["id"].rsplit("/", 1)[1]), 1, f"{m['name']} is defined once")
        for m in (a, b, gone):
            delete(c, c.read(m["id"]))
    finally:
        d.stop()
        keeper.stdin.close()
        try:
            keeper.wait(timeout=10)
        except subprocess.TimeoutExpired:
            keeper.kill()
            keeper.wait()
        lvd.kill()


@test
def changes_made_outside_cimid_show():
    """A machine changed behind cimid's back (virsh on the host's libvirtd)
    shows its new state: cimid keeps states in memory, fed by libvirt's
    events, and must hear of changes it did not make.  Single reads and a
    filtered collection both."""
    skip_without_private_libvirtd()
    d = pool_daemon("hosts-outside")
    admin = Client(d)
    c = Client(d, "alice")
    lvd = PrivateLibvirtd(d.tmp)
    lvd.start()
    a = host_by_uri(admin, d.cache["a"])
    remote = None
    try:
        remote = add_host(admin, lvd.uri)
        admin.put(a["id"], {"resourceURI": CIMID_NS + "/Host", "uri": a["uri"], "enabled": False})
        m = new_machine(c, "outside-m", config(1, GIB), "STARTED")
        eq(m["host"]["href"], remote["id"], "the machine runs on the remote host")
        uuid = m["id"].rsplit("/", 1)[1]
        steps = [("destroy", "STOPPED"), ("start", "STARTED"), ("suspend", "PAUSED"),
                 ("resume", "STARTED"), ("managedsave", "SUSPENDED"), ("start", "STARTED"),
                 ("destroy", "STOPPED")]
        for cmd, want in steps:
            r = subprocess.run(["virsh", "-c", lvd.uri, cmd, uuid], capture_output=True,
                               text=True, timeout=30)
            eq(r.returncode, 0, f"virsh {cmd} ({r.stderr.strip()})")
            wait_for(f"GET to show {want} after virsh {cmd}",
                     lambda: c.read(m["id"])["state"] == want, timeout=30)
            page = c.list("machines", query={"$filter": f"state='{want}'"})
            isin(m["id"], [i["id"] for i in coll_items(page)],
                 f"$filter=state='{want}' finds it after virsh {cmd}")
        # and cimid's own Jobs still agree with libvirt afterwards
        m = c.read(m["id"])
        r = c.post(op(m, "start"), {"resourceURI": NS + "/Action",
                                    "action": cimitest.ACTION + "start"})
        eq(r.status, 202, "start through cimid")
        c.wait_job(r.header("CIMI-Job-URI"))
        eq(c.read(m["id"])["state"], "STARTED", "STARTED right after the Job")
        delete(c, m)
    finally:
        admin.put(a["id"], {"resourceURI": CIMID_NS + "/Host", "uri": a["uri"], "enabled": True})
        if remote is not None:
            admin.delete(remote["id"])
        lvd.kill()
