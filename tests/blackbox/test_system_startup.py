"""A System's start order (docs/SYSTEMS.md "Start order"; the OVF
StartupSection as cimid keeps it).

A SystemTemplate's componentDescriptor may say startOrder, startDelay and
stopDelay (cimid extensions, advertised in ResourceMetadata, read back in
JSON and XML).  start reaches the machines of a System made from it group
by group in ascending startOrder (equal orders together), with a nested
Job that waits a group's startDelay before the next group; stop goes in
descending order with stopDelay.  Values out of range are a 400."""

import calendar
import time

from cimitest import (NS, Client, assert_error, check, coll_items, eq, isin, notin, shared,
                      test)
from test_system_ops import act, href_of, new_system

DELAY = 2


def stamp(job):
    """A Job's timeOfStatusChange in seconds since the epoch."""
    return calendar.timegm(time.strptime(job["timeOfStatusChange"], "%Y-%m-%dT%H:%M:%SZ"))


def ordered_template(c, name):
    t = NS + "/"

    def machine(n, **startup):
        return dict({"name": n, "type": t + "Machine",
                     "machineTemplate": {"machineConfig": {"href": c.default_config()["id"]},
                                         "machineImage": {"href": c.default_image()["id"]}}},
                    **startup)
    return {"resourceURI": NS + "/SystemTemplate", "name": name, "componentDescriptors": [
        machine("web", startOrder=2, stopDelay=DELAY),
        machine("db", startOrder=1, startDelay=DELAY),
        machine("cache", startOrder=1)]}


def steps_by_name(c, job):
    """The nested Jobs of job: {machine name or "wait": finished Job}."""
    out = {}
    for n in job.get("nestedJobs") or []:
        step = c.wait_job(n["href"], expect=None)
        target = href_of(step, "targetResource")
        out["wait" if "/systems/" in target else c.read(target)["name"]] = step
    return out


@test
def start_and_stop_follow_start_order():
    """web (startOrder 2, stopDelay 2), db (1, startDelay 2), cache (1): the
    template reads back its orders (JSON; in XML, where the 1.x schema has
    no place for them, the template is valid without them); start starts
    db and cache, waits 2 s (a nested Job of the System's saying so), then
    starts web; stop stops web, waits 2 s, then db and cache; a capture of
    the System keeps the order in its template."""
    d = shared("system-startup")
    c = Client(d, "alice")
    fmt = "json"
    r = c.post(c.add_href("systemTemplates"), ordered_template(c, f"ordered-{fmt}"))
    isin(r.status, (201, 202), f"SystemTemplate with start order ({r.body[:300]!r})")
    tpl = c.read(r.header("Location"))
    got = {dsc["name"]: (dsc.get("startOrder"), dsc.get("startDelay"), dsc.get("stopDelay"))
           for dsc in tpl.get("componentDescriptors") or []}
    eq(got, {"web": (2, None, DELAY), "db": (1, DELAY, None), "cache": (1, None, None)},
       "startOrder, startDelay, stopDelay read back")
    as_xml = Client(d, "alice", fmt="xml").read(tpl["id"])  # the harness validates it
    notin("startOrder", as_xml["componentDescriptors"][0], "not in XML")
    s = new_system(c, f"ordered-{fmt}", template={"href": tpl["id"]})
    eq(s.get("state"), "STOPPED", "made STOPPED")

    steps = steps_by_name(c, act(c, s, "start"))
    eq(sorted(steps), ["cache", "db", "wait", "web"], "a nested Job per machine and the wait")
    isin(f"waited {DELAY} s", steps["wait"].get("statusMessage", ""), "the wait says so")
    for first in ("db", "cache"):
        check(stamp(steps["web"]) >= stamp(steps[first]) + DELAY,
              f"web started {DELAY} s after {first} at least "
              f"({steps['web']['timeOfStatusChange']} vs {steps[first]['timeOfStatusChange']})")
    eq(c.read(s["id"]).get("state"), "STARTED", "every machine started")

    steps = steps_by_name(c, act(c, c.read(s["id"]), "stop", force=True))
    eq(sorted(steps), ["cache", "db", "wait", "web"], "stop: a nested Job per machine and the wait")
    for last in ("db", "cache"):
        check(stamp(steps[last]) >= stamp(steps["web"]) + DELAY,
              f"{last} stopped {DELAY} s after web at least "
              f"({steps[last]['timeOfStatusChange']} vs {steps['web']['timeOfStatusChange']})")
    eq(c.read(s["id"]).get("state"), "STOPPED", "every machine stopped")

    job = act(c, c.read(s["id"]), "capture")
    captured = c.read([a["href"] for a in job.get("affectedResources") or []
                       if "systemTemplates/" in a.get("href", "")][0])
    got = {dsc["name"]: (dsc.get("startOrder"), dsc.get("startDelay"), dsc.get("stopDelay"))
           for dsc in captured.get("componentDescriptors") or []}
    eq(got, {"web": (2, None, DELAY), "db": (1, DELAY, None), "cache": (1, None, None)},
       "capture keeps the start order")


@test
def start_order_out_of_range_refused():
    """startOrder below 0, startDelay or stopDelay over 60 s: 400 naming
    the attribute, no template made; ResourceMetadata describes the three
    extension attributes of SystemTemplate."""
    d = shared("system-startup")
    c = Client(d, "alice")
    before = len(c.read(c.add_href("systemTemplates")).get("systemTemplates") or [])
    for attr, value in (("startOrder", -1), ("startDelay", 61), ("stopDelay", 3600)):
        body = ordered_template(c, "bad")
        body["componentDescriptors"][0][attr] = value
        assert_error(c.post(c.add_href("systemTemplates"), body), 400, [attr])
    eq(len(c.read(c.add_href("systemTemplates")).get("systemTemplates") or []), before,
       "no template made")
    names = [a.get("name") for e in coll_items(c.list("resourceMetadata"))
             if e.get("name") == "SystemTemplate" for a in e.get("attributes") or []]
    for attr in ("startOrder", "startDelay", "stopDelay"):
        isin(attr, names, "ResourceMetadata describes it")
