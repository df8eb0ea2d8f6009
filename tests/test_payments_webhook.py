"""POST /api/payments/webhook (docs/payments.md, "Webhook"): Stripe-Signature
checks (any v1 of any configured secret, 300 s tolerance both ways),
exactly-once application however often and however concurrently an event
arrives, events out of order, failures, cancellations, disputes, and a
database outage answered 503 so that Stripe retries."""

import time

import psycopg2
import pytest
import requests

from harness.stripe import event_payload, sign
from harness.payments import (assert_error, assert_json,
                              booking_row, concurrently, confirm_and_deliver,
                              customer_with_booking, deliver, event_audits,
                              event_rows, exactly_one_mail, foreign_intent,
                              mails_with, my_transaction,
                              open_intent, paid_intent, receipt_subject,
                              stripe_post, tx_audit_count, tx_row)

OLD_SECRET = "whsec_old_rotated_away_secret"
DB_ERRORS = [r"JKLG0010[123]", r"JKLG00301", r"JKLG001", r"dbd:error",
             r"AH00633", r"AH00629", r"AH00628", r"AH00632", r"AH00639",
             r"AH00", r"DBD"]


def post_raw(stripe, body, signature=None, headers=None):
    """POSTs exact bytes to the webhook; signature None leaves the header
    out."""
    h = {"Content-Type": "application/json; charset=utf-8",
         "User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)"}
    if signature is not None:
        h["Stripe-Signature"] = signature
    h.update(headers or {})
    return requests.post(stripe.webhook_url, data=body, headers=h, timeout=30)


def unknown_event(stripe, event_type="customer.created"):
    return stripe.event(event_type, {"id": "cus_" + "x" * 14,
                                     "object": "customer",
                                     "email": "someone@example.com"})


def stored(db, event):
    return event_rows(db, event["id"])


# -------------------------------------------------------------- signatures

def test_valid_signature(server, stripe, db):
    event = unknown_event(stripe)
    resp = stripe.send_event(event)
    assert assert_json(resp, 200) == {"received": True}
    assert stored(db, event) == [("customer.created", None)]


def test_pretty_printed_body_is_signed_as_sent(server, stripe, db):
    event = unknown_event(stripe)
    deliver(stripe, event, pretty=True)
    assert len(stored(db, event)) == 1


def test_altered_body(server, stripe, db):
    event = unknown_event(stripe)
    payload = event_payload(event)
    header = stripe.sign(payload)
    altered = payload.replace(b"someone@example.com", b"someone@example.org")
    assert altered != payload
    assert_error(post_raw(stripe, altered, header), 400, "invalid_signature")
    # Whitespace counts too.
    assert_error(post_raw(stripe, payload + b"\n", header), 400,
                 "invalid_signature")
    assert stored(db, event) == []


def test_wrong_secret(server, stripe, db):
    event = unknown_event(stripe)
    resp = stripe.send_event(event, secret="whsec_somebody_elses_secret")
    assert_error(resp, 400, "invalid_signature")
    assert stored(db, event) == []


def test_secret_of_a_different_length(server, stripe, db):
    event = unknown_event(stripe)
    resp = stripe.send_event(event, secret="whsec_test_jklg_")
    assert_error(resp, 400, "invalid_signature")
    assert stored(db, event) == []


def test_two_v1_one_valid(server, stripe, db):
    event = unknown_event(stripe)
    payload = event_payload(event)
    header = sign(payload, ["whsec_wrong_one", stripe.webhook_secret])
    assert header.count("v1=") == 2
    assert assert_json(post_raw(stripe, payload, header), 200) == \
        {"received": True}
    header = sign(payload, [stripe.webhook_secret, "whsec_wrong_one"])
    assert assert_json(post_raw(stripe, payload, header), 200) == \
        {"received": True}
    assert len(stored(db, event)) == 1


def test_only_v0(server, stripe, db):
    event = unknown_event(stripe)
    payload = event_payload(event)
    good = stripe.sign(payload)                  # t=...,v1=<valid>
    only_v0 = good.replace("v1=", "v0=")
    assert_error(post_raw(stripe, payload, only_v0), 400, "invalid_signature")
    assert stored(db, event) == []


def test_v0_next_to_a_valid_v1_is_ignored(server, stripe, db):
    event = unknown_event(stripe)
    payload = event_payload(event)
    good = stripe.sign(payload)
    header = good + ",v0=" + "0" * 64
    assert_json(post_raw(stripe, payload, header), 200)
    assert len(stored(db, event)) == 1


def test_stale_signature(server, stripe, db):
    event = unknown_event(stripe)
    resp = stripe.send_event(event, timestamp=int(time.time()) - 301)
    assert_error(resp, 400, "invalid_signature")
    assert stored(db, event) == []


def test_future_signature(server, stripe, db):
    event = unknown_event(stripe)
    # now + 301 s, plus one second for the request's own way to the server.
    resp = stripe.send_event(event, timestamp=int(time.time()) + 302)
    assert_error(resp, 400, "invalid_signature")
    assert stored(db, event) == []


def test_within_tolerance(server, stripe, db):
    event = unknown_event(stripe)
    deliver(stripe, event, timestamp=int(time.time()) - 299)
    event2 = unknown_event(stripe)
    deliver(stripe, event2, timestamp=int(time.time()) + 290)
    assert len(stored(db, event)) == 1 and len(stored(db, event2)) == 1


@pytest.mark.parametrize("header", [
    "", "t=abc,v1=..", "garbage", "t=,v1=", "v1=" + "0" * 64,
    "t=123", "t=1,t=2,v1=" + "0" * 64, "t=1 ,v1=" + "0" * 64])
def test_malformed_header(server, stripe, db, header):
    event = unknown_event(stripe)
    assert_error(stripe.send_event(event, header=header), 400,
                 "invalid_signature")
    assert stored(db, event) == []


def test_valid_mac_with_bad_hex_case_or_length(server, stripe, db):
    event = unknown_event(stripe)
    payload = event_payload(event)
    good = stripe.sign(payload)
    t, v1 = good.split(",")
    assert_error(post_raw(stripe, payload, f"{t},{v1[:-2]}"), 400,
                 "invalid_signature")
    assert_error(post_raw(stripe, payload, f"{t},{v1}00"), 400,
                 "invalid_signature")
    assert stored(db, event) == []


def test_missing_header(server, stripe, db):
    event = unknown_event(stripe)
    assert_error(post_raw(stripe, event_payload(event)), 400,
                 "invalid_signature")
    assert stored(db, event) == []


def test_rotated_secrets_both_match(server, stripe, db):
    # The stand-in signs with its own secret: the second configured one.
    event = unknown_event(stripe)
    deliver(stripe, event)
    # The first configured secret is still accepted during the rotation.
    event2 = unknown_event(stripe)
    deliver(stripe, event2, secret=OLD_SECRET)
    assert len(stored(db, event)) == 1 and len(stored(db, event2)) == 1


def test_signed_body_that_is_not_an_event(server, stripe, db):
    for payload in (b"[1, 2]", b"not json", b'{"id": "evt_x"}',
                    b'{"type": "payment_intent.succeeded"}'):
        resp = post_raw(stripe, payload, stripe.sign(payload))
        assert_error(resp, 400, "invalid_json")
    assert stored(db, {"id": "evt_x"}) == []


def test_webhook_needs_no_customer_token_but_a_signature(server, stripe):
    # A customer's token is no substitute for the signature.
    event = unknown_event(stripe)
    resp = post_raw(stripe, event_payload(event),
                    headers={"Authorization": "Bearer abc.def.ghi"})
    assert_error(resp, 400, "invalid_signature")


def test_get_is_not_allowed(server, stripe):
    resp = requests.get(stripe.webhook_url, timeout=30)
    assert_error(resp, 405, "method_not_allowed")
    assert "POST" in resp.headers.get("Allow", "")


# ------------------------------------------------------------ exactly once

def test_same_event_five_times_concurrently(server, mail, stripe, db):
    account, client, staff, booking = customer_with_booking(
        server, mail, amount_total=45000)
    tx, _ = open_intent(client, booking["id"])
    event = stripe.confirm(tx["gateway_ref"])
    resps = concurrently(lambda _: stripe.send_event(event), range(5))
    for resp in resps:
        assert assert_json(resp, 200) == {"received": True}
    assert stored(db, event) == [("payment_intent.succeeded", tx["id"])]
    assert event_audits(db, event["id"]) == 1
    log = staff.transaction(tx["id"])["audit_log"]
    assert len([e for e in log if e["event_id"] == event["id"]]) == 1
    assert booking_row(db, booking["id"]) == (45000, 0, "paid")
    exactly_one_mail(mail, account.email, receipt_subject(booking["reference"]))
    # And again, one by one, later.
    for _ in range(3):
        deliver(stripe, event)
    assert event_audits(db, event["id"]) == 1
    assert booking_row(db, booking["id"]) == (45000, 0, "paid")
    assert len(mails_with(mail, account.email,
                          receipt_subject(booking["reference"]))) == 1


def test_stored_event_keeps_no_client_secret(server, mail, stripe, db):
    account, client, staff, booking, tx, event = paid_intent(
        server, mail, stripe, amount_total=3000)
    assert event["data"]["object"]["client_secret"]      # Stripe sends it
    with db.cursor() as cur:
        cur.execute("SELECT payload FROM payment_events WHERE id = %s",
                    (event["id"],))
        [(payload,)] = cur.fetchall()
    assert "client_secret" not in payload["data"]["object"]
    assert payload["data"]["object"]["id"] == tx["gateway_ref"]


def test_event_found_through_metadata(server, mail, stripe, db):
    """The succeeded event may arrive before the module stored the pi_ id:
    metadata[transaction_id] finds the transaction."""
    account, client, staff, booking = customer_with_booking(
        server, mail, amount_total=10000)
    tx, _ = open_intent(client, booking["id"])
    with db.cursor() as cur:
        cur.execute("UPDATE transactions SET gateway_ref = NULL WHERE id = %s",
                    (tx["id"],))
    confirm_and_deliver(stripe, tx["gateway_ref"])
    now = my_transaction(client, tx["id"])
    assert now["status"] == "succeeded"
    assert now["gateway_ref"] == tx["gateway_ref"]


# ------------------------------------------------------------ out of order

def test_processing_after_succeeded(server, mail, stripe, db):
    account, client, staff, booking = customer_with_booking(server, mail)
    tx, _ = open_intent(client, booking["id"])
    processing = stripe.process(tx["gateway_ref"])
    succeeded = stripe.confirm(tx["gateway_ref"])
    deliver(stripe, succeeded)
    audits = tx_audit_count(db, tx["id"])
    deliver(stripe, processing)
    assert my_transaction(client, tx["id"])["status"] == "succeeded"
    assert tx_audit_count(db, tx["id"]) == audits
    # Recorded all the same.
    assert len(stored(db, processing)) == 1


def test_processing_then_succeeded(server, mail, stripe, db):
    account, client, staff, booking = customer_with_booking(server, mail)
    tx, _ = open_intent(client, booking["id"])
    deliver(stripe, stripe.process(tx["gateway_ref"]))
    assert my_transaction(client, tx["id"])["status"] == "processing"
    deliver(stripe, stripe.confirm(tx["gateway_ref"]))
    assert my_transaction(client, tx["id"])["status"] == "succeeded"


def test_failed_then_succeeded(server, mail, stripe, db):
    account, client, staff, booking = customer_with_booking(
        server, mail, amount_total=20000)
    tx, _ = open_intent(client, booking["id"])
    deliver(stripe, stripe.fail_payment(tx["gateway_ref"]))
    assert my_transaction(client, tx["id"])["status"] == "failed"
    deliver(stripe, stripe.confirm(tx["gateway_ref"]))
    assert my_transaction(client, tx["id"])["status"] == "succeeded"
    assert booking_row(db, booking["id"]) == (20000, 0, "paid")


def test_failed_after_succeeded(server, mail, stripe, db):
    account, client, staff, booking = customer_with_booking(server, mail)
    tx, _ = open_intent(client, booking["id"])
    failed = stripe.fail_payment(tx["gateway_ref"])
    succeeded = stripe.confirm(tx["gateway_ref"])
    deliver(stripe, succeeded)
    deliver(stripe, failed)
    now = my_transaction(client, tx["id"])
    assert now["status"] == "succeeded" and now["failure_reason"] is None


def test_refunded_before_succeeded(server, mail, stripe, db):
    account, client, staff, booking = customer_with_booking(
        server, mail, amount_total=30000)
    tx, _ = open_intent(client, booking["id"])
    succeeded = stripe.confirm(tx["gateway_ref"])
    # A refund made in the Stripe dashboard, its event first.
    refund = stripe_post(stripe, "/v1/refunds", {
        "payment_intent": tx["gateway_ref"], "amount": "10000"})
    refunded = stripe.refund_event(refund["id"])
    deliver(stripe, refunded)
    now = my_transaction(client, tx["id"])
    assert now["status"] == "partially_refunded", now
    assert now["amount_refunded"] == 10000
    deliver(stripe, succeeded)
    now = my_transaction(client, tx["id"])
    assert now["status"] == "partially_refunded", now
    assert now["amount_refunded"] == 10000
    assert booking_row(db, booking["id"]) == (30000, 10000,
                                              "partially_refunded")
    exactly_one_mail(mail, account.email, receipt_subject(booking["reference"]))


def test_full_refund_before_succeeded(server, mail, stripe, db):
    account, client, staff, booking = customer_with_booking(
        server, mail, amount_total=30000)
    tx, _ = open_intent(client, booking["id"])
    succeeded = stripe.confirm(tx["gateway_ref"])
    refund = stripe_post(stripe, "/v1/refunds",
                         {"payment_intent": tx["gateway_ref"]})
    deliver(stripe, stripe.refund_event(refund["id"]))
    deliver(stripe, succeeded)
    now = my_transaction(client, tx["id"])
    assert now["status"] == "refunded" and now["amount_refunded"] == 30000
    assert booking_row(db, booking["id"]) == (30000, 30000, "refunded")


def test_older_charge_refunded_does_not_lower_the_amount(server, mail,
                                                         stripe, db):
    account, client, staff, booking = customer_with_booking(
        server, mail, amount_total=30000)
    tx, _ = open_intent(client, booking["id"])
    confirm_and_deliver(stripe, tx["gateway_ref"])
    first = stripe_post(stripe, "/v1/refunds", {
        "payment_intent": tx["gateway_ref"], "amount": "5000"})
    second = stripe_post(stripe, "/v1/refunds", {
        "payment_intent": tx["gateway_ref"], "amount": "7000"})
    deliver(stripe, stripe.refund_event(second["id"]))   # cumulative 12000
    deliver(stripe, stripe.refund_event(first["id"]))    # cumulative 5000
    now = my_transaction(client, tx["id"])
    assert now["amount_refunded"] == 12000
    assert now["status"] == "partially_refunded"


def test_event_for_an_unknown_intent(server, mail, stripe, db):
    pi = foreign_intent(stripe)
    event = stripe.confirm(pi["id"])
    counts = db.cursor()
    counts.execute("SELECT (SELECT count(*) FROM transactions), "
                   "(SELECT count(*) FROM transaction_audit_logs), "
                   "(SELECT count(*) FROM email_outbox)")
    before = counts.fetchone()
    deliver(stripe, event)
    assert stored(db, event) == [("payment_intent.succeeded", None)]
    counts.execute("SELECT (SELECT count(*) FROM transactions), "
                   "(SELECT count(*) FROM transaction_audit_logs), "
                   "(SELECT count(*) FROM email_outbox)")
    assert counts.fetchone() == before


def test_event_with_someone_elses_metadata(server, mail, stripe, db):
    """An intent we did not create that names one of our transactions in
    its metadata does not take it over once it has its own pi_ id."""
    account, client, staff, booking = customer_with_booking(server, mail)
    tx, _ = open_intent(client, booking["id"])
    pi = stripe_post(stripe, "/v1/payment_intents", {
        "amount": "100", "currency": "eur",
        "automatic_payment_methods[enabled]": "true",
        "metadata[transaction_id]": tx["id"]})
    event = stripe.confirm(pi["id"])
    deliver(stripe, event)
    now = my_transaction(client, tx["id"])
    assert now["status"] == "requires_payment"
    assert now["gateway_ref"] == tx["gateway_ref"]
    assert booking_row(db, booking["id"])[0] == 0


@pytest.mark.parametrize("event_type", ["customer.created",
                                        "invoice.paid",
                                        "charge.refund.updated"])
def test_unknown_event_type(server, stripe, db, event_type):
    event = unknown_event(stripe, event_type)
    deliver(stripe, event)
    assert stored(db, event) == [(event_type, None)]
    deliver(stripe, event)
    assert len(stored(db, event)) == 1


def test_unhandled_event_about_our_intent_changes_nothing(server, mail,
                                                          stripe, db):
    account, client, staff, booking = customer_with_booking(server, mail)
    tx, _ = open_intent(client, booking["id"])
    pi = stripe.get_payment_intent(tx["gateway_ref"])
    pi["status"] = "succeeded"
    event = stripe.event("payment_intent.amount_capturable_updated", pi)
    audits = tx_audit_count(db, tx["id"])
    deliver(stripe, event)
    assert my_transaction(client, tx["id"])["status"] == "requires_payment"
    assert tx_audit_count(db, tx["id"]) == audits
    assert len(stored(db, event)) == 1


# ----------------------------------------------------- failures, cancels

def test_payment_failed_keeps_the_reason(server, mail, stripe, db):
    account, client, staff, booking = customer_with_booking(server, mail)
    tx, _ = open_intent(client, booking["id"])
    message = "Your card has insufficient funds."
    event = stripe.fail_payment(tx["gateway_ref"], message,
                                code="card_declined",
                                decline_code="insufficient_funds")
    assert event["data"]["object"]["last_payment_error"]["message"] == message
    deliver(stripe, event)
    now = my_transaction(client, tx["id"])
    assert now["status"] == "failed"
    assert now["failure_reason"] == message
    entry = staff.transaction(tx["id"])["audit_log"][-1]
    assert entry["event_id"] == event["id"]
    assert entry["actor"] == f"stripe:{event['id']}"
    assert (entry["old_status"], entry["new_status"]) == ("requires_payment",
                                                          "failed")
    assert booking_row(db, booking["id"]) == (0, 0, "unpaid")
    assert mails_with(mail, account.email,
                      receipt_subject(booking["reference"])) == []


def test_canceled(server, mail, stripe, db):
    account, client, staff, booking = customer_with_booking(server, mail)
    tx, _ = open_intent(client, booking["id"])
    event = stripe.cancel(tx["gateway_ref"], "abandoned")
    deliver(stripe, event)
    assert my_transaction(client, tx["id"])["status"] == "canceled"
    entry = staff.transaction(tx["id"])["audit_log"][-1]
    assert entry["event_id"] == event["id"]
    assert entry["new_status"] == "canceled"
    # A new "pay now" makes a new intent.
    again, _ = open_intent(client, booking["id"], 201)
    assert again["id"] != tx["id"]


def test_failed_then_canceled(server, mail, stripe):
    account, client, staff, booking = customer_with_booking(server, mail)
    tx, _ = open_intent(client, booking["id"])
    deliver(stripe, stripe.fail_payment(tx["gateway_ref"]))
    deliver(stripe, stripe.cancel(tx["gateway_ref"]))
    assert my_transaction(client, tx["id"])["status"] == "canceled"


def test_canceled_after_succeeded_changes_nothing(server, mail, stripe):
    account, client, staff, booking = customer_with_booking(server, mail)
    tx, _ = open_intent(client, booking["id"])
    # An event built by hand: Stripe would not cancel a paid intent, but a
    # forged or confused event must not move money state backwards either.
    pi = stripe.get_payment_intent(tx["gateway_ref"])
    canceled = stripe.event("payment_intent.canceled",
                            dict(pi, status="canceled"))
    confirm_and_deliver(stripe, tx["gateway_ref"])
    deliver(stripe, canceled)
    assert my_transaction(client, tx["id"])["status"] == "succeeded"


# ---------------------------------------------------------------- disputes

def test_dispute(server, mail, stripe, db):
    account, client, staff, booking, tx, _ = paid_intent(server, mail, stripe,
                                                         amount_total=25000)
    event = stripe.dispute(tx["gateway_ref"])
    deliver(stripe, event)
    assert tx_row(db, tx["id"])[3] is True
    log = staff.transaction(tx["id"])["audit_log"]
    entries = [e for e in log if e["event_id"] == event["id"]]
    assert len(entries) == 1, log
    assert entries[0]["actor"] == f"stripe:{event['id']}"
    # The status does not change; the flag does.
    assert my_transaction(client, tx["id"])["status"] == "succeeded"
    stripe.reset()
    assert_error(staff.refund(tx["id"], {"amount": 1000}), 409, "conflict")
    assert_error(staff.refund(tx["id"]), 409, "conflict")
    assert stripe.api_requests("POST", "/v1/refunds") == []
    # Delivered again: still one audit entry.
    deliver(stripe, event)
    assert event_audits(db, event["id"]) == 1


# ------------------------------------------------------- database outage

def test_database_down_answers_503_and_stores_nothing(server, pg, mail,
                                                      stripe, db,
                                                      allow_errors):
    allow_errors.extend(DB_ERRORS)
    account, client, staff, booking = customer_with_booking(
        server, mail, amount_total=15000)
    tx, _ = open_intent(client, booking["id"])
    event = stripe.confirm(tx["gateway_ref"])
    db.close()
    pg.stop()
    try:
        resp = stripe.send_event(event)
        assert_error(resp, 503, "unavailable")
        assert "Retry-After" in resp.headers
    finally:
        pg.start()
    conn = psycopg2.connect(pg.url())
    conn.autocommit = True
    try:
        assert event_rows(conn, event["id"]) == []
        assert tx_row(conn, tx["id"])[0] == "requires_payment"
        # Stripe retries: applied now (the server is back, so no request
        # may fail; test_database.py).
        deliver(stripe, event)
        assert event_rows(conn, event["id"]) == [("payment_intent.succeeded",
                                                  tx["id"])]
        assert tx_row(conn, tx["id"])[0] == "succeeded"
        assert booking_row(conn, booking["id"]) == (15000, 0, "paid")
        exactly_one_mail(mail, account.email,
                         receipt_subject(booking["reference"]))
    finally:
        conn.close()
