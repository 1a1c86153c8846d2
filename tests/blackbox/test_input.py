"""Input the model cannot hold (issue 11, items 8 and 9).

Numbers: every writable integer attribute of every creatable or editable
type, given out of its documented range (README "Numbers"), as a JSON real
or string, or in XML as "1e3", "0x10", 20 digits..., is refused with 400
naming the attribute, on create and on PUT; nothing is created, booked
(the hosts' allocated memory and CPUs) or changed.

Encoding: a path or query that is not valid UTF-8 after percent-decoding,
that holds %00 or a malformed escape, is answered 400 with a CIMI error
document (JSON and XML) and changes nothing (a DELETE whose path %00 would
cut short deletes nothing).  $select, $expand and $orderby lists of any
length are taken whole: a name is never cut to a shorter real attribute
("nameOfSomethingElse" never becomes "name", and a PUT with that $select
erases nothing)."""

import random

from cimitest import (BOTH, CIMID_NS, NS, Client, assert_error, check, coll_items, eq, notin,
                      shared, store_snapshot, test)

# README "Numbers": name -> (min, max)
RANGES = {
    "cpu": (1, 256),
    "memory": (1024, 2 ** 32),
    "capacity": (1, 2 ** 34),
    "cpuSpeed": (1, 1000000),
    "mtu": (576, 9000),
    "memoryOvercommit": (10, 10000000),
    "cpuOvercommit": (10, 10000000),
}

GIB = 1048576  # KB


def client(fmt="json"):
    return Client(shared("input"), "admin", fmt=fmt)


def snapshot(c):
    """The store (store_snapshot) and the hosts' books."""
    snap = store_snapshot(c)
    snap["hosts"] = sorted((h.get("id"), h.get("allocatedMemory"), h.get("allocatedCpu"),
                            h.get("machineCount"))
                           for h in coll_items(c.list("hosts", fmt="json")))
    return snap


def assert_same(c, before, what):
    after = snapshot(c)
    for k in before:
        eq(after[k], before[k], f"{what}: {k} changed")


def refused_numbers(name, rng, fmt):
    """Generated values outside the range of attribute `name` (rng: random.Random)."""
    lo, hi = RANGES[name]
    values = [lo - 1, hi + 1, -1, -2 ** 63, 2 ** 63 - 1,
              rng.randint(hi + 1, 2 ** 62), rng.randint(-2 ** 62, lo - 1)]
    if fmt == "json":
        values += [float(lo), float(hi) + 0.5, str(lo), 2 ** 64 - 1, 10 ** 30]
    else:
        values += ["1e3", "0x10", f"{lo}.0", f"{lo}abc", "9" * 20, "-" + "9" * 20,
                   str(2 ** 63), "- 5"]
    return [v for v in values if isinstance(v, (float, str)) or not lo <= v <= hi]


# -------------------------------------------------------------- bodies

def config_doc(**over):
    doc = {"resourceURI": NS + "/MachineConfiguration", "name": "rng-config", "cpu": 1,
           "memory": 1048576, "disks": [{"capacity": GIB, "format": "ext4"}], "cpuSpeed": 1000}
    doc.update(over)
    return doc


def set_path(doc, path, value):
    """doc with the member at path ("a.b", "disks.0.capacity") set to value."""
    keys = path.split(".")
    node = doc
    for k in keys[:-1]:
        node = node[int(k)] if k.isdigit() else node[k]
    node[keys[-1]] = value
    return doc


def create_cases(c):
    """(collection, body maker, path of an integer attribute) for every
    creatable type that holds integer attributes, directly or by value."""
    image = {"href": c.default_image()["id"]}
    net = {"href": c.coll("networks") + "/no-such-network"}

    def config():
        d = config_doc()
        del d["resourceURI"]
        return d

    def machine():
        return {"resourceURI": NS + "/MachineCreate", "name": "rng-machine",
                "machineTemplate": {"machineConfig": config(), "machineImage": image,
                                    "networkInterfaces": [{"network": net, "mtu": 1500}]}}

    def template():
        return {"resourceURI": NS + "/MachineTemplate", "name": "rng-template",
                "machineConfig": config(), "machineImage": image}

    cases = []
    for attr in ("cpu", "memory", "cpuSpeed", "disks.0.capacity"):
        cases.append(("machineConfigs", config_doc, attr))
        cases.append(("machines", machine, "machineTemplate.machineConfig." + attr))
        cases.append(("machineTemplates", template, "machineConfig." + attr))
    cases.append(("machines", machine, "machineTemplate.networkInterfaces.0.mtu"))

    def machine_with_volume():
        doc = machine()
        del doc["machineTemplate"]["networkInterfaces"]
        doc["machineTemplate"]["volumeTemplates"] = [{"volumeConfig": {"capacity": GIB}}]
        return doc

    cases.append(("machines", machine_with_volume,
                  "machineTemplate.volumeTemplates.0.volumeConfig.capacity"))
    cases += [
        ("volumeConfigs", lambda: {"resourceURI": NS + "/VolumeConfiguration", "name": "rng-vc",
                                   "format": "qcow2", "capacity": GIB}, "capacity"),
        ("volumes", lambda: {"resourceURI": NS + "/VolumeCreate", "name": "rng-volume",
                             "volumeTemplate": {"volumeConfig": {"capacity": GIB}}},
         "volumeTemplate.volumeConfig.capacity"),
        ("volumeTemplates", lambda: {"resourceURI": NS + "/VolumeTemplate", "name": "rng-vt",
                                     "volumeConfig": {"capacity": GIB}}, "volumeConfig.capacity"),
        ("networkConfigs", lambda: {"resourceURI": NS + "/NetworkConfiguration", "name": "rng-nc",
                                    "networkType": "PRIVATE", "mtu": 1500}, "mtu"),
        ("networks", lambda: {"resourceURI": NS + "/NetworkCreate", "name": "rng-net",
                              "networkTemplate": {"networkConfig": {"networkType": "PRIVATE",
                                                                    "mtu": 1500}}},
         "networkTemplate.networkConfig.mtu"),
        ("networkTemplates", lambda: {"resourceURI": NS + "/NetworkTemplate", "name": "rng-nt",
                                      "networkConfig": {"networkType": "PRIVATE", "mtu": 1500}},
         "networkConfig.mtu"),
    ]
    for attr in ("memoryOvercommit", "cpuOvercommit"):
        cases.append(("hosts", lambda: {"resourceURI": CIMID_NS + "/Host",
                                        "uri": "test:///default"}, attr))
    return cases


def post_value(c, fmt, coll, make, path, value):
    body = set_path(make(), path, value)
    return c.post(c.coll(coll), body, fmt=fmt, validate_request=False)


@test(formats=BOTH)
def numbers_out_of_range_refused_on_create(fmt):
    c = client(fmt)
    rng = random.Random(f"create-{fmt}")
    before = snapshot(c)
    tried = 0
    for coll, make, path in create_cases(c):
        name = path.rsplit(".", 1)[-1]
        for value in refused_numbers(name, rng, fmt):
            r = post_value(c, fmt, coll, make, path, value)
            assert_error(r, 400, mention=name, fmt=fmt)
            tried += 1
        assert_same(c, before, f"POST {coll} with {path} out of range")
    check(tried > 200, f"{tried} out-of-range creates tried")


@test(formats=BOTH)
def numbers_in_range_accepted(fmt):
    """The ends of each range are accepted (the refusals above are not of
    everything): a MachineConfiguration and a VolumeConfiguration at their
    minimum and maximum."""
    c = client(fmt)
    for over in ({"cpu": 1, "memory": 1024, "cpuSpeed": 1, "disks": [{"capacity": 1, "format": "ext4"}]},
                 {"cpu": 256, "memory": 2 ** 32, "cpuSpeed": 1000000,
                  "disks": [{"capacity": 2 ** 34, "format": "ext4"}]}):
        r = c.post(c.coll("machineConfigs"), config_doc(name=f"rng-ends-{fmt}", **over), fmt=fmt)
        eq(r.status, 201, f"config at the ends of the ranges ({r.body[:300]!r})")
        got = c.read(r.header("Location"), fmt="json")
        eq((got["cpu"], got["memory"], got["cpuSpeed"], got["disks"][0]["capacity"]),
           (over["cpu"], over["memory"], over["cpuSpeed"], over["disks"][0]["capacity"]),
           "values kept exactly")
        eq(c.delete(r.header("Location")).status, 200, "delete the config")


def editable(c):
    """(url, full body, integer attribute) of one resource of every editable
    type with integer attributes (created here, once)."""
    d = c.d
    if "editable" not in d.cache:
        adm = Client(d, "admin", fmt="json")
        made = []
        r = adm.post(adm.coll("machineConfigs"), config_doc(name="rng-edit-config"))
        eq(r.status, 201, "config to edit")
        made.append(r.header("Location"))
        r = adm.post(adm.coll("volumeConfigs"), {"resourceURI": NS + "/VolumeConfiguration",
                                                "name": "rng-edit-vc", "format": "qcow2",
                                                "capacity": GIB})
        eq(r.status, 201, "volume config to edit")
        made.append(r.header("Location"))
        r = adm.post(adm.coll("networkConfigs"), {"resourceURI": NS + "/NetworkConfiguration",
                                                 "name": "rng-edit-nc", "networkType": "PRIVATE",
                                                 "mtu": 1500})
        eq(r.status, 201, "network config to edit")
        made.append(r.header("Location"))
        r = adm.post(adm.coll("volumes"), {"resourceURI": NS + "/VolumeCreate", "name": "rng-edit-v",
                                          "volumeTemplate": {"volumeConfig": {"capacity": GIB}}})
        check(r.status in (201, 202), f"volume to edit ({r.status})")
        adm.wait_job(r.header("CIMI-Job-URI"))
        made.append(r.header("Location"))
        made.append(coll_items(adm.list("hosts"))[0]["id"])
        d.cache["editable"] = made
    cfg, vc, nc, vol, host = d.cache["editable"]
    cases = [(cfg, config_doc(name="rng-edit-config"), a) for a in ("cpu", "memory", "cpuSpeed",
                                                                    "disks.0.capacity")]
    cases.append((vc, {"resourceURI": NS + "/VolumeConfiguration", "name": "rng-edit-vc",
                       "format": "qcow2", "capacity": GIB}, "capacity"))
    cases.append((nc, {"resourceURI": NS + "/NetworkConfiguration", "name": "rng-edit-nc",
                       "networkType": "PRIVATE", "mtu": 1500}, "mtu"))
    cases.append((vol, {"resourceURI": NS + "/Volume", "name": "rng-edit-v", "capacity": GIB},
                  "capacity"))
    for attr in ("memoryOvercommit", "cpuOvercommit"):
        cases.append((host, {"resourceURI": CIMID_NS + "/Host", "uri": "test:///default",
                             attr: 100}, attr))
    return cases


@test(formats=BOTH)
def numbers_out_of_range_refused_on_update(fmt):
    c = client(fmt)
    rng = random.Random(f"update-{fmt}")
    cases = editable(c)
    before = snapshot(c)
    docs = {url: c.read(url, fmt="json") for url, _, _ in cases}
    tried = 0
    for url, body, path in cases:
        name = path.rsplit(".", 1)[-1]
        top = path.split(".")[0]
        for value in refused_numbers(name, rng, fmt):
            doc = set_path(dict(body, disks=[dict(body["disks"][0])]) if "disks" in body
                           else dict(body), path, value)
            r = c.put(url, doc, fmt=fmt, validate_request=False)
            assert_error(r, 400, mention=name, fmt=fmt)
            r = c.put(url, {"resourceURI": body["resourceURI"], top: doc[top]}, fmt=fmt,
                      query={"$select": top}, validate_request=False)
            assert_error(r, 400, mention=name, fmt=fmt)
            tried += 2
        eq(c.read(url, fmt="json"), docs[url], f"{url} unchanged after PUTs of {path}")
    assert_same(c, before, "PUTs out of range")
    check(tried > 100, f"{tried} out-of-range updates tried")


# -------------------------------------------------------------- encoding

# Every class of invalid UTF-8, percent-escaped (raw bytes are in the
# unit test: http.client sends only ASCII), NUL, and malformed escapes.
INVALID_UTF8 = {
    "lone continuation": ["%80", "%bf", "%80%80"],
    "overlong": ["%c0%af", "%c1%bf", "%e0%80%af", "%e0%9f%bf", "%f0%80%80%af", "%f0%8f%bf%bf"],
    "surrogate": ["%ed%a0%80", "%ed%af%bf", "%ed%b0%80", "%ed%bf%bf"],
    "above U+10FFFF": ["%f4%90%80%80", "%f7%bf%bf%bf"],
    "never valid": ["%f5", "%f8%88%80%80%80", "%fc", "%fe", "%ff", "%c0", "%c1"],
    "truncated": ["%c3", "%e2%82", "%f0%9f%98", "%e2%82a", "%f0%9f%98%2f"],
}
NUL = ["%00", "a%00", "%00b"]
MALFORMED = ["%g1", "%1g", "%f", "%", "%%41", "%+1", "%zz"]


def bad_sequences(rng):
    """Each bad sequence, alone and between random valid text."""
    seqs = [s for group in INVALID_UTF8.values() for s in group] + NUL + MALFORMED
    out = []
    for s in seqs:
        out.append(s)
        left = "".join(rng.choice("abcXYZ09-_") for _ in range(rng.randint(0, 6)))
        right = "".join(rng.choice("abcXYZ09-_") for _ in range(rng.randint(0, 6)))
        out.append(left + s + right)
    return out


def raw_get(c, url, fmt):
    """GET exactly url (no re-encoding of its query)."""
    return c.request("GET", url, fmt=fmt)


@test(formats=BOTH)
def bad_path_encoding_refused(fmt):
    c = client(fmt)
    rng = random.Random(f"path-{fmt}")
    cfg = c.post(c.coll("machineConfigs"), config_doc(name=f"rng-path-{fmt}"), fmt="json")
    eq(cfg.status, 201, "a config to aim at")
    item = cfg.header("Location")
    before = snapshot(c)
    base = c.coll("machineConfigs")
    tried = 0
    for s in bad_sequences(rng):
        for url in (base + s, base + "/" + s, item + s, c.d.url + "/cimi/" + s + "machines"):
            assert_error(raw_get(c, url, fmt), 400, mention="path", fmt=fmt)
            tried += 1
        # %00 (or any bad escape) must not cut the path to an existing item
        assert_error(c.request("DELETE", item + s, fmt=fmt), 400, mention="path", fmt=fmt)
        assert_error(c.request("PUT", item + s, config_doc(name="renamed"), fmt=fmt), 400,
                     mention="path", fmt=fmt)
        tried += 2
    assert_same(c, before, "requests with bad paths")
    eq(c.read(item, fmt="json")["name"], f"rng-path-{fmt}", "item untouched")
    check(tried > 200, f"{tried} bad paths tried")


@test(formats=BOTH)
def bad_query_encoding_refused(fmt):
    c = client(fmt)
    rng = random.Random(f"query-{fmt}")
    base = c.coll("machineConfigs")
    cfg = c.post(base, config_doc(name=f"rng-query-{fmt}"), fmt="json")
    eq(cfg.status, 201, "a config to aim at")
    item = cfg.header("Location")
    before = snapshot(c)
    tried = 0
    for s in bad_sequences(rng):
        for key, value in (("$filter", f"name='{s}'"), ("$filter", f"name='x'+or+name='{s}'"),
                           ("$select", "name," + s), ("$orderby", s), ("$expand", s),
                           ("$first", s), ("%24sel" + s + "ect", "name")):
            assert_error(raw_get(c, f"{base}?{key}={value}", fmt), 400,
                         mention=("$" + key[1:] if key.startswith("$") else "query"), fmt=fmt)
            tried += 1
        r = c.request("PUT", f"{item}?$select=name,{s}", {"resourceURI": NS + "/MachineConfiguration"},
                      fmt=fmt)
        assert_error(r, 400, mention="$select", fmt=fmt)
        tried += 1
    assert_same(c, before, "requests with bad queries")
    eq(c.read(item, fmt="json")["name"], f"rng-query-{fmt}", "item untouched by the PUTs")
    check(tried > 400, f"{tried} bad queries tried")


# Names that share a prefix with real attributes of a MachineConfiguration
# or a MachineTemplate (cut short, each would name that attribute).
LOOKALIKES = ["nameOfSomethingElse", "namex", "descriptionText", "cpuSpeedy", "memoryX",
              "disksAndMore", "propertiesX", "idx", "createdAt", "machineConfigOther",
              "machineImageOther", "operationsX"]


def lookalike_list(rng, length, last):
    """A comma list of about `length` characters of look-alike names, ending
    with `last`."""
    names = []
    while sum(len(n) + 1 for n in names) < length:
        names.append(rng.choice(LOOKALIKES) + "".join(rng.choice("xyz") for _ in range(rng.randint(0, 3))))
    names.append(last)
    return ",".join(names)


def boundary_lists(rng):
    """Lists placing `nameOfSomethingElse` across every old buffer boundary
    (512, 1024 bytes) and random lengths up to 10000 characters."""
    out = []
    for end in (511, 1023):
        for shift in range(0, 19, 3):
            start = end - len("name") - shift
            pad = "x" * (start - 1)
            out.append(pad + ",nameOfSomethingElse")
    for _ in range(12):
        out.append(lookalike_list(rng, rng.randint(1, 10000), "nameOfSomethingElse"))
    return out


@test(formats=BOTH)
def long_query_lists_never_cut(fmt):
    c = client(fmt)
    rng = random.Random(f"lists-{fmt}")
    cfg = c.post(c.coll("machineConfigs"), config_doc(name=f"rng-lists-{fmt}",
                                                      description="keep me"), fmt="json")
    eq(cfg.status, 201, "a config to read and update")
    item = cfg.header("Location")
    tmpl = coll_items(c.list("machineTemplates", fmt="json"))[0]["id"]
    before = snapshot(c)
    stored = c.read(item, fmt="json")
    for lst in boundary_lists(rng):
        # $select: unknown names are ignored (DSP0263 4.1.6.3), never cut to a real one
        r = c.get(item, query={"$select": lst})
        eq(r.status, 200, f"GET with a $select of {len(lst)} characters")
        for attr in ("name", "description", "cpu", "memory", "disks", "cpuSpeed", "id"):
            notin(attr, r.doc, f"$select of {len(lst)} characters selects {attr}")
        r = c.get(c.coll("machineConfigs"), query={"$select": lst})
        eq(r.status, 200, "collection with a long $select")
        for i in coll_items(r.doc):
            notin("name", i, "an item's name selected by a long $select")
        # the same list in PUT: nothing listed is a real attribute, nothing changes
        r = c.put(item, {"resourceURI": NS + "/MachineConfiguration"}, query={"$select": lst},
                  validate_request=False)
        eq(r.status, 200, f"PUT with a $select of {len(lst)} characters ({r.body[:200]!r})")
        # $expand: a look-alike never expands machineConfig
        r = c.get(tmpl, query={"$expand": lst.replace("nameOfSomethingElse", "machineConfigOther")},
                  fmt="json")
        eq(r.status, 200, "GET with a long $expand")
        eq(set(r.doc["machineConfig"]), {"href"}, "machineConfig not expanded by a look-alike")
        # $orderby: an unknown name is a 400, never cut to a real one
        r = c.get(c.coll("machineConfigs"), query={"$orderby": lst})
        assert_error(r, 400, mention="$orderby", fmt=fmt)
    after = c.read(item, fmt="json")
    for attr in ("name", "description", "cpu", "memory", "disks", "cpuSpeed"):
        eq(after.get(attr), stored.get(attr), f"{attr} after PUTs with long $select lists")
    # (a PUT that changes nothing still moves `updated`: compare the rest)
    now = snapshot(c)
    for k in before:
        if k == "hosts":
            eq(now[k], before[k], "hosts after long query lists")
        else:
            eq([row[:3] + row[4:] for row in now[k]], [row[:3] + row[4:] for row in before[k]],
               f"{k} after long query lists")
