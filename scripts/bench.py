#!/usr/bin/python3
"""`make bench`: wrk against a private instance (PostgreSQL cluster, SMTP
stand-in, Apache with the module, all on loopback), printing requests per
second, p99 latency and ratios between scenarios. Figures compare scenarios
measured in the same run, on the same machine (docs/testing.md).

The yardstick is a bare handler (bench/mod_jklg_bare.c) loaded into the same
Apache, using the same mod_dbd pool: one prepared SELECT of the customer row
/me answers, written as it comes. /me and the webhook are measured against
it in rounds ordered bare, me, webhook, webhook, me, bare, so that a drift
of the machine's load during the run weighs on every scenario alike.

Webhooks: every request is a distinct signed payment_intent.processing
event, pre-generated before the round and sent by a wrk lua script.
"Linked" events are for distinct transactions awaiting payment, each on its
own booking (requires_payment -> processing, audited: the whole path);
"unlinked" ones name intents the database does not know (verified, parsed
and stored, nothing else: the ingestion alone). Deliveries that arrive
together are applied in batches (mod_jklg_webhook.c): each round says how
many events a batch held on average. The number
of events the database recorded is compared with the number of requests:
the bench says when a round ran out of events (a redelivery is answered
from the stored id, which would flatter the figure)."""

import base64
import hashlib
import hmac
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from harness.httpd import Httpd, free_port   # noqa: E402
from harness.pg import PgCluster             # noqa: E402
from harness.smtp import SmtpStandin         # noqa: E402

DURATION = os.environ.get("JKLG_BENCH_DURATION", "10s")
THREADS, CONNECTIONS = 2, 32
STAFF = ("bench", "bench-password")
STAFF_AUTH = "Basic " + base64.b64encode(":".join(STAFF).encode()).decode()
WHSEC = "whsec_bench_0123456789abcdef"
BARE_MODULE = Path(os.environ.get("JKLG_BARE_MODULE")
                   or REPO / "build" / "mod_jklg_bare.so")
# Events per wrk thread and round: more than a thread can send in DURATION
# at the rates this machine reaches (checked after each round).
EVENTS_PER_THREAD = int(os.environ.get("JKLG_BENCH_EVENTS", "40000"))
# An agency's size, not empty tables: the bench customer is stored after
# these, so a plan that scans customers or sessions shows in /me's figures
# (sql/024 fixed one that an empty table had hidden).
SEED_CUSTOMERS = int(os.environ.get("JKLG_BENCH_CUSTOMERS", "20000"))

ME_LUA = """\
wrk.headers["Authorization"] = "Bearer {token}"
"""

POST_LUA = """\
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "%(auth)s"
wrk.body = '{"to": "bench@jklg.test"}'
"""

# Each thread reads its own file of "signature TAB body" lines and sends
# them in order; past the end it starts again (counted, and reported).
WEBHOOK_LUA = """\
local n = 0
function setup(thread)
    n = n + 1
    thread:set("file", "%(prefix)s" .. n .. ".txt")
end
function init(args)
    events = {}
    for line in io.lines(file) do
        local tab = line:find("\\t", 1, true)
        events[#events + 1] = {line:sub(1, tab - 1), line:sub(tab + 1)}
    end
    i = 0
end
function request()
    i = i + 1
    local e = events[(i - 1) %% #events + 1]
    return wrk.format("POST", "/api/payments/webhook", {
        ["Content-Type"] = "application/json; charset=utf-8",
        ["Stripe-Signature"] = e[1]}, e[2])
end
"""

BARE_CONF = """\
LoadModule jklg_bare_module "{module}"
<Location /bare>
    SetHandler jklg_bare
</Location>
"""


CLK_TCK = os.sysconf("SC_CLK_TCK")


def cpu_ticks(parent):
    """CPU time (ticks) of a server: its children alive now plus the ones
    it has reaped; parent None: 0."""
    def fields(pid):
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()
    if not parent:
        return 0
    total = sum(int(x) for x in fields(parent)[13:15])   # cutime, cstime
    for pid in os.listdir("/proc"):
        try:
            f = fields(pid) if pid.isdigit() else None
        except OSError:
            continue
        if f and int(f[1]) == parent:
            total += int(f[11]) + int(f[12])                # utime, stime
    return total


# The servers whose CPU time is counted per request (set in main).
SERVERS = {}


def wrk(url, script=None, duration=DURATION):
    cmd = ["wrk", "-t", str(THREADS), "-c", str(CONNECTIONS), "-d", duration,
           "--latency"]
    if script:
        cmd += ["-s", str(script)]
    before = {k: cpu_ticks(pid) for k, pid in SERVERS.items()}
    out = subprocess.run(cmd + [url], capture_output=True, text=True,
                         check=True).stdout
    cpu = {k: cpu_ticks(pid) - before[k] for k, pid in SERVERS.items()}
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    p99 = re.search(r"^\s+99%\s+(\S+)", out, re.M).group(1)
    total = int(re.search(r"(\d+) requests in", out).group(1))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: (.*)", out)
    return {"rps": rps, "p99": p99, "p99_ms": to_ms(p99), "requests": total,
            # CPU microseconds per request, Apache and PostgreSQL
            "cpu": {k: v * 1e6 / CLK_TCK / max(total, 1)
                    for k, v in cpu.items()},
            "non2xx": int(non2xx.group(1)) if non2xx else 0,
            "errors": errors.group(1) if errors else ""}


def to_ms(text):
    value, unit = re.match(r"([\d.]+)(us|ms|s|m)", text).groups()
    return float(value) * {"us": 0.001, "ms": 1, "s": 1000, "m": 60000}[unit]


def api(url, body):
    req = urllib.request.Request(url, data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req) as resp:
        return json.load(resp)


def seed_customers(pg, count):
    """count verified customers, each with a live session."""
    pg.psql(f"""
        INSERT INTO customers (email, password_hash, first_name, last_name,
                               email_verified_at)
        SELECT 'seed' || n || '@bench.test', 'not-a-hash', 'Seed', 'Customer',
               now() FROM generate_series(1, {count}) AS n;
        INSERT INTO customer_sessions (customer_id, ip, user_agent, expires_at)
        SELECT id, '192.0.2.1', 'bench', now() + interval '1 day'
          FROM customers WHERE email LIKE 'seed%@bench.test';
        ANALYZE;""")


def customer_token(httpd, pg):
    """A verified customer's id and access token, for the authenticated
    path."""
    email, password = "bench@jklg.test", "Bench-mark-2027!"
    api(f"{httpd.url}/api/customers/register", {
        "email": email, "password": password, "first_name": "Bench",
        "last_name": "Mark"})
    cid = pg.psql(f"UPDATE customers SET email_verified_at = now() "
                  f"WHERE email = '{email}' RETURNING id").split()[0]
    token = api(f"{httpd.url}/api/customers/login",
                {"email": email, "password": password})["token"]
    return cid, token


def transactions(pg, cid, tag, count):
    """count bookings of the customer, each with one Stripe transaction
    awaiting payment (its own booking: concurrent events do not queue
    behind one booking's row lock). Returns [(transaction id, pi_...)]."""
    out = pg.psql(f"""
        WITH b AS (
            INSERT INTO bookings (reference, customer_id, description,
                                  travel_start, travel_end, amount_total,
                                  currency)
            SELECT 'BENCH-{tag}-' || n, '{cid}', 'Bench', '2027-05-01',
                   '2027-05-08', 12000, 'eur'
              FROM generate_series(1, {count}) AS n
            RETURNING id, reference)
        INSERT INTO transactions (booking_id, gateway, gateway_ref, amount,
                                  currency, status)
        SELECT id, 'stripe', 'pi_bench_' || replace(reference, '-', '_'),
               12000, 'eur', 'requires_payment' FROM b
        RETURNING id, gateway_ref;""", role="jklg")
    return [tuple(line.split("|")) for line in out.split("\n") if "|" in line]


def settle(pg):
    """Before each measured round: what earlier rounds and their set-up
    left to PostgreSQL's background processes (vacuum, checkpoint), whose
    CPU time is counted, is done first."""
    pg.psql("VACUUM (ANALYZE); CHECKPOINT;")


def signed(payload):
    t = str(int(time.time()))
    mac = hmac.new(WHSEC.encode(), t.encode() + b"." + payload,
                   hashlib.sha256).hexdigest()
    return f"t={t},v1={mac}"


def write_events(pg, cid, work, tag, per_thread, linked=True):
    """One file of distinct signed events per wrk thread; returns the lua
    script that sends them. Unlinked events name intents the database does
    not know: stored, nothing else (the ingestion alone)."""
    count = THREADS * per_thread
    txs = (transactions(pg, cid, tag, count) if linked else
           [(None, f"pi_bench_BENCH_{tag}_{n}") for n in range(count)])
    created = int(time.time())
    for t in range(THREADS):
        with open(work / f"events-{tag}-{t + 1}.txt", "w") as f:
            for tx, ref in txs[t::THREADS]:
                payload = json.dumps({
                    "id": f"evt_{ref[3:]}", "object": "event",
                    "api_version": "2024-06-20", "created": created,
                    "livemode": False, "pending_webhooks": 1,
                    "type": "payment_intent.processing",
                    "data": {"object": {
                        "id": ref, "object": "payment_intent",
                        "amount": 12000, "currency": "eur",
                        "status": "processing",
                        "metadata": {"transaction_id": tx} if tx else {}}}},
                    separators=(",", ":")).encode()
                f.write(f"{signed(payload)}\t{payload.decode()}\n")
    script = work / f"webhook-{tag}.lua"
    script.write_text(WEBHOOK_LUA % {"prefix": f"{work}/events-{tag}-"})
    return script


def stored_events(pg, tag):
    return int(pg.psql(f"SELECT count(*) FROM payment_events "
                       f"WHERE id LIKE 'evt_bench_BENCH_{tag}_%'").strip())


def batch_counters(base):
    """(batches, events) applied so far (mod_jklg_webhook.c's metrics)."""
    req = urllib.request.Request(f"{base}/api/admin/metrics", headers={
        "Authorization": STAFF_AUTH})
    with urllib.request.urlopen(req) as resp:
        text = resp.read().decode()
    def counter(name):
        m = re.search(rf"^{name} (\d+)$", text, re.M)
        return int(m.group(1)) if m else 0
    return (counter("jklg_webhook_batches_total"),
            counter("jklg_webhook_batch_events_total"))


def webhook_round(pg, cid, work, url, tag, duration=DURATION,
                  per_thread=EVENTS_PER_THREAD, linked=True):
    script = write_events(pg, cid, work, tag, per_thread, linked)
    settle(pg)
    base = url.rsplit("/api/", 1)[0]
    before = batch_counters(base)
    res = wrk(url, script, duration)
    after = batch_counters(base)
    res["unique"] = stored_events(pg, tag)
    res["batch"] = ((after[1] - before[1]) / max(after[0] - before[0], 1))
    return res


def row(name, res):
    extra = (f"   unique events {res['unique']}"
             f"   mean batch {res['batch']:.1f}" if "unique" in res else "")
    cpu = "".join(f"   {k} {v:5.0f} us" for k, v in res["cpu"].items())
    return (f"  {name:26s} {res['rps']:8.0f} req/s   p99 {res['p99']:>8s}"
            f"{cpu}   "
            f"non-2xx {res['non2xx']}{extra}"
            + (f"   socket errors: {res['errors']}" if res["errors"] else ""))


def combined(rounds):
    """Rounds of one scenario as one: requests over time, worst p99, CPU
    per request (Apache + PostgreSQL) over all requests."""
    return {"rps": sum(r["rps"] for r in rounds) / len(rounds),
            "p99_ms": max(r["p99_ms"] for r in rounds),
            "cpu": sum(sum(r["cpu"].values()) * r["requests"] for r in rounds)
                   / max(sum(r["requests"] for r in rounds), 1)}


def main():
    if not BARE_MODULE.exists():
        sys.exit(f"{BARE_MODULE} is not built (make bench builds it)")
    work = Path(tempfile.mkdtemp(prefix="jklg-bench-"))
    work.chmod(0o755)
    pg = PgCluster(work / "pg")
    smtp = SmtpStandin(free_port())
    httpd = None
    try:
        pg.init()
        pg.start()
        pg.ensure_app_db()
        pg.migrate()
        smtp.start()
        httpd = Httpd(work / "httpd", pg.dbd_params(), staff=STAFF, jklg=(
            'JKLGPublicURL https://travel.test\n'
            'JKLGJWTKey bench-key-0123456789abcdef0123456789\n'
            'JKLGMailFrom "JKLG Travel <noreply@jklg.test>"\n'
            f'JKLGMailSMTP smtp://127.0.0.1:{smtp.port}\n'
            'JKLGStripeSecretKey sk_test_bench\n'
            'JKLGStripePublishableKey pk_test_bench\n'
            f'JKLGStripeWebhookSecret {WHSEC}\n'
            # Nothing listens: no bench request calls the gateway.
            f'JKLGStripeAPIBase http://127.0.0.1:{free_port()}\n'),
            extra=BARE_CONF.format(module=BARE_MODULE))
        (work / "httpd").mkdir()
        httpd.start()
        SERVERS["apache"] = httpd.pid()
        SERVERS["postgres"] = int((pg.data_dir / "postmaster.pid")
                                  .read_text().split()[0])
        script = work / "post.lua"
        script.write_text(POST_LUA % {"auth": STAFF_AUTH})
        seed_customers(pg, SEED_CUSTOMERS)
        cid, token = customer_token(httpd, pg)
        me_script = work / "me.lua"
        me_script.write_text(ME_LUA.format(token=token))
        health = f"{httpd.url}/api/health"
        queue = f"{httpd.url}/api/admin/email/test"
        me = f"{httpd.url}/api/customers/me"
        bare = f"{httpd.url}/bare?{cid}"
        webhook = f"{httpd.url}/api/payments/webhook"

        # Other work on the machine skews every figure: said with them.
        load_before = os.getloadavg()[0]
        # Warm up children, pools and prepared plans of every path.
        for url, lua in ((health, None), (bare, None), (me, me_script)):
            wrk(url, lua, "3s")
        warm = webhook_round(pg, cid, work, webhook, "w", "3s", 5000)
        # Linked events need their transactions made first: as many as
        # four times the warm-up's rate would use (checked after).
        seconds = float(DURATION.rstrip("s"))
        linked_per_thread = min(EVENTS_PER_THREAD, max(
            4000, int(warm["rps"] * seconds * 4 / THREADS)))

        names = ["bare", "me", "webhook", "unlinked"]
        rounds = {name: [] for name in names}
        for i, name in enumerate(names + names[::-1]):
            settle(pg)
            if name == "bare":
                res = wrk(bare)
            elif name == "me":
                res = wrk(me, me_script)
            else:
                linked = name == "webhook"
                res = webhook_round(pg, cid, work, webhook, str(i),
                                    per_thread=(linked_per_thread if linked
                                                else EVENTS_PER_THREAD),
                                    linked=linked)
            rounds[name].append(res)

        results = {}
        results["health"] = wrk(health)
        results["email/test, SMTP up"] = wrk(queue, script)
        smtp.stop()
        results["email/test, SMTP down"] = wrk(queue, script)
        results["health, SMTP down"] = wrk(health)

        print(f"\nwrk -t{THREADS} -c{CONNECTIONS} -d{DURATION}, loopback, "
              f"one run, {os.cpu_count()} CPUs, "
              f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, "
              f"load average {load_before:.1f} before, "
              f"{os.getloadavg()[0]:.1f} after, "
              f"{SEED_CUSTOMERS} other customers with sessions:")
        for name in names:
            label = {"bare": "bare mod_dbd SELECT",
                     "me": "customers/me (JWT)",
                     "webhook": "webhook, linked",
                     "unlinked": "webhook, unlinked"}[name]
            for n, res in enumerate(rounds[name]):
                print(row(f"{label} #{n + 1}", res))
        for name, res in results.items():
            print(row(name, res))

        b, m, w, u = (combined(rounds[k]) for k in names)
        print("\n  ratios to the bare handler: requests per second; and bare's "
              "CPU per request (Apache + PostgreSQL) over theirs, the rate "
              "ratio of a machine with nothing else to do")
        print(f"  customers/me / bare:      {m['rps'] / b['rps']:.2f}   "
              f"CPU {b['cpu'] / m['cpu']:.2f}   "
              f"(target >= 0.70; p99 {m['p99_ms']:.2f} ms vs bare "
              f"{b['p99_ms']:.2f} ms)")
        print(f"  webhook, linked / bare:   {w['rps'] / b['rps']:.2f}   "
              f"CPU {b['cpu'] / w['cpu']:.2f}   "
              f"(target >= 0.50; p99 {w['p99_ms']:.2f} ms)")
        print(f"  webhook, unlinked / bare: {u['rps'] / b['rps']:.2f}   "
              f"CPU {b['cpu'] / u['cpu']:.2f}   (p99 {u['p99_ms']:.2f} ms)")
        sent = sum(r["requests"] for k in ("webhook", "unlinked")
                   for r in rounds[k])
        unique = sum(r["unique"] for k in ("webhook", "unlinked")
                     for r in rounds[k])
        print(f"  webhook requests {sent}, distinct events stored {unique}"
              + ("" if unique >= sent - CONNECTIONS else
                 "   ** ran out of events: raise JKLG_BENCH_EVENTS **"))
        up = results["email/test, SMTP up"]["rps"]
        down = results["email/test, SMTP down"]["rps"]
        print(f"  email/test with SMTP down / up: {down / up:.2f}")
        print(f"  health with SMTP down / up:     "
              f"{results['health, SMTP down']['rps'] / results['health']['rps']:.2f}")
    finally:
        if httpd:
            httpd.stop()
        smtp.stop()
        pg.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
