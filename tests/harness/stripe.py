"""A stand-in for the parts of the Stripe API that mod_jklg uses, on
loopback only, stateful and strict, so the suite (and `make run`) can drive
payments end to end without the network.

API, as Stripe answers it (`Authorization: Bearer <secret key>`, or HTTP
Basic with the key as user name; form-encoded bodies with bracket keys):

    POST /v1/payment_intents               amount, currency, metadata[...],
                                           automatic_payment_methods[enabled],
                                           payment_method_types[], description,
                                           receipt_email
    GET  /v1/payment_intents/{id}
    POST /v1/payment_intents/{id}/cancel   cancellation_reason
    POST /v1/refunds                       payment_intent or charge, amount,
                                           reason, metadata[...]
    GET  /v1/refunds/{id}, /v1/charges/{id}, /v1/events/{id}
    GET  /v1/events, /v1/payment_intents, /v1/refunds
                                           created[gte|gt|lte|lt], limit
                                           (1..100, default 10),
                                           starting_after: newest first,
                                           {"object": "list", "data",
                                           "has_more", "url"}

Unknown or missing parameters, bad amounts and currencies answer 400 with
Stripe's error envelope. `Idempotency-Key` on POST replays the stored answer
(`Idempotent-Replayed: true`) or refuses other parameters
(`idempotency_error`). Every answer carries `Request-Id: req_...`.

Control paths, without the API key (loopback only), for a developer driving
a payment with curl while `make run` is up; each applies the change and,
when a webhook URL is configured, sends Stripe's signed event there:

    POST /_standin/payment_intents/{id}/confirm    -> payment_intent.succeeded
    POST /_standin/payment_intents/{id}/process    -> payment_intent.processing
    POST /_standin/payment_intents/{id}/fail       -> payment_intent.payment_failed
                                                      (form field message=...)
    POST /_standin/payment_intents/{id}/cancel     -> payment_intent.canceled
    POST /_standin/payment_intents/{id}/dispute    -> charge.dispute.created
    POST /_standin/refunds/{id}/webhook            -> charge.refunded (again)
    POST /_standin/events/{id}/send                -> redeliver any event
    GET  /_standin/payment_intents                 -> {"data": [...]}

They answer {"event": "evt_...", "type": ..., "delivered": <HTTP status or
null>}.

Stand-in Stripe.js, for the customer pages in tests and `make run`
(JKLGStripeJSURL http://127.0.0.1:PORT/v3/): GET /v3/ serves a script with
the small part of Stripe.js the pay page uses -- Stripe(pk),
elements({clientSecret}), create('payment'), mount(selector),
confirmPayment({elements, confirmParams: {return_url}}). Its "Payment
Element" is a plain choice of test outcome (no card fields, no iframe);
confirmPayment posts the client secret and the choice to

    POST /_standin/js/confirm   client_secret, outcome=succeed|decline|process

which checks the secret against the PaymentIntent, applies the outcome as
the control paths above do (signed webhook included) and answers
{"payment_intent": {"id", "status", "last_payment_error"}}. On success or
processing the script goes to return_url with payment_intent,
payment_intent_client_secret and redirect_status, as Stripe does after
3-D Secure; a decline resolves to {error: {type: "card_error", ...}}.

    curl -X POST http://127.0.0.1:12111/_standin/payment_intents/pi_.../confirm

Command line (from tests/):

    /usr/bin/python3 -m harness.stripe --port 12111 \\
        --webhook-url http://127.0.0.1:8080/api/payments/webhook \\
        --webhook-secret whsec_... --secret-key sk_test_...
"""

import argparse
import base64
import copy
import hashlib
import hmac
import json
import re
import secrets
import signal
import string
import sys
import threading
import time
import traceback
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import requests
from requests.structures import CaseInsensitiveDict

API_VERSION = "2024-06-20"
MAX_AMOUNT = 99999999
WEBHOOK_TIMEOUT = 10
_ALNUM = string.ascii_letters + string.digits

_NO_KEY = ("You did not provide an API key. You need to provide your API "
           "key in the Authorization header, using Bearer auth (e.g. "
           "'Authorization: Bearer YOUR_SECRET_KEY'). See "
           "https://stripe.com/docs/api#authentication for details, or we "
           "can help at https://support.stripe.com/.")
_IDEMPOTENCY_MISMATCH = (
    "Keys for idempotent requests can only be used with the same parameters "
    "they were first used with. Try using a key other than '{}' if you meant "
    "to execute a different request.")
_IDEMPOTENCY_IN_USE = (
    "There is currently another in-progress request using this Stripe API "
    "key and idempotency key. Please try again later.")

CANCELABLE = ("requires_payment_method", "requires_capture",
              "requires_confirmation", "requires_action")
CONFIRMABLE = ("requires_payment_method", "requires_confirmation",
               "requires_action", "processing")
REFUND_REASONS = ("duplicate", "fraudulent", "requested_by_customer")
CANCEL_REASONS = ("duplicate", "fraudulent", "requested_by_customer",
                  "abandoned")


def new_id(prefix, length=24):
    return prefix + "".join(secrets.choice(_ALNUM) for _ in range(length))


def mask_key(key):
    """Stripe's way of echoing a wrong key: prefix, stars, last four."""
    m = re.match(r"(?:sk|rk|pk)_(?:test|live)_", key)
    prefix = m.group(0) if m else ""
    rest = key[len(prefix):]
    tail = rest[-4:] if len(rest) > 4 else ""
    return prefix + "*" * (len(rest) - len(tail)) + tail


class StripeApiError(Exception):
    """An error as Stripe answers it: HTTP status and the "error" object.
    stored=False marks a parameter validation failure, which Stripe does not
    keep under an idempotency key (the endpoint never started)."""

    def __init__(self, status, message, error_type="invalid_request_error",
                 code=None, param=None, stored=True, **extra):
        super().__init__(message)
        self.status = status
        self.stored = stored
        self.error = {"type": error_type, "message": message}
        if code:
            self.error["code"] = code
            self.error["doc_url"] = ("https://stripe.com/docs/error-codes/"
                                     + code.replace("_", "-"))
        if param:
            self.error["param"] = param
        self.error.update(extra)

    def body(self):
        return {"error": copy.deepcopy(self.error)}


def _bad_param(name, message, code=None):
    return StripeApiError(400, message, code=code, param=name, stored=False)


def _missing(name):
    return _bad_param(name, f"Missing required param: {name}.",
                      "parameter_missing")


def _no_such(kind, object_id, param):
    return StripeApiError(404, f"No such {kind}: '{object_id}'",
                          code="resource_missing", param=param)


def _unrecognized(method, path):
    return StripeApiError(
        404, f"Unrecognized request URL ({method}: {path}). Please see "
        "https://stripe.com/docs or we can help at "
        "https://support.stripe.com/.", stored=False)


# --- form bodies -----------------------------------------------------------

_KEY = re.compile(r"([^\[\]]+)((?:\[[^\[\]]*\])*)")


def parse_form(text):
    """A Stripe form body as nested dicts: `a[b]=1` gives {"a": {"b": "1"}};
    list items (`a[]=x` or `a[0]=x`) become digit-keyed dicts, which the
    list validators turn into lists. Later scalars win, as in Rack."""
    root = {}
    for key, value in parse_qsl(text, keep_blank_values=True):
        m = _KEY.fullmatch(key)
        parts = ([m.group(1)] + re.findall(r"\[([^\[\]]*)\]", m.group(2))
                 if m else [key])
        node = root
        for depth, part in enumerate(parts):
            if depth and part == "":
                part = str(len(node))
            if depth == len(parts) - 1:
                if isinstance(node.get(part), dict):
                    raise _bad_param(key, f"Invalid string: {key}")
                node[part] = value
            else:
                node = node.setdefault(part, {})
                if not isinstance(node, dict):
                    raise _bad_param(parts[0], "Invalid hash")
    return root


def _string(value, name):
    if not isinstance(value, str):
        raise _bad_param(name, f"Invalid string: {json.dumps(value)}")
    if value == "":
        raise _bad_param(
            name, f"You passed an empty string for '{name}'. We assume empty "
            f"values are an attempt to unset a parameter; however '{name}' "
            f"cannot be unset. You should remove '{name}' from your request "
            "or supply a non-empty value.", "parameter_invalid_empty")
    return value


def _amount(value, name):
    value = _string(value, name)
    if not re.fullmatch(r"-?[0-9]+", value):
        raise _bad_param(name, f"Invalid integer: {value}",
                         "parameter_invalid_integer")
    amount = int(value)
    if amount < 1:
        raise _bad_param(name, "This value must be greater than or equal "
                         "to 1.", "parameter_invalid_integer")
    if amount > MAX_AMOUNT:
        raise _bad_param(name, "Amount must be no more than 999,999.99",
                         "amount_too_large")
    return amount


def _currency(value, name):
    value = _string(value, name)
    if not re.fullmatch(r"[a-z]{3}", value):
        raise _bad_param(name, f"Invalid currency: {value}. Stripe currently "
                         "supports three-letter ISO codes in lowercase.")
    return value


def _boolean(value, name):
    value = _string(value, name)
    # Stripe takes any case: older official clients send "True".
    if value.lower() not in ("true", "false"):
        raise _bad_param(name, f"Invalid boolean: {value}")
    return value.lower() == "true"


def _email(value, name):
    value = _string(value, name)
    if not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", value):
        raise _bad_param(name, f"Invalid email address: {value}",
                         "email_invalid")
    return value


def _enum(*choices):
    def check(value, name):
        value = _string(value, name)
        if value not in choices:
            raise _bad_param(name, f"Invalid {name}: must be one of "
                             f"{', '.join(choices[:-1])}, or {choices[-1]}")
        return value
    return check


def _string_list(value, name):
    if not isinstance(value, dict) or not all(k.isdigit() for k in value):
        raise _bad_param(name, "Invalid array")
    return [_string(value[k], f"{name}[{k}]")
            for k in sorted(value, key=int)]


def _metadata(value, name):
    if value == "":
        return {}
    if not isinstance(value, dict):
        raise _bad_param(name, "Invalid hash")
    if len(value) > 50:
        raise _bad_param(name, "You can have at most 50 metadata keys.")
    out = {}
    for key, item in value.items():
        if len(key) > 40:
            raise _bad_param(f"{name}[{key}]", "Metadata keys can have a "
                             "maximum length of 40 characters.")
        if not isinstance(item, str):
            raise _bad_param(f"{name}[{key}]",
                             f"Invalid string: {json.dumps(item)}")
        if len(item) > 500:
            raise _bad_param(f"{name}[{key}]", "Metadata values can have a "
                             "maximum length of 500 characters.")
        if item != "":
            out[key] = item
    return out


def _hash(spec, required=()):
    def check(value, name):
        if not isinstance(value, dict):
            raise _bad_param(name, "Invalid hash")
        return validate(value, spec, required, prefix=name)
    return check


def validate(params, spec, required=(), prefix=None):
    """params checked against spec {name: validator}: the converted values,
    or StripeApiError for the first unknown, invalid or missing one."""
    out = {}
    for key, value in params.items():
        name = f"{prefix}[{key}]" if prefix else key
        if key not in spec:
            raise _bad_param(name, f"Received unknown parameter: {name}",
                             "parameter_unknown")
        out[key] = spec[key](value, name)
    for key in required:
        if key not in params:
            raise _missing(f"{prefix}[{key}]" if prefix else key)
    return out


PI_CREATE = {
    "amount": _amount,
    "currency": _currency,
    "automatic_payment_methods": _hash(
        {"enabled": _boolean, "allow_redirects": _enum("always", "never")},
        required=("enabled",)),
    "metadata": _metadata,
    "description": _string,
    "receipt_email": _email,
    "payment_method_types": _string_list,
    "expand": _string_list,
    # Saved cards (issue 10): a Customer, keeping the card for later, and
    # off-session confirmation with a saved PaymentMethod.
    "customer": _string,
    "setup_future_usage": _enum("off_session", "on_session"),
    "payment_method": _string,
    "off_session": _boolean,
    "confirm": _boolean,
}
CUSTOMER_CREATE = {"email": _email, "name": _string, "metadata": _metadata,
                   "expand": _string_list}
PM_DETACH = {"expand": _string_list}
PI_CANCEL = {"cancellation_reason": _enum(*CANCEL_REASONS),
             "expand": _string_list}
REFUND_CREATE = {
    "payment_intent": _string,
    "charge": _string,
    "amount": _amount,
    "metadata": _metadata,
    "reason": _enum(*REFUND_REASONS),
    "expand": _string_list,
}
RETRIEVE = {"expand": _string_list}


def _limit(value, name):
    n = _amount(value, name)
    if not 1 <= n <= 100:
        raise _bad_param(name, "This value must be between 1 and 100.")
    return n


def _timestamp(value, name):
    if not (isinstance(value, str) and value.isdigit()):
        raise _bad_param(name, f"Invalid integer: {value}")
    return int(value)


LIST = {
    "created": _hash({"gte": _timestamp, "gt": _timestamp,
                      "lte": _timestamp, "lt": _timestamp}),
    "limit": _limit,
    "starting_after": _string,
    "expand": _string_list,
}


def _created_matches(created, bounds):
    return (created >= bounds.get("gte", created)
            and created > bounds.get("gt", created - 1)
            and created <= bounds.get("lte", created)
            and created < bounds.get("lt", created + 1))


# --- webhook signatures ----------------------------------------------------

def event_payload(event, pretty=False):
    """The exact bytes sent (and signed) for an event."""
    if pretty:
        return json.dumps(event, indent=2).encode()
    return json.dumps(event, separators=(",", ":")).encode()


def sign(payload, secret, timestamp=None):
    """Stripe-Signature value: t=<ts>,v1=<HMAC-SHA256 keyed with the whole
    whsec_ string over "<ts>.<payload>">. A list of secrets gives one v1 per
    secret, as Stripe sends while a secret is being rolled."""
    if isinstance(payload, str):
        payload = payload.encode()
    t = int(time.time()) if timestamp is None else int(timestamp)
    signed = str(t).encode() + b"." + payload
    secrets_ = [secret] if isinstance(secret, str) else list(secret)
    v1 = [hmac.new(s.encode(), signed, hashlib.sha256).hexdigest()
          for s in secrets_]
    return ",".join([f"t={t}"] + [f"v1={v}" for v in v1])


# --- recorded requests -----------------------------------------------------

@dataclass
class Request:
    method: str
    path: str
    params: dict
    headers: CaseInsensitiveDict
    status: int = None
    injected: bool = False      # answered by fail_next()
    replayed: bool = False      # answered from the idempotency store

    @property
    def idempotency_key(self):
        return self.headers.get("Idempotency-Key")

    @property
    def stripe_version(self):
        return self.headers.get("Stripe-Version")


@dataclass
class _Fault:
    status: int
    should_retry: object = None
    error_code: str = None
    message: str = None
    error_type: str = None

    def error(self):
        defaults = {
            402: ("card_error", "card_declined", "Your card was declined."),
            429: ("rate_limit_error", "rate_limit",
                  "Request rate limit exceeded. Learn more about rate limits "
                  "here https://stripe.com/docs/rate-limits."),
        }
        if self.status >= 500:
            kind, code, message = ("api_error", None,
                                   "An unknown error occurred")
        else:
            kind, code, message = defaults.get(
                self.status, ("invalid_request_error", None,
                              "The request could not be processed."))
        extra = {"decline_code": "generic_decline"} if self.status == 402 else {}
        return StripeApiError(self.status, self.message or message,
                              self.error_type or kind,
                              code=self.error_code or code, **extra)


# --- the stand-in ----------------------------------------------------------

class StripeStandin:
    """A stateful Stripe API on 127.0.0.1. port=None picks a free one.

    Python API for tests: fail_next(), delay_next(), requests, reset();
    confirm(), process(), fail_payment(), cancel(), dispute(),
    refund_event(), settle_refund(), event(); sign(), send_event();
    get_payment_intent(), get_charge(), get_refund(), get_event(),
    list_payment_intents(), list_refunds().

    Reconciliation: drop_webhooks = True makes the control paths apply
    their change without sending its event (a webhook Stripe never got
    through: "missed"); fail_list_page(n) fails the n-th list request.
    """

    def __init__(self, port=None, secret_key="sk_test_jklg",
                 webhook_secret="whsec_test_jklg", webhook_url=None,
                 api_version=API_VERSION, log=None):
        self.port = port or 0
        self.secret_key = secret_key
        self.webhook_secret = webhook_secret
        self.webhook_url = webhook_url
        self.api_version = api_version
        self.log = log or (lambda line: None)
        self.refund_status = "succeeded"
        self.drop_webhooks = False
        self.requests = []
        self._list_calls = 0
        self._list_faults = {}
        self._lock = threading.RLock()
        self._stopping = threading.Event()
        self._faults = []
        self._delays = []
        self._idempotency = {}
        self._in_flight = set()
        self._payment_intents = {}
        self._charges = {}
        self._refunds = {}
        self._refund_events = {}
        self._events = {}
        self._customers = {}
        self._payment_methods = {}
        self._off_session = []
        self._server = None
        self._thread = None

    # -- lifecycle

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def start(self):
        self._stopping.clear()
        self._server = _Server(("127.0.0.1", self.port), _Handler)
        self._server.standin = self
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={"poll_interval": 0.1},
                                        name="stripe-standin", daemon=True)
        self._thread.start()
        return self

    def stop(self):
        self._stopping.set()
        if self._server:
            self._server.shutdown()
            self._server.server_close()
            self._thread.join(5)
            self._server = None

    def reset(self):
        """Forget injected faults, delays and recorded requests, and answer
        refunds "succeeded" again. Objects and idempotency keys stay."""
        with self._lock:
            self._faults.clear()
            self._delays.clear()
            self.requests.clear()
            self._off_session.clear()
            self.refund_status = "succeeded"
            self.drop_webhooks = False
            self._list_faults.clear()

    # -- fault injection

    def fail_next(self, status, count=1, should_retry=None, error_code=None,
                  message=None, error_type=None):
        """The next `count` API requests (authenticated, to a known
        endpoint, not replayed) answer `status` with Stripe's error
        body (402 card_error, 429 rate_limit_error, 5xx api_error) and,
        unless should_retry is None, `Stripe-Should-Retry: true|false`.
        Nothing is executed, nothing stored under the idempotency key."""
        fault = _Fault(status, should_retry, error_code, message, error_type)
        with self._lock:
            self._faults.extend([fault] * count)

    def fail_list_page(self, n, status=500, attempts=3):
        """The n-th list request from now (1: the next) answers `status`,
        and so do its retries: `attempts` requests in a row, as many as a
        client's retries of one page (mod_jklg makes 3). Other requests
        are not counted."""
        fault = _Fault(status, None, None, None, None)
        with self._lock:
            base = self._list_calls
            for i in range(attempts):
                self._list_faults[base + n + i] = fault

    def delay_next(self, seconds, count=1):
        """The next `count` API requests (as for fail_next) wait `seconds`
        before any injected failure, then are executed and answered
        normally: the work is done even if the client gave up, as with a
        slow Stripe, and the idempotency key is in use meanwhile (409)."""
        with self._lock:
            self._delays.extend([seconds] * count)

    def api_requests(self, method=None, path=None):
        with self._lock:
            return [r for r in self.requests
                    if (method is None or r.method == method)
                    and (path is None or r.path == path)]

    # -- reading state

    def _get(self, table, object_id):
        with self._lock:
            obj = table.get(object_id)
            return copy.deepcopy(obj) if obj is not None else None

    def get_payment_intent(self, pi_id):
        return self._get(self._payment_intents, pi_id)

    def get_charge(self, charge_id):
        return self._get(self._charges, charge_id)

    def get_refund(self, refund_id):
        return self._get(self._refunds, refund_id)

    def get_event(self, event_id):
        return self._get(self._events, event_id)

    def list_payment_intents(self):
        with self._lock:
            return copy.deepcopy(list(self._payment_intents.values()))

    def list_refunds(self):
        with self._lock:
            return copy.deepcopy(list(self._refunds.values()))

    # -- driving payments (what the customer's browser and Stripe do)

    def _intent(self, pi_id):
        pi = self._payment_intents.get(pi_id)
        if pi is None:
            raise _no_such("payment_intent", pi_id, "intent")
        return pi

    @staticmethod
    def _require_status(pi, allowed, action):
        if pi["status"] not in allowed:
            done = {"cancel": "canceled", "confirm": "confirmed",
                    "fail": "failed", "process": "processed"}[action]
            raise StripeApiError(
                400, f"You cannot {action} this PaymentIntent because it has "
                f"a status of {pi['status']}. Only a PaymentIntent with one "
                f"of the following statuses may be {done}: "
                f"{', '.join(allowed)}.",
                code="payment_intent_unexpected_state",
                payment_intent=copy.deepcopy(pi))

    def confirm(self, pi_id):
        """The payment succeeds: a Charge, amount_received = amount.
        Returns the payment_intent.succeeded event."""
        with self._lock:
            pi = self._intent(pi_id)
            self._require_status(pi, CONFIRMABLE, "confirm")
            charge = self._new_charge(pi, succeeded=True)
            self._attach_if_saved(pi, charge)
            pi.update(status="succeeded", amount_received=pi["amount"],
                      latest_charge=charge["id"], last_payment_error=None,
                      payment_method=charge["payment_method"],
                      next_action=None)
            return self.event("payment_intent.succeeded", pi)

    # -- saved cards

    def _attach_if_saved(self, pi, charge):
        """A confirmed intent with setup_future_usage and a customer keeps
        its card: the PaymentMethod is attached to the customer, as Stripe
        does."""
        card = charge["payment_method_details"]["card"]
        pm = {"id": charge["payment_method"], "object": "payment_method",
              "type": "card", "customer": None, "created": int(time.time()),
              "livemode": False, "metadata": {},
              "billing_details": charge["billing_details"],
              "card": {"brand": card["brand"], "last4": card["last4"],
                       "exp_month": card["exp_month"],
                       "exp_year": card["exp_year"],
                       "country": card["country"], "funding": card["funding"],
                       "fingerprint": card["fingerprint"]}}
        if pi.get("setup_future_usage") and pi.get("customer"):
            pm["customer"] = pi["customer"]
        self._payment_methods[pm["id"]] = pm
        charge["customer"] = pi.get("customer")

    def fail_next_off_session(self, code="card_declined",
                              decline_code="generic_decline", count=1):
        """The next off-session confirmations fail as the card's bank says:
        code "authentication_required" (the bank wants 3-D Secure, the
        customer is not there) or "card_declined" with a decline_code."""
        with self._lock:
            self._off_session.extend([(code, decline_code)] * count)

    def list_customers(self):
        with self._lock:
            return copy.deepcopy(list(self._customers.values()))

    def list_payment_methods(self, customer=None):
        with self._lock:
            return [copy.deepcopy(pm) for pm in self._payment_methods.values()
                    if customer is None or pm["customer"] == customer]

    def get_payment_method(self, pm_id):
        with self._lock:
            return copy.deepcopy(self._payment_methods.get(pm_id))

    def process(self, pi_id):
        """An asynchronous method (bank debit) is under way."""
        with self._lock:
            pi = self._intent(pi_id)
            self._require_status(pi, CONFIRMABLE[:-1], "process")
            pi.update(status="processing", payment_method=new_id("pm_"))
            return self.event("payment_intent.processing", pi)

    def fail_payment(self, pi_id, message="Your card was declined.",
                     code="card_declined", decline_code="generic_decline"):
        """The attempt fails: back to requires_payment_method, with a failed
        Charge and last_payment_error. Returns payment_intent.payment_failed."""
        with self._lock:
            pi = self._intent(pi_id)
            self._require_status(pi, CONFIRMABLE, "fail")
            charge = self._new_charge(pi, succeeded=False, message=message,
                                      code=code)
            pi.update(status="requires_payment_method", payment_method=None,
                      latest_charge=charge["id"], last_payment_error={
                          "charge": charge["id"],
                          "code": code,
                          "decline_code": decline_code,
                          "doc_url": "https://stripe.com/docs/error-codes/"
                                     + code.replace("_", "-"),
                          "message": message,
                          "payment_method": {
                              "id": charge["payment_method"],
                              "object": "payment_method", "type": "card"},
                          "type": "card_error"})
            return self.event("payment_intent.payment_failed", pi)

    def cancel(self, pi_id, reason=None):
        """Returns payment_intent.canceled."""
        with self._lock:
            pi = self._intent(pi_id)
            self._require_status(pi, CANCELABLE, "cancel")
            pi.update(status="canceled", canceled_at=int(time.time()),
                      cancellation_reason=reason, next_action=None)
            return self.event("payment_intent.canceled", pi)

    def dispute(self, pi_id, amount=None, reason="fraudulent"):
        """The customer disputes the payment: charge.dispute.created."""
        with self._lock:
            charge = self._succeeded_charge(self._intent(pi_id))
            charge["disputed"] = True
            dispute = _dispute_object(charge, amount or charge["amount"],
                                      reason)
            return self.event("charge.dispute.created", dispute)

    def refund_event(self, refund_id):
        """The charge.refunded event of a refund: the Charge as it was right
        after that refund, amount_refunded cumulative. The same event (same
        id) each time, as a redelivery would be."""
        with self._lock:
            event_id = self._refund_events.get(refund_id)
            if event_id is None:
                raise _no_such("refund", refund_id, "id")
            return copy.deepcopy(self._events[event_id])

    def settle_refund(self, refund_id, status="succeeded"):
        """A pending refund ends (succeeded or failed): the
        charge.refund.updated event."""
        with self._lock:
            refund = self._refunds.get(refund_id)
            if refund is None:
                raise _no_such("refund", refund_id, "id")
            if refund["status"] != "pending":
                raise StripeApiError(400, f"Refund {refund_id} is not "
                                     "pending.")
            refund["status"] = status
            if status in ("failed", "canceled"):
                refund["failure_reason"] = "unknown"
                charge = self._charges[refund["charge"]]
                charge["amount_refunded"] -= refund["amount"]
                charge["refunded"] = False
            return self.event("charge.refund.updated", refund)

    def event(self, event_type, obj, request=None):
        """A full Event around a snapshot of obj, stored (GET
        /v1/events/{id}); returns a copy."""
        evt = {
            "api_version": self.api_version,
            "created": int(time.time()),
            "data": {"object": copy.deepcopy(obj)},
            "id": new_id("evt_"),
            "livemode": False,
            "object": "event",
            "pending_webhooks": 1,
            "request": request or {"id": None, "idempotency_key": None},
            "type": event_type,
        }
        with self._lock:
            self._events[evt["id"]] = evt
            return copy.deepcopy(evt)

    # -- objects

    def _new_charge(self, pi, succeeded, message=None, code=None):
        charge = _charge_object(pi, succeeded, message, code)
        self._charges[charge["id"]] = charge
        return charge

    def _succeeded_charge(self, pi):
        charge = self._charges.get(pi["latest_charge"] or "")
        if pi["status"] != "succeeded" or charge is None:
            raise StripeApiError(
                400, f"This PaymentIntent ({pi['id']}) does not have a "
                "successful charge to refund.",
                code="payment_intent_unexpected_state", param="payment_intent")
        return charge

    # -- webhooks

    def sign(self, payload, secret=None, timestamp=None):
        return sign(payload, secret or self.webhook_secret, timestamp)

    def send_event(self, event, url=None, secret=None, timestamp=None,
                   header=None, pretty=False, timeout=WEBHOOK_TIMEOUT):
        """POSTs the event as Stripe does (exact bytes signed; header=
        replaces the Stripe-Signature value). Returns the requests.Response."""
        url = url or self.webhook_url
        if not url:
            raise ValueError("no webhook URL")
        payload = event_payload(event, pretty)
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
            "Cache-Control": "no-cache",
            "Accept": "*/*; q=0.5, application/xml",
            "Stripe-Signature": (header if header is not None else
                                 self.sign(payload, secret, timestamp)),
        }
        return requests.post(url, data=payload, headers=headers,
                             timeout=timeout)

    def _deliver(self, event):
        out = {"event": event["id"], "type": event["type"], "delivered": None}
        if self.drop_webhooks:
            out["dropped"] = True
            self.log(f"  {event['type']} {event['id']} dropped")
            return out
        if not self.webhook_url:
            self.log(f"  {event['type']} {event['id']} (no webhook URL)")
            return out
        try:
            out["delivered"] = self.send_event(event).status_code
        except requests.RequestException as exc:
            out["error"] = str(exc)
        self.log(f"  sent {event['type']} {event['id']} to {self.webhook_url}"
                 f": {out['delivered'] or out.get('error')}")
        return out

    # -- HTTP

    def _dispatch(self, method, target, headers, body):
        """(status, body dict, headers dict) for one HTTP request."""
        parts = urlsplit(target)
        if parts.path.startswith("/_standin/"):
            return self._control(method, parts.path, headers, body)
        request_id = new_id("req_", 14)
        record = Request(method, parts.path, {},
                         CaseInsensitiveDict(list(headers.items())))
        parse_error = None
        try:
            record.params = _request_params(method, parts.query, headers,
                                            body)
        except StripeApiError as err:
            parse_error = err
        with self._lock:
            self.requests.append(record)
        out_headers = {"Request-Id": request_id,
                       "Stripe-Version": record.stripe_version
                       or self.api_version}
        if method == "POST" and record.idempotency_key:
            out_headers["Idempotency-Key"] = record.idempotency_key
        try:
            status, payload, extra = self._answer(record, parse_error,
                                                  request_id)
        except StripeApiError as err:
            status, payload, extra = err.status, err.body(), {}
        except Exception:   # a bug here: answer as Stripe would, and say so
            traceback.print_exc()
            err = StripeApiError(500, "An unknown error occurred",
                                 "api_error")
            status, payload, extra = err.status, err.body(), {}
        if status == 401:
            extra["WWW-Authenticate"] = 'Bearer realm="Stripe"'
        record.status = status
        self.log(f"{method} {parts.path} {status} "
                 f"{payload.get('id') or payload.get('error', {}).get('message', '')}"
                 + (" (replayed)" if record.replayed else "")
                 + (" (injected)" if record.injected else ""))
        return status, payload, {**out_headers, **extra}

    def _answer(self, record, parse_error, request_id):
        self._authenticate(record.headers)
        handler, object_id = self._route(record.method, record.path)
        key = record.idempotency_key if record.method == "POST" else None
        if key:
            stored = self._idempotency_begin(key, record)
            if stored:
                return stored
        try:
            self._wait_delay()
            fault = self._take_fault()
            if fault:
                record.injected = True
                err = fault.error()
                extra = ({} if fault.should_retry is None else
                         {"Stripe-Should-Retry":
                          "true" if fault.should_retry else "false"})
                return err.status, err.body(), extra
            stored_ok = True
            try:
                if parse_error:
                    raise parse_error
                context = {"id": request_id, "idempotency_key": key}
                status, payload = handler(record.params, object_id, context)
            except StripeApiError as err:
                status, payload, stored_ok = err.status, err.body(), err.stored
            if key and stored_ok and status < 500 and status != 429:
                with self._lock:
                    self._idempotency[key] = {
                        "method": record.method, "path": record.path,
                        "params": record.params, "status": status,
                        "body": copy.deepcopy(payload),
                        "request_id": request_id}
            return status, payload, {}
        finally:
            if key:
                with self._lock:
                    self._in_flight.discard(key)

    def _authenticate(self, headers):
        scheme, _, credentials = headers.get("Authorization", "").partition(" ")
        key = None
        if scheme.lower() == "bearer":
            key = credentials.strip()
        elif scheme.lower() == "basic":
            try:
                key = base64.b64decode(credentials.strip()).decode()
                key = key.partition(":")[0]
            except ValueError:
                key = None
        if not key:
            raise StripeApiError(401, _NO_KEY, stored=False)
        if not hmac.compare_digest(key.encode(), self.secret_key.encode()):
            raise StripeApiError(401, "Invalid API Key provided: "
                                 + mask_key(key), stored=False)

    def _route(self, method, path):
        for route_method, pattern, name in _ROUTES:
            m = pattern.fullmatch(path)
            if m and route_method == method:
                return getattr(self, name), m.groupdict().get("id")
        raise _unrecognized(method, path)

    def _idempotency_begin(self, key, record):
        if len(key) > 255:
            raise StripeApiError(400, "Invalid Idempotency-Key: it must be "
                                 "at most 255 characters long.", stored=False)
        with self._lock:
            stored = self._idempotency.get(key)
            if stored:
                same = (stored["method"], stored["path"], stored["params"]) == (
                    record.method, record.path, record.params)
                if not same:
                    raise StripeApiError(400, _IDEMPOTENCY_MISMATCH.format(key),
                                         "idempotency_error", stored=False)
                record.replayed = True
                return (stored["status"], copy.deepcopy(stored["body"]),
                        {"Idempotent-Replayed": "true",
                         "Original-Request": stored["request_id"]})
            if key in self._in_flight:
                raise StripeApiError(409, _IDEMPOTENCY_IN_USE,
                                     code="idempotency_key_in_use",
                                     stored=False)
            self._in_flight.add(key)
            return None

    def _wait_delay(self):
        with self._lock:
            seconds = self._delays.pop(0) if self._delays else 0
        if seconds:
            self._stopping.wait(seconds)

    def _take_fault(self):
        with self._lock:
            return self._faults.pop(0) if self._faults else None

    # -- API endpoints: (params, id, request context) -> (status, object)

    def _create_payment_intent(self, params, _id, _context):
        p = validate(params, PI_CREATE, required=("amount", "currency"))
        automatic = p.get("automatic_payment_methods", {}).get("enabled")
        if automatic and "payment_method_types" in p:
            raise _bad_param(
                "automatic_payment_methods", "You may only specify one of "
                "these parameters: automatic_payment_methods, "
                "payment_method_types.", "parameters_exclusive")
        pi = _payment_intent_object(p, automatic)
        pi["setup_future_usage"] = p.get("setup_future_usage")
        with self._lock:
            if "customer" in p and p["customer"] not in self._customers:
                raise _no_such("customer", p["customer"], "customer")
            pi["customer"] = p.get("customer")
            if p.get("confirm"):
                return self._confirm_off_session(pi, p)
            self._payment_intents[pi["id"]] = pi
            return 200, copy.deepcopy(pi)

    def _confirm_off_session(self, pi, p):
        """confirm=true with a saved PaymentMethod of the customer: paid at
        once, or the card error Stripe answers (402) with the intent left
        requires_payment_method."""
        pm = self._payment_methods.get(p.get("payment_method", ""))
        if pm is None:
            raise _no_such("payment_method", p.get("payment_method"),
                           "payment_method")
        if pm["customer"] is None or pm["customer"] != p.get("customer"):
            raise _bad_param("payment_method", "The provided PaymentMethod "
                             "was previously used with a PaymentIntent "
                             "without Customer attachment, or it is detached.")
        self._payment_intents[pi["id"]] = pi
        pi["payment_method"] = pm["id"]
        if self._off_session:
            code, decline = self._off_session.pop(0)
            message = ("Your card was declined. This transaction requires "
                       "authentication." if code == "authentication_required"
                       else "Your card was declined.")
            charge = self._new_charge(pi, succeeded=False, message=message,
                                      code=code)
            charge["payment_method"] = pm["id"]
            error = {"type": "card_error", "code": code, "message": message,
                     "payment_method": copy.deepcopy(pm)}
            if code != "authentication_required":
                error["decline_code"] = decline
            pi.update(status="requires_payment_method",
                      latest_charge=charge["id"], last_payment_error=error)
            extra = {"payment_intent": copy.deepcopy(pi)}
            if code != "authentication_required":
                extra["decline_code"] = decline
            raise StripeApiError(402, message, error_type="card_error",
                                 code=code, **extra)
        charge = self._new_charge(pi, succeeded=True)
        charge["payment_method"] = pm["id"]
        charge["customer"] = pm["customer"]
        pi.update(status="succeeded", amount_received=pi["amount"],
                  latest_charge=charge["id"], last_payment_error=None)
        self.event("payment_intent.succeeded", pi)
        return 200, copy.deepcopy(pi)

    def _create_customer(self, params, _id, _context):
        p = validate(params, CUSTOMER_CREATE)
        cus = {"id": new_id("cus_"), "object": "customer",
               "created": int(time.time()), "email": p.get("email"),
               "name": p.get("name"), "metadata": p.get("metadata", {}),
               "livemode": False}
        with self._lock:
            self._customers[cus["id"]] = cus
            return 200, copy.deepcopy(cus)

    def _detach_payment_method(self, params, pm_id, _context):
        validate(params, PM_DETACH)
        with self._lock:
            pm = self._payment_methods.get(pm_id)
            if pm is None:
                raise _no_such("payment_method", pm_id, "payment_method")
            if pm["customer"] is None:
                raise StripeApiError(400, "The payment method you provided "
                                     "is not attached to a customer so "
                                     "detachment is impossible.",
                                     code="payment_method_unexpected_state")
            pm["customer"] = None
            return 200, copy.deepcopy(pm)

    def _get_payment_intent(self, params, pi_id, _context):
        validate(params, RETRIEVE)
        with self._lock:
            return 200, copy.deepcopy(self._intent(pi_id))

    def _cancel_payment_intent(self, params, pi_id, _context):
        p = validate(params, PI_CANCEL)
        with self._lock:
            self.cancel(pi_id, p.get("cancellation_reason"))
            return 200, copy.deepcopy(self._intent(pi_id))

    def _create_refund(self, params, _id, context):
        p = validate(params, REFUND_CREATE)
        if "payment_intent" not in p and "charge" not in p:
            raise _bad_param("payment_intent", "One of the following params "
                             "should be provided for this request: "
                             "payment_intent or charge.", "parameter_missing")
        with self._lock:
            charge = self._refundable_charge(p)
            remaining = charge["amount"] - charge["amount_refunded"]
            if remaining <= 0:
                raise StripeApiError(400, f"Charge {charge['id']} has already "
                                     "been refunded.",
                                     code="charge_already_refunded")
            amount = p.get("amount", remaining)
            if amount > remaining:
                raise StripeApiError(
                    400, f"Refund amount ({_money(amount, charge)}) is "
                    "greater than unrefunded amount on charge "
                    f"({_money(remaining, charge)})",
                    code="amount_too_large", param="amount")
            refund = _refund_object(charge, amount, p, self.refund_status)
            self._refunds[refund["id"]] = refund
            charge["amount_refunded"] += amount
            charge["refunded"] = charge["amount_refunded"] == charge["amount"]
            charge["refunds"]["data"].insert(0, refund)
            charge["refunds"]["total_count"] += 1
            event = self.event("charge.refunded", charge, request={
                "id": context["id"],
                "idempotency_key": context["idempotency_key"]})
            self._refund_events[refund["id"]] = event["id"]
            return 200, copy.deepcopy(refund)

    def _refundable_charge(self, p):
        if "payment_intent" in p:
            pi = self._payment_intents.get(p["payment_intent"])
            if pi is None:
                raise _no_such("payment_intent", p["payment_intent"],
                               "payment_intent")
            charge = self._succeeded_charge(pi)
            if p.get("charge", charge["id"]) != charge["id"]:
                raise _bad_param("charge", f"The charge {p['charge']} does "
                                 f"not belong to PaymentIntent {pi['id']}.")
            return charge
        charge = self._charges.get(p["charge"])
        if charge is None:
            raise _no_such("charge", p["charge"], "charge")
        if charge["status"] != "succeeded":
            raise StripeApiError(400, f"Charge {charge['id']} has failed and "
                                 "cannot be refunded.",
                                 code="charge_not_refundable", param="charge")
        return charge

    def _retriever(table_name, kind):
        def retrieve(self, params, object_id, _context):
            validate(params, RETRIEVE)
            with self._lock:
                obj = getattr(self, table_name).get(object_id)
                if obj is None:
                    raise _no_such(kind, object_id, "id")
                return 200, copy.deepcopy(obj)
        return retrieve

    def _lister(table_name, url):
        def list_objects(self, params, _id, _context):
            p = validate(params, LIST)
            limit = p.get("limit", 10)
            with self._lock:
                self._list_calls += 1
                fault = self._list_faults.pop(self._list_calls, None)
                if fault:
                    raise fault.error()
                # Newest first; objects of one second in reverse order of
                # creation, as Stripe lists them.
                objs = [o for o in reversed(list(
                            getattr(self, table_name).values()))
                        if _created_matches(o["created"],
                                            p.get("created", {}))]
                after = p.get("starting_after")
                if after is not None:
                    ids = [o["id"] for o in objs]
                    if after not in ids:
                        raise _no_such("object", after, "starting_after")
                    objs = objs[ids.index(after) + 1:]
                return 200, {"object": "list", "url": url,
                             "has_more": len(objs) > limit,
                             "data": copy.deepcopy(objs[:limit])}
        return list_objects

    _list_events = _lister("_events", "/v1/events")
    _list_payment_intents = _lister("_payment_intents", "/v1/payment_intents")
    _list_refunds = _lister("_refunds", "/v1/refunds")
    del _lister

    _get_refund = _retriever("_refunds", "refund")
    _get_charge = _retriever("_charges", "charge")
    _get_event_api = _retriever("_events", "event")
    _get_payment_method = _retriever("_payment_methods", "payment_method")
    del _retriever

    # -- control paths for `make run`

    def _js_confirm(self, params):
        """What the stand-in Stripe.js's confirmPayment asks for: the
        browser holds only the client secret, so that is what is checked."""
        secret = params.get("client_secret", "")
        pi_id = secret.partition("_secret_")[0]
        with self._lock:
            pi = self._payment_intents.get(pi_id)
            if pi is None or not hmac.compare_digest(
                    pi["client_secret"].encode(), secret.encode()):
                raise StripeApiError(
                    400, "The client_secret provided does not match any "
                    "associated PaymentIntent on this account.",
                    code="payment_intent_invalid_parameter",
                    param="client_secret")
        outcome = params.get("outcome", "succeed")
        if outcome == "decline":
            event = self.fail_payment(pi_id)
        elif outcome == "process":
            event = self.process(pi_id)
        elif outcome == "succeed":
            event = self.confirm(pi_id)
        else:
            raise _bad_param("outcome", f"Invalid outcome: {outcome}")
        delivered = self._deliver(event)
        pi = self.get_payment_intent(pi_id)
        return {"payment_intent": {
            "id": pi["id"], "status": pi["status"],
            "last_payment_error": pi["last_payment_error"]},
            "delivered": delivered["delivered"]}

    def _control(self, method, path, headers, body):
        # The stand-in Stripe.js calls from the pages' origin (CORS).
        cors = {"Access-Control-Allow-Origin": "*"}
        if path == "/_standin/js/confirm":
            try:
                if method != "POST":
                    raise _unrecognized(method, path)
                answer = self._js_confirm(
                    _request_params("POST", "", headers, body))
            except StripeApiError as err:
                self.log(f"{method} {path} {err.status} {err}")
                return err.status, err.body(), cors
            self.log(f"{method} {path} {answer['payment_intent']['status']}")
            return 200, answer, cors
        try:
            params = _request_params("POST", "", headers, body)
            if method == "GET" and path == "/_standin/payment_intents":
                return 200, {"object": "list",
                             "data": self.list_payment_intents()}, {}
            m = _CONTROL.fullmatch(path)
            if method != "POST" or not m:
                raise _unrecognized(method, path)
            kind, object_id, action = m.group("kind", "id", "action")
            event = self._control_event(kind, object_id, action, params)
        except StripeApiError as err:
            self.log(f"{method} {path} {err.status} {err}")
            return err.status, err.body(), {}
        self.log(f"{method} {path}")
        return 200, self._deliver(event), {}

    def _control_event(self, kind, object_id, action, params):
        if kind == "payment_intents":
            if action == "confirm":
                return self.confirm(object_id)
            if action == "process":
                return self.process(object_id)
            if action == "cancel":
                return self.cancel(object_id, params.get("reason"))
            if action == "fail":
                return self.fail_payment(
                    object_id, params.get("message", "Your card was declined."))
            if action == "dispute":
                amount = params.get("amount")
                return self.dispute(object_id,
                                    _amount(amount, "amount") if amount else None)
        if kind == "refunds" and action == "webhook":
            return self.refund_event(object_id)
        if kind == "events" and action == "send":
            event = self.get_event(object_id)
            if event is None:
                raise _no_such("event", object_id, "id")
            return event
        raise _unrecognized("POST", f"/_standin/{kind}/{object_id}/{action}")


_ROUTES = [(method, re.compile(pattern), name) for method, pattern, name in [
    ("POST", r"/v1/payment_intents", "_create_payment_intent"),
    ("GET", r"/v1/payment_intents/(?P<id>[^/]+)", "_get_payment_intent"),
    ("POST", r"/v1/payment_intents/(?P<id>[^/]+)/cancel",
     "_cancel_payment_intent"),
    ("POST", r"/v1/refunds", "_create_refund"),
    ("GET", r"/v1/refunds/(?P<id>[^/]+)", "_get_refund"),
    ("GET", r"/v1/charges/(?P<id>[^/]+)", "_get_charge"),
    ("GET", r"/v1/events/(?P<id>[^/]+)", "_get_event_api"),
    ("POST", r"/v1/customers", "_create_customer"),
    ("GET", r"/v1/payment_methods/(?P<id>[^/]+)", "_get_payment_method"),
    ("POST", r"/v1/payment_methods/(?P<id>[^/]+)/detach",
     "_detach_payment_method"),
    ("GET", r"/v1/events", "_list_events"),
    ("GET", r"/v1/payment_intents", "_list_payment_intents"),
    ("GET", r"/v1/refunds", "_list_refunds"),
]]
_CONTROL = re.compile(r"/_standin/(?P<kind>payment_intents|refunds|events)/"
                      r"(?P<id>[^/]+)/(?P<action>[a-z]+)")


def _request_params(method, query, headers, body):
    text = query
    if method == "POST" and body:
        ctype = headers.get("Content-Type", "").split(";")[0].strip().lower()
        if ctype != "application/x-www-form-urlencoded":
            raise StripeApiError(
                400, "Invalid request: request parameters must be sent as "
                "application/x-www-form-urlencoded, not "
                f"'{ctype or 'no content type'}'.", stored=False)
        try:
            text = "&".join(filter(None, [query, body.decode("utf-8")]))
        except UnicodeDecodeError:
            raise StripeApiError(400, "Invalid request: the body is not "
                                 "valid UTF-8.", stored=False) from None
    return parse_form(text)


def _money(amount, obj):
    return f"{amount / 100:.2f} {obj['currency']}"


# --- object shapes (keys as in stripe/openapi's fixtures) -----------------

def _payment_intent_object(p, automatic):
    pi_id = new_id("pi_")
    return {
        "id": pi_id,
        "object": "payment_intent",
        "amount": p["amount"],
        "amount_capturable": 0,
        "amount_details": {"tip": {}},
        "amount_received": 0,
        "application": None,
        "application_fee_amount": None,
        "automatic_payment_methods": ({"allow_redirects": p[
            "automatic_payment_methods"].get("allow_redirects", "always"),
            "enabled": True} if automatic else None),
        "canceled_at": None,
        "cancellation_reason": None,
        "capture_method": "automatic",
        "client_secret": f"{pi_id}_secret_{new_id('', 25)}",
        "confirmation_method": "automatic",
        "created": int(time.time()),
        "currency": p["currency"],
        "customer": None,
        "customer_account": None,
        "description": p.get("description"),
        "excluded_payment_method_types": None,
        "last_payment_error": None,
        "latest_charge": None,
        "livemode": False,
        "managed_payments": None,
        "metadata": p.get("metadata", {}),
        "next_action": None,
        "on_behalf_of": None,
        "payment_method": None,
        "payment_method_configuration_details": (
            {"id": new_id("pmc_"), "parent": None} if automatic else None),
        "payment_method_options": {"card": {
            "installments": None, "mandate_options": None, "network": None,
            "request_three_d_secure": "automatic"}},
        "payment_method_types": p.get("payment_method_types", ["card"]),
        "processing": None,
        "receipt_email": p.get("receipt_email"),
        "review": None,
        "setup_future_usage": None,
        "shipping": None,
        "source": None,
        "statement_descriptor": None,
        "statement_descriptor_suffix": None,
        "status": "requires_payment_method",
        "transfer_data": None,
        "transfer_group": None,
    }


def _charge_object(pi, succeeded, message=None, code=None):
    charge_id = new_id("ch_")
    amount = pi["amount"]
    address = dict.fromkeys(["city", "country", "line1", "line2",
                             "postal_code", "state"])
    if succeeded:
        outcome = {"network_status": "approved_by_network", "reason": None,
                   "risk_level": "normal", "risk_score": 32,
                   "seller_message": "Payment complete.", "type": "authorized"}
    else:
        outcome = {"network_status": "declined_by_network",
                   "reason": "generic_decline", "risk_level": "normal",
                   "risk_score": 41,
                   "seller_message": "The bank did not return any further "
                   "details with this decline.", "type": "issuer_declined"}
    outcome.update(advice_code=None, network_advice_code=None,
                   network_decline_code=None)
    return {
        "id": charge_id,
        "object": "charge",
        "amount": amount,
        "amount_captured": amount if succeeded else 0,
        "amount_refunded": 0,
        "application": None,
        "application_fee": None,
        "application_fee_amount": None,
        "balance_transaction": new_id("txn_") if succeeded else None,
        "billing_details": {"address": address, "email": None, "name": None,
                            "phone": None, "tax_id": None},
        "calculated_statement_descriptor": "JKLG TRAVEL",
        "captured": succeeded,
        "created": int(time.time()),
        "currency": pi["currency"],
        "customer": None,
        "description": pi["description"],
        "disputed": False,
        "failure_balance_transaction": None,
        "failure_code": None if succeeded else code,
        "failure_message": None if succeeded else message,
        "fraud_details": {},
        "livemode": False,
        "metadata": copy.deepcopy(pi["metadata"]),
        "on_behalf_of": None,
        "outcome": outcome,
        "paid": succeeded,
        "payment_intent": pi["id"],
        "payment_method": new_id("pm_"),
        "payment_method_details": {"card": {
            "amount_authorized": amount if succeeded else None,
            "brand": "visa",
            "checks": {"address_line1_check": None,
                       "address_postal_code_check": None,
                       "cvc_check": "pass"},
            "country": "US", "exp_month": 12, "exp_year": 2034,
            "fingerprint": new_id("", 16), "funding": "credit",
            "last4": "4242" if succeeded else "0002", "network": "visa",
            "three_d_secure": None, "wallet": None}, "type": "card"},
        "receipt_email": pi["receipt_email"],
        "receipt_number": None,
        "receipt_url": ("https://pay.stripe.com/receipts/payment/"
                        + new_id("", 40)),
        "refunded": False,
        "refunds": {"object": "list", "data": [], "has_more": False,
                    "total_count": 0, "url": f"/v1/charges/{charge_id}/refunds"},
        "review": None,
        "shipping": None,
        "source": None,
        "source_transfer": None,
        "statement_descriptor": None,
        "statement_descriptor_suffix": None,
        "status": "succeeded" if succeeded else "failed",
        "transfer_data": None,
        "transfer_group": None,
    }


def _refund_object(charge, amount, p, status):
    return {
        "id": new_id("re_"),
        "object": "refund",
        "amount": amount,
        "balance_transaction": new_id("txn_"),
        "charge": charge["id"],
        "created": int(time.time()),
        "currency": charge["currency"],
        "customer": None,
        "customer_account": None,
        "destination_details": {"card": {"reference_status": "pending",
                                          "type": "refund"}, "type": "card"},
        "metadata": p.get("metadata", {}),
        "payment_intent": charge["payment_intent"],
        "payment_method": charge["payment_method"],
        "reason": p.get("reason"),
        "receipt_number": None,
        "source_transfer_reversal": None,
        "status": status,
        "transfer_reversal": None,
    }


def _dispute_object(charge, amount, reason):
    evidence = dict.fromkeys([
        "access_activity_log", "billing_address", "cancellation_policy",
        "cancellation_policy_disclosure", "cancellation_rebuttal",
        "customer_communication", "customer_email_address", "customer_name",
        "customer_purchase_ip", "customer_signature",
        "duplicate_charge_documentation", "duplicate_charge_explanation",
        "duplicate_charge_id", "product_description", "receipt",
        "refund_policy", "refund_policy_disclosure",
        "refund_refusal_explanation", "service_date", "service_documentation",
        "shipping_address", "shipping_carrier", "shipping_date",
        "shipping_documentation", "shipping_tracking_number",
        "uncategorized_file", "uncategorized_text"])
    evidence["enhanced_evidence"] = {}
    return {
        "id": new_id("dp_"),
        "object": "dispute",
        "amount": amount,
        "balance_transactions": [],
        "charge": charge["id"],
        "created": int(time.time()),
        "currency": charge["currency"],
        "enhanced_eligibility_types": [],
        "evidence": evidence,
        "evidence_details": {"due_by": int(time.time()) + 14 * 86400,
                             "enhanced_eligibility": {},
                             "has_evidence": False, "past_due": False,
                             "submission_count": 0},
        "is_charge_refundable": False,
        "livemode": False,
        "metadata": {},
        "payment_intent": charge["payment_intent"],
        "payment_method_details": {"card": {
            "brand": "visa", "case_type": "chargeback",
            "network_reason_code": "10.4", "network": "visa"},
            "type": "card"},
        "reason": reason,
        "status": "needs_response",
    }


# --- HTTP server -----------------------------------------------------------

class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def handle_error(self, request, client_address):
        if not isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 60

    def version_string(self):
        return "stripe-standin"

    def do_GET(self):
        self._handle()

    do_POST = do_DELETE = do_PUT = do_PATCH = do_GET

    def log_message(self, format, *args):
        pass

    def _read_body(self):
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks = []
            while True:
                size = int(self.rfile.readline(1024).split(b";")[0] or b"0",
                           16)
                if size == 0:
                    while self.rfile.readline(1024) not in (b"\r\n", b"\n",
                                                            b""):
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline(1024)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _handle(self):
        if self.command == "GET" and self.path.split("?")[0] in ("/v3",
                                                                 "/v3/"):
            return self._send_js()
        body = self._read_body()
        status, payload, headers = self.server.standin._dispatch(
            self.command, self.path, self.headers, body)
        data = json.dumps(payload, indent=2).encode() + b"\n"
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-cache, no-store")
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)


    def _send_js(self):
        data = STRIPE_JS.read_bytes()
        self.send_response(200)
        self.send_header("Content-Type", "text/javascript; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-cache")
        self.end_headers()
        self.wfile.write(data)


STRIPE_JS = Path(__file__).with_name("stripe_js_standin.js")


# --- command line, for `make run` ------------------------------------------

def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="python3 -m harness.stripe",
        description="Stripe API stand-in on 127.0.0.1, in the foreground.")
    parser.add_argument("--port", type=int, default=12111)
    parser.add_argument("--secret-key", default="sk_test_jklg")
    parser.add_argument("--webhook-secret", default="whsec_test_jklg")
    parser.add_argument("--webhook-url", default=None,
                        help="where control actions send signed events")
    parser.add_argument("--api-version", default=API_VERSION)
    args = parser.parse_args(argv)

    def say(line):
        print(line, flush=True)

    standin = StripeStandin(port=args.port, secret_key=args.secret_key,
                            webhook_secret=args.webhook_secret,
                            webhook_url=args.webhook_url,
                            api_version=args.api_version, log=say)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    standin.start()
    say(f"Stripe stand-in on {standin.url} (key {mask_key(args.secret_key)}, "
        f"webhooks to {args.webhook_url or 'nowhere'})")
    say(f"  pay:    curl -X POST {standin.url}/_standin/payment_intents/"
        "<pi_id>/confirm")
    say("  others: .../fail, .../process, .../cancel, .../dispute, "
        "/_standin/refunds/<re_id>/webhook")
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        standin.stop()
        say("Stripe stand-in stopped")


if __name__ == "__main__":
    main()
