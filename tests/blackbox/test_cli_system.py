"""`cimi system ...` and `cimi package ...`: the client's System commands
against a real cimid on loopback (test:///default).

Covered: `system template list/show`; `system create --template` (and
--file), list, show, the member sub-collection, stop, start, delete (the
members gone with it); `system import FILE` (the OVA built here with
qemu-img and tarfile is uploaded as a Package, byte for byte: its size and
sha256 on the server are the file's; with --wait the System is printed, the
uploaded Package kept), `system template import FILE` (the SystemTemplate
printed, its importImage the uploaded Package), `system import URL` (the
URL is the Action's source: served from a loopback server, and a URL that
fails makes a FAILED Job, exit 9); `system export SYSTEM FILE` and `system
template export` (a tar whose first member is the .ovf, equal to the
Package the server made); `package upload` and `package download` (byte for
byte; 256 MiB each way with the client's peak RSS far below that: streamed), a
download resumed with Range/If-Range after a proxy cuts the
connection in the middle; the progress output (`--progress lines` and `bar`
forced without a terminal, nothing by default without one, the bar on a
pseudo-terminal); errors: usage, a missing file, an .ovf given alone, an
unknown System, another tenant's System and Package, an unwritable FILE
(nothing asked of the server), a server refusing the upload (--max-upload),
each one line with the documented exit code."""

import hashlib
import os
import re
import socket
import subprocess
import sys
import tarfile
import tempfile
import threading
import http.server

import cimitest
from cimitest import NS, Client, Daemon, check, eq, free_port, isin, notin, shared, test
from test_cli import (CLI_BIN, CLIENT, JOB, NOT_FOUND, OK, USAGE, cimi, creds_env, fails, ok,
                      on_a_terminal, table)

TIMEOUT = "120"
DISK_MIB = 4          # the test OVA's disk: random bytes, so that it does not compress


def _storage():
    d = tempfile.mkdtemp(prefix="cimitest-cli-system-")
    cimitest._tmpdirs.append(d)
    return d


def daemon():
    return shared("cli-system", args=("--storage-dir", _storage(), "--download-allow",
                                      "127.0.0.1/32"))


def env_for(user="admin", d=None):
    return creds_env(d or daemon(), user)


def admin():
    return Client(daemon(), "admin")


def workdir():
    d = tempfile.mkdtemp(prefix="cimitest-cli-system-work-")
    cimitest._tmpdirs.append(d)
    return d


def sha256_of(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


# ---------------------------------------------------------------- a package

OVF = """<?xml version="1.0" encoding="UTF-8"?>
<Envelope xmlns="http://schemas.dmtf.org/ovf/envelope/1"
    xmlns:ovf="http://schemas.dmtf.org/ovf/envelope/1"
    xmlns:rasd="http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_ResourceAllocationSettingData"
    xmlns:vssd="http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_VirtualSystemSettingData">
  <References>
    <File ovf:id="file1" ovf:href="disk1.vmdk" ovf:size="{size}"/>
  </References>
  <DiskSection>
    <Info>Virtual disks</Info>
    <Disk ovf:diskId="disk1" ovf:fileRef="file1" ovf:capacity="{capacity}"
        ovf:format="http://www.vmware.com/interfaces/specifications/vmdk.html#streamOptimized"/>
  </DiskSection>
  <NetworkSection>
    <Info>Networks</Info>
    <Network ovf:name="lan"><Description>the private network</Description></Network>
  </NetworkSection>
  <VirtualSystem ovf:id="{name}">
    <Info>A web server</Info>
    <Name>{name}</Name>
    <VirtualHardwareSection>
      <Info>Hardware</Info>
      <Item>
        <rasd:ElementName>1 virtual CPU</rasd:ElementName>
        <rasd:InstanceID>1</rasd:InstanceID>
        <rasd:ResourceType>3</rasd:ResourceType>
        <rasd:VirtualQuantity>1</rasd:VirtualQuantity>
      </Item>
      <Item>
        <rasd:AllocationUnits>byte * 2^20</rasd:AllocationUnits>
        <rasd:ElementName>512 MB of memory</rasd:ElementName>
        <rasd:InstanceID>2</rasd:InstanceID>
        <rasd:ResourceType>4</rasd:ResourceType>
        <rasd:VirtualQuantity>512</rasd:VirtualQuantity>
      </Item>
      <Item>
        <rasd:Address>0</rasd:Address>
        <rasd:ElementName>SCSI controller</rasd:ElementName>
        <rasd:InstanceID>3</rasd:InstanceID>
        <rasd:ResourceSubType>lsilogic</rasd:ResourceSubType>
        <rasd:ResourceType>6</rasd:ResourceType>
      </Item>
      <Item>
        <rasd:AddressOnParent>0</rasd:AddressOnParent>
        <rasd:ElementName>disk 1</rasd:ElementName>
        <rasd:HostResource>ovf:/disk/disk1</rasd:HostResource>
        <rasd:InstanceID>4</rasd:InstanceID>
        <rasd:Parent>3</rasd:Parent>
        <rasd:ResourceType>17</rasd:ResourceType>
      </Item>
      <Item>
        <rasd:AutomaticAllocation>true</rasd:AutomaticAllocation>
        <rasd:Connection>lan</rasd:Connection>
        <rasd:ElementName>ethernet 1</rasd:ElementName>
        <rasd:InstanceID>5</rasd:InstanceID>
        <rasd:ResourceType>10</rasd:ResourceType>
      </Item>
    </VirtualHardwareSection>
  </VirtualSystem>
</Envelope>
"""


def make_ova(directory, name="cli-web", disk_mib=DISK_MIB):
    """An OVA: NAME.ovf first, a streamOptimized vmdk of random bytes (made
    with qemu-img), a SHA-256 manifest.  Returns its path."""
    raw = os.path.join(directory, "disk1.raw")
    with open(raw, "wb") as f:
        f.write(os.urandom(disk_mib << 20))
    vmdk = os.path.join(directory, "disk1.vmdk")
    subprocess.run(["qemu-img", "convert", "-f", "raw", "-O", "vmdk", "-o",
                    "subformat=streamOptimized", raw, vmdk], check=True, capture_output=True)
    ovf = os.path.join(directory, f"{name}.ovf")
    with open(ovf, "w") as f:
        f.write(OVF.format(size=os.path.getsize(vmdk), capacity=disk_mib << 20, name=name))
    mf = os.path.join(directory, f"{name}.mf")
    with open(mf, "w") as f:
        for p in (ovf, vmdk):
            f.write(f"SHA256({os.path.basename(p)})= {sha256_of(p)}\n")
    ova = os.path.join(directory, f"{name}.ova")
    with tarfile.open(ova, "w", format=tarfile.USTAR_FORMAT) as t:
        for p in (ovf, mf, vmdk):
            t.add(p, arcname=os.path.basename(p))
    return ova


def packages(c):
    return cimitest.coll_items(c.list("packages"))


# ---------------------------------------------------------------- a System

def make_template(c, name, quantity=2):
    """A SystemTemplate of `quantity` machines from the catalog's small-debian."""
    tpl = c.read(c.coll("machineTemplates") + "/small-debian")
    body = {"resourceURI": NS + "/SystemTemplate", "name": name,
            "componentDescriptors": [{"name": "web", "type": NS + "/Machine",
                                      "machineTemplate": {"href": tpl["id"]},
                                      "quantity": quantity}]}
    r = c.post(c.add_href("systemTemplates"), body)
    check(r.status in (201, 202), f"SystemTemplate created: {r.status} {r.body[:300]!r}")
    return r.header("Location") or r.doc["id"]


def make_system(name, template=None, user="admin"):
    """A System made with the client from a new template; its document."""
    c = Client(daemon(), user)
    template = template or make_template(c, f"{name}-tpl")
    r = ok(cimi("system", "create", "--template", template, "--name", name, "--wait",
                "--timeout", TIMEOUT, "-o", "json", env=env_for(user)))
    return r.json()


# ---------------------------------------------------------------- usage

@test
def usage_errors():
    env = env_for()
    fails(cimi("system", "create", env=env), USAGE, "--template")
    fails(cimi("system", "create", "--template", "t", "--file", "f", env=env), USAGE, "not both")
    fails(cimi("system", "create", "--config", "m1-small", env=env), USAGE,
          "--config does not apply")
    fails(cimi("system", "import", env=env), USAGE, "missing arguments")
    fails(cimi("system", "export", "s", env=env), USAGE, "missing arguments")
    fails(cimi("system", "import", "a", "b", env=env), USAGE, "too many")
    fails(cimi("system", "import", "x.ova", "--progress", "fast", env=env), USAGE, "--progress")
    fails(cimi("system", "list", "--progress", "bar", env=env), USAGE,
          "--progress does not apply")
    fails(cimi("machine", "create", "--name", "x", "--progress", "none", env=env), USAGE,
          "--progress does not apply")
    r = ok(cimi("--help"))
    for words in ("system import FILE|URL", "system export SYSTEM FILE", "--progress MODE",
                  "system template"):
        isin(words, r.out, "--help mentions")


# ---------------------------------------------------------------- templates and systems

@test
def template_list_and_show():
    c = admin()
    href = make_template(c, "cli-tpl-show")
    doc = c.read(href)
    titles, rows = table(ok(cimi("system", "template", "list", env=env_for())))
    isin("cli-tpl-show", [row["NAME"] for row in rows], "system template list")
    eq(ok(cimi("system", "template", "list", "-o", "ids", env=env_for())).lines(),
       [i["id"] for i in cimitest.coll_items(c.list("systemTemplates"))],
       "system template list -o ids")
    eq(ok(cimi("system", "template", "show", "cli-tpl-show", "-o", "json",
               env=env_for())).json(), doc, "system template show")
    eq(ok(cimi("system", "template", env=env_for(), )).out,
       ok(cimi("list", "systemTemplates", env=env_for())).out, "system template = list")
    fails(cimi("system", "template", "show", "no-such-template", env=env_for()), NOT_FOUND,
          "no-such-template")


@test
def create_list_show_stop_start_delete():
    c = admin()
    s = make_system("cli-sys")
    eq(s.get("name"), "cli-sys", "the System printed after create --wait")
    sid = s["id"]
    titles, rows = table(ok(cimi("system", "list", env=env_for())))
    isin("cli-sys", [row["NAME"] for row in rows], "system list")
    eq(ok(cimi("system", "show", "cli-sys", "-o", "ids", env=env_for())).out.strip(), sid,
       "system show by name")
    r = ok(cimi("system", "show", sid.rsplit("/", 1)[1], env=env_for()))
    check(re.search(r"^state +STARTED$", r.out, re.M), f"system show: state STARTED: {r.out!r}")
    members = ok(cimi("list", "systems", "cli-sys", "machines", "-o", "json",
                      env=env_for())).json()
    machines = [m["machine"]["href"] for m in cimitest.coll_items(members)]
    eq(len(machines), 2, "two machines in the System")
    r = ok(cimi("system", "stop", "cli-sys", "--wait", "--timeout", TIMEOUT, "-o", "json",
                env=env_for()))
    eq(r.json().get("state"), "SUCCESS", "system stop --wait prints the finished Job")
    eq(c.read(sid)["state"], "STOPPED", "the System stopped")
    for m in machines:
        eq(c.read(m)["state"], "STOPPED", "its machines stopped")
    ok(cimi("system", "start", "cli-sys", "--wait", "--timeout", TIMEOUT, env=env_for()))
    eq(c.read(sid)["state"], "STARTED", "the System started again")
    r = ok(cimi("system", "delete", "cli-sys", "--wait", "--timeout", TIMEOUT, "-o", "json",
                env=env_for()))
    eq(r.json().get("state"), "SUCCESS", "system delete --wait")
    eq(c.get(sid).status, 404, "the System is gone")
    for m in machines:
        eq(c.get(m).status, 404, "its machines went with it")
    fails(cimi("system", "show", "cli-sys", env=env_for()), NOT_FOUND, "cli-sys")


@test
def create_from_a_file():
    c = admin()
    href = make_template(c, "cli-file-tpl", quantity=1)
    path = os.path.join(workdir(), "create.json")
    with open(path, "w") as f:
        f.write('{"resourceURI": "%s/SystemCreate", "systemTemplate": {"href": "%s"}}'
                % (NS, href))
    r = ok(cimi("system", "create", "--file", path, "--name", "cli-from-file", "--wait",
                "--timeout", TIMEOUT, "-o", "json", env=env_for()))
    eq(r.json().get("name"), "cli-from-file", "system create --file with --name")
    ok(cimi("system", "delete", "cli-from-file", "--wait", "--timeout", TIMEOUT, env=env_for()))


# ---------------------------------------------------------------- import

@test
def import_uploads_the_file_as_a_package():
    """Without --wait: the Job is printed, the Package holds the file's bytes."""
    c = admin()
    ova = make_ova(workdir(), "cli-upload")
    before = {p["id"] for p in packages(c)}
    r = ok(cimi("system", "import", ova, "-o", "json", env=env_for()))
    job = r.json()
    check(job.get("resourceURI", "").endswith("/Job"), f"the import's Job printed: {r.out[:300]!r}")
    new = [p for p in packages(c) if p["id"] not in before]
    eq(len(new), 1, "one Package uploaded")
    pkg = c.read(new[0]["id"])
    eq(pkg.get("name"), "cli-upload.ova", "the Package is named after the file")
    eq(pkg.get("size"), os.path.getsize(ova), "the Package's size is the file's")
    eq(pkg.get("sha256"), sha256_of(ova), "the Package's sha256 is the file's")
    eq(r.err, "", "no progress output without a terminal (--progress auto)")
    c.wait_job(job["id"], expect=None, timeout=120)


@test
def import_with_wait_prints_the_system():
    c = admin()
    ova = make_ova(workdir(), "cli-imported")
    before = {p["id"] for p in packages(c)}
    r = ok(cimi("system", "import", ova, "--wait", "--timeout", TIMEOUT, "-o", "json",
                env=env_for()))
    s = r.json()
    check(s.get("resourceURI", "").endswith("/System"), f"a System printed: {r.out[:300]!r}")
    members = cimitest.coll_items(c.read(s["machines"]["href"]))
    eq(len(members), 1, "the imported System has the package's machine")
    m = c.read(members[0]["machine"]["href"])
    eq((m.get("cpu"), m.get("memory")), (1, 512 * 1024), "its machine: 1 CPU, 512 MiB")
    new = [p for p in packages(c) if p["id"] not in before]
    eq([(p.get("name"), p.get("sha256")) for p in new], [("cli-imported.ova", sha256_of(ova))],
       "the uploaded Package stays (the template's importImage names it)")
    ok(cimi("system", "delete", s["id"], "--wait", "--timeout", TIMEOUT, env=env_for()))


@test
def template_import_prints_the_template():
    c = admin()
    ova = make_ova(workdir(), "cli-tpl-imported")
    r = ok(cimi("system", "template", "import", ova, "--wait", "--timeout", TIMEOUT, "-o",
                "json", env=env_for()))
    tpl = r.json()
    check(tpl.get("resourceURI", "").endswith("/SystemTemplate"),
          f"a SystemTemplate printed: {r.out[:300]!r}")
    pkg = c.read(tpl.get("importImage", ""))
    eq((pkg.get("name"), pkg.get("sha256")), ("cli-tpl-imported.ova", sha256_of(ova)),
       "its importImage is the uploaded Package")
    check(len(tpl.get("componentDescriptors", [])) >= 1, "the package's machine described")


class OvaServer:
    """Serves one file at /NAME on loopback."""

    def __init__(self, path):
        data = open(path, "rb").read()
        name = "/" + os.path.basename(path)
        self.requests = []
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                outer.requests.append(self.path)
                if self.path != name:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Type", "application/x-tar")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *a):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}{name}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@test
def import_from_a_url():
    c = admin()
    ova = make_ova(workdir(), "cli-by-url")
    srv = OvaServer(ova)
    before = {p["id"] for p in packages(c)}
    try:
        r = ok(cimi("system", "import", srv.url, "--wait", "--timeout", TIMEOUT, "-o", "json",
                    env=env_for()))
    finally:
        srv.close()
    s = r.json()
    check(s.get("resourceURI", "").endswith("/System"), f"a System printed: {r.out[:300]!r}")
    isin("/cli-by-url.ova", srv.requests, "the server fetched the URL itself")
    eq({p["id"] for p in packages(c)} - before, set(), "nothing uploaded for a URL")
    ok(cimi("system", "delete", s["id"], "--wait", "--timeout", TIMEOUT, env=env_for()))
    # a URL that fails: a FAILED Job, exit 9, the server's message
    port = free_port()
    fails(cimi("system", "import", f"http://127.0.0.1:{port}/none.ova", "--wait", "--timeout",
               TIMEOUT, env=env_for()), JOB, "FAILED")


# ---------------------------------------------------------------- export

def check_ova(path, what):
    check(tarfile.is_tarfile(path), f"{what}: a tar file")
    with tarfile.open(path) as t:
        names = t.getnames()
    check(names and names[0].endswith(".ovf"), f"{what}: the .ovf comes first: {names}")
    check(any(n.endswith(".mf") for n in names), f"{what}: a manifest: {names}")
    return names


@test
def export_downloads_the_package():
    c = admin()
    s = make_system("cli-export", template=make_template(c, "cli-export-tpl", quantity=1))
    path = os.path.join(workdir(), "out.ova")
    r = ok(cimi("system", "export", "cli-export", path, "--timeout", TIMEOUT, "-o", "json",
                env=env_for()))
    pkg = r.json()
    check(pkg.get("id", "").rsplit("/", 2)[-2] == "packages", f"the Package printed: {pkg}")
    check_ova(path, "the exported file")
    eq(os.path.getsize(path), pkg.get("size"), "the file has the Package's size")
    eq(sha256_of(path), pkg.get("sha256"), "the file is the Package")
    notin("out.ova.part", os.listdir(os.path.dirname(path)), "no .part file left")
    ok(cimi("system", "delete", s["id"], "--wait", "--timeout", TIMEOUT, env=env_for()))


@test
def template_export_downloads_the_package():
    c = admin()
    make_template(c, "cli-tpl-export", quantity=1)
    path = os.path.join(workdir(), "tpl.ova")
    r = ok(cimi("system", "template", "export", "cli-tpl-export", path, "--timeout", TIMEOUT,
                "-o", "json", env=env_for()))
    pkg = r.json()
    check_ova(path, "the exported template")
    eq((os.path.getsize(path), sha256_of(path)), (pkg.get("size"), pkg.get("sha256")),
       "the file is the Package")
    fails(cimi("system", "template", "export", "no-such-template", path, env=env_for()),
          NOT_FOUND, "no-such-template")
    r = ok(cimi("system", "template", "export", "cli-tpl-export", path, "--progress", "none",
                "--timeout", TIMEOUT, "-o", "ids", env=env_for()))
    eq(r.err, "", "--progress none: neither the Job nor the download shown")
    r = ok(cimi("system", "template", "export", "cli-tpl-export", path, "--progress", "lines",
                "--timeout", TIMEOUT, "-o", "ids", env=env_for()))
    check(re.search(r"^job \S+ \(export\): SUCCESS 100%", r.err, re.M)
          and re.search(r"^download: done, ", r.err, re.M),
          f"--progress lines: the Job's lines, then the download's: {r.err!r}")


class CuttingProxy:
    """A TCP proxy to a daemon that cuts the connection of the first
    GET .../content after `cut` bytes of its reply, and records the Range
    and If-Range lines of the requests for content."""

    def __init__(self, port, cut):
        self.port_to, self.cut = port, cut
        self.cuts = 0
        self.range_lines = []
        self.lock = threading.Lock()
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while not self.closed:
            try:
                client, _ = self.sock.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.port_to))
            conn = {"armed": False}
            threading.Thread(target=self._up, args=(client, upstream, conn), daemon=True).start()
            threading.Thread(target=self._down, args=(upstream, client, conn),
                             daemon=True).start()

    def _up(self, client, upstream, conn):
        try:
            while True:
                data = client.recv(65536)
                if not data:
                    break
                if data.startswith(b"GET ") and b"/content " in data.split(b"\r\n", 1)[0]:
                    with self.lock:
                        self.range_lines += [line.decode() for line in data.split(b"\r\n")
                                             if line.lower().startswith((b"range:", b"if-range:"))]
                        if self.cuts == 0:
                            conn["armed"] = True
                            conn["sent"] = 0
                upstream.sendall(data)
        except OSError:
            pass
        finally:
            for s in (client, upstream):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def _down(self, upstream, client, conn):
        try:
            while True:
                data = upstream.recv(65536)
                if not data:
                    break
                if conn["armed"]:
                    room = self.cut - conn["sent"]
                    if len(data) >= room:
                        client.sendall(data[:room])
                        with self.lock:
                            self.cuts += 1
                        break
                    conn["sent"] += len(data)
                client.sendall(data)
        except OSError:
            pass
        finally:
            for s in (client, upstream):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                    s.close()
                except OSError:
                    pass

    def close(self):
        self.closed = True
        self.sock.close()


@test
def package_upload_and_download():
    c = admin()
    w = workdir()
    ova = make_ova(w, "cli-pkg")
    r = ok(cimi("package", "upload", ova, "-o", "json", env=env_for()))
    pkg = r.json()
    eq((pkg.get("name"), pkg.get("state")), ("cli-pkg.ova", "AVAILABLE"), "package upload")
    eq((pkg.get("size"), pkg.get("sha256")), (os.path.getsize(ova), sha256_of(ova)),
       "the Package holds the file's bytes")
    out = os.path.join(w, "back.ova")
    r = ok(cimi("package", "download", "cli-pkg.ova", out, "-o", "ids", env=env_for()))
    eq(r.out.strip(), pkg["id"], "package download prints the Package")
    eq(sha256_of(out), sha256_of(ova), "downloaded = uploaded")
    fails(cimi("package", "download", pkg["id"], os.path.join(w, "x"), env=env_for("alice")),
          NOT_FOUND, "HTTP 404")
    notin("x.part", os.listdir(w), "nothing left of a refused download")
    c.delete(pkg["id"])


def peak_rss_kib(argv, env):
    """Run argv in a fresh Python whose only child it is; (exit status,
    the child's peak RSS in KiB)."""
    probe = ("import resource, subprocess, sys; rc = subprocess.run(sys.argv[1:], "
             "stdout=subprocess.DEVNULL).returncode; "
             "print(rc, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")
    p = subprocess.run([sys.executable, "-c", probe, *argv], env=env, capture_output=True,
                       text=True, timeout=600)
    rc, rss = p.stdout.split()
    return int(rc), int(rss)


@test
def transfers_are_streamed():
    """A 256 MiB package goes up and comes back without the client holding
    it: its peak RSS stays far below the file's size."""
    w = workdir()
    big = os.path.join(w, "big.ova")
    with open(big, "wb") as f:
        for _ in range(256):
            f.write(os.urandom(1 << 20))
    rc, rss = peak_rss_kib([CLI_BIN, "package", "upload", big, "-o", "ids"], env_for())
    eq(rc, OK, "package upload of 256 MiB")
    check(rss < 96 * 1024, f"upload: the client's peak RSS {rss} KiB is far below 256 MiB")
    c = admin()
    pkg = next(p for p in packages(c) if p.get("name") == "big.ova")
    eq(c.read(pkg["id"]).get("sha256"), sha256_of(big), "the upload arrived whole")
    out = os.path.join(w, "back.ova")
    rc, rss = peak_rss_kib([CLI_BIN, "package", "download", pkg["id"], out], env_for())
    eq(rc, OK, "package download of 256 MiB")
    check(rss < 96 * 1024, f"download: the client's peak RSS {rss} KiB is far below 256 MiB")
    eq(sha256_of(out), sha256_of(big), "the download arrived whole")
    c.delete(pkg["id"])
    os.unlink(big)
    os.unlink(out)


@test
def download_resumes_after_a_cut():
    """A proxy cuts the first download of content: the client resumes it
    with Range + If-Range and the file is whole."""
    w = workdir()
    ova = make_ova(w, "cli-cut")
    pkg = ok(cimi("package", "upload", ova, "-o", "json", env=env_for())).json()
    d = daemon()
    proxy = CuttingProxy(int(d.url.rsplit(":", 1)[1]), cut=256 * 1024)
    env = env_for()
    env["CIMI_URL"] = f"http://127.0.0.1:{proxy.port}/cimi/cloudEntryPoint"
    out = os.path.join(w, "resumed.ova")
    try:
        r = ok(cimi("package", "download", pkg["id"].rsplit("/", 1)[1], out, "--progress",
                    "lines", env=env))
    finally:
        proxy.close()
    eq(proxy.cuts, 1, "the proxy cut the first download")
    isin("resuming", r.err, "the client says it resumes")
    check(any(re.match(r"Range: bytes=[1-9][0-9]*-$", line) for line in proxy.range_lines),
          f"the second request asked for the rest (Range): {proxy.range_lines}")
    check(any(line.startswith("If-Range: ") for line in proxy.range_lines),
          f"... only if the Package is the same (If-Range): {proxy.range_lines}")
    eq(sha256_of(out), sha256_of(ova), "the resumed file is whole")
    admin().delete(pkg["id"])


# ---------------------------------------------------------------- progress output

@test
def progress_forced_without_a_terminal():
    w = workdir()
    ova = make_ova(w, "cli-progress", disk_mib=8)
    r = ok(cimi("package", "upload", ova, "--progress", "lines", "-o", "ids", env=env_for()))
    pkg = r.out.strip()
    lines = [line for line in r.err.splitlines() if line.startswith("upload: ")]
    check(len(lines) >= 2, f"--progress lines: several lines: {r.err!r}")
    check(all(re.match(r"upload: [1-9]0% \([0-9.]+ of [0-9.]+ MiB, [0-9.]+ MB/s\)$", line)
              for line in lines[:-1]), f"a line per tenth: {lines}")
    check(re.match(r"upload: done, [0-9.]+ MiB in [0-9.]+ s \([0-9.]+ MB/s\)$", lines[-1]),
          f"the last line sums the transfer up: {lines[-1]!r}")
    notin("\r", r.err, "plain lines, no redrawing")
    r = ok(cimi("package", "download", pkg, os.path.join(w, "a.ova"), "--progress", "bar",
                "-o", "ids", env=env_for()))
    # (text mode reads the bar's \r as a line end: the erase-line sequence marks each redraw)
    check("\033[K" in r.err and "[" in r.err and "100%" in r.err and "MB/s" in r.err,
          f"--progress bar: a bar redrawn in place reaching 100%: {r.err[-300:]!r}")
    check(r.err.endswith("\n"), "the bar ends its line")
    for mode in ("none", None):
        extra = ("--progress", mode) if mode else ()
        r = ok(cimi("package", "download", pkg, os.path.join(w, "b.ova"), *extra, "-o", "ids",
                    env=env_for()))
        eq(r.err, "", f"--progress {mode or 'auto'} without a terminal: nothing")
    admin().delete(pkg)


@test
def progress_bar_on_a_terminal():
    """--progress auto: the bar when stderr is a terminal."""
    ova = make_ova(workdir(), "cli-tty", disk_mib=8)
    rc, out, tty = on_a_terminal(["package", "upload", ova, "-o", "ids"], env_for(), 60)
    eq(rc, OK, f"exit status (terminal output {tty!r})")
    check("\r\033[K" in tty and "upload" in tty and "100%" in tty and "MB/s" in tty,
          f"a bar redrawn in place reaching 100%: {tty[-300:]!r}")
    check("/packages/" in out, f"stdout keeps the Package's id: {out!r}")
    admin().delete(out.strip())


# ---------------------------------------------------------------- errors

@test
def errors_are_one_clear_line():
    c = admin()
    w = workdir()
    fails(cimi("system", "import", os.path.join(w, "missing.ova"), env=env_for()), USAGE,
          "cannot read", "missing.ova")
    ovf = os.path.join(w, "alone.ovf")
    open(ovf, "w").write("<Envelope/>")
    fails(cimi("system", "import", ovf, env=env_for()), USAGE, "OVF descriptor", "OVA")
    fails(cimi("system", "import", w, env=env_for()), USAGE, "not a regular file")
    fails(cimi("system", "export", "no-such-system", os.path.join(w, "x.ova"), env=env_for()),
          NOT_FOUND, "no-such-system")
    notin("x.ova.part", os.listdir(w), "no .part file left")
    tpl = make_template(c, "cli-errors-tpl", quantity=1)
    fails(cimi("system", "template", "export", tpl, os.path.join(w, "x.ova"),
               env=env_for("alice")), NOT_FOUND, "HTTP 404")
    jobs_before = len(cimitest.coll_items(c.list("jobs")))
    packages_before = len(packages(c))
    fails(cimi("system", "template", "export", "cli-errors-tpl", "/nonexistent-dir/x.ova",
               env=env_for()), USAGE, "cannot write", "/nonexistent-dir/x.ova")
    eq((len(cimitest.coll_items(c.list("jobs"))), len(packages(c))),
       (jobs_before, packages_before),
       "an unwritable FILE is found before anything is asked of the server")
    notin("x.ova", os.listdir(w), "no file written for a failed export")
    junk = os.path.join(w, "junk.ova")
    with open(junk, "wb") as f:
        f.write(os.urandom(100000))
    r = cimi("system", "import", junk, "--wait", "--timeout", TIMEOUT, env=env_for())
    check(r.rc in (CLIENT, JOB), f"a package that is no OVA: refused (7) or a FAILED import (9): "
                                 f"{r!r} {r.err!r}")
    fails(r, r.rc)


@test
def an_upload_the_server_refuses():
    """A daemon with --max-upload below the package: 413, exit 7, nothing kept."""
    ova = make_ova(workdir(), "cli-too-big", disk_mib=2)
    with Daemon(name="cli-small-upload", args=("--storage-dir", _storage(), "--max-upload",
                                               "65536")) as d:
        c = Client(d, "admin")
        last = fails(cimi("system", "import", ova, env=creds_env(d)), CLIENT, "HTTP 413")
        notin("package stays", last, "no package to speak of")
        eq(packages(c), [], "no Package left behind")
