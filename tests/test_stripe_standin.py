"""The Stripe stand-in itself (harness/stripe.py): it must answer as Stripe
does, or the payment tests prove nothing. Run from tests/:
/usr/bin/python3 -m pytest -q -p harness.fixtures_stripe test_stripe_standin.py
"""

import json
import os
import socket
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import requests
import stripe as stripe_lib

from harness.stripe import parse_form, sign

KEY = "sk_test_jklg"
AUTH = {"Authorization": f"Bearer {KEY}"}
FIXTURES = Path("/work/shared/stripe/fixtures.json")

# Top-level keys of the objects in stripe/openapi's fixtures3.json (the
# subset kept in the shared fixtures.json).
SHAPES = {
    "payment_intent": {
        "amount", "amount_capturable", "amount_details", "amount_received",
        "application", "application_fee_amount", "automatic_payment_methods",
        "canceled_at", "cancellation_reason", "capture_method",
        "client_secret", "confirmation_method", "created", "currency",
        "customer", "customer_account", "description",
        "excluded_payment_method_types", "id", "last_payment_error",
        "latest_charge", "livemode", "managed_payments", "metadata",
        "next_action", "object", "on_behalf_of", "payment_method",
        "payment_method_configuration_details", "payment_method_options",
        "payment_method_types", "processing", "receipt_email", "review",
        "setup_future_usage", "shipping", "source", "statement_descriptor",
        "statement_descriptor_suffix", "status", "transfer_data",
        "transfer_group"},
    "refund": {
        "amount", "balance_transaction", "charge", "created", "currency",
        "customer", "customer_account", "destination_details", "id",
        "metadata", "object", "payment_intent", "payment_method", "reason",
        "receipt_number", "source_transfer_reversal", "status",
        "transfer_reversal"},
    "charge": {
        "amount", "amount_captured", "amount_refunded", "application",
        "application_fee", "application_fee_amount", "balance_transaction",
        "billing_details", "calculated_statement_descriptor", "captured",
        "created", "currency", "customer", "description", "disputed",
        "failure_balance_transaction", "failure_code", "failure_message",
        "fraud_details", "id", "livemode", "metadata", "object",
        "on_behalf_of", "outcome", "paid", "payment_intent", "payment_method",
        "payment_method_details", "receipt_email", "receipt_number",
        "receipt_url", "refunded", "refunds", "review", "shipping", "source",
        "source_transfer", "statement_descriptor",
        "statement_descriptor_suffix", "status", "transfer_data",
        "transfer_group"},
    "dispute": {
        "amount", "balance_transactions", "charge", "created", "currency",
        "enhanced_eligibility_types", "evidence", "evidence_details", "id",
        "is_charge_refundable", "livemode", "metadata", "object",
        "payment_intent", "payment_method_details", "reason", "status"},
    "event": {
        "api_version", "created", "data", "id", "livemode", "object",
        "pending_webhooks", "request", "type"},
}

GOLDEN_SECRET = "whsec_test_secret"
GOLDEN_T = 1700000000
GOLDEN_BODY = b'{"id":"evt_test","type":"payment_intent.succeeded"}'
GOLDEN_V1 = "1fa069bafb0fb0ec61ca8e80964ba68904130b9623f205d87d85ad75d5de7d02"


def post(stripe, path, data=None, headers=None, **kw):
    return requests.post(stripe.url + path, data=data,
                         headers={**AUTH, **(headers or {})}, timeout=5, **kw)


def get(stripe, path, headers=None):
    return requests.get(stripe.url + path, headers={**AUTH, **(headers or {})},
                        timeout=5)


def create_pi(stripe, amount=1000, **extra):
    r = post(stripe, "/v1/payment_intents",
             {"amount": str(amount), "currency": "eur", **extra})
    assert r.status_code == 200, r.text
    return r.json()


def paid_pi(stripe, amount=1000):
    pi = create_pi(stripe, amount, **{"metadata[booking_id]": "b-1"})
    stripe.confirm(pi["id"])
    return pi["id"]


def error_of(r, status):
    assert r.status_code == status, r.text
    assert r.headers["Request-Id"].startswith("req_")
    return r.json()["error"]


class _Hook(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.server.received.append((dict(self.headers), body))
        self.send_response(self.server.answer)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def hook():
    """A webhook receiver on loopback: .received [(headers, body)],
    .answer (status to reply), .url."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Hook)
    server.daemon_threads = True
    server.received, server.answer = [], 200
    server.url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def hook_(hook):
    hook.received.clear()
    hook.answer = 200
    return hook


# --- auth ---------------------------------------------------------------

def test_api_key_required(stripe):
    r = requests.post(stripe.url + "/v1/payment_intents",
                      data={"amount": "100", "currency": "eur"}, timeout=5)
    err = error_of(r, 401)
    assert err["type"] == "invalid_request_error"
    assert "did not provide an API key" in err["message"]
    assert r.headers["WWW-Authenticate"].startswith("Bearer")


def test_wrong_key_is_masked(stripe):
    r = requests.get(stripe.url + "/v1/payment_intents/pi_x", timeout=5,
                     headers={"Authorization": "Bearer sk_test_wrongkey9xyz"})
    err = error_of(r, 401)
    assert err["message"] == ("Invalid API Key provided: "
                              "sk_test_********9xyz")
    assert "wrongkey" not in r.text
    assert stripe.requests[-1].status == 401


def test_basic_auth_with_key_as_user_is_accepted(stripe):
    r = requests.post(stripe.url + "/v1/payment_intents", auth=(KEY, ""),
                      data={"amount": "100", "currency": "eur"}, timeout=5)
    assert r.status_code == 200


# --- payment intents ----------------------------------------------------

def test_create_get_cancel(stripe):
    r = post(stripe, "/v1/payment_intents", {
        "amount": "125000", "currency": "eur",
        "automatic_payment_methods[enabled]": "true",
        "metadata[booking_id]": "42", "metadata[transaction_id]": "7",
        "description": "Booking JK-42", "receipt_email": "ann@example.com"},
        headers={"Stripe-Version": "2024-06-20"})
    assert r.status_code == 200
    assert r.headers["Content-Type"] == "application/json"
    assert r.headers["Request-Id"].startswith("req_")
    pi = r.json()
    assert pi["id"].startswith("pi_") and pi["object"] == "payment_intent"
    assert pi["client_secret"].startswith(pi["id"] + "_secret_")
    assert (pi["amount"], pi["currency"], pi["amount_received"]) == (
        125000, "eur", 0)
    assert pi["status"] == "requires_payment_method"
    assert pi["metadata"] == {"booking_id": "42", "transaction_id": "7"}
    assert pi["automatic_payment_methods"]["enabled"] is True
    assert pi["latest_charge"] is None and pi["last_payment_error"] is None
    assert pi["livemode"] is False and isinstance(pi["created"], int)
    assert (pi["description"], pi["receipt_email"]) == (
        "Booking JK-42", "ann@example.com")

    assert get(stripe, f"/v1/payment_intents/{pi['id']}").json() == pi

    r = post(stripe, f"/v1/payment_intents/{pi['id']}/cancel",
             {"cancellation_reason": "requested_by_customer"})
    assert r.status_code == 200
    canceled = r.json()
    assert canceled["status"] == "canceled"
    assert canceled["cancellation_reason"] == "requested_by_customer"
    assert isinstance(canceled["canceled_at"], int)

    err = error_of(post(stripe, f"/v1/payment_intents/{pi['id']}/cancel"), 400)
    assert err["code"] == "payment_intent_unexpected_state"
    assert err["payment_intent"]["status"] == "canceled"


def test_payment_method_types_list(stripe):
    pi = create_pi(stripe, **{"payment_method_types[]": "card"})
    assert pi["payment_method_types"] == ["card"]
    assert pi["automatic_payment_methods"] is None
    pi = create_pi(stripe, **{"payment_method_types[0]": "card",
                              "payment_method_types[1]": "sepa_debit"})
    assert pi["payment_method_types"] == ["card", "sepa_debit"]


def test_unknown_object_and_path(stripe):
    err = error_of(get(stripe, "/v1/payment_intents/pi_nope"), 404)
    assert err["code"] == "resource_missing"
    assert err["message"] == "No such payment_intent: 'pi_nope'"
    err = error_of(post(stripe, "/v1/subscriptions", {"customer": "cus_x"}),
                   404)
    assert err["type"] == "invalid_request_error"
    assert "Unrecognized request URL (POST: /v1/subscriptions)" in err["message"]
    assert error_of(requests.delete(stripe.url + "/v1/payment_intents/pi_x",
                                    headers=AUTH, timeout=5), 404)


@pytest.mark.parametrize("data, param, code", [
    ({"amount": "100", "currency": "eur", "foo": "x"},
     "foo", "parameter_unknown"),
    ({"amount": "100", "currency": "eur",
      "automatic_payment_methods[enabled]": "true",
      "automatic_payment_methods[bogus]": "1"},
     "automatic_payment_methods[bogus]", "parameter_unknown"),
    ({"currency": "eur"}, "amount", "parameter_missing"),
    ({"amount": "100"}, "currency", "parameter_missing"),
    ({"amount": "100", "currency": "eur",
      "automatic_payment_methods[allow_redirects]": "never"},
     "automatic_payment_methods[enabled]", "parameter_missing"),
    ({"amount": "abc", "currency": "eur"}, "amount",
     "parameter_invalid_integer"),
    ({"amount": "10.50", "currency": "eur"}, "amount",
     "parameter_invalid_integer"),
    ({"amount": "0", "currency": "eur"}, "amount",
     "parameter_invalid_integer"),
    ({"amount": "-5", "currency": "eur"}, "amount",
     "parameter_invalid_integer"),
    ({"amount": "", "currency": "eur"}, "amount", "parameter_invalid_empty"),
    ({"amount": "100000000", "currency": "eur"}, "amount",
     "amount_too_large"),
    ({"amount": "100", "currency": "EUR"}, "currency", None),
    ({"amount": "100", "currency": "euro"}, "currency", None),
    ({"amount": "100", "currency": "eur",
      "automatic_payment_methods[enabled]": "yes"},
     "automatic_payment_methods[enabled]", None),
    ({"amount": "100", "currency": "eur", "metadata": "x"}, "metadata", None),
    ({"amount": "100", "currency": "eur", "receipt_email": "nope"},
     "receipt_email", "email_invalid"),
    ({"amount": "100", "currency": "eur",
      "automatic_payment_methods[enabled]": "true",
      "payment_method_types[]": "card"},
     "automatic_payment_methods", "parameters_exclusive"),
])
def test_parameters_validated(stripe, data, param, code):
    before = len(stripe.list_payment_intents())
    err = error_of(post(stripe, "/v1/payment_intents", data), 400)
    assert err["type"] == "invalid_request_error"
    assert err["param"] == param
    assert err.get("code") == code
    if code == "parameter_unknown":
        assert err["message"] == f"Received unknown parameter: {param}"
    assert len(stripe.list_payment_intents()) == before


def test_json_body_refused(stripe):
    r = post(stripe, "/v1/payment_intents",
             json={"amount": 100, "currency": "eur"})
    assert "x-www-form-urlencoded" in error_of(r, 400)["message"]


def test_chunked_body_accepted(stripe):
    r = post(stripe, "/v1/payment_intents",
             data=iter([b"amount=777&", b"currency=eur"]),
             headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert r.status_code == 200 and r.json()["amount"] == 777


def test_parse_form():
    assert parse_form("a=1&m[k]=v&m[k2]=&n[a][b]=c&l[]=x&l[]=y") == {
        "a": "1", "m": {"k": "v", "k2": ""}, "n": {"a": {"b": "c"}},
        "l": {"0": "x", "1": "y"}}
    assert parse_form("metadata%5Bbooking_id%5D=4%202") == {
        "metadata": {"booking_id": "4 2"}}


def test_requests_are_recorded(stripe):
    create_pi(stripe, **{"metadata[booking_id]": "9"})
    get(stripe, "/v1/payment_intents/pi_missing",
        headers={"Stripe-Version": "2023-10-16"})
    first, second = stripe.requests
    assert (first.method, first.path, first.status) == (
        "POST", "/v1/payment_intents", 200)
    assert first.params == {"amount": "1000", "currency": "eur",
                            "metadata": {"booking_id": "9"}}
    assert first.headers["authorization"] == f"Bearer {KEY}"
    assert second.stripe_version == "2023-10-16"
    assert second.status == 404
    assert stripe.api_requests("GET")[0] is second


# --- idempotency --------------------------------------------------------

def test_idempotent_replay(stripe):
    data = {"amount": "5000", "currency": "eur", "metadata[booking_id]": "1"}
    key = {"Idempotency-Key": "jklg-txn-1"}
    first = post(stripe, "/v1/payment_intents", data, key)
    again = post(stripe, "/v1/payment_intents", data, key)
    assert first.status_code == again.status_code == 200
    assert again.json() == first.json()
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.headers["Original-Request"] == first.headers["Request-Id"]
    assert "Idempotent-Replayed" not in first.headers
    assert first.headers["Idempotency-Key"] == "jklg-txn-1"
    assert [pi["id"] for pi in stripe.list_payment_intents()].count(
        first.json()["id"]) == 1
    assert stripe.requests[1].replayed


def test_idempotency_conflict(stripe):
    key = {"Idempotency-Key": "jklg-txn-2"}
    post(stripe, "/v1/payment_intents", {"amount": "100", "currency": "eur"},
         key)
    err = error_of(post(stripe, "/v1/payment_intents",
                        {"amount": "200", "currency": "eur"}, key), 400)
    assert err["type"] == "idempotency_error"
    assert "jklg-txn-2" in err["message"]


def test_validation_errors_are_not_stored(stripe):
    key = {"Idempotency-Key": "jklg-txn-3"}
    error_of(post(stripe, "/v1/payment_intents", {"amount": "1"}, key), 400)
    r = post(stripe, "/v1/payment_intents",
             {"amount": "100", "currency": "eur"}, key)
    assert r.status_code == 200 and "Idempotent-Replayed" not in r.headers


def test_business_errors_are_replayed(stripe):
    pi_id = paid_pi(stripe, 500)
    key = {"Idempotency-Key": "jklg-refund-too-much"}
    data = {"payment_intent": pi_id, "amount": "600"}
    first = post(stripe, "/v1/refunds", data, key)
    assert error_of(first, 400)["code"] == "amount_too_large"
    again = post(stripe, "/v1/refunds", data, key)
    assert again.status_code == 400 and again.json() == first.json()
    assert again.headers["Idempotent-Replayed"] == "true"


def test_same_key_in_flight_conflicts(stripe):
    stripe.delay_next(0.6)
    key = {"Idempotency-Key": "jklg-txn-4"}
    data = {"amount": "100", "currency": "eur"}
    slow = []
    thread = threading.Thread(target=lambda: slow.append(
        post(stripe, "/v1/payment_intents", data, key)))
    thread.start()
    time.sleep(0.2)
    err = error_of(post(stripe, "/v1/payment_intents", data, key), 409)
    assert err["code"] == "idempotency_key_in_use"
    thread.join()
    assert slow[0].status_code == 200


# --- injected faults ----------------------------------------------------

@pytest.mark.parametrize("status, retry, kind, code", [
    (500, True, "api_error", None),
    (429, True, "rate_limit_error", "rate_limit"),
    (402, False, "card_error", "card_declined"),
])
def test_injected_failure_then_retry(stripe, status, retry, kind, code):
    stripe.fail_next(status, should_retry=retry)
    before = len(stripe.list_payment_intents())
    data = {"amount": "100", "currency": "eur"}
    key = {"Idempotency-Key": f"jklg-fault-{status}"}
    r = post(stripe, "/v1/payment_intents", data, key)
    err = error_of(r, status)
    assert (err["type"], err.get("code")) == (kind, code)
    assert r.headers["Stripe-Should-Retry"] == ("true" if retry else "false")
    assert stripe.requests[-1].injected
    assert len(stripe.list_payment_intents()) == before
    # not stored under the key: the retry is executed
    r = post(stripe, "/v1/payment_intents", data, key)
    assert r.status_code == 200 and "Idempotent-Replayed" not in r.headers
    assert "Stripe-Should-Retry" not in r.headers


def test_fail_next_count_and_code(stripe):
    stripe.fail_next(503, count=2, error_code="lock_timeout", message="busy")
    codes = [get(stripe, "/v1/payment_intents/pi_x").status_code
             for _ in range(3)]
    assert codes == [503, 503, 404]
    assert [r.injected for r in stripe.requests] == [True, True, False]
    assert "Stripe-Should-Retry" not in get(stripe, "/v1/charges/x").headers


def test_delay_then_the_work_is_done(stripe):
    stripe.delay_next(0.5)
    data = {"amount": "4242", "currency": "eur"}
    key = {"Idempotency-Key": "jklg-slow"}
    with pytest.raises(requests.Timeout):
        requests.post(stripe.url + "/v1/payment_intents", data=data,
                      headers={**AUTH, **key}, timeout=0.2)
    time.sleep(0.5)
    r = post(stripe, "/v1/payment_intents", data, key)
    assert r.headers.get("Idempotent-Replayed") == "true"
    started = time.monotonic()
    get(stripe, "/v1/payment_intents/" + r.json()["id"])
    assert time.monotonic() - started < 0.3


def test_reset_keeps_objects(stripe):
    pi = create_pi(stripe)
    stripe.fail_next(500, count=5)
    stripe.delay_next(5)
    stripe.refund_status = "pending"
    stripe.reset()
    assert stripe.requests == [] and stripe.refund_status == "succeeded"
    assert get(stripe, f"/v1/payment_intents/{pi['id']}").status_code == 200


# --- payments, refunds, events ------------------------------------------

def test_confirm_creates_a_charge(stripe):
    pi = create_pi(stripe, 2500, **{"metadata[booking_id]": "b-7"})
    event = stripe.confirm(pi["id"])
    assert event["type"] == "payment_intent.succeeded"
    obj = event["data"]["object"]
    assert (obj["id"], obj["status"], obj["amount_received"]) == (
        pi["id"], "succeeded", 2500)
    assert obj["last_payment_error"] is None
    now = get(stripe, f"/v1/payment_intents/{pi['id']}").json()
    assert now == obj
    charge = get(stripe, f"/v1/charges/{now['latest_charge']}").json()
    assert charge["id"].startswith("ch_") and charge["object"] == "charge"
    assert (charge["amount"], charge["amount_refunded"], charge["status"],
            charge["paid"], charge["payment_intent"]) == (
        2500, 0, "succeeded", True, pi["id"])
    assert charge["metadata"] == {"booking_id": "b-7"}
    with pytest.raises(Exception, match="status of succeeded"):
        stripe.confirm(pi["id"])
    assert get(stripe, f"/v1/events/{event['id']}").json() == event


def test_process_fail_cancel_events(stripe):
    pi = create_pi(stripe)
    assert stripe.process(pi["id"])["data"]["object"]["status"] == "processing"
    failed = stripe.fail_payment(pi["id"], message="Insufficient funds.")
    assert failed["type"] == "payment_intent.payment_failed"
    obj = failed["data"]["object"]
    assert obj["status"] == "requires_payment_method"
    assert obj["last_payment_error"]["code"] == "card_declined"
    assert obj["last_payment_error"]["message"] == "Insufficient funds."
    assert stripe.get_charge(obj["latest_charge"])["status"] == "failed"
    canceled = stripe.cancel(pi["id"])
    assert canceled["type"] == "payment_intent.canceled"
    assert canceled["data"]["object"]["status"] == "canceled"


def test_refunds_partial_full_too_much(stripe):
    pi_id = paid_pi(stripe, 1000)
    r = post(stripe, "/v1/refunds", {"payment_intent": pi_id, "amount": "300",
                                     "reason": "requested_by_customer",
                                     "metadata[transaction_id]": "7"},
             {"Idempotency-Key": "jklg-refund-1"})
    assert r.status_code == 200
    first = r.json()
    assert first["id"].startswith("re_") and first["object"] == "refund"
    assert (first["amount"], first["status"], first["payment_intent"],
            first["reason"], first["metadata"]) == (
        300, "succeeded", pi_id, "requested_by_customer",
        {"transaction_id": "7"})
    assert get(stripe, f"/v1/refunds/{first['id']}").json() == first

    err = error_of(post(stripe, "/v1/refunds",
                        {"payment_intent": pi_id, "amount": "701"}), 400)
    assert (err["code"], err["param"]) == ("amount_too_large", "amount")

    rest = post(stripe, "/v1/refunds", {"payment_intent": pi_id}).json()
    assert rest["amount"] == 700

    err = error_of(post(stripe, "/v1/refunds", {"payment_intent": pi_id}), 400)
    assert err["code"] == "charge_already_refunded"

    one = stripe.refund_event(first["id"])
    two = stripe.refund_event(rest["id"])
    assert one["type"] == two["type"] == "charge.refunded"
    assert one["data"]["object"]["amount_refunded"] == 300
    assert one["data"]["object"]["refunded"] is False
    assert two["data"]["object"]["amount_refunded"] == 1000
    assert two["data"]["object"]["refunded"] is True
    assert one["request"]["idempotency_key"] == "jklg-refund-1"
    assert stripe.refund_event(first["id"])["id"] == one["id"]


def test_refund_errors(stripe):
    open_pi = create_pi(stripe)
    err = error_of(post(stripe, "/v1/refunds",
                        {"payment_intent": open_pi["id"]}), 400)
    assert err["code"] == "payment_intent_unexpected_state"
    err = error_of(post(stripe, "/v1/refunds", {"amount": "5"}), 400)
    assert err["code"] == "parameter_missing"
    err = error_of(post(stripe, "/v1/refunds",
                        {"payment_intent": "pi_nope"}), 404)
    assert (err["code"], err["param"]) == ("resource_missing",
                                           "payment_intent")
    err = error_of(post(stripe, "/v1/refunds", {
        "payment_intent": paid_pi(stripe), "reason": "changed_mind"}), 400)
    assert err["param"] == "reason"
    assert error_of(get(stripe, "/v1/refunds/re_nope"), 404)["code"] == \
        "resource_missing"


def test_refund_by_charge_and_pending(stripe):
    pi_id = paid_pi(stripe, 800)
    charge_id = stripe.get_payment_intent(pi_id)["latest_charge"]
    stripe.refund_status = "pending"
    refund = post(stripe, "/v1/refunds", {"charge": charge_id,
                                          "amount": "800"}).json()
    assert (refund["status"], refund["charge"], refund["payment_intent"]) == (
        "pending", charge_id, pi_id)
    updated = stripe.settle_refund(refund["id"], "failed")
    assert updated["type"] == "charge.refund.updated"
    assert updated["data"]["object"]["status"] == "failed"
    assert stripe.get_charge(charge_id)["amount_refunded"] == 0


def test_dispute_event(stripe):
    pi_id = paid_pi(stripe, 900)
    event = stripe.dispute(pi_id)
    assert event["type"] == "charge.dispute.created"
    dispute = event["data"]["object"]
    assert dispute["id"].startswith("dp_") and dispute["amount"] == 900
    assert dispute["payment_intent"] == pi_id
    assert stripe.get_charge(dispute["charge"])["disputed"] is True


def test_shapes_match_stripe_fixtures(stripe):
    pi_id = paid_pi(stripe)
    pi = stripe.get_payment_intent(pi_id)
    refund = post(stripe, "/v1/refunds", {"payment_intent": pi_id,
                                          "amount": "10"}).json()
    charge = stripe.get_charge(pi["latest_charge"])
    event = stripe.refund_event(refund["id"])
    dispute = stripe.dispute(pi_id)["data"]["object"]
    for name, obj in [("payment_intent", pi), ("refund", refund),
                      ("charge", charge), ("dispute", dispute),
                      ("event", event)]:
        assert set(obj) == SHAPES[name], name
    assert event["object"] == "event" and event["id"].startswith("evt_")
    assert event["livemode"] is False and event["pending_webhooks"] == 1
    assert event["api_version"] == stripe.api_version
    assert set(event["request"]) == {"id", "idempotency_key"}
    assert event["data"]["object"]["object"] == "charge"


@pytest.mark.skipif(not FIXTURES.exists(), reason="no shared fixtures.json")
def test_shapes_are_the_shared_fixtures():
    resources = json.loads(FIXTURES.read_text())["resources"]
    assert {k: set(v) for k, v in resources.items()} == SHAPES


# --- webhooks -----------------------------------------------------------

def test_golden_signature():
    header = sign(GOLDEN_BODY, GOLDEN_SECRET, GOLDEN_T)
    print("golden v1:", header)
    assert header == f"t={GOLDEN_T},v1={GOLDEN_V1}"
    assert stripe_lib.WebhookSignature.verify_header(
        GOLDEN_BODY.decode(), header, GOLDEN_SECRET, tolerance=None)


def test_signature_accepted_by_stripe_library(stripe, hook_):
    event = stripe.confirm(create_pi(stripe)["id"])
    r = stripe.send_event(event, hook_.url)
    assert r.status_code == 200
    headers, body = hook_.received[-1]
    assert headers["Content-Type"].startswith("application/json")
    assert json.loads(body) == event
    parsed = stripe_lib.Webhook.construct_event(
        body, headers["Stripe-Signature"], stripe.webhook_secret)
    assert parsed["id"] == event["id"]
    assert parsed["type"] == "payment_intent.succeeded"
    with pytest.raises(stripe_lib.error.SignatureVerificationError):
        stripe_lib.Webhook.construct_event(
            body, headers["Stripe-Signature"], "whsec_other")
    with pytest.raises(stripe_lib.error.SignatureVerificationError):
        stripe_lib.Webhook.construct_event(
            body.replace(b"succeeded", b"canceled"),
            headers["Stripe-Signature"], stripe.webhook_secret)


def test_signature_options(stripe, hook_):
    event = stripe.event("payment_intent.processing", {"id": "pi_x"})
    stripe.send_event(event, hook_.url, timestamp=GOLDEN_T)
    header = hook_.received[-1][0]["Stripe-Signature"]
    assert header.startswith(f"t={GOLDEN_T},v1=")
    with pytest.raises(stripe_lib.error.SignatureVerificationError,
                       match="tolerance"):
        stripe_lib.Webhook.construct_event(hook_.received[-1][1], header,
                                           stripe.webhook_secret)
    stripe.send_event(event, hook_.url, header="t=1,v1=deadbeef")
    assert hook_.received[-1][0]["Stripe-Signature"] == "t=1,v1=deadbeef"
    both = stripe.sign(b"{}", secret=["whsec_old", "whsec_new"])
    assert both.count("v1=") == 2
    for secret in ("whsec_old", "whsec_new"):
        stripe_lib.WebhookSignature.verify_header("{}", both, secret, 300)


# --- control endpoints --------------------------------------------------

def test_control_confirm_sends_signed_event(stripe, hook_, monkeypatch):
    monkeypatch.setattr(stripe, "webhook_url", hook_.url)
    pi = create_pi(stripe)
    r = requests.post(
        f"{stripe.url}/_standin/payment_intents/{pi['id']}/confirm", timeout=5)
    assert r.status_code == 200
    out = r.json()
    assert out["delivered"] == 200 and out["type"] == "payment_intent.succeeded"
    headers, body = hook_.received[-1]
    parsed = stripe_lib.Webhook.construct_event(
        body, headers["Stripe-Signature"], stripe.webhook_secret)
    assert parsed["id"] == out["event"]
    assert stripe.get_payment_intent(pi["id"])["status"] == "succeeded"
    assert stripe.requests[-1].path == "/v1/payment_intents"  # not recorded

    refund = post(stripe, "/v1/refunds", {"payment_intent": pi["id"]}).json()
    hook_.answer = 500
    r = requests.post(f"{stripe.url}/_standin/refunds/{refund['id']}/webhook",
                      timeout=5)
    assert r.json()["delivered"] == 500
    assert json.loads(hook_.received[-1][1])["type"] == "charge.refunded"
    r = requests.post(f"{stripe.url}/_standin/events/{out['event']}/send",
                      timeout=5)
    assert json.loads(hook_.received[-1][1])["id"] == out["event"]


def test_control_fail_process_cancel(stripe, hook_, monkeypatch):
    monkeypatch.setattr(stripe, "webhook_url", hook_.url)
    base = f"{stripe.url}/_standin/payment_intents"
    pi = create_pi(stripe)
    r = requests.post(f"{base}/{pi['id']}/process", timeout=5)
    assert r.json()["type"] == "payment_intent.processing"
    r = requests.post(f"{base}/{pi['id']}/fail",
                      data={"message": "Card expired."}, timeout=5)
    assert r.json()["type"] == "payment_intent.payment_failed"
    body = json.loads(hook_.received[-1][1])
    assert body["data"]["object"]["last_payment_error"]["message"] == \
        "Card expired."
    r = requests.post(f"{base}/{pi['id']}/cancel", timeout=5)
    assert r.json()["type"] == "payment_intent.canceled"
    err = requests.post(f"{base}/{pi['id']}/confirm", timeout=5)
    assert err.status_code == 400
    assert err.json()["error"]["code"] == "payment_intent_unexpected_state"
    assert requests.post(f"{base}/pi_nope/confirm",
                         timeout=5).status_code == 404
    listed = requests.get(base, timeout=5).json()["data"]
    assert pi["id"] in [p["id"] for p in listed]


def test_control_without_webhook_url(stripe, monkeypatch):
    # The session's stand-in may be wired to a server; this test is not.
    monkeypatch.setattr(stripe, "webhook_url", None)
    pi = create_pi(stripe)
    r = requests.post(
        f"{stripe.url}/_standin/payment_intents/{pi['id']}/confirm", timeout=5)
    assert r.status_code == 200 and r.json()["delivered"] is None


# --- the official client against the stand-in --------------------------

def test_official_client_round_trip(stripe, monkeypatch):
    monkeypatch.setattr(stripe_lib, "api_base", stripe.url)
    monkeypatch.setattr(stripe_lib, "max_network_retries", 0)
    pi = stripe_lib.PaymentIntent.create(
        api_key=KEY, amount=1999, currency="eur",
        automatic_payment_methods={"enabled": True},
        metadata={"booking_id": "77"}, idempotency_key="lib-1")
    assert pi.status == "requires_payment_method"
    assert pi.metadata["booking_id"] == "77"
    stripe.confirm(pi.id)
    assert stripe_lib.PaymentIntent.retrieve(pi.id, api_key=KEY).status == \
        "succeeded"
    refund = stripe_lib.Refund.create(api_key=KEY, payment_intent=pi.id,
                                      amount=999)
    assert refund.amount == 999
    stripe.fail_next(402)
    with pytest.raises(stripe_lib.error.CardError):
        stripe_lib.Refund.create(api_key=KEY, payment_intent=pi.id)
    with pytest.raises(stripe_lib.error.AuthenticationError):
        stripe_lib.PaymentIntent.retrieve(pi.id, api_key="sk_test_nope")


# --- command line -------------------------------------------------------

def test_command_line(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(
        [sys.executable, "-m", "harness.stripe", "--port", str(port),
         "--secret-key", "sk_test_cli", "--webhook-secret", "whsec_cli"],
        cwd=Path(__file__).parent, stdout=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        banner = proc.stdout.readline()
        assert f"127.0.0.1:{port}" in banner
        r = requests.post(f"http://127.0.0.1:{port}/v1/payment_intents",
                          data={"amount": "100", "currency": "eur"},
                          headers={"Authorization": "Bearer sk_test_cli"},
                          timeout=5)
        assert r.status_code == 200
    finally:
        proc.terminate()
        out = proc.communicate(timeout=5)[0]
    assert proc.returncode == 0
    assert f"POST /v1/payment_intents 200 {r.json()['id']}" in out


def test_saved_card_and_off_session(stripe):
    """Customers, a card kept by a confirmed intent with
    setup_future_usage, off-session confirmation (paid, then the injected
    authentication_required and card_declined), and detach."""
    cus = post(stripe, "/v1/customers", {"email": "a@b.c"}).json()
    assert cus["id"].startswith("cus_")
    pi = post(stripe, "/v1/payment_intents", {
        "amount": "1000", "currency": "eur", "customer": cus["id"],
        "setup_future_usage": "off_session"}).json()
    stripe.confirm(pi["id"])
    pm = stripe.get_payment_intent(pi["id"])["payment_method"]
    card = get(stripe, f"/v1/payment_methods/{pm}").json()
    assert card["customer"] == cus["id"]
    assert (card["card"]["brand"], card["card"]["last4"]) == ("visa", "4242")
    off = {"amount": "500", "currency": "eur", "customer": cus["id"],
           "payment_method": pm, "off_session": "true", "confirm": "true"}
    assert post(stripe, "/v1/payment_intents", off).json()["status"] == \
        "succeeded"
    stripe.fail_next_off_session("authentication_required")
    err = error_of(post(stripe, "/v1/payment_intents", off), 402)
    assert (err["type"], err["code"]) == ("card_error",
                                          "authentication_required")
    assert err["payment_intent"]["status"] == "requires_payment_method"
    stripe.fail_next_off_session("card_declined", "insufficient_funds")
    err = error_of(post(stripe, "/v1/payment_intents", off), 402)
    assert (err["code"], err["decline_code"]) == ("card_declined",
                                                  "insufficient_funds")
    # Without setup_future_usage no card is kept on the customer.
    pi2 = post(stripe, "/v1/payment_intents", {
        "amount": "1000", "currency": "eur", "customer": cus["id"]}).json()
    stripe.confirm(pi2["id"])
    pm2 = stripe.get_payment_intent(pi2["id"])["payment_method"]
    assert stripe.get_payment_method(pm2)["customer"] is None
    # Detached: no longer chargeable off-session.
    assert post(stripe, f"/v1/payment_methods/{pm}/detach", {}).json()[
        "customer"] is None
    error_of(post(stripe, "/v1/payment_intents", off), 400)
    error_of(post(stripe, "/v1/payment_intents", {
        "amount": "1000", "currency": "eur", "customer": "cus_nope"}), 404)
