"""Emails in the customer's language (issue 11), end to end: the language
comes from the customer's preferences when the mail is queued (the outbox
trigger of sql/012), the mail thread renders the built-in or the operator's
override in that language with amounts and dates written for it, and the
real SMTP stand-in receives it."""

import datetime
import re
import shutil
import time
import uuid

import pytest
import requests

from harness.customers import (PASSWORD, RESET_LINK, Client, assert_json,
                               customer_id, html_part, mail_tokens, new_email,
                               register, register_verified, reset_token,
                               text_part, wait_subject)
from harness.payments import (confirm_and_deliver, customer_with_booking,
                              my_transaction, open_intent)

NBSP = "\u00a0"
MONTHS = {
    "en": ["January", "February", "March", "April", "May", "June", "July",
           "August", "September", "October", "November", "December"],
    "pt": ["janeiro", "fevereiro", "março", "abril", "maio", "junho", "julho",
           "agosto", "setembro", "outubro", "novembro", "dezembro"],
    "fr": ["janvier", "février", "mars", "avril", "mai", "juin", "juillet",
           "août", "septembre", "octobre", "novembre", "décembre"],
}

RESET_SUBJECTS = {
    "en": "Reset your JKLG Travel password",
    "pt": "Redefina sua senha em JKLG Travel",
    "es": "Restablezca su contraseña de JKLG Travel",
    "fr": "Réinitialisez votre mot de passe JKLG Travel",
    "de": "Setzen Sie Ihr Passwort für JKLG Travel zurück",
}
GREETINGS = {"en": "Hello Ana,", "pt": "Olá Ana,", "es": "Hola Ana:",
             "fr": "Bonjour Ana,", "de": "Hallo Ana,"}


def customer_speaking(server, mail, language):
    """A verified, logged-in customer whose preferences say `language`
    (None: never set, so there is no preferences row)."""
    account = register_verified(server, mail)
    if language is not None:
        resp = account.client.put("/me/preferences", {"language": language})
        assert assert_json(resp, 200)["preferences"]["language"] == language
    return account


def outbox_language(db, recipient, template):
    with db.cursor() as cur:
        cur.execute("SELECT language FROM email_outbox WHERE recipient = %s"
                    " AND template = %s ORDER BY created_at DESC LIMIT 1",
                    (recipient, template))
        row = cur.fetchone()
    assert row is not None, f"no {template} row for {recipient}"
    return row[0]


def forgot(server, email):
    resp = Client(server).post("/forgot-password", {"email": email})
    assert resp.status_code == 202, resp.text


@pytest.mark.parametrize("language,expected", [
    ("pt-BR", "pt"), ("pt", "pt"), ("es-419", "es"), ("fr-CA", "fr"),
    ("de", "de"), ("en-GB", "en"), ("xx", "en"), ("it", "en")])
def test_reset_mail_in_the_customers_language(server, mail, db, language,
                                              expected):
    account = customer_speaking(server, mail, language)
    forgot(server, account.email)
    msg = wait_subject(mail, account.email, RESET_SUBJECTS[expected])
    text, html = text_part(msg), html_part(msg)
    assert text.startswith(GREETINGS[expected]), text
    assert f'<html lang="{expected}">' in html
    # The tag is kept as the customer chose it; the renderer maps it.
    assert outbox_language(db, account.email, "password_reset") == language
    # The link in the translated mail is the real one: it resets.
    token = reset_token(mail, account.email)
    resp = Client(server).post("/reset-password",
                               {"token": token, "password": PASSWORD + "2"})
    assert resp.status_code == 200, resp.text


def test_customer_without_preferences_gets_en(server, mail, db):
    account = customer_speaking(server, mail, None)
    with db.cursor() as cur:
        cur.execute("SELECT count(*) FROM customer_preferences"
                    " WHERE customer_id = %s", (account.id,))
        assert cur.fetchone()[0] == 0
    forgot(server, account.email)
    msg = wait_subject(mail, account.email, RESET_SUBJECTS["en"])
    assert text_part(msg).startswith("Hello Ana,")
    assert outbox_language(db, account.email, "password_reset") is None


def test_registration_mail_is_en(server, mail, db):
    # A new address has no preferences yet.
    email = new_email("newcomer")
    register(server, email)
    msg = wait_subject(mail, email, "Confirm your email address")
    assert text_part(msg).startswith("Hello Ana,")
    assert outbox_language(db, email, "verification") is None


def test_account_exists_notice_in_the_owners_language(server, mail, db):
    account = customer_speaking(server, mail, "de-AT")
    register(server, account.email)
    msg = wait_subject(mail, account.email,
                       "Sie haben bereits ein Konto bei JKLG Travel")
    assert "Hallo Ana," in text_part(msg)
    assert "https://travel.test/login" in text_part(msg)


def test_password_changed_mail_with_a_localised_date(server, mail, db):
    account = customer_speaking(server, mail, "fr-CA")
    resp = account.client.post("/me/password", {
        "current_password": PASSWORD, "new_password": PASSWORD + "-fr"})
    assert resp.status_code == 200, resp.text
    msg = wait_subject(mail, account.email,
                       "Votre mot de passe JKLG Travel a été modifié")
    text = text_part(msg)
    # changed_at is queued as 2026-...T...Z and written the French way.
    assert re.search(r"a été modifié le (1er|\d{1,2}) (" +
                     "|".join(MONTHS["fr"]) + r") \d{4} à \d\d:\d\d UTC",
                     " ".join(text.split())), text
    assert not re.search(r"\d{4}-\d\d-\d\dT", text)


def french_or_day(day):
    return "1er" if day == 1 else str(day)


def test_receipt_and_confirmation_in_portuguese(server, mail, stripe, db):
    account, client, staff, booking = customer_with_booking(
        server, mail, amount_total=123450, currency="eur",
        travel_start="2027-10-01", travel_end="2027-10-11")
    resp = account.client.put("/me/preferences", {"language": "pt-BR"})
    assert_json(resp, 200)
    tx, _ = open_intent(client, booking["id"])
    confirm_and_deliver(stripe, tx["gateway_ref"])
    assert my_transaction(client, tx["id"])["status"] == "succeeded"
    reference = booking["reference"]

    receipt = wait_subject(mail, account.email,
                           f"Pagamento recebido para a reserva {reference}")
    text = text_part(receipt)
    assert text.startswith("Olá Ana,")
    amount = f"1.234,50{NBSP}€"
    assert re.search(r"Valor pago:\s+" + re.escape(amount), text), text
    assert re.search(r"Falta pagar:\s+" + re.escape(f"0,00{NBSP}€"), text), text
    assert re.search(r"Forma de pagamento:\s+cartão", text), text
    assert amount in html_part(receipt)
    assert "EUR" not in text
    # paid_at: today, in Portuguese (the test may straddle midnight UTC).
    dates = {f"{d.day} de {MONTHS['pt'][d.month - 1]} de {d.year}"
             for d in (datetime.datetime.now(datetime.timezone.utc).date(),
                       datetime.datetime.now(datetime.timezone.utc).date()
                       - datetime.timedelta(days=1))}
    assert any(d in text for d in dates), text

    confirmation = wait_subject(mail, account.email,
                                f"Reserva {reference} confirmada")
    text = text_part(confirmation)
    assert re.search(r"Partida:\s+1 de outubro de 2027", text), text
    assert re.search(r"Retorno:\s+11 de outubro de 2027", text), text
    assert re.search(r"Total:\s+" + re.escape(amount), text), text
    assert outbox_language(db, account.email, "payment_receipt") == "pt-BR"


def test_batch_mail_in_each_recipients_language(server, staff, mail):
    es = customer_speaking(server, mail, "es")
    de = customer_speaking(server, mail, "de-CH")
    stranger = new_email("stranger")
    resp = requests.post(f"{server.url}/api/admin/email/batch", auth=staff,
                         json={"template": "booking_confirmation",
                               "data": {"booking_reference": "JK-7",
                                        "travel_start": "2027-03-01",
                                        "amount_total": {"minor": 99999999,
                                                         "currency": "gbp"}},
                               "recipients": [{"email": es.email},
                                              {"email": de.email},
                                              {"email": stranger}]})
    assert resp.status_code == 202, resp.text
    text = text_part(wait_subject(mail, es.email, "Reserva JK-7 confirmada"))
    assert re.search(r"Salida:\s+1 de marzo de 2027", text), text
    assert f"999.999,99{NBSP}£" in text
    text = text_part(wait_subject(mail, de.email,
                                  "Buchung JK-7 ist bestätigt"))
    assert re.search(r"Abreise:\s+1\. März 2027", text), text
    assert re.search(r"Gesamtbetrag:\s+" + re.escape(f"999.999,99{NBSP}£"),
                     text), text
    text = text_part(wait_subject(mail, stranger, "Booking JK-7 is confirmed"))
    assert re.search(r"Departure:\s+1 March 2027", text), text
    assert "999,999.99 GBP" in text


# ------------------------------------------------------------ the trigger

def insert_outbox(db, recipient, data, language=None):
    with db.cursor() as cur:
        cur.execute("INSERT INTO email_outbox (template, recipient, data,"
                    " language) VALUES ('test', %s, %s::jsonb, %s)"
                    " RETURNING language",
                    (recipient, data, language))
        return cur.fetchone()[0]


def test_trigger_finds_the_customer_by_id_then_by_address(server, mail, db):
    de = customer_speaking(server, mail, "de")
    fr = customer_speaking(server, mail, "fr")
    elsewhere = new_email("elsewhere")
    # customer_id in data wins over the recipient address (mail to an
    # address that is not the customer's).
    assert insert_outbox(db, elsewhere,
                         f'{{"customer_id": "{fr.id}"}}') == "fr"
    assert insert_outbox(db, de.email.upper() + " ",
                         f'{{"customer_id": "{fr.id}"}}') == "fr"
    # Otherwise the address, however it is cased.
    assert insert_outbox(db, de.email.upper(), "{}") == "de"
    # A language given by the INSERT is kept.
    assert insert_outbox(db, de.email, "{}", language="es") == "es"
    # Nobody: NULL, rendered in en.
    assert insert_outbox(db, elsewhere, "{}") is None
    assert insert_outbox(db, elsewhere,
                         f'{{"customer_id": "{uuid.uuid4()}"}}') is None


@pytest.mark.parametrize("data", [
    '{"customer_id": "not-a-uuid"}', '{"customer_id": 5}',
    '{"customer_id": null}', '["customer_id"]', '"text"', None])
def test_trigger_never_makes_the_insert_fail(server, mail, db, data):
    de = customer_speaking(server, mail, "de")
    # An unusable customer_id falls back to the address.
    assert insert_outbox(db, de.email, data) == "de"


def test_outbox_refuses_a_malformed_language(db):
    import psycopg2
    with pytest.raises(psycopg2.errors.CheckViolation):
        insert_outbox(db, "x@example.org", "{}", language="../fr")


def test_sweep_sends_a_directly_queued_row_in_its_language(server, mail, db):
    # What another feature's INSERT gets without knowing about languages.
    de = customer_speaking(server, mail, "de")
    assert insert_outbox(db, de.email, "{}") == "de"
    msg = wait_subject(mail, de.email, "Test-E-Mail von JKLG Travel")
    assert text_part(msg).startswith("Hallo,")


# -------------------------------------------------------------- overrides

@pytest.fixture
def lang_override(server):
    """Writes override files under JKLGMailTemplates (creating language
    directories) and removes whatever it created afterwards."""
    made = []

    def write(rel, content):
        path = server.templates / rel
        top = server.templates / rel.split("/")[0]
        if not top.exists():
            made.append(top)
        path.parent.mkdir(mode=0o755, parents=True, exist_ok=True)
        path.write_text(content, encoding="utf-8")
        path.chmod(0o644)
    yield write
    for path in made:
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink()


def test_override_in_a_language_wins_over_its_builtin(server, mail,
                                                      lang_override):
    lang_override("pt/password_reset.subject",
                  "Nova senha para {{first_name}} ✈ {{agency_name}}\n")
    # An unprefixed override is the default language's: a pt customer
    # keeps a pt subject rather than getting English.
    lang_override("password_reset.subject", "EN override {{first_name}}\n")
    pt = customer_speaking(server, mail, "pt-PT")
    fr = customer_speaking(server, mail, "fr")
    en = customer_speaking(server, mail, "en")
    for account in (pt, fr, en):
        forgot(server, account.email)

    msg = wait_subject(mail, pt.email, "Nova senha para Ana")
    assert msg["Subject"] == "Nova senha para Ana ✈ JKLG Travel"
    # Only the subject is overridden: the text is the built-in pt one.
    assert text_part(msg).startswith("Olá Ana,")
    assert mail_tokens(mail, pt.email, RESET_LINK)
    assert wait_subject(mail, fr.email, RESET_SUBJECTS["fr"])
    assert wait_subject(mail, en.email, "EN override Ana")


def test_override_adds_a_language_without_builtins(server, mail, db,
                                                   lang_override):
    lang_override("it/password_reset.subject",
                  "Reimposta la password di {{agency_name}}\n")
    it = customer_speaking(server, mail, "it-IT")
    forgot(server, it.email)
    msg = wait_subject(mail, it.email, "Reimposta la password di JKLG Travel")
    assert text_part(msg).startswith("Hello Ana,")     # no it/ text: en


def test_broken_language_override_fails_that_mail_only(server, mail, db,
                                                       lang_override,
                                                       allow_errors):
    lang_override("es/password_reset.html/placeholder", "")
    es = customer_speaking(server, mail, "es")
    de = customer_speaking(server, mail, "de")
    forgot(server, es.email)
    forgot(server, de.email)
    assert wait_subject(mail, de.email, RESET_SUBJECTS["de"])
    cid = customer_id(db, es.email)
    assert cid
    deadline = datetime.datetime.now() + datetime.timedelta(seconds=30)
    last_error = None
    while datetime.datetime.now() < deadline and not last_error:
        time.sleep(0.05)
        with db.cursor() as cur:
            cur.execute("SELECT last_error FROM email_outbox WHERE recipient"
                        " = %s AND template = 'password_reset'", (es.email,))
            last_error = cur.fetchone()[0]
    assert "es/password_reset.html" in last_error
    assert "not a regular file" in last_error
    assert [m for _, _, m in mail.received(es.email)
            if m["Subject"] == RESET_SUBJECTS["es"]] == []
