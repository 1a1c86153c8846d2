"""cimibench - what the benchmarks share (Python 3 standard library only).

* Cimid: starts build-bench/cimid on a free loopback port with a database in a
  temporary directory (a tenant user created first with `cimid user add`),
  measures its start-up (exec until the first HTTP answer), its resident
  memory, and stops it with SIGTERM.
* Client: one keep-alive HTTP/1.1 connection with Basic authentication, the
  way a CIMI client uses cimid; create / act on / delete Machines and wait for
  their Jobs by polling the Job.
* stats(): p50 / p99 (linear interpolation between closest ranks) and mean.
* fsync_latency(): the cost of one durable write on a file system, the way
  SQLite commits its WAL: the floor under every committed change.
* process_cpu(): CPU seconds a process has used (for CPU per operation).
* PrivateLibvirtd: a libvirtd of the benchmark's own (its config, unix socket
  and pid file in a temporary directory) serving libvirt's test driver, with
  a keeper connection that holds test:///default open so that the daemon
  keeps its domains while cimid restarts, as a real host does.
"""

import base64
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
BUILD = os.environ.get("BENCH_BUILD") or os.path.join(REPO, "build-bench")
CIMID = os.path.join(BUILD, "cimid")
DIRECT = os.path.join(BUILD, "direct_libvirt")
NS = "http://schemas.dmtf.org/cimi/1"
USER, PASSWORD, TENANT = "bench", "bench-password-1", "bench"
ADMIN, ADMIN_PASSWORD = "bench-admin", "bench-admin-password-1"
CIMID_NS = "http://cimid.dev/ns/1"  # cimid's own types (Host)
TERMINAL = ("SUCCESS", "FAILED", "STOPPED")


class BenchError(Exception):
    """Something the benchmark needs did not work (not a slow figure)."""


# ---------------------------------------------------------------- numbers

def percentile(values, p):
    """p-th percentile (0..100) with linear interpolation; None if empty."""
    if not values:
        return None
    v = sorted(values)
    if len(v) == 1:
        return v[0]
    k = (len(v) - 1) * p / 100.0
    lo = int(k)
    hi = min(lo + 1, len(v) - 1)
    return v[lo] + (v[hi] - v[lo]) * (k - lo)


def stats(values):
    return {"n": len(values), "p50": percentile(values, 50), "p99": percentile(values, 99),
            "mean": sum(values) / len(values) if values else None,
            "max": max(values) if values else None}


def fmt_ms(seconds):
    if seconds is None:
        return "n/a"
    ms = seconds * 1000.0
    if ms >= 1000:
        return f"{ms / 1000:.2f} s"
    if ms >= 100:
        return f"{ms:.0f} ms"
    if ms >= 10:
        return f"{ms:.1f} ms"
    return f"{ms:.2f} ms"


def free_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def fsync_latency(directory, count=200):
    """Seconds per durable 4 KiB write in directory, the way SQLite commits to
    its WAL: overwrite a block of an existing file, then fdatasync (list of
    samples).  Every committed cimid change waits for one of these."""
    fd, path = tempfile.mkstemp(dir=directory, prefix="fsync-")
    samples = []
    try:
        os.write(fd, b"\0" * (1 << 20))
        os.fsync(fd)
        os.lseek(fd, 0, os.SEEK_SET)
        block = b"x" * 4096
        for _ in range(count):
            os.write(fd, block)
            t = time.perf_counter()
            os.fdatasync(fd)
            samples.append(time.perf_counter() - t)
    finally:
        os.close(fd)
        os.unlink(path)
    return samples


def process_memory(pid):
    """(VmRSS, VmHWM) of process pid in bytes."""
    rss = hwm = 0
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1]) * 1024
            elif line.startswith("VmHWM:"):
                hwm = int(line.split()[1]) * 1024
    return rss, hwm


def process_cpu(pid):
    """CPU seconds (user + system) used so far by process pid."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def log(msg):
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", flush=True)


# ---------------------------------------------------------------- cimid

class Cimid:
    """One cimid daemon on a free loopback port and its own database."""

    def __init__(self, name, connect="test:///default", extra=(), tmp=None, database=None,
                 overcommit=100000):
        self.tmp = tmp or tempfile.mkdtemp(prefix=f"cimid-bench-{name}-")
        self.database = database or os.path.join(self.tmp, "cimid.db")
        self.connect = connect
        self.extra = list(extra)
        self.port = None
        self.proc = None
        self.log_path = os.path.join(self.tmp, "cimid.log")
        self.startup_s = None
        self.overcommit = str(overcommit)  # percent, memory and CPU

    @property
    def base(self):
        return f"http://127.0.0.1:{self.port}/cimi/"

    def add_user(self, name=USER, password=PASSWORD, admin=False):
        role = ["--admin"] if admin else ["--tenant", TENANT]
        r = subprocess.run([CIMID, "user", "add", name] + role + ["--password-stdin",
                            "--database", self.database], input=password + "\n",
                           capture_output=True, text=True)
        if r.returncode != 0:
            raise BenchError(f"cimid user add failed: {r.stderr.strip()}")

    def start(self, timeout=600.0):
        """Start and wait until it answers HTTP; self.startup_s = exec -> first answer."""
        if not os.path.exists(self.database):
            self.add_user()
        self.port = free_port()
        logf = open(self.log_path, "ab")
        self.log_offset = logf.tell()
        t0 = time.perf_counter()
        self.proc = subprocess.Popen(
            [CIMID, "serve", "--database", self.database, "--port", str(self.port),
             "--connect", self.connect,
             # libvirt's simulated host (test:///default) has 3 GiB and 16 CPUs.
             "--memory-overcommit", self.overcommit, "--cpu-overcommit", self.overcommit]
            + self.extra,
            stdout=logf, stderr=logf, stdin=subprocess.DEVNULL)
        logf.close()
        deadline = time.time() + timeout
        while True:
            if self.proc.poll() is not None:
                raise BenchError(f"cimid exited with {self.proc.returncode}; log: "
                                 f"{self.log_tail()}")
            try:
                c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
                c.request("GET", "/cimi/cloudEntryPoint")
                c.getresponse().read()
                c.close()
                break
            except OSError:
                if time.time() > deadline:
                    raise BenchError(f"cimid did not answer within {timeout}s")
                time.sleep(0.005)
        self.startup_s = time.perf_counter() - t0
        self.started_at = t0
        return self

    def wait_reconciled(self, timeout=600.0):
        """Wait until start-up reconciliation is over (cimid then accepts changes and runs
        Jobs; it answers reads before); returns seconds from exec.  A cimid that reconciles
        before it answers HTTP is done at its first answer."""
        deadline = time.time() + timeout
        with open(self.log_path, "rb") as f:
            f.seek(self.log_offset)
            text = b""
            while True:
                text += f.read()
                if b"machines reconciled" in text:
                    return time.perf_counter() - self.started_at
                ready = text.find(b" ready: ")
                if ready >= 0 and 0 <= text.find(b"reconcile: re-created") < ready:
                    return self.startup_s
                if self.proc.poll() is not None or time.time() > deadline:
                    raise BenchError(f"cimid did not finish reconciling; log: {self.log_tail()}")
                time.sleep(0.005)

    def log_tail(self, n=15):
        try:
            with open(self.log_path, "rb") as f:
                return b"\n".join(f.read().splitlines()[-n:]).decode("utf-8", "replace")
        except OSError:
            return ""

    def memory(self):
        """(VmRSS, VmHWM) in bytes."""
        return process_memory(self.proc.pid)

    def stop(self, timeout=120):
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def client(self):
        return Client(self.port)


# ---------------------------------------------------------------- HTTP client

class Response:
    __slots__ = ("status", "headers", "body")

    def __init__(self, status, headers, body):
        self.status, self.headers, self.body = status, headers, body

    def header(self, name):
        return self.headers.get(name.lower())

    def json(self):
        return json.loads(self.body)


class Client:
    """A keep-alive HTTP/1.1 connection with Basic auth (reconnects once on a
    dropped connection, as a client library would)."""

    def __init__(self, port, user=USER, password=PASSWORD):
        self.port = port
        self.auth = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
        self.conn = None

    def _connect(self):
        self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)

    def request(self, method, url, body=None, accept="application/json"):
        path = url.split(f":{self.port}", 1)[1] if url.startswith("http") else url
        headers = {"Authorization": self.auth, "Accept": accept}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        for attempt in (0, 1):
            if self.conn is None:
                self._connect()
            try:
                self.conn.request(method, path, body=data, headers=headers)
                r = self.conn.getresponse()
                payload = r.read()
                return Response(r.status, {k.lower(): v for k, v in r.getheaders()}, payload)
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                self.conn.close()
                self.conn = None
                if attempt == 1:
                    raise

    def get(self, url, accept="application/json"):
        return self.request("GET", url, accept=accept)

    def post(self, url, body):
        return self.request("POST", url, body=body)

    def delete(self, url):
        return self.request("DELETE", url)

    def close(self):
        if self.conn is not None:
            self.conn.close()
            self.conn = None


def wait_job(client, job_uri, poll=0.00025, max_poll=0.005, timeout=600.0):
    """Poll the Job until it ends; returns its final state.  Polls every `poll`
    seconds for the first 50 ms (so that a fast Job is seen ending within
    about one HTTP round trip), then backs off, doubling up to `max_poll`."""
    start = time.perf_counter()
    deadline = start + timeout
    delay = poll
    while True:
        r = client.get(job_uri)
        if r.status != 200:
            raise BenchError(f"GET {job_uri}: {r.status} {r.body[:200]!r}")
        state = r.json().get("state")
        if state in TERMINAL:
            return state
        now = time.perf_counter()
        if now > deadline:
            raise BenchError(f"Job {job_uri} still {state} after {timeout}s")
        time.sleep(delay)
        if now - start > 0.05:
            delay = min(delay * 2, max_poll)


def machine_create_body(name, base, initial_state="STOPPED", config="m1-small", image=None,
                        memory_kib=None):
    """A MachineCreate with the template given by value (config + image by reference;
    memory_kib overrides the configuration's memory)."""
    tpl = {"initialState": initial_state,
           "machineConfig": {"href": f"{base}machineConfigs/{config}"}}
    if memory_kib:
        tpl["machineConfig"]["memory"] = memory_kib
    tpl["machineImage"] = {"href": image or f"{base}machineImages/debian12"}
    return {"resourceURI": NS + "/MachineCreate", "name": name, "machineTemplate": tpl}


class OpFailed(BenchError):
    pass


def create_machine(client, base, name, initial_state="STOPPED", image=None, wait=True,
                   memory_kib=None, **kw):
    """POST a MachineCreate (and wait for its Job): returns the Machine URI."""
    r = client.post(base + "machines", machine_create_body(name, base, initial_state, image=image,
                                                           memory_kib=memory_kib))
    if r.status not in (201, 202):  # 202 while the Job runs
        raise OpFailed(f"create {name}: {r.status} {r.body[:300]!r}")
    if wait:
        state = wait_job(client, r.header("CIMI-Job-URI"), **kw)
        if state != "SUCCESS":
            raise OpFailed(f"create {name}: Job {state}")
    return r.header("Location")


def machine_action(client, machine_uri, action, force=False, **kw):
    r = client.post(f"{machine_uri}/{action}",
                    {"resourceURI": NS + "/Action", "action": f"{NS}/action/{action}",
                     "force": force})
    if r.status not in (200, 201, 202):
        raise OpFailed(f"{action} {machine_uri}: {r.status} {r.body[:300]!r}")
    state = wait_job(client, r.header("CIMI-Job-URI"), **kw)
    if state != "SUCCESS":
        raise OpFailed(f"{action} {machine_uri}: Job {state}")


def delete_machine(client, machine_uri, **kw):
    """DELETE waits for its Job in cimid (200); 202 means still running: poll."""
    r = client.delete(machine_uri)
    if r.status == 202 and r.header("CIMI-Job-URI"):
        state = wait_job(client, r.header("CIMI-Job-URI"), **kw)
        if state != "SUCCESS":
            raise OpFailed(f"delete {machine_uri}: Job {state}")
    elif r.status not in (200, 204):
        raise OpFailed(f"delete {machine_uri}: {r.status} {r.body[:300]!r}")


def parallel(n_threads, items, fn):
    """Run fn(client_index, item) over items with n_threads threads."""
    lock = threading.Lock()
    it = iter(items)
    errors = []

    def worker(i):
        while True:
            with lock:
                try:
                    item = next(it)
                except StopIteration:
                    return
            try:
                fn(i, item)
            except Exception as e:  # collected, reported by the caller
                with lock:
                    errors.append(e)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(n_threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return errors


def kill_processes_under(path):
    """Kill (by pid) the processes whose command line mentions path: the QEMU
    guests an embed-mode libvirt started for a benchmark outlive it."""
    me = os.getpid()
    for pid in os.listdir("/proc"):
        if not pid.isdigit() or int(pid) == me:
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmd = f.read()
        except OSError:
            continue
        if path.encode() in cmd:
            try:
                os.kill(int(pid), signal.SIGKILL)
            except OSError:
                pass


# ---------------------------------------------------------------- a libvirtd of our own

SYSTEM_LIBVIRT_SOCKETS = ("/run/libvirt/libvirt-sock", "/run/libvirt/virtqemud-sock")


def system_libvirt_running():
    """The socket of a system libvirt daemon that answers, or None.  (Private
    libvirtds of tests or benchmarks, on sockets of their own, do not count.)"""
    for path in SYSTEM_LIBVIRT_SOCKETS:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            s.settimeout(2)
            s.connect(path)
            return path
        except OSError:
            pass
        finally:
            s.close()
    return None


def private_libvirtd_unavailable():
    """Why a private libvirtd cannot run here (a sentence), or None."""
    if shutil.which("libvirtd") is None and not os.path.exists("/usr/sbin/libvirtd"):
        return "libvirtd is not installed (package libvirt-daemon)"
    if shutil.which("virsh") is None:
        return "virsh is not installed (package libvirt-clients)"
    if os.geteuid() != 0:
        return "a private libvirtd needs root"
    system = system_libvirt_running()
    if system:
        return (f"a system libvirt daemon runs ({system}): the benchmark does not start "
                "libvirtds beside it")
    return None


class PrivateLibvirtd:
    """libvirtd serving libvirt's test driver on a unix socket of its own.

    Its config, socket, pid file and log live in directory.  It loads no
    hypervisor driver module (LIBVIRT_DRIVER_DIR points at an empty directory:
    the test driver is built into libvirt), so it touches no state of a
    system libvirt.  libvirtd's test:///default lives as long as one
    connection holds it open: the keeper (`virsh` waiting on a pipe) is that
    connection, so the domains survive cimid's restarts."""

    def __init__(self, directory):
        self.dir = directory
        os.makedirs(self.dir, exist_ok=True)
        os.makedirs(os.path.join(self.dir, "no-modules"), exist_ok=True)
        self.conf = os.path.join(self.dir, "libvirtd.conf")
        self.sock = os.path.join(self.dir, "libvirt-sock")
        with open(self.conf, "w") as f:
            f.write(f'unix_sock_dir = "{self.dir}"\nunix_sock_rw_perms = "0700"\n'
                    'auth_unix_rw = "none"\nauth_unix_ro = "none"\n'
                    # cimid and the keeper, and room for clients beside them
                    'max_clients = 64\n')
        self.uri = f"test+unix:///default?socket={self.sock}"
        self.proc = None
        self.keeper = None

    def start(self, timeout=30.0):
        env = dict(os.environ, LIBVIRT_DRIVER_DIR=os.path.join(self.dir, "no-modules"))
        logf = open(os.path.join(self.dir, "libvirtd.log"), "ab")
        self.proc = subprocess.Popen(["libvirtd", "-f", self.conf, "-p",
                                      os.path.join(self.dir, "libvirtd.pid")],
                                     stdout=logf, stderr=logf, stdin=subprocess.DEVNULL, env=env)
        logf.close()
        deadline = time.time() + timeout
        while not os.path.exists(self.sock):
            if self.proc.poll() is not None or time.time() > deadline:
                raise BenchError(f"private libvirtd did not start (log in {self.dir})")
            time.sleep(0.05)
        # The keeper: an interactive virsh connected to test:///default, reading
        # commands from a pipe that stays open until stop().
        logf = open(os.path.join(self.dir, "keeper.log"), "ab")
        self.keeper = subprocess.Popen(["virsh", "-q", "-c", self.uri], stdin=subprocess.PIPE,
                                       stdout=logf, stderr=logf)
        logf.close()
        self.keeper.stdin.write(b"uri\n")  # connected before anything else uses the daemon
        self.keeper.stdin.flush()
        deadline = time.time() + timeout
        while b"test+unix" not in open(os.path.join(self.dir, "keeper.log"), "rb").read():
            if self.keeper.poll() is not None or time.time() > deadline:
                raise BenchError(f"the keeper connection did not open (log in {self.dir})")
            time.sleep(0.05)
        return self

    def memory(self):
        """(VmRSS, VmHWM) of the daemon in bytes."""
        return process_memory(self.proc.pid)

    def stop(self, timeout=60):
        """Stop the keeper and the daemon (by their pids), wait for both."""
        if self.keeper is not None and self.keeper.poll() is None:
            try:
                self.keeper.stdin.close()  # end of its input: virsh quits
                self.keeper.wait(timeout=10)
            except (OSError, subprocess.TimeoutExpired):
                self.keeper.kill()
                self.keeper.wait()
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
