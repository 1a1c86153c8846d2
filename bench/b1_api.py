"""B1 - API throughput: cimid against nginx serving the same bytes.

cimid (test:///default) gets 100 Machines of the tenant user `bench`.  wrk then
runs, with the user's Basic credentials, against
  * one Machine in JSON          GET /cimi/machines/ID
  * the same Machine in XML      GET /cimi/machines/ID  (Accept: application/xml)
  * the 100-Machine collection   GET /cimi/machines     (JSON)
at 1, 16 and 64 connections.  The exact bytes cimid answered are written as
static files and served by nginx (loopback, started and stopped here) with the
same wrk parameters, the same headers, in the same run: each cimid case runs
right before its nginx twin so both see the same noise.
"""

import os
import re
import shutil
import subprocess
import tempfile
import time

from cimibench import (BenchError, Cimid, PASSWORD, USER, create_machine, free_port, log,
                       parallel)

CASES = [  # (key, label, path, accept, file)
    ("get_json", "GET one Machine, JSON", "machines/{id}", "application/json", "machine.json"),
    ("get_xml", "GET one Machine, XML", "machines/{id}", "application/xml", "machine.xml"),
    ("coll_json", "GET 100-Machine collection, JSON", "machines", "application/json",
     "machines.json"),
]
CONNECTIONS = [1, 16, 64]

NGINX_CONF = """\
# nginx for cimid's B1 baseline: static files on loopback.
worker_processes {workers};
{user}
daemon off;
master_process on;
pid {tmp}/nginx.pid;
error_log {tmp}/nginx-error.log warn;
events {{ worker_connections 4096; }}
http {{
    types {{ application/json json; application/xml xml; }}
    default_type application/octet-stream;
    access_log {tmp}/nginx-access.log;
    sendfile on;
    keepalive_requests 1000000;
    keepalive_timeout 65;
    client_body_temp_path {tmp}/client_body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    server {{
        listen 127.0.0.1:{port};
        root {tmp}/www;
        add_header CIMI-Specification-Version 1.1.0;
        add_header Cache-Control no-store;
    }}
}}
"""


class Nginx:
    def __init__(self):
        self.tmp = tempfile.mkdtemp(prefix="cimid-bench-nginx-")
        os.chmod(self.tmp, 0o755)
        os.makedirs(os.path.join(self.tmp, "www"))
        self.port = free_port()
        self.proc = None

    def start(self):
        conf = os.path.join(self.tmp, "nginx.conf")
        with open(conf, "w") as f:
            f.write(NGINX_CONF.format(
                workers=os.cpu_count() or 1, tmp=self.tmp, port=self.port,
                user="user root;" if os.geteuid() == 0 else ""))
        self.proc = subprocess.Popen(
            ["nginx", "-c", conf, "-p", self.tmp, "-e", os.path.join(self.tmp, "nginx-error.log")],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 10
        import http.client
        while True:
            try:
                c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
                c.request("GET", "/")
                c.getresponse().read()
                c.close()
                return self
            except OSError:
                if self.proc.poll() is not None or time.time() > deadline:
                    err = open(os.path.join(self.tmp, "nginx-error.log")).read()[-500:]
                    raise BenchError(f"nginx did not start: {err}")
                time.sleep(0.05)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        shutil.rmtree(self.tmp, ignore_errors=True)


_UNITS = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0}


def _seconds(text):
    m = re.match(r"([\d.]+)(us|ms|s|m)$", text)
    return float(m.group(1)) * _UNITS[m.group(2)] if m else None


def wrk(url, connections, seconds, accept, auth):
    threads = 1 if connections == 1 else min(2, os.cpu_count() or 1)
    cmd = ["wrk", "-t", str(threads), "-c", str(connections), "-d", f"{seconds}s", "--latency",
           "-H", f"Authorization: {auth}", "-H", f"Accept: {accept}", url]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 60).stdout
    res = {"rps": None, "p50": None, "p99": None, "errors": 0, "requests": 0}
    m = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if m:
        res["rps"] = float(m.group(1))
    for pct, key in (("50", "p50"), ("99", "p99")):
        m = re.search(rf"^\s+{pct}(?:\.000)?%\s+(\S+)", out, re.M)
        if m:
            res[key] = _seconds(m.group(1))
    m = re.search(r"(\d+) requests in", out)
    if m:
        res["requests"] = int(m.group(1))
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if m:
        res["errors"] += int(m.group(1))
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    if m:
        res["errors"] += sum(int(x) for x in m.groups())
    if res["rps"] is None:
        raise BenchError(f"cannot read wrk's output:\n{out}")
    return res


def run(cfg):
    seconds = cfg["b1_seconds"]
    import base64
    auth = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    d = Cimid("b1").start()
    nginx = Nginx()
    results = {}
    try:
        c = d.client()
        log("B1: creating 100 machines")
        uris = [None] * 100

        def make(i, n):
            cl = clients[i]
            uris[n] = create_machine(cl, d.base, f"b1-{n:03d}",
                                     initial_state="STARTED" if n % 2 == 0 else "STOPPED",
                                     max_poll=0.02)
        clients = [d.client() for _ in range(8)]
        errors = parallel(8, range(100), make)
        if errors:
            raise BenchError(f"B1 set-up: {errors[0]}")
        one = uris[42]
        mid = one.rsplit("/", 1)[1]
        # The bytes cimid serves, as nginx's static files.
        for key, label, path, accept, fname in CASES:
            r = c.get(d.base + path.format(id=mid), accept=accept)
            if r.status != 200:
                raise BenchError(f"B1: {label}: {r.status}")
            with open(os.path.join(nginx.tmp, "www", fname), "wb") as f:
                f.write(r.body)
            results.setdefault(key, {})["bytes"] = len(r.body)
        c.close()
        nginx.start()
        # Warm both (first requests pay the password hash, page faults...).
        wrk(d.base + f"machines/{mid}", 4, 1, "application/json", auth)
        wrk(f"http://127.0.0.1:{nginx.port}/machine.json", 4, 1, "application/json", auth)
        for key, label, path, accept, fname in CASES:
            for conns in CONNECTIONS:
                cim = wrk(d.base + path.format(id=mid), conns, seconds, accept, auth)
                ngx = wrk(f"http://127.0.0.1:{nginx.port}/{fname}", conns, seconds, accept, auth)
                results[key][conns] = {"cimid": cim, "nginx": ngx}
                log(f"B1 {label} c={conns}: cimid {cim['rps']:.0f} req/s, "
                    f"nginx {ngx['rps']:.0f} req/s")
    finally:
        nginx.stop()
        d.stop()
        shutil.rmtree(d.tmp, ignore_errors=True)
    return results
