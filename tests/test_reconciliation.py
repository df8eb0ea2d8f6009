"""Reconciliation with the gateway (docs/reconciliation.md): webhooks the
stand-in drops are repaired by a run, through the webhook's exactly-once
path (one receipt, a late webhook is a no-op), refunds made at the gateway
are applied, amounts that differ are recorded and not applied, a list page
failing mid-way fails the run and the next one completes, two runs at once
are one, the interval job runs by itself, and the staff endpoints."""

import time
from concurrent.futures import ThreadPoolExecutor

import psycopg2
import pytest
import requests

from harness.server import STAFF, directives, own_server, serving
from harness.payments import (Staff, assert_error, assert_json, booking_row,
                              concurrently, customer_with_booking, deliver,
                              exactly_one_mail, no_mail, one, open_intent,
                              paid_intent, receipt_subject, rows,
                              stripe_post, tx_audit_count, tx_row)

RUN_KEYS = {"id", "gateway", "status", "started_by", "since", "started_at",
            "finished_at", "checked", "applied", "mismatches", "error"}


@pytest.fixture
def allow_errors():
    # Runs that fail on purpose (an injected page failure) say so.
    return [r"JKLG02251", r"JKLG02250", r"JKLG02252"]


def control(stripe, pi, action):
    resp = requests.post(f"{stripe.url}/_standin/payment_intents/{pi}/"
                         f"{action}", timeout=30)
    assert resp.status_code == 200, resp.text
    return resp.json()


def missed_payment(server, mail, stripe, amount_total=120000):
    """A customer's card payment that succeeded at the gateway while its
    webhook was lost: (account, booking, transaction id, event id)."""
    account, client, _, booking = customer_with_booking(server, mail,
                                                        amount_total)
    tx, _ = open_intent(client, booking["id"])
    stripe.drop_webhooks = True
    sent = control(stripe, tx["gateway_ref"], "confirm")
    assert sent["dropped"] is True and sent["delivered"] is None
    return account, booking, tx, sent["event"]


def run_now(server, status=202):
    resp = Staff(server).post("/reconciliation/run")
    if status != 202:
        return resp
    body = assert_json(resp, 202)
    assert set(body) == {"run"} and set(body["run"]) == RUN_KEYS, body
    assert body["run"]["started_by"] == STAFF[0]
    assert body["run"]["finished_at"] is not None
    return body["run"]


def test_missed_payment_repaired_once(server, mail, stripe, db):
    account, booking, tx, event_id = missed_payment(server, mail, stripe)
    assert tx_row(db, tx["id"])[0] == "requires_payment"

    run = run_now(server)
    assert run["status"] == "succeeded" and run["error"] is None, run
    assert run["applied"] >= 1 and run["checked"] >= run["applied"]
    assert tx_row(db, tx["id"])[0] == "succeeded"
    assert booking_row(db, booking["id"])[2] == "paid"
    subject = receipt_subject(booking["reference"])
    exactly_one_mail(mail, account.email, subject)
    audits = tx_audit_count(db, tx["id"])

    # The webhook arrives after all: the same event id, nothing to do.
    late = deliver(stripe, stripe.get_event(event_id))
    assert late.status_code == 200
    again = run_now(server)
    assert again["status"] == "succeeded"
    assert tx_audit_count(db, tx["id"]) == audits
    exactly_one_mail(mail, account.email, subject)
    with db.cursor() as cur:
        cur.execute("SELECT count(*) FROM payment_events WHERE id = %s",
                    (event_id,))
        assert cur.fetchone()[0] == 1


def test_webhook_first_then_run_is_a_no_op(server, mail, stripe, db):
    account, _, _, booking, tx, event = paid_intent(server, mail, stripe)
    audits = tx_audit_count(db, tx["id"])
    run_now(server)
    assert tx_audit_count(db, tx["id"]) == audits
    exactly_one_mail(mail, account.email, receipt_subject(booking["reference"]))


def test_refund_at_the_gateway_applied(server, mail, stripe, db):
    _, _, _, _, tx, _ = paid_intent(server, mail, stripe)
    # Made in the gateway's dashboard: no webhook reaches us.
    stripe_post(stripe, "/v1/refunds", {"payment_intent": tx["gateway_ref"],
                                        "amount": "5000"})
    assert tx_row(db, tx["id"])[2] == 0
    run = run_now(server)
    assert run["status"] == "succeeded"
    row = tx_row(db, tx["id"])
    assert row[0] == "partially_refunded"
    assert row[2] == 5000
    run_now(server)
    assert tx_row(db, tx["id"])[2] == 5000


def test_amount_mismatch_recorded_not_applied(server, mail, stripe, db):
    account, client, _, booking = customer_with_booking(server, mail, 120000)
    tx, _ = open_intent(client, booking["id"])
    # The gateway took another amount than we asked for.
    with stripe._lock:
        stripe._payment_intents[tx["gateway_ref"]]["amount"] = 99900
    stripe.drop_webhooks = True
    control(stripe, tx["gateway_ref"], "confirm")
    run = run_now(server)
    assert run["status"] == "succeeded"
    mine = [m for m in run["mismatches"] if m["transaction_id"] == tx["id"]]
    assert len(mine) == 1, run["mismatches"]
    assert mine[0]["local_status"] == "requires_payment"
    assert mine[0]["gateway_status"] == "succeeded"
    assert mine[0]["local_amount"] == 120000
    assert mine[0]["gateway_amount"] == 99900
    assert tx_row(db, tx["id"])[0] == "requires_payment"
    no_mail(mail, account.email, receipt_subject(booking["reference"]))
    listed = assert_json(Staff(server).get("/reconciliation"), 200)
    assert listed["data"][0]["id"] == run["id"]
    assert listed["data"][0]["mismatches"] == run["mismatches"]


# ------------------- what the webhook does after applying, a run does too

def test_run_sends_the_overpayment_refund(server, mail, stripe, db):
    """Money on an intent canceled here (a lost gateway cancel) for a
    booking staff then marked paid, its webhook lost: the run applies the
    payment and refunds the excess through the gateway, as the webhook
    would (jklg_event_apply)."""
    account, client, staff, booking = customer_with_booking(
        server, mail, amount_total=80000)
    tx, _ = open_intent(client, booking["id"])
    with db.cursor() as cur:
        cur.execute("UPDATE transactions SET status = 'canceled'"
                    " WHERE id = %s", (tx["id"],))
    staff.manual_ok(booking["id"], 80000)
    stripe.drop_webhooks = True
    control(stripe, tx["gateway_ref"], "confirm")

    run = run_now(server)
    assert run["status"] == "succeeded", run
    refunds = rows(db, "SELECT amount, status, requested_by, gateway_ref"
                       " FROM refunds WHERE transaction_id = %s", (tx["id"],))
    assert len(refunds) == 1, refunds
    amount, status, requested_by, ref = refunds[0]
    assert (amount, status, requested_by) == (80000, "succeeded", "system")
    assert stripe.get_refund(ref)["amount"] == 80000
    paid, refunded, payment_status = booking_row(db, booking["id"])
    assert (paid - refunded, payment_status) == (80000, "paid")
    assert "over-paid its booking" in server.new_log()


def test_run_keeps_the_card_a_payment_was_made_to_keep(server, mail, stripe,
                                                        db):
    account, client, _, booking = customer_with_booking(server, mail, 50000)
    body = assert_json(client.post("/intents", {
        "booking_id": booking["id"], "save_payment_method": True}), 201)
    stripe.drop_webhooks = True
    control(stripe, body["transaction"]["gateway_ref"], "confirm")
    assert one(db, "SELECT count(*) FROM payment_methods"
                   " WHERE customer_id = %s", (account.id,))[0] == 0

    run = run_now(server)
    assert run["status"] == "succeeded", run
    assert one(db, "SELECT count(*) FROM payment_methods"
                   " WHERE customer_id = %s AND detached_at IS NULL",
               (account.id,))[0] == 1


def filler_events(stripe, n):
    """Events of no interest to us (other objects in the account)."""
    for i in range(n):
        stripe.event("customer.created", {"id": f"cus_filler{i:06d}",
                                          "object": "customer"})


def test_failing_page_then_next_run_completes(server, mail, stripe, db):
    # Older than 60 newer events: on the second page (50 a page).
    a_account, a_booking, a_tx, _ = missed_payment(server, mail, stripe)
    filler_events(stripe, 60)
    b_account, b_booking, b_tx, _ = missed_payment(server, mail, stripe)

    stripe.fail_list_page(2)
    failed = run_now(server)
    assert failed["status"] == "failed"
    assert "page 2" in failed["error"], failed
    assert tx_row(db, b_tx["id"])[0] == "succeeded"
    assert tx_row(db, a_tx["id"])[0] == "requires_payment"

    done = run_now(server)
    assert done["status"] == "succeeded", done
    assert tx_row(db, a_tx["id"])[0] == "succeeded"
    exactly_one_mail(mail, a_account.email,
                     receipt_subject(a_booking["reference"]))
    exactly_one_mail(mail, b_account.email,
                     receipt_subject(b_booking["reference"]))
    with db.cursor() as cur:
        cur.execute("SELECT count(*) FROM transaction_audit_logs"
                    " WHERE transaction_id = %s AND new_status = 'succeeded'",
                    (b_tx["id"],))
        assert cur.fetchone()[0] == 1


def test_two_runs_at_once_one_wins(server, stripe, db):
    with db.cursor() as cur:
        cur.execute("SELECT count(*) FROM reconciliation_runs")
        before = cur.fetchone()[0]
    stripe.delay_next(2)            # the winner's first page is slow
    resps = concurrently(lambda _: run_now(server, status=None), range(3))
    codes = sorted(r.status_code for r in resps)
    assert codes == [202, 409, 409], codes
    for r in resps:
        if r.status_code == 409:
            assert_error(r, 409, "conflict")
    with db.cursor() as cur:
        cur.execute("SELECT count(*) FROM reconciliation_runs")
        assert cur.fetchone()[0] == before + 1


def test_staff_only(server):
    nobody = Staff(server, auth=None, base=server.no_auth_url)
    assert_error(nobody.get("/reconciliation"), 403, "forbidden")
    assert_error(nobody.post("/reconciliation/run"), 403, "forbidden")


def test_list_pages(server):
    for _ in range(3):
        run_now(server)
    staff = Staff(server)
    first = assert_json(staff.get("/reconciliation", params={"limit": 2}),
                        200)
    assert len(first["data"]) == 2 and first["next_cursor"]
    second = assert_json(staff.get("/reconciliation", params={
        "limit": 2, "cursor": first["next_cursor"]}), 200)
    seen = [r["id"] for r in first["data"] + second["data"]]
    assert len(set(seen)) == len(seen)
    assert first["data"][0]["started_at"] >= first["data"][1]["started_at"]
    assert_error(staff.get("/reconciliation", params={"limit": "0"}), 422,
                 "validation_failed")


@pytest.fixture
def scheduled(pg, smtp, stripe_api, server, tmp_path):
    """A second server on the same database whose job runs every 2s. It
    shares the suite server's template directory: its children must be
    able to read it to send the receipt the run queues."""
    conf = directives(smtp, stripe_api, server.templates,
                      JKLGReconcileInterval="2s")
    with serving(own_server(tmp_path, pg.dbd_params(), conf)) as httpd:
        yield httpd


def test_interval_job_runs_by_itself(server, mail, stripe, db, scheduled):
    account, booking, tx, _ = missed_payment(server, mail, stripe)
    deadline = time.time() + 30
    while time.time() < deadline:
        if tx_row(db, tx["id"])[0] == "succeeded":
            break
        time.sleep(0.5)
    assert tx_row(db, tx["id"])[0] == "succeeded"
    try:
        exactly_one_mail(mail, account.email,
                         receipt_subject(booking["reference"]))
    except AssertionError:
        with db.cursor() as cur:
            cur.execute("SELECT template, status, attempts, last_error"
                        " FROM email_outbox WHERE recipient = %s",
                        (account.email,))
            outbox = cur.fetchall()
        raise AssertionError(f"outbox {outbox}; scheduled server log:\n"
                             + scheduled.error_log.read_text()[-3000:])
    with db.cursor() as cur:
        cur.execute("SELECT count(*) FROM reconciliation_runs"
                    " WHERE started_by IS NULL AND status = 'succeeded'")
        assert cur.fetchone()[0] >= 1


def test_claims_in_sql_one_wins_and_the_job_waits_its_turn(pg, server, db):
    """jklg.reconcile_start directly: two claims in open transactions (two
    servers) -- the second waits for the first and answers conflict; the
    scheduled claim is not due within its interval."""
    args = ("p_gateway => 'stripe', p_staff => %s, p_interval => %s, "
            "p_overlap => 300, p_lookback => 3600, p_stale => 3600")
    first = psycopg2.connect(pg.url())
    second = psycopg2.connect(pg.url())
    try:
        with first.cursor() as a:
            a.execute("SELECT outcome, body FROM jklg.reconcile_start("
                      + args + ")", ("one", 0))
            outcome, body = a.fetchone()
            assert outcome == "created"
            run_id = body["run"]["id"]
        with ThreadPoolExecutor(1) as pool:
            def claim():
                with second.cursor() as b:
                    b.execute("SELECT outcome FROM jklg.reconcile_start("
                              + args + ")", ("two", 0))
                    return b.fetchone()[0]
            waiting = pool.submit(claim)
            time.sleep(0.5)
            assert not waiting.done()       # behind the advisory lock
            first.commit()
            assert waiting.result(timeout=10) == "conflict"
            second.commit()
        with db.cursor() as cur:
            cur.execute("SELECT outcome FROM jklg.reconcile_finish(%s, NULL)",
                        (run_id,))
            assert cur.fetchone()[0] == "ok"
            cur.execute("SELECT outcome FROM jklg.reconcile_start(" + args
                        + ")", (None, 3600))
            assert cur.fetchone()[0] == "not_due"
    finally:
        first.close()
        second.close()
