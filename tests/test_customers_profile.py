"""The authenticated customer area (docs/customers.md): /me, addresses,
preferences, booking history, sessions, and isolation between customers
(another customer's ids answer 404, lists never show their rows)."""

import uuid

import pytest

from harness.customers import (
    ADDRESS_KEYS, BOOKING_KEYS, DATE_RE, DEFAULT_PREFERENCES, FORBIDDEN_FIELDS,
    TRANSACTION_KEYS, assert_customer, assert_error, assert_fields,
    assert_json, assert_no_store, assert_session, assert_unauthorized,
    login_again, parse_ts, register_verified)

ADDRESS = {"label": "Home", "line1": "Rua Augusta 1", "line2": None,
           "city": "Lisboa", "region": None, "postal_code": "1100-048",
           "country": "PT", "is_default": False}
NOT_UUID = "not-a-uuid"
UNKNOWN = "5b0c6f5e-8a2e-4c1a-9d1e-3f0a7c2b9e41"


@pytest.fixture
def account(server, mail):
    return register_verified(server, mail)


@pytest.fixture
def other(server, mail):
    return register_verified(server, mail)


def assert_address(address, expected=None):
    assert set(address) == ADDRESS_KEYS, address
    uuid.UUID(address["id"])
    parse_ts(address["created_at"])
    assert isinstance(address["is_default"], bool)
    for key, value in (expected or {}).items():
        assert address[key] == value, (key, address)


def add_address(client, **changes):
    body = dict(ADDRESS, **changes)
    resp = client.post("/me/addresses", body)
    address = assert_json(resp, 201)["address"]
    assert_address(address)
    return address


def list_addresses(client):
    resp = client.get("/me/addresses")
    body = assert_json(resp, 200)
    assert set(body) == {"data"}
    assert_no_store(resp)
    for address in body["data"]:
        assert_address(address)
    return body["data"]


def me_customer(client):
    return assert_json(client.get("/me"), 200)["customer"]


# ----------------------------------------------------------------------- me

def test_me(server, account):
    resp = account.client.get("/me")
    body = assert_json(resp, 200)
    assert set(body) == {"customer"}
    assert_customer(body["customer"], account.email)
    assert body["customer"] == account.customer
    assert_no_store(resp)


def test_patch_me(server, account):
    resp = account.client.patch("/me", {"first_name": "  Beatriz ",
                                        "last_name": "Costa",
                                        "phone": "+351 (21) 123-4567"})
    customer = assert_json(resp, 200)["customer"]
    assert_no_store(resp)
    assert_customer(customer, account.email)
    assert (customer["first_name"], customer["last_name"], customer["phone"]) == \
        ("Beatriz", "Costa", "+351 (21) 123-4567")
    assert customer["id"] == account.id
    assert me_customer(account.client) == customer

    # Only what is given changes.
    customer = assert_json(account.client.patch("/me", {"last_name": "Sá"}),
                           200)["customer"]
    assert (customer["first_name"], customer["last_name"], customer["phone"]) == \
        ("Beatriz", "Sá", "+351 (21) 123-4567")
    customer = assert_json(account.client.patch("/me", {"phone": None}),
                           200)["customer"]
    assert customer["phone"] is None
    long_name = "Ñ" * 100
    customer = assert_json(account.client.patch("/me", {"first_name": long_name}),
                           200)["customer"]
    assert customer["first_name"] == long_name
    assert me_customer(account.client) == customer


@pytest.mark.parametrize("body,field", [
    ({"first_name": ""}, "first_name"),
    ({"first_name": "   "}, "first_name"),
    ({"first_name": "x" * 101}, "first_name"),
    ({"first_name": "Ana\x07"}, "first_name"),
    ({"first_name": "Ana\nBob"}, "first_name"),
    ({"first_name": 5}, "first_name"),
    ({"first_name": None}, "first_name"),
    ({"last_name": ""}, "last_name"),
    ({"last_name": ["Silva"]}, "last_name"),
    ({"phone": "12345"}, "phone"),
    ({"phone": "+351 91x 345 678"}, "phone"),
    ({"phone": "+351 912 345 678 999 9"}, "phone"),
    ({"phone": "1-2-3-4-5"}, "phone"),
    ({"phone": 912345678}, "phone"),
    ({"email": "new@customers.jklg.test"}, "email"),
    ({"role": "admin"}, "role"),
    ({"email_verified": False}, "email_verified"),
    ({"id": "00000000-0000-4000-8000-000000000000"}, "id"),
    ({"password": "Some new passphrase 1"}, "password"),
])
def test_patch_me_validation(server, account, body, field):
    fields = assert_fields(account.client.patch("/me", body), field)
    assert set(fields) == {field}
    assert me_customer(account.client) == account.customer


def test_patch_me_reports_every_problem_and_changes_nothing(server, account):
    body = {"first_name": "Valid", "last_name": "", "phone": "abc"}
    body.update(FORBIDDEN_FIELDS)
    fields = assert_fields(account.client.patch("/me", body), "last_name", "phone",
                           *FORBIDDEN_FIELDS)
    assert "first_name" not in fields
    assert me_customer(account.client) == account.customer


# ---------------------------------------------------------------- addresses

def test_address_lifecycle(server, account, db):
    assert list_addresses(account.client) == []
    resp = account.client.post("/me/addresses", {
        "line1": "Rua Augusta 1", "city": "Lisboa", "postal_code": "1100-048",
        "country": "pt"})
    address = assert_json(resp, 201)["address"]
    assert_no_store(resp)
    assert_address(address, {"label": "", "line2": None, "region": None,
                             "city": "Lisboa", "postal_code": "1100-048",
                             "country": "PT"})
    with db.cursor() as cur:
        cur.execute("SELECT customer_id, country FROM customer_addresses "
                    "WHERE id = %s", (address["id"],))
        assert cur.fetchone() == (account.id, "PT")
    assert list_addresses(account.client) == [address]

    resp = account.client.patch(f"/me/addresses/{address['id']}", {
        "label": "Work", "line2": "3º Esq", "city": "Porto", "region": "Norte",
        "country": "es"})
    changed = assert_json(resp, 200)["address"]
    assert_address(changed, {"id": address["id"], "label": "Work",
                             "line2": "3º Esq", "city": "Porto",
                             "region": "Norte", "country": "ES",
                             "postal_code": "1100-048",
                             "created_at": address["created_at"]})
    changed = assert_json(account.client.patch(f"/me/addresses/{address['id']}",
                                               {"line2": None}), 200)["address"]
    assert changed["line2"] is None and changed["region"] == "Norte"
    assert list_addresses(account.client) == [changed]

    resp = account.client.delete(f"/me/addresses/{address['id']}")
    assert resp.status_code == 204, resp.text
    assert resp.content == b""
    assert list_addresses(account.client) == []
    assert_error(account.client.delete(f"/me/addresses/{address['id']}"), 404,
                 "not_found")
    assert_error(account.client.patch(f"/me/addresses/{address['id']}",
                                      {"city": "Faro"}), 404, "not_found")


def test_full_address_is_returned_as_sent(server, account):
    address = add_address(account.client, label="Casa", line2="2º Dto",
                          region="Lisboa", is_default=True)
    assert_address(address, dict(ADDRESS, label="Casa", line2="2º Dto",
                                 region="Lisboa", is_default=True))


def test_at_most_one_default_address(server, account, db):
    first = add_address(account.client, label="First", is_default=True)
    second = add_address(account.client, label="Second", is_default=True)
    third = add_address(account.client, label="Third")
    listed = list_addresses(account.client)
    assert [a["id"] for a in listed][0] == second["id"]          # default first
    assert {a["id"]: a["is_default"] for a in listed} == {
        first["id"]: False, second["id"]: True, third["id"]: False}

    resp = account.client.patch(f"/me/addresses/{first['id']}", {"is_default": True})
    assert assert_json(resp, 200)["address"]["is_default"] is True
    listed = list_addresses(account.client)
    assert listed[0]["id"] == first["id"]
    assert {a["id"]: a["is_default"] for a in listed} == {
        first["id"]: True, second["id"]: False, third["id"]: False}

    resp = account.client.patch(f"/me/addresses/{first['id']}", {"is_default": False})
    assert assert_json(resp, 200)["address"]["is_default"] is False
    assert not any(a["is_default"] for a in list_addresses(account.client))


def test_addresses_default_first_then_newest(server, account, db):
    ids = [add_address(account.client, label=str(i))["id"] for i in range(3)]
    with db.cursor() as cur:         # distinct creation times, oldest first
        for age, address_id in zip((30, 20, 10), ids):
            cur.execute("UPDATE customer_addresses SET created_at = now() - "
                        "%s * interval '1 minute' WHERE id = %s", (age, address_id))
    assert [a["id"] for a in list_addresses(account.client)] == ids[::-1]
    account.client.patch(f"/me/addresses/{ids[0]}", {"is_default": True})
    assert [a["id"] for a in list_addresses(account.client)] == \
        [ids[0], ids[2], ids[1]]


@pytest.mark.parametrize("changes,field", [
    ({"country": "PRT"}, "country"),
    ({"country": "P"}, "country"),
    ({"country": "P1"}, "country"),
    ({"country": None}, "country"),
    ({"line1": None}, "line1"),
    ({"line1": ""}, "line1"),
    ({"line1": "x" * 201}, "line1"),
    ({"city": "x" * 101}, "city"),
    ({"postal_code": "x" * 21}, "postal_code"),
    ({"line2": ""}, "line2"),
    ({"line2": "x" * 201}, "line2"),
    ({"region": "x" * 101}, "region"),
    ({"label": "x" * 51}, "label"),
    ({"label": None}, "label"),
    ({"is_default": "yes"}, "is_default"),
    ({"customer_id": "00000000-0000-4000-8000-000000000000"}, "customer_id"),
    ({"role": "admin"}, "role"),
    ({"email_verified": True}, "email_verified"),
    ({"id": "00000000-0000-4000-8000-000000000000"}, "id"),
])
def test_address_validation(server, account, changes, field):
    body = dict(ADDRESS, **changes)
    fields = assert_fields(account.client.post("/me/addresses", body), field)
    assert set(fields) == {field}
    address = add_address(account.client)
    fields = assert_fields(account.client.patch(f"/me/addresses/{address['id']}",
                                                changes), field)
    assert set(fields) == {field}
    assert list_addresses(account.client) == [address]


@pytest.mark.parametrize("missing", ["line1", "city", "postal_code", "country"])
def test_address_required_fields(server, account, missing):
    body = dict(ADDRESS)
    del body[missing]
    assert_fields(account.client.post("/me/addresses", body), missing)
    assert list_addresses(account.client) == []


def test_address_forbidden_fields_together(server, account):
    body = dict(ADDRESS, **FORBIDDEN_FIELDS)
    fields = assert_fields(account.client.post("/me/addresses", body),
                           *FORBIDDEN_FIELDS)
    assert set(fields) == set(FORBIDDEN_FIELDS)


def test_at_most_50_addresses(server, account):
    for i in range(50):
        add_address(account.client, label=f"#{i}")
    resp = account.client.post("/me/addresses", dict(ADDRESS, label="#51"))
    assert_error(resp, 409, "conflict")
    assert len(list_addresses(account.client)) == 50


@pytest.mark.parametrize("address_id", [NOT_UUID, UNKNOWN, "1",
                                        "00000000-0000-4000-8000-00000000000Z"])
def test_unknown_address_ids(server, account, address_id):
    assert_error(account.client.patch(f"/me/addresses/{address_id}",
                                      {"city": "Faro"}), 404, "not_found")
    assert_error(account.client.delete(f"/me/addresses/{address_id}"), 404,
                 "not_found")


# -------------------------------------------------------------- preferences

def test_preferences_default_when_never_set(server, account, db):
    resp = account.client.get("/me/preferences")
    assert assert_json(resp, 200) == {"preferences": DEFAULT_PREFERENCES}
    assert_no_store(resp)


def test_preferences_round_trip(server, account):
    wanted = {"language": "pt-BR", "currency": "USD", "marketing_emails": True,
              "newsletter": True}
    stored = dict(wanted, currency="usd")
    resp = account.client.put("/me/preferences", wanted)
    assert assert_json(resp, 200) == {"preferences": stored}
    assert assert_json(account.client.get("/me/preferences"), 200) == \
        {"preferences": stored}
    # Absent fields take their default.
    resp = account.client.put("/me/preferences", {"newsletter": True})
    expected = dict(DEFAULT_PREFERENCES, newsletter=True)
    assert assert_json(resp, 200) == {"preferences": expected}
    assert assert_json(account.client.get("/me/preferences"), 200) == \
        {"preferences": expected}
    resp = account.client.put("/me/preferences", {})
    assert assert_json(resp, 200) == {"preferences": DEFAULT_PREFERENCES}


@pytest.mark.parametrize("language", ["fil", "de-CH-1901", "zh-Hant-TW", "es-419"])
def test_preferences_accept_bcp47_tags(server, account, language):
    resp = account.client.put("/me/preferences", {"language": language})
    assert assert_json(resp, 200)["preferences"]["language"] == language


@pytest.mark.parametrize("body,field", [
    ({"language": "english!"}, "language"),
    ({"language": "e"}, "language"),
    ({"language": "abcd"}, "language"),
    ({"language": "pt_BR"}, "language"),
    ({"language": "pt-"}, "language"),
    ({"language": "pt-abcdefghi"}, "language"),
    ({"language": ""}, "language"),
    ({"language": 5}, "language"),
    ({"currency": "eu"}, "currency"),
    ({"currency": "euro"}, "currency"),
    ({"currency": "e1r"}, "currency"),
    ({"currency": 978}, "currency"),
    ({"marketing_emails": "yes"}, "marketing_emails"),
    ({"marketing_emails": 1}, "marketing_emails"),
    ({"newsletter": None}, "newsletter"),
    ({"theme": "dark"}, "theme"),
    ({"role": "admin"}, "role"),
    ({"email_verified": True}, "email_verified"),
    ({"id": "00000000-0000-4000-8000-000000000000"}, "id"),
])
def test_preferences_validation(server, account, body, field):
    account.client.put("/me/preferences", {"language": "fr", "newsletter": True})
    fields = assert_fields(account.client.put("/me/preferences", body), field)
    assert set(fields) == {field}
    assert assert_json(account.client.get("/me/preferences"), 200) == {
        "preferences": dict(DEFAULT_PREFERENCES, language="fr", newsletter=True)}


# ----------------------------------------------------------------- bookings

def insert_booking(db, customer_id, minutes_ago=0, amount=120000, **extra):
    reference = "JK-" + uuid.uuid4().hex[:10].upper()
    with db.cursor() as cur:
        cur.execute(
            "INSERT INTO bookings (reference, customer_id, description, "
            "travel_start, travel_end, amount_total, currency, status, created_at) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, "
            "        date_trunc('second', now()) - %s * interval '1 minute') "
            "RETURNING id",
            (reference, customer_id, extra.get("description", "Lisbon city break"),
             extra.get("travel_start", "2027-05-01"),
             extra.get("travel_end", "2027-05-08"), amount,
             extra.get("currency", "eur"), extra.get("status", "confirmed"),
             minutes_ago))
        return str(cur.fetchone()[0])


def insert_transaction(db, booking_id, amount, status="succeeded",
                       gateway="stripe"):
    with db.cursor() as cur:
        cur.execute(
            "INSERT INTO transactions (booking_id, gateway, gateway_ref, amount, "
            "currency, status) VALUES (%s, %s, %s, %s, 'eur', %s) RETURNING id",
            (booking_id, gateway,
             "pi_" + uuid.uuid4().hex if gateway == "stripe" else None,
             amount, status))
        return str(cur.fetchone()[0])


def bookings_page(client, query=""):
    resp = client.get("/me/bookings" + query)
    body = assert_json(resp, 200)
    assert set(body) == {"data", "next_cursor"}, body
    assert_no_store(resp)
    for booking in body["data"]:
        assert_booking(booking)
    return body


def assert_booking(booking):
    assert set(booking) == BOOKING_KEYS, booking
    uuid.UUID(booking["id"])
    assert DATE_RE.match(booking["travel_start"])
    assert DATE_RE.match(booking["travel_end"])
    for key in ("amount_total", "amount_paid", "amount_refunded"):
        assert isinstance(booking[key], int) and not isinstance(booking[key], bool)
    parse_ts(booking["created_at"])


def test_no_bookings(server, account):
    assert bookings_page(account.client) == {"data": [], "next_cursor": None}


def test_bookings_newest_first_with_cursor_pages(server, account, other, db):
    # Two share a creation time: the cursor must still neither skip nor
    # repeat one.
    ages = [50, 40, 30, 30, 10]
    ids = {insert_booking(db, account.id, age): age for age in ages}
    insert_booking(db, other.id, 0)

    page = bookings_page(account.client)
    assert page["next_cursor"] is None
    assert sorted(b["id"] for b in page["data"]) == sorted(ids)
    newest_first = [b["id"] for b in page["data"]]

    seen, cursor, pages = [], None, 0
    while True:
        query = "?limit=2" + (f"&cursor={cursor}" if cursor else "")
        page = bookings_page(account.client, query)
        pages += 1
        assert len(page["data"]) <= 2
        seen += [b["id"] for b in page["data"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
        assert isinstance(cursor, str) and cursor
        assert pages < 5, "pagination does not end"
    assert pages == 3
    assert len(seen) == len(set(seen)) == 5
    assert seen == newest_first
    ages_seen = [ids[i] for i in seen]
    assert ages_seen == sorted(ages_seen)            # newest first


def test_bookings_cursor_with_another_limit(server, account, db):
    for age in range(3):
        insert_booking(db, account.id, age)
    first = bookings_page(account.client, "?limit=1")
    resp = account.client.get("/me/bookings", params={
        "limit": 5, "cursor": first["next_cursor"]})
    body = assert_json(resp, 200)
    assert len(body["data"]) == 2 and body["next_cursor"] is None
    assert first["data"][0]["id"] not in [b["id"] for b in body["data"]]


@pytest.mark.parametrize("query", ["?limit=0", "?limit=101", "?limit=abc",
                                   "?limit=-1", "?limit=1.5", "?cursor=garbage",
                                   "?cursor=%00", "?limit=2&cursor=!!!"])
def test_bookings_bad_limit_or_cursor(server, account, query):
    assert_error(account.client.get("/me/bookings" + query), 422,
                 "validation_failed")


def test_bookings_default_limit_is_20(server, account, db):
    for age in range(21):
        insert_booking(db, account.id, age)
    first = bookings_page(account.client)
    assert len(first["data"]) == 20 and first["next_cursor"]
    rest = bookings_page(account.client, f"?cursor={first['next_cursor']}")
    assert len(rest["data"]) == 1 and rest["next_cursor"] is None
    assert rest["data"][0]["id"] not in {b["id"] for b in first["data"]}


@pytest.mark.parametrize("limit", [1, 100])
def test_bookings_limit_bounds(server, account, db, limit):
    insert_booking(db, account.id)
    page = bookings_page(account.client, f"?limit={limit}")
    assert len(page["data"]) == 1 and page["next_cursor"] is None


def test_booking_detail_with_transactions(server, account, db):
    booking_id = insert_booking(db, account.id, amount=120000,
                                description="Azores 7 nights",
                                travel_start="2027-06-01", travel_end="2027-06-08")
    paid = insert_transaction(db, booking_id, 30000)
    failed = insert_transaction(db, booking_id, 90000, status="failed")
    resp = account.client.get(f"/me/bookings/{booking_id}")
    body = assert_json(resp, 200)
    assert_no_store(resp)
    assert set(body) == {"booking", "transactions"}
    booking = body["booking"]
    assert_booking(booking)
    assert booking["id"] == booking_id
    assert (booking["description"], booking["travel_start"], booking["travel_end"],
            booking["amount_total"], booking["amount_paid"],
            booking["amount_refunded"], booking["currency"], booking["status"],
            booking["payment_status"]) == (
        "Azores 7 nights", "2027-06-01", "2027-06-08", 120000, 30000, 0, "eur",
        "confirmed", "partially_paid")
    transactions = {t["id"]: t for t in body["transactions"]}
    assert set(transactions) == {paid, failed}
    for transaction in transactions.values():
        assert set(transaction) == TRANSACTION_KEYS, transaction
        assert transaction["booking_id"] == booking_id
        assert transaction["gateway"] == "stripe"
        assert transaction["gateway_ref"].startswith("pi_")
        assert transaction["currency"] == "eur"
        assert transaction["amount_refunded"] == 0
        assert transaction["failure_reason"] is None
        parse_ts(transaction["created_at"])
        parse_ts(transaction["updated_at"])
    assert (transactions[paid]["amount"], transactions[paid]["status"]) == \
        (30000, "succeeded")
    assert (transactions[failed]["amount"], transactions[failed]["status"]) == \
        (90000, "failed")
    # The list shows the same booking.
    assert bookings_page(account.client)["data"] == [booking]


def test_booking_without_transactions(server, account, db):
    booking_id = insert_booking(db, account.id)
    body = assert_json(account.client.get(f"/me/bookings/{booking_id}"), 200)
    assert body["transactions"] == []
    assert body["booking"]["payment_status"] == "unpaid"


@pytest.mark.parametrize("booking_id", [NOT_UUID, UNKNOWN, "42"])
def test_unknown_booking_ids(server, account, booking_id):
    assert_error(account.client.get(f"/me/bookings/{booking_id}"), 404, "not_found")


# ----------------------------------------------------------------- sessions

def list_sessions(client):
    resp = client.get("/me/sessions")
    body = assert_json(resp, 200)
    assert set(body) == {"data"}
    assert_no_store(resp)
    for session in body["data"]:
        assert_session(session)
    return body["data"]


def test_sessions_list_marks_the_current_one(server, account):
    phone, login = login_again(server, account, ua="JKLG iOS app 3.1")
    from_first = list_sessions(account.client)
    assert {s["id"] for s in from_first} == {account.session["id"],
                                            login["session"]["id"]}
    by_id = {s["id"]: s for s in from_first}
    first, second = by_id[account.session["id"]], by_id[login["session"]["id"]]
    assert first["current"] is True and second["current"] is False
    assert (first["ip"], first["user_agent"]) == (account.client.ip,
                                                  account.client.ua)
    assert (second["ip"], second["user_agent"]) == (phone.ip, "JKLG iOS app 3.1")
    created = [parse_ts(s["created_at"]) for s in from_first]
    assert created == sorted(created, reverse=True)             # newest first

    from_phone = {s["id"]: s["current"] for s in list_sessions(phone)}
    assert from_phone == {account.session["id"]: False,
                          login["session"]["id"]: True}


def test_revoke_another_session(server, account, db):
    phone, login = login_again(server, account)
    resp = account.client.delete(f"/me/sessions/{login['session']['id']}")
    assert resp.status_code == 204, resp.text
    assert resp.content == b""
    assert_unauthorized(phone.get("/me"))
    assert [s["id"] for s in list_sessions(account.client)] == [account.session["id"]]
    assert_error(account.client.delete(f"/me/sessions/{login['session']['id']}"),
                 404, "not_found")


def test_expired_sessions_are_not_listed(server, account, db):
    phone, login = login_again(server, account)
    with db.cursor() as cur:
        cur.execute("UPDATE customer_sessions SET expires_at = now() - "
                    "interval '1 second' WHERE id = %s", (login["session"]["id"],))
    assert [s["id"] for s in list_sessions(account.client)] == [account.session["id"]]


def last_seen(db, session_id):
    with db.cursor() as cur:
        cur.execute("SELECT extract(epoch FROM now() - last_seen_at) "
                    "FROM customer_sessions WHERE id = %s", (session_id,))
        return float(cur.fetchone()[0])


def test_last_use_is_recorded_at_most_once_a_minute(server, account, db):
    sid = account.session["id"]
    with db.cursor() as cur:
        cur.execute("UPDATE customer_sessions SET last_seen_at = now() - "
                    "interval '10 minutes' WHERE id = %s", (sid,))
    assert_json(account.client.get("/me"), 200)
    assert last_seen(db, sid) < 60                   # updated
    with db.cursor() as cur:
        cur.execute("UPDATE customer_sessions SET last_seen_at = now() - "
                    "interval '20 seconds' WHERE id = %s", (sid,))
    assert_json(account.client.get("/me"), 200)
    assert last_seen(db, sid) >= 20                  # not again within a minute


@pytest.mark.parametrize("session_id", [NOT_UUID, UNKNOWN, "1"])
def test_unknown_session_ids(server, account, session_id):
    assert_error(account.client.delete(f"/me/sessions/{session_id}"), 404,
                 "not_found")
    assert_json(account.client.get("/me"), 200)


# ---------------------------------------------------------------- isolation

def test_customers_cannot_see_or_touch_each_others_data(server, account, other, db):
    mine = add_address(account.client, label="Mine", is_default=True)
    theirs = add_address(other.client, label="Theirs", is_default=True)
    my_booking = insert_booking(db, account.id)
    their_booking = insert_booking(db, other.id)
    insert_transaction(db, their_booking, 1000)
    other.client.put("/me/preferences", {"language": "de", "newsletter": True})

    c = account.client
    assert_error(c.patch(f"/me/addresses/{theirs['id']}", {"city": "Hacked"}),
                 404, "not_found")
    assert_error(c.patch(f"/me/addresses/{theirs['id']}", {"is_default": True}),
                 404, "not_found")
    assert_error(c.delete(f"/me/addresses/{theirs['id']}"), 404, "not_found")
    assert_error(c.get(f"/me/bookings/{their_booking}"), 404, "not_found")
    assert_error(c.delete(f"/me/sessions/{other.session['id']}"), 404, "not_found")

    # The 404 says nothing more than for an id that does not exist.
    unknown = c.get(f"/me/bookings/{uuid.uuid4()}")
    assert c.get(f"/me/bookings/{their_booking}").json() == unknown.json()

    assert list_addresses(c) == [mine]
    assert [b["id"] for b in bookings_page(c)["data"]] == [my_booking]
    assert {s["id"] for s in list_sessions(c)} == {account.session["id"]}
    assert assert_json(c.get("/me/preferences"), 200) == \
        {"preferences": DEFAULT_PREFERENCES}

    # Theirs is untouched and still works.
    assert list_addresses(other.client) == [theirs]
    assert_json(other.client.get(f"/me/bookings/{their_booking}"), 200)
    assert {s["id"] for s in list_sessions(other.client)} == {other.session["id"]}
    assert [b["id"] for b in bookings_page(other.client)["data"]] == [their_booking]
    assert me_customer(other.client)["id"] == other.id


# ------------------------------------------------------------------ routing

@pytest.mark.parametrize("method,path,allow", [
    ("GET", "/register", {"POST"}),
    ("GET", "/login", {"POST"}),
    ("GET", "/logout", {"POST"}),
    ("PUT", "/me", {"GET", "HEAD", "PATCH", "DELETE"}),
    ("POST", "/me/export", {"GET", "HEAD"}),
    ("PUT", "/me/addresses", {"GET", "HEAD", "POST"}),
    ("GET", f"/me/addresses/{UNKNOWN}", {"PATCH", "DELETE"}),
    ("POST", "/me/preferences", {"GET", "HEAD", "PUT"}),
    ("GET", "/me/password", {"POST"}),
    ("DELETE", f"/me/bookings/{UNKNOWN}", {"GET", "HEAD"}),
    ("GET", f"/me/sessions/{UNKNOWN}", {"DELETE"}),
])
def test_wrong_method_is_405_with_allow(server, account, method, path, allow):
    resp = account.client.request(method, path)
    assert_error(resp, 405, "method_not_allowed")
    assert set(resp.headers["Allow"].split(", ")) == allow, resp.headers["Allow"]


def test_unknown_customer_routes_are_404(server, account):
    for path in ("/me/", "/me/addresses/", "/me/nope", "/registers"):
        assert_error(account.client.get(path), 404, "not_found")
