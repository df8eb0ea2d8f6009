"""A frozen database: PostgreSQL stopped with SIGSTOP (postmaster and every
backend), not shut down. Its kernel still accepts connections and
acknowledges packets, so neither connect_timeout alone, nor keepalives,
nor statement_timeout end a wait: before JKLGDatabaseTimeout, requests hung
until the database thawed, queued behind each other in mod_dbd's pool.

Every request must now answer 503 `unavailable` with Retry-After within
JKLGDatabaseTimeout (plus a margin for a loaded test machine), and
everything must work again by itself a few seconds after the database
thaws, or after it is killed frozen and started again.

This file freezes a cluster and an Apache of its own, never the session's
shared ones."""

import os
import shutil
import signal
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psycopg2
import pytest
import requests

from harness.customers import random_ip, register_verified
from harness.payments import event_rows
from harness.server import (JWT_KEYS, STAFF, directives, own_server,
                            serving, templates_dir)
from harness.fixtures_pg import migrated_cluster
from harness.proc import children

DB_TIMEOUT = 2.0            # JKLGDatabaseTimeout in this file's server
MARGIN = 2.0                # scheduling on a busy 2-core machine
CLIENT_TIMEOUT = DB_TIMEOUT + MARGIN
CONCURRENT = 48             # 3 x (ThreadsPerChild 16 = DBDMax 16)
RECOVERY = 15.0             # seconds the server may take after a thaw (busy CI)

# Provoked on purpose: timeouts, failed connects, mod_dbd's own messages.
EXPECTED_ERRORS = [r"JKLG0010[123]", r"JKLG00901", r"JKLG0020[12]",
                   r"JKLG00301", r"AH0062[89]", r"AH0063[239]", r"DBD"]


def dbd_params(pg):
    # connect_timeout no longer than JKLGDatabaseTimeout (docs/database.md).
    return (f"host=127.0.0.1 port={pg.port} dbname=jklg user=jklg "
            "connect_timeout=2 keepalives=1 keepalives_idle=30 "
            "options='-c statement_timeout=10000 "
            "-c client_connection_check_interval=1000'")


@pytest.fixture(scope="module")
def frozen_pg():
    with migrated_cluster("jklg-frozen-pg-") as cluster:
        try:
            yield cluster
        finally:
            thaw(cluster)


@pytest.fixture(scope="module")
def frozen_server(frozen_pg, smtp, stripe_api):
    base = Path(tempfile.mkdtemp(prefix="jklg-frozen-httpd-"))
    conf = directives(smtp, stripe_api, templates_dir(base),
                      JKLGDatabaseTimeout=f"{int(DB_TIMEOUT)}s",
                      # The storms log one account in hundreds of times.
                      limits={"login_email": "100000 1h"})
    # As docs/configuration.md advises: ThreadsPerChild (16)
    # + JKLGMailThreads (2) + 1.
    httpd = own_server(base, dbd_params(frozen_pg), conf,
                       extra="DBDMax 19\n")
    httpd.jwt_keys = JWT_KEYS
    with serving(httpd):
        yield httpd
    shutil.rmtree(base, ignore_errors=True)


# ------------------------------------------------------------- the freezer

def postmaster_pid(pg):
    return int((pg.data_dir / "postmaster.pid").read_text().split()[0])


def signal_quietly(pid, sig):
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass        # a backend that just ended


def postgres_pids(pg):
    """The postmaster (first line of postmaster.pid) and its children."""
    master = postmaster_pid(pg)
    return [master] + children(master)


def freeze(pg):
    # The postmaster first, so that it starts no backend meanwhile; then
    # every backend, listed once it is stopped.
    master = postmaster_pid(pg)
    os.kill(master, signal.SIGSTOP)
    for pid in children(master):
        signal_quietly(pid, signal.SIGSTOP)


def thaw(pg):
    try:
        pids = postgres_pids(pg)
    except (OSError, ValueError, IndexError):
        return
    for pid in pids:
        signal_quietly(pid, signal.SIGCONT)


def kill_frozen(pg):
    for pid in postgres_pids(pg):
        signal_quietly(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while pg.is_running() and time.monotonic() < deadline:
        time.sleep(0.1)


# ------------------------------------------------------------------ clients

def timed(fn):
    """(status or 'timeout', Retry-After, error code, seconds)."""
    start = time.monotonic()
    try:
        resp = fn()
    except requests.exceptions.RequestException as e:
        return ("timeout", None, type(e).__name__, time.monotonic() - start)
    code = None
    if resp.headers.get("Content-Type", "").startswith("application/json"):
        code = (resp.json().get("error") or {}).get("code")
    return (resp.status_code, resp.headers.get("Retry-After"), code,
            time.monotonic() - start)


def endpoint_calls(server, account, timeout):
    """One call of each kind: an authenticated read, a login, health."""
    url = server.url

    def me():
        return requests.get(f"{url}/api/customers/me", timeout=timeout,
                            headers={"Authorization":
                                     f"Bearer {account.token}",
                                     "X-Forwarded-For": random_ip()})

    def login():
        return requests.post(f"{url}/api/customers/login",
                             timeout=timeout,
                             json={"email": account.email,
                                   "password": account.password},
                             headers={"X-Forwarded-For": random_ip()})

    def health():
        return requests.get(f"{url}/api/health", timeout=timeout)

    return [me, login, health]


def storm(server, account, n=CONCURRENT, timeout=CLIENT_TIMEOUT):
    """n requests at once, as many threads; the client timeout is the
    failure condition."""
    calls = endpoint_calls(server, account, timeout)
    with ThreadPoolExecutor(n) as pool:
        return list(pool.map(lambda i: timed(calls[i % len(calls)]),
                             range(n)))


def wait_recovered(server, account):
    """Seconds until a whole storm succeeds; fails after RECOVERY."""
    start = time.monotonic()
    while True:
        results = storm(server, account, 24, timeout=RECOVERY)
        if {r[0] for r in results} == {200}:
            return time.monotonic() - start
        assert time.monotonic() - start < RECOVERY, results
        time.sleep(0.2)


def assert_all_unavailable(results):
    worst = max(r[3] for r in results)
    print(f"\n{len(results)} requests while frozen, worst "
          f"{worst:.2f}s (JKLGDatabaseTimeout {DB_TIMEOUT}s)")
    bad = [r for r in results
           if r[0] != 503 or r[2] != "unavailable" or not (r[1] or "").isdigit()]
    assert not bad, bad
    assert worst < CLIENT_TIMEOUT


@pytest.fixture
def account(frozen_server, mail):
    acc = register_verified(frozen_server, mail)
    # Warm the pool: every child holds idle, prepared connections. A cold
    # pool builds them one at a time (mod_dbd does, under its lock), so
    # the first storm may see 503s for the slowest in line.
    wait_recovered(frozen_server, acc)
    assert {r[0] for r in storm(frozen_server, acc, timeout=30)} == {200}
    return acc


def check_errors(server):
    unexpected = server.new_errors(EXPECTED_ERRORS)
    assert not unexpected, "\n".join(unexpected)


# -------------------------------------------------------------------- tests

def test_frozen_database_answers_503_in_time_then_recovers(
        frozen_server, frozen_pg, account, mail):
    frozen_server.mark_log()
    try:
        freeze(frozen_pg)
        first = storm(frozen_server, account)
        # Known unreachable now: the next ones fail fast, and a storm
        # arriving later is not queued behind the first.
        second = storm(frozen_server, account)
    finally:
        thaw(frozen_pg)
    assert_all_unavailable(first)
    assert_all_unavailable(second)
    print(f"fail-fast storm worst {max(r[3] for r in second):.2f}s")

    took = wait_recovered(frozen_server, account)
    print(f"recovered {took:.2f}s after the thaw")
    assert {r[0] for r in storm(frozen_server, account, timeout=30)} == {200}

    # The mail threads recovered by themselves as well.
    resp = requests.post(f"{frozen_server.url}/api/admin/email/test",
                         auth=STAFF, json={"to": "after-freeze@jklg.test"},
                         timeout=10)
    assert resp.status_code == 202
    assert len(mail.wait_for("after-freeze@jklg.test")) == 1
    check_errors(frozen_server)


def test_database_killed_while_frozen_then_started(
        frozen_server, frozen_pg, account):
    frozen_server.mark_log()
    try:
        freeze(frozen_pg)
        assert_all_unavailable(storm(frozen_server, account))
    finally:
        kill_frozen(frozen_pg)
    frozen_pg.start()
    took = wait_recovered(frozen_server, account)
    print(f"recovered {took:.2f}s after the restart")
    assert {r[0] for r in storm(frozen_server, account, timeout=30)} == {200}
    check_errors(frozen_server)


def test_a_known_unreachable_database_is_not_retried_by_every_request(
        frozen_server, frozen_pg, account):
    """While frozen, new connections are attempted by one probe a second,
    not by every request: the postmaster's backlog of connection attempts
    stays small."""
    frozen_server.mark_log()
    try:
        freeze(frozen_pg)
        storm(frozen_server, account)           # it learns
        start = time.monotonic()
        fast = []
        while time.monotonic() - start < 3:
            fast += storm(frozen_server, account, 16)
    finally:
        thaw(frozen_pg)
    statuses = {r[0] for r in fast}
    assert statuses == {503}, [r for r in fast if r[0] != 503]
    # Most answer at once; at most the probes wait.
    quick = [r for r in fast if r[3] < 0.5]
    assert len(quick) >= 0.8 * len(fast), sorted(r[3] for r in fast)
    wait_recovered(frozen_server, account)
    check_errors(frozen_server)


def test_webhook_batches_answer_503_in_time_and_store_nothing(
        frozen_server, frozen_pg, account, stripe_api, allow_errors):
    """Deliveries that meet in a batch while the database is frozen: the
    leader's statement times out and every delivery of its batch, and of
    the batches queued behind it, is answered 503 in time. A statement
    already sent waits in the frozen server's socket and may run when it
    thaws (the 503 only says "send it again"): the redeliveries after the
    thaw are answered 200 and each event is stored exactly once."""
    url = frozen_server.url + "/api/payments/webhook"
    events = [stripe_api.event("customer.updated", {
        "id": f"cus_frozen{i:06d}", "object": "customer",
        "email": "someone@example.com"}) for i in range(CONCURRENT)]

    def deliver(event, timeout=CLIENT_TIMEOUT):
        return timed(lambda: stripe_api.send_event(event, url=url,
                                                   timeout=timeout))
    frozen_server.mark_log()
    try:
        freeze(frozen_pg)
        with ThreadPoolExecutor(CONCURRENT) as pool:
            results = list(pool.map(deliver, events))
    finally:
        thaw(frozen_pg)
    assert_all_unavailable(results)
    wait_recovered(frozen_server, account)
    conn = psycopg2.connect(frozen_pg.url())
    conn.autocommit = True
    try:
        assert all(len(event_rows(conn, e["id"])) <= 1 for e in events)
        with ThreadPoolExecutor(CONCURRENT) as pool:
            again = list(pool.map(lambda e: deliver(e, 30), events))
        assert {r[0] for r in again} == {200}, again
        assert all(len(event_rows(conn, e["id"])) == 1 for e in events)
    finally:
        conn.close()
    check_errors(frozen_server)
