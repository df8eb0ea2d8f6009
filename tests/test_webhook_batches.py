"""Webhook deliveries that arrive together are applied in batches, one
database transaction each (mod_jklg_webhook.c, sql/028; docs/payments.md,
"Webhook"): every event is still applied exactly once, with its audit row
and its one receipt, each delivery is answered only once its batch
committed, and a batch the database refuses is applied event by event.

Whether deliveries meet in a batch depends on timing, so each test sends
rounds of concurrent deliveries until the metrics show a batch of more than
one event (jklg_webhook_batch_events_total over jklg_webhook_batches_total),
and checks every round's effects."""

import random

from harness.metrics import scrape, value
from harness.payments import (Staff, assert_json, booking_row, concurrently,
                              customer_with_booking, event_audits,
                              event_rows, exactly_one_mail, open_intent,
                              receipt_subject, tx_row)

ROUNDS = 6
FUNCTION = "jklg.apply_events(text, text, jsonb)"


def batch_counters(server):
    text = scrape(server)
    return (value(text, "jklg_webhook_batches_total"),
            value(text, "jklg_webhook_batch_events_total"))


def send_all(stripe, deliveries):
    """Every delivery at once; each must be answered 200."""
    resps = concurrently(stripe.send_event, deliveries)
    for resp in resps:
        assert assert_json(resp, 200) == {"received": True}


def unknown_events(stripe, n):
    return [stripe.event("customer.updated", {
        "id": f"cus_batch{random.getrandbits(48):012x}",
        "object": "customer", "email": "someone@example.com"})
        for _ in range(n)]


def paid_bookings(server, mail, stripe, n, amount=21000):
    """One customer's n bookings, each with an intent confirmed at the
    gateway whose succeeded event is not delivered yet: (account,
    [(booking, transaction, event)])."""
    account, client, staff, first = customer_with_booking(
        server, mail, amount_total=amount)
    bookings = [first] + [Staff(server).create_booking(account, amount, "eur")
                          for _ in range(n - 1)]
    out = []
    for booking in bookings:
        tx, _ = open_intent(client, booking["id"])
        out.append((booking, tx, stripe.confirm(tx["gateway_ref"])))
    return account, out


def until_batched(server, stripe, first_round):
    """Sends first_round (each event twice), then rounds of fresh unknown
    events, until a batch held more than one event. The events sent."""
    sent = []
    before = batch_counters(server)
    deliveries = first_round
    for _ in range(ROUNDS):
        twice = deliveries * 2
        random.shuffle(twice)
        send_all(stripe, twice)
        sent += deliveries
        after = batch_counters(server)
        if after[1] - before[1] > after[0] - before[0]:
            return sent
        deliveries = unknown_events(stripe, 24)
    raise AssertionError(f"no batch of more than one event in {ROUNDS} "
                         f"rounds: {before} -> {batch_counters(server)}")


def assert_each_applied_once(db, mail, account, paid, sent):
    for event in sent:
        rows = event_rows(db, event["id"])
        assert len(rows) == 1, (event["id"], rows)
    for booking, tx, event in paid:
        assert event_rows(db, event["id"]) == [("payment_intent.succeeded",
                                                tx["id"])]
        assert event_audits(db, event["id"]) == 1
        assert tx_row(db, tx["id"])[0] == "succeeded"
        assert booking_row(db, booking["id"]) == (21000, 0, "paid")
        exactly_one_mail(mail, account.email,
                         receipt_subject(booking["reference"]))


def test_deliveries_together_are_applied_once_each_in_batches(
        server, mail, stripe, db):
    account, paid = paid_bookings(server, mail, stripe, 8)
    text = scrape(server)
    duplicates = value(text, "jklg_webhook_events_total",
                       '{type="payment_intent.succeeded",outcome="duplicate"}')
    applied = value(text, "jklg_webhook_events_total",
                    '{type="payment_intent.succeeded",outcome="applied"}')
    first = [event for _, _, event in paid] + unknown_events(stripe, 16)
    sent = until_batched(server, stripe, first)
    assert_each_applied_once(db, mail, account, paid, sent)
    # Each succeeded event was delivered twice: once applied, once a
    # duplicate, whichever batch each delivery landed in.
    text = scrape(server)
    assert value(text, "jklg_webhook_events_total",
                 '{type="payment_intent.succeeded",outcome="applied"}'
                 ) - applied == len(paid)
    assert value(text, "jklg_webhook_events_total",
                 '{type="payment_intent.succeeded",outcome="duplicate"}'
                 ) - duplicates == len(paid)
    assert "batch of" not in server.new_log()


def test_a_refused_batch_is_applied_event_by_event(server, mail, stripe, db,
                                                   pg, allow_errors):
    """With the batch function refused to the module's role, every batch
    fails and its events are applied one by one: nothing is lost or
    applied twice, no delivery is answered an error."""
    allow_errors.append(r"permission denied for function apply_events")
    account, paid = paid_bookings(server, mail, stripe, 6)
    pg.psql(f"REVOKE EXECUTE ON FUNCTION {FUNCTION} FROM jklg")
    try:
        first = [event for _, _, event in paid] + unknown_events(stripe, 16)
        sent = until_batched(server, stripe, first)
    finally:
        pg.psql(f"GRANT EXECUTE ON FUNCTION {FUNCTION} TO jklg")
    assert "applying them one by one" in server.new_log()
    assert_each_applied_once(db, mail, account, paid, sent)
