"""The customer pages in the customers' languages (docs/web.md, Languages).

Without a browser: every web/assets/i18n/<lang>.js has exactly en.js's keys,
the same {placeholders} in each text, and no text left in English except a
short list of words that are the same in that language; app.js knows
exactly the languages there are files for, and the dashboard offers them.

In headless Chromium (as test_web_pages.py; one browser for the module,
whose languages are Portuguese, pt-PT): /login is in Portuguese, with
<html lang="pt">; every language file loads as a module in the browser;
a customer who saves German in Preferences sees the dashboard (still
without horizontal scroll at 320 px) and a booking in German after a
reload, with money and dates in German format."""

import re
import time
import uuid
from pathlib import Path

import pytest
import requests

from harness.customers import PASSWORD, text_part
from harness.server import STAFF
from harness.payments import Staff
from harness.web import WEB_ROOT, web, web_log_clean  # noqa: F401

I18N = WEB_ROOT / "assets" / "i18n"
LANGUAGES = ("pt", "es", "fr", "de")
ENTRY_START = re.compile(r"^\s*'([a-z0-9_]+\.[a-z0-9_]+)':", re.M)
ENTRY = re.compile(r"^\s*'([a-z0-9_]+\.[a-z0-9_]+)':\s*"
                   r"'((?:[^'\\\n]|\\.)*)',\s*$", re.M)
PLACEHOLDER = re.compile(r"\{([a-z_]+)\}")

# Texts that are rightly the same word as in English.
SAME_AS_ENGLISH = {
    "pt": {"booking.total"},
    "es": {"booking.total"},
    "fr": {"booking.total", "booking.dates", "tx.date"},
    "de": {"schedule.status", "tx.status"},
}


def flat(text):
    """Runs of white space (also the no-break spaces of French texts and of
    Intl's money) as one space: WebDriver reports them that way."""
    return re.sub(r"[\s\u00a0\u202f]+", " ", text).strip()


def js_unescape(value):
    """The string a single-quoted JS literal's body stands for."""
    def one(m):
        esc = m.group(1)
        if esc.startswith("u"):
            return chr(int(esc[1:], 16))
        return {"n": "\n", "t": "\t"}.get(esc, esc)
    return re.sub(r"\\(u[0-9a-fA-F]{4}|.)", one, value)


def texts(lang):
    """{key: text} of web/assets/i18n/<lang>.js; fails on any entry the
    pattern does not read (so nothing hides from the checks below)."""
    source = (I18N / f"{lang}.js").read_text(encoding="utf-8")
    entries = ENTRY.findall(source)
    keys = [k for k, _ in entries]
    assert keys == ENTRY_START.findall(source), \
        f"{lang}.js: an entry is not one 'key': 'text', line"
    assert len(set(keys)) == len(keys), f"{lang}.js: a key is twice"
    return {k: js_unescape(v) for k, v in entries}


def test_language_files_have_english_keys_and_placeholders():
    en = texts("en")
    assert len(en) > 150
    for lang in LANGUAGES:
        other = texts(lang)
        assert set(other) == set(en), (
            lang, "missing", sorted(set(en) - set(other)),
            "extra", sorted(set(other) - set(en)))
        for key, english in en.items():
            assert sorted(PLACEHOLDER.findall(other[key])) == \
                sorted(PLACEHOLDER.findall(english)), (lang, key, other[key])
            # No stray braces: a typo like {amount or {montant} shows here.
            assert other[key].count("{") == english.count("{") and \
                other[key].count("}") == english.count("}"), (lang, key)
            assert other[key].strip(), (lang, key)
        same = {k for k in en if other[k] == en[k]}
        assert same <= SAME_AS_ENGLISH[lang], (lang, sorted(
            same - SAME_AS_ENGLISH[lang]))
        assert SAME_AS_ENGLISH[lang] <= set(en), lang


def test_app_and_dashboard_know_exactly_the_language_files():
    app = (WEB_ROOT / "assets" / "js" / "app.js").read_text()
    known = re.search(r"const LANGUAGES = \[([^\]]*)\]", app).group(1)
    known = set(re.findall(r"'([a-z]{2})'", known))
    files = {p.stem for p in I18N.glob("*.js")}
    assert known == files == {"en", *LANGUAGES}, (known, files)
    dashboard = (WEB_ROOT / "customer-dashboard.html").read_text()
    select = re.search(r'<select id="language".*?</select>', dashboard,
                       re.S).group(0)
    assert set(re.findall(r'<option value="([a-z]{2})"', select)) == files


# ------------------------------------------------------------------ browser

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
WAIT = 20


@pytest.fixture(scope="module")
def browser():
    """Headless Chromium whose languages are European Portuguese: the
    --lang switch, and the accept-languages preference, which is what
    navigator.languages reports in headless mode."""
    webdriver = pytest.importorskip("selenium.webdriver")
    if not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()):
        pytest.skip("chromium and chromium-driver are not installed "
                    "(make deps)")
    from selenium.webdriver.chrome.service import Service
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
                "--disable-gpu", "--window-size=1280,900",
                "--disable-features=Translate,MediaRouter",
                "--no-first-run", "--lang=pt-PT"):
        opts.add_argument(arg)
    opts.add_experimental_option("prefs",
                                 {"intl.accept_languages": "pt-PT,pt"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)
    driver.set_page_load_timeout(30)
    yield driver
    driver.quit()


class Tab:
    """The browser on the pages' server, with explicit waits."""

    def __init__(self, driver, web):
        from selenium.webdriver.common.by import By
        self.by = By
        self.driver = driver
        self.web = web

    def open(self, path):
        self.driver.get(self.web.url + path)
        self.ready()

    def ready(self):
        self.wait(lambda d: d.execute_script(
            "return document.body && document.body.dataset.ready === 'true'"),
            "page ready")

    def wait(self, cond, what):
        from selenium.common.exceptions import TimeoutException
        from selenium.webdriver.support.ui import WebDriverWait
        try:
            return WebDriverWait(self.driver, WAIT).until(cond)
        except TimeoutException:
            raise AssertionError(f"timed out waiting for {what} on "
                                 f"{self.driver.current_url}: "
                                 f"{self.text('main')!r}") from None

    def find(self, css):
        return self.driver.find_element(self.by.CSS_SELECTOR, css)

    def text(self, css):
        try:
            return flat(self.find(css).text)
        except Exception:
            return ""

    def js(self, script, *args):
        return self.driver.execute_script(script, *args)

    def html_lang(self):
        return self.js("return document.documentElement.lang")

    def money(self, locale, cents=150000):
        """The browser's own formatting of EUR cents in a locale."""
        return flat(self.js(
            "return new Intl.NumberFormat(arguments[0], {style: 'currency', "
            "currency: 'EUR'}).format(arguments[1])", locale, cents / 100))

    def day(self, locale, iso):
        return flat(self.js(
            "return new Intl.DateTimeFormat(arguments[0], {dateStyle: "
            "'medium', timeZone: 'UTC'}).format(new Date(arguments[1] + "
            "'T00:00:00Z'))", locale, iso))


@pytest.fixture
def tab(browser, web):
    """An empty tab state (no token, no saved language) on the server."""
    browser.get(web.url + "/assets/brand/brand.json")
    browser.execute_script("sessionStorage.clear(); localStorage.clear();")
    browser.get_log("browser")
    yield Tab(browser, web)
    logs = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"
            and not re.search(r"status of (400|401|404)", e["message"])]
    assert not logs, logs


def api(web, method, path, token=None, **kw):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return requests.request(method, web.url + "/api" + path,
                            headers=headers, timeout=30, **kw)


def customer(web, mail):
    """A verified customer made through the API: (email, token)."""
    email = f"i18n-{uuid.uuid4().hex[:12]}@example.com"
    assert api(web, "POST", "/customers/register", json={
        "email": email, "password": PASSWORD, "first_name": "Ana",
        "last_name": "Silva"}).status_code == 202
    link = re.compile(r"/verify-email\?token=([A-Za-z0-9_-]+)")
    deadline = time.monotonic() + 30
    tokens = []
    while not tokens and time.monotonic() < deadline:
        tokens = [m.group(1) for _, _, msg in mail.received(email)
                  for m in [link.search(text_part(msg))] if m]
        time.sleep(0.05)
    assert tokens, f"no verification mail for {email}"
    assert api(web, "POST", "/customers/verify-email",
               json={"token": tokens[0]}).status_code == 200
    resp = api(web, "POST", "/customers/login",
               json={"email": email, "password": PASSWORD})
    assert resp.status_code == 200, resp.text
    return email, resp.json()["token"]


def test_browser_in_portuguese_gets_login_in_portuguese(tab, web):
    pt, en = texts("pt"), texts("en")
    assert tab.js("return navigator.languages")[0] == "pt-PT"
    tab.open("/login")
    assert tab.html_lang() == "pt"
    assert tab.text("h1") == flat(pt["login.title"]) != en["login.title"]
    assert tab.text("label[for=email]") == flat(pt["field.email"])
    assert tab.text("label[for=password]") == flat(pt["field.password"])
    assert tab.text("a[href='/forgot-password']") == \
        flat(pt["login.forgot"])
    # The skip link is off-screen until focused: its text, not what shows.
    assert flat(tab.find(".skip").get_attribute("textContent")) == \
        flat(pt["nav.skip"])
    assert tab.js("return document.title").startswith(pt["login.title"])
    # A text the script writes (an API error), not only the page's labels.
    tab.find("#email").send_keys(f"nobody-{uuid.uuid4().hex[:8]}@example.com")
    tab.find("#password").send_keys("not the password 1")
    tab.find("#login-form button[type=submit]").click()
    tab.wait(lambda d: tab.text("#login-form .form-message") ==
             flat(pt["error.invalid_credentials"]), "the error in Portuguese")
    # Every language file is a module the browser loads, with every key.
    src = tab.find("script[type=module]").get_attribute("src")
    base = src[:src.index("/js/")] + "/i18n/"
    counts = tab.driver.execute_async_script("""
        const [base, langs, done] = arguments;
        Promise.all(langs.map(l => import(base + l + '.js')
                .then(m => Object.keys(m.default).length)))
            .then(done, e => done(String(e)));
    """, base, ["en", *LANGUAGES])
    assert counts == [len(en)] * (1 + len(LANGUAGES)), counts


def test_saved_german_preference_shows_the_dashboard_in_german(tab, web, mail):
    pt, de = texts("pt"), texts("de")
    email, token = customer(web, mail)
    booking = Staff(web, auth=STAFF).post("/bookings", {
        "customer_email": email, "description": "Lisbon city break",
        "travel_start": "2027-05-01", "travel_end": "2027-05-08",
        "amount_total": 150000, "currency": "eur"})
    assert booking.status_code == 201, booking.text
    booking = booking.json()["booking"]
    tab.js("sessionStorage.setItem('jklg.token', arguments[0])", token)

    # No saved language yet: the browser's Portuguese.
    tab.open("/customer-dashboard")
    assert tab.html_lang() == "pt"
    assert tab.text("h1") == flat(pt["dash.title"])
    tab.wait(lambda d: booking["reference"] in tab.text("#bookings-list"),
             "the booking")
    # Money as in Portugal (the browser's own pt-PT, not pt-BR).
    assert tab.money("pt-PT") != tab.money("pt")
    assert tab.money("pt-PT") in tab.text("#bookings-list"), \
        tab.text("#bookings-list")

    # Preferences: German, saved.
    tab.find("#language option[value=de]").click()
    tab.find("#prefs-form button[type=submit]").click()
    tab.wait(lambda d: tab.text("#prefs-form .form-message") ==
             flat(pt["common.saved"]), "saved")
    prefs = api(web, "GET", "/customers/me/preferences", token).json()
    assert prefs["preferences"]["language"] == "de"

    # After a reload the dashboard is German, money in German format.
    tab.driver.refresh()
    tab.ready()
    assert tab.html_lang() == "de"
    assert tab.text("h1") == flat(de["dash.title"])
    assert tab.text("#dash-hello") == \
        flat(de["dash.hello"]).replace("{name}", "Ana")
    assert tab.text(".site-nav button") == flat(de["nav.logout"])
    tab.wait(lambda d: booking["reference"] in tab.text("#bookings-list"),
             "the booking")
    listed = tab.text("#bookings-list")
    assert de["payment_status.unpaid"] in listed
    assert tab.money("de") in listed and tab.money("en") not in listed, \
        listed
    assert tab.day("de", "2027-05-01") in listed, listed
    assert tab.find("#language").get_attribute("value") == "de"
    # German's long words still fit a 320 px screen.
    tab.driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
        "width": 320, "height": 800, "deviceScaleFactor": 1, "mobile": True})
    try:
        scroll, client = tab.driver.execute_async_script(
            "const done = arguments[arguments.length - 1];"
            "requestAnimationFrame(() => requestAnimationFrame(() => done("
            "[document.documentElement.scrollWidth,"
            " document.documentElement.clientWidth])));")
    finally:
        tab.driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
    assert 300 <= client <= 320 and scroll <= client, (scroll, client)

    # And so is every other page of the site.
    tab.open(f"/booking/{booking['id']}")
    assert tab.html_lang() == "de"
    tab.wait(lambda d: booking["reference"] in tab.text("#booking-summary"),
             "the booking summary")
    summary = tab.text("#booking-summary")
    assert de["booking.reference"] in summary
    assert tab.money("de") in summary, summary
