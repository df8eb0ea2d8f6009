"""Data rights (docs/data-rights.md): GET /api/customers/me/export and
DELETE /api/customers/me, over HTTP against the real module and database.

The export is compared with the tables: every table that holds customer
data is either exported or listed in EXCLUDED with a reason, so a table
added later cannot be forgotten silently (extend EXPORTED or EXCLUDED)."""

import re
import threading
import uuid

import pytest

from harness.customers import (
    PASSWORD, Client, assert_error, assert_fields, assert_json,
    assert_no_store, assert_unauthorized, register, register_verified,
    verification_token, verify)
from harness.payments import Staff, one, rows

API = "/api/customers"
EXPORT_KEYS = {"customer", "addresses", "preferences", "sessions", "bookings",
               "transactions", "security_events", "emails"}
LIST_KEYS = EXPORT_KEYS - {"customer", "preferences"}
EXPORT_CAP = 10000
PLACEHOLDER = re.compile(r"^erased\+[0-9a-f]{32}@invalid$")
ADDRESS = {"label": "Home", "line1": "Rua Augusta 1", "city": "Lisboa",
           "postal_code": "1100-048", "country": "PT"}

# Every table holding customer data: exported under this key of the
# export ...
EXPORTED = {
    "customers": "customer",
    "customer_addresses": "addresses",
    "customer_preferences": "preferences",
    "customer_sessions": "sessions",
    "bookings": "bookings",
    "transactions": "transactions",
    "security_events": "security_events",
    "email_outbox": "emails",
}
# ... or deliberately not, and why. (docs/data-rights.md has the same map.)
EXCLUDED = {
    "email_verification_tokens": "one-time token hashes: secrets; deleted "
                                 "by erasure",
    "password_reset_tokens": "one-time token hashes: secrets; deleted by "
                             "erasure",
    "refunds": "staff's refund records (reason, requested_by); the outcome "
               "is in the exported transactions' amount_refunded and status",
    "transaction_audit_logs": "the payments' audit trail, staff's and the "
                              "gateway's record; kept for the accounts",
    "payment_events": "raw gateway event payloads; the transactions they "
                      "changed are exported",
    "staff_audit": "staff's record of their actions on the account",
    "customer_mfa": "the TOTP secret: never leaves the module; deleted by "
                    "erasure",
    "mfa_recovery_codes": "recovery code hashes: secrets; deleted by erasure",
    "mfa_tokens": "login second-step token hashes: secrets; deleted by "
                  "erasure",
    "secure_account_tokens": "one-time token hashes: secrets; deleted by "
                             "erasure",
    "installments": "exported inside each booking (its schedule); kept "
                    "for the accounts",
    "payment_methods": "saved cards (brand, last 4 digits, expiry): listed "
                       "by GET /me/payment-methods; deleted by erasure (the "
                       "card itself is the gateway's)",
    "gateway_customers": "the customer's id at the gateway, a reference "
                         "with no personal data; kept to match the "
                         "gateway's records",
    "email_changes": "requested email changes (old and new address, link "
                     "hashes); the address in use is exported; deleted by "
                     "erasure",
}


@pytest.fixture
def account(server, mail):
    return register_verified(server, mail)


def export(client):
    resp = client.get("/me/export")
    body = assert_json(resp, 200)
    assert set(body) == EXPORT_KEYS, body.keys()
    for key in LIST_KEYS:
        assert set(body[key]) == {"data", "truncated"}, (key, body[key])
    assert resp.headers["Content-Disposition"] == \
        'attachment; filename="jklg-export.json"'
    assert_no_store(resp)
    return resp, body


def ids(body, key):
    return {item["id"] for item in body[key]["data"]}


def past_booking(db, staff, account, status=None):
    """A booking whose travel ended last year (erasure is then allowed)."""
    booking = staff.create_booking(account)
    with db.cursor() as cur:
        cur.execute("UPDATE bookings SET travel_start = current_date - 400,"
                    " travel_end = current_date - 393"
                    + (", status = %s" if status else "")
                    + " WHERE id = %s",
                    ((status, booking["id"]) if status else (booking["id"],)))
    return booking


def full_history(server, db, account):
    """Gives the account one row in every exported table; returns the ids."""
    client = account.client
    address = assert_json(client.post("/me/addresses", ADDRESS), 201)["address"]
    assert_json(client.put("/me/preferences", {"language": "pt",
                                               "newsletter": True}), 200)
    staff = Staff(server)
    booking = past_booking(db, staff, account)
    tx = staff.manual_ok(booking["id"], booking["amount_total"])
    event = one(db, "SELECT jklg.security_event(%s, 'login', '10.9.8.7', "
                "'probe-agent'); SELECT id FROM security_events WHERE "
                "customer_id = %s", (account.id, account.id))[0]
    return {"customer_addresses": address["id"], "bookings": booking["id"],
            "transactions": tx["id"], "security_events": str(event),
            "customer_sessions": account.session["id"]}


# ------------------------------------------------------------------ export

def test_export_holds_every_table(server, mail, db, account):
    made = full_history(server, db, account)
    _, body = export(account.client)
    assert body["customer"]["id"] == account.id
    assert body["customer"]["email"] == account.email
    assert body["customer"]["erased_at"] is None
    assert body["preferences"]["language"] == "pt"
    assert body["preferences"]["newsletter"] is True
    for table, key in EXPORTED.items():
        if table in made:
            assert made[table] in ids(body, key), (table, body[key])
    current = [s for s in body["sessions"]["data"] if s["current"]]
    assert [s["id"] for s in current] == [account.session["id"]]
    event = body["security_events"]["data"][0]
    assert (event["type"], event["ip"], event["user_agent"]) == \
        ("login", "10.9.8.7", "probe-agent")
    templates = [m["template"] for m in body["emails"]["data"]]
    assert "verification" in templates, templates
    for m in body["emails"]["data"]:
        assert set(m) == {"id", "template", "subject", "status",
                          "created_at", "sent_at"}
        assert m["subject"] is None
    for key in LIST_KEYS:
        assert body[key]["truncated"] is False


def test_export_holds_no_secret(server, mail, db, account):
    resp, _ = export(account.client)
    text = resp.text
    password_hash = one(db, "SELECT password_hash FROM customers WHERE id = %s",
                        (account.id,))[0]
    assert password_hash not in text
    token = verification_token(mail, account.email)
    assert token not in text
    for (token_hash,) in rows(db, "SELECT encode(token_hash, 'hex') FROM "
                              "email_verification_tokens WHERE customer_id = %s",
                              (account.id,)):
        assert token_hash not in text
    assert "verify-email?token=" not in text
    assert "password_hash" not in text and "token_hash" not in text


def test_export_is_only_the_customers_own(server, mail, db, account):
    other = register_verified(server, mail)
    made = full_history(server, db, other)
    _, body = export(account.client)
    for table, key in EXPORTED.items():
        if table in made:
            assert made[table] not in ids(body, key), table
    assert body["customer"]["email"] == account.email
    assert other.email not in str(body)


def test_export_needs_a_token(server):
    assert_unauthorized(Client(server).get("/me/export"))


def test_export_bounded_with_thousands_of_rows(server, db, account):
    """Each list holds its newest EXPORT_CAP rows and says so when there
    were more: the document stays bounded however long the history."""
    extra = 37
    with db.cursor() as cur:
        cur.execute("INSERT INTO security_events (customer_id, type, ip, "
                    "created_at) SELECT %s, 'login_failed', '10.0.0.1', "
                    "now() - make_interval(secs => g) "
                    "FROM generate_series(1, %s) g",
                    (account.id, EXPORT_CAP + extra))
        cur.execute("INSERT INTO bookings (reference, customer_id, description,"
                    " travel_start, travel_end, amount_total, currency) "
                    "SELECT 'EXP-' || md5(random()::text), %s, 'trip ' || g, "
                    "'2020-01-01', '2020-01-02', 1000, 'eur' "
                    "FROM generate_series(1, 3000) g", (account.id,))
        cur.execute("SELECT id FROM security_events WHERE customer_id = %s "
                    "ORDER BY created_at DESC, id DESC LIMIT %s",
                    (account.id, EXPORT_CAP))
        newest = [str(r[0]) for r in cur.fetchall()]
    _, body = export(account.client)
    events = body["security_events"]
    assert events["truncated"] is True
    assert [e["id"] for e in events["data"]] == newest
    assert body["bookings"]["truncated"] is False
    assert len(body["bookings"]["data"]) == 3000


def test_every_customer_table_is_exported_or_excluded(db):
    """Tables that hold customer data: a customer_id column, a foreign key
    (directly or through other tables) to customers, or an email address
    column. Each must be exported or excluded with a reason."""
    tables = {r[0] for r in rows(db, """
        WITH RECURSIVE fk(child, parent) AS (
            SELECT c.conrelid::regclass::text, c.confrelid::regclass::text
              FROM pg_constraint c
             WHERE c.contype = 'f'
               AND c.connamespace = 'public'::regnamespace),
        held(t) AS (
            SELECT 'customers'
            UNION
            SELECT fk.child FROM fk JOIN held ON fk.parent = held.t)
        SELECT t FROM held
        UNION
        SELECT table_name FROM information_schema.columns
         WHERE table_schema = 'public'
           AND column_name IN ('customer_id', 'email', 'recipient')
           AND table_name IN (SELECT table_name FROM information_schema.tables
                               WHERE table_schema = 'public'
                                 AND table_type = 'BASE TABLE')""")}
    forgotten = tables - set(EXPORTED) - set(EXCLUDED)
    assert not forgotten, (
        f"tables holding customer data, neither exported nor excluded: "
        f"{sorted(forgotten)}; add them to jklg.customer_export "
        f"(sql) and EXPORTED, or to EXCLUDED with the reason")
    stale = (set(EXPORTED) | set(EXCLUDED)) - tables
    assert not stale, f"listed but holding no customer data: {sorted(stale)}"
    assert not set(EXPORTED) & set(EXCLUDED)
    assert all(reason for reason in EXCLUDED.values())


# ----------------------------------------------------------------- erasure

def erase(client, password=PASSWORD):
    return client.request("DELETE", "/me", {"password": password})


def test_erase_erases_personal_data_and_keeps_the_accounts(server, mail, db,
                                                           pg, account):
    made = full_history(server, db, account)
    second = Client(server)
    assert second.login(account.email, PASSWORD).status_code == 200
    old_id = account.id
    events = one(db, "SELECT count(*) FROM security_events"
                 " WHERE customer_id = %s", (old_id,))[0]
    resp = erase(account.client)
    assert set(assert_json(resp, 202)) == {"message"}

    # Both devices are signed out.
    assert_unauthorized(account.client.get("/me"))
    assert_unauthorized(second.get("/me"))
    row = one(db, "SELECT email, first_name, last_name, phone, password_hash, "
              "erased_at IS NOT NULL FROM customers WHERE id = %s", (old_id,))
    email, first, last, phone, password_hash, erased = row
    assert PLACEHOLDER.match(email), email
    assert (first, last, phone, erased) == ("", "", None, True)
    assert not password_hash.startswith("$")
    for table in ("customer_sessions", "customer_addresses",
                  "customer_preferences", "email_verification_tokens",
                  "password_reset_tokens"):
        assert one(db, f"SELECT count(*) FROM {table} WHERE customer_id = %s",
                   (old_id,))[0] == 0, table
    assert one(db, "SELECT count(*) FROM security_events WHERE customer_id = %s"
               " AND (ip IS NOT NULL OR user_agent IS NOT NULL)", (old_id,))[0] == 0
    # The access history stays (type and time), without who or where.
    assert one(db, "SELECT count(*) FROM security_events WHERE customer_id = %s",
               (old_id,))[0] == events
    # Mail: no row names the old address; the records stay, without data.
    assert one(db, "SELECT count(*) FROM email_outbox WHERE recipient = %s",
               (account.email,))[0] == 0
    assert one(db, "SELECT count(*) FROM email_outbox WHERE recipient = %s "
               "AND data IS NULL", (email,))[0] >= 1
    # The accounts are kept: booking, transaction, audit.
    assert one(db, "SELECT customer_id FROM bookings WHERE id = %s",
               (made["bookings"],))[0] == old_id
    assert one(db, "SELECT count(*) FROM transaction_audit_logs WHERE "
               "transaction_id = %s", (made["transactions"],))[0] >= 1
    staff_view = assert_json(Staff(server).get(
        "/transactions", params={"customer_id": old_id}), 200)
    assert [t["id"] for t in staff_view["data"]] == [made["transactions"]]

    # The export agrees with what is left: placeholders, no personal lists.
    left = one(db, "SELECT jklg.customer_export(%s, NULL, 10000)", (old_id,))[0]
    assert left["customer"]["email"] == email
    assert left["customer"]["erased_at"] is not None
    assert left["addresses"]["data"] == [] and left["sessions"]["data"] == []
    assert [b["id"] for b in left["bookings"]["data"]] == [made["bookings"]]
    assert left["preferences"]["language"] == "en"
    assert all(e["ip"] is None for e in left["security_events"]["data"])
    # ... and so does row-level security for a role acting as the customer.
    pg.psql("SELECT 'CREATE ROLE jklg_rights_probe LOGIN' WHERE NOT EXISTS "
            "(SELECT 1 FROM pg_roles WHERE rolname = 'jklg_rights_probe') \\gexec\n"
            "GRANT USAGE ON SCHEMA public TO jklg_rights_probe;\n"
            "GRANT SELECT ON ALL TABLES IN SCHEMA public TO jklg_rights_probe;")
    seen = pg.psql(f"SET jklg.customer_id = '{old_id}';\n"
                   "SELECT email FROM customers;\n"
                   "SELECT count(*) FROM customer_addresses;\n"
                   "SELECT count(*) FROM bookings;\n",
                   role="jklg_rights_probe").split()
    assert seen == ["SET", email, "0", "1"], seen


def test_after_erasure_the_address_is_free(server, mail, db, account):
    old_id = account.id
    assert_json(erase(account.client), 202)
    # The old credentials open nothing.
    resp = Client(server).login(account.email, PASSWORD)
    assert_error(resp, 401, "invalid_credentials")
    # The address registers again, as a new customer.
    register(server, account.email)
    # The first message was the erased account's verification.
    token = verification_token(mail, account.email, count=2)
    again = assert_json(verify(server, token), 200)["customer"]
    assert again["id"] != old_id
    assert again["email"] == account.email
    client = Client(server)
    assert_json(client.login(account.email, PASSWORD), 200)
    assert one(db, "SELECT count(*) FROM customers WHERE email = %s",
               (account.email,))[0] == 1
    _, body = export(client)
    assert body["customer"]["id"] == again["id"]
    assert body["bookings"]["data"] == []


def test_erase_wrong_password_changes_nothing(server, db, account):
    before = one(db, "SELECT email, password_hash FROM customers WHERE id = %s",
                 (account.id,))
    err = assert_error(erase(account.client, "not the password at all"), 401,
                       "invalid_credentials")
    assert "password" in err["message"].lower()
    assert one(db, "SELECT email, password_hash FROM customers WHERE id = %s",
               (account.id,)) == before
    assert_json(account.client.get("/me"), 200)


@pytest.mark.parametrize("body,field", [
    ({}, "password"),
    ({"password": 42}, "password"),
    ({"password": PASSWORD, "email": "x@y.test"}, "email"),
])
def test_erase_bad_body_422(server, db, account, body, field):
    assert_fields(account.client.request("DELETE", "/me", body), field)
    assert one(db, "SELECT erased_at FROM customers WHERE id = %s",
               (account.id,))[0] is None


def test_erase_not_json_400(server, account):
    resp = account.client.request("DELETE", "/me", data="password=x",
                                  headers={"Content-Type": "application/json"})
    assert_error(resp, 400, "invalid_json")


def test_erase_needs_a_token(server):
    assert_unauthorized(Client(server).request("DELETE", "/me",
                                               {"password": PASSWORD}))


def test_erase_refused_while_travel_is_ahead(server, db, account):
    staff = Staff(server)
    booking = staff.create_booking(account)       # travel in 2027
    assert_error(erase(account.client), 409, "conflict")
    assert one(db, "SELECT erased_at, email FROM customers WHERE id = %s",
               (account.id,)) == (None, account.email)
    assert_json(account.client.get("/me"), 200)
    # Cancelled, the booking no longer holds money in flight.
    with db.cursor() as cur:
        cur.execute("UPDATE bookings SET status = 'canceled' WHERE id = %s",
                    (booking["id"],))
    assert_json(erase(account.client), 202)


def test_erase_refused_while_a_refund_is_pending(server, db, account):
    staff = Staff(server)
    booking = past_booking(db, staff, account)
    tx = staff.manual_ok(booking["id"], booking["amount_total"])
    with db.cursor() as cur:
        cur.execute("INSERT INTO refunds (transaction_id, amount, currency, "
                    "status, requested_by, idempotency_key) VALUES "
                    "(%s, 100, 'eur', 'pending', 'staff', %s) RETURNING id",
                    (tx["id"], str(uuid.uuid4())))
        refund = cur.fetchone()[0]
    assert_error(erase(account.client), 409, "conflict")
    with db.cursor() as cur:
        cur.execute("UPDATE refunds SET status = 'failed' WHERE id = %s",
                    (refund,))
    assert_json(erase(account.client), 202)


def test_erasure_racing_logins(server, db, account):
    """Logins running while the erasure does: whichever wins the customer
    row, no session survives the erasure, and a later login fails."""
    results = []
    start = threading.Barrier(7)

    def login():
        client = Client(server)
        start.wait()
        resp = client.login(account.email, PASSWORD)
        results.append((resp.status_code, client))

    def erase_it():
        start.wait()
        results.append(("erase", erase(account.client)))

    threads = [threading.Thread(target=login) for _ in range(6)]
    threads.append(threading.Thread(target=erase_it))
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    erased = [r for s, r in results if s == "erase"]
    assert len(erased) == 1 and erased[0].status_code == 202, erased[0].text
    assert one(db, "SELECT count(*) FROM customer_sessions WHERE customer_id "
               "= %s", (account.id,))[0] == 0
    for status, client in results:
        if status == "erase":
            continue
        assert status in (200, 401), status
        if status == 200:
            assert_unauthorized(client.get("/me"))
    assert_error(Client(server).login(account.email, PASSWORD), 401,
                 "invalid_credentials")


def test_sql_functions_refuse_a_dead_session(db, account):
    """jklg.me_export and jklg.me_erase check the session themselves, as
    every customer function of the jklg schema does."""
    dead = str(uuid.uuid4())
    with db.cursor() as cur:
        cur.execute("SELECT outcome, body FROM jklg.me_export(p_session => %s,"
                    " p_customer => %s, p_cap => 10)", (dead, account.id))
        assert cur.fetchone() == ("unauthorized", None)
        cur.execute("SELECT outcome FROM jklg.me_erase(p_session => %s, "
                    "p_customer => %s, p_placeholder => %s)",
                    (dead, account.id, "erased+" + "0" * 32 + "@invalid"))
        assert cur.fetchone()[0] == "unauthorized"
    assert one(db, "SELECT erased_at, email FROM customers WHERE id = %s",
               (account.id,)) == (None, account.email)
