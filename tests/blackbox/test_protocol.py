"""Protocol: CloudEntryPoint, collections, headers, authentication, content
negotiation, error bodies, request validation, body limit, ETag/If-Match."""

import base64
import re

from cimitest import (BOTH, COLLECTIONS, NS, Client, assert_error, assert_unchanged, check,
                      coll_items, eq, ids, isin, is_datetime, notin, op, shared,
                      store_snapshot, test)

MAX_BODY = 65536


def daemon():
    return shared("protocol", args=["--max-body", str(MAX_BODY), "--job-retention", "7"])


def client(fmt="json", user="admin"):
    return Client(daemon(), user, fmt=fmt)


def config_doc(name, cpu=2, memory=2097152, **extra):
    d = {"resourceURI": NS + "/MachineConfiguration", "name": name}
    d.update({k: v for k, v in extra.items() if k in ("description", "properties")})
    d["cpu"] = cpu
    d["memory"] = memory
    d.update({k: v for k, v in extra.items() if k not in ("description", "properties")})
    return d


# ---------------------------------------------------------------- CEP and collections

@test(formats=BOTH)
def cep(fmt):
    c = client(fmt)
    r = c.get(c.d.cep_url)
    eq(r.status, 200, "GET CEP")
    eq(r.fmt, fmt, "CEP format")
    d = r.doc
    eq(d["resourceURI"], NS + "/CloudEntryPoint", "CEP type")
    if fmt == "xml":
        eq(r.xml.tag, "{%s}CloudEntryPoint" % NS, "XML root element")
    eq(d.get("id"), c.d.cep_url, "CEP id")
    check(isinstance(d.get("name"), str) and d["name"].strip(), "CEP has a non-empty name")
    base = d.get("baseURI")
    check(isinstance(base, str) and re.match(r"^https?://", base) and base.endswith("/"),
          f"baseURI absolute and ending in '/': {base!r}")
    for attr in COLLECTIONS:
        ref = d.get(attr)
        check(isinstance(ref, dict) and isinstance(ref.get("href"), str)
              and ref["href"].startswith("http://"), f"CEP has an absolute {attr} reference: {ref!r}")
    hrefs = [d[a]["href"] for a in COLLECTIONS]
    eq(len(set(hrefs)), len(hrefs), "one distinct reference per collection")
    for k in ("created", "updated"):
        if k in d:
            is_datetime(d[k], f"CEP {k}")


@test(formats=BOTH)
def collections_walk(fmt):
    """Every collection the CEP lists answers GET 200 with the right type,
    id = the CEP's href, count = number of items, items of the item type."""
    c = client(fmt)
    cep = c.cep()
    for attr, item_type in COLLECTIONS.items():
        href = cep[attr]["href"]
        r = c.get(href)
        eq(r.status, 200, f"GET {attr}")
        d = r.doc
        eq(d["resourceURI"], f"{NS}/{item_type}Collection", f"{attr} collection type")
        if fmt == "xml":
            eq(r.xml.tag, "{%s}Collection" % NS, f"{attr}: XML root is Collection")
        eq(d.get("id"), href, f"{attr} collection id")
        check(isinstance(d.get("count"), int), f"{attr} has an integer count: {d.get('count')!r}")
        items = coll_items(d)
        eq(d["count"], len(items), f"{attr} count vs items returned")
        for it in items:
            eq(it.get("resourceURI"), f"{NS}/{item_type}", f"{attr} item type")
            check(it.get("id"), f"{attr} item has an id")


@test(formats=BOTH)
def collection_items_match_resources(fmt):
    """An item in a collection is consistent with the resource at its id."""
    c = client(fmt)
    for attr in ("machineConfigs", "machineImages", "resourceMetadata"):
        items = coll_items(c.list(attr))
        check(items, f"{attr} is not empty")
        for it in items[:3]:
            d = c.read(it["id"])
            eq(d.get("id"), it["id"], f"{attr} item id")
            eq(d.get("name"), it.get("name"), f"{attr} item name")
            eq(d["resourceURI"], it["resourceURI"], f"{attr} item type")


@test(formats=BOTH)
def collection_add_operations(fmt):
    """Creatable collections advertise add; provider-only ones (jobs) do not."""
    c = client(fmt)
    for attr in ("machines", "machineTemplates", "machineConfigs", "machineImages", "credentials",
                 "credentialTemplates"):
        h = op(c.list(attr), "add")
        check(h and h.startswith("http://"), f"{attr} has an absolute add operation: {h!r}")
    eq(op(c.list("jobs"), "add"), None, "jobs collection offers no add")


# ---------------------------------------------------------------- headers

@test
def spec_version_header():
    c = client()
    for r in (c.get(c.d.cep_url), c.get(c.d.cep_url, auth=False),
              c.get(c.coll("machines") + "/no-such-machine-4711")):
        v = r.header("CIMI-Specification-Version")
        check(v and re.fullmatch(r"1\.\d+(\.\d+)?", v.strip()),
              f"{r.status} reply: CIMI-Specification-Version {v!r}")


# ---------------------------------------------------------------- authentication

def _check_401(r, fmt):
    assert_error(r, 401, fmt=fmt)
    eq(r.header("WWW-Authenticate"), 'Basic realm="cimid"', "WWW-Authenticate")


@test(formats=BOTH)
def auth_missing(fmt):
    c = client(fmt)
    _check_401(c.get(c.d.cep_url, auth=False), fmt)
    _check_401(c.get(c.d.cep_url + "?$format=" + fmt, auth=False, accept=None), fmt)
    before = store_snapshot(c)
    r = c.post(c.coll("machineConfigs"), config_doc("noauth"), auth=False)
    _check_401(r, fmt)
    assert_unchanged(c, before)


@test(formats=BOTH)
def auth_wrong_password(fmt):
    d = daemon()
    c = Client(d, "alice", password="not-alices-password", fmt=fmt)
    _check_401(c.get(d.cep_url), fmt)
    c = Client(d, "alice", password="", fmt=fmt)
    _check_401(c.get(d.cep_url), fmt)
    # the right password works
    eq(Client(d, "alice", fmt=fmt).get(d.cep_url).status, 200, "alice with her password")


@test
def auth_unknown_user_and_garbage():
    d = daemon()
    _check_401(Client(d, "mallory", password="x").get(d.cep_url), "json")
    c = client()
    for hdr in ("Basic !!!not-base64!!!", "Basic " + base64.b64encode(b"no-colon").decode(),
                "Bearer abcdef", "Basic"):
        r = c.get(d.cep_url, auth=False, headers={"Authorization": hdr})
        _check_401(r, "json")


# ---------------------------------------------------------------- content negotiation

@test
def negotiation_accept():
    c = client()
    url = c.d.cep_url
    cases = [(None, "json"), ("*/*", "json"), ("application/json", "json"),
             ("application/xml", "xml"), ("application/*", None),
             ("text/html, application/xml;q=0.5", "xml"),
             ("application/xml, application/json;q=0.1", "xml"),
             ("application/json;q=0.9, application/xml;q=0.1", "json")]
    for accept, want in cases:
        r = c.get(url, accept=accept)
        eq(r.status, 200, f"Accept {accept!r}")
        ct = r.header("Content-Type")
        if want:
            eq(r.fmt, want, f"format chosen for Accept {accept!r}")
        eq(ct.split(";")[0].strip(), r.ctype, "Content-Type")
        check(r.ctype in ("application/json", "application/xml"),
              f"Content-Type is exactly one of the two types: {ct!r}")


@test
def negotiation_format_param():
    c = client()
    url = c.d.cep_url
    for accept, q, want in [("application/json", "xml", "xml"), ("application/xml", "json", "json"),
                            ("application/json", "XML", "xml"), (None, "xml", "xml"),
                            ("text/html", "json", "json"), ("application/xml", "Json", "json")]:
        r = c.get(url + "?$format=" + q, accept=accept)
        eq(r.status, 200, f"$format={q} with Accept {accept!r}")
        eq(r.fmt, want, f"$format={q} overrides Accept {accept!r}")
    r = c.get(url + "?$format=json&$format=xml", accept=None)
    eq(r.fmt, "json", "first $format wins")
    r = c.get(url + "?$format=xml&$format=json", accept=None)
    eq(r.fmt, "xml", "first $format wins")
    # also on a collection and on an error
    r = c.get(c.coll("machines") + "?$format=xml", accept="application/json")
    eq(r.fmt, "xml", "$format on a collection")
    r = c.get(c.coll("machines") + "/no-such-machine-4711?$format=xml", accept="application/json")
    assert_error(r, 404, fmt="xml")


@test
def negotiation_406():
    c = client()
    for accept in ("text/html", "text/plain, image/png", "application/pdf"):
        r = c.get(c.d.cep_url, accept=accept)
        assert_error(r, 406)
        eq(r.fmt, "json", "406 body in the default format")


@test(formats=BOTH)
def content_type_415(fmt):
    c = client(fmt)
    before = store_snapshot(c)
    add = c.add_href("machineConfigs")
    for ct in ("text/plain", "application/x-www-form-urlencoded", "text/xml; charset=utf-8"):
        r = c.post(add, config_doc("ct-415"), content_type=ct)
        assert_error(r, 415, fmt=fmt)
    assert_unchanged(c, before)


@test(formats=BOTH)
def content_type_charset_accepted(fmt):
    c = client(fmt)
    add = c.add_href("machineConfigs")
    r = c.post(add, config_doc(f"charset-{fmt}"), content_type=f"application/{fmt}; charset=utf-8")
    eq(r.status, 201, "Content-Type with a charset parameter is accepted")
    loc = r.header("Location")
    eq(c.read(loc).get("name"), f"charset-{fmt}", "created with the charset body")
    eq(c.delete(op(c.read(loc), "delete")).status, 200, "clean-up delete")


# ---------------------------------------------------------------- request validation

@test(formats=BOTH)
def malformed_body(fmt):
    c = client(fmt)
    add = c.add_href("machineConfigs")
    madd = c.add_href("machines")
    before = store_snapshot(c)
    if fmt == "json":
        bad = ['{"name": "broken", "cpu": 1, ', '{"name": "x",}', "[1, 2, 3]", "", "null",
               '{"resourceURI": "' + NS + '/MachineConfiguration", "cpu": 1 "memory": 2}']
    else:
        bad = ['<MachineConfiguration xmlns="%s"><name>broken</MachineConfiguration>' % NS,
               '<MachineConfiguration xmlns="%s"><cpu>1</cpu>' % NS, "not xml at all", "",
               '<?xml version="1.0"?><MachineConfiguration xmlns="%s"><cpu>1</cpu></Machine'
               'Configuration><extra/>' % NS]
    for body in bad:
        for url in (add, madd):
            r = c.post(url, body)
            assert_error(r, 400, fmt=fmt)
    assert_unchanged(c, before)


@test(formats=BOTH)
def unknown_attribute(fmt):
    c = client(fmt)
    add = c.add_href("machineConfigs")
    before = store_snapshot(c)
    r = c.post(add, config_doc("unknown-attr", flavour="vanilla"), validate_request=False)
    assert_error(r, 400, mention="flavour", fmt=fmt)
    # unknown attribute nested in a by-value template
    body = {"resourceURI": NS + "/MachineCreate", "name": "unknown-nested",
            "machineTemplate": {"machineConfig": {"href": c.default_config()["id"]},
                                "machineImage": {"href": c.default_image()["id"]},
                                "colour": "red"}}
    r = c.post(c.add_href("machines"), body, validate_request=False)
    assert_error(r, 400, mention="colour", fmt=fmt)
    assert_unchanged(c, before)


@test(formats=BOTH)
def wrong_type(fmt):
    c = client(fmt)
    add = c.add_href("machineConfigs")
    before = store_snapshot(c)
    r = c.post(add, config_doc("wrong-type", cpu="lots"), validate_request=False)
    assert_error(r, 400, mention="cpu", fmt=fmt)
    r = c.post(add, config_doc("wrong-type", memory="1.5GB"), validate_request=False)
    assert_error(r, 400, mention="memory", fmt=fmt)
    if fmt == "json":
        for bad, mention in (({"cpu": True}, "cpu"), ({"cpu": [1]}, "cpu"), ({"name": 7}, "name"),
                             ({"properties": ["a"]}, ("properties", "property")),
                             ({"properties": {"k": 1}}, ("properties", "property", "k")),
                             ({"memory": {"href": "x"}}, "memory")):
            d = config_doc("wrong-type")
            d.update(bad)
            r = c.post(add, d)
            assert_error(r, 400, mention=mention, fmt=fmt)
    else:
        r = c.post(add, config_doc("wrong-type", disks=[{"capacity": "big", "format": "ext4"}]),
                   validate_request=False)
        assert_error(r, 400, mention=("capacity", "disk"), fmt=fmt)
    assert_unchanged(c, before)


@test(formats=BOTH)
def missing_required(fmt):
    c = client(fmt)
    before = store_snapshot(c)
    r = c.post(c.add_href("machines"), {"resourceURI": NS + "/MachineCreate", "name": "no-template"},
               validate_request=False)
    assert_error(r, 400, mention="machineTemplate", fmt=fmt)
    d = config_doc("no-memory")
    del d["memory"]
    r = c.post(c.add_href("machineConfigs"), d)
    assert_error(r, 400, mention="memory", fmt=fmt)
    assert_unchanged(c, before)


@test(formats=BOTH)
def wrong_root_type(fmt):
    """A MachineConfiguration posted where a MachineCreate is expected is rejected."""
    c = client(fmt)
    before = store_snapshot(c)
    r = c.post(c.add_href("machines"), config_doc("wrong-root"))
    check(r.status == 400, f"wrong document type -> 400, got {r.status}")
    assert_error(r, 400, fmt=fmt)
    assert_unchanged(c, before)


@test(formats=BOTH)
def max_body(fmt):
    c = client(fmt)
    add = c.add_href("machineConfigs")
    before = store_snapshot(c)
    big = config_doc("too-big", description="x" * (MAX_BODY + 5000))
    r = c.post(add, big)
    assert_error(r, 400, fmt=fmt)
    assert_unchanged(c, before)
    # the daemon still serves normal requests after that
    r = c.post(add, config_doc(f"after-big-{fmt}", description="y" * 1000))
    eq(r.status, 201, "a small body is still accepted")
    eq(c.delete(r.header("Location")).status, 200, "clean-up delete")


@test(formats=BOTH)
def not_found(fmt):
    c = client(fmt)
    for attr in ("machines", "machineConfigs", "machineImages", "machineTemplates", "credentials",
                 "credentialTemplates", "jobs"):
        url = c.coll(attr) + "/no-such-id-4711"
        assert_error(c.get(url), 404, fmt=fmt)
    before = store_snapshot(c)
    url = c.coll("machineConfigs") + "/no-such-id-4711"
    assert_error(c.delete(url), 404, fmt=fmt)
    assert_error(c.put(url, config_doc("ghost")), 404, fmt=fmt)
    assert_error(c.get(c.cep()["baseURI"] + "noSuchCollection"), 404, fmt=fmt)
    assert_unchanged(c, before)


@test
def method_not_allowed():
    c = client()
    before = store_snapshot(c)
    assert_error(c.delete(c.d.cep_url), 405)
    assert_error(c.post(c.coll("jobs"), {"resourceURI": NS + "/Job", "name": "x"}), 405)
    assert_unchanged(c, before)


# ---------------------------------------------------------------- ETag / If-Match

@test(formats=BOTH)
def etag_if_match(fmt):
    c = client(fmt)
    r = c.post(c.add_href("machineConfigs"), config_doc(f"etag-{fmt}", description="one"))
    eq(r.status, 201, "create config")
    url = r.header("Location")
    r = c.get(url)
    etag = r.header("ETag")
    check(etag, "GET of a resource returns an ETag")
    doc = r.doc
    edit = op(doc, "edit")
    check(edit, "config has an edit operation")
    before = store_snapshot(c)
    upd = config_doc(f"etag-{fmt}-changed", description="two")
    r = c.put(edit, upd, headers={"If-Match": '"definitely-not-the-etag"'})
    assert_error(r, 412, fmt=fmt)
    assert_unchanged(c, before)
    eq(c.read(url).get("name"), f"etag-{fmt}", "name unchanged after 412")
    r = c.put(edit, upd, headers={"If-Match": etag})
    check(r.status in (200, 202), f"PUT with the right If-Match -> 200, got {r.status}")
    if r.status == 202:
        c.wait_job(r.header("CIMI-Job-URI"))
    r2 = c.get(url)
    eq(r2.doc.get("name"), f"etag-{fmt}-changed", "name changed by the PUT")
    eq(r2.doc.get("description"), "two", "description changed by the PUT")
    check(r2.header("ETag") and r2.header("ETag") != etag, "ETag changes with the resource")
    # the old ETag no longer matches
    r = c.put(edit, config_doc("stale"), headers={"If-Match": etag})
    assert_error(r, 412, fmt=fmt)
    eq(c.read(url).get("name"), f"etag-{fmt}-changed", "name unchanged after stale If-Match")
    # If-Match: * matches any current version
    r = c.put(edit, config_doc(f"etag-{fmt}-star"), headers={"If-Match": "*"})
    check(r.status in (200, 202), f"PUT with If-Match: * -> 200, got {r.status}")
    eq(c.read(url).get("name"), f"etag-{fmt}-star", "name changed with If-Match: *")
    # DELETE honours If-Match too
    before = store_snapshot(c)
    r = c.delete(url, headers={"If-Match": etag})
    assert_error(r, 412, fmt=fmt)
    assert_unchanged(c, before)
    r = c.delete(url, headers={"If-Match": c.get(url).header("ETag")})
    eq(r.status, 200, "DELETE with the current ETag")
    assert_error(c.get(url), 404, fmt=fmt)


# ---------------------------------------------------------------- jobs in error bodies

@test(formats=BOTH)
def error_body_structure(fmt):
    """Error bodies validate (XML) and carry the Job attributes; statusMessage
    names the offending value."""
    c = client(fmt)
    r = c.post(c.add_href("machineConfigs"), config_doc("e", cpu="seven"), validate_request=False)
    d = assert_error(r, 400, mention=("cpu", "seven"), fmt=fmt)
    if fmt == "xml":
        eq(r.xml.tag, "{%s}Job" % NS, "XML error root element")
    if "timeOfStatusChange" in d:
        is_datetime(d["timeOfStatusChange"], "error Job timeOfStatusChange")


@test
def spec_version_request_header():
    """cimi.md 2.3: the consumer may send acceptable versions; none honoured -> 400."""
    c = client()
    for v in ("1.0.1", "1.0", "1", "2.0, 1.0.1", "1.1"):
        r = c.get(c.d.cep_url, headers={"CIMI-Specification-Version": v})
        eq(r.status, 200, f"CIMI-Specification-Version {v!r} accepted")
    for v in ("2.0", "9.9.9"):
        r = c.get(c.d.cep_url, headers={"CIMI-Specification-Version": v})
        assert_error(r, 400, mention="CIMI-Specification-Version")


@test
def public_url_published_and_checked():
    """--public-url is the base of every href; a value that could not be published as it is
    (not http/https, spaces, quotes) stops cimid with exit status 2 naming the setting."""
    import subprocess
    from cimitest import Daemon
    d = Daemon(name="public-url", args=["--public-url", "https://cloud.example:8443/cimi"])
    d.start()
    try:
        doc = Client(d, "admin").get(d.cep_url).doc
        eq(doc["id"], "https://cloud.example:8443/cimi/cloudEntryPoint", "the CEP id uses the URL")
        check(doc["machines"]["href"].startswith("https://cloud.example:8443/cimi/"),
              "collection hrefs start with the public URL")
    finally:
        d.stop()
    d = Daemon(name="public-url-bad")
    for bad in ("ftp://cloud.example/cimi", "http://cloud example/cimi", 'http://a"b/cimi',
                "http://a/<cimi>"):
        d.port = 1
        r = subprocess.run(d.command() + ["--public-url", bad], capture_output=True,
                           text=True, timeout=30)
        eq(r.returncode, 2, f"--public-url {bad!r} exits 2")
        isin("public-url", r.stderr, "the error names the setting")


# ---------------------------------------------------------------- the request log

@test
def request_log_line():
    """One line per request: UTC timestamp with milliseconds, level, method, path,
    status and duration in tenths of a millisecond."""
    c = client()
    eq(c.get(c.d.cep_url).status, 200, "GET CEP")
    line_re = (r"^(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)\.(\d{3})Z info http: GET "
               r"/cimi/cloudEntryPoint [1-5]\d\d (\d+)\.(\d)ms$")
    lines = [ln for ln in c.d.log_text().splitlines() if "http: GET /cimi/cloudEntryPoint " in ln]
    check(len(lines) > 0, "the request is logged")
    for ln in lines:
        m = re.match(line_re, ln)
        check(m is not None, "log line format: %r" % ln)
        month, day, hour, minute, second = (int(m.group(i)) for i in range(2, 7))
        check(1 <= month <= 12 and 1 <= day <= 31 and hour < 24 and minute < 60 and second < 61,
              "a real date and time: %r" % ln)
