#!/usr/bin/env python3
"""soak.py - load and soak test of cimid with wrk.

Starts cimid (CIMID_BIN, on test:///default, a fresh database), creates
--machines machines for one user, then runs wrk with soak.lua (GET machine,
GET collection with $filter, PUT name edits, POST creations and DELETEs of
them) at --connections connections for --duration seconds.  Every
--interval seconds it samples cimid's resident memory (VmRSS in
/proc/PID/status) and open file descriptors (/proc/PID/fd) and prints the
curve.  It fails (each check is one line "ok - soak.NAME" / "FAIL - ...",
then "N passed, N failed") on:

  * any 5xx reply, a socket error wrk counts (connect/read/write/timeout),
    or a reply status no client should get (anything but 200, 201, 202,
    409 for a DELETE racing its creation Job);
  * resident memory growing after warm-up (the first --warmup fraction of
    the run, default 25%): the mean of the last three samples may exceed
    the mean of the first three after warm-up by at most --rss-tolerance
    percent (default 10) plus 8 MiB;
  * file descriptors leaking: with no client connected, within 45 s after
    the load (the daemon drops idle connections after its 30 s
    --connection-timeout) the daemon must be back to at most 2 more
    descriptors than before it (measured after a 3-second wrk run that
    opens every lazily opened one);
  * the daemon exiting abnormally: SIGTERM at the end must exit 0 and leave
    no sanitizer report (LeakSanitizer runs then under an ASan build).

Under an ASan build ASAN_OPTIONS gets quarantine_size_mb=16 (unless set).
cimid runs with --connection-limit 1024 and --connection-timeout 30 (its
defaults, above wrk's 256 connections), --address-connection-limit 0 (all of
wrk's connections come from 127.0.0.1) and --http-threads 4 (default).

Usage: tests/soak/soak.py [--duration 600] [--connections 256] [--threads 4]
                           [--machines 200] [--interval 5]
"""

import argparse
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "blackbox"))
import cimitest  # noqa: E402
from cimitest import Client, Daemon, machine_create_doc  # noqa: E402

MIB = 1024 * 1024
EXPECTED = {200, 201, 202}


def rss_bytes(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS")


def fd_count(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


class Sampler(threading.Thread):
    def __init__(self, pid, interval, t0):
        super().__init__(daemon=True)
        self.pid, self.interval, self.t0 = pid, interval, t0
        self.samples = []           # (seconds since start, rss bytes, fds)
        self.stop = threading.Event()

    def run(self):
        while not self.stop.wait(self.interval):
            try:
                s = (time.time() - self.t0, rss_bytes(self.pid), fd_count(self.pid))
            except (OSError, RuntimeError):
                return
            self.samples.append(s)
            print(f"# t={s[0]:6.0f}s rss={s[1] / MIB:7.1f} MiB fds={s[2]}", flush=True)


def run_wrk(args, env, seconds, connections, threads):
    cmd = ["wrk", "-t", str(threads), "-c", str(connections), "-d", f"{seconds}s",
           "--timeout", "30s", "-s", os.path.join(HERE, "soak.lua"), env["SOAK_URL"]]
    r = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=seconds + 120)
    if r.returncode != 0:
        raise RuntimeError(f"wrk failed ({r.returncode}): {r.stderr.strip()}")
    statuses = {}
    summary = {}
    for line in r.stdout.splitlines():
        if line.startswith("soak-statuses"):
            for part in line.split()[1:]:
                code, n = part.split("=")
                statuses[int(code)] = int(n)
        elif line.startswith("soak-summary"):
            for part in line.split()[1:]:
                k, v = part.split("=")
                summary[k] = int(v)
    if not summary:
        raise RuntimeError(f"wrk printed no summary:\n{r.stdout}\n{r.stderr}")
    return statuses, summary, r.stdout


def wait_idle_fds(pid, baseline=None, limit=45.0):
    """Fd count once no client is connected.  Without a baseline: once the
    count has not changed for 3 s.  With one: as soon as the count is back
    to baseline + 2, else after limit seconds (longer than the daemon's
    30 s --connection-timeout, after which it drops idle connections).
    Returns (count, seconds waited)."""
    t0 = time.time()
    last, stable_since = fd_count(pid), t0
    while time.time() - t0 < limit:
        if baseline is not None and last <= baseline + 2:
            break
        if baseline is None and time.time() - stable_since >= 3.0:
            break
        time.sleep(0.5)
        n = fd_count(pid)
        if n != last:
            last, stable_since = n, time.time()
    return last, time.time() - t0


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--duration", type=int, default=600, help="seconds of load (default 600)")
    p.add_argument("--connections", type=int, default=256)
    p.add_argument("--threads", type=int, default=4, help="wrk threads (default 4)")
    p.add_argument("--machines", type=int, default=200, help="machines created first")
    p.add_argument("--interval", type=float, default=5.0, help="sampling interval (s)")
    p.add_argument("--warmup", type=float, default=0.25, help="warm-up fraction of the run")
    p.add_argument("--rss-tolerance", type=float, default=10.0, help="percent (default 10)")
    args = p.parse_args()

    results = []
    # Under AddressSanitizer freed memory waits in a quarantine (256 MiB by
    # default) before reuse, which would read as growth for minutes: keep it
    # small so that the curve shows cimid's own memory.
    asan = os.environ.get("ASAN_OPTIONS", "")
    if "quarantine_size_mb" not in asan:
        os.environ["ASAN_OPTIONS"] = (asan + ":" if asan else "") + "quarantine_size_mb=16"

    def verdict(name, ok, detail):
        results.append(ok)
        print(f"{'ok' if ok else 'FAIL'} - soak.{name}: {detail}", flush=True)

    # wrk's connections all come from 127.0.0.1: no per-address share (its
    # default, an eighth of --connection-limit, is below 256).
    d = Daemon(name="soak", args=["--connection-limit", "1024", "--connection-timeout", "30",
                                  "--address-connection-limit", "0",
                                  "--http-threads", "4", "--log-level", "warn"])
    try:
        d.start()
        c = Client(d, "alice")
        add = c.add_href("machines")
        body = machine_create_doc(c, "x", "STOPPED")
        paths = []
        for i in range(1, args.machines + 1):
            r = c.post(add, dict(body, name=f"soak-{i}"))
            if r.status not in (201, 202):  # 202: its Job not done yet
                raise RuntimeError(f"seeding machine {i}: {r.status} {r.body[:200]!r}")
            paths.append("/cimi/" + r.header("Location").split("/cimi/", 1)[1])
        template = json.dumps({k: v for k, v in body.items() if k != "name"})[1:]
        env = dict(os.environ, SOAK_AUTH=c.auth_header(), SOAK_IDS=" ".join(paths),
                   SOAK_TEMPLATE=template, SOAK_URL=d.url)
        pid = d.proc.pid
        print(f"# cimid pid {pid}, {args.machines} machines, wrk -c {args.connections} "
              f"-t {args.threads} for {args.duration}s", flush=True)

        run_wrk(args, env, 3, min(args.connections, 32), 2)     # opens what opens lazily
        fds_before, _ = wait_idle_fds(pid)
        rss_start = rss_bytes(pid)
        print(f"# idle before: rss={rss_start / MIB:.1f} MiB fds={fds_before}", flush=True)

        t0 = time.time()
        sampler = Sampler(pid, args.interval, t0)
        sampler.start()
        statuses, summary, out = run_wrk(args, env, args.duration, args.connections, args.threads)
        sampler.stop.set()
        sampler.join()
        fds_after, waited = wait_idle_fds(pid, fds_before)
        print(f"# idle after: rss={rss_bytes(pid) / MIB:.1f} MiB fds={fds_after} "
              f"({waited:.1f}s after wrk ended)", flush=True)
        print("# wrk: " + out.strip().replace("\n", "\n# wrk: "), flush=True)

        secs = summary["duration_us"] / 1e6
        total = summary["requests"]
        fivexx = sum(n for code, n in statuses.items() if code >= 500)
        odd = {code: n for code, n in statuses.items() if code not in EXPECTED and code < 500}
        print(f"# {total} requests in {secs:.0f}s = {total / secs:.0f} req/s, p50 "
              f"{summary['p50_us'] / 1000:.1f} ms, p99 {summary['p99_us'] / 1000:.1f} ms, "
              f"statuses {dict(sorted(statuses.items()))}", flush=True)
        verdict("no-5xx", fivexx == 0, f"{fivexx} replies 5xx of {total}")
        errors = {k: summary[k] for k in ("errors_connect", "errors_read", "errors_write",
                                          "errors_timeout")}
        verdict("no-socket-errors", not any(errors.values()), f"{errors}")
        # A DELETE can race the creation Job of its machine (409); nothing else is expected.
        odd.pop(409, None)
        verdict("statuses", not odd, f"unexpected statuses {odd}" if odd else
                "only 200, 201, 202 (and 409 for a DELETE racing its creation Job)")

        samples = sampler.samples
        after = [s for s in samples if s[0] >= args.warmup * args.duration]
        if len(after) >= 6:
            first = statistics.mean(s[1] for s in after[:3])
            last = statistics.mean(s[1] for s in after[-3:])
            limit = first * (1 + args.rss_tolerance / 100) + 8 * MIB
            verdict("rss-flat", last <= limit,
                    f"after warm-up {first / MIB:.1f} MiB -> end {last / MIB:.1f} MiB "
                    f"(limit {limit / MIB:.1f} MiB); peak {max(s[1] for s in samples) / MIB:.1f} MiB")
            fd_first = max(s[2] for s in after[:3])
            fd_last = max(s[2] for s in after[-3:])
            print(f"# fds under load: after warm-up {fd_first}, at the end {fd_last}, "
                  f"max {max(s[2] for s in samples)}", flush=True)
        else:
            verdict("rss-flat", False, f"only {len(after)} samples after warm-up; run longer")
        verdict("fds", fds_after <= fds_before + 2,
                f"idle descriptors before the load {fds_before}, after {fds_after} "
                f"({waited:.1f}s after the load)")
        rc = d.stop(signal.SIGTERM, timeout=60)
        verdict("clean-stop", rc == 0, f"exit status {rc} after SIGTERM")
    except Exception as e:
        verdict("harness", False, f"{type(e).__name__}: {e}\n    " + d.log_tail(20))
    finally:
        d.kill9()
    for path, report in cimitest.sanitizer_reports():
        verdict("sanitizers", False, f"report in {path}:\n    " + report.replace("\n", "\n    "))
    passed = sum(1 for r in results if r)
    print(f"{passed} passed, {len(results) - passed} failed", flush=True)
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main())
