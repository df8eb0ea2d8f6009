#!/usr/bin/python3
"""Slow-header clients against a private instance, with and without
mod_reqtimeout: how long does a normal `GET /api/health` wait?

Loopback only, bounded: at most MAX_CONNECTIONS sockets, at most
MAX_DURATION seconds per scenario, and it stops by itself. It starts its
own PostgreSQL cluster and Apache (the test harness's configuration: event
MPM, MaxRequestWorkers 64, Timeout 30) in a temporary directory, so it
never touches a server it did not start.

    /usr/bin/python3 scripts/slowloris.py [--connections 100] [--duration 45]

Each slow client opens a connection, sends a request line, then one short
header line every --interval seconds and never the blank line that ends
the headers. In httpd 2.4's event MPM a worker thread reads the request
line and headers, so each such client holds a worker. Scenarios:

  off         mod_reqtimeout not loaded (the harness's own configuration)
  on          mod_reqtimeout with RequestReadTimeout (below)
  reconnect   the same, but each client the server drops is replaced at
              once (an attacker who keeps going)
"""

import argparse
import select
import shutil
import socket
import statistics
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from harness.httpd import Httpd   # noqa: E402
from harness.pg import PgCluster  # noqa: E402

MAX_CONNECTIONS = 1000
MAX_DURATION = 120
REQUEST_READ_TIMEOUT = "header=20-40,MinRate=500 body=20,MinRate=500"
REQTIMEOUT = """\
LoadModule reqtimeout_module /usr/lib/apache2/modules/mod_reqtimeout.so
RequestReadTimeout {}
"""
JKLG = """\
JKLGPublicURL https://travel.test
JKLGJWTKey slowloris-key-0123456789abcdef0123456789
JKLGMailFrom "JKLG Travel <noreply@jklg.test>"
JKLGMailSpool "{spool}"
"""


class SlowClients:
    """count sockets trickling header lines; replaced when dropped if
    reconnect. Runs in its own thread until stop()."""

    def __init__(self, port, count, interval, reconnect):
        self.port, self.count = port, count
        self.interval, self.reconnect = interval, reconnect
        self.socks = []
        self.dropped = 0
        self.first_drop = None
        self.started = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _open(self):
        s = socket.create_connection(("127.0.0.1", self.port), timeout=5)
        s.sendall(b"GET /api/health HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        self.socks.append(s)

    def start(self):
        self.started = time.monotonic()
        for _ in range(self.count):
            self._open()
        self._thread.start()

    def _drop(self, s):
        self.socks.remove(s)
        s.close()
        self.dropped += 1
        if self.first_drop is None:
            self.first_drop = time.monotonic() - self.started
        if self.reconnect and not self._stop.is_set():
            self._open()

    def _run(self):
        n = 0
        next_tick = time.monotonic() + self.interval
        while not self._stop.is_set():
            wait = max(0.0, min(0.5, next_tick - time.monotonic()))
            # A socket the server answered (408) or closed is readable.
            readable, _, _ = select.select(self.socks, [], [], wait)
            for s in readable:
                self._drop(s)
            if time.monotonic() >= next_tick:
                n += 1
                for s in list(self.socks):
                    try:
                        s.sendall(b"X-Slow-%d: x\r\n" % n)
                    except OSError:
                        self._drop(s)
                next_tick += self.interval

    def stop(self):
        self._stop.set()
        self._thread.join()
        for s in self.socks:
            s.close()


def probe(url, timeout):
    """(seconds, status) of one GET; status None when no answer came."""
    t0 = time.monotonic()
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            status = resp.status
    except urllib.error.HTTPError as e:
        status = e.code
    except (OSError, urllib.error.URLError):
        status = None
    return time.monotonic() - t0, status


def scenario(name, httpd, args):
    httpd.extra = (REQTIMEOUT.format(args.request_read_timeout)
                   if name != "off" else "")
    httpd.start()
    try:
        url = httpd.url + "/api/health"
        probe(url, 5)                       # warm up children and pools
        baseline = probe(url, 5)
        clients = SlowClients(httpd.port, args.connections, args.interval,
                              reconnect=(name == "reconnect"))
        clients.start()
        probes = []
        end = clients.started + args.duration
        time.sleep(2)
        while time.monotonic() < end - 1:
            timeout = min(args.probe_timeout, end - time.monotonic())
            at = time.monotonic() - clients.started
            probes.append((at, *probe(url, timeout)))
            time.sleep(args.probe_every)
        clients.stop()
        return baseline, probes, clients
    finally:
        httpd.stop()


def report(name, baseline, probes, clients, args):
    print(f"\n== {name}: {args.connections} slow clients, "
          f"{args.duration} s, one header line every {args.interval} s")
    print(f"   before the attack: {baseline[0]:.3f} s ({baseline[1]})")
    for at, seconds, status in probes:
        answer = status if status else "no answer"
        print(f"   probe at t={at:5.1f} s: {seconds:6.2f} s  {answer}")
    waits = [s for _, s, _ in probes]
    answered = sum(1 for _, _, st in probes if st)
    if waits:
        print(f"   answered {answered}/{len(probes)}, median wait "
              f"{statistics.median(waits):.2f} s, max {max(waits):.2f} s")
    first = (f"{clients.first_drop:.1f} s" if clients.first_drop is not None
             else "never")
    print(f"   slow clients dropped by the server: {clients.dropped} "
          f"(first after {first})")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--connections", type=int, default=100)
    parser.add_argument("--duration", type=float, default=45)
    parser.add_argument("--interval", type=float, default=5,
                        help="seconds between header lines of a slow client")
    parser.add_argument("--probe-every", type=float, default=1)
    parser.add_argument("--probe-timeout", type=float, default=30)
    parser.add_argument("--scenarios", default="off,on,reconnect")
    parser.add_argument("--request-read-timeout",
                        default=REQUEST_READ_TIMEOUT,
                        help="the RequestReadTimeout arguments to try")
    args = parser.parse_args()
    if not 1 <= args.connections <= MAX_CONNECTIONS:
        parser.error(f"--connections: 1 to {MAX_CONNECTIONS}")
    if not 5 <= args.duration <= MAX_DURATION:
        parser.error(f"--duration: 5 to {MAX_DURATION} seconds")
    names = args.scenarios.split(",")
    if not set(names) <= {"off", "on", "reconnect"}:
        parser.error("--scenarios: a list of off, on, reconnect")

    work = Path(tempfile.mkdtemp(prefix="jklg-slowloris-"))
    work.chmod(0o755)
    pg = PgCluster(work / "pg")
    try:
        pg.init()
        pg.start()
        pg.ensure_app_db()
        pg.migrate()
        (work / "httpd").mkdir()
        httpd = Httpd(work / "httpd", pg.dbd_params(), jklg="")
        httpd.jklg = JKLG.format(spool=httpd.child_writable(work / "mail"))
        print(f"Apache {httpd.url}: event MPM, MaxRequestWorkers 64, "
              f"Timeout 30; with mod_reqtimeout: RequestReadTimeout "
              f"{args.request_read_timeout}")
        for name in names:
            report(name, *scenario(name, httpd, args), args)
    finally:
        pg.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
