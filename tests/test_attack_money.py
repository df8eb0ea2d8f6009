"""Attacks on money (issue 7): paying one balance twice, a double click
while Stripe is slow, money that arrives on a canceled intent, and a role
acting as a customer writing money or verification through row-level
security. Each test failed before its fix."""

import pytest

from harness.stripe import StripeApiError
from harness.payments import (assert_error, assert_json, booking_row,
                              concurrently, customer_with_booking, deliver,
                              intents_for, my_booking, one, open_intent,
                              pi_creates, rows, tx_row)
from test_schema import (as_role, cur, new_booking,  # noqa: F401
                         new_transaction, rls_role, two_customers)

GATEWAY_ERRORS = [r"JKLG00601: payment gateway"]


def manual_rows(db, booking_id):
    return rows(db, "SELECT id FROM transactions WHERE booking_id = %s"
                    " AND gateway = 'manual'", (booking_id,))


def audit_details(db, tx_id):
    return [r[0] for r in rows(db, "SELECT details FROM transaction_audit_logs"
                                   " WHERE transaction_id = %s ORDER BY id",
                               (tx_id,))]


# ------------------------------------------------- a manual payment beside a card

def test_manual_payment_cancels_the_open_card_intent(server, mail, stripe, db):
    account, client, staff, booking = customer_with_booking(
        server, mail, amount_total=80000)
    tx, _ = open_intent(client, booking["id"])
    pi = tx["gateway_ref"]

    cash = staff.manual_ok(booking["id"], 80000)

    assert cash["status"] == "succeeded"
    assert stripe.get_payment_intent(pi)["status"] == "canceled"
    assert tx_row(db, tx["id"])[0] == "canceled"
    # The customer's browser still holds the old client secret: Stripe
    # refuses to take money on it now.
    with pytest.raises(StripeApiError):
        stripe.confirm(pi)
    assert booking_row(db, booking["id"]) == (80000, 0, "paid")
    log = staff.transaction(tx["id"])["audit_log"]
    assert log[-1]["new_status"] == "canceled", log


def test_manual_payment_refused_while_a_card_payment_is_processing(
        server, mail, stripe, db):
    account, client, staff, booking = customer_with_booking(
        server, mail, amount_total=80000)
    tx, _ = open_intent(client, booking["id"])
    deliver(stripe, stripe.process(tx["gateway_ref"]))

    resp = staff.manual(booking["id"], 80000)

    assert_error(resp, 409, "conflict")
    assert "processed" in resp.json()["error"]["message"]
    assert manual_rows(db, booking["id"]) == []
    # Its outcome decides: the card payment succeeds, nothing is left due.
    deliver(stripe, stripe.confirm(tx["gateway_ref"]))
    assert booking_row(db, booking["id"]) == (80000, 0, "paid")
    assert_error(staff.manual(booking["id"], 1), 409, "conflict")


def test_manual_payment_finds_a_card_payment_whose_webhook_is_late(
        server, mail, stripe, db):
    account, client, staff, booking = customer_with_booking(
        server, mail, amount_total=80000)
    tx, _ = open_intent(client, booking["id"])
    stripe.confirm(tx["gateway_ref"])           # paid; webhook not yet sent

    resp = staff.manual(booking["id"], 80000)

    # Stripe refused the cancel, so the module asked: it was paid. The card
    # payment is recorded and nothing is left for cash.
    assert_error(resp, 409, "conflict")
    assert manual_rows(db, booking["id"]) == []
    assert tx_row(db, tx["id"])[0] == "succeeded"
    assert booking_row(db, booking["id"]) == (80000, 0, "paid")


def test_manual_payment_with_stripe_down_records_nothing(
        server, mail, stripe, db, allow_errors):
    allow_errors.extend(GATEWAY_ERRORS)
    account, client, staff, booking = customer_with_booking(
        server, mail, amount_total=80000)
    tx, _ = open_intent(client, booking["id"])
    stripe.fail_next(500, count=20)

    assert_error(staff.manual(booking["id"], 80000), 502, "gateway_error")

    stripe.reset()
    assert manual_rows(db, booking["id"]) == []
    assert tx_row(db, tx["id"])[0] == "requires_payment"
    assert stripe.get_payment_intent(tx["gateway_ref"])["status"] != "canceled"
    staff.manual_ok(booking["id"], 80000)     # works once Stripe is back
    assert booking_row(db, booking["id"]) == (80000, 0, "paid")


def test_partial_cash_then_the_card_pays_only_the_rest(server, mail, stripe,
                                                       db):
    account, client, staff, booking = customer_with_booking(
        server, mail, amount_total=80000)
    old, _ = open_intent(client, booking["id"])
    staff.manual_ok(booking["id"], 30000)
    assert stripe.get_payment_intent(old["gateway_ref"])["status"] == \
        "canceled"

    tx, _ = open_intent(client, booking["id"])
    assert tx["amount"] == 50000
    deliver(stripe, stripe.confirm(tx["gateway_ref"]))
    assert booking_row(db, booking["id"]) == (80000, 0, "paid")


# ------------------------------------------- money on a canceled intent

def test_money_on_a_canceled_intent_is_refunded_not_absorbed(
        server, mail, stripe, db):
    account, client, staff, booking = customer_with_booking(
        server, mail, amount_total=80000)
    tx, _ = open_intent(client, booking["id"])
    pi = tx["gateway_ref"]
    # What a lost gateway cancel leaves behind (an intent replaced while
    # Stripe was unreachable): canceled here, still payable at Stripe.
    with db.cursor() as cur_:
        cur_.execute("UPDATE transactions SET status = 'canceled'"
                     " WHERE id = %s", (tx["id"],))
    staff.manual_ok(booking["id"], 80000)
    assert stripe.get_payment_intent(pi)["status"] == "requires_payment_method"

    event = stripe.confirm(pi)
    deliver(stripe, event)

    assert tx_row(db, tx["id"])[0] == "partially_refunded" or \
        tx_row(db, tx["id"])[0] == "refunded"
    refunds = rows(db, "SELECT amount, status, requested_by, gateway_ref"
                       " FROM refunds WHERE transaction_id = %s", (tx["id"],))
    assert len(refunds) == 1, refunds
    amount, status, requested_by, ref = refunds[0]
    assert (amount, status, requested_by) == (80000, "succeeded", "system")
    assert stripe.get_refund(ref)["amount"] == 80000
    paid, refunded, payment_status = booking_row(db, booking["id"])
    assert (paid - refunded, payment_status) == (80000, "paid")
    assert my_booking(account, booking["id"])["payment_status"] == "paid"
    assert any(d.get("overpayment") == 80000 for d in audit_details(db, tx["id"]))
    assert "over-paid its booking" in server.new_log()

    # Redelivered: applied once, refunded once.
    deliver(stripe, event)
    assert one(db, "SELECT count(*) FROM refunds WHERE transaction_id = %s",
               (tx["id"],))[0] == 1


def test_overpayment_by_a_payment_that_cannot_be_refunded_is_flagged(cur, db):
    """Direct test of the SQL: a manual payment (no gateway to refund
    through) that over-pays is flagged for staff in the audit log."""
    booking = new_booking(cur, total=1000)
    new_transaction(cur, booking, 700)
    tx = new_transaction(cur, booking, 700)
    cur.execute("SELECT jklg_overpayment_refund(%s)", (tx,))
    assert cur.fetchone()[0] == {"flagged": 400}
    assert {"overpayment": 400, "action": "staff to refund"} in \
        audit_details(db, tx)
    assert one(db, "SELECT count(*) FROM refunds WHERE transaction_id = %s",
               (tx,))[0] == 0


# --------------------------------------------------- double click on "pay"

def test_double_click_while_stripe_is_slow_gets_one_intent(server, mail,
                                                            stripe, db):
    account, client, staff, booking = customer_with_booking(
        server, mail, amount_total=80000)
    stripe.reset()
    stripe.delay_next(2.0)          # creating the intent takes 2 s

    resps = concurrently(
        lambda _: client.post("/intents", {"booking_id": booking["id"]}),
        range(4))

    statuses = sorted(r.status_code for r in resps)
    assert statuses == [200, 200, 200, 201], [r.text for r in resps]
    bodies = [r.json() for r in resps]
    assert len({b["transaction"]["id"] for b in bodies}) == 1
    assert len({b["client_secret"] for b in bodies}) == 1
    assert len({b["transaction"]["gateway_ref"] for b in bodies}) == 1
    tx = bodies[0]["transaction"]
    assert len(intents_for(stripe, tx["id"])) == 1
    assert tx_row(db, tx["id"])[0] == "requires_payment"
    assert len(pi_creates(stripe, tx["id"])) == 1


# ------------------------------------------------ row-level security writes

def rls_out(pg, role, customer, sql):
    return as_role(pg, role, sql, customer=customer, check=False)


@pytest.mark.parametrize("sql", [
    "INSERT INTO transactions (booking_id, gateway, amount, currency, status)"
    " VALUES ('{bookings}', 'manual', 9000, 'eur', 'succeeded')",
    "INSERT INTO refunds (transaction_id, amount, currency, requested_by,"
    " idempotency_key) VALUES ('{transactions}', 100, 'eur', 'me', md5(random()::text))",
    "INSERT INTO transaction_audit_logs (transaction_id, actor, new_status)"
    " VALUES ('{transactions}', 'me', 'succeeded')",
    "INSERT INTO bookings (reference, customer_id, description, travel_start,"
    " travel_end, amount_total, currency) VALUES (md5(random()::text),"
    " '{customers}', 'x', '2027-01-01', '2027-01-02', 1, 'eur')",
    "INSERT INTO customer_sessions (customer_id, expires_at)"
    " VALUES ('{customers}', now() + interval '1 year')",
])
def test_rls_customer_cannot_insert_money_or_sessions(pg, rls_role,
                                                      two_customers, sql):
    a = two_customers["A"]
    out = rls_out(pg, rls_role, a["customers"], sql.format(**a) + ";")
    assert any("violates row-level security policy" in line for line in out), out


@pytest.mark.parametrize("sql", [
    "UPDATE transactions SET status = 'succeeded', amount = 1"
    " WHERE id = '{transactions}'",
    "UPDATE bookings SET amount_total = 1 WHERE id = '{bookings}'",
    "UPDATE customer_sessions SET expires_at = now() + interval '10 years'"
    " WHERE id = '{customer_sessions}'",
    "DELETE FROM transactions WHERE id = '{transactions}'",
    "DELETE FROM bookings WHERE id = '{bookings}'",
    "DELETE FROM customers WHERE id = '{customers}'",
])
def test_rls_customer_cannot_change_own_money(pg, cur, rls_role,
                                              two_customers, sql):
    a = two_customers["A"]
    cur.execute("SELECT amount_total, amount_paid FROM bookings WHERE id = %s",
                (a["bookings"],))
    before = cur.fetchone()
    out = rls_out(pg, rls_role, a["customers"], sql.format(**a) + ";")
    assert out in (["UPDATE 0"], ["DELETE 0"]), out
    cur.execute("SELECT amount_total, amount_paid FROM bookings WHERE id = %s",
                (a["bookings"],))
    assert cur.fetchone() == before
    cur.execute("SELECT status, amount FROM transactions WHERE id = %s",
                (a["transactions"],))
    assert cur.fetchone() == ("succeeded", 1000)


@pytest.mark.parametrize("assignment", [
    "email_verified_at = now()",
    "email_verified_at = now() - interval '1 year'",
    "email = 'mallory@example.com'", "password_hash = 'x'",
])
def test_rls_customer_cannot_change_own_verification_or_credentials(
        pg, cur, rls_role, two_customers, assignment):
    a = two_customers["A"]
    cur.execute("SELECT email, password_hash, email_verified_at FROM customers"
                " WHERE id = %s", (a["customers"],))
    before = cur.fetchone()
    out = rls_out(pg, rls_role, a["customers"],
                  f"UPDATE customers SET {assignment}"
                  f" WHERE id = '{a['customers']}';")
    assert any("only first_name, last_name and phone" in line for line in out), out
    cur.execute("SELECT email, password_hash, email_verified_at FROM customers"
                " WHERE id = %s", (a["customers"],))
    assert cur.fetchone() == before


def test_rls_customer_may_do_what_the_api_lets_it(pg, cur, rls_role,
                                                  two_customers):
    a = two_customers["A"]
    out = rls_out(pg, rls_role, a["customers"], f"""
        UPDATE customers SET first_name = 'Alice', phone = '+351 1'
         WHERE id = '{a['customers']}';
        UPDATE customer_preferences SET newsletter = true
         WHERE customer_id = '{a['customers']}';
        INSERT INTO customer_addresses (customer_id, line1, city, postal_code,
                                        country)
        VALUES ('{a['customers']}', 'l2', 'Porto', '4000', 'PT');
        DELETE FROM customer_addresses WHERE id = '{a['customer_addresses']}';
        DELETE FROM customer_sessions WHERE id = '{a['customer_sessions']}';
    """)
    assert out == ["UPDATE 1", "UPDATE 1", "INSERT 0 1", "DELETE 1",
                   "DELETE 1"], out
    cur.execute("SELECT first_name FROM customers WHERE id = %s",
                (a["customers"],))
    assert cur.fetchone()[0] == "Alice"


def test_rls_tokens_are_invisible_to_customers(pg, cur, rls_role,
                                               two_customers):
    a = two_customers["A"]
    cur.execute("INSERT INTO password_reset_tokens (customer_id, token_hash,"
                " expires_at) VALUES (%s, sha256(gen_random_uuid()::text::bytea),"
                " now() + interval '1 hour')", (a["customers"],))
    out = rls_out(pg, rls_role, a["customers"],
                  "SELECT count(*) FROM password_reset_tokens;"
                  "SELECT count(*) FROM email_verification_tokens;")
    assert out == ["0", "0"], out

