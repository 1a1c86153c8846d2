"""
DSP0263 exactness: the status of a create (201 only when its Job is
complete, 202 while it is not: 4.2.1.6/4.2.1.7) and the smaller deviations
of issue 11 (item 15).  The operations of each resource are checked by
test_operations.py.
"""
import shutil
import subprocess
import tempfile

import cimitest
from cimitest import (NS, TRANSIENT_STATES, Client, Daemon, SkipTest, check, check_created,
                      eq, isin, machine_create_doc, notin, test)
from test_recovery import GatedServer

FINISHED = ("SUCCESS", "FAILED", "STOPPED")


def loopback_download_args():
    """The option that lets downloads reach this test's loopback server,
    where cimid has one (downloads to internal addresses are refused)."""
    usage = subprocess.run([cimitest.CIMID_BIN, "--help"], capture_output=True, text=True)
    if "--download-allow" in usage.stdout + usage.stderr:
        return ["--download-allow", "127.0.0.1/32"]
    return []


@test
def create_answers_202_until_its_job_is_done():
    """A create whose Job cannot be done yet (a download its server holds;
    a machine queued behind it with --workers 1) answers 202 with Location,
    CIMI-Job-URI and the partial resource; a create without work (a
    MachineConfiguration) answers exactly 201; a 201 always means the Job is
    finished and the body is the resource as the Job left it."""
    if shutil.which("qemu-img") is None:
        raise SkipTest("qemu-img is not installed (scripts/install-deps.sh installs it)")
    gate = GatedServer(bytes(range(256)) * 4096)
    storage = tempfile.mkdtemp(prefix="cimitest-exact-storage-")
    cimitest._tmpdirs.append(storage)
    with Daemon(name="exact-202", args=["--workers", "1", "--storage-dir", storage]
                + loopback_download_args()) as d:
        try:
            c = Client(d, "alice")
            r = c.post(c.add_href("machineImages"),
                       {"resourceURI": NS + "/MachineImage", "name": "held",
                        "imageLocation": gate.url()})
            eq(r.status, 202, f"a download its server holds is not done: 202 ({r.body[:200]!r})")
            check(r.header("Location") and r.header("CIMI-Job-URI"), "Location and CIMI-Job-URI")
            eq(r.doc.get("id"), r.header("Location"), "the body is the new image")
            eq(r.doc.get("state"), "CREATING", "the partial image is CREATING")
            check(gate.started.wait(30), "the download reached the server")
            isin(c.read(r.header("CIMI-Job-URI")).get("state"), ("QUEUED", "RUNNING"),
                 "its Job is not finished")
            # a machine create while the only worker downloads
            r = check_created(c.post(c.add_href("machines"),
                                     machine_create_doc(c, "queued", "STOPPED")), "queued machine")
            job = c.read(r.header("CIMI-Job-URI"))
            if job.get("state") not in FINISHED:
                eq(r.status, 202, f"its Job is {job.get('state')} after the reply: 202")
                eq(r.doc.get("state"), "CREATING", "the partial Machine")
            # no Job work: exactly 201, the Job complete
            r = c.post(c.add_href("machineConfigs"),
                       {"resourceURI": NS + "/MachineConfiguration", "name": "exact-cfg", "cpu": 1,
                        "memory": 1048576, "disks": [{"capacity": 1048576, "format": "qcow2"}]})
            eq(r.status, 201, f"a MachineConfiguration is created at once: 201 ({r.body[:200]!r})")
            eq(c.read(r.header("CIMI-Job-URI")).get("state"), "SUCCESS", "its Job is complete")
        finally:
            gate.release()
        c.wait_job(r.header("CIMI-Job-URI"))
        # with the worker free: 201 only with a finished Job and the final resource
        seen = set()
        for i in range(6):
            r = check_created(c.post(c.add_href("machines"),
                                     machine_create_doc(c, f"free-{i}", "STOPPED")), "machine")
            seen.add(r.status)
            if r.status == 201:
                isin(c.read(r.header("CIMI-Job-URI")).get("state"), FINISHED,
                     "a 201 names a finished Job")
                eq(r.doc.get("state"), "STOPPED", "a 201 body is the Machine as its Job left it")
            c.wait_job(r.header("CIMI-Job-URI"))
        gate.close()
