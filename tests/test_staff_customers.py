"""Staff customer tools (docs/staff.md): /api/admin/customers search and
detail, resend verification, revoke sessions, unlock (login limits), erase;
each audited with the Apache user. Over HTTP against the real module."""

import re
import uuid

import pytest
import requests

from harness.customers import (
    PASSWORD, VERIFY_LINK, Client, assert_error, assert_fields, assert_json,
    assert_unauthorized, mail_tokens, register_unverified, register_verified,
    verify)
from harness.payments import Staff, one, rows

UNKNOWN = "5b0c6f5e-8a2e-4c1a-9d1e-3f0a7c2b9e41"
STAFF_CUSTOMER_KEYS = {"id", "email", "first_name", "last_name", "phone",
                       "email_verified", "created_at", "erased_at"}
PLACEHOLDER = re.compile(r"^erased\+[0-9a-f]{32}@invalid$")
ACTIONS = ["resend-verification", "revoke-sessions", "unlock", "erase"]


@pytest.fixture
def staff(server):
    return Staff(server)


def unique_name():
    return "Zq" + uuid.uuid4().hex[:10]


def customer(server, mail, last_name=None, **kw):
    return register_verified(server, mail, last_name=last_name or unique_name(),
                             **kw)


def search(staff, **params):
    body = assert_json(staff.get("/customers", params=params), 200)
    assert set(body) == {"data", "next_cursor"}, body
    for c in body["data"]:
        assert set(c) == STAFF_CUSTOMER_KEYS, c
    return body


def audits(db, customer_id):
    return [tuple(r) for r in rows(db, "SELECT staff_user, action FROM "
                                   "staff_audit WHERE customer_id = %s "
                                   "ORDER BY id", (customer_id,))]


# ------------------------------------------------------------------ search

def test_search_by_email_and_name(server, mail, staff):
    name = unique_name()
    a = customer(server, mail, last_name=name)
    b = customer(server, mail)
    by_email = search(staff, q=a.email.split("@")[0].upper())
    assert [c["id"] for c in by_email["data"]] == [a.id]
    assert by_email["data"][0]["email"] == a.email
    by_name = search(staff, q=f"  ana   {name.lower()} ")
    assert [c["id"] for c in by_name["data"]] == [a.id]
    assert b.id not in [c["id"] for c in by_name["data"]]


def test_search_wildcards_match_themselves(server, mail, staff):
    customer(server, mail)
    assert search(staff, q="%%%")["data"] == []
    assert search(staff, q="___")["data"] == []
    assert len(search(staff)["data"]) >= 1


def test_search_is_audited_without_its_text(server, mail, db, staff):
    a = customer(server, mail)
    before = one(db, "SELECT coalesce(max(id), 0) FROM staff_audit")[0]
    search(staff, q=a.email)
    entries = rows(db, "SELECT staff_user, action, customer_id, details "
                   "FROM staff_audit WHERE id > %s AND action = 'search'",
                   (before,))
    assert ("staff", "search", None, {"filtered": True, "shown": 1}) in \
        [tuple(e) for e in entries], entries
    assert a.email not in str(entries)


def test_search_pages(server, mail, staff):
    name = unique_name()
    made = [customer(server, mail, last_name=name).id for _ in range(3)]
    first = search(staff, q=name, limit=2)
    assert len(first["data"]) == 2 and first["next_cursor"]
    second = search(staff, q=name, limit=2, cursor=first["next_cursor"])
    assert second["next_cursor"] is None
    got = [c["id"] for c in first["data"] + second["data"]]
    assert got == list(reversed(made))


@pytest.mark.parametrize("params,field", [
    ({"q": "ab"}, "q"),
    ({"q": "   a  "}, "q"),
    ({"q": "x" * 101}, "q"),
    ({"q": "ana\x01silva"}, "q"),
    ({"limit": "0"}, "limit"),
    ({"cursor": "nope"}, "cursor"),
])
def test_search_bad_query_422(server, staff, params, field):
    assert_fields(staff.get("/customers", params=params), field)


def test_search_invalid_utf8_422(server, staff):
    resp = requests.get(staff.base + "/customers?q=ana%FFsilva",
                        auth=staff.auth, timeout=30)
    assert_fields(resp, "q")


def test_search_uses_the_trigram_index(db):
    """The plan for a search is the trigram index, not a scan (small tables
    would be scanned anyway: sequential scans are switched off here)."""
    with db.cursor() as cur:
        cur.execute("SET enable_seqscan = off")
        cur.execute("EXPLAIN SELECT id FROM customers WHERE (email || ' ' || "
                    "lower(first_name) || ' ' || lower(last_name)) LIKE "
                    "'%silva%'")
        plan = "\n".join(r[0] for r in cur.fetchall())
        cur.execute("RESET enable_seqscan")
    assert "customers_search_trgm_idx" in plan, plan


# ------------------------------------------------------------------ detail

def test_customer_detail(server, mail, db, staff):
    a = customer(server, mail)
    booking = staff.create_booking(a)
    one(db, "SELECT jklg.security_event(%s, 'login', '10.1.1.1', 'ua')",
        (a.id,))
    body = assert_json(staff.get(f"/customers/{a.id}"), 200)
    assert set(body) == {"customer", "sessions", "bookings", "security_events"}
    assert body["customer"]["id"] == a.id
    assert body["customer"]["email"] == a.email
    assert [s["id"] for s in body["sessions"]] == [a.session["id"]]
    assert [b["id"] for b in body["bookings"]] == [booking["id"]]
    # Newest first: the event just written, then the customer's sign-ins.
    events = body["security_events"]
    assert events[0]["ip"] == "10.1.1.1"
    assert {e["type"] for e in events} == {"login"}
    # Looking is audited too: who saw whose personal data.
    assert audits(db, a.id) == [("staff", "view")]


@pytest.mark.parametrize("path", ["", "/resend-verification",
                                  "/revoke-sessions", "/unlock", "/erase"])
@pytest.mark.parametrize("ident", [UNKNOWN, "not-a-uuid"])
def test_unknown_customer_404(server, staff, path, ident):
    method = staff.get if path == "" else staff.post
    assert_error(method(f"/customers/{ident}{path}"), 404, "not_found")


@pytest.mark.parametrize("path", ["", "/" + UNKNOWN] +
                         [f"/{UNKNOWN}/{a}" for a in ACTIONS])
def test_needs_a_staff_user(server, path):
    nobody = Staff(server, auth=None, base=server.no_auth_url)
    method = nobody.get if path.count("/") < 2 else nobody.post
    assert_error(method("/customers" + path), 403, "forbidden")


# ----------------------------------------------------------------- actions

def test_resend_verification(server, mail, db, staff):
    email, first_token = register_unverified(server, mail)
    cid = one(db, "SELECT id FROM customers WHERE email = %s", (email,))[0]
    resp = staff.post(f"/customers/{cid}/resend-verification")
    assert set(assert_json(resp, 202)) == {"message"}
    tokens = mail_tokens(mail, email, VERIFY_LINK, count=2)
    assert tokens[-1] != first_token
    assert_error(verify(server, first_token), 400, "invalid_token")
    assert_json(verify(server, tokens[-1]), 200)
    assert audits(db, cid) == [("staff", "resend_verification")]
    # Verified now: nothing to resend.
    assert_error(staff.post(f"/customers/{cid}/resend-verification"), 409,
                 "conflict")
    assert audits(db, cid) == [("staff", "resend_verification")]


def test_revoke_sessions(server, mail, db, staff):
    a = customer(server, mail)
    second = Client(server)
    assert second.login(a.email, PASSWORD).status_code == 200
    resp = staff.post(f"/customers/{a.id}/revoke-sessions")
    assert resp.status_code == 204 and resp.content == b""
    assert_unauthorized(a.client.get("/me"))
    assert_unauthorized(second.get("/me"))
    assert audits(db, a.id) == [("staff", "revoke_sessions")]
    assert one(db, "SELECT count(*) FROM security_events WHERE customer_id = %s"
               " AND type = 'session_revoked'", (a.id,))[0] == 1
    # The customer can sign in again.
    assert Client(server).login(a.email, PASSWORD).status_code == 200


def test_unlock_clears_login_limits(server, mail, db, staff):
    """The "login" limit (10 per address and email) locks the customer out
    of the address it uses; unlock clears it for the addresses the customer
    used lately and for its email."""
    a = customer(server, mail)
    device = Client(server, ip=a.client.ip)
    # The login that made the session counted too: 9 more fill the window.
    for _ in range(9):
        assert_error(device.login(a.email, "wrong password, again"), 401,
                     "invalid_credentials")
    assert_error(device.login(a.email, PASSWORD), 429, "rate_limited")
    resp = staff.post(f"/customers/{a.id}/unlock")
    assert resp.status_code == 204
    assert assert_json(device.login(a.email, PASSWORD), 200)["customer"]["id"] \
        == a.id
    assert audits(db, a.id) == [("staff", "unlock")]


def test_staff_erase(server, mail, db, staff):
    a = customer(server, mail)
    booking = staff.create_booking(a)         # travel in 2027: refused
    assert_error(staff.post(f"/customers/{a.id}/erase"), 409, "conflict")
    assert audits(db, a.id) == []
    with db.cursor() as cur:
        cur.execute("UPDATE bookings SET status = 'canceled' WHERE id = %s",
                    (booking["id"],))
    resp = staff.post(f"/customers/{a.id}/erase")
    assert set(assert_json(resp, 202)) == {"message"}
    assert audits(db, a.id) == [("staff", "erase")]
    assert_unauthorized(a.client.get("/me"))
    detail = assert_json(staff.get(f"/customers/{a.id}"), 200)
    assert PLACEHOLDER.match(detail["customer"]["email"])
    assert detail["customer"]["erased_at"] is not None
    assert (detail["customer"]["first_name"], detail["customer"]["last_name"]) \
        == ("", "")
    assert detail["sessions"] == []
    assert [b["id"] for b in detail["bookings"]] == [booking["id"]]
    # Search finds neither the old email nor the old name.
    assert search(staff, q=a.email)["data"] == []
    assert search(staff, q=a.customer["last_name"])["data"] == []
