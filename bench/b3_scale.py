"""B3 - scale: cimid with 100,000 Machines in its store (test:///default).

How the store is filled: 100 Machines (every other one STARTED) are created
through the API by 8 parallel clients; cimid is stopped; their rows (the
Machine and its Disk) are then copied with fresh UUIDs and names into the
store's SQLite table (not through the API), in one transaction, until it holds
N Machines (100,000; 1,000 with --quick).  The copies are exactly what cimid
itself wrote, with other ids.  On the next start cimid re-creates all of them
in test:///default (its machines live only in memory) and starts the STARTED
ones: that reconciliation is part of the start-up measured here.

Measured twice in the same run, with 100 Machines (the baseline) and with N:
  * start-up: exec of `cimid serve` until the first HTTP answer (3 starts; 1 with --quick),
    and until reconciliation is over (cimid answers reads before that; changes and Jobs
    wait for it): the log line "machines reconciled";
  * resident memory: VmRSS after start-up and the peak VmHWM at the end;
  * a single GET of one Machine;
  * a filtered page: GET machines?$filter=state='STARTED'&$first=1&$last=50;
  * an ordered page: GET machines?$orderby=name:desc&$first=1&$last=50;
  * one create: POST /machines and its Job (initialState STOPPED).
Plus the libvirt floor of the reconciliation: direct_libvirt --define-only
defines N domains and starts every other one on its own connection (its time,
and its peak resident memory: test:///default keeps its domains in the
process that opened it, cimid's memory includes them too).

Then the same against hypervisors outside cimid's process, as in a real
deployment (qemu:///system, remote hosts), when a private libvirtd can run
(root, and no libvirtd or virtqemud already running; otherwise that part is
skipped and the table says why): private libvirtds (cimibench.PrivateLibvirtd)
serve libvirt's test driver on their own unix sockets, each with a keeper
connection that holds test:///default open so that it keeps its domains across
cimid's restarts.  libvirt's remote protocol lists at most 16,384 domains per
call, so the N machines are spread over one host per 12,500 machines (8 hosts
for 100,000): cimid connects to the first (--connect
'test+unix:///default?socket=...') and the others are added as Hosts.  The
100 machines are created through the API (the scheduler spreads them), their
rows copied up to N; the first start then defines the N domains (measured on
its own: "first start"), and the measured starts find them: start-up until
the first answer and until reconciliation is over, cimid's own resident
memory and the libvirtds' (summed), and the other figures.
"""

import math
import os
import shutil
import sqlite3
import subprocess
import tempfile
import time
import uuid

from cimibench import (ADMIN, ADMIN_PASSWORD, CIMID_NS, DIRECT, BenchError, Cimid, Client,
                       PrivateLibvirtd, create_machine, log, parallel,
                       private_libvirtd_unavailable, stats)

PAGE_SIZE = 50
PAGE = f"machines?$filter=state%3D'STARTED'&$first=1&$last={PAGE_SIZE}"
ORDERED = f"machines?$orderby=name:desc&$first=1&$last={PAGE_SIZE}"
SEED = 100
# Every machine books its memory and vCPU on its host, and libvirt's simulated host has 3 GiB
# and 16 CPUs: B3's cimid over-commits both 100,000-fold (--memory-overcommit and
# --cpu-overcommit 10000000 percent: 300 TiB, 1.6 million vCPUs) and its machines take
# 128 MiB (m1-small with its memory overridden).
OVERCOMMIT = 10000000
MEMORY_KIB = 131072
# libvirt's remote protocol lists at most 16,384 domains in one call
# (REMOTE_DOMAIN_LIST_MAX): out of process, one host per 12,500 machines.
HOST_MACHINES = 12500


def seed(d, count):
    clients = [d.client() for _ in range(8)]

    def make(i, n):
        create_machine(clients[i], d.base, f"b3-{n:05d}",
                       initial_state="STARTED" if n % 2 == 0 else "STOPPED", max_poll=0.02,
                       memory_kib=MEMORY_KIB)
    errors = parallel(8, range(count), make)
    for c in clients:
        c.close()
    if errors:
        raise BenchError(f"B3 seeding: {errors[0]}")


def clone_to(database, total):
    """Copy the Machine rows (and their Disks) with new UUIDs until there are total."""
    db = sqlite3.connect(database, isolation_level=None)
    try:
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=FULL")
        machines = db.execute("SELECT id, type, tenant, parent, version, doc, priv FROM resources "
                              "WHERE type = 'Machine' ORDER BY seq").fetchall()
        children = {}
        for row in db.execute("SELECT id, type, tenant, parent, version, doc, priv FROM resources "
                              "WHERE parent LIKE 'machines/%' ORDER BY seq"):
            children.setdefault(row[3], []).append(row)
        have = len(machines)
        batch = []
        n = have
        while n < total:
            src = machines[n % have]
            old = src[0].split("/", 1)[1]
            new = str(uuid.uuid4())
            sub = lambda s: s.replace(old, new)  # noqa: E731
            doc = sub(src[5]).replace(f'"name":"b3-', f'"name":"b3c{n:05d}-', 1)
            batch.append((sub(src[0]), src[1], src[2], src[3], src[4], doc, sub(src[6])))
            for ch in children.get(src[0], []):
                batch.append((sub(ch[0]), ch[1], ch[2], sub(ch[3]), ch[4], sub(ch[5]), sub(ch[6])))
            n += 1
        db.execute("BEGIN IMMEDIATE")
        db.executemany("INSERT INTO resources (id, type, tenant, parent, version, doc, priv) "
                       "VALUES (?, ?, ?, ?, ?, ?, ?)", batch)
        db.execute("COMMIT")
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        count = db.execute("SELECT count(*) FROM resources WHERE type='Machine'").fetchone()[0]
    finally:
        db.close()
    return count


def timed_get(c, url, repeats, what):
    """Seconds of each of repeats GETs of url, and the last answer's document."""
    samples = []
    for _ in range(repeats):
        t = time.perf_counter()
        r = c.get(url)
        samples.append(time.perf_counter() - t)
        if r.status != 200:
            raise BenchError(f"B3 {what}: {r.status} {r.body[:200]!r}")
    return samples, r.json()


def memory_of(daemons):
    """Summed (VmRSS, VmHWM) of the private libvirtds (0, 0 when none)."""
    pairs = [lv.memory() for lv in daemons]
    return sum(p[0] for p in pairs), sum(p[1] for p in pairs)


def measure(d, repeats, starts, label, daemons=()):
    """Start d `starts` times, then read and create `repeats` times; returns
    the figures (with daemons: the libvirtds' memory too)."""
    db = sqlite3.connect(d.database)
    total = db.execute("SELECT count(*) FROM resources WHERE type = 'Machine'").fetchone()[0]
    db.close()
    startups, reconciled = [], []
    for i in range(starts):
        d.start()
        startups.append(d.startup_s)
        reconciled.append(d.wait_reconciled())
        if i < starts - 1:
            d.stop()
    rss_start, _ = d.memory()
    c = d.client()
    c.get(d.base + "cloudEntryPoint")  # the first authenticated request hashes the password
    pages, page = timed_get(c, d.base + PAGE, repeats, "filtered page")
    items, matching = page.get("machines", []), page.get("count")
    if len(items) != PAGE_SIZE or any(m.get("state") != "STARTED" for m in items):
        raise BenchError(f"B3 filtered page: {len(items)} machines, not {PAGE_SIZE} STARTED ones")
    ordered, page = timed_get(c, d.base + ORDERED, repeats, "ordered page")
    names = [m.get("name", "") for m in page.get("machines", [])]
    if len(names) != PAGE_SIZE or names != sorted(names, reverse=True):
        raise BenchError(f"B3 ordered page: {len(names)} machines, or not in order")
    gets, _ = timed_get(c, items[0]["id"], repeats * 10, "GET")
    creates = []
    for i in range(repeats):
        t = time.perf_counter()
        create_machine(c, d.base, f"b3-new-{label}-{i:03d}", initial_state="STOPPED",
                       memory_kib=MEMORY_KIB)
        creates.append(time.perf_counter() - t)
    c.close()
    _, peak = d.memory()
    lv_rss, lv_peak = memory_of(daemons)
    d.stop()
    return {"machines": total, "startup": stats(startups), "reconciled": stats(reconciled),
            "rss": rss_start, "peak": peak, "lv_rss": lv_rss, "lv_peak": lv_peak,
            "get": stats(gets),
            "page": stats(pages), "page_items": len(items), "page_count": matching,
            "ordered": stats(ordered), "create": stats(creates)}


def run(cfg):
    """Both parts, or the one cfg["b3_part"] names ("in" or "out" of cimid's process)."""
    part = cfg.get("b3_part", "both")
    result = run_in_process(cfg) if part in ("both", "in") else {}
    if part in ("both", "out"):
        result["remote"] = run_remote_safely(cfg)
    return result


def run_in_process(cfg):
    n = cfg["b3_count"]
    repeats = cfg["b3_repeats"]
    d = Cimid("b3", overcommit=OVERCOMMIT)
    try:
        d.start()
        log(f"B3: creating {SEED} machines through the API")
        seed(d, SEED)
        d.stop()
        log(f"B3: measuring with {SEED} machines")
        small = measure(d, repeats, cfg["b3_starts"], "small")
        log(f"B3: copying rows in the store up to {n} machines")
        t = time.perf_counter()
        count = clone_to(d.database, n)
        clone_s = time.perf_counter() - t
        log(f"B3: measuring with {count} machines")
        large = measure(d, repeats, cfg["b3_starts"], "large")
    finally:
        d.stop()
        shutil.rmtree(d.tmp, ignore_errors=True)
    log(f"B3: libvirt floor: defining {n} domains directly")
    floor, floor_rss = define_floor(n)
    return {"small": small, "large": large, "count": n, "clone_s": clone_s,
            "define_floor": floor, "define_floor_rss": floor_rss}


def run_remote_safely(cfg):
    """run_remote; a failure there does not hide the in-process figures."""
    try:
        return run_remote(cfg)
    except Exception as e:  # reported in the table
        log(f"B3: out-of-process part could not run: {e}")
        return {"error": str(e)}


def add_hosts(d, daemons):
    """Add every libvirtd but the first (cimid's --connect host) as a Host."""
    admin = Client(d.port, ADMIN, ADMIN_PASSWORD)
    for lv in daemons[1:]:
        r = admin.post(d.base + "hosts", {"resourceURI": CIMID_NS + "/Host", "uri": lv.uri,
                                          "memoryOvercommit": OVERCOMMIT,
                                          "cpuOvercommit": OVERCOMMIT})
        if r.status != 201:
            raise BenchError(f"B3 add host {lv.uri}: {r.status} {r.body[:300]!r}")
    admin.close()


def run_remote(cfg):
    """B3 against private libvirtds outside cimid's process (see the top)."""
    why = private_libvirtd_unavailable()
    if why:
        log(f"B3: out-of-process part skipped: {why}")
        return {"skipped": why}
    n = cfg["b3_count"]
    repeats = cfg["b3_repeats"]
    tmp = tempfile.mkdtemp(prefix="cimid-bench-b3-remote-")
    daemons = [PrivateLibvirtd(os.path.join(tmp, f"libvirtd-{i}"))
               for i in range(max(1, math.ceil(n / HOST_MACHINES)))]
    os.makedirs(os.path.join(tmp, "cimid"))
    d = Cimid("b3-remote", connect=daemons[0].uri, overcommit=OVERCOMMIT,
              tmp=os.path.join(tmp, "cimid"))
    try:
        log(f"B3 out of process: {len(daemons)} private libvirtd(s) in {tmp}")
        for lv in daemons:
            lv.start()
        d.add_user()
        d.add_user(ADMIN, ADMIN_PASSWORD, admin=True)
        d.start()
        add_hosts(d, daemons)
        log(f"B3 out of process: creating {SEED} machines through the API")
        seed(d, SEED)
        d.stop()
        log(f"B3 out of process: measuring with {SEED} machines")
        small = measure(d, repeats, cfg["b3_starts"], "small", daemons)
        log(f"B3 out of process: copying rows in the store up to {n} machines")
        count = clone_to(d.database, n)
        log(f"B3 out of process: first start, defining {count} machines in the libvirtds")
        d.start()
        first = {"startup": d.startup_s, "reconciled": d.wait_reconciled()}
        first["rss"], first["peak"] = d.memory()
        first["lv_rss"], first["lv_peak"] = memory_of(daemons)
        d.stop()
        log(f"B3 out of process: measuring with {count} machines")
        large = measure(d, repeats, cfg["b3_starts"], "large", daemons)
    finally:
        d.stop()
        for lv in daemons:
            lv.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    return {"small": small, "large": large, "first": first, "hosts": len(daemons)}


def define_floor(n):
    """direct_libvirt --define-only on test:///default (an in-process driver, like cimid's):
    seconds to define n domains and start every other one, and the program's peak resident
    memory in bytes (what libvirt itself keeps for n domains)."""
    with tempfile.TemporaryFile(mode="w+") as errors:
        p = subprocess.Popen([DIRECT, "--uri", "test:///default", "--count", str(n),
                              "--define-only"], stdout=subprocess.PIPE, stderr=errors, text=True)
        out = p.stdout.read()
        _, status, usage = os.wait4(p.pid, 0)  # not p.wait(): wait4 also gives its peak RSS
        p.returncode = os.waitstatus_to_exitcode(status)
        p.stdout.close()
        if p.returncode != 0:
            errors.seek(0)
            raise BenchError(f"direct_libvirt --define-only: {errors.read().strip()[-300:]}")
    return float(out.split()[1]) / 1e6, usage.ru_maxrss * 1024
