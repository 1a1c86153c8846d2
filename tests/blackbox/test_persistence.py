"""Persistence and crash safety: a clean restart keeps every resource with the
same ids and states; SIGTERM/SIGINT exit 0; kill -9 during 50 concurrent
machine creations loses or duplicates nothing and every Job ends."""

import http.client
import json
import signal
import threading
import time
import urllib.parse

from cimitest import (NS, TIMEOUT, TRANSIENT_STATES, Client, Daemon, check, coll_items,
                      create_machine, do_action, eq, ids, isin, machine_create_doc, test)


def snapshot(c, urls):
    out = {}
    for u in urls:
        d = c.read(u)
        out[u] = {k: d.get(k) for k in ("id", "name", "description", "state", "cpu", "memory",
                                         "properties", "created", "userName", "initialState")}
    return out


@test
def restart_keeps_everything():
    with Daemon(name="persist") as d:
        a = Client(d, "alice")
        adm = Client(d, "admin")
        m1 = create_machine(a, "p-started", "STARTED", properties={"keep": "this"}, description="one")
        m2 = create_machine(a, "p-stopped")
        m3 = create_machine(a, "p-paused", "STARTED")
        m3, _ = do_action(a, m3, "pause", "PAUSED")
        m4 = create_machine(a, "p-suspended", "STARTED")
        m4, _ = do_action(a, m4, "suspend", "SUSPENDED")
        r = adm.post(adm.add_href("machineConfigs"), {"resourceURI": NS + "/MachineConfiguration",
                                                      "name": "p-config", "cpu": 3, "memory": 3072})
        eq(r.status, 201, "create config")
        cfg = r.header("Location")
        r = a.post(a.add_href("credentials"), {"resourceURI": NS + "/CredentialCreate", "name": "p-cred",
                                               "credentialTemplate": {"userName": "p", "password": "q"}})
        eq(r.status, 201, "create credential")
        cred = r.header("Location")
        r = a.post(a.add_href("machineTemplates"), {"resourceURI": NS + "/MachineTemplate", "name": "p-tpl",
                                                    "initialState": "STARTED",
                                                    "machineConfig": {"href": cfg},
                                                    "machineImage": {"href": a.default_image()["id"]}})
        eq(r.status, 201, "create template")
        tpl = r.header("Location")
        machines = [m1["id"], m2["id"], m3["id"], m4["id"]]
        before = snapshot(a, machines + [cred, tpl])
        before_cfg = snapshot(adm, [cfg])
        before_ids = {attr: sorted(ids(a.list(attr))) for attr in
                      ("machines", "credentials", "machineTemplates", "machineConfigs", "machineImages")}
        before_jobs = sorted(ids(a.list("jobs")))
        check(before_jobs, "alice has jobs")

        for how, sig in (("SIGTERM", signal.SIGTERM), ("SIGINT", signal.SIGINT)):
            rc = d.stop(sig)
            eq(rc, 0, f"exit status after {how}")
            d.start()
            a = Client(d, "alice")
            adm = Client(d, "admin")
            eq(snapshot(a, machines + [cred, tpl]), before, f"resources after a restart ({how})")
            eq(snapshot(adm, [cfg]), before_cfg, f"config after a restart ({how})")
            for attr, want in before_ids.items():
                eq(sorted(ids(a.list(attr))), want, f"{attr} listing after a restart ({how})")
            got_jobs = ids(a.list("jobs"))
            for j in before_jobs:
                isin(j, got_jobs, f"Job kept after a restart ({how})")

        # the machines still work: the hypervisor side was restored
        a = Client(d, "alice")
        m1 = a.read(m1["id"])
        m1, _ = do_action(a, m1, "stop", "STOPPED", force=True)
        m2 = a.read(m2["id"])
        m2, _ = do_action(a, m2, "start", "STARTED")
        m3 = a.read(m3["id"])
        m3, _ = do_action(a, m3, "start", "STARTED")
        m4 = a.read(m4["id"])
        m4, _ = do_action(a, m4, "start", "STARTED")
        # and new machines get new ids
        m5 = create_machine(a, "p-after", body={"resourceURI": NS + "/MachineCreate", "name": "p-after",
                                                "machineTemplate": {"href": tpl}}, initial_state="STARTED")
        check(m5["id"] not in machines, "a new machine gets a new id")
        eq(m5.get("cpu"), 3, "machine from the persisted template and config")
        rc = d.stop()
        eq(rc, 0, "exit status after SIGTERM")


def _raw_post(port, path, auth, body, out, i, done):
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        conn.request("POST", path, body=body, headers={"Authorization": auth,
                                                        "Content-Type": "application/json",
                                                        "Accept": "application/json"})
        r = conn.getresponse()
        data = r.read()
        out[i] = ("reply", r.status, r.getheader("Location"), r.getheader("CIMI-Job-URI"), data)
        conn.close()
    except Exception as e:  # connection reset by the kill
        out[i] = ("error", repr(e))
    finally:
        done.release()


def _crash_round(d, rnd, n, kill_after, wanted):
    """Fire n concurrent creations, kill -9 after kill_after replies, restart,
    and check the store.  wanted: name -> requested state (accumulates)."""
    a = Client(d, "alice")
    add = a.add_href("machines")
    u = urllib.parse.urlsplit(add)
    path = u.path + ("?" + u.query if u.query else "")
    bodies = []
    for i in range(n):
        state = "STARTED" if i % 2 else "STOPPED"
        name = f"crash-{rnd}-{i:02d}"
        wanted[name] = state
        bodies.append(json.dumps(machine_create_doc(a, name, state)).encode())
    out = [None] * n
    done = threading.Semaphore(0)
    threads = [threading.Thread(target=_raw_post, args=(d.port, path, a.auth_header(), bodies[i],
                                                        out, i, done), daemon=True)
               for i in range(n)]
    for t in threads:
        t.start()
    got = 0
    deadline = time.time() + 20
    while got < kill_after and time.time() < deadline:
        if done.acquire(timeout=0.5):
            got += 1
    d.kill9()
    for t in threads:
        t.join(30)
    replies = [o for o in out if o and o[0] == "reply"]
    created = [(o[2], o[3]) for o in replies if o[1] in (201, 202)]
    check(len(replies) >= min(kill_after, 1), f"round {rnd}: creations answered before the kill")
    for o in replies:
        check(o[1] in (201, 202, 500, 503), f"create reply status {o[1]}: {o[4][:200]!r}")
    for loc, job in created:
        check(loc and job, "201 and 202 replies carry Location and CIMI-Job-URI")

    d.start()
    adm = Client(d, "admin")
    a = Client(d, "alice")
    # every Job ends SUCCESS or FAILED (with a reason)
    deadline = time.time() + TIMEOUT
    while True:
        jobs = coll_items(adm.list("jobs"))
        pending = [j for j in jobs if j.get("state") not in ("SUCCESS", "FAILED")]
        if not pending or time.time() > deadline:
            break
        time.sleep(0.05)
    eq([(j.get("id"), j.get("state")) for j in pending], [],
       f"round {rnd}: Jobs still unfinished after the restart")
    for j in jobs:
        if j.get("state") == "FAILED":
            check(j.get("statusMessage"), f"FAILED Job {j.get('id')} has a statusMessage")
    # every 201 or 202 Location exists, its Job is finished
    for loc, job in created:
        eq(a.get(loc).status, 200, f"machine {loc} created (201/202) before the kill exists")
        jd = a.wait_job(job, expect=None)
        isin(jd.get("state"), ("SUCCESS", "FAILED"), f"Job {job}")
    # no machine lost or duplicated
    doc = adm.list("machines")
    ms = coll_items(doc)
    mids = [m.get("id") for m in ms]
    eq(len(set(mids)), len(mids), "machine ids are distinct")
    eq(doc.get("count"), len(set(mids)), "machine count = distinct ids")
    mnames = [m.get("name") for m in ms]
    eq(len(set(mnames)), len(mnames), "no creation was applied twice (names distinct)")
    for nm in mnames:
        isin(nm, wanted, "machine name is one that was asked for")
    machines_href = adm.coll("machines") + "/"
    for j in jobs:
        if j.get("state") == "SUCCESS":
            for ar in j.get("affectedResources") or []:
                if ar.get("href", "").startswith(machines_href):
                    eq(adm.get(ar["href"]).status, 200, f"machine of a SUCCESS Job {ar['href']} exists")
    # machines reach a stable state; a successful creation reached its initialState
    for m in ms:
        st = adm.wait_stable(m["id"])
        check(st.get("state") not in TRANSIENT_STATES, f"{m['id']} stable")
    for loc, job in created:
        jd = a.read(job)
        m = a.read(loc)
        if jd.get("state") == "SUCCESS":
            eq(m.get("state"), wanted[m["name"]], f"state of {m['name']} after its Job succeeded")
    return len(replies), len(created)


@test
def crash_during_concurrent_creates():
    """50 concurrent creations, kill -9 mid-way (after 1, 12 and 30 replies,
    three rounds on the same database), restart, check after each."""
    wanted = {}
    with Daemon(name="crash", args=["--workers", "4"]) as d:
        for rnd, kill_after in enumerate((1, 12, 30)):
            _crash_round(d, rnd, 50, kill_after, wanted)
        a = Client(d, "alice")
        m = create_machine(a, "after-crash", "STARTED")
        eq(m.get("state"), "STARTED", "creation after the crashes")
        isin(m["id"], ids(a.list("machines")), "new machine listed")
