"""Two Apache servers on one database, as behind a load balancer: both on
the session's PostgreSQL cluster, the same SMTP and Stripe stand-ins, and
rate limits in one real Redis (Debian's redis-server, started here) through
mod_socache_redis. What one server does must hold for the pair: a rate
limit counts the hits of both, an outbox message is sent once whichever
server's mail threads and sweeps see it, a webhook delivered to both at the
same moment is applied once, and housekeeping run by both deletes each row
once without a deadlock. When Redis goes away, rate limiting fails open
(requests still succeed, a warning is logged) and comes back with Redis.

The figures printed here (run with -s) are the ones docs/scaling.md
quotes."""

import re
import socket
import subprocess
import threading
import time
import uuid
from collections import Counter

import pytest

from harness.customers import Client, assert_error, new_email, random_ip, register
from harness.httpd import MODULES_DIR, free_port
from harness.server import directives, own_server, serving, templates_dir
from harness.payments import (MAIL_GRACE, assert_json, concurrently,
                              confirmation_subject, customer_with_booking,
                              event_audits, event_rows, mails_with, one,
                              open_intent, receipt_subject, tx_audit_count,
                              tx_row, wait_mails)

REDIS_SERVER = "/usr/bin/redis-server"
LIMIT = 4                       # JKLGRateLimit verify_ip, on both servers
REGISTRATIONS = 24
WEBHOOK_ROUNDS = 3
SENT = re.compile(r"mail: ([0-9a-f-]{36}) sent")
PURGED = re.compile(r"housekeeping: (\d+) expired rows deleted")
# What mod_socache_redis logs itself while Redis is away.
REDIS_AWAY = [r"scache_rd: ", r"AH0347[89]", r"AH03480"]


class Redis:
    """redis-server on a free loopback port, in memory only (no RDB, no
    AOF), in the foreground so that stop() ends exactly this process."""

    def __init__(self, base):
        self.base = base
        self.port = free_port()
        self.proc = None

    def start(self):
        self.base.mkdir(parents=True, exist_ok=True)
        self.proc = subprocess.Popen(
            [REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1",
             "--save", "", "--appendonly", "no", "--daemonize", "no",
             "--dir", str(self.base), "--logfile", str(self.base / "log")],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.ping():
                return
            time.sleep(0.05)
        raise RuntimeError("redis-server did not answer PING")

    def ping(self):
        try:
            with socket.create_connection(("127.0.0.1", self.port), 0.5) as s:
                s.sendall(b"PING\r\n")
                return s.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def cli(self, *args):
        return subprocess.run(["redis-cli", "-p", str(self.port), *args],
                              check=True, capture_output=True,
                              text=True).stdout.split()

    def stop(self):
        if self.proc:
            self.proc.terminate()
            self.proc.wait(10)
            self.proc = None


@pytest.fixture(scope="module")
def redis(workdir):
    server = Redis(workdir / "redis")
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def pair(pg, smtp, stripe_api, redis, workdir):
    """Two servers, each with its own configuration and port, one database
    and one Redis."""
    more = (f"LoadModule socache_redis_module "
            f"{MODULES_DIR}/mod_socache_redis.so\n"
            f"JKLGRateLimitCache redis:127.0.0.1:{redis.port}\n"
            f"RedisTimeout 1\n"
            f"JKLGRateLimit verify_ip {LIMIT} 1h\n"
            f"JKLGRateLimit reset_ip 2 1s\n"
            # Room for the refusing phase to outlast 24 registrations (each
            # an argon2id hash) on a loaded machine: 1+2+4+8+16 s of
            # retries before a message fails for good, instead of 7.5 s.
            f"JKLGMailRetry 6 1s\n")
    servers = []
    for name in ("a", "b"):
        base = workdir / f"two-{name}"
        conf = directives(smtp, stripe_api, templates_dir(base), more=more)
        servers.append(own_server(base, pg.dbd_params(), conf))
    with serving(*servers):
        yield servers


@pytest.fixture
def logs_clean(pair):
    """Fails a test after which either server logged an unexpected error;
    the test may append regexes of errors it provokes. Both servers sweep
    the suite's shared outbox, so they may end messages other tests left
    there on purpose (an unknown template): the tests here check that their
    own messages were sent."""
    allowed = [r"JKLG00206: mail: \S+ failed for good"]
    for httpd in pair:
        httpd.mark_log()
    yield allowed
    for httpd in pair:
        errors = httpd.new_errors(allowed)
        assert not errors, f"errors in {httpd.error_log}:\n" + "\n".join(errors)


def verify_hit(server, ip):
    """POST /verify-email with a token nobody has: 400 while the client's
    verify_ip limit lasts, then 429."""
    return Client(server, ip=ip).post("/verify-email",
                                      {"token": "x" * 43})


def alternate(a, b, last, n):
    """n servers alternating between a and b, the n-th being `last`."""
    other = b if last is a else a
    return [last if (n - 1 - i) % 2 == 0 else other for i in range(n)]


def test_rate_limit_counts_the_hits_of_both_servers(pair, redis,
                                                    logs_clean):
    a, b = pair
    before = set(redis.cli("--scan", "--pattern", "jklg-ratelimit:*"))
    for last in (a, b):
        ip = random_ip()
        hits = alternate(a, b, last, LIMIT + 1)
        answers = [verify_hit(server, ip) for server in hits]
        for resp in answers[:LIMIT]:
            assert_error(resp, 400, "invalid_token")
        assert_error(answers[LIMIT], 429, "rate_limited")
        assert int(answers[LIMIT].headers["Retry-After"]) > 0
        # Either server keeps refusing this client.
        for server in (a, b):
            assert_error(verify_hit(server, ip), 429, "rate_limited")
        print(f"\nverify_ip {LIMIT}/h over two servers: hits "
              f"{''.join('a' if s is a else 'b' for s in hits)} -> "
              f"{[r.status_code for r in answers]}")
    # The counters are in Redis (as hex SHA-256 ids, no address in them),
    # and expire with their window.
    counters = set(redis.cli("--scan", "--pattern",
                             "jklg-ratelimit:*")) - before
    assert len(counters) == 2, counters
    for key in counters:
        assert re.fullmatch(r"jklg-ratelimit:[0-9a-f]{64}", key), key
        assert 0 < int(redis.cli("TTL", key)[0]) <= 3601


def test_a_one_second_window_holds_on_redis(pair, logs_clean):
    """Redis keeps whole seconds and refuses an expiry under one (the
    provider truncates the time left): counters are kept a second past
    their window, or a 1 s window never counted at all."""
    a, b = pair
    for _ in range(5):
        ip = random_ip()
        codes = [Client(server, ip=ip).post(
                     "/reset-password", {"token": "x" * 43,
                                         "password": "Another horse 12345"}
                 ).status_code for server in (a, b, a)]
        if codes[2] == 429:
            break
    assert 429 not in codes[:2] and codes[2] == 429, codes
    for httpd in pair:
        assert "JKLG00807" not in httpd.new_log()


def sent_ids(httpd):
    return SENT.findall(httpd.new_log())


def test_every_outbox_message_is_sent_once(pair, mail, db, logs_clean):
    """Registrations on both servers while SMTP refuses every recipient
    (451), then accepts: the messages go out through both servers' retries
    and sweeps (JKLGMailSweepInterval 1s), all racing for the same rows."""
    emails = [new_email("two") for _ in range(REGISTRATIONS)]

    def sign_up(i):
        server = pair[i % 2]
        register(server, emails[i], client=Client(server))

    mail.mode = "refuse"
    concurrently(sign_up, range(REGISTRATIONS), workers=8)
    time.sleep(1.5)
    refused = mail.refused
    mail.mode = "accept"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if all(mail.received(e) for e in emails):
            break
        time.sleep(0.1)
    time.sleep(MAIL_GRACE)

    copies = Counter(len(mail.received(e)) for e in emails)
    assert copies == {1: REGISTRATIONS}, copies
    statuses = one(db, "SELECT array_agg(status::text) FROM email_outbox "
                   "WHERE recipient = ANY(%s)", (emails,))[0]
    assert Counter(statuses) == {"sent": REGISTRATIONS}, statuses
    by_server = [sent_ids(httpd) for httpd in pair]
    logged = Counter(i for ids in by_server for i in ids)
    assert all(n == 1 for n in logged.values()), logged
    print(f"\n{REGISTRATIONS} registrations over two servers, {refused} "
          f"refused SMTP attempts first: {sum(copies.values())} messages "
          f"arrived, duplicates 0; sent by a: {len(by_server[0])}, by b: "
          f"{len(by_server[1])}")


def webhook_url(httpd):
    return httpd.url + "/api/payments/webhook"


def test_webhook_to_both_servers_at_once_is_applied_once(pair, mail, stripe,
                                                         db, logs_clean):
    a, b = pair
    paid = []
    for _ in range(WEBHOOK_ROUNDS):
        account, client, _, booking = customer_with_booking(a, mail)
        tx, _ = open_intent(client, booking["id"])
        audits = tx_audit_count(db, tx["id"])
        event = stripe.confirm(tx["gateway_ref"])
        start = threading.Barrier(2)

        def deliver(server):
            start.wait()
            return stripe.send_event(event, url=webhook_url(server))

        for resp in concurrently(deliver, [a, b]):
            assert assert_json(resp, 200) == {"received": True}
        assert tx_row(db, tx["id"])[0] == "succeeded"
        assert len(event_rows(db, event["id"])) == 1
        assert event_audits(db, event["id"]) == 1
        assert tx_audit_count(db, tx["id"]) == audits + 1
        paid.append((account.email, booking["reference"]))

    for to, reference in paid:
        wait_mails(mail, to, receipt_subject(reference))
        wait_mails(mail, to, confirmation_subject(reference))
    time.sleep(MAIL_GRACE)
    for to, reference in paid:
        assert len(mails_with(mail, to, receipt_subject(reference))) == 1
        assert len(mails_with(mail, to, confirmation_subject(reference))) == 1
    print(f"\n{WEBHOOK_ROUNDS} webhooks each delivered to both servers at "
          f"once: {WEBHOOK_ROUNDS} transaction moves, {WEBHOOK_ROUNDS} audit "
          f"rows, one receipt and one confirmation each")


def seed_sessions(db, expired, live):
    """A customer with `expired` sessions two days past expiry and `live`
    ones; its id."""
    customer = str(uuid.uuid4())
    with db.cursor() as cur:
        cur.execute("INSERT INTO customers (id, email, password_hash, "
                    "first_name, last_name) VALUES (%s, %s, 'x', 'Ana', "
                    "'Silva')", (customer, new_email("purge")))
        cur.execute("INSERT INTO customer_sessions (customer_id, expires_at) "
                    "SELECT %s, now() - interval '2 days' "
                    "FROM generate_series(1, %s)", (customer, expired))
        cur.execute("INSERT INTO customer_sessions (customer_id, expires_at) "
                    "SELECT %s, now() + interval '1 day' "
                    "FROM generate_series(1, %s)", (customer, live))
    return customer


def test_housekeeping_on_both_servers_deletes_each_row_once(pair, db,
                                                            logs_clean):
    """Every new child purges at its first sweep (then hourly): restarting
    both servers at once makes their children run jklg_purge together."""
    expired, live = 500, 5
    customer = seed_sessions(db, expired, live)
    purgeable = one(db, "SELECT count(*) FROM customer_sessions "
                    "WHERE expires_at < now() - interval '1 day'")[0]
    concurrently(lambda httpd: httpd.graceful(), pair)
    count = f"SELECT count(*) FROM customer_sessions WHERE customer_id = %s"
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if one(db, count, (customer,))[0] == live:
            break
        time.sleep(0.2)
    time.sleep(2)       # every child's first sweep has run
    assert one(db, count, (customer,))[0] == live
    reported = [sum(int(n) for n in PURGED.findall(httpd.new_log()))
                for httpd in pair]
    # No row counted twice (the session's own server, if any, may have
    # taken some), and no purge failed (a deadlock would be logged).
    assert expired <= purgeable and sum(reported) <= purgeable, reported
    for httpd in pair:
        assert "housekeeping: " not in re.sub(PURGED, "", httpd.new_log())
    print(f"\nhousekeeping on two servers: {purgeable} expired rows, "
          f"deleted by a: {reported[0]}, by b: {reported[1]}")


def test_redis_going_away_fails_open_and_limits_come_back(pair, redis,
                                                          logs_clean):
    a, b = pair
    logs_clean.extend(REDIS_AWAY)
    ip = random_ip()
    for server in alternate(a, b, a, LIMIT):
        assert_error(verify_hit(server, ip), 400, "invalid_token")
    assert_error(verify_hit(b, ip), 429, "rate_limited")

    redis.stop()
    try:
        answers = [verify_hit(server, ip).status_code
                   for server in alternate(a, b, b, 2 * LIMIT)]
        # Fail open: the client over its limit gets answers again.
        assert answers == [400] * (2 * LIMIT), answers
        for httpd in pair:
            assert re.search(r"\[jklg:warn\].*rate limit verify_ip not "
                             r"applied: the cache 'redis:", httpd.new_log())
        print("\n" + "\n".join(sorted({re.sub(r"^\[[^]]*\] ", "", line)
                    for line in a.new_log().splitlines()})))
    finally:
        redis.start()

    # mod_socache_redis tries a server it saw fail again after 5 s; the
    # counters died with the old Redis, so a fresh client starts from 0.
    back = None
    started = time.monotonic()
    while time.monotonic() - started < 20 and back is None:
        ip = random_ip()
        codes = [verify_hit(server, ip).status_code
                 for server in alternate(a, b, a, LIMIT + 1)]
        if codes == [400] * LIMIT + [429]:
            back = time.monotonic() - started
        else:
            time.sleep(0.5)
    assert back is not None, "rate limits did not come back with Redis"
    print(f"\nredis away: {2 * LIMIT} hits past the limit answered 400 "
          f"(fail open, warning logged); limits back {back:.1f}s after "
          f"Redis restarted")
