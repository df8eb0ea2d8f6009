"""The customer pages' second-stage flows in a real browser (headless
Chromium, the same set-up as test_web_pages.py: Apache with the module and
conf/jklg-web.conf, the suite's PostgreSQL, the SMTP stand-in and the
Stripe stand-in with its stand-in Stripe.js):

- login with MFA: password, then the code field; a wrong code beside the
  field; a TOTP code and a recovery code each get in;
- the dashboard's security section: security events, two-step login on
  (wrong code, then right) and off (wrong password, then a recovery code),
  an email change asked for and confirmed from the mail, the data export
  and account deletion;
- a booking's payment schedule, the deposit (keeping the card for the
  balance, then removing it on the dashboard) and then the balance paid
  through /booking/{id}/pay;
- the cancellation preview and cancel on /booking/{id}, the preview moving
  under the customer's feet (policy_changed), the refund shown being the
  API's.

TOTP codes are computed here from the secret the server hands out (RFC
6238 with hmac/hashlib), so a page or server getting them wrong fails."""

import base64
import datetime
import hashlib
import hmac
import json
import struct
import time

import pytest

from harness.customers import PASSWORD
from harness.server import STAFF
from harness.payments import Staff
from test_web_pages import (  # noqa: F401
    AXE, AXE_RUN, account, api, booking_of, browser, mail_link, new_email,
    page)
from harness.travel import clock  # noqa: F401
from harness.web import web, web_log_clean  # noqa: F401

pytest.importorskip("selenium.webdriver")
from selenium.common.exceptions import NoAlertPresentException  # noqa: E402

STEP = 30


# ------------------------------------------------------------ TOTP in Python

def hotp(secret, counter):
    mac = hmac.new(secret, struct.pack(">Q", counter), hashlib.sha1).digest()
    offset = mac[-1] & 0x0F
    value = struct.unpack(">I", mac[offset:offset + 4])[0] & 0x7FFFFFFF
    return str(value % 10 ** 6).zfill(6)


class Totp:
    """Codes of one secret. The server takes a step once, and only one
    newer than the last it took (within +-1 step of its clock), so each
    code handed out is for a step after the previous one."""

    def __init__(self, secret_b32):
        self.key = base64.b32decode(secret_b32 + "=" * (-len(secret_b32) % 8))
        self.last = None

    def next(self):
        now = int(time.time()) // STEP
        step = now if self.last is None else max(self.last + 1, now)
        self.last = step
        return hotp(self.key, step)

    def wrong(self):
        """Six digits that are no code of any step the server may take."""
        now = int(time.time()) // STEP
        near = {hotp(self.key, now + d) for d in range(-3, 4)}
        return next(c for c in ("000000", "111111", "222222", "333333")
                    if c not in near)


def test_python_totp_matches_rfc6238():
    """RFC 6238 Appendix B (SHA-1), last six digits."""
    assert hotp(b"12345678901234567890", 1111111109 // 30) == "081804"


def enable_mfa(web, token):
    """TOTP on through the API: (Totp, recovery codes)."""
    resp = api(web, "POST", "/customers/me/mfa/totp", token)
    assert resp.status_code == 200, resp.text
    totp = Totp(resp.json()["secret"])
    resp = api(web, "POST", "/customers/me/mfa/totp/confirm", token,
               json={"code": totp.next()})
    assert resp.status_code == 200, resp.text
    codes = resp.json()["recovery_codes"]
    assert len(codes) == 10
    return totp, codes


# ------------------------------------------------------------------ helpers

WAIT = 30


def wait(page, cond, what):
    return page.wait(cond, what, timeout=WAIT)


def shown(page, css):
    return bool(page.all(css)) and page.find(css).is_displayed()


def amount(minor):
    """How the pages write an amount of euros in English: 1,234.56."""
    return f"{minor / 100:,.2f}"


def day_text(iso):
    """How the pages write a date in English (medium): Mar 20, 2027."""
    d = datetime.date.fromisoformat(iso)
    return f"{d.strftime('%b')} {d.day}, {d.year}"


def field_error(page, field_id, needle):
    """The API's error beside the field, announced with it."""
    css = f"#{field_id} + .field-error"
    wait(page, lambda d: needle in page.text(css), f"{needle!r} at {css}")
    field = page.find(f"#{field_id}")
    assert field.get_attribute("aria-invalid") == "true"
    assert f"{field_id}-error" in field.get_attribute(
        "aria-describedby").split()


def password_step(page, email):
    """/login with the password of an MFA account: the code field comes."""
    page.open("/login")
    page.fill("#login-form", {"email": email, "password": PASSWORD})
    page.submit("#login-form")
    wait(page, lambda d: shown(page, "#mfa-form"), "the code field")
    assert not page.find("#login-form").is_displayed()
    assert page.driver.switch_to.active_element.get_attribute("id") == "code"
    assert page.token() is None


def staff_booking(web, email, total, **extra):
    body = {"customer_email": email, "description": "Azores, 10 nights",
            "travel_start": "2027-09-01", "travel_end": "2027-09-11",
            "amount_total": total, "currency": "eur"}
    body.update(extra)
    resp = Staff(web, auth=STAFF).post("/bookings", body)
    assert resp.status_code == 201, resp.text
    return resp.json()["booking"]


def assert_axe_clean(page):
    """axe-core finds nothing on the page as it is now (the pay page with
    its save-card offer, which the every-page test does not show)."""
    page.driver.set_script_timeout(60)
    page.driver.execute_script(AXE.read_text())
    result = page.driver.execute_async_script(AXE_RUN)
    assert result == [], result


def schedule_rows(page):
    wait(page, lambda d: shown(page, "#schedule"), "the schedule")
    return [[td.text for td in tr.find_elements("css selector", "td")]
            for tr in page.all("#schedule-table tbody tr")]


def pay_with_the_element(page, booking_id, due, save=None):
    """From the booking page: the pay link names `due`; the pay page asks
    for it; the stand-in's succeeding card pays; the confirmation page
    shows the transaction succeeded. save: None when the page must not
    offer to keep the card, else whether to tick the offer (whose text
    must hold each string of `save`)."""
    link = page.find("#pay-link")
    assert amount(due) in link.text, link.text
    link.click()
    page.wait_path(f"/booking/{booking_id}/pay")
    wait(page, lambda d: page.all("#payment-element input[value=succeed]"),
         "payment element")
    assert amount(due) in page.text("#pay-summary")
    if save is None:
        assert not shown(page, "#save-card-box")
    else:
        assert shown(page, "#save-card-box")
        offer = page.text("#save-card-box")
        assert all(s in offer for s in save["text"]), offer
        if save["tick"]:
            # The page swaps the intent for one that keeps the card.
            page.find("#save_card").click()
            wait(page, lambda d: page.find(
                "#pay-form button[type=submit]").is_enabled(),
                "the saving intent")
            assert_axe_clean(page)
    page.submit("#pay-form")
    page.wait_path("/order-confirmation")
    wait(page, lambda d: page.find("#order-status").get_attribute(
        "data-state") == "succeeded", "payment succeeded")


# ------------------------------------------------------------------- MFA

def test_login_asks_for_the_code(page, web, mail):
    email, token = account(web, mail)
    totp, codes = enable_mfa(web, token)

    # A wrong code: the error beside the field; still on /login, no token.
    password_step(page, email)
    page.fill("#mfa-form", {"code": totp.wrong()})
    page.submit("#mfa-form")
    field_error(page, "code", "not right")
    assert page.path() == "/login" and page.token() is None

    # The app's code: in, on the dashboard, with a working token.
    page.fill("#mfa-form", {"code": totp.next()})
    page.submit("#mfa-form")
    page.wait_path("/customer-dashboard")
    mine = page.token()
    assert mine and api(web, "GET", "/customers/me", mine).status_code == 200

    # A recovery code, typed as people type them: in as well.
    page.driver.execute_script("sessionStorage.clear()")
    password_step(page, email)
    page.fill("#mfa-form", {"code": codes[0].upper().replace("-", " ")})
    page.submit("#mfa-form")
    page.wait_path("/customer-dashboard")
    assert api(web, "GET", "/customers/me", page.token()).status_code == 200


# ------------------------------------------------------ dashboard security

def event_texts(page):
    return [li.text for li in page.all("#events-list > li")]


def test_dashboard_security_section(page, web, mail):
    email, token = account(web, mail)
    page.set_token(token)
    page.open("/customer-dashboard")

    # Security events: what the API lists, newest first, in words.
    listed = api(web, "GET", "/customers/me/security-events?limit=20",
                 token).json()["data"]
    assert "login" in [e["type"] for e in listed]
    wait(page, lambda d: len(page.all("#events-list > li")) == len(listed),
         "the events list")
    assert "Logged in" in page.text("#events-list")
    # Sessions: the API's, this tab's marked.
    sessions = api(web, "GET", "/customers/me/sessions", token).json()["data"]
    assert len(page.all("#sessions-list > li")) == len(sessions)

    # Two-step login on: the key shown, a wrong code beside the field, the
    # right one turns it on and shows ten recovery codes.
    page.submit("#mfa-start-form")
    wait(page, lambda d: shown(page, "#mfa-confirm-form"), "the key")
    secret = page.text("#mfa-secret")
    assert secret and f"secret={secret}" in page.find(
        "#mfa-url").get_attribute("href")
    assert page.find("#mfa-url").get_attribute("href").startswith(
        "otpauth://totp/")
    totp = Totp(secret)
    page.fill("#mfa-confirm-form", {"code": totp.wrong()})
    page.submit("#mfa-confirm-form")
    field_error(page, "mfa_code", "not right")
    page.fill("#mfa-confirm-form", {"code": totp.next()})
    page.submit("#mfa-confirm-form")
    wait(page, lambda d: shown(page, "#mfa-codes"), "recovery codes")
    codes = [li.text for li in page.all("#mfa-codes-list > li")]
    assert len(codes) == 10 and len(set(codes)) == 10
    page.wait_text("#events-list", "Two-step login turned on")
    resp = api(web, "POST", "/customers/login",
               json={"email": email, "password": PASSWORD})
    assert resp.status_code == 401
    assert resp.json()["error"]["code"] == "mfa_required"

    # Off: a wrong password is the form's error (the session stays), then
    # the password with a recovery code turns it off.
    page.fill("#mfa-disable-form", {"password": "not the password 1",
                                    "code": codes[1]})
    page.submit("#mfa-disable-form")
    field_error(page, "mfa_off_password", "password is not right")
    assert page.path() == "/customer-dashboard" and page.token() == token
    page.fill("#mfa-disable-form", {"password": PASSWORD, "code": codes[1]})
    page.submit("#mfa-disable-form")
    page.wait_text("#mfa-disable-form .form-message", "Two-step login is off")
    assert not shown(page, "#mfa-codes")
    assert shown(page, "#mfa-start-form")
    page.wait_text("#events-list", "Two-step login turned off")
    assert api(web, "POST", "/customers/login", json={
        "email": email, "password": PASSWORD}).status_code == 200

    # Email change: a wrong password beside its field, then the request;
    # the link mailed to the new address confirms it.
    new = new_email("moved")
    page.fill("#email-form", {"new_email": new,
                              "password": "not the password 1"})
    page.submit("#email-form")
    field_error(page, "email_password", "password is not right")
    assert page.token() == token
    page.fill("#email-form", {"new_email": new, "password": PASSWORD})
    page.submit("#email-form")
    page.wait_text("#email-form .form-message", "confirmation link")
    assert api(web, "GET", "/customers/me", token).json()["customer"][
        "email"] == email
    page.driver.get(mail_link(mail, web, new, "/confirm-email-change?token="))
    page.ready()
    page.wait_text("#link-status", "new email address is confirmed")
    assert api(web, "GET", "/customers/me", token).json()["customer"][
        "email"] == new
    page.open("/customer-dashboard")
    assert page.text("#profile-email") == new
    page.wait_text("#events-list", "Email changed")


# ------------------------------------------------ schedule: deposit, balance

def test_schedule_deposit_then_balance(page, web, mail, stripe):
    email, token = account(web, mail)
    booking = staff_booking(web, email, 120000,
                            schedule={"deposit_percent": 25})
    deposit, balance = booking["schedule"]
    assert (deposit["kind"], deposit["amount"]) == ("deposit", 30000)
    assert (balance["kind"], balance["amount"]) == ("balance", 90000)
    page.set_token(token)
    page.open(f"/booking/{booking['id']}")
    assert schedule_rows(page) == [
        ["Deposit", day_text(deposit["due_date"]), "€300.00", "to pay"],
        ["Balance", day_text(balance["due_date"]), "€900.00", "to pay"]]

    # The deposit, keeping the card for the balance (the offer names it).
    pay_with_the_element(page, booking["id"], 30000, save={
        "tick": True, "text": ["€900.00", day_text(balance["due_date"])]})
    page.wait_text("#order-status", "we received €300.00")
    state = booking_of(web, token, booking["id"])
    assert state["booking"]["payment_status"] == "partially_paid"
    assert [i["status"] for i in state["booking"]["schedule"]] == [
        "paid", "pending"]
    paid = [t for t in state["transactions"] if t["status"] == "succeeded"]
    assert [t["amount"] for t in paid] == [30000]
    pi = stripe.get_payment_intent(paid[0]["gateway_ref"])
    assert pi["setup_future_usage"] == "off_session" and pi["customer"]
    cards = api(web, "GET", "/customers/me/payment-methods",
                token).json()["data"]
    assert len(cards) == 1, cards
    card = cards[0]

    # The dashboard lists the saved card and can remove it.
    page.open("/customer-dashboard#security")
    listed = page.wait_text("#cards-list", f"ending in {card['last4']}")
    assert f"expires {card['exp_month']:02d}/{card['exp_year']}" in listed
    assert card["brand"].capitalize() in listed
    page.find(f"#cards-list button[data-card='{card['id']}']").click()
    page.wait_text("#cards-list", "No saved cards")
    assert api(web, "GET", "/customers/me/payment-methods",
               token).json()["data"] == []
    page.open(f"/order-confirmation?booking={booking['id']}"
              f"&payment_intent={paid[0]['gateway_ref']}")

    # Back on the booking: the deposit paid, the balance next.
    page.find("#order-booking").click()
    page.wait_path(f"/booking/{booking['id']}")
    assert [r[3] for r in schedule_rows(page)] == ["paid", "to pay"]
    pay_with_the_element(page, booking["id"], 90000)
    page.wait_text("#order-status", "booking is paid")
    state = booking_of(web, token, booking["id"])
    assert state["booking"]["payment_status"] == "paid"
    assert [i["status"] for i in state["booking"]["schedule"]] == [
        "paid", "paid"]
    assert sorted(t["amount"] for t in state["transactions"]
                  if t["status"] == "succeeded") == [30000, 90000]

    page.find("#order-booking").click()
    page.wait_path(f"/booking/{booking['id']}")
    assert [r[3] for r in schedule_rows(page)] == ["paid", "paid"]
    assert not page.find("#booking-pay").is_displayed()


# ------------------------------------------------------------ cancellation

TIERS = [{"min_days_before": 60, "refund_percent": 100, "fee": 0},
         {"min_days_before": 30, "refund_percent": 50, "fee": 2500}]


def preview_of(web, token, booking_id):
    resp = api(web, "GET",
               f"/customers/me/bookings/{booking_id}/cancellation", token)
    assert resp.status_code == 200, resp.text
    return resp.json()


def test_cancellation_preview_and_cancel(page, web, mail, stripe, clock):
    email, token = account(web, mail)
    policy = f"web-{new_email('p').split('@')[0]}"
    resp = Staff(web, auth=STAFF).request(
        "PUT", f"/cancellation-policies/{policy}", {"tiers": TIERS})
    assert resp.status_code == 200, resp.text
    clock("2027-01-10")
    booking = staff_booking(web, email, 100000,
                            schedule={"deposit_amount": 40000},
                            cancellation_policy=policy)
    assert booking["cancellation_policy"] == policy

    # The customer pays the deposit through the stand-in Stripe.js, not
    # keeping the card.
    page.set_token(token)
    page.open(f"/booking/{booking['id']}")
    pay_with_the_element(page, booking["id"], 40000,
                         save={"tick": False, "text": ["€600.00"]})
    assert api(web, "GET", "/customers/me/payment-methods",
               token).json()["data"] == []
    page.find("#order-booking").click()
    page.wait_path(f"/booking/{booking['id']}")

    # The preview: the first tier, all of the deposit back.
    seen = preview_of(web, token, booking["id"])
    assert (seen["cancellable"], seen["refund_amount"], seen["fee"]) == (
        True, 40000, 0)
    wait(page, lambda d: shown(page, "#cancel-form"), "the cancel form")
    assert page.text("#cancel-preview") == (
        "If you cancel today you get €400.00 back (fee €0.00).")

    # Not ticked: nothing happens.
    page.submit("#cancel-form")
    page.wait_text("#cancel-form .form-message", "Tick the box")
    assert booking_of(web, token, booking["id"])["booking"][
        "status"] != "canceled"

    # Days pass with the page open: the next tier applies. The cancel with
    # the old amount is refused; the page shows the new one and asks again.
    clock("2027-07-20")
    now = preview_of(web, token, booking["id"])
    assert (now["refund_amount"], now["fee"]) == (17500, 2500)
    page.find("#cancel_sure").click()
    page.submit("#cancel-form")
    page.wait_text("#cancel-form .form-message", "terms changed")
    assert page.text("#cancel-preview") == (
        "If you cancel today you get €175.00 back (fee €25.00).")
    assert not page.find("#cancel_sure").is_selected()
    assert booking_of(web, token, booking["id"])["booking"][
        "status"] != "canceled"

    # Confirmed at the new amount: canceled, that amount refunded.
    page.find("#cancel_sure").click()
    page.submit("#cancel-form")
    page.wait_text("#booking-summary", "This booking is canceled.")
    state = booking_of(web, token, booking["id"])["booking"]
    assert state["status"] == "canceled"
    assert state["amount_refunded"] == 17500
    assert [i["status"] for i in state["schedule"]] == ["paid", "canceled"]
    assert "€175.00" in page.text("#booking-summary")
    assert [r[3] for r in schedule_rows(page)] == ["paid", "canceled"]
    refunds = [r for r in stripe.list_refunds() if r["amount"] == 17500]
    assert refunds, stripe.list_refunds()
    # Canceled: no pay link, the preview says why it cannot be canceled.
    assert not page.find("#booking-pay").is_displayed()
    assert not page.find("#cancel-form").is_displayed()
    after = preview_of(web, token, booking["id"])
    assert after["cancellable"] is False
    assert page.text("#cancel-preview") == after["reason"]


# ------------------------------------------------- dashboard: your data

EXPORT_KEYS = {"customer", "addresses", "preferences", "sessions", "bookings",
               "transactions", "security_events", "emails"}


def test_dashboard_export_and_delete(page, web, mail, tmp_path):
    email, token = account(web, mail)
    page.set_token(token)
    page.driver.execute_cdp_cmd("Browser.setDownloadBehavior", {
        "behavior": "allow", "downloadPath": str(tmp_path)})
    page.open("/customer-dashboard")

    # The export: the API's document, downloaded as my-data.json.
    page.submit("#export-form")
    page.wait_text("#export-form .form-message", "Downloaded")
    saved = tmp_path / "my-data.json"
    wait(page, lambda d: saved.exists() and saved.stat().st_size > 0,
         "the downloaded file")
    doc = json.loads(saved.read_text())
    assert EXPORT_KEYS <= set(doc), set(doc)
    assert doc["customer"]["email"] == email

    # Deletion: a wrong password beside its field, the account stays; the
    # right one, confirmed in the dialog, erases it and leaves for /signup.
    page.fill("#delete-form", {"password": "not the password 1"})
    page.submit("#delete-form")
    wait(page, lambda d: _accept_alert(d), "the confirmation dialog")
    field_error(page, "delete_password", "password is not right")
    assert api(web, "GET", "/customers/me", token).status_code == 200
    page.fill("#delete-form", {"password": PASSWORD})
    page.submit("#delete-form")
    wait(page, lambda d: _accept_alert(d), "the confirmation dialog")
    page.wait_path("/signup")
    assert page.token() is None
    assert api(web, "GET", "/customers/me", token).status_code == 401
    assert api(web, "POST", "/customers/login", json={
        "email": email, "password": PASSWORD}).status_code == 401


def _accept_alert(driver):
    try:
        driver.switch_to.alert.accept()
        return True
    except NoAlertPresentException:
        return False
