"""Customer accounts over HTTP (docs/customers.md): registration through the
real verification email, verification tokens, login and logout, forgotten
and changed passwords, the password and email rules, rate limits, no
account enumeration, and bcrypt hashes imported from the old backend."""

import base64
import hashlib
import os
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest

from harness.customers import (
    FORBIDDEN_FIELDS, PASSWORD, REGISTERED, RESET_LINK, VERIFY_LINK, WEEK,
    Client, assert_customer, assert_error, assert_fields, assert_json,
    assert_no_store, assert_rate_limited, assert_session, assert_unauthorized, bcrypt_hash,
    customer_id, jwt_split, login_again, mail_tokens, new_email, parse_ts,
    register, register_unverified, register_verified, registration,
    reset_token, text_part, html_part, unique_ips, verification_token, verify,
    wait_subject)

NEW_PASSWORD = "Another long passphrase 42"


def customer_row(db, email):
    with db.cursor() as cur:
        cur.execute("SELECT id, password_hash, first_name, last_name, phone, "
                    "email_verified_at FROM customers WHERE email = %s", (email,))
        return cur.fetchone()


def count_customers(db, email):
    with db.cursor() as cur:
        cur.execute("SELECT count(*) FROM customers WHERE email = %s", (email,))
        return cur.fetchone()[0]


def session_count(db, email):
    with db.cursor() as cur:
        cur.execute("SELECT count(*) FROM customer_sessions s JOIN customers c "
                    "ON c.id = s.customer_id WHERE c.email = %s", (email,))
        return cur.fetchone()[0]


def expire_tokens(db, table, email):
    with db.cursor() as cur:
        cur.execute(f"UPDATE {table} t SET expires_at = now() - interval '1 minute' "
                    "FROM customers c WHERE c.id = t.customer_id AND c.email = %s",
                    (email,))
        assert cur.rowcount >= 1


def quiet_for(mail, to, seconds=2.5):
    """Nothing arrives for `to` within a few mail sweeps."""
    time.sleep(seconds)
    return mail.received(to)


# ------------------------------------------------------------ the whole flow

def test_register_verify_login_me_logout_through_real_email(server, mail, db):
    email = new_email("flow")
    client = Client(server, ua="FlowTest/1.0 (X11; Linux)")
    resp = client.post("/register", {"email": email, "password": PASSWORD,
                                     "first_name": "Ana", "last_name": "Silva",
                                     "phone": "+351 912 345 678"})
    assert assert_json(resp, 202) == REGISTERED

    [(mail_from, rcpts, msg)] = mail.wait_for(email)
    assert rcpts == [email]
    assert "Confirm your email address" in msg["Subject"]
    text = text_part(msg)
    links = VERIFY_LINK.findall(text)
    assert links, text
    token = links[0]
    assert len(token) == 43
    assert token in html_part(msg)
    assert "Ana" in text
    # Nothing is verified before the front end posts the token.
    assert customer_row(db, email)[5] is None
    assert_error(client.login(email, PASSWORD), 403, "email_not_verified")

    resp = client.post("/verify-email", {"token": token})
    customer = assert_json(resp, 200)["customer"]
    assert_customer(customer, email, verified=True)
    assert customer["first_name"] == "Ana" and customer["last_name"] == "Silva"
    assert customer["phone"] == "+351 912 345 678"
    assert customer["id"] == customer_id(db, email)

    resp = client.login(email, PASSWORD)
    body = assert_json(resp, 200)
    assert_no_store(resp)
    assert body["customer"] == customer

    resp = client.get("/me")
    assert assert_json(resp, 200) == {"customer": customer}
    assert_no_store(resp)

    token = client.token
    logs = server.error_log.read_text(errors="replace") + \
        (server.base / "access.log").read_text(errors="replace")
    assert links[0] not in logs and token not in logs and PASSWORD not in logs
    resp = client.post("/logout")
    assert resp.status_code == 204, resp.text
    assert resp.content == b""
    assert_unauthorized(client.get("/me", token=token))
    assert_unauthorized(client.post("/logout", token=token))


def test_register_stores_a_normalised_email_and_an_argon2id_hash(server, mail, db):
    email = new_email("norm")
    register(server, "  " + email.upper() + " ")
    assert verification_token(mail, email)
    row = customer_row(db, email)
    assert row is not None
    assert row[1].startswith("$argon2id$")
    assert PASSWORD not in row[1]
    assert row[2:5] == ("Ana", "Silva", None)
    assert row[5] is None


def test_names_are_trimmed(server, mail, db):
    email = new_email("trim")
    register(server, email, first_name="  Ana ", last_name=" Silva  ")
    verification_token(mail, email)
    assert customer_row(db, email)[2:4] == ("Ana", "Silva")


# -------------------------------------------------------- field validation

def test_register_missing_fields(server, db):
    client = Client(server)
    fields = assert_fields(client.post("/register", {}),
                           "email", "password", "first_name", "last_name")
    assert fields["email"]
    email = new_email()
    assert_fields(client.post("/register", {"email": email, "password": PASSWORD}),
                  "first_name", "last_name")
    assert count_customers(db, email) == 0


@pytest.mark.parametrize("email", [
    "plainaddress", "no-tld@localhost", "@no-local.test", "two@@at.test",
    "spa ce@x.test", '"quoted"@x.test', "com,ma@x.test", "<angle@x.test>",
    "a@x.test, b@y.test", "a@x.test\r\nBcc: v@y.test", "", 42, None, ["a@x.test"],
])
def test_invalid_emails_are_refused(server, db, email):
    fields = assert_fields(Client(server).post("/register", registration(email)),
                           "email")
    if isinstance(email, str) and "@" in email and email.strip():
        assert count_customers(db, email.strip().lower()) == 0
    assert fields["email"]


def test_email_longer_than_254_is_refused(server, db):
    local = "l" * 64
    domain = ".".join(["d" * 60] * 3) + ".test"          # 188 characters
    email = local + "@" + "x" * (255 - 64 - 1 - len(domain)) + domain
    assert len(email) == 255
    fields = assert_fields(Client(server).post("/register", registration(email)),
                           "email")
    assert fields["email"]
    assert count_customers(db, email) == 0


def test_email_of_254_is_accepted(server, mail):
    local = uuid.uuid4().hex + "a" * 32                  # 64
    domain = ".".join(["d" * 60] * 3) + ".test"          # 188
    email = local + "@" + "e" * (254 - 64 - 1 - len(domain)) + domain
    assert len(email) == 254
    register(server, email)
    assert verification_token(mail, email)


def test_password_policy_messages(server, db):
    # Messages as docs/passwords.md ("Policy") gives them.
    client = Client(server)
    email = new_email("policy")

    def refused(password):
        return assert_fields(client.post("/register", registration(email, password)),
                             "password")["password"]

    # Nine code points (18 bytes): too short, counted in characters.
    assert refused("àéîõüçñßø") == "must be at least 10 characters"
    assert refused("short") == "must be at least 10 characters"
    # Equal to the email, whatever the case.
    assert refused(email.upper()) == "must not be the same as the email address"
    # Common passwords and too little variety.
    for common in ("password123", "qwertyuiop", "1234567890", "aaaaaaaaaa",
                   "éééééééééé"):
        assert refused(common) == "is too common, choose another", common
    # Over 1024 bytes (513 two-byte characters = 1026 bytes).
    assert refused("àé" * 256 + "î") == "must be at most 1024 bytes"
    assert count_customers(db, email) == 0


def test_every_problem_is_reported_at_once(server):
    resp = Client(server).post("/register", {"email": "bad", "password": "short",
                                             "first_name": "", "last_name": "S"})
    fields = assert_fields(resp, "email", "password", "first_name")
    assert fields["email"] == "must be a valid email address"
    assert fields["password"] == "must be at least 10 characters"
    assert "last_name" not in fields


SENTENCE = "We stayed on in Lisbon for the first stone festival, then onto Porto. "


def test_ten_code_points_and_1024_bytes_are_accepted(server, mail):
    email = new_email("cp")
    register(server, email, "àéîõüçñßøå")               # 10 characters, 20 bytes
    assert verification_token(mail, email)
    email = new_email("kb")
    password = (SENTENCE * 20)[:1022] + "é"
    assert len(password.encode()) == 1024
    register(server, email, password)
    assert verification_token(mail, email)


def test_password_is_never_trimmed_or_truncated(server, mail):
    password = "  padded passphrase with spaces  "
    account = register_verified(server, mail, password=password, login=False)
    client = Client(server)
    assert_error(client.login(account.email, password.strip()), 401,
                 "invalid_credentials")
    assert_json(client.login(account.email, password), 200)
    long_password = SENTENCE * 3                                  # > 72 bytes
    account = register_verified(server, mail, password=long_password, login=False)
    # bcrypt would stop at 72 bytes; argon2id must use all of it.
    assert_error(client.login(account.email, long_password[:72]), 401,
                 "invalid_credentials")
    assert_error(client.login(account.email, long_password[:-1]), 401,
                 "invalid_credentials")
    assert_json(client.login(account.email, long_password), 200)


def test_register_phone_validation(server, db):
    email = new_email("phone")
    for phone in ("12345", "abc1234567", "+1" + "2" * 20, 351912345678):
        assert_fields(Client(server).post("/register",
                                          registration(email, phone=phone)),
                      "phone")
    assert count_customers(db, email) == 0


BODIES = {
    "/register": lambda: registration(new_email("unknown")),
    "/verify-email": lambda: {"token": "A" * 43},
    "/resend-verification": lambda: {"email": new_email("unknown")},
    "/login": lambda: {"email": new_email("unknown"), "password": PASSWORD},
    "/forgot-password": lambda: {"email": new_email("unknown")},
    "/reset-password": lambda: {"token": "A" * 43, "password": NEW_PASSWORD},
}


@pytest.mark.parametrize("path", sorted(BODIES))
def test_unknown_fields_are_refused(server, mail, db, path):
    body = BODIES[path]()
    body.update(FORBIDDEN_FIELDS)
    fields = assert_fields(Client(server).post(path, body), *FORBIDDEN_FIELDS)
    assert set(fields) == set(FORBIDDEN_FIELDS), fields
    if "email" in body:
        assert count_customers(db, body["email"]) == 0
        assert quiet_for(mail, body["email"], 1) == []


@pytest.mark.parametrize("path,missing", [
    ("/verify-email", "token"), ("/resend-verification", "email"),
    ("/login", "password"), ("/forgot-password", "email"),
    ("/reset-password", "password"),
])
def test_missing_fields_are_422(server, path, missing):
    body = BODIES[path]()
    del body[missing]
    assert_fields(Client(server).post(path, body), missing)


# ------------------------------------------------------------ enumeration

def test_registering_an_existing_email_reveals_nothing(server, mail, db):
    account = register_verified(server, mail, login=False)
    before = customer_row(db, account.email)

    fresh = Client(server).post("/register", registration(new_email("fresh")))
    again = Client(server).post("/register", {
        "email": " " + account.email.upper(), "password": NEW_PASSWORD,
        "first_name": "Mallory", "last_name": "Intruder", "phone": "+1 555 0100 99"})
    assert (again.status_code, again.json()) == (fresh.status_code, fresh.json())
    assert (again.status_code, again.json()) == (202, REGISTERED)
    assert again.headers["Content-Type"] == fresh.headers["Content-Type"]

    msg = wait_subject(mail, account.email, "already have an account")
    text = text_part(msg)
    assert not VERIFY_LINK.search(text) and not RESET_LINK.search(text)
    assert "token" not in text and "token" not in html_part(msg)
    assert "https://travel.test/login" in text
    assert "https://travel.test/forgot-password" in text
    assert len(mail.wait_for(account.email, 2)) == 2    # verification + notice

    assert customer_row(db, account.email) == before
    assert count_customers(db, account.email) == 1
    client = Client(server)
    assert_error(client.login(account.email, NEW_PASSWORD), 401,
                 "invalid_credentials")
    body = assert_json(client.login(account.email, PASSWORD), 200)
    assert body["customer"]["first_name"] == "Ana"


def test_registering_an_unverified_existing_email_sends_no_new_link(server, mail):
    email, first = register_unverified(server, mail)
    register(server, email, NEW_PASSWORD)
    wait_subject(mail, email, "already have an account")
    assert mail_tokens(mail, email, VERIFY_LINK) == [first]
    assert_json(verify(server, first), 200)
    assert_json(Client(server).login(email, PASSWORD), 200)


def test_forgot_password_answers_the_same_for_known_and_unknown(server, mail):
    account = register_verified(server, mail, login=False)
    unknown = new_email("nobody")
    known = Client(server).post("/forgot-password", {"email": account.email})
    other = Client(server).post("/forgot-password", {"email": unknown})
    assert known.status_code == other.status_code == 202
    assert known.json() == other.json()
    assert set(known.json()) == {"message"} and known.json()["message"]
    assert reset_token(mail, account.email)
    assert quiet_for(mail, unknown) == []


def test_resend_verification_answers_the_same_in_every_case(server, mail):
    verified = register_verified(server, mail, login=False)
    unverified, first = register_unverified(server, mail)
    unknown = new_email("nobody")
    answers = [Client(server).post("/resend-verification", {"email": e})
               for e in (verified.email, unverified, unknown)]
    assert [a.status_code for a in answers] == [202, 202, 202]
    assert answers[0].json() == answers[1].json() == answers[2].json()
    assert set(answers[0].json()) == {"message"}
    tokens = mail_tokens(mail, unverified, VERIFY_LINK, 2)
    assert tokens[1] != first
    assert quiet_for(mail, unknown) == []
    assert len(mail.received(verified.email)) == 1     # only the first link


# ------------------------------------------------------------------- login

def test_login_success_shape(server, mail, db):
    account = register_verified(server, mail, login=False)
    ua = "Mozilla/5.0 (X11; Linux x86_64) jklg-shape"
    client = Client(server, ua=ua)
    started = time.time()
    resp = client.login(account.email, account.password)
    body = assert_json(resp, 200)
    assert_no_store(resp)
    assert set(body) == {"token", "token_type", "expires_at", "session", "customer"}
    assert body["token_type"] == "Bearer"
    assert isinstance(body["token"], str) and body["token"].count(".") == 2
    expires = parse_ts(body["expires_at"])
    assert started + WEEK - 120 <= expires <= time.time() + WEEK + 120

    session = body["session"]
    assert_session(session)
    assert session["ip"] == client.ip
    assert session["user_agent"] == ua
    assert session["current"] is True
    assert abs(parse_ts(session["expires_at"]) - expires) <= 2
    assert_customer(body["customer"], account.email)
    assert body["customer"] == account.customer

    _, claims, _ = jwt_split(body["token"])
    assert claims["sub"] == account.id
    assert claims["sid"] == session["id"]
    assert abs(claims["exp"] - expires) <= 1
    with db.cursor() as cur:
        cur.execute("SELECT customer_id, host(ip), user_agent FROM customer_sessions "
                    "WHERE id = %s", (session["id"],))
        assert cur.fetchone() == (account.id, client.ip, ua)


def test_session_records_an_ipv6_client(server, mail):
    account = register_verified(server, mail, login=False)
    client = Client(server, ip="2001:db8::%x" % (os.getpid() & 0xffff))
    body = assert_json(client.login(account.email, account.password), 200)
    assert body["session"]["ip"] == client.ip


def test_login_email_is_trimmed_and_case_insensitive(server, mail):
    account = register_verified(server, mail, login=False)
    resp = Client(server).login("  " + account.email.upper() + "\t", account.password)
    assert assert_json(resp, 200)["customer"]["email"] == account.email


def test_user_agent_is_cut_at_512_bytes(server, mail):
    account = register_verified(server, mail, login=False)
    ua = "U" * 600
    body = assert_json(Client(server, ua=ua).login(account.email, account.password),
                       200)
    assert body["session"]["user_agent"] == "U" * 512


def test_wrong_password_and_unknown_email_look_the_same(server, mail):
    account = register_verified(server, mail, login=False)
    wrong = Client(server).login(account.email, "Not the right password 1")
    unknown = Client(server).login(new_email("nobody"), account.password)
    assert_error(wrong, 401, "invalid_credentials")
    assert_error(unknown, 401, "invalid_credentials")
    assert wrong.json() == unknown.json()


def test_unverified_login(server, mail):
    email, _ = register_unverified(server, mail)
    client = Client(server)
    assert_error(client.login(email, PASSWORD), 403, "email_not_verified")
    # A wrong password says nothing about the verification state.
    assert_error(client.login(email, NEW_PASSWORD), 401, "invalid_credentials")


def test_login_validation(server):
    client = Client(server)
    assert_fields(client.post("/login", {"email": "not-an-email",
                                         "password": PASSWORD}), "email")
    assert_fields(client.post("/login", {"email": new_email(), "password": 5}),
                  "password")


def test_logout_ends_only_the_current_session(server, mail, db):
    account = register_verified(server, mail)
    other, _ = login_again(server, account)
    assert session_count(db, account.email) == 2
    resp = account.client.post("/logout")
    assert resp.status_code == 204, resp.text
    assert_unauthorized(account.client.get("/me"))
    assert_json(other.get("/me"), 200)
    assert session_count(db, account.email) == 1


def test_logout_without_token_is_401(server):
    assert_unauthorized(Client(server).post("/logout"))


# ------------------------------------------------------- verification token

def test_verification_token_is_single_use(server, mail):
    email, token = register_unverified(server, mail)
    assert_json(verify(server, token), 200)
    assert_error(verify(server, token), 400, "invalid_token")


def test_resend_invalidates_the_earlier_link(server, mail):
    email, first = register_unverified(server, mail)
    resp = Client(server).post("/resend-verification", {"email": email.upper()})
    assert resp.status_code == 202
    tokens = mail_tokens(mail, email, VERIFY_LINK, 2)
    second = [t for t in tokens if t != first][0]
    assert_error(verify(server, first), 400, "invalid_token")
    assert_customer(assert_json(verify(server, second), 200)["customer"], email)


def test_expired_verification_token(server, mail, db):
    email, token = register_unverified(server, mail)
    expire_tokens(db, "email_verification_tokens", email)
    assert_error(verify(server, token), 400, "invalid_token")
    assert_error(Client(server).login(email, PASSWORD), 403, "email_not_verified")


@pytest.mark.parametrize("token", [
    "A" * 43, "garbage", "A" * 42, "A" * 44, "", "A" * 42 + "=",
    "A" * 42 + "!", "A" * 1000,
])
def test_bad_verification_tokens(server, token):
    assert_error(verify(server, token), 400, "invalid_token")


def test_verification_token_must_be_a_string(server):
    assert_fields(Client(server).post("/verify-email", {"token": 12345}), "token")


def test_tokens_are_stored_only_as_sha256(server, mail, db):
    email, token = register_unverified(server, mail)
    with db.cursor() as cur:
        cur.execute("SELECT t.token_hash FROM email_verification_tokens t "
                    "JOIN customers c ON c.id = t.customer_id WHERE c.email = %s",
                    (email,))
        [(stored,)] = cur.fetchall()
    raw = base64.urlsafe_b64decode(token + "=")
    assert len(raw) == 32
    assert bytes(stored) == hashlib.sha256(raw).digest()


def test_verify_uses_every_verification_token_of_the_customer(server, mail, db):
    email, token = register_unverified(server, mail)
    # A second live token, as another server could have issued it.
    spare = os.urandom(32)
    with db.cursor() as cur:
        cur.execute("INSERT INTO email_verification_tokens (customer_id, "
                    "token_hash, expires_at) SELECT id, %s, now() + interval "
                    "'1 hour' FROM customers WHERE email = %s",
                    (hashlib.sha256(spare).digest(), email))
    assert_json(verify(server, token), 200)
    assert_error(verify(server, base64.urlsafe_b64encode(spare).rstrip(b"=")
                        .decode()), 400, "invalid_token")


# ------------------------------------------------------------ reset password

def test_forgot_and_reset_password(server, mail, db):
    account = register_verified(server, mail)
    other, _ = login_again(server, account)
    resp = Client(server).post("/forgot-password", {"email": " " + account.email.upper()})
    assert resp.status_code == 202, resp.text
    token = reset_token(mail, account.email)
    msg = wait_subject(mail, account.email, "Reset your")
    assert f"https://travel.test/reset-password/{token}" in text_part(msg)

    resp = Client(server).post("/reset-password", {"token": token,
                                                   "password": NEW_PASSWORD})
    body = assert_json(resp, 200)
    assert set(body) == {"message"} and body["message"]

    assert_unauthorized(account.client.get("/me"))
    assert_unauthorized(other.get("/me"))
    assert session_count(db, account.email) == 0
    client = Client(server)
    assert_error(client.login(account.email, PASSWORD), 401, "invalid_credentials")
    assert_json(client.login(account.email, NEW_PASSWORD), 200)
    wait_subject(mail, account.email, "password was changed")

    # Single use.
    resp = Client(server).post("/reset-password", {"token": token,
                                                   "password": PASSWORD + "x"})
    assert_error(resp, 400, "invalid_token")
    assert_json(Client(server).login(account.email, NEW_PASSWORD), 200)


def test_reset_invalidates_other_outstanding_reset_tokens(server, mail):
    account = register_verified(server, mail, login=False)
    for _ in range(2):
        assert Client(server).post("/forgot-password",
                                   {"email": account.email}).status_code == 202
    first, second = mail_tokens(mail, account.email, RESET_LINK, 2)[:2]
    assert first != second
    assert_json(Client(server).post("/reset-password",
                                    {"token": first, "password": NEW_PASSWORD}), 200)
    assert_error(Client(server).post("/reset-password",
                                     {"token": second, "password": PASSWORD + "!"}),
                 400, "invalid_token")
    assert_json(Client(server).login(account.email, NEW_PASSWORD), 200)


def test_concurrent_resets_with_one_token_succeed_once(server, mail):
    account = register_verified(server, mail, login=False)
    assert Client(server).post("/forgot-password",
                               {"email": account.email}).status_code == 202
    token = reset_token(mail, account.email)
    passwords = [f"Parallel passphrase number {i}" for i in range(20)]
    ips = unique_ips(20)

    def attempt(i):
        return Client(server, ip=ips[i]).post(
            "/reset-password", {"token": token, "password": passwords[i]})

    with ThreadPoolExecutor(20) as pool:
        answers = list(pool.map(attempt, range(20)))
    codes = [a.status_code for a in answers]
    assert codes.count(200) == 1, codes
    assert codes.count(400) == 19, codes
    for answer in answers:
        if answer.status_code == 400:
            assert_error(answer, 400, "invalid_token")
    winner = passwords[codes.index(200)]
    assert_json(Client(server).login(account.email, winner), 200)
    for password in passwords:
        if password != winner:
            assert_error(Client(server).login(account.email, password), 401,
                         "invalid_credentials")
            break


def test_expired_reset_token(server, mail, db):
    account = register_verified(server, mail, login=False)
    Client(server).post("/forgot-password", {"email": account.email})
    token = reset_token(mail, account.email)
    expire_tokens(db, "password_reset_tokens", account.email)
    assert_error(Client(server).post("/reset-password",
                                     {"token": token, "password": NEW_PASSWORD}),
                 400, "invalid_token")
    assert_json(Client(server).login(account.email, PASSWORD), 200)


@pytest.mark.parametrize("token", ["A" * 43, "short", "A" * 44, ""])
def test_bad_reset_tokens(server, token):
    assert_error(Client(server).post("/reset-password",
                                     {"token": token, "password": NEW_PASSWORD}),
                 400, "invalid_token")


def test_reset_applies_the_password_policy(server, mail):
    account = register_verified(server, mail, login=False)
    Client(server).post("/forgot-password", {"email": account.email})
    token = reset_token(mail, account.email)
    for password, message in (("too short", "must be at least 10 characters"),
                              ("password123", None), (account.email, None)):
        fields = assert_fields(Client(server).post(
            "/reset-password", {"token": token, "password": password}), "password")
        if message:
            assert fields["password"] == message
    assert_json(Client(server).login(account.email, PASSWORD), 200)


def test_reset_verifies_the_email(server, mail, db):
    email, _ = register_unverified(server, mail)
    Client(server).post("/forgot-password", {"email": email})
    token = reset_token(mail, email)
    assert_json(Client(server).post("/reset-password",
                                    {"token": token, "password": NEW_PASSWORD}), 200)
    assert customer_row(db, email)[5] is not None
    body = assert_json(Client(server).login(email, NEW_PASSWORD), 200)
    assert body["customer"]["email_verified"] is True


# ----------------------------------------------------------- change password

def test_change_password(server, mail, db):
    account = register_verified(server, mail)
    other, _ = login_again(server, account)
    third, _ = login_again(server, account)

    resp = account.client.post("/me/password", {"current_password": "Wrong password 0",
                                                "new_password": NEW_PASSWORD})
    fields = assert_fields(resp, "current_password")
    assert fields["current_password"] == "is not correct"
    assert_json(other.get("/me"), 200)          # nothing was revoked

    resp = account.client.post("/me/password", {"current_password": PASSWORD,
                                                 "new_password": NEW_PASSWORD})
    body = assert_json(resp, 200)
    assert set(body) == {"message"} and body["message"]
    assert_no_store(resp)

    assert_json(account.client.get("/me"), 200)
    assert_unauthorized(other.get("/me"))
    assert_unauthorized(third.get("/me"))
    assert session_count(db, account.email) == 1
    client = Client(server)
    assert_error(client.login(account.email, PASSWORD), 401, "invalid_credentials")
    assert_json(client.login(account.email, NEW_PASSWORD), 200)
    wait_subject(mail, account.email, "password was changed")


def test_change_password_validation(server, mail):
    account = register_verified(server, mail)
    for new in ("too short", "password123", account.email.upper(), "é" * 513):
        assert_fields(account.client.post("/me/password", {
            "current_password": PASSWORD, "new_password": new}), "new_password")
    assert_fields(account.client.post("/me/password", {"new_password": NEW_PASSWORD}),
                  "current_password")
    body = {"current_password": PASSWORD, "new_password": NEW_PASSWORD}
    body.update(FORBIDDEN_FIELDS)
    fields = assert_fields(account.client.post("/me/password", body),
                           *FORBIDDEN_FIELDS)
    assert set(fields) == set(FORBIDDEN_FIELDS)
    assert_json(Client(server).login(account.email, PASSWORD), 200)


def test_change_password_needs_a_token(server):
    assert_unauthorized(Client(server).post("/me/password", {
        "current_password": PASSWORD, "new_password": NEW_PASSWORD}))


# ------------------------------------------------------------- rate limits

def exhaust(limit, window, keys, send, allowed):
    """Sends `limit` requests that must pass (`allowed(resp)` asserts how),
    then one more that must be 429. Windows are fixed: one may end during
    the burst, and counting restarts, so a burst that was not stopped is
    repeated once with fresh keys (a limiter that never stops anything
    still fails). keys() makes the per-round context that send(ctx) uses;
    returns that context."""
    for round_ in range(2):
        ctx = keys()
        for _ in range(limit):
            allowed(send(ctx))
        last = send(ctx)
        if last.status_code == 429 or round_ == 1:
            assert_rate_limited(last, window)
            return ctx


def test_login_limit_per_ip_and_email(server, mail):
    account = register_verified(server, mail, login=False)
    guess = "Guessing password 1"
    attacker = exhaust(
        10, 900, lambda: Client(server),
        lambda c: c.login(account.email, guess),
        lambda r: assert_error(r, 401, "invalid_credentials"))
    # Counted on every attempt: the right password does not get through either.
    assert_rate_limited(attacker.login(account.email.upper(), account.password), 900)
    # The customer elsewhere is not affected.
    assert_error(Client(server).login(account.email, guess), 401,
                 "invalid_credentials")
    assert_json(Client(server).login(account.email, account.password), 200)
    # Another email from the attacker's address is not affected either.
    assert_error(attacker.login(new_email("other"), guess), 401,
                 "invalid_credentials")


def accepted(resp):
    assert resp.status_code == 202, resp.text


def test_register_limit_per_ip(server, mail):
    exhaust(30, 300, lambda: Client(server),
            lambda c: c.post("/register", registration(new_email("burst"))),
            accepted)


def test_register_limit_per_email(server, mail):
    # From a new address each time: only the email is counted.
    exhaust(5, 3600, lambda: new_email("again"),
            lambda e: Client(server).post("/register", registration(e.upper())),
            accepted)


def test_forgot_limit_per_email(server, mail):
    exhaust(5, 3600, lambda: new_email("forgot"),
            lambda e: Client(server).post("/forgot-password", {"email": e}),
            accepted)


def test_resend_limit_per_email(server, mail):
    exhaust(5, 3600, lambda: new_email("resend"),
            lambda e: Client(server).post("/resend-verification", {"email": e}),
            accepted)


@pytest.mark.parametrize("path,body", [
    ("/verify-email", {"token": "A" * 43}),
    ("/reset-password", {"token": "A" * 43, "password": NEW_PASSWORD}),
])
def test_token_guessing_limit_per_ip(server, path, body):
    exhaust(30, 300, lambda: Client(server), lambda c: c.post(path, body),
            lambda r: assert_error(r, 400, "invalid_token"))
    assert_error(Client(server).post(path, body), 400, "invalid_token")


def test_password_change_limit_per_customer(server, mail):
    body = {"current_password": "Wrong password 0", "new_password": NEW_PASSWORD}

    def keys():
        account = register_verified(server, mail)
        return {"sessions": [account.client, login_again(server, account)[0]],
                "sent": 0}

    def send(ctx):
        # Counted per customer: the 11th attempt comes from another session.
        ctx["sent"] += 1
        client = ctx["sessions"][1 if ctx["sent"] > 10 else 0]
        return client.post("/me/password", body)

    exhaust(10, 900, keys, send, lambda r: assert_fields(r, "current_password"))


# ---------------------------------------------------------- bcrypt import

def password_hash(db, email):
    with db.cursor() as cur:
        cur.execute("SELECT password_hash FROM customers WHERE email = %s", (email,))
        return cur.fetchone()[0]


@pytest.mark.parametrize("prefix", ["$2y$", "$2b$", "$2a$"])
def test_bcrypt_hash_from_the_old_backend_is_upgraded(server, db, prefix):
    email = new_email("bcrypt")
    password = "Imported passphrase 2019"
    with db.cursor() as cur:
        cur.execute("INSERT INTO customers (email, password_hash, first_name, "
                    "last_name, email_verified_at) VALUES (%s, %s, 'Old', 'Node', "
                    "now())", (email, bcrypt_hash(password, prefix)))
    client = Client(server)
    assert_error(client.login(email, "Imported passphrase 2018"), 401,
                 "invalid_credentials")
    assert password_hash(db, email).startswith(prefix)
    body = assert_json(client.login(email, password), 200)
    assert_customer(body["customer"], email)
    assert body["customer"]["first_name"] == "Old"
    assert password_hash(db, email).startswith("$argon2id$")
    assert_json(Client(server).login(email, password), 200)
    assert_error(Client(server).login(email, "Imported passphrase 2018"), 401,
                 "invalid_credentials")
