"""Shared helpers of the travel payment suites (test_travel_*.py):
bookings with a schedule, the test-only clock (table test_clock, read by
jklg.today()), installments and policies."""

import datetime

import pytest

from harness.payments import (ADMIN, Staff, assert_booking, assert_json,
                              booking_body, new_customer, one, pay_client,
                              rows)

INSTALLMENT_KEYS = {"id", "kind", "amount", "due_date", "status", "attempts"}


def iso(d):
    return d.isoformat()


def day(text):
    return datetime.date.fromisoformat(text)


@pytest.fixture
def clock(db):
    """Sets "today" of the module's schedules and cancellations; the real
    date again after the test."""
    def set_today(d):
        if isinstance(d, str):
            d = day(d)
        with db.cursor() as cur:
            cur.execute("INSERT INTO test_clock (today) VALUES (%s) "
                        "ON CONFLICT (only_row) DO UPDATE "
                        "SET today = EXCLUDED.today", (d,))
        return d
    yield set_today
    with db.cursor() as cur:
        cur.execute("DELETE FROM test_clock")


def assert_schedule(booking):
    """The booking's schedule, each installment checked for shape."""
    assert_booking(booking)
    for item in booking["schedule"]:
        assert set(item) == INSTALLMENT_KEYS, item
        assert item["kind"] in ("deposit", "balance", "full"), item
        assert item["status"] in ("pending", "paid", "failed", "canceled")
        assert isinstance(item["attempts"], int) and item["attempts"] >= 0
        day(item["due_date"])
    return booking["schedule"]


def create_booking_resp(staff, customer, **changes):
    return staff.post("/bookings", booking_body(customer, **changes))


def scheduled_booking(server, mail, amount_total=120000, schedule=None,
                      **changes):
    """(account, payments client, staff, booking) with a schedule."""
    account = new_customer(server, mail)
    staff = Staff(server)
    if schedule is not None:
        changes["schedule"] = schedule
    booking = assert_json(create_booking_resp(
        staff, account, amount_total=amount_total, **changes), 201)["booking"]
    assert_schedule(booking)
    return account, pay_client(account), staff, booking


def installment_rows(db, booking_id):
    """[(kind, amount, due_date, status, attempts, transaction_id)] in
    order."""
    return [(k, a, d, s, n, str(t) if t else None) for k, a, d, s, n, t in rows(
        db, "SELECT kind, amount, due_date, status, attempts, transaction_id "
        "FROM installments WHERE booking_id = %s ORDER BY due_date, "
        "kind = 'balance', created_at", (booking_id,))]


def pay_installment(client, stripe, booking_id, installment_id=None,
                    status=201):
    """Opens the intent, confirms it at the stand-in and delivers the
    succeeded event: the transaction."""
    from harness.payments import confirm_and_deliver, assert_transaction
    body = {"booking_id": booking_id}
    if installment_id:
        body["installment_id"] = installment_id
    resp = assert_json(client.post("/intents", body), status)
    tx = assert_transaction(resp["transaction"])
    confirm_and_deliver(stripe, tx["gateway_ref"])
    return tx


def booking_count(db, customer_id):
    return one(db, "SELECT count(*) FROM bookings WHERE customer_id = %s",
               (customer_id,))[0]


__all__ = [n for n in dir() if not n.startswith("_")] + ["ADMIN"]
