"""Account security (docs/customers.md, "Account security"): security
events written with each change and listed to the customer, new-device
alerts with the one-click "secure my account" link, the safe email change
(confirm at the new address, revert from the old one, no enumeration),
and the retention of security events. Mails are read from the real SMTP
stand-in; client addresses come from X-Forwarded-For (mod_remoteip)."""

import re
import time
import uuid

import pytest

from harness.customers import (
    PASSWORD, TOKEN_RE, Client, assert_customer, assert_error,
    assert_fields, assert_json, assert_no_store, assert_unauthorized,
    mail_tokens, new_email, parse_ts, prefix24, register_verified,
    reset_token, text_part)
from harness.server import directives, own_server, serving, templates_dir

EVENT_KEYS = {"id", "type", "ip", "user_agent", "created_at"}
SECURE_LINK = re.compile(r"https://travel\.test/secure-account\?token=("
                         + TOKEN_RE + ")")
CONFIRM_LINK = re.compile(r"https://travel\.test/confirm-email-change\?token=("
                          + TOKEN_RE + ")")
REVERT_LINK = re.compile(r"https://travel\.test/revert-email-change\?token=("
                         + TOKEN_RE + ")")
FIREFOX = ("Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 "
           "Firefox/128.0")
FIREFOX_OLD = ("Mozilla/5.0 (Windows NT 10.0; rv:115.0) Gecko/20100101 "
               "Firefox/115.0")
CHROME = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 "
          "(KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36")
NEW_SIGN_IN = "New sign-in"
SETTLE = 1.5        # seconds a mail that should not come is given to come


def events(client, **params):
    """Every event of the client's account, newest first, page by page."""
    out, cursor = [], None
    while True:
        query = dict(params)
        if cursor:
            query["cursor"] = cursor
        resp = client.get("/me/security-events", params=query)
        body = assert_json(resp, 200)
        assert set(body) == {"data", "next_cursor"}
        assert_no_store(resp)
        for event in body["data"]:
            assert set(event) == EVENT_KEYS, event
            uuid.UUID(event["id"])
            parse_ts(event["created_at"])
        out += body["data"]
        cursor = body["next_cursor"]
        if not cursor:
            return out


def types(evs):
    return sorted(e["type"] for e in evs)


def count_subject(mail, to, needle):
    return sum(1 for _, _, msg in mail.received(to) if needle in msg["Subject"])


def wait_count(mail, to, needle, count, timeout=30):
    """Waits until `count` messages with `needle` arrived, then gives
    others a moment: the exact count of such messages."""
    deadline = time.monotonic() + timeout
    while (count_subject(mail, to, needle) < count
           and time.monotonic() < deadline):
        time.sleep(0.05)
    time.sleep(SETTLE)
    return count_subject(mail, to, needle)


def login(server, account, ip, ua, password=None):
    client = Client(server, ip=ip, ua=ua)
    resp = client.login(account.email, password or account.password)
    assert_json(resp, 200)
    return client


@pytest.fixture
def account(server, mail):
    """A verified account whose first sign-in was from a Firefox in a /24
    of its own."""
    net = prefix24()
    acc = register_verified(server, mail, login=False)
    acc.client = login(server, acc, net + "10", FIREFOX)
    acc.net = net
    return acc


# ------------------------------------------------------------------ events

def test_events_of_logins_password_changes_resets_and_revocations(
        server, mail, account):
    stranger = Client(server, ip=prefix24() + "7", ua="bad-guy/1.0")
    assert_error(stranger.login(account.email, "wrong password 123"), 401,
                 "invalid_credentials")
    # An unknown address is no account's event.
    assert_error(stranger.login(new_email(), "wrong password 123"), 401,
                 "invalid_credentials")
    laptop = login(server, account, account.net + "20", FIREFOX_OLD)
    laptop_session = assert_json(laptop.get("/me/sessions"), 200)["data"]
    laptop_id = [s["id"] for s in laptop_session if s["current"]][0]
    assert account.client.delete(f"/me/sessions/{laptop_id}").status_code == 204
    # A revoked session of another customer, or an unknown one: no event.
    assert_error(account.client.delete(f"/me/sessions/{uuid.uuid4()}"), 404,
                 "not_found")
    new_password = PASSWORD + " changed"
    assert_json(account.client.post("/me/password", {
        "current_password": PASSWORD, "new_password": new_password}), 200)
    assert_json(account.client.post("/forgot-password",
                                    {"email": account.email}), 202)
    token = reset_token(mail, account.email)
    assert_json(Client(server, ip=account.net + "30", ua=FIREFOX).post(
        "/reset-password", {"token": token, "password": PASSWORD}), 200)
    fresh = login(server, account, account.net + "40", FIREFOX)

    evs = events(fresh)
    assert types(evs) == sorted(["login", "login", "login", "login_failed",
                                 "session_revoked", "password_changed",
                                 "password_reset"]), evs
    by_type = {e["type"]: e for e in evs}
    assert by_type["login_failed"]["ip"] == stranger.ip
    assert by_type["login_failed"]["user_agent"] == "bad-guy/1.0"
    assert by_type["password_reset"]["ip"] == account.net + "30"
    assert by_type["password_changed"]["ip"] == account.client.ip
    assert by_type["session_revoked"]["ip"] == account.client.ip
    assert evs[0]["type"] == "login" and evs[0]["ip"] == fresh.ip
    stamps = [e["created_at"] for e in evs]
    assert stamps == sorted(stamps, reverse=True)


def test_events_are_paginated_and_private(server, mail, account):
    for i in range(4):
        login(server, account, account.net + str(50 + i), FIREFOX)
    full = events(account.client, limit=100)
    assert len(full) == 5
    paged = events(account.client, limit=2)
    assert [e["id"] for e in paged] == [e["id"] for e in full]
    first = assert_json(account.client.get("/me/security-events",
                                           params={"limit": 2}), 200)
    assert len(first["data"]) == 2 and first["next_cursor"]
    other = register_verified(server, mail)
    assert [e["type"] for e in events(other.client)] == ["login"]
    assert_fields(account.client.get("/me/security-events",
                                     params={"limit": 0}), "limit")
    assert_unauthorized(Client(server).get("/me/security-events"))


# -------------------------------------------------------------- new device

def test_new_device_alerts_only_for_a_new_prefix_or_browser(
        server, mail, account):
    assert wait_count(mail, account.email, NEW_SIGN_IN, 0, timeout=0) == 0
    # Same /24 and family (another Firefox version): known.
    login(server, account, account.net + "99", FIREFOX_OLD)
    # Another /24, same family: new.
    away = prefix24()
    login(server, account, away + "5", FIREFOX)
    # The first /24 with another family: new.
    login(server, account, account.net + "11", CHROME)
    # Both are known now.
    login(server, account, away + "200", FIREFOX)
    login(server, account, account.net + "12", CHROME)
    # IPv6: one /64 is one device.
    login(server, account, "2001:db8:7:%x::1" % (uuid.uuid4().int % 65536),
          CHROME)
    assert wait_count(mail, account.email, NEW_SIGN_IN, 3) == 3
    evs = events(account.client)
    assert types(evs).count("new_device") == 3
    assert types(evs).count("login") == 7
    alerted = sorted(e["ip"] for e in evs if e["type"] == "new_device")
    assert away + "5" in alerted and account.net + "11" in alerted

    texts = [text_part(msg) for _, _, msg in mail.received(account.email)
             if NEW_SIGN_IN in msg["Subject"]]
    chrome_mail = [t for t in texts if account.net + "11" in t]
    assert len(chrome_mail) == 1 and "Chrome" in chrome_mail[0]
    assert SECURE_LINK.search(chrome_mail[0])


def test_first_sign_in_sends_no_alert(server, mail):
    acc = register_verified(server, mail, login=False)
    login(server, acc, prefix24() + "1", CHROME)
    assert wait_count(mail, acc.email, NEW_SIGN_IN, 0, timeout=0) == 0
    client = login(server, acc, prefix24() + "1", CHROME)
    assert wait_count(mail, acc.email, NEW_SIGN_IN, 1) == 1
    assert types(events(client)).count("new_device") == 1


def test_secure_account_revokes_everything_and_sends_a_reset(
        server, mail, account):
    other_device = login(server, account, prefix24() + "9", CHROME)
    secure = mail_tokens(mail, account.email, SECURE_LINK)[0]
    # A reset link asked for before is a way back in: it dies too.
    assert_json(Client(server).post("/forgot-password",
                                    {"email": account.email}), 202)
    old_reset = reset_token(mail, account.email)

    clicker = Client(server, ip=prefix24() + "3", ua=FIREFOX)
    body = assert_json(clicker.post("/secure-account", {"token": secure}), 200)
    assert set(body) == {"message"}
    for client in (account.client, other_device):
        assert_unauthorized(client.get("/me"))
    new_reset = reset_token(mail, account.email, count=2)
    assert new_reset != old_reset
    assert_error(Client(server).post("/reset-password", {
        "token": old_reset, "password": PASSWORD + " x"}), 400,
        "invalid_token")
    # Used once; a made-up one, a malformed one, none.
    assert_error(clicker.post("/secure-account", {"token": secure}), 400,
                 "invalid_token")
    assert_error(clicker.post("/secure-account",
                              {"token": "A" * 42 + "E"}), 400, "invalid_token")
    assert_error(clicker.post("/secure-account", {"token": "short"}), 400,
                 "invalid_token")
    assert_fields(clicker.post("/secure-account", {}), "token")
    # The new reset link works, and the owner is back in.
    assert_json(Client(server).post("/reset-password", {
        "token": new_reset, "password": PASSWORD + " new"}), 200)
    back = login(server, account, account.net + "10", FIREFOX,
                 password=PASSWORD + " new")
    evs = types(events(back))
    assert "session_revoked" in evs and "password_reset" in evs


def test_secure_account_link_expires(server, mail, account, db):
    login(server, account, prefix24() + "9", CHROME)
    secure = mail_tokens(mail, account.email, SECURE_LINK)[0]
    with db.cursor() as cur:
        cur.execute("UPDATE secure_account_tokens SET expires_at = now()"
                    " - interval '1 second' WHERE customer_id = %s",
                    (account.id,))
        assert cur.rowcount == 1
    assert_error(Client(server).post("/secure-account", {"token": secure}),
                 400, "invalid_token")
    assert_json(account.client.get("/me"), 200)


# ------------------------------------------------------------ email change

def change_email(client, new, password=PASSWORD):
    return client.post("/me/email", {"new_email": new, "password": password})


def test_email_change_confirmed(server, mail, account):
    new = new_email("moved")
    body = assert_json(change_email(account.client, "  " + new.upper()), 202)
    assert set(body) == {"message"}
    confirm = mail_tokens(mail, new, CONFIRM_LINK)[0]
    revert = mail_tokens(mail, account.email, REVERT_LINK)[0]
    assert new in text_part(mail.received(account.email)[-1][2])
    # Nothing changes before the new address confirms.
    assert assert_json(account.client.get("/me"), 200)["customer"]["email"] \
        == account.email

    resp = Client(server).post("/confirm-email-change", {"token": confirm})
    assert set(assert_json(resp, 200)) == {"message"}
    customer = assert_json(account.client.get("/me"), 200)["customer"]
    assert_customer(customer, new)
    assert_error(Client(server).post("/confirm-email-change",
                                     {"token": confirm}), 400, "invalid_token")
    assert_error(Client(server).login(account.email, PASSWORD), 401,
                 "invalid_credentials")
    assert_json(Client(server).login(new, PASSWORD), 200)
    assert "email_changed" in types(events(account.client))
    assert revert            # the old address keeps its way back (next test)


def test_email_change_reverted_after_confirm(server, mail, account):
    new = new_email("moved")
    assert_json(change_email(account.client, new), 202)
    confirm = mail_tokens(mail, new, CONFIRM_LINK)[0]
    revert = mail_tokens(mail, account.email, REVERT_LINK)[0]
    assert_json(Client(server).post("/confirm-email-change",
                                    {"token": confirm}), 200)
    thief = Client(server)
    assert_json(thief.login(new, PASSWORD), 200)

    resp = Client(server).post("/revert-email-change", {"token": revert})
    assert set(assert_json(resp, 200)) == {"message"}
    for client in (account.client, thief):
        assert_unauthorized(client.get("/me"))
    back = Client(server, ip=account.client.ip, ua=FIREFOX)
    me = assert_json(back.login(account.email, PASSWORD), 200)["customer"]
    assert me["email"] == account.email
    assert_error(Client(server).post("/revert-email-change",
                                     {"token": revert}), 400, "invalid_token")
    evs = types(events(back))
    assert evs.count("email_changed") == 2 and "session_revoked" in evs


def test_email_change_reverted_before_confirm_cancels_it(server, mail,
                                                         account):
    new = new_email("moved")
    assert_json(change_email(account.client, new), 202)
    confirm = mail_tokens(mail, new, CONFIRM_LINK)[0]
    revert = mail_tokens(mail, account.email, REVERT_LINK)[0]
    assert_json(Client(server).post("/revert-email-change",
                                    {"token": revert}), 200)
    assert_unauthorized(account.client.get("/me"))
    assert_error(Client(server).post("/confirm-email-change",
                                     {"token": confirm}), 400, "invalid_token")
    back = login(server, account, account.net + "10", FIREFOX)
    assert assert_json(back.get("/me"), 200)["customer"]["email"] \
        == account.email
    assert "email_changed" not in types(events(back))


def test_email_change_does_not_reveal_registered_addresses(server, mail,
                                                           account):
    taken = register_verified(server, mail, login=False).email
    before = len(mail.received(taken))
    free = new_email("free")
    answer_taken = assert_json(change_email(account.client, taken), 202)
    answer_free = assert_json(change_email(account.client, free), 202)
    assert answer_taken == answer_free
    mail_tokens(mail, free, CONFIRM_LINK)
    # The free address's notice reached the old address; the taken one
    # caused no mail at all.
    notices = mail_tokens(mail, account.email, REVERT_LINK)
    time.sleep(SETTLE)
    assert len(mail.received(taken)) == before
    assert len(notices) == 1
    assert_json(account.client.get("/me"), 200)


def test_email_change_bad_input(server, mail, account):
    assert_error(change_email(account.client, new_email(), "wrong pass 123"),
                 401, "invalid_credentials")
    assert_fields(change_email(account.client, "not an address"), "new_email")
    assert_fields(account.client.post("/me/email", {"new_email": new_email()}),
                  "password")
    assert_fields(account.client.post("/me/email", {
        "new_email": new_email(), "password": PASSWORD, "role": "admin"}),
        "role")
    assert_fields(change_email(account.client, account.email), "new_email")
    assert_unauthorized(Client(server).post("/me/email", {
        "new_email": new_email(), "password": PASSWORD}))
    for path in ("/confirm-email-change", "/revert-email-change"):
        assert_error(Client(server).post(path, {"token": "A" * 42 + "E"}),
                     400, "invalid_token")
        assert_fields(Client(server).post(path, {}), "token")
    time.sleep(SETTLE)
    assert not any(REVERT_LINK.search(text_part(msg))
                   for _, _, msg in mail.received(account.email))
    assert assert_json(account.client.get("/me"), 200)["customer"]["email"] \
        == account.email


def test_email_change_conflict_when_taken_meanwhile(server, mail, account):
    new = new_email("race")
    assert_json(change_email(account.client, new), 202)
    confirm = mail_tokens(mail, new, CONFIRM_LINK)[0]
    register_verified(server, mail, email=new, login=False)
    assert_error(Client(server).post("/confirm-email-change",
                                     {"token": confirm}), 409, "conflict")
    assert assert_json(account.client.get("/me"), 200)["customer"]["email"] \
        == account.email


def test_newer_email_change_cancels_the_older_link(server, mail, account):
    first, second = new_email("one"), new_email("two")
    assert_json(change_email(account.client, first), 202)
    old_confirm = mail_tokens(mail, first, CONFIRM_LINK)[0]
    assert_json(change_email(account.client, second), 202)
    new_confirm = mail_tokens(mail, second, CONFIRM_LINK)[0]
    assert_error(Client(server).post("/confirm-email-change",
                                     {"token": old_confirm}), 400,
                 "invalid_token")
    assert_json(Client(server).post("/confirm-email-change",
                                    {"token": new_confirm}), 200)
    assert assert_json(account.client.get("/me"), 200)["customer"]["email"] \
        == second


# --------------------------------------------------------------- retention

def insert_events(db, customer, *ages_days):
    with db.cursor() as cur:
        for days in ages_days:
            cur.execute("INSERT INTO security_events (customer_id, type,"
                        " created_at) VALUES (%s, 'login_failed',"
                        " now() - %s * interval '1 day')", (customer, days))


def remaining_ages(db, customer):
    with db.cursor() as cur:
        cur.execute("SELECT round(extract(epoch FROM now() - created_at)"
                    " / 86400)::int FROM security_events"
                    " WHERE customer_id = %s AND type = 'login_failed'"
                    " ORDER BY 1", (customer,))
        return [r[0] for r in cur.fetchall()]


def wait_purged(db, customer, want):
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and remaining_ages(db, customer) != want:
        time.sleep(0.2)
    return remaining_ages(db, customer)


def test_housekeeping_purges_events_past_the_retention(server, mail,
                                                       account, db):
    insert_events(db, account.id, 400, 300, 40)
    with db.cursor() as cur:
        cur.execute("INSERT INTO secure_account_tokens (customer_id,"
                    " token_hash, expires_at) VALUES (%s,"
                    " decode(md5(random()::text) || md5(random()::text),"
                    " 'hex'), now() - interval '2 days')", (account.id,))
    server.graceful()           # new children: their first sweep purges
    assert wait_purged(db, account.id, [40, 300]) == [40, 300]
    with db.cursor() as cur:
        cur.execute("SELECT count(*) FROM secure_account_tokens"
                    " WHERE customer_id = %s", (account.id,))
        assert cur.fetchone()[0] == 0
    assert "login" in types(events(account.client))


@pytest.fixture
def short_retention(pg, smtp, stripe_api, tmp_path):
    """A second server on the same database that keeps events 30 days."""
    conf = directives(smtp, stripe_api, templates_dir(tmp_path),
                      JKLGSecurityEventRetention="30d")
    with serving(own_server(tmp_path, pg.dbd_params(), conf)) as httpd:
        yield httpd


def test_retention_directive(server, mail, account, db, short_retention):
    insert_events(db, account.id, 400, 45, 10)
    short_retention.graceful()
    assert wait_purged(db, account.id, [10]) == [10]
