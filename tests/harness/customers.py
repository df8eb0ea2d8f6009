"""Shared helpers for the customer-account suites (test_customers_*.py):
clients that act from their own IP (X-Forwarded-For) and user agent, unique
email addresses, the register → email → verify → login flow through the
real SMTP stand-in, response checks, and JWT forging with hmac/base64 only.

Every test acts from a random client address so that per-IP rate limits
counted by other tests never interfere."""

import base64
import hashlib
import hmac
import json
import random
import re
import subprocess
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone

import requests

API = "/api/customers"
PASSWORD = "Correct horse battery staple 7"
REGISTERED = {"message": "Check your inbox: we sent you an email with the next step."}
TOKEN_RE = r"[A-Za-z0-9_-]+"
VERIFY_LINK = re.compile(r"https://travel\.test/verify-email\?token=(" + TOKEN_RE + ")")
RESET_LINK = re.compile(r"https://travel\.test/reset-password/(" + TOKEN_RE + ")")
TS_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
DATE_RE = re.compile(r"^\d{4}-\d\d-\d\d$")
WEEK = 7 * 24 * 3600

CUSTOMER_KEYS = {"id", "email", "first_name", "last_name", "phone",
                 "email_verified", "created_at"}
SESSION_KEYS = {"id", "ip", "user_agent", "created_at", "last_seen_at",
                "expires_at", "current"}
ADDRESS_KEYS = {"id", "label", "line1", "line2", "city", "region",
                "postal_code", "country", "is_default", "created_at"}
PREFERENCE_KEYS = {"language", "currency", "marketing_emails", "newsletter"}
DEFAULT_PREFERENCES = {"language": "en", "currency": "eur",
                       "marketing_emails": False, "newsletter": False}
BOOKING_KEYS = {"id", "reference", "description", "travel_start", "travel_end",
                "amount_total", "amount_paid", "amount_refunded", "currency",
                "status", "payment_status", "schedule", "cancellation_policy",
                "created_at"}
TRANSACTION_KEYS = {"id", "booking_id", "gateway", "gateway_ref", "amount",
                    "amount_refunded", "currency", "status", "failure_reason",
                    "created_at", "updated_at"}
# Fields a customer must never be able to set; every body refuses them.
FORBIDDEN_FIELDS = {"role": "admin", "email_verified": True,
                    "id": "00000000-0000-4000-8000-000000000000"}

_NOBODY = object()
_OWN = object()


# --------------------------------------------------------------- identities

def random_ip():
    """A random address in 10.0.0.0/8: with 16 million of them, two tests
    (or two clients of one test) practically never share a per-IP rate
    limit counter, which the 254 addresses of 198.51.100.0/24 could not
    promise across a whole run."""
    return "10.%d.%d.%d" % (random.randrange(256), random.randrange(256),
                            random.randrange(1, 255))


def prefix24():
    """A random 10.a.b.0/24 prefix ("10.a.b."): a network of the test's
    own (practically never another test's), for rules counted per /24."""
    return "10.%d.%d." % (uuid.uuid4().int % 256, uuid.uuid4().int % 251)


def unique_ips(n):
    ips = set()
    while len(ips) < n:
        ips.add("10.%d.%d.%d" % (random.randrange(256), random.randrange(256),
                                 random.randrange(1, 255)))
    return list(ips)


def new_email(tag="cust"):
    return f"{tag}-{uuid.uuid4().hex[:16]}@customers.jklg.test"


# ------------------------------------------------------------------ clients

class Client:
    """One device of a customer: a client IP (sent as X-Forwarded-For, which
    mod_remoteip turns into the client address), a user agent and, once
    logged in, a bearer token."""

    def __init__(self, server, ip=None, ua=None, token=None):
        self.server = server
        self.base = server.url + API
        self.ip = ip or random_ip()
        self.ua = ua or f"jklg-tests/{uuid.uuid4().hex[:8]}"
        self.token = token

    def request(self, method, path, body=_NOBODY, token=_OWN, headers=None,
                **kwargs):
        h = {"X-Forwarded-For": self.ip, "User-Agent": self.ua}
        tok = self.token if token is _OWN else token
        if tok is not None:
            h["Authorization"] = f"Bearer {tok}"
        h.update(headers or {})
        if body is not _NOBODY:
            kwargs["json"] = body
        return requests.request(method, self.base + path, headers=h,
                                timeout=120, **kwargs)

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post(self, path, body=_NOBODY, **kw):
        return self.request("POST", path, body, **kw)

    def patch(self, path, body=_NOBODY, **kw):
        return self.request("PATCH", path, body, **kw)

    def put(self, path, body=_NOBODY, **kw):
        return self.request("PUT", path, body, **kw)

    def delete(self, path, **kw):
        return self.request("DELETE", path, **kw)

    def login(self, email, password):
        """POST /login; on 200 the client keeps the token."""
        resp = self.post("/login", {"email": email, "password": password})
        if resp.status_code == 200:
            self.token = resp.json()["token"]
        return resp


def bearer(token):
    return {"Authorization": f"Bearer {token}"}


# ------------------------------------------------------------------- checks

def assert_json(resp, status):
    assert resp.status_code == status, (resp.status_code, resp.text)
    assert resp.headers["Content-Type"] == "application/json; charset=utf-8"
    return resp.json()


def assert_error(resp, status, code):
    body = assert_json(resp, status)
    assert set(body) == {"error"}, body
    err = body["error"]
    assert err["code"] == code, body
    assert isinstance(err["message"], str) and err["message"], body
    return err


def assert_fields(resp, *names):
    """422 validation_failed naming (at least) these fields; returns them."""
    err = assert_error(resp, 422, "validation_failed")
    assert isinstance(err.get("fields"), dict), err
    missing = set(names) - set(err["fields"])
    assert not missing, (missing, err)
    for name in names:
        assert isinstance(err["fields"][name], str) and err["fields"][name]
    return err["fields"]


def assert_unauthorized(resp):
    assert_error(resp, 401, "unauthorized")
    challenge = resp.headers.get("WWW-Authenticate", "")
    assert re.match(r"^Bearer\b", challenge), challenge


def assert_no_store(resp):
    cache = resp.headers.get("Cache-Control", "")
    assert "no-store" in [d.strip().lower() for d in cache.split(",")], cache


def parse_ts(value):
    assert isinstance(value, str) and TS_RE.match(value), value
    return datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ").replace(
        tzinfo=timezone.utc).timestamp()


def assert_customer(customer, email=None, verified=True):
    assert set(customer) == CUSTOMER_KEYS, customer
    uuid.UUID(customer["id"])
    if email is not None:
        assert customer["email"] == email
    assert customer["email_verified"] is verified
    parse_ts(customer["created_at"])


def assert_session(session):
    assert set(session) == SESSION_KEYS, session
    uuid.UUID(session["id"])
    for key in ("created_at", "last_seen_at", "expires_at"):
        parse_ts(session[key])
    assert isinstance(session["current"], bool)


# -------------------------------------------------------------------- email

def text_part(msg):
    return msg.get_body(preferencelist=("plain",)).get_content()


def html_part(msg):
    return msg.get_body(preferencelist=("html",)).get_content()


def mail_tokens(mail, to, link, count=1):
    """Tokens from `link` in the text parts of the messages for `to`, once at
    least `count` such messages arrived, in arrival order."""
    deadline = time.monotonic() + 30
    while True:
        tokens = [m.group(1) for _, _, msg in mail.received(to)
                  for m in [link.search(text_part(msg))] if m]
        if len(tokens) >= count or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert len(tokens) >= count, f"no {link.pattern} mail for {to}: " \
        f"{[msg['Subject'] for _, _, msg in mail.received(to)]}"
    for token in tokens:
        assert len(token) == 43, token
    return tokens


def verification_token(mail, to, count=1):
    return mail_tokens(mail, to, VERIFY_LINK, count)[-1]


def reset_token(mail, to, count=1):
    return mail_tokens(mail, to, RESET_LINK, count)[-1]


def assert_rate_limited(resp, window):
    """A 429 rate_limited whose Retry-After is within the rule's window."""
    assert_error(resp, 429, "rate_limited")
    retry = resp.headers["Retry-After"]
    assert retry.isdigit() and 0 < int(retry) <= window, retry


def me(server, token):
    """GET /api/customers/me on `server` with this access token."""
    return Client(server).get("/me", token=token)


def wait_subject(mail, to, needle, timeout=30):
    """The first message for `to` whose subject contains `needle`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for _, _, msg in mail.received(to):
            if needle in msg["Subject"]:
                return msg
        time.sleep(0.05)
    raise AssertionError(f"no mail '{needle}' for {to}: "
                         f"{[m['Subject'] for _, _, m in mail.received(to)]}")


# ---------------------------------------------------------------- accounts

@dataclass
class Account:
    email: str
    password: str
    client: Client
    customer: dict = field(default_factory=dict)
    session: dict = field(default_factory=dict)

    @property
    def token(self):
        return self.client.token

    @property
    def id(self):
        return self.customer["id"]


def registration(email, password=PASSWORD, **extra):
    body = {"email": email, "password": password, "first_name": "Ana",
            "last_name": "Silva"}
    body.update(extra)
    return body


def register(server, email, password=PASSWORD, client=None, **extra):
    client = client or Client(server)
    resp = client.post("/register", registration(email, password, **extra))
    assert assert_json(resp, 202) == REGISTERED
    return resp


def register_unverified(server, mail, email=None, password=PASSWORD, **extra):
    """Registers and returns (email, verification token) without using it."""
    email = email or new_email()
    register(server, email, password, **extra)
    return email, verification_token(mail, email)


def verify(server, token, client=None):
    return (client or Client(server)).post("/verify-email", {"token": token})


def register_verified(server, mail, email=None, password=PASSWORD,
                      login=True, **extra):
    """The real flow: register, read the link from the email, verify, and
    (unless login=False) log in from a fresh client."""
    email, token = register_unverified(server, mail, email, password, **extra)
    resp = verify(server, token)
    customer = assert_json(resp, 200)["customer"]
    account = Account(email, password, Client(server), customer)
    if login:
        body = assert_json(account.client.login(email, password), 200)
        account.session = body["session"]
    return account


def login_again(server, account, ip=None, ua=None):
    """A second device of the same customer: (client, login body)."""
    client = Client(server, ip=ip, ua=ua)
    body = assert_json(client.login(account.email, account.password), 200)
    return client, body


def customer_id(db, email):
    with db.cursor() as cur:
        cur.execute("SELECT id FROM customers WHERE email = %s", (email,))
        row = cur.fetchone()
    return str(row[0]) if row else None


def bcrypt_hash(password, prefix="$2y$"):
    """A bcrypt hash as Apache's htpasswd makes it ($2y$), optionally with
    another prefix ($2b$, $2a$: same algorithm for ASCII passwords)."""
    out = subprocess.run(["htpasswd", "-nbB", "x", password], check=True,
                         capture_output=True, text=True).stdout.strip()
    hashed = out.split(":", 1)[1]
    assert hashed.startswith("$2y$"), hashed
    return prefix + hashed[4:]


# ---------------------------------------------------------------------- JWT

def b64u(data):
    if isinstance(data, str):
        data = data.encode()
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64u_decode(text):
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def jwt_split(token):
    """(header dict, claims dict, signature text) of a compact JWS."""
    header, payload, signature = token.split(".")
    return (json.loads(b64u_decode(header)), json.loads(b64u_decode(payload)),
            signature)


def hs_sign(signing_input, secret, digest=hashlib.sha256):
    if isinstance(secret, str):
        secret = secret.encode()
    return b64u(hmac.new(secret, signing_input.encode("ascii"), digest).digest())


def jwt_encode(header, claims, secret, digest=hashlib.sha256):
    """Compact JWS with an HMAC signature; header and claims are dicts (or
    bytes/str taken as they are)."""
    def part(value):
        if isinstance(value, dict):
            value = json.dumps(value, separators=(",", ":"))
        return b64u(value)
    signing_input = part(header) + "." + part(claims)
    return signing_input + "." + hs_sign(signing_input, secret, digest)


def header_for(kid="k2", alg="HS256"):
    header = {"alg": alg, "typ": "JWT"}
    if kid is not None:
        header["kid"] = kid
    return header


def claims_for(server, customer_id, session_id, now=None, **changes):
    """Valid claims for a session; a change of None removes the claim."""
    now = int(now if now is not None else time.time())
    claims = {"iss": server.issuer, "sub": customer_id, "sid": session_id,
              "iat": now, "exp": now + WEEK}
    for key, value in changes.items():
        if value is None:
            claims.pop(key, None)
        else:
            claims[key] = value
    return claims


def forge(server, claims, kid="k2", secret_kid=None, alg="HS256"):
    """A token signed with the configured secret of `secret_kid` (default:
    the header's kid)."""
    secret = server.jwt_keys[secret_kid or kid]
    return jwt_encode(header_for(kid, alg), claims, secret)


def noncanonical(part):
    """The same bytes, spelled with different stray low bits in the last
    character (e.g. 'A' <-> 'B', 'Q' <-> 'R')."""
    alphabet = ("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                "0123456789-_")
    assert len(part) % 4 in (2, 3), part
    last = alphabet[alphabet.index(part[-1]) ^ 1]
    other = part[:-1] + last
    assert b64u_decode(other) == b64u_decode(part)
    assert other != part
    return other
