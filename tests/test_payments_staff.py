"""Staff payment endpoints under /api/admin (docs/payments.md, "Staff
endpoints"): bookings, the transaction list and its filters, one
transaction with its audit log and refunds, refunds through the Stripe
stand-in (idempotency, limits checked before Stripe is called), manual
payments, and the booking following its transactions."""

import time
import re
import uuid

import pytest

from harness.customers import new_email
from harness.payments import (Staff, assert_booking, concurrently, assert_error,
                              assert_fields, assert_json, assert_transaction,
                              booking_body, booking_row, confirm_and_deliver,
                              confirmation_subject, customer_with_booking,
                              deliver, exactly_one_mail, my_booking,
                              my_transaction, new_customer, no_mail,
                              open_intent, paid_intent,
                              random_uuid, receipt_subject, text_of, tx_row,
                              wait_mails)

GATEWAY_ERRORS = [r"JKLG00601: payment gateway"]


# ---------------------------------------------------------------- bookings

def test_create_booking_by_customer_id(server, mail):
    account = new_customer(server, mail)
    staff = Staff(server)
    resp = staff.post("/bookings", booking_body(account, 123450, "eur"))
    booking = assert_booking(assert_json(resp, 201)["booking"])
    assert booking["amount_total"] == 123450
    assert booking["amount_paid"] == 0 and booking["amount_refunded"] == 0
    assert booking["currency"] == "eur"
    assert booking["payment_status"] == "unpaid"
    assert booking["travel_start"] == "2027-05-01"
    assert booking["travel_end"] == "2027-05-08"
    assert booking["description"] == "Lisbon city break, 7 nights"
    assert re.fullmatch(r"JK-[A-Za-z0-9]{8}", booking["reference"]), booking
    # The customer sees it.
    assert my_booking(account, booking["id"]) == booking


def test_create_booking_by_customer_email(server, mail):
    account = new_customer(server, mail)
    staff = Staff(server)
    body = booking_body(None, 5000, "eur",
                        customer_email="  " + account.email.upper() + " ",
                        reference="JK-EMAIL-" + uuid.uuid4().hex[:6])
    booking = assert_booking(assert_json(staff.post("/bookings", body),
                                         201)["booking"])
    assert booking["reference"] == body["reference"]
    assert my_booking(account, booking["id"])["id"] == booking["id"]


def test_default_references_differ(server, mail):
    account = new_customer(server, mail)
    staff = Staff(server)
    refs = {staff.create_booking(account)["reference"] for _ in range(3)}
    assert len(refs) == 3
    assert all(r.startswith("JK-") for r in refs)


@pytest.mark.parametrize("missing", ["customer_id", "description",
                                     "travel_start", "travel_end",
                                     "amount_total", "currency"])
def test_booking_missing_field(server, mail, missing):
    account = new_customer(server, mail)
    body = booking_body(account, **{missing: None})
    field = "customer_id" if missing == "customer_id" else missing
    resp = Staff(server).post("/bookings", body)
    err = assert_error(resp, 422, "validation_failed")
    if missing == "customer_id":
        assert set(err["fields"]) & {"customer_id", "customer_email"}, err
    else:
        assert field in err["fields"], err


def test_booking_travel_end_before_start(server, mail):
    account = new_customer(server, mail)
    body = booking_body(account, travel_start="2027-05-08",
                        travel_end="2027-05-01")
    assert_fields(Staff(server).post("/bookings", body), "travel_end")


@pytest.mark.parametrize("value", ["2027-02-30", "05/01/2027", "",
                                   "2027-05-01T00:00:00Z", 20270501])
def test_booking_bad_dates(server, mail, value):
    account = new_customer(server, mail)
    body = booking_body(account, travel_start=value)
    assert_fields(Staff(server).post("/bookings", body), "travel_start")


@pytest.mark.parametrize("amount", [0, -1, 1.5, "10", True, None])
def test_booking_bad_amount(server, mail, amount):
    account = new_customer(server, mail)
    body = booking_body(account)
    body["amount_total"] = amount
    assert_fields(Staff(server).post("/bookings", body), "amount_total")


@pytest.mark.parametrize("currency", ["EUR", "xyz", "eu", "euro", "", 978])
def test_booking_bad_currency(server, mail, currency):
    account = new_customer(server, mail)
    body = booking_body(account, currency=currency)
    assert_fields(Staff(server).post("/bookings", body), "currency")


def test_booking_unknown_field(server, mail):
    account = new_customer(server, mail)
    body = booking_body(account, amount_paid=100)
    assert_fields(Staff(server).post("/bookings", body), "amount_paid")


def test_booking_unknown_customer(server, mail):
    staff = Staff(server)
    assert_error(staff.post("/bookings", booking_body(random_uuid())), 404,
                 "not_found")
    body = booking_body(None, customer_email=new_email("nobody"))
    assert_error(staff.post("/bookings", body), 404, "not_found")


def test_booking_duplicate_reference(server, mail):
    account = new_customer(server, mail)
    staff = Staff(server)
    reference = "JK-DUP-" + uuid.uuid4().hex[:8]
    staff.create_booking(account, reference=reference)
    resp = staff.post("/bookings", booking_body(account, reference=reference))
    assert_error(resp, 409, "conflict")


def test_admin_without_staff_user_is_forbidden(server, mail):
    account = new_customer(server, mail)
    nobody = Staff(server, auth=None, base=server.no_auth_url)
    assert_error(nobody.post("/bookings", booking_body(account)), 403,
                 "forbidden")
    assert_error(nobody.get("/transactions"), 403, "forbidden")
    assert_error(nobody.get(f"/transactions/{random_uuid()}"), 403,
                 "forbidden")
    assert_error(nobody.post(f"/transactions/{random_uuid()}/refund", {}),
                 403, "forbidden")
    assert_error(nobody.post("/payments/manual", {}), 403, "forbidden")
    # Apache itself asks for credentials on the real port.
    anonymous = Staff(server, auth=None)
    assert anonymous.post("/bookings", booking_body(account)).status_code \
        == 401


# ------------------------------------------------------ transaction list

@pytest.fixture
def ledger(server, mail, stripe, db):
    """One customer, two bookings: a succeeded manual payment, an open
    card intent, a failed card attempt; the first made "in 2020"."""
    account, client, staff, first = customer_with_booking(
        server, mail, amount_total=50000)
    second = staff.create_booking(account, 70000)
    manual = staff.manual_ok(first["id"], 10000, method="bank_transfer")
    open_tx, _ = open_intent(client, second["id"])
    failed_tx, _ = open_intent(client, first["id"])
    deliver(stripe, stripe.fail_payment(failed_tx["gateway_ref"]))
    with db.cursor() as cur:
        cur.execute("UPDATE transactions SET created_at = "
                    "'2020-01-15T10:00:00Z' WHERE id = %s", (manual["id"],))
    return {"account": account, "staff": staff, "first": first,
            "second": second, "manual": manual["id"], "open": open_tx["id"],
            "failed": failed_tx["id"]}


def ids(items):
    return [t["id"] for t in items]


def test_list_by_customer(server, ledger):
    staff = ledger["staff"]
    got = staff.list_all(customer_id=ledger["account"].id)
    for tx in got:
        assert_transaction(tx)
    # Newest first; the 2020 one last.
    assert ids(got) == [ledger["failed"], ledger["open"], ledger["manual"]]


def test_list_by_booking(server, ledger):
    staff = ledger["staff"]
    assert ids(staff.list_all(booking_id=ledger["first"]["id"])) == [
        ledger["failed"], ledger["manual"]]
    assert ids(staff.list_all(booking_id=ledger["second"]["id"])) == [
        ledger["open"]]
    assert staff.list_all(booking_id=random_uuid()) == []


@pytest.mark.parametrize("status,key", [("succeeded", "manual"),
                                        ("requires_payment", "open"),
                                        ("failed", "failed"),
                                        ("refunded", None)])
def test_list_by_status(server, ledger, status, key):
    got = ledger["staff"].list_all(customer_id=ledger["account"].id,
                                   status=status)
    assert ids(got) == ([ledger[key]] if key else [])
    assert all(t["status"] == status for t in got)


def test_list_status_alone(server, ledger):
    got = ledger["staff"].list(status="failed", limit=100)
    body = assert_json(got, 200)
    assert body["data"] and all(t["status"] == "failed" for t in body["data"])


def test_list_since_until(server, ledger):
    staff, cid = ledger["staff"], ledger["account"].id
    assert ids(staff.list_all(customer_id=cid, since="2020-01-15",
                              until="2020-01-16")) == [ledger["manual"]]
    assert ids(staff.list_all(customer_id=cid,
                              until="2020-01-15T10:00:00Z")) == []
    assert ids(staff.list_all(customer_id=cid,
                              since="2020-01-15T10:00:00Z",
                              until="2020-01-15T10:00:01Z")) == [
        ledger["manual"]]
    assert ids(staff.list_all(customer_id=cid, until="2020-01-15")) == []
    recent = staff.list_all(customer_id=cid, since="2021-01-01")
    assert ids(recent) == [ledger["failed"], ledger["open"]]
    assert staff.list_all(customer_id=cid, since="2999-01-01") == []


def test_list_pages(server, ledger):
    staff, cid = ledger["staff"], ledger["account"].id
    first = assert_json(staff.list(customer_id=cid, limit=2), 200)
    assert ids(first["data"]) == [ledger["failed"], ledger["open"]]
    assert isinstance(first["next_cursor"], str) and first["next_cursor"]
    second = assert_json(staff.list(customer_id=cid, limit=2,
                                    cursor=first["next_cursor"]), 200)
    assert ids(second["data"]) == [ledger["manual"]]
    assert second["next_cursor"] is None
    one = assert_json(staff.list(customer_id=cid, limit=1), 200)
    assert len(one["data"]) == 1 and one["next_cursor"]


def test_list_default_limit(server, ledger):
    body = assert_json(ledger["staff"].list(), 200)
    assert set(body) == {"data", "next_cursor"}
    assert 1 <= len(body["data"]) <= 20


@pytest.mark.parametrize("params", [
    {"status": "paid"}, {"status": "SUCCEEDED"}, {"status": "bogus"},
    {"booking_id": "not-a-uuid"}, {"customer_id": "42"},
    {"since": "yesterday"}, {"until": "2020-13-45"},
    {"since": "2020-01-15 10:00"}, {"limit": "0"}, {"limit": "101"},
    {"limit": "x"}, {"cursor": "not-a-cursor"}])
def test_list_bad_filters(server, params):
    staff = Staff(server)
    assert_error(staff.list(**params), 422, "validation_failed")


# ------------------------------------------------------- one transaction

def test_transaction_detail(server, mail, stripe):
    account, client, staff, booking, tx, event = paid_intent(
        server, mail, stripe, amount_total=8000)
    body = staff.transaction(tx["id"])
    assert body["transaction"]["id"] == tx["id"]
    assert body["transaction"]["status"] == "succeeded"
    assert body["refunds"] == []
    log = body["audit_log"]
    assert [(e["old_status"], e["new_status"]) for e in log] == [
        (None, "requires_payment"), ("requires_payment", "succeeded")]
    assert log[0]["actor"] == f"customer:{account.id}"
    assert log[1]["actor"] == f"stripe:{event['id']}"
    assert log[1]["event_id"] == event["id"]
    stamps = [e["created_at"] for e in log]
    assert stamps == sorted(stamps)


@pytest.mark.parametrize("tx_id", ["random", "not-a-uuid"])
def test_transaction_detail_unknown(server, tx_id):
    staff = Staff(server)
    tx_id = random_uuid() if tx_id == "random" else tx_id
    assert_error(staff.get(f"/transactions/{tx_id}"), 404, "not_found")


# ----------------------------------------------------------------- refunds

def refunds_at_stripe(stripe):
    return stripe.api_requests("POST", "/v1/refunds")


def refunds_of(stripe, tx):
    """Refunds that exist at the stand-in for one transaction."""
    return [r for r in stripe.list_refunds()
            if r.get("payment_intent") == tx["gateway_ref"]]


def test_partial_refund(server, mail, stripe, db):
    account, client, staff, booking, tx, _ = paid_intent(
        server, mail, stripe, amount_total=40000)
    stripe.reset()
    refund = staff.refund_ok(tx["id"], amount=15000,
                             reason="requested_by_customer")
    assert refund["transaction_id"] == tx["id"]
    assert refund["amount"] == 15000
    assert refund["currency"] == "eur"
    assert refund["status"] == "succeeded"
    assert refund["requested_by"] == "staff"
    assert refund["gateway_ref"].startswith("re_")
    calls = refunds_at_stripe(stripe)
    assert len(calls) == 1, calls
    assert calls[0].params["payment_intent"] == tx["gateway_ref"]
    assert calls[0].params["amount"] == "15000"
    assert calls[0].idempotency_key == f"jklg-re-{refund['id']}"
    assert stripe.get_refund(refund["gateway_ref"])["amount"] == 15000

    now = my_transaction(client, tx["id"])
    assert now["amount_refunded"] == 15000
    assert now["status"] == "partially_refunded"
    assert booking_row(db, booking["id"]) == (40000, 15000,
                                              "partially_refunded")
    detail = staff.transaction(tx["id"])
    assert [r["id"] for r in detail["refunds"]] == [refund["id"]]
    requested = [e for e in detail["audit_log"] if e["actor"] == "staff:staff"]
    assert requested, detail["audit_log"]


def test_refund_over_what_is_left(server, mail, stripe):
    account, client, staff, booking, tx, _ = paid_intent(
        server, mail, stripe, amount_total=10000)
    staff.refund_ok(tx["id"], amount=6000)
    stripe.reset()
    assert_error(staff.refund(tx["id"], {"amount": 4001}), 409, "conflict")
    assert_error(staff.refund(tx["id"], {"amount": 10000}), 409, "conflict")
    assert refunds_at_stripe(stripe) == []
    assert my_transaction(client, tx["id"])["amount_refunded"] == 6000


@pytest.mark.parametrize("amount", [0, -5, "x", "100", 1.5, True])
def test_refund_bad_amount(server, mail, stripe, amount):
    account, client, staff, booking, tx, _ = paid_intent(
        server, mail, stripe, amount_total=10000)
    stripe.reset()
    assert_fields(staff.refund(tx["id"], {"amount": amount}), "amount")
    assert refunds_at_stripe(stripe) == []


def test_refund_unknown_field_and_bad_reason(server, mail, stripe):
    account, client, staff, booking, tx, _ = paid_intent(
        server, mail, stripe, amount_total=10000)
    stripe.reset()
    assert_fields(staff.refund(tx["id"], {"amount": 100, "currency": "eur"}),
                  "currency")
    assert_fields(staff.refund(tx["id"], {"reason": 12}), "reason")
    assert refunds_at_stripe(stripe) == []


def test_default_refund_takes_the_rest(server, mail, stripe, db):
    account, client, staff, booking, tx, _ = paid_intent(
        server, mail, stripe, amount_total=12000)
    staff.refund_ok(tx["id"], amount=2000)
    stripe.reset()
    rest = staff.refund_ok(tx["id"])
    assert rest["amount"] == 10000
    calls = refunds_at_stripe(stripe)
    assert len(calls) == 1
    assert calls[0].params.get("amount", "10000") == "10000"
    now = my_transaction(client, tx["id"])
    assert now["status"] == "refunded" and now["amount_refunded"] == 12000
    assert booking_row(db, booking["id"]) == (12000, 12000, "refunded")
    stripe.reset()
    # Nothing left.
    assert_error(staff.refund(tx["id"]), 409, "conflict")
    assert_error(staff.refund(tx["id"], {"amount": 1}), 409, "conflict")
    assert refunds_at_stripe(stripe) == []


def test_refund_of_a_payment_not_succeeded(server, mail, stripe):
    account, client, staff, booking = customer_with_booking(server, mail)
    tx, _ = open_intent(client, booking["id"])
    stripe.reset()
    assert_error(staff.refund(tx["id"], {"amount": 100}), 409, "conflict")
    assert_error(staff.refund(tx["id"]), 409, "conflict")
    deliver(stripe, stripe.fail_payment(tx["gateway_ref"]))
    assert_error(staff.refund(tx["id"]), 409, "conflict")
    assert refunds_at_stripe(stripe) == []


def test_refund_unknown_transaction(server):
    staff = Staff(server)
    assert_error(staff.refund(random_uuid(), {"amount": 100}), 404,
                 "not_found")
    assert_error(staff.refund("not-a-uuid", {}), 404, "not_found")


def test_refund_idempotency_key(server, mail, stripe, db):
    account, client, staff, booking, tx, _ = paid_intent(
        server, mail, stripe, amount_total=20000)
    stripe.reset()
    key = "refund-" + uuid.uuid4().hex
    first = staff.refund_ok(tx["id"], amount=5000, key=key)
    second = staff.refund_ok(tx["id"], amount=5000, key=key)
    assert second["id"] == first["id"]
    assert second["gateway_ref"] == first["gateway_ref"]
    executed = [c for c in refunds_at_stripe(stripe) if not c.replayed]
    assert len(executed) == 1, refunds_at_stripe(stripe)
    assert len([r for r in stripe.list_refunds()
                if r["payment_intent"] == tx["gateway_ref"]]) == 1
    assert my_transaction(client, tx["id"])["amount_refunded"] == 5000
    assert len(staff.transaction(tx["id"])["refunds"]) == 1

    # Stripe's charge.refunded for it confirms without counting twice.
    event = stripe.refund_event(first["gateway_ref"])
    deliver(stripe, event)
    deliver(stripe, event)
    now = my_transaction(client, tx["id"])
    assert now["amount_refunded"] == 5000
    assert now["status"] == "partially_refunded"
    assert booking_row(db, booking["id"]) == (20000, 5000,
                                              "partially_refunded")

    # Another key is another refund.
    third = staff.refund_ok(tx["id"], amount=5000,
                            key="refund-" + uuid.uuid4().hex)
    assert third["id"] != first["id"]
    assert my_transaction(client, tx["id"])["amount_refunded"] == 10000


def test_refund_gateway_error(server, mail, stripe, allow_errors):
    allow_errors.extend(GATEWAY_ERRORS)
    account, client, staff, booking, tx, _ = paid_intent(
        server, mail, stripe, amount_total=20000)
    stripe.reset()
    stripe.fail_next(402, count=1, error_type="invalid_request_error",
                     error_code="charge_already_refunded",
                     message="Charge has already been refunded.")
    assert_error(staff.refund(tx["id"], {"amount": 1000}), 502,
                 "gateway_error")
    assert len(refunds_at_stripe(stripe)) == 1
    now = my_transaction(client, tx["id"])
    assert now["amount_refunded"] == 0 and now["status"] == "succeeded"
    # The failed refund does not block the next one.
    stripe.reset()
    staff.refund_ok(tx["id"], amount=1000)
    assert my_transaction(client, tx["id"])["amount_refunded"] == 1000


def test_refund_retried_after_stripe_500(server, mail, stripe, allow_errors):
    allow_errors.extend(GATEWAY_ERRORS)
    account, client, staff, booking, tx, _ = paid_intent(
        server, mail, stripe, amount_total=20000)
    stripe.reset()
    stripe.fail_next(500, count=1)
    refund = staff.refund_ok(tx["id"], amount=3000)
    calls = refunds_at_stripe(stripe)
    assert len(calls) == 2
    assert {c.idempotency_key for c in calls} == {f"jklg-re-{refund['id']}"}
    assert my_transaction(client, tx["id"])["amount_refunded"] == 3000


def test_refund_free_text_reason(server, mail, stripe):
    """`reason` is the staff's words (Refund.reason: null | "..."), not
    Stripe's enum."""
    account, client, staff, booking, tx, _ = paid_intent(
        server, mail, stripe, amount_total=20000)
    refund = staff.refund_ok(tx["id"], amount=1000,
                             reason="Customer changed plans")
    assert refund["reason"] == "Customer changed plans"
    assert staff.transaction(tx["id"])["refunds"][0]["reason"] == \
        "Customer changed plans"


def test_refund_same_key_concurrently(server, mail, stripe):
    account, client, staff, booking, tx, _ = paid_intent(
        server, mail, stripe, amount_total=20000)
    stripe.reset()
    key = "refund-" + uuid.uuid4().hex
    resps = concurrently(lambda _: staff.refund(tx["id"], {"amount": 2500},
                                                key), range(4))
    assert {r.status_code for r in resps} == {202}, [r.text for r in resps]
    assert len({r.json()["refund"]["id"] for r in resps}) == 1
    assert len([r for r in stripe.list_refunds()
                if r["payment_intent"] == tx["gateway_ref"]]) == 1
    assert my_transaction(client, tx["id"])["amount_refunded"] == 2500


def test_concurrent_refunds_cannot_exceed_the_amount(server, mail, stripe):
    account, client, staff, booking, tx, _ = paid_intent(
        server, mail, stripe, amount_total=10000)
    stripe.reset()
    resps = concurrently(lambda _: staff.refund(tx["id"], {"amount": 6000}),
                         range(4))
    # Each answer is the one refund (a request that found it pending
    # retries it) or a conflict (6000 more would exceed the amount).
    refund_ids = {r.json()["refund"]["id"] for r in resps
                  if r.status_code == 202}
    assert len(refund_ids) == 1, [r.text for r in resps]
    for r in resps:
        if r.status_code != 202:
            assert_error(r, 409, "conflict")
    assert len(refunds_of(stripe, tx)) == 1
    assert my_transaction(client, tx["id"])["amount_refunded"] == 6000


def test_refund_retried_after_a_timeout_is_not_doubled(server, mail, stripe,
                                                       allow_errors):
    """The outcome of a timed-out refund is unknown: asking again retries
    that refund under its Stripe idempotency key, never makes a second."""
    allow_errors.append(r"JKLG00601: payment gateway")
    account, client, staff, booking, tx, _ = paid_intent(
        server, mail, stripe, amount_total=10000)
    stripe.reset()
    stripe.delay_next(5)                    # JKLGStripeTimeout is 3s
    assert_error(staff.refund(tx["id"], {"amount": 3000}), 502,
                 "gateway_error")
    time.sleep(3)                           # the stand-in did refund
    again = staff.refund_ok(tx["id"], amount=3000)
    assert again["status"] == "succeeded"
    assert len(refunds_of(stripe, tx)) == 1
    assert my_transaction(client, tx["id"])["amount_refunded"] == 3000
    # A different amount while one is pending would be a second refund.
    stripe.delay_next(5)
    assert_error(staff.refund(tx["id"], {"amount": 2000}), 502,
                 "gateway_error")
    assert_error(staff.refund(tx["id"], {"amount": 1000}), 409, "conflict")


def test_late_answer_never_undoes_a_settled_refund(server, mail, stripe, db):
    account, client, staff, booking, tx, _ = paid_intent(
        server, mail, stripe, amount_total=10000)
    stripe.refund_status = "pending"
    refund = staff.refund_ok(tx["id"], amount=4000)
    deliver(stripe, stripe.refund_event(refund["gateway_ref"]))
    with db.cursor() as cur:
        cur.execute("SELECT outcome FROM jklg.refund_settle(p_refund => %s, "
                    "p_status => 'pending', p_ref => NULL, p_staff => 'staff', "
                    "p_error => NULL)", (refund["id"],))
        assert cur.fetchone()[0] == "ok"
        cur.execute("SELECT status FROM refunds WHERE id = %s",
                    (refund["id"],))
        assert cur.fetchone()[0] == "succeeded"
    assert staff.refund_ok(tx["id"])["amount"] == 6000


def test_pending_refund_counts_when_stripe_confirms(server, mail, stripe, db):
    account, client, staff, booking, tx, _ = paid_intent(
        server, mail, stripe, amount_total=10000)
    stripe.refund_status = "pending"
    refund = staff.refund_ok(tx["id"], amount=4000)
    assert refund["status"] == "pending"
    now = my_transaction(client, tx["id"])
    assert (now["status"], now["amount_refunded"]) == ("succeeded", 0)
    # What is left excludes the pending refund.
    stripe.reset()
    assert_error(staff.refund(tx["id"], {"amount": 6001}), 409, "conflict")
    assert refunds_at_stripe(stripe) == []
    # Stripe's charge.refunded counts it.
    deliver(stripe, stripe.refund_event(refund["gateway_ref"]))
    now = my_transaction(client, tx["id"])
    assert (now["status"], now["amount_refunded"]) == ("partially_refunded",
                                                       4000)
    assert booking_row(db, booking["id"]) == (10000, 4000,
                                              "partially_refunded")
    # And the rest is still refundable, once.
    rest = staff.refund_ok(tx["id"])
    assert rest["amount"] == 6000
    now = my_transaction(client, tx["id"])
    assert (now["status"], now["amount_refunded"]) == ("refunded", 10000)


# --------------------------------------------------------- manual payments

def test_manual_payment(server, mail, stripe, db):
    account, client, staff, booking = customer_with_booking(
        server, mail, amount_total=50000)
    stripe.reset()
    tx = staff.manual_ok(booking["id"], 20000, method="bank_transfer",
                         note="SEPA ref 4711")
    assert tx["status"] == "succeeded"
    assert tx["gateway"] == "manual"
    assert tx["gateway_ref"] is None
    assert tx["amount"] == 20000 and tx["currency"] == "eur"
    assert tx["booking_id"] == booking["id"]
    assert tx_row(db, tx["id"])[4] == "bank_transfer"
    assert stripe.requests == []
    assert my_booking(account, booking["id"])["payment_status"] == \
        "partially_paid"
    receipt = exactly_one_mail(mail, account.email,
                               receipt_subject(booking["reference"]))
    text = text_of(receipt)
    assert "200.00 EUR" in text
    assert "bank transfer" in text
    no_mail(mail, account.email, confirmation_subject(booking["reference"]),
            grace=0)
    log = staff.transaction(tx["id"])["audit_log"]
    assert log and all(e["actor"] == "staff:staff" for e in log), log
    assert log[-1]["new_status"] == "succeeded"
    # The customer sees it among their transactions.
    assert my_transaction(client, tx["id"])["id"] == tx["id"]


def test_manual_payment_cash(server, mail, db):
    account, client, staff, booking = customer_with_booking(
        server, mail, amount_total=5000)
    tx = staff.manual_ok(booking["id"], 5000, method="cash")
    assert tx_row(db, tx["id"])[4] == "cash"
    assert booking_row(db, booking["id"]) == (5000, 0, "paid")


def test_manual_payment_wrong_currency(server, mail):
    account, client, staff, booking = customer_with_booking(server, mail)
    assert_fields(staff.manual(booking["id"], 1000, currency="usd"),
                  "currency")
    assert_fields(staff.manual(booking["id"], 1000, currency="EUR"),
                  "currency")


def test_manual_payment_over_outstanding(server, mail, db):
    account, client, staff, booking = customer_with_booking(
        server, mail, amount_total=10000)
    staff.manual_ok(booking["id"], 4000)
    assert_error(staff.manual(booking["id"], 6001), 409, "conflict")
    staff.manual_ok(booking["id"], 6000)
    assert_error(staff.manual(booking["id"], 1), 409, "conflict")
    assert booking_row(db, booking["id"]) == (10000, 0, "paid")


@pytest.mark.parametrize("method", ["card", "stripe", "", "CASH", None, 1])
def test_manual_payment_bad_method(server, mail, method):
    account, client, staff, booking = customer_with_booking(server, mail)
    assert_fields(staff.manual(booking["id"], 1000, method=method), "method")


@pytest.mark.parametrize("amount", [0, -1, 1.5, "1000", None])
def test_manual_payment_bad_amount(server, mail, amount):
    account, client, staff, booking = customer_with_booking(server, mail)
    assert_fields(staff.manual(booking["id"], amount), "amount")


def test_manual_payment_missing_and_unknown_fields(server, mail):
    account, client, staff, booking = customer_with_booking(server, mail)
    resp = staff.post("/payments/manual", {"amount": 100, "currency": "eur",
                                           "method": "cash"})
    assert_fields(resp, "booking_id")
    resp = staff.post("/payments/manual", {
        "booking_id": booking["id"], "amount": 100, "currency": "eur",
        "method": "cash", "status": "succeeded"})
    assert_fields(resp, "status")


def test_manual_payment_unknown_booking(server):
    staff = Staff(server)
    assert_error(staff.manual(random_uuid(), 1000), 404, "not_found")
    # Not a UUID at all: for staff, a validation error is as good as 404.
    resp = staff.manual("not-a-uuid", 1000)
    if resp.status_code == 422:
        assert_fields(resp, "booking_id")
    else:
        assert_error(resp, 404, "not_found")


def test_manual_refund_needs_no_gateway(server, mail, stripe, db):
    account, client, staff, booking = customer_with_booking(
        server, mail, amount_total=9000)
    tx = staff.manual_ok(booking["id"], 9000)
    stripe.reset()
    refund = staff.refund_ok(tx["id"], amount=4000)
    assert refund["status"] == "succeeded"
    assert refund["gateway_ref"] is None
    assert refund["requested_by"] == "staff"
    rest = staff.refund_ok(tx["id"])
    assert rest["amount"] == 5000
    assert stripe.requests == []
    assert tx_row(db, tx["id"])[0] == "refunded"
    assert booking_row(db, booking["id"]) == (9000, 9000, "refunded")


# ------------------------------------------------------------ booking sync

def test_booking_follows_its_transactions(server, mail, stripe, db):
    account, client, staff, booking = customer_with_booking(
        server, mail, amount_total=10000)
    reference = booking["reference"]
    first = staff.manual_ok(booking["id"], 4000, method="cash")
    seen = my_booking(account, booking["id"])
    assert (seen["amount_paid"], seen["payment_status"]) == (4000,
                                                             "partially_paid")
    no_mail(mail, account.email, confirmation_subject(reference), grace=0)

    second = staff.manual_ok(booking["id"], 6000, method="bank_transfer")
    seen = my_booking(account, booking["id"])
    assert (seen["amount_paid"], seen["payment_status"]) == (10000, "paid")
    assert_error(client.post("/intents", {"booking_id": booking["id"]}), 409,
                 "booking_already_paid")
    wait_mails(mail, account.email, receipt_subject(reference), count=2)
    exactly_one_mail(mail, account.email, confirmation_subject(reference))

    staff.refund_ok(second["id"], amount=1000)
    seen = my_booking(account, booking["id"])
    assert (seen["amount_paid"], seen["amount_refunded"],
            seen["payment_status"]) == (10000, 1000, "partially_refunded")

    staff.refund_ok(second["id"])
    staff.refund_ok(first["id"])
    seen = my_booking(account, booking["id"])
    assert (seen["amount_paid"], seen["amount_refunded"],
            seen["payment_status"]) == (10000, 10000, "refunded")
    # Refunds do not reopen the balance.
    assert_error(client.post("/intents", {"booking_id": booking["id"]}), 409,
                 "booking_already_paid")
    assert_error(staff.manual(booking["id"], 100), 409, "conflict")
    # Still exactly one confirmation, two receipts.
    assert len(wait_mails(mail, account.email, receipt_subject(reference),
                          count=2)) == 2
    exactly_one_mail(mail, account.email, confirmation_subject(reference),
                     grace=0)
    # The booking detail lists its transactions.
    detail = assert_json(account.client.get(f"/me/bookings/{booking['id']}"),
                         200)
    assert {t["id"] for t in detail["transactions"]} == {first["id"],
                                                         second["id"]}


def test_card_and_manual_together(server, mail, stripe, db):
    account, client, staff, booking = customer_with_booking(
        server, mail, amount_total=30000)
    staff.manual_ok(booking["id"], 10000)
    tx, _ = open_intent(client, booking["id"])
    assert tx["amount"] == 20000
    confirm_and_deliver(stripe, tx["gateway_ref"])
    assert my_booking(account, booking["id"])["payment_status"] == "paid"
    exactly_one_mail(mail, account.email,
                     confirmation_subject(booking["reference"]))
