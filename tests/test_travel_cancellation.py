"""Cancellation policies and cancellation (issue 10; docs/payments.md,
"Cancellation policies"): staff policies, the booking's copy of its tiers,
the customer's preview and cancel with the amount seen, refunds through
the gateways of the payments made (newest first, across several), the
staff cancel with an override, the cancellation email, and a cancel racing
a payment's webhook."""

import uuid

import requests

from harness.payments import (ADMIN, Staff, assert_error, assert_fields,
                              assert_json, assert_refund, confirm_and_deliver,
                              deliver, exactly_one_mail, my_booking,
                              new_customer, one, rows, text_of)
from harness.travel import (assert_schedule, clock,  # noqa: F401
                            installment_rows, pay_installment,
                            scheduled_booking)

TIERS = [{"min_days_before": 30, "refund_percent": 50, "fee": 2500},
         {"min_days_before": 60, "refund_percent": 100, "fee": 0},
         {"min_days_before": 7, "refund_percent": 10, "fee": 0}]
PREVIEW_KEYS = {"refund_amount", "fee", "currency", "tier", "cancellable",
                "reason"}
# The cancel's gateway call of an intent that was paid meanwhile is
# refused by Stripe: logged as a warning, not an error.
ALLOWED = []


def policy_name():
    return "p-" + uuid.uuid4().hex[:12]


def put_policy(staff, name, tiers):
    return staff.request("PUT", f"/cancellation-policies/{name}",
                         {"tiers": tiers})


def make_policy(server, tiers=TIERS):
    name = policy_name()
    body = assert_json(put_policy(Staff(server), name, tiers), 200)
    return name, body["policy"]


def preview(account, booking_id):
    body = assert_json(account.client.get(
        f"/me/bookings/{booking_id}/cancellation"), 200)
    assert set(body) == PREVIEW_KEYS, body
    return body


def cancel(account, booking_id, expected):
    return account.client.post(f"/me/bookings/{booking_id}/cancel",
                               {"expected_refund_amount": expected})


def sold_with_policy(server, mail, clock, tiers=TIERS, total=120000,
                     schedule=None):
    """A booking for travel on 2027-05-01 made on 2027-01-10 under a new
    policy: (account, client, staff, booking, policy name)."""
    clock("2027-01-10")
    name, _ = make_policy(server, tiers)
    account, client, staff, booking = scheduled_booking(
        server, mail, total, schedule if schedule is not None
        else {"deposit_percent": 25}, cancellation_policy=name,
        travel_start="2027-05-01", travel_end="2027-05-08")
    assert booking["cancellation_policy"] == name
    return account, client, staff, booking, name


# ----------------------------------------------------------------- policies

def test_policy_put_and_list(server):
    staff = Staff(server)
    name = policy_name()
    body = assert_json(put_policy(staff, name, TIERS), 200)
    assert set(body) == {"policy"}
    policy = body["policy"]
    assert set(policy) == {"name", "tiers", "updated_at"}
    assert policy["name"] == name
    # Stored highest min_days_before first.
    assert policy["tiers"] == sorted(TIERS, key=lambda t: -t["min_days_before"])
    listed = assert_json(staff.get("/cancellation-policies",
                                   params={"limit": 100}), 200)
    assert set(listed) == {"data", "next_cursor"}
    assert any(p == policy for p in listed["data"])
    # Replaced.
    new = assert_json(put_policy(staff, name, [
        {"min_days_before": 0, "refund_percent": 0, "fee": 0}]), 200)["policy"]
    assert new["tiers"] == [{"min_days_before": 0, "refund_percent": 0,
                             "fee": 0}]
    assert new["updated_at"] >= policy["updated_at"]


def test_policy_list_pages(server):
    staff = Staff(server)
    names = {make_policy(server)[0] for _ in range(3)}
    seen, cursor = [], None
    for _ in range(50):
        params = {"limit": 2}
        if cursor:
            params["cursor"] = cursor
        page = assert_json(staff.get("/cancellation-policies",
                                     params=params), 200)
        assert len(page["data"]) <= 2
        seen.extend(p["name"] for p in page["data"])
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert names <= set(seen)
    assert len(seen) == len(set(seen))


def test_bad_policies_refused_and_nothing_stored(server, db):
    staff = Staff(server)
    name = policy_name()
    bad = [
        ([], "tiers"),
        ("none", "tiers"),
        ([{"min_days_before": 10, "refund_percent": 101, "fee": 0}],
         "tiers[0].refund_percent"),
        ([{"min_days_before": 10, "refund_percent": -1, "fee": 0}],
         "tiers[0].refund_percent"),
        ([{"min_days_before": 10, "refund_percent": 50, "fee": -1}],
         "tiers[0].fee"),
        ([{"min_days_before": 10, "refund_percent": 50, "fee": 0},
          {"min_days_before": 10, "refund_percent": 20, "fee": 0}],
         "tiers[1].min_days_before"),
        ([{"min_days_before": -3, "refund_percent": 50, "fee": 0}],
         "tiers[0].min_days_before"),
        ([{"refund_percent": 50, "fee": 0}], "tiers[0].min_days_before"),
    ]
    for tiers, field in bad:
        assert_fields(put_policy(staff, name, tiers), field)
    assert_fields(staff.request("PUT", f"/cancellation-policies/{name}", {}),
                  "tiers")
    assert_fields(staff.request("PUT", f"/cancellation-policies/{name}",
                                {"tiers": TIERS, "extra": 1}), "extra")
    assert_fields(put_policy(staff, "-bad", TIERS), "name")
    assert_fields(put_policy(staff, "x" * 65, TIERS), "name")
    assert one(db, "SELECT count(*) FROM cancellation_policies "
               "WHERE name = %s", (name,))[0] == 0


def test_policies_are_staff_only(server):
    resp = requests.get(server.url + ADMIN + "/cancellation-policies",
                        timeout=30)
    assert resp.status_code in (401, 403)


# ------------------------------------------------------------------ preview

def test_preview_follows_the_days_left(server, mail, stripe, clock):
    account, client, _, booking, _ = sold_with_policy(server, mail, clock)
    pay_installment(client, stripe, booking["id"])      # deposit 30000
    got = preview(account, booking["id"])
    assert got == {"refund_amount": 30000, "fee": 0, "currency": "eur",
                   "tier": {"min_days_before": 60, "refund_percent": 100,
                            "fee": 0},
                   "cancellable": True, "reason": None}
    clock("2027-03-02")                                 # 60 days left
    assert preview(account, booking["id"])["refund_amount"] == 30000
    clock("2027-03-03")                                 # 59: 50 % - 25.00
    got = preview(account, booking["id"])
    assert (got["refund_amount"], got["fee"], got["tier"]["min_days_before"]) \
        == (12500, 2500, 30)
    clock("2027-04-24")                                 # 7: 10 %
    assert preview(account, booking["id"])["refund_amount"] == 3000
    clock("2027-04-25")                                 # 6: no tier
    got = preview(account, booking["id"])
    assert (got["refund_amount"], got["fee"], got["tier"],
            got["cancellable"]) == (0, 0, None, True)
    clock("2027-05-02")                                 # travel started
    got = preview(account, booking["id"])
    assert got["cancellable"] is False and got["reason"]
    assert_error(cancel(account, booking["id"], 0), 409, "conflict")


def test_policy_change_after_sale_keeps_the_booking_copy(server, mail,
                                                         stripe, clock):
    account, client, staff, booking, name = sold_with_policy(server, mail,
                                                             clock)
    pay_installment(client, stripe, booking["id"])
    before = preview(account, booking["id"])
    assert_json(put_policy(staff, name, [
        {"min_days_before": 0, "refund_percent": 0, "fee": 0}]), 200)
    assert preview(account, booking["id"]) == before
    # A booking sold now gets the new tiers.
    _, _, _, later = scheduled_booking(server, mail, 120000,
                                       cancellation_policy=name)
    assert later["cancellation_policy"] == name


def test_preview_and_cancel_of_someone_elses_booking_not_found(server, mail,
                                                               clock):
    _, _, _, booking, _ = sold_with_policy(server, mail, clock)
    other = new_customer(server, mail)
    for path in (f"/me/bookings/{booking['id']}/cancellation",
                 f"/me/bookings/{uuid.uuid4()}/cancellation",
                 "/me/bookings/nope/cancellation"):
        assert_error(other.client.get(path), 404, "not_found")
    assert_error(cancel(other, booking["id"], 0), 404, "not_found")


# ------------------------------------------------------------------- cancel

def test_customer_cancel_refunds_and_mails(server, mail, stripe, db, clock):
    account, client, _, booking, _ = sold_with_policy(server, mail, clock)
    tx = pay_installment(client, stripe, booking["id"])
    clock("2027-03-10")
    seen = preview(account, booking["id"])
    assert seen["refund_amount"] == 12500
    body = assert_json(cancel(account, booking["id"], 12500), 202)
    assert set(body) == {"booking", "refunds"}
    got = body["booking"]
    assert_schedule(got)
    assert got["status"] == "canceled"
    assert [i["status"] for i in got["schedule"]] == ["paid", "canceled"]
    assert got["amount_refunded"] == 12500
    assert got["payment_status"] == "partially_refunded"
    [refund] = [assert_refund(r) for r in body["refunds"]]
    assert (refund["transaction_id"], refund["amount"], refund["status"]) == (
        tx["id"], 12500, "succeeded")
    # One refund at Stripe, for that payment.
    at_stripe = [r for r in stripe.list_refunds()
                 if r["payment_intent"] == tx["gateway_ref"]]
    assert [r["amount"] for r in at_stripe] == [12500]
    assert my_booking(account, booking["id"])["status"] == "canceled"
    msg = exactly_one_mail(mail, account.email,
                           f"Booking {booking['reference']} is canceled")
    text = text_of(msg)
    assert "125.00 EUR" in text and "25.00 EUR" in text
    assert f"/booking/{booking['id']}" in text
    # Again: canceled already.
    assert_error(cancel(account, booking["id"], 0), 409, "conflict")
    after = preview(account, booking["id"])
    assert after["cancellable"] is False and after["reason"]
    assert_error(client.post("/intents", {"booking_id": booking["id"]}),
                 409, "conflict")


def test_expected_amount_must_be_the_preview(server, mail, stripe, db, clock):
    account, client, _, booking, _ = sold_with_policy(server, mail, clock)
    pay_installment(client, stripe, booking["id"])
    assert preview(account, booking["id"])["refund_amount"] == 30000
    for expected in (29999, 30001, 0):
        assert_error(cancel(account, booking["id"], expected), 409,
                     "policy_changed")
    for body in ({}, {"expected_refund_amount": -1},
                 {"expected_refund_amount": "30000"},
                 {"expected_refund_amount": 30000, "x": 1}):
        resp = account.client.post(f"/me/bookings/{booking['id']}/cancel",
                                   body)
        assert_error(resp, 422, "validation_failed")
    assert my_booking(account, booking["id"])["status"] == "pending"
    assert one(db, "SELECT count(*) FROM refunds r JOIN transactions t ON "
               "t.id = r.transaction_id WHERE t.booking_id = %s",
               (booking["id"],))[0] == 0


def test_refunds_newest_payment_first_across_several(server, mail, stripe,
                                                     db, clock):
    tiers = [{"min_days_before": 0, "refund_percent": 100, "fee": 20000}]
    account, client, _, booking, _ = sold_with_policy(server, mail, clock,
                                                      tiers)
    deposit = pay_installment(client, stripe, booking["id"])     # 30000
    balance = pay_installment(client, stripe, booking["id"])     # 90000
    assert my_booking(account, booking["id"])["payment_status"] == "paid"
    # 120000 - 20000 fee = 100000: the balance (newest) in full, then
    # 10000 of the deposit.
    assert preview(account, booking["id"])["refund_amount"] == 100000
    body = assert_json(cancel(account, booking["id"], 100000), 202)
    assert [(r["transaction_id"], r["amount"]) for r in body["refunds"]] == [
        (balance["id"], 90000), (deposit["id"], 10000)]
    assert body["booking"]["amount_refunded"] == 100000
    by_pi = {r["payment_intent"]: r["amount"] for r in stripe.list_refunds()
             if r["payment_intent"] in (deposit["gateway_ref"],
                                        balance["gateway_ref"])}
    assert by_pi == {balance["gateway_ref"]: 90000,
                     deposit["gateway_ref"]: 10000}
    # Each refund under its own key: cancel:<booking>:<transaction>.
    keys = sorted(k for (k,) in rows(
        db, "SELECT r.idempotency_key FROM refunds r JOIN transactions t ON "
        "t.id = r.transaction_id WHERE t.booking_id = %s", (booking["id"],)))
    assert keys == sorted(f"cancel:{booking['id']}:{t['id']}"
                          for t in (deposit, balance))


def test_cancel_without_payments_or_policy(server, mail, db, clock):
    clock("2027-01-10")
    account, _, _, booking = scheduled_booking(server, mail, 50000)
    got = preview(account, booking["id"])
    assert (got["refund_amount"], got["tier"], got["cancellable"]) == (
        0, None, True)
    body = assert_json(cancel(account, booking["id"], 0), 202)
    assert body["refunds"] == []
    assert body["booking"]["status"] == "canceled"
    assert [r[3] for r in installment_rows(db, booking["id"])] == ["canceled"]


def test_staff_cancel_with_override_is_audited(server, mail, stripe, db,
                                              clock):
    account, client, staff, booking, _ = sold_with_policy(server, mail,
                                                          clock)
    tx = pay_installment(client, stripe, booking["id"])          # 30000
    path = f"/bookings/{booking['id']}/cancel"
    assert_fields(staff.post(path, {"refund_amount": 30001,
                                    "reason": "goodwill"}), "refund_amount")
    assert_fields(staff.post(path, {"refund_amount": 100}), "reason")
    assert_fields(staff.post(path, {"refund_amount": -1, "reason": "x"}),
                  "refund_amount")
    assert_error(staff.post(f"/bookings/{uuid.uuid4()}/cancel",
                            {"reason": "x"}), 404, "not_found")
    body = assert_json(staff.post(path, {"refund_amount": 25000,
                                         "reason": "hotel closed"}), 202)
    assert body["booking"]["status"] == "canceled"
    [refund] = body["refunds"]
    assert (refund["amount"], refund["requested_by"]) == (25000, "staff:staff")
    audit = assert_json(staff.get(f"/transactions/{tx['id']}"), 200)
    actors = [e["actor"] for e in audit["audit_log"]]
    assert "staff:staff" in actors
    assert any(e["details"].get("booking_canceled") == booking["id"]
               and e["details"].get("reason") == "hotel closed"
               for e in audit["audit_log"])
    assert_error(staff.post(path, {"reason": "again"}), 409, "conflict")
    exactly_one_mail(mail, account.email,
                     f"Booking {booking['reference']} is canceled")


def test_staff_cancel_by_policy(server, mail, stripe, clock):
    account, client, staff, booking, _ = sold_with_policy(server, mail,
                                                          clock)
    pay_installment(client, stripe, booking["id"])
    clock("2027-04-24")                                     # 10 %
    body = assert_json(staff.post(f"/bookings/{booking['id']}/cancel",
                                  {"reason": "customer phoned"}), 202)
    assert [r["amount"] for r in body["refunds"]] == [3000]


def test_cancel_racing_the_payment_webhook(server, mail, stripe, db, clock):
    """The customer pays the deposit at Stripe but its webhook is late;
    the customer cancels seeing nothing paid. The open intent is closed
    here (Stripe refuses to cancel it: it is paid); when the webhook
    arrives the money is recorded and refunded in full: nothing kept for
    a canceled booking, nothing lost."""
    account, client, _, booking, _ = sold_with_policy(server, mail, clock)
    tx = assert_json(client.post("/intents", {"booking_id": booking["id"]}),
                     201)["transaction"]
    event = stripe.confirm(tx["gateway_ref"])               # not delivered
    assert preview(account, booking["id"])["refund_amount"] == 0
    body = assert_json(cancel(account, booking["id"], 0), 202)
    assert body["refunds"] == []
    deliver(stripe, event)
    refunds = [r for r in stripe.list_refunds()
               if r["payment_intent"] == tx["gateway_ref"]]
    assert [r["amount"] for r in refunds] == [30000]
    got = my_booking(account, booking["id"])
    assert (got["status"], got["amount_paid"], got["amount_refunded"]) == (
        "canceled", 30000, 30000)
    assert [i["status"] for i in got["schedule"]] == ["canceled", "canceled"]
    # Delivered again: applied once, refunded once.
    deliver(stripe, event)
    assert len([r for r in stripe.list_refunds()
                if r["payment_intent"] == tx["gateway_ref"]]) == 1


def test_webhook_before_cancel_changes_the_preview(server, mail, stripe,
                                                   clock):
    """The other order: the payment lands between the preview and the
    cancel, so the amount the customer saw is no longer the refund."""
    account, client, _, booking, _ = sold_with_policy(server, mail, clock)
    tx = assert_json(client.post("/intents", {"booking_id": booking["id"]}),
                     201)["transaction"]
    assert preview(account, booking["id"])["refund_amount"] == 0
    confirm_and_deliver(stripe, tx["gateway_ref"])
    assert_error(cancel(account, booking["id"], 0), 409, "policy_changed")
    assert preview(account, booking["id"])["refund_amount"] == 30000
    assert_json(cancel(account, booking["id"], 30000), 202)
