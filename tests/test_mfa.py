"""Two-factor authentication with TOTP (docs/customers.md, "Two-factor
authentication"; api.md "Account security" and the MFA precise rule), over
HTTP against the real module and database. Codes are computed here from
the secret the server hands out (RFC 6238 with hmac/hashlib, checked
against the RFC's own vector), so a server computing them wrongly fails.

Each test works on fresh accounts and stays under the `mfa` rate limit (5
attempts per 15 minutes per account) unless it tests that limit."""

import base64
import hashlib
import hmac
import struct
import threading
import time
from urllib.parse import parse_qs, quote, urlsplit

import pytest

from harness.customers import (
    Client, assert_error, assert_json, assert_no_store, assert_unauthorized,
    register_verified)
from harness.server import (DBD_NONE, directives, minimal, own_server,
                            serving, templates_dir)

MFA_KEY_DIRECTIVE = "JKLGMFAKey"
STEP = 30


# ------------------------------------------------------------- TOTP in Python

def hotp(secret, counter, digits=6):
    mac = hmac.new(secret, struct.pack(">Q", counter), hashlib.sha1).digest()
    offset = mac[-1] & 0x0F
    value = struct.unpack(">I", mac[offset:offset + 4])[0] & 0x7FFFFFFF
    return str(value % 10 ** digits).zfill(digits)


def b32_secret(text):
    return base64.b32decode(text + "=" * (-len(text) % 8))


# The step each secret was confirmed at: codes of a test are counted from
# it, so a step boundary crossed during the test changes nothing.
BASE_STEP = {}


def code(secret_b32, offset=0, now=None):
    """The code `offset` steps from the secret's confirmation (or now)."""
    if now is not None:
        step = int(now) // STEP
    else:
        step = BASE_STEP.setdefault(secret_b32, int(time.time()) // STEP)
    return hotp(b32_secret(secret_b32), step + offset)


def test_python_totp_matches_rfc6238():
    """The helper itself, against RFC 6238 Appendix B (SHA-1)."""
    seed = base64.b32encode(b"12345678901234567890").decode()
    assert hotp(b"12345678901234567890", 59 // 30, 8) == "94287082"
    assert code(seed, now=1111111109) == "081804"


# ------------------------------------------------------------------- helpers

def enrol(account):
    resp = account.client.post("/me/mfa/totp")
    body = assert_json(resp, 200)
    assert_no_store(resp)
    assert set(body) == {"secret", "otpauth_url"}
    return body


def enable(account):
    """Enrol and confirm with the current step's code: (secret, codes)."""
    secret = enrol(account)["secret"]
    resp = account.client.post("/me/mfa/totp/confirm", {"code": code(secret)})
    codes = assert_json(resp, 200)["recovery_codes"]
    return secret, codes


def login_token(account, client=None):
    """POST /login of an MFA account: the mfa_token of the 401."""
    resp = (client or Client(account.client.server)).post(
        "/login", {"email": account.email, "password": account.password})
    body = assert_json(resp, 401)
    assert set(body) == {"error", "mfa_token"}, body
    assert body["error"]["code"] == "mfa_required"
    assert resp.headers.get("WWW-Authenticate") == "Bearer"
    return body["mfa_token"]


def login_mfa(server, token, client=None, **second):
    return (client or Client(server)).post("/login/mfa",
                                           dict(mfa_token=token, **second))


def assert_logged_in(server, resp, account):
    body = assert_json(resp, 200)
    assert {"token", "token_type", "expires_at", "session",
            "customer"} <= set(body)
    assert body["customer"]["id"] == account.id
    me = Client(server, token=body["token"]).get("/me")
    assert assert_json(me, 200)["customer"]["email"] == account.email
    return body


def sessions(db, account):
    with db.cursor() as cur:
        cur.execute("SELECT count(*) FROM customer_sessions "
                    "WHERE customer_id = %s", (account.id,))
        return cur.fetchone()[0]


def events(db, account, kind):
    with db.cursor() as cur:
        cur.execute("SELECT host(ip), user_agent FROM security_events "
                    "WHERE customer_id = %s AND type = %s",
                    (account.id, kind))
        return cur.fetchall()


@pytest.fixture
def account(server, mail):
    return register_verified(server, mail)


@pytest.fixture
def other(server, mail):
    return register_verified(server, mail)


# ---------------------------------------------------------------- enrolment

def test_enrolment_answers_a_secret_and_otpauth_url(account):
    body = enrol(account)
    secret = body["secret"]
    assert len(b32_secret(secret)) == 20
    url = urlsplit(body["otpauth_url"])
    assert (url.scheme, url.netloc) == ("otpauth", "totp")
    assert url.path == "/JKLG%20Travel:" + quote(account.email, safe="")
    query = parse_qs(url.query)
    assert query == {"secret": [secret], "issuer": ["JKLG Travel"],
                     "algorithm": ["SHA1"], "digits": ["6"],
                     "period": ["30"]}


def test_confirm_turns_mfa_on_and_login_needs_the_code(server, db, account):
    secret = enrol(account)["secret"]
    # A wrong code (another secret's) does not confirm, nor a malformed one.
    for wrong in (hotp(b"another secret 12345", int(time.time()) // STEP),
                  "12345", "abcdef"):
        assert_error(account.client.post("/me/mfa/totp/confirm",
                                         {"code": wrong}), 400, "invalid_code")
    with db.cursor() as cur:
        cur.execute("SELECT confirmed_at FROM customer_mfa "
                    "WHERE customer_id = %s", (account.id,))
        assert cur.fetchone() == (None,)
    # Not on yet: the password alone logs in.
    assert_json(Client(server).login(account.email, account.password), 200)

    resp = account.client.post("/me/mfa/totp/confirm", {"code": code(secret)})
    codes = assert_json(resp, 200)["recovery_codes"]
    assert_no_store(resp)
    assert len(codes) == 10 and len(set(codes)) == 10
    assert events(db, account, "mfa_enabled") == [
        (account.client.ip, account.client.ua)]

    before = sessions(db, account)
    token = login_token(account)
    assert sessions(db, account) == before      # no session before the code
    # The confirming code's step is spent: the next step's code logs in.
    resp = login_mfa(server, token, code=code(secret, 1))
    assert_no_store(resp)
    assert_logged_in(server, resp, account)
    assert sessions(db, account) == before + 1
    # The token is single use.
    assert_unauthorized(login_mfa(server, token, code=code(secret, 1)))


def test_new_enrolment_replaces_a_pending_one(account):
    first = enrol(account)["secret"]
    second = enrol(account)["secret"]
    assert first != second
    assert_error(account.client.post("/me/mfa/totp/confirm",
                                     {"code": code(first)}), 400,
                 "invalid_code")
    assert_json(account.client.post("/me/mfa/totp/confirm",
                                    {"code": code(second)}), 200)
    # On: no new enrolment, nothing left to confirm.
    assert_error(account.client.post("/me/mfa/totp"), 409, "conflict")
    assert_error(account.client.post("/me/mfa/totp/confirm",
                                     {"code": code(second, 1)}), 409,
                 "conflict")


def test_confirm_without_enrolment_is_a_conflict(account):
    assert_error(account.client.post("/me/mfa/totp/confirm",
                                     {"code": "123456"}), 409, "conflict")


def test_mfa_routes_need_a_session(server):
    anon = Client(server)
    assert_unauthorized(anon.post("/me/mfa/totp"))
    assert_unauthorized(anon.post("/me/mfa/totp/confirm", {"code": "123456"}))
    assert_unauthorized(anon.delete("/me/mfa/totp",
                                    json={"password": "x", "code": "123456"}))


# ------------------------------------------------------------------- login

def test_wrong_code_keeps_the_token_and_replay_is_refused(server, account):
    secret, _ = enable(account)
    token = login_token(account)
    assert_error(login_mfa(server, token, code=code(secret, -2)), 400,
                 "invalid_code")
    # The confirming code (this step) was accepted once already.
    assert_error(login_mfa(server, token, code=code(secret)), 400,
                 "invalid_code")
    # The token survived both mistakes.
    assert_logged_in(server, login_mfa(server, token, code=code(secret, 1)),
                     account)
    # The same code again, with a fresh token: a replay.
    assert_error(login_mfa(server, login_token(account),
                           code=code(secret, 1)), 400, "invalid_code")


def test_recovery_code_works_once(server, db, account):
    _, codes = enable(account)
    assert_logged_in(server, login_mfa(server, login_token(account),
                                       recovery_code=codes[0]), account)
    token = login_token(account)
    assert_error(login_mfa(server, token, recovery_code=codes[0]), 400,
                 "invalid_code")
    # Typed as people type them: capitals, spaces for dashes.
    typed = codes[1].upper().replace("-", " ")
    assert_logged_in(server, login_mfa(server, token, recovery_code=typed),
                     account)
    with db.cursor() as cur:
        cur.execute("SELECT count(*) FILTER (WHERE used_at IS NOT NULL), "
                    "count(*) FROM mfa_recovery_codes WHERE customer_id = %s",
                    (account.id,))
        assert cur.fetchone() == (2, 10)


def at_once(server, tokens, **second):
    """Both tokens with the same second factor, released together."""
    barrier = threading.Barrier(len(tokens))
    results = [None] * len(tokens)

    def use(i):
        barrier.wait()
        results[i] = login_mfa(server, tokens[i], **second)

    threads = [threading.Thread(target=use, args=(i,))
               for i in range(len(tokens))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def test_one_code_used_twice_at_once_wins_once(server, account):
    secret, _ = enable(account)
    results = at_once(server, [login_token(account), login_token(account)],
                      code=code(secret, 1))
    statuses = sorted(r.status_code for r in results)
    assert statuses == [200, 400], [r.text for r in results]


def test_one_recovery_code_used_twice_at_once_wins_once(server, account):
    _, codes = enable(account)
    results = at_once(server, [login_token(account), login_token(account)],
                      recovery_code=codes[3])
    statuses = sorted(r.status_code for r in results)
    assert statuses == [200, 400], [r.text for r in results]
    loser = next(r for r in results if r.status_code == 400)
    assert_error(loser, 400, "invalid_code")


def test_expired_mfa_token_is_refused(server, db, account):
    secret, _ = enable(account)
    token = login_token(account)
    with db.cursor() as cur:
        cur.execute("UPDATE mfa_tokens SET expires_at = now() - "
                    "interval '1 second' WHERE customer_id = %s",
                    (account.id,))
        assert cur.rowcount == 1
    assert_unauthorized(login_mfa(server, token, code=code(secret, 1)))


def test_mfa_token_lives_five_minutes(server, db, account):
    enable(account)
    login_token(account)
    with db.cursor() as cur:
        cur.execute("SELECT expires_at - created_at, used_at FROM mfa_tokens "
                    "WHERE customer_id = %s", (account.id,))
        lifetime, used = cur.fetchone()
    assert lifetime.total_seconds() == pytest.approx(300, abs=1)
    assert used is None


@pytest.mark.parametrize("token", [
    "not-a-token", "A" * 43, "", "x" * 500])
def test_unknown_or_malformed_mfa_token_is_refused(server, token):
    assert_unauthorized(login_mfa(server, token, code="123456"))


def test_codes_and_tokens_of_another_customer_are_refused(server, account,
                                                          other):
    secret_a, codes_a = enable(account)
    secret_b, codes_b = enable(other)
    token_a = login_token(account)
    # B's code and B's recovery code do not open A's login.
    assert_error(login_mfa(server, token_a, code=code(secret_b, 1)), 400,
                 "invalid_code")
    assert_error(login_mfa(server, token_a, recovery_code=codes_b[0]), 400,
                 "invalid_code")
    # An access token is not an mfa_token.
    assert_unauthorized(login_mfa(server, account.client.token,
                                  code=code(secret_a, 1)))
    # B's recovery code is still unused: it opens B's login.
    assert_logged_in(server, login_mfa(server, login_token(other),
                                       recovery_code=codes_b[0]), other)
    # A's token with A's code: A, not B.
    assert_logged_in(server, login_mfa(server, token_a,
                                       code=code(secret_a, 1)), account)


def test_login_mfa_attempts_are_rate_limited_per_account(server, account):
    secret, _ = enable(account)
    token = login_token(account)
    for _ in range(5):
        assert_error(login_mfa(server, token, code=code(secret, 5)), 400,
                     "invalid_code")
    # The sixth, from anywhere and even right, waits for the window.
    resp = login_mfa(server, token, Client(server), code=code(secret, 1))
    assert_error(resp, 429, "rate_limited")
    assert 0 < int(resp.headers["Retry-After"]) <= 900


@pytest.mark.parametrize("body, field", [
    ({"code": "123456"}, "mfa_token"),
    ({"mfa_token": "x"}, "code"),
    ({"mfa_token": "x", "code": "123456", "recovery_code": "a"},
     "recovery_code"),
    ({"mfa_token": "x", "code": 123456}, "code"),
    ({"mfa_token": 5, "code": "123456"}, "mfa_token"),
    ({"mfa_token": "x", "code": "123456", "remember": True}, "remember"),
])
def test_login_mfa_bad_bodies(server, body, field):
    resp = Client(server).post("/login/mfa", body)
    err = assert_error(resp, 422, "validation_failed")
    assert field in err["fields"], err


# ----------------------------------------------------------------- disable

def test_disable_needs_password_and_code(server, db, account):
    secret, _ = enable(account)
    c = account.client
    assert_error(c.delete("/me/mfa/totp", json={"password": "wrong password",
                                                "code": code(secret, 1)}),
                 401, "invalid_credentials")
    assert_error(c.delete("/me/mfa/totp", json={"password": account.password,
                                                "code": code(secret, -2)}),
                 400, "invalid_code")
    # The confirming step again: a replay.
    assert_error(c.delete("/me/mfa/totp", json={"password": account.password,
                                                "code": code(secret)}),
                 400, "invalid_code")
    with db.cursor() as cur:
        cur.execute("SELECT count(*) FROM customer_mfa WHERE customer_id = %s",
                    (account.id,))
        assert cur.fetchone() == (1,)
    resp = c.delete("/me/mfa/totp", json={"password": account.password,
                                          "code": code(secret, 1)})
    assert resp.status_code == 204, resp.text
    assert events(db, account, "mfa_disabled") == [(c.ip, c.ua)]
    with db.cursor() as cur:
        for table in ("customer_mfa", "mfa_recovery_codes", "mfa_tokens"):
            cur.execute(f"SELECT count(*) FROM {table} "
                        "WHERE customer_id = %s", (account.id,))
            assert cur.fetchone() == (0,), table
    # The password alone logs in again; a second DELETE has nothing to do.
    assert_json(Client(server).login(account.email, account.password), 200)
    assert_error(c.delete("/me/mfa/totp", json={"password": account.password,
                                                "code": code(secret, 1)}),
                 409, "conflict")


def test_disable_with_a_recovery_code(server, account):
    _, codes = enable(account)
    resp = account.client.delete("/me/mfa/totp", json={
        "password": account.password, "recovery_code": codes[9]})
    assert resp.status_code == 204, resp.text
    assert_json(Client(server).login(account.email, account.password), 200)


def test_disable_bad_bodies(account):
    c = account.client
    err = assert_error(c.delete("/me/mfa/totp", json={"code": "123456"}),
                       422, "validation_failed")
    assert "password" in err["fields"]
    err = assert_error(c.delete("/me/mfa/totp", json={"password": "x"}),
                       422, "validation_failed")
    assert "code" in err["fields"]


def test_pending_login_tokens_die_with_mfa(server, account):
    secret, _ = enable(account)
    token = login_token(account)
    resp = account.client.delete("/me/mfa/totp", json={
        "password": account.password, "code": code(secret, 1)})
    assert resp.status_code == 204, resp.text
    assert_unauthorized(login_mfa(server, token, code=code(secret, 1)))


# ----------------------------------------------------------- at rest

def test_secret_and_recovery_codes_are_not_stored_in_plain(db, account):
    secret, codes = enable(account)
    raw = b32_secret(secret)
    with db.cursor() as cur:
        cur.execute("SELECT secret_enc, nonce FROM customer_mfa "
                    "WHERE customer_id = %s", (account.id,))
        enc, nonce = (bytes(v) for v in cur.fetchone())
        cur.execute("SELECT code_hash FROM mfa_recovery_codes "
                    "WHERE customer_id = %s", (account.id,))
        hashes = {bytes(r[0]) for r in cur.fetchall()}
        cur.execute("SELECT row_to_json(m)::text FROM customer_mfa m "
                    "WHERE customer_id = %s", (account.id,))
        row_text = cur.fetchone()[0]
    assert raw not in enc and len(enc) == len(raw) + 16 and len(nonce) == 24
    assert secret not in row_text and raw.hex() not in row_text
    assert hashes == {hashlib.sha256(c.replace("-", "").encode()).digest()
                      for c in codes}


# ------------------------------------------------- JKLGMFAKey at start-up

def config_test(tmp_path, directive, env=None):
    httpd = own_server(tmp_path, DBD_NONE,
                       minimal(tmp_path, more=directive + "\n"),
                       remote_ip=False)
    return httpd.config_test(env=env)


@pytest.mark.parametrize("data", [
    bytes(range(32)), base64.b64encode(bytes(range(32))) + b"\n"],
    ids=["raw", "base64"])
def test_key_file_of_32_bytes_is_accepted(tmp_path, data):
    (tmp_path / "mfa.key").write_bytes(data)
    rc, out = config_test(tmp_path, f"JKLGMFAKey file:{tmp_path}/mfa.key")
    assert rc == 0, out


@pytest.mark.parametrize("data", [
    b"", bytes(31), bytes(33), base64.b64encode(bytes(16)) + b"\n",
    base64.b64encode(bytes(48)) + b"\n", b"not base64 at all!\n"],
    ids=["empty", "31", "33", "b64-16", "b64-48", "junk"])
def test_key_file_of_the_wrong_size_stops_startup(tmp_path, data):
    (tmp_path / "mfa.key").write_bytes(data)
    rc, out = config_test(tmp_path, f"JKLGMFAKey file:{tmp_path}/mfa.key")
    assert rc != 0
    assert MFA_KEY_DIRECTIVE in out and "32 bytes" in out, out


def test_key_from_the_environment(tmp_path):
    directive = "JKLGMFAKey env:JKLG_TEST_MFA_KEY"
    good = base64.b64encode(bytes(range(32))).decode()
    rc, out = config_test(tmp_path, directive, env={"JKLG_TEST_MFA_KEY": good})
    assert rc == 0, out
    rc, out = config_test(tmp_path, directive,
                          env={"JKLG_TEST_MFA_KEY": good[:20]})
    assert rc != 0 and MFA_KEY_DIRECTIVE in out, out
    assert good[:20] not in out
    rc, out = config_test(tmp_path, directive)
    assert rc != 0
    assert "environment variable JKLG_TEST_MFA_KEY is not set" in out, out


def test_missing_key_file_stops_startup(tmp_path):
    rc, out = config_test(tmp_path, "JKLGMFAKey file:/nonexistent/mfa.key")
    assert rc != 0
    assert "JKLGMFAKey file:/nonexistent/mfa.key: cannot open" in out, out


# ------------------------------------------------- a server without the key

@pytest.fixture(scope="module")
def keyless(pg, smtp, stripe_api, workdir):
    base = workdir / "mfa-keyless"
    conf = directives(smtp, stripe_api, templates_dir(base),
                      without=(MFA_KEY_DIRECTIVE,))
    with serving(own_server(base, pg.dbd_params(), conf)) as httpd:
        yield httpd


def test_without_a_key_mfa_is_unavailable(keyless, server, mail):
    account = register_verified(server, mail, login=False)
    client = Client(keyless)
    assert_json(client.login(account.email, account.password), 200)
    keyless.mark_log()
    for _ in range(2):
        resp = client.post("/me/mfa/totp")
        err = assert_error(resp, 503, "unavailable")
        assert "not configured" in err["message"]
        assert "Retry-After" not in resp.headers
    # Said once per process (two requests may meet two processes).
    log = keyless.new_log()
    assert 1 <= log.count("JKLG02000") <= 2, log
