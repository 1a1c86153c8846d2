"""B2 - lifecycle overhead: cimid against the same libvirt calls made directly.

Each machine goes create -> start -> stop -> delete, one machine at a time:
  * through cimid over HTTP: POST /machines (initialState STOPPED), POST
    .../start, POST .../stop, DELETE; after each POST the client polls the Job
    until it ends (at once, then every 0.25 ms for 50 ms, then backing off to 5 ms); DELETE
    waits for its Job inside cimid and answers 200.  The time of an
    operation is from sending the request to seeing the Job SUCCESS.
  * directly: bench/direct_libvirt.c makes the libvirt calls behind each
    operation (see that file) on its own connection.
The two paths run in alternating chunks (4; every direct chunk is a fresh
process with its own warm-up) so that both see the same moments of a shared
machine.  On test:///default the CPU time per operation is also measured:
cimid's (from /proc), the Python client's, and the direct program's
(process start and connection included, spread over its operations).
test:///default: libvirt's in-process mock, so the difference is cimid's own
cost (HTTP, JSON, the durable SQLite commits, the job queue).  Stop is the
graceful one (virDomainShutdown) in both paths.
qemu:///embed with the project's test image under TCG: guest and QEMU work
dominate.  Stop is forced (virDomainDestroy) in both paths: the guest is
stopped right after it was started, before its ACPI daemon runs, so a
graceful stop would only measure the stop timeout.
"""

import os
import resource
import shutil
import subprocess
import tempfile
import time

from cimibench import (DIRECT, BenchError, Cimid, create_machine, delete_machine,
                       kill_processes_under, log, machine_action, process_cpu, stats)

OPS = ["create", "start", "stop", "delete"]


def run_direct(args, count, warmup):
    out = subprocess.run([DIRECT, "--count", str(count), "--warmup", str(warmup)] + args,
                         capture_output=True, text=True)
    if out.returncode != 0:
        raise BenchError(f"direct_libvirt failed: {out.stderr.strip()[-500:]}")
    times = {op: [] for op in OPS}
    for line in out.stdout.splitlines():
        op, us = line.split()
        times[op].append(float(us) / 1e6)
    return times


def run_cimid(d, count, warmup, image=None, force_stop=False, first=0):
    c = d.client()
    times = {op: [] for op in OPS}
    rtt = []
    kw = {}
    for i in range(warmup + count):
        t0 = time.perf_counter()
        uri = create_machine(c, d.base, f"b2-{first + i:05d}", initial_state="STOPPED",
                             image=image, **kw)
        t1 = time.perf_counter()
        machine_action(c, uri, "start", **kw)
        t2 = time.perf_counter()
        machine_action(c, uri, "stop", force=force_stop, **kw)
        t3 = time.perf_counter()
        delete_machine(c, uri, **kw)
        t4 = time.perf_counter()
        # One plain authenticated GET: the HTTP round trip a Job poll costs.
        t5 = time.perf_counter()
        c.get(d.base + "cloudEntryPoint")
        rtt.append(time.perf_counter() - t5)
        if i >= warmup:
            for op, a, b in zip(OPS, (t0, t1, t2, t3), (t1, t2, t3, t4)):
                times[op].append(b - a)
    c.close()
    return times, rtt


def interleaved(d, n, chunks, direct_args, direct_warmup, cimid_warmup, **kw):
    """Alternate chunks of direct and cimid lifecycles, so that both paths see
    the same moments of a shared, noisy machine; returns (cimid, direct, rtt)."""
    cim = {op: [] for op in OPS}
    direct = {op: [] for op in OPS}
    rtt = []
    done = 0
    cpu = {"cimid": 0.0, "client": 0.0, "direct": 0.0, "cimid_ops": 0, "direct_ops": 0}
    for k in range(chunks):
        size = n // chunks + (1 if k < n % chunks else 0)
        ru = resource.getrusage(resource.RUSAGE_CHILDREN)
        dt = run_direct(direct_args, size, warmup=direct_warmup)
        ru2 = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu["direct"] += (ru2.ru_utime + ru2.ru_stime) - (ru.ru_utime + ru.ru_stime)
        cpu["direct_ops"] += 4 * (size + direct_warmup)
        warm = cimid_warmup if k == 0 else 0
        c0, s0 = process_cpu(d.proc.pid), time.process_time()
        ct, r = run_cimid(d, size, warmup=warm, first=done, **kw)
        cpu["cimid"] += process_cpu(d.proc.pid) - c0
        cpu["client"] += time.process_time() - s0
        cpu["cimid_ops"] += 4 * (size + warm)
        done += size + warm
        for op in OPS:
            direct[op] += dt[op]
            cim[op] += ct[op]
        rtt += r
    per_op = {"cimid": cpu["cimid"] / cpu["cimid_ops"], "client": cpu["client"] / cpu["cimid_ops"],
              "direct": cpu["direct"] / cpu["direct_ops"]}
    return cim, direct, rtt, per_op


def summarize(cim, direct):
    rows = {}
    for op in OPS + ["total"]:
        if op == "total":
            cs = [sum(x) for x in zip(*(cim[o] for o in OPS))]
            ds = [sum(x) for x in zip(*(direct[o] for o in OPS))]
        else:
            cs, ds = cim[op], direct[op]
        rows[op] = {"cimid": stats(cs), "direct": stats(ds)}
    return rows


def run_test(cfg):
    n = cfg["b2_test_count"]
    log(f"B2 test:///default: {n} machines directly and through cimid, in 4 alternating chunks")
    d = Cimid("b2-test").start()
    try:
        cim, direct, rtt, cpu = interleaved(d, n, 4,
                                            ["--uri", "test:///default", "--stop", "shutdown"],
                                            direct_warmup=10, cimid_warmup=10)
    finally:
        d.stop()
        shutil.rmtree(d.tmp, ignore_errors=True)
    res = summarize(cim, direct)
    res["_rtt"] = stats(rtt)
    res["_cpu"] = cpu
    res["_count"] = n
    return res


def qemu_available(image_dir):
    image = os.path.join(image_dir or "", "cimid-test.qcow2")
    if shutil.which("qemu-system-x86_64") is None or shutil.which("qemu-img") is None:
        return None, "QEMU is not installed (scripts/install-deps.sh --qemu)"
    if not image_dir or not os.path.exists(image):
        return None, f"no test image {image} (images/build-test-image.sh DIR)"
    return image, None


def run_qemu(cfg):
    n = cfg["b2_qemu_count"]
    image, why = qemu_available(cfg.get("image_dir"))
    if image is None:
        return {"_skipped": why}
    tmp = tempfile.mkdtemp(prefix="cimid-bench-qemu-")
    try:
        droot = os.path.join(tmp, "direct-root")
        dargs = ["--uri", f"qemu:///embed?root={droot}", "--stop", "destroy",
                 "--image", image, "--storage", os.path.join(tmp, "direct-storage")]
        images = os.path.join(tmp, "images")
        os.makedirs(images)
        os.symlink(image, os.path.join(images, "cimid-test.qcow2"))
        root = os.path.join(tmp, "cimid-root")
        log(f"B2 qemu:///embed: {n} machines directly and through cimid, in alternating chunks "
            f"(+1 warm-up each)")
        d = Cimid("b2-qemu", connect=f"qemu:///embed?root={root}",
                  extra=["--images-dir", images, "--accel", "tcg"], tmp=os.path.join(tmp, "cimid"))
        os.makedirs(d.tmp)
        try:
            d.start()
            c = d.client()
            imgs = c.get(d.base + "machineImages").json().get("machineImages", [])
            href = next((i["id"] for i in imgs if i.get("name") == "cimid-test"), None)
            c.close()
            if href is None:
                raise BenchError("cimid did not register the test image")
            cim, direct, rtt, _ = interleaved(d, n, min(4, n), dargs, direct_warmup=1,
                                              cimid_warmup=1, image=href, force_stop=True)
        finally:
            d.stop()
            kill_processes_under(root)
            kill_processes_under(droot)
        res = summarize(cim, direct)
        res["_rtt"] = stats(rtt)
        res["_count"] = n
        return res
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def run(cfg):
    out = {"test": run_test(cfg)}
    if cfg.get("qemu", True):
        out["qemu"] = run_qemu(cfg)
    else:
        out["qemu"] = {"_skipped": "--no-qemu"}
    return out
