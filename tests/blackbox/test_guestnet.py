"""What a guest can reach on the network (issue 11, hostile tenant).

QEMU user-mode networking (slirp) lets a guest connect to any address of its
virtual network (10.0.2.2, the gateway, and every other 10.0.2.x but the DNS
alias) and turns that into a connection to the host's 127.0.0.1.  Everything
cimid and its guests keep on loopback would then be open to every tenant's
guest: cimid's API, the VNC consoles of other tenants' guests (no password)
and their forwarded ports.  These tests boot a guest whose userData is a
script (the test image runs a user-data starting with "#!", see
images/README.md) that tries those connections from inside and reports what
it got through its own web page, read through the forwarded port 80.
"""

import contextlib
import os
import re
import socket
import threading
import time

from cimitest import SkipTest, Client, check, eq, isin, notin, test
from test_qemu import BOOT_TIMEOUT, console_log, create, endpoint, fetch, qemu_daemon, test_image


class Listener:
    """A TCP listener on a loopback port that greets every connection with a
    secret and counts them."""

    def __init__(self):
        self.secret = f"loopback-secret-{os.getpid()}-{int(time.time())}"
        self.accepted = 0
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.accepted += 1
            with contextlib.suppress(OSError):
                conn.sendall((self.secret + "\n").encode())
                conn.close()

    def close(self):
        self.sock.close()


PROBE_SCRIPT = """#!/bin/sh
# Each probe: connect to HOST:PORT from inside the guest, send an HTTP request,
# print on one line whatever came back (or the error) within a few seconds.
probe() {
  out=$( (printf 'GET / HTTP/1.0\\r\\n\\r\\n'; sleep 3) | timeout 8 nc "$2" "$3" 2>&1 |
         head -c 300 | tr -d '\\r' | tr '\\n' ' ')
  echo "probe $1 $2:$3 -> [$out]"
}
probe listener 10.0.2.2 %(listener)d
probe listener-other-alias 10.0.2.77 %(listener)d
probe cimid 10.0.2.2 %(cimid)d
probe other-vnc 10.0.2.2 %(vnc)d
probe other-http 10.0.2.2 %(http)d
echo probes done
"""


def probe_lines(output):
    """{probe name: what it got} from the script's output."""
    return {m.group(1): m.group(2) for m in re.finditer(r"^probe (\S+) \S+ -> \[(.*)\]$",
                                                          output, re.M)}


def wait_script_started(d, machine, timeout=BOOT_TIMEOUT):
    """Waits for the guest to say it runs its user-data script, which it does
    right after its ready line; an image built before the test image could
    run scripts is a skip, saying so."""
    def console():
        with contextlib.suppress(FileNotFoundError), open(console_log(d, machine), "rb") as f:
            return f.read().decode("utf-8", "replace")
        return ""
    deadline = time.time() + timeout
    while "ready, http on port 80" not in console():
        check(time.time() < deadline, f"the guest says it is ready within {timeout}s")
        time.sleep(0.5)
    grace = time.time() + 20
    while "user-data script started" not in console():
        if time.time() > grace:
            raise SkipTest("the test image does not run user-data scripts: rebuild it with "
                           "images/build-test-image.sh")
        time.sleep(0.5)


@test
def qemu_guest_cannot_reach_host_loopback():
    listener = Listener()
    try:
        with qemu_daemon("qemu-guestnet") as d:
            img = test_image(Client(d, "bob"))
            # Another tenant's guest: its VNC console and forwarded port listen on loopback.
            victim = create(Client(d, "bob"), "victim", img["id"])
            vnc = [e for e in victim["endpoints"] if e["protocol"] == "vnc"][0]
            eq(vnc["address"], "127.0.0.1", "VNC listens on loopback")
            victim_http = endpoint(victim, 80)

            c = Client(d, "alice")
            script = PROBE_SCRIPT % {"listener": listener.port, "cimid": d.port,
                                     "vnc": int(vnc["port"]), "http": victim_http[1]}
            m = create(c, "prober", img["id"], user_data=script)
            http = endpoint(m, 80)
            wait_script_started(d, m)
            status, output = fetch(http, "/script-output")
            eq(status, 200, "the guest's script output is served through the forwarded port")
            isin("probes done", output, "the guest ran every probe")
            got = probe_lines(output)
            eq(sorted(got), sorted(["listener", "listener-other-alias", "cimid", "other-vnc",
                                    "other-http"]), f"every probe reported ({output!r})")

            notin(listener.secret, output, "a guest does not reach a host loopback listener")
            eq(listener.accepted, 0, "no connection from the guest reached the loopback listener")
            notin("HTTP/1.", got["cimid"], "a guest does not reach cimid's API on loopback")
            notin("RFB", got["other-vnc"], "a guest does not reach another guest's VNC console")
            notin("HTTP/1.", got["other-http"],
                  "a guest does not reach another guest's forwarded port")

            # What still works: DHCP from slirp, and the forwarded ports (this page).
            status, page = fetch(http)
            isin("ip: 10.0.2.15", page, "the guest still gets its address by DHCP")
            status, page = fetch(victim_http)
            eq(status, 200, "the other guest's forwarded port still answers from the host")
    finally:
        listener.close()
