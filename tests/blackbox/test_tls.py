"""HTTPS (--tls-cert/--tls-key): with a throw-away self-signed certificate
for 127.0.0.1, the CloudEntryPoint answers over https with Basic auth, every
URI it publishes (baseURI, hrefs, Location, CIMI-Job-URI) is https, machines
are created and driven over https, plain HTTP to the same port gets no
answer, a client that does not trust the certificate fails verification,
and curl --cacert reads the CEP.  cimid refuses to start with only one of
--tls-cert/--tls-key or with an unusable certificate or key."""

import http.client
import json
import os
import socket
import ssl
import subprocess
import tempfile

from cimitest import (BOTH, NS, Client, Daemon, check, coll_items, create_machine, do_action, eq,
                      free_port, isin, make_self_signed, ne, op, shared, test)


def daemon():
    return shared("tls", tls=True)


def client(fmt="json", user="admin"):
    return Client(daemon(), user, fmt=fmt)


def base(d):
    return f"https://127.0.0.1:{d.port}/cimi/"


def hrefs(v, path="$"):
    """(path, href) of every href in a normalized document."""
    out = []
    if isinstance(v, dict):
        for k, x in v.items():
            if k == "href" and isinstance(x, str):
                out.append((path, x))
            elif not k.startswith("_"):
                out.extend(hrefs(x, f"{path}.{k}"))
    elif isinstance(v, list):
        for i, x in enumerate(v):
            out.extend(hrefs(x, f"{path}[{i}]"))
    return out


def check_all_https(doc, d, what):
    b = base(d)
    found = hrefs(doc)
    for path, h in found:
        check(h.startswith(b), f"{what}: {path} = {h!r} does not start with {b}")
    if isinstance(doc.get("id"), str):
        check(doc["id"].startswith(b), f"{what}: id {doc['id']!r} does not start with {b}")
    return found


# ---------------------------------------------------------------- the CEP over https

@test(formats=BOTH)
def cep_over_https(fmt):
    d = daemon()
    c = client(fmt)
    eq(d.url, f"https://127.0.0.1:{d.port}", "harness speaks https")
    r = c.get(d.cep_url)
    eq(r.status, 200, "GET CEP over https with Basic auth")
    cep = r.doc
    eq(cep.get("resourceURI"), NS + "/CloudEntryPoint", "CEP type")
    eq(cep.get("baseURI"), base(d), "baseURI over https")
    eq(cep.get("id"), base(d) + "cloudEntryPoint", "CEP id over https")
    found = check_all_https(cep, d, "CEP")
    refs = [p for p, _ in found]
    for attr in ("machines", "machineConfigs", "machineImages", "machineTemplates", "jobs"):
        isin(f"$.{attr}", refs, f"CEP has an https reference to {attr}")
    # every collection the CEP names answers over https with https hrefs
    for attr in ("machines", "machineConfigs", "machineImages", "machineTemplates", "credentials",
                 "credentialTemplates", "jobs", "resourceMetadata"):
        ref = cep.get(attr)
        check(isinstance(ref, dict) and ref.get("href"), f"CEP names {attr}")
        r = c.get(ref["href"])
        eq(r.status, 200, f"GET {attr} over https")
        check_all_https(r.doc, d, f"{attr} collection")
        for item in coll_items(r.doc):
            check_all_https(item, d, f"{attr} item {item.get('id')}")


@test
def auth_still_required_over_https():
    d = daemon()
    c = client()
    r = c.get(d.cep_url, auth=False)
    eq(r.status, 401, "no credentials over https")
    check("basic" in (r.header("WWW-Authenticate") or "").lower(),
          f"401 over https asks for Basic: {r.header('WWW-Authenticate')!r}")
    r = Client(d, "alice", password="not-the-password").get(d.cep_url)
    eq(r.status, 401, "wrong password over https")
    r = client(user="alice").get(d.cep_url)
    eq(r.status, 200, "alice over https")


# ---------------------------------------------------------------- machines over https

@test(formats=BOTH)
def machine_over_https(fmt):
    d = daemon()
    c = client(fmt, user="alice")
    b = base(d)
    add = c.add_href("machines")
    check(add.startswith(b), f"machines add href {add!r} is https")
    r = create_machine(c, f"tls-{fmt}", "STARTED", wait=False)
    loc, job = r.header("Location"), r.header("CIMI-Job-URI")
    check(loc.startswith(b + "machines/"), f"Location over https: {loc!r}")
    check(job.startswith(b + "jobs/"), f"CIMI-Job-URI over https: {job!r}")
    eq(r.doc.get("id"), loc, "created Machine id = Location")
    jd = c.wait_job(job)
    check_all_https(jd, d, "create Job")
    m = c.wait_state(loc, "STARTED")
    found = check_all_https(m, d, "Machine")
    check(op(m, "stop"), "STARTED machine offers stop over https")
    check(len(found) >= 2, f"Machine has https hrefs (operations, disks): {found}")
    m, jd = do_action(c, m, "stop", "STOPPED", force=True)
    check_all_https(jd, d, "stop Job")
    isin(loc, [i.get("id") for i in coll_items(c.list("machines"))], "machine listed over https")


# ---------------------------------------------------------------- what must fail

@test
def plain_http_refused():
    """A plain-text HTTP request on the HTTPS port gets no HTTP answer."""
    d = daemon()
    client().cep()  # the daemon is up and answers https
    conn = http.client.HTTPConnection("127.0.0.1", d.port, timeout=10)
    failure = None
    status = None
    try:
        conn.request("GET", "/cimi/cloudEntryPoint",
                     headers={"Authorization": client().auth_header(), "Accept": "application/json"})
        resp = conn.getresponse()
        status = resp.status
        body = resp.read()
    except (http.client.HTTPException, OSError) as e:
        failure = e
    finally:
        conn.close()
    check(failure is not None,
          f"plain HTTP to the HTTPS port got an HTTP answer {status}: {locals().get('body', b'')[:200]!r}")
    # and the port still serves https afterwards
    eq(client().get(d.cep_url).status, 200, "https still answers after a plain-HTTP attempt")


@test
def untrusted_client_fails_verification():
    d = daemon()
    # the system trust store does not know the throw-away certificate
    ctx = ssl.create_default_context()
    conn = http.client.HTTPSConnection("127.0.0.1", d.port, timeout=10, context=ctx)
    err = None
    try:
        conn.request("GET", "/cimi/cloudEntryPoint")
        conn.getresponse().read()
    except ssl.SSLCertVerificationError as e:
        err = e
    finally:
        conn.close()
    check(err is not None, "a client not trusting the certificate connected anyway")
    eq(err.verify_code, 18, f"verification error is 'self-signed certificate' ({err.verify_message})")
    # trusting it, the certificate is the one for 127.0.0.1 (hostname checking on)
    ctx = d.ssl_context()
    eq(ctx.check_hostname, True, "hostname checking on")
    eq(ctx.verify_mode, ssl.CERT_REQUIRED, "verification required")
    with socket.create_connection(("127.0.0.1", d.port), timeout=10) as raw:
        with ctx.wrap_socket(raw, server_hostname="127.0.0.1") as s:
            cert = s.getpeercert()
            isin(("IP Address", "127.0.0.1"), cert.get("subjectAltName", ()), "certificate SAN")
            check(s.version() in ("TLSv1.2", "TLSv1.3"), f"TLS version {s.version()}")
    # the same certificate for another name fails the hostname check
    err = None
    with socket.create_connection(("127.0.0.1", d.port), timeout=10) as raw:
        try:
            with ctx.wrap_socket(raw, server_hostname="localhost"):
                pass
        except ssl.SSLCertVerificationError as e:
            err = e
    check(err is not None, "certificate for 127.0.0.1 accepted for 'localhost'")
    # the daemon survives the failed handshakes
    eq(client().get(d.cep_url).status, 200, "https still answers after failed handshakes")


# ---------------------------------------------------------------- curl

def curl(*argv):
    return subprocess.run(["curl", "-sS", "--max-time", "20", *argv], capture_output=True,
                          text=True, timeout=60)


@test
def curl_cacert():
    d = daemon()
    pw = d.users["admin"][0]
    url = d.cep_url
    r = curl("--cacert", d.cert, "-u", f"admin:{pw}", "-H", "Accept: application/json",
             "-D", "-", "-o", d.tmp + "/curl-cep.json", url)
    eq(r.returncode, 0, f"curl --cacert exit status (stderr {r.stderr.strip()!r})")
    status_line = r.stdout.splitlines()[0] if r.stdout else ""
    check(" 200" in status_line, f"curl status line {status_line!r}")
    check("cimi-specification-version:" in r.stdout.lower(), "curl sees CIMI-Specification-Version")
    with open(d.tmp + "/curl-cep.json") as f:
        cep = json.load(f)
    eq(cep.get("resourceURI"), NS + "/CloudEntryPoint", "curl: CEP type")
    eq(cep.get("baseURI"), base(d), "curl: baseURI")
    check_all_https(cep, d, "curl CEP")
    eq(cep.get("machines", {}).get("href"), base(d) + "machines", "curl: machines href")
    # the plain example of the README, without an Accept header: JSON
    r = curl("--cacert", d.cert, "-u", f"admin:{pw}", url)
    eq(r.returncode, 0, f"curl without Accept (stderr {r.stderr.strip()!r})")
    eq(json.loads(r.stdout).get("baseURI"), base(d), "curl without Accept: JSON CEP")
    # wrong password: 401
    r = curl("--cacert", d.cert, "-u", "admin:wrong", "-o", "/dev/null", "-w", "%{http_code}", url)
    eq(r.returncode, 0, f"curl with a wrong password runs (stderr {r.stderr.strip()!r})")
    eq(r.stdout.strip(), "401", "curl with a wrong password: status")
    # without --cacert: certificate problem (curl exit 60)
    r = curl("-u", f"admin:{pw}", url)
    eq(r.returncode, 60, f"curl without --cacert fails verification (stderr {r.stderr.strip()!r})")
    ne(r.stdout.strip()[:1], "{", "curl without --cacert printed no document")
    # plain http:// to the https port: no HTTP reply
    r = curl("-u", f"admin:{pw}", "-o", "/dev/null", "-w", "%{http_code}",
             url.replace("https://", "http://"))
    ne(r.returncode, 0, "curl over plain http to the https port fails")
    eq(r.stdout.strip(), "000", "curl over plain http: no HTTP status")


# ---------------------------------------------------------------- unusable TLS options

def serve_expecting_failure(argv_extra, what, timeout=5):
    """Run `cimid serve` with argv_extra; it must exit non-zero by itself.
    Returns its stderr."""
    d = Daemon(name="tls-bad")
    d.port = free_port()
    try:
        r = subprocess.run(d.command() + list(argv_extra), stdin=subprocess.DEVNULL,
                           capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as e:
        out = e.stderr.decode("utf-8", "replace") if isinstance(e.stderr, bytes) else (e.stderr or "")
        ready = [ln for ln in out.splitlines() if "ready" in ln]
        raise AssertionError(f"cimid serve {what} kept running instead of refusing to start "
                             f"({ready[-1] if ready else 'no ready line'})")
    check(r.returncode != 0, f"cimid serve {what} exits non-zero (got {r.returncode})")
    return r.stderr


def _material():
    """A valid certificate/key pair, a second unrelated pair and a garbage file."""
    d = daemon()
    other = tempfile.mkdtemp(prefix="cimitest-tls-other-", dir=d.tmp)
    cert2, key2 = make_self_signed(other)
    garbage = os.path.join(other, "garbage.pem")
    with open(garbage, "w") as f:
        f.write("-----BEGIN CERTIFICATE-----\nnot a certificate\n-----END CERTIFICATE-----\n")
    return d.cert, d.key, cert2, key2, garbage


@test
def cert_without_key_refused():
    """--tls-cert alone must not start a plain-HTTP server (nor log https)."""
    cert, *_ = _material()
    err = serve_expecting_failure(["--tls-cert", cert], "with --tls-cert but no --tls-key")
    check("tls-key" in err, f"the error names the missing --tls-key: {err.strip()[-300:]!r}")


@test
def key_without_cert_refused():
    _, key, *_ = _material()
    err = serve_expecting_failure(["--tls-key", key], "with --tls-key but no --tls-cert")
    check("tls-cert" in err, f"the error names the missing --tls-cert: {err.strip()[-300:]!r}")


@test
def unusable_cert_or_key_refused():
    cert, key, cert2, key2, garbage = _material()
    missing = os.path.join(os.path.dirname(garbage), "missing.pem")
    err = serve_expecting_failure(["--tls-cert", cert, "--tls-key", missing], "with a missing key file")
    isin("missing.pem", err, "the error names the missing file")
    for argv, what in ((["--tls-cert", garbage, "--tls-key", key], "with a garbage certificate"),
                       (["--tls-cert", cert, "--tls-key", garbage], "with a garbage key"),
                       (["--tls-cert", cert, "--tls-key", key2], "with a key not matching the certificate")):
        err = serve_expecting_failure(argv, what)
        # the error-level lines (what a user sees at the default log level)
        errors = [ln for ln in err.splitlines() if " error " in ln]
        check(errors, f"cimid serve {what} logs an error: {err.strip()[-300:]!r}")
        check(any(w in ln.lower() for ln in errors for w in ("certificate", "tls", "key")),
              f"cimid serve {what}: the error is about the certificate/key, not {errors}")
