"""The endpoint functions of the jklg schema, called directly as the module
calls them: their outcomes for live, dead and foreign sessions, what they
change, and who may execute them. The HTTP suites test the same functions
through the module; these pin the SQL side of the contract on its own."""

import json
import threading
import time
import uuid

import psycopg2
import psycopg2.errors
import pytest

from test_schema import cur, new_booking, new_customer  # noqa: F401


def call(cur, fn, **params):
    """SELECT outcome, body, emails FROM jklg.fn(p_name => value, ...)."""
    names = ", ".join(f"p_{k} => %({k})s" for k in params)
    cur.execute(f"SELECT outcome, body, emails::text[] FROM jklg.{fn}({names})",
                params)
    return cur.fetchone()


def new_session(cur, customer, expires="1 day"):
    cur.execute("INSERT INTO customer_sessions (customer_id, ip, user_agent,"
                " expires_at) VALUES (%s, '192.0.2.1', 'pytest',"
                " now() + %s::interval) RETURNING id", (customer, expires))
    return cur.fetchone()[0]


@pytest.fixture
def me(cur):
    customer = new_customer(cur)
    return {"session": new_session(cur, customer), "customer": customer}


def test_me_get_answers_the_customer_for_a_live_session(cur, me):
    outcome, body, emails = call(cur, "me_get", **me)
    assert outcome == "ok" and emails is None
    assert body["customer"]["id"] == str(me["customer"])
    assert "password_hash" not in body["customer"]


@pytest.mark.parametrize("case", ["expired", "other_customer", "unknown"])
def test_dead_or_foreign_sessions_are_unauthorized_everywhere(cur, me, case):
    if case == "expired":
        me["session"] = new_session(cur, me["customer"], "-1 second")
    elif case == "other_customer":
        me["customer"] = new_customer(cur)
    else:
        me["session"] = str(uuid.uuid4())
    for fn, extra in [("me_get", {}), ("me_sessions", {}), ("me_addresses", {}),
                      ("me_preferences", {}), ("logout", {}),
                      ("me_patch", {"fields": '{"first_name": "Eve"}'}),
                      ("me_booking", {"id": str(uuid.uuid4())}),
                      ("me_session_delete", {"id": str(uuid.uuid4())})]:
        assert call(cur, fn, **me, **extra)[0] == "unauthorized", fn
    cur.execute("SELECT first_name FROM customers WHERE id = %s",
                (me["customer"],))
    assert cur.fetchone()[0] != "Eve"


def test_me_patch_changes_only_the_members_given(cur, me):
    cur.execute("UPDATE customers SET phone = '+351210000000' WHERE id = %s",
                (me["customer"],))
    outcome, body, _ = call(cur, "me_patch", **me,
                            fields='{"last_name": "Byron"}')
    assert outcome == "ok"
    assert body["customer"]["last_name"] == "Byron"
    assert body["customer"]["first_name"] == "Ada"
    assert body["customer"]["phone"] == "+351210000000"
    outcome, body, _ = call(cur, "me_patch", **me, fields='{"phone": null}')
    assert body["customer"]["phone"] is None


def test_password_set_signs_out_the_other_sessions_and_queues_one_mail(cur, me):
    other = new_session(cur, me["customer"])
    outcome, body, emails = call(cur, "me_password_set", **me, hash="new-hash",
                                 reset_url="https://example.com/forgot-password")
    assert outcome == "ok" and len(emails) == 1
    cur.execute("SELECT template, data->>'reset_url' FROM email_outbox"
                " WHERE id = %s", (emails[0],))
    assert cur.fetchone() == ("password_changed",
                              "https://example.com/forgot-password")
    cur.execute("SELECT id FROM customer_sessions WHERE customer_id = %s",
                (me["customer"],))
    assert [r[0] for r in cur.fetchall()] == [me["session"]]
    assert call(cur, "me_get", session=other,
                customer=me["customer"])[0] == "unauthorized"


def test_session_delete_reaches_only_the_customers_own_sessions(cur, me):
    stranger = new_customer(cur)
    theirs = new_session(cur, stranger)
    assert call(cur, "me_session_delete", **me, id=theirs)[0] == "not_found"
    mine = new_session(cur, me["customer"])
    assert call(cur, "me_session_delete", **me, id=mine)[0] == "deleted"
    assert call(cur, "me_session_delete", **me, id=mine)[0] == "not_found"
    assert call(cur, "me_get", session=theirs, customer=stranger)[0] == "ok"


def test_address_save_creates_changes_and_stops_at_the_limit(cur, me):
    fields = ('{"line1": "Rua Augusta 1", "city": "Lisboa",'
              ' "postal_code": "1100-048", "country": "PT"}')
    outcome, body, _ = call(cur, "me_address_save", **me, id=None,
                            fields=fields, limit=2)
    assert outcome == "created"
    first = body["address"]["id"]
    outcome, body, _ = call(cur, "me_address_save", **me, id=first,
                            fields='{"city": "Porto"}', limit=2)
    assert (outcome, body["address"]["city"]) == ("ok", "Porto")
    assert call(cur, "me_address_save", **me, id=None, fields=fields,
                limit=2)[0] == "created"
    outcome, body, _ = call(cur, "me_address_save", **me, id=None,
                            fields=fields, limit=2)
    assert (outcome, body) == ("address_limit", {"limit": 2})
    assert call(cur, "me_address_save", **me, id=str(uuid.uuid4()),
                fields='{"city": "Faro"}', limit=2)[0] == "not_found"


def test_preferences_default_until_saved(cur, me):
    outcome, body, _ = call(cur, "me_preferences", **me)
    assert body == {"preferences": {"language": "en", "currency": "eur",
                                    "marketing_emails": False,
                                    "newsletter": False}}
    outcome, body, _ = call(cur, "me_preferences_put", **me, language="pt",
                            currency="eur", marketing_emails=True,
                            newsletter=False)
    assert body["preferences"]["language"] == "pt"
    assert call(cur, "me_preferences", **me)[1] == body


def test_bookings_page_with_a_cursor_and_no_foreign_booking(cur, me):
    mine = [new_booking(cur, me["customer"]) for _ in range(3)]
    new_booking(cur)    # someone else's
    outcome, page, _ = call(cur, "me_bookings", **me, after_time=None,
                            after_id=None, limit=2)
    assert outcome == "ok" and len(page["data"]) == 2 and page["next_cursor"]
    cur.execute("SELECT convert_from(decode(rpad(translate(%s, '-_', '+/'),"
                " (length(%s) + 3) / 4 * 4, '='), 'base64'), 'UTF8')",
                (page["next_cursor"], page["next_cursor"]))
    after_time, after_id = cur.fetchone()[0].split("|")
    outcome, rest, _ = call(cur, "me_bookings", **me, after_time=after_time,
                            after_id=after_id, limit=2)
    assert len(rest["data"]) == 1 and rest["next_cursor"] is None
    seen = {b["id"] for b in page["data"] + rest["data"]}
    assert seen == {str(b) for b in mine}


def test_booking_of_another_customer_is_not_found(cur, me):
    theirs = new_booking(cur)
    assert call(cur, "me_booking", **me, id=theirs)[0] == "not_found"
    mine = new_booking(cur, me["customer"])
    outcome, body, _ = call(cur, "me_booking", **me, id=mine)
    assert outcome == "ok" and body["transactions"] == []


def test_logout_ends_only_the_callers_session(cur, me):
    other = new_session(cur, me["customer"])
    assert call(cur, "logout", **me)[0] == "deleted"
    assert call(cur, "logout", **me)[0] == "unauthorized"
    assert call(cur, "me_get", session=other,
                customer=me["customer"])[0] == "ok"


def test_only_the_owner_may_execute_the_api(pg, me):
    """PUBLIC has no USAGE on the schema nor EXECUTE on its functions."""
    pg.psql("DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname"
            " = 'jklg_stranger') THEN CREATE ROLE jklg_stranger LOGIN; END IF;"
            " END $$", db="postgres")
    conn = psycopg2.connect(pg.url(role="jklg_stranger"))
    conn.autocommit = True
    try:
        with conn.cursor() as stranger:
            with pytest.raises(psycopg2.errors.InsufficientPrivilege):
                call(stranger, "me_get", **me)
    finally:
        conn.close()


def test_no_api_function_is_public_s_to_execute(cur):
    """Each migration that adds a jklg.* function revokes PUBLIC's
    EXECUTE, which PostgreSQL grants every new function (sql/029)."""
    cur.execute("SELECT p.oid::regprocedure::text FROM pg_proc p"
                " JOIN pg_namespace n ON n.oid = p.pronamespace"
                " WHERE n.nspname = 'jklg'"
                " AND has_function_privilege('public', p.oid, 'EXECUTE')")
    assert cur.fetchall() == []
    cur.execute("SELECT count(*) FROM pg_proc p JOIN pg_namespace n"
                " ON n.oid = p.pronamespace WHERE n.nspname = 'jklg'")
    assert cur.fetchone()[0] > 70


# -- transactions (sql/017) ---------------------------------------------------

def new_payment(cur, booking, amount=2500, status="succeeded"):
    cur.execute("INSERT INTO transactions (booking_id, gateway, amount,"
                " currency, status) VALUES (%s, 'manual', %s, 'eur', %s)"
                " RETURNING id", (booking, amount, status))
    return cur.fetchone()[0]


def test_customer_sees_only_transactions_of_their_bookings(cur, me):
    mine = new_payment(cur, new_booking(cur, me["customer"]))
    theirs = new_payment(cur, new_booking(cur))
    outcome, body, _ = call(cur, "me_transaction", **me, id=mine)
    assert outcome == "ok" and body["transaction"]["id"] == str(mine)
    assert call(cur, "me_transaction", **me, id=theirs)[0] == "not_found"
    outcome, page, _ = call(cur, "me_transactions", **me, after_time=None,
                            after_id=None, limit=100)
    assert [t["id"] for t in page["data"]] == [str(mine)]


def test_staff_transactions_filters_combine(cur):
    customer = new_customer(cur)
    booking = new_booking(cur, customer, total=100000)
    paid = new_payment(cur, booking, status="succeeded")
    failed = new_payment(cur, booking, status="failed")
    new_payment(cur, new_booking(cur), status="succeeded")

    def ids(**filters):
        params = dict(status=None, booking=None, customer=None, since=None,
                      until=None, after_time=None, after_id=None, limit=100)
        params.update(filters)
        outcome, page, _ = call(cur, "staff_transactions", **params)
        assert outcome == "ok"
        return {t["id"] for t in page["data"]}

    assert ids(customer=customer) == {str(paid), str(failed)}
    assert ids(customer=customer, status="failed") == {str(failed)}
    assert ids(booking=booking, until="2000-01-01T00:00:00Z") == set()
    assert str(paid) in ids(since="2000-01-01T00:00:00Z", status="succeeded")


def test_staff_transaction_has_its_audit_log_and_refunds(cur):
    tx = new_payment(cur, new_booking(cur))
    outcome, body, _ = call(cur, "staff_transaction", id=tx)
    assert outcome == "ok"
    assert set(body) == {"transaction", "audit_log", "refunds"}
    assert call(cur, "staff_transaction", id=str(uuid.uuid4()))[0] == "not_found"


# -- account flows (sql/018) -------------------------------------------------

def outbox(cur, mail_id):
    cur.execute("SELECT template, recipient FROM email_outbox WHERE id = %s",
                (mail_id,))
    return cur.fetchone()


SENT = {"message": "Check your inbox: we sent you an email with the next step."}


def register(cur, email, token_hash):
    return call(cur, "register", email=email, password_hash="h",
                first_name="Ada", last_name="Lovelace", phone=None,
                token_hash=token_hash, verify_url="https://x/verify",
                login_url="https://x/login", reset_url="https://x/forgot")


def test_register_answers_alike_and_only_the_mail_differs(cur):
    email = f"r-{uuid.uuid4().hex[:10]}@example.com"
    first = register(cur, email, "11" * 32)
    second = register(cur, email, "22" * 32)
    assert first[0] == second[0] == "accepted"
    assert first[1] == second[1] == SENT
    assert outbox(cur, first[2][0]) == ("verification", email)
    assert outbox(cur, second[2][0]) == ("account_exists", email)
    cur.execute("SELECT count(*) FROM customers WHERE email = %s", (email,))
    assert cur.fetchone()[0] == 1


def test_verify_email_uses_every_open_token_once(cur):
    email = f"v-{uuid.uuid4().hex[:10]}@example.com"
    register(cur, email, "33" * 32)
    assert call(cur, "resend_verification", email=email, token_hash="44" * 32,
                verify_url="https://x/v")[0] == "accepted"
    # the resend retired the first link
    assert call(cur, "verify_email", token_hash="33" * 32)[0] == "invalid_token"
    outcome, body, _ = call(cur, "verify_email", token_hash="44" * 32)
    assert outcome == "ok" and body["customer"]["email_verified"] is True
    assert call(cur, "verify_email", token_hash="44" * 32)[0] == "invalid_token"
    # verified: nothing more to resend, same answer
    outcome, _, emails = call(cur, "resend_verification", email=email,
                              token_hash="55" * 32, verify_url="https://x/v")
    assert (outcome, emails) == ("accepted", None)


def test_forgot_password_for_an_unknown_address_sends_nothing(cur):
    outcome, body, emails = call(cur, "forgot_password",
                                 email="nobody@example.com",
                                 token_hash="66" * 32, reset_url="https://x/r")
    assert (outcome, body, emails) == ("accepted", SENT, None)


def test_staff_resend_is_the_public_resend_with_an_audit_row(cur):
    email = f"s-{uuid.uuid4().hex[:10]}@example.com"
    assert register(cur, email, "77" * 32)[0] == "accepted"
    outcome, body, emails = call(cur, "staff_customer_resend", staff="ops",
                                 id=customer_id(cur, email),
                                 token_hash="88" * 32,
                                 verify_url="https://x/v?token=b")
    assert outcome == "accepted" and len(emails) == 1
    assert body == {"message": "A new verification email is on its way."}
    assert outbox(cur, emails[0]) == ("verification", email)
    cur.execute("SELECT data->>'verify_url', data->>'expires_hours'"
                " FROM email_outbox WHERE id = %s", (emails[0],))
    assert cur.fetchone() == ("https://x/v?token=b", "24")
    cur.execute("SELECT staff_user, action FROM staff_audit"
                " WHERE customer_id = %s", (customer_id(cur, email),))
    assert cur.fetchall() == [("ops", "resend_verification")]
    # the staff link retired the registration's, like a public resend
    assert call(cur, "verify_email", token_hash="77" * 32)[0] == "invalid_token"
    assert call(cur, "verify_email", token_hash="88" * 32)[0] == "ok"
    assert call(cur, "staff_customer_resend", staff="ops",
                id=customer_id(cur, email), token_hash="99" * 32,
                verify_url="https://x/v")[0] == "conflict"


# -- login lookup and password reset (sql/021) -------------------------------

def customer_id(cur, email):
    cur.execute("SELECT id FROM customers WHERE email = %s", (email,))
    return str(cur.fetchone()[0])


def test_login_lookup_finds_the_account_and_not_an_unknown_email(cur):
    email = f"l-{uuid.uuid4().hex[:10]}@example.com"
    register(cur, email, uuid.uuid4().hex * 2)
    outcome, body, emails = call(cur, "login_lookup", email=email)
    assert outcome == "ok" and emails is None
    assert body == {"customer_id": customer_id(cur, email),
                    "password_hash": "h", "email_verified": False}
    cur.execute("UPDATE customers SET email_verified_at = now()"
                " WHERE email = %s", (email,))
    assert call(cur, "login_lookup", email=email)[1]["email_verified"] is True
    assert call(cur, "login_lookup", email="nobody-" + email) == (
        "not_found", None, None)


def reset_token(cur, customer, expires="1 hour", used=False):
    token_hash = uuid.uuid4().hex * 2
    cur.execute("INSERT INTO password_reset_tokens (customer_id, token_hash,"
                " expires_at, used_at) VALUES (%s, decode(%s, 'hex'),"
                " now() + %s::interval, CASE WHEN %s THEN now() END)",
                (customer, token_hash, expires, used))
    return token_hash


def reset(cur, token_hash, new_hash="new-hash"):
    return call(cur, "reset_password", token_hash=token_hash,
                new_hash=new_hash, ip="192.0.2.7", user_agent="pytest",
                forgot_url="https://x/forgot")


def password_hash(cur, customer):
    cur.execute("SELECT password_hash FROM customers WHERE id = %s",
                (customer,))
    return cur.fetchone()[0]


def test_reset_changes_the_password_and_uses_up_every_way_back(cur, me):
    token = reset_token(cur, me["customer"])
    other = reset_token(cur, me["customer"])
    outcome, body, _ = call(cur, "reset_lookup", token_hash=token)
    assert outcome == "ok" and body["email"].endswith("@example.com")
    outcome, body, emails = reset(cur, token)
    assert outcome == "ok" and len(emails) == 1
    assert body == {"message": "Your password has been changed. "
                               "Please sign in again."}
    assert outbox(cur, emails[0])[0] == "password_changed"
    assert password_hash(cur, me["customer"]) == "new-hash"
    cur.execute("SELECT count(*) FROM customer_sessions"
                " WHERE customer_id = %s", (me["customer"],))
    assert cur.fetchone()[0] == 0
    cur.execute("SELECT type, host(ip), user_agent FROM security_events"
                " WHERE customer_id = %s", (me["customer"],))
    assert cur.fetchall() == [("password_reset", "192.0.2.7", "pytest")]
    cur.execute("SELECT email_verified_at IS NOT NULL FROM customers"
                " WHERE id = %s", (me["customer"],))
    assert cur.fetchone()[0] is True
    # the token and the customer's other one are used now
    for used in (token, other):
        assert call(cur, "reset_lookup", token_hash=used)[0] == "invalid_token"
        assert reset(cur, used, "again")[0] == "invalid_token"
    assert password_hash(cur, me["customer"]) == "new-hash"


@pytest.mark.parametrize("case", ["used", "expired", "unknown"])
def test_reset_with_a_dead_token_changes_nothing(cur, me, case):
    if case == "unknown":
        token = uuid.uuid4().hex * 2
    else:
        token = reset_token(cur, me["customer"], used=case == "used",
                            expires="-1 second" if case == "expired"
                            else "1 hour")
    cur.execute("SELECT count(*) FROM email_outbox")
    mails = cur.fetchone()[0]
    assert call(cur, "reset_lookup", token_hash=token) == (
        "invalid_token", None, None)
    assert reset(cur, token) == ("invalid_token", None, None)
    assert password_hash(cur, me["customer"]) == "hash"
    cur.execute("SELECT count(*) FROM customer_sessions"
                " WHERE customer_id = %s", (me["customer"],))
    assert cur.fetchone()[0] == 1
    cur.execute("SELECT count(*) FROM email_outbox")
    assert cur.fetchone()[0] == mails


def test_two_resets_of_one_token_the_first_wins(pg, cur, me):
    """The second waits for the first's row lock, then finds the token
    used: one password, one mail."""
    token = reset_token(cur, me["customer"])
    first = psycopg2.connect(pg.url())
    second = psycopg2.connect(pg.url())
    result = {}
    try:
        with first.cursor() as c1:
            assert reset(c1, token, "first-hash")[0] == "ok"   # not committed
            pid = second.get_backend_pid()

            def race():
                with second.cursor() as c2:
                    result["second"] = reset(c2, token, "second-hash")
                second.commit()

            thread = threading.Thread(target=race)
            thread.start()
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                cur.execute("SELECT wait_event_type FROM pg_stat_activity"
                            " WHERE pid = %s", (pid,))
                if cur.fetchone()[0] == "Lock":
                    break
                time.sleep(0.02)
            else:
                pytest.fail("the second reset did not wait for the first")
            assert "second" not in result
        first.commit()
        thread.join(10)
    finally:
        first.close()
        second.close()
    assert result["second"] == ("invalid_token", None, None)
    assert password_hash(cur, me["customer"]) == "first-hash"
    cur.execute("SELECT count(*) FROM security_events"
                " WHERE customer_id = %s AND type = 'password_reset'",
                (me["customer"],))
    assert cur.fetchone()[0] == 1


# ------------------------------------------------- the session check, once

@pytest.fixture
def su(pg):
    """A superuser's connection, to count function calls (track_functions)."""
    conn = psycopg2.connect(pg.url(role="postgres"))
    conn.autocommit = True
    with conn.cursor() as cursor:
        yield cursor
    conn.close()


def session_checks(su, fn, **params):
    """How many times jklg_session_customer ran during one call of fn."""
    su.execute("BEGIN")
    su.execute("SET LOCAL track_functions = 'pl'")
    outcome = call(su, fn, **params)[0]
    su.execute("SELECT COALESCE(sum(calls), 0) FROM pg_stat_xact_user_functions"
               " WHERE funcname = 'jklg_session_customer'")
    calls = su.fetchone()[0]
    su.execute("ROLLBACK")
    return outcome, calls


@pytest.mark.parametrize("fn,extra", [
    ("me_get", {}),
    ("me_patch", {"fields": '{"first_name": "Once"}'}),
    ("me_password_lookup", {}),
    ("me_mfa_totp_lookup", {}),
])
def test_the_session_is_checked_once_not_once_per_customer(cur, su, fn, extra):
    # jklg_session_customer is VOLATILE: compared with customers.id directly it
    # ran once per row of a sequential scan (sql/024). With other customers
    # stored before this one, any count above one is that scan.
    for _ in range(30):
        new_customer(cur)
    me = {"customer": new_customer(cur)}
    me["session"] = new_session(cur, me["customer"])
    cur.execute("ANALYZE customers")
    outcome, calls = session_checks(su, fn, **me, **extra)
    assert outcome != "unauthorized"
    assert calls == 1, f"{fn} checked the session {calls} times"


def test_no_endpoint_compares_a_row_with_the_volatile_session_check(cur):
    cur.execute(r"""SELECT p.oid::regprocedure::text FROM pg_proc p
                     JOIN pg_namespace n ON n.oid = p.pronamespace
                    WHERE n.nspname IN ('jklg', 'public')
                      AND prosrc ~ '=\s*jklg_session_customer\('""")
    assert cur.fetchall() == []


# ------------------------------------------- the balance job (sql/014, 026)

def due_balance(cur, with_card=True):
    """A booking whose balance fell due yesterday, its customer's card saved."""
    customer = new_customer(cur)
    booking = new_booking(cur, customer, total=10000)
    cur.execute("INSERT INTO installments (booking_id, kind, amount, currency,"
                " due_date, status, created_on) VALUES"
                " (%s, 'deposit', 3000, 'eur', jklg.today() - 60, 'paid',"
                "  jklg.today() - 60),"
                " (%s, 'balance', 7000, 'eur', jklg.today() - 1, 'pending',"
                "  jklg.today() - 60) RETURNING id", (booking, booking))
    balance = cur.fetchall()[1][0]
    if with_card:
        cur.execute("INSERT INTO payment_methods (customer_id, gateway,"
                    " gateway_ref, brand, last4, exp_month, exp_year)"
                    " VALUES (%s, 'stripe', %s, 'visa', '4242', 12, 2030)",
                    (customer, f"pm_{uuid.uuid4().hex[:16]}"))
    return booking, str(balance)


def test_balance_job_skips_a_booking_the_customer_is_paying(cur):
    # The customer opened an intent on the first booking (the pay page):
    # the job used to break the one-open-intent index there and fail the
    # whole run, the second customer's balance with it.
    paying, paying_balance = due_balance(cur)
    other, other_balance = due_balance(cur)
    cur.execute("INSERT INTO transactions (booking_id, gateway, amount,"
                " currency, status) VALUES (%s, 'stripe', 7000, 'eur',"
                " 'requires_payment')", (paying,))
    cur.execute("BEGIN")
    try:
        outcome, body, _ = call(cur, "balance_due", lease_seconds=60,
                                max_attempts=3, limit=1000,
                                public_url="https://x")
        claimed = {item["installment_id"] for item in body["data"]}
        cur.execute("SELECT count(*) FROM transactions WHERE booking_id = %s"
                    " AND method = 'off_session'", (paying,))
        charged_beside = cur.fetchone()[0]
    finally:
        cur.execute("ROLLBACK")
    assert outcome == "ok"
    assert other_balance in claimed
    assert paying_balance not in claimed and charged_beside == 0


# -- payments (sql/022) -------------------------------------------------------

URL = "https://jklg.test"


def card_payment(cur, booking, amount, ref=None):
    """A card transaction awaiting payment (its intent ref, if given)."""
    cur.execute("INSERT INTO transactions (booking_id, gateway, gateway_ref,"
                " amount, currency, status) VALUES (%s, 'stripe', %s, %s,"
                " 'eur', 'requires_payment') RETURNING id",
                (booking, ref, amount))
    return cur.fetchone()[0]


def event(cur, ref, kind="succeeded", amount=1000, event_id=None, tx=None):
    return call(cur, "apply_event", id=event_id or f"evt_{uuid.uuid4().hex}",
                gateway="stripe", type=f"payment_intent.{kind}",
                payload='{"data": {"object": {"client_secret": "cs_x"}}}',
                kind=kind, ref=ref, tx=tx, amount=amount, reason=None,
                method_ref=None, public_url=URL)


def outbox_count(cur):
    cur.execute("SELECT count(*) FROM email_outbox")
    return cur.fetchone()[0]


def test_intent_settle_records_the_ref_and_a_success_queues_its_mails(cur):
    booking = new_booking(cur, total=1000)
    tx = card_payment(cur, booking, 1000)
    outcome, body, emails = call(cur, "intent_settle", tx=tx, ref="pi_s1",
                                 status="succeeded", error=None,
                                 public_url=URL)
    assert outcome == "ok" and set(body) == {"transaction"}
    assert body["transaction"]["status"] == "succeeded"
    assert len(emails) == 2         # the receipt and the confirmation
    cur.execute("SELECT gateway_ref FROM transactions WHERE id = %s", (tx,))
    assert cur.fetchone()[0] == "pi_s1"
    # The gateway failed to make an intent: closed as failed, no mail.
    other = card_payment(cur, new_booking(cur, total=1000), 1000)
    outcome, body, emails = call(cur, "intent_settle", tx=other, ref=None,
                                 status=None, error="boom", public_url=URL)
    assert outcome == "ok" and body["transaction"]["status"] == "failed"
    assert not emails


def test_an_event_applied_twice_changes_and_mails_once(cur):
    booking = new_booking(cur, total=1000)
    ref = f"pi_{uuid.uuid4().hex}"
    tx = card_payment(cur, booking, 1000, ref)
    event_id = f"evt_{uuid.uuid4().hex}"
    outcome, body, emails = event(cur, ref, event_id=event_id)
    assert outcome == "ok" and body is None and len(emails) == 2
    mails = outbox_count(cur)
    outcome, body, emails = event(cur, ref, event_id=event_id)
    assert (outcome, body, emails) == ("duplicate", None, None)
    assert outbox_count(cur) == mails
    cur.execute("SELECT transaction_id::text, payload FROM payment_events"
                " WHERE id = %s", (event_id,))
    linked, payload = cur.fetchone()
    assert linked == str(tx) and "client_secret" not in str(payload)
    cur.execute("SELECT count(*) FROM transaction_audit_logs"
                " WHERE transaction_id = %s AND new_status = 'succeeded'",
                (tx,))
    assert cur.fetchone()[0] == 1


def test_a_batch_of_events_answers_each_in_its_place(cur):
    """jklg.apply_events (sql/028): one row per event, n its place in the
    array whatever order they are applied in; a duplicate within the batch
    is a duplicate; each event changes what it would alone."""
    refs = sorted(f"pi_{uuid.uuid4().hex}" for _ in range(2))
    txs = [card_payment(cur, new_booking(cur, total=1000), 1000, ref)
           for ref in refs]
    ids = [f"evt_{uuid.uuid4().hex}" for _ in range(3)]
    # Given in reverse order of their references (applied sorted), the
    # second event delivered twice, and one of no interest.
    events = [
        {"id": ids[0], "type": "payment_intent.succeeded", "kind": "succeeded",
         "ref": refs[1], "amount": "1000", "payload": {"n": 1}},
        {"id": ids[1], "type": "payment_intent.processing",
         "kind": "processing", "ref": refs[0], "amount": "1000",
         "payload": {"n": 2}},
        {"id": ids[1], "type": "payment_intent.processing",
         "kind": "processing", "ref": refs[0], "amount": "1000",
         "payload": {"n": 2}},
        {"id": ids[2], "type": "customer.created", "kind": "ignored",
         "amount": "0", "payload": {}},
    ]
    cur.execute("SELECT n, outcome, body, emails FROM jklg.apply_events("
                "%s, %s, %s::jsonb) ORDER BY n",
                ("stripe", URL, json.dumps(events)))
    rows = cur.fetchall()
    assert [r[0] for r in rows] == [1, 2, 3, 4]
    assert rows[0][1] == "ok" and len(rows[0][3].split()) == 2   # receipt, confirmation
    assert sorted(r[1] for r in rows[1:3]) == ["duplicate", "ok"]
    assert rows[3][1:] == ("ok", None, None)
    cur.execute("SELECT status FROM transactions WHERE id = ANY(%s::uuid[])"
                " ORDER BY gateway_ref", ([str(t) for t in txs],))
    assert [r[0] for r in cur.fetchall()] == ["processing", "succeeded"]
    cur.execute("SELECT count(*) FROM payment_events WHERE id = ANY(%s)",
                (ids,))
    assert cur.fetchone()[0] == 3


def test_an_event_of_no_interest_is_only_stored(cur):
    event_id = f"evt_{uuid.uuid4().hex}"
    outcome = call(cur, "apply_event", id=event_id, gateway="stripe",
                   type="customer.created", payload="{}", kind="ignored",
                   ref=None, tx=None, amount=0, reason=None, method_ref=None,
                   public_url=URL)
    assert outcome == ("ok", None, None)
    cur.execute("SELECT processed_at IS NOT NULL FROM payment_events"
                " WHERE id = %s", (event_id,))
    assert cur.fetchone() == (True,)


def test_a_refund_larger_than_refundable_is_refused(cur):
    tx = new_payment(cur, new_booking(cur, total=2500), 2500)
    outcome, body, _ = call(cur, "refund_open", tx=tx, amount=2600,
                            reason=None, staff="ana", key="auto:1")
    assert outcome == "over_refund"
    assert body["message"] == "Not possible: at most 2500 can be refunded."
    cur.execute("SELECT count(*) FROM refunds WHERE transaction_id = %s", (tx,))
    assert cur.fetchone()[0] == 0
    # What is refundable opens (a manual payment's refund is still sent by
    # the module, which refuses it for want of a gateway).
    outcome, body, _ = call(cur, "refund_open", tx=tx, amount=2500,
                            reason=None, staff="ana", key="staff:k1")
    assert outcome == "opened" and body["refund"]["status"] == "pending"
    assert call(cur, "refund_open", tx=str(uuid.uuid4()), amount=None,
                reason=None, staff="ana", key="auto:2")[0] == "not_found"


def test_a_manual_payment_for_an_unknown_booking_is_not_found(cur):
    mails = outbox_count(cur)
    outcome, body, emails = call(cur, "manual_payment",
                                 booking=str(uuid.uuid4()), amount=100,
                                 currency="eur", method="cash", note=None,
                                 staff="ana", public_url=URL)
    assert (outcome, body, emails) == ("not_found", None, None)
    assert outbox_count(cur) == mails
    booking = new_booking(cur, total=1000)
    outcome, body, _ = call(cur, "manual_payment", booking=booking,
                            amount=100, currency="usd", method="cash",
                            note=None, staff="ana", public_url=URL)
    assert outcome == "invalid" and "eur" in body["fields"]["currency"]


def test_an_overpayment_opens_its_refund_with_the_event(cur):
    booking = new_booking(cur, total=1000)
    new_payment(cur, booking, 1000)                 # paid in cash
    ref = f"pi_{uuid.uuid4().hex}"
    tx = card_payment(cur, booking, 1000, ref)      # and by card
    outcome, body, emails = event(cur, ref)
    assert outcome == "ok" and emails            # its receipt
    opened = body["overpayment"]
    assert opened["amount"] == 1000 and opened["gateway_ref"] == ref
    cur.execute("SELECT amount, status, requested_by FROM refunds"
                " WHERE transaction_id = %s", (tx,))
    assert cur.fetchall() == [(1000, "pending", "system")]


# ------------------------------------- helpers inlined into their callers

@pytest.mark.parametrize("expr,source", [
    ("jklg_ts(c.created_at)", "customers c"),
    ("jklg_cursor(c.created_at, c.id)", "customers c"),
    ("jklg_customer_json(c)", "customers c"),
    ("jklg_date(b.travel_start)", "bookings b"),
    ("jklg_money(b.amount_total, b.currency)", "bookings b"),
])
def test_row_helpers_are_inlined(cur, expr, source):
    # A LANGUAGE sql helper declared more stable than what it calls (an
    # IMMUTABLE wrapper of to_char, a STABLE function) is not inlined: every
    # row then pays a function-manager call (sql/027; /me was 30 % slower).
    cur.execute(f"EXPLAIN (VERBOSE) SELECT {expr} FROM {source}")
    plan = "\n".join(row[0] for row in cur.fetchall())
    assert expr.split("(")[0] + "(" not in plan, plan


def test_no_immutable_sql_helper_calls_a_stable_function(cur):
    cur.execute(r"""SELECT p.oid::regprocedure::text FROM pg_proc p
                      JOIN pg_language l ON l.oid = p.prolang
                     WHERE l.lanname = 'sql' AND p.provolatile = 'i'
                       AND p.pronamespace IN ('public'::regnamespace,
                                              'jklg'::regnamespace)
                       AND p.prosrc ~* '\m(to_char|to_jsonb|jsonb_build_object|jsonb_build_array|jsonb_agg|now|jklg_ts|jklg_date)\s*\('""")
    assert cur.fetchall() == []
