"""The account-security mails (new_sign_in, email_change_notice,
email_change_confirm) in the customer's language, end to end: the
customer's preference, the outbox trigger, the translated built-ins and
the real SMTP stand-in. The links in the translated mails must be the
working ones."""

import re

import pytest

from harness.customers import (TOKEN_RE, Client, assert_json, html_part,
                               new_email, prefix24, register_verified,
                               text_part, wait_subject)

SECURE_LINK = re.compile(r"https://travel\.test/secure-account\?token=("
                         + TOKEN_RE + ")")
CONFIRM_LINK = re.compile(r"https://travel\.test/confirm-email-change\?token=("
                          + TOKEN_RE + ")")
REVERT_LINK = re.compile(r"https://travel\.test/revert-email-change\?token=("
                         + TOKEN_RE + ")")
FIREFOX = ("Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 "
           "Firefox/128.0")
CHROME = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 "
          "(KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36")

GREETINGS = {"pt": "Olá Ana,", "es": "Hola Ana:", "fr": "Bonjour Ana,",
             "de": "Hallo Ana,"}
SIGN_IN_SUBJECTS = {
    "pt": "Novo acesso à sua conta em JKLG Travel",
    "es": "Nuevo inicio de sesión en su cuenta de JKLG Travel",
    "fr": "Nouvelle connexion à votre compte JKLG Travel",
    "de": "Neue Anmeldung in Ihrem Konto bei JKLG Travel",
}
NOTICE_SUBJECTS = {
    "pt": "Seu endereço de e-mail em JKLG Travel está sendo alterado",
    "es": "Se está cambiando su dirección de correo de JKLG Travel",
    "fr": "L’adresse e-mail de votre compte JKLG Travel va être modifiée",
    "de": "Ihre E-Mail-Adresse bei JKLG Travel wird geändert",
}
CONFIRM_SUBJECTS = {
    "pt": "Confirme seu novo endereço de e-mail em JKLG Travel",
    "es": "Confirme su nueva dirección de correo de JKLG Travel",
    "fr": "Confirmez votre nouvelle adresse e-mail JKLG Travel",
    "de": "Bestätigen Sie Ihre neue E-Mail-Adresse für JKLG Travel",
}
# The label before the IP in the text part of new_sign_in.
IP_LABELS = {"pt": "Endereço IP:", "es": "Dirección IP:",
             "fr": "Adresse IP\u00a0:", "de": "IP-Adresse:"}


def speaker(server, mail, language):
    """A verified customer who signed in once (Firefox, a /24 of its own)
    and chose `language`."""
    account = register_verified(server, mail, login=False)
    account.client = Client(server, ip=prefix24() + "10", ua=FIREFOX)
    assert_json(account.client.login(account.email, account.password), 200)
    resp = account.client.put("/me/preferences", {"language": language})
    assert assert_json(resp, 200)["preferences"]["language"] == language
    return account


def assert_in_language(msg, lang):
    text, html = text_part(msg), html_part(msg)
    assert text.startswith(GREETINGS[lang]), text
    assert f'<html lang="{lang}">' in html
    assert "Hello" not in text and "Hello" not in html
    return text, html


@pytest.mark.parametrize("language,lang", [
    ("pt-BR", "pt"), ("es", "es"), ("fr-CA", "fr"), ("de-AT", "de")])
def test_new_sign_in_in_the_customers_language(server, mail, language, lang):
    account = speaker(server, mail, language)
    ip = prefix24() + "77"
    client = Client(server, ip=ip, ua=CHROME)
    assert_json(client.login(account.email, account.password), 200)

    msg = wait_subject(mail, account.email, SIGN_IN_SUBJECTS[lang])
    text, html = assert_in_language(msg, lang)
    assert f"{IP_LABELS[lang]}" in text and ip in text
    assert "Chrome" in text and "Chrome" in html
    token = SECURE_LINK.search(text).group(1)
    assert f"secure-account?token={token}" in html
    # The link in the translated mail is the real one: it secures the
    # account (every session revoked).
    resp = Client(server).post("/secure-account", {"token": token})
    assert resp.status_code == 200, resp.text
    assert client.get("/me").status_code == 401


@pytest.mark.parametrize("language,lang", [
    ("pt", "pt"), ("es-MX", "es"), ("fr", "fr"), ("de-CH", "de")])
def test_email_change_notice_in_the_customers_language(server, mail,
                                                       language, lang):
    account = speaker(server, mail, language)
    new = new_email("moved")
    resp = account.client.post("/me/email", {"new_email": new,
                                              "password": account.password})
    assert_json(resp, 202)

    msg = wait_subject(mail, account.email, NOTICE_SUBJECTS[lang])
    text, html = assert_in_language(msg, lang)
    assert new in text and new in html
    token = REVERT_LINK.search(text).group(1)
    assert f"revert-email-change?token={token}" in html
    # The confirm mail went to the new address; the revert link from the
    # translated notice cancels the change.
    assert CONFIRM_LINK.search(text_part(wait_subject(mail, new,
                                                      "JKLG Travel")))
    resp = Client(server).post("/revert-email-change", {"token": token})
    assert resp.status_code == 200, resp.text
    assert account.client.get("/me").status_code == 401
    back = assert_json(Client(server).login(account.email, account.password),
                       200)
    assert back["customer"]["email"] == account.email


def test_email_change_confirm_in_the_customers_language(server, mail):
    account = speaker(server, mail, "pt-BR")
    new = new_email("moved")
    resp = account.client.post("/me/email", {"new_email": new,
                                              "password": account.password})
    assert_json(resp, 202)
    msg = wait_subject(mail, new, "JKLG Travel")
    assert msg["Subject"] == CONFIRM_SUBJECTS["pt"], msg["Subject"]
    assert_in_language(msg, "pt")
