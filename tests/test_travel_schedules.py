"""Payment schedules (issue 10; docs/payments.md, "Payment schedules"):
bookings with a deposit and a balance before departure, in full when
booked late, the intent endpoint paying installments in order (or a named
one), payment_status and the schedule kept right by every payment path."""

import datetime

from harness.payments import (assert_error, assert_fields, assert_json,
                              assert_transaction, booking_row, my_booking,
                              new_customer, one, random_uuid, Staff)
from harness.travel import (assert_schedule, booking_count, clock,  # noqa: F401
                            create_booking_resp, installment_rows, iso,
                            pay_installment, scheduled_booking)

TODAY = "2027-01-10"


def test_deposit_percent_and_balance_due_before_departure(server, mail, db,
                                                          clock):
    clock(TODAY)
    account, _, _, booking = scheduled_booking(
        server, mail, 120000, {"deposit_percent": 20},
        travel_start="2027-05-01", travel_end="2027-05-08")
    deposit, balance = assert_schedule(booking)
    assert (deposit["kind"], deposit["amount"], deposit["due_date"],
            deposit["status"], deposit["attempts"]) == (
        "deposit", 24000, TODAY, "pending", 0)
    # 42 days before 1 May 2027 (the default).
    assert (balance["kind"], balance["amount"], balance["due_date"],
            balance["status"]) == ("balance", 96000, "2027-03-20", "pending")
    assert booking["cancellation_policy"] is None
    # The customer sees the same schedule.
    assert my_booking(account, booking["id"])["schedule"] == booking["schedule"]
    assert [r[:4] for r in installment_rows(db, booking["id"])] == [
        ("deposit", 24000, datetime.date(2027, 1, 10), "pending"),
        ("balance", 96000, datetime.date(2027, 3, 20), "pending")]


def test_deposit_amount_and_balance_due_days(server, mail, clock):
    clock(TODAY)
    _, _, _, booking = scheduled_booking(
        server, mail, 50000, {"deposit_amount": 7500, "balance_due_days": 30},
        travel_start="2027-03-01", travel_end="2027-03-02")
    assert [(i["kind"], i["amount"], i["due_date"])
            for i in booking["schedule"]] == [
        ("deposit", 7500, TODAY), ("balance", 42500, "2027-01-30")]


def test_deposit_percent_rounds_half_up(server, mail, clock):
    clock(TODAY)
    _, _, _, booking = scheduled_booking(server, mail, 1001,
                                         {"deposit_percent": 50})
    assert [i["amount"] for i in booking["schedule"]] == [501, 500]
    _, _, _, booking = scheduled_booking(server, mail, 1009,
                                         {"deposit_percent": 15})
    assert [i["amount"] for i in booking["schedule"]] == [151, 858]


def test_booked_after_the_balance_date_is_due_in_full(server, mail, clock):
    clock("2027-04-01")
    _, _, _, booking = scheduled_booking(
        server, mail, 120000, {"deposit_percent": 20},
        travel_start="2027-05-01", travel_end="2027-05-08")
    assert [(i["kind"], i["amount"], i["due_date"])
            for i in booking["schedule"]] == [("full", 120000, "2027-04-01")]
    # On the balance date itself there is still a balance (due that day).
    clock("2027-03-20")
    _, _, _, booking = scheduled_booking(
        server, mail, 120000, {"deposit_percent": 20},
        travel_start="2027-05-01", travel_end="2027-05-08")
    assert [(i["kind"], i["due_date"]) for i in booking["schedule"]] == [
        ("deposit", "2027-03-20"), ("balance", "2027-03-20")]


def test_without_schedule_one_full_installment_due_today(server, mail, clock):
    clock(TODAY)
    _, _, _, booking = scheduled_booking(server, mail, 80000)
    assert [(i["kind"], i["amount"], i["due_date"], i["status"])
            for i in booking["schedule"]] == [
        ("full", 80000, TODAY, "pending")]


def test_bad_schedules_refused_and_nothing_created(server, mail, db):
    account = new_customer(server, mail)
    staff = Staff(server)
    bad = [
        ({"deposit_percent": 0}, "schedule.deposit_percent"),
        ({"deposit_percent": 100}, "schedule.deposit_percent"),
        ({"deposit_percent": 50.5}, "schedule.deposit_percent"),
        ({"deposit_percent": "20"}, "schedule.deposit_percent"),
        ({"deposit_amount": 120000}, "schedule.deposit_amount"),
        ({"deposit_amount": 130000}, "schedule.deposit_amount"),
        ({"deposit_amount": 0}, "schedule.deposit_amount"),
        ({"deposit_amount": -5}, "schedule.deposit_amount"),
        ({"deposit_amount": 100, "deposit_percent": 10},
         "schedule.deposit_amount"),
        ({}, "schedule.deposit_amount"),
        ({"deposit_percent": 20, "balance_due_days": -1},
         "schedule.balance_due_days"),
        ({"deposit_percent": 20, "balance_due_days": "42"},
         "schedule.balance_due_days"),
        ({"deposit_percent": 20, "when": "now"}, "schedule.when"),
        ("20%", "schedule"),
    ]
    for schedule, field in bad:
        resp = create_booking_resp(staff, account, amount_total=120000,
                                   schedule=schedule)
        assert_fields(resp, field)
    # A percentage that rounds to the whole amount (or to nothing) leaves
    # no balance (or no deposit).
    assert_fields(create_booking_resp(staff, account, amount_total=1,
                                      schedule={"deposit_percent": 99}),
                  "schedule.deposit_percent")
    assert_fields(create_booking_resp(staff, account, amount_total=3,
                                      schedule={"deposit_percent": 1}),
                  "schedule.deposit_percent")
    assert_fields(create_booking_resp(staff, account,
                                      cancellation_policy="no-such-policy"),
                  "cancellation_policy")
    assert booking_count(db, account.id) == 0
    assert one(db, "SELECT count(*) FROM installments i JOIN bookings b "
               "ON b.id = i.booking_id WHERE b.customer_id = %s",
               (account.id,))[0] == 0


def test_deposit_then_balance_by_card(server, mail, stripe, db, clock):
    clock(TODAY)
    account, client, _, booking = scheduled_booking(
        server, mail, 120000, {"deposit_percent": 25})
    deposit_id, balance_id = [i["id"] for i in booking["schedule"]]

    tx = pay_installment(client, stripe, booking["id"])
    assert tx["amount"] == 30000
    assert str(one(db, "SELECT installment_id FROM transactions "
                   "WHERE id = %s", (tx["id"],))[0]) == deposit_id
    got = my_booking(account, booking["id"])
    assert got["payment_status"] == "partially_paid"
    assert got["status"] == "pending"
    assert got["amount_paid"] == 30000
    assert [(i["id"], i["status"]) for i in got["schedule"]] == [
        (deposit_id, "paid"), (balance_id, "pending")]
    assert installment_rows(db, booking["id"])[0][5] == tx["id"]
    assert booking_row(db, booking["id"]) == (30000, 0, "partially_paid")

    # The next intent is the balance, for its amount.
    tx2 = pay_installment(client, stripe, booking["id"])
    assert tx2["amount"] == 90000
    got = my_booking(account, booking["id"])
    assert got["payment_status"] == "paid"
    assert got["status"] == "confirmed"
    assert [i["status"] for i in got["schedule"]] == ["paid", "paid"]
    assert installment_rows(db, booking["id"])[1][5] == tx2["id"]
    assert_error(client.post("/intents", {"booking_id": booking["id"]}),
                 409, "booking_already_paid")


def test_named_installment_paid_first(server, mail, stripe, db, clock):
    clock(TODAY)
    account, client, _, booking = scheduled_booking(
        server, mail, 100000, {"deposit_amount": 10000})
    deposit_id, balance_id = [i["id"] for i in booking["schedule"]]
    tx = pay_installment(client, stripe, booking["id"], balance_id)
    assert tx["amount"] == 90000
    got = my_booking(account, booking["id"])
    assert [(i["id"], i["status"]) for i in got["schedule"]] == [
        (deposit_id, "pending"), (balance_id, "paid")]
    assert got["payment_status"] == "partially_paid"
    # Paid already: 409; the deposit is what is left.
    assert_error(client.post("/intents", {"booking_id": booking["id"],
                                          "installment_id": balance_id}),
                 409, "conflict")
    tx = pay_installment(client, stripe, booking["id"])
    assert tx["amount"] == 10000
    assert my_booking(account, booking["id"])["payment_status"] == "paid"


def test_named_installment_unknown_or_foreign_is_not_found(server, mail,
                                                          clock):
    clock(TODAY)
    _, client, _, booking = scheduled_booking(server, mail, 100000,
                                              {"deposit_percent": 10})
    _, _, _, other = scheduled_booking(server, mail, 100000,
                                       {"deposit_percent": 10})
    for installment in (random_uuid(), other["schedule"][0]["id"], "x1"):
        assert_error(client.post("/intents", {
            "booking_id": booking["id"], "installment_id": installment}),
            404, "not_found")
    assert_fields(client.post("/intents", {"booking_id": booking["id"],
                                           "save_payment_method": "yes"}),
                  "save_payment_method")


def test_cash_for_the_deposit_pays_the_deposit(server, mail, stripe, clock):
    clock(TODAY)
    account, client, staff, booking = scheduled_booking(
        server, mail, 120000, {"deposit_percent": 20})
    staff.manual_ok(booking["id"], 24000)
    got = my_booking(account, booking["id"])
    assert [i["status"] for i in got["schedule"]] == ["paid", "pending"]
    assert got["payment_status"] == "partially_paid"
    resp = assert_json(client.post("/intents", {"booking_id": booking["id"]}),
                       201)
    assert assert_transaction(resp["transaction"])["amount"] == 96000


def test_intent_for_a_canceled_booking_is_a_conflict(server, mail, db,
                                                    clock):
    clock(TODAY)
    _, client, _, booking = scheduled_booking(server, mail, 50000,
                                              {"deposit_percent": 20})
    with db.cursor() as cur:
        cur.execute("UPDATE bookings SET status = 'canceled' WHERE id = %s",
                    (booking["id"],))
    assert_error(client.post("/intents", {"booking_id": booking["id"]}),
                 409, "conflict")
    assert one(db, "SELECT count(*) FROM transactions WHERE booking_id = %s",
               (booking["id"],))[0] == 0


def test_staff_sees_the_schedule_in_its_answer(server, mail, clock):
    clock(TODAY)
    account = new_customer(server, mail)
    body = assert_json(create_booking_resp(
        Staff(server), account, amount_total=2000,
        schedule={"deposit_amount": 500, "balance_due_days": 0},
        travel_start=iso(datetime.date(2027, 2, 1)),
        travel_end="2027-02-02"), 201)
    assert [(i["kind"], i["amount"], i["due_date"])
            for i in assert_schedule(body["booking"])] == [
        ("deposit", 500, TODAY), ("balance", 1500, "2027-02-01")]
