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
