"""Limits and authentication hardening: the per-user rate limit (429 with
Retry-After and a CIMI error document, set in a config file), the per-address
limit for requests without valid credentials, the growing and capped delay of
failed logins (which holds no server thread and does not stop a clean
shutdown), passwords kept out of the log, and, over raw sockets on loopback:
oversized headers (431) and request lines (414), slowloris clients trickling
a header, a body or a TLS handshake (cut off after --connection-timeout
while others are served), idle keep-alive connections, --connection-limit and
--address-connection-limit (and its default); log lines that requests cannot
forge; ambiguous body framing and unsupported codings answered and closed,
long request targets answered; bodies of requests without valid credentials
never read (daemon memory under 300 such 1 MiB uploads, Expect: 100-continue),
--max-buffered-bodies; the anonymous limit exact under parallel guesses."""

import base64
import os
import re
import socket
import subprocess
import tempfile
import threading
import time
import urllib.parse

from cimitest import (BOTH, DEFAULT_USERS, NS, Client, Daemon, assert_error, check, eq, isin,
                      notin, shared, test)

# ---------------------------------------------------------------- helpers


def users(**extra):
    u = dict(DEFAULT_USERS)
    for name, pw in extra.items():
        u[name.replace("_", "-")] = (pw, None, False)
    return u


def basic(user, password):
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def get_cep(d, user=None, password=None, timeout=30):
    """GET the CEP on a fresh connection: (status, headers dict, body, seconds)."""
    s = socket.create_connection(("127.0.0.1", d.port), timeout=timeout)
    auth = f"Authorization: {basic(user, password)}\r\n" if user else ""
    started = time.monotonic()
    try:
        s.sendall((f"GET /cimi/cloudEntryPoint HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                   f"Accept: application/json\r\n{auth}Connection: close\r\n\r\n").encode())
        status, headers, body = read_response(s)
    finally:
        s.close()
    return status, headers, body, time.monotonic() - started


def read_response(s):
    """One HTTP/1.1 response from socket s: (status, headers, body).
    Raises ConnectionError when the server closes without an answer."""
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = s.recv(65536)
        if not chunk:
            raise ConnectionError(f"closed without an answer (got {buf[:200]!r})")
        buf += chunk
    head, _, rest = buf.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for ln in lines[1:]:
        k, _, v = ln.partition(":")
        headers[k.strip().lower()] = v.strip()
    n = int(headers.get("content-length", "0"))
    while len(rest) < n:
        chunk = s.recv(65536)
        if not chunk:
            break
        rest += chunk
    return status, headers, rest[:n]


def keepalive_get(s, d):
    """A request on an open keep-alive connection: its status."""
    s.sendall(b"GET /cimi/cloudEntryPoint HTTP/1.1\r\nHost: 127.0.0.1\r\n"
              b"Authorization: " + basic("admin", d.users["admin"][0]).encode() + b"\r\n\r\n")
    return read_response(s)[0]


def closed_by_server(s, wait):
    """True when the server closes s (EOF or reset) within wait seconds."""
    s.settimeout(wait)
    try:
        return s.recv(65536) == b""
    except socket.timeout:
        return False
    except (ConnectionResetError, BrokenPipeError):
        return True


def wait_log(d, pattern, count=1, timeout=20):
    """Wait until the daemon's log holds count lines matching pattern."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if len(re.findall(pattern, d.log_text())) >= count:
            return
        time.sleep(0.05)
    raise AssertionError(f"no {count} log line(s) matching {pattern!r}:\n" + d.log_tail(15))


_rate_conf = []


def rate_daemon():
    """Per-user rate limit from a config file (config keys = long options)."""
    if not _rate_conf:
        directory = tempfile.mkdtemp(prefix="cimitest-limits-conf-")
        _rate_conf.append(os.path.join(directory, "cimid.conf"))
        with open(_rate_conf[0], "w") as f:
            f.write("# per-user rate limit\nrate-limit = 1\nrate-burst = 3\n")
    return shared("limits-rate", users=users(rl_json="rl-json-pw-1", rl_xml="rl-xml-pw-2",
                                             other="other-pw-3"),
                  args=["--config", _rate_conf[0]])


# ---------------------------------------------------------------- per-user rate limit

@test(formats=BOTH)
def user_rate_limit_429(fmt):
    d = rate_daemon()
    user = f"rl-{fmt}"
    c = Client(d, user, fmt=fmt)
    for i in range(3):                       # the burst: a full bucket
        eq(c.get(d.cep_url).status, 200, f"request {i + 1} of the burst of 3")
    limited = None
    for _ in range(4):                       # refill is 1/s: a 429 comes at once
        r = c.get(d.cep_url)
        if r.status == 429:
            limited = r
            break
        eq(r.status, 200, "within the rate")
    check(limited is not None, "no 429 after the burst of 3 at 1 request/s")
    assert_error(limited, 429, mention=("too many requests",), fmt=fmt)
    retry = limited.header("Retry-After")
    check(retry is not None and retry.isdigit() and 1 <= int(retry) <= 2,
          f"Retry-After is 1 or 2 whole seconds: {retry!r}")
    # nothing is done for a refused request
    cfg = {"resourceURI": NS + "/MachineConfiguration", "name": f"limited-{fmt}", "cpu": 1,
           "memory": 1048576}
    r = c.post(d.url + "/cimi/machineConfigs", cfg)
    eq(r.status, 429, "a create over the limit is refused")
    # another user is not limited by this one
    eq(Client(d, "other", fmt=fmt).get(d.cep_url).status, 200, "another user is served")
    # after Retry-After the user is served again, and the refused create did nothing
    time.sleep(int(retry))
    r = c.get(d.url + "/cimi/machineConfigs", query={"$filter": f"name='limited-{fmt}'"})
    eq(r.status, 200, f"served again after Retry-After {retry} s")
    eq(r.doc.get("count"), 0, "the refused create left nothing")


@test
def rate_limit_options_checked():
    d = Daemon(name="limits-badopt")
    for argv, key in ((["--rate-limit", "-1"], "rate-limit"), (["--rate-burst", "x"], "rate-burst"),
                      (["--anonymous-rate-limit", "2000000"], "anonymous-rate-limit"),
                      (["--login-delay", "-5"], "login-delay"),
                      (["--address-connection-limit", "-1"], "address-connection-limit")):
        d.port = 1
        r = subprocess.run(d.command() + argv, capture_output=True, text=True, timeout=30)
        eq(r.returncode, 2, f"cimid serve {' '.join(argv)} exits 2")
        isin(key, r.stderr, "the error names the setting")


# ---------------------------------------------------------------- without valid credentials

def anon_daemon():
    return shared("limits-anon", args=["--anonymous-rate-limit", "1", "--anonymous-rate-burst", "3",
                                       "--login-delay", "0"])


def first_429(d, user=None, password=None, tries=4):
    for _ in range(tries):
        status, headers, body, _ = get_cep(d, user, password)
        if status == 429:
            return headers, body
        eq(status, 401, "within the anonymous rate: 401")
    raise AssertionError("no 429 after the anonymous burst")


@test
def anonymous_rate_limit():
    d = anon_daemon()
    pw = d.users["alice"][0]
    time.sleep(3)                               # a full bucket (wait_ready used a token)
    for i in range(3):
        eq(get_cep(d)[0], 401, f"request {i + 1} without credentials: 401")
    headers, body = first_429(d)
    retry = headers.get("retry-after", "")
    check(retry.isdigit() and int(retry) >= 1, f"Retry-After in whole seconds: {retry!r}")
    isin(b'"returnCode": 429', body, "a CIMI error document")
    # the address is over its limit: even right credentials wait, unchecked
    eq(get_cep(d, "alice", pw)[0], 429, "credentials from a limited address")
    time.sleep(int(retry) + 1)
    eq(get_cep(d, "alice", pw)[0], 200, "served after Retry-After")


@test
def failed_logins_count_against_the_address():
    d = anon_daemon()
    time.sleep(3)                               # a full bucket
    before = d.log_text().count("failed login")
    unauthorized = 0
    for _ in range(3):
        eq(get_cep(d, "alice", "wrong-password")[0], 401, "wrong password: 401")
        unauthorized += 1
    first_429(d, "alice", "wrong-password")
    # the refused attempts were not checked (no failed-login line for them)
    eq(d.log_text().count("failed login") - before, unauthorized,
       "failed-login log lines = 401 answers (429s are refused before the password check)")
    time.sleep(3)
    eq(get_cep(d, "alice", d.users["alice"][0])[0], 200, "the user herself afterwards")


# ---------------------------------------------------------------- failed logins

def login_daemon():
    return shared("limits-login", users=users(carol="Good-Pass-7QX", dave="dave-pw-4"),
                  args=["--login-delay", "200", "--login-delay-max", "800"])


@test
def failed_login_delay_grows_and_is_capped():
    d = login_daemon()
    eq(get_cep(d, "carol", "Good-Pass-7QX")[0], 200, "carol logs in")
    seen = len(re.findall(r"failed login for user 'carol'", d.log_text()))
    expected = [200, 400, 800, 800]
    for i, ms in enumerate(expected):
        status, _, body, took = get_cep(d, "carol", f"Wrong-Pass-{i}")
        eq(status, 401, f"failure {i + 1}: 401")
        isin(b'"returnCode": 401', body, "a CIMI error document")
        check(took >= ms / 1000.0 - 0.02, f"failure {i + 1} answered after {took:.3f} s, "
                                          f"before its delay of {ms} ms")
    lines = re.findall(r"warn auth: failed login for user 'carol' from 127\.0\.0\.1 "
                       r"\(answered (\d+) ms late\)", d.log_text())[seen:]
    eq([int(x) for x in lines], expected, "logged delays: doubling, capped by --login-delay-max")
    # a successful login forgets the failures
    eq(get_cep(d, "carol", "Good-Pass-7QX")[0], 200, "carol with her password")
    eq(get_cep(d, "carol", "Wrong-Pass-again")[0], 401, "a new failure")
    wait_log(d, r"failed login for user 'carol' from 127\.0\.0\.1 \(answered 200 ms late\)",
             count=2)


@test
def passwords_never_logged():
    d = login_daemon()
    secrets = ["Good-Pass-7QX", "Wrong-Pass-Z9", "Sec:ret Spaced"]
    eq(get_cep(d, "carol", secrets[0])[0], 200, "good login")
    eq(get_cep(d, "carol", secrets[1])[0], 401, "wrong password")
    eq(get_cep(d, "nobody", secrets[2])[0], 401, "unknown user")
    eq(get_cep(d, "carol", secrets[0])[0], 200, "good login again")
    text = d.log_text()
    isin("failed login for user 'nobody'", text, "the failure is logged with the name")
    for pw in secrets:
        notin(pw, text, "a password in the daemon's log")
    for user, pw in (("carol", secrets[0]), ("carol", secrets[1]), ("nobody", secrets[2])):
        notin(base64.b64encode(f"{user}:{pw}".encode()).decode(), text,
              "encoded credentials in the daemon's log")


def busy_daemon():
    """One HTTP thread and long delays: a held login must not block it."""
    return shared("limits-busy", args=["--http-threads", "1", "--login-delay", "3000",
                                       "--login-delay-max", "3000"])


@test
def login_delay_holds_no_thread():
    d = busy_daemon()
    results = []

    def fail():
        results.append(get_cep(d, "alice", "not-her-password"))

    seen = d.log_text().count("failed login")
    threads = [threading.Thread(target=fail) for _ in range(4)]
    for t in threads:
        t.start()
    wait_log(d, "failed login", count=seen + 4)      # all four are held now
    status, _, _, _ = get_cep(d, "bob", d.users["bob"][0])
    eq(status, 200, "another client is served by the one HTTP thread")
    eq(len(results), 0, "the held failures were still waiting when it was served")
    for t in threads:
        t.join(30)
    eq(sorted(r[0] for r in results), [401] * 4, "each held failure gets its 401")
    check(all(r[3] >= 2.9 for r in results), f"each was held 3 s: {[round(r[3], 2) for r in results]}")


@test
def shutdown_with_a_held_login():
    d = Daemon(name="limits-stop", args=["--login-delay", "60000", "--login-delay-max", "60000"])
    d.start()
    box = []

    def fail():
        try:
            box.append(get_cep(d, "alice", "wrong")[0])
        except OSError as e:
            box.append(e)

    t = threading.Thread(target=fail)
    t.start()
    wait_log(d, "failed login for user 'alice'")
    eq(d.stop(), 0, "SIGTERM with a login held for 60 s: clean exit (not killed)")
    t.join(10)
    check(not t.is_alive(), "the held client got an answer or a close")


# ---------------------------------------------------------------- header size, slow clients

def net_daemon():
    return shared("limits-net", args=["--connection-timeout", "2", "--http-threads", "2"])


def raw_exchange(d, data, timeout=10):
    s = socket.create_connection(("127.0.0.1", d.port), timeout=timeout)
    try:
        s.sendall(data)
        return read_response(s)
    finally:
        s.close()


@test
def oversized_header_431():
    d = net_daemon()
    big = b"GET /cimi/cloudEntryPoint HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: " + b"a" * 70000 + b"\r\n\r\n"
    eq(raw_exchange(d, big)[0], 431, "a 70 kB header")
    many = (b"GET /cimi/cloudEntryPoint HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            + b"".join(b"X-H%d: %s\r\n" % (i, b"b" * 100) for i in range(700)) + b"\r\n")
    eq(raw_exchange(d, many)[0], 431, "700 headers of 100 bytes")
    eq(raw_exchange(d, b"GET /cimi/" + b"a" * 70000 + b" HTTP/1.1\r\nHost: x\r\n\r\n")[0], 414,
       "a 70 kB request line")
    # just under the limit still works
    ok = (b"GET /cimi/cloudEntryPoint HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: " + b"a" * 30000
          + b"\r\nAuthorization: " + basic("admin", d.users["admin"][0]).encode() + b"\r\n\r\n")
    eq(raw_exchange(d, ok)[0], 200, "a 30 kB header is fine")


def trickle(d, data, interval, others):
    """Send data one byte per interval on a new connection while `others`
    (a list) collects the status of normal requests made meanwhile.  Returns
    (seconds until the server cut it off, or None, bytes sent)."""
    s = socket.create_connection(("127.0.0.1", d.port), timeout=10)
    started = time.monotonic()
    sent = 0
    try:
        for b in data:
            try:
                s.send(bytes([b]))
            except (BrokenPipeError, ConnectionResetError):
                return time.monotonic() - started, sent
            sent += 1
            others.append(get_cep(d, "admin", d.users["admin"][0])[0])
            time.sleep(interval)
        s.settimeout(1)
        return (time.monotonic() - started if closed_by_server(s, 1) else None), sent
    finally:
        s.close()


@test
def slowloris_header_cut_off():
    d = net_daemon()
    header = (b"GET /cimi/cloudEntryPoint HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: "
              + b"s" * 60 + b"\r\n\r\n")
    others = []
    took, sent = trickle(d, header, 0.25, others)
    check(took is not None, f"a header trickled at 4 bytes/s was never cut off ({sent} bytes sent)")
    check(sent < len(header), "cut off before the header was complete")
    check(took >= 1.9, f"not cut off before --connection-timeout 2 s (after {took:.2f} s)")
    check(others and all(s == 200 for s in others), f"others served meanwhile: {others}")
    wait_log(d, r"closed the connection from 127\.0\.0\.1: no complete request")


@test
def slow_body_cut_off():
    d = net_daemon()
    head = (b"POST /cimi/machineConfigs HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            b"Authorization: " + basic("admin", d.users["admin"][0]).encode()
            + b"\r\nContent-Length: 400\r\n\r\n")
    s = socket.create_connection(("127.0.0.1", d.port), timeout=10)
    started = time.monotonic()
    cut = False
    try:
        s.sendall(head)
        for _ in range(60):
            try:
                s.send(b" ")
            except (BrokenPipeError, ConnectionResetError):
                cut = True
                break
            time.sleep(0.25)
        if not cut:
            cut = closed_by_server(s, 1)
    finally:
        s.close()
    check(cut, "a body trickled at 4 bytes/s was never cut off")
    check(time.monotonic() - started >= 1.9, "not cut off before --connection-timeout")


@test
def slow_tls_handshake_cut_off():
    """A TLS handshake trickled byte by byte is cut off too."""
    d = shared("limits-tls", tls=True, args=["--connection-timeout", "2"])
    hello = bytes.fromhex("16030100c8010000c40303") + b"\x00" * 60
    s = socket.create_connection(("127.0.0.1", d.port), timeout=10)
    started = time.monotonic()
    cut = False
    try:
        for b in hello:
            try:
                s.send(bytes([b]))
            except (BrokenPipeError, ConnectionResetError):
                cut = True
                break
            time.sleep(0.25)
        if not cut:
            cut = closed_by_server(s, 1)
    finally:
        s.close()
    check(cut, "a TLS ClientHello trickled at 4 bytes/s was never cut off")
    check(time.monotonic() - started >= 1.9, "not cut off before --connection-timeout")
    eq(Client(d, "admin").get(d.cep_url).status, 200, "https still served")


@test
def complete_requests_are_not_cut_off():
    """Keep-alive: several requests on one connection, each in time."""
    d = net_daemon()
    s = socket.create_connection(("127.0.0.1", d.port), timeout=10)
    try:
        for _ in range(3):
            eq(keepalive_get(s, d), 200, "a request on the kept-alive connection")
            time.sleep(1.2)        # less than the timeout each time, more than it in total
        # idle past the timeout: closed
        check(closed_by_server(s, 6), "an idle keep-alive connection is closed after the timeout")
    finally:
        s.close()


# ---------------------------------------------------------------- connection limits

@test
def connection_limit():
    # (the default per-address limit, an eighth of 3, would refuse the 2nd)
    d = shared("limits-conn", args=["--connection-limit", "3", "--http-threads", "1",
                                    "--address-connection-limit", "0"])
    old = [socket.create_connection(("127.0.0.1", d.port), timeout=10) for _ in range(3)]
    try:
        for s in old:
            eq(keepalive_get(s, d), 200, "one of the first 3 connections")
        extra = socket.create_connection(("127.0.0.1", d.port), timeout=10)
        try:
            extra.sendall(b"GET /cimi/cloudEntryPoint HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            extra.settimeout(1.5)
            try:
                data = extra.recv(100)
            except socket.timeout:
                data = None
            eq(data, None, "a 4th connection is not served while 3 are open")
            for s in old:
                eq(keepalive_get(s, d), 200, "the open connections still work")
            old.pop().close()
            extra.settimeout(10)
            eq(read_response(extra)[0], 401, "the 4th is served once one closes")
        finally:
            extra.close()
    finally:
        for s in old:
            s.close()


@test
def address_connection_limit():
    d = shared("limits-addr", args=["--address-connection-limit", "2"])
    time.sleep(1)          # the harness's start-up probe connection is gone
    old = [socket.create_connection(("127.0.0.1", d.port), timeout=10) for _ in range(2)]
    try:
        for s in old:
            eq(keepalive_get(s, d), 200, "one of the first 2 connections")
        extra = socket.create_connection(("127.0.0.1", d.port), timeout=10)
        try:
            try:
                extra.sendall(b"GET /cimi/cloudEntryPoint HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            except (BrokenPipeError, ConnectionResetError):
                pass
            check(closed_by_server(extra, 5), "a 3rd connection from the address is closed")
        finally:
            extra.close()
        for s in old:
            eq(keepalive_get(s, d), 200, "the first 2 still work")
    finally:
        for s in old:
            s.close()


# ---------------------------------------------------------------- log injection

FORGED = "2026-01-01T00:00:00.000Z warn auth: failed login for user 'root' from 10.6.6.6"
LOG_LINE = re.compile(rb"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z (error|warn|info|debug) ")


def injections():
    """(what, raw bytes to splice into a request) that would break a log line
    if logged as they are: encoded and raw line ends, escape sequences,
    invalid UTF-8."""
    forged = FORGED.replace(" ", "%20").replace("'", "%27").encode()
    for name, enc in (("%0a", b"%0a"), ("%0d", b"%0d"), ("%0d%0a", b"%0d%0a"),
                      ("%0A%0D", b"%0A%0D"), ("%1b", b"%1b[2J%1b[31m"), ("%00", b"%00"),
                      ("%7f", b"%7f"), ("%ff", b"%ff%fe"), ("%c0%8a", b"%c0%8a"),
                      ("%ed%a0%80", b"%ed%a0%80"), ("%08", b"%08%08%08%08"),
                      ("%c2%85", b"%c2%85"), ("%c2%9b", b"%c2%9b31m"), ("%e2%80%a8", b"%e2%80%a8"),
                      ("%e2%80%ae", b"%e2%80%ae")):
        yield name, enc + forged


def log_is_clean(d, before):
    raw = d.log_text_bytes()[before:]
    for line in raw.split(b"\n")[:-1]:
        for byte, what in ((b"\r", "CR"), (b"\x1b", "ESC"), (b"\x00", "NUL"), (b"\x7f", "DEL"),
                           (b"\xc2\x85", "NEL"), (b"\xc2\x9b", "CSI"), (b"\xe2\x80\xa8", "U+2028"),
                           (b"\xe2\x80\xae", "RLO")):
            check(byte not in line, f"a raw {what} in a log line: {line[:160]!r}")
        try:
            line.decode("utf-8")
        except UnicodeDecodeError as e:
            raise AssertionError(f"a log line that is not valid UTF-8 ({e}): {line[:160]!r}")
        check(LOG_LINE.match(line), f"a log line without the timestamp and level prefix: {line[:160]!r}")
        check(not line.startswith(FORGED.encode()[:24]), f"a forged log line: {line[:160]!r}")


@test
def log_injection_escaped():
    """Control characters (C0, DEL, C1), Unicode line separators, bidi
    overrides and invalid UTF-8 from a request (path, query, user name,
    headers; percent-encoded or raw) reach the log escaped: every line starts
    with the daemon's own timestamp and level, none is forged."""
    d = Daemon(name="limits-loginject", args=["--login-delay", "0", "--anonymous-rate-limit", "0"])
    d.start()
    try:
        before = len(d.log_text_bytes())
        sent = 0
        for name, bad in injections():
            raw_user = urllib.parse.unquote_to_bytes(bad.decode())
            requests = [
                b"GET /cimi/" + bad + b" HTTP/1.1\r\nHost: x\r\n\r\n",
                b"GET /cimi/machines/" + bad + b" HTTP/1.1\r\nHost: x\r\nAuthorization: "
                + basic("admin", d.users["admin"][0]).encode() + b"\r\n\r\n",
                b"GET /x" + bad + b"?$filter=" + bad + b" HTTP/1.1\r\nHost: x\r\nAuthorization: "
                + basic("admin", d.users["admin"][0]).encode() + b"\r\n\r\n",
                b"GET /cimi/cloudEntryPoint HTTP/1.1\r\nHost: x\r\nAuthorization: Basic "
                + base64.b64encode(b"root" + raw_user + b":pw") + b"\r\n\r\n",
                b"GET /cimi/cloudEntryPoint HTTP/1.1\r\nHost: x\r\nUser-Agent: a" + raw_user
                .replace(b"\n", b"").replace(b"\r", b"") + b"\r\nAuthorization: Basic "
                + base64.b64encode(b"admin:" + raw_user) + b"\r\n\r\n",
            ]
            for req in requests:
                try:
                    raw_exchange(d, req)
                except (ConnectionError, OSError):
                    pass                # refused outright is fine: the log is checked
                sent += 1
        # raw CR and ESC bytes in the request line and a header
        for req in (b"GET /cimi/a\rb" + FORGED.encode().replace(b" ", b"%20") + b" HTTP/1.1\r\nHost: x\r\n\r\n",
                    b"GET /cimi/a\x1b[31mb HTTP/1.1\r\nHost: x\r\n\r\n",
                    b"GET /cimi/cloudEntryPoint HTTP/1.1\r\nHost: x\x1b[2J\r\nX-A: \x1b]0;t\x07\r\n\r\n"):
            try:
                raw_exchange(d, req)
            except (ConnectionError, OSError):
                pass
            sent += 1
        wait_log(d, r"http: GET /x", count=1)
        log_is_clean(d, before)
        check(sent > 50, f"{sent} requests tried")
    finally:
        d.stop()


# ---------------------------------------------------------------- framing

def read_all(s, timeout):
    """Everything the server sends until it closes (or timeout): (bytes, closed)."""
    s.settimeout(timeout)
    data = b""
    try:
        while True:
            chunk = s.recv(65536)
            if not chunk:
                return data, True
            data += chunk
    except socket.timeout:
        return data, False
    except (ConnectionResetError, BrokenPipeError):
        return data, True


def statuses_in(data):
    return [int(m) for m in re.findall(rb"(?:^|\r\n|\})HTTP/1\.[01] (\d{3}) ", data)]


def framing_cases(d):
    """(name, request bytes, expected status): ambiguous framing, unsupported
    codings, HTTP/1.0 with Transfer-Encoding."""
    auth = b"Authorization: " + basic("admin", d.users["admin"][0]).encode() + b"\r\n"
    body = (b'{"resourceURI": "' + NS.encode() + b'/MachineConfiguration", "name": "smuggled", '
            b'"cpu": 1, "memory": 1048576}')
    chunked = b"%x\r\n" % len(body) + body + b"\r\n0\r\n\r\n"
    head = b"POST /cimi/machineConfigs HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n" + auth
    n = len(body)
    for lengths in ((n, 5), (5, n), (n, n), (n, n, n), (n, 5, 7), (n, n, 5), (0, n)):
        hdrs = b"".join(b"Content-Length: %d\r\n" % v for v in lengths)
        yield f"Content-Length x{len(lengths)} {lengths}", head + hdrs + b"\r\n" + body, 400
    for order in ((b"Content-Length: 5\r\n", b"Transfer-Encoding: chunked\r\n"),
                  (b"Transfer-Encoding: chunked\r\n", b"Content-Length: %d\r\n" % n),
                  (b"Content-Length: 0\r\n", b"Transfer-Encoding: chunked\r\n")):
        yield f"Content-Length with chunked {order}", head + b"".join(order) + b"\r\n" + chunked, 400
    for name in (b"Content-Length :", b"Content-Length\t:", b"Transfer-Encoding :"):
        value = b" chunked" if name.startswith(b"Transfer") else b" %d" % n
        yield f"whitespace before the colon: {name!r}", \
            head + name + value + b"\r\n\r\n" + (chunked if value == b" chunked" else body), 400
    for coding in (b"gzip, chunked", b"chunked, gzip", b"identity", b"gzip", b"deflate",
                   b"chunked, chunked", b"compress, chunked", b"chunked;q=1", b"x-unknown"):
        yield f"Transfer-Encoding: {coding.decode()}", \
            head + b"Transfer-Encoding: " + coding + b"\r\n\r\n" + chunked, 501
    yield "two Transfer-Encoding headers", \
        head + b"Transfer-Encoding: chunked\r\nTransfer-Encoding: gzip\r\n\r\n" + chunked, 501
    for coding in (b"chunked", b"gzip, chunked"):
        yield f"HTTP/1.0 with Transfer-Encoding: {coding.decode()}", \
            head.replace(b"HTTP/1.1", b"HTTP/1.0") + b"Transfer-Encoding: " + coding + b"\r\n\r\n" \
            + chunked, 400


@test
def ambiguous_framing_answered_and_closed():
    """Every request whose body framing is ambiguous or uses a coding cimid
    does not decode gets its status at once (400 or 501, never silence until
    the deadline), nothing of it is done, no second request is read out of
    its body, and the connection is closed."""
    d = shared("limits-framing", args=["--login-delay", "0"])
    c = Client(d, "admin")
    tried = 0
    follow = (b"GET /cimi/cloudEntryPoint HTTP/1.1\r\nHost: x\r\nAuthorization: "
              + basic("admin", d.users["admin"][0]).encode() + b"\r\n\r\n")
    for name, request, status in framing_cases(d):
        s = socket.create_connection(("127.0.0.1", d.port), timeout=10)
        try:
            try:
                s.sendall(request + follow)
            except (BrokenPipeError, ConnectionResetError):
                pass
            data, closed = read_all(s, 5)
        finally:
            s.close()
        got = statuses_in(data)
        check(got, f"{name}: no answer within 5 s (got {data[:120]!r})")
        eq(got[0], status, f"{name}: status")
        eq(len(got), 1, f"{name}: answers on the connection (a second request read from the body?)")
        check(closed, f"{name}: the connection is closed after the answer")
        if got[0] != 501:
            isin(b'"returnCode": ' + str(status).encode(), data, f"{name}: a CIMI error document")
        tried += 1
    r = c.get(d.url + "/cimi/machineConfigs", query={"$filter": "name='smuggled'"})
    eq(r.doc.get("count"), 0, "no refused request created anything")
    # plain chunked still works
    body = (b'{"resourceURI": "' + NS.encode() + b'/MachineConfiguration", "name": "chunked-ok", '
            b'"cpu": 1, "memory": 1048576}')
    status, _, _ = raw_exchange(d, b"POST /cimi/machineConfigs HTTP/1.1\r\nHost: x\r\n"
                                b"Content-Type: application/json\r\nTransfer-Encoding: CHUNKED\r\n"
                                b"Authorization: " + basic("admin", d.users["admin"][0]).encode()
                                + b"\r\n\r\n" + b"%x\r\n" % len(body) + body + b"\r\n0\r\n\r\n")
    eq(status, 201, "a chunked body (coding names are case-insensitive)")
    check(tried >= 20, f"{tried} framings tried")


@test
def long_query_strings_answered():
    """Request targets of 1 to 70 KB, with one long argument or many
    short ones: each gets an answer (200, or 414 beyond 32 KiB or 256
    arguments), never silence."""
    d = shared("limits-framing", args=["--login-delay", "0"])
    auth = b"Authorization: " + basic("admin", d.users["admin"][0]).encode() + b"\r\n"
    for kb in (1, 8, 14, 17, 31, 33, 60, 70):
        size = kb * 1024
        one = b"x=" + b"a" * (size - 2)
        many = b"&".join(b"a%d=b" % i for i in range(size // 8))[:size]
        few = b"&".join(b"k%d=" % i + b"v" * 30 for i in range(min(256, size // 40)))
        for shape, query in (("one argument", one), ("many arguments", many),
                             ("up to 256 arguments", few)):
            if not query:
                continue
            target = b"/cimi/cloudEntryPoint?" + query
            want = 414 if len(target) > 32768 or query.count(b"&") + 1 > 256 else 200
            s = socket.create_connection(("127.0.0.1", d.port), timeout=10)
            try:
                s.sendall(b"GET " + target + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n" + auth
                          + b"\r\n")
                data, _ = read_all(s, 5)
            finally:
                s.close()
            got = statuses_in(data)
            check(got, f"{kb} KB query, {shape}: no answer within 5 s")
            eq(got[0], want, f"{kb} KB query ({len(target)} bytes of target), {shape}: status")


# ---------------------------------------------------------------- bodies before authentication

MIB = 1024 * 1024


def rss_bytes(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


def start_upload(d, auth_header, length=MIB):
    """A POST announcing a body of length bytes; sends what the socket takes
    without blocking (all of it if the server reads).  Returns the socket."""
    s = socket.create_connection(("127.0.0.1", d.port), timeout=10)
    s.sendall(b"POST /cimi/machineConfigs HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
              + auth_header + b"Content-Length: %d\r\n\r\n" % length)
    s.setblocking(False)
    return s


def push(s, left):
    """Send up to left more body bytes without blocking; the bytes sent."""
    try:
        return s.send(b" " * min(left, 65536))
    except (BlockingIOError, InterruptedError):
        return 0
    except OSError:
        return -1


@test
def unauthenticated_bodies_are_not_read():
    """300 connections without valid credentials (none, or a wrong password
    whose answer the login delay holds) each announcing and sending 1 MiB:
    none of the bodies is read, so the daemon's memory hardly grows, and
    each gets its 401."""
    d = Daemon(name="limits-bodies", args=["--address-connection-limit", "0",
                                           "--anonymous-rate-limit", "0"])
    d.start()
    socks = []
    try:
        time.sleep(0.5)
        before = rss_bytes(d.proc.pid)
        wrong = b"Authorization: " + basic("alice", "not-her-password").encode() + b"\r\n"
        for i in range(300):
            socks.append([start_upload(d, wrong if i % 10 == 0 else b""), MIB, 0])
        # Push the bodies until nothing moves any more for 2 s (the server
        # reads none, the sockets' buffers are full) or all are sent.  Each
        # wrong password's check costs yescrypt's working memory (16 MiB a
        # thread) while it runs: what is left then is what the bodies hold.
        idle_since = time.monotonic()
        give_up = idle_since + 60
        while time.monotonic() - idle_since < 2 and time.monotonic() < give_up:
            moved = 0
            for entry in socks:
                if entry[1] > 0:
                    n = push(entry[0], entry[1])
                    if n > 0:
                        entry[1] -= n
                        moved += n
                    elif n < 0:
                        entry[2] += entry[1]      # refused: the rest never went out
                        entry[1] = 0
            if moved:
                idle_since = time.monotonic()
            else:
                time.sleep(0.1)
        during = max(rss_bytes(d.proc.pid) for _ in range(5) if time.sleep(0.05) is None)
        growth = (during - before) / MIB
        sent = sum(MIB - left - unsent for _, left, unsent in socks) / MIB
        print(f"    # VmRSS {before / MIB:.0f} MiB before, {during / MIB:.0f} MiB during 300 "
              f"unauthenticated 1 MiB uploads (+{growth:.0f} MiB; the clients got {sent:.0f} MiB "
              f"into their sockets)")
        check(growth < 50, f"the daemon grew by {growth:.0f} MiB under 300 unauthenticated "
                           f"1 MiB uploads (bodies read before authentication?)")
        answered = 0
        for s, _, _ in socks[:20]:
            s.setblocking(True)
            s.settimeout(15)
            try:
                data, _ = read_all(s, 15)
            except OSError:
                data = b""
            if statuses_in(data)[:1] == [401]:
                answered += 1
        eq(answered, 20, "each of the first 20 got its 401")
    finally:
        for s, _, _ in socks:
            s.close()
        d.stop()


@test
def expect_100_continue_only_after_authentication():
    """`Expect: 100-continue` without valid credentials gets its 401 and no
    `100 Continue`; with them, 100 Continue and then the answer."""
    d = shared("limits-framing", args=["--login-delay", "0"])
    for auth, want in ((b"", 401),
                       (b"Authorization: " + basic("alice", "wrong-password").encode() + b"\r\n", 401),
                       (b"Authorization: " + basic("admin", d.users["admin"][0]).encode() + b"\r\n",
                        100)):
        s = socket.create_connection(("127.0.0.1", d.port), timeout=10)
        try:
            s.sendall(b"POST /cimi/machineConfigs HTTP/1.1\r\nHost: x\r\nContent-Type: "
                      b"application/json\r\nExpect: 100-continue\r\n" + auth
                      + b"Content-Length: 1048576\r\n\r\n")
            s.settimeout(5)
            first = s.recv(200)
        finally:
            s.close()
        got = statuses_in(first)
        check(got, f"an answer to the headers alone (got {first[:80]!r})")
        eq(got[0], want, "the first status line")


@test
def body_budget_503():
    """--max-buffered-bodies bounds what all connections together buffer:
    an authenticated upload that does not fit is answered 503 with
    Retry-After, before its body is read; the budget is back once the
    others end."""
    d = shared("limits-budget", args=["--max-body", "1048576", "--max-buffered-bodies", "2097152"])
    auth = b"Authorization: " + basic("admin", d.users["admin"][0]).encode() + b"\r\n"
    # Expect: 100-continue: the 100 shows that the body's share was taken.
    expect = auth + b"Expect: 100-continue\r\n"
    held = [start_upload(d, expect, 1048576 - 1), start_upload(d, expect, 1048576)]
    try:
        for s in held:
            s.setblocking(True)
            s.settimeout(10)
            eq(statuses_in(s.recv(100))[:1], [100], "an admitted upload is asked for its body")
        status, headers, body = raw_exchange(
            d, b"POST /cimi/machineConfigs HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            + auth + b"Content-Length: 10\r\n\r\n")
        eq(status, 503, "a third body beyond the budget of 2 MiB")
        check(headers.get("retry-after", "").isdigit(), f"Retry-After: {headers.get('retry-after')!r}")
        isin(b'"returnCode": 503', body, "a CIMI error document")
    finally:
        for s in held:
            s.close()
    cfg = {"resourceURI": NS + "/MachineConfiguration", "name": "after-budget", "cpu": 1,
           "memory": 1048576}
    deadline = time.monotonic() + 10
    while True:
        r = Client(d, "admin").post(d.url + "/cimi/machineConfigs", cfg)
        if r.status != 503 or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    eq(r.status, 201, "served again once the held uploads are gone")


@test
def address_connection_limit_default():
    """By default one address may hold an eighth of --connection-limit: its
    further connections are closed, and a client from another address is
    served at once."""
    d = shared("limits-addr-default", args=["--connection-limit", "32", "--http-threads", "2"])
    time.sleep(1)          # the harness's start-up probe connection is gone
    hogs = []
    try:
        for _ in range(32):
            try:
                hogs.append(socket.create_connection(("127.0.0.1", d.port), timeout=5))
            except OSError:
                break
        time.sleep(0.5)
        alive = sum(1 for s in hogs if not closed_by_server(s, 0.2))
        check(alive <= 4, f"{alive} idle connections from 127.0.0.1 kept open (limit 32 / 8 = 4)")
        other = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        other.settimeout(5)
        other.bind(("127.0.0.2", 0))
        other.connect(("127.0.0.1", d.port))
        try:
            other.sendall(b"GET /cimi/cloudEntryPoint HTTP/1.1\r\nHost: x\r\nAuthorization: "
                          + basic("admin", d.users["admin"][0]).encode() + b"\r\n\r\n")
            eq(read_response(other)[0], 200, "a client from 127.0.0.2 is served")
        finally:
            other.close()
    finally:
        for s in hogs:
            s.close()


# ---------------------------------------------------------------- exact anonymous limit

def parallel_wrong_logins(d, n):
    """n wrong-password requests from one address at once: their (status,
    seconds from the start to the answer)."""
    barrier = threading.Barrier(n + 1)
    results = []
    lock = threading.Lock()

    def one(i):
        s = socket.create_connection(("127.0.0.1", d.port), timeout=60)
        try:
            barrier.wait(30)
            s.sendall(b"GET /cimi/cloudEntryPoint HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                      b"Authorization: " + basic("alice", f"wrong-{i}").encode() + b"\r\n\r\n")
            status = read_response(s)[0]
        finally:
            s.close()
        with lock:
            results.append((status, time.monotonic() - started[0]))

    started = [0.0]
    threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    started[0] = time.monotonic()
    barrier.wait(30)
    for t in threads:
        t.join(90)
    return results


@test
def anonymous_limit_exact_under_parallel_load():
    """60 wrong passwords at once from one address, 16 HTTP threads, a burst
    of 20 and 1 token a second: no more are checked (answered 401, logged as
    failed logins) than the burst plus the tokens earned until the last 429,
    the rest get 429 — with the login delay off and on."""
    for delay in ("0", "250"):
        d = Daemon(name=f"limits-exact-{delay}",
                   args=["--anonymous-rate-limit", "1", "--anonymous-rate-burst", "20",
                         "--http-threads", "16", "--address-connection-limit", "0",
                         "--login-delay", delay])
        d.start()
        try:
            time.sleep(1.5)                 # the start-up probe's token is back
            before = d.log_text().count("failed login")
            results = parallel_wrong_logins(d, 60)
            eq(len(results), 60, f"delay {delay}: answers")
            statuses = [st for st, _ in results]
            unauthorized = statuses.count(401)
            eq(statuses.count(429), 60 - unauthorized, f"delay {delay}: the others are 429")
            # The bucket is full (20) when they start and earns 1 token a
            # second: by the last 429 it can have allowed 20 + whole seconds.
            decided = max([t for st, t in results if st == 429] or [0.0])
            allowed = 20 + int(decided)
            check(20 <= unauthorized <= allowed,
                  f"delay {delay}: {unauthorized} passwords checked (401) for a burst of 20 and "
                  f"1/s, the last 429 after {decided:.1f} s (at most {allowed})")
            wait_log(d, "failed login", count=before + unauthorized)
            eq(d.log_text().count("failed login") - before, unauthorized,
               f"delay {delay}: failed-login log lines = 401 answers")
        finally:
            d.stop()
