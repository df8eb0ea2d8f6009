"""Saved cards and the off-session balance (issue 10; docs/payments.md,
"Saved cards and the balance job"): save_payment_method makes one gateway
Customer and keeps the card; customers list and delete their cards; the
balance job, run by every server's sweep, charges the balance on its due
date off-session (idempotency key installment + attempt), once across
servers; soft declines retried the next day, authentication_required and
hard declines fail the installment and email the pay link; a timeout is
retried under the same key; reminders 7 days before."""

import time
import uuid

import pytest

from harness.server import directives, own_server, serving, templates_dir
from harness.payments import (assert_error, assert_json, confirm_and_deliver,
                              exactly_one_mail, my_booking, new_customer,
                              one, pay_client, receipt_subject, rows,
                              text_of, wait_mails, Staff)
from harness.travel import (clock, installment_rows,  # noqa: F401
                            scheduled_booking)

CARD_KEYS = {"id", "brand", "last4", "exp_month", "exp_year", "created_at"}
SOLD = "2027-01-10"
BALANCE_DUE = "2027-03-20"          # 2027-05-01 - 42 days
# The job logs every attempt that did not succeed (warning level).
DECLINE_LOGS = [r"JKLG02111"]


@pytest.fixture(autouse=True)
def forget_saved_cards(db):
    """The clock is shared by every booking of the suite: after each test
    its saved cards are forgotten, so that the balances it left unpaid are
    not charged when the next test moves the clock."""
    yield
    with db.cursor() as cur:
        cur.execute("UPDATE payment_methods SET detached_at = now() "
                    "WHERE detached_at IS NULL")


def pay_deposit_saving_card(server, mail, stripe, clock, total=120000):
    """A booking sold on SOLD with a 25 % deposit paid by card, the card
    kept: (account, client, booking, deposit transaction)."""
    clock(SOLD)
    account, client, _, booking = scheduled_booking(
        server, mail, total, {"deposit_percent": 25},
        travel_start="2027-05-01", travel_end="2027-05-08")
    body = assert_json(client.post("/intents", {
        "booking_id": booking["id"], "save_payment_method": True}), 201)
    tx = body["transaction"]
    confirm_and_deliver(stripe, tx["gateway_ref"])
    return account, client, booking, tx


def cards(account):
    body = assert_json(account.client.get("/me/payment-methods"), 200)
    assert set(body) == {"data", "next_cursor"}
    for card in body["data"]:
        assert set(card) == CARD_KEYS, card
    return body["data"]


def off_session_creates(stripe, tx_id=None):
    return [r for r in stripe.api_requests("POST", "/v1/payment_intents")
            if r.params.get("off_session") == "true"
            and (tx_id is None
                 or r.params.get("metadata", {}).get("transaction_id")
                 == tx_id)]


def balance_state(db, booking_id):
    return installment_rows(db, booking_id)[1]


def wait_for(fn, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = fn()
        if got:
            return got
        time.sleep(0.2)
    raise AssertionError("condition not reached")


def balance_paid(db, booking_id):
    return balance_state(db, booking_id)[3] == "paid"


# ------------------------------------------------------------- saved cards

def test_save_card_makes_one_customer_and_keeps_the_card(server, mail,
                                                         stripe, db, clock):
    account, client, booking, tx = pay_deposit_saving_card(server, mail,
                                                           stripe, clock)
    [create] = [r for r in stripe.api_requests("POST", "/v1/payment_intents")
                if r.params.get("metadata", {}).get("transaction_id")
                == tx["id"]]
    assert create.params["setup_future_usage"] == "off_session"
    customers = stripe.api_requests("POST", "/v1/customers")
    assert len(customers) == 1
    assert customers[0].idempotency_key == f"jklg-cus-{account.id}"
    assert create.params["customer"].startswith("cus_")
    [card] = cards(account)
    assert (card["brand"], card["last4"], card["exp_month"],
            card["exp_year"]) == ("visa", "4242", 12, 2034)
    pm = one(db, "SELECT gateway_ref FROM payment_methods WHERE id = %s",
             (card["id"],))[0]
    assert stripe.get_payment_method(pm)["customer"] == create.params[
        "customer"]
    # A second booking saved the same way reuses the Customer.
    staff = Staff(server)
    other = staff.create_booking(account, 50000)
    body = assert_json(client.post("/intents", {
        "booking_id": other["id"], "save_payment_method": True}), 201)
    assert len(stripe.api_requests("POST", "/v1/customers")) == 1
    last = [r for r in stripe.api_requests("POST", "/v1/payment_intents")
            if r.params.get("metadata", {}).get("transaction_id")
            == body["transaction"]["id"]][0]
    assert last.params["customer"] == create.params["customer"]


def test_without_save_no_customer_and_no_card(server, mail, stripe, clock):
    clock(SOLD)
    account, client, _, booking = scheduled_booking(server, mail, 50000)
    tx = assert_json(client.post("/intents", {"booking_id": booking["id"]}),
                     201)["transaction"]
    confirm_and_deliver(stripe, tx["gateway_ref"])
    [create] = [r for r in stripe.api_requests("POST", "/v1/payment_intents")
                if r.params.get("metadata", {}).get("transaction_id")
                == tx["id"]]
    assert "customer" not in create.params
    assert "setup_future_usage" not in create.params
    assert stripe.api_requests("POST", "/v1/customers") == []
    assert cards(account) == []


def test_delete_card_detaches_it(server, mail, stripe, db, clock):
    account, _, _, _ = pay_deposit_saving_card(server, mail, stripe, clock)
    [card] = cards(account)
    pm = one(db, "SELECT gateway_ref FROM payment_methods WHERE id = %s",
             (card["id"],))[0]
    other = new_customer(server, mail)
    assert_error(other.client.delete(f"/me/payment-methods/{card['id']}"),
                 404, "not_found")
    resp = account.client.delete(f"/me/payment-methods/{card['id']}")
    assert resp.status_code == 204, resp.text
    assert stripe.get_payment_method(pm)["customer"] is None
    assert cards(account) == []
    assert_error(account.client.delete(f"/me/payment-methods/{card['id']}"),
                 404, "not_found")
    assert_error(account.client.delete(f"/me/payment-methods/{uuid.uuid4()}"),
                 404, "not_found")


# ------------------------------------------------------------- balance job

def test_balance_charged_off_session_on_its_due_date(server, mail, stripe,
                                                     db, clock):
    account, _, booking, _ = pay_deposit_saving_card(server, mail, stripe,
                                                     clock)
    clock("2027-03-19")                   # the day before: nothing
    time.sleep(2.5)
    assert off_session_creates(stripe) == [] or all(
        r.params["amount"] != "90000" or r.params["metadata"].get(
            "booking_reference") != booking["reference"]
        for r in off_session_creates(stripe))
    assert balance_state(db, booking["id"])[3] == "pending"
    clock(BALANCE_DUE)
    wait_for(lambda: balance_paid(db, booking["id"]))
    kind, amount, _, status, attempts, tx_id = balance_state(db,
                                                             booking["id"])
    assert (kind, amount, status, attempts) == ("balance", 90000, "paid", 1)
    [charge] = off_session_creates(stripe, tx_id)
    inst = one(db, "SELECT id FROM installments WHERE booking_id = %s AND "
               "kind = 'balance'", (booking["id"],))[0]
    assert charge.idempotency_key == f"jklg-off-{inst}-1"
    assert (charge.params["confirm"], charge.params["amount"],
            charge.params["currency"]) == ("true", "90000", "eur")
    assert charge.params["payment_method"].startswith("pm_")
    assert charge.params["customer"].startswith("cus_")
    got = my_booking(account, booking["id"])
    assert (got["payment_status"], got["status"], got["amount_paid"]) == (
        "paid", "confirmed", 120000)
    audit = rows(db, "SELECT actor, new_status, details FROM "
                 "transaction_audit_logs WHERE transaction_id = %s "
                 "ORDER BY id", (tx_id,))
    assert audit[0][2]["off_session_attempt"] == 1
    assert audit[-1][1] == "succeeded"
    wait_mails(mail, account.email,
               f"Booking {booking['reference']} is confirmed")
    # The balance's transaction was opened as an off-session one; its
    # receipt names the gateway's own payment method (jklg_gateway_t
    # .method), as the deposit's does.
    receipts = wait_mails(mail, account.email,
                          receipt_subject(booking["reference"]), count=2)
    assert len(receipts) == 2
    for msg in receipts:
        assert "Payment method:    card" in text_of(msg), text_of(msg)


def test_reminder_seven_days_before(server, mail, stripe, db, clock):
    account, _, booking, _ = pay_deposit_saving_card(server, mail, stripe,
                                                     clock)
    clock("2027-03-13")
    # The due date as the customer's language writes it (en here).
    subject = (f"Payment of 900.00 EUR due on 20 March 2027 for booking "
               f"{booking['reference']}")
    msg = exactly_one_mail(mail, account.email, subject)
    assert f"/booking/{booking['id']}/pay" in text_of(msg)
    assert balance_state(db, booking["id"])[3] == "pending"


def test_authentication_required_fails_and_emails_the_link(
        server, mail, stripe, db, clock, allow_errors):
    allow_errors.extend(DECLINE_LOGS)
    account, _, booking, _ = pay_deposit_saving_card(server, mail, stripe,
                                                     clock)
    stripe.fail_next_off_session("authentication_required")
    clock(BALANCE_DUE)
    subject = f"Action needed: payment for booking {booking['reference']}"
    msg = exactly_one_mail(mail, account.email, subject)
    assert f"/booking/{booking['id']}/pay" in text_of(msg)
    _, _, _, status, attempts, _ = balance_state(db, booking["id"])
    assert (status, attempts) == ("failed", 1)
    # Failed: not charged again, the next day either.
    clock("2027-03-21")
    time.sleep(2.5)
    assert balance_state(db, booking["id"])[4] == 1
    # The customer pays it through the link: the declined off-session
    # intent is the one to confirm on-session (3-D Secure), as Stripe
    # recommends, so the same transaction comes back (200).
    client = pay_client(account)
    body = assert_json(client.post("/intents", {"booking_id": booking["id"]}),
                       200)
    assert body["transaction"]["amount"] == 90000
    assert body["transaction"]["id"] == balance_state(db, booking["id"])[5] \
        or body["transaction"]["failure_reason"].endswith(
            "authentication_required")
    confirm_and_deliver(stripe, body["transaction"]["gateway_ref"])
    assert my_booking(account, booking["id"])["payment_status"] == "paid"


def test_soft_decline_retried_the_next_day(server, mail, stripe, db, clock,
                                           allow_errors):
    allow_errors.extend(DECLINE_LOGS)
    account, _, booking, _ = pay_deposit_saving_card(server, mail, stripe,
                                                     clock)
    stripe.fail_next_off_session("card_declined", "insufficient_funds")
    clock(BALANCE_DUE)
    wait_for(lambda: balance_state(db, booking["id"])[4] == 1
             and one(db, "SELECT next_attempt_on FROM installments WHERE "
                     "booking_id = %s AND kind = 'balance'",
                     (booking["id"],))[0] is not None)
    time.sleep(2.5)                       # not again today
    _, _, _, status, attempts, _ = balance_state(db, booking["id"])
    assert (status, attempts) == ("pending", 1)
    clock("2027-03-21")
    wait_for(lambda: balance_paid(db, booking["id"]))
    inst = one(db, "SELECT id, attempts FROM installments WHERE "
               "booking_id = %s AND kind = 'balance'", (booking["id"],))
    assert inst[1] == 2
    keys = sorted(r.idempotency_key for r in off_session_creates(stripe)
                  if r.idempotency_key.startswith(f"jklg-off-{inst[0]}-"))
    assert keys == [f"jklg-off-{inst[0]}-1", f"jklg-off-{inst[0]}-2"]
    assert mail.received(account.email) and not [
        m for _, _, m in mail.received(account.email)
        if m["Subject"].startswith("Action needed")]


def test_timeout_retried_with_the_same_key_one_charge(server, mail, stripe,
                                                      db, clock,
                                                      allow_errors):
    allow_errors.extend(DECLINE_LOGS)
    account, _, booking, _ = pay_deposit_saving_card(server, mail, stripe,
                                                     clock)
    stripe.delay_next(4.5)                # over JKLGStripeTimeout 3s
    clock(BALANCE_DUE)
    wait_for(lambda: balance_paid(db, booking["id"]), timeout=40)
    inst = one(db, "SELECT id, attempts FROM installments WHERE "
               "booking_id = %s AND kind = 'balance'", (booking["id"],))
    assert inst[1] == 1
    sent = [r for r in off_session_creates(stripe)
            if r.idempotency_key == f"jklg-off-{inst[0]}-1"]
    assert len(sent) >= 2                 # retried ...
    made = [pi for pi in stripe.list_payment_intents()
            if pi.get("customer") and pi["amount"] == 90000
            and pi["metadata"].get("booking_reference")
            == booking["reference"]]
    assert len(made) == 1                 # ... one charge
    assert one(db, "SELECT count(*) FROM transactions WHERE booking_id = %s "
               "AND method = 'off_session'", (booking["id"],))[0] == 1


@pytest.fixture(scope="module")
def two_more(pg, smtp, stripe_api, workdir):
    """Two more servers on the suite's database: with the suite's own,
    three sweeps run the balance job at once."""
    servers = []
    for name in ("x", "y"):
        base = workdir / f"travel-{name}"
        conf = directives(smtp, stripe_api, templates_dir(base))
        servers.append(own_server(base, pg.dbd_params(), conf))
    with serving(*servers):
        yield servers


def test_balance_charged_once_across_three_servers(server, two_more, mail,
                                                   stripe, db, clock):
    bookings = []
    for _ in range(4):
        bookings.append(pay_deposit_saving_card(server, mail, stripe,
                                                clock)[2])
    clock(BALANCE_DUE)
    for booking in bookings:
        wait_for(lambda: balance_paid(db, booking["id"]), timeout=40)
    time.sleep(3)                         # every sweep had its chance
    for booking in bookings:
        inst = one(db, "SELECT id, attempts FROM installments WHERE "
                   "booking_id = %s AND kind = 'balance'", (booking["id"],))
        assert inst[1] == 1
        sent = [r for r in off_session_creates(stripe)
                if r.idempotency_key.startswith(f"jklg-off-{inst[0]}-")]
        assert len(sent) == 1, [r.idempotency_key for r in sent]
        assert one(db, "SELECT count(*) FROM transactions WHERE "
                   "installment_id = %s", (inst[0],))[0] == 1
