"""The whole way of one payment, as the agency lives it: a customer signs up
through the real verification email, staff books their trip, the customer
pays by card (the Stripe stand-in confirms and sends the signed webhook),
the booking is paid and confirmed by email, staff refunds part of it, and
Stripe's charge.refunded confirms the refund. In euros, in a zero-decimal
currency (JPY) and in a three-decimal one (KWD)."""

import re

import pytest

from harness.customers import html_part
from harness.payments import (Staff, assert_json, booking_row,
                              confirmation_subject, deliver, exactly_one_mail,
                              intents_for, my_booking, my_transaction,
                              new_customer, open_intent, pay_client,
                              pi_creates, receipt_subject, text_of,
                              wait_mails)

JOURNEYS = [
    # currency, total, how emails show it, refund, zero in that currency
    ("eur", 123450, "1,234.50 EUR", 23450, "0.00 EUR"),
    ("jpy", 12000, "12,000 JPY", 2000, "0 JPY"),
    ("kwd", 1250, "1.250 KWD", 250, "0.000 KWD"),
]


@pytest.mark.parametrize("currency,total,shown,refund_amount,zero", JOURNEYS,
                         ids=[j[0] for j in JOURNEYS])
def test_journey(server, mail, stripe, db, currency, total, shown,
                 refund_amount, zero):
    # A customer signs up (register, verification email, verify, log in).
    account = new_customer(server, mail)
    client = pay_client(account)

    # Staff books the trip by the customer's email address.
    staff = Staff(server)
    resp = staff.post("/bookings", {
        "customer_email": account.email,
        "description": "Kyoto and Osaka, 10 nights",
        "travel_start": "2027-10-01", "travel_end": "2027-10-11",
        "amount_total": total, "currency": currency})
    booking = assert_json(resp, 201)["booking"]
    reference = booking["reference"]
    assert reference.startswith("JK-")
    assert (booking["amount_total"], booking["currency"],
            booking["payment_status"]) == (total, currency, "unpaid")
    seen = my_booking(account, booking["id"])
    assert seen["id"] == booking["id"]

    # The customer pays: an intent for the whole amount.
    tx, secret = open_intent(client, booking["id"], 201)
    assert (tx["amount"], tx["currency"], tx["status"]) == (
        total, currency, "requires_payment")
    [call] = pi_creates(stripe, tx["id"])
    assert call.params["amount"] == str(total)
    assert call.params["currency"] == currency
    [pi] = intents_for(stripe, tx["id"])
    assert pi["id"] == tx["gateway_ref"] and pi["client_secret"] == secret

    # Stripe.js confirms the card; Stripe sends the signed webhook.
    succeeded = stripe.confirm(tx["gateway_ref"])
    deliver(stripe, succeeded)
    tx = my_transaction(client, tx["id"])
    assert tx["status"] == "succeeded"
    seen = my_booking(account, booking["id"])
    assert (seen["amount_paid"], seen["payment_status"]) == (total, "paid")

    # Receipt and confirmation, once each, amounts formatted for the
    # currency.
    receipt = exactly_one_mail(mail, account.email, receipt_subject(reference))
    text = text_of(receipt)
    assert re.search(r"Amount paid:\s+" + re.escape(shown), text), text
    assert re.search(r"Paid so far:\s+" + re.escape(shown), text), text
    assert re.search(r"Still to pay:\s+" + re.escape(zero), text), text
    assert reference in text and tx["id"] in text
    assert "Payment method:    card" in text
    assert shown in html_part(receipt)
    confirmation = exactly_one_mail(mail, account.email,
                                    confirmation_subject(reference), grace=0)
    text = text_of(confirmation)
    assert re.search(r"Total:\s+" + re.escape(shown), text), text
    assert "Kyoto and Osaka, 10 nights" in text
    assert f"/bookings/{booking['id']}" in text
    assert shown in html_part(confirmation)
    for _, rcpts, msg in mail.received(account.email):
        assert rcpts == [account.email]

    # Staff refunds part of it.
    stripe.reset()
    resp = staff.refund(tx["id"], {"amount": refund_amount,
                                   "reason": "requested_by_customer"})
    refund = assert_json(resp, 202)["refund"]
    assert (refund["amount"], refund["currency"], refund["status"],
            refund["requested_by"]) == (refund_amount, currency, "succeeded",
                                        "staff")
    [call] = stripe.api_requests("POST", "/v1/refunds")
    assert call.params["payment_intent"] == tx["gateway_ref"]
    assert call.params["amount"] == str(refund_amount)
    assert call.idempotency_key == f"jklg-re-{refund['id']}"

    # Stripe's charge.refunded arrives (twice, as redeliveries do).
    refunded = stripe.refund_event(refund["gateway_ref"])
    assert refunded["type"] == "charge.refunded"
    deliver(stripe, refunded)
    deliver(stripe, refunded)
    tx = my_transaction(client, tx["id"])
    assert (tx["status"], tx["amount_refunded"]) == ("partially_refunded",
                                                     refund_amount)
    seen = my_booking(account, booking["id"])
    assert (seen["amount_paid"], seen["amount_refunded"],
            seen["payment_status"]) == (total, refund_amount,
                                        "partially_refunded")
    assert booking_row(db, booking["id"]) == (total, refund_amount,
                                              "partially_refunded")

    # The customer's list shows it.
    listed = assert_json(client.get("/transactions"), 200)
    assert [t["id"] for t in listed["data"]] == [tx["id"]]
    assert listed["data"][0]["status"] == "partially_refunded"

    # The audit log tells the whole story, oldest first.
    detail = staff.transaction(tx["id"])
    assert [r["id"] for r in detail["refunds"]] == [refund["id"]]
    log = detail["audit_log"]
    steps = [(e["actor"], e["old_status"], e["new_status"]) for e in log]
    assert steps[0] == (f"customer:{account.id}", None, "requires_payment")
    assert steps[1] == (f"stripe:{succeeded['id']}", "requires_payment",
                        "succeeded")
    assert log[1]["event_id"] == succeeded["id"]
    requested = [i for i, e in enumerate(log)
                 if e["actor"] == "staff:staff"
                 and e["new_status"] == "succeeded"]
    partially = [i for i, e in enumerate(log)
                 if e["new_status"] == "partially_refunded"]
    assert len(requested) == 1 and len(partially) == 1, steps
    assert 1 < requested[0] < partially[0], steps
    assert log[partially[0]]["old_status"] == "succeeded"
    assert log[partially[0]]["actor"] in ("staff:staff",
                                          f"stripe:{refunded['id']}")
    assert len(log) == 4, steps
    stamps = [e["created_at"] for e in log]
    assert stamps == sorted(stamps)
    ids = [e["id"] for e in log]
    assert ids == sorted(ids)

    # No further mail came of the refund or the redeliveries.
    assert len(wait_mails(mail, account.email, receipt_subject(reference))) == 1
    assert len(wait_mails(mail, account.email,
                          confirmation_subject(reference))) == 1
