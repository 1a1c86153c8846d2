"""B4 - concurrency: 64 clients creating and deleting Machines at once.

Each client (a thread with its own keep-alive connection, Basic auth) loops
for the duration: POST /machines (initialState STOPPED), poll the Job until it
ends (every 1 ms for 50 ms, then backing off to 10 ms), DELETE the Machine (cimid
waits for the delete Job and answers 200; on 202 the client polls).  One
cycle = one create + one delete.  An error is any unexpected HTTP status, a
Job that does not end SUCCESS, or a failed connection; there must be none.
The baseline, in the same run, is the same loop with 1 client.
"""

import shutil
import threading
import time

from cimibench import (BenchError, Cimid, OpFailed, log, machine_create_body, stats, wait_job)


def loop(d, clients, seconds):
    stop_at = time.perf_counter() + seconds
    lock = threading.Lock()
    res = {"cycles": [], "create": [], "delete": [], "errors": 0, "messages": []}

    def client_main(k):
        c = d.client()
        i = 0
        cycles, creates, deletes, errors, msgs = [], [], [], 0, []
        while time.perf_counter() < stop_at:
            i += 1
            try:
                t0 = time.perf_counter()
                r = c.post(d.base + "machines",
                           machine_create_body(f"b4-{clients}-{k}-{i}", d.base))
                t1 = time.perf_counter()
                if r.status not in (201, 202):
                    raise OpFailed(f"create: {r.status} {r.body[:200]!r}")
                state = wait_job(c, r.header("CIMI-Job-URI"), poll=0.001, max_poll=0.01)
                if state != "SUCCESS":
                    raise OpFailed(f"create Job {state}")
                uri = r.header("Location")
                t2 = time.perf_counter()
                r = c.delete(uri)
                t3 = time.perf_counter()
                if r.status == 202:
                    state = wait_job(c, r.header("CIMI-Job-URI"), poll=0.001, max_poll=0.01)
                    if state != "SUCCESS":
                        raise OpFailed(f"delete Job {state}")
                elif r.status != 200:
                    raise OpFailed(f"delete: {r.status} {r.body[:200]!r}")
                t4 = time.perf_counter()
                creates.append(t1 - t0)
                deletes.append(t3 - t2)
                cycles.append(t4 - t0)
            except Exception as e:  # counted and reported
                errors += 1
                if len(msgs) < 3:
                    msgs.append(str(e)[:200])
        c.close()
        with lock:
            res["cycles"] += cycles
            res["create"] += creates
            res["delete"] += deletes
            res["errors"] += errors
            res["messages"] += msgs

    threads = [threading.Thread(target=client_main, args=(k,)) for k in range(clients)]
    t = time.perf_counter()
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    elapsed = time.perf_counter() - t
    return {"clients": clients, "seconds": elapsed,
            "throughput": len(res["cycles"]) / elapsed, "cycles": stats(res["cycles"]),
            "create": stats(res["create"]), "delete": stats(res["delete"]),
            "errors": res["errors"], "messages": res["messages"][:5]}


def run(cfg):
    d = Cimid("b4").start()
    try:
        log(f"B4: 1 client for {cfg['b4_base_seconds']} s")
        one = loop(d, 1, cfg["b4_base_seconds"])
        log(f"B4: {cfg['b4_clients']} clients for {cfg['b4_seconds']} s")
        many = loop(d, cfg["b4_clients"], cfg["b4_seconds"])
        if d.proc.poll() is not None:
            raise BenchError("cimid died during B4: " + d.log_tail())
    finally:
        d.stop()
        shutil.rmtree(d.tmp, ignore_errors=True)
    return {"one": one, "many": many}
