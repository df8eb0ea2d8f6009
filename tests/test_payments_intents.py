"""Customer payment endpoints (docs/payments.md, "Customer endpoints"):
GET /api/payments/config, POST /api/payments/intents against the Stripe
stand-in (parameters, idempotency keys, retries, gateway failures and
timeouts), and the customer's own transactions."""

import time

import pytest
import requests

import psycopg2

from harness.customers import assert_no_store, assert_unauthorized
from harness.payments import (assert_error, assert_fields,
                              assert_json, assert_transaction, concurrently,
                              customer_with_booking, intent_resp, intents_for,
                              my_transaction, new_customer, open_intent,
                              pay_client, pi_creates, random_uuid, tx_row)

# A gateway failure is logged (error level) before the 502; these tests
# provoke it on purpose.
GATEWAY_ERRORS = [r"JKLG00601: payment gateway"]
DB_ERRORS = [r"JKLG0010[123]", r"JKLG00301", r"JKLG001", r"dbd:error",
             r"AH00", r"DBD"]


# ------------------------------------------------------------------ config

def test_config(server):
    resp = requests.get(server.url + "/api/payments/config", timeout=30)
    body = assert_json(resp, 200)
    assert set(body) == {"publishable_key", "gateways", "currency",
                         "js_url"}, body
    assert body["publishable_key"] == "pk_test_jklg"
    assert "stripe" in body["gateways"] and "manual" in body["gateways"]
    assert body["currency"] == "eur"
    assert body["js_url"] == "https://js.stripe.com/v3/"     # the default


def test_config_needs_no_token_and_ignores_a_bad_one(server):
    resp = requests.get(server.url + "/api/payments/config",
                        headers={"Authorization": "Bearer nonsense"},
                        timeout=30)
    assert assert_json(resp, 200)["publishable_key"] == "pk_test_jklg"


# ------------------------------------------------------------ new intents

def test_intent_created_for_the_outstanding_amount(server, mail, stripe, db):
    account, client, staff, booking = customer_with_booking(
        server, mail, amount_total=120000)
    staff.manual_ok(booking["id"], 20000)
    stripe.reset()
    tx, secret = open_intent(client, booking["id"])
    assert tx["booking_id"] == booking["id"]
    assert tx["gateway"] == "stripe"
    assert tx["amount"] == 100000
    assert tx["amount_refunded"] == 0
    assert tx["currency"] == "eur"
    assert tx["status"] == "requires_payment"
    assert tx["failure_reason"] is None
    assert tx["gateway_ref"].startswith("pi_")
    pi = stripe.get_payment_intent(tx["gateway_ref"])
    assert pi is not None
    assert secret == pi["client_secret"]
    assert pi["amount"] == 100000 and pi["currency"] == "eur"

    creates = pi_creates(stripe)
    assert len(creates) == 1, creates
    call = creates[0]
    assert call.params["amount"] == "100000"
    assert call.params["currency"] == "eur"
    assert call.params["automatic_payment_methods"]["enabled"].lower() == "true"
    assert call.params["metadata"]["transaction_id"] == tx["id"]
    assert call.idempotency_key == f"jklg-pi-{tx['id']}"
    assert call.stripe_version, call.headers
    assert not call.injected and not call.replayed
    # The client secret is only in the response, never stored.
    row = db.cursor()
    row.execute("SELECT t::text FROM transactions t WHERE id = %s",
                (tx["id"],))
    assert secret not in row.fetchone()[0]
    assert secret not in server.new_log()


def test_intent_response_is_not_cached(server, mail, stripe):
    account, client, staff, booking = customer_with_booking(server, mail)
    resp = intent_resp(client, booking["id"])
    assert_json(resp, 201)
    assert_no_store(resp)
    assert_no_store(intent_resp(client, booking["id"]))
    assert_no_store(client.get("/transactions"))


def test_asking_again_returns_the_same_intent(server, mail, stripe):
    account, client, staff, booking = customer_with_booking(server, mail)
    tx, secret = open_intent(client, booking["id"], 201)
    again, secret2 = open_intent(client, booking["id"], 200)
    assert again["id"] == tx["id"]
    assert again["gateway_ref"] == tx["gateway_ref"]
    assert secret2 == secret
    assert len(intents_for(stripe, tx["id"])) == 1
    # The secret is fetched from Stripe, not stored: a GET of the intent.
    assert stripe.api_requests("GET", f"/v1/payment_intents/{tx['gateway_ref']}")
    assert len(pi_creates(stripe, tx["id"])) == 1


def test_amount_changed_makes_a_new_intent(server, mail, stripe, db):
    account, client, staff, booking = customer_with_booking(
        server, mail, amount_total=50000)
    tx, _ = open_intent(client, booking["id"])
    assert tx["amount"] == 50000
    staff.manual_ok(booking["id"], 10000)
    new, _ = open_intent(client, booking["id"], 201)
    assert new["id"] != tx["id"]
    assert new["amount"] == 40000
    assert tx_row(db, tx["id"])[0] == "canceled"
    assert new["gateway_ref"] != tx["gateway_ref"]


def test_replaced_intent_is_canceled_at_stripe(server, mail, stripe, db):
    """"If the balance changed, the old one is canceled": the old
    PaymentIntent too, or the browser that still holds its client secret
    could pay it, and its success could never be recorded (canceled is
    final)."""
    account, client, staff, booking = customer_with_booking(
        server, mail, amount_total=50000)
    tx, _ = open_intent(client, booking["id"])
    staff.manual_ok(booking["id"], 10000)
    new, _ = open_intent(client, booking["id"], 201)
    old_pi = stripe.get_payment_intent(tx["gateway_ref"])
    assert old_pi["status"] == "canceled", old_pi["status"]
    assert stripe.get_payment_intent(new["gateway_ref"])["status"] == \
        "requires_payment_method"


def test_concurrent_requests_share_one_transaction(server, mail, stripe):
    account, client, staff, booking = customer_with_booking(server, mail)
    resps = concurrently(lambda _: intent_resp(client, booking["id"]),
                         range(2))
    statuses = sorted(r.status_code for r in resps)
    assert all(s in (200, 201) for s in statuses), [r.text for r in resps]
    bodies = [r.json() for r in resps]
    assert bodies[0]["transaction"]["id"] == bodies[1]["transaction"]["id"]
    assert bodies[0]["client_secret"] == bodies[1]["client_secret"]
    assert len(intents_for(stripe, bodies[0]["transaction"]["id"])) == 1


def test_many_concurrent_requests_share_one_transaction(server, mail, stripe):
    account, client, staff, booking = customer_with_booking(server, mail)
    resps = concurrently(lambda _: intent_resp(client, booking["id"]),
                         range(6))
    assert {r.status_code for r in resps} <= {200, 201}, \
        [(r.status_code, r.text) for r in resps]
    ids = {r.json()["transaction"]["id"] for r in resps}
    assert len(ids) == 1
    assert len(intents_for(stripe, ids.pop())) == 1


# ------------------------------------------------------- refused requests

def test_someone_elses_booking_is_not_found(server, mail, stripe):
    account, client, staff, booking = customer_with_booking(server, mail)
    other = pay_client(new_customer(server, mail))
    assert_error(intent_resp(other, booking["id"]), 404, "not_found")
    assert pi_creates(stripe) == []


@pytest.mark.parametrize("booking_id", ["random", "not-a-uuid",
                                        "00000000-0000-0000-0000-00000000000"])
def test_unknown_booking_is_not_found(server, mail, stripe, booking_id):
    client = pay_client(new_customer(server, mail))
    if booking_id == "random":
        booking_id = random_uuid()
    assert_error(intent_resp(client, booking_id), 404, "not_found")
    assert pi_creates(stripe) == []


def test_unknown_field_is_refused(server, mail, stripe):
    account, client, staff, booking = customer_with_booking(server, mail)
    resp = client.post("/intents", {"booking_id": booking["id"],
                                    "amount": 1})
    assert_fields(resp, "amount")
    assert pi_creates(stripe) == []


@pytest.mark.parametrize("body", [{}, {"booking_id": None},
                                  {"booking_id": 12}])
def test_missing_or_bad_booking_id(server, mail, stripe, body):
    client = pay_client(new_customer(server, mail))
    assert_fields(client.post("/intents", body), "booking_id")
    assert pi_creates(stripe) == []


def test_body_not_json(server, mail, stripe):
    client = pay_client(new_customer(server, mail))
    resp = client.post("/intents", data="{booking_id",
                       headers={"Content-Type": "application/json"})
    assert_error(resp, 400, "invalid_json")
    resp = client.post("/intents", data="booking_id=x",
                       headers={"Content-Type":
                                "application/x-www-form-urlencoded"})
    assert_error(resp, 415, "unsupported_media_type")


def test_no_token(server, mail, stripe):
    account, client, staff, booking = customer_with_booking(server, mail)
    assert_unauthorized(intent_resp(client, booking["id"], token=None))
    assert_unauthorized(intent_resp(client, booking["id"], token="abc.def.ghi"))
    assert pi_creates(stripe) == []


def test_revoked_token(server, mail, stripe):
    account, client, staff, booking = customer_with_booking(server, mail)
    assert account.client.post("/logout").status_code == 204
    assert_unauthorized(intent_resp(client, booking["id"]))


def test_fully_paid_booking(server, mail, stripe):
    account, client, staff, booking = customer_with_booking(
        server, mail, amount_total=30000)
    staff.manual_ok(booking["id"], 30000)
    stripe.reset()
    assert_error(intent_resp(client, booking["id"]), 409,
                 "booking_already_paid")
    assert pi_creates(stripe) == []


# ---------------------------------------------------------- gateway faults

def test_stripe_500_twice_then_success(server, mail, stripe, allow_errors):
    allow_errors.extend(GATEWAY_ERRORS)
    account, client, staff, booking = customer_with_booking(server, mail)
    stripe.fail_next(500, count=2)
    tx, secret = open_intent(client, booking["id"], 201)
    creates = pi_creates(stripe)
    assert len(creates) == 3, creates
    assert [c.injected for c in creates] == [True, True, False]
    keys = {c.idempotency_key for c in creates}
    assert keys == {f"jklg-pi-{tx['id']}"}
    assert tx["status"] == "requires_payment"
    assert stripe.get_payment_intent(tx["gateway_ref"])["client_secret"] \
        == secret


def test_card_error_is_not_retried(server, mail, stripe, db, allow_errors):
    allow_errors.extend(GATEWAY_ERRORS)
    account, client, staff, booking = customer_with_booking(server, mail)
    stripe.fail_next(402)
    err = assert_error(intent_resp(client, booking["id"]), 502,
                       "gateway_error")
    assert "sk_test" not in err["message"]
    creates = pi_creates(stripe)
    assert len(creates) == 1, creates
    tx_id = creates[0].params["metadata"]["transaction_id"]
    status, reason, *_ = tx_row(db, tx_id)
    assert status == "failed", status
    assert reason, "failure_reason must say the gateway failed"
    # The failed attempt is visible to the customer as failed, not live.
    assert my_transaction(client, tx_id)["status"] == "failed"

    # Paying again works, with a new transaction and intent.
    stripe.reset()
    tx, secret = open_intent(client, booking["id"], 201)
    assert tx["id"] != tx_id
    assert tx["status"] == "requires_payment"
    assert len(pi_creates(stripe)) == 1


def test_stripe_timeout(server, mail, stripe, db, allow_errors):
    allow_errors.extend(GATEWAY_ERRORS)
    account, client, staff, booking = customer_with_booking(server, mail)
    stripe.delay_next(6, count=3)
    start = time.monotonic()
    resp = intent_resp(client, booking["id"])
    elapsed = time.monotonic() - start
    assert_error(resp, 502, "gateway_error")
    assert elapsed < 15, elapsed
    creates = pi_creates(stripe)
    assert creates, "the module never called Stripe"
    tx_id = creates[0].params["metadata"]["transaction_id"]
    assert tx_row(db, tx_id)[0] == "failed"


def test_should_retry_false_is_not_retried(server, mail, stripe, db,
                                           allow_errors):
    allow_errors.extend(GATEWAY_ERRORS)
    account, client, staff, booking = customer_with_booking(server, mail)
    stripe.fail_next(500, count=1, should_retry=False)
    assert_error(intent_resp(client, booking["id"]), 502, "gateway_error")
    creates = pi_creates(stripe)
    assert len(creates) == 1, creates
    tx_id = creates[0].params["metadata"]["transaction_id"]
    assert tx_row(db, tx_id)[0] == "failed"


def test_should_retry_true_on_409_is_retried(server, mail, stripe,
                                             allow_errors):
    allow_errors.extend(GATEWAY_ERRORS)
    account, client, staff, booking = customer_with_booking(server, mail)
    stripe.fail_next(409, count=1, should_retry=True)
    tx, _ = open_intent(client, booking["id"], 201)
    creates = pi_creates(stripe)
    assert len(creates) == 2, creates
    assert {c.idempotency_key for c in creates} == {f"jklg-pi-{tx['id']}"}


def test_stripe_500_three_times(server, mail, stripe, db, allow_errors):
    allow_errors.extend(GATEWAY_ERRORS)
    account, client, staff, booking = customer_with_booking(server, mail)
    stripe.fail_next(500, count=5)
    assert_error(intent_resp(client, booking["id"]), 502, "gateway_error")
    creates = pi_creates(stripe)
    assert 1 <= len(creates) <= 3, creates
    assert len({c.idempotency_key for c in creates}) == 1
    tx_id = creates[0].params["metadata"]["transaction_id"]
    assert tx_row(db, tx_id)[0] == "failed"


def test_stripe_429_is_retried(server, mail, stripe):
    account, client, staff, booking = customer_with_booking(server, mail)
    stripe.fail_next(429, count=1)
    tx, _ = open_intent(client, booking["id"], 201)
    creates = pi_creates(stripe)
    assert [c.injected for c in creates] == [True, False]
    assert {c.idempotency_key for c in creates} == {f"jklg-pi-{tx['id']}"}


def test_stripe_400_is_not_retried(server, mail, stripe, db, allow_errors):
    allow_errors.extend(GATEWAY_ERRORS)
    account, client, staff, booking = customer_with_booking(server, mail)
    stripe.fail_next(400, count=1)
    assert_error(intent_resp(client, booking["id"]), 502, "gateway_error")
    creates = pi_creates(stripe)
    assert len(creates) == 1
    assert tx_row(db, creates[0].params["metadata"]["transaction_id"])[0] \
        == "failed"


def test_should_retry_true_wins_over_402(server, mail, stripe):
    account, client, staff, booking = customer_with_booking(server, mail)
    stripe.fail_next(402, count=1, should_retry=True)
    tx, _ = open_intent(client, booking["id"], 201)
    assert len(pi_creates(stripe)) == 2


def test_database_down(server, pg, mail, stripe, db, allow_errors):
    allow_errors.extend(DB_ERRORS)
    account, client, staff, booking = customer_with_booking(server, mail)
    db.close()
    stripe.reset()
    pg.stop()
    try:
        resp = intent_resp(client, booking["id"])
        assert_error(resp, 503, "unavailable")
        assert resp.headers["Retry-After"].isdigit()
        assert_error(client.get("/transactions"), 503, "unavailable")
        assert_error(staff.get("/transactions"), 503, "unavailable")
    finally:
        pg.start()
    assert pi_creates(stripe) == []
    # Back: the same request works.
    tx, _ = open_intent(client, booking["id"], 201)
    conn = psycopg2.connect(pg.url())
    try:
        assert tx_row(conn, tx["id"])[0] == "requires_payment"
    finally:
        conn.close()


# ------------------------------------------------------------ transactions

def test_transactions_own_only(server, mail, stripe):
    account, client, staff, booking = customer_with_booking(server, mail)
    tx, _ = open_intent(client, booking["id"])
    mine = my_transaction(client, tx["id"])
    assert (mine["id"], mine["status"], mine["amount"]) == (
        tx["id"], "requires_payment", tx["amount"])

    other = pay_client(new_customer(server, mail))
    assert_error(other.get(f"/transactions/{tx['id']}"), 404, "not_found")
    body = assert_json(other.get("/transactions"), 200)
    assert body == {"data": [], "next_cursor": None}

    body = assert_json(client.get("/transactions"), 200)
    assert [t["id"] for t in body["data"]] == [tx["id"]]
    assert body["next_cursor"] is None


@pytest.mark.parametrize("tx_id", ["random", "not-a-uuid"])
def test_transaction_unknown(server, mail, tx_id):
    client = pay_client(new_customer(server, mail))
    if tx_id == "random":
        tx_id = random_uuid()
    assert_error(client.get(f"/transactions/{tx_id}"), 404, "not_found")


def test_transactions_need_a_token(server, mail):
    client = pay_client(new_customer(server, mail))
    assert_unauthorized(client.get("/transactions", token=None))
    assert_unauthorized(client.get(f"/transactions/{random_uuid()}",
                                   token=None))


def test_transactions_pages_newest_first(server, mail, stripe):
    account, client, staff, booking = customer_with_booking(
        server, mail, amount_total=100000)
    made = [staff.manual_ok(booking["id"], 1000 + i)["id"] for i in range(5)]
    first = assert_json(client.get("/transactions", params={"limit": 2}), 200)
    assert set(first) == {"data", "next_cursor"}
    assert len(first["data"]) == 2 and first["next_cursor"]
    seen = list(first["data"])
    cursor = first["next_cursor"]
    while cursor:
        page = assert_json(client.get("/transactions", params={
            "limit": 2, "cursor": cursor}), 200)
        assert len(page["data"]) <= 2
        seen.extend(page["data"])
        cursor = page["next_cursor"]
    for tx in seen:
        assert_transaction(tx)
    assert [t["id"] for t in seen] == list(reversed(made))
    stamps = [t["created_at"] for t in seen]
    assert stamps == sorted(stamps, reverse=True)


@pytest.mark.parametrize("query", ["?limit=0", "?limit=101", "?limit=abc",
                                   "?cursor=not-a-cursor"])
def test_transactions_bad_limit_or_cursor(server, mail, query):
    client = pay_client(new_customer(server, mail))
    assert_error(client.get("/transactions" + query), 422,
                 "validation_failed")


def test_wrong_method(server, mail):
    client = pay_client(new_customer(server, mail))
    resp = client.get("/intents")
    assert_error(resp, 405, "method_not_allowed")
    assert "POST" in resp.headers.get("Allow", "")



# ------------------------------------------- one payable intent at a time

def test_no_second_intent_while_a_payment_is_processing(server, mail, stripe):
    from harness.payments import deliver
    account, client, staff, booking = customer_with_booking(
        server, mail, amount_total=50000)
    tx, _ = open_intent(client, booking["id"])
    deliver(stripe, stripe.process(tx["gateway_ref"]))
    assert_error(intent_resp(client, booking["id"]), 409, "conflict")
    assert len(pi_creates(stripe)) == 1


def test_declined_intent_is_offered_again_not_duplicated(server, mail, stripe,
                                                         db):
    from harness.payments import booking_row, deliver
    account, client, staff, booking = customer_with_booking(
        server, mail, amount_total=50000)
    tx, secret = open_intent(client, booking["id"])
    deliver(stripe, stripe.fail_payment(tx["gateway_ref"]))
    assert my_transaction(client, tx["id"])["status"] == "failed"
    again, again_secret = open_intent(client, booking["id"], status=200)
    assert again["id"] == tx["id"] and again_secret == secret
    assert len(pi_creates(stripe)) == 1
    deliver(stripe, stripe.confirm(tx["gateway_ref"]))
    assert booking_row(db, booking["id"]) == (50000, 0, "paid")


def test_replaced_declined_intent_is_canceled_at_stripe(server, mail, stripe):
    from harness.payments import deliver
    account, client, staff, booking = customer_with_booking(
        server, mail, amount_total=50000)
    old, _ = open_intent(client, booking["id"])
    deliver(stripe, stripe.fail_payment(old["gateway_ref"]))
    staff.manual_ok(booking["id"], 10000)
    new, _ = open_intent(client, booking["id"])
    assert new["id"] != old["id"] and new["amount"] == 40000
    assert stripe.get_payment_intent(old["gateway_ref"])["status"] == "canceled"
    assert my_transaction(client, old["id"])["status"] == "canceled"



def test_lost_webhook_is_made_up_for_when_asked_again(server, mail, stripe,
                                                      db):
    """Stripe says the intent succeeded but its webhook never came: asking
    to pay again records the payment (and sends its emails) instead of
    offering the paid intent once more."""
    from harness.payments import (booking_row, confirmation_subject,
                                  exactly_one_mail, receipt_subject)
    account, client, staff, booking = customer_with_booking(
        server, mail, amount_total=30000)
    tx, _ = open_intent(client, booking["id"])
    stripe.confirm(tx["gateway_ref"])           # no delivery
    assert_error(intent_resp(client, booking["id"]), 409, "conflict")
    assert my_transaction(client, tx["id"])["status"] == "succeeded"
    assert booking_row(db, booking["id"]) == (30000, 0, "paid")
    exactly_one_mail(mail, account.email, receipt_subject(booking["reference"]))
    exactly_one_mail(mail, account.email,
                     confirmation_subject(booking["reference"]))
    assert_error(intent_resp(client, booking["id"]), 409,
                 "booking_already_paid")
