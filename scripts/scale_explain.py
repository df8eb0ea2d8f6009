#!/usr/bin/python3
"""Runs every SQL statement of mod_jklg (the jklg_statement_t arrays of
mod_jklg/*.c, read through the C preprocessor) against a database seeded
by scripts/seed_scale.sql, with arguments of one seeded customer, and
prints the milliseconds per call and the plans worth a look.

    scripts/scale_explain.py postgresql://jklg@127.0.0.1:PORT/jklg \\
        [--postgres-log /path/postgres.log] [--runs 5] [--only LABEL,...]

Each call runs in its own transaction, rolled back, so the database stays
as seeded and the calls do not depend on each other's order. With
auto_explain loaded on the server (log_min_duration 2ms,
log_nested_statements, log_analyze) and log_line_prefix containing
"app=%a", --postgres-log lists, per statement, the nested plans that scan
a big table sequentially, sort many rows, or took more than 5 ms
(docs/testing.md, "At an agency's size")."""

import argparse
import hashlib
import json
import re
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path

import psycopg2

REPO = Path(__file__).resolve().parents[1]
CPP_FLAGS = ["-I/usr/include/apache2", "-I/usr/include/apr-1.0", "-DLINUX",
             "-D_REENTRANT", "-D_GNU_SOURCE", "-I/usr/include/postgresql",
             "-Imod_jklg", "-Ibuild"]
BIG_TABLES = {"customers", "customer_sessions", "customer_addresses",
              "customer_preferences", "bookings", "installments",
              "transactions", "refunds", "payment_events",
              "transaction_audit_logs", "security_events", "email_outbox",
              "staff_audit", "reconciliation_runs", "email_verification_tokens",
              "password_reset_tokens", "secure_account_tokens", "mfa_tokens",
              "email_changes", "mfa_recovery_codes", "payment_methods",
              "gateway_customers", "customer_mfa"}
PUBLIC_URL = "https://agency.example.com"
# Housekeeping: its first run deletes what the seed left to expire; the
# second, timed, run is the steady state of a job that runs every few
# minutes.
STEADY = {"jklg_purge", "jklg_purge_security_events"}


def statements():
    """[(label, sql)] of every jklg_statement_t array, macros expanded."""
    found = []
    for path in sorted((REPO / "mod_jklg").glob("*.c")):
        if "jklg_statement_t" not in path.read_text():
            continue
        pre = subprocess.run(["cc", "-E", "-P", *CPP_FLAGS, str(path)],
                             cwd=REPO, capture_output=True, text=True).stdout
        for array in re.finditer(r"const jklg_statement_t \w+\[\] = \{(.*?)"
                                 r"\{\s*(?:\(\(void \*\)0\)|NULL)\s*,", pre, re.S):
            for entry in re.finditer(r'\{\s*"(\w+)"\s*,\s*((?:"(?:[^"\\]|\\.)*"\s*)+)\}',
                                     array.group(1)):
                parts = re.findall(r'"((?:[^"\\]|\\.)*)"', entry.group(2))
                sql = "".join(parts).encode().decode("unicode_escape")
                found.append((entry.group(1), sql))
    return found


def sha(text):
    return hashlib.sha256(text.encode()).hexdigest()


def world(cur):
    """Ids and tokens of one seeded customer stored late in the tables
    (number N - 100: divisible by 100, so it has every kind of token,
    an email change, MFA and a saved card)."""
    cur.execute("SELECT count(*) FROM customers")
    n = cur.fetchone()[0]
    i = n - n % 100 - 100 if n >= 200 else 100
    w = {"i": i, "email": f"scale-{i}@example.com"}
    cur.execute("SELECT id FROM customers WHERE email = %s", (w["email"],))
    w["customer"] = cur.fetchone()[0]
    cur.execute("SELECT id FROM customers WHERE email = %s",
                (f"scale-{i + 1}@example.com",))
    w["other"] = cur.fetchone()[0]
    one = {
        "session": "SELECT id FROM customer_sessions WHERE customer_id = %s"
                   " AND expires_at > now() LIMIT 1",
        "old_session": "SELECT id FROM customer_sessions WHERE customer_id = %s"
                       " AND expires_at < now() LIMIT 1",
        "address": "SELECT id FROM customer_addresses WHERE customer_id = %s",
        "booking": "SELECT id FROM bookings WHERE customer_id = %s"
                   " ORDER BY travel_start DESC LIMIT 1",
        "installment": "SELECT i.id FROM installments i JOIN bookings b"
                       " ON b.id = i.booking_id WHERE b.customer_id = %s"
                       " ORDER BY i.status = 'pending' DESC, i.due_date DESC LIMIT 1",
        "tx": "SELECT t.id FROM transactions t JOIN bookings b"
              " ON b.id = t.booking_id WHERE b.customer_id = %s"
              " AND t.status = 'succeeded' LIMIT 1",
        "tx_ref": "SELECT t.gateway_ref FROM transactions t JOIN bookings b"
                  " ON b.id = t.booking_id WHERE b.customer_id = %s"
                  " AND t.status = 'succeeded' LIMIT 1",
        "method": "SELECT id FROM payment_methods WHERE customer_id = %s",
    }
    for key, sql in one.items():
        cur.execute(sql, (w["customer"],))
        row = cur.fetchone()
        w[key] = row[0] if row else None
    cur.execute("SELECT id FROM refunds ORDER BY created_at DESC LIMIT 1")
    w["refund"] = cur.fetchone()[0]
    cur.execute("SELECT id FROM reconciliation_runs ORDER BY started_at DESC LIMIT 1")
    w["run"] = cur.fetchone()[0]
    cur.execute("SELECT id FROM email_outbox ORDER BY status = 'queued' DESC LIMIT 1")
    w["mail"] = cur.fetchone()[0]
    cur.execute("SELECT created_at, id FROM bookings WHERE customer_id = %s"
                " ORDER BY created_at DESC, id DESC LIMIT 1", (w["customer"],))
    w["after_time"], w["after_id"] = cur.fetchone()
    return w


def arguments(label, sql, w):
    """The values of one statement's placeholders, in order."""
    step = int(time.time()) // 30
    by_name = {
        "p_session": w["session"], "p_customer": w["customer"],
        "p_customer_id": w["customer"], "p_customer_email": None,
        "p_booking": w["booking"], "p_installment": None,
        "p_after_time": None, "p_after_id": None, "p_limit": 20,
        "p_amount": 1000, "p_amount_total": 250000, "p_balance_due_days": 30,
        "p_brand": "visa", "p_cap": 1000, "p_confirm_hash": sha("c" + label),
        "p_confirm_url": PUBLIC_URL + "/confirm", "p_currency": "eur",
        "p_days_left": 90, "p_decline": None, "p_deposit": 75000,
        "p_description": "Azores, 5 nights", "p_device": "Firefox on Linux",
        "p_done": "true", "p_email": w["email"], "p_error": None,
        "p_exp_month": 12, "p_exp_year": 2030,
        "p_fee": 0, "p_fields": '{"first_name": "Scale"}',
        "p_first_name": "Ada", "p_gateway": "stripe",
        "p_hash": "$argon2id$new", "p_id": None, "p_interval": 3600,
        "p_ip": "192.0.2.10", "p_kind": "succeeded", "p_language": "pt",
        "p_last4": "4242", "p_last_name": "Scale", "p_lease_seconds": 300,
        "p_lifetime": "30 days", "p_login_url": PUBLIC_URL + "/login",
        "p_lookback": 86400, "p_marketing_emails": "false",
        "p_max_attempts": 3, "p_method_ref": "pm_scale_new",
        "p_name": "standard", "p_new_email": f"new-{uuid.uuid4().hex[:8]}@example.com",
        "p_new_hash": None, "p_newsletter": "true",
        "p_nonce": "00" * 12, "p_outcome": "succeeded", "p_overlap": 300,
        "p_override": None, "p_paid_net": 0,
        "p_password_hash": "$argon2id$x", "p_payload": '{"id": "evt_new"}',
        "p_payment_ref": w["tx_ref"], "p_phone": None,
        "p_placeholder": "erased", "p_policy": "standard",
        "p_public_url": PUBLIC_URL, "p_q": None, "p_reason": None,
        "p_recovery": None, "p_ref": None,
        "p_reference": "NEW-" + uuid.uuid4().hex[:8], "p_refund": 0,
        "p_reset_hash": sha("r" + label), "p_reset_url": PUBLIC_URL + "/reset",
        "p_retention": "365 days", "p_revert_hash": sha("v" + label),
        "p_revert_url": PUBLIC_URL + "/revert", "p_run": w["run"],
        "p_save": "false", "p_secret_enc": "ab" * 20,
        "p_secure_hash": sha("s" + label),
        "p_secure_url": PUBLIC_URL + "/secure", "p_since": None,
        "p_soft": "false", "p_staff": "staff-scale", "p_stale": 900,
        "p_status": None, "p_step": step, "p_tiers":
        '[{"days_before": 14, "fee_percent": 20}]',
        "p_token_hash": sha("t" + label), "p_travel_end": "2027-06-08",
        "p_travel_start": "2027-06-01", "p_tx": None, "p_type":
        "payment_intent.succeeded", "p_until": None,
        "p_user_agent": "Mozilla/5.0 (scale)", "p_verify_url": PUBLIC_URL + "/verify",
    }
    i = w["i"]
    special = {
        "jklg_me_booking": {"p_id": w["booking"]},
        "jklg_me_transaction": {"p_id": w["tx"]},
        "jklg_me_session_delete": {"p_id": w["old_session"]},
        "jklg_me_address_save": {"p_id": w["address"], "p_limit": 10},
        "jklg_me_address_delete": {"p_id": w["address"]},
        "jklg_me_cancellation": {"p_id": w["booking"]},
        "jklg_me_cancel": {"p_id": w["booking"]},
        "jklg_s_cancellation": {"p_id": w["booking"]},
        "jklg_s_cancel": {"p_id": w["booking"]},
        "jklg_s_booking_get": {"p_id": w["booking"]},
        "jklg_staff_transaction": {"p_id": w["tx"]},
        "jklg_staff_customer": {"p_id": w["customer"]},
        "jklg_staff_customer_resend": {"p_id": w["customer"]},
        "jklg_staff_customer_revoke": {"p_id": w["customer"]},
        "jklg_staff_customer_unlock": {"p_id": w["customer"]},
        "jklg_staff_customer_erase": {"p_id": w["customer"]},
        "jklg_me_method_delete": {"p_id": w["method"]},
        "jklg_staff_customers": {"p_q": f"scale-{i}"},
        "jklg_staff_transactions": {"p_customer": None, "p_booking": None,
                                    "p_status": "succeeded"},
        "jklg_verify_email": {"p_token_hash": sha(f"verify-{i}")},
        "jklg_resend_verification": {"p_email": w["email"]},
        "jklg_secure_account": {"p_token_hash": sha(f"secure-{i}")},
        "jklg_login_mfa_lookup": {"p_token_hash": sha(f"mfa-{i}")},
        "jklg_login_mfa_finish": {"p_token_hash": sha(f"mfa-{i}")},
        "jklg_confirm_email_change": {"p_token_hash": sha(f"confirm-{i}")},
        "jklg_revert_email_change": {"p_token_hash": sha(f"revert-{i}")},
        "jklg_register": {"p_email": f"new-{uuid.uuid4().hex[:8]}@example.com"},
        "jklg_j_balance_settle": {"p_tx": w["tx"], "p_ref": "pi_new"},
        "jklg_reconcile_apply": {"p_id": "evt_reconcile_new", "p_ref": w["tx_ref"],
                                 "p_tx": str(w["tx"]), "p_amount": 1000},
        "jklg_reconcile_start": {"p_gateway": "manual"},
        "jklg_reconcile_finish": {"p_run": w["run"]},
        "jklg_w_method_save": {"p_ref": "pm_scale_new"},
        "jklg_me_gateway_customer": {"p_ref": "cus_scale_new"},
        "jklg_login_session": {"p_customer": w["customer"]},
        "jklg_p_intent_open": {"p_installment": w["installment"]},
    }
    positional = {
        "jklg_outbox_enqueue": ["verify_email", w["email"], '{"first_name": "Ada"}'],
        "jklg_outbox_enqueue_batch": ["newsletter", "{}",
                                      json.dumps([{"email": w["email"]}])],
        "jklg_outbox_due": [50],
        "jklg_outbox_claim": ["5 minutes", w["mail"]],
        "jklg_outbox_sent": ["<id@example.com>", w["mail"], str(uuid.uuid4())],
        "jklg_outbox_retry": ["451 later", 8, 8, "1 minute", w["mail"],
                              str(uuid.uuid4())],
        "jklg_c_login_lookup": [w["email"]],
        "jklg_c_reset_lookup": [sha(f"reset-{i}")],
        "jklg_c_reset": [sha(f"reset-{i}"), "$argon2id$new", sha(f"reset-{i}"),
                         "192.0.2.10", "Mozilla/5.0 (scale)", PUBLIC_URL + "/reset"],
        "jklg_p_intent_settle": [w["tx"], "pi_new", "requires_payment", None,
                                 PUBLIC_URL],
        "jklg_p_event": ["evt_new", "stripe", "payment_intent.succeeded",
                         '{"id": "evt_new"}', "succeeded", w["tx_ref"], None,
                         1000, None, PUBLIC_URL],
        "jklg_p_intent_peek": [w["tx"]],
        "jklg_s_refund_open": [w["tx"], 100, "requested_by_customer",
                               "staff-scale", "refund-key-new"],
        "jklg_s_refund_settle": [w["refund"], "succeeded", "re_new",
                                 "staff-scale", None],
        "jklg_s_manual": [w["booking"], 100, "eur", "bank_transfer", "scale",
                          "staff-scale", PUBLIC_URL],
    }
    if label in positional:
        return positional[label]
    names = re.findall(r"(p_\w+) => %s", sql)
    values = []
    for name in names:
        if name in special.get(label, {}):
            values.append(special[label][name])
        elif name in by_name:
            values.append(by_name[name])
        else:
            raise KeyError(f"{label}: no value for {name}")
    if len(values) != sql.count("%s"):
        raise KeyError(f"{label}: {sql.count('%s')} placeholders, "
                       f"{len(values)} values")
    return values


def run_one(conn, label, sql, values, runs):
    """Milliseconds of each run and the first column of the first row."""
    times, first = [], None
    values = [None if v is None else str(v) for v in values]
    with conn.cursor() as cur:
        # Names the auto_explain lines of this statement (app=%a).
        cur.execute("SET application_name = %s", (label,))
        conn.commit()
        for _ in range(runs):
            conn.rollback()
            try:
                if label in STEADY:
                    cur.execute(sql, values)
                start = time.perf_counter()
                cur.execute(sql, values)
                rows = cur.fetchall() if cur.description else []
            except psycopg2.Error as e:
                conn.rollback()
                return times, "ERROR " + str(e).splitlines()[0]
            times.append((time.perf_counter() - start) * 1000)
            first = rows[0][0] if rows else None
        conn.rollback()
    return times, first


def plans_of_note(log_path, offset):
    """{label: [findings]} from the auto_explain lines written after offset."""
    text = Path(log_path).read_text(errors="replace")[offset:]
    found = {}
    entries = re.split(r"\n(?=\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)", text)
    for entry in entries:
        m = re.search(r"app=(\S*) LOG:\s+duration: ([\d.]+) ms\s+plan:", entry)
        if not m:
            continue
        label, ms = m.group(1), float(m.group(2))
        notes = []
        for scan in re.finditer(r"Seq Scan on (\w+).*?actual time=[\d.]+\.\.[\d.]+ "
                                r"rows=(\d+)", entry):
            if scan.group(1) in BIG_TABLES:
                notes.append(f"Seq Scan on {scan.group(1)}")
        for sort in re.finditer(r"Sort .*?actual time=[\d.]+\.\.[\d.]+ rows=(\d+)",
                                entry):
            if int(sort.group(1)) > 1000:
                notes.append(f"Sort of {sort.group(1)} rows")
        if ms > 5:
            notes.append(f"{ms:.1f} ms")
        if notes:
            query = re.search(r"Query Text: (.*)", entry)
            found.setdefault(label, []).append(
                (ms, ", ".join(sorted(set(notes))),
                 query.group(1)[:160] if query else ""))
    return found


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url")
    parser.add_argument("--postgres-log")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--only", default="")
    args = parser.parse_args()

    conn = psycopg2.connect(args.url)
    with conn.cursor() as cur:
        w = world(cur)
    conn.rollback()
    only = set(filter(None, args.only.split(",")))
    offset = Path(args.postgres_log).stat().st_size if args.postgres_log else 0

    results = []
    for label, sql in statements():
        if only and label not in only:
            continue
        values = arguments(label, sql, w)
        times, first = run_one(conn, label, sql, values, args.runs)
        median = statistics.median(times) if times else float("nan")
        results.append((label, median, first))
        print(f"{label:32} {median:9.2f} ms  {str(first)[:60]}", flush=True)

    if args.postgres_log:
        time.sleep(1)
        print("\nPlans of note (auto_explain; slowest run of each statement):")
        notes = plans_of_note(args.postgres_log, offset)
        for label in sorted(notes):
            worst = {}
            for ms, what, query in notes[label]:
                key = " ".join(query.split())[:100]
                if key not in worst or worst[key][0] < ms:
                    worst[key] = (ms, what)
            for key, (ms, what) in sorted(worst.items(), key=lambda kv: -kv[1][0])[:6]:
                print(f"  {label}: {what}\n      {key}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
