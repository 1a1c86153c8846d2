"""Where image downloads may go, and how long they may take (issue 11,
items 1 and 2).

A MachineImage with an http(s) imageLocation makes cimid fetch it; a tenant
must not use that to reach the host's own services or internal networks.
By default cimid refuses, at the socket it is about to connect (every
resolved address, every redirect), loopback, private, link-local,
unique-local, multicast and the host's own addresses, however the URL
spells them; `--download-allow` (admin) lets named networks or hosts
through.  The Job then says "refused: destination not allowed" and nothing
else: no status, size, digest or connection detail of what was refused,
and the loopback servers below count that no request ever reached them.
Downloads slower than `--download-min-speed` over
`--download-min-speed-time`, or longer than `--download-timeout`, fail."""

import hashlib
import http.server
import os
import socket
import subprocess
import tempfile
import threading
import time

import cimitest
from cimitest import (check_created, CIMID_BIN, NS, Client, Daemon, check, eq, isin, notin, shared, test)

PAYLOAD = bytes(range(256)) * 64          # 16 KiB, whole sectors: a raw image if fetched
PAYLOAD_SHA = hashlib.sha256(PAYLOAD).hexdigest()
REFUSED = "refused: destination not allowed"


class CountingServer:
    """A loopback HTTP server that counts the requests it gets for content
    (redirects not counted): /disk.raw (PAYLOAD), /redirect?URL (302 to URL), /trickle (100 bytes
    every 0.5 s), /steady (8 KiB every 0.25 s, fast but endless)."""

    def __init__(self, host="127.0.0.1"):
        self.requests = self.redirects = 0
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"

            def log_message(self, *args):
                pass

            def do_GET(self):
                path, _, query = self.path.partition("?")
                if path == "/redirect":
                    server.redirects += 1
                    self.send_response(302)
                    self.send_header("Location", query)
                    self.end_headers()
                    return
                server.requests += 1
                if path not in ("/disk.raw", "/trickle", "/steady"):
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Type", "application/octet-stream")
                if path == "/disk.raw":
                    self.send_header("Content-Length", str(len(PAYLOAD)))
                self.end_headers()
                try:
                    if path == "/disk.raw":
                        self.wfile.write(PAYLOAD)
                        return
                    piece, pause = (100, 0.5) if path == "/trickle" else (8192, 0.25)
                    for _ in range(int(60 / pause)):
                        self.wfile.write(b"\0" * piece)
                        self.wfile.flush()
                        time.sleep(pause)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # cimid gave up

        family = socket.AF_INET6 if ":" in host else socket.AF_INET

        class Server(http.server.ThreadingHTTPServer):
            address_family = family

        self.httpd = Server((host, 0), Handler)
        self.httpd.daemon_threads = True
        self.host, self.port = host, self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def url(self, path="disk.raw", host=None):
        host = host or (f"[{self.host}]" if ":" in self.host else self.host)
        return f"http://{host}:{self.port}/{path}"


_servers = {}


def server(host="127.0.0.1"):
    """The shared server on host (None if nothing can listen there)."""
    if host not in _servers:
        try:
            _servers[host] = CountingServer(host)
        except OSError:
            _servers[host] = None
    return _servers[host]


def daemon(key, *args):
    """A shared cimid keeping downloads in its own storage directory."""
    storage = tempfile.mkdtemp(prefix=f"cimitest-{key}-storage-")
    cimitest._tmpdirs.append(storage)
    d = shared(key, args=["--storage-dir", storage, *args])
    if not hasattr(d, "storage"):
        d.storage = storage
    return d


def stored(d):
    return sorted(os.listdir(os.path.join(d.storage, "images")))


def fetch(c, url, expect="FAILED", rtype="MachineImage"):
    """Create a MachineImage (or rtype: VolumeImage) from url; the Job's final
    document and the image (expect: the Job's outcome; None: not checked here)."""
    coll = rtype[0].lower() + rtype[1:] + "s"
    r = c.post(c.add_href(coll), {"resourceURI": NS + "/" + rtype, "name": "fetched",
                                  "imageLocation": url})
    check_created(r, f"create {rtype} from {url}")
    if r.status == 202:  # its Job not done yet (a 201 shows the finished image)
        eq(r.doc.get("state"), "CREATING", f"a {rtype} from {url} is CREATING until fetched")
    job = c.wait_job(r.header("CIMI-Job-URI"), expect=expect, timeout=90)
    img = c.read(r.header("Location"))
    ended = expect or job.get("state")   # expect None: whatever the Job's outcome was
    eq(img.get("state"), "AVAILABLE" if ended == "SUCCESS" else "ERROR", f"image from {url}")
    return job, img


def assert_refused(c, d, url, servers, via=None, rtype="MachineImage"):
    """url is refused before any connection: the exact message, no request
    reached any of servers, no file kept, and the message tells nothing of
    the target.  via: the allowed server whose redirect led there."""
    before = [s.requests for s in servers]
    redirects = via.redirects if via else 0
    files = stored(d)
    job, img = fetch(c, url, rtype=rtype)
    msg = job.get("statusMessage") or ""
    eq(msg, REFUSED, f"the Job of {url} says only that the destination is refused")
    for leak in (PAYLOAD_SHA, str(len(PAYLOAD)), "200", "HTTP", "connect", "127.", "::1"):
        notin(leak, msg, f"the message for {url} tells nothing of the target")
    eq([s.requests for s in servers], before, f"{url}: no request for content reached a server")
    eq(stored(d), files, f"{url}: no file kept")
    if via is not None:
        eq(via.redirects, redirects + 1, f"{url}: the allowed first hop was made")
    eq(c.delete(img["id"]).status, 200, "the refused image can be deleted")


def own_addresses():
    """The host's non-loopback addresses (from `ip`, when there is one)."""
    try:
        out = subprocess.run(["ip", "-o", "addr", "show"], capture_output=True, text=True,
                             timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    found = []
    for line in out.splitlines():
        words = line.split()
        if len(words) > 3 and words[2] in ("inet", "inet6"):
            addr = words[3].split("/")[0]
            if not addr.startswith(("127.", "::1", "fe80:")):
                found.append(addr)
    return found


@test
def download_refuses_internal_destinations_by_default():
    """Every spelling of loopback, the unspecified address and the host's own
    addresses are refused at connect time by a cimid without --download-allow;
    the same server is reachable once allowed (next test)."""
    d = daemon("dl-default")
    c = Client(d, "alice")
    s = server()
    servers = [s]
    port = s.port
    urls = [s.url(),                                        # 127.0.0.1
            s.url(host="localhost"),                        # a name resolving to loopback
            s.url(host="127.0.0.2"), s.url(host="127.255.255.254"),  # the rest of 127/8
            f"http://2130706433:{port}/disk.raw",           # 127.0.0.1 as one decimal number
            f"http://0x7f000001:{port}/disk.raw",           # ... in hexadecimal
            f"http://0177.0.0.1:{port}/disk.raw",           # ... in octal
            f"http://127.1:{port}/disk.raw",                # ... shortened
            f"http://[::ffff:127.0.0.1]:{port}/disk.raw",   # IPv4-mapped IPv6
            f"http://0.0.0.0:{port}/disk.raw",              # unspecified
            f"https://127.0.0.1:{port}/disk.raw",           # https alike
            s.url("redirect?" + s.url())]                   # even the first hop
    v6 = server("::1")
    if v6 is not None:
        servers.append(v6)
        urls += [v6.url(), f"http://[::1]:{v6.port}/disk.raw",
                 f"http://[0:0:0:0:0:0:0:1]:{v6.port}/disk.raw"]
    for addr in own_addresses()[:3]:
        own = server(addr)
        if own is not None:
            servers.append(own)
            urls.append(own.url())
    for url in urls:
        assert_refused(c, d, url, servers)
    # An admin's download is refused alike: the allow list is the only way through.
    assert_refused(Client(d, "admin"), d, s.url(), servers)


@test
def download_allow_lets_a_mirror_through_but_not_its_redirects():
    """--download-allow 127.0.0.1/32: the mirror works; a redirect from it to
    another loopback address (a second server listening there) is refused,
    and the message is the same as for a direct request."""
    d = daemon("dl-allow", "--download-allow", "127.0.0.1/32")
    c = Client(d, "alice")
    s, other = server(), server("127.0.0.2")
    check(other is not None, "a server can listen on 127.0.0.2")
    job, img = fetch(c, s.url(), expect="SUCCESS")
    isin(str(len(PAYLOAD)), job.get("statusMessage", ""), "the allowed download reports its size")
    eq(c.delete(img["id"]).status, 200, "delete the downloaded image")
    for target in (other.url(), f"http://2130706434:{other.port}/disk.raw"):  # 127.0.0.2
        assert_refused(c, d, s.url("redirect?" + target), [other], via=s)
    assert_refused(c, d, other.url(), [other])
    v6 = server("::1")
    if v6 is not None:
        assert_refused(c, d, s.url("redirect?" + v6.url()), [v6], via=s)


@test
def download_allow_by_host_name():
    """--download-allow localhost: URLs whose host is `localhost` pass (their
    resolved loopback address with them); the same address named otherwise,
    also through a redirect from the allowed host, is refused."""
    d = daemon("dl-host", "--download-allow", "localhost")
    c = Client(d, "alice")
    s = server()
    job, img = fetch(c, s.url(host="localhost"), expect="SUCCESS")
    eq(c.delete(img["id"]).status, 200, "delete the downloaded image")
    assert_refused(c, d, s.url(), [s])
    assert_refused(c, d, s.url("redirect?" + s.url(), host="localhost"), [s], via=s)


@test
def download_connect_failures_say_one_thing():
    """An allowed destination where nothing listens: the message says only
    that no connection was made (not refused vs timed out: a port scan)."""
    d = daemon("dl-allow", "--download-allow", "127.0.0.1/32")
    c = Client(d, "alice")
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    closed = probe.getsockname()[1]
    probe.close()
    job, img = fetch(c, f"http://127.0.0.1:{closed}/x.raw")
    eq(job.get("statusMessage"), "download failed: could not connect", "one connect failure message")
    eq(c.delete(img["id"]).status, 200, "delete")


@test
def download_too_slow_or_too_long():
    """--download-min-speed 1024 over 2 s: a trickle of 200 bytes/s fails as
    too slow; --download-timeout 5: a steady 32 KiB/s without end fails as
    timed out.  Neither keeps a file."""
    d = daemon("dl-slow", "--download-allow", "127.0.0.1/32", "--download-min-speed", "1024",
               "--download-min-speed-time", "2", "--download-timeout", "5")
    c = Client(d, "alice")
    s = server()
    job, img = fetch(c, s.url("trickle"))
    isin("download failed: too slow", job.get("statusMessage", ""), "a trickle is too slow")
    eq(c.delete(img["id"]).status, 200, "delete")
    job, img = fetch(c, s.url("steady"))
    isin("download failed: timed out", job.get("statusMessage", ""), "an endless download times out")
    eq(c.delete(img["id"]).status, 200, "delete")
    eq(stored(d), [], "no file kept")


def start_fails(*args, config=None):
    """cimid serve with args (and a config file's text): its exit status and stderr."""
    tmp = tempfile.mkdtemp(prefix="cimitest-dl-options-")
    cimitest._tmpdirs.append(tmp)
    argv = [CIMID_BIN, "serve", "--port", "0", "--database", os.path.join(tmp, "db"), *args]
    if config is not None:
        path = os.path.join(tmp, "cimid.conf")
        with open(path, "w") as f:
            f.write(config)
        argv += ["--config", path]
    r = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    return r.returncode, r.stderr


@test
def download_options_refuse_bad_values():
    """A bad --download-allow entry (or config-file line), or a download
    limit out of its range, stops cimid at once with a message naming it."""
    bad = ["10.0.0.0/33", "10.0.0.0/", "10.0.0.0/8x", "1.2.3.4/-1", "300.1.1.1", "1.2.3",
           "fe80::/129", "fe80:::1/64", "mirror..example", "-mirror.example", "mirror_example",
           "http://mirror.example", "mirror.example/8", "127.0.0.1/32,,bad host", "a" * 64 + ".x"]
    for value in bad:
        status, err = start_fails("--download-allow", value)
        eq(status, 2, f"--download-allow {value!r} refused (stderr {err!r})")
        isin("download-allow", err, f"the message names the option ({value!r})")
    good = "127.0.0.1/32, ::1, fd00::/8,10.1.2.3/8,mirror.example,Mirror-2.Example.,localhost"
    with Daemon(name="dl-good-list", args=["--download-allow", good]) as d:
        check(d.alive(), f"--download-allow {good!r} is accepted")
    status, err = start_fails(config="download-allow = 127.0.0.1/40\n")
    eq(status, 2, f"a bad download-allow line in the config file ({err!r})")
    isin("download-allow", err, "the message names the key")
    for option, value in (("--download-min-speed", "-1"), ("--download-min-speed-time", "0"),
                          ("--download-timeout", "0"), ("--download-timeout", "x")):
        status, err = start_fails(option, value)
        eq(status, 2, f"{option} {value} refused ({err!r})")
        isin(option[2:], err, "the message names the option")
