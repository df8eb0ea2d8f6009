"""The bearer-token matrix (docs/customers.md, "Tokens and sessions"):
tokens are forged here with hmac/base64 and the configured secrets, so each
case differs from a valid token in exactly one respect. Everything that is
not a canonical, HS256, known-kid, well-signed token with valid claims for a
live session of its subject answers 401 unauthorized with
WWW-Authenticate: Bearer."""

import hashlib
import json
import time
import uuid

import pytest

from harness.customers import (
    Client, assert_customer, assert_json, assert_no_store, assert_unauthorized,
    b64u, claims_for, forge, header_for, hs_sign, jwt_encode, jwt_split,
    login_again, me, noncanonical, register_verified)


@pytest.fixture
def account(server, mail):
    return register_verified(server, mail)


def valid_claims(server, account, **changes):
    return claims_for(server, account.id, account.session["id"], **changes)


def test_login_token_is_hs256_signed_with_the_first_key(server, account):
    header, claims, signature = jwt_split(account.token)
    assert header == {"alg": "HS256", "typ": "JWT", "kid": "k2"}
    assert claims["iss"] == server.issuer
    assert claims["sub"] == account.id
    assert claims["sid"] == account.session["id"]
    assert isinstance(claims["iat"], int) and isinstance(claims["exp"], int)
    assert claims["exp"] - claims["iat"] == 7 * 24 * 3600
    assert abs(claims["iat"] - time.time()) < 120
    head, payload, _ = account.token.split(".")
    assert signature == hs_sign(head + "." + payload, server.jwt_keys["k2"])
    assert "=" not in account.token


def test_valid_token_works(server, account):
    resp = me(server, account.token)
    assert_customer(assert_json(resp, 200)["customer"], account.email)
    assert_no_store(resp)


@pytest.mark.parametrize("kid,changes", [
    ("k2", {}),                                 # our own forging matches
    ("k1", {}),                                 # rotation: the older key
    ("k2", {"iat_offset": 30}),                 # within the clock-skew leeway
    ("k2", {"nbf_offset": 30}),
    ("k2", {"nbf_offset": -3600}),
    ("k2", {"extra": "ignored"}),               # unknown claims are ignored
], ids=["k2", "k1-rotation", "iat-skew", "nbf-skew", "nbf-past", "extra-claim"])
def test_forged_valid_tokens_are_accepted(server, account, kid, changes):
    now = int(time.time())
    claims = valid_claims(server, account, now=now)
    if "iat_offset" in changes:
        claims["iat"] = now + changes["iat_offset"]
    if "nbf_offset" in changes:
        claims["nbf"] = now + changes["nbf_offset"]
    if "extra" in changes:
        claims["jti"] = changes["extra"]
    resp = me(server, forge(server, claims, kid=kid))
    assert assert_json(resp, 200)["customer"]["id"] == account.id


def _tamper_payload(server, account):
    head, _, signature = account.token.split(".")
    claims = jwt_split(account.token)[1]
    claims["sub"] = str(uuid.uuid4())
    return head + "." + b64u(json.dumps(claims)) + "." + signature


def _extend_exp(server, account):
    head, _, signature = account.token.split(".")
    claims = jwt_split(account.token)[1]
    claims["exp"] += 3600
    return head + "." + b64u(json.dumps(claims)) + "." + signature


def _signed(server, account, header=None, claims=None, secret_kid="k2",
            digest=hashlib.sha256, **changes):
    return jwt_encode(header or header_for("k2"),
                      claims or valid_claims(server, account, **changes),
                      server.jwt_keys[secret_kid], digest)


def _now():
    return int(time.time())


BAD_TOKENS = {
    "alg-none": lambda s, a: _signed(s, a, header_for("k2", "none"))
    .rsplit(".", 1)[0] + ".",
    "alg-none-signed": lambda s, a: _signed(s, a, header_for("k2", "none")),
    "alg-hs256-lowercase": lambda s, a: _signed(s, a, header_for("k2", "hs256")),
    "alg-hs512": lambda s, a: _signed(s, a, header_for("k2", "HS512"),
                                      digest=hashlib.sha512),
    "alg-rs256": lambda s, a: _signed(s, a, header_for("k2", "RS256")),
    "alg-missing": lambda s, a: _signed(s, a, {"typ": "JWT", "kid": "k2"}),
    "kid-missing": lambda s, a: _signed(s, a, header_for(None)),
    "kid-unknown": lambda s, a: _signed(s, a, header_for("k3")),
    "kid-k2-signed-with-k1": lambda s, a: _signed(s, a, header_for("k2"),
                                                  secret_kid="k1"),
    "kid-k1-signed-with-k2": lambda s, a: _signed(s, a, header_for("k1"),
                                                  secret_kid="k2"),
    "signature-stripped": lambda s, a: a.token.rsplit(".", 1)[0] + ".",
    "signature-part-missing": lambda s, a: a.token.rsplit(".", 1)[0],
    "four-parts": lambda s, a: a.token + "." + a.token.split(".")[2],
    "signature-truncated": lambda s, a: a.token[:-1],
    "signature-extended": lambda s, a: a.token + "A",
    "signature-of-other-key": lambda s, a: a.token.rsplit(".", 1)[0] + "." + hs_sign(
        a.token.rsplit(".", 1)[0], "not-a-configured-key-0123456789abcdef"),
    "payload-other-sub": _tamper_payload,
    "payload-later-exp": _extend_exp,
    "signature-noncanonical": lambda s, a: a.token.rsplit(".", 1)[0] + "." +
    noncanonical(a.token.rsplit(".", 1)[1]),
    "signature-padded": lambda s, a: a.token + "=",
    "signature-standard-base64": lambda s, a: _std_alphabet(s, a),
    "header-not-json": lambda s, a: _signed(s, a, header=b"not json"),
    "claims-not-json": lambda s, a: _signed(s, a, claims=b"{\"sub\":"),
    "claims-array": lambda s, a: _signed(s, a, claims=b"[1,2]"),
    "expired": lambda s, a: _signed(s, a, iat=_now() - 7200, exp=_now() - 3600),
    "exp-missing": lambda s, a: _signed(s, a, exp=None),
    "exp-string": lambda s, a: _signed(s, a, exp=str(_now() + 3600)),
    "nbf-future": lambda s, a: _signed(s, a, nbf=_now() + 3600),
    "iat-future": lambda s, a: _signed(s, a, iat=_now() + 3600),
    "iss-wrong": lambda s, a: _signed(s, a, iss="https://evil.test"),
    "iss-missing": lambda s, a: _signed(s, a, iss=None),
    "sub-missing": lambda s, a: _signed(s, a, sub=None),
    "sub-number": lambda s, a: _signed(s, a, sub=12345),
    "sub-unknown": lambda s, a: _signed(s, a, sub=str(uuid.uuid4())),
    "sid-missing": lambda s, a: _signed(s, a, sid=None),
    "sid-unknown": lambda s, a: _signed(s, a, sid=str(uuid.uuid4())),
    "sid-not-uuid": lambda s, a: _signed(s, a, sid="not-a-uuid"),
    "sid-sql": lambda s, a: _signed(s, a, sid="' OR '1'='1"),
    "sub-not-uuid": lambda s, a: _signed(s, a, sub="not-a-uuid"),
    "aud-present": lambda s, a: _signed(s, a, aud="https://travel.test"),
    "iat-missing": lambda s, a: _signed(s, a, iat=None),
    "exp-real": lambda s, a: _signed(s, a, exp=_now() + 3600.5),
    "header-jku": lambda s, a: _signed(s, a, dict(header_for("k2"),
                                                  jku="https://evil.test/k")),
    "header-crit": lambda s, a: _signed(s, a, dict(header_for("k2"), crit=["exp"])),
    "typ-wrong": lambda s, a: _signed(s, a, header_for("k2") | {"typ": "JWE"}),
    "header-duplicate-alg": lambda s, a: _signed(
        s, a, header=b'{"alg":"none","alg":"HS256","typ":"JWT","kid":"k2"}'),
    "claims-duplicate-sub": lambda s, a: _signed(s, a, claims=(
        '{"iss":"%s","sub":"%s","sub":"%s","sid":"%s","iat":%d,"exp":%d}' % (
            s.issuer, uuid.uuid4(), a.id, a.session["id"], _now(),
            _now() + 3600)).encode()),
    "garbage": lambda s, a: "garbage",
    "empty-parts": lambda s, a: "..",
}


def _std_alphabet(server, account):
    """The token re-signed until its signature needs '-' or '_', then spelled
    in the standard alphabet ('+', '/')."""
    for i in range(200):
        token = _signed(server, account, iat=_now() - i)
        signature = token.rsplit(".", 1)[1]
        if "-" in signature or "_" in signature:
            return token.rsplit(".", 1)[0] + "." + \
                signature.replace("-", "+").replace("_", "/")
    raise AssertionError("no signature with - or _")


@pytest.mark.parametrize("case", list(BAD_TOKENS))
def test_bad_tokens_are_401(server, account, case):
    token = BAD_TOKENS[case](server, account)
    assert token != account.token
    assert_unauthorized(me(server, token))
    # The account itself is fine: only the token was wrong.
    assert_json(me(server, account.token), 200)


@pytest.mark.parametrize("header", [
    None, "", "Bearer", "Bearer ", "Basic c3RhZmY6c3RhZmYtcGFzc3dvcmQ=",
    "Token {token}", "{token}", "Bearer {token} extra", "Bearer\t",
], ids=["missing", "empty", "bearer-no-token", "bearer-empty", "basic",
        "other-scheme", "no-scheme", "trailing-garbage", "bearer-tab"])
def test_authorization_header_forms(server, account, header):
    headers = {} if header is None else {
        "Authorization": header.format(token=account.token)}
    resp = Client(server).get("/me", token=None, headers=headers)
    assert_unauthorized(resp)


def test_token_for_a_deleted_session(server, account, db):
    with db.cursor() as cur:
        cur.execute("DELETE FROM customer_sessions WHERE id = %s",
                    (account.session["id"],))
        assert cur.rowcount == 1
    assert_unauthorized(me(server, account.token))
    # Well signed, fresh claims: the session is what counts.
    assert_unauthorized(me(server, forge(server, valid_claims(server, account))))
    assert_unauthorized(me(server, forge(server, valid_claims(server, account),
                                         kid="k1")))


def test_token_for_an_expired_session(server, account, db):
    with db.cursor() as cur:
        cur.execute("UPDATE customer_sessions SET expires_at = now() - "
                    "interval '1 second' WHERE id = %s", (account.session["id"],))
    assert_unauthorized(me(server, account.token))


def test_session_of_another_customer(server, mail, account):
    other = register_verified(server, mail)
    # A's session with B's subject, and the other way round, well signed.
    mixed = claims_for(server, other.id, account.session["id"])
    assert_unauthorized(me(server, forge(server, mixed)))
    mixed = claims_for(server, account.id, other.session["id"])
    assert_unauthorized(me(server, forge(server, mixed)))
    assert assert_json(me(server, other.token), 200)["customer"]["id"] == other.id


def test_logged_out_token_is_refused_even_re_signed(server, account):
    claims = jwt_split(account.token)[1]
    assert account.client.post("/logout").status_code == 204
    assert_unauthorized(me(server, account.token))
    assert_unauthorized(me(server, forge(server, claims, kid="k1")))


def test_every_authenticated_endpoint_requires_a_token(server, account):
    some = "00000000-0000-4000-8000-000000000000"
    address = {"line1": "Rua Augusta 1", "city": "Lisboa",
               "postal_code": "1100-048", "country": "PT"}
    calls = [
        ("POST", "/logout", None), ("GET", "/me", None),
        ("PATCH", "/me", {"first_name": "Eve"}),
        ("POST", "/me/password", {"current_password": "Whatever password 1",
                                  "new_password": "Another password 22"}),
        ("GET", "/me/addresses", None), ("POST", "/me/addresses", address),
        ("PATCH", f"/me/addresses/{some}", {"city": "Porto"}),
        ("DELETE", f"/me/addresses/{some}", None),
        ("GET", "/me/preferences", None),
        ("PUT", "/me/preferences", {"language": "pt"}),
        ("GET", "/me/bookings", None), ("GET", f"/me/bookings/{some}", None),
        ("GET", "/me/sessions", None), ("DELETE", f"/me/sessions/{some}", None),
    ]
    bad = forge(server, valid_claims(server, account), kid="k3", secret_kid="k2")
    for method, path, body in calls:
        for token in (None, bad):
            kwargs = {} if body is None else {"body": body}
            resp = Client(server).request(method, path, token=token, **kwargs)
            assert_unauthorized(resp)
    # None of those went through.
    assert assert_json(me(server, account.token), 200)["customer"] == \
        account.customer


def test_k1_token_for_a_second_session(server, account):
    # Two sessions: a k1-signed token for the second one keeps working when
    # the first is logged out.
    second, body = login_again(server, account)
    claims = claims_for(server, account.id, body["session"]["id"])
    token_k1 = forge(server, claims, kid="k1")
    assert account.client.post("/logout").status_code == 204
    assert_json(me(server, token_k1), 200)
    assert_json(me(server, second.token), 200)
