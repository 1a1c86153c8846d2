"""OVF import throughput: cimid's import of an OVA against `qemu-img convert`
of the same disk alone (docs/OVF.md, "Cost").

One 1 GiB-virtual disk holding DATA MiB (host libraries: compressible; or
random bytes: stored, not deflated), the rest holes, as a stream-optimized
vmdk in an OVA with a SHA-256 manifest (tests/fixtures/ovf/xo.ovf around it).
Each case runs RUNS times, qemu-img alone right before cimid so both see the
same noise; medians and the ratio are printed.

    python3 bench/ovf_import.py [--runs 5] [--data 512] [--random]
    BENCH_BUILD=build-asan python3 bench/ovf_import.py      # another build
"""

import argparse
import hashlib
import os
import random
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time

from cimibench import Cimid, log, wait_job

HERE = os.path.dirname(os.path.abspath(__file__))
XO = os.path.join(HERE, "..", "tests", "fixtures", "ovf", "xo.ovf")
GiB, MiB = 1 << 30, 1 << 20


def make_disk(path, data_mib, rnd):
    """A sparse 1 GiB raw disk with data_mib MiB written at its start."""
    with open(path, "wb") as f:
        f.truncate(GiB)
        left = data_mib * MiB
        if rnd:
            while left > 0:
                f.write(os.urandom(min(left, 8 * MiB)))
                left -= 8 * MiB
            return
        for root, _, files in os.walk("/usr/lib"):
            for name in files:
                p = os.path.join(root, name)
                if left <= 0 or os.path.islink(p):
                    continue
                try:
                    data = open(p, "rb").read(left)
                except OSError:
                    continue
                f.write(data)
                left -= len(data)


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(MiB), b""):
            h.update(block)
    return h.hexdigest()


def make_ova(work, data_mib, rnd):
    raw, vmdk = os.path.join(work, "disk.raw"), os.path.join(work, "disk1.vmdk")
    make_disk(raw, data_mib, rnd)
    subprocess.run(["qemu-img", "convert", "-q", "-f", "raw", "-O", "vmdk", "-o",
                    "subformat=streamOptimized", raw, vmdk], check=True)
    os.unlink(raw)
    ovf = os.path.join(work, "bench.ovf")
    with open(XO) as f, open(ovf, "w") as o:
        o.write(f.read().replace('ovf:capacity="24"', 'ovf:capacity="1024"'))
    mf = os.path.join(work, "bench.mf")
    with open(mf, "w") as f:
        f.write(f"SHA256(bench.ovf)= {sha256(ovf)}\nSHA256(disk1.vmdk)= {sha256(vmdk)}\n")
    ova = os.path.join(work, "bench.ova")
    with tarfile.open(ova, "w", format=tarfile.USTAR_FORMAT) as t:
        for path in (ovf, mf, vmdk):
            t.add(path, arcname=os.path.basename(path))
    return ova, vmdk


def alone(vmdk, work):
    out = os.path.join(work, "alone.qcow2")
    t0 = time.perf_counter()
    subprocess.run(["qemu-img", "convert", "-q", "-f", "vmdk", "-O", "qcow2", "-o", "compat=1.1",
                    vmdk, out], check=True)
    dt = time.perf_counter() - t0
    os.unlink(out)
    return dt


def imported(client, base, ova):
    t0 = time.perf_counter()
    r = client.post(base + "systemTemplates/import",
                    {"resourceURI": "http://schemas.dmtf.org/cimi/1/Action",
                     "action": "http://schemas.dmtf.org/cimi/1/action/import", "source": ova})
    if r.status != 202:
        sys.exit(f"import: {r.status} {r.body[:300]!r}")
    state = wait_job(client, r.header("CIMI-Job-URI"))
    dt = time.perf_counter() - t0
    if state != "SUCCESS":
        sys.exit(f"import Job {state}")
    return dt


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--data", type=int, default=512, help="MiB of data in the 1 GiB disk")
    p.add_argument("--random", action="store_true", help="random bytes instead of libraries")
    args = p.parse_args()
    work = tempfile.mkdtemp(prefix="cimid-bench-ovf-")
    ova, vmdk = make_ova(work, args.data, args.random)
    size = os.path.getsize(ova)
    d = Cimid("ovf", extra=["--storage-dir", os.path.join(work, "storage"),
                            "--import-dir", work, "--transfer-workers", "1"])
    d.add_user(admin=False)
    d.start()
    d.wait_reconciled()
    c = d.client()
    a, b = [], []
    try:
        for i in range(args.runs):
            a.append(alone(vmdk, work))
            b.append(imported(c, d.base, ova))
            log(f"run {i + 1}: qemu-img {a[-1]:.2f} s, cimid {b[-1]:.2f} s")
    finally:
        d.stop()
        shutil.rmtree(work, ignore_errors=True)
    ma, mb = statistics.median(a), statistics.median(b)
    print(f"OVA {size / MiB:.0f} MiB ({args.data} MiB {'random' if args.random else 'library'} "
          f"data in 1 GiB), {args.runs} runs, medians:")
    print(f"  qemu-img convert alone: {ma:.2f} s  {GiB / MiB / ma:.0f} MiB/s virtual, "
          f"{size / MiB / ma:.0f} MiB/s of package")
    print(f"  cimid import:           {mb:.2f} s  {GiB / MiB / mb:.0f} MiB/s virtual, "
          f"{size / MiB / mb:.0f} MiB/s of package")
    print(f"  ratio (overhead cimid adds): {mb / ma:.2f}")


if __name__ == "__main__":
    random.seed(0)
    main()
