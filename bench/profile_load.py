#!/usr/bin/env python3
"""The requests bench/profile.sh profiles cimid under (Python standard library only).

    profile_load.py PORT setup                 100 Machines (every other STARTED)
    profile_load.py PORT url                   print the URL of the Machine p-000 (STARTED)
    profile_load.py PORT get N [URL]           N x GET one Machine (JSON)
    profile_load.py PORT getxml N [URL]        N x GET one Machine (XML)
    profile_load.py PORT joburl                print the URL of a Job (the first listed)
    profile_load.py PORT getjob N [URL]        N x GET one Job (JSON), as clients poll it
    profile_load.py PORT collection N          N x GET the Machine collection (JSON)
    profile_load.py PORT page N                N x GET machines?$filter=state='STOPPED'&$first=21&$last=40
    profile_load.py PORT lifecycle N           N x create -> start -> stop -> delete
    profile_load.py PORT concurrent N SECONDS  N clients create+delete for SECONDS

Prints one line: the scenario, the number of requests and the wall time.
"""

import os
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from cimibench import (Client, create_machine, delete_machine, machine_action,  # noqa: E402
                       parallel)

PAGE = "machines?$filter=state%3D'STOPPED'&$first=21&$last=40"


def main():
    port, scenario = int(sys.argv[1]), sys.argv[2]
    n = int(sys.argv[3]) if len(sys.argv) > 3 else 0
    base = f"http://127.0.0.1:{port}/cimi/"
    c = Client(port)
    t = time.perf_counter()
    if scenario == "setup":
        clients = [Client(port) for _ in range(4)]
        errs = parallel(4, range(100), lambda i, k: create_machine(
            clients[i], base, f"p-{k:03d}", "STARTED" if k % 2 == 0 else "STOPPED", max_poll=0.02))
        if errs:
            raise SystemExit(f"setup: {errs[0]}")
        n = 100
    elif scenario == "url":
        print(c.get(base + "machines?$filter=name%3D'p-000'").json()["machines"][0]["id"])
        return
    elif scenario == "joburl":
        print(c.get(base + "jobs?$first=1&$last=1").json()["jobs"][0]["id"])
        return
    elif scenario in ("get", "getxml", "getjob", "collection", "page"):
        accept = "application/xml" if scenario == "getxml" else "application/json"
        if scenario == "getjob":
            url = sys.argv[4] if len(sys.argv) > 4 else \
                c.get(base + "jobs?$first=1&$last=1").json()["jobs"][0]["id"]
        elif scenario in ("get", "getxml"):
            url = sys.argv[4] if len(sys.argv) > 4 else \
                c.get(base + "machines?$first=1&$last=1").json()["machines"][0]["id"]
        else:
            url = base + ("machines" if scenario == "collection" else PAGE)
        for _ in range(n):
            r = c.get(url, accept=accept)
            if r.status != 200:
                raise SystemExit(f"{scenario}: {r.status}")
    elif scenario == "lifecycle":
        for i in range(n):
            uri = create_machine(c, base, f"l-{i}", "STOPPED")
            machine_action(c, uri, "start")
            machine_action(c, uri, "stop")
            delete_machine(c, uri)
        n *= 4
    elif scenario == "concurrent":
        seconds = float(sys.argv[4])
        stop_at = time.time() + seconds
        done = [0]
        lock = threading.Lock()

        def worker(k):
            cl = Client(port)
            i = 0
            while time.time() < stop_at:
                i += 1
                uri = create_machine(cl, base, f"c-{k}-{i}", "STOPPED", poll=0.001, max_poll=0.01)
                delete_machine(cl, uri)
                with lock:
                    done[0] += 2
        threads = [threading.Thread(target=worker, args=(k,)) for k in range(n)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        n = done[0]
    else:
        raise SystemExit(__doc__)
    print(f"{scenario}: {n} requests/operations in {time.perf_counter() - t:.2f} s")


if __name__ == "__main__":
    main()
