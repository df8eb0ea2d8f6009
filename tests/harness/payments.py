"""Shared helpers for the payment suites (test_payments_*.py): staff and
customer calls, bookings and intents made through the real endpoints,
webhook delivery through the Stripe stand-in, database probes and mail
checks. Customers are registered, verified and logged in through the real
flow of harness.customers.

Every client acts from a random address (X-Forwarded-For), so per-IP rate
limits counted by other tests never interfere."""

import json
import re
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import requests

from harness.customers import (BOOKING_KEYS, TRANSACTION_KEYS, Client,
                               assert_error, assert_fields, assert_json,
                               parse_ts, random_ip, register_verified,
                               text_part)

PAY = "/api/payments"
ADMIN = "/api/admin"

REFUND_KEYS = {"id", "transaction_id", "amount", "currency", "status",
               "gateway_ref", "reason", "requested_by", "created_at"}
AUDIT_KEYS = {"id", "actor", "event_id", "old_status", "new_status",
              "details", "created_at"}
TX_STATUSES = ("requires_payment", "processing", "succeeded", "failed",
               "canceled", "partially_refunded", "refunded")

# Mail is delivered by a background sweep (JKLGMailSweepInterval 1s): after
# the first copy arrives, wait this long before saying "no second one".
MAIL_GRACE = 3

_NOBODY = object()


def random_uuid():
    return str(uuid.uuid4())


# ------------------------------------------------------------------- staff

class Staff:
    """Calls to /api/admin with the staff user's Basic credentials (or
    others, or none), from its own client address."""

    def __init__(self, server, auth=("staff", "staff-password"), base=None):
        self.server = server
        self.auth = auth
        self.base = (base or server.url) + ADMIN
        self.ip = random_ip()

    def request(self, method, path, body=_NOBODY, headers=None, **kwargs):
        h = {"X-Forwarded-For": self.ip}
        h.update(headers or {})
        if body is not _NOBODY:
            kwargs["json"] = body
        return requests.request(method, self.base + path, headers=h,
                                auth=self.auth, timeout=60, **kwargs)

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post(self, path, body=_NOBODY, **kw):
        return self.request("POST", path, body, **kw)

    # --- bookings

    def create_booking(self, customer=None, amount_total=120000,
                       currency="eur", **changes):
        """201 {booking} for an Account (by id) or a customer id; the
        booking."""
        body = booking_body(customer, amount_total, currency, **changes)
        return assert_booking(assert_json(self.post("/bookings", body),
                                          201)["booking"])

    # --- transactions

    def transaction(self, tx_id):
        """GET /transactions/{id}: {transaction, audit_log, refunds}."""
        body = assert_json(self.get(f"/transactions/{tx_id}"), 200)
        assert set(body) >= {"transaction", "audit_log", "refunds"}, body
        assert_transaction(body["transaction"])
        for entry in body["audit_log"]:
            assert_audit(entry)
        for refund in body["refunds"]:
            assert_refund(refund)
        return body

    def list(self, **params):
        return self.get("/transactions", params=params)

    def list_all(self, **params):
        """Every page of GET /transactions with these filters."""
        items, cursor, pages = [], None, 0
        while True:
            query = dict(params)
            if cursor:
                query["cursor"] = cursor
            body = assert_json(self.list(**query), 200)
            assert set(body) == {"data", "next_cursor"}, body
            items.extend(body["data"])
            cursor = body["next_cursor"]
            pages += 1
            assert pages < 200
            if cursor is None:
                return items

    def refund(self, tx_id, body=None, key=None):
        headers = {"Idempotency-Key": key} if key else None
        return self.post(f"/transactions/{tx_id}/refund",
                         {} if body is None else body, headers=headers)

    def refund_ok(self, tx_id, amount=None, reason=None, key=None):
        body = {}
        if amount is not None:
            body["amount"] = amount
        if reason is not None:
            body["reason"] = reason
        refund = assert_json(self.refund(tx_id, body, key), 202)["refund"]
        return assert_refund(refund)

    def manual(self, booking_id, amount, currency="eur", method="cash",
               note=None):
        body = {"booking_id": booking_id, "amount": amount,
                "currency": currency, "method": method}
        if note is not None:
            body["note"] = note
        return self.post("/payments/manual", body)

    def manual_ok(self, booking_id, amount, currency="eur", method="cash",
                  note=None):
        tx = assert_json(self.manual(booking_id, amount, currency, method,
                                     note), 201)["transaction"]
        return assert_transaction(tx)


def booking_body(customer=None, amount_total=120000, currency="eur",
                 **changes):
    """A valid POST /bookings body; changes override members, a change of
    None removes the member."""
    body = {"description": "Lisbon city break, 7 nights",
            "travel_start": "2027-05-01", "travel_end": "2027-05-08",
            "amount_total": amount_total, "currency": currency}
    if customer is not None:
        body["customer_id"] = getattr(customer, "id", customer)
    for key, value in changes.items():
        if value is None:
            body.pop(key, None)
        else:
            body[key] = value
    return body


# ---------------------------------------------------------------- customers

def new_customer(server, mail, **extra):
    """A verified, logged-in customer (harness.customers.Account)."""
    return register_verified(server, mail, **extra)


def pay_client(account):
    """A client of the customer's token for /api/payments."""
    client = Client(account.client.server, ip=account.client.ip,
                    ua=account.client.ua, token=account.token)
    client.base = account.client.server.url + PAY
    return client


def customer_with_booking(server, mail, amount_total=120000, currency="eur",
                          **changes):
    """(account, payments client, staff, booking)."""
    account = new_customer(server, mail)
    staff = Staff(server)
    booking = staff.create_booking(account, amount_total, currency, **changes)
    return account, pay_client(account), staff, booking


def intent_resp(client, booking_id, **kw):
    return client.post("/intents", {"booking_id": booking_id}, **kw)


def open_intent(client, booking_id, status=201):
    """POST /intents answered `status`: (transaction, client_secret)."""
    body = assert_json(intent_resp(client, booking_id), status)
    assert set(body) == {"transaction", "client_secret"}, body
    assert_transaction(body["transaction"])
    return body["transaction"], body["client_secret"]


def my_booking(account, booking_id):
    resp = account.client.get(f"/me/bookings/{booking_id}")
    return assert_booking(assert_json(resp, 200)["booking"])


def my_transaction(client, tx_id):
    body = assert_json(client.get(f"/transactions/{tx_id}"), 200)
    assert set(body) == {"transaction"}, body
    return assert_transaction(body["transaction"])


# ------------------------------------------------------------------- shapes

def assert_transaction(tx):
    assert set(tx) == TRANSACTION_KEYS, tx
    uuid.UUID(tx["id"])
    uuid.UUID(tx["booking_id"])
    assert tx["gateway"] in ("stripe", "manual"), tx
    assert isinstance(tx["amount"], int) and tx["amount"] > 0, tx
    assert isinstance(tx["amount_refunded"], int), tx
    assert re.fullmatch(r"[a-z]{3}", tx["currency"]), tx
    assert tx["status"] in TX_STATUSES, tx
    assert tx["failure_reason"] is None or isinstance(tx["failure_reason"],
                                                      str), tx
    parse_ts(tx["created_at"])
    parse_ts(tx["updated_at"])
    return tx


def assert_booking(booking):
    assert set(booking) == BOOKING_KEYS, booking
    uuid.UUID(booking["id"])
    for key in ("amount_total", "amount_paid", "amount_refunded"):
        assert isinstance(booking[key], int) and not isinstance(
            booking[key], bool), booking
    parse_ts(booking["created_at"])
    return booking


def assert_refund(refund):
    assert set(refund) == REFUND_KEYS, refund
    uuid.UUID(refund["id"])
    assert refund["status"] in ("pending", "succeeded", "failed",
                                "canceled"), refund
    assert isinstance(refund["amount"], int) and refund["amount"] > 0
    parse_ts(refund["created_at"])
    return refund


def assert_audit(entry):
    assert set(entry) == AUDIT_KEYS, entry
    assert isinstance(entry["actor"], str) and entry["actor"], entry
    assert isinstance(entry["details"], dict), entry
    assert entry["new_status"] in TX_STATUSES, entry
    parse_ts(entry["created_at"])
    return entry


# ------------------------------------------------------------------ stripe

def deliver(stripe, event, **kw):
    """Sends the event signed as Stripe does; asserts 200 {received: true}."""
    resp = stripe.send_event(event, **kw)
    assert assert_json(resp, 200) == {"received": True}
    return resp


def confirm_and_deliver(stripe, pi):
    event = stripe.confirm(pi)
    deliver(stripe, event)
    return event


def paid_intent(server, mail, stripe, amount_total=120000, currency="eur"):
    """A customer whose booking is paid in full by card through the webhook:
    (account, client, staff, booking, transaction, succeeded event)."""
    account, client, staff, booking = customer_with_booking(
        server, mail, amount_total, currency)
    tx, _ = open_intent(client, booking["id"])
    event = confirm_and_deliver(stripe, tx["gateway_ref"])
    tx = my_transaction(client, tx["id"])
    assert tx["status"] == "succeeded", tx
    return account, client, staff, booking, tx, event


def stripe_post(stripe, path, data, key=None):
    """A direct call to the stand-in's API, as another Stripe client would
    make it (the module knows nothing of what it creates)."""
    headers = {"Authorization": f"Bearer {stripe.secret_key}"}
    if key:
        headers["Idempotency-Key"] = key
    resp = requests.post(stripe.url + path, data=data, headers=headers,
                         timeout=30)
    assert resp.status_code == 200, resp.text
    return resp.json()


def foreign_intent(stripe, amount=5000, currency="eur"):
    """A PaymentIntent the module did not create."""
    return stripe_post(stripe, "/v1/payment_intents", {
        "amount": str(amount), "currency": currency,
        "automatic_payment_methods[enabled]": "true"})


def pi_creates(stripe, tx_id=None):
    """POST /v1/payment_intents the stand-in received (for one transaction
    when tx_id is given)."""
    return [r for r in stripe.api_requests("POST", "/v1/payment_intents")
            if tx_id is None
            or r.params.get("metadata", {}).get("transaction_id") == tx_id]


def intents_for(stripe, tx_id):
    """PaymentIntents that exist at the stand-in for one transaction."""
    return [pi for pi in stripe.list_payment_intents()
            if pi["metadata"].get("transaction_id") == tx_id]


def concurrently(fn, args, workers=None):
    args = list(args)
    with ThreadPoolExecutor(workers or len(args)) as pool:
        return list(pool.map(fn, args))


# ------------------------------------------------------------------- db

def one(db, sql, args=()):
    with db.cursor() as cur:
        cur.execute(sql, args)
        return cur.fetchone()


def rows(db, sql, args=()):
    with db.cursor() as cur:
        cur.execute(sql, args)
        return cur.fetchall()


def event_rows(db, event_id):
    """payment_events rows of an event id: [(type, transaction_id|None)]."""
    return [(t, str(tx) if tx else None) for t, tx in rows(
        db, "SELECT type, transaction_id FROM payment_events WHERE id = %s",
        (event_id,))]


def event_audits(db, event_id):
    return one(db, "SELECT count(*) FROM transaction_audit_logs "
               "WHERE event_id = %s", (event_id,))[0]


def tx_row(db, tx_id):
    """(status, failure_reason, amount_refunded, disputed, method, gateway)"""
    return one(db, "SELECT status, failure_reason, amount_refunded, disputed, "
               "method, gateway FROM transactions WHERE id = %s", (tx_id,))


def tx_audit_count(db, tx_id):
    return one(db, "SELECT count(*) FROM transaction_audit_logs "
               "WHERE transaction_id = %s", (tx_id,))[0]


def booking_row(db, booking_id):
    """(amount_paid, amount_refunded, payment_status)"""
    return one(db, "SELECT amount_paid, amount_refunded, payment_status "
               "FROM bookings WHERE id = %s", (booking_id,))


def booking_transactions(db, booking_id):
    return [(str(i), s) for i, s in rows(
        db, "SELECT id, status FROM transactions WHERE booking_id = %s "
        "ORDER BY created_at, id", (booking_id,))]


# ------------------------------------------------------------------- mail

def receipt_subject(reference):
    return f"Payment received for booking {reference}"


def confirmation_subject(reference):
    return f"Booking {reference} is confirmed"


def mails_with(mail, to, subject):
    return [msg for _, _, msg in mail.received(to) if msg["Subject"] == subject]


def wait_mails(mail, to, subject, count=1, timeout=30):
    """The messages for `to` with this subject once `count` arrived."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = mails_with(mail, to, subject)
        if len(got) >= count:
            return got
        time.sleep(0.05)
    got = mails_with(mail, to, subject)
    raise AssertionError(f"{len(got)} of {count} mails '{subject}' for {to}; "
                         f"got {[m['Subject'] for _, _, m in mail.received(to)]}")


def exactly_one_mail(mail, to, subject, grace=MAIL_GRACE):
    """Waits for the message, then makes sure no second copy follows."""
    first = wait_mails(mail, to, subject)
    time.sleep(grace)
    got = mails_with(mail, to, subject)
    assert len(got) == 1, f"{len(got)} mails '{subject}' for {to}"
    return first[0]


def no_mail(mail, to, subject, grace=MAIL_GRACE):
    time.sleep(grace)
    got = mails_with(mail, to, subject)
    assert not got, f"unexpected mail '{subject}' for {to}"


def text_of(msg):
    return text_part(msg)


def pretty(obj):
    return json.dumps(obj, indent=1, sort_keys=True)


__all__ = [name for name in dir() if not name.startswith("_")] + [
    "assert_error", "assert_fields", "assert_json"]
