"""Packages (issue 12): cimid's extension resource where OVA files live.

Uploads (POST of the bytes to `packages`, with Content-Length and chunked)
are streamed to a file beside the database and answer 201 with the Package
(AVAILABLE, size, sha256); downloads of `packages/{uuid}/content` are whole
or by one Range (206, 416), HEAD included; other tenants see nothing; the
limits (--max-upload, --package-quota), empty and interrupted uploads leave
no file and no row; DELETE removes the file; a restart keeps the Packages.
Downloads are read with http.client directly (the Client's checks expect
CIMI documents)."""

import base64
import hashlib
import os
import socket
import time

from cimitest import (CIMID_NS, NS, Client, Daemon, assert_error, check, eq, isin, notin,
                      shared, test)

OVA = "application/x-tar"


def daemon():
    return shared("packages")


def auth(d, user):
    pw = d.users[user][0]
    return "Basic " + base64.b64encode(f"{user}:{pw}".encode()).decode()


def payload(n, seed=b"cimid"):
    """n bytes that differ from one seed to the next."""
    out = bytearray()
    block = hashlib.sha256(seed).digest()
    while len(out) < n:
        block = hashlib.sha256(block).digest()
        out += block * 64
    return bytes(out[:n])


def raw(d, method, path, body=None, headers=None, user="alice", chunked=False):
    """One request on a fresh connection: (status, headers, body bytes)."""
    conn = d.connection(timeout=60)
    hdrs = {"Authorization": auth(d, user), "Accept": "application/json"}
    hdrs.update(headers or {})
    try:
        if chunked:
            pieces = [body[i:i + 7000] for i in range(0, len(body), 7000)]
            conn.request(method, path, body=iter(pieces), headers=hdrs, encode_chunked=True)
        else:
            conn.request(method, path, body=body, headers=hdrs)
    except (BrokenPipeError, ConnectionResetError):
        pass  # answered before the whole body was read
    r = conn.getresponse()
    data = r.read()
    conn.close()
    return r.status, r.headers, data


def upload(d, data, user="alice", chunked=False, name=None, ctype=OVA):
    path = "/cimi/packages" + (f"?name={name}" if name else "")
    return raw(d, "POST", path, data, {"Content-Type": ctype}, user=user, chunked=chunked)


def uploaded(d, data, user="alice", **kw):
    """Upload data; check the 201 and return the Package (JSON)."""
    import json
    status, headers, body = upload(d, data, user=user, **kw)
    eq(status, 201, f"upload of {len(data)} bytes (reply {body[:300]!r})")
    doc = json.loads(body)
    eq(headers.get("Location"), doc["id"], "Location names the new Package")
    eq(doc.get("resourceURI"), CIMID_NS + "/Package", "resourceURI")
    eq(doc.get("state"), "AVAILABLE", "state")
    eq(doc.get("size"), len(data), "size")
    eq(doc.get("sha256"), hashlib.sha256(data).hexdigest(), "sha256")
    eq(doc.get("format"), "application/ovf", "format")
    eq(doc.get("content", {}).get("href"), doc["id"] + "/content", "content href")
    return doc


def path_of(url):
    return "/" + url.split("://", 1)[1].split("/", 1)[1]


def files(d):
    """Files in the package directory (beside the database)."""
    p = os.path.join(d.tmp, "packages")
    return sorted(os.listdir(p)) if os.path.isdir(p) else []


def file_of(d, doc):
    return os.path.join(d.tmp, "packages", doc["id"].rsplit("/", 1)[1] + ".ova")


def package_ids(c):
    r = c.get(c.coll("packages"))
    eq(r.status, 200, "GET packages")
    return [p["id"] for p in r.doc.get("packages", [])]


@test
def packages_collection_in_cep():
    """The CloudEntryPoint lists `packages` for every user; a POST of a
    Package document (not the bytes) is 400 and makes nothing."""
    d = daemon()
    c = Client(d, "alice")
    href = c.coll("packages")
    check(href.endswith("/cimi/packages"), f"packages href {href}")
    before = files(d)
    r = c.post(href, {"resourceURI": CIMID_NS + "/Package", "name": "x"})
    assert_error(r, 400, mention="bytes")
    eq(files(d), before, "no file made")


@test
def upload_with_content_length():
    """A body with Content-Length: 201, the Package with size and sha256,
    the file beside the database holds exactly the bytes; name from ?name=;
    readable in JSON and XML."""
    d = daemon()
    data = payload(300_000, b"cl")
    doc = uploaded(d, data, name="web%20tier")
    eq(doc.get("name"), "web tier", "name from ?name=")
    with open(file_of(d, doc), "rb") as f:
        eq(f.read() == data, True, "the stored file holds the uploaded bytes")
    c = Client(d, "alice")
    eq(c.read(doc["id"]).get("sha256"), doc["sha256"], "GET shows the Package")
    x = Client(d, "alice", fmt="xml").get(doc["id"])
    eq(x.status, 200, "GET in XML")
    check(b"<sha256>" + doc["sha256"].encode() + b"</sha256>" in x.body, "XML carries sha256")
    isin(doc["id"], package_ids(c), "listed in packages")


@test
def upload_chunked():
    """A chunked body (no Content-Length) is streamed the same way."""
    d = daemon()
    data = payload(1_000_003, b"chunked")
    doc = uploaded(d, data, chunked=True, ctype="application/ova")
    with open(file_of(d, doc), "rb") as f:
        eq(hashlib.sha256(f.read()).hexdigest(), hashlib.sha256(data).hexdigest(), "file digest")


@test
def download_whole_range_and_head():
    """content: 200 application/x-tar with Content-Length, ETag (the
    sha256), Accept-Ranges; one Range -> 206 with Content-Range (first-last,
    first-, -suffix); past the end -> 416 with bytes */size; several ranges
    -> the whole; HEAD -> the headers without the bytes."""
    d = daemon()
    data = payload(200_000, b"dl")
    doc = uploaded(d, data, ctype="application/octet-stream")
    content = path_of(doc["content"]["href"])
    status, h, body = raw(d, "GET", content)
    eq(status, 200, "GET content")
    eq(body == data, True, "the bytes downloaded are the bytes uploaded")
    eq(h.get("Content-Type"), "application/x-tar", "Content-Type")
    eq(h.get("Content-Length"), str(len(data)), "Content-Length")
    eq(h.get("ETag"), '"' + doc["sha256"] + '"', "ETag")
    eq(h.get("Accept-Ranges"), "bytes", "Accept-Ranges")
    for rng, first, last in (("bytes=10-19", 10, 19), ("bytes=199990-", 199990, 199999),
                             ("bytes=-5", 199995, 199999), ("bytes=0-999999", 0, 199999)):
        status, h, body = raw(d, "GET", content, headers={"Range": rng})
        eq(status, 206, f"Range {rng}")
        eq(body == data[first:last + 1], True, f"Range {rng}: the bytes")
        eq(h.get("Content-Range"), f"bytes {first}-{last}/{len(data)}", f"Range {rng}: Content-Range")
        eq(h.get("Content-Length"), str(last - first + 1), f"Range {rng}: Content-Length")
    for rng in ("bytes=200000-", "bytes=300000-300010", "bytes=-0"):
        status, h, body = raw(d, "GET", content, headers={"Range": rng})
        eq(status, 416, f"Range {rng}")
        eq(h.get("Content-Range"), f"bytes */{len(data)}", f"Range {rng}: Content-Range")
    status, h, body = raw(d, "GET", content, headers={"Range": "bytes=0-1,5-6"})
    eq((status, len(body)), (200, len(data)), "several ranges: the whole content")
    status, h, body = raw(d, "HEAD", content)
    eq((status, body), (200, b""), "HEAD: 200 without a body")
    eq(h.get("Content-Length"), str(len(data)), "HEAD: Content-Length")
    eq(h.get("ETag"), '"' + doc["sha256"] + '"', "HEAD: ETag")


@test
def other_tenants_see_nothing():
    """bob gets 404 for alice's Package, its content (GET, HEAD) and its
    DELETE and PUT, with the message a made-up id gets; his list does not show
    it; an admin reads it; without credentials 401."""
    d = daemon()
    data = payload(50_000, b"tenant")
    doc = uploaded(d, data)
    bob = Client(d, "bob")
    fake = doc["id"].rsplit("/", 1)[0] + "/00000000-0000-4000-8000-000000000000"
    for url in (doc["id"], fake):
        assert_error(bob.get(url), 404)
        assert_error(bob.delete(url), 404)
        assert_error(bob.put(url, {"name": "mine"}), 404)
    for method in ("GET", "HEAD"):
        status, _, body = raw(d, method, path_of(doc["content"]["href"]), user="bob")
        eq(status, 404, f"bob {method} alice's content")
        check(data[:100] not in body, "no byte of the content")
    status, _, _ = raw(d, "GET", path_of(fake) + "/content", user="bob")
    eq(status, 404, "a made-up id's content")
    notin(doc["id"], package_ids(bob), "bob's list")
    status, _, body = raw(d, "GET", path_of(doc["content"]["href"]), user="admin")
    eq((status, body == data), (200, True), "the admin downloads it")
    conn = d.connection()
    conn.request("GET", path_of(doc["content"]["href"]))
    r = conn.getresponse()
    r.read()
    conn.close()
    eq(r.status, 401, "no credentials")
    eq(Client(d, "alice").read(doc["id"]).get("name"), None, "alice's Package unchanged")


@test
def edit_name_description_properties_only():
    """PUT changes name, description and properties; size, sha256, state stay."""
    d = daemon()
    doc = uploaded(d, payload(10_000, b"edit"))
    c = Client(d, "alice")
    r = c.put(doc["id"], {"name": "renamed", "description": "d", "properties": {"k": "v"},
                          "size": 1, "sha256": "00", "state": "ERROR"})
    isin(r.status, (200, 202), f"PUT (reply {r.body[:300]!r})")
    now = c.read(doc["id"])
    eq((now.get("name"), now.get("description"), now.get("properties")),
       ("renamed", "d", {"k": "v"}), "edited attributes")
    eq((now.get("size"), now.get("sha256"), now.get("state")),
       (doc["size"], doc["sha256"], "AVAILABLE"), "read-only attributes")


@test
def delete_removes_file_and_row():
    """DELETE: the Package and its file are gone; its content 404."""
    d = daemon()
    doc = uploaded(d, payload(20_000, b"del"))
    path = file_of(d, doc)
    check(os.path.exists(path), "the file exists before")
    c = Client(d, "alice")
    r = c.delete(doc["id"])
    isin(r.status, (200, 202), f"DELETE (reply {r.body[:300]!r})")
    if r.status == 202:
        c.wait_job(r.header("CIMI-Job-URI"))
    deadline = time.time() + 30
    while c.get(doc["id"]).status != 404:
        check(time.time() < deadline, "the Package is gone within 30 s")
        time.sleep(0.1)
    check(not os.path.exists(path), "the file is removed")
    status, _, _ = raw(d, "GET", path_of(doc["content"]["href"]))
    eq(status, 404, "content after delete")


def limited():
    return shared("packages-limits", args=["--max-upload", "100000", "--package-quota", "250000"])


def nothing_left(d, before, alice_before, what):
    deadline = time.time() + 10
    while files(d) != before:
        check(time.time() < deadline, f"{what}: no file left (now {files(d)}, before {before})")
        time.sleep(0.1)
    eq(package_ids(Client(d, "alice")), alice_before, f"{what}: no Package made")


@test
def limits_leave_nothing():
    """Over --max-upload (announced or chunked), over the tenant's quota
    (announced or chunked), an empty upload: 413 / 400 with a CIMI error,
    no file and no Package left; another tenant's quota is its own."""
    d = limited()
    c = Client(d, "alice")
    import json
    before, ids = files(d), package_ids(c)
    for chunked in (False, True):
        status, _, body = upload(d, payload(100_001, b"big"), chunked=chunked)
        eq(status, 413, f"over --max-upload (chunked={chunked}): {body[:200]!r}")
        isin("100000", json.loads(body).get("statusMessage", ""), "the message names the limit")
        nothing_left(d, before, ids, f"over --max-upload (chunked={chunked})")
    for chunked in (False, True):
        status, _, body = upload(d, b"", chunked=chunked)
        eq(status, 400, f"empty upload (chunked={chunked}): {body[:200]!r}")
        nothing_left(d, before, ids, f"empty upload (chunked={chunked})")
    kept = [uploaded(d, payload(100_000, b"q%d" % i)) for i in range(2)]
    before, ids = files(d), package_ids(c)
    for chunked in (False, True):
        status, _, body = upload(d, payload(60_000, b"q3"), chunked=chunked)
        eq(status, 413, f"over the quota (chunked={chunked}): {body[:200]!r}")
        isin("quota", json.loads(body).get("statusMessage", ""), "the message names the quota")
        nothing_left(d, before, ids, f"over the quota (chunked={chunked})")
    uploaded(d, payload(100_000, b"bob"), user="bob")
    r = c.delete(kept[0]["id"])
    isin(r.status, (200, 202), "a delete gives the quota back")
    if r.status == 202:
        c.wait_job(r.header("CIMI-Job-URI"))
    uploaded(d, payload(60_000, b"q4"))


@test
def interrupted_upload_leaves_nothing():
    """A client that announces 500000 bytes, sends 200000 and hangs up
    leaves no file and no Package."""
    d = daemon()
    c = Client(d, "alice")
    before, ids = files(d), package_ids(c)
    s = socket.create_connection(("127.0.0.1", d.port), timeout=30)
    s.sendall(("POST /cimi/packages HTTP/1.1\r\nHost: 127.0.0.1\r\n"
               f"Authorization: {auth(d, 'alice')}\r\nContent-Type: {OVA}\r\n"
               "Content-Length: 500000\r\n\r\n").encode() + payload(200_000, b"cut"))
    deadline = time.time() + 10
    while not any(f.endswith(".part") for f in files(d)) and time.time() < deadline:
        time.sleep(0.05)
    check(any(f.endswith(".part") for f in files(d)), "the upload is being written")
    s.close()
    nothing_left(d, before, ids, "interrupted upload")


@test
def unauthenticated_upload_not_read():
    """Wrong credentials: 401 before the body is read; no file.  The same
    body with the right ones is a Package."""
    d = daemon()
    before = files(d)
    conn = d.connection()
    hdrs = {"Authorization": "Basic " + base64.b64encode(b"alice:wrong").decode(),
            "Content-Type": OVA}
    try:
        conn.request("POST", "/cimi/packages", body=payload(2_000_000, b"anon"), headers=hdrs)
    except (BrokenPipeError, ConnectionResetError):
        pass
    r = conn.getresponse()
    r.read()
    conn.close()
    eq(r.status, 401, "wrong password")
    eq(files(d), before, "no file")
    uploaded(d, payload(2_000_000, b"anon"))


@test
def restart_keeps_packages():
    """After a restart the Package and its bytes are still there; a file no
    Package names and a partial upload left in the directory are removed."""
    d = Daemon()
    d.start()
    try:
        data = payload(120_000, b"restart")
        doc = uploaded(d, data)
        stray = os.path.join(d.tmp, "packages", "11111111-2222-4333-8444-555555555555.ova")
        partial = os.path.join(d.tmp, "packages", "upload-x.part")
        d.stop()
        for p in (stray, partial):
            with open(p, "wb") as f:
                f.write(b"left over")
        d.start()
        eq(Client(d, "alice").read(doc["id"]).get("sha256"), doc["sha256"], "the Package")
        status, _, body = raw(d, "GET", path_of(doc["content"]["href"]))
        eq((status, body == data), (200, True), "its content")
        check(not os.path.exists(stray), "a file no Package names is removed")
        check(not os.path.exists(partial), "a partial upload is removed")
    finally:
        d.stop()


@test
def parallel_uploads_share_the_quota():
    """Uploads under way count against the quota together: while one has
    150000 of its 200000 bytes in, another of 150000 (quota 250000) is 413
    and leaves nothing; the first then completes."""
    import json
    d = Daemon(args=["--package-quota", "250000"])
    d.start()
    try:
        first = payload(200_000, b"p1")
        s = socket.create_connection(("127.0.0.1", d.port), timeout=30)
        s.sendall(("POST /cimi/packages HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                   f"Authorization: {auth(d, 'alice')}\r\nContent-Type: {OVA}\r\n"
                   "Content-Length: 200000\r\nConnection: close\r\n\r\n").encode() + first[:150_000])
        part = os.path.join(d.tmp, "packages")
        deadline = time.time() + 10
        while True:
            sizes = [os.path.getsize(os.path.join(part, f)) for f in files(d) if f.endswith(".part")]
            if sizes == [150_000]:
                break
            check(time.time() < deadline, f"the first upload is in (partial files {sizes})")
            time.sleep(0.05)
        status, _, body = upload(d, payload(150_000, b"p2"))
        eq(status, 413, f"the second upload (reply {body[:200]!r})")
        isin("quota", json.loads(body).get("statusMessage", ""), "the message names the quota")
        eq(len([f for f in files(d) if f.endswith(".part")]), 1, "only the first's file")
        s.sendall(first[150_000:])
        reply = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            reply += chunk
        s.close()
        check(reply.startswith(b"HTTP/1.1 201"), f"the first completes: {reply[:200]!r}")
        eq([p["size"] for p in Client(d, "alice").list("packages").get("packages", [])],
           [200_000], "one Package")
    finally:
        d.stop()


@test
def kill9_during_upload_leaves_nothing():
    """kill -9 while an upload is being written: after the restart no
    partial file and no Package are left, and uploads work."""
    d = Daemon()
    d.start()
    try:
        s = socket.create_connection(("127.0.0.1", d.port), timeout=30)
        s.sendall(("POST /cimi/packages HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                   f"Authorization: {auth(d, 'alice')}\r\nContent-Type: {OVA}\r\n"
                   "Content-Length: 400000\r\n\r\n").encode() + payload(300_000, b"k9"))
        deadline = time.time() + 10
        while not any(f.endswith(".part") for f in files(d)):
            check(time.time() < deadline, "the upload is being written")
            time.sleep(0.05)
        d.kill9()
        s.close()
        d.start()
        eq(files(d), [], "nothing left in the package directory")
        eq(package_ids(Client(d, "alice")), [], "no Package")
        uploaded(d, payload(1000, b"after"))
    finally:
        d.stop()
