#!/usr/bin/env python3
"""Run cimid's benchmarks B1-B5 and print one table of figures, ratios and targets.

Usually started by bench/run.sh (which installs wrk and nginx, builds
build-bench/ and bench/direct_libvirt.c first):

    bench.py [--quick] [--only B1,B2,B3,B4,B5] [--no-qemu] [--image-dir DIR]
             [--b3-machines N] [--b3-part both|in|out]

Every figure is compared with a baseline measured in the same run (nginx
serving the same bytes, the same libvirt calls made directly, the same
measurement with 100 Machines, the same loop with one client, a System's
members made one by one, `qemu-img convert` alone), because the machine is
shared and absolute numbers move with its load.  A missed target
is reported, never a failure: the exit status is 0 whenever the benchmarks
ran.  The table (Markdown) and every raw figure (JSON) are also written to
build-bench/bench-results/.
"""

import argparse
import json
import os
import platform
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import b1_api  # noqa: E402
import b2_lifecycle  # noqa: E402
import b3_scale  # noqa: E402
import b4_concurrency  # noqa: E402
import b5_systems  # noqa: E402
from cimibench import BUILD, fmt_ms, fsync_latency, log, percentile  # noqa: E402

FULL = {"b1_seconds": 10, "b2_test_count": 1000, "b2_qemu_count": 20, "b3_count": 100000,
        "b3_repeats": 20, "b3_starts": 3, "b4_clients": 64, "b4_seconds": 30, "b4_base_seconds": 10,
        "b5_test_rounds": 10, "b5_qemu_rounds": 5, "b5_ovf_rounds": 3, "b5_ovf_mib": 256}
QUICK = {"b1_seconds": 2, "b2_test_count": 100, "b2_qemu_count": 2, "b3_count": 1000,
         "b3_repeats": 5, "b3_starts": 1, "b4_clients": 64, "b4_seconds": 5, "b4_base_seconds": 3,
         "b5_test_rounds": 1, "b5_qemu_rounds": 1, "b5_ovf_rounds": 1, "b5_ovf_mib": 32}

MET, MISSED, NONE = "met", "**missed**", "-"


# ---------------------------------------------------------------- machine

def machine_facts():
    model = "?"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    mem = 0
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                mem = int(line.split()[1]) * 1024
    fs = fsync_latency(tempfile.gettempdir())
    return {"cores": os.cpu_count(), "cpu": model, "memory": mem,
            "kernel": platform.release(), "load": os.getloadavg(),
            "fsync_p50": percentile(fs, 50), "fsync_p99": percentile(fs, 99),
            "tmp": tempfile.gettempdir(), "python": platform.python_version()}


def print_facts(m, when):
    print(f"Machine: {m['cores']} cores ({m['cpu']}), {m['memory'] / 2**30:.1f} GiB memory, "
          f"Linux {m['kernel']}; load average {m['load'][0]:.2f} {m['load'][1]:.2f} "
          f"{m['load'][2]:.2f} ({when})")
    print(f"Durable commit floor: fdatasync after a 4 KiB overwrite in {m['tmp']}: "
          f"p50 {fmt_ms(m['fsync_p50'])}, p99 {fmt_ms(m['fsync_p99'])} "
          f"(every committed cimid change waits for one)")


# ---------------------------------------------------------------- table

def signed_ms(x):
    return ("+" if x >= 0 else "-") + fmt_ms(abs(x))


def rps(x):
    return f"{x:,.0f} req/s"


def lat(s):
    return f"p50 {fmt_ms(s['p50'])}, p99 {fmt_ms(s['p99'])}"


def rows_b1(r):
    rows = []
    targets = {"get_json", "get_xml"}
    for key, label, *_ in b1_api.CASES:
        for conns in b1_api.CONNECTIONS:
            cell = r[key][conns]
            c, n = cell["cimid"], cell["nginx"]
            ratio = c["rps"] / n["rps"] if n["rps"] else 0
            err = f"; {c['errors']} errors" if c["errors"] else ""
            rows.append(["B1", f"{label}, {conns} conn ({r[key]['bytes']} B)",
                         f"{rps(c['rps'])}; {lat(c)}{err}",
                         f"nginx {rps(n['rps'])}; {lat(n)}",
                         f"{ratio:.2f}x req/s",
                         ">= 0.5x nginx" if key in targets else "-",
                         (MET if ratio >= 0.5 else MISSED) if key in targets else NONE])
    return rows


def rows_b2(r):
    rows = []
    t = r["test"]
    for op in b2_lifecycle.OPS + ["total"]:
        c, d = t[op]["cimid"], t[op]["direct"]
        added = c["p50"] - d["p50"]
        ok = added < 0.001
        rows.append(["B2", f"test:///default {op} ({t['_count']} machines)",
                     lat(c), f"direct {lat(d)}",
                     f"{signed_ms(added)} ({c['p50'] / d['p50']:.0f}x)",
                     "added < 1 ms p50" if op != "total" else "-",
                     (MET if ok else MISSED) if op != "total" else NONE])
    rows.append(["B2", "test:///default: one authenticated GET (the Job-poll round trip)",
                 lat(t["_rtt"]), "-", "-", "-", NONE])
    cpu = t["_cpu"]
    rows.append(["B2", "test:///default: CPU per operation",
                 f"cimid {fmt_ms(cpu['cimid'])} (+ Python client {fmt_ms(cpu['client'])})",
                 f"direct {fmt_ms(cpu['direct'])}", f"{cpu['cimid'] / cpu['direct']:.0f}x", "-",
                 NONE])
    q = r["qemu"]
    if "_skipped" in q:
        rows.append(["B2", "qemu:///embed", "skipped", q["_skipped"], "-", "<= 1.1x direct",
                     NONE])
        return rows
    for op in b2_lifecycle.OPS + ["total"]:
        c, d = q[op]["cimid"], q[op]["direct"]
        ratio = c["p50"] / d["p50"]
        rows.append(["B2", f"qemu:///embed TCG {op} ({q['_count']} machines)",
                     lat(c), f"direct {lat(d)}",
                     f"{ratio:.2f}x ({signed_ms(c['p50'] - d['p50'])})",
                     "<= 1.1x direct p50", MET if ratio <= 1.1 else MISSED])
    return rows


def rows_b3(r):
    if "large" not in r:  # --b3-part out
        return rows_b3_remote(r.get("remote", {}))
    s, l, n = r["small"], r["large"], r["large"]["machines"]
    mb = 2**20
    return [
        ["B3", f"start-up with {n:,} machines x{l['startup']['n']}", lat(l["startup"]),
         f"{s['machines']} machines {lat(s['startup'])}; libvirt alone "
         f"(define {r['count']:,}) {fmt_ms(r['define_floor'])}",
         f"{l['startup']['p50'] / s['startup']['p50']:.1f}x; "
         f"{l['startup']['p50'] / r['define_floor']:.2f}x libvirt",
         "< 5 s", MET if l["startup"]["p99"] < 5 else MISSED],
        ["B3", f"start-up until every machine is re-created (changes accepted), {n:,} machines",
         lat(l["reconciled"]), f"{s['machines']} machines {lat(s['reconciled'])}; libvirt alone "
         f"{fmt_ms(r['define_floor'])}",
         f"{l['reconciled']['p50'] / r['define_floor']:.2f}x libvirt", "-", NONE],
        ["B3", f"resident memory with {n:,} machines",
         f"{l['rss'] / mb:.0f} MB after start, peak {l['peak'] / mb:.0f} MB",
         f"{s['machines']} machines: {s['rss'] / mb:.0f} MB, peak {s['peak'] / mb:.0f} MB; "
         f"libvirt alone ({r['count']:,} domains, peak) {r['define_floor_rss'] / mb:.0f} MB",
         f"{l['peak'] / s['peak']:.1f}x peak", "< 256 MB peak",
         MET if l["peak"] < 256 * mb else MISSED],
    ] + rows_b3_requests(s, l, "") + (rows_b3_remote(r["remote"]) if "remote" in r else [])


def rows_b3_requests(s, l, where):
    """The GET, the two pages and the create, with l's machines against s's."""
    n = l["machines"]
    return [
        ["B3", f"{where}one Machine GET with {n:,} machines x{l['get']['n']}", lat(l["get"]),
         f"{s['machines']} machines: {lat(s['get'])}",
         f"{l['get']['p50'] / s['get']['p50']:.2f}x p50", "-", NONE],
        ["B3", f"{where}filtered page (state='STARTED', first 50 of {l['page_count']:,} "
         f"matching) x{l['page']['n']}", lat(l["page"]),
         f"{s['machines']} machines: {lat(s['page'])}",
         f"{l['page']['p99'] / s['page']['p99']:.0f}x p99", "< 20 ms p99",
         MET if l["page"]["p99"] < 0.020 else MISSED],
        ["B3", f"{where}ordered page ($orderby=name:desc, first 50 of {n:,}) "
         f"x{l['ordered']['n']}",
         lat(l["ordered"]), f"{s['machines']} machines: {lat(s['ordered'])}",
         f"{l['ordered']['p99'] / s['ordered']['p99']:.0f}x p99", "-", NONE],
        ["B3", f"{where}one create with {n:,} machines x{l['create']['n']}", lat(l["create"]),
         f"{s['machines']} machines: {lat(s['create'])}",
         f"{l['create']['p50'] / s['create']['p50']:.2f}x p50", "-", NONE],
    ]


def rows_b3_remote(r):
    """B3 against private libvirtds outside cimid's process."""
    if "skipped" in r or "error" in r:
        why = r.get("skipped") or f"could not run: {r['error'][:200]}"
        return [["B3", "out of process (private libvirtd)", "skipped", why, "-", "-", NONE]]
    s, l, f, n = r["small"], r["large"], r["first"], r["large"]["machines"]
    mb = 2**20
    where = f"out of process ({r['hosts']} libvirtd): "
    return [
        ["B3", f"{where}first start, defining {n:,} machines (until reconciled)",
         fmt_ms(f["reconciled"]), f"first answer {fmt_ms(f['startup'])}", "-", "-", NONE],
        ["B3", f"{where}start-up with {n:,} machines x{l['startup']['n']}", lat(l["startup"]),
         f"{s['machines']} machines {lat(s['startup'])}",
         f"{l['startup']['p50'] / s['startup']['p50']:.1f}x", "< 5 s",
         MET if l["startup"]["p99"] < 5 else MISSED],
        ["B3", f"{where}start-up until reconciliation is over, {n:,} machines",
         lat(l["reconciled"]), f"{s['machines']} machines {lat(s['reconciled'])}",
         f"{l['reconciled']['p50'] / s['reconciled']['p50']:.1f}x", "-", NONE],
        ["B3", f"{where}cimid's resident memory with {n:,} machines",
         f"{l['rss'] / mb:.0f} MB after start, peak {l['peak'] / mb:.0f} MB",
         f"{s['machines']} machines: {s['rss'] / mb:.0f} MB, peak {s['peak'] / mb:.0f} MB; "
         f"the libvirtds ({n:,} domains): {l['lv_rss'] / mb:.0f} MB, "
         f"peak {l['lv_peak'] / mb:.0f} MB",
         f"{l['peak'] / s['peak']:.1f}x peak", "< 256 MB peak",
         MET if l["peak"] < 256 * mb else MISSED],
    ] + rows_b3_requests(s, l, where)


def rows_b4(r):
    o, m = r["one"], r["many"]
    msg = f" ({'; '.join(m['messages'])})" if m["messages"] else ""
    return [
        ["B4", f"{m['clients']} clients create+delete, {m['seconds']:.0f} s",
         f"{m['throughput']:.1f} cycles/s; cycle {lat(m['cycles'])}",
         f"1 client {o['throughput']:.1f} cycles/s; cycle {lat(o['cycles'])}",
         f"{m['throughput'] / o['throughput']:.2f}x throughput", "-", NONE],
        ["B4", f"{m['clients']} clients: POST /machines", lat(m["create"]),
         f"1 client {lat(o['create'])}", f"{m['create']['p99'] / o['create']['p99']:.0f}x p99",
         "-", NONE],
        ["B4", f"{m['clients']} clients: DELETE (waits for its Job)", lat(m["delete"]),
         f"1 client {lat(o['delete'])}", f"{m['delete']['p99'] / o['delete']['p99']:.0f}x p99",
         "-", NONE],
        ["B4", f"{m['clients']} clients: errors", f"{m['errors']}{msg}",
         f"1 client {o['errors']}", "-", "0", MET if m["errors"] == 0 else MISSED],
    ]


def rows_b5_create(label, r):
    if "error" in r:
        return [["B5", label, "could not run", " ".join(r["error"].split())[:200], "-", "-",
                 NONE]]
    s, q = r["system"], r["seq"]
    return [["B5", f"{label} x{r['rounds']}",
             f"SystemCreate {lat(s)} (its Job: p50 {fmt_ms(r['job']['p50'])})",
             f"one by one {lat(q)}", f"{s['p50'] / q['p50']:.2f}x p50", "-", NONE]]


def rows_b5_ovf(r):
    if "error" in r:
        return [["B5", "OVF export / import", "could not run", " ".join(r["error"].split())[:200],
                 "-", "-", NONE]]
    mib = r["data_mib"]

    def tput(s):
        return f"{mib / s['p50']:.1f} MiB/s ({fmt_ms(s['p50'])})"
    e, qe, i, qi = r["export"], r["qemu_export"], r["import"], r["qemu_import"]
    return [
        ["B5", f"OVF export of 2 disks, {mib} MiB of data, x{r['rounds']} (POST to Job "
         f"SUCCESS + download of the {r['ova_bytes'] / 2**20:.0f} MiB OVA)",
         f"{tput(e)}; Job {fmt_ms(r['export_job']['p50'])} + download "
         f"{fmt_ms(r['download']['p50'])}",
         f"qemu-img convert qcow2 -> streamOptimized vmdk {tput(qe)}",
         f"{e['p50'] / qe['p50']:.2f}x time", "-", NONE],
        ["B5", f"OVF import of that package into a SystemTemplate x{r['rounds']} "
         "(POST to Job SUCCESS)", tput(i),
         f"qemu-img convert vmdk -> qcow2 {tput(qi)}",
         f"{i['p50'] / qi['p50']:.2f}x time", "-", NONE],
    ]


def rows_b5(r):
    t = r["test"]
    what = "1 network + 49 machines" if t["network"] else "50 machines"
    rows = rows_b5_create(f"test:///default: {what} STARTED", t)
    q = r["qemu"]
    if "_skipped" in q:
        return rows + [["B5", "qemu:///embed", "skipped", q["_skipped"], "-", "-", NONE]]
    rows += rows_b5_create("qemu:///embed TCG: 2 machines STARTED", q["create"])
    return rows + rows_b5_ovf(q["ovf"])


def table(rows):
    head = ["Bench", "Case", "cimid", "Baseline (same run)", "Ratio", "Target", "Result"]
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
    for r in rows:
        lines.append("| " + " | ".join(str(x) for x in r) + " |")
    return "\n".join(lines)


# ---------------------------------------------------------------- main

def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="a short run, for smoke-testing")
    ap.add_argument("--only", default="B1,B2,B3,B4,B5", help="comma-separated subset")
    ap.add_argument("--no-qemu", action="store_true",
                    help="skip B2's and B5's qemu:///embed parts")
    ap.add_argument("--image-dir", default=None, help="directory with cimid-test.qcow2")
    ap.add_argument("--b3-machines", type=int, default=None,
                    help="B3's number of Machines (default 100,000; 1,000 with --quick)")
    ap.add_argument("--b3-part", choices=("both", "in", "out"), default="both",
                    help="B3 with libvirt in cimid's process, out of it (private libvirtds), "
                    "or both (default)")
    args = ap.parse_args()
    cfg = dict(QUICK if args.quick else FULL)
    if args.b3_machines is not None:
        if args.b3_machines < 200:
            ap.error("--b3-machines must be at least 200 (100 are the baseline)")
        cfg["b3_count"] = args.b3_machines
    cfg["b3_part"] = args.b3_part
    cfg["qemu"] = not args.no_qemu
    cfg["image_dir"] = args.image_dir
    only = {x.strip().upper() for x in args.only.split(",")}

    facts = machine_facts()
    print_facts(facts, "at the start")
    started = time.time()
    results, rows = {"config": cfg, "machine": facts}, []
    runners = [("B1", b1_api.run, rows_b1), ("B2", b2_lifecycle.run, rows_b2),
               ("B3", b3_scale.run, rows_b3), ("B4", b4_concurrency.run, rows_b4),
               ("B5", b5_systems.run, rows_b5)]
    for name, run, to_rows in runners:
        if name not in only:
            continue
        log(f"{name} starting")
        try:
            results[name] = run(cfg)
            rows += to_rows(results[name])
        except Exception as e:  # one broken benchmark does not hide the others
            log(f"{name} could not run: {e}")
            results[name] = {"error": str(e)}
            rows.append([name, "could not run", str(e)[:200], "-", "-", "-", NONE])
    results["elapsed_s"] = time.time() - started
    facts_end = {"load": os.getloadavg()}
    results["machine_end"] = facts_end

    out = table(rows)
    print()
    print(f"cimid benchmarks ({'quick' if args.quick else 'full'} run, "
          f"{time.strftime('%Y-%m-%d %H:%M')}, {results['elapsed_s'] / 60:.1f} min)")
    print_facts(facts, "at the start")
    print(f"Load average at the end: {facts_end['load'][0]:.2f} {facts_end['load'][1]:.2f} "
          f"{facts_end['load'][2]:.2f}")
    print()
    print(out)
    missed = sum(1 for r in rows if r[-1] == MISSED)
    met = sum(1 for r in rows if r[-1] == MET)
    print(f"\nTargets: {met} met, {missed} missed.  How to read this: docs/PERFORMANCE.md")

    resdir = os.path.join(BUILD, "bench-results")
    os.makedirs(resdir, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S") + ("-quick" if args.quick else "")
    with open(os.path.join(resdir, f"{stamp}.md"), "w") as f:
        f.write(out + "\n")
    with open(os.path.join(resdir, f"{stamp}.json"), "w") as f:
        json.dump(results, f, indent=1, default=str)
    print(f"Saved: {resdir}/{stamp}.md and .json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
