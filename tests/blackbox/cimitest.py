"""cimitest - black-box test harness for cimid (Python 3 standard library only).

What it gives the test modules:

* Daemon: starts `cimid serve` on a free loopback port with a database in a
  temporary directory, creates users with `cimid user add` first, waits until
  the CloudEntryPoint answers, stops it (SIGTERM / SIGINT / kill -9) and
  restarts it on the same port and database.  A daemon is stopped with
  SIGTERM when its test (or module, for shared daemons) is done, so that an
  ASan build's LeakSanitizer checks it; any left is killed at exit.
* Client: HTTP client with Basic auth.  request() returns a Response with the
  status, the headers, the raw body, the parsed JSON or XML tree and `doc`, a
  normalized dict view that is the same for JSON and XML replies, so that most
  tests are written once and run in both formats.  Every reply is checked
  automatically: CIMI-Specification-Version 1.x present, Content-Type exactly
  application/json or application/xml, JSON well formed with a resourceURI and
  no empty array, XML in the CIMI default namespace and valid against the
  DSP8009 schema (xmllint); each of those checks counts as an assertion.
* to_xml(): turns a JSON-shaped request document into its 1.x XML form.
* @test registry and a runner printing "ok - name" / "FAIL - name: reason"
  and a last line "N passed, N failed".

Environment: CIMID_BIN (default build/cimid), CIMI_XSD (default
tests/fixtures/dsp8009-1.0.2-offline.xsd), both relative to the repo
root; CIMITEST_LOGS=1 prints the tail of the daemon's stderr on a failure;
CIMITEST_KEEP=1 keeps the daemons' temporary directories (database, stderr.log).

HTTPS: Daemon(tls=True) makes a throw-away self-signed certificate for
127.0.0.1 in its temporary directory (openssl), serves with --tls-cert and
--tls-key, and its url, wait_ready and Clients then speak https trusting
only that certificate.
"""

import atexit
import base64
import hashlib
import http.client
import json
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import urllib.parse
import xml.etree.ElementTree as ET
from xml.sax.saxutils import escape, quoteattr

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))


def _repo_path(env, default):
    p = os.environ.get(env) or default
    return p if os.path.isabs(p) else os.path.normpath(os.path.join(REPO, p))


CIMID_BIN = _repo_path("CIMID_BIN", "build/cimid")
CIMI_XSD = _repo_path("CIMI_XSD", "tests/fixtures/dsp8009-1.0.2-offline.xsd")

NS = "http://schemas.dmtf.org/cimi/1"
CIMID_NS = "http://cimid.dev/ns/1"  # cimid's own types (Host) and extension attributes
ACTION = NS + "/action/"
CAPABILITY = NS + "/capability/"
BOTH = ("json", "xml")
MIME = {"json": "application/json", "xml": "application/xml"}

POLL = 0.02          # job / state polling interval (s)
TIMEOUT = 10.0       # job / state polling timeout (s)

# Users created in every daemon unless told otherwise: name -> (password, tenant, admin)
DEFAULT_USERS = {
    "admin": ("admin-pw-1", None, True),
    "alice": ("alice-pw-2", "a", False),
    "bob": ("bob-pw-3", "b", False),
}

# CEP collection attribute -> item type name
COLLECTIONS = {
    "resourceMetadata": "ResourceMetadata",
    "machines": "Machine",
    "machineTemplates": "MachineTemplate",
    "machineConfigs": "MachineConfiguration",
    "machineImages": "MachineImage",
    "credentials": "Credential",
    "credentialTemplates": "CredentialTemplate",
    "volumes": "Volume",
    "volumeTemplates": "VolumeTemplate",
    "volumeConfigs": "VolumeConfiguration",
    "volumeImages": "VolumeImage",
    "networks": "Network",
    "networkTemplates": "NetworkTemplate",
    "networkConfigs": "NetworkConfiguration",
    "networkPorts": "NetworkPort",
    "networkPortTemplates": "NetworkPortTemplate",
    "networkPortConfigs": "NetworkPortConfiguration",
    "addresses": "Address",
    "addressTemplates": "AddressTemplate",
    "forwardingGroups": "ForwardingGroup",
    "forwardingGroupTemplates": "ForwardingGroupTemplate",
    "jobs": "Job",
    "systems": "System",
    "systemTemplates": "SystemTemplate",
}
# item type name -> JSON array name in its collection
TYPE_ARRAYS = {
    "ResourceMetadata": "resourceMetadata",
    "Machine": "machines",
    "MachineTemplate": "machineTemplates",
    "MachineConfiguration": "machineConfigurations",
    "MachineImage": "machineImages",
    "Credential": "credentials",
    "CredentialTemplate": "credentialTemplates",
    "Job": "jobs",
    "Disk": "disks",
    "MachineVolume": "machineVolumes",
    "Volume": "volumes",
    "VolumeTemplate": "volumeTemplates",
    "VolumeConfiguration": "volumeConfigurations",
    "VolumeImage": "volumeImages",
    "VolumeVolumeImage": "volumeVolumeImages",
    "Network": "networks",
    "NetworkTemplate": "networkTemplates",
    "NetworkConfiguration": "networkConfigurations",
    "NetworkPort": "networkPorts",
    "NetworkPortTemplate": "networkPortTemplates",
    "NetworkPortConfiguration": "networkPortConfigurations",
    "Address": "addresses",
    "AddressTemplate": "addressTemplates",
    "ForwardingGroup": "forwardingGroups",
    "ForwardingGroupTemplate": "forwardingGroupTemplates",
    "ForwardingGroupNetwork": "forwardingGroupNetworks",
    "MachineNetworkInterface": "machineNetworkInterfaces",
    "MachineNetworkInterfaceAddress": "machineNetworkInterfaceAddresses",
    "System": "systems",
    "SystemTemplate": "systemTemplates",
    "SystemSystem": "systemSystems",
    "SystemMachine": "systemMachines",
    "SystemCredential": "systemCredentials",
    "SystemVolume": "systemVolumes",
    "SystemNetwork": "systemNetworks",
    "SystemNetworkPort": "systemNetworkPorts",
    "SystemAddress": "systemAddresses",
    "SystemForwardingGroup": "systemForwardingGroups",
}
# JSON array attribute -> repeated XML element (1.x: no wrapper)
SINGULAR = {
    "disks": "disk",
    "operations": "operation",
    "affectedResources": "affectedResource",
    "nestedJobs": "nestedJob",
    "capabilities": "capability",
    "attributes": "attribute",
    "actions": "action",
    "volumes": "volume",
    "volumeTemplates": "volumeTemplate",
    "networkInterfaces": "networkInterface",
    "meterTemplates": "meterTemplate",
    "componentDescriptors": "componentDescriptor",
    "networks": "network",
}
INT_FIELDS = {"cpu", "memory", "count", "capacity", "cpuSpeed", "returnCode", "progress", "mtu",
              # cimid's Host
              "memoryOvercommit", "cpuOvercommit", "allocatedCpu", "allocatedMemory", "freeCpu",
              "freeMemory", "dedicatedCpu", "machineCount", "quantity"}
BOOL_FIELDS = {"force", "bootable", "required", "enabled", "dedicated"}
COMMON_ORDER = ["id", "name", "description", "created", "updated", "properties"]
TRANSIENT_STATES = {"CREATING", "STARTING", "STOPPING", "PAUSING", "SUSPENDING", "CAPTURING",
                    "RESTORING", "DELETING"}
DATETIME_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")


class SkipTest(Exception):
    """Raised by a test that cannot run here; the message says why."""


class HarnessError(Exception):
    """A problem of the test machinery itself (not an assertion about cimid)."""


# ---------------------------------------------------------------- assertions

_tls = threading.local()


def _count():
    _tls.asserts = getattr(_tls, "asserts", 0) + 1


def check(cond, msg="check failed"):
    _count()
    if not cond:
        raise AssertionError(msg)


def eq(actual, expected, msg="value"):
    _count()
    if actual != expected:
        raise AssertionError(f"{msg}: expected {expected!r}, got {actual!r}")


def ne(actual, unexpected, msg="value"):
    _count()
    if actual == unexpected:
        raise AssertionError(f"{msg}: did not expect {unexpected!r}")


def isin(item, container, msg="membership"):
    _count()
    if item not in container:
        raise AssertionError(f"{msg}: {item!r} not in {container!r}")


def notin(item, container, msg="membership"):
    _count()
    if item in container:
        raise AssertionError(f"{msg}: {item!r} unexpectedly in {container!r}")


def is_datetime(v, msg="dateTime"):
    check(isinstance(v, str) and DATETIME_RE.match(v), f"{msg}: not an xs:dateTime with offset: {v!r}")


def _trace(entry):
    t = getattr(_tls, "trace", None)
    if t is None:
        t = _tls.trace = []
    t.append(entry)
    del t[:-3]


# ---------------------------------------------------------------- XML

_xsd_cache = {}
_xsd_lock = threading.Lock()


def xml_validate(body):
    """Validate an XML document (bytes) against the CIMI schema.  Returns None
    if valid, else xmllint's complaint.  Results are cached by content."""
    if not os.path.exists(CIMI_XSD):
        raise HarnessError(f"schema not found: {CIMI_XSD} (set CIMI_XSD)")
    key = hashlib.sha1(body).hexdigest()
    with _xsd_lock:
        if key in _xsd_cache:
            return _xsd_cache[key]
    fd, path = tempfile.mkstemp(suffix=".xml", prefix="cimitest-")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(body)
        r = subprocess.run(["xmllint", "--nonet", "--noout", "--schema", CIMI_XSD, path],
                           capture_output=True, text=True, timeout=60)
    finally:
        os.unlink(path)
    err = None if r.returncode == 0 else (r.stderr.strip() or f"xmllint exit {r.returncode}")
    with _xsd_lock:
        _xsd_cache[key] = err
    return err


def check_xml_valid(body, what="XML body"):
    err = xml_validate(body)
    check(err is None, f"{what} does not validate against {os.path.basename(CIMI_XSD)}: {err}")


def _split(tag):
    if tag.startswith("{"):
        ns, local = tag[1:].split("}", 1)
        return ns, local
    return "", tag


def _conv(name, text):
    if text is None:
        text = ""
    if name in INT_FIELDS and re.fullmatch(r"\s*-?\d+\s*", text):
        return int(text)
    if name in BOOL_FIELDS and text.strip() in ("true", "false"):
        return text.strip() == "true"
    return text


def _xml_value(el, name, ctx):
    if el.attrib or len(el):
        v = {}
        for k, val in el.attrib.items():
            if not k.startswith("{"):
                v[k] = _conv(k, val)
        _xml_children(el, v, name)
        text = (el.text or "").strip()
        if text and not len(el):
            v["value"] = text
        return v
    return _conv(name, el.text)


def _xml_children(el, d, ctx):
    for ch in el:
        if not isinstance(ch.tag, str):
            continue  # comment / PI
        ns, name = _split(ch.tag)
        if ns == CIMID_NS and name == "endpoint":
            d.setdefault("endpoints", []).append(_xml_value(ch, name, ctx))
            continue
        if ns not in (NS, CIMID_NS):
            d.setdefault("_extensions", []).append(ch)
            continue
        if name == "property":
            d.setdefault("properties", {})[ch.get("key", ch.get("name"))] = ch.text or ""
        elif name == "operation":
            d.setdefault("operations", []).append({"rel": ch.get("rel"), "href": ch.get("href")})
        elif name[:1].isupper():
            arr = TYPE_ARRAYS.get(name, name[0].lower() + name[1:] + "s")
            d.setdefault(arr, []).append(xml_doc(ch))
        elif name in ("disk", "affectedResource", "nestedJob", "capability", "attribute",
                      "volumeTemplate", "networkInterface", "meterTemplate",
                      "componentDescriptor") \
                or (name == "action" and ch.attrib) \
                or (name == "network" and ctx == "forwardingGroupTemplate") \
                or (name == "volume" and ctx in ("MachineTemplate", "machineTemplate")):
            d.setdefault(name + "s" if name != "capability" else "capabilities", []).append(
                _xml_value(ch, name, ctx))
        else:
            d[name] = _xml_value(ch, name, ctx)


def xml_doc(root):
    """Normalized dict (JSON wire shape) of a CIMI XML element."""
    ns, tag = _split(root.tag)
    d = {}
    if tag == "Collection":
        d["resourceURI"] = root.get("resourceURI")
    else:
        d["resourceURI"] = (ns or NS) + "/" + tag
    _xml_children(root, d, tag)
    return d


def _xml_scalar(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    return escape(str(v))


# cimid's extension attributes of CIMI types: elements in CIMID_NS.
EXTENSION_ATTRS = {"endpoints", "host", "hosts", "dedicated", "subnet", "checksum"}


def _xml_fill(parts, d, reorder=True, top=False):
    keys = list(d.keys())
    if reorder:
        keys = [k for k in COMMON_ORDER if k in d] + [k for k in keys if k not in COMMON_ORDER]
    # attributes first (href on refs), then children
    for k in keys:
        if k in ("resourceURI", "href") or k.startswith("_"):
            continue
        v = d[k]
        if k == "properties":
            for pk, pv in (v or {}).items():
                parts.append(f"<property key={quoteattr(pk)}>{escape(str(pv))}</property>")
        elif k == "operations":
            for op in v or []:
                parts.append(f"<operation rel={quoteattr(op['rel'])} href={quoteattr(op['href'])}/>")
        elif top and k in EXTENSION_ATTRS:
            inner = []
            name = SINGULAR.get(k, k) if isinstance(v, list) else k
            for item in (v if isinstance(v, list) else [v]):
                if isinstance(item, dict):  # as XML attributes, the way cimid writes them
                    attrs = "".join(f" {a}={quoteattr(_xml_scalar(b))}" for a, b in item.items()
                                    if not isinstance(b, (dict, list)))
                    inner.append(f"<x:{name}{attrs}/>")
                else:
                    _xml_emit(inner, "x:" + name, item)
            parts.append(re.sub(r"<(x:[A-Za-z]+)",
                                lambda m: f'<{m.group(1)} xmlns:x="{CIMID_NS}"', "".join(inner)))
        elif isinstance(v, list):
            for item in v:
                _xml_emit(parts, SINGULAR.get(k, k), item)
        else:
            _xml_emit(parts, k, v)


def _xml_emit(parts, name, v):
    if v is None:
        parts.append(f"<{name}/>")
    elif isinstance(v, dict):
        attrs = f" href={quoteattr(v['href'])}" if "href" in v else ""
        inner = []
        _xml_fill(inner, v)
        parts.append(f"<{name}{attrs}>{''.join(inner)}</{name}>" if inner else f"<{name}{attrs}/>")
    else:
        parts.append(f"<{name}>{_xml_scalar(v)}</{name}>")


def to_xml(doc, root=None, namespace=True):
    """XML (str) of a JSON-shaped request document; root defaults to the last
    segment of doc['resourceURI'].  Common attributes are put first (schema
    order) except in an Action (whose properties come last)."""
    if root is None:
        root = doc["resourceURI"].rsplit("/", 1)[1]
    parts = []
    own = doc.get("resourceURI", "").startswith(CIMID_NS + "/")
    _xml_fill(parts, doc, reorder=(root != "Action"), top=not own)
    xmlns = f' xmlns="{CIMID_NS if own else NS}"' if namespace else ""
    return f'<?xml version="1.0" encoding="UTF-8"?>\n<{root}{xmlns}>{"".join(parts)}</{root}>'


# ---------------------------------------------------------------- daemon

_daemons = set()
_tmpdirs = []


def free_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def make_self_signed(directory, cn="127.0.0.1"):
    """A throw-away self-signed certificate and key for the IP cn, written to
    directory/cert.pem and directory/key.pem; returns (cert, key)."""
    cert = os.path.join(directory, "cert.pem")
    key = os.path.join(directory, "key.pem")
    if shutil.which("openssl") is None:
        raise HarnessError("openssl not found (scripts/install-deps.sh installs it)")
    r = subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                        "-subj", f"/CN={cn}", "-addext", f"subjectAltName=IP:{cn}",
                        "-keyout", key, "-out", cert], capture_output=True, text=True, timeout=60)
    if r.returncode != 0:
        raise HarnessError(f"openssl req failed ({r.returncode}): {r.stderr.strip()}")
    return cert, key


class Daemon:
    """One cimid serve process with its own database in a temp directory."""

    def __init__(self, users=None, args=(), name="cimid", tls=False):
        self.name = name
        self.tmp = tempfile.mkdtemp(prefix=f"cimitest-{name}-")
        _tmpdirs.append(self.tmp)
        self.db = os.path.join(self.tmp, "cimid.db")
        self.log_path = os.path.join(self.tmp, "stderr.log")
        _all_logs.append(self.log_path)
        self.args = list(args)
        self.users = dict(DEFAULT_USERS if users is None else users)
        self.proc = None
        self.port = None
        self.cache = {}
        self._created = set()
        self.tls = tls
        self.cert = self.key = None
        if tls:
            self.cert, self.key = make_self_signed(self.tmp)
            self.args += ["--tls-cert", self.cert, "--tls-key", self.key]

    # -- users
    def user_cmd(self, *argv, stdin=None):
        if not os.path.exists(CIMID_BIN):
            raise HarnessError(f"cimid binary not found at {CIMID_BIN} (set CIMID_BIN)")
        return subprocess.run([CIMID_BIN, "user", *argv, "--database", self.db], input=stdin,
                              capture_output=True, text=True, timeout=60)

    def add_user(self, name, password, tenant=None, admin=False):
        argv = ["add", name]
        if tenant:
            argv += ["--tenant", tenant]
        if admin:
            argv.append("--admin")
        argv.append("--password-stdin")
        r = self.user_cmd(*argv, stdin=password + "\n")
        if r.returncode != 0:
            raise HarnessError(f"cimid user add {name} failed ({r.returncode}): {r.stderr.strip()}")
        self.users[name] = (password, tenant, admin)
        self._created.add(name)

    # -- process
    @property
    def scheme(self):
        return "https" if self.tls else "http"

    @property
    def url(self):
        return f"{self.scheme}://127.0.0.1:{self.port}"

    def ssl_context(self):
        """Client TLS context trusting only this daemon's certificate
        (hostname checking on)."""
        return ssl.create_default_context(cafile=self.cert)

    def connection(self, url_or_scheme=None, timeout=30):
        """An http.client connection to the daemon; https (trusting its
        certificate) when the URL's scheme, or the daemon's, is https."""
        scheme = self.scheme
        if url_or_scheme:
            scheme = urllib.parse.urlsplit(url_or_scheme).scheme or url_or_scheme
        if scheme == "https":
            return http.client.HTTPSConnection("127.0.0.1", self.port, timeout=timeout,
                                               context=self.ssl_context())
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)

    @property
    def cep_url(self):
        return f"{self.url}/cimi/cloudEntryPoint"

    def command(self):
        return [CIMID_BIN, "serve", "--listen", "127.0.0.1", "--port", str(self.port),
                "--database", self.db, "--connect", "test:///default", "--log-level", "debug",
                # libvirt's simulated host has 3 GiB: the suite books far more.
                "--memory-overcommit", "100000", "--cpu-overcommit", "100000",
                *self.args]

    def start(self, wait=True):
        if not os.path.exists(CIMID_BIN):
            raise HarnessError(f"cimid binary not found at {CIMID_BIN} (set CIMID_BIN)")
        for n, (pw, tenant, admin) in list(self.users.items()):
            if n not in self._created:
                self.add_user(n, pw, tenant, admin)
        if self.port is None:
            self.port = free_port()
        self._log = open(self.log_path, "ab")
        self._log_start = self._log.tell()
        self.proc = subprocess.Popen(self.command(), stdin=subprocess.DEVNULL, stdout=self._log,
                                     stderr=self._log, start_new_session=True)
        _daemons.add(self)
        if wait:
            self.wait_ready()
        return self

    def wait_ready(self, timeout=15.0):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise HarnessError(f"cimid exited with {self.proc.returncode} at start-up:\n"
                                   + self.log_tail(30))
            try:
                conn = self.connection(timeout=2)
                conn.request("GET", "/cimi/cloudEntryPoint")
                conn.getresponse().read()
                conn.close()
                return
            except OSError:
                time.sleep(0.05)
        raise HarnessError(f"cimid did not answer on port {self.port} within {timeout}s:\n"
                           + self.log_tail(30))

    def stop(self, sig=signal.SIGTERM, timeout=10.0):
        """Send sig and wait; returns the exit status (None if it had to be killed)."""
        if self.proc is None:
            return None
        p = self.proc
        if p.poll() is None:
            try:
                p.send_signal(sig)
                p.wait(timeout)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
                self._finish()
                return None
        self._finish()
        return p.returncode

    def kill9(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self._finish()

    def _finish(self):
        self.proc_done = self.proc
        self.proc = None
        _daemons.discard(self)
        try:
            self._log.close()
        except Exception:
            pass

    def restart(self):
        self.stop()
        return self.start()

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def log_text(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def log_text_bytes(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read()
        except OSError:
            return b""

    def log_tail(self, n=20):
        return "\n".join(self.log_text().splitlines()[-n:])

    def client(self, user="admin", fmt="json"):
        return Client(self, user, fmt=fmt)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        # SIGTERM, not kill -9: a clean exit is when LeakSanitizer looks for
        # leaks (an ASan build writes its report to the log scanned at the end).
        self.stop()
        return False


def _kill_all():
    for d in list(_daemons):
        try:
            d.kill9()
        except Exception:
            pass


def _cleanup():
    _kill_all()
    if not os.environ.get("CIMITEST_KEEP"):
        for t in _tmpdirs:
            shutil.rmtree(t, ignore_errors=True)


atexit.register(_cleanup)

_shared = {}


def shared(key, users=None, args=(), tls=False):
    """The daemon shared by the tests of one module, started on first use and
    stopped by the runner when the module's tests are done.  A start-up
    failure is remembered so that the next tests fail at once."""
    entry = _shared.get(key)
    if entry is None:
        d = None
        try:
            d = Daemon(users=users, args=args, name=key, tls=tls)
            d.start()
            entry = _shared[key] = d
        except Exception as e:
            entry = _shared[key] = e
            if d is not None:
                d.kill9()
    if isinstance(entry, Exception):
        raise HarnessError(f"shared daemon {key!r} failed to start: {entry}")
    if not entry.alive():
        raise HarnessError(f"shared daemon {key!r} is not running any more:\n" + entry.log_tail(30))
    return entry


def stop_shared():
    for k, d in list(_shared.items()):
        if isinstance(d, Daemon):
            d.stop()  # SIGTERM: LeakSanitizer checks the daemon at its exit
    _shared.clear()


# ---------------------------------------------------------------- HTTP

class Response:
    def __init__(self, method, url, status, reason, headers, body):
        self.method, self.url, self.status, self.reason = method, url, status, reason
        self.headers = headers
        self.body = body
        ct = headers.get("Content-Type") or ""
        self.ctype = ct.split(";")[0].strip().lower()
        self.fmt = {"application/json": "json", "application/xml": "xml"}.get(self.ctype)
        self.json = None
        self.xml = None
        self._doc = None

    def header(self, name):
        return self.headers.get(name)

    @property
    def doc(self):
        """Normalized dict for either format (JSON: the parsed body)."""
        if self._doc is None:
            check(self.body, f"{self.method} {self.url} -> {self.status}: reply has a body")
            if self.fmt == "json":
                self._doc = self.json
            elif self.fmt == "xml":
                self._doc = xml_doc(self.xml)
            else:
                raise AssertionError(f"reply Content-Type {self.ctype!r} is neither JSON nor XML")
        return self._doc

    def __repr__(self):
        return f"<{self.method} {self.url} -> {self.status}>"


def _json_has_empty_array(v, path="$"):
    if isinstance(v, list):
        if not v:
            return path
        for i, x in enumerate(v):
            p = _json_has_empty_array(x, f"{path}[{i}]")
            if p:
                return p
    elif isinstance(v, dict):
        for k, x in v.items():
            p = _json_has_empty_array(x, f"{path}.{k}")
            if p:
                return p
    return None


_UNSET = object()


def add_query(url, query):
    if not query:
        return url
    if isinstance(query, dict):
        query = list(query.items())
    qs = urllib.parse.urlencode(query, quote_via=urllib.parse.quote, safe="")
    return url + ("&" if "?" in url else "?") + qs


class Client:
    """HTTP client for one daemon, one user, one preferred format."""

    def __init__(self, daemon, user="admin", password=None, fmt="json"):
        self.d = daemon
        self.user = user
        self.password = password if password is not None else (
            daemon.users[user][0] if user in daemon.users else "")
        self.fmt = fmt

    def auth_header(self):
        tok = base64.b64encode(f"{self.user}:{self.password}".encode()).decode()
        return f"Basic {tok}"

    def request(self, method, url, body=None, *, fmt=None, query=None, accept=_UNSET,
                content_type=_UNSET, headers=None, auth=True, validate_request=True,
                xml_namespace=True, xml_root=None):
        fmt = fmt or self.fmt
        url = add_query(url, query)
        u = urllib.parse.urlsplit(url)
        path = u.path + ("?" + u.query if u.query else "")
        hdrs = {}
        if accept is _UNSET:
            hdrs["Accept"] = MIME[fmt]
        elif accept is not None:
            hdrs["Accept"] = accept
        if auth:
            hdrs["Authorization"] = self.auth_header()
        data = None
        if body is not None:
            if isinstance(body, dict):
                if fmt == "json":
                    data = json.dumps(body).encode()
                else:
                    text = to_xml(body, root=xml_root, namespace=xml_namespace)
                    data = text.encode()
                    if validate_request and xml_namespace and \
                            not body.get("resourceURI", "").startswith(CIMID_NS + "/"):
                        err = xml_validate(data)
                        if err:
                            raise HarnessError(f"test bug: request XML is not schema-valid: {err}\n{text}")
            elif isinstance(body, str):
                data = body.encode()
            else:
                data = body
            if content_type is _UNSET:
                hdrs["Content-Type"] = MIME[fmt]
            elif content_type is not None:
                hdrs["Content-Type"] = content_type
        if headers:
            hdrs.update(headers)
        if u.scheme == "https":
            conn = http.client.HTTPSConnection(u.hostname, u.port, timeout=30,
                                               context=self.d.ssl_context())
        else:
            conn = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
        try:
            try:
                conn.request(method, path, body=data, headers=hdrs)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the server answered before reading the whole body: read its reply
            resp = conn.getresponse()
            rbody = resp.read()
            r = Response(method, url, resp.status, resp.reason, resp.headers, rbody)
        finally:
            conn.close()
        _trace((method, url, hdrs, data, r))
        self._auto_checks(r, fmt if accept is _UNSET else None)
        return r

    def _auto_checks(self, r, requested_fmt):
        where = f"{r.method} {r.url} -> {r.status}"
        v = r.header("CIMI-Specification-Version")
        check(v is not None, f"{where}: no CIMI-Specification-Version header")
        check(re.fullmatch(r"1\.\d+(\.\d+)?", v.strip()), f"{where}: CIMI-Specification-Version {v!r} is not 1.x")
        if not r.body:
            return
        check(r.fmt is not None, f"{where}: reply Content-Type {r.header('Content-Type')!r} is not "
                                 "application/json or application/xml")
        if requested_fmt and r.status != 406:
            eq(r.fmt, requested_fmt, f"{where}: reply format")
        if r.fmt == "json":
            try:
                r.json = json.loads(r.body.decode("utf-8"))
            except (ValueError, UnicodeDecodeError) as e:
                raise AssertionError(f"{where}: reply is not valid JSON ({e}): {r.body[:300]!r}")
            check(isinstance(r.json, dict), f"{where}: JSON reply is not an object")
            if str(r.json.get("resourceURI", "")).startswith(CIMID_NS + "/"):
                return  # cimid's own type: no CIMI schema to hold it to
            check(isinstance(r.json.get("resourceURI"), str) and r.json["resourceURI"].startswith(NS + "/"),
                  f"{where}: JSON reply has no CIMI resourceURI: {r.json.get('resourceURI')!r}")
            p = _json_has_empty_array(r.json)
            check(p is None, f"{where}: JSON reply contains an empty array at {p}")
        else:
            try:
                r.xml = ET.fromstring(r.body)
            except ET.ParseError as e:
                raise AssertionError(f"{where}: reply is not well-formed XML: {e}")
            ns, _ = _split(r.xml.tag)
            if ns == CIMID_NS:
                return  # cimid's own type: no CIMI schema to hold it to
            check_xml_valid(r.body, f"{where}: XML reply")
            eq(ns, NS, f"{where}: XML root namespace")
            check(re.search(rb"<[A-Za-z]+ [^>]*xmlns=\"" + NS.encode() + rb"\"", r.body[:600]) is not None,
                  f"{where}: the CIMI namespace is not the default namespace of the XML root")

    def get(self, url, **kw):
        return self.request("GET", url, **kw)

    def post(self, url, body=None, **kw):
        return self.request("POST", url, body, **kw)

    def put(self, url, body=None, **kw):
        return self.request("PUT", url, body, **kw)

    def delete(self, url, **kw):
        return self.request("DELETE", url, **kw)

    # -- hypermedia helpers
    def cep(self):
        r = self.get(self.d.cep_url)
        eq(r.status, 200, "GET CloudEntryPoint status")
        return r.doc

    def coll(self, attr):
        cache = self.__dict__.setdefault("_colls", {})
        if attr not in cache:
            ref = self.cep().get(attr)
            check(isinstance(ref, dict) and ref.get("href"), f"CEP has no {attr} reference")
            cache[attr] = ref["href"]
        return cache[attr]

    def list(self, attr_or_href, **kw):
        href = attr_or_href if "://" in attr_or_href else self.coll(attr_or_href)
        r = self.get(href, **kw)
        eq(r.status, 200, f"GET collection {href}")
        return r.doc

    def add_href(self, attr_or_href):
        doc = self.list(attr_or_href)
        h = op(doc, "add")
        check(h, f"collection {attr_or_href} has no add operation")
        return h

    def read(self, url, **kw):
        r = self.get(url, **kw)
        eq(r.status, 200, f"GET {url}")
        return r.doc

    def wait_job(self, uri, expect="SUCCESS", timeout=TIMEOUT):
        check(uri, "a Job URI to poll")
        deadline = time.time() + timeout
        doc = None
        while True:
            r = self.get(uri)
            eq(r.status, 200, f"GET Job {uri}")
            doc = r.doc
            if doc.get("state") in ("SUCCESS", "FAILED", "STOPPED"):
                break
            if time.time() > deadline:
                raise AssertionError(f"Job {uri} still {doc.get('state')!r} after {timeout}s")
            time.sleep(POLL)
        if expect:
            eq(doc.get("state"), expect, f"final state of Job {uri} (statusMessage: "
                                         f"{doc.get('statusMessage')!r})")
        return doc

    def wait_state(self, uri, state, timeout=TIMEOUT):
        deadline = time.time() + timeout
        while True:
            doc = self.read(uri)
            if doc.get("state") == state:
                _count()
                return doc
            if time.time() > deadline:
                raise AssertionError(f"{uri} is {doc.get('state')!r}, not {state!r} after {timeout}s")
            time.sleep(POLL)

    def wait_stable(self, uri, timeout=TIMEOUT):
        deadline = time.time() + timeout
        while True:
            doc = self.read(uri)
            if doc.get("state") not in TRANSIENT_STATES:
                return doc
            if time.time() > deadline:
                raise AssertionError(f"{uri} still {doc.get('state')!r} after {timeout}s")
            time.sleep(POLL)

    # -- catalogue
    def default_config(self):
        key = ("config", self.user)
        if key not in self.d.cache:
            items = coll_items(self.list("machineConfigs"))
            check(items, "at least one MachineConfiguration is shipped")
            small = [i for i in items if i.get("name") == "small"]
            self.d.cache[key] = (small or items)[0]
        return self.d.cache[key]

    def default_image(self):
        key = ("image", self.user)
        if key not in self.d.cache:
            items = [i for i in coll_items(self.list("machineImages")) if i.get("state") == "AVAILABLE"]
            check(items, "at least one AVAILABLE MachineImage is shipped")
            self.d.cache[key] = items[0]
        return self.d.cache[key]


def op(doc, rel):
    """href of the operation rel (bare 'add'/'edit'/'delete' or an action name
    such as 'start', which is expanded to the full action URI)."""
    if rel not in ("add", "edit", "delete") and "://" not in rel:
        rel = ACTION + rel
    for o in doc.get("operations") or []:
        if o.get("rel") == rel:
            return o.get("href")
    return None


def rels(doc):
    out = []
    for o in doc.get("operations") or []:
        r = o.get("rel") or ""
        out.append(r[len(ACTION):] if r.startswith(ACTION) else r)
    return out


def coll_items(doc):
    """Items of a collection document, checking the JSON array name."""
    uri = doc.get("resourceURI") or ""
    check(uri.endswith("Collection"), f"not a collection: {uri!r}")
    item_type = uri.rsplit("/", 1)[-1][:-len("Collection")]
    names = [TYPE_ARRAYS.get(item_type, item_type[:1].lower() + item_type[1:] + "s")]
    if item_type == "ResourceMetadata":
        names.append("resourceMetadatas")
    for n in names:
        if n in doc:
            check(isinstance(doc[n], list), f"{n} is not an array")
            return doc[n]
    others = [k for k, v in doc.items()
              if isinstance(v, list) and k != "operations" and not k.startswith("_")]
    check(not others, f"{item_type} collection holds its items under {others}, expected {names[0]!r}")
    return []


def ids(doc):
    return [i.get("id") for i in coll_items(doc)]


def names(doc):
    return [i.get("name") for i in coll_items(doc)]


def assert_error(r, status, mention=(), fmt=None):
    """An error reply: status, Job-shaped body in the requested format with
    state FAILED, returnCode = status, a statusMessage (mentioning one of
    `mention` when given), id = CIMI-Job-URI when one is announced."""
    where = f"{r.method} {r.url}"
    eq(r.status, status, f"{where}: HTTP status (body {r.body[:300]!r})")
    check(r.body, f"{where}: error reply {status} has no body")
    if fmt:
        eq(r.fmt, fmt, f"{where}: error body format")
    d = r.doc
    eq(d.get("resourceURI"), NS + "/Job", f"{where}: error body type")
    eq(d.get("state"), "FAILED", f"{where}: error Job state")
    eq(d.get("returnCode"), status, f"{where}: error Job returnCode")
    msg = d.get("statusMessage")
    check(isinstance(msg, str) and msg.strip(), f"{where}: error Job has no statusMessage")
    if isinstance(mention, str):
        mention = (mention,)
    if mention:
        check(any(m.lower() in msg.lower() for m in mention),
              f"{where}: statusMessage {msg!r} names none of {list(mention)}")
    job = r.header("CIMI-Job-URI")
    if job:
        eq(d.get("id"), job, f"{where}: error Job id vs CIMI-Job-URI")
    return d


STORE_COLLECTIONS = ("machines", "machineConfigs", "machineImages", "machineTemplates",
                     "credentials", "credentialTemplates", "volumes", "volumeTemplates",
                     "volumeConfigs", "volumeImages", "networks", "networkTemplates",
                     "networkConfigs", "networkPorts", "addresses", "forwardingGroups",
                     "systems", "systemTemplates")


def store_snapshot(c):
    """What the store holds (jobs excluded: a failed request may record a
    FAILED Job): per collection the sorted (id, name, state, updated)."""
    snap = {}
    for attr in STORE_COLLECTIONS:
        doc = c.list(attr, fmt="json")
        snap[attr] = sorted((i.get("id"), i.get("name"), i.get("state"), i.get("updated"),
                             i.get("description")) for i in coll_items(doc))
    return snap


def assert_unchanged(c, before, what="store"):
    after = store_snapshot(c)
    for k in before:
        eq(after[k], before[k], f"{what} changed after a failed request ({k})")


# ---------------------------------------------------------------- machines

def machine_create_doc(c, name, initial_state=None, properties=None, description=None, **tpl_extra):
    tpl = {}
    if initial_state:
        tpl["initialState"] = initial_state
    tpl["machineConfig"] = {"href": c.default_config()["id"]}
    tpl["machineImage"] = {"href": c.default_image()["id"]}
    tpl.update(tpl_extra)
    doc = {"resourceURI": NS + "/MachineCreate", "name": name}
    if description:
        doc["description"] = description
    if properties:
        doc["properties"] = properties
    doc["machineTemplate"] = tpl
    return doc


def check_created(r, what="create"):
    """A create reply whose Job may or may not be done within the reply
    (DSP0263 4.2.1.6/4.2.1.7): 201 with the complete resource (its Job
    finished: no transitional state), or 202 with the partial resource (its
    Job not finished yet); both with Location and CIMI-Job-URI.  Returns r."""
    isin(r.status, (201, 202), f"{what} (reply {r.body[:300]!r})")
    check(r.header("Location"), f"{what}: {r.status} has a Location")
    check(r.header("CIMI-Job-URI"), f"{what}: {r.status} has a CIMI-Job-URI")
    if r.status == 201:
        notin(r.doc.get("state"), TRANSIENT_STATES | {"ATTACHING", "DETACHING"},
              f"{what}: a 201 resource is complete")
    return r


def create_machine(c, name, initial_state=None, properties=None, description=None, body=None,
                   wait=True):
    """POST a MachineCreate; checks 201/202 + Location + CIMI-Job-URI; waits
    for the Job and the target state.  Returns the Machine document."""
    body = body or machine_create_doc(c, name, initial_state, properties, description)
    r = check_created(c.post(c.add_href("machines"), body), f"create machine {name}")
    loc = r.header("Location")
    job = r.header("CIMI-Job-URI")
    if not wait:
        return r
    c.wait_job(job)
    return c.wait_state(loc, initial_state or "STOPPED")


def action_doc(name, force=None):
    d = {"resourceURI": NS + "/Action", "action": ACTION + name}
    if force is not None:
        d["force"] = force
    return d


def do_action(c, machine, name, expect_state, force=None):
    href = op(machine, name)
    check(href, f"machine in state {machine.get('state')} offers {name} (ops: {rels(machine)})")
    r = c.post(href, action_doc(name, force))
    eq(r.status, 202, f"{name} action status (reply {r.body[:300]!r})")
    job = r.header("CIMI-Job-URI")
    check(job, f"{name} reply has a CIMI-Job-URI")
    jd = c.wait_job(job)
    eq(jd.get("targetResource", {}).get("href"), machine["id"], f"{name} Job targetResource")
    return c.wait_state(machine["id"], expect_state), jd


# ---------------------------------------------------------------- registry and runner

class Test:
    def __init__(self, name, fn, args, module):
        self.name, self.fn, self.args, self.module = name, fn, args, module


TESTS = []


def test(arg=None, *, formats=None):
    """Register a test.  @test, or @test(formats=BOTH) to run it once per
    format (the function then takes fmt and is named name[json]/name[xml])."""
    def deco(fn):
        mod = fn.__module__.split(".")[-1]
        short = mod[5:] if mod.startswith("test_") else mod
        if formats:
            for f in formats:
                TESTS.append(Test(f"{short}.{fn.__name__}[{f}]", fn, (f,), mod))
        else:
            TESTS.append(Test(f"{short}.{fn.__name__}", fn, (), mod))
        return fn
    if callable(arg):
        return deco(arg)
    return deco


def _fmt_trace():
    out = []
    for method, url, hdrs, data, r in getattr(_tls, "trace", None) or []:
        out.append(f"    > {method} {url}")
        for k in ("Accept", "Content-Type", "If-Match"):
            if k in hdrs:
                out.append(f"    > {k}: {hdrs[k]}")
        if data:
            out.append("    > " + data[:600].decode("utf-8", "replace").replace("\n", "\n    > "))
        out.append(f"    < {r.status} {r.reason}")
        for k in ("Content-Type", "Location", "CIMI-Job-URI", "ETag", "WWW-Authenticate"):
            if r.header(k):
                out.append(f"    < {k}: {r.header(k)}")
        if r.body:
            out.append("    < " + r.body[:900].decode("utf-8", "replace").replace("\n", "\n    < "))
    return "\n".join(out)


# Every daemon's stderr log; scanned for sanitizer reports after the run.
_all_logs = []
SANITIZER_MARKS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:",
                   "WARNING: ThreadSanitizer")


def sanitizer_reports():
    """(log path, first lines of the report) for each daemon log with a sanitizer report."""
    found = []
    for path in _all_logs:
        try:
            with open(path, "rb") as f:
                text = f.read().decode("utf-8", "replace")
        except OSError:
            continue
        lines = text.splitlines()
        for i, line in enumerate(lines):
            if any(m in line for m in SANITIZER_MARKS):
                found.append((path, "\n".join(lines[i:i + 25])))
                break
    return found


def run(filters=(), listing=False):
    selected = [t for t in TESTS if not filters or any(f in t.name for f in filters)]
    if listing:
        for t in selected:
            print(t.name)
        return 0
    passed = failed = skipped = 0
    started = time.time()
    current_module = None
    try:
        for t in selected:
            if t.module != current_module:
                stop_shared()
                current_module = t.module
            _tls.asserts = 0
            _tls.trace = []
            try:
                t.fn(*t.args)
                if getattr(_tls, "asserts", 0) == 0:
                    raise AssertionError("the test made no assertion")
                passed += 1
                print(f"ok - {t.name}", flush=True)
            except SkipTest as e:
                skipped += 1
                print(f"skip - {t.name}: {e}", flush=True)
            except Exception as e:
                failed += 1
                reason = str(e).splitlines()[0] if str(e) else type(e).__name__
                print(f"FAIL - {t.name}: {type(e).__name__}: {reason}", flush=True)
                tb = traceback.format_exc().rstrip().replace("\n", "\n    ")
                print("    " + tb)
                tr = _fmt_trace()
                if tr:
                    print("    last exchanges:\n" + tr)
                if os.environ.get("CIMITEST_LOGS"):
                    for k, d in _shared.items():
                        if isinstance(d, Daemon):
                            print(f"    daemon {k} stderr tail:\n      "
                                  + d.log_tail(15).replace("\n", "\n      "))
                sys.stdout.flush()
    finally:
        stop_shared()
        _kill_all()
    # A daemon built with ASan/UBSan reports memory errors, undefined
    # behaviour and leaks on its stderr: each report is a failure.
    for path, report in sanitizer_reports():
        failed += 1
        print(f"FAIL - sanitizer report in {path}:\n    " + report.replace("\n", "\n    "), flush=True)
    print(f"# {len(selected)} tests in {time.time() - started:.1f}s", flush=True)
    print(f"{passed} passed, {failed} failed" + (f", {skipped} skipped" if skipped else ""),
          flush=True)
    return 0 if failed == 0 else 1


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    listing = "--list" in argv
    filters = [a for a in argv if a != "--list"]
    return run(filters, listing)
