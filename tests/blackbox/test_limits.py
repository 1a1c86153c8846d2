"""Limits and authentication hardening: the per-user rate limit (429 with
Retry-After and a CIMI error document, set in a config file), the per-address
limit for requests without valid credentials, the growing and capped delay of
failed logins (which holds no server thread and does not stop a clean
shutdown), passwords kept out of the log, and, over raw sockets on loopback:
oversized headers (431) and request lines (414), slowloris clients trickling
a header, a body or a TLS handshake (cut off after --connection-timeout
while others are served), idle keep-alive connections, --connection-limit and
--address-connection-limit."""

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
    d = shared("limits-conn", args=["--connection-limit", "3", "--http-threads", "1"])
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
                      ("%ed%a0%80", b"%ed%a0%80"), ("%08", b"%08%08%08%08")):
        yield name, enc + forged


def log_is_clean(d, before):
    raw = d.log_text_bytes()[before:]
    for line in raw.split(b"\n")[:-1]:
        for byte, what in ((b"\r", "CR"), (b"\x1b", "ESC"), (b"\x00", "NUL"), (b"\x7f", "DEL")):
            check(byte not in line, f"a raw {what} in a log line: {line[:160]!r}")
        try:
            line.decode("utf-8")
        except UnicodeDecodeError as e:
            raise AssertionError(f"a log line that is not valid UTF-8 ({e}): {line[:160]!r}")
        check(LOG_LINE.match(line), f"a log line without the timestamp and level prefix: {line[:160]!r}")
        check(not line.startswith(FORGED.encode()[:24]), f"a forged log line: {line[:160]!r}")


@test
def log_injection_escaped():
    """Control characters and invalid UTF-8 from a request (path, query, user
    name, headers; percent-encoded or raw) reach the log escaped: every line
    starts with the daemon's own timestamp and level, none is forged."""
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
