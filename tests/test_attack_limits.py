"""Attacks on the limits (issue 7, "Limits"):

- one address spraying passwords across many accounts is stopped by
  `login_ip`, counted before the password is checked;
- every per-IP rule counts an IPv6 client per /64, so rotating addresses
  inside one /64 gains nothing, while the neighbouring /64 has its own
  counters; an IPv4-mapped address counts as its IPv4 address;
- a login storm queues at the password hash gate without holding pooled
  database connections, so cheap endpoints keep answering.

Client addresses come from X-Forwarded-For, which mod_remoteip trusts from
127.0.0.1 in these servers (harness.server.REMOTE_IP). Each test acts from
random addresses and /64s, so counters of other tests never interfere. No
timing is asserted."""

import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from harness.customers import (PASSWORD, Client, assert_error, assert_json,
                               assert_rate_limited, new_email, random_ip,
                               register_verified, registration, unique_ips)
from harness.httpd import child_writable
from harness.server import SUITE_JWT, minimal, own_server

NEW_PASSWORD = "A different passphrase 42"
WRONG = "Not the password 123"

def start_server(base, pg, jklg, extra=""):
    """A server of its own on the suite's database, with the suite's JWT
    keys (tokens from the `server` fixture are valid here)."""
    conf = minimal(child_writable(base / "spool"),
                   public_url="https://travel.test/", jwt_keys=SUITE_JWT,
                   more=jklg)
    httpd = own_server(base, pg.dbd_params(), conf, extra=extra)
    httpd.start()
    return httpd


def stop_clean(httpd):
    errors = httpd.new_errors()
    httpd.stop()
    assert not errors, "\n".join(errors)


def post(server, ip, path, body):
    return requests.post(server.url + "/api/customers" + path, json=body,
                         headers={"X-Forwarded-For": ip}, timeout=120)


def exhaust(limit, window, fresh, send):
    """`limit` requests that must pass, then one more that must be 429.
    Windows are fixed: if one ends during the burst, counting restarts, so
    a burst that was not stopped is repeated once with fresh addresses (a
    limiter that never stops anything still fails). fresh() makes the
    round's context, send(ctx, i) the i-th request; returns the context."""
    for round_ in range(2):
        ctx = fresh()
        for i in range(limit):
            resp = send(ctx, i)
            assert resp.status_code != 429, (i, resp.text)
        last = send(ctx, limit)
        if last.status_code == 429 or round_ == 1:
            assert_rate_limited(last, window)
            return ctx


# ------------------------------------------------------ per /64 for IPv6

LIMIT = 3
WINDOW = 3600
SMALL_LIMITS = "".join(f"JKLGRateLimit {rule} {count} 1h\n" for rule, count in [
    ("register_ip", LIMIT), ("resend_ip", LIMIT), ("forgot_ip", LIMIT),
    ("verify_ip", LIMIT), ("reset_ip", LIMIT), ("login_ip", LIMIT),
    # `login` (address + email) below login_ip, so that it trips first
    # when one email is tried again and again.
    ("login", LIMIT - 1)])


@pytest.fixture(scope="module")
def limited(pg, tmp_path_factory):
    """A server with small per-IP limits (1 hour windows)."""
    httpd = start_server(tmp_path_factory.mktemp("limits"), pg, SMALL_LIMITS)
    yield httpd
    stop_clean(httpd)


def rule_request(rule, same_email):
    """(path, body of the i-th attempt, status of an allowed attempt)."""
    token = "A" * 43
    if rule == "register_ip":
        return "/register", lambda i: registration(new_email("reg6")), 202
    if rule == "resend_ip":
        return "/resend-verification", lambda i: {"email": new_email()}, 202
    if rule == "forgot_ip":
        return "/forgot-password", lambda i: {"email": new_email()}, 202
    if rule == "verify_ip":
        return "/verify-email", lambda i: {"token": token}, 400
    if rule == "reset_ip":
        return "/reset-password", lambda i: {"token": token,
                                             "password": NEW_PASSWORD}, 400
    if rule == "login_ip":
        return "/login", lambda i: {"email": new_email("l6"),
                                    "password": WRONG}, 401
    assert rule == "login"
    return "/login", lambda i: {"email": same_email, "password": WRONG}, 401


PER_IP_RULES = [("register_ip", LIMIT), ("resend_ip", LIMIT),
                ("forgot_ip", LIMIT), ("verify_ip", LIMIT),
                ("reset_ip", LIMIT), ("login_ip", LIMIT),
                ("login", LIMIT - 1)]


def random_64():
    """Groups of a random /64 in 2001:db8::/32 whose last group is even,
    so that group + 1 is its neighbour within the same /63."""
    return [0x2001, 0xdb8, random.randrange(0x10000),
            random.randrange(0, 0x10000, 2)]


def address(prefix, iid):
    return ":".join("%x" % g for g in prefix + list(iid))


def random_iid():
    return [random.randrange(0x10000) for _ in range(4)]


# ------------------------------------------------- spraying from one address

def test_login_spraying_from_one_ipv4_hits_login_ip(limited, server, mail):
    """One address tries a password against many accounts, real and
    unknown, each once: neither `login` (address + email) nor
    `login_email` counts past 1, login_ip stops it."""
    accounts = [register_verified(server, mail, login=False)
                for _ in range(3)]

    def fresh():
        return random_ip(), iter([accounts[0].email, accounts[1].email])

    def send(ctx, i):
        ip, emails = ctx
        resp = post(limited, ip, "/login", {
            "email": next(emails, None) or new_email("spray"),
            "password": WRONG})
        if resp.status_code != 429:
            assert_error(resp, 401, "invalid_credentials")
        return resp

    ip, _ = exhaust(LIMIT, WINDOW, fresh, send)
    # Counted before the password is checked: the right password of an
    # account this address never tried is refused too.
    assert_rate_limited(post(limited, ip, "/login", {
        "email": accounts[2].email, "password": PASSWORD}), WINDOW)
    # The accounts are not locked: from elsewhere they log in.
    for account in accounts:
        assert_json(Client(limited).login(account.email, PASSWORD), 200)


LOGIN_IP_DEFAULT = 100      # per 15 minutes: docs/customers.md
LOGIN_DEFAULT = 10


def test_login_ip_default_is_100_per_15_minutes(server):
    """The suite's server has the default limits. Attempts refused by
    `login` (address + email) count for login_ip too (every attempt
    counts) and cost no password hash, which keeps this test short: 10
    wrong passwords for one email, 89 more refused by `login`; then the
    100th attempt (another email) is still allowed, and the 101st (yet
    another email, unknown to `login` and `login_email`) is refused by
    login_ip. A fixed window may end during a round: one more round then."""
    def wrong(ip, email):
        return post(server, ip, "/login", {"email": email, "password": WRONG})

    for round_ in range(2):
        ip, target = random_ip(), new_email("target")
        statuses = [wrong(ip, target).status_code
                    for _ in range(LOGIN_IP_DEFAULT - 1)]
        hundredth = wrong(ip, new_email("spray"))
        last = wrong(ip, new_email("spray"))
        if last.status_code == 429 or round_ == 1:
            break
    assert statuses == ([401] * LOGIN_DEFAULT
                        + [429] * (LOGIN_IP_DEFAULT - 1 - LOGIN_DEFAULT))
    assert_error(hundredth, 401, "invalid_credentials")
    assert_rate_limited(last, 900)


@pytest.mark.parametrize("rule, limit", PER_IP_RULES)
def test_ipv6_addresses_of_one_64_share_the_counter(limited, rule, limit):
    email = new_email("same")
    path, body, allowed = rule_request(rule, email)

    def send(prefix, i):
        # A new address of the /64 for every attempt.
        resp = post(limited, address(prefix, random_iid()), path, body(i))
        if resp.status_code != 429:
            assert resp.status_code == allowed, (rule, resp.text)
        return resp

    prefix = exhaust(limit, WINDOW, random_64, send)
    # The neighbouring /64 (differs in the prefix's last bit) is another
    # client: not limited.
    neighbour = prefix[:3] + [prefix[3] + 1]
    resp = post(limited, address(neighbour, random_iid()), path, body(limit))
    assert resp.status_code == allowed, (rule, resp.text)
    # Nor is an IPv4 client.
    resp = post(limited, random_ip(), path, body(limit))
    assert resp.status_code == allowed, (rule, resp.text)


@pytest.mark.parametrize("rule, limit", PER_IP_RULES)
def test_ipv4_mapped_address_counts_as_its_ipv4(limited, rule, limit):
    email = new_email("mapped")
    path, body, allowed = rule_request(rule, email)

    def send(ip, i):
        # Alternating spellings of one IPv4 client.
        spelled = ip if i % 2 else "::ffff:" + ip
        resp = post(limited, spelled, path, body(i))
        if resp.status_code != 429:
            assert resp.status_code == allowed, (rule, resp.text)
        return resp

    exhaust(limit, WINDOW, random_ip, send)


# ------------------------------------- the hash slot before the connection

LOGINS = 20


@pytest.fixture(scope="module")
def narrow(pg, tmp_path_factory):
    """One child process, two pooled connections, one hash at a time."""
    httpd = start_server(
        tmp_path_factory.mktemp("narrow"), pg,
        "JKLGPasswordHashConcurrency 1\nJKLGMailSweepInterval 1h\n",
        extra=("StartServers 1\nServerLimit 1\nThreadsPerChild 32\n"
               "MaxRequestWorkers 32\nMinSpareThreads 1\n"
               "MaxSpareThreads 32\n"
               "DBDMin 0\nDBDKeep 1\nDBDMax 2\n"))
    yield httpd
    stop_clean(httpd)


def test_queued_logins_hold_no_database_connection(narrow, server, mail):
    """LOGINS logins at once queue for the single hash slot. Before the fix
    each waited for the slot holding a pooled connection: the second
    connection was held by a queued login and health, /me and the queued
    logins all waited for a connection, so health answered only once
    (nearly) the whole queue had drained. Now the queue holds no
    connection and health and /me answer while most logins still wait."""
    account = register_verified(server, mail, login=False)
    token = assert_json(Client(narrow).login(account.email, PASSWORD),
                        200)["token"]
    done = []
    lock = threading.Lock()

    def login(ip):
        resp = post(narrow, ip, "/login", {"email": new_email("storm"),
                                           "password": WRONG})
        with lock:
            done.append(resp.status_code)
        return resp

    with ThreadPoolExecutor(LOGINS) as pool:
        futures = [pool.submit(login, ip) for ip in unique_ips(LOGINS)]
        # Once the first has its answer, the others are queued.
        deadline = time.monotonic() + 60
        while not done and time.monotonic() < deadline:
            time.sleep(0.01)
        health = requests.get(narrow.url + "/api/health", timeout=120)
        with lock:
            after_health = len(done)
        me = Client(narrow, token=token).get("/me")
        with lock:
            after_me = len(done)
        for f in futures:
            f.result()
    assert assert_json(health, 200)["status"] == "ok"
    assert assert_json(me, 200)["customer"]["email"] == account.email
    assert done == [401] * LOGINS
    # Most of the queue was still waiting when they answered.
    assert LOGINS - after_health >= LOGINS // 2, (after_health, done)
    assert LOGINS - after_me >= LOGINS // 3, (after_me, done)
